package iam

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

func TestStatementSpans(t *testing.T) {
	// The AWS CLI's example of simulate-custom-policy answers StartPosition 1:38 and
	// EndPosition 1:167 for this document.
	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}`
	if got := statementSpans(doc); len(got) != 1 || got[0] != (statementSpan{Position{1, 38}, Position{1, 167}}) {
		t.Fatalf("AWS example: %+v", got)
	}
	multi := "{\r\n  \"Version\": \"2012-10-17\",\r\n  \"Id\": \"x{\",\r\n  \"Statement\": [\r\n    {\"Sid\": \"é\", \"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Resource\": \"*\"},\r\n" +
		"    {\r\n      \"Effect\": \"Deny\",\r\n      \"Action\": \"kms:Decrypt\",\r\n      \"Resource\": \"*\"\r\n    }\r\n  ]\r\n}"
	want := []statementSpan{{Position{5, 6}, Position{5, 72}}, {Position{6, 6}, Position{10, 6}}}
	if got := statementSpans(multi); !slices.Equal(got, want) {
		t.Fatalf("multi-line: %+v, want %+v", got, want)
	}
	if statementSpans("{not json") != nil {
		t.Fatal("spans of a document that does not decode")
	}
}

const (
	simAllowKMS = `{"Version":"2012-10-17","Statement":[{"Sid":"enc","Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`
	simDenyDec  = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\n    \"Effect\": \"Deny\",\n    \"Action\": \"kms:Decrypt\",\n    \"Resource\": \"*\"\n  }\n}"
	simDated    = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}`
)

func custom(t *testing.T, e *testEnv, in SimulateCustomPolicyInput) []EvaluationResult {
	t.Helper()
	return must[*SimulatePolicyOutput](t)(e.s.SimulateCustomPolicy(e.ctx, e.root, in)).EvaluationResults
}

func TestSimulateCustomPolicyDecisions(t *testing.T) {
	e := newTestEnv(t)
	res := custom(t, e, SimulateCustomPolicyInput{PolicyInputList: []string{simAllowKMS, simDenyDec}, ActionNames: []string{"kms:Encrypt", "kms:Decrypt", "kms:Sign"}})
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	enc, dec, sign := res[0], res[1], res[2]
	if enc.EvalActionName != "kms:Encrypt" || enc.EvalResourceName != "*" || enc.EvalDecision != "allowed" {
		t.Fatalf("Encrypt: %+v", enc)
	}
	// The Allow statement of the first document: the column after each of its braces.
	if m := enc.MatchedStatements.Members; len(m) != 1 || m[0].SourcePolicyId != "PolicyInputList.1" || m[0].SourcePolicyType != "none" ||
		*m[0].StartPosition != (Position{1, strings.Index(simAllowKMS, "[{") + 3}) || *m[0].EndPosition != (Position{1, strings.LastIndex(simAllowKMS, "}]") + 2}) {
		t.Fatalf("Encrypt statements: %+v", m)
	}
	// An explicit Deny wins over the Allow, and is the only statement listed.
	if dec.EvalDecision != "explicitDeny" {
		t.Fatalf("Decrypt: %+v", dec)
	}
	if m := dec.MatchedStatements.Members; len(m) != 1 || m[0].SourcePolicyId != "PolicyInputList.2" || *m[0].StartPosition != (Position{3, 17}) || *m[0].EndPosition != (Position{7, 4}) {
		t.Fatalf("Decrypt statements: %+v", m)
	}
	if sign.EvalDecision != "implicitDeny" || len(sign.MatchedStatements.Members) != 0 {
		t.Fatalf("Sign: %+v", sign)
	}
	if enc.EvalDecisionDetails != nil || enc.PermissionsBoundaryDecisionDetail != nil || enc.ResourceSpecificResults != nil {
		t.Fatalf("details without resources or boundary: %+v", enc)
	}

	// Context: the date condition holds, does not, or cannot be evaluated.
	dated := func(entries ...ContextEntry) EvaluationResult {
		return custom(t, e, SimulateCustomPolicyInput{PolicyInputList: []string{simDated}, ActionNames: []string{"dynamodb:CreateBackup"}, ContextEntries: entries})[0]
	}
	if r := dated(ContextEntry{"aws:CurrentTime", []string{"2019-04-25T11:00:00Z"}, "date"}); r.EvalDecision != "allowed" || len(r.MissingContextValues.Members) != 0 {
		t.Fatalf("after the date: %+v", r)
	}
	if r := dated(ContextEntry{"aws:CurrentTime", []string{"2014-04-25T11:00:00Z"}, "date"}); r.EvalDecision != "implicitDeny" || len(r.MatchedStatements.Members) != 0 {
		t.Fatalf("before the date: %+v", r)
	}
	if r := dated(); r.EvalDecision != "implicitDeny" || !slices.Equal(r.MissingContextValues.Members, []string{"aws:CurrentTime"}) {
		t.Fatalf("without the key: %+v", r)
	}
	// A key of a statement whose action does not match is not missing.
	r := custom(t, e, SimulateCustomPolicyInput{PolicyInputList: []string{simDated}, ActionNames: []string{"kms:Sign"}})[0]
	if len(r.MissingContextValues.Members) != 0 {
		t.Fatalf("missing keys of an unrelated statement: %+v", r)
	}
}

func TestSimulateContextTypes(t *testing.T) {
	e := newTestEnv(t)
	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{
		"NumericLessThan":{"kms:GrantCount":"5"},"Bool":{"aws:SecureTransport":"true"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},
		"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]},"BinaryEquals":{"x:bin":"aGk="}}}}`
	ctx := []ContextEntry{{"kms:GrantCount", []string{"3"}, "numeric"}, {"aws:SecureTransport", []string{"TRUE"}, "boolean"},
		{"aws:SourceIp", []string{"10.1.2.3"}, "ip"}, {"aws:TagKeys", []string{"a", "b"}, "stringList"}, {"x:bin", []string{"aGk="}, "binary"}}
	run := func(ctx []ContextEntry) (string, error) {
		out, err := e.s.SimulateCustomPolicy(e.ctx, e.root, SimulateCustomPolicyInput{PolicyInputList: []string{doc}, ActionNames: []string{"kms:Encrypt"}, ContextEntries: ctx})
		if err != nil {
			return "", err
		}
		return out.EvaluationResults[0].EvalDecision, nil
	}
	if d, err := run(ctx); err != nil || d != "allowed" {
		t.Fatalf("all keys hold: %s %v", d, err)
	}
	flip := slices.Clone(ctx)
	flip[2] = ContextEntry{"aws:SourceIp", []string{"192.0.2.1"}, "ip"}
	if d, _ := run(flip); d != "implicitDeny" {
		t.Fatalf("other address: %s", d)
	}
	for _, bad := range []ContextEntry{{"kms:GrantCount", []string{"three"}, "numeric"}, {"aws:SecureTransport", []string{"yes"}, "boolean"},
		{"aws:SourceIp", []string{"10.1"}, "ip"}, {"x:bin", []string{"!!"}, "binary"}, {"aws:CurrentTime", []string{"yesterday"}, "date"},
		{"kms:GrantCount", []string{"1", "2"}, "numeric"}} {
		_, err := run([]ContextEntry{bad})
		wantCode(t, err, "InvalidInput")
	}
	_, err := run([]ContextEntry{{"kms:GrantCount", []string{"1"}, "integer"}})
	wantCode(t, err, "ValidationError")
	_, err = run([]ContextEntry{{"a:b", []string{"1"}, "string"}})
	wantCode(t, err, "ValidationError")
}

// TestSimulatePrincipalPolicyMatchesEnforcement compares the simulator's decisions for a
// user (own, group and boundary policies) with the decisions of the policies that
// authorize the user's real requests (RequestPolicies, policy.Decide).
func TestSimulatePrincipalPolicyMatchesEnforcement(t *testing.T) {
	e := newTestEnv(t)
	bound := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "bound",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:Sign"],"Resource":"*"}]}`})).Policy.Arn
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "alice", PermissionsBoundary: bound}))
	if err := e.s.putInline(e.ctx, e.root, kindUser, PutInlinePolicyInput{UserName: "alice", PolicyName: "own",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:GenerateDataKey"],"Resource":"*"}]}`}); err != nil {
		t.Fatal(err)
	}
	must[*CreateGroupOutput](t)(e.s.CreateGroup(e.ctx, e.root, CreateGroupInput{GroupName: "ops"}))
	if err := e.s.AddUserToGroup(e.ctx, e.root, GroupUserInput{GroupName: "ops", UserName: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.putInline(e.ctx, e.root, kindGroup, PutInlinePolicyInput{GroupName: "ops", PolicyName: "grp",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"},{"Effect":"Deny","Action":"kms:Sign","Resource":"*"}]}`}); err != nil {
		t.Fatal(err)
	}
	alice := "arn:aws:iam::" + acct + ":user/alice"
	actions := []string{"kms:Encrypt", "kms:Decrypt", "kms:Sign", "kms:GenerateDataKey", "kms:Verify"}
	out := must[*SimulatePolicyOutput](t)(e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: alice, ActionNames: actions}))
	enforced, err := e.s.RequestPolicies(alice, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"kms:Encrypt": "allowed", "kms:Decrypt": "allowed", "kms:Sign": "explicitDeny", "kms:GenerateDataKey": "implicitDeny", "kms:Verify": "implicitDeny"}
	for _, r := range out.EvaluationResults {
		d := policy.Decide(&policy.Request{Principal: policy.Principal{ARN: alice, Account: acct}, Action: r.EvalActionName, Resource: "*"}, enforced, nil)
		if r.EvalDecision != want[r.EvalActionName] || r.EvalDecision != decisionName(d) {
			t.Errorf("%s: simulated %s, enforced %s, want %s", r.EvalActionName, r.EvalDecision, decisionName(d), want[r.EvalActionName])
		}
		if r.PermissionsBoundaryDecisionDetail == nil {
			t.Errorf("%s: no PermissionsBoundaryDecisionDetail", r.EvalActionName)
		} else if got := r.PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary; got != (r.EvalActionName != "kms:GenerateDataKey" && r.EvalActionName != "kms:Verify") {
			t.Errorf("%s: AllowedByPermissionsBoundary %v", r.EvalActionName, got)
		}
	}
	byAction := func(out *SimulatePolicyOutput, a string) EvaluationResult {
		for _, r := range out.EvaluationResults {
			if r.EvalActionName == a {
				return r
			}
		}
		t.Fatalf("no result for %s", a)
		return EvaluationResult{}
	}
	if m := byAction(out, "kms:Decrypt").MatchedStatements.Members; len(m) != 1 || m[0].SourcePolicyId != "grp" || m[0].SourcePolicyType != "group" {
		t.Fatalf("Decrypt statements: %+v", m)
	}
	if m := byAction(out, "kms:Encrypt").MatchedStatements.Members; len(m) != 1 || m[0].SourcePolicyId != "own" || m[0].SourcePolicyType != "user" {
		t.Fatalf("Encrypt statements: %+v", m)
	}

	// A boundary given as input replaces the user's; PolicyInputList adds to the policies.
	out = must[*SimulatePolicyOutput](t)(e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: alice,
		ActionNames: []string{"kms:Encrypt", "kms:GenerateDataKey"}, PermissionsBoundaryPolicyInputList: []string{policyDoc("kms:GenerateDataKey")}}))
	if r := byAction(out, "kms:Encrypt"); r.EvalDecision != "implicitDeny" || r.PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary {
		t.Fatalf("Encrypt outside the input boundary: %+v", r)
	}
	if r := byAction(out, "kms:GenerateDataKey"); r.EvalDecision != "allowed" {
		t.Fatalf("GenerateDataKey inside the input boundary: %+v", r)
	}
	out = must[*SimulatePolicyOutput](t)(e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: alice,
		ActionNames: []string{"kms:Verify"}, PolicyInputList: []string{policyDoc("kms:Verify")}, PermissionsBoundaryPolicyInputList: []string{policyDoc("kms:*")}}))
	if r := out.EvaluationResults[0]; r.EvalDecision != "allowed" || r.MatchedStatements.Members[0].SourcePolicyId != "PolicyInputList.1" {
		t.Fatalf("input policy: %+v", r)
	}

	// Groups have no boundary; their own policies are simulated.
	out = must[*SimulatePolicyOutput](t)(e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: "arn:aws:iam::" + acct + ":group/ops", ActionNames: []string{"kms:Decrypt", "kms:Encrypt"}}))
	if a, b := out.EvaluationResults[0], out.EvaluationResults[1]; a.EvalDecision != "allowed" || b.EvalDecision != "implicitDeny" || a.PermissionsBoundaryDecisionDetail != nil {
		t.Fatalf("group: %+v %+v", a, b)
	}

	// Errors.
	_, err = e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: "arn:aws:iam::" + acct + ":user/nobody", ActionNames: actions})
	wantCode(t, err, "NoSuchEntity")
	_, err = e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: "arn:aws:iam::" + acct + ":policy/bound", ActionNames: actions})
	wantCode(t, err, "InvalidInput")
	_, err = e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: "arn:aws:iam::1:u", ActionNames: actions})
	wantCode(t, err, "ValidationError")
	_, err = e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: alice})
	wantCode(t, err, "ValidationError")
	_, err = e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: alice, ActionNames: actions, PolicyInputList: []string{`{"Statement":[]}`}})
	wantCode(t, err, "InvalidInput")
	_, err = e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: alice, ActionNames: actions, MaxItems: 1001})
	wantCode(t, err, "ValidationError")
	_, err = e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: alice, ActionNames: actions, ResourceHandlingOption: "S3-Bucket"})
	wantCode(t, err, "InvalidInput")
	must[*SimulatePolicyOutput](t)(e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: alice, ActionNames: actions, ResourceHandlingOption: "EC2-VPC-EBS"}))
}

func TestSimulateResourcePolicy(t *testing.T) {
	e := newTestEnv(t)
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc("arn:aws:iam::"+acct+":root", "")}))
	if err := e.s.putInline(e.ctx, e.root, kindRole, PutInlinePolicyInput{RoleName: "r", PolicyName: "kms", PolicyDocument: policyDoc("kms:*")}); err != nil {
		t.Fatal(err)
	}
	key := "arn:aws:kms:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	bob := "arn:aws:iam::" + acct + ":user/bob"
	// A key policy naming only bob: no delegation to IAM policies.
	keyPolicy := `{"Version":"2012-10-17","Statement":[{"Sid":"bob","Effect":"Allow","Principal":{"AWS":"` + bob + `"},"Action":"kms:Decrypt","Resource":"*"}]}`
	role := "arn:aws:iam::" + acct + ":role/r"
	_, err := e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: role, ActionNames: []string{"kms:Decrypt"}, ResourceArns: []string{key}, ResourcePolicy: keyPolicy})
	wantCode(t, err, "InvalidInput") // CallerArn is required for a role with a resource policy
	_, err = e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: role, ActionNames: []string{"kms:Decrypt"}, ResourceArns: []string{key}, ResourcePolicy: keyPolicy, CallerArn: role})
	wantCode(t, err, "InvalidInput") // only a user can be the caller

	sim := func(caller string, actions ...string) []EvaluationResult {
		return must[*SimulatePolicyOutput](t)(e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: role,
			ActionNames: actions, ResourceArns: []string{key}, ResourcePolicy: keyPolicy, CallerArn: caller})).EvaluationResults
	}
	// The role's policies allow kms:*, but the key policy does not delegate to IAM: KMS
	// refuses, and so does the simulator.
	r := sim("arn:aws:iam::"+acct+":user/carol", "kms:Decrypt")[0]
	if r.EvalDecision != "implicitDeny" || r.EvalResourceName != key || len(r.ResourceSpecificResults) != 1 || r.ResourceSpecificResults[0].EvalResourceDecision != "implicitDeny" {
		t.Fatalf("carol: %+v", r)
	}
	if r.EvalDecisionDetails == nil || len(r.EvalDecisionDetails.Entries) != 0 {
		t.Fatalf("same-account EvalDecisionDetails with a resource: %+v", r.EvalDecisionDetails)
	}
	res := sim(bob, "kms:Decrypt", "kms:Encrypt")
	if res[0].EvalDecision != "allowed" || res[1].EvalDecision != "implicitDeny" {
		t.Fatalf("bob: %+v", res)
	}
	m := res[0].ResourceSpecificResults[0].MatchedStatements.Members
	if !slices.ContainsFunc(m, func(s SimStatement) bool {
		return s.SourcePolicyId == "ResourcePolicy" && s.SourcePolicyType == "resource"
	}) {
		t.Fatalf("bob's statements: %+v", m)
	}
	// The default key policy delegates to IAM: the role's policy decides.
	delegating := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"}]}`
	out := must[*SimulatePolicyOutput](t)(e.s.SimulatePrincipalPolicy(e.ctx, e.root, SimulatePrincipalPolicyInput{PolicySourceArn: role,
		ActionNames: []string{"kms:Encrypt"}, ResourceArns: []string{key}, ResourcePolicy: delegating, CallerArn: "arn:aws:iam::" + acct + ":user/carol"}))
	if d := out.EvaluationResults[0].EvalDecision; d != "allowed" {
		t.Fatalf("delegating key policy: %s", d)
	}

	// Several resources: one result per action, the most restrictive decision on top.
	other := "arn:aws:kms:us-east-1:" + acct + ":key/other"
	out = must[*SimulatePolicyOutput](t)(e.s.SimulateCustomPolicy(e.ctx, e.root, SimulateCustomPolicyInput{
		PolicyInputList: []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"` + key + `"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"` + other + `"}]}`},
		ActionNames:     []string{"kms:Decrypt"}, ResourceArns: []string{key, other}}))
	r = out.EvaluationResults[0]
	if len(out.EvaluationResults) != 1 || r.EvalDecision != "explicitDeny" || r.EvalResourceName != "" || len(r.ResourceSpecificResults) != 2 ||
		r.ResourceSpecificResults[0].EvalResourceDecision != "allowed" || r.ResourceSpecificResults[1].EvalResourceDecision != "explicitDeny" {
		t.Fatalf("two resources: %+v", out.EvaluationResults)
	}

	// Another account's resource: both sides must allow, each decision detailed.
	foreign := "arn:aws:kms:us-east-1:444455556666:key/k"
	out = must[*SimulatePolicyOutput](t)(e.s.SimulateCustomPolicy(e.ctx, e.root, SimulateCustomPolicyInput{PolicyInputList: []string{policyDoc("kms:Decrypt")},
		ActionNames: []string{"kms:Decrypt"}, ResourceArns: []string{foreign}, CallerArn: bob}))
	r = out.EvaluationResults[0]
	want := []DecisionDetailEntry{{"IAM Policy", "allowed"}, {"Resource Policy", "implicitDeny"}}
	if r.EvalDecision != "implicitDeny" || r.EvalDecisionDetails == nil || !slices.Equal(r.EvalDecisionDetails.Entries, want) {
		t.Fatalf("cross-account: %+v %+v", r, r.EvalDecisionDetails)
	}
	foreignPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + bob + `"},"Action":"kms:Decrypt","Resource":"*"}]}`
	out = must[*SimulatePolicyOutput](t)(e.s.SimulateCustomPolicy(e.ctx, e.root, SimulateCustomPolicyInput{PolicyInputList: []string{policyDoc("kms:Decrypt")},
		ActionNames: []string{"kms:Decrypt"}, ResourceArns: []string{foreign}, CallerArn: bob, ResourcePolicy: foreignPolicy, ResourceOwner: "arn:aws:iam::444455556666:root"}))
	if d := out.EvaluationResults[0].EvalDecision; d != "allowed" {
		t.Fatalf("cross-account with both allowing: %s", d)
	}
	_, err = e.s.SimulateCustomPolicy(e.ctx, e.root, SimulateCustomPolicyInput{PolicyInputList: []string{policyDoc("kms:Decrypt")}, ActionNames: []string{"kms:Decrypt"}, ResourcePolicy: foreignPolicy})
	wantCode(t, err, "InvalidInput") // no CallerArn
	_, err = e.s.SimulateCustomPolicy(e.ctx, e.root, SimulateCustomPolicyInput{PolicyInputList: []string{policyDoc("kms:Decrypt")}, ActionNames: []string{"kms:Decrypt"}, ResourcePolicy: policyDoc("kms:Decrypt"), CallerArn: bob})
	wantCode(t, err, "InvalidInput") // a resource policy names a principal
}

func TestSimulatePagingAndWire(t *testing.T) {
	e := newTestEnv(t)
	op := Operations()["SimulateCustomPolicy"]
	form := url.Values{"PolicyInputList.member.1": {simDated}, "ActionNames.member.1": {"dynamodb:A"}, "ActionNames.member.2": {"dynamodb:B"},
		"ActionNames.member.3": {"kms:C"}, "MaxItems": {"2"},
		"ContextEntries.member.1.ContextKeyName": {"aws:CurrentTime"}, "ContextEntries.member.1.ContextKeyType": {"date"},
		"ContextEntries.member.1.ContextKeyValues.member.1": {"2019-04-25T11:00:00Z"}}
	v, err := op(e.s, e.ctx, e.root, []byte(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	out := v.(*SimulatePolicyOutput)
	if len(out.EvaluationResults) != 2 || !out.IsTruncated || out.Marker == "" || out.EvaluationResults[1].EvalDecision != "allowed" {
		t.Fatalf("first page: %+v", out)
	}
	x := squash(marshalResult(t, "SimulateCustomPolicy", out))
	if !strings.Contains(x, "<MatchedStatements><member><SourcePolicyId>PolicyInputList.1</SourcePolicyId><SourcePolicyType>none</SourcePolicyType><StartPosition><Line>1</Line><Column>38</Column></StartPosition><EndPosition><Line>1</Line><Column>167</Column></EndPosition></member></MatchedStatements><MissingContextValues></MissingContextValues>") ||
		!strings.Contains(x, "<IsTruncated>true</IsTruncated><Marker>") {
		t.Fatalf("XML: %s", x)
	}
	form.Set("Marker", out.Marker)
	v, err = op(e.s, e.ctx, e.root, []byte(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	out = v.(*SimulatePolicyOutput)
	if len(out.EvaluationResults) != 1 || out.IsTruncated || out.EvaluationResults[0].EvalActionName != "kms:C" || out.EvaluationResults[0].EvalDecision != "implicitDeny" {
		t.Fatalf("second page: %+v", out)
	}
	form.Set("Marker", "x")
	_, err = op(e.s, e.ctx, e.root, []byte(form.Encode()))
	wantCode(t, err, "InvalidInput")
}

func TestGetContextKeys(t *testing.T) {
	e := newTestEnv(t)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/${aws:PrincipalTag/key}",
		"Condition":{"StringEquals":{"kms:ViaService":"x","AWS:SourceIp":"y"},"Null":{"aws:sourceip":"false"}}}]}`
	got := must[*GetContextKeysOutput](t)(e.s.GetContextKeysForCustomPolicy(e.ctx, e.root, GetContextKeysForCustomPolicyInput{PolicyInputList: []string{doc, simDated}})).ContextKeyNames.Members
	// Statement by statement: variables of the resources, then the condition keys by
	// operator and key; each key once, as first written.
	want := []string{"aws:PrincipalTag/key", "aws:sourceip", "kms:ViaService", "aws:CurrentTime"}
	if !slices.Equal(got, want) {
		t.Fatalf("custom: %v, want %v", got, want)
	}
	_, err := e.s.GetContextKeysForCustomPolicy(e.ctx, e.root, GetContextKeysForCustomPolicyInput{})
	wantCode(t, err, "ValidationError")

	bound := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "b", PolicyDocument: simDated})).Policy.Arn
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "alice", PermissionsBoundary: bound}))
	if err := e.s.putInline(e.ctx, e.root, kindUser, PutInlinePolicyInput{UserName: "alice", PolicyName: "p", PolicyDocument: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}}`}); err != nil {
		t.Fatal(err)
	}
	got = must[*GetContextKeysOutput](t)(e.s.GetContextKeysForPrincipalPolicy(e.ctx, e.root, GetContextKeysForPrincipalPolicyInput{PolicySourceArn: "arn:aws:iam::" + acct + ":user/alice"})).ContextKeyNames.Members
	if !slices.Equal(got, []string{"aws:MultiFactorAuthPresent", "aws:CurrentTime"}) {
		t.Fatalf("principal: %v", got)
	}
	_, err = e.s.GetContextKeysForPrincipalPolicy(e.ctx, e.root, GetContextKeysForPrincipalPolicyInput{PolicySourceArn: "arn:aws:iam::" + acct + ":user/bob"})
	wantCode(t, err, "NoSuchEntity")
}

// TestSimulatePageBoundsEvaluations: a page holds at most maxSimEvaluations evaluations
// (actions times resources), fewer actions than MaxItems when there are many resources;
// the Marker gives the rest, each action once, in order, with its decision.
func TestSimulatePageBoundsEvaluations(t *testing.T) {
	e := newTestEnv(t)
	var actions, resources []string
	for range 30 {
		actions = append(actions, "kms:Encrypt", "kms:Decrypt", "kms:Sign")
	}
	for i := range 2000 {
		resources = append(resources, "arn:aws:kms:us-east-1:111122223333:key/k"+strconv.Itoa(i))
	}
	perPage := maxSimEvaluations / len(resources)
	var got []EvaluationResult
	marker, pages := "", 0
	for {
		out := must[*SimulatePolicyOutput](t)(e.s.SimulateCustomPolicy(e.ctx, e.root, SimulateCustomPolicyInput{
			PolicyInputList: []string{simAllowKMS, simDenyDec}, ActionNames: actions, ResourceArns: resources, MaxItems: 1000, Marker: marker}))
		pages++
		if n := len(out.EvaluationResults); n == 0 || n > perPage {
			t.Fatalf("page %d: %d results for %d resources, want 1..%d", pages, n, len(resources), perPage)
		}
		got = append(got, out.EvaluationResults...)
		if !out.IsTruncated {
			break
		}
		marker = out.Marker
	}
	if len(got) != len(actions) {
		t.Fatalf("%d results over %d pages, want %d", len(got), pages, len(actions))
	}
	want := map[string]string{"kms:Encrypt": "allowed", "kms:Decrypt": "explicitDeny", "kms:Sign": "implicitDeny"}
	for i, r := range got {
		if r.EvalActionName != actions[i] || r.EvalDecision != want[actions[i]] || len(r.ResourceSpecificResults) != len(resources) {
			t.Fatalf("result %d: %s %s with %d resources", i, r.EvalActionName, r.EvalDecision, len(r.ResourceSpecificResults))
		}
	}
	// Few resources: MaxItems decides, as before.
	out := must[*SimulatePolicyOutput](t)(e.s.SimulateCustomPolicy(e.ctx, e.root, SimulateCustomPolicyInput{
		PolicyInputList: []string{simAllowKMS}, ActionNames: actions, ResourceArns: resources[:2], MaxItems: 50}))
	if len(out.EvaluationResults) != 50 || !out.IsTruncated {
		t.Fatalf("2 resources, MaxItems 50: %d results, truncated %v", len(out.EvaluationResults), out.IsTruncated)
	}
}
