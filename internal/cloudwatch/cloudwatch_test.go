package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type sent struct {
	topic string
	n     AlarmNotification
}

type recNotifier struct {
	mu   sync.Mutex
	sent []sent
}

func (r *recNotifier) Notify(ctx context.Context, topic string, n AlarmNotification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, sent{topic, n})
	return nil
}

func (r *recNotifier) take() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sent
	r.sent = nil
	return s
}

type env struct {
	t     *testing.T
	dir   string
	ctx   context.Context
	clk   *fakeClock
	notif *recNotifier
	cw    *Service
	store *state.Store
}

// t0 is aligned on every period used by the tests.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newEnv(t *testing.T) *env {
	e := &env{t: t, dir: t.TempDir(), ctx: context.Background(), clk: &fakeClock{t: t0}, notif: &recNotifier{}}
	e.open()
	return e
}

func (e *env) open() {
	e.cw = New(Config{Now: e.clk.Now, Notifier: e.notif, AccountID: "111122223333"})
	st, err := state.Open(state.Config{NodeID: "n1", Dir: filepath.Join(e.dir, "raft")}, e.cw)
	if err != nil {
		e.t.Fatal(err)
	}
	e.store = st
	e.t.Cleanup(func() { st.Close() })
	e.cw.Attach(st)
}

func (e *env) restart() {
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func f(v float64) *float64 { return &v }

const topic = "arn:aws:sns:us-east-1:111122223333:alerts"

func (e *env) alarm(in PutMetricAlarmInput) {
	e.t.Helper()
	if in.AlarmName == "" {
		in.AlarmName = "a"
	}
	if in.Namespace == "" {
		in.Namespace = "Test"
	}
	if in.MetricName == "" {
		in.MetricName = "M"
	}
	if in.Statistic == "" && in.ExtendedStatistic == "" {
		in.Statistic = "Sum"
	}
	if in.Period == 0 {
		in.Period = 60
	}
	if in.EvaluationPeriods == 0 {
		in.EvaluationPeriods = 1
	}
	if in.ComparisonOperator == "" {
		in.ComparisonOperator = "GreaterThanOrEqualToThreshold"
	}
	if in.Threshold == nil {
		in.Threshold = f(5)
	}
	if in.AlarmActions == nil {
		in.AlarmActions = []string{topic}
	}
	if err := e.cw.PutMetricAlarm(e.ctx, in); err != nil {
		e.t.Fatalf("PutMetricAlarm: %v", err)
	}
}

func (e *env) state(name string) MetricAlarm {
	e.t.Helper()
	l, _, err := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{AlarmNames: []string{name}})
	if err != nil || len(l) != 1 {
		e.t.Fatalf("DescribeAlarms %s: %v %v", name, l, err)
	}
	return l[0]
}

func (e *env) put(ts time.Time, v float64) {
	e.t.Helper()
	if err := e.cw.PutMetricData(e.ctx, "Test", []MetricDatum{{MetricName: "M", Timestamp: ts, Value: f(v)}}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) eval() {
	e.t.Helper()
	if err := e.cw.Evaluate(e.ctx, e.clk.Now()); err != nil {
		e.t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func TestPutMetricDataValidation(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		ns   string
		d    []MetricDatum
		code string
	}{
		{"AWS/KMS", []MetricDatum{{MetricName: "M", Value: f(1)}}, "InvalidParameterValue"},
		{"", []MetricDatum{{MetricName: "M", Value: f(1)}}, "MissingParameter"},
		{"T", make([]MetricDatum, 1001), "InvalidParameterValue"},
		{"T", []MetricDatum{{MetricName: "M", Value: f(1), Timestamp: t0.Add(-15 * 24 * time.Hour)}}, "InvalidParameterValue"},
		{"T", []MetricDatum{{MetricName: "M", Value: f(1), Timestamp: t0.Add(3 * time.Hour)}}, "InvalidParameterValue"},
		{"T", []MetricDatum{{MetricName: "M", Value: f(math.NaN())}}, "InvalidParameterValue"},
		{"T", []MetricDatum{{MetricName: "M", Value: f(math.Pow(2, 400))}}, "InvalidParameterValue"},
		{"T", []MetricDatum{{MetricName: "M"}}, "MissingParameter"},
		{"T", []MetricDatum{{MetricName: "M", Value: f(1), StatisticValues: &StatisticSet{1, 1, 1, 1}}}, "InvalidParameterCombination"},
		{"T", []MetricDatum{{MetricName: "M", Value: f(1), Unit: "Parsecs"}}, "InvalidParameterValue"},
		{"T", []MetricDatum{{MetricName: "M", Values: []float64{1, 2}, Counts: []float64{1}}}, "InvalidParameterCombination"},
	}
	for i, c := range cases {
		err := e.cw.PutMetricData(e.ctx, c.ns, c.d)
		var ce *Error
		if !errors.As(err, &ce) || ce.Code != c.code {
			t.Errorf("case %d: got %v, want %s", i, err, c.code)
		}
	}
	if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: "M", Value: f(1), Timestamp: t0.Add(-13 * 24 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
}

func TestGetMetricStatistics(t *testing.T) {
	e := newEnv(t)
	dims := []Dimension{{"B", "2"}, {"A", "1"}}
	for i, v := range []float64{1, 2, 3, 4} {
		if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: "Lat", Dimensions: dims, Timestamp: t0.Add(time.Duration(i) * 20 * time.Second), Value: f(v), Unit: "Milliseconds", StorageResolution: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: "Lat", Dimensions: dims, Timestamp: t0.Add(90 * time.Second),
		StatisticValues: &StatisticSet{SampleCount: 2, Sum: 30, Minimum: 10, Maximum: 20}, Unit: "Milliseconds"}}); err != nil {
		t.Fatal(err)
	}
	// Dimensions in another order name the same metric.
	_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: "Lat", Dimensions: []Dimension{{"A", "1"}, {"B", "2"}},
		StartTime: t0, EndTime: t0.Add(5 * time.Minute), Period: 60, Statistics: []string{"SampleCount", "Sum", "Average", "Minimum", "Maximum"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dps) != 2 {
		t.Fatalf("%+v", dps)
	}
	_, pct, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: "Lat", Dimensions: dims,
		StartTime: t0, EndTime: t0.Add(5 * time.Minute), Period: 60, ExtendedStatistics: []string{"p50"}})
	if err != nil || len(pct) != 2 || pct[0].Sum != nil {
		t.Fatalf("%+v %v", pct, err)
	}
	dps[0].ExtendedStatistics = pct[0].ExtendedStatistics
	d := dps[0]
	if *d.SampleCount != 3 || *d.Sum != 6 || *d.Average != 2 || *d.Minimum != 1 || *d.Maximum != 3 || d.ExtendedStatistics["p50"] != 2 || d.Unit != "Milliseconds" || !d.Timestamp.Equal(t0) {
		t.Fatalf("%+v", d)
	}
	d = dps[1]
	if *d.SampleCount != 3 || *d.Sum != 34 || *d.Minimum != 4 || *d.Maximum != 20 {
		t.Fatalf("%+v", d)
	}
	_, _, err = e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: "Lat", StartTime: t0, EndTime: t0.Add(time.Hour), Period: 45, Statistics: []string{"Sum"}})
	wantCode(t, err, "InvalidParameterValue")
	_, _, err = e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: "Lat", StartTime: t0, EndTime: t0.Add(time.Hour), Period: 1, Statistics: []string{"Sum"}})
	wantCode(t, err, "InvalidParameterCombination") // 3600 datapoints > 1440
	_, _, err = e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: "Lat", StartTime: t0, EndTime: t0.Add(time.Hour), Period: 60, Statistics: []string{"Median"}})
	wantCode(t, err, "InvalidParameterValue")
	// High resolution periods.
	_, dps, err = e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "T", MetricName: "Lat", Dimensions: dims, StartTime: t0, EndTime: t0.Add(time.Minute), Period: 10, Statistics: []string{"Sum"}})
	if err != nil || len(dps) != 3 {
		t.Fatalf("%+v %v", dps, err)
	}
}

func TestGetMetricDataAndListMetrics(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.put(t0.Add(time.Duration(i)*time.Minute), float64(i+1))
	}
	res, _, err := e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: t0, EndTime: t0.Add(time.Hour), Queries: []MetricDataQuery{
		{ID: "m1", MetricStat: &MetricStat{Metric: Metric{Namespace: "Test", MetricName: "M"}, Period: 60, Stat: "Sum"}}}})
	if err != nil || len(res) != 1 || len(res[0].Values) != 3 || res[0].Values[0] != 3 || !res[0].Timestamps[0].Equal(t0.Add(2*time.Minute)) || res[0].StatusCode != "Complete" {
		t.Fatalf("%+v %v", res, err)
	}
	_, _, err = e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: t0, EndTime: t0.Add(time.Hour), Queries: []MetricDataQuery{{ID: "e1", Expression: "TOTAL(METRICS())"}}})
	wantCode(t, err, "ValidationError")

	for i := 0; i < 510; i++ {
		if err := e.cw.Put("AWS/KMS", "KeyUsageCount", []Dimension{{"KeyId", fmt.Sprintf("k%03d", i)}, {"Operation", "Encrypt"}}, time.Time{}, 1, "Count"); err != nil {
			t.Fatal(err)
		}
	}
	var all []Metric
	tok := ""
	for pages := 0; ; pages++ {
		l, next, err := e.cw.ListMetrics(e.ctx, ListMetricsInput{Namespace: "AWS/KMS", NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, l...)
		if next == "" {
			if pages != 1 {
				t.Fatalf("pages %d", pages)
			}
			break
		}
		tok = next
	}
	if len(all) != 510 {
		t.Fatalf("%d metrics", len(all))
	}
	l, _, _ := e.cw.ListMetrics(e.ctx, ListMetricsInput{Dimensions: []DimensionFilter{{Name: "KeyId", Value: "k007"}}})
	if len(l) != 1 || l[0].Dimensions[0] != (Dimension{"KeyId", "k007"}) {
		t.Fatalf("%+v", l)
	}
	l, _, _ = e.cw.ListMetrics(e.ctx, ListMetricsInput{MetricName: "M"})
	if len(l) != 1 || l[0].Namespace != "Test" {
		t.Fatalf("%+v", l)
	}
	_, _, err = e.cw.ListMetrics(e.ctx, ListMetricsInput{NextToken: "!!"})
	wantCode(t, err, "InvalidNextToken")
}

func TestMetricRingBounded(t *testing.T) {
	cw := New(Config{Now: func() time.Time { return t0 }, MaxPointsPerMetric: 100})
	for i := 0; i < 1000; i++ {
		cw.store("us-east-1", Metric{Namespace: "T", MetricName: "M"}, point{t: t0.Add(-time.Duration(1000-i) * time.Second), n: 1, sum: 1, min: 1, max: 1})
	}
	if n := len(cw.metrics[metricKey("us-east-1", "T", "M", nil)].points); n > 100 {
		t.Fatalf("%d points kept", n)
	}
}

func TestPutMetricAlarmValidation(t *testing.T) {
	e := newEnv(t)
	base := func() PutMetricAlarmInput {
		return PutMetricAlarmInput{AlarmName: "x", Namespace: "T", MetricName: "M", Statistic: "Sum", Period: 60, EvaluationPeriods: 2, Threshold: f(1), ComparisonOperator: "GreaterThanThreshold"}
	}
	bad := []func(*PutMetricAlarmInput){
		func(in *PutMetricAlarmInput) { in.ComparisonOperator = "LessThanLowerOrGreaterThanUpperThreshold" },
		func(in *PutMetricAlarmInput) { in.ComparisonOperator = "GreaterThanUpperThreshold" },
		func(in *PutMetricAlarmInput) { in.Period = 45 },
		func(in *PutMetricAlarmInput) { in.Period = 5 },
		func(in *PutMetricAlarmInput) { in.DatapointsToAlarm = 3 },
		func(in *PutMetricAlarmInput) { in.TreatMissingData = "sometimes" },
		func(in *PutMetricAlarmInput) { in.AlarmActions = []string{"arn:aws:automate:us-east-1:ec2:stop"} },
		func(in *PutMetricAlarmInput) { in.ExtendedStatistic = "p99" },
		func(in *PutMetricAlarmInput) { in.Statistic = "Median" },
		func(in *PutMetricAlarmInput) { in.EvaluationPeriods = 0 },
		func(in *PutMetricAlarmInput) { in.Threshold = nil },
	}
	for i, mod := range bad {
		in := base()
		mod(&in)
		if err := e.cw.PutMetricAlarm(e.ctx, in); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
	for _, p := range []int{10, 20, 30, 60, 300} {
		in := base()
		in.Period = p
		if err := e.cw.PutMetricAlarm(e.ctx, in); err != nil {
			t.Errorf("period %d: %v", p, err)
		}
	}
	a := e.state("x")
	if a.StateValue != StateInsufficientData || a.StateReason != "Unchecked: Initial alarm creation" || !a.ActionsEnabled || a.AlarmArn != "arn:aws:cloudwatch:us-east-1:111122223333:alarm:x" {
		t.Fatalf("%+v", a)
	}
}

func TestComparisonOperators(t *testing.T) {
	cases := []struct {
		op   string
		want [3]string // for values 4, 5, 6 against threshold 5
	}{
		{"GreaterThanOrEqualToThreshold", [3]string{StateOK, StateAlarm, StateAlarm}},
		{"GreaterThanThreshold", [3]string{StateOK, StateOK, StateAlarm}},
		{"LessThanThreshold", [3]string{StateAlarm, StateOK, StateOK}},
		{"LessThanOrEqualToThreshold", [3]string{StateAlarm, StateAlarm, StateOK}},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			e := newEnv(t)
			e.alarm(PutMetricAlarmInput{ComparisonOperator: c.op, Statistic: "Maximum"})
			for i, v := range []float64{4, 5, 6} {
				e.clk.Add(time.Minute)
				e.put(e.clk.Now(), v)
				e.eval()
				if got := e.state("a").StateValue; got != c.want[i] {
					t.Fatalf("value %v: %s, want %s", v, got, c.want[i])
				}
			}
		})
	}
}

func TestMOutOfN(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{EvaluationPeriods: 3, DatapointsToAlarm: 2, Statistic: "Maximum"})
	// Periods t0, t0+1m, t0+2m: 9, 1, (now) 1 -> 1 of 3 breaching -> OK.
	e.put(t0, 9)
	e.put(t0.Add(time.Minute), 1)
	e.clk.Add(2 * time.Minute)
	e.put(e.clk.Now(), 1)
	e.eval()
	if s := e.state("a"); s.StateValue != StateOK {
		t.Fatalf("%+v", s)
	}
	// A second breaching datapoint in the window -> 2 of 3 -> ALARM.
	e.put(e.clk.Now().Add(10*time.Second), 7)
	e.eval()
	s := e.state("a")
	if s.StateValue != StateAlarm || !strings.Contains(s.StateReason, "2 out of the last 3 datapoints") {
		t.Fatalf("%+v", s)
	}
	var rd map[string]any
	if err := json.Unmarshal([]byte(s.StateReasonData), &rd); err != nil || rd["statistic"] != "Maximum" || len(rd["recentDatapoints"].([]any)) != 3 {
		t.Fatalf("%s %v", s.StateReasonData, err)
	}
	// The window slides: t0's 9 leaves it -> 1 of 3 -> OK.
	e.clk.Add(time.Minute)
	e.eval()
	if s := e.state("a"); s.StateValue != StateOK {
		t.Fatalf("%+v", s)
	}
	n := e.notif.take()
	if len(n) != 1 || n[0].n.NewStateValue != StateAlarm || n[0].n.OldStateValue != StateOK {
		t.Fatalf("%+v", n) // OKActions are empty: only the ALARM notification
	}
}

func TestTreatMissingData(t *testing.T) {
	cases := []struct {
		treat string
		// states after: no data at all; then 1 breaching of 3 (2 missing); then nothing again
		// (window moved past the datapoint).
		empty, partial string
	}{
		{"missing", StateInsufficientData, StateAlarm},
		{"", StateInsufficientData, StateAlarm},
		{"ignore", StateInsufficientData /* kept: initial state */, StateAlarm},
		{"breaching", StateAlarm, StateAlarm},
		{"notBreaching", StateOK, StateOK},
	}
	for _, c := range cases {
		t.Run("treat="+c.treat, func(t *testing.T) {
			e := newEnv(t)
			e.alarm(PutMetricAlarmInput{EvaluationPeriods: 3, DatapointsToAlarm: 2, TreatMissingData: c.treat, Statistic: "Maximum", OKActions: []string{topic}})
			e.eval()
			if s := e.state("a"); s.StateValue != c.empty {
				t.Fatalf("empty: %s, want %s (%s)", s.StateValue, c.empty, s.StateReason)
			}
			e.put(e.clk.Now(), 9)
			e.eval()
			if s := e.state("a"); s.StateValue != c.partial {
				t.Fatalf("partial: %s, want %s (%s)", s.StateValue, c.partial, s.StateReason)
			}
			// A non-breaching point joins: 2 datapoints present (= M), 1 breaching -> OK, except
			// when the missing one counts as breaching.
			e.clk.Add(time.Minute)
			e.put(e.clk.Now(), 1)
			e.eval()
			want := map[string]string{"missing": StateOK, "": StateOK, "ignore": StateOK, "breaching": StateAlarm, "notBreaching": StateOK}[c.treat]
			if s := e.state("a"); s.StateValue != want {
				t.Fatalf("mixed: %s, want %s (%s)", s.StateValue, want, s.StateReason)
			}
			// All data ages out of the window.
			e.clk.Add(10 * time.Minute)
			e.eval()
			want = map[string]string{"missing": StateInsufficientData, "": StateInsufficientData, "ignore": want, "breaching": StateAlarm, "notBreaching": StateOK}[c.treat]
			if s := e.state("a"); s.StateValue != want {
				t.Fatalf("aged: %s, want %s (%s)", s.StateValue, want, s.StateReason)
			}
		})
	}
}

func TestHistorySetAlarmStateAndActions(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmDescription: "too many", Dimensions: []Dimension{{"HsmId", "hsm-1"}}, OKActions: []string{topic}})
	err := e.cw.SetAlarmState(e.ctx, "nope", StateAlarm, "testing", "")
	wantCode(t, err, "ResourceNotFound")
	wantCode(t, e.cw.SetAlarmState(e.ctx, "a", StateAlarm, "testing", "{bad"), "InvalidFormat")
	if err := e.cw.SetAlarmState(e.ctx, "a", StateAlarm, "testing", `{"k":1}`); err != nil {
		t.Fatal(err)
	}
	if s := e.state("a"); s.StateValue != StateAlarm || s.StateReason != "testing" {
		t.Fatalf("%+v", s)
	}
	n := e.notif.take()
	if len(n) != 1 || n[0].topic != topic {
		t.Fatalf("%+v", n)
	}
	a := n[0].n
	b, _ := json.Marshal(a)
	var m map[string]any
	json.Unmarshal(b, &m)
	tr := m["Trigger"].(map[string]any)
	if m["AlarmName"] != "a" || m["AlarmDescription"] != "too many" || m["AWSAccountId"] != "111122223333" || m["NewStateValue"] != "ALARM" ||
		m["OldStateValue"] != "INSUFFICIENT_DATA" || m["Region"] != "US East (N. Virginia)" || m["NewStateReason"] != "testing" ||
		tr["MetricName"] != "M" || tr["Namespace"] != "Test" || tr["Statistic"] != "SUM" || tr["Period"] != 60.0 || tr["EvaluationPeriods"] != 1.0 ||
		tr["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || tr["Threshold"] != 5.0 || tr["Dimensions"].([]any)[0].(map[string]any)["name"] != "HsmId" {
		t.Fatalf("%s", b)
	}
	if a.Subject() != `ALARM: "a" in US East (N. Virginia)` {
		t.Fatal(a.Subject())
	}
	// Temporary: the next evaluation (no data: missing -> INSUFFICIENT_DATA) overrides it.
	e.eval()
	if s := e.state("a"); s.StateValue != StateInsufficientData {
		t.Fatalf("%+v", s)
	}
	e.notif.take()
	// Actions disabled: transitions are recorded, nothing is notified.
	if err := e.cw.DisableAlarmActions(e.ctx, []string{"a", "unknown"}); err != nil {
		t.Fatal(err)
	}
	put := func(v float64) {
		if err := e.cw.PutMetricData(e.ctx, "Test", []MetricDatum{{MetricName: "M", Dimensions: []Dimension{{"HsmId", "hsm-1"}}, Value: f(v)}}); err != nil {
			t.Fatal(err)
		}
	}
	put(10)
	e.eval()
	if s := e.state("a"); s.StateValue != StateAlarm || s.ActionsEnabled {
		t.Fatalf("%+v", s)
	}
	if n := e.notif.take(); len(n) != 0 {
		t.Fatalf("notified with actions disabled: %+v", n)
	}
	if err := e.cw.EnableAlarmActions(e.ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
	put(1)
	e.eval()
	if n := e.notif.take(); len(n) != 1 || n[0].n.NewStateValue != StateOK {
		t.Fatalf("%+v", n)
	}
	// History: newest first.
	h, _, err := e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{AlarmName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, x := range h {
		types = append(types, x.HistoryItemType+":"+x.HistorySummary)
	}
	// Each executed action is an Action item (none while actions are disabled).
	act := "Action:Successfully executed action " + topic
	want := []string{act, "StateUpdate:Alarm updated from ALARM to OK", "StateUpdate:Alarm updated from INSUFFICIENT_DATA to ALARM",
		"StateUpdate:Alarm updated from ALARM to INSUFFICIENT_DATA", act, "StateUpdate:Alarm updated from INSUFFICIENT_DATA to ALARM", `ConfigurationUpdate:Alarm "a" created`}
	if strings.Join(types, "|") != strings.Join(want, "|") {
		t.Fatalf("%q", types)
	}
	var hd struct {
		Version  string
		OldState struct{ StateValue, StateReason string }
		NewState struct {
			StateValue, StateReason string
			StateReasonData         map[string]any
		}
	}
	if err := json.Unmarshal([]byte(h[1].HistoryData), &hd); err != nil || hd.Version != "1.0" || hd.OldState.StateValue != StateAlarm || hd.NewState.StateValue != StateOK ||
		hd.NewState.StateReasonData["threshold"] != 5.0 {
		t.Fatalf("%s %v", h[1].HistoryData, err)
	}
	var ad struct {
		ActionState, NotificationResource string
		StateUpdateTimestamp              int64
	}
	if err := json.Unmarshal([]byte(h[0].HistoryData), &ad); err != nil || ad.ActionState != "Succeeded" || ad.NotificationResource != topic ||
		ad.StateUpdateTimestamp != h[1].Timestamp.UnixMilli() {
		t.Fatalf("%s %v", h[0].HistoryData, err)
	}
	h, next, _ := e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{HistoryItemType: "StateUpdate", MaxRecords: 3, ScanBy: "TimestampAscending"})
	if len(h) != 3 || next == "" || h[0].HistorySummary != "Alarm updated from INSUFFICIENT_DATA to ALARM" {
		t.Fatalf("%+v", h)
	}
	h, next, _ = e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{HistoryItemType: "StateUpdate", MaxRecords: 3, ScanBy: "TimestampAscending", NextToken: next})
	if len(h) != 1 || next != "" {
		t.Fatalf("%+v", h)
	}
	// Alarms, state and history survive a restart (replicated state).
	e.restart()
	if s := e.state("a"); s.StateValue != StateOK {
		t.Fatalf("%+v", s)
	}
	if h, _, _ := e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{AlarmName: "a"}); len(h) != 7 { // with the 2 Action items
		t.Fatalf("%d items", len(h))
	}
}

func TestDescribeAndDeleteAlarms(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		e.alarm(PutMetricAlarmInput{AlarmName: fmt.Sprintf("hsm-%d", i)})
	}
	e.alarm(PutMetricAlarmInput{AlarmName: "kms-1", AlarmActions: []string{"arn:aws:sns:us-east-1:111122223333:other"}})
	if err := e.cw.SetAlarmState(e.ctx, "hsm-3", StateAlarm, "x", ""); err != nil {
		t.Fatal(err)
	}
	l, next, err := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{AlarmNamePrefix: "hsm-", MaxRecords: 3})
	if err != nil || len(l) != 3 || next == "" || l[0].AlarmName != "hsm-0" {
		t.Fatalf("%+v %v", l, err)
	}
	l, next, _ = e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{AlarmNamePrefix: "hsm-", MaxRecords: 3, NextToken: next})
	if len(l) != 2 || next != "" || l[1].AlarmName != "hsm-4" {
		t.Fatalf("%+v", l)
	}
	if l, _, _ := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{StateValue: StateAlarm}); len(l) != 1 || l[0].AlarmName != "hsm-3" {
		t.Fatalf("%+v", l)
	}
	if l, _, _ := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{ActionPrefix: "arn:aws:sns:us-east-1:111122223333:oth"}); len(l) != 1 || l[0].AlarmName != "kms-1" {
		t.Fatalf("%+v", l)
	}
	// An update keeps the state.
	e.alarm(PutMetricAlarmInput{AlarmName: "hsm-3", Threshold: f(100)})
	if s := e.state("hsm-3"); s.StateValue != StateAlarm || s.Threshold != 100 {
		t.Fatalf("%+v", s)
	}
	// An unknown name is reported; the alarms that exist are deleted (AWS: "the alarms
	// you specify with correct names are still deleted").
	wantCode(t, e.cw.DeleteAlarms(e.ctx, []string{"hsm-0", "nope"}), "ResourceNotFound")
	if l, _, _ := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{AlarmNames: []string{"hsm-0"}}); len(l) != 0 {
		t.Fatalf("hsm-0 not deleted with an unknown name beside it: %+v", l)
	}
	if err := e.cw.DeleteAlarms(e.ctx, []string{"hsm-1"}); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{}); len(l) != 4 {
		t.Fatalf("%+v", l)
	}
}

// TestPutEvaluatesImmediately: Put of a datapoint evaluates the alarms on that metric
// before it returns (no timer).
func TestPutEvaluatesImmediately(t *testing.T) {
	e := newEnv(t)
	dims := []Dimension{{"ClusterId", "cluster-1"}, {"UserName", "admin"}}
	e.alarm(PutMetricAlarmInput{AlarmName: "failed-logins", Namespace: "AWS/CloudHSM", MetricName: "FailedLoginCount", Dimensions: dims,
		Period: 10, Threshold: f(2), TreatMissingData: "notBreaching"})
	for i := 0; i < 2; i++ {
		if n := e.notif.take(); len(n) != 0 {
			t.Fatalf("early: %+v", n)
		}
		if err := e.cw.Put("AWS/CloudHSM", "FailedLoginCount", dims, time.Time{}, 1, "Count"); err != nil {
			t.Fatal(err)
		}
	}
	n := e.notif.take()
	if len(n) != 1 || n[0].n.NewStateValue != StateAlarm || n[0].n.AlarmName != "failed-logins" {
		t.Fatalf("%+v", n)
	}
	// Another user's failures are another metric.
	if err := e.cw.Put("AWS/CloudHSM", "FailedLoginCount", []Dimension{{"ClusterId", "cluster-1"}, {"UserName", "bob"}}, time.Time{}, 5, "Count"); err != nil {
		t.Fatal(err)
	}
	if n := e.notif.take(); len(n) != 0 {
		t.Fatalf("%+v", n)
	}
	if err := e.cw.EvaluateNow(e.ctx, "nope"); err == nil {
		t.Fatal("EvaluateNow of a missing alarm")
	}
}
