package crypto

import (
	"bytes"
	stdcrypto "crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

func testRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := katRSAKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func digestFor(alg SignAlg, msg []byte) []byte {
	h := alg.Hash()
	if h == 0 {
		return msg
	}
	hh := h.New()
	hh.Write(msg)
	return hh.Sum(nil)
}

func TestSignAlgValues(t *testing.T) {
	want := map[SignAlg]stdcrypto.Hash{
		"ECDSA_SHA_256": stdcrypto.SHA256, "ECDSA_SHA_384": stdcrypto.SHA384, "ECDSA_SHA_512": stdcrypto.SHA512,
		"RSASSA_PKCS1_V1_5_SHA_256": stdcrypto.SHA256, "RSASSA_PKCS1_V1_5_SHA_384": stdcrypto.SHA384,
		"RSASSA_PKCS1_V1_5_SHA_512": stdcrypto.SHA512, "RSASSA_PSS_SHA_256": stdcrypto.SHA256,
		"RSASSA_PSS_SHA_384": stdcrypto.SHA384, "RSASSA_PSS_SHA_512": stdcrypto.SHA512, "ED25519": 0,
	}
	if len(SignAlgs()) != len(want) {
		t.Fatal("SignAlgs length")
	}
	for _, a := range SignAlgs() {
		h, ok := want[a]
		if !ok || a.Hash() != h {
			t.Errorf("%s: Hash() = %v", a, a.Hash())
		}
	}
	if SignAlg("bogus").Hash() != 0 {
		t.Error("unknown alg hash")
	}
	if ECDSA_SHA_256 != "ECDSA_SHA_256" || ED25519 != "ED25519" || RSASSA_PSS_SHA_512 != "RSASSA_PSS_SHA_512" {
		t.Error("string values")
	}
}

type testKey struct {
	name string
	priv stdcrypto.PrivateKey
	algs []SignAlg
}

func testKeys(t *testing.T) []testKey {
	var keys []testKey
	for _, c := range []string{CurveP256, CurveP384, CurveP521} {
		k, err := GenerateEC(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, testKey{c, k, []SignAlg{ECDSA_SHA_256, ECDSA_SHA_384, ECDSA_SHA_512}})
	}
	k1, err := GenerateEC(nil, CurveSecp256k1)
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, testKey{CurveSecp256k1, k1, []SignAlg{ECDSA_SHA_256}})
	keys = append(keys, testKey{"RSA", testRSAKey(t), []SignAlg{RSASSA_PKCS1_V1_5_SHA_256, RSASSA_PKCS1_V1_5_SHA_384,
		RSASSA_PKCS1_V1_5_SHA_512, RSASSA_PSS_SHA_256, RSASSA_PSS_SHA_384, RSASSA_PSS_SHA_512}})
	_, ed, _ := ed25519.GenerateKey(nil)
	keys = append(keys, testKey{"Ed25519", ed, []SignAlg{ED25519}})
	return keys
}

func TestSignVerify(t *testing.T) {
	msg := []byte("message")
	for _, k := range testKeys(t) {
		pub := PublicKey(k.priv)
		allowed := map[SignAlg]bool{}
		for _, alg := range k.algs {
			allowed[alg] = true
			d := digestFor(alg, msg)
			sig, err := Sign(rand.Reader, k.priv, alg, d)
			if err != nil {
				t.Fatalf("%s %s: %v", k.name, alg, err)
			}
			if err := Verify(pub, alg, d, sig); err != nil {
				t.Errorf("%s %s: verify: %v", k.name, alg, err)
			}
			bad := bytes.Clone(sig)
			bad[len(bad)-1] ^= 1
			if err := Verify(pub, alg, d, bad); !errors.Is(err, ErrVerify) {
				t.Errorf("%s %s: bad sig: %v", k.name, alg, err)
			}
			d2 := bytes.Clone(d)
			d2[0] ^= 1
			if err := Verify(pub, alg, d2, sig); !errors.Is(err, ErrVerify) {
				t.Errorf("%s %s: bad digest: %v", k.name, alg, err)
			}
			if alg != ED25519 {
				if _, err := Sign(nil, k.priv, alg, d[1:]); !errors.Is(err, ErrDigestLength) {
					t.Errorf("%s %s: short digest: %v", k.name, alg, err)
				}
				if err := Verify(pub, alg, d[1:], sig); !errors.Is(err, ErrDigestLength) {
					t.Errorf("%s %s: short digest verify: %v", k.name, alg, err)
				}
			}
			if err := Verify(pub, alg, d, nil); err == nil {
				t.Errorf("%s %s: empty signature accepted", k.name, alg)
			}
		}
		for _, alg := range SignAlgs() {
			if allowed[alg] {
				continue
			}
			_, err := Sign(nil, k.priv, alg, digestFor(alg, msg))
			if !errors.Is(err, ErrKeyAlgMismatch) {
				t.Errorf("%s with %s: err = %v, want ErrKeyAlgMismatch", k.name, alg, err)
			}
			if err := Verify(pub, alg, digestFor(alg, msg), []byte{0x30, 0}); !errors.Is(err, ErrKeyAlgMismatch) {
				t.Errorf("%s verify with %s: err = %v", k.name, alg, err)
			}
		}
		if _, err := Sign(nil, k.priv, "bogus", msg); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("%s: bogus alg: %v", k.name, err)
		}
	}
}

func TestSignUnsupported(t *testing.T) {
	if _, err := Sign(nil, "not a key", ECDSA_SHA_256, make([]byte, 32)); !errors.Is(err, ErrUnsupportedKey) {
		t.Error(err)
	}
	if err := Verify(42, ECDSA_SHA_256, make([]byte, 32), nil); !errors.Is(err, ErrUnsupportedKey) {
		t.Error(err)
	}
	// Malformed keys must not panic.
	if _, err := Sign(nil, ed25519.PrivateKey{1, 2}, ED25519, nil); err == nil {
		t.Error("short ed25519 key")
	}
	if err := Verify(ed25519.PublicKey{1, 2}, ED25519, nil, make([]byte, 64)); err == nil {
		t.Error("short ed25519 public key")
	}
	if _, err := Sign(nil, (*ecdsa.PrivateKey)(nil), ECDSA_SHA_256, make([]byte, 32)); err == nil {
		t.Error("nil ecdsa key")
	}
	if err := Verify((*rsa.PublicKey)(nil), RSASSA_PSS_SHA_256, make([]byte, 32), nil); err == nil {
		t.Error("nil rsa key")
	}
	if err := Verify((*secp256k1.PublicKey)(nil), ECDSA_SHA_256, make([]byte, 32), nil); err == nil {
		t.Error("nil secp256k1 key")
	}
	if _, err := Sign(nil, new(secp256k1.PrivateKey), ECDSA_SHA_256, make([]byte, 32)); err == nil {
		t.Error("zero secp256k1 key")
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if _, err := Sign(nil, p224, ECDSA_SHA_256, make([]byte, 32)); !errors.Is(err, ErrUnsupportedCurve) {
		t.Errorf("P-224: %v", err)
	}
}

var secp256k1N, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

// TestSecp256k1HighS pins the policy: Sign emits low-S only; Verify accepts
// both low-S and high-S (standard ECDSA).
func TestSecp256k1HighS(t *testing.T) {
	k, _ := GenerateEC(nil, CurveSecp256k1)
	pub := PublicKey(k)
	half := new(big.Int).Rsh(secp256k1N, 1)
	for i := 0; i < 32; i++ {
		d := digestFor(ECDSA_SHA_256, []byte{byte(i)})
		sig, err := Sign(nil, k, ECDSA_SHA_256, d)
		if err != nil {
			t.Fatal(err)
		}
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 {
			t.Fatalf("not DER: %v", err)
		}
		if rs.S.Cmp(half) > 0 {
			t.Fatalf("Sign produced high S")
		}
		rs.S.Sub(secp256k1N, rs.S)
		high, _ := asn1.Marshal(rs)
		if err := Verify(pub, ECDSA_SHA_256, d, high); err != nil {
			t.Fatalf("high-S signature rejected: %v", err)
		}
	}
	// Deterministic (RFC 6979).
	d := digestFor(ECDSA_SHA_256, []byte("x"))
	s1, _ := Sign(nil, k, ECDSA_SHA_256, d)
	s2, _ := Sign(nil, k, ECDSA_SHA_256, d)
	if !bytes.Equal(s1, s2) {
		t.Error("secp256k1 signatures are not deterministic")
	}
}

func TestPairwiseCheck(t *testing.T) {
	t.Cleanup(func() { SetSelfTestFailure("") })
	for _, k := range testKeys(t) {
		if err := PairwiseCheck(nil, k.priv); err != nil {
			t.Errorf("%s: %v", k.name, err)
		}
	}
	SetSelfTestFailure("pairwise")
	for _, k := range testKeys(t) {
		if err := PairwiseCheck(nil, k.priv); !errors.Is(err, ErrPairwise) {
			t.Errorf("%s: forced failure: %v", k.name, err)
		}
	}
	SetSelfTestFailure("")
	if err := PairwiseCheck(nil, "x"); !errors.Is(err, ErrUnsupportedKey) {
		t.Error(err)
	}
	// A key whose public half does not match its private half must fail.
	a, _ := GenerateEC(nil, CurveP256)
	b, _ := GenerateEC(nil, CurveP256)
	mixed := *a.(*ecdsa.PrivateKey)
	mixed.PublicKey = b.(*ecdsa.PrivateKey).PublicKey
	if err := PairwiseCheck(nil, &mixed); err == nil {
		t.Error("inconsistent key pair passed")
	}
}

func BenchmarkSignECDSAP256(b *testing.B) {
	k, _ := GenerateEC(nil, CurveP256)
	d := digestFor(ECDSA_SHA_256, []byte("bench"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(rand.Reader, k, ECDSA_SHA_256, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignECDSAP256Raw(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := digestFor(ECDSA_SHA_256, []byte("bench"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ecdsa.SignASN1(rand.Reader, k, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyECDSAP256(b *testing.B) {
	k, _ := GenerateEC(nil, CurveP256)
	d := digestFor(ECDSA_SHA_256, []byte("bench"))
	sig, _ := Sign(nil, k, ECDSA_SHA_256, d)
	pub := PublicKey(k)
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(pub, ECDSA_SHA_256, d, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrapPad(b *testing.B) {
	kek := make([]byte, 32)
	key := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WrapPad(kek, key); err != nil {
			b.Fatal(err)
		}
	}
}
