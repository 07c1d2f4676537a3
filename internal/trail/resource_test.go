package trail

import (
	"slices"
	"testing"
)

// TestRequestResources: each trail operation is authorized on the trail it names (by name
// or ARN), a multi-region trail's shadow on its home-region ARN, and the listing
// operations on "*".
func TestRequestResources(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"main","S3BucketName":"bucket-1"}`)
	f.mustOp("CreateTrail", `{"Name":"global","S3BucketName":"bucket-1","IsMultiRegionTrail":true}`)
	const main = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
	const other = "arn:aws:cloudtrail:us-east-1:111122223333:trail/other"
	for _, tc := range []struct {
		op, body string
		want     []string
	}{
		{"CreateTrail", `{"Name":"other","S3BucketName":"bucket-1"}`, []string{other}},
		{"CreateTrail", `{"Name":"main","S3BucketName":"bucket-1"}`, []string{main}},
		{"UpdateTrail", `{"Name":"main"}`, []string{main}},
		{"DeleteTrail", `{"Name":"` + main + `"}`, []string{main}},
		{"GetTrail", `{"Name":"main"}`, []string{main}},
		{"StartLogging", `{"Name":"main"}`, []string{main}},
		{"StopLogging", `{"Name":"other"}`, []string{other}},
		{"GetTrailStatus", `{"Name":"main"}`, []string{main}},
		{"GetEventSelectors", `{"TrailName":"main"}`, []string{main}},
		{"PutEventSelectors", `{"TrailName":"main","EventSelectors":[]}`, []string{main}},
		{"GetInsightSelectors", `{"TrailName":"main"}`, []string{main}},
		{"PutInsightSelectors", `{"TrailName":"main"}`, []string{main}},
		{"AddTags", `{"ResourceId":"` + main + `","TagsList":[]}`, []string{main}},
		{"RemoveTags", `{"ResourceId":"` + main + `"}`, []string{main}},
		{"ListTags", `{"ResourceIdList":["` + main + `","` + other + `","` + main + `"]}`, []string{main, other}},
		{"DescribeTrails", `{"trailNameList":["main"]}`, []string{"*"}},
		{"ListTrails", `{}`, []string{"*"}},
		{"ListPublicKeys", `{}`, []string{"*"}},
		{"StopLogging", `{}`, []string{"*"}},
		{"StopLogging", `not json`, []string{"*"}},
	} {
		if got := f.svc.RequestResources(tc.op, f.caller, []byte(tc.body)); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: %q, want %q", tc.op, tc.body, got, tc.want)
		}
	}
	// From another region: a name is that region's trail, a multi-region trail's shadow
	// its home region's ARN.
	f.caller = Caller{Region: "eu-west-1", Account: "111122223333"}
	for _, tc := range []struct{ op, body, want string }{
		{"StopLogging", `{"Name":"main"}`, "arn:aws:cloudtrail:eu-west-1:111122223333:trail/main"},
		{"GetTrailStatus", `{"Name":"global"}`, "arn:aws:cloudtrail:us-east-1:111122223333:trail/global"},
		{"CreateTrail", `{"Name":"global","S3BucketName":"bucket-1"}`, "arn:aws:cloudtrail:eu-west-1:111122223333:trail/global"},
	} {
		if got := f.svc.RequestResources(tc.op, f.caller, []byte(tc.body)); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("eu-west-1 %s %s: %q, want %s", tc.op, tc.body, got, tc.want)
		}
	}
}

// TestResourceTags: the tags of a trail of the caller's account, for aws:ResourceTag/*.
func TestResourceTags(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"main","S3BucketName":"bucket-1","TagsList":[{"Key":"team","Value":"sec"}]}`)
	const main = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
	if got := f.svc.ResourceTags(f.caller, main); len(got) != 1 || got["team"] != "sec" {
		t.Fatalf("tags %v", got)
	}
	if got := f.svc.ResourceTags(f.caller, "*"); got != nil {
		t.Fatalf("tags of *: %v", got)
	}
	if got := f.svc.ResourceTags(Caller{Region: "us-east-1", Account: "444455556666"}, main); got != nil {
		t.Fatalf("another account sees the tags: %v", got)
	}
}
