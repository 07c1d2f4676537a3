package kms

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawOp runs an operation from its JSON body, as the protocol layer does.
func (e *testEnv) rawOp(op, body string) (any, error) {
	e.t.Helper()
	return Operations()[op](e.k, e.ctx, e.c, []byte(body))
}

func wantErr(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	var ke *Error
	if !errors.As(err, &ke) || ke.Code != code || ke.Status != status || !strings.Contains(ke.Message, msg) {
		t.Fatalf("got %v (%#v), want %s (HTTP %d) %q", err, ke, code, status, msg)
	}
}

// TestConformanceDryRunStatus: DryRunOperationException is HTTP 412, as the KMS API
// reference lists it, for every operation that takes DryRun.
func TestConformanceDryRunStatus(t *testing.T) {
	e := newTestEnv(t)
	sym := e.createKey(CreateKeyInput{})
	enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := json.Marshal(enc.CiphertextBlob)
	for op, body := range map[string]string{
		"Encrypt":         `{"KeyId":"` + sym.KeyId + `","Plaintext":"eA==","DryRun":true}`,
		"Decrypt":         `{"CiphertextBlob":` + string(ct) + `,"DryRun":true}`,
		"ReEncrypt":       `{"CiphertextBlob":` + string(ct) + `,"DestinationKeyId":"` + sym.KeyId + `","DryRun":true}`,
		"GenerateDataKey": `{"KeyId":"` + sym.KeyId + `","KeySpec":"AES_256","DryRun":true}`,
		"CreateGrant":     `{"KeyId":"` + sym.KeyId + `","GranteePrincipal":"arn:aws:iam::111122223333:root","Operations":["Decrypt"],"DryRun":true}`,
	} {
		_, err := e.rawOp(op, body)
		wantErr(t, err, "DryRunOperationException", http.StatusPreconditionFailed, "DryRun")
	}
	if AsError(errDryRun).Status != 412 {
		t.Fatalf("errDryRun status %d", errDryRun.Status)
	}
}

// TestConformanceCreateGrantKeyStates: AWS's key state table for CreateGrant: a disabled
// key is DisabledException, a key pending import or deletion KMSInvalidStateException.
func TestConformanceCreateGrantKeyStates(t *testing.T) {
	e := newTestEnv(t)
	grant := func(keyID string) error {
		_, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: keyID, GranteePrincipal: "arn:aws:iam::111122223333:root", Operations: []string{"Decrypt"}})
		return err
	}
	ext := e.createKey(CreateKeyInput{Origin: OriginExternal})
	wantErr(t, grant(ext.KeyId), "KMSInvalidStateException", 400, ext.Arn+" is pending import.")

	dis := e.createKey(CreateKeyInput{})
	if err := e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: dis.KeyId}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, grant(dis.KeyId), "DisabledException", 400, dis.Arn+" is disabled.")

	pd := e.createKey(CreateKeyInput{})
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: pd.KeyId}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, grant(pd.KeyId), "KMSInvalidStateException", 400, pd.Arn+" is pending deletion.")

	for _, id := range []string{ext.KeyId, dis.KeyId, pd.KeyId} {
		l, err := e.k.ListGrants(e.ctx, e.c, ListGrantsInput{KeyId: id})
		if err != nil || len(l.Grants) != 0 {
			t.Fatalf("grants of %s: %v %+v", id, err, l)
		}
	}
	if err := grant(e.createKey(CreateKeyInput{}).KeyId); err != nil {
		t.Fatal(err)
	}
}

// TestConformanceReEncryptKeyMaterialIds: ReEncrypt answers SourceKeyMaterialId and
// DestinationKeyMaterialId (botocore's current model) for symmetric keys, and neither for an
// RSA destination.
func TestConformanceReEncryptKeyMaterialIds(t *testing.T) {
	e := newTestEnv(t)
	src := e.createKey(CreateKeyInput{})
	dst := e.createKey(CreateKeyInput{})
	rsa := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt})
	enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: src.KeyId, Plaintext: []byte("data")})
	if err != nil {
		t.Fatal(err)
	}
	// After a rotation of the source, the ciphertext still names the first material.
	if _, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: src.KeyId}); err != nil {
		t.Fatal(err)
	}
	if e.describe(e.c, src.KeyId).CurrentKeyMaterialId == src.CurrentKeyMaterialId {
		t.Fatal("rotation kept the key material id")
	}
	out, err := e.k.ReEncrypt(e.ctx, e.c, ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: dst.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if out.SourceKeyMaterialId != src.CurrentKeyMaterialId || out.DestinationKeyMaterialId != dst.CurrentKeyMaterialId || out.DestinationKeyMaterialId == "" {
		t.Fatalf("ids %q %q, want %q %q", out.SourceKeyMaterialId, out.DestinationKeyMaterialId, src.CurrentKeyMaterialId, dst.CurrentKeyMaterialId)
	}
	out, err = e.k.ReEncrypt(e.ctx, e.c, ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: rsa.KeyId, DestinationEncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	if out.SourceKeyMaterialId != src.CurrentKeyMaterialId || strings.Contains(string(b), "DestinationKeyMaterialId") {
		t.Fatalf("to RSA: %s", b)
	}
}

// TestConformanceReEncryptDryRunUsesNoKey: a DryRun ReEncrypt, or one refused for its
// destination, records no use of either key (GetKeyLastUsage, KeyUsageCount); a real one
// records a Decrypt of the source and an Encrypt of the destination (docs/metrics.md).
func TestConformanceReEncryptDryRunUsesNoKey(t *testing.T) {
	e := newTestEnv(t)
	src := e.createKey(CreateKeyInput{})
	dst := e.createKey(CreateKeyInput{})
	enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: src.KeyId, Plaintext: []byte("data")})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	e.k.cfg.OnKeyUse = func(region, keyID, op string) {
		mu.Lock()
		got = append(got, keyID+" "+op)
		mu.Unlock()
	}
	_, err = e.k.ReEncrypt(e.ctx, e.c, ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: dst.KeyId, DryRun: true})
	wantCode(t, err, "DryRunOperationException")
	_, err = e.k.ReEncrypt(e.ctx, e.c, ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: dst.KeyId, DestinationEncryptionAlgorithm: "RSAES_OAEP_SHA_1"})
	wantCode(t, err, "InvalidKeyUsageException")
	if len(got) != 0 {
		t.Fatalf("uses recorded for refused ReEncrypts: %q", got)
	}
	if _, err := e.k.ReEncrypt(e.ctx, e.c, ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: dst.KeyId}); err != nil {
		t.Fatal(err)
	}
	if want := src.KeyId + " Decrypt|" + dst.KeyId + " Encrypt"; strings.Join(got, "|") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestConformanceDeleteImportedKeyMaterialNoEmptyID: deleting the (absent) material of a
// key pending import has no effect and answers no KeyMaterialId, rather than "".
func TestConformanceDeleteImportedKeyMaterialNoEmptyID(t *testing.T) {
	e := newTestEnv(t)
	ext := e.createKey(CreateKeyInput{Origin: OriginExternal})
	out, err := e.rawOp("DeleteImportedKeyMaterial", `{"KeyId":"`+ext.KeyId+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	if string(b) != `{"KeyId":"`+ext.Arn+`"}` {
		t.Fatalf("%s", b)
	}
}

// TestConformanceCreateKeyXksKeyId: XksKeyId is valid only with Origin EXTERNAL_KEY_STORE
// (the model), so a key with another origin is not created with it silently ignored.
func TestConformanceCreateKeyXksKeyId(t *testing.T) {
	e := newTestEnv(t)
	for _, body := range []string{`{"XksKeyId":"ext-1"}`, `{"XksKeyId":"ext-1","Origin":"EXTERNAL"}`} {
		_, err := e.rawOp("CreateKey", body)
		wantErr(t, err, "ValidationException", 400, "XksKeyId is valid only for KMS keys with Origin EXTERNAL_KEY_STORE")
	}
	_, err := e.rawOp("CreateKey", `{"XksKeyId":"ext-1","Origin":"EXTERNAL_KEY_STORE","CustomKeyStoreId":"cks-1234567890abcdef0"}`)
	wantCode(t, err, "UnsupportedOperationException")
	l, err := e.k.ListKeys(e.ctx, e.c, ListInput{})
	if err != nil || len(l.Keys) != 0 {
		t.Fatalf("keys created: %v %+v", err, l)
	}
}

// TestConformanceTagValueRequired: a Tag without TagValue (required by the model, may be
// "") is a ValidationException naming the tag, and nothing is tagged or created.
func TestConformanceTagValueRequired(t *testing.T) {
	e := newTestEnv(t)
	k := e.createKey(CreateKeyInput{})
	_, err := e.rawOp("TagResource", `{"KeyId":"`+k.KeyId+`","Tags":[{"TagKey":"a","TagValue":""},{"TagKey":"b"}]}`)
	wantErr(t, err, "ValidationException", 400, "Value null at 'tags.2.member.tagValue'")
	_, err = e.rawOp("TagResource", `{"KeyId":"`+k.KeyId+`","Tags":[{"TagKey":"b","TagValue":null}]}`)
	wantErr(t, err, "ValidationException", 400, "Value null at 'tags.1.member.tagValue'")
	_, err = e.rawOp("CreateKey", `{"Tags":[{"TagKey":"b"}]}`)
	wantErr(t, err, "ValidationException", 400, "tags.1.member.tagValue")
	l, err := e.k.ListKeys(e.ctx, e.c, ListInput{})
	if err != nil || len(l.Keys) != 1 {
		t.Fatalf("%v %+v", err, l)
	}
	tags, err := e.k.ListResourceTags(e.ctx, e.c, ListResourceTagsInput{KeyId: k.KeyId})
	if err != nil || len(tags.Tags) != 0 {
		t.Fatalf("%v %+v", err, tags)
	}
	// An empty TagValue is valid.
	if _, err := e.rawOp("TagResource", `{"KeyId":"`+k.KeyId+`","Tags":[{"TagKey":"a","TagValue":""}]}`); err != nil {
		t.Fatal(err)
	}
}

// checkRequest is what op does with a request body before authorization: decode it into
// In, check the model's constraints, and the raw members.
func checkRequest[In any](op string, body []byte) error {
	in, err := decodeInput[In](body)
	if err != nil {
		return err
	}
	if err := validateInput(in); err != nil {
		return err
	}
	return checkRawMembers(op, "us-east-1", body)
}

// FuzzRequestDecoding: any request body is either accepted or refused with a client error
// of AWS's shape (SerializationException for a body that is not the operation's JSON,
// ValidationException or NotFoundException for values the model or the region refuses),
// never a panic or a server error.
func FuzzRequestDecoding(f *testing.F) {
	for _, s := range []string{
		`{}`, `{`, `[]`, `null`, `{"KeyId":5}`, `{"Limit":"a"}`, `{"Tags":[{"TagKey":"a"}]}`,
		`{"Tags":[{"TagKey":"a","TagValue":null}]}`, `{"Tags":{"TagKey":"a"}}`, `{"KeyId":""}`,
		`{"KeyId":"arn:aws:kms:eu-west-1:111122223333:alias/x"}`, `{"KeyId":"alias/x"}`,
		`{"Plaintext":"!!"}`, `{"EncryptionAlgorithm":"FOO","GrantTokens":["x"]}`,
		`{"NumberOfBytes":2000,"KeySpec":"AES_256"}`, `{"Marker":"` + strings.Repeat("m", 1100) + `"}`,
		`{"AliasName":"alias/aws/x"}`, `{"Description":null}`,
	} {
		f.Add([]byte(s))
	}
	allowed := map[string]bool{"SerializationException": true, "ValidationException": true, "NotFoundException": true,
		"InvalidGrantTokenException": true, "NotAuthorizedException": true}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, err := range []error{
			checkRequest[CreateKeyInput]("CreateKey", body),
			checkRequest[TagResourceInput]("TagResource", body),
			checkRequest[EncryptInput]("Encrypt", body),
			checkRequest[DecryptInput]("Decrypt", body),
			checkRequest[GenerateDataKeyInput]("GenerateDataKey", body),
			checkRequest[KeyIDInput]("DisableKey", body),
			checkRequest[UpdateKeyDescriptionInput]("UpdateKeyDescription", body),
			checkRequest[CreateAliasInput]("CreateAlias", body),
			checkRequest[ListInput]("ListKeys", body),
		} {
			if err == nil {
				continue
			}
			var ke *Error
			if !errors.As(err, &ke) || !allowed[ke.Code] || ke.Status != http.StatusBadRequest {
				t.Fatalf("body %q: %#v", body, err)
			}
		}
	})
}

// TestConformanceDryRunIgnoreCiphertext: Decrypt and ReEncrypt with DryRun and
// DryRunModifiers [IGNORE_CIPHERTEXT] (botocore's current model) check the caller's
// permission on the named key without a ciphertext: DryRunOperationException when allowed,
// AccessDeniedException when not, the key state and usage errors as a real call.
func TestConformanceDryRunIgnoreCiphertext(t *testing.T) {
	e, ids := newAuthzEnv(t)
	root := Caller{Region: "us-east-1", Account: authzAcct, Principal: "arn:aws:iam::" + authzAcct + ":root"}
	sym := e.authzKey(root, CreateKeyInput{})
	other := e.authzKey(root, CreateKeyInput{})
	rsa := e.authzKey(root, CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt})
	bob := user("bob")
	ids.set(bob.Principal, idPolicy(`{"Effect":"Allow","Action":["kms:Decrypt","kms:ReEncryptFrom"],"Resource":"`+sym.Arn+`"}`,
		`{"Effect":"Allow","Action":"kms:ReEncryptTo","Resource":"`+other.Arn+`"}`))
	ign := []string{"IGNORE_CIPHERTEXT"}

	_, err := e.call(bob, "Decrypt", DecryptInput{KeyId: sym.KeyId, DryRun: true, DryRunModifiers: ign})
	wantErr(t, err, "DryRunOperationException", 412, "")
	// Any ciphertext is ignored, even one that names another key or is not a ciphertext.
	_, err = e.call(bob, "Decrypt", DecryptInput{KeyId: sym.KeyId, CiphertextBlob: []byte("junk"), DryRun: true, DryRunModifiers: ign})
	wantErr(t, err, "DryRunOperationException", 412, "")
	e.denied(bob, "Decrypt", DecryptInput{KeyId: other.KeyId, DryRun: true, DryRunModifiers: ign})
	_, err = e.call(bob, "ReEncrypt", ReEncryptInput{SourceKeyId: sym.KeyId, DestinationKeyId: other.KeyId, DryRun: true, DryRunModifiers: ign})
	wantErr(t, err, "DryRunOperationException", 412, "")
	e.denied(bob, "ReEncrypt", ReEncryptInput{SourceKeyId: sym.KeyId, DestinationKeyId: sym.KeyId, DryRun: true, DryRunModifiers: ign})

	// The named key is required; the modifier must be in the enum; without DryRun the
	// modifier changes nothing (the ciphertext is required).
	_, err = e.call(root, "Decrypt", DecryptInput{DryRun: true, DryRunModifiers: ign})
	wantErr(t, err, "ValidationException", 400, "KeyId is required with DryRunModifiers IGNORE_CIPHERTEXT")
	_, err = e.call(root, "ReEncrypt", ReEncryptInput{DestinationKeyId: sym.KeyId, DryRun: true, DryRunModifiers: ign})
	wantErr(t, err, "ValidationException", 400, "SourceKeyId is required")
	_, err = e.call(root, "Decrypt", DecryptInput{KeyId: sym.KeyId, DryRun: true, DryRunModifiers: []string{"IGNORE_KEY"}})
	wantErr(t, err, "ValidationException", 400, "at 'dryRunModifiers' failed to satisfy constraint")
	_, err = e.call(root, "Decrypt", DecryptInput{KeyId: sym.KeyId, DryRunModifiers: ign})
	wantErr(t, err, "ValidationException", 400, "ciphertextBlob")

	// Key usage, algorithm and state are checked as a real Decrypt would.
	_, err = e.call(root, "Decrypt", DecryptInput{KeyId: rsa.KeyId, DryRun: true, DryRunModifiers: ign})
	wantCode(t, err, "InvalidKeyUsageException")
	_, err = e.call(root, "Decrypt", DecryptInput{KeyId: rsa.KeyId, EncryptionAlgorithm: "RSAES_OAEP_SHA_256", DryRun: true, DryRunModifiers: ign})
	wantErr(t, err, "DryRunOperationException", 412, "")
	_, err = e.call(root, "Decrypt", DecryptInput{KeyId: sym.KeyId, EncryptionAlgorithm: "RSAES_OAEP_SHA_256", DryRun: true, DryRunModifiers: ign})
	wantCode(t, err, "InvalidKeyUsageException")
	e.mustCall(root, "DisableKey", KeyIDInput{KeyId: other.KeyId})
	_, err = e.call(root, "Decrypt", DecryptInput{KeyId: other.KeyId, DryRun: true, DryRunModifiers: ign})
	wantErr(t, err, "DisabledException", 400, other.Arn+" is disabled.")
	_, err = e.call(root, "ReEncrypt", ReEncryptInput{SourceKeyId: sym.KeyId, DestinationKeyId: other.KeyId, DryRun: true, DryRunModifiers: ign})
	wantCode(t, err, "DisabledException")
}

// TestConformanceListKeysMarkerOfDeletedKey: ListKeys keeps paging from a marker whose key
// was deleted meanwhile (markers are opaque to clients; AWS's stay valid), and a marker
// that is no key ID at all is InvalidMarkerException.
func TestConformanceListKeysMarkerOfDeletedKey(t *testing.T) {
	e := newTestEnv(t)
	for i := 0; i < 5; i++ {
		e.createKey(CreateKeyInput{})
	}
	two := 2
	p1, err := e.k.ListKeys(e.ctx, e.c, ListInput{Limit: &two})
	if err != nil || !p1.Truncated || len(p1.Keys) != 2 || p1.NextMarker != p1.Keys[1].KeyId {
		t.Fatalf("%v %+v", err, p1)
	}
	// The page's last key is deleted before the next page is asked for.
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: p1.Keys[1].KeyId, PendingWindowInDays: aws7()}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(8 * 24 * time.Hour)
	e.lcTick()
	if _, err := e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: p1.Keys[1].KeyId}); err == nil {
		t.Fatal("key not deleted")
	}
	rest, err := e.k.ListKeys(e.ctx, e.c, ListInput{Marker: p1.NextMarker})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.Keys) != 3 || rest.Truncated || rest.Keys[0].KeyId <= p1.NextMarker {
		t.Fatalf("after the deleted marker: %+v", rest)
	}
	for _, m := range []string{"bogus", "mrk-00", strings.Repeat("a", 36)} {
		_, err := e.k.ListKeys(e.ctx, e.c, ListInput{Marker: m})
		wantErr(t, err, "InvalidMarkerException", 400, m)
	}
}

func aws7() *int { n := 7; return &n }

// TestConformanceAlgorithmLists: DescribeKey lists each key type's algorithms as AWS does
// (its documented DescribeKey of an RSA signing key lists PKCS #1 v1.5 first).
func TestConformanceAlgorithmLists(t *testing.T) {
	e := newTestEnv(t)
	for _, c := range []struct {
		in   CreateKeyInput
		want string
	}{
		{CreateKeyInput{}, "enc SYMMETRIC_DEFAULT"},
		{CreateKeyInput{KeySpec: SpecRSA3072, KeyUsage: UsageEncrypt}, "enc RSAES_OAEP_SHA_1,RSAES_OAEP_SHA_256"},
		{CreateKeyInput{KeySpec: SpecRSA4096, KeyUsage: UsageSign}, "sign RSASSA_PKCS1_V1_5_SHA_256,RSASSA_PKCS1_V1_5_SHA_384,RSASSA_PKCS1_V1_5_SHA_512,RSASSA_PSS_SHA_256,RSASSA_PSS_SHA_384,RSASSA_PSS_SHA_512"},
		{CreateKeyInput{KeySpec: SpecP384, KeyUsage: UsageSign}, "sign ECDSA_SHA_384"},
		{CreateKeyInput{KeySpec: SpecP521, KeyUsage: UsageKeyAgreement}, "agree ECDH"},
		{CreateKeyInput{KeySpec: SpecSecp256k1, KeyUsage: UsageSign}, "sign ECDSA_SHA_256"},
		{CreateKeyInput{KeySpec: SpecHMAC384, KeyUsage: UsageMAC}, "mac HMAC_SHA_384"},
	} {
		md := e.createKey(c.in)
		got := ""
		for _, l := range []struct {
			name string
			algs []string
		}{{"enc", md.EncryptionAlgorithms}, {"sign", md.SigningAlgorithms}, {"agree", md.KeyAgreementAlgorithms}, {"mac", md.MacAlgorithms}} {
			if len(l.algs) > 0 {
				got += l.name + " " + strings.Join(l.algs, ",")
			}
		}
		if got != c.want || md.KeyManager != "CUSTOMER" || md.CustomerMasterKeySpec != md.KeySpec {
			t.Fatalf("%+v: %q, want %q (%+v)", c.in, got, c.want, md)
		}
	}
}

// TestConformanceSerializationErrors: a body that is not the operation's JSON is a
// SerializationException (HTTP 400) that names the member and the expected wire type, not
// a Go type; unknown members are ignored, as AWS's JSON protocol does.
func TestConformanceSerializationErrors(t *testing.T) {
	e := newTestEnv(t)
	k := e.createKey(CreateKeyInput{})
	for body, msg := range map[string]string{
		`"abc"`:                          "the request body must be a JSON object, not a JSON string",
		`[1]`:                            "must be a JSON object, not a JSON array",
		`{"Plaintext":5}`:                "member Plaintext: expected a base64-encoded blob, got a JSON number",
		`{"Plaintext":"!!"}`:             "not valid JSON",
		`{"EncryptionContext":[1]}`:      "member EncryptionContext: expected a map, got a JSON array",
		`{"GrantTokens":"t"}`:            "member GrantTokens: expected a list, got a JSON string",
		`{"DryRun":"true"}`:              "member DryRun: expected a boolean, got a JSON string",
		`{"KeyId":5}`:                    "member KeyId: expected a string, got a JSON number",
		`{"KeyId":"` + k.KeyId + `",`:    "not valid JSON",
		`{"KeyId":"` + k.KeyId + `"} {}`: "not valid JSON",
	} {
		_, err := e.rawOp("Encrypt", body)
		wantErr(t, err, "SerializationException", 400, msg)
		if strings.Contains(err.Error(), "kms.") || strings.Contains(err.Error(), "uint8") {
			t.Fatalf("%s: Go type in %v", body, err)
		}
	}
	_, err := e.rawOp("ListKeys", `{"Limit":"10"}`)
	wantErr(t, err, "SerializationException", 400, "member Limit: expected an integer, got a JSON string")
	if _, err := e.rawOp("Encrypt", `{"KeyId":"`+k.KeyId+`","Plaintext":"eA==","SomethingNew":{"x":[1]}}`); err != nil {
		t.Fatalf("unknown member: %v", err)
	}
}

// TestConformanceConstraintWording: a value outside a model constraint is described as AWS
// does, by the bound it crosses ("Member must have length less than or equal to 4096",
// real KMS's answer to a 4097-byte Encrypt), never "between"; GenerateRandom without
// NumberOfBytes (optional in the model) is refused as the service does.
func TestConformanceConstraintWording(t *testing.T) {
	e := newTestEnv(t)
	k := e.createKey(CreateKeyInput{})
	big := make([]byte, 4097)
	for _, c := range []struct {
		op, body, want string
	}{
		{"Encrypt", `{"KeyId":"` + k.KeyId + `","Plaintext":"` + b64(big) + `"}`, "Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"},
		{"Encrypt", `{"KeyId":"` + k.KeyId + `"}`, "Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"GenerateDataKey", `{"KeyId":"` + k.KeyId + `","NumberOfBytes":1025}`, "Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"},
		{"GenerateDataKey", `{"KeyId":"` + k.KeyId + `","NumberOfBytes":0}`, "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"GenerateRandom", `{"NumberOfBytes":2000}`, "Member must have value less than or equal to 1024"},
		{"GenerateRandom", `{}`, "NumberOfBytes is required."},
		{"ListKeys", `{"Limit":1001}`, "Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000"},
		{"ListAliases", `{"Limit":0}`, "Member must have value greater than or equal to 1"},
		{"TagResource", `{"KeyId":"` + k.KeyId + `","Tags":[{"TagKey":"` + strings.Repeat("k", 129) + `","TagValue":""}]}`, "at 'tags.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"Sign", `{"KeyId":"` + k.KeyId + `","Message":"` + b64(big) + `","SigningAlgorithm":"ECDSA_SHA_256"}`, "Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096"},
	} {
		_, err := e.rawOp(c.op, c.body)
		wantErr(t, err, "ValidationException", 400, c.want)
		if strings.Contains(err.Error(), "between") {
			t.Fatalf("%s: %v", c.op, err)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestConformanceRSAOAEPPlaintextLimits: RSAES_OAEP plaintext limits per key size, as AWS
// documents them (RSA_2048: 214 bytes with SHA-1, 190 with SHA-256; RSA_3072: 342/318;
// RSA_4096: 470/446), and the ciphertexts decrypt.
func TestConformanceRSAOAEPPlaintextLimits(t *testing.T) {
	e := newTestEnv(t)
	for _, c := range []struct {
		spec         string
		sha1, sha256 int
	}{{SpecRSA2048, 214, 190}, {SpecRSA3072, 342, 318}, {SpecRSA4096, 470, 446}} {
		md := e.createKey(CreateKeyInput{KeySpec: c.spec, KeyUsage: UsageEncrypt})
		for alg, max := range map[string]int{"RSAES_OAEP_SHA_1": c.sha1, "RSAES_OAEP_SHA_256": c.sha256} {
			pt := []byte(strings.Repeat("p", max))
			enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: pt, EncryptionAlgorithm: alg})
			if err != nil {
				t.Fatalf("%s %s %d bytes: %v", c.spec, alg, max, err)
			}
			dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{KeyId: md.KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: alg})
			if err != nil || string(dec.Plaintext) != string(pt) || dec.EncryptionAlgorithm != alg {
				t.Fatalf("%s %s: %v", c.spec, alg, err)
			}
			_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: append(pt, 'p'), EncryptionAlgorithm: alg})
			wantErr(t, err, "ValidationException", 400, "Member must have length less than or equal to "+strconv.Itoa(max))
		}
	}
}
