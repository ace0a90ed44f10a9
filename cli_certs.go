package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"frontdoor/acme"
	"frontdoor/state"
)

// cmdCerts lists the certificates (or renews one) through the admin socket.
func cmdCerts(args []string, stdout, stderr io.Writer) error {
	fs := flags("certs", stderr)
	af := addAdminFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	renew := fs.String("renew", "", "order a new certificate for this name now (the old one serves until it is in place)")
	dnsRecord := fs.String("dns-record", "", "print the DNS TXT record (dns-persist-01) to create for this wildcard name, *.example.com")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	client := af.client()
	if *dnsRecord != "" {
		rec, err := client.DNSRecord(ctx, *dnsRecord)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Create this DNS record once; it lets the CA issue %s to this server's ACME account for as long as it stays:\n\n  %s\n", *dnsRecord, rec)
		return nil
	}
	if *renew != "" {
		res, err := client.Renew(ctx, *renew)
		if err != nil {
			return err
		}
		if !res.OK {
			return fmt.Errorf("renewing %s: %s", res.Name, res.Error)
		}
		fmt.Fprintf(stdout, "%s: renewed\n", res.Name)
		return nil
	}
	certs, err := client.Certs(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(certs)
	}
	printCerts(stdout, certs)
	return nil
}

func printCerts(w io.Writer, certs []acme.CertStatus) {
	if len(certs) == 0 {
		fmt.Fprintln(w, "no certificates (no site host names, or no HTTPS listener)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tSTATE\tISSUER\tEXPIRES\tRENEWS\tWINDOW\tPROFILE\tLAST ATTEMPT\tERROR")
	for _, c := range certs {
		renews := "-"
		if !c.RenewAt.IsZero() {
			renews = when(c.RenewAt) + " (" + c.RenewSource + ")"
		}
		window := "-"
		if !c.WindowStart.IsZero() {
			window = when(c.WindowStart) + " .. " + when(c.WindowEnd)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Source, c.State, dash(c.Issuer),
			when(c.NotAfter), renews, window, dash(c.Profile), when(c.LastAttempt), dash(certProblem(c)))
	}
	tw.Flush()
}

// certProblem is what keeps a name from its certificate, in one line: the
// last failure (and when it is tried again), or the resolve check's
// verdict when that is what holds the order back.
func certProblem(c acme.CertStatus) string {
	var p string
	switch {
	case c.LastError != "":
		p = c.LastError
		if c.NextAttempt.After(time.Now()) {
			p += " (next attempt " + when(c.NextAttempt) + ")"
		}
	case !c.ResolveOK && c.Resolve != "":
		p = c.Resolve
	}
	return strings.Join(strings.Fields(p), " ") // one line, whatever the CA sent
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cmdTrust installs the local CA's root into the system's trust store,
// so browsers and tools on this machine accept https://localhost. It adds
// the root beside every CA already trusted; it never makes a CA (a state
// without one is an error).
func cmdTrust(args []string, stdout, stderr io.Writer) error {
	fs := flags("trust", stderr)
	af := addAdminFlags(fs)
	statePath := fs.String("state", "", "read the root from this state file (a quick mode's --tls local, a stopped daemon's state) instead of asking the daemon")
	dir := fs.String("dir", acme.DefaultTrustDir, "where the root goes: "+acme.DefaultTrustDir+" or a directory beneath it (update-ca-certificates reads no other)")
	root := fs.String("root", "/", "the system tree whose trust store gets the root (an image being built); default the running system")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	var rootPEM []byte
	var err error
	if *statePath != "" {
		rootPEM, err = storedLocalRoot(*statePath)
	} else {
		rootPEM, err = af.client().TrustRoot(ctx)
	}
	if err != nil {
		return err
	}
	path, err := acme.InstallTrust(ctx, rootPEM, acme.TrustStore{Root: *root, Dir: *dir})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "installed the frontdoor local CA root as %s and added it to the system trust store (every other CA stays)\n", path)
	fmt.Fprintln(stdout, "(browsers with their own store, such as Firefox, need it imported by hand)")
	return nil
}

// storedLocalRoot reads the local CA's root from a state file that must
// exist and hold one: trust never creates a state or a CA (it would
// install a root nothing serves with).
func storedLocalRoot(path string) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("--state %s: %w; nothing installed (the local CA is made by `frontdoor run` or a quick mode with --tls local, in its state file)", path, err)
	}
	db, err := state.Open(abs, state.Options{})
	if err != nil {
		return nil, fmt.Errorf("--state %s: %w", path, err)
	}
	defer db.Close()
	root, err := acme.StoredRoot(db)
	if errors.Is(err, acme.ErrNoLocalCA) {
		return nil, fmt.Errorf("--state %s holds no local CA; nothing installed (frontdoor makes one when it first serves a localhost name or an IP address)", path)
	}
	return root, err
}
