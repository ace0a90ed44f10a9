package supervisor

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// envName is what a variable name may look like in an env file.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// inheritedEnvBlocked lists variables of frontdoor's own environment that a
// child must not see: systemd's protocol variables are addressed to
// frontdoor (gunicorn would answer NOTIFY_SOCKET with its own READY=1, and
// honours LISTEN_FDS).
var inheritedEnvBlocked = map[string]bool{
	"NOTIFY_SOCKET":  true,
	"LISTEN_PID":     true,
	"LISTEN_FDS":     true,
	"LISTEN_FDNAMES": true,
	"WATCHDOG_PID":   true,
	"WATCHDOG_USEC":  true,
}

// ParseEnvFile reads KEY=VALUE lines in the dotenv style most Django
// projects use: blank lines and lines starting with '#' are skipped, an
// "export " prefix is allowed, a value may be 'single-quoted' (literal) or
// "double-quoted" (\n, \t, \", \\ and \$ escapes), and an unquoted value
// ends at " #". No variable expansion. Errors name the line.
func ParseEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("env file %s: not a regular file", path)
	}
	// An env file is a few lines; a huge one is a mistake, not a reason
	// to read forever.
	data, err := io.ReadAll(io.LimitReader(f, maxEnvFile+1))
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	if len(data) > maxEnvFile {
		return nil, fmt.Errorf("env file %s: larger than %d bytes", path, maxEnvFile)
	}
	env, err := parseEnv(data)
	if err != nil {
		return nil, fmt.Errorf("env file %s: %w", path, err)
	}
	return env, nil
}

func parseEnv(data []byte) ([]string, error) {
	var env []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, raw, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || !envName.MatchString(name) {
			return nil, fmt.Errorf("line %d: want NAME=VALUE", n)
		}
		value, err := envValue(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", n, name, err)
		}
		env = append(env, name+"="+value)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return env, nil
}

// envValue decodes the right-hand side of one env file line.
func envValue(raw string) (string, error) {
	switch {
	case strings.HasPrefix(raw, "'"):
		end := strings.IndexByte(raw[1:], '\'')
		if end < 0 {
			return "", fmt.Errorf("unterminated single quote")
		}
		return raw[1 : 1+end], trailingComment(raw[2+end:])
	case strings.HasPrefix(raw, `"`):
		var b strings.Builder
		for i := 1; i < len(raw); i++ {
			switch c := raw[i]; c {
			case '"':
				return b.String(), trailingComment(raw[i+1:])
			case '\\':
				if i+1 == len(raw) {
					return "", fmt.Errorf("backslash at end of value")
				}
				i++
				switch e := raw[i]; e {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				default: // \" \\ \$ and anything else: the character itself
					b.WriteByte(e)
				}
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("unterminated double quote")
	default:
		if i := strings.Index(raw, " #"); i >= 0 {
			raw = raw[:i]
		}
		return strings.TrimSpace(raw), nil
	}
}

// trailingComment accepts what may follow a closing quote: spaces and a comment.
func trailingComment(rest string) error {
	rest = strings.TrimSpace(rest)
	if rest == "" || strings.HasPrefix(rest, "#") {
		return nil
	}
	return fmt.Errorf("unexpected %q after the closing quote", rest)
}

// validateEnv checks that each entry is NAME=VALUE.
func validateEnv(env []string) error {
	for _, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || !envName.MatchString(name) {
			return fmt.Errorf("%q is not NAME=VALUE", kv)
		}
	}
	return nil
}

// mergeEnv returns base with each later layer's NAME=VALUE overriding
// earlier ones, in a stable order (first appearance).
func mergeEnv(layers ...[]string) []string {
	index := map[string]int{}
	var out []string
	for _, layer := range layers {
		for _, kv := range layer {
			name, _, _ := strings.Cut(kv, "=")
			if i, ok := index[name]; ok {
				out[i] = kv
				continue
			}
			index[name] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// inheritedEnv is frontdoor's own environment minus systemd's protocol variables.
func inheritedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !inheritedEnvBlocked[name] {
			env = append(env, kv)
		}
	}
	return env
}

// childEnv builds the environment of a child: frontdoor's own (filtered),
// then the env file, then the configured extras, then per-process extras.
// PYTHONUNBUFFERED is set so that log lines arrive as they are written.
func (c *Config) childEnv(extra ...string) ([]string, error) {
	var fileEnv []string
	if c.EnvFile != "" {
		var err error
		if fileEnv, err = ParseEnvFile(c.EnvFile); err != nil {
			return nil, err
		}
	}
	env := mergeEnv(inheritedEnv(), []string{"PYTHONUNBUFFERED=1"}, fileEnv, c.Env, extra)
	if len(c.PythonPath) > 0 {
		path := strings.Join(c.PythonPath, ":")
		if old, ok := lookupEnv(env, "PYTHONPATH"); ok && old != "" {
			path += ":" + old
		}
		env = mergeEnv(env, []string{"PYTHONPATH=" + path})
	}
	if c.Settings != "" {
		env = mergeEnv(env, []string{"DJANGO_SETTINGS_MODULE=" + c.Settings})
	}
	return env, nil
}

// withProjectEnv adds what the inspection found to a child's environment,
// as os.environ.setdefault would: DJANGO_SETTINGS_MODULE (the settings the
// web process loads, so that release steps and workers load the same) and
// the other variables the application's module sets for itself.
func withProjectEnv(env []string, p *Project) []string {
	if p == nil {
		return env
	}
	var add []string
	if p.SettingsModule != "" && !hasEnv(env, "DJANGO_SETTINGS_MODULE") {
		add = append(add, "DJANGO_SETTINGS_MODULE="+p.SettingsModule)
	}
	keys := make([]string, 0, len(p.EntryEnv))
	for k := range p.EntryEnv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !hasEnv(env, k) && !hasEnv(add, k) {
			add = append(add, k+"="+p.EntryEnv[k])
		}
	}
	return append(env, add...)
}

// maxEnvFile bounds an env file.
const maxEnvFile = 1 << 20
