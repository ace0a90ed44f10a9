package appliance

import (
	"fmt"
	"sort"
	"strings"
)

// ConfigError is one problem in a configuration file, located by file,
// line and key, with what to do about it.
type ConfigError struct {
	File string
	Line int // 0 when unknown (a missing key)
	Key  string
	Msg  string
	Fix  string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString(" (fix: ")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// ConfigErrors is every problem found in one file.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sortByLine orders the problems as the file reads; those without a line
// come last, in the order they were found.
func (es ConfigErrors) sortByLine() {
	sort.SliceStable(es, func(i, j int) bool {
		li, lj := es[i].Line, es[j].Line
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
}

// cover reports whether key, a problem found after decoding, follows from
// one of es (a value dropped for its type leaves its route, say, with
// nothing to serve): only the first cause is worth reporting.
func (es ConfigErrors) cover(key string) bool {
	for _, e := range es {
		if key == e.Key || strings.HasPrefix(e.Key, key+".") || strings.HasPrefix(e.Key, key+"[") ||
			strings.HasPrefix(key, e.Key+".") || strings.HasPrefix(key, e.Key+"[") {
			return true
		}
	}
	return false
}

// problem records an error about key; the line comes from the key index
// (the key's own line, or its table's when the key is absent).
func (c *Config) problem(key, msg, fix string) *ConfigError {
	return &ConfigError{File: c.path, Line: c.lineOf(key), Key: key, Msg: msg, Fix: fix}
}

// lineOf finds the line of key, or of the nearest enclosing table that is
// in the file.
func (c *Config) lineOf(key string) int {
	for k := key; k != ""; {
		if l, ok := c.lines[k]; ok {
			return l
		}
		// Written in another case ("[App]"), or under a table TOML made
		// implicitly ("[[site.route]]" without "[[site]]": the decoder's
		// site[0] is the file's site).
		if l, ok := c.normLines()[normKey(k)]; ok {
			return l
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// normKey folds case and drops "[0]": the decoder matches keys without
// regard to case, and an implicit table is the decoder's first element.
func normKey(k string) string {
	return strings.ReplaceAll(strings.ToLower(k), "[0]", "")
}

// normLines indexes the file's keys by normKey (the first occurrence).
func (c *Config) normLines() map[string]int {
	if c.linesNorm == nil {
		c.linesNorm = map[string]int{}
		for k, l := range c.lines {
			n := normKey(k)
			if old, ok := c.linesNorm[n]; !ok || l < old {
				c.linesNorm[n] = l
			}
		}
	}
	return c.linesNorm
}
