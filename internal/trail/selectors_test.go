package trail

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/audit"
)

// PutEventSelectors validates as CloudTrail does, answers with the selectors as stored
// (defaults filled in), GetEventSelectors and GetTrail report them, and UpdateTrail keeps
// them.
func TestPutEventSelectors(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1"}`)
	arn := "arn:aws:cloudtrail:us-east-1:111122223333:trail/trail-1"

	out, _ := json.Marshal(f.mustOp("PutEventSelectors", `{"TrailName":"trail-1","EventSelectors":[{"ReadWriteType":"WriteOnly","ExcludeManagementEventSources":["kms.amazonaws.com"]}]}`))
	want := `{"EventSelectors":[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":true,"DataResources":[],"ExcludeManagementEventSources":["kms.amazonaws.com"]}],"TrailARN":"` + arn + `"}`
	if string(out) != want {
		t.Fatalf("PutEventSelectors: %s\nwant %s", out, want)
	}
	f.mustOp("UpdateTrail", `{"Name":"trail-1","S3KeyPrefix":"p"}`)
	if got, _ := json.Marshal(f.mustOp("GetEventSelectors", `{"TrailName":"`+arn+`"}`)); string(got) != want {
		t.Fatalf("GetEventSelectors after UpdateTrail: %s", got)
	}
	got, _ := json.Marshal(f.mustOp("GetTrail", `{"Name":"trail-1"}`))
	if !strings.Contains(string(got), `"HasCustomEventSelectors":true`) {
		t.Fatalf("GetTrail: %s", got)
	}

	adv := `{"TrailName":"trail-1","AdvancedEventSelectors":[{"Name":"writes but not KMS","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"readOnly","Equals":["false"]},{"Field":"eventSource","NotEquals":["kms.amazonaws.com"]}]}]}`
	out, _ = json.Marshal(f.mustOp("PutEventSelectors", adv))
	if !strings.Contains(string(out), `"AdvancedEventSelectors":[{"Name":"writes but not KMS"`) || strings.Contains(string(out), `"EventSelectors"`) {
		t.Fatalf("advanced: %s", out)
	}
	if got, _ := json.Marshal(f.mustOp("GetEventSelectors", `{"TrailName":"trail-1"}`)); string(got) != string(out) {
		t.Fatalf("GetEventSelectors: %s\nwant %s", got, out)
	}

	mgmt := `{"Field":"eventCategory","Equals":["Management"]}`
	for body, code := range map[string]string{
		`{"TrailName":"trail-1"}`:                                                                                                                     "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","EventSelectors":[]}`:                                                                                                 "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","EventSelectors":[{},{},{},{},{},{}]}`:                                                                                "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","EventSelectors":[{"ReadWriteType":"read-only"}]}`:                                                                    "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","EventSelectors":[{"ExcludeManagementEventSources":["iam.amazonaws.com"]}]}`:                                          "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","EventSelectors":[{"DataResources":[{"Type":"AWS::KMS::Key","Values":["x"]}]}]}`:                                      "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","EventSelectors":[{}],"AdvancedEventSelectors":[{"FieldSelectors":[` + mgmt + `]}]}`:                                  "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","AdvancedEventSelectors":[]}`:                                                                                         "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"readOnly","Equals":["true"]}]}]}`:                              "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","AdvancedEventSelectors":[{"FieldSelectors":[` + mgmt + `,{"Field":"eventName","Equals":["Decrypt"]}]}]}`:             "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","AdvancedEventSelectors":[{"FieldSelectors":[` + mgmt + `,{"Field":"readOnly","Equals":["yes"]}]}]}`:                  "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","AdvancedEventSelectors":[{"FieldSelectors":[` + mgmt + `,{"Field":"eventSource","Equals":["kms.amazonaws.com"]}]}]}`: "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]}]}]}`:                         "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","AdvancedEventSelectors":[{"FieldSelectors":[` + mgmt + `,` + mgmt + `]}]}`:                                           "InvalidEventSelectorsException",
		`{"TrailName":"trail-1","AdvancedEventSelectors":[{"FieldSelectors":[` + mgmt + `,{"Field":"readOnly"}]}]}`:                                   "InvalidEventSelectorsException",
		`{"TrailName":"nope","EventSelectors":[{}]}`:                                                                                                  "TrailNotFoundException",
		`{"EventSelectors":[{}]}`:                     "InvalidTrailNameException",
		`{"TrailName":"trail-1","EventSelectors":{}}`: "SerializationException",
	} {
		_, err := f.op("PutEventSelectors", body)
		if e := MapError(err); e == nil || e.Code != code {
			t.Errorf("%s: %v, want %s", body, err, code)
		}
	}
	// A refused request leaves the selectors as they were.
	if got, _ := json.Marshal(f.mustOp("GetEventSelectors", `{"TrailName":"trail-1"}`)); string(got) != string(out) {
		t.Fatalf("after refused requests: %s", got)
	}
	// Data selectors are accepted and kept (they select nothing in Coffer).
	f.mustOp("PutEventSelectors", `{"TrailName":"trail-1","AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]},{"Field":"resources.ARN","StartsWith":["arn:aws:s3:::bucket/"]}]}]}`)
	f.mustOp("PutEventSelectors", `{"TrailName":"trail-1","EventSelectors":[{"IncludeManagementEvents":false,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::bucket/"]}]}]}`)

	// Only in the home region.
	f.caller = Caller{Region: "eu-west-1", Account: "111122223333"}
	if _, err := f.op("PutEventSelectors", `{"TrailName":"`+arn+`","EventSelectors":[{}]}`); MapError(err) == nil || MapError(err).Code != "InvalidHomeRegionException" {
		t.Errorf("from another region: %v", err)
	}
}

// Selects: the matching rules of basic and advanced selectors.
func TestSelects(t *testing.T) {
	type ev struct {
		ro  bool
		src string
	}
	kmsRead, kmsWrite := ev{true, "kms.amazonaws.com"}, ev{false, "kms.amazonaws.com"}
	iamRead, iamWrite := ev{true, "iam.amazonaws.com"}, ev{false, "iam.amazonaws.com"}
	all := []ev{kmsRead, kmsWrite, iamRead, iamWrite}
	mgmt := FieldSelector{Field: "eventCategory", Equals: []string{"Management"}}
	for name, c := range map[string]struct {
		trail Trail
		want  []ev
	}{
		"default":       {Trail{}, all},
		"write only":    {Trail{EventSelectors: []EventSelector{{ReadWriteType: "WriteOnly", IncludeManagementEvents: true}}}, []ev{kmsWrite, iamWrite}},
		"read only":     {Trail{EventSelectors: []EventSelector{{ReadWriteType: "ReadOnly", IncludeManagementEvents: true}}}, []ev{kmsRead, iamRead}},
		"no management": {Trail{EventSelectors: []EventSelector{{ReadWriteType: "All"}}}, nil},
		"exclude kms": {Trail{EventSelectors: []EventSelector{{ReadWriteType: "All", IncludeManagementEvents: true,
			ExcludeManagementEventSources: []string{"kms.amazonaws.com"}}}}, []ev{iamRead, iamWrite}},
		"any selector": {Trail{EventSelectors: []EventSelector{
			{ReadWriteType: "ReadOnly", IncludeManagementEvents: true, ExcludeManagementEventSources: []string{"kms.amazonaws.com"}},
			{ReadWriteType: "WriteOnly", IncludeManagementEvents: true}}}, []ev{kmsWrite, iamRead, iamWrite}},
		"advanced all": {Trail{AdvancedEventSelectors: []AdvancedEventSelector{{FieldSelectors: []FieldSelector{mgmt}}}}, all},
		"advanced writes not kms": {Trail{AdvancedEventSelectors: []AdvancedEventSelector{{FieldSelectors: []FieldSelector{mgmt,
			{Field: "readOnly", Equals: []string{"false"}}, {Field: "eventSource", NotEquals: []string{"kms.amazonaws.com"}}}}}}, []ev{iamWrite}},
		"advanced data only": {Trail{AdvancedEventSelectors: []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
			{Field: "eventCategory", Equals: []string{"Data"}}, {Field: "resources.type", Equals: []string{"AWS::S3::Object"}}}}}}, nil},
	} {
		for _, e := range all {
			want := false
			for _, w := range c.want {
				want = want || w == e
			}
			if got := c.trail.Selects(true, e.ro, e.src); got != want {
				t.Errorf("%s: %+v selected %v, want %v", name, e, got, want)
			}
		}
		if c.trail.HasCustomSelectors() && c.trail.Selects(false, false, "s3.amazonaws.com") {
			t.Errorf("%s: a data event is selected", name)
		}
	}
}

// Delivery honours the selectors from the time they are set: a trail that excludes KMS
// and logs writes only delivers IAM writes.
func TestDeliveryHonoursSelectors(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1"}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.mustOp("PutEventSelectors", `{"TrailName":"trail-1","EventSelectors":[{"ReadWriteType":"WriteOnly","ExcludeManagementEventSources":["kms.amazonaws.com"]}]}`)
	f.now = f.now.Add(time.Second)
	for _, e := range []struct {
		src, name string
		ro        bool
	}{
		{audit.SourceKMS, "CreateKey", false}, {audit.SourceKMS, "Decrypt", true},
		{audit.SourceIAM, "CreateUser", false}, {audit.SourceIAM, "GetUser", true},
		{"cloudhsm.amazonaws.com", "CN_LOGIN", false},
	} {
		ev := &audit.Event{EventSource: e.src, EventName: e.name, AWSRegion: "us-east-1", EventTime: f.now, ReadOnly: e.ro,
			ManagementEvent: true, UserIdentity: audit.UserIdentity{Type: "Root", AccountID: "111122223333"}}
		if err := f.j.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(2 * time.Minute)
	f.tick()
	got := deliveredEvents(t, f, "bucket-1")
	if len(got) != 2 || got["CreateUser"] != 1 || got["CN_LOGIN"] != 1 {
		t.Fatalf("delivered %v, want CreateUser and CN_LOGIN", got)
	}
}

// No trail has Insights: GetInsightSelectors answers InsightNotEnabledException for a trail
// that exists, PutInsightSelectors UnsupportedOperationException; unknown trails are not
// found first.
func TestInsightSelectors(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1"}`)
	for _, c := range []struct{ op, body, code string }{
		{"GetInsightSelectors", `{"TrailName":"trail-1"}`, "InsightNotEnabledException"},
		{"GetInsightSelectors", `{"TrailName":"nope"}`, "TrailNotFoundException"},
		{"GetInsightSelectors", `{}`, "InvalidTrailNameException"},
		{"PutInsightSelectors", `{"TrailName":"trail-1","InsightSelectors":[{"InsightType":"ApiCallRateInsight"}]}`, "UnsupportedOperationException"},
		{"PutInsightSelectors", `{"TrailName":"nope","InsightSelectors":[]}`, "TrailNotFoundException"},
	} {
		_, err := f.op(c.op, c.body)
		if e := MapError(err); e == nil || e.Code != c.code || e.Status != 400 {
			t.Errorf("%s %s: %v, want %s", c.op, c.body, err, c.code)
		}
	}
}
