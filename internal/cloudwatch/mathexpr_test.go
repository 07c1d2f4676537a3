package cloudwatch

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The series of the expression tests, one value per minute from t0 ("-": none). a, b
// and k, y, n are the examples of AWS's user guide (comparison operators, IF).
var mathSeries = []struct{ id, values string }{
	{"a", "30 20 0 0 -"},
	{"b", "20 - 20 - -"},
	{"k", "1 1 0 0 -"},
	{"y", "30 - 0 0 30"},
	{"n", "0 0 20 - 20"},
	{"g", "1 - 3 - 5"},
	{"lead", "- 2 - 4 -"},
	{"r", "0 60 - 240 300"},
	{"p", "1 10 100 1000 -"},
	{"req_x", "1 2 - - -"},
	{"req_y", "- - - - 7"},
}

const mathMinutes = 5 // the time range: [t0, t0+5m)

func parseSeries(t *testing.T, s string) *tseries {
	out := &tseries{period: time.Minute}
	for i, f := range strings.Fields(s) {
		if f == "-" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			t.Fatal(err)
		}
		out.add(t0.Add(time.Duration(i)*time.Minute), v)
	}
	return out
}

// formatValue writes a number, a time series as its values in the time range ("-":
// none; a datapoint out of the range is appended as +t=v), an array as [s1 | s2].
func formatValue(v mathValue) string {
	one := func(s *tseries) string {
		cells := make([]string, mathMinutes)
		for i := range cells {
			cells[i] = "-"
		}
		var extra []string
		for i, t := range s.t {
			m := int(t.Sub(t0) / time.Minute)
			if m < 0 || m >= mathMinutes || !t.Equal(t0.Add(time.Duration(m)*time.Minute)) {
				extra = append(extra, fmt.Sprintf("+%s=%g", t.Format("15:04:05"), s.v[i]))
				continue
			}
			cells[m] = strconv.FormatFloat(s.v[i], 'g', 6, 64)
		}
		return strings.Join(append(cells, extra...), " ")
	}
	switch v.kind {
	case kindScalar:
		return strconv.FormatFloat(v.num, 'g', 6, 64)
	case kindSeries:
		return one(v.series)
	case kindArray:
		var parts []string
		for _, s := range v.arr {
			parts = append(parts, one(s))
		}
		return "[" + strings.Join(parts, " | ") + "]"
	}
	return fmt.Sprintf("kind %d", v.kind)
}

// evalMath evaluates expr (query "e", with any further expressions as e2, e3...) on the
// test series, over [t0, t0+5m), with the given budget.
func evalMath(t *testing.T, budget int, expr ...string) (mathValue, error) {
	t.Helper()
	var qs []MetricDataQuery
	for _, m := range mathSeries {
		qs = append(qs, MetricDataQuery{ID: m.id, MetricStat: &MetricStat{Period: 60}})
	}
	for i, x := range expr {
		id := "e"
		if i > 0 {
			id = fmt.Sprintf("e%d", i+1)
		}
		qs = append(qs, MetricDataQuery{ID: id, Expression: x})
	}
	cq, err := compileQueries(qs)
	if err != nil {
		return mathValue{}, err
	}
	c := &evalCtx{from: func(time.Duration) time.Time { return t0 }, end: t0.Add(mathMinutes * time.Minute),
		vals: map[string]mathValue{}, budget: budget, defPeriod: time.Minute}
	for _, m := range mathSeries {
		s := parseSeries(t, m.values)
		s.label = m.id
		c.vals[m.id] = seriesValue(s)
		c.metrics = append(c.metrics, metricSeries{m.id, s})
	}
	for _, id := range cq.order {
		v, err := c.evalExpression(id, cq.exprs[id])
		if err != nil {
			return mathValue{}, err
		}
		c.vals[id] = v
	}
	return c.vals["e"], nil
}

func TestMathExpressions(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		// Arithmetic: a value missing in one series counts as 0; a result that is not
		// a finite number (x/0, 0/0) is dropped.
		{"a + b", "50 20 20 0 -"},
		{"a - b", "10 20 -20 0 -"},
		{"a / b", "1.5 - 0 - -"},
		{"b / a", "0.666667 0 - - -"},
		{"a * 2", "60 40 0 0 -"},
		{"100 / g", "100 - 33.3333 - 20"},
		{"-g", "-1 - -3 - -5"},
		{"g ^ 2", "1 - 9 - 25"},
		{"-g ^ 2", "-1 - -9 - -25"}, // ^ binds tighter than unary minus
		{"2 ^ -1 * g", "0.5 - 1.5 - 2.5"},
		{"a + b * 2", "70 20 40 0 -"},
		{"(a + b) * 2", "100 40 40 0 -"},
		{"g - - 1e0", "2 - 4 - 6"},
		{".5 * g", "0.5 - 1.5 - 2.5"},
		// Comparison and logical operators: the user guide's examples.
		{"a < b", "0 0 1 0 -"},
		{"(a < b)", "0 0 1 0 -"},
		{"a >= 30", "1 0 0 0 -"},
		{"a > 15 AND b > 15", "1 0 0 0 -"},
		{"a > 15 && b > 15", "1 0 0 0 -"},
		{"a > 25 OR b > 15", "1 0 1 0 -"},
		{"a > 25 || b > 15", "1 0 1 0 -"},
		{"a == 0", "0 0 1 1 -"},
		{"a != 0", "1 1 0 0 -"},
		{"a <= 20", "0 1 1 1 -"},
		{"a > 10 + 5", "1 1 0 0 -"},                    // arithmetic before comparison
		{"a > 15 AND b > 15 OR g == 5", "1 0 0 0 1"},   // AND before OR
		{"a > 15 AND (b > 15 OR g == 5)", "1 0 0 0 0"}, // parentheses
		// IF: the user guide's examples.
		{"IF(k, y, n)", "30 0 20 - -"},
		{"IF(k, 5, n)", "5 5 20 - -"},
		{"IF(k, y, 5)", "30 0 5 5 -"},
		{"IF(k, y)", "30 0 - - -"},
		{"IF(a > 10, 1, 0)", "1 1 0 0 -"},
		{"IF(a < 25, a)", "- 20 0 0 -"},
		{"IF(1, g, a)", "1 - 3 - 5"},
		{"IF(0, g, a)", "30 20 0 0 -"},
		{"IF(0, g)", "- - - - -"},
		{"IF(0, 1, 2) + g", "3 - 5 - 7"},
		// SUM, AVG, MIN, MAX, STDDEV of a series are numbers; of an array, a series (SUM
		// and AVG count a missing value as 0, MIN and MAX use the values present).
		{"g - SUM(g)", "-8 - -6 - -4"},
		{"g - AVG(g)", "-2 - 0 - 2"},
		{"g / MAX(g)", "0.2 - 0.6 - 1"},
		{"g - MIN(g)", "0 - 2 - 4"},
		{"g * 0 + DATAPOINT_COUNT(g)", "3 - 3 - 3"},
		{"SUM([a, b])", "50 20 20 0 -"},
		{"AVG([a, b])", "25 10 10 0 -"},
		{"MAX([a, b])", "30 20 20 0 -"},
		{"MIN([a, b])", "20 20 0 0 -"},
		{"STDDEV([a, b])", "5 0 10 0 -"},
		{"DATAPOINT_COUNT([a, b])", "2 1 2 1 -"},
		{"SUM([a, b, g]) - SUM([a, [b, g]])", "0 0 0 0 0"},
		// METRICS(): every MetricStat query, or those whose Id has the string.
		{`METRICS("req")`, "[1 2 - - - | - - - - 7]"},
		{`SUM(METRICS("req"))`, "1 2 - - 7"},
		{`SUM(METRICS("req_"))`, "1 2 - - 7"},
		{`METRICS("req") * 10`, "[10 20 - - - | - - - - 70]"},
		{`METRICS("req") + g`, "[2 2 3 - 5 | 1 - 3 - 12]"},
		{`g - METRICS("req")`, "[0 -2 3 - 5 | 1 - 3 - -2]"},
		{`SUM(METRICS("nothing"))`, "- - - - -"},
		{`FILL(SUM(METRICS("nothing")), 0)`, "0 0 0 0 0"},
		{"g * 0 + METRIC_COUNT(METRICS())", "11 - 11 - 11"},
		{`g * 0 + METRIC_COUNT(METRICS("req"))`, "2 - 2 - 2"},
		{`FIRST(METRICS("req"))`, "1 2 - - -"},
		{`LAST(METRICS("req"))`, "- - - - 7"},
		{`REMOVE_EMPTY([a, IF(0, g), b])`, "[30 20 0 0 - | 20 - 20 - -]"},
		// FILL: every period of the range.
		{"FILL(g, 0)", "1 0 3 0 5"},
		{"FILL(g, -1.5)", "1 -1.5 3 -1.5 5"},
		{"FILL(g, REPEAT)", "1 1 3 3 5"},
		{"FILL(g, LINEAR)", "1 2 3 4 5"},
		{"FILL(lead, REPEAT)", "- 2 2 4 4"},
		{"FILL(lead, LINEAR)", "- 2 3 4 -"},
		{"FILL(b, LINEAR)", "20 20 20 - -"},
		{"FILL(k, y)", "1 1 0 0 30"},
		{"FILL(g, MAX(g))", "1 5 3 5 5"},
		{`FILL(METRICS("req"), 0)`, "[1 2 0 0 0 | 0 0 0 0 7]"},
		{`FILL(METRICS("req"), LINEAR)`, "[1 2 - - - | - - - - 7]"},
		{"FILL(g, 0) + FILL(b, 0)", "21 0 23 0 5"},
		// DIFF, DIFF_TIME, RATE (per second), RUNNING_SUM.
		{"DIFF(r)", "- 60 - 180 60"},
		{"DIFF_TIME(r)", "- 60 - 120 60"},
		{"RATE(r)", "- 1 - 1.5 1"},
		{"RUNNING_SUM(r)", "0 60 - 300 600"},
		{`RUNNING_SUM(METRICS("req"))`, "[1 3 - - - | - - - - 7]"},
		{"RATE(FILL(g, LINEAR)) * 60", "- 1 1 1 1"},
		// PERIOD and element-wise functions.
		{"a * 0 + PERIOD(a)", "60 60 60 60 -"},
		{"g / PERIOD(g) * 60", "1 - 3 - 5"},
		{"ABS(a - 25)", "5 5 25 25 -"},
		{"ABS(-g)", "1 - 3 - 5"},
		{"CEIL(g / 2)", "1 - 2 - 3"},
		{"FLOOR(g / 2)", "0 - 1 - 2"},
		{"LOG10(p)", "0 1 2 3 -"},
		{"FLOOR(LOG(p))", "0 2 4 6 -"},
		{"LOG(a)", "3.4012 2.99573 - - -"}, // LOG(0) is dropped
		{"ABS(METRICS(\"req\") * -1)", "[1 2 - - - | - - - - 7]"},
		// Another expression.
		{"e2 * 2", "2 - 6 - 10"},
	} {
		v, err := evalMath(t, mathBudget, c.expr, "g")
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := formatValue(v); got != c.want {
			t.Errorf("%s = %s, want %s", c.expr, got, c.want)
		}
	}
}

func TestMathExpressionErrors(t *testing.T) {
	deep := strings.Repeat("(", maxExpressionDepth) + "a" + strings.Repeat(")", maxExpressionDepth)
	for _, c := range []struct{ expr, want string }{
		{"TOTAL(a)", "Function 'TOTAL' not found"},
		{"sum(a)", "Function 'sum' not found"}, // functions are upper case
		{"SORT(METRICS(), AVG, DESC)", "Function 'SORT' is not supported"},
		{"ANOMALY_DETECTION_BAND(a)", "Function 'ANOMALY_DETECTION_BAND' is not supported"},
		{"a +", "Invalid syntax: unexpected end"},
		{"(a", "Invalid syntax"},
		{"a)", `Invalid syntax: unexpected ")" at character 2`},
		{"a b", "Invalid syntax"},
		{"a ! b", "Invalid syntax"},
		{"a = b", "Invalid syntax"},
		{"a & b", "Invalid syntax"},
		{"a AND", "Invalid syntax"},
		{"AVG", "Invalid syntax"},
		{"é", "Invalid syntax"},
		{"[]", "Invalid syntax"},
		{"SUM(a,)", "Invalid syntax"},
		{`"unterminated`, "unterminated string"},
		{"1e999 * a", "is not a number"},
		{"1.2.3 * a", "is not a number"},
		{"zz + a", "Unrecognized metric or expression Id 'zz'"},
		{"SUM(a)", "must be a time series or an array of time series, not a number"},
		{"2 + 3", "not a number"},
		{"PERIOD(a)", "not a number"},
		{`"a"`, "not a string"},
		{"REPEAT", "not a keyword"},
		{"METRICS() + METRICS()", "does not apply to two arrays"},
		{"a + \"x\"", "does not apply to a time series and a string"},
		{"-REPEAT", "unary minus does not apply to a keyword"},
		{"SUM(1)", "SUM: does not apply to a number"},
		{"FILL(a)", "FILL takes 2 arguments, not 1"},
		{"FILL(a, b, 1)", "FILL takes 2 arguments, not 3"},
		{"FILL(a, \"x\")", "FILL: fills with a number, a time series, REPEAT or LINEAR, not a string"},
		{"FILL(1, 0)", "FILL: fills a time series"},
		{"METRICS(a)", "METRICS: takes a string, not a time series"},
		{"METRICS(\"a\", \"b\")", "METRICS takes 0 to 1 arguments, not 2"},
		{"IF(METRICS(), a)", "IF: takes numbers and time series, not an array"},
		{"IF(1, a, 2)", "both values must be numbers or both time series"},
		{"IF(a)", "IF takes 2 to 3 arguments"},
		{"[1, a]", "an array holds time series, not a number"},
		{"PERIOD(METRICS())", "PERIOD: takes a time series, not an array"},
		{"METRIC_COUNT(a)", "METRIC_COUNT: takes an array of time series, not a time series"},
		{"DIFF(2)", "DIFF: does not apply to a number"},
		{"e", "refers to itself"},
		{deep, "levels of nesting"},
		{"-" + deep, "levels of nesting"},
		{strings.Repeat("-", maxExpressionDepth) + "a", "levels of nesting"},
		{strings.Repeat("a+", maxExpressionLen/2) + "a", "at most 2048 characters"},
	} {
		_, err := evalMath(t, mathBudget, c.expr)
		if err == nil {
			t.Errorf("%s: accepted", c.expr)
			continue
		}
		ce, ok := err.(*Error)
		if !ok || ce.Code != "ValidationError" || !strings.HasPrefix(ce.Message, "Error in expression 'e': ") || !strings.Contains(ce.Message, c.want) {
			t.Errorf("%s: %v, want ValidationError %q", c.expr, err, c.want)
		}
	}
	// Just under the bounds.
	ok := strings.Repeat("(", maxExpressionDepth-1) + "a" + strings.Repeat(")", maxExpressionDepth-1)
	if _, err := evalMath(t, mathBudget, ok); err != nil {
		t.Errorf("%d levels: %v", maxExpressionDepth-1, err)
	}
	if _, err := evalMath(t, mathBudget, strings.Repeat("a+", maxExpressionLen/2-1)+"a"); err != nil {
		t.Errorf("%d characters: %v", maxExpressionLen-1, err)
	}
	// A cycle through two expressions.
	if _, err := evalMath(t, mathBudget, "e2 + 1", "e + 1"); err == nil || !strings.Contains(err.Error(), "refers to itself") {
		t.Errorf("cycle: %v", err)
	}
}

// The budget of datapoints stops an evaluation that would process too many.
func TestMathBudget(t *testing.T) {
	if _, err := evalMath(t, 100, "a + b"); err != nil {
		t.Fatal(err)
	}
	_, err := evalMath(t, 100, strings.Repeat("FILL(", 30)+"a"+strings.Repeat(", 0)", 30))
	if err == nil || !strings.Contains(err.Error(), "process more than") {
		t.Fatalf("over budget: %v", err)
	}
	// FILL over a range of too many periods.
	c := &evalCtx{from: func(time.Duration) time.Time { return t0 }, end: t0.Add(48 * time.Hour), budget: mathBudget,
		vals: map[string]mathValue{"m1": seriesValue(&tseries{period: time.Second})}}
	_, cerr := c.evalExpression("e1", callNode{fn: "FILL", args: []exprNode{refNode("m1"), numNode(0)}})
	if cerr == nil || !strings.Contains(cerr.Message, "more than 100800 datapoints") {
		t.Fatalf("FILL of 172800 periods: %v", cerr)
	}
}

func TestReducers(t *testing.T) {
	vals := []float64{2, 4, 4, 4, 5, 5, 7, 9}
	for r, want := range map[reducer]float64{reduceSum: 40, reduceAvg: 5, reduceMin: 2, reduceMax: 9, reduceStddev: 2, reduceCount: 8} {
		if got := r.of(vals, len(vals)); got != want {
			t.Errorf("reducer %d = %v, want %v", r, got, want)
		}
	}
	if got := reduceAvg.of([]float64{3}, 3); got != 1 {
		t.Errorf("AVG of 3 among 3 series = %v (missing values count as 0)", got)
	}
	for _, r := range []reducer{reduceAvg, reduceMin, reduceMax, reduceStddev} {
		if got := r.of(nil, 0); !math.IsNaN(got) {
			t.Errorf("reducer %d of nothing = %v", r, got)
		}
	}
	if reduceSum.of(nil, 0) != 0 || reduceCount.of(nil, 0) != 0 {
		t.Error("SUM and DATAPOINT_COUNT of nothing are 0")
	}
}

// FuzzParseExpression: any expression parses or fails with a ValidationError, without
// panicking, and what type-checks evaluates within the budget to what was checked.
func FuzzParseExpression(f *testing.F) {
	for _, s := range []string{"m1/m2*100", "-(m1 ^ -2) - - m2", "((((m1))))", "m1 +", "SUM(m1)", "1e", "1e+", ".5*m1",
		"m1 ^ ^ 2", "\x00", "é", `SUM(METRICS("m"))`, "FILL(m1, REPEAT)", "FILL(METRICS(), LINEAR)", "IF(m1 > 2 AND m2 < 1, m1, 0)",
		"RATE(m1) || DIFF(m2)", "[m1, [m2, METRICS()]] * 2", "AVG([m1,m2])/m3", `"x`, "RUNNING_SUM(ABS(m1 - m2))"} {
		f.Add(s)
	}
	f.Fuzz(fuzzExpression)
}

func fuzzExpression(t *testing.T, s string) {
	mk := func(vals ...float64) *tseries {
		s := &tseries{period: time.Minute}
		for i, v := range vals {
			if !math.IsNaN(v) {
				s.add(t0.Add(time.Duration(i)*time.Minute), v)
			}
		}
		return s
	}
	nan := math.NaN()
	qs := []MetricDataQuery{{ID: "m1", MetricStat: &MetricStat{Period: 60}}, {ID: "m2", MetricStat: &MetricStat{Period: 60}},
		{ID: "m3", MetricStat: &MetricStat{Period: 60}}, {ID: "e1", Expression: s}}
	cq, err := compileQueries(qs)
	if err != nil {
		if ce, ok := err.(*Error); !ok || ce.Code != "ValidationError" {
			t.Fatalf("%q: %v", s, err)
		}
		return
	}
	c := &evalCtx{from: func(time.Duration) time.Time { return t0 }, end: t0.Add(10 * time.Minute), budget: 100_000,
		vals: map[string]mathValue{}, defPeriod: time.Minute}
	for i, ser := range []*tseries{mk(1, nan, 0, -2, 5), mk(nan, 0, 3, nan, 1e300, 7), mk()} {
		id := fmt.Sprintf("m%d", i+1)
		c.vals[id] = seriesValue(ser)
		c.metrics = append(c.metrics, metricSeries{id, ser})
	}
	v, cerr := c.evalExpression("e1", cq.exprs["e1"])
	if cerr != nil {
		return
	}
	if v.kind != cq.kinds["e1"] {
		t.Fatalf("%q: kind %v, checked %v", s, v.kind, cq.kinds["e1"])
	}
	check := func(ser *tseries) {
		for i := range ser.t {
			if i > 0 && !ser.t[i-1].Before(ser.t[i]) || !finite(ser.v[i]) {
				t.Fatalf("%q: %v", s, ser)
			}
		}
	}
	if v.kind == kindSeries {
		check(v.series)
	}
	for _, ser := range v.arr {
		check(ser)
	}
}

// GetMetricData with functions: SUM(METRICS()), FILL over the time range (its start
// rounded down as for the datapoints), an array returned as one result per time series
// with the expression's Id, and the labels.
func TestGetMetricDataMathFunctions(t *testing.T) {
	e := newEnv(t)
	e.clk.Add(time.Hour)
	for _, p := range []struct {
		user string
		min  int
		v    float64
	}{{"alice", 0, 1}, {"alice", 2, 3}, {"bob", 2, 4}, {"bob", 3, 1}} {
		if err := e.cw.PutMetricData(e.ctx, "T", []MetricDatum{{MetricName: "FailedLoginCount", Dimensions: []Dimension{{"UserName", p.user}},
			Timestamp: t0.Add(time.Duration(p.min) * time.Minute), Value: f(p.v)}}); err != nil {
			t.Fatal(err)
		}
	}
	no := false
	user := func(id, name, label string) MetricDataQuery {
		return MetricDataQuery{ID: id, ReturnData: &no, Label: label, MetricStat: &MetricStat{Metric: Metric{Namespace: "T", MetricName: "FailedLoginCount",
			Dimensions: []Dimension{{"UserName", name}}}, Period: 60, Stat: "Sum"}}
	}
	q := []MetricDataQuery{user("m_alice", "alice", "alice"), user("m_bob", "bob", ""),
		{ID: "total", Expression: "SUM(METRICS())"},
		{ID: "filled", Expression: "FILL(METRICS(), 0)", Label: "Filled:"},
		{ID: "bobs", Expression: `FILL(METRICS("bob"), REPEAT) * 10`},
		{ID: "share", Expression: "100 * FILL(m_alice, 0) / total", Label: "alice %"},
	}
	// 12:00:30 is rounded down to 12:00: the first period is 12:00.
	res, next, err := e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: t0.Add(30 * time.Second), EndTime: t0.Add(5 * time.Minute),
		ScanBy: "TimestampAscending", Queries: q})
	if err != nil || next != "" {
		t.Fatalf("%v %q", err, next)
	}
	var got []string
	for _, r := range res {
		var pts []string
		for i, ts := range r.Timestamps {
			pts = append(pts, fmt.Sprintf("%d=%g", int(ts.Sub(t0)/time.Minute), r.Values[i]))
		}
		got = append(got, fmt.Sprintf("%s %q %s", r.ID, r.Label, strings.Join(pts, " ")))
	}
	want := []string{
		`total "total" 0=1 2=7 3=1`,
		`filled "Filled: alice" 0=1 1=0 2=3 3=0 4=0`,
		`filled "Filled: FailedLoginCount" 0=0 1=0 2=4 3=1 4=0`,
		`bobs "FailedLoginCount" 2=40 3=10 4=10`,
		`share "alice %" 0=100 2=42.8571 3=0`,
	}
	for i := range got {
		got[i] = strings.Replace(got[i], "42.857142857142854", "42.8571", 1)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Pages count the datapoints of every time series of an array.
	res, next, err = e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: t0, EndTime: t0.Add(5 * time.Minute), MaxDatapoints: 6,
		Queries: []MetricDataQuery{q[0], q[1], q[3]}})
	if err != nil || next == "" || len(res) != 2 || len(res[0].Values) != 5 || len(res[1].Values) != 1 || res[1].StatusCode != "PartialData" {
		t.Fatalf("first page: %+v %q %v", res, next, err)
	}
	res, next, err = e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: t0, EndTime: t0.Add(5 * time.Minute), MaxDatapoints: 6, NextToken: next,
		Queries: []MetricDataQuery{q[0], q[1], q[3]}})
	if err != nil || next != "" || len(res) != 1 || res[0].ID != "filled" || len(res[0].Values) != 4 {
		t.Fatalf("second page: %+v %q %v", res, next, err)
	}
	// Errors of expressions are ValidationError, naming the expression as AWS does.
	_, _, err = e.cw.GetMetricData(e.ctx, GetMetricDataInput{StartTime: t0, EndTime: t0.Add(time.Hour), Queries: []MetricDataQuery{q[0], {ID: "e1", Expression: "FOO(m_alice)"}}})
	if ce, ok := err.(*Error); !ok || ce.Code != "ValidationError" || ce.Message != "Error in expression 'e1': Function 'FOO' not found" {
		t.Fatalf("unknown function: %v", err)
	}
}
