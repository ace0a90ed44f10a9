package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"frontdoor/acme"
	"frontdoor/state"
)

// TestTrustStateMustHoldACA: `frontdoor trust --state FILE` with a file
// that does not exist, or that holds no local CA, fails and creates
// neither a state nor a CA, and installs nothing (before, it created both
// and installed a root nothing serves with).
func TestTrustStateMustHoldACA(t *testing.T) {
	dir := t.TempDir()
	sysRoot := t.TempDir()
	missing := filepath.Join(dir, "missing", "state.db")
	var stdout, stderr bytes.Buffer
	if code := runCLI([]string{"trust", "--state", missing, "--root", sysRoot}, &stdout, &stderr); code == 0 {
		t.Errorf("trust --state MISSING exited 0:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "nothing installed") {
		t.Errorf("the error does not say nothing was installed: %s", stderr.String())
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Error("trust created the missing state's directory")
	}

	noCA := filepath.Join(dir, "state.db")
	db, err := state.Open(noCA, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	stderr.Reset()
	if code := runCLI([]string{"trust", "--state", noCA, "--root", sysRoot}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "holds no local CA") {
		t.Errorf("trust --state with no CA: exit %d, %s", code, stderr.String())
	}
	db, err = state.Open(noCA, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := acme.StoredRoot(db); err == nil {
		t.Error("trust made a CA in the state")
	}
	if entries, _ := os.ReadDir(sysRoot); len(entries) != 0 {
		t.Errorf("a failed trust wrote into the trust store: %v", entries)
	}
}

// TestTrustAddsBesideTheAdministratorsCA runs the command against a
// system tree in a temporary directory: the administrator's own CA stays
// in the bundle beside the local CA's root.
func TestTrustAddsBesideTheAdministratorsCA(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/update-ca-certificates"); err != nil {
		t.Skip("update-ca-certificates not installed (apt-get install ca-certificates)")
	}
	t.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
	// A state with a local CA, as a quick mode with --tls local leaves it.
	statePath := filepath.Join(t.TempDir(), "quick.db")
	db, err := state.Open(statePath, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := acme.New(acme.Config{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	rootPEM := m.RootPEM()
	m.Close()
	db.Close()

	sysRoot := t.TempDir()
	for _, d := range []string{"etc/ssl/certs", "usr/share/ca-certificates", "usr/local/share/ca-certificates"} {
		if err := os.MkdirAll(filepath.Join(sysRoot, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(sysRoot, "etc/ca-certificates.conf"), nil, 0o644)
	// The administrator's own CA: here, another frontdoor's root will do.
	adminState := filepath.Join(t.TempDir(), "other.db")
	adb, _ := state.Open(adminState, state.Options{})
	am, err := acme.New(acme.Config{Store: adb})
	if err != nil {
		t.Fatal(err)
	}
	adminCA := am.RootPEM()
	am.Close()
	adb.Close()
	os.WriteFile(filepath.Join(sysRoot, "usr/local/share/ca-certificates/admin.crt"), adminCA, 0o644)
	if out, err := exec.Command("update-ca-certificates", "--certsconf", filepath.Join(sysRoot, "etc/ca-certificates.conf"),
		"--certsdir", filepath.Join(sysRoot, "usr/share/ca-certificates"), "--localcertsdir", filepath.Join(sysRoot, "usr/local/share/ca-certificates"),
		"--etccertsdir", filepath.Join(sysRoot, "etc/ssl/certs"), "--hooksdir", filepath.Join(sysRoot, "none")).CombinedOutput(); err != nil {
		t.Fatalf("update-ca-certificates: %v\n%s", err, out)
	}

	var stdout, stderr bytes.Buffer
	if code := runCLI([]string{"trust", "--state", statePath, "--root", sysRoot}, &stdout, &stderr); code != 0 {
		t.Fatalf("trust: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	bundle, err := os.ReadFile(filepath.Join(sysRoot, "etc/ssl/certs/ca-certificates.crt"))
	if err != nil {
		t.Fatal(err)
	}
	for name, ca := range map[string][]byte{"the local CA's root": rootPEM, "the administrator's CA": adminCA} {
		if !bytes.Contains(bundle, bytes.TrimSpace(ca)) {
			t.Errorf("the bundle lacks %s", name)
		}
	}
}
