package appliance

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// typeErrors checks a decoded document against Config's types, the way a
// person reads it: every unknown key and every value of the wrong type is a
// ConfigError in the user's words ("server.workers: expected a number, got
// "four""). Each offending key is deleted from doc, so that the rest can
// still be decoded and validated and every problem of the file is reported
// at once, not only the first.
func (c *Config) typeErrors(doc map[string]any) ConfigErrors {
	var errs ConfigErrors
	c.checkTable(doc, reflect.TypeFor[Config](), "", &errs)
	return errs
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// A shapedValue is a configuration type whose TOML form is not one Go
// kind (server.http2: true, false or a list): checkValue asks it what it
// takes, and the decoder's UnmarshalTOML decodes it.
type shapedValue interface {
	checkShape(v any) (want, fix string, ok bool)
}

var shapedType = reflect.TypeFor[shapedValue]()

// checkTable checks the keys of one table against struct type t.
func (c *Config) checkTable(table map[string]any, t reflect.Type, prefix string, errs *ConfigErrors) {
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable order; the caller sorts by line
	for _, k := range keys {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		f, ok := fieldByTOMLName(t, k)
		if !ok {
			*errs = append(*errs, &ConfigError{File: c.path, Line: c.lineOf(key), Key: key,
				Msg: "unknown key", Fix: "remove it or check its spelling against docs/config.md"})
			delete(table, k)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		canonical := name
		if prefix != "" {
			canonical = prefix + "." + name
		}
		if !c.checkValue(table[k], f.Type, canonical, name, errs) {
			delete(table, k)
		}
	}
}

// fieldByTOMLName finds the field a key decodes into: its exact name, else
// one that matches without regard to case (as the decoder does).
func fieldByTOMLName(t reflect.Type, key string) (reflect.StructField, bool) {
	var folded reflect.StructField
	found := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		if name == key {
			return f, true
		}
		if !found && strings.EqualFold(name, key) {
			folded, found = f, true
		}
	}
	return folded, found
}

// checkValue checks one value against type t; key names it in messages
// ("site[0].route[1].static") and name is its last part, for the fix. It
// reports false when the value cannot be decoded (and must be dropped).
func (c *Config) checkValue(v any, t reflect.Type, key, name string, errs *ConfigErrors) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func(want, fix string) bool {
		*errs = append(*errs, &ConfigError{File: c.path, Line: c.lineOf(key), Key: key,
			Msg: fmt.Sprintf("expected %s, got %s", want, describeValue(v)), Fix: fix})
		return false
	}
	if reflect.PointerTo(t).Implements(shapedType) {
		if want, fix, ok := reflect.New(t).Interface().(shapedValue).checkShape(v); !ok {
			return bad(want, fix)
		}
		return true
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		s, ok := v.(string)
		if !ok {
			if t == reflect.TypeFor[Duration]() {
				return bad("a duration in quotes", fmt.Sprintf(`write it in quotes with a unit, e.g. %s = "%vs"`, name, v))
			}
			return bad("a string in quotes", fmt.Sprintf(`write it in quotes, e.g. %s = "…"`, name))
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			*errs = append(*errs, &ConfigError{File: c.path, Line: c.lineOf(key), Key: key,
				Msg: err.Error(), Fix: "see docs/config.md for the key's format and an example"})
			return false
		}
		return true
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			return bad("a string in quotes", fmt.Sprintf(`write it in quotes, e.g. %s = "%v"`, name, v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return bad("true or false", fmt.Sprintf("write %s = true or %s = false, without quotes", name, name))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, ok := v.(int64); !ok {
			return bad("a number", fmt.Sprintf("write a number without quotes, e.g. %s = 4", name))
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, float64:
		default:
			return bad("a number", fmt.Sprintf("write a number without quotes, e.g. %s = 2.5", name))
		}
	case reflect.Slice:
		switch list := v.(type) {
		case []any:
			ok := true
			for i, elem := range list {
				if _, isTable := elem.(map[string]any); isStructType(t.Elem()) && !isTable {
					v = elem // name the element that is not a table
					return bad("tables", fmt.Sprintf("write each one as a [[%s]] table", key))
				}
				if !c.checkValue(elem, t.Elem(), fmt.Sprintf("%s[%d]", key, i), name, errs) {
					ok = false
				}
			}
			// A table whose bad keys were dropped still decodes; a list
			// with an element of the wrong kind does not.
			return ok || isStructType(t.Elem())
		case map[string]any:
			// "[[site.route]]" with no "[[site]]" makes site a table: the
			// decoder takes it as the list's one element.
			if isStructType(t.Elem()) {
				return c.checkValue(list, t.Elem(), key+"[0]", name, errs)
			}
		}
		if isStructType(t.Elem()) {
			return bad("tables", fmt.Sprintf("write each one as a [[%s]] table", key))
		}
		return bad("a list", fmt.Sprintf(`write a list in brackets, e.g. %s = ["…"]`, name))
	case reflect.Struct:
		table, ok := v.(map[string]any)
		if !ok {
			return bad("a table", fmt.Sprintf("write it as a [%s] table", key))
		}
		c.checkTable(table, t, key, errs)
	}
	return true
}

func isStructType(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler) && !reflect.PointerTo(t).Implements(shapedType)
}

// describeValue says what a value is, as written in the file.
func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	case bool, int64, float64:
		return fmt.Sprint(x)
	}
	return fmt.Sprintf("%v (a date or time)", v)
}
