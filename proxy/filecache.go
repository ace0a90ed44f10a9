package proxy

import (
	"errors"
	"frontdoor/proxy/loop"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cachedFile is an open file (or a small file's bytes) with the response
// headers that describe it, precomputed once per open.
type cachedFile struct {
	key  string // cache key: route id + NUL + relative name
	name string // relative name, for logs
	fd   int    // -1 when the content is inline or the entry is a directory

	dir      bool
	size     int64
	dev, ino uint64
	mtime    int64 // nanoseconds
	mtimeSec int64

	etag    []byte // `"<mtime hex>-<size hex>"`
	lastMod []byte // IMF-fixdate
	// hdr holds the header lines every 200/206/304 for this file carries:
	// Content-Type, Last-Modified, ETag, Accept-Ranges, Cache-Control,
	// Vary and Content-Encoding as they apply.
	hdr []byte
	// ctLen is the length of the Content-Type line at the start of hdr,
	// skipped when the application names the type (X-Accel-Redirect).
	ctLen  int
	inline []byte // the whole content for small files

	br, gz *cachedFile // precompressed siblings (name.br, name.gz)
	vary   bool        // a sibling exists, so every variant says Vary

	checked    int64 // worker clock of the last validation
	refs       int   // responses still sending from fd
	evicted    bool  // dropped from the cache; close when refs reach 0
	noSendfile bool  // sendfile refused this file: use pread

	prev, next *cachedFile // LRU list, most recent first
}

// fileCache is a worker's open-file cache: an LRU map from route and
// relative name to cachedFile, revalidated by re-opening the path after
// `valid` so that a replaced file (collectstatic, a deploy) is picked up.
type fileCache struct {
	m         map[string]*cachedFile
	head      *cachedFile
	tail      *cachedFile
	max       int
	valid     int64
	inlineMax int64
	keyBuf    []byte
}

func newFileCache(cfg FileCacheConfig) *fileCache {
	return &fileCache{
		m:         make(map[string]*cachedFile),
		max:       cfg.Entries,
		valid:     int64(cfg.Valid),
		inlineMax: cfg.InlineMax,
		keyBuf:    make([]byte, 0, 512),
	}
}

// errNotRegular is returned for anything that is neither a regular file nor
// a directory (devices, FIFOs, sockets).
var errNotRegular = errors.New("not a regular file")

// lookup returns the entry for rel below the route's root, opening it on a
// miss and revalidating it when older than the validity period. The
// returned entry belongs to the cache; take a reference with acquire to use
// its descriptor beyond this call.
func (fc *fileCache) lookup(rt *route, rel []byte, now int64) (*cachedFile, error) {
	key := fc.keyBuf[:0]
	key = strconv.AppendInt(key, int64(rt.id), 10)
	key = append(key, 0)
	key = append(key, rel...)
	fc.keyBuf = key
	if f, ok := fc.m[string(key)]; ok {
		if now-f.checked < fc.valid {
			fc.touch(f)
			return f, nil
		}
		fresh, err := openCached(rt, string(rel), fc.inlineMax, now)
		if err == nil && fresh.sameAs(f) {
			closeCached(fresh)
			f.checked = now
			fc.touch(f)
			return f, nil
		}
		fc.evict(f)
		if err != nil {
			return nil, err
		}
		fresh.key = string(key)
		fc.insert(fresh)
		return fresh, nil
	}
	f, err := openCached(rt, string(rel), fc.inlineMax, now)
	if err != nil {
		return nil, err
	}
	f.key = string(key)
	fc.insert(f)
	return f, nil
}

func (fc *fileCache) insert(f *cachedFile) {
	for len(fc.m) >= fc.max && fc.tail != nil {
		fc.evict(fc.tail)
	}
	fc.m[f.key] = f
	f.next = fc.head
	if fc.head != nil {
		fc.head.prev = f
	}
	fc.head = f
	if fc.tail == nil {
		fc.tail = f
	}
}

func (fc *fileCache) touch(f *cachedFile) {
	if fc.head == f {
		return
	}
	fc.unlink(f)
	f.next = fc.head
	fc.head.prev = f
	fc.head = f
}

func (fc *fileCache) unlink(f *cachedFile) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		fc.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		fc.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

// evict drops f from the cache; its descriptor is closed now, or when the
// last response sending from it finishes.
func (fc *fileCache) evict(f *cachedFile) {
	if fc.m[f.key] == f {
		delete(fc.m, f.key)
		fc.unlink(f)
	}
	f.evicted = true
	for _, v := range []*cachedFile{f, f.br, f.gz} {
		if v != nil {
			v.evicted = true
			if v.refs == 0 {
				closeCached(v)
			}
		}
	}
}

// clear evicts everything (on reload, when roots may have changed).
func (fc *fileCache) clear() {
	for fc.head != nil {
		fc.evict(fc.head)
	}
}

func (fc *fileCache) acquire(f *cachedFile) { f.refs++ }

func (fc *fileCache) release(f *cachedFile) {
	f.refs--
	if f.refs == 0 && f.evicted {
		closeCached(f)
	}
}

func closeCached(f *cachedFile) {
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
	if f.br != nil {
		closeIfUnused(f.br)
	}
	if f.gz != nil {
		closeIfUnused(f.gz)
	}
}

func closeIfUnused(f *cachedFile) {
	if f.refs == 0 && f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
}

// sameAs reports whether a fresh open found the same file unchanged.
func (f *cachedFile) sameAs(old *cachedFile) bool {
	same := func(a, b *cachedFile) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime == b.mtime && a.dir == b.dir
	}
	return same(f, old) && same(f.br, old.br) && same(f.gz, old.gz)
}

// openCached opens and describes rel and its precompressed siblings.
func openCached(rt *route, rel string, inlineMax int64, now int64) (*cachedFile, error) {
	f, err := openOne(rt, rel, inlineMax, now)
	if err != nil {
		return nil, err
	}
	if f.dir || !rt.static.precompressed {
		f.finish(rt, rel, "")
		return f, nil
	}
	if br, err := openOne(rt, rel+".br", inlineMax, now); err == nil && !br.dir {
		f.br = br
	}
	if gz, err := openOne(rt, rel+".gz", inlineMax, now); err == nil && !gz.dir {
		f.gz = gz
	}
	f.vary = f.br != nil || f.gz != nil
	f.finish(rt, rel, "")
	if f.br != nil {
		f.br.vary = true
		f.br.finish(rt, rel, "br")
	}
	if f.gz != nil {
		f.gz.vary = true
		f.gz.finish(rt, rel, "gzip")
	}
	return f, nil
}

func openOne(rt *route, rel string, inlineMax int64, now int64) (*cachedFile, error) {
	fd, err := openConfined(rt.static, rel)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := &cachedFile{name: rel, fd: fd, checked: now, dev: st.Dev, ino: st.Ino}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		f.dir = true
		unix.Close(fd)
		f.fd = -1
		return f, nil
	case unix.S_IFREG:
	default:
		unix.Close(fd)
		return nil, errNotRegular
	}
	f.size = st.Size
	f.mtime = st.Mtim.Nano()
	f.mtimeSec = st.Mtim.Sec
	if f.size <= inlineMax {
		buf := make([]byte, f.size)
		n, errno := loop.Pread(fd, buf, 0)
		if errno == 0 && int64(n) == f.size {
			f.inline = buf
			unix.Close(fd)
			f.fd = -1
		}
	}
	return f, nil
}

// finish precomputes the validators and the fixed header block. typeName
// is the name whose extension gives the Content-Type (for a precompressed
// sibling, the original's); encoding is its Content-Encoding, if any, which
// also makes its ETag distinct (RFC 9110 §8.8.3).
func (f *cachedFile) finish(rt *route, typeName, encoding string) {
	tag := strconv.FormatInt(f.mtime/int64(time.Microsecond), 16) + "-" + strconv.FormatInt(f.size, 16)
	if encoding != "" {
		tag += "-" + encoding
	}
	f.etag = []byte(`"` + tag + `"`)
	f.lastMod = time.Unix(f.mtimeSec, 0).UTC().AppendFormat(nil, httpTimeFormat)
	if f.dir {
		return
	}
	h := make([]byte, 0, 256)
	h = append(h, "Content-Type: "...)
	h = append(h, contentTypeFor(typeName)...)
	h = append(h, "\r\n"...)
	f.ctLen = len(h)
	h = append(h, "Last-Modified: "...)
	h = append(h, f.lastMod...)
	h = append(h, "\r\nETag: "...)
	h = append(h, f.etag...)
	h = append(h, "\r\nAccept-Ranges: bytes\r\nX-Content-Type-Options: nosniff\r\n"...)
	s := rt.static
	switch {
	case s.immutableHashed && isHashedName([]byte(typeName)):
		h = append(h, "Cache-Control: public, max-age=31536000, immutable\r\n"...)
	case s.cacheControl != "":
		h = append(h, "Cache-Control: "...)
		h = append(h, s.cacheControl...)
		h = append(h, "\r\n"...)
	}
	if f.vary {
		h = append(h, "Vary: Accept-Encoding\r\n"...)
	}
	if encoding != "" {
		h = append(h, "Content-Encoding: "...)
		h = append(h, encoding...)
		h = append(h, "\r\n"...)
	}
	f.hdr = h
}

// isNotFound reports errors that mean "no such file here" to a client:
// missing, not a directory, or a path that tried to leave the root.
func isNotFound(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return errors.Is(err, errNotRegular)
	}
	switch errno {
	case unix.ENOENT, unix.ENOTDIR, unix.EXDEV, unix.ELOOP, unix.ENAMETOOLONG:
		return true
	}
	return false
}
