package appliance

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"

	"frontdoor/supervisor"
)

// runAs is the account the application will run as, as init sees it.
type runAs struct {
	// account is nil when frontdoor runs as the caller's own user.
	account *supervisor.Account
	// why says how it was chosen, for the report.
	why string
	// service: the packaged service's user (User=frontdoor in the unit).
	service bool
	// configUser is written as [app] user ("" leaves the default, the
	// project's owner).
	configUser string
}

// ownUser: under the packaged service, the app runs as a user of its
// own, not as the service's.
func (r *runAs) ownUser() bool {
	return r.service && r.account != nil && r.account.Name != serviceUser
}

// name is the account's name, or "you" for the caller.
func (r *runAs) name() string {
	if r.account == nil {
		return "you"
	}
	return r.account.Name
}

// inspectAs is who runs the inspection: the application's user, when
// init runs as root. The settings may create files (graphite's log files)
// that must belong to that user.
func (r *runAs) inspectAs() *supervisor.Account {
	if os.Geteuid() != 0 {
		return nil
	}
	return r.account
}

// chooseRunAs finds the account the application will run as: the
// packaged service's user where the package is installed; as root, --user
// or the project's owner or, for a root-owned packaged application, the
// account its Debian package made (_graphite for graphite); else the
// caller. Root itself is refused: the application never runs as root.
func chooseRunAs(dir string, opts InitOptions) (*runAs, error) {
	if a, err := supervisor.LookupAccount(serviceUser); err == nil {
		if opts.User != "" && opts.User != serviceUser {
			u, err := supervisor.LookupAccount(opts.User)
			if err != nil {
				return nil, fmt.Errorf("--user: %w", err)
			}
			if u.UID == 0 {
				return nil, fmt.Errorf("--user %s: %w", opts.User, supervisor.ErrRunAsRoot)
			}
			return &runAs{account: u, service: true, configUser: u.Name,
				why: "--user: the packaged service (user " + serviceUser + ") starts the app's processes as " + u.Name}, nil
		}
		return &runAs{account: a, service: true, configUser: opts.User,
			why: "the packaged service runs as " + serviceUser + " (User= in frontdoor.service), and an app without a user of its own too"}, nil
	}
	if os.Geteuid() != 0 {
		r := &runAs{why: "frontdoor run by you runs the application as you"}
		if u, err := user.Current(); err == nil {
			r.why = fmt.Sprintf("frontdoor run by %s runs the application as %s", u.Username, u.Username)
		}
		return r, nil
	}
	if opts.User != "" {
		a, err := supervisor.LookupAccount(opts.User)
		if err != nil {
			return nil, fmt.Errorf("--user: %w", err)
		}
		if a.UID == 0 {
			return nil, fmt.Errorf("--user %s: %w", opts.User, supervisor.ErrRunAsRoot)
		}
		return &runAs{account: a, configUser: a.Name, why: "--user"}, nil
	}
	if dir != "" {
		if owner, _, uid, _, err := supervisor.FileOwner(dir); err == nil && uid != 0 {
			a, err := supervisor.LookupAccount(owner)
			if err != nil {
				return nil, err
			}
			return &runAs{account: a, why: "the owner of " + dir}, nil
		}
	}
	for _, name := range packageAccounts(dir, opts.Settings) {
		if a, err := supervisor.LookupAccount(name); err == nil && a.UID != 0 {
			return &runAs{account: a, configUser: a.Name,
				why: fmt.Sprintf("the project belongs to root; %s is the account its Debian package made (--user NAME chooses another)", a.Name)}, nil
		}
	}
	where := dir
	if where == "" {
		where = "the settings module " + opts.Settings
	}
	return nil, fmt.Errorf("%s belongs to root, and %w: pass --user NAME, the account the application runs as "+
		"(it must read the project and write STATIC_ROOT, MEDIA_ROOT and its logs), or give the project to its own user (chown -R USER: DIR)",
		where, supervisor.ErrRunAsRoot)
}

// packageAccounts are the names a Debian package gives its system user:
// "_graphite" or "graphite" for the settings module graphite.settings.
func packageAccounts(dir, settings string) []string {
	var names []string
	if top, _, _ := strings.Cut(settings, "."); top != "" && top != "settings" {
		names = append(names, "_"+top, top)
	}
	if dir != "" {
		base := filepath.Base(dir)
		names = append(names, "_"+base, base)
	}
	return names
}

// accessCheck is one thing the application's user must be able to do.
type accessCheck struct {
	what string // "the settings file", "STATIC_ROOT"...
	path string
	mode uint32
}

// permissionProblems checks that the application's user can read what
// the application needs (the project, its settings files, the env file,
// the interpreter) and write where it writes (STATIC_ROOT when
// collectstatic runs, MEDIA_ROOT, an SQLite database's directory, the
// directories the settings name under /var). Each problem names the user,
// the path, what is in the way and the exact command that fixes it.
// granted says init gave the packaged service write access itself.
func permissionProblems(p *supervisor.Project, r *runAs, granted bool) []supervisor.Problem {
	if r.account == nil || r.account.UID == 0 {
		return nil
	}
	checks := []accessCheck{{"the project directory", p.Dir, supervisor.AccessRead | supervisor.AccessExec}}
	for _, f := range p.SettingsFiles {
		checks = append(checks, accessCheck{"the settings file", f.Path, supervisor.AccessRead})
	}
	// frontdoor itself reads the env file: as root, any; as the service's
	// user, only what it may.
	if env := filepath.Join(p.Dir, ".env"); fileExistsPlain(env) && (r.service || os.Geteuid() != 0) {
		checks = append(checks, accessCheck{"the env file", env, supervisor.AccessRead})
	}
	checks = append(checks, accessCheck{"the interpreter", p.Python, supervisor.AccessExec})
	var writable []accessCheck
	if p.HasStaticfiles && p.StaticRoot != "" && !p.StaticRootShipped {
		writable = append(writable, accessCheck{"STATIC_ROOT (collectstatic writes it)", p.StaticRoot, supervisor.AccessWrite})
	}
	if p.MediaURL != "" && p.MediaRoot != "" {
		writable = append(writable, accessCheck{"MEDIA_ROOT (uploads)", p.MediaRoot, supervisor.AccessWrite})
	}
	for _, db := range p.Databases {
		if db.IsSQLite() && filepath.IsAbs(db.Name) {
			writable = append(writable, accessCheck{"the SQLite database's directory", filepath.Dir(db.Name), supervisor.AccessWrite})
		}
	}
	if !granted {
		checks = append(checks, writable...)
	}
	names := make([]string, 0, len(p.Paths))
	for name := range p.Paths {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := p.Paths[name]
		if !strings.HasPrefix(path, "/var/") || (!strings.HasSuffix(name, "_DIR") && !strings.Contains(name, "LOG")) {
			continue
		}
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			checks = append(checks, accessCheck{name + " (a directory the settings name under /var)", path, supervisor.AccessWrite})
		}
	}
	var out []supervisor.Problem
	seen := map[string]bool{}
	for _, c := range checks {
		ok, blocked, why := supervisor.CanAccess(r.account, c.path, c.mode)
		if ok || seen[blocked+c.what] {
			continue
		}
		seen[blocked+c.what] = true
		verb := map[uint32]string{supervisor.AccessWrite: "write", supervisor.AccessExec: "run"}[c.mode]
		if verb == "" {
			verb = "read"
		}
		msg := fmt.Sprintf("user %s cannot %s %s %s", r.account.Name, verb, c.what, c.path)
		if blocked != c.path {
			msg += fmt.Sprintf(": %s is in the way (%s)", blocked, why)
		} else {
			msg += fmt.Sprintf(" (%s)", why)
		}
		out = append(out, supervisor.Problem{Code: "permission", Severity: supervisor.SeverityError, Message: msg,
			Fix: accessFix(r, c, blocked)})
	}
	return out
}

// accessFix is the command that gives r's account the access c needs,
// blocked being the path in the way.
func accessFix(r *runAs, c accessCheck, blocked string) string {
	a := r.account
	st, err := os.Stat(blocked)
	if err != nil {
		return fmt.Sprintf("check %s: %v", blocked, err)
	}
	owner, group, _, gid, _ := supervisor.FileOwner(blocked)
	perm := st.Mode().Perm()
	primary := primaryGroup(a)
	if blocked != filepath.Clean(c.path) || c.mode != supervisor.AccessWrite {
		// Reading, or passing through a directory.
		need := fs.FileMode(0o004)
		if st.IsDir() {
			need = 0o001
			if blocked == filepath.Clean(c.path) {
				need = 0o005
			}
		}
		if gid != 0 && perm&(need<<3) == need<<3 {
			return fmt.Sprintf("adduser %s %s   (group %s may already %s it; then restart frontdoor)", a.Name, group, group, map[bool]string{true: "enter", false: "read"}[st.IsDir()])
		}
		if st.IsDir() && need == 0o001 {
			return fmt.Sprintf("chmod o+x %s   (others may pass through, not list it)", blocked)
		}
		return fmt.Sprintf("chgrp %s %s && chmod g+%s %s   (it belongs to %s:%s)", primary, blocked, modeLetters(need), blocked, owner, group)
	}
	// Writing a directory (or creating it in blocked).
	if _, err := os.Stat(c.path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("install -d -o %s -g %s %s", a.Name, primary, c.path)
	}
	if r.service && !r.ownUser() {
		return fmt.Sprintf("chgrp -R %s %s && chmod -R g+w %s, and ReadWritePaths=%s in a drop-in (systemctl edit frontdoor; the service runs under ProtectSystem=strict)",
			serviceUser, c.path, c.path, c.path)
	}
	return fmt.Sprintf("chown -R %s:%s %s", a.Name, primary, c.path)
}

func modeLetters(m fs.FileMode) string {
	var b strings.Builder
	if m&0o004 != 0 {
		b.WriteByte('r')
	}
	if m&0o001 != 0 {
		b.WriteByte('x')
	}
	return b.String()
}

// primaryGroup names the account's primary group.
func primaryGroup(a *supervisor.Account) string {
	if g, err := user.LookupGroupId(fmt.Sprint(a.GID)); err == nil {
		return g.Name
	}
	return fmt.Sprint(a.GID)
}

// writePermissionProblems prints what the application's user cannot do.
func writePermissionProblems(out io.Writer, probs []supervisor.Problem) {
	if len(probs) == 0 {
		return
	}
	fmt.Fprintf(out, "\n%s:\n", plural(len(probs), "permission problem"))
	for _, prob := range probs {
		fmt.Fprintf(out, "  %-7s %s\n", "ERROR", prob.Message)
		fmt.Fprintf(out, "          fix: %s\n", prob.Fix)
	}
}

// ensureDir creates path if missing, owned by the application's user when
// init runs as root (collectstatic, run as that user, writes to it).
func ensureDir(path string, r *runAs) (bool, error) {
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
	if os.Geteuid() == 0 && r.account != nil && (!r.service || r.ownUser()) {
		_ = os.Chown(path, int(r.account.UID), int(r.account.GID))
	}
	return true, nil
}

func fileExistsPlain(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
