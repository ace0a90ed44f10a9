package appliance

import (
	"fmt"
	"io"
	"strings"

	"frontdoor/supervisor"
)

// writeFindings prints the facts the configuration is built from.
func writeFindings(out io.Writer, p *supervisor.Project, r *runAs) {
	fmt.Fprintf(out, "inspected %s\n", p.Dir)
	row := func(k, v string) { fmt.Fprintf(out, "  %-10s %s\n", k, v) }
	row("python", fmt.Sprintf("%s (%s), Python %s, Django %s", p.Python, p.PythonSource, p.PythonVersion, orNone(p.DjangoVersion)))
	row("settings", fmt.Sprintf("%s (from %s)", orNone(p.SettingsModule), p.SettingsSource))
	if len(p.SettingsFiles) > 1 {
		var files []string
		for _, f := range p.SettingsFiles {
			files = append(files, f.Path)
		}
		row("", "loaded from "+strings.Join(files, ", "))
	}
	server := p.Server()
	row("server", fmt.Sprintf("%s %s", server, p.AppFor(server)))
	row("runs as", fmt.Sprintf("%s: %s", r.name(), r.why))
	static := "not set"
	if p.StaticURL != "" {
		static = fmt.Sprintf("%s → %s", p.StaticURL, orNone(p.StaticRoot))
		if p.StaticfilesStorage != "" {
			static += " (" + p.StaticfilesStorage[strings.LastIndexByte(p.StaticfilesStorage, '.')+1:] + ")"
		}
		if p.StaticRootShipped {
			static += ", shipped collected by its package: served as it is, no collectstatic"
		}
	}
	row("static", static)
	media := "none (MEDIA_URL is not set)"
	if p.MediaURL != "" {
		media = fmt.Sprintf("%s → %s", p.MediaURL, orNone(p.MediaRoot))
	}
	row("media", media)
	row("hosts", orNone(strings.Join(p.AllowedHosts, ", ")))
	var dbs []string
	for _, d := range p.Databases {
		dbs = append(dbs, d.String())
	}
	row("databases", orNone(strings.Join(dbs, "; ")))
	debug := "off"
	if p.Debug {
		debug = "ON"
	}
	row("debug", debug)
}

// writeProblems prints each problem with its fix and where the fix goes:
// settings lines are printed under the file they belong in.
func writeProblems(out io.Writer, p *supervisor.Project) {
	if len(p.Problems) == 0 {
		fmt.Fprintf(out, "\nno problem found in the settings\n\n")
		return
	}
	fmt.Fprintf(out, "\n%s to fix before going live:\n", plural(len(p.Problems), "problem"))
	for _, prob := range p.Problems {
		fmt.Fprintf(out, "  %-7s %s\n", strings.ToUpper(string(prob.Severity)), prob.Message)
		switch lines := strings.Split(prob.Fix, "\n"); {
		case prob.File == "":
			fmt.Fprintf(out, "          fix: %s\n", prob.Fix)
		case len(lines) == 1:
			fmt.Fprintf(out, "          fix, in %s:  %s\n", p.DisplayPath(prob.File), prob.Fix)
		default:
			fmt.Fprintf(out, "          fix, in %s:\n", p.DisplayPath(prob.File))
			for _, l := range lines {
				fmt.Fprintf(out, "            %s\n", l)
			}
		}
	}
	fmt.Fprintln(out)
}

// cleanDomains keeps the names a site may have, saying which it leaves out.
func cleanDomains(names []string, out io.Writer) []string {
	var res []string
	for _, d := range names {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if d == "" || strings.ContainsAny(d, " /:") {
			fmt.Fprintf(out, "note: %q is left out of the site's hosts (a site host is a name or an IPv4 address)\n", d)
			continue
		}
		res = append(res, d)
	}
	return res
}

// initCommandLine is the command that runs init again with the same options.
func initCommandLine(opts InitOptions, cfgPath string) string {
	args := []string{"frontdoor init"}
	if opts.ProjectDir != "" {
		args = append(args, opts.ProjectDir)
	}
	if opts.Settings != "" {
		args = append(args, "--settings", opts.Settings)
	}
	for _, d := range opts.PythonPath {
		args = append(args, "--pythonpath", d)
	}
	if opts.App != "" {
		args = append(args, "--app", opts.App)
	}
	if opts.User != "" {
		args = append(args, "--user", opts.User)
	}
	if opts.Name != "" {
		args = append(args, "--name", opts.Name)
	}
	for _, d := range opts.Domains {
		args = append(args, "--domain", d)
	}
	if cfgPath != DefaultConfigPath {
		args = append(args, "--config", cfgPath)
	}
	return strings.Join(args, " ")
}

// plural is "1 problem", "3 problems".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
