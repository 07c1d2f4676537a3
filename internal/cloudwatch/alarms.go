package cloudwatch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Alarm states.
const (
	StateOK               = "OK"
	StateAlarm            = "ALARM"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// Tag is a resource tag.
type Tag struct {
	Key   string
	Value string
}

// alarmRec is a metric alarm as persisted (and returned by DescribeAlarms: MetricAlarm).
type alarmRec struct {
	// Region: the region the alarm is in (its ARN's), whose metrics it evaluates. Absent
	// from the alarms of earlier versions (one region): Restore and Apply set the node's.
	Region                             string      `json:"region,omitempty"`
	AlarmName                          string      `json:"name"`
	AlarmArn                           string      `json:"arn"`
	AlarmDescription                   string      `json:"description,omitempty"`
	AlarmConfigurationUpdatedTimestamp time.Time   `json:"config_updated"`
	ActionsEnabled                     bool        `json:"actions_enabled"`
	OKActions                          []string    `json:"ok_actions,omitempty"`
	AlarmActions                       []string    `json:"alarm_actions,omitempty"`
	InsufficientDataActions            []string    `json:"insufficient_data_actions,omitempty"`
	MetricName                         string      `json:"metric_name"`
	Namespace                          string      `json:"namespace"`
	Statistic                          string      `json:"statistic,omitempty"`
	ExtendedStatistic                  string      `json:"extended_statistic,omitempty"`
	Dimensions                         []Dimension `json:"dimensions,omitempty"`
	Period                             int         `json:"period"`
	Unit                               string      `json:"unit,omitempty"`
	EvaluationPeriods                  int         `json:"evaluation_periods"`
	DatapointsToAlarm                  int         `json:"datapoints_to_alarm,omitempty"`
	Threshold                          float64     `json:"threshold"`
	ComparisonOperator                 string      `json:"comparison_operator"`
	TreatMissingData                   string      `json:"treat_missing_data,omitempty"`
	EvaluateLowSampleCountPercentile   string      `json:"evaluate_low_sample_count_percentile,omitempty"`
	Tags                               []Tag       `json:"tags,omitempty"`
	// Metrics: an alarm on metric math (MetricName, Namespace, Statistic, Dimensions,
	// Period and Unit are then empty). Absent from the alarms of earlier versions.
	Metrics []alarmQuery `json:"metrics,omitempty"`
	// AlarmRule and Children: a composite alarm (PutCompositeAlarm), whose metric fields
	// are all empty. Children are the names of the alarms its rule refers to. Absent from
	// the alarms of earlier versions (all metric alarms).
	AlarmRule string   `json:"alarm_rule,omitempty"`
	Children  []string `json:"children,omitempty"`

	StateValue                 string    `json:"state"`
	StateReason                string    `json:"state_reason"`
	StateReasonData            string    `json:"state_reason_data,omitempty"`
	StateUpdatedTimestamp      time.Time `json:"state_updated"`
	StateTransitionedTimestamp time.Time `json:"state_transitioned"`
	StateRevision              uint64    `json:"state_revision"`
}

// alarmQuery is a MetricDataQuery of an alarm on metric math, as persisted.
type alarmQuery struct {
	ID         string           `json:"id"`
	MetricStat *alarmMetricStat `json:"metric_stat,omitempty"`
	Expression string           `json:"expression,omitempty"`
	Label      string           `json:"label,omitempty"`
	ReturnData bool             `json:"return_data"`
	Period     int              `json:"period,omitempty"`
	AccountID  string           `json:"account_id,omitempty"`
}

type alarmMetricStat struct {
	Namespace  string      `json:"namespace"`
	MetricName string      `json:"metric_name"`
	Dimensions []Dimension `json:"dimensions,omitempty"`
	Period     int         `json:"period"`
	Stat       string      `json:"stat"`
	Unit       string      `json:"unit,omitempty"`
}

// queries are the alarm's Metrics as MetricDataQuery (ReturnData always set).
func (a *alarmRec) queries() []MetricDataQuery {
	if len(a.Metrics) == 0 {
		return nil
	}
	out := make([]MetricDataQuery, len(a.Metrics))
	for i, q := range a.Metrics {
		rd := q.ReturnData
		out[i] = MetricDataQuery{ID: q.ID, Expression: q.Expression, Label: q.Label, ReturnData: &rd, Period: q.Period, AccountID: q.AccountID}
		if ms := q.MetricStat; ms != nil {
			out[i].MetricStat = &MetricStat{Metric: Metric{Namespace: ms.Namespace, MetricName: ms.MetricName, Dimensions: clone(ms.Dimensions)},
				Period: ms.Period, Stat: ms.Stat, Unit: ms.Unit}
		}
	}
	return out
}

// period is the alarm's period: Period, or that of the MetricStat queries of an alarm
// on metric math (they all have the same).
func (a *alarmRec) period() int {
	for _, q := range a.Metrics {
		if q.MetricStat != nil {
			return q.MetricStat.Period
		}
	}
	return a.Period
}

// watches reports whether the alarm reads the metric with this key (metricKey: of its
// region only).
func (a *alarmRec) watches(key string) bool {
	if len(a.Metrics) == 0 {
		return metricKey(a.Region, a.Namespace, a.MetricName, a.Dimensions) == key
	}
	for _, q := range a.Metrics {
		if ms := q.MetricStat; ms != nil && metricKey(a.Region, ms.Namespace, ms.MetricName, ms.Dimensions) == key {
			return true
		}
	}
	return false
}

// MetricAlarm is an alarm as DescribeAlarms returns it.
type MetricAlarm struct {
	AlarmName                          string
	AlarmArn                           string
	AlarmDescription                   string
	AlarmConfigurationUpdatedTimestamp time.Time
	ActionsEnabled                     bool
	OKActions                          []string
	AlarmActions                       []string
	InsufficientDataActions            []string
	StateValue                         string
	StateReason                        string
	StateReasonData                    string
	StateUpdatedTimestamp              time.Time
	StateTransitionedTimestamp         time.Time
	MetricName                         string
	Namespace                          string
	Statistic                          string
	ExtendedStatistic                  string
	Dimensions                         []Dimension
	Period                             int
	Unit                               string
	EvaluationPeriods                  int
	DatapointsToAlarm                  int
	Threshold                          float64
	ComparisonOperator                 string
	TreatMissingData                   string
	EvaluateLowSampleCountPercentile   string
	Metrics                            []MetricDataQuery // an alarm on metric math
}

func (a *alarmRec) public() MetricAlarm {
	return MetricAlarm{AlarmName: a.AlarmName, AlarmArn: a.AlarmArn, AlarmDescription: a.AlarmDescription,
		AlarmConfigurationUpdatedTimestamp: a.AlarmConfigurationUpdatedTimestamp, ActionsEnabled: a.ActionsEnabled,
		OKActions: clone(a.OKActions), AlarmActions: clone(a.AlarmActions), InsufficientDataActions: clone(a.InsufficientDataActions),
		StateValue: a.StateValue, StateReason: a.StateReason, StateReasonData: a.StateReasonData,
		StateUpdatedTimestamp: a.StateUpdatedTimestamp, StateTransitionedTimestamp: a.StateTransitionedTimestamp,
		MetricName: a.MetricName, Namespace: a.Namespace, Statistic: a.Statistic, ExtendedStatistic: a.ExtendedStatistic,
		Dimensions: clone(a.Dimensions), Period: a.Period, Unit: a.Unit, EvaluationPeriods: a.EvaluationPeriods,
		DatapointsToAlarm: a.DatapointsToAlarm, Threshold: a.Threshold, ComparisonOperator: a.ComparisonOperator,
		TreatMissingData: a.TreatMissingData, EvaluateLowSampleCountPercentile: a.EvaluateLowSampleCountPercentile,
		Metrics: a.queries()}
}

func clone[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append([]T(nil), s...)
}

// HistoryItem is one alarm history entry (DescribeAlarmHistory's AlarmHistoryItem).
// HistoryData is AWS's JSON.
type HistoryItem struct {
	AlarmName       string    `json:"alarm_name"`
	AlarmType       string    `json:"alarm_type"` // MetricAlarm
	Timestamp       time.Time `json:"timestamp"`
	HistoryItemType string    `json:"type"` // ConfigurationUpdate, StateUpdate, Action
	HistorySummary  string    `json:"summary"`
	HistoryData     string    `json:"data"`
}

// PutMetricAlarmInput is PutMetricAlarm's input. ActionsEnabled nil means true.
type PutMetricAlarmInput struct {
	// Region: the region of the alarm ("" = the node's region, Config.Region).
	Region                  string
	AlarmName               string
	AlarmDescription        string
	ActionsEnabled          *bool
	OKActions               []string
	AlarmActions            []string
	InsufficientDataActions []string
	MetricName              string
	Namespace               string
	Statistic               string
	ExtendedStatistic       string
	Dimensions              []Dimension
	Period                  int
	Unit                    string
	EvaluationPeriods       int
	DatapointsToAlarm       int
	Threshold               *float64
	ComparisonOperator      string
	TreatMissingData        string
	// EvaluateLowSampleCountPercentile (evaluate or ignore) is kept and returned; the
	// alarm is always evaluated (evaluate).
	EvaluateLowSampleCountPercentile string
	Tags                             []Tag
	// Metrics: an alarm on metric math (checkAlarmMetrics). ThresholdMetricId
	// (anomaly detection): not supported.
	Metrics           []MetricDataQuery
	ThresholdMetricID string
}

var comparisonOps = map[string]string{
	"GreaterThanOrEqualToThreshold": "greater than or equal to",
	"GreaterThanThreshold":          "greater than",
	"LessThanThreshold":             "less than",
	"LessThanOrEqualToThreshold":    "less than or equal to",
}

// alarmARN is the ARN of the alarm of that name in region.
func (s *Service) alarmARN(region, name string) string {
	return fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", region, s.cfg.AccountID, name)
}

// checkActions checks the actions of an alarm of region: SNS topic ARNs of that region.
// A topic of another region is refused as AWS refuses it ("ValidationError: Invalid
// region ca-central-1 specified. Only us-west-2 is supported.", as reported of
// PutMetricAlarm in us-west-2 with a ca-central-1 topic).
func checkActions(region, field string, acts []string) error {
	if len(acts) > 5 {
		return invalid("The collection %s must not have a size greater than 5.", field)
	}
	for _, a := range acts {
		if !strings.HasPrefix(a, "arn:aws:sns:") || strings.Count(a, ":") != 5 {
			return invalid("Invalid arn syntax for %s: %s (only SNS topic ARNs are supported).", field, a)
		}
		if r := strings.Split(a, ":")[3]; r != region {
			return cwErr("ValidationError", "Invalid region %s specified. Only %s is supported.", r, region)
		}
	}
	return nil
}

// PutMetricAlarm creates or replaces an alarm (an update keeps its state).
func (s *Service) PutMetricAlarm(ctx context.Context, in PutMetricAlarmInput) error {
	switch {
	case in.AlarmName == "":
		return missing("AlarmName")
	case len(in.AlarmName) > 255:
		return invalid("The parameter AlarmName must be at most 255 characters.")
	case !validAlarmName(in.AlarmName):
		return invalid("The value %q for parameter AlarmName is invalid: UTF-8 characters, no ASCII control characters.", in.AlarmName)
	case len(in.AlarmDescription) > 1024:
		return invalid("The parameter AlarmDescription must be at most 1024 characters.")
	case in.ThresholdMetricID != "":
		return invalid("Anomaly detection alarms (ThresholdMetricId) are not supported.")
	case in.MetricName == "" && len(in.Metrics) == 0:
		// AWS's answer to an alarm with neither MetricName nor Metrics.
		return cwErr("ValidationError", "MetricName must not be null")
	case in.EvaluationPeriods < 1:
		return invalid("The parameter EvaluationPeriods must be at least 1.")
	case in.ComparisonOperator == "":
		return missing("ComparisonOperator")
	case in.Threshold == nil:
		return missing("Threshold")
	}
	if _, ok := comparisonOps[in.ComparisonOperator]; !ok {
		return invalid("The value %s for parameter ComparisonOperator is not supported (anomaly detection is not).", in.ComparisonOperator)
	}
	period := in.Period
	var queries []alarmQuery
	if len(in.Metrics) > 0 {
		var err error
		if period, queries, err = s.checkAlarmMetrics(in); err != nil {
			return err
		}
	} else {
		if err := checkNamespace(in.Namespace, false); err != nil {
			return err
		}
		switch {
		case len(in.MetricName) > 255:
			return invalid("The parameter MetricName must be at most 255 characters.")
		case !printableASCII(in.MetricName):
			return cwErr("ValidationError", "MetricName must not contain Non-ASCII characters.")
		case in.Period == 0:
			return cwErr("ValidationError", "Period must not be null")
		}
		if (in.Statistic == "") == (in.ExtendedStatistic == "") {
			return cwErr("InvalidParameterCombination", "Exactly one of Statistic or ExtendedStatistic must be specified.")
		}
		if err := checkAlarmStat(in.Statistic, in.ExtendedStatistic, "Statistic", "ExtendedStatistic"); err != nil {
			return err
		}
		if err := checkAlarmPeriod(in.Period, "Period"); err != nil {
			return err
		}
	}
	if period*in.EvaluationPeriods > 7*86400 {
		return invalid("The product of EvaluationPeriods and Period must not exceed 7 days.")
	}
	if period < 3600 && period*in.EvaluationPeriods > 86400 {
		return invalid("The product of EvaluationPeriods and Period must not exceed 1 day for a Period of less than 1 hour.")
	}
	dta := in.DatapointsToAlarm
	if dta == 0 {
		dta = in.EvaluationPeriods
	}
	if dta < 1 || dta > in.EvaluationPeriods {
		return invalid("DatapointsToAlarm must be between 1 and EvaluationPeriods.")
	}
	switch in.TreatMissingData {
	case "", "breaching", "notBreaching", "ignore", "missing":
	default:
		return invalid("The value %s for parameter TreatMissingData is invalid (breaching, notBreaching, ignore or missing).", in.TreatMissingData)
	}
	switch in.EvaluateLowSampleCountPercentile {
	case "", "evaluate", "ignore":
	default:
		return invalid("The value %s for parameter EvaluateLowSampleCountPercentile is invalid (evaluate or ignore).", in.EvaluateLowSampleCountPercentile)
	}
	if in.Unit != "" && !units[in.Unit] {
		return invalid("The value %s for parameter Unit is not a valid unit.", in.Unit)
	}
	if err := checkDims(in.Dimensions, 30); err != nil {
		return err
	}
	region := s.region(in.Region)
	for f, acts := range map[string][]string{"OKActions": in.OKActions, "AlarmActions": in.AlarmActions, "InsufficientDataActions": in.InsufficientDataActions} {
		if err := checkActions(region, f, acts); err != nil {
			return err
		}
	}
	if err := checkValue(*in.Threshold); err != nil {
		return err
	}
	if err := checkTags(in.Tags); err != nil {
		return err
	}
	now := s.now()
	a := &alarmRec{Region: region, AlarmName: in.AlarmName, AlarmArn: s.alarmARN(region, in.AlarmName), AlarmDescription: in.AlarmDescription,
		AlarmConfigurationUpdatedTimestamp: now, ActionsEnabled: in.ActionsEnabled == nil || *in.ActionsEnabled,
		OKActions: clone(in.OKActions), AlarmActions: clone(in.AlarmActions), InsufficientDataActions: clone(in.InsufficientDataActions),
		MetricName: in.MetricName, Namespace: in.Namespace, Statistic: in.Statistic, ExtendedStatistic: in.ExtendedStatistic,
		Dimensions: clone(in.Dimensions), Period: in.Period, Unit: in.Unit, EvaluationPeriods: in.EvaluationPeriods,
		DatapointsToAlarm: in.DatapointsToAlarm, Threshold: *in.Threshold, ComparisonOperator: in.ComparisonOperator,
		TreatMissingData: in.TreatMissingData, EvaluateLowSampleCountPercentile: in.EvaluateLowSampleCountPercentile, Tags: clone(in.Tags),
		Metrics:    queries,
		StateValue: StateInsufficientData, StateReason: "Unchecked: Initial alarm creation", StateUpdatedTimestamp: now, StateTransitionedTimestamp: now}
	s.mu.RLock()
	old := s.alarms[akey(region, in.AlarmName)]
	s.mu.RUnlock()
	verb, cfgType, shown := "created", "Create", *a
	if old != nil {
		// (An update keeps the alarm's state.)
		verb, cfgType = "updated", "Update"
		shown.StateValue, shown.StateUpdatedTimestamp = old.StateValue, old.StateUpdatedTimestamp
	}
	h := HistoryItem{AlarmName: in.AlarmName, AlarmType: "MetricAlarm", Timestamp: now, HistoryItemType: "ConfigurationUpdate",
		HistorySummary: fmt.Sprintf("Alarm %q %s", in.AlarmName, verb), HistoryData: shown.configHistoryData(cfgType)}
	_, err := s.propose(ctx, cmdPutAlarm, putAlarmCmd{Alarm: a, History: h, KeepTags: true})
	return err
}

func checkAlarmPeriod(p int, field string) error {
	if p != 10 && p != 20 && p != 30 && (p <= 0 || p%60 != 0) {
		return invalid("The parameter %s must be 10, 20, 30 or a multiple of 60.", field)
	}
	return nil
}

// checkAlarmStat validates a Statistic or ExtendedStatistic (either may be empty).
func checkAlarmStat(st, ext, stField, extField string) error {
	if st != "" && !statNames[st] {
		return invalid("The value %s for parameter %s is not a valid statistic.", st, stField)
	}
	if ext != "" {
		if _, ok := parsePercentile(ext); !ok {
			return invalid("The value %s for parameter %s is not a valid percentile.", ext, extField)
		}
	}
	return nil
}

// Bounds of an alarm's Metrics, as AWS documents them.
const (
	maxAlarmQueries     = 20
	maxAlarmMetricStats = 10
	maxAlarmExpressions = 10
)

// checkAlarmMetrics validates the Metrics of an alarm on metric math as AWS does
// (ValidationError, with AWS's messages where they are known) and returns the alarm's
// period and its queries as persisted. The MetricStat queries must all have the same
// period (the alarm's); exactly one query has ReturnData true (an omitted ReturnData is
// true), and its result must be one time series.
func (s *Service) checkAlarmMetrics(in PutMetricAlarmInput) (int, []alarmQuery, error) {
	validation := func(format string, a ...any) (int, []alarmQuery, error) {
		return 0, nil, cwErr("ValidationError", format, a...)
	}
	for _, p := range []struct {
		name string
		set  bool
	}{{"MetricName", in.MetricName != ""}, {"Namespace", in.Namespace != ""}, {"Dimensions", len(in.Dimensions) > 0},
		{"Period", in.Period != 0}, {"Unit", in.Unit != ""}, {"Statistic", in.Statistic != ""}, {"ExtendedStatistic", in.ExtendedStatistic != ""}} {
		if p.set {
			return validation("%s should not be set if list of Metrics is set.", p.name)
		}
	}
	if len(in.Metrics) > maxAlarmQueries {
		return 0, nil, invalid("The collection Metrics must not have a size greater than %d.", maxAlarmQueries)
	}
	ids := map[string]bool{}
	stats, exprs, returning, period := 0, 0, 0, 0
	var ret MetricDataQuery
	for i, q := range in.Metrics {
		field := fmt.Sprintf("Metrics.member.%d", i+1)
		switch {
		case q.ID == "":
			return 0, nil, missing(field + ".Id")
		case !validMetricID(q.ID):
			return 0, nil, invalid("The value %s for parameter %s.Id is invalid: an Id has letters, numbers and underscores and starts with a lowercase letter.", q.ID, field)
		case ids[q.ID]:
			return 0, nil, invalid("The value %s for parameter Metrics.member.Id is duplicated.", q.ID)
		case q.Expression != "" && q.MetricStat != nil:
			return validation("The parameters MetricDataQuery Expression and MetricStat are mutually exclusive and you have specified both.")
		case q.Expression == "" && q.MetricStat == nil:
			return validation("Invalid metrics list: %s has neither an Expression nor a MetricStat.", field)
		case q.AccountID != "" && q.AccountID != s.cfg.AccountID:
			return 0, nil, invalid("The value %s for parameter %s.AccountId is invalid: cross-account alarms are not supported.", q.AccountID, field)
		case q.Period < 0:
			return 0, nil, invalid("The parameter %s.Period must be greater than 0.", field)
		}
		ids[q.ID] = true
		if q.ReturnData == nil || *q.ReturnData {
			returning++
			ret = q
		}
		if q.Expression != "" {
			exprs++
			continue
		}
		stats++
		ms := q.MetricStat
		if err := checkNamespace(ms.Metric.Namespace, false); err != nil {
			return 0, nil, err
		}
		switch {
		case ms.Metric.MetricName == "":
			return 0, nil, missing(field + ".MetricStat.Metric.MetricName")
		case len(ms.Metric.MetricName) > 255:
			return 0, nil, invalid("The parameter %s.MetricStat.Metric.MetricName must be at most 255 characters.", field)
		case ms.Stat == "":
			return 0, nil, missing(field + ".MetricStat.Stat")
		case ms.Unit != "" && !units[ms.Unit]:
			return 0, nil, invalid("The value %s for parameter %s.MetricStat.Unit is not a valid unit.", ms.Unit, field)
		}
		if err := checkDims(ms.Metric.Dimensions, 30); err != nil {
			return 0, nil, err
		}
		_, pct := parsePercentile(ms.Stat)
		if !pct && !statNames[ms.Stat] {
			return 0, nil, invalid("The value %s for parameter %s.MetricStat.Stat is not a valid statistic.", ms.Stat, field)
		}
		if err := checkAlarmPeriod(ms.Period, field+".MetricStat.Period"); err != nil {
			return 0, nil, err
		}
		if period != 0 && ms.Period != period {
			return validation("The MetricStat queries of an alarm must all have the same Period (%d and %d).", period, ms.Period)
		}
		period = ms.Period
	}
	switch {
	case stats > maxAlarmMetricStats:
		return validation("Invalid metrics list: at most %d MetricStat queries.", maxAlarmMetricStats)
	case exprs > maxAlarmExpressions:
		return validation("Invalid metrics list: at most %d expressions.", maxAlarmExpressions)
	case returning != 1:
		return validation("Exactly one element of the metrics list should return data.")
	case stats == 0:
		return validation("Invalid metrics list: an alarm needs at least one MetricStat query.")
	}
	cq, err := compileQueries(in.Metrics)
	if err != nil {
		return 0, nil, err
	}
	if cq.kinds[ret.ID] == kindArray {
		return validation("Metrics expression that return multi time series are only allowed for MetricsInsights expression with an ORDER BY clause")
	}
	out := make([]alarmQuery, len(in.Metrics))
	for i, q := range in.Metrics {
		out[i] = alarmQuery{ID: q.ID, Expression: q.Expression, Label: q.Label, ReturnData: q.ReturnData == nil || *q.ReturnData,
			Period: q.Period, AccountID: q.AccountID}
		if ms := q.MetricStat; ms != nil {
			out[i].MetricStat = &alarmMetricStat{Namespace: ms.Metric.Namespace, MetricName: ms.Metric.MetricName,
				Dimensions: clone(ms.Metric.Dimensions), Period: ms.Period, Stat: ms.Stat, Unit: ms.Unit}
		}
	}
	return period, out, nil
}

// DescribeAlarmsInput is DescribeAlarms' input.
type DescribeAlarmsInput struct {
	Region          string // "" = the node's region (Config.Region)
	AlarmNames      []string
	AlarmNamePrefix string
	StateValue      string
	ActionPrefix    string
	MaxRecords      int // 1-100, default 50
	NextToken       string
	// AlarmTypes: MetricAlarm and/or CompositeAlarm; none means MetricAlarm only (as on
	// AWS). DescribeAlarms (metric alarms only) ignores it.
	AlarmTypes []string
	// ChildrenOfAlarmName, ParentsOfAlarmName: the alarms a composite alarm's rule refers
	// to, or the composite alarms whose rule refers to an alarm. Only MaxRecords,
	// NextToken and AlarmTypes may be given with them; without AlarmTypes, both types are
	// returned.
	ChildrenOfAlarmName string
	ParentsOfAlarmName  string
}

// DescribeAlarms lists metric alarms by name.
func (s *Service) DescribeAlarms(ctx context.Context, in DescribeAlarmsInput) ([]MetricAlarm, string, error) {
	in.AlarmTypes = []string{"MetricAlarm"}
	m, _, next, err := s.DescribeAllAlarms(ctx, in)
	return m, next, err
}

// DescribeAllAlarms lists metric and composite alarms by name (one name order for both:
// the NextToken is the last name returned).
func (s *Service) DescribeAllAlarms(ctx context.Context, in DescribeAlarmsInput) ([]MetricAlarm, []CompositeAlarm, string, error) {
	if len(in.AlarmNames) > 100 {
		return nil, nil, "", invalid("The collection AlarmNames must not have a size greater than 100.")
	}
	if len(in.AlarmNames) > 0 && in.AlarmNamePrefix != "" {
		return nil, nil, "", cwErr("InvalidParameterCombination", "AlarmNames and AlarmNamePrefix are mutually exclusive.")
	}
	family := in.ChildrenOfAlarmName != "" || in.ParentsOfAlarmName != ""
	if family && (len(in.AlarmNames) > 0 || in.AlarmNamePrefix != "" || in.StateValue != "" || in.ActionPrefix != "" ||
		(in.ChildrenOfAlarmName != "" && in.ParentsOfAlarmName != "")) {
		return nil, nil, "", cwErr("ValidationError", "If ChildrenOfAlarmName or ParentsOfAlarmName is specified, no other parameter except MaxRecords, NextToken and AlarmTypes may be specified.")
	}
	switch in.StateValue {
	case "", StateOK, StateAlarm, StateInsufficientData:
	default:
		return nil, nil, "", invalid("The value %s for parameter StateValue is invalid.", in.StateValue)
	}
	types, err := alarmTypes(in.AlarmTypes, family)
	if err != nil {
		return nil, nil, "", err
	}
	max := in.MaxRecords
	if max == 0 {
		max = 50
	}
	if max < 1 || max > 100 {
		return nil, nil, "", invalid("The parameter MaxRecords must be between 1 and 100.")
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, nil, "", err
	}
	names := map[string]bool{}
	for _, n := range in.AlarmNames {
		names[n] = true
	}
	region := s.region(in.Region)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var only map[string]bool // ChildrenOfAlarmName, ParentsOfAlarmName
	if in.ChildrenOfAlarmName != "" {
		only = map[string]bool{}
		if a := s.alarms[akey(region, in.ChildrenOfAlarmName)]; a != nil {
			for _, c := range a.Children {
				only[c] = true
			}
		}
	}
	if in.ParentsOfAlarmName != "" {
		only = map[string]bool{}
		for _, p := range s.parentsOfLocked(region, in.ParentsOfAlarmName) {
			only[p] = true
		}
	}
	var metric []MetricAlarm
	var composite []CompositeAlarm
	count, last := 0, ""
	for _, k := range slices.Sorted(maps.Keys(s.alarms)) {
		r, n := splitKey(k)
		if r != region {
			continue
		}
		a := s.alarms[k]
		if (after != "" && n <= after) || (len(names) > 0 && !names[n]) || !strings.HasPrefix(n, in.AlarmNamePrefix) ||
			(in.StateValue != "" && a.StateValue != in.StateValue) || (in.ActionPrefix != "" && !hasActionPrefix(a, in.ActionPrefix)) ||
			!types[a.alarmType()] || (only != nil && !only[n]) {
			continue
		}
		if count == max {
			return metric, composite, encodeToken(last), nil
		}
		count, last = count+1, n
		if a.isComposite() {
			composite = append(composite, a.publicComposite())
		} else {
			metric = append(metric, a.public())
		}
	}
	return metric, composite, "", nil
}

func hasActionPrefix(a *alarmRec, p string) bool {
	for _, l := range [][]string{a.OKActions, a.AlarmActions, a.InsufficientDataActions} {
		for _, x := range l {
			if strings.HasPrefix(x, p) {
				return true
			}
		}
	}
	return false
}

func encodeToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeToken(t string) (string, error) {
	if t == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) == 0 {
		return "", cwErr("InvalidNextToken", "The NextToken is invalid.")
	}
	return string(b), nil
}

// DescribeAlarmHistoryInput is DescribeAlarmHistory's input.
type DescribeAlarmHistoryInput struct {
	Region          string // "" = the node's region (Config.Region)
	AlarmName       string
	HistoryItemType string
	StartDate       time.Time
	EndDate         time.Time
	MaxRecords      int    // 1-100, default 100
	ScanBy          string // TimestampDescending (default) or TimestampAscending
	NextToken       string
	// AlarmTypes: MetricAlarm and/or CompositeAlarm; none means MetricAlarm only (as on
	// AWS).
	AlarmTypes []string
	// AlarmContributorID: the history of one contributor of a multi-contributor (PromQL)
	// alarm. Coffer's alarms have no contributors: there is none.
	AlarmContributorID string
}

// DescribeAlarmHistory returns history items (the last 100 per alarm are kept).
func (s *Service) DescribeAlarmHistory(ctx context.Context, in DescribeAlarmHistoryInput) ([]HistoryItem, string, error) {
	switch in.HistoryItemType {
	case "", "ConfigurationUpdate", "StateUpdate", "Action",
		"AlarmContributorStateUpdate", "AlarmContributorAction": // (of contributors: there are none)
	default:
		return nil, "", invalid("The value %s for parameter HistoryItemType is invalid.", in.HistoryItemType)
	}
	if len(in.AlarmContributorID) > 16 {
		return nil, "", invalid("The parameter AlarmContributorId must be 1 to 16 characters.")
	}
	max := in.MaxRecords
	if max == 0 {
		max = 100
	}
	if max < 1 || max > 100 {
		return nil, "", invalid("The parameter MaxRecords must be between 1 and 100.")
	}
	// The NextToken is a cursor: "h:<time of the last item returned, Unix ns>:<how many
	// items of that time were returned>", so that items recorded between two pages (the
	// newest come first) do not shift the next page. A bare number is an offset (the
	// tokens of earlier versions).
	skip, cursor, cursorSeen := 0, time.Time{}, 0
	if in.NextToken != "" {
		t, err := decodeToken(in.NextToken)
		if err != nil {
			return nil, "", err
		}
		var ns int64
		if n, _ := fmt.Sscanf(t, "h:%d:%d", &ns, &cursorSeen); n == 2 && cursorSeen >= 1 && t == fmt.Sprintf("h:%d:%d", ns, cursorSeen) {
			cursor = time.Unix(0, ns).UTC()
		} else if _, err := fmt.Sscanf(t, "%d", &skip); err != nil || skip < 0 || t != fmt.Sprint(skip) {
			return nil, "", cwErr("InvalidNextToken", "The NextToken is invalid.")
		}
	}
	types, err := alarmTypes(in.AlarmTypes, false)
	if err != nil {
		return nil, "", err
	}
	region := s.region(in.Region)
	s.mu.RLock()
	var all []HistoryItem
	for _, k := range slices.Sorted(maps.Keys(s.history)) {
		if r, n := splitKey(k); r != region || (in.AlarmName != "" && n != in.AlarmName) {
			continue
		}
		for _, h := range s.history[k] {
			typ := h.AlarmType
			if typ == "" {
				typ = "MetricAlarm"
			}
			if (in.HistoryItemType != "" && h.HistoryItemType != in.HistoryItemType) || !types[typ] || in.AlarmContributorID != "" ||
				(!in.StartDate.IsZero() && h.Timestamp.Before(in.StartDate)) || (!in.EndDate.IsZero() && h.Timestamp.After(in.EndDate)) {
				continue
			}
			all = append(all, h)
		}
	}
	s.mu.RUnlock()
	desc := in.ScanBy != "TimestampAscending"
	sortStable(all, func(a, b HistoryItem) bool { return a.Timestamp.Before(b.Timestamp) })
	if desc {
		for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
			all[i], all[j] = all[j], all[i]
		}
	}
	if !cursor.IsZero() {
		// Skip the items before the cursor in this order, and those of its time returned.
		skip = 0
		for left := cursorSeen; skip < len(all); skip++ {
			ts := all[skip].Timestamp
			if (desc && ts.After(cursor)) || (!desc && ts.Before(cursor)) {
				continue
			}
			if ts.Equal(cursor) && left > 0 {
				left--
				continue
			}
			break
		}
	}
	if skip > len(all) {
		skip = len(all)
	}
	all = all[skip:]
	if len(all) <= max {
		return all, "", nil
	}
	page := all[:max]
	// The new cursor: the last item's time, and how many items of that time have been
	// returned (by this page, and by the previous ones when it is the cursor's time).
	last, seen := page[max-1].Timestamp, 0
	for i := max - 1; i >= 0 && page[i].Timestamp.Equal(last); i-- {
		seen++
	}
	if !cursor.IsZero() && last.Equal(cursor) {
		seen += cursorSeen
	}
	return page, encodeToken(fmt.Sprintf("h:%d:%d", last.UnixNano(), seen)), nil
}

// DeleteAlarms deletes alarms. As AWS documents it, "if you specify any incorrect alarm
// names, the alarms you specify with correct names are still deleted": the alarms that
// exist are deleted, and the names that are not alarms are then reported as
// ResourceNotFound.
func (s *Service) DeleteAlarms(ctx context.Context, names []string) error {
	return s.DeleteAlarmsIn(ctx, "", names)
}

// DeleteAlarmsIn is DeleteAlarms in region ("" = the node's region): the alarms of
// those names in that region.
func (s *Service) DeleteAlarmsIn(ctx context.Context, region string, names []string) error {
	if len(names) == 0 {
		return missing("AlarmNames")
	}
	if len(names) > 100 {
		return invalid("The collection AlarmNames must not have a size greater than 100.")
	}
	for _, n := range names {
		if n == "" || len(n) > 255 {
			return invalid("The parameter AlarmNames.member.N must be 1 to 255 characters.")
		}
	}
	res, err := s.propose(ctx, cmdDeleteExisting, deleteAlarmsCmd{Region: s.region(region), Names: names, KeepHistory: true, Time: s.now()})
	if err != nil {
		return err
	}
	if nf, _ := res.([]string); len(nf) > 0 {
		return cwErr("ResourceNotFound", "The following alarms do not exist: %s (the others were deleted).", strings.Join(nf, ", "))
	}
	return nil
}

// EnableAlarmActions enables the actions of the named alarms (unknown names are ignored).
func (s *Service) EnableAlarmActions(ctx context.Context, names []string) error {
	return s.setActions(ctx, "", names, true)
}

// DisableAlarmActions disables the actions of the named alarms.
func (s *Service) DisableAlarmActions(ctx context.Context, names []string) error {
	return s.setActions(ctx, "", names, false)
}

// EnableAlarmActionsIn is EnableAlarmActions in region ("" = the node's region).
func (s *Service) EnableAlarmActionsIn(ctx context.Context, region string, names []string) error {
	return s.setActions(ctx, region, names, true)
}

// DisableAlarmActionsIn is DisableAlarmActions in region ("" = the node's region).
func (s *Service) DisableAlarmActionsIn(ctx context.Context, region string, names []string) error {
	return s.setActions(ctx, region, names, false)
}

func (s *Service) setActions(ctx context.Context, region string, names []string, on bool) error {
	if len(names) == 0 {
		return missing("AlarmNames")
	}
	if len(names) > 100 {
		return invalid("The collection AlarmNames must not have a size greater than 100.")
	}
	_, err := s.propose(ctx, cmdSetActions, setActionsCmd{Region: s.region(region), Names: names, Enabled: on})
	return err
}

// SetAlarmState sets an alarm's state until its next evaluation, as AWS does: the
// transition is recorded and its actions are executed (when enabled). The reason is
// required by the API but may be empty (the operation checks that it is given).
func (s *Service) SetAlarmState(ctx context.Context, name, stateValue, reason, reasonData string) error {
	return s.SetAlarmStateIn(ctx, "", name, stateValue, reason, reasonData)
}

// SetAlarmStateIn is SetAlarmState for the alarm of that name in region ("" = the node's
// region).
func (s *Service) SetAlarmStateIn(ctx context.Context, region, name, stateValue, reason, reasonData string) error {
	if name == "" {
		return missing("AlarmName")
	}
	switch stateValue {
	case StateOK, StateAlarm, StateInsufficientData:
	default:
		return invalid("The value %s for parameter StateValue is invalid.", stateValue)
	}
	if len(reason) > 1023 {
		return invalid("The parameter StateReason must be at most 1023 characters.")
	}
	if len(reasonData) > 4000 {
		return invalid("The parameter StateReasonData must be at most 4000 characters.")
	}
	if reasonData != "" && !json.Valid([]byte(reasonData)) {
		return cwErr("InvalidFormat", "StateReasonData is not valid JSON.")
	}
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	s.mu.RLock()
	a := s.alarms[akey(s.region(region), name)]
	var cp alarmRec
	if a != nil {
		cp = *a
	}
	s.mu.RUnlock()
	if a == nil {
		return cwErr("ResourceNotFound", "Alarm %s does not exist.", name)
	}
	return s.transitionLocked(ctx, &cp, stateValue, reason, reasonData, s.now())
}

// DescribeAlarmsForMetricInput is DescribeAlarmsForMetric's input: the metric (Namespace,
// MetricName, Dimensions: all of them) and optional filters.
type DescribeAlarmsForMetricInput struct {
	Region            string // "" = the node's region (Config.Region)
	Namespace         string
	MetricName        string
	Dimensions        []Dimension
	Statistic         string
	ExtendedStatistic string
	Period            int // 0: any
	Unit              string
}

// DescribeAlarmsForMetric returns the metric alarms on one metric (its exact set of
// dimensions), by name, filtered by statistic, period and unit when they are given.
func (s *Service) DescribeAlarmsForMetric(ctx context.Context, in DescribeAlarmsForMetricInput) ([]MetricAlarm, error) {
	if in.MetricName == "" {
		return nil, missing("MetricName")
	}
	if len(in.MetricName) > 255 {
		return nil, invalid("The parameter MetricName must be at most 255 characters.")
	}
	if err := checkNamespace(in.Namespace, false); err != nil {
		return nil, err
	}
	if in.Statistic != "" && !statNames[in.Statistic] {
		return nil, invalid("The value %s for parameter Statistic is not a valid statistic.", in.Statistic)
	}
	if in.ExtendedStatistic != "" {
		if _, ok := parsePercentile(in.ExtendedStatistic); !ok {
			return nil, invalid("The value %s for parameter ExtendedStatistic is not a valid percentile.", in.ExtendedStatistic)
		}
	}
	if in.Period < 0 {
		return nil, invalid("The parameter Period must be greater than 0.")
	}
	if in.Unit != "" && !units[in.Unit] {
		return nil, invalid("The value %s for parameter Unit is not a valid unit.", in.Unit)
	}
	if err := checkDims(in.Dimensions, 30); err != nil {
		return nil, err
	}
	region := s.region(in.Region)
	key := metricKey(region, in.Namespace, in.MetricName, in.Dimensions)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []MetricAlarm
	for _, k := range slices.Sorted(maps.Keys(s.alarms)) {
		a := s.alarms[k]
		if a.isComposite() || metricKey(a.Region, a.Namespace, a.MetricName, a.Dimensions) != key ||
			(in.Statistic != "" && a.Statistic != in.Statistic) ||
			(in.ExtendedStatistic != "" && a.ExtendedStatistic != in.ExtendedStatistic) ||
			(in.Period != 0 && a.Period != in.Period) || (in.Unit != "" && a.Unit != in.Unit) {
			continue
		}
		out = append(out, a.public())
	}
	return out, nil
}

// alarmTypes reads an AlarmTypes parameter: the set of types named, or when none is,
// metric alarms (and composite alarms too when withComposite, as for a
// ChildrenOfAlarmName or ParentsOfAlarmName query).
func alarmTypes(names []string, withComposite bool) (map[string]bool, error) {
	types := map[string]bool{}
	for _, t := range names {
		switch t {
		case "MetricAlarm", "CompositeAlarm":
			types[t] = true
		default:
			return nil, invalid("The value %s for parameter AlarmTypes is invalid (CompositeAlarm or MetricAlarm).", t)
		}
	}
	if len(types) == 0 {
		types["MetricAlarm"] = true
		if withComposite {
			types["CompositeAlarm"] = true
		}
	}
	return types, nil
}
