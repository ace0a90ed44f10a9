// Package denyopenat2 installs a seccomp filter that makes openat2(2) fail
// with a chosen errno, as the shipped systemd unit does (RestrictSUIDSGID=
// answers ENOSYS; other filters answer EPERM), so tests can check that
// frontdoor works without openat2. The filter applies to every thread of
// the process and to its children, and cannot be removed: install it only
// in a process made for the purpose (a re-executed test binary, or the
// deny-openat2 command).
package denyopenat2

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Errno parses "ENOSYS" or "EPERM", the two answers the tests need.
func Errno(name string) (syscall.Errno, error) {
	switch name {
	case "ENOSYS":
		return unix.ENOSYS, nil
	case "EPERM":
		return unix.EPERM, nil
	}
	return 0, fmt.Errorf("errno %q: want ENOSYS or EPERM", name)
}

// auditArch is the seccomp architecture of this build; a system call made
// under another (32-bit compat) is let through.
func auditArch() (uint32, error) {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, nil
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, nil
	}
	return 0, fmt.Errorf("no seccomp architecture known for %s", runtime.GOARCH)
}

// Install sets no_new_privs and installs the filter on every thread of the
// process (SECCOMP_FILTER_FLAG_TSYNC: Go runs on several threads), then
// checks that openat2 now fails with errno.
func Install(errno syscall.Errno) error {
	arch, err := auditArch()
	if err != nil {
		return err
	}
	// struct seccomp_data: nr at offset 0, arch at offset 4.
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: arch},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_OPENAT2},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", e)
	}
	runtime.KeepAlive(prog)
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC}
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &how)
	if err == nil {
		unix.Close(fd)
		return fmt.Errorf("openat2 still works after the filter was installed")
	}
	if err != errno {
		return fmt.Errorf("openat2 failed with %v, want %v", err, errno)
	}
	return nil
}
