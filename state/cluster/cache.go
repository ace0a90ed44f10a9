package cluster

import (
	"context"

	"golang.org/x/crypto/acme/autocert"
)

// The certificate manager's Store (acme.Store) over the shared entries:
// the certificate cache is space "", the blobs are spaces of their
// bucket's name, shared when Options.Shared lists the bucket and local
// otherwise.

// CertCache returns the shared certificate cache.
func (s *Store) CertCache() autocert.Cache { return certCache{s} }

type certCache struct{ s *Store }

// Get returns the entry, or autocert.ErrCacheMiss.
func (c certCache) Get(ctx context.Context, key string) ([]byte, error) {
	v, ok, err := c.s.get(ctx, "", key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, autocert.ErrCacheMiss
	}
	return v, nil
}

// Put stores data under key for every edge.
func (c certCache) Put(ctx context.Context, key string, data []byte) error {
	return c.s.put(ctx, "", key, data)
}

// Delete removes key for every edge.
func (c certCache) Delete(ctx context.Context, key string) error {
	return c.s.remove(ctx, "", key)
}

// Blob returns the value under bucket/key and whether it exists.
func (s *Store) Blob(bucket, key string) ([]byte, bool, error) {
	return s.get(context.Background(), bucket, key)
}

// PutBlob stores value under bucket/key (for every edge when the bucket
// is shared).
func (s *Store) PutBlob(bucket, key string, value []byte) error {
	return s.put(context.Background(), bucket, key, value)
}

// DeleteBlob removes bucket/key; a missing key is not an error.
func (s *Store) DeleteBlob(bucket, key string) error {
	return s.remove(context.Background(), bucket, key)
}
