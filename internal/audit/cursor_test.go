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
