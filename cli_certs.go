package main

import (
	"encoding/json"
	"fmt"
	"io"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	client := af.client()
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
	fmt.Fprintln(tw, "NAME\tSOURCE\tSTATE\tISSUER\tEXPIRES\tLAST ATTEMPT\tERROR")
	for _, c := range certs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Source, c.State, dash(c.Issuer),
			when(c.NotAfter), when(c.LastAttempt), dash(certProblem(c)))
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
// so browsers and tools on this machine accept https://localhost.
func cmdTrust(args []string, stdout, stderr io.Writer) error {
	fs := flags("trust", stderr)
	af := addAdminFlags(fs)
	statePath := fs.String("state", "", "read the root from this state file (a quick mode's --tls local) instead of asking the daemon")
	dir := fs.String("dir", "", "certificate directory (default /usr/local/share/ca-certificates)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	var root []byte
	if *statePath != "" {
		db, err := state.Open(*statePath, state.Options{})
		if err != nil {
			return err
		}
		m, err := acme.New(acme.Config{Store: db})
		if err != nil {
			db.Close()
			return err
		}
		root = m.RootPEM()
		m.Close()
		db.Close()
	} else {
		var err error
		if root, err = af.client().TrustRoot(ctx); err != nil {
			return err
		}
	}
	path, err := acme.InstallTrust(ctx, root, *dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "installed the frontdoor local CA root in %s and updated the system trust store\n", path)
	fmt.Fprintln(stdout, "(browsers with their own store, such as Firefox, need it imported by hand)")
	return nil
}
