package crypto

import (
	"bytes"
	stdcrypto "crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Independently generated (pyca/cryptography, OpenSSL 3) secp256k1 key.
const (
	k256PKCS8 = "308184020100301006072a8648ce3d020106052b8104000a046d306b0201010420ddcb68c69d225507d129c4ca7e182f1f20ea6f3c7def9ca82f86b02f9b95e458a1440342000484aec1d8f538249339bc2965855fa864fee7a47bc8f12c839dd802d6ad04e03ab287fe7242292ab055c6b159b94b97639e003bd37af1c651e2f86a57dc6a38ff"
	k256SPKI  = "3056301006072a8648ce3d020106052b8104000a0342000484aec1d8f538249339bc2965855fa864fee7a47bc8f12c839dd802d6ad04e03ab287fe7242292ab055c6b159b94b97639e003bd37af1c651e2f86a57dc6a38ff"

	k1ECDHPriv   = "3fe77d3a343a300719a08dcd5d29f24f159f5efdf41758bdd228fc54c3078c7d"
	k1ECDHPeer   = "04134f77eded81f4833f97e7a8bff2e198d7af3e5ff340629b628fee3d6352e618df0a34103e65cde1b861366ebde4c2ef5df41e859ed799228598bbafbe19d4a2"
	k1ECDHShared = "135988b6f392e4f8a252afb30128b9b1a660159c79660945aafbf395c2958cf3"
)

func TestKeyEncodingRoundTrip(t *testing.T) {
	for _, k := range testKeys(t) {
		der, err := MarshalPKCS8(k.priv)
		if err != nil {
			t.Fatalf("%s: MarshalPKCS8: %v", k.name, err)
		}
		back, err := ParsePKCS8(der)
		if err != nil {
			t.Fatalf("%s: ParsePKCS8: %v", k.name, err)
		}
		der2, _ := MarshalPKCS8(back)
		if !bytes.Equal(der, der2) {
			t.Errorf("%s: PKCS#8 round trip differs", k.name)
		}
		pub := PublicKey(k.priv)
		pder, err := MarshalPKIX(pub)
		if err != nil {
			t.Fatalf("%s: MarshalPKIX: %v", k.name, err)
		}
		pback, err := ParsePKIX(pder)
		if err != nil {
			t.Fatalf("%s: ParsePKIX: %v", k.name, err)
		}
		if CurveOf(pback) != CurveOf(pub) || CurveOf(back) != CurveOf(k.priv) {
			t.Errorf("%s: curve changed", k.name)
		}
		// The parsed keys work together.
		alg := k.algs[0]
		d := digestFor(alg, []byte("m"))
		sig, err := Sign(nil, back, alg, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(pback, alg, d, sig); err != nil {
			t.Errorf("%s: parsed keys do not verify: %v", k.name, err)
		}
	}
	if _, err := MarshalPKCS8("x"); !errors.Is(err, ErrUnsupportedKey) {
		t.Error(err)
	}
	if _, err := MarshalPKIX("x"); !errors.Is(err, ErrUnsupportedKey) {
		t.Error(err)
	}
}

func TestSecp256k1Interop(t *testing.T) {
	der := unhex(t, k256PKCS8)
	key, err := ParsePKCS8(der)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := key.(*secp256k1.PrivateKey)
	if !ok {
		t.Fatalf("got %T", key)
	}
	// Our encoding is byte-identical to OpenSSL's.
	if got, _ := MarshalPKCS8(k); !bytes.Equal(got, der) {
		t.Errorf("MarshalPKCS8 = %x\nwant %x", got, der)
	}
	spki := unhex(t, k256SPKI)
	if got, _ := MarshalPKIX(k.PubKey()); !bytes.Equal(got, spki) {
		t.Errorf("MarshalPKIX = %x\nwant %x", got, spki)
	}
	pub, err := ParsePKIX(spki)
	if err != nil || !pub.(*secp256k1.PublicKey).IsEqual(k.PubKey()) {
		t.Fatalf("ParsePKIX: %v", err)
	}
	// crypto/x509 cannot read these (why this package exists).
	if _, err := x509.ParsePKIXPublicKey(spki); err == nil {
		t.Log("note: crypto/x509 now parses secp256k1")
	}
}

func TestSecp256k1PKCS8Rejects(t *testing.T) {
	good := unhex(t, k256PKCS8)
	// Offsets: the 32-byte scalar starts right after "0420" at index 33.
	const dOff = 33
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"zero scalar": mutate(func(b []byte) []byte { clear(b[dOff : dOff+32]); return b }),
		"scalar = N": mutate(func(b []byte) []byte {
			secp256k1N.FillBytes(b[dOff : dOff+32])
			return b
		}),
		"pubkey mismatch": mutate(func(b []byte) []byte { b[dOff+31] ^= 1; return b }),
		"trailing data":   append(bytes.Clone(good), 0),
		"truncated":       good[:len(good)-1],
		"bad version":     mutate(func(b []byte) []byte { b[5] = 1; return b }),
		"bad inner ver":   mutate(func(b []byte) []byte { b[dOff-3] = 2; return b }),
	}
	for name, der := range cases {
		if k, err := ParsePKCS8(der); err == nil {
			t.Errorf("%s: accepted (%T)", name, k)
		}
	}
	spki := unhex(t, k256SPKI)
	comp := secp256k1.PrivKeyFromBytes(unhex(t, "01")).PubKey().SerializeCompressed()
	bad := map[string][]byte{
		"compressed": append(unhex(t, "3036301006072a8648ce3d020106052b8104000a032200"), comp...),
		"off curve":  append(bytes.Clone(spki[:len(spki)-1]), spki[len(spki)-1]^1),
		"trailing":   append(bytes.Clone(spki), 0),
	}
	for name, der := range bad {
		if k, err := ParsePKIX(der); err == nil {
			t.Errorf("%s: accepted (%T)", name, k)
		}
	}
}

// TestOpenSSLInterop checks that OpenSSL reads our secp256k1 encodings and
// that we read OpenSSL's. Skipped without openssl on PATH.
func TestOpenSSLInterop(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	dir := t.TempDir()
	k, _ := GenerateEC(nil, CurveSecp256k1)
	der, _ := MarshalPKCS8(k)
	pder, _ := MarshalPKIX(PublicKey(k))
	privFile, pubFile := filepath.Join(dir, "k.der"), filepath.Join(dir, "p.der")
	os.WriteFile(privFile, der, 0o600)
	os.WriteFile(pubFile, pder, 0o600)
	out, err := exec.Command(openssl, "pkey", "-inform", "DER", "-in", privFile, "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "secp256k1") {
		t.Fatalf("openssl pkey (private): %v\n%s", err, out)
	}
	out, err = exec.Command(openssl, "pkey", "-pubin", "-inform", "DER", "-in", pubFile, "-outform", "DER").Output()
	if err != nil || !bytes.Equal(out, pder) {
		t.Fatalf("openssl pkey (public): %v", err)
	}
	// OpenSSL-generated key → ParsePKCS8; OpenSSL-derived public key matches.
	gen := filepath.Join(dir, "gen.der")
	if out, err := exec.Command(openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1",
		"-outform", "DER", "-out", gen).CombinedOutput(); err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	// OpenSSL 3.0 writes SEC 1 here; convert to PKCS #8 (its inner
	// ECPrivateKey then carries the [0] namedCurve too).
	p8 := filepath.Join(dir, "gen.p8")
	if out, err := exec.Command(openssl, "pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", gen,
		"-outform", "DER", "-out", p8).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs8: %v\n%s", err, out)
	}
	gder, _ := os.ReadFile(p8)
	key, err := ParsePKCS8(gder)
	if err != nil {
		t.Fatalf("ParsePKCS8(openssl key): %v", err)
	}
	opub, err := exec.Command(openssl, "pkey", "-inform", "DER", "-in", gen, "-pubout", "-outform", "DER").Output()
	if err != nil {
		t.Fatal(err)
	}
	if mine, _ := MarshalPKIX(PublicKey(key)); !bytes.Equal(mine, opub) {
		t.Error("public key differs from OpenSSL's")
	}
	// Signature made by us verifies in OpenSSL.
	d := digestFor(ECDSA_SHA_256, []byte("interop"))
	sig, _ := Sign(nil, key, ECDSA_SHA_256, d)
	dFile, sFile := filepath.Join(dir, "d"), filepath.Join(dir, "s")
	os.WriteFile(dFile, d, 0o600)
	os.WriteFile(sFile, sig, 0o600)
	if out, err := exec.Command(openssl, "pkeyutl", "-verify", "-inkey", gen, "-keyform", "DER", "-in", dFile,
		"-sigfile", sFile).CombinedOutput(); err != nil {
		t.Errorf("openssl verify: %v\n%s", err, out)
	}
}

func TestGenerateECAndCurveOf(t *testing.T) {
	for _, c := range []string{CurveP256, CurveP384, CurveP521, CurveSecp256k1} {
		k, err := GenerateEC(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		if CurveOf(k) != c || CurveOf(PublicKey(k)) != c {
			t.Errorf("%s: CurveOf = %q", c, CurveOf(k))
		}
		if _, ok := k.(stdcrypto.PrivateKey); !ok {
			t.Error("not a private key")
		}
	}
	if _, err := GenerateEC(nil, "P-224"); !errors.Is(err, ErrUnsupportedCurve) {
		t.Error(err)
	}
	_, ed, _ := ed25519.GenerateKey(nil)
	if CurveOf(ed) != "" || CurveOf(nil) != "" || CurveOf((*ecdsa.PublicKey)(nil)) != "" {
		t.Error("CurveOf of non-EC key")
	}
	if PublicKey("x") != nil || PublicKey(ed25519.PrivateKey{1}) != nil {
		t.Error("PublicKey of junk")
	}
	x, _ := ecdh.P384().GenerateKey(nil)
	if CurveOf(x) != CurveP384 || CurveOf(x.PublicKey()) != CurveP384 || PublicKey(x) == nil {
		t.Error("ecdh key")
	}
}

func TestECDH(t *testing.T) {
	// secp256k1 against an independent computation.
	priv := secp256k1.PrivKeyFromBytes(unhex(t, k1ECDHPriv))
	peer, err := secp256k1.ParsePubKey(unhex(t, k1ECDHPeer))
	if err != nil {
		t.Fatal(err)
	}
	z, err := ECDH(priv, peer)
	if err != nil || !bytes.Equal(z, unhex(t, k1ECDHShared)) {
		t.Fatalf("secp256k1 ECDH = %x, %v", z, err)
	}
	// Symmetry on every curve, with ecdsa and ecdh key types.
	for _, c := range []string{CurveP256, CurveP384, CurveP521, CurveSecp256k1} {
		a, _ := GenerateEC(nil, c)
		b, _ := GenerateEC(nil, c)
		z1, err1 := ECDH(a, PublicKey(b))
		z2, err2 := ECDH(b, PublicKey(a))
		if err1 != nil || err2 != nil || !bytes.Equal(z1, z2) {
			t.Errorf("%s: %v %v", c, err1, err2)
		}
		if ea, ok := a.(*ecdsa.PrivateKey); ok {
			dk, _ := ea.ECDH()
			z3, err := ECDH(dk, PublicKey(b))
			if err != nil || !bytes.Equal(z1, z3) {
				t.Errorf("%s: ecdh.PrivateKey: %v", c, err)
			}
		}
	}
	// Curve mismatches.
	p256, _ := GenerateEC(nil, CurveP256)
	p384, _ := GenerateEC(nil, CurveP384)
	k1, _ := GenerateEC(nil, CurveSecp256k1)
	for _, pair := range [][2]stdcrypto.PrivateKey{{p256, p384}, {p256, k1}, {k1, p256}} {
		if _, err := ECDH(pair[0], PublicKey(pair[1])); !errors.Is(err, ErrCurveMismatch) {
			t.Errorf("%s/%s: err = %v", CurveOf(pair[0]), CurveOf(pair[1]), err)
		}
	}
	// Point not on the curve.
	off := &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}
	if _, err := ECDH(p256, off); !errors.Is(err, ErrInvalidPublicKey) {
		t.Errorf("off-curve: %v", err)
	}
	_, ed, _ := ed25519.GenerateKey(nil)
	if _, err := ECDH(ed, PublicKey(p256)); !errors.Is(err, ErrUnsupportedKey) {
		t.Error(err)
	}
	if _, err := ECDH(p256, &rsa.PublicKey{}); !errors.Is(err, ErrUnsupportedKey) {
		t.Error(err)
	}
	if _, err := ECDH(k1, (*secp256k1.PublicKey)(nil)); err == nil {
		t.Error("nil peer")
	}
}

func TestParseRejectsOtherCurves(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P224(), nil)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	if _, err := ParsePKCS8(der); !errors.Is(err, ErrUnsupportedCurve) {
		t.Errorf("P-224 PKCS#8: %v", err)
	}
	pder, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if _, err := ParsePKIX(pder); !errors.Is(err, ErrUnsupportedCurve) {
		t.Errorf("P-224 PKIX: %v", err)
	}
	x, _ := ecdh.X25519().GenerateKey(nil)
	xder, _ := x509.MarshalPKCS8PrivateKey(x)
	if _, err := ParsePKCS8(xder); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("X25519 PKCS#8: %v", err)
	}
}
