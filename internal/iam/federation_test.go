package iam

import (
	"net/url"
	"testing"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

func TestGetFederationToken(t *testing.T) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	if _, err := Operations()["PutUserPolicy"](e.s, e.ctx, e.root, []byte("UserName=alice&PolicyName=p&PolicyDocument="+url.QueryEscape(policyDoc("kms:*")))); err != nil {
		t.Fatal(err)
	}
	out := must[*GetFederationTokenOutput](t)(e.s.GetFederationToken(e.ctx, alice, GetFederationTokenInput{Name: "bob", Policy: policyDoc("kms:Encrypt")}))
	if out.FederatedUser.Arn != "arn:aws:sts::"+acct+":federated-user/bob" || out.FederatedUser.FederatedUserId != acct+":bob" ||
		out.PackedPolicySize == nil || out.Credentials.Expiration != e.clock.Now().Add(12*3600e9).Format(timeFormat) {
		t.Fatalf("%+v", out)
	}
	fed := e.callerFor(out.Credentials.AccessKeyId)
	if fed.Principal.Type != "FederatedUser" || fed.Principal.ARN != out.FederatedUser.Arn {
		t.Fatalf("principal %+v", fed.Principal)
	}
	who := must[*GetCallerIdentityOutput](t)(e.s.GetCallerIdentity(e.ctx, fed, GetCallerIdentityInput{}))
	if who.Arn != out.FederatedUser.Arn || who.UserId != acct+":bob" {
		t.Fatalf("GetCallerIdentity %+v", who)
	}
	// The user's policies ∩ the session policy.
	if d := decide(t, e, fed, "kms:Encrypt"); !d.Allowed {
		t.Fatalf("Encrypt: %+v", d)
	}
	if d := decide(t, e, fed, "kms:Decrypt"); d.Allowed || d.Matched.Set != policy.SessionSet {
		t.Fatalf("Decrypt: %+v", d)
	}
	// A session policy beyond the user's policies grants nothing.
	wide := must[*GetFederationTokenOutput](t)(e.s.GetFederationToken(e.ctx, alice, GetFederationTokenInput{Name: "wide", Policy: policyDoc("*")}))
	if d := decide(t, e, e.callerFor(wide.Credentials.AccessKeyId), "iam:ListUsers"); d.Allowed {
		t.Fatalf("ListUsers beyond the user's policies: %+v", d)
	}
	// Without session policies, nothing.
	none := must[*GetFederationTokenOutput](t)(e.s.GetFederationToken(e.ctx, alice, GetFederationTokenInput{Name: "none"}))
	if none.PackedPolicySize != nil {
		t.Fatalf("PackedPolicySize without policies: %d", *none.PackedPolicySize)
	}
	if d := decide(t, e, e.callerFor(none.Credentials.AccessKeyId), "kms:Encrypt"); d.Allowed {
		t.Fatalf("Encrypt without session policy: %+v", d)
	}
	// The user's permissions boundary applies to its federated users.
	if err := e.s.PutUserPermissionsBoundary(e.ctx, e.root, PutUserPermissionsBoundaryInput{UserName: "alice", PermissionsBoundary: "arn:aws:iam::aws:policy/ReadOnlyAccess"}); err != nil {
		t.Fatal(err)
	}
	if d := decide(t, e, fed, "kms:Encrypt"); d.Allowed || d.Matched.Set != policy.BoundarySet {
		t.Fatalf("Encrypt under the user's boundary: %+v", d)
	}
	// The root's federated users: the session policies decide.
	rootFed := must[*GetFederationTokenOutput](t)(e.s.GetFederationToken(e.ctx, e.root, GetFederationTokenInput{Name: "ops", Policy: policyDoc("iam:ListUsers"), DurationSeconds: new(7200)}))
	if rootFed.Credentials.Expiration != e.clock.Now().Add(3600e9).Format(timeFormat) {
		t.Fatalf("root federation lasts %s", rootFed.Credentials.Expiration)
	}
	rf := e.callerFor(rootFed.Credentials.AccessKeyId)
	if d := decide(t, e, rf, "iam:ListUsers"); !d.Allowed {
		t.Fatalf("root federated ListUsers: %+v", d)
	}
	if d := decide(t, e, rf, "iam:CreateUser"); d.Allowed {
		t.Fatalf("root federated CreateUser: %+v", d)
	}

	// Refusals: session credentials, bad names and durations; federated users call
	// neither AssumeRole nor IAM.
	_, err := e.s.GetFederationToken(e.ctx, fed, GetFederationTokenInput{Name: "again"})
	wantCode(t, err, "AccessDenied")
	_, err = e.s.GetFederationToken(e.ctx, alice, GetFederationTokenInput{Name: "b"})
	wantCode(t, err, "ValidationError")
	_, err = e.s.GetFederationToken(e.ctx, alice, GetFederationTokenInput{Name: "bob", DurationSeconds: new(129601)})
	wantCode(t, err, "ValidationError")
	_, err = e.s.GetFederationToken(e.ctx, alice, GetFederationTokenInput{Name: "bob", PolicyArns: []PolicyDescriptor{{"arn:aws:iam::" + acct + ":policy/nope"}}})
	wantCode(t, err, "MalformedPolicyDocument")
	_, err = e.s.GetFederationToken(e.ctx, alice, GetFederationTokenInput{Name: "bob", Tags: []Tag{{"k", "v"}}})
	wantCode(t, err, "AccessDenied") // sts:TagSession is not allowed
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc(fed.Principal.ARN, "")}))
	_, err = e.s.AssumeRole(e.ctx, fed, AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/r", RoleSessionName: "s1"})
	wantCode(t, err, "AccessDenied")
	_, err = Operations()["ListUsers"](e.s, e.ctx, fed, nil)
	wantCode(t, err, "InvalidClientTokenId")

	// The session (and its policy) survives a restart.
	e.restart()
	if d := decide(t, e, e.callerFor(out.Credentials.AccessKeyId), "kms:Decrypt"); d.Allowed {
		t.Fatalf("Decrypt after restart: %+v", d)
	}
}

// TestFederatedUserFollowsRename: a federated user's session stays the session of the IAM
// user that made it when that user is renamed (as GetSessionToken's sessions do): it
// keeps that user's policies, and does not get those of a new user given the old name.
func TestFederatedUserFollowsRename(t *testing.T) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	put := func(user, action string) {
		t.Helper()
		if _, err := Operations()["PutUserPolicy"](e.s, e.ctx, e.root, []byte("UserName="+user+"&PolicyName=p&PolicyDocument="+url.QueryEscape(policyDoc(action)))); err != nil {
			t.Fatal(err)
		}
	}
	put("alice", "kms:Encrypt")
	out := must[*GetFederationTokenOutput](t)(e.s.GetFederationToken(e.ctx, alice, GetFederationTokenInput{Name: "bob", Policy: policyDoc("*")}))
	fed := e.callerFor(out.Credentials.AccessKeyId)
	if err := e.s.UpdateUser(e.ctx, e.root, UpdateUserInput{UserName: "alice", NewUserName: "alice2", NewPath: "/moved/"}); err != nil {
		t.Fatal(err)
	}
	e.user("alice")
	put("alice", "*")
	if d := decide(t, e, fed, "kms:Encrypt"); !d.Allowed {
		t.Fatalf("Encrypt after the rename: %+v", d)
	}
	if d := decide(t, e, fed, "iam:CreateUser"); d.Allowed {
		t.Fatalf("CreateUser with the policies of the new alice: %+v", d)
	}
	e.restart()
	if d := decide(t, e, e.callerFor(out.Credentials.AccessKeyId), "iam:CreateUser"); d.Allowed {
		t.Fatalf("CreateUser after a restart: %+v", d)
	}
}
