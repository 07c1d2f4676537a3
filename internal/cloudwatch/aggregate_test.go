package cloudwatch

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestPutAggregateMergesPerMinute: counts published every second land in one datapoint
// per minute, whose statistics are those of one sample of 1 per event.
func TestPutAggregateMergesPerMinute(t *testing.T) {
	e := newEnv(t)
	dims := []Dimension{{"KeyId", "k1"}, {"Operation", "Encrypt"}}
	for i, n := range []float64{3, 4, 5} {
		ts := t0.Add(time.Duration(10+i*20) * time.Second) // all in [t0, t0+1m)
		if err := e.cw.PutAggregate("AWS/KMS", "KeyUsageCount", dims, ts, StatisticSet{SampleCount: n, Sum: n, Minimum: 1, Maximum: 1}, "Count"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.cw.PutAggregate("AWS/KMS", "KeyUsageCount", dims, t0.Add(70*time.Second), StatisticSet{SampleCount: 2, Sum: 2, Minimum: 1, Maximum: 1}, "Count"); err != nil {
		t.Fatal(err)
	}
	// Nothing is stored for an empty set.
	if err := e.cw.PutAggregate("AWS/KMS", "KeyUsageCount", dims, t0.Add(130*time.Second), StatisticSet{}, "Count"); err != nil {
		t.Fatal(err)
	}
	e.cw.mmu.RLock()
	got := len(e.cw.metrics[metricKey("us-east-1", "AWS/KMS", "KeyUsageCount", dims)].points)
	e.cw.mmu.RUnlock()
	if got != 2 {
		t.Fatalf("%d datapoints stored, want 2 (one per minute)", got)
	}
	e.clk.Add(5 * time.Minute)
	_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "AWS/KMS", MetricName: "KeyUsageCount",
		Dimensions: []Dimension{{"Operation", "Encrypt"}, {"KeyId", "k1"}}, StartTime: t0, EndTime: t0.Add(5 * time.Minute), Period: 60,
		Statistics: []string{"Sum", "SampleCount", "Minimum", "Maximum", "Average"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dps) != 2 || *dps[0].Sum != 12 || *dps[0].SampleCount != 12 || *dps[0].Minimum != 1 || *dps[0].Maximum != 1 || *dps[0].Average != 1 || *dps[1].Sum != 2 {
		t.Fatalf("datapoints %+v", dps)
	}
}

// TestPutAggregateFiresAlarms: the alarm on the metric is evaluated by PutAggregate.
func TestPutAggregateFiresAlarms(t *testing.T) {
	e := newEnv(t)
	dims := []Dimension{{"KeyId", "k1"}}
	e.alarm(PutMetricAlarmInput{AlarmName: "usage", Namespace: "AWS/KMS", MetricName: "KeyUsageCount", Dimensions: dims,
		Period: 300, Threshold: f(100)})
	put := func(n float64) {
		t.Helper()
		if err := e.cw.PutAggregate("AWS/KMS", "KeyUsageCount", dims, time.Time{}, StatisticSet{SampleCount: n, Sum: n, Minimum: 1, Maximum: 1}, "Count"); err != nil {
			t.Fatal(err)
		}
	}
	put(60)
	e.clk.Add(90 * time.Second)
	put(39)
	if st := e.state("usage").StateValue; st != StateOK {
		t.Fatalf("after 99: %s", st)
	}
	if n := e.notif.take(); len(n) != 0 {
		t.Fatalf("after 99: %+v", n)
	}
	put(1)
	n := e.notif.take()
	if len(n) != 1 || n[0].n.NewStateValue != StateAlarm {
		t.Fatalf("after 100: %+v", n)
	}
}

// TestCollectorRunsBeforeReads: the collector publishes pending counts before reads and
// periodic evaluations.
func TestCollectorRunsBeforeReads(t *testing.T) {
	e := newEnv(t)
	var pending atomic.Int64
	var calls atomic.Int64
	e.cw.SetCollector(func() {
		calls.Add(1)
		if n := pending.Swap(0); n > 0 {
			_ = e.cw.PutAggregate("AWS/KMS", "KeyUsageCount", nil, time.Time{}, StatisticSet{SampleCount: float64(n), Sum: float64(n), Minimum: 1, Maximum: 1}, "Count")
		}
	})
	pending.Store(7)
	l, _, err := e.cw.ListMetrics(e.ctx, ListMetricsInput{Namespace: "AWS/KMS"})
	if err != nil || len(l) != 1 {
		t.Fatalf("ListMetrics: %v %v", l, err)
	}
	pending.Store(3)
	_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Namespace: "AWS/KMS", MetricName: "KeyUsageCount",
		StartTime: t0.Add(-time.Hour), EndTime: t0.Add(time.Hour), Period: 3600, Statistics: []string{"Sum"}})
	if err != nil || len(dps) != 1 || *dps[0].Sum != 10 {
		t.Fatalf("GetMetricStatistics: %+v %v", dps, err)
	}
	e.alarm(PutMetricAlarmInput{AlarmName: "usage", Namespace: "AWS/KMS", MetricName: "KeyUsageCount", Period: 300, Threshold: f(15)})
	pending.Store(5)
	before := calls.Load()
	e.eval()
	if calls.Load() != before+1 {
		t.Fatal("Evaluate did not collect")
	}
	if n := e.notif.take(); len(n) != 1 || n[0].n.NewStateValue != StateAlarm {
		t.Fatalf("%+v", n)
	}
}
