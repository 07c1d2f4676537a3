package crypto

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func addWrapSeeds(f *testing.F) {
	for _, v := range rfc3394Vectors {
		f.Add(mustHex(v.kek), mustHex(stripSpaces(v.ct)))
	}
	for _, v := range rfc5649Vectors {
		f.Add(mustHex(v.kek), mustHex(stripSpaces(v.ct)))
	}
	f.Add(make([]byte, 16), make([]byte, 24))
	f.Add(make([]byte, 16), []byte{})
	f.Add(make([]byte, 7), make([]byte, 16))
}

func stripSpaces(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)) }

// Unwrap is the inverse of a permutation: whenever it succeeds, wrapping
// the result must give back the ciphertext. Wrapping arbitrary data must
// round-trip too.
func FuzzUnwrap(f *testing.F) {
	addWrapSeeds(f)
	f.Fuzz(func(t *testing.T, kek, ct []byte) {
		pt, err := Unwrap(kek, ct)
		if err == nil {
			re, err := Wrap(kek, pt)
			if err != nil || !bytes.Equal(re, ct) {
				t.Fatalf("Wrap(Unwrap(ct)) != ct: %v", err)
			}
		}
		if w, err := Wrap(kek, ct); err == nil {
			if back, err := Unwrap(kek, w); err != nil || !bytes.Equal(back, ct) {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}

func FuzzUnwrapPad(f *testing.F) {
	addWrapSeeds(f)
	f.Fuzz(func(t *testing.T, kek, ct []byte) {
		pt, err := UnwrapPad(kek, ct)
		if err == nil {
			re, err := WrapPad(kek, pt)
			if err != nil || !bytes.Equal(re, ct) {
				t.Fatalf("WrapPad(UnwrapPad(ct)) != ct: %v", err)
			}
		}
		if w, err := WrapPad(kek, ct); err == nil {
			if back, err := UnwrapPad(kek, w); err != nil || !bytes.Equal(back, ct) {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}

func FuzzUnwrapPKCS5(f *testing.F) {
	addWrapSeeds(f)
	kek := mustHex("000102030405060708090A0B0C0D0E0F")
	f.Add(kek, mustHex(katPkcs5Ct))
	f.Add(kek, mustHex(katPkcs5Ct21))
	f.Fuzz(func(t *testing.T, kek, ct []byte) {
		pt, err := UnwrapPKCS5(kek, ct)
		if err == nil {
			re, err := WrapPKCS5(kek, pt)
			if err != nil || !bytes.Equal(re, ct) {
				t.Fatalf("WrapPKCS5(UnwrapPKCS5(ct)) != ct: %v", err)
			}
		}
		if w, err := WrapPKCS5(kek, ct); err == nil {
			if back, err := UnwrapPKCS5(kek, w); err != nil || !bytes.Equal(back, ct) {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}

func FuzzParsePKCS8(f *testing.F) {
	f.Add(mustHex(k256PKCS8))
	f.Add(mustHex("302e020100300506032b657004220420d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842"))
	if der, err := MarshalPKCS8(mustKey(GenerateEC(nil, CurveP256))); err == nil {
		f.Add(der)
	}
	if k, err := katRSAKey(); err == nil {
		der, _ := MarshalPKCS8(k)
		f.Add(der)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, der []byte) {
		key, err := ParsePKCS8(der)
		if err != nil {
			return
		}
		if PublicKey(key) == nil {
			t.Fatalf("parsed %T has no public key", key)
		}
		re, err := MarshalPKCS8(key)
		if err != nil {
			t.Fatalf("re-marshal %T: %v", key, err)
		}
		key2, err := ParsePKCS8(re)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		re2, _ := MarshalPKCS8(key2)
		if !bytes.Equal(re, re2) {
			t.Fatal("marshal not stable")
		}
	})
}

func mustKey(k any, err error) any {
	if err != nil {
		panic(err)
	}
	return k
}

func FuzzParsePKIX(f *testing.F) {
	f.Add(mustHex(k256SPKI))
	f.Add(mustHex("302a300506032b65700321007d4d0e7f6153a69b6242b522abbee685fda4420f8834b108c3bdae369ef549fa"))
	if der, err := MarshalPKIX(PublicKey(mustKey(GenerateEC(nil, CurveP384)))); err == nil {
		f.Add(der)
	}
	if k, err := katRSAKey(); err == nil {
		der, _ := MarshalPKIX(&k.PublicKey)
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		key, err := ParsePKIX(der)
		if err != nil {
			return
		}
		re, err := MarshalPKIX(key)
		if err != nil || !bytes.Equal(re, der) {
			t.Fatalf("ParsePKIX accepted non-canonical %T: %v", key, err)
		}
	})
}

func FuzzVerifyPassword(f *testing.F) {
	f.Add(pwSmall, "coffer-kat-password")
	f.Add(pwKnown, "x")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, enc, pw string) {
		p, err := parseArgon2id(enc)
		if err != nil {
			return
		}
		if p.m > argonMaxMemory || p.t < 1 || p.t > argonMaxTime || p.p < 1 || p.p > argonMaxThreads {
			t.Fatalf("parameters out of bounds: m=%d t=%d p=%d", p.m, p.t, p.p)
		}
		// The parser only accepts the canonical encoding.
		if re := encodeArgon2id(p.m, p.t, p.p, p.salt, p.key); re != enc {
			t.Fatalf("non-canonical accepted: %q vs %q", enc, re)
		}
		// Only run argon2 itself for cheap parameters to keep fuzzing fast.
		if p.m <= 256 && p.t <= 2 {
			if _, err := VerifyPassword(enc, pw); err != nil {
				t.Fatal(err)
			}
		}
	})
}
