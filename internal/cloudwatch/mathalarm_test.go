package cloudwatch

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

func bp(b bool) *bool { return &b }

// userLogins is the MetricStat query of AWS/CloudHSM FailedLoginCount of one user.
func userLogins(id, user string) MetricDataQuery {
	return MetricDataQuery{ID: id, ReturnData: bp(false), MetricStat: &MetricStat{Metric: Metric{Namespace: "AWS/CloudHSM",
		MetricName: "FailedLoginCount", Dimensions: []Dimension{{"UserName", user}}}, Period: 60, Stat: "Sum"}}
}

// mathAlarm is an alarm on SUM(METRICS()) of the failed logins of alice and bob.
func mathAlarm() PutMetricAlarmInput {
	return PutMetricAlarmInput{AlarmName: "logins", EvaluationPeriods: 1, Threshold: f(2), ComparisonOperator: "GreaterThanOrEqualToThreshold",
		TreatMissingData: "notBreaching", AlarmActions: []string{topic},
		Metrics: []MetricDataQuery{userLogins("m_alice", "alice"), userLogins("m_bob", "bob"),
			{ID: "e1", Expression: "SUM(METRICS())", Label: "all users", ReturnData: bp(true)}}}
}

func (e *env) putMath(in PutMetricAlarmInput) {
	e.t.Helper()
	if err := e.cw.PutMetricAlarm(e.ctx, in); err != nil {
		e.t.Fatalf("PutMetricAlarm: %v", err)
	}
}

func TestMathAlarmValidation(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		mod  func(*PutMetricAlarmInput)
		code string
		msg  string
	}{
		{func(in *PutMetricAlarmInput) { in.MetricName = "M" }, "ValidationError", "MetricName should not be set if list of Metrics is set."},
		{func(in *PutMetricAlarmInput) { in.Namespace = "N" }, "ValidationError", "Namespace should not be set if list of Metrics is set."},
		{func(in *PutMetricAlarmInput) { in.Statistic = "Sum" }, "ValidationError", "Statistic should not be set if list of Metrics is set."},
		{func(in *PutMetricAlarmInput) { in.ExtendedStatistic = "p99" }, "ValidationError", "ExtendedStatistic should not be set"},
		{func(in *PutMetricAlarmInput) { in.Period = 60 }, "ValidationError", "Period should not be set if list of Metrics is set."},
		{func(in *PutMetricAlarmInput) { in.Unit = "Count" }, "ValidationError", "Unit should not be set"},
		{func(in *PutMetricAlarmInput) { in.Dimensions = []Dimension{{"a", "b"}} }, "ValidationError", "Dimensions should not be set"},
		{func(in *PutMetricAlarmInput) { in.Metrics[0].ReturnData = nil }, "ValidationError", "Exactly one element of the metrics list should return data."},
		{func(in *PutMetricAlarmInput) { in.Metrics[2].ReturnData = bp(false) }, "ValidationError", "Exactly one element of the metrics list should return data."},
		{func(in *PutMetricAlarmInput) { in.Metrics[2].MetricStat = in.Metrics[0].MetricStat }, "ValidationError",
			"The parameters MetricDataQuery Expression and MetricStat are mutually exclusive and you have specified both."},
		{func(in *PutMetricAlarmInput) { in.Metrics[2].Expression = "" }, "ValidationError", "Invalid metrics list"},
		{func(in *PutMetricAlarmInput) { in.Metrics[2].Expression = "METRICS() * 2" }, "ValidationError",
			"Metrics expression that return multi time series are only allowed for MetricsInsights expression with an ORDER BY clause"},
		{func(in *PutMetricAlarmInput) { in.Metrics[2].Expression = "FOO(m_alice)" }, "ValidationError", "Error in expression 'e1': Function 'FOO' not found"},
		{func(in *PutMetricAlarmInput) { in.Metrics[2].Expression = "m_alice + m_carol" }, "ValidationError", "Unrecognized metric or expression Id 'm_carol'"},
		{func(in *PutMetricAlarmInput) { in.Metrics[2].Expression = "SUM(m_alice)" }, "ValidationError", "not a number"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].MetricStat.Period = 300 }, "ValidationError", "must all have the same Period"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].MetricStat.Period = 45 }, "InvalidParameterValue", "Metrics.member.2.MetricStat.Period must be 10, 20, 30"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].MetricStat.Stat = "Median" }, "InvalidParameterValue", "not a valid statistic"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].MetricStat.Stat = "" }, "MissingParameter", "Metrics.member.2.MetricStat.Stat"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].MetricStat.Unit = "Parsecs" }, "InvalidParameterValue", "not a valid unit"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].MetricStat.Metric.MetricName = "" }, "MissingParameter", "MetricStat.Metric.MetricName"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].MetricStat.Metric.Namespace = "" }, "MissingParameter", "Namespace"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].ID = "m_alice" }, "InvalidParameterValue", "is duplicated"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].ID = "Bob" }, "InvalidParameterValue", "Metrics.member.2.Id is invalid"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].ID = "" }, "MissingParameter", "Metrics.member.2.Id"},
		{func(in *PutMetricAlarmInput) { in.Metrics[1].AccountID = "999999999999" }, "InvalidParameterValue", "cross-account"},
		{func(in *PutMetricAlarmInput) { in.ThresholdMetricID = "e1" }, "InvalidParameterValue", "Anomaly detection alarms (ThresholdMetricId) are not supported."},
		{func(in *PutMetricAlarmInput) { in.EvaluationPeriods = 1441 }, "InvalidParameterValue", "must not exceed 1 day"},
		{func(in *PutMetricAlarmInput) {
			in.Metrics = []MetricDataQuery{{ID: "e1", Expression: "METRICS()"}}
		}, "ValidationError", "at least one MetricStat"},
		{func(in *PutMetricAlarmInput) {
			for i := range 20 {
				in.Metrics = append(in.Metrics, userLogins(fmt.Sprintf("x%d", i), "u"))
			}
		}, "InvalidParameterValue", "The collection Metrics must not have a size greater than 20."},
		{func(in *PutMetricAlarmInput) {
			for i := range 9 {
				in.Metrics = append(in.Metrics, userLogins(fmt.Sprintf("x%d", i), "u"))
			}
		}, "ValidationError", "at most 10 MetricStat queries"},
		{func(in *PutMetricAlarmInput) {
			for i := range 10 {
				in.Metrics = append(in.Metrics, MetricDataQuery{ID: fmt.Sprintf("x%d", i), Expression: "m_bob", ReturnData: bp(false)})
			}
		}, "ValidationError", "at most 10 expressions"},
	} {
		in := mathAlarm()
		in.Metrics = clone(in.Metrics)
		for i, q := range in.Metrics {
			if q.MetricStat != nil {
				ms := *q.MetricStat
				in.Metrics[i].MetricStat = &ms
			}
		}
		c.mod(&in)
		err := e.cw.PutMetricAlarm(e.ctx, in)
		ce, ok := err.(*Error)
		if !ok || ce.Code != c.code || !strings.Contains(ce.Message, c.msg) {
			t.Errorf("%s %q: got %v", c.code, c.msg, err)
		}
	}
	if l, _, _ := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{}); len(l) != 0 {
		t.Fatalf("an invalid alarm was created: %+v", l)
	}
	// An alarm on one MetricStat query that returns data is an alarm on metric math too
	// (as AWS allows), with the largest bounds.
	in := mathAlarm()
	in.AlarmName, in.EvaluationPeriods = "one", 1440
	in.Metrics = []MetricDataQuery{userLogins("m1", "alice")}
	in.Metrics[0].ReturnData = nil
	if err := e.cw.PutMetricAlarm(e.ctx, in); err != nil {
		t.Fatal(err)
	}
}

func TestMathAlarmEvaluatesOnPut(t *testing.T) {
	e := newEnv(t)
	e.putMath(mathAlarm())
	a := e.state("logins")
	want := mathAlarm().Metrics
	want[0].MetricStat.Metric.Dimensions = normDims(want[0].MetricStat.Metric.Dimensions)
	if a.MetricName != "" || a.Namespace != "" || a.Statistic != "" || a.Period != 0 || !reflect.DeepEqual(a.Metrics, want) {
		t.Fatalf("DescribeAlarms: %+v\nMetrics %+v", a, a.Metrics)
	}
	put := func(user string) {
		t.Helper()
		if err := e.cw.Put("AWS/CloudHSM", "FailedLoginCount", []Dimension{{"UserName", user}}, time.Time{}, 1, "Count"); err != nil {
			t.Fatal(err)
		}
	}
	// One failure: the sum is 1 (OK, not notified). A failure of another user makes it 2:
	// the Put of either metric evaluates the alarm at once.
	put("alice")
	if s := e.state("logins"); s.StateValue != StateOK {
		t.Fatalf("after one failure: %+v", s)
	}
	put("bob")
	n := e.notif.take()
	if len(n) != 1 || n[0].n.NewStateValue != StateAlarm || n[0].topic != topic {
		t.Fatalf("notifications: %+v", n)
	}
	s := e.state("logins")
	if s.StateValue != StateAlarm || !strings.HasPrefix(s.StateReason, "Threshold Crossed: 1 out of the last 1 datapoints [2.0 (23/11/26 12:00:00)] was") &&
		!strings.HasPrefix(s.StateReason, "Threshold Crossed: 1 out of the last 1 datapoints [2.0 (23/11/26 12:00:00)] were") {
		t.Fatalf("state: %+v", s)
	}
	var rd map[string]any
	if err := json.Unmarshal([]byte(s.StateReasonData), &rd); err != nil {
		t.Fatal(err)
	}
	ev := rd["evaluatedDatapoints"].([]any)[0].(map[string]any)
	if _, ok := rd["statistic"]; ok || rd["period"] != 60.0 || ev["value"] != 2.0 || ev["sampleCount"] != nil {
		t.Fatalf("StateReasonData: %s", s.StateReasonData)
	}
	// The notification's Trigger has the queries, not a metric.
	b, err := json.Marshal(n[0].n)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	tr := m["Trigger"].(map[string]any)
	if _, ok := tr["MetricName"]; ok || tr["Period"] != 60.0 || tr["Threshold"] != 2.0 {
		t.Fatalf("trigger: %s", b)
	}
	var got struct {
		Trigger struct {
			Metrics []struct {
				Expression, ID, Label string
				ReturnData            bool
				MetricStat            *struct {
					Metric struct {
						Dimensions            []struct{ Name, Value string }
						MetricName, Namespace string
					}
					Period int
					Stat   string
				}
			}
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	ms := got.Trigger.Metrics
	if len(ms) != 3 || ms[0].ID != "m_alice" || ms[0].ReturnData || ms[0].MetricStat == nil || ms[0].MetricStat.Metric.MetricName != "FailedLoginCount" ||
		ms[0].MetricStat.Metric.Dimensions[0].Value != "alice" || ms[0].MetricStat.Stat != "Sum" ||
		ms[2].ID != "e1" || ms[2].Expression != "SUM(METRICS())" || ms[2].Label != "all users" || !ms[2].ReturnData || ms[2].MetricStat != nil {
		t.Fatalf("trigger metrics: %s", b)
	}
	// A metric of neither query does not evaluate it; the next minute is OK again.
	e.clk.Add(time.Minute)
	if err := e.cw.Put("AWS/CloudHSM", "FailedLoginCount", []Dimension{{"UserName", "carol"}}, time.Time{}, 5, "Count"); err != nil {
		t.Fatal(err)
	}
	if s := e.state("logins"); s.StateValue != StateAlarm {
		t.Fatalf("evaluated by another metric: %+v", s)
	}
	e.eval()
	if s := e.state("logins"); s.StateValue != StateOK {
		t.Fatalf("next minute: %+v", s)
	}
}

// An alarm on m1 + m2 with FILL, M out of N, and DIFF, which needs the datapoint before
// the evaluation range.
func TestMathAlarmEvaluation(t *testing.T) {
	e := newEnv(t)
	metric := func(id, name string) MetricDataQuery {
		return MetricDataQuery{ID: id, ReturnData: bp(false), MetricStat: &MetricStat{Metric: Metric{Namespace: "App", MetricName: name}, Period: 60, Stat: "Sum"}}
	}
	put := func(name string, min int, v float64) {
		t.Helper()
		if err := e.cw.PutMetricData(e.ctx, "App", []MetricDatum{{MetricName: name, Timestamp: t0.Add(time.Duration(min) * time.Minute), Value: f(v)}}); err != nil {
			t.Fatal(err)
		}
	}
	e.putMath(PutMetricAlarmInput{AlarmName: "sum", EvaluationPeriods: 3, DatapointsToAlarm: 2, Threshold: f(10), ComparisonOperator: "GreaterThanThreshold",
		Metrics: []MetricDataQuery{metric("m1", "Errors"), metric("m2", "Faults"), {ID: "e1", Expression: "FILL(m1, 0) + FILL(m2, 0)"}}})
	e.putMath(PutMetricAlarmInput{AlarmName: "growth", EvaluationPeriods: 1, Threshold: f(5), ComparisonOperator: "GreaterThanThreshold",
		Metrics: []MetricDataQuery{metric("m1", "Errors"), {ID: "e1", Expression: "DIFF(m1)"}}})
	e.clk.Add(3 * time.Minute) // now 12:03: the periods 12:01, 12:02, 12:03
	put("Errors", 0, 1)
	put("Errors", 1, 8)
	put("Faults", 2, 11)
	put("Errors", 3, 20)
	e.eval()
	// sum: 12:01 = 8, 12:02 = 11, 12:03 = 20: two of three breach. growth: DIFF is over
	// the datapoints (12:02 has none), read from before the evaluation range: 20 - 8 = 12.
	if s := e.state("sum"); s.StateValue != StateAlarm ||
		!strings.Contains(s.StateReason, "2 out of the last 3 datapoints [20.0 (23/11/26 12:03:00), 11.0 (23/11/26 12:02:00), 8.0 (23/11/26 12:01:00)]") {
		t.Fatalf("sum: %+v", s)
	}
	if s := e.state("growth"); s.StateValue != StateAlarm || !strings.Contains(s.StateReason, "[12.0 (23/11/26 12:03:00)]") {
		t.Fatalf("growth: %+v", s)
	}
	// Nothing in the range: FILL makes zeros (OK), DIFF nothing (INSUFFICIENT_DATA).
	e.clk.Add(10 * time.Minute)
	e.eval()
	if s := e.state("sum"); s.StateValue != StateOK || !strings.Contains(s.StateReason, "[0.0 (23/11/26 12:13:00), 0.0 (23/11/26 12:12:00), 0.0 (23/11/26 12:11:00)]") {
		t.Fatalf("sum, later: %+v", s)
	}
	if s := e.state("growth"); s.StateValue != StateInsufficientData {
		t.Fatalf("growth, later: %+v", s)
	}
}

// Alarms on metric math are in the replicated state: they survive a restart (log
// replay) and a snapshot; an alarm put by an earlier version (no metrics field) is
// still an alarm on its metric.
func TestMathAlarmPersists(t *testing.T) {
	e := newEnv(t)
	e.putMath(mathAlarm())
	if err := e.cw.Put("AWS/CloudHSM", "FailedLoginCount", []Dimension{{"UserName", "alice"}}, time.Time{}, 3, "Count"); err != nil {
		t.Fatal(err)
	}
	before := e.state("logins")
	if before.StateValue != StateAlarm {
		t.Fatalf("%+v", before)
	}
	e.restart()
	if after := e.state("logins"); !reflect.DeepEqual(after, before) {
		t.Fatalf("after restart:\n%+v\nbefore:\n%+v", after, before)
	}
	snap, err := e.cw.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := New(Config{AccountID: "111122223333"})
	if err := other.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := other.DescribeAlarms(e.ctx, DescribeAlarmsInput{AlarmNames: []string{"logins"}}); len(l) != 1 || !reflect.DeepEqual(l[0], before) {
		t.Fatalf("after restore: %+v", l)
	}
	// A put command as earlier versions wrote it.
	old := []byte(`{"alarm":{"name":"old","arn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:old","config_updated":"2026-11-23T12:00:00Z",
		"actions_enabled":true,"metric_name":"M","namespace":"Test","statistic":"Sum","period":60,"evaluation_periods":1,"threshold":1,
		"comparison_operator":"GreaterThanThreshold","state":"INSUFFICIENT_DATA","state_reason":"Unchecked: Initial alarm creation",
		"state_updated":"2026-11-23T12:00:00Z","state_transitioned":"2026-11-23T12:00:00Z","state_revision":0},
		"history":{"alarm_name":"old","alarm_type":"MetricAlarm","timestamp":"2026-11-23T12:00:00Z","type":"ConfigurationUpdate","summary":"Alarm \"old\" created","data":"{}"},"keep_tags":true}`)
	if _, err := e.cw.Apply(1000, state.Command{Type: cmdPutAlarm, Version: 1, Time: t0, Body: old}); err != nil {
		t.Fatal(err)
	}
	if a := e.state("old"); a.MetricName != "M" || a.Metrics != nil {
		t.Fatalf("earlier alarm: %+v", a)
	}
	e.put(e.clk.Now(), 2)
	e.eval()
	if a := e.state("old"); a.StateValue != StateAlarm {
		t.Fatalf("earlier alarm not evaluated on its metric: %+v", a)
	}
}

// The query protocol: Metrics.member.N... with nested dimensions in, Metrics out.
func TestOpsMathAlarm(t *testing.T) {
	e := newEnv(t)
	e.ok("PutMetricAlarm", "AlarmName", "logins", "EvaluationPeriods", "1", "Threshold", "2", "ComparisonOperator", "GreaterThanOrEqualToThreshold",
		"Metrics.member.1.Id", "m1", "Metrics.member.1.ReturnData", "false",
		"Metrics.member.1.MetricStat.Metric.Namespace", "AWS/CloudHSM", "Metrics.member.1.MetricStat.Metric.MetricName", "FailedLoginCount",
		"Metrics.member.1.MetricStat.Metric.Dimensions.member.1.Name", "UserName", "Metrics.member.1.MetricStat.Metric.Dimensions.member.1.Value", "alice",
		"Metrics.member.1.MetricStat.Metric.Dimensions.member.2.Name", "ClusterId", "Metrics.member.1.MetricStat.Metric.Dimensions.member.2.Value", "c-1",
		"Metrics.member.1.MetricStat.Period", "60", "Metrics.member.1.MetricStat.Stat", "Sum", "Metrics.member.1.MetricStat.Unit", "Count",
		"Metrics.member.2.Id", "e1", "Metrics.member.2.Expression", "FILL(m1, 0) * 2", "Metrics.member.2.Label", "doubled",
		"Metrics.member.2.ReturnData", "true", "Metrics.member.2.Period", "60")
	res, x := e.ok("DescribeAlarms", "AlarmNames.member.1", "logins")
	contains(t, x, "<Metrics><member><Id>m1</Id><MetricStat><Metric><Namespace>AWS/CloudHSM</Namespace><MetricName>FailedLoginCount</MetricName>"+
		"<Dimensions><member><Name>UserName</Name><Value>alice</Value></member><member><Name>ClusterId</Name><Value>c-1</Value></member></Dimensions>"+
		"</Metric><Period>60</Period><Stat>Sum</Stat><Unit>Count</Unit></MetricStat><ReturnData>false</ReturnData></member>"+
		"<member><Id>e1</Id><Expression>FILL(m1, 0) * 2</Expression><Label>doubled</Label><ReturnData>true</ReturnData><Period>60</Period></member></Metrics>")
	for _, absent := range []string{"<MetricName>FailedLoginCount</MetricName><Statistic>", "<Statistic>", "<Period>60</Period><EvaluationPeriods>"} {
		if strings.Contains(x, absent) {
			t.Errorf("DescribeAlarms has %s: %s", absent, x)
		}
	}
	var back DescribeAlarmsResult
	if err := xml.Unmarshal([]byte(x), &back); err != nil || !reflect.DeepEqual(&back, res) {
		t.Fatalf("round trip %v:\n%+v\n%+v", err, back, res)
	}
	// Errors as AWS gives them.
	e.fails("ValidationError", http.StatusBadRequest, "PutMetricAlarm", "AlarmName", "x", "EvaluationPeriods", "1", "Threshold", "2",
		"ComparisonOperator", "GreaterThanThreshold", "Statistic", "Sum", "Metrics.member.1.Id", "m1",
		"Metrics.member.1.MetricStat.Metric.Namespace", "N", "Metrics.member.1.MetricStat.Metric.MetricName", "M",
		"Metrics.member.1.MetricStat.Period", "60", "Metrics.member.1.MetricStat.Stat", "Sum")
	e.fails("ValidationError", http.StatusBadRequest, "PutMetricAlarm", "AlarmName", "x", "EvaluationPeriods", "1", "Threshold", "2",
		"ComparisonOperator", "GreaterThanThreshold", "Metrics.member.1.Id", "e1", "Metrics.member.1.Expression", "NOPE(1)")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricAlarm", "AlarmName", "x", "EvaluationPeriods", "1", "Threshold", "2",
		"ComparisonOperator", "GreaterThanThreshold", "Metrics.member.1.Id", "m1", "Metrics.member.1.ReturnData", "maybe")
}
