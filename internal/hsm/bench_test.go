package hsm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/coffer-hsm/coffer/internal/crypto"
)

// The benchmarks come in pairs: the operation through the HSM boundary (session check, key
// lookup, attribute check, decrypted-key cache) and the same primitive called directly on
// the stdlib, so the boundary's overhead shows as a ratio measured in one run:
//
//	go test -run '^$' -bench 'Sign|AESGCM' ./internal/hsm/

func BenchmarkSignECDSAP256HSM(b *testing.B) {
	e, s := newBenchEnv(b)
	_, priv := e.ecPair(s, "bench-ec", AttrSpec{}, AttrSpec{Sign: t_(true)})
	d := sha256.Sum256([]byte("benchmark message"))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.h.Sign(s, priv, crypto.ECDSA_SHA_256, d[:], true, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignECDSAP256Raw(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("benchmark message"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ecdsa.SignASN1(rand.Reader, k, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAESGCM32HSM(b *testing.B) {
	e, s := newBenchEnv(b)
	k := e.aesKey(s, "bench-aes", AttrSpec{Encrypt: t_(true)})
	pt := make([]byte, 32)
	b.SetBytes(32)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.h.EncryptAESGCM(s, k, pt, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAESGCM32Raw(b *testing.B) {
	key := make([]byte, 32)
	rand.Read(key)
	blk, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(blk)
	pt := make([]byte, 32)
	b.SetBytes(32)
	b.ReportAllocs()
	for b.Loop() {
		// Same work as the HSM: a fresh random nonce and a new output buffer per call.
		out := make([]byte, GCMNonceSize, GCMNonceSize+len(pt)+GCMTagSize)
		if _, err := rand.Read(out); err != nil {
			b.Fatal(err)
		}
		_ = g.Seal(out, out[:GCMNonceSize], pt, nil)
	}
}
