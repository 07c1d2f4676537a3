package kms

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/seal"
	"github.com/coffer-hsm/coffer/internal/state"
)

// testEnv is a one-node cluster: real HSM, real raft store, the KMS part, and an injectable clock.
type testEnv struct {
	t     testing.TB
	dir   string
	h     *hsm.HSM
	k     *Service
	store *state.Store
	clock *fakeClock
	ctx   context.Context
	c     Caller
	opts  envOpts
}

// envOpts vary the test environment.
type envOpts struct {
	clusters   ClusterDirectory // Config.Clusters of the KMS service
	hsmClock   bool             // the HSM uses the fake clock too (session expiry)
	sessionTTL time.Duration    // the HSM's session TTL (default 1 h)
	enforce    bool             // Config.Enforce
	identities IdentityPolicies // Config.Identities
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func newTestEnv(t testing.TB) *testEnv { return newTestEnvOpts(t, envOpts{}) }

func newTestEnvOpts(t testing.TB, o envOpts) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dir: t.TempDir(), ctx: context.Background(), clock: &fakeClock{t: time.Now().UTC()}, opts: o,
		c: Caller{Region: "us-east-1", Account: "111122223333", Principal: "arn:aws:iam::111122223333:root"}}
	e.open()
	if err := e.h.Initialize(e.ctx, hsm.DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Activate(e.ctx, "admin-password"); err != nil {
		t.Fatal(err)
	}
	return e
}

// open starts the node on e.dir: a new HSM, KMS service and state store, as a restart does.
func (e *testEnv) open() {
	t := e.t
	t.Helper()
	sealer, err := seal.NewNodeKeySealer(filepath.Join(e.dir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	hc := hsm.Config{DomainKeyPath: filepath.Join(e.dir, "dk"), Sealer: sealer, SessionTTL: e.opts.sessionTTL}
	if e.opts.hsmClock {
		hc.Now = e.clock.Now
	}
	e.h = hsm.New(hc)
	e.k = New(Config{HSM: e.h, Now: e.clock.Now, Clusters: e.opts.clusters, Enforce: e.opts.enforce, Identities: e.opts.identities})
	store, err := state.Open(state.Config{NodeID: "n1", Dir: filepath.Join(e.dir, "raft")}, e.h, e.k)
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	t.Cleanup(func() { store.Close() })
	e.h.Attach(e.store)
	e.k.Attach(e.store)
	if err := e.h.Unseal(); err != nil {
		t.Fatal(err)
	}
}

// restart stops the node and starts it again on the same directory.
func (e *testEnv) restart() {
	e.t.Helper()
	e.k.WaitCustomKeyStoreConnections()
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *testEnv) createKey(in CreateKeyInput) KeyMetadata {
	e.t.Helper()
	out, err := e.k.CreateKey(e.ctx, e.c, in)
	if err != nil {
		e.t.Fatalf("CreateKey %+v: %v", in, err)
	}
	return out.KeyMetadata
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var ke *Error
	if !errors.As(err, &ke) || ke.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func TestSymmetricEncryptDecrypt(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{Description: "test"})
	if md.KeyState != StateEnabled || md.KeySpec != SpecSymmetric || md.KeyUsage != UsageEncrypt || md.Arn != keyARN("us-east-1", "111122223333", md.KeyId) {
		t.Fatalf("%+v", md)
	}
	ec := map[string]string{"purpose": "test", "team": "a"}
	enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("secret"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	// Order-independent context match, key found from the blob.
	dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"team": "a", "purpose": "test"}})
	if err != nil || string(dec.Plaintext) != "secret" || dec.KeyId != md.Arn {
		t.Fatalf("decrypt: %v %+v", err, dec)
	}
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"team": "b", "purpose": "test"}})
	wantCode(t, err, "InvalidCiphertextException")
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "InvalidCiphertextException")
	// Every single corrupted byte is InvalidCiphertextException, never a panic or success.
	for i := range enc.CiphertextBlob {
		b := append([]byte(nil), enc.CiphertextBlob...)
		b[i] ^= 0x20
		_, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: b, EncryptionContext: ec})
		var ke *Error
		if !errors.As(err, &ke) || (ke.Code != "InvalidCiphertextException" && ke.Code != "NotFoundException") {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	// Disabled key.
	if err := e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "DisabledException")
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	wantCode(t, err, "DisabledException")
	if err := e.k.EnableKey(e.ctx, e.c, KeyIDInput{KeyId: md.Arn}); err != nil {
		t.Fatal(err)
	}
	// Plaintext limits.
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: make([]byte, 4097)})
	wantCode(t, err, "ValidationException")
	// Another region does not see the key.
	_, err = e.k.DescribeKey(e.ctx, Caller{Region: "eu-west-1", Account: e.c.Account}, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "NotFoundException")
}

func TestCreateKeyValidation(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		in   CreateKeyInput
		code string
	}{
		{CreateKeyInput{KeySpec: "RSA_1024"}, "ValidationException"},
		{CreateKeyInput{KeySpec: SpecSymmetric, KeyUsage: UsageSign}, "ValidationException"},
		{CreateKeyInput{KeySpec: SpecHMAC256, KeyUsage: UsageEncrypt}, "ValidationException"},
		{CreateKeyInput{Origin: "CLOUDHSM"}, "ValidationException"},
		{CreateKeyInput{KeySpec: "SM2"}, "UnsupportedOperationException"},
		{CreateKeyInput{Policy: "{not json"}, "MalformedPolicyDocumentException"},
		{CreateKeyInput{Tags: []Tag{{TagKey: "aws:x", TagValue: "y"}}}, "TagException"},
		// A policy that would lock everyone out of the key is refused unless bypassed.
		{CreateKeyInput{Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/x"},"Action":"kms:Encrypt","Resource":"*"}]}`}, "MalformedPolicyDocumentException"},
	} {
		_, err := e.k.CreateKey(e.ctx, e.c, tc.in)
		wantCode(t, err, tc.code)
	}
	if _, err := e.k.CreateKey(e.ctx, e.c, CreateKeyInput{BypassPolicyLockoutSafetyCheck: true,
		Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/x"},"Action":"kms:Encrypt","Resource":"*"}]}`}); err != nil {
		t.Fatalf("bypassed lockout check: %v", err)
	}
	for spec, usage := range map[string]string{SpecRSA2048: UsageSign, SpecP256: UsageKeyAgreement, SpecSecp256k1: UsageSign,
		SpecEd25519: UsageSign, SpecHMAC224: UsageMAC, SpecHMAC512: UsageMAC, SpecP521: UsageSign} {
		md := e.createKey(CreateKeyInput{KeySpec: spec, KeyUsage: usage})
		if md.KeySpec != spec || md.KeyUsage != usage {
			t.Fatalf("%s: %+v", spec, md)
		}
	}
}

func TestGenerateDataKeyAndReEncrypt(t *testing.T) {
	e := newTestEnv(t)
	a := e.createKey(CreateKeyInput{})
	b := e.createKey(CreateKeyInput{})
	n := 64
	dk, err := e.k.GenerateDataKey(e.ctx, e.c, GenerateDataKeyInput{KeyId: a.KeyId, NumberOfBytes: &n}, false)
	if err != nil || len(dk.Plaintext) != 64 {
		t.Fatal(err)
	}
	re, err := e.k.ReEncrypt(e.ctx, e.c, ReEncryptInput{CiphertextBlob: dk.CiphertextBlob, DestinationKeyId: b.KeyId})
	if err != nil || re.SourceKeyId != a.Arn || re.KeyId != b.Arn {
		t.Fatalf("%v %+v", err, re)
	}
	dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: re.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != string(dk.Plaintext) {
		t.Fatal(err)
	}
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: re.CiphertextBlob, KeyId: a.KeyId})
	wantCode(t, err, "IncorrectKeyException")
	wo, err := e.k.GenerateDataKey(e.ctx, e.c, GenerateDataKeyInput{KeyId: a.KeyId, KeySpec: "AES_128"}, true)
	if err != nil || wo.Plaintext != nil {
		t.Fatal(err)
	}
	_, err = e.k.GenerateDataKey(e.ctx, e.c, GenerateDataKeyInput{KeyId: a.KeyId}, false)
	wantCode(t, err, "ValidationException")
	big := 1025
	_, err = e.k.GenerateRandom(e.ctx, e.c, GenerateRandomInput{NumberOfBytes: &big})
	wantCode(t, err, "ValidationException")
}

func TestRSAEncryptDecrypt(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt})
	enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("rsa"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{KeyId: md.KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	if err != nil || string(dec.Plaintext) != "rsa" {
		t.Fatal(err)
	}
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{KeyId: md.KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: "RSAES_OAEP_SHA_1"})
	wantCode(t, err, "InvalidCiphertextException")
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: make([]byte, 191), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	wantCode(t, err, "ValidationException")
}

func FuzzParseBlob(f *testing.F) {
	f.Add(append(encodeHeader("1234abcd-12ab-34cd-56ef-1234567890ab", 1), make([]byte, 40)...))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		bh, err := parseBlob(b)
		if err == nil && (bh.version == 0 || len(bh.payload) < 28) {
			t.Fatalf("accepted a malformed blob %x", b)
		}
	})
}

// TestOnKeyUse: the hook sees every successful cryptographic operation, with the key's
// region, id and the operation, and no failed one.
func TestOnKeyUse(t *testing.T) {
	e := newTestEnv(t)
	var mu sync.Mutex
	var got []string
	e.k.cfg.OnKeyUse = func(region, keyID, op string) {
		mu.Lock()
		got = append(got, region+" "+keyID+" "+op)
		mu.Unlock()
	}
	md := e.createKey(CreateKeyInput{})
	enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.GenerateDataKey(e.ctx, e.c, GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256"}, true); err != nil {
		t.Fatal(err)
	}
	if err := e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")}); err == nil {
		t.Fatal("Encrypt with a disabled key succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"us-east-1 " + md.KeyId + " Encrypt", "us-east-1 " + md.KeyId + " Decrypt", "us-east-1 " + md.KeyId + " GenerateDataKeyWithoutPlaintext"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}
