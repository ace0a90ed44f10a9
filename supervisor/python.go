package supervisor

import (
	"os"
	"os/exec"
	"path/filepath"
)

// systemPython is Debian's interpreter, the one python3-django,
// gunicorn and python3-uvicorn install into. A `python3` earlier on PATH
// (pyenv, a tool's own) may lack them, so it is preferred by full path.
const systemPython = "/usr/bin/python3"

// FindPython returns the interpreter that runs the project in projectDir
// and a short description of where it was found. The first that exists
// and is executable wins:
//
//  1. projectDir/.venv/bin/python, then projectDir/venv/bin/python
//  2. the same two in projectDir's parent (a repository with the project
//     in a subdirectory)
//  3. $VIRTUAL_ENV/bin/python
//  4. /usr/bin/python3 (the system's, with Debian's python3-django)
//  5. python3 from PATH
//
// If none is found it returns "/usr/bin/python3" anyway, so that the error
// comes from starting it, with the path in the message.
func FindPython(projectDir string) (path, source string) {
	for _, dir := range []string{projectDir, filepath.Dir(projectDir)} {
		for _, venv := range []string{".venv", "venv"} {
			p := filepath.Join(dir, venv, "bin", "python")
			if isExecutable(p) {
				return p, "virtualenv " + filepath.Join(dir, venv)
			}
		}
	}
	if venv := os.Getenv("VIRTUAL_ENV"); venv != "" {
		if p := filepath.Join(venv, "bin", "python"); isExecutable(p) {
			return p, "$VIRTUAL_ENV " + venv
		}
	}
	if isExecutable(systemPython) {
		return systemPython, "system python " + systemPython
	}
	if p, err := exec.LookPath("python3"); err == nil {
		return p, "python3 from PATH"
	}
	return systemPython, "none found; assuming " + systemPython
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
