package crypto

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"hash"
	"net/url"
	"strings"
	"time"
)

// TOTP defaults (RFC 6238 §4, §5.2; Google Authenticator key URI format).
const (
	TOTPDigits = 6
	TOTPPeriod = 30 * time.Second
	// maxTOTPSkew bounds the skew accepted by VerifyTOTP.
	maxTOTPSkew = 10
)

var pow10 = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000, 10000000000}

// hotp computes HOTP(K, C) per RFC 4226 §5.3 (dynamic truncation) into dst,
// which must have length digits.
func hotp(dst, secret []byte, counter uint64, h func() hash.Hash) {
	m := hmac.New(h, secret)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	m.Write(c[:])
	var sum [64]byte
	s := m.Sum(sum[:0])
	off := s[len(s)-1] & 0x0f
	bin := uint64(binary.BigEndian.Uint32(s[off:off+4]) & 0x7fffffff)
	v := bin % pow10[len(dst)]
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	clear(sum[:])
}

// TOTP returns the RFC 6238 §4.2 time-based one-time password for secret at
// time t: HOTP with counter floor((t - T0) / period), T0 = Unix epoch,
// truncated to digits (1..10) decimal digits. h is the HMAC hash (nil means
// SHA-1). Invalid parameters (digits out of range, period < 1 s, t before the
// epoch) yield "", which never verifies.
func TOTP(secret []byte, t time.Time, digits int, period time.Duration, h func() hash.Hash) string {
	if digits < 1 || digits > 10 || period < time.Second || t.Unix() < 0 {
		return ""
	}
	if h == nil {
		h = sha1.New
	}
	counter := uint64(t.Unix()) / uint64(period/time.Second)
	buf := make([]byte, digits)
	hotp(buf, secret, counter, h)
	return string(buf)
}

// VerifyTOTP checks a 6-digit HMAC-SHA-1 TOTP code with a 30 s period
// (RFC 6238 defaults) at time t, accepting up to skew periods before and
// after (RFC 6238 §5.2; skew is clamped to [0, 10]). Every candidate is
// computed and compared in constant time. Callers must prevent replay of an
// accepted code (RFC 6238 §5.2).
func VerifyTOTP(secret []byte, code string, t time.Time, skew int) bool {
	if len(code) != TOTPDigits || t.Unix() < 0 {
		return false
	}
	skew = max(0, min(skew, maxTOTPSkew))
	step := uint64(TOTPPeriod / time.Second)
	now := uint64(t.Unix()) / step
	var buf [TOTPDigits]byte
	ok := 0
	for d := -skew; d <= skew; d++ {
		c := int64(now) + int64(d)
		if c < 0 {
			continue
		}
		hotp(buf[:], secret, uint64(c), sha1.New)
		ok |= subtle.ConstantTimeCompare(buf[:], []byte(code))
	}
	return ok == 1
}

// VerifyTOTPDefault is VerifyTOTP at the current time with a skew of one
// period.
func VerifyTOTPDefault(secret []byte, code string) bool {
	return VerifyTOTP(secret, code, time.Now(), 1)
}

var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// Base32Secret encodes a TOTP secret as unpadded RFC 4648 §6 base32, the
// form authenticator apps expect.
func Base32Secret(b []byte) string {
	return base32NoPad.EncodeToString(b)
}

func uriEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// OTPAuthURI returns the otpauth://totp/ provisioning URI (Google
// Authenticator key URI format) for a SHA-1, 6-digit, 30-second TOTP secret.
// The URI contains the secret; treat it as one.
func OTPAuthURI(issuer, account string, secret []byte) string {
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	if issuer != "" {
		b.WriteString(uriEscape(issuer))
		b.WriteString(":")
	}
	b.WriteString(uriEscape(account))
	b.WriteString("?secret=")
	b.WriteString(Base32Secret(secret))
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(uriEscape(issuer))
	}
	b.WriteString("&algorithm=SHA1&digits=6&period=30")
	return b.String()
}
