package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of the cluster key in bytes.
const KeySize = 32

// KeyFileName is the key's file name in /etc/frontdoor and in systemd's
// credentials directory (LoadCredential=cluster.key:…).
const KeyFileName = "cluster.key"

// DefaultKeyFile is where the key is looked for when systemd passed no
// credential.
const DefaultKeyFile = "/etc/frontdoor/" + KeyFileName

// NewKey returns a new random key as the text a key file holds: 64
// hexadecimal digits and a newline.
func NewKey() string {
	b := make([]byte, KeySize)
	rand.Read(b)
	return hex.EncodeToString(b) + "\n"
}

// KeyFile is the key file to read: explicit when set, else cluster.key in
// $CREDENTIALS_DIRECTORY (systemd's LoadCredential=) when it is there,
// else DefaultKeyFile.
func KeyFile(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, KeyFileName)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return DefaultKeyFile
}

// LoadKey reads a key file: 32 bytes written as 64 hexadecimal digits or
// in base64, surrounding white space ignored. A file anyone may read is
// refused: the key opens every private key the cluster holds.
func LoadKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return nil, fmt.Errorf("cluster key %s is readable by every user (mode %#o): chmod 600 it (or 640 with group frontdoor)", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	text := strings.TrimSpace(string(data))
	if k, err := hex.DecodeString(text); err == nil && len(k) == KeySize {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(text); err == nil && len(k) == KeySize {
		return k, nil
	}
	return nil, fmt.Errorf("cluster key %s: want %d bytes as 64 hexadecimal digits (or base64); make one with `frontdoor cluster-key > %s`", path, KeySize, path)
}

// sealer encrypts and authenticates values with a key derived from the
// cluster key. The associated data binds a sealed value to its place
// (space and key), so that a row copied under another key does not open.
type sealer struct {
	aead  cipher.AEAD
	check string // see keyCheck
}

// sealVersion is the first byte of every sealed value: the format.
const sealVersion = 1

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("cluster key: %d bytes, want %d", len(key), KeySize)
	}
	encKey, err := hkdf.Key(sha256.New, key, nil, "frontdoor cluster v1: values", 32)
	if err != nil {
		return nil, err
	}
	checkKey, err := hkdf.Key(sha256.New, key, nil, "frontdoor cluster v1: key check", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, checkKey)
	mac.Write([]byte("frontdoor cluster key check"))
	return &sealer{aead: aead, check: hex.EncodeToString(mac.Sum(nil))}, nil
}

// keyCheck is stored in the schema by the first edge: an edge with
// another key is told so at once, rather than failing to open values.
// It reveals nothing about the key (an HMAC under a derived key).
func (s *sealer) keyCheck() string { return s.check }

func aad(space, key string) []byte { return []byte(space + "\x00" + key) }

// seal encrypts value for space/key: version, nonce, ciphertext and tag.
func (s *sealer) seal(space, key string, value []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	out := make([]byte, 0, 1+len(nonce)+len(value)+s.aead.Overhead())
	out = append(out, sealVersion)
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, value, aad(space, key))
}

// errSealed is a value that does not open with this key in this place.
var errSealed = errors.New("a value in the cluster schema does not open with this edge's cluster key")

func (s *sealer) open(space, key string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, errSealed
	}
	out, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad(space, key))
	if err != nil {
		return nil, errSealed
	}
	return out, nil
}
