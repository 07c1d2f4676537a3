package cloudwatch

import (
	"net/http"
	"strings"
	"testing"
	"time"
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
