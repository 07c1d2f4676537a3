package main

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/sns"
)

// TestSNSTopicPolicyGuard: SNS requests on a topic are decided with the caller's identity
// policies and the topic's policy, as AWS decides a same-account request with a
// resource-based policy: an explicit Deny in either wins (the root's requests too), an
// Allow in either suffices, and a topic statement naming the caller's ARN is not limited
// by the caller's permissions boundary.
func TestSNSTopicPolicyGuard(t *testing.T) {
	const acct = testAccount
	ss, err := sns.New(sns.Config{AccountID: acct})
	if err != nil {
		t.Fatal(err)
	}
	svc, store, run := iamTestService(t, ss)
	t.Cleanup(func() { ss.Close() }) // (before the store's Close: cleanups run last first)
	ss.Attach(store)
	ctx := context.Background()
	rootP := awsproto.Principal{Account: acct, ARN: "arn:aws:iam::" + acct + ":root", Type: "Root"}
	allow := func(action string) string {
		return url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"*"}]}`)
	}
	for _, u := range []string{"publisher", "nobody", "bounded"} {
		run("CreateUser", "UserName="+u)
	}
	run("PutUserPolicy", "UserName=publisher&PolicyName=p&PolicyDocument="+allow("sns:Publish"))
	run("PutUserPolicy", "UserName=bounded&PolicyName=p&PolicyDocument="+allow("sns:Publish"))
	run("CreatePolicy", "PolicyName=kmsonly&PolicyDocument="+allow("kms:*"))
	run("PutUserPermissionsBoundary", "UserName=bounded&PermissionsBoundary=arn:aws:iam::"+acct+":policy/kmsonly")

	topic, err := ss.CreateTopic(ctx, "t", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	handlers := snsQueryService(ss, &identityAuthorizer{iam: svc, now: time.Now}).Operations
	userARN := func(u string) string { return testUser(u).ARN }
	callAs := func(p awsproto.Principal, op, body string) error {
		t.Helper()
		_, err := handlers[op](ctx, &awsproto.Call{Operation: op, Principal: p, Region: "us-east-1", Body: []byte(body)})
		return err
	}
	call := func(user, op, body string) error {
		t.Helper()
		return callAs(testUser(user), op, body)
	}
	publish := "TopicArn=" + url.QueryEscape(topic) + "&Message=hi"
	denied := func(err error, why string) {
		t.Helper()
		var ae *awsproto.Error
		if !errors.As(err, &ae) || ae.Code != "AuthorizationError" || ae.Status != 403 || !strings.Contains(ae.Message, why) {
			t.Fatalf("want AuthorizationError (%s), got %v", why, err)
		}
	}
	setPolicy := func(stmts string) {
		t.Helper()
		doc := `{"Version":"2012-10-17","Statement":[` + stmts + `]}`
		if err := callAs(rootP, "SetTopicAttributes", "TopicArn="+url.QueryEscape(topic)+"&AttributeName=Policy&AttributeValue="+url.QueryEscape(doc)); err != nil {
			t.Fatal(err)
		}
	}

	// The default policy grants IAM users nothing: their identity policies decide.
	if err := call("publisher", "Publish", publish); err != nil {
		t.Fatal(err)
	}
	denied(call("nobody", "Publish", publish), "because no identity-based policy allows the SNS:Publish action")
	denied(call("bounded", "Publish", publish), "because no permissions boundary allows")

	// A topic statement naming the user allows it, without any identity policy, and
	// without the boundary's leave (a statement naming the caller's own ARN).
	setPolicy(`{"Sid":"users","Effect":"Allow","Principal":{"AWS":["` + userARN("nobody") + `","` + userARN("bounded") + `"]},"Action":"sns:Publish","Resource":"` + topic + `"}`)
	if err := call("nobody", "Publish", publish); err != nil {
		t.Fatalf("allowed by the topic policy: %v", err)
	}
	if err := call("bounded", "Publish", publish); err != nil {
		t.Fatalf("a statement naming the user is not limited by its boundary: %v", err)
	}
	denied(call("nobody", "GetTopicAttributes", "TopicArn="+url.QueryEscape(topic)), "SNS:GetTopicAttributes")

	// An explicit Deny in the topic policy wins over the identity policy's Allow.
	setPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + userARN("nobody") + `"},"Action":"sns:Publish","Resource":"` + topic + `"},` +
		`{"Effect":"Deny","Principal":{"AWS":"` + userARN("publisher") + `"},"Action":"SNS:Publish","Resource":"` + topic + `"}`)
	denied(call("publisher", "Publish", publish), "with an explicit deny in a resource-based policy")
	denied(call("publisher", "PublishBatch", "TopicArn="+url.QueryEscape(topic)+"&PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.1.Message=x"),
		"with an explicit deny in a resource-based policy")
	if err := call("nobody", "Publish", publish); err != nil {
		t.Fatal(err)
	}
	// An identity Deny wins over the topic policy's Allow.
	run("PutUserPolicy", "UserName=nobody&PolicyName=d&PolicyDocument="+url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sns:Publish","Resource":"`+topic+`"}]}`))
	denied(call("nobody", "Publish", publish), "with an explicit deny in an identity-based policy")

	// The root is refused by a Deny naming everyone, and only for what it denies.
	setPolicy(`{"Effect":"Deny","Principal":"*","Action":"sns:Publish","Resource":"` + topic + `"}`)
	denied(callAs(rootP, "Publish", publish), "with an explicit deny in a resource-based policy")
	if err := callAs(rootP, "GetTopicAttributes", "TopicArn="+url.QueryEscape(topic)); err != nil {
		t.Fatal(err)
	}
	// AddPermission and RemovePermission are topic actions too (the root may; nobody not).
	if err := callAs(rootP, "AddPermission", "TopicArn="+url.QueryEscape(topic)+"&Label=l&AWSAccountId.member.1="+acct+"&ActionName.member.1=Subscribe"); err != nil {
		t.Fatal(err)
	}
	denied(call("nobody", "RemovePermission", "TopicArn="+url.QueryEscape(topic)+"&Label=l"), "SNS:RemovePermission on resource: "+topic)
}
