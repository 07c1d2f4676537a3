package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// TestCWCompositeAlarm: "notify when failed-admin-logins OR key-usage-spike is in ALARM".
// Two metric alarms without actions and a composite alarm on them with an SNS topic and
// an HTTP subscriber on loopback, with Debian's AWS CLI (query protocol): one child set
// to ALARM puts the composite in ALARM and the subscriber has its notification.
func TestCWCompositeAlarm(t *testing.T) {
	t.Parallel() // independent node
	s, root := debianCLINode(t)
	topicArn, alarmNote := httpSubscriber(t, s, root, "composite-alarms")

	for _, a := range []struct{ name, metric string }{{"failed-admin-logins", "FailedLoginCount"}, {"key-usage-spike", "KeyUsageCount"}} {
		awsOK(t, s, root, nil, "cloudwatch", "put-metric-alarm", "--alarm-name", a.name,
			"--namespace", "E2E/Composite", "--metric-name", a.metric, "--statistic", "Sum", "--period", "60",
			"--threshold", "100", "--comparison-operator", "GreaterThanOrEqualToThreshold", "--evaluation-periods", "1",
			"--treat-missing-data", "ignore")
	}
	// An alarm the rule does not know, and a syntax error: AWS's errors.
	_, errOut, ok := awsAs(t, s, root, "cloudwatch", "put-composite-alarm", "--alarm-name", "sec", "--alarm-rule", "ALARM(failed-admin-logins) OR ALARM(nope)")
	if ok || !strings.Contains(errOut, "ValidationError") || !strings.Contains(errOut, "Could not save the composite alarm as alarms [nope] in the alarm rule do not exist") {
		t.Fatalf("unknown child: %v %s", ok, errOut)
	}
	if _, errOut, ok := awsAs(t, s, root, "cloudwatch", "put-composite-alarm", "--alarm-name", "sec", "--alarm-rule", "ALARM(failed-admin-logins) OR"); ok || !strings.Contains(errOut, "ValidationError") {
		t.Fatalf("syntax error: %v %s", ok, errOut)
	}

	awsOK(t, s, root, nil, "cloudwatch", "put-composite-alarm", "--alarm-name", "sec",
		"--alarm-rule", `ALARM("failed-admin-logins") OR ALARM(key-usage-spike)`, "--alarm-description", "security",
		"--alarm-actions", topicArn, "--tags", "Key=team,Value=sec")

	type composite struct {
		AlarmName, AlarmArn, AlarmRule, AlarmDescription, StateValue, StateReason, StateReasonData string
		ActionsEnabled                                                                             bool
		AlarmActions                                                                               []string
		StateUpdatedTimestamp, StateTransitionedTimestamp, AlarmConfigurationUpdatedTimestamp      string
	}
	var desc struct {
		MetricAlarms    []struct{ AlarmName string }
		CompositeAlarms []composite
	}
	awsOK(t, s, root, &desc, "cloudwatch", "describe-alarms", "--alarm-types", "CompositeAlarm")
	if len(desc.MetricAlarms) != 0 || len(desc.CompositeAlarms) != 1 {
		t.Fatalf("describe-alarms --alarm-types CompositeAlarm: %+v", desc)
	}
	c := desc.CompositeAlarms[0]
	if c.AlarmName != "sec" || c.StateValue != "OK" || !c.ActionsEnabled || c.AlarmDescription != "security" ||
		c.AlarmRule != `ALARM("failed-admin-logins") OR ALARM(key-usage-spike)` || len(c.AlarmActions) != 1 || c.AlarmActions[0] != topicArn ||
		c.StateTransitionedTimestamp == "" || c.AlarmConfigurationUpdatedTimestamp == "" {
		t.Fatalf("composite: %+v", c)
	}
	// The default (no --alarm-types) is metric alarms only.
	desc.CompositeAlarms, desc.MetricAlarms = nil, nil
	awsOK(t, s, root, &desc, "cloudwatch", "describe-alarms")
	if len(desc.MetricAlarms) != 2 || len(desc.CompositeAlarms) != 0 {
		t.Fatalf("describe-alarms: %+v", desc)
	}

	awsOK(t, s, root, nil, "cloudwatch", "set-alarm-state", "--alarm-name", "key-usage-spike", "--state-value", "ALARM", "--state-reason", "e2e")
	// No waiting: the composite's notification is delivered before set-alarm-state answers.
	note := alarmNote()
	if note == nil {
		t.Fatal("no ALARM notification of the composite alarm")
	}
	arn, _ := note["AlarmArn"].(string)
	if !strings.HasPrefix(arn, "arn:aws:cloudwatch:us-east-1:") || !strings.HasSuffix(arn, ":alarm:sec") {
		t.Fatalf("notification AlarmArn: %+v", note)
	}
	childArn := strings.TrimSuffix(arn, "sec") + "key-usage-spike"
	kids, _ := note["TriggeringChildren"].([]any)
	if note["AlarmName"] != "sec" || note["AlarmRule"] != c.AlarmRule || note["OldStateValue"] != "OK" || len(kids) != 1 ||
		kids[0].(map[string]any)["Arn"] != childArn || note["Trigger"] != nil ||
		!strings.HasPrefix(note["NewStateReason"].(string), childArn+" transitioned to ALARM at ") {
		t.Fatalf("notification: %+v", note)
	}

	desc.CompositeAlarms = nil
	awsOK(t, s, root, &desc, "cloudwatch", "describe-alarms", "--alarm-types", "CompositeAlarm", "--alarm-names", "sec")
	if len(desc.CompositeAlarms) != 1 || desc.CompositeAlarms[0].StateValue != "ALARM" ||
		!strings.Contains(desc.CompositeAlarms[0].StateReasonData, `"triggeringAlarms"`) {
		t.Fatalf("after a child ALARM: %+v", desc)
	}
	var fam struct {
		MetricAlarms    []struct{ AlarmName string }
		CompositeAlarms []struct{ AlarmName string }
	}
	awsOK(t, s, root, &fam, "cloudwatch", "describe-alarms", "--children-of-alarm-name", "sec")
	if len(fam.MetricAlarms) != 2 {
		t.Fatalf("children of sec: %+v", fam)
	}
	fam.MetricAlarms, fam.CompositeAlarms = nil, nil
	awsOK(t, s, root, &fam, "cloudwatch", "describe-alarms", "--parents-of-alarm-name", "failed-admin-logins", "--alarm-types", "CompositeAlarm")
	if len(fam.CompositeAlarms) != 1 || fam.CompositeAlarms[0].AlarmName != "sec" {
		t.Fatalf("parents of failed-admin-logins: %+v", fam)
	}

	var hist struct {
		AlarmHistoryItems []struct{ AlarmType, HistoryItemType, HistorySummary string }
	}
	awsOK(t, s, root, &hist, "cloudwatch", "describe-alarm-history", "--alarm-name", "sec", "--alarm-types", "CompositeAlarm",
		"--history-item-type", "StateUpdate")
	if len(hist.AlarmHistoryItems) != 2 || hist.AlarmHistoryItems[0].HistorySummary != "Alarm updated from OK to ALARM" ||
		hist.AlarmHistoryItems[0].AlarmType != "CompositeAlarm" {
		t.Fatalf("history: %+v", hist)
	}

	// A child with a parent cannot be deleted; the composite, then its children, can.
	if _, errOut, ok := awsAs(t, s, root, "cloudwatch", "delete-alarms", "--alarm-names", "key-usage-spike"); ok ||
		!strings.Contains(errOut, "Cannot delete key-usage-spike as there are composite alarm(s) depending on it.") {
		t.Fatalf("delete a child: %v %s", ok, errOut)
	}
	var tags struct{ Tags []struct{ Key, Value string } }
	awsOK(t, s, root, &tags, "cloudwatch", "list-tags-for-resource", "--resource-arn", arn)
	if len(tags.Tags) != 1 || tags.Tags[0].Key != "team" {
		t.Fatalf("tags: %+v", tags)
	}
	awsOK(t, s, root, nil, "cloudwatch", "delete-alarms", "--alarm-names", "sec")
	awsOK(t, s, root, nil, "cloudwatch", "delete-alarms", "--alarm-names", "key-usage-spike", "failed-admin-logins")
}

// TestCWCompositeAlarmProtocols: PutCompositeAlarm and DescribeAlarms' CompositeAlarms
// through aws-sdk-go-v2 (RPC v2 CBOR) and the aws CLI v1 (JSON 1.0).
func TestCWCompositeAlarmProtocols(t *testing.T) {
	t.Parallel() // independent node
	s := startServer(t, "", nil)
	dc := s.creds()
	spies := map[string]*protoSpy{"json": newProtoSpy(t, s.url), "cbor": newProtoSpy(t, s.url)}

	sdk := cloudwatch.New(cloudwatch.Options{Region: "us-east-1", BaseEndpoint: aws.String(spies["cbor"].srv.URL), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey, Source: "e2e"}, nil
		})})
	for _, n := range []string{"child-a", "child-b"} {
		if _, err := sdk.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(n), Namespace: aws.String("E2E/Composite"),
			MetricName: aws.String(n), Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
			Threshold: aws.Float64(1), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("ignore")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sdk.PutCompositeAlarm(ctx, &cloudwatch.PutCompositeAlarmInput{AlarmName: aws.String("comp-cbor"),
		AlarmRule: aws.String("ALARM(child-a) AND NOT ALARM(child-b)"), ActionsEnabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	_, err := sdk.PutCompositeAlarm(ctx, &cloudwatch.PutCompositeAlarmInput{AlarmName: aws.String("bad"), AlarmRule: aws.String("ALARM(gone)")})
	if errCode(err) != "ValidationError" {
		t.Errorf("unknown child through CBOR: %v", err)
	}
	if _, err := sdk.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("child-a"), StateValue: cwtypes.StateValueAlarm,
		StateReason: aws.String("e2e")}); err != nil {
		t.Fatal(err)
	}
	out, err := sdk.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeCompositeAlarm}})
	if err != nil || len(out.CompositeAlarms) != 1 || len(out.MetricAlarms) != 0 {
		t.Fatalf("DescribeAlarms: %+v %v", out, err)
	}
	c := out.CompositeAlarms[0]
	if aws.ToString(c.AlarmName) != "comp-cbor" || c.StateValue != cwtypes.StateValueAlarm || aws.ToBool(c.ActionsEnabled) ||
		aws.ToString(c.AlarmRule) != "ALARM(child-a) AND NOT ALARM(child-b)" || c.StateTransitionedTimestamp == nil ||
		!strings.Contains(aws.ToString(c.StateReason), ":alarm:child-a transitioned to ALARM at ") {
		t.Fatalf("composite through CBOR: %+v", c)
	}

	v1 := awsCLIs(t)["v1"]
	if v1 == "" {
		t.Log("no aws-cli v1 on PATH: JSON 1.0 not tested")
	} else {
		cli := &cliClient{bin: v1, endpoint: spies["json"].srv.URL, creds: dc}
		if err := cli.run(nil, "put-composite-alarm", "--alarm-name", "comp-json", "--alarm-rule", `OK("child-b")`); err != nil {
			t.Fatal(err)
		}
		var desc struct {
			CompositeAlarms []struct{ AlarmName, AlarmRule, StateValue string }
		}
		if err := cli.run(&desc, "describe-alarms", "--alarm-types", "CompositeAlarm", "--alarm-names", "comp-json"); err != nil ||
			len(desc.CompositeAlarms) != 1 || desc.CompositeAlarms[0].AlarmRule != `OK("child-b")` {
			t.Fatalf("describe-alarms through JSON 1.0: %+v %v", desc, err)
		}
		// child-b has not been evaluated (INSUFFICIENT_DATA): OK(child-b) is FALSE.
		if desc.CompositeAlarms[0].StateValue != "OK" {
			t.Errorf("comp-json: %+v", desc.CompositeAlarms[0])
		}
		if err := cli.run(nil, "put-composite-alarm", "--alarm-name", "comp-json", "--alarm-rule", "ALARM(comp-json)"); errCode(err) != "ValidationError" {
			t.Errorf("self reference through JSON 1.0: %v", err)
		}
		if k := spies["json"].seen(); len(k) != 1 || k["json-1.0"] == 0 {
			t.Errorf("v1 client's requests: %v", k)
		}
	}
	if k := spies["cbor"].seen(); len(k) != 1 || k["rpc-v2-cbor"] == 0 {
		t.Errorf("SDK's requests: %v", k)
	}
}
