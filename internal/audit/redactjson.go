package audit

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RequestParametersJSON turns a JSON request body (an object) into CloudTrail
// requestParameters: top-level member names start lower case, as CloudTrail
// writes them, and everything Redact (or RedactKMS, when kms) removes is
// removed. It is the same as decoding the body, redacting and encoding again,
// but decodes only the members that need it: a member whose value holds no
// object (no key to redact), or that is preserved (encryption context), is
// copied as it is. top holds the body's top-level members as sent. ok is false
// when the body is not a JSON object.
func RequestParametersJSON(body []byte, kms bool) (params json.RawMessage, top map[string]json.RawMessage, ok bool) {
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, nil, false
	}
	var drop map[string]bool
	if kms {
		drop = kmsDropped
	}
	type member struct {
		name, key string
		val       json.RawMessage
	}
	members := make([]member, 0, len(top))
	for k, v := range top {
		lk := strings.ToLower(k)
		if Denied(k) || drop[lk] {
			continue
		}
		if !preserved[lk] && bytes.IndexByte(v, '{') >= 0 {
			// An object somewhere inside: decode and redact it the slow way.
			var x any
			if json.Unmarshal(v, &x) != nil {
				continue
			}
			b, err := json.Marshal(redactValue(x, drop))
			if err != nil {
				continue
			}
			v = b
		}
		members = append(members, member{LowerFirst(k), k, v})
	}
	if len(members) == 0 {
		return nil, top, true
	}
	slices.SortFunc(members, func(a, b member) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	out := make([]byte, 0, len(body)+16)
	out = append(out, '{')
	for i, m := range members {
		if i > 0 && m.name == members[i-1].name {
			continue // KeyId and keyId: one member named keyId
		}
		if i > 0 {
			out = append(out, ',')
		}
		name, _ := json.Marshal(m.name)
		out = append(out, name...)
		out = append(out, ':')
		var buf bytes.Buffer
		if json.Compact(&buf, m.val) != nil {
			return nil, top, false
		}
		out = append(out, buf.Bytes()...)
	}
	out = append(out, '}')
	return out, top, true
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
