package kms

import (
	"bytes"
	stdcrypto "crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	cc "github.com/coffer-hsm/coffer/internal/crypto"
	"github.com/coffer-hsm/coffer/internal/hsm"
)

var allWrappingAlgorithms = []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *testEnv) params(c Caller, keyID, alg, spec string) *GetParametersForImportOutput {
	e.t.Helper()
	out, err := e.k.GetParametersForImport(e.ctx, c, GetParametersForImportInput{KeyId: keyID, WrappingAlgorithm: alg, WrappingKeySpec: spec})
	if err != nil {
		e.t.Fatalf("GetParametersForImport %s %s: %v", alg, spec, err)
	}
	if len(out.ImportToken) < 64 || out.ParametersValidTo == nil || time.Time(*out.ParametersValidTo).Sub(e.clock.Now()) != 24*time.Hour {
		e.t.Fatalf("parameters %+v", out)
	}
	return out
}

// wrapMaterial encrypts key material for import as a client of AWS KMS does.
func wrapMaterial(t testing.TB, der []byte, alg string, material []byte) []byte {
	t.Helper()
	p, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	pub := p.(*rsa.PublicKey)
	var out []byte
	switch alg {
	case "RSAES_PKCS1_V1_5":
		out, err = rsa.EncryptPKCS1v15(rand.Reader, pub, material)
	case "RSAES_OAEP_SHA_1":
		out, err = rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, material, nil)
	case "RSAES_OAEP_SHA_256":
		out, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, material, nil)
	case "RSA_AES_KEY_WRAP_SHA_1":
		out, err = cc.WrapRSAAES(rand.Reader, pub, stdcrypto.SHA1, 256, material)
	case "RSA_AES_KEY_WRAP_SHA_256":
		out, err = cc.WrapRSAAES(rand.Reader, pub, stdcrypto.SHA256, 256, material)
	default:
		t.Fatalf("algorithm %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// importMaterial runs GetParametersForImport, wraps material and imports it.
func (e *testEnv) importMaterial(c Caller, keyID, alg string, material []byte, in ImportKeyMaterialInput) (*ImportKeyMaterialOutput, error) {
	e.t.Helper()
	p := e.params(c, keyID, alg, "RSA_2048")
	in.KeyId, in.ImportToken, in.EncryptedKeyMaterial = keyID, p.ImportToken, wrapMaterial(e.t, p.PublicKey, alg, material)
	if in.ExpirationModel == "" && in.ValidTo == nil {
		in.ExpirationModel = doesNotExpireModel
	}
	return e.k.ImportKeyMaterial(e.ctx, c, in)
}

func (e *testEnv) describe(c Caller, keyID string) KeyMetadata {
	e.t.Helper()
	out, err := e.k.DescribeKey(e.ctx, c, KeyIDInput{KeyId: keyID})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.KeyMetadata
}

func epochAt(t time.Time) *Epoch { ep := Epoch(t); return &ep }

// openLocally decrypts a KMS ciphertext blob with the AES key we imported: proof that KMS
// encrypts with exactly our key material.
func openLocally(t testing.TB, key, blob []byte, ec map[string]string) []byte {
	t.Helper()
	bh, err := parseBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := cipher.NewGCM(b)
	pt, err := g.Open(nil, bh.payload[:12], bh.payload[12:], blobAAD(bh.header, ec))
	if err != nil {
		t.Fatalf("the blob does not open with the imported key: %v", err)
	}
	return pt
}

func TestImportSymmetricEveryWrappingAlgorithm(t *testing.T) {
	e := newTestEnv(t)
	for _, alg := range allWrappingAlgorithms {
		md := e.createKey(CreateKeyInput{Origin: OriginExternal})
		if md.KeyState != StatePendingImport || md.Origin != OriginExternal {
			t.Fatalf("%+v", md)
		}
		_, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
		wantCode(t, err, "KMSInvalidStateException")
		key := randBytes(t, 32)
		out, err := e.importMaterial(e.c, md.KeyId, alg, key, ImportKeyMaterialInput{})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if out.KeyId != md.Arn || len(out.KeyMaterialId) != 64 {
			t.Fatalf("%s: %+v", alg, out)
		}
		d := e.describe(e.c, md.KeyId)
		if d.KeyState != StateEnabled || d.ExpirationModel != doesNotExpireModel || d.ValidTo != nil || d.CurrentKeyMaterialId != out.KeyMaterialId {
			t.Fatalf("%s: %+v", alg, d)
		}
		ec := map[string]string{"alg": alg}
		enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("imported " + alg), EncryptionContext: ec})
		if err != nil {
			t.Fatal(err)
		}
		if pt := openLocally(t, key, enc.CiphertextBlob, ec); string(pt) != "imported "+alg {
			t.Fatalf("%s: %q", alg, pt)
		}
		dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
		if err != nil || string(dec.Plaintext) != "imported "+alg {
			t.Fatalf("%s: %v", alg, err)
		}
	}
	// The wrapping key specs.
	md := e.createKey(CreateKeyInput{Origin: OriginExternal})
	p := e.params(e.c, md.KeyId, "RSAES_OAEP_SHA_256", "RSA_3072")
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	if err != nil || pub.(*rsa.PublicKey).N.BitLen() != 3072 {
		t.Fatalf("%v", err)
	}
}

func TestImportHMAC(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{Origin: OriginExternal, KeySpec: SpecHMAC256, KeyUsage: UsageMAC})
	_, err := e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", randBytes(t, 16), ImportKeyMaterialInput{})
	wantCode(t, err, "IncorrectKeyMaterialException")
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", randBytes(t, 65), ImportKeyMaterialInput{})
	wantCode(t, err, "IncorrectKeyMaterialException")
	key := randBytes(t, 48)
	if _, err := e.importMaterial(e.c, md.KeyId, "RSA_AES_KEY_WRAP_SHA_256", key, ImportKeyMaterialInput{}); err != nil {
		t.Fatal(err)
	}
	msg := []byte("message to authenticate")
	out, err := e.k.GenerateMac(e.ctx, e.c, GenerateMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: "HMAC_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	if !hmac.Equal(out.Mac, m.Sum(nil)) {
		t.Fatal("the KMS MAC is not an HMAC with the imported key")
	}
	// Delete, then reimport: different material is refused (checked without the old objects).
	if _, err := e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_1", randBytes(t, 48), ImportKeyMaterialInput{})
	wantCode(t, err, "IncorrectKeyMaterialException")
	if _, err := e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_1", key, ImportKeyMaterialInput{}); err != nil {
		t.Fatal(err)
	}
	again, err := e.k.GenerateMac(e.ctx, e.c, GenerateMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: "HMAC_SHA_256"})
	if err != nil || !hmac.Equal(again.Mac, out.Mac) {
		t.Fatal(err)
	}
}

func TestImportAsymmetric(t *testing.T) {
	e := newTestEnv(t)
	// ECC P-256 signing key.
	md := e.createKey(CreateKeyInput{Origin: OriginExternal, KeySpec: SpecP256, KeyUsage: UsageSign})
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.k.GetParametersForImport(e.ctx, e.c, GetParametersForImportInput{KeyId: md.KeyId, WrappingAlgorithm: "RSAES_PKCS1_V1_5", WrappingKeySpec: "RSA_2048"})
	wantCode(t, err, "ValidationException")
	// Wrong curve.
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	other, _ := x509.MarshalPKCS8PrivateKey(p384)
	_, err = e.importMaterial(e.c, md.KeyId, "RSA_AES_KEY_WRAP_SHA_256", other, ImportKeyMaterialInput{})
	wantCode(t, err, "IncorrectKeyMaterialException")
	// Not a private key at all.
	_, err = e.importMaterial(e.c, md.KeyId, "RSA_AES_KEY_WRAP_SHA_256", randBytes(t, 40), ImportKeyMaterialInput{})
	wantCode(t, err, "IncorrectKeyMaterialException")
	if _, err := e.importMaterial(e.c, md.KeyId, "RSA_AES_KEY_WRAP_SHA_256", pkcs8, ImportKeyMaterialInput{}); err != nil {
		t.Fatal(err)
	}
	pk, err := e.k.GetPublicKey(e.ctx, e.c, GetPublicKeyInput{KeyId: md.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if !bytes.Equal(pk.PublicKey, want) {
		t.Fatal("GetPublicKey is not the imported key's public key")
	}
	msg := []byte("signed by imported material")
	sig, err := e.k.Sign(e.ctx, e.c, SignInput{KeyId: md.KeyId, Message: msg, MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig.Signature) {
		t.Fatal("the KMS signature does not verify with the imported key")
	}
	// Another P-256 key is different material.
	p2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ = x509.MarshalPKCS8PrivateKey(p2)
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", other, ImportKeyMaterialInput{})
	wantCode(t, err, "IncorrectKeyMaterialException")
	// ImportType is for symmetric keys only.
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", pkcs8, ImportKeyMaterialInput{ImportType: importExisting})
	wantCode(t, err, "ValidationException")
	// The same material again (OAEP fits a P-256 PKCS#8).
	if _, err := e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", pkcs8, ImportKeyMaterialInput{}); err != nil {
		t.Fatal(err)
	}

	// RSA private keys: RSA_AES_KEY_WRAP only.
	rmd := e.createKey(CreateKeyInput{Origin: OriginExternal, KeySpec: SpecRSA2048, KeyUsage: UsageSign})
	_, err = e.k.GetParametersForImport(e.ctx, e.c, GetParametersForImportInput{KeyId: rmd.KeyId, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_4096"})
	wantCode(t, err, "ValidationException")
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rder, _ := x509.MarshalPKCS8PrivateKey(rk)
	if _, err := e.importMaterial(e.c, rmd.KeyId, "RSA_AES_KEY_WRAP_SHA_1", rder, ImportKeyMaterialInput{}); err != nil {
		t.Fatal(err)
	}
	rsig, err := e.k.Sign(e.ctx, e.c, SignInput{KeyId: rmd.KeyId, Message: msg, MessageType: "RAW", SigningAlgorithm: "RSASSA_PKCS1_V1_5_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(&rk.PublicKey, stdcrypto.SHA256, digest[:], rsig.Signature); err != nil {
		t.Fatal(err)
	}
	// P-521 cannot go through OAEP under RSA_2048.
	pmd := e.createKey(CreateKeyInput{Origin: OriginExternal, KeySpec: SpecP521, KeyUsage: UsageSign})
	_, err = e.k.GetParametersForImport(e.ctx, e.c, GetParametersForImportInput{KeyId: pmd.KeyId, WrappingAlgorithm: "RSAES_OAEP_SHA_1", WrappingKeySpec: "RSA_2048"})
	wantCode(t, err, "ValidationException")
}

func TestImportValidationAndTokens(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{Origin: OriginExternal})
	kmsKey := e.createKey(CreateKeyInput{})
	for _, tc := range []struct {
		in   GetParametersForImportInput
		code string
	}{
		{GetParametersForImportInput{KeyId: md.KeyId, WrappingAlgorithm: "SM2PKE", WrappingKeySpec: "RSA_2048"}, "UnsupportedOperationException"},
		{GetParametersForImportInput{KeyId: md.KeyId, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "SM2"}, "UnsupportedOperationException"},
		{GetParametersForImportInput{KeyId: md.KeyId, WrappingAlgorithm: "RSA_OAEP", WrappingKeySpec: "RSA_2048"}, "ValidationException"},
		{GetParametersForImportInput{KeyId: md.KeyId, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_1024"}, "ValidationException"},
		{GetParametersForImportInput{KeyId: md.KeyId, WrappingKeySpec: "RSA_2048"}, "ValidationException"},
		{GetParametersForImportInput{KeyId: kmsKey.KeyId, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"}, "UnsupportedOperationException"},
		{GetParametersForImportInput{KeyId: "alias/none", WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"}, "NotFoundException"},
	} {
		_, err := e.k.GetParametersForImport(e.ctx, e.c, tc.in)
		wantCode(t, err, tc.code)
	}
	_, err := e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: kmsKey.KeyId})
	wantCode(t, err, "UnsupportedOperationException")

	key := randBytes(t, 32)
	p := e.params(e.c, md.KeyId, "RSAES_OAEP_SHA_256", "RSA_2048")
	wrapped := wrapMaterial(t, p.PublicKey, "RSAES_OAEP_SHA_256", key)
	base := ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped, ExpirationModel: doesNotExpireModel}
	now := e.clock.Now()
	for i, tc := range []struct {
		mod  func(*ImportKeyMaterialInput)
		code string
	}{
		{func(in *ImportKeyMaterialInput) { in.ImportToken = randBytes(t, 64) }, "InvalidImportTokenException"},
		{func(in *ImportKeyMaterialInput) { in.ImportToken = nil }, "ValidationException"},
		{func(in *ImportKeyMaterialInput) { in.EncryptedKeyMaterial = nil }, "ValidationException"},
		{func(in *ImportKeyMaterialInput) { in.ExpirationModel = "" }, "ValidationException"}, // EXPIRES without ValidTo
		{func(in *ImportKeyMaterialInput) {
			in.ExpirationModel, in.ValidTo = expiresModel, epochAt(now.Add(-time.Minute))
		}, "ValidationException"},
		{func(in *ImportKeyMaterialInput) {
			in.ExpirationModel, in.ValidTo = expiresModel, epochAt(now.Add(366*day))
		}, "ValidationException"},
		{func(in *ImportKeyMaterialInput) { in.ValidTo = epochAt(now.Add(time.Hour)) }, "ValidationException"},
		{func(in *ImportKeyMaterialInput) { in.ExpirationModel = "NEVER" }, "ValidationException"},
		{func(in *ImportKeyMaterialInput) { in.KeyMaterialId = "xyz" }, "ValidationException"},
		{func(in *ImportKeyMaterialInput) { in.ImportType = importExisting }, "IncorrectKeyMaterialException"},
		{func(in *ImportKeyMaterialInput) { in.EncryptedKeyMaterial = randBytes(t, 256) }, "InvalidCiphertextException"},
		{func(in *ImportKeyMaterialInput) { in.KeyId = kmsKey.KeyId }, "UnsupportedOperationException"},
	} {
		in := base
		tc.mod(&in)
		_, err := e.k.ImportKeyMaterial(e.ctx, e.c, in)
		var ke *Error
		if !errors.As(err, &ke) || ke.Code != tc.code {
			t.Fatalf("case %d: got %v, want %s", i, err, tc.code)
		}
	}
	// A token of another key.
	md2 := e.createKey(CreateKeyInput{Origin: OriginExternal})
	p2 := e.params(e.c, md2.KeyId, "RSAES_OAEP_SHA_256", "RSA_2048")
	in := base
	in.ImportToken = p2.ImportToken
	_, err = e.k.ImportKeyMaterial(e.ctx, e.c, in)
	wantCode(t, err, "InvalidImportTokenException")
	// A 128-bit AES key is not SYMMETRIC_DEFAULT material.
	p3 := e.params(e.c, md.KeyId, "RSAES_OAEP_SHA_1", "RSA_2048")
	_, err = e.k.ImportKeyMaterial(e.ctx, e.c, ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p3.ImportToken,
		EncryptedKeyMaterial: wrapMaterial(t, p3.PublicKey, "RSAES_OAEP_SHA_1", randBytes(t, 16)), ExpirationModel: doesNotExpireModel})
	wantCode(t, err, "IncorrectKeyMaterialException")
	// Expired token.
	e.clock.Add(24*time.Hour + time.Second)
	_, err = e.k.ImportKeyMaterial(e.ctx, e.c, base)
	wantCode(t, err, "ExpiredImportTokenException")
	// The scheduler drops expired tokens and destroys their wrapping keys.
	e.k.mu.RLock()
	var wrapping []uint64
	for _, r := range e.k.imports {
		wrapping = append(wrapping, r.Handles...)
	}
	e.k.mu.RUnlock()
	if len(wrapping) == 0 {
		t.Fatal("no import records")
	}
	if err := e.k.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.k.mu.RLock()
	left := len(e.k.imports)
	e.k.mu.RUnlock()
	if left != 0 {
		t.Fatalf("%d import records left", left)
	}
	sess, err := e.k.session(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range wrapping {
		var nf *hsm.NotFoundError
		if _, err := e.h.GetKey(sess, h); !errors.As(err, &nf) {
			t.Fatalf("wrapping key %d still exists: %v", h, err)
		}
	}
	_, err = e.k.ImportKeyMaterial(e.ctx, e.c, base)
	wantCode(t, err, "InvalidImportTokenException")
	// A token is used once.
	p4 := e.params(e.c, md.KeyId, "RSAES_OAEP_SHA_256", "RSA_2048")
	in = ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p4.ImportToken, EncryptedKeyMaterial: wrapMaterial(t, p4.PublicKey, "RSAES_OAEP_SHA_256", key), ExpirationModel: doesNotExpireModel}
	if _, err := e.k.ImportKeyMaterial(e.ctx, e.c, in); err != nil {
		t.Fatal(err)
	}
	_, err = e.k.ImportKeyMaterial(e.ctx, e.c, in)
	wantCode(t, err, "InvalidImportTokenException")
	// NEW_KEY_MATERIAL that is the key's material already.
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", key, ImportKeyMaterialInput{ImportType: importNew})
	wantCode(t, err, "IncorrectKeyMaterialException")
	// The import ops are in the dispatch table.
	for _, name := range []string{"GetParametersForImport", "ImportKeyMaterial", "DeleteImportedKeyMaterial", "ReplicateKey", "UpdatePrimaryRegion"} {
		if Operations()[name] == nil {
			t.Fatalf("%s is not served", name)
		}
	}
}

func TestReimportExpiryAndDelete(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{Origin: OriginExternal})
	key := randBytes(t, 32)
	validTo := e.clock.Now().Add(time.Hour).Truncate(time.Millisecond)
	first, err := e.importMaterial(e.c, md.KeyId, "RSA_AES_KEY_WRAP_SHA_256", key, ImportKeyMaterialInput{ExpirationModel: expiresModel, ValidTo: epochAt(validTo)})
	if err != nil {
		t.Fatal(err)
	}
	d := e.describe(e.c, md.KeyId)
	if d.ExpirationModel != expiresModel || d.ValidTo == nil || !time.Time(*d.ValidTo).Equal(validTo) {
		t.Fatalf("%+v", d)
	}
	enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("kept")})
	if err != nil {
		t.Fatal(err)
	}
	// Reimport of the same material while present: changes only the expiration.
	again, err := e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_1", key, ImportKeyMaterialInput{KeyMaterialId: first.KeyMaterialId})
	if err != nil || again.KeyMaterialId != first.KeyMaterialId {
		t.Fatalf("%v %+v", err, again)
	}
	if d := e.describe(e.c, md.KeyId); d.ExpirationModel != doesNotExpireModel || d.ValidTo != nil {
		t.Fatalf("%+v", d)
	}
	// Different material is refused, while present and after deletion.
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", randBytes(t, 32), ImportKeyMaterialInput{})
	wantCode(t, err, "IncorrectKeyMaterialException")
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", key, ImportKeyMaterialInput{KeyMaterialId: hexString(t, 32)})
	wantCode(t, err, "IncorrectKeyMaterialException")
	// A disabled key stays disabled through a reimport.
	if err := e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", key, ImportKeyMaterialInput{ExpirationModel: expiresModel, ValidTo: epochAt(validTo)}); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StateDisabled {
		t.Fatalf("%+v", d)
	}
	if err := e.k.EnableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	// Expiry.
	e.clock.Add(2 * time.Hour)
	if err := e.k.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	d = e.describe(e.c, md.KeyId)
	if d.KeyState != StatePendingImport || d.ValidTo != nil || d.CurrentKeyMaterialId != "" {
		t.Fatalf("%+v", d)
	}
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "KMSInvalidStateException")
	_, m, _ := e.k.resolve(e.c, md.KeyId)
	if len(m.Versions) != 1 || len(m.Versions[0].Handles) != 0 || m.Versions[0].ID != first.KeyMaterialId {
		t.Fatalf("%+v", m.Versions)
	}
	// Different material after deletion: refused without the old objects.
	_, err = e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", randBytes(t, 32), ImportKeyMaterialInput{})
	wantCode(t, err, "IncorrectKeyMaterialException")
	// The same material restores the key and its old ciphertexts.
	out, err := e.importMaterial(e.c, md.KeyId, "RSA_AES_KEY_WRAP_SHA_256", key, ImportKeyMaterialInput{ImportType: importExisting})
	if err != nil || out.KeyMaterialId != first.KeyMaterialId {
		t.Fatalf("%v %+v", err, out)
	}
	dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "kept" {
		t.Fatal(err)
	}
	// DeleteImportedKeyMaterial.
	_, err = e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.KeyId, KeyMaterialId: hexString(t, 32)})
	wantCode(t, err, "NotFoundException")
	del, err := e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.Arn})
	if err != nil || del.KeyId != md.Arn || del.KeyMaterialId != first.KeyMaterialId {
		t.Fatalf("%v %+v", err, del)
	}
	_, m, _ = e.k.resolve(e.c, md.KeyId)
	if d := e.describe(e.c, md.KeyId); d.KeyState != StatePendingImport || d.ExpirationModel != "" || len(m.Versions[0].Handles) != 0 {
		t.Fatalf("%+v", d)
	}
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "KMSInvalidStateException")
	// Idempotent.
	if _, err := e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	// A key pending deletion keeps its state.
	if _, err := e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", key, ImportKeyMaterialInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.k.GetParametersForImport(e.ctx, e.c, GetParametersForImportInput{KeyId: md.KeyId, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"})
	wantCode(t, err, "KMSInvalidStateException")
	if _, err := e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StatePendingDeletion {
		t.Fatalf("%+v", d)
	}
}

func hexString(t testing.TB, n int) string {
	const digits = "0123456789abcdef"
	b := randBytes(t, n)
	out := make([]byte, 2*n)
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func TestMultiRegionKeys(t *testing.T) {
	e := newTestEnv(t)
	eu := Caller{Region: "eu-west-1", Account: e.c.Account, Principal: e.c.Principal}
	ap := Caller{Region: "ap-southeast-2", Account: e.c.Account, Principal: e.c.Principal}
	multi := true
	md := e.createKey(CreateKeyInput{MultiRegion: &multi, Description: "primary"})
	if md.MultiRegionConfiguration == nil || md.MultiRegionConfiguration.MultiRegionKeyType != "PRIMARY" || md.KeyId[:4] != "mrk-" {
		t.Fatalf("%+v", md)
	}
	rep, err := e.k.ReplicateKey(e.ctx, e.c, ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: "eu-west-1",
		Tags: []Tag{{TagKey: "env", TagValue: "eu"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.ReplicaKeyMetadata
	if r.KeyId != md.KeyId || r.Arn != keyARN("eu-west-1", e.c.Account, md.KeyId) || r.KeyState != StateEnabled || r.Description != "" ||
		r.MultiRegionConfiguration.MultiRegionKeyType != "REPLICA" || r.MultiRegionConfiguration.PrimaryKey.Region != "us-east-1" ||
		len(rep.ReplicaTags) != 1 || rep.ReplicaPolicy != DefaultPolicy(e.c.Account) {
		t.Fatalf("%+v", rep)
	}
	p := e.describe(e.c, md.KeyId)
	if rk := p.MultiRegionConfiguration.ReplicaKeys; len(rk) != 1 || rk[0].Region != "eu-west-1" {
		t.Fatalf("%+v", p.MultiRegionConfiguration)
	}
	// Shared material: encrypt in one region, decrypt in the other.
	enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("across regions")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := e.k.Decrypt(e.ctx, eu, DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "across regions" || dec.KeyId != r.Arn {
		t.Fatalf("%v %+v", err, dec)
	}
	// Errors.
	single := e.createKey(CreateKeyInput{})
	for _, tc := range []struct {
		c    Caller
		in   ReplicateKeyInput
		code string
	}{
		{e.c, ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: "eu-west-1"}, "AlreadyExistsException"},
		{e.c, ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: "us-east-1"}, "ValidationException"},
		{e.c, ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: "moon"}, "ValidationException"},
		{e.c, ReplicateKeyInput{KeyId: md.KeyId}, "ValidationException"},
		{e.c, ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: "us-west-2", Policy: "{bad"}, "MalformedPolicyDocumentException"},
		{e.c, ReplicateKeyInput{KeyId: single.KeyId, ReplicaRegion: "us-west-2"}, "UnsupportedOperationException"},
		{eu, ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: "us-west-2"}, "UnsupportedOperationException"},
	} {
		_, err := e.k.ReplicateKey(e.ctx, tc.c, tc.in)
		wantCode(t, err, tc.code)
	}
	// UpdatePrimaryRegion.
	err = e.k.UpdatePrimaryRegion(e.ctx, e.c, UpdatePrimaryRegionInput{KeyId: md.KeyId, PrimaryRegion: "us-west-2"})
	wantCode(t, err, "NotFoundException")
	err = e.k.UpdatePrimaryRegion(e.ctx, e.c, UpdatePrimaryRegionInput{KeyId: single.KeyId, PrimaryRegion: "eu-west-1"})
	wantCode(t, err, "UnsupportedOperationException")
	if err := e.k.UpdatePrimaryRegion(e.ctx, e.c, UpdatePrimaryRegionInput{KeyId: md.KeyId, PrimaryRegion: "eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	us, euMD := e.describe(e.c, md.KeyId), e.describe(eu, md.KeyId)
	if us.MultiRegionConfiguration.MultiRegionKeyType != "REPLICA" || euMD.MultiRegionConfiguration.MultiRegionKeyType != "PRIMARY" ||
		us.MultiRegionConfiguration.PrimaryKey.Region != "eu-west-1" || len(euMD.MultiRegionConfiguration.ReplicaKeys) != 1 ||
		euMD.MultiRegionConfiguration.ReplicaKeys[0].Region != "us-east-1" {
		t.Fatalf("%+v %+v", us.MultiRegionConfiguration, euMD.MultiRegionConfiguration)
	}
	// Only the new primary replicates now.
	_, err = e.k.ReplicateKey(e.ctx, e.c, ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: "ap-southeast-2"})
	wantCode(t, err, "UnsupportedOperationException")
	if _, err := e.k.ReplicateKey(e.ctx, eu, ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: "ap-southeast-2", Description: new(string)}); err != nil {
		t.Fatal(err)
	}
	dec, err = e.k.Decrypt(e.ctx, ap, DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "across regions" {
		t.Fatal(err)
	}
	if cfg := e.describe(e.c, md.KeyId).MultiRegionConfiguration; len(cfg.ReplicaKeys) != 2 {
		t.Fatalf("%+v", cfg)
	}
}

func TestMultiRegionImportedKey(t *testing.T) {
	e := newTestEnv(t)
	eu := Caller{Region: "eu-west-1", Account: e.c.Account}
	multi := true
	md := e.createKey(CreateKeyInput{MultiRegion: &multi, Origin: OriginExternal})
	rep, err := e.k.ReplicateKey(e.ctx, e.c, ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: "eu-west-1"})
	if err != nil || rep.ReplicaKeyMetadata.KeyState != StatePendingImport || rep.ReplicaKeyMetadata.Origin != OriginExternal {
		t.Fatalf("%v %+v", err, rep)
	}
	key := randBytes(t, 32)
	if _, err := e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", key, ImportKeyMaterialInput{}); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(eu, md.KeyId); d.KeyState != StateEnabled {
		t.Fatalf("%+v", d)
	}
	enc, err := e.k.Encrypt(e.ctx, eu, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("eu")})
	if err != nil {
		t.Fatal(err)
	}
	if string(openLocally(t, key, enc.CiphertextBlob, nil)) != "eu" {
		t.Fatal("wrong material")
	}
	dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "eu" {
		t.Fatal(err)
	}
	if _, err := e.k.DeleteImportedKeyMaterial(e.ctx, e.c, DeleteImportedKeyMaterialInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(eu, md.KeyId); d.KeyState != StatePendingImport {
		t.Fatalf("%+v", d)
	}
}
