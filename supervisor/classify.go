package supervisor

import "strings"

// gunicorn's arbiter exits with these when it cannot run the app at all.
const (
	gunicornWorkerBootError = 3 // "Worker failed to boot."
	gunicornAppLoadError    = 4 // "App failed to load."
)

// bootFailureMarkers are stderr fragments that mean the code or the
// configuration is broken: restarting will not help until someone deploys.
// gunicorn sometimes exits 1 instead of 4 (a second HaltServer raised while
// it stops), so its own messages are listed too.
var bootFailureMarkers = []string{
	"Worker failed to boot",
	"App failed to load",
	"Failed to find attribute",
	"Failed to find application object",
	"Error loading ASGI app",
	// From here on, Python's exceptions (firstExceptionMarker).
	"ModuleNotFoundError",
	"ImportError",
	"SyntaxError",
	"IndentationError",
	"ImproperlyConfigured",
}

// firstExceptionMarker is the index of the first Python exception among
// bootFailureMarkers.
const firstExceptionMarker = 5

// isBootFailure reports whether a child ended in a way that restarting
// cannot fix, and why. gunicorn's exit codes 3 and 4 always mean that;
// the stderr markers only count when checkStderr is set — for a child
// that never ran healthy, since a long-running app may have logged an
// ImportError traceback for one request long before it died of something
// else.
func isBootFailure(e ExitInfo, checkStderr bool) (reason string, fatal bool) {
	switch e.Code {
	case gunicornWorkerBootError:
		return "gunicorn: worker failed to boot (exit code 3)", true
	case gunicornAppLoadError:
		return "gunicorn: app failed to load (exit code 4)", true
	}
	if !checkStderr {
		return "", false
	}
	// An entry may be a whole traceback (one journal entry); the reason is
	// the line that names the failure, and a Python exception line
	// ("ModuleNotFoundError: No module named …") says more than the
	// server's "Worker failed to boot".
	var first string
	for _, entry := range e.Stderr {
		for _, line := range strings.Split(entry, "\n") {
			for i, m := range bootFailureMarkers {
				if !strings.Contains(line, m) {
					continue
				}
				if i >= firstExceptionMarker {
					return "boot failure: " + strings.TrimSpace(line), true
				}
				if first == "" {
					first = strings.TrimSpace(line)
				}
			}
		}
	}
	if first != "" {
		return "boot failure: " + first, true
	}
	return "", false
}
