package proxy

import (
	"testing"

	"frontdoor/internal/denyopenat2"
)

func init() { denyopenat2.InstallFromEnv() }

// TestStaticWithoutOpenat2 runs the static-file tests again in a child
// process whose seccomp filter answers openat2 with ENOSYS (as the shipped
// unit's RestrictSUIDSGID= does) and with EPERM (as other filters do): the
// files must be served and the confinement must hold with the component
// walk (static/confine.go).
func TestStaticWithoutOpenat2(t *testing.T) {
	denyopenat2.RerunTests(t, []string{"TestStaticConfinement", "TestStaticDirectories", "TestStaticPrecompressed",
		"TestStaticFileChangesArePickedUp", "TestDotfilesAreNotServed"})
}
