package cloudwatch

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

// CloudWatch is regional: each region (the request's, Caller.Region) has its own
// metrics, alarms, history and tags.

const (
	west      = "eu-west-1"
	westTopic = "arn:aws:sns:eu-west-1:111122223333:alerts"
)

func (e *env) alarmsIn(region string, names ...string) []MetricAlarm {
	e.t.Helper()
	l, _, err := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{Region: region, AlarmNames: names})
	if err != nil {
		e.t.Fatalf("DescribeAlarms in %s: %v", region, err)
	}
	return l
}

func (e *env) historyIn(region, name string) []HistoryItem {
	e.t.Helper()
	h, _, err := e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{Region: region, AlarmName: name, AlarmTypes: []string{"MetricAlarm", "CompositeAlarm"}})
	if err != nil {
		e.t.Fatalf("DescribeAlarmHistory in %s: %v", region, err)
	}
	return h
}

// One alarm name in two regions is two alarms: each with its ARN, configuration,
// state, history and actions switch; deleting one leaves the other.
func TestRegionsSameAlarmNameTwoAlarms(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmName: "cpu", Threshold: f(5)})
	e.alarm(PutMetricAlarmInput{Region: west, AlarmName: "cpu", Threshold: f(100), AlarmActions: []string{westTopic}})
	east, w := e.alarmsIn("us-east-1"), e.alarmsIn(west)
	if len(east) != 1 || len(w) != 1 {
		t.Fatalf("us-east-1 %d alarms, eu-west-1 %d, want 1 and 1", len(east), len(w))
	}
	if east[0].AlarmArn != "arn:aws:cloudwatch:us-east-1:111122223333:alarm:cpu" || east[0].Threshold != 5 {
		t.Errorf("us-east-1: %s threshold %v", east[0].AlarmArn, east[0].Threshold)
	}
	if w[0].AlarmArn != "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:cpu" || w[0].Threshold != 100 || !slices.Equal(w[0].AlarmActions, []string{westTopic}) {
		t.Errorf("eu-west-1: %s threshold %v actions %v", w[0].AlarmArn, w[0].Threshold, w[0].AlarmActions)
	}
	if l := e.alarmsIn("ap-southeast-2"); len(l) != 0 {
		t.Errorf("ap-southeast-2 has %d alarms", len(l))
	}

	// SetAlarmState and DisableAlarmActions change the alarm of their region only.
	if err := e.cw.SetAlarmStateIn(e.ctx, west, "cpu", StateAlarm, "testing", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.cw.DisableAlarmActionsIn(e.ctx, west, []string{"cpu"}); err != nil {
		t.Fatal(err)
	}
	if a := e.alarmsIn(west)[0]; a.StateValue != StateAlarm || a.ActionsEnabled {
		t.Errorf("eu-west-1 alarm: %s, actions enabled %v", a.StateValue, a.ActionsEnabled)
	}
	if a := e.alarmsIn("us-east-1")[0]; a.StateValue != StateInsufficientData || !a.ActionsEnabled {
		t.Errorf("us-east-1 alarm changed too: %s, actions enabled %v", a.StateValue, a.ActionsEnabled)
	}
	// The notification went to the eu-west-1 alarm's action only.
	if s := e.notif.take(); len(s) != 1 || s[0].topic != westTopic || s[0].n.AlarmArn != w[0].AlarmArn {
		t.Errorf("notifications: %+v", s)
	}

	// Each region's history has its alarm's items only.
	types := func(h []HistoryItem) []string {
		var out []string
		for _, x := range h {
			out = append(out, x.HistoryItemType)
		}
		return out
	}
	if got := types(e.historyIn("us-east-1", "cpu")); !slices.Equal(got, []string{"ConfigurationUpdate"}) {
		t.Errorf("us-east-1 history: %v", got)
	}
	if got := types(e.historyIn(west, "")); !slices.Equal(got, []string{"Action", "StateUpdate", "ConfigurationUpdate"}) {
		t.Errorf("eu-west-1 history: %v", got)
	}

	// Deleting the eu-west-1 alarm leaves the us-east-1 one; a name that is only an
	// alarm of another region is not found.
	if err := e.cw.DeleteAlarmsIn(e.ctx, west, []string{"cpu"}); err != nil {
		t.Fatal(err)
	}
	if len(e.alarmsIn(west)) != 0 || len(e.alarmsIn("us-east-1")) != 1 {
		t.Fatalf("after delete in eu-west-1: %d and %d alarms", len(e.alarmsIn(west)), len(e.alarmsIn("us-east-1")))
	}
	wantCode(t, e.cw.DeleteAlarmsIn(e.ctx, west, []string{"cpu"}), "ResourceNotFound")
	wantCode(t, e.cw.SetAlarmStateIn(e.ctx, "us-west-2", "cpu", StateOK, "r", ""), "ResourceNotFound")
}

// The operations take the region of the request (Caller.Region): the alarm's ARN in
// DescribeAlarms' XML is that region's.
func TestRegionsOperationsUseCallerRegion(t *testing.T) {
	e := newEnv(t)
	put := []string{"AlarmName", "cpu", "Namespace", "Test", "MetricName", "M", "Statistic", "Sum", "Period", "60",
		"EvaluationPeriods", "1", "Threshold", "5", "ComparisonOperator", "GreaterThanThreshold"}
	e.okIn(west, "PutMetricAlarm", put...)
	_, x := e.okIn(west, "DescribeAlarms")
	if !strings.Contains(x, "<AlarmArn>arn:aws:cloudwatch:eu-west-1:111122223333:alarm:cpu</AlarmArn>") {
		t.Errorf("eu-west-1 DescribeAlarms: %s", x)
	}
	if _, x := e.okIn("us-east-1", "DescribeAlarms"); strings.Contains(x, "cpu") {
		t.Errorf("us-east-1 DescribeAlarms: %s", x)
	}
	e.okIn(west, "PutMetricData", "Namespace", "Test", "MetricData.member.1.MetricName", "M", "MetricData.member.1.Value", "1")
	if _, x := e.okIn(west, "ListMetrics"); !strings.Contains(x, "<MetricName>M</MetricName>") {
		t.Errorf("eu-west-1 ListMetrics: %s", x)
	}
	if _, x := e.okIn("us-east-1", "ListMetrics"); strings.Contains(x, "<MetricName>M</MetricName>") {
		t.Errorf("us-east-1 ListMetrics: %s", x)
	}
	if _, x := e.okIn(west, "DescribeAlarmsForMetric", "Namespace", "Test", "MetricName", "M"); !strings.Contains(x, "eu-west-1:111122223333:alarm:cpu") {
		t.Errorf("eu-west-1 DescribeAlarmsForMetric: %s", x)
	}
	if _, x := e.okIn("us-east-1", "DescribeAlarmsForMetric", "Namespace", "Test", "MetricName", "M"); strings.Contains(x, "cpu") {
		t.Errorf("us-east-1 DescribeAlarmsForMetric: %s", x)
	}
	e.failsIn(west, "ResourceNotFound", http.StatusNotFound, "DeleteAlarms", "AlarmNames.member.1", "nope")
	e.failsIn("us-east-1", "ResourceNotFound", http.StatusNotFound, "DeleteAlarms", "AlarmNames.member.1", "cpu")
	e.okIn(west, "DeleteAlarms", "AlarmNames.member.1", "cpu")
}

func (e *env) okIn(region, action string, params ...string) (any, string) {
	e.t.Helper()
	res, x, err := e.callIn(region, action, params...)
	if err != nil {
		e.t.Fatalf("%s in %s: %v", action, region, err)
	}
	return res, x
}

func (e *env) failsIn(region, code string, status int, action string, params ...string) string {
	e.t.Helper()
	_, _, err := e.callIn(region, action, params...)
	if err == nil {
		e.t.Fatalf("%s in %s: no error, want %s", action, region, code)
	}
	ae := MapError(err)
	if ae.Code != code || ae.Status != status {
		e.t.Fatalf("%s in %s: %d %s (%s), want %d %s", action, region, ae.Status, ae.Code, ae.Message, status, code)
	}
	return ae.Message
}

// Metrics are per region: a datapoint put in one region is not seen from another, and
// an alarm evaluates its own region's metrics. Its notification carries its region.
func TestRegionsMetricsAndEvaluation(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{Region: west, AlarmName: "hot", Threshold: f(5), AlarmActions: []string{westTopic}})
	e.alarm(PutMetricAlarmInput{AlarmName: "hot", Threshold: f(5)})
	// 10 in us-east-1: only the us-east-1 alarm breaches.
	e.put(e.clk.Now(), 10)
	e.eval()
	if got := e.alarmsIn(west)[0].StateValue; got == StateAlarm {
		t.Fatalf("eu-west-1 alarm is %s after a us-east-1 datapoint", got)
	}
	if got := e.alarmsIn("us-east-1")[0].StateValue; got != StateAlarm {
		t.Fatalf("us-east-1 alarm is %s, want ALARM", got)
	}
	if s := e.notif.take(); len(s) != 1 || s[0].topic != topic || s[0].n.Region != "US East (N. Virginia)" {
		t.Fatalf("notifications after the us-east-1 datapoint: %+v", s)
	}
	stats := func(region string) float64 {
		_, dps, err := e.cw.GetMetricStatistics(e.ctx, GetMetricStatisticsInput{Region: region, Namespace: "Test", MetricName: "M",
			StartTime: t0.Add(-time.Hour), EndTime: t0.Add(time.Hour), Period: 60, Statistics: []string{"Sum"}})
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for _, d := range dps {
			s += *d.Sum
		}
		return s
	}
	if stats(west) != 0 || stats("us-east-1") != 10 {
		t.Fatalf("sums: eu-west-1 %v, us-east-1 %v", stats(west), stats("us-east-1"))
	}
	// 7 in eu-west-1: the eu-west-1 alarm breaches, and notifies its topic with its
	// region.
	if err := e.cw.PutMetricDataIn(e.ctx, west, "Test", []MetricDatum{{MetricName: "M", Timestamp: e.clk.Now(), Value: f(7)}}); err != nil {
		t.Fatal(err)
	}
	if stats(west) != 7 || stats("us-east-1") != 10 {
		t.Fatalf("sums: eu-west-1 %v, us-east-1 %v", stats(west), stats("us-east-1"))
	}
	r, _, err := e.cw.GetMetricData(e.ctx, GetMetricDataInput{Region: west, StartTime: t0.Add(-time.Hour), EndTime: t0.Add(time.Hour),
		Queries: []MetricDataQuery{{ID: "m", MetricStat: &MetricStat{Metric: Metric{Namespace: "Test", MetricName: "M"}, Period: 60, Stat: "Sum"}}}})
	if err != nil || len(r) != 1 || !slices.Equal(r[0].Values, []float64{7}) {
		t.Fatalf("GetMetricData in eu-west-1: %+v %v", r, err)
	}
	e.eval()
	if got := e.alarmsIn(west)[0].StateValue; got != StateAlarm {
		t.Fatalf("eu-west-1 alarm is %s, want ALARM", got)
	}
	s := e.notif.take()
	if len(s) != 1 || s[0].topic != westTopic {
		t.Fatalf("notifications after the eu-west-1 datapoint: %+v", s)
	}
	n := s[0].n
	if n.Region != "EU (Ireland)" || n.AlarmArn != "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:hot" || n.Subject() != `ALARM: "hot" in EU (Ireland)` {
		t.Errorf("notification: region %q, arn %s, subject %q", n.Region, n.AlarmArn, n.Subject())
	}
	// Coffer's own metrics (PutIn) evaluate the alarms of their region at once.
	e.alarm(PutMetricAlarmInput{Region: west, AlarmName: "own", Namespace: "AWS/CloudHSM", MetricName: "FailedLoginCount", Threshold: f(1), AlarmActions: []string{westTopic}})
	if err := e.cw.Put("AWS/CloudHSM", "FailedLoginCount", nil, time.Time{}, 1, "Count"); err != nil {
		t.Fatal(err)
	}
	if got := e.alarmsIn(west, "own")[0].StateValue; got == StateAlarm {
		t.Fatalf("eu-west-1 alarm is ALARM after a datapoint of the node's region")
	}
	if err := e.cw.PutIn(west, "AWS/CloudHSM", "FailedLoginCount", nil, time.Time{}, 1, "Count"); err != nil {
		t.Fatal(err)
	}
	if got := e.alarmsIn(west, "own")[0].StateValue; got != StateAlarm {
		t.Fatalf("eu-west-1 alarm is %s after PutIn, want ALARM", got)
	}
}

// Tags: an alarm's tags are set and read with the ARN of its region, in its region; the
// ARN of another region's alarm is not found there.
func TestRegionsTags(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmName: "a", Tags: []Tag{{"team", "east"}}})
	e.alarm(PutMetricAlarmInput{Region: west, AlarmName: "a", AlarmActions: []string{westTopic}, Tags: []Tag{{"team", "west"}}})
	westARN := "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:a"
	if err := e.cw.TagResourceIn(e.ctx, west, westARN, []Tag{{"env", "prod"}}); err != nil {
		t.Fatal(err)
	}
	got, err := e.cw.ListTagsForResourceIn(e.ctx, west, westARN)
	if err != nil || !reflect.DeepEqual(got, []Tag{{"team", "west"}, {"env", "prod"}}) {
		t.Fatalf("eu-west-1 tags: %v %v", got, err)
	}
	if got := e.tags(alarmARNa); !reflect.DeepEqual(got, []Tag{{"team", "east"}}) {
		t.Fatalf("us-east-1 tags: %v", got)
	}
	// Another region's ARN, from us-east-1: not found, and nothing changes.
	msg := e.failsIn("us-east-1", "ResourceNotFoundException", http.StatusNotFound, "ListTagsForResource", "ResourceARN", westARN)
	if msg != westARN+" not found" {
		t.Errorf("message: %q", msg)
	}
	e.failsIn("us-east-1", "ResourceNotFoundException", http.StatusNotFound, "TagResource", "ResourceARN", westARN, "Tags.member.1.Key", "x", "Tags.member.1.Value", "y")
	e.failsIn("us-east-1", "ResourceNotFoundException", http.StatusNotFound, "UntagResource", "ResourceARN", westARN, "TagKeys.member.1", "team")
	e.failsIn(west, "ResourceNotFoundException", http.StatusNotFound, "UntagResource", "ResourceARN", alarmARNa, "TagKeys.member.1", "team")
	if got, _ := e.cw.ListTagsForResourceIn(e.ctx, west, westARN); !reflect.DeepEqual(got, []Tag{{"team", "west"}, {"env", "prod"}}) {
		t.Fatalf("eu-west-1 tags after refused calls: %v", got)
	}
	if got := e.tags(alarmARNa); !reflect.DeepEqual(got, []Tag{{"team", "east"}}) {
		t.Fatalf("us-east-1 tags after refused calls: %v", got)
	}
}

// An alarm's actions are topics of its region: another region's topic is refused as
// AWS refuses it (ValidationError "Invalid region ... specified. Only ... is
// supported."), and nothing is stored.
func TestRegionsActionsInAlarmRegion(t *testing.T) {
	e := newEnv(t)
	put := []string{"AlarmName", "cpu", "Namespace", "Test", "MetricName", "M", "Statistic", "Sum", "Period", "60",
		"EvaluationPeriods", "1", "Threshold", "5", "ComparisonOperator", "GreaterThanThreshold"}
	for _, field := range []string{"AlarmActions", "OKActions", "InsufficientDataActions"} {
		msg := e.failsIn(west, "ValidationError", http.StatusBadRequest, "PutMetricAlarm", append(put, field+".member.1", topic)...)
		if msg != "Invalid region us-east-1 specified. Only eu-west-1 is supported." {
			t.Errorf("%s: %q", field, msg)
		}
	}
	e.failsIn("us-east-1", "ValidationError", http.StatusBadRequest, "PutMetricAlarm", append(put, "AlarmActions.member.1", westTopic)...)
	if len(e.alarmsIn(west)) != 0 || len(e.alarmsIn("us-east-1")) != 0 {
		t.Fatal("a refused alarm was stored")
	}
	e.okIn(west, "PutMetricAlarm", append(put, "AlarmActions.member.1", westTopic)...)
	e.failsIn(west, "ValidationError", http.StatusBadRequest, "PutCompositeAlarm", "AlarmName", "c", "AlarmRule", "ALARM(cpu)", "AlarmActions.member.1", topic)
	e.okIn(west, "PutCompositeAlarm", "AlarmName", "c", "AlarmRule", "ALARM(cpu)", "AlarmActions.member.1", westTopic)
}

// A composite alarm's rule names alarms of its region only: by name, the alarm of that
// name in its region; by ARN, an ARN of its region.
func TestRegionsCompositeRule(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmName: "east-only"})
	e.alarm(PutMetricAlarmInput{Region: west, AlarmName: "child", AlarmActions: []string{westTopic}})
	err := e.cw.PutCompositeAlarm(e.ctx, PutCompositeAlarmInput{Region: west, AlarmName: "c", AlarmRule: "ALARM(east-only)"})
	wantCode(t, err, "ValidationError")
	err = e.cw.PutCompositeAlarm(e.ctx, PutCompositeAlarmInput{Region: west, AlarmName: "c", AlarmRule: `ALARM("arn:aws:cloudwatch:us-east-1:111122223333:alarm:east-only")`})
	wantCode(t, err, "ValidationError")
	if err := e.cw.PutCompositeAlarm(e.ctx, PutCompositeAlarmInput{Region: west, AlarmName: "c", AlarmRule: `ALARM("arn:aws:cloudwatch:eu-west-1:111122223333:alarm:child")`}); err != nil {
		t.Fatal(err)
	}
	// The child's state change in eu-west-1 evaluates its parent there.
	if err := e.cw.SetAlarmStateIn(e.ctx, west, "child", StateAlarm, "testing", ""); err != nil {
		t.Fatal(err)
	}
	_, comp, _, err := e.cw.DescribeAllAlarms(e.ctx, DescribeAlarmsInput{Region: west, AlarmTypes: []string{"CompositeAlarm"}})
	if err != nil || len(comp) != 1 || comp[0].StateValue != StateAlarm || comp[0].AlarmArn != "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:c" {
		t.Fatalf("eu-west-1 composite alarms: %+v %v", comp, err)
	}
	// A us-east-1 alarm named like the child is not its child: it can be deleted.
	e.alarm(PutMetricAlarmInput{AlarmName: "child"})
	if err := e.cw.DeleteAlarms(e.ctx, []string{"child"}); err != nil {
		t.Fatalf("deleting the us-east-1 alarm named child: %v", err)
	}
	wantCode(t, e.cw.DeleteAlarmsIn(e.ctx, west, []string{"child"}), "ValidationError")
}

// The state of an earlier version (one region: alarms and history keyed by name, no
// region) is the node's region's after an upgrade; a version-2 snapshot keeps each
// alarm's region whatever the restoring node's region.
func TestRegionsRestoreEarlierState(t *testing.T) {
	old := map[string]any{"format": snapshotFormat, "version": 1,
		"alarms": map[string]any{"legacy": map[string]any{"name": "legacy", "arn": "arn:aws:cloudwatch:eu-west-2:111122223333:alarm:legacy",
			"metric_name": "M", "namespace": "Test", "statistic": "Sum", "period": 60, "evaluation_periods": 1, "threshold": 5,
			"comparison_operator": "GreaterThanThreshold", "actions_enabled": true, "alarm_actions": []string{"arn:aws:sns:eu-west-2:111122223333:t"},
			"state": "OK", "state_reason": "r", "tags": []map[string]string{{"Key": "k", "Value": "v"}}}},
		"history": map[string]any{"legacy": []map[string]any{{"alarm_name": "legacy", "alarm_type": "MetricAlarm", "timestamp": t0,
			"type": "ConfigurationUpdate", "summary": `Alarm "legacy" created`, "data": "{}"}}}}
	data, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	notif := &recNotifier{}
	clk := &fakeClock{t: t0}
	s := New(Config{Region: "eu-west-2", AccountID: "111122223333", Now: clk.Now, Notifier: notif})
	if err := s.Restore(data); err != nil {
		t.Fatal(err)
	}
	l, _, err := s.DescribeAlarms(t.Context(), DescribeAlarmsInput{Region: "eu-west-2"})
	if err != nil || len(l) != 1 || l[0].AlarmName != "legacy" || l[0].StateValue != StateOK {
		t.Fatalf("eu-west-2 alarms after restore: %+v %v", l, err)
	}
	if l, _, _ := s.DescribeAlarms(t.Context(), DescribeAlarmsInput{Region: "us-east-1"}); len(l) != 0 {
		t.Fatalf("us-east-1 has the old alarm: %+v", l)
	}
	if h, _, _ := s.DescribeAlarmHistory(t.Context(), DescribeAlarmHistoryInput{Region: "eu-west-2", AlarmName: "legacy"}); len(h) != 1 {
		t.Fatalf("eu-west-2 history: %+v", h)
	}
	if tags, err := s.ListTagsForResourceIn(t.Context(), "eu-west-2", "arn:aws:cloudwatch:eu-west-2:111122223333:alarm:legacy"); err != nil || len(tags) != 1 {
		t.Fatalf("tags: %v %v", tags, err)
	}
	// It evaluates the node's region's metrics, and notifies with that region.
	if err := s.PutIn("eu-west-2", "Test", "M", nil, time.Time{}, 10, ""); err == nil || !strings.Contains(err.Error(), "no state store") {
		t.Fatalf("Put without a proposer: %v (the alarm was not evaluated)", err)
	}

	// A version-2 snapshot restored by a node of another region keeps the regions.
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	s2 := New(Config{Region: "us-east-1", AccountID: "111122223333"})
	if err := s2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := s2.DescribeAlarms(t.Context(), DescribeAlarmsInput{Region: "eu-west-2"}); len(l) != 1 || l[0].AlarmArn != "arn:aws:cloudwatch:eu-west-2:111122223333:alarm:legacy" {
		t.Fatalf("eu-west-2 alarms on a us-east-1 node: %+v", l)
	}
	if l, _, _ := s2.DescribeAlarms(t.Context(), DescribeAlarmsInput{}); len(l) != 0 {
		t.Fatalf("us-east-1 alarms on a us-east-1 node: %+v", l)
	}
}

// Replicated commands carry their region: applying one does not depend on the applying
// node's region; a command of an earlier version (no region) is the node's region's.
func TestRegionsApplyIsDeterministic(t *testing.T) {
	s := New(Config{Region: "us-east-1", AccountID: "111122223333"})
	apply := func(typ string, body any) {
		t.Helper()
		b, _ := json.Marshal(body)
		if _, err := s.Apply(1, state.Command{Type: typ, Version: 1, Body: b, Time: t0}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	a := &alarmRec{Region: west, AlarmName: "x", AlarmArn: "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:x", Namespace: "Test", MetricName: "M",
		Statistic: "Sum", Period: 60, EvaluationPeriods: 1, ComparisonOperator: "GreaterThanThreshold", StateValue: StateInsufficientData}
	apply(cmdPutAlarm, putAlarmCmd{Alarm: a})
	legacy := *a
	legacy.Region, legacy.AlarmArn = "", "arn:aws:cloudwatch:us-east-1:111122223333:alarm:x"
	apply(cmdPutAlarm, putAlarmCmd{Alarm: &legacy})
	apply(cmdSetActions, setActionsCmd{Region: west, Names: []string{"x"}, Enabled: false})
	w, _, _ := s.DescribeAlarms(t.Context(), DescribeAlarmsInput{Region: west})
	e, _, _ := s.DescribeAlarms(t.Context(), DescribeAlarmsInput{})
	if len(w) != 1 || len(e) != 1 || w[0].ActionsEnabled || e[0].AlarmArn != legacy.AlarmArn {
		t.Fatalf("eu-west-1 %+v, us-east-1 %+v", w, e)
	}
	apply(cmdDeleteExisting, deleteAlarmsCmd{Names: []string{"x"}}) // earlier version: the node's region
	if w, _, _ := s.DescribeAlarms(t.Context(), DescribeAlarmsInput{Region: west}); len(w) != 1 {
		t.Fatal("a command without a region deleted the eu-west-1 alarm")
	}
	if e, _, _ := s.DescribeAlarms(t.Context(), DescribeAlarmsInput{}); len(e) != 0 {
		t.Fatal("a command without a region did not delete the node's region's alarm")
	}
}

// The datapoint log keeps each metric's region; the metrics of a log of an earlier
// version (no region) are the node's region's.
func TestRegionsDatapointLog(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC().Truncate(time.Minute)
	old := fmt.Sprintf(`{"format":%q,"version":%d}
{"m":1,"ns":"Old","name":"M"}
{"i":1,"t":%d,"c":1,"s":4,"lo":4,"hi":4}
`, logFormat, logVersion, now.UnixNano())
	if err := os.WriteFile(filepath.Join(dir, "points-0000000000000001.log"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Config{Region: "eu-west-2", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutIn(west, "New", "M", nil, now, 3, ""); err != nil && !strings.Contains(err.Error(), "no state store") {
		t.Fatal(err)
	}
	list := func(s *Service, region string) []string {
		t.Helper()
		l, _, err := s.ListMetrics(t.Context(), ListMetricsInput{Region: region})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range l {
			out = append(out, m.Namespace)
		}
		return out
	}
	if got := list(s, "eu-west-2"); !slices.Equal(got, []string{"Old"}) {
		t.Fatalf("eu-west-2 metrics: %v", got)
	}
	if got := list(s, west); !slices.Equal(got, []string{"New"}) {
		t.Fatalf("eu-west-1 metrics: %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened by a node of another region: the regions are in the log.
	s, err = Open(Config{Region: "us-east-1", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := list(s, "eu-west-2"); !slices.Equal(got, []string{"Old"}) {
		t.Fatalf("eu-west-2 metrics after reopen: %v", got)
	}
	if got := list(s, west); !slices.Equal(got, []string{"New"}) {
		t.Fatalf("eu-west-1 metrics after reopen: %v", got)
	}
	if got := list(s, "us-east-1"); len(got) != 0 {
		t.Fatalf("us-east-1 metrics after reopen: %v", got)
	}
	// The rewritten log names each metric's region.
	files, _ := filepath.Glob(filepath.Join(dir, "points-*.log"))
	f, err := os.Open(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	regions := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"r":"eu-west-2"`) || strings.Contains(sc.Text(), `"r":"eu-west-1"`) {
			regions++
		}
	}
	if regions != 2 {
		t.Fatalf("%d metric definitions with their region in the rewritten log, want 2", regions)
	}
}
