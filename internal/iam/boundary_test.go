package iam

import (
	"net/url"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

func TestPermissionsBoundaryOperations(t *testing.T) {
	e := newTestEnv(t)
	enc := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "enc", PolicyDocument: policyDoc("kms:Encrypt")})).Policy.Arn
	u := must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "alice", PermissionsBoundary: enc}))
	want := &AttachedPermissionsBoundary{PermissionsBoundaryType: "PermissionsBoundaryPolicy", PermissionsBoundaryArn: enc}
	if b := u.User.PermissionsBoundary; b == nil || *b != *want {
		t.Fatalf("CreateUser: %+v", b)
	}
	if b := must[*GetUserOutput](t)(e.s.GetUser(e.ctx, e.root, GetUserInput{UserName: "alice"})).User.PermissionsBoundary; b == nil || *b != *want {
		t.Fatalf("GetUser: %+v", b)
	}
	if l := must[*ListUsersOutput](t)(e.s.ListUsers(e.ctx, e.root, ListInput{})); l.Users[0].PermissionsBoundary != nil {
		t.Fatalf("ListUsers answers the boundary: %+v", l.Users[0])
	}
	xmlOut := marshalResult(t, "GetUser", must[*GetUserOutput](t)(e.s.GetUser(e.ctx, e.root, GetUserInput{UserName: "alice"})))
	if !strings.Contains(xmlOut, "<PermissionsBoundary><PermissionsBoundaryType>PermissionsBoundaryPolicy</PermissionsBoundaryType><PermissionsBoundaryArn>"+enc+"</PermissionsBoundaryArn></PermissionsBoundary>") {
		t.Fatalf("GetUser XML: %s", xmlOut)
	}

	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc("arn:aws:iam::"+acct+":root", "")}))
	if r := must[*GetRoleOutput](t)(e.s.GetRole(e.ctx, e.root, RoleNameInput{RoleName: "r"})); r.Role.PermissionsBoundary != nil {
		t.Fatalf("role without boundary: %+v", r.Role.PermissionsBoundary)
	}
	if err := e.s.PutRolePermissionsBoundary(e.ctx, e.root, PutRolePermissionsBoundaryInput{RoleName: "r", PermissionsBoundary: "arn:aws:iam::aws:policy/ReadOnlyAccess"}); err != nil {
		t.Fatal(err)
	}
	if r := must[*GetRoleOutput](t)(e.s.GetRole(e.ctx, e.root, RoleNameInput{RoleName: "r"})); r.Role.PermissionsBoundary == nil || r.Role.PermissionsBoundary.PermissionsBoundaryArn != "arn:aws:iam::aws:policy/ReadOnlyAccess" {
		t.Fatalf("GetRole: %+v", r.Role.PermissionsBoundary)
	}
	if err := e.s.PutRolePermissionsBoundary(e.ctx, e.root, PutRolePermissionsBoundaryInput{RoleName: "r", PermissionsBoundary: enc}); err != nil {
		t.Fatal(err)
	}

	// Usage: GetPolicy, ListPolicies, ListEntitiesForPolicy, DeletePolicy.
	if p := must[*PolicyOutput](t)(e.s.GetPolicy(e.ctx, e.root, PolicyArnInput{PolicyArn: enc})).Policy; p.PermissionsBoundaryUsageCount != 2 || p.AttachmentCount != 0 {
		t.Fatalf("GetPolicy: %+v", p)
	}
	lp := must[*ListPoliciesOutput](t)(e.s.ListPolicies(e.ctx, e.root, ListPoliciesInput{Scope: "Local"}))
	if len(lp.Policies) != 1 || lp.Policies[0].PermissionsBoundaryUsageCount != 2 {
		t.Fatalf("ListPolicies: %+v", lp.Policies)
	}
	if _, err := Operations()["AttachUserPolicy"](e.s, e.ctx, e.root, []byte("UserName=alice&PolicyArn="+url.QueryEscape(enc))); err != nil {
		t.Fatal(err)
	}
	entities := func(filter string) (users, roles int) {
		t.Helper()
		out := must[*ListEntitiesForPolicyOutput](t)(e.s.ListEntitiesForPolicy(e.ctx, e.root, ListEntitiesForPolicyInput{PolicyArn: enc, PolicyUsageFilter: filter}))
		return len(out.PolicyUsers), len(out.PolicyRoles)
	}
	for filter, want := range map[string][2]int{"PermissionsBoundary": {1, 1}, "PermissionsPolicy": {1, 0}, "": {1, 1}} {
		if u, r := entities(filter); u != want[0] || r != want[1] {
			t.Errorf("ListEntitiesForPolicy %q: %d users, %d roles, want %v", filter, u, r, want)
		}
	}
	if _, err := Operations()["DetachUserPolicy"](e.s, e.ctx, e.root, []byte("UserName=alice&PolicyArn="+url.QueryEscape(enc))); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.s.DeletePolicy(e.ctx, e.root, PolicyArnInput{PolicyArn: enc}), "DeleteConflict")

	// GetAccountAuthorizationDetails.
	ad := must[*GetAccountAuthorizationDetailsOutput](t)(e.s.GetAccountAuthorizationDetails(e.ctx, e.root, GetAccountAuthorizationDetailsInput{}))
	if b := ad.UserDetailList.Members[0].PermissionsBoundary; b == nil || b.PermissionsBoundaryArn != enc {
		t.Fatalf("UserDetail: %+v", b)
	}
	if b := ad.RoleDetailList.Members[0].PermissionsBoundary; b == nil || b.PermissionsBoundaryArn != enc {
		t.Fatalf("RoleDetail: %+v", b)
	}
	if p := ad.Policies.Members[0]; p.PermissionsBoundaryUsageCount != 2 {
		t.Fatalf("ManagedPolicyDetail: %+v", p.Policy)
	}

	// Replicated state: the boundaries survive a restart.
	e.restart()
	if b := must[*GetUserOutput](t)(e.s.GetUser(e.ctx, e.root, GetUserInput{UserName: "alice"})).User.PermissionsBoundary; b == nil || b.PermissionsBoundaryArn != enc {
		t.Fatalf("GetUser after restart: %+v", b)
	}

	// Removing them frees the policy.
	if err := e.s.DeleteUserPermissionsBoundary(e.ctx, e.root, UserNameInput{UserName: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteRolePermissionsBoundary(e.ctx, e.root, RoleNameInput{RoleName: "r"}); err != nil {
		t.Fatal(err)
	}
	if b := must[*GetUserOutput](t)(e.s.GetUser(e.ctx, e.root, GetUserInput{UserName: "alice"})).User.PermissionsBoundary; b != nil {
		t.Fatalf("GetUser after delete: %+v", b)
	}
	if p := must[*PolicyOutput](t)(e.s.GetPolicy(e.ctx, e.root, PolicyArnInput{PolicyArn: enc})).Policy; p.PermissionsBoundaryUsageCount != 0 {
		t.Fatalf("GetPolicy after delete: %+v", p)
	}
	if err := e.s.DeletePolicy(e.ctx, e.root, PolicyArnInput{PolicyArn: enc}); err != nil {
		t.Fatalf("DeletePolicy of a policy no longer a boundary: %v", err)
	}
}

func TestPermissionsBoundaryValidation(t *testing.T) {
	e := newTestEnv(t)
	missing := "arn:aws:iam::" + acct + ":policy/nope"
	_, err := e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "u", PermissionsBoundary: missing})
	wantCode(t, err, "NoSuchEntity")
	_, err = e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc("arn:aws:iam::"+acct+":root", ""), PermissionsBoundary: missing})
	wantCode(t, err, "InvalidInput")
	_, err = e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "u", PermissionsBoundary: "arn:aws:s3:::bucket/with/a/long/name"})
	wantCode(t, err, "InvalidInput")
	if msg := AsError(err).Message; msg != "Value (arn:aws:s3:::bucket/with/a/long/name) for parameter PermissionsBoundary is invalid." {
		t.Fatalf("message %q", msg)
	}
	_, err = e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "u", PermissionsBoundary: "arn:aws:iam::1"})
	wantCode(t, err, "ValidationError")
	// A policy of another account is not found.
	_, err = e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "u", PermissionsBoundary: "arn:aws:iam::444455556666:policy/p"})
	wantCode(t, err, "NoSuchEntity")
	if _, err := e.s.GetUser(e.ctx, e.root, GetUserInput{UserName: "u"}); err == nil {
		t.Fatal("a refused CreateUser created the user")
	}

	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "u"}))
	wantCode(t, e.s.PutUserPermissionsBoundary(e.ctx, e.root, PutUserPermissionsBoundaryInput{UserName: "u"}), "ValidationError")
	wantCode(t, e.s.PutUserPermissionsBoundary(e.ctx, e.root, PutUserPermissionsBoundaryInput{UserName: "u", PermissionsBoundary: missing}), "NoSuchEntity")
	wantCode(t, e.s.PutUserPermissionsBoundary(e.ctx, e.root, PutUserPermissionsBoundaryInput{UserName: "nobody", PermissionsBoundary: "arn:aws:iam::aws:policy/ReadOnlyAccess"}), "NoSuchEntity")
	wantCode(t, e.s.PutRolePermissionsBoundary(e.ctx, e.root, PutRolePermissionsBoundaryInput{RoleName: "nobody", PermissionsBoundary: "arn:aws:iam::aws:policy/ReadOnlyAccess"}), "NoSuchEntity")
	wantCode(t, e.s.DeleteUserPermissionsBoundary(e.ctx, e.root, UserNameInput{UserName: "nobody"}), "NoSuchEntity")
	wantCode(t, e.s.DeleteRolePermissionsBoundary(e.ctx, e.root, RoleNameInput{RoleName: "nobody"}), "NoSuchEntity")
	// Removing a boundary a user does not have is accepted.
	if err := e.s.DeleteUserPermissionsBoundary(e.ctx, e.root, UserNameInput{UserName: "u"}); err != nil {
		t.Fatal(err)
	}
	// The query decoder and the dispatch table.
	if _, err := Operations()["PutUserPermissionsBoundary"](e.s, e.ctx, e.root, []byte("UserName=u&PermissionsBoundary="+url.QueryEscape("arn:aws:iam::aws:policy/ReadOnlyAccess"))); err != nil {
		t.Fatal(err)
	}
	if b := must[*GetUserOutput](t)(e.s.GetUser(e.ctx, e.root, GetUserInput{UserName: "u"})).User.PermissionsBoundary; b == nil {
		t.Fatal("PutUserPermissionsBoundary through the dispatch table set nothing")
	}
}

// A user's effective permissions are its identity policies ∩ its boundary; a role session's
// are the role's identity policies ∩ the role's boundary ∩ the session policies.
func TestPermissionsBoundaryEvaluation(t *testing.T) {
	e, alice, roleArn := sessionEnv(t)
	enc := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "enc",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:DescribeKey","sts:*"],"Resource":"*"}]}`})).Policy.Arn
	if _, err := Operations()["PutUserPolicy"](e.s, e.ctx, e.root, []byte("UserName=alice&PolicyName=all&PolicyDocument="+url.QueryEscape(policyDoc("kms:*")))); err != nil {
		t.Fatal(err)
	}
	if d := decide(t, e, alice, "kms:Decrypt"); !d.Allowed {
		t.Fatalf("before the boundary: %+v", d)
	}
	if err := e.s.PutUserPermissionsBoundary(e.ctx, e.root, PutUserPermissionsBoundaryInput{UserName: "alice", PermissionsBoundary: enc}); err != nil {
		t.Fatal(err)
	}
	if d := decide(t, e, alice, "kms:Encrypt"); !d.Allowed {
		t.Fatalf("Encrypt: %+v", d)
	}
	if d := decide(t, e, alice, "kms:Decrypt"); d.Allowed || d.Matched.Set != policy.BoundarySet {
		t.Fatalf("Decrypt: %+v, want denied by the boundary", d)
	}
	// The boundary grants nothing: iam:ListUsers is in neither.
	if d := decide(t, e, alice, "iam:ListUsers"); d.Allowed || d.Matched.Set != policy.IdentitySet {
		t.Fatalf("ListUsers: %+v", d)
	}
	// A new default version of the boundary policy applies at once.
	must[*CreatePolicyVersionOutput](t)(e.s.CreatePolicyVersion(e.ctx, e.root, CreatePolicyVersionInput{PolicyArn: enc,
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","sts:*"],"Resource":"*"}]}`, SetAsDefault: true}))
	if d := decide(t, e, alice, "kms:Decrypt"); !d.Allowed {
		t.Fatalf("Decrypt with the new default version: %+v", d)
	}

	// A role with a boundary, assumed with a session policy.
	rb := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "rb", PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`})).Policy.Arn
	if err := e.s.PutRolePermissionsBoundary(e.ctx, e.root, PutRolePermissionsBoundaryInput{RoleName: "App", PermissionsBoundary: rb}); err != nil {
		t.Fatal(err)
	}
	out := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "s1",
		Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:DescribeKey"],"Resource":"*"}]}`}))
	sess := e.callerFor(out.Credentials.AccessKeyId)
	for action, set := range map[string]policy.PolicySet{"kms:Decrypt": policy.SessionSet, "kms:DescribeKey": policy.BoundarySet, "kms:ListKeys": policy.BoundarySet} {
		if d := decide(t, e, sess, action); d.Allowed || d.Matched.Set != set {
			t.Errorf("session %s: %+v, want denied by set %d", action, d, set)
		}
	}
	if d := decide(t, e, sess, "kms:Encrypt"); !d.Allowed {
		t.Errorf("session Encrypt: %+v", d)
	}
	// The boundary is the role's: a session without session policy is limited by it too.
	plain := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "p1"}))
	if d := decide(t, e, e.callerFor(plain.Credentials.AccessKeyId), "kms:ListKeys"); d.Allowed || d.Matched.Set != policy.BoundarySet {
		t.Errorf("plain session ListKeys: %+v", d)
	}
	// The same-account trust check uses the caller's policies with its boundary: a
	// boundary without sts:AssumeRole stops it.
	noSTS := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "nosts", PolicyDocument: policyDoc("kms:*")})).Policy.Arn
	if err := e.s.PutUserPermissionsBoundary(e.ctx, e.root, PutUserPermissionsBoundaryInput{UserName: "alice", PermissionsBoundary: noSTS}); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "x1"})
	wantCode(t, err, "AccessDenied")
}

func TestBoundaryConditionKeys(t *testing.T) {
	e := newTestEnv(t)
	ro := "arn:aws:iam::aws:policy/ReadOnlyAccess"
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "u", PermissionsBoundary: ro}))
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "free"}))
	for _, tc := range []struct{ op, body, want string }{
		{"CreateUser", "UserName=x&PermissionsBoundary=" + url.QueryEscape(ro), ro},
		{"CreateRole", "RoleName=x&PermissionsBoundary=arn%3Aaws%3Aiam%3A%3A111122223333%3Apolicy%2Fb", "arn:aws:iam::111122223333:policy/b"},
		{"PutUserPermissionsBoundary", "UserName=free&PermissionsBoundary=" + url.QueryEscape(ro), ro},
		{"AttachUserPolicy", "UserName=u&PolicyArn=x", ro},
		{"PutUserPolicy", "UserName=u", ro},
		{"DeleteUserPermissionsBoundary", "UserName=u", ro},
		{"AttachUserPolicy", "UserName=free&PolicyArn=x", ""},
		{"CreateUser", "UserName=x", ""},
		{"GetUser", "UserName=u", ""},
	} {
		got := e.s.BoundaryConditionKeys(acct, tc.op, []byte(tc.body))["iam:PermissionsBoundary"]
		if (tc.want == "" && got != nil) || (tc.want != "" && (len(got) != 1 || got[0] != tc.want)) {
			t.Errorf("%s %s: %v, want %q", tc.op, tc.body, got, tc.want)
		}
	}
}
