package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestBenchAgainstDevNode runs `coffer bench` as the README shows, bounded to a
// few hundred requests per cell, and checks every cell reached the node without
// errors and reports the server's CPU per request — including both floors
// (net/http and the minimal loop) measured side by side.
func TestBenchAgainstDevNode(t *testing.T) {
	s := startServer(t, "", nil)
	cmd := exec.Command(cofferBin, "bench", "--endpoint", s.url, "--data-dir", s.dataDir,
		"--ops", "raw-floor,http-floor,encrypt,sign", "--concurrency", "1,4", "--duration", "2s", "--max-requests", "300",
		"--output", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("coffer bench: %v\n%s\n%s", err, out, stderr.String())
	}
	var rep struct {
		Cells []struct {
			Op          string   `json:"op"`
			Concurrency int      `json:"concurrency"`
			Requests    int      `json:"requests"`
			Errors      int      `json:"errors"`
			ServerCPU   *float64 `json:"server_cpu_us_per_req"`
			Baseline    string   `json:"baseline"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rep.Cells) != 8 {
		t.Fatalf("want 4 ops x 2 concurrencies, got %d cells: %s", len(rep.Cells), out)
	}
	for _, c := range rep.Cells {
		if c.Requests < 10 || c.Requests > 300 || c.Errors != 0 || c.ServerCPU == nil || *c.ServerCPU <= 0 {
			t.Errorf("cell %s c=%d: %d requests, %d errors, server CPU %v", c.Op, c.Concurrency, c.Requests, c.Errors, c.ServerCPU)
		}
	}
	for _, want := range []string{"started the http-floor server", "started the raw-floor server", "scheduled key"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestBenchCompareNodes measures the cost of the durable trail as the docs do:
// one node with audit on, one with --audit=false, in alternating rounds. The
// rounds run in ABBA order, every cell of both nodes is error-free, and the
// comparison holds one ratio per round.
func TestBenchCompareNodes(t *testing.T) {
	on := startServer(t, "", nil)
	off := startServer(t, "", nil, "--audit=false")
	cmd := exec.Command(cofferBin, "bench", "--endpoint", on.url, "--data-dir", on.dataDir,
		"--compare-endpoint", off.url, "--compare-data-dir", off.dataDir, "--rounds", "3",
		"--ops", "encrypt", "--concurrency", "4", "--duration", "300ms", "--max-requests", "200", "--output", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("coffer bench: %v\n%s\n%s", err, out, stderr.String())
	}
	var rep struct {
		Endpoint        string `json:"endpoint"`
		CompareEndpoint string `json:"compare_endpoint"`
		Rounds          int    `json:"rounds"`
		Cells           []struct {
			Op        string   `json:"op"`
			Endpoint  string   `json:"endpoint"`
			Rounds    int      `json:"rounds"`
			Requests  int      `json:"requests"`
			Errors    int      `json:"errors"`
			ServerCPU *float64 `json:"server_cpu_us_per_req"`
		} `json:"cells"`
		Comparisons []struct {
			Op  string `json:"op"`
			RPS *struct {
				Median, Min, Max float64
				Rounds           []float64
			} `json:"req_per_sec_ratio"`
			CPU *struct {
				Median, Min, Max float64
				Rounds           []float64
			} `json:"server_cpu_ratio"`
		} `json:"comparisons"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Endpoint != on.url || rep.CompareEndpoint != off.url || rep.Rounds != 3 || len(rep.Cells) != 2 || len(rep.Comparisons) != 1 {
		t.Fatalf("report: %s", out)
	}
	for i, want := range []string{on.url, off.url} {
		c := rep.Cells[i]
		if c.Endpoint != want || c.Rounds != 3 || c.Requests < 30 || c.Requests > 600 || c.Errors != 0 || c.ServerCPU == nil || *c.ServerCPU <= 0 {
			t.Errorf("cell %d: %+v", i, c)
		}
	}
	cmp := rep.Comparisons[0]
	if cmp.Op != "encrypt" || cmp.RPS == nil || cmp.CPU == nil || len(cmp.RPS.Rounds) != 3 || len(cmp.CPU.Rounds) != 3 ||
		cmp.RPS.Min <= 0 || cmp.RPS.Min > cmp.RPS.Median || cmp.RPS.Median > cmp.RPS.Max || cmp.CPU.Min <= 0 {
		t.Errorf("comparison: %s", out)
	}
	// ABBA: round 1 endpoint then compare, round 2 the other way round, round 3 as round 1.
	var order []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, " requests, ") && strings.Contains(l, "round ") {
			f := strings.Fields(l)
			order = append(order, f[4]+":"+f[5][:len(f[5])-1])
		}
	}
	if got := strings.Join(order, " "); got != "1/3:endpoint 1/3:compare 2/3:compare 2/3:endpoint 3/3:endpoint 3/3:compare" {
		t.Errorf("round order %q:\n%s", got, stderr.String())
	}
	// Each node's keys were created and scheduled for deletion on that node.
	for _, u := range []string{on.url, off.url} {
		if !strings.Contains(stderr.String(), "at "+u+" for deletion in 7 days") {
			t.Errorf("no key scheduled for deletion at %s:\n%s", u, stderr.String())
		}
	}
}
