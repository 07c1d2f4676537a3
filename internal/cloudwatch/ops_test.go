package cloudwatch

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// call runs action with the form params (Action and Version added) and returns the
// result encoded as the query protocol does (<{Action}Result>...), or the mapped error.
func (e *env) call(action string, params ...string) (any, string, error) {
	e.t.Helper()
	return e.callIn("us-east-1", action, params...)
}

// callIn is call for a request signed for region.
func (e *env) callIn(region, action string, params ...string) (any, string, error) {
	e.t.Helper()
	if len(params)%2 != 0 {
		e.t.Fatal("odd params")
	}
	v := url.Values{"Action": {action}, "Version": {Version}}
	for i := 0; i < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	op := Operations()[action]
	if op == nil {
		e.t.Fatalf("no op %s", action)
	}
	res, err := op(e.cw, e.ctx, Caller{Region: region, Account: "111122223333"}, []byte(v.Encode()))
	if err != nil {
		return nil, "", err
	}
	if res == nil {
		return nil, "", nil
	}
	var b bytes.Buffer
	if err := xml.NewEncoder(&b).EncodeElement(res, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
		e.t.Fatalf("encode %s: %v", action, err)
	}
	return res, b.String(), nil
}

func (e *env) ok(action string, params ...string) (any, string) {
	e.t.Helper()
	res, x, err := e.call(action, params...)
	if err != nil {
		e.t.Fatalf("%s: %v", action, err)
	}
	return res, x
}

func (e *env) fails(code string, status int, action string, params ...string) {
	e.t.Helper()
	_, _, err := e.call(action, params...)
	if err == nil {
		e.t.Fatalf("%s %v: no error, want %s", action, params, code)
	}
	ae := MapError(err)
	if ae.Code != code || ae.Status != status {
		e.t.Fatalf("%s %v: %d %s (%s), want %d %s", action, params, ae.Status, ae.Code, ae.Message, status, code)
	}
}

func contains(t *testing.T, x string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(x, s) {
			t.Errorf("missing %q in\n%s", s, x)
		}
	}
}

var alarmParams = []string{
	"AlarmName", "cpu-high", "AlarmDescription", "too hot",
	"AlarmActions.member.1", topic, "OKActions.member.1", topic,
	"MetricName", "CPU", "Namespace", "App", "Statistic", "Average",
	"Dimensions.member.1.Name", "Host", "Dimensions.member.1.Value", "h1",
	"Dimensions.member.2.Name", "AZ", "Dimensions.member.2.Value", "a",
	"Period", "60", "EvaluationPeriods", "3", "DatapointsToAlarm", "2",
	"Threshold", "80.5", "ComparisonOperator", "GreaterThanThreshold",
	"TreatMissingData", "notBreaching", "Unit", "Percent",
	"Tags.member.1.Key", "team", "Tags.member.1.Value", "ops",
}

func TestOpsOperations(t *testing.T) {
	ops := Operations()
	var names []string
	for k := range ops {
		names = append(names, k)
	}
	sort.Strings(names)
	want := []string{"DeleteAlarms", "DescribeAlarmHistory", "DescribeAlarms", "DescribeAlarmsForMetric", "DisableAlarmActions",
		"EnableAlarmActions", "GetMetricData", "GetMetricStatistics", "ListMetrics", "ListTagsForResource", "PutCompositeAlarm", "PutMetricAlarm",
		"PutMetricData", "SetAlarmState", "TagResource", "UntagResource"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("ops %v", names)
	}
	delete(ops, "PutMetricAlarm")
	if Operations()["PutMetricAlarm"] == nil {
		t.Fatal("Operations must return a copy")
	}
}

func TestOpsPutDescribeAlarms(t *testing.T) {
	e := newEnv(t)
	if res, _ := e.ok("PutMetricAlarm", alarmParams...); res != nil {
		t.Fatalf("PutMetricAlarm result %v", res)
	}
	e.ok("PutMetricAlarm", "AlarmName", "other", "MetricName", "M", "Namespace", "App", "ExtendedStatistic", "p99",
		"Period", "300", "EvaluationPeriods", "1", "Threshold", "1e6", "ComparisonOperator", "LessThanThreshold",
		"ActionsEnabled", "false")

	res, x := e.ok("DescribeAlarms", "AlarmNames.member.1", "cpu-high")
	contains(t, x,
		"<DescribeAlarmsResult><MetricAlarms><member><AlarmName>cpu-high</AlarmName>",
		"<AlarmArn>arn:aws:cloudwatch:us-east-1:111122223333:alarm:cpu-high</AlarmArn>",
		"<AlarmDescription>too hot</AlarmDescription>",
		"<AlarmConfigurationUpdatedTimestamp>2026-11-23T12:00:00.000Z</AlarmConfigurationUpdatedTimestamp>",
		"<ActionsEnabled>true</ActionsEnabled>",
		"<OKActions><member>"+topic+"</member></OKActions>",
		"<AlarmActions><member>"+topic+"</member></AlarmActions>",
		"<InsufficientDataActions></InsufficientDataActions>",
		"<StateValue>INSUFFICIENT_DATA</StateValue>",
		"<StateReason>Unchecked: Initial alarm creation</StateReason>",
		// The dimensions in the order given (not sorted), as AWS returns them.
		"<Dimensions><member><Name>Host</Name><Value>h1</Value></member><member><Name>AZ</Name><Value>a</Value></member></Dimensions>",
		"<Period>60</Period>", "<EvaluationPeriods>3</EvaluationPeriods>", "<DatapointsToAlarm>2</DatapointsToAlarm>",
		"<Threshold>80.5</Threshold>", "<ComparisonOperator>GreaterThanThreshold</ComparisonOperator>",
		"<TreatMissingData>notBreaching</TreatMissingData>", "<Unit>Percent</Unit>", "<Statistic>Average</Statistic>",
		"<CompositeAlarms></CompositeAlarms>")
	if strings.Contains(x, "NextToken") {
		t.Errorf("unexpected NextToken: %s", x)
	}
	// Round trip: what a client parses is what was encoded.
	var back DescribeAlarmsResult
	if err := xml.Unmarshal([]byte(x), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, res) {
		t.Fatalf("round trip:\n%+v\n%+v", back, res)
	}

	// All, paged by MaxRecords.
	_, x = e.ok("DescribeAlarms", "MaxRecords", "1")
	contains(t, x, "<AlarmName>cpu-high</AlarmName>", "<NextToken>")
	res, _ = e.ok("DescribeAlarms", "MaxRecords", "1", "NextToken", res2token(t, x))
	if a := res.(*DescribeAlarmsResult).MetricAlarms.Member; len(a) != 1 || a[0].AlarmName != "other" ||
		a[0].ActionsEnabled || a[0].Threshold != 1e6 || a[0].ExtendedStatistic != "p99" {
		t.Fatalf("page 2: %+v", a)
	}
	// Composite-only filters give nothing.
	res, _ = e.ok("DescribeAlarms", "AlarmTypes.member.1", "CompositeAlarm")
	if n := len(res.(*DescribeAlarmsResult).MetricAlarms.Member); n != 0 {
		t.Fatalf("composite only: %d alarms", n)
	}
	res, _ = e.ok("DescribeAlarms", "AlarmNamePrefix", "cpu", "AlarmTypes.member.1", "MetricAlarm")
	if n := len(res.(*DescribeAlarmsResult).MetricAlarms.Member); n != 1 {
		t.Fatalf("prefix: %d alarms", n)
	}

	// History has the configuration updates.
	_, x = e.ok("DescribeAlarmHistory", "AlarmName", "cpu-high", "HistoryItemType", "ConfigurationUpdate")
	contains(t, x, "<AlarmHistoryItems><member><AlarmName>cpu-high</AlarmName><AlarmType>MetricAlarm</AlarmType>",
		"<Timestamp>2026-11-23T12:00:00.000Z</Timestamp><HistoryItemType>ConfigurationUpdate</HistoryItemType>",
		"<HistorySummary>Alarm &#34;cpu-high&#34; created</HistorySummary>")

	// Disable / Enable actions, then delete.
	e.ok("DisableAlarmActions", "AlarmNames.member.1", "cpu-high")
	if e.state("cpu-high").ActionsEnabled {
		t.Fatal("actions still enabled")
	}
	e.ok("EnableAlarmActions", "AlarmNames.member.1", "cpu-high")
	if !e.state("cpu-high").ActionsEnabled {
		t.Fatal("actions not enabled")
	}
	e.ok("DeleteAlarms", "AlarmNames.member.1", "cpu-high", "AlarmNames.member.2", "other")
	res, _ = e.ok("DescribeAlarms")
	if n := len(res.(*DescribeAlarmsResult).MetricAlarms.Member); n != 0 {
		t.Fatalf("after delete: %d alarms", n)
	}
}

func res2token(t *testing.T, x string) string {
	t.Helper()
	var r DescribeAlarmsResult
	if err := xml.Unmarshal([]byte(x), &r); err != nil || r.NextToken == "" {
		t.Fatalf("no token in %s: %v", x, err)
	}
	return r.NextToken
}

func TestOpsSetAlarmState(t *testing.T) {
	e := newEnv(t)
	e.ok("PutMetricAlarm", alarmParams...)
	if res, _ := e.ok("SetAlarmState", "AlarmName", "cpu-high", "StateValue", "ALARM", "StateReason", "testing",
		"StateReasonData", `{"k":1}`); res != nil {
		t.Fatalf("SetAlarmState result %v", res)
	}
	_, x := e.ok("DescribeAlarms", "StateValue", "ALARM")
	contains(t, x, "<AlarmName>cpu-high</AlarmName>", "<StateValue>ALARM</StateValue>", "<StateReason>testing</StateReason>",
		`<StateReasonData>{&#34;k&#34;:1}</StateReasonData>`)
	if n := len(e.notif.take()); n != 1 {
		t.Fatalf("%d notifications", n)
	}
	res, _ := e.ok("DescribeAlarmHistory", "AlarmName", "cpu-high", "HistoryItemType", "StateUpdate", "ScanBy", "TimestampAscending",
		"StartDate", "2026-11-23T11:00:00Z", "EndDate", "2026-11-23T13:00:00.000Z")
	if items := res.(*DescribeAlarmHistoryResult).AlarmHistoryItems.Member; len(items) != 1 || !strings.Contains(items[0].HistorySummary, "ALARM") {
		t.Fatalf("history %+v", items)
	}

	e.fails("ResourceNotFound", http.StatusNotFound, "SetAlarmState", "AlarmName", "nope", "StateValue", "OK", "StateReason", "r")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "SetAlarmState", "AlarmName", "cpu-high", "StateValue", "BAD", "StateReason", "r")
	e.fails("MissingParameter", http.StatusBadRequest, "SetAlarmState", "AlarmName", "cpu-high", "StateValue", "OK")
	e.fails("MissingParameter", http.StatusBadRequest, "SetAlarmState", "StateValue", "OK", "StateReason", "r")
	e.fails("InvalidFormat", http.StatusBadRequest, "SetAlarmState", "AlarmName", "cpu-high", "StateValue", "OK", "StateReason", "r",
		"StateReasonData", "{")
}

func TestOpsMetrics(t *testing.T) {
	e := newEnv(t)
	if res, _ := e.ok("PutMetricData", "Namespace", "App",
		"MetricData.member.1.MetricName", "Latency", "MetricData.member.1.Value", "10", "MetricData.member.1.Unit", "Milliseconds",
		"MetricData.member.1.Timestamp", "2026-11-23T12:00:10Z",
		"MetricData.member.1.Dimensions.member.1.Name", "Host", "MetricData.member.1.Dimensions.member.1.Value", "h1",
		"MetricData.member.2.MetricName", "Latency", "MetricData.member.2.Unit", "Milliseconds",
		"MetricData.member.2.Timestamp", "2026-11-23T12:00:20.500Z",
		"MetricData.member.2.Dimensions.member.1.Name", "Host", "MetricData.member.2.Dimensions.member.1.Value", "h1",
		"MetricData.member.2.StatisticValues.SampleCount", "2", "MetricData.member.2.StatisticValues.Sum", "50",
		"MetricData.member.2.StatisticValues.Minimum", "20", "MetricData.member.2.StatisticValues.Maximum", "30",
		"MetricData.member.3.MetricName", "Count",
		"MetricData.member.3.Values.member.1", "1", "MetricData.member.3.Values.member.2", "2",
		"MetricData.member.3.Counts.member.1", "3", "MetricData.member.3.Counts.member.2", "1",
	); res != nil {
		t.Fatalf("PutMetricData result %v", res)
	}

	res, x := e.ok("GetMetricStatistics", "Namespace", "App", "MetricName", "Latency",
		"Dimensions.member.1.Name", "Host", "Dimensions.member.1.Value", "h1",
		"StartTime", "2026-11-23T11:00:00Z", "EndTime", "2026-11-23T13:00:00Z", "Period", "60",
		"Statistics.member.1", "Sum", "Statistics.member.2", "SampleCount", "Statistics.member.3", "Maximum")
	contains(t, x, "<GetMetricStatisticsResult><Label>Latency</Label><Datapoints><member>",
		"<Timestamp>2026-11-23T12:00:00.000Z</Timestamp>", "<SampleCount>3</SampleCount>", "<Sum>60</Sum>",
		"<Maximum>30</Maximum>", "<Unit>Milliseconds</Unit>")
	if strings.Contains(x, "<Average>") {
		t.Errorf("Average not asked for: %s", x)
	}
	var back GetMetricStatisticsResult
	if err := xml.Unmarshal([]byte(x), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, res) {
		t.Fatalf("round trip:\n%+v\n%+v", back, res)
	}

	// Percentiles are a map; with Statistics, they are refused (AWS: "you must specify
	// either Statistics or ExtendedStatistics, but not both").
	_, x = e.ok("GetMetricStatistics", "Namespace", "App", "MetricName", "Count",
		"StartTime", "2026-11-23T11:00:00Z", "EndTime", "2026-11-23T13:00:00Z", "Period", "3600",
		"ExtendedStatistics.member.1", "p100", "ExtendedStatistics.member.2", "p0")
	contains(t, x, "<ExtendedStatistics><entry><key>p0</key><value>1</value></entry><entry><key>p100</key><value>2</value></entry></ExtendedStatistics>")
	e.fails("InvalidParameterCombination", http.StatusBadRequest, "GetMetricStatistics", "Namespace", "App", "MetricName", "Latency",
		"Dimensions.member.1.Name", "Host", "Dimensions.member.1.Value", "h1",
		"StartTime", "2026-11-23T11:00:00Z", "EndTime", "2026-11-23T13:00:00Z", "Period", "60",
		"Statistics.member.1", "Sum", "ExtendedStatistics.member.1", "p100")

	// Unix-seconds timestamps are accepted too; the Values/Counts metric.
	_, x = e.ok("GetMetricStatistics", "Namespace", "App", "MetricName", "Count",
		"StartTime", "1795435200", "EndTime", "1795442400", "Period", "3600", "Statistics.member.1", "Sum")
	contains(t, x, "<Sum>5</Sum>", "<Unit>None</Unit>")

	_, x = e.ok("ListMetrics", "Namespace", "App", "Dimensions.member.1.Name", "Host")
	contains(t, x, "<ListMetricsResult><Metrics><member><Namespace>App</Namespace><MetricName>Latency</MetricName>"+
		"<Dimensions><member><Name>Host</Name><Value>h1</Value></member></Dimensions></member></Metrics></ListMetricsResult>")
	res, _ = e.ok("ListMetrics")
	if n := len(res.(*ListMetricsResult).Metrics.Member); n != 2 {
		t.Fatalf("ListMetrics: %d", n)
	}

	res, x = e.ok("GetMetricData", "StartTime", "2026-11-23T11:00:00Z", "EndTime", "2026-11-23T13:00:00Z",
		"MetricDataQueries.member.1.Id", "m1",
		"MetricDataQueries.member.1.MetricStat.Metric.Namespace", "App",
		"MetricDataQueries.member.1.MetricStat.Metric.MetricName", "Latency",
		"MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name", "Host",
		"MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value", "h1",
		"MetricDataQueries.member.1.MetricStat.Period", "60",
		"MetricDataQueries.member.1.MetricStat.Stat", "Average")
	contains(t, x, "<MetricDataResults><member><Id>m1</Id><Label>Latency</Label>",
		"<Timestamps><member>2026-11-23T12:00:00.000Z</member></Timestamps><Values><member>20</member></Values>",
		"<StatusCode>Complete</StatusCode>")
	var gm GetMetricDataResult
	if err := xml.Unmarshal([]byte(x), &gm); err != nil || !reflect.DeepEqual(&gm, res) {
		t.Fatalf("round trip %v:\n%+v\n%+v", err, gm, res)
	}
	e.fails("ValidationError", http.StatusBadRequest, "GetMetricData", "StartTime", "2026-11-23T11:00:00Z",
		"EndTime", "2026-11-23T13:00:00Z", "MetricDataQueries.member.1.Id", "e1", "MetricDataQueries.member.1.Expression", "TOTAL(METRICS())")

	// Errors.
	e.fails("MissingParameter", http.StatusBadRequest, "PutMetricData", "MetricData.member.1.MetricName", "M", "MetricData.member.1.Value", "1")
	e.fails("MissingParameter", http.StatusBadRequest, "PutMetricData", "Namespace", "App")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricData", "Namespace", "AWS/EC2",
		"MetricData.member.1.MetricName", "M", "MetricData.member.1.Value", "1")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricData", "Namespace", "App",
		"MetricData.member.1.MetricName", "M", "MetricData.member.1.Value", "abc")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricData", "Namespace", "App",
		"MetricData.member.1.MetricName", "M", "MetricData.member.1.Value", "1", "MetricData.member.1.Timestamp", "yesterday")
	e.fails("InvalidParameterCombination", http.StatusBadRequest, "PutMetricData", "Namespace", "App",
		"MetricData.member.1.MetricName", "M", "MetricData.member.1.Value", "1", "MetricData.member.1.Values.member.1", "2")
	e.fails("MissingParameter", http.StatusBadRequest, "GetMetricStatistics", "Namespace", "App", "MetricName", "Latency",
		"StartTime", "2026-11-23T11:00:00Z", "EndTime", "2026-11-23T13:00:00Z", "Statistics.member.1", "Sum")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "GetMetricStatistics", "Namespace", "App", "MetricName", "Latency",
		"StartTime", "2026-11-23T11:00:00Z", "EndTime", "2026-11-23T13:00:00Z", "Period", "7", "Statistics.member.1", "Sum")
	e.fails("InvalidNextToken", http.StatusBadRequest, "ListMetrics", "NextToken", "!!")
}

func TestOpsErrors(t *testing.T) {
	e := newEnv(t)
	without := func(drop string) []string {
		var out []string
		for i := 0; i < len(alarmParams); i += 2 {
			if alarmParams[i] != drop {
				out = append(out, alarmParams[i], alarmParams[i+1])
			}
		}
		return out
	}
	e.fails("MissingParameter", http.StatusBadRequest, "PutMetricAlarm", without("AlarmName")...)
	e.fails("MissingParameter", http.StatusBadRequest, "PutMetricAlarm", without("EvaluationPeriods")...)
	e.fails("MissingParameter", http.StatusBadRequest, "PutMetricAlarm", without("ComparisonOperator")...)
	e.fails("MissingParameter", http.StatusBadRequest, "PutMetricAlarm", without("Threshold")...)
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricAlarm", append(without("Period"), "Period", "sixty")...)
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricAlarm", append(without("Threshold"), "Threshold", "NaN")...)
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricAlarm", append(without("AlarmActions.member.1"), "AlarmActions.member.1", "arn:aws:lambda:x")...)
	e.fails("InvalidParameterCombination", http.StatusBadRequest, "PutMetricAlarm", append(without("Statistic"), "ExtendedStatistic", "p99", "Statistic", "Sum")...)
	e.fails("ValidationError", http.StatusBadRequest, "PutMetricAlarm", append(alarmParams, "Tags.member.2.Key", "k")...)
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutMetricAlarm", append(without("ActionsEnabled"), "ActionsEnabled", "maybe")...)
	e.fails("MissingParameter", http.StatusBadRequest, "DeleteAlarms")
	e.fails("ResourceNotFound", http.StatusNotFound, "DeleteAlarms", "AlarmNames.member.1", "nope")
	e.fails("MissingParameter", http.StatusBadRequest, "EnableAlarmActions")
	e.fails("InvalidNextToken", http.StatusBadRequest, "DescribeAlarms", "NextToken", "!!")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "DescribeAlarms", "MaxRecords", "0")
	e.fails("InvalidParameterCombination", http.StatusBadRequest, "DescribeAlarms", "AlarmNames.member.1", "a", "AlarmNamePrefix", "a")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "DescribeAlarmHistory", "ScanBy", "Sideways")

	// A parameter given twice is malformed (awsproto.ParseQuery).
	op := Operations()["DescribeAlarms"]
	_, err := op(e.cw, e.ctx, Caller{}, []byte("Action=DescribeAlarms&Version=2010-08-01&StateValue=OK&StateValue=ALARM"))
	if ae := MapError(err); ae.Code != "MalformedQueryString" || ae.Status != http.StatusBadRequest {
		t.Fatalf("duplicate: %+v", ae)
	}
	// Unknown errors are 500 InternalServiceError.
	if ae := MapError(errTest{}); ae.Code != "InternalServiceError" || ae.Status != http.StatusInternalServerError {
		t.Fatalf("unknown: %+v", ae)
	}
}

type errTest struct{}

func (errTest) Error() string { return "boom" }
