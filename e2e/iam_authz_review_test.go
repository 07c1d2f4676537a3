package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestIAMAuthzReview drives the fixes of the authorization review with real clients:
//   - Debian's AWS CLI simulate-principal-policy is authorized on the simulated user's own
//     ARN: a --policy-source-arn with a made-up path (or another case of the name) does not
//     escape a statement scoped to a path the user is not in;
//   - the same CLI's simulate-custom-policy pages a request with many resources (fewer
//     actions per page than asked, the CLI following the Marker) and gets every action;
//     a page asked for with MaxItems 1000 holds 10 actions on 1000 resources;
//   - a federated user's session (GetFederationToken, aws-sdk-go-v2 KMS calls) stays its
//     user's when the user is renamed, and does not take the policies of a new user given
//     the old name.
func TestIAMAuthzReview(t *testing.T) {
	t.Parallel()
	s, root := debianCLINode(t)
	acct := sdkAccount(t, s, root)

	// The simulator's authorization.
	qOK(t, s, root, nil, "iam", "CreateUser", "UserName", "admin")
	qOK(t, s, root, nil, "iam", "CreateUser", "UserName", "dev", "Path", "/team/")
	lead, _ := sdkNewIAMUser(t, s, root, "lead")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "lead", "PolicyName", "sim", "PolicyDocument",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:SimulatePrincipalPolicy","Resource":"arn:aws:iam::`+acct+`:user/team/*"}]}`)
	var got simResults
	awsOK(t, s, lead, &got, "iam", "simulate-principal-policy", "--policy-source-arn", "arn:aws:iam::"+acct+":user/team/dev",
		"--action-names", "kms:Encrypt")
	if len(got.EvaluationResults) != 1 || got.EvaluationResults[0].EvalDecision != "implicitDeny" {
		t.Fatalf("lead simulates dev: %+v", got)
	}
	for _, src := range []string{"user/admin", "user/team/admin", "user/team/ADMIN"} {
		msg := awsDenied(t, s, lead, "iam", "simulate-principal-policy", "--policy-source-arn", "arn:aws:iam::"+acct+":"+src,
			"--action-names", "kms:Encrypt")
		if !strings.Contains(msg, "on resource: arn:aws:iam::"+acct+":user/admin") {
			t.Errorf("%s: %s", src, msg)
		}
	}

	// A page holds at most 10000 evaluations: 15 actions on 1000 resources take two
	// pages, which the CLI joins.
	var actions []string
	for range 3 {
		actions = append(actions, "kms:Encrypt", "kms:Decrypt", "kms:Sign", "kms:Verify", "kms:ListKeys")
	}
	args := []string{"iam", "simulate-custom-policy", "--policy-input-list",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`, "--action-names"}
	args = append(args, actions...)
	args = append(args, "--resource-arns")
	for i := range 1000 {
		args = append(args, "arn:aws:kms:us-east-1:"+acct+":key/k"+strconv.Itoa(i))
	}
	out, errOut, ok := awsAs(t, s, root, args...)
	var all simResults
	if !ok || json.Unmarshal([]byte(out), &all) != nil {
		t.Fatalf("simulate-custom-policy with 1000 resources: %s", errOut)
	}
	if len(all.EvaluationResults) != len(actions) {
		t.Fatalf("%d results, want %d", len(all.EvaluationResults), len(actions))
	}
	for i, r := range all.EvaluationResults {
		want := "implicitDeny"
		if actions[i] == "kms:Encrypt" {
			want = "allowed"
		}
		if r.EvalActionName != actions[i] || r.EvalDecision != want || len(r.ResourceSpecificResults) != 1000 {
			t.Errorf("result %d: %s %s, %d resources", i, r.EvalActionName, r.EvalDecision, len(r.ResourceSpecificResults))
		}
	}

	// The first page itself, signed with aws-sdk-go-v2's signer, asking for 1000 results.
	params := []string{"PolicyInputList.member.1", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`, "MaxItems", "1000"}
	for i, a := range actions {
		params = append(params, "ActionNames.member."+strconv.Itoa(i+1), a)
	}
	for i := range 1000 {
		params = append(params, "ResourceArns.member."+strconv.Itoa(i+1), "arn:aws:kms:us-east-1:"+acct+":key/k"+strconv.Itoa(i))
	}
	var page struct {
		Results   []string `xml:"SimulateCustomPolicyResult>EvaluationResults>member>EvalActionName"`
		Truncated bool     `xml:"SimulateCustomPolicyResult>IsTruncated"`
		Marker    string   `xml:"SimulateCustomPolicyResult>Marker"`
	}
	qOK(t, s, root, &page, "iam", "SimulateCustomPolicy", params...)
	if len(page.Results) != 10 || !page.Truncated || page.Marker == "" {
		t.Errorf("first page of 15 actions on 1000 resources: %d results, truncated %v, marker %q", len(page.Results), page.Truncated, page.Marker)
	}

	// A federated user across a rename of its user.
	alice, _ := sdkNewIAMUser(t, s, root, "alice")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "alice", "PolicyName", "list", "PolicyDocument",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:ListKeys","sts:GetFederationToken"],"Resource":"*"}]}`)
	fed := sdkTempCreds(t, s, alice, "GetFederationToken", "Name", "bob", "Policy",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	fk := s.kmsAs(fed)
	if _, err := fk.ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatal(err)
	}
	qOK(t, s, root, nil, "iam", "UpdateUser", "UserName", "alice", "NewUserName", "alice2")
	qOK(t, s, root, nil, "iam", "CreateUser", "UserName", "alice")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "alice", "PolicyName", "all", "PolicyDocument",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
	if _, err := fk.ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("ListKeys after the rename: %v", err)
	}
	_, err := fk.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("not alice2's to make")})
	kmsDenied(t, "CreateKey with the new alice's policies", err)
}
