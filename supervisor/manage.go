package supervisor

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// environDefault finds os.environ.setdefault('KEY', 'VALUE') in Python source.
var environDefault = regexp.MustCompile(`os\.environ\.setdefault\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*,\s*['"]([^'"]*)['"]\s*\)`)

// ManageCommand returns the command that runs a management command of
// the project the way the supervisor runs its release steps: manage.py
// (or `python -m django` for a project without one) with the project's
// interpreter, in its directory, with its environment (frontdoor's own,
// the env file, [app] env, the settings module the web process loads) and,
// when frontdoor runs as root, as the application's user. Standard
// streams are the caller's to set. It does not run Python: the settings
// module comes from the configuration, the environment, the application
// module's os.environ.setdefault calls, or manage.py's.
func ManageCommand(cfg Config, args []string) (*exec.Cmd, *Account, error) {
	if cfg.RuntimeDir == "" {
		cfg.RuntimeDir = os.TempDir() // not used; withDefaults wants one
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	account, err := RunAccount(cfg)
	if err != nil {
		return nil, nil, err
	}
	env, err := cfg.childEnv()
	if err != nil {
		return nil, nil, err
	}
	for k, v := range entryDefaults(cfg, env) {
		if !hasEnv(env, k) {
			env = append(env, k+"="+v)
		}
	}
	s := &Supervisor{cfg: cfg}
	argv := s.command(append([]string{"manage"}, args...))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = cfg.ProjectDir
	cmd.Env = env
	if account != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: account.credential()}
		cmd.Env = account.env(cmd.Env)
	}
	return cmd, account, nil
}

// entryDefaults are the variables the application's module sets for
// itself with os.environ.setdefault: the configured App's module, else the
// wsgi.py (asgi.py for uvicorn) of the package manage.py's settings live
// in. The web process gets them by importing that module; a management
// command must get them too, or it would run against other settings.
func entryDefaults(cfg Config, env []string) map[string]string {
	manage, _ := os.ReadFile(filepath.Join(cfg.ProjectDir, "manage.py"))
	module := ""
	if cfg.App != "" {
		module = moduleOf(cfg.App)
	} else if m := settingsModuleInManage.FindSubmatch(manage); m != nil {
		top, _, _ := strings.Cut(string(m[1]), ".")
		entry := ".wsgi"
		if cfg.Server == ServerUvicorn {
			entry = ".asgi"
		}
		module = top + entry
	}
	out := map[string]string{}
	if module != "" {
		rel := filepath.FromSlash(strings.ReplaceAll(module, ".", "/")) + ".py"
		dirs := append([]string{cfg.ProjectDir}, cfg.PythonPath...)
		for _, d := range dirs {
			if src, err := os.ReadFile(filepath.Join(d, rel)); err == nil {
				for _, m := range environDefault.FindAllSubmatch(src, -1) {
					if _, ok := out[string(m[1])]; !ok {
						out[string(m[1])] = string(m[2])
					}
				}
				break
			}
		}
	}
	if _, ok := out["DJANGO_SETTINGS_MODULE"]; !ok && !hasEnv(env, "DJANGO_SETTINGS_MODULE") {
		if m := settingsModuleInManage.FindSubmatch(manage); m != nil {
			out["DJANGO_SETTINGS_MODULE"] = string(m[1])
		}
	}
	return out
}
