package acme

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
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
// tls.Config the manager handed out.
type ticketKeys struct {
	store    Store
	now      func() time.Time
	rotation time.Duration

	mu      sync.Mutex
	keys    []storedTicketKey // newest first
	configs []weak.Pointer[tls.Config]
}

type storedTicketKey struct {
	Created time.Time `json:"created"`
	Key     []byte    `json:"key"` // 32 bytes
}

func loadTicketKeys(store Store, now func() time.Time, rotation time.Duration) (*ticketKeys, error) {
	t := &ticketKeys{store: store, now: now, rotation: rotation}
	data, ok, err := store.Blob(ticketBucket, ticketKey)
	if err != nil {
		return nil, fmt.Errorf("load session-ticket keys: %w", err)
	}
	if ok {
		var keys []storedTicketKey
		if json.Unmarshal(data, &keys) == nil {
			for _, k := range keys {
				if len(k.Key) == 32 && len(t.keys) < keptTicketKeys {
					t.keys = append(t.keys, k)
				}
			}
		}
	}
	if _, err := t.rotateIfDue(); err != nil {
		return nil, err
	}
	return t, nil
}

// rotateIfDue makes a new key when the newest is older than the rotation
// period (or there is none), stores the set and applies it to every live
// config. It reports whether it rotated.
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
	if err := t.store.PutBlob(ticketBucket, ticketKey, data); err != nil {
		return false, fmt.Errorf("store session-ticket keys: %w", err)
	}
	t.keys = keys
	t.applyLocked()
	return true, nil
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
