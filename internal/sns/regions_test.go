package sns

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/cloudwatch"
)

var (
	eastCaller = Caller{Region: "us-east-1", Account: "111122223333"}
	westCaller = Caller{Region: "us-west-2", Account: "111122223333"}
)

// callAs runs action through the op table as caller c.
func (e *env) callAs(c Caller, action string, params url.Values) (any, error) {
	e.t.Helper()
	body := "Action=" + action + "&Version=2010-03-31"
	if len(params) > 0 {
		body += "&" + params.Encode()
	}
	return Operations()[action](e.sns, e.ctx, c, []byte(body))
}

func (e *env) mustCallAs(c Caller, action string, params url.Values) any {
	e.t.Helper()
	out, err := e.callAs(c, action, params)
	if err != nil {
		e.t.Fatalf("%s in %s: %v", action, c.Region, err)
	}
	return out
}

func (e *env) createTopicAs(c Caller, name string) string {
	e.t.Helper()
	return e.mustCallAs(c, "CreateTopic", url.Values{"Name": {name}}).(*CreateTopicResult).TopicArn
}

func (e *env) listTopicsAs(c Caller) []string {
	e.t.Helper()
	var out []string
	for _, m := range e.mustCallAs(c, "ListTopics", nil).(*ListTopicsResult).Topics.Member {
		out = append(out, m.TopicArn)
	}
	return out
}

// TestRegionalTopics: a topic is made in the region the request was signed for; one name
// is a topic per region; ListTopics and ListSubscriptions answer for the caller's region
// only; and a restart (snapshot and restore of the state) keeps the regions apart.
func TestRegionalTopics(t *testing.T) {
	e := newEnv(t, fast)
	east := e.createTopicAs(eastCaller, "alerts")
	west := e.createTopicAs(westCaller, "alerts")
	if east != "arn:aws:sns:us-east-1:111122223333:alerts" || west != "arn:aws:sns:us-west-2:111122223333:alerts" {
		t.Fatal(east, west)
	}
	// Creating it again in its region returns it; DisplayName differs per region.
	if again := e.createTopicAs(westCaller, "alerts"); again != west {
		t.Fatal(again)
	}
	if err := e.sns.SetTopicAttribute(e.ctx, west, "DisplayName", "West"); err != nil {
		t.Fatal(err)
	}
	onlyEast := e.createTopicAs(eastCaller, "only-east")
	// A caller without a region (and the Go API) is in the node's region.
	if arn, err := e.sns.CreateTopic(e.ctx, "node", nil, nil); err != nil || arn != "arn:aws:sns:us-east-1:111122223333:node" {
		t.Fatal(arn, err)
	}
	sub := newSubscriber(t, nil)
	westSub := e.subscribeConfirmed(west, sub)
	e.subscribeConfirmed(east, sub)

	check := func() {
		t.Helper()
		if got := e.listTopicsAs(eastCaller); !slices.Equal(got, []string{east, "arn:aws:sns:us-east-1:111122223333:node", onlyEast}) {
			t.Fatalf("us-east-1 topics: %v", got)
		}
		if got := e.listTopicsAs(westCaller); !slices.Equal(got, []string{west}) {
			t.Fatalf("us-west-2 topics: %v", got)
		}
		if got := e.listTopicsAs(Caller{Region: "eu-west-1"}); len(got) != 0 {
			t.Fatalf("eu-west-1 topics: %v", got)
		}
		ls := e.mustCallAs(westCaller, "ListSubscriptions", nil).(*ListSubscriptionsResult).Subscriptions.Member
		if len(ls) != 1 || ls[0].SubscriptionArn != westSub || ls[0].TopicArn != west {
			t.Fatalf("us-west-2 subscriptions: %+v", ls)
		}
		ls = e.mustCallAs(eastCaller, "ListSubscriptions", nil).(*ListSubscriptionsResult).Subscriptions.Member
		if len(ls) != 1 || ls[0].TopicArn != east {
			t.Fatalf("us-east-1 subscriptions: %+v", ls)
		}
		a := e.mustCallAs(westCaller, "GetTopicAttributes", url.Values{"TopicArn": {west}}).(*GetTopicAttributesResult)
		attrs := map[string]string{}
		for _, en := range a.Attributes.Entry {
			attrs[en.Key] = en.Value
		}
		if attrs["TopicArn"] != west || attrs["DisplayName"] != "West" || attrs["SubscriptionsConfirmed"] != "1" ||
			!strings.Contains(attrs["Policy"], `"Resource":"`+west+`"`) {
			t.Fatalf("%v", attrs)
		}
		if a, _ := e.sns.GetTopicAttributes(e.ctx, east); a["DisplayName"] != "" {
			t.Fatalf("the us-east-1 topic got the us-west-2 topic's DisplayName: %v", a)
		}
	}
	check()
	// Deleting the us-west-2 topic leaves the us-east-1 topic of that name alone.
	tmp := e.createTopicAs(westCaller, "only-east")
	e.mustCallAs(westCaller, "DeleteTopic", url.Values{"TopicArn": {tmp}})
	if _, err := e.sns.GetTopicAttributes(e.ctx, onlyEast); err != nil {
		t.Fatal(err)
	}
	e.restart()
	check()
	// Publishing in us-west-2 reaches the us-west-2 topic's subscription only.
	e.mustCallAs(westCaller, "Publish", url.Values{"TopicArn": {west}, "Message": {"west only"}})
	waitFor(t, "the notification", func() bool { return len(sub.messages()) == 1 })
	if m := sub.received(); m[len(m)-1].TopicArn != west {
		t.Fatalf("%+v", m[len(m)-1])
	}
}

// TestCrossRegionARNs: an operation given the ARN of a topic or subscription of another
// region than the one the request was signed for answers as a region's AWS endpoint
// does, 400 InvalidParameter "Invalid parameter: <the parameter>", whether the resource
// exists or not, and changes nothing.
func TestCrossRegionARNs(t *testing.T) {
	e := newEnv(t, fast)
	east := e.createTopicAs(eastCaller, "t")
	sub := newSubscriber(t, nil)
	subArn := e.subscribeConfirmed(east, sub)
	const gone = "arn:aws:sns:us-east-1:111122223333:nothing"
	for _, c := range []struct {
		action string
		params url.Values
		field  string
	}{
		{"GetTopicAttributes", url.Values{"TopicArn": {east}}, "TopicArn"},
		{"GetTopicAttributes", url.Values{"TopicArn": {gone}}, "TopicArn"},
		{"SetTopicAttributes", url.Values{"TopicArn": {east}, "AttributeName": {"DisplayName"}, "AttributeValue": {"x"}}, "TopicArn"},
		{"DeleteTopic", url.Values{"TopicArn": {east}}, "TopicArn"},
		{"Subscribe", url.Values{"TopicArn": {east}, "Protocol": {"http"}, "Endpoint": {sub.srv.URL + "/other"}}, "TopicArn"},
		{"ConfirmSubscription", url.Values{"TopicArn": {east}, "Token": {"x"}}, "TopicArn"},
		{"ListSubscriptionsByTopic", url.Values{"TopicArn": {east}}, "TopicArn"},
		{"Publish", url.Values{"TopicArn": {east}, "Message": {"m"}}, "TopicArn"},
		{"Publish", url.Values{"TopicArn": {gone}, "Message": {"m"}}, "TopicArn"},
		{"PublishBatch", url.Values{"TopicArn": {east}, "PublishBatchRequestEntries.member.1.Id": {"a"},
			"PublishBatchRequestEntries.member.1.Message": {"m"}}, "TopicArn"},
		{"GetSubscriptionAttributes", url.Values{"SubscriptionArn": {subArn}}, "SubscriptionArn"},
		{"SetSubscriptionAttributes", url.Values{"SubscriptionArn": {subArn}, "AttributeName": {"RawMessageDelivery"}, "AttributeValue": {"true"}}, "SubscriptionArn"},
		{"Unsubscribe", url.Values{"SubscriptionArn": {subArn}}, "SubscriptionArn"},
		{"ListTagsForResource", url.Values{"ResourceArn": {east}}, "ResourceArn"},
		{"TagResource", url.Values{"ResourceArn": {east}, "Tags.member.1.Key": {"k"}, "Tags.member.1.Value": {"v"}}, "ResourceArn"},
		{"UntagResource", url.Values{"ResourceArn": {east}, "TagKeys.member.1": {"k"}}, "ResourceArn"},
	} {
		_, err := e.callAs(westCaller, c.action, c.params)
		wantAPIError(t, err, 400, "InvalidParameter")
		if msg := MapError(err).Message; msg != "Invalid parameter: "+c.field {
			t.Fatalf("%s: %q", c.action, msg)
		}
	}
	// Nothing changed: the topic, its subscription, attributes and tags are as they were,
	// and nothing was published.
	attrs, err := e.sns.GetTopicAttributes(e.ctx, east)
	if err != nil || attrs["DisplayName"] != "" || attrs["SubscriptionsConfirmed"] != "1" || attrs["SubscriptionsPending"] != "0" {
		t.Fatal(attrs, err)
	}
	if sa, err := e.sns.GetSubscriptionAttributes(e.ctx, subArn); err != nil || sa["RawMessageDelivery"] != "false" {
		t.Fatal(sa, err)
	}
	if tags, err := e.sns.ListTopicTags(e.ctx, east); err != nil || len(tags) != 0 {
		t.Fatal(tags, err)
	}
	if n := len(sub.messages()); n != 0 {
		t.Fatalf("%d notifications", n)
	}
	// In its own region, the same calls work; a missing topic of the caller's region is
	// still NotFound.
	e.mustCallAs(eastCaller, "GetTopicAttributes", url.Values{"TopicArn": {east}})
	_, err = e.callAs(eastCaller, "Publish", url.Values{"TopicArn": {gone}, "Message": {"m"}})
	wantAPIError(t, err, 404, "NotFound")
	// A malformed ARN keeps its own message, whatever the region.
	_, err = e.callAs(westCaller, "GetTopicAttributes", url.Values{"TopicArn": {"nope"}})
	if ae := MapError(err); ae.Code != "InvalidParameter" || !strings.Contains(ae.Message, "An ARN must have the format") {
		t.Fatalf("%+v", ae)
	}
}

// TestRegionAgnosticEntryPoints: what Coffer calls by full ARN, without a caller region,
// works for topics of any region: CloudWatch's alarm notifications, CloudTrail's
// Publish and GetTopicAttributes, and the SubscribeURL and UnsubscribeURL links.
func TestRegionAgnosticEntryPoints(t *testing.T) {
	e := newEnv(t, fast)
	west := e.createTopicAs(westCaller, "alarms")
	sub := newSubscriber(t, nil)
	if _, err := e.sns.Subscribe(e.ctx, west, "http", sub.srv.URL+"/hook", nil, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "confirmation", func() bool { return len(sub.received()) == 1 })
	conf := sub.received()[0]
	if conf.TopicArn != west || !strings.Contains(conf.SubscribeURL, "TopicArn="+west+"&") {
		t.Fatalf("%+v", conf)
	}
	// The unauthenticated SubscribeURL confirms the us-west-2 subscription.
	link := func(raw string) *httptest.ResponseRecorder {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, u.RequestURI(), nil)
		if !e.sns.IsLinkRequest(req) {
			t.Fatalf("not a link: %s", raw)
		}
		w := httptest.NewRecorder()
		e.sns.HTTPHandler().ServeHTTP(w, req)
		return w
	}
	if w := link(conf.SubscribeURL); w.Code != 200 || !strings.Contains(w.Body.String(), "<SubscriptionArn>"+west+":") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// CloudTrail's notifier checks and publishes by ARN.
	if _, err := e.sns.GetTopicAttributes(e.ctx, west); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sns.Publish(e.ctx, PublishInput{TopicArn: west, Message: `{"s3Bucket":"b","s3ObjectKey":["k"]}`}); err != nil {
		t.Fatal(err)
	}
	// CloudWatch's notifier (an alarm's action) publishes and waits.
	n := cloudwatch.AlarmNotification{AlarmName: "hot", NewStateValue: "ALARM", Region: "US West (Oregon)", AWSAccountID: "111122223333"}
	if err := e.sns.CloudWatchNotifier().Notify(e.ctx, west, n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two notifications", func() bool { return len(sub.messages()) == 2 })
	// The trail's message was published without waiting: the two may arrive in either order.
	var last Message
	for _, m := range sub.received() {
		if strings.Contains(m.Message, `"AlarmName":"hot"`) {
			last = m
		}
	}
	if last.TopicArn != west || !strings.Contains(last.Message, `"AlarmName":"hot"`) || !strings.Contains(last.UnsubscribeURL, "SubscriptionArn="+west+":") {
		t.Fatalf("%+v", last)
	}
	// The UnsubscribeURL deletes it.
	if w := link(last.UnsubscribeURL); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if l := e.mustCallAs(westCaller, "ListSubscriptions", nil).(*ListSubscriptionsResult); len(l.Subscriptions.Member) != 0 {
		t.Fatalf("%+v", l)
	}
}

// TestRequestResourceRegion: CreateTopic is authorized against the topic of that name in
// the region the request is signed for.
func TestRequestResourceRegion(t *testing.T) {
	e := newEnv(t, fast)
	if r := e.sns.RequestResourceIn("CreateTopic", "us-west-2", []byte("Action=CreateTopic&Name=a")); r != "arn:aws:sns:us-west-2:111122223333:a" {
		t.Fatal(r)
	}
	if r := e.sns.RequestResource("CreateTopic", []byte("Action=CreateTopic&Name=a")); r != "arn:aws:sns:us-east-1:111122223333:a" {
		t.Fatal(r)
	}
}

// TestRegionalPages: ListTopics and ListSubscriptions page through the caller's region
// only (100 per page), however the regions' ARNs sort among each other.
func TestRegionalPages(t *testing.T) {
	e := newEnv(t, fast)
	for i := range 105 {
		e.createTopicAs(westCaller, fmt.Sprintf("w%03d", i))
	}
	for i := range 3 {
		e.createTopicAs(Caller{Region: "us-west-1", Account: "111122223333"}, fmt.Sprintf("w%03d", i))
		e.createTopicAs(eastCaller, fmt.Sprintf("w%03d", i))
	}
	var all []string
	next := ""
	for pages := 0; ; pages++ {
		params := url.Values{}
		if next != "" {
			params.Set("NextToken", next)
		}
		out := e.mustCallAs(westCaller, "ListTopics", params).(*ListTopicsResult)
		for _, m := range out.Topics.Member {
			if !strings.HasPrefix(m.TopicArn, "arn:aws:sns:us-west-2:") {
				t.Fatalf("page %d: %s", pages, m.TopicArn)
			}
			all = append(all, m.TopicArn)
		}
		if next = out.NextToken; next == "" {
			break
		}
	}
	if len(all) != 105 {
		t.Fatalf("%d us-west-2 topics listed", len(all))
	}
	if got := e.listTopicsAs(Caller{Region: "us-west-1", Account: "111122223333"}); len(got) != 3 {
		t.Fatalf("us-west-1: %v", got)
	}
	if _, err := e.sns.CreateTopicIn(e.ctx, "us:west", "x", nil, nil); err == nil {
		t.Fatal("a region with a colon made a topic")
	}
}
