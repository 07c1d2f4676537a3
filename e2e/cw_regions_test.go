package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// cloudwatchClientIn is an aws-sdk-go-v2 CloudWatch client (RPC v2 CBOR) signed for
// region with the root's keys.
func (s *server) cloudwatchClientIn(region string) *cloudwatch.Client {
	c := s.creds()
	return cloudwatch.New(cloudwatch.Options{Region: region, BaseEndpoint: aws.String(s.url), RetryMaxAttempts: 1, HTTPClient: s.httpClient(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: c.RootAccessKeyID, SecretAccessKey: c.RootSecretAccessKey, Source: "e2e"}, nil
		})})
}

// TestCWRegions drives one node's CloudWatch in eu-west-1 and us-east-1, as AWS's regional
// endpoints answer: with each AWS CLI (Debian's /usr/bin/aws 2.9, query protocol; the
// v1 `aws` on PATH, JSON 1.0), one alarm name makes an alarm in each region, each with
// its region's ARN and configuration, and an alarm action naming a topic of another
// region is refused (ValidationError "Invalid region us-east-1 specified. Only eu-west-1
// is supported."). With aws-sdk-go-v2 (CBOR): metrics and tags are per region (another
// region's alarm ARN is not found), a KMS key's KeyUsageCount is in the key's region,
// and an eu-west-1 alarm evaluates eu-west-1's datapoints only and fires to its eu-west-1
// SNS topic, whose HTTP subscriber on loopback gets a notification naming EU (Ireland).
func TestCWRegions(t *testing.T) {
	t.Parallel() // independent node; much of its time is waiting for the evaluation loop
	s, root := debianCLINode(t)
	clis := awsCLIs(t)
	acct := sdkAccount(t, s, root)
	const west = "eu-west-1"

	// An eu-west-1 topic with an HTTP subscriber on loopback (setup: signed query calls).
	var topic struct {
		Arn string `xml:"CreateTopicResult>TopicArn"`
	}
	qOKIn(t, s, root, west, &topic, "sns", "CreateTopic", "Name", "cw-alerts")
	eastTopic := sdkCreateTopic(t, s, root, "cw-alerts")
	rcv := newSNSReceiver(t)
	var sub struct {
		Arn string `xml:"SubscribeResult>SubscriptionArn"`
	}
	qOKIn(t, s, root, west, &sub, "sns", "Subscribe", "TopicArn", topic.Arn, "Protocol", "http", "Endpoint", rcv.URL, "ReturnSubscriptionArn", "true")
	waitFor(t, 20*time.Second, func() bool {
		var a struct {
			Entries []struct {
				Key   string `xml:"key"`
				Value string `xml:"value"`
			} `xml:"GetSubscriptionAttributesResult>Attributes>entry"`
		}
		qOKIn(t, s, root, west, &a, "sns", "GetSubscriptionAttributes", "SubscriptionArn", sub.Arn)
		return slices.ContainsFunc(a.Entries, func(e struct {
			Key   string `xml:"key"`
			Value string `xml:"value"`
		}) bool {
			return e.Key == "PendingConfirmation" && e.Value == "false"
		})
	})

	// aws-sdk-go-v2: the same metric in both regions (7 in eu-west-1, 1 in us-east-1).
	cwWest, cwEast := s.cloudwatchClientIn(west), s.cloudwatchClientIn("us-east-1")
	for c, v := range map[*cloudwatch.Client]float64{cwWest: 7, cwEast: 1} {
		if _, err := c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Regions/Fire"),
			MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("Errors"), Value: aws.Float64(v)}}}); err != nil {
			t.Fatal(err)
		}
	}

	// The same alarm in both regions, on the same metric: each sees its region's
	// datapoints (7 in eu-west-1: ALARM; 1 in us-east-1: OK). The eu-west-1 one notifies
	// its topic. (Made first: the evaluation loop runs every 10 s while the CLIs work.)
	for c, acts := range map[*cloudwatch.Client][]string{cwWest: {topic.Arn}, cwEast: {eastTopic}} {
		if _, err := c.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("fire"), Namespace: aws.String("Regions/Fire"),
			MetricName: aws.String("Errors"), Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(2),
			DatapointsToAlarm: aws.Int32(1), Threshold: aws.Float64(5), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold,
			TreatMissingData: aws.String("notBreaching"), AlarmActions: acts, Tags: []cwtypes.Tag{{Key: aws.String("region"), Value: aws.String(c.Options().Region)}}}); err != nil {
			t.Fatal(err)
		}
	}

	// Each CLI: one alarm name in two regions is two alarms; another region's topic is
	// refused as an action.
	for tag, bin := range clis {
		name := "shared-" + tag
		put := func(region, threshold string, extra ...string) (string, bool) {
			_, stderr, ok := awsRun(s, bin, region, root, append([]string{"cloudwatch", "put-metric-alarm", "--alarm-name", name,
				"--namespace", "Regions/Test", "--metric-name", "Load", "--statistic", "Sum", "--period", "60",
				"--threshold", threshold, "--comparison-operator", "GreaterThanThreshold", "--evaluation-periods", "1"}, extra...)...)
			return stderr, ok
		}
		if stderr, ok := put(west, "100", "--alarm-actions", topic.Arn); !ok {
			t.Fatalf("%s: put-metric-alarm in eu-west-1: %s", tag, stderr)
		}
		if stderr, ok := put("us-east-1", "5"); !ok {
			t.Fatalf("%s: put-metric-alarm in us-east-1: %s", tag, stderr)
		}
		for region, want := range map[string]float64{west: 100, "us-east-1": 5} {
			out, stderr, ok := awsRun(s, bin, region, root, "cloudwatch", "describe-alarms", "--alarm-name-prefix", name)
			var d struct {
				MetricAlarms []struct {
					AlarmArn  string
					Threshold float64
				}
			}
			if !ok || json.Unmarshal([]byte(out), &d) != nil {
				t.Fatalf("%s: describe-alarms in %s: %s %s", tag, region, out, stderr)
			}
			wantArn := "arn:aws:cloudwatch:" + region + ":" + acct + ":alarm:" + name
			if len(d.MetricAlarms) != 1 || d.MetricAlarms[0].AlarmArn != wantArn || d.MetricAlarms[0].Threshold != want {
				t.Fatalf("%s: describe-alarms in %s: %+v, want one alarm %s with threshold %v", tag, region, d.MetricAlarms, wantArn, want)
			}
		}
		stderr, ok := put(west, "100", "--alarm-actions", eastTopic)
		if ok || !strings.Contains(stderr, "(ValidationError)") || !strings.Contains(stderr, "Invalid region us-east-1 specified. Only eu-west-1 is supported.") {
			t.Fatalf("%s: put-metric-alarm in eu-west-1 with a us-east-1 topic: succeeded=%v\n%s", tag, ok, stderr)
		}
	}

	// Metrics, alarms, history and tags are per region.
	sum := func(c *cloudwatch.Client, ns, name string, dims ...cwtypes.Dimension) float64 {
		t.Helper()
		out, err := c.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String(ns), MetricName: aws.String(name),
			Dimensions: dims, StartTime: aws.Time(time.Now().Add(-time.Hour)), EndTime: aws.Time(time.Now().Add(time.Hour)), Period: aws.Int32(7200),
			Statistics: []cwtypes.Statistic{cwtypes.StatisticSum}})
		if err != nil {
			t.Fatal(err)
		}
		total := 0.0
		for _, d := range out.Datapoints {
			total += *d.Sum
		}
		return total
	}
	if w, e := sum(cwWest, "Regions/Fire", "Errors"), sum(cwEast, "Regions/Fire", "Errors"); w != 7 || e != 1 {
		t.Fatalf("Regions/Fire Errors: eu-west-1 %v (want 7), us-east-1 %v (want 1)", w, e)
	}
	listed := func(c *cloudwatch.Client, ns string) int {
		out, err := c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String(ns)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Metrics)
	}
	if _, err := cwWest.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Regions/WestOnly"),
		MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("M"), Value: aws.Float64(1)}}}); err != nil {
		t.Fatal(err)
	}
	if w, e := listed(cwWest, "Regions/WestOnly"), listed(cwEast, "Regions/WestOnly"); w != 1 || e != 0 {
		t.Fatalf("ListMetrics Regions/WestOnly: eu-west-1 %d, us-east-1 %d", w, e)
	}

	// A KMS key's KeyUsageCount is in its region's CloudWatch.
	dc := s.creds()
	kmsWest := s.kmsClientWith(west, dc.RootAccessKeyID, dc.RootSecretAccessKey)
	key, err := kmsWest.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := kmsWest.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	keyDim := cwtypes.Dimension{Name: aws.String("KeyId"), Value: key.KeyMetadata.KeyId}
	if w, e := sum(cwWest, "AWS/KMS", "KeyUsageCount", keyDim), sum(cwEast, "AWS/KMS", "KeyUsageCount", keyDim); w != 3 || e != 0 {
		t.Fatalf("KeyUsageCount of an eu-west-1 key: eu-west-1 %v (want 3), us-east-1 %v (want 0)", w, e)
	}

	stateOf := func(c *cloudwatch.Client) string {
		out, err := c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"fire"}})
		if err != nil || len(out.MetricAlarms) != 1 {
			t.Fatalf("describe-alarms fire in %s: %+v %v", c.Options().Region, out, err)
		}
		return string(out.MetricAlarms[0].StateValue)
	}
	var note, msg map[string]any
	waitFor(t, 25*time.Second, func() bool {
		for _, r := range rcv.notifications() {
			var n, a map[string]any
			if json.Unmarshal([]byte(r.Body), &n) == nil && json.Unmarshal([]byte(n["Message"].(string)), &a) == nil && a["AlarmName"] == "fire" {
				note, msg = n, a
				return true
			}
		}
		return false
	})
	if note["TopicArn"] != topic.Arn || note["Subject"] != `ALARM: "fire" in EU (Ireland)` || msg["Region"] != "EU (Ireland)" ||
		msg["NewStateValue"] != "ALARM" || msg["AlarmArn"] != "arn:aws:cloudwatch:eu-west-1:"+acct+":alarm:fire" {
		t.Fatalf("notification: %v\nmessage: %v", note, msg)
	}
	waitFor(t, 25*time.Second, func() bool { return stateOf(cwEast) != "INSUFFICIENT_DATA" })
	if w, e := stateOf(cwWest), stateOf(cwEast); w != "ALARM" || e != "OK" {
		t.Fatalf("fire: eu-west-1 %s (want ALARM), us-east-1 %s (want OK)", w, e)
	}

	// History and tags: each region's own; another region's ARN is not found.
	hist := func(c *cloudwatch.Client) []string {
		out, err := c.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String("fire")})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, h := range out.AlarmHistoryItems {
			types = append(types, string(h.HistoryItemType))
		}
		slices.Sort(types)
		return types
	}
	if w := hist(cwWest); !slices.Equal(w, []string{"Action", "ConfigurationUpdate", "StateUpdate"}) {
		t.Errorf("eu-west-1 history of fire: %v", w)
	}
	if e := hist(cwEast); !slices.Equal(e, []string{"ConfigurationUpdate", "StateUpdate"}) {
		t.Errorf("us-east-1 history of fire: %v", e)
	}
	westArn := "arn:aws:cloudwatch:eu-west-1:" + acct + ":alarm:fire"
	tags, err := cwWest.ListTagsForResource(ctx, &cloudwatch.ListTagsForResourceInput{ResourceARN: aws.String(westArn)})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].Value != west {
		t.Fatalf("eu-west-1 tags of %s: %+v %v", westArn, tags, err)
	}
	_, err = cwEast.ListTagsForResource(ctx, &cloudwatch.ListTagsForResourceInput{ResourceARN: aws.String(westArn)})
	wantAPIError(t, err, "ResourceNotFoundException")
	out, stderr, ok := awsRun(s, "/usr/bin/aws", "us-east-1", root, "cloudwatch", "tag-resource", "--resource-arn", westArn, "--tags", "Key=x,Value=y")
	if ok || !strings.Contains(stderr, "(ResourceNotFoundException)") {
		t.Fatalf("tag-resource in us-east-1 of %s: %s %s", westArn, out, stderr)
	}
}
