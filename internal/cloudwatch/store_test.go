package cloudwatch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// storeEnv runs a service with a datapoint log next to a reference service in memory
// only; every operation is applied to both, and after a restart the answers of the
// first must still be those of the reference.
type storeEnv struct {
	t   *testing.T
	dir string
	clk *fakeClock
	cfg Config
	cw  *Service // with Dir
	ref *Service // memory only
}

func newStoreEnv(t *testing.T, cfg Config) *storeEnv {
	e := &storeEnv{t: t, dir: filepath.Join(t.TempDir(), "metrics"), clk: &fakeClock{t: t0.Add(30 * time.Minute)}}
	cfg.Now, cfg.Dir = e.clk.Now, e.dir
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Hour // the tests flush
	}
	e.cfg = cfg
	ref := cfg
	ref.Dir = ""
	e.ref = New(ref)
	e.open()
	return e
}

func (e *storeEnv) open() {
	e.t.Helper()
	cw, err := Open(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.cw = cw
	e.t.Cleanup(func() { cw.Close() })
}

func (e *storeEnv) restart() {
	e.t.Helper()
	if err := e.cw.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *storeEnv) both(f func(s *Service) error) {
	e.t.Helper()
	for _, s := range []*Service{e.cw, e.ref} {
		if err := f(s); err != nil {
			e.t.Fatal(err)
		}
	}
}

// putMix stores datapoints of every kind: single values, statistic sets, values with
// counts, high-resolution timestamps, units, unsorted dimensions, Coffer's own Put and
// PutAggregate (merged per minute).
func (e *storeEnv) putMix(base time.Time) {
	e.t.Helper()
	ctx := context.Background()
	dims := []Dimension{{"Zone", "a"}, {"Host", "h1"}}
	e.both(func(s *Service) error {
		return s.PutMetricData(ctx, "App", []MetricDatum{
			{MetricName: "Latency", Dimensions: dims, Timestamp: base.Add(1500 * time.Millisecond), Value: f(12.5), Unit: "Milliseconds", StorageResolution: 1},
			{MetricName: "Latency", Dimensions: dims, Timestamp: base.Add(2 * time.Second), Value: f(7), Unit: "Milliseconds", StorageResolution: 1},
			{MetricName: "Latency", Dimensions: dims, Timestamp: base.Add(70 * time.Second), Values: []float64{1, 2, 3, 100}, Counts: []float64{1, 1, 4, 1}, Unit: "Milliseconds"},
			{MetricName: "Bytes", Timestamp: base.Add(10 * time.Second), StatisticValues: &StatisticSet{SampleCount: 5, Sum: 5000, Minimum: 10, Maximum: 4000}, Unit: "Bytes"},
			{MetricName: "Bytes", Timestamp: base.Add(10 * time.Second), Value: f(0.1)}, // same time, no unit
			{MetricName: "Tiny", Timestamp: base.Add(3 * time.Minute), Value: f(math.Pow(2, -250))},
		})
	})
	kdims := []Dimension{{"Operation", "Encrypt"}, {"KeyId", "k1"}}
	for i, n := range []float64{3, 4, 5, 1} {
		e.both(func(s *Service) error {
			return s.PutAggregate("AWS/KMS", "KeyUsageCount", kdims, base.Add(time.Duration(i*25)*time.Second), StatisticSet{SampleCount: n, Sum: n, Minimum: 1, Maximum: 1}, "Count")
		})
	}
	e.both(func(s *Service) error {
		return s.PutAggregate("AWS/CloudHSM", "HsmSessionCount", []Dimension{{"Region", "us-east-1"}}, base, StatisticSet{SampleCount: 1, Sum: 4, Minimum: 4, Maximum: 4}, "Count")
	})
	e.both(func(s *Service) error {
		return s.Put("AWS/CloudHSM", "FailedLoginCount", nil, base.Add(5*time.Second), 1, "Count")
	})
}

// answers is every query answer the tests compare, as JSON.
func answers(t *testing.T, s *Service, from, to time.Time) string {
	t.Helper()
	ctx := context.Background()
	ms, _, err := s.ListMetrics(ctx, ListMetricsInput{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{"list": ms}
	for _, m := range ms {
		for _, period := range []int{1, 60, 300} {
			end := to
			if period == 1 {
				end = from.Add(20 * time.Minute)
			}
			for _, unit := range []string{"", "Count", "Milliseconds"} {
				in := GetMetricStatisticsInput{Namespace: m.Namespace, MetricName: m.MetricName, Dimensions: m.Dimensions,
					StartTime: from, EndTime: end, Period: period, Unit: unit, Statistics: []string{"SampleCount", "Sum", "Minimum", "Maximum", "Average"}}
				_, dps, err := s.GetMetricStatistics(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				out[metricKey("", m.Namespace, m.MetricName, m.Dimensions)+"/"+unit+"/"+time.Duration(period).String()] = dps
				in.Statistics, in.ExtendedStatistics = nil, []string{"p50", "p99"}
				if _, dps, err = s.GetMetricStatistics(ctx, in); err != nil {
					t.Fatal(err)
				}
				out[metricKey("", m.Namespace, m.MetricName, m.Dimensions)+"/"+unit+"/"+time.Duration(period).String()+"/p"] = dps
			}
		}
		r, _, err := s.GetMetricData(ctx, GetMetricDataInput{StartTime: from, EndTime: to, Queries: []MetricDataQuery{
			{ID: "a", MetricStat: &MetricStat{Metric: m, Period: 60, Stat: "Sum"}},
			{ID: "b", MetricStat: &MetricStat{Metric: m, Period: 60, Stat: "p90"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		out[metricKey("", m.Namespace, m.MetricName, m.Dimensions)+"/data"] = r
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *storeEnv) check(what string) {
	e.t.Helper()
	from, to := t0.Add(-time.Hour), t0.Add(3*time.Hour)
	got, want := answers(e.t, e.cw, from, to), answers(e.t, e.ref, from, to)
	if got != want {
		e.t.Fatalf("%s: answers differ from the memory-only store\ngot  %s\nwant %s", what, got, want)
	}
	if !strings.Contains(got, "KeyUsageCount") {
		e.t.Fatalf("%s: no KeyUsageCount in %s", what, got)
	}
}

func logFileNames(t *testing.T, dir string) []string {
	t.Helper()
	l, err := logFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range l {
		out = append(out, f.name)
	}
	return out
}

func currentLog(t *testing.T, dir string) string {
	t.Helper()
	l := logFileNames(t, dir)
	if len(l) != 1 {
		t.Fatalf("log files %v, want one", l)
	}
	return filepath.Join(dir, l[0])
}

// TestStoreRestart: after a restart (a new Service on the same directory) every answer
// is the one the node gave before, and datapoints added afterwards (including merges
// into a minute published before the restart) too.
func TestStoreRestart(t *testing.T) {
	e := newStoreEnv(t, Config{})
	e.putMix(t0)
	e.check("before restart")
	e.restart()
	if st := e.cw.StoreStats(); st.Loaded == 0 || st.BadLines != 0 || st.Points == 0 {
		t.Fatalf("stats after restart %+v", st)
	}
	e.check("after restart")
	e.putMix(t0) // merged into the minutes loaded from the log
	e.check("after more datapoints")
	e.restart()
	e.check("after a second restart")
	// PutAggregate replays as a merge: one datapoint per minute, as in memory.
	if got, want := e.cw.StoreStats().Points, e.ref.StoreStats().Points; got != want {
		t.Fatalf("%d datapoints after restarts, %d in memory only", got, want)
	}
	fi, err := os.Stat(currentLog(t, e.dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("log mode %v", fi.Mode())
	}
}

// TestStoreCrash: without Close, what Flush wrote is found by the next start (a copy of
// the directory, as a crash would leave it); what was put after it is lost.
func TestStoreCrash(t *testing.T) {
	e := newStoreEnv(t, Config{})
	e.putMix(t0)
	if err := e.cw.Flush(); err != nil {
		t.Fatal(err)
	}
	e.check("before the crash")
	crashed := filepath.Join(t.TempDir(), "crashed")
	copyDir(t, e.dir, crashed)
	if err := e.cw.Put("Late", "M", nil, t0, 1, ""); err != nil { // not flushed
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Dir = crashed
	cw, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cw.Close()
	from, to := t0.Add(-time.Hour), t0.Add(3*time.Hour)
	if got, want := answers(t, cw, from, to), answers(t, e.ref, from, to); got != want {
		t.Fatalf("after a crash:\ngot  %s\nwant %s", got, want)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ents {
		b, err := os.ReadFile(filepath.Join(from, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, en.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreFlusher: the background flusher writes without Flush or Close.
func TestStoreFlusher(t *testing.T) {
	e := newStoreEnv(t, Config{FlushInterval: 10 * time.Millisecond})
	name := currentLog(t, e.dir)
	fi, _ := os.Stat(name)
	e.putMix(t0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		fi2, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi2.Size() > fi.Size() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher wrote nothing in 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStoreTornTail: a partial last line (a crash in the middle of a write) is skipped
// and counted; the rest loads.
func TestStoreTornTail(t *testing.T) {
	e := newStoreEnv(t, Config{})
	e.putMix(t0)
	if err := e.cw.Close(); err != nil {
		t.Fatal(err)
	}
	name := currentLog(t, e.dir)
	fh, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(`{"i":1,"t":17950000000000`)
	fh.Close()
	e.open()
	if st := e.cw.StoreStats(); st.BadLines != 1 {
		t.Fatalf("stats %+v, want 1 bad line", st)
	}
	e.check("after a torn tail")
	// The torn line is gone from the rewritten log.
	if l := logFileNames(t, e.dir); len(l) != 1 || filepath.Join(e.dir, l[0]) == name {
		t.Fatalf("log files %v (was %s)", l, name)
	}
	e.restart()
	if st := e.cw.StoreStats(); st.BadLines != 0 {
		t.Fatalf("stats %+v after the rewrite", st)
	}
}

// TestStoreCorruptLines: lines that do not parse, name an unknown metric, are too long
// or hold impossible values are skipped and counted.
func TestStoreCorruptLines(t *testing.T) {
	e := newStoreEnv(t, Config{})
	e.putMix(t0)
	if err := e.cw.Close(); err != nil {
		t.Fatal(err)
	}
	name := currentLog(t, e.dir)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	bad := []string{
		"garbage\n",
		`{"i":99,"t":1,"c":1,"s":1,"lo":1,"hi":1}` + "\n", // unknown metric
		`{"i":1,"t":1,"c":0,"s":1,"lo":1,"hi":1}` + "\n",  // no samples
		`{"i":1,"c":1}` + "\n",                            // no time
		`{"m":7,"ns":"","name":"x"}` + "\n",               // no namespace
		`{"x":1}` + "\n",
		strings.Repeat("x", maxLine+10) + "\n", // too long
		"\x00\xff{\n",
	}
	out := append([]string{lines[0], lines[1]}, bad...)
	out = append(out, lines[2:]...)
	if err := os.WriteFile(name, []byte(strings.Join(out, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	e.open()
	if st := e.cw.StoreStats(); st.BadLines != len(bad) {
		t.Fatalf("stats %+v, want %d bad lines", st, len(bad))
	}
	e.check("after corrupt lines")
}

// TestStoreUnknownFormat: a log of another format or version is not read over (nor
// deleted): Open fails and says what to do.
func TestStoreUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	for _, head := range []string{`{"format":"coffer-cloudwatch-points","version":2}`, `hello`, ``} {
		name := filepath.Join(dir, "points-0000000000000007.log")
		if err := os.WriteFile(name, []byte(head+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "move it away") {
			t.Fatalf("header %q: %v", head, err)
		}
		if _, err := os.Stat(name); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreRetention: datapoints that expire while the node is down are not loaded (nor
// kept on disk), and those that expire while it runs are not answered, trimmed or not.
func TestStoreRetention(t *testing.T) {
	e := newStoreEnv(t, Config{Retention: 2 * time.Hour})
	e.putMix(t0)
	e.both(func(s *Service) error {
		return s.PutAggregate("AWS/KMS", "KeyUsageCount", nil, t0.Add(time.Hour), StatisticSet{SampleCount: 1, Sum: 1, Minimum: 1, Maximum: 1}, "Count")
	})
	e.clk.Add(time.Hour + 32*time.Minute) // t0 + 2h02m: the first two minutes have expired
	e.check("expired in memory")
	e.restart()
	e.check("expired at restart")
	if a := answers(t, e.cw, t0.Add(-time.Hour), t0.Add(3*time.Hour)); !strings.Contains(a, "Tiny") || strings.Contains(a, "Latency") {
		t.Fatalf("want Tiny (t0+3m) kept and Latency (t0+70s) expired: %s", a)
	}
	e.clk.Add(2 * time.Hour) // everything has expired
	if l, _, _ := e.ref.ListMetrics(context.Background(), ListMetricsInput{}); len(l) != 0 {
		t.Fatalf("memory-only store lists %v", l)
	}
	e.restart()
	if st := e.cw.StoreStats(); st.Points != 0 {
		t.Fatalf("stats %+v", st)
	}
	b, err := os.ReadFile(currentLog(t, e.dir))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 1 {
		t.Fatalf("the log still has %d lines:\n%s", n, b)
	}
}

// TestStoreCompaction: a log that grows is rewritten with the live datapoints only, and
// the answers stay those of the memory-only store.
func TestStoreCompaction(t *testing.T) {
	e := newStoreEnv(t, Config{CompactMinBytes: 4 << 10})
	kdims := []Dimension{{"KeyId", "k1"}}
	for i := range 3000 { // one publication per second for 50 minutes
		ts := t0.Add(time.Duration(i) * time.Second)
		e.both(func(s *Service) error {
			return s.PutAggregate("AWS/KMS", "KeyUsageCount", kdims, ts, StatisticSet{SampleCount: 2, Sum: 2, Minimum: 1, Maximum: 1}, "Count")
		})
		if i%10 == 9 {
			if err := e.cw.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.putMix(t0)
	st := e.cw.StoreStats()
	if st.Compactions < 3 || st.Bytes > 64<<10 {
		t.Fatalf("stats %+v: want several rewrites and a small log", st)
	}
	e.check("after rewrites")
	e.restart()
	e.check("after rewrites and a restart")
	if l := logFileNames(t, e.dir); len(l) != 1 {
		t.Fatalf("log files %v", l)
	}
}

// TestStoreOverflow: when more operations are queued than the flusher may hold, the
// next write rewrites the whole log and nothing is lost.
func TestStoreOverflow(t *testing.T) {
	e := newStoreEnv(t, Config{})
	e.putMix(t0)
	e.cw.mmu.Lock()
	e.cw.disk.pending = e.cw.disk.pending[:0]
	e.cw.disk.overflow = true
	e.cw.mmu.Unlock()
	e.restart()
	e.check("after an overflow")
}

// FuzzDatapointLog: the log reader never panics, and what it loads is written back
// and read again to the same datapoints.
func FuzzDatapointLog(f *testing.F) {
	head := `{"format":"coffer-cloudwatch-points","version":1}` + "\n"
	f.Add([]byte(head + `{"m":1,"ns":"AWS/KMS","name":"KeyUsageCount","dims":[{"Name":"KeyId","Value":"k"}]}` + "\n" +
		`{"i":1,"t":1795000000000000000,"c":3,"s":3,"lo":1,"hi":1,"u":"Count","a":true}` + "\n" +
		`{"i":1,"t":1795000000000000000,"c":2,"s":2,"lo":1,"hi":1,"u":"Count","a":true}` + "\n" +
		`{"i":1,"t":1795000060000000000,"c":1,"s":5,"lo":5,"hi":5,"u":"Count","v":[5]}` + "\n"))
	f.Add([]byte(head + `{"m":2,"ns":"A","name":"B"}` + "\n" + `{"i":2,"t":-5,"c":"+Inf","s":"NaN","lo":"-Inf","hi":-0,"v":[1e308,"NaN"]}` + "\n{\"i\":2,\"t\":3"))
	f.Add([]byte(head + "\n\n" + `{"m":1,"ns":"A","name":"B","dims":[{"Name":"x","Value":"\u00e9\n"}]}`))
	f.Add([]byte(`{"format":"coffer-cloudwatch-points","version":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Config{Now: func() time.Time { return time.Time{} }} // nothing expires
		s1 := New(cfg)
		s1.mmu.Lock()
		_, _, err := s1.replayLocked(bufio.NewReaderSize(bytes.NewReader(data), maxLine))
		s1.mmu.Unlock()
		if err != nil {
			return
		}
		enc1 := encodeAll(s1)
		s2 := New(cfg)
		s2.mmu.Lock()
		_, bad, err := s2.replayLocked(bufio.NewReaderSize(bytes.NewReader(enc1), maxLine))
		s2.mmu.Unlock()
		if err != nil || bad != 0 {
			t.Fatalf("rewritten log: %v, %d bad lines\n%s", err, bad, enc1)
		}
		if enc2 := encodeAll(s2); !bytes.Equal(enc1, enc2) {
			t.Fatalf("round trip:\n%s\n%s", enc1, enc2)
		}
	})
}

// encodeAll writes the service's datapoints as compactLocked does.
func encodeAll(s *Service) []byte {
	b := fmt.Appendf(nil, `{"format":%q,"version":%d}`+"\n", logFormat, logVersion)
	for i, k := range slices.Sorted(maps.Keys(s.metrics)) {
		se := s.metrics[k]
		if len(se.points) == 0 {
			continue
		}
		b = appendDef(b, uint64(i+1), se.region, se.m)
		for _, p := range se.points {
			b = appendPoint(b, uint64(i+1), p, false)
		}
	}
	return b
}

// BenchmarkPut compares the Put hot path in memory only and with the datapoint log (an
// append to the flusher's queue under the metrics lock).
func BenchmarkPut(b *testing.B) {
	for _, withDir := range []bool{false, true} {
		name := "memory"
		if withDir {
			name = "log"
		}
		b.Run(name, func(b *testing.B) {
			cfg := Config{}
			if withDir {
				cfg.Dir = b.TempDir()
			}
			s, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			dims := []Dimension{{"KeyId", "k1"}, {"Operation", "Encrypt"}}
			set := StatisticSet{SampleCount: 1, Sum: 1, Minimum: 1, Maximum: 1}
			b.Run("PutAggregate", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := s.PutAggregate("AWS/KMS", "KeyUsageCount", dims, time.Time{}, set, "Count"); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("PutMetricData", func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				// 256 metrics, so that none reaches MaxPointsPerMetric in a run of a few
				// seconds (BenchmarkPutAtCap measures that case).
				var ds [][]MetricDatum
				for i := range 256 {
					ds = append(ds, []MetricDatum{{MetricName: fmt.Sprint("Latency", i), Dimensions: dims, Value: f(3), Unit: "Milliseconds"}})
				}
				i := 0
				for b.Loop() {
					i++
					if err := s.PutMetricData(ctx, "App", ds[i%len(ds)]); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkPutAtCap: one metric already holding MaxPointsPerMetric points; each
// new point drops the oldest. Must not copy the whole series per insert.
func BenchmarkPutAtCap(b *testing.B) {
	s := New(Config{})
	base := time.Now().Add(-time.Hour)
	v := 1.0
	put := func(i int) {
		if err := s.Put("Custom/Bench", "Load", nil, base.Add(time.Duration(i)*time.Millisecond), v, "Count"); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < s.cfg.MaxPointsPerMetric; i++ {
		put(i)
	}
	b.ReportAllocs()
	i := s.cfg.MaxPointsPerMetric
	for b.Loop() {
		put(i)
		i++
	}
}
