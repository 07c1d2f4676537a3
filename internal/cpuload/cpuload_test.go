package cpuload

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, text  string
		idle, total uint64
		ok          bool
	}{
		{"linux", "cpu  2264775 0 931124 5001678 95460 0 65819 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n", 5001678 + 95460, 2264775 + 931124 + 5001678 + 95460 + 65819, true},
		{"old kernel, four fields", "cpu 10 20 30 40\n", 40, 100, true},
		{"not the cpu line", "intr 1 2 3 4 5\n", 0, 0, false},
		{"too short", "cpu 1 2 3\n", 0, 0, false},
		{"garbage", "cpu 1 2 x 4 5\n", 0, 0, false},
		{"empty", "", 0, 0, false},
		{"past 2^64", "cpu 18446744073709551615 0 0 5 0\n", 0, 0, false},
	} {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, []byte(c.text), 0o600)
		idle, total, ok := read(p)
		if ok != c.ok || ok && (idle != c.idle || total != c.total) {
			t.Errorf("%s: got %d %d %v, want %d %d %v", c.name, idle, total, ok, c.idle, c.total, c.ok)
		}
	}
	if _, _, ok := read(filepath.Join(dir, "missing")); ok {
		t.Error("missing file read")
	}
}

// FuzzParseStat: any text gives either no counters or an idle time within
// the total, which the sampler's share depends on.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte("cpu  2264775 0 931124 5001678 95460 0 65819 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	f.Add([]byte("cpu 10 20 30 40\n"))
	f.Add([]byte("cpu 18446744073709551615 0 0 5 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		idle, total, ok := parseStat(b)
		if ok && (total == 0 || idle > total) {
			t.Fatalf("%q: idle %d, total %d", b, idle, total)
		}
	})
}

// TestSampler: the idle share follows the counters' differences between
// samples, and a machine whose counters cannot be read counts as idle.
func TestSampler(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stat")
	write := func(busy, idle int) {
		t.Helper()
		// user nice system idle iowait ...: busy in user, idle split in idle and iowait.
		text := "cpu  " + itoa(busy) + " 0 0 " + itoa(idle/2) + " " + itoa(idle-idle/2) + " 0 0 0 0 0\n"
		if err := os.WriteFile(p+".tmp", []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Rename(p+".tmp", p)
	}
	write(1000, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := start(ctx, p, 5*time.Millisecond)
	if s.Idle() != 1 || s.Saturated() {
		t.Fatalf("before the first interval: idle %v", s.Idle())
	}
	waitFor := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for s.Idle() != want {
			if time.Now().After(deadline) {
				t.Fatalf("idle %v, want %v", s.Idle(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	write(1095, 1005) // +95 busy, +5 idle: 5% idle
	waitFor(0.05)
	if !s.Saturated() {
		t.Fatal("5% idle is not saturated")
	}
	write(1195, 1105) // +100 busy, +100 idle
	waitFor(0.5)
	if s.Saturated() {
		t.Fatal("50% idle is saturated")
	}
	os.Remove(p)
	waitFor(1)

	var none *Sampler
	if none.Idle() != 1 || none.Saturated() {
		t.Fatal("nil sampler")
	}
	if s := start(ctx, filepath.Join(t.TempDir(), "missing"), time.Millisecond); s.Saturated() || s.Idle() != 1 {
		t.Fatal("unreadable counters")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
