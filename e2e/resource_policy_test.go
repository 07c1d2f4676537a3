package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
)

// cloudhsmAs is an aws-sdk-go-v2 CloudHSMv2 client for the server signed with c.
func (s *server) cloudhsmAs(c awsCreds) *cloudhsmv2.Client {
	return cloudhsmv2.New(cloudhsmv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), RetryMaxAttempts: 1, HTTPClient: s.httpClient(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Source: "e2e"}, nil
		})})
}

// TestCloudHSMIdentityPolicyOnResource: identity policies for cloudhsm: actions are decided
// on the cluster or backup ARN the request names, as on AWS, not on "*" — a Deny scoped to
// one cluster stops a call on it, and an Allow scoped to it allows calls on it only.
// The refusal naming the cluster is read with Debian's AWS CLI; the setup and the other
// decisions use aws-sdk-go-v2 and queryCall.
func TestCloudHSMIdentityPolicyOnResource(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s, root := debianCLINode(t)
	acct := sdkAccount(t, s, root)
	id := aws.ToString(devCluster(t, s.cloudhsmClient()).ClusterId)
	clusterARN := "arn:aws:cloudhsm:us-east-1:" + acct + ":cluster/" + id

	// ops may do everything but tag this one cluster.
	ops, _ := sdkNewIAMUser(t, s, root, "ops")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "ops", "PolicyName", "hsm",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"},
 {"Effect":"Deny","Action":"cloudhsm:TagResource","Resource":"`+clusterARN+`"}]}`)
	msg := awsDenied(t, s, ops, "cloudhsmv2", "tag-resource", "--resource-id", id, "--tag-list", "Key=team,Value=ops")
	if !strings.Contains(msg, "cloudhsm:TagResource") || !strings.Contains(msg, clusterARN) {
		t.Fatalf("denial message: %s", msg)
	}
	if _, err := s.cloudhsmAs(ops).ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &id}); err != nil {
		t.Fatalf("ops ListTags: %v", err)
	}

	// auditor may only list this cluster's tags: allowed on it, refused for an operation
	// that names no cluster.
	auditor, _ := sdkNewIAMUser(t, s, root, "auditor")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "auditor", "PolicyName", "hsm",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudhsm:ListTags","Resource":"`+clusterARN+`"}]}`)
	if _, err := s.cloudhsmAs(auditor).ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &id}); err != nil {
		t.Fatalf("auditor ListTags: %v", err)
	}
	_, err := s.cloudhsmAs(auditor).DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
	if c := apiCode(err); !strings.Contains(c, "AccessDenied") {
		t.Fatalf("auditor DescribeClusters: %v, want AccessDenied", err)
	}
}

// TestIAMAndSNSIdentityPolicyOnResource: identity policies for iam: and sns: actions are
// decided on the user, role or topic the request names: a Deny scoped to one of them stops
// calls on it and only on it. The calls are made with queryCall (the decisions are the
// server's), the trail is read with aws-sdk-go-v2.
func TestIAMAndSNSIdentityPolicyOnResource(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s := startServer(t, "", nil)
	root := s.rootAWS()
	acct := sdkAccount(t, s, root)

	alarms := sdkCreateTopic(t, s, root, "alarms")
	other := sdkCreateTopic(t, s, root, "other")
	qOK(t, s, root, nil, "iam", "CreateUser", "UserName", "break-glass")
	qOK(t, s, root, nil, "iam", "CreateUser", "UserName", "temp")

	ops, _ := sdkNewIAMUser(t, s, root, "ops")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "ops", "PolicyName", "ops",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["sns:*","iam:*"],"Resource":"*"},
 {"Effect":"Deny","Action":"sns:Publish","Resource":"`+alarms+`"},
 {"Effect":"Deny","Action":"iam:DeleteUser","Resource":"arn:aws:iam::`+acct+`:user/break-glass"}]}`)

	msg := qDenied(t, s, ops, "sns", "Publish", "TopicArn", alarms, "Message", "spoofed alarm")
	if !strings.Contains(msg, "SNS:Publish") || !strings.Contains(msg, alarms) {
		t.Fatalf("denial message: %s", msg)
	}
	qOK(t, s, ops, nil, "sns", "Publish", "TopicArn", other, "Message", "hello")
	// The trail names the user by its unique id (principalId), as CloudTrail does.
	var u struct {
		UserID string `xml:"GetUserResult>User>UserId"`
	}
	qOK(t, s, root, &u, "iam", "GetUser", "UserName", "ops")
	found := lookupAll(t, s, "Username", "ops")
	var ev struct {
		UserIdentity struct{ PrincipalID string } `json:"userIdentity"`
	}
	if len(found) == 0 || json.Unmarshal([]byte(found[0].Raw), &ev) != nil ||
		!strings.HasPrefix(u.UserID, "AIDA") || ev.UserIdentity.PrincipalID != u.UserID {
		t.Fatalf("principalId of ops's events: %+v, want %q", ev.UserIdentity, u.UserID)
	}
	qDenied(t, s, ops, "iam", "DeleteUser", "UserName", "break-glass")
	qOK(t, s, ops, nil, "iam", "DeleteUser", "UserName", "temp")
	qOK(t, s, root, nil, "iam", "GetUser", "UserName", "break-glass")
}
