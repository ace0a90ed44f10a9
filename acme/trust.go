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
)

// DefaultTrustDir is where Debian's update-ca-certificates looks for local
// CA certificates.
const DefaultTrustDir = "/usr/local/share/ca-certificates"

// TrustFileName is the file InstallTrust writes in the trust directory.
const TrustFileName = "frontdoor-local-ca.crt"

// InstallTrust adds the local CA's root (rootPEM, from RootPEM) to the
// system's trusted certificates: it writes dir/frontdoor-local-ca.crt
// (mode 0644; dir "" means DefaultTrustDir) and runs
// `update-ca-certificates --localcertsdir DIR [updateArgs...]`, which
// rebuilds /etc/ssl/certs. updateArgs lets tests point the command's other
// directories (--etccertsdir, --certsconf, --certsdir, --hooksdir) at a
// sandbox. It returns the path written. It blocks until the command exits.
func InstallTrust(ctx context.Context, rootPEM []byte, dir string, updateArgs ...string) (string, error) {
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
	tool, err := exec.LookPath("update-ca-certificates")
	if err != nil {
		return "", fmt.Errorf("acme: install trust: update-ca-certificates not found (install Debian's ca-certificates package): %w", err)
	}
	if dir == "" {
		dir = DefaultTrustDir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("acme: install trust: %w", err)
	}
	path := filepath.Join(dir, TrustFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, rootPEM, 0o644); err != nil {
		return "", fmt.Errorf("acme: install trust: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("acme: install trust: %w", err)
	}
	args := append([]string{"--localcertsdir", dir}, updateArgs...)
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if err != nil {
		return path, fmt.Errorf("acme: install trust: %s %v: %w: %s", tool, args, err, out)
	}
	return path, nil
}
