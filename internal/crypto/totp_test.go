package crypto

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strings"
	"testing"
	"time"
)

// RFC 6238 Appendix B test vectors (8 digits, 30 s).
func TestTOTPRFC6238(t *testing.T) {
	seeds := map[string][]byte{
		"SHA1":   []byte("12345678901234567890"),
		"SHA256": []byte("12345678901234567890123456789012"),
		"SHA512": []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	hashes := map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}
	vectors := []struct {
		t    int64
		code map[string]string
	}{
		{59, map[string]string{"SHA1": "94287082", "SHA256": "46119246", "SHA512": "90693936"}},
		{1111111109, map[string]string{"SHA1": "07081804", "SHA256": "68084774", "SHA512": "25091201"}},
		{1111111111, map[string]string{"SHA1": "14050471", "SHA256": "67062674", "SHA512": "99943326"}},
		{1234567890, map[string]string{"SHA1": "89005924", "SHA256": "91819424", "SHA512": "93441116"}},
		{2000000000, map[string]string{"SHA1": "69279037", "SHA256": "90698825", "SHA512": "38618901"}},
		{20000000000, map[string]string{"SHA1": "65353130", "SHA256": "77737706", "SHA512": "47863826"}},
	}
	for _, v := range vectors {
		for name, want := range v.code {
			got := TOTP(seeds[name], time.Unix(v.t, 0), 8, 30*time.Second, hashes[name])
			if got != want {
				t.Errorf("T=%d %s: got %s want %s", v.t, name, got, want)
			}
		}
	}
}

func TestVerifyTOTP(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111109, 0)
	code := TOTP(secret, now, 6, 30*time.Second, nil)
	if code != "081804" { // last 6 digits of the RFC vector
		t.Fatalf("code = %s", code)
	}
	if !VerifyTOTP(secret, code, now, 0) {
		t.Error("exact code rejected")
	}
	if VerifyTOTP(secret, code, now.Add(30*time.Second), 0) {
		t.Error("next-window code accepted with skew 0")
	}
	if !VerifyTOTP(secret, code, now.Add(30*time.Second), 1) || !VerifyTOTP(secret, code, now.Add(-30*time.Second), 1) {
		t.Error("skew 1 rejected")
	}
	if VerifyTOTP(secret, code, now.Add(90*time.Second), 1) {
		t.Error("skew exceeded")
	}
	for _, bad := range []string{"", "08180", "0818040", "081805", "abcdef"} {
		if VerifyTOTP(secret, bad, now, 1) {
			t.Errorf("%q accepted", bad)
		}
	}
	if VerifyTOTP(secret, code, time.Unix(-100, 0), 1) {
		t.Error("pre-epoch accepted")
	}
	if !VerifyTOTP(secret, TOTP(secret, time.Unix(10, 0), 6, 30*time.Second, nil), time.Unix(10, 0), 5) {
		t.Error("near-epoch with skew")
	}
	if !VerifyTOTPDefault(secret, TOTP(secret, time.Now(), 6, TOTPPeriod, nil)) {
		t.Error("default")
	}
	if TOTP(secret, now, 0, time.Second, nil) != "" || TOTP(secret, now, 11, time.Second, nil) != "" ||
		TOTP(secret, now, 6, 0, nil) != "" || TOTP(secret, time.Unix(-1, 0), 6, time.Second, nil) != "" {
		t.Error("invalid parameters accepted")
	}
}

func TestOTPAuthURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	if got := Base32Secret(secret); got != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Errorf("Base32Secret = %s", got)
	}
	if got := Base32Secret([]byte{1}); strings.Contains(got, "=") {
		t.Errorf("padding in %s", got)
	}
	got := OTPAuthURI("Coffer HSM", "alice@example.com", secret)
	want := "otpauth://totp/Coffer%20HSM:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Coffer%20HSM&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Errorf("OTPAuthURI =\n%s\nwant\n%s", got, want)
	}
	if got := OTPAuthURI("", "a&b", secret); !strings.HasPrefix(got, "otpauth://totp/a%26b?secret=") || strings.Contains(got, "issuer") {
		t.Errorf("no issuer: %s", got)
	}
}
