package audit

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-hsm/coffer/internal/jsonx"
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
	if top, ok = topMembers(body); !ok {
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
		out = jsonx.AppendString(out, m.name)
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
func topMembers(body []byte) (map[string]json.RawMessage, bool) {
	if !json.Valid(body) {
		return nil, false
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	top := make(map[string]json.RawMessage, 8)
	i = skipSpace(body, i+1)
	if body[i] == '}' {
		return top, true
	}
	for {
		// body is valid: a string key, ':', a value, then ',' or '}'.
		end := stringEnd(body, i)
		key := string(body[i+1 : end-1])
		if bytes.IndexByte(body[i:end], '\\') >= 0 {
			if json.Unmarshal(body[i:end], &key) != nil {
				return nil, false
			}
		}
		i = skipSpace(body, end)
		i = skipSpace(body, i+1) // past ':'
		vend := valueEnd(body, i)
		top[key] = body[i:vend:vend]
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
