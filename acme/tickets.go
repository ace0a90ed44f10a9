package acme

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"weak"
)

// keptTicketKeys is how many session-ticket keys decrypt tickets: the
// newest encrypts, the older ones let clients resume for up to
// keptTicketKeys rotation periods.
const keptTicketKeys = 3

const (
	ticketBucket = "tls"
	ticketKey    = "session-ticket-keys"
)

// ticketKeys owns the TLS session-ticket keys: it rotates them, keeps them
// in the store (so tickets survive a restart) and pushes them into every
// tls.Config the manager handed out. In a cluster the keys are the
// cluster's: a ticket one edge issued resumes on every other, and one edge
// rotates them for all (a compare-and-swap on the stored set: an edge that
// loses the race takes the winner's set).
type ticketKeys struct {
	store    Store
	cluster  Cluster // nil for a single edge
	log      *slog.Logger
	now      func() time.Time
	rotation time.Duration

	mu      sync.Mutex
	keys    []storedTicketKey // newest first
	stored  []byte            // the set as the store holds it (the swap's "old")
	configs []weak.Pointer[tls.Config]
}

type storedTicketKey struct {
	Created time.Time `json:"created"`
	Key     []byte    `json:"key"` // 32 bytes
}

func loadTicketKeys(store Store, cluster Cluster, log *slog.Logger, now func() time.Time, rotation time.Duration) (*ticketKeys, error) {
	t := &ticketKeys{store: store, cluster: cluster, log: log, now: now, rotation: rotation}
	data, ok, err := store.Blob(ticketBucket, ticketKey)
	if err != nil {
		return nil, fmt.Errorf("load session-ticket keys: %w", err)
	}
	if ok {
		t.keys, t.stored = parseTicketKeys(data), data
	}
	if _, err := t.rotateIfDue(); err != nil {
		if len(t.keys) == 0 {
			return nil, err
		}
		// In a cluster whose database is away: the keys in hand serve
		// until it is back.
		log.Warn("session-ticket keys not rotated", "err", err)
	}
	return t, nil
}

func parseTicketKeys(data []byte) []storedTicketKey {
	var keys, out []storedTicketKey
	if json.Unmarshal(data, &keys) != nil {
		return nil
	}
	for _, k := range keys {
		if len(k.Key) == 32 && len(out) < keptTicketKeys {
			out = append(out, k)
		}
	}
	return out
}

// rotateIfDue makes a new key when the newest is older than the rotation
// period (or there is none), stores the set and applies it to every live
// config. It reports whether it rotated. In a cluster whose database is
// unavailable it returns an error and the keys stay as they are, unless
// there are none: then a set of this edge's own is made, for the cluster's
// to replace when the database is back.
func (t *ticketKeys) rotateIfDue() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.keys) > 0 && now.Sub(t.keys[0].Created) < t.rotation {
		return false, nil
	}
	k := storedTicketKey{Created: now, Key: make([]byte, 32)}
	rand.Read(k.Key)
	keys := append([]storedTicketKey{k}, t.keys...)
	keys = keys[:min(len(keys), keptTicketKeys)]
	data, err := json.Marshal(keys)
	if err != nil {
		return false, fmt.Errorf("encode session-ticket keys: %w", err)
	}
	if t.cluster != nil {
		cur, swapped, err := t.cluster.CompareAndSwap(ticketBucket, ticketKey, t.stored, data)
		switch {
		case err != nil && len(t.keys) > 0:
			return false, fmt.Errorf("rotate the cluster's session-ticket keys: %w", err)
		case err == nil && !swapped:
			// Another edge rotated (or created) them first: its set is
			// everyone's.
			t.keys, t.stored = parseTicketKeys(cur), cur
			t.applyLocked()
			return false, nil
		case err == nil:
			t.keys, t.stored = keys, data
			t.applyLocked()
			return true, nil
		}
		t.log.Warn("the cluster's session-ticket keys are out of reach: using this edge's own until they are back", "err", err)
	}
	if err := t.store.PutBlob(ticketBucket, ticketKey, data); err != nil {
		return false, fmt.Errorf("store session-ticket keys: %w", err)
	}
	t.keys, t.stored = keys, data
	t.applyLocked()
	return true, nil
}

// reload takes the set the store holds (another edge rotated it).
func (t *ticketKeys) reload() error {
	data, ok, err := t.store.Blob(ticketBucket, ticketKey)
	if err != nil || !ok {
		return err
	}
	keys := parseTicketKeys(data)
	if len(keys) == 0 {
		return fmt.Errorf("the stored session-ticket keys do not parse")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys, t.stored = keys, data
	t.applyLocked()
	return nil
}

// register makes cfg use the current keys and follow future rotations. The
// manager holds cfg weakly: a config the engine dropped is forgotten.
func (t *ticketKeys) register(cfg *tls.Config) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cfg.SetSessionTicketKeys(t.rawLocked())
	t.configs = append(t.configs, weak.Make(cfg))
}

// applyLocked pushes the keys into the live configs; SetSessionTicketKeys
// is safe while a config serves handshakes.
func (t *ticketKeys) applyLocked() {
	raw := t.rawLocked()
	live := t.configs[:0]
	for _, w := range t.configs {
		if cfg := w.Value(); cfg != nil {
			cfg.SetSessionTicketKeys(raw)
			live = append(live, w)
		}
	}
	clear(t.configs[len(live):])
	t.configs = live
}

func (t *ticketKeys) rawLocked() [][32]byte {
	raw := make([][32]byte, len(t.keys))
	for i, k := range t.keys {
		copy(raw[i][:], k.Key)
	}
	return raw
}
