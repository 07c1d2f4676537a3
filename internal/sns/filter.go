package sns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Subscription filter policies (the FilterPolicy and FilterPolicyScope subscription
// attributes), in SNS's filter policy language as AWS documents it ("Amazon SNS message
// filtering", "Filter policy constraints in Amazon SNS"):
//
//   - A policy is a JSON object. Its keys are ANDed; each key's list of values is ORed.
//     A value is a string, number, true, false or null (exact match: strings are
//     case-sensitive, numbers compare by value) or a one-key match expression:
//     {"prefix": s}, {"suffix": s}, {"equals-ignore-case": s}, {"anything-but": v}
//     (v a value, a list of strings and numbers, or {"prefix": s}),
//     {"numeric": ["=", n]} or a range ([">", n] / [">=", n], optionally followed by
//     "<" / "<=" and a greater bound), {"exists": true|false} and {"cidr": "10.0.0.0/24"}.
//   - "$or": [policy, policy, ...] (at least two objects) ORs whole sub-policies, at any
//     level.
//   - FilterPolicyScope MessageAttributes (the default) matches the message attributes:
//     a String attribute is a string, Number a number, String.Array a list of values
//     (any element may match); Binary attributes are ignored. No nesting.
//   - FilterPolicyScope MessageBody matches the message, which must be a JSON object;
//     keys may nest ({"order": {"status": ["paid"]}}). Arrays in the message are lists
//     of values; under a nested key holding an array of objects, one element has to
//     match the whole nested policy.
//   - {"exists": true} needs a non-null value; {"exists": false} matches a missing key.
//     A message with no attributes (for MessageAttributes) or an empty JSON object (for
//     MessageBody) matches no policy that has a condition, {"exists": false} included,
//     as AWS documents it.
//   - Numbers compare with five digits after the decimal point.
//
// Limits, with AWS's error messages: 256 KB of valid UTF-8 JSON, at most 5 top-level
// keys, at most 150 combinations (the product of the lengths of the value lists, each
// multiplied by the depth of its key; $or adds up its alternatives), no empty lists.
// Coffer also refuses nesting deeper than 150 levels as too complex (a value list that
// deep would be).

// Filter policy scopes.
const (
	ScopeMessageAttributes = "MessageAttributes"
	ScopeMessageBody       = "MessageBody"
)

const (
	maxFilterPolicySize         = 256 * 1024
	maxFilterPolicyKeys         = 5
	maxFilterPolicyCombinations = 150
)

// ---- ordered JSON ----

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// jsonValue is a JSON value whose objects keep their keys in document order (for
// deterministic validation errors). A repeated key keeps its last value, in place of the
// first.
type jsonValue struct {
	kind jsonKind
	b    bool
	s    string // string, or a number's text
	arr  []*jsonValue
	keys []string
	vals []*jsonValue
}

// maxPolicyDepth bounds the nesting of a policy's objects and arrays. It rejects no
// policy AWS accepts: a value list under a key this deep already makes more than the
// 150 combinations allowed (see compileFilterPolicy).
const maxPolicyDepth = maxFilterPolicyCombinations

var errTooDeep = errors.New("nested too deep")

func parseOrderedJSON(data string) (*jsonValue, error) {
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	v, err := readJSONValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func readJSONValue(dec *json.Decoder, depth int) (*jsonValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth > maxPolicyDepth {
			return nil, errTooDeep
		}
		switch t {
		case '{':
			v := &jsonValue{kind: jsonObject}
			index := map[string]int{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				val, err := readJSONValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				if i, dup := index[k]; dup {
					v.vals[i] = val
				} else {
					index[k] = len(v.keys)
					v.keys, v.vals = append(v.keys, k), append(v.vals, val)
				}
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			return v, nil
		case '[':
			v := &jsonValue{kind: jsonArray}
			for dec.More() {
				e, err := readJSONValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, e)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return v, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return &jsonValue{kind: jsonString, s: t}, nil
	case json.Number:
		return &jsonValue{kind: jsonNumber, s: t.String()}, nil
	case bool:
		return &jsonValue{kind: jsonBool, b: t}, nil
	case nil:
		return &jsonValue{kind: jsonNull}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// ---- compiled policies ----

// literal is a JSON scalar: a policy value or a value of the message.
type literal struct {
	kind  jsonKind // jsonNull, jsonBool, jsonNumber or jsonString
	s     string   // string, or a number's text
	n     float64  // number (numOK)
	numOK bool     // the number is finite
	b     bool
}

func numberLiteral(text string) literal {
	f, err := strconv.ParseFloat(text, 64)
	return literal{kind: jsonNumber, s: text, n: f, numOK: err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)}
}

// normNumber rounds to five digits after the decimal point, the precision of SNS's
// numeric matching.
func normNumber(f float64) float64 { return math.Round(f*1e5) / 1e5 }

func (a literal) equal(b literal) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case jsonString:
		return a.s == b.s
	case jsonNumber:
		if a.numOK && b.numOK {
			return normNumber(a.n) == normNumber(b.n)
		}
		return a.s == b.s
	case jsonBool:
		return a.b == b.b
	}
	return true // null
}

type condKind uint8

const (
	condEqual condKind = iota
	condPrefix
	condSuffix
	condEqualsIgnoreCase
	condAnythingBut
	condAnythingButPrefix
	condNumeric
	condExists
	condCIDR
)

type numericBound struct {
	op string // = < <= > >=
	v  float64
}

type condition struct {
	kind   condKind
	lit    literal   // condEqual
	s      string    // prefix, suffix, equals-ignore-case, anything-but prefix
	lits   []literal // anything-but
	bounds []numericBound
	exists bool
	cidr   netip.Prefix
}

// policyNode is one level of a policy: all its fields and, for each $or, one of its
// alternatives must match.
type policyNode struct {
	fields []policyField
	ors    [][]*policyNode
}

type policyField struct {
	key    string
	nested *policyNode // MessageBody scope: a nested object
	conds  []condition // else: any of these
}

// filterPolicy is a compiled FilterPolicy for its scope.
type filterPolicy struct {
	scope string
	root  *policyNode
}

func (p *filterPolicy) empty() bool { return len(p.root.fields) == 0 && len(p.root.ors) == 0 }

// policyError is a filter policy validation error: the reason, to be prefixed with
// "Invalid parameter: " (SetSubscriptionAttributes) or "Invalid parameter: Attributes
// Reason: " (Subscribe).
type policyError struct{ reason string }

func (e *policyError) Error() string { return e.reason }

func policyErr(format string, args ...any) error {
	return &policyError{reason: "FilterPolicy: " + fmt.Sprintf(format, args...)}
}

// matchOperators are the keys of match expressions ({"prefix": ...}).
var matchOperators = map[string]bool{"prefix": true, "suffix": true, "equals-ignore-case": true, "anything-but": true,
	"numeric": true, "exists": true, "cidr": true}

// isOrList reports whether v, the value of a "$or" key, makes it the $or operator: a list
// of at least two objects none of which is a match expression. Otherwise "$or" is an
// ordinary key, as AWS documents it.
func isOrList(v *jsonValue) bool {
	if v.kind != jsonArray || len(v.arr) < 2 {
		return false
	}
	for _, e := range v.arr {
		if e.kind != jsonObject || (len(e.keys) == 1 && matchOperators[e.keys[0]]) {
			return false
		}
	}
	return true
}

// compileFilterPolicy parses and validates a filter policy for a scope
// (ScopeMessageAttributes or ScopeMessageBody). Errors are *policyError.
func compileFilterPolicy(policy, scope string) (*filterPolicy, error) {
	if len(policy) > maxFilterPolicySize {
		return nil, policyErr("Filter policy is too large (maximum 256 KB)")
	}
	if !utf8.ValidString(policy) {
		return nil, policyErr("failed to parse JSON.")
	}
	doc, err := parseOrderedJSON(policy)
	if errors.Is(err, errTooDeep) {
		return nil, policyErr("Filter policy is too complex")
	}
	if err != nil {
		return nil, policyErr("failed to parse JSON.")
	}
	if doc.kind != jsonObject {
		return nil, policyErr("Filter policy must be a JSON object")
	}
	if len(doc.keys) > maxFilterPolicyKeys {
		return nil, policyErr("Filter policy can not have more than %d keys", maxFilterPolicyKeys)
	}
	c := &policyCompiler{scope: scope}
	root, combos, err := c.node(doc, 1, 1)
	if err != nil {
		return nil, err
	}
	if combos > maxFilterPolicyCombinations {
		return nil, policyErr("Filter policy is too complex")
	}
	if c.ruleErr != nil {
		return nil, c.ruleErr
	}
	return &filterPolicy{scope: scope, root: root}, nil
}

type policyCompiler struct {
	scope   string
	ruleErr error // the first invalid match value, reported after the structure and complexity
}

const combosCap = 1 << 40

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > combosCap/b {
		return combosCap
	}
	return a * b
}

// node compiles an object of the policy at a depth (top level 1) and returns it with the
// number of combinations so far (combos times its own).
func (c *policyCompiler) node(obj *jsonValue, depth int, combos int64) (*policyNode, int64, error) {
	n := &policyNode{}
	for i, key := range obj.keys {
		v := obj.vals[i]
		switch {
		case key == "$or" && isOrList(v):
			var alts []*policyNode
			var sum int64
			for _, e := range v.arr {
				alt, k, err := c.node(e, depth, combos)
				if err != nil {
					return nil, 0, err
				}
				alts = append(alts, alt)
				sum = min(sum+k, combosCap)
			}
			n.ors = append(n.ors, alts)
			combos = sum
		case v.kind == jsonObject:
			if c.scope != ScopeMessageBody {
				return nil, 0, &policyError{reason: "Filter policy scope MessageAttributes does not support nested filter policy"}
			}
			sub, k, err := c.node(v, depth+1, combos)
			if err != nil {
				return nil, 0, err
			}
			n.fields = append(n.fields, policyField{key: key, nested: sub})
			combos = k
		case v.kind == jsonArray:
			if len(v.arr) == 0 {
				return nil, 0, policyErr("Empty arrays are not allowed")
			}
			conds := make([]condition, 0, len(v.arr))
			for _, e := range v.arr {
				cond, err := compileCondition(e)
				if err != nil {
					if c.ruleErr == nil {
						c.ruleErr = err
					}
					continue
				}
				conds = append(conds, cond)
			}
			n.fields = append(n.fields, policyField{key: key, conds: conds})
			combos = satMul(combos, satMul(int64(len(v.arr)), int64(depth)))
		default:
			return nil, 0, policyErr("%q must be an object or an array", key)
		}
	}
	return n, combos, nil
}

func scalarLiteral(v *jsonValue) (literal, bool) {
	switch v.kind {
	case jsonString:
		return literal{kind: jsonString, s: v.s}, true
	case jsonNumber:
		return numberLiteral(v.s), true
	case jsonBool:
		return literal{kind: jsonBool, b: v.b}, true
	case jsonNull:
		return literal{kind: jsonNull}, true
	}
	return literal{}, false
}

// compileCondition compiles one element of a key's list of values.
func compileCondition(v *jsonValue) (condition, error) {
	if lit, ok := scalarLiteral(v); ok {
		return condition{kind: condEqual, lit: lit}, nil
	}
	if v.kind != jsonObject {
		return condition{}, policyErr("Match value must be String, number, true, false, or null")
	}
	if len(v.keys) != 1 {
		return condition{}, policyErr("Only one key allowed in match expression")
	}
	op, arg := v.keys[0], v.vals[0]
	switch op {
	case "prefix", "suffix", "equals-ignore-case":
		if arg.kind != jsonString {
			return condition{}, policyErr("%s match pattern must be a string", op)
		}
		k := map[string]condKind{"prefix": condPrefix, "suffix": condSuffix, "equals-ignore-case": condEqualsIgnoreCase}[op]
		return condition{kind: k, s: arg.s}, nil
	case "anything-but":
		return compileAnythingBut(arg)
	case "exists":
		if arg.kind != jsonBool {
			return condition{}, policyErr("exists match pattern must be either true or false.")
		}
		return condition{kind: condExists, exists: arg.b}, nil
	case "numeric":
		return compileNumeric(arg)
	case "cidr":
		return compileCIDR(arg)
	}
	return condition{}, policyErr("Unrecognized match type %s", op)
}

func compileAnythingBut(arg *jsonValue) (condition, error) {
	switch arg.kind {
	case jsonArray:
		if len(arg.arr) == 0 {
			return condition{}, policyErr("Empty arrays are not allowed")
		}
		c := condition{kind: condAnythingBut}
		for _, e := range arg.arr {
			if e.kind != jsonString && e.kind != jsonNumber {
				return condition{}, policyErr("Inside anything but list, start|null|boolean is not supported.")
			}
			lit, _ := scalarLiteral(e)
			c.lits = append(c.lits, lit)
		}
		return c, nil
	case jsonObject:
		for _, k := range arg.keys {
			if k != "prefix" {
				return condition{}, policyErr("Unsupported anything-but pattern: %s", k)
			}
		}
		if len(arg.keys) != 1 {
			return condition{}, policyErr("Only one key allowed in match expression")
		}
		if arg.vals[0].kind != jsonString {
			return condition{}, policyErr("prefix match pattern must be a string")
		}
		return condition{kind: condAnythingButPrefix, s: arg.vals[0].s}, nil
	}
	lit, _ := scalarLiteral(arg)
	return condition{kind: condAnythingBut, lits: []literal{lit}}, nil
}

func compileNumeric(arg *jsonValue) (condition, error) {
	if arg.kind != jsonArray {
		return condition{}, policyErr("Value of numeric must be an array.")
	}
	terms := arg.arr
	if len(terms) == 0 {
		return condition{}, policyErr("Invalid member in numeric match: ]")
	}
	value := func(i int, op string) (float64, error) {
		if i >= len(terms) || terms[i].kind != jsonNumber {
			if op == "=" {
				op = "equals"
			}
			return 0, policyErr("Value of %s must be numeric", op)
		}
		lit := numberLiteral(terms[i].s)
		if !lit.numOK {
			return 0, policyErr("Value of %s must be numeric", op)
		}
		return lit.n, nil
	}
	if terms[0].kind != jsonString {
		return condition{}, policyErr("Invalid member in numeric match: %s", jsonText(terms[0]))
	}
	op := terms[0].s
	switch op {
	case "=", "<", "<=", ">", ">=":
	default:
		return condition{}, policyErr("Unrecognized numeric range operator: %s", op)
	}
	lo, err := value(1, op)
	if err != nil {
		return condition{}, err
	}
	c := condition{kind: condNumeric, bounds: []numericBound{{op, lo}}}
	if len(terms) == 2 {
		return c, nil
	}
	if op != ">" && op != ">=" {
		return condition{}, policyErr("Too many elements in numeric expression")
	}
	if terms[2].kind != jsonString {
		return condition{}, policyErr("Bad value in numeric range: %s", jsonText(terms[2]))
	}
	op2 := terms[2].s
	if op2 != "<" && op2 != "<=" {
		return condition{}, policyErr("Bad numeric range operator: %s", op2)
	}
	hi, err := value(3, op2)
	if err != nil {
		return condition{}, err
	}
	if hi <= lo {
		return condition{}, policyErr("Bottom must be less than top")
	}
	if len(terms) > 4 {
		return condition{}, policyErr("Too many terms in numeric range expression")
	}
	c.bounds = append(c.bounds, numericBound{op2, hi})
	return c, nil
}

func compileCIDR(arg *jsonValue) (condition, error) {
	if arg.kind != jsonString {
		return condition{}, policyErr("prefix match pattern must be a string")
	}
	ip, bits, ok := strings.Cut(arg.s, "/")
	if !ok || strings.Contains(bits, "/") {
		return condition{}, policyErr("Malformed CIDR, one '/' required")
	}
	if _, err := strconv.Atoi(bits); err != nil {
		return condition{}, policyErr("Malformed CIDR, mask bits must be an integer")
	}
	p, err := netip.ParsePrefix(arg.s)
	if err != nil {
		return condition{}, policyErr("Nonstandard IP address: %s", ip)
	}
	return condition{kind: condCIDR, cidr: p.Masked()}, nil
}

// jsonText is a short rendering of a policy value for error messages.
func jsonText(v *jsonValue) string {
	switch v.kind {
	case jsonString, jsonNumber:
		return v.s
	case jsonBool:
		return strconv.FormatBool(v.b)
	case jsonNull:
		return "null"
	case jsonArray:
		return "["
	}
	return "{"
}

// policyIsNested reports whether a (valid) filter policy has a nested key, which only the
// MessageBody scope allows. It is what Apply checks, so that concurrent changes of a
// subscription's FilterPolicy and FilterPolicyScope cannot leave a nested policy in the
// MessageAttributes scope.
func policyIsNested(policy string) bool {
	if policy == "" {
		return false
	}
	doc, err := parseOrderedJSON(policy)
	if err != nil || doc.kind != jsonObject {
		return false
	}
	var nested func(*jsonValue) bool
	nested = func(obj *jsonValue) bool {
		for i, k := range obj.keys {
			v := obj.vals[i]
			if k == "$or" && isOrList(v) {
				for _, e := range v.arr {
					if nested(e) {
						return true
					}
				}
			} else if v.kind == jsonObject {
				return true
			}
		}
		return false
	}
	return nested(doc)
}

// ---- matching ----

// message is what a filter policy is matched against: a published message, its
// attributes and (MessageBody scope) its body decoded once for all subscriptions.
type message struct {
	attrs    map[string]MessageAttributeValue
	body     string
	attrObj  map[string]any
	attrDone bool
	bodyObj  map[string]any
	bodyDone bool
}

// attributes returns the message attributes as a JSON object: String as a string,
// Number as a number, String.Array as a list; Binary attributes are left out.
func (m *message) attributes() map[string]any {
	if m.attrDone {
		return m.attrObj
	}
	m.attrDone = true
	obj := map[string]any{}
	for k, v := range m.attrs {
		base, _, _ := strings.Cut(v.DataType, ".")
		switch {
		case v.DataType == "String.Array":
			if a, ok := decodeJSON(v.StringValue).([]any); ok {
				obj[k] = a
			}
		case base == "String":
			obj[k] = v.StringValue
		case base == "Number":
			obj[k] = json.Number(v.StringValue)
		}
	}
	m.attrObj = obj
	return obj
}

// bodyObject returns the message decoded as a JSON object, or nil if it is not one.
func (m *message) bodyObject() map[string]any {
	if !m.bodyDone {
		m.bodyDone = true
		m.bodyObj, _ = decodeJSON(m.body).(map[string]any)
	}
	return m.bodyObj
}

// decodeJSON decodes a JSON document with numbers as json.Number (nil if it is not
// valid JSON).
func decodeJSON(s string) any {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil
	}
	return v
}

// matches reports whether the message passes the policy.
func (p *filterPolicy) matches(m *message) bool {
	if p.empty() {
		return true
	}
	var obj map[string]any
	if p.scope == ScopeMessageBody {
		obj = m.bodyObject()
	} else {
		obj = m.attributes()
	}
	if len(obj) == 0 {
		return false // not a JSON object, no attributes, or {}
	}
	return p.root.matches(obj)
}

// matches evaluates the node on an object (nil: the object is missing).
func (n *policyNode) matches(obj map[string]any) bool {
	for _, f := range n.fields {
		v, present := obj[f.key]
		if f.nested != nil {
			var objs []map[string]any
			if present {
				objs = objectsOf(v, objs)
			}
			if len(objs) == 0 {
				if !f.nested.matches(nil) {
					return false
				}
				continue
			}
			ok := false
			for _, o := range objs {
				if f.nested.matches(o) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
			continue
		}
		var leaves []literal
		if present {
			leaves = leavesOf(v, leaves)
		}
		if !matchAny(f.conds, leaves) {
			return false
		}
	}
	for _, alts := range n.ors {
		ok := false
		for _, a := range alts {
			if a.matches(obj) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// objectsOf appends the objects v holds: v itself, or the objects of a (nested) array.
func objectsOf(v any, out []map[string]any) []map[string]any {
	switch t := v.(type) {
	case map[string]any:
		out = append(out, t)
	case []any:
		for _, e := range t {
			out = objectsOf(e, out)
		}
	}
	return out
}

// leavesOf appends the scalar values v holds: v itself, or the scalars of a (nested)
// array. Objects are not leaves.
func leavesOf(v any, out []literal) []literal {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			out = leavesOf(e, out)
		}
	case map[string]any:
	case string:
		out = append(out, literal{kind: jsonString, s: t})
	case json.Number:
		out = append(out, numberLiteral(t.String()))
	case float64:
		out = append(out, literal{kind: jsonNumber, s: strconv.FormatFloat(t, 'g', -1, 64), n: t, numOK: true})
	case bool:
		out = append(out, literal{kind: jsonBool, b: t})
	case nil:
		out = append(out, literal{kind: jsonNull})
	}
	return out
}

func matchAny(conds []condition, leaves []literal) bool {
	for i := range conds {
		if conds[i].matches(leaves) {
			return true
		}
	}
	return false
}

// matches reports whether the condition holds for a key whose values are leaves (none:
// the key is missing).
func (c *condition) matches(leaves []literal) bool {
	if c.kind == condExists {
		has := false
		for _, l := range leaves {
			if l.kind != jsonNull {
				has = true
				break
			}
		}
		return has == c.exists
	}
	for _, l := range leaves {
		if c.matchesValue(l) {
			return true
		}
	}
	return false
}

func (c *condition) matchesValue(l literal) bool {
	switch c.kind {
	case condEqual:
		return c.lit.equal(l)
	case condPrefix:
		return l.kind == jsonString && strings.HasPrefix(l.s, c.s)
	case condSuffix:
		return l.kind == jsonString && strings.HasSuffix(l.s, c.s)
	case condEqualsIgnoreCase:
		return l.kind == jsonString && strings.EqualFold(l.s, c.s)
	case condAnythingBut:
		if l.kind == jsonNull {
			return false
		}
		for _, x := range c.lits {
			if x.equal(l) {
				return false
			}
		}
		return true
	case condAnythingButPrefix:
		return l.kind == jsonString && !strings.HasPrefix(l.s, c.s)
	case condNumeric:
		if l.kind != jsonNumber || !l.numOK {
			return false
		}
		v := normNumber(l.n)
		for _, b := range c.bounds {
			w := normNumber(b.v)
			var ok bool
			switch b.op {
			case "=":
				ok = v == w
			case "<":
				ok = v < w
			case "<=":
				ok = v <= w
			case ">":
				ok = v > w
			case ">=":
				ok = v >= w
			}
			if !ok {
				return false
			}
		}
		return true
	case condCIDR:
		if l.kind != jsonString {
			return false
		}
		a, err := netip.ParseAddr(l.s)
		return err == nil && (c.cidr.Contains(a) || c.cidr.Contains(a.Unmap()))
	}
	return false
}
