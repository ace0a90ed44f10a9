package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA returns a self-signed CA certificate in PEM named cn.
func testCA(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// debianTrustRoot makes a system tree with a Debian trust store in a
// temporary directory, already built by update-ca-certificates: one CA
// shipped by the distribution (selected in ca-certificates.conf) and the
// administrator's own CA in /usr/local/share/ca-certificates. It returns
// the tree and the two CAs.
func debianTrustRoot(t *testing.T) (root string, distCA, adminCA []byte) {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/update-ca-certificates"); err != nil {
		t.Skip("update-ca-certificates not installed (apt-get install ca-certificates)")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (update-ca-certificates runs openssl rehash)")
	}
	t.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
	root = t.TempDir()
	distCA, adminCA = testCA(t, "distribution CA"), testCA(t, "administrator's own CA")
	for _, d := range []string{"etc/ssl/certs", "etc/ca-certificates/update.d", "usr/share/ca-certificates/mozilla", "usr/local/share/ca-certificates"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(root, "usr/share/ca-certificates/mozilla/Dist_CA.crt"), distCA, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/ca-certificates.conf"), []byte("mozilla/Dist_CA.crt\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "usr/local/share/ca-certificates/admin-ca.crt"), adminCA, 0o644))
	if out, err := exec.Command("update-ca-certificates", TrustStore{Root: root}.updateArgs()...).CombinedOutput(); err != nil {
		t.Fatalf("update-ca-certificates: %v\n%s", err, out)
	}
	bundle := readBundle(t, root)
	if !containsPEM(bundle, distCA) || !containsPEM(bundle, adminCA) {
		t.Fatalf("the test's store is not built:\n%s", bundle)
	}
	return root, distCA, adminCA
}

func readBundle(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"))
	must(t, err)
	return string(b)
}

func containsPEM(bundle string, cert []byte) bool {
	return strings.Contains(bundle, strings.TrimSpace(string(cert)))
}

// TestInstallTrustKeepsOtherCAs: the local CA's root is added to the
// system's store beside the distribution's CAs and the administrator's
// own (the old `trust --dir` rebuilt the bundle from one directory and
// silently dropped the administrator's CA); a directory beneath
// /usr/local/share/ca-certificates works too; one that
// update-ca-certificates does not read is refused and nothing is written.
func TestInstallTrustKeepsOtherCAs(t *testing.T) {
	root, distCA, adminCA := debianTrustRoot(t)
	m := localManager(t, tempStorePath(t), nil)

	path, err := InstallTrust(context.Background(), m.RootPEM(), TrustStore{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, DefaultTrustDir, TrustFileName); path != want {
		t.Errorf("wrote %s, want %s", path, want)
	}
	if written, _ := os.ReadFile(path); string(written) != string(m.RootPEM()) {
		t.Error("the written file is not the root")
	}
	bundle := readBundle(t, root)
	for name, ca := range map[string][]byte{"the local CA's root": m.RootPEM(), "the distribution's CA": distCA, "the administrator's CA": adminCA} {
		if !containsPEM(bundle, ca) {
			t.Errorf("the bundle lacks %s", name)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/ssl/certs/frontdoor-local-ca.pem")); err != nil {
		t.Errorf("no link in the certificate directory: %v", err)
	}

	// A directory beneath the local one: still added, still beside the others.
	root2, _, adminCA2 := debianTrustRoot(t)
	sub := filepath.Join(DefaultTrustDir, "frontdoor")
	path, err = InstallTrust(context.Background(), m.RootPEM(), TrustStore{Root: root2, Dir: sub})
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(root2, sub, TrustFileName) {
		t.Errorf("wrote %s", path)
	}
	if bundle := readBundle(t, root2); !containsPEM(bundle, m.RootPEM()) || !containsPEM(bundle, adminCA2) {
		t.Error("with a subdirectory, the bundle lacks the local root or the administrator's CA")
	}

	// A directory update-ca-certificates does not read: refused.
	root3, _, _ := debianTrustRoot(t)
	before := readBundle(t, root3)
	elsewhere := "/srv/certs"
	if _, err := InstallTrust(context.Background(), m.RootPEM(), TrustStore{Root: root3, Dir: elsewhere}); err == nil || !strings.Contains(err.Error(), DefaultTrustDir) {
		t.Errorf("a directory outside %s: error %v, want one naming it", DefaultTrustDir, err)
	}
	if _, err := os.Stat(filepath.Join(root3, elsewhere)); err == nil {
		t.Error("the refused directory was created")
	}
	if readBundle(t, root3) != before {
		t.Error("a refused install changed the bundle")
	}
}

func TestInstallTrustErrors(t *testing.T) {
	m := localManager(t, tempStorePath(t), nil)
	leaf, err := m.local.certFor("localhost")
	must(t, err)
	leafPEM := pemEncode("CERTIFICATE", leaf.Certificate[0])

	t.Run("missing command", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := InstallTrust(context.Background(), m.RootPEM(), TrustStore{Root: t.TempDir()})
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
			root := t.TempDir()
			_, err := InstallTrust(context.Background(), c.pem, TrustStore{Root: root})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Error("a rejected certificate was written")
			}
		})
	}
}

// TestStoredRoot reads the local CA's root from a state without making
// one: a state without a CA is an error and stays without one.
func TestStoredRoot(t *testing.T) {
	empty := openStore(t, tempStorePath(t))
	if _, err := StoredRoot(empty); !errors.Is(err, ErrNoLocalCA) {
		t.Errorf("empty state: error %v, want ErrNoLocalCA", err)
	}
	if _, ok, _ := empty.Blob(localCABucket, localCAKey); ok {
		t.Error("StoredRoot made a CA")
	}

	path := tempStorePath(t)
	m := localManager(t, path, nil)
	want := m.RootPEM()
	got, err := StoredRoot(m.cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("StoredRoot gave another certificate than RootPEM")
	}
	if strings.Contains(string(got), "PRIVATE") {
		t.Error("StoredRoot carries the private key")
	}
}
