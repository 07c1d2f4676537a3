package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

// Regression tests of the CloudWatch conformance sweep: each checks a behaviour the AWS
// CloudWatch API reference documents (quoted) or botocore's model defines.

// GetMetricStatistics without Unit: "all data that was collected with any unit is
// returned, along with the corresponding units": one datapoint per unit of a period.
func TestConformanceStatisticsPerUnit(t *testing.T) {
	e := newEnv(t)
	ts := t0.Add(10 * time.Second)
	if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{
		{MetricName: "M", Timestamp: ts, Value: f(1), Unit: "Count"},
		{MetricName: "M", Timestamp: ts, Value: f(5), Unit: "Seconds"},
		{MetricName: "M", Timestamp: ts.Add(time.Second), Value: f(2), Unit: "Count"},
		{MetricName: "M", Timestamp: ts.Add(time.Minute), Value: f(7)},
	}); err != nil {
		t.Fatal(err)
	}
	get := func(unit string) []Datapoint {
		t.Helper()
		_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: "M", StartTime: t0, EndTime: t0.Add(5 * time.Minute),
			Period: 60, Statistics: []string{"Sum", "SampleCount"}, Unit: unit})
		if err != nil {
			t.Fatal(err)
		}
		return dps
	}
	type dp struct {
		at   time.Time
		unit string
		sum  float64
		n    float64
	}
	check := func(got []Datapoint, want ...dp) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%d datapoints %+v, want %+v", len(got), got, want)
		}
		for i, w := range want {
			g := got[i]
			if !g.Timestamp.Equal(w.at) || g.Unit != w.unit || *g.Sum != w.sum || *g.SampleCount != w.n {
				t.Fatalf("datapoint %d: %v %s sum %v n %v, want %+v", i, g.Timestamp, g.Unit, *g.Sum, *g.SampleCount, w)
			}
		}
	}
	check(get(""), dp{t0, "Count", 3, 2}, dp{t0, "Seconds", 5, 1}, dp{t0.Add(time.Minute), "None", 7, 1})
	check(get("Count"), dp{t0, "Count", 3, 2})
	check(get("None"), dp{t0.Add(time.Minute), "None", 7, 1})
	check(get("Bytes"))
}

func TestConformanceStatisticsRequestRules(t *testing.T) {
	e := newEnv(t)
	e.put(t0, 1)
	// "you must specify either Statistics or ExtendedStatistics, but not both."
	_, _, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "Test", MetricName: "M", StartTime: t0, EndTime: t0.Add(time.Hour),
		Period: 60, Statistics: []string{"Sum"}, ExtendedStatistics: []string{"p50"}})
	wantCode(t, err, "InvalidParameterCombination")
	// "The maximum number of data points returned from a single call is 1,440": a range of
	// 1,440 periods is accepted, one more second makes a 1,441st (partial) period.
	in := GetMetricStatisticsInput{Namespace: "Test", MetricName: "M", StartTime: t0, EndTime: t0.Add(1440 * time.Minute), Period: 60, Statistics: []string{"Sum"}}
	e.clk.Add(1440 * time.Minute)
	if _, dps, err := e.cw.GetMetricStatistics(e.ctx, in); err != nil || len(dps) != 1 {
		t.Fatalf("%+v %v", dps, err)
	}
	in.EndTime = in.EndTime.Add(time.Second)
	_, _, err = e.cw.GetMetricStatistics(e.ctx, in)
	wantCode(t, err, "InvalidParameterCombination")
	if !strings.Contains(err.Error(), "You have requested up to 1,441 datapoints, which exceeds the limit of 1,440.") {
		t.Fatalf("message: %v", err)
	}
	e.fails("InvalidParameterCombination", http.StatusBadRequest, "GetMetricStatistics", "Namespace", "Test", "MetricName", "M",
		"StartTime", t0.Format(time.RFC3339), "EndTime", t0.Add(time.Hour).Format(time.RFC3339), "Period", "1", "Statistics.member.1", "Sum")
}

// Request members of botocore's model that Coffer does not implement are refused, or
// honoured as a single-account Coffer must: never silently ignored.
func TestConformanceMembersNotIgnored(t *testing.T) {
	e := newEnv(t)
	e.put(t0, 1)
	// PromQL alarms: the alarm would not be the one asked for.
	for _, p := range [][]string{{"EvaluationInterval", "60"}, {"EvaluationCriteria.PromQLCriteria.Query", "up == 0"}} {
		e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricAlarm", append([]string{"AlarmName", "promql", "MetricName", "M", "Namespace", "Test",
			"Statistic", "Sum", "Period", "60", "EvaluationPeriods", "1", "Threshold", "1", "ComparisonOperator", "GreaterThanThreshold"}, p...)...)
	}
	if l, _, _ := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{}); len(l) != 0 {
		t.Fatalf("an alarm was created: %+v", l)
	}

	// ListMetrics IncludeLinkedAccounts: OwningAccounts, one per metric; OwningAccount
	// filters (another account has no metrics here).
	_, x := e.ok("ListMetrics", "IncludeLinkedAccounts", "true")
	contains(t, x, "<Metrics><member><Namespace>Test</Namespace><MetricName>M</MetricName>", "<OwningAccounts><member>111122223333</member></OwningAccounts>")
	_, x = e.ok("ListMetrics")
	if strings.Contains(x, "OwningAccounts") {
		t.Fatalf("OwningAccounts without IncludeLinkedAccounts: %s", x)
	}
	_, x = e.ok("ListMetrics", "IncludeLinkedAccounts", "true", "OwningAccount", "111122223333")
	contains(t, x, "<MetricName>M</MetricName>")
	_, x = e.ok("ListMetrics", "IncludeLinkedAccounts", "true", "OwningAccount", "999999999999")
	if strings.Contains(x, "<MetricName>") {
		t.Fatalf("metrics of another account: %s", x)
	}
	e.fails("InvalidParameterValue", http.StatusBadRequest, "ListMetrics", "IncludeLinkedAccounts", "maybe")

	// GetMetricData: a query of another account is refused (not answered with this
	// account's data).
	q := []string{"MetricDataQueries.member.1.Id", "m", "MetricDataQueries.member.1.MetricStat.Metric.Namespace", "Test",
		"MetricDataQueries.member.1.MetricStat.Metric.MetricName", "M", "MetricDataQueries.member.1.MetricStat.Period", "60",
		"MetricDataQueries.member.1.MetricStat.Stat", "Sum", "StartTime", t0.Format(time.RFC3339), "EndTime", t0.Add(time.Hour).Format(time.RFC3339)}
	_, x = e.ok("GetMetricData", append(q, "MetricDataQueries.member.1.AccountId", "111122223333")...)
	contains(t, x, "<Values><member>1</member></Values>")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "GetMetricData", append(q, "MetricDataQueries.member.1.AccountId", "999999999999")...)
	// A MetricStat's Unit is one of the model's units (not a filter that matches nothing).
	e.fails("InvalidParameterValue", http.StatusBadRequest, "GetMetricData", append(q, "MetricDataQueries.member.1.MetricStat.Unit", "Parsecs")...)
	_, x = e.ok("GetMetricData", append(q, "MetricDataQueries.member.1.MetricStat.Unit", "None")...)
	contains(t, x, "<Values><member>1</member></Values>")
	// LabelOptions.Timezone is checked (it changes nothing: dynamic labels are not expanded).
	_, x = e.ok("GetMetricData", append(q, "LabelOptions.Timezone", "-0130")...)
	contains(t, x, "<Values><member>1</member></Values>")
	for _, tz := range []string{"", "0130", "+130", "+2460", "UTC"} {
		e.fails("InvalidParameterValue", http.StatusBadRequest, "GetMetricData", append(q, "LabelOptions.Timezone", tz)...)
	}

	// DescribeAlarmHistory: the contributor item types and AlarmContributorId are
	// accepted; Coffer's alarms have no contributors, so there is no such history.
	e.alarm(PutMetricAlarmInput{AlarmName: "h"})
	_, x = e.ok("DescribeAlarmHistory", "AlarmName", "h")
	contains(t, x, "<HistoryItemType>ConfigurationUpdate</HistoryItemType>")
	for _, p := range [][]string{{"HistoryItemType", "AlarmContributorStateUpdate"}, {"HistoryItemType", "AlarmContributorAction"}, {"AlarmContributorId", "abc"}} {
		if _, x = e.ok("DescribeAlarmHistory", append([]string{"AlarmName", "h"}, p...)...); strings.Contains(x, "<member>") {
			t.Fatalf("%v: %s", p, x)
		}
	}
	e.fails("InvalidParameterValue", http.StatusBadRequest, "DescribeAlarmHistory", "AlarmContributorId", strings.Repeat("x", 17))
	e.fails("InvalidParameterValue", http.StatusBadRequest, "DescribeAlarmHistory", "HistoryItemType", "Deleted")

	// PutMetricData EntityMetricData: the entity's metric data are stored.
	e.ok("PutMetricData", "Namespace", "Ent", "StrictEntityValidation", "true",
		"EntityMetricData.member.1.Entity.KeyAttributes.entry.1.key", "Type", "EntityMetricData.member.1.Entity.KeyAttributes.entry.1.value", "Service",
		"EntityMetricData.member.1.MetricData.member.1.MetricName", "Lat", "EntityMetricData.member.1.MetricData.member.1.Value", "4",
		"EntityMetricData.member.1.MetricData.member.1.Timestamp", t0.Format(time.RFC3339),
		"EntityMetricData.member.1.MetricData.member.2.MetricName", "Lat", "EntityMetricData.member.1.MetricData.member.2.Value", "6",
		"EntityMetricData.member.1.MetricData.member.2.Timestamp", t0.Format(time.RFC3339),
		"MetricData.member.1.MetricName", "Lat", "MetricData.member.1.Value", "5", "MetricData.member.1.Timestamp", t0.Format(time.RFC3339))
	_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "Ent", MetricName: "Lat", StartTime: t0, EndTime: t0.Add(time.Minute),
		Period: 60, Statistics: []string{"Sum", "SampleCount"}})
	if err != nil || len(dps) != 1 || *dps[0].Sum != 15 || *dps[0].SampleCount != 3 {
		t.Fatalf("%+v %v", dps, err)
	}
	// An invalid datum of an entity is refused like any other, and nothing is stored.
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricData", "Namespace", "Ent",
		"MetricData.member.1.MetricName", "Other", "MetricData.member.1.Value", "5",
		"EntityMetricData.member.1.MetricData.member.1.MetricName", "Lat", "EntityMetricData.member.1.MetricData.member.1.Value", "1",
		"EntityMetricData.member.1.MetricData.member.1.Unit", "Parsecs")
	if ms, _, _ := e.cw.ListMetrics(e.ctx, ListMetricsInput{Namespace: "Ent", MetricName: "Other"}); len(ms) != 0 {
		t.Fatalf("stored: %+v", ms)
	}
}

// "CloudWatch retains the history of an alarm even if you delete the alarm."
func TestConformanceHistoryOfDeletedAlarms(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmName: "gone"})
	e.alarm(PutMetricAlarmInput{AlarmName: "kept"})
	e.clk.Add(time.Minute)
	if err := e.cw.SetAlarmState(e.ctx, "gone", StateAlarm, "test", ""); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
	if err := e.cw.DeleteAlarms(e.ctx, []string{"gone"}); err != nil {
		t.Fatal(err)
	}
	summaries := func(name string) []string {
		t.Helper()
		items, _, err := e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{AlarmName: name})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range items {
			out = append(out, h.HistoryItemType+": "+h.HistorySummary)
		}
		return out
	}
	want := []string{`ConfigurationUpdate: Alarm "gone" deleted`, "Action: Successfully executed action " + topic,
		"StateUpdate: Alarm updated from INSUFFICIENT_DATA to ALARM", `ConfigurationUpdate: Alarm "gone" created`}
	if got := summaries("gone"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("history %q, want %q", got, want)
	}
	items, _, _ := e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{AlarmName: "gone", MaxRecords: 1})
	if h := items[0]; !h.Timestamp.Equal(t0.Add(2*time.Minute)) || h.AlarmType != "MetricAlarm" || !strings.Contains(h.HistoryData, `"type":"Delete"`) {
		t.Fatalf("%+v", h)
	}
	// Replicated: replayed from the log after a restart; a new alarm of the same name
	// continues the history.
	e.restart()
	if got := summaries("gone"); len(got) != 4 {
		t.Fatalf("after restart: %q", got)
	}
	e.alarm(PutMetricAlarmInput{AlarmName: "gone"})
	if got := summaries("gone"); len(got) != 5 || got[0] != `ConfigurationUpdate: Alarm "gone" created` {
		t.Fatalf("recreated: %q", got)
	}
	// The history of a deleted alarm is dropped 30 days after its last item (at the next
	// deletion); that of an alarm that exists stays.
	if err := e.cw.DeleteAlarms(e.ctx, []string{"gone"}); err != nil {
		t.Fatal(err)
	}
	e.alarm(PutMetricAlarmInput{AlarmName: "other"})
	e.clk.Add(31 * 24 * time.Hour)
	if err := e.cw.DeleteAlarms(e.ctx, []string{"other"}); err != nil {
		t.Fatal(err)
	}
	if got := summaries("gone"); len(got) != 0 {
		t.Fatalf("after 30 days: %q", got)
	}
	if got := summaries("other"); len(got) != 2 {
		t.Fatalf("other: %q", got)
	}
	if got := summaries("kept"); len(got) != 1 {
		t.Fatalf("kept: %q", got)
	}
	// A delete entry of an earlier version (no keep_history) deletes the history, as it
	// did when it was committed.
	if _, err := e.cw.Apply(5000, state.Command{Type: cmdDeleteExisting, Version: 1, Time: t0, Body: []byte(`{"names":["kept"]}`)}); err != nil {
		t.Fatal(err)
	}
	if got := summaries("kept"); len(got) != 0 {
		t.Fatalf("old entry: %q", got)
	}
}

// At most maxDeletedHistories deleted alarms keep their history: those deleted last.
func TestConformanceDeletedHistoriesBounded(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < maxDeletedHistories+2; i++ {
		name := fmt.Sprintf("a%04d", i)
		body, _ := json.Marshal(putAlarmCmd{Alarm: &alarmRec{AlarmName: name, StateValue: StateOK},
			History: HistoryItem{AlarmName: name, Timestamp: t0, HistoryItemType: "ConfigurationUpdate"}})
		if _, err := e.cw.Apply(uint64(10+2*i), state.Command{Type: cmdPutAlarm, Version: 1, Body: body}); err != nil {
			t.Fatal(err)
		}
		body, _ = json.Marshal(deleteAlarmsCmd{Names: []string{name}, KeepHistory: true, Time: t0.Add(time.Duration(i) * time.Second)})
		if _, err := e.cw.Apply(uint64(11+2*i), state.Command{Type: cmdDeleteExisting, Version: 1, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	e.cw.mu.RLock()
	n, first, last := len(e.cw.history), e.cw.history[akey("us-east-1", "a0001")], e.cw.history[akey("us-east-1", "a0002")]
	e.cw.mu.RUnlock()
	if n != maxDeletedHistories || first != nil || len(last) != 2 {
		t.Fatalf("%d histories, a0001 %v, a0002 %v", n, first, last)
	}
}

// StorageResolution: a standard-resolution datapoint (60, the default) has one-minute
// resolution, a high-resolution one (1) keeps its second; "Data points with a period of
// less than 60 seconds are available for 3 hours".
func TestConformanceStorageResolution(t *testing.T) {
	e := newEnv(t)
	e.clk.Add(5 * time.Hour)
	now := e.clk.Now()
	for _, sec := range []int{10, 40} {
		for _, x := range []struct {
			name string
			res  int
			at   time.Time
		}{{"Std", 0, now.Add(-time.Hour)}, {"Std60", 60, now.Add(-time.Hour)}, {"Hi", 1, now.Add(-time.Hour)}, {"HiOld", 1, now.Add(-4 * time.Hour)}} {
			if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: x.name, Timestamp: x.at.Add(time.Duration(sec) * time.Second), Value: f(1),
				StorageResolution: x.res}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	get := func(name string, from time.Time, period int) map[time.Duration]float64 {
		t.Helper()
		_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: name, StartTime: from, EndTime: from.Add(time.Minute),
			Period: period, Statistics: []string{"SampleCount"}})
		if err != nil {
			t.Fatal(err)
		}
		out := map[time.Duration]float64{}
		for _, d := range dps {
			out[d.Timestamp.Sub(from)] = *d.SampleCount
		}
		return out
	}
	check := func(name string, from time.Time, period int, want map[time.Duration]float64) {
		t.Helper()
		if got := get(name, from, period); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s period %d: %v, want %v", name, period, got, want)
		}
	}
	hour := now.Add(-time.Hour)
	check("Std", hour, 10, map[time.Duration]float64{0: 2})
	check("Std60", hour, 10, map[time.Duration]float64{0: 2})
	check("Hi", hour, 10, map[time.Duration]float64{10 * time.Second: 1, 40 * time.Second: 1})
	check("Hi", hour, 60, map[time.Duration]float64{0: 2})
	old := now.Add(-4 * time.Hour)
	check("HiOld", old, 60, map[time.Duration]float64{0: 2})
	check("HiOld", old, 10, map[time.Duration]float64{})
	// GetMetricData alike.
	res, _, err := e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: old, EndTime: hour.Add(time.Minute), Queries: []MetricDataQuery{
		{ID: "old", MetricStat: &MetricStat{Metric: Metric{Namespace: "T", MetricName: "HiOld"}, Period: 10, Stat: "SampleCount"}},
		{ID: "recent", MetricStat: &MetricStat{Metric: Metric{Namespace: "T", MetricName: "Hi"}, Period: 10, Stat: "SampleCount"}},
		{ID: "std", MetricStat: &MetricStat{Metric: Metric{Namespace: "T", MetricName: "Std"}, Period: 10, Stat: "SampleCount"}}}})
	if err != nil || len(res) != 3 || len(res[0].Values) != 0 || len(res[1].Values) != 2 || len(res[2].Values) != 1 || !res[2].Timestamps[0].Equal(hour) {
		t.Fatalf("%+v %v", res, err)
	}
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricData", "Namespace", "T", "MetricData.member.1.MetricName", "X",
		"MetricData.member.1.Value", "1", "MetricData.member.1.StorageResolution", "10")
}

// PutMetricAlarm's conditionally required members, with AWS's answers
// ("ValidationError: MetricName must not be null", "Period must not be null", "MetricName
// must not contain Non-ASCII characters.").
func TestConformancePutMetricAlarmRequired(t *testing.T) {
	e := newEnv(t)
	base := map[string]string{"AlarmName": "a", "MetricName": "M", "Namespace": "Test", "Statistic": "Sum", "Period": "60",
		"EvaluationPeriods": "1", "Threshold": "1", "ComparisonOperator": "GreaterThanThreshold"}
	params := func(change ...string) []string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(change); i += 2 {
			if change[i+1] == "" {
				delete(m, change[i])
			} else {
				m[change[i]] = change[i+1]
			}
		}
		var out []string
		for k, v := range m {
			out = append(out, k, v)
		}
		return out
	}
	for _, c := range []struct {
		change  []string
		code    string
		message string
	}{
		{[]string{"MetricName", ""}, "ValidationError", "MetricName must not be null"},
		{[]string{"Period", ""}, "ValidationError", "Period must not be null"},
		{[]string{"MetricName", "Latenz\u00e9"}, "ValidationError", "MetricName must not contain Non-ASCII characters."},
		{[]string{"MetricName", strings.Repeat("m", 256)}, "InvalidParameterValue", "MetricName"},
		{[]string{"Period", "45"}, "InvalidParameterValue", "Period"},
		{[]string{"EvaluationPeriods", "0"}, "InvalidParameterValue", "EvaluationPeriods"},
		{[]string{"EvaluationPeriods", "2", "DatapointsToAlarm", "3"}, "InvalidParameterValue", "DatapointsToAlarm"},
		{[]string{"AlarmName", strings.Repeat("a", 256)}, "InvalidParameterValue", "AlarmName"},
	} {
		_, _, err := e.call("PutMetricAlarm", params(c.change...)...)
		ae := MapError(err)
		if err == nil || ae.Code != c.code || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Message, c.message) {
			t.Errorf("%v: %v, want %s %q", c.change, err, c.code, c.message)
		}
	}
	e.ok("PutMetricAlarm", params("AlarmName", strings.Repeat("a", 255), "Period", "20")...)
}

type failNotifier struct{}

func (failNotifier) Notify(ctx context.Context, topic string, n AlarmNotification) error {
	return errors.New("NotFound: Topic does not exist")
}

// Every action an alarm executes is an Action history item ("Successfully executed
// action arn:...", or "Failed to execute action arn:.... Received error: "...""):
// HistoryItemType Action selects them. The SetAlarmState operation succeeds when an
// action fails, as AWS's does (the Go method reports it).
func TestConformanceActionHistory(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmName: "a", OKActions: []string{topic}})
	if err := e.cw.SetAlarmState(e.ctx, "a", StateAlarm, "test", ""); err != nil {
		t.Fatal(err)
	}
	e.cw.SetNotifier(failNotifier{})
	e.clk.Add(time.Minute)
	if err := e.cw.SetAlarmState(e.ctx, "a", StateOK, "test", ""); err == nil {
		t.Fatal("a failed action is not reported")
	}
	e.ok("SetAlarmState", "AlarmName", "a", "StateValue", "ALARM", "StateReason", "api")
	e.clk.Add(time.Minute)
	e.ok("SetAlarmState", "AlarmName", "a", "StateValue", "OK", "StateReason", "api")
	_, x := e.ok("DescribeAlarmHistory", "AlarmName", "a", "HistoryItemType", "Action", "ScanBy", "TimestampAscending")
	contains(t, x, "<HistoryItemType>Action</HistoryItemType>", "<HistorySummary>Successfully executed action "+topic+"</HistorySummary>",
		"<HistorySummary>Failed to execute action "+topic+". Received error: &#34;NotFound: Topic does not exist&#34;</HistorySummary>",
		"<Timestamp>2026-11-23T12:01:00.000Z</Timestamp>", "<Timestamp>2026-11-23T12:02:00.000Z</Timestamp>", `&#34;actionState&#34;:&#34;Failed&#34;`)
	if n := strings.Count(x, "<member>"); n != 4 { // (e.alarm gives ALARM the topic too)
		t.Fatalf("%d items: %s", n, x)
	}
	// Disabled actions are not executed, and not recorded.
	if err := e.cw.DisableAlarmActions(e.ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := e.cw.SetAlarmState(e.ctx, "a", StateAlarm, "test", ""); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{AlarmName: "a", HistoryItemType: "Action"}); len(h) != 4 {
		t.Fatalf("%+v", h)
	}
}

// Percentile statistics are pN to pN.NNNNNNNNNN between p0 and p100; nothing else
// (pNaN was accepted, and computed nothing meaningful).
func TestConformancePercentileSyntax(t *testing.T) {
	for s, want := range map[string]float64{"p0": 0, "p50": 50, "p99.9": 99.9, "p99.99": 99.99, "p100": 100, "p100.0": 100, "p007": 7, "p99.9999999999": 99.9999999999} {
		if got, ok := parsePercentile(s); !ok || got != want {
			t.Errorf("%s: %v %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "p", "P50", "pNaN", "pInf", "p0x1p4", "p.5", "p50.", "p-1", "p+5", "p1e1", "p100.1", "p101", "p1000",
		"p99.99999999999", " p50", "p50 ", "p 50", "p5_0", "tm90"} {
		if got, ok := parsePercentile(s); ok {
			t.Errorf("%q accepted: %v", s, got)
		}
	}
	e := newEnv(t)
	e.put(t0, 1)
	_, _, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "Test", MetricName: "M", StartTime: t0, EndTime: t0.Add(time.Hour),
		Period: 60, ExtendedStatistics: []string{"pNaN"}})
	wantCode(t, err, "InvalidParameterValue")
	err = e.cw.PutMetricAlarm(e.ctx, PutMetricAlarmInput{AlarmName: "nan", Namespace: "Test", MetricName: "M", ExtendedStatistic: "pNaN", Period: 60,
		EvaluationPeriods: 1, Threshold: f(1), ComparisonOperator: "GreaterThanThreshold"})
	wantCode(t, err, "InvalidParameterValue")
}

func FuzzParsePercentile(f *testing.F) {
	for _, s := range []string{"p0", "p99.9", "p100", "pNaN", "p0x1p4", "p1e1", "p.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := parsePercentile(s)
		if !ok {
			return
		}
		if !(p >= 0 && p <= 100) || strings.ContainsAny(s, "eExXnNiI+- _") {
			t.Fatalf("%q: %v", s, p)
		}
	})
}

// The HistoryData of ConfigurationUpdate items is AWS's: camelCase, AWS's timestamps
// ("2022-11-02T15:55:30.959+0000"), "okactions", numbers as Java writes doubles.
func TestConformanceConfigurationHistoryData(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmName: "cfg", Dimensions: []Dimension{{"Host", "h1"}}, AlarmDescription: "d", Threshold: f(1)})
	if err := e.cw.SetAlarmState(e.ctx, "cfg", StateAlarm, "test", ""); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
	e.alarm(PutMetricAlarmInput{AlarmName: "cfg", Threshold: f(2.5), EvaluationPeriods: 2, DatapointsToAlarm: 1, TreatMissingData: "ignore"})
	if err := e.cw.DeleteAlarms(e.ctx, []string{"cfg"}); err != nil {
		t.Fatal(err)
	}
	items, _, err := e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{AlarmName: "cfg", HistoryItemType: "ConfigurationUpdate", ScanBy: "TimestampAscending"})
	if err != nil || len(items) != 3 {
		t.Fatalf("%+v %v", items, err)
	}
	arn := "arn:aws:cloudwatch:us-east-1:111122223333:alarm:cfg"
	want := []string{
		`{"version":"1.0","type":"Create","createdAlarm":{"alarmName":"cfg","alarmDescription":"d","alarmArn":"` + arn + `",` +
			`"alarmConfigurationUpdatedTimestamp":"2026-11-23T12:00:00.000+0000","namespace":"Test","metricName":"M","statistic":"Sum","period":60,` +
			`"dimensions":[{"name":"Host","value":"h1"}],"threshold":1.0,"comparisonOperator":"GreaterThanOrEqualToThreshold","evaluationPeriods":1,` +
			`"stateValue":"INSUFFICIENT_DATA","stateUpdatedTimestamp":"2026-11-23T12:00:00.000+0000","actionsEnabled":true,` +
			`"alarmActions":["` + topic + `"],"insufficientDataActions":[],"okactions":[]}}`,
		`{"version":"1.0","type":"Update","updatedAlarm":{"alarmName":"cfg","alarmArn":"` + arn + `",` +
			`"alarmConfigurationUpdatedTimestamp":"2026-11-23T12:01:00.000+0000","namespace":"Test","metricName":"M","statistic":"Sum","period":60,` +
			`"dimensions":[],"threshold":2.5,"comparisonOperator":"GreaterThanOrEqualToThreshold","evaluationPeriods":2,"datapointsToAlarm":1,` +
			`"treatMissingData":"ignore","stateValue":"ALARM","stateUpdatedTimestamp":"2026-11-23T12:00:00.000+0000","actionsEnabled":true,` +
			`"alarmActions":["` + topic + `"],"insufficientDataActions":[],"okactions":[]}}`,
		`{"version":"1.0","type":"Delete","deletedAlarm":{"alarmName":"cfg","alarmArn":"` + arn + `",` +
			`"alarmConfigurationUpdatedTimestamp":"2026-11-23T12:01:00.000+0000","namespace":"Test","metricName":"M","statistic":"Sum","period":60,` +
			`"dimensions":[],"threshold":2.5,"comparisonOperator":"GreaterThanOrEqualToThreshold","evaluationPeriods":2,"datapointsToAlarm":1,` +
			`"treatMissingData":"ignore","stateValue":"ALARM","stateUpdatedTimestamp":"2026-11-23T12:00:00.000+0000","actionsEnabled":true,` +
			`"alarmActions":["` + topic + `"],"insufficientDataActions":[],"okactions":[]}}`,
	}
	for i, w := range want {
		if items[i].HistoryData != w {
			t.Errorf("item %d:\n%s\nwant\n%s", i, items[i].HistoryData, w)
		}
	}
	// A composite alarm's: its rule instead of the metric.
	e.alarm(PutMetricAlarmInput{AlarmName: "child"})
	e.composite("parent", "ALARM(child)")
	items, _, _ = e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{AlarmName: "parent", AlarmTypes: []string{"CompositeAlarm"},
		HistoryItemType: "ConfigurationUpdate"})
	if len(items) != 1 || !strings.Contains(items[0].HistoryData, `"alarmRule":"ALARM(child)"`) || strings.Contains(items[0].HistoryData, "threshold") {
		t.Fatalf("%+v", items)
	}
	for _, c := range []struct {
		v    float64
		want string
	}{{1, "1.0"}, {-3, "-3.0"}, {0.25, "0.25"}, {1e10, "1e+10"}, {0, "0.0"}} {
		if b, _ := javaDouble(c.v).MarshalJSON(); string(b) != c.want {
			t.Errorf("%v: %s", c.v, b)
		}
	}
}

// "ListMetrics doesn't return information about metrics if those metrics haven't reported
// data in the past two weeks": a metric whose last datapoint is older is not listed,
// though its datapoints are still kept (15 days) and read.
func TestConformanceListMetricsTwoWeeks(t *testing.T) {
	e := newEnv(t)
	e.put(t0.Add(-13*24*time.Hour), 1)
	if ms, _, _ := e.cw.ListMetrics(e.ctx, ListMetricsInput{}); len(ms) != 1 {
		t.Fatalf("%+v", ms)
	}
	e.clk.Add(36 * time.Hour) // the datapoint is 14.5 days old
	if ms, _, _ := e.cw.ListMetrics(e.ctx, ListMetricsInput{}); len(ms) != 0 {
		t.Fatalf("listed: %+v", ms)
	}
	_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "Test", MetricName: "M", StartTime: t0.Add(-14 * 24 * time.Hour),
		EndTime: t0, Period: 86400, Statistics: []string{"Sum"}})
	if err != nil || len(dps) != 1 {
		t.Fatalf("%+v %v", dps, err)
	}
}

// historyService is a Service whose history has the items of times (seconds after t0)
// of alarm "h", applied directly (no state store).
func historyService(t testing.TB, secs ...int) *Service {
	s := New(Config{})
	for i, sec := range secs {
		body, _ := json.Marshal(addHistoryCmd{Items: []HistoryItem{{AlarmName: "h", AlarmType: "MetricAlarm", Timestamp: t0.Add(time.Duration(sec) * time.Second),
			HistoryItemType: "StateUpdate", HistorySummary: fmt.Sprint(i)}}})
		if _, err := s.Apply(uint64(i+1), state.Command{Type: cmdAddHistory, Version: 1, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// DescribeAlarmHistory's NextToken is a cursor: items recorded between two pages (the
// newest come first) neither repeat nor hide items of the next page, and items of the
// same time are split across pages exactly.
func TestConformanceHistoryPagesStable(t *testing.T) {
	for _, scan := range []string{"TimestampDescending", "TimestampAscending"} {
		s := historyService(t, 1, 2, 2, 2, 3, 4, 5, 5, 6)
		var got []string
		next, n := "", 9
		for page := 0; ; page++ {
			items, tok, err := s.DescribeAlarmHistory(context.Background(), DescribeAlarmHistoryInput{MaxRecords: 2, ScanBy: scan, NextToken: next})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range items {
				got = append(got, h.HistorySummary)
			}
			if tok == "" {
				break
			}
			next = tok
			// A new item, the newest, between two pages.
			n++
			body, _ := json.Marshal(addHistoryCmd{Items: []HistoryItem{{AlarmName: "h", AlarmType: "MetricAlarm", Timestamp: t0.Add(time.Duration(100+page) * time.Second),
				HistoryItemType: "StateUpdate", HistorySummary: fmt.Sprint("new", page)}}})
			if _, err := s.Apply(uint64(100+page), state.Command{Type: cmdAddHistory, Version: 1, Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		// Descending: every item once, none of the new ones (newer than the first page).
		// Ascending: every item once, then the new ones as they come.
		want := "8 7 6 5 4 3 2 1 0"
		if scan == "TimestampAscending" {
			want = "0 1 2 3 4 5 6 7 8 new0 new1 new2 new3 new4 new5 new6"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: %q, want %q", scan, strings.Join(got, " "), want)
		}
	}
	// Tokens that are not the service's are InvalidNextToken.
	s := historyService(t, 1, 2, 3)
	for _, tok := range []string{"!", encodeToken("h:1:0"), encodeToken("h:x:1"), encodeToken("h:1:1:1"), encodeToken("-1"), encodeToken("01"), encodeToken("x")} {
		_, _, err := s.DescribeAlarmHistory(context.Background(), DescribeAlarmHistoryInput{NextToken: tok})
		wantCode(t, err, "InvalidNextToken")
	}
	// An offset (the tokens of earlier versions) still pages.
	if items, _, err := s.DescribeAlarmHistory(context.Background(), DescribeAlarmHistoryInput{NextToken: encodeToken("2")}); err != nil || len(items) != 1 || items[0].HistorySummary != "0" {
		t.Fatalf("%+v %v", items, err)
	}
}

func FuzzHistoryNextToken(f *testing.F) {
	s := historyService(f, 1, 2, 2, 3)
	for _, tok := range []string{"h:1795435202000000000:1", "h:1795435202000000000:2", "3", "h:0:1", "h:-5:9"} {
		f.Add(encodeToken(tok), 2)
	}
	f.Fuzz(func(t *testing.T, tok string, max int) {
		if max < 1 || max > 100 {
			max = 2
		}
		items, _, err := s.DescribeAlarmHistory(context.Background(), DescribeAlarmHistoryInput{NextToken: tok, MaxRecords: max})
		if err != nil {
			wantCode(t, err, "InvalidNextToken")
			return
		}
		if len(items) > max {
			t.Fatalf("%d items", len(items))
		}
	})
}
