package cloudwatch

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

func TestParseRule(t *testing.T) {
	states := map[string]string{"a": StateAlarm, "b": StateOK, "c": StateInsufficientData, "x y": StateAlarm, `q"t`: StateOK,
		"arn:aws:cloudwatch:us-east-1:111122223333:alarm:a": StateAlarm}
	get := func(n string) string { return states[n] }
	for _, tc := range []struct {
		rule   string
		want   bool
		alarms []string
	}{
		{"TRUE", true, nil},
		{"false", false, nil},
		{"ALARM(a)", true, []string{"a"}},
		{`ALARM("a")`, true, []string{"a"}},
		{`ALARM( "a" )`, true, []string{"a"}},
		{"ALARM( a )", true, []string{"a"}},
		{"OK(a)", false, []string{"a"}},
		{"OK(b)", true, []string{"b"}},
		{"ALARM(c)", false, []string{"c"}},
		{"OK(c)", false, []string{"c"}},
		{"INSUFFICIENT_DATA(c)", true, []string{"c"}},
		{"NOT INSUFFICIENT_DATA(c)", false, []string{"c"}},
		{"ALARM(a) AND ALARM(b)", false, []string{"a", "b"}},
		{"ALARM(a) OR ALARM(b)", true, []string{"a", "b"}},
		{"ALARM(b) OR ALARM(a) AND FALSE", false, []string{"b", "a"}}, // AND binds tighter
		{"(ALARM(b) OR ALARM(a)) AND TRUE", true, []string{"b", "a"}},
		{"NOT ALARM(a) OR OK(b)", true, []string{"a", "b"}},
		{"NOT (ALARM(a) OR OK(b))", false, []string{"a", "b"}},
		{"NOT NOT TRUE", true, nil},
		{"not(alarm(a))", false, []string{"a"}},
		{"ALARM(x y)", true, []string{"x y"}},
		{`OK("q\"t")`, true, []string{`q"t`}},
		{"ALARM(arn:aws:cloudwatch:us-east-1:111122223333:alarm:a) AND ALARM(a)", true, []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:a", "a"}},
		{"ALARM(a) OR ALARM(a)", true, []string{"a"}},
		{" (( TRUE )) ", true, nil},
	} {
		n, err := parseRule(tc.rule)
		if err != nil {
			t.Errorf("%q: %v", tc.rule, err)
			continue
		}
		if got := n.eval(get); got != tc.want {
			t.Errorf("%q = %v, want %v", tc.rule, got, tc.want)
		}
		if got := n.alarms(); !slices.Equal(got, tc.alarms) {
			t.Errorf("%q alarms %q, want %q", tc.rule, got, tc.alarms)
		}
	}
	long := "TRUE" + strings.Repeat(" OR TRUE", 600)
	for _, tc := range []struct{ rule, code, msg string }{
		{"", "MissingParameter", "AlarmRule"},
		{"ALARM(a) AND", "ValidationError", "unexpected end"},
		{"ALARM(a) ALARM(b)", "ValidationError", "unexpected"},
		{"ALARM a", "ValidationError", "must be followed by"},
		{"ALARM(a", "ValidationError", "missing )"},
		{`ALARM("a`, "ValidationError", "unterminated"},
		{`ALARM("a" b)`, "ValidationError", "missing )"},
		{"ALARM()", "ValidationError", "empty alarm name"},
		{`ALARM("")`, "ValidationError", "empty alarm name"},
		{"ALARM(a(b)", "ValidationError", "invalid alarm name"},
		{"(TRUE", "ValidationError", "missing )"},
		{"TRUE)", "ValidationError", "unexpected"},
		{"WARN(a)", "ValidationError", "unknown function"},
		{"TRUE XOR FALSE", "ValidationError", "unexpected"},
		{"1", "ValidationError", "unexpected"},
		{"AND TRUE", "ValidationError", "unknown function"},
		{"NOT", "ValidationError", "unexpected end"},
		{"TRUEISH", "ValidationError", "unknown function"},
		{long, "ValidationError", "elements"},
		{strings.Repeat("(", 300) + "TRUE" + strings.Repeat(")", 300), "ValidationError", "nested"},
		{strings.Repeat("NOT ", 300) + "TRUE", "ValidationError", "nested"},
		{"ALARM(" + strings.Repeat("a", 10240) + ")", "InvalidParameterValue", "10240"},
		{"TRUE\xff", "ValidationError", "UTF-8"},
	} {
		_, err := parseRule(tc.rule)
		e, ok := err.(*Error)
		if !ok || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%.40q: %v, want %s containing %q", tc.rule, err, tc.code, tc.msg)
		}
	}
}

// FuzzParseRule: the parser never panics, and a rule it accepts evaluates and lists its
// alarms within the bounds.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"TRUE", "ALARM(a) OR ALARM(b)", `NOT (OK("x\"y") AND INSUFFICIENT_DATA(z))`, "(((FALSE)))",
		"ALARM(arn:aws:cloudwatch:us-east-1:111122223333:alarm:a)", "ALARM(a", `ALARM("`, "not not not true"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseRule(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("%q: error of type %T", s, err)
			}
			return
		}
		names := n.alarms()
		if len(names) > maxRuleElements {
			t.Fatalf("%q: %d alarms", s, len(names))
		}
		for _, a := range names {
			if a == "" {
				t.Fatalf("%q: empty alarm name", s)
			}
		}
		n.eval(func(string) string { return StateAlarm })
	})
}

func (e *env) composite(name, rule string) {
	e.t.Helper()
	if err := e.cw.PutCompositeAlarm(e.ctx, PutCompositeAlarmInput{AlarmName: name, AlarmRule: rule, AlarmActions: []string{topic}, OKActions: []string{topic}}); err != nil {
		e.t.Fatalf("PutCompositeAlarm %s: %v", name, err)
	}
}

func (e *env) compositeState(name string) CompositeAlarm {
	e.t.Helper()
	_, l, _, err := e.cw.DescribeAllAlarms(e.ctx, DescribeAlarmsInput{AlarmNames: []string{name}, AlarmTypes: []string{"CompositeAlarm"}})
	if err != nil || len(l) != 1 {
		e.t.Fatalf("DescribeAlarms %s: %v %v", name, l, err)
	}
	return l[0]
}

func (e *env) set(name, st string) {
	e.t.Helper()
	if err := e.cw.SetAlarmState(e.ctx, name, st, "test", ""); err != nil {
		e.t.Fatalf("SetAlarmState %s: %v", name, err)
	}
}

func TestCompositeAlarmEvaluation(t *testing.T) {
	e := newEnv(t)
	// TreatMissingData ignore: the evaluation loop keeps the states set here.
	e.alarm(PutMetricAlarmInput{AlarmName: "a", AlarmActions: []string{}, TreatMissingData: "ignore"})
	e.alarm(PutMetricAlarmInput{AlarmName: "b", AlarmActions: []string{}, TreatMissingData: "ignore"})
	e.notif.take()

	// Created in INSUFFICIENT_DATA, evaluated at once: the children are in
	// INSUFFICIENT_DATA, so ALARM(a) OR ALARM(b) is FALSE: OK.
	e.composite("c", "ALARM(a) OR ALARM(b)")
	c := e.compositeState("c")
	if c.StateValue != StateOK || c.AlarmRule != "ALARM(a) OR ALARM(b)" || !c.ActionsEnabled || c.AlarmArn != "arn:aws:cloudwatch:us-east-1:111122223333:alarm:c" {
		t.Fatalf("composite %+v", c)
	}
	if n := e.notif.take(); len(n) != 1 || n[0].n.NewStateValue != StateOK || n[0].n.OldStateValue != StateInsufficientData {
		t.Fatalf("creation notifications %+v", n)
	}
	// Not among the metric alarms (the default AlarmTypes).
	if l, _, _ := e.cw.DescribeAlarms(e.ctx, DescribeAlarmsInput{}); len(l) != 2 {
		t.Fatalf("metric alarms %+v", l)
	}

	e.clk.Add(time.Minute)
	e.set("a", StateAlarm)
	c = e.compositeState("c")
	if c.StateValue != StateAlarm || !c.StateTransitionedTimestamp.Equal(e.clk.Now()) {
		t.Fatalf("after a ALARM: %+v", c)
	}
	wantReason := "arn:aws:cloudwatch:us-east-1:111122223333:alarm:a transitioned to ALARM at Monday 23 November, 2026 12:01:00 UTC"
	if c.StateReason != wantReason {
		t.Errorf("reason %q", c.StateReason)
	}
	var rd map[string]any
	if err := json.Unmarshal([]byte(c.StateReasonData), &rd); err != nil {
		t.Fatal(err)
	}
	tr := rd["triggeringAlarms"].([]any)[0].(map[string]any)
	if tr["arn"] != "arn:aws:cloudwatch:us-east-1:111122223333:alarm:a" || tr["state"].(map[string]any)["value"] != StateAlarm {
		t.Errorf("reason data %s", c.StateReasonData)
	}
	n := e.notif.take()
	if len(n) != 1 || n[0].n.AlarmName != "c" || n[0].n.NewStateValue != StateAlarm {
		t.Fatalf("notifications %+v", n)
	}
	body, _ := json.Marshal(n[0].n)
	var doc map[string]any
	json.Unmarshal(body, &doc)
	for _, k := range []string{"AlarmName", "AlarmDescription", "AWSAccountId", "NewStateValue", "NewStateReason", "StateChangeTime", "Region",
		"AlarmArn", "OKActions", "AlarmActions", "InsufficientDataActions", "OldStateValue", "AlarmRule", "TriggeringChildren"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("notification has no %s: %s", k, body)
		}
	}
	if _, ok := doc["Trigger"]; ok || len(doc) != 14 {
		t.Errorf("notification fields: %s", body)
	}
	if ch := doc["TriggeringChildren"].([]any); len(ch) != 1 || ch[0].(map[string]any)["Arn"] != "arn:aws:cloudwatch:us-east-1:111122223333:alarm:a" ||
		ch[0].(map[string]any)["State"].(map[string]any)["Value"] != StateAlarm {
		t.Errorf("TriggeringChildren %s", body)
	}
	if doc["AlarmRule"] != "ALARM(a) OR ALARM(b)" || doc["OldStateValue"] != StateOK {
		t.Errorf("notification %s", body)
	}

	// b goes to ALARM too: still ALARM, nothing recorded.
	e.set("b", StateAlarm)
	if n := e.notif.take(); len(n) != 0 {
		t.Fatalf("no transition, notifications %+v", n)
	}
	e.set("a", StateOK)
	e.set("b", StateOK)
	if c := e.compositeState("c"); c.StateValue != StateOK || !strings.Contains(c.StateReason, ":alarm:b transitioned to OK") {
		t.Fatalf("after a, b OK: %+v", c)
	}

	// History: ConfigurationUpdate then the state updates, as CompositeAlarm.
	h, _, err := e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{AlarmName: "c", AlarmTypes: []string{"CompositeAlarm"}, ScanBy: "TimestampAscending"})
	// (Each transition's action is an Action item after it.)
	if actions := slices.DeleteFunc(slices.Clone(h), func(x HistoryItem) bool { return x.HistoryItemType != "Action" }); len(actions) != 3 {
		t.Fatalf("actions %+v", actions)
	}
	h = slices.DeleteFunc(h, func(x HistoryItem) bool { return x.HistoryItemType == "Action" })
	if err != nil || len(h) != 4 {
		t.Fatalf("history %+v %v", h, err)
	}
	if h[0].HistoryItemType != "ConfigurationUpdate" || h[1].HistorySummary != "Alarm updated from INSUFFICIENT_DATA to OK" ||
		h[2].HistorySummary != "Alarm updated from OK to ALARM" || h[3].AlarmType != "CompositeAlarm" {
		t.Errorf("history %+v", h)
	}
	if h, _, _ := e.cw.DescribeAlarmHistory(e.ctx, DescribeAlarmHistoryInput{AlarmName: "c"}); len(h) != 0 {
		t.Errorf("default AlarmTypes (MetricAlarm) returned %d composite items", len(h))
	}

	// SetAlarmState on a composite: kept until a child changes state.
	e.set("c", StateAlarm)
	e.eval()
	if c := e.compositeState("c"); c.StateValue != StateAlarm {
		t.Fatalf("set state: %+v", c)
	}
	e.set("a", StateAlarm)
	e.set("a", StateInsufficientData)
	if c := e.compositeState("c"); c.StateValue != StateOK {
		t.Fatalf("re-evaluated: %+v", c)
	}

	// Disabled actions: no notification.
	if err := e.cw.DisableAlarmActions(e.ctx, []string{"c"}); err != nil {
		t.Fatal(err)
	}
	e.notif.take()
	e.set("b", StateAlarm)
	if c := e.compositeState("c"); c.StateValue != StateAlarm || c.ActionsEnabled {
		t.Fatalf("%+v", c)
	}
	if n := e.notif.take(); len(n) != 0 {
		t.Fatalf("actions disabled, notifications %+v", n)
	}
}

func TestCompositeOfComposites(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmName: "m", AlarmActions: []string{}})
	e.composite("inner", "ALARM(m)")
	e.composite("outer", `NOT OK("arn:aws:cloudwatch:us-east-1:111122223333:alarm:inner")`)
	if c := e.compositeState("outer"); c.StateValue != StateOK {
		t.Fatalf("outer %+v", c)
	}
	e.set("m", StateAlarm)
	if c := e.compositeState("inner"); c.StateValue != StateAlarm {
		t.Fatalf("inner %+v", c)
	}
	if c := e.compositeState("outer"); c.StateValue != StateAlarm || !strings.Contains(c.StateReason, ":alarm:inner transitioned to ALARM") {
		t.Fatalf("outer %+v", c)
	}
	// Metric alarms evaluated from datapoints drive the composites too.
	e.alarm(PutMetricAlarmInput{AlarmName: "d", AlarmActions: []string{}})
	e.composite("inner", "ALARM(d)") // an update: state kept, re-evaluated
	if c := e.compositeState("inner"); c.StateValue != StateOK {
		t.Fatalf("inner after update %+v", c)
	}
	e.put(e.clk.Now(), 10)
	e.eval()
	if c := e.compositeState("inner"); c.StateValue != StateAlarm {
		t.Fatalf("inner after datapoint %+v", c)
	}

	// Families.
	_, cs, _, err := e.cw.DescribeAllAlarms(e.ctx, DescribeAlarmsInput{ParentsOfAlarmName: "inner"})
	if err != nil || len(cs) != 1 || cs[0].AlarmName != "outer" {
		t.Fatalf("parents of inner %+v %v", cs, err)
	}
	ms, cs, _, err := e.cw.DescribeAllAlarms(e.ctx, DescribeAlarmsInput{ChildrenOfAlarmName: "outer"})
	if err != nil || len(ms) != 0 || len(cs) != 1 || cs[0].AlarmName != "inner" {
		t.Fatalf("children of outer %+v %+v %v", ms, cs, err)
	}
	ms, _, _, _ = e.cw.DescribeAllAlarms(e.ctx, DescribeAlarmsInput{ChildrenOfAlarmName: "inner"})
	if len(ms) != 1 || ms[0].AlarmName != "d" {
		t.Fatalf("children of inner %+v", ms)
	}
	if _, _, _, err := e.cw.DescribeAllAlarms(e.ctx, DescribeAlarmsInput{ChildrenOfAlarmName: "outer", StateValue: StateOK}); err == nil {
		t.Fatal("ChildrenOfAlarmName with StateValue accepted")
	}
}

func TestCompositeValidation(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmName: "a", AlarmActions: []string{}})
	put := func(name, rule string) error {
		return e.cw.PutCompositeAlarm(e.ctx, PutCompositeAlarmInput{AlarmName: name, AlarmRule: rule})
	}
	wantCode(t, put("x", "ALARM(a) OR ALARM(gone)"), "ValidationError")
	if err := put("x", "ALARM(a) OR ALARM(gone) OR OK(nope)"); err == nil ||
		err.(*Error).Message != "Could not save the composite alarm as alarms [gone, nope] in the alarm rule do not exist" {
		t.Errorf("missing children: %v", err)
	}
	wantCode(t, put("x", "ALARM(x)"), "ValidationError") // itself
	wantCode(t, put("x", "ALARM(arn:aws:cloudwatch:eu-west-1:111122223333:alarm:a)"), "ValidationError")
	wantCode(t, put("x", "ALARM(arn:aws:sns:us-east-1:111122223333:alarm:a)"), "ValidationError")
	wantCode(t, put("", "TRUE"), "MissingParameter")
	wantCode(t, put("x", ""), "MissingParameter")
	wantCode(t, put("a", "TRUE"), "ValidationError") // a metric alarm's name
	many := make([]string, 101)
	for i := range many {
		many[i] = "ALARM(n" + strings.Repeat("x", i) + ")"
	}
	if err := put("x", strings.Join(many, " OR ")); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Errorf("101 children: %v", err)
	}
	wantCode(t, e.cw.PutCompositeAlarm(e.ctx, PutCompositeAlarmInput{AlarmName: "x", AlarmRule: "TRUE", ActionsSuppressor: "a"}), "InvalidParameterValue")
	wantCode(t, e.cw.PutCompositeAlarm(e.ctx, PutCompositeAlarmInput{AlarmName: "x", AlarmRule: "TRUE", AlarmActions: []string{"arn:aws:lambda:us-east-1:1:function:f"}}), "InvalidParameterValue")
	if _, cs, _, _ := e.cw.DescribeAllAlarms(e.ctx, DescribeAlarmsInput{AlarmTypes: []string{"CompositeAlarm"}}); len(cs) != 0 {
		t.Fatalf("refused composites were stored: %+v", cs)
	}

	// An alarm is in at most 150 rules.
	for i := range 150 {
		e.composite("p"+strings.Repeat("x", i), "ALARM(a)")
	}
	wantCode(t, put("x", "OK(a)"), "LimitExceeded")
	for i := range 150 {
		if err := e.cw.DeleteAlarms(e.ctx, []string{"p" + strings.Repeat("x", i)}); err != nil {
			t.Fatal(err)
		}
	}

	// Cycles.
	e.composite("c1", "TRUE")
	e.composite("c2", "ALARM(c1)")
	e.composite("c3", "ALARM(c2) AND ALARM(a)")
	err := put("c1", "ALARM(c3)")
	wantCode(t, err, "ValidationError")
	if !strings.Contains(err.Error(), "c1 -> c3 -> c2 -> c1") {
		t.Errorf("cycle: %v", err)
	}
	wantCode(t, put("c1", "ALARM(c1)"), "ValidationError")
	if c := e.compositeState("c1"); c.AlarmRule != "TRUE" {
		t.Fatalf("c1 changed: %+v", c)
	}
	// A metric alarm cannot take a composite alarm's name.
	th := 1.0
	wantCode(t, e.cw.PutMetricAlarm(e.ctx, PutMetricAlarmInput{AlarmName: "c1", Namespace: "N", MetricName: "M", Statistic: "Sum",
		Period: 60, EvaluationPeriods: 1, Threshold: &th, ComparisonOperator: "GreaterThanThreshold"}), "ValidationError")

	// DeleteAlarms: not a child with parents left, at most one composite.
	err = e.cw.DeleteAlarms(e.ctx, []string{"a"})
	if err == nil || err.(*Error).Message != "Cannot delete a as there are composite alarm(s) depending on it." {
		t.Fatalf("delete a child: %v", err)
	}
	err = e.cw.DeleteAlarms(e.ctx, []string{"c1", "a"})
	if err == nil || err.(*Error).Message != "Cannot delete c1,a as there are composite alarm(s) depending on them." {
		t.Fatalf("delete children: %v", err)
	}
	wantCode(t, e.cw.DeleteAlarms(e.ctx, []string{"c3", "c2"}), "ValidationError")
	if _, cs, _, _ := e.cw.DescribeAllAlarms(e.ctx, DescribeAlarmsInput{AlarmTypes: []string{"CompositeAlarm"}}); len(cs) != 3 {
		t.Fatalf("something was deleted: %+v", cs)
	}
	if err := e.cw.DeleteAlarms(e.ctx, []string{"c3", "a"}); err != nil { // a's only parent goes with it
		t.Fatal(err)
	}
	if err := e.cw.DeleteAlarms(e.ctx, []string{"c2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.cw.DeleteAlarms(e.ctx, []string{"c1", "nope"}); err == nil {
		t.Fatal("unknown name not reported")
	}
	if ms, cs, _, _ := e.cw.DescribeAllAlarms(e.ctx, DescribeAlarmsInput{AlarmTypes: []string{"CompositeAlarm", "MetricAlarm"}}); len(ms)+len(cs) != 0 {
		t.Fatalf("left %+v %+v", ms, cs)
	}
}

func TestCompositeTagsAndRestart(t *testing.T) {
	e := newEnv(t)
	e.alarm(PutMetricAlarmInput{AlarmName: "a", AlarmActions: []string{}, TreatMissingData: "ignore"})
	if err := e.cw.PutCompositeAlarm(e.ctx, PutCompositeAlarmInput{AlarmName: "c", AlarmRule: "ALARM(a)", AlarmDescription: "d",
		Tags: []Tag{{"team", "sec"}}}); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:cloudwatch:us-east-1:111122223333:alarm:c"
	if err := e.cw.TagResource(e.ctx, arn, []Tag{{"env", "prod"}}); err != nil {
		t.Fatal(err)
	}
	e.set("a", StateAlarm)
	e.restart() // replays the log: the composite, its tags and state
	c := e.compositeState("c")
	if c.StateValue != StateAlarm || c.AlarmDescription != "d" || c.AlarmRule != "ALARM(a)" {
		t.Fatalf("after restart %+v", c)
	}
	tags, err := e.cw.ListTagsForResource(e.ctx, arn)
	if err != nil || len(tags) != 2 {
		t.Fatalf("tags %+v %v", tags, err)
	}
	// Still wired to its child after the restart.
	e.set("a", StateOK)
	if c := e.compositeState("c"); c.StateValue != StateOK {
		t.Fatalf("after restart, a OK: %+v", c)
	}
	// And from a snapshot.
	snap, err := e.cw.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	cw2 := New(Config{AccountID: "111122223333"})
	if err := cw2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if _, cs, _, _ := cw2.DescribeAllAlarms(e.ctx, DescribeAlarmsInput{AlarmTypes: []string{"CompositeAlarm"}}); len(cs) != 1 || cs[0].AlarmRule != "ALARM(a)" {
		t.Fatalf("restored %+v", cs)
	}
	// The periodic evaluation leaves composites alone.
	e.set("c", StateAlarm)
	e.clk.Add(time.Hour)
	e.eval()
	if c := e.compositeState("c"); c.StateValue != StateAlarm {
		t.Fatalf("evaluation loop changed a composite: %+v", c)
	}
}

// TestCompositeOldEntries: log entries of earlier versions (no alarm_rule, no children)
// replay with their meaning: cloudwatch.alarm.put makes a metric alarm, and
// cloudwatch.alarm.delete_existing deletes what exists.
func TestCompositeOldEntries(t *testing.T) {
	e := newEnv(t)
	old := []byte(`{"alarm":{"name":"old","arn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:old","config_updated":"2026-01-01T00:00:00Z",
		"actions_enabled":true,"metric_name":"M","namespace":"N","statistic":"Sum","period":60,"evaluation_periods":1,"threshold":1,
		"comparison_operator":"GreaterThanThreshold","state":"INSUFFICIENT_DATA","state_reason":"x","state_updated":"2026-01-01T00:00:00Z",
		"state_transitioned":"2026-01-01T00:00:00Z","state_revision":0},"history":{"alarm_name":"old","alarm_type":"MetricAlarm",
		"timestamp":"2026-01-01T00:00:00Z","type":"ConfigurationUpdate","summary":"s","data":"{}"}}`)
	if _, err := e.cw.Apply(1000, state.Command{Type: cmdPutAlarm, Version: 1, Time: t0, Body: old}); err != nil {
		t.Fatal(err)
	}
	if a := e.state("old"); a.MetricName != "M" {
		t.Fatalf("%+v", a)
	}
	res, err := e.cw.Apply(1001, state.Command{Type: cmdDeleteExisting, Version: 1, Time: t0, Body: []byte(`{"names":["old","gone"]}`)})
	if err != nil || !slices.Equal(res.([]string), []string{"gone"}) {
		t.Fatalf("delete: %v %v", res, err)
	}
	// A composite put entry whose children are gone fails at Apply (a concurrent delete).
	c := []byte(`{"alarm":{"name":"c","arn":"a","alarm_rule":"ALARM(x)","children":["x"],"state":"INSUFFICIENT_DATA"},"history":{}}`)
	if _, err := e.cw.Apply(1002, state.Command{Type: cmdPutComposite, Version: 1, Time: t0, Body: c}); err == nil {
		t.Fatal("composite with a missing child applied")
	}
}

func TestCompositeOps(t *testing.T) {
	e := newEnv(t)
	e.ok("PutMetricAlarm", alarmParams...)
	e.ok("PutCompositeAlarm", "AlarmName", "comp", "AlarmRule", `ALARM("cpu-high")`, "AlarmDescription", "any",
		"AlarmActions.member.1", topic, "ActionsEnabled", "false", "Tags.member.1.Key", "k", "Tags.member.1.Value", "v")
	_, x := e.ok("DescribeAlarms", "AlarmTypes.member.1", "CompositeAlarm")
	contains(t, x, "<CompositeAlarms><member><ActionsEnabled>false</ActionsEnabled>", "<AlarmName>comp</AlarmName>",
		"<AlarmRule>ALARM(&#34;cpu-high&#34;)</AlarmRule>", "<StateValue>OK</StateValue>", "<AlarmActions><member>"+topic+"</member>",
		"<MetricAlarms></MetricAlarms>", "<StateTransitionedTimestamp>")
	_, x = e.ok("DescribeAlarms")
	if strings.Contains(x, "comp") || !strings.Contains(x, "cpu-high") {
		t.Errorf("default types: %s", x)
	}
	_, x = e.ok("DescribeAlarms", "AlarmTypes.member.1", "CompositeAlarm", "AlarmTypes.member.2", "MetricAlarm", "MaxRecords", "1")
	contains(t, x, "<AlarmName>comp</AlarmName>", "<NextToken>")
	_, x = e.ok("DescribeAlarms", "ParentsOfAlarmName", "cpu-high")
	contains(t, x, "<AlarmName>comp</AlarmName>")
	_, x = e.ok("DescribeAlarms", "ChildrenOfAlarmName", "comp")
	contains(t, x, "<AlarmName>cpu-high</AlarmName>")
	e.fails("MissingParameter", http.StatusBadRequest, "PutCompositeAlarm", "AlarmName", "x")
	e.fails("ValidationError", http.StatusBadRequest, "PutCompositeAlarm", "AlarmName", "x", "AlarmRule", "ALARM(nope)")
	e.fails("InvalidParameterValue", http.StatusBadRequest, "PutCompositeAlarm", "AlarmName", "x", "AlarmRule", "TRUE", "ActionsSuppressorWaitPeriod", "10")
	e.fails("ValidationError", http.StatusBadRequest, "DeleteAlarms", "AlarmNames.member.1", "cpu-high")
	e.ok("SetAlarmState", "AlarmName", "comp", "StateValue", "ALARM", "StateReason", "test")
	_, x = e.ok("DescribeAlarmHistory", "AlarmName", "comp", "AlarmTypes.member.1", "CompositeAlarm")
	contains(t, x, "<AlarmType>CompositeAlarm</AlarmType>", "Alarm updated from OK to ALARM")
	e.ok("DeleteAlarms", "AlarmNames.member.1", "comp")
	e.ok("DeleteAlarms", "AlarmNames.member.1", "cpu-high")
}
