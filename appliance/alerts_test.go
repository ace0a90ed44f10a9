package appliance

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"frontdoor/acme"
)

// alert_command runs (a real process) for expiry warnings and errors and
// failed orders, with the alert in its environment and on its standard
// input, and not for other certificate events.
func TestAlertCommandRunsOnAlerts(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "alerts")
	script := filepath.Join(dir, "alert.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n{ echo \"$1|$FRONTDOOR_ALERT_KIND|$FRONTDOOR_ALERT_NAME|$FRONTDOOR_ALERT_DAYS_LEFT|$FRONTDOOR_ALERT_NOT_AFTER|$FRONTDOOR_ALERT_MESSAGE\"; cat; } >> "+out+"\n"), 0o755)
	a := &Appliance{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	argv := []string{script, "--flag"}
	a.alertArgv.Store(&argv)

	notAfter := time.Now().Add(50*time.Hour + time.Minute)
	a.alert(acme.Event{Kind: "renewed", Name: "quiet.example", Message: "fine"})
	a.alert(acme.Event{Kind: "obtained", Name: "quiet.example", Message: "fine"})
	a.alert(acme.Event{Kind: "expiry-critical", Name: "site.example", Message: "expires soon", NotAfter: notAfter})
	a.alert(acme.Event{Kind: "failed", Name: "other.example", Message: "the CA said no"})
	var text string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(out)
		if text = string(b); strings.Count(text, "frontdoor: ") == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		"--flag|expiry-critical|site.example|2|" + notAfter.UTC().Format(time.RFC3339) + "|expires soon",
		"frontdoor: expiry-critical: site.example: expires soon",
		"--flag|failed|other.example|||the CA said no",
		"frontdoor: failed: other.example: the CA said no",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("alert output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "quiet.example") {
		t.Errorf("a renewal ran the alert command:\n%s", text)
	}
}
