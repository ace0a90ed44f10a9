package acme

import (
	"context"
	"crypto"
	"strings"
	"testing"
)

// The ACME account key is made once, kept in the state in the layout the
// autocert-era frontdoor used, and found again by the next process; a
// damaged stored key is an error, not a silent new account.
func TestAccountKeyIsCreatedOnceAndKept(t *testing.T) {
	path := tempStorePath(t)
	m := localManager(t, path, nil)
	key, err := m.account()
	must(t, err)
	again, err := m.account()
	must(t, err)
	if again != key {
		t.Error("a second call made another key")
	}
	data, err := m.cache.Get(context.Background(), accountCacheKey)
	must(t, err)
	if !strings.HasPrefix(string(data), "-----BEGIN EC PRIVATE KEY-----") {
		t.Errorf("stored account key is not a SEC1 PEM key: %.40q", data)
	}
	stored, err := parseAccountKey(data)
	must(t, err)
	if !stored.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		t.Error("the stored key is not the one in use")
	}
	m.Close()
	m.cfg.Store.(interface{ Close() error }).Close()

	next := localManager(t, path, nil)
	loaded, err := next.account()
	must(t, err)
	if !loaded.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		t.Error("the next process made a new account key")
	}

	damaged := localManager(t, tempStorePath(t), nil)
	must(t, damaged.cache.Put(context.Background(), accountCacheKey, []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")))
	if k, err := damaged.account(); err == nil || k != nil {
		t.Errorf("a damaged stored key gave %v, %v; want an error", k, err)
	}
}
