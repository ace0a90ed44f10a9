package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExitInfo describes how a child process ended.
type ExitInfo struct {
	Time time.Time `json:"time"`
	// Code is the exit status, or -1 when a signal killed the process.
	Code int `json:"code"`
	// Signal names the signal that killed it ("SIGKILL"), if one did.
	Signal string `json:"signal,omitempty"`
	// Ran is how long the process lived.
	Ran time.Duration `json:"ran"`
	// Stderr holds its last stderr lines (Config.StderrLines of them).
	Stderr []string `json:"stderr,omitempty"`
}

// String is "exit code 3" or "killed by SIGKILL".
func (e ExitInfo) String() string {
	if e.Signal != "" {
		return "killed by " + e.Signal
	}
	return fmt.Sprintf("exit code %d", e.Code)
}

// childSpec is what to run.
type childSpec struct {
	name string   // log tag: "web", "release:migrate", an extra's name
	gen  int      // web generation, 0 otherwise
	argv []string // argv[0] is a path or looked up in PATH
	dir  string
	env  []string
	// account runs the process as another user (frontdoor runs as root);
	// nil runs it as frontdoor's own.
	account *Account
	// stdout, when set, also receives everything the child writes to
	// stdout and stderr (release steps keep their output for reports).
	stdout *lockedBuffer
	// files are passed as descriptors 3, 4… (a web generation's socket).
	files []*os.File
}

// child is one started OS process and the goroutines that watch it.
type child struct {
	spec    childSpec
	pid     int
	started time.Time
	tail    *lineTail
	log     *slog.Logger

	// done is closed once the process has exited, its process group has
	// been killed and its output drained; exit is valid from then on.
	done chan struct{}
	exit ExitInfo

	stopOnce sync.Once
}

// logDrainTimeout bounds how long an exited child's output is awaited: a
// grandchild that left the process group may hold the pipe open forever.
const logDrainTimeout = 2 * time.Second

// startChild starts spec in its own process group with Pdeathsig=SIGKILL
// (see launcher), stdin on /dev/null, and stdout/stderr turned into log
// lines tagged with the process name. It returns once the process runs.
func startChild(l *launcher, log *slog.Logger, spec childSpec, tailLines int) (*child, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: stdout pipe: %w", spec.name, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("start %s: stderr pipe: %w", spec.name, err)
	}
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.ExtraFiles = spec.files
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: spec.account.credential()}
	if a := spec.account; a != nil {
		cmd.Env = a.env(cmd.Env)
	}
	err = l.start(cmd)
	// The child holds its own copies of the write ends; ours would keep the
	// pipes from ever reporting EOF.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start %s (%s): %w", spec.name, strings.Join(spec.argv, " "), err)
	}

	c := &child{
		spec:    spec,
		pid:     cmd.Process.Pid,
		started: time.Now(),
		tail:    newLineTail(tailLines),
		done:    make(chan struct{}),
	}
	attrs := []any{"proc", spec.name, "pid", c.pid}
	if spec.gen > 0 {
		attrs = append(attrs, "gen", spec.gen)
	}
	c.log = log.With(attrs...)

	var pumps sync.WaitGroup
	pumps.Add(2)
	go func() {
		defer pumps.Done()
		pumpLines(teeReader(outR, spec.stdout), c.log, "stdout", nil)
	}()
	go func() {
		defer pumps.Done()
		pumpLines(teeReader(errR, spec.stdout), c.log, "stderr", c.tail)
	}()
	go c.wait(cmd, &pumps)
	return c, nil
}

// wait reaps the process, kills what is left of its process group (the
// workers of a gunicorn master that died), drains its output and closes done.
func (c *child) wait(cmd *exec.Cmd, pumps *sync.WaitGroup) {
	err := cmd.Wait()
	now := time.Now()
	// Safe: a process group id is not reused while any member lives, and
	// once none does the kill fails with ESRCH.
	c.signalGroup(unix.SIGKILL)

	drained := make(chan struct{})
	go func() { pumps.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(logDrainTimeout):
		c.log.Warn("output still open after exit (a process left the group?); not waiting for it")
	}

	info := ExitInfo{Time: now, Code: cmd.ProcessState.ExitCode(), Ran: now.Sub(c.started), Stderr: c.tail.snapshot()}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		info.Code = -1
		info.Signal = unix.SignalName(ws.Signal())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		c.log.Warn("wait failed", "err", err)
	}
	c.exit = info
	close(c.done)
}

// exited reports whether the process has ended (and done is closed).
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop ends the child gracefully: SIGTERM to its process group, then after
// timeout SIGKILL. It blocks until the child has exited. Safe to call more
// than once and after the child exited.
func (c *child) stop(timeout time.Duration) {
	c.stopOnce.Do(func() {
		if c.exited() {
			return
		}
		c.signalGroup(unix.SIGTERM)
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
			c.log.Warn("did not stop in time; killing", "timeout", timeout)
			c.signalGroup(unix.SIGKILL)
		}
	})
	<-c.done
}

// kill ends the child and its process group at once with SIGKILL and
// waits until it has exited.
func (c *child) kill() {
	c.stopOnce.Do(func() {
		c.signalGroup(unix.SIGKILL)
	})
	<-c.done
}

// lockedBuffer collects a release step's output for its report.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// maxStepOutput caps what a release step's report keeps: the end matters.
const maxStepOutput = 256 * 1024

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - maxStepOutput; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// signalGroup sends sig to the child's process group. kill(2) lets a
// process signal only processes of its own user unless it holds CAP_KILL,
// which the packaged service does not: a frontdoor that runs as user
// frontdoor and started the app as the app's own user is refused (EPERM).
// Then a shell running as the app's user sends the signal — the one thing
// frontdoor's CAP_SETUID and CAP_SETGID are for: starting a process as the
// app's user.
func (c *child) signalGroup(sig unix.Signal) {
	err := unix.Kill(-c.pid, sig)
	if !errors.Is(err, unix.EPERM) || c.spec.account == nil {
		return
	}
	if err := signalAs(c.spec.account, -c.pid, sig); err != nil {
		c.log.Warn("could not signal the process group as its user", "signal", unix.SignalName(sig), "user", c.spec.account.Name, "err", err)
	}
}

// signalAs sends sig to pid (a negative pid: a process group) from a
// process running as a: the kill built into /bin/sh, which every Debian has.
func signalAs(a *Account, pid int, sig unix.Signal) error {
	cmd := exec.Command("/bin/sh", "-c", `kill -s "$1" -- "$2"`, "sh", strings.TrimPrefix(unix.SignalName(sig), "SIG"), fmt.Sprint(pid))
	cmd.Dir = "/"
	cmd.Env = a.env([]string{"PATH=/usr/bin:/bin"})
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: a.credential()}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
