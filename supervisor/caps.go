package supervisor

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The packaged service runs as user frontdoor, without root. To run each
// app as its own system user it keeps exactly two capabilities, CAP_SETUID
// and CAP_SETGID, which systemd hands it as ambient capabilities
// (AmbientCapabilities= in frontdoor.service), and uses them for one thing
// only: the setgroups/setgid/setuid of a child between fork and exec
// (exec.Cmd's Credential). The children must not get them: ambient
// capabilities survive a change between two non-root users and an exec,
// so frontdoor empties its inheritable set — which empties the ambient
// set with it — on every thread before it starts any child; a program then
// execs with no capability at all (no ambient, nothing inheritable, and
// NoNewPrivileges= ignores file capabilities). When no app runs as another
// user, frontdoor drops the two capabilities too, for good.

// spawnCaps are the capabilities frontdoor may keep to start children as
// other users.
var spawnCaps = []uintptr{unix.CAP_SETUID, unix.CAP_SETGID}

// LimitCapabilities prepares a frontdoor that does not run as root but
// holds capabilities: every thread keeps CAP_SETUID and CAP_SETGID in its
// effective and permitted sets when keepSpawn (and when it has them),
// nothing else, and no inheritable or ambient capability, so no child can
// inherit one. It does nothing for root (whose children lose every
// capability when they become another user) nor for a process with no
// capability. Call it before starting any child; it applies to every
// thread of the process (capabilities are per thread).
func LimitCapabilities(keepSpawn bool) error {
	if unix.Geteuid() == 0 {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	if data[0].Permitted == 0 && data[1].Permitted == 0 && data[0].Inheritable == 0 && data[1].Inheritable == 0 {
		return nil // nothing to give away
	}
	var keep [2]uint32
	if keepSpawn {
		for _, c := range spawnCaps {
			keep[c/32] |= 1 << (c % 32)
		}
	}
	for i := range data {
		data[i].Permitted &= keep[i]
		data[i].Effective = data[i].Permitted
		data[i].Inheritable = 0
	}
	hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return fmt.Errorf("capabilities: capset on every thread: %w", errno)
	}
	return nil
}

// canSwitchUsers reports whether this process may start children as other
// users: it is root, or it holds CAP_SETUID and CAP_SETGID.
func canSwitchUsers() bool {
	if unix.Geteuid() == 0 {
		return true
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	for _, c := range spawnCaps {
		if data[c/32].Effective&(1<<(c%32)) == 0 {
			return false
		}
	}
	return true
}

// errCannotSwitch explains why an app's user cannot be honoured.
var errCannotSwitch = errors.New("frontdoor does not run as root and holds no CAP_SETUID and CAP_SETGID, so it cannot start processes as another user")
