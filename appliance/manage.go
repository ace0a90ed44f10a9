package appliance

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"strings"
	"syscall"

	"frontdoor/supervisor"
)

// ManageOptions are the settings of `frontdoor manage`.
type ManageOptions struct {
	// ConfigPath is the configuration whose [app] names the project
	// (default DefaultConfigPath).
	ConfigPath string
	// App names the app whose project runs the command; "" for the only
	// one.
	App string
	// Args are the management command and its arguments: "migrate",
	// "createsuperuser --username admin".
	Args []string
	// Stdin, Stdout and Stderr are the command's (default: frontdoor's own,
	// so that interactive commands work).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Manage runs a management command of the configured [app] the way the
// daemon runs its release steps: the project's interpreter and directory,
// its environment (the env file, [app] env, the settings module the web
// process loads) and, when frontdoor runs as root, the application's
// user. It returns the command's exit status; the error is for what
// prevents running it. It blocks until the command ends; Ctrl-C goes to
// the command (frontdoor ignores it meanwhile).
func Manage(opts ManageOptions) (int, error) {
	if opts.ConfigPath == "" {
		opts.ConfigPath = DefaultConfigPath
	}
	if len(opts.Args) == 0 {
		return 2, errors.New("name a management command: frontdoor manage COMMAND [ARGS]... (e.g. createsuperuser)")
	}
	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return 1, err
	}
	app, err := cfg.chooseApp(opts.App)
	if err != nil {
		return 1, fmt.Errorf("%s: %w", opts.ConfigPath, err)
	}
	sc := app.supervisorConfig("")
	if os.Geteuid() == 0 && opts.ConfigPath == DefaultConfigPath && sc.User == "" {
		if _, err := user.Lookup(serviceUser); err == nil {
			// The packaged service runs an app without a user of its own
			// as the service's user: so does a management command, or it
			// would leave files (uploads, a SQLite journal) the service
			// cannot write. An app with its user runs as that user.
			sc.User = serviceUser
		}
	}
	cmd, _, err := supervisor.ManageCommand(sc, opts.Args)
	if err != nil {
		return 1, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if opts.Stdin != nil {
		cmd.Stdin = opts.Stdin
	}
	if opts.Stdout != nil {
		cmd.Stdout = opts.Stdout
	}
	if opts.Stderr != nil {
		cmd.Stderr = opts.Stderr
	}
	// The terminal sends Ctrl-C to its whole foreground group: the command
	// decides what it means; frontdoor just waits for it.
	signal.Ignore(os.Interrupt, syscall.SIGQUIT)
	defer signal.Reset(os.Interrupt, syscall.SIGQUIT)
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, fmt.Errorf("run %s: %w", strings.Join(cmd.Args, " "), err)
	}
	return 0, nil
}
