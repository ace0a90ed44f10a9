package acme

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mholt/acmez/v3"
	acmeapi "github.com/mholt/acmez/v3/acme"
)

// GetCertificate is the tls.Config hook (TLSConfig sets it). For the
// server name of hello it returns:
//   - the TLS-ALPN-01 challenge certificate, when the hello offers only
//     "acme-tls/1" for a configured name with an order under way;
//   - a local-CA certificate for localhost, *.localhost, loopback
//     addresses and Config.LocalNames; without SNI, for the connection's
//     local address if that is a loopback or local address;
//   - the ACME certificate for a configured name;
//   - an error for anything else, which refuses the handshake: a client
//     never gets another site's certificate, and no order is placed for a
//     name outside the policy.
//
// It does not block when the certificate is in memory (the common case).
// For a configured name without a certificate yet it starts an order if one
// is due and waits for an order under way, at most HandshakeWait or until
// the hello's context ends.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := ""
	if hello.ServerName != "" {
		n, err := normalizeName(hello.ServerName)
		if err != nil {
			return nil, fmt.Errorf("acme: server name %q: %w", hello.ServerName, err)
		}
		name = n
	}
	if name == "" {
		return m.certWithoutSNI(hello)
	}
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == alpnProto {
		return m.challengeCert(name)
	}
	m.mu.Lock()
	ns := m.lookupLocked(name)
	m.mu.Unlock()
	if ns == nil && m.isLocal(name) {
		return m.local.certFor(name)
	}
	if ns == nil {
		return nil, fmt.Errorf("acme: %q is not a name this server has a certificate for", name)
	}
	if c := ns.cert.Load(); c != nil {
		return c, nil
	}
	return m.waitForCert(hello, ns)
}

// isLocal reports whether the local CA serves name: the built-in local
// names, Config.LocalNames, and any address the ACME CA cannot reach (one
// a reload added too).
func (m *Manager) isLocal(name string) bool {
	if isBuiltinLocal(name) || m.localNames[name] {
		return true
	}
	ip, err := netip.ParseAddr(name)
	return err == nil && !m.caReach.canReach(ip)
}

// certWithoutSNI serves clients that sent no server name (https://127.0.0.1
// or https://[::1]): a local certificate for the address they connected
// to, if it is a local one.
func (m *Manager) certWithoutSNI(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.Conn == nil {
		return nil, errors.New("acme: no server name and no connection to take an address from")
	}
	var ip netip.Addr
	switch a := hello.Conn.LocalAddr().(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap()
	if ip.IsValid() {
		m.mu.Lock()
		ns := m.names[ip.String()]
		m.mu.Unlock()
		if ns != nil { // an IP address certificate from the ACME CA
			if c := ns.cert.Load(); c != nil {
				return c, nil
			}
			return m.waitForCert(hello, ns)
		}
	}
	if !ip.IsValid() || !m.isLocal(ip.String()) {
		return nil, fmt.Errorf("acme: no server name (SNI) and %v is not a local address", hello.Conn.LocalAddr())
	}
	return m.local.certFor(ip.String())
}

// challengeCert returns the TLS-ALPN-01 certificate of the order under way
// for name (for an IP address, the CA sends its reverse-DNS name), this
// edge's or, in a cluster, another's.
func (m *Manager) challengeCert(name string) (*tls.Certificate, error) {
	if ip, ok := reverseNameIP(name); ok {
		name = ip.Unmap().String()
	}
	m.mu.Lock()
	if ns := m.names[name]; ns != nil && ns.attempt != nil && ns.attempt.alpnCert != nil {
		defer m.mu.Unlock()
		return ns.attempt.alpnCert, nil
	}
	m.mu.Unlock()
	if m.cluster != nil {
		// Another edge's order, whose validation reached this edge.
		if keyAuth, ok := m.cluster.LookupALPN(name); ok {
			return m.alpn.get(name+"\x00"+keyAuth, func() (*tls.Certificate, error) {
				return acmez.TLSALPN01ChallengeCert(acmeapi.Challenge{Identifier: identifierFor(name), KeyAuthorization: keyAuth})
			})
		}
	}
	return nil, fmt.Errorf("acme: no TLS-ALPN-01 challenge under way for %q", name)
}

// waitForCert waits for the order of ns (starting one if due).
func (m *Manager) waitForCert(hello *tls.ClientHelloInfo, ns *nameState) (*tls.Certificate, error) {
	m.mu.Lock()
	a := ns.attempt
	reason := "no order has been placed yet"
	if a == nil {
		var due bool
		if due, reason = m.dueLocked(ns, m.now(), true); due {
			if a = m.startLocked(ns, false); a == nil {
				reason = "the certificate manager is not running"
			}
		}
	}
	elsewhere := a == nil && m.now().Before(ns.heldUntil)
	m.mu.Unlock()
	if elsewhere {
		return m.waitForOtherEdge(hello, ns, reason)
	}
	if a == nil {
		return nil, fmt.Errorf("acme: no certificate for %q yet: %s", ns.name, reason)
	}
	ctx := hello.Context()
	if ctx == nil { // a hello not made by crypto/tls
		ctx = context.Background()
	}
	timer := time.NewTimer(m.cfg.HandshakeWait)
	defer timer.Stop()
	select {
	case <-a.done:
		if c := ns.cert.Load(); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("acme: no certificate for %q: %w", ns.name, a.err)
	case <-ctx.Done():
		return nil, fmt.Errorf("acme: no certificate for %q yet: %w", ns.name, ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("acme: no certificate for %q yet: the order is still under way", ns.name)
	}
}

// waitForOtherEdge waits, like waitForCert, for the certificate another
// edge of the cluster is ordering: it arrives through the cluster's
// notification.
func (m *Manager) waitForOtherEdge(hello *tls.ClientHelloInfo, ns *nameState, reason string) (*tls.Certificate, error) {
	ctx := hello.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	deadline := time.NewTimer(m.cfg.HandshakeWait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c := ns.cert.Load(); c != nil {
			return c, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("acme: no certificate for %q yet: %w", ns.name, ctx.Err())
		case <-deadline.C:
			return nil, fmt.Errorf("acme: no certificate for %q yet: %s", ns.name, reason)
		}
	}
}
