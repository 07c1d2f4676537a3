package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

func entryOf(e *Event) newEntry {
	ent := newEntry{
		t:        e.EventTime.Unix(),
		readOnly: e.ReadOnly,
		id:       e.EventID,
		name:     e.EventName,
		source:   e.EventSource,
		user:     e.Username(),
		akid:     e.UserIdentity.AccessKeyID,
		region:   e.AWSRegion,
	}
	for _, r := range e.Resources {
		ent.res = append(ent.res, resRef{r.Type, r.ResourceName()})
	}
	return ent
}

// insert adds ent to the active segment s and its index. Caller holds j.mu.
func (j *Journal) insert(s *segment, ent *newEntry) {
	s.idx.add(ent)
	if s.entries == 0 || ent.t < s.oldest {
		s.oldest = ent.t
	}
	if ent.t > s.newest {
		s.newest = ent.t
	}
	s.entries++
}

// closeIndex writes the index file of s, which no event joins any more,
// and then drops its index from memory. If the write fails the index stays
// in memory, and the next Open rebuilds the file.
func (j *Journal) closeIndex(s *segment) {
	j.mu.RLock()
	x, size := s.idx, s.size
	j.mu.RUnlock()
	if x == nil {
		return
	}
	m := idxMeta{segSize: size}
	m.entries, m.oldest, m.newest = x.span()
	if writeIndexFile(s.path, x, m) != nil {
		return
	}
	j.mu.Lock()
	s.idx = nil
	j.mu.Unlock()
}

// segIndex is a closed segment's index read back from its file.
type segIndex struct {
	seq uint64
	x   *index
}

// idxCacheSegments is how many closed segments' indexes lookups keep in
// memory (the most recently used).
const idxCacheSegments = 4

// segView is a segment as a lookup saw it.
type segView struct {
	seq    uint64
	path   string
	size   int64
	newest int64
	x      *index // in memory (nil: read it back)
	active bool   // x still grows: read it under j.mu (R)
}

// loadIndex is closed segment v's index, from the cache or its file; a file
// that is missing, not valid or of an older version (without the events'
// regions) is rebuilt from the segment.
func (j *Journal) loadIndex(v segView) (*index, error) {
	j.cacheMu.Lock()
	defer j.cacheMu.Unlock()
	if i := j.cacheAt(v.seq); i >= 0 {
		c := j.cache[i]
		j.cache = append(append(j.cache[:i:i], j.cache[i+1:]...), c)
		return c.x, nil
	}
	var x *index
	if data, err := os.ReadFile(idxPath(v.path)); err == nil {
		if xi, m, err := decodeIndex(data); err == nil && m.segSize == v.size {
			x = xi
		}
	}
	if x == nil {
		data, err := os.ReadFile(v.path)
		if err != nil {
			return nil, fmt.Errorf("audit: lookup: %w", err)
		}
		var m idxMeta
		x, m = scanIndex(data[:min(int64(len(data)), v.size)])
		writeIndexFile(v.path, x, m) // best effort: else rebuilt again next time
	}
	j.cache = append(j.cache, &segIndex{v.seq, x})
	if len(j.cache) > idxCacheSegments {
		j.cache[0] = nil
		j.cache = j.cache[1:]
	}
	return x, nil
}

// cacheAt is the position of closed segment seq's index in the cache, or -1.
// The caller holds j.cacheMu.
func (j *Journal) cacheAt(seq uint64) int {
	return slices.IndexFunc(j.cache, func(c *segIndex) bool { return c.seq == seq })
}

// cached says whether closed segment seq's index is in the cache.
func (j *Journal) cached(seq uint64) bool {
	j.cacheMu.Lock()
	defer j.cacheMu.Unlock()
	return j.cacheAt(seq) >= 0
}

// probes says whether a lookup for attrs in region may skip segments by
// probing their index files: for a region, or one attribute other than
// ReadOnly (which every event has).
func probes(attrs []LookupAttribute, region string) bool {
	return region != "" || (len(attrs) == 1 && attrs[0].Key != AttrReadOnly)
}

// uncache forgets segment seq's index (it was pruned).
func (j *Journal) uncache(seq uint64) {
	j.cacheMu.Lock()
	defer j.cacheMu.Unlock()
	if i := j.cacheAt(seq); i >= 0 {
		j.cache = append(j.cache[:i:i], j.cache[i+1:]...)
	}
}

// Lookup attribute keys.
const (
	AttrEventID      = "EventId"
	AttrEventName    = "EventName"
	AttrReadOnly     = "ReadOnly"
	AttrUsername     = "Username"
	AttrResourceType = "ResourceType"
	AttrResourceName = "ResourceName"
	AttrEventSource  = "EventSource"
	AttrAccessKeyID  = "AccessKeyId"
)

// LookupAttribute is one LookupEvents filter.
type LookupAttribute struct {
	Key   string `json:"AttributeKey"`
	Value string `json:"AttributeValue"`
}

// LookupInput is a LookupEvents request. Zero StartTime / EndTime mean
// unbounded; MaxResults 0 means 50.
type LookupInput struct {
	// Region limits the lookup to the events of one region (their
	// awsRegion), as CloudTrail's LookupEvents answers with the calling
	// region's events only. Empty: every region (for internal callers).
	Region     string
	Attributes []LookupAttribute
	StartTime  time.Time // inclusive
	EndTime    time.Time // inclusive
	MaxResults int
	NextToken  string
}

// MaxLookupResults is the largest (and default) page size.
const MaxLookupResults = 50

// CheckLookup checks in's attributes, MaxResults and time range as Lookup
// does, without reading the journal (NextToken is not checked: only Lookup
// knows the tokens it issued).
func CheckLookup(in LookupInput) error {
	if err := validAttributes(in.Attributes); err != nil {
		return err
	}
	if in.MaxResults < 0 || in.MaxResults > MaxLookupResults {
		return errorf(CodeInvalidMaxResults, "MaxResults must be between 1 and %d", MaxLookupResults)
	}
	if !in.StartTime.IsZero() && !in.EndTime.IsZero() && in.StartTime.After(in.EndTime) {
		return errorf(CodeInvalidTimeRange, "StartTime must not be after EndTime")
	}
	return nil
}

// Lookup returns the events matching in, newest first, and a NextToken when
// more match. As in CloudTrail, at most one attribute may be given. Errors
// are *Error with CloudTrail's exception names. A NextToken is valid only
// with the same region, attributes and time range, and only for this
// Journal (it does not survive a restart).
func (j *Journal) Lookup(in LookupInput) ([]Event, string, error) {
	if err := CheckLookup(in); err != nil {
		return nil, "", err
	}
	max := in.MaxResults
	if max == 0 {
		max = MaxLookupResults
	}
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if !in.StartTime.IsZero() {
		lo = in.StartTime.Unix()
		if in.StartTime.Nanosecond() != 0 {
			lo++ // events have whole seconds: the first one at or after StartTime
		}
	}
	if !in.EndTime.IsZero() {
		hi = in.EndTime.Unix()
	}
	qh := queryHash(in.Region, in.Attributes, lo, hi)
	// Cursor: return events strictly before c in (t, seg, off) order.
	c := position{t: hi, seg: ^uint64(0), off: 1<<63 - 1}
	if in.NextToken != "" {
		var ok bool
		if c, ok = j.parseToken(in.NextToken, qh); !ok {
			return nil, "", InvalidNextToken()
		}
	}

	j.pruneMu.RLock() // the segments read below stay
	defer j.pruneMu.RUnlock()
	j.mu.RLock()
	var views []segView
	for i, s := range j.segs {
		if s.entries == 0 || s.oldest > c.t || s.newest < lo { // c.t <= hi
			continue
		}
		views = append(views, segView{seq: s.seq, path: s.path, size: s.size, newest: s.newest, x: s.idx, active: i == len(j.segs)-1})
	}
	j.mu.RUnlock()
	// Newest segments first; stop once a segment cannot hold anything newer
	// than the max+1 events found (the +1 tells whether there are more).
	sort.Slice(views, func(a, b int) bool { return views[a].newest > views[b].newest })
	var picked []pick
	for _, v := range views {
		if len(picked) > max && v.newest < picked[max].t {
			break
		}
		x := v.x
		if x == nil && probes(in.Attributes, in.Region) && !j.cached(v.seq) {
			if may, ok := probeIndex(v.path, v.size, in.Attributes, in.Region); ok && !may {
				continue // the region or the value is in none of its events
			}
		}
		if x == nil {
			var err error
			if x, err = j.loadIndex(v); err != nil {
				return nil, "", err
			}
		}
		if v.active {
			j.mu.RLock()
		}
		picked = x.before(in.Region, in.Attributes, lo, c, max+1, v, picked)
		if v.active {
			j.mu.RUnlock()
		}
		sort.Slice(picked, func(a, b int) bool { return picked[b].position.less(picked[a].position) })
		picked = picked[:min(len(picked), max+1)]
	}
	more := len(picked) > max
	picked = picked[:min(len(picked), max)]
	events, err := readEntries(picked)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		next = j.makeToken(picked[len(picked)-1].position, qh)
	}
	return events, next, nil
}

// position is an event's place in lookup order: time, then commit order.
type position struct {
	t   int64
	seg uint64
	off int64
}

func (p position) less(q position) bool {
	if p.t != q.t {
		return p.t < q.t
	}
	if p.seg != q.seg {
		return p.seg < q.seg
	}
	return p.off < q.off
}

// pick is an event a lookup returns.
type pick struct {
	position
	n    int32
	path string
}

// before appends to picked up to limit events of x (segment v) that are of
// region (any if ""), match attrs, are at or after lo and before c, newest
// first. Caller holds j.mu (R) if x is the active segment's.
func (x *index) before(region string, attrs []LookupAttribute, lo int64, c position, limit int, v segView, picked []pick) []pick {
	match, some := x.matcher(region, attrs)
	if !some {
		return picked
	}
	i := sort.Search(x.len(), func(k int) bool {
		e := x.at(k)
		return !(position{e.t, v.seq, e.off}).less(c)
	})
	for n := 0; i > 0 && n < limit; {
		i--
		e := x.at(i)
		if e.t < lo {
			break
		}
		if match(e) {
			picked = append(picked, pick{position{e.t, v.seq, e.off}, e.n, v.path})
			n++
		}
	}
	return picked
}

// validAttributes checks LookupAttributes as CloudTrail does.
func validAttributes(attrs []LookupAttribute) error {
	if len(attrs) == 0 {
		return nil
	}
	if len(attrs) > 1 {
		return errorf(CodeInvalidLookupAttributes, "You can specify at most one lookup attribute")
	}
	if v := attrs[0].Value; v == "" || attributeValueLength(v) > 2000 {
		return errorf(CodeInvalidLookupAttributes, "AttributeValue must be 1 to 2000 characters long")
	}
	switch attrs[0].Key {
	case AttrEventID, AttrEventName, AttrReadOnly, AttrUsername, AttrEventSource, AttrAccessKeyID, AttrResourceType, AttrResourceName:
		return nil
	}
	return errorf(CodeInvalidLookupAttributes, "Unknown AttributeKey %q: use EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource or AccessKeyId", attrs[0].Key)
}

// attributeValueLength is the length of a LookupAttribute's value as CloudTrail limits it
// to 2000: in characters (not bytes), where '_', ' ', ',' and a newline count as two.
func attributeValueLength(v string) int {
	n := utf8.RuneCountInString(v)
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '_', ' ', ',', '\n':
			n++
		}
	}
	return n
}

// matcher is the filter of region (any if "") and valid attrs over x; some
// is false when no entry of x can match.
func (x *index) matcher(region string, attrs []LookupAttribute) (match func(*entry) bool, some bool) {
	m := x.attrMatcher(attrs)
	if m == nil || region == "" {
		return m, m != nil
	}
	s, ok := x.syms.find(region)
	if !ok {
		return nil, false
	}
	if r := slices.Index(x.regions, s); r >= 0 {
		n := uint8(r)
		if len(attrs) == 0 {
			return func(e *entry) bool { return e.region == n }, true
		}
		return func(e *entry) bool { return e.region == n && m(e) }, true
	}
	if len(x.otherRegions) == 0 {
		return nil, false
	}
	return func(e *entry) bool { return e.region == regionOther && x.otherRegions[e.off] == s && m(e) }, true
}

// attrMatcher is the filter of valid attrs over x, nil when no entry of x
// can match.
func (x *index) attrMatcher(attrs []LookupAttribute) func(*entry) bool {
	if len(attrs) == 0 {
		return func(*entry) bool { return true }
	}
	v := attrs[0].Value
	if attrs[0].Key == AttrEventID {
		id, ok := x.findEventID(v)
		if !ok {
			return nil
		}
		return func(e *entry) bool { return e.id == id }
	}
	if attrs[0].Key == AttrReadOnly {
		return func(e *entry) bool { return strconv.FormatBool(e.readOnly) == v }
	}
	s, ok := x.syms.find(v)
	if !ok {
		return nil
	}
	switch attrs[0].Key {
	case AttrEventName:
		return func(e *entry) bool { return e.name == s }
	case AttrUsername:
		return func(e *entry) bool { return e.user == s }
	case AttrEventSource:
		return func(e *entry) bool { return e.source == s }
	case AttrAccessKeyID:
		return func(e *entry) bool { return e.akid == s }
	case AttrResourceType:
		return func(e *entry) bool {
			for _, r := range x.resources(e) {
				if r.typ == s {
					return true
				}
			}
			return false
		}
	case AttrResourceName:
		return func(e *entry) bool {
			for _, r := range x.resources(e) {
				if r.name == s {
					return true
				}
			}
			return false
		}
	}
	return nil
}

// readEntries reads and decodes the lines of picked. The caller holds
// j.pruneMu (R), so Prune cannot delete the files meanwhile.
func readEntries(picked []pick) ([]Event, error) {
	if len(picked) == 0 {
		return nil, nil
	}
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	out := make([]Event, len(picked))
	n := 0
	for _, p := range picked {
		f := files[p.path]
		if f == nil {
			var err error
			if f, err = os.Open(p.path); err != nil {
				return nil, fmt.Errorf("audit: lookup: %w", err)
			}
			files[p.path] = f
		}
		b := make([]byte, p.n)
		if _, err := f.ReadAt(b, p.off); err != nil {
			return nil, fmt.Errorf("audit: lookup: %w", err)
		}
		if json.Unmarshal(b, &out[n]) == nil {
			n++ // else the line was damaged in place after it was indexed: skip it
		}
	}
	return out[:n], nil
}

// Tokens: base64url(version | t | seg | off | queryHash[8] | HMAC-SHA256[16]),
// keyed per Journal. The query hash binds a token to its lookup's region,
// attributes and time range: a token used with another is refused
// (InvalidNextTokenException), as CloudTrail refuses a token from another
// region.
const tokenVersion = 2

const tokenLen = 1 + 8 + 8 + 8 + 8 + 16

func queryHash(region string, attrs []LookupAttribute, lo, hi int64) []byte {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(len(region)))
	h.Write(b[:])
	h.Write([]byte(region))
	for _, a := range attrs {
		binary.BigEndian.PutUint64(b[:], uint64(len(a.Key)))
		h.Write(b[:])
		h.Write([]byte(a.Key))
		binary.BigEndian.PutUint64(b[:], uint64(len(a.Value)))
		h.Write(b[:])
		h.Write([]byte(a.Value))
	}
	binary.BigEndian.PutUint64(b[:], uint64(lo))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(hi))
	h.Write(b[:])
	return h.Sum(nil)[:8]
}

func (j *Journal) makeToken(p position, qh []byte) string {
	b := make([]byte, 0, tokenLen)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(p.t))
	b = binary.BigEndian.AppendUint64(b, p.seg)
	b = binary.BigEndian.AppendUint64(b, uint64(p.off))
	b = append(b, qh...)
	m := hmac.New(sha256.New, j.tokenKey[:])
	m.Write(b)
	b = m.Sum(b)[:tokenLen]
	return base64.RawURLEncoding.EncodeToString(b)
}

func (j *Journal) parseToken(s string, qh []byte) (position, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != tokenLen || b[0] != tokenVersion {
		return position{}, false
	}
	body, tag := b[:tokenLen-16], b[tokenLen-16:]
	m := hmac.New(sha256.New, j.tokenKey[:])
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:16], tag) || !hmac.Equal(body[25:33], qh) {
		return position{}, false
	}
	be := binary.BigEndian
	return position{t: int64(be.Uint64(body[1:])), seg: be.Uint64(body[9:]), off: int64(be.Uint64(body[17:]))}, true
}

// LookupEventsOutput is CloudTrail's LookupEvents response.
type LookupEventsOutput struct {
	Events    []EventSummary `json:"Events"`
	NextToken string         `json:"NextToken,omitempty"`
}

// EventSummary is one element of LookupEventsOutput.Events.
type EventSummary struct {
	EventID         string            `json:"EventId"`
	EventName       string            `json:"EventName"`
	ReadOnly        string            `json:"ReadOnly"` // "true" / "false"
	AccessKeyID     string            `json:"AccessKeyId,omitempty"`
	EventTime       int64             `json:"EventTime"` // epoch seconds
	EventSource     string            `json:"EventSource"`
	Username        string            `json:"Username,omitempty"`
	Resources       []ResourceSummary `json:"Resources,omitempty"`
	CloudTrailEvent string            `json:"CloudTrailEvent"` // the full record, as JSON text
}

// ResourceSummary is one element of EventSummary.Resources.
type ResourceSummary struct {
	ResourceType string `json:"ResourceType"`
	ResourceName string `json:"ResourceName"`
}

// Summary returns e as LookupEvents reports it.
func (e *Event) Summary() EventSummary {
	raw, _ := json.Marshal(e)
	s := EventSummary{
		EventID:         e.EventID,
		EventName:       e.EventName,
		ReadOnly:        strconv.FormatBool(e.ReadOnly),
		AccessKeyID:     e.UserIdentity.AccessKeyID,
		EventTime:       e.EventTime.Unix(),
		EventSource:     e.EventSource,
		Username:        e.Username(),
		CloudTrailEvent: string(raw),
	}
	for _, r := range e.Resources {
		s.Resources = append(s.Resources, ResourceSummary{ResourceType: r.Type, ResourceName: r.ResourceName()})
	}
	return s
}

// LookupEvents runs Lookup and returns CloudTrail's response shape.
func (j *Journal) LookupEvents(in LookupInput) (*LookupEventsOutput, error) {
	evs, next, err := j.Lookup(in)
	if err != nil {
		return nil, err
	}
	out := &LookupEventsOutput{Events: make([]EventSummary, 0, len(evs)), NextToken: next}
	for i := range evs {
		out.Events = append(out.Events, evs[i].Summary())
	}
	return out, nil
}
