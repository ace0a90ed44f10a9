package appliance

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"frontdoor/supervisor"
)

// TestProcessProposals: init proposes the workers of the task queues a
// project uses, from its installed apps and modules.
func TestProcessProposals(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "celery.py"), []byte("from celery import Celery\napp = Celery('shop')\n"), 0o644)
	cases := []struct {
		name string
		p    supervisor.Project
		want []string // "name: command"
	}{
		{"nothing", supervisor.Project{SettingsModule: "shop.settings", InstalledApps: []string{"django.contrib.admin"}}, nil},
		{"celery app module", supervisor.Project{SettingsModule: "shop.settings", SettingsPackageDir: dir, Modules: map[string]bool{"celery": true}},
			[]string{"celery: python -m celery -A shop worker --loglevel=INFO"}},
		{"celery beat", supervisor.Project{SettingsModule: "shop.settings", Modules: map[string]bool{"celery": true},
			InstalledApps: []string{"django_celery_beat"}},
			[]string{"celery: python -m celery -A shop worker --loglevel=INFO",
				"celery-beat: python -m celery -A shop beat --loglevel=INFO --scheduler django_celery_beat.schedulers:DatabaseScheduler"}},
		{"celery not installed", supervisor.Project{SettingsModule: "shop.settings", SettingsPackageDir: dir, Modules: map[string]bool{}}, nil},
		{"django-q", supervisor.Project{SettingsModule: "settings", InstalledApps: []string{"django_q"}}, []string{"qcluster: manage qcluster"}},
		{"django-rq", supervisor.Project{SettingsModule: "shop.settings", InstalledApps: []string{"django_rq"}, RQQueues: []string{"default", "mail"}},
			[]string{"rqworker: manage rqworker default mail"}},
		{"huey", supervisor.Project{SettingsModule: "shop.settings", InstalledApps: []string{"huey.contrib.djhuey"}}, []string{"huey: manage run_huey"}},
	}
	for _, c := range cases {
		var got []string
		for _, pr := range processProposals(&c.p) {
			got = append(got, pr.name+": "+strings.Join(pr.command, " "))
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s: proposals %q, want %q", c.name, got, c.want)
		}
	}
}

// TestInitProposesTheTaskCluster: a project with django-q in
// INSTALLED_APPS gets a [[app.process]] for its cluster from init, and
// the daemon runs it next to the web process.
func TestInitProposesTheTaskCluster(t *testing.T) {
	needDjango(t)
	if err := exec.Command(systemPython, "-c", "import django_q").Run(); err != nil {
		t.Skip("django-q is not installed (apt-get install python3-django-q)")
	}
	t.Parallel()
	project := copyMysite(t)
	appendTo(t, filepath.Join(project, "mysite", "settings.py"), `
INSTALLED_APPS += ['django_q']
Q_CLUSTER = {'name': 'frontdoor-test', 'workers': 1, 'orm': 'default', 'timeout': 30, 'retry': 60}
`)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "frontdoor.toml")
	out, err := cli(t, "init", project, "--config", cfg)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	text, _ := os.ReadFile(cfg)
	if !strings.Contains(string(text), "[[app.process]]\nname = \"qcluster\"\ncommand = [\"manage\", \"qcluster\"]") {
		t.Fatalf("init proposed no qcluster process:\n%s", text)
	}
	addr := freePort(t)
	appendTo(t, cfg, serverTable(addr, dir))
	text, _ = os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "# workers = ", "workers = 1 # was ", 1)), 0o644)
	d := startDaemon(t, dir, addr)
	await(t, 90*time.Second, "qcluster running", func() bool {
		st, ok := d.tryStatus()
		if !ok || st.App == nil {
			return false
		}
		for _, p := range st.App.Processes {
			if p.Name == "qcluster" && p.State == supervisor.StateRunning && p.PID > 0 {
				return true
			}
		}
		return false
	})
	await(t, 60*time.Second, "the cluster running, in the log", func() bool {
		return regexp.MustCompile(`Q Cluster [a-z-]+ running\.[^\n]*proc=qcluster`).MatchString(d.stderr.String())
	})
}
