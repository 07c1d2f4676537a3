package crypto

import (
	"bytes"
	stdcrypto "crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"hash"
	"sync/atomic"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/crypto/argon2"
)

// ErrKATMismatch is the cause reported when a known-answer test produces a
// value different from the expected one.
var ErrKATMismatch = errors.New("crypto: known-answer mismatch")

// SelfTestError reports the first failing power-on self-test.
type SelfTestError struct {
	Test string // name as returned by SelfTestNames, or "pairwise"
	Err  error
}

func (e *SelfTestError) Error() string {
	return "crypto: power-on self-test " + e.Test + " failed: " + e.Err.Error()
}

func (e *SelfTestError) Unwrap() error { return e.Err }

// failName is the test forced to fail by SetSelfTestFailure ("" = none).
var failName atomic.Pointer[string]

// SetSelfTestFailure makes the named self-test (one of SelfTestNames, or
// "pairwise" for PairwiseCheck) fail deliberately: its input is corrupted so
// the computation genuinely mismatches the expected answer. The empty
// string disables the switch. It is meant for testing the failure path.
func SetSelfTestFailure(name string) {
	if name == "" {
		failName.Store(nil)
		return
	}
	failName.Store(&name)
}

func forcedFailure(name string) bool {
	p := failName.Load()
	return p != nil && *p == name
}

type kat struct {
	name string
	run  func(corrupt bool) error
}

// kats lists the power-on known-answer tests in execution order.
var kats = []kat{
	{"SHA-256", func(c bool) error {
		return katHash(c, sha256.New, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
	}},
	{"SHA-384", func(c bool) error {
		return katHash(c, sha512.New384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
	}},
	{"SHA-512", func(c bool) error {
		return katHash(c, sha512.New, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
	}},
	{"HMAC-SHA-256", func(c bool) error {
		return katHMAC(c, sha256.New, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
	}},
	{"HMAC-SHA-384", func(c bool) error {
		return katHMAC(c, sha512.New384, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649")
	}},
	{"HMAC-SHA-512", func(c bool) error {
		return katHMAC(c, sha512.New, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737")
	}},
	{"AES-GCM", katAESGCM},
	{"AES-KW", katAESKW},
	{"AES-KWP", katAESKWP},
	{"AES-KW-PKCS5", katAESKWPKCS5},
	{"ECDSA-P-256", func(c bool) error {
		return katECDSA(c, elliptic.P256(), ECDSA_SHA_256, katP256D, katP256Pub, katP256Digest, katP256Sig)
	}},
	{"ECDSA-P-384", func(c bool) error {
		return katECDSA(c, elliptic.P384(), ECDSA_SHA_384, katP384D, katP384Pub, katP384Digest, katP384Sig)
	}},
	{"ECDSA-P-521", func(c bool) error {
		return katECDSA(c, elliptic.P521(), ECDSA_SHA_512, katP521D, katP521Pub, katP521Digest, katP521Sig)
	}},
	{"ECDSA-secp256k1", katSecp256k1},
	{"RSA-PKCS1v15-SHA-256", katRSAPKCS1},
	{"RSA-PSS-SHA-256", katRSAPSS},
	{"RSA-OAEP-SHA-256", katRSAOAEP},
	{"Ed25519", katEd25519},
	{"ECDH-P-256", katECDH},
	{"TOTP", katTOTP},
	{"Argon2id", katArgon2id},
}

// SelfTestNames returns the names of the power-on known-answer tests in the
// order SelfTest runs them. ("pairwise", the name of PairwiseCheck for
// SetSelfTestFailure, is not a power-on test.)
func SelfTestNames() []string {
	names := make([]string, len(kats))
	for i, k := range kats {
		names[i] = k.name
	}
	return names
}

// SelfTest runs every power-on known-answer test (FIPS 140-3 IG 10.3.A) and
// returns a *SelfTestError for the first failure, or nil. The HSM must
// refuse to operate if it fails.
func SelfTest() error {
	for _, k := range kats {
		if err := k.run(forcedFailure(k.name)); err != nil {
			return &SelfTestError{Test: k.name, Err: err}
		}
	}
	return nil
}

// h decodes a hex constant; the constants are fixed, so a failure is a
// programming error.
func h(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("crypto: bad self-test vector")
	}
	return b
}

// input returns a copy of in, with one bit flipped when corrupt is set.
func input(in []byte, corrupt bool) []byte {
	out := bytes.Clone(in)
	if corrupt {
		out[0] ^= 0x01
	}
	return out
}

func expect(got, want []byte) error {
	if !bytes.Equal(got, want) {
		return ErrKATMismatch
	}
	return nil
}

// katHash: FIPS 180-4 SHA-2 on "abc" (NIST CSRC example values).
func katHash(c bool, f func() hash.Hash, want string) error {
	hh := f()
	hh.Write(input([]byte("abc"), c))
	return expect(hh.Sum(nil), h(want))
}

// katHMAC: RFC 4231 §4.3 (test case 2).
func katHMAC(c bool, f func() hash.Hash, want string) error {
	m := hmac.New(f, []byte("Jefe"))
	m.Write(input([]byte("what do ya want for nothing?"), c))
	return expect(m.Sum(nil), h(want))
}

func katAESGCM(c bool) error {
	b, err := aes.NewCipher(h(katGcmKey))
	if err != nil {
		return err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return err
	}
	pt, ct := h(katGcmPt), h(katGcmCt)
	if err := expect(g.Seal(nil, h(katGcmNonce), input(pt, c), h(katGcmAad)), ct); err != nil {
		return err
	}
	got, err := g.Open(nil, h(katGcmNonce), ct, h(katGcmAad))
	if err != nil {
		return err
	}
	return expect(got, pt)
}

// katAESKW: RFC 3394 §4.1 (128-bit KEK, 128-bit key data).
func katAESKW(c bool) error {
	kek := h("000102030405060708090A0B0C0D0E0F")
	pt := h("00112233445566778899AABBCCDDEEFF")
	ct := h("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
	got, err := Wrap(kek, input(pt, c))
	if err != nil {
		return err
	}
	if err := expect(got, ct); err != nil {
		return err
	}
	if got, err = Unwrap(kek, ct); err != nil {
		return err
	}
	return expect(got, pt)
}

// katAESKWP: RFC 5649 §6 (both examples, 192-bit KEK).
func katAESKWP(c bool) error {
	kek := h("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
	for _, v := range [...][2]string{
		{"c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	} {
		pt, ct := h(v[0]), h(v[1])
		got, err := WrapPad(kek, input(pt, c))
		if err != nil {
			return err
		}
		if err := expect(got, ct); err != nil {
			return err
		}
		if got, err = UnwrapPad(kek, ct); err != nil {
			return err
		}
		if err := expect(got, pt); err != nil {
			return err
		}
	}
	return nil
}

// katAESKWPKCS5: PKCS #5 padded RFC 3394 wrap (full pad block and partial
// pad), expected values computed independently, plus a round trip.
func katAESKWPKCS5(c bool) error {
	kek := h("000102030405060708090A0B0C0D0E0F")
	for _, v := range [...][2]string{
		{"00112233445566778899aabbccddeeff", katPkcs5Ct},
		{"00112233445566778899aabbccddeeff0011223344", katPkcs5Ct21},
	} {
		pt, ct := h(v[0]), h(v[1])
		got, err := WrapPKCS5(kek, input(pt, c))
		if err != nil {
			return err
		}
		if err := expect(got, ct); err != nil {
			return err
		}
		if got, err = UnwrapPKCS5(kek, got); err != nil {
			return err
		}
		if err := expect(got, pt); err != nil {
			return err
		}
	}
	return nil
}

// katECDSA verifies a fixed known-good signature and performs a
// sign/verify round trip with the fixed key (ECDSA signing is randomized).
func katECDSA(c bool, curve elliptic.Curve, alg SignAlg, d, pub, digest, sig string) error {
	priv, err := ecdsa.ParseRawPrivateKey(curve, h(d))
	if err != nil {
		return err
	}
	pk, err := ecdsa.ParseUncompressedPublicKey(curve, h(pub))
	if err != nil {
		return err
	}
	if !pk.Equal(&priv.PublicKey) {
		return ErrKATMismatch
	}
	return katSignVerify(c, priv, pk, alg, h(digest), h(sig))
}

func katSignVerify(c bool, priv stdcrypto.PrivateKey, pub stdcrypto.PublicKey, alg SignAlg, digest, sig []byte) error {
	if err := Verify(pub, alg, input(digest, c), sig); err != nil {
		return err
	}
	s, err := Sign(rand.Reader, priv, alg, digest)
	if err != nil {
		return err
	}
	return Verify(pub, alg, digest, s)
}

func katSecp256k1(c bool) error {
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(h(katK256D)); overflow {
		return ErrKATMismatch
	}
	priv := secp256k1.NewPrivateKey(&s)
	pub, err := secp256k1.ParsePubKey(h(katK256Pub))
	if err != nil {
		return err
	}
	if !pub.IsEqual(priv.PubKey()) {
		return ErrKATMismatch
	}
	return katSignVerify(c, priv, pub, ECDSA_SHA_256, h(katK256Digest), h(katK256Sig))
}

func katRSAKey() (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(katRSAPEM))
	if blk == nil {
		return nil, ErrKeyEncoding
	}
	return x509.ParsePKCS1PrivateKey(blk.Bytes)
}

// katRSAPKCS1: RSASSA-PKCS1-v1_5 is deterministic, so the signature must
// match the independently computed one exactly.
func katRSAPKCS1(c bool) error {
	k, err := katRSAKey()
	if err != nil {
		return err
	}
	sig, err := Sign(rand.Reader, k, RSASSA_PKCS1_V1_5_SHA_256, input(h(katRsaDigest), c))
	if err != nil {
		return err
	}
	if err := expect(sig, h(katRsaPkcs1Sig)); err != nil {
		return err
	}
	return Verify(&k.PublicKey, RSASSA_PKCS1_V1_5_SHA_256, h(katRsaDigest), sig)
}

func katRSAPSS(c bool) error {
	k, err := katRSAKey()
	if err != nil {
		return err
	}
	return Verify(&k.PublicKey, RSASSA_PSS_SHA_256, input(h(katRsaDigest), c), h(katRsaPssSig))
}

func katRSAOAEP(c bool) error {
	k, err := katRSAKey()
	if err != nil {
		return err
	}
	pt, err := rsa.DecryptOAEP(sha256.New(), nil, k, input(h(katRsaOaepCt), c), nil)
	if err != nil {
		return err
	}
	return expect(pt, h(katRsaOaepPt))
}

// katEd25519: RFC 8032 §7.1 TEST 1 (empty message).
func katEd25519(c bool) error {
	seed := h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	pub := h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	want := h("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
	priv := ed25519.NewKeyFromSeed(input(seed, c))
	if err := expect(priv.Public().(ed25519.PublicKey), pub); err != nil {
		return err
	}
	sig, err := Sign(nil, priv, ED25519, nil)
	if err != nil {
		return err
	}
	if err := expect(sig, want); err != nil {
		return err
	}
	return Verify(ed25519.PublicKey(pub), ED25519, nil, sig)
}

func katECDH(c bool) error {
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), input(h(katEcdhAD), c))
	if err != nil {
		return err
	}
	peer, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), h(katEcdhBPub))
	if err != nil {
		return err
	}
	z, err := ECDH(priv, peer)
	if err != nil {
		return err
	}
	return expect(z, h(katEcdhShared))
}

// katTOTP: RFC 6238 Appendix B, T = 59 s, SHA-1, 8 digits.
func katTOTP(c bool) error {
	secret := input([]byte("12345678901234567890"), c)
	if got := TOTP(secret, time.Unix(59, 0), 8, 30*time.Second, sha1.New); got != "94287082" {
		return ErrKATMismatch
	}
	return nil
}

// katArgon2id uses small parameters (m=64 KiB, t=1, p=1) to keep power-on
// fast; the expected value was computed independently.
func katArgon2id(c bool) error {
	key := argon2.IDKey(input([]byte("coffer-kat-password"), c), h(katArgonSalt), 1, 64, 1, 32)
	return expect(key, h(katArgonHash))
}
