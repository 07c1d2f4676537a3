package audit

import (
	"slices"
	"sort"

	"github.com/google/uuid"
)

// Each segment has an index with one entry per event for Lookup: the active
// segment's is in memory and grows as events commit; a closed segment's is
// written next to it (idxfile.go) and read back only while lookups need it,
// so memory does not grow with retention. Entries hold no pointers: strings
// are interned as symbols (per index) and event ids kept as 16-byte UUIDs,
// so the garbage collector never scans an index; and an index is stored in
// fixed-size chunks, so growing it never copies it. An event's region is a
// small number in its entry (a byte that was padding): the index keeps the
// table of its regions, as symbols.

// newEntry is an event's lookup attributes as Append sees them (outside the
// journal's lock); insert turns it into an entry.
type newEntry struct {
	t        int64
	off      int64
	n        int32
	readOnly bool
	id       string
	name     string
	source   string
	user     string
	akid     string
	region   string
	res      []resRef
}

type resRef struct{ typ, name string }

// sym is an interned string; 0 is "".
type sym uint32

type symbols struct {
	ids  map[string]sym
	strs []string
}

func (s *symbols) intern(v string) sym {
	if v == "" {
		return 0
	}
	if id, ok := s.ids[v]; ok {
		return id
	}
	if s.ids == nil {
		s.ids = map[string]sym{}
		s.strs = []string{""}
	}
	id := sym(len(s.strs))
	s.strs = append(s.strs, v)
	s.ids[v] = id
	return id
}

// str is the string of symbol id.
func (s *symbols) str(id sym) string {
	if id == 0 {
		return ""
	}
	return s.strs[id]
}

// find is the symbol of v, or false when no event has v.
func (s *symbols) find(v string) (sym, bool) {
	if v == "" {
		return 0, true
	}
	id, ok := s.ids[v]
	return id, ok
}

// entry is the index record of one event: its lookup attributes and where
// its line is in its segment. No pointers. Lookups order events by (t,
// segment, off): time, then commit order.
type entry struct {
	t        int64 // eventTime, unix seconds
	off      int64 // of its line in the segment
	n        int32
	readOnly bool
	region   uint8 // index.regions[region], or regionOther
	nres     uint16
	id       eventID
	name     sym
	source   sym
	user     sym
	akid     sym
	res      uint32 // first of nres resource refs in index.res
}

// eventID is an EventID: a canonical UUID in u, or (an id in another form)
// its symbol in s.
type eventID struct {
	u uuid.UUID
	s sym
}

type resSym struct{ typ, name sym }

const chunkSize = 4096

// regionOther is the region number of an event whose region came after the
// index's table of regions was full (regionOther regions): its region is in
// index.otherRegions. Only a segment with events of more than 255 regions
// has any (AWS has a few dozen, but a client may sign for any name).
const regionOther = 255

// index is one segment's entries sorted by (t, off), in chunks of chunkSize.
type index struct {
	chunks [][]entry // all full except the last
	n      int
	syms   symbols
	res    []resSym
	// regions are the region symbols of the entries' region numbers.
	regions []sym
	// otherRegions is the region of each event numbered regionOther, by its
	// off (no pointers either: the collector does not scan it).
	otherRegions map[int64]sym
}

func (x *index) len() int { return x.n }

func (x *index) at(i int) *entry { return &x.chunks[i/chunkSize][i%chunkSize] }

func (x *index) push(e entry) {
	last := x.n / chunkSize
	if last == len(x.chunks) {
		// A first chunk starts small (an index may hold a few events) and
		// grows by append; the later ones are whole.
		x.chunks = append(x.chunks, make([]entry, 0, min(chunkSize, max(64, x.n))))
	}
	x.chunks[last] = append(x.chunks[last], e)
	x.n++
}

// reserve makes room for n entries in all (for an index read back whole).
func (x *index) reserve(n int) {
	for k := 0; k < n; k += chunkSize {
		x.chunks = append(x.chunks, make([]entry, 0, min(chunkSize, n-k)))
	}
}

// canonicalUUID parses v when it is a UUID in its canonical (lower-case, dashed) form:
// only then does the UUID stand for the string exactly.
func canonicalUUID(v string) (uuid.UUID, bool) {
	if len(v) != 36 {
		return uuid.UUID{}, false
	}
	u, err := uuid.Parse(v)
	return u, err == nil && u.String() == v
}

func (x *index) eventID(v string) eventID {
	if u, ok := canonicalUUID(v); ok {
		return eventID{u: u}
	}
	return eventID{s: x.syms.intern(v)}
}

// findEventID is the eventID of v, or false when no event has it.
func (x *index) findEventID(v string) (eventID, bool) {
	if u, ok := canonicalUUID(v); ok {
		return eventID{u: u}, true
	}
	s, ok := x.syms.find(v)
	return eventID{s: s}, ok && s != 0
}

// regionNum is the region number of an event at off in region r, adding r
// to the table if it is new.
func (x *index) regionNum(r string, off int64) uint8 {
	for i, s := range x.regions[:min(len(x.regions), 4)] { // the usual case: one of a few
		if x.syms.str(s) == r {
			return uint8(i)
		}
	}
	return x.regionSym(x.syms.intern(r), off)
}

// regionSym is regionNum for a region's symbol s.
func (x *index) regionSym(s sym, off int64) uint8 {
	if i := slices.Index(x.regions, s); i >= 0 {
		return uint8(i)
	}
	if len(x.regions) < regionOther {
		x.regions = append(x.regions, s)
		return uint8(len(x.regions) - 1)
	}
	if x.otherRegions == nil {
		x.otherRegions = map[int64]sym{}
	}
	x.otherRegions[off] = s
	return regionOther
}

// region is the symbol of e's region.
func (x *index) region(e *entry) sym {
	if e.region == regionOther {
		return x.otherRegions[e.off]
	}
	return x.regions[e.region]
}

// add inserts ne keeping (t, off) order; ne comes after every entry added
// before it (commit order). Events arrive almost in time order, so the
// position is found from the end.
func (x *index) add(ne *newEntry) {
	e := entry{t: ne.t, off: ne.off, n: ne.n, readOnly: ne.readOnly, region: x.regionNum(ne.region, ne.off),
		id: x.eventID(ne.id), name: x.syms.intern(ne.name), source: x.syms.intern(ne.source),
		user: x.syms.intern(ne.user), akid: x.syms.intern(ne.akid)}
	if len(ne.res) > 0 {
		e.res, e.nres = uint32(len(x.res)), uint16(min(len(ne.res), 1<<16-1))
		for _, r := range ne.res[:e.nres] {
			x.res = append(x.res, resSym{x.syms.intern(r.typ), x.syms.intern(r.name)})
		}
	}
	i := x.n
	for i > 0 && x.at(i-1).t > e.t {
		i--
		if x.n-i > 64 { // far out of order: binary search
			i = sort.Search(x.n, func(k int) bool { return x.at(k).t > e.t })
			break
		}
	}
	x.push(e)
	for k := x.n - 1; k > i; k-- {
		*x.at(k) = *x.at(k - 1)
	}
	*x.at(i) = e
}

// span is the number of entries and, if any, the oldest and newest t.
func (x *index) span() (n int, oldest, newest int64) {
	if x.n == 0 {
		return 0, 0, 0
	}
	return x.n, x.at(0).t, x.at(x.n - 1).t
}

// resources are e's resource refs.
func (x *index) resources(e *entry) []resSym { return x.res[e.res : e.res+uint32(e.nres)] }
