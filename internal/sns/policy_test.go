package sns

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/cloudwatch"
)

const acct = "111122223333"

func wantMessage(t *testing.T, err error, code, msg string) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) || se.Code != code || se.Message != msg {
		t.Fatalf("got %v, want %s: %s", err, code, msg)
	}
}

func topicPolicyOf(t *testing.T, e *env, arn string) string {
	t.Helper()
	a, err := e.sns.GetTopicAttributes(e.ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	return a["Policy"]
}

// A topic's policy is set by CreateTopic and SetTopicAttributes, shown by
// GetTopicAttributes, validated with AWS's errors, and survives a restart.
func TestTopicPolicySetValidateRestart(t *testing.T) {
	e := newEnv(t, fast)
	a, err := e.sns.CreateTopic(e.ctx, "a", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	def := topicPolicyOf(t, e, a)
	pol := `{"Version":"2012-10-17","Statement":[{"Sid":"pub","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"sns:Publish","Resource":"` + a + `"}]}`
	if err := e.sns.SetTopicAttribute(e.ctx, a, "Policy", pol); err != nil {
		t.Fatal(err)
	}
	if got := topicPolicyOf(t, e, a); got != pol {
		t.Fatalf("policy %s", got)
	}
	b, err := e.sns.CreateTopic(e.ctx, "b", map[string]string{"Policy": pol}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := topicPolicyOf(t, e, b); got != pol {
		t.Fatalf("created with %s", got)
	}
	// Creating it again with another policy is "different attributes", as for the others.
	_, err = e.sns.CreateTopic(e.ctx, "b", map[string]string{"Policy": def}, nil)
	wantCode(t, err, "InvalidParameter")

	for _, c := range []struct{ doc, msg string }{
		{`{`, "Invalid parameter: Policy Error: Syntax errors in policy."},
		{``, "Invalid parameter: Policy Error: null"},
		{`{"Statement":[{"Effect":"Allow","Action":"sns:Publish","Resource":"*"}]}`, "Invalid parameter: Policy Error: Policy statement must contain a principal."},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}`, "Invalid parameter: Policy statement action out of service scope!"},
		{`{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"sns:Publish","Resource":"*"}]}`, `Invalid parameter: Policy Error: Invalid effect: "Maybe".`},
	} {
		wantMessage(t, e.sns.SetTopicAttribute(e.ctx, a, "Policy", c.doc), "InvalidParameter", c.msg)
	}
	// 30 KB at most.
	big := `{"Id":"` + strings.Repeat("x", maxTopicPolicySize) + `","Statement":[{"Effect":"Allow","Principal":"*","Action":"sns:Publish","Resource":"*"}]}`
	err = e.sns.SetTopicAttribute(e.ctx, a, "Policy", big)
	wantCode(t, err, "InvalidParameter")
	if !strings.HasPrefix(err.(*Error).Message, "Invalid parameter: Policy Error: Policy size") {
		t.Fatal(err)
	}
	_, err = e.sns.CreateTopic(e.ctx, "c", map[string]string{"Policy": `{"Statement":[]}`}, nil)
	wantMessage(t, err, "InvalidParameter", "Invalid parameter: Policy Error: Policy document must contain at least one statement.")
	if got := topicPolicyOf(t, e, a); got != pol {
		t.Fatalf("a refused policy changed it: %s", got)
	}
	wantCode(t, e.sns.SetTopicAttribute(e.ctx, e.sns.topicARN("", "nope"), "Policy", pol), "NotFound")

	e.restart()
	if got := topicPolicyOf(t, e, a); got != pol {
		t.Fatalf("after restart %s", got)
	}
	if !e.sns.ServiceMayPublish(CloudWatchPrincipal, a, "") || e.sns.ServiceMayPublish(CloudTrailPrincipal, a, "") {
		t.Fatal("restored policy not enforced")
	}
}

// State written before policies existed (no "policy" member) means the default policy.
func TestTopicPolicyOldState(t *testing.T) {
	e := newEnv(t, fast)
	old := `{"format":"coffer-sns","version":1,"topics":{"arn:aws:sns:us-east-1:111122223333:old":{"arn":"arn:aws:sns:us-east-1:111122223333:old","name":"old","created":"2026-01-01T00:00:00Z"}},"subscriptions":{},"deliveries":{}}`
	if err := e.sns.Restore([]byte(old)); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:sns:us-east-1:111122223333:old"
	if got := topicPolicyOf(t, e, arn); got != e.sns.defaultTopicPolicy(arn) {
		t.Fatalf("%s", got)
	}
	if !e.sns.ServiceMayPublish(CloudTrailPrincipal, arn, "arn:aws:cloudtrail:us-east-1:111122223333:trail/t") {
		t.Fatal("the default policy refuses CloudTrail")
	}
}

type stmtJSON struct {
	Sid       string
	Effect    string
	Principal map[string]any
	Action    any
	Resource  string
}

func statements(t *testing.T, doc string) []stmtJSON {
	t.Helper()
	var p struct {
		Version   string
		Statement []stmtJSON
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	return p.Statement
}

// AddPermission appends a statement (Sid = Label) to the policy, the default one
// included; RemovePermission removes it.
func TestAddRemovePermission(t *testing.T) {
	e := newEnv(t, fast)
	arn, _ := e.sns.CreateTopic(e.ctx, "perm", nil, nil)
	if err := e.sns.AddPermission(e.ctx, arn, "pub", []string{"444455556666"}, []string{"Publish"}); err != nil {
		t.Fatal(err)
	}
	st := statements(t, topicPolicyOf(t, e, arn))
	if len(st) != 2 || st[0].Sid != "__default_statement_ID" || st[1].Sid != "pub" || st[1].Effect != "Allow" ||
		st[1].Principal["AWS"] != "arn:aws:iam::444455556666:root" || st[1].Action != "SNS:Publish" || st[1].Resource != arn {
		t.Fatalf("%+v", st)
	}
	if err := e.sns.AddPermission(e.ctx, arn, "two", []string{"444455556666", "777788889999"}, []string{"Subscribe", "GetTopicAttributes"}); err != nil {
		t.Fatal(err)
	}
	st = statements(t, topicPolicyOf(t, e, arn))
	if len(st) != 3 || len(st[2].Principal["AWS"].([]any)) != 2 || len(st[2].Action.([]any)) != 2 {
		t.Fatalf("%+v", st)
	}
	// Errors.
	wantMessage(t, e.sns.AddPermission(e.ctx, arn, "pub", []string{"444455556666"}, []string{"Publish"}), "InvalidParameter", "Invalid parameter: Statement already exists")
	wantMessage(t, e.sns.AddPermission(e.ctx, arn, "x", []string{"444455556666"}, []string{"CreateTopic"}), "InvalidParameter", "Invalid parameter: Policy statement action out of service scope!")
	wantMessage(t, e.sns.AddPermission(e.ctx, arn, "x", []string{"123"}, []string{"Publish"}), "InvalidParameter", "Invalid parameter: Policy Error: PrincipalNotFound")
	wantCode(t, e.sns.AddPermission(e.ctx, arn, "", []string{"444455556666"}, []string{"Publish"}), "InvalidParameter")
	wantCode(t, e.sns.AddPermission(e.ctx, arn, "x", nil, []string{"Publish"}), "InvalidParameter")
	wantCode(t, e.sns.AddPermission(e.ctx, e.sns.topicARN("", "nope"), "x", []string{"444455556666"}, []string{"Publish"}), "NotFound")

	if err := e.sns.RemovePermission(e.ctx, arn, "pub"); err != nil {
		t.Fatal(err)
	}
	st = statements(t, topicPolicyOf(t, e, arn))
	if len(st) != 2 || st[1].Sid != "two" {
		t.Fatalf("%+v", st)
	}
	// Removing the default statement leaves what was added: CloudWatch may not publish.
	if !e.sns.ServiceMayPublish(CloudWatchPrincipal, arn, "") {
		t.Fatal("default statement should allow CloudWatch")
	}
	if err := e.sns.RemovePermission(e.ctx, arn, "__default_statement_ID"); err != nil {
		t.Fatal(err)
	}
	if e.sns.ServiceMayPublish(CloudWatchPrincipal, arn, "") {
		t.Fatal("CloudWatch allowed without the default statement")
	}
	if err := e.sns.RemovePermission(e.ctx, arn, "two"); err != nil {
		t.Fatal(err)
	}
	if st := statements(t, topicPolicyOf(t, e, arn)); len(st) != 0 {
		t.Fatalf("%+v", st)
	}
	if p, found, err := e.sns.TopicPolicy(arn); !found || err != nil || p != nil {
		t.Fatalf("empty policy: %v %v %v", p, found, err)
	}
	// AddPermission cannot take the policy over 30 KB.
	var accts []string
	for i := range 1000 {
		accts = append(accts, fmt.Sprintf("%012d", i))
	}
	err := e.sns.AddPermission(e.ctx, arn, "many", accts, []string{"Publish"})
	wantCode(t, err, "InvalidParameter")
	if !strings.Contains(err.Error(), "exceeds the maximum of 30720 bytes") {
		t.Fatal(err)
	}
	// A label it does not have changes nothing.
	if err := e.sns.RemovePermission(e.ctx, arn, "gone"); err != nil {
		t.Fatal(err)
	}
	// The operations, through the query protocol.
	form := "TopicArn=" + arn + "&Label=q&AWSAccountId.member.1=444455556666&ActionName.member.1=Publish&ActionName.member.2=Subscribe"
	if _, err := opAddPermission(e.sns, e.ctx, Caller{}, []byte(form)); err != nil {
		t.Fatal(err)
	}
	if st := statements(t, topicPolicyOf(t, e, arn)); len(st) != 1 || st[0].Sid != "q" {
		t.Fatalf("%+v", st)
	}
	if _, err := opRemovePermission(e.sns, e.ctx, Caller{}, []byte("TopicArn="+arn+"&Label=q")); err != nil {
		t.Fatal(err)
	}
	if st := statements(t, topicPolicyOf(t, e, arn)); len(st) != 0 {
		t.Fatalf("%+v", st)
	}
}

// Coffer's publishers are service principals: the default policy lets them publish
// (AWS:SourceOwner is the account); a policy may allow one and not the other, or deny
// by aws:SourceArn. An alarm whose topic refuses CloudWatch records the failed action.
func TestServicePrincipalPublish(t *testing.T) {
	e := newEnv(t, fast)
	arn, _ := e.sns.CreateTopic(e.ctx, "svc", nil, nil)
	trailArn := "arn:aws:cloudtrail:us-east-1:" + acct + ":trail/t"
	for _, p := range []string{CloudWatchPrincipal, CloudTrailPrincipal} {
		if !e.sns.ServiceMayPublish(p, arn, "") {
			t.Fatalf("default policy refuses %s", p)
		}
	}
	pol := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"sns:Publish","Resource":"` + arn + `","Condition":{"StringEquals":{"aws:SourceArn":"` + trailArn + `"}}},
	 {"Effect":"Deny","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"sns:Publish","Resource":"*"}]}`
	if err := e.sns.SetTopicAttribute(e.ctx, arn, "Policy", pol); err != nil {
		t.Fatal(err)
	}
	tp := e.sns.ServicePublisher(CloudTrailPrincipal)
	if !tp.TopicExists(WithSourceArn(e.ctx, trailArn), arn) {
		t.Fatal("the trail of the condition is refused")
	}
	if tp.TopicExists(WithSourceArn(e.ctx, trailArn+"x"), arn) || tp.TopicExists(e.ctx, arn) {
		t.Fatal("another trail is allowed")
	}
	if tp.TopicExists(WithSourceArn(e.ctx, trailArn), e.sns.topicARN("", "nope")) {
		t.Fatal("a missing topic exists")
	}
	err := tp.Publish(WithSourceArn(e.ctx, trailArn+"x"), arn, "{}")
	wantCode(t, err, "AuthorizationError")
	if m := err.(*Error).Message; !strings.HasSuffix(m, arn+" because no resource-based policy allows the SNS:Publish action") {
		t.Fatalf("implicit deny: %s", m)
	}
	if err := tp.Publish(WithSourceArn(e.ctx, trailArn), arn, "{}"); err != nil {
		t.Fatal(err)
	}

	// The alarm: its action fails, and the history says why.
	sub := newSubscriber(t, nil)
	e.subscribeConfirmed(arn, sub)
	zero := 0.0
	if err := e.cw.PutMetricAlarm(e.ctx, cloudwatch.PutMetricAlarmInput{AlarmName: "hot", Namespace: "N", MetricName: "M",
		Statistic: "Sum", Period: 60, EvaluationPeriods: 1, Threshold: &zero, ComparisonOperator: "GreaterThanThreshold",
		AlarmActions: []string{arn}}); err != nil {
		t.Fatal(err)
	}
	err = e.cw.SetAlarmState(e.ctx, "hot", "ALARM", "test", "")
	var pd *PolicyDeniedError
	if !errors.As(err, &pd) {
		t.Fatalf("SetAlarmState: %v", err)
	}
	hist, _, err := e.cw.DescribeAlarmHistory(e.ctx, cloudwatch.DescribeAlarmHistoryInput{AlarmName: "hot", HistoryItemType: "Action"})
	if err != nil {
		t.Fatal(err)
	}
	alarmArn := "arn:aws:cloudwatch:us-east-1:" + acct + ":alarm:hot"
	want := "Failed to execute action " + arn + `. Received error: "Resource: ` + alarmArn + " is not authorized to perform: SNS:Publish on resource: " + arn + ` with an explicit deny in a resource-based policy"`
	if len(hist) != 1 || hist[0].HistorySummary != want {
		t.Fatalf("history %+v, want %q", hist, want)
	}
	time.Sleep(50 * time.Millisecond)
	for _, m := range sub.messages() {
		if strings.Contains(m, `"AlarmName":"hot"`) {
			t.Fatal("the alarm notification was delivered")
		}
	}
}
