package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// TestSNSRegions drives one node in two regions, as AWS's regional SNS endpoints answer: a
// topic lives in the region the request was signed for, one name makes a topic in each
// region, each region lists its own topics and subscriptions, another region's topic ARN is
// refused (400 InvalidParameter "Invalid parameter: TopicArn"), a CloudWatch alarm action
// naming a us-west-2 topic notifies its HTTP subscriber on loopback, and a restart keeps
// the regions apart. Debian's AWS CLI (/usr/bin/aws v2.9) creates the topic in each region
// with --region and sees the refused publish; the other calls, which check the server's
// state, use signed query calls (SNS) and aws-sdk-go-v2 (CloudTrail, CloudWatch).
func TestSNSRegions(t *testing.T) {
	s, _ := debianCLINode(t)
	var east, west struct{ TopicArn string }
	sweepOK(t, s, "us-east-1", &east, "sns", "create-topic", "--name", "ops-alerts")
	sweepOK(t, s, "us-west-2", &west, "sns", "create-topic", "--name", "ops-alerts")
	acct := strings.Split(east.TopicArn, ":")[4]
	if east.TopicArn != "arn:aws:sns:us-east-1:"+acct+":ops-alerts" || west.TopicArn != "arn:aws:sns:us-west-2:"+acct+":ops-alerts" {
		t.Fatalf("create-topic: us-east-1 %s, us-west-2 %s", east.TopicArn, west.TopicArn)
	}
	var eastOnly struct {
		TopicArn string `xml:"CreateTopicResult>TopicArn"`
	}
	qOK(t, s, s.rootAWS(), &eastOnly, "sns", "CreateTopic", "Name", "east-only")

	listTopics := func(region string) []string {
		t.Helper()
		var out struct {
			Topics []string `xml:"ListTopicsResult>Topics>member>TopicArn"`
		}
		qOKIn(t, s, s.rootAWS(), region, &out, "sns", "ListTopics")
		slices.Sort(out.Topics)
		return out.Topics
	}
	checkTopics := func(when string) {
		t.Helper()
		if got := listTopics("us-east-1"); !slices.Equal(got, []string{eastOnly.TopicArn, east.TopicArn}) {
			t.Fatalf("%s: us-east-1 ListTopics: %v", when, got)
		}
		if got := listTopics("us-west-2"); !slices.Equal(got, []string{west.TopicArn}) {
			t.Fatalf("%s: us-west-2 ListTopics: %v", when, got)
		}
	}
	checkTopics("after create-topic")

	// Another region's topic ARN: AWS's answer, and nothing is published or deleted (the
	// other operations are covered by internal/sns's TestCrossRegionARNs).
	args := []string{"sns", "publish", "--topic-arn", east.TopicArn, "--message", "wrong region"}
	if _, stderr, ok := sweepAWS(t, s, "us-west-2", args...); ok || !strings.Contains(stderr, "(InvalidParameter)") || !strings.Contains(stderr, ": Invalid parameter: TopicArn") {
		t.Fatalf("aws --region us-west-2 %s: succeeded=%v\n%s", strings.Join(args, " "), ok, stderr)
	}
	_, err := queryCallIn(s, s.rootAWS(), "us-west-2", "sns", "DeleteTopic", "TopicArn", eastOnly.TopicArn)
	if qe, ok := err.(*queryError); !ok || qe.Status != 400 || qe.Code != "InvalidParameter" || qe.Message != "Invalid parameter: TopicArn" {
		t.Fatalf("DeleteTopic in us-west-2 of %s: %v", eastOnly.TopicArn, err)
	}
	checkTopics("after the refused calls")

	// A trail homed in us-west-2 names its region's topic by name; a name that is a topic
	// of us-east-1 only is no topic there.
	ctWest := s.cloudtrailClientIn("us-west-2")
	trail, err := ctWest.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("west-trail"),
		S3BucketName: aws.String("audit-west"), SnsTopicName: aws.String("ops-alerts")})
	if err != nil || aws.ToString(trail.SnsTopicARN) != west.TopicArn {
		t.Fatalf("CreateTrail in us-west-2 SnsTopicName ops-alerts: %v %+v", err, trail)
	}
	_, err = ctWest.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("west-trail-2"),
		S3BucketName: aws.String("audit-west"), SnsTopicName: aws.String("east-only")})
	if apiCode(err) != "InsufficientSnsTopicPolicyException" {
		t.Errorf("CreateTrail in us-west-2 SnsTopicName east-only: %v, want InsufficientSnsTopicPolicyException", err)
	}

	// An HTTP subscriber on loopback to the us-west-2 topic, confirmed through its
	// SubscribeURL.
	rcv := newSNSReceiver(t)
	var sub struct {
		SubscriptionArn string `xml:"SubscribeResult>SubscriptionArn"`
	}
	qOKIn(t, s, s.rootAWS(), "us-west-2", &sub, "sns", "Subscribe", "TopicArn", west.TopicArn, "Protocol", "http",
		"Endpoint", rcv.URL, "ReturnSubscriptionArn", "true")
	if !strings.HasPrefix(sub.SubscriptionArn, west.TopicArn+":") {
		t.Fatalf("Subscribe: %s", sub.SubscriptionArn)
	}
	waitFor(t, 30*time.Second, func() bool {
		var a struct {
			Entries []struct {
				Key   string `xml:"key"`
				Value string `xml:"value"`
			} `xml:"GetSubscriptionAttributesResult>Attributes>entry"`
		}
		qOKIn(t, s, s.rootAWS(), "us-west-2", &a, "sns", "GetSubscriptionAttributes", "SubscriptionArn", sub.SubscriptionArn)
		for _, e := range a.Entries {
			if e.Key == "PendingConfirmation" {
				return e.Value == "false"
			}
		}
		return false
	})
	listSubs := func(region string) []string {
		t.Helper()
		var out struct {
			Arns []string `xml:"ListSubscriptionsResult>Subscriptions>member>SubscriptionArn"`
		}
		qOKIn(t, s, s.rootAWS(), region, &out, "sns", "ListSubscriptions")
		return out.Arns
	}
	if got := listSubs("us-west-2"); !slices.Equal(got, []string{sub.SubscriptionArn}) {
		t.Fatalf("us-west-2 ListSubscriptions: %v", got)
	}
	if got := listSubs("us-east-1"); len(got) != 0 {
		t.Fatalf("us-east-1 ListSubscriptions: %v", got)
	}

	// A CloudWatch alarm in us-west-2 whose action is the us-west-2 topic.
	root := s.rootAWS()
	cw := cloudwatch.New(cloudwatch.Options{Region: "us-west-2", BaseEndpoint: aws.String(s.url), RetryMaxAttempts: 1, HTTPClient: s.httpClient(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: root.AccessKeyID, SecretAccessKey: root.SecretAccessKey, Source: "e2e"}, nil
		})})
	if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("west-hsm-errors"),
		Namespace: aws.String("Custom/HSM"), MetricName: aws.String("Errors"), Statistic: cwtypes.StatisticSum, Period: aws.Int32(60),
		Threshold: aws.Float64(1), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold, EvaluationPeriods: aws.Int32(1),
		AlarmActions: []string{west.TopicArn}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("west-hsm-errors"),
		StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("regions test")}); err != nil {
		t.Fatal(err)
	}
	var note map[string]any
	waitFor(t, 20*time.Second, func() bool {
		for _, r := range rcv.notifications() {
			var m struct{ TopicArn, Message, Subject string }
			var a map[string]any
			if json.Unmarshal([]byte(r.Body), &m) == nil && m.TopicArn == west.TopicArn &&
				json.Unmarshal([]byte(m.Message), &a) == nil && a["AlarmName"] == "west-hsm-errors" && a["NewStateValue"] == "ALARM" {
				note = a
				return r.Header.Get("x-amz-sns-topic-arn") == west.TopicArn &&
					r.Header.Get("x-amz-sns-subscription-arn") == sub.SubscriptionArn
			}
		}
		return false
	})
	if note == nil {
		t.Fatal("no ALARM notification")
	}

	// A restart (the state restored from the raft log and snapshot) keeps the regions apart.
	s.stop()
	s.restart()
	checkTopics("after a restart")
	if got := listSubs("us-west-2"); !slices.Equal(got, []string{sub.SubscriptionArn}) {
		t.Fatalf("after a restart: us-west-2 ListSubscriptions: %v", got)
	}
	qOKIn(t, s, s.rootAWS(), "us-west-2", nil, "sns", "Publish", "TopicArn", west.TopicArn, "Message", "after restart")
	waitFor(t, 20*time.Second, func() bool {
		for _, r := range rcv.notifications() {
			if strings.Contains(r.Body, `"after restart"`) {
				return true
			}
		}
		return false
	})
}

// CreateTopic is authorized against the topic it would make in the region the request is
// signed for: a user allowed sns:CreateTopic only on us-west-2's team-* topics creates
// one there and is refused the same name in us-east-1 (Debian's AWS CLI; the user and its
// policy are set up with signed query calls).
func TestSNSCreateTopicAuthorizedInItsRegion(t *testing.T) {
	t.Parallel() // independent node
	s, root := debianCLINode(t)
	user, arn := sdkNewIAMUser(t, s, root, "topic-maker")
	acct := strings.Split(arn, ":")[4]
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:CreateTopic","Resource":"arn:aws:sns:us-west-2:` + acct + `:team-*"}]}`
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "topic-maker", "PolicyName", "west-topics", "PolicyDocument", policy)
	var made struct{ TopicArn string }
	awsOK(t, s, user, &made, "sns", "create-topic", "--name", "team-a", "--region", "us-west-2")
	if made.TopicArn != "arn:aws:sns:us-west-2:"+acct+":team-a" {
		t.Fatalf("create-topic in us-west-2: %s", made.TopicArn)
	}
	if out, errOut, ok := awsAs(t, s, user, "sns", "create-topic", "--name", "team-a", "--region", "us-east-1"); ok || !strings.Contains(errOut, "AuthorizationError") {
		t.Fatalf("create-topic in us-east-1 without permission: ok=%v %s %s", ok, out, errOut)
	}
}
