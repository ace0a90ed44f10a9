package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"frontdoor/supervisor"
)

// InitOptions are the settings of `frontdoor init`.
type InitOptions struct {
	// ProjectDir is the Django project (the directory with manage.py). It
	// may be empty when Settings is set: a project without manage.py.
	ProjectDir string
	// Settings is the settings module, for a project without manage.py or
	// to choose other settings than the project's own choice.
	Settings string
	// PythonPath lists directories the settings module is imported from.
	PythonPath []string
	// App is the application object, "module:attribute" (default: the
	// settings' WSGI_APPLICATION or ASGI_APPLICATION, else Django's own).
	App string
	// User is the account the application runs as when frontdoor runs as
	// root (default: the project's owner).
	User string
	// Domains are the site's names; default: the concrete names of
	// ALLOWED_HOSTS.
	Domains []string
	// ConfigPath is the file to write (default DefaultConfigPath). An
	// existing one gets the project added (see initedit.go).
	ConfigPath string
	// Name is the app's name (default: derived from the project).
	Name string
	// Force replaces the project's block even when it was edited (or, in
	// a file of this one project only, the whole file); the old file is
	// kept as ConfigPath + ".bak".
	Force bool
	// Out receives the report: what was found, each problem with its fix,
	// what was written.
	Out io.Writer

	// service replaces the packaged service init grants access to (tests;
	// default: packagedService).
	service *serviceAccess
}

// InitResult is what Init found and wrote.
type InitResult struct {
	Project    *supervisor.Project
	ConfigPath string
	Domains    []string
	Created    []string // directories Init created (STATIC_ROOT, MEDIA_ROOT)
	// DropIn is the systemd drop-in Init wrote for the service ("" none).
	DropIn string
	// RunAs is the account the application will run as, and why.
	RunAs *runAs
	// Errors counts the ERROR problems that remain: Init then returns
	// ErrInitProblems with the result.
	Errors int
	// Name is the app's name in the configuration.
	Name string
}

// ErrInitProblems is returned by Init, after it wrote the configuration,
// when ERROR problems remain: the site would not work as it is.
var ErrInitProblems = errors.New("problems marked ERROR remain: fix them (each says how), then run `frontdoor init` again")

// protectedDir and protectedURL are the convention for protected
// downloads: the view answers with X-Accel-Redirect: /_protected/NAME and
// the edge sends <project>/protected/NAME.
const (
	protectedDir = "protected"
	protectedURL = "/_protected/"
)

// Init inspects the Django project with its own interpreter and settings
// (the ones its entry point loads), as the user the application will run
// as; prints what it found and every problem with its fix (the lines and
// the file they go in, the command for a permission); creates STATIC_ROOT
// and MEDIA_ROOT when missing (the edge serves them from the start;
// collectstatic fills the first at every deploy), and writes a commented
// frontdoor.toml with the site, the [app], its workers and release steps.
// It refuses to replace a configured file unless opts.Force (its own
// unfinished one excepted). When ERROR problems remain it still writes the
// file and returns the result with ErrInitProblems. It blocks while the
// inspection runs (a few seconds).
func Init(ctx context.Context, opts InitOptions) (*InitResult, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	if opts.ConfigPath == "" {
		opts.ConfigPath = DefaultConfigPath
	}
	dir := ""
	if opts.ProjectDir != "" {
		var err error
		if dir, err = filepath.Abs(opts.ProjectDir); err != nil {
			return nil, err
		}
	}
	cfgPath, err := filepath.Abs(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	old, err := os.ReadFile(cfgPath)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", cfgPath, err)
	}
	if exists && !unconfiguredText(cfgPath, old) {
		// Before the inspection (seconds): a file init cannot add to.
		if _, err := readExisting(cfgPath, old); err != nil {
			return nil, err
		}
	}
	for i, d := range opts.PythonPath {
		if opts.PythonPath[i], err = filepath.Abs(d); err != nil {
			return nil, err
		}
	}
	if err := supervisor.CheckProject(dir, opts.Settings); err != nil {
		return nil, err
	}
	runAs, err := chooseRunAs(dir, opts)
	if err != nil {
		return nil, err
	}
	domains := cleanDomains(opts.Domains, out)
	p, err := supervisor.Inspect(ctx, dir, supervisor.InspectOptions{
		ImportApp: true, Settings: opts.Settings, PythonPath: opts.PythonPath, App: opts.App,
		Domains: domains, HTTPS: true, Account: runAs.inspectAs(),
	})
	if err != nil {
		return nil, err
	}
	dir = p.Dir
	res := &InitResult{Project: p, ConfigPath: cfgPath, RunAs: runAs}
	if prob := domainsNotAllowed(p, domains); prob != nil {
		p.Problems = append(p.Problems, *prob)
	}
	writeFindings(out, p, runAs)

	if len(domains) == 0 {
		domains = cleanDomains(p.Domains(), out)
	}
	res.Domains = domains
	for _, d := range []struct{ what, path string }{{"STATIC_ROOT", p.StaticRoot}, {"MEDIA_ROOT", p.MediaRoot}} {
		if d.path == "" || !filepath.IsAbs(d.path) || (d.what == "MEDIA_ROOT" && p.MediaURL == "") {
			continue
		}
		created, err := ensureDir(d.path, runAs)
		if err != nil {
			fmt.Fprintf(out, "note: could not create %s %s: %v\n", d.what, d.path, err)
			continue
		}
		if created {
			res.Created = append(res.Created, d.path)
			fmt.Fprintf(out, "created %s (%s)\n", d.path, d.what)
		}
	}
	writeProblems(out, p)

	plan, err := planInit(cfgPath, old, exists, p, res.Domains, opts, runAs, time.Now())
	if err != nil {
		return nil, err
	}
	res.Name = plan.name
	if _, err := ParseConfig(cfgPath, []byte(plan.text)); err != nil {
		fmt.Fprintf(out, "\nthe written configuration does not pass `frontdoor check` yet:\n%v\n", err)
	}
	if !exists || plan.text != string(old) {
		if err := writeConfigFile(cfgPath, plan.text); err != nil {
			return nil, err
		}
	}
	switch {
	case plan.diff == "" && exists:
		fmt.Fprintf(out, "\n%s already holds this (nothing changed)\n", cfgPath)
	case plan.diff != "":
		fmt.Fprintf(out, "\nchanged %s (the previous file is %s.bak):\n%s", cfgPath, cfgPath, plan.diff)
		fmt.Fprintf(out, "\nwrote %s: the app %q\n", cfgPath, plan.name)
	default:
		fmt.Fprintf(out, "\nwrote %s: the app %q\n", cfgPath, plan.name)
	}
	if len(res.Domains) > 0 {
		fmt.Fprintf(out, "  site: %s\n", strings.Join(res.Domains, ", "))
	} else {
		fmt.Fprintf(out, "  site: every host name (no concrete name in ALLOWED_HOSTS; pass --domain NAME)\n")
		writeIPCertHint(out, interfaceAddrs())
	}
	writeWorkerShares(out, []byte(plan.text))
	writeIsolation(out, []byte(plan.text), plan.name, p, runAs, opts)
	svc := opts.service
	if svc == nil {
		svc = packagedService(cfgPath)
	}
	restart := giveServiceAccess(out, p, svc, res)
	// The drop-in's grant gives the service what the app writes; an app
	// with a user of its own writes as that user, which must be able to.
	perms := permissionProblems(p, runAs, res.DropIn != "" && !runAs.ownUser())
	writePermissionProblems(out, perms)
	res.Errors = len(perms)
	for _, prob := range p.Problems {
		if prob.Severity == supervisor.SeverityError {
			res.Errors++
		}
	}
	if res.Errors > 0 {
		fmt.Fprintf(out, "\n%s marked ERROR %s: the site will not work until they are fixed. Fix them, then run\n  %s\n(init replaces the block it wrote as long as nobody edited it)\n",
			plural(res.Errors, "problem"), map[bool]string{true: "remains", false: "remain"}[res.Errors == 1], initCommandLine(opts, cfgPath))
		return res, ErrInitProblems
	}
	writeNextSteps(out, cfgPath, svc != nil, restart)
	return res, nil
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
