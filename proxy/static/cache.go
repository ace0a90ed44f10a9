package static

import (
	"errors"
	"frontdoor/proxy/loop"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// File is an open file (or a small file's bytes) with the response
// header lines that describe it, precomputed once per open. It belongs to
// the Cache that returned it.
type File struct {
	Name string // relative name, for logs
	// Fd is the open file, -1 when the content is Inline or the entry is
	// a directory.
	Fd     int
	IsDir  bool
	Size   int64
	Inline []byte // the whole content, for small files
	// Header holds the header lines (each ending in CRLF) every
	// 200/206/304 for this file carries: Content-Type, Last-Modified,
	// ETag, Accept-Ranges, X-Content-Type-Options, Cache-Control, Vary and
	// Content-Encoding as they apply.
	Header []byte
	// TypeLen is the length of the Content-Type line at the start of
	// Header, skipped when the application names the type
	// (X-Accel-Redirect).
	TypeLen int
	// NoSendfile is set by a sender that found sendfile refused for this
	// file: it is read with pread from then on.
	NoSendfile bool

	key      string // cache key: directory id + NUL + relative name
	dev, ino uint64
	mtime    int64 // nanoseconds
	mtimeSec int64
	etag     []byte // `"<mtime hex>-<size hex>"`
	lastMod  []byte // IMF-fixdate

	br, zst, gz *File // precompressed siblings (name.br, name.zst, name.gz)
	vary        bool  // a sibling exists, so every variant says Vary
	// manifestGen is the generation of the directory's staticfiles.json
	// the headers were computed with: a new manifest makes the entry stale.
	manifestGen uint64

	checked int64 // loop clock of the last validation
	refs    int   // responses still sending from Fd
	evicted bool  // dropped from the cache; close when refs reach 0

	prev, next *File // LRU list, most recent first
}

// Cache is a worker's open-file cache: an LRU map from directory and
// relative name to File, revalidated by re-opening the path after `valid`
// so that a replaced file (collectstatic, a deploy) is picked up.
type Cache struct {
	m         map[string]*File
	head      *File
	tail      *File
	max       int
	valid     int64
	inlineMax int64
	keyBuf    []byte
}

// NewCache keeps up to entries files, trusts an entry for valid before it
// opens the path again, and keeps files up to inlineMax bytes in memory
// (-1: none).
func NewCache(entries int, valid time.Duration, inlineMax int64) *Cache {
	return &Cache{
		m:         make(map[string]*File),
		max:       entries,
		valid:     int64(valid),
		inlineMax: inlineMax,
		keyBuf:    make([]byte, 0, 512),
	}
}

// errNotRegular is returned for anything that is neither a regular file nor
// a directory (devices, FIFOs, sockets).
var errNotRegular = errors.New("not a regular file")

// Lookup returns the entry for rel below d's root, opening it on a miss
// and revalidating it when older than the validity period; now is the
// loop clock. The returned entry belongs to the cache; take a reference
// with Acquire to use its descriptor beyond this call.
func (fc *Cache) Lookup(d *Dir, rel []byte, now int64) (*File, error) {
	key := fc.keyBuf[:0]
	key = strconv.AppendInt(key, int64(d.ID), 10)
	key = append(key, 0)
	key = append(key, rel...)
	fc.keyBuf = key
	if f, ok := fc.m[string(key)]; ok {
		if now-f.checked < fc.valid {
			fc.touch(f)
			return f, nil
		}
		fresh, err := openCached(d, string(rel), fc.inlineMax, now)
		if err == nil && fresh.sameAs(f) && fresh.manifestGen == f.manifestGen {
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
	f, err := openCached(d, string(rel), fc.inlineMax, now)
	if err != nil {
		return nil, err
	}
	f.key = string(key)
	fc.insert(f)
	return f, nil
}

func (fc *Cache) insert(f *File) {
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

func (fc *Cache) touch(f *File) {
	if fc.head == f {
		return
	}
	fc.unlink(f)
	f.next = fc.head
	fc.head.prev = f
	fc.head = f
}

func (fc *Cache) unlink(f *File) {
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
func (fc *Cache) evict(f *File) {
	if fc.m[f.key] == f {
		delete(fc.m, f.key)
		fc.unlink(f)
	}
	f.evicted = true
	for _, v := range [...]*File{f, f.br, f.zst, f.gz} {
		if v != nil {
			v.evicted = true
			if v.refs == 0 {
				closeCached(v)
			}
		}
	}
}

// Clear evicts everything (on reload, when roots may have changed).
func (fc *Cache) Clear() {
	for fc.head != nil {
		fc.evict(fc.head)
	}
}

// Acquire keeps f's descriptor open until Release, even if f is evicted
// meanwhile (a response sending from it).
func (fc *Cache) Acquire(f *File) { f.refs++ }

// Release drops a reference taken with Acquire.
func (fc *Cache) Release(f *File) {
	f.refs--
	if f.refs == 0 && f.evicted {
		closeCached(f)
	}
}

func closeCached(f *File) {
	if f.Fd >= 0 {
		unix.Close(f.Fd)
		f.Fd = -1
	}
	for _, v := range [...]*File{f.br, f.zst, f.gz} {
		if v != nil {
			closeIfUnused(v)
		}
	}
}

func closeIfUnused(f *File) {
	if f.refs == 0 && f.Fd >= 0 {
		unix.Close(f.Fd)
		f.Fd = -1
	}
}

// sameAs reports whether a fresh open found the same file unchanged.
func (f *File) sameAs(old *File) bool {
	same := func(a, b *File) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.dev == b.dev && a.ino == b.ino && a.Size == b.Size && a.mtime == b.mtime && a.IsDir == b.IsDir
	}
	return same(f, old) && same(f.br, old.br) && same(f.zst, old.zst) && same(f.gz, old.gz)
}

// openCached opens and describes rel and its precompressed siblings: the
// root's own (name.br, name.zst, name.gz, as whitenoise or frontdoor's
// release step write them), else those in the directory's variant
// directory that were made from this very version of the file.
func openCached(d *Dir, rel string, inlineMax int64, now int64) (*File, error) {
	f, err := openOne(d, rel, inlineMax, now)
	if err != nil {
		return nil, err
	}
	if f.IsDir || !d.precompressed {
		f.finish(d, rel, "")
		return f, nil
	}
	f.br, f.zst, f.gz = openSibling(d, rel+".br", inlineMax, now, nil),
		openSibling(d, rel+".zst", inlineMax, now, nil), openSibling(d, rel+".gz", inlineMax, now, nil)
	if v := d.variants; v != nil && f.br == nil && f.zst == nil && f.gz == nil {
		f.br, f.zst, f.gz = openSibling(v, rel+".br", inlineMax, now, f),
			openSibling(v, rel+".zst", inlineMax, now, f), openSibling(v, rel+".gz", inlineMax, now, f)
	}
	f.vary = f.br != nil || f.zst != nil || f.gz != nil
	f.finish(d, rel, "")
	for _, sib := range [...]struct {
		f        *File
		encoding string
	}{{f.br, "br"}, {f.zst, "zstd"}, {f.gz, "gzip"}} {
		if sib.f != nil {
			sib.f.vary = true
			sib.f.finish(d, rel, sib.encoding)
		}
	}
	return f, nil
}

// openSibling opens a precompressed sibling below d, or returns nil.
// With of set, the sibling must carry of's modification time (it was
// made from that version of the file).
func openSibling(d *Dir, rel string, inlineMax int64, now int64, of *File) *File {
	sib, err := openOne(d, rel, inlineMax, now)
	if err != nil {
		return nil
	}
	if sib.IsDir || (of != nil && sib.mtime != of.mtime) {
		closeCached(sib)
		return nil
	}
	return sib
}

func openOne(d *Dir, rel string, inlineMax int64, now int64) (*File, error) {
	fd, err := openConfined(d, rel)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := &File{Name: rel, Fd: fd, checked: now, dev: st.Dev, ino: st.Ino}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		f.IsDir = true
		unix.Close(fd)
		f.Fd = -1
		return f, nil
	case unix.S_IFREG:
	default:
		unix.Close(fd)
		return nil, errNotRegular
	}
	f.Size = st.Size
	f.mtime = st.Mtim.Nano()
	f.mtimeSec = st.Mtim.Sec
	if f.Size <= inlineMax {
		buf := make([]byte, f.Size)
		n, errno := loop.Pread(fd, buf, 0)
		if errno == 0 && int64(n) == f.Size {
			f.Inline = buf
			unix.Close(fd)
			f.Fd = -1
		}
	}
	return f, nil
}

// finish precomputes the validators and the fixed header block. typeName
// is the name whose extension gives the Content-Type (for a precompressed
// sibling, the original's); encoding is its Content-Encoding, if any, which
// also makes its ETag distinct (RFC 9110 §8.8.3).
func (f *File) finish(d *Dir, typeName, encoding string) {
	tag := strconv.FormatInt(f.mtime/int64(time.Microsecond), 16) + "-" + strconv.FormatInt(f.Size, 16)
	if encoding != "" {
		tag += "-" + encoding
	}
	f.etag = []byte(`"` + tag + `"`)
	f.lastMod = time.Unix(f.mtimeSec, 0).UTC().AppendFormat(nil, httpTimeFormat)
	if f.IsDir {
		return
	}
	h := make([]byte, 0, 256)
	h = append(h, "Content-Type: "...)
	h = append(h, contentTypeFor(typeName)...)
	h = append(h, "\r\n"...)
	f.TypeLen = len(h)
	h = append(h, "Last-Modified: "...)
	h = append(h, f.lastMod...)
	h = append(h, "\r\nETag: "...)
	h = append(h, f.etag...)
	h = append(h, "\r\nAccept-Ranges: bytes\r\nX-Content-Type-Options: nosniff\r\n"...)
	m := d.currentManifest()
	f.manifestGen = m.gen
	hashed := isHashedName([]byte(typeName))
	if m.present {
		hashed = m.isHashed(typeName)
	}
	switch {
	case d.immutableHashed && hashed:
		h = append(h, "Cache-Control: public, max-age=31536000, immutable\r\n"...)
	case d.cacheControl != "":
		h = append(h, "Cache-Control: "...)
		h = append(h, d.cacheControl...)
		h = append(h, "\r\n"...)
	case m.present:
		h = append(h, "Cache-Control: "+UnhashedCacheControl+"\r\n"...)
	}
	if f.vary {
		h = append(h, "Vary: Accept-Encoding\r\n"...)
	}
	if encoding != "" {
		h = append(h, "Content-Encoding: "...)
		h = append(h, encoding...)
		h = append(h, "\r\n"...)
	}
	f.Header = h
}

// IsNotFound reports errors that mean "no such file here" to a client:
// missing, not a directory, or a path that tried to leave the root.
func IsNotFound(err error) bool {
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
