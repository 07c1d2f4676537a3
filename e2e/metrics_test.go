package e2e

import (
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

func needDebianAWS(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
}

// keyUsageSum is the Sum of AWS/KMS KeyUsageCount over the last hour, from
// `aws cloudwatch get-metric-statistics`.
func keyUsageSum(t *testing.T, s *server, root awsCreds, dims ...string) float64 {
	t.Helper()
	now := time.Now().UTC()
	args := []string{"cloudwatch", "get-metric-statistics", "--namespace", "AWS/KMS", "--metric-name", "KeyUsageCount",
		"--start-time", now.Add(-time.Hour).Format(time.RFC3339), "--end-time", now.Add(time.Minute).Format(time.RFC3339),
		"--period", "3600", "--statistics", "Sum", "SampleCount"}
	if len(dims) > 0 {
		args = append(args, append([]string{"--dimensions"}, dims...)...)
	}
	var out struct {
		Label      string
		Datapoints []struct{ Sum, SampleCount float64 }
	}
	awsOK(t, s, root, &out, args...)
	sum := 0.0
	for _, d := range out.Datapoints {
		if d.SampleCount != d.Sum {
			t.Errorf("SampleCount %v != Sum %v: each use counts as one sample of 1", d.SampleCount, d.Sum)
		}
		sum += d.Sum
	}
	return sum
}

// TestKeyUsageCountMetric: N Encrypts with aws-sdk-go-v2 are summed by
// `aws cloudwatch get-metric-statistics` per KeyId and Operation and per KeyId, right after
// the last answer (counts held in memory are published before every read).
func TestKeyUsageCountMetric(t *testing.T) {
	needDebianAWS(t)
	s := startServer(t, "", nil)
	dc := s.creds()
	root := awsCreds{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey}
	k := s.kmsClient()
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := *key.KeyMetadata.KeyId
	const n = 25
	var blob []byte
	for range n {
		out, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("metrics")})
		if err != nil {
			t.Fatal(err)
		}
		blob = out.CiphertextBlob
	}
	if _, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob}); err != nil {
		t.Fatal(err)
	}
	// A failed Encrypt is not a use.
	if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: make([]byte, 4097)}); err == nil {
		t.Fatal("Encrypt of 4097 bytes succeeded")
	}
	if got := keyUsageSum(t, s, root, "Name=KeyId,Value="+id, "Name=Operation,Value=Encrypt"); got != n {
		t.Fatalf("KeyUsageCount{KeyId,Operation=Encrypt} Sum = %v, want %d", got, n)
	}
	if got := keyUsageSum(t, s, root, "Name=KeyId,Value="+id, "Name=Operation,Value=Decrypt"); got != 1 {
		t.Fatalf("KeyUsageCount{KeyId,Operation=Decrypt} Sum = %v, want 1", got)
	}
	if got := keyUsageSum(t, s, root, "Name=KeyId,Value="+id); got != n+1 {
		t.Fatalf("KeyUsageCount{KeyId} Sum = %v, want %d", got, n+1)
	}
	var lm struct {
		Metrics []struct {
			MetricName string
			Dimensions []struct{ Name, Value string }
		}
	}
	awsOK(t, s, root, &lm, "cloudwatch", "list-metrics", "--namespace", "AWS/KMS", "--dimensions", "Name=KeyId,Value="+id)
	if len(lm.Metrics) != 3 { // {KeyId}, {KeyId, Operation=Encrypt}, {KeyId, Operation=Decrypt}
		t.Fatalf("list-metrics: %+v", lm)
	}
}

// TestKeyUsageAlarm is the story: put-metric-alarm on KeyUsageCount (Sum over
// 300 s >= 100) with an SNS topic and an HTTP subscriber on loopback: after 99 uses the
// alarm is OK, after the 100th the subscriber gets the ALARM notification.
func TestKeyUsageAlarm(t *testing.T) {
	needDebianAWS(t)
	s := startServer(t, "", nil)
	dc := s.creds()
	root := awsCreds{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey}

	topicArn, alarmNote := httpSubscriber(t, s, root, "key-usage")

	k := s.kmsClient()
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := *key.KeyMetadata.KeyId
	// All 100 uses must land in the same 300 s period.
	if r := 300 - time.Now().Unix()%300; r < 45 {
		time.Sleep(time.Duration(r+1) * time.Second)
	}
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-alarm", "--alarm-name", "key-usage",
		"--metric-name", "KeyUsageCount", "--namespace", "AWS/KMS", "--statistic", "Sum", "--period", "300",
		"--threshold", "100", "--comparison-operator", "GreaterThanOrEqualToThreshold", "--evaluation-periods", "1",
		"--dimensions", "Name=KeyId,Value="+id, "--alarm-actions", topicArn)
	encrypt := func() {
		t.Helper()
		if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for range 99 {
		encrypt()
	}
	// The state is polled with aws-sdk-go-v2 (a CLI process per poll costs most of a second).
	state := func() string {
		t.Helper()
		desc, err := s.cloudwatchClient().DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"key-usage"}})
		if err != nil || len(desc.MetricAlarms) != 1 {
			t.Fatalf("DescribeAlarms: %+v %v", desc, err)
		}
		return string(desc.MetricAlarms[0].StateValue)
	}
	// The 99 uses are published within a second and evaluated: OK, no notification.
	waitFor(t, 10*time.Second, func() bool { return state() == "OK" })
	time.Sleep(1500 * time.Millisecond) // another flush: still OK
	if st := state(); st != "OK" || alarmNote() != nil {
		t.Fatalf("after 99 uses: state %s, notification %v", st, alarmNote())
	}
	encrypt()
	start := time.Now()
	waitFor(t, 15*time.Second, func() bool { return alarmNote() != nil })
	t.Logf("ALARM notification %v after the 100th use", time.Since(start).Round(time.Millisecond))
	a := alarmNote()
	if a["AlarmName"] != "key-usage" || !strings.Contains(a["NewStateReason"].(string), "[100.0") {
		t.Fatalf("notification: %+v", a)
	}
	if st := state(); st != "ALARM" {
		t.Fatalf("after 100 uses: %s", st)
	}
}

// TestHSMGaugesPublished: the AWS/CloudHSM gauges of the dev cluster's HSM are listed and
// have the node's values.
func TestHSMGaugesPublished(t *testing.T) {
	needDebianAWS(t)
	s := startServer(t, "", nil, "--metrics-interval", "1s")
	dc := s.creds()
	root := awsCreds{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey}
	var cid string
	waitFor(t, 10*time.Second, func() bool {
		out, err := s.cloudhsmClient().DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Clusters) == 1 {
			cid = aws.ToString(out.Clusters[0].ClusterId)
		}
		return len(out.Clusters) == 1
	})
	createCryptoUser(t, s, "gauge-user") // one more user: HsmUsersAvailable moves
	stat := func(name string, dims ...string) (float64, bool) {
		now := time.Now().UTC()
		var out struct {
			Datapoints []struct{ Maximum, Minimum float64 }
		}
		awsOK(t, s, root, &out, append([]string{"cloudwatch", "get-metric-statistics", "--namespace", "AWS/CloudHSM", "--metric-name", name,
			"--start-time", now.Add(-2 * time.Minute).Format(time.RFC3339), "--end-time", now.Add(time.Minute).Format(time.RFC3339),
			"--period", "60", "--statistics", "Maximum", "Minimum", "--dimensions"}, dims...)...)
		if len(out.Datapoints) == 0 {
			return 0, false
		}
		return out.Datapoints[len(out.Datapoints)-1].Minimum, true
	}
	byCluster := "Name=ClusterId,Value=" + cid
	fams, _ := scrape(t, s.url+"/metrics")
	users := value(fams, "coffer_hsm_users", nil)
	if users < 2 { // admin + gauge-user at least
		t.Fatalf("coffer_hsm_users %v", users)
	}
	// Polled with aws-sdk-go-v2; the other gauges are read with the CLI.
	var last float64
	waitFor(t, 15*time.Second, func() bool {
		now := time.Now().UTC()
		out, err := s.cloudwatchClient().GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("AWS/CloudHSM"),
			MetricName: aws.String("HsmUsersAvailable"), StartTime: aws.Time(now.Add(-2 * time.Minute)), EndTime: aws.Time(now.Add(time.Minute)),
			Period: aws.Int32(60), Statistics: []cwtypes.Statistic{"Maximum", "Minimum"},
			Dimensions: []cwtypes.Dimension{{Name: aws.String("ClusterId"), Value: aws.String(cid)}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Datapoints) == 0 {
			return false
		}
		last = aws.ToFloat64(out.Datapoints[len(out.Datapoints)-1].Minimum)
		return last == 1024-users // published since the user exists (Minimum of the minute)
	})
	t.Logf("HsmUsersAvailable %v with %v users", last, users)
	if v, ok := stat("HsmUnhealthy", byCluster); !ok || v != 0 {
		t.Fatalf("HsmUnhealthy %v %v", v, ok)
	}
	if v, ok := stat("HsmKeysTokenOccupied", "Name=Region,Value=us-east-1"); !ok || v < 0 {
		t.Fatalf("HsmKeysTokenOccupied %v %v", v, ok)
	}
	var lm struct {
		Metrics []struct {
			MetricName string
			Dimensions []struct{ Name, Value string }
		}
	}
	awsOK(t, s, root, &lm, "cloudwatch", "list-metrics", "--namespace", "AWS/CloudHSM", "--dimensions", byCluster, "Name=HsmId")
	names := map[string]bool{}
	for _, m := range lm.Metrics {
		names[m.MetricName] = true
	}
	for _, want := range []string{"HsmUnhealthy", "HsmSessionCount", "HsmUsersAvailable", "HsmUsersMax", "HsmKeysTokenOccupied"} {
		if !names[want] {
			t.Errorf("list-metrics per ClusterId and HsmId lacks %s: %+v", want, lm)
		}
	}
}

func scrape(t *testing.T, url string) (map[string]*dto.MetricFamily, int) {
	t.Helper()
	return scrapeWith(t, http.DefaultClient, url)
}

// scrapeWith is scrape with client c (e.g. one that trusts a node's CA).
func scrapeWith(t *testing.T, c *http.Client, url string) (map[string]*dto.MetricFamily, int) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, res.StatusCode
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return fams, res.StatusCode
}

// value is the value of the sample of family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestPrometheusMetrics: GET /metrics parses with the Prometheus text parser and its
// counters move with requests; the dedicated --metrics-listen listener serves it too.
func TestPrometheusMetrics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	maddr := ln.Addr().String()
	ln.Close()
	s := startServer(t, "", nil, "--metrics-listen", maddr)
	fams, _ := scrape(t, s.url+"/metrics")
	for _, name := range []string{"coffer_hsm_unhealthy", "coffer_hsm_users_available", "coffer_raft_leader", "coffer_audit_journal_events",
		"coffer_audit_journal_commits_total", "coffer_audit_journal_appended_events_total",
		"coffer_audit_journal_write_seconds_total", "coffer_audit_journal_fsync_seconds_total",
		"go_goroutines", "process_cpu_seconds_total", "coffer_build_info"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if v := value(fams, "coffer_hsm_unhealthy", nil); v != 0 {
		t.Errorf("coffer_hsm_unhealthy %v", v)
	}
	if v := value(fams, "coffer_raft_leader", nil); v != 1 {
		t.Errorf("coffer_raft_leader %v", v)
	}
	// The HSM gauges published at start are datapoints in the node's log.
	if v := value(fams, "coffer_cloudwatch_datapoints", nil); v < 1 {
		t.Errorf("coffer_cloudwatch_datapoints %v", v)
	}
	if v := value(fams, "coffer_cloudwatch_log_write_errors_total", nil); v != 0 {
		t.Errorf("coffer_cloudwatch_log_write_errors_total %v", v)
	}

	k := s.kmsClient()
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := *key.KeyMetadata.KeyId
	encLabels := map[string]string{"service": "kms", "operation": "Encrypt", "status": "200"}
	before := max(value(fams, "coffer_api_requests_total", encLabels), 0)
	for range 7 {
		if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/does-not-exist"), Plaintext: []byte("x")}); err == nil {
		t.Fatal("Encrypt with a missing alias succeeded")
	}
	fams, _ = scrape(t, "http://"+maddr+"/metrics")
	if got := value(fams, "coffer_api_requests_total", encLabels); got != before+7 {
		t.Errorf("coffer_api_requests_total{kms,Encrypt,200} = %v, want %v", got, before+7)
	}
	if got := value(fams, "coffer_api_requests_total", map[string]string{"service": "kms", "operation": "Encrypt", "status": "400"}); got != 1 {
		t.Errorf("coffer_api_requests_total{kms,Encrypt,400} = %v, want 1", got)
	}
	if got := value(fams, "coffer_api_request_duration_seconds", map[string]string{"service": "kms", "operation": "Encrypt"}); got != 8 {
		t.Errorf("coffer_api_request_duration_seconds{kms,Encrypt} count = %v, want 8", got)
	}
	if got := value(fams, "coffer_kms_key_usage_total", map[string]string{"key_id": id, "operation": "Encrypt", "region": "us-east-1"}); got != 7 {
		t.Errorf("coffer_kms_key_usage_total = %v, want 7", got)
	}
	// Every request was committed to the journal: commits, events and the
	// time spent in fdatasync moved.
	if c, e, f := value(fams, "coffer_audit_journal_commits_total", nil), value(fams, "coffer_audit_journal_appended_events_total", nil),
		value(fams, "coffer_audit_journal_fsync_seconds_total", nil); c < 8 || e < c || f <= 0 {
		t.Errorf("journal: %v commits, %v events, %v s in fdatasync", c, e, f)
	}

	// Failed logins are counted.
	anon := &hsmapi.Client{Endpoint: s.url}
	if err := anon.Call(ctx, "login", map[string]string{"username": "admin", "role": "admin", "password": "not-the-password"}, nil); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	fams, _ = scrape(t, s.url+"/metrics")
	if got := value(fams, "coffer_hsm_failed_logins_total", nil); got != 1 {
		t.Errorf("coffer_hsm_failed_logins_total = %v, want 1", got)
	}
	// An unknown operation does not become a label value.
	req, _ := http.NewRequest("POST", s.url+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "TrentService.NoSuchOperationXYZ")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
	res, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(body), "NoSuchOperationXYZ") {
		t.Error("an unknown operation name became a label value")
	}
}
