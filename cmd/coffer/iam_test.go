package main

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/iam"
	"github.com/coffer-hsm/coffer/internal/state"
)

// TestIAMGuardAuthDetailsAndUpdateUser: the identity guard of the IAM query service
// decides GetAccountAuthorizationDetails (resource "*") and UpdateUser (the user as it is
// and as it will be).
func TestIAMGuardAuthDetailsAndUpdateUser(t *testing.T) {
	const acct = "111122223333"
	svc, err := iam.New(iam.Config{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(state.Config{NodeID: "n1", Dir: filepath.Join(t.TempDir(), "raft")}, svc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc.Attach(store)
	ctx := context.Background()
	root := iam.Caller{Account: acct, Principal: awsproto.Principal{Account: acct, ARN: "arn:aws:iam::" + acct + ":root", Type: "Root"}}
	ops := iam.Operations()
	run := func(op, body string) {
		t.Helper()
		if _, err := ops[op](svc, ctx, root, []byte(body)); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
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
		p := awsproto.Principal{Account: acct, ARN: "arn:aws:iam::" + acct + ":user/" + user, Type: "IAMUser", UserName: user}
		_, err := handlers[op](ctx, &awsproto.Call{Operation: op, Principal: p, Region: "us-east-1", Body: []byte(body)})
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
