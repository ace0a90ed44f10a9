package static

import (
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"", ".", true},
		{"/", ".", true},
		{"a/b", "a/b", true},
		{"/a//b/", "a/b", true},
		{"./a/./b", "a/b", true},
		{"a%20b", "a b", true},
		{"%C3%A9", "\xc3\xa9", true},
		{"a/../b", "", false},
		{"..", "", false},
		{"%2e%2e", "", false},
		{".%2e/x", "", false},
		{"a%2fb", "", false},
		{"a%5Cb", "", false},
		{"a%00b", "", false},
		{"a%zz", "", false},
		{"a%2", "", false},
		{"...", "...", true}, // a legal file name
	}
	buf := make([]byte, 256)
	for _, tc := range tests {
		got, ok := CleanPath(buf, []byte(tc.in))
		if ok != tc.ok || (ok && string(got) != tc.want) {
			t.Errorf("CleanPath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "%2e%2e/x", "a%2fb", "./.././a", "a/%00"} {
		f.Add(s)
	}
	buf := make([]byte, 4096)
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := CleanPath(buf, []byte(in))
		if !ok {
			return
		}
		s := string(got)
		if strings.HasPrefix(s, "/") || strings.Contains(s, "\x00") {
			t.Fatalf("%q → %q", in, s)
		}
		for _, seg := range strings.Split(s, "/") {
			if seg == ".." || seg == "" || (seg == "." && s != ".") {
				t.Fatalf("%q → %q has segment %q", in, s, seg)
			}
		}
	})
}

func TestHasDotSegment(t *testing.T) {
	for _, tc := range []struct {
		rel       string
		atURLRoot bool
		want      bool
	}{
		{".", true, false},
		{"a.css", true, false},
		{"a/b.c/d..e", true, false},
		{".env", true, true},
		{".env", false, true},
		{"a/.env", true, true},
		{"a/b/.git/config", true, true},
		{"..a", true, true},
		{".well-known", true, false},
		{".well-known/x", true, false},
		{".well-known/.x", true, true},
		{".well-known/x/.y", true, true},
		{".well-known", false, true},
		{".well-knownx", true, true},
		{".well-known/x", false, true},
		{"a/.well-known/x", true, true},
	} {
		if got := HasDotSegment([]byte(tc.rel), tc.atURLRoot); got != tc.want {
			t.Errorf("HasDotSegment(%q, %v) = %v, want %v", tc.rel, tc.atURLRoot, got, tc.want)
		}
	}
}
