package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// conformanceCLI runs an AWS CLI binary against s in region as the account root.
func conformanceCLI(t *testing.T, s *server, bin, region string, args ...string) (string, string, bool) {
	t.Helper()
	return awsRun(s, bin, region, s.rootAWS(), args...)
}

// CloudTrail's own InvalidTrailNameException messages, one per rule: both AWS CLIs show
// them for a representative name (create-trail and get-trail-status); every rule's
// message is checked through aws-sdk-go-v2.
func TestTrailConformanceNameMessages(t *testing.T) {
	t.Parallel() // independent node
	clis := awsCLIs(t)
	if len(clis) == 0 {
		t.Skip("no AWS CLI installed (make deps installs Debian's awscli)")
	}
	s := startServer(t, "", nil)
	for cli, bin := range clis {
		for _, args := range [][]string{
			{"create-trail", "--name", "ab", "--s3-bucket-name", "trail-bucket"},
			{"get-trail-status", "--name", "ab"},
		} {
			_, stderr, ok := conformanceCLI(t, s, bin, "us-east-1", append([]string{"cloudtrail"}, args...)...)
			if ok || !strings.Contains(stderr, "(InvalidTrailNameException)") ||
				!strings.Contains(stderr, "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters.") {
				t.Errorf("%s %s: ok=%v\n%s", cli, strings.Join(args, " "), ok, stderr)
			}
		}
	}
	ct := s.cloudtrailClient()
	for name, msg := range map[string]string{
		"ab":                     "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters.",
		strings.Repeat("a", 129): "Trail name too long. Maximum allowed length: 128 characters. Specified name length: 129 characters.",
		"_trail":                 "Trail name must starts with a letter or number.",
		"trail-":                 "Trail name must ends with a letter or number.",
		"my#trail":               "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).",
		"my-_namespace":          "Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_).",
		"10.0.0.1":               "Trail name cannot be formatted as an IP address.",
	} {
		_, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String("trail-bucket")})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidTrailNameException" || !strings.Contains(ae.ErrorMessage(), msg) {
			t.Errorf("CreateTrail Name %.20s: %v\nwant %q", name, err, msg)
		}
	}
	// Nothing was made by the refused requests.
	list, err := ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	if err != nil || len(list.Trails) != 0 {
		t.Errorf("ListTrails after refused create-trails: %v %+v", err, list)
	}
}

// In another region a multi-region trail's shadow is described and its status read only
// by its ARN, as AWS documents for DescribeTrails' trailNameList and GetTrailStatus. Debian's
// AWS CLI describes the shadow and reads its status by the ARN in eu-west-1; the other calls
// use aws-sdk-go-v2.
func TestTrailConformanceShadowByARN(t *testing.T) {
	t.Parallel() // independent node
	s := startServer(t, "", nil)
	east, eu := s.cloudtrailClientIn("us-east-1"), s.cloudtrailClientIn("eu-west-1")
	created, err := east.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("everywhere"), S3BucketName: aws.String("trail-bucket"),
		IsMultiRegionTrail: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	trailARN := aws.ToString(created.TrailARN)
	if _, err := east.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String("everywhere")}); err != nil {
		t.Fatal(err)
	}
	if _, err := eu.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("local-eu"), S3BucketName: aws.String("trail-bucket")}); err != nil {
		t.Fatal(err)
	}

	describe := func(c *cloudtrail.Client, names ...string) []cttypes.Trail {
		t.Helper()
		out, err := c.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{TrailNameList: names})
		if err != nil {
			t.Fatalf("DescribeTrails %v: %v", names, err)
		}
		return out.TrailList
	}
	if byName := describe(eu, "everywhere", "local-eu"); len(byName) != 1 || aws.ToString(byName[0].Name) != "local-eu" {
		t.Errorf("DescribeTrails by names in eu-west-1: %+v, want only local-eu", byName)
	}
	var byARN struct {
		TrailList []struct{ Name, HomeRegion, TrailARN string }
	}
	sweepOK(t, s, "eu-west-1", &byARN, "cloudtrail", "describe-trails", "--trail-name-list", trailARN)
	if len(byARN.TrailList) != 1 || byARN.TrailList[0].HomeRegion != "us-east-1" {
		t.Errorf("describe-trails by the shadow's ARN: %+v", byARN.TrailList)
	}
	if all := describe(eu); len(all) != 2 {
		t.Errorf("DescribeTrails in eu-west-1: %+v, want the local trail and the shadow", all)
	}

	_, err = eu.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("everywhere")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "TrailNotFoundException" || !strings.Contains(ae.ErrorMessage(), "arn:aws:cloudtrail:eu-west-1:") {
		t.Errorf("GetTrailStatus of the shadow by name: %v", err)
	}
	var st struct{ IsLogging bool }
	sweepOK(t, s, "eu-west-1", &st, "cloudtrail", "get-trail-status", "--name", trailARN)
	if !st.IsLogging {
		t.Errorf("get-trail-status of the shadow by ARN: %+v", st)
	}
	if home, err := east.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("everywhere")}); err != nil || !aws.ToBool(home.IsLogging) {
		t.Errorf("GetTrailStatus by name in the home region: %v %+v", err, home)
	}

	// A trail of us-east-1 named like eu-west-1's cannot become multi-region: its shadow
	// would take a name already used there.
	if _, err := east.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("local-eu"), S3BucketName: aws.String("trail-bucket")}); err != nil {
		t.Fatal(err)
	}
	_, err = east.UpdateTrail(ctx, &cloudtrail.UpdateTrailInput{Name: aws.String("local-eu"), IsMultiRegionTrail: aws.Bool(true)})
	if apiCode(err) != "TrailAlreadyExistsException" {
		t.Errorf("UpdateTrail local-eu --is-multi-region-trail: %v, want TrailAlreadyExistsException", err)
	}
	if one := describe(eu, "local-eu"); len(one) != 1 || aws.ToString(one[0].HomeRegion) != "eu-west-1" {
		t.Errorf("DescribeTrails local-eu in eu-west-1: %+v", one)
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
// UpdateTrail changes nothing. The newer v1 AWS CLI on PATH runs a refused create-trail and
// the update-trail with empty CloudWatch Logs members; the other refusals and the checks
// of the state use aws-sdk-go-v2.
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
	cliFails := func(code string, args ...string) {
		t.Helper()
		if _, stderr, ok := run(args...); ok || !strings.Contains(stderr, "("+code+")") {
			t.Errorf("%s: ok=%v, want %s\n%s", strings.Join(args, " "), ok, code, stderr)
		}
	}
	ct := s.cloudtrailClient()
	fails := func(code, what string, err error) {
		t.Helper()
		if apiCode(err) != code {
			t.Errorf("%s: %v, want %s", what, err, code)
		}
	}
	create := func(in cloudtrail.CreateTrailInput) error {
		in.Name = aws.String("refused")
		if in.S3BucketName == nil {
			in.S3BucketName = aws.String("trail-bucket")
		}
		_, err := ct.CreateTrail(ctx, &in)
		return err
	}
	logGroup := "arn:aws:logs:us-east-1:111122223333:log-group:trail-logs:*"
	role := "arn:aws:iam::111122223333:role/CloudTrail_CloudWatchLogs_Role"
	cliFails("CloudWatchLogsDeliveryUnavailableException", "create-trail", "--name", "refused", "--s3-bucket-name", "trail-bucket",
		"--cloud-watch-logs-log-group-arn", logGroup, "--cloud-watch-logs-role-arn", role)
	fails("OrganizationsNotInUseException", "CreateTrail IsOrganizationTrail", create(cloudtrail.CreateTrailInput{IsOrganizationTrail: aws.Bool(true)}))
	fails("InvalidS3BucketNameException", "CreateTrail S3BucketName Trail_Bucket", create(cloudtrail.CreateTrailInput{S3BucketName: aws.String("Trail_Bucket")}))
	fails("InvalidS3PrefixException", "CreateTrail S3KeyPrefix a/../b", create(cloudtrail.CreateTrailInput{S3KeyPrefix: aws.String("a/../b")}))
	fails("InvalidParameterCombinationException", "CreateTrail multi-region without global service events",
		create(cloudtrail.CreateTrailInput{IsMultiRegionTrail: aws.Bool(true), IncludeGlobalServiceEvents: aws.Bool(false)}))
	_, err := ct.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("refused")})
	fails("TrailNotFoundException", "GetTrail after refused CreateTrails (a refused create-trail made a trail)", err)

	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("kept"), S3BucketName: aws.String("trail-bucket"),
		S3KeyPrefix: aws.String("audit"), IsMultiRegionTrail: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	update := func(in cloudtrail.UpdateTrailInput) error {
		in.Name = aws.String("kept")
		_, err := ct.UpdateTrail(ctx, &in)
		return err
	}
	fails("CloudWatchLogsDeliveryUnavailableException", "UpdateTrail CloudWatchLogsLogGroupArn",
		update(cloudtrail.UpdateTrailInput{S3BucketName: aws.String("other-bucket"), CloudWatchLogsLogGroupArn: aws.String(logGroup)}))
	fails("CloudWatchLogsDeliveryUnavailableException", "UpdateTrail CloudWatchLogsRoleArn", update(cloudtrail.UpdateTrailInput{CloudWatchLogsRoleArn: aws.String(role)}))
	fails("OrganizationsNotInUseException", "UpdateTrail IsOrganizationTrail",
		update(cloudtrail.UpdateTrailInput{S3KeyPrefix: aws.String("changed"), IsOrganizationTrail: aws.Bool(true)}))
	fails("InvalidParameterCombinationException", "UpdateTrail without global service events",
		update(cloudtrail.UpdateTrailInput{S3BucketName: aws.String("other-bucket"), IncludeGlobalServiceEvents: aws.Bool(false)}))
	got, err := ct.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("kept")})
	if err != nil {
		t.Fatal(err)
	}
	tr := got.Trail
	if aws.ToString(tr.S3BucketName) != "trail-bucket" || aws.ToString(tr.S3KeyPrefix) != "audit" || !aws.ToBool(tr.IsMultiRegionTrail) ||
		!aws.ToBool(tr.IncludeGlobalServiceEvents) || aws.ToBool(tr.IsOrganizationTrail) || tr.CloudWatchLogsLogGroupArn != nil || tr.CloudWatchLogsRoleArn != nil {
		t.Errorf("refused UpdateTrails changed the trail: %+v", tr)
	}
	// Empty CloudWatch Logs members and IsOrganizationTrail false ask for nothing Coffer lacks.
	if _, stderr, ok := run("update-trail", "--name", "kept", "--cloud-watch-logs-log-group-arn", "", "--cloud-watch-logs-role-arn", "", "--no-is-organization-trail"); !ok {
		t.Errorf("update-trail with empty CloudWatch Logs members: %s", stderr)
	}
}

// LookupEvents for Insights events (Coffer records none) finds nothing, but its request is
// checked as any other lookup's: CloudTrail's exceptions for a page size over 50, a
// reversed time range, a NextToken no lookup issued and an unknown lookup attribute.
// Debian's AWS CLI runs the lookup and the NextToken case (a pagination parameter the CLI
// handles itself); the other cases use aws-sdk-go-v2.
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
	_, stderr, ok = conformanceCLI(t, s, "/usr/bin/aws", "us-east-1", "cloudtrail", "lookup-events", "--event-category", "insight", "--next-token", "not-a-token")
	if ok || !strings.Contains(stderr, "(InvalidNextTokenException)") {
		t.Errorf("--next-token not-a-token: ok=%v %s, want InvalidNextTokenException", ok, stderr)
	}
	ct := s.cloudtrailClient()
	for _, c := range []struct {
		in   cloudtrail.LookupEventsInput
		code string
	}{
		{cloudtrail.LookupEventsInput{MaxResults: aws.Int32(51)}, "InvalidMaxResultsException"},
		{cloudtrail.LookupEventsInput{StartTime: aws.Time(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)),
			EndTime: aws.Time(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))}, "InvalidTimeRangeException"},
		{cloudtrail.LookupEventsInput{NextToken: aws.String("not-a-token")}, "InvalidNextTokenException"},
		{cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: "Bogus", AttributeValue: aws.String("x")}}},
			"InvalidLookupAttributesException"},
	} {
		in := c.in
		in.EventCategory = cttypes.EventCategoryInsight
		out, err := ct.LookupEvents(ctx, &in)
		if apiCode(err) != c.code {
			t.Errorf("LookupEvents %+v: %v %+v, want %s", c.in, err, out, c.code)
		}
	}
}
