package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

// Metric math with the real clients: GetMetricData with SUM(METRICS()) and FILL, alarms
// on metric math that notify an SNS HTTP subscriber on loopback, and the alarms' Metrics
// through the three protocols (Debian's awscli: query; aws-cli v1: JSON 1.0; the Go
// SDK: RPC v2 CBOR).

// writeJSON writes s to a file of the test's temporary directory, for file://.
func writeJSON(t *testing.T, name, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return "file://" + p
}

// mathMetrics is the Metrics of an alarm on m1 + m2 (E2E/Math Errors and Faults of
// host h1), filled with 0, named id.
func mathMetrics(id string) string {
	stat := func(qid, name string) string {
		return fmt.Sprintf(`{"Id":%q,"ReturnData":false,"MetricStat":{"Metric":{"Namespace":"E2E/Math","MetricName":%q,`+
			`"Dimensions":[{"Name":"Host","Value":"h1"},{"Name":"AZ","Value":"a"}]},"Period":60,"Stat":"Sum"}}`, qid, name)
	}
	return "[" + stat("m1", "Errors") + "," + stat("m2", "Faults") +
		fmt.Sprintf(`,{"Id":%q,"Expression":"FILL(m1, 0) + FILL(m2, 0)","Label":"errors and faults","ReturnData":true}]`, id)
}

// alarmMetrics is what a client's describe-alarms shows of an alarm's Metrics.
type alarmMetrics []struct {
	ID         string `json:"Id"`
	Expression string
	Label      string
	ReturnData bool
	MetricStat *struct {
		Metric struct {
			Namespace, MetricName string
			Dimensions            []struct{ Name, Value string }
		}
		Period int
		Stat   string
	}
}

func (m alarmMetrics) String() string {
	var out []string
	for _, q := range m {
		s := fmt.Sprintf("%s %q %q %v", q.ID, q.Expression, q.Label, q.ReturnData)
		if ms := q.MetricStat; ms != nil {
			s += fmt.Sprintf(" %s/%s %v %d %s", ms.Metric.Namespace, ms.Metric.MetricName, ms.Metric.Dimensions, ms.Period, ms.Stat)
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func TestCWMathGetMetricDataAndAlarms(t *testing.T) {
	t.Parallel() // independent node; the alarm waits for the evaluation loop (10 s)
	s, root := debianCLINode(t)
	dims := `"Dimensions":[{"Name":"Host","Value":"h1"},{"Name":"AZ","Value":"a"}]`

	// Two metrics with gaps, a quarter of an hour ago.
	base := time.Now().UTC().Truncate(time.Minute).Add(-15 * time.Minute)
	datum := func(name string, min int, v float64) string {
		return fmt.Sprintf(`{"MetricName":%q,%s,"Value":%g,"Timestamp":%q}`, name, dims, v, base.Add(time.Duration(min)*time.Minute).Format(time.RFC3339))
	}
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-data", "--namespace", "E2E/Math", "--metric-data",
		"["+datum("Errors", 0, 1)+","+datum("Errors", 2, 3)+","+datum("Faults", 2, 4)+","+datum("Faults", 3, 1)+"]")

	// GetMetricData: SUM(METRICS()), FILL(m1, 0), and FILL(METRICS(), REPEAT) (an array:
	// one result per metric, with the expression's Id).
	queries := writeJSON(t, "queries.json", `[`+
		`{"Id":"m1","ReturnData":false,"MetricStat":{"Metric":{"Namespace":"E2E/Math","MetricName":"Errors",`+dims+`},"Period":60,"Stat":"Sum"}},`+
		`{"Id":"m2","ReturnData":false,"MetricStat":{"Metric":{"Namespace":"E2E/Math","MetricName":"Faults",`+dims+`},"Period":60,"Stat":"Sum"}},`+
		`{"Id":"total","Expression":"SUM(METRICS())","Label":"all"},`+
		`{"Id":"filled","Expression":"FILL(m1, 0)"},`+
		`{"Id":"repeated","Expression":"FILL(METRICS(), REPEAT)","Label":"rep"}]`)
	var gmd struct {
		MetricDataResults []struct {
			ID         string `json:"Id"`
			Label      string
			Timestamps []epochOrISO
			Values     []float64
		}
	}
	awsOK(t, s, root, &gmd, "cloudwatch", "get-metric-data", "--metric-data-queries", queries, "--scan-by", "TimestampAscending",
		"--start-time", base.Format(time.RFC3339), "--end-time", base.Add(5*time.Minute).Format(time.RFC3339))
	var got []string
	for _, r := range gmd.MetricDataResults {
		var pts []string
		for i, ts := range r.Timestamps {
			pts = append(pts, fmt.Sprintf("%d=%g", int(ts.Sub(base)/time.Minute), r.Values[i]))
		}
		got = append(got, fmt.Sprintf("%s %q %s", r.ID, r.Label, strings.Join(pts, " ")))
	}
	want := []string{
		`total "all" 0=1 2=7 3=1`,
		`filled "filled" 0=1 1=0 2=3 3=0 4=0`,
		`repeated "rep Errors" 0=1 1=1 2=3 3=3 4=3`,
		`repeated "rep Faults" 2=4 3=1 4=1`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("get-metric-data:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// An alarm on FILL(m1, 0) + FILL(m2, 0) >= 10, from a file as users write them.
	topicArn, alarmNote := httpSubscriber(t, s, root, "math-alarms")
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-alarm", "--alarm-name", "errors-and-faults", "--metrics", writeJSON(t, "alarm.json", mathMetrics("e1")),
		"--evaluation-periods", "2", "--datapoints-to-alarm", "1", "--threshold", "10", "--comparison-operator", "GreaterThanOrEqualToThreshold",
		"--alarm-actions", topicArn)
	var desc struct {
		MetricAlarms []struct {
			AlarmName, StateValue, MetricName, Statistic string
			Period                                       int
			Metrics                                      alarmMetrics
		}
	}
	awsOK(t, s, root, &desc, "cloudwatch", "describe-alarms", "--alarm-names", "errors-and-faults")
	wantMetrics := `m1 "" "" false E2E/Math/Errors [{Host h1} {AZ a}] 60 Sum; m2 "" "" false E2E/Math/Faults [{Host h1} {AZ a}] 60 Sum; ` +
		`e1 "FILL(m1, 0) + FILL(m2, 0)" "errors and faults" true`
	if len(desc.MetricAlarms) != 1 || desc.MetricAlarms[0].MetricName != "" || desc.MetricAlarms[0].Period != 0 ||
		desc.MetricAlarms[0].Metrics.String() != wantMetrics {
		t.Fatalf("describe-alarms: %+v\n%s\nwant %s", desc, desc.MetricAlarms[0].Metrics, wantMetrics)
	}
	// Each metric alone stays under the threshold; their sum does not. The evaluation loop
	// (every 10 s) must see them in the current minute, the newest of its datapoints: stay
	// clear of the minute's end.
	if sec := time.Now().Second(); sec > 47 {
		time.Sleep(time.Duration(61-sec) * time.Second)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-data", "--namespace", "E2E/Math", "--metric-data",
		fmt.Sprintf(`[{"MetricName":"Errors",%s,"Value":4,"Timestamp":%q},{"MetricName":"Faults",%s,"Value":7,"Timestamp":%q}]`, dims, now, dims, now))
	// An alarm on SUM(METRICS()) of FailedLoginCount of two users: each user's failed
	// login publishes the metric and evaluates the alarm at once, so the second one is
	// answered after the notification was delivered.
	topic2, loginNote := httpSubscriber(t, s, root, "login-alarms")
	logins := func(user string) string {
		return fmt.Sprintf(`{"Id":"m_%s","ReturnData":false,"MetricStat":{"Metric":{"Namespace":"AWS/CloudHSM","MetricName":"FailedLoginCount",`+
			`"Dimensions":[{"Name":"UserName","Value":%q}]},"Period":60,"Stat":"Sum"}}`, user, user)
	}
	if sec := time.Now().Second(); sec > 55 { // both failures in the same 60 s period
		time.Sleep(time.Duration(61-sec) * time.Second)
	}
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-alarm", "--alarm-name", "failed-logins-all-users", "--evaluation-periods", "1",
		"--threshold", "2", "--comparison-operator", "GreaterThanOrEqualToThreshold", "--treat-missing-data", "notBreaching",
		"--alarm-actions", topic2, "--metrics", writeJSON(t, "logins.json",
			"["+logins("alice")+","+logins("bob")+`,{"Id":"e1","Expression":"SUM(METRICS())","ReturnData":true}]`))
	anon := &hsmapi.Client{Endpoint: s.url}
	for _, user := range []string{"alice", "bob"} {
		if loginNote() != nil {
			t.Fatalf("ALARM before %s's failed login", user)
		}
		_ = anon.Call(ctx, "login", map[string]string{"username": user, "role": "crypto-user", "password": "not-the-password"}, nil)
	}
	if n := loginNote(); n == nil || n["AlarmName"] != "failed-logins-all-users" {
		t.Fatalf("the ALARM notification had not arrived when the second failed login was answered: %+v", n)
	}

	// PutMetricData does not evaluate alarms: the evaluation loop (every 10 s) does.
	waitFor(t, 30*time.Second, func() bool { return alarmNote() != nil })
	note := alarmNote()
	trigger, _ := note["Trigger"].(map[string]any)
	if note["AlarmName"] != "errors-and-faults" || trigger == nil || trigger["MetricName"] != nil || len(trigger["Metrics"].([]any)) != 3 ||
		!strings.Contains(note["NewStateReason"].(string), "[11.0 (") {
		t.Fatalf("notification: %+v", note)
	}
	awsOK(t, s, root, &desc, "cloudwatch", "describe-alarms", "--alarm-names", "errors-and-faults")
	if desc.MetricAlarms[0].StateValue != "ALARM" {
		t.Fatalf("describe-alarms: %+v", desc)
	}
}

// TestCWMathAlarmProtocols: an alarm's Metrics (a list of structures holding lists of
// structures) put and described by each client in its protocol.
func TestCWMathAlarmProtocols(t *testing.T) {
	t.Parallel() // independent node
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil)
	dc := s.creds()
	spies := map[string]*protoSpy{}
	for _, tag := range []string{"query", "json", "cbor"} {
		spies[tag] = newProtoSpy(t, s.url)
	}
	clis := map[string]*cliClient{"query": {bin: "/usr/bin/aws", endpoint: spies["query"].srv.URL, creds: dc}}
	if v1 := awsCLIs(t)["v1"]; v1 != "" {
		clis["json"] = &cliClient{bin: v1, endpoint: spies["json"].srv.URL, creds: dc}
	} else {
		t.Log("no aws-cli v1 on PATH: JSON 1.0 not tested")
	}
	seen := map[string]string{}
	for tag, c := range clis {
		name := "math-" + tag
		if err := c.run(nil, "put-metric-alarm", "--alarm-name", name, "--metrics", writeJSON(t, tag+".json", mathMetrics("e1")),
			"--evaluation-periods", "1", "--threshold", "10", "--comparison-operator", "GreaterThanThreshold"); err != nil {
			t.Fatalf("%s: put-metric-alarm: %v", tag, err)
		}
		var desc struct {
			MetricAlarms []struct{ Metrics alarmMetrics }
		}
		if err := c.run(&desc, "describe-alarms", "--alarm-names", name); err != nil || len(desc.MetricAlarms) != 1 {
			t.Fatalf("%s: describe-alarms: %+v %v", tag, desc, err)
		}
		seen[tag] = desc.MetricAlarms[0].Metrics.String()
		// An expression AWS refuses, with its error.
		bad := strings.Replace(mathMetrics("e1"), "FILL(m1, 0)", "NOPE(m1)", 1)
		err := c.run(nil, "put-metric-alarm", "--alarm-name", name+"-bad", "--metrics", writeJSON(t, tag+"-bad.json", bad),
			"--evaluation-periods", "1", "--threshold", "10", "--comparison-operator", "GreaterThanThreshold")
		if errCode(err) != "ValidationError" || !strings.Contains(err.Error(), "Error in expression 'e1': Function 'NOPE' not found") {
			t.Errorf("%s: an unknown function: %v", tag, err)
		}
	}

	sdk := cloudwatch.New(cloudwatch.Options{Region: "us-east-1", BaseEndpoint: aws.String(spies["cbor"].srv.URL), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey, Source: "e2e"}, nil
		})})
	stat := func(id, name string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("E2E/Math"), MetricName: aws.String(name),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("Host"), Value: aws.String("h1")}, {Name: aws.String("AZ"), Value: aws.String("a")}}},
			Period: aws.Int32(60), Stat: aws.String("Sum")}}
	}
	if _, err := sdk.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("math-cbor"), EvaluationPeriods: aws.Int32(1),
		Threshold: aws.Float64(10), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		Metrics: []cwtypes.MetricDataQuery{stat("m1", "Errors"), stat("m2", "Faults"),
			{Id: aws.String("e1"), Expression: aws.String("FILL(m1, 0) + FILL(m2, 0)"), Label: aws.String("errors and faults"), ReturnData: aws.Bool(true)}}}); err != nil {
		t.Fatal(err)
	}
	out, err := sdk.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"math-cbor"}})
	if err != nil || len(out.MetricAlarms) != 1 {
		t.Fatalf("DescribeAlarms: %+v %v", out, err)
	}
	var am alarmMetrics
	for _, q := range out.MetricAlarms[0].Metrics {
		x := alarmMetrics{{ID: aws.ToString(q.Id), Expression: aws.ToString(q.Expression), Label: aws.ToString(q.Label), ReturnData: aws.ToBool(q.ReturnData)}}
		if ms := q.MetricStat; ms != nil {
			x[0].MetricStat = &struct {
				Metric struct {
					Namespace, MetricName string
					Dimensions            []struct{ Name, Value string }
				}
				Period int
				Stat   string
			}{Period: int(aws.ToInt32(ms.Period)), Stat: aws.ToString(ms.Stat)}
			x[0].MetricStat.Metric.Namespace, x[0].MetricStat.Metric.MetricName = aws.ToString(ms.Metric.Namespace), aws.ToString(ms.Metric.MetricName)
			for _, d := range ms.Metric.Dimensions {
				x[0].MetricStat.Metric.Dimensions = append(x[0].MetricStat.Metric.Dimensions, struct{ Name, Value string }{aws.ToString(d.Name), aws.ToString(d.Value)})
			}
		}
		am = append(am, x...)
	}
	seen["cbor"] = am.String()

	want := `m1 "" "" false E2E/Math/Errors [{Host h1} {AZ a}] 60 Sum; m2 "" "" false E2E/Math/Faults [{Host h1} {AZ a}] 60 Sum; ` +
		`e1 "FILL(m1, 0) + FILL(m2, 0)" "errors and faults" true`
	var tags []string
	for tag, got := range seen {
		tags = append(tags, tag)
		if got != want {
			t.Errorf("%s client saw Metrics\n%s\nwant\n%s", tag, got, want)
		}
	}
	sort.Strings(tags)
	// Each client spoke its own protocol, and only that.
	for _, tag := range tags {
		kind := map[string]string{"query": "query", "json": "json-1.0", "cbor": "rpc-v2-cbor"}[tag]
		if k := spies[tag].seen(); len(k) != 1 || k[kind] == 0 {
			t.Errorf("%s client's requests: %v", tag, k)
		}
	}
	t.Logf("clients: %v", tags)
}
