package state

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/acme/autocert"
)

// CertCache is the autocert.Cache of the ACME client, kept in its own bucket
// of the state file. autocert stores there certificates with their private
// keys (PEM), the ACME account key ("acme_account+key") and, while a
// challenge is under way, challenge tokens.
type CertCache struct{ db *DB }

// CertCache returns the certificate cache backed by this file.
func (db *DB) CertCache() autocert.Cache { return &CertCache{db: db} }

// Get returns the data stored under key, or autocert.ErrCacheMiss. The
// context is not consulted: a bbolt read does not block on I/O long enough
// to be worth cancelling.
func (c *CertCache) Get(_ context.Context, key string) ([]byte, error) {
	var data []byte
	err := c.db.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCerts).Get([]byte(key)); v != nil {
			data = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: get cert %q: %w", key, err)
	}
	if data == nil {
		return nil, autocert.ErrCacheMiss
	}
	return data, nil
}

// Put stores data under key in one committed transaction.
func (c *CertCache) Put(_ context.Context, key string, data []byte) error {
	err := c.db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCerts).Put([]byte(key), data)
	})
	if err != nil {
		return fmt.Errorf("state: put cert %q: %w", key, err)
	}
	return nil
}

// Delete removes key; deleting a missing key is not an error.
func (c *CertCache) Delete(_ context.Context, key string) error {
	err := c.db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCerts).Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("state: delete cert %q: %w", key, err)
	}
	return nil
}

// CertKeys lists the keys of the certificate cache in byte order: the
// cluster store (state/cluster) walks them to seed a new cluster with an
// edge's certificates and account.
func (db *DB) CertKeys() ([]string, error) {
	var keys []string
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCerts).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("state: list certs: %w", err)
	}
	return keys, nil
}
