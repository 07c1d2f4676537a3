package cloudwatch

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// The HistoryData of ConfigurationUpdate items, in AWS's form:
// {"version":"1.0","type":"Create","createdAlarm":{"alarmName":...,"alarmArn":...,
// "alarmConfigurationUpdatedTimestamp":"2022-11-02T15:55:30.959+0000","namespace":...,
// "metricName":...,"statistic":"Sum","period":60,"dimensions":[{"name":...,"value":...}],
// "threshold":1.0,"comparisonOperator":...,"evaluationPeriods":1,"stateValue":...,
// "stateUpdatedTimestamp":...,"actionsEnabled":true,"alarmActions":[...],
// "insufficientDataActions":[],"okactions":[]}} (camelCase, "okactions" as AWS spells it),
// "updatedAlarm" for an update and "deletedAlarm" for a deletion.

type historyConfig struct {
	Version string        `json:"version"`
	Type    string        `json:"type"`
	Created *historyAlarm `json:"createdAlarm,omitempty"`
	Updated *historyAlarm `json:"updatedAlarm,omitempty"`
	Deleted *historyAlarm `json:"deletedAlarm,omitempty"`
}

type historyAlarm struct {
	AlarmName                          string         `json:"alarmName"`
	AlarmDescription                   string         `json:"alarmDescription,omitempty"`
	AlarmArn                           string         `json:"alarmArn"`
	AlarmConfigurationUpdatedTimestamp string         `json:"alarmConfigurationUpdatedTimestamp"`
	AlarmRule                          string         `json:"alarmRule,omitempty"`
	Namespace                          string         `json:"namespace,omitempty"`
	MetricName                         string         `json:"metricName,omitempty"`
	Statistic                          string         `json:"statistic,omitempty"`
	ExtendedStatistic                  string         `json:"extendedStatistic,omitempty"`
	Period                             int            `json:"period,omitempty"`
	Unit                               string         `json:"unit,omitempty"`
	Dimensions                         *[]historyDim  `json:"dimensions,omitempty"`
	Metrics                            []historyQuery `json:"metrics,omitempty"`
	Threshold                          *javaDouble    `json:"threshold,omitempty"`
	ComparisonOperator                 string         `json:"comparisonOperator,omitempty"`
	EvaluationPeriods                  int            `json:"evaluationPeriods,omitempty"`
	DatapointsToAlarm                  int            `json:"datapointsToAlarm,omitempty"`
	TreatMissingData                   string         `json:"treatMissingData,omitempty"`
	EvaluateLowSampleCountPercentile   string         `json:"evaluateLowSampleCountPercentile,omitempty"`
	StateValue                         string         `json:"stateValue"`
	StateUpdatedTimestamp              string         `json:"stateUpdatedTimestamp"`
	ActionsEnabled                     bool           `json:"actionsEnabled"`
	AlarmActions                       []string       `json:"alarmActions"`
	InsufficientDataActions            []string       `json:"insufficientDataActions"`
	OKActions                          []string       `json:"okactions"`
}

type historyDim struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type historyQuery struct {
	ID         string             `json:"id"`
	MetricStat *historyMetricStat `json:"metricStat,omitempty"`
	Expression string             `json:"expression,omitempty"`
	Label      string             `json:"label,omitempty"`
	ReturnData bool               `json:"returnData"`
	Period     int                `json:"period,omitempty"`
	AccountID  string             `json:"accountId,omitempty"`
}

type historyMetricStat struct {
	Metric struct {
		Namespace  string       `json:"namespace"`
		MetricName string       `json:"metricName"`
		Dimensions []historyDim `json:"dimensions"`
	} `json:"metric"`
	Period int    `json:"period"`
	Stat   string `json:"stat"`
	Unit   string `json:"unit,omitempty"`
}

// javaDouble is a number written as AWS (Java) writes a double where it is integral
// (1.0 rather than 1, below 10^7); other values in Go's shortest form (0.25, 1e+10).
type javaDouble float64

func (d javaDouble) MarshalJSON() ([]byte, error) {
	f := float64(d)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e7 {
		return strconv.AppendFloat(nil, f, 'f', 1, 64), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func historyDims(d []Dimension) []historyDim {
	out := []historyDim{}
	for _, x := range d {
		out = append(out, historyDim{Name: x.Name, Value: x.Value})
	}
	return out
}

// historyForm is the alarm as the HistoryData of its configuration items has it.
func (a *alarmRec) historyForm() *historyAlarm {
	t := func(x time.Time) string { return x.UTC().Format(awsTime) }
	h := &historyAlarm{AlarmName: a.AlarmName, AlarmDescription: a.AlarmDescription, AlarmArn: a.AlarmArn,
		AlarmConfigurationUpdatedTimestamp: t(a.AlarmConfigurationUpdatedTimestamp), StateValue: a.StateValue,
		StateUpdatedTimestamp: t(a.StateUpdatedTimestamp), ActionsEnabled: a.ActionsEnabled,
		AlarmActions: nonNil(a.AlarmActions), InsufficientDataActions: nonNil(a.InsufficientDataActions), OKActions: nonNil(a.OKActions)}
	if a.isComposite() {
		h.AlarmRule = a.AlarmRule
		return h
	}
	th := javaDouble(a.Threshold)
	h.Namespace, h.MetricName, h.Statistic, h.ExtendedStatistic, h.Period, h.Unit = a.Namespace, a.MetricName, a.Statistic, a.ExtendedStatistic, a.Period, a.Unit
	h.Threshold, h.ComparisonOperator, h.EvaluationPeriods, h.DatapointsToAlarm = &th, a.ComparisonOperator, a.EvaluationPeriods, a.DatapointsToAlarm
	h.TreatMissingData, h.EvaluateLowSampleCountPercentile = a.TreatMissingData, a.EvaluateLowSampleCountPercentile
	if len(a.Metrics) == 0 {
		d := historyDims(a.Dimensions)
		h.Dimensions = &d
	}
	for _, q := range a.Metrics {
		x := historyQuery{ID: q.ID, Expression: q.Expression, Label: q.Label, ReturnData: q.ReturnData, Period: q.Period, AccountID: q.AccountID}
		if ms := q.MetricStat; ms != nil {
			x.MetricStat = &historyMetricStat{Period: ms.Period, Stat: ms.Stat, Unit: ms.Unit}
			x.MetricStat.Metric.Namespace, x.MetricStat.Metric.MetricName, x.MetricStat.Metric.Dimensions = ms.Namespace, ms.MetricName, historyDims(ms.Dimensions)
		}
		h.Metrics = append(h.Metrics, x)
	}
	return h
}

// configHistoryData is the HistoryData of a ConfigurationUpdate item: typ is Create,
// Update or Delete.
func (a *alarmRec) configHistoryData(typ string) string {
	c := historyConfig{Version: "1.0", Type: typ}
	switch typ {
	case "Create":
		c.Created = a.historyForm()
	case "Update":
		c.Updated = a.historyForm()
	default:
		c.Deleted = a.historyForm()
	}
	b, _ := json.Marshal(c)
	return string(b)
}
