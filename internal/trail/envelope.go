package trail

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Envelope encryption of a trail file with a KMS key (a trail with KmsKeyId): the file
// is
//
//	"COFFER-CT-KMS1\n" | uint16 big-endian n | n bytes: KMS CiphertextBlob of the data key |
//	12-byte nonce | AES-256-GCM(data key, nonce, gzip file, AAD = all the bytes before)
//
// The data key comes from GenerateDataKey (AES_256) with the encryption context
// {"aws:cloudtrail:arn": <trail ARN>}; a reader decrypts it with KMS Decrypt and the same
// context.
const envelopeMagic = "COFFER-CT-KMS1\n"

// ErrNotEnvelope: the data does not start with the envelope header.
var ErrNotEnvelope = errors.New("trail: not an encrypted trail file")

// IsEnvelope reports whether b starts with the envelope header.
func IsEnvelope(b []byte) bool { return bytes.HasPrefix(b, []byte(envelopeMagic)) }

// Envelope is a parsed encrypted file.
type Envelope struct {
	DataKeyBlob []byte
	Nonce       []byte
	Ciphertext  []byte
	aad         []byte
}

// ParseEnvelope splits an encrypted file into its parts without decrypting.
func ParseEnvelope(b []byte) (*Envelope, error) {
	if !IsEnvelope(b) {
		return nil, ErrNotEnvelope
	}
	rest := b[len(envelopeMagic):]
	if len(rest) < 2 {
		return nil, errors.New("trail: encrypted file: truncated header")
	}
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if n == 0 || len(rest) < n+12+16 {
		return nil, errors.New("trail: encrypted file: truncated header")
	}
	hdr := len(envelopeMagic) + 2 + n + 12
	return &Envelope{DataKeyBlob: rest[:n], Nonce: rest[n : n+12], Ciphertext: rest[n+12:], aad: b[:hdr]}, nil
}

// Open decrypts the envelope with the plaintext data key.
func (e *Envelope) Open(dataKey []byte) ([]byte, error) {
	g, err := gcm(dataKey)
	if err != nil {
		return nil, err
	}
	pt, err := g.Open(nil, e.Nonce, e.Ciphertext, e.aad)
	if err != nil {
		return nil, errors.New("trail: encrypted file: authentication failed")
	}
	return pt, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("trail: data key of %d bytes, want 32", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Seal encrypts data under a fresh data key from keys.
func Seal(ctx context.Context, keys KeyService, keyID string, encCtx map[string]string, data []byte) ([]byte, error) {
	plain, blob, err := keys.GenerateDataKey(ctx, keyID, encCtx)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	if len(blob) == 0 || len(blob) > 0xffff {
		return nil, errors.New("trail: bad data key blob")
	}
	g, err := gcm(plain)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(envelopeMagic)+2+len(blob)+12+len(data)+16)
	out = append(out, envelopeMagic...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(blob)))
	out = append(out, blob...)
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return g.Seal(out, nonce, data, out), nil
}

// Unseal decrypts a file written by Seal (with keys.Decrypt for the data key); data that
// is not an envelope is returned as is.
func Unseal(ctx context.Context, keys KeyService, encCtx map[string]string, data []byte) ([]byte, error) {
	if !IsEnvelope(data) {
		return data, nil
	}
	env, err := ParseEnvelope(data)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, errors.New("trail: the file is encrypted and no KMS is available to decrypt it")
	}
	dk, err := keys.Decrypt(ctx, env.DataKeyBlob, encCtx)
	if err != nil {
		return nil, fmt.Errorf("trail: decrypting the data key: %w", err)
	}
	defer clear(dk)
	return env.Open(dk)
}

// gzipBytes compresses b.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// maxInflated bounds a decompressed trail file (a guard against gzip bombs).
const maxInflated = 1 << 30

// Gunzip decompresses a gzip file.
func Gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxInflated {
		return nil, errors.New("trail: decompressed file too large")
	}
	return out, nil
}
