package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"frontdoor/supervisor"
)

// `frontdoor init DIR` on a machine that already runs a project adds,
// never clobbers: the file is edited as text, so every comment, key order
// and blank line of the administrator's stays as it is, and the diff
// printed is exactly what changed. A TOML library that re-encodes the
// document (go-toml's, or a comment-keeping editor) would re-format the
// administrator's file; init only ever
//
//   - appends the new project's block ([[app]], its release steps and
//     processes, its [[site]] with its routes) at the end;
//   - replaces a block of its own (between its first line and its checksum
//     line) that nobody edited, when run again on the same project;
//   - turns a single [app] table into [[app]] with name = "app" (what the
//     single table meant), when a second app joins it, and writes out the
//     site frontdoor generated for it when the file had no [[site]].
//
// Lines are located with go-toml's parser (unstable.Parser), which knows
// where each table header and key is.

// existingConfig is what init needs to know of a configuration file it
// edits, read leniently: a file `frontdoor check` refuses (a project
// whose directory was moved, say) can still get a new project.
type existingConfig struct {
	path  string
	text  []byte
	lines []string // text split after each '\n'
	cfg   Config   // decoded without validation
	keys  map[string]int
	// single: the apps are one [app] table (not [[app]]); header is the
	// line (0-based) of its header, -1 when it has none (dotted keys or an
	// inline table).
	single bool
	header int
	blocks []initBlock
}

// initBlock is a block init wrote: lines start..end (0-based, end is the
// checksum line).
type initBlock struct {
	name       string
	start, end int
	untouched  bool
}

// readExisting reads a configuration file init is to edit.
func readExisting(path string, data []byte) (*existingConfig, error) {
	ec := &existingConfig{path: path, text: data, header: -1, keys: keyLines(data)}
	ec.lines = strings.SplitAfter(string(data), "\n")
	if n := len(ec.lines); n > 0 && ec.lines[n-1] == "" {
		ec.lines = ec.lines[:n-1]
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s is not valid TOML, so init cannot add to it: %v (fix it first; `frontdoor check --config %s` names the line)", path, err, path)
	}
	_, ec.single = doc["app"].(map[string]any)
	if err := toml.Unmarshal(data, &ec.cfg); err != nil {
		return nil, fmt.Errorf("%s: %v (fix it first; `frontdoor check --config %s` names the line)", path, err, path)
	}
	ec.cfg.applyAppDefaults()
	ec.header = appHeaderLine(data)
	ec.blocks = findInitBlocks(ec.lines)
	return ec, nil
}

// appHeaderLine is the 0-based line of an [app] table header, or -1.
func appHeaderLine(data []byte) int {
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.Table {
			continue
		}
		if parts := keyParts(e.Key()); len(parts) == 1 && parts[0] == "app" {
			return headerLine(&p, e) - 1
		}
	}
	return -1
}

// initBlockName reads a block's first line: `# --- frontdoor init: app
// "NAME" for …`.
var initBlockName = regexp.MustCompile(`^` + regexp.QuoteMeta(initBlockPrefix) + `("(?:[^"\\]|\\.)*")`)

// findInitBlocks finds the blocks init wrote, and whether each is as init
// wrote it.
func findInitBlocks(lines []string) []initBlock {
	var out []initBlock
	for i := 0; i < len(lines); i++ {
		m := initBlockName.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		name, err := strconv.Unquote(m[1])
		if err != nil {
			continue
		}
		for j := i + 1; j < len(lines); j++ {
			if initBlockName.MatchString(lines[j]) {
				break // a block that lost its last line: not init's any more
			}
			if strings.HasPrefix(lines[j], initChecksumPrefix) {
				body := strings.Join(lines[i:j], "")
				out = append(out, initBlock{name: name, start: i, end: j,
					untouched: blockChecksumLine(body) == strings.TrimSuffix(lines[j], "\n")+"\n"})
				i = j
				break
			}
		}
	}
	return out
}

// appFor returns the index of the app that runs the project in dir (with
// settings module settings, when two apps share a directory), or -1.
func (ec *existingConfig) appFor(dir, settings string) int {
	found := -1
	for i := range ec.cfg.Apps {
		a := &ec.cfg.Apps[i]
		if filepath.Clean(a.Dir) != filepath.Clean(dir) {
			continue
		}
		if found < 0 || (a.Settings != "" && a.Settings == settings) {
			found = i
		}
	}
	return found
}

// blockOf returns the untouched-or-not block init wrote for the app named
// name, or nil.
func (ec *existingConfig) blockOf(name string) *initBlock {
	for i := range ec.blocks {
		if ec.blocks[i].name == name {
			return &ec.blocks[i]
		}
	}
	return nil
}

// lineOf is the 1-based line of a key, for messages.
func (ec *existingConfig) lineOf(key string) int {
	c := Config{lines: ec.keys}
	return c.lineOf(key)
}

// appKey names app i as the file writes it.
func (ec *existingConfig) appKey(i int) string {
	c := Config{singleApp: ec.single}
	return c.appKey(i)
}

// hostConflicts lists, for each host of the new site, the site that
// already serves it: the exact conflict, with its line. With no hosts the
// new site catches every host, which conflicts with a site that does.
func (ec *existingConfig) hostConflicts(hosts []string) []string {
	var out []string
	for i, s := range ec.cfg.Sites {
		dest := ec.siteDestination(i)
		catchAll := len(s.Hosts) == 0 || slices.Contains(s.Hosts, "*")
		if len(hosts) == 0 && catchAll {
			out = append(out, fmt.Sprintf("%s:%d: site[%d] already answers every host name%s; pass --domain NAME for the new project's site",
				ec.path, ec.lineOf(fmt.Sprintf("site[%d]", i)), i, dest))
		}
		for j, h := range s.Hosts {
			if slices.ContainsFunc(hosts, func(n string) bool { return strings.EqualFold(n, h) }) {
				out = append(out, fmt.Sprintf("%s:%d: host %q is already served by site[%d]%s",
					ec.path, ec.lineOf(fmt.Sprintf("site[%d].hosts[%d]", i, j)), h, i, dest))
			}
		}
	}
	if len(ec.cfg.Sites) == 0 && len(ec.cfg.Apps) > 0 && len(hosts) == 0 {
		out = append(out, fmt.Sprintf("%s:%d: the app %q answers every host name (the file has no [[site]]); pass --domain NAME for the new project's site",
			ec.path, ec.lineOf(ec.appKey(0)), ec.cfg.Apps[0].Name))
	}
	return out
}

// siteDestination says where site i sends requests, for a conflict
// message: ", which sends them to the app "shop"".
func (ec *existingConfig) siteDestination(i int) string {
	for _, r := range ec.cfg.Sites[i].Routes {
		if name, ok := ec.cfg.routeApp(r); ok && name != "" {
			return fmt.Sprintf(" (the app %q)", name)
		}
	}
	return ""
}

// appName chooses the new app's name: --name, else one derived from the
// project (its directory's name; for a project without manage.py, a
// packaged application, its settings' top package), made unique among the
// file's apps by a number.
func (ec *existingConfig) appName(p *supervisor.Project, asked string) (string, error) {
	taken := func(n string) bool { return ec != nil && ec.cfg.appNamed(n) != nil }
	if asked != "" {
		if !processNamePattern.MatchString(asked) {
			return "", fmt.Errorf("--name %q: use lowercase letters, digits, '-' and '_' (at most 32), starting with a letter or digit", asked)
		}
		if taken(asked) {
			return "", fmt.Errorf("--name %q: %s already has an app of that name; choose another", asked, ec.path)
		}
		return asked, nil
	}
	base := projectName(p)
	name := base
	for n := 2; taken(name); n++ {
		suffix := "-" + strconv.Itoa(n)
		name = base[:min(len(base), 32-len(suffix))] + suffix
	}
	return name, nil
}

// projectName derives an app's name from its project.
func projectName(p *supervisor.Project) string {
	raw := filepath.Base(p.Dir)
	if !p.HasManage {
		if top, _, _ := strings.Cut(p.SettingsModule, "."); top != "" {
			raw = top
		}
	}
	var b strings.Builder
	for _, r := range strings.ToLower(raw) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_' || r == '-':
			b.WriteRune(r)
		case b.Len() > 0:
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-_")
	if len(name) > 32 {
		name = strings.Trim(name[:32], "-_")
	}
	if name == "" || !processNamePattern.MatchString(name) {
		return defaultAppName
	}
	return name
}

// errInitEdited is returned when the project's app is in the file but
// not as init wrote it (or not in a block of init's at all).
var errInitEdited = errors.New("edited since init wrote it")

// addProject returns the file's text with the project's block: its own
// untouched block replaced (or, with force, its edited one), else the
// block appended, after turning a single [app] into [[app]] (and writing
// out its generated site). name is the app's name in the new block.
func (ec *existingConfig) addProject(block func(name string) string, idx int, name string, force bool) (string, error) {
	lines := slices.Clone(ec.lines)
	if idx >= 0 {
		b := ec.blockOf(ec.cfg.Apps[idx].Name)
		if b == nil {
			return "", fmt.Errorf("%s:%d: the app %q already runs %s, written by hand (not in a block of init's): %w; edit it there, or remove it and run init again",
				ec.path, ec.lineOf(ec.appKey(idx)), ec.cfg.Apps[idx].Name, ec.cfg.Apps[idx].Dir, errInitEdited)
		}
		if !b.untouched && !force {
			return "", fmt.Errorf("%s:%d-%d: the app %q for %s was %w; edit it there, or pass --force to replace init's block (the file is kept as %s.bak)",
				ec.path, b.start+1, b.end+1, b.name, ec.cfg.Apps[idx].Dir, errInitEdited, ec.path)
		}
		repl := strings.SplitAfter(block(b.name), "\n")
		repl = repl[:len(repl)-1]
		lines = slices.Concat(lines[:b.start], repl, lines[b.end+1:])
		return strings.Join(lines, ""), nil
	}
	var inserts []struct {
		at   int
		text string
	}
	if ec.single && len(ec.cfg.Apps) == 1 {
		if ec.header < 0 {
			return "", fmt.Errorf("%s: the app is written with dotted keys (app.dir = …) or as an inline table; write it as an [app] table, then run init again", ec.path)
		}
		lines[ec.header] = strings.Replace(lines[ec.header], "[app]", "[[app]]", 1)
		if _, named := ec.keys["app.name"]; !named {
			inserts = append(inserts, struct {
				at   int
				text string
			}{ec.header + 1, "# Named by `frontdoor init` when a second app joined: a route's\n# upstream = \"app\" still means this one.\nname = \"app\"\n"})
		}
	}
	if !ec.single && len(ec.cfg.Apps) == 1 {
		if _, named := ec.keys["app[0].name"]; !named {
			if l, ok := ec.keys["app[0]"]; ok {
				inserts = append(inserts, struct {
					at   int
					text string
				}{l, "name = \"app\"\n"})
			}
		}
	}
	for i := len(inserts) - 1; i >= 0; i-- {
		lines = slices.Insert(lines, inserts[i].at, inserts[i].text)
	}
	text := strings.Join(lines, "")
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if len(ec.cfg.Sites) == 0 && len(ec.cfg.Apps) == 1 {
		text += "\n" + generatedSiteText(&ec.cfg.Apps[0])
	}
	return text + "\n" + block(name), nil
}

// generatedSiteText writes out the site frontdoor generates for a single
// app when the file has no [[site]]: once another app has its site, the
// first one needs its own.
func generatedSiteText(a *AppConfig) string {
	var b strings.Builder
	b.WriteString("# The site frontdoor generated for the app named \"app\" while it was the\n")
	b.WriteString("# only one, written out by `frontdoor init` when a second app joined: every\n")
	b.WriteString("# host name the other sites do not name.\n[[site]]\n\n  [[site.route]]\n  path = \"/\"\n  app = \"app\"\n")
	for _, loc := range a.locations() {
		if loc.url == "" || loc.root == "" {
			continue
		}
		fmt.Fprintf(&b, "\n  [[site.route]]\n  path = %s\n  static = %s\n", tomlString(loc.url), tomlString(loc.root))
		if loc.internal {
			b.WriteString("  internal = true\n")
		}
	}
	return b.String()
}

// configDiff is the unified diff between the old and the new text.
func configDiff(path string, old, cur string) string {
	return udiff.Unified(path, path, old, cur)
}

// initPlan is what init writes: the whole text, and the diff from what
// was there ("" for a new file).
type initPlan struct {
	text, diff string
	name       string // the app's name
	appended   bool   // a new block at the end of an existing file
}

// planInit decides what init writes to cfgPath for the project: a new
// file (none yet, the package's placeholder, or a file init wrote before
// [[app]] for this very project and nobody edited — or any file of this
// single project with force), or the existing file with the project's
// block added or replaced. It refuses a host another site serves, naming
// the site and its line.
func planInit(cfgPath string, data []byte, exists bool, p *supervisor.Project, domains []string, opts InitOptions, r *runAs, now time.Time) (*initPlan, error) {
	fresh := func(name string) *initPlan {
		return &initPlan{text: initConfigText(p, name, domains, r, now), name: name}
	}
	if !exists || unconfiguredText(cfgPath, data) {
		name, err := (*existingConfig)(nil).appName(p, opts.Name)
		if err != nil {
			return nil, err
		}
		return fresh(name), nil
	}
	ec, err := readExisting(cfgPath, data)
	if err != nil {
		return nil, err
	}
	idx := ec.appFor(p.Dir, p.SettingsModule)
	if idx >= 0 && len(ec.cfg.Apps) == 1 && ec.blockOf(ec.cfg.Apps[0].Name) == nil && (untouchedInitText(data) || opts.Force) {
		// A file init wrote for this project before [[app]] (or any
		// file of this one project, with --force): written anew.
		name, err := (*existingConfig)(nil).appName(p, opts.Name)
		if err != nil {
			return nil, err
		}
		pl := fresh(name)
		pl.diff = configDiff(cfgPath, string(data), pl.text)
		return pl, nil
	}
	name := ""
	if idx < 0 {
		if conflicts := ec.hostConflicts(domains); len(conflicts) > 0 {
			return nil, fmt.Errorf("the new project's site would take host names another site serves:\n  %s\n(init adds, it never takes a host from another site: remove it there first, or give this project other names with --domain)",
				strings.Join(conflicts, "\n  "))
		}
		if name, err = ec.appName(p, opts.Name); err != nil {
			return nil, err
		}
	} else if opts.Name != "" && opts.Name != ec.cfg.Apps[idx].Name {
		return nil, fmt.Errorf("%s:%d: the project is the app %q already; --name does not rename it (edit the file)", cfgPath, ec.lineOf(ec.appKey(idx)), ec.cfg.Apps[idx].Name)
	}
	text, err := ec.addProject(func(n string) string { return initAppBlock(p, n, domains, r, now) }, idx, name, opts.Force)
	if err != nil {
		return nil, err
	}
	if idx >= 0 {
		name = ec.cfg.Apps[idx].Name
	}
	return &initPlan{text: text, diff: configDiff(cfgPath, string(data), text), name: name, appended: idx < 0}, nil
}

// unconfiguredText reports a configuration that serves no site and runs
// no application, such as the one the package installs.
func unconfiguredText(path string, data []byte) bool {
	c, err := ParseConfig(path, data)
	return err == nil && len(c.Sites) == 0 && len(c.Apps) == 0
}

// untouchedInitText reports a whole file init wrote before [[app]] that
// nobody edited since (its last line is the checksum of all above).
func untouchedInitText(data []byte) bool {
	body, last, ok := cutLastLine(data)
	if !ok || !bytes.HasPrefix(last, []byte(initChecksumPrefix)) {
		return false
	}
	return blockChecksumLine(string(bytes.TrimSuffix(body, []byte("\n")))) == string(last)+"\n"
}
