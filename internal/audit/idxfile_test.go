package audit

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// manySegments appends n events with slightly shuffled times, attributes
// from a small set, into segments of about 4 KiB. It returns them in append
// (= commit) order.
func manySegments(t *testing.T, dir string, n int) []*Event {
	t.Helper()
	j := openT(t, dir, Options{SegmentBytes: 4 << 10, NoPreallocate: true})
	r := rand.New(rand.NewSource(7))
	var evs []*Event
	for i := 0; i < n; i++ {
		e := sampleEvent(i)
		e.EventTime = t0.Add(time.Duration(i/3-r.Intn(3)) * time.Second) // ties and small disorder
		e.EventName = []string{"Encrypt", "Decrypt", "Sign"}[r.Intn(3)]
		e.UserIdentity.UserName = fmt.Sprintf("user%d", r.Intn(4))
		if err := j.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// model is what Lookup must return: matches newest first, ties in reverse commit order.
func model(evs []*Event, keep func(*Event) bool, lo, hi time.Time) []string {
	type ev struct {
		t time.Time
		i int
		e *Event
	}
	var m []ev
	for i, e := range evs {
		if keep(e) && !e.EventTime.Before(lo) && !e.EventTime.After(hi) {
			m = append(m, ev{e.EventTime, i, e})
		}
	}
	sort.Slice(m, func(a, b int) bool {
		if !m[a].t.Equal(m[b].t) {
			return m[a].t.After(m[b].t)
		}
		return m[a].i > m[b].i
	})
	out := make([]string, len(m))
	for k, v := range m {
		out[k] = v.e.EventID
	}
	return out
}

// Closed segments' indexes live in files: a restart reads only their headers,
// keeps none of them in memory, and every lookup (each attribute, time ranges,
// every page size) returns exactly what a scan of all events would, in order.
func TestIndexFilesServeLookups(t *testing.T) {
	dir := t.TempDir()
	evs := manySegments(t, dir, 600)
	segs, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	idxs, _ := filepath.Glob(filepath.Join(dir, "audit-*.idx"))
	if len(segs) < 20 || len(idxs) != len(segs) {
		t.Fatalf("%d segments, %d index files", len(segs), len(idxs))
	}
	for _, p := range idxs {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", p, fi.Mode().Perm())
		}
	}

	j := openT(t, dir, Options{})
	if st := j.Stats(); st.Events != len(evs) || st.Segments != len(segs)+1 {
		t.Fatalf("stats after reopen: %+v", st)
	}
	for _, s := range j.segs[:len(j.segs)-1] {
		if s.idx != nil {
			t.Fatalf("segment %d's index is in memory after reopen", s.seq)
		}
	}

	all := func(*Event) bool { return true }
	cases := []struct {
		attr []LookupAttribute
		keep func(*Event) bool
	}{
		{nil, all},
		{[]LookupAttribute{{AttrEventName, "Decrypt"}}, func(e *Event) bool { return e.EventName == "Decrypt" }},
		{[]LookupAttribute{{AttrUsername, "user2"}}, func(e *Event) bool { return e.Username() == "user2" }},
		{[]LookupAttribute{{AttrEventID, evs[321].EventID}}, func(e *Event) bool { return e == evs[321] }},
		{[]LookupAttribute{{AttrUsername, "nobody"}}, func(*Event) bool { return false }},
	}
	ranges := [][2]time.Time{
		{{}, {}},
		{t0.Add(50 * time.Second), t0.Add(120 * time.Second)},
		{t0.Add(199 * time.Second), {}},
	}
	for _, c := range cases {
		for _, r := range ranges {
			for _, max := range []int{1, 7, 50} {
				lo, hi := r[0], r[1]
				if hi.IsZero() {
					hi = t0.Add(time.Hour)
				}
				want := model(evs, c.keep, lo, hi)
				var got []string
				in := LookupInput{Attributes: c.attr, StartTime: r[0], EndTime: r[1], MaxResults: max}
				for page := 0; ; page++ {
					out, next, err := j.Lookup(in)
					if err != nil {
						t.Fatal(err)
					}
					if len(out) > max || (next != "" && len(out) != max) {
						t.Fatalf("page of %d with next %q (max %d)", len(out), next, max)
					}
					for _, e := range out {
						got = append(got, e.EventID)
					}
					if next == "" {
						break
					}
					in.NextToken = next
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%v %v max %d: got %d events, want %d (or order differs)", c.attr, r, max, len(got), len(want))
				}
			}
		}
	}
	j.cacheMu.Lock()
	cached := len(j.cache)
	j.cacheMu.Unlock()
	if cached > idxCacheSegments {
		t.Fatalf("%d indexes cached", cached)
	}
}

// A damaged, truncated, missing or stale index file is rebuilt from its segment.
func TestIndexFileRebuilt(t *testing.T) {
	for _, damage := range []string{"flip", "truncate", "delete", "stale"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			evs := manySegments(t, dir, 60)
			idxs, _ := filepath.Glob(filepath.Join(dir, "audit-*.idx"))
			p := idxs[len(idxs)/2]
			good, _ := os.ReadFile(p)
			switch damage {
			case "flip":
				b := bytes.Clone(good)
				b[len(b)/2] ^= 0x40
				os.WriteFile(p, b, 0o600)
			case "truncate":
				os.WriteFile(p, good[:len(good)-9], 0o600)
			case "delete":
				os.Remove(p)
			case "stale": // the segment grew after its index was written
				f, _ := os.OpenFile(strings.TrimSuffix(p, idxSuffix)+segSuffix, os.O_WRONLY|os.O_APPEND, 0)
				e := sampleEvent(1000)
				e.normalize(t0)
				f.Write(append(mustJSON(t, e), '\n'))
				f.Close()
				evs = append(evs, e)
			}
			j := openT(t, dir, Options{})
			got := lookupAll(t, j, LookupInput{})
			if len(got) != len(evs) {
				t.Fatalf("%d events, want %d", len(got), len(evs))
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := decodeIndex(b); err != nil {
				t.Fatalf("index file not rebuilt: %v", err)
			}
		})
	}
}

// Once a segment is closed its index leaves memory (it is in its file).
func TestClosedSegmentIndexLeavesMemory(t *testing.T) {
	j := openT(t, t.TempDir(), Options{SegmentBytes: 4 << 10, NoPreallocate: true})
	appendN(t, j, 40, sampleEvent)
	j.idxWG.Wait()
	j.mu.RLock()
	defer j.mu.RUnlock()
	if len(j.segs) < 3 {
		t.Fatalf("%d segments", len(j.segs))
	}
	for _, s := range j.segs[:len(j.segs)-1] {
		if s.idx != nil {
			t.Errorf("closed segment %d keeps its index in memory", s.seq)
		}
		if _, err := os.Stat(idxPath(s.path)); err != nil {
			t.Errorf("segment %d: %v", s.seq, err)
		}
	}
}

func FuzzIndexFile(f *testing.F) {
	var x index
	for i := 0; i < 5; i++ {
		e := sampleEvent(i)
		e.normalize(t0)
		ne := entryOf(e)
		ne.off, ne.n = int64(i*100), 90
		x.add(&ne)
	}
	good := encodeIndex(&x, idxMeta{segSize: 500, oldest: x.at(0).t, newest: x.at(4).t, entries: 5})
	f.Add(good)
	f.Add(good[:idxHeaderLen])
	f.Add([]byte(idxMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, m, err := decodeIndex(b)
		if err != nil {
			return
		}
		// A file that decodes is one the encoder writes, byte for byte.
		if again := encodeIndex(x, m); !bytes.Equal(again, b) {
			t.Fatalf("decoded file re-encodes differently")
		}
		for i := 0; i < x.len(); i++ {
			e := x.at(i)
			if e.off+int64(e.n) >= m.segSize {
				t.Fatalf("entry %d out of its segment: %+v", i, *e)
			}
			x.resources(e) // in range
		}
	})
}
