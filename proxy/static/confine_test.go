package static

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"frontdoor/internal/denyopenat2"
)

func init() { denyopenat2.InstallFromEnv() }

// TestWalkWithoutOpenat2 runs the walk's tests again where a seccomp
// filter denies openat2 (the way proxy's TestStaticWithoutOpenat2 runs the
// static-file tests of the engine).
func TestWalkWithoutOpenat2(t *testing.T) {
	denyopenat2.RerunTests(t, []string{"TestWalkMatchesOpenat2"})
}

// confineTree builds a root with files, links that stay inside and links
// that lead out, next to a secret outside it.
func confineTree(t *testing.T) (root string) {
	base := t.TempDir()
	root = filepath.Join(base, "root")
	writeFile(t, filepath.Join(base, "secret.txt"), "SECRET")
	writeFile(t, filepath.Join(root, "ok.txt"), "fine")
	writeFile(t, filepath.Join(root, "dir", "in.txt"), "inside")
	writeFile(t, filepath.Join(root, "dir", "sub", "deep.txt"), "deep")
	for link, target := range map[string]string{
		"in-link":        "dir/in.txt",
		"dir/up-in":      "../ok.txt",
		"dir/sub/up-up":  "../../ok.txt",
		"dirlink":        "dir",
		"dirlink-slash":  "dir/",
		"dot-link":       ".",
		"out-rel":        "../secret.txt",
		"dir/out-deep":   "../../secret.txt",
		"out-abs":        filepath.Join(base, "secret.txt"),
		"abs-in":         filepath.Join(root, "ok.txt"),
		"updir":          "..",
		"loop":           "loop",
		"magic":          "/proc/self/root/" + filepath.Join(base, "secret.txt"),
		"dir/fd":         "/proc/self/fd/0",
		"dangling":       "nowhere",
		"file-as-dir":    "ok.txt/x",
		"dirlink-chain":  "dirlink/sub/../sub/up-up",
		"dir/sub/climbs": "../../dir/../dirlink/in.txt",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestWalkMatchesOpenat2 checks the component walk against the kernel's
// RESOLVE_BENEATH on the same names: the same file, or the same refusal.
// (Under a seccomp filter, in TestWalkWithoutOpenat2's child, only the
// walk's own expectations are checked.)
func TestWalkMatchesOpenat2(t *testing.T) {
	root := confineTree(t)
	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFd)
	haveOpenat2 := probeOpenat2(rootFd)
	for _, tc := range []struct {
		rel  string
		want string // file content, "<dir>", or the error
	}{
		{".", "<dir>"},
		{"ok.txt", "fine"},
		{"dir/in.txt", "inside"},
		{"dir/sub/deep.txt", "deep"},
		{"dir/", "<dir>"},
		{"dir/./in.txt", "inside"},
		{"dir/../ok.txt", "fine"},
		{"dir/sub/../../ok.txt", "fine"},
		{"in-link", "inside"},
		{"dir/up-in", "fine"},
		{"dir/sub/up-up", "fine"},
		{"dirlink/in.txt", "inside"},
		{"dirlink-slash/in.txt", "inside"},
		{"dirlink", "<dir>"},
		{"dot-link/ok.txt", "fine"},
		{"dirlink-chain", "fine"},
		{"dir/sub/climbs", "inside"},
		{"..", unix.EXDEV.Error()},
		{"../root/ok.txt", unix.EXDEV.Error()},
		{"dir/../../secret.txt", unix.EXDEV.Error()},
		{"out-rel", unix.EXDEV.Error()},
		{"dir/out-deep", unix.EXDEV.Error()},
		{"out-abs", unix.EXDEV.Error()},
		{"abs-in", unix.EXDEV.Error()},
		{"updir/secret.txt", unix.EXDEV.Error()},
		{"magic", unix.EXDEV.Error()},
		{"dir/fd", unix.EXDEV.Error()},
		{"loop", unix.ELOOP.Error()},
		{"missing", unix.ENOENT.Error()},
		{"dangling", unix.ENOENT.Error()},
		{"ok.txt/x", unix.ENOTDIR.Error()},
		{"file-as-dir", unix.ENOTDIR.Error()},
		{"ok.txt\x00.png", unix.EINVAL.Error()},
	} {
		got := openedAs(walkBeneath(rootFd, tc.rel))
		if got != tc.want {
			t.Errorf("walk %q: %s, want %s", tc.rel, got, tc.want)
		}
		if haveOpenat2 {
			if kernel := openedAs(openBeneath(rootFd, tc.rel)); kernel != got {
				t.Errorf("%q: walk %s, openat2 %s", tc.rel, got, kernel)
			}
		}
	}
}

// openedAs describes an open's outcome: the file's content, "<dir>", or
// the error; it closes the descriptor.
func openedAs(fd int, err error) string {
	if err != nil {
		return err.Error()
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err.Error()
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return "<dir>"
	}
	buf := make([]byte, 64)
	n, _ := unix.Pread(fd, buf, 0)
	return string(buf[:max(n, 0)])
}

// TestWalkRacesNeverEscape swaps, again and again, a directory inside the
// root with a symlink leading out of it (renameat2 RENAME_EXCHANGE, so
// the name is always one or the other), while the walk opens a file
// through that name: it must find the inside file or fail, never open the
// secret beside the root.
func TestWalkRacesNeverEscape(t *testing.T) {
	for _, absolute := range []bool{true, false} {
		t.Run(map[bool]string{true: "absolute link", false: "relative link"}[absolute], func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "root")
			writeFile(t, filepath.Join(base, "outside", "f.txt"), "SECRET")
			writeFile(t, filepath.Join(base, "outside", "sub", "f.txt"), "SECRET")
			writeFile(t, filepath.Join(root, "d", "f.txt"), "inside")
			writeFile(t, filepath.Join(root, "d", "sub", "f.txt"), "inside")
			target := "../outside"
			if absolute {
				target = filepath.Join(base, "outside")
			}
			if err := os.Symlink(target, filepath.Join(root, "swap")); err != nil {
				t.Fatal(err)
			}
			rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(rootFd)
			var stop atomic.Bool
			done := make(chan error, 1)
			go func() {
				for !stop.Load() {
					if err := unix.Renameat2(rootFd, "d", rootFd, "swap", unix.RENAME_EXCHANGE); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			served := 0
			for i := 0; i < 20000; i++ {
				for _, rel := range []string{"d/f.txt", "d/sub/f.txt", "d/sub/../f.txt"} {
					got := openedAs(walkBeneath(rootFd, rel))
					if got == "SECRET" {
						stop.Store(true)
						t.Fatalf("%s opened the file outside the root (swap with %s)", rel, target)
					}
					if got == "inside" {
						served++
					}
				}
			}
			stop.Store(true)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if served == 0 {
				t.Fatal("the inside file was never opened: the race test proves nothing")
			}
		})
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOpenBeneathRetriesARenameRace: openat2 with RESOLVE_BENEATH answers
// EAGAIN when a rename anywhere on the machine ran while it resolved a
// ".." (the kernel cannot tell that the ".." stayed inside); the caller
// is to try again. A file reached through ".." must open every time, and
// a link climbing out must stay refused as outside, never turn into
// another error (which the engine answered 403, seen in a loaded run).
func TestOpenBeneathRetriesARenameRace(t *testing.T) {
	root := confineTree(t)
	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFd)
	if fd, err := openBeneath(rootFd, "dir/up-in"); err == unix.ENOSYS || err == unix.EPERM {
		t.Skip("openat2 is refused here")
	} else if err == nil {
		unix.Close(fd)
	}
	// Renames in a loop, elsewhere: each one bumps the kernel's rename
	// sequence that a ".." in openat2 checks.
	spin := t.TempDir()
	a, b := filepath.Join(spin, "a"), filepath.Join(spin, "b")
	writeFile(t, a, "x")
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			os.Rename(a, b)
			os.Rename(b, a)
		}
	}()
	defer func() { stop.Store(true); <-done }()
	for i := 0; i < 20000; i++ {
		for _, c := range []struct {
			rel    string
			inside bool
		}{{"dir/up-in", true}, {"dir/sub/up-up", true}, {"dir/out-deep", false}} {
			fd, err := openBeneath(rootFd, c.rel)
			if err == nil {
				unix.Close(fd)
			}
			if c.inside && err != nil {
				t.Fatalf("try %d: %s: %v", i, c.rel, err)
			}
			if !c.inside && err != unix.EXDEV {
				t.Fatalf("try %d: %s: %v, want EXDEV (outside)", i, c.rel, err)
			}
		}
	}
}
