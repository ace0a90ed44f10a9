package state

import (
	"context"
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
