package appliance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDotfilesKey: a static route's dotfiles key reaches the engine, and on
// a proxied route it is an error naming the file, line and key, with a fix.
func TestDotfilesKey(t *testing.T) {
	dir := t.TempDir()
	static := filepath.Join(dir, "static")
	os.Mkdir(static, 0o755)
	text := "[[site]]\n  [[site.route]]\n  path = \"/\"\n  static = \"" + static + "\"\n  dotfiles = true\n" +
		"  [[site.route]]\n  path = \"/media/\"\n  static = \"" + static + "\"\n"
	c, err := ParseConfig("test.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	routes := c.engineConfig(nil, nil).Sites[0].Routes
	if !routes[0].Static.Dotfiles || routes[1].Static.Dotfiles {
		t.Fatalf("engine routes: dotfiles %v and %v, want true and false", routes[0].Static.Dotfiles, routes[1].Static.Dotfiles)
	}

	bad := "[[upstream]]\nname = \"app\"\nservers = [\"127.0.0.1:8000\"]\n[[site]]\n  [[site.route]]\n  path = \"/\"\n  upstream = \"app\"\n  dotfiles = true\n"
	_, err = ParseConfig("test.toml", []byte(bad))
	var errs ConfigErrors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Line != 8 || errs[0].Key != "site[0].route[0].dotfiles" || errs[0].Fix == "" ||
		!strings.HasPrefix(errs[0].Error(), "test.toml:8:") {
		t.Fatalf("dotfiles on a proxied route: %v; want one error at test.toml:8 on site[0].route[0].dotfiles with a fix", err)
	}
	_, err = ParseConfig("test.toml", []byte("[[site]]\n  [[site.route]]\n  path = \"/\"\n  static = \""+static+"\"\n  dotfiles = \"yes\"\n"))
	if !errors.As(err, &errs) || errs[0].Line != 5 || !strings.Contains(errs[0].Key, "dotfiles") {
		t.Fatalf("dotfiles = \"yes\": %v; want an error on line 5 naming dotfiles", err)
	}
}
