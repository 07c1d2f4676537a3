package cloudwatch

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Evaluation of metric math (mathexpr.go), with AWS's documented semantics:
//
//   - An operator on two time series applies to every timestamp either of them has: a
//     value missing in one of them counts as 0 ("Missing values in a time series are
//     treated as 0"), for arithmetic, comparison and logical operators alike. With a
//     number, it applies to every datapoint. A datapoint whose result is not a finite
//     number (division by zero, LOG(0)) is dropped.
//   - An array of time series with a number or a time series: element-wise, one
//     result per time series of the array.
//   - SUM, AVG, MIN, MAX, STDDEV, DATAPOINT_COUNT of a time series are numbers over
//     all its datapoints; of an array, a time series over every timestamp of the array:
//     SUM and AVG count a missing value as 0 (AVG divides by the number of time series,
//     as AWS documents it), MIN, MAX and STDDEV (population) use the values present.
//   - FILL fills every period of the query's time range, from its start (rounded down
//     as for the datapoints) to its end, at the time series' period.
//   - DIFF, DIFF_TIME and RATE use each datapoint and the one before it (the first
//     datapoint has none and is dropped); RUNNING_SUM is the running total.
//   - IF as the user guide's "Using IF expressions" describes it.

// metricSeries is a MetricStat query's time series, for METRICS().
type metricSeries struct {
	id string
	s  *tseries
}

type evalCtx struct {
	id        string                        // the expression being evaluated
	from      func(time.Duration) time.Time // start of the time range, for a period
	end       time.Time                     // end of the time range (excluded)
	defPeriod time.Duration                 // period of a time series made of nothing
	metrics   []metricSeries                // METRICS(), in request order
	vals      map[string]mathValue          // the value of every Id evaluated
	budget    int                           // datapoints that may still be processed
}

// evalAbort stops an evaluation (panic value, recovered by evalExpression).
type evalAbort struct{ err *Error }

func (c *evalCtx) abort(format string, a ...any) {
	panic(evalAbort{exprErr(c.id, format, a...)})
}

// charge counts n datapoints processed against the budget.
func (c *evalCtx) charge(n int) {
	c.budget -= n
	if c.budget < 0 {
		c.abort("the expressions of the request process more than %d datapoints", mathBudget)
	}
}

// evalExpression evaluates n as the expression of query id.
func (c *evalCtx) evalExpression(id string, n exprNode) (v mathValue, err *Error) {
	c.id = id
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(evalAbort)
			if !ok {
				panic(r)
			}
			err = a.err
		}
	}()
	return c.eval(n), nil
}

func (c *evalCtx) eval(n exprNode) mathValue {
	switch x := n.(type) {
	case numNode:
		return scalar(float64(x))
	case strNode:
		return mathValue{kind: kindString, str: string(x)}
	case kwNode:
		return mathValue{kind: kindKeyword, str: string(x)}
	case refNode:
		return c.vals[string(x)]
	case negNode:
		return c.mapPoints(c.eval(x.x), func(v float64) float64 { return -v })
	case binNode:
		return c.binary(x.op, c.eval(x.l), c.eval(x.r))
	case arrayNode:
		out := []*tseries{}
		for _, e := range x {
			v := c.eval(e)
			if v.kind == kindSeries {
				out = append(out, v.series)
			} else {
				out = append(out, v.arr...)
			}
		}
		return arrayValue(out)
	case callNode:
		args := make([]mathValue, len(x.args))
		for i, a := range x.args {
			args[i] = c.eval(a)
		}
		return mathFuncs[x.fn].eval(c, args)
	}
	c.abort("Invalid syntax")
	return mathValue{}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// opFunc is the function of a binary operator.
func opFunc(op string) func(a, b float64) float64 {
	switch op {
	case "+":
		return func(a, b float64) float64 { return a + b }
	case "-":
		return func(a, b float64) float64 { return a - b }
	case "*":
		return func(a, b float64) float64 { return a * b }
	case "/":
		return func(a, b float64) float64 { return a / b }
	case "^":
		return math.Pow
	case "==":
		return func(a, b float64) float64 { return b2f(a == b) }
	case "!=":
		return func(a, b float64) float64 { return b2f(a != b) }
	case "<":
		return func(a, b float64) float64 { return b2f(a < b) }
	case "<=":
		return func(a, b float64) float64 { return b2f(a <= b) }
	case ">":
		return func(a, b float64) float64 { return b2f(a > b) }
	case ">=":
		return func(a, b float64) float64 { return b2f(a >= b) }
	case "AND":
		return func(a, b float64) float64 { return b2f(a != 0 && b != 0) }
	case "OR":
		return func(a, b float64) float64 { return b2f(a != 0 || b != 0) }
	}
	return func(float64, float64) float64 { return math.NaN() }
}

func (c *evalCtx) binary(op string, a, b mathValue) mathValue {
	f := opFunc(op)
	switch {
	case a.kind == kindScalar && b.kind == kindScalar:
		return scalar(f(a.num, b.num))
	case a.kind == kindArray || b.kind == kindArray:
		arr, other, left := a.arr, b, true
		if b.kind == kindArray {
			arr, other, left = b.arr, a, false
		}
		out := make([]*tseries, len(arr))
		for i, s := range arr {
			if left {
				out[i] = c.binary(op, seriesValue(s), other).series
			} else {
				out[i] = c.binary(op, other, seriesValue(s)).series
			}
		}
		return arrayValue(out)
	case b.kind == kindScalar:
		return seriesValue(c.mapSeries(a.series, func(v float64) float64 { return f(v, b.num) }))
	case a.kind == kindScalar:
		return seriesValue(c.mapSeries(b.series, func(v float64) float64 { return f(a.num, v) }))
	}
	return seriesValue(c.merge(a.series, b.series, f))
}

// newSeries is a time series of s's period and label with room for n datapoints.
func newSeries(s *tseries, n int) *tseries {
	return &tseries{t: make([]time.Time, 0, n), v: make([]float64, 0, n), period: s.period, label: s.label}
}

// mapSeries applies f to every datapoint of s (non-finite results are dropped).
func (c *evalCtx) mapSeries(s *tseries, f func(float64) float64) *tseries {
	c.charge(len(s.t))
	out := newSeries(s, len(s.t))
	for i, t := range s.t {
		if v := f(s.v[i]); finite(v) {
			out.add(t, v)
		}
	}
	return out
}

// mapPoints applies f to a number, or to every datapoint of a time series or array.
func (c *evalCtx) mapPoints(v mathValue, f func(float64) float64) mathValue {
	switch v.kind {
	case kindScalar:
		return scalar(f(v.num))
	case kindSeries:
		return seriesValue(c.mapSeries(v.series, f))
	}
	out := make([]*tseries, len(v.arr))
	for i, s := range v.arr {
		out[i] = c.mapSeries(s, f)
	}
	return arrayValue(out)
}

// merge applies f at every timestamp of a or b, a missing value counting as 0.
func (c *evalCtx) merge(a, b *tseries, f func(x, y float64) float64) *tseries {
	c.charge(len(a.t) + len(b.t))
	out := newSeries(a, max(len(a.t), len(b.t)))
	i, j := 0, 0
	for i < len(a.t) || j < len(b.t) {
		var t time.Time
		var x, y float64
		switch {
		case j >= len(b.t) || i < len(a.t) && a.t[i].Before(b.t[j]):
			t, x = a.t[i], a.v[i]
			i++
		case i >= len(a.t) || b.t[j].Before(a.t[i]):
			t, y = b.t[j], b.v[j]
			j++
		default:
			t, x, y = a.t[i], a.v[i], b.v[j]
			i++
			j++
		}
		if v := f(x, y); finite(v) {
			out.add(t, v)
		}
	}
	return out
}

// each applies f to a time series, or to every time series of an array.
func (c *evalCtx) each(v mathValue, f func(*tseries) *tseries) mathValue {
	if v.kind == kindSeries {
		return seriesValue(f(v.series))
	}
	out := make([]*tseries, len(v.arr))
	for i, s := range v.arr {
		out[i] = f(s)
	}
	return arrayValue(out)
}

// ---- SUM, AVG, MIN, MAX, STDDEV, DATAPOINT_COUNT ----

type reducer uint8

const (
	reduceSum reducer = iota
	reduceAvg
	reduceMin
	reduceMax
	reduceStddev
	reduceCount
)

// of reduces the values present, among n values (AVG counts the missing ones as 0).
func (r reducer) of(vals []float64, n int) float64 {
	switch r {
	case reduceCount:
		return float64(len(vals))
	case reduceSum:
		sum := 0.0
		for _, v := range vals {
			sum += v
		}
		return sum
	}
	if len(vals) == 0 {
		return math.NaN()
	}
	switch r {
	case reduceAvg:
		return reduceSum.of(vals, n) / float64(n)
	case reduceMin, reduceMax:
		m := vals[0]
		for _, v := range vals[1:] {
			if r == reduceMin {
				m = math.Min(m, v)
			} else {
				m = math.Max(m, v)
			}
		}
		return m
	}
	mean := reduceSum.of(vals, len(vals)) / float64(len(vals))
	sq := 0.0
	for _, v := range vals {
		sq += (v - mean) * (v - mean)
	}
	return math.Sqrt(sq / float64(len(vals)))
}

// reduce is r of a time series (a number) or of an array (a time series over every
// timestamp of its time series).
func (c *evalCtx) reduce(v mathValue, r reducer) mathValue {
	if v.kind == kindSeries {
		c.charge(len(v.series.v))
		return scalar(r.of(v.series.v, len(v.series.v)))
	}
	out := &tseries{period: c.defPeriod}
	if len(v.arr) > 0 {
		out.period = v.arr[0].period
	}
	// Every timestamp of the array (by Unix nanoseconds, in order), then the sum, count,
	// minimum and maximum of the values at each, and for STDDEV the squared deviations.
	total := 0
	for _, s := range v.arr {
		total += len(s.t)
	}
	c.charge(total)
	index := map[int64]int{}
	for _, s := range v.arr {
		for _, t := range s.t {
			index[t.UnixNano()] = 0
		}
	}
	keys := make([]int64, 0, len(index))
	for k := range index {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for i, k := range keys {
		index[k] = i
	}
	sum, cnt := make([]float64, len(keys)), make([]float64, len(keys))
	lo, hi, sq := make([]float64, len(keys)), make([]float64, len(keys)), make([]float64, len(keys))
	for _, s := range v.arr {
		for j, t := range s.t {
			i, x := index[t.UnixNano()], s.v[j]
			if cnt[i] == 0 {
				lo[i], hi[i] = x, x
			}
			sum[i] += x
			cnt[i]++
			lo[i], hi[i] = math.Min(lo[i], x), math.Max(hi[i], x)
		}
	}
	if r == reduceStddev {
		c.charge(total)
		for _, s := range v.arr {
			for j, t := range s.t {
				i := index[t.UnixNano()]
				d := s.v[j] - sum[i]/cnt[i]
				sq[i] += d * d
			}
		}
	}
	out.t, out.v = make([]time.Time, 0, len(keys)), make([]float64, 0, len(keys))
	for i, k := range keys {
		var x float64
		switch r {
		case reduceSum:
			x = sum[i]
		case reduceAvg:
			x = sum[i] / float64(len(v.arr)) // a missing value counts as 0
		case reduceMin:
			x = lo[i]
		case reduceMax:
			x = hi[i]
		case reduceStddev:
			x = math.Sqrt(sq[i] / cnt[i])
		case reduceCount:
			x = cnt[i]
		}
		if finite(x) {
			out.add(time.Unix(0, k).UTC(), x)
		}
	}
	return seriesValue(out)
}

// ---- DIFF, DIFF_TIME, RATE, RUNNING_SUM ----

func (c *evalCtx) sequential(v mathValue, f func(prevT, t time.Time, prev, v float64) float64) mathValue {
	return c.each(v, func(s *tseries) *tseries {
		c.charge(len(s.t))
		out := newSeries(s, len(s.t))
		for i := 1; i < len(s.t); i++ {
			if x := f(s.t[i-1], s.t[i], s.v[i-1], s.v[i]); finite(x) {
				out.add(s.t[i], x)
			}
		}
		return out
	})
}

func (c *evalCtx) runningSum(v mathValue) mathValue {
	return c.each(v, func(s *tseries) *tseries {
		c.charge(len(s.t))
		out := newSeries(s, len(s.t))
		sum := 0.0
		for i, t := range s.t {
			sum += s.v[i]
			if finite(sum) {
				out.add(t, sum)
			}
		}
		return out
	})
}

// ---- METRICS ----

func (c *evalCtx) metricsMatching(args []mathValue) mathValue {
	out := []*tseries{}
	for _, m := range c.metrics {
		if len(args) == 0 || strings.Contains(m.id, args[0].str) {
			out = append(out, m.s)
		}
	}
	return arrayValue(out)
}

// ---- FILL ----

// grid is the time range at the period: its first timestamp and number of periods.
func (c *evalCtx) grid(period time.Duration) (time.Time, int) {
	if period <= 0 {
		return time.Time{}, 0
	}
	start := alignDown(c.from(period), period)
	if !start.Before(c.end) {
		return start, 0
	}
	n := int64((c.end.Sub(start) + period - 1) / period)
	if n > maxGridPoints {
		c.abort("FILL would make more than %d datapoints of a time series (%d periods of %v): shorten the time range", maxGridPoints, n, period)
	}
	return start, int(n)
}

// cursor looks up the values of a time series at ascending timestamps.
type cursor struct {
	s *tseries
	i int
}

func (k *cursor) at(t time.Time) (float64, bool) {
	for k.i < len(k.s.t) && k.s.t[k.i].Before(t) {
		k.i++
	}
	if k.i < len(k.s.t) && k.s.t[k.i].Equal(t) {
		return k.s.v[k.i], true
	}
	return 0, false
}

func (c *evalCtx) fill(v, with mathValue) mathValue {
	return c.each(v, func(s *tseries) *tseries {
		// The periods of the range and the timestamps of the series (which are on it,
		// unless the series mixes periods), in order.
		g0, n := c.grid(s.period)
		c.charge(n + len(s.t))
		out := newSeries(s, n+len(s.t))
		var filler *cursor
		if with.kind == kindSeries {
			filler = &cursor{s: with.series}
		}
		i, j := 0, 0 // the next period; s.t[j] is the next actual datapoint
		for i < n || j < len(s.t) {
			var t time.Time
			if i < n {
				t = g0.Add(time.Duration(i) * s.period)
			}
			if j < len(s.t) && (i >= n || !t.Before(s.t[j])) { // an actual datapoint
				if i < n && t.Equal(s.t[j]) {
					i++
				}
				out.add(s.t[j], s.v[j])
				j++
				continue
			}
			i++ // a period without a datapoint
			x, ok := math.NaN(), false
			switch {
			case with.kind == kindScalar:
				x, ok = with.num, true
			case filler != nil:
				x, ok = filler.at(t)
			case with.str == "REPEAT":
				if j > 0 {
					x, ok = s.v[j-1], true
				}
			case with.str == "LINEAR":
				if j > 0 && j < len(s.t) {
					t0, t1 := s.t[j-1], s.t[j]
					x, ok = s.v[j-1]+(s.v[j]-s.v[j-1])*float64(t.Sub(t0))/float64(t1.Sub(t0)), true
				}
			}
			if ok && finite(x) {
				out.add(t, x)
			}
		}
		return out
	})
}

// ---- IF ----

func (c *evalCtx) ifThen(a []mathValue) mathValue {
	cond, yes := a[0], a[1]
	var no *mathValue
	if len(a) == 3 {
		no = &a[2]
	}
	if cond.kind == kindScalar {
		switch {
		case cond.num != 0:
			return yes
		case no != nil:
			return *no
		case yes.kind == kindSeries:
			return seriesValue(newSeriesLike(yes.series))
		}
		return scalar(math.NaN())
	}
	cs := cond.series
	c.charge(len(cs.t))
	out := newSeries(cs, len(cs.t))
	var yc, nc *cursor
	if yes.kind == kindSeries {
		yc, out.label = &cursor{s: yes.series}, yes.series.label
	}
	if no != nil && no.kind == kindSeries {
		nc = &cursor{s: no.series}
	}
	for i, t := range cs.t {
		var x float64
		switch {
		case cs.v[i] != 0 && yc != nil:
			x, _ = yc.at(t) // a missing value is 0
		case cs.v[i] != 0:
			x = yes.num
		case no == nil:
			continue
		case nc != nil:
			var ok bool
			if x, ok = nc.at(t); !ok {
				continue
			}
		default:
			x = no.num
		}
		if finite(x) {
			out.add(t, x)
		}
	}
	return seriesValue(out)
}

// ---- queries ----

// compiledQueries are the parsed and type-checked queries of a GetMetricData request
// or of an alarm.
type compiledQueries struct {
	qs    []MetricDataQuery
	exprs map[string]exprNode
	kinds map[string]mathKind
	order []string // the expressions, each after those it uses
}

// compileQueries parses and type-checks the expressions of qs, whose Ids are valid and
// unique and each of which has exactly one of MetricStat and Expression. The result of
// every expression must be a time series or an array of time series.
func compileQueries(qs []MetricDataQuery) (*compiledQueries, error) {
	ids := map[string]bool{}
	for _, q := range qs {
		ids[q.ID] = true
	}
	cq := &compiledQueries{qs: qs, exprs: map[string]exprNode{}, kinds: map[string]mathKind{}}
	for _, q := range qs {
		if q.Expression == "" {
			cq.kinds[q.ID] = kindSeries
			continue
		}
		n, err := parseExpression(q.ID, q.Expression, ids)
		if err != nil {
			return nil, err
		}
		cq.exprs[q.ID] = n
	}
	state := map[string]int{} // 1: being checked, 2: done
	var visit func(id string) error
	visit = func(id string) error {
		n, ok := cq.exprs[id]
		if !ok || state[id] == 2 {
			return nil
		}
		if state[id] == 1 {
			return exprErr(id, "the expression refers to itself (directly or through other expressions)")
		}
		state[id] = 1
		for _, r := range refs(n) {
			if err := visit(r); err != nil {
				return err
			}
		}
		k, msg := kindOf(n, func(r string) mathKind { return cq.kinds[r] })
		if msg != "" {
			return exprErr(id, "%s", msg)
		}
		if k != kindSeries && k != kindArray {
			return exprErr(id, "the result of an expression must be a time series or an array of time series, not %s", k)
		}
		cq.kinds[id], state[id] = k, 2
		cq.order = append(cq.order, id)
		return nil
	}
	for _, q := range qs {
		if err := visit(q.ID); err != nil {
			return nil, err
		}
	}
	return cq, nil
}

// evalQueries evaluates the queries over the time range that starts at from(period)
// (for each period) and ends at end, and returns the value of every Id. The time series
// of a MetricStat query is labelled with its Label or its metric's name, that of an
// expression with its Label or its Id.
//
// The metrics are those of region.
func (s *Service) evalQueries(region string, cq *compiledQueries, from func(time.Duration) time.Time, end time.Time) (map[string]mathValue, error) {
	c := &evalCtx{from: from, end: end, vals: map[string]mathValue{}, budget: mathBudget, defPeriod: time.Minute}
	first := true
	for _, q := range cq.qs {
		ms := q.MetricStat
		if ms == nil {
			continue
		}
		period := time.Duration(ms.Period) * time.Second
		ts := &tseries{period: period, label: q.Label}
		if ts.label == "" {
			ts.label = ms.Metric.MetricName
		}
		for _, a := range s.aggregate(metricKey(region, ms.Metric.Namespace, ms.Metric.MetricName, ms.Metric.Dimensions), from(period), end, period, ms.Unit) {
			if v, ok := a.stat(ms.Stat); ok {
				ts.add(a.start, v)
			}
		}
		c.vals[q.ID] = seriesValue(ts)
		c.metrics = append(c.metrics, metricSeries{q.ID, ts})
		if first {
			c.defPeriod, first = period, false
		}
	}
	labels := map[string]string{}
	for _, q := range cq.qs {
		labels[q.ID] = q.Label
		if q.Label == "" {
			labels[q.ID] = q.ID
		}
	}
	for _, id := range cq.order {
		v, err := c.evalExpression(id, cq.exprs[id])
		if err != nil {
			return nil, err
		}
		if v.kind == kindSeries {
			cp := *v.series
			cp.label = labels[id]
			v.series = &cp
		}
		c.vals[id] = v
	}
	return c.vals, nil
}

// String describes a time series (tests).
func (s *tseries) String() string {
	var b strings.Builder
	for i, t := range s.t {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%g", t.Format("15:04"), s.v[i])
	}
	return b.String()
}
