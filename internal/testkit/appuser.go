package testkit

import (
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// AppUser is the account test projects belong to when the tests run as
// root: frontdoor never runs an application as root, and runs it as the
// project's owner.
const AppUser = "nobody"

// GiveToAppUser hands a test's project copy to AppUser when the test runs
// as root, as a server's project belongs to its own user: dir and
// everything under it change owner, and every directory above dir (the
// test's temporary directories are 0700) gets search permission for
// others. It does nothing for a test that does not run as root.
func GiveToAppUser(t testing.TB, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup(AppUser)
	if err != nil {
		t.Fatalf("user %s: %v", AppUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatalf("give %s to %s: %v", dir, AppUser, err)
	}
	OpenPathTo(t, filepath.Dir(dir))
}

// OpenPathTo adds search permission for others to dir and every
// directory above it that lacks it (a test's 0700 temporary directories),
// so that an application running as AppUser reaches what is below.
func OpenPathTo(t testing.TB, dir string) {
	t.Helper()
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o005); err != nil {
				t.Fatal(err)
			}
		}
		if d == "/" {
			return
		}
	}
}
