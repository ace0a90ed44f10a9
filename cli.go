package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"frontdoor/appliance"
)

// The operator's commands: they talk to the running daemon over its admin
// socket (status, deploy, reload), or write its configuration (init).

// adminFlags are the flags every admin-socket command takes.
type adminFlags struct {
	admin  *string
	config *string
}

func addAdminFlags(fs interface {
	String(name, value, usage string) *string
}) adminFlags {
	return adminFlags{
		admin:  fs.String("admin", "", "the daemon's admin socket (default: <runtime_dir>/admin.sock of --config)"),
		config: fs.String("config", appliance.DefaultConfigPath, "the daemon's configuration file, to find its admin socket"),
	}
}

func (f adminFlags) client() *appliance.AdminClient {
	socket := *f.admin
	if socket == "" {
		socket = appliance.AdminSocketFor(*f.config)
	}
	return appliance.NewAdminClient(socket)
}

// interruptible is a context that ends on Ctrl-C.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := flags("status", stderr)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	clusterView := fs.Bool("cluster", false, "show every edge of the daemon's [cluster] instead")
	af := addAdminFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if *clusterView {
		return showCluster(ctx, af.client(), *asJSON, stdout)
	}
	rep, raw, err := af.client().Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(raw)
		return err
	}
	appliance.WriteStatus(stdout, rep, time.Now())
	return nil
}

// cmdDeploy is `frontdoor deploy [NAME]` and, with restart, `frontdoor
// restart [NAME]`: NAME is the app (it may be left out when there is one).
func cmdDeploy(args []string, stdout, stderr io.Writer, restart bool) error {
	verb := map[bool]string{false: "deploy", true: "restart"}[restart]
	fs := flags(verb, stderr)
	af := addAdminFlags(fs)
	app, err := parseWithName(fs, args)
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	var res appliance.DeployResult
	if restart {
		fmt.Fprintln(stderr, "restarting: a new generation next to the current one, which serves meanwhile")
		res, err = af.client().Restart(ctx, app)
	} else {
		fmt.Fprintln(stderr, "deploying: release steps, then the new generation; the current one serves meanwhile")
		res, err = af.client().Deploy(ctx, app)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; the %s goes on in the daemon (see frontdoor status)", verb)
		}
		return err
	}
	appliance.WriteDeployResult(stdout, res)
	if !res.OK {
		if res.Report == nil {
			return errors.New(res.Error)
		}
		return fmt.Errorf("the %s failed; the generation that was serving keeps serving", verb)
	}
	return nil
}

// parseWithName parses a command's flags with at most one positional
// argument, the app's name, before or after them.
func parseWithName(fs *flag.FlagSet, args []string) (string, error) {
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	switch rest := fs.Args(); {
	case len(rest) > 1 || (len(rest) == 1 && name != ""):
		return "", fmt.Errorf("unexpected argument %q: name one app", rest[len(rest)-1])
	case len(rest) == 1:
		name = rest[0]
	}
	return name, nil
}

func cmdReload(args []string, stdout, stderr io.Writer) error {
	fs := flags("reload", stderr)
	af := addAdminFlags(fs)
	appWait := fs.Duration("app-wait", 0, "wait at most this long for the application's part (a deploy, a handover); 0: until it ends. "+
		"The configuration's verdict is always awaited (systemd's ExecReload passes 75s, under its 90 s timeout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	res, err := af.client().Reload(ctx, *appWait)
	if err != nil {
		return err
	}
	appliance.WriteReloadResult(stdout, res)
	if res.ConfigError != "" {
		return errors.New("the configuration has errors; the previous one stays in force")
	}
	if !res.OK {
		return errors.New("the configuration was applied, but not to the application (see above)")
	}
	return nil
}

func cmdInit(args []string, stdout, stderr io.Writer) error {
	fs := flags("init", stderr)
	config := fs.String("config", appliance.DefaultConfigPath, "the configuration file to write")
	force := fs.Bool("force", false, "replace the project's block even when it was edited (the file is kept as FILE.bak)")
	name := fs.String("name", "", "the app's name in the configuration (default: from the project's directory)")
	settings := fs.String("settings", "", "the settings module (DJANGO_SETTINGS_MODULE): for a project without manage.py, or other settings than its entry point's")
	app := fs.String("app", "", "the application object, MODULE:ATTR (default: WSGI_APPLICATION/ASGI_APPLICATION, else Django's own handler)")
	runUser := fs.String("user", "", "the account the application runs as when frontdoor runs as root (default: the project's owner)")
	var domains, pythonPath multiFlag
	fs.Var(&domains, "domain", "a name of the site (repeatable; default: the concrete names of ALLOWED_HOSTS)")
	fs.Var(&pythonPath, "pythonpath", "a directory to import the settings module from (repeatable)")
	// DJANGO_DIR may come before or after the flags.
	var dir string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if dir == "" && fs.NArg() > 0 {
		dir = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if dir == "" && *settings == "" {
		return fmt.Errorf("name the Django project: frontdoor init DJANGO_DIR [--domain NAME]... [--config PATH], or for a project without manage.py: frontdoor init --settings MODULE [--pythonpath DIR] [--app MODULE:ATTR]")
	}
	ctx, cancel := interruptible()
	defer cancel()
	_, err := appliance.Init(ctx, appliance.InitOptions{
		ProjectDir: dir, Settings: *settings, PythonPath: pythonPath, App: *app, User: *runUser,
		Domains: domains, ConfigPath: *config, Name: *name, Force: *force, Out: stdout,
	})
	if errors.Is(err, appliance.ErrInitProblems) {
		return errors.New("the configuration is written, but ERROR problems remain (see above)")
	}
	return err
}

// cmdManage runs a management command; its exit status is frontdoor's.
// Only --config (before the command) and the app's name are frontdoor's:
// `frontdoor manage [NAME] COMMAND [ARGS]...`, NAME being an app of the
// configuration (it may be left out when there is one). Everything from
// the command on is Django's.
func cmdManage(args []string, stderr io.Writer) int {
	config := appliance.DefaultConfigPath
	for len(args) > 0 && strings.HasPrefix(args[0], "--config") {
		if v, ok := strings.CutPrefix(args[0], "--config="); ok {
			config, args = v, args[1:]
		} else if len(args) > 1 {
			config, args = args[1], args[2:]
		} else {
			break
		}
	}
	app := ""
	if len(args) > 0 {
		if names := appliance.AppNames(config); slices.Contains(names, args[0]) && (len(names) > 1 || len(args) > 1) {
			app, args = args[0], args[1:]
		}
	}
	code, err := appliance.Manage(appliance.ManageOptions{ConfigPath: config, App: app, Args: args})
	if err != nil {
		fmt.Fprintf(stderr, "frontdoor manage: %v\n", err)
	}
	return code
}

// cmdLogs is `frontdoor logs [NAME] [-f] [-n N]`: the app's output and its
// release steps'. Under systemd the journal has all of it, across
// restarts: journalctl shows the app's lines (app=NAME). Run by hand,
// the daemon answers with the app's events kept in the state file and
// its lines since it started.
func cmdLogs(args []string, stdout, stderr io.Writer) error {
	fs := flags("logs", stderr)
	follow := fs.Bool("f", false, "follow: print new lines as they come (Ctrl-C stops)")
	lines := fs.Int("n", 200, "how many of the last lines")
	af := addAdminFlags(fs)
	app, err := parseWithName(fs, args)
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	client := af.client()
	rep, _, err := client.Status(ctx)
	if err != nil {
		return err
	}
	if app == "" {
		switch len(rep.Apps) {
		case 0:
			return errors.New("no app is configured")
		case 1:
			app = rep.Apps[0].Name
		default:
			names := make([]string, len(rep.Apps))
			for i, a := range rep.Apps {
				names[i] = a.Name
			}
			return fmt.Errorf("several apps: name one: %s", strings.Join(names, ", "))
		}
	}
	if journalctl, err := exec.LookPath("journalctl"); err == nil && rep.LogUnit != "" {
		argv := []string{"journalctl", "--unit", rep.LogUnit, "--no-pager", "--lines", strconv.Itoa(*lines),
			"--case-sensitive=true", "--grep", "(^| )app=" + regexp.QuoteMeta(app) + "( |$)"}
		if *follow {
			argv = append(argv, "--follow")
		}
		return syscall.Exec(journalctl, argv, os.Environ())
	}
	return client.Logs(ctx, app, *lines, *follow, stdout)
}

// cmdMaintenance is `frontdoor maintenance on|off [NAME] [--message TEXT]
// [--retry-after DURATION]`: the app's routes answer a 503 page (static
// routes keep serving) until it is turned off; a restart keeps it.
func cmdMaintenance(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "on" && args[0] != "off") {
		return errors.New("say on or off: frontdoor maintenance on|off [NAME] [--message TEXT] [--retry-after DURATION]")
	}
	on := args[0] == "on"
	fs := flags("maintenance "+args[0], stderr)
	message := fs.String("message", "", "the sentence the page shows (default: down for maintenance, back in a few minutes)")
	retryAfter := fs.Duration("retry-after", 0, "the Retry-After the 503 answers carry (default 5m)")
	af := addAdminFlags(fs)
	app, err := parseWithName(fs, args[1:])
	if err != nil {
		return err
	}
	if !on && (*message != "" || *retryAfter != 0) {
		return errors.New("--message and --retry-after go with maintenance on")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := af.client().Maintenance(ctx, app, on, *message, *retryAfter)
	if err != nil {
		return err
	}
	if res.Error != "" {
		return errors.New(res.Error)
	}
	if res.Maintenance != nil {
		fmt.Fprintf(stdout, "%s is in maintenance: its routes answer 503 (Retry-After %s); static routes serve; it stays so across restarts until `frontdoor maintenance off %s`\n",
			res.App, res.Maintenance.RetryAfter, res.App)
	} else {
		fmt.Fprintf(stdout, "%s is out of maintenance: its routes reach it again\n", res.App)
	}
	return nil
}
