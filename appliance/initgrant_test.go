package appliance

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// Ids of a service user and group that do not exist, and of the project's
// owner: the tests chown to them, so they need root.
const (
	testServiceUID = 64242
	testServiceGID = 64243
	testOwnerUID   = 61234
	testOwnerGID   = 61235
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test gives files to other users and groups")
	}
}

// testService is a service that is neither the owner nor in its group.
func testService(t *testing.T) *serviceAccess {
	dir := t.TempDir()
	return &serviceAccess{UID: testServiceUID, GID: testServiceGID, Groups: []int{testServiceGID},
		DropInDir: filepath.Join(dir, "frontdoor.service.d"), Manifest: filepath.Join(dir, "etc", "init-grants.list")}
}

// stockTree builds what `django-admin startproject` plus collectstatic, an
// upload and the first migrate leave, owned by testOwner, with a few
// entries only the owner may read. It returns the project directory.
func stockTree(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	// t.TempDir's directories are 0700: let the service through.
	must(t, os.Chmod(base, 0o755))
	must(t, os.Chmod(filepath.Dir(base), 0o755))
	proj := filepath.Join(base, "stock")
	outside := filepath.Join(base, "outside")
	entries := []struct {
		path string
		mode os.FileMode
		dir  bool
	}{
		{"", 0o755, true},
		{"manage.py", 0o755, false},
		{"stock", 0o755, true},
		{"stock/settings.py", 0o644, false},
		{"stock/urls.py", 0o644, false},
		{"secret", 0o700, true},
		{"secret/key.txt", 0o600, false},
		{".env", 0o600, false},
		{".git", 0o700, true},
		{".git/config", 0o600, false},
		{"static", 0o755, true},
		{"static/admin", 0o755, true},
		{"static/admin/base.css", 0o644, false},
		{"static/private.css", 0o600, false},
		{"media", 0o755, true},
		{"media/uploads", 0o755, true},
		{"media/uploads/a.pdf", 0o644, false},
		{"db.sqlite3", 0o644, false},
		{"db.sqlite3-journal", 0o644, false},
	}
	for _, e := range entries {
		p := filepath.Join(proj, e.path)
		if e.dir {
			must(t, os.MkdirAll(p, 0o755))
		} else {
			must(t, os.WriteFile(p, []byte("x"), 0o644))
		}
	}
	// Chmod after everything exists: 0700 directories were filled first.
	for i := len(entries) - 1; i >= 0; i-- {
		p := filepath.Join(proj, entries[i].path)
		must(t, os.Chown(p, testOwnerUID, testOwnerGID))
		must(t, os.Chmod(p, entries[i].mode))
	}
	must(t, os.MkdirAll(outside, 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "passwd"), []byte("root"), 0o600))
	must(t, os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(proj, "media", "link")))
	must(t, os.Symlink(outside, filepath.Join(proj, "static", "outside")))
	return proj
}

func stockNeeds(proj string) projectNeeds {
	return projectNeeds{Project: proj,
		Writable: []string{filepath.Join(proj, "static"), filepath.Join(proj, "media")},
		SQLite:   []string{filepath.Join(proj, "db.sqlite3")},
		labels:   map[string]string{filepath.Join(proj, "static"): "STATIC_ROOT", filepath.Join(proj, "media"): "MEDIA_ROOT"}}
}

// snapshot is every entry under dir (symlinks not followed): owner,
// group and mode bits, by path relative to dir's parent.
func snapshot(t *testing.T, dir string) map[string]fileOwner {
	t.Helper()
	out := map[string]fileOwner{}
	parent := filepath.Dir(dir)
	err := filepath.WalkDir(parent, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sys := info.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(parent, p)
		out[rel] = fileOwner{UID: int(sys.Uid), GID: int(sys.Gid), Mode: sys.Mode & 0o7777}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// grantStock grants a test service access to a fresh stock tree; it
// returns the project, the service, the tree's snapshot before and the
// report.
func grantStock(t *testing.T) (string, *serviceAccess, map[string]fileOwner, *grantReport) {
	t.Helper()
	needRoot(t)
	proj := stockTree(t)
	svc := testService(t)
	before := snapshot(t, proj)
	rep, err := grant(svc, "stock", stockNeeds(proj))
	if err != nil {
		t.Fatal(err)
	}
	return proj, svc, before, rep
}

// diffSnapshots lists what changed from before to after, as
// "path uid:gid mode" of after (or "path gone" / "path new").
func diffSnapshots(before, after map[string]fileOwner) []string {
	var out []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			out = append(out, p+" gone")
		case a != b:
			out = append(out, fmt.Sprintf("%s %d:%d %04o", p, a.UID, a.GID, a.Mode))
		}
	}
	for p, a := range after {
		if _, ok := before[p]; !ok {
			out = append(out, fmt.Sprintf("%s new %d:%d %04o", p, a.UID, a.GID, a.Mode))
		}
	}
	sort.Strings(out)
	return out
}

// TestGrantChangesOnlyWhatTheAppNeeds: on a stock project, init gives
// the service group write access to STATIC_ROOT's and MEDIA_ROOT's
// directories, the SQLite database and (sticky) its directory, group read
// access to what it could not read — and touches nothing else: settings.py
// keeps its mode, nothing is made group-writable outside those, symlinks
// and .git are left alone. (The old grantWritable made the whole project
// group-writable: settings.py rw-rw-r-- root:frontdoor.)
func TestGrantChangesOnlyWhatTheAppNeeds(t *testing.T) {
	proj, svc, before, rep := grantStock(t)
	g := testServiceGID
	o := fmt.Sprintf("%d:", testOwnerUID)
	want := []string{
		fmt.Sprintf("stock %s%d 1775", o, g), // the database's directory: g+wx, sticky
		fmt.Sprintf("stock/.env %s%d 0640", o, g),
		fmt.Sprintf("stock/db.sqlite3 %s%d 0664", o, g),
		fmt.Sprintf("stock/db.sqlite3-journal %s%d 0664", o, g),
		fmt.Sprintf("stock/media %s%d 0775", o, g),
		fmt.Sprintf("stock/media/uploads %s%d 0775", o, g),
		fmt.Sprintf("stock/secret %s%d 0750", o, g),
		fmt.Sprintf("stock/secret/key.txt %s%d 0640", o, g),
		fmt.Sprintf("stock/static %s%d 0775", o, g),
		fmt.Sprintf("stock/static/admin %s%d 0775", o, g),
		fmt.Sprintf("stock/static/private.css %s%d 0640", o, g),
	}
	after := snapshot(t, proj)
	if got := diffSnapshots(before, after); !reflect.DeepEqual(got, want) {
		t.Errorf("changed:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if len(rep.Changes) != len(want) {
		t.Errorf("the report lists %d changes, want %d", len(rep.Changes), len(want))
	}
	// Group-writable after the grant: the writable trees' directories, the
	// database and its directory, nothing else.
	for p, st := range after {
		if st.Mode&0o020 == 0 || before[p].Mode&0o020 != 0 {
			continue
		}
		switch {
		case p == "stock", strings.HasPrefix(p, "stock/db.sqlite3"),
			(strings.HasPrefix(p, "stock/static") || strings.HasPrefix(p, "stock/media")) && st.Mode&0o100 != 0:
		default:
			t.Errorf("%s became group-writable (%04o)", p, st.Mode)
		}
	}

	text, err := os.ReadFile(rep.DropIn)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"[Service]", "ReadWritePaths=-" + proj + "/static", "ReadWritePaths=-" + proj + "/media", "ReadWritePaths=-" + proj + "\n"} {
		if !strings.Contains(string(text), line) {
			t.Errorf("drop-in lacks %q:\n%s", line, text)
		}
	}
	if regexp.MustCompile(`(?m)^ReadWritePaths=[^-]`).Match(text) {
		t.Errorf("a ReadWritePaths= without \"-\": a moved project would stop the service (226/NAMESPACE):\n%s", text)
	}
	if !rep.DropInChanged {
		t.Error("a new drop-in is not reported as changed")
	}

	manifest, err := os.ReadFile(svc.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		fmt.Sprintf("service %d %d\n", testServiceUID, testServiceGID),
		"dropin " + rep.DropIn + "\n",
		fmt.Sprintf("sweep %d %d %s/static\n", testOwnerUID, testOwnerGID, proj),
		fmt.Sprintf("sweep %d %d %s/media\n", testOwnerUID, testOwnerGID, proj),
		fmt.Sprintf("sweep %d %d %s\n", testOwnerUID, testOwnerGID, proj),
		fmt.Sprintf("restore 0755 %d %d %s\n", testOwnerUID, testOwnerGID, proj),
		fmt.Sprintf("restore 0600 %d %d %s/.env\n", testOwnerUID, testOwnerGID, proj),
		fmt.Sprintf("restore 0644 %d %d %s/db.sqlite3\n", testOwnerUID, testOwnerGID, proj),
	} {
		if !strings.Contains(string(manifest), line) {
			t.Errorf("manifest lacks %q:\n%s", line, manifest)
		}
	}
	if n := strings.Count(string(manifest), "\nrestore "); n != len(want) {
		t.Errorf("manifest has %d restore records, want %d", n, len(want))
	}

	// Again: nothing more to change, the drop-in is as it was, and the
	// manifest still holds the state before the first grant.
	rep2, err := grant(svc, "stock", stockNeeds(proj))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep2.Changes) != 0 || rep2.DropInChanged {
		t.Errorf("a second grant changed %d entries, drop-in changed %v", len(rep2.Changes), rep2.DropInChanged)
	}
	if again, _ := os.ReadFile(svc.Manifest); string(again) != string(manifest) {
		t.Errorf("the second grant rewrote the manifest:\n%s", again)
	}
	if got := diffSnapshots(after, snapshot(t, proj)); len(got) != 0 {
		t.Errorf("the second grant changed %v", got)
	}
}

// TestGrantUndoneByPostrm: the purge's undo_init_grants (the function in
// packaging/scripts/postrm, run by sh) gives every entry back its owner,
// group and mode, gives what the service created to the directory's owner
// (no file keeps the deleted user's ids) and removes the drop-in.
func TestGrantUndoneByPostrm(t *testing.T) {
	proj, svc, before, rep := grantStock(t)
	// What the running service creates: an upload, collected files, the
	// database's write-ahead log.
	for _, p := range []string{"media/uploads/new.bin", "static/admin/new.css", "db.sqlite3-wal"} {
		full := filepath.Join(proj, p)
		must(t, os.WriteFile(full, []byte("y"), 0o640))
		must(t, os.Chown(full, testServiceUID, testServiceGID))
	}
	must(t, os.Mkdir(filepath.Join(proj, "media", "2026"), 0o750))
	must(t, os.Chown(filepath.Join(proj, "media", "2026"), testServiceUID, testServiceGID))

	runUndo(t, svc.Manifest)

	after := snapshot(t, proj)
	want := []string{
		fmt.Sprintf("stock/db.sqlite3-wal new %d:%d 0640", testOwnerUID, testOwnerGID),
		fmt.Sprintf("stock/media/2026 new %d:%d 0750", testOwnerUID, testOwnerGID),
		fmt.Sprintf("stock/media/uploads/new.bin new %d:%d 0640", testOwnerUID, testOwnerGID),
		fmt.Sprintf("stock/static/admin/new.css new %d:%d 0640", testOwnerUID, testOwnerGID),
	}
	if got := diffSnapshots(before, after); !reflect.DeepEqual(got, want) {
		t.Errorf("after the undo, changed from before init:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for p, st := range after {
		if st.UID == testServiceUID || st.GID == testServiceGID {
			t.Errorf("%s still belongs to the service's ids (%d:%d)", p, st.UID, st.GID)
		}
	}
	if _, err := os.Lstat(rep.DropIn); err == nil {
		t.Errorf("the drop-in %s survived the undo", rep.DropIn)
	}
	if _, err := os.Lstat(filepath.Dir(rep.DropIn)); err == nil {
		t.Errorf("the empty drop-in directory survived the undo")
	}
}

// runUndo runs postrm's undo_init_grants on a manifest.
func runUndo(t *testing.T, manifest string) {
	t.Helper()
	script, err := os.ReadFile("../packaging/scripts/postrm")
	if err != nil {
		t.Fatal(err)
	}
	fn := regexp.MustCompile(`(?ms)^undo_init_grants\(\) \{.*?^\}$`).Find(script)
	if fn == nil {
		t.Fatal("packaging/scripts/postrm has no undo_init_grants function")
	}
	cmd := exec.Command("sh", "-ec", string(fn)+"\nundo_init_grants \"$1\"", "sh", manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("undo_init_grants: %v\n%s", err, out)
	}
}

// TestGrantFollowsNoSymlink: an entry replaced by a symlink between the
// plan and the change is refused, and what the link points to keeps its
// group and mode.
func TestGrantFollowsNoSymlink(t *testing.T) {
	needRoot(t)
	proj := stockTree(t)
	svc := testService(t)
	outside := filepath.Join(filepath.Dir(proj), "outside")
	pl := &grantPlanner{svc: svc, planned: map[string]int{}}
	must(t, pl.walk(filepath.Join(proj, "media"), nil, func(c *grantChange, st fileOwner) {
		pl.want(c, st, wantRead|wantWrite|wantExecute, 0)
	}))
	var uploads *grantChange
	for i := range pl.changes {
		if strings.HasSuffix(pl.changes[i].Path, "/media/uploads") {
			uploads = &pl.changes[i]
		}
	}
	if uploads == nil {
		t.Fatalf("no change planned for media/uploads: %+v", pl.changes)
	}
	must(t, os.RemoveAll(uploads.Path))
	must(t, os.Symlink(outside, uploads.Path))
	before, _ := ownerOf(outside)
	if err := applyChange(*uploads); err == nil {
		t.Error("a change went through a symlink put in the entry's place")
	}
	if after, _ := ownerOf(outside); after != before {
		t.Errorf("the symlink's target changed: %+v -> %+v", before, after)
	}
}

// TestGrantReportsUnreachableParents: a project under a directory the
// service cannot enter is reported, not changed.
func TestGrantReportsUnreachableParents(t *testing.T) {
	needRoot(t)
	proj := stockTree(t)
	home := filepath.Dir(proj)
	must(t, os.Chown(home, testOwnerUID, testOwnerGID))
	must(t, os.Chmod(home, 0o700))
	rep, err := grant(testService(t), "stock", stockNeeds(proj))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unreachable) != 1 || !strings.HasPrefix(rep.Unreachable[0], home+" (mode 0700") {
		t.Errorf("unreachable: %q, want %s", rep.Unreachable, home)
	}
	if st, _ := ownerOf(home); st.Mode != 0o700 || st.GID != testOwnerGID {
		t.Errorf("the parent was changed: %+v", st)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestGrantForAnAppWithItsOwnUser: an app that runs as a user of its own
// writes its trees and its database itself; the service is given read
// access to the trees (the files it serves), never write, and nothing of
// the database.
func TestGrantForAnAppWithItsOwnUser(t *testing.T) {
	needRoot(t)
	proj := stockTree(t)
	svc := testService(t)
	needs := stockNeeds(proj)
	needs.OwnUser = true
	if _, err := grant(svc, "stock", needs); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, proj)
	for p, o := range after {
		if o.GID == svc.GID && o.Mode&0o020 != 0 {
			t.Errorf("%s was made writable by the service's group: %04o", p, o.Mode)
		}
	}
	db := after[filepath.Join(filepath.Base(proj), "db.sqlite3")]
	if db.GID == svc.GID {
		t.Errorf("the database was given to the service's group: %+v", db)
	}
	static := after[filepath.Join(filepath.Base(proj), "static")]
	if !canAccess(svc, static, wantRead|wantExecute) {
		t.Errorf("the service cannot read STATIC_ROOT: %+v", static)
	}
}
