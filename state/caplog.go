package state

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A capped log is a bucket of JSON records keyed by (time, sequence), both
// big-endian, so that bbolt's byte order is time order and records with the
// same time keep their insertion order. Its record count lives in
// bucketCounts, which lets an append drop the oldest record without walking
// the bucket.

// logKey builds the 16-byte key of a record written at t.
func logKey(t time.Time, seq uint64) []byte {
	var k [16]byte
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0 // before 1970: sort first rather than wrap around
	}
	binary.BigEndian.PutUint64(k[:8], uint64(ns))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k[:]
}

// appendCapped adds one record at time t to the log in bucket name and drops
// the oldest records beyond max, all in one transaction.
func (db *DB) appendCapped(name []byte, max int, t time.Time, record any) error {
	value, err := json.Marshal(record)
	if err != nil {
		return fmt.Errorf("state: encode %s record: %w", name, err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(logKey(t, seq), value); err != nil {
			return err
		}
		counts := tx.Bucket(bucketCounts)
		n := readCount(counts, name) + 1
		c := b.Cursor()
		for ; n > uint64(max); n-- {
			k, _ := c.First()
			if k == nil {
				n = 0
				break
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return writeCount(counts, name, n)
	})
	if err != nil {
		return fmt.Errorf("state: append %s record: %w", name, err)
	}
	return nil
}

// listNewest decodes up to n records of the log in bucket name, newest
// first; n <= 0 means all of them.
func listNewest[T any](db *DB, name []byte, n int) ([]T, error) {
	var out []T
	err := db.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(name).Cursor()
		for k, v := c.Last(); k != nil && (n <= 0 || len(out) < n); k, v = c.Prev() {
			var rec T
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode record %x: %w", k, err)
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: list %s: %w", name, err)
	}
	return out, nil
}

func readCount(counts *bolt.Bucket, name []byte) uint64 {
	v := counts.Get(name)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func writeCount(counts *bolt.Bucket, name []byte, n uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return counts.Put(name, v[:])
}

// stamp returns t, or the current time when t is zero.
func stamp(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
