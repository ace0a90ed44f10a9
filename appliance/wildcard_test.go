package appliance

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"frontdoor/internal/pebbletest"
)

// A *.domain site through the real binary: no order until the
// dns-persist-01 record exists, `frontdoor certs --dns-record` prints it,
// and once the DNS serves it the wildcard certificate serves subdomains.
func TestWildcardSiteByDNSPersist01(t *testing.T) {
	dir := t.TempDir()
	httpAddr, httpsAddr := freePort(t), freePort(t)
	p := pebbletest.Start(t, portOf(t, httpAddr), portOf(t, httpsAddr))
	cfg := acmeConfig(t, dir, httpAddr, httpsAddr, p, "*.wild.test")
	proc := startFrontdoor(t, "run", "--config", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("frontdoor's log:\n%s", proc.stderr.String())
		}
	})
	var list string
	waitFor(t, func() bool {
		out, _ := exec.Command(binPath, "certs", "--config", cfg).CombinedOutput()
		list = string(out)
		return strings.Contains(list, "_validation-persist.wild.test")
	})
	if p.Orders() != 0 {
		t.Fatalf("pebble saw %d orders before the record existed", p.Orders())
	}
	out, err := exec.Command(binPath, "certs", "--config", cfg, "--dns-record", "*.wild.test").CombinedOutput()
	if err != nil {
		t.Fatalf("certs --dns-record: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(_validation-persist\.wild\.test)\. IN TXT ("[^\n]*")`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no TXT record in:\n%s", out)
	}
	value, err := strconv.Unquote(m[2])
	if err != nil || !strings.Contains(value, "accounturi=https://127.0.0.1") || !strings.HasSuffix(value, "; policy=wildcard") {
		t.Fatalf("record value %q (%v)", value, err)
	}
	p.SetTXT(t, m[1], value)
	if out, err := exec.Command(binPath, "certs", "--config", cfg, "--renew", "*.wild.test").CombinedOutput(); err != nil {
		t.Fatalf("certs --renew: %v\n%s", err, out)
	}
	roots := p.Roots(t)
	for _, host := range []string{"a.wild.test", "www.wild.test"} {
		resp, body, err := httpsGet(httpsAddr, host, roots)
		if err != nil || resp.StatusCode != 200 || body != "secure hello" {
			t.Fatalf("GET https://%s/: %v %v %q", host, err, resp, body)
		}
	}
	if p.Orders() != 1 {
		t.Errorf("pebble saw %d orders, want 1", p.Orders())
	}
}
