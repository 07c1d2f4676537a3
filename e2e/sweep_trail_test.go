package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// sweepAWS runs Debian's AWS CLI (awsAs) against s in region as the account root; it
// returns stdout, stderr and whether it succeeded. The test is skipped without that CLI.
func sweepAWS(t *testing.T, s *server, region string, args ...string) (string, string, bool) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("no /usr/bin/aws (make deps installs Debian's awscli)")
	}
	return awsRun(s, "/usr/bin/aws", region, s.rootAWS(), args...)
}

// sweepOK runs the CLI, requires success and decodes its output into out (if not nil).
func sweepOK(t *testing.T, s *server, region string, out any, args ...string) {
	t.Helper()
	stdout, stderr, ok := sweepAWS(t, s, region, args...)
	if !ok {
		t.Fatalf("aws %s: %s", strings.Join(args, " "), stderr)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stdout)
		}
	}
}

// sweepFails runs the CLI and requires it to fail with the service error code.
func sweepFails(t *testing.T, s *server, region, code string, args ...string) {
	t.Helper()
	_, stderr, ok := sweepAWS(t, s, region, args...)
	if ok || !strings.Contains(stderr, "("+code+")") {
		t.Errorf("aws %s: succeeded=%v, want %s\n%s", strings.Join(args, " "), ok, code, stderr)
	}
}

// A multi-region trail counts against the limit of 5 trails in every region and holds its
// name there (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-multiple-trails.html).
func TestSweepTrailShadowCountsInEveryRegion(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s := startServer(t, "", nil)
	sweepOK(t, s, "us-east-1", nil, "cloudtrail", "create-trail", "--name", "org-wide", "--s3-bucket-name", "trail-east", "--is-multi-region-trail")
	sweepFails(t, s, "us-west-2", "TrailAlreadyExistsException", "cloudtrail", "create-trail", "--name", "org-wide", "--s3-bucket-name", "trail-west")
	for i := range 4 {
		sweepOK(t, s, "us-west-2", nil, "cloudtrail", "create-trail", "--name", fmt.Sprintf("west-%d", i), "--s3-bucket-name", "trail-west")
	}
	sweepFails(t, s, "us-west-2", "MaximumNumberOfTrailsExceededException", "cloudtrail", "create-trail", "--name", "west-4", "--s3-bucket-name", "trail-west")
	var list struct {
		TrailList []struct{ Name, HomeRegion string }
	}
	sweepOK(t, s, "us-west-2", &list, "cloudtrail", "describe-trails")
	if len(list.TrailList) != 5 {
		t.Errorf("us-west-2 shows %d trails, want 5: %+v", len(list.TrailList), list.TrailList)
	}
	var got struct{ Trail struct{ HomeRegion string } }
	sweepOK(t, s, "us-west-2", &got, "cloudtrail", "get-trail", "--name", "org-wide")
	if got.Trail.HomeRegion != "us-east-1" {
		t.Errorf("get-trail org-wide in us-west-2: home region %q", got.Trail.HomeRegion)
	}
}

// SnsTopicName is a topic name or ARN (InvalidSnsTopicNameException otherwise) of a
// topic that exists (InsufficientSnsTopicPolicyException otherwise, as on AWS).
func TestSweepTrailSnsTopicName(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s := startServer(t, "", nil)
	sweepFails(t, s, "us-east-1", "InvalidSnsTopicNameException", "cloudtrail", "create-trail", "--name", "notify", "--s3-bucket-name", "trail-b", "--sns-topic-name", "bad topic")
	sweepOK(t, s, "us-east-1", nil, "cloudtrail", "create-trail", "--name", "notify", "--s3-bucket-name", "trail-b")
	arn := "arn:aws:sns:us-east-1:111122223333:deliveries"
	sweepFails(t, s, "us-east-1", "InsufficientSnsTopicPolicyException", "cloudtrail", "update-trail", "--name", "notify", "--sns-topic-name", arn)
	sweepOK(t, s, "us-east-1", nil, "sns", "create-topic", "--name", "deliveries")
	var out struct{ SnsTopicARN string }
	sweepOK(t, s, "us-east-1", &out, "cloudtrail", "update-trail", "--name", "notify", "--sns-topic-name", arn)
	if out.SnsTopicARN != arn {
		t.Errorf("SnsTopicARN %q, want %q", out.SnsTopicARN, arn)
	}
}

// AddTags, RemoveTags and ListTags work with the CLI; UpdateTrail keeps the tags.
func TestSweepTrailTags(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s := startServer(t, "", nil)
	var created struct{ TrailARN string }
	sweepOK(t, s, "us-east-1", &created, "cloudtrail", "create-trail", "--name", "tagged", "--s3-bucket-name", "trail-b", "--tags-list", "Key=env,Value=dev")
	arn := created.TrailARN
	list := func() string {
		t.Helper()
		var out struct {
			ResourceTagList []struct {
				ResourceId string
				TagsList   []struct{ Key, Value string }
			}
		}
		sweepOK(t, s, "us-east-1", &out, "cloudtrail", "list-tags", "--resource-id-list", arn)
		if len(out.ResourceTagList) != 1 || out.ResourceTagList[0].ResourceId != arn {
			t.Fatalf("list-tags: %+v", out)
		}
		return fmt.Sprint(out.ResourceTagList[0].TagsList)
	}
	if got := list(); got != "[{env dev}]" {
		t.Errorf("tags of CreateTrail: %s", got)
	}
	sweepOK(t, s, "us-east-1", nil, "cloudtrail", "add-tags", "--resource-id", arn, "--tags-list", "Key=env,Value=prod", "Key=team,Value=sec")
	sweepOK(t, s, "us-east-1", nil, "cloudtrail", "update-trail", "--name", "tagged", "--enable-log-file-validation")
	if got := list(); got != "[{env prod} {team sec}]" {
		t.Errorf("after add-tags and update-trail: %s", got)
	}
	sweepOK(t, s, "us-east-1", nil, "cloudtrail", "remove-tags", "--resource-id", arn, "--tags-list", "Key=env")
	if got := list(); got != "[{team sec}]" {
		t.Errorf("after remove-tags: %s", got)
	}
	sweepFails(t, s, "us-east-1", "ResourceNotFoundException", "cloudtrail", "add-tags", "--resource-id",
		"arn:aws:cloudtrail:us-east-1:111122223333:trail/nope", "--tags-list", "Key=a,Value=b")
	sweepFails(t, s, "us-east-1", "CloudTrailARNInvalidException", "cloudtrail", "list-tags", "--resource-id-list", "tagged")
}

// get-event-selectors (used by CIS-style checks) answers with CloudTrail's default selector.
func TestSweepTrailGetEventSelectors(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s := startServer(t, "", nil)
	var created struct{ TrailARN string }
	sweepOK(t, s, "us-east-1", &created, "cloudtrail", "create-trail", "--name", "selectors", "--s3-bucket-name", "trail-b")
	var out struct {
		TrailARN       string
		EventSelectors []struct {
			ReadWriteType           string
			IncludeManagementEvents bool
			DataResources           []any
		}
	}
	sweepOK(t, s, "us-east-1", &out, "cloudtrail", "get-event-selectors", "--trail-name", "selectors")
	if out.TrailARN != created.TrailARN || len(out.EventSelectors) != 1 || out.EventSelectors[0].ReadWriteType != "All" ||
		!out.EventSelectors[0].IncludeManagementEvents || len(out.EventSelectors[0].DataResources) != 0 {
		t.Errorf("get-event-selectors: %+v", out)
	}
	sweepFails(t, s, "us-east-1", "TrailNotFoundException", "cloudtrail", "get-event-selectors", "--trail-name", "nope")
	// No trail has Insights in Coffer: CloudTrail's answer for a trail without them.
	sweepFails(t, s, "us-east-1", "InsightNotEnabledException", "cloudtrail", "get-insight-selectors", "--trail-name", "selectors")
}
