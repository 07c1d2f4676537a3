package policy

import (
	"bytes"
	"encoding/base64"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type opKind uint8

const (
	opStringEquals opKind = iota
	opStringEqualsIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opIPAddress
	opArnLike
	opBinaryEquals
	opNull
)

type setKind uint8

const (
	setNone setKind = iota
	setAnyValue
	setAllValues
)

// operators maps an operator name without prefix or IfExists suffix to its
// positive kind and whether it is negated.
var operators = map[string]struct {
	op      opKind
	negated bool
}{
	"StringEquals":              {opStringEquals, false},
	"StringNotEquals":           {opStringEquals, true},
	"StringEqualsIgnoreCase":    {opStringEqualsIgnoreCase, false},
	"StringNotEqualsIgnoreCase": {opStringEqualsIgnoreCase, true},
	"StringLike":                {opStringLike, false},
	"StringNotLike":             {opStringLike, true},
	"NumericEquals":             {opNumericEquals, false},
	"NumericNotEquals":          {opNumericEquals, true},
	"NumericLessThan":           {opNumericLessThan, false},
	"NumericLessThanEquals":     {opNumericLessThanEquals, false},
	"NumericGreaterThan":        {opNumericGreaterThan, false},
	"NumericGreaterThanEquals":  {opNumericGreaterThanEquals, false},
	"DateEquals":                {opDateEquals, false},
	"DateNotEquals":             {opDateEquals, true},
	"DateLessThan":              {opDateLessThan, false},
	"DateLessThanEquals":        {opDateLessThanEquals, false},
	"DateGreaterThan":           {opDateGreaterThan, false},
	"DateGreaterThanEquals":     {opDateGreaterThanEquals, false},
	"Bool":                      {opBool, false},
	"IpAddress":                 {opIPAddress, false},
	"NotIpAddress":              {opIPAddress, true},
	"ArnEquals":                 {opArnLike, false},
	"ArnLike":                   {opArnLike, false},
	"ArnNotEquals":              {opArnLike, true},
	"ArnNotLike":                {opArnLike, true},
	"BinaryEquals":              {opBinaryEquals, false},
	"Null":                      {opNull, false},
}

// ccond is one compiled condition key.
type ccond struct {
	op       opKind
	set      setKind
	negated  bool
	ifExists bool
	vars     bool // some value holds a policy variable
	key      string
	vals     []string
	nums     []float64
	times    []time.Time
	prefixes []netip.Prefix
	bins     [][]byte
}

func compileCondition(c Condition, vars bool) (ccond, error) {
	cc := ccond{key: c.Key, vals: c.Values}
	name := c.Operator
	switch {
	case strings.HasPrefix(name, "ForAnyValue:"):
		cc.set, name = setAnyValue, strings.TrimPrefix(name, "ForAnyValue:")
	case strings.HasPrefix(name, "ForAllValues:"):
		cc.set, name = setAllValues, strings.TrimPrefix(name, "ForAllValues:")
	}
	if base, ok := strings.CutSuffix(name, "IfExists"); ok && base != "Null" {
		cc.ifExists, name = true, base
	}
	spec, ok := operators[name]
	if !ok {
		return cc, malformed("Invalid Condition type : %s.", c.Operator)
	}
	cc.op, cc.negated = spec.op, spec.negated
	if cc.op == opNull && cc.set != setNone {
		return cc, malformed("Invalid Condition type : %s.", c.Operator)
	}
	for _, v := range c.Values {
		var err error
		switch cc.op {
		case opStringEquals, opStringEqualsIgnoreCase, opStringLike, opArnLike:
			cc.vars = cc.vars || (vars && hasVars(v))
		case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
			var f float64
			f, err = parseNumber(v)
			cc.nums = append(cc.nums, f)
		case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
			var t time.Time
			t, err = parseDate(v)
			cc.times = append(cc.times, t)
		case opBool, opNull:
			if v != "true" && v != "false" {
				err = strconv.ErrSyntax
			}
		case opIPAddress:
			var p netip.Prefix
			p, err = parsePrefix(v)
			cc.prefixes = append(cc.prefixes, p)
		case opBinaryEquals:
			var b []byte
			b, err = base64.StdEncoding.DecodeString(v)
			cc.bins = append(cc.bins, b)
		}
		if err != nil {
			return cc, malformed("Invalid value %q for condition %s key %s.", v, c.Operator, c.Key)
		}
	}
	return cc, nil
}

func parseNumber(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return 0, strconv.ErrSyntax
	}
	return f, err
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02",
}

// parseDate accepts ISO 8601 date-times, plain dates and epoch seconds.
func parseDate(s string) (time.Time, error) {
	if isInteger(s) {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0), nil
		}
	}
	var err error
	for _, l := range dateLayouts {
		var t time.Time
		if t, err = time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// isInteger reports whether s is an optionally signed run of digits. It
// keeps parseDate from paying for strconv's error on every ISO 8601 value.
func isInteger(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// eval evaluates the condition against the request.
func (c *ccond) eval(req *Request) bool {
	v := req.lookup(c.key)
	n := v.len()
	if c.op == opNull {
		for _, want := range c.vals {
			if (want == "true") == (n == 0) {
				return true
			}
		}
		return false
	}
	if n == 0 {
		switch {
		case c.ifExists:
			return true
		case c.set == setAllValues:
			return true
		case c.set == setAnyValue:
			return false
		default:
			return c.negated
		}
	}
	any, all := false, true
	for i := 0; i < n; i++ {
		m, ok := c.match(v.at(i), req)
		sat := ok && m != c.negated
		any = any || sat
		all = all && sat
	}
	switch c.set {
	case setAnyValue:
		return any
	case setAllValues:
		return all
	}
	if c.negated {
		return all
	}
	return any
}

// match reports whether the request value rv matches any policy value under
// the positive form of the operator. ok is false if rv cannot be
// interpreted for the operator.
func (c *ccond) match(rv string, req *Request) (matched, ok bool) {
	switch c.op {
	case opStringEquals, opStringEqualsIgnoreCase, opStringLike, opArnLike:
		for _, pv := range c.vals {
			if c.vars && hasVars(pv) {
				var ok bool
				if pv, ok = expand(pv, req); !ok {
					continue
				}
			}
			var m bool
			switch c.op {
			case opStringEquals:
				m = pv == rv
			case opStringEqualsIgnoreCase:
				m = strings.EqualFold(pv, rv)
			case opStringLike:
				m = glob(pv, rv, false)
			case opArnLike:
				m = arnLike(pv, rv)
			}
			if m {
				return true, true
			}
		}
		return false, true
	case opBool:
		for _, pv := range c.vals {
			if strings.EqualFold(pv, rv) {
				return true, true
			}
		}
		return false, true
	case opIPAddress:
		a, err := netip.ParseAddr(rv)
		if err != nil {
			return false, false
		}
		for _, p := range c.prefixes {
			if p.Contains(a.Unmap()) || p.Contains(a) {
				return true, true
			}
		}
		return false, true
	case opBinaryEquals:
		b, err := base64.StdEncoding.DecodeString(rv)
		if err != nil {
			return false, false
		}
		for _, pb := range c.bins {
			if bytes.Equal(pb, b) {
				return true, true
			}
		}
		return false, true
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, err := parseDate(rv)
		if err != nil {
			return false, false
		}
		for _, pt := range c.times {
			if compare(c.op-opDateEquals, t.Compare(pt)) {
				return true, true
			}
		}
		return false, true
	default:
		f, err := parseNumber(rv)
		if err != nil {
			return false, false
		}
		for _, pf := range c.nums {
			if compare(c.op-opNumericEquals, cmpFloat(f, pf)) {
				return true, true
			}
		}
		return false, true
	}
}

// compare applies the comparison at offset rel (Equals, LessThan,
// LessThanEquals, GreaterThan, GreaterThanEquals) to a three-way result.
func compare(rel opKind, c int) bool {
	switch rel {
	case 0:
		return c == 0
	case 1:
		return c < 0
	case 2:
		return c <= 0
	case 3:
		return c > 0
	default:
		return c >= 0
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
