package kms

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

const authzAcct = "111122223333"

// idStore is an in-memory source of identity policy documents.
type idStore struct {
	mu   sync.Mutex
	docs map[string][]string
}

func (s *idStore) get(arn string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs[arn], nil
}

func (s *idStore) set(arn string, docs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[arn] = docs
}

func newAuthzEnv(t testing.TB) (*testEnv, *idStore) {
	ids := &idStore{docs: map[string][]string{}}
	e := newTestEnvOpts(t, envOpts{enforce: true, identities: CachedIdentityDocuments(ids.get)})
	return e, ids
}

func user(name string) Caller {
	return Caller{Region: "us-east-1", Account: authzAcct, Principal: "arn:aws:iam::" + authzAcct + ":user/" + name}
}

// call runs an operation through the dispatch table, as the protocol layer does.
func (e *testEnv) call(c Caller, op string, in any) (any, error) {
	e.t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		e.t.Fatal(err)
	}
	return Operations()[op](e.k, e.ctx, c, omitEmptyStrings(e.t, body))
}

// omitEmptyStrings drops the top-level "" members of a request body: the Go input structs
// marshal every unset string as "", which AWS's SDKs never send (an unset member is
// absent) and which KMS refuses as shorter than the minimum length.
func omitEmptyStrings(t testing.TB, body []byte) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		if string(v) == `""` {
			delete(m, k)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *testEnv) mustCall(c Caller, op string, in any) any {
	e.t.Helper()
	out, err := e.call(c, op, in)
	if err != nil {
		e.t.Fatalf("%s as %s: %v", op, c.Principal, err)
	}
	return out
}

func (e *testEnv) denied(c Caller, op string, in any) *Error {
	e.t.Helper()
	_, err := e.call(c, op, in)
	var ke *Error
	if !errors.As(err, &ke) || ke.Code != "AccessDeniedException" || ke.Status != 400 {
		e.t.Fatalf("%s as %s: got %v, want AccessDeniedException", op, c.Principal, err)
	}
	return ke
}

func (e *testEnv) authzKey(c Caller, in CreateKeyInput) KeyMetadata {
	e.t.Helper()
	return e.mustCall(c, "CreateKey", in).(*KeyMetadataOutput).KeyMetadata
}

func (e *testEnv) encryptAs(c Caller, keyID string, ec map[string]string) ([]byte, error) {
	out, err := e.call(c, "Encrypt", EncryptInput{KeyId: keyID, Plaintext: []byte("pt"), EncryptionContext: ec})
	if err != nil {
		return nil, err
	}
	return out.(*EncryptOutput).CiphertextBlob, nil
}

func idPolicy(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func rootStmt() string {
	return `{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + authzAcct + `:root"},"Action":"kms:*","Resource":"*"}`
}

func TestAuthzRootDefaultPolicy(t *testing.T) {
	e, _ := newAuthzEnv(t)
	root := e.c
	md := e.authzKey(root, CreateKeyInput{Description: "k"})
	ct, err := e.encryptAs(root, md.KeyId, map[string]string{"a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	e.mustCall(root, "Decrypt", DecryptInput{CiphertextBlob: ct, EncryptionContext: map[string]string{"a": "1"}})
	e.mustCall(root, "DescribeKey", KeyIDInput{KeyId: md.KeyId})
	e.mustCall(root, "ListKeys", ListInput{})
	e.mustCall(root, "CreateAlias", CreateAliasInput{AliasName: "alias/root", TargetKeyId: md.KeyId})
	e.mustCall(root, "Encrypt", EncryptInput{KeyId: "alias/root", Plaintext: []byte("x")})
	e.mustCall(root, "TagResource", TagResourceInput{KeyId: md.KeyId, Tags: []Tag{{"t", "v"}}})
	e.mustCall(root, "GenerateDataKey", GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256"})
	e.mustCall(root, "ReEncrypt", ReEncryptInput{CiphertextBlob: ct, SourceEncryptionContext: map[string]string{"a": "1"}, DestinationKeyId: md.KeyId})
	e.mustCall(root, "DisableKey", KeyIDInput{KeyId: md.KeyId})
	e.mustCall(root, "ScheduleKeyDeletion", ScheduleKeyDeletionInput{KeyId: md.KeyId})
}

func TestAuthzIdentityPolicyNeedsDelegation(t *testing.T) {
	e, ids := newAuthzEnv(t)
	alice, bob := user("alice"), user("bob")
	ids.set(alice.Principal, idPolicy(`{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}`))
	def := e.authzKey(e.c, CreateKeyInput{})
	if _, err := e.encryptAs(alice, def.KeyId, nil); err != nil {
		t.Fatalf("default key policy delegates to IAM: %v", err)
	}
	// Only bob in the key policy: alice's identity policy does not count.
	bobOnly := idPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + bob.Principal + `"},"Action":"kms:*","Resource":"*"}`)
	k := e.authzKey(e.c, CreateKeyInput{Policy: bobOnly, BypassPolicyLockoutSafetyCheck: true})
	err := e.denied(alice, "Encrypt", EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
	want := "User: " + alice.Principal + " is not authorized to perform: kms:Encrypt on resource: " + k.Arn + " because no resource-based policy allows the kms:Encrypt action"
	if err.Message != want {
		t.Fatalf("message %q, want %q", err.Message, want)
	}
	// A key policy naming a user works without any identity policy.
	if _, err := e.encryptAs(bob, k.KeyId, nil); err != nil {
		t.Fatal(err)
	}
	// The root is not special for key operations.
	e.denied(e.c, "DescribeKey", KeyIDInput{KeyId: k.KeyId})
	// Nor is bob allowed anything outside the key.
	e.denied(bob, "ListKeys", ListInput{})
}

// An identity policy that does not parse fails the request instead of being
// skipped: skipping a broken Deny would allow what it forbids.
func TestAuthzBrokenIdentityPolicyFailsClosed(t *testing.T) {
	e, ids := newAuthzEnv(t)
	alice := user("alice")
	k := e.authzKey(e.c, CreateKeyInput{})
	ids.set(alice.Principal, idPolicy(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}`),
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt"`)
	_, err := e.encryptAs(alice, k.KeyId, nil)
	var ke *Error
	if !errors.As(err, &ke) || ke.Code != "KMSInternalException" {
		t.Fatalf("Encrypt with a broken identity policy: %v, want KMSInternalException", err)
	}
}

func TestAuthzExplicitDenyInKeyPolicy(t *testing.T) {
	e, ids := newAuthzEnv(t)
	alice := user("alice")
	ids.set(alice.Principal, idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`))
	pol := idPolicy(rootStmt(), `{"Effect":"Deny","Principal":{"AWS":"`+alice.Principal+`"},"Action":"kms:Decrypt","Resource":"*"}`)
	k := e.authzKey(e.c, CreateKeyInput{Policy: pol})
	ct, err := e.encryptAs(alice, k.KeyId, nil)
	if err != nil {
		t.Fatal(err)
	}
	de := e.denied(alice, "Decrypt", DecryptInput{CiphertextBlob: ct})
	if !strings.HasSuffix(de.Message, "with an explicit deny in a resource-based policy") {
		t.Fatal(de.Message)
	}
	// An explicit deny in an identity policy wins over the key policy's allow.
	ids.set(alice.Principal, idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`, `{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}`))
	de = e.denied(alice, "Encrypt", EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
	if !strings.HasSuffix(de.Message, "with an explicit deny in an identity-based policy") {
		t.Fatal(de.Message)
	}
}

func TestAuthzReadOnlyIdentity(t *testing.T) {
	e, ids := newAuthzEnv(t)
	ro := user("ro")
	ids.set(ro.Principal, idPolicy(`{"Effect":"Allow","Action":["kms:Describe*","kms:List*","kms:Get*"],"Resource":"*"}`))
	k := e.authzKey(e.c, CreateKeyInput{})
	ct, err := e.encryptAs(e.c, k.KeyId, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.mustCall(ro, "DescribeKey", KeyIDInput{KeyId: k.KeyId})
	e.mustCall(ro, "ListKeys", ListInput{})
	e.mustCall(ro, "GetKeyPolicy", GetKeyPolicyInput{KeyId: k.KeyId})
	de := e.denied(ro, "Decrypt", DecryptInput{CiphertextBlob: ct})
	want := "User: arn:aws:iam::111122223333:user/ro is not authorized to perform: kms:Decrypt on resource: " + k.Arn + " because no identity-based policy allows the kms:Decrypt action"
	if de.Message != want {
		t.Fatalf("message %q, want %q", de.Message, want)
	}
	// Account-level operations: identity policies only.
	de = e.denied(user("nobody"), "ListKeys", ListInput{})
	if de.Message != "User: arn:aws:iam::111122223333:user/nobody is not authorized to perform: kms:ListKeys on resource: * because no identity-based policy allows the kms:ListKeys action" {
		t.Fatal(de.Message)
	}
	e.denied(ro, "CreateKey", CreateKeyInput{})
}

func TestAuthzMFACondition(t *testing.T) {
	e, _ := newAuthzEnv(t)
	admin := user("admin")
	pol := idPolicy(
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+authzAcct+`:root"},"NotAction":["kms:ScheduleKeyDeletion","kms:DisableKey"],"Resource":"*"}`,
		`{"Effect":"Allow","Principal":{"AWS":"`+admin.Principal+`"},"Action":["kms:ScheduleKeyDeletion","kms:DisableKey"],"Resource":"*",
		  "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"},"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}`)
	k := e.authzKey(e.c, CreateKeyInput{Policy: pol})
	e.denied(admin, "DisableKey", KeyIDInput{KeyId: k.KeyId}) // long-term credentials: no MFA key
	noMFA := admin
	noMFA.TemporaryCredentials = true
	e.denied(noMFA, "DisableKey", KeyIDInput{KeyId: k.KeyId})
	old := noMFA
	old.MFAPresent, old.MFAAuthTime = true, e.clock.Now().Add(-2*time.Hour)
	e.denied(old, "DisableKey", KeyIDInput{KeyId: k.KeyId})
	mfa := noMFA
	mfa.MFAPresent, mfa.MFAAuthTime = true, e.clock.Now().Add(-time.Minute)
	e.mustCall(mfa, "DisableKey", KeyIDInput{KeyId: k.KeyId})
	e.denied(e.c, "ScheduleKeyDeletion", ScheduleKeyDeletionInput{KeyId: k.KeyId})
	e.mustCall(mfa, "ScheduleKeyDeletion", ScheduleKeyDeletionInput{KeyId: k.KeyId})
}

func TestAuthzGrants(t *testing.T) {
	e, _ := newAuthzEnv(t)
	g, other := user("grantee"), user("other")
	k := e.authzKey(e.c, CreateKeyInput{})
	eq := e.mustCall(e.c, "CreateGrant", CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: g.Principal, RetiringPrincipal: g.Principal,
		Operations: []string{"Encrypt", "Decrypt"}, Constraints: &GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1"}}}).(*CreateGrantOutput)
	ctx := map[string]string{"a": "1"}
	ct, err := e.encryptAs(g, k.KeyId, ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.mustCall(g, "Decrypt", DecryptInput{CiphertextBlob: ct, EncryptionContext: ctx, GrantTokens: []string{eq.GrantToken}})
	for _, bad := range []map[string]string{nil, {"a": "2"}, {"a": "1", "b": "2"}} {
		if _, err := e.encryptAs(g, k.KeyId, bad); err == nil {
			t.Fatalf("Equals grant allowed context %v", bad)
		}
	}
	e.denied(g, "DescribeKey", KeyIDInput{KeyId: k.KeyId})
	e.denied(other, "Encrypt", EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x"), EncryptionContext: ctx})

	sub := e.mustCall(e.c, "CreateGrant", CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: other.Principal,
		Operations: []string{"Decrypt"}, Constraints: &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "1"}}}).(*CreateGrantOutput)
	wide := map[string]string{"a": "1", "b": "2"}
	ct2, err := e.encryptAs(e.c, k.KeyId, wide)
	if err != nil {
		t.Fatal(err)
	}
	e.mustCall(other, "Decrypt", DecryptInput{CiphertextBlob: ct2, EncryptionContext: wide})
	ct3, _ := e.encryptAs(e.c, k.KeyId, map[string]string{"b": "2"})
	e.denied(other, "Decrypt", DecryptInput{CiphertextBlob: ct3, EncryptionContext: map[string]string{"b": "2"}})

	// Retiring: only the retiring principal (or grantee with RetireGrant, or the root).
	e.denied(other, "RetireGrant", RetireGrantInput{GrantToken: eq.GrantToken})
	e.mustCall(g, "RetireGrant", RetireGrantInput{GrantToken: eq.GrantToken})
	if _, err := e.encryptAs(g, k.KeyId, ctx); err == nil {
		t.Fatal("retired grant still allows Encrypt")
	}
	// Revoking needs kms:RevokeGrant on the key.
	e.denied(other, "RevokeGrant", RevokeGrantInput{KeyId: k.KeyId, GrantId: sub.GrantId})
	e.mustCall(e.c, "RevokeGrant", RevokeGrantInput{KeyId: k.KeyId, GrantId: sub.GrantId})
	e.denied(other, "Decrypt", DecryptInput{CiphertextBlob: ct2, EncryptionContext: wide})
}

func TestAuthzPolicyLockoutSafetyCheck(t *testing.T) {
	e, ids := newAuthzEnv(t)
	alice := user("alice")
	k := e.authzKey(e.c, CreateKeyInput{})
	aliceOnly := idPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + alice.Principal + `"},"Action":"kms:*","Resource":"*"}`)
	_, err := e.call(e.c, "PutKeyPolicy", PutKeyPolicyInput{KeyId: k.KeyId, Policy: aliceOnly})
	wantCode(t, err, "MalformedPolicyDocumentException")
	_, err = e.call(e.c, "CreateKey", CreateKeyInput{Policy: aliceOnly})
	wantCode(t, err, "MalformedPolicyDocumentException")
	// A policy that delegates to IAM passes for a user whose identity policy allows it.
	ids.set(alice.Principal, idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`))
	e.mustCall(alice, "PutKeyPolicy", PutKeyPolicyInput{KeyId: k.KeyId, Policy: idPolicy(rootStmt())})
	// A conditional allow that the current request does not satisfy is refused.
	cond := idPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + authzAcct + `:root"},"Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}`)
	_, err = e.call(e.c, "PutKeyPolicy", PutKeyPolicyInput{KeyId: k.KeyId, Policy: cond})
	wantCode(t, err, "MalformedPolicyDocumentException")
	// Bypassing the check locks the root out.
	e.mustCall(e.c, "PutKeyPolicy", PutKeyPolicyInput{KeyId: k.KeyId, Policy: aliceOnly, BypassPolicyLockoutSafetyCheck: true})
	e.denied(e.c, "DescribeKey", KeyIDInput{KeyId: k.KeyId})
	e.mustCall(alice, "DescribeKey", KeyIDInput{KeyId: k.KeyId})
}

func TestAuthzConditionKeys(t *testing.T) {
	e, ids := newAuthzEnv(t)
	u := user("u")
	ids.set(u.Principal, idPolicy(
		`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"app"},"StringEquals":{"aws:ResourceTag/team":"blue"}}}`,
		`{"Effect":"Allow","Action":"kms:Sign","Resource":"*","Condition":{"StringEquals":{"kms:SigningAlgorithm":"ECDSA_SHA_256","kms:KeySpec":"ECC_NIST_P256"}}}`))
	blue := e.authzKey(e.c, CreateKeyInput{Tags: []Tag{{"team", "blue"}}})
	red := e.authzKey(e.c, CreateKeyInput{Tags: []Tag{{"team", "red"}}})
	if _, err := e.encryptAs(u, blue.KeyId, map[string]string{"app": "x"}); err != nil {
		t.Fatal(err)
	}
	e.denied(u, "Encrypt", EncryptInput{KeyId: blue.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"other": "x"}})
	e.denied(u, "Encrypt", EncryptInput{KeyId: blue.KeyId, Plaintext: []byte("x")})
	e.denied(u, "Encrypt", EncryptInput{KeyId: red.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"app": "x"}})
	ec := e.authzKey(e.c, CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageSign})
	msg := make([]byte, 32)
	e.mustCall(u, "Sign", SignInput{KeyId: ec.KeyId, Message: msg, MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256"})
	e.denied(u, "Sign", SignInput{KeyId: blue.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
}

func TestAuthzAliasesAndRequestAlias(t *testing.T) {
	e, ids := newAuthzEnv(t)
	u := user("u")
	k := e.authzKey(e.c, CreateKeyInput{})
	// Permission on the alias only is not enough: the key is needed too.
	ids.set(u.Principal, idPolicy(`{"Effect":"Allow","Action":"kms:CreateAlias","Resource":"arn:aws:kms:us-east-1:`+authzAcct+`:alias/app-*"}`))
	de := e.denied(u, "CreateAlias", CreateAliasInput{AliasName: "alias/app-1", TargetKeyId: k.KeyId})
	if !strings.Contains(de.Message, "on resource: "+k.Arn) {
		t.Fatal(de.Message)
	}
	ids.set(u.Principal, idPolicy(`{"Effect":"Allow","Action":"kms:CreateAlias","Resource":["arn:aws:kms:us-east-1:`+authzAcct+`:alias/app-*","`+k.Arn+`"]}`,
		`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:RequestAlias":"alias/app-1"}}}`,
		`{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/app-1"}}}`))
	de = e.denied(u, "CreateAlias", CreateAliasInput{AliasName: "alias/other", TargetKeyId: k.KeyId})
	if !strings.Contains(de.Message, "on resource: arn:aws:kms:us-east-1:"+authzAcct+":alias/other because no identity-based policy") {
		t.Fatal(de.Message)
	}
	e.denied(u, "DescribeKey", KeyIDInput{KeyId: k.KeyId})
	e.mustCall(u, "CreateAlias", CreateAliasInput{AliasName: "alias/app-1", TargetKeyId: k.KeyId})
	e.mustCall(u, "Encrypt", EncryptInput{KeyId: "alias/app-1", Plaintext: []byte("x")})
	e.denied(u, "Encrypt", EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
	e.mustCall(u, "DescribeKey", KeyIDInput{KeyId: k.KeyId})
}

func TestAuthzNotEnforced(t *testing.T) {
	e := newTestEnv(t)
	// Without Enforce a user with no policy at all may do anything (today's behaviour).
	u := user("nobody")
	k := e.authzKey(u, CreateKeyInput{})
	e.mustCall(u, "Encrypt", EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
	e.mustCall(u, "ListKeys", ListInput{})
}

// BenchmarkEncryptAuthorized is Encrypt through the dispatch table with authorization
// enforced (default key policy, one identity policy, 10 grants on the key, none of them
// the caller's); "unenforced" is the same dispatch without authorization.
func BenchmarkEncryptAuthorized(b *testing.B) {
	for _, enforce := range []bool{false, true} {
		name := "unenforced"
		if enforce {
			name = "enforced"
		}
		b.Run(name, func(b *testing.B) {
			ids := &idStore{docs: map[string][]string{}}
			e := newTestEnvOpts(b, envOpts{enforce: enforce, identities: CachedIdentityDocuments(ids.get)})
			u := user("bench")
			ids.set(u.Principal, idPolicy(`{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"arn:aws:kms:*:`+authzAcct+`:key/*"}`))
			md := e.authzKey(e.c, CreateKeyInput{})
			for i := 0; i < 10; i++ {
				e.mustCall(e.c, "CreateGrant", CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: user("g" + string(rune('a'+i))).Principal,
					Operations: []string{"Decrypt"}, Constraints: &GrantConstraints{EncryptionContextSubset: map[string]string{"i": "x"}}})
			}
			body, _ := json.Marshal(EncryptInput{KeyId: md.KeyId, EncryptionAlgorithm: "SYMMETRIC_DEFAULT", Plaintext: make([]byte, 64), EncryptionContext: map[string]string{"app": "bench"}})
			fn := Operations()["Encrypt"]
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := fn(e.k, e.ctx, u, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
