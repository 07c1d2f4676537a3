package iam

import (
	"net/url"
	"testing"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

func TestRequestResource(t *testing.T) {
	e := newTestEnv(t)
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "Alice", Path: "/eng/"}))
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "Ops", Path: "/svc/", AssumeRolePolicyDocument: trustDoc("arn:aws:iam::"+acct+":root", "")}))
	alice := "arn:aws:iam::" + acct + ":user/eng/Alice"
	pol := "arn:aws:iam::" + acct + ":policy/p"
	cases := []struct {
		op     string
		params url.Values
		caller string
		want   string
	}{
		{"DeleteUser", url.Values{"UserName": {"alice"}}, "", alice}, // names are case-insensitive; the ARN is the entity's
		{"CreateAccessKey", url.Values{"UserName": {"Alice"}}, "", alice},
		{"CreateAccessKey", nil, alice, alice}, // the calling user
		{"ListAccessKeys", nil, "arn:aws:iam::" + acct + ":root", "*"},
		{"CreateUser", url.Values{"UserName": {"Bob"}, "Path": {"/x/"}}, "", "arn:aws:iam::" + acct + ":user/x/Bob"},
		{"AttachUserPolicy", url.Values{"UserName": {"Alice"}, "PolicyArn": {pol}}, "", alice},
		{"UpdateAssumeRolePolicy", url.Values{"RoleName": {"Ops"}}, "", "arn:aws:iam::" + acct + ":role/svc/Ops"},
		{"GetGroup", url.Values{"GroupName": {"G"}}, "", "arn:aws:iam::" + acct + ":group/G"},
		{"DeletePolicy", url.Values{"PolicyArn": {pol}}, "", pol},
		{"CreatePolicy", url.Values{"PolicyName": {"p"}}, "", pol},
		{"CreateVirtualMFADevice", url.Values{"VirtualMFADeviceName": {"m"}}, "", "arn:aws:iam::" + acct + ":mfa/m"},
		{"ListUsers", nil, "", "arn:aws:iam::" + acct + ":user/"},
		{"ListPolicies", nil, "", "*"},
		{"GetUser", url.Values{}, "arn:aws:sts::" + acct + ":assumed-role/Ops/s", "*"},
	}
	for _, c := range cases {
		if got := e.s.RequestResource(acct, c.op, []byte(c.params.Encode()), c.caller); got != c.want {
			t.Errorf("%s %v: got %s, want %s", c.op, c.params, got, c.want)
		}
	}
	if got := e.s.RequestResource(acct, "DeleteUser", []byte("%zz"), ""); got != "*" {
		t.Fatal(got)
	}

	// What the resource changes: a Deny scoped to Alice applies, an Allow scoped to her
	// allows; with "*" neither statement matches.
	p, err := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iam:*","Resource":"*"},
		{"Effect":"Deny","Action":"iam:DeleteUser","Resource":"arn:aws:iam::` + acct + `:user/eng/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req := func(res string) *policy.Request {
		return &policy.Request{Principal: policy.Principal{ARN: "arn:aws:iam::" + acct + ":user/bob", Account: acct}, Action: "iam:DeleteUser", Resource: res}
	}
	if policy.Decide(req(e.s.RequestResource(acct, "DeleteUser", []byte("UserName=Alice"), "")), []*policy.Policy{p}, nil).Allowed {
		t.Fatal("the Deny on Alice does not apply")
	}
	if !policy.Decide(req("*"), []*policy.Policy{p}, nil).Allowed {
		t.Fatal("with resource *, the scoped Deny was expected not to match (what RequestResource fixes)")
	}
}
