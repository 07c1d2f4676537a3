package audit

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// lookupFixture appends 10 varied events, one per minute from t0.
func lookupFixture(t *testing.T) (*Journal, []*Event) {
	j := openT(t, t.TempDir(), Options{Now: fixedClock(t0)})
	var evs []*Event
	for i := 0; i < 10; i++ {
		e := sampleEvent(i)
		e.EventTime = t0.Add(time.Duration(i) * time.Minute)
		switch i % 3 {
		case 0:
			e.EventName, e.ReadOnly = "CreateKey", false
		case 1:
			e.EventName = "Decrypt"
		case 2:
			e.EventSource, e.EventName, e.EventType = SourceCloudHSM, "CN_LOGIN", EventTypeServiceEvent
			e.UserIdentity = UserIdentity{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/Admin/bob", AccessKeyID: "ASIAEXAMPLE", AccountID: "111122223333"}
			e.Resources = []Resource{{Type: "AWS::CloudHSM::Cluster", ARN: "cluster-abc"}}
		}
		if err := j.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	return j, evs
}

func ids(evs []Event) []string {
	var s []string
	for _, e := range evs {
		s = append(s, e.EventID)
	}
	return s
}

func TestLookupAttributes(t *testing.T) {
	j, evs := lookupFixture(t)
	cases := []struct {
		key, value string
		want       []int // fixture indexes, newest first
	}{
		{AttrEventID, evs[4].EventID, []int{4}},
		{AttrEventName, "CreateKey", []int{9, 6, 3, 0}},
		{AttrEventName, "Nope", nil},
		{AttrReadOnly, "false", []int{9, 6, 3, 0}},
		{AttrReadOnly, "true", []int{8, 7, 5, 4, 2, 1}},
		{AttrUsername, "alice", []int{9, 7, 6, 4, 3, 1, 0}},
		{AttrUsername, "bob", []int{8, 5, 2}},
		{AttrResourceType, "AWS::CloudHSM::Cluster", []int{8, 5, 2}},
		{AttrResourceName, "arn:aws:kms:us-east-1:111122223333:key/1234", []int{9, 7, 6, 4, 3, 1, 0}},
		{AttrEventSource, SourceCloudHSM, []int{8, 5, 2}},
		{AttrAccessKeyID, "ASIAEXAMPLE", []int{8, 5, 2}},
	}
	for _, c := range cases {
		got := ids(lookupAll(t, j, LookupInput{Attributes: []LookupAttribute{{c.key, c.value}}, MaxResults: 2}))
		var want []string
		for _, i := range c.want {
			want = append(want, evs[i].EventID)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s=%s: got %d events %v, want %d", c.key, c.value, len(got), got, len(want))
		}
	}
}

func TestLookupTimeRangeAndPaging(t *testing.T) {
	j, evs := lookupFixture(t)
	got := lookupAll(t, j, LookupInput{StartTime: t0.Add(2 * time.Minute), EndTime: t0.Add(5 * time.Minute)})
	if strings.Join(ids(got), ",") != strings.Join([]string{evs[5].EventID, evs[4].EventID, evs[3].EventID, evs[2].EventID}, ",") {
		t.Fatalf("time range: %d events", len(got))
	}
	// A StartTime with a fraction excludes the whole second it is in.
	got = lookupAll(t, j, LookupInput{StartTime: t0.Add(8*time.Minute + time.Millisecond)})
	if len(got) != 1 || got[0].EventID != evs[9].EventID {
		t.Fatalf("fractional start: %d", len(got))
	}

	// Paging: 3 + 3 + 3 + 1, no token after the last page.
	in := LookupInput{MaxResults: 3}
	var pages []int
	var all []string
	for {
		evs, next, err := j.Lookup(in)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(evs))
		all = append(all, ids(evs)...)
		if next == "" {
			break
		}
		in.NextToken = next
	}
	if len(pages) != 4 || pages[3] != 1 || len(all) != 10 || all[0] != evs[9].EventID || all[9] != evs[0].EventID {
		t.Fatalf("pages %v", pages)
	}
	// Exactly MaxResults matches: no token.
	if evs, next, _ := j.Lookup(LookupInput{MaxResults: 10}); len(evs) != 10 || next != "" {
		t.Fatalf("full page: %d %q", len(evs), next)
	}
	// Default page size is 50.
	if evs, _, _ := j.Lookup(LookupInput{}); len(evs) != 10 {
		t.Fatal("default")
	}
	// Events appended while paging do not disturb the older pages.
	_, next, _ := j.Lookup(LookupInput{MaxResults: 5})
	appendN(t, j, 1, func(int) *Event { return sampleEvent(1000) })
	rest, _, err := j.Lookup(LookupInput{MaxResults: 5, NextToken: next})
	if err != nil || len(rest) != 5 || rest[4].EventID != evs[0].EventID {
		t.Fatalf("page after append: %d %v", len(rest), err)
	}
}

func TestLookupErrors(t *testing.T) {
	j, _ := lookupFixture(t)
	_, next, _ := j.Lookup(LookupInput{MaxResults: 1})
	other := openT(t, t.TempDir(), Options{})
	_, otherNext, _ := func() ([]Event, string, error) {
		appendN(t, other, 3, sampleEvent)
		return other.Lookup(LookupInput{MaxResults: 1})
	}()
	tampered := []byte(next)
	tampered[5] ^= 1
	cases := []struct {
		in   LookupInput
		code string
	}{
		{LookupInput{Attributes: []LookupAttribute{{AttrEventName, "a"}, {AttrUsername, "b"}}}, CodeInvalidLookupAttributes},
		{LookupInput{Attributes: []LookupAttribute{{"Region", "x"}}}, CodeInvalidLookupAttributes},
		{LookupInput{Attributes: []LookupAttribute{{AttrEventName, ""}}}, CodeInvalidLookupAttributes},
		{LookupInput{Attributes: []LookupAttribute{{AttrResourceName, strings.Repeat("x", 2001)}}}, CodeInvalidLookupAttributes},
		{LookupInput{MaxResults: 51}, CodeInvalidMaxResults},
		{LookupInput{MaxResults: -1}, CodeInvalidMaxResults},
		{LookupInput{StartTime: t0.Add(time.Hour), EndTime: t0}, CodeInvalidTimeRange},
		{LookupInput{NextToken: "garbage"}, CodeInvalidNextToken},
		{LookupInput{NextToken: string(tampered)}, CodeInvalidNextToken},
		{LookupInput{NextToken: otherNext}, CodeInvalidNextToken},                                                 // another journal's
		{LookupInput{NextToken: next, Attributes: []LookupAttribute{{AttrEventName, "x"}}}, CodeInvalidNextToken}, // other query
		{LookupInput{NextToken: next, EndTime: t0.Add(time.Hour)}, CodeInvalidNextToken},
	}
	for i, c := range cases {
		_, _, err := j.Lookup(c.in)
		var ae *Error
		if !errors.As(err, &ae) || ae.Code != c.code {
			t.Errorf("case %d: got %v, want %s", i, err, c.code)
		}
	}
	// AttributeValue is up to 2000 characters, not bytes (LookupAttributeValue in the model).
	if _, _, err := j.Lookup(LookupInput{Attributes: []LookupAttribute{{AttrResourceName, strings.Repeat("é", 2000)}}}); err != nil {
		t.Errorf("2000 two-byte characters: %v", err)
	}
	// MaxResults 1 and 50 are valid; a token works with a different page size.
	if _, _, err := j.Lookup(LookupInput{MaxResults: 50, NextToken: next}); err != nil {
		t.Fatal(err)
	}
}

func TestLookupEventsOutput(t *testing.T) {
	j, evs := lookupFixture(t)
	out, err := j.LookupEvents(LookupInput{MaxResults: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 2 || out.NextToken == "" {
		t.Fatalf("%+v", out)
	}
	raw, _ := json.Marshal(out)
	var m struct {
		Events    []map[string]any
		NextToken string
	}
	json.Unmarshal(raw, &m)
	s := m.Events[1] // fixture 8: CloudHSM, assumed role bob
	if s["EventId"] != evs[8].EventID || s["EventName"] != "CN_LOGIN" || s["ReadOnly"] != "true" ||
		s["EventTime"] != float64(t0.Add(8*time.Minute).Unix()) || s["Username"] != "bob" ||
		s["AccessKeyId"] != "ASIAEXAMPLE" || s["EventSource"] != SourceCloudHSM {
		t.Fatalf("summary %v", s)
	}
	res := s["Resources"].([]any)[0].(map[string]any)
	if res["ResourceType"] != "AWS::CloudHSM::Cluster" || res["ResourceName"] != "cluster-abc" {
		t.Fatalf("resources %v", res)
	}
	var ct Event
	if err := json.Unmarshal([]byte(s["CloudTrailEvent"].(string)), &ct); err != nil || ct.EventID != evs[8].EventID || ct.EventType != EventTypeServiceEvent {
		t.Fatalf("CloudTrailEvent: %v %+v", err, ct)
	}
	if empty, _ := j.LookupEvents(LookupInput{Attributes: []LookupAttribute{{AttrEventName, "none"}}}); string(mustJSON(t, empty)) != `{"Events":[]}` {
		t.Fatalf("empty: %s", mustJSON(t, empty))
	}
}

// LookupEvents is scoped to a region, as CloudTrail answers with the calling
// region's events only: each region finds its own events (HSM events in the
// node's region among them), paging stays in the region, and a NextToken is
// refused in another region. An empty Region finds every region's events.
func TestLookupRegion(t *testing.T) {
	j := openT(t, t.TempDir(), Options{Now: fixedClock(t0)})
	var east, west, all []string // newest first
	for i := 0; i < 12; i++ {
		var e *Event
		switch {
		case i%4 == 3: // an HSM event, in the node's region
			e = FromHSM(hsm.Event{Time: t0.Add(time.Duration(i) * time.Second), Opcode: "CN_LOGIN", User: "admin", Result: hsm.ResultOK}, "us-east-1", "111122223333", "")
		default:
			e = sampleEvent(i)
			if i%2 == 0 {
				e.AWSRegion = "us-west-2"
			}
		}
		appendN(t, j, 1, func(int) *Event { return e })
		all = append([]string{e.EventID}, all...)
		if e.AWSRegion == "us-west-2" {
			west = append([]string{e.EventID}, west...)
		} else {
			east = append([]string{e.EventID}, east...)
		}
	}
	for _, c := range []struct {
		region string
		attrs  []LookupAttribute
		want   []string
	}{
		{"", nil, all},
		{"us-east-1", nil, east},
		{"us-west-2", nil, west},
		{"eu-central-1", nil, nil},
		{"us-east-1", []LookupAttribute{{AttrEventSource, SourceCloudHSM}}, []string{all[0], all[4], all[8]}}, // 11, 7, 3
		{"us-west-2", []LookupAttribute{{AttrEventSource, SourceCloudHSM}}, nil},
		{"us-west-2", []LookupAttribute{{AttrEventID, east[0]}}, nil},
		{"us-east-1", []LookupAttribute{{AttrEventID, east[0]}}, east[:1]},
	} {
		for _, max := range []int{1, 2, 50} {
			got := ids(lookupAll(t, j, LookupInput{Region: c.region, Attributes: c.attrs, MaxResults: max}))
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("region %q %v max %d: got %v, want %v", c.region, c.attrs, max, got, c.want)
			}
		}
	}
	// The summary's record says the region too.
	out, err := j.LookupEvents(LookupInput{Region: "us-west-2", MaxResults: 1})
	if err != nil || len(out.Events) != 1 || !strings.Contains(out.Events[0].CloudTrailEvent, `"awsRegion":"us-west-2"`) {
		t.Fatalf("%+v %v", out, err)
	}
	// A token is bound to its region (and to "every region").
	_, next, err := j.Lookup(LookupInput{Region: "us-east-1", MaxResults: 2})
	if err != nil || next == "" {
		t.Fatal(next, err)
	}
	for _, region := range []string{"us-west-2", "", "US-EAST-1"} {
		var ae *Error
		if _, _, err := j.Lookup(LookupInput{Region: region, MaxResults: 2, NextToken: next}); !errors.As(err, &ae) || ae.Code != CodeInvalidNextToken {
			t.Errorf("us-east-1 token in region %q: %v", region, err)
		}
	}
	_, allNext, _ := j.Lookup(LookupInput{MaxResults: 2})
	if _, _, err := j.Lookup(LookupInput{Region: "us-east-1", MaxResults: 2, NextToken: allNext}); err == nil {
		t.Error("a token of every region's lookup accepted in one region")
	}
	if page, _, err := j.Lookup(LookupInput{Region: "us-east-1", MaxResults: 2, NextToken: next}); err != nil || strings.Join(ids(page), ",") != strings.Join(east[2:4], ",") {
		t.Errorf("second us-east-1 page: %v %v", ids(page), err)
	}
}
