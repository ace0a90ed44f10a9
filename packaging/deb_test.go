package packaging

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// TestLintian runs lintian as pedantically as it goes: any error or warning
// fails; informational and pedantic tags are logged. The overrides shipped
// in lintian/frontdoor explain each exception.
func TestLintian(t *testing.T) {
	lintian := needTool(t, "lintian", "lintian")
	b := debs(t)
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(lintian, "-I", "-E", "--pedantic", "--tag-display-limit", "0", "--fail-on", "none", b.paths[arch])
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("lintian: %v\n%s", err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				switch {
				case strings.HasPrefix(line, "E: "), strings.HasPrefix(line, "W: "):
					t.Errorf("lintian: %s", line)
				case regexp.MustCompile(`^[A-Z]: `).MatchString(line):
					t.Logf("lintian: %s", line)
				}
			}
		})
	}
}

var (
	extractMu sync.Mutex
	extracted = map[string]string{}
)

// extract unpacks a package's files and control area once and returns the
// directory; the control files are in DEBIAN/.
func extract(t *testing.T, arch string) string {
	t.Helper()
	b := debs(t)
	extractMu.Lock()
	defer extractMu.Unlock()
	if dir, ok := extracted[arch]; ok {
		return dir
	}
	dir := filepath.Join(workDir, "extract-"+arch)
	run(t, "dpkg-deb", "-R", b.paths[arch], dir)
	extracted[arch] = dir
	return dir
}

// TestDebContents checks every file the package ships, with its owner and
// mode, and that nothing else is in it.
func TestDebContents(t *testing.T) {
	b := debs(t)
	want := map[string]string{
		"./usr/bin/frontdoor":                           "-rwxr-xr-x",
		"./lib/systemd/system/frontdoor.service":        "-rw-r--r--",
		"./lib/systemd/system/frontdoor-http.socket":    "-rw-r--r--",
		"./lib/systemd/system/frontdoor-https.socket":   "-rw-r--r--",
		"./etc/frontdoor/frontdoor.toml":                "-rw-r--r--",
		"./usr/share/man/man1/frontdoor.1.gz":           "-rw-r--r--",
		"./usr/share/doc/frontdoor/copyright":           "-rw-r--r--",
		"./usr/share/doc/frontdoor/changelog.Debian.gz": "-rw-r--r--",
		"./usr/share/doc/frontdoor/README.Debian":       "-rw-r--r--",
		"./usr/share/lintian/overrides/frontdoor":       "-rw-r--r--",
	}
	optional := map[string]bool{"./usr/share/doc/frontdoor/config.md": true}
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			listing := run(t, "dpkg-deb", "-c", b.paths[arch])
			seen := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
				f := strings.Fields(line)
				if len(f) < 6 {
					t.Fatalf("odd listing line %q", line)
				}
				mode, owner, path := f[0], f[1], f[5]
				if owner != "root/root" {
					t.Errorf("%s owned by %s, want root/root", path, owner)
				}
				if strings.HasPrefix(mode, "d") {
					if mode != "drwxr-xr-x" {
						t.Errorf("directory %s has mode %s", path, mode)
					}
					continue
				}
				seen[path] = true
				wantMode, ok := want[path]
				switch {
				case optional[path]:
				case !ok:
					t.Errorf("unexpected file %s in the package", path)
				case mode != wantMode:
					t.Errorf("%s has mode %s, want %s", path, mode, wantMode)
				}
			}
			for path := range want {
				if !seen[path] {
					t.Errorf("%s missing from the package", path)
				}
			}
		})
	}
}

// TestDebControl checks the control fields, the conffile list and that the
// maintainer scripts are the ones in scripts/.
func TestDebControl(t *testing.T) {
	b := debs(t)
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			fields := map[string]string{}
			for _, f := range []string{"Package", "Version", "Architecture", "Depends", "Maintainer", "Section", "Priority", "Description"} {
				fields[f] = strings.TrimSpace(run(t, "dpkg-deb", "-f", b.paths[arch], f))
			}
			wantFields := map[string]string{
				"Package":      "frontdoor",
				"Version":      b.version + "-1",
				"Architecture": arch,
				"Section":      "web",
				"Priority":     "optional",
			}
			for k, v := range wantFields {
				if fields[k] != v {
					t.Errorf("%s: %q, want %q", k, fields[k], v)
				}
			}
			for _, dep := range []string{"adduser", "procps"} {
				if !strings.Contains(fields["Depends"], dep) {
					t.Errorf("Depends %q lacks %s", fields["Depends"], dep)
				}
			}
			if fields["Maintainer"] == "" || fields["Description"] == "" {
				t.Errorf("Maintainer %q, Description %q: both required", fields["Maintainer"], fields["Description"])
			}

			dir := extract(t, arch)
			conffiles, err := os.ReadFile(filepath.Join(dir, "DEBIAN", "conffiles"))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(conffiles); got != "/etc/frontdoor/frontdoor.toml\n" {
				t.Errorf("conffiles = %q, want only /etc/frontdoor/frontdoor.toml", got)
			}
			for _, script := range []string{"postinst", "prerm", "postrm"} {
				got, err := os.ReadFile(filepath.Join(dir, "DEBIAN", script))
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(filepath.Join("scripts", script))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Errorf("DEBIAN/%s differs from scripts/%s", script, script)
				}
				if st, err := os.Stat(filepath.Join(dir, "DEBIAN", script)); err != nil || st.Mode().Perm() != 0o755 {
					t.Errorf("DEBIAN/%s: mode %v, %v; want 0755", script, st.Mode(), err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "DEBIAN", "preinst")); err == nil {
				t.Error("unexpected preinst")
			}
		})
	}
}

// TestDefaultConfig pins the shipped configuration to the agreed text.
func TestDefaultConfig(t *testing.T) {
	dir := extract(t, "amd64")
	got, err := os.ReadFile(filepath.Join(dir, "etc/frontdoor/frontdoor.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# frontdoor configuration. Run `frontdoor init /path/to/django/project` to generate one.\n" +
		"# Every key is documented in /usr/share/doc/frontdoor/config.md.\n" +
		"[server]\n" +
		"# listen addresses come from systemd's sockets (frontdoor-http.socket, frontdoor-https.socket)\n"
	if string(got) != want {
		t.Errorf("frontdoor.toml:\n%s\nwant:\n%s", got, want)
	}
}

// gunzipN reads a gzip file and checks it was written with `gzip -9n`
// (no name, no timestamp), as Debian wants for reproducible packages.
func gunzipN(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("%s carries name %q and time %v: want gzip -n", path, zr.Name, zr.ModTime)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(data)
}

// TestManPage renders the man page and looks for every command's synopsis.
func TestManPage(t *testing.T) {
	man := needTool(t, "man", "man-db")
	dir := extract(t, "amd64")
	page := filepath.Join(dir, "usr/share/man/man1/frontdoor.1.gz")
	gunzipN(t, page)
	cmd := exec.Command(man, "--warnings", "-l", page)
	cmd.Env = append(os.Environ(), "MANWIDTH=300", "LC_ALL=C.UTF-8", "MAN_KEEP_FORMATTING=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("man: %v\n%s", err, out)
	}
	text := string(out)
	for _, synopsis := range []string{
		"run [--config FILE]",
		"check [FILE | --config FILE]",
		"version",
		"init DJANGO_DIR [--domain NAME]... [--config PATH]",
		"status [--json]",
		"deploy",
		"reload",
		"certs [--json]",
		"trust",
		"file-server --listen ADDR --root DIR [--workers N] [--tls-cert F --tls-key F | --tls local]",
		"reverse-proxy --listen ADDR --to UPSTREAM [--static PREFIX=DIR]... [--workers N] [--tls-cert F --tls-key F | --tls local]",
	} {
		// A short command shares its line with the description.
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(synopsis) + `(\s|$)`).MatchString(text) {
			t.Errorf("man page lacks the command line %q", synopsis)
		}
	}
	for _, warning := range []string{"warning", "can't break line", "cannot adjust"} {
		if strings.Contains(text, warning) {
			t.Errorf("man reports %q:\n%s", warning, text)
		}
	}
}

// TestChangelog checks the changelog names the package's version.
func TestChangelog(t *testing.T) {
	b := debs(t)
	dir := extract(t, "amd64")
	text := gunzipN(t, filepath.Join(dir, "usr/share/doc/frontdoor/changelog.Debian.gz"))
	first, _, _ := strings.Cut(text, "\n")
	if want := "frontdoor (" + b.version + "-1) unstable; urgency=medium"; first != want {
		t.Errorf("changelog starts %q, want %q", first, want)
	}
	if !regexp.MustCompile(`(?m)^ -- .+ <.+>  \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$`).MatchString(text) {
		t.Errorf("changelog has no valid trailer line:\n%s", text)
	}
}

// TestBinary checks the packaged program: the right architecture, static,
// built without cgo, with -trimpath and the version stamped in.
func TestBinary(t *testing.T) {
	b := debs(t)
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			path := filepath.Join(extract(t, arch), "usr/bin/frontdoor")
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != machines[arch] {
				t.Errorf("ELF machine %v, want %v", f.Machine, machines[arch])
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("binary has an ELF interpreter: not statically linked")
				}
			}
			info, err := buildinfo.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || settings["GOARCH"] != arch {
				t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q GOARCH=%q", settings["CGO_ENABLED"], settings["-trimpath"], settings["GOARCH"])
			}
			// -trimpath keeps -ldflags out of the build info: look for the
			// string that -X main.version=… put into the data.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(b.version)) {
				t.Errorf("binary does not contain its version %s", b.version)
			}
			if arch != runtime.GOARCH {
				return
			}
			out, err := exec.Command(path, "version").CombinedOutput()
			if err != nil {
				t.Fatalf("`frontdoor version` of the packaged binary: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), b.version) {
				t.Errorf("`frontdoor version` printed %q, want it to contain %s", out, b.version)
			}
		})
	}
}

// TestCopyright checks the DEP-5 copyright file has a paragraph for the Go
// standard library and every module compiled into the binary.
func TestCopyright(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			dir := extract(t, arch)
			text, err := os.ReadFile(filepath.Join(dir, "usr/share/doc/frontdoor/copyright"))
			if err != nil {
				t.Fatal(err)
			}
			info, err := buildinfo.ReadFile(filepath.Join(dir, "usr/bin/frontdoor"))
			if err != nil {
				t.Fatal(err)
			}
			var files []string
			sc := bufio.NewScanner(strings.NewReader(string(text)))
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), "Files: "); ok {
					files = append(files, rest)
				}
			}
			want := []string{"*", "go/src/*"}
			for _, dep := range info.Deps {
				want = append(want, "vendor/"+dep.Path+"/*")
			}
			sort.Strings(files)
			sort.Strings(want)
			if strings.Join(files, "\n") != strings.Join(want, "\n") {
				t.Errorf("Files paragraphs:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
			}
			if !strings.HasPrefix(string(text), "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n") {
				t.Error("copyright is not in the machine-readable format")
			}
		})
	}
}

// TestDebcopyrightTool runs the unit tests of the copyright generator,
// which lives in the separate packaging/tools module.
func TestDebcopyrightTool(t *testing.T) {
	out, err := exec.Command("go", "-C", "tools", "test", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go test in packaging/tools: %v\n%s", err, out)
	}
	out, err = exec.Command("go", "-C", "tools", "vet", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go vet in packaging/tools: %v\n%s", err, out)
	}
}
