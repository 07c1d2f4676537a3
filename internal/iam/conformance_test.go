package iam

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// docOfSize is an identity policy of exactly n non-whitespace characters (its Sid pads it).
func docOfSize(t *testing.T, n int) string {
	t.Helper()
	const head, tail = `{"Version":"2012-10-17","Statement":[{"Sid":"`, `","Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`
	pad := n - len(head) - len(tail)
	if pad < 1 {
		t.Fatalf("docOfSize(%d): too small", n)
	}
	return head + strings.Repeat("S", pad) + tail
}

// IAM's inline policy quotas are on all of an entity's inline policies together (user
// 2048, group 5120, role 10240 non-whitespace characters), with IAM's message.
func TestInlinePolicyAggregateQuota(t *testing.T) {
	e := newTestEnv(t)
	e.user("alice")
	put := func(name, doc string) error {
		return e.s.putInline(e.ctx, e.root, kindUser, PutInlinePolicyInput{UserName: "alice", PolicyName: name, PolicyDocument: doc})
	}
	if err := put("one", docOfSize(t, 1200)); err != nil {
		t.Fatal(err)
	}
	// 1200 + 1000 > 2048: refused although each fits alone.
	err := put("two", docOfSize(t, 1000))
	wantCode(t, err, "LimitExceeded")
	if err.(*Error).Message != "Maximum policy size of 2048 bytes exceeded for user alice" || err.(*Error).Status != 409 {
		t.Fatalf("%+v", err)
	}
	if l := must[*ListInlinePoliciesOutput](t)(e.s.listInline(e.root, kindUser, ListAttachedInput{UserName: "alice"})); len(l.PolicyNames) != 1 {
		t.Fatalf("the refused policy was stored: %v", l.PolicyNames)
	}
	// Exactly at the quota, together: accepted.
	if err := put("two", docOfSize(t, 848)); err != nil {
		t.Fatal(err)
	}
	// Replacing a policy counts its new size only.
	if err := put("one", docOfSize(t, 1200)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, put("one", docOfSize(t, 1201)), "LimitExceeded")
	// White space does not count.
	if err := put("one", strings.Replace(docOfSize(t, 1200), ",", ",\n    ", -1)); err != nil {
		t.Fatal(err)
	}

	must[*CreateGroupOutput](t)(e.s.CreateGroup(e.ctx, e.root, CreateGroupInput{GroupName: "devs"}))
	err = e.s.putInline(e.ctx, e.root, kindGroup, PutInlinePolicyInput{GroupName: "devs", PolicyName: "big", PolicyDocument: docOfSize(t, 5121)})
	wantCode(t, err, "LimitExceeded")
	if err.(*Error).Message != "Maximum policy size of 5120 bytes exceeded for group devs" {
		t.Fatal(err)
	}
	if err := e.s.putInline(e.ctx, e.root, kindGroup, PutInlinePolicyInput{GroupName: "devs", PolicyName: "big", PolicyDocument: docOfSize(t, 5120)}); err != nil {
		t.Fatal(err)
	}
}

// A trust policy past 2048 characters is IAM's ACLSizePerRole quota; a managed policy past
// 6144 is PolicySize.
func TestPolicyQuotaMessages(t *testing.T) {
	e := newTestEnv(t)
	trust := trustDoc("arn:aws:iam::"+acct+":root", "")
	big := strings.Replace(trust, `"Effect"`, `"Sid":"`+strings.Repeat("S", 2049-len(trust)-len(`"Sid":"",`))+`","Effect"`, 1)
	if nonSpaceLen(big) != 2049 {
		t.Fatal(nonSpaceLen(big))
	}
	_, err := e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: big})
	wantCode(t, err, "LimitExceeded")
	if err.(*Error).Message != "Cannot exceed quota for ACLSizePerRole: 2048" {
		t.Fatal(err)
	}
	_, err = e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p", PolicyDocument: docOfSize(t, 6145)})
	wantCode(t, err, "LimitExceeded")
	if err.(*Error).Message != "Cannot exceed quota for PolicySize: 6144" {
		t.Fatal(err)
	}
	must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p", PolicyDocument: docOfSize(t, 6144)}))
}

// call runs an operation from its form-encoded request, as the protocol layer does.
func call(e *testEnv, ops map[string]Op, action string, params ...string) (any, error) {
	form := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		form.Add(params[i], params[i+1])
	}
	return ops[action](e.s, e.ctx, e.root, []byte(form.Encode()))
}

// MaxItems is 1..1000: an explicit 0 is a ValidationError, not the default page size.
func TestMaxItemsRange(t *testing.T) {
	e := newTestEnv(t)
	e.user("alice")
	for _, action := range []string{"ListUsers", "ListRoles", "ListGroups", "ListPolicies", "ListVirtualMFADevices"} {
		_, err := call(e, Operations(), action, "MaxItems", "0")
		wantCode(t, err, "ValidationError")
		if !strings.Contains(err.Error(), "Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1") {
			t.Fatal(err)
		}
		_, err = call(e, Operations(), action, "MaxItems", "1001")
		wantCode(t, err, "ValidationError")
		if !strings.Contains(err.Error(), "Member must have value less than or equal to 1000") {
			t.Fatal(err)
		}
	}
	out, err := call(e, Operations(), "ListUsers", "MaxItems", "1")
	if err != nil || len(out.(*ListUsersOutput).Users) != 1 {
		t.Fatal(out, err)
	}
}

// PathPrefix is "/" then printable ASCII (pathPrefixType).
func TestPathPrefixPattern(t *testing.T) {
	e := newTestEnv(t)
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "a", Path: "/team/x/"}))
	for _, bad := range []string{"team/", "/a b/", "/é/"} {
		_, err := e.s.ListUsers(e.ctx, e.root, ListInput{PathPrefix: bad})
		wantCode(t, err, "ValidationError")
	}
	l := must[*ListUsersOutput](t)(e.s.ListUsers(e.ctx, e.root, ListInput{PathPrefix: "/team"}))
	if len(l.Users) != 1 {
		t.Fatal(l)
	}
}

// ListPolicyVersions answers the newest version first, as IAM does.
func TestListPolicyVersionsNewestFirst(t *testing.T) {
	e := newTestEnv(t)
	p := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p", PolicyDocument: allowKMSRead}))
	newVersion := func() {
		t.Helper()
		must[*CreatePolicyVersionOutput](t)(e.s.CreatePolicyVersion(e.ctx, e.root, CreatePolicyVersionInput{PolicyArn: p.Policy.Arn, PolicyDocument: allowKMSRead}))
	}
	deleteVersion := func(id string) {
		t.Helper()
		if err := e.s.DeletePolicyVersion(e.ctx, e.root, PolicyVersionInput{PolicyArn: p.Policy.Arn, VersionId: id}); err != nil {
			t.Fatal(err)
		}
	}
	// Up to v11 with five versions kept: ids past v9 must sort as numbers, not text.
	for range 4 {
		newVersion() // v2..v5
	}
	for _, id := range []string{"v2", "v3", "v4", "v5"} {
		deleteVersion(id)
	}
	for range 4 {
		newVersion() // v6..v9
	}
	deleteVersion("v6")
	deleteVersion("v7")
	newVersion() // v10
	newVersion() // v11
	l := must[*ListPolicyVersionsOutput](t)(e.s.ListPolicyVersions(e.ctx, e.root, ListPolicyVersionsInput{PolicyArn: p.Policy.Arn}))
	var ids []string
	for _, v := range l.Versions {
		ids = append(ids, v.VersionId)
	}
	if strings.Join(ids, ",") != "v11,v10,v9,v8,v1" || !l.Versions[4].IsDefaultVersion {
		t.Fatalf("versions %v", ids)
	}
	page := must[*ListPolicyVersionsOutput](t)(e.s.ListPolicyVersions(e.ctx, e.root, ListPolicyVersionsInput{PolicyArn: p.Policy.Arn, MaxItems: 1}))
	if !page.IsTruncated || page.Versions[0].VersionId != "v11" {
		t.Fatalf("%+v", page)
	}
}

// ListPolicies does not return a policy's Description (GetPolicy does).
func TestListPoliciesWithoutDescription(t *testing.T) {
	e := newTestEnv(t)
	p := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p", PolicyDocument: allowKMSRead, Description: "reads keys"}))
	if p.Policy.Description != "reads keys" {
		t.Fatal(p.Policy)
	}
	g := must[*PolicyOutput](t)(e.s.GetPolicy(e.ctx, e.root, PolicyArnInput{PolicyArn: p.Policy.Arn}))
	if g.Policy.Description != "reads keys" {
		t.Fatal(g.Policy)
	}
	l := must[*ListPoliciesOutput](t)(e.s.ListPolicies(e.ctx, e.root, ListPoliciesInput{}))
	b, err := xml.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "<Description>") {
		t.Fatalf("ListPolicies lists descriptions: %s", b)
	}
}

// GetRole answers RoleLastUsed: empty for a role never assumed, then when and in which
// region it was last assumed (replicated: it survives a restart). ListRoles does not.
func TestRoleLastUsed(t *testing.T) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	role := must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "R", AssumeRolePolicyDocument: trustDoc(alice.Principal.ARN, "")}))
	if role.Role.RoleLastUsed != nil {
		t.Fatal("CreateRole answers RoleLastUsed")
	}
	g := must[*GetRoleOutput](t)(e.s.GetRole(e.ctx, e.root, RoleNameInput{RoleName: "R"}))
	b, _ := xml.Marshal(g)
	if g.Role.RoleLastUsed == nil || !strings.Contains(string(b), "<RoleLastUsed></RoleLastUsed>") {
		t.Fatalf("never used: %s", b)
	}
	e.clock.Add(time.Minute)
	alice.Region = "eu-west-3"
	must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: "s1"}))
	want := RoleLastUsed{LastUsedDate: e.clock.Now().Format(timeFormat), Region: "eu-west-3"}
	e.restart()
	g = must[*GetRoleOutput](t)(e.s.GetRole(e.ctx, e.root, RoleNameInput{RoleName: "R"}))
	if g.Role.RoleLastUsed == nil || *g.Role.RoleLastUsed != want {
		t.Fatalf("%+v, want %+v", g.Role.RoleLastUsed, want)
	}
	l := must[*ListRolesOutput](t)(e.s.ListRoles(e.ctx, e.root, ListInput{}))
	if l.Roles[0].RoleLastUsed != nil {
		t.Fatal("ListRoles answers RoleLastUsed")
	}
	d := must[*GetAccountAuthorizationDetailsOutput](t)(e.s.GetAccountAuthorizationDetails(e.ctx, e.root, GetAccountAuthorizationDetailsInput{Filter: []string{"Role"}}))
	if r := d.RoleDetailList.Members[0].RoleLastUsed; r == nil || *r != want {
		t.Fatalf("authorization details: %+v", r)
	}
}

// An explicit MaxSessionDuration of 0 is refused (3600..43200), not the default.
func TestCreateRoleMaxSessionDurationExplicit(t *testing.T) {
	e := newTestEnv(t)
	_, err := call(e, Operations(), "CreateRole", "RoleName", "r", "AssumeRolePolicyDocument", trustDoc("arn:aws:iam::"+acct+":root", ""), "MaxSessionDuration", "0")
	wantCode(t, err, "ValidationError")
	out, err := call(e, Operations(), "CreateRole", "RoleName", "r", "AssumeRolePolicyDocument", trustDoc("arn:aws:iam::"+acct+":root", ""))
	if err != nil || out.(*CreateRoleOutput).Role.MaxSessionDuration != 3600 {
		t.Fatal(out, err)
	}
}

// GetUser without UserName answers the calling user, or the root; an assumed role has no
// user: ValidationError, as on AWS (it used to answer the root's identity).
func TestGetUserWithoutNameAsRole(t *testing.T) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	role := must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "R", AssumeRolePolicyDocument: trustDoc(alice.Principal.ARN, "")}))
	ar := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: "s1"}))
	sess := e.callerFor(ar.Credentials.AccessKeyId)
	_, err := e.s.GetUser(e.ctx, sess, GetUserInput{})
	wantCode(t, err, "ValidationError")
	if !strings.Contains(err.Error(), "Must specify userName when calling with non-User credentials") {
		t.Fatal(err)
	}
	if u := must[*GetUserOutput](t)(e.s.GetUser(e.ctx, sess, GetUserInput{UserName: "alice"})); u.User.UserName != "alice" {
		t.Fatal(u)
	}
	st := must[*GetSessionTokenOutput](t)(e.s.GetSessionToken(e.ctx, alice, GetSessionTokenInput{}))
	if u := must[*GetUserOutput](t)(e.s.GetUser(e.ctx, e.callerFor(st.Credentials.AccessKeyId), GetUserInput{})); u.User.UserName != "alice" {
		t.Fatal(u)
	}
	if u := must[*GetUserOutput](t)(e.s.GetUser(e.ctx, e.root, GetUserInput{})); u.User.Arn != "arn:aws:iam::"+acct+":root" {
		t.Fatal(u)
	}
}

// The credentials of a GetSessionToken without MFA cannot call IAM
// (InvalidClientTokenId, 403); with MFA they can, and so can an assumed role's.
func TestIAMRefusesSessionTokenWithoutMFA(t *testing.T) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	ops := Operations()
	callAs := func(c Caller, action string) (any, error) {
		return ops[action](e.s, e.ctx, c, nil)
	}
	plain := must[*GetSessionTokenOutput](t)(e.s.GetSessionToken(e.ctx, alice, GetSessionTokenInput{}))
	for _, action := range []string{"ListUsers", "GetUser", "ListAccessKeys", "CreateAccessKey"} {
		_, err := callAs(e.callerFor(plain.Credentials.AccessKeyId), action)
		wantCode(t, err, "InvalidClientTokenId")
		if err.(*Error).Status != 403 {
			t.Fatal(err)
		}
	}
	if _, err := callAs(alice, "ListUsers"); err != nil {
		t.Fatal(err)
	}
	// The root's sessions too.
	rootSess := must[*GetSessionTokenOutput](t)(e.s.GetSessionToken(e.ctx, e.root, GetSessionTokenInput{}))
	_, err := callAs(e.callerFor(rootSess.Credentials.AccessKeyId), "ListUsers")
	wantCode(t, err, "InvalidClientTokenId")

	d := must[*CreateVirtualMFADeviceOutput](t)(e.s.CreateVirtualMFADevice(e.ctx, e.root, CreateVirtualMFADeviceInput{VirtualMFADeviceName: "alice-mfa"}))
	seed := seedOf(t, d.VirtualMFADevice)
	now := e.clock.Now()
	if err := e.s.EnableMFADevice(e.ctx, e.root, EnableMFADeviceInput{UserName: "alice", SerialNumber: d.VirtualMFADevice.SerialNumber,
		AuthenticationCode1: code(seed, now.Add(-30*time.Second)), AuthenticationCode2: code(seed, now)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(30 * time.Second)
	withMFA := must[*GetSessionTokenOutput](t)(e.s.GetSessionToken(e.ctx, alice, GetSessionTokenInput{SerialNumber: d.VirtualMFADevice.SerialNumber, TokenCode: code(seed, e.clock.Now())}))
	if out, err := callAs(e.callerFor(withMFA.Credentials.AccessKeyId), "GetUser"); err != nil || out.(*GetUserOutput).User.UserName != "alice" {
		t.Fatal(out, err)
	}

	role := must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "R", AssumeRolePolicyDocument: trustDoc(alice.Principal.ARN, "")}))
	ar := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: "s1"}))
	if _, err := callAs(e.callerFor(ar.Credentials.AccessKeyId), "ListUsers"); err != nil {
		t.Fatal(err)
	}
}

// A managed policy's Path, and the PathPrefix of ListPolicies and ListAttached*Policies,
// follow policyPathType: "/" segments of letters, digits and .,+@=_-, ending with "/".
func TestPolicyPathPattern(t *testing.T) {
	e := newTestEnv(t)
	e.user("alice")
	for _, bad := range []string{"/a b/", "/a~/", "/a//b/", "/svc", "svc/"} {
		_, err := e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p", Path: bad, PolicyDocument: allowKMSRead})
		wantCode(t, err, "ValidationError")
		_, err = e.s.ListPolicies(e.ctx, e.root, ListPoliciesInput{PathPrefix: bad})
		wantCode(t, err, "ValidationError")
		_, err = e.s.listAttached(e.root, kindUser, ListAttachedInput{UserName: "alice", PathPrefix: bad})
		wantCode(t, err, "ValidationError")
	}
	p := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p", Path: "/svc/kms.read-1@x/", PolicyDocument: allowKMSRead}))
	if p.Policy.Arn != "arn:aws:iam::"+acct+":policy/svc/kms.read-1@x/p" {
		t.Fatal(p.Policy.Arn)
	}
	l := must[*ListPoliciesOutput](t)(e.s.ListPolicies(e.ctx, e.root, ListPoliciesInput{Scope: "Local", PathPrefix: "/svc/"}))
	if len(l.Policies) != 1 {
		t.Fatal(l)
	}
}

// A role description takes no control characters (roleDescriptionType); an AccessKeyId is
// word characters (accessKeyIdType).
func TestRoleDescriptionAndAccessKeyIDPatterns(t *testing.T) {
	e := newTestEnv(t)
	trust := trustDoc("arn:aws:iam::"+acct+":root", "")
	_, err := e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trust, Description: "two\nlines"})
	wantCode(t, err, "ValidationError")
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trust, Description: "Rôle de lecture — KMS (€, 日本)"}))
	_, err = e.s.UpdateRoleDescription(e.ctx, e.root, UpdateRoleDescriptionInput{RoleName: "r", Description: "tab\there"})
	wantCode(t, err, "ValidationError")

	e.user("alice")
	err = e.s.UpdateAccessKey(e.ctx, e.root, UpdateAccessKeyInput{UserName: "alice", AccessKeyId: "AKIA-NOT-A-KEY-ID", Status: "Inactive"})
	wantCode(t, err, "ValidationError")
	err = e.s.DeleteAccessKey(e.ctx, e.root, DeleteAccessKeyInput{UserName: "alice", AccessKeyId: "AKIAAAAAAAAAAAAAAAAA"})
	wantCode(t, err, "NoSuchEntity")
}

// verifyCode signs a request with temporary credentials and has the request verifier
// (awsproto, with the service as its credential store) check it at the test clock's time:
// "" if it is accepted, otherwise the error code.
func (e *testEnv) verifyCode(c Credentials) string {
	e.t.Helper()
	body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
	if err := v4.NewSigner().SignHTTP(e.ctx, creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	v := &awsproto.Verifier{Credentials: e.s, Now: e.clock.Now}
	if _, _, err := v.Verify(req, body); err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			e.t.Fatal(err)
		}
		return ae.Code
	}
	return ""
}

// Expired temporary credentials are refused with ExpiredToken (ExpiredTokenException in
// the JSON protocols), not as an unknown key, until they are purged.
func TestExpiredSessionIsExpiredToken(t *testing.T) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	d := 900
	st := must[*GetSessionTokenOutput](t)(e.s.GetSessionToken(e.ctx, alice, GetSessionTokenInput{DurationSeconds: &d}))
	if code := e.verifyCode(st.Credentials); code != "" {
		t.Fatalf("a fresh session: %s", code)
	}
	// A wrong token is an unknown key, expired or not.
	bad := st.Credentials
	bad.SessionToken = "x" + bad.SessionToken[1:]
	e.clock.Add(15 * time.Minute)
	if code := e.verifyCode(st.Credentials); code != "ExpiredTokenException" {
		t.Fatalf("expired: %q", code)
	}
	if code := e.verifyCode(bad); code != "UnrecognizedClientException" && code != "InvalidClientTokenId" {
		t.Fatalf("wrong token: %q", code)
	}
	// Kept a day after it expired (SDKs refresh their credentials on ExpiredToken, not on
	// an unknown key), then purged.
	e.clock.Add(24*time.Hour - time.Second)
	if err := e.s.PurgeExpiredSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if code := e.verifyCode(st.Credentials); code != "ExpiredTokenException" {
		t.Fatalf("expired a day ago less a second: %q", code)
	}
	e.clock.Add(time.Second)
	if err := e.s.PurgeExpiredSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.s.Lookup(st.Credentials.AccessKeyId); ok {
		t.Fatal("a purged session resolved")
	}
}

// Operations on an existing user take names up to 128 characters (existingUserNameType): a
// longer-than-64 name is a missing user; role names stay 1-64.
func TestExistingUserNameLength(t *testing.T) {
	e := newTestEnv(t)
	long := strings.Repeat("u", 100)
	wantCode(t, e.s.TagUser(e.ctx, e.root, TagUserInput{UserName: long, Tags: []Tag{{"k", "v"}}}), "NoSuchEntity")
	_, err := e.s.ListUserTags(e.ctx, e.root, ListTagsInput{UserName: long})
	wantCode(t, err, "NoSuchEntity")
	wantCode(t, e.s.DeleteUser(e.ctx, e.root, UserNameInput{UserName: long}), "NoSuchEntity")
	wantCode(t, e.s.TagUser(e.ctx, e.root, TagUserInput{UserName: strings.Repeat("u", 129), Tags: []Tag{{"k", "v"}}}), "ValidationError")
	wantCode(t, e.s.TagRole(e.ctx, e.root, TagRoleInput{RoleName: strings.Repeat("r", 65), Tags: []Tag{{"k", "v"}}}), "ValidationError")
}

// Role names are 1-64 in every operation (roleNameType), group names 1-128.
func TestRoleNameLengthInPolicyOperations(t *testing.T) {
	e := newTestEnv(t)
	long := strings.Repeat("r", 65)
	wantCode(t, e.s.putInline(e.ctx, e.root, kindRole, PutInlinePolicyInput{RoleName: long, PolicyName: "p", PolicyDocument: allowKMSRead}), "ValidationError")
	wantCode(t, e.s.attach(e.ctx, e.root, kindRole, AttachPolicyInput{RoleName: long, PolicyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess"}, false), "ValidationError")
	wantCode(t, e.s.putInline(e.ctx, e.root, kindGroup, PutInlinePolicyInput{GroupName: strings.Repeat("g", 100), PolicyName: "p", PolicyDocument: allowKMSRead}), "NoSuchEntity")
}

// SerialNumber is serialNumberType (9-256, [\w+=/:,.@-]*), codes are six digits.
func TestSerialNumberAndCodeFormats(t *testing.T) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	_, err := e.s.GetSessionToken(e.ctx, alice, GetSessionTokenInput{SerialNumber: "arn:aws:iam::" + acct + ":mfa/a b", TokenCode: "123456"})
	wantCode(t, err, "ValidationError")
	_, err = e.s.GetSessionToken(e.ctx, alice, GetSessionTokenInput{SerialNumber: "arn:aws:iam::" + acct + ":mfa/ab", TokenCode: "12345"})
	wantCode(t, err, "ValidationError")
	if !strings.Contains(err.Error(), "length greater than or equal to 6") {
		t.Fatal(err)
	}
	_, err = e.s.GetSessionToken(e.ctx, alice, GetSessionTokenInput{SerialNumber: "arn:aws:iam::" + acct + ":mfa/ab", TokenCode: "12345a"})
	wantCode(t, err, "ValidationError")
	// A well-formed serial of no device: AccessDenied, as a wrong code.
	_, err = e.s.GetSessionToken(e.ctx, alice, GetSessionTokenInput{SerialNumber: "arn:aws:iam::" + acct + ":mfa/ab", TokenCode: "123456"})
	wantCode(t, err, "AccessDenied")
}

// ListEntitiesForPolicy's PathPrefix is a pathType: it must begin and end with "/".
func TestListEntitiesForPolicyPathPrefix(t *testing.T) {
	e := newTestEnv(t)
	const ro = "arn:aws:iam::aws:policy/ReadOnlyAccess"
	_, err := e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: ro, PathPrefix: "/svc"})
	wantCode(t, err, "ValidationError")
	if _, err := e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: ro, PathPrefix: "/svc/"}); err != nil {
		t.Fatal(err)
	}
}
