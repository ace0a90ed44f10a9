package appliance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"frontdoor/supervisor"
)

// initChecksumPrefix starts the last line of each block init writes (and
// of a whole file written by init before [[app]]): the SHA-256 of the
// block above it. A block whose line still matches was not edited since,
// so init may replace it without --force.
const initChecksumPrefix = "# frontdoor-init-sha256: "

// initBlockPrefix starts the first line of a block init writes for one
// project: `# --- frontdoor init: app "NAME" for DIR ---`.
const initBlockPrefix = "# --- frontdoor init: app "

// initConfigText is a whole new configuration for the project: init's
// header, then the project's block.
func initConfigText(p *supervisor.Project, name string, domains []string, r *runAs, now time.Time) string {
	return initFileHeader(now) + "\n" + initAppBlock(p, name, domains, r, now)
}

// initFileHeader opens a configuration file init writes.
func initFileHeader(now time.Time) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# frontdoor configuration, written by `frontdoor init` on %s. Every key is\n", now.Format("2006-01-02"))
	w("# documented, with its default, in /usr/share/doc/frontdoor/config.md. Check it\n")
	w("# with `frontdoor check`. When init changed the service's sandbox (its drop-ins\n")
	w("# in %s), apply it with `systemctl restart frontdoor`:\n", serviceDropInDir)
	w("# a reload does not apply a sandbox change. After editing this file:\n")
	w("# `systemctl reload frontdoor`. `frontdoor init DIR` on another Django project\n")
	w("# adds its block at the end; it replaces a block of its own only while nobody\n")
	w("# edited it (see each block's last line), and never touches the rest.\n\n")

	w("# [server]\n")
	w("# Under systemd the listening sockets come from frontdoor-http.socket (port 80)\n")
	w("# and frontdoor-https.socket (443). Run by hand, frontdoor listens on\n")
	w("# http = [\":80\"] and https = [\":443\"]; state and sockets default to\n")
	w("# state = \"/var/lib/frontdoor/state.db\" and runtime_dir = \"/run/frontdoor\".\n")
	return b.String()
}

// initAppBlock is the project's block: its [[app]] named name, its
// release steps and processes, and its [[site]] with its routes, between
// init's first line and its checksum line.
func initAppBlock(p *supervisor.Project, name string, domains []string, r *runAs, now time.Time) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	server := p.Server()
	app := p.AppFor(server)
	w("%s%s for %s (%s) ---\n", initBlockPrefix, tomlString(name), p.Dir, now.Format("2006-01-02"))
	w("# Written by `frontdoor init`, which replaces this block, down to its last\n")
	w("# line, as long as nobody edits it. Edited, it is yours: init leaves it alone.\n")
	w("[[app]]\n")
	w("# The app's name: routes say app = %s; `frontdoor deploy %s`, `restart`,\n", tomlString(name), name)
	w("# `manage`, `logs` and `maintenance` take it.\n")
	w("name = %s\n", tomlString(name))
	w("# The project. frontdoor runs the release steps (wait for PostgreSQL, migrate,\n")
	w("# collectstatic, the steps below, compressing the static files) before the\n")
	w("# first start and every deploy, then %s, and restarts what crashes.\n", serverSentence(server, app))
	w("dir = %s\n", tomlString(p.Dir))
	if !p.HasManage || p.SettingsSource == "configured" {
		w("# The settings the application's entry point loads (found: %s).\n", p.SettingsSource)
		w("settings = %s\n", tomlString(p.SettingsModule))
	} else {
		w("# settings = %s   # found: %s\n", tomlString(p.SettingsModule), p.SettingsSource)
	}
	if len(p.PythonPath) > 0 {
		w("pythonpath = %s\n", tomlList(p.PythonPath))
	}
	switch {
	case r.configUser != "":
		w("# Run by root, frontdoor runs every process of the application as this user.\n")
		w("user = %s\n", tomlString(r.configUser))
	case r.service:
		w("# The packaged service runs the application as its own user, %s.\n", serviceUser)
	default:
		w("# user = \"www-data\"             # run by root, frontdoor runs the application as the project's owner\n")
	}
	w("# Found: %s.\n", p.PythonSource)
	w("python = %s\n", tomlString(p.Python))
	w("# server = %s           # default: from the settings (ASGI_APPLICATION means uvicorn)\n", tomlString(string(server)))
	w("module = %s\n", tomlString(app))
	w("# workers = %d                   # default: 2 × cores + 1, shared by the apps that set none\n", 2*runtime.NumCPU()+1)
	w("# env_file = %s  # default: the project's .env when it exists\n", tomlString(filepath.Join(p.Dir, ".env")))
	w("# migrate = true\n")
	if p.StaticRootShipped {
		w("# STATIC_ROOT (%s) is the package's, shipped collected: it is served as it\n", p.StaticRoot)
		w("# is. collectstatic could not write there (its compressed copies go to\n")
		w("# frontdoor's state directory).\n")
		w("collectstatic = false\n")
	} else {
		w("# collectstatic = true\n")
	}
	w("# compress_static = true         # .br, .zst and .gz next to STATIC_ROOT's files, once per release\n")
	if len(p.Postgres()) > 0 {
		w("# The settings use PostgreSQL: frontdoor waits for it before migrate and checks it\n")
		w("# with SELECT 1, with the app's own DATABASES settings.\n")
		w("# postgres_interval = \"10s\"\n")
	}
	w("# stop_timeout = \"30s\"          # graceful stop before SIGKILL\n")
	w("# websocket_grace = \"10m\"       # a replaced generation keeps open WebSockets this long\n")
	w("# memory_limit = \"1GiB\"         # replace the app (blue/green) when it grows past this\n")
	w("# maintenance_page = \"/srv/maintenance.html\"  # `frontdoor maintenance on %s` answers with it\n", name)
	if p.HasStaticfiles && p.StaticURL != "" {
		if url, ok := routePrefix(p.StaticURL); ok {
			w("# STATIC_URL and STATIC_ROOT: `frontdoor check` makes sure the site serves them.\n")
			w("static_url = %s\n", tomlString(url))
			if p.StaticRoot != "" {
				w("static_root = %s\n", tomlString(p.StaticRoot))
			}
		}
	}
	if url, ok := routePrefix(p.MediaURL); ok && p.MediaRoot != "" {
		w("media_url = %s\nmedia_root = %s\n", tomlString(url), tomlString(p.MediaRoot))
	}
	writeReleaseProposals(&b, p)
	writeProcessProposals(&b, p)

	w("\n[[site]]\n")
	if len(domains) > 0 {
		w("# The concrete names of ALLOWED_HOSTS: frontdoor answers them and gets a\n")
		w("# certificate for each (localhost and IP addresses from its local CA).\n")
		w("hosts = %s\n", tomlList(domains))
	} else {
		w("# No hosts: the site answers every name. Name the site's hosts to get\n")
		w("# certificates: hosts = [\"example.com\", \"www.example.com\"]\n")
	}
	w("\n  [[site.route]]\n")
	w("  # Everything else goes to the application.\n")
	w("  path = \"/\"\n  app = %s\n", tomlString(name))
	if url, ok := routePrefix(p.StaticURL); ok && p.StaticRoot != "" {
		w("\n  [[site.route]]\n")
		w("  # STATIC_URL → STATIC_ROOT, filled by collectstatic at every deploy. The names\n")
		w("  # ManifestStaticFilesStorage lists in staticfiles.json are cached by browsers\n")
		w("  # for a year; the others are revalidated.\n")
		w("  path = %s\n  static = %s\n", tomlString(url), tomlString(p.StaticRoot))
	}
	if url, ok := routePrefix(p.MediaURL); ok && p.MediaRoot != "" {
		w("\n  [[site.route]]\n")
		w("  # MEDIA_URL → MEDIA_ROOT: uploaded files.\n")
		w("  path = %s\n  static = %s\n  immutable = false\n", tomlString(url), tomlString(p.MediaRoot))
	}
	prot := filepath.Join(p.Dir, protectedDir)
	if st, err := os.Stat(prot); err == nil && st.IsDir() && p.HasManage {
		w("\n  [[site.route]]\n")
		w("  # Protected downloads: a view answers X-Accel-Redirect: %sNAME and\n", protectedURL)
		w("  # frontdoor sends the file; a direct request gets 404.\n")
		w("  path = %s\n  static = %s\n  internal = true\n", tomlString(protectedURL), tomlString(prot))
	} else {
		w("\n  # Protected downloads (a view answers X-Accel-Redirect: %sNAME):\n", protectedURL)
		w("  # [[site.route]]\n  # path = %s\n  # static = %s\n  # internal = true\n", tomlString(protectedURL), tomlString(prot))
	}
	text := b.String()
	return text + blockChecksumLine(text)
}

// blockChecksumLine is the last line of a block whose text (every line
// above it, from its first) is text.
func blockChecksumLine(text string) string {
	sum := sha256.Sum256([]byte(text))
	return initChecksumPrefix + hex.EncodeToString(sum[:]) + "\n"
}

// cutLastLine splits "....\nlast\n" into "....\n" and "last".
func cutLastLine(data []byte) (body, last []byte, ok bool) {
	data = bytes.TrimSuffix(data, []byte("\n"))
	i := bytes.LastIndexByte(data, '\n')
	if i < 0 {
		return nil, nil, false
	}
	return data[:i+1], data[i+1:], true
}

// writeReleaseProposals adds the release steps the project calls for:
// django-compressor's offline compression, the translations.
func writeReleaseProposals(b *strings.Builder, p *supervisor.Project) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	if p.CompressOffline {
		w("\n# COMPRESS_OFFLINE is on: django-compressor's files are made at every release\n")
		w("# (after collectstatic); `enabled = false` keeps the step without running it.\n")
		w("[[app.release]]\nname = \"compress\"\ncommand = [\"manage\", \"compress\", \"--force\"]\n# timeout = \"10m\"\n# optional = false\n")
	}
	if p.HasManage && hasTranslations(p.Dir) {
		_, err := exec.LookPath("msgfmt")
		w("\n# The project has translations (.po files): compile them at every release.\n")
		if err != nil {
			w("# compilemessages needs GNU gettext's msgfmt: apt install gettext, then uncomment.\n")
			w("# [[app.release]]\n# name = \"compilemessages\"\n# command = [\"manage\", \"compilemessages\"]\n")
		} else {
			w("[[app.release]]\nname = \"compilemessages\"\ncommand = [\"manage\", \"compilemessages\"]\noptional = true\n")
		}
	}
	if !p.CompressOffline {
		w("\n# A release step of the project's own, run after collectstatic at every deploy:\n")
		w("# [[app.release]]\n# name = \"compress\"\n# command = [\"manage\", \"compress\", \"--force\"]\n# timeout = \"10m\"\n# optional = true\n")
	}
}

// processProposal is an [[app.process]] init writes.
type processProposal struct {
	name    string
	command []string
	why     string
}

// processProposals are the background workers the project's installed
// apps call for: Celery (its app module next to the settings, or
// django-celery-beat/-results), django-q's qcluster, django-rq's
// rqworker, Huey's run_huey.
func processProposals(p *supervisor.Project) []processProposal {
	var out []processProposal
	pkg, _, _ := strings.Cut(p.SettingsModule, ".")
	celeryModule := p.SettingsPackageDir != "" && fileExistsPlain(filepath.Join(p.SettingsPackageDir, "celery.py"))
	if p.Modules["celery"] && (celeryModule || p.HasApp("django_celery_beat") || p.HasApp("django_celery_results")) {
		why := pkg + "/celery.py defines the Celery app"
		if !celeryModule {
			why = "django-celery-beat or django-celery-results is installed"
		}
		out = append(out, processProposal{"celery", []string{"python", "-m", "celery", "-A", pkg, "worker", "--loglevel=INFO"}, why})
		if p.HasApp("django_celery_beat") {
			out = append(out, processProposal{"celery-beat", []string{"python", "-m", "celery", "-A", pkg, "beat", "--loglevel=INFO",
				"--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"}, "django_celery_beat is in INSTALLED_APPS: its periodic tasks"})
		}
	}
	if p.HasApp("django_q") {
		out = append(out, processProposal{"qcluster", []string{"manage", "qcluster"}, "django_q is in INSTALLED_APPS: its task cluster"})
	}
	if p.HasApp("django_rq") {
		queues := p.RQQueues
		if len(queues) == 0 {
			queues = []string{"default"}
		}
		out = append(out, processProposal{"rqworker", append([]string{"manage", "rqworker"}, queues...), "django_rq is in INSTALLED_APPS: a worker for RQ_QUEUES"})
	}
	if p.HasApp("huey.contrib.djhuey") {
		out = append(out, processProposal{"huey", []string{"manage", "run_huey"}, "huey.contrib.djhuey is in INSTALLED_APPS: its consumer"})
	}
	return out
}

// writeProcessProposals writes the workers the project uses, or a
// commented example when it uses none.
func writeProcessProposals(b *strings.Builder, p *supervisor.Project) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	props := processProposals(p)
	if len(props) == 0 {
		pkg, _, _ := strings.Cut(p.SettingsModule, ".")
		w("\n# A background worker next to the web process, restarted with it at every deploy:\n")
		w("# [[app.process]]\n# name = \"celery\"\n# command = [\"python\", \"-m\", \"celery\", \"-A\", %s, \"worker\"]\n", tomlString(pkg))
		return
	}
	for _, pr := range props {
		w("\n# %s. Supervised like the web process (restarted with backoff, again at\n# every deploy).\n", pr.why)
		w("[[app.process]]\nname = %s\ncommand = %s\n", tomlString(pr.name), tomlList(pr.command))
	}
}

// hasTranslations reports .po files in the project's locale directories.
func hasTranslations(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipDir
		}
		if d.IsDir() && p != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "venv" || d.Name() == "__pycache__") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".po") && strings.Contains(p, string(filepath.Separator)+"LC_MESSAGES"+string(filepath.Separator)) {
			found = true
		}
		return nil
	})
	return found
}

func serverSentence(server supervisor.Server, app string) string {
	if server == supervisor.ServerUvicorn {
		return fmt.Sprintf("serves %s with uvicorn workers under gunicorn", app)
	}
	return fmt.Sprintf("serves %s with gunicorn", app)
}

// tomlList is a TOML array of strings.
func tomlList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = tomlString(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
