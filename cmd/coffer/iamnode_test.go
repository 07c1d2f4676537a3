package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/iam"
	"github.com/coffer-hsm/coffer/internal/state"
)

// testAccount is the account of iamTestService's identities.
const testAccount = "111122223333"

// iamTestService is an IAM service on a one-node state store that also holds parts (the
// test attaches them to the store), and run, which runs an IAM query operation as the
// account's root and fails the test if the operation fails.
func iamTestService(t *testing.T, parts ...state.Part) (*iam.Service, *state.Store, func(op, body string)) {
	t.Helper()
	svc, err := iam.New(iam.Config{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(state.Config{NodeID: "n1", Dir: filepath.Join(t.TempDir(), "raft")}, append([]state.Part{svc}, parts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc.Attach(store)
	root := iam.Caller{Account: testAccount, Principal: awsproto.Principal{Account: testAccount, ARN: "arn:aws:iam::" + testAccount + ":root", Type: "Root"}}
	ops := iam.Operations()
	run := func(op, body string) {
		t.Helper()
		if _, err := ops[op](svc, context.Background(), root, []byte(body)); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	return svc, store, run
}

// testUser is the principal of the IAM user name of testAccount.
func testUser(name string) awsproto.Principal {
	return awsproto.Principal{Account: testAccount, ARN: "arn:aws:iam::" + testAccount + ":user/" + name, Type: "IAMUser", UserName: name}
}
