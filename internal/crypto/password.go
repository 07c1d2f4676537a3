package crypto

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new password hashes (RFC 9106 §4; OWASP Password
// Storage Cheat Sheet: m=19 MiB, t=2, p=1).
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32

	// Bounds on parameters accepted from an encoded hash (DoS protection).
	argonMaxMemory  = 1 << 20 // KiB (1 GiB)
	argonMaxTime    = 10
	argonMaxThreads = 8
	argonMinSalt    = 8
	argonMaxSalt    = 64
	argonMinKey     = 16
	argonMaxKey     = 64
)

var b64 = base64.RawStdEncoding

// HashPassword hashes password with Argon2id (RFC 9106) using a random
// 16-byte salt and returns the PHC string
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	defer clear(key)
	return encodeArgon2id(argonMemory, argonTime, argonThreads, salt, key), nil
}

func encodeArgon2id(m, t uint32, p uint8, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

type argonParams struct {
	m, t uint32
	p    uint8
	salt []byte
	key  []byte
}

// parseUint parses a canonical decimal (no sign, no leading zeros) <= max.
func parseUint(s string, max uint64) (uint64, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, ErrPasswordHashFormat
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, ErrPasswordHashFormat
	}
	if v > max {
		return 0, ErrPasswordHashParams
	}
	return v, nil
}

func parseArgon2id(encoded string) (*argonParams, error) {
	// Longest legal string is well below 256 bytes.
	if len(encoded) > 256 {
		return nil, ErrPasswordHashFormat
	}
	// encoding/base64 skips '\r' and '\n' even in strict mode; a canonical PHC string has
	// no whitespace or control characters at all.
	for i := 0; i < len(encoded); i++ {
		if encoded[i] <= ' ' || encoded[i] >= 0x7f {
			return nil, ErrPasswordHashFormat
		}
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, ErrPasswordHashFormat
	}
	v, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return nil, ErrPasswordHashFormat
	}
	ver, err := parseUint(v, 255)
	if err != nil {
		return nil, err
	}
	if ver != argon2.Version {
		return nil, ErrPasswordHashParams
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return nil, ErrPasswordHashFormat
	}
	var vals [3]uint64
	limits := [3]uint64{argonMaxMemory, argonMaxTime, argonMaxThreads}
	for i, name := range [3]string{"m=", "t=", "p="} {
		s, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return nil, ErrPasswordHashFormat
		}
		if vals[i], err = parseUint(s, limits[i]); err != nil {
			return nil, err
		}
	}
	if vals[1] < 1 || vals[2] < 1 || vals[0] < 8*vals[2] {
		return nil, ErrPasswordHashParams
	}
	if len(parts[4]) > b64.EncodedLen(argonMaxSalt) || len(parts[5]) > b64.EncodedLen(argonMaxKey) {
		return nil, ErrPasswordHashParams
	}
	salt, err := b64.Strict().DecodeString(parts[4])
	if err != nil {
		return nil, ErrPasswordHashFormat
	}
	key, err := b64.Strict().DecodeString(parts[5])
	if err != nil {
		return nil, ErrPasswordHashFormat
	}
	if len(salt) < argonMinSalt || len(key) < argonMinKey {
		return nil, ErrPasswordHashParams
	}
	return &argonParams{m: uint32(vals[0]), t: uint32(vals[1]), p: uint8(vals[2]), salt: salt, key: key}, nil
}

// VerifyPassword checks password against an encoded Argon2id hash produced
// by [HashPassword] (or any PHC argon2id string, v=19, within the bounds
// m <= 1 GiB, t <= 10, p <= 8, salt 8..64 bytes, hash 16..64 bytes). It
// returns (false, nil) for a wrong password and an error wrapping
// [ErrPasswordHashFormat] or [ErrPasswordHashParams] for a malformed hash.
// The comparison is constant time.
func VerifyPassword(encoded, password string) (bool, error) {
	p, err := parseArgon2id(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), p.salt, p.t, p.m, p.p, uint32(len(p.key)))
	defer clear(key)
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}
