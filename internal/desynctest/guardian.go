// Package desynctest holds the request-smuggling cases that frontdoor's
// tests run both through the sans-I/O parser (proxy/http1) and through the
// running engine (proxy): the cases of aws/http-desync-guardian, read from
// the copy in testdata/http-desync-guardian (Apache-2.0, with its LICENSE
// and NOTICE), with the verdicts frontdoor gives them, and frontdoor's own
// mutation table (mutations.go).
//
// It is used only by tests. It must not import proxy/http1: the parser's
// in-package tests import it.
package desynctest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Case is one case of aws/http-desync-guardian's suite (see
// testdata/http-desync-guardian/README.md for the format).
type Case struct {
	Name    string `yaml:"name"`
	URI     string `yaml:"uri"`
	Method  string `yaml:"method"`
	Version string `yaml:"version"`
	Headers []struct {
		Name  string `yaml:"name"`
		Value any    `yaml:"value"`
	} `yaml:"headers"`
	Expected struct {
		Tier   string `yaml:"tier"`
		Reason string `yaml:"reason"`
	} `yaml:"expected"`
	// File is the YAML file the case comes from.
	File string `yaml:"-"`
}

// Raw builds the request head as the suite's SOURCE.md says. A Host field
// is added when the case has none: the suite's cases are about framing, and
// without it every HTTP/1.1 case would be refused for the missing Host alone.
func (c *Case) Raw() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\n", c.Method, c.URI, c.Version)
	hasHost := false
	for _, h := range c.Headers {
		if strings.EqualFold(h.Name, "host") {
			hasHost = true
		}
		fmt.Fprintf(&b, "%s: %v\r\n", h.Name, h.Value)
	}
	if !hasHost {
		b.WriteString("Host: localhost\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// Dir is where the suite lives: in the repository, under
// internal/desynctest/testdata/http-desync-guardian, found from the
// test's working directory (any package of the module).
// FRONTDOOR_DESYNC_DIR overrides it.
func Dir() (string, error) {
	if d := os.Getenv("FRONTDOOR_DESYNC_DIR"); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "internal", "desynctest", "testdata", "http-desync-guardian"), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", wd)
		}
	}
}

// Load reads every case of the suite, in file order. A missing suite fails
// the test: it is part of the repository's test data, not optional.
func Load(t testing.TB) []Case {
	t.Helper()
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no http-desync-guardian cases under %s", dir)
	}
	var all []Case
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []Case
		if err := yaml.Unmarshal(data, &cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range cases {
			cases[i].File = filepath.Base(f)
		}
		all = append(all, cases...)
	}
	return all
}

// StricterThanAcceptable lists the suite's "Acceptable" cases that frontdoor
// refuses on purpose, with the status it answers: each breaks a MUST of RFC
// 9112 that the engine issue asks us to enforce (control bytes, whitespace
// before a colon, spaces in the target or after the version, HTTP/0.9).
// Refusing them cannot cause a desync; serving them would mean forwarding
// bytes a back end may read differently.
var StricterThanAcceptable = map[string]int{
	"No TE/CL headers, some others are non-compliant":             400, // "x-my-custom-header :" whitespace before colon (§5.1)
	"TE and some others are non-compliant":                        400,
	"A non-essential header with a non-printable character (x01)": 400, // control byte in a name (not a token)
	"CL and some others are non-compliant":                        400,
	"Non-RFC, but OK HTTP/0.9":                                    505, // HTTP/0.9 is not served
	"Empty version, which means HTTP/0.9":                         400,
	"Some-Header\\x01":                                            400, // control byte in a name
	"\\x01Some-Header":                                            400,
	"Some-Header: \\x01value":                                     400, // control byte in a value (§5.5)
	"Some-Header: value\\x01":                                     400,
	"Extra spaces in version":                                     400, // request-line grammar (§3)
	"[space] in URI":                                              400, // §3.2: SP is not allowed in a target
}

// RefusedCompliant lists the suite's "Compliant" cases that frontdoor
// refuses: an empty request target ("GET  HTTP/1.1") has no meaning to serve
// and breaks the request-line grammar (RFC 9112 §3.2: request-target is not
// empty).
var RefusedCompliant = map[string]int{
	"Empty URI": 400,
}

// AnyRefusal is the verdict of an Ambiguous case: any status of 400 or
// more, the connection closed.
const AnyRefusal = -1

// ParserVerdict is what the parser must answer to c's head: 0 to accept
// it, a status to refuse it with, or AnyRefusal. It fails on a tier the
// suite does not define.
func ParserVerdict(c *Case) (int, error) {
	switch c.Expected.Tier {
	case "Severe":
		return 400, nil
	case "Ambiguous":
		return AnyRefusal, nil
	case "Compliant":
		return RefusedCompliant[c.Name], nil
	case "Acceptable":
		return StricterThanAcceptable[c.Name], nil
	}
	return 0, fmt.Errorf("case %q: unknown tier %q", c.Name, c.Expected.Tier)
}
