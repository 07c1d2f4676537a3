package e2e

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// TestCWConformance: the CloudWatch conformance sweep:
//   - get-metric-statistics without --unit returns a datapoint per unit of a period, and
//     refuses --statistics with --extended-statistics (InvalidParameterCombination);
//   - a standard-resolution datapoint has one-minute resolution (period 10 finds it at its
//     minute), a --storage-resolution 1 one keeps its second;
//   - put-metric-alarm without --period is AWS's ValidationError "Period must not be null";
//   - an alarm's SNS action is an Action history item, and describe-alarm-history still
//     answers for the alarm after delete-alarms, with its "deleted" item; the configuration
//     items' HistoryData is AWS's JSON (createdAlarm, deletedAlarm, camelCase);
//   - list-metrics --include-linked-accounts returns OwningAccounts, one per metric;
//   - put-metric-alarm --evaluation-interval (PromQL alarms) is refused,
//     describe-alarm-history --alarm-contributor-id answers no item.
//
// What a CLI user sees runs with Debian's AWS CLI (/usr/bin/aws 2.9, query protocol) and,
// when it is on PATH, aws-cli v1 (botocore 1.43, JSON 1.0), side by side, each on its own
// namespace: put-metric-data, get-metric-statistics without --unit, describe-alarm-history
// of the deleted alarm, and a refusal (InvalidParameterCombination with the query CLI,
// --evaluation-interval, which only v1's model has, with the JSON one). The rest checks the
// server's answers with aws-sdk-go-v2: the alarm's life (refused without a Period, created,
// set to ALARM, deleted) before the CLIs run, and after them every statistics case and
// list-metrics on the datapoints each CLI put.
func TestCWConformance(t *testing.T) {
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil)
	root := s.rootAWS()
	dc := s.creds()
	cw := s.cloudwatchClient()
	topicArn, alarmNote := httpSubscriber(t, s, root, "conformance")
	clis := map[string]string{"query": "/usr/bin/aws"}
	if v1 := awsCLIs(t)["v1"]; v1 != "" {
		clis["json"] = v1
	} else {
		t.Log("no aws-cli v1 on PATH: the JSON 1.0 client is not run")
	}
	// A whole minute a few minutes ago: the datapoints' seconds are chosen in it.
	minute := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Minute)

	alarm := "conf-sdk"
	t.Run("sdk-alarm", func(t *testing.T) { runCWConformanceAlarm(t, cw, alarm, topicArn) })
	t.Run("cli", func(t *testing.T) {
		for _, tag := range []string{"query", "json"} {
			if clis[tag] == "" {
				continue
			}
			t.Run(tag, func(t *testing.T) {
				t.Parallel() // each CLI is a single-threaded Python process
				c := &cliClient{bin: clis[tag], endpoint: s.url, creds: dc}
				runCWConformance(t, c, tag, minute, alarm, topicArn)
			})
		}
	})
	for _, tag := range []string{"query", "json"} {
		if clis[tag] == "" {
			continue
		}
		t.Run("sdk-"+tag, func(t *testing.T) { runCWConformanceStats(t, cw, "E2E/Conf-"+tag, minute, topicArn) })
	}
	if alarmNote() == nil {
		t.Error("the SNS subscriber had no ALARM notification")
	}
}

// cwCheck compares the lines a case answered with the lines wanted.
func cwCheck(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: %q, want %q", what, got, want)
	}
}

// cwHistoryData checks the HistoryData of the configuration items of the alarm's history
// (scanned by ascending timestamp: created, ..., deleted) as AWS's JSON.
func cwHistoryData(t *testing.T, alarm string, data []string) {
	t.Helper()
	for i, typ := range map[int]string{0: `Create","createdAlarm`, 3: `Delete","deletedAlarm`} {
		if d := data[i]; !strings.HasPrefix(d, `{"version":"1.0","type":"`+typ+`":{"alarmName":"`+alarm+`"`) ||
			!strings.Contains(d, `"metricName":"Mixed"`) || !strings.Contains(d, `"threshold":100.0`) || !strings.Contains(d, `"okactions":[]`) {
			t.Errorf("HistoryData %s", d)
		}
	}
}

// cwHistoryAfterDelete is the history of the alarm after delete-alarms, scanned by
// ascending timestamp.
func cwHistoryAfterDelete(alarm, topicArn string) []string {
	return []string{`ConfigurationUpdate: Alarm "` + alarm + `" created`, "StateUpdate: Alarm updated from INSUFFICIENT_DATA to ALARM",
		"Action: Successfully executed action " + topicArn, `ConfigurationUpdate: Alarm "` + alarm + `" deleted`}
}

// runCWConformanceAlarm is the alarm's life with aws-sdk-go-v2: refused without a Period,
// created with an SNS action, set to ALARM (an Action history item), deleted. Its history
// is read after delete-alarms by the CLIs (runCWConformance).
func runCWConformanceAlarm(t *testing.T, cw *cloudwatch.Client, alarm, topicArn string) {
	in := func() *cloudwatch.PutMetricAlarmInput {
		return &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(alarm), Namespace: aws.String("E2E/Conf-sdk"), MetricName: aws.String("Mixed"),
			Statistic: cwtypes.StatisticSum, EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(100),
			ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, AlarmActions: []string{topicArn},
			TreatMissingData: aws.String("ignore")} // (the evaluation keeps the state set below)
	}
	_, err := cw.PutMetricAlarm(ctx, in())
	wantSDKError(t, "PutMetricAlarm without a Period", err, "ValidationError", "Period must not be null")
	withPeriod := in()
	withPeriod.Period = aws.Int32(60)
	if _, err := cw.PutMetricAlarm(ctx, withPeriod); err != nil {
		t.Fatalf("PutMetricAlarm: %v", err)
	}
	if _, err := cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(alarm), StateValue: cwtypes.StateValueAlarm,
		StateReason: aws.String("conformance")}); err != nil {
		t.Fatalf("SetAlarmState: %v", err)
	}
	history := func(in *cloudwatch.DescribeAlarmHistoryInput) ([]string, []string) {
		t.Helper()
		in.AlarmName = aws.String(alarm)
		out, err := cw.DescribeAlarmHistory(ctx, in)
		if err != nil {
			t.Fatalf("DescribeAlarmHistory: %v", err)
		}
		var items, data []string
		for _, h := range out.AlarmHistoryItems {
			items = append(items, string(h.HistoryItemType)+": "+aws.ToString(h.HistorySummary))
			data = append(data, aws.ToString(h.HistoryData))
		}
		return items, data
	}
	items, data := history(&cloudwatch.DescribeAlarmHistoryInput{HistoryItemType: cwtypes.HistoryItemTypeAction})
	cwCheck(t, "Action history", items, "Action: Successfully executed action "+topicArn)
	if len(data) == 0 || !strings.Contains(data[0], `"actionState":"Succeeded"`) || !strings.Contains(data[0], topicArn) {
		t.Errorf("Action HistoryData %q", data)
	}

	// The history outlives the alarm.
	if _, err := cw.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{alarm}}); err != nil {
		t.Fatalf("DeleteAlarms: %v", err)
	}
	items, data = history(&cloudwatch.DescribeAlarmHistoryInput{ScanBy: cwtypes.ScanByTimestampAscending})
	cwCheck(t, "history after DeleteAlarms", items, cwHistoryAfterDelete(alarm, topicArn)...)
	if len(data) == 4 {
		cwHistoryData(t, alarm, data)
	}
	// AlarmContributorId (a member of the newer models): no item.
	items, _ = history(&cloudwatch.DescribeAlarmHistoryInput{AlarmContributorId: aws.String("c1")})
	cwCheck(t, "AlarmContributorId history", items)
}

// runCWConformanceStats checks, with aws-sdk-go-v2, the statistics and list-metrics of the
// datapoints a CLI put in ns (runCWConformance).
func runCWConformanceStats(t *testing.T, cw *cloudwatch.Client, ns string, minute time.Time, topicArn string) {
	get := func(name string, period int32, unit cwtypes.StandardUnit) []string {
		t.Helper()
		out, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String(ns), MetricName: aws.String(name),
			Period: aws.Int32(period), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum, cwtypes.StatisticSampleCount},
			StartTime: aws.Time(minute), EndTime: aws.Time(minute.Add(time.Minute)), Unit: unit})
		if err != nil {
			t.Fatalf("GetMetricStatistics %s: %v", name, err)
		}
		var l []string
		for _, d := range out.Datapoints {
			l = append(l, fmt.Sprintf("%s %s %g/%g", d.Timestamp.Sub(minute), d.Unit, aws.ToFloat64(d.Sum), aws.ToFloat64(d.SampleCount)))
		}
		slices.Sort(l)
		return l
	}
	// One datapoint per unit without a Unit; only that unit's with it.
	cwCheck(t, "Mixed", get("Mixed", 60, ""), "0s Count 3/2", "0s Seconds 5/1")
	cwCheck(t, "Mixed Unit Seconds", get("Mixed", 60, cwtypes.StandardUnitSeconds), "0s Seconds 5/1")
	// Standard resolution: at the start of its minute; high resolution: at its second.
	cwCheck(t, "Std period 10", get("Std", 10, ""), "0s None 2/2")
	cwCheck(t, "Hi period 10", get("Hi", 10, ""), "10s None 1/1", "40s None 1/1")
	_, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String(ns), MetricName: aws.String("Mixed"),
		Period: aws.Int32(60), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum}, ExtendedStatistics: []string{"p50"},
		StartTime: aws.Time(minute), EndTime: aws.Time(minute.Add(time.Minute))})
	wantSDKError(t, "Statistics with ExtendedStatistics", err, "InvalidParameterCombination", "but not both")

	// OwningAccounts: this account, once per metric.
	lm, err := cw.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String(ns), IncludeLinkedAccounts: aws.Bool(true)})
	if err != nil {
		t.Fatalf("ListMetrics: %v", err)
	}
	account := strings.Split(topicArn, ":")[4]
	if len(lm.Metrics) != 3 || len(lm.OwningAccounts) != 3 || lm.OwningAccounts[0] != account || lm.OwningAccounts[2] != account {
		t.Errorf("ListMetrics IncludeLinkedAccounts: %+v", lm)
	}
}

// runCWConformance is what a CLI user sees, with the CLI c in its own namespace: the
// datapoints it puts, their per-unit statistics, the history of the alarm (deleted by
// runCWConformanceAlarm) and a refusal.
func runCWConformance(t *testing.T, c *cliClient, tag string, minute time.Time, alarm, topicArn string) {
	ns := "E2E/Conf-" + tag
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wantCode := func(what, code, text string, err error) {
		t.Helper()
		var ce *cliError
		if !errors.As(err, &ce) || ce.code != code || !strings.Contains(ce.out, text) {
			t.Fatalf("%s: %v, want %s %q", what, err, code, text)
		}
	}
	at := func(sec int) string { return minute.Add(time.Duration(sec) * time.Second).Format(time.RFC3339) }
	datum := func(name string, v float64, unit string, sec, res int) string {
		d := fmt.Sprintf(`{"MetricName":%q,"Value":%g,"Timestamp":%q`, name, v, at(sec))
		if unit != "" {
			d += fmt.Sprintf(`,"Unit":%q`, unit)
		}
		if res != 0 {
			d += fmt.Sprintf(`,"StorageResolution":%d`, res)
		}
		return d + "}"
	}
	must("put-metric-data", c.run(nil, "put-metric-data", "--namespace", ns, "--metric-data", "["+strings.Join([]string{
		datum("Mixed", 1, "Count", 5, 0), datum("Mixed", 2, "Count", 15, 0), datum("Mixed", 5, "Seconds", 25, 0),
		datum("Std", 1, "", 10, 0), datum("Std", 1, "", 40, 0), datum("Hi", 1, "", 10, 1), datum("Hi", 1, "", 40, 1)}, ",")+"]"))

	var stats struct {
		Datapoints []struct {
			Timestamp        epochOrISO
			Sum, SampleCount float64
			Unit             string
		}
	}
	window := []string{"--start-time", minute.Format(time.RFC3339), "--end-time", minute.Add(time.Minute).Format(time.RFC3339)}
	// One datapoint per unit without --unit.
	must("get-metric-statistics Mixed", c.run(&stats, append([]string{"get-metric-statistics", "--namespace", ns, "--metric-name", "Mixed",
		"--period", "60", "--statistics", "Sum", "SampleCount"}, window...)...))
	var got []string
	for _, d := range stats.Datapoints {
		got = append(got, fmt.Sprintf("%s %s %g/%g", d.Timestamp.Sub(minute), d.Unit, d.Sum, d.SampleCount))
	}
	slices.Sort(got)
	cwCheck(t, "Mixed", got, "0s Count 3/2", "0s Seconds 5/1")

	// The history outlives the alarm.
	var hist struct {
		AlarmHistoryItems []struct{ AlarmType, HistoryItemType, HistorySummary, HistoryData string }
	}
	must("describe-alarm-history", c.run(&hist, "describe-alarm-history", "--alarm-name", alarm, "--scan-by", "TimestampAscending"))
	var items, data []string
	for _, h := range hist.AlarmHistoryItems {
		items = append(items, h.HistoryItemType+": "+h.HistorySummary)
		data = append(data, h.HistoryData)
	}
	cwCheck(t, "history after delete-alarms", items, cwHistoryAfterDelete(alarm, topicArn)...)
	if len(data) == 4 {
		cwHistoryData(t, alarm, data)
	}

	if tag != "json" {
		wantCode("--statistics with --extended-statistics", "InvalidParameterCombination", "but not both",
			c.run(nil, append([]string{"get-metric-statistics", "--namespace", ns, "--metric-name", "Mixed", "--period", "60",
				"--statistics", "Sum", "--extended-statistics", "p50"}, window...)...))
		return
	}
	// A member only the newer model has.
	wantCode("--evaluation-interval", "InvalidParameterValue", "EvaluationInterval", c.run(nil, "put-metric-alarm", "--alarm-name", "conf-"+tag,
		"--namespace", ns, "--metric-name", "Mixed", "--statistic", "Sum", "--period", "60", "--evaluation-periods", "1", "--threshold", "100",
		"--comparison-operator", "GreaterThanThreshold", "--alarm-actions", topicArn, "--treat-missing-data", "ignore", "--evaluation-interval", "60"))
}
