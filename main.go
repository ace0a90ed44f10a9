// Command frontdoor puts a Django site on the internet from one static
// binary: TLS with automatic certificates, static files, a reverse proxy
// with slow-client buffering, and supervision of gunicorn/uvicorn. See
// README.md and `frontdoor help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"frontdoor/appliance"
	"frontdoor/proxy"
	"frontdoor/systemd"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `frontdoor — one binary in front of a Django site

Usage:
  frontdoor run [--config FILE]          serve with a configuration file (default /etc/frontdoor/frontdoor.toml)
  frontdoor check [FILE | --config FILE] validate a configuration file (default /etc/frontdoor/frontdoor.toml);
                                         every error names the file, line and key, with a fix
  frontdoor version                      print the version
  frontdoor init DJANGO_DIR [--domain NAME]... [--name APP] [--config PATH] [--force] [--user NAME]
  frontdoor init --settings MODULE [--pythonpath DIR]... [--app MODULE:ATTR] [DIR] ...
                                         inspect a Django project, print its problems with their fixes, write its configuration:
                                         a new file, or the project's [[app]] and [[site]] added to the existing one (never
                                         a host another site serves; the diff is printed); exits 1 while an ERROR remains
  frontdoor manage [--config FILE] [NAME] COMMAND [ARGS]...
                                         run a Django management command (createsuperuser, shell, migrate...) with the
                                         app's Python, directory, environment (.env, [app] env, settings) and user;
                                         NAME is the app (may be left out when there is one, as for the commands below)
  frontdoor status [--json] [--cluster] [--admin SOCKET | --config FILE]
                                         the running daemon: edge, each app's processes, PostgreSQL, last deploy,
                                         certificates, events; --cluster: every edge of its [cluster] (heartbeat,
                                         version, certificates, last error)
  frontdoor cluster-key                  print a new key for [cluster] (put it in /etc/frontdoor/cluster.key on every edge)
  frontdoor deploy [NAME] [--admin SOCKET | --config FILE]
                                         release steps, then a new generation of the app; no request fails
  frontdoor restart [NAME] [--admin SOCKET | --config FILE]
                                         a new generation of the app without the release steps; no request fails
  frontdoor logs [NAME] [-f] [-n LINES] [--admin SOCKET | --config FILE]
                                         the app's output and its release steps' (from the journal under systemd)
  frontdoor maintenance on|off [NAME] [--message TEXT] [--retry-after DURATION] [--admin SOCKET | --config FILE]
                                         the app's routes answer a 503 maintenance page (static routes keep serving);
                                         kept across restarts until turned off
  frontdoor reload [--admin SOCKET | --config FILE]
                                         re-read the configuration (as SIGHUP) and wait for the result
  frontdoor certs [--json] [--renew NAME] [--dns-record *.DOMAIN] [--admin SOCKET | --config FILE]
                                         list the certificates (name, issuer, expiry, last attempt, error), or renew one now
  frontdoor trust [--admin SOCKET | --config FILE | --state FILE] [--dir DIR] [--root DIR]
                                         add the local CA's root (for https://localhost) to the system trust store, beside every other CA
  frontdoor file-server --listen ADDR --root DIR [--workers N] [--access-log PATH|-|off] [--inline-max BYTES] [--busy-poll DURATION]
                        [--dotfiles] [--tls-cert FILE --tls-key FILE | --tls local [--state FILE]] [--http2=false] [--h2c]
                                         serve a directory without a configuration file
  frontdoor reverse-proxy --listen ADDR --to UPSTREAM [--to UPSTREAM]... [--static PREFIX=DIR]... [--workers N] [--access-log PATH|-|off] [--busy-poll DURATION]
                        [--dotfiles] [--tls-cert FILE --tls-key FILE | --tls local [--state FILE]] [--http2=false] [--h2c]
                                         proxy to an application (unix:/path or host:port) without a configuration file
  frontdoor help                         this text

Signals to "run": SIGTERM/SIGINT stop gracefully, SIGHUP reloads the configuration.
`

func main() {
	os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
}

func runCLI(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(rest, stderr)
	case "check":
		err = cmdCheck(rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "frontdoor %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	case "file-server":
		err = cmdFileServer(rest, stderr)
	case "reverse-proxy":
		err = cmdReverseProxy(rest, stderr)
	case "certs":
		err = cmdCerts(rest, stdout, stderr)
	case "trust":
		err = cmdTrust(rest, stdout, stderr)
	case "init":
		err = cmdInit(rest, stdout, stderr)
	case "manage":
		return cmdManage(rest, stderr)
	case "status":
		err = cmdStatus(rest, stdout, stderr)
	case "cluster-key":
		err = cmdClusterKey(rest, stdout, stderr)
	case "deploy":
		err = cmdDeploy(rest, stdout, stderr, false)
	case "restart":
		err = cmdDeploy(rest, stdout, stderr, true)
	case "reload":
		err = cmdReload(rest, stdout, stderr)
	case "logs":
		err = cmdLogs(rest, stdout, stderr)
	case "maintenance":
		err = cmdMaintenance(rest, stdout, stderr)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "frontdoor: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "frontdoor %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func newLogger(stderr io.Writer) *slog.Logger {
	return slog.New(systemd.NewLogHandler(stderr, systemd.LogOptions{}))
}

func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("frontdoor "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func cmdRun(args []string, stderr io.Writer) error {
	fs := flags("run", stderr)
	config := fs.String("config", appliance.DefaultConfigPath, "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return appliance.Run(context.Background(), appliance.Options{ConfigPath: *config, Logger: newLogger(stderr), Version: version})
}

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := flags("check", stderr)
	config := fs.String("config", appliance.DefaultConfigPath, "configuration file")
	// FILE may come before or after the flags.
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch rest := fs.Args(); {
	case len(rest) > 1 || (len(rest) == 1 && file != ""):
		return fmt.Errorf("check one file: frontdoor check [FILE | --config FILE] (got %q)", append([]string{file}, rest...))
	case len(rest) == 1:
		file = rest[0]
	}
	if file != "" {
		configSet := false
		fs.Visit(func(f *flag.Flag) { configSet = configSet || f.Name == "config" })
		if configSet && *config != file {
			return fmt.Errorf("two files named: %s and --config %s; check one", file, *config)
		}
		*config = file
	}
	cfg, err := appliance.LoadConfig(*config)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%s)\n", *config, cfg.Summary())
	return nil
}

func cmdFileServer(args []string, stderr io.Writer) error {
	fs := flags("file-server", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "listen address (host:port)")
	root := fs.String("root", ".", "directory to serve")
	workers := fs.Int("workers", 0, "event-loop workers (default: CPU cores)")
	accessLog := fs.String("access-log", "off", `access log: a file path, "-" for standard output, or "off"`)
	inlineMax := fs.Int64("inline-max", 0, "files up to this size are sent from memory (default 16384; -1: always sendfile)")
	dotfiles := dotfilesFlag(fs)
	busyPoll := busyPollFlag(fs)
	tlsOpts := tlsFlags(fs)
	h2 := http2Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	q, err := tlsOpts()
	if err != nil {
		return err
	}
	return appliance.FileServer(context.Background(), appliance.FileServerOptions{
		Listen: *listen, TLS: q, Root: *root, Workers: *workers, AccessLog: *accessLog, InlineMax: *inlineMax, BusyPoll: busyPoll(),
		Dotfiles: *dotfiles, HTTP2: h2(), Logger: newLogger(stderr),
	})
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func cmdReverseProxy(args []string, stderr io.Writer) error {
	fs := flags("reverse-proxy", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "listen address (host:port)")
	var to, static multiFlag
	fs.Var(&to, "to", "upstream: unix:/path/to.sock or host:port (repeatable)")
	fs.Var(&static, "static", "PREFIX=DIR: serve DIR at URL prefix PREFIX (repeatable)")
	workers := fs.Int("workers", 0, "event-loop workers (default: CPU cores)")
	accessLog := fs.String("access-log", "off", `access log: a file path, "-" for standard output, or "off"`)
	dotfiles := dotfilesFlag(fs)
	busyPoll := busyPollFlag(fs)
	tlsOpts := tlsFlags(fs)
	h2 := http2Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	q, err := tlsOpts()
	if err != nil {
		return err
	}
	statics := map[string]string{}
	for _, s := range static {
		prefix, dir, ok := strings.Cut(s, "=")
		if !ok || !strings.HasPrefix(prefix, "/") {
			return fmt.Errorf("--static %q: want PREFIX=DIR, with PREFIX starting with /", s)
		}
		statics[prefix] = dir
	}
	return appliance.ReverseProxy(context.Background(), appliance.ReverseProxyOptions{
		Listen: *listen, TLS: q, To: to, Static: statics, Workers: *workers, AccessLog: *accessLog, BusyPoll: busyPoll(),
		Dotfiles: *dotfiles, HTTP2: h2(), Logger: newLogger(stderr),
	})
}

// dotfilesFlag adds --dotfiles to fs: serve names with a segment starting
// with "." (.env, .git/…), which get 404 by default.
func dotfilesFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("dotfiles", false, `serve names with a path segment starting with "." (.env, .git/…); by default they get 404, except /.well-known/`)
}

// http2Flags adds --http2 and --h2c to fs; the returned function gives
// their values after parsing.
func http2Flags(fs *flag.FlagSet) func() appliance.QuickHTTP2 {
	on := fs.Bool("http2", true, "with TLS, offer HTTP/2 (ALPN h2); --http2=false serves HTTP/1.1 only")
	h2c := fs.Bool("h2c", false, "without TLS, accept HTTP/2 with prior knowledge (h2c) besides HTTP/1.1")
	return func() appliance.QuickHTTP2 { return appliance.QuickHTTP2{Off: !*on, H2C: *h2c} }
}

// busyPollFlag adds --busy-poll to fs; the returned function gives the
// engine's value after parsing (0 on the command line turns polling off).
func busyPollFlag(fs *flag.FlagSet) func() time.Duration {
	d := fs.Duration("busy-poll", proxy.DefaultBusyPoll, "longest a worker polls for events before it sleeps; adaptive; 0 turns it off")
	return func() time.Duration {
		if *d <= 0 {
			return -1
		}
		return *d
	}
}

// tlsFlags adds the quick modes' TLS flags to fs; the returned function
// checks and returns them after parsing.
func tlsFlags(fs *flag.FlagSet) func() (appliance.QuickTLS, error) {
	cert := fs.String("tls-cert", "", "serve HTTPS with this PEM certificate (chain) file")
	key := fs.String("tls-key", "", "and this PEM private key file")
	mode := fs.String("tls", "", `"local": serve HTTPS with a certificate from the local CA`)
	statePath := fs.String("state", "", "with --tls local: the state file holding the local CA (default ~/.local/state/frontdoor/quick.db)")
	return func() (appliance.QuickTLS, error) {
		q := appliance.QuickTLS{CertFile: *cert, KeyFile: *key, StatePath: *statePath}
		switch *mode {
		case "":
		case "local":
			if *cert != "" || *key != "" {
				return q, fmt.Errorf("--tls local and --tls-cert/--tls-key exclude each other")
			}
			q.Local = true
		default:
			return q, fmt.Errorf("--tls %q: the only mode is \"local\" (or give --tls-cert and --tls-key)", *mode)
		}
		if (*cert == "") != (*key == "") {
			return q, fmt.Errorf("--tls-cert and --tls-key go together")
		}
		return q, nil
	}
}
