package main

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/cloudwatch"
)

// TestCloudWatchAlarmScopedPolicy: CloudWatch requests are decided on the alarms they
// name: a Deny scoped to alarm:critical-* refuses DeleteAlarms naming such an alarm
// (with any other: all must be allowed, and none is deleted) and SetAlarmState of it,
// not those of other alarms; an Allow scoped to one alarm allows only that alarm.
func TestCloudWatchAlarmScopedPolicy(t *testing.T) {
	const acct = testAccount
	cw := cloudwatch.New(cloudwatch.Config{Region: "us-east-1", AccountID: acct})
	svc, store, run := iamTestService(t, cw)
	cw.Attach(store)
	ctx := context.Background()
	alarm := func(region, name string) string {
		return "arn:aws:cloudwatch:" + region + ":" + acct + ":alarm:" + name
	}
	run("CreateUser", "UserName=ops")
	run("PutUserPolicy", "UserName=ops&PolicyName=p&PolicyDocument="+url.QueryEscape(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"cloudwatch:*","Resource":"*"},
		{"Effect":"Deny","Action":["cloudwatch:DeleteAlarms","cloudwatch:SetAlarmState"],"Resource":"`+alarm("eu-west-1", "critical-*")+`"}]}`))
	run("CreateUser", "UserName=tagged")
	run("PutUserPolicy", "UserName=tagged&PolicyName=p&PolicyDocument="+url.QueryEscape(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"cloudwatch:SetAlarmState","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"web"}}}]}`))
	run("CreateUser", "UserName=narrow")
	run("PutUserPolicy", "UserName=narrow&PolicyName=p&PolicyDocument="+url.QueryEscape(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"cloudwatch:SetAlarmState","Resource":"`+alarm("eu-west-1", "mine")+`"}]}`))

	one := 1.0
	for _, n := range []string{"critical-db", "web", "mine"} {
		if err := cw.PutMetricAlarm(ctx, cloudwatch.PutMetricAlarmInput{Region: "eu-west-1", AlarmName: n, MetricName: "m", Namespace: "n",
			Statistic: "Average", Period: 60, EvaluationPeriods: 1, Threshold: &one, ComparisonOperator: "GreaterThanThreshold"}); err != nil {
			t.Fatal(err)
		}
	}
	handlers := cloudwatchQueryService(cw, &identityAuthorizer{iam: svc, now: time.Now}).Operations
	call := func(user, region, op, body string) error {
		t.Helper()
		_, err := handlers[op](ctx, &awsproto.Call{Operation: op, Principal: testUser(user), Region: region, Body: []byte(body), Query: true})
		return err
	}
	denied := func(err error, res string) {
		t.Helper()
		var ae *awsproto.Error
		if !errors.As(err, &ae) || ae.Code != "AccessDenied" || ae.Status != 403 || !strings.Contains(ae.Message, "on resource: "+res+" ") {
			t.Fatalf("got %v, want AccessDenied on %s", err, res)
		}
	}
	exists := func(name string) bool {
		t.Helper()
		l, _, err := cw.DescribeAlarms(ctx, cloudwatch.DescribeAlarmsInput{Region: "eu-west-1", AlarmNames: []string{name}})
		if err != nil {
			t.Fatal(err)
		}
		return len(l) == 1
	}
	denied(call("ops", "eu-west-1", "SetAlarmState", "AlarmName=critical-db&StateValue=ALARM&StateReason=x"), alarm("eu-west-1", "critical-db"))
	denied(call("ops", "eu-west-1", "DeleteAlarms", "AlarmNames.member.1=web&AlarmNames.member.2=critical-db"), alarm("eu-west-1", "critical-db"))
	if !exists("web") || !exists("critical-db") {
		t.Fatal("a refused DeleteAlarms deleted alarms")
	}
	if err := call("ops", "eu-west-1", "SetAlarmState", "AlarmName=web&StateValue=ALARM&StateReason=x"); err != nil {
		t.Fatal(err)
	}
	// The statement names eu-west-1's alarms: the name in us-east-1 is another alarm
	// (that does not exist there, the service says so).
	if err := call("ops", "us-east-1", "DeleteAlarms", "AlarmNames.member.1=critical-db"); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Fatalf("DeleteAlarms in us-east-1: %v, want ResourceNotFound", err)
	}
	if err := call("ops", "eu-west-1", "DeleteAlarms", "AlarmNames.member.1=web"); err != nil {
		t.Fatal(err)
	}
	if exists("web") || !exists("critical-db") {
		t.Fatal("DeleteAlarms of web: not deleted, or critical-db deleted")
	}
	if err := call("narrow", "eu-west-1", "SetAlarmState", "AlarmName=mine&StateValue=ALARM&StateReason=x"); err != nil {
		t.Fatal(err)
	}
	denied(call("narrow", "eu-west-1", "SetAlarmState", "AlarmName=critical-db&StateValue=ALARM&StateReason=x"), alarm("eu-west-1", "critical-db"))
	denied(call("narrow", "us-east-1", "SetAlarmState", "AlarmName=mine&StateValue=ALARM&StateReason=x"), alarm("us-east-1", "mine"))
	denied(call("narrow", "eu-west-1", "ListMetrics", ""), "*")

	// aws:ResourceTag/<key> is the alarm's tag.
	if err := call("ops", "eu-west-1", "TagResource", "ResourceARN="+url.QueryEscape(alarm("eu-west-1", "mine"))+"&Tags.member.1.Key=team&Tags.member.1.Value=web"); err != nil {
		t.Fatal(err)
	}
	if err := call("tagged", "eu-west-1", "SetAlarmState", "AlarmName=mine&StateValue=OK&StateReason=x"); err != nil {
		t.Fatal(err)
	}
	denied(call("tagged", "eu-west-1", "SetAlarmState", "AlarmName=critical-db&StateValue=OK&StateReason=x"), alarm("eu-west-1", "critical-db"))
}
