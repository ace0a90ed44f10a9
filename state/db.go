package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultPath is where the daemon keeps its state unless configured
// otherwise.
const DefaultPath = "/var/lib/frontdoor/state.db"

// Default caps of the capped logs; see Options.
const (
	DefaultMaxEvents   = 10000
	DefaultMaxRestarts = 1000
	DefaultMaxHealth   = 1000
	DefaultMaxConfigs  = 50
)

// DefaultLockTimeout is how long Open waits for another process to release
// the file before it gives up.
const DefaultLockTimeout = time.Second

// Options tunes Open. The zero value gives the defaults.
type Options struct {
	// MaxEvents caps the event log: beyond it the oldest events are
	// dropped. Default DefaultMaxEvents (10,000).
	MaxEvents int
	// MaxRestarts caps the restart history. Default DefaultMaxRestarts.
	MaxRestarts int
	// MaxHealth caps the health-transition history. Default DefaultMaxHealth.
	MaxHealth int
	// MaxConfigs caps the applied-configuration history. Default
	// DefaultMaxConfigs.
	MaxConfigs int
	// LockTimeout bounds how long Open waits while another process holds
	// the file (bbolt's flock). Default DefaultLockTimeout.
	LockTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxRestarts <= 0 {
		o.MaxRestarts = DefaultMaxRestarts
	}
	if o.MaxHealth <= 0 {
		o.MaxHealth = DefaultMaxHealth
	}
	if o.MaxConfigs <= 0 {
		o.MaxConfigs = DefaultMaxConfigs
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	return o
}

// Bucket names. The capped logs each have their own bucket; their sizes are
// kept in bucketCounts so that capping never has to walk a bucket.
var (
	bucketCerts    = []byte("certs")
	bucketBlobs    = []byte("blobs")
	bucketEvents   = []byte("events")
	bucketRestarts = []byte("restarts")
	bucketHealth   = []byte("health")
	bucketConfigs  = []byte("configs")
	bucketCounts   = []byte("counts")
)

// DB is an open state file. Close it when done.
type DB struct {
	bolt *bolt.DB
	path string
	opts Options
}

// Open opens (creating if missing) the state file at path, which must be
// absolute: a relative path would depend on the working directory of
// whoever started the daemon. A missing parent directory is created with
// mode 0700; the file is created with mode 0600, and an existing file that
// group or others could read is tightened to 0600.
//
// Open runs Check before anything else reads the file and fails with an
// error wrapping ErrDamaged when it finds a problem (bbolt would panic
// later on a damaged page). It blocks up to opts.LockTimeout while another
// process holds the file.
func Open(path string, opts Options) (*DB, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("open state %q: the path must be absolute", path)
	}
	opts = opts.withDefaults()
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open state %s: create directory: %w", path, err)
		}
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open state %s: the file is locked by another process (is frontdoor already running?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path, opts: opts}
	if err := tightenMode(path); err != nil {
		b.Close()
		return nil, err
	}
	// bbolt panics when it walks into a damaged page, so look at every page
	// before anything else touches them and refuse a damaged file with an
	// error the operator can act on.
	if err := db.Check(); err != nil {
		b.Close()
		return nil, fmt.Errorf("%w (%w): move the file away to start with empty state; certificates will be obtained again", ErrDamaged, err)
	}
	if err := db.createBuckets(); err != nil {
		b.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return db, nil
}

// ErrDamaged is wrapped by the error of Open when the file fails bbolt's
// consistency check.
var ErrDamaged = errors.New("state file is damaged")

func (db *DB) createBuckets() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketCerts, bucketBlobs, bucketEvents, bucketRestarts, bucketHealth, bucketConfigs, bucketCounts} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
}

// tightenMode makes sure only the owner can read the file: it holds private
// keys, and a file copied in from elsewhere may carry a looser mode.
func tightenMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("open state %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("open state %s: restrict mode to 0600: %w", path, err)
		}
	}
	return nil
}

// Path returns the file's path.
func (db *DB) Path() string { return db.path }

// Close waits for running transactions and closes the file. Calls after
// Close fail with an error wrapping bbolt's ErrDatabaseNotOpen.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close state %s: %w", db.path, err)
	}
	return nil
}

// Check runs bbolt's consistency check (every page reachable exactly once,
// no page both used and free, keys ordered) in a read transaction and
// returns every problem it finds joined into one error, or nil for a
// consistent file. It reads the whole file: call it at start-up or on
// demand, not on a hot path.
func (db *DB) Check() error {
	var problems []error
	err := db.bolt.View(func(tx *bolt.Tx) error {
		for p := range tx.Check() {
			problems = append(problems, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check state %s: %w", db.path, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("check state %s: %w", db.path, errors.Join(problems...))
	}
	return nil
}
