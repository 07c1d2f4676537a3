// Package cpuload tells whether this machine's CPUs are saturated, from the
// kernel's CPU time counters (/proc/stat on Linux), sampled periodically.
//
// The audit journal uses it to decide whether holding a group commit back
// for more events is worth its latency: on a saturated machine the CPU a
// commit saves goes to queued requests at once.
package cpuload

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// SaturatedIdle is the idle share below which Saturated reports true.
const SaturatedIdle = 0.10

// Sampler samples the machine's CPU times periodically and keeps the idle
// share of the last interval. A nil Sampler reports an idle machine.
type Sampler struct {
	idle atomic.Int64 // idle share of the last interval, in millionths
}

// Start samples /proc/stat every interval until ctx ends. Where it cannot be
// read, the machine counts as idle.
func Start(ctx context.Context, interval time.Duration) *Sampler {
	return start(ctx, "/proc/stat", interval)
}

func start(ctx context.Context, path string, interval time.Duration) *Sampler {
	s := &Sampler{}
	s.idle.Store(1e6)
	idle, total, ok := read(path)
	if ok {
		go s.run(ctx, path, interval, idle, total)
	}
	return s
}

// Idle returns the share (0 to 1) of the machine's CPU time that was idle or
// waiting for I/O during the last interval.
func (s *Sampler) Idle() float64 {
	if s == nil {
		return 1
	}
	return float64(s.idle.Load()) / 1e6
}

// Saturated reports whether less than SaturatedIdle of the CPU time was idle
// during the last interval.
func (s *Sampler) Saturated() bool { return s.Idle() < SaturatedIdle }

func (s *Sampler) run(ctx context.Context, path string, interval time.Duration, prevIdle, prevTotal uint64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idle, total, ok := read(path)
		if !ok {
			s.idle.Store(1e6)
			return
		}
		if total > prevTotal && idle >= prevIdle {
			share := float64(idle-prevIdle) / float64(total-prevTotal)
			s.idle.Store(int64(min(share, 1) * 1e6))
		}
		prevIdle, prevTotal = idle, total
	}
}

// read returns the idle (idle + iowait) and total time, in clock ticks, of
// the aggregate "cpu" line of a /proc/stat file.
func read(path string) (idle, total uint64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	return parseStat(b)
}

// parseStat reads the aggregate "cpu" line, the first of /proc/stat's text.
func parseStat(b []byte) (idle, total uint64, ok bool) {
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := bytes.Fields(line)
	// cpu user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user and nice.
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil || total+n < total {
			return 0, 0, false // not a number, or a sum past 2^64
		}
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return idle, total, total > 0
}
