package kms

import (
	"encoding/binary"
	"sort"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// Ciphertext blob format, version 1 (documented in docs/kms-ciphertext.md):
//
//	offset  size  field
//	0       1     format version: 0x01
//	1       1     n: length of the key ID
//	2       n     key ID (ASCII: a UUID, or mrk-<32 hex> for Multi-Region keys)
//	2+n     4     key version number, big-endian, 1-based index into the key's versions
//	6+n     12    AES-GCM nonce (generated inside the HSM)
//	18+n    ...   AES-256-GCM ciphertext
//	end-16  16    GCM tag
//
// The GCM additional data is the header (bytes 0 .. 6+n) followed by the canonical
// encryption context, so the key ID, the version and the context are all authenticated:
// changing any byte anywhere makes decryption fail.
const (
	blobVersion    = 0x01
	minBlobLen     = 2 + 1 + 4 + hsm.GCMNonceSize + hsm.GCMTagSize
	maxKeyIDInBlob = 64
)

type blobHeader struct {
	keyID   string
	version uint32 // 1-based
	header  []byte // the raw header bytes (AAD prefix)
	payload []byte // nonce || ciphertext || tag
}

func encodeHeader(keyID string, version uint32) []byte {
	h := make([]byte, 0, 2+len(keyID)+4)
	h = append(h, blobVersion, byte(len(keyID)))
	h = append(h, keyID...)
	return binary.BigEndian.AppendUint32(h, version)
}

// parseBlob splits a ciphertext blob. It never panics; any malformation is an
// InvalidCiphertextException.
func parseBlob(b []byte) (blobHeader, error) {
	bad := kmsErr("InvalidCiphertextException", "The ciphertext is not a Coffer KMS ciphertext or it was altered.")
	if len(b) < minBlobLen || b[0] != blobVersion {
		return blobHeader{}, bad
	}
	n := int(b[1])
	if n == 0 || n > maxKeyIDInBlob || len(b) < 2+n+4+hsm.GCMNonceSize+hsm.GCMTagSize {
		return blobHeader{}, bad
	}
	id := b[2 : 2+n]
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return blobHeader{}, bad
		}
	}
	v := binary.BigEndian.Uint32(b[2+n:])
	if v == 0 {
		return blobHeader{}, bad
	}
	return blobHeader{keyID: string(id), version: v, header: b[:6+n], payload: b[6+n:]}, nil
}

// canonicalContext encodes an encryption context independently of key order: the pairs
// sorted by key, each as uvarint(len(key)) key uvarint(len(value)) value.
func canonicalContext(dst []byte, ec map[string]string) []byte {
	if len(ec) == 0 {
		return dst
	}
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
		v := ec[k]
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

func blobAAD(header []byte, ec map[string]string) []byte {
	aad := make([]byte, 0, len(header)+64)
	aad = append(aad, header...)
	return canonicalContext(aad, ec)
}

func validateContext(ec map[string]string) error {
	size := 0
	for k, v := range ec {
		if k == "" {
			return validation("Encryption context keys must not be empty")
		}
		size += len(k) + len(v)
	}
	if size > 8192 {
		return validation("The encryption context is larger than 8192 bytes")
	}
	return nil
}

// CiphertextKeyID is the key id a ciphertext blob names (unauthenticated: the
// blob may be forged), for the audit trail's resources; false when b is not
// a Coffer KMS ciphertext.
func CiphertextKeyID(b []byte) (string, bool) {
	h, err := parseBlob(b)
	if err != nil {
		return "", false
	}
	return h.keyID, true
}
