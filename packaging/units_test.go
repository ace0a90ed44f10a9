package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var unitFiles = []string{"frontdoor.service", "frontdoor-http.socket", "frontdoor-https.socket"}

// unitsForAnalysis copies the packaged units into a directory and points
// ExecStart= at the packaged binary, since /usr/bin/frontdoor is not
// installed on the machine running the test; MANPATH finds the packaged man
// page. It returns the directory and the environment to run
// systemd-analyze with.
func unitsForAnalysis(t *testing.T) (string, []string) {
	t.Helper()
	root := extract(t, "amd64")
	dir := t.TempDir()
	for _, name := range unitFiles {
		data, err := os.ReadFile(filepath.Join(root, "lib/systemd/system", name))
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(strings.ReplaceAll(string(data), "/usr/bin/frontdoor", filepath.Join(root, "usr/bin/frontdoor")))
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, append(os.Environ(), "MANPATH="+filepath.Join(root, "usr/share/man"), "SYSTEMD_LOG_COLOR=0")
}

// TestUnitsVerify runs `systemd-analyze verify`, which exits 0 even when it
// warns: any output at all fails.
func TestUnitsVerify(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	dir, env := unitsForAnalysis(t)
	args := []string{"verify"}
	for _, name := range unitFiles {
		args = append(args, filepath.Join(dir, name))
	}
	cmd := exec.Command(analyze, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// maxExposure is the highest `systemd-analyze security` score allowed.
const maxExposure = 2.0

// TestServiceSecurity scores the service's sandbox. The settings it leaves
// out, and why, are listed in README.md.
func TestServiceSecurity(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	dir, env := unitsForAnalysis(t)
	cmd := exec.Command(analyze, "security", "--offline=true", "--no-pager", filepath.Join(dir, "frontdoor.service"))
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for frontdoor\.service: (\d+\.\d)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure level %.1f (limit %.1f)", score, maxExposure)
	if score > maxExposure {
		t.Errorf("exposure %.1f > %.1f:\n%s", score, maxExposure, out)
	}
}

// unitSettings parses a unit file into section.key -> values (in order).
func unitSettings(t *testing.T, name string) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: malformed line %q", name, line)
			}
			settings[section+"."+k] = append(settings[section+"."+k], v)
		}
	}
	return settings
}

// TestUnitSettings pins the settings the rest of frontdoor relies on:
// descriptor names the engine selects, readiness and watchdog the systemd
// package speaks, the user and directories the postinst creates.
func TestUnitSettings(t *testing.T) {
	tests := []struct {
		unit, key, want string
	}{
		{"frontdoor-http.socket", "Socket.ListenStream", "80"},
		{"frontdoor-http.socket", "Socket.FileDescriptorName", "http"},
		{"frontdoor-http.socket", "Socket.BindIPv6Only", "both"},
		{"frontdoor-http.socket", "Socket.Service", "frontdoor.service"},
		{"frontdoor-https.socket", "Socket.ListenStream", "443"},
		{"frontdoor-https.socket", "Socket.FileDescriptorName", "https"},
		{"frontdoor-https.socket", "Socket.BindIPv6Only", "both"},
		{"frontdoor-https.socket", "Socket.Service", "frontdoor.service"},
		{"frontdoor.service", "Service.Type", "notify"},
		{"frontdoor.service", "Service.NotifyAccess", "main"},
		{"frontdoor.service", "Service.ExecStart", "/usr/bin/frontdoor run --config /etc/frontdoor/frontdoor.toml"},
		{"frontdoor.service", "Service.ExecReload", "/usr/bin/frontdoor reload --config /etc/frontdoor/frontdoor.toml --app-wait 75s"},
		{"frontdoor.service", "Service.Sockets", "frontdoor-http.socket frontdoor-https.socket"},
		{"frontdoor.service", "Service.Restart", "on-failure"},
		{"frontdoor.service", "Service.WatchdogSec", "30s"},
		{"frontdoor.service", "Service.User", "frontdoor"},
		{"frontdoor.service", "Service.Group", "frontdoor"},
		{"frontdoor.service", "Service.StateDirectory", "frontdoor"},
		{"frontdoor.service", "Service.RuntimeDirectory", "frontdoor"},
		{"frontdoor.service", "Service.ConfigurationDirectory", "frontdoor"},
		{"frontdoor.service", "Service.UMask", "0027"},
		{"frontdoor.service", "Service.ProtectSystem", "strict"},
		{"frontdoor.service", "Service.ProtectHome", "read-only"},
		{"frontdoor.service", "Service.CapabilityBoundingSet", "CAP_SETUID CAP_SETGID"},
		{"frontdoor.service", "Service.AmbientCapabilities", "CAP_SETUID CAP_SETGID"},
		{"frontdoor.service", "Service.SystemCallFilter", "@system-service"},
		{"frontdoor.service", "Service.RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK"},
		{"frontdoor.service", "Service.MemoryDenyWriteExecute", "true"},
		{"frontdoor.service", "Service.NoNewPrivileges", "true"},
		{"frontdoor.service", "Service.PrivateTmp", "true"},
		{"frontdoor.service", "Service.KillMode", "mixed"},
	}
	parsed := map[string]map[string][]string{}
	for _, tt := range tests {
		if parsed[tt.unit] == nil {
			parsed[tt.unit] = unitSettings(t, tt.unit)
		}
		got := parsed[tt.unit][tt.key]
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s: %s=%q, want exactly %q", tt.unit, tt.key, got, tt.want)
		}
	}
	if dyn := parsed["frontdoor.service"]["Service.DynamicUser"]; len(dyn) > 0 {
		t.Errorf("DynamicUser=%v: the state must keep its owner", dyn)
	}
	for _, sock := range []string{"frontdoor-http.socket", "frontdoor-https.socket"} {
		if p := parsed[sock]["Unit.PartOf"]; len(p) > 0 {
			t.Errorf("%s: PartOf=%v would close the socket when frontdoor restarts", sock, p)
		}
	}
}

// TestMaintainerScripts checks the scripts parse and guard the helpers
// that may be gone when postrm runs.
func TestMaintainerScripts(t *testing.T) {
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		path := filepath.Join("scripts", script)
		if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", script, err, out)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), "#!/bin/sh\n") || !strings.Contains(string(data), "\nset -e\n") {
			t.Errorf("%s: want #!/bin/sh and set -e", script)
		}
	}
	postrm, _ := os.ReadFile("scripts/postrm")
	if c := strings.Count(string(postrm), `[ -x "/usr/bin/deb-systemd-helper" ]`); c != 2 {
		t.Errorf("postrm guards deb-systemd-helper %d times, want both blocks guarded", c)
	}
}
