package kms

import (
	"bytes"
	stdcrypto "crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/crypto"
)

// digestOf hashes msg with the hash of a KMS signing algorithm (nil for Ed25519).
func digestOf(alg string, msg []byte) []byte {
	h := crypto.SignAlg(alg).Hash()
	if h == 0 {
		return nil
	}
	hh := h.New()
	hh.Write(msg)
	return hh.Sum(nil)
}

// stdVerify checks a KMS signature with the standard library (internal/crypto for
// secp256k1, which the standard library does not have).
func stdVerify(t *testing.T, spec string, der []byte, alg string, msg, sig []byte) {
	t.Helper()
	if spec == SpecSecp256k1 {
		pub, err := crypto.ParsePKIX(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := crypto.Verify(pub, crypto.SignAlg(alg), digestOf(alg, msg), sig); err != nil {
			t.Fatalf("%s %s: secp256k1 signature does not verify: %v", spec, alg, err)
		}
		return
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatalf("%s: ParsePKIXPublicKey: %v", spec, err)
	}
	d := digestOf(alg, msg)
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		h := crypto.SignAlg(alg).Hash()
		if strings.HasPrefix(alg, "RSASSA_PSS_") {
			// KMS uses a salt as long as the hash: require exactly that.
			ok = rsa.VerifyPSS(k, h, d, sig, &rsa.PSSOptions{SaltLength: h.Size(), Hash: h}) == nil
		} else {
			ok = rsa.VerifyPKCS1v15(k, h, d, sig) == nil
		}
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{SpecP256: elliptic.P256(), SpecP384: elliptic.P384(), SpecP521: elliptic.P521()}[spec]
		if k.Curve != want {
			t.Fatalf("%s: public key on curve %s", spec, k.Curve.Params().Name)
		}
		ok = ecdsa.VerifyASN1(k, d, sig)
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, msg, sig)
	default:
		t.Fatalf("%s: unexpected public key %T", spec, pub)
	}
	if !ok {
		t.Fatalf("%s %s: the standard library rejects the signature", spec, alg)
	}
}

func TestSignVerifyAllSpecs(t *testing.T) {
	e := newTestEnv(t)
	msg := []byte("Coffer KMS asymmetric signing test message")
	for _, tc := range []struct {
		spec string
		algs []string
	}{
		{SpecRSA2048, rsaSign},
		{SpecP256, []string{"ECDSA_SHA_256"}},
		{SpecP384, []string{"ECDSA_SHA_384"}},
		{SpecP521, []string{"ECDSA_SHA_512"}},
		{SpecSecp256k1, []string{"ECDSA_SHA_256"}},
		{SpecEd25519, []string{"ED25519_SHA_512"}},
	} {
		md := e.createKey(CreateKeyInput{KeySpec: tc.spec, KeyUsage: UsageSign})
		pk, err := e.k.GetPublicKey(e.ctx, e.c, GetPublicKeyInput{KeyId: md.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		if pk.KeyId != md.Arn || pk.KeySpec != tc.spec || pk.CustomerMasterKeySpec != tc.spec || pk.KeyUsage != UsageSign ||
			strings.Join(pk.SigningAlgorithms, ",") != strings.Join(specs[tc.spec].sign, ",") || pk.EncryptionAlgorithms != nil || pk.KeyAgreementAlgorithms != nil {
			t.Fatalf("%s: GetPublicKey %+v", tc.spec, pk)
		}
		for _, alg := range tc.algs {
			// RAW
			out, err := e.k.Sign(e.ctx, e.c, SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: alg})
			if err != nil {
				t.Fatalf("%s %s: Sign: %v", tc.spec, alg, err)
			}
			if out.KeyId != md.Arn || out.SigningAlgorithm != alg || len(out.Signature) == 0 {
				t.Fatalf("%s %s: %+v", tc.spec, alg, out)
			}
			v, err := e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: md.Arn, Message: msg, MessageType: "RAW", Signature: out.Signature, SigningAlgorithm: alg})
			if err != nil || !v.SignatureValid || v.KeyId != md.Arn || v.SigningAlgorithm != alg {
				t.Fatalf("%s %s: Verify: %v %+v", tc.spec, alg, err, v)
			}
			stdVerify(t, tc.spec, pk.PublicKey, alg, msg, out.Signature)

			// Altered signature, altered message.
			bad := append([]byte(nil), out.Signature...)
			bad[len(bad)/2] ^= 0x01
			_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: md.KeyId, Message: msg, Signature: bad, SigningAlgorithm: alg})
			wantCode(t, err, "KMSInvalidSignatureException")
			_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: md.KeyId, Message: append([]byte("x"), msg...), Signature: out.Signature, SigningAlgorithm: alg})
			wantCode(t, err, "KMSInvalidSignatureException")

			// DIGEST
			d := digestOf(alg, msg)
			if d == nil { // Ed25519: RAW only
				_, err = e.k.Sign(e.ctx, e.c, SignInput{KeyId: md.KeyId, Message: make([]byte, 64), MessageType: "DIGEST", SigningAlgorithm: alg})
				wantCode(t, err, "ValidationException")
				_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: md.KeyId, Message: make([]byte, 64), MessageType: "DIGEST", Signature: out.Signature, SigningAlgorithm: alg})
				wantCode(t, err, "ValidationException")
				continue
			}
			ds, err := e.k.Sign(e.ctx, e.c, SignInput{KeyId: md.KeyId, Message: d, MessageType: "DIGEST", SigningAlgorithm: alg})
			if err != nil {
				t.Fatalf("%s %s: Sign DIGEST: %v", tc.spec, alg, err)
			}
			stdVerify(t, tc.spec, pk.PublicKey, alg, msg, ds.Signature)
			// A digest signature verifies as a signature of the message and vice versa.
			if _, err := e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: md.KeyId, Message: msg, Signature: ds.Signature, SigningAlgorithm: alg}); err != nil {
				t.Fatalf("%s %s: RAW verify of a DIGEST signature: %v", tc.spec, alg, err)
			}
			if _, err := e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: md.KeyId, Message: d, MessageType: "DIGEST", Signature: out.Signature, SigningAlgorithm: alg}); err != nil {
				t.Fatalf("%s %s: DIGEST verify of a RAW signature: %v", tc.spec, alg, err)
			}
			// Digest of the wrong length.
			_, err = e.k.Sign(e.ctx, e.c, SignInput{KeyId: md.KeyId, Message: d[:len(d)-1], MessageType: "DIGEST", SigningAlgorithm: alg})
			wantCode(t, err, "ValidationException")
			_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: md.KeyId, Message: append(d, 0), MessageType: "DIGEST", Signature: ds.Signature, SigningAlgorithm: alg})
			wantCode(t, err, "ValidationException")
		}
	}
}

func TestSignVerifyErrors(t *testing.T) {
	e := newTestEnv(t)
	p256 := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageSign})
	rsaSig := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageSign})
	ed := e.createKey(CreateKeyInput{KeySpec: SpecEd25519, KeyUsage: UsageSign})
	rsaEncKey := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt})
	agree := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageKeyAgreement})
	sym := e.createKey(CreateKeyInput{})
	msg := []byte("hello")

	for _, tc := range []struct {
		name string
		in   SignInput
		code string
	}{
		{"alg of another curve", SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_384"}, "InvalidKeyUsageException"},
		{"RSA alg on EC key", SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "RSASSA_PSS_SHA_256"}, "InvalidKeyUsageException"},
		{"EC alg on RSA key", SignInput{KeyId: rsaSig.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"}, "InvalidKeyUsageException"},
		{"SM2DSA", SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "SM2DSA"}, "InvalidKeyUsageException"},
		{"Ed25519 on P-256", SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ED25519_SHA_512"}, "InvalidKeyUsageException"},
		{"Ed25519ph on P-256", SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ED25519_PH_SHA_512"}, "InvalidKeyUsageException"},
		{"Ed25519ph", SignInput{KeyId: ed.KeyId, Message: msg, SigningAlgorithm: "ED25519_PH_SHA_512"}, "UnsupportedOperationException"},
		{"ENCRYPT_DECRYPT key", SignInput{KeyId: rsaEncKey.KeyId, Message: msg, SigningAlgorithm: "RSASSA_PSS_SHA_256"}, "InvalidKeyUsageException"},
		{"KEY_AGREEMENT key", SignInput{KeyId: agree.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"}, "InvalidKeyUsageException"},
		{"symmetric key", SignInput{KeyId: sym.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"}, "InvalidKeyUsageException"},
		{"EXTERNAL_MU", SignInput{KeyId: p256.KeyId, Message: make([]byte, 64), MessageType: "EXTERNAL_MU", SigningAlgorithm: "ECDSA_SHA_256"}, "ValidationException"},
		{"bad MessageType", SignInput{KeyId: p256.KeyId, Message: msg, MessageType: "HASH", SigningAlgorithm: "ECDSA_SHA_256"}, "ValidationException"},
		{"no algorithm", SignInput{KeyId: p256.KeyId, Message: msg}, "ValidationException"},
		{"unknown algorithm", SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_1"}, "ValidationException"},
		{"empty message", SignInput{KeyId: p256.KeyId, Message: []byte{}, SigningAlgorithm: "ECDSA_SHA_256"}, "ValidationException"},
		{"no message", SignInput{KeyId: p256.KeyId, SigningAlgorithm: "ECDSA_SHA_256"}, "ValidationException"},
		{"message too long", SignInput{KeyId: p256.KeyId, Message: make([]byte, 4097), SigningAlgorithm: "ECDSA_SHA_256"}, "ValidationException"},
		{"no key", SignInput{Message: msg, SigningAlgorithm: "ECDSA_SHA_256"}, "ValidationException"},
		{"unknown key", SignInput{KeyId: "alias/nope", Message: msg, SigningAlgorithm: "ECDSA_SHA_256"}, "NotFoundException"},
		{"too many grant tokens", SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256", GrantTokens: make([]string, 11)}, "ValidationException"},
		{"dry run", SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256", DryRun: true}, "DryRunOperationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.k.Sign(e.ctx, e.c, tc.in)
			wantCode(t, err, tc.code)
		})
	}
	// The message naming the valid algorithms.
	_, err := e.k.Sign(e.ctx, e.c, SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_512"})
	if err == nil || !strings.Contains(err.Error(), "ECDSA_SHA_256") {
		t.Fatalf("the error should name the valid algorithms: %v", err)
	}

	sig, err := e.k.Sign(e.ctx, e.c, SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	// Verify: signature member, wrong algorithm, another key, dry run.
	_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
	wantCode(t, err, "ValidationException")
	_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: p256.KeyId, Message: msg, Signature: make([]byte, 6145), SigningAlgorithm: "ECDSA_SHA_256"})
	wantCode(t, err, "ValidationException")
	_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: p256.KeyId, Message: msg, Signature: sig.Signature, SigningAlgorithm: "ECDSA_SHA_384"})
	wantCode(t, err, "InvalidKeyUsageException")
	other := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageSign})
	_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: other.KeyId, Message: msg, Signature: sig.Signature, SigningAlgorithm: "ECDSA_SHA_256"})
	wantCode(t, err, "KMSInvalidSignatureException")
	_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: p256.KeyId, Message: msg, Signature: []byte("not a signature"), SigningAlgorithm: "ECDSA_SHA_256"})
	wantCode(t, err, "KMSInvalidSignatureException")
	_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: p256.KeyId, Message: msg, Signature: sig.Signature, SigningAlgorithm: "ECDSA_SHA_256", DryRun: true})
	wantCode(t, err, "DryRunOperationException")

	// Disabled key: Sign, Verify and GetPublicKey refuse.
	if err := e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: p256.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.k.Sign(e.ctx, e.c, SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
	wantCode(t, err, "DisabledException")
	_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: p256.KeyId, Message: msg, Signature: sig.Signature, SigningAlgorithm: "ECDSA_SHA_256"})
	wantCode(t, err, "DisabledException")
	_, err = e.k.GetPublicKey(e.ctx, e.c, GetPublicKeyInput{KeyId: p256.KeyId})
	wantCode(t, err, "DisabledException")
}

func TestGetPublicKey(t *testing.T) {
	e := newTestEnv(t)
	sym := e.createKey(CreateKeyInput{})
	hmacKey := e.createKey(CreateKeyInput{KeySpec: SpecHMAC256, KeyUsage: UsageMAC})
	for _, id := range []string{sym.KeyId, hmacKey.KeyId} {
		_, err := e.k.GetPublicKey(e.ctx, e.c, GetPublicKeyInput{KeyId: id})
		wantCode(t, err, "UnsupportedOperationException")
	}
	_, err := e.k.GetPublicKey(e.ctx, e.c, GetPublicKeyInput{KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab"})
	wantCode(t, err, "NotFoundException")

	// An RSA encryption key: its public key encrypts what Decrypt opens.
	enc := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt})
	pk, err := e.k.GetPublicKey(e.ctx, e.c, GetPublicKeyInput{KeyId: enc.Arn})
	if err != nil {
		t.Fatal(err)
	}
	if pk.KeyUsage != UsageEncrypt || strings.Join(pk.EncryptionAlgorithms, ",") != "RSAES_OAEP_SHA_1,RSAES_OAEP_SHA_256" || pk.SigningAlgorithms != nil {
		t.Fatalf("%+v", pk)
	}
	pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), []byte("offline"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{KeyId: enc.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	if err != nil || string(dec.Plaintext) != "offline" {
		t.Fatalf("%v %+v", err, dec)
	}

	agree := e.createKey(CreateKeyInput{KeySpec: SpecP384, KeyUsage: UsageKeyAgreement})
	pk, err = e.k.GetPublicKey(e.ctx, e.c, GetPublicKeyInput{KeyId: agree.KeyId})
	if err != nil || pk.KeyUsage != UsageKeyAgreement || strings.Join(pk.KeyAgreementAlgorithms, ",") != "ECDH" || pk.SigningAlgorithms != nil {
		t.Fatalf("%v %+v", err, pk)
	}
	// The JSON member names are AWS's.
	b, _ := json.Marshal(pk)
	for _, name := range []string{`"KeyId"`, `"PublicKey"`, `"CustomerMasterKeySpec"`, `"KeySpec"`, `"KeyUsage"`, `"KeyAgreementAlgorithms"`} {
		if !bytes.Contains(b, []byte(name)) {
			t.Fatalf("%s missing in %s", name, b)
		}
	}
	if bytes.Contains(b, []byte("SigningAlgorithms")) || bytes.Contains(b, []byte("EncryptionAlgorithms")) {
		t.Fatalf("unexpected algorithm lists in %s", b)
	}
}

// TestOpenSSLVerifies checks that the signatures are what OpenSSL verifies.
func TestOpenSSLVerifies(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not on PATH")
	}
	e := newTestEnv(t)
	dir := t.TempDir()
	msg := []byte("verified by OpenSSL\n")
	msgPath := filepath.Join(dir, "msg")
	if err := os.WriteFile(msgPath, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verified") && !strings.Contains(string(out), "Signature Verified Successfully") {
			t.Fatalf("%s: openssl %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	setup := func(name, spec, alg string, digest bool) (pubPath, sigPath string) {
		t.Helper()
		md := e.createKey(CreateKeyInput{KeySpec: spec, KeyUsage: UsageSign})
		pk, err := e.k.GetPublicKey(e.ctx, e.c, GetPublicKeyInput{KeyId: md.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		in := SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: alg}
		if digest {
			in.Message, in.MessageType = digestOf(alg, msg), "DIGEST"
		}
		sig, err := e.k.Sign(e.ctx, e.c, in)
		if err != nil {
			t.Fatal(err)
		}
		pubPath, sigPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".sig")
		if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk.PublicKey}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sigPath, sig.Signature, 0o600); err != nil {
			t.Fatal(err)
		}
		return pubPath, sigPath
	}

	pub, sig := setup("p256", SpecP256, "ECDSA_SHA_256", false)
	run("ECDSA P-256", "dgst", "-sha256", "-verify", pub, "-signature", sig, msgPath)
	pub, sig = setup("p384", SpecP384, "ECDSA_SHA_384", true)
	run("ECDSA P-384 (DIGEST)", "dgst", "-sha384", "-verify", pub, "-signature", sig, msgPath)
	pub, sig = setup("k1", SpecSecp256k1, "ECDSA_SHA_256", false)
	run("ECDSA secp256k1", "dgst", "-sha256", "-verify", pub, "-signature", sig, msgPath)
	pub, sig = setup("pkcs1", SpecRSA2048, "RSASSA_PKCS1_V1_5_SHA_256", false)
	run("RSA PKCS#1", "dgst", "-sha256", "-verify", pub, "-signature", sig, msgPath)

	pub, sig = setup("pss", SpecRSA2048, "RSASSA_PSS_SHA_256", false)
	digestPath := filepath.Join(dir, "msg.sha256")
	if err := os.WriteFile(digestPath, digestOf("RSASSA_PSS_SHA_256", msg), 0o600); err != nil {
		t.Fatal(err)
	}
	run("RSA PSS", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", digestPath, "-sigfile", sig,
		"-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:32")

	pub, sig = setup("ed", SpecEd25519, "ED25519_SHA_512", false)
	run("Ed25519", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", msgPath, "-sigfile", sig)

	// And OpenSSL rejects an altered message.
	pub, sig = setup("p256b", SpecP256, "ECDSA_SHA_256", false)
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("another message"), 0o600)
	if out, err := exec.Command(openssl, "dgst", "-sha256", "-verify", pub, "-signature", sig, other).CombinedOutput(); err == nil {
		t.Fatalf("openssl verified an altered message: %s", out)
	}
}

func TestMac(t *testing.T) {
	e := newTestEnv(t)
	msg := []byte("mac me")
	sym := e.createKey(CreateKeyInput{})
	macs := map[string][]byte{}
	for spec, alg := range map[string]string{SpecHMAC224: "HMAC_SHA_224", SpecHMAC256: "HMAC_SHA_256", SpecHMAC384: "HMAC_SHA_384", SpecHMAC512: "HMAC_SHA_512"} {
		md := e.createKey(CreateKeyInput{KeySpec: spec, KeyUsage: UsageMAC})
		a, err := e.k.GenerateMac(e.ctx, e.c, GenerateMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: alg})
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		b, err := e.k.GenerateMac(e.ctx, e.c, GenerateMacInput{KeyId: md.Arn, Message: msg, MacAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		size := map[string]int{"HMAC_SHA_224": 28, "HMAC_SHA_256": 32, "HMAC_SHA_384": 48, "HMAC_SHA_512": 64}[alg]
		if !bytes.Equal(a.Mac, b.Mac) || len(a.Mac) != size || a.KeyId != md.Arn || a.MacAlgorithm != alg {
			t.Fatalf("%s: %+v %+v", spec, a, b)
		}
		macs[spec] = a.Mac
		v, err := e.k.VerifyMac(e.ctx, e.c, VerifyMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: alg, Mac: a.Mac})
		if err != nil || !v.MacValid || v.KeyId != md.Arn || v.MacAlgorithm != alg {
			t.Fatalf("%s: VerifyMac %v %+v", spec, err, v)
		}
		_, err = e.k.VerifyMac(e.ctx, e.c, VerifyMacInput{KeyId: md.KeyId, Message: []byte("mac me!"), MacAlgorithm: alg, Mac: a.Mac})
		wantCode(t, err, "KMSInvalidMacException")
		bad := append([]byte(nil), a.Mac...)
		bad[0] ^= 1
		_, err = e.k.VerifyMac(e.ctx, e.c, VerifyMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: alg, Mac: bad})
		wantCode(t, err, "KMSInvalidMacException")
		_, err = e.k.VerifyMac(e.ctx, e.c, VerifyMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: alg, Mac: a.Mac[:len(a.Mac)-1]})
		wantCode(t, err, "KMSInvalidMacException")
		// Another key of the same spec makes another MAC.
		md2 := e.createKey(CreateKeyInput{KeySpec: spec, KeyUsage: UsageMAC})
		_, err = e.k.VerifyMac(e.ctx, e.c, VerifyMacInput{KeyId: md2.KeyId, Message: msg, MacAlgorithm: alg, Mac: a.Mac})
		wantCode(t, err, "KMSInvalidMacException")
		// Wrong algorithm for the spec.
		wrong := "HMAC_SHA_256"
		if alg == wrong {
			wrong = "HMAC_SHA_512"
		}
		_, err = e.k.GenerateMac(e.ctx, e.c, GenerateMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: wrong})
		wantCode(t, err, "InvalidKeyUsageException")
		_, err = e.k.VerifyMac(e.ctx, e.c, VerifyMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: wrong, Mac: a.Mac})
		wantCode(t, err, "InvalidKeyUsageException")
		// Dry runs.
		_, err = e.k.GenerateMac(e.ctx, e.c, GenerateMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: alg, DryRun: true})
		wantCode(t, err, "DryRunOperationException")
		_, err = e.k.VerifyMac(e.ctx, e.c, VerifyMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: alg, Mac: a.Mac, DryRun: true})
		wantCode(t, err, "DryRunOperationException")
	}
	if bytes.Equal(macs[SpecHMAC256][:28], macs[SpecHMAC224]) {
		t.Fatal("different keys gave the same MAC")
	}
	k256 := e.createKey(CreateKeyInput{KeySpec: SpecHMAC256, KeyUsage: UsageMAC})
	for _, tc := range []struct {
		in   GenerateMacInput
		code string
	}{
		{GenerateMacInput{KeyId: sym.KeyId, Message: msg, MacAlgorithm: "HMAC_SHA_256"}, "InvalidKeyUsageException"},
		{GenerateMacInput{KeyId: k256.KeyId, Message: msg, MacAlgorithm: "HMAC_SHA_1"}, "ValidationException"},
		{GenerateMacInput{KeyId: k256.KeyId, Message: msg}, "ValidationException"},
		{GenerateMacInput{KeyId: k256.KeyId, Message: make([]byte, 4097), MacAlgorithm: "HMAC_SHA_256"}, "ValidationException"},
		{GenerateMacInput{KeyId: k256.KeyId, MacAlgorithm: "HMAC_SHA_256"}, "ValidationException"},
	} {
		_, err := e.k.GenerateMac(e.ctx, e.c, tc.in)
		wantCode(t, err, tc.code)
	}
	_, err := e.k.VerifyMac(e.ctx, e.c, VerifyMacInput{KeyId: k256.KeyId, Message: msg, MacAlgorithm: "HMAC_SHA_256"})
	wantCode(t, err, "ValidationException")
	if err := e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: k256.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.k.GenerateMac(e.ctx, e.c, GenerateMacInput{KeyId: k256.KeyId, Message: msg, MacAlgorithm: "HMAC_SHA_256"})
	wantCode(t, err, "DisabledException")
}

func TestDeriveSharedSecret(t *testing.T) {
	e := newTestEnv(t)
	a := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageKeyAgreement})
	b := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageKeyAgreement})
	pubOf := func(id string) []byte {
		t.Helper()
		pk, err := e.k.GetPublicKey(e.ctx, e.c, GetPublicKeyInput{KeyId: id})
		if err != nil {
			t.Fatal(err)
		}
		return pk.PublicKey
	}
	pa, pb := pubOf(a.KeyId), pubOf(b.KeyId)
	sa, err := e.k.DeriveSharedSecret(e.ctx, e.c, DeriveSharedSecretInput{KeyId: a.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: pb})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := e.k.DeriveSharedSecret(e.ctx, e.c, DeriveSharedSecretInput{KeyId: b.Arn, KeyAgreementAlgorithm: "ECDH", PublicKey: pa})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sa.SharedSecret, sb.SharedSecret) || len(sa.SharedSecret) != 32 || sa.KeyId != a.Arn || sb.KeyId != b.Arn ||
		sa.KeyAgreementAlgorithm != "ECDH" || sa.KeyOrigin != OriginKMS {
		t.Fatalf("%+v %+v", sa, sb)
	}

	// Against a local key, for each NIST curve.
	for spec, curve := range map[string]ecdh.Curve{SpecP256: ecdh.P256(), SpecP384: ecdh.P384(), SpecP521: ecdh.P521()} {
		md := e.createKey(CreateKeyInput{KeySpec: spec, KeyUsage: UsageKeyAgreement})
		local, err := curve.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		localDER, err := x509.MarshalPKIXPublicKey(local.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.k.DeriveSharedSecret(e.ctx, e.c, DeriveSharedSecretInput{KeyId: md.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: localDER})
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		kpub, err := x509.ParsePKIXPublicKey(pubOf(md.KeyId))
		if err != nil {
			t.Fatal(err)
		}
		kecdh, err := kpub.(*ecdsa.PublicKey).ECDH()
		if err != nil {
			t.Fatal(err)
		}
		want, err := local.ECDH(kecdh)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.SharedSecret, want) {
			t.Fatalf("%s: KMS and the standard library disagree", spec)
		}
	}

	// Errors.
	p384, _ := ecdh.P384().GenerateKey(rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(p384.PublicKey())
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	signKey := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageSign})
	for _, tc := range []struct {
		name string
		in   DeriveSharedSecretInput
		code string
	}{
		{"other curve", DeriveSharedSecretInput{KeyId: a.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: p384DER}, "ValidationException"},
		{"RSA peer", DeriveSharedSecretInput{KeyId: a.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: rsaDER}, "ValidationException"},
		{"Ed25519 peer", DeriveSharedSecretInput{KeyId: a.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: edDER}, "ValidationException"},
		{"garbage peer", DeriveSharedSecretInput{KeyId: a.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: []byte("not DER")}, "ValidationException"},
		{"trailing bytes", DeriveSharedSecretInput{KeyId: a.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: append(append([]byte(nil), pb...), 0)}, "ValidationException"},
		{"no peer", DeriveSharedSecretInput{KeyId: a.KeyId, KeyAgreementAlgorithm: "ECDH"}, "ValidationException"},
		{"no algorithm", DeriveSharedSecretInput{KeyId: a.KeyId, PublicKey: pb}, "ValidationException"},
		{"bad algorithm", DeriveSharedSecretInput{KeyId: a.KeyId, KeyAgreementAlgorithm: "X25519", PublicKey: pb}, "ValidationException"},
		{"SIGN_VERIFY key", DeriveSharedSecretInput{KeyId: signKey.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: pb}, "InvalidKeyUsageException"},
		{"recipient", DeriveSharedSecretInput{KeyId: a.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: pb, Recipient: &AttestationRecipient{KeyEncryptionAlgorithm: "RSAES_OAEP_SHA_256"}}, "UnsupportedOperationException"},
		{"dry run", DeriveSharedSecretInput{KeyId: a.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: pb, DryRun: true}, "DryRunOperationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.k.DeriveSharedSecret(e.ctx, e.c, tc.in)
			wantCode(t, err, tc.code)
		})
	}
}

func TestGenerateDataKeyPair(t *testing.T) {
	e := newTestEnv(t)
	kek := e.createKey(CreateKeyInput{})
	ec := map[string]string{"purpose": "data key pair"}
	for _, spec := range []string{SpecRSA2048, SpecRSA3072, SpecRSA4096, SpecP256, SpecP384, SpecP521, SpecSecp256k1, SpecEd25519} {
		out, err := e.k.GenerateDataKeyPair(e.ctx, e.c, GenerateDataKeyPairInput{KeyId: kek.KeyId, KeyPairSpec: spec, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if out.KeyId != kek.Arn || out.KeyPairSpec != spec || len(out.PrivateKeyPlaintext) == 0 || len(out.KeyMaterialId) != 64 {
			t.Fatalf("%s: %+v", spec, out)
		}
		var priv stdcrypto.PrivateKey
		if spec == SpecSecp256k1 {
			priv, err = crypto.ParsePKCS8(out.PrivateKeyPlaintext)
		} else {
			priv, err = x509.ParsePKCS8PrivateKey(out.PrivateKeyPlaintext)
		}
		if err != nil {
			t.Fatalf("%s: the private key does not parse: %v", spec, err)
		}
		switch k := priv.(type) {
		case *rsa.PrivateKey:
			if want := specs[spec].bits; k.N.BitLen() != want {
				t.Fatalf("%s: %d-bit modulus", spec, k.N.BitLen())
			}
		case *ecdsa.PrivateKey:
			if crypto.CurveOf(k) != map[string]string{SpecP256: crypto.CurveP256, SpecP384: crypto.CurveP384, SpecP521: crypto.CurveP521}[spec] {
				t.Fatalf("%s: curve %s", spec, crypto.CurveOf(k))
			}
		case ed25519.PrivateKey:
			if spec != SpecEd25519 {
				t.Fatalf("%s: got an Ed25519 key", spec)
			}
		}
		spki, err := crypto.MarshalPKIX(crypto.PublicKey(priv))
		if err != nil || !bytes.Equal(spki, out.PublicKey) {
			t.Fatalf("%s: the public key does not match the private key (%v)", spec, err)
		}
		dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: out.PrivateKeyCiphertextBlob, EncryptionContext: ec})
		if err != nil || !bytes.Equal(dec.Plaintext, out.PrivateKeyPlaintext) || dec.KeyId != kek.Arn {
			t.Fatalf("%s: Decrypt: %v", spec, err)
		}
		_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: out.PrivateKeyCiphertextBlob})
		wantCode(t, err, "InvalidCiphertextException")
	}

	// WithoutPlaintext: the ciphertext decrypts to the private key of the returned public key.
	wo, err := e.k.GenerateDataKeyPairWithoutPlaintext(e.ctx, e.c, GenerateDataKeyPairInput{KeyId: kek.Arn, KeyPairSpec: SpecP256})
	if err != nil || wo.PrivateKeyPlaintext != nil || wo.KeyPairSpec != SpecP256 {
		t.Fatalf("%v %+v", err, wo)
	}
	dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: wo.PrivateKeyCiphertextBlob})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(dec.Plaintext)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(priv.(*ecdsa.PrivateKey).Public())
	if !bytes.Equal(spki, wo.PublicKey) {
		t.Fatal("WithoutPlaintext: the public key does not match the encrypted private key")
	}
	b, _ := json.Marshal(wo)
	if bytes.Contains(b, []byte("PrivateKeyPlaintext")) {
		t.Fatalf("WithoutPlaintext answered a plaintext: %s", b)
	}

	rsaEncKey := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt})
	signKey := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageSign})
	for _, tc := range []struct {
		name string
		in   GenerateDataKeyPairInput
		code string
	}{
		{"SM2", GenerateDataKeyPairInput{KeyId: kek.KeyId, KeyPairSpec: "SM2"}, "UnsupportedOperationException"},
		{"unknown spec", GenerateDataKeyPairInput{KeyId: kek.KeyId, KeyPairSpec: "RSA_1024"}, "ValidationException"},
		{"no spec", GenerateDataKeyPairInput{KeyId: kek.KeyId}, "ValidationException"},
		{"no key", GenerateDataKeyPairInput{KeyPairSpec: SpecP256}, "ValidationException"},
		{"RSA key", GenerateDataKeyPairInput{KeyId: rsaEncKey.KeyId, KeyPairSpec: SpecP256}, "InvalidKeyUsageException"},
		{"signing key", GenerateDataKeyPairInput{KeyId: signKey.KeyId, KeyPairSpec: SpecP256}, "InvalidKeyUsageException"},
		{"recipient", GenerateDataKeyPairInput{KeyId: kek.KeyId, KeyPairSpec: SpecP256, Recipient: &AttestationRecipient{}}, "UnsupportedOperationException"},
		{"dry run", GenerateDataKeyPairInput{KeyId: kek.KeyId, KeyPairSpec: SpecP256, DryRun: true}, "DryRunOperationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.k.GenerateDataKeyPair(e.ctx, e.c, tc.in)
			wantCode(t, err, tc.code)
		})
	}
	_, err = e.k.GenerateDataKeyPairWithoutPlaintext(e.ctx, e.c, GenerateDataKeyPairInput{KeyId: kek.KeyId, KeyPairSpec: SpecP256, DryRun: true})
	wantCode(t, err, "DryRunOperationException")
}

// TestAsymmetricOpsWire drives the operations through the dispatch table with AWS JSON.
func TestAsymmetricOpsWire(t *testing.T) {
	e := newTestEnv(t)
	ops := Operations()
	for _, name := range []string{"Sign", "Verify", "GetPublicKey", "GenerateMac", "VerifyMac", "DeriveSharedSecret", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"} {
		if ops[name] == nil {
			t.Fatalf("%s is not registered", name)
		}
	}
	md := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageSign})
	call := func(op string, req map[string]any) map[string]any {
		t.Helper()
		body, _ := json.Marshal(req)
		out, err := ops[op](e.k, e.ctx, e.c, body)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		b, _ := json.Marshal(out)
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	msg := base64.StdEncoding.EncodeToString([]byte("wire"))
	sig := call("Sign", map[string]any{"KeyId": md.KeyId, "Message": msg, "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"})
	if sig["KeyId"] != md.Arn || sig["SigningAlgorithm"] != "ECDSA_SHA_256" || sig["Signature"] == nil {
		t.Fatalf("%v", sig)
	}
	v := call("Verify", map[string]any{"KeyId": md.KeyId, "Message": msg, "Signature": sig["Signature"], "SigningAlgorithm": "ECDSA_SHA_256"})
	if v["SignatureValid"] != true || v["KeyId"] != md.Arn {
		t.Fatalf("%v", v)
	}
	kek := e.createKey(CreateKeyInput{})
	dkp := call("GenerateDataKeyPair", map[string]any{"KeyId": kek.KeyId, "KeyPairSpec": "ECC_NIST_P256"})
	for _, f := range []string{"PrivateKeyCiphertextBlob", "PrivateKeyPlaintext", "PublicKey", "KeyId", "KeyPairSpec"} {
		if dkp[f] == nil {
			t.Fatalf("GenerateDataKeyPair: %s missing in %v", f, dkp)
		}
	}
	_, err := ops["Sign"](e.k, e.ctx, e.c, []byte(`{"KeyId": 5}`))
	wantCode(t, err, "SerializationException")
}
