package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Account is a user the application's processes run as.
type Account struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups
	Home   string
}

// LookupAccount finds a user by name or numeric uid, with its groups.
func LookupAccount(name string) (*Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, numErr := strconv.Atoi(name); numErr == nil {
			u, err = user.LookupId(name)
		}
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", name, err)
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %q: uid %q, gid %q are not numbers", name, u.Uid, u.Gid)
	}
	a := &Account{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}
	ids, _ := u.GroupIds()
	for _, g := range ids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && uint32(n) != a.GID {
			a.Groups = append(a.Groups, uint32(n))
		}
	}
	return a, nil
}

// accountByUID finds the user owning a file, or a nameless account.
func accountByUID(uid uint32) *Account {
	if a, err := LookupAccount(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return a
	}
	return &Account{Name: strconv.FormatUint(uint64(uid), 10), UID: uid, GID: uid}
}

// ErrRunAsRoot is returned when the application would run as root.
var ErrRunAsRoot = errors.New("frontdoor never runs the application as root")

// RunAccount is who the children of a supervisor for cfg run as: nil when
// they run as frontdoor's own user. Run by root, frontdoor runs them as
// cfg.User, or the owner of the project directory. Run as another user
// (the packaged service's), as cfg.User when it names another account —
// which needs CAP_SETUID and CAP_SETGID (LimitCapabilities) — else as
// itself. Root is refused with an error that says what to set.
func RunAccount(cfg Config) (*Account, error) {
	if os.Geteuid() != 0 {
		if cfg.User == "" {
			return nil, nil
		}
		a, err := LookupAccount(cfg.User)
		if err != nil {
			return nil, fmt.Errorf("[app] user: %w", err)
		}
		switch {
		case a.UID == uint32(os.Geteuid()):
			return nil, nil
		case a.UID == 0:
			return nil, fmt.Errorf("[app] user = %q: %w", cfg.User, ErrRunAsRoot)
		case !canSwitchUsers():
			return nil, fmt.Errorf("[app] user = %q: %w (the packaged frontdoor.service grants them; frontdoor keeps them only when an app at its start has a user of its own: restart frontdoor to apply a new one)", cfg.User, errCannotSwitch)
		}
		return a, nil
	}
	if cfg.User != "" {
		a, err := LookupAccount(cfg.User)
		if err != nil {
			return nil, fmt.Errorf("[app] user: %w", err)
		}
		if a.UID == 0 {
			return nil, fmt.Errorf("[app] user = %q: %w; name an account that can read the project and write STATIC_ROOT and MEDIA_ROOT (www-data, or the project's owner)", cfg.User, ErrRunAsRoot)
		}
		return a, nil
	}
	st, err := os.Stat(cfg.ProjectDir)
	if err != nil {
		return nil, fmt.Errorf("project directory: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("project directory %s: no owner", cfg.ProjectDir)
	}
	if sys.Uid == 0 {
		return nil, fmt.Errorf("the project directory %s belongs to root and %w: set [app] user = \"NAME\" (an account that can read the project and write STATIC_ROOT and MEDIA_ROOT, such as www-data), or give the project to its own user (chown -R USER: %s)",
			cfg.ProjectDir, ErrRunAsRoot, cfg.ProjectDir)
	}
	return accountByUID(sys.Uid), nil
}

// credential is the SysProcAttr credential of a's processes.
func (a *Account) credential() *syscall.Credential {
	if a == nil {
		return nil
	}
	return &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: a.Groups}
}

// env sets HOME, USER and LOGNAME to a's: frontdoor's own (root's) would
// send the application's caches and dotfiles where it cannot write.
func (a *Account) env(env []string) []string {
	if a == nil {
		return env
	}
	home := a.Home
	if home == "" {
		home = "/nonexistent"
	}
	return mergeEnv(env, []string{"HOME=" + home, "USER=" + a.Name, "LOGNAME=" + a.Name})
}

// Access modes for CanAccess.
const (
	AccessRead  = 4
	AccessWrite = 2
	AccessExec  = 1
)

// CanAccess reports whether a may access path with mode (AccessRead,
// AccessWrite, AccessExec, or a sum), judging by owners and permission
// bits (ACLs and read-only mounts are not looked at), including the search
// permission of every directory above it. A path that does not exist is
// judged by its nearest existing parent for AccessWrite (it can be created
// there). When it may not, blocked is the path in the way and why says
// how: "drwx------ root:root".
func CanAccess(a *Account, path string, mode uint32) (ok bool, blocked, why string) {
	path = filepath.Clean(path)
	if a.UID == 0 {
		return true, "", ""
	}
	st, err := os.Stat(path)
	for errors.Is(err, fs.ErrNotExist) && mode&AccessWrite != 0 && path != "/" {
		path = filepath.Dir(path)
		st, err = os.Stat(path)
	}
	if err != nil {
		return false, path, err.Error()
	}
	var dirs []string
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		dirs = append(dirs, dir)
		if dir == "/" {
			break
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if dst, err := os.Stat(dirs[i]); err == nil && !permits(a, dst, AccessExec) {
			return false, dirs[i], describe(dst)
		}
	}
	want := mode
	if st.IsDir() && mode&(AccessWrite|AccessRead) != 0 {
		want |= AccessExec
	}
	if !permits(a, st, want) {
		return false, path, describe(st)
	}
	return true, "", ""
}

// permits applies the owner, group or other bits that concern a.
func permits(a *Account, st fs.FileInfo, want uint32) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	perm := uint32(st.Mode().Perm())
	switch {
	case sys.Uid == a.UID:
		perm >>= 6
	case a.inGroup(sys.Gid):
		perm >>= 3
	}
	return perm&want == want
}

func (a *Account) inGroup(gid uint32) bool {
	if gid == a.GID {
		return true
	}
	for _, g := range a.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// describe is "drwxr-x--- root:www-data".
func describe(st fs.FileInfo) string {
	owner, group := "?", "?"
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		owner, group = nameOfUID(sys.Uid), nameOfGID(sys.Gid)
	}
	return fmt.Sprintf("%s %s:%s", st.Mode().String(), owner, group)
}

// FileOwner returns the user and group names owning path.
func FileOwner(path string) (owner, group string, uid, gid uint32, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", 0, 0, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "", "", 0, 0, fmt.Errorf("%s: no owner", path)
	}
	return nameOfUID(sys.Uid), nameOfGID(sys.Gid), sys.Uid, sys.Gid, nil
}

func nameOfUID(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return strconv.FormatUint(uint64(uid), 10)
}

func nameOfGID(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return g.Name
	}
	return strconv.FormatUint(uint64(gid), 10)
}

// fileOwnerIDs returns the uid and gid of a file's owner.
func fileOwnerIDs(info fs.FileInfo) ([2]uint32, bool) {
	sys, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return [2]uint32{}, false
	}
	return [2]uint32{sys.Uid, sys.Gid}, true
}
