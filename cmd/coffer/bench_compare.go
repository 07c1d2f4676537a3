package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// benchRatio is a ratio measured once per round: the median, the extremes and
// every round's value.
type benchRatio struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Rounds []float64 `json:"rounds"`
}

func newBenchRatio(rounds []float64) *benchRatio {
	if len(rounds) == 0 {
		return nil
	}
	s := slices.Clone(rounds)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &benchRatio{Median: m, Min: s[0], Max: s[len(s)-1], Rounds: rounds}
}

// benchComparison compares the --endpoint node (A) with the --compare-endpoint
// node (B) on one (op, concurrency) cell, round by round: each round ran A and
// B one after the other, so their ratio is free of the drifts between rounds.
type benchComparison struct {
	Op          string `json:"op"`
	Concurrency int    `json:"concurrency"`
	// ReqPerSecRatio is A's req/s over B's: 0.85 means A served 15% fewer
	// requests per second.
	ReqPerSecRatio *benchRatio `json:"req_per_sec_ratio"`
	// ServerCPURatio is A's server CPU per request over B's (null when a
	// server did not report its CPU time).
	ServerCPURatio *benchRatio `json:"server_cpu_ratio"`
}

// compareCells pairs the rounds of a (the --endpoint node) and b (the
// --compare-endpoint node) of one (op, concurrency) cell.
func compareCells(a, b benchCell) benchComparison {
	cmp := benchComparison{Op: a.Op, Concurrency: a.Concurrency}
	var rps, cpu []float64
	cpuOK := true
	for i := range min(len(a.runs), len(b.runs)) {
		ra, rb := a.runs[i], b.runs[i]
		na, nb := len(ra.latencies), len(rb.latencies)
		if ra.err != nil || rb.err != nil || na == 0 || nb == 0 || ra.elapsed <= 0 || rb.elapsed <= 0 {
			continue // a round that failed on either node has no ratio
		}
		rps = append(rps, (float64(na)/ra.elapsed.Seconds())/(float64(nb)/rb.elapsed.Seconds()))
		if ra.cpuOK && rb.cpuOK && rb.serverCPU > 0 {
			cpu = append(cpu, (ra.serverCPU/float64(na))/(rb.serverCPU/float64(nb)))
		} else {
			cpuOK = false
		}
	}
	cmp.ReqPerSecRatio = newBenchRatio(rps)
	if cpuOK {
		cmp.ServerCPURatio = newBenchRatio(cpu)
	}
	return cmp
}

// benchPeak compares the two nodes' throughput on one op: each node's best
// cell over the concurrencies measured (req/s over all its rounds). Unlike
// the per-cell ratios it is not paired by round, so it carries the machine's
// drift between cells; it answers "how much capacity does A lose", which a
// fixed concurrency below saturation does not (there the loss is latency).
type benchPeak struct {
	Op           string  `json:"op"`
	AReqPerSec   float64 `json:"a_req_per_sec"`
	AConcurrency int     `json:"a_concurrency"`
	BReqPerSec   float64 `json:"b_req_per_sec"`
	BConcurrency int     `json:"b_concurrency"`
	// Ratio is AReqPerSec/BReqPerSec.
	Ratio float64 `json:"ratio"`
}

// peakComparisons returns, for each op measured at two or more concurrencies
// on both nodes, the best cells of A (r.Endpoint) and B (r.CompareEndpoint).
func peakComparisons(r *benchReport) []benchPeak {
	if r.CompareEndpoint == "" {
		return nil
	}
	type best struct {
		rps   float64
		conc  int
		cells int
	}
	var ops []string
	a, b := map[string]*best{}, map[string]*best{}
	for _, c := range r.Cells {
		var m map[string]*best
		switch c.Endpoint {
		case r.Endpoint:
			m = a
		case r.CompareEndpoint:
			m = b
		default:
			continue
		}
		if c.ReqPerSec <= 0 {
			continue
		}
		x := m[c.Op]
		if x == nil {
			x = &best{}
			m[c.Op] = x
			if c.Endpoint == r.Endpoint {
				ops = append(ops, c.Op)
			}
		}
		x.cells++
		if c.ReqPerSec > x.rps {
			x.rps, x.conc = c.ReqPerSec, c.Concurrency
		}
	}
	var out []benchPeak
	for _, op := range ops {
		pa, pb := a[op], b[op]
		if pb == nil || pa.cells < 2 || pb.cells < 2 {
			continue
		}
		out = append(out, benchPeak{Op: op, AReqPerSec: pa.rps, AConcurrency: pa.conc,
			BReqPerSec: pb.rps, BConcurrency: pb.conc, Ratio: pa.rps / pb.rps})
	}
	return out
}

// writeBenchComparisons prints the comparison section of the table output.
func writeBenchComparisons(w io.Writer, r *benchReport) error {
	if len(r.Comparisons) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\n%s (A) against %s (B), %d rounds in ABBA order, median (min-max) of the per-round ratios A/B:\n",
		r.Endpoint, r.CompareEndpoint, r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "OP\tCONC\tREQ/S A/B\tSERVER-CPU/REQ A/B\t")
	for _, c := range r.Comparisons {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t\n", c.Op, c.Concurrency, c.ReqPerSecRatio.text(), c.ServerCPURatio.text())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "REQ/S A/B 0.85 means A served 15% fewer requests per second than B under the same load;")
	fmt.Fprintln(w, "SERVER-CPU/REQ A/B 1.20 means A's server spent 20% more CPU per request.")
	if len(r.Peaks) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\npeak throughput: each node's best cell over the concurrencies measured (all rounds; not paired by round):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "OP\tA REQ/S (CONC)\tB REQ/S (CONC)\tPEAK A/B\t")
	for _, p := range r.Peaks {
		fmt.Fprintf(tw, "%s\t%.0f (%d)\t%.0f (%d)\t%.2f\t\n", p.Op, p.AReqPerSec, p.AConcurrency, p.BReqPerSec, p.BConcurrency, p.Ratio)
	}
	return tw.Flush()
}

func (r *benchRatio) text() string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f (%.2f-%.2f)", r.Median, r.Min, r.Max)
}
