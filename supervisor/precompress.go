package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Static files are compressed once, at release, like whitenoise's
// CompressedManifestStaticFilesStorage does: name.br, name.zst and name.gz
// next to each compressible file, which the edge serves to clients that
// accept them. Requests never pay for the compression, so it uses the
// slowest, smallest settings.

// compressibleExt are the types worth compressing: text and a few binary
// formats that are not compressed already.
var compressibleExt = map[string]bool{
	".css": true, ".js": true, ".mjs": true, ".json": true, ".map": true, ".svg": true,
	".html": true, ".htm": true, ".txt": true, ".xml": true, ".csv": true, ".md": true,
	".ico": true, ".ttf": true, ".otf": true, ".eot": true, ".wasm": true,
}

// minCompressSize: smaller files fit in a packet anyway.
const minCompressSize = 256

// precompressed is one sibling format.
type precompressed struct {
	ext    string
	encode func(io.Writer) (io.WriteCloser, error)
}

var precompressedFormats = []precompressed{
	{".br", func(w io.Writer) (io.WriteCloser, error) {
		return brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: brotli.BestCompression, LGWin: 22}), nil
	}},
	{".zst", func(w io.Writer) (io.WriteCloser, error) {
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	}},
	{".gz", func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, gzip.BestCompression) }},
}

// CompressStats counts what CompressStaticDir did.
type CompressStats struct {
	Files   int   // compressible files looked at
	Written int   // siblings written
	Kept    int   // siblings already up to date
	Dropped int   // siblings not kept: no smaller than 95% of the file
	In, Out int64 // bytes of the files compressed, of their .br siblings
}

// CompressStaticDir writes .br, .zst and .gz siblings of every
// compressible file under root that lacks an up-to-date one (a sibling is
// up to date when its modification time equals the file's, which it is
// given), next to the file when into is root, else at the same relative
// name under into. A sibling that would not be smaller than 95% of the
// file is not kept. Siblings are owned like their file when frontdoor runs
// as root. The files are compressed on every core. It blocks until all
// are done (a second or two for Django's admin, half a minute for
// graphite-web's 4.7 MB the first time; ctx stops it between files).
func CompressStaticDir(ctx context.Context, root, into string) (CompressStats, error) {
	var (
		st    CompressStats
		mu    sync.Mutex // guards st and firstErr
		first error
		wg    sync.WaitGroup
	)
	type job struct {
		path, base string
		info       fs.FileInfo
	}
	jobs := make(chan job)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var one CompressStats
				err := compressFile(j.path, j.base, j.info, &one)
				mu.Lock()
				st.Written, st.Kept, st.Dropped = st.Written+one.Written, st.Kept+one.Kept, st.Dropped+one.Dropped
				st.In, st.Out = st.In+one.In, st.Out+one.Out
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.Type().IsRegular() || !compressibleExt[strings.ToLower(filepath.Ext(path))] {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() < minCompressSize {
			return nil
		}
		st.Files++
		base := path
		if into != root {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			base = filepath.Join(into, rel)
			if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
				return err
			}
		}
		jobs <- job{path, base, info}
		return nil
	})
	close(jobs)
	wg.Wait()
	if err == nil {
		err = first
	}
	return st, err
}

// compressFile writes the missing or stale siblings of path, named base
// plus each format's extension.
func compressFile(path, base string, info fs.FileInfo, st *CompressStats) error {
	var data []byte
	for _, f := range precompressedFormats {
		sib := base + f.ext
		if sst, err := os.Stat(sib); err == nil && sst.ModTime().Equal(info.ModTime()) {
			st.Kept++
			continue
		}
		if data == nil {
			var err error
			if data, err = os.ReadFile(path); err != nil {
				return fmt.Errorf("compress %s: %w", path, err)
			}
		}
		n, err := writeSibling(sib, data, f, info)
		switch {
		case errors.Is(err, errNotSmaller):
			st.Dropped++
		case err != nil:
			return fmt.Errorf("compress %s: %w", path, err)
		default:
			st.Written++
			if f.ext == ".br" {
				st.In += int64(len(data))
				st.Out += n
			}
		}
	}
	return nil
}

var errNotSmaller = errors.New("not smaller")

// writeSibling compresses data into sib atomically, stamped with the
// file's modification time and owned like it.
func writeSibling(sib string, data []byte, f precompressed, info fs.FileInfo) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(sib), ".frontdoor-compress-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	w, err := f.encode(tmp)
	if err == nil {
		_, err = w.Write(data)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	size := int64(0)
	if err == nil {
		var sst fs.FileInfo
		if sst, err = tmp.Stat(); err == nil {
			size = sst.Size()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if size*100 >= int64(len(data))*95 {
		_ = os.Remove(sib) // a stale one would be served
		return 0, errNotSmaller
	}
	_ = os.Chmod(tmp.Name(), info.Mode().Perm())
	if sys, ok := fileOwnerIDs(info); ok && os.Geteuid() == 0 {
		_ = os.Chown(tmp.Name(), int(sys[0]), int(sys[1]))
	}
	if err := os.Chtimes(tmp.Name(), time.Now(), info.ModTime()); err != nil {
		return 0, err
	}
	return size, os.Rename(tmp.Name(), sib)
}

// compressStatic is the compress-static release step: siblings next to
// the files, or, for a directory a package owns or frontdoor may not
// write (in any of its directories), under Config.CompressDir, where the
// edge looks for them too.
func (s *Supervisor) compressStatic(ctx context.Context, root string) ([]string, error) {
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return []string{root + " does not exist: nothing to compress"}, nil
	}
	into := root
	if packageOwned(root) || !writableTree(root) {
		if s.cfg.CompressDir == "" {
			return []string{root + " is not frontdoor's to write, and there is no other place for its compressed copies"}, nil
		}
		into = filepath.Join(s.cfg.CompressDir, filepath.Clean(root))
	}
	st, err := CompressStaticDir(ctx, root, into)
	line := fmt.Sprintf("%d compressible files in %s: %d siblings written in %s, %d up to date, %d not kept (no smaller)",
		st.Files, root, st.Written, into, st.Kept, st.Dropped)
	if st.In > 0 {
		line += fmt.Sprintf("; brotli: %d → %d bytes", st.In, st.Out)
	}
	return []string{line}, err
}

// writableTree reports whether frontdoor may write in root and in every
// directory under it. An app with a user of its own runs collectstatic as
// that user: STATIC_ROOT itself may be group-writable (frontdoor is in
// the app's group) while the directories collectstatic makes are not.
func writableTree(root string) bool {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && unix.Access(p, unix.W_OK) != nil {
			return fs.ErrPermission
		}
		return nil
	})
	return err == nil
}
