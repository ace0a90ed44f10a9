package appliance

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// durationKeys are the TOML names of every Duration field of Config, found
// by reflection so that a new one is covered by itself.
func durationKeys() map[string]bool {
	keys := map[string]bool{}
	durType := reflect.TypeFor[Duration]()
	var walk func(t reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft == durType && name != "" {
				keys[name] = true
				continue
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Config]())
	return keys
}

// durationTypeError finds a duration written as something other than a
// string ("keepalive = 75"): go-toml reports that without a position, so
// the file is read again to name the key and its line.
func (c *Config) durationTypeError(data []byte) *ConfigError {
	keys := durationKeys()
	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = strings.Join(keyParts(e.Key()), ".")
		case unstable.KeyValue:
			parts := keyParts(e.Key())
			name := parts[len(parts)-1]
			v := e.Value()
			if !keys[strings.ToLower(name)] || v.Kind == unstable.String {
				continue
			}
			key := strings.Join(parts, ".")
			if table != "" {
				key = table + "." + key
			}
			return &ConfigError{File: c.path, Line: p.Shape(v.Raw).Start.Line, Key: key,
				Msg: fmt.Sprintf("a duration must be a string, not %s", v.Kind),
				Fix: fmt.Sprintf(`write it in quotes with a unit, e.g. %s = "%ss"`, name, string(v.Data))}
		}
	}
	return nil
}
