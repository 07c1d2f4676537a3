package awsproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// requestForm turns a decoded JSON or CBOR request into the query protocol's
// form for the operation: Action, Version and the input members serialized as
// botocore's query serializer does (Struct.Member, List.member.N or a
// flattened List.N, Map.entry.N.key / .value; timestamps ISO 8601, booleans
// true/false, blobs base64, an empty list as "List="). Unknown members are
// ignored, as AWS does; null members are absent. A value of the wrong kind is
// a 400 SerializationException naming the member.
func (m *Model) requestForm(op string, mop *modelOp, tree any) ([]byte, *Error) {
	out := url.Values{}
	if tree != nil {
		if _, isObj := tree.(map[string]any); !isObj {
			return nil, badRequest(CodeSerialization, "The request body must be a structure, not %s", kindOf(tree))
		}
		if mop.input != nil {
			if err := toQuery(mop.input.sh, tree, "", "", out); err != nil {
				return nil, err
			}
		}
	}
	out.Set("Action", op)
	out.Set("Version", m.APIVersion)
	return []byte(out.Encode()), nil
}

// toQuery serializes v, of shape s, under prefix; path names the member in errors.
func toQuery(s *shape, v any, prefix, path string, out url.Values) *Error {
	if v == nil {
		return nil
	}
	wrong := func(want string) *Error {
		if path == "" {
			return badRequest(CodeSerialization, "The request body must be %s, not %s", want, kindOf(v))
		}
		return badRequest(CodeSerialization, "Member '%s' must be %s, not %s", quote(path), want, kindOf(v))
	}
	join := func(a, b string) string {
		if a == "" {
			return b
		}
		return a + "." + b
	}
	switch s.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			return wrong("a structure")
		}
		for _, k := range sortedKeys(obj) {
			r := s.Members[k]
			if r == nil {
				continue
			}
			if err := toQuery(r.sh, obj[k], join(prefix, r.queryName(k)), join(path, k), out); err != nil {
				return err
			}
		}
	case "list":
		list, ok := v.([]any)
		if !ok {
			return wrong("a list")
		}
		if len(list) == 0 {
			out.Set(prefix, "")
			return nil
		}
		base := prefix + ".member"
		if s.Flattened {
			base = prefix
		} else if s.Member.LocationName != "" {
			base = prefix + "." + s.Member.LocationName
		}
		for i, e := range list {
			if err := toQuery(s.Member.sh, e, base+"."+itoa(i+1), path+"["+itoa(i)+"]", out); err != nil {
				return err
			}
		}
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			return wrong("a map")
		}
		base := prefix + ".entry"
		if s.Flattened {
			base = prefix
		}
		kn, vn := s.Key.xmlName("key"), s.Value.xmlName("value")
		for i, k := range sortedKeys(obj) {
			e := base + "." + itoa(i+1)
			out.Set(e+"."+kn, k)
			if err := toQuery(s.Value.sh, obj[k], e+"."+vn, path+"."+k, out); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return wrong("a string")
		}
		out.Set(prefix, str)
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return wrong("a boolean")
		}
		out.Set(prefix, strconv.FormatBool(b))
	case "integer", "long", "short", "byte":
		n, ok := integerOf(v)
		if !ok {
			return wrong("an integer")
		}
		out.Set(prefix, n)
	case "float", "double":
		f, ok := floatOf(v)
		if !ok {
			return wrong("a number")
		}
		out.Set(prefix, f)
	case "timestamp":
		t, ok := timeOf(v)
		if !ok {
			return wrong("a timestamp (seconds since the epoch)")
		}
		out.Set(prefix, t.UTC().Format(time.RFC3339Nano))
	case "blob":
		switch b := v.(type) {
		case []byte:
			out.Set(prefix, base64.StdEncoding.EncodeToString(b))
		case string: // JSON: base64 already
			if _, err := base64.StdEncoding.DecodeString(b); err != nil {
				return wrong("a base64-encoded blob")
			}
			out.Set(prefix, b)
		default:
			return wrong("a blob")
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// kindOf names v's wire kind for error messages (never its value).
func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a structure"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, int64, uint64, float64, float32, *big.Int, big.Int:
		return "a number"
	case []byte:
		return "a byte string"
	case time.Time:
		return "a timestamp"
	}
	return "an unsupported value"
}

// integerOf formats an integral JSON or CBOR number.
func integerOf(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
			return "", false
		}
		return string(n), true
	case int64:
		return strconv.FormatInt(n, 10), true
	case uint64:
		if n > math.MaxInt64 {
			return "", false
		}
		return strconv.FormatUint(n, 10), true
	}
	return "", false
}

// floatOf formats a JSON or CBOR number.
func floatOf(v any) (string, bool) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return "", false
		}
		f = x
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int64:
		f = float64(n)
	case uint64:
		f = float64(n)
	default:
		return "", false
	}
	// NaN and infinities pass as NaN, +Inf, -Inf: the operation refuses them as it
	// does in the query protocol.
	return strconv.FormatFloat(f, 'g', -1, 64), true
}

// timeOf reads a timestamp: seconds since the epoch (JSON number, CBOR
// number) or a CBOR tag 1 time.
func timeOf(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, true
	case json.Number, float64, float32, int64, uint64:
		s, _ := floatOf(t)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.Abs(f) > 1e11 {
			return time.Time{}, false
		}
		return time.UnixMicro(int64(math.Round(f * 1e6))).UTC(), true
	}
	return time.Time{}, false
}

// xnode is an element of a parsed XML answer.
type xnode struct {
	name string
	text string
	kids []*xnode
}

func (n *xnode) child(name string) *xnode {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

func (n *xnode) children(name string) []*xnode {
	var out []*xnode
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
	}
	return out
}

// parseXMLTree parses one element (the <ActionResult> our own encoder wrote).
func parseXMLTree(b []byte) (*xnode, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []*xnode
	var root *xnode
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &xnode{name: t.Name.Local}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if root == nil {
		return nil, errors.New("awsproto: empty XML result")
	}
	return root, nil
}

// fromXML reads the element n as shape s (the query protocol's XML
// serialization) into a tree for the JSON and CBOR encoders.
func fromXML(s *shape, n *xnode) (any, error) {
	switch s.Type {
	case "structure":
		obj := map[string]any{}
		for name, r := range s.Members {
			xn := r.xmlName(name)
			if r.sh.Type == "list" || r.sh.Type == "map" {
				if r.sh.Flattened || r.Flattened {
					kids := n.children(xn)
					if len(kids) == 0 {
						continue
					}
					v, err := fromXMLFlat(r.sh, kids)
					if err != nil {
						return nil, err
					}
					obj[name] = v
					continue
				}
			}
			k := n.child(xn)
			if k == nil {
				continue
			}
			v, err := fromXML(r.sh, k)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			obj[name] = v
		}
		return obj, nil
	case "list", "map":
		if s.Type == "list" {
			return fromXMLFlat(s, n.children(s.Member.xmlName("member")))
		}
		return fromXMLFlat(s, n.children("entry"))
	case "string":
		return n.text, nil
	case "boolean":
		return strconv.ParseBool(n.text)
	case "integer", "long", "short", "byte":
		return strconv.ParseInt(n.text, 10, 64)
	case "float", "double":
		return strconv.ParseFloat(n.text, 64)
	case "timestamp":
		return parseISOTime(n.text)
	case "blob":
		return base64.StdEncoding.DecodeString(n.text)
	}
	return nil, fmt.Errorf("unsupported shape type %q", s.Type)
}

// fromXMLFlat reads the list members, or the map entries, of shape s.
func fromXMLFlat(s *shape, kids []*xnode) (any, error) {
	if s.Type == "list" {
		out := make([]any, 0, len(kids))
		for _, k := range kids {
			v, err := fromXML(s.Member.sh, k)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	out := make(map[string]any, len(kids))
	for _, e := range kids {
		kn, vn := e.child(s.Key.xmlName("key")), e.child(s.Value.xmlName("value"))
		if kn == nil || vn == nil {
			return nil, errors.New("map entry without a key or a value")
		}
		v, err := fromXML(s.Value.sh, vn)
		if err != nil {
			return nil, err
		}
		out[kn.text] = v
	}
	return out, nil
}

// parseISOTime reads the query protocol's ISO 8601 timestamps.
func parseISOTime(s string) (time.Time, error) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not an ISO 8601 timestamp: %q", s)
}

func itoa(i int) string { return strconv.Itoa(i) }
