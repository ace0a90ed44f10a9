package appliance

import (
	"context"
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
