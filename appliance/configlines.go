package appliance

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyLines maps every key and table in a TOML document to the line it is
// on. Keys are written as paths with array-of-table indexes:
// "server.workers", "site[1].route[0].static". It never fails: on a syntax
// error it returns what it read so far (the decoder reports the error).
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	counts := map[string]int{} // array-of-tables seen so far, by path
	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts := keyParts(e.Key())
			table = resolveTable(parts, counts, e.Kind == unstable.ArrayTable)
			line := headerLine(&p, e)
			lines[table] = line
			// Tables a dotted header makes implicitly ("[[app.process]]"
			// with no "[app]") are located at that header.
			for i := strings.LastIndexByte(table, '.'); i > 0; i = strings.LastIndexByte(table[:i], '.') {
				if _, ok := lines[table[:i]]; !ok {
					lines[table[:i]] = line
				}
			}
			if e.Kind == unstable.ArrayTable {
				// the array itself points at its first element
				bare := table[:strings.LastIndexByte(table, '[')]
				if _, ok := lines[bare]; !ok {
					lines[bare] = lines[table]
				}
			}
		case unstable.KeyValue:
			path := strings.Join(keyParts(e.Key()), ".")
			if table != "" {
				path = table + "." + path
			}
			lines[path] = p.Shape(e.Raw).Start.Line
			if e.Raw.Length == 0 {
				lines[path] = p.Shape(e.Value().Raw).Start.Line
			}
		}
	}
	return lines
}

// headerLine is the line of a table header: the expression of a header
// carries no range of its own, its first key does.
func headerLine(p *unstable.Parser, e *unstable.Node) int {
	it := e.Key()
	if it.Next() {
		return p.Shape(it.Node().Raw).Start.Line
	}
	return p.Shape(e.Raw).Start.Line
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// resolveTable turns a table header into an indexed path: each part that
// names an array of tables gets the index of its current element; the last
// part of an [[array]] header gets a new index.
func resolveTable(parts []string, counts map[string]int, array bool) string {
	path := ""
	for i, part := range parts {
		if path != "" {
			path += "."
		}
		path += part
		last := i == len(parts)-1
		if last && array {
			n := counts[path]
			counts[path] = n + 1
			path += "[" + strconv.Itoa(n) + "]"
		} else if n, ok := counts[path]; ok {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}
