package main

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// TestIAMGuardAuthDetailsAndUpdateUser: the identity guard of the IAM query service
// decides GetAccountAuthorizationDetails (resource "*") and UpdateUser (the user as it is
// and as it will be).
func TestIAMGuardAuthDetailsAndUpdateUser(t *testing.T) {
	const acct = testAccount
	svc, _, run := iamTestService(t)
	ctx := context.Background()
	run("CreateUser", "UserName=auditor")
	run("CreateUser", "UserName=nobody")
	run("CreateUser", "UserName=tm&Path=%2Fteam%2F")
	allow := func(action, resource string) string {
		return url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"` + resource + `"}]}`)
	}
	run("PutUserPolicy", "UserName=auditor&PolicyName=a&PolicyDocument="+allow("iam:GetAccountAuthorizationDetails", "*"))
	run("PutUserPolicy", "UserName=nobody&PolicyName=a&PolicyDocument="+allow("iam:UpdateUser", "arn:aws:iam::"+acct+":user/team/*"))

	handlers := iamQueryService(svc, &identityAuthorizer{iam: svc, now: time.Now}).Operations
	call := func(user, op, body string) error {
		t.Helper()
		_, err := handlers[op](ctx, &awsproto.Call{Operation: op, Principal: testUser(user), Region: "us-east-1", Body: []byte(body)})
		return err
	}
	denied := func(err error, resource string) {
		t.Helper()
		var ae *awsproto.Error
		if !errors.As(err, &ae) || ae.Code != "AccessDenied" || !strings.Contains(ae.Message, "on resource: "+resource+" ") {
			t.Fatalf("want AccessDenied on %s, got %v", resource, err)
		}
	}
	if err := call("auditor", "GetAccountAuthorizationDetails", "Filter.member.1=User"); err != nil {
		t.Fatal(err)
	}
	denied(call("nobody", "GetAccountAuthorizationDetails", ""), "*")

	if err := call("nobody", "UpdateUser", "UserName=tm&NewUserName=tm2"); err != nil {
		t.Fatal(err)
	}
	denied(call("nobody", "UpdateUser", "UserName=tm2&NewPath=%2Fadmin%2F"), "arn:aws:iam::"+acct+":user/admin/tm2")
	denied(call("nobody", "UpdateUser", "UserName=auditor&NewPath=%2Fteam%2F"), "arn:aws:iam::"+acct+":user/auditor")
}

// TestIAMGuardSimulatePrincipalPolicySource: SimulatePrincipalPolicy and
// GetContextKeysForPrincipalPolicy are decided on the simulated entity's own ARN, not on
// the PolicySourceArn as given: the simulator finds the entity by name, so a made-up path
// or another case of the name must not escape statements scoped to the entity.
func TestIAMGuardSimulatePrincipalPolicySource(t *testing.T) {
	const acct = testAccount
	svc, _, run := iamTestService(t)
	ctx := context.Background()
	doc := func(stmts ...string) string {
		return url.QueryEscape(`{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`)
	}
	run("CreateUser", "UserName=admin")
	run("CreateUser", "UserName=dev1&Path=%2Fteam%2F")
	run("CreateUser", "UserName=teamlead")
	run("CreateUser", "UserName=auditor")
	run("PutUserPolicy", "UserName=admin&PolicyName=all&PolicyDocument="+doc(`{"Effect":"Allow","Action":"*","Resource":"*"}`))
	// teamlead may simulate the team's users only; auditor anyone but admin.
	run("PutUserPolicy", "UserName=teamlead&PolicyName=sim&PolicyDocument="+doc(
		`{"Effect":"Allow","Action":["iam:SimulatePrincipalPolicy","iam:GetContextKeysForPrincipalPolicy"],"Resource":"arn:aws:iam::`+acct+`:user/team/*"}`))
	run("PutUserPolicy", "UserName=auditor&PolicyName=sim&PolicyDocument="+doc(
		`{"Effect":"Allow","Action":"iam:SimulatePrincipalPolicy","Resource":"*"}`,
		`{"Effect":"Deny","Action":"iam:SimulatePrincipalPolicy","Resource":"arn:aws:iam::`+acct+`:user/admin"}`))

	handlers := iamQueryService(svc, &identityAuthorizer{iam: svc, now: time.Now}).Operations
	call := func(user, op, source string) error {
		t.Helper()
		body := "PolicySourceArn=" + url.QueryEscape(source)
		if op == "SimulatePrincipalPolicy" {
			body += "&ActionNames.member.1=kms%3ADecrypt"
		}
		_, err := handlers[op](ctx, &awsproto.Call{Operation: op, Principal: testUser(user), Region: "us-east-1", Body: []byte(body)})
		return err
	}
	adminARN := "arn:aws:iam::" + acct + ":user/admin"
	denied := func(err error) {
		t.Helper()
		var ae *awsproto.Error
		if !errors.As(err, &ae) || ae.Code != "AccessDenied" || !strings.Contains(ae.Message, "on resource: "+adminARN+" ") {
			t.Fatalf("want AccessDenied on %s, got %v", adminARN, err)
		}
	}
	// What each may do.
	if err := call("teamlead", "SimulatePrincipalPolicy", "arn:aws:iam::"+acct+":user/team/dev1"); err != nil {
		t.Fatal(err)
	}
	if err := call("auditor", "SimulatePrincipalPolicy", "arn:aws:iam::"+acct+":user/team/dev1"); err != nil {
		t.Fatal(err)
	}
	denied(call("teamlead", "SimulatePrincipalPolicy", adminARN))
	denied(call("auditor", "SimulatePrincipalPolicy", adminARN))
	// A path admin does not have, or another case of its name, is still admin.
	denied(call("teamlead", "SimulatePrincipalPolicy", "arn:aws:iam::"+acct+":user/team/admin"))
	denied(call("teamlead", "GetContextKeysForPrincipalPolicy", "arn:aws:iam::"+acct+":user/team/admin"))
	denied(call("auditor", "SimulatePrincipalPolicy", "arn:aws:iam::"+acct+":user/ADMIN"))
	denied(call("auditor", "SimulatePrincipalPolicy", "arn:aws:iam::"+acct+":user/x/admin"))
}
