package appliance

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"frontdoor/supervisor"
)

// Isolation between the apps of one machine: each app can run as its own
// system user ([[app]] user = "…"), so one project cannot read another's
// .env or media. init proposes it when the new app would share its user
// with another app of the file, and names a project whose secrets every
// user can read, each with the commands that fix it.

// accountOf is who the app a runs as, as init sees it: its user, else
// (frontdoor run by root) the project's owner, else (the packaged service,
// which runs an app without a user as itself) the service's user.
func accountOf(a *AppConfig, service bool) string {
	switch {
	case a.User != "":
		return a.User
	case service:
		return serviceUser
	}
	if owner, _, _, _, err := supervisor.FileOwner(a.Dir); err == nil {
		return owner
	}
	return ""
}

// writeIsolation prints how the new app (named name, as r) stands next to
// the other apps of the configuration text: a shared user, with the
// commands that give it one of its own, and its .env when others may read
// it.
func writeIsolation(out io.Writer, text []byte, name string, p *supervisor.Project, r *runAs, opts InitOptions) {
	var c Config
	if toml.Unmarshal(text, &c) != nil {
		return
	}
	c.applyAppDefaults()
	mine := r.name()
	if r.account == nil {
		return // frontdoor runs as its caller: it cannot give apps users
	}
	var sharing []string
	for i := range c.Apps {
		if a := &c.Apps[i]; a.Name != name && accountOf(a, r.service) == mine {
			sharing = append(sharing, a.Name)
		}
	}
	var notes []string
	if len(sharing) > 0 {
		user := name
		if len(user) > 32 {
			user = user[:32]
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s runs as %s, like %s: each can read the other's files (its .env, its media).\n", name, mine, strings.Join(sharing, ", "))
		fmt.Fprintf(&b, "          To give %s a user of its own (frontdoor starts it as that user%s):\n", name,
			map[bool]string{true: "; the service keeps CAP_SETUID and CAP_SETGID for this alone", false: ""}[r.service])
		fmt.Fprintf(&b, "            adduser --system --group --no-create-home --home %s %s\n", p.Dir, user)
		if r.service {
			fmt.Fprintf(&b, "            adduser %s %s   (the service reads the static files and media it serves, the .env it passes on)\n", serviceUser, user)
		}
		fmt.Fprintf(&b, "            chown -R %s:%s %s && chmod -R g+rX,o-rwx %s\n", user, user, p.Dir, p.Dir)
		fmt.Fprintf(&b, "          then run init again with --user %s: %s", user, initCommandLine(withUser(opts, user), opts.ConfigPath))
		if r.service {
			b.WriteString("\n          and restart the service (systemctl restart frontdoor): it keeps its two capabilities only when an app has a user of its own at its start")
		}
		notes = append(notes, b.String())
	}
	if env := filepath.Join(p.Dir, ".env"); worldReadable(env) {
		notes = append(notes, fmt.Sprintf("%s is readable by every user of this machine: other apps' users can read its secrets.\n          fix: chmod o-rwx %s", env, env))
	}
	if len(notes) == 0 {
		if len(c.Apps) > 1 {
			fmt.Fprintf(out, "\nisolation: %s runs as %s, a user no other app of the file has\n", name, mine)
		}
		return
	}
	fmt.Fprintf(out, "\nisolation between the apps:\n")
	for _, n := range notes {
		fmt.Fprintf(out, "  %-7s %s\n", "WARNING", n)
	}
}

// withUser is opts with --user user.
func withUser(opts InitOptions, user string) InitOptions {
	opts.User = user
	return opts
}

// worldReadable reports a file that others may read, every directory
// above it included.
func worldReadable(path string) bool {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o004 == 0 {
		return false
	}
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" {
			return true
		}
	}
}
