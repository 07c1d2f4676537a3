package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// simResults is the JSON the AWS CLIs print for simulate-principal-policy and
// simulate-custom-policy.
type simResults struct {
	EvaluationResults []simEval
}

type simEval struct {
	EvalActionName, EvalResourceName, EvalDecision string
	MatchedStatements                              []struct {
		SourcePolicyId, SourcePolicyType string
		StartPosition, EndPosition       struct{ Line, Column int }
	}
	MissingContextValues              []string
	PermissionsBoundaryDecisionDetail *struct{ AllowedByPermissionsBoundary bool }
	ResourceSpecificResults           []struct{ EvalResourceName, EvalResourceDecision string }
}

func (r simResults) decisions() map[string]string {
	out := map[string]string{}
	for _, e := range r.EvaluationResults {
		out[e.EvalActionName] = e.EvalDecision
	}
	return out
}

// TestIAMPolicySimulatorMatchesKMS asks the policy simulator whether alice may call KMS
// actions on a key (Debian's AWS CLI simulate-principal-policy, paging through the
// results), then makes the same calls as alice with aws-sdk-go-v2: an allowed action
// succeeds and a denied one is refused with AccessDeniedException. A key whose policy
// does not delegate to IAM is denied by KMS and by the simulator given that key policy
// (not without it, as on AWS); SimulateCustomPolicy with alice's policy, the key policy
// and alice as the caller agrees with the same calls. simulate-custom-policy and
// get-context-keys-for-custom-policy run with the v1 CLI (statement positions, context
// entries); SimulatePrincipalPolicy itself needs iam:SimulatePrincipalPolicy on the
// simulated user.
func TestIAMPolicySimulatorMatchesKMS(t *testing.T) {
	t.Parallel()
	s, root := debianCLINode(t)
	acct := sdkAccount(t, s, root)
	rk := s.kmsAs(root)
	key, err := rk.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("simulated")})
	if err != nil {
		t.Fatal(err)
	}
	keyArn := aws.ToString(key.KeyMetadata.Arn)
	// A key whose policy lets the root manage it but delegates no use to IAM policies.
	closed, err := rk.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("closed"), Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Sid":"admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":["kms:PutKeyPolicy","kms:GetKeyPolicy","kms:DescribeKey","kms:ScheduleKeyDeletion"],"Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	closedArn := aws.ToString(closed.KeyMetadata.Arn)

	alice, aliceArn := sdkNewIAMUser(t, s, root, "alice")
	alicePolicy := `{"Version":"2012-10-17","Statement":[
  {"Sid":"Use","Effect":"Allow","Action":["kms:Encrypt","kms:GenerateDataKey"],"Resource":["` + keyArn + `","` + closedArn + `"]},
  {"Sid":"NoKeys","Effect":"Deny","Action":"kms:GenerateDataKey","Resource":"*"}
]}`
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "alice", "PolicyName", "kms", "PolicyDocument", alicePolicy)
	ct, err := rk.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyArn, Plaintext: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	actions := []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
	real := func(keyID, action string) error {
		ak := s.kmsAs(alice)
		var err error
		switch action {
		case "kms:Decrypt":
			_, err = ak.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, KeyId: &keyID})
		case "kms:Encrypt":
			_, err = ak.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
		case "kms:GenerateDataKey":
			_, err = ak.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &keyID, NumberOfBytes: aws.Int32(32)})
		}
		return err
	}
	compare := func(what, keyID string, got simResults, want map[string]string) {
		t.Helper()
		d := got.decisions()
		for _, a := range actions {
			if d[a] != want[a] {
				t.Errorf("%s: %s simulated %q, want %q", what, a, d[a], want[a])
			}
			err := real(keyID, a)
			if d[a] == "allowed" && err != nil {
				t.Errorf("%s: %s simulated allowed, the call fails: %v", what, a, err)
			}
			if d[a] != "allowed" && apiCode(err) != "AccessDeniedException" {
				t.Errorf("%s: %s simulated %s, the call answers %v", what, a, d[a], err)
			}
		}
	}

	// The command, paging one result at a time.
	var got simResults
	awsOK(t, s, root, &got, "iam", "simulate-principal-policy", "--policy-source-arn", aliceArn,
		"--action-names", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "--resource-arns", keyArn, "--page-size", "1")
	if len(got.EvaluationResults) != 3 {
		t.Fatalf("simulate-principal-policy: %+v", got)
	}
	want := map[string]string{"kms:Decrypt": "implicitDeny", "kms:Encrypt": "allowed", "kms:GenerateDataKey": "explicitDeny"}
	compare("default key policy", keyArn, got, want)
	for _, r := range got.EvaluationResults {
		if r.EvalResourceName != keyArn || len(r.ResourceSpecificResults) != 1 || r.ResourceSpecificResults[0].EvalResourceDecision != r.EvalDecision {
			t.Errorf("%s: resource results %+v", r.EvalActionName, r)
		}
		switch r.EvalActionName {
		case "kms:Encrypt", "kms:GenerateDataKey":
			// Line 2 holds the Allow, line 3 the Deny (each is "  {...},").
			line := map[string]int{"kms:Encrypt": 2, "kms:GenerateDataKey": 3}[r.EvalActionName]
			if m := r.MatchedStatements; len(m) != 1 || m[0].SourcePolicyId != "kms" || m[0].SourcePolicyType != "user" ||
				m[0].StartPosition.Line != line || m[0].StartPosition.Column != 4 || m[0].EndPosition.Line != line {
				t.Errorf("%s: statements %+v", r.EvalActionName, m)
			}
		}
	}

	// With the key policy of the closed key as the resource policy, the simulator
	// applies KMS's rule: the identity policy's Allow is not enough.
	kp, err := rk.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &closedArn})
	if err != nil {
		t.Fatal(err)
	}
	got = simResults{}
	awsOK(t, s, root, &got, "iam", "simulate-principal-policy", "--policy-source-arn", aliceArn,
		"--action-names", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "--resource-arns", closedArn,
		"--resource-policy", aws.ToString(kp.Policy))
	compare("closed key", closedArn, got, map[string]string{"kms:Decrypt": "implicitDeny", "kms:Encrypt": "implicitDeny", "kms:GenerateDataKey": "explicitDeny"})
	// Without it, the identity policies alone allow Encrypt (AWS's simulator does not
	// fetch resource policies either).
	var bare struct {
		Decision string `xml:"SimulatePrincipalPolicyResult>EvaluationResults>member>EvalDecision"`
	}
	qOK(t, s, root, &bare, "iam", "SimulatePrincipalPolicy", "PolicySourceArn", aliceArn, "ActionNames.member.1", "kms:Encrypt",
		"ResourceArns.member.1", closedArn)
	if bare.Decision != "allowed" {
		t.Fatalf("closed key without its policy: %s", bare.Decision)
	}

	// SimulateCustomPolicy (signed with aws-sdk-go-v2's signer) with alice's policy, as
	// alice, on each key with its key policy.
	for _, k := range []struct{ arn, policy string }{{keyArn, ""}, {closedArn, aws.ToString(kp.Policy)}} {
		if k.policy == "" {
			p, err := rk.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &keyArn})
			if err != nil {
				t.Fatal(err)
			}
			k.policy = aws.ToString(p.Policy)
		}
		var x struct {
			Results []struct{ EvalActionName, EvalDecision string } `xml:"SimulateCustomPolicyResult>EvaluationResults>member"`
		}
		qOK(t, s, root, &x, "iam", "SimulateCustomPolicy", "PolicyInputList.member.1", alicePolicy, "ActionNames.member.1", actions[0],
			"ActionNames.member.2", actions[1], "ActionNames.member.3", actions[2], "ResourceArns.member.1", k.arn,
			"ResourcePolicy", k.policy, "CallerArn", aliceArn)
		var custom simResults
		for _, r := range x.Results {
			custom.EvaluationResults = append(custom.EvaluationResults, simEval{EvalActionName: r.EvalActionName, EvalDecision: r.EvalDecision})
		}
		wantCustom := map[string]string{"kms:Decrypt": "implicitDeny", "kms:Encrypt": "allowed", "kms:GenerateDataKey": "explicitDeny"}
		if k.arn == closedArn {
			wantCustom["kms:Encrypt"] = "implicitDeny"
		}
		compare("custom policy on "+k.arn, k.arn, custom, wantCustom)
	}

	// simulate-custom-policy with the v1 CLI: AWS's own example (positions 1:38-1:167)
	// with a date context entry.
	v1 := awsCLIs(t)["v1"]
	if v1 == "" {
		t.Skip("the v1 AWS CLI is not on PATH")
	}
	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}`
	for date, want := range map[string]string{"2019-04-25T11:00:00Z": "allowed", "2014-04-25T11:00:00Z": "implicitDeny"} {
		out, errOut, ok := awsRun(s, v1, "us-east-1", root, "iam", "simulate-custom-policy", "--policy-input-list", doc,
			"--action-names", "dynamodb:CreateBackup", "--context-entries", "ContextKeyName=aws:CurrentTime,ContextKeyValues="+date+",ContextKeyType=date")
		if !ok {
			t.Fatalf("simulate-custom-policy: %s", errOut)
		}
		var r simResults
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.EvaluationResults) != 1 {
			t.Fatalf("simulate-custom-policy: %v\n%s", err, out)
		}
		e := r.EvaluationResults[0]
		if e.EvalDecision != want || e.EvalResourceName != "*" {
			t.Errorf("%s: %+v, want %s", date, e, want)
		}
		if want == "allowed" {
			if m := e.MatchedStatements; len(m) != 1 || m[0].SourcePolicyId != "PolicyInputList.1" || m[0].StartPosition != (struct{ Line, Column int }{1, 38}) ||
				m[0].EndPosition != (struct{ Line, Column int }{1, 167}) {
				t.Errorf("statements: %+v", m)
			}
		}
	}
	_, errOut, ok := awsRun(s, v1, "us-east-1", root, "iam", "simulate-custom-policy", "--policy-input-list", doc,
		"--action-names", "dynamodb:CreateBackup", "--context-entries", "ContextKeyName=aws:CurrentTime,ContextKeyValues=soon,ContextKeyType=date")
	if ok || !strings.Contains(errOut, "InvalidInput") {
		t.Fatalf("a bad date: %s", errOut)
	}
	var keys struct {
		ContextKeyNames []string
	}
	out, errOut, ok := awsRun(s, v1, "us-east-1", root, "iam", "get-context-keys-for-custom-policy", "--policy-input-list", doc)
	if !ok || json.Unmarshal([]byte(out), &keys) != nil || len(keys.ContextKeyNames) != 1 || keys.ContextKeyNames[0] != "aws:CurrentTime" {
		t.Fatalf("get-context-keys-for-custom-policy: %s %s", out, errOut)
	}

	// The simulator is authorized like any IAM call: on the simulated user's ARN.
	bob, _ := sdkNewIAMUser(t, s, root, "bob")
	qDenied(t, s, bob, "iam", "SimulatePrincipalPolicy", "PolicySourceArn", aliceArn, "ActionNames.member.1", "kms:Encrypt")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "bob", "PolicyName", "sim",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:SimulatePrincipalPolicy","Resource":"`+aliceArn+`"}]}`)
	var q struct {
		Decision string `xml:"SimulatePrincipalPolicyResult>EvaluationResults>member>EvalDecision"`
	}
	qOK(t, s, bob, &q, "iam", "SimulatePrincipalPolicy", "PolicySourceArn", aliceArn, "ActionNames.member.1", "kms:Encrypt",
		"ResourceArns.member.1", keyArn)
	if q.Decision != "allowed" {
		t.Fatalf("bob simulates alice: %q", q.Decision)
	}
	qDenied(t, s, bob, "iam", "SimulatePrincipalPolicy", "PolicySourceArn", "arn:aws:iam::"+acct+":user/bob", "ActionNames.member.1", "kms:Encrypt")
	qDenied(t, s, bob, "iam", "SimulateCustomPolicy", "PolicyInputList.member.1", doc, "ActionNames.member.1", "kms:Encrypt")
	qFails(t, s, root, "NoSuchEntity", "iam", "SimulatePrincipalPolicy", "PolicySourceArn", "arn:aws:iam::"+acct+":user/nobody", "ActionNames.member.1", "kms:Encrypt")
}
