package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestCloudHSMIdentityPolicyOnResource: identity policies for cloudhsm: actions are decided
// on the cluster or backup ARN the request names, as on AWS, not on "*" — a Deny scoped to
// one cluster stops a call on it, and an Allow scoped to it allows calls on it only.
func TestCloudHSMIdentityPolicyOnResource(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s, root := debianCLINode(t)
	var who struct{ Account string }
	awsOK(t, s, root, &who, "sts", "get-caller-identity")
	id := aws.ToString(devCluster(t, s.cloudhsmClient()).ClusterId)
	clusterARN := "arn:aws:cloudhsm:us-east-1:" + who.Account + ":cluster/" + id

	// ops may do everything but tag this one cluster.
	ops, _ := newIAMUser(t, s, root, "ops")
	awsOK(t, s, root, nil, "iam", "put-user-policy", "--user-name", "ops", "--policy-name", "hsm",
		"--policy-document", `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"},
 {"Effect":"Deny","Action":"cloudhsm:TagResource","Resource":"`+clusterARN+`"}]}`)
	msg := awsDenied(t, s, ops, "cloudhsmv2", "tag-resource", "--resource-id", id, "--tag-list", "Key=team,Value=ops")
	if !strings.Contains(msg, "cloudhsm:TagResource") || !strings.Contains(msg, clusterARN) {
		t.Fatalf("denial message: %s", msg)
	}
	awsOK(t, s, ops, nil, "cloudhsmv2", "list-tags", "--resource-id", id)

	// auditor may only list this cluster's tags: allowed on it, refused for an operation
	// that names no cluster.
	auditor, _ := newIAMUser(t, s, root, "auditor")
	awsOK(t, s, root, nil, "iam", "put-user-policy", "--user-name", "auditor", "--policy-name", "hsm",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudhsm:ListTags","Resource":"`+clusterARN+`"}]}`)
	awsOK(t, s, auditor, nil, "cloudhsmv2", "list-tags", "--resource-id", id)
	awsDenied(t, s, auditor, "cloudhsmv2", "describe-clusters")
}

// TestIAMAndSNSIdentityPolicyOnResource: identity policies for iam: and sns: actions are
// decided on the user, role or topic the request names: a Deny scoped to one of them stops
// calls on it and only on it.
func TestIAMAndSNSIdentityPolicyOnResource(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s, root := debianCLINode(t)
	var who struct{ Account string }
	awsOK(t, s, root, &who, "sts", "get-caller-identity")
	acct := who.Account

	var alarms, other struct{ TopicArn string }
	awsOK(t, s, root, &alarms, "sns", "create-topic", "--name", "alarms")
	awsOK(t, s, root, &other, "sns", "create-topic", "--name", "other")
	awsOK(t, s, root, nil, "iam", "create-user", "--user-name", "break-glass")
	awsOK(t, s, root, nil, "iam", "create-user", "--user-name", "temp")

	ops, _ := newIAMUser(t, s, root, "ops")
	awsOK(t, s, root, nil, "iam", "put-user-policy", "--user-name", "ops", "--policy-name", "ops",
		"--policy-document", `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["sns:*","iam:*"],"Resource":"*"},
 {"Effect":"Deny","Action":"sns:Publish","Resource":"`+alarms.TopicArn+`"},
 {"Effect":"Deny","Action":"iam:DeleteUser","Resource":"arn:aws:iam::`+acct+`:user/break-glass"}]}`)

	_, msg, ok := awsAs(t, s, ops, "sns", "publish", "--topic-arn", alarms.TopicArn, "--message", "spoofed alarm")
	if ok || !strings.Contains(msg, "AuthorizationError") || !strings.Contains(msg, "sns:Publish") || !strings.Contains(msg, alarms.TopicArn) {
		t.Fatalf("denial message: %s", msg)
	}
	awsOK(t, s, ops, nil, "sns", "publish", "--topic-arn", other.TopicArn, "--message", "hello")
	// The trail names the user by its unique id (principalId), as CloudTrail does.
	var u struct{ User struct{ UserId string } }
	awsOK(t, s, root, &u, "iam", "get-user", "--user-name", "ops")
	var found struct {
		Events []struct{ CloudTrailEvent string }
	}
	awsOK(t, s, root, &found, "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=Username,AttributeValue=ops")
	var ev struct {
		UserIdentity struct{ PrincipalID string } `json:"userIdentity"`
	}
	if len(found.Events) == 0 || json.Unmarshal([]byte(found.Events[0].CloudTrailEvent), &ev) != nil ||
		!strings.HasPrefix(u.User.UserId, "AIDA") || ev.UserIdentity.PrincipalID != u.User.UserId {
		t.Fatalf("principalId of ops's events: %+v, want %q", ev.UserIdentity, u.User.UserId)
	}
	awsDenied(t, s, ops, "iam", "delete-user", "--user-name", "break-glass")
	awsOK(t, s, ops, nil, "iam", "delete-user", "--user-name", "temp")
	awsOK(t, s, root, nil, "iam", "get-user", "--user-name", "break-glass")
}
