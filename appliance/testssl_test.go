package appliance

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTestSSLFindsNothing runs testssl.sh (Debian's testssl.sh) against
// frontdoor's TLS (the quick mode with the local CA) and fails on any
// MEDIUM, HIGH or CRITICAL finding, except those about the test
// certificate itself (its chain is a private CA, it is short-lived, it has
// no revocation URL: properties of a local certificate, not of the server).
func TestTestSSLFindsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("testssl runs for minutes; skipped with -short")
	}
	if _, err := exec.LookPath("testssl"); err != nil {
		t.Fatalf("testssl (Debian package testssl.sh) is needed: %v", err)
	}
	t.Parallel()
	dir := t.TempDir()
	addr := freePort(t)
	root := filepath.Join(dir, "www")
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(root, "index.html"), []byte("hello"), 0o644)
	startFrontdoor(t, "file-server", "--listen", addr, "--root", root, "--tls", "local", "--state", filepath.Join(dir, "quick.db"))
	waitFor(t, func() bool {
		_, _, err := httpsGet(addr, "localhost", nil)
		return err != nil && !strings.Contains(err.Error(), "refused")
	})
	report := filepath.Join(dir, "testssl.json")
	cmd := exec.Command("testssl", "--quiet", "--color", "0", "--warnings", "off",
		"--jsonfile-pretty", report, "--ip", "127.0.0.1", "https://localhost:"+strings.Split(addr, ":")[1]+"/")
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	data, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("testssl wrote no report (%v): %v\n%s", err, rerr, out)
	}
	var doc struct {
		ScanResult []map[string]json.RawMessage `json:"scanResult"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, target := range doc.ScanResult {
		for section, raw := range target {
			var findings []struct{ ID, Severity, Finding string }
			if json.Unmarshal(raw, &findings) != nil {
				continue
			}
			for _, f := range findings {
				checked++
				switch f.Severity {
				case "MEDIUM", "HIGH", "CRITICAL":
				default:
					continue
				}
				if strings.HasPrefix(f.ID, "cert_") {
					t.Logf("ignored (test certificate): %s %s %s", f.ID, f.Severity, f.Finding)
					continue
				}
				t.Errorf("testssl %s: %s %s: %s", section, f.ID, f.Severity, f.Finding)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("testssl reported only %d findings; did it run?\n%s", checked, out)
	}
	t.Logf("testssl checked %d findings in %v", checked, time.Since(start).Round(time.Second))
}
