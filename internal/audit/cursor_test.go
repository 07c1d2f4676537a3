package audit

import (
	"testing"
	"time"
)

func TestReadSinceAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{SegmentBytes: 600})
	evs := appendN(t, j, 20, sampleEvent)
	var got []Record
	pos := Position{}
	for {
		recs, next, err := j.ReadSince(pos, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			if next != pos {
				t.Fatalf("empty read moved %v -> %v", pos, next)
			}
			break
		}
		got = append(got, recs...)
		pos = next
	}
	if len(got) != len(evs) || j.Stats().Segments < 3 {
		t.Fatalf("read %d of %d records over %d segments", len(got), len(evs), j.Stats().Segments)
	}
	for i, r := range got {
		if !r.EventTime.Equal(evs[i].EventTime) || string(r.Line) == "" {
			t.Fatalf("record %d out of order", i)
		}
	}
	if pos != j.End() {
		t.Fatalf("position %v, end %v", pos, j.End())
	}
	j.Close()
	// After a restart the saved position still points after every record read.
	j = openT(t, dir, Options{SegmentBytes: 600})
	more := appendN(t, j, 3, sampleEvent)
	recs, _, err := j.ReadSince(pos, 100)
	if err != nil || len(recs) != len(more) {
		t.Fatalf("after reopen: %d records, want %d (%v)", len(recs), len(more), err)
	}
	if p := j.PositionAt(time.Now().Add(time.Hour)); p.Seg == 0 && j.Stats().Segments > 1 {
		t.Fatalf("PositionAt(future) = %v", p)
	}
	if p := j.PositionAt(time.Unix(0, 0)); p != (Position{}) {
		t.Fatalf("PositionAt(epoch) = %v", p)
	}
}

// ReadSince reads about what it returns (in chunks, growing for a line longer than a
// chunk), not the rest of the segment, and still returns every record once, in order.
func TestReadSinceReadsInChunks(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{SegmentBytes: 1 << 30})
	evs := appendN(t, j, 400, sampleEvent)
	defer func(c int, f func(string, int64, int64) ([]byte, error)) { readChunk, readRangeFn = c, f }(readChunk, readRangeFn)
	readChunk = 100 // shorter than a line
	var read int64
	readRangeFn = func(p string, from, to int64) ([]byte, error) {
		read += to - from
		return readRange(p, from, to)
	}
	recs, pos, err := j.ReadSince(Position{}, 3)
	if err != nil || len(recs) != 3 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if read > 4*pos.Off+1024 {
		t.Fatalf("read %d bytes to return %d", read, pos.Off)
	}
	got := recs
	for {
		recs, next, err := j.ReadSince(pos, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		got, pos = append(got, recs...), next
	}
	if len(got) != len(evs) || pos != j.End() {
		t.Fatalf("read %d of %d records, position %v of %v", len(got), len(evs), pos, j.End())
	}
	for i, r := range got {
		if !r.EventTime.Equal(evs[i].EventTime) {
			t.Fatalf("record %d out of order", i)
		}
	}
}
