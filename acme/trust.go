package acme

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultTrustDir is where Debian's update-ca-certificates looks for the
// administrator's own CA certificates (it also reads the directories
// beneath).
const DefaultTrustDir = "/usr/local/share/ca-certificates"

// TrustFileName is the file InstallTrust writes in the trust directory.
const TrustFileName = "frontdoor-local-ca.crt"

// ErrNoLocalCA is returned by StoredRoot when the store holds no local CA.
var ErrNoLocalCA = errors.New("acme: no local CA in this state")

// TrustStore is a Debian-style system trust store: update-ca-certificates
// builds /etc/ssl/certs (and its bundle ca-certificates.crt) from the CAs
// that /etc/ca-certificates.conf selects in /usr/share/ca-certificates
// plus every *.crt under /usr/local/share/ca-certificates.
type TrustStore struct {
	// Root is the file system tree the store lives in: "" or "/" for the
	// running system, another directory for a system image being built
	// (or a test). Every path of the store is taken under it, so the
	// bundle is always rebuilt from all of that system's CAs.
	Root string
	// Dir is where the local CA's root goes: DefaultTrustDir (the
	// default) or a directory beneath it, as seen from Root.
	Dir string
}

// path returns p (absolute, as seen from the system) inside s.Root.
func (s TrustStore) path(p string) string {
	if s.Root == "" || s.Root == "/" {
		return p
	}
	return filepath.Join(s.Root, p)
}

// updateArgs are update-ca-certificates' arguments for s: none for the
// running system; for another tree, every one of its directories, moved
// there together.
func (s TrustStore) updateArgs() []string {
	if s.Root == "" || s.Root == "/" {
		return nil
	}
	return []string{
		"--certsconf", s.path("/etc/ca-certificates.conf"),
		"--certsdir", s.path("/usr/share/ca-certificates"),
		"--localcertsdir", s.path(DefaultTrustDir),
		"--etccertsdir", s.path("/etc/ssl/certs"),
		"--hooksdir", s.path("/etc/ca-certificates/update.d"),
	}
}

// dir returns where the root certificate goes, refusing a directory
// update-ca-certificates does not read.
func (s TrustStore) dir() (string, error) {
	d := s.Dir
	if d == "" {
		d = DefaultTrustDir
	}
	d = filepath.Clean(d)
	if d != DefaultTrustDir && !strings.HasPrefix(d, DefaultTrustDir+"/") {
		return "", fmt.Errorf("acme: install trust: %s: update-ca-certificates reads the administrator's CAs only from %s and the directories beneath it", d, DefaultTrustDir)
	}
	return s.path(d), nil
}

// InstallTrust adds the local CA's root (rootPEM, from RootPEM or
// StoredRoot) to the system's trusted certificates the system's way: it
// writes it as frontdoor-local-ca.crt in the store's directory (mode 0644)
// and runs update-ca-certificates, which adds it to /etc/ssl/certs and its
// bundle beside every CA already trusted. It returns the path written. It
// blocks until the command exits.
func InstallTrust(ctx context.Context, rootPEM []byte, store TrustStore) (string, error) {
	b, rest := pem.Decode(rootPEM)
	if b == nil || b.Type != "CERTIFICATE" || len(rest) != 0 {
		return "", errors.New("acme: install trust: want exactly one PEM certificate")
	}
	root, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return "", fmt.Errorf("acme: install trust: %w", err)
	}
	if !root.IsCA {
		return "", errors.New("acme: install trust: the certificate is not a CA")
	}
	dir, err := store.dir()
	if err != nil {
		return "", err
	}
	tool, err := exec.LookPath("update-ca-certificates")
	if err != nil {
		return "", fmt.Errorf("acme: install trust: update-ca-certificates not found (install Debian's ca-certificates package): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("acme: install trust: %w", err)
	}
	path := filepath.Join(dir, TrustFileName)
	tmp := path + ".tmp" // not *.crt: update-ca-certificates never picks it up
	if err := os.WriteFile(tmp, rootPEM, 0o644); err != nil {
		return "", fmt.Errorf("acme: install trust: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("acme: install trust: %w", err)
	}
	args := store.updateArgs()
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if err != nil {
		return path, fmt.Errorf("acme: install trust: %s %s: %w: %s", tool, strings.Join(args, " "), err, out)
	}
	return path, nil
}

// StoredRoot returns the local CA's root certificate (PEM, no key) kept in
// store, without making one: ErrNoLocalCA when there is none.
func StoredRoot(store Store) ([]byte, error) {
	data, ok, err := store.Blob(localCABucket, localCAKey)
	if err != nil {
		return nil, fmt.Errorf("acme: read local CA: %w", err)
	}
	if !ok {
		return nil, ErrNoLocalCA
	}
	root, _, err := parseRootPair(data)
	if err != nil {
		return nil, fmt.Errorf("acme: read local CA: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), nil
}
