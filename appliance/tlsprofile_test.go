package appliance

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"frontdoor/internal/pebbletest"
)

// A [tls] profile the CA's directory does not list stops `frontdoor run`
// with the file, the line and the profiles the CA offers; a [[site]]
// profile it lists starts.
func TestProfileTheCADoesNotOfferIsRefused(t *testing.T) {
	dir := t.TempDir()
	httpAddr, httpsAddr := freePort(t), freePort(t)
	p := pebbletest.Start(t, portOf(t, httpAddr), portOf(t, httpsAddr))
	cfg := acmeConfig(t, dir, httpAddr, httpsAddr, p, "profile.test")
	text, _ := os.ReadFile(cfg)
	bad := strings.Replace(string(text), "[tls]\n", "[tls]\nprofile = \"nonesuch\"\n", 1)
	os.WriteFile(cfg, []byte(bad), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binPath, "run", "--config", cfg).CombinedOutput()
	if err == nil {
		t.Fatalf("frontdoor run started with a profile the CA does not offer:\n%s", out)
	}
	line := 0
	for i, l := range strings.Split(bad, "\n") {
		if strings.HasPrefix(l, "profile =") {
			line = i + 1
		}
	}
	want := regexp.MustCompile(regexp.QuoteMeta(cfg) + `:` + strconv.Itoa(line) + `: tls\.profile: the CA at \S+ does not offer the profile "nonesuch" \(it offers: classic, shortlived, tlsserver\)`)
	if !want.Match(out) {
		t.Errorf("error does not name the file, line %d and the offered profiles:\n%s", line, out)
	}
	if p.Orders() != 0 {
		t.Errorf("pebble saw %d orders", p.Orders())
	}
}

// A reload applies a [[site]] profile to the next order of the site's
// names, and refuses a [tls] profile the CA does not offer, with its line,
// keeping what is in force.
func TestReloadAppliesProfiles(t *testing.T) {
	dir := t.TempDir()
	httpAddr, httpsAddr := freePort(t), freePort(t)
	p := pebbletest.Start(t, portOf(t, httpAddr), portOf(t, httpsAddr))
	cfg := acmeConfig(t, dir, httpAddr, httpsAddr, p, "reload.test")
	proc := startFrontdoor(t, "run", "--config", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("frontdoor's log:\n%s", proc.stderr.String())
		}
	})
	roots := p.Roots(t)
	lifetime := func() time.Duration {
		c, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "reload.test", RootCAs: roots})
		if err != nil {
			return 0
		}
		defer c.Close()
		leaf := c.ConnectionState().PeerCertificates[0]
		return leaf.NotAfter.Sub(leaf.NotBefore)
	}
	waitFor(t, func() bool { return lifetime() > 0 })

	text, _ := os.ReadFile(cfg)
	short := strings.Replace(string(text), "[[site]]\n", "[[site]]\nprofile = \"shortlived\"\n", 1)
	os.WriteFile(cfg, []byte(short), 0o644)
	if out, err := cli(t, "reload", "--config", cfg); err != nil {
		t.Fatalf("reload with a site profile: %v\n%s", err, out)
	}
	if out, err := cli(t, "certs", "--config", cfg, "--renew", "reload.test"); err != nil {
		t.Fatalf("renew: %v\n%s", err, out)
	}
	if got := lifetime(); got <= 0 || got > 7*24*time.Hour {
		t.Errorf("after the reload and a renewal: lifetime %v, want the shortlived profile's", got)
	}

	bad := strings.Replace(short, "[tls]\n", "[tls]\nprofile = \"nonesuch\"\n", 1)
	os.WriteFile(cfg, []byte(bad), 0o644)
	out, err := cli(t, "reload", "--config", cfg)
	if err == nil || !strings.Contains(out, cfg+":") || !strings.Contains(out, `tls.profile: the CA at`) || !strings.Contains(out, `"nonesuch"`) {
		t.Errorf("reload with an unknown profile: %v\n%s", err, out)
	}
	if out, err := cli(t, "certs", "--config", cfg); err != nil || !strings.Contains(out, "shortlived") {
		t.Errorf("the profile in force after the refused reload: %v\n%s", err, out)
	}
}

// A wildcard site on a CA that offers no dns-persist-01 — Debian's pebble
// 2.4.0, whose directory names no issuer domain for the record — stops
// `frontdoor run` with the file, the line of the wildcard and the reason;
// no order is placed. The same site on pebble v2.10.3 starts (it waits for
// its record: TestWildcardThroughDNSPersist).
func TestWildcardOnACAWithoutDNSPersistIsRefused(t *testing.T) {
	dir := t.TempDir()
	httpAddr, httpsAddr := freePort(t), freePort(t)
	p := pebbletest.StartWith(t, pebbletest.Options{HTTPPort: portOf(t, httpAddr), TLSPort: portOf(t, httpsAddr), Debian: true})
	cfg := acmeConfig(t, dir, httpAddr, httpsAddr, p, "www.wild.test", "*.wild.test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binPath, "run", "--config", cfg).CombinedOutput()
	if err == nil {
		t.Fatalf("frontdoor run started with a wildcard on a CA without dns-persist-01:\n%s", out)
	}
	text, _ := os.ReadFile(cfg)
	line := 0
	for i, l := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(l, "hosts =") {
			line = i + 1
		}
	}
	want := regexp.MustCompile(regexp.QuoteMeta(cfg) + `:` + strconv.Itoa(line) + `: site\[0\]\.hosts\[1\]: "\*\.wild\.test" needs a wildcard certificate, validated by dns-persist-01, and the CA at \S+ does not offer it`)
	if !want.Match(out) {
		t.Errorf("error does not name the file, line %d, the wildcard and the reason:\n%s", line, out)
	}
	if !strings.Contains(string(out), "list the site's names one by one") {
		t.Errorf("error gives no fix:\n%s", out)
	}
	if strings.Contains(string(out), "www.wild.test\" needs") {
		t.Errorf("the concrete name was refused too:\n%s", out)
	}
}
