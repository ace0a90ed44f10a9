// Command debcopyright writes the machine-readable (DEP-5) copyright file of
// frontdoor's .deb: frontdoor's own license, then one paragraph for the Go
// standard library and for every module compiled into the binary, with the
// module's license text read from the module cache. A static Go binary
// contains all of that code, so its notices must ship with it.
//
// Usage:
//
//	debcopyright -binary PATH -contact "Name <mail>" [-license Apache-2.0] > copyright
//
// It fails on a module whose license it cannot classify, so that a new
// dependency is looked at by a person before it ships.
package main

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
)

func main() {
	binary := flag.String("binary", "", "the built frontdoor binary")
	contact := flag.String("contact", "", "Upstream-Contact")
	license := flag.String("license", "Apache-2.0", "frontdoor's own license (a Debian short name)")
	year := flag.Int("year", time.Now().Year(), "copyright year of frontdoor")
	flag.Parse()
	if *binary == "" || *contact == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, *binary, *contact, *license, *year); err != nil {
		fmt.Fprintln(os.Stderr, "debcopyright:", err)
		os.Exit(1)
	}
}

// run writes the whole copyright file.
func run(w io.Writer, binary, contact, ownLicense string, year int) error {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("read build info of %s: %w", binary, err)
	}
	goroot, err := goEnv("GOROOT")
	if err != nil {
		return err
	}
	modcache, err := goEnv("GOMODCACHE")
	if err != nil {
		return err
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
	fmt.Fprintf(&b, "Upstream-Name: frontdoor\n")
	fmt.Fprintf(&b, "Upstream-Contact: %s\n", contact)
	fmt.Fprintf(&b, "Comment: /usr/bin/frontdoor is a statically linked Go program. Besides\n"+
		" frontdoor's own code it contains the Go runtime and standard library\n"+
		" (%s) and the Go modules listed below, each under its own license;\n"+
		" their paths are those `go mod vendor` would give them.\n", info.GoVersion)

	own, err := licenseParagraph(ownLicense, "")
	if err != nil {
		return fmt.Errorf("frontdoor's license: %w", err)
	}
	fmt.Fprintf(&b, "\nFiles: *\nCopyright: %d The frontdoor authors\n%s", year, own)

	std, err := moduleParagraph("go/src/*", "The Go standard library and runtime, "+info.GoVersion, filepath.Join(goroot))
	if err != nil {
		return fmt.Errorf("Go standard library: %w", err)
	}
	b.WriteString(std)

	deps := info.Deps
	sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
	for _, dep := range deps {
		mod := dep
		if dep.Replace != nil {
			mod = dep.Replace
		}
		dir := mod.Path
		if !filepath.IsAbs(dir) {
			escaped, err := escapeModulePath(mod.Path)
			if err != nil {
				return err
			}
			dir = filepath.Join(modcache, escaped+"@"+mod.Version)
		}
		p, err := moduleParagraph("vendor/"+dep.Path+"/*", "Go module "+dep.Path+" "+mod.Version, dir)
		if err != nil {
			return fmt.Errorf("module %s %s: %w", dep.Path, mod.Version, err)
		}
		b.WriteString(p)
	}
	_, err = w.Write(b.Bytes())
	return err
}

// goEnv returns one value of `go env`.
func goEnv(name string) (string, error) {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// escapeModulePath applies the module cache's case encoding: an upper-case
// letter becomes '!' and its lower-case form.
func escapeModulePath(path string) (string, error) {
	var b strings.Builder
	for _, r := range path {
		switch {
		case r == '!' || r > unicode.MaxASCII:
			return "", fmt.Errorf("module path %q: unexpected character %q", path, r)
		case unicode.IsUpper(r):
			b.WriteByte('!')
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// licenseFileNames are the names tried, in order, in a module's root.
var licenseFileNames = []string{"LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING", "LICENSE-MIT"}

// moduleParagraph returns the Files paragraph for the code in dir.
func moduleParagraph(files, comment, dir string) (string, error) {
	var text []byte
	for _, name := range licenseFileNames {
		t, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			text = t
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	if text == nil {
		return "", fmt.Errorf("no license file in %s", dir)
	}
	notice, _ := os.ReadFile(filepath.Join(dir, "NOTICE"))
	short, err := classify(text)
	if err != nil {
		return "", fmt.Errorf("%s: %w", dir, err)
	}
	holders := copyrightLines(text, notice)
	if len(holders) == 0 {
		holders = []string{"The authors of " + strings.TrimSuffix(strings.TrimPrefix(files, "vendor/"), "/*")}
	}
	lic, err := licenseParagraph(short, string(text))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nFiles: %s\n", files)
	fmt.Fprintf(&b, "Copyright: %s\n", strings.Join(holders, "\n "))
	b.WriteString(lic)
	if len(bytes.TrimSpace(notice)) > 0 {
		fmt.Fprintf(&b, "Comment: %s. Its NOTICE file reads:\n%s", comment, indent(string(notice)))
	} else {
		fmt.Fprintf(&b, "Comment: %s.\n", comment)
	}
	return b.String(), nil
}

// commonLicenses are the short names whose text Debian ships in
// /usr/share/common-licenses, so the paragraph refers to it.
var commonLicenses = map[string]string{
	"Apache-2.0": "Apache-2.0",
	"MPL-2.0":    "MPL-2.0",
}

// licenseParagraph returns the License field: a reference for licenses in
// common-licenses, the full text otherwise.
func licenseParagraph(short, text string) (string, error) {
	if file, ok := commonLicenses[short]; ok {
		return fmt.Sprintf("License: %s\n On Debian systems, the full text of the %s license can be found\n in /usr/share/common-licenses/%s.\n", short, short, file), nil
	}
	if text == "" {
		return "", fmt.Errorf("license %s is not in /usr/share/common-licenses and no text was given", short)
	}
	return fmt.Sprintf("License: %s\n%s", short, indent(text)), nil
}

// classify names a license text with its Debian (SPDX-like) short name.
func classify(text []byte) (string, error) {
	t := strings.Join(strings.Fields(string(text)), " ")
	switch {
	case strings.Contains(t, "Apache License") && strings.Contains(t, "Version 2.0"):
		return "Apache-2.0", nil
	case strings.Contains(t, "Mozilla Public License Version 2.0") || strings.Contains(t, "Mozilla Public License, version 2.0"):
		return "MPL-2.0", nil
	case strings.Contains(t, "Permission is hereby granted, free of charge"):
		return "Expat", nil
	case strings.Contains(t, "Redistribution and use in source and binary forms"):
		if regexp.MustCompile(`(?i)neither the name|the names? of (its|the|their) contributors may`).MatchString(t) {
			return "BSD-3-clause", nil
		}
		return "BSD-2-clause", nil
	case strings.Contains(t, "Permission to use, copy, modify, and/or distribute this software"):
		return "ISC", nil
	}
	return "", errors.New("license not recognised; classify it by hand and extend debcopyright")
}

var copyrightLine = regexp.MustCompile(`(?im)^\s*copyright\s+(?:\(c\)\s*|©\s*)?([0-9].*)$`)

// copyrightLines collects the holders named in "Copyright YEAR NAME" lines.
func copyrightLines(texts ...[]byte) []string {
	seen := map[string]bool{}
	var out []string
	for _, text := range texts {
		for _, m := range copyrightLine.FindAllSubmatch(text, -1) {
			line := strings.TrimSpace(string(m[1]))
			line = strings.TrimSuffix(line, " All rights reserved.")
			if !seen[line] {
				seen[line] = true
				out = append(out, line)
			}
		}
	}
	return out
}

// indent formats text as a DEP-5 continuation: one leading space per line,
// blank lines as " .".
func indent(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(text, "\n\t "), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" {
			b.WriteString(" .\n")
			continue
		}
		b.WriteString(" " + line + "\n")
	}
	return b.String()
}
