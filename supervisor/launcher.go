package supervisor

import (
	"errors"
	"os/exec"
	"runtime"
)

// launcher starts every child from one goroutine locked to its own OS thread.
//
// Why: children are started with Pdeathsig=SIGKILL so that they die with
// frontdoor even when frontdoor is killed with SIGKILL. But the kernel sends
// the parent-death signal when the *thread* that forked the child exits, not
// when the process does. The Go runtime ends an OS thread when a goroutine
// that locked it exits without unlocking; any goroutine may do that (the
// proxy's event loops lock their threads), and the thread it ends may be
// one on which some other goroutine happened to run exec.Cmd.Start earlier —
// the child would then be killed for no reason (golang/go#27505). Starting
// children only from a thread that no other goroutine can ever run on, and
// that lives until every child has been stopped, makes Pdeathsig mean
// exactly "frontdoor died".
type launcher struct {
	requests chan launchRequest
	done     chan struct{}
}

type launchRequest struct {
	cmd   *exec.Cmd
	reply chan error
}

var errLauncherClosed = errors.New("supervisor is shutting down")

func newLauncher() *launcher {
	l := &launcher{requests: make(chan launchRequest), done: make(chan struct{})}
	started := make(chan struct{})
	go l.run(started)
	<-started
	return l
}

func (l *launcher) run(started chan<- struct{}) {
	// Never unlocked: when this goroutine returns, the thread exits with it,
	// which is harmless because close is only called once no child is left.
	runtime.LockOSThread()
	close(started)
	for {
		select {
		case req := <-l.requests:
			req.reply <- req.cmd.Start()
		case <-l.done:
			return
		}
	}
}

// start runs cmd.Start on the launcher's thread and returns its error. It
// blocks only for the fork and exec.
func (l *launcher) start(cmd *exec.Cmd) error {
	reply := make(chan error, 1)
	select {
	case l.requests <- launchRequest{cmd: cmd, reply: reply}:
		return <-reply
	case <-l.done:
		return errLauncherClosed
	}
}

// close ends the launcher thread. Call it only after every child started
// through it has exited: their parent-death signal fires when it ends.
func (l *launcher) close() {
	close(l.done)
}
