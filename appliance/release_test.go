package appliance

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"frontdoor/supervisor"
)

// TestFailingReleaseStepThroughTheBinary: an [[app.release]] step that
// fails on the first start, through the real binary. The edge answers the
// branded 503 page that says the site is starting; `frontdoor status`
// names the step and shows its last output; the daemon's log carries the
// step's output as one record (a multi-line message), not line by line.
func TestFailingReleaseStepThroughTheBinary(t *testing.T) {
	needDjango(t)
	t.Parallel()
	project := copyMysite(t)
	dir := t.TempDir()
	addr := freePort(t)
	text := fmt.Sprintf(`[app]
dir = %q
workers = 1
migrate = false
backoff_min = "500ms"
start_hold = "0s"

[[app.release]]
name = "compilemessages"
command = ["python", "-c", "import sys; print('CommandError: Can not find msgfmt. Make sure you have GNU gettext tools 0.15 or newer installed.'); sys.exit(1)"]
timeout = "1m"
`, project) + serverTable(addr, dir)
	os.WriteFile(filepath.Join(dir, "frontdoor.toml"), []byte(text), 0o644)
	d := startDaemon(t, dir, addr)

	var st StatusReport
	await(t, 60*time.Second, "the web process in backoff after the step", func() bool {
		var ok bool
		st, ok = d.tryStatus()
		return ok && st.App != nil && st.App.Web.State == supervisor.StateBackoff && st.App.Web.LastFailure != nil
	})
	if f := st.App.Web.LastFailure; !strings.Contains(f.Reason, "release step compilemessages failed") || f.Exit != nil {
		t.Errorf("last failure = %+v", f)
	}
	out, err := cli(t, "status", "--admin", d.socket)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"release step compilemessages failed", "its last output", "| CommandError: Can not find msgfmt"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "exit code -1") {
		t.Errorf("status makes up an exit for a process that never ran:\n%s", out)
	}
	r, err := rawGet(addr, "/", "localhost")
	if err != nil || r.status != 503 || !strings.Contains(r.body, "The site is starting") || !strings.Contains(r.body, "frontdoor") {
		t.Errorf("GET / while the release fails = %d %v\n%s", r.status, err, r.body)
	}
	if log := d.stderr.String(); !strings.Contains(log, `its last output:\nCommandError: Can not find msgfmt`) {
		t.Errorf("the log has no one-record report of the step with its output:\n%s", lastLogLines(log, 20))
	}
}
