package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"frontdoor/supervisor"
)

// What `frontdoor init` gives the packaged service, and nothing more.
//
// The service runs as user frontdoor under ProtectSystem=strict, so a
// Django project needs two things before its app can write: a systemd
// drop-in listing the places it writes (ReadWritePaths=), and Unix
// permission there. Init grants exactly these:
//
//   - STATIC_ROOT and MEDIA_ROOT: every directory in them gets group
//     frontdoor and g+rwx (collectstatic and uploads create, replace and
//     delete entries; no existing file needs to be writable for that);
//   - an SQLite database: the file (and a journal left beside it) gets
//     group frontdoor and g+rw; its directory g+wx for the journal SQLite
//     creates next to it, with the sticky bit, so the service can remove
//     only the files it created there, never replace settings.py;
//   - read access, through group frontdoor (g+r, g+x on directories, never
//     g+w), only for entries of the project the service cannot read yet.
//
// Each change is recorded first, with the entry's previous owner, group
// and mode, in a manifest that `apt purge` reads to undo it
// (packaging/scripts/postrm). Entries are changed through an open file
// descriptor (os.Root, O_NOFOLLOW), so a symlink put in place meanwhile
// is never followed out of the tree.

// serviceUser is the user (and group) the packaged service runs as
// (packaging/systemd).
const serviceUser = "frontdoor"

// serviceDropInDir is where systemd reads frontdoor.service's drop-ins.
const serviceDropInDir = "/etc/systemd/system/frontdoor.service.d"

// dropInName is the drop-in init writes in serviceDropInDir for the app
// named app: one per app, so that adding a project never takes away what
// another one was given.
func dropInName(app string) string { return "50-django-" + app + ".conf" }

// grantManifestPath is the record of what init changed. It lives in the
// root-owned configuration directory: the service cannot edit what root
// undoes on purge.
const grantManifestPath = "/etc/frontdoor/init-grants.list"

// serviceAccess is the packaged service's identity and where init records
// what it gives it.
type serviceAccess struct {
	UID, GID int
	// Groups are the service user's groups, GID included.
	Groups []int
	// DropInDir receives the drop-in (serviceDropInDir).
	DropInDir string
	// Manifest is the record of changes (grantManifestPath).
	Manifest string
	// DaemonReload runs after the drop-in changed (systemctl
	// daemon-reload); nil skips it.
	DaemonReload func() error
}

// packagedService returns the service init grants to: only for the
// service's own configuration file, as root, on a machine run by systemd,
// with the package's user present. Otherwise nil, and init prints the
// steps instead of taking them.
func packagedService(cfgPath string) *serviceAccess {
	if cfgPath != DefaultConfigPath || os.Geteuid() != 0 {
		return nil
	}
	if st, err := os.Stat("/run/systemd/system"); err != nil || !st.IsDir() {
		return nil
	}
	u, err := user.Lookup(serviceUser)
	if err != nil {
		return nil
	}
	s := &serviceAccess{DropInDir: serviceDropInDir, Manifest: grantManifestPath,
		DaemonReload: func() error { return exec.Command("systemctl", "daemon-reload").Run() }}
	s.UID, _ = strconv.Atoi(u.Uid)
	s.GID, _ = strconv.Atoi(u.Gid)
	ids, _ := u.GroupIds()
	for _, id := range append(ids, u.Gid) {
		if n, err := strconv.Atoi(id); err == nil {
			s.Groups = append(s.Groups, n)
		}
	}
	return s
}

// projectNeeds are the places a Django project's app writes, and the
// project it reads.
type projectNeeds struct {
	Project  string   // the project directory (read)
	Writable []string // trees the app writes: STATIC_ROOT, MEDIA_ROOT
	SQLite   []string // SQLite database files
	// OwnUser: the app runs as a user of its own ([[app]] user), which
	// writes these itself; the service only reads the trees (the files
	// it serves) and needs nothing of the databases.
	OwnUser bool
	// labels name the setting behind a writable tree, for the report.
	labels map[string]string
}

// needsOf returns what the project's settings say the app writes.
func needsOf(p *supervisor.Project) projectNeeds {
	n := projectNeeds{Project: p.Dir, labels: map[string]string{}}
	for _, d := range []struct{ setting, path string }{{"STATIC_ROOT", p.StaticRoot}, {"MEDIA_ROOT", p.MediaRoot}} {
		if d.path != "" && filepath.IsAbs(d.path) {
			n.Writable = append(n.Writable, filepath.Clean(d.path))
			n.labels[filepath.Clean(d.path)] = d.setting
		}
	}
	for _, db := range p.Databases {
		if strings.Contains(db.Engine, "sqlite") && filepath.IsAbs(db.Name) {
			n.SQLite = append(n.SQLite, filepath.Clean(db.Name))
		}
	}
	return n
}

// readWritePaths are the drop-in's paths: the writable trees and each
// database's directory, without repeats.
func (n projectNeeds) readWritePaths() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range n.Writable {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, db := range n.SQLite {
		if d := filepath.Dir(db); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// fileOwner is an entry's owner, group and mode bits (permissions with
// setuid, setgid and sticky: st_mode & 07777).
type fileOwner struct {
	UID, GID int
	Mode     uint32
}

// grantChange is one entry init changes.
type grantChange struct {
	Path     string // absolute
	root     string // the tree it is changed through (os.Root)
	rel      string // its name inside root
	dev, ino uint64 // what was planned; a replaced entry is left alone
	dir      bool
	Old, New fileOwner
}

// grantReport is what grant did.
type grantReport struct {
	DropIn        string   // the drop-in's path
	DropInChanged bool     // it was written or rewritten: a restart applies it
	ReadWrite     []string // its ReadWritePaths=
	Changes       []grantChange
	// Unreachable names directories above the project the service cannot
	// enter; init does not change those, it says so.
	Unreachable []string
}

// The access a grant asks for, as rwx bits.
const (
	wantRead    = 4
	wantWrite   = 2
	wantExecute = 1
)

// grant gives svc what the project needs (see the top of this file):
// it records every change in svc.Manifest first, then makes them, then
// writes the drop-in. Running it again changes nothing more and keeps the
// first recorded state of every entry.
func grant(svc *serviceAccess, app string, needs projectNeeds) (*grantReport, error) {
	rw := needs.readWritePaths()
	for _, p := range append([]string{needs.Project}, rw...) {
		if err := checkUnitPath(p); err != nil {
			return nil, err
		}
	}
	pl := &grantPlanner{svc: svc, planned: map[string]int{}}
	dirAccess := uint32(wantRead | wantWrite | wantExecute)
	if needs.OwnUser {
		dirAccess = wantRead | wantExecute
	}
	for _, tree := range needs.Writable {
		if err := pl.walk(tree, nil, func(c *grantChange, st fileOwner) {
			if c.dir {
				pl.want(c, st, dirAccess, 0)
			} else {
				pl.want(c, st, wantRead, 0)
			}
		}); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err // a missing tree needs nothing yet ("-" in the drop-in)
		}
	}
	for _, db := range needs.SQLite {
		if needs.OwnUser {
			break
		}
		if err := pl.single(filepath.Dir(db), func(c *grantChange, st fileOwner) {
			pl.want(c, st, wantWrite|wantExecute, syscall.S_ISVTX)
		}); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, f := range []string{db, db + "-journal", db + "-wal", db + "-shm"} {
			if err := pl.single(f, func(c *grantChange, st fileOwner) {
				if !c.dir {
					pl.want(c, st, wantRead|wantWrite, 0)
				}
			}); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	skip := map[string]bool{}
	for _, tree := range needs.Writable {
		skip[tree] = true
	}
	if err := pl.walk(needs.Project, skip, func(c *grantChange, st fileOwner) {
		if c.dir {
			pl.want(c, st, wantRead|wantExecute, 0)
		} else {
			pl.want(c, st, wantRead, 0)
		}
	}); err != nil {
		return nil, err
	}

	rep := &grantReport{DropIn: filepath.Join(svc.DropInDir, dropInName(app)), ReadWrite: rw, Changes: pl.changes}
	rep.Unreachable = unreachableAncestors(svc, append([]string{needs.Project}, rw...))

	sweeps := map[string]fileOwner{}
	for _, p := range rw {
		if st, err := ownerOf(p); err == nil {
			sweeps[p] = st
		}
	}
	for _, c := range pl.changes {
		if _, ok := sweeps[c.Path]; ok {
			sweeps[c.Path] = c.Old
		}
	}
	if err := recordGrants(svc, rep, sweeps); err != nil {
		return nil, err
	}
	for _, c := range pl.changes {
		if err := applyChange(c); err != nil {
			return nil, err
		}
	}
	changed, err := writeDropIn(rep.DropIn, dropInText(needs.Project, rw))
	if err != nil {
		return nil, err
	}
	rep.DropInChanged = changed
	if changed && svc.DaemonReload != nil {
		_ = svc.DaemonReload() // a failure shows at the restart init asks for
	}
	return rep, nil
}

// grantPlanner collects the changes a grant makes, each entry once.
type grantPlanner struct {
	svc     *serviceAccess
	planned map[string]int // path -> index in changes
	changes []grantChange
}

// want plans to give the service the access asked (wantRead…, on the
// owner/group/other triplet that applies to it) through group ownership,
// plus extra mode bits, when it lacks that access today (an entry it can
// already use is left as it is). A read grant never leaves the entry
// group-writable.
//
// An entry the service owns is left as it is: the kernel then looks only
// at the owner's bits, whatever its group.
func (pl *grantPlanner) want(c *grantChange, st fileOwner, access uint32, extra uint32) {
	if i, ok := pl.planned[c.Path]; ok {
		if prev := &pl.changes[i]; !canAccess(pl.svc, prev.New, access) {
			prev.New.Mode |= access<<3 | extra
		}
		return
	}
	if st.UID == pl.svc.UID || canAccess(pl.svc, st, access) {
		return
	}
	pl.planned[c.Path] = len(pl.changes)
	c.Old = st
	c.New = fileOwner{UID: st.UID, GID: pl.svc.GID, Mode: st.Mode | access<<3 | extra}
	if access&wantWrite == 0 {
		c.New.Mode &^= wantWrite << 3
	}
	pl.changes = append(pl.changes, *c)
}

// walk calls fn for every directory and regular file of the tree at dir
// (symlinks and special files are left alone, and not followed), except
// the subtrees in skip (absolute paths) and .git directories.
func (pl *grantPlanner) walk(dir string, skip map[string]bool, fn func(*grantChange, fileOwner)) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("grant access to %s: %w", dir, err)
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(rel string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && rel != "." {
				return nil // removed meanwhile: nothing to grant
			}
			return fmt.Errorf("grant access to %s: %w", filepath.Join(dir, rel), err)
		}
		abs := filepath.Join(dir, rel)
		if e.IsDir() && rel != "." && (skip[abs] || e.Name() == ".git") {
			return fs.SkipDir
		}
		c, st, err := entryOf(root, dir, rel)
		if errors.Is(err, fs.ErrNotExist) && rel != "." {
			return nil
		}
		if err != nil || c == nil {
			return err
		}
		fn(c, st)
		return nil
	})
}

// single calls fn for one entry (a directory or a regular file).
func (pl *grantPlanner) single(path string, fn func(*grantChange, fileOwner)) error {
	dir, name := filepath.Dir(path), filepath.Base(path)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("grant access to %s: %w", path, err)
	}
	defer root.Close()
	c, st, err := entryOf(root, dir, name)
	if err != nil || c == nil {
		return err
	}
	fn(c, st)
	return nil
}

// entryOf describes rel inside root; nil for what init never changes
// (symlinks, sockets, devices, FIFOs).
func entryOf(root *os.Root, dir, rel string) (*grantChange, fileOwner, error) {
	info, err := root.Lstat(rel)
	if err != nil {
		return nil, fileOwner{}, fmt.Errorf("grant access to %s: %w", filepath.Join(dir, rel), err)
	}
	if !info.Mode().IsDir() && !info.Mode().IsRegular() {
		return nil, fileOwner{}, nil
	}
	sys := info.Sys().(*syscall.Stat_t)
	c := &grantChange{Path: filepath.Join(dir, rel), root: dir, rel: rel, dev: sys.Dev, ino: sys.Ino, dir: info.IsDir()}
	return c, fileOwner{UID: int(sys.Uid), GID: int(sys.Gid), Mode: sys.Mode & 0o7777}, nil
}

// canAccess reports whether the service has the access asked on an entry
// owned as st, by Unix permission bits (ACLs aside).
func canAccess(svc *serviceAccess, st fileOwner, access uint32) bool {
	shift := 0 // other
	switch {
	case st.UID == svc.UID:
		shift = 6
	case containsInt(svc.Groups, st.GID):
		shift = 3
	}
	return (st.Mode>>shift)&access == access
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// applyChange makes one planned change through a descriptor opened
// without following a symlink, on the entry that was planned only.
func applyChange(c grantChange) error {
	root, err := os.OpenRoot(c.root)
	if err != nil {
		return fmt.Errorf("grant access to %s: %w", c.Path, err)
	}
	defer root.Close()
	f, err := root.OpenFile(c.rel, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("grant access to %s: %w", c.Path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("grant access to %s: %w", c.Path, err)
	}
	sys := info.Sys().(*syscall.Stat_t)
	if sys.Dev != c.dev || sys.Ino != c.ino || info.IsDir() != c.dir {
		return fmt.Errorf("grant access to %s: it was replaced while init ran; run init again", c.Path)
	}
	if err := f.Chown(-1, c.New.GID); err != nil {
		return fmt.Errorf("grant access to %s: %w", c.Path, err)
	}
	if err := f.Chmod(fileModeOf(c.New.Mode)); err != nil {
		return fmt.Errorf("grant access to %s: %w", c.Path, err)
	}
	return nil
}

// fileModeOf turns st_mode bits (07777) into an os.FileMode for Chmod.
func fileModeOf(bits uint32) os.FileMode {
	m := os.FileMode(bits & 0o777)
	if bits&syscall.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if bits&syscall.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if bits&syscall.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

func ownerOf(path string) (fileOwner, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileOwner{}, err
	}
	sys := info.Sys().(*syscall.Stat_t)
	return fileOwner{UID: int(sys.Uid), GID: int(sys.Gid), Mode: sys.Mode & 0o7777}, nil
}

// unreachableAncestors lists the directories above paths that the
// service cannot enter (it then cannot reach the project at all).
func unreachableAncestors(svc *serviceAccess, paths []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range paths {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			if !seen[d] {
				seen[d] = true
				if st, err := ownerOf(d); err == nil && !canAccess(svc, st, wantExecute) {
					out = append(out, fmt.Sprintf("%s (mode %04o, owner %d, group %d)", d, st.Mode, st.UID, st.GID))
				}
			}
			if d == "/" || d == "." {
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkUnitPath refuses a path a unit file cannot carry unquoted.
func checkUnitPath(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	if strings.ContainsAny(p, " \t\n\r\"'\\;") {
		return fmt.Errorf("%q has a space, quote, backslash or semicolon: give the service access by hand (systemctl edit frontdoor)", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q has a control character", p)
		}
	}
	return nil
}

// dropInText is the drop-in for the project. "-" before each path lets
// the service start when one is missing (a moved or renamed project)
// instead of failing with 226/NAMESPACE in a restart loop.
func dropInText(project string, paths []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `frontdoor init` for the Django project in %s: the places\n", project)
	b.WriteString("# its app writes (the service runs under ProtectSystem=strict). \"-\": the\n")
	b.WriteString("# service starts even when one is missing. A change here needs\n")
	b.WriteString("# `systemctl restart frontdoor` (a reload does not apply it).\n")
	b.WriteString("# init rewrites this file; apt purge removes it.\n")
	b.WriteString("[Service]\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "ReadWritePaths=-%s\n", strings.ReplaceAll(p, "%", "%%"))
	}
	return b.String()
}

// writeDropIn writes text to path unless it holds it already; it reports
// whether the file changed.
func writeDropIn(path, text string) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && string(old) == text {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := writeFileAtomic(path, []byte(text), 0o644); err != nil {
		return false, err
	}
	return true, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// The manifest: one record a line, fields separated by one space, the
// path last (it may hold spaces; init refuses newlines in paths):
//
//	service UID GID            the service's user and group
//	dropin PATH                the drop-in init wrote
//	sweep UID GID PATH         on purge, entries under PATH owned by the
//	                           service's user or group go to UID / GID
//	restore MODE UID GID PATH  on purge, PATH gets back its owner, group
//	                           and octal mode
//
// packaging/scripts/postrm reads it with POSIX sh.
type grantManifest struct {
	service  string
	dropIns  []string
	sweeps   []string            // "UID GID PATH", in order
	restores []string            // "MODE UID GID PATH", in order
	paths    map[string]struct{} // recorded "kind path"
}

func readGrantManifest(path string) (*grantManifest, error) {
	m := &grantManifest{paths: map[string]struct{}{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	for n, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		fields := map[string]int{"service": 2, "dropin": 1, "sweep": 3, "restore": 4}[kind]
		if fields == 0 || len(strings.SplitN(rest, " ", fields)) != fields {
			return nil, fmt.Errorf("%s:%d: not a record init writes: %q", path, n+1, line)
		}
		m.add(kind, rest)
	}
	return m, nil
}

// add records what was not recorded yet: the first record of a path is
// its state before any init.
func (m *grantManifest) add(kind, rest string) {
	path := rest
	switch kind {
	case "sweep":
		path = strings.SplitN(rest, " ", 3)[2]
	case "restore":
		path = strings.SplitN(rest, " ", 4)[3]
	case "service":
		m.service = rest
		return
	}
	if _, ok := m.paths[kind+" "+path]; ok {
		return
	}
	m.paths[kind+" "+path] = struct{}{}
	switch kind {
	case "dropin":
		m.dropIns = append(m.dropIns, rest)
	case "sweep":
		m.sweeps = append(m.sweeps, rest)
	case "restore":
		m.restores = append(m.restores, rest)
	}
}

func (m *grantManifest) text() []byte {
	var b bytes.Buffer
	b.WriteString("# Written by `frontdoor init`: what it changed for the service, with the\n")
	b.WriteString("# previous owner, group and mode of each entry. `apt purge frontdoor` undoes\n")
	b.WriteString("# it (postrm). Records: service UID GID | dropin PATH | sweep UID GID PATH |\n")
	b.WriteString("# restore MODE UID GID PATH.\n")
	if m.service != "" {
		fmt.Fprintf(&b, "service %s\n", m.service)
	}
	for _, d := range m.dropIns {
		fmt.Fprintf(&b, "dropin %s\n", d)
	}
	for _, s := range m.sweeps {
		fmt.Fprintf(&b, "sweep %s\n", s)
	}
	for _, r := range m.restores {
		fmt.Fprintf(&b, "restore %s\n", r)
	}
	return b.Bytes()
}

// recordGrants adds what grant is about to do to the manifest, before it
// does it.
func recordGrants(svc *serviceAccess, rep *grantReport, sweeps map[string]fileOwner) error {
	m, err := readGrantManifest(svc.Manifest)
	if err != nil {
		return err
	}
	m.add("service", fmt.Sprintf("%d %d", svc.UID, svc.GID))
	m.add("dropin", rep.DropIn)
	for _, p := range rep.ReadWrite {
		if st, ok := sweeps[p]; ok && st.UID != svc.UID {
			m.add("sweep", fmt.Sprintf("%d %d %s", st.UID, st.GID, p))
		}
	}
	for _, c := range rep.Changes {
		m.add("restore", fmt.Sprintf("%04o %d %d %s", c.Old.Mode, c.Old.UID, c.Old.GID, c.Path))
	}
	if err := os.MkdirAll(filepath.Dir(svc.Manifest), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", svc.Manifest, err)
	}
	return writeFileAtomic(svc.Manifest, m.text(), 0o644)
}

// reportGrant prints what grant did.
func reportGrant(out io.Writer, rep *grantReport, needs projectNeeds, manifest string) {
	fmt.Fprintf(out, "\nthe service runs the app as user %s under ProtectSystem=strict; it may write only to\n", serviceUser)
	for _, p := range rep.ReadWrite {
		what := needs.labels[p]
		if what == "" {
			what = "the SQLite database's directory: new files only (sticky bit)"
		}
		fmt.Fprintf(out, "  %s  (%s)\n", p, what)
	}
	for _, db := range needs.SQLite {
		fmt.Fprintf(out, "  %s  (the SQLite database)\n", db)
		if filepath.Dir(db) == needs.Project {
			fmt.Fprintf(out, "  note: the database lives in the project directory, so the service may add files there;\n"+
				"  a directory of its own is tighter: DATABASES['default']['NAME'] = BASE_DIR / 'data' / 'db.sqlite3'\n")
		}
	}
	if len(rep.Changes) == 0 {
		fmt.Fprintf(out, "permissions: nothing to change\n")
	} else {
		fmt.Fprintf(out, "permissions: %d entries given to group %s (previous owner, group and mode in %s;\n  apt purge restores them):\n",
			len(rep.Changes), serviceUser, manifest)
		for i, c := range rep.Changes {
			if i == 8 {
				fmt.Fprintf(out, "  … and %d more\n", len(rep.Changes)-i)
				break
			}
			fmt.Fprintf(out, "  %s  %04o → %04o\n", c.Path, c.Old.Mode, c.New.Mode)
		}
	}
	for _, u := range rep.Unreachable {
		fmt.Fprintf(out, "WARNING the service cannot enter %s: let it (chmod o+x, or setfacl -m u:%s:x) or move the project to /srv\n", u, serviceUser)
	}
	if rep.DropInChanged {
		fmt.Fprintf(out, "wrote %s (ReadWritePaths=)\n", rep.DropIn)
	} else {
		fmt.Fprintf(out, "%s is unchanged\n", rep.DropIn)
	}
}

// giveServiceAccess grants svc what the project needs and reports it, or,
// when init may not (svc nil: not root, another configuration file, no
// systemd), prints the steps for the administrator. It returns whether
// the service needs a restart rather than a reload: a changed drop-in
// applies only when the service starts.
func giveServiceAccess(out io.Writer, p *supervisor.Project, svc *serviceAccess, res *InitResult) (restart bool) {
	needs := needsOf(p)
	needs.OwnUser = res.RunAs != nil && res.RunAs.ownUser()
	rw := needs.readWritePaths()
	if svc == nil {
		if _, err := user.Lookup(serviceUser); err == nil && len(rw) > 0 {
			fmt.Fprintf(out, "\nthe service runs the app as user %s under ProtectSystem=strict; as root, init gives it\n"+
				"write access by itself. By hand: for each directory D in STATIC_ROOT and MEDIA_ROOT,\n"+
				"`chgrp %s D && chmod g+rwx D`; for an SQLite database, `chgrp %s` and `chmod g+rw` on the\n"+
				"file, `chmod g+wx,+t` and `chgrp %s` on its directory; then `systemctl edit frontdoor`:\n"+
				"  [Service]\n", serviceUser, serviceUser, serviceUser, serviceUser)
			for _, d := range rw {
				fmt.Fprintf(out, "  ReadWritePaths=-%s\n", d)
			}
		}
		return true
	}
	rep, err := grant(svc, res.Name, needs)
	if err != nil {
		fmt.Fprintf(out, "\ncould not give the service access by itself: %v\n", err)
		return true
	}
	res.DropIn = rep.DropIn
	reportGrant(out, rep, needs, svc.Manifest)
	return rep.DropInChanged
}

// writeNextSteps prints what to run after init. service says init manages
// the packaged service's access; restart that its sandbox changed.
func writeNextSteps(out io.Writer, cfgPath string, service, restart bool) {
	fmt.Fprintf(out, "\nnext:\n  frontdoor check --config %s\n", cfgPath)
	switch {
	case !service:
		fmt.Fprintf(out, "  systemctl restart frontdoor    (or by hand: frontdoor run --config %s)\n", cfgPath)
	case restart:
		fmt.Fprintf(out, "  systemctl restart frontdoor    (a restart, not a reload: the service's sandbox changed,\n"+
			"                                 and only a restart applies it)\n")
	default:
		fmt.Fprintf(out, "  systemctl reload frontdoor     (the sandbox is as before; if the service has not been\n"+
			"                                 restarted since init last changed it: systemctl restart frontdoor)\n")
	}
}
