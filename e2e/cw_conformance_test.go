package e2e

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCWConformance: what a CLI user sees of the CloudWatch conformance sweep, with
// Debian's AWS CLI (/usr/bin/aws 2.9, query protocol) and, when it is on PATH, aws-cli v1
// (botocore 1.43, JSON 1.0), each on its own names on one node:
//   - get-metric-statistics without --unit returns a datapoint per unit of a period, and
//     refuses --statistics with --extended-statistics (InvalidParameterCombination);
//   - a standard-resolution datapoint has one-minute resolution (period 10 finds it at its
//     minute), a --storage-resolution 1 one keeps its second;
//   - put-metric-alarm without --period is AWS's ValidationError "Period must not be null";
//   - an alarm's SNS action is an Action history item, and describe-alarm-history still
//     answers for the alarm after delete-alarms, with its "deleted" item; the configuration
//     items' HistoryData is AWS's JSON (createdAlarm, deletedAlarm, camelCase);
//   - list-metrics --include-linked-accounts returns OwningAccounts, one per metric;
//   - (v1 only, its model has them) put-metric-alarm --evaluation-interval (PromQL alarms)
//     is refused, describe-alarm-history --alarm-contributor-id answers no item.
func TestCWConformance(t *testing.T) {
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil)
	root := s.rootAWS()
	dc := s.creds()
	topicArn, alarmNote := httpSubscriber(t, s, root, "conformance")
	clis := map[string]string{"query": "/usr/bin/aws"}
	if v1 := awsCLIs(t)["v1"]; v1 != "" {
		clis["json"] = v1
	} else {
		t.Log("no aws-cli v1 on PATH: the JSON 1.0 client is not run")
	}
	// A whole minute a few minutes ago: the datapoints' seconds are chosen in it.
	minute := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Minute)
	for _, tag := range []string{"query", "json"} {
		if clis[tag] == "" {
			continue
		}
		t.Run(tag, func(t *testing.T) {
			c := &cliClient{bin: clis[tag], endpoint: s.url, creds: dc}
			runCWConformance(t, c, tag, minute, topicArn)
		})
	}
	if alarmNote() == nil {
		t.Error("the SNS subscriber had no ALARM notification")
	}
}

func runCWConformance(t *testing.T, c *cliClient, tag string, minute time.Time, topicArn string) {
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

	type datapoint struct {
		Timestamp        epochOrISO
		Sum, SampleCount float64
		Unit             string
	}
	var stats struct{ Datapoints []datapoint }
	window := []string{"--start-time", minute.Format(time.RFC3339), "--end-time", minute.Add(time.Minute).Format(time.RFC3339)}
	get := func(name, period string, extra ...string) []string {
		t.Helper()
		stats.Datapoints = nil
		must("get-metric-statistics "+name, c.run(&stats, append(append([]string{"get-metric-statistics", "--namespace", ns, "--metric-name", name,
			"--period", period, "--statistics", "Sum", "SampleCount"}, window...), extra...)...))
		var out []string
		for _, d := range stats.Datapoints {
			out = append(out, fmt.Sprintf("%s %s %g/%g", d.Timestamp.Sub(minute), d.Unit, d.Sum, d.SampleCount))
		}
		slices.Sort(out)
		return out
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	// One datapoint per unit without --unit; only that unit's with it.
	check("Mixed", get("Mixed", "60"), "0s Count 3/2", "0s Seconds 5/1")
	check("Mixed --unit Seconds", get("Mixed", "60", "--unit", "Seconds"), "0s Seconds 5/1")
	// Standard resolution: at the start of its minute; high resolution: at its second.
	check("Std period 10", get("Std", "10"), "0s None 2/2")
	check("Hi period 10", get("Hi", "10"), "10s None 1/1", "40s None 1/1")
	wantCode("--statistics with --extended-statistics", "InvalidParameterCombination", "but not both",
		c.run(nil, append([]string{"get-metric-statistics", "--namespace", ns, "--metric-name", "Mixed", "--period", "60",
			"--statistics", "Sum", "--extended-statistics", "p50"}, window...)...))

	// An alarm without --period: AWS's ValidationError.
	alarm := "conf-" + tag
	alarmArgs := []string{"put-metric-alarm", "--alarm-name", alarm, "--namespace", ns, "--metric-name", "Mixed", "--statistic", "Sum",
		"--evaluation-periods", "1", "--threshold", "100", "--comparison-operator", "GreaterThanThreshold", "--alarm-actions", topicArn,
		"--treat-missing-data", "ignore"} // (the evaluation keeps the state set below)
	wantCode("put-metric-alarm without --period", "ValidationError", "Period must not be null", c.run(nil, alarmArgs...))
	must("put-metric-alarm", c.run(nil, append(alarmArgs, "--period", "60")...))
	must("set-alarm-state", c.run(nil, "set-alarm-state", "--alarm-name", alarm, "--state-value", "ALARM", "--state-reason", "conformance"))

	type item struct{ AlarmType, HistoryItemType, HistorySummary, HistoryData string }
	var hist struct{ AlarmHistoryItems []item }
	history := func(extra ...string) []string {
		t.Helper()
		hist.AlarmHistoryItems = nil
		must("describe-alarm-history", c.run(&hist, append([]string{"describe-alarm-history", "--alarm-name", alarm}, extra...)...))
		var out []string
		for _, h := range hist.AlarmHistoryItems {
			out = append(out, h.HistoryItemType+": "+h.HistorySummary)
		}
		return out
	}
	check("Action history", history("--history-item-type", "Action"), "Action: Successfully executed action "+topicArn)
	if d := hist.AlarmHistoryItems[0].HistoryData; !strings.Contains(d, `"actionState":"Succeeded"`) || !strings.Contains(d, topicArn) {
		t.Errorf("Action HistoryData %s", d)
	}

	// The history outlives the alarm.
	must("delete-alarms", c.run(nil, "delete-alarms", "--alarm-names", alarm))
	check("history after delete-alarms", history("--scan-by", "TimestampAscending"),
		`ConfigurationUpdate: Alarm "`+alarm+`" created`, "StateUpdate: Alarm updated from INSUFFICIENT_DATA to ALARM",
		"Action: Successfully executed action "+topicArn, `ConfigurationUpdate: Alarm "`+alarm+`" deleted`)
	// The configuration items' HistoryData is AWS's JSON.
	for i, typ := range map[int]string{0: `Create","createdAlarm`, 3: `Delete","deletedAlarm`} {
		if d := hist.AlarmHistoryItems[i].HistoryData; !strings.HasPrefix(d, `{"version":"1.0","type":"`+typ+`":{"alarmName":"`+alarm+`"`) ||
			!strings.Contains(d, `"metricName":"Mixed"`) || !strings.Contains(d, `"threshold":100.0`) || !strings.Contains(d, `"okactions":[]`) {
			t.Errorf("HistoryData %s", d)
		}
	}

	// OwningAccounts: this account, once per metric.
	var lm struct {
		Metrics        []struct{ MetricName string }
		OwningAccounts []string
	}
	must("list-metrics", c.run(&lm, "list-metrics", "--namespace", ns, "--include-linked-accounts"))
	account := strings.Split(topicArn, ":")[4]
	if len(lm.Metrics) != 3 || len(lm.OwningAccounts) != 3 || lm.OwningAccounts[0] != account || lm.OwningAccounts[2] != account {
		t.Errorf("list-metrics --include-linked-accounts: %+v", lm)
	}

	if tag != "json" {
		return
	}
	// Members only the newer model has.
	wantCode("--evaluation-interval", "InvalidParameterValue", "EvaluationInterval", c.run(nil, append(alarmArgs, "--period", "60", "--evaluation-interval", "60")...))
	if check("--alarm-contributor-id", history("--alarm-contributor-id", "c1")); len(hist.AlarmHistoryItems) != 0 {
		t.Errorf("contributor history: %+v", hist)
	}
}
