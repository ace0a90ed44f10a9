package appliance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInitNamesEachProblemWithItsFix runs `frontdoor init` on a project
// with deliberate mistakes: each is named with the exact settings line
// that fixes it and the file it goes in; --domain gives the site's names;
// the configuration is written anyway, but init exits 1 while an ERROR
// remains and `check` refuses the file (no static route for the static
// files); applying the printed lines makes both pass.
func TestInitNamesEachProblemWithItsFix(t *testing.T) {
	needDjango(t)
	t.Parallel()
	project := copyMysite(t)
	settings := filepath.Join(project, "mysite", "settings.py")
	appendTo(t, settings, `
# Deliberate mistakes for frontdoor's init test.
DEBUG = True
ALLOWED_HOSTS = []
del SECURE_PROXY_SSL_HEADER
del STATIC_ROOT
`)
	cfg := filepath.Join(t.TempDir(), "etc", "frontdoor.toml")
	out, err := cli(t, "init", project, "--domain", "example.com", "--domain", "www.example.com", "--config", cfg)
	if err == nil {
		t.Errorf("init exited 0 with ERROR problems:\n%s", out)
	}
	for _, want := range []string{
		"problems to fix before going live",
		"DEBUG is on",
		"fix, in mysite/settings.py:  DEBUG = os.environ.get('DJANGO_DEBUG') == '1'",
		"ALLOWED_HOSTS is empty",
		"fix, in mysite/settings.py:  ALLOWED_HOSTS = ['example.com', 'www.example.com']",
		"SECURE_PROXY_SSL_HEADER is not set",
		"fix, in mysite/settings.py:  SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')",
		"STATIC_ROOT is not set",
		"fix, in mysite/settings.py:  STATIC_ROOT = BASE_DIR / 'staticfiles'",
		"wrote " + cfg,
		"site: example.com, www.example.com",
		"3 problems marked ERROR remain",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	text, _ := os.ReadFile(cfg)
	if !strings.Contains(string(text), `hosts = ["example.com", "www.example.com"]`) {
		t.Errorf("the configuration does not name the --domain hosts:\n%s", text)
	}
	if strings.Contains(string(text), `path = "/static/"`) {
		t.Errorf("a static route was written without STATIC_ROOT:\n%s", text)
	}
	if out, err := cli(t, "check", "--config", cfg); err == nil || !strings.Contains(out, "no static_root") {
		t.Errorf("check accepted a site without a route for its static files: %v\n%s", err, out)
	}

	// The printed lines, pasted into the file they name, fix it all.
	var fixes []string
	for _, line := range strings.Split(out, "\n") {
		if _, fix, ok := strings.Cut(line, "fix, in mysite/settings.py:  "); ok {
			fixes = append(fixes, fix)
		}
	}
	appendTo(t, settings, "\n"+strings.Join(fixes, "\n")+"\n")
	if out, err := cli(t, "init", project, "--domain", "example.com", "--domain", "www.example.com", "--config", cfg); err != nil {
		t.Fatalf("init after the fixes: %v\n%s", err, out)
	}
	if out, err := cli(t, "check", "--config", cfg); err != nil {
		t.Errorf("check refused what init wrote: %v\n%s", err, out)
	}

	// --force replaces an edited block and keeps the old file.
	text, _ = os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "# migrate = true\n", "# migrate = true\n# hand-edited\n", 1)), 0o644)
	edited, _ := os.ReadFile(cfg)
	if out, err := cli(t, "init", project, "--config", cfg); err == nil || !strings.Contains(out, "--force") {
		t.Errorf("init over an edited file without --force: %v\n%s", err, out)
	}
	if out, err := cli(t, "init", project, "--config", cfg, "--force"); err != nil {
		t.Fatalf("init --force: %v\n%s", err, out)
	}
	if old, _ := os.ReadFile(cfg + ".bak"); string(old) != string(edited) {
		t.Errorf("the replaced file was not kept as .bak: %q", old)
	}

	// The placeholder the package installs is (apt install, then init).
	packaged, err := os.ReadFile("../packaging/etc/frontdoor.toml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cfg, packaged, 0o644)
	if out, err := cli(t, "init", project, "--config", cfg); err != nil {
		t.Fatalf("init over the packaged placeholder: %v\n%s", err, out)
	}
	if old, _ := os.ReadFile(cfg + ".bak"); string(old) != string(packaged) {
		t.Errorf("the placeholder was not kept as .bak")
	}

	// Not a Django project: a clear error, nothing written.
	empty := t.TempDir()
	if out, err := cli(t, "init", empty, "--config", filepath.Join(empty, "x.toml")); err == nil || !strings.Contains(out, "manage.py") {
		t.Errorf("init on a directory without manage.py: %v\n%s", err, out)
	}
}
