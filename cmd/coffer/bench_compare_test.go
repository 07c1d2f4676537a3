package main

import (
	"bytes"
	"errors"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
)

// run makes a benchRun of n requests over elapsed with cpu seconds of server CPU.
func run(n int, elapsed time.Duration, cpu float64) benchRun {
	return benchRun{latencies: make([]time.Duration, n), elapsed: elapsed, serverCPU: cpu, cpuOK: true}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestBenchRatioMedian(t *testing.T) {
	for _, c := range []struct {
		in               []float64
		median, min, max float64
	}{
		{[]float64{0.8}, 0.8, 0.8, 0.8},
		{[]float64{0.9, 0.7, 0.8}, 0.8, 0.7, 0.9},
		{[]float64{0.9, 0.6, 0.8, 0.7}, 0.75, 0.6, 0.9},
	} {
		r := newBenchRatio(c.in)
		if !near(r.Median, c.median) || r.Min != c.min || r.Max != c.max || len(r.Rounds) != len(c.in) || r.Rounds[0] != c.in[0] {
			t.Errorf("%v: got %+v", c.in, r)
		}
	}
	if newBenchRatio(nil) != nil {
		t.Error("no rounds should give no ratio")
	}
}

func TestBenchCompareCellsPairsRounds(t *testing.T) {
	// Round 1: A 800 req/s at 100 µs/req against B 1000 req/s at 80 µs/req;
	// round 2: both halve their rate (a drift of the machine), the ratios do not move.
	a := benchCell{Op: "encrypt", Concurrency: 64, runs: []benchRun{
		run(800, time.Second, 800*100e-6), run(400, time.Second, 400*100e-6), run(900, time.Second, 900*100e-6)}}
	b := benchCell{Op: "encrypt", Concurrency: 64, runs: []benchRun{
		run(1000, time.Second, 1000*80e-6), run(500, time.Second, 500*80e-6), run(1000, time.Second, 1000*90e-6)}}
	c := compareCells(a, b)
	if c.Op != "encrypt" || c.Concurrency != 64 {
		t.Fatalf("%+v", c)
	}
	rps, cpu := c.ReqPerSecRatio, c.ServerCPURatio
	if rps == nil || cpu == nil || len(rps.Rounds) != 3 {
		t.Fatalf("%+v %+v", rps, cpu)
	}
	if !near(rps.Rounds[0], 0.8) || !near(rps.Rounds[1], 0.8) || !near(rps.Rounds[2], 0.9) || !near(rps.Median, 0.8) || !near(rps.Max, 0.9) {
		t.Errorf("req/s ratios %+v", rps)
	}
	if !near(cpu.Rounds[0], 1.25) || !near(cpu.Rounds[2], 100.0/90) || !near(cpu.Median, 1.25) {
		t.Errorf("CPU ratios %+v", cpu)
	}

	// A server that does not report CPU: no CPU ratio, still a throughput ratio.
	b.runs[1].cpuOK = false
	if c := compareCells(a, b); c.ServerCPURatio != nil || c.ReqPerSecRatio == nil {
		t.Errorf("without B's CPU time: %+v", c)
	}
}

// TestBenchCompareSkipsFailedRound: a round whose server CPU could not be read
// on one node has no ratio, and the rounds after it still pair with their own.
func TestBenchCompareSkipsFailedRound(t *testing.T) {
	tgt := &benchTarget{endpoint: mustURL(t, "http://127.0.0.1:8990")}
	failed := benchRun{err: errors.New("reaching the node: connection refused")}
	a := summarize("encrypt", 4, tgt, []benchRun{run(800, time.Second, 0.08), failed, run(900, time.Second, 0.09)})
	b := summarize("encrypt", 4, tgt, []benchRun{run(1000, time.Second, 0.08), run(500, time.Second, 0.04), run(1000, time.Second, 0.08)})
	if a.Rounds != 2 || a.Requests != 1700 || a.FirstError == "" || b.Rounds != 3 {
		t.Fatalf("summaries: %+v %+v", a, b)
	}
	c := compareCells(a, b)
	if r := c.ReqPerSecRatio; r == nil || len(r.Rounds) != 2 || !near(r.Rounds[0], 0.8) || !near(r.Rounds[1], 0.9) {
		t.Fatalf("req/s ratios %+v, want 0.8 and 0.9 (rounds 1 and 3)", r)
	}
}

func TestBenchSummarizeRounds(t *testing.T) {
	tgt := &benchTarget{endpoint: mustURL(t, "http://127.0.0.1:8990")}
	runs := []benchRun{run(300, time.Second, 300*50e-6), run(100, time.Second, 100*150e-6)}
	runs[1].errors = 2
	c := summarize("encrypt", 4, tgt, runs)
	if c.Requests != 400 || c.Errors != 2 || c.Rounds != 2 || !near(c.ReqPerSec, 200) || !c.serverCPUAvailable ||
		!near(c.ServerCPUUsPerReq, 75) || c.Endpoint != "http://127.0.0.1:8990" {
		t.Fatalf("%+v", c)
	}
	runs[0].cpuOK = false
	if c := summarize("encrypt", 4, tgt, runs); c.serverCPUAvailable {
		t.Fatal("server CPU is only known when every round read it")
	}
}

func TestBenchCompareTable(t *testing.T) {
	a := benchCell{Op: "encrypt", Concurrency: 64, Endpoint: "http://127.0.0.1:8990", Requests: 10, serverCPUAvailable: true,
		runs: []benchRun{run(850, time.Second, 0.1), run(800, time.Second, 0.1)}}
	b := benchCell{Op: "encrypt", Concurrency: 64, Endpoint: "http://127.0.0.1:8991", Requests: 10, serverCPUAvailable: true,
		runs: []benchRun{run(1000, time.Second, 0.1), run(1000, time.Second, 0.1)}}
	floor := benchCell{Op: benchFloor, Concurrency: 64, Endpoint: "http://127.0.0.1:40000"}
	r := &benchReport{Endpoint: a.Endpoint, CompareEndpoint: b.Endpoint, Rounds: 2, Cells: []benchCell{floor, a, b},
		Comparisons: []benchComparison{compareCells(a, b)}}
	var out bytes.Buffer
	if err := writeBenchTable(&out, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NODE", "A: http://127.0.0.1:8990, B: http://127.0.0.1:8991", "2 rounds in ABBA order",
		"0.82 (0.80-0.85)", "REQ/S A/B"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	lines := strings.Split(out.String(), "\n")
	var nodes []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 2 && f[2] == "64" && (f[1] == "encrypt" || f[1] == benchFloor) {
			nodes = append(nodes, f[0])
		}
	}
	if strings.Join(nodes, ",") != "-,A,B" {
		t.Errorf("NODE column %v:\n%s", nodes, out.String())
	}
}

func TestBenchCompareValidation(t *testing.T) {
	o := validBenchOptions()
	p, err := validateBench(o)
	if err != nil || p.rounds != 1 || p.compare != nil {
		t.Fatalf("without comparison: %+v %v", p, err)
	}
	o.compareEndpoint = "http://127.0.0.1:8991"
	if p, err = validateBench(o); err != nil || p.rounds != 3 || p.compare.String() != o.compareEndpoint {
		t.Fatalf("with comparison: %+v %v", p, err)
	}
	for name, c := range map[string]struct {
		mod  func(*benchOptions)
		want string
	}{
		"remote compare":      {func(o *benchOptions) { o.compareEndpoint = "http://10.0.0.2:8990" }, "--compare-endpoint"},
		"same node":           {func(o *benchOptions) { o.compareEndpoint = o.endpoint }, "two different nodes"},
		"rounds too many":     {func(o *benchOptions) { o.rounds = 21 }, "--rounds"},
		"rounds negative":     {func(o *benchOptions) { o.rounds = -1 }, "--rounds"},
		"data dir, no target": {func(o *benchOptions) { o.compareEndpoint, o.compareDataDir = "", "/tmp/x" }, "--compare-data-dir needs"},
	} {
		o := validBenchOptions()
		o.compareEndpoint = "http://127.0.0.1:8991"
		c.mod(o)
		if _, err := validateBench(o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error mentioning %s", name, err, c.want)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestBenchPeakComparisons(t *testing.T) {
	const ea, eb = "http://127.0.0.1:8990", "http://127.0.0.1:8991"
	cell := func(ep, op string, c int, rps float64) benchCell {
		return benchCell{Op: op, Concurrency: c, Endpoint: ep, ReqPerSec: rps}
	}
	r := &benchReport{Endpoint: ea, CompareEndpoint: eb, Cells: []benchCell{
		cell("http://127.0.0.1:40000", benchFloor, 16, 20000), // a floor server: neither node
		cell(ea, "encrypt", 16, 5000), cell(eb, "encrypt", 16, 7000),
		cell(ea, "encrypt", 256, 7800), cell(eb, "encrypt", 256, 8700),
		cell(ea, "encrypt", 1024, 7000), cell(eb, "encrypt", 1024, 8800),
		// One concurrency only: its ratio is the per-cell one, no peak line.
		cell(ea, "sign", 16, 3000), cell(eb, "sign", 16, 3100),
		// A failed cell (no requests) is nobody's peak.
		cell(ea, "decrypt", 16, 4000), cell(eb, "decrypt", 16, 0), cell(ea, "decrypt", 64, 4500), cell(eb, "decrypt", 64, 5000),
	}}
	got := peakComparisons(r)
	if len(got) != 1 {
		t.Fatalf("peaks %+v", got)
	}
	p := got[0]
	if p.Op != "encrypt" || p.AReqPerSec != 7800 || p.AConcurrency != 256 || p.BReqPerSec != 8800 || p.BConcurrency != 1024 || !near(p.Ratio, 7800.0/8800) {
		t.Errorf("peak %+v", p)
	}
	r.Peaks = got
	var out bytes.Buffer
	if err := writeBenchComparisons(&out, &benchReport{Endpoint: ea, CompareEndpoint: eb, Rounds: 2,
		Comparisons: []benchComparison{compareCells(r.Cells[3], r.Cells[4])}, Peaks: got}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "peak throughput") || !strings.Contains(out.String(), "7800 (256)") ||
		!strings.Contains(out.String(), "8800 (1024)") || !strings.Contains(out.String(), "0.89") {
		t.Errorf("table:\n%s", out.String())
	}
	if peakComparisons(&benchReport{Endpoint: ea, Cells: r.Cells}) != nil {
		t.Error("a run without --compare-endpoint has no peaks")
	}
}
