package iam

import (
	"net/url"
	"testing"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

var benchSink []*policy.Policy // keeps the lookups' results on the heap, as the authorizer's are

// BenchmarkRequestPolicies is what the node looks up per request for a user with two
// inline policies and no boundary, signed with a long-term key ("plain"), against the
// lookup before boundaries and session policies ("identity-only": IdentityPolicies and
// the parse cache), and for a role session with a boundary and a session policy
// ("layered").
func BenchmarkRequestPolicies(b *testing.B) {
	e := newTestEnv(b)
	alice, _ := e.user("alice")
	for _, n := range []string{"a", "b"} {
		if _, err := Operations()["PutUserPolicy"](e.s, e.ctx, e.root, []byte("UserName=alice&PolicyName="+n+"&PolicyDocument="+url.QueryEscape(policyDoc("kms:"+n+"*")))); err != nil {
			b.Fatal(err)
		}
	}
	must[*CreateRoleOutput](b)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "App", AssumeRolePolicyDocument: trustDoc(alice.Principal.ARN, ""),
		PermissionsBoundary: "arn:aws:iam::aws:policy/ReadOnlyAccess"}))
	if err := e.s.PutRolePolicyForTest("App", policyDoc("kms:*")); err != nil {
		b.Fatal(err)
	}
	out := must[*AssumeRoleOutput](b)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/App", RoleSessionName: "s1", Policy: policyDoc("kms:Describe*")}))
	sess := e.callerFor(out.Credentials.AccessKeyId)
	var cache policy.Cache
	b.Run("identity-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			docs, err := e.s.IdentityPolicies(alice.Principal.ARN)
			if err != nil {
				b.Fatal(err)
			}
			if benchSink, err = cache.Parse(docs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if benchSink, err = e.s.RequestPolicies(alice.Principal.ARN, alice.Principal.AccessKeyID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("layered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if benchSink, err = e.s.RequestPolicies(sess.Principal.ARN, sess.Principal.AccessKeyID); err != nil || len(benchSink) != 3 {
				b.Fatal(len(benchSink), err)
			}
		}
	})
}
