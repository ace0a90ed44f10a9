package appliance

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInitAdvisesRestartWhenTheSandboxChanged: after `frontdoor init`
// changed the service's drop-in, its output and the configuration it
// wrote say `systemctl restart` (a reload leaves the old sandbox, and the
// first migrate fails with "unable to open database file"); when the
// drop-in is as before, a reload is enough and init says so.
func TestInitAdvisesRestartWhenTheSandboxChanged(t *testing.T) {
	needDjango(t)
	needRoot(t)
	project := copyMysite(t)
	svc := testService(t)
	cfg := filepath.Join(t.TempDir(), "frontdoor.toml")
	run := func(force bool) string {
		t.Helper()
		var out bytes.Buffer
		if _, err := Init(context.Background(), InitOptions{ProjectDir: project, ConfigPath: cfg, Force: force, Out: &out, service: svc}); err != nil {
			t.Fatalf("init: %v\n%s", err, out.String())
		}
		return out.String()
	}
	restart := "systemctl restart frontdoor    (a restart, not a reload"
	reload := "systemctl reload frontdoor     (the sandbox is as before"

	out := run(false)
	if !strings.Contains(out, restart) || strings.Contains(out, reload) {
		t.Errorf("first init, a new drop-in: the output does not say restart:\n%s", out)
	}
	if !strings.Contains(out, "ReadWritePaths") && !strings.Contains(out, "wrote "+filepath.Join(svc.DropInDir, dropInName("mysite"))) {
		t.Errorf("the output does not name the drop-in:\n%s", out)
	}
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "apply it with `systemctl restart frontdoor`") {
		t.Errorf("the configuration's header does not say to restart after init:\n%s", text[:min(len(text), 800)])
	}

	if out := run(true); !strings.Contains(out, reload) || strings.Contains(out, restart) {
		t.Errorf("second init, the same drop-in: the output does not say a reload is enough:\n%s", out)
	}

	// Uploads move elsewhere: a new ReadWritePaths=, so a restart again.
	media := filepath.Join(t.TempDir(), "uploads")
	must(t, os.WriteFile(filepath.Join(project, ".env"), []byte("DJANGO_MEDIA_ROOT="+media+"\n"), 0o644))
	if out := run(true); !strings.Contains(out, restart) {
		t.Errorf("init after MEDIA_ROOT moved: the output does not say restart:\n%s", out)
	}
	dropIn, _ := os.ReadFile(filepath.Join(svc.DropInDir, dropInName("mysite")))
	if !strings.Contains(string(dropIn), "ReadWritePaths=-"+media+"\n") {
		t.Errorf("the drop-in does not name the new MEDIA_ROOT:\n%s", dropIn)
	}
}
