package appliance

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Helpers of the tests that attack the real binary (slow_test.go,
// faults_test.go, security_test.go).

// raiseOpenFiles lifts this process's soft open-files limit to the hard
// one, so that frontdoor and the attack tools it starts inherit it.
func raiseOpenFiles(t *testing.T, need uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max < need {
		t.Skipf("open-files hard limit %d < %d (raise it: ulimit -Hn)", rl.Max, need)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
	}
}

// procStatusKiB reads a "Name:   N kB" field of /proc/PID/status (0 when
// the process is gone).
func procStatusKiB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return 0
}

// procStatusField returns a raw field of /proc/PID/status ("CapEff").
func procStatusField(pid int, field string) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// cpuTime is the user+system CPU time a process has used so far.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name may hold spaces: fields count from after ")".
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64) // field 14 of stat(5)
	stime, _ := strconv.ParseInt(fields[12], 10, 64) // field 15
	const ticksPerSecond = 100                       // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// openFDs counts a process's open descriptors.
func openFDs(pid int) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries)
}

// startMysite runs frontdoor with [app] on a copy of the example Django
// project (two gunicorn workers, no PostgreSQL) and waits until the
// application answers through the edge. extra is more TOML (tables other
// than [server] and [app]).
func startMysite(t *testing.T, extra string) *daemon {
	t.Helper()
	return startMysiteWith(t, extra, nil)
}

// startMysiteWith is startMysite with the [server] table edited by
// editServer (nil: as serverTable writes it).
func startMysiteWith(t *testing.T, extra string, editServer func(string) string) *daemon {
	t.Helper()
	needDjango(t)
	project := copyMysite(t)
	dir := t.TempDir()
	addr := freePort(t)
	server := serverTable(addr, dir)
	if editServer != nil {
		server = editServer(server)
	}
	text := fmt.Sprintf("[app]\ndir = %q\nworkers = 2\n\n%s\n", project, extra) + server
	if err := os.WriteFile(filepath.Join(dir, "frontdoor.toml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemonPriority(t, dir, addr)
	await(t, 60*time.Second, "the application through the edge", func() bool {
		r, err := rawGet(addr, "/healthz/", "localhost")
		return err == nil && r.status == 200
	})
	return d
}

// startDaemonPriority is startDaemon with frontdoor (and so the
// application it starts) at nice -10: the attack tools run on the same
// two cores as the server here, and CI runs other packages' tests at the
// same time; the latency a probe measures should be frontdoor's, not the
// machine's other tenants'.
func startDaemonPriority(t *testing.T, dir, addr string) *daemon {
	t.Helper()
	d := &daemon{dir: dir, config: filepath.Join(dir, "frontdoor.toml"), socket: filepath.Join(dir, "run", AdminSocketName)}
	p := &process{stderr: &syncBuffer{}, addr: addr}
	p.cmd = exec.Command("nice", "-n", "-10", binPath, "run", "--config", d.config)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.guardHostPaths(t)
	failOnRecoveredPanic(t, p.stderr)
	d.process = p
	t.Cleanup(func() {
		p.end()
		if t.Failed() {
			t.Logf("frontdoor's log:\n%s", lastLogLines(filterAppLines(p.stderr.String()), 60))
		}
	})
	return d
}

// filterAppLines drops the application's own lines from frontdoor's log.
func filterAppLines(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, " part=app proc=web ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// needTool skips the test when a program is missing, naming its package.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package %s; scripts/ensure-deps test installs it)", name, pkg)
	}
	return p
}
