package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// cloudwatchClient is an aws-sdk-go-v2 CloudWatch client (RPC v2 CBOR) for the server,
// signed with the root's keys.
func (s *server) cloudwatchClient() *cloudwatch.Client {
	c := s.creds()
	return cloudwatch.New(cloudwatch.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), RetryMaxAttempts: 1, HTTPClient: s.httpClient(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: c.RootAccessKeyID, SecretAccessKey: c.RootSecretAccessKey, Source: "e2e"}, nil
		})})
}

// TestMetricsSurviveRestart: datapoints put with Debian's `aws cloudwatch put-metric-data`
// and the KeyUsageCount of KMS Encrypts, read with `aws cloudwatch get-metric-statistics`
// and `list-metrics`, are answered identically (to aws-sdk-go-v2, which must agree with
// the CLI beforehand) after the server restarts (cleanly, then after SIGKILL), and an
// alarm created before the restart evaluates the old datapoints together with new ones.
func TestMetricsSurviveRestart(t *testing.T) {
	t.Parallel() // independent node; most of its time is waiting for the alarm evaluation loop
	needDebianAWS(t)
	// The alarm's period is a UTC day: stay clear of midnight.
	if now := time.Now().UTC(); now.Add(3*time.Minute).Day() != now.Day() {
		time.Sleep(time.Until(now.Truncate(24 * time.Hour).Add(24*time.Hour + time.Second)))
	}
	s := startServer(t, "", nil)
	dc := s.creds()
	root := awsCreds{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey}

	awsOK(t, s, root, nil, "cloudwatch", "put-metric-data", "--namespace", "App", "--metric-name", "Latency",
		"--dimensions", "Host=h1,Zone=a", "--value", "12.5", "--unit", "Milliseconds", "--storage-resolution", "1")
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-data", "--namespace", "App", "--metric-name", "Bytes",
		"--statistic-values", "SampleCount=5,Sum=5000,Minimum=10,Maximum=4000", "--unit", "Bytes")
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-data", "--namespace", "App", "--metric-data",
		`[{"MetricName":"Latency","Dimensions":[{"Name":"Zone","Value":"a"},{"Name":"Host","Value":"h1"}],"Values":[1,2,3,100],"Counts":[1,1,4,1],"Unit":"Milliseconds"}]`)
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-data", "--namespace", "App", "--metric-name", "Logins", "--value", "8", "--unit", "Count")
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-alarm", "--alarm-name", "logins", "--namespace", "App",
		"--metric-name", "Logins", "--statistic", "Sum", "--period", "86400", "--evaluation-periods", "1",
		"--threshold", "10", "--comparison-operator", "GreaterThanOrEqualToThreshold")

	k := s.kmsClient()
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := *key.KeyMetadata.KeyId
	for range 7 {
		if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("metrics")}); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now().UTC()
	hourFrom, hourTo := now.Add(-time.Hour), now.Add(time.Hour)
	minFrom, minTo := now.Add(-10*time.Minute), now.Add(10*time.Minute)
	iso := func(t time.Time) string { return t.Format(time.RFC3339) }
	latency := []cwtypes.Dimension{{Name: aws.String("Zone"), Value: aws.String("a")}, {Name: aws.String("Host"), Value: aws.String("h1")}}
	basic := []cwtypes.Statistic{"SampleCount", "Sum", "Minimum", "Maximum", "Average"}
	// Each query as the CLI's arguments and as aws-sdk-go-v2's input: the answers before the
	// restart are read with the CLI, those after with the SDK, and compared in one form.
	queries := []struct {
		cli []string
		sdk cloudwatch.GetMetricStatisticsInput
	}{
		{[]string{"--namespace", "App", "--metric-name", "Latency", "--dimensions", "Name=Zone,Value=a", "Name=Host,Value=h1",
			"--start-time", iso(hourFrom), "--end-time", iso(hourTo), "--period", "60", "--statistics", "SampleCount", "Sum", "Minimum", "Maximum", "Average"},
			cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("App"), MetricName: aws.String("Latency"), Dimensions: latency,
				StartTime: aws.Time(hourFrom), EndTime: aws.Time(hourTo), Period: aws.Int32(60), Statistics: basic}},
		{[]string{"--namespace", "App", "--metric-name", "Latency", "--dimensions", "Name=Zone,Value=a", "Name=Host,Value=h1",
			"--start-time", iso(minFrom), "--end-time", iso(minTo), "--period", "1", "--extended-statistics", "p50", "p99"},
			cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("App"), MetricName: aws.String("Latency"), Dimensions: latency,
				StartTime: aws.Time(minFrom), EndTime: aws.Time(minTo), Period: aws.Int32(1), ExtendedStatistics: []string{"p50", "p99"}}},
		{[]string{"--namespace", "App", "--metric-name", "Latency", "--dimensions", "Name=Zone,Value=a", "Name=Host,Value=h1",
			"--start-time", iso(hourFrom), "--end-time", iso(hourTo), "--period", "3600", "--statistics", "Sum", "--unit", "Milliseconds"},
			cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("App"), MetricName: aws.String("Latency"), Dimensions: latency,
				StartTime: aws.Time(hourFrom), EndTime: aws.Time(hourTo), Period: aws.Int32(3600), Statistics: []cwtypes.Statistic{"Sum"},
				Unit: cwtypes.StandardUnitMilliseconds}},
		{[]string{"--namespace", "App", "--metric-name", "Bytes", "--start-time", iso(hourFrom), "--end-time", iso(hourTo),
			"--period", "60", "--statistics", "SampleCount", "Sum", "Minimum", "Maximum", "Average"},
			cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("App"), MetricName: aws.String("Bytes"),
				StartTime: aws.Time(hourFrom), EndTime: aws.Time(hourTo), Period: aws.Int32(60), Statistics: basic}},
		{[]string{"--namespace", "AWS/KMS", "--metric-name", "KeyUsageCount", "--dimensions", "Name=KeyId,Value=" + id, "Name=Operation,Value=Encrypt",
			"--start-time", iso(hourFrom), "--end-time", iso(hourTo), "--period", "60", "--statistics", "SampleCount", "Sum", "Minimum", "Maximum"},
			cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("AWS/KMS"), MetricName: aws.String("KeyUsageCount"),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("KeyId"), Value: aws.String(id)}, {Name: aws.String("Operation"), Value: aws.String("Encrypt")}},
				StartTime:  aws.Time(hourFrom), EndTime: aws.Time(hourTo), Period: aws.Int32(60), Statistics: []cwtypes.Statistic{"SampleCount", "Sum", "Minimum", "Maximum"}}},
	}
	// stats is one get-metric-statistics answer in a form both clients' answers take.
	type datapoint struct {
		Timestamp                                   int64
		SampleCount, Sum, Minimum, Maximum, Average *float64
		ExtendedStatistics                          map[string]float64
		Unit                                        string
	}
	type stats struct {
		Label      string
		Datapoints []datapoint
	}
	canonical := func(st stats) string {
		sort.Slice(st.Datapoints, func(i, j int) bool { return st.Datapoints[i].Timestamp < st.Datapoints[j].Timestamp })
		b, _ := json.Marshal(st)
		return string(b)
	}
	metricList := func(names []string) string { sort.Strings(names); return strings.Join(names, "\n") }
	answersCLI := func() []string {
		t.Helper()
		var out []string
		for _, q := range queries {
			var r struct {
				Label      string
				Datapoints []struct {
					Timestamp                                   epochOrISO
					SampleCount, Sum, Minimum, Maximum, Average *float64
					ExtendedStatistics                          map[string]float64
					Unit                                        string
				}
			}
			awsOK(t, s, root, &r, append([]string{"cloudwatch", "get-metric-statistics"}, q.cli...)...)
			if len(r.Datapoints) == 0 {
				t.Fatalf("get-metric-statistics %v: no datapoints", q.cli)
			}
			st := stats{Label: r.Label}
			for _, d := range r.Datapoints {
				st.Datapoints = append(st.Datapoints, datapoint{d.Timestamp.Unix(), d.SampleCount, d.Sum, d.Minimum, d.Maximum, d.Average, d.ExtendedStatistics, d.Unit})
			}
			out = append(out, canonical(st))
		}
		var l struct {
			Metrics []struct {
				MetricName string
				Dimensions []struct{ Name, Value string }
			}
		}
		awsOK(t, s, root, &l, "cloudwatch", "list-metrics", "--namespace", "App")
		var names []string
		for _, m := range l.Metrics {
			names = append(names, fmt.Sprint(m.MetricName, m.Dimensions))
		}
		return append(out, metricList(names))
	}
	answersSDK := func() []string {
		t.Helper()
		var out []string
		for _, q := range queries {
			r, err := s.cloudwatchClient().GetMetricStatistics(ctx, &q.sdk)
			if err != nil {
				t.Fatalf("GetMetricStatistics %v: %v", q.cli, err)
			}
			if len(r.Datapoints) == 0 {
				t.Fatalf("GetMetricStatistics %v: no datapoints", q.cli)
			}
			st := stats{Label: aws.ToString(r.Label)}
			for _, d := range r.Datapoints {
				st.Datapoints = append(st.Datapoints, datapoint{aws.ToTime(d.Timestamp).Unix(), d.SampleCount, d.Sum, d.Minimum, d.Maximum, d.Average,
					d.ExtendedStatistics, string(d.Unit)})
			}
			out = append(out, canonical(st))
		}
		l, err := s.cloudwatchClient().ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("App")})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range l.Metrics {
			var dims []struct{ Name, Value string }
			for _, d := range m.Dimensions {
				dims = append(dims, struct{ Name, Value string }{aws.ToString(d.Name), aws.ToString(d.Value)})
			}
			names = append(names, fmt.Sprint(aws.ToString(m.MetricName), dims))
		}
		return append(out, metricList(names))
	}
	alarmState := func() (string, string) {
		t.Helper()
		desc, err := s.cloudwatchClient().DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"logins"}})
		if err != nil || len(desc.MetricAlarms) != 1 {
			t.Fatalf("DescribeAlarms: %+v %v", desc, err)
		}
		return string(desc.MetricAlarms[0].StateValue), aws.ToString(desc.MetricAlarms[0].StateReason)
	}
	before := answersCLI()
	if !strings.Contains(before[4], `"Sum":7,`) || strings.Count(before[4], `"Timestamp"`) != 1 {
		t.Fatalf("KeyUsageCount before the restart: %s", before[4])
	}
	// Both clients see the same answers before the restart.
	if sdk := answersSDK(); !slices.Equal(sdk, before) {
		t.Fatalf("the CLI and the SDK read different answers:\nCLI %v\nSDK %v", before, sdk)
	}
	waitFor(t, 30*time.Second, func() bool { st, _ := alarmState(); return st == "OK" }) // 8 < 10

	s.stop()
	s.restart()
	after := answersSDK()
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("answer %d changed across the restart:\nbefore %s\nafter  %s", i, before[i], after[i])
		}
	}
	// 8 before the restart + 5 after: the alarm sums both.
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-data", "--namespace", "App", "--metric-name", "Logins", "--value", "5", "--unit", "Count")
	waitFor(t, 30*time.Second, func() bool { st, _ := alarmState(); return st == "ALARM" })
	if _, reason := alarmState(); !strings.Contains(reason, "[13.0") {
		t.Fatalf("alarm reason %q: want the sum of the old and the new datapoint (13)", reason)
	}

	// A crash: what was flushed (every second) before SIGKILL is still there.
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-data", "--namespace", "App", "--metric-name", "Crash", "--value", "42")
	time.Sleep(2500 * time.Millisecond)
	s.kill9()
	s.restart()
	r, err := s.cloudwatchClient().GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("App"), MetricName: aws.String("Crash"),
		StartTime: aws.Time(hourFrom), EndTime: aws.Time(hourTo), Period: aws.Int32(3600), Statistics: []cwtypes.Statistic{"Maximum"}})
	if err != nil || len(r.Datapoints) != 1 || aws.ToFloat64(r.Datapoints[0].Maximum) != 42 {
		t.Fatalf("after SIGKILL: %+v %v", r, err)
	}
	if got := answersSDK(); got[4] != before[4] || got[0] != before[0] {
		t.Fatalf("after SIGKILL:\n%v\nwant\n%v", got, before)
	}
}
