package state

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// MaxBlobSize bounds one blob: blobs are small records (a backoff record, a
// CA key pair, a few session-ticket keys), not files.
const MaxBlobSize = 1 << 20

// Blob returns a copy of the value stored under bucket/key and whether it
// exists. Buckets are namespaces chosen by the calling package ("acme",
// "localca", "tls"); they live apart from the state's own buckets, so any
// name is safe.
func (db *DB) Blob(bucket, key string) ([]byte, bool, error) {
	var out []byte
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs).Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(key)); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("state: get blob %s/%s: %w", bucket, key, err)
	}
	return out, out != nil, nil
}

// PutBlob stores value under bucket/key, creating the bucket if needed, in
// one committed transaction. value may be at most MaxBlobSize bytes.
func (db *DB) PutBlob(bucket, key string, value []byte) error {
	if bucket == "" || key == "" {
		return fmt.Errorf("state: put blob %q/%q: bucket and key must not be empty", bucket, key)
	}
	if len(value) > MaxBlobSize {
		return fmt.Errorf("state: put blob %s/%s: %d bytes is over the %d-byte limit", bucket, key, len(value), MaxBlobSize)
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketBlobs).CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
	if err != nil {
		return fmt.Errorf("state: put blob %s/%s: %w", bucket, key, err)
	}
	return nil
}

// DeleteBlob removes bucket/key; a missing bucket or key is not an error.
func (db *DB) DeleteBlob(bucket, key string) error {
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs).Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("state: delete blob %s/%s: %w", bucket, key, err)
	}
	return nil
}

// BlobKeys lists the keys of bucket in byte order (none for a missing
// bucket).
func (db *DB) BlobKeys(bucket string) ([]string, error) {
	var keys []string
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs).Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("state: list blobs of %s: %w", bucket, err)
	}
	return keys, nil
}
