// Command deny-openat2 runs a command with openat2(2) denied, as the shipped
// systemd unit denies it:
//
//	go run ./internal/denyopenat2/cmd/deny-openat2 ENOSYS bin/frontdoor file-server --listen 127.0.0.1:8080 --root DIR
//
// ERRNO is ENOSYS (what RestrictSUIDSGID= answers) or EPERM (what other
// filters answer).
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"frontdoor/internal/denyopenat2"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: deny-openat2 ENOSYS|EPERM COMMAND [ARG]...")
		os.Exit(2)
	}
	errno, err := denyopenat2.Errno(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "deny-openat2:", err)
		os.Exit(2)
	}
	path, err := exec.LookPath(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "deny-openat2:", err)
		os.Exit(127)
	}
	if err := denyopenat2.Install(errno); err != nil {
		fmt.Fprintln(os.Stderr, "deny-openat2:", err)
		os.Exit(1)
	}
	if err := syscall.Exec(path, os.Args[2:], os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "deny-openat2: exec:", err)
		os.Exit(126)
	}
}
