package appliance

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"frontdoor/acme"
	"frontdoor/state"
)

// TestDemoKeepsItsLocalCA runs `make demo`'s script twice: the second
// run's certificate is signed by the CA the first run made, so a root
// trusted once stays trusted (the README says: once per machine). Before,
// the CA lived in the run's temporary directory and changed every time.
func TestDemoKeepsItsLocalCA(t *testing.T) {
	needDjango(t)
	stateDir := filepath.Join(t.TempDir(), "frontdoor-demo")

	leaf1 := runDemoOnce(t, stateDir)
	db, err := state.Open(filepath.Join(stateDir, "state.db"), state.Options{})
	if err != nil {
		t.Fatalf("the demo kept no state in %s: %v", stateDir, err)
	}
	rootPEM, err := acme.StoredRoot(db)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	if _, err := leaf1.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots}); err != nil {
		t.Fatalf("the first run's certificate does not verify with the kept root: %v", err)
	}

	leaf2 := runDemoOnce(t, stateDir)
	if _, err := leaf2.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots}); err != nil {
		t.Errorf("the second run's certificate is not from the first run's CA: %v", err)
	}
}

// runDemoOnce starts examples/demo on free ports with its state in
// stateDir, takes the certificate it serves for localhost, and stops it
// with Ctrl-C (SIGINT), as a user does.
func runDemoOnce(t *testing.T, stateDir string) *x509.Certificate {
	t.Helper()
	httpsAddr := freePort(t)
	cmd := exec.Command("../examples/demo")
	cmd.Env = append(os.Environ(), "FRONTDOOR_BIN="+binPath, "FRONTDOOR_DEMO_STATE="+stateDir,
		"FRONTDOOR_DEMO_HTTP="+freePort(t), "FRONTDOOR_DEMO_HTTPS="+httpsAddr)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	await(t, 180*time.Second, "the demo to come up", func() bool {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("the demo exited: %v\n%s", err, out.String())
		default:
		}
		return strings.Contains(out.String(), "the Django example is up")
	})
	conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to the demo: %v\n%s", err, out.String())
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()

	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("the demo did not stop cleanly on Ctrl-C: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the demo did not stop on Ctrl-C\n%s", out.String())
	}
	return leaf
}
