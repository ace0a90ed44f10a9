package acme

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The real update-ca-certificates, with every directory it touches moved
// into a sandbox.
func TestInstallTrustRunsUpdateCACertificates(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/update-ca-certificates"); err != nil {
		t.Skip("update-ca-certificates not installed (apt-get install ca-certificates)")
	}
	m := localManager(t, tempStorePath(t), nil)
	sandbox := t.TempDir()
	local := filepath.Join(sandbox, "local")
	etc := filepath.Join(sandbox, "etc-ssl-certs")
	for _, d := range []string{etc, filepath.Join(sandbox, "share"), filepath.Join(sandbox, "hooks")} {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, os.WriteFile(filepath.Join(sandbox, "ca-certificates.conf"), nil, 0o644))
	t.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")

	path, err := InstallTrust(context.Background(), m.RootPEM(), local,
		"--etccertsdir", etc, "--certsdir", filepath.Join(sandbox, "share"),
		"--certsconf", filepath.Join(sandbox, "ca-certificates.conf"), "--hooksdir", filepath.Join(sandbox, "hooks"))
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(local, TrustFileName) {
		t.Errorf("wrote %s", path)
	}
	written, err := os.ReadFile(path)
	must(t, err)
	if string(written) != string(m.RootPEM()) {
		t.Error("the written file is not the root")
	}
	bundle, err := os.ReadFile(filepath.Join(etc, "ca-certificates.crt"))
	must(t, err)
	if !strings.Contains(string(bundle), strings.TrimSpace(string(m.RootPEM()))) {
		t.Error("the rebuilt bundle does not contain the local root")
	}
	if _, err := os.Lstat(filepath.Join(etc, "frontdoor-local-ca.pem")); err != nil {
		t.Errorf("no link in the certificate directory: %v", err)
	}
}

func TestInstallTrustErrors(t *testing.T) {
	m := localManager(t, tempStorePath(t), nil)
	leaf, err := m.local.certFor("localhost")
	must(t, err)
	leafPEM := pemEncode("CERTIFICATE", leaf.Certificate[0])

	t.Run("missing command", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := InstallTrust(context.Background(), m.RootPEM(), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "update-ca-certificates not found") || !strings.Contains(err.Error(), "ca-certificates package") {
			t.Errorf("error %v, want a clear missing-command error", err)
		}
	})
	for _, c := range []struct {
		name string
		pem  []byte
		want string
	}{
		{"not PEM", []byte("hello"), "exactly one PEM certificate"},
		{"not a CA", leafPEM, "not a CA"},
		{"two certificates", append(m.RootPEM(), m.RootPEM()...), "exactly one"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := InstallTrust(context.Background(), c.pem, dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Error("a rejected certificate was written")
			}
		})
	}
}
