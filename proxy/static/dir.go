package static

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Options describe a static route's directory.
type Options struct {
	Root          string // the directory (absolute)
	Index         string // served for a directory; "" for none
	CacheControl  string // sent with every file unless a hashed name gets "immutable"
	Immutable     bool   // Django-hashed names get a one-year immutable Cache-Control
	Precompressed bool   // name.br / name.zst / name.gz siblings are served when accepted
	Internal      bool   // only the application's X-Accel-Redirect / X-Sendfile reach it
	Dotfiles      bool   // names with a segment starting with '.' are served
	// VariantRoot holds precompressed siblings kept outside Root, used
	// for a file without siblings of its own while their modification
	// time equals the file's ("" for none).
	VariantRoot string
}

// Dir is a static route's directory, open for confined lookups (an O_PATH
// descriptor that every file is opened beneath).
type Dir struct {
	// ID tells the directory apart from the others of the same
	// configuration in cache keys.
	ID int
	// Root is the directory as configured, cleaned: no trailing '/'
	// (except for "/" itself), so that X-Sendfile paths compare with it.
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
	// variants is the directory of precompressed siblings kept outside
	// the root (Options.VariantRoot), nil without one.
	variants *Dir
	// manifest is Django's staticfiles.json at the root, as last read
	// (manifest.go); shared by every worker.
	manifest manifestCache
}

// Open opens a static route's directory.
func Open(id int, o Options) (*Dir, error) {
	fd, err := unix.Open(o.Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("static root %s: %w", o.Root, err)
	}
	d := &Dir{
		ID:              id,
		Root:            filepath.Clean(o.Root),
		Index:           o.Index,
		Internal:        o.Internal,
		Dotfiles:        o.Dotfiles,
		fd:              fd,
		walk:            !probeOpenat2(fd),
		cacheControl:    o.CacheControl,
		immutableHashed: o.Immutable,
		precompressed:   o.Precompressed,
	}
	if o.VariantRoot != "" && d.precompressed {
		// Missing until the first release writes it: no variants then.
		if vfd, err := unix.Open(o.VariantRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			d.variants = &Dir{ID: id, Root: o.VariantRoot, fd: vfd, walk: d.walk}
		}
	}
	return d, nil
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
	if d.variants != nil {
		d.variants.Close()
	}
}
