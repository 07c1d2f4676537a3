package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// protoSpy is a loopback reverse proxy in front of the server that notes the wire
// protocol of every request a client sends through it, so the test knows each client
// spoke the protocol it is meant to.
type protoSpy struct {
	srv   *httptest.Server
	mu    sync.Mutex
	kinds map[string]int
}

func newProtoSpy(t *testing.T, target string) *protoSpy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &protoSpy{kinds: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the Host header the client signed
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "other " + r.Header.Get("Content-Type")
		switch ct := r.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
			kind = "query"
		case ct == "application/x-amz-json-1.0" && strings.HasPrefix(r.Header.Get("X-Amz-Target"), "GraniteServiceVersion20100801.") &&
			r.Header.Get("X-Amzn-Query-Mode") == "true":
			kind = "json-1.0"
		case ct == "application/cbor" && r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor" &&
			strings.HasPrefix(r.URL.Path, "/service/GraniteServiceVersion20100801/operation/"):
			kind = "rpc-v2-cbor"
		}
		p.mu.Lock()
		p.kinds[kind]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *protoSpy) seen() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.kinds {
		out[k] = v
	}
	return out
}

// epochOrISO reads a timestamp as the CLIs print it: seconds (aws v1) or ISO 8601 (v2).
type epochOrISO struct{ time.Time }

func (e *epochOrISO) UnmarshalJSON(b []byte) error {
	if f, err := strconv.ParseFloat(string(b), 64); err == nil {
		e.Time = time.UnixMilli(int64(f * 1000)).UTC()
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	e.Time = t.UTC()
	return err
}

// cwScenario is what a client saw, with the client's own names replaced by "X".
type cwScenario struct {
	Datapoints []string // "unix sum avg max count unit"
	Alarms     []string // describe-alarms --state-value ALARM: "name state reason ns metric stat period evals threshold op tmd dims"
	History    []string // "type summary"
	AfterDel   int
	Errors     []string // error codes
}

// cwClient runs the scenario's operations with one client.
type cwClient interface {
	putMetricData(ns string, at time.Time) error
	getStats(ns string, at time.Time) ([]string, error)
	putAlarm(name, ns string) error
	setAlarmState(name, reason string) error
	describeAlarms(name string) ([]string, error)
	history(name string) ([]string, error)
	deleteAlarm(name string) error
	// scanByError runs describe-alarm-history with a ScanBy the service refuses.
	scanByError(name string) error
}

func runCWScenario(t *testing.T, c cwClient, tag string, at time.Time) cwScenario {
	t.Helper()
	ns, name := "E2E/proto-"+tag, "proto-"+tag
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %s: %v", tag, what, err)
		}
	}
	var sc cwScenario
	must("put-metric-data", c.putMetricData(ns, at))
	dps, err := c.getStats(ns, at)
	must("get-metric-statistics", err)
	sc.Datapoints = dps
	must("put-metric-alarm", c.putAlarm(name, "E2E/idle-"+tag))
	must("set-alarm-state", c.setAlarmState(name, "manual test"))
	al, err := c.describeAlarms(name)
	must("describe-alarms", err)
	sc.Alarms = al
	h, err := c.history(name)
	must("describe-alarm-history", err)
	sc.History = h
	must("delete-alarms", c.deleteAlarm(name))
	al, err = c.describeAlarms(name)
	must("describe-alarms after delete", err)
	sc.AfterDel = len(al)
	sc.Errors = append(sc.Errors, errCode(c.setAlarmState("no-such-alarm-"+tag, "x")), errCode(c.scanByError(name)))
	// One client's names are another's: normalize.
	repl := strings.NewReplacer(tag, "X")
	for _, l := range [][]string{sc.Alarms, sc.History} {
		for i := range l {
			l[i] = repl.Replace(l[i])
		}
	}
	return sc
}

// cliError carries the code of an AWS CLI failure.
type cliError struct{ code, out string }

func (e *cliError) Error() string { return e.code + ": " + e.out }

func errCode(err error) string {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	if c := apiCode(err); c != "" {
		return c
	}
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// cliClient runs an AWS CLI.
type cliClient struct {
	bin, endpoint string
	creds         devCreds
}

var cliErrRE = regexp.MustCompile(`An error occurred \(([A-Za-z0-9.]+)\)`)

func (c *cliClient) run(v any, args ...string) error {
	cmd := exec.Command(c.bin, append([]string{"--endpoint-url", c.endpoint, "--region", "us-east-1", "--output", "json", "cloudwatch"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+c.creds.RootAccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.creds.RootSecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if m := cliErrRE.FindStringSubmatch(errb.String()); m != nil {
			return &cliError{code: m[1], out: errb.String()}
		}
		return fmt.Errorf("%s %s: %v: %s", c.bin, strings.Join(args, " "), err, errb.String())
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out.String()), v); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out.String())
		}
	}
	return nil
}

func (c *cliClient) putMetricData(ns string, at time.Time) error {
	d := func(v int) string {
		return fmt.Sprintf(`{"MetricName":"Latency","Dimensions":[{"Name":"Host","Value":"h1"}],"Value":%d,"Unit":"Milliseconds","Timestamp":"%s"}`,
			v, at.Format(time.RFC3339))
	}
	return c.run(nil, "put-metric-data", "--namespace", ns, "--metric-data", "["+d(5)+","+d(7)+"]")
}

func (c *cliClient) getStats(ns string, at time.Time) ([]string, error) {
	var out struct {
		Datapoints []struct {
			Timestamp                          epochOrISO
			Sum, Average, Maximum, SampleCount float64
			Unit                               string
		}
	}
	err := c.run(&out, "get-metric-statistics", "--namespace", ns, "--metric-name", "Latency", "--dimensions", "Name=Host,Value=h1",
		"--statistics", "Sum", "Average", "Maximum", "SampleCount", "--period", "60",
		"--start-time", at.Add(-time.Minute).Format(time.RFC3339), "--end-time", at.Add(time.Minute).Format(time.RFC3339))
	var l []string
	for _, d := range out.Datapoints {
		l = append(l, fmt.Sprintf("%d %g %g %g %g %s", d.Timestamp.Unix(), d.Sum, d.Average, d.Maximum, d.SampleCount, d.Unit))
	}
	return l, err
}

func (c *cliClient) putAlarm(name, ns string) error {
	return c.run(nil, "put-metric-alarm", "--alarm-name", name, "--namespace", ns, "--metric-name", "Latency",
		"--dimensions", "Name=Host,Value=h1", "--statistic", "Sum", "--period", "60", "--threshold", "10.5",
		"--comparison-operator", "GreaterThanThreshold", "--evaluation-periods", "2", "--treat-missing-data", "ignore")
}

func (c *cliClient) setAlarmState(name, reason string) error {
	return c.run(nil, "set-alarm-state", "--alarm-name", name, "--state-value", "ALARM", "--state-reason", reason)
}

func (c *cliClient) describeAlarms(name string) ([]string, error) {
	var out struct {
		MetricAlarms []struct {
			AlarmName, StateValue, StateReason, Namespace, MetricName, Statistic, ComparisonOperator, TreatMissingData string
			Period, EvaluationPeriods                                                                                  int
			Threshold                                                                                                  float64
			StateUpdatedTimestamp                                                                                      epochOrISO
			Dimensions                                                                                                 []struct{ Name, Value string }
		}
	}
	err := c.run(&out, "describe-alarms", "--alarm-name-prefix", name, "--state-value", "ALARM")
	var l []string
	for _, a := range out.MetricAlarms {
		if a.StateUpdatedTimestamp.IsZero() {
			return nil, fmt.Errorf("alarm %s without StateUpdatedTimestamp", a.AlarmName)
		}
		l = append(l, fmt.Sprintf("%s %s %q %s %s %s %d %d %g %s %s %v", a.AlarmName, a.StateValue, a.StateReason, a.Namespace,
			a.MetricName, a.Statistic, a.Period, a.EvaluationPeriods, a.Threshold, a.ComparisonOperator, a.TreatMissingData, a.Dimensions))
	}
	return l, err
}

func (c *cliClient) history(name string) ([]string, error) {
	var out struct {
		AlarmHistoryItems []struct {
			HistoryItemType, HistorySummary string
			Timestamp                       epochOrISO
		}
	}
	err := c.run(&out, "describe-alarm-history", "--alarm-name", name, "--scan-by", "TimestampAscending")
	var l []string
	for _, h := range out.AlarmHistoryItems {
		l = append(l, h.HistoryItemType+" "+h.HistorySummary)
	}
	return l, err
}

func (c *cliClient) deleteAlarm(name string) error {
	return c.run(nil, "delete-alarms", "--alarm-names", name)
}

func (c *cliClient) scanByError(name string) error {
	return c.run(nil, "describe-alarm-history", "--alarm-name", name, "--scan-by", "Sideways")
}

// sdkClient is aws-sdk-go-v2's CloudWatch client (Smithy RPC v2 CBOR).
type sdkClient struct{ c *cloudwatch.Client }

func (s sdkClient) putMetricData(ns string, at time.Time) error {
	d := func(v float64) cwtypes.MetricDatum {
		return cwtypes.MetricDatum{MetricName: aws.String("Latency"), Value: aws.Float64(v), Unit: cwtypes.StandardUnitMilliseconds,
			Timestamp: aws.Time(at), Dimensions: []cwtypes.Dimension{{Name: aws.String("Host"), Value: aws.String("h1")}}}
	}
	_, err := s.c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(ns), MetricData: []cwtypes.MetricDatum{d(5), d(7)}})
	return err
}

func (s sdkClient) getStats(ns string, at time.Time) ([]string, error) {
	out, err := s.c.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String(ns), MetricName: aws.String("Latency"),
		Dimensions: []cwtypes.Dimension{{Name: aws.String("Host"), Value: aws.String("h1")}}, Period: aws.Int32(60),
		Statistics: []cwtypes.Statistic{"Sum", "Average", "Maximum", "SampleCount"},
		StartTime:  aws.Time(at.Add(-time.Minute)), EndTime: aws.Time(at.Add(time.Minute))})
	if err != nil {
		return nil, err
	}
	var l []string
	for _, d := range out.Datapoints {
		l = append(l, fmt.Sprintf("%d %g %g %g %g %s", d.Timestamp.Unix(), *d.Sum, *d.Average, *d.Maximum, *d.SampleCount, d.Unit))
	}
	return l, nil
}

func (s sdkClient) putAlarm(name, ns string) error {
	_, err := s.c.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(name), Namespace: aws.String(ns),
		MetricName: aws.String("Latency"), Dimensions: []cwtypes.Dimension{{Name: aws.String("Host"), Value: aws.String("h1")}},
		Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), Threshold: aws.Float64(10.5),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, EvaluationPeriods: aws.Int32(2), TreatMissingData: aws.String("ignore")})
	return err
}

func (s sdkClient) setAlarmState(name, reason string) error {
	_, err := s.c.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(name), StateValue: cwtypes.StateValueAlarm,
		StateReason: aws.String(reason)})
	return err
}

func (s sdkClient) describeAlarms(name string) ([]string, error) {
	out, err := s.c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(name), StateValue: cwtypes.StateValueAlarm})
	if err != nil {
		return nil, err
	}
	var l []string
	for _, a := range out.MetricAlarms {
		if a.StateUpdatedTimestamp == nil || a.StateUpdatedTimestamp.IsZero() {
			return nil, fmt.Errorf("alarm %s without StateUpdatedTimestamp", *a.AlarmName)
		}
		var dims []struct{ Name, Value string }
		for _, d := range a.Dimensions {
			dims = append(dims, struct{ Name, Value string }{*d.Name, *d.Value})
		}
		l = append(l, fmt.Sprintf("%s %s %q %s %s %s %d %d %g %s %s %v", *a.AlarmName, a.StateValue, *a.StateReason, *a.Namespace,
			*a.MetricName, a.Statistic, *a.Period, *a.EvaluationPeriods, *a.Threshold, a.ComparisonOperator, *a.TreatMissingData, dims))
	}
	return l, nil
}

func (s sdkClient) history(name string) ([]string, error) {
	out, err := s.c.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(name), ScanBy: cwtypes.ScanByTimestampAscending})
	if err != nil {
		return nil, err
	}
	var l []string
	for _, h := range out.AlarmHistoryItems {
		l = append(l, string(h.HistoryItemType)+" "+*h.HistorySummary)
	}
	return l, nil
}

func (s sdkClient) deleteAlarm(name string) error {
	_, err := s.c.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{name}})
	return err
}

func (s sdkClient) scanByError(name string) error {
	_, err := s.c.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String(name), ScanBy: "Sideways"})
	return err
}

// TestCloudWatchProtocols runs one CloudWatch scenario with each client CloudWatch has:
// Debian's awscli 2.9 (query protocol), the newer aws v1 on PATH (JSON 1.0 with
// x-amzn-query-mode) and aws-sdk-go-v2 (Smithy RPC v2 CBOR). All three must see the
// same thing, and their calls must be in the CloudTrail trail.
func TestCloudWatchProtocols(t *testing.T) {
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	v1 := awsCLIs(t)["v1"]
	if v1 == "" {
		t.Skip("no aws-cli v1 on PATH (the JSON 1.0 client): nothing to compare the query protocol with")
	}
	t.Logf("JSON 1.0 client: %s", v1)
	s := startServer(t, "", nil)
	dc := s.creds()
	spies := map[string]*protoSpy{}
	for _, tag := range []string{"query", "json", "cbor"} {
		spies[tag] = newProtoSpy(t, s.url)
	}
	clients := map[string]cwClient{
		"query": &cliClient{bin: "/usr/bin/aws", endpoint: spies["query"].srv.URL, creds: dc},
		"json":  &cliClient{bin: v1, endpoint: spies["json"].srv.URL, creds: dc},
		"cbor": sdkClient{cloudwatch.New(cloudwatch.Options{Region: "us-east-1", BaseEndpoint: aws.String(spies["cbor"].srv.URL),
			RetryMaxAttempts: 1, Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey, Source: "e2e"}, nil
			})})},
	}
	at := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Minute)
	// The clients run side by side (each with its own names): the CLIs are single-threaded
	// Python processes.
	results := map[string]cwScenario{}
	var mu sync.Mutex
	t.Run("scenarios", func(t *testing.T) {
		for _, tag := range []string{"query", "json", "cbor"} {
			t.Run(tag, func(t *testing.T) {
				t.Parallel()
				sc := runCWScenario(t, clients[tag], tag, at)
				mu.Lock()
				results[tag] = sc
				mu.Unlock()
			})
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	want := cwScenario{
		Datapoints: []string{fmt.Sprintf("%d 12 6 7 2 Milliseconds", at.Unix())},
		Alarms:     []string{`proto-X ALARM "manual test" E2E/idle-X Latency Sum 60 2 10.5 GreaterThanThreshold ignore [{Host h1}]`},
		AfterDel:   0,
		Errors:     []string{"ResourceNotFound", "InvalidParameterValue"},
	}
	for tag, got := range results {
		if !slices.Equal(got.Datapoints, want.Datapoints) || !slices.Equal(got.Alarms, want.Alarms) || got.AfterDel != 0 ||
			!slices.Equal(got.Errors, want.Errors) {
			t.Errorf("%s client saw\n%+v\nwant\n%+v", tag, got, want)
		}
		if len(got.History) < 2 || !strings.HasPrefix(got.History[0], "ConfigurationUpdate Alarm \"proto-X\" created") ||
			!strings.HasPrefix(got.History[len(got.History)-1], "StateUpdate Alarm updated from INSUFFICIENT_DATA to ALARM") {
			t.Errorf("%s client: alarm history %q", tag, got.History)
		}
		if fmt.Sprint(got) != fmt.Sprint(results["query"]) {
			t.Errorf("the %s client saw something else than the query client:\n%+v\n%+v", tag, got, results["query"])
		}
	}

	t.Logf("every client saw: %+v", results["query"])
	// The SDK's modeled error type comes through (the CBOR __type names the error shape).
	var rnf *cwtypes.ResourceNotFound
	if err := clients["cbor"].setAlarmState("no-such-alarm", "x"); !errors.As(err, &rnf) {
		t.Errorf("SetAlarmState on a missing alarm: %T %v, want *types.ResourceNotFound", err, err)
	}
	var ipv *cwtypes.InvalidParameterValueException
	if err := clients["cbor"].scanByError("x"); !errors.As(err, &ipv) || ipv.ErrorCode() != "InvalidParameterValue" {
		t.Errorf("DescribeAlarmHistory with a bad ScanBy: %T %v, want *types.InvalidParameterValueException", err, err)
	}

	// Each client spoke its own protocol, and only that.
	for tag, kind := range map[string]string{"query": "query", "json": "json-1.0", "cbor": "rpc-v2-cbor"} {
		if seen := spies[tag].seen(); len(seen) != 1 || seen[kind] < 10 {
			t.Errorf("%s client: requests by protocol %v, want only %s", tag, seen, kind)
		}
	}

	// IAM identity policies apply to every protocol: a user without a policy is denied.
	user, _ := sdkNewIAMUser(t, s, s.rootAWS(), "cw-nobody")
	udc := devCreds{RootAccessKeyID: user.AccessKeyID, RootSecretAccessKey: user.SecretAccessKey}
	sdkUser := cloudwatch.New(cloudwatch.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: user.AccessKeyID, SecretAccessKey: user.SecretAccessKey, Source: "e2e"}, nil
		})})
	// A new key may take a moment to reach the verifier's view.
	waitFor(t, 10*time.Second, func() bool {
		_, err := sdkUser.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
		return apiCode(err) == "AccessDenied"
	})
	if _, err := (&cliClient{bin: v1, endpoint: s.url, creds: udc}).describeAlarms("x"); errCode(err) != "AccessDenied" {
		t.Errorf("JSON 1.0 client without a policy: %v, want AccessDenied", err)
	}

	// The JSON and CBOR calls are in the trail as CloudWatch's, with their parameters
	// and errors, as the query calls are.
	for _, tag := range []string{"query", "json", "cbor"} {
		found := false
		for _, e := range lookupAll(t, s, "EventName", "PutMetricAlarm") {
			if e.RequestParameters["alarmName"] == "proto-"+tag {
				found = true
				if e.EventSource != "monitoring.amazonaws.com" || e.ErrorCode != "" || e.RequestParameters["threshold"] != "10.5" ||
					e.UserIdentity.AccessKeyID != dc.RootAccessKeyID {
					t.Errorf("%s: PutMetricAlarm event %+v", tag, e)
				}
			}
		}
		if !found {
			t.Errorf("%s: no PutMetricAlarm event for proto-%s", tag, tag)
		}
		found = false
		for _, e := range lookupAll(t, s, "EventName", "SetAlarmState") {
			if e.RequestParameters["alarmName"] == "no-such-alarm-"+tag {
				found = e.EventSource == "monitoring.amazonaws.com" && e.ErrorCode == "ResourceNotFound"
			}
		}
		if !found {
			t.Errorf("%s: no failed SetAlarmState event with ResourceNotFound", tag)
		}
	}
}
