package audit

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-hsm/coffer/internal/jsonx"
)

// RequestParametersJSON turns a JSON request body (an object) into CloudTrail
// requestParameters: member names start lower case at every depth, as CloudTrail
// writes them (constraints.encryptionContextSubset), except inside encryption
// contexts, whose keys are data; and everything Redact (or RedactKMS, when kms) removes is
// removed. It is the same as decoding the body, redacting and encoding again,
// but decodes only the members that need it: a member whose value holds no
// object (no key to redact), or that is preserved (encryption context), is
// copied as it is. top holds the body's top-level members as sent. ok is false
// when the body is not a JSON object.
func RequestParametersJSON(body []byte, kms bool) (params json.RawMessage, top Members, ok bool) {
	if top, ok = topMembers(body); !ok {
		return nil, nil, false
	}
	var drop map[string]bool
	if kms {
		drop = kmsDropped
	}
	type member struct {
		n   *memberName
		val json.RawMessage
	}
	var stack [8]member
	members := stack[:0]
	for _, m := range top {
		n := m.n
		if n.denied || (kms && n.kmsDropped) {
			continue
		}
		v := m.Value
		if !n.preserved && bytes.IndexByte(v, '{') >= 0 {
			// An object somewhere inside: decode and redact it the slow way.
			var x any
			if json.Unmarshal(v, &x) != nil {
				continue
			}
			b, err := json.Marshal(lowerNames(redactValue(x, drop)))
			if err != nil {
				continue
			}
			v = b
		}
		members = append(members, member{n, v})
	}
	if len(members) == 0 {
		return nil, top, true
	}
	slices.SortFunc(members, func(a, b member) int {
		if c := strings.Compare(a.n.param, b.n.param); c != 0 {
			return c
		}
		return strings.Compare(a.n.name, b.n.name)
	})
	out := make([]byte, 0, len(body)+16)
	out = append(out, '{')
	for i, m := range members {
		if i > 0 && m.n.param == members[i-1].n.param {
			continue // KeyId and keyId: one member named keyId
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = jsonx.AppendString(out, m.n.param)
		out = append(out, ':')
		out = append(out, m.val...)
	}
	out = append(out, '}')
	// Values are as sent: drop their white space (the journal is one event per line).
	if bytes.ContainsAny(out, " \t\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, out) != nil {
			return nil, top, false
		}
		out = buf.Bytes()
	}
	return out, top, true
}

// Member is a top-level member of a JSON object: its name as sent (escapes
// decoded) and its value, a sub-slice of the body.
type Member struct {
	Name  string
	Value json.RawMessage
	n     *memberName
}

// Members are an object's top-level members, each name once: the last of
// duplicate names wins, as with json.Unmarshal.
type Members []Member

// Get returns the value of the member named name (exactly).
func (ms Members) Get(name string) (json.RawMessage, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m.Value, true
		}
	}
	return nil, false
}

// memberName is what redaction decides from a member's name alone.
type memberName struct {
	name       string // as sent
	param      string // LowerFirst(name): CloudTrail's parameter name
	denied     bool   // Denied(name)
	kmsDropped bool   // CloudTrail omits it from KMS events
	preserved  bool   // an encryption context: copied as it is
}

func newMemberName(name string) *memberName {
	lk := strings.ToLower(name)
	return &memberName{name: name, param: LowerFirst(name), denied: Denied(name), kmsDropped: kmsDropped[lk], preserved: preserved[lk]}
}

// Member names repeat from request to request (KeyId, Plaintext...): their
// decisions are kept in a copy-on-write map, so that the common case costs
// one lookup and no allocation. Names sent by anyone can fill it, so it is
// bounded in entries and in name length; past the bound names are decided
// each time.
var (
	memberNames   atomic.Pointer[map[string]*memberName] // never nil
	memberNamesMu sync.Mutex                             // serializes the copies
)

func init() { memberNames.Store(&map[string]*memberName{}) }

const memberNamesMax, memberNameMaxLen = 512, 64

// lookupMemberName returns the decisions for the (unescaped) name b.
func lookupMemberName(b []byte) *memberName {
	if n, ok := (*memberNames.Load())[string(b)]; ok {
		return n
	}
	n := newMemberName(string(b))
	if len(b) > memberNameMaxLen {
		return n
	}
	memberNamesMu.Lock()
	defer memberNamesMu.Unlock()
	old := *memberNames.Load()
	if have, ok := old[n.name]; ok {
		return have
	}
	if len(old) >= memberNamesMax {
		return n
	}
	m := maps.Clone(old)
	m[n.name] = n
	memberNames.Store(&m)
	return n
}

// LowerFirst lower-cases the first letter of a member name (KeyId → keyId),
// as CloudTrail names request parameters.
func LowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// topMembers splits a JSON object into its members (the last of duplicate
// names wins, as json.Unmarshal does); values are sub-slices of body. ok is
// false when body is not a valid JSON object.
func topMembers(body []byte) (Members, bool) {
	if !json.Valid(body) {
		return nil, false
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	top := make(Members, 0, 8)
	var index map[string]int // for objects with many members: no quadratic search
	i = skipSpace(body, i+1)
	if body[i] == '}' {
		return top, true
	}
	for {
		// body is valid: a string key, ':', a value, then ',' or '}'.
		end := stringEnd(body, i)
		var n *memberName
		// A name with escapes, or with bytes that are not UTF-8 (which json.Unmarshal
		// turns into U+FFFD, one per byte, so that two such names can be one), is
		// decoded as json.Unmarshal decodes it.
		if raw := body[i+1 : end-1]; bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) {
			var key string
			if json.Unmarshal(body[i:end], &key) != nil {
				return nil, false
			}
			n = newMemberName(key)
		} else {
			n = lookupMemberName(body[i+1 : end-1])
		}
		i = skipSpace(body, end)
		i = skipSpace(body, i+1) // past ':'
		vend := valueEnd(body, i)
		m := Member{Name: n.name, Value: body[i:vend:vend], n: n}
		switch {
		case index != nil:
			if k, dup := index[m.Name]; dup {
				top[k] = m
			} else {
				index[m.Name] = len(top)
				top = append(top, m)
			}
		default:
			dup := false
			for k := range top {
				if top[k].Name == m.Name {
					top[k], dup = m, true
					break
				}
			}
			if !dup {
				top = append(top, m)
			}
			if len(top) == 16 {
				index = make(map[string]int, 32)
				for k, t := range top {
					index[t.Name] = k
				}
			}
		}
		i = skipSpace(body, vend)
		if body[i] == '}' {
			return top, true
		}
		i = skipSpace(body, i+1) // past ','
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd is the index just past the string starting at b[i] == '"'.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd is the index just past the (valid) value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// lowerNames renames the members of the objects in v (as decoded and redacted)
// with LowerFirst, at every depth except inside preserved maps (encryption
// context), whose keys are data. Of two names that become one, the value of the
// one that sorts first is kept, as for top-level members.
func lowerNames(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		from := make(map[string]string, len(t))
		for k, e := range t {
			p := LowerFirst(k)
			if prev, dup := from[p]; dup && prev < k {
				continue
			}
			from[p] = k
			if preserved[strings.ToLower(k)] {
				out[p] = e
			} else {
				out[p] = lowerNames(e)
			}
		}
		return out
	case []any:
		for i, e := range t {
			t[i] = lowerNames(e)
		}
		return t
	}
	return v
}
