package kms

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestInputValidationBeforeLookup: enum values and grant tokens of the symmetric
// cryptographic operations are checked as the model says, before the key is looked up or
// the request authorized (authorization on, as a node runs it).
func TestInputValidationBeforeLookup(t *testing.T) {
	e, _ := newAuthzEnv(t)
	root := Caller{Region: "us-east-1", Account: authzAcct, Principal: "arn:aws:iam::" + authzAcct + ":root"}
	sym := e.createKey(CreateKeyInput{})
	ct := e.mustCall(root, "Encrypt", EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("hi")}).(*EncryptOutput).CiphertextBlob
	grant := e.mustCall(root, "CreateGrant", CreateGrantInput{KeyId: sym.KeyId, GranteePrincipal: root.Principal,
		Operations: []string{"Encrypt", "Decrypt"}}).(*CreateGrantOutput)
	tooMany := make([]string, 11)
	for i := range tooMany {
		tooMany[i] = grant.GrantToken
	}
	missing := "alias/does-not-exist"
	cases := []struct {
		name string
		op   string
		in   any
		code string
		msg  string
	}{
		{"Encrypt unknown algorithm", "Encrypt", EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("hi"), EncryptionAlgorithm: "FOO"}, "ValidationException", "at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set"},
		{"Encrypt unknown algorithm, missing key", "Encrypt", EncryptInput{KeyId: missing, Plaintext: []byte("hi"), EncryptionAlgorithm: "FOO"}, "ValidationException", "encryptionAlgorithm"},
		{"Decrypt unknown algorithm", "Decrypt", DecryptInput{CiphertextBlob: ct, EncryptionAlgorithm: "FOO"}, "ValidationException", "at 'encryptionAlgorithm'"},
		{"ReEncrypt unknown source algorithm", "ReEncrypt", ReEncryptInput{CiphertextBlob: ct, DestinationKeyId: sym.KeyId, SourceEncryptionAlgorithm: "FOO"}, "ValidationException", "at 'sourceEncryptionAlgorithm'"},
		{"ReEncrypt unknown destination algorithm", "ReEncrypt", ReEncryptInput{CiphertextBlob: ct, DestinationKeyId: sym.KeyId, DestinationEncryptionAlgorithm: "FOO"}, "ValidationException", "at 'destinationEncryptionAlgorithm'"},
		{"Encrypt 11 grant tokens", "Encrypt", EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("hi"), GrantTokens: tooMany}, "ValidationException", "grantTokens"},
		{"Encrypt empty grant token", "Encrypt", EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("hi"), GrantTokens: []string{""}}, "ValidationException", "grantTokens"},
		{"Encrypt 8193-byte grant token", "Encrypt", EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("hi"), GrantTokens: []string{strings.Repeat("a", 8193)}}, "ValidationException", "grantTokens"},
		{"Encrypt malformed grant token", "Encrypt", EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("hi"), GrantTokens: []string{"garbage"}}, "InvalidGrantTokenException", ""},
		{"Decrypt malformed grant token", "Decrypt", DecryptInput{CiphertextBlob: ct, GrantTokens: []string{"garbage"}}, "InvalidGrantTokenException", ""},
		{"ReEncrypt 11 grant tokens", "ReEncrypt", ReEncryptInput{CiphertextBlob: ct, DestinationKeyId: sym.KeyId, GrantTokens: tooMany}, "ValidationException", "grantTokens"},
		{"GenerateDataKey malformed grant token", "GenerateDataKey", GenerateDataKeyInput{KeyId: sym.KeyId, KeySpec: "AES_256", GrantTokens: []string{"garbage"}}, "InvalidGrantTokenException", ""},
		{"GenerateDataKeyWithoutPlaintext 11 grant tokens", "GenerateDataKeyWithoutPlaintext", GenerateDataKeyInput{KeyId: sym.KeyId, KeySpec: "AES_256", GrantTokens: tooMany}, "ValidationException", "grantTokens"},
		{"GenerateDataKey bad KeySpec, missing key", "GenerateDataKey", GenerateDataKeyInput{KeyId: missing, KeySpec: "AES_512"}, "ValidationException", "keySpec"},
		{"DescribeKey 11 grant tokens", "DescribeKey", KeyIDInput{KeyId: sym.KeyId, GrantTokens: tooMany}, "ValidationException", "grantTokens"},
		{"Sign malformed grant token", "Sign", SignInput{KeyId: sym.KeyId, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256", GrantTokens: []string{"garbage"}}, "InvalidGrantTokenException", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.call(root, tc.op, tc.in)
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("%v: message lacks %q", err, tc.msg)
			}
		})
	}

	// Well-formed tokens pass: a live grant's, and one of a revoked grant (its format is
	// fine; AWS does not fail a request for a token whose grant is gone).
	e.mustCall(root, "Encrypt", EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("hi"), GrantTokens: []string{grant.GrantToken}})
	e.mustCall(root, "Decrypt", DecryptInput{CiphertextBlob: ct, GrantTokens: []string{grant.GrantToken}})
	e.mustCall(root, "DescribeKey", KeyIDInput{KeyId: sym.KeyId, GrantTokens: []string{grant.GrantToken}})
	e.mustCall(root, "RevokeGrant", RevokeGrantInput{KeyId: sym.KeyId, GrantId: grant.GrantId})
	e.mustCall(root, "GenerateDataKey", GenerateDataKeyInput{KeyId: sym.KeyId, NumberOfBytes: new(int(32)), GrantTokens: []string{grant.GrantToken}})
}

// TestKeyIDOnlyOperationsRefuseAliases: the operations whose KeyId is "the key ID or key
// ARN" answer an alias name or alias ARN with NotFoundException, even one that exists;
// the cryptographic operations and DescribeKey take it.
func TestKeyIDOnlyOperationsRefuseAliases(t *testing.T) {
	e, _ := newAuthzEnv(t)
	root := Caller{Region: "us-east-1", Account: authzAcct, Principal: "arn:aws:iam::" + authzAcct + ":root"}
	sym := e.createKey(CreateKeyInput{})
	e.mustCall(root, "CreateAlias", CreateAliasInput{AliasName: "alias/only-ids", TargetKeyId: sym.KeyId})
	aliasARN := "arn:aws:kms:us-east-1:" + authzAcct + ":alias/only-ids"
	for _, ref := range []string{"alias/only-ids", aliasARN} {
		for op, in := range map[string]any{
			"EnableKey":            KeyIDInput{KeyId: ref},
			"DisableKey":           KeyIDInput{KeyId: ref},
			"ScheduleKeyDeletion":  map[string]any{"KeyId": ref, "PendingWindowInDays": 7},
			"TagResource":          TagResourceInput{KeyId: ref, Tags: []Tag{{TagKey: "k", TagValue: "v"}}},
			"ListResourceTags":     map[string]any{"KeyId": ref},
			"GetKeyPolicy":         map[string]any{"KeyId": ref, "PolicyName": "default"},
			"CreateGrant":          CreateGrantInput{KeyId: ref, GranteePrincipal: root.Principal, Operations: []string{"Decrypt"}},
			"EnableKeyRotation":    map[string]any{"KeyId": ref},
			"UpdateKeyDescription": map[string]any{"KeyId": ref, "Description": "x"},
		} {
			_, err := e.call(root, op, in)
			wantCode(t, err, "NotFoundException")
			if !strings.Contains(err.Error(), "Invalid keyId "+ref) {
				t.Fatalf("%s %s: %v", op, ref, err)
			}
		}
		e.mustCall(root, "DescribeKey", KeyIDInput{KeyId: ref})
		e.mustCall(root, "Encrypt", EncryptInput{KeyId: ref, Plaintext: []byte("hi")})
	}
	// Nothing was changed through the alias.
	md := e.mustCall(root, "DescribeKey", KeyIDInput{KeyId: sym.KeyId}).(*KeyMetadataOutput).KeyMetadata
	if md.KeyState != StateEnabled || md.Description != "" {
		t.Fatalf("%+v", md)
	}
	e.mustCall(root, "EnableKey", KeyIDInput{KeyId: sym.Arn})
}

// TestEmptyAndMissingMembers: a member sent as "" is below the model's minimum length (not
// absent), so CreateKey with Policy "" does not fall back to the default policy; a missing
// required Description does not clear the description. Description itself may be "".
func TestEmptyAndMissingMembers(t *testing.T) {
	e := newTestEnv(t)
	raw := func(op, body string) (any, error) { return Operations()[op](e.k, e.ctx, e.c, []byte(body)) }
	keysBefore, err := e.k.ListKeys(e.ctx, e.c, ListInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ op, body, field string }{
		{"CreateKey", `{"Policy":""}`, "policy"},
		{"CreateKey", `{"Description":"d","CustomKeyStoreId":""}`, "customKeyStoreId"},
		{"CreateKey", `{"KeySpec":""}`, "keySpec"},
		{"ListKeys", `{"Marker":""}`, "marker"},
	} {
		_, err := raw(tc.op, tc.body)
		wantCode(t, err, "ValidationException")
		if !strings.Contains(err.Error(), "Value '' at '"+tc.field+"'") {
			t.Fatalf("%s %s: %v", tc.op, tc.body, err)
		}
	}
	keysAfter, err := e.k.ListKeys(e.ctx, e.c, ListInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keysAfter.Keys) != len(keysBefore.Keys) {
		t.Fatalf("a refused CreateKey created a key: %d -> %d", len(keysBefore.Keys), len(keysAfter.Keys))
	}

	k := e.createKey(CreateKeyInput{Description: "keep"})
	for _, body := range []string{`{"KeyId":"` + k.KeyId + `"}`, `{"KeyId":"` + k.KeyId + `","Description":null}`} {
		_, err := raw("UpdateKeyDescription", body)
		wantCode(t, err, "ValidationException")
		if !strings.Contains(err.Error(), "Value null at 'description'") {
			t.Fatal(err)
		}
	}
	if _, err := raw("Encrypt", `{"KeyId":"`+k.KeyId+`","Plaintext":"aGk=","EncryptionAlgorithm":""}`); err == nil {
		t.Fatal("EncryptionAlgorithm \"\" accepted")
	}
	md, _ := raw("DescribeKey", `{"KeyId":"`+k.KeyId+`"}`)
	if d := md.(*KeyMetadataOutput).KeyMetadata.Description; d != "keep" {
		t.Fatalf("description %q", d)
	}
	if _, err := raw("UpdateKeyDescription", `{"KeyId":"`+k.KeyId+`","Description":""}`); err != nil {
		t.Fatal(err)
	}
	md, _ = raw("DescribeKey", `{"KeyId":"`+k.KeyId+`"}`)
	if d := md.(*KeyMetadataOutput).KeyMetadata.Description; d != "" {
		t.Fatalf("description %q", d)
	}
}

// TestAliasNameAndMarkerLengths: an alias name over 256 characters or a marker over 1024
// is a ValidationException before any lookup (with authorization on, the alias's key
// would otherwise be looked up first and be "not found").
func TestAliasNameAndMarkerLengths(t *testing.T) {
	e, _ := newAuthzEnv(t)
	root := Caller{Region: "us-east-1", Account: authzAcct, Principal: "arn:aws:iam::" + authzAcct + ":root"}
	sym := e.createKey(CreateKeyInput{})
	long := "alias/" + strings.Repeat("a", 251)
	for op, in := range map[string]any{
		"CreateAlias": CreateAliasInput{AliasName: long, TargetKeyId: sym.KeyId},
		"UpdateAlias": CreateAliasInput{AliasName: long, TargetKeyId: sym.KeyId},
		"DeleteAlias": DeleteAliasInput{AliasName: long},
	} {
		_, err := e.call(root, op, in)
		wantCode(t, err, "ValidationException")
		if !strings.Contains(err.Error(), "at 'aliasName'") {
			t.Fatalf("%s: %v", op, err)
		}
	}
	marker := strings.Repeat("m", 1025)
	for op, in := range map[string]any{
		"ListKeys":         map[string]any{"Marker": marker},
		"ListAliases":      map[string]any{"Marker": marker},
		"ListGrants":       map[string]any{"KeyId": sym.KeyId, "Marker": marker},
		"ListResourceTags": map[string]any{"KeyId": sym.KeyId, "Marker": marker},
		"ListKeyRotations": map[string]any{"KeyId": sym.KeyId, "Marker": marker},
	} {
		_, err := e.call(root, op, in)
		wantCode(t, err, "ValidationException")
		if !strings.Contains(err.Error(), "at 'marker'") {
			t.Fatalf("%s: %v", op, err)
		}
	}
}

// TestRecipientNeverIgnored: Decrypt, GenerateDataKey and GenerateRandom with a Recipient
// (Nitro Enclaves) answer UnsupportedOperationException, as GenerateDataKeyPair and
// DeriveSharedSecret do, instead of returning the plaintext the caller asked to receive
// only encrypted to its enclave.
func TestRecipientNeverIgnored(t *testing.T) {
	e := newTestEnv(t)
	sym := e.createKey(CreateKeyInput{})
	enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	rcpt := `"Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256","AttestationDocument":"ZG9j"}`
	ct, _ := json.Marshal(enc.CiphertextBlob)
	for op, body := range map[string]string{
		"Decrypt":         `{"CiphertextBlob":` + string(ct) + `,` + rcpt + `}`,
		"GenerateDataKey": `{"KeyId":"` + sym.KeyId + `","KeySpec":"AES_256",` + rcpt + `}`,
		"GenerateRandom":  `{"NumberOfBytes":32,` + rcpt + `}`,
	} {
		out, err := Operations()[op](e.k, e.ctx, e.c, []byte(body))
		if out != nil {
			t.Errorf("%s returned %+v", op, out)
		}
		wantCode(t, err, "UnsupportedOperationException")
	}
	// GenerateDataKeyWithoutPlaintext has no Recipient member: an unknown member is ignored.
	if _, err := Operations()["GenerateDataKeyWithoutPlaintext"](e.k, e.ctx, e.c,
		[]byte(`{"KeyId":"`+sym.KeyId+`","KeySpec":"AES_256",`+rcpt+`}`)); err != nil {
		t.Fatal(err)
	}
}

// TestCreateKeyUsageDefault: KeyUsage defaults to ENCRYPT_DECRYPT (the model's
// documentation) and is required for specs that cannot encrypt: an HMAC or
// elliptic-curve key without one is refused rather than given a usage.
func TestCreateKeyUsageDefault(t *testing.T) {
	e := newTestEnv(t)
	for _, spec := range []string{SpecHMAC224, SpecHMAC256, SpecHMAC512, SpecP256, SpecP384, SpecSecp256k1, SpecEd25519} {
		_, err := e.k.CreateKey(e.ctx, e.c, CreateKeyInput{KeySpec: spec})
		wantCode(t, err, "ValidationException")
		if !strings.Contains(err.Error(), "KeyUsage is required for KeySpec "+spec) {
			t.Fatalf("%s: %v", spec, err)
		}
	}
	for _, spec := range []string{SpecSymmetric, SpecRSA2048, ""} {
		md := e.createKey(CreateKeyInput{KeySpec: spec})
		if md.KeyUsage != UsageEncrypt {
			t.Fatalf("%s: usage %s", spec, md.KeyUsage)
		}
	}
	if md := e.createKey(CreateKeyInput{KeySpec: SpecHMAC256, KeyUsage: UsageMAC}); md.KeyUsage != UsageMAC {
		t.Fatalf("%+v", md)
	}
}

// TestScheduleDeletionOfPrimaryWithReplicas: a Multi-Region primary key with replicas is
// scheduled into PendingReplicaDeletion (no deletion date, unusable); its waiting period
// begins when its last replica is deleted, and it is then deleted. Canceling returns it to
// Disabled.
func TestScheduleDeletionOfPrimaryWithReplicas(t *testing.T) {
	e := newTestEnv(t)
	eu := Caller{Region: "eu-west-1", Account: e.c.Account, Principal: e.c.Principal}
	multi := true
	md := e.createKey(CreateKeyInput{MultiRegion: &multi})
	if _, err := e.k.ReplicateKey(e.ctx, e.c, ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: "eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	out, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: lcInt(7)})
	if err != nil {
		t.Fatal(err)
	}
	if out.KeyState != StatePendingReplicaDeletion || out.DeletionDate != nil || out.PendingWindowInDays != 7 {
		t.Fatalf("%+v", out)
	}
	d := e.describe(e.c, md.KeyId)
	if d.KeyState != StatePendingReplicaDeletion || d.Enabled || d.DeletionDate != nil || d.PendingDeletionWindowInDays != 7 {
		t.Fatalf("%+v", d)
	}
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	// The replica still works until it is deleted.
	if _, err := e.k.Encrypt(e.ctx, eu, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}

	// A tick changes nothing while the replica exists.
	e.clock.Add(40 * day)
	if err := e.k.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StatePendingReplicaDeletion {
		t.Fatalf("%+v", d)
	}
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, eu, ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: lcInt(7)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(8 * day)
	if err := e.k.Tick(e.ctx); err != nil { // deletes the replica
		t.Fatal(err)
	}
	if err := e.k.Tick(e.ctx); err != nil { // starts the primary's waiting period
		t.Fatal(err)
	}
	d = e.describe(e.c, md.KeyId)
	if d.KeyState != StatePendingDeletion || d.DeletionDate == nil || d.PendingDeletionWindowInDays != 0 {
		t.Fatalf("%+v", d)
	}
	if want := e.clock.Now().Add(7 * day); !time.Time(*d.DeletionDate).Equal(want) {
		t.Fatalf("deletion date %v, want %v", time.Time(*d.DeletionDate), want)
	}
	e.clock.Add(8 * day)
	if err := e.k.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	_, err = e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "NotFoundException")

	// Canceling a PendingReplicaDeletion primary disables it.
	md2 := e.createKey(CreateKeyInput{MultiRegion: &multi})
	if _, err := e.k.ReplicateKey(e.ctx, e.c, ReplicateKeyInput{KeyId: md2.KeyId, ReplicaRegion: "eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md2.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.CancelKeyDeletion(e.ctx, e.c, KeyIDInput{KeyId: md2.KeyId}); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(e.c, md2.KeyId); d.KeyState != StateDisabled || d.PendingDeletionWindowInDays != 0 {
		t.Fatalf("%+v", d)
	}
}

// TestForeignRegionARNs: a request acts in its own region; a key or alias ARN of another
// region is not found there (and the key in that region is left alone).
func TestForeignRegionARNs(t *testing.T) {
	e := newTestEnv(t)
	west := Caller{Region: "us-west-2", Account: e.c.Account, Principal: e.c.Principal}
	out, err := e.k.CreateKey(e.ctx, west, CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	wk := out.KeyMetadata
	if err := e.k.CreateAlias(e.ctx, west, CreateAliasInput{AliasName: "alias/west", TargetKeyId: wk.KeyId}); err != nil {
		t.Fatal(err)
	}
	east := e.createKey(CreateKeyInput{})
	ct, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: east.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	westAlias := "arn:aws:kms:us-west-2:" + e.c.Account + ":alias/west"
	for _, tc := range []struct {
		op string
		in any
	}{
		{"DescribeKey", KeyIDInput{KeyId: wk.Arn}},
		{"DescribeKey", KeyIDInput{KeyId: westAlias}},
		{"Encrypt", EncryptInput{KeyId: wk.Arn, Plaintext: []byte("x")}},
		{"DisableKey", KeyIDInput{KeyId: wk.Arn}},
		{"ScheduleKeyDeletion", map[string]any{"KeyId": wk.Arn, "PendingWindowInDays": 7}},
		{"ReEncrypt", ReEncryptInput{CiphertextBlob: ct.CiphertextBlob, DestinationKeyId: wk.Arn}},
		{"Decrypt", DecryptInput{CiphertextBlob: ct.CiphertextBlob, KeyId: wk.Arn}},
	} {
		_, err := e.call(e.c, tc.op, tc.in)
		wantCode(t, err, "NotFoundException")
	}
	md, err := e.k.DescribeKey(e.ctx, west, KeyIDInput{KeyId: wk.KeyId})
	if err != nil || md.KeyMetadata.KeyState != StateEnabled {
		t.Fatalf("%v %+v", err, md)
	}
	// The request's own region's ARN works.
	if _, err := e.call(e.c, "DescribeKey", KeyIDInput{KeyId: east.Arn}); err != nil {
		t.Fatal(err)
	}
}

// TestPKCS1WrappingRefused: AWS KMS has not supported the RSAES_PKCS1_V1_5 wrapping
// algorithm since October 10, 2023; GetParametersForImport refuses it for every key type.
func TestPKCS1WrappingRefused(t *testing.T) {
	e := newTestEnv(t)
	for _, in := range []CreateKeyInput{{Origin: OriginExternal}, {Origin: OriginExternal, KeySpec: SpecHMAC256, KeyUsage: UsageMAC}} {
		md := e.createKey(in)
		_, err := e.k.GetParametersForImport(e.ctx, e.c, GetParametersForImportInput{KeyId: md.KeyId, WrappingAlgorithm: "RSAES_PKCS1_V1_5", WrappingKeySpec: "RSA_2048"})
		wantCode(t, err, "ValidationException")
		if !strings.Contains(err.Error(), "RSAES_PKCS1_V1_5 wrapping algorithm is not supported") {
			t.Fatal(err)
		}
	}
}
