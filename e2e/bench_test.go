package e2e

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
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
// rounds run in ABBA order, every cell of both nodes is error-free, each
// comparison holds one ratio per round, and the peak line names each node's
// best cell.
func TestBenchCompareNodes(t *testing.T) {
	on := startServer(t, "", nil)
	off := startServer(t, "", nil, "--audit=false")
	if h, code := off.health(); code != 200 || h.Audit != "off" {
		t.Fatalf("health of a node without the trail: %d %+v", code, h)
	}
	cmd := exec.Command(cofferBin, "bench", "--endpoint", on.url, "--data-dir", on.dataDir,
		"--compare-endpoint", off.url, "--compare-data-dir", off.dataDir, "--rounds", "3",
		"--ops", "encrypt", "--concurrency", "2,4", "--duration", "300ms", "--max-requests", "200", "--output", "json")
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
			Conc      int      `json:"concurrency"`
			RPS       float64  `json:"req_per_sec"`
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
		Peaks []struct {
			Op    string  `json:"op"`
			ARPS  float64 `json:"a_req_per_sec"`
			AConc int     `json:"a_concurrency"`
			BRPS  float64 `json:"b_req_per_sec"`
			BConc int     `json:"b_concurrency"`
			Ratio float64 `json:"ratio"`
		} `json:"peaks"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Endpoint != on.url || rep.CompareEndpoint != off.url || rep.Rounds != 3 || len(rep.Cells) != 4 || len(rep.Comparisons) != 2 {
		t.Fatalf("report: %s", out)
	}
	best := map[string]float64{}
	bestConc := map[string]int{}
	for i, want := range []string{on.url, off.url, on.url, off.url} {
		c := rep.Cells[i]
		if c.Endpoint != want || c.Rounds != 3 || c.Requests < 30 || c.Requests > 600 || c.Errors != 0 || c.ServerCPU == nil || *c.ServerCPU <= 0 {
			t.Errorf("cell %d: %+v", i, c)
		}
		if c.RPS > best[c.Endpoint] {
			best[c.Endpoint], bestConc[c.Endpoint] = c.RPS, c.Conc
		}
	}
	for _, cmp := range rep.Comparisons {
		if cmp.Op != "encrypt" || cmp.RPS == nil || cmp.CPU == nil || len(cmp.RPS.Rounds) != 3 || len(cmp.CPU.Rounds) != 3 ||
			cmp.RPS.Min <= 0 || cmp.RPS.Min > cmp.RPS.Median || cmp.RPS.Median > cmp.RPS.Max || cmp.CPU.Min <= 0 {
			t.Errorf("comparison: %s", out)
		}
	}
	if len(rep.Peaks) != 1 {
		t.Fatalf("peaks: %s", out)
	}
	if p := rep.Peaks[0]; p.Op != "encrypt" || p.ARPS != best[on.url] || p.AConc != bestConc[on.url] || p.BRPS != best[off.url] ||
		p.BConc != bestConc[off.url] || p.Ratio <= 0 || math.Abs(p.Ratio-p.ARPS/p.BRPS) > 1e-9 {
		t.Errorf("peak %+v, best cells %v at %v", p, best, bestConc)
	}
	// ABBA: round 1 endpoint then compare, round 2 the other way round, round 3 as round 1.
	var order []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, " requests, ") && strings.Contains(l, "round ") {
			f := strings.Fields(l)
			order = append(order, f[4]+":"+f[5][:len(f[5])-1])
		}
	}
	abba := "1/3:endpoint 1/3:compare 2/3:compare 2/3:endpoint 3/3:endpoint 3/3:compare"
	if got := strings.Join(order, " "); got != abba+" "+abba {
		t.Errorf("round order %q:\n%s", got, stderr.String())
	}
	// Each node's keys were created and scheduled for deletion on that node.
	for _, u := range []string{on.url, off.url} {
		if !strings.Contains(stderr.String(), "at "+u+" for deletion in 7 days") {
			t.Errorf("no key scheduled for deletion at %s:\n%s", u, stderr.String())
		}
	}
}

// TestBenchOtherNodesCredentials: bench pointed at one node with another
// node's dev-credentials fails before measuring, and says where the refused
// access key id came from.
func TestBenchOtherNodesCredentials(t *testing.T) {
	s := startServer(t, "", nil)
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "dev-credentials"),
		[]byte(`{"root_access_key_id":"AKIAIOSFODNN7EXAMPLE","root_secret_access_key":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cofferBin, "bench", "--endpoint", s.url, "--data-dir", other,
		"--ops", "encrypt", "--concurrency", "1", "--duration", "200ms", "--max-requests", "10")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("bench with another node's credentials succeeded:\n%s", out)
	}
	for _, want := range []string{"UnrecognizedClientException", filepath.Join(other, "dev-credentials"), s.url} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
