package cluster

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	raw := bytes.Repeat([]byte{0xab}, KeySize)
	for _, tc := range []struct {
		name, text string
		mode       os.FileMode
		want       string // error substring; "" for success
	}{
		{"hex", hex.EncodeToString(raw) + "\n", 0o600, ""},
		{"base64", "  " + base64.StdEncoding.EncodeToString(raw) + "\n\n", 0o640, ""},
		{"short", hex.EncodeToString(raw[:16]), 0o600, "64 hexadecimal digits"},
		{"garbage", "not a key", 0o600, "frontdoor cluster-key"},
		{"world-readable", hex.EncodeToString(raw), 0o644, "readable by every user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.text), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			k, err := LoadKey(p)
			if tc.want == "" {
				if err != nil || !bytes.Equal(k, raw) {
					t.Fatalf("LoadKey = %x, %v", k, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadKey error = %v, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := LoadKey(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing key file loaded")
	}
	p := filepath.Join(dir, "new")
	os.WriteFile(p, []byte(NewKey()), 0o600)
	if k, err := LoadKey(p); err != nil || len(k) != KeySize {
		t.Fatalf("a NewKey does not load: %x, %v", k, err)
	}
}

func TestKeyFilePrecedence(t *testing.T) {
	creds := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	if got := KeyFile("/explicit/key"); got != "/explicit/key" {
		t.Errorf("explicit: %s", got)
	}
	if got := KeyFile(""); got != DefaultKeyFile {
		t.Errorf("no credential passed: %s, want %s", got, DefaultKeyFile)
	}
	os.WriteFile(filepath.Join(creds, KeyFileName), []byte(NewKey()), 0o600)
	if got := KeyFile(""); got != filepath.Join(creds, KeyFileName) {
		t.Errorf("with a credential: %s", got)
	}
}

func TestSealBindsValueToItsPlace(t *testing.T) {
	s, err := newSealer(bytes.Repeat([]byte{1}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("-----BEGIN EC PRIVATE KEY----- secret")
	sealed := s.seal("", "example.com", secret)
	if bytes.Contains(sealed, []byte("PRIVATE KEY")) {
		t.Fatal("the sealed value holds the clear text")
	}
	if got, err := s.open("", "example.com", sealed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := s.open("", "other.example", sealed); err == nil {
		t.Error("a value moved to another key opened")
	}
	if _, err := s.open("acme", "example.com", sealed); err == nil {
		t.Error("a value moved to another space opened")
	}
	other, _ := newSealer(bytes.Repeat([]byte{2}, KeySize))
	if _, err := other.open("", "example.com", sealed); err == nil {
		t.Error("a value opened with another key")
	}
	if other.keyCheck() == s.keyCheck() {
		t.Error("two keys give the same key check")
	}
	if again := s.seal("", "example.com", secret); bytes.Equal(again, sealed) {
		t.Error("sealing twice gave the same bytes: the nonce is not random")
	}
}

func TestMigrationsAreNumberedWithoutGaps(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || SchemaVersion() != len(ms) {
		t.Fatalf("%d migrations, SchemaVersion %d", len(ms), SchemaVersion())
	}
}
