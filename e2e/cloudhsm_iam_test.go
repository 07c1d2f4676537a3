package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestCloudHSMIdentityPolicyOnResource: identity policies for cloudhsm: actions are decided
// on the cluster or backup ARN the request names, as on AWS, not on "*" — a Deny scoped to
// one cluster stops a call on it, and an Allow scoped to it allows calls on it only.
func TestCloudHSMIdentityPolicyOnResource(t *testing.T) {
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil)
	dc := s.creds()
	root := awsCreds{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey}
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
