package iam

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSessionsBoundToUniqueID: temporary credentials act for the user or role with the
// unique ID they were made for. Deleted and created again with the same name (another
// entity, a new ID), the old sessions (AssumeRole, GetSessionToken, GetFederationToken)
// are refused wherever a request is authenticated or authorized (Lookup, SessionInfo,
// RequestPolicies) rather than taking the new entity's policies; a renamed user's keep
// working; the ID survives a restart.
func TestSessionsBoundToUniqueID(t *testing.T) {
	e, alice, roleArn := sessionEnv(t)
	op := func(name, body string) {
		t.Helper()
		if _, err := Operations()[name](e.s, e.ctx, e.root, []byte(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	assume := func(c Caller) string {
		t.Helper()
		return must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, c, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "s1"})).Credentials.AccessKeyId
	}
	role := assume(alice)
	gst := must[*GetSessionTokenOutput](t)(e.s.GetSessionToken(e.ctx, alice, GetSessionTokenInput{})).Credentials.AccessKeyId
	fed := must[*GetFederationTokenOutput](t)(e.s.GetFederationToken(e.ctx, alice, GetFederationTokenInput{Name: "bob", Policy: policyDoc("*")})).Credentials.AccessKeyId
	live := func(akid string) bool {
		t.Helper()
		_, _, ok := e.s.Lookup(akid)
		_, info := e.s.SessionInfo(akid)
		_, err := e.s.RequestPolicies("arn:aws:sts::"+acct+":assumed-role/App/s1", akid)
		if ok != info || ok != (err == nil) {
			t.Fatalf("%s: Lookup %v, SessionInfo %v, RequestPolicies %v disagree", akid, ok, info, err)
		}
		if err != nil {
			wantCode(t, err, "InvalidClientTokenId")
		}
		return ok
	}
	for _, k := range []string{role, gst, fed} {
		if !live(k) {
			t.Fatalf("%s refused before any change", k)
		}
	}
	if d := decide(t, e, e.callerFor(role), "kms:Encrypt"); !d.Allowed {
		t.Fatalf("role session Encrypt: %+v", d)
	}

	// The role deleted and created again with the same name, trust and policies.
	op("DeleteRolePolicy", "RoleName=App&PolicyName=inline")
	op("DeleteRole", "RoleName=App")
	if live(role) {
		t.Fatal("the session of a deleted role is accepted")
	}
	// In the same second: only the unique ID tells the new role from the old.
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "App",
		AssumeRolePolicyDocument: strings.Replace(trustDoc("arn:aws:iam::"+acct+":root", ""), `"sts:AssumeRole"`, `["sts:AssumeRole","sts:TagSession"]`, 1)}))
	if err := e.s.PutRolePolicyForTest("App", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*"],"Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	if live(role) {
		t.Fatal("the old session of a role created again with its name is accepted")
	}
	newRole := assume(alice)
	if !live(newRole) {
		t.Fatal("a session of the new role is refused")
	}

	// A rename keeps the unique ID: the user's sessions keep working.
	if err := e.s.UpdateUser(e.ctx, e.root, UpdateUserInput{UserName: "alice", NewUserName: "alice2"}); err != nil {
		t.Fatal(err)
	}
	if !live(gst) || !live(fed) {
		t.Fatal("a renamed user's sessions are refused")
	}

	// The restart (snapshot and log replay) keeps the IDs.
	e.restart()
	if !live(gst) || !live(fed) || !live(newRole) || live(role) {
		t.Fatal("sessions changed across a restart")
	}
	if x := e.s.sessions[newRole]; x == nil || x.EntityID == "" || !strings.HasPrefix(x.EntityID, "AROA") {
		t.Fatalf("the new role session's EntityID after a restart: %+v", x)
	}

	// The user deleted and created again with the same name (and the same policies).
	akid := alice.Principal.AccessKeyID
	op("DeleteAccessKey", "UserName=alice2&AccessKeyId="+akid)
	op("DeleteUserPolicy", "UserName=alice2&PolicyName=p")
	op("DeleteUser", "UserName=alice2")
	e.user("alice2")
	op("PutUserPolicy", "UserName=alice2&PolicyName=p&PolicyDocument="+url.QueryEscape(policyDoc("*")))
	if live(gst) {
		t.Fatal("the GetSessionToken session of a user created again with its name is accepted")
	}
	if live(fed) {
		t.Fatal("the federated user of a user created again with its name is accepted")
	}
}

// TestLegacySessionsWithoutEntityID: sessions made by an earlier Coffer carry no EntityID.
// They are refused when the entity their name now designates was created after them (or,
// for GetSessionToken's and AssumeRole's, has another ID than their UserID's).
func TestLegacySessionsWithoutEntityID(t *testing.T) {
	e, alice, roleArn := sessionEnv(t)
	role := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "s1"})).Credentials.AccessKeyId
	fed := must[*GetFederationTokenOutput](t)(e.s.GetFederationToken(e.ctx, alice, GetFederationTokenInput{Name: "bob", Policy: policyDoc("*")})).Credentials.AccessKeyId
	for _, k := range []string{role, fed} {
		e.s.sessions[k].EntityID = "" // as an earlier Coffer recorded them
		if _, _, ok := e.s.Lookup(k); !ok {
			t.Fatalf("legacy session %s refused while its entity is unchanged", k)
		}
	}
	e.clock.Add(time.Second)
	if _, err := Operations()["DeleteAccessKey"](e.s, e.ctx, e.root, []byte("UserName=alice&AccessKeyId="+alice.Principal.AccessKeyID)); err != nil {
		t.Fatal(err)
	}
	if _, err := Operations()["DeleteUserPolicy"](e.s, e.ctx, e.root, []byte("UserName=alice&PolicyName=p")); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteUser(e.ctx, e.root, UserNameInput{UserName: "alice"}); err != nil {
		t.Fatal(err)
	}
	e.user("alice")
	if _, _, ok := e.s.Lookup(fed); ok {
		t.Fatal("a legacy federated session is accepted for a user created after it")
	}
	if _, err := Operations()["DeleteRolePolicy"](e.s, e.ctx, e.root, []byte("RoleName=App&PolicyName=inline")); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteRole(e.ctx, e.root, RoleNameInput{RoleName: "App"}); err != nil {
		t.Fatal(err)
	}
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "App", AssumeRolePolicyDocument: trustDoc("arn:aws:iam::"+acct+":root", "")}))
	if _, _, ok := e.s.Lookup(role); ok {
		t.Fatal("a legacy role session is accepted for a role created after it")
	}
}
