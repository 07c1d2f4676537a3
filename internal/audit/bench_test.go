package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchEvent is a realistic KMS Encrypt record (~1 KB of JSON).
func benchEvent() *Event {
	e := sampleEvent(0)
	e.EventTime = time.Time{}
	e.UserAgent = "aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.26 md/GOOS#linux md/GOARCH#amd64 api/kms#1.62.4"
	return e
}

func benchJournal(b *testing.B, delay ...time.Duration) (*Journal, *atomic.Int64) {
	var d time.Duration
	if len(delay) > 0 {
		d = delay[0]
	}
	return benchJournalWith(b, Options{CommitDelay: d})
}

// benchJournalWith opens a journal with o, counting its syncs.
func benchJournalWith(b *testing.B, o Options) (*Journal, *atomic.Int64) {
	var syncs atomic.Int64
	o.Sync = func(f *os.File) error {
		syncs.Add(1)
		return fdatasync(f) // the default
	}
	j, err := Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { j.Close() })
	j.waitSpare() // its one-off zero-filling is not the per-event cost
	return j, &syncs
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds events/s, fsyncs/event and process CPU µs per event (user +
// system, all goroutines: what durable audit takes from request handling).
func report(b *testing.B, start time.Time, cpu0 time.Duration, syncs *atomic.Int64) {
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(b.N)/el, "events/s")
	b.ReportMetric(float64(syncs.Load())/float64(b.N), "fsyncs/event")
}

// BenchmarkAppendSerial: one appender, so one fsync per event (the cost a
// single synchronous client sees).
func BenchmarkAppendSerial(b *testing.B) {
	j, syncs := benchJournal(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		if err := j.Append(ctx, benchEvent()); err != nil {
			b.Fatal(err)
		}
	}
	report(b, start, cpu0, syncs)
}

// BenchmarkAppendParallel: many concurrent appenders (as many concurrent
// requests), sharing writes and fsyncs through group commit.
func BenchmarkAppendParallel(b *testing.B) {
	for _, g := range []int{16, 64, 256} {
		for _, direct := range []bool{true, false} {
			b.Run(fmt.Sprintf("goroutines=%d/direct=%v", g, direct), func(b *testing.B) {
				j, syncs := benchJournalWith(b, Options{NoDirectIO: !direct})
				ctx := context.Background()
				b.SetParallelism((g + 1) / 2) // × GOMAXPROCS (2 on the target VM)
				b.ReportAllocs()
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := j.Append(ctx, benchEvent()); err != nil {
							b.Error(err)
							return
						}
					}
				})
				report(b, start, cpu0, syncs)
			})
		}
	}
}

// BenchmarkMarshal is the CPU part of Append done in the caller's goroutine:
// the journal's encoder side by side with encoding/json's.
func BenchmarkMarshal(b *testing.B) {
	b.Run("appendEvent", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			e := benchEvent()
			e.normalize(t0)
			if _, err := appendEvent(make([]byte, 0, 1024), e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			e := benchEvent()
			e.normalize(t0)
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLoad simulates request handling on the target VM: 64 concurrent
// requests, each doing ~work of CPU (stand-in for SigV4 + JSON + AES-GCM of
// an Encrypt) and, with audit, a durable Append. Compare req/s of the audit
// and noaudit variants to get the relative cost of durable audit.
func BenchmarkLoad(b *testing.B) {
	for _, work := range []int{100, 200} {
		for _, audit := range []bool{false, true} {
			b.Run(fmt.Sprintf("work=%dµs/audit=%v", work, audit), func(b *testing.B) {
				j, syncs := benchJournal(b)
				key := make([]byte, 32)
				iters := calibrate(key, time.Duration(work)*time.Microsecond)
				ctx := context.Background()
				b.SetParallelism(32)
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						spin(key, iters)
						if audit {
							if err := j.Append(ctx, benchEvent()); err != nil {
								b.Error(err)
								return
							}
						}
					}
				})
				report(b, start, cpu0, syncs)
			})
		}
	}
}

var sink []byte

func spin(key []byte, n int) {
	m := hmac.New(sha256.New, key)
	buf := make([]byte, 32)
	for i := 0; i < n; i++ {
		m.Reset()
		m.Write(buf)
		buf = m.Sum(buf[:0])
	}
	sink = buf
}

func calibrate(key []byte, d time.Duration) int {
	n := 1000
	for {
		s := time.Now()
		spin(key, n)
		el := time.Since(s)
		if el > 20*time.Millisecond {
			return int(float64(n) * float64(d) / float64(el))
		}
		n *= 4
	}
}

// BenchmarkOpenLoad offers requests at a fixed rate (open loop, one
// goroutine per request, as an HTTP server sees independent clients), each
// doing ~100µs of CPU and, with audit, a durable Append. It reports the
// achieved rate, CPU µs per request and mean latency: the audit cost is the
// difference in cpu-µs/event between audit=true and audit=false.
func BenchmarkOpenLoad(b *testing.B) {
	for _, rate := range []int{5000, 10000} {
		for _, v := range []struct {
			audit bool
			delay time.Duration
		}{{false, 0}, {true, -1}, {true, 0}, {true, 5 * time.Millisecond}} {
			audit := v.audit
			name := "audit=false"
			if audit {
				name = "audit=true/delay=" + map[bool]string{true: "none", false: "default"}[v.delay < 0]
				if v.delay > 0 {
					name = "audit=true/delay=" + v.delay.String()
				}
			}
			b.Run(fmt.Sprintf("rate=%d/%s", rate, name), func(b *testing.B) {
				j, syncs := benchJournal(b, v.delay)
				key := make([]byte, 32)
				iters := calibrate(key, 100*time.Microsecond)
				ctx := context.Background()
				interval := time.Second / time.Duration(rate)
				var lat atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				for i := 0; i < b.N; i++ {
					if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
						time.Sleep(d)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						t := time.Now()
						spin(key, iters)
						if audit {
							if err := j.Append(ctx, benchEvent()); err != nil {
								b.Error(err)
							}
						}
						lat.Add(int64(time.Since(t)))
					}()
				}
				wg.Wait()
				report(b, start, cpu0, syncs)
				b.ReportMetric(float64(lat.Load())/1e3/float64(b.N), "µs-latency")
			})
		}
	}
}

// BenchmarkOpen is a restart over 100,000 events (about 100 MB of journal in
// 4 MiB segments): with the segments' index files (only their headers are
// read) and, side by side, rebuilding them from the JSON (as a journal whose
// index files were lost, or every restart before there were any). heap-MiB
// is the live heap with the journal open.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	j, err := Open(dir, Options{SegmentBytes: 4 << 20})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000/64; i++ {
				if err := j.Append(context.Background(), benchEvent()); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	j.Close()
	idxs, _ := filepath.Glob(filepath.Join(dir, "*"+idxSuffix))
	for _, mode := range []string{"index-files", "rescan"} {
		b.Run(mode, func(b *testing.B) {
			var heap uint64
			for i := 0; i < b.N; i++ {
				if mode == "rescan" {
					b.StopTimer()
					for _, p := range idxs {
						os.Remove(p)
					}
					b.StartTimer()
				}
				j, err := Open(dir, Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heap = ms.HeapAlloc
				if j.Stats().Events < 99000 {
					b.Fatalf("%+v", j.Stats())
				}
				j.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		})
	}
	// A lookup that matches nothing reads every segment's index: the cost
	// of a rare attribute over the whole retention, per segment.
	j, err = Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	j.waitSpare() // not measuring the next segment's zero-filling
	segs := len(idxs)
	for _, a := range []LookupAttribute{{AttrEventName, "NoSuchEvent"}, {AttrEventID, "6f1c3b1e-1d2a-4c55-9a0b-1234567890ab"}} {
		b.Run("lookup-miss/"+a.Key, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if ev, _, err := j.Lookup(LookupInput{Attributes: []LookupAttribute{a}}); err != nil || len(ev) != 0 {
					b.Fatal(ev, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(segs), "µs/segment")
		})
	}
}
