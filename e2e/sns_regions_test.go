package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSNSRegions drives one node with Debian's AWS CLI (/usr/bin/aws v2.9) in two regions,
// as AWS's regional SNS endpoints answer: a topic lives in the region the request was
// signed for, one name makes a topic in each region, each region lists its own topics and
// subscriptions, another region's topic ARN is refused (400 InvalidParameter "Invalid
// parameter: TopicArn"), a CloudWatch alarm action naming a us-west-2 topic notifies its
// HTTP subscriber on loopback, and a restart keeps the regions apart.
func TestSNSRegions(t *testing.T) {
	s, _ := debianCLINode(t)
	var east, west struct{ TopicArn string }
	sweepOK(t, s, "us-east-1", &east, "sns", "create-topic", "--name", "ops-alerts")
	sweepOK(t, s, "us-west-2", &west, "sns", "create-topic", "--name", "ops-alerts")
	acct := strings.Split(east.TopicArn, ":")[4]
	if east.TopicArn != "arn:aws:sns:us-east-1:"+acct+":ops-alerts" || west.TopicArn != "arn:aws:sns:us-west-2:"+acct+":ops-alerts" {
		t.Fatalf("create-topic: us-east-1 %s, us-west-2 %s", east.TopicArn, west.TopicArn)
	}
	var eastOnly struct{ TopicArn string }
	sweepOK(t, s, "us-east-1", &eastOnly, "sns", "create-topic", "--name", "east-only")

	listTopics := func(region string) []string {
		t.Helper()
		var out struct{ Topics []struct{ TopicArn string } }
		sweepOK(t, s, region, &out, "sns", "list-topics")
		var arns []string
		for _, tp := range out.Topics {
			arns = append(arns, tp.TopicArn)
		}
		slices.Sort(arns)
		return arns
	}
	checkTopics := func(when string) {
		t.Helper()
		if got := listTopics("us-east-1"); !slices.Equal(got, []string{eastOnly.TopicArn, east.TopicArn}) {
			t.Fatalf("%s: us-east-1 list-topics: %v", when, got)
		}
		if got := listTopics("us-west-2"); !slices.Equal(got, []string{west.TopicArn}) {
			t.Fatalf("%s: us-west-2 list-topics: %v", when, got)
		}
	}
	checkTopics("after create-topic")

	// Another region's topic ARN: AWS's answer, and nothing is published or deleted (the
	// other operations are covered by internal/sns's TestCrossRegionARNs).
	for _, args := range [][]string{
		{"sns", "publish", "--topic-arn", east.TopicArn, "--message", "wrong region"},
		{"sns", "delete-topic", "--topic-arn", eastOnly.TopicArn},
	} {
		_, stderr, ok := sweepAWS(t, s, "us-west-2", args...)
		if ok || !strings.Contains(stderr, "(InvalidParameter)") || !strings.Contains(stderr, ": Invalid parameter: TopicArn") {
			t.Fatalf("aws --region us-west-2 %s: succeeded=%v\n%s", strings.Join(args, " "), ok, stderr)
		}
	}
	checkTopics("after the refused calls")

	// A trail homed in us-west-2 names its region's topic by name; a name that is a topic
	// of us-east-1 only is no topic there.
	var trail struct{ SnsTopicARN string }
	sweepOK(t, s, "us-west-2", &trail, "cloudtrail", "create-trail", "--name", "west-trail",
		"--s3-bucket-name", "audit-west", "--sns-topic-name", "ops-alerts")
	if trail.SnsTopicARN != west.TopicArn {
		t.Fatalf("create-trail in us-west-2 --sns-topic-name ops-alerts: SnsTopicARN %q", trail.SnsTopicARN)
	}
	sweepFails(t, s, "us-west-2", "InsufficientSnsTopicPolicyException", "cloudtrail", "create-trail", "--name", "west-trail-2",
		"--s3-bucket-name", "audit-west", "--sns-topic-name", "east-only")

	// An HTTP subscriber on loopback to the us-west-2 topic, confirmed through its
	// SubscribeURL.
	rcv := newSNSReceiver(t)
	var sub struct{ SubscriptionArn string }
	sweepOK(t, s, "us-west-2", &sub, "sns", "subscribe", "--topic-arn", west.TopicArn, "--protocol", "http",
		"--notification-endpoint", rcv.URL, "--return-subscription-arn")
	if !strings.HasPrefix(sub.SubscriptionArn, west.TopicArn+":") {
		t.Fatalf("subscribe: %s", sub.SubscriptionArn)
	}
	waitFor(t, 30*time.Second, func() bool {
		var a struct{ Attributes map[string]string }
		sweepOK(t, s, "us-west-2", &a, "sns", "get-subscription-attributes", "--subscription-arn", sub.SubscriptionArn)
		return a.Attributes["PendingConfirmation"] == "false"
	})
	listSubs := func(region string) []string {
		t.Helper()
		var out struct {
			Subscriptions []struct{ SubscriptionArn, TopicArn string }
		}
		sweepOK(t, s, region, &out, "sns", "list-subscriptions")
		var arns []string
		for _, sb := range out.Subscriptions {
			arns = append(arns, sb.SubscriptionArn)
		}
		return arns
	}
	if got := listSubs("us-west-2"); !slices.Equal(got, []string{sub.SubscriptionArn}) {
		t.Fatalf("us-west-2 list-subscriptions: %v", got)
	}
	if got := listSubs("us-east-1"); len(got) != 0 {
		t.Fatalf("us-east-1 list-subscriptions: %v", got)
	}

	// A CloudWatch alarm in us-west-2 whose action is the us-west-2 topic.
	sweepOK(t, s, "us-west-2", nil, "cloudwatch", "put-metric-alarm", "--alarm-name", "west-hsm-errors",
		"--namespace", "Custom/HSM", "--metric-name", "Errors", "--statistic", "Sum", "--period", "60",
		"--threshold", "1", "--comparison-operator", "GreaterThanOrEqualToThreshold", "--evaluation-periods", "1",
		"--alarm-actions", west.TopicArn)
	sweepOK(t, s, "us-west-2", nil, "cloudwatch", "set-alarm-state", "--alarm-name", "west-hsm-errors",
		"--state-value", "ALARM", "--state-reason", "regions test")
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
		t.Fatalf("after a restart: us-west-2 list-subscriptions: %v", got)
	}
	var msg struct{ MessageId string }
	sweepOK(t, s, "us-west-2", &msg, "sns", "publish", "--topic-arn", west.TopicArn, "--message", "after restart")
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
// one there and is refused the same name in us-east-1 (Debian's AWS CLI).
func TestSNSCreateTopicAuthorizedInItsRegion(t *testing.T) {
	t.Parallel() // independent node
	s, root := debianCLINode(t)
	user, arn := newIAMUser(t, s, root, "topic-maker")
	acct := strings.Split(arn, ":")[4]
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:CreateTopic","Resource":"arn:aws:sns:us-west-2:` + acct + `:team-*"}]}`
	awsOK(t, s, root, nil, "iam", "put-user-policy", "--user-name", "topic-maker", "--policy-name", "west-topics", "--policy-document", policy)
	var made struct{ TopicArn string }
	awsOK(t, s, user, &made, "sns", "create-topic", "--name", "team-a", "--region", "us-west-2")
	if made.TopicArn != "arn:aws:sns:us-west-2:"+acct+":team-a" {
		t.Fatalf("create-topic in us-west-2: %s", made.TopicArn)
	}
	if out, errOut, ok := awsAs(t, s, user, "sns", "create-topic", "--name", "team-a", "--region", "us-east-1"); ok || !strings.Contains(errOut, "AuthorizationError") {
		t.Fatalf("create-topic in us-east-1 without permission: ok=%v %s %s", ok, out, errOut)
	}
}
