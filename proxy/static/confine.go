package static

import (
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Every static file is opened relative to its route's root directory and
// confined to it: no "..", no symlink, no magic link (/proc/self/fd/N)
// may lead out. The kernel does it with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS). Where a seccomp filter denies openat2 (systemd's
// RestrictSUIDSGID= answers ENOSYS, other filters EPERM) the path is walked
// one component at a time instead, with the same rules:
//
//   - every component is opened relative to a directory descriptor the
//     walk holds, with O_NOFOLLOW, so the kernel never follows a symlink
//     or a ".." on our behalf and a name swapped for a symlink mid-walk is
//     seen as the symlink it now is;
//   - a symlink is read through an O_PATH handle on the link itself (the
//     very link that was checked) and its target is resolved by the same
//     walk: a relative target that stays below the root is followed, an
//     absolute one or one climbing above the root fails with EXDEV, like
//     RESOLVE_BENEATH (so a `collectstatic --link` tree, whose links are
//     absolute, is refused by both methods);
//   - ".." pops the walk's own stack of directories and fails at the root;
//   - a magic link is never followed: its text is resolved like any
//     relative name below the root, which finds nothing;
//   - the last component is opened O_NONBLOCK (a FIFO cannot block the
//     worker) and O_NOCTTY, as with openat2; NUL is refused with EINVAL.
//
// Both methods serve the same files and refuse the same ones
// (TestStaticWithoutOpenat2 runs the confinement tests under a filter).

// confinedOpenFlags are the flags of the final open, for both methods.
const confinedOpenFlags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK

// maxSymlinks bounds the symlinks one lookup follows (the kernel's limit).
const maxSymlinks = 40

// openat2Denied reports the errors a seccomp filter answers openat2 with.
func openat2Denied(err error) bool { return err == unix.ENOSYS || err == unix.EPERM }

// probeOpenat2 reports whether openat2 works on dirFd: false when a
// seccomp filter (or an old kernel) refuses it, and the walk must be used.
func probeOpenat2(dirFd int) bool {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	for {
		fd, err := unix.Openat2(dirFd, ".", &how)
		switch {
		case err == unix.EINTR:
			continue
		case err == nil:
			unix.Close(fd)
			return true
		default:
			return !openat2Denied(err)
		}
	}
}

// openConfined opens rel below d's root, with openat2 when it works there
// (probed when the directory was opened), else by the walk.
func openConfined(d *Dir, rel string) (int, error) {
	if !d.walk {
		fd, err := openBeneath(d.fd, rel)
		if !openat2Denied(err) {
			return fd, err
		}
		// Denied after all (a genuine EPERM gets the same answer from
		// the walk).
	}
	return walkBeneath(d.fd, rel)
}

// openBeneath is the kernel's confinement: openat2 with RESOLVE_BENEATH.
func openBeneath(rootFd int, rel string) (int, error) {
	how := unix.OpenHow{Flags: confinedOpenFlags, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(rootFd, rel, &how)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN && tries < openat2Retries:
			// A rename (anywhere on the machine) ran while the kernel
			// resolved a "..", so it could not tell whether the ".."
			// stayed below the root; openat2(2) says to try again.
			continue
		case err == unix.EAGAIN:
			// Renames keep racing: the walk decides, with the same
			// rules and no such race.
			return walkBeneath(rootFd, rel)
		}
		return fd, err
	}
}

// openat2Retries bounds the retries of an openat2 that a concurrent rename
// made answer EAGAIN.
const openat2Retries = 8

// walkBeneath opens rel below rootFd one component at a time (see the
// comment at the top of this file). rootFd itself is never closed.
func walkBeneath(rootFd int, rel string) (int, error) {
	if strings.IndexByte(rel, 0) >= 0 {
		return -1, unix.EINVAL
	}
	var stackBuf [16]int
	stack := stackBuf[:0] // directories entered below the root, innermost last
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()
	dir := func() int {
		if len(stack) == 0 {
			return rootFd
		}
		return stack[len(stack)-1]
	}
	links := 0
	todo := rel
	for {
		for len(todo) > 0 && todo[0] == '/' {
			todo = todo[1:]
		}
		if todo == "" {
			// The path named a directory (the root, "dir/", a link to a
			// directory): open it for reading like a file.
			return openatRetry(dir(), ".", confinedOpenFlags|unix.O_DIRECTORY)
		}
		name, rest, more := strings.Cut(todo, "/")
		switch {
		case name == ".":
			todo = rest
			continue
		case name == "..":
			if len(stack) == 0 {
				return -1, unix.EXDEV // above the root
			}
			unix.Close(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			todo = rest
			continue
		}
		if !more {
			fd, err := openatRetry(dir(), name, confinedOpenFlags|unix.O_NOFOLLOW)
			if err != unix.ELOOP {
				return fd, err
			}
			// ELOOP under O_NOFOLLOW: the name is a symlink (now).
		} else {
			fd, err := openatRetry(dir(), name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
			if err == nil {
				stack = append(stack, fd)
				todo = rest
				continue
			}
			if err != unix.ENOTDIR {
				return -1, err
			}
			// ENOTDIR: a file, or a symlink (O_NOFOLLOW opened the
			// link itself, which is no directory).
		}
		target, err := readLinkAt(dir(), name)
		if err != nil {
			return -1, err
		}
		if links++; links > maxSymlinks {
			return -1, unix.ELOOP
		}
		if strings.HasPrefix(target, "/") {
			return -1, unix.EXDEV // absolute: RESOLVE_BENEATH refuses it too
		}
		if more {
			todo = target + "/" + rest
		} else {
			todo = target
		}
	}
}

// readLinkAt reads the symlink name in dir through an O_PATH handle on the
// link itself, so that what was found to be a link is what is read. A
// name that is not a symlink gives ENOTDIR (it was used as a directory) or
// ELOOP (it became a symlink and then something else: a race, refused).
func readLinkAt(dir int, name string) (string, error) {
	fd, err := openatRetry(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return "", unix.ELOOP // was a link a moment ago
		}
		return "", unix.ENOTDIR
	}
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		if len(buf) >= unix.PathMax {
			return "", unix.ENAMETOOLONG
		}
		buf = make([]byte, 2*len(buf))
	}
}

func openatRetry(dir int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, flags, 0)
		if err == syscall.EINTR {
			continue
		}
		return fd, err
	}
}
