package static

import (
	"encoding/json"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/loop"
)

// Django's ManifestStaticFilesStorage writes STATIC_ROOT/staticfiles.json:
// {"paths": {"admin/css/base.css": "admin/css/base.5af66c1b1797.css", …}}.
// The names it maps to carry their content's hash: a changed file gets a
// new name, so browsers may keep them for a year. Every other file under
// the root (the unhashed originals collectstatic also writes, a robots.txt)
// may change in place and is revalidated.

// manifestName is the manifest's file name at the root of a static route.
const manifestName = "staticfiles.json"

// manifestRecheck is how often the manifest's file is looked at again:
// collectstatic rewrites it at every release.
const manifestRecheck = 2 * time.Second

// maxManifest bounds the manifest file read (the admin's is ~40 KB).
const maxManifest = 16 << 20

// UnhashedCacheControl is sent with a file the manifest does not list.
const UnhashedCacheControl = "public, max-age=60"

// manifest is one reading of staticfiles.json.
type manifest struct {
	checked  int64 // Unix nanoseconds of the last look at the file
	dev, ino uint64
	size     int64
	mtime    int64
	present  bool                // the file exists and parsed
	hashed   map[string]struct{} // the hashed names it lists
	gen      uint64              // changes whenever the above does
}

// manifestCache holds the current reading for every worker.
type manifestCache struct {
	cur atomic.Pointer[manifest]
}

// currentManifest returns the manifest of d's root, reading the file again when
// it was last looked at more than manifestRecheck ago and has changed
// since. It runs when a file is opened, not for every request. Workers
// may race to refresh it; each reading is complete, the last one stays.
func (d *Dir) currentManifest() *manifest {
	now := time.Now().UnixNano()
	m := d.manifest.cur.Load()
	if m != nil && now-m.checked < int64(manifestRecheck) {
		return m
	}
	next := &manifest{checked: now}
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, manifestName, &st, 0)
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		next.dev, next.ino, next.size, next.mtime = st.Dev, st.Ino, st.Size, st.Mtim.Nano()
	}
	if m != nil && m.dev == next.dev && m.ino == next.ino && m.size == next.size && m.mtime == next.mtime {
		same := *m
		same.checked = now
		d.manifest.cur.Store(&same)
		return &same
	}
	if m != nil {
		next.gen = m.gen + 1
	}
	if next.ino != 0 && next.size <= maxManifest {
		next.hashed, next.present = readManifest(d, next.size)
	}
	d.manifest.cur.Store(next)
	return next
}

// readManifest parses the manifest; false when it cannot be read or is
// not Django's format (the hashed-name rule then applies).
func readManifest(d *Dir, size int64) (map[string]struct{}, bool) {
	fd, err := openConfined(d, manifestName)
	if err != nil {
		return nil, false
	}
	defer unix.Close(fd)
	buf := make([]byte, size)
	n, errno := loop.Pread(fd, buf, 0)
	if errno != 0 || int64(n) != size {
		return nil, false
	}
	var doc struct {
		Paths map[string]string `json:"paths"`
	}
	if json.Unmarshal(buf, &doc) != nil || doc.Paths == nil {
		return nil, false
	}
	hashed := make(map[string]struct{}, len(doc.Paths))
	for _, name := range doc.Paths {
		hashed[name] = struct{}{}
	}
	return hashed, true
}

// isHashed reports whether rel is one of the manifest's hashed names.
func (m *manifest) isHashed(rel string) bool {
	_, ok := m.hashed[rel]
	return ok
}
