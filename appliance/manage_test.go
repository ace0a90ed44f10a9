package appliance

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"frontdoor/internal/testkit"
)

// TestManageRunsLikeTheApp: `frontdoor manage` runs a management command
// with the app's interpreter, directory, environment and user. The
// project's secret key lives in its .env (python manage.py alone fails
// with KeyError), and createsuperuser works through frontdoor; as root,
// the command runs as the project's owner, never as root.
func TestManageRunsLikeTheApp(t *testing.T) {
	needDjango(t)
	t.Parallel()
	project := copyMysite(t)
	appendTo(t, filepath.Join(project, "mysite", "settings.py"), `
INSTALLED_APPS += ['django.contrib.auth', 'django.contrib.contenttypes']
SECRET_KEY = os.environ['DJANGO_SECRET_KEY']
`)
	if err := os.WriteFile(filepath.Join(project, ".env"), []byte("DJANGO_SECRET_KEY=manage-test-0123456789abcdefghijklmnopqrstuvwxyz-secret\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	testkit.GiveToAppUser(t, project)
	cfg := filepath.Join(t.TempDir(), "frontdoor.toml")
	if out, err := cli(t, "init", project, "--config", cfg); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}

	direct := exec.Command(systemPython, "manage.py", "check")
	direct.Dir = project
	if out, err := direct.CombinedOutput(); err == nil || !strings.Contains(string(out), "KeyError: 'DJANGO_SECRET_KEY'") {
		t.Fatalf("python manage.py without the env file: %v\n%s", err, out)
	}

	if out, err := cli(t, "manage", "--config", cfg, "migrate", "--noinput"); err != nil {
		t.Fatalf("manage migrate: %v\n%s", err, out)
	}
	create := exec.Command(binPath, "manage", "--config", cfg, "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
	create.Env = append(os.Environ(), "DJANGO_SUPERUSER_PASSWORD=correct-horse-battery-staple")
	if out, err := create.CombinedOutput(); err != nil || !strings.Contains(string(out), "Superuser created") {
		t.Fatalf("manage createsuperuser: %v\n%s", err, out)
	}
	out, err := cli(t, "manage", "--config", cfg, "shell", "-c",
		"import os; from django.contrib.auth.models import User; u = User.objects.get(username='admin'); "+
			"print('check', u.is_superuser, u.check_password('correct-horse-battery-staple'), os.getuid() == 0, os.getcwd())")
	if err != nil {
		t.Fatalf("manage shell: %v\n%s", err, out)
	}
	if want := "check True True False " + project; !strings.Contains(out, want) {
		t.Errorf("manage shell printed %q, want %q (a superuser, not as root, in the project)", out, want)
	}
	// The command's exit status is frontdoor's.
	bad := exec.Command(binPath, "manage", "--config", cfg, "no_such_command")
	if out, err := bad.CombinedOutput(); err == nil || bad.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "Unknown command") {
		t.Errorf("manage no_such_command: %v (exit %d)\n%s", err, bad.ProcessState.ExitCode(), out)
	}
}
