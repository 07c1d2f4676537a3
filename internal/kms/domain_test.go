package kms

import (
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// domAdmin logs in as the HSM's default admin of a testEnv.
func (e *testEnv) domAdmin() *hsm.Session {
	e.t.Helper()
	res, err := e.h.Login(e.ctx, hsm.LoginRequest{Username: hsm.DefaultAdmin, Role: hsm.RoleAdmin, Password: "admin-password"})
	if err != nil {
		e.t.Fatalf("admin login: %v", err)
	}
	return res.Session
}

// domZeroize zeroizes the HSM cluster; the KMS metadata stays.
func (e *testEnv) domZeroize() {
	e.t.Helper()
	if err := e.h.Zeroize(e.ctx, e.domAdmin(), "test"); err != nil {
		e.t.Fatal(err)
	}
	if st := e.h.Status(); st.State != hsm.StateUninitialized || st.DomainKeyID != "" {
		e.t.Fatalf("after zeroization: %+v", st)
	}
}

// domReinitialize initializes and activates the zeroized cluster again, with a new domain
// key (as a --dev node does on restart), and returns the new domain key id.
func (e *testEnv) domReinitialize() string {
	e.t.Helper()
	if err := e.h.Initialize(e.ctx, hsm.DefaultPolicy()); err != nil {
		e.t.Fatal(err)
	}
	if err := e.h.Activate(e.ctx, "admin-password"); err != nil {
		e.t.Fatal(err)
	}
	return e.h.Status().DomainKeyID
}

func wantInvalidState(t *testing.T, what string, err error) {
	t.Helper()
	var ke *Error
	if !errors.As(err, &ke) || ke.Code != "KMSInvalidStateException" {
		t.Fatalf("%s: got %v, want KMSInvalidStateException", what, err)
	}
}

// A KMS key whose material was made before the HSM cluster was zeroized and initialized
// again (new domain key, handles handed out from 1 again) must not resolve its handle to
// the new, unrelated HSM key that now has the same handle.
func TestDomainReinitializedHSMOldKeysUnavailable(t *testing.T) {
	e := newTestEnv(t)
	oldDomain := e.h.Status().DomainKeyID
	old := e.createKey(CreateKeyInput{Description: "before zeroization"})
	oldSign := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageSign})
	oldMAC := e.createKey(CreateKeyInput{KeySpec: SpecHMAC256, KeyUsage: UsageMAC})
	oldRSA := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt})
	for _, id := range []string{old.KeyId, oldSign.KeyId, oldMAC.KeyId, oldRSA.KeyId} {
		for _, v := range e.lcMaterial(id).Versions {
			if v.Domain != oldDomain {
				t.Fatalf("%s: version recorded domain key %q, want %q", id, v.Domain, oldDomain)
			}
		}
	}
	blob := e.lcEncrypt(old.KeyId, "old secret")
	sig, err := e.k.Sign(e.ctx, e.c, SignInput{KeyId: oldSign.KeyId, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}

	e.domZeroize()
	newDomain := e.domReinitialize()
	if newDomain == "" || newDomain == oldDomain {
		t.Fatalf("domain key %q after re-initialization (was %q)", newDomain, oldDomain)
	}
	// New svc-kms keys take the old keys' handles.
	fresh := e.createKey(CreateKeyInput{Description: "after re-initialization"})
	freshSign := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageSign})
	fm := e.lcMaterial(fresh.KeyId)
	if got, want := fm.Versions[0].Handles, e.lcMaterial(old.KeyId).Versions[0].Handles; !slices.Equal(got, want) {
		t.Fatalf("the test needs colliding handles: new key %v, old key %v", got, want)
	}
	if fm.Versions[0].Domain != newDomain {
		t.Fatalf("new version recorded domain key %q, want %q", fm.Versions[0].Domain, newDomain)
	}

	// Every use of the old keys is KMSInvalidStateException.
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: old.KeyId, Plaintext: []byte("x")})
	wantInvalidState(t, "Encrypt", err)
	if ke := err.(*Error); !strings.Contains(ke.Message, old.Arn+" is unavailable") || !strings.Contains(ke.Message, oldDomain) {
		t.Fatalf("message %q", ke.Message)
	}
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: old.KeyId, Plaintext: []byte("x"), DryRun: true})
	wantInvalidState(t, "Encrypt DryRun", err)
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: blob})
	wantInvalidState(t, "Decrypt", err)
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: blob, KeyId: old.KeyId, DryRun: true})
	wantInvalidState(t, "Decrypt DryRun", err)
	_, err = e.k.GenerateDataKey(e.ctx, e.c, GenerateDataKeyInput{KeyId: old.KeyId, KeySpec: "AES_256"}, false)
	wantInvalidState(t, "GenerateDataKey", err)
	_, err = e.k.GenerateDataKeyPair(e.ctx, e.c, GenerateDataKeyPairInput{KeyId: old.KeyId, KeyPairSpec: SpecP256})
	wantInvalidState(t, "GenerateDataKeyPair", err)
	_, err = e.k.ReEncrypt(e.ctx, e.c, ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: fresh.KeyId})
	wantInvalidState(t, "ReEncrypt from an old key", err)
	_, err = e.k.Sign(e.ctx, e.c, SignInput{KeyId: oldSign.KeyId, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
	wantInvalidState(t, "Sign", err)
	_, err = e.k.Verify(e.ctx, e.c, VerifyInput{KeyId: oldSign.KeyId, Message: []byte("m"), Signature: sig.Signature, SigningAlgorithm: "ECDSA_SHA_256"})
	wantInvalidState(t, "Verify", err)
	_, err = e.k.GetPublicKey(e.ctx, e.c, GetPublicKeyInput{KeyId: oldSign.KeyId})
	wantInvalidState(t, "GetPublicKey", err)
	_, err = e.k.GenerateMac(e.ctx, e.c, GenerateMacInput{KeyId: oldMAC.KeyId, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256"})
	wantInvalidState(t, "GenerateMac", err)
	_, err = e.k.VerifyMac(e.ctx, e.c, VerifyMacInput{KeyId: oldMAC.KeyId, Message: []byte("m"), Mac: make([]byte, 32), MacAlgorithm: "HMAC_SHA_256"})
	wantInvalidState(t, "VerifyMac", err)
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: oldRSA.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	wantInvalidState(t, "RSA Encrypt", err)
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{KeyId: oldRSA.KeyId, CiphertextBlob: make([]byte, 256), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	wantInvalidState(t, "RSA Decrypt", err)
	_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: old.KeyId})
	wantInvalidState(t, "RotateKeyOnDemand", err)
	if n := len(e.lcMaterial(old.KeyId).Versions); n != 1 {
		t.Fatalf("the old key has %d versions", n)
	}

	// The key made after the re-initialization works, also as a ReEncrypt destination.
	nb := e.lcEncrypt(fresh.KeyId, "new secret")
	if dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: nb}); err != nil || string(dec.Plaintext) != "new secret" {
		t.Fatalf("new key: %v", err)
	}
	if _, err := e.k.Sign(e.ctx, e.c, SignInput{KeyId: freshSign.KeyId, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"}); err != nil {
		t.Fatalf("new signing key: %v", err)
	}

	// Deleting the old keys must not delete the new keys' objects behind the same handles.
	for _, id := range []string{old.KeyId, oldSign.KeyId} {
		if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: lcInt(7)}); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Add(8 * 24 * time.Hour)
	e.lcTick()
	_, err = e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: old.KeyId})
	wantCode(t, err, "NotFoundException")
	if dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: nb}); err != nil || string(dec.Plaintext) != "new secret" {
		t.Fatalf("new key after deleting the old one: %v", err)
	}
	if _, err := e.k.Sign(e.ctx, e.c, SignInput{KeyId: freshSign.KeyId, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"}); err != nil {
		t.Fatalf("new signing key after deleting the old one: %v", err)
	}
}

// Records of snapshots from before the domain key id was recorded carry none: they are
// used unchecked, as before.
func TestDomainLegacyRecordsUnchecked(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{})
	m := e.lcMaterial(md.KeyId)
	for i := range m.Versions {
		m.Versions[i].Domain = ""
	}
	if err := e.k.propose(e.ctx, cmdPutMaterial, putMaterialCmd{Material: m, Expect: m.Revision}); err != nil {
		t.Fatal(err)
	}
	e.restart() // through the persisted state, as an upgraded node
	if v := e.lcMaterial(md.KeyId).Versions[0]; v.Domain != "" {
		t.Fatalf("domain key %q", v.Domain)
	}
	blob := e.lcEncrypt(md.KeyId, "legacy")
	if dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: blob}); err != nil || string(dec.Plaintext) != "legacy" {
		t.Fatalf("legacy record: %v", err)
	}
	// A rotation records the domain key id on the new version.
	if _, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if v := e.lcMaterial(md.KeyId).Versions[1]; v.Domain != e.h.Status().DomainKeyID {
		t.Fatalf("rotated version: domain key %q", v.Domain)
	}
}

// After a restore from backup the cluster has the same domain key and handles: old keys
// work again, and keys made under the domain key in between do not.
func TestDomainRestoreFromBackup(t *testing.T) {
	e := newTestEnv(t)
	old := e.createKey(CreateKeyInput{})
	blob := e.lcEncrypt(old.KeyId, "kept")
	hsmPart, err := e.h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	dk, err := e.h.DomainKeyForBackup()
	if err != nil {
		t.Fatal(err)
	}
	defer dk.Zeroize()

	e.domZeroize()
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: blob})
	wantInvalidState(t, "Decrypt while zeroized", err)
	e.domReinitialize()
	between := e.createKey(CreateKeyInput{})
	betweenBlob := e.lcEncrypt(between.KeyId, "between")
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: blob})
	wantInvalidState(t, "Decrypt in the new domain", err)

	e.domZeroize()
	if err := e.h.RestoreBackup(e.ctx, dk, hsmPart); err != nil {
		t.Fatal(err)
	}
	if got := e.h.Status().DomainKeyID; got != dk.ID() {
		t.Fatalf("restored domain key %s, want %s", got, dk.ID())
	}
	if dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: blob}); err != nil || string(dec.Plaintext) != "kept" {
		t.Fatalf("Decrypt after the restore: %v", err)
	}
	again := e.lcEncrypt(old.KeyId, "again")
	if dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: again}); err != nil || string(dec.Plaintext) != "again" {
		t.Fatalf("Encrypt after the restore: %v", err)
	}
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: betweenBlob})
	wantInvalidState(t, "Decrypt with a key of the domain in between", err)
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: between.KeyId, Plaintext: []byte("x")})
	wantInvalidState(t, "Encrypt with a key of the domain in between", err)
}

// Imported key material made under an old domain key is unavailable in the new domain;
// reimporting the same material brings the key back. An import token of the old domain is
// refused without touching its wrapping key's handle.
func TestDomainImportedMaterial(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{Origin: OriginExternal})
	material := make([]byte, 32)
	if _, err := rand.Read(material); err != nil {
		t.Fatal(err)
	}
	if _, err := e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", material, ImportKeyMaterialInput{}); err != nil {
		t.Fatal(err)
	}
	blob := e.lcEncrypt(md.KeyId, "imported")
	stale := e.params(e.c, md.KeyId, "RSAES_OAEP_SHA_256", "RSA_2048")

	e.domZeroize()
	e.domReinitialize()
	e.createKey(CreateKeyInput{}) // takes the handles
	_, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantInvalidState(t, "Encrypt", err)
	_, err = e.k.ImportKeyMaterial(e.ctx, e.c, ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: stale.ImportToken,
		EncryptedKeyMaterial: wrapMaterial(t, stale.PublicKey, "RSAES_OAEP_SHA_256", material), ExpirationModel: doesNotExpireModel})
	wantCode(t, err, "InvalidImportTokenException")

	if _, err := e.importMaterial(e.c, md.KeyId, "RSAES_OAEP_SHA_256", material, ImportKeyMaterialInput{}); err != nil {
		t.Fatalf("reimport in the new domain: %v", err)
	}
	if dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: blob}); err != nil || string(dec.Plaintext) != "imported" {
		t.Fatalf("Decrypt after the reimport: %v", err)
	}
}

// A custom key store's keys and its password sealing key are made under the domain key;
// after a zeroization and a new initialization the store cannot use either, and a new
// password (UpdateCustomKeyStore) makes a new sealing key.
func TestDomainCustomKeyStore(t *testing.T) {
	e := newCKSEnv(t, envOpts{})
	dom := e.h.Status().DomainKeyID
	e.createKMSUser(kmsuserPW)
	id := e.createStore("store", cluster1, kmsuserPW)
	if r := e.k.storeByID(id); r.SealKeyDomain != dom {
		t.Fatalf("sealing key domain %q, want %q", r.SealKeyDomain, dom)
	}
	e.connected(id)
	md := e.storeKey(id)
	if v := e.lcMaterial(md.KeyId).Versions[0]; v.Domain != dom {
		t.Fatalf("store key domain %q, want %q", v.Domain, dom)
	}
	blob := e.lcEncrypt(md.KeyId, "store key")

	if err := e.h.Zeroize(e.ctx, e.admin(), "test"); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Initialize(e.ctx, hsm.DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Activate(e.ctx, adminPW); err != nil {
		t.Fatal(err)
	}
	e.createKMSUser(kmsuserPW)
	std := e.createKey(CreateKeyInput{}) // svc-kms takes the first handles again
	e.lcTick()
	e.disconnect(id)
	if _, err := e.k.UpdateCustomKeyStore(e.ctx, e.c, UpdateCustomKeyStoreInput{CustomKeyStoreId: id, KeyStorePassword: kmsuserPW}); err != nil {
		t.Fatalf("new password: %v", err)
	}
	r := e.k.storeByID(id)
	if r.SealKeyDomain != e.h.Status().DomainKeyID {
		t.Fatalf("new sealing key domain %q", r.SealKeyDomain)
	}
	e.connected(id)
	_, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantInvalidState(t, "Encrypt with a store key", err)
	_, err = e.decrypt(blob)
	wantInvalidState(t, "Decrypt with a store key", err)
	// The standard key behind the same handles still works.
	sb := e.lcEncrypt(std.KeyId, "std")
	if dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: sb}); err != nil || string(dec.Plaintext) != "std" {
		t.Fatalf("standard key: %v", err)
	}
	// A new key of the store works.
	nk := e.storeKey(id)
	nb := e.lcEncrypt(nk.KeyId, "new store key")
	if pt, err := e.decrypt(nb); err != nil || pt != "new store key" {
		t.Fatalf("new store key: %v", err)
	}
}

// BenchmarkEncrypt measures the Encrypt hot path (with its domain key check).
func BenchmarkEncrypt(b *testing.B) {
	e := newTestEnv(b)
	md := e.createKey(CreateKeyInput{})
	in := EncryptInput{KeyId: md.KeyId, Plaintext: make([]byte, 64)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.k.Encrypt(e.ctx, e.c, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncryptParallel is BenchmarkEncrypt from many goroutines.
func BenchmarkEncryptParallel(b *testing.B) {
	e := newTestEnv(b)
	md := e.createKey(CreateKeyInput{})
	in := EncryptInput{KeyId: md.KeyId, Plaintext: make([]byte, 64)}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.k.Encrypt(e.ctx, e.c, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
