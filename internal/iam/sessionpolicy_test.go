package iam

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

// sessionEnv is alice, who may assume role App (kms:* and sts:AssumeRole), and App.
func sessionEnv(t *testing.T) (*testEnv, Caller, string) {
	e := newTestEnv(t)
	alice, _ := e.user("alice")
	role := must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "App",
		AssumeRolePolicyDocument: strings.Replace(trustDoc("arn:aws:iam::"+acct+":root", ""), `"sts:AssumeRole"`, `["sts:AssumeRole","sts:TagSession"]`, 1)}))
	if err := e.s.PutRolePolicyForTest("App", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","sts:AssumeRole"],"Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := Operations()["PutUserPolicy"](e.s, e.ctx, e.root, []byte("UserName=alice&PolicyName=p&PolicyDocument="+url.QueryEscape(policyDoc("sts:*")))); err != nil {
		t.Fatal(err)
	}
	return e, alice, role.Role.Arn
}

// decide is how the node authorizes a request of the caller (cmd/coffer, KMS).
func decide(t *testing.T, e *testEnv, c Caller, action string) policy.Decision {
	t.Helper()
	pols, err := e.s.RequestPolicies(c.Principal.ARN, c.Principal.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	return policy.Decide(&policy.Request{Principal: policy.Principal{ARN: c.Principal.ARN, Account: c.Account}, Action: action, Resource: "*"}, pols, nil)
}

func TestAssumeRoleSessionPolicy(t *testing.T) {
	e, alice, roleArn := sessionEnv(t)
	out := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "s1", Policy: policyDoc("kms:Encrypt")}))
	if out.PackedPolicySize == nil || *out.PackedPolicySize < 1 || *out.PackedPolicySize > 100 {
		t.Fatalf("PackedPolicySize = %v", out.PackedPolicySize)
	}
	sess := e.callerFor(out.Credentials.AccessKeyId)
	if d := decide(t, e, sess, "kms:Encrypt"); !d.Allowed {
		t.Fatalf("Encrypt: %+v", d)
	}
	if d := decide(t, e, sess, "kms:Decrypt"); d.Allowed || d.Matched.Set != policy.SessionSet {
		t.Fatalf("Decrypt: %+v, want denied by the session policy", d)
	}
	// A session of the same role without session policy may do what the role may.
	plain := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "s1"}))
	if plain.PackedPolicySize != nil {
		t.Fatalf("PackedPolicySize without session policy or tags: %d", *plain.PackedPolicySize)
	}
	if d := decide(t, e, e.callerFor(plain.Credentials.AccessKeyId), "kms:Decrypt"); !d.Allowed {
		t.Fatalf("Decrypt without session policy: %+v", d)
	}

	// The session policies are replicated state: they apply after a restart.
	e.restart()
	if d := decide(t, e, e.callerFor(out.Credentials.AccessKeyId), "kms:Decrypt"); d.Allowed {
		t.Fatalf("Decrypt after restart: %+v", d)
	}
	if d := decide(t, e, e.callerFor(out.Credentials.AccessKeyId), "kms:Encrypt"); !d.Allowed {
		t.Fatalf("Encrypt after restart: %+v", d)
	}
}

func TestAssumeRoleManagedSessionPolicies(t *testing.T) {
	e, alice, roleArn := sessionEnv(t)
	enc := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "enc", PolicyDocument: policyDoc("kms:Encrypt")}))
	desc := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "desc", PolicyDocument: policyDoc("kms:Describe*")}))
	out := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "s1",
		PolicyArns: []PolicyDescriptor{{enc.Policy.Arn}, {desc.Policy.Arn}}}))
	sess := e.callerFor(out.Credentials.AccessKeyId)
	for action, want := range map[string]bool{"kms:Encrypt": true, "kms:DescribeKey": true, "kms:Decrypt": false} {
		if d := decide(t, e, sess, action); d.Allowed != want {
			t.Errorf("%s: %+v, want allowed %v", action, d, want)
		}
	}
	// Inline and managed together: either may allow.
	both := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "s2",
		Policy: policyDoc("kms:Decrypt"), PolicyArns: []PolicyDescriptor{{enc.Policy.Arn}}}))
	for action, want := range map[string]bool{"kms:Encrypt": true, "kms:Decrypt": true, "kms:DescribeKey": false} {
		if d := decide(t, e, e.callerFor(both.Credentials.AccessKeyId), action); d.Allowed != want {
			t.Errorf("inline+managed %s: %+v, want allowed %v", action, d, want)
		}
	}
	// An AWS managed policy is a valid managed session policy.
	ro := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "s3",
		PolicyArns: []PolicyDescriptor{{"arn:aws:iam::aws:policy/ReadOnlyAccess"}}}))
	if d := decide(t, e, e.callerFor(ro.Credentials.AccessKeyId), "kms:Encrypt"); d.Allowed {
		t.Errorf("ReadOnlyAccess session may Encrypt: %+v", d)
	}
	if d := decide(t, e, e.callerFor(ro.Credentials.AccessKeyId), "kms:ListKeys"); !d.Allowed {
		t.Errorf("ReadOnlyAccess session may not ListKeys: %+v", d)
	}
}

func TestAssumeRoleSessionPolicyValidation(t *testing.T) {
	e, alice, roleArn := sessionEnv(t)
	assume := func(in AssumeRoleInput) error {
		in.RoleArn, in.RoleSessionName = roleArn, "s1"
		_, err := e.s.AssumeRole(e.ctx, alice, in)
		return err
	}
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Sid":"` + strings.Repeat("a", 2000) + `"}]}`
	wantCode(t, assume(AssumeRoleInput{Policy: big}), "ValidationError")
	wantCode(t, assume(AssumeRoleInput{Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt"}]}`}), "MalformedPolicyDocument")
	wantCode(t, assume(AssumeRoleInput{Policy: `not json`}), "MalformedPolicyDocument")
	wantCode(t, assume(AssumeRoleInput{Policy: "{\"Version\":\"2012-10-17\",\"Statement\":[]}\u0100"}), "ValidationError")
	wantCode(t, assume(AssumeRoleInput{PolicyArns: []PolicyDescriptor{{"arn:aws:iam::" + acct + ":policy/nope"}}}), "MalformedPolicyDocument")
	wantCode(t, assume(AssumeRoleInput{PolicyArns: []PolicyDescriptor{{"arn:aws:s3:::bucket/some/object"}}}), "MalformedPolicyDocument")
	wantCode(t, assume(AssumeRoleInput{PolicyArns: []PolicyDescriptor{{"arn:aws:iam::1"}}}), "ValidationError")
	// A policy of another account is not found.
	wantCode(t, assume(AssumeRoleInput{PolicyArns: []PolicyDescriptor{{"arn:aws:iam::444455556666:policy/p"}}}), "MalformedPolicyDocument")
	var eleven []PolicyDescriptor
	for i := range 11 {
		p := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p" + strconv.Itoa(i), PolicyDocument: policyDoc("kms:Encrypt")}))
		eleven = append(eleven, PolicyDescriptor{p.Policy.Arn})
	}
	wantCode(t, assume(AssumeRoleInput{PolicyArns: eleven}), "ValidationError")
	if err := assume(AssumeRoleInput{PolicyArns: eleven[:10]}); err != nil {
		t.Fatalf("10 managed session policies: %v", err)
	}
	// Incompressible content (many distinct tags) overflows the packed size.
	var tags []Tag
	for i := range 50 {
		tags = append(tags, Tag{Key: "k" + strconv.Itoa(i) + strings.Repeat("x", 30), Value: strings.Repeat(strconv.Itoa(i), 20)})
	}
	err := assume(AssumeRoleInput{Policy: policyDoc("kms:Encrypt"), Tags: tags})
	wantCode(t, err, "PackedPolicyTooLarge")
	if !strings.Contains(AsError(err).Message, "Packed policy consumes ") || !strings.Contains(AsError(err).Message, "% of allotted space") {
		t.Fatalf("message: %v", err)
	}
}

// A deleted managed session policy allows nothing any more; the role's own policies do not
// come back.
func TestSessionPolicyDeletedManagedPolicy(t *testing.T) {
	e, alice, roleArn := sessionEnv(t)
	enc := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "enc", PolicyDocument: policyDoc("kms:Encrypt")}))
	out := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "s1", PolicyArns: []PolicyDescriptor{{enc.Policy.Arn}}}))
	sess := e.callerFor(out.Credentials.AccessKeyId)
	if d := decide(t, e, sess, "kms:Encrypt"); !d.Allowed {
		t.Fatalf("Encrypt: %+v", d)
	}
	if err := e.s.DeletePolicy(e.ctx, e.root, PolicyArnInput{PolicyArn: enc.Policy.Arn}); err != nil {
		t.Fatal(err)
	}
	if d := decide(t, e, sess, "kms:Encrypt"); d.Allowed || d.Matched.Set != policy.SessionSet {
		t.Fatalf("Encrypt after the policy was deleted: %+v", d)
	}
}

// Role chaining: a session with a session policy that assumes another role passes nothing
// on; the trust decision (sts:AssumeRole by identity policies) is limited by the caller's
// session policy.
func TestSessionPolicyRoleChaining(t *testing.T) {
	e, alice, roleArn := sessionEnv(t)
	// A session limited to kms:Encrypt may not assume a role through its identity policies.
	lim := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "lim", Policy: policyDoc("kms:Encrypt")}))
	limited := e.callerFor(lim.Credentials.AccessKeyId)
	_, err := e.s.AssumeRole(e.ctx, limited, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "chained"})
	wantCode(t, err, "AccessDenied")
	// One whose session policy allows sts:AssumeRole may; the new session has the role's
	// permissions, not the first session's limits.
	ok := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "ok",
		Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","kms:Encrypt"],"Resource":"*"}]}`}))
	first := e.callerFor(ok.Credentials.AccessKeyId)
	if d := decide(t, e, first, "kms:Decrypt"); d.Allowed {
		t.Fatalf("first session Decrypt: %+v", d)
	}
	chained := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, first, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "chained"}))
	if d := decide(t, e, e.callerFor(chained.Credentials.AccessKeyId), "kms:Decrypt"); !d.Allowed {
		t.Fatalf("chained session Decrypt: %+v (session policies are not inherited)", d)
	}
}

// The query decoder reads PolicyArns.member.N.arn.
func TestAssumeRolePolicyArnsForm(t *testing.T) {
	in, err := decodeForm[AssumeRoleInput]([]byte("RoleArn=r&PolicyArns.member.1.arn=a1&PolicyArns.member.2.arn=a2&Policy=%7B%7D"))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.PolicyArns) != 2 || in.PolicyArns[0].Arn != "a1" || in.PolicyArns[1].Arn != "a2" || in.Policy != "{}" {
		t.Fatalf("%+v", in)
	}
}

// A trust policy is a resource-based policy: a statement naming the calling session's
// role is limited by the session's policy, one naming the session itself is not.
func TestSessionPolicyAndTrustPolicy(t *testing.T) {
	e, alice, roleArn := sessionEnv(t)
	sessARN := "arn:aws:sts::" + acct + ":assumed-role/App/lim"
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "ByRole", AssumeRolePolicyDocument: trustDoc(roleArn, "")}))
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "BySession", AssumeRolePolicyDocument: trustDoc(sessARN, "")}))
	lim := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "lim", Policy: policyDoc("kms:Encrypt")}))
	limited := e.callerFor(lim.Credentials.AccessKeyId)
	_, err := e.s.AssumeRole(e.ctx, limited, AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/ByRole", RoleSessionName: "c1"})
	wantCode(t, err, "AccessDenied")
	if _, err := e.s.AssumeRole(e.ctx, limited, AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/BySession", RoleSessionName: "c2"}); err != nil {
		t.Fatalf("trust naming the session: %v", err)
	}
	// Without a session policy, the trust statement naming the role suffices.
	free := must[*AssumeRoleOutput](t)(e.s.AssumeRole(e.ctx, alice, AssumeRoleInput{RoleArn: roleArn, RoleSessionName: "free"}))
	if _, err := e.s.AssumeRole(e.ctx, e.callerFor(free.Credentials.AccessKeyId), AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/ByRole", RoleSessionName: "c3"}); err != nil {
		t.Fatalf("trust naming the role, no session policy: %v", err)
	}
}

// TestSessionPolicyARNLength: a policy ARN outside arnType's 20..2048 characters is a
// ValidationError naming the bound it breaks.
func TestSessionPolicyARNLength(t *testing.T) {
	for _, c := range []struct{ arn, want string }{
		{"arn:aws:iam::1", "greater than or equal to 20"},
		{"arn:aws:iam::" + acct + ":policy/" + strings.Repeat("p", 2048), "less than or equal to 2048"},
	} {
		err := checkSessionPolicyInput("", []PolicyDescriptor{{c.arn}})
		wantCode(t, err, "ValidationError")
		if !strings.Contains(err.Error(), "policyArns.1.member.arn") || !strings.Contains(err.Error(), "Member must have length "+c.want) {
			t.Fatalf("%d characters: %v", len(c.arn), err)
		}
	}
}
