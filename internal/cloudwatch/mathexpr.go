package cloudwatch

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Metric math: GetMetricData's Expression and the expressions of alarms on metric math
// (PutMetricAlarm's Metrics), as AWS documents them ("Metric math syntax and
// functions" in the CloudWatch User Guide). This file parses and type-checks an
// expression; mathexpr_eval.go evaluates it.
//
// A value is a number (S), a time series (TS) or an array of time series (TS[]). An
// expression is made of numbers, the Ids of the request's other queries, METRICS() and
// METRICS("substring") (the MetricStat queries, or those whose Id contains the string),
// array literals [a, b, ...], the arithmetic operators + - * / ^ and unary minus, the
// comparison operators == != < <= > >= and the logical operators AND (&&) and OR (||)
// (1 for true, 0 for false), parentheses, and the functions of mathFuncs. Function
// names are upper case and Ids start with a lower-case letter, as on AWS.
//
// Bounds (a request must not be able to exhaust memory or CPU): an expression has at
// most maxExpressionLen characters and maxExpressionDepth levels of nesting; a function
// that fills a time series (FILL) produces at most maxGridPoints datapoints per series;
// and the evaluation of a request processes at most mathBudget datapoints in all.

const (
	maxExpressionLen   = 2048
	maxExpressionDepth = 50
	maxGridPoints      = 100800 // GetMetricData's most datapoints per call
	mathBudget         = 10_000_000
)

// mathKind is the type of a value.
type mathKind uint8

const (
	kindScalar  mathKind = iota + 1 // S
	kindSeries                      // TS
	kindArray                       // TS[]
	kindString                      // METRICS' argument
	kindKeyword                     // FILL's REPEAT and LINEAR
)

func (k mathKind) String() string {
	switch k {
	case kindScalar:
		return "a number"
	case kindSeries:
		return "a time series"
	case kindArray:
		return "an array of time series"
	case kindString:
		return "a string"
	case kindKeyword:
		return "a keyword"
	}
	return "nothing"
}

// tseries is a time series: ascending timestamps and their values, the period of its
// datapoints and the label of its metric.
type tseries struct {
	t      []time.Time
	v      []float64
	period time.Duration
	label  string
}

func (s *tseries) add(t time.Time, v float64) {
	s.t, s.v = append(s.t, t), append(s.v, v)
}

// mathValue is a number, a time series or an array of time series.
type mathValue struct {
	kind   mathKind
	num    float64
	series *tseries
	arr    []*tseries
	str    string // kindString, kindKeyword
}

func scalar(v float64) mathValue        { return mathValue{kind: kindScalar, num: v} }
func seriesValue(s *tseries) mathValue  { return mathValue{kind: kindSeries, series: s} }
func arrayValue(a []*tseries) mathValue { return mathValue{kind: kindArray, arr: a} }
func finite(v float64) bool             { return !math.IsNaN(v) && !math.IsInf(v, 0) }
func isCmpOp(op string) bool            { return slices.Contains([]string{"==", "!=", "<", "<=", ">", ">="}, op) }
func isLogicOp(op string) bool          { return op == "AND" || op == "OR" }
func newSeriesLike(s *tseries) *tseries { return &tseries{period: s.period, label: s.label} }
func exprErr(id, format string, a ...any) *Error {
	return cwErr("ValidationError", "Error in expression '%s': %s", id, fmt.Sprintf(format, a...))
}

type exprNode interface{}

type (
	numNode float64
	refNode string // the Id of another query
	strNode string // "substring"
	kwNode  string // REPEAT, LINEAR
	negNode struct{ x exprNode }
	binNode struct {
		op   string // + - * / ^ == != < <= > >= AND OR
		l, r exprNode
	}
	callNode struct {
		fn   string
		args []exprNode
	}
	arrayNode []exprNode
)

// ---- parsing ----

type token struct {
	kind byte // 'n' number, 'i' identifier, 's' string, 'o' operator or punctuation, 0 end
	text string
	num  float64
	pos  int
}

type exprParser struct {
	s     string
	pos   int // of the next character
	tok   token
	depth int
	ids   map[string]bool // the Ids the expression may use
	err   string
}

func (p *exprParser) fail(format string, a ...any) {
	if p.err == "" {
		p.err = fmt.Sprintf(format, a...)
	}
}

// syntax reports invalid syntax at the current token.
func (p *exprParser) syntax() {
	if p.tok.kind == 0 {
		p.fail("Invalid syntax: unexpected end of the expression")
		return
	}
	p.fail("Invalid syntax: unexpected %q at character %d", p.tok.text, p.tok.pos+1)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_'
}

// next reads the next token into p.tok.
func (p *exprParser) next() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.s) {
		p.tok = token{pos: start}
		return
	}
	c := p.s[p.pos]
	switch {
	case isDigit(c) || c == '.':
		for p.pos < len(p.s) && (isDigit(p.s[p.pos]) || p.s[p.pos] == '.') {
			p.pos++
		}
		if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
			q := p.pos + 1
			if q < len(p.s) && (p.s[q] == '+' || p.s[q] == '-') {
				q++
			}
			if q < len(p.s) && isDigit(p.s[q]) {
				for q < len(p.s) && isDigit(p.s[q]) {
					q++
				}
				p.pos = q
			}
		}
		text := p.s[start:p.pos]
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || !finite(f) {
			p.tok = token{kind: 'o', text: text, pos: start}
			p.fail("Invalid syntax: %q is not a number", text)
			return
		}
		p.tok = token{kind: 'n', text: text, num: f, pos: start}
	case isIdentChar(c):
		for p.pos < len(p.s) && isIdentChar(p.s[p.pos]) {
			p.pos++
		}
		p.tok = token{kind: 'i', text: p.s[start:p.pos], pos: start}
	case c == '"':
		end := strings.IndexByte(p.s[start+1:], '"')
		if end < 0 {
			p.tok = token{kind: 'o', text: `"`, pos: start}
			p.fail("Invalid syntax: unterminated string at character %d", start+1)
			return
		}
		p.pos = start + 1 + end + 1
		p.tok = token{kind: 's', text: p.s[start+1 : start+1+end], pos: start}
	default:
		for _, op := range []string{"==", "!=", "<=", ">=", "&&", "||"} {
			if strings.HasPrefix(p.s[start:], op) {
				p.pos += 2
				p.tok = token{kind: 'o', text: op, pos: start}
				return
			}
		}
		if strings.IndexByte("+-*/^()[],<>", c) >= 0 {
			p.pos++
			p.tok = token{kind: 'o', text: string(c), pos: start}
			return
		}
		r := []rune(p.s[start:])[0]
		p.tok = token{kind: 'o', text: string(r), pos: start}
		p.syntax()
	}
}

// is reports whether the current token is the operator or punctuation op.
func (p *exprParser) is(op string) bool { return p.err == "" && p.tok.kind == 'o' && p.tok.text == op }

func (p *exprParser) expect(op string) {
	if !p.is(op) {
		p.syntax()
		return
	}
	p.next()
}

// parseExpression parses the expression s of query id, which may use the Ids of ids.
func parseExpression(id, s string, ids map[string]bool) (exprNode, error) {
	if len(s) > maxExpressionLen {
		return nil, exprErr(id, "an expression has at most %d characters", maxExpressionLen)
	}
	p := &exprParser{s: s, ids: ids}
	p.next()
	n := p.or()
	if p.err == "" && p.tok.kind != 0 {
		p.syntax()
	}
	if p.err != "" {
		return nil, exprErr(id, "%s", p.err)
	}
	return n, nil
}

// or := and (('OR' | '||') and)*
func (p *exprParser) or() exprNode {
	n := p.and()
	for p.err == "" && (p.is("||") || p.tok.kind == 'i' && p.tok.text == "OR") {
		p.next()
		n = binNode{"OR", n, p.and()}
	}
	return n
}

// and := cmp (('AND' | '&&') cmp)*
func (p *exprParser) and() exprNode {
	n := p.cmp()
	for p.err == "" && (p.is("&&") || p.tok.kind == 'i' && p.tok.text == "AND") {
		p.next()
		n = binNode{"AND", n, p.cmp()}
	}
	return n
}

// cmp := add (('==' | '!=' | '<' | '<=' | '>' | '>=') add)*
func (p *exprParser) cmp() exprNode {
	n := p.add()
	for p.err == "" && p.tok.kind == 'o' && isCmpOp(p.tok.text) {
		op := p.tok.text
		p.next()
		n = binNode{op, n, p.add()}
	}
	return n
}

// add := mul (('+' | '-') mul)*
func (p *exprParser) add() exprNode {
	n := p.mul()
	for p.is("+") || p.is("-") {
		op := p.tok.text
		p.next()
		n = binNode{op, n, p.mul()}
	}
	return n
}

// mul := unary (('*' | '/') unary)*
func (p *exprParser) mul() exprNode {
	n := p.unary()
	for p.is("*") || p.is("/") {
		op := p.tok.text
		p.next()
		n = binNode{op, n, p.unary()}
	}
	return n
}

// unary := '-' unary | power. Every level of nesting goes through unary: it counts
// the depth.
func (p *exprParser) unary() exprNode {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExpressionDepth {
		p.fail("an expression has at most %d levels of nesting", maxExpressionDepth)
		return nil
	}
	if p.is("-") {
		p.next()
		return negNode{p.unary()}
	}
	return p.power()
}

// power := primary ('^' unary)?   (right-associative, above unary minus on its left)
func (p *exprParser) power() exprNode {
	n := p.primary()
	if p.is("^") {
		p.next()
		return binNode{"^", n, p.unary()}
	}
	return n
}

// primary := number | string | Id | REPEAT | LINEAR | FUNCTION '(' args ')' | '(' or ')'
// | '[' or (',' or)* ']'
func (p *exprParser) primary() exprNode {
	if p.err != "" {
		return nil
	}
	t := p.tok
	switch t.kind {
	case 'n':
		p.next()
		return numNode(t.num)
	case 's':
		p.next()
		return strNode(t.text)
	case 'i':
		p.next()
		if p.is("(") {
			return p.call(t)
		}
		switch {
		case t.text == "REPEAT" || t.text == "LINEAR":
			return kwNode(t.text)
		case p.ids[t.text]:
			return refNode(t.text)
		case t.text[0] >= 'a' && t.text[0] <= 'z':
			p.fail("Unrecognized metric or expression Id '%s'", t.text)
		default:
			p.fail("Invalid syntax: unexpected %q at character %d", t.text, t.pos+1)
		}
		return nil
	case 'o':
		switch t.text {
		case "(":
			p.next()
			n := p.or()
			p.expect(")")
			return n
		case "[":
			p.next()
			var elems arrayNode
			for {
				elems = append(elems, p.or())
				if !p.is(",") {
					break
				}
				p.next()
			}
			p.expect("]")
			return elems
		}
	}
	p.syntax()
	return nil
}

// call parses the arguments of the function named by t (the current token is "(").
func (p *exprParser) call(t token) exprNode {
	if _, ok := mathFuncs[t.text]; !ok {
		if unsupportedFuncs[t.text] {
			p.fail("Function '%s' is not supported by Coffer", t.text)
		} else {
			p.fail("Function '%s' not found", t.text)
		}
		return nil
	}
	p.next()
	c := callNode{fn: t.text}
	if !p.is(")") {
		for {
			c.args = append(c.args, p.or())
			if !p.is(",") {
				break
			}
			p.next()
		}
	}
	p.expect(")")
	return c
}

// refs returns the Ids n uses (METRICS() is not an Id: the MetricStat queries are
// evaluated first).
func refs(n exprNode) []string {
	var out []string
	var walk func(exprNode)
	walk = func(n exprNode) {
		switch x := n.(type) {
		case refNode:
			if !slices.Contains(out, string(x)) {
				out = append(out, string(x))
			}
		case negNode:
			walk(x.x)
		case binNode:
			walk(x.l)
			walk(x.r)
		case callNode:
			for _, a := range x.args {
				walk(a)
			}
		case arrayNode:
			for _, a := range x {
				walk(a)
			}
		}
	}
	walk(n)
	return out
}

// ---- types ----

// kindOf type-checks n, given the types of the Ids; the error is the message.
func kindOf(n exprNode, idKind func(string) mathKind) (mathKind, string) {
	switch x := n.(type) {
	case numNode:
		return kindScalar, ""
	case strNode:
		return kindString, ""
	case kwNode:
		return kindKeyword, ""
	case refNode:
		return idKind(string(x)), ""
	case negNode:
		k, err := kindOf(x.x, idKind)
		if err != "" {
			return 0, err
		}
		if k != kindScalar && k != kindSeries && k != kindArray {
			return 0, fmt.Sprintf("unary minus does not apply to %s", k)
		}
		return k, ""
	case binNode:
		l, err := kindOf(x.l, idKind)
		if err != "" {
			return 0, err
		}
		r, err := kindOf(x.r, idKind)
		if err != "" {
			return 0, err
		}
		return binaryKind(x.op, l, r)
	case arrayNode:
		for _, e := range x {
			k, err := kindOf(e, idKind)
			if err != "" {
				return 0, err
			}
			if k != kindSeries && k != kindArray {
				return 0, fmt.Sprintf("an array holds time series, not %s", k)
			}
		}
		return kindArray, ""
	case callNode:
		f := mathFuncs[x.fn]
		if len(x.args) < f.minArgs || len(x.args) > f.maxArgs {
			if f.minArgs == f.maxArgs {
				return 0, fmt.Sprintf("%s takes %d arguments, not %d", x.fn, f.minArgs, len(x.args))
			}
			return 0, fmt.Sprintf("%s takes %d to %d arguments, not %d", x.fn, f.minArgs, f.maxArgs, len(x.args))
		}
		kinds := make([]mathKind, len(x.args))
		for i, a := range x.args {
			k, err := kindOf(a, idKind)
			if err != "" {
				return 0, err
			}
			kinds[i] = k
		}
		k, err := f.check(kinds)
		if err != "" {
			return 0, x.fn + ": " + err
		}
		return k, ""
	}
	return 0, "Invalid syntax"
}

// binaryKind is the type of l op r: numbers, a time series or an array with numbers,
// and a time series with a time series or an array ("TS[] TS").
func binaryKind(op string, l, r mathKind) (mathKind, string) {
	valid := func(k mathKind) bool { return k == kindScalar || k == kindSeries || k == kindArray }
	if !valid(l) || !valid(r) {
		return 0, fmt.Sprintf("the operator %s does not apply to %s and %s", op, l, r)
	}
	if l == kindArray && r == kindArray {
		return 0, fmt.Sprintf("the operator %s does not apply to two arrays of time series", op)
	}
	return max(l, r), ""
}

// ---- functions ----

type mathFunc struct {
	minArgs, maxArgs int
	// check returns the function's type for its arguments' types (or an error).
	check func(args []mathKind) (mathKind, string)
	eval  func(c *evalCtx, args []mathValue) mathValue
}

// sameKind: TS → TS, TS[] → TS[] (and S → S when scalars is true).
func sameKind(scalars bool) func([]mathKind) (mathKind, string) {
	return func(a []mathKind) (mathKind, string) {
		if a[0] == kindSeries || a[0] == kindArray || (scalars && a[0] == kindScalar) {
			return a[0], ""
		}
		return 0, fmt.Sprintf("does not apply to %s", a[0])
	}
}

// reduces: TS → S, TS[] → TS (SUM, AVG...).
func reduces(a []mathKind) (mathKind, string) {
	switch a[0] {
	case kindSeries:
		return kindScalar, ""
	case kindArray:
		return kindSeries, ""
	}
	return 0, fmt.Sprintf("does not apply to %s", a[0])
}

func needs(want mathKind, out mathKind) func([]mathKind) (mathKind, string) {
	return func(a []mathKind) (mathKind, string) {
		if a[0] != want {
			return 0, fmt.Sprintf("takes %s, not %s", want, a[0])
		}
		return out, ""
	}
}

var mathFuncs map[string]mathFunc

// unsupportedFuncs are AWS's functions that Coffer does not evaluate.
var unsupportedFuncs = map[string]bool{
	"ANOMALY_DETECTION_BAND": true, "SEARCH": true, "SERVICE_QUOTA": true, "INSIGHT_RULE_METRIC": true,
	"DB_PERF_INSIGHTS": true, "LAMBDA": true, "SORT": true, "SLICE": true, "TIME_SERIES": true,
	"MINUTE": true, "HOUR": true, "DAY": true, "DATE": true, "MONTH": true, "YEAR": true, "EPOCH": true,
	"CONCAT": true, "SELECT": true,
}

func init() {
	elementwise := func(f func(float64) float64) mathFunc {
		return mathFunc{1, 1, sameKind(true), func(c *evalCtx, a []mathValue) mathValue { return c.mapPoints(a[0], f) }}
	}
	reduce := func(r reducer) mathFunc {
		return mathFunc{1, 1, reduces, func(c *evalCtx, a []mathValue) mathValue { return c.reduce(a[0], r) }}
	}
	sequential := func(f func(prevT, t time.Time, prev, v float64) float64) mathFunc {
		return mathFunc{1, 1, sameKind(false), func(c *evalCtx, a []mathValue) mathValue { return c.sequential(a[0], f) }}
	}
	mathFuncs = map[string]mathFunc{
		"ABS":   elementwise(math.Abs),
		"CEIL":  elementwise(math.Ceil),
		"FLOOR": elementwise(math.Floor),
		"LOG":   elementwise(math.Log),
		"LOG10": elementwise(math.Log10),

		"SUM":             reduce(reduceSum),
		"AVG":             reduce(reduceAvg),
		"MIN":             reduce(reduceMin),
		"MAX":             reduce(reduceMax),
		"STDDEV":          reduce(reduceStddev),
		"DATAPOINT_COUNT": reduce(reduceCount),

		"DIFF":      sequential(func(_, _ time.Time, prev, v float64) float64 { return v - prev }),
		"DIFF_TIME": sequential(func(pt, t time.Time, _, _ float64) float64 { return t.Sub(pt).Seconds() }),
		"RATE": sequential(func(pt, t time.Time, prev, v float64) float64 {
			return (v - prev) / t.Sub(pt).Seconds()
		}),
		"RUNNING_SUM": {1, 1, sameKind(false), func(c *evalCtx, a []mathValue) mathValue { return c.runningSum(a[0]) }},

		"METRICS": {0, 1, func(a []mathKind) (mathKind, string) {
			if len(a) == 1 && a[0] != kindString {
				return 0, fmt.Sprintf("takes a string, not %s", a[0])
			}
			return kindArray, ""
		}, func(c *evalCtx, a []mathValue) mathValue { return c.metricsMatching(a) }},
		"METRIC_COUNT": {1, 1, needs(kindArray, kindScalar), func(c *evalCtx, a []mathValue) mathValue {
			return scalar(float64(len(a[0].arr)))
		}},
		"FIRST": {1, 1, needs(kindArray, kindSeries), func(c *evalCtx, a []mathValue) mathValue {
			if len(a[0].arr) == 0 {
				return seriesValue(&tseries{period: c.defPeriod})
			}
			return seriesValue(a[0].arr[0])
		}},
		"LAST": {1, 1, needs(kindArray, kindSeries), func(c *evalCtx, a []mathValue) mathValue {
			if len(a[0].arr) == 0 {
				return seriesValue(&tseries{period: c.defPeriod})
			}
			return seriesValue(a[0].arr[len(a[0].arr)-1])
		}},
		"REMOVE_EMPTY": {1, 1, needs(kindArray, kindArray), func(c *evalCtx, a []mathValue) mathValue {
			out := []*tseries{}
			for _, s := range a[0].arr {
				if len(s.t) > 0 {
					out = append(out, s)
				}
			}
			return arrayValue(out)
		}},
		"PERIOD": {1, 1, needs(kindSeries, kindScalar), func(c *evalCtx, a []mathValue) mathValue {
			return scalar(a[0].series.period.Seconds())
		}},

		"FILL": {2, 2, func(a []mathKind) (mathKind, string) {
			if a[0] != kindSeries && a[0] != kindArray {
				return 0, fmt.Sprintf("fills a time series or an array of time series, not %s", a[0])
			}
			if a[1] != kindScalar && a[1] != kindSeries && a[1] != kindKeyword {
				return 0, fmt.Sprintf("fills with a number, a time series, REPEAT or LINEAR, not %s", a[1])
			}
			return a[0], ""
		}, func(c *evalCtx, a []mathValue) mathValue { return c.fill(a[0], a[1]) }},

		"IF": {2, 3, func(a []mathKind) (mathKind, string) {
			for _, k := range a {
				if k != kindScalar && k != kindSeries {
					return 0, fmt.Sprintf("takes numbers and time series, not %s", k)
				}
			}
			if a[0] == kindSeries {
				return kindSeries, ""
			}
			// A number as condition chooses one of the values: they must be of one type.
			if len(a) == 3 && a[1] != a[2] {
				return 0, "with a number as condition, both values must be numbers or both time series"
			}
			return a[1], ""
		}, func(c *evalCtx, a []mathValue) mathValue { return c.ifThen(a) }},
	}
}
