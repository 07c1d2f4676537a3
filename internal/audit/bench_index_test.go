package audit

import (
	"os"
	"testing"
	"time"
)

// benchEntries are n index entries of realistic events, one per second, in
// regions taken in turn from regions.
func benchEntries(n int, regions ...string) []newEntry {
	out := make([]newEntry, n)
	for i := range out {
		e := benchEvent()
		e.AWSRegion = regions[i%len(regions)]
		e.normalize(t0.Add(time.Duration(i) * time.Second))
		out[i] = entryOf(e)
		out[i].n = 1000
	}
	return out
}

// BenchmarkIndexAdd is the index's part of a commit: one event indexed
// (under the journal's lock), with one region and with two.
func BenchmarkIndexAdd(b *testing.B) {
	for _, c := range []struct {
		name    string
		regions []string
	}{{"regions=1", []string{"us-east-1"}}, {"regions=2", []string{"us-east-1", "us-west-2"}}} {
		b.Run(c.name, func(b *testing.B) {
			ents := benchEntries(4096, c.regions...)
			b.ReportAllocs()
			b.ResetTimer()
			x := &index{}
			for i := 0; i < b.N; i++ {
				if x.len() == 16*chunkSize { // a segment's worth; then a new one
					x = &index{}
				}
				ne := ents[i%len(ents)]
				ne.t += int64(i / len(ents) * len(ents))
				ne.off = int64(x.len()) * 1001
				x.add(&ne)
			}
		})
	}
}

// BenchmarkLookupPage is a LookupEvents page of 50 (no attribute) over
// 5,000 events in the active segment, in two regions.
func BenchmarkLookupPage(b *testing.B) {
	j := openT(b, b.TempDir(), Options{NoPreallocate: true, Sync: func(*os.File) error { return nil }})
	appendN(b, j, 5000, func(i int) *Event {
		e := benchEvent()
		e.EventTime = t0.Add(time.Duration(i) * time.Second)
		if i%2 == 1 {
			e.AWSRegion = "us-west-2"
		}
		return e
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if evs, _, err := j.Lookup(LookupInput{}); err != nil || len(evs) != 50 {
			b.Fatal(len(evs), err)
		}
	}
}

// BenchmarkLookupPageRegion is BenchmarkLookupPage in one of the two regions.
func BenchmarkLookupPageRegion(b *testing.B) {
	j := openT(b, b.TempDir(), Options{NoPreallocate: true, Sync: func(*os.File) error { return nil }})
	appendN(b, j, 5000, func(i int) *Event {
		e := benchEvent()
		e.EventTime = t0.Add(time.Duration(i) * time.Second)
		if i%2 == 1 {
			e.AWSRegion = "us-west-2"
		}
		return e
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if evs, _, err := j.Lookup(LookupInput{Region: "us-west-2"}); err != nil || len(evs) != 50 {
			b.Fatal(len(evs), err)
		}
	}
}
