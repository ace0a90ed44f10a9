package denyopenat2

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// testEnv makes a re-executed test binary deny openat2 to itself before
// any test runs (RerunTests).
const testEnv = "FRONTDOOR_TEST_DENY_OPENAT2"

// InstallFromEnv installs the filter when this process is a test binary
// that RerunTests started; call it from the test package's init. It exits
// the process when the filter cannot be installed.
func InstallFromEnv() {
	name := os.Getenv(testEnv)
	if name == "" {
		return
	}
	errno, err := Errno(name)
	if err == nil {
		err = Install(errno)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "deny openat2:", err)
		os.Exit(3)
	}
}

// InChild reports whether this process is a test binary that RerunTests
// started (where openat2 is denied).
func InChild() bool { return os.Getenv(testEnv) != "" }

// RerunTests runs the named tests of the current test binary again in a
// child process whose seccomp filter answers openat2 with ENOSYS (as the
// shipped unit's RestrictSUIDSGID= does), then with EPERM (as other
// filters do), and fails t unless each passed there. The package must
// call InstallFromEnv from its init.
func RerunTests(t *testing.T, tests []string) {
	t.Helper()
	if InChild() {
		t.Skip("already the child")
	}
	run := "^(" + strings.Join(tests, "|") + ")$"
	for _, errno := range []string{"ENOSYS", "EPERM"} {
		t.Run(errno, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), testEnv+"="+errno)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("tests with openat2 denied (%s): %v\n%s", errno, err, out)
			}
			for _, name := range tests {
				if !strings.Contains(string(out), "--- PASS: "+name+" ") {
					t.Errorf("%s did not pass in the child:\n%s", name, out)
				}
			}
		})
	}
}
