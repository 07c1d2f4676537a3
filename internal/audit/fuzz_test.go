package audit

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzScanSegment: arbitrary bytes after a valid prefix must not panic, the
// prefix records must be recovered first and in order, and the recovered end
// must be a line boundary within the data.
func FuzzScanSegment(f *testing.F) {
	f.Add(2, []byte(""))
	f.Add(1, []byte("{\"eventID\":\"x\""))
	f.Add(0, []byte("\n\n\x00{}\n{\"eventID\":\"a\",\"eventTime\":\"2026-01-01T00:00:00Z\"}\n"))
	f.Add(3, []byte("{\"eventID\":\"b\",\"eventTime\":\"bad\"}\ntrailing"))
	f.Fuzz(func(t *testing.T, n int, tail []byte) {
		if n < 0 || n > 5 {
			n = 3
		}
		var data []byte
		var want []string
		for i := 0; i < n; i++ {
			e := sampleEvent(i)
			e.normalize(t0)
			b, _ := json.Marshal(e)
			data = append(append(data, b...), '\n')
			want = append(want, e.EventID)
		}
		prefix := len(data)
		data = append(data, tail...)
		var got []string
		var lastOff int64 = -1
		end, bad := scanSegment(data, func(off int64, line []byte, e *Event) {
			if off <= lastOff || off+int64(len(line)) >= int64(len(data)) || data[off+int64(len(line))] != '\n' {
				t.Fatalf("bad offset %d", off)
			}
			lastOff = off
			got = append(got, e.EventID)
		})
		if end < int64(prefix) || end > int64(len(data)) || (end > 0 && data[end-1] != '\n') {
			t.Fatalf("end %d (prefix %d, len %d)", end, prefix, len(data))
		}
		if bytes.IndexByte(data[end:], '\n') >= 0 {
			t.Fatalf("newline after end")
		}
		if bad < 0 || len(got) < len(want) {
			t.Fatalf("recovered %d of %d prefix records", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("record %d: %s != %s", i, got[i], want[i])
			}
		}
	})
}
