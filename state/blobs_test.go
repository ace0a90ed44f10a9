package state

import (
	"slices"
	"strings"
	"testing"
)

func TestBlobs(t *testing.T) {
	db := openTemp(t, Options{})
	type step struct {
		name    string
		do      func() error
		bucket  string
		key     string
		want    string
		present bool
	}
	steps := []step{
		{name: "missing bucket", bucket: "acme", key: "a"},
		{name: "put", do: func() error { return db.PutBlob("acme", "a", []byte("one")) }, bucket: "acme", key: "a", want: "one", present: true},
		{name: "missing key in existing bucket", bucket: "acme", key: "b"},
		{name: "overwrite", do: func() error { return db.PutBlob("acme", "a", []byte("two")) }, bucket: "acme", key: "a", want: "two", present: true},
		{name: "same key, other bucket", do: func() error { return db.PutBlob("tls", "a", []byte("x")) }, bucket: "acme", key: "a", want: "two", present: true},
		{name: "empty value is present", do: func() error { return db.PutBlob("acme", "empty", nil) }, bucket: "acme", key: "empty", want: "", present: true},
		{name: "delete", do: func() error { return db.DeleteBlob("acme", "a") }, bucket: "acme", key: "a"},
		{name: "delete missing", do: func() error { return db.DeleteBlob("nobucket", "a") }, bucket: "nobucket", key: "a"},
	}
	for _, s := range steps {
		if s.do != nil {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		v, ok, err := db.Blob(s.bucket, s.key)
		if err != nil || ok != s.present || string(v) != s.want {
			t.Errorf("%s: Blob(%s,%s) = %q, %v, %v; want %q, %v", s.name, s.bucket, s.key, v, ok, err, s.want, s.present)
		}
	}
	keys, err := db.BlobKeys("acme")
	if err != nil || !slices.Equal(keys, []string{"empty"}) {
		t.Errorf("BlobKeys(acme) = %v, %v", keys, err)
	}
}

func TestBlobLimits(t *testing.T) {
	db := openTemp(t, Options{})
	for _, c := range []struct {
		name, bucket, key string
		size              int
		want              string
	}{
		{"empty bucket", "", "k", 1, "must not be empty"},
		{"empty key", "b", "", 1, "must not be empty"},
		{"too large", "b", "k", MaxBlobSize + 1, "limit"},
	} {
		err := db.PutBlob(c.bucket, c.key, make([]byte, c.size))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: PutBlob = %v, want error containing %q", c.name, err, c.want)
		}
	}
	if err := db.PutBlob("b", "k", make([]byte, MaxBlobSize)); err != nil {
		t.Errorf("a blob of exactly MaxBlobSize: %v", err)
	}
}
