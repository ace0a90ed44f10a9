package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CheckProject returns the error Inspect gives for a directory that is
// not a Django project (no manage.py, and no settings module named),
// with the hint of where the project is; nil otherwise.
func CheckProject(dir, settings string) error {
	if settings != "" {
		return nil
	}
	if dir == "" {
		return fmt.Errorf("inspect: name the project directory or its settings module")
	}
	if fileExists(filepath.Join(dir, "manage.py")) {
		return nil
	}
	return fmt.Errorf("inspect %s: not a Django project (no readable manage.py)%s", dir, projectHint(dir))
}

// projectHint says where the Django project is when dir is not one: a
// manage.py one level down (a repository with the project in a
// subdirectory), or an entry point (wsgi.py, a .wsgi file) that names its
// settings module (a packaged application without manage.py). It returns
// "" when it finds neither, else a sentence starting with "; ".
func projectHint(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var below []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && !skippedDirs[e.Name()] {
			if fileExists(filepath.Join(dir, e.Name(), "manage.py")) {
				below = append(below, filepath.Join(dir, e.Name()))
			}
		}
	}
	switch len(below) {
	case 0:
	case 1:
		return fmt.Sprintf("; the project is one level down: %s/manage.py — run `frontdoor init %s`", below[0], below[0])
	default:
		return fmt.Sprintf("; projects one level down: %s — run `frontdoor init` on one of them", strings.Join(below, ", "))
	}
	if settings := entrySettings(dir); len(settings) > 0 {
		var hints []string
		for _, s := range settings {
			hints = append(hints, fmt.Sprintf("`frontdoor init --settings %s`", s))
		}
		return fmt.Sprintf("; an entry point here names its settings: for a project without manage.py run %s (with --pythonpath DIR if the module is not importable, and --app MODULE:ATTR for its own application object)",
			strings.Join(hints, " or "))
	}
	return "; a project without manage.py needs `frontdoor init --settings MODULE [--pythonpath DIR] [--app MODULE:ATTR]`"
}

// entrySettings returns the settings modules that dir's WSGI/ASGI entry
// points (wsgi.py, asgi.py, *.wsgi) set with os.environ.setdefault.
func entrySettings(dir string) []string {
	var files []string
	for _, pattern := range []string{"*.wsgi", "wsgi.py", "asgi.py", "*/wsgi.py", "*/asgi.py"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		files = append(files, m...)
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil || len(data) > 1<<20 {
			continue
		}
		if m := settingsModuleInManage.FindSubmatch(data); m != nil && !seen[string(m[1])] {
			seen[string(m[1])] = true
			out = append(out, string(m[1]))
		}
	}
	sort.Strings(out)
	return out
}
