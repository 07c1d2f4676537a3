package iam

import (
	"net/url"
	"slices"
	"testing"
)

// TestListPoliciesUsageFilter: PolicyUsageFilter keeps the policies attached as
// permissions policies, or used as permissions boundaries; OnlyAttached counts both uses.
func TestListPoliciesUsageFilter(t *testing.T) {
	e := newTestEnv(t)
	perm := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "perm", PolicyDocument: policyDoc("kms:Encrypt")})).Policy.Arn
	bound := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "bound", PolicyDocument: policyDoc("kms:*")})).Policy.Arn
	must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "unused", PolicyDocument: policyDoc("kms:*")}))
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "alice", PermissionsBoundary: bound}))
	if _, err := Operations()["AttachUserPolicy"](e.s, e.ctx, e.root, []byte("UserName=alice&PolicyArn="+url.QueryEscape(perm))); err != nil {
		t.Fatal(err)
	}
	names := func(in ListPoliciesInput) []string {
		in.Scope = "Local"
		var out []string
		for _, p := range must[*ListPoliciesOutput](t)(e.s.ListPolicies(e.ctx, e.root, in)).Policies {
			out = append(out, p.PolicyName)
		}
		return out
	}
	for _, c := range []struct {
		in   ListPoliciesInput
		want []string
	}{
		{ListPoliciesInput{}, []string{"bound", "perm", "unused"}},
		{ListPoliciesInput{OnlyAttached: true}, []string{"bound", "perm"}},
		{ListPoliciesInput{PolicyUsageFilter: "PermissionsPolicy"}, []string{"perm"}},
		{ListPoliciesInput{PolicyUsageFilter: "PermissionsBoundary"}, []string{"bound"}},
		{ListPoliciesInput{PolicyUsageFilter: "PermissionsBoundary", OnlyAttached: true}, []string{"bound"}},
	} {
		if got := names(c.in); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.in, got, c.want)
		}
	}
}
