package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestMetricsSurviveRestart: datapoints put with Debian's `aws cloudwatch put-metric-data`
// and the KeyUsageCount of KMS Encrypts are answered identically by
// `aws cloudwatch get-metric-statistics` and `list-metrics` after the server restarts
// (cleanly, then after SIGKILL), and an alarm created before the restart evaluates the
// old datapoints together with new ones.
func TestMetricsSurviveRestart(t *testing.T) {
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
	hourFrom, hourTo := now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)
	minFrom, minTo := now.Add(-10*time.Minute).Format(time.RFC3339), now.Add(10*time.Minute).Format(time.RFC3339)
	queries := [][]string{
		{"--namespace", "App", "--metric-name", "Latency", "--dimensions", "Name=Zone,Value=a", "Name=Host,Value=h1",
			"--start-time", hourFrom, "--end-time", hourTo, "--period", "60", "--statistics", "SampleCount", "Sum", "Minimum", "Maximum", "Average"},
		{"--namespace", "App", "--metric-name", "Latency", "--dimensions", "Name=Zone,Value=a", "Name=Host,Value=h1",
			"--start-time", minFrom, "--end-time", minTo, "--period", "1", "--extended-statistics", "p50", "p99"},
		{"--namespace", "App", "--metric-name", "Latency", "--dimensions", "Name=Zone,Value=a", "Name=Host,Value=h1",
			"--start-time", hourFrom, "--end-time", hourTo, "--period", "3600", "--statistics", "Sum", "--unit", "Milliseconds"},
		{"--namespace", "App", "--metric-name", "Bytes", "--start-time", hourFrom, "--end-time", hourTo,
			"--period", "60", "--statistics", "SampleCount", "Sum", "Minimum", "Maximum", "Average"},
		{"--namespace", "AWS/KMS", "--metric-name", "KeyUsageCount", "--dimensions", "Name=KeyId,Value=" + id, "Name=Operation,Value=Encrypt",
			"--start-time", hourFrom, "--end-time", hourTo, "--period", "60", "--statistics", "SampleCount", "Sum", "Minimum", "Maximum"},
	}
	answers := func() []string {
		t.Helper()
		var out []string
		for _, q := range queries {
			var r struct {
				Label      string
				Datapoints []map[string]any
			}
			awsOK(t, s, root, &r, append([]string{"cloudwatch", "get-metric-statistics"}, q...)...)
			if len(r.Datapoints) == 0 {
				t.Fatalf("get-metric-statistics %v: no datapoints", q)
			}
			b, _ := json.Marshal(r)
			out = append(out, string(b))
		}
		var l struct{ Metrics []map[string]any }
		awsOK(t, s, root, &l, "cloudwatch", "list-metrics", "--namespace", "App")
		b, _ := json.Marshal(l)
		return append(out, string(b))
	}
	alarmState := func() (string, string) {
		t.Helper()
		var desc struct {
			MetricAlarms []struct{ StateValue, StateReason string }
		}
		awsOK(t, s, root, &desc, "cloudwatch", "describe-alarms", "--alarm-names", "logins")
		if len(desc.MetricAlarms) != 1 {
			t.Fatalf("describe-alarms: %+v", desc)
		}
		return desc.MetricAlarms[0].StateValue, desc.MetricAlarms[0].StateReason
	}
	before := answers()
	if !strings.Contains(before[4], `"Sum":7`) {
		t.Fatalf("KeyUsageCount before the restart: %s", before[4])
	}
	waitFor(t, 30*time.Second, func() bool { st, _ := alarmState(); return st == "OK" }) // 8 < 10

	s.stop()
	s.restart()
	after := answers()
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
	var r struct{ Datapoints []struct{ Maximum float64 } }
	awsOK(t, s, root, &r, "cloudwatch", "get-metric-statistics", "--namespace", "App", "--metric-name", "Crash",
		"--start-time", hourFrom, "--end-time", hourTo, "--period", "3600", "--statistics", "Maximum")
	if len(r.Datapoints) != 1 || r.Datapoints[0].Maximum != 42 {
		t.Fatalf("after SIGKILL: %+v", r)
	}
	if got := answers(); got[4] != before[4] || got[0] != before[0] {
		t.Fatalf("after SIGKILL:\n%v\nwant\n%v", got, before)
	}
}
