package static

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Options describe a static route's directory.
type Options struct {
	Root          string // the directory (absolute)
	Index         string // served for a directory; "" for none
	CacheControl  string // sent with every file unless a hashed name gets "immutable"
	Immutable     bool   // Django-hashed names get a one-year immutable Cache-Control
	Precompressed bool   // name.br / name.gz siblings are served when accepted
	Internal      bool   // only the application's X-Accel-Redirect / X-Sendfile reach it
	Dotfiles      bool   // names with a segment starting with '.' are served
}

// Dir is a static route's directory, open for confined lookups (an O_PATH
// descriptor that every file is opened beneath).
type Dir struct {
	// ID tells the directory apart from the others of the same
	// configuration in cache keys.
	ID       int
	Root     string
	Index    string
	Internal bool
	Dotfiles bool

	fd              int
	cacheControl    string
	immutableHashed bool
	precompressed   bool
	// walk: openat2 is refused here (a seccomp filter), so files are
	// opened by walking their path (confine.go).
	walk bool
}

// Open opens a static route's directory.
func Open(id int, o Options) (*Dir, error) {
	fd, err := unix.Open(o.Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("static root %s: %w", o.Root, err)
	}
	return &Dir{
		ID:              id,
		Root:            o.Root,
		Index:           o.Index,
		Internal:        o.Internal,
		Dotfiles:        o.Dotfiles,
		fd:              fd,
		walk:            !probeOpenat2(fd),
		cacheControl:    o.CacheControl,
		immutableHashed: o.Immutable,
		precompressed:   o.Precompressed,
	}, nil
}

// Walks reports whether files are opened by walking their paths because
// openat2 is refused here (confine.go).
func (d *Dir) Walks() bool { return d.walk }

// Close releases the directory. Files already open stay usable.
func (d *Dir) Close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}
