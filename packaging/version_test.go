package packaging

import (
	"os/exec"
	"strings"
	"testing"
)

func TestDebversion(t *testing.T) {
	tests := []struct {
		describe, stamp, want string
	}{
		{"v1.2.3", "", "1.2.3"},
		{"v1.2.3-dirty", "", "1.2.3+dirty"},
		{"v1.2.3-4-gabc1234", "", "1.2.3+4.gabc1234"},
		{"v1.2.3-4-gabc1234-dirty", "", "1.2.3+4.gabc1234.dirty"},
		{"v1.0.0-rc1", "", "1.0.0~rc1"},
		{"v1.0.0-rc1-3-gabc1234", "", "1.0.0~rc1+3.gabc1234"},
		{"abc1234", "20261123112744", "0.1.0~git20261123112744.abc1234"},
		{"abc1234-dirty", "20261123112744", "0.1.0~git20261123112744.abc1234.dirty"},
	}
	for _, tt := range tests {
		out, err := exec.Command("./debversion", tt.describe, tt.stamp).Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != tt.want {
			t.Errorf("debversion %s %s = %q, %v; want %q", tt.describe, tt.stamp, got, err, tt.want)
		}
	}
	if err := exec.Command("./debversion", "not a describe").Run(); err == nil {
		t.Error("debversion accepted garbage")
	}
}

// TestDebversionOrder checks that dpkg orders the versions as releases
// happen: untagged builds by time, then release candidates, the release,
// and builds after it.
func TestDebversionOrder(t *testing.T) {
	dpkg := needTool(t, "dpkg", "dpkg")
	ordered := []string{
		"0.1.0~git20261123112744.ffff000",
		"0.1.0~git20261124080000.0000aaa",
		"0.1.0~git20261124080000.0000aaa.dirty",
		"0.1.0~rc1",
		"0.1.0",
		"0.1.0+1.gabc1234",
		"0.1.0+12.gabc1234",
		"0.1.1",
	}
	for i := 0; i+1 < len(ordered); i++ {
		a, b := ordered[i]+"-1", ordered[i+1]+"-1"
		if err := exec.Command(dpkg, "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg does not order %s before %s", a, b)
		}
	}
}

// TestDebversionFromGit runs it on the repository itself.
func TestDebversionFromGit(t *testing.T) {
	needTool(t, "git", "git")
	out, err := exec.Command("./debversion").CombinedOutput()
	if err != nil {
		t.Fatalf("debversion: %v\n%s", err, out)
	}
	v := strings.TrimSpace(string(out))
	if err := exec.Command("dpkg", "--validate-version", v+"-1").Run(); err != nil {
		t.Errorf("%q is not a valid Debian version", v)
	}
}
