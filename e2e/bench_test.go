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
