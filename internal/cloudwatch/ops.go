package cloudwatch

import (
	"context"
	"errors"
	"maps"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// The AWS query protocol layer of CloudWatch (API version 2010-08-01, the protocol of
// awscli 2.x's bundled botocore model). A request is form-encoded
// (Action=PutMetricAlarm&Version=2010-08-01&AlarmName=a&AlarmActions.member.1=arn...&
// Dimensions.member.1.Name=n&Dimensions.member.1.Value=v...); an operation returns an
// XML-tagged struct encoded as the content of <{Action}Result>, or nil for operations
// whose response has no result element (PutMetricAlarm, DeleteAlarms...).

// Version is the CloudWatch API version clients send.
const Version = "2010-08-01"

// XMLNamespace is the namespace of CloudWatch's query-protocol responses.
const XMLNamespace = "http://monitoring.amazonaws.com/doc/2010-08-01/"

// SigningName is the SigV4 service name of CloudWatch (its endpoint prefix).
const SigningName = "monitoring"

// Caller is the authenticated caller of an operation. CloudWatch is regional, as on AWS:
// Region (the region the request was signed for; "" = the node's region, Config.Region)
// is the region whose metrics, alarms, history and tags the operation sees. CloudWatch
// keeps one account (Config); Account is not used to scope alarms or metrics.
type Caller struct {
	Region  string
	Account string
}

// Op is one CloudWatch API operation: it decodes its form-encoded query-protocol request
// body and returns the result value (or nil), or an error (an *Error or *awsproto.Error;
// MapError maps them).
type Op func(s *Service, ctx context.Context, c Caller, body []byte) (any, error)

var cwOps = map[string]Op{
	"PutMetricAlarm":       opPutMetricAlarm,
	"PutCompositeAlarm":    opPutCompositeAlarm,
	"DescribeAlarms":       opDescribeAlarms,
	"DescribeAlarmHistory": opDescribeAlarmHistory,
	"DeleteAlarms":         namesOp((*Service).DeleteAlarmsIn),
	"EnableAlarmActions":   namesOp((*Service).EnableAlarmActionsIn),
	"DisableAlarmActions":  namesOp((*Service).DisableAlarmActionsIn),
	"SetAlarmState":        opSetAlarmState,
	"PutMetricData":        opPutMetricData,
	"GetMetricStatistics":  opGetMetricStatistics,
	"GetMetricData":        opGetMetricData,
	"ListMetrics":          opListMetrics,

	"DescribeAlarmsForMetric": opDescribeAlarmsForMetric,
	"ListTagsForResource":     opListTagsForResource,
	"TagResource":             opTagResource,
	"UntagResource":           opUntagResource,
}

// Operations is the dispatch table of the CloudWatch API (query protocol, version
// 2010-08-01), by Action.
func Operations() map[string]Op { return maps.Clone(cwOps) }

// MapError maps any error of the service (or of request decoding) to the protocol
// layer's error (awsproto.QueryService.MapError). Unknown errors are 500
// InternalServiceError.
func MapError(err error) *awsproto.Error {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	var e *Error
	if errors.As(err, &e) {
		code, status := e.Code, e.Status
		switch code {
		case "ConcurrentModification": // internal name of the state-revision conflict
			code, status = "ConcurrentModificationException", http.StatusTooManyRequests
		case "LimitExceeded", "LimitExceededException":
			status = http.StatusBadRequest
		}
		if status == 0 {
			status = http.StatusBadRequest
		}
		return &awsproto.Error{Status: status, Code: code, Message: e.Message}
	}
	return &awsproto.Error{Status: http.StatusInternalServerError, Code: "InternalServiceError", Message: "Internal service error."}
}

// ---- request decoding ----

// form is a parsed query-protocol request.
type form struct {
	v        url.Values
	prefixes map[string]bool // every dotted prefix of every key ("A", "A.member", "A.member.1"...)
}

func parseForm(body []byte) (*form, error) {
	v, err := awsproto.ParseQuery(body)
	if err != nil {
		return nil, err
	}
	f := &form{v: v, prefixes: map[string]bool{}}
	for k := range v {
		for i := 0; i < len(k); i++ {
			if k[i] == '.' {
				f.prefixes[k[:i]] = true
			}
		}
	}
	return f, nil
}

// has reports whether the parameter p, or any parameter under p (p.X...), is present.
func (f *form) has(p string) bool {
	_, ok := f.v[p]
	return ok || f.prefixes[p]
}

func (f *form) str(p string) string { return f.v.Get(p) }

func (f *form) strs(p string) []string { return awsproto.QueryList(f.v, p) }

func badValue(p, v, what string) error {
	return invalid("The value %s for parameter %s is not a valid %s.", v, p, what)
}

func (f *form) int(p string) (int, error) {
	s := f.v.Get(p)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badValue(p, s, "integer")
	}
	return n, nil
}

func (f *form) float(p string) (*float64, error) {
	s, ok := f.v[p]
	if !ok || len(s) == 0 || s[0] == "" {
		return nil, nil
	}
	x, err := strconv.ParseFloat(s[0], 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, badValue(p, s[0], "number")
	}
	return &x, nil
}

func (f *form) bool(p string) (*bool, error) {
	s := f.v.Get(p)
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, badValue(p, s, "boolean")
	}
	return &b, nil
}

// floats is the list p.member.1, p.member.2...
func (f *form) floats(p string) ([]float64, error) {
	var out []float64
	for i, s := range f.strs(p) {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, badValue(p+".member."+strconv.Itoa(i+1), s, "number")
		}
		out = append(out, x)
	}
	return out, nil
}

// timeLayouts are the ISO 8601 forms accepted for timestamps (botocore sends
// 2006-01-02T15:04:05Z or with fractional seconds); a number is Unix seconds.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02"}

func (f *form) time(p string) (time.Time, error) {
	s := f.v.Get(p)
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	if x, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) && math.Abs(x) < 1e11 {
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, badValue(p, s, "timestamp")
}

// structs calls fn with p.member.1, p.member.2... while a member is present.
func (f *form) structs(p string, fn func(m string) error) error {
	for i := 1; ; i++ {
		m := p + ".member." + strconv.Itoa(i)
		if !f.has(m) {
			return nil
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}

func (f *form) dims(p string) []Dimension {
	var out []Dimension
	_ = f.structs(p, func(m string) error {
		out = append(out, Dimension{Name: f.str(m + ".Name"), Value: f.str(m + ".Value")})
		return nil
	})
	return out
}

func (f *form) tags(p string) ([]Tag, error) {
	ts, err := awsproto.QueryTags(f.v, p)
	if err != nil {
		return nil, err
	}
	var out []Tag
	for _, t := range ts {
		out = append(out, Tag{Key: t.Key, Value: t.Value})
	}
	return out, nil
}

func (f *form) queries(p string) ([]MetricDataQuery, error) {
	var out []MetricDataQuery
	err := f.structs(p, func(m string) error {
		q := MetricDataQuery{ID: f.str(m + ".Id"), Expression: f.str(m + ".Expression"), Label: f.str(m + ".Label"), AccountID: f.str(m + ".AccountId")}
		rd, err := f.bool(m + ".ReturnData")
		if err != nil {
			return err
		}
		q.ReturnData = rd
		if q.Period, err = f.int(m + ".Period"); err != nil {
			return err
		}
		if ms := m + ".MetricStat"; f.has(ms) {
			st := &MetricStat{Metric: Metric{Namespace: f.str(ms + ".Metric.Namespace"), MetricName: f.str(ms + ".Metric.MetricName"),
				Dimensions: f.dims(ms + ".Metric.Dimensions")}, Stat: f.str(ms + ".Stat"), Unit: f.str(ms + ".Unit")}
			if st.Period, err = f.int(ms + ".Period"); err != nil {
				return err
			}
			q.MetricStat = st
		}
		out = append(out, q)
		return nil
	})
	return out, err
}

// ---- response encoding ----

// isoTime formats t as AWS does (2006-01-02T15:04:05.000Z); the zero time is "".
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// members is a query-protocol list (<X><member>..</member>...</X>), always written.
type members struct {
	Member []string `xml:"member"`
}

type dimensionsXML struct {
	Member []dimensionXML `xml:"member"`
}

type dimensionXML struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

func toDims(d []Dimension) dimensionsXML {
	out := dimensionsXML{}
	for _, x := range d {
		out.Member = append(out.Member, dimensionXML(x))
	}
	return out
}

// MetricAlarmXML is a <member> of DescribeAlarms' MetricAlarms.
type MetricAlarmXML struct {
	AlarmName                          string        `xml:"AlarmName"`
	AlarmArn                           string        `xml:"AlarmArn"`
	AlarmDescription                   string        `xml:"AlarmDescription,omitempty"`
	AlarmConfigurationUpdatedTimestamp string        `xml:"AlarmConfigurationUpdatedTimestamp,omitempty"`
	ActionsEnabled                     bool          `xml:"ActionsEnabled"`
	OKActions                          members       `xml:"OKActions"`
	AlarmActions                       members       `xml:"AlarmActions"`
	InsufficientDataActions            members       `xml:"InsufficientDataActions"`
	StateValue                         string        `xml:"StateValue"`
	StateReason                        string        `xml:"StateReason,omitempty"`
	StateReasonData                    string        `xml:"StateReasonData,omitempty"`
	StateUpdatedTimestamp              string        `xml:"StateUpdatedTimestamp,omitempty"`
	StateTransitionedTimestamp         string        `xml:"StateTransitionedTimestamp,omitempty"`
	MetricName                         string        `xml:"MetricName,omitempty"`
	Namespace                          string        `xml:"Namespace,omitempty"`
	Statistic                          string        `xml:"Statistic,omitempty"`
	ExtendedStatistic                  string        `xml:"ExtendedStatistic,omitempty"`
	Dimensions                         dimensionsXML `xml:"Dimensions"`
	Period                             int           `xml:"Period,omitempty"`
	Unit                               string        `xml:"Unit,omitempty"`
	EvaluationPeriods                  int           `xml:"EvaluationPeriods"`
	DatapointsToAlarm                  int           `xml:"DatapointsToAlarm,omitempty"`
	Threshold                          float64       `xml:"Threshold"`
	ComparisonOperator                 string        `xml:"ComparisonOperator"`
	TreatMissingData                   string        `xml:"TreatMissingData,omitempty"`
	EvaluateLowSampleCountPercentile   string        `xml:"EvaluateLowSampleCountPercentile,omitempty"`
	Metrics                            *queriesXML   `xml:"Metrics,omitempty"` // an alarm on metric math
}

// queriesXML is a list of MetricDataQuery (an alarm's Metrics).
type queriesXML struct {
	Member []queryXML `xml:"member"`
}

type queryXML struct {
	ID         string         `xml:"Id"`
	MetricStat *metricStatXML `xml:"MetricStat,omitempty"`
	Expression string         `xml:"Expression,omitempty"`
	Label      string         `xml:"Label,omitempty"`
	ReturnData *bool          `xml:"ReturnData,omitempty"`
	Period     int            `xml:"Period,omitempty"`
	AccountID  string         `xml:"AccountId,omitempty"`
}

type metricStatXML struct {
	Metric MetricXML `xml:"Metric"`
	Period int       `xml:"Period"`
	Stat   string    `xml:"Stat"`
	Unit   string    `xml:"Unit,omitempty"`
}

func toQueries(qs []MetricDataQuery) *queriesXML {
	if len(qs) == 0 {
		return nil
	}
	out := &queriesXML{}
	for _, q := range qs {
		x := queryXML{ID: q.ID, Expression: q.Expression, Label: q.Label, ReturnData: q.ReturnData, Period: q.Period, AccountID: q.AccountID}
		if ms := q.MetricStat; ms != nil {
			x.MetricStat = &metricStatXML{Metric: MetricXML{Namespace: ms.Metric.Namespace, MetricName: ms.Metric.MetricName,
				Dimensions: toDims(ms.Metric.Dimensions)}, Period: ms.Period, Stat: ms.Stat, Unit: ms.Unit}
		}
		out.Member = append(out.Member, x)
	}
	return out
}

func alarmXML(a MetricAlarm) MetricAlarmXML {
	return MetricAlarmXML{AlarmName: a.AlarmName, AlarmArn: a.AlarmArn, AlarmDescription: a.AlarmDescription,
		AlarmConfigurationUpdatedTimestamp: isoTime(a.AlarmConfigurationUpdatedTimestamp), ActionsEnabled: a.ActionsEnabled,
		OKActions: members{a.OKActions}, AlarmActions: members{a.AlarmActions}, InsufficientDataActions: members{a.InsufficientDataActions},
		StateValue: a.StateValue, StateReason: a.StateReason, StateReasonData: a.StateReasonData,
		StateUpdatedTimestamp: isoTime(a.StateUpdatedTimestamp), StateTransitionedTimestamp: isoTime(a.StateTransitionedTimestamp),
		MetricName: a.MetricName, Namespace: a.Namespace, Statistic: a.Statistic, ExtendedStatistic: a.ExtendedStatistic,
		Dimensions: toDims(a.Dimensions), Period: a.Period, Unit: a.Unit, EvaluationPeriods: a.EvaluationPeriods,
		DatapointsToAlarm: a.DatapointsToAlarm, Threshold: a.Threshold, ComparisonOperator: a.ComparisonOperator,
		TreatMissingData: a.TreatMissingData, EvaluateLowSampleCountPercentile: a.EvaluateLowSampleCountPercentile,
		Metrics: toQueries(a.Metrics)}
}

// DescribeAlarmsResult is the content of <DescribeAlarmsResult>.
type DescribeAlarmsResult struct {
	MetricAlarms struct {
		Member []MetricAlarmXML `xml:"member"`
	} `xml:"MetricAlarms"`
	CompositeAlarms struct {
		Member []CompositeAlarmXML `xml:"member"`
	} `xml:"CompositeAlarms"`
	NextToken string `xml:"NextToken,omitempty"`
}

// CompositeAlarmXML is a <member> of DescribeAlarms' CompositeAlarms.
type CompositeAlarmXML struct {
	ActionsEnabled                     bool    `xml:"ActionsEnabled"`
	AlarmActions                       members `xml:"AlarmActions"`
	AlarmArn                           string  `xml:"AlarmArn"`
	AlarmConfigurationUpdatedTimestamp string  `xml:"AlarmConfigurationUpdatedTimestamp,omitempty"`
	AlarmDescription                   string  `xml:"AlarmDescription,omitempty"`
	AlarmName                          string  `xml:"AlarmName"`
	AlarmRule                          string  `xml:"AlarmRule"`
	InsufficientDataActions            members `xml:"InsufficientDataActions"`
	OKActions                          members `xml:"OKActions"`
	StateReason                        string  `xml:"StateReason,omitempty"`
	StateReasonData                    string  `xml:"StateReasonData,omitempty"`
	StateUpdatedTimestamp              string  `xml:"StateUpdatedTimestamp,omitempty"`
	StateValue                         string  `xml:"StateValue"`
	StateTransitionedTimestamp         string  `xml:"StateTransitionedTimestamp,omitempty"`
}

func compositeXML(a CompositeAlarm) CompositeAlarmXML {
	return CompositeAlarmXML{ActionsEnabled: a.ActionsEnabled, AlarmActions: members{a.AlarmActions}, AlarmArn: a.AlarmArn,
		AlarmConfigurationUpdatedTimestamp: isoTime(a.AlarmConfigurationUpdatedTimestamp), AlarmDescription: a.AlarmDescription,
		AlarmName: a.AlarmName, AlarmRule: a.AlarmRule, InsufficientDataActions: members{a.InsufficientDataActions},
		OKActions: members{a.OKActions}, StateReason: a.StateReason, StateReasonData: a.StateReasonData,
		StateUpdatedTimestamp: isoTime(a.StateUpdatedTimestamp), StateValue: a.StateValue,
		StateTransitionedTimestamp: isoTime(a.StateTransitionedTimestamp)}
}

// DescribeAlarmsForMetricResult is the content of <DescribeAlarmsForMetricResult>.
type DescribeAlarmsForMetricResult struct {
	MetricAlarms struct {
		Member []MetricAlarmXML `xml:"member"`
	} `xml:"MetricAlarms"`
}

// TagXML is a <member> of ListTagsForResource's Tags.
type TagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// ListTagsForResourceResult is the content of <ListTagsForResourceResult>.
type ListTagsForResourceResult struct {
	Tags struct {
		Member []TagXML `xml:"member"`
	} `xml:"Tags"`
}

// AlarmHistoryItemXML is a <member> of DescribeAlarmHistory's AlarmHistoryItems.
type AlarmHistoryItemXML struct {
	AlarmName       string `xml:"AlarmName"`
	AlarmType       string `xml:"AlarmType,omitempty"`
	Timestamp       string `xml:"Timestamp"`
	HistoryItemType string `xml:"HistoryItemType"`
	HistorySummary  string `xml:"HistorySummary"`
	HistoryData     string `xml:"HistoryData,omitempty"`
}

// DescribeAlarmHistoryResult is the content of <DescribeAlarmHistoryResult>.
type DescribeAlarmHistoryResult struct {
	AlarmHistoryItems struct {
		Member []AlarmHistoryItemXML `xml:"member"`
	} `xml:"AlarmHistoryItems"`
	NextToken string `xml:"NextToken,omitempty"`
}

// DatapointXML is a <member> of GetMetricStatistics' Datapoints.
type DatapointXML struct {
	Timestamp          string    `xml:"Timestamp"`
	SampleCount        *float64  `xml:"SampleCount,omitempty"`
	Average            *float64  `xml:"Average,omitempty"`
	Sum                *float64  `xml:"Sum,omitempty"`
	Minimum            *float64  `xml:"Minimum,omitempty"`
	Maximum            *float64  `xml:"Maximum,omitempty"`
	Unit               string    `xml:"Unit,omitempty"`
	ExtendedStatistics *entryMap `xml:"ExtendedStatistics,omitempty"`
}

// entryMap is a query-protocol map (<entry><key>k</key><value>v</value></entry>...).
type entryMap struct {
	Entry []mapEntry `xml:"entry"`
}

type mapEntry struct {
	Key   string  `xml:"key"`
	Value float64 `xml:"value"`
}

// GetMetricStatisticsResult is the content of <GetMetricStatisticsResult>.
type GetMetricStatisticsResult struct {
	Label      string `xml:"Label"`
	Datapoints struct {
		Member []DatapointXML `xml:"member"`
	} `xml:"Datapoints"`
}

// MetricDataResultXML is a <member> of GetMetricData's MetricDataResults.
type MetricDataResultXML struct {
	ID         string `xml:"Id"`
	Label      string `xml:"Label"`
	Timestamps members
	Values     struct {
		Member []float64 `xml:"member"`
	}
	StatusCode string `xml:"StatusCode"`
	Messages   struct{}
}

// GetMetricDataResult is the content of <GetMetricDataResult>.
type GetMetricDataResult struct {
	MetricDataResults struct {
		Member []MetricDataResultXML `xml:"member"`
	} `xml:"MetricDataResults"`
	NextToken string   `xml:"NextToken,omitempty"`
	Messages  struct{} `xml:"Messages"`
}

// MetricXML is a <member> of ListMetrics' Metrics.
type MetricXML struct {
	Namespace  string        `xml:"Namespace"`
	MetricName string        `xml:"MetricName"`
	Dimensions dimensionsXML `xml:"Dimensions"`
}

// ListMetricsResult is the content of <ListMetricsResult>.
type ListMetricsResult struct {
	Metrics struct {
		Member []MetricXML `xml:"member"`
	} `xml:"Metrics"`
	NextToken string `xml:"NextToken,omitempty"`
	// OwningAccounts: with IncludeLinkedAccounts, the account of each metric.
	OwningAccounts *members `xml:"OwningAccounts,omitempty"`
}

// ---- operations ----

func opPutMetricAlarm(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	in := PutMetricAlarmInput{Region: c.Region, AlarmName: f.str("AlarmName"), AlarmDescription: f.str("AlarmDescription"),
		OKActions: f.strs("OKActions"), AlarmActions: f.strs("AlarmActions"), InsufficientDataActions: f.strs("InsufficientDataActions"),
		MetricName: f.str("MetricName"), Namespace: f.str("Namespace"), Statistic: f.str("Statistic"),
		ExtendedStatistic: f.str("ExtendedStatistic"), Dimensions: f.dims("Dimensions"), Unit: f.str("Unit"),
		ComparisonOperator: f.str("ComparisonOperator"), TreatMissingData: f.str("TreatMissingData"),
		EvaluateLowSampleCountPercentile: f.str("EvaluateLowSampleCountPercentile"),
		ThresholdMetricID:                f.str("ThresholdMetricId")}
	if in.AlarmName == "" {
		return nil, missing("AlarmName")
	}
	// PromQL alarms (EvaluationCriteria, EvaluationInterval) are not supported: refused
	// rather than ignored (the alarm would not be the one asked for).
	for _, p := range []string{"EvaluationCriteria", "EvaluationInterval"} {
		if f.has(p) {
			return nil, invalid("The parameter %s is not supported by Coffer (PromQL alarms are not supported).", p)
		}
	}
	if in.ActionsEnabled, err = f.bool("ActionsEnabled"); err != nil {
		return nil, err
	}
	if in.Period, err = f.int("Period"); err != nil {
		return nil, err
	}
	if in.EvaluationPeriods, err = f.int("EvaluationPeriods"); err != nil {
		return nil, err
	}
	if !f.has("EvaluationPeriods") {
		return nil, missing("EvaluationPeriods")
	}
	if in.DatapointsToAlarm, err = f.int("DatapointsToAlarm"); err != nil {
		return nil, err
	}
	if in.Threshold, err = f.float("Threshold"); err != nil {
		return nil, err
	}
	if in.Tags, err = f.tags("Tags"); err != nil {
		return nil, err
	}
	if in.Metrics, err = f.queries("Metrics"); err != nil {
		return nil, err
	}
	return nil, s.PutMetricAlarm(ctx, in)
}

func opPutCompositeAlarm(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	in := PutCompositeAlarmInput{Region: c.Region, AlarmName: f.str("AlarmName"), AlarmRule: f.str("AlarmRule"), AlarmDescription: f.str("AlarmDescription"),
		OKActions: f.strs("OKActions"), AlarmActions: f.strs("AlarmActions"), InsufficientDataActions: f.strs("InsufficientDataActions"),
		ActionsSuppressor: f.str("ActionsSuppressor")}
	if in.AlarmName == "" {
		return nil, missing("AlarmName")
	}
	if !f.has("AlarmRule") {
		return nil, missing("AlarmRule")
	}
	if in.ActionsEnabled, err = f.bool("ActionsEnabled"); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name string
		dst  **int
	}{{"ActionsSuppressorWaitPeriod", &in.ActionsSuppressorWaitPeriod}, {"ActionsSuppressorExtensionPeriod", &in.ActionsSuppressorExtensionPeriod}} {
		if f.has(p.name) {
			n, err := f.int(p.name)
			if err != nil {
				return nil, err
			}
			*p.dst = &n
		}
	}
	if in.Tags, err = f.tags("Tags"); err != nil {
		return nil, err
	}
	return nil, s.PutCompositeAlarm(ctx, in)
}

func opDescribeAlarms(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	in := DescribeAlarmsInput{Region: c.Region, AlarmNames: f.strs("AlarmNames"), AlarmNamePrefix: f.str("AlarmNamePrefix"),
		StateValue: f.str("StateValue"), ActionPrefix: f.str("ActionPrefix"), NextToken: f.str("NextToken"),
		AlarmTypes: f.strs("AlarmTypes"), ChildrenOfAlarmName: f.str("ChildrenOfAlarmName"), ParentsOfAlarmName: f.str("ParentsOfAlarmName")}
	if in.MaxRecords, err = f.int("MaxRecords"); err != nil {
		return nil, err
	}
	if f.has("MaxRecords") && in.MaxRecords == 0 {
		return nil, invalid("The parameter MaxRecords must be between 1 and 100.")
	}
	alarms, composites, next, err := s.DescribeAllAlarms(ctx, in)
	if err != nil {
		return nil, err
	}
	res := &DescribeAlarmsResult{}
	for _, a := range alarms {
		res.MetricAlarms.Member = append(res.MetricAlarms.Member, alarmXML(a))
	}
	for _, a := range composites {
		res.CompositeAlarms.Member = append(res.CompositeAlarms.Member, compositeXML(a))
	}
	res.NextToken = next
	return res, nil
}

func opDescribeAlarmHistory(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	in := DescribeAlarmHistoryInput{Region: c.Region, AlarmName: f.str("AlarmName"), HistoryItemType: f.str("HistoryItemType"),
		ScanBy: f.str("ScanBy"), NextToken: f.str("NextToken"), AlarmTypes: f.strs("AlarmTypes"),
		AlarmContributorID: f.str("AlarmContributorId")}
	if f.has("AlarmContributorId") && in.AlarmContributorID == "" {
		return nil, invalid("The parameter AlarmContributorId must be 1 to 16 characters.")
	}
	switch in.ScanBy {
	case "", "TimestampDescending", "TimestampAscending":
	default:
		return nil, invalid("The value %s for parameter ScanBy is invalid.", in.ScanBy)
	}
	if in.StartDate, err = f.time("StartDate"); err != nil {
		return nil, err
	}
	if in.EndDate, err = f.time("EndDate"); err != nil {
		return nil, err
	}
	if in.MaxRecords, err = f.int("MaxRecords"); err != nil {
		return nil, err
	}
	if f.has("MaxRecords") && in.MaxRecords == 0 {
		return nil, invalid("The parameter MaxRecords must be between 1 and 100.")
	}
	items, next, err := s.DescribeAlarmHistory(ctx, in)
	if err != nil {
		return nil, err
	}
	res := &DescribeAlarmHistoryResult{}
	for _, h := range items {
		res.AlarmHistoryItems.Member = append(res.AlarmHistoryItems.Member, AlarmHistoryItemXML{AlarmName: h.AlarmName,
			AlarmType: h.AlarmType, Timestamp: isoTime(h.Timestamp), HistoryItemType: h.HistoryItemType,
			HistorySummary: h.HistorySummary, HistoryData: h.HistoryData})
	}
	res.NextToken = next
	return res, nil
}

// namesOp is DeleteAlarms, EnableAlarmActions and DisableAlarmActions (AlarmNames.member.N).
func namesOp(fn func(*Service, context.Context, string, []string) error) Op {
	return func(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
		f, err := parseForm(body)
		if err != nil {
			return nil, err
		}
		return nil, fn(s, ctx, c.Region, f.strs("AlarmNames"))
	}
}

func opSetAlarmState(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	name, sv := f.str("AlarmName"), f.str("StateValue")
	if name == "" {
		return nil, missing("AlarmName")
	}
	if sv == "" {
		return nil, missing("StateValue")
	}
	if !f.has("StateReason") { // required, but may be empty (0 to 1023 characters)
		return nil, missing("StateReason")
	}
	err = s.SetAlarmStateIn(ctx, c.Region, name, sv, f.str("StateReason"), f.str("StateReasonData"))
	if err != nil && onlyActionFailures(err) {
		// As on AWS, the call succeeds when an action of the new state fails: the
		// alarm's history records the failed action.
		err = nil
	}
	return nil, err
}

func opPutMetricData(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	ns := f.str("Namespace")
	if ns == "" {
		return nil, missing("Namespace")
	}
	if _, err := f.bool("StrictEntityValidation"); err != nil {
		return nil, err
	}
	var data []MetricDatum
	add := func(m string) error {
		d, err := f.datum(m)
		if err == nil {
			data = append(data, d)
		}
		return err
	}
	if err := f.structs("MetricData", add); err != nil {
		return nil, err
	}
	// EntityMetricData: the metric data of each entity are stored as MetricData's; the
	// entity itself (related telemetry) is not kept, as nothing in Coffer's API returns it.
	if err := f.structs("EntityMetricData", func(e string) error { return f.structs(e+".MetricData", add) }); err != nil {
		return nil, err
	}
	return nil, s.PutMetricDataIn(ctx, c.Region, ns, data)
}

// datum reads the MetricDatum m (MetricData.member.N).
func (f *form) datum(m string) (MetricDatum, error) {
	d := MetricDatum{MetricName: f.str(m + ".MetricName"), Dimensions: f.dims(m + ".Dimensions"), Unit: f.str(m + ".Unit")}
	var err error
	if d.Timestamp, err = f.time(m + ".Timestamp"); err != nil {
		return d, err
	}
	if d.Value, err = f.float(m + ".Value"); err != nil {
		return d, err
	}
	if sv := m + ".StatisticValues"; f.has(sv) {
		set := &StatisticSet{}
		for _, x := range []struct {
			name string
			dst  *float64
		}{{"SampleCount", &set.SampleCount}, {"Sum", &set.Sum}, {"Minimum", &set.Minimum}, {"Maximum", &set.Maximum}} {
			v, err := f.float(sv + "." + x.name)
			if err != nil {
				return d, err
			}
			if v == nil {
				return d, missing(sv + "." + x.name)
			}
			*x.dst = *v
		}
		d.StatisticValues = set
	}
	if d.Values, err = f.floats(m + ".Values"); err != nil {
		return d, err
	}
	if d.Counts, err = f.floats(m + ".Counts"); err != nil {
		return d, err
	}
	if d.StorageResolution, err = f.int(m + ".StorageResolution"); err != nil {
		return d, err
	}
	return d, nil
}

func opGetMetricStatistics(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	in := GetMetricStatisticsInput{Region: c.Region, Namespace: f.str("Namespace"), MetricName: f.str("MetricName"), Dimensions: f.dims("Dimensions"),
		Statistics: f.strs("Statistics"), ExtendedStatistics: f.strs("ExtendedStatistics"), Unit: f.str("Unit")}
	if in.Namespace == "" {
		return nil, missing("Namespace")
	}
	if in.StartTime, err = f.time("StartTime"); err != nil {
		return nil, err
	}
	if in.EndTime, err = f.time("EndTime"); err != nil {
		return nil, err
	}
	if !f.has("Period") {
		return nil, missing("Period")
	}
	if in.Period, err = f.int("Period"); err != nil {
		return nil, err
	}
	label, dps, err := s.GetMetricStatistics(ctx, in)
	if err != nil {
		return nil, err
	}
	res := &GetMetricStatisticsResult{Label: label}
	for _, d := range dps {
		x := DatapointXML{Timestamp: isoTime(d.Timestamp), SampleCount: d.SampleCount, Average: d.Average, Sum: d.Sum,
			Minimum: d.Minimum, Maximum: d.Maximum, Unit: d.Unit}
		if len(d.ExtendedStatistics) > 0 {
			m := &entryMap{}
			keys := make([]string, 0, len(d.ExtendedStatistics))
			for k := range d.ExtendedStatistics {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				m.Entry = append(m.Entry, mapEntry{Key: k, Value: d.ExtendedStatistics[k]})
			}
			x.ExtendedStatistics = m
		}
		res.Datapoints.Member = append(res.Datapoints.Member, x)
	}
	return res, nil
}

func opGetMetricData(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	in := GetMetricDataInput{Region: c.Region, ScanBy: f.str("ScanBy"), NextToken: f.str("NextToken")}
	// LabelOptions.Timezone ("+ or - followed by four digits", default +0000) only
	// changes the times of time-based dynamic labels, which Coffer does not expand
	// (docs/cloudwatch.md): it is checked, and has nothing to change.
	if tz := f.str("LabelOptions.Timezone"); f.has("LabelOptions.Timezone") && !validTimezone(tz) {
		return nil, invalid("The value %s for parameter LabelOptions.Timezone is invalid: + or - followed by four digits (hours and minutes), e.g. +0130.", tz)
	}
	if in.Queries, err = f.queries("MetricDataQueries"); err != nil {
		return nil, err
	}
	if in.StartTime, err = f.time("StartTime"); err != nil {
		return nil, err
	}
	if in.StartTime.IsZero() {
		return nil, missing("StartTime")
	}
	if in.EndTime, err = f.time("EndTime"); err != nil {
		return nil, err
	}
	if in.EndTime.IsZero() {
		return nil, missing("EndTime")
	}
	if in.MaxDatapoints, err = f.int("MaxDatapoints"); err != nil {
		return nil, err
	}
	if f.has("MaxDatapoints") && in.MaxDatapoints <= 0 {
		return nil, invalid("The parameter MaxDatapoints must be positive.")
	}
	results, next, err := s.GetMetricData(ctx, in)
	if err != nil {
		return nil, err
	}
	res := &GetMetricDataResult{NextToken: next}
	for _, r := range results {
		x := MetricDataResultXML{ID: r.ID, Label: r.Label, StatusCode: r.StatusCode}
		for _, t := range r.Timestamps {
			x.Timestamps.Member = append(x.Timestamps.Member, isoTime(t))
		}
		x.Values.Member = r.Values
		res.MetricDataResults.Member = append(res.MetricDataResults.Member, x)
	}
	return res, nil
}

// validTimezone: +HHMM or -HHMM, hours 00-23 and minutes 00-59.
func validTimezone(tz string) bool {
	if len(tz) != 5 || (tz[0] != '+' && tz[0] != '-') {
		return false
	}
	for _, c := range tz[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return tz[1:3] <= "23" && tz[3:5] <= "59"
}

func opListMetrics(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	in := ListMetricsInput{Region: c.Region, Namespace: f.str("Namespace"), MetricName: f.str("MetricName"), NextToken: f.str("NextToken")}
	_ = f.structs("Dimensions", func(m string) error {
		in.Dimensions = append(in.Dimensions, DimensionFilter{Name: f.str(m + ".Name"), Value: f.str(m + ".Value")})
		return nil
	})
	for _, d := range in.Dimensions {
		if d.Name == "" {
			return nil, missing("Dimensions.member.N.Name")
		}
	}
	switch ra := f.str("RecentlyActive"); ra {
	case "":
	case "PT3H":
		in.RecentlyActive = true
	default:
		return nil, invalid("The value %s for parameter RecentlyActive is invalid.", ra)
	}
	linked, err := f.bool("IncludeLinkedAccounts")
	if err != nil {
		return nil, err
	}
	in.OwningAccount = f.str("OwningAccount")
	if f.has("OwningAccount") && in.OwningAccount == "" {
		return nil, invalid("The parameter OwningAccount must be 1 to 255 characters.")
	}
	metrics, next, err := s.ListMetrics(ctx, in)
	if err != nil {
		return nil, err
	}
	res := &ListMetricsResult{NextToken: next}
	if linked != nil && *linked {
		// "OwningAccounts ... is a 1:1 mapping between each metric that is returned and
		// the ID of the owning account": a Coffer's metrics are all its account's.
		res.OwningAccounts = &members{Member: []string{}}
	}
	for _, m := range metrics {
		res.Metrics.Member = append(res.Metrics.Member, MetricXML{Namespace: m.Namespace, MetricName: m.MetricName, Dimensions: toDims(m.Dimensions)})
		if res.OwningAccounts != nil {
			res.OwningAccounts.Member = append(res.OwningAccounts.Member, s.cfg.AccountID)
		}
	}
	return res, nil
}

func opDescribeAlarmsForMetric(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	in := DescribeAlarmsForMetricInput{Region: c.Region, Namespace: f.str("Namespace"), MetricName: f.str("MetricName"), Dimensions: f.dims("Dimensions"),
		Statistic: f.str("Statistic"), ExtendedStatistic: f.str("ExtendedStatistic"), Unit: f.str("Unit")}
	if in.Period, err = f.int("Period"); err != nil {
		return nil, err
	}
	if f.has("Period") && in.Period < 1 {
		return nil, invalid("The parameter Period must be greater than 0.")
	}
	alarms, err := s.DescribeAlarmsForMetric(ctx, in)
	if err != nil {
		return nil, err
	}
	res := &DescribeAlarmsForMetricResult{}
	for _, a := range alarms {
		res.MetricAlarms.Member = append(res.MetricAlarms.Member, alarmXML(a))
	}
	return res, nil
}

func opListTagsForResource(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	tags, err := s.ListTagsForResourceIn(ctx, c.Region, f.str("ResourceARN"))
	if err != nil {
		return nil, err
	}
	res := &ListTagsForResourceResult{}
	for _, t := range tags {
		res.Tags.Member = append(res.Tags.Member, TagXML(t))
	}
	return res, nil
}

func opTagResource(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	tags, err := f.tags("Tags")
	if err != nil {
		return nil, err
	}
	if err := s.TagResourceIn(ctx, c.Region, f.str("ResourceARN"), tags); err != nil {
		return nil, err
	}
	return &struct{}{}, nil // <TagResourceResult/>: botocore's model has one

}

func opUntagResource(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	f, err := parseForm(body)
	if err != nil {
		return nil, err
	}
	if err := s.UntagResourceIn(ctx, c.Region, f.str("ResourceARN"), f.strs("TagKeys")); err != nil {
		return nil, err
	}
	return &struct{}{}, nil // <UntagResourceResult/>

}
