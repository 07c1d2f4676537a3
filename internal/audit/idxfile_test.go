package audit

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// manySegments appends n events with slightly shuffled times, attributes
// from a small set, in two regions (and a third in a few segments), into
// segments of about 4 KiB. It returns them in append (= commit) order.
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
		if i%97 == 5 { // rare values: in a few segments only
			e.UserIdentity.AccessKeyID = "AKIARARE"
			e.Resources = append(e.Resources, Resource{Type: "AWS::KMS::Alias", ARN: fmt.Sprintf("arn:aws:kms:us-east-1:111122223333:alias/rare-%d", i%2)})
		}
		if i == 250 {
			e.EventID = "not-a-canonical-uuid-250" // kept as a symbol, not a UUID
		}
		switch {
		case i%89 == 7:
			e.AWSRegion = "eu-west-1"
		case i%4 == 1:
			e.AWSRegion = "us-west-2"
		}
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
	in := func(region string) func(*Event) bool { return func(e *Event) bool { return e.AWSRegion == region } }
	cases := []struct {
		attr   []LookupAttribute
		keep   func(*Event) bool
		region string
	}{
		{nil, all, ""},
		{nil, in("us-east-1"), "us-east-1"},
		{nil, in("us-west-2"), "us-west-2"},
		{nil, in("eu-west-1"), "eu-west-1"},
		{nil, in("ap-south-1"), "ap-south-1"},
		{[]LookupAttribute{{AttrEventName, "Decrypt"}}, func(e *Event) bool { return e.EventName == "Decrypt" && e.AWSRegion == "us-west-2" }, "us-west-2"},
		{[]LookupAttribute{{AttrEventID, evs[321].EventID}}, func(e *Event) bool { return e == evs[321] }, evs[321].AWSRegion},
		{[]LookupAttribute{{AttrEventID, evs[321].EventID}}, func(*Event) bool { return false }, "eu-west-1"},
		{[]LookupAttribute{{AttrReadOnly, "true"}}, in("eu-west-1"), "eu-west-1"},
		{[]LookupAttribute{{AttrAccessKeyID, "AKIARARE"}}, func(e *Event) bool { return e.UserIdentity.AccessKeyID == "AKIARARE" && e.AWSRegion == "us-east-1" }, "us-east-1"},
		{[]LookupAttribute{{AttrEventName, "Decrypt"}}, func(e *Event) bool { return e.EventName == "Decrypt" }, ""},
		{[]LookupAttribute{{AttrUsername, "user2"}}, func(e *Event) bool { return e.Username() == "user2" }, ""},
		{[]LookupAttribute{{AttrEventID, evs[321].EventID}}, func(e *Event) bool { return e == evs[321] }, ""},
		{[]LookupAttribute{{AttrUsername, "nobody"}}, func(*Event) bool { return false }, ""},
		{[]LookupAttribute{{AttrEventID, evs[0].EventID}}, func(e *Event) bool { return e == evs[0] }, ""},
		{[]LookupAttribute{{AttrEventID, evs[len(evs)-1].EventID}}, func(e *Event) bool { return e == evs[len(evs)-1] }, ""},
		{[]LookupAttribute{{AttrEventID, "not-a-canonical-uuid-250"}}, func(e *Event) bool { return e == evs[250] }, ""},
		{[]LookupAttribute{{AttrEventID, uuid.NewString()}}, func(*Event) bool { return false }, ""},
		{[]LookupAttribute{{AttrAccessKeyID, "AKIARARE"}}, func(e *Event) bool { return e.UserIdentity.AccessKeyID == "AKIARARE" }, ""},
		{[]LookupAttribute{{AttrResourceName, "arn:aws:kms:us-east-1:111122223333:alias/rare-1"}}, func(e *Event) bool {
			return len(e.Resources) == 2 && e.Resources[1].ARN == "arn:aws:kms:us-east-1:111122223333:alias/rare-1"
		}, ""},
		{[]LookupAttribute{{AttrResourceType, "AWS::KMS::Alias"}}, func(e *Event) bool { return len(e.Resources) == 2 }, ""},
		{[]LookupAttribute{{AttrEventSource, SourceKMS}}, all, ""},
		{[]LookupAttribute{{AttrReadOnly, "true"}}, all, ""},
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
				in := LookupInput{Region: c.region, Attributes: c.attr, StartTime: r[0], EndTime: r[1], MaxResults: max}
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
					t.Fatalf("%q %v %v max %d: got %d events, want %d (or order differs)", c.region, c.attr, r, max, len(got), len(want))
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
		e.AWSRegion = []string{"us-east-1", "us-west-2", ""}[i%3]
		e.normalize(t0)
		ne := entryOf(e)
		ne.off, ne.n = int64(i*100), 90
		x.add(&ne)
	}
	good := encodeIndex(&x, idxMeta{segSize: 500, oldest: x.at(0).t, newest: x.at(4).t, entries: 5})
	f.Add(good)
	f.Add(oldVersion(good, 2))
	f.Add(oldVersion(good, 1))
	f.Add(good[:idxHeaderLen])
	f.Add([]byte(idxMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, m, err := decodeIndex(b)
		if err != nil {
			return
		}
		// A file that decodes is one the encoder writes, byte for byte, in
		// the current version.
		again := encodeIndex(x, m)
		if !bytes.Equal(again, b) || b[4] != idxVersion {
			t.Fatalf("decoded file re-encodes differently")
		}
		// Its probe part agrees with the entries: every event's attributes are "maybe".
		h, _ := parseIdxHeader(again)
		syms, bloom, ok := h.checkProbe(again[:h.probeLen()])
		if !ok || len(syms) > len(again) {
			t.Fatal("probe part of a valid file does not check")
		}
		for i := 0; i < x.len(); i++ {
			if e := x.at(i); e.id.s == 0 && !bloomHas(bloom, e.id.u) {
				t.Fatalf("entry %d's id is not in the bloom", i)
			}
		}
		for i := 0; i < x.len(); i++ {
			e := x.at(i)
			if e.off+int64(e.n) >= m.segSize {
				t.Fatalf("entry %d out of its segment: %+v", i, *e)
			}
			x.resources(e) // in range
			if r := x.region(e); int(r) >= len(x.syms.strs) {
				t.Fatalf("entry %d's region %d is not a symbol", i, r)
			}
		}
	})
}

// A lookup for a value no closed segment holds reads only the index files'
// probe parts: no whole index is loaded.
func TestLookupMissSkipsSegments(t *testing.T) {
	dir := t.TempDir()
	evs := manySegments(t, dir, 300)
	j := openT(t, dir, Options{})
	loaded := func() int {
		j.cacheMu.Lock()
		defer j.cacheMu.Unlock()
		n := len(j.cache)
		j.cache = nil
		return n
	}
	for _, a := range []LookupAttribute{{AttrUsername, "nobody"}, {AttrEventName, "Nope"}, {AttrResourceName, "arn:aws:kms:us-east-1:111122223333:key/none"}} {
		loaded()
		if out, _, err := j.Lookup(LookupInput{Attributes: []LookupAttribute{a}}); err != nil || len(out) != 0 {
			t.Fatal(out, err)
		}
		if n := loaded(); n != 0 {
			t.Errorf("%s=%s: %d segment indexes loaded", a.Key, a.Value, n)
		}
	}
	// A random event id loads at most a few (Bloom false positives, ~1% each).
	loaded()
	if out, _, err := j.Lookup(LookupInput{Attributes: []LookupAttribute{{AttrEventID, uuid.NewString()}}}); err != nil || len(out) != 0 {
		t.Fatal(out, err)
	}
	if n := loaded(); n > 4 {
		t.Errorf("a random event id loaded %d segment indexes", n)
	}
	// A region no event has loads none; a region only a few segments have
	// loads only those, and finds its events.
	for _, a := range [][]LookupAttribute{nil, {{AttrReadOnly, "true"}}, {{AttrEventName, "Encrypt"}}} {
		if out, _, err := j.Lookup(LookupInput{Region: "ap-south-1", Attributes: a}); err != nil || len(out) != 0 {
			t.Fatal(out, err)
		}
		if n := loaded(); n != 0 {
			t.Errorf("region ap-south-1 %v: %d segment indexes loaded", a, n)
		}
	}
	var rare []string // newest first
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].AWSRegion == "eu-west-1" {
			rare = append(rare, evs[i].EventID)
		}
	}
	out, _, err := j.Lookup(LookupInput{Region: "eu-west-1"})
	if err != nil || fmt.Sprint(ids(out)) != fmt.Sprint(rare) {
		t.Fatalf("eu-west-1: %v, want %v: %v", ids(out), rare, err)
	}
	if n := loaded(); n > len(rare) {
		t.Errorf("%d eu-west-1 events: %d segment indexes loaded", len(rare), n)
	}
	// A present one loads its own segment and finds it.
	if out, _, err := j.Lookup(LookupInput{Attributes: []LookupAttribute{{AttrEventID, evs[17].EventID}}}); err != nil || len(out) != 1 || out[0].EventID != evs[17].EventID {
		t.Fatal(out, err)
	}
	// A damaged probe part is not trusted: the whole file is checked and rebuilt.
	idxs, _ := filepath.Glob(filepath.Join(dir, "audit-*.idx"))
	b, _ := os.ReadFile(idxs[0])
	b[idxHeaderLen+1] ^= 0xff // inside the symbols
	os.WriteFile(idxs[0], b, 0o600)
	loaded()
	if _, _, err := j.Lookup(LookupInput{Attributes: []LookupAttribute{{AttrUsername, "nobody"}}}); err != nil {
		t.Fatal(err)
	}
	if n := loaded(); n != 1 {
		t.Errorf("damaged probe: %d indexes loaded, want the damaged one", n)
	}
	if b2, _ := os.ReadFile(idxs[0]); bytes.Equal(b, b2) {
		t.Error("the damaged index file was not rebuilt")
	}
}

// The Bloom filter has no false negatives and about 1% false positives.
func TestBloom(t *testing.T) {
	var x index
	ids := make([]uuid.UUID, 5000)
	for i := range ids {
		ids[i] = uuid.New()
		x.push(entry{id: eventID{u: ids[i]}})
	}
	f := x.bloom()
	if len(f) != 5000*bloomBitsPerID/8 {
		t.Fatalf("filter of %d bytes", len(f))
	}
	for _, id := range ids {
		if !bloomHas(f, id) {
			t.Fatal("false negative")
		}
	}
	fp := 0
	for i := 0; i < 20000; i++ {
		if bloomHas(f, uuid.New()) {
			fp++
		}
	}
	if rate := float64(fp) / 20000; rate > 0.025 {
		t.Fatalf("false positive rate %.3f", rate)
	}
	if bloomHas(nil, ids[0]) {
		t.Fatal("an empty filter holds something")
	}
}

// oldVersion converts an index file (from encodeIndex) to version 2 (the
// layout without the entries' regions) or version 1 (also without the
// symbol and bloom byte counts, the bloom and the probe CRC).
func oldVersion(b []byte, version byte) []byte {
	h, ok := parseIdxHeader(b)
	if !ok || h.version != idxVersion {
		panic("not a current index file")
	}
	le := binary.LittleEndian
	var out []byte
	if version == 1 {
		out = append(out, b[:idxHeaderLenV1]...)
		out = append(out, b[idxHeaderLen:idxHeaderLen+h.symBytes]...)
	} else {
		out = append(out, b[:h.probeLen()-4]...)
	}
	out[4] = version
	if version != 1 {
		out = le.AppendUint32(out, crc32.Checksum(out, castagnoli))
	}
	entries := b[h.probeLen() : h.probeLen()+h.entries*idxEntryLen]
	for i := 0; i < h.entries; i++ {
		out = append(out, entries[i*idxEntryLen:(i+1)*idxEntryLen-4]...) // without the region
	}
	out = append(out, b[h.probeLen()+h.entries*idxEntryLen:len(b)-4]...)
	return le.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

// Index files of older versions (1 and 2) hold no regions. Open reads only
// their headers, so the counts are right from the start; a lookup rebuilds
// each from its segment (as a damaged one) and writes it in the current
// version, so that lookups in a region find exactly that region's events,
// in old segments too, before and after another restart.
func TestIndexFileOldVersions(t *testing.T) {
	for _, version := range []byte{1, 2} {
		t.Run(fmt.Sprintf("version=%d", version), func(t *testing.T) {
			dir := t.TempDir()
			evs := manySegments(t, dir, 120)
			idxs, _ := filepath.Glob(filepath.Join(dir, "audit-*.idx"))
			old := map[string][]byte{}
			for _, p := range idxs {
				b, _ := os.ReadFile(p)
				old[p] = oldVersion(b, version)
				os.WriteFile(p, old[p], 0o600)
				if h, ok := parseIdxHeader(old[p]); !ok || h.version != version {
					t.Fatal("oldVersion wrote no valid header")
				}
				if _, _, err := decodeIndex(old[p]); err == nil {
					t.Fatal("an index file without regions decodes")
				}
			}
			j := openT(t, dir, Options{})
			if st := j.Stats(); st.Events != len(evs) || st.Segments != len(idxs)+1 {
				t.Fatalf("stats over version %d files: %+v (%d events)", version, st, len(evs))
			}
			for _, p := range idxs {
				if b, _ := os.ReadFile(p); !bytes.Equal(b, old[p]) {
					t.Fatal("Open rewrote an old index file: it should only read its header")
				}
			}
			// An old file's probe part cannot tell a region. A version 2 file's still
			// tells an attribute's value (so that a rare one is found without
			// rebuilding every old segment's index); a version 1 file has none.
			nobody := []LookupAttribute{{AttrUsername, "nobody"}}
			for _, p := range idxs {
				seg := strings.TrimSuffix(p, idxSuffix) + segSuffix
				fi, _ := os.Stat(seg)
				if may, ok := probeIndex(seg, fi.Size(), nil, "ap-south-1"); ok && !may {
					t.Fatal("an old index file's probe ruled a region out")
				}
				if may, ok := probeIndex(seg, fi.Size(), nobody, "us-west-2"); ok != (version == 2) || may {
					t.Fatalf("version %d probe for an absent value: may %v ok %v", version, may, ok)
				}
			}
			if got := lookupAll(t, j, LookupInput{Region: "us-west-2", Attributes: nobody}); len(got) != 0 {
				t.Fatal(ids(got))
			}
			for _, p := range idxs {
				if b, _ := os.ReadFile(p); bytes.Equal(b, old[p]) != (version == 2) {
					t.Fatalf("version %d: after a lookup for an absent value, %s unchanged: %v", version, p, version != 2)
				}
			}
			check := func(j *Journal) {
				t.Helper()
				for _, region := range []string{"us-west-2", "us-east-1", "eu-west-1", "ap-south-1", ""} {
					want := model(evs, func(e *Event) bool { return region == "" || e.AWSRegion == region }, time.Time{}, t0.Add(time.Hour))
					got := ids(lookupAll(t, j, LookupInput{Region: region, MaxResults: 7}))
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("region %q: %d events, want %d (or the order differs)", region, len(got), len(want))
					}
				}
				e := evs[33] // us-west-2
				if got := lookupAll(t, j, LookupInput{Region: "us-west-2", Attributes: []LookupAttribute{{AttrEventID, e.EventID}}}); len(got) != 1 || got[0].EventID != e.EventID {
					t.Fatalf("event id in its region: %v", ids(got))
				}
				if got := lookupAll(t, j, LookupInput{Region: "us-east-1", Attributes: []LookupAttribute{{AttrEventID, e.EventID}}}); len(got) != 0 {
					t.Fatalf("event id in another region: %v", ids(got))
				}
			}
			check(j)
			for _, p := range idxs {
				b, _ := os.ReadFile(p)
				if _, _, err := decodeIndex(b); err != nil || b[4] != idxVersion {
					t.Fatalf("%s not rebuilt as version %d: %v", p, idxVersion, err)
				}
			}
			j.Close()
			check(openT(t, dir, Options{}))
		})
	}
}
