package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var hostCases = []struct {
	allowed []string
	host    string
	want    bool
}{
	{[]string{"example.com"}, "example.com", true},
	{[]string{"example.com"}, "EXAMPLE.com", true},
	{[]string{"Example.COM"}, "example.com", true},
	{[]string{"example.com"}, "example.com.", true},
	{[]string{"example.com"}, "www.example.com", false},
	{[]string{"www.example.com"}, "example.com", false},
	{[]string{".example.com"}, "example.com", true},
	{[]string{".example.com"}, "www.example.com", true},
	{[]string{".example.com"}, "a.b.example.com", true},
	{[]string{".example.com"}, "badexample.com", false},
	{[]string{".example.com"}, "example.org", false},
	{[]string{"*"}, "anything.test", true},
	{[]string{"*.example.com"}, "www.example.com", false}, // not a Django wildcard
	{[]string{"localhost", "127.0.0.1"}, "127.0.0.1", true},
	{[]string{"localhost", "127.0.0.1"}, "127.0.0.2", false},
	{[]string{}, "localhost", false},
	{[]string{".localhost"}, "app.localhost", true},
}

// TestDjangoHostAllowed checks the matcher against a table, and the table
// against Django's own validate_host when Debian's Django is installed.
func TestDjangoHostAllowed(t *testing.T) {
	for _, c := range hostCases {
		if got := djangoHostAllowed(c.allowed, c.host); got != c.want {
			t.Errorf("ALLOWED_HOSTS %q, host %q: allowed %v, want %v", c.allowed, c.host, got, c.want)
		}
	}
	if out, err := exec.Command(systemPython, "-c", "import django").CombinedOutput(); err != nil {
		t.Skipf("no Django to compare with: %v %s", err, out)
	}
	cases, _ := json.Marshal(hostCases2JSON())
	script := `
import json, sys
from django.http.request import split_domain_port, validate_host
for c in json.loads(sys.argv[1]):
    domain, _ = split_domain_port(c["host"])
    print(json.dumps(validate_host(domain, c["allowed"])))
`
	out, err := exec.Command(systemPython, "-c", script, string(cases)).Output()
	if err != nil {
		t.Fatalf("Django's validate_host: %v", err)
	}
	for i, line := range strings.Fields(string(out)) {
		if django := line == "true"; django != hostCases[i].want {
			t.Errorf("the table says %v for ALLOWED_HOSTS %q, host %q; Django says %v", hostCases[i].want, hostCases[i].allowed, hostCases[i].host, django)
		}
	}
}

func hostCases2JSON() []map[string]any {
	var out []map[string]any
	for _, c := range hostCases {
		out = append(out, map[string]any{"allowed": c.allowed, "host": c.host})
	}
	return out
}

// TestInitWarnsWhenDomainNotAllowed: `frontdoor init --domain NAME` on a
// project whose ALLOWED_HOSTS refuses NAME says so, with the settings line
// that fixes it (before, it said "no problem found" and Django then
// answered 400 DisallowedHost); an allowed name raises nothing.
func TestInitWarnsWhenDomainNotAllowed(t *testing.T) {
	needDjango(t)
	project := copyMysite(t) // ALLOWED_HOSTS: localhost, 127.0.0.1, [::1]
	initOut := func(domains ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		cfg := filepath.Join(t.TempDir(), "frontdoor.toml")
		_, err := Init(context.Background(), InitOptions{ProjectDir: project, ConfigPath: cfg, Domains: domains, Out: &out})
		return out.String(), err
	}
	out, err := initOut("example.com", "localhost")
	if !errors.Is(err, ErrInitProblems) {
		t.Errorf("init --domain example.com: %v, want ErrInitProblems (the site would answer 400)", err)
	}
	for _, want := range []string{
		"does not allow example.com: Django would answer every request for it with 400 (DisallowedHost)",
		"fix, in mysite/settings.py:  ALLOWED_HOSTS = ['localhost', '127.0.0.1', '[::1]', 'example.com']",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("init --domain example.com: the output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "no problem found") {
		t.Errorf("init --domain example.com says no problem:\n%s", out)
	}
	if out, err := initOut("localhost", "LOCALHOST."); err != nil || !strings.Contains(out, "no problem found") {
		t.Errorf("init --domain localhost reports a problem (%v):\n%s", err, out)
	}
}
