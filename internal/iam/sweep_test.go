package iam

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// GetUser without UserName, called by the root: AWS answers the root identity with
// the account's creation date and without UserName and Path. An empty CreateDate made
// the AWS CLI fail ("Invalid timestamp").
func TestRootGetUser(t *testing.T) {
	e := newTestEnv(t)
	out := must[*GetUserOutput](t)(e.s.GetUser(e.ctx, e.root, GetUserInput{}))
	b, err := xml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	x := string(b)
	if strings.Contains(x, "<UserName>") || strings.Contains(x, "<Path>") ||
		!strings.Contains(x, "<UserId>"+acct+"</UserId>") || !strings.Contains(x, "<Arn>arn:aws:iam::"+acct+":root</Arn>") {
		t.Fatal(x)
	}
	if created, err := time.Parse(time.RFC3339, out.User.CreateDate); err != nil || !created.Equal(e.clock.Now()) {
		t.Fatalf("CreateDate %q (%v), want the service's start %s", out.User.CreateDate, err, e.clock.Now())
	}

	// Config.AccountCreated, when set, is the root's CreateDate.
	when := time.Date(2025, 6, 1, 8, 30, 0, 0, time.UTC)
	s, err := New(Config{Now: e.clock.Now, Root: rootCreds, AccountCreated: when})
	if err != nil {
		t.Fatal(err)
	}
	if got := must[*GetUserOutput](t)(s.GetUser(e.ctx, e.root, GetUserInput{})).User.CreateDate; got != "2025-06-01T08:30:00Z" {
		t.Fatal(got)
	}
}

// GetSessionToken: the root's sessions last at most an hour; a longer DurationSeconds
// (up to 129600) "defaults to one hour" rather than failing. Beyond 129600 it is a
// ValidationError for everyone.
func TestRootGetSessionTokenDuration(t *testing.T) {
	e := newTestEnv(t)
	for _, d := range []int{7200, 129600} {
		out := must[*GetSessionTokenOutput](t)(e.s.GetSessionToken(e.ctx, e.root, GetSessionTokenInput{DurationSeconds: &d}))
		exp, err := time.Parse(time.RFC3339, out.Credentials.Expiration)
		if err != nil || !exp.Equal(e.clock.Now().Add(time.Hour)) {
			t.Fatalf("%d: expiration %s (%v)", d, out.Credentials.Expiration, err)
		}
	}
	d := 1800
	out := must[*GetSessionTokenOutput](t)(e.s.GetSessionToken(e.ctx, e.root, GetSessionTokenInput{DurationSeconds: &d}))
	if exp, _ := time.Parse(time.RFC3339, out.Credentials.Expiration); !exp.Equal(e.clock.Now().Add(30 * time.Minute)) {
		t.Fatal(out.Credentials.Expiration)
	}
	for _, bad := range []int{899, 129601} {
		_, err := e.s.GetSessionToken(e.ctx, e.root, GetSessionTokenInput{DurationSeconds: &bad})
		wantCode(t, err, "ValidationError")
		if !strings.Contains(err.Error(), "less than or equal to 129600") {
			t.Fatal(err)
		}
	}
}

// A VersionId that does not match policyVersionIdType's pattern is a ValidationError,
// not NoSuchEntity.
func TestPolicyVersionIDPattern(t *testing.T) {
	e := newTestEnv(t)
	p := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`}))
	arn := p.Policy.Arn
	for _, id := range []string{"bogus", "v0", "V1", "", "v1 "} {
		in := PolicyVersionInput{PolicyArn: arn, VersionId: id}
		_, err := e.s.GetPolicyVersion(e.ctx, e.root, in)
		wantCode(t, err, "ValidationError")
		wantCode(t, e.s.SetDefaultPolicyVersion(e.ctx, e.root, in), "ValidationError")
		wantCode(t, e.s.DeletePolicyVersion(e.ctx, e.root, in), "ValidationError")
	}
	_, err := e.s.GetPolicyVersion(e.ctx, e.root, PolicyVersionInput{PolicyArn: arn, VersionId: "v9"})
	wantCode(t, err, "NoSuchEntity")
	must[*GetPolicyVersionOutput](t)(e.s.GetPolicyVersion(e.ctx, e.root, PolicyVersionInput{PolicyArn: arn, VersionId: "v1"}))
}

// Tag keys and values follow tagKeyType/tagValueType: letters, separators, digits and
// _.:/=+-@, lengths counted in characters.
func TestTagPattern(t *testing.T) {
	for _, bad := range [][]Tag{{{"a#b", "v"}}, {{"k", "v!"}}, {{"k", "semi;colon"}}, {{strings.Repeat("k", 129), "v"}}} {
		wantCode(t, checkTags(bad), "ValidationError")
	}
	ok := []Tag{{"Département", "Ressources humaines"}, {"cost:center/x=+-@_.", ""}, {strings.Repeat("é", 128), strings.Repeat("ü", 256)}}
	if err := checkTags(ok); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t)
	_, err := e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "u", Tags: []Tag{{"a#b", "v"}}})
	wantCode(t, err, "ValidationError")
	if _, err := e.s.GetUser(e.ctx, e.root, GetUserInput{UserName: "u"}); err == nil {
		t.Fatal("user created with an invalid tag")
	}
}

// ListVirtualMFADevices (the CLI's list-virtual-mfa-devices was InvalidAction).
func TestListVirtualMFADevices(t *testing.T) {
	e := newTestEnv(t)
	e.user("alice")
	var serials []string
	var seed []byte
	for _, n := range []string{"b-mfa", "a-mfa"} {
		d := must[*CreateVirtualMFADeviceOutput](t)(e.s.CreateVirtualMFADevice(e.ctx, e.root, CreateVirtualMFADeviceInput{VirtualMFADeviceName: n}))
		serials = append(serials, d.VirtualMFADevice.SerialNumber)
		if n == "b-mfa" {
			seed = seedOf(t, d.VirtualMFADevice)
		}
	}
	now := e.clock.Now()
	if err := e.s.EnableMFADevice(e.ctx, e.root, EnableMFADeviceInput{UserName: "alice", SerialNumber: serials[0],
		AuthenticationCode1: code(seed, now.Add(-30*time.Second)), AuthenticationCode2: code(seed, now)}); err != nil {
		t.Fatal(err)
	}
	all := must[*ListVirtualMFADevicesOutput](t)(e.s.ListVirtualMFADevices(e.ctx, e.root, ListVirtualMFADevicesInput{}))
	b, _ := xml.Marshal(all)
	if x := string(b); len(all.VirtualMFADevices) != 2 || all.VirtualMFADevices[0].SerialNumber != serials[1] ||
		all.VirtualMFADevices[1].User == nil || all.VirtualMFADevices[1].User.UserName != "alice" || all.VirtualMFADevices[1].EnableDate == "" ||
		all.VirtualMFADevices[0].User != nil || strings.Contains(x, "Base32StringSeed") {
		t.Fatal(x)
	}
	as := must[*ListVirtualMFADevicesOutput](t)(e.s.ListVirtualMFADevices(e.ctx, e.root, ListVirtualMFADevicesInput{AssignmentStatus: "Assigned"}))
	un := must[*ListVirtualMFADevicesOutput](t)(e.s.ListVirtualMFADevices(e.ctx, e.root, ListVirtualMFADevicesInput{AssignmentStatus: "Unassigned", MaxItems: 1}))
	if len(as.VirtualMFADevices) != 1 || as.VirtualMFADevices[0].SerialNumber != serials[0] ||
		len(un.VirtualMFADevices) != 1 || un.VirtualMFADevices[0].SerialNumber != serials[1] || un.IsTruncated {
		t.Fatalf("%+v %+v", as, un)
	}
	p1 := must[*ListVirtualMFADevicesOutput](t)(e.s.ListVirtualMFADevices(e.ctx, e.root, ListVirtualMFADevicesInput{MaxItems: 1}))
	p2 := must[*ListVirtualMFADevicesOutput](t)(e.s.ListVirtualMFADevices(e.ctx, e.root, ListVirtualMFADevicesInput{MaxItems: 1, Marker: p1.Marker}))
	if !p1.IsTruncated || p2.IsTruncated || p2.VirtualMFADevices[0].SerialNumber != serials[0] {
		t.Fatalf("%+v %+v", p1, p2)
	}
	_, err := e.s.ListVirtualMFADevices(e.ctx, e.root, ListVirtualMFADevicesInput{AssignmentStatus: "Bogus"})
	wantCode(t, err, "ValidationError")
	if Operations()["ListVirtualMFADevices"] == nil {
		t.Fatal("not in the operation table")
	}
}

// ListAccessKeys without UserName, called by the root, lists the root's key (AWS lists
// the root user's keys) instead of refusing as for a role.
func TestRootListAccessKeys(t *testing.T) {
	e := newTestEnv(t)
	e.user("alice")
	out := must[*ListAccessKeysOutput](t)(e.s.ListAccessKeys(e.ctx, e.root, ListAccessKeysInput{}))
	b, _ := xml.Marshal(out)
	if len(out.AccessKeyMetadata) != 1 || out.AccessKeyMetadata[0].AccessKeyId != "AKIAROOTROOTROOT0000" ||
		out.AccessKeyMetadata[0].Status != "Active" || out.AccessKeyMetadata[0].CreateDate == "" || strings.Contains(string(b), "<UserName>") {
		t.Fatal(string(b))
	}
	// With UserName, the user's keys.
	out = must[*ListAccessKeysOutput](t)(e.s.ListAccessKeys(e.ctx, e.root, ListAccessKeysInput{UserName: "alice"}))
	if len(out.AccessKeyMetadata) != 1 || out.AccessKeyMetadata[0].UserName != "alice" {
		t.Fatalf("%+v", out)
	}
}

// Role chaining: credentials from GetSessionToken assuming a role are limited to an
// hour, as an assumed role's are, with STS's message.
func TestRoleChainingDuration(t *testing.T) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	role := must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "R",
		AssumeRolePolicyDocument: trustDoc(alice.Principal.ARN, ""), MaxSessionDuration: new(7200)}))
	d := 7200
	must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: "direct", DurationSeconds: &d}))

	st := must[*GetSessionTokenOutput](t)(e.s.GetSessionToken(e.ctx, alice, GetSessionTokenInput{}))
	sess := e.callerFor(st.Credentials.AccessKeyId)
	_, err := e.s.AssumeRole(e.ctx, sess, AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: "chained", DurationSeconds: &d})
	wantCode(t, err, "ValidationError")
	if !strings.Contains(err.Error(), "1 hour session limit for roles assumed by role chaining") {
		t.Fatal(err)
	}
	h := 3600
	out := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, sess, AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: "chained", DurationSeconds: &h}))
	if out.Credentials.Expiration != e.clock.Now().Add(time.Hour).Format(timeFormat) {
		t.Fatal(out.Credentials.Expiration)
	}
}

// UpdateRole, UpdateRoleDescription and UpdateAssumeRolePolicy (InvalidAction before):
// the changes are replicated, survive a restart, and a new trust policy decides
// AssumeRole at once.
func TestUpdateRole(t *testing.T) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	role := must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "R", Description: "old",
		AssumeRolePolicyDocument: trustDoc(alice.Principal.ARN, ""), Tags: []Tag{{"k", "v"}}}))
	must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: "sa"}))

	d := 7200
	must[*UpdateRoleOutput](t)(e.s.UpdateRole(e.ctx, e.root, UpdateRoleInput{RoleName: "r", Description: "new", MaxSessionDuration: &d}))
	got := must[*GetRoleOutput](t)(e.s.GetRole(e.ctx, e.root, RoleNameInput{RoleName: "R"})).Role
	if got.Description != "new" || got.MaxSessionDuration != 7200 || got.RoleId != role.Role.RoleId || got.Tags == nil {
		t.Fatalf("%+v", got)
	}
	// Without parameters nothing changes.
	must[*UpdateRoleOutput](t)(e.s.UpdateRole(e.ctx, e.root, UpdateRoleInput{RoleName: "R"}))
	if got := must[*GetRoleOutput](t)(e.s.GetRole(e.ctx, e.root, RoleNameInput{RoleName: "R"})).Role; got.Description != "new" || got.MaxSessionDuration != 7200 {
		t.Fatalf("%+v", got)
	}
	out := must[*GetRoleOutput](t)(e.s.UpdateRoleDescription(e.ctx, e.root, UpdateRoleDescriptionInput{RoleName: "R", Description: ""}))
	if out.Role.Description != "" || out.Role.MaxSessionDuration != 7200 {
		t.Fatalf("%+v", out.Role)
	}

	if err := e.s.UpdateAssumeRolePolicy(e.ctx, e.root, UpdateAssumeRolePolicyInput{RoleName: "R", PolicyDocument: trustDoc(bob.Principal.ARN, "")}); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: "sa"})
	wantCode(t, err, "AccessDenied")
	must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, bob, AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: "sb", DurationSeconds: &d}))

	// Errors, and nothing changed by them.
	bad := 43201
	_, err = e.s.UpdateRole(e.ctx, e.root, UpdateRoleInput{RoleName: "R", MaxSessionDuration: &bad})
	wantCode(t, err, "ValidationError")
	_, err = e.s.UpdateRole(e.ctx, e.root, UpdateRoleInput{RoleName: "Nope", Description: "x"})
	wantCode(t, err, "NoSuchEntity")
	_, err = e.s.UpdateRole(e.ctx, e.root, UpdateRoleInput{RoleName: "R", Description: strings.Repeat("d", 1001)})
	wantCode(t, err, "ValidationError")
	wantCode(t, e.s.UpdateAssumeRolePolicy(e.ctx, e.root, UpdateAssumeRolePolicyInput{RoleName: "R", PolicyDocument: "{"}), "MalformedPolicyDocument")
	wantCode(t, e.s.UpdateAssumeRolePolicy(e.ctx, e.root, UpdateAssumeRolePolicyInput{RoleName: "R", PolicyDocument: allowKMSRead}), "MalformedPolicyDocument")
	wantCode(t, e.s.UpdateAssumeRolePolicy(e.ctx, e.root, UpdateAssumeRolePolicyInput{RoleName: "R"}), "ValidationError")
	wantCode(t, e.s.UpdateAssumeRolePolicy(e.ctx, e.root, UpdateAssumeRolePolicyInput{RoleName: "Nope", PolicyDocument: trustDoc(bob.Principal.ARN, "")}), "NoSuchEntity")

	e.restart()
	got = must[*GetRoleOutput](t)(e.s.GetRole(e.ctx, e.root, RoleNameInput{RoleName: "R"})).Role
	if got.MaxSessionDuration != 7200 || got.AssumeRolePolicyDocument != urlEncode(trustDoc(bob.Principal.ARN, "")) || got.Description != "" {
		t.Fatalf("%+v", got)
	}
	for _, op := range []string{"UpdateRole", "UpdateRoleDescription", "UpdateAssumeRolePolicy"} {
		if Operations()[op] == nil {
			t.Fatal(op)
		}
	}
}

// SourceIdentity: its pattern is validated, setting it needs sts:SetSourceIdentity in the
// trust policy, and it persists across chained sessions without being changeable.
func TestSourceIdentity(t *testing.T) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	plain := must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "Plain", AssumeRolePolicyDocument: trustDoc(alice.Principal.ARN, "")}))
	withSI := func(name, principal string) string {
		doc := strings.Replace(trustDoc(principal, ""), `"sts:AssumeRole"`, `["sts:AssumeRole","sts:SetSourceIdentity"]`, 1)
		return must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: name, AssumeRolePolicyDocument: doc})).Role.Arn
	}
	first := withSI("First", alice.Principal.ARN)
	second := withSI("Second", "arn:aws:sts::"+acct+":assumed-role/First/s1")

	_, err := e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: plain.Role.Arn, RoleSessionName: "s1", SourceIdentity: "alice"})
	wantCode(t, err, "AccessDenied")
	for _, bad := range []string{"bad identity!", "a", "aws:x", strings.Repeat("x", 65)} {
		_, err = e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: first, RoleSessionName: "s1", SourceIdentity: bad})
		wantCode(t, err, "ValidationError")
	}
	_, err = e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: first, RoleSessionName: "s1", ExternalId: "has space"})
	wantCode(t, err, "ValidationError")

	out := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: first, RoleSessionName: "s1", SourceIdentity: "alice@example.com"}))
	if out.SourceIdentity != "alice@example.com" {
		t.Fatalf("%+v", out)
	}
	sess := e.callerFor(out.Credentials.AccessKeyId)
	// Chained: inherited without asking, and not changeable.
	chained := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, sess, AssumeRoleInput{RoleArn: second, RoleSessionName: "s2"}))
	if chained.SourceIdentity != "alice@example.com" {
		t.Fatalf("%+v", chained)
	}
	if _, p, ok := e.s.Lookup(chained.Credentials.AccessKeyId); !ok || p.SourceIdentity != "alice@example.com" {
		t.Fatalf("%+v", p)
	}
	_, err = e.s.AssumeRole(e.ctx, sess, AssumeRoleInput{RoleArn: second, RoleSessionName: "s3", SourceIdentity: "mallory"})
	wantCode(t, err, "AccessDenied")
}

// IAM policies take only alphanumeric Sids (KMS key policies, parsed by the same
// package, take any).
func TestPolicySidAlphanumeric(t *testing.T) {
	e := newTestEnv(t)
	doc := func(sid string) string {
		return `{"Version":"2012-10-17","Statement":[{"Sid":"` + sid + `","Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`
	}
	_, err := e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p", PolicyDocument: doc("has space")})
	wantCode(t, err, "MalformedPolicyDocument")
	_, err = e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p", PolicyDocument: doc("a-b")})
	wantCode(t, err, "MalformedPolicyDocument")
	must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p", PolicyDocument: doc("AllowEncrypt1")}))
	trust := `{"Version":"2012-10-17","Statement":[{"Sid":"trust me","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
	_, err = e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trust})
	wantCode(t, err, "MalformedPolicyDocument")
}

func TestListPoliciesUsageFilterEnum(t *testing.T) {
	e := newTestEnv(t)
	_, err := e.s.ListPolicies(e.ctx, e.root, ListPoliciesInput{PolicyUsageFilter: "Bogus"})
	wantCode(t, err, "ValidationError")
	for _, f := range []string{"", "PermissionsPolicy", "PermissionsBoundary"} {
		must[*ListPoliciesOutput](t)(e.s.ListPolicies(e.ctx, e.root, ListPoliciesInput{PolicyUsageFilter: f}))
	}
}

func TestListAccountAliases(t *testing.T) {
	e := newTestEnv(t)
	out, err := Operations()["ListAccountAliases"](e.s, e.ctx, e.root, []byte("Action=ListAccountAliases&Version=2010-05-08"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := xml.Marshal(out); string(b) != "<ListAccountAliasesOutput><AccountAliases></AccountAliases><IsTruncated>false</IsTruncated></ListAccountAliasesOutput>" {
		t.Fatal(string(b))
	}
	_, err = e.s.ListAccountAliases(e.ctx, e.root, ListAccountAliasesInput{MaxItems: 1001})
	wantCode(t, err, "ValidationError")
}

// ListEntitiesForPolicy (InvalidAction before): who a managed policy is attached to.
func TestListEntitiesForPolicy(t *testing.T) {
	e := newTestEnv(t)
	admin := "arn:aws:iam::aws:policy/AdministratorAccess"
	e.user("bob")
	e.user("alice")
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "R", Path: "/svc/", AssumeRolePolicyDocument: trustDoc("arn:aws:iam::"+acct+":root", "")}))
	g := must[*CreateGroupOutput](t)(e.s.CreateGroup(e.ctx, e.root, CreateGroupInput{GroupName: "G"}))
	for _, a := range []struct{ kind, name string }{{kindUser, "bob"}, {kindUser, "alice"}, {kindRole, "R"}, {kindGroup, "G"}} {
		in := AttachPolicyInput{PolicyArn: admin}
		switch a.kind {
		case kindUser:
			in.UserName = a.name
		case kindRole:
			in.RoleName = a.name
		default:
			in.GroupName = a.name
		}
		if err := e.s.attach(e.ctx, e.root, a.kind, in, false); err != nil {
			t.Fatal(err)
		}
	}
	out := must[*ListEntitiesForPolicyOutput](t)(e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: admin}))
	if len(out.PolicyGroups) != 1 || out.PolicyGroups[0] != (PolicyGroup{"G", g.Group.GroupId}) ||
		len(out.PolicyUsers) != 2 || out.PolicyUsers[0].UserName != "alice" || out.PolicyUsers[1].UserName != "bob" ||
		len(out.PolicyRoles) != 1 || out.PolicyRoles[0].RoleName != "R" || out.IsTruncated {
		t.Fatalf("%+v", out)
	}
	// Pages span the lists.
	p1 := must[*ListEntitiesForPolicyOutput](t)(e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: admin, MaxItems: 2}))
	p2 := must[*ListEntitiesForPolicyOutput](t)(e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: admin, MaxItems: 2, Marker: p1.Marker}))
	if !p1.IsTruncated || len(p1.PolicyGroups) != 1 || len(p1.PolicyUsers) != 1 || p2.IsTruncated || len(p2.PolicyUsers) != 1 || len(p2.PolicyRoles) != 1 {
		t.Fatalf("%+v %+v", p1, p2)
	}
	for f, want := range map[string]int{"User": 2, "Role": 1, "Group": 1, "AWSManagedPolicy": 4, "LocalManagedPolicy": 0} {
		o := must[*ListEntitiesForPolicyOutput](t)(e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: admin, EntityFilter: f}))
		if n := len(o.PolicyGroups) + len(o.PolicyUsers) + len(o.PolicyRoles); n != want {
			t.Errorf("%s: %d", f, n)
		}
	}
	o := must[*ListEntitiesForPolicyOutput](t)(e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: admin, PathPrefix: "/svc/"}))
	if len(o.PolicyRoles) != 1 || len(o.PolicyUsers) != 0 {
		t.Fatalf("%+v", o)
	}
	b, _ := xml.Marshal(must[*ListEntitiesForPolicyOutput](t)(e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: admin, PolicyUsageFilter: "PermissionsBoundary"})))
	if string(b) != "<ListEntitiesForPolicyOutput><PolicyGroups></PolicyGroups><PolicyUsers></PolicyUsers><PolicyRoles></PolicyRoles><IsTruncated>false</IsTruncated></ListEntitiesForPolicyOutput>" {
		t.Fatal(string(b))
	}
	_, err := e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: "arn:aws:iam::" + acct + ":policy/nope"})
	wantCode(t, err, "NoSuchEntity")
	_, err = e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: admin, EntityFilter: "Bogus"})
	wantCode(t, err, "ValidationError")
}
