package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// conformanceCLI runs an AWS CLI binary against s in region as the account root.
func conformanceCLI(t *testing.T, s *server, bin, region string, args ...string) (string, string, bool) {
	t.Helper()
	c := s.rootAWS()
	cmd := exec.Command(bin, append([]string{"--endpoint-url", s.url, "--region", region, "--output", "json"}, args...)...)
	cmd.Env = append(s.environ(), "AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err == nil
}

// Both AWS CLIs show CloudTrail's own InvalidTrailNameException messages, one per rule.
func TestTrailConformanceNameMessages(t *testing.T) {
	t.Parallel() // independent node
	clis := awsCLIs(t)
	if len(clis) == 0 {
		t.Skip("no AWS CLI installed (make deps installs Debian's awscli)")
	}
	s := startServer(t, "", nil)
	for cli, bin := range clis {
		for name, msg := range map[string]string{
			"ab":                     "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters.",
			strings.Repeat("a", 129): "Trail name too long. Maximum allowed length: 128 characters. Specified name length: 129 characters.",
			"_trail":                 "Trail name must starts with a letter or number.",
			"trail-":                 "Trail name must ends with a letter or number.",
			"my#trail":               "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).",
			"my-_namespace":          "Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_).",
			"10.0.0.1":               "Trail name cannot be formatted as an IP address.",
		} {
			_, stderr, ok := conformanceCLI(t, s, bin, "us-east-1", "cloudtrail", "create-trail", "--name", name, "--s3-bucket-name", "trail-bucket")
			if ok || !strings.Contains(stderr, "(InvalidTrailNameException)") || !strings.Contains(stderr, msg) {
				t.Errorf("%s create-trail --name %.20s: ok=%v\n%s\nwant %q", cli, name, ok, stderr, msg)
			}
		}
		_, stderr, ok := conformanceCLI(t, s, bin, "us-east-1", "cloudtrail", "get-trail-status", "--name", "ab")
		if ok || !strings.Contains(stderr, "(InvalidTrailNameException)") || !strings.Contains(stderr, "Trail name too short.") {
			t.Errorf("%s get-trail-status --name ab: ok=%v\n%s", cli, ok, stderr)
		}
	}
	// Nothing was made by the refused requests.
	var list struct{ Trails []any }
	sweepOK(t, s, "us-east-1", &list, "cloudtrail", "list-trails")
	if len(list.Trails) != 0 {
		t.Errorf("list-trails after refused create-trails: %+v", list.Trails)
	}
}

// In another region a multi-region trail's shadow is described and its status read only
// by its ARN, as AWS documents for DescribeTrails' trailNameList and GetTrailStatus (Debian's
// AWS CLI).
func TestTrailConformanceShadowByARN(t *testing.T) {
	t.Parallel() // independent node
	s := startServer(t, "", nil)
	var created struct{ TrailARN string }
	sweepOK(t, s, "us-east-1", &created, "cloudtrail", "create-trail", "--name", "everywhere", "--s3-bucket-name", "trail-bucket", "--is-multi-region-trail")
	sweepOK(t, s, "us-east-1", nil, "cloudtrail", "start-logging", "--name", "everywhere")
	sweepOK(t, s, "eu-west-1", nil, "cloudtrail", "create-trail", "--name", "local-eu", "--s3-bucket-name", "trail-bucket")

	type described struct {
		TrailList []struct{ Name, HomeRegion, TrailARN string }
	}
	var byName, byARN, all described
	sweepOK(t, s, "eu-west-1", &byName, "cloudtrail", "describe-trails", "--trail-name-list", "everywhere", "local-eu")
	if len(byName.TrailList) != 1 || byName.TrailList[0].Name != "local-eu" {
		t.Errorf("describe-trails by names in eu-west-1: %+v, want only local-eu", byName.TrailList)
	}
	sweepOK(t, s, "eu-west-1", &byARN, "cloudtrail", "describe-trails", "--trail-name-list", created.TrailARN)
	if len(byARN.TrailList) != 1 || byARN.TrailList[0].HomeRegion != "us-east-1" {
		t.Errorf("describe-trails by the shadow's ARN: %+v", byARN.TrailList)
	}
	sweepOK(t, s, "eu-west-1", &all, "cloudtrail", "describe-trails")
	if len(all.TrailList) != 2 {
		t.Errorf("describe-trails in eu-west-1: %+v, want the local trail and the shadow", all.TrailList)
	}

	_, stderr, _ := sweepAWS(t, s, "eu-west-1", "cloudtrail", "get-trail-status", "--name", "everywhere")
	if !strings.Contains(stderr, "(TrailNotFoundException)") || !strings.Contains(stderr, "arn:aws:cloudtrail:eu-west-1:") {
		t.Errorf("get-trail-status of the shadow by name: %s", stderr)
	}
	var st struct{ IsLogging bool }
	sweepOK(t, s, "eu-west-1", &st, "cloudtrail", "get-trail-status", "--name", created.TrailARN)
	if !st.IsLogging {
		t.Errorf("get-trail-status of the shadow by ARN: %+v", st)
	}
	sweepOK(t, s, "us-east-1", &st, "cloudtrail", "get-trail-status", "--name", "everywhere")
	if !st.IsLogging {
		t.Errorf("get-trail-status by name in the home region: %+v", st)
	}

	// A trail of us-east-1 named like eu-west-1's cannot become multi-region: its shadow
	// would take a name already used there.
	sweepOK(t, s, "us-east-1", nil, "cloudtrail", "create-trail", "--name", "local-eu", "--s3-bucket-name", "trail-bucket")
	sweepFails(t, s, "us-east-1", "TrailAlreadyExistsException", "cloudtrail", "update-trail", "--name", "local-eu", "--is-multi-region-trail")
	var one struct {
		TrailList []struct{ Name, HomeRegion string }
	}
	sweepOK(t, s, "eu-west-1", &one, "cloudtrail", "describe-trails", "--trail-name-list", "local-eu")
	if len(one.TrailList) != 1 || one.TrailList[0].HomeRegion != "eu-west-1" {
		t.Errorf("describe-trails local-eu in eu-west-1: %+v", one.TrailList)
	}
}

// Tags outside CloudTrail's alphabet and aws: keys are InvalidTagParameterException and
// change nothing; a KMS key of another region is KmsKeyNotFoundException (aws-sdk-go-v2).
func TestTrailConformanceTagsAndKMSRegion(t *testing.T) {
	t.Parallel() // independent node
	s := startServer(t, "", nil)
	ctx := context.Background()
	ct := s.cloudtrailClient()
	created, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("tagged"), S3BucketName: aws.String("trail-bucket"),
		TagsList: []cttypes.Tag{{Key: aws.String("team"), Value: aws.String("sec ops")}}})
	if err != nil {
		t.Fatal(err)
	}
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return ""
	}
	for _, tag := range []cttypes.Tag{
		{Key: aws.String("aws:cloudformation:stack-name"), Value: aws.String("x")},
		{Key: aws.String("cost#center"), Value: aws.String("1")},
		{Key: aws.String("owner"), Value: aws.String("a<b>")},
	} {
		_, err := ct.AddTags(ctx, &cloudtrail.AddTagsInput{ResourceId: created.TrailARN, TagsList: []cttypes.Tag{tag}})
		if code(err) != "InvalidTagParameterException" {
			t.Errorf("AddTags %s=%s: %v", *tag.Key, *tag.Value, err)
		}
		_, err = ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("other"), S3BucketName: aws.String("trail-bucket"), TagsList: []cttypes.Tag{tag}})
		if code(err) != "InvalidTagParameterException" {
			t.Errorf("CreateTrail with tag %s=%s: %v", *tag.Key, *tag.Value, err)
		}
	}
	if _, err := ct.AddTags(ctx, &cloudtrail.AddTagsInput{ResourceId: created.TrailARN,
		TagsList: []cttypes.Tag{{Key: aws.String("cost-center:eu/1"), Value: aws.String("a=b+c@d")}}}); err != nil {
		t.Errorf("AddTags with the allowed punctuation: %v", err)
	}
	tags, err := ct.ListTags(ctx, &cloudtrail.ListTagsInput{ResourceIdList: []string{*created.TrailARN}})
	if err != nil || len(tags.ResourceTagList) != 1 || len(tags.ResourceTagList[0].TagsList) != 2 {
		t.Fatalf("ListTags: %v %+v", err, tags)
	}

	// A key of us-west-2 for a us-east-1 trail, by ARN, is refused; an alias of a us-east-1 key works.
	west := kms.New(kms.Options{Region: "us-west-2", BaseEndpoint: aws.String(s.url), Credentials: ct.Options().Credentials, RetryMaxAttempts: 1})
	wk, err := west.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ct.UpdateTrail(ctx, &cloudtrail.UpdateTrailInput{Name: aws.String("tagged"), KmsKeyId: wk.KeyMetadata.Arn})
	if code(err) != "KmsKeyNotFoundException" {
		t.Errorf("UpdateTrail with a us-west-2 key: %v", err)
	}
	_, err = ct.UpdateTrail(ctx, &cloudtrail.UpdateTrailInput{Name: aws.String("tagged"),
		KmsKeyId: aws.String(strings.Replace(*wk.KeyMetadata.Arn, ":key/", ":keys/", 1))})
	if code(err) != "InvalidKmsKeyIdException" {
		t.Errorf("UpdateTrail with an ARN that is no key's: %v", err)
	}
	east := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), Credentials: ct.Options().Credentials, RetryMaxAttempts: 1})
	ek, err := east.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/trail-key"), TargetKeyId: ek.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	up, err := ct.UpdateTrail(ctx, &cloudtrail.UpdateTrailInput{Name: aws.String("tagged"), KmsKeyId: aws.String("alias/trail-key")})
	if err != nil || aws.ToString(up.KmsKeyId) != *ek.KeyMetadata.Arn {
		t.Errorf("UpdateTrail with a us-east-1 alias: %v %+v", err, up)
	}
}

// LookupEvents' Username is the account root's "root", an IAM user's name and an assumed
// role's session name, each found by a Username lookup, with the caller's AccessKeyId, the
// key as the event's Resources and the full record in CloudTrailEvent (aws-sdk-go-v2).
func TestTrailConformanceLookupUsernames(t *testing.T) {
	t.Parallel() // independent node
	s := startServer(t, "", nil)
	root := s.rootAWS()
	acct := sdkAccount(t, s, root)
	key, err := s.kmsAs(root).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("lookup")})
	if err != nil {
		t.Fatal(err)
	}
	keyArn := aws.ToString(key.KeyMetadata.Arn)
	if _, err := s.kmsAs(root).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyArn}); err != nil {
		t.Fatal(err)
	}
	alice, aliceArn := sdkNewIAMUser(t, s, root, "alice")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "alice", "PolicyName", "describe-and-assume",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:DescribeKey","sts:AssumeRole"],"Resource":"*"}]}`)
	qOK(t, s, root, nil, "iam", "CreateRole", "RoleName", "auditor", "AssumeRolePolicyDocument",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+aliceArn+`"},"Action":"sts:AssumeRole"}]}`)
	qOK(t, s, root, nil, "iam", "AttachRolePolicy", "RoleName", "auditor", "PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess")
	if _, err := s.kmsAs(alice).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyArn}); err != nil {
		t.Fatal(err)
	}
	session := tempCreds(t, s, alice, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+acct+":role/auditor", "--role-session-name", "night-shift")
	if _, err := s.kmsAs(session).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyArn}); err != nil {
		t.Fatal(err)
	}

	ct := s.cloudtrailClient()
	for _, tc := range []struct{ user, event, identity, akid string }{
		{"root", "DescribeKey", "Root", root.AccessKeyID},
		{"alice", "DescribeKey", "IAMUser", alice.AccessKeyID},
		{"night-shift", "DescribeKey", "AssumedRole", session.AccessKeyID},
	} {
		out, err := ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
			{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String(tc.user)}}})
		if err != nil {
			t.Fatalf("LookupEvents Username=%s: %v", tc.user, err)
		}
		var found *cttypes.Event
		for i, e := range out.Events {
			if aws.ToString(e.Username) != tc.user {
				t.Errorf("Username=%s lookup returned %s's %s", tc.user, aws.ToString(e.Username), aws.ToString(e.EventName))
			}
			if aws.ToString(e.EventName) == tc.event && found == nil {
				found = &out.Events[i]
			}
		}
		if found == nil {
			t.Errorf("Username=%s: no %s among %d events", tc.user, tc.event, len(out.Events))
			continue
		}
		if aws.ToString(found.AccessKeyId) != tc.akid || len(found.Resources) != 1 ||
			aws.ToString(found.Resources[0].ResourceName) != keyArn || aws.ToString(found.Resources[0].ResourceType) != "AWS::KMS::Key" {
			t.Errorf("%s's %s: AccessKeyId %s, Resources %+v", tc.user, tc.event, aws.ToString(found.AccessKeyId), found.Resources)
		}
		var rec struct {
			EventID      string `json:"eventID"`
			UserIdentity struct {
				Type string `json:"type"`
			} `json:"userIdentity"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(found.CloudTrailEvent)), &rec); err != nil || rec.EventID != aws.ToString(found.EventId) || rec.UserIdentity.Type != tc.identity {
			t.Errorf("%s's CloudTrailEvent: %v %+v", tc.user, err, rec)
		}
	}
}

// CreateTrail and UpdateTrail refuse what Coffer cannot do (CloudWatch Logs delivery, an
// organization trail) and invalid combinations with CloudTrail's errors, and a refused
// UpdateTrail changes nothing (the newer v1 AWS CLI on PATH).
func TestTrailConformanceRefusedMembers(t *testing.T) {
	t.Parallel() // independent node
	bin := awsCLIs(t)["v1"]
	if bin == "" {
		t.Skip("no v1 AWS CLI on PATH")
	}
	s := startServer(t, "", nil)
	run := func(args ...string) (string, string, bool) {
		return conformanceCLI(t, s, bin, "us-east-1", append([]string{"cloudtrail"}, args...)...)
	}
	fails := func(code string, args ...string) {
		t.Helper()
		if _, stderr, ok := run(args...); ok || !strings.Contains(stderr, "("+code+")") {
			t.Errorf("%s: ok=%v, want %s\n%s", strings.Join(args, " "), ok, code, stderr)
		}
	}
	logGroup := "arn:aws:logs:us-east-1:111122223333:log-group:trail-logs:*"
	role := "arn:aws:iam::111122223333:role/CloudTrail_CloudWatchLogs_Role"
	fails("CloudWatchLogsDeliveryUnavailableException", "create-trail", "--name", "refused", "--s3-bucket-name", "trail-bucket",
		"--cloud-watch-logs-log-group-arn", logGroup, "--cloud-watch-logs-role-arn", role)
	fails("OrganizationsNotInUseException", "create-trail", "--name", "refused", "--s3-bucket-name", "trail-bucket", "--is-organization-trail")
	fails("InvalidS3BucketNameException", "create-trail", "--name", "refused", "--s3-bucket-name", "Trail_Bucket")
	fails("InvalidS3PrefixException", "create-trail", "--name", "refused", "--s3-bucket-name", "trail-bucket", "--s3-key-prefix", "a/../b")
	fails("InvalidParameterCombinationException", "create-trail", "--name", "refused", "--s3-bucket-name", "trail-bucket",
		"--is-multi-region-trail", "--no-include-global-service-events")
	if _, stderr, ok := run("get-trail", "--name", "refused"); ok || !strings.Contains(stderr, "(TrailNotFoundException)") {
		t.Errorf("a refused create-trail made a trail: %s", stderr)
	}

	if _, stderr, ok := run("create-trail", "--name", "kept", "--s3-bucket-name", "trail-bucket", "--s3-key-prefix", "audit", "--is-multi-region-trail"); !ok {
		t.Fatal(stderr)
	}
	fails("CloudWatchLogsDeliveryUnavailableException", "update-trail", "--name", "kept", "--s3-bucket-name", "other-bucket", "--cloud-watch-logs-log-group-arn", logGroup)
	fails("CloudWatchLogsDeliveryUnavailableException", "update-trail", "--name", "kept", "--cloud-watch-logs-role-arn", role)
	fails("OrganizationsNotInUseException", "update-trail", "--name", "kept", "--s3-key-prefix", "changed", "--is-organization-trail")
	fails("InvalidParameterCombinationException", "update-trail", "--name", "kept", "--s3-bucket-name", "other-bucket", "--no-include-global-service-events")
	out, stderr, ok := run("get-trail", "--name", "kept")
	if !ok {
		t.Fatal(stderr)
	}
	var got struct {
		Trail struct {
			S3BucketName, S3KeyPrefix                                           string
			IsMultiRegionTrail, IncludeGlobalServiceEvents, IsOrganizationTrail bool
			CloudWatchLogsLogGroupArn, CloudWatchLogsRoleArn                    *string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	tr := got.Trail
	if tr.S3BucketName != "trail-bucket" || tr.S3KeyPrefix != "audit" || !tr.IsMultiRegionTrail || !tr.IncludeGlobalServiceEvents ||
		tr.IsOrganizationTrail || tr.CloudWatchLogsLogGroupArn != nil || tr.CloudWatchLogsRoleArn != nil {
		t.Errorf("refused update-trails changed the trail: %s", out)
	}
	// Empty CloudWatch Logs members and IsOrganizationTrail false ask for nothing Coffer lacks.
	if _, stderr, ok := run("update-trail", "--name", "kept", "--cloud-watch-logs-log-group-arn", "", "--cloud-watch-logs-role-arn", "", "--no-is-organization-trail"); !ok {
		t.Errorf("update-trail with empty CloudWatch Logs members: %s", stderr)
	}
}

// LookupEvents for Insights events (Coffer records none) finds nothing, but its request is
// checked as any other lookup's: Debian's AWS CLI sees CloudTrail's exceptions for a page
// size over 50, a reversed time range and a NextToken no lookup issued.
func TestTrailConformanceInsightLookupChecked(t *testing.T) {
	t.Parallel() // independent node
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil)
	out, stderr, ok := conformanceCLI(t, s, "/usr/bin/aws", "us-east-1", "cloudtrail", "lookup-events", "--event-category", "insight")
	if !ok || strings.Contains(out, "EventId") {
		t.Fatalf("lookup-events --event-category insight: ok=%v %s %s", ok, out, stderr)
	}
	for _, c := range []struct {
		args []string
		code string
	}{
		{[]string{"--max-results", "51"}, "InvalidMaxResultsException"},
		{[]string{"--start-time", "2026-12-07T12:00:00Z", "--end-time", "2026-12-06T12:00:00Z"}, "InvalidTimeRangeException"},
		{[]string{"--next-token", "not-a-token"}, "InvalidNextTokenException"},
		{[]string{"--lookup-attributes", "AttributeKey=Bogus,AttributeValue=x"}, "InvalidLookupAttributesException"},
	} {
		args := append([]string{"cloudtrail", "lookup-events", "--event-category", "insight"}, c.args...)
		_, stderr, ok := conformanceCLI(t, s, "/usr/bin/aws", "us-east-1", args...)
		if ok || !strings.Contains(stderr, "("+c.code+")") {
			t.Errorf("%v: ok=%v %s, want %s", c.args, ok, stderr, c.code)
		}
	}
}
