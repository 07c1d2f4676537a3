package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// TestCWTrailResourceAuthz: CloudWatch and CloudTrail requests of an IAM user are decided
// on the alarms and trails they name, as AWS decides them. A Deny scoped to
// alarm:critical-* refuses Debian's `aws cloudwatch set-alarm-state` and `delete-alarms`
// (query protocol) of critical-db, and aws-sdk-go-v2's DeleteAlarms (CBOR), with
// CloudWatch's 403 AccessDenied naming the alarm, and deletes nothing when another named
// alarm is allowed; the other alarm is set and deleted. An Allow of cloudtrail:StopLogging
// scoped to one trail lets the user stop that trail (by name with Debian's aws, by ARN with
// aws-sdk-go-v2) and not another (AccessDeniedException).
func TestCWTrailResourceAuthz(t *testing.T) {
	t.Parallel()
	s, root := debianCLINode(t)
	const acct = "111122223333"
	alarmARN := func(n string) string { return "arn:aws:cloudwatch:us-east-1:" + acct + ":alarm:" + n }
	trailARN := func(n string) string { return "arn:aws:cloudtrail:us-east-1:" + acct + ":trail/" + n }
	user, userArn := sdkNewIAMUser(t, s, root, "operator")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "operator", "PolicyName", "p", "PolicyDocument",
		`{"Version":"2012-10-17","Statement":[`+
			`{"Effect":"Allow","Action":"cloudwatch:*","Resource":"*"},`+
			`{"Effect":"Deny","Action":["cloudwatch:DeleteAlarms","cloudwatch:SetAlarmState"],"Resource":"`+alarmARN("critical-*")+`"},`+
			`{"Effect":"Allow","Action":"cloudtrail:StopLogging","Resource":"`+trailARN("allowed-trail")+`"}]}`)
	rootCW, rootCT := s.cloudwatchClient(), s.cloudtrailClient()
	for _, n := range []string{"critical-db", "web"} {
		if _, err := rootCW.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(n), Namespace: aws.String("E2E"),
			MetricName: aws.String("Errors"), Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), Threshold: aws.Float64(0),
			ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, EvaluationPeriods: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	alarms := func() int {
		t.Helper()
		out, err := rootCW.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"critical-db", "web"}})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.MetricAlarms)
	}
	refused := func(errOut, code, res string) {
		t.Helper()
		want := "(" + code + ") when calling"
		if !strings.Contains(errOut, want) || !strings.Contains(errOut, "User: "+userArn+" is not authorized to perform: ") ||
			!strings.Contains(errOut, " on resource: "+res+" ") {
			t.Fatalf("got %q, want %s on %s", errOut, code, res)
		}
	}

	// Debian's aws (query protocol).
	_, errOut, ok := awsAs(t, s, user, "cloudwatch", "set-alarm-state", "--alarm-name", "critical-db", "--state-value", "ALARM", "--state-reason", "e2e")
	if ok {
		t.Fatal("set-alarm-state of critical-db was allowed")
	}
	refused(errOut, "AccessDenied", alarmARN("critical-db"))
	_, errOut, ok = awsAs(t, s, user, "cloudwatch", "delete-alarms", "--alarm-names", "web", "critical-db")
	if ok {
		t.Fatal("delete-alarms of web and critical-db was allowed")
	}
	refused(errOut, "AccessDenied", alarmARN("critical-db"))
	if n := alarms(); n != 2 {
		t.Fatalf("a refused delete-alarms deleted alarms: %d left", n)
	}
	awsOK(t, s, user, nil, "cloudwatch", "set-alarm-state", "--alarm-name", "web", "--state-value", "ALARM", "--state-reason", "e2e")

	// aws-sdk-go-v2 (Smithy RPC v2 CBOR).
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: user.AccessKeyID, SecretAccessKey: user.SecretAccessKey, Source: "e2e"}, nil
	})
	cw := cloudwatch.New(cloudwatch.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), RetryMaxAttempts: 1, HTTPClient: s.httpClient(), Credentials: creds})
	_, err := cw.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{"critical-db"}})
	wantAPIError(t, err, "AccessDenied")
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden || !strings.Contains(err.Error(), "on resource: "+alarmARN("critical-db")+" ") {
		t.Fatalf("DeleteAlarms of critical-db: %v, want 403 naming the alarm", err)
	}
	if _, err := cw.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{"web"}}); err != nil {
		t.Fatalf("DeleteAlarms of web: %v", err)
	}
	if n := alarms(); n != 1 {
		t.Fatalf("after deleting web: %d alarms, want critical-db alone", n)
	}

	// CloudTrail: the Allow names one trail.
	for _, n := range []string{"allowed-trail", "other-trail"} {
		if _, err := rootCT.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(n), S3BucketName: aws.String("authz-bucket")}); err != nil {
			t.Fatal(err)
		}
		if _, err := rootCT.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	_, errOut, ok = awsAs(t, s, user, "cloudtrail", "stop-logging", "--name", "other-trail")
	if ok {
		t.Fatal("stop-logging of other-trail was allowed")
	}
	refused(errOut, "AccessDeniedException", trailARN("other-trail"))
	awsOK(t, s, user, nil, "cloudtrail", "stop-logging", "--name", "allowed-trail")
	ct := cloudtrail.New(cloudtrail.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), RetryMaxAttempts: 1, HTTPClient: s.httpClient(), Credentials: creds})
	_, err = ct.StopLogging(ctx, &cloudtrail.StopLoggingInput{Name: aws.String(trailARN("other-trail"))})
	wantAPIError(t, err, "AccessDeniedException")
	if _, err := ct.StopLogging(ctx, &cloudtrail.StopLoggingInput{Name: aws.String(trailARN("allowed-trail"))}); err != nil {
		t.Fatalf("StopLogging of allowed-trail by ARN: %v", err)
	}
	for n, want := range map[string]bool{"allowed-trail": false, "other-trail": true} {
		st, err := rootCT.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(n)})
		if err != nil || aws.ToBool(st.IsLogging) != want {
			t.Fatalf("%s: %v, IsLogging %v, want %v", n, err, st, want)
		}
	}
}
