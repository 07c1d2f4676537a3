package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// KeySize is the size of the domain key in bytes (AES-256).
const KeySize = 32

const (
	ciphertextVersion = 0x01
	nonceSize         = 12
	tagSize           = 16
	// Overhead is the number of bytes Encrypt adds to the plaintext.
	Overhead = 1 + nonceSize + tagSize

	idLabel = "coffer domain key id v1"
)

// DomainKey is the cluster domain key. It is safe for concurrent use.
//
// A DomainKey must not be copied after first use. Its formatting methods
// print only its ID, never key bytes.
type DomainKey struct {
	mu   sync.RWMutex
	key  []byte      // KeySize bytes; overwritten with zeros by Zeroize
	aead cipher.AEAD // AES-256-GCM under key; nil after Zeroize
	id   string
	zero bool
}

// Generate creates a new random domain key reading KeySize bytes from rnd
// (crypto/rand.Reader if rnd is nil). It fails if rnd fails or returns an
// all-zero key.
func Generate(rnd io.Reader) (*DomainKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	b := make([]byte, KeySize)
	defer clear(b)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, newErr("generate", nil, fmt.Errorf("reading randomness: %w", err))
	}
	d, err := FromBytes(b)
	if err != nil {
		return nil, newErr("generate", ErrInvalidKey, detail("random source returned an all-zero key"))
	}
	return d, nil
}

// FromBytes returns a DomainKey holding a copy of b, which must be KeySize
// bytes and not all zero (ErrInvalidKey otherwise). The caller should zero b
// when done with it.
func FromBytes(b []byte) (*DomainKey, error) {
	if len(b) != KeySize {
		return nil, newErr("load key", ErrInvalidKey, detail(fmt.Sprintf("want %d bytes, got %d", KeySize, len(b))))
	}
	if isZero(b) {
		return nil, newErr("load key", ErrInvalidKey, detail("all-zero key"))
	}
	key := make([]byte, KeySize)
	copy(key, b)
	aead, err := newGCM(key)
	if err != nil {
		clear(key)
		return nil, newErr("load key", ErrInvalidKey, nil)
	}
	return &DomainKey{key: key, aead: aead, id: keyID(key)}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func keyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(idLabel))
	sum := m.Sum(nil)
	return hex.EncodeToString(sum[:8])
}

// isZero reports, in constant time, whether b is all zero bytes.
func isZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return subtle.ConstantTimeByteEq(acc, 0) == 1
}

// ID returns the key's stable, non-secret identifier: the hex encoding of
// the first 8 bytes of HMAC-SHA256(key, "coffer domain key id v1"). It stays
// available after Zeroize.
func (d *DomainKey) ID() string { return d.id }

// Encrypt encrypts plaintext with AES-256-GCM under the domain key and a
// fresh random 96-bit nonce. The output is
// 0x01 || nonce(12) || ciphertext+tag(16); the version byte is authenticated
// together with aad, which must bind the protected object's identity (ID and
// immutable attributes, unambiguously encoded). It returns ErrZeroized after
// Zeroize.
func (d *DomainKey) Encrypt(plaintext, aad []byte) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.aead == nil {
		return nil, newErr("encrypt", ErrZeroized, nil)
	}
	return aeadSeal(d.aead, plaintext, aad), nil
}

// Decrypt reverses Encrypt. Any mismatch (other key, other aad, truncation,
// bit flip, unknown version) returns an error wrapping ErrDecrypt; it never
// panics. It returns ErrZeroized after Zeroize. The caller owns (and should
// zero) the returned plaintext.
func (d *DomainKey) Decrypt(ciphertext, aad []byte) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.aead == nil {
		return nil, newErr("decrypt", ErrZeroized, nil)
	}
	pt, ok := aeadOpen(d.aead, ciphertext, aad)
	if !ok {
		return nil, newErr("decrypt", ErrDecrypt, nil)
	}
	return pt, nil
}

// aeadSeal returns 0x01 || nonce || Seal(plaintext, ad = 0x01 || aad).
func aeadSeal(aead cipher.AEAD, plaintext, aad []byte) []byte {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = ciphertextVersion
	rand.Read(out[1 : 1+nonceSize]) // never fails (crashes the program instead)
	return aead.Seal(out, out[1:1+nonceSize], plaintext, versionedAAD(aad))
}

func aeadOpen(aead cipher.AEAD, ciphertext, aad []byte) ([]byte, bool) {
	if len(ciphertext) < Overhead || ciphertext[0] != ciphertextVersion {
		return nil, false
	}
	nonce := ciphertext[1 : 1+nonceSize]
	pt, err := aead.Open(nil, nonce, ciphertext[1+nonceSize:], versionedAAD(aad))
	if err != nil {
		return nil, false
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, true
}

func versionedAAD(aad []byte) []byte {
	ad := make([]byte, 0, 1+len(aad))
	ad = append(ad, ciphertextVersion)
	return append(ad, aad...)
}

// Bytes returns a copy of the raw key, for wrapping (sealing, backups,
// custodian shares). The caller must zero the returned slice (clear(b)) as
// soon as it is done with it. After Zeroize it returns KeySize zero bytes,
// which FromBytes rejects.
func (d *DomainKey) Bytes() []byte {
	d.mu.RLock()
	defer d.mu.RUnlock()
	b := make([]byte, KeySize)
	copy(b, d.key)
	return b
}

// Zeroize overwrites the key bytes with zeros and drops the AEAD. Afterwards
// Encrypt and Decrypt return ErrZeroized. It is idempotent. See the package
// documentation for the limits of zeroization in Go.
func (d *DomainKey) Zeroize() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.key)
	d.aead = nil
	d.zero = true
}

// Zeroized reports whether Zeroize has been called.
func (d *DomainKey) Zeroized() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.zero
}

// String returns "seal.DomainKey(<id>)".
func (d *DomainKey) String() string { return "seal.DomainKey(" + d.id + ")" }

// GoString is like String.
func (d *DomainKey) GoString() string { return d.String() }

// Format implements fmt.Formatter so that no verb prints key bytes.
func (d *DomainKey) Format(f fmt.State, _ rune) { io.WriteString(f, d.String()) }

// LogValue implements slog.LogValuer: only the ID is logged.
func (d *DomainKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("domain_key_id", d.id))
}
