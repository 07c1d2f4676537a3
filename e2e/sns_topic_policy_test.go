package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// TestSNSTopicPolicy: a topic policy set with Debian's `aws sns set-topic-attributes
// --attribute-name Policy` is shown by the aws v1 CLI, edited by add-permission and
// remove-permission, and enforced: its explicit Deny refuses an IAM user's Publish (signed
// with aws-sdk-go-v2's signer) with AWS's AuthorizationError although the user's identity
// policy allows it, and an alarm whose topic denies CloudWatch records the failed action
// in its history (aws-sdk-go-v2 CloudWatch client) without notifying the subscriber. The
// policy survives a restart.
func TestSNSTopicPolicy(t *testing.T) {
	t.Parallel()
	v1, err := exec.LookPath("aws")
	if err != nil || v1 == "/usr/bin/aws" {
		t.Skip("the aws v1 CLI is not on PATH")
	}
	s, root := debianCLINode(t)
	topic, alarmNote := httpSubscriber(t, s, root, "guarded")
	user, userArn := sdkNewIAMUser(t, s, root, "publisher")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "publisher", "PolicyName", "pub", "PolicyDocument",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:Publish","Resource":"*"}]}`)
	qOK(t, s, user, nil, "sns", "Publish", "TopicArn", topic, "Message", "allowed")

	doc := `{"Version":"2012-10-17","Id":"guarded","Statement":[` +
		`{"Sid":"no-user","Effect":"Deny","Principal":{"AWS":"` + userArn + `"},"Action":"SNS:Publish","Resource":"` + topic + `"},` +
		`{"Sid":"no-alarms","Effect":"Deny","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"sns:Publish","Resource":"` + topic + `"}]}`
	awsOK(t, s, root, nil, "sns", "set-topic-attributes", "--topic-arn", topic, "--attribute-name", "Policy", "--attribute-value", doc)
	getPolicy := func() string {
		t.Helper()
		out, errOut, ok := awsRun(s, v1, "us-east-1", root, "sns", "get-topic-attributes", "--topic-arn", topic)
		if !ok {
			t.Fatalf("aws v1 get-topic-attributes: %s", errOut)
		}
		var a struct{ Attributes map[string]string }
		if err := json.Unmarshal([]byte(out), &a); err != nil {
			t.Fatal(err)
		}
		return a.Attributes["Policy"]
	}
	if got := getPolicy(); got != doc {
		t.Fatalf("Policy %s, want %s", got, doc)
	}

	// The explicit Deny wins over the user's identity policy.
	msg := qDenied(t, s, user, "sns", "Publish", "TopicArn", topic, "Message", "refused")
	if want := "User: " + userArn + " is not authorized to perform: SNS:Publish on resource: " + topic + " with an explicit deny in a resource-based policy"; msg != want {
		t.Fatalf("AuthorizationError %q, want %q", msg, want)
	}
	// A bad policy is refused with AWS's error, and changes nothing.
	_, errOut, ok := awsAs(t, s, root, "sns", "set-topic-attributes", "--topic-arn", topic, "--attribute-name", "Policy",
		"--attribute-value", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}`)
	if ok || !strings.Contains(errOut, "InvalidParameter") || !strings.Contains(errOut, "Policy statement action out of service scope!") {
		t.Fatalf("out-of-scope policy: ok=%v %s", ok, errOut)
	}

	// add-permission (aws v1) appends a statement; remove-permission (Debian's) removes it.
	if _, errOut, ok := awsRun(s, v1, "us-east-1", root, "sns", "add-permission", "--topic-arn", topic, "--label", "partner",
		"--aws-account-id", "444455556666", "--action-name", "Publish", "Subscribe"); !ok {
		t.Fatalf("aws v1 add-permission: %s", errOut)
	}
	var pol struct {
		Statement []struct {
			Sid       string
			Principal map[string]any
			Action    any
		}
	}
	if err := json.Unmarshal([]byte(getPolicy()), &pol); err != nil || len(pol.Statement) != 3 || pol.Statement[2].Sid != "partner" ||
		pol.Statement[2].Principal["AWS"] != "arn:aws:iam::444455556666:root" {
		t.Fatalf("after add-permission: %v %+v", err, pol)
	}
	awsOK(t, s, root, nil, "sns", "remove-permission", "--topic-arn", topic, "--label", "partner")
	if got := getPolicy(); got != doc {
		t.Fatalf("after remove-permission: %s", got)
	}

	// The alarm's action fails: CloudWatch may not publish to the topic.
	cw := s.cloudwatchClient()
	if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("guarded-alarm"), Namespace: aws.String("E2E"),
		MetricName: aws.String("Errors"), Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), Threshold: aws.Float64(0),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, EvaluationPeriods: aws.Int32(1),
		AlarmActions: []string{topic}}); err != nil {
		t.Fatal(err)
	}
	// SetAlarmState succeeds, as AWS's does; the history records the failed action.
	if _, err := cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("guarded-alarm"), StateValue: cwtypes.StateValueAlarm,
		StateReason: aws.String("e2e")}); err != nil {
		t.Fatalf("SetAlarmState with a failing action: %v", err)
	}
	hist, err := cw.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String("guarded-alarm"),
		HistoryItemType: cwtypes.HistoryItemTypeAction})
	if err != nil {
		t.Fatal(err)
	}
	alarmArn := "arn:aws:cloudwatch:us-east-1:111122223333:alarm:guarded-alarm"
	want := "Failed to execute action " + topic + `. Received error: "Resource: ` + alarmArn + " is not authorized to perform: SNS:Publish on resource: " + topic +
		` with an explicit deny in a resource-based policy"`
	if len(hist.AlarmHistoryItems) != 1 || aws.ToString(hist.AlarmHistoryItems[0].HistorySummary) != want {
		t.Fatalf("history %+v, want %q", hist.AlarmHistoryItems, want)
	}
	var data struct{ ActionState string }
	if err := json.Unmarshal([]byte(aws.ToString(hist.AlarmHistoryItems[0].HistoryData)), &data); err != nil || data.ActionState != "Failed" {
		t.Fatalf("history data %v %s", err, aws.ToString(hist.AlarmHistoryItems[0].HistoryData))
	}
	time.Sleep(200 * time.Millisecond)
	if n := alarmNote(); n != nil {
		t.Fatalf("the alarm notification was delivered: %v", n)
	}

	// CreateTrail checks that the topic lets CloudTrail publish (for this trail: the
	// condition on aws:SourceArn), as AWS does.
	ct := s.cloudtrailClientIn("us-east-1")
	_, err = ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("guarded-trail"), S3BucketName: aws.String("guarded-bucket"),
		SnsTopicName: aws.String(topic)})
	wantAPIError(t, err, "InsufficientSnsTopicPolicyException")
	trailDoc := strings.TrimSuffix(doc, "]}") + `,{"Sid":"trail","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"SNS:Publish","Resource":"` + topic +
		`","Condition":{"StringEquals":{"aws:SourceArn":"arn:aws:cloudtrail:us-east-1:111122223333:trail/guarded-trail"}}}]}`
	qOK(t, s, root, nil, "sns", "SetTopicAttributes", "TopicArn", topic, "AttributeName", "Policy", "AttributeValue", trailDoc)
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("other-trail"), S3BucketName: aws.String("guarded-bucket"),
		SnsTopicName: aws.String(topic)}); apiCode(err) != "InsufficientSnsTopicPolicyException" {
		t.Fatalf("a trail the condition does not name: %v", err)
	}
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("guarded-trail"), S3BucketName: aws.String("guarded-bucket"),
		SnsTopicName: aws.String(topic)}); err != nil {
		t.Fatalf("the trail the policy allows: %v", err)
	}
	// The audit trail records the policy as it records the other attributes.
	var audited bool
	for _, e := range lookupAll(t, s, "EventName", "SetTopicAttributes") {
		if e.RequestParameters["attributeName"] == "Policy" && e.RequestParameters["attributeValue"] == doc && e.RequestParameters["topicArn"] == topic {
			audited = true
		}
	}
	if !audited {
		t.Fatal("no SetTopicAttributes Policy event with the policy in its requestParameters")
	}
	doc = trailDoc

	// After a restart the policy is the same, and still enforced.
	s.stop()
	s.restart()
	if got := sdkTopicAttributes(t, s, root, topic)["Policy"]; got != doc {
		t.Fatalf("after restart: %s", got)
	}
	qDenied(t, s, user, "sns", "Publish", "TopicArn", topic, "Message", "refused again")
}
