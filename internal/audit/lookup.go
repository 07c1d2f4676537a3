package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"
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
	}
	for _, r := range e.Resources {
		ent.res = append(ent.res, resRef{r.Type, r.ResourceName()})
	}
	return ent
}

// insert adds ent to the index. Caller holds j.mu (or is Open).
func (j *Journal) insert(s *segment, ent *newEntry) {
	j.seqCounter++
	j.index.add(ent, j.seqCounter)
	if ent.t > s.newest {
		s.newest = ent.t
	}
	s.entries++
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
	Attributes []LookupAttribute
	StartTime  time.Time // inclusive
	EndTime    time.Time // inclusive
	MaxResults int
	NextToken  string
}

// MaxLookupResults is the largest (and default) page size.
const MaxLookupResults = 50

// Lookup returns the events matching in, newest first, and a NextToken when
// more match. As in CloudTrail, at most one attribute may be given. Errors
// are *Error with CloudTrail's exception names. A NextToken is valid only
// with the same attributes and time range, and only for this Journal (it
// does not survive a restart).
func (j *Journal) Lookup(in LookupInput) ([]Event, string, error) {
	if err := validAttributes(in.Attributes); err != nil {
		return nil, "", err
	}
	if in.MaxResults < 0 || in.MaxResults > MaxLookupResults {
		return nil, "", errorf(CodeInvalidMaxResults, "MaxResults must be between 1 and %d", MaxLookupResults)
	}
	max := in.MaxResults
	if max == 0 {
		max = MaxLookupResults
	}
	if !in.StartTime.IsZero() && !in.EndTime.IsZero() && in.StartTime.After(in.EndTime) {
		return nil, "", errorf(CodeInvalidTimeRange, "StartTime must not be after EndTime")
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
	qh := queryHash(in.Attributes, lo, hi)
	// Cursor: return entries strictly before (ct, cseq) in (t, seq) order.
	ct, cseq := hi, ^uint64(0)
	if in.NextToken != "" {
		t, s, ok := j.parseToken(in.NextToken, qh)
		if !ok {
			return nil, "", errorf(CodeInvalidNextToken, "The NextToken is not valid for this request")
		}
		ct, cseq = t, s
	}

	j.mu.RLock()
	defer j.mu.RUnlock()
	match := j.matcher(in.Attributes)
	x := &j.index
	i := sort.Search(x.len(), func(k int) bool {
		e := x.at(k)
		return e.t > ct || (e.t == ct && e.seq >= cseq)
	})
	var picked []*entry
	more := false
	for i--; i >= 0; i-- {
		e := x.at(i)
		if e.t < lo {
			break
		}
		if !match(e) {
			continue
		}
		if len(picked) == max {
			more = true
			break
		}
		picked = append(picked, e)
	}
	events, err := j.readEntries(picked)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		last := picked[len(picked)-1]
		next = j.makeToken(last.t, last.seq, qh)
	}
	return events, next, nil
}

// validAttributes checks LookupAttributes as CloudTrail does.
func validAttributes(attrs []LookupAttribute) error {
	if len(attrs) == 0 {
		return nil
	}
	if len(attrs) > 1 {
		return errorf(CodeInvalidLookupAttributes, "You can specify at most one lookup attribute")
	}
	if v := attrs[0].Value; len(v) < 1 || len(v) > 2000 {
		return errorf(CodeInvalidLookupAttributes, "AttributeValue must be 1 to 2000 characters long")
	}
	switch attrs[0].Key {
	case AttrEventID, AttrEventName, AttrReadOnly, AttrUsername, AttrEventSource, AttrAccessKeyID, AttrResourceType, AttrResourceName:
		return nil
	}
	return errorf(CodeInvalidLookupAttributes, "Unknown AttributeKey %q: use EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource or AccessKeyId", attrs[0].Key)
}

// matcher is the filter of valid attrs over the index. Caller holds j.mu (R).
func (j *Journal) matcher(attrs []LookupAttribute) func(*entry) bool {
	if len(attrs) == 0 {
		return func(*entry) bool { return true }
	}
	none := func(*entry) bool { return false }
	x := &j.index
	v := attrs[0].Value
	if attrs[0].Key == AttrEventID {
		id, ok := x.findEventID(v)
		if !ok {
			return none
		}
		return func(e *entry) bool { return e.id == id }
	}
	if attrs[0].Key == AttrReadOnly {
		return func(e *entry) bool { return strconv.FormatBool(e.readOnly) == v }
	}
	s, ok := x.syms.find(v)
	if !ok {
		return none
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
	return none
}

// readEntries reads and decodes the lines of picked. Caller holds j.mu (R),
// so Prune cannot delete the files meanwhile.
func (j *Journal) readEntries(picked []*entry) ([]Event, error) {
	if len(picked) == 0 {
		return nil, nil
	}
	paths := make(map[uint64]string, len(j.segs))
	for _, s := range j.segs {
		paths[s.seq] = s.path
	}
	files := map[uint64]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	out := make([]Event, len(picked))
	for k, e := range picked {
		f := files[e.seg]
		if f == nil {
			var err error
			if f, err = os.Open(paths[e.seg]); err != nil {
				return nil, fmt.Errorf("audit: lookup: %w", err)
			}
			files[e.seg] = f
		}
		b := make([]byte, e.n)
		if _, err := f.ReadAt(b, e.off); err != nil {
			return nil, fmt.Errorf("audit: lookup: %w", err)
		}
		if err := json.Unmarshal(b, &out[k]); err != nil {
			return nil, fmt.Errorf("audit: lookup: decode: %w", err)
		}
	}
	return out, nil
}

// Tokens: base64url(version | t | seq | queryHash[8] | HMAC-SHA256[16]),
// keyed per Journal.
const tokenVersion = 1

func queryHash(attrs []LookupAttribute, lo, hi int64) []byte {
	h := sha256.New()
	var b [8]byte
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

func (j *Journal) makeToken(t int64, seq uint64, qh []byte) string {
	b := make([]byte, 0, 1+8+8+8+16)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(t))
	b = binary.BigEndian.AppendUint64(b, seq)
	b = append(b, qh...)
	m := hmac.New(sha256.New, j.tokenKey[:])
	m.Write(b)
	b = m.Sum(b)[:len(b)+16]
	return base64.RawURLEncoding.EncodeToString(b)
}

func (j *Journal) parseToken(s string, qh []byte) (int64, uint64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 1+8+8+8+16 || b[0] != tokenVersion {
		return 0, 0, false
	}
	body, tag := b[:25], b[25:]
	m := hmac.New(sha256.New, j.tokenKey[:])
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:16], tag) || !hmac.Equal(body[17:25], qh) {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(body[1:9])), binary.BigEndian.Uint64(body[9:17]), true
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
