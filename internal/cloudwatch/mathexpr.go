package cloudwatch

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Metric math (GetMetricData's Expression), the arithmetic subset: numbers, the Ids of
// the request's other queries, + - * / ^, unary minus and parentheses. An operation on
// two time series applies to the timestamps both have (a timestamp missing in one is
// missing in the result, as AWS's FILL function implies); with a number, to every
// datapoint. A datapoint whose result is not a finite number (division by zero) is
// left out. Functions (SUM, METRICS, FILL...) are not supported.

const maxExpressionLen = 2048

// tseries is a time series: ascending timestamps and their values.
type tseries struct {
	t []time.Time
	v []float64
}

// mathValue is a number or a time series.
type mathValue struct {
	num    float64
	series *tseries // nil: num
}

type exprNode interface{}

type (
	numNode   float64
	refNode   string
	negNode   struct{ x exprNode }
	binaryOps struct {
		op   byte
		l, r exprNode
	}
)

type exprParser struct {
	s   string
	pos int
	ids map[string]bool // the request's query Ids
	err error
}

// parseExpression parses a metric math expression of query id; refs are the Ids it uses.
func parseExpression(id, s string, ids map[string]bool) (exprNode, []string, error) {
	if len(s) > maxExpressionLen {
		return nil, nil, invalid("The expression of query %s must be at most %d characters.", id, maxExpressionLen)
	}
	p := &exprParser{s: s, ids: ids}
	n := p.expr()
	p.space()
	if p.err == nil && p.pos < len(p.s) {
		p.fail("unexpected %q", p.s[p.pos:p.pos+1])
	}
	if p.err != nil {
		return nil, nil, invalid("Error in the expression of query %s: %v", id, p.err)
	}
	var refs []string
	var walk func(exprNode)
	walk = func(n exprNode) {
		switch x := n.(type) {
		case refNode:
			if !slices.Contains(refs, string(x)) {
				refs = append(refs, string(x))
			}
		case negNode:
			walk(x.x)
		case binaryOps:
			walk(x.l)
			walk(x.r)
		}
	}
	walk(n)
	return n, refs, nil
}

type exprError string

func (e exprError) Error() string { return string(e) }

func (p *exprParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = exprError(fmt.Sprintf(format, args...))
	}
}

func (p *exprParser) space() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n' || p.s[p.pos] == '\r') {
		p.pos++
	}
}

func (p *exprParser) peek() byte {
	p.space()
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

// expr := term (('+' | '-') term)*
func (p *exprParser) expr() exprNode {
	n := p.term()
	for p.err == nil {
		c := p.peek()
		if c != '+' && c != '-' {
			return n
		}
		p.pos++
		n = binaryOps{c, n, p.term()}
	}
	return n
}

// term := unary (('*' | '/') unary)*
func (p *exprParser) term() exprNode {
	n := p.unary()
	for p.err == nil {
		c := p.peek()
		if c != '*' && c != '/' {
			return n
		}
		p.pos++
		n = binaryOps{c, n, p.unary()}
	}
	return n
}

// unary := '-' unary | power
func (p *exprParser) unary() exprNode {
	if p.peek() == '-' {
		p.pos++
		return negNode{p.unary()}
	}
	return p.power()
}

// power := primary ('^' unary)?   (right-associative, above unary minus on its left)
func (p *exprParser) power() exprNode {
	n := p.primary()
	if p.err == nil && p.peek() == '^' {
		p.pos++
		return binaryOps{'^', n, p.unary()}
	}
	return n
}

// primary := number | id | '(' expr ')'
func (p *exprParser) primary() exprNode {
	if p.err != nil {
		return nil
	}
	c := p.peek()
	switch {
	case c == '(':
		p.pos++
		n := p.expr()
		if p.peek() != ')' {
			p.fail("missing )")
			return nil
		}
		p.pos++
		return n
	case c >= '0' && c <= '9' || c == '.':
		start := p.pos
		for p.pos < len(p.s) && (p.s[p.pos] >= '0' && p.s[p.pos] <= '9' || p.s[p.pos] == '.') {
			p.pos++
		}
		if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
			q := p.pos + 1
			if q < len(p.s) && (p.s[q] == '+' || p.s[q] == '-') {
				q++
			}
			if q < len(p.s) && p.s[q] >= '0' && p.s[q] <= '9' {
				for q < len(p.s) && p.s[q] >= '0' && p.s[q] <= '9' {
					q++
				}
				p.pos = q
			}
		}
		f, err := strconv.ParseFloat(p.s[start:p.pos], 64)
		if err != nil || math.IsInf(f, 0) {
			p.fail("bad number %q", p.s[start:p.pos])
			return nil
		}
		return numNode(f)
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_':
		start := p.pos
		for p.pos < len(p.s) && (p.s[p.pos] >= 'a' && p.s[p.pos] <= 'z' || p.s[p.pos] >= 'A' && p.s[p.pos] <= 'Z' ||
			p.s[p.pos] >= '0' && p.s[p.pos] <= '9' || p.s[p.pos] == '_') {
			p.pos++
		}
		name := p.s[start:p.pos]
		if p.peek() == '(' {
			p.fail("the function %s is not supported (only + - * / ^ on numbers and query Ids)", name)
			return nil
		}
		if !p.ids[name] {
			p.fail("%s is not the Id of a query of the request", name)
			return nil
		}
		return refNode(name)
	case c == 0:
		p.fail("unexpected end of the expression")
	default:
		p.fail("unexpected %q", string(c))
	}
	return nil
}

// evalExpr evaluates n with the values of the Ids.
func evalExpr(n exprNode, vals map[string]mathValue) mathValue {
	switch x := n.(type) {
	case numNode:
		return mathValue{num: float64(x)}
	case refNode:
		return vals[string(x)]
	case negNode:
		return combine('*', mathValue{num: -1}, evalExpr(x.x, vals))
	case binaryOps:
		return combine(x.op, evalExpr(x.l, vals), evalExpr(x.r, vals))
	}
	return mathValue{num: math.NaN()}
}

func arith(op byte, a, b float64) float64 {
	switch op {
	case '+':
		return a + b
	case '-':
		return a - b
	case '*':
		return a * b
	case '/':
		return a / b
	case '^':
		return math.Pow(a, b)
	}
	return math.NaN()
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func combine(op byte, a, b mathValue) mathValue {
	switch {
	case a.series == nil && b.series == nil:
		return mathValue{num: arith(op, a.num, b.num)}
	case b.series == nil:
		out := &tseries{}
		for i, t := range a.series.t {
			if v := arith(op, a.series.v[i], b.num); finite(v) {
				out.t, out.v = append(out.t, t), append(out.v, v)
			}
		}
		return mathValue{series: out}
	case a.series == nil:
		out := &tseries{}
		for i, t := range b.series.t {
			if v := arith(op, a.num, b.series.v[i]); finite(v) {
				out.t, out.v = append(out.t, t), append(out.v, v)
			}
		}
		return mathValue{series: out}
	}
	out := &tseries{}
	i, j := 0, 0
	for i < len(a.series.t) && j < len(b.series.t) {
		switch c := a.series.t[i].Compare(b.series.t[j]); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			if v := arith(op, a.series.v[i], b.series.v[j]); finite(v) {
				out.t, out.v = append(out.t, a.series.t[i]), append(out.v, v)
			}
			i++
			j++
		}
	}
	return mathValue{series: out}
}
