package audit

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// directOrSkip opens path for direct writes, skipping where the file system
// does not allow them.
func directOrSkip(t *testing.T, path string) *directWriter {
	t.Helper()
	w := openDirect(path)
	if w == nil {
		t.Skip("no O_DIRECT on this file system or OS")
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// Appends of every size, across block boundaries, leave exactly the data
// followed by zeros, in a pre-zeroed segment and in a growing one.
func TestDirectWriterAppends(t *testing.T) {
	for _, prealloc := range []int{0, 256 << 10} {
		path := filepath.Join(t.TempDir(), "seg")
		if err := os.WriteFile(path, make([]byte, prealloc), 0o600); err != nil {
			t.Fatal(err)
		}
		w := directOrSkip(t, path)
		r := rand.New(rand.NewSource(int64(prealloc)))
		var want []byte
		for _, n := range []int{1, 4095, 1, 4096, 4097, 100, 8192, 3000, 5000, 1, 12345, 20000} {
			p := make([]byte, n)
			for i := range p {
				p[i] = byte('a' + r.Intn(26))
			}
			if err := w.writeAt(p, int64(len(want))); err != nil {
				t.Fatal(err)
			}
			want = append(want, p...)
			got, err := os.ReadFile(path) // through the page cache, as readers do
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:len(want)], want) {
				t.Fatalf("prealloc %d: data differs after %d bytes", prealloc, len(want))
			}
			if rest := got[len(want):]; bytes.IndexFunc(rest, func(c rune) bool { return c != 0 }) >= 0 {
				t.Fatalf("prealloc %d: non-zero bytes after the data", prealloc)
			}
			if len(got) < prealloc {
				t.Fatalf("the file shrank to %d", len(got))
			}
		}
		// Only appends: a write elsewhere is refused, not misplaced.
		if err := w.writeAt([]byte("x"), 3); err == nil {
			t.Fatal("a write before the end was accepted")
		}
	}
}

// The journal writes through O_DIRECT by default and through the page cache
// with NoDirectIO; both serve the same events after a reopen.
func TestJournalDirectIO(t *testing.T) {
	for _, noDirect := range []bool{false, true} {
		dir := t.TempDir()
		j := openT(t, dir, Options{SegmentBytes: 16 << 10, NoDirectIO: noDirect})
		direct := j.dio != nil
		if noDirect && direct {
			t.Fatal("NoDirectIO: the journal writes with O_DIRECT")
		}
		if !noDirect && !direct {
			f, err := os.CreateTemp(dir, "probe")
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if w := openDirect(f.Name()); w != nil {
				w.Close()
				t.Fatal("O_DIRECT works here, but the journal does not use it")
			}
		}
		evs := appendN(t, j, 200, sampleEvent)
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		j2 := openT(t, dir, Options{SegmentBytes: 16 << 10, NoDirectIO: noDirect})
		got := lookupAll(t, j2, LookupInput{})
		if len(got) != len(evs) {
			t.Fatalf("direct=%v: %d events after reopen, want %d", direct, len(got), len(evs))
		}
		if st := j2.Stats(); st.BadLines != 0 {
			t.Fatalf("direct=%v: %d bad lines", direct, st.BadLines)
		}
	}
}

// Events written with O_DIRECT are read back through the page cache by
// lookups at once, while other appends rewrite the same last block: the
// kernel keeps the two views coherent, and nothing stale is read.
func TestDirectWritesReadBackAtOnce(t *testing.T) {
	j := openT(t, t.TempDir(), Options{SegmentBytes: 256 << 10})
	if j.dio == nil {
		t.Skip("no O_DIRECT on this file system or OS")
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				e := sampleEvent(i)
				e.RequestID = fmt.Sprintf("g%d-%d", g, i)
				if err := j.Append(t.Context(), e); err != nil {
					t.Error(err)
					return
				}
				out, _, err := j.Lookup(LookupInput{Attributes: []LookupAttribute{{AttrEventID, e.EventID}}})
				if err != nil || len(out) != 1 || out[0].RequestID != e.RequestID {
					t.Errorf("event %s just appended: %v %v", e.RequestID, out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := j.Stats(); st.Events != 8*60 || st.Segments < 2 {
		t.Fatalf("%+v (want several segments, so that rolls happened under reads)", st)
	}
}
