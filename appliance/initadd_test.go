package appliance

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"frontdoor/internal/testkit"
	"frontdoor/supervisor"
)

// projectNamed is a copy of the example project in a directory called
// name (init names the app after it), whose .env allows the host
// name.localhost.
func projectNamed(t *testing.T, name string) string {
	t.Helper()
	src := copyMysite(t)
	dst := filepath.Join(filepath.Dir(src), name)
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	writeEnv(t, dst, "DJANGO_ALLOWED_HOSTS="+name+".localhost\n")
	return dst
}

// writeEnv writes the project's .env, owned like the project.
func writeEnv(t *testing.T, project, text string) {
	t.Helper()
	env := filepath.Join(project, ".env")
	if err := os.WriteFile(env, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, uid, gid, err := supervisor.FileOwner(project); err == nil {
		os.Chown(env, int(uid), int(gid))
	}
}

// TestInitAddsAProject: init on a second project adds its [[app]] and
// [[site]] to the file, prints the diff and how the apps share the
// machine's workers (warning when they ask for too many); every comment
// and edit of the administrator's stays; run again it replaces only its
// own unedited block, and an edited one only with --force; a host another
// site serves is refused with the exact conflict, and the file is left as
// it was.
func TestInitAddsAProject(t *testing.T) {
	needDjango(t)
	t.Parallel()
	shop, blog, third := projectNamed(t, "shop"), projectNamed(t, "blog"), projectNamed(t, "third")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "frontdoor.toml")
	init := func(project string, args ...string) (string, error) {
		t.Helper()
		return cli(t, append([]string{"init", project, "--config", cfg}, args...)...)
	}
	if out, err := init(shop, "--domain", "shop.localhost"); err != nil {
		t.Fatalf("init shop: %v\n%s", err, out)
	}
	// The administrator's edits: a comment at the top, a [server] table,
	// more workers for shop than the machine runs well.
	text, _ := os.ReadFile(cfg)
	if !strings.Contains(string(text), "name = \"shop\"\n") {
		t.Fatalf("init shop wrote no name = \"shop\":\n%s", text)
	}
	text = []byte(strings.Replace(string(text), "name = \"shop\"\n", "name = \"shop\"\nworkers = 1000 # the sale\n", 1))
	adminNote := "# Our shop. Ask Ana before changing anything here.\n"
	addr := freePort(t)
	os.WriteFile(cfg, []byte(adminNote+string(text)+serverTable(addr, dir)), 0o644)
	before, _ := os.ReadFile(cfg)

	out, err := init(blog, "--domain", "blog.localhost")
	if err != nil {
		t.Fatalf("init blog: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(cfg)
	if !strings.HasPrefix(string(after), string(before)) {
		t.Errorf("init changed what was there; the file now:\n%s", after)
	}
	for _, want := range []string{"changed " + cfg, "+[[app]]", `+name = "blog"`, `+hosts = ["blog.localhost"]`, `+  app = "blog"`, `wrote ` + cfg + `: the app "blog"`} {
		if !strings.Contains(out, want) {
			t.Errorf("init's output lacks %q:\n%s", want, out)
		}
	}
	// Fair sharing: blog gets what is left of the machine's budget, at
	// least one worker, and init warns that shop's 1000 are too many.
	for _, want := range []string{"workers: the 2 apps share what this machine runs well", "shop 1000 (its workers setting), blog 1 (its share)",
		"WARNING: together they run 1001 workers, more than the"} {
		if !strings.Contains(out, want) {
			t.Errorf("init's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "-# Our shop") || strings.Contains(out, "-[server]") {
		t.Errorf("the diff removes the administrator's lines:\n%s", out)
	}
	// Both projects belong to the same user: init proposes one of its own.
	if os.Geteuid() == 0 {
		for _, want := range []string{"WARNING blog runs as " + testkit.AppUser + ", like shop: each can read the other's files",
			"adduser --system --group --no-create-home --home " + blog + " blog", "then run init again with --user blog"} {
			if !strings.Contains(out, want) {
				t.Errorf("init's output lacks %q:\n%s", want, out)
			}
		}
	}
	if bak, _ := os.ReadFile(cfg + ".bak"); string(bak) != string(before) {
		t.Errorf("the previous file was not kept as .bak")
	}
	if out, err := cli(t, "check", "--config", cfg); err != nil || !strings.Contains(out, "2 apps (shop, blog)") {
		t.Fatalf("check after adding blog: %v\n%s", err, out)
	}

	// Again on blog: its block, untouched, is replaced by the same text.
	if out, err := init(blog, "--domain", "blog.localhost"); err != nil || !strings.Contains(out, "already holds this") {
		t.Errorf("init blog again: %v\n%s", err, out)
	}
	// Edited inside the block: left alone, unless --force.
	edited := strings.Replace(string(after), `name = "blog"`+"\n", `name = "blog"`+"\nworkers = 1 # ours\n", 1)
	os.WriteFile(cfg, []byte(edited), 0o644)
	out, err = init(blog, "--domain", "blog.localhost")
	if err == nil || !strings.Contains(out, `the app "blog" for `+blog+" was edited since init wrote it") || !strings.Contains(out, "--force") {
		t.Errorf("init over its edited block: %v\n%s", err, out)
	}
	if now, _ := os.ReadFile(cfg); string(now) != edited {
		t.Errorf("a refused init changed the file")
	}
	if out, err := init(blog, "--domain", "blog.localhost", "--force"); err != nil || !strings.Contains(out, "-workers = 1 # ours") {
		t.Errorf("init --force over its edited block: %v\n%s", err, out)
	}
	if now, _ := os.ReadFile(cfg); !strings.HasPrefix(string(now), string(before)) {
		t.Errorf("init --force on blog changed shop's part or the administrator's")
	}

	// Given a user of its own (init's proposal, with an account that
	// exists here), blog is isolated from shop.
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", "www-data:www-data", blog).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v\n%s", err, out)
		}
		out, err := init(blog, "--domain", "blog.localhost", "--user", "www-data", "--force")
		if err != nil || !strings.Contains(out, "isolation: blog runs as www-data, a user no other app of the file has") {
			t.Errorf("init blog --user www-data: %v\n%s", err, out)
		}
		if text, _ := os.ReadFile(cfg); !strings.Contains(string(text), "name = \"blog\"") || !strings.Contains(string(text), "user = \"www-data\"") {
			t.Errorf("blog's block does not run it as www-data:\n%s", text)
		}
	}

	// A host another site serves: refused, with the exact conflict.
	before, _ = os.ReadFile(cfg)
	out, err = init(third, "--domain", "third.localhost", "--domain", "SHOP.localhost")
	if err == nil || !strings.Contains(out, fmt.Sprintf(`%s:%d: host "shop.localhost" is already served by site[0] (the app "shop")`, cfg, lineOfText(before, `hosts = ["shop.localhost"]`))) {
		t.Errorf("init with a host another site serves: %v\n%s", err, out)
	}
	if now, _ := os.ReadFile(cfg); string(now) != string(before) {
		t.Errorf("a refused init changed the file")
	}
	// A name that is taken.
	if out, err := init(third, "--domain", "third.localhost", "--name", "blog"); err == nil || !strings.Contains(out, `--name "blog": `+cfg+" already has an app of that name") {
		t.Errorf("init --name of a taken name: %v\n%s", err, out)
	}
}

// lineOfText is the 1-based line of the first line holding s.
func lineOfText(text []byte, s string) int {
	for i, l := range strings.Split(string(text), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	return 0
}

// TestInitAddsToASingleApp: a hand-written file with one [app] and no
// [[site]] (the form from before [[app]]) gets the second project: [app]
// becomes [[app]] named "app" (what upstream = "app" means), the site
// frontdoor generated for it is written out, and every comment stays.
func TestInitAddsToASingleApp(t *testing.T) {
	needDjango(t)
	t.Parallel()
	first, blog := projectNamed(t, "first"), projectNamed(t, "blog")
	static := filepath.Join(first, "staticfiles")
	os.Mkdir(static, 0o755)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "frontdoor.toml")
	hand := fmt.Sprintf("# Written by hand in 2024.\n[app]   # the shop\ndir = %q # where it lives\nworkers = 2\nstatic_url = \"/static/\"\nstatic_root = %q\n\n[[app.process]]\nname = \"celery\"\ncommand = [\"python\", \"-c\", \"pass\"]\n",
		first, static)
	os.WriteFile(cfg, []byte(hand), 0o644)
	out, err := cli(t, "init", blog, "--domain", "blog.localhost", "--config", cfg)
	if err != nil {
		t.Fatalf("init blog: %v\n%s", err, out)
	}
	text, _ := os.ReadFile(cfg)
	for _, want := range []string{"# Written by hand in 2024.\n[[app]]   # the shop\n", "name = \"app\"\ndir = ", " # where it lives\nworkers = 2\n",
		"[[app.process]]\nname = \"celery\"", "[[site]]\n\n  [[site.route]]\n  path = \"/\"\n  app = \"app\"\n", `static = "` + static + `"`, `name = "blog"`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the file lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"-[app]   # the shop", "+[[app]]   # the shop", `+name = "app"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the diff lacks %q:\n%s", want, out)
		}
	}
	if out, err := cli(t, "check", "--config", cfg); err != nil || !strings.Contains(out, "2 apps (app, blog)") {
		t.Errorf("check: %v\n%s", err, out)
	}
	// The first app catches every other host: a project without a name
	// of its own would collide with it.
	os.WriteFile(cfg, []byte(hand), 0o644)
	writeEnv(t, blog, "DJANGO_ALLOWED_HOSTS=*\n")
	if out, err := cli(t, "init", blog, "--config", cfg); err == nil || !strings.Contains(out, `the app "app" answers every host name (the file has no [[site]]); pass --domain NAME`) {
		t.Errorf("init of a catch-all site next to a catch-all app: %v\n%s", err, out)
	}
}
