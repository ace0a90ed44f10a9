package supervisor

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
)

// codeExtensions are the files whose change calls for a deploy: code,
// templates, static sources, translations and configuration.
var codeExtensions = map[string]bool{
	".py": true, ".html": true, ".txt": true, ".css": true, ".js": true, ".json": true,
	".po": true, ".mo": true, ".toml": true, ".cfg": true, ".ini": true, ".yaml": true, ".yml": true,
}

// skippedDirs are never code: virtualenvs, caches, version control.
var skippedDirs = map[string]bool{
	"__pycache__": true, "node_modules": true, ".venv": true, "venv": true, ".git": true,
}

// errChanged stops the walk at the first changed file.
var errChanged = errors.New("changed")

// CodeChanged reports whether a code file of the project (see
// codeExtensions; the env file counts too) was modified after the serving
// web generation started, and names the first one found. It returns false
// when no generation serves. STATIC_ROOT, MEDIA_ROOT, virtualenvs, caches
// and hidden directories are not looked at. It walks the project directory
// (a few milliseconds for a typical project), so call it on demand — on
// SIGHUP, to decide between Deploy and doing nothing — not in a loop.
func (s *Supervisor) CodeChanged() (bool, string) {
	s.mu.Lock()
	var since time.Time
	if s.web.current != nil {
		since = s.web.current.child.started
	}
	var skip []string
	if s.project != nil {
		for _, d := range []string{s.project.StaticRoot, s.project.MediaRoot} {
			if d != "" {
				skip = append(skip, filepath.Clean(d))
			}
		}
	}
	s.mu.Unlock()
	if since.IsZero() {
		return false, ""
	}
	var changed string
	err := filepath.WalkDir(s.cfg.ProjectDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: not ours to judge
		}
		if d.IsDir() {
			name := d.Name()
			if p != s.cfg.ProjectDir && (skippedDirs[name] || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			for _, root := range skip {
				if p == root {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !codeExtensions[filepath.Ext(p)] && p != s.cfg.EnvFile {
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(since) {
			changed = p
			return errChanged
		}
		return nil
	})
	return errors.Is(err, errChanged), changed
}
