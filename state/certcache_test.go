package state

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/acme/autocert"
)

func TestCertCacheRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, Options{})
	cache := db.CertCache()

	// autocert compares with == , so the miss must be the bare sentinel.
	if _, err := cache.Get(ctx, "example.com"); err != autocert.ErrCacheMiss {
		t.Fatalf("Get(missing) error = %v, want autocert.ErrCacheMiss itself", err)
	}
	if err := cache.Put(ctx, "example.com", []byte("pem data")); err != nil {
		t.Fatal(err)
	}
	got, err := cache.Get(ctx, "example.com")
	if err != nil || string(got) != "pem data" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	got[0] = 'X' // the caller owns the returned slice
	if again, _ := cache.Get(ctx, "example.com"); string(again) != "pem data" {
		t.Errorf("modifying a returned value changed the stored one: %q", again)
	}
	if err := cache.Delete(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := cache.Delete(ctx, "example.com"); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
	if _, err := cache.Get(ctx, "example.com"); err != autocert.ErrCacheMiss {
		t.Errorf("Get after Delete error = %v, want ErrCacheMiss", err)
	}
	// Certificates do not collide with blobs of the same name.
	if err := db.PutBlob("certs", "example.com", []byte("blob")); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Get(ctx, "example.com"); err != autocert.ErrCacheMiss {
		t.Errorf("a blob leaked into the certificate cache: %v", err)
	}
}

func TestCertKeys(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, Options{})
	if keys, err := db.CertKeys(); err != nil || len(keys) != 0 {
		t.Fatalf("empty cache: %v, %v", keys, err)
	}
	for _, k := range []string{"b.example", "acme_account+key", "a.example"} {
		if err := db.CertCache().Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := db.CertKeys()
	if err != nil || strings.Join(keys, ",") != "a.example,acme_account+key,b.example" {
		t.Fatalf("CertKeys = %v, %v", keys, err)
	}
}
