package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
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

func cmdDeploy(args []string, stdout, stderr io.Writer) error {
	fs := flags("deploy", stderr)
	af := addAdminFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	fmt.Fprintln(stderr, "deploying: release steps, then the new generation; the current one serves meanwhile")
	res, err := af.client().Deploy(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; the deploy goes on in the daemon (see frontdoor status)")
		}
		return err
	}
	appliance.WriteDeployResult(stdout, res)
	if !res.OK {
		return errors.New("the deploy failed; the generation that was serving keeps serving")
	}
	return nil
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
	force := fs.Bool("force", false, "replace an existing configuration file (kept as FILE.bak)")
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
		Domains: domains, ConfigPath: *config, Force: *force, Out: stdout,
	})
	if errors.Is(err, appliance.ErrInitProblems) {
		return errors.New("the configuration is written, but ERROR problems remain (see above)")
	}
	return err
}

// cmdManage runs a management command; its exit status is frontdoor's.
// Only --config (before the command) is frontdoor's: everything from the
// command on is Django's.
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
	code, err := appliance.Manage(appliance.ManageOptions{ConfigPath: config, Args: args})
	if err != nil {
		fmt.Fprintf(stderr, "frontdoor manage: %v\n", err)
	}
	return code
}
