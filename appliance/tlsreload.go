package appliance

import (
	"bytes"
	"fmt"
	"os"
	"reflect"

	"frontdoor/acme"
)

// certsChange is what a reload does to the certificate manager: nothing
// but new names (SetNames, which keeps orders under way), or a new manager
// for changed settings (directory_url, directory_ca, resolver, email,
// renew_before, skip_resolve_check, local_names), which the manager takes
// only when it is built. The new manager reads the same state (account,
// certificates, local CA, session-ticket keys), so nothing is ordered
// again that is cached, and resumed sessions keep working.
type certsChange struct {
	names []string
	next  *acme.Manager // nil: the same manager, with names
	tls   listenerTLS   // next's live configs
	ca    []byte        // the directory_ca next was built with
}

// prepareCerts works out the change for cfg without touching what serves:
// a new manager is built (no network I/O) but not started. There is no
// manager without a TLS listener, and then [tls] has nothing to apply.
func (a *Appliance) prepareCerts(cfg *Config) (*certsChange, error) {
	if a.certManager() == nil {
		return nil, nil
	}
	ch := &certsChange{names: cfg.acmeNames()}
	same, err := sameManagerSettings(a.cfg, cfg, a.certsCA)
	if err != nil {
		return nil, err
	}
	if same {
		return ch, nil
	}
	if ch.next, err = a.newCertManager(cfg, max(a.httpPort, 80)); err != nil {
		return nil, err
	}
	ch.tls = servedTLS(ch.next)
	ch.ca, _ = readDirectoryCA(cfg) // newCertManager has just read it
	return ch, nil
}

// sameManagerSettings reports whether old and cur configure the manager
// alike, names aside; the file directory_ca names is compared by content
// (oldCA: as it was read for the running manager), so a renewed private CA
// under the same name is a change.
func sameManagerSettings(old, cur *Config, oldCA []byte) (bool, error) {
	strip := func(t TLSSettings) TLSSettings {
		// names: SetNames; handshake: the engine's; alert_command: the
		// appliance's (alerts.go).
		t.Names, t.ACME, t.HandshakeTimeout, t.AlertCommand = nil, nil, Duration{}, nil
		return t
	}
	if !reflect.DeepEqual(strip(old.TLS), strip(cur.TLS)) {
		return false, nil
	}
	ca, err := readDirectoryCA(cur)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ca, oldCA), nil
}

// readDirectoryCA reads the file [tls] directory_ca names (nil for none).
func readDirectoryCA(cfg *Config) ([]byte, error) {
	if cfg.TLS.DirectoryCA == "" {
		return nil, nil
	}
	data, err := os.ReadFile(cfg.TLS.DirectoryCA)
	if err != nil {
		return nil, fmt.Errorf("tls.directory_ca: %w", err)
	}
	return data, nil
}

// abandon drops a prepared manager that will not serve.
func (ch *certsChange) abandon() {
	if ch != nil && ch.next != nil {
		ch.next.Close()
	}
}
