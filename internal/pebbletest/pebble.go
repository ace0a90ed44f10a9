// Package pebbletest runs Let's Encrypt's test ACME server, pebble (release
// Version, built from its Go module: install.go), with its DNS helper
// pebble-challtestsrv on loopback, for the tests of the certificate manager
// and of the appliance. It is used only by tests.
package pebbletest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// Server is a running pebble ACME server with its pebble-challtestsrv DNS
// server, both on loopback, for one test. Every name resolves to 127.0.0.1
// unless SetA says otherwise. Pebble validates HTTP-01 on httpPort and
// TLS-ALPN-01 on tlsPort of the address a name resolves to (or of the IP
// address of an IP identifier), and dns-persist-01 by asking
// challtestsrv for the TXT record SetTXT made. It offers the profiles of
// Options.Profiles (default DefaultProfiles) and renewal information
// (ARI) for every certificate it issued, which SetRenewalInfo overrides.
//
// Use:
//
//	p := pebbletest.Start(t, httpPort, tlsPort) // ports the code under test serves
//	cfg.DirectoryURL, cfg.HTTPClient, cfg.Resolver = p.DirectoryURL, p.HTTPClient, p.Resolver
//	... p.Orders() counts orders from pebble's own log; p.Roots(t) trusts issued certificates.
type Server struct {
	DirectoryURL string
	// HTTPClient trusts pebble's API certificate (made by this helper).
	HTTPClient *http.Client
	// Resolver asks pebble-challtestsrv.
	Resolver *net.Resolver
	// DNSAddr is pebble-challtestsrv's DNS server ("127.0.0.1:port").
	DNSAddr string

	mgmtURL string // pebble's management API (roots, renewal info)
	ctsURL  string // challtestsrv's management API
	out     *testkit.SyncBuffer
	// APICertPEM is pebble's own API certificate, for clients configured
	// by file (frontdoor's tls.directory_ca).
	APICertPEM []byte
}

// Profile is one certificate profile pebble offers.
type Profile struct {
	Description string `json:"description"`
	// ValidityPeriod is the lifetime of the profile's certificates, in
	// seconds.
	ValidityPeriod int64 `json:"validityPeriod"`
}

// DefaultProfiles are Let's Encrypt's three profiles with their
// lifetimes of 2026: classic 90 days, tlsserver 45 days, shortlived
// 6 days (518400 s; Let's Encrypt's is 160 hours).
var DefaultProfiles = map[string]Profile{
	"classic":    {"the classic 90-day profile", 90 * 24 * 3600},
	"tlsserver":  {"45 days, TLS server authentication only", 45 * 24 * 3600},
	"shortlived": {"about six days", 518400},
}

// Options are the settings of StartWith.
type Options struct {
	// HTTPPort and TLSPort are where pebble validates HTTP-01 and
	// TLS-ALPN-01: the ports of the code under test.
	HTTPPort, TLSPort int
	// Profiles replace DefaultProfiles when set. Pebble picks one at
	// random for an order that names none.
	Profiles map[string]Profile
	// Debian runs Debian's pebble 2.4.0 (/usr/bin/pebble, apt package
	// pebble) instead of v2.10.3: a real CA of the older kind, with no
	// renewal information, profiles, IP identifiers, issuer domain names
	// or dns-persist-01.
	Debian bool
}

// debianPebble and debianChalltestsrv are the binaries of Debian's pebble
// package.
const (
	debianPebble       = "/usr/bin/pebble"
	debianChalltestsrv = "/usr/bin/pebble-challtestsrv"
)

// Start is StartWith with the default profiles.
func Start(t testing.TB, httpPort, tlsPort int) *Server {
	t.Helper()
	return StartWith(t, Options{HTTPPort: httpPort, TLSPort: tlsPort})
}

// StartWith starts pebble-challtestsrv and pebble, waits until both
// answer, and stops them when the test ends. It skips the test with -short
// (make test-quick). pebble is installed first when needed (install.go).
// A start that does not answer
// (a port taken between choosing and binding it by a test running in
// parallel, a process that exits) is retried on fresh ports, and the
// processes' output is logged so a failure says why.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts pebble; skipped with -short")
	}
	if opts.Profiles == nil {
		opts.Profiles = DefaultProfiles
	}
	pebbleBin, ctsBin := debianPebble, debianChalltestsrv
	if opts.Debian {
		if _, err := os.Stat(pebbleBin); err != nil {
			t.Fatalf("Debian's pebble is not installed (scripts/ensure-deps test installs the apt package pebble): %v", err)
		}
	} else {
		pebbleBin, ctsBin = binaries(t)
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		p, stop, err := start(t, pebbleBin, ctsBin, opts)
		if err == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("pebble and challtestsrv output:\n%s", p.out.String())
				}
			})
			return p
		}
		stop()
		t.Logf("pebble start %d of %d: %v; output:\n%s", attempt, attempts, err, p.out.String())
		if attempt == attempts {
			t.Fatalf("pebble and challtestsrv did not answer after %d starts: %v", attempts, err)
		}
	}
}

// start makes one attempt: it starts both processes on fresh ports and
// waits up to 20 s for both to answer. stop kills them; it is always
// returned, and so is the Server, for its output.
func start(t testing.TB, pebbleBin, ctsBin string, opts Options) (p *Server, stop func(), err error) {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, pool := selfSignedLoopback(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(certFile, certPEM, 0o600))
	must(t, os.WriteFile(keyFile, keyPEM, 0o600))

	dnsPort := freeTCPAndUDPPort(t)
	ctsPort, apiPort, mgmtPort := testkit.FreePort(t), testkit.FreePort(t), testkit.FreePort(t)
	p = &Server{
		DirectoryURL: fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort),
		HTTPClient: &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		Resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", dnsPort))
		}},
		DNSAddr:    fmt.Sprintf("127.0.0.1:%d", dnsPort),
		mgmtURL:    fmt.Sprintf("https://127.0.0.1:%d", mgmtPort),
		ctsURL:     fmt.Sprintf("http://127.0.0.1:%d", ctsPort),
		out:        &testkit.SyncBuffer{},
		APICertPEM: certPEM,
	}
	var procs []*exec.Cmd
	exited := make(chan string, 2)
	stop = func() {
		for _, cmd := range procs {
			cmd.Process.Kill()
		}
		for range procs {
			<-exited
		}
		procs = nil
	}
	run := func(cmd *exec.Cmd) error {
		cmd.Stdout, cmd.Stderr = p.out, p.out
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", cmd.Path, err)
		}
		procs = append(procs, cmd)
		go func() {
			err := cmd.Wait()
			exited <- fmt.Sprintf("%s exited: %v", filepath.Base(cmd.Path), err)
		}()
		return nil
	}

	ctsArgs := []string{
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", p.DNSAddr,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-management", fmt.Sprintf("127.0.0.1:%d", ctsPort)}
	if opts.Debian {
		// Debian's challtestsrv 2.4.0 names its DNS server -dns01 and
		// has no DNS-over-HTTPS.
		ctsArgs = []string{
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
			"-dns01", p.DNSAddr,
			"-http01", "", "-https01", "", "-tlsalpn01", "",
			"-management", fmt.Sprintf("127.0.0.1:%d", ctsPort)}
	}
	cts := exec.Command(ctsBin, ctsArgs...)
	if err := run(cts); err != nil {
		return p, stop, err
	}
	config := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", apiPort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       opts.HTTPPort,
		"tlsPort":                        opts.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"profiles":                       opts.Profiles,
	}}
	data, _ := json.Marshal(config)
	configFile := filepath.Join(dir, "pebble.json")
	must(t, os.WriteFile(configFile, data, 0o600))
	pb := exec.Command(pebbleBin, "-config", configFile, "-dnsserver", p.DNSAddr)
	pb.Env = append(os.Environ(),
		"PEBBLE_VA_NOSLEEP=1",      // validate at once
		"PEBBLE_WFE_NONCEREJECT=0", // no random bad-nonce errors
		"PEBBLE_AUTHZREUSE=0",      // every order validates afresh
		"PEBBLE_VA_ALWAYS_VALID=0")
	if err := run(pb); err != nil {
		return p, stop, err
	}

	deadline := time.Now().Add(20 * time.Second)
	var last error
	for {
		select {
		case why := <-exited:
			exited <- why // stop waits for every exit
			return p, stop, fmt.Errorf("%s before answering", why)
		default:
		}
		if last = p.answers(); last == nil {
			return p, stop, nil
		}
		if time.Now().After(deadline) {
			return p, stop, fmt.Errorf("no answer within 20s: %w", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answers reports why pebble's directory or challtestsrv's DNS does not
// answer yet, or nil once both do.
func (p *Server) answers() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.DirectoryURL, nil)
	resp, err := p.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("pebble directory: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pebble directory: %s", resp.Status)
	}
	if _, err := p.Resolver.LookupIPAddr(ctx, "probe.test"); err != nil {
		return fmt.Errorf("challtestsrv DNS: %w", err)
	}
	return nil
}

// freeTCPAndUDPPort returns a loopback port free for both TCP and UDP:
// challtestsrv's DNS server binds both.
func freeTCPAndUDPPort(t testing.TB) int {
	t.Helper()
	for range 50 {
		port := testkit.FreePort(t)
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both TCP and UDP")
	return 0
}

// Orders counts the orders pebble created, from its own log: the CA's word,
// independent of any counter in the code under test.
func (p *Server) Orders() int {
	return strings.Count(p.out.String(), "Added order")
}

// Replacements counts the orders pebble accepted as replacing an earlier
// certificate (an order with ARI's "replaces"), from its own log.
func (p *Server) Replacements() int {
	return strings.Count(p.out.String(), "is a replacement of")
}

// Output is what pebble and challtestsrv wrote so far.
func (p *Server) Output() string { return p.out.String() }

// SetRenewalInfo makes pebble answer the renewal-information request for
// the certificate leafPEM (PEM, the leaf first) with the window
// [start, end] from now on (its management endpoint /set-renewal-info/).
func (p *Server) SetRenewalInfo(t testing.TB, leafPEM []byte, start, end time.Time) {
	t.Helper()
	block, _ := pem.Decode(leafPEM)
	if block == nil {
		t.Fatal("pebbletest: SetRenewalInfo: no PEM certificate")
	}
	window, _ := json.Marshal(map[string]any{"suggestedWindow": map[string]string{
		"start": start.UTC().Format(time.RFC3339), "end": end.UTC().Format(time.RFC3339)}})
	body, _ := json.Marshal(map[string]string{
		"Certificate": string(pem.EncodeToMemory(block)),
		"ARIResponse": string(window),
	})
	resp, err := p.HTTPClient.Post(p.mgmtURL+"/set-renewal-info/", "application/json", bytes.NewReader(body))
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("pebble set-renewal-info: %s: %s", resp.Status, msg)
	}
}

// SetTXT adds a TXT record value for host (a DNS name without the final
// dot) to challtestsrv's answers.
func (p *Server) SetTXT(t testing.TB, host, value string) {
	t.Helper()
	p.ctsPost(t, "/set-txt", map[string]any{"host": host + ".", "value": value})
}

// ClearTXT removes every TXT record of host.
func (p *Server) ClearTXT(t testing.TB, host string) {
	t.Helper()
	p.ctsPost(t, "/clear-txt", map[string]any{"host": host + "."})
}

func (p *Server) ctsPost(t testing.TB, path string, req map[string]any) {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := http.Post(p.ctsURL+path, "application/json", bytes.NewReader(body))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("challtestsrv %s: %s", path, resp.Status)
	}
}

// SetA makes host resolve to ip (instead of 127.0.0.1, or of the address
// an earlier SetA gave: challtestsrv's /add-a adds to a host's addresses,
// so they are cleared first).
func (p *Server) SetA(t testing.TB, host, ip string) {
	t.Helper()
	p.ctsPost(t, "/clear-a", map[string]any{"host": host + "."})
	p.ctsPost(t, "/add-a", map[string]any{"host": host + ".", "addresses": []string{ip}})
}

// Roots returns a pool with the root that signs pebble's certificates.
func (p *Server) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.HTTPClient.Get(p.mgmtURL + "/roots/0")
	must(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	must(t, err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("pebble root is not PEM: %q", data)
	}
	return pool
}

// selfSignedLoopback makes pebble's API key pair (localhost, 127.0.0.1) and
// a pool that trusts it.
func selfSignedLoopback(t testing.TB) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "pebble test API"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), pool
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
