package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"frontdoor/supervisor"
)

// InitOptions are the settings of `frontdoor init`.
type InitOptions struct {
	// ProjectDir is the Django project (the directory with manage.py).
	ProjectDir string
	// Domains are the site's names; default: the concrete names of
	// ALLOWED_HOSTS.
	Domains []string
	// ConfigPath is the file to write (default DefaultConfigPath).
	ConfigPath string
	// Force replaces an existing file (kept as ConfigPath + ".bak").
	Force bool
	// Out receives the report: what was found, each problem with its fix,
	// what was written.
	Out io.Writer
}

// InitResult is what Init found and wrote.
type InitResult struct {
	Project    *supervisor.Project
	ConfigPath string
	Domains    []string
	Created    []string // directories Init created (STATIC_ROOT, MEDIA_ROOT)
	// DropIn is the systemd drop-in Init wrote for the service ("" none).
	DropIn string
}

// serviceUser is the user the packaged service runs as (packaging/systemd).
const serviceUser = "frontdoor"

// protectedDir and protectedURL are the convention for protected
// downloads: the view answers with X-Accel-Redirect: /_protected/NAME and
// the edge sends <project>/protected/NAME.
const (
	protectedDir = "protected"
	protectedURL = "/_protected/"
)

// Init inspects the Django project with its own interpreter and settings,
// prints what it found and every problem with its fix, creates STATIC_ROOT
// and MEDIA_ROOT when missing (the edge serves them from the start;
// collectstatic fills the first at every deploy), and writes a commented
// frontdoor.toml with the site and the [app]. It refuses to replace an
// existing file unless opts.Force. It blocks while the inspection runs (a
// second or two).
func Init(ctx context.Context, opts InitOptions) (*InitResult, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	if opts.ConfigPath == "" {
		opts.ConfigPath = DefaultConfigPath
	}
	dir, err := filepath.Abs(opts.ProjectDir)
	if err != nil {
		return nil, err
	}
	cfgPath, err := filepath.Abs(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfgPath); err == nil && !opts.Force && !unconfigured(cfgPath) {
		return nil, fmt.Errorf("%s exists; pass --force to replace it (the old file is kept as %s.bak)", cfgPath, cfgPath)
	}
	p, err := supervisor.Inspect(ctx, dir, supervisor.InspectOptions{ImportApp: true})
	if err != nil {
		return nil, err
	}
	res := &InitResult{Project: p, ConfigPath: cfgPath}
	writeFindings(out, p)
	writeProblems(out, p)

	domains := opts.Domains
	if len(domains) == 0 {
		domains = p.Domains()
	}
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if d == "" || strings.ContainsAny(d, " /:") {
			fmt.Fprintf(out, "note: %q is left out of the site's hosts (a site host is a name or an IPv4 address)\n", d)
			continue
		}
		res.Domains = append(res.Domains, d)
	}
	for _, d := range []struct{ what, path string }{{"STATIC_ROOT", p.StaticRoot}, {"MEDIA_ROOT", p.MediaRoot}} {
		if d.path == "" || !filepath.IsAbs(d.path) {
			continue
		}
		created, err := ensureDir(d.path, dir)
		if err != nil {
			return nil, fmt.Errorf("create %s %s: %w", d.what, d.path, err)
		}
		if created {
			res.Created = append(res.Created, d.path)
			fmt.Fprintf(out, "created %s (%s)\n", d.path, d.what)
		}
	}

	text := initConfigText(p, res.Domains, time.Now())
	if _, err := ParseConfig(cfgPath, []byte(text)); err != nil {
		fmt.Fprintf(out, "\nthe written configuration does not pass `frontdoor check` yet:\n%v\n", err)
	}
	if err := writeConfigFile(cfgPath, text); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "\nwrote %s\n", cfgPath)
	if len(res.Domains) > 0 {
		fmt.Fprintf(out, "  site: %s\n", strings.Join(res.Domains, ", "))
	} else {
		fmt.Fprintf(out, "  site: every host name (no concrete name in ALLOWED_HOSTS; pass --domain NAME)\n")
		writeIPCertHint(out, interfaceAddrs())
	}
	fmt.Fprintf(out, "\nnext:\n  frontdoor check --config %s\n  systemctl restart frontdoor    (or by hand: frontdoor run --config %s)\n", cfgPath, cfgPath)
	if _, err := user.Lookup(serviceUser); err == nil {
		var writable []string
		for _, d := range []string{p.StaticRoot, p.MediaRoot} {
			if d != "" {
				writable = append(writable, d)
			}
		}
		for _, db := range p.Databases {
			if strings.Contains(db.Engine, "sqlite") && filepath.IsAbs(db.Name) {
				writable = append(writable, filepath.Dir(db.Name))
			}
		}
		if len(writable) > 0 {
			if dropIn, err := grantWritable(cfgPath, writable); err != nil {
				fmt.Fprintf(out, "\ncould not give the service write access by itself (%v)\n", err)
			} else if dropIn != "" {
				res.DropIn = dropIn
				fmt.Fprintf(out, "\nthe service runs the app as user %s under ProtectSystem=strict: wrote %s\n  ReadWritePaths=%s\n  (the directories now belong to group %s, group-writable)\nrestart the service to apply it: systemctl restart frontdoor\n",
					serviceUser, dropIn, strings.Join(writable, " "), serviceUser)
				return res, nil
			}
			fmt.Fprintf(out, "\nthe service runs the app as user %s under ProtectSystem=strict: give it write access to\n  %s\n(chgrp -R %s and chmod g+w, plus `systemctl edit frontdoor`: ReadWritePaths=%s)\n",
				serviceUser, strings.Join(writable, "\n  "), serviceUser, strings.Join(writable, " "))
		}
	}
	return res, nil
}

// serviceDropInDir is where systemd reads frontdoor.service's drop-ins.
const serviceDropInDir = "/etc/systemd/system/frontdoor.service.d"

// grantWritable lets the packaged service write to the project's writable
// directories: a drop-in with ReadWritePaths= (ProtectSystem=strict makes
// everything else read-only) and group ownership by the service's group.
// It does this only for the service's own configuration file, as root, on
// a machine run by systemd; otherwise it returns "" and the caller prints
// the instructions.
func grantWritable(cfgPath string, dirs []string) (string, error) {
	if cfgPath != DefaultConfigPath || os.Geteuid() != 0 {
		return "", nil
	}
	if st, err := os.Stat("/run/systemd/system"); err != nil || !st.IsDir() {
		return "", nil
	}
	grp, err := user.LookupGroup(serviceUser)
	if err != nil {
		return "", nil
	}
	gid, _ := strconv.Atoi(grp.Gid)
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
		err := filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			if err := os.Lchown(path, -1, gid); err != nil {
				return err
			}
			if e.Type()&fs.ModeSymlink != 0 {
				return nil
			}
			return os.Chmod(path, info.Mode().Perm()|0o060)
		})
		if err != nil {
			return "", fmt.Errorf("give group %s %s: %w", serviceUser, d, err)
		}
	}
	text := "# Written by `frontdoor init`: the Django project's writable directories\n" +
		"# (the service runs under ProtectSystem=strict). Edit freely; init rewrites it.\n" +
		"[Service]\nReadWritePaths=" + strings.Join(dirs, " ") + "\n"
	if err := os.MkdirAll(serviceDropInDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(serviceDropInDir, "50-django-project.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return "", err
	}
	exec.Command("systemctl", "daemon-reload").Run()
	return path, nil
}

// writeFindings prints the facts the configuration is built from.
func writeFindings(out io.Writer, p *supervisor.Project) {
	fmt.Fprintf(out, "inspected %s\n", p.Dir)
	row := func(k, v string) { fmt.Fprintf(out, "  %-10s %s\n", k, v) }
	row("python", fmt.Sprintf("%s (%s), Python %s, Django %s", p.Python, p.PythonSource, p.PythonVersion, orNone(p.DjangoVersion)))
	row("settings", orNone(p.SettingsModule))
	server := p.Server()
	row("server", fmt.Sprintf("%s %s", server, orNone(p.AppFor(server))))
	static := "not set"
	if p.StaticURL != "" {
		static = fmt.Sprintf("%s → %s", p.StaticURL, orNone(p.StaticRoot))
		if p.StaticfilesStorage != "" {
			static += " (" + p.StaticfilesStorage[strings.LastIndexByte(p.StaticfilesStorage, '.')+1:] + ")"
		}
	}
	row("static", static)
	media := "not set"
	if p.MediaURL != "" {
		media = fmt.Sprintf("%s → %s", p.MediaURL, orNone(p.MediaRoot))
	}
	row("media", media)
	row("hosts", orNone(strings.Join(p.AllowedHosts, ", ")))
	var dbs []string
	for _, d := range p.Databases {
		dbs = append(dbs, d.String())
	}
	row("databases", orNone(strings.Join(dbs, "; ")))
	debug := "off"
	if p.Debug {
		debug = "ON"
	}
	row("debug", debug)
}

// writeProblems prints each problem with its fix and where the fix goes.
func writeProblems(out io.Writer, p *supervisor.Project) {
	if len(p.Problems) == 0 {
		fmt.Fprintf(out, "\nno problem found\n\n")
		return
	}
	where := settingsFile(p)
	fmt.Fprintf(out, "\n%d problems to fix before going live:\n", len(p.Problems))
	for _, prob := range p.Problems {
		fmt.Fprintf(out, "  %-7s %s\n", strings.ToUpper(string(prob.Severity)), prob.Message)
		fix := prob.Fix
		if where != "" && strings.Contains(fix, " = ") && !strings.HasPrefix(fix, "`") {
			fmt.Fprintf(out, "          fix, in %s:  %s\n", where, fix)
		} else {
			fmt.Fprintf(out, "          fix: %s\n", fix)
		}
	}
	fmt.Fprintln(out)
}

// settingsFile is the settings module's file, relative to the project.
func settingsFile(p *supervisor.Project) string {
	if p.SettingsModule == "" {
		return ""
	}
	rel := filepath.FromSlash(strings.ReplaceAll(p.SettingsModule, ".", "/"))
	for _, cand := range []string{rel + ".py", filepath.Join(rel, "__init__.py")} {
		if _, err := os.Stat(filepath.Join(p.Dir, cand)); err == nil {
			return cand
		}
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// ensureDir creates path if missing, owned like the project directory (so
// that collectstatic, run as the project's user, can write to it).
func ensureDir(path, projectDir string) (bool, error) {
	if st, err := os.Stat(path); err == nil {
		if !st.IsDir() {
			return false, fmt.Errorf("not a directory")
		}
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return false, err
	}
	if st, err := os.Stat(projectDir); err == nil && os.Geteuid() == 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			_ = os.Chown(path, int(sys.Uid), int(sys.Gid))
		}
	}
	return true, nil
}

// writeConfigFile writes the file atomically; an existing one is kept as
// path.bak.
func writeConfigFile(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Reaching here with a file in place means --force, or the file was
	// the package's placeholder: either way the old one is kept.
	if _, err := os.Stat(path); err == nil {
		if err := os.Rename(path, path+".bak"); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("keep the old %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// initConfigText is the configuration for the project: commented, with
// the defaults it relies on written out as comments.
func initConfigText(p *supervisor.Project, domains []string, now time.Time) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	server := p.Server()
	w("# frontdoor configuration for the Django project in %s,\n", p.Dir)
	w("# written by `frontdoor init` on %s. Every key is documented, with its\n", now.Format("2006-01-02"))
	w("# default, in /usr/share/doc/frontdoor/config.md. Check it with\n")
	w("# `frontdoor check`; apply it with `systemctl reload frontdoor`.\n\n")

	w("# [server]\n")
	w("# Under systemd the listening sockets come from frontdoor-http.socket (port 80)\n")
	w("# and frontdoor-https.socket (443). Run by hand, frontdoor listens on\n")
	w("# http = [\":80\"] and https = [\":443\"]; state and sockets default to\n")
	w("# state = \"/var/lib/frontdoor/state.db\" and runtime_dir = \"/run/frontdoor\".\n\n")

	w("[app]\n")
	w("# The project (manage.py is here). frontdoor runs the release steps (wait for\n")
	w("# PostgreSQL, migrate, collectstatic) before the first start and every deploy,\n")
	w("# then %s, and restarts what crashes.\n", serverSentence(server, p.AppFor(server)))
	w("dir = %s\n", tomlString(p.Dir))
	w("# Found: %s.\n", p.PythonSource)
	w("python = %s\n", tomlString(p.Python))
	w("# server = %s           # default: from the settings (ASGI_APPLICATION means uvicorn)\n", tomlString(string(server)))
	if app := p.AppFor(server); app != "" {
		w("# module = %s  # default: WSGI_APPLICATION / ASGI_APPLICATION\n", tomlString(app))
	}
	w("# workers = %d                   # default 2 × cores + 1\n", 2*runtime.NumCPU()+1)
	w("# env_file = %s  # default: the project's .env when it exists\n", tomlString(filepath.Join(p.Dir, ".env")))
	w("# migrate = true\n# collectstatic = true\n")
	if len(p.Postgres()) > 0 {
		w("# The settings use PostgreSQL: frontdoor waits for it before migrate and checks it\n")
		w("# with SELECT 1, with the app's own DATABASES settings.\n")
		w("# postgres_interval = \"10s\"\n")
	}
	w("# stop_timeout = \"30s\"          # graceful stop before SIGKILL\n")
	w("# websocket_grace = \"10m\"       # a replaced generation keeps open WebSockets this long\n")
	w("# memory_limit = \"1GiB\"         # replace the app (blue/green) when it grows past this\n")
	w("#\n# An extra process, restarted with the app at every deploy:\n")
	w("# [[app.process]]\n# name = \"celery\"\n# command = [\"python\", \"-m\", \"celery\", \"-A\", %s, \"worker\"]\n\n",
		tomlString(strings.SplitN(p.SettingsModule, ".", 2)[0]))

	w("[[site]]\n")
	if len(domains) > 0 {
		w("# The concrete names of ALLOWED_HOSTS: frontdoor answers them and gets a\n")
		w("# certificate for each (localhost and IP addresses from its local CA).\n")
		quoted := make([]string, len(domains))
		for i, d := range domains {
			quoted[i] = tomlString(d)
		}
		w("hosts = [%s]\n", strings.Join(quoted, ", "))
	} else {
		w("# No hosts: the site answers every name. Name the site's hosts to get\n")
		w("# certificates: hosts = [\"example.com\", \"www.example.com\"]\n")
	}
	w("\n  [[site.route]]\n")
	w("  # Everything else goes to the application.\n")
	w("  path = \"/\"\n  upstream = \"app\"\n")
	if url, ok := routePrefix(p.StaticURL); ok && p.StaticRoot != "" {
		w("\n  [[site.route]]\n")
		w("  # STATIC_URL → STATIC_ROOT, filled by collectstatic at every deploy. Hashed\n")
		w("  # names (ManifestStaticFilesStorage) are cached by browsers for a year.\n")
		w("  path = %s\n  static = %s\n", tomlString(url), tomlString(p.StaticRoot))
	}
	if url, ok := routePrefix(p.MediaURL); ok && p.MediaRoot != "" {
		w("\n  [[site.route]]\n")
		w("  # MEDIA_URL → MEDIA_ROOT: uploaded files.\n")
		w("  path = %s\n  static = %s\n  immutable = false\n", tomlString(url), tomlString(p.MediaRoot))
	}
	prot := filepath.Join(p.Dir, protectedDir)
	if st, err := os.Stat(prot); err == nil && st.IsDir() {
		w("\n  [[site.route]]\n")
		w("  # Protected downloads: a view answers X-Accel-Redirect: %sNAME and\n", protectedURL)
		w("  # frontdoor sends the file; a direct request gets 404.\n")
		w("  path = %s\n  static = %s\n  internal = true\n", tomlString(protectedURL), tomlString(prot))
	} else {
		w("\n  # Protected downloads (a view answers X-Accel-Redirect: %sNAME):\n", protectedURL)
		w("  # [[site.route]]\n  # path = %s\n  # static = %s\n  # internal = true\n", tomlString(protectedURL), tomlString(prot))
	}
	return b.String()
}

func serverSentence(server supervisor.Server, app string) string {
	if app == "" {
		app = "the application"
	}
	if server == supervisor.ServerUvicorn {
		return fmt.Sprintf("serves %s with uvicorn workers under gunicorn", app)
	}
	return fmt.Sprintf("serves %s with gunicorn", app)
}

// routePrefix turns a Django URL setting into a route prefix; a setting
// that is a full URL (a CDN) is not served here.
func routePrefix(setting string) (string, bool) {
	if setting == "" || strings.Contains(setting, "://") || strings.HasPrefix(setting, "//") {
		return "", false
	}
	if !strings.HasPrefix(setting, "/") {
		setting = "/" + setting
	}
	if !strings.HasSuffix(setting, "/") {
		setting += "/"
	}
	return setting, true
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// unconfigured reports a configuration that serves no site and runs no
// application, such as the one the package installs: init may replace it
// without --force (the old file is still kept as .bak).
func unconfigured(path string) bool {
	c, err := LoadConfig(path)
	return err == nil && len(c.Sites) == 0 && c.App == nil
}
