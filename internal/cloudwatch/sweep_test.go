package cloudwatch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

// Regression tests of the CloudWatch compatibility sweep (behaviour AWS documents in
// botocore's cloudwatch 2010-08-01 model).

const alarmARNa = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:a"

func (e *env) tags(arn string) []Tag {
	e.t.Helper()
	tags, err := e.cw.ListTagsForResource(e.ctx, arn)
	if err != nil {
		e.t.Fatalf("ListTagsForResource: %v", err)
	}
	return tags
}

func TestSweepAlarmTags(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{Tags: []Tag{{"team", "ops"}}})
	if got := e.tags(alarmARNa); !reflect.DeepEqual(got, []Tag{{"team", "ops"}}) {
		t.Fatalf("tags after create: %v", got)
	}
	// An update ignores Tags and keeps the alarm's tags (AWS: "If you are using this
	// operation to update an existing alarm, any tags you specify in this parameter are
	// ignored").
	e.alarm(PutMetricAlarmInput{Threshold: f(7), Tags: []Tag{{"other", "x"}}})
	e.alarm(PutMetricAlarmInput{Threshold: f(8)})
	if got := e.tags(alarmARNa); !reflect.DeepEqual(got, []Tag{{"team", "ops"}}) {
		t.Fatalf("tags after updates: %v", got)
	}
	if err := e.cw.TagResource(e.ctx, alarmARNa, []Tag{{"env", "prod"}, {"team", "sec"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.cw.UntagResource(e.ctx, alarmARNa, []string{"env", "absent"}); err != nil {
		t.Fatal(err)
	}
	e.restart() // replicated: replayed from the log
	if got := e.tags(alarmARNa); !reflect.DeepEqual(got, []Tag{{"team", "sec"}}) {
		t.Fatalf("tags after tag, untag and restart: %v", got)
	}
	// Through the query protocol: results as botocore's model has them.
	_, x := e.ok("TagResource", "ResourceARN", alarmARNa, "Tags.member.1.Key", "k", "Tags.member.1.Value", "v")
	contains(t, x, "<TagResourceResult></TagResourceResult>")
	_, x = e.ok("ListTagsForResource", "ResourceARN", alarmARNa)
	contains(t, x, "<Tags><member><Key>team</Key><Value>sec</Value></member><member><Key>k</Key><Value>v</Value></member></Tags>")
	_, x = e.ok("UntagResource", "ResourceARN", alarmARNa, "TagKeys.member.1", "k")
	contains(t, x, "<UntagResourceResult></UntagResourceResult>")

	e.fails("ResourceNotFoundException", http.StatusNotFound, "ListTagsForResource", "ResourceARN", alarmARNa+"x")
	e.fails("ResourceNotFoundException", http.StatusNotFound, "TagResource", "ResourceARN", "arn:aws:cloudwatch:us-east-1:111122223333:alarm:nope",
		"Tags.member.1.Key", "k", "Tags.member.1.Value", "v")
	e.fails("ResourceNotFoundException", http.StatusNotFound, "UntagResource", "ResourceARN", "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:a",
		"TagKeys.member.1", "k")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "ListTagsForResource", "ResourceARN", "not-an-arn")
	e.fails("MissingParameter", http.StatusBadRequest, "ListTagsForResource")
	e.fails("MissingParameter", http.StatusBadRequest, "TagResource", "ResourceARN", alarmARNa)
	e.fails("MissingParameter", http.StatusBadRequest, "UntagResource", "ResourceARN", alarmARNa)
	long := string(make([]byte, 129))
	e.fails("InvalidParameterValue", http.StatusBadRequest, "TagResource", "ResourceARN", alarmARNa, "Tags.member.1.Key", long, "Tags.member.1.Value", "v")
	// At most 50 tags: the 51st is refused and nothing is changed.
	var many []Tag
	for i := range 50 {
		many = append(many, Tag{Key: "k" + string(rune('A'+i)), Value: "v"})
	}
	if err := e.cw.TagResource(e.ctx, alarmARNa, many); err != nil {
		wantCode(t, err, "InvalidParameterValue")
	} else {
		t.Fatal("51 tags accepted")
	}
	if got := e.tags(alarmARNa); !reflect.DeepEqual(got, []Tag{{"team", "sec"}}) {
		t.Fatalf("tags after a refused TagResource: %v", got)
	}
}

func TestSweepDescribeAlarmsForMetric(t *testing.T) {
	e := newEnv(t)
	dims := []Dimension{{"B", "2"}, {"A", "1"}}
	e.alarm(PutMetricAlarmInput{AlarmName: "x1", Dimensions: dims, Statistic: "Average", Period: 60})
	e.alarm(PutMetricAlarmInput{AlarmName: "x2", Dimensions: dims, Statistic: "Sum", Period: 300, Unit: "Count"})
	e.alarm(PutMetricAlarmInput{AlarmName: "x3", Dimensions: dims, ExtendedStatistic: "p99"})
	e.alarm(PutMetricAlarmInput{AlarmName: "other-dims", Dimensions: dims[:1]})
	e.alarm(PutMetricAlarmInput{AlarmName: "other-metric", MetricName: "N", Dimensions: dims})
	names := func(in DescribeAlarmsForMetricInput) []string {
		t.Helper()
		l, err := e.cw.DescribeAlarmsForMetric(e.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range l {
			out = append(out, a.AlarmName)
		}
		return out
	}
	all := DescribeAlarmsForMetricInput{Namespace: "Test", MetricName: "M", Dimensions: []Dimension{{"A", "1"}, {"B", "2"}}}
	if got := names(all); !reflect.DeepEqual(got, []string{"x1", "x2", "x3"}) {
		t.Fatalf("all: %v", got)
	}
	for _, c := range []struct {
		in   func(DescribeAlarmsForMetricInput) DescribeAlarmsForMetricInput
		want []string
	}{
		{func(i DescribeAlarmsForMetricInput) DescribeAlarmsForMetricInput { i.Statistic = "Sum"; return i }, []string{"x2"}},
		{func(i DescribeAlarmsForMetricInput) DescribeAlarmsForMetricInput {
			i.ExtendedStatistic = "p99"
			return i
		}, []string{"x3"}},
		{func(i DescribeAlarmsForMetricInput) DescribeAlarmsForMetricInput { i.Period = 300; return i }, []string{"x2"}},
		{func(i DescribeAlarmsForMetricInput) DescribeAlarmsForMetricInput { i.Unit = "Count"; return i }, []string{"x2"}},
		{func(i DescribeAlarmsForMetricInput) DescribeAlarmsForMetricInput { i.Dimensions = nil; return i }, nil},
	} {
		if got := names(c.in(all)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("got %v, want %v", got, c.want)
		}
	}
	_, x := e.ok("DescribeAlarmsForMetric", "Namespace", "Test", "MetricName", "M", "Dimensions.member.1.Name", "B",
		"Dimensions.member.1.Value", "2", "Dimensions.member.2.Name", "A", "Dimensions.member.2.Value", "1", "Period", "60")
	contains(t, x, "<DescribeAlarmsForMetricResult><MetricAlarms><member><AlarmName>x1</AlarmName>")
	e.fails("MissingParameter", http.StatusBadRequest, "DescribeAlarmsForMetric", "Namespace", "Test")
	e.fails("MissingParameter", http.StatusBadRequest, "DescribeAlarmsForMetric", "MetricName", "M")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "DescribeAlarmsForMetric", "Namespace", "Test", "MetricName", "M", "Statistic", "Avg")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "DescribeAlarmsForMetric", "Namespace", "Test", "MetricName", "M", "Unit", "Furlongs")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "DescribeAlarmsForMetric", "Namespace", "Test", "MetricName", "M", "Period", "0")
}

// Values with Counts (and statistic sets whose samples are equal) count in percentiles
// with their weight; a statistic set of different values makes percentiles unavailable
// for its period instead of silently leaving it out.
func TestSweepPercentilesWithCounts(t *testing.T) {
	e := newEnv(t)
	ts := t0.Add(10 * time.Second)
	if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: "L", Timestamp: ts, Values: []float64{1, 2, 3}, Counts: []float64{1, 1, 2}}}); err != nil {
		t.Fatal(err)
	}
	get := func(name string) []Datapoint {
		t.Helper()
		_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: name, StartTime: t0, EndTime: t0.Add(time.Minute),
			Period: 60, ExtendedStatistics: []string{"p0", "p50", "p75", "p100"}})
		if err != nil || len(dps) != 1 {
			t.Fatalf("%v %v", dps, err)
		}
		// Statistics and ExtendedStatistics are asked for in two calls (not both in one).
		_, max, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: name, StartTime: t0, EndTime: t0.Add(time.Minute),
			Period: 60, Statistics: []string{"Maximum"}})
		if err != nil || len(max) != 1 {
			t.Fatalf("%v %v", max, err)
		}
		dps[0].Maximum = max[0].Maximum
		return dps
	}
	// Samples 1, 2, 3, 3.
	if got, want := get("L")[0].ExtendedStatistics, map[string]float64{"p0": 1, "p50": 2, "p75": 3, "p100": 3}; !reflect.DeepEqual(got, want) {
		t.Fatalf("percentiles %v, want %v", got, want)
	}
	if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{
		{MetricName: "S", Timestamp: ts, Value: f(1)},
		{MetricName: "S", Timestamp: ts, StatisticValues: &StatisticSet{SampleCount: 3, Sum: 30, Minimum: 10, Maximum: 10}},
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := get("S")[0].ExtendedStatistics, map[string]float64{"p0": 1, "p50": 10, "p75": 10, "p100": 10}; !reflect.DeepEqual(got, want) {
		t.Fatalf("percentiles with an equal-valued set %v, want %v", got, want)
	}
	if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{
		{MetricName: "S", Timestamp: ts, StatisticValues: &StatisticSet{SampleCount: 2, Sum: 30, Minimum: 10, Maximum: 20}},
	}); err != nil {
		t.Fatal(err)
	}
	if d := get("S")[0]; d.ExtendedStatistics != nil || *d.Maximum != 20 {
		t.Fatalf("percentiles with a set of unknown samples: %+v", d)
	}
}

func TestSweepGetMetricDataPages(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		for _, m := range []string{"A", "C"} {
			if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: m, Timestamp: t0.Add(time.Duration(i) * time.Minute), Value: f(float64(i))}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	q := func(id, name string) MetricDataQuery {
		return MetricDataQuery{ID: id, MetricStat: &MetricStat{Metric: Metric{Namespace: "T", MetricName: name}, Period: 60, Stat: "Sum"}}
	}
	in := GetMetricDataInput{StartTime: t0, EndTime: t0.Add(time.Hour), ScanBy: "TimestampAscending", MaxDatapoints: 3,
		Queries: []MetricDataQuery{q("a", "A"), q("b", "B"), q("c", "C")}} // B has no datapoints
	type page struct {
		ids    []string
		values [][]float64
		status []string
	}
	var pages []page
	for range 10 {
		res, next, err := e.cw.GetMetricData(e.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var p page
		for _, r := range res {
			p.ids, p.values, p.status = append(p.ids, r.ID), append(p.values, r.Values), append(p.status, r.StatusCode)
		}
		pages = append(pages, p)
		if next == "" {
			break
		}
		in.NextToken = next
	}
	want := []page{
		{[]string{"a"}, [][]float64{{0, 1, 2}}, []string{"PartialData"}},
		{[]string{"a", "b", "c"}, [][]float64{{3, 4}, nil, {0}}, []string{"Complete", "Complete", "PartialData"}},
		{[]string{"c"}, [][]float64{{1, 2, 3}}, []string{"PartialData"}},
		{[]string{"c"}, [][]float64{{4}}, []string{"Complete"}},
	}
	if !reflect.DeepEqual(pages, want) {
		t.Fatalf("pages\n%+v\nwant\n%+v", pages, want)
	}
	in.NextToken = "bm9wZQ" // "nope"
	_, _, err := e.cw.GetMetricData(e.ctx, in)
	wantCode(t, err, "InvalidNextToken")
	// Through the query protocol, NextToken is in the result.
	_, x := e.ok("GetMetricData", "StartTime", t0.Format(time.RFC3339), "EndTime", t0.Add(time.Hour).Format(time.RFC3339), "MaxDatapoints", "2",
		"MetricDataQueries.member.1.Id", "a", "MetricDataQueries.member.1.MetricStat.Metric.Namespace", "T",
		"MetricDataQueries.member.1.MetricStat.Metric.MetricName", "A", "MetricDataQueries.member.1.MetricStat.Period", "60",
		"MetricDataQueries.member.1.MetricStat.Stat", "Sum")
	contains(t, x, "<NextToken>", "<StatusCode>PartialData</StatusCode>")
}

func TestSweepValidation(t *testing.T) {
	e := newEnv(t)
	base := PutMetricAlarmInput{AlarmName: "v", Namespace: "T", MetricName: "M", Statistic: "Sum", Period: 60, EvaluationPeriods: 1,
		ComparisonOperator: "GreaterThanThreshold", Threshold: f(1)}
	for _, c := range []struct {
		name string
		mod  func(*PutMetricAlarmInput)
	}{
		// "For alarms with a period of less than one hour (3,600 seconds), the total
		// evaluation period can't be longer than one day (86,400 seconds)."
		{"1441 periods of 60 s", func(i *PutMetricAlarmInput) { i.EvaluationPeriods = 1441 }},
		{"EvaluateLowSampleCountPercentile", func(i *PutMetricAlarmInput) { i.EvaluateLowSampleCountPercentile = "sometimes" }},
		{"namespace with a leading colon", func(i *PutMetricAlarmInput) { i.Namespace = ":T" }},
	} {
		in := base
		c.mod(&in)
		if err := e.cw.PutMetricAlarm(e.ctx, in); err == nil {
			t.Errorf("%s: accepted", c.name)
		} else {
			wantCode(t, err, "InvalidParameterValue")
		}
	}
	ok := base
	ok.Period, ok.EvaluationPeriods, ok.EvaluateLowSampleCountPercentile = 3600, 48, "ignore"
	if err := e.cw.PutMetricAlarm(e.ctx, ok); err != nil {
		t.Fatal(err)
	}
	if a := e.state("v"); a.EvaluateLowSampleCountPercentile != "ignore" {
		t.Fatalf("EvaluateLowSampleCountPercentile not kept: %+v", a)
	}
	_, x := e.ok("DescribeAlarms", "AlarmNames.member.1", "v")
	contains(t, x, "<EvaluateLowSampleCountPercentile>ignore</EvaluateLowSampleCountPercentile>")

	err := e.cw.PutMetricData(e.ctx, ":T", []MetricDatum{{MetricName: "M", Value: f(1)}})
	wantCode(t, err, "InvalidParameterValue")
	// MetricDataQuery Id: "The first character must be a lowercase letter."
	for _, id := range []string{"A", "1a", "a-b"} {
		_, _, err := e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: t0, EndTime: t0.Add(time.Hour),
			Queries: []MetricDataQuery{{ID: id, MetricStat: &MetricStat{Metric: Metric{Namespace: "T", MetricName: "M"}, Period: 60, Stat: "Sum"}}}})
		wantCode(t, err, "InvalidParameterValue")
	}
}

func TestSweepSetAlarmStateReason(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{})
	// StateReason is required, 0 to 1023 characters: an empty one is a reason.
	e.ok("SetAlarmState", "AlarmName", "a", "StateValue", "ALARM", "StateReason", "")
	if a := e.state("a"); a.StateValue != StateAlarm || a.StateReason != "" {
		t.Fatalf("%+v", a)
	}
	e.fails("MissingParameter", http.StatusBadRequest, "SetAlarmState", "AlarmName", "a", "StateValue", "OK")
	// StateReasonData: at most 4000 characters.
	big := `{"x":"` + strings.Repeat("a", 4000) + `"}`
	e.fails("InvalidParameterValue", http.StatusBadRequest, "SetAlarmState", "AlarmName", "a", "StateValue", "OK", "StateReason", "r", "StateReasonData", big)
	if a := e.state("a"); a.StateValue != StateAlarm {
		t.Fatalf("state changed by a refused SetAlarmState: %+v", a)
	}
}

func TestSweepListMetricsRecentlyActive(t *testing.T) {
	e := newEnv(t)
	for name, age := range map[string]time.Duration{"old": 4 * time.Hour, "new": time.Hour} {
		if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: name, Timestamp: t0.Add(-age), Value: f(1)}}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(params ...string) string {
		t.Helper()
		_, x := e.ok("ListMetrics", append([]string{"Namespace", "T"}, params...)...)
		return x
	}
	if x := list(); !strings.Contains(x, "<MetricName>old</MetricName>") || !strings.Contains(x, "<MetricName>new</MetricName>") {
		t.Fatalf("all: %s", x)
	}
	if x := list("RecentlyActive", "PT3H"); strings.Contains(x, "<MetricName>old</MetricName>") || !strings.Contains(x, "<MetricName>new</MetricName>") {
		t.Fatalf("PT3H: %s", x)
	}
}

func TestSweepGetMetricStatisticsRules(t *testing.T) {
	e := newEnv(t)
	ts := t0.Add(10 * time.Second)
	if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: "Neg", Timestamp: ts, Values: []float64{-1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	// Neither Statistics nor ExtendedStatistics: AWS answers InvalidParameterCombination
	// "At least one of the parameters Statistics and ExtendedStatistics must be specified."
	e.fails("InvalidParameterCombination", http.StatusBadRequest, "GetMetricStatistics", "Namespace", "T", "MetricName", "Neg",
		"StartTime", t0.Format(time.RFC3339), "EndTime", t0.Add(time.Minute).Format(time.RFC3339), "Period", "60")
	// "Percentile statistics are not available for metrics when any of the metric
	// values are negative numbers."
	_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: "Neg", StartTime: t0, EndTime: t0.Add(time.Minute),
		Period: 60, ExtendedStatistics: []string{"p50"}})
	if err != nil || len(dps) != 1 || dps[0].ExtendedStatistics != nil || dps[0].Unit != "None" {
		t.Fatalf("%+v %v", dps, err)
	}
}

// A datapoint published without a unit has the unit None: Unit=None selects it (and an
// alarm with Unit None sees it).
func TestSweepUnitNone(t *testing.T) {
	e := newEnv(t)
	ts := t0.Add(10 * time.Second)
	if err := e.cw.PutMetricData(e.ctx, "Test", []MetricDatum{
		{MetricName: "M", Timestamp: ts, Value: f(5)},
		{MetricName: "M", Timestamp: ts, Value: f(7), Unit: "None"},
		{MetricName: "M", Timestamp: ts, Value: f(100), Unit: "Seconds"},
	}); err != nil {
		t.Fatal(err)
	}
	_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "Test", MetricName: "M", StartTime: t0, EndTime: t0.Add(time.Minute),
		Period: 60, Statistics: []string{"Sum"}, Unit: "None"})
	if err != nil || len(dps) != 1 || *dps[0].Sum != 12 || dps[0].Unit != "None" {
		t.Fatalf("Unit=None: %+v %v", dps, err)
	}
	e.clk.Add(30 * time.Second)
	e.alarm(PutMetricAlarmInput{Unit: "None", Threshold: f(12)})
	e.eval()
	if a := e.state("a"); a.StateValue != StateAlarm {
		t.Fatalf("alarm with Unit None: %s %s", a.StateValue, a.StateReason)
	}
}

func TestSweepAlarmTypes(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{})
	for _, op := range []string{"DescribeAlarms", "DescribeAlarmHistory"} {
		e.fails("InvalidParameterValue", http.StatusBadRequest, op, "AlarmTypes.member.1", "Bogus")
		e.fails("InvalidParameterValue", http.StatusBadRequest, op, "AlarmTypes.member.1", "MetricAlarm", "AlarmTypes.member.2", "metricalarm")
		if _, x := e.ok(op, "AlarmTypes.member.1", "CompositeAlarm"); strings.Contains(x, "<AlarmName>a</AlarmName>") {
			t.Errorf("%s CompositeAlarm: %s", op, x)
		}
		if _, x := e.ok(op, "AlarmTypes.member.1", "CompositeAlarm", "AlarmTypes.member.2", "MetricAlarm"); !strings.Contains(x, "<AlarmName>a</AlarmName>") {
			t.Errorf("%s both types: %s", op, x)
		}
	}
}

// The log entries of earlier versions apply as they did when they were committed: a
// DeleteAlarms of all-or-none, a PutMetricAlarm update that replaces the tags.
func TestSweepEarlierCommandsReplay(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmName: "x", Tags: []Tag{{"k", "v"}}})
	apply := func(typ string, body any) error {
		t.Helper()
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.cw.Apply(1000, state.Command{Type: typ, Version: 1, Time: t0, Body: b})
		return err
	}
	wantCode(t, apply(cmdDeleteAlarms, deleteAlarmsCmd{Names: []string{"x", "nope"}}), "ResourceNotFound")
	if l, _, _ := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{AlarmNames: []string{"x"}}); len(l) != 1 {
		t.Fatal("an earlier all-or-none delete deleted an alarm")
	}
	upd := &alarmRec{AlarmName: "x", Namespace: "Test", MetricName: "M", Statistic: "Sum", Period: 60, EvaluationPeriods: 1,
		ComparisonOperator: "GreaterThanThreshold", Tags: []Tag{{"new", "1"}}}
	if err := apply(cmdPutAlarm, putAlarmCmd{Alarm: upd, History: HistoryItem{AlarmName: "x"}}); err != nil {
		t.Fatal(err)
	}
	if got := e.tags("arn:aws:cloudwatch:us-east-1:111122223333:alarm:x"); !reflect.DeepEqual(got, []Tag{{"new", "1"}}) {
		t.Fatalf("an earlier update's tags: %v", got)
	}
}

// StartTime is rounded down ("12:32:34 is rounded down to 12:32:00"), so the datapoints
// of the first period before StartTime count.
func TestSweepStartTimeRounded(t *testing.T) {
	e := newEnv(t)
	e.clk.Add(time.Hour)
	for _, d := range []time.Duration{10 * time.Second, 40 * time.Second, 70 * time.Second} {
		if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: "M", Timestamp: t0.Add(d), Value: f(1), StorageResolution: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	start := t0.Add(34 * time.Second)
	_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: "M", StartTime: start, EndTime: t0.Add(5 * time.Minute),
		Period: 60, Statistics: []string{"SampleCount"}})
	if err != nil || len(dps) != 2 || !dps[0].Timestamp.Equal(t0) || *dps[0].SampleCount != 2 || *dps[1].SampleCount != 1 {
		t.Fatalf("GetMetricStatistics from 00:34: %+v %v", dps, err)
	}
	// Period 10: rounded to 10 seconds (00:30), so 00:10 is out and 00:40 in.
	_, dps, err = e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: "M", StartTime: start, EndTime: t0.Add(5 * time.Minute),
		Period: 10, Statistics: []string{"SampleCount"}})
	if err != nil || len(dps) != 2 || !dps[0].Timestamp.Equal(t0.Add(40*time.Second)) {
		t.Fatalf("GetMetricStatistics from 00:34, period 10: %+v %v", dps, err)
	}
	res, _, err := e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: start, EndTime: t0.Add(5 * time.Minute), ScanBy: "TimestampAscending",
		Queries: []MetricDataQuery{{ID: "a", MetricStat: &MetricStat{Metric: Metric{Namespace: "T", MetricName: "M"}, Period: 60, Stat: "SampleCount"}}}})
	if err != nil || len(res) != 1 || !reflect.DeepEqual(res[0].Values, []float64{2, 1}) {
		t.Fatalf("GetMetricData from 00:34: %+v %v", res, err)
	}
}

// Characters AWS documents as invalid are refused instead of being stored and then
// returned altered (XML cannot carry control characters: a listed name would not be the
// stored one).
func TestSweepNameCharacters(t *testing.T) {
	e := newEnv(t)
	base := PutMetricAlarmInput{Namespace: "T", MetricName: "M", Statistic: "Sum", Period: 60, EvaluationPeriods: 1,
		ComparisonOperator: "GreaterThanThreshold", Threshold: f(1)}
	for _, name := range []string{"a\x01b", "tab\there", "del\x7f", "bad\xffutf8"} {
		in := base
		in.AlarmName = name
		wantCode(t, e.cw.PutMetricAlarm(e.ctx, in), "InvalidParameterValue")
	}
	in := base
	in.AlarmName = "héllo wörld / ok: ✓"
	if err := e.cw.PutMetricAlarm(e.ctx, in); err != nil {
		t.Fatalf("a UTF-8 alarm name: %v", err)
	}
	for _, c := range []struct {
		ns   string
		dims []Dimension
	}{
		{"N\x02", nil},
		{"Nämespace", nil},
		{"T", []Dimension{{"na\x01me", "v"}}},
		{"T", []Dimension{{":name", "v"}}},
		{"T", []Dimension{{"   ", "v"}}},
		{"T", []Dimension{{"n", "vä"}}},
		{"T", []Dimension{{"n", "  "}}},
	} {
		err := e.cw.PutMetricData(e.ctx, c.ns, []MetricDatum{{MetricName: "M", Dimensions: c.dims, Value: f(1)}})
		wantCode(t, err, "InvalidParameterValue")
	}
	if err := e.cw.PutMetricData(e.ctx, "My/Name-space_1.x", []MetricDatum{{MetricName: "M", Dimensions: []Dimension{{"Host name", " h1:443 "}}, Value: f(1)}}); err != nil {
		t.Fatalf("printable ASCII: %v", err)
	}
}

func TestSweepMetricMath(t *testing.T) {
	e := newEnv(t)
	e.clk.Add(time.Hour)
	// Errors at 00, 01, 02; Requests at 00, 01 (0 at 01), 03.
	for _, p := range []struct {
		name string
		min  int
		v    float64
	}{{"Errors", 0, 2}, {"Errors", 1, 3}, {"Errors", 2, 4}, {"Requests", 0, 8}, {"Requests", 1, 0}, {"Requests", 3, 5}} {
		if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: p.name, Timestamp: t0.Add(time.Duration(p.min) * time.Minute), Value: f(p.v)}}); err != nil {
			t.Fatal(err)
		}
	}
	no := false
	metric := func(id, name string) MetricDataQuery {
		return MetricDataQuery{ID: id, ReturnData: &no, MetricStat: &MetricStat{Metric: Metric{Namespace: "T", MetricName: name}, Period: 60, Stat: "Sum"}}
	}
	run := func(exprs ...string) ([]MetricDataResult, error) {
		q := []MetricDataQuery{metric("m1", "Errors"), metric("m2", "Requests")}
		for i, x := range exprs {
			q = append(q, MetricDataQuery{ID: fmt.Sprintf("e%d", i+1), Expression: x})
		}
		res, _, err := e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: t0, EndTime: t0.Add(10 * time.Minute), ScanBy: "TimestampAscending", Queries: q})
		return res, err
	}
	type pt struct {
		min int
		v   float64
	}
	for expr, want := range map[string][]pt{
		"m1/m2*100":        {{0, 25}, {3, 0}},                 // 01, 02: division by zero (02: m2 missing counts as 0)
		"m1 + m2":          {{0, 10}, {1, 3}, {2, 4}, {3, 5}}, // a value missing in one series counts as 0
		"-m1 + 2 * 3":      {{0, 4}, {1, 3}, {2, 2}},          // unary minus, precedence
		"(m1 + 1) ^ 2 / 4": {{0, 2.25}, {1, 4}, {2, 6.25}},    // power binds tighter
		"e2 - m1":          {{0, 0}, {1, 0}, {2, 0}},          // another expression (e2 = m1 + 0)
		"2 ^ -1 * m1":      {{0, 1}, {1, 1.5}, {2, 2}},
		"m1 - - 1e0":       {{0, 3}, {1, 4}, {2, 5}},
	} {
		exprs := []string{expr, "m1 + 0"}
		res, err := run(exprs...)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if len(res) != 2 || res[0].ID != "e1" || res[0].Label != "e1" || res[0].StatusCode != "Complete" {
			t.Fatalf("%s: %+v", expr, res)
		}
		var got []pt
		for i, ts := range res[0].Timestamps {
			got = append(got, pt{int(ts.Sub(t0) / time.Minute), res[0].Values[i]})
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", expr, got, want)
		}
	}
	for _, bad := range [][]string{
		{"TOTAL(METRICS())"}, // not a function
		{"m1 + m3"},          // not an Id
		{"m1 +"},             // syntax
		{"(m1"},
		{"m1 m2"},
		{"2 + 3"},        // no metric
		{"e2", "e1 + 1"}, // a cycle
		{"e1"},
	} {
		if _, err := run(bad...); err == nil {
			t.Errorf("%q accepted", bad)
		} else {
			wantCode(t, err, "ValidationError")
		}
	}
	_, _, err := e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: t0, EndTime: t0.Add(time.Hour), Queries: []MetricDataQuery{
		{ID: "a", Expression: "1", MetricStat: &MetricStat{Metric: Metric{Namespace: "T", MetricName: "Errors"}, Period: 60, Stat: "Sum"}}}})
	wantCode(t, err, "InvalidParameterCombination")
}
