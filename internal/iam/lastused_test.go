package iam

import (
	"errors"
	"testing"
	"time"
)

// GetAccessKeyLastUsed: the owner and the last use from the key usage source; "N/A"
// without one; the root's key has no UserName; unknown keys, other accounts' keys and
// malformed ids are refused; RequestResource names the owner, for policies.
func TestGetAccessKeyLastUsed(t *testing.T) {
	e := newTestEnv(t)
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "Alice", Path: "/ops/"}))
	k := must[*CreateAccessKeyOutput](t)(e.s.CreateAccessKey(e.ctx, e.root, UserNameInput{UserName: "Alice"})).AccessKey.AccessKeyId

	got := must[*GetAccessKeyLastUsedOutput](t)(e.s.GetAccessKeyLastUsed(e.ctx, e.root, GetAccessKeyLastUsedInput{AccessKeyId: k}))
	if got.UserName != "Alice" || got.AccessKeyLastUsed != (AccessKeyLastUsed{ServiceName: "N/A", Region: "N/A"}) {
		t.Fatalf("without a usage source: %+v", got)
	}
	used := time.Date(2026, 3, 1, 11, 59, 58, 0, time.UTC)
	var asked []string
	fail := false
	e.s.SetKeyUsage(func(id string) (KeyUse, bool, error) {
		asked = append(asked, id)
		if fail {
			return KeyUse{}, false, errors.New("lookup failed")
		}
		if id == k {
			return KeyUse{Time: used, Service: "kms", Region: "eu-west-1"}, true, nil
		}
		return KeyUse{}, false, nil
	})
	got = must[*GetAccessKeyLastUsedOutput](t)(e.s.GetAccessKeyLastUsed(e.ctx, e.root, GetAccessKeyLastUsedInput{AccessKeyId: k}))
	if got.UserName != "Alice" || got.AccessKeyLastUsed != (AccessKeyLastUsed{LastUsedDate: "2026-03-01T11:59:58Z", ServiceName: "kms", Region: "eu-west-1"}) {
		t.Fatalf("used: %+v", got)
	}
	got = must[*GetAccessKeyLastUsedOutput](t)(e.s.GetAccessKeyLastUsed(e.ctx, e.root, GetAccessKeyLastUsedInput{AccessKeyId: "AKIAROOTROOTROOT0000"}))
	if got.UserName != "" || got.AccessKeyLastUsed.ServiceName != "N/A" {
		t.Fatalf("root key: %+v", got)
	}
	if len(asked) != 2 || asked[1] != "AKIAROOTROOTROOT0000" {
		t.Fatalf("usage asked for %q", asked)
	}
	fail = true
	if _, err := e.s.GetAccessKeyLastUsed(e.ctx, e.root, GetAccessKeyLastUsedInput{AccessKeyId: k}); err == nil {
		t.Fatal("a failed lookup answered")
	}

	other := e.root
	other.Account, other.Principal.Account = "444455556666", "444455556666"
	for _, c := range []struct {
		caller Caller
		id     string
		code   string
	}{
		{e.root, "AKIAUNKNOWNUNKNOWN00", "NoSuchEntity"},
		{other, k, "NoSuchEntity"},
		{other, "AKIAROOTROOTROOT0000", "NoSuchEntity"},
		{e.root, "AKIASHORT", "ValidationError"},
		{e.root, "AKIA-NOT-VALID-CHARS", "ValidationError"},
	} {
		_, err := e.s.GetAccessKeyLastUsed(e.ctx, c.caller, GetAccessKeyLastUsedInput{AccessKeyId: c.id})
		wantCode(t, err, c.code)
	}

	for id, want := range map[string]string{
		k:                      "arn:aws:iam::" + acct + ":user/ops/Alice",
		"AKIAROOTROOTROOT0000": "arn:aws:iam::" + acct + ":root",
		"AKIAUNKNOWNUNKNOWN00": "*",
	} {
		if got := e.s.RequestResource(acct, "GetAccessKeyLastUsed", []byte("AccessKeyId="+id), e.root.Principal.ARN); got != want {
			t.Errorf("RequestResource(%s) = %s, want %s", id, got, want)
		}
	}
}
