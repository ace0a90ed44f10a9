package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"frontdoor/state"
)

// Defaults of Options.
const (
	DefaultSchema         = "frontdoor"
	DefaultHeartbeat      = 10 * time.Second
	DefaultRetryMax       = 30 * time.Second
	DefaultChallengeWait  = 5 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultOpTimeout      = 5 * time.Second
)

// ErrUnavailable is returned by the operations that need PostgreSQL (a
// lease, a compare-and-swap, a fenced store) while it cannot be reached.
var ErrUnavailable = errors.New("the cluster's PostgreSQL is unavailable")

// Options configure a Store.
type Options struct {
	// DSN is the PostgreSQL connection string (a URL or libpq's
	// key=value form). Empty: not known yet (the application's own
	// database, learned when its settings are read): SetDSN gives it
	// later, and the store serves from the local cache meanwhile.
	DSN string
	// Schema is the schema frontdoor creates and migrates. Default
	// "frontdoor".
	Schema string
	// Edge names this edge in the cluster (status, events, leases).
	// Required; each edge needs its own.
	Edge string
	// Key is the cluster key (LoadKey). Required.
	Key []byte
	// Local is the edge's state file: the cache of everything shared,
	// and the store of what is not shared. Required.
	Local *state.DB
	// Shared are the blob buckets shared by the edges; the certificate
	// cache always is. Other buckets stay in Local only.
	Shared []string
	// Version is this edge's frontdoor version, for status.
	Version string
	// Heartbeat is how often the edge writes its heartbeat. An edge
	// silent for 3 heartbeats is shown as gone and is no longer waited
	// for when a challenge is published. Default 10 s.
	Heartbeat time.Duration
	// RetryMax caps the wait between reconnection attempts (which starts
	// at a second, or RetryMax if less, and doubles). Default 30 s.
	RetryMax time.Duration
	// ChallengeWait bounds how long PresentChallenge waits for the other
	// live edges to confirm they have a challenge's answer. Default 5 s.
	ChallengeWait time.Duration
	// ConnectTimeout bounds one connection attempt (and how long Open
	// waits for the first one). Default 5 s.
	ConnectTimeout time.Duration
	// OpTimeout bounds one query. Default 5 s.
	OpTimeout time.Duration
	// EdgeInfo, when set, is called for every heartbeat: what the edge
	// serves and its last error, for the other edges' status.
	EdgeInfo func() EdgeInfo
	// OnEvent, when set, is told when the connection is lost or comes
	// back (kind "down" or "up"), for the edge's own event log; the
	// cluster's history gets these events too, once it can.
	OnEvent func(kind, message string)
	// Logger receives the store's logs. Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	if o.ChallengeWait <= 0 {
		o.ChallengeWait = DefaultChallengeWait
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store is one edge's view of the cluster state. Create it with Open;
// its methods are safe for concurrent use.
type Store struct {
	opts     Options
	log      *slog.Logger
	seal     *sealer
	local    *state.DB
	shared   map[string]bool
	instance string // this process: edge name and a random suffix
	hostname string
	started  time.Time

	lifetime context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	kick     chan struct{} // SetDSN, or an operation saw the connection fail
	// dispatch carries changes to the watchers, in order, off the
	// listening goroutine.
	dispatch chan change

	mu            sync.Mutex
	dsn           string
	pool          *pgxpool.Pool // non-nil while connected
	conn          connState
	endSession    context.CancelFunc
	watchers      map[int]func(bucket, key string)
	nextWatcher   int
	challenges    map[string]*challenge // by token (challenge.go)
	ackWaiters    map[int64]*ackWaiter
	pending       []Event // events not yet written (edges.go)
	droppedEvents int
	flushKick     chan struct{}
}

// change is one entry another edge changed.
type change struct{ bucket, key string }

// Open checks opts, and starts connecting to PostgreSQL in the
// background. It waits up to ConnectTimeout for the first connection so
// that an edge starting next to a healthy database reads fresh state; a
// database that cannot be reached is no error: the store then serves from
// the local cache and keeps trying.
func Open(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	switch {
	case opts.Local == nil:
		return nil, errors.New("cluster: Options.Local is required")
	case opts.Edge == "":
		return nil, errors.New("cluster: Options.Edge is required")
	case !schemaName.MatchString(opts.Schema):
		return nil, fmt.Errorf("cluster: schema %q: use lower-case letters, digits and _ (at most 63, not starting with a digit)", opts.Schema)
	}
	seal, err := newSealer(opts.Key)
	if err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	s := &Store{
		opts:       opts,
		log:        opts.Logger,
		seal:       seal,
		local:      opts.Local,
		shared:     map[string]bool{"": true},
		instance:   opts.Edge + "/" + hex.EncodeToString(suffix),
		hostname:   hostname,
		started:    time.Now(),
		kick:       make(chan struct{}, 1),
		dispatch:   make(chan change, 256),
		dsn:        opts.DSN,
		watchers:   map[int]func(string, string){},
		challenges: map[string]*challenge{},
		ackWaiters: map[int64]*ackWaiter{},
		flushKick:  make(chan struct{}, 1),
	}
	for _, b := range opts.Shared {
		s.shared[b] = true
	}
	s.conn = connState{State: StateConnecting, Since: time.Now()}
	if opts.DSN == "" {
		s.conn.State = StateWaiting
	}
	s.lifetime, s.cancel = context.WithCancel(context.Background())
	first := make(chan struct{})
	s.wg.Add(2)
	go s.connectLoop(first)
	go s.dispatchLoop()
	if opts.DSN != "" {
		select {
		case <-first:
		case <-time.After(opts.ConnectTimeout + time.Second):
		}
	}
	return s, nil
}

// Close ends the connection and the background work. The local cache
// stays valid.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// Instance is this process's identity in the cluster: the edge name and a
// random suffix, as leases and events name their holder.
func (s *Store) Instance() string { return s.instance }

// SetDSN gives the connection string when it was not known at Open (or
// changes it); the store connects with it at once.
func (s *Store) SetDSN(dsn string) {
	s.mu.Lock()
	changed := s.dsn != dsn
	s.dsn = dsn
	end := s.endSession
	s.mu.Unlock()
	if !changed {
		return
	}
	if end != nil {
		end() // a session on the old DSN ends; the loop picks the new one
	}
	s.poke()
}

func (s *Store) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// currentPool returns the pool while connected, else nil: callers then
// use the local cache at once instead of waiting for a connection.
func (s *Store) currentPool() *pgxpool.Pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pool
}

// opContext bounds one query.
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
	stop := context.AfterFunc(s.lifetime, cancel)
	return ctx, func() { stop(); cancel() }
}

// Watch calls fn, from one goroutine and in order, for every shared entry
// another edge changed, after the change is in the local cache: bucket ""
// is the certificate cache. After every (re)connection it also calls
// fn("", ""): what waited for the database may go on. It returns a
// function that stops the calls.
func (s *Store) Watch(fn func(bucket, key string)) (stop func()) {
	s.mu.Lock()
	id := s.nextWatcher
	s.nextWatcher++
	s.watchers[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.watchers, id)
		s.mu.Unlock()
	}
}

func (s *Store) notifyWatchers(changes []change) {
	for _, c := range changes {
		select {
		case s.dispatch <- c:
		case <-s.lifetime.Done():
			return
		}
	}
}

func (s *Store) dispatchLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.lifetime.Done():
			return
		case c := <-s.dispatch:
			s.mu.Lock()
			fns := make([]func(string, string), 0, len(s.watchers))
			for _, fn := range s.watchers {
				fns = append(fns, fn)
			}
			s.mu.Unlock()
			for _, fn := range fns {
				fn(c.bucket, c.key)
			}
		}
	}
}
