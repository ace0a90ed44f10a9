package acme

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// verdict is the outcome of the resolve check of a name.
type verdict struct {
	ok     bool
	reason string    // a sentence for logs and status
	at     time.Time // when it was checked
	next   time.Time // when a failed check may run again
}

// reach says which addresses a party can connect to.
type reach int

const (
	reachPublic   reach = iota // the Internet: public addresses only
	reachPrivate               // a private network: private and public addresses
	reachLoopback              // this machine: anything
)

// reachOf guesses where the CA connects from by the host of its directory
// URL: pebble on 127.0.0.1 reaches loopback, a CA on a private address
// reaches private ones, Let's Encrypt reaches only public addresses.
func reachOf(host string) reach {
	if host == "localhost" {
		return reachLoopback
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return reachPublic
	case ip.IsLoopback():
		return reachLoopback
	case ip.IsPrivate() || ip.IsLinkLocalUnicast():
		return reachPrivate
	}
	return reachPublic
}

func (r reach) canReach(ip netip.Addr) bool {
	switch {
	case ip.IsLoopback():
		return r == reachLoopback
	case ip.IsPrivate() || ip.IsLinkLocalUnicast():
		return r >= reachPrivate
	case ip.IsUnspecified() || ip.IsMulticast():
		return false
	}
	return true
}

// resolveGate runs the resolve check for ns before an order and records
// the verdict; it returns an error (and no order is placed) when the name
// does not lead to this machine.
func (m *Manager) resolveGate(ns *nameState) error {
	ctx, cancel := context.WithTimeout(m.lifetime, m.cfg.ProbeTimeout+10*time.Second)
	defer cancel()
	v := m.checkResolves(ctx, ns.name)
	v.at = m.now()
	if m.lifetime.Err() != nil {
		return ErrNotRunning
	}
	m.mu.Lock()
	was := ns.resolve
	if v.ok {
		ns.resolveFailures = 0
	} else {
		ns.resolveFailures++
		v.next = v.at.Add(resolveRetryAfter(ns.resolveFailures))
	}
	ns.resolve = v
	m.mu.Unlock()
	if v.ok {
		if !was.ok {
			m.log.Info("name resolves to this machine", "name", ns.name, "check", v.reason)
		}
		return nil
	}
	m.log.Warn("not asking the CA: the name does not lead to this machine", "name", ns.name, "reason", v.reason, "next_check", v.next)
	if was.reason != v.reason {
		m.event("unreachable", ns.name, v.reason)
	}
	return fmt.Errorf("acme: no order for %s: %s", ns.name, v.reason)
}

// checkResolves decides whether the CA, connecting to name, would reach
// this machine. Every address the name resolves to must: the CA may pick
// any of them (Let's Encrypt prefers IPv6). An address is fine when it is
// on one of this machine's interfaces and the CA can reach such an address;
// otherwise (NAT: the public address is not on any interface) an HTTP
// self-probe to name through that address must come back to this manager
// or, in a cluster, to any of its edges (the probe's answer is published
// to all of them).
//
// An IP address name skips DNS: the address itself is checked the same
// way.
func (m *Manager) checkResolves(ctx context.Context, name string) verdict {
	var ipAddrs []net.IPAddr
	if ip := net.ParseIP(name); ip != nil {
		ipAddrs = []net.IPAddr{{IP: ip}}
	} else {
		var err error
		if ipAddrs, err = m.cfg.Resolver.LookupIPAddr(ctx, name); err != nil {
			return verdict{reason: fmt.Sprintf("%s does not resolve: %v", name, err)}
		}
	}
	if len(ipAddrs) == 0 {
		return verdict{reason: fmt.Sprintf("%s resolves to no address", name)}
	}
	local, err := m.localAddrs()
	if err != nil {
		return verdict{reason: fmt.Sprintf("listing this machine's addresses: %v", err)}
	}
	var good []string
	for _, ia := range ipAddrs {
		ip, ok := netip.AddrFromSlice(ia.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !m.caReach.canReach(ip) {
			return verdict{reason: fmt.Sprintf("%s resolves to %s, an address the CA at %s cannot reach", name, ip, m.cfg.DirectoryURL)}
		}
		if containsAddr(local, ip) {
			good = append(good, ip.String()+" (on this machine)")
			continue
		}
		if err := m.probe(ctx, name, ip); err != nil {
			return verdict{reason: fmt.Sprintf("%s resolves to %s, which is not an address of this machine, and a request to it did not come back here: %v", name, ip, err)}
		}
		good = append(good, ip.String()+" (reached this machine through it)")
	}
	if net.ParseIP(name) != nil {
		return verdict{ok: true, reason: fmt.Sprintf("%s: %s", name, strings.Join(good, ", "))}
	}
	return verdict{ok: true, reason: fmt.Sprintf("%s resolves to %s", name, strings.Join(good, ", "))}
}

func containsAddr(list []netip.Addr, ip netip.Addr) bool {
	for _, a := range list {
		if a == ip {
			return true
		}
	}
	return false
}

// probe asks http://name:HTTPPort/.well-known/acme-challenge/TOKEN through
// address ip for a random token that only this manager's HTTPChallenge
// knows, the way the CA would. nil means the request came back here.
func (m *Manager) probe(ctx context.Context, name string, ip netip.Addr) error {
	token, want := randomHex(16), []byte(randomHex(32))
	m.mu.Lock()
	m.probes[token] = want
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.probes, token)
		m.mu.Unlock()
	}()
	if m.cluster != nil {
		// The address may lead to another edge of the cluster: that is
		// as good as this one, if it can answer.
		if err := m.cluster.PresentChallenge(ctx, name, "probe", token, string(want)); err != nil {
			m.log.Debug("publishing the self-probe to the cluster", "name", name, "err", err)
		} else {
			defer m.cluster.WithdrawChallenge(name, token)
		}
	}

	port := strconv.Itoa(m.cfg.HTTPPort)
	target := net.JoinHostPort(ip.String(), port)
	dialer := &net.Dialer{Timeout: m.cfg.ProbeTimeout}
	client := &http.Client{
		Timeout: m.cfg.ProbeTimeout,
		Transport: &http.Transport{
			Proxy:             nil, // the CA does not use our proxy either
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, target)
			},
		},
		// The CA follows redirects, but one that leaves this machine
		// proves nothing: judge the first answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	url := "http://" + net.JoinHostPort(name, port) + challengePrefix + token
	if m.cfg.HTTPPort == 80 {
		url = "http://" + name + challengePrefix + token
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(got) != string(want) {
		return errors.New("another server answered (" + resp.Status + ")")
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
