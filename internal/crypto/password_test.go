package crypto

import (
	"errors"
	"strings"
	"testing"
)

// One real HashPassword (argon2 at m=19 MiB is slow; do not loop).
func TestHashPassword(t *testing.T) {
	enc, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoding %q", enc)
	}
	parts := strings.Split(enc, "$")
	if len(parts[4]) != 22 || len(parts[5]) != 43 { // 16-byte salt, 32-byte key, unpadded
		t.Errorf("salt/hash lengths %d/%d", len(parts[4]), len(parts[5]))
	}
	ok, err := VerifyPassword(enc, "correct horse battery staple")
	if err != nil || !ok {
		t.Fatalf("verify: %v %v", ok, err)
	}
	ok, err = VerifyPassword(enc, "Correct horse battery staple")
	if err != nil || ok {
		t.Fatalf("wrong password: %v %v", ok, err)
	}
}

// Independently computed (pyca/cryptography) with the production
// parameters; salt "coffer-kat-salt!".
const pwKnown = "$argon2id$v=19$m=19456,t=2,p=1$Y29mZmVyLWthdC1zYWx0IQ$4z6E1nzOCvbB0yX0AHD34VM7dBcDf8R4qg3l55P6yIA"

// Small-cost known answer (m=64, t=1) so parser tests stay fast.
const pwSmall = "$argon2id$v=19$m=64,t=1,p=1$Y29mZmVyLWthdC1zYWx0IQ$RFbEfF3B/40AgZyLuw9Ba6BcH0mN6ZyS7uTfZVEhe/k"

func TestVerifyPasswordKnown(t *testing.T) {
	if ok, err := VerifyPassword(pwKnown, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("known hash: %v %v", ok, err)
	}
	if ok, err := VerifyPassword(pwSmall, "coffer-kat-password"); !ok || err != nil {
		t.Fatalf("small hash: %v %v", ok, err)
	}
	if ok, err := VerifyPassword(pwSmall, "coffer-kat-passwore"); ok || err != nil {
		t.Fatalf("small hash wrong pw: %v %v", ok, err)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	salt, key := "Y29mZmVyLWthdC1zYWx0IQ", "RFbEfF3B/40AgZyLuw9Ba6BcH0mN6ZyS7uTfZVEhe/k"
	cases := map[string]error{
		"": ErrPasswordHashFormat,
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key:                      ErrPasswordHashFormat,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key:                     ErrPasswordHashParams,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key:                         ErrPasswordHashFormat,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key:                     ErrPasswordHashFormat,
		"$argon2id$v=19$m=2000000,t=1,p=1$" + salt + "$" + key:                ErrPasswordHashParams,
		"$argon2id$v=19$m=64,t=11,p=1$" + salt + "$" + key:                    ErrPasswordHashParams,
		"$argon2id$v=19$m=64,t=1,p=9$" + salt + "$" + key:                     ErrPasswordHashParams,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key:                     ErrPasswordHashParams,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key:                     ErrPasswordHashParams,
		"$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key:                      ErrPasswordHashParams,
		"$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key:                    ErrPasswordHashFormat,
		"$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key:                    ErrPasswordHashFormat,
		"$argon2id$v=19$m=-1,t=1,p=1$" + salt + "$" + key:                     ErrPasswordHashFormat,
		"$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key:            ErrPasswordHashFormat,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key:                    ErrPasswordHashFormat,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "=":               ErrPasswordHashFormat,
		"$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key:                             ErrPasswordHashParams,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA":                       ErrPasswordHashParams,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$":               ErrPasswordHashFormat,
		"$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 200) + "$" + key: ErrPasswordHashFormat,
	}
	for enc, want := range cases {
		ok, err := VerifyPassword(enc, "coffer-kat-password")
		if ok || !errors.Is(err, want) {
			t.Errorf("%q: (%v, %v), want %v", enc, ok, err, want)
		}
	}
}
