package supervisor

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// TestCompressStaticDir: compressible files get .br, .zst and .gz that
// decode to them, stamped with the file's modification time, in place or
// under another directory; a second run writes nothing; a changed file is
// compressed again; incompressible data and small files get none.
func TestCompressStaticDir(t *testing.T) {
	for _, mirror := range []bool{false, true} {
		root := t.TempDir()
		into := root
		if mirror {
			into = filepath.Join(t.TempDir(), "compressed")
		}
		css := strings.Repeat("body { margin: 0; padding: 0 }\n", 300)
		write := func(rel, data string) {
			p := filepath.Join(root, rel)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("admin/css/base.css", css)
		write("tiny.js", "x=1")
		random := make([]byte, 4096)
		rand.Read(random)
		write("data.json", string(random)) // compressible type, incompressible bytes
		write("logo.png", strings.Repeat("png", 1000))

		st, err := CompressStaticDir(context.Background(), root, into)
		if err != nil {
			t.Fatal(err)
		}
		if st.Files != 2 || st.Written != 3 || st.Dropped != 3 {
			t.Errorf("mirror %v: stats %+v, want 2 files, 3 written, 3 dropped", mirror, st)
		}
		info, _ := os.Stat(filepath.Join(root, "admin/css/base.css"))
		decoders := map[string]func(io.Reader) io.Reader{
			".br": func(r io.Reader) io.Reader { return brotli.NewReader(r) },
			".zst": func(r io.Reader) io.Reader {
				d, _ := zstd.NewReader(r)
				return d
			},
			".gz": func(r io.Reader) io.Reader {
				d, _ := gzip.NewReader(r)
				return d
			},
		}
		for ext, dec := range decoders {
			p := filepath.Join(into, "admin/css/base.css"+ext)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("mirror %v: %v", mirror, err)
			}
			plain, _ := io.ReadAll(dec(bytes.NewReader(data)))
			if string(plain) != css || len(data) > len(css)/4 {
				t.Errorf("mirror %v: %s: %d bytes decoding to %d", mirror, ext, len(data), len(plain))
			}
			if sst, _ := os.Stat(p); !sst.ModTime().Equal(info.ModTime()) {
				t.Errorf("%s: mtime %v, want the file's %v", ext, sst.ModTime(), info.ModTime())
			}
			if _, err := os.Stat(filepath.Join(into, "data.json"+ext)); err == nil {
				t.Errorf("a sibling of incompressible data was kept")
			}
		}
		if st, _ := CompressStaticDir(context.Background(), root, into); st.Written != 0 || st.Kept != 3 {
			t.Errorf("second run: %+v, want nothing written", st)
		}
		later := time.Now().Add(time.Minute)
		write("admin/css/base.css", css+"a{}\n")
		os.Chtimes(filepath.Join(root, "admin/css/base.css"), later, later)
		if st, _ := CompressStaticDir(context.Background(), root, into); st.Written != 3 {
			t.Errorf("after a change: %+v, want the three siblings again", st)
		}
	}
}
