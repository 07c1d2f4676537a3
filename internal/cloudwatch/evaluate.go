package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AlarmNotification is AWS's alarm notification (the JSON message CloudWatch publishes
// to SNS topics).
type AlarmNotification struct {
	AlarmName                          string   `json:"AlarmName"`
	AlarmDescription                   *string  `json:"AlarmDescription"`
	AWSAccountID                       string   `json:"AWSAccountId"`
	AlarmConfigurationUpdatedTimestamp string   `json:"AlarmConfigurationUpdatedTimestamp"`
	NewStateValue                      string   `json:"NewStateValue"`
	NewStateReason                     string   `json:"NewStateReason"`
	StateChangeTime                    string   `json:"StateChangeTime"`
	Region                             string   `json:"Region"`
	AlarmArn                           string   `json:"AlarmArn"`
	OldStateValue                      string   `json:"OldStateValue"`
	OKActions                          []string `json:"OKActions"`
	AlarmActions                       []string `json:"AlarmActions"`
	InsufficientDataActions            []string `json:"InsufficientDataActions"`
	Trigger                            Trigger  `json:"Trigger"`
	// AlarmRule and TriggeringChildren: a composite alarm's notification, which has
	// them instead of AlarmConfigurationUpdatedTimestamp and Trigger (MarshalJSON).
	AlarmRule          string            `json:"AlarmRule,omitempty"`
	TriggeringChildren []TriggeringChild `json:"TriggeringChildren,omitempty"`
}

// Trigger describes the alarm's metric in an AlarmNotification.
type Trigger struct {
	MetricName                       string             `json:"MetricName"`
	Namespace                        string             `json:"Namespace"`
	StatisticType                    string             `json:"StatisticType"` // Statistic or ExtendedStatistic
	Statistic                        string             `json:"Statistic,omitempty"`
	ExtendedStatistic                string             `json:"ExtendedStatistic,omitempty"`
	Unit                             *string            `json:"Unit"`
	Dimensions                       []TriggerDimension `json:"Dimensions"`
	Period                           int                `json:"Period"`
	EvaluationPeriods                int                `json:"EvaluationPeriods"`
	DatapointsToAlarm                int                `json:"DatapointsToAlarm"`
	ComparisonOperator               string             `json:"ComparisonOperator"`
	Threshold                        float64            `json:"Threshold"`
	TreatMissingData                 string             `json:"TreatMissingData"`
	EvaluateLowSampleCountPercentile string             `json:"EvaluateLowSampleCountPercentile"`
	// Metrics: the queries of an alarm on metric math, whose notification has them
	// instead of MetricName, Namespace, StatisticType, Statistic, Unit and Dimensions.
	Metrics []TriggerMetric `json:"Metrics,omitempty"`
}

// TriggerMetric is a query of an alarm on metric math in an AlarmNotification.
type TriggerMetric struct {
	Expression string             `json:"Expression,omitempty"`
	ID         string             `json:"Id"`
	Label      string             `json:"Label,omitempty"`
	MetricStat *TriggerMetricStat `json:"MetricStat,omitempty"`
	ReturnData bool               `json:"ReturnData"`
}

// TriggerMetricStat is the MetricStat of a TriggerMetric.
type TriggerMetricStat struct {
	Metric struct {
		Dimensions []TriggerDimension `json:"Dimensions"`
		MetricName string             `json:"MetricName"`
		Namespace  string             `json:"Namespace"`
	} `json:"Metric"`
	Period int     `json:"Period"`
	Stat   string  `json:"Stat"`
	Unit   *string `json:"Unit,omitempty"`
}

// MarshalJSON writes the trigger of an alarm on metric math without the fields of a
// single metric (as AWS does).
func (t Trigger) MarshalJSON() ([]byte, error) {
	type plain Trigger
	if len(t.Metrics) == 0 {
		return json.Marshal(plain(t))
	}
	return json.Marshal(struct {
		Period                           int             `json:"Period"`
		EvaluationPeriods                int             `json:"EvaluationPeriods"`
		DatapointsToAlarm                int             `json:"DatapointsToAlarm"`
		ComparisonOperator               string          `json:"ComparisonOperator"`
		Threshold                        float64         `json:"Threshold"`
		TreatMissingData                 string          `json:"TreatMissingData"`
		EvaluateLowSampleCountPercentile string          `json:"EvaluateLowSampleCountPercentile"`
		Metrics                          []TriggerMetric `json:"Metrics"`
	}{t.Period, t.EvaluationPeriods, t.DatapointsToAlarm, t.ComparisonOperator, t.Threshold, t.TreatMissingData,
		t.EvaluateLowSampleCountPercentile, t.Metrics})
}

// TriggerDimension is a dimension as AWS writes it in notifications (lower-case keys).
type TriggerDimension struct {
	Value string `json:"value"`
	Name  string `json:"name"`
}

// Subject is the SNS subject CloudWatch uses for the notification.
func (n AlarmNotification) Subject() string {
	s := []rune(fmt.Sprintf("%s: \"%s\" in %s", n.NewStateValue, n.AlarmName, n.Region))
	for i, r := range s {
		if r < 0x20 || r > 0x7e {
			s[i] = '?'
		}
	}
	if len(s) > 100 {
		s = s[:100]
	}
	return string(s)
}

var regionNames = map[string]string{
	"us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-1": "US West (N. California)",
	"us-west-2": "US West (Oregon)", "eu-west-1": "EU (Ireland)", "eu-west-2": "EU (London)", "eu-west-3": "EU (Paris)",
	"eu-central-1": "EU (Frankfurt)", "ap-northeast-1": "Asia Pacific (Tokyo)", "ap-southeast-1": "Asia Pacific (Singapore)",
	"ap-southeast-2": "Asia Pacific (Sydney)",
}

const awsTime = "2006-01-02T15:04:05.000-0700"

// Evaluate evaluates every alarm at now.
func (s *Service) Evaluate(ctx context.Context, now time.Time) error {
	s.collect()
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	var errs []error
	// Composite alarms are evaluated when their children change state, not here.
	for _, a := range s.alarmsWhere(func(a *alarmRec) bool { return !a.isComposite() }) {
		errs = append(errs, s.evaluateLocked(ctx, a, now.UTC()))
	}
	return errors.Join(errs...)
}

// EvaluateNow evaluates one alarm of the node's region immediately (ResourceNotFound if
// it does not exist).
func (s *Service) EvaluateNow(ctx context.Context, name string) error {
	return s.EvaluateNowIn(ctx, "", name)
}

// EvaluateNowIn is EvaluateNow for the alarm of that name in region ("" = the node's
// region).
func (s *Service) EvaluateNowIn(ctx context.Context, region, name string) error {
	region = s.region(region)
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	l := s.alarmsWhere(func(a *alarmRec) bool { return a.Region == region && a.AlarmName == name })
	if len(l) == 0 {
		return cwErr("ResourceNotFound", "Alarm %s does not exist.", name)
	}
	if l[0].isComposite() {
		return s.evaluateCompositeLocked(ctx, l[0], nil, s.now(), 0)
	}
	return s.evaluateLocked(ctx, l[0], s.now())
}

// evaluateMetric evaluates the alarms on the metric with this key (metricKey: the
// alarms of the metric's region).
func (s *Service) evaluateMetric(ctx context.Context, key string, now time.Time) error {
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	var errs []error
	for _, a := range s.alarmsWhere(func(a *alarmRec) bool { return !a.isComposite() && a.watches(key) }) {
		errs = append(errs, s.evaluateLocked(ctx, a, now))
	}
	return errors.Join(errs...)
}

// alarmsWhere returns copies of the matching alarms, by region and name.
func (s *Service) alarmsWhere(f func(*alarmRec) bool) []*alarmRec {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*alarmRec
	for _, n := range slices.Sorted(maps.Keys(s.alarms)) {
		if a := s.alarms[n]; f(a) {
			cp := *a
			out = append(out, &cp)
		}
	}
	return out
}

func (a *alarmRec) breaches(v float64) bool {
	switch a.ComparisonOperator {
	case "GreaterThanOrEqualToThreshold":
		return v >= a.Threshold
	case "GreaterThanThreshold":
		return v > a.Threshold
	case "LessThanThreshold":
		return v < a.Threshold
	case "LessThanOrEqualToThreshold":
		return v <= a.Threshold
	}
	return false
}

func (a *alarmRec) stat() string {
	if a.ExtendedStatistic != "" {
		return a.ExtendedStatistic
	}
	return a.Statistic
}

type evalPoint struct {
	t time.Time
	n float64 // sample count (0: the value of an expression)
	v float64
}

// decide applies "M out of N" with TreatMissingData. points are the periods that have
// data (oldest first), among n periods. It returns the new state (or "" to keep the
// current one) and whether the decision was due to missing data only.
//
//   - breaching / notBreaching: missing periods count as breaching / not breaching.
//   - missing: all missing -> INSUFFICIENT_DATA; with fewer datapoints than
//     DatapointsToAlarm, the alarm goes to ALARM if all of them breach (AWS evaluates
//     the data it has), else OK.
//   - ignore: all missing -> the state is kept; with fewer datapoints than
//     DatapointsToAlarm the state is kept too, else M out of the present ones.
func decide(a *alarmRec, breaching, present, n int) string {
	m := a.DatapointsToAlarm
	if m == 0 {
		m = a.EvaluationPeriods
	}
	miss := n - present
	switch a.TreatMissingData {
	case "breaching":
		breaching += miss
	case "notBreaching":
	case "ignore":
		if present == 0 || (present < m && breaching < present) {
			return ""
		}
		if present < m {
			m = present
		}
	default: // missing
		if present == 0 {
			return StateInsufficientData
		}
		if present < m {
			m = present
		}
	}
	if breaching >= m {
		return StateAlarm
	}
	return StateOK
}

func fmtNum(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") && !math.IsInf(v, 0) {
		s += ".0"
	}
	return s
}

// mathLookback is the least number of periods before the evaluation range that the
// expression of an alarm on metric math is evaluated over.
const mathLookback = 5

// mathPoints evaluates the metric math of alarm a for the periods of [start, end). As
// CloudWatch retrieves more datapoints than the evaluation periods, the expression is
// evaluated from EvaluationPeriods (at least mathLookback) periods before the
// evaluation range, so that DIFF, RATE or FILL(m, REPEAT) have the datapoints before
// it; its datapoints in [start, end) are compared.
func (s *Service) mathPoints(a *alarmRec, start, end time.Time) ([]evalPoint, error) {
	qs := a.queries()
	cq, err := compileQueries(qs)
	if err != nil {
		return nil, err
	}
	from := start.Add(-time.Duration(max(a.EvaluationPeriods, mathLookback)*a.period()) * time.Second)
	vals, err := s.evalQueries(a.Region, cq, func(time.Duration) time.Time { return from }, end)
	if err != nil {
		return nil, err
	}
	var pts []evalPoint
	for _, q := range a.Metrics {
		if !q.ReturnData {
			continue
		}
		if ser := vals[q.ID].series; ser != nil {
			for i, t := range ser.t {
				if !t.Before(start) && t.Before(end) {
					pts = append(pts, evalPoint{t: t, v: ser.v[i]})
				}
			}
		}
	}
	return pts, nil
}

func (s *Service) evaluateLocked(ctx context.Context, a *alarmRec, now time.Time) error {
	period := time.Duration(a.period()) * time.Second
	n := a.EvaluationPeriods
	end := alignDown(now, period).Add(period)
	start := end.Add(-time.Duration(n) * period)
	var pts []evalPoint
	if len(a.Metrics) > 0 {
		var err error
		if pts, err = s.mathPoints(a, start, end); err != nil {
			return fmt.Errorf("cloudwatch: alarm %s: %w", a.AlarmName, err)
		}
	} else {
		for _, g := range s.aggregate(metricKey(a.Region, a.Namespace, a.MetricName, a.Dimensions), start, end, period, a.Unit) {
			if v, ok := g.stat(a.stat()); ok {
				pts = append(pts, evalPoint{t: g.start, n: g.n, v: v})
			}
		}
	}
	breaching := 0
	for _, p := range pts {
		if a.breaches(p.v) {
			breaching++
		}
	}
	newState := decide(a, breaching, len(pts), n)
	if newState == "" {
		return nil
	}
	m := a.DatapointsToAlarm
	if m == 0 {
		m = n
	}
	// Reason, as AWS words it.
	var reason string
	recent := make([]string, 0, len(pts))
	recentVals := make([]float64, 0, len(pts))
	evaluated := make([]map[string]any, 0, len(pts))
	for i := len(pts) - 1; i >= 0; i-- {
		p := pts[i]
		recent = append(recent, fmt.Sprintf("%s (%s)", fmtNum(p.v), p.t.Format("02/01/06 15:04:05")))
		recentVals = append(recentVals, p.v)
		e := map[string]any{"timestamp": p.t.Format(awsTime), "value": p.v}
		if len(a.Metrics) == 0 {
			e["sampleCount"] = p.n
		}
		evaluated = append(evaluated, e)
	}
	op := comparisonOps[a.ComparisonOperator]
	switch {
	case len(pts) == 0 && newState == StateInsufficientData:
		reason = fmt.Sprintf("Insufficient Data: %d datapoints were unknown.", n)
	case len(pts) == 0:
		reason = fmt.Sprintf("no datapoints were received for %d periods and %d missing datapoints were treated as [%s].", n, n, treatWord(a.TreatMissingData))
	case newState == StateAlarm:
		reason = fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] were %s the threshold (%s) (minimum %d datapoints for OK -> ALARM transition).",
			breaching, n, strings.Join(recent, ", "), op, fmtNum(a.Threshold), m)
	default:
		reason = fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] were not %s the threshold (%s) (minimum %d datapoints for ALARM -> OK transition).",
			len(pts)-breaching, n, strings.Join(recent, ", "), op, fmtNum(a.Threshold), m)
	}
	rd := map[string]any{"version": "1.0", "queryDate": now.Format(awsTime), "startDate": start.Format(awsTime),
		"period": a.period(), "recentDatapoints": recentVals, "threshold": a.Threshold, "evaluatedDatapoints": evaluated}
	if len(a.Metrics) == 0 {
		rd["statistic"] = a.stat()
	}
	if a.Unit != "" {
		rd["unit"] = a.Unit
	}
	rdJSON, _ := json.Marshal(rd)
	if newState == a.StateValue {
		return nil // no transition: nothing recorded (AWS does not log re-evaluations)
	}
	return s.transitionLocked(ctx, a, newState, reason, string(rdJSON), now)
}

func treatWord(t string) string {
	if t == "breaching" {
		return "Breaching"
	}
	return "NonBreaching"
}

// transitionLocked records a's new state (with history), runs its actions and, when its
// state changed, evaluates the composite alarms that refer to it.
func (s *Service) transitionLocked(ctx context.Context, a *alarmRec, newState, reason, reasonData string, now time.Time) error {
	return s.transitionDepth(ctx, a, newState, reason, reasonData, now, 0)
}

// transitionDepth is transitionLocked for an alarm depth composite alarms away from the
// alarm whose change started the evaluation.
func (s *Service) transitionDepth(ctx context.Context, a *alarmRec, newState, reason, reasonData string, now time.Time, depth int) error {
	old := a.StateValue
	hd := map[string]any{"version": "1.0",
		"oldState": stateJSON(old, a.StateReason, a.StateReasonData),
		"newState": stateJSON(newState, reason, reasonData)}
	hdJSON, _ := json.Marshal(hd)
	h := HistoryItem{AlarmName: a.AlarmName, AlarmType: a.alarmType(), Timestamp: now, HistoryItemType: "StateUpdate",
		HistorySummary: fmt.Sprintf("Alarm updated from %s to %s", old, newState), HistoryData: string(hdJSON)}
	_, err := s.propose(ctx, cmdSetState, setStateCmd{Region: a.Region, Name: a.AlarmName, Expect: a.StateRevision, State: newState, Reason: reason, ReasonData: reasonData, Time: now, History: h})
	if err != nil {
		if errors.Is(err, errConflict) {
			return nil // someone else recorded a transition; the next evaluation decides again
		}
		return err
	}
	if old == newState {
		return nil
	}
	err = s.runActions(ctx, a, old, newState, reason, reasonData, now)
	cur := *a
	cur.StateValue, cur.StateReason, cur.StateReasonData = newState, reason, reasonData
	cur.StateUpdatedTimestamp, cur.StateTransitionedTimestamp = now, now
	return errors.Join(err, s.evaluateParentsLocked(ctx, &cur, now, depth))
}

// runActions notifies the actions of a's new state (when its actions are enabled).
func (s *Service) runActions(ctx context.Context, a *alarmRec, old, newState, reason, reasonData string, now time.Time) error {
	if !a.ActionsEnabled || s.cfg.Notifier == nil {
		return nil
	}
	var acts []string
	switch newState {
	case StateAlarm:
		acts = a.AlarmActions
	case StateOK:
		acts = a.OKActions
	default:
		acts = a.InsufficientDataActions
	}
	if len(acts) == 0 {
		return nil
	}
	note := s.notification(a, old, newState, reason, now)
	if a.isComposite() {
		note.Trigger = Trigger{}
		note.AlarmRule, note.TriggeringChildren = a.AlarmRule, triggeringChildren(reasonData)
	}
	var errs []error
	var items []HistoryItem
	for _, arn := range acts {
		nctx, cancel := context.WithTimeout(ctx, s.cfg.NotifyTimeout)
		err := s.cfg.Notifier.Notify(nctx, arn, note)
		cancel()
		// Each action is an Action history item, as on AWS ("Successfully executed
		// action arn:...", "Failed to execute action arn:.... Received error: \"...\"").
		data := map[string]any{"actionState": "Succeeded", "stateUpdateTimestamp": now.UnixMilli(), "notificationResource": arn}
		summary := "Successfully executed action " + arn
		if err != nil {
			s.cfg.Logger.Warn("cloudwatch: alarm action failed", "alarm", a.AlarmName, "action", arn, "err", err)
			errs = append(errs, &actionFailure{fmt.Errorf("cloudwatch: alarm %s action %s: %w", a.AlarmName, arn, err)})
			data["actionState"], data["error"] = "Failed", actionError(err)
			summary = fmt.Sprintf("Failed to execute action %s. Received error: \"%s\"", arn, actionError(err))
		}
		hd, _ := json.Marshal(data)
		items = append(items, HistoryItem{AlarmName: a.AlarmName, AlarmType: a.alarmType(), Timestamp: s.now(), HistoryItemType: "Action",
			HistorySummary: summary, HistoryData: string(hd)})
	}
	if _, err := s.propose(ctx, cmdAddHistory, addHistoryCmd{Region: a.Region, Items: items}); err != nil {
		s.cfg.Logger.Warn("cloudwatch: recording the alarm's actions", "alarm", a.AlarmName, "err", err)
	}
	return errors.Join(errs...)
}

// actionFailure is the error of an alarm action that failed (runActions).
type actionFailure struct{ err error }

func (e *actionFailure) Error() string { return e.err.Error() }
func (e *actionFailure) Unwrap() error { return e.err }

// onlyActionFailures reports whether err is made of failed actions only (an
// actionFailure, or errors.Join of them), not of a failure to record the change.
func onlyActionFailures(err error) bool {
	switch e := err.(type) {
	case *actionFailure:
		return true
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			if x != nil && !onlyActionFailures(x) {
				return false
			}
		}
		return true
	}
	return false
}

// actionError is the reason of a failed action as the history shows it.
func actionError(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "The notification was not published in time."
	}
	return err.Error()
}

func stateJSON(v, reason, data string) map[string]any {
	m := map[string]any{"stateValue": v, "stateReason": reason}
	if data != "" && json.Valid([]byte(data)) {
		m["stateReasonData"] = json.RawMessage(data)
	}
	return m
}

func (s *Service) notification(a *alarmRec, old, newState, reason string, now time.Time) AlarmNotification {
	// The alarm's region, by its long name (AWS's notifications have it, e.g.
	// "EU (Ireland)"), or its code when Coffer does not know it.
	region := regionNames[a.Region]
	if region == "" {
		region = s.region(a.Region)
	}
	var desc *string
	if a.AlarmDescription != "" {
		d := a.AlarmDescription
		desc = &d
	}
	tr := Trigger{MetricName: a.MetricName, Namespace: a.Namespace, StatisticType: "Statistic", Statistic: strings.ToUpper(a.Statistic),
		Dimensions: []TriggerDimension{}, Period: a.Period, EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm,
		ComparisonOperator: a.ComparisonOperator, Threshold: a.Threshold, TreatMissingData: a.TreatMissingData,
		EvaluateLowSampleCountPercentile: a.EvaluateLowSampleCountPercentile}
	if tr.DatapointsToAlarm == 0 {
		tr.DatapointsToAlarm = a.EvaluationPeriods
	}
	if tr.TreatMissingData == "" {
		tr.TreatMissingData = "missing"
	}
	if a.ExtendedStatistic != "" {
		tr.StatisticType, tr.Statistic, tr.ExtendedStatistic = "ExtendedStatistic", "", a.ExtendedStatistic
	}
	if a.Unit != "" {
		u := a.Unit
		tr.Unit = &u
	}
	for _, d := range a.Dimensions {
		tr.Dimensions = append(tr.Dimensions, TriggerDimension{Value: d.Value, Name: d.Name})
	}
	if len(a.Metrics) > 0 {
		tr.Period, tr.StatisticType, tr.Statistic = a.period(), "", ""
		for _, q := range a.Metrics {
			m := TriggerMetric{Expression: q.Expression, ID: q.ID, Label: q.Label, ReturnData: q.ReturnData}
			if ms := q.MetricStat; ms != nil {
				m.MetricStat = &TriggerMetricStat{Period: ms.Period, Stat: ms.Stat}
				m.MetricStat.Metric.MetricName, m.MetricStat.Metric.Namespace = ms.MetricName, ms.Namespace
				m.MetricStat.Metric.Dimensions = []TriggerDimension{}
				for _, d := range ms.Dimensions {
					m.MetricStat.Metric.Dimensions = append(m.MetricStat.Metric.Dimensions, TriggerDimension{Value: d.Value, Name: d.Name})
				}
				if ms.Unit != "" {
					u := ms.Unit
					m.MetricStat.Unit = &u
				}
			}
			tr.Metrics = append(tr.Metrics, m)
		}
	}
	return AlarmNotification{AlarmName: a.AlarmName, AlarmDescription: desc, AWSAccountID: s.cfg.AccountID,
		AlarmConfigurationUpdatedTimestamp: a.AlarmConfigurationUpdatedTimestamp.UTC().Format(awsTime),
		NewStateValue:                      newState, NewStateReason: reason, StateChangeTime: now.UTC().Format(awsTime), Region: region,
		AlarmArn: a.AlarmArn, OldStateValue: old, OKActions: nonNil(a.OKActions), AlarmActions: nonNil(a.AlarmActions),
		InsufficientDataActions: nonNil(a.InsufficientDataActions), Trigger: tr}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return clone(s)
}

func sortStable[T any](s []T, less func(a, b T) bool) {
	sort.SliceStable(s, func(i, j int) bool { return less(s[i], s[j]) })
}
