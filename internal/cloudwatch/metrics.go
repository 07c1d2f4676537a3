package cloudwatch

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Dimension is a name/value pair of a metric's identity.
type Dimension struct {
	Name  string
	Value string
}

// DimensionFilter filters ListMetrics by dimension name and, optionally, value.
type DimensionFilter struct {
	Name  string
	Value string // "" matches any value
}

// Metric identifies a metric.
type Metric struct {
	Namespace  string
	MetricName string
	Dimensions []Dimension
}

// StatisticSet is a pre-aggregated set of values.
type StatisticSet struct {
	SampleCount float64
	Sum         float64
	Minimum     float64
	Maximum     float64
}

// MetricDatum is one element of PutMetricData's MetricData.
type MetricDatum struct {
	MetricName        string
	Dimensions        []Dimension
	Timestamp         time.Time // zero: now
	Value             *float64
	StatisticValues   *StatisticSet
	Values            []float64
	Counts            []float64
	Unit              string
	StorageResolution int // 1 or 60 (default)
}

// point is one stored datapoint (a single value is a set of one sample).
type point struct {
	t      time.Time
	n      float64
	sum    float64
	min    float64
	max    float64
	unit   string
	values []float64 // raw values when known (for percentiles)
}

type series struct {
	region string // the metric's region
	m      Metric
	points []point // sorted by t
}

var units = map[string]bool{}

func init() {
	for _, u := range strings.Split("Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes Bits Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second Megabytes/Second Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second Megabits/Second Gigabits/Second Terabits/Second Count/Second None", " ") {
		units[u] = true
	}
}

func normDims(d []Dimension) []Dimension {
	out := append([]Dimension(nil), d...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// metricKey is the key of a metric of region in Service.metrics: each region has its
// own metrics.
func metricKey(region, ns, name string, dims []Dimension) string {
	var b strings.Builder
	b.WriteString(region)
	b.WriteByte(0)
	b.WriteString(ns)
	b.WriteByte(0)
	b.WriteString(name)
	for _, d := range normDims(dims) {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte('=')
		b.WriteString(d.Value)
	}
	return b.String()
}

// Put records one datapoint of one of Coffer's own metrics in the node's region (no
// user validation: any namespace, including AWS/...), then immediately evaluates the
// alarms on that metric, so that their actions have been notified when Put returns. ts
// zero means now.
func (s *Service) Put(ns, name string, dims []Dimension, ts time.Time, value float64, unit string) error {
	return s.PutIn("", ns, name, dims, ts, value, unit)
}

// PutIn is Put in region ("" = the node's region): the metric is that region's, and so
// are the alarms evaluated.
func (s *Service) PutIn(region, ns, name string, dims []Dimension, ts time.Time, value float64, unit string) error {
	region = s.region(region)
	if ts.IsZero() {
		ts = s.now()
	}
	s.store(region, Metric{Namespace: ns, MetricName: name, Dimensions: dims}, point{t: ts.UTC(), n: 1, sum: value, min: value, max: value, unit: unit, values: []float64{value}})
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.NotifyTimeout+10*time.Second)
	defer cancel()
	return s.evaluateMetric(ctx, metricKey(region, ns, name, dims), s.now())
}

// PutAggregate records a pre-aggregated datapoint of one of Coffer's own metrics (no
// user validation, like Put): set summarises the samples of [ts, ts+1s) or so, e.g.
// SampleCount = Sum = 42, Minimum = Maximum = 1 for 42 events counted in memory. It is
// merged into the metric's datapoint of the same minute (standard resolution, as AWS
// publishes its own metrics), so a metric fed every second keeps one datapoint per
// minute and its full retention. The alarms on the metric are then evaluated, as Put
// does. Percentiles are not available for such datapoints.
func (s *Service) PutAggregate(ns, name string, dims []Dimension, ts time.Time, set StatisticSet, unit string) error {
	return s.PutAggregateIn("", ns, name, dims, ts, set, unit)
}

// PutAggregateIn is PutAggregate in region ("" = the node's region).
func (s *Service) PutAggregateIn(region, ns, name string, dims []Dimension, ts time.Time, set StatisticSet, unit string) error {
	region = s.region(region)
	if ts.IsZero() {
		ts = s.now()
	}
	if set.SampleCount <= 0 {
		return nil
	}
	p := point{t: alignDown(ts.UTC(), time.Minute), n: set.SampleCount, sum: set.Sum, min: set.Minimum, max: set.Maximum, unit: unit}
	m := Metric{Namespace: ns, MetricName: name, Dimensions: normDims(dims)}
	k := metricKey(region, ns, name, m.Dimensions)
	s.mmu.Lock()
	se := s.seriesLocked(k, region, m)
	s.aggregateLocked(se, p)
	s.logLocked(se, p, true)
	s.mmu.Unlock()
	return s.evaluateAfterPut(k)
}

// aggregateLocked merges p into the series' last datapoint when it is an aggregate of
// the same minute and unit, and inserts it otherwise. Callers hold mmu.
func (s *Service) aggregateLocked(se *series, p point) {
	if n := len(se.points); n > 0 {
		if last := &se.points[n-1]; last.t.Equal(p.t) && last.unit == p.unit && last.values == nil {
			last.n += p.n
			last.sum += p.sum
			last.min = math.Min(last.min, p.min)
			last.max = math.Max(last.max, p.max)
			return
		}
	}
	s.insertLocked(se, p)
}

func (s *Service) evaluateAfterPut(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.NotifyTimeout+10*time.Second)
	defer cancel()
	return s.evaluateMetric(ctx, key, s.now())
}

// SetCollector sets a function that publishes the datapoints a producer holds in memory
// (Coffer's own counters). It is called before every read of the metrics
// (GetMetricStatistics, GetMetricData, ListMetrics) and every periodic evaluation, so
// that they see every event counted so far. It may call Put and PutAggregate.
func (s *Service) SetCollector(f func()) { s.collector.Store(&f) }

// collect runs the collector, if any. Callers must not hold evalMu or mmu.
func (s *Service) collect() {
	if f := s.collector.Load(); f != nil && *f != nil {
		(*f)()
	}
}

func (s *Service) store(region string, m Metric, p point) {
	m.Dimensions = normDims(m.Dimensions)
	k := metricKey(region, m.Namespace, m.MetricName, m.Dimensions)
	s.mmu.Lock()
	defer s.mmu.Unlock()
	se := s.seriesLocked(k, region, m)
	s.insertLocked(se, p)
	s.logLocked(se, p, false)
}

// seriesLocked returns the series of key k, created for m of region (whose dimensions
// are sorted) when there is none. Callers hold mmu.
func (s *Service) seriesLocked(k, region string, m Metric) *series {
	se := s.metrics[k]
	if se == nil {
		se = &series{region: region, m: m}
		s.metrics[k] = se
	}
	return se
}

// insertLocked inserts p in time order (after the points of the same time) and applies
// the retention and count bounds. Callers hold mmu.
func (s *Service) insertLocked(se *series, p point) {
	i := sort.Search(len(se.points), func(i int) bool { return se.points[i].t.After(p.t) })
	se.points = append(se.points, point{})
	copy(se.points[i+1:], se.points[i:])
	se.points[i] = p
	// Retention and count bound. Dropping the oldest points re-slices (O(1)); the
	// array's dead front is freed when append next reallocates, which copies only the
	// live points, so trimming costs amortised O(1) per insert even at the count bound.
	cut := 0
	limit := s.retentionLimit()
	for cut < len(se.points) && se.points[cut].t.Before(limit) {
		cut++
	}
	if over := len(se.points) - s.cfg.MaxPointsPerMetric; over > cut {
		cut = over
	}
	if cut > 0 {
		clear(se.points[:cut]) // drop references (time.Location) held by the dead front
		se.points = se.points[cut:]
	}
}

// retentionLimit is the time before which datapoints have expired.
func (s *Service) retentionLimit() time.Time { return s.now().Add(-s.cfg.Retention) }

// pruneLocked drops every expired point and the series left without points (the strict
// form of insertLocked's lazy trimming). Callers hold mmu for writing.
func (s *Service) pruneLocked() {
	limit := s.retentionLimit()
	for k, se := range s.metrics {
		cut := sort.Search(len(se.points), func(i int) bool { return !se.points[i].t.Before(limit) })
		if over := len(se.points) - s.cfg.MaxPointsPerMetric; over > cut {
			cut = over
		}
		switch {
		case cut == len(se.points):
			delete(s.metrics, k)
		case cut > 0:
			se.points = append(se.points[:0:0], se.points[cut:]...)
		}
	}
}

func checkValue(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalid("The value %v is not a valid number.", v)
	}
	if a := math.Abs(v); a != 0 && (a > math.Pow(2, 360) || a < math.Pow(2, -260)) {
		return invalid("The value %v is out of range (must be between 2^-260 and 2^360 in magnitude).", v)
	}
	return nil
}

// printableASCII reports whether s has ASCII characters only, and no control characters.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validAlarmName: "The name must contain only UTF-8 characters, and can't contain ASCII
// control characters".
func validAlarmName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func checkDims(dims []Dimension, max int) error {
	if len(dims) > max {
		return invalid("The collection Dimensions must not have a size greater than %d.", max)
	}
	seen := map[string]bool{}
	for _, d := range dims {
		if d.Name == "" || len(d.Name) > 255 {
			return invalid("Dimension name must be 1 to 255 characters.")
		}
		if d.Value == "" || len(d.Value) > 1024 {
			return invalid("Dimension value must be 1 to 1024 characters.")
		}
		// "Dimension names must contain only ASCII characters, must include at least
		// one non-whitespace character, and cannot start with a colon (:). ASCII
		// control characters are not supported"; the same for values but the colon.
		if !printableASCII(d.Name) || strings.TrimSpace(d.Name) == "" || d.Name[0] == ':' {
			return invalid("The value %q for a dimension name is invalid: printable ASCII characters, not only spaces, not starting with a colon.", d.Name)
		}
		if !printableASCII(d.Value) || strings.TrimSpace(d.Value) == "" {
			return invalid("The value %q for a dimension value is invalid: printable ASCII characters, not only spaces.", d.Value)
		}
		if seen[d.Name] {
			return invalid("No two dimensions may have the same name (%s).", d.Name)
		}
		seen[d.Name] = true
	}
	return nil
}

func checkNamespace(ns string, user bool) error {
	if ns == "" {
		return missing("Namespace")
	}
	if len(ns) > 255 {
		return invalid("The parameter Namespace must be at most 255 characters.")
	}
	if ns[0] == ':' { // the model's pattern [^:].*
		return invalid("The value %s for parameter Namespace is invalid: it must not start with a colon.", ns)
	}
	if !printableASCII(ns) { // "ASCII characters ... except for control characters"
		return invalid("The value %q for parameter Namespace is invalid: printable ASCII characters only.", ns)
	}
	if user && strings.HasPrefix(ns, "AWS/") {
		return invalid("The value AWS/ for parameter Namespace is invalid.")
	}
	return nil
}

// PutMetricData stores user datapoints with AWS's validation. It does not trigger
// immediate alarm evaluation (Run/Evaluate does), except through EvaluateNow.
func (s *Service) PutMetricData(ctx context.Context, namespace string, data []MetricDatum) error {
	return s.PutMetricDataIn(ctx, "", namespace, data)
}

// PutMetricDataIn is PutMetricData in region ("" = the node's region): the metrics are
// that region's.
func (s *Service) PutMetricDataIn(ctx context.Context, region, namespace string, data []MetricDatum) error {
	region = s.region(region)
	if err := checkNamespace(namespace, true); err != nil {
		return err
	}
	if len(data) == 0 {
		return missing("MetricData")
	}
	if len(data) > 1000 {
		return invalid("The collection MetricData must not have a size greater than 1000.")
	}
	now := s.now()
	type item struct {
		m Metric
		p []point
	}
	var items []item
	for i, d := range data {
		if d.MetricName == "" || len(d.MetricName) > 255 {
			return invalid("The parameter MetricData.member.%d.MetricName must be 1 to 255 characters.", i+1)
		}
		if err := checkDims(d.Dimensions, 30); err != nil {
			return err
		}
		if d.Unit != "" && !units[d.Unit] {
			return invalid("The value %s for parameter MetricData.member.%d.Unit is not a valid unit.", d.Unit, i+1)
		}
		if d.StorageResolution != 0 && d.StorageResolution != 1 && d.StorageResolution != 60 {
			return invalid("The value %d for parameter MetricData.member.%d.StorageResolution is invalid (1 or 60).", d.StorageResolution, i+1)
		}
		ts := d.Timestamp.UTC()
		if d.Timestamp.IsZero() {
			ts = now
		}
		if ts.Before(now.Add(-14 * 24 * time.Hour)) {
			return invalid("The parameter MetricData.member.%d.Timestamp must specify a time no more than two weeks in the past.", i+1)
		}
		if ts.After(now.Add(2 * time.Hour)) {
			return invalid("The parameter MetricData.member.%d.Timestamp must specify a time no more than two hours in the future.", i+1)
		}
		// A standard-resolution datapoint (StorageResolution 60, the default) is stored
		// with one-minute resolution: a query with a shorter period finds it in the period
		// that starts its minute ("it does not receive data for the attempts that do not
		// correspond to a one-minute data resolution"). StorageResolution 1 keeps the second.
		if d.StorageResolution != 1 {
			ts = alignDown(ts, time.Minute)
		}
		set := 0
		for _, b := range []bool{d.Value != nil, d.StatisticValues != nil, len(d.Values) > 0} {
			if b {
				set++
			}
		}
		if set == 0 {
			return cwErr("MissingParameter", "The parameter MetricData.member.%d.Value, StatisticValues or Values is required.", i+1)
		}
		if set > 1 {
			return cwErr("InvalidParameterCombination", "The parameters MetricData.member.%d.Value, StatisticValues and Values are mutually exclusive.", i+1)
		}
		it := item{m: Metric{Namespace: namespace, MetricName: d.MetricName, Dimensions: d.Dimensions}}
		switch {
		case d.Value != nil:
			if err := checkValue(*d.Value); err != nil {
				return err
			}
			v := *d.Value
			it.p = append(it.p, point{t: ts, n: 1, sum: v, min: v, max: v, unit: d.Unit, values: []float64{v}})
		case d.StatisticValues != nil:
			sv := d.StatisticValues
			for _, v := range []float64{sv.SampleCount, sv.Sum, sv.Minimum, sv.Maximum} {
				if err := checkValue(v); err != nil {
					return err
				}
			}
			if sv.SampleCount <= 0 || sv.Minimum > sv.Maximum {
				return invalid("The parameter MetricData.member.%d.StatisticValues is inconsistent.", i+1)
			}
			it.p = append(it.p, point{t: ts, n: sv.SampleCount, sum: sv.Sum, min: sv.Minimum, max: sv.Maximum, unit: d.Unit})
		default:
			if len(d.Values) > 150 {
				return invalid("The collection MetricData.member.%d.Values must not have a size greater than 150.", i+1)
			}
			if len(d.Counts) != 0 && len(d.Counts) != len(d.Values) {
				return cwErr("InvalidParameterCombination", "The parameters MetricData.member.%d.Values and Counts must be of the same size.", i+1)
			}
			for j, v := range d.Values {
				if err := checkValue(v); err != nil {
					return err
				}
				c := 1.0
				if len(d.Counts) > 0 {
					c = d.Counts[j]
				}
				if c <= 0 {
					return invalid("Counts must be positive.")
				}
				p := point{t: ts, n: c, sum: v * c, min: v, max: v, unit: d.Unit}
				if c == 1 {
					p.values = []float64{v}
				}
				it.p = append(it.p, p)
			}
		}
		items = append(items, it)
	}
	for _, it := range items {
		for _, p := range it.p {
			s.store(region, it.m, p)
		}
	}
	return nil
}

// ---- aggregation ----

// Datapoint is one aggregated period of GetMetricStatistics.
type Datapoint struct {
	Timestamp          time.Time
	SampleCount        *float64
	Average            *float64
	Sum                *float64
	Minimum            *float64
	Maximum            *float64
	Unit               string
	ExtendedStatistics map[string]float64
}

type agg struct {
	start     time.Time
	n, sum    float64
	min, max  float64
	unit      string
	samples   []sample // the samples, when every point's are known (percentiles)
	noSamples bool     // a point's samples are not known: no percentiles
	hasPoints bool
}

// sample is a value seen weight times.
type sample struct{ v, w float64 }

func (a *agg) add(p point) {
	if !a.hasPoints {
		a.min, a.max, a.unit = p.min, p.max, p.unit
	}
	a.hasPoints = true
	a.n += p.n
	a.sum += p.sum
	a.min = math.Min(a.min, p.min)
	a.max = math.Max(a.max, p.max)
	switch {
	case a.noSamples:
	case p.min < 0: // "Percentile statistics are not available for metrics when any of the metric values are negative numbers."
		a.noSamples, a.samples = true, nil
	case p.values != nil:
		for _, v := range p.values {
			a.samples = append(a.samples, sample{v, 1})
		}
	case p.min == p.max && p.sum == p.min*p.n:
		// A value with a count (Values and Counts), or a statistic set whose samples
		// are all equal: AWS computes percentiles on those too.
		a.samples = append(a.samples, sample{p.min, p.n})
	default: // a statistic set of different values
		a.noSamples, a.samples = true, nil
	}
}

func (a *agg) stat(name string) (float64, bool) {
	switch name {
	case "SampleCount":
		return a.n, true
	case "Sum":
		return a.sum, true
	case "Average":
		return a.sum / a.n, true
	case "Minimum":
		return a.min, true
	case "Maximum":
		return a.max, true
	}
	if p, ok := parsePercentile(name); ok && !a.noSamples && len(a.samples) > 0 {
		return percentile(a.samples, p), true
	}
	return 0, false
}

// percentile is the nearest-rank p-th percentile of weighted samples: the smallest
// value whose cumulative weight reaches p% of the total (the first value for p0).
func percentile(samples []sample, p float64) float64 {
	v := slices.Clone(samples)
	slices.SortFunc(v, func(x, y sample) int { return cmp.Compare(x.v, y.v) })
	total := 0.0
	for _, x := range v {
		total += x.w
	}
	target, cum := p*total/100, 0.0
	for _, x := range v {
		cum += x.w
		if cum >= target {
			return x.v
		}
	}
	return v[len(v)-1].v
}

// parsePercentile parses a percentile statistic, "p99", "p99.9" (p0 to p100): p, one to
// three digits, and a fraction of one to ten digits (as AWS bounds the other extended
// statistics' numbers) or none. Nothing else is a percentile (NaN, hexadecimal, ".5").
func parsePercentile(s string) (float64, bool) {
	if len(s) < 2 || s[0] != 'p' {
		return 0, false
	}
	num := s[1:]
	whole, frac, dot := strings.Cut(num, ".")
	if len(whole) < 1 || len(whole) > 3 || !allDigits(whole) || (dot && (len(frac) < 1 || len(frac) > 10 || !allDigits(frac))) {
		return 0, false
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f > 100 {
		return 0, false
	}
	return f, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

var statNames = map[string]bool{"SampleCount": true, "Average": true, "Sum": true, "Minimum": true, "Maximum": true}

// aggregate buckets the metric's points in [start, end) by period (aligned on the Unix
// epoch), keeping only points of the given unit when unit != "".
func (s *Service) aggregate(key string, start, end time.Time, period time.Duration, unit string) []*agg {
	s.mmu.RLock()
	defer s.mmu.RUnlock()
	se := s.metrics[key]
	if se == nil {
		return nil
	}
	if limit := s.retentionLimit(); start.Before(limit) {
		start = limit // expired points may still be in memory until trimmed
	}
	var out []*agg
	i := sort.Search(len(se.points), func(i int) bool { return !se.points[i].t.Before(start) })
	for ; i < len(se.points) && se.points[i].t.Before(end); i++ {
		p := se.points[i]
		if unit != "" && unitOf(p.unit) != unitOf(unit) {
			continue
		}
		b := alignDown(p.t, period)
		if len(out) == 0 || !out[len(out)-1].start.Equal(b) {
			out = append(out, &agg{start: b})
		}
		out[len(out)-1].add(p)
	}
	return out
}

// unitsIn lists the units (unitOf) of the metric's datapoints in [start, end), sorted.
func (s *Service) unitsIn(key string, start, end time.Time) []string {
	s.mmu.RLock()
	defer s.mmu.RUnlock()
	se := s.metrics[key]
	if se == nil {
		return nil
	}
	seen := map[string]bool{}
	i := sort.Search(len(se.points), func(i int) bool { return !se.points[i].t.Before(start) })
	for ; i < len(se.points) && se.points[i].t.Before(end); i++ {
		seen[unitOf(se.points[i].unit)] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// thousands formats n with comma separators (1,441), as AWS's messages do.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// unitOf is the unit of a datapoint stored with unit u: a datapoint published without a
// unit has the unit None, as on AWS (GetMetricStatistics with Unit=None returns it).
func unitOf(u string) string {
	if u == "" {
		return "None"
	}
	return u
}

func alignDown(t time.Time, period time.Duration) time.Time {
	return time.Unix(0, t.UnixNano()-t.UnixNano()%int64(period)).UTC()
}

// roundStart rounds a query's StartTime down as AWS documents it: to the period for
// periods under a minute (even 1-, 5-, 10-, 20- or 30-second divisions of a minute), else
// to the minute for a start less than 15 days ago, to 5 minutes up to 63 days ago and to
// the hour beyond. "12:32:34 is rounded down to 12:32:00": the datapoints of 12:32:00 to
// 12:32:34 are in the first period.
func (s *Service) roundStart(start time.Time, period time.Duration) time.Time {
	age := s.now().Sub(start)
	switch {
	case period < time.Minute:
		return alignDown(start, period)
	case age < 15*24*time.Hour:
		return alignDown(start, time.Minute)
	case age < 63*24*time.Hour:
		return alignDown(start, 5*time.Minute)
	}
	return alignDown(start, time.Hour)
}

// highResStart is the start of a query at a period under a minute: "Data points with a
// period of less than 60 seconds are available for 3 hours", so such a query starts at
// most three hours ago (at a whole period); start otherwise.
func (s *Service) highResStart(start time.Time, period time.Duration) time.Time {
	if period >= time.Minute {
		return start
	}
	if lim := alignDown(s.now().Add(-3*time.Hour).Add(period-1), period); start.Before(lim) {
		return lim
	}
	return start
}

func checkPeriod(p int, highRes bool) error {
	if p <= 0 {
		return invalid("The parameter Period must be greater than 0.")
	}
	if p%60 == 0 || (highRes && (p == 1 || p == 5 || p == 10 || p == 20 || p == 30)) {
		return nil
	}
	return invalid("The parameter Period must be a multiple of 60 (or 1, 5, 10, 20 or 30 for high-resolution metrics).")
}

// GetMetricStatisticsInput is GetMetricStatistics' input.
type GetMetricStatisticsInput struct {
	Region             string // "" = the node's region (Config.Region)
	Namespace          string
	MetricName         string
	Dimensions         []Dimension
	StartTime          time.Time
	EndTime            time.Time
	Period             int
	Statistics         []string
	ExtendedStatistics []string
	Unit               string
}

// GetMetricStatistics aggregates one metric.
func (s *Service) GetMetricStatistics(ctx context.Context, in GetMetricStatisticsInput) (label string, dps []Datapoint, err error) {
	s.collect()
	if err := checkNamespace(in.Namespace, false); err != nil {
		return "", nil, err
	}
	if in.MetricName == "" {
		return "", nil, missing("MetricName")
	}
	if in.StartTime.IsZero() {
		return "", nil, missing("StartTime")
	}
	if in.EndTime.IsZero() {
		return "", nil, missing("EndTime")
	}
	if !in.StartTime.Before(in.EndTime) {
		return "", nil, invalid("The parameter StartTime must be less than the parameter EndTime.")
	}
	if err := checkPeriod(in.Period, true); err != nil {
		return "", nil, err
	}
	if err := checkDims(in.Dimensions, 30); err != nil {
		return "", nil, err
	}
	if len(in.Statistics) == 0 && len(in.ExtendedStatistics) == 0 {
		return "", nil, cwErr("InvalidParameterCombination", "At least one of the parameters Statistics and ExtendedStatistics must be specified.")
	}
	// "When calling GetMetricStatistics, you must specify either Statistics or
	// ExtendedStatistics, but not both."
	if len(in.Statistics) > 0 && len(in.ExtendedStatistics) > 0 {
		return "", nil, cwErr("InvalidParameterCombination", "The parameters Statistics and ExtendedStatistics are mutually exclusive: specify either Statistics or ExtendedStatistics, but not both.")
	}
	if len(in.Statistics) > 5 || len(in.ExtendedStatistics) > 10 {
		return "", nil, invalid("Too many statistics.")
	}
	for _, st := range in.Statistics {
		if !statNames[st] {
			return "", nil, invalid("The value %s for parameter Statistics is not a valid statistic.", st)
		}
	}
	for _, st := range in.ExtendedStatistics {
		if _, ok := parsePercentile(st); !ok {
			return "", nil, invalid("The value %s for parameter ExtendedStatistics is not a valid percentile.", st)
		}
	}
	if in.Unit != "" && !units[in.Unit] {
		return "", nil, invalid("The value %s for parameter Unit is not a valid unit.", in.Unit)
	}
	period := time.Duration(in.Period) * time.Second
	start := s.roundStart(in.StartTime, period)
	// The datapoints the range can hold: its periods, the last one partial.
	if n := (in.EndTime.Sub(start) + period - 1) / period; n > 1440 {
		return "", nil, cwErr("InvalidParameterCombination", "You have requested up to %s datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.", thousands(int64(n)))
	}
	start = s.highResStart(start, period)
	key := metricKey(s.region(in.Region), in.Namespace, in.MetricName, in.Dimensions)
	// Without Unit, "all data that was collected with any unit is returned, along with
	// the corresponding units": a period with datapoints of two units has a datapoint
	// for each.
	var aggs []*agg
	if in.Unit != "" {
		aggs = s.aggregate(key, start, in.EndTime, period, in.Unit)
	} else {
		for _, u := range s.unitsIn(key, start, in.EndTime) {
			aggs = append(aggs, s.aggregate(key, start, in.EndTime, period, u)...)
		}
		slices.SortStableFunc(aggs, func(a, b *agg) int { return a.start.Compare(b.start) })
	}
	for _, a := range aggs {
		dp := Datapoint{Timestamp: a.start, Unit: unitOf(a.unit)}
		for _, st := range in.Statistics {
			v, _ := a.stat(st)
			switch st {
			case "SampleCount":
				dp.SampleCount = &v
			case "Sum":
				dp.Sum = &v
			case "Average":
				dp.Average = &v
			case "Minimum":
				dp.Minimum = &v
			case "Maximum":
				dp.Maximum = &v
			}
		}
		for _, st := range in.ExtendedStatistics {
			if v, ok := a.stat(st); ok {
				if dp.ExtendedStatistics == nil {
					dp.ExtendedStatistics = map[string]float64{}
				}
				dp.ExtendedStatistics[st] = v
			}
		}
		dps = append(dps, dp)
	}
	return in.MetricName, dps, nil
}

// MetricStat is a GetMetricData query on one metric.
type MetricStat struct {
	Metric Metric
	Period int
	Stat   string
	Unit   string
}

// MetricDataQuery is one query of GetMetricData or of an alarm on metric math
// (PutMetricAlarm's Metrics): a MetricStat, or an Expression of metric math on the
// other queries' Ids (mathexpr.go). ReturnData nil means true. Period (Metrics Insights
// queries on AWS) is kept and returned by alarms, and not used; AccountId may only be
// this account.
type MetricDataQuery struct {
	ID         string
	MetricStat *MetricStat
	Expression string
	Label      string
	ReturnData *bool
	Period     int
	AccountID  string
}

// checkMetricStat validates the MetricStat of a GetMetricData query (field names it).
func checkMetricStat(ms MetricStat, field string) error {
	if err := checkNamespace(ms.Metric.Namespace, false); err != nil {
		return err
	}
	if ms.Metric.MetricName == "" {
		return missing(field + ".Metric.MetricName")
	}
	if len(ms.Metric.MetricName) > 255 {
		return invalid("The parameter %s.Metric.MetricName must be at most 255 characters.", field)
	}
	if err := checkDims(ms.Metric.Dimensions, 30); err != nil {
		return err
	}
	if err := checkPeriod(ms.Period, true); err != nil {
		return err
	}
	if _, ok := parsePercentile(ms.Stat); !ok && !statNames[ms.Stat] {
		return invalid("The value %s for parameter %s.Stat is not a valid statistic.", ms.Stat, field)
	}
	if ms.Unit != "" && !units[ms.Unit] {
		return invalid("The value %s for parameter %s.Unit is not a valid unit.", ms.Unit, field)
	}
	return nil
}

// MetricDataResult is one GetMetricData result.
type MetricDataResult struct {
	ID         string
	Label      string
	Timestamps []time.Time
	Values     []float64
	StatusCode string
}

// GetMetricDataInput is GetMetricData's input.
type GetMetricDataInput struct {
	Region        string // "" = the node's region (Config.Region)
	Queries       []MetricDataQuery
	StartTime     time.Time
	EndTime       time.Time
	ScanBy        string // TimestampDescending (default) or TimestampAscending
	MaxDatapoints int    // per page, default 100800
	NextToken     string // from the previous page
}

// validMetricID: letters, digits and underscores, starting with a lowercase letter.
func validMetricID(id string) bool {
	if id == "" || len(id) > 255 || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// GetMetricData evaluates MetricStat queries and metric math expressions
// (mathexpr.go). The datapoints of the results, in query order (an expression whose
// result is an array of time series has one result per time series, with the
// expression's Id), are returned MaxDatapoints at a time: a page that stops inside a result marks
// it PartialData and returns a NextToken from which the next page continues (AWS's
// pagination). A page holds the results that have datapoints in it (a result with none
// is in the page where its datapoints would have started).
func (s *Service) GetMetricData(ctx context.Context, in GetMetricDataInput) ([]MetricDataResult, string, error) {
	s.collect()
	if len(in.Queries) == 0 {
		return nil, "", missing("MetricDataQueries")
	}
	if len(in.Queries) > 500 {
		return nil, "", invalid("The collection MetricDataQueries must not have a size greater than 500.")
	}
	if !in.StartTime.Before(in.EndTime) {
		return nil, "", invalid("The parameter StartTime must be less than the parameter EndTime.")
	}
	switch in.ScanBy {
	case "", "TimestampDescending", "TimestampAscending":
	default:
		return nil, "", invalid("The value %s for parameter ScanBy is invalid.", in.ScanBy)
	}
	maxDP := in.MaxDatapoints
	if maxDP <= 0 {
		maxDP = 100800
	}
	skip := 0
	if in.NextToken != "" {
		t, err := decodeToken(in.NextToken)
		if err != nil {
			return nil, "", err
		}
		if skip, err = strconv.Atoi(strings.TrimPrefix(t, "gmd:")); err != nil || skip < 0 || !strings.HasPrefix(t, "gmd:") {
			return nil, "", cwErr("InvalidNextToken", "The NextToken is invalid.")
		}
	}
	ids := map[string]bool{}
	for i, q := range in.Queries {
		if q.ID == "" {
			return nil, "", missing(fmt.Sprintf("MetricDataQueries.member.%d.Id", i+1))
		}
		if !validMetricID(q.ID) {
			return nil, "", invalid("The value %s for parameter MetricDataQueries.member.%d.Id is invalid: an Id has letters, numbers and underscores and starts with a lowercase letter.", q.ID, i+1)
		}
		if ids[q.ID] {
			return nil, "", invalid("The value %s for parameter MetricDataQueries.member.Id is duplicated.", q.ID)
		}
		ids[q.ID] = true
		// A Coffer is not a monitoring account: it reads only its own account's metrics.
		if q.AccountID != "" && q.AccountID != s.cfg.AccountID {
			return nil, "", invalid("The value %s for parameter MetricDataQueries.member.%d.AccountId is invalid: cross-account queries are not supported.", q.AccountID, i+1)
		}
	}
	for _, q := range in.Queries {
		if q.Expression != "" {
			if q.MetricStat != nil {
				return nil, "", cwErr("InvalidParameterCombination", "Query %s must have either Expression or MetricStat, not both.", q.ID)
			}
			continue
		}
		if q.MetricStat == nil {
			return nil, "", missing("MetricDataQueries.member.MetricStat")
		}
		if err := checkMetricStat(*q.MetricStat, "MetricStat"); err != nil {
			return nil, "", err
		}
	}
	cq, err := compileQueries(in.Queries)
	if err != nil {
		return nil, "", err
	}
	vals, err := s.evalQueries(s.region(in.Region), cq, func(p time.Duration) time.Time { return s.highResStart(s.roundStart(in.StartTime, p), p) }, in.EndTime)
	if err != nil {
		return nil, "", err
	}
	// The time series returned: one per query, or one per time series of an array
	// (with the query's Id, labelled "<Label> <metric's label>", or the metric's label
	// when the query has no Label).
	type returned struct {
		id, label string
		ser       *tseries
	}
	var rets []returned
	for _, q := range in.Queries {
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		v := vals[q.ID]
		if v.kind == kindSeries {
			rets = append(rets, returned{q.ID, v.series.label, v.series})
			continue
		}
		for _, ser := range v.arr {
			label := ser.label
			if q.Label != "" {
				label = q.Label + " " + ser.label
			}
			rets = append(rets, returned{q.ID, label, ser})
		}
	}
	var out []MetricDataResult
	pos, lim := 0, skip+maxDP // datapoints before the current result; end of this page
	for _, rt := range rets {
		r := MetricDataResult{ID: rt.id, Label: rt.label, StatusCode: "Complete"}
		ser := rt.ser
		idx := make([]int, len(ser.t))
		for i := range idx {
			idx[i] = i
		}
		if in.ScanBy != "TimestampAscending" {
			slices.Reverse(idx)
		}
		start := pos
		for _, i := range idx {
			switch {
			case pos < skip: // returned by a previous page
			case pos < lim:
				r.Timestamps = append(r.Timestamps, ser.t[i])
				r.Values = append(r.Values, ser.v[i])
			default:
				r.StatusCode = "PartialData"
			}
			pos++
		}
		switch {
		case pos > skip && start < lim: // datapoints in this page
			out = append(out, r)
		case pos == start && skip <= start && start < lim: // none, starting in this page
			out = append(out, r)
		case pos == start && start == lim: // none, at the end of this page: in it if it is the last
			r.StatusCode = "endOfPage"
			out = append(out, r)
		}
	}
	if pos > lim {
		out = slices.DeleteFunc(out, func(r MetricDataResult) bool { return r.StatusCode == "endOfPage" })
		return out, encodeToken("gmd:" + strconv.Itoa(lim)), nil
	}
	for i := range out {
		if out[i].StatusCode == "endOfPage" {
			out[i].StatusCode = "Complete"
		}
	}
	return out, "", nil
}

// ListMetricsInput is ListMetrics' input.
type ListMetricsInput struct {
	Region     string // "" = the node's region (Config.Region)
	Namespace  string
	MetricName string
	Dimensions []DimensionFilter
	NextToken  string
	// RecentlyActive (PT3H): only the metrics with a datapoint in the past three hours.
	RecentlyActive bool
	// OwningAccount: only the metrics of this account (a Coffer's metrics are all of its
	// account: another account has none).
	OwningAccount string
}

const listMetricsPage = 500

// ListMetrics lists the metrics that have unexpired datapoints on this node, 500 per page.
func (s *Service) ListMetrics(ctx context.Context, in ListMetricsInput) ([]Metric, string, error) {
	s.collect()
	if len(in.Dimensions) > 10 {
		return nil, "", invalid("The collection Dimensions must not have a size greater than 10.")
	}
	if len(in.OwningAccount) > 255 {
		return nil, "", invalid("The parameter OwningAccount must be 1 to 255 characters.")
	}
	if in.OwningAccount != "" && in.OwningAccount != s.cfg.AccountID {
		return nil, "", nil
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || len(b) == 0 {
			return nil, "", cwErr("InvalidNextToken", "The NextToken is invalid.")
		}
		after = string(b)
	}
	region := s.region(in.Region)
	s.mmu.RLock()
	defer s.mmu.RUnlock()
	keys := slices.Sorted(maps.Keys(s.metrics))
	// "ListMetrics doesn't return information about metrics if those metrics haven't
	// reported data in the past two weeks" (their datapoints are kept longer).
	limit := s.retentionLimit()
	if twoWeeks := s.now().Add(-14 * 24 * time.Hour); twoWeeks.After(limit) {
		limit = twoWeeks
	}
	if in.RecentlyActive {
		limit = s.now().Add(-3 * time.Hour)
	}
	var out []Metric
	next, last := "", ""
	for _, k := range keys {
		if after != "" && k <= after {
			continue
		}
		se := s.metrics[k]
		if se.region != region || len(se.points) == 0 || se.points[len(se.points)-1].t.Before(limit) {
			continue // no datapoint left in the retention period
		}
		m := se.m
		if (in.Namespace != "" && m.Namespace != in.Namespace) || (in.MetricName != "" && m.MetricName != in.MetricName) || !matchDims(m.Dimensions, in.Dimensions) {
			continue
		}
		if len(out) == listMetricsPage {
			next = base64.RawURLEncoding.EncodeToString([]byte(last))
			break
		}
		out = append(out, Metric{Namespace: m.Namespace, MetricName: m.MetricName, Dimensions: append([]Dimension(nil), m.Dimensions...)})
		last = k
	}
	return out, next, nil
}

func matchDims(have []Dimension, f []DimensionFilter) bool {
	for _, x := range f {
		ok := false
		for _, d := range have {
			if d.Name == x.Name && (x.Value == "" || d.Value == x.Value) {
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
