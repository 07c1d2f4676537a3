package sns

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/cloudwatch"
)

func (e *env) subAttrs(arn string) map[string]string {
	e.t.Helper()
	a, err := e.sns.GetSubscriptionAttributes(e.ctx, arn)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) setSubAttr(arn, name, value string) {
	e.t.Helper()
	if err := e.sns.SetSubscriptionAttribute(e.ctx, arn, name, value); err != nil {
		e.t.Fatalf("%s=%s: %v", name, value, err)
	}
}

// wantInvalid checks an InvalidParameter error's message.
func wantInvalid(t *testing.T, err error, msg string) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) || se.Code != "InvalidParameter" || se.Message != msg {
		t.Fatalf("got %v, want InvalidParameter: %s", err, msg)
	}
}

// TestRawMessageDelivery: a raw subscription receives the bare message with AWS's raw
// headers (and neither signature nor attributes); its confirmation is the usual JSON.
func TestRawMessageDelivery(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "raw", nil, nil)
	raw, plain := newSubscriber(t, nil), newSubscriber(t, nil)
	rawArn := e.subscribeConfirmedWith(topic, raw, map[string]string{"RawMessageDelivery": "True"})
	plainArn := e.subscribeConfirmed(topic, plain)
	if h := raw.header(0); h.Get("x-amz-sns-rawdelivery") != "" || raw.received()[0].Signature == "" {
		t.Fatalf("confirmation sent raw: %v", h)
	}
	if a := e.subAttrs(rawArn); a["RawMessageDelivery"] != "true" {
		t.Fatal(a)
	}
	if a := e.subAttrs(plainArn); a["RawMessageDelivery"] != "false" {
		t.Fatal(a)
	}

	msg := `{"hello": "world"} and not only JSON`
	id, err := e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: msg, Subject: "s",
		MessageAttributes: map[string]MessageAttributeValue{"kind": str("test"), "n": num("5")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.received()) != 2 || len(plain.received()) != 2 {
		t.Fatalf("%d %d", len(raw.received()), len(plain.received()))
	}
	if b := raw.body(1); b != msg {
		t.Fatalf("raw body %q", b)
	}
	h := raw.header(1)
	want := map[string]string{"X-Amz-Sns-Message-Type": "Notification", "X-Amz-Sns-Message-Id": id, "X-Amz-Sns-Topic-Arn": topic,
		"X-Amz-Sns-Subscription-Arn": rawArn, "X-Amz-Sns-Rawdelivery": "true", "Content-Type": "text/plain; charset=UTF-8",
		"User-Agent": "Amazon Simple Notification Service Agent"}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, h.Get(k), v)
		}
	}
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-sns-") && want[k] == "" {
			t.Errorf("unexpected header %s: %v", k, h[k])
		}
	}
	// The JSON subscriber has the signed document with the attributes.
	n := plain.received()[1]
	if n.Message != msg || n.MessageAttributes["kind"] != (messageAttr{"String", "test"}) || plain.header(1).Get("x-amz-sns-rawdelivery") != "" {
		t.Fatalf("%+v", n)
	}
	if err := VerifyMessage(&n, &signingKey(t).PublicKey); err != nil {
		t.Fatal(err)
	}

	// Back to JSON.
	e.setSubAttr(rawArn, "RawMessageDelivery", "false")
	e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: "json again"})
	if m := raw.received()[2]; m.Message != "json again" || m.Signature == "" || raw.header(2).Get("x-amz-sns-rawdelivery") != "" {
		t.Fatalf("%+v", m)
	}
	waitFor(t, "deliveries done", func() bool { return e.sns.PendingDeliveries() == 0 })
}

// TestDeliveryDecidedAtPublish: a delivery being retried keeps the form and the
// filtering decided when the message was published, whatever the subscription's
// attributes became since.
func TestDeliveryDecidedAtPublish(t *testing.T) {
	e := newEnv(t, RetryPolicy{Retries: 2, MinDelay: 300 * time.Millisecond, MaxDelay: 300 * time.Millisecond})
	topic, _ := e.sns.CreateTopic(e.ctx, "decided", nil, nil)
	// Request 0 is the confirmation; every notification's first attempt fails.
	sub := newSubscriber(t, func(n int) int {
		if n%2 == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	arn := e.subscribeConfirmedWith(topic, sub, map[string]string{"RawMessageDelivery": "true", "FilterPolicy": `{"k": ["v"]}`})
	if _, err := e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: "m1", MessageAttributes: attrs("k", str("v"))}); err != nil {
		t.Fatal(err)
	}
	// While the retry waits: JSON delivery, and a policy the message does not pass.
	e.setSubAttr(arn, "RawMessageDelivery", "false")
	e.setSubAttr(arn, "FilterPolicy", `{"k": ["other"]}`)
	waitFor(t, "retry", func() bool { return len(sub.received()) == 2 })
	if b := sub.body(1); b != "m1" || sub.header(1).Get("x-amz-sns-rawdelivery") != "true" {
		t.Fatalf("retry sent %q %v", b, sub.header(1))
	}
	// A message published now is filtered out: no delivery is even recorded.
	e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: "m2", MessageAttributes: attrs("k", str("v"))})
	waitFor(t, "deliveries done", func() bool { return e.sns.PendingDeliveries() == 0 })
	if n := sub.n.Load(); n != 3 {
		t.Fatalf("%d requests", n)
	}
}

// TestFilterPolicyDelivery: two subscribers, one with a filter policy; each published
// message reaches exactly the subscriptions whose policy it passes, through the scopes
// and the attribute changes.
func TestFilterPolicyDelivery(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "filtered", nil, nil)
	filtered, all := newSubscriber(t, nil), newSubscriber(t, nil)
	policy := `{"kind": ["deploy", {"prefix": "release-"}], "level": [{"numeric": [">=", 3]}]}`
	arn := e.subscribeConfirmedWith(topic, filtered, map[string]string{"FilterPolicy": policy})
	e.subscribeConfirmed(topic, all)
	if a := e.subAttrs(arn); a["FilterPolicy"] != policy || a["FilterPolicyScope"] != "MessageAttributes" {
		t.Fatal(a)
	}
	publish := func(msg string, a map[string]MessageAttributeValue) {
		t.Helper()
		if _, err := e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: msg, MessageAttributes: a}); err != nil {
			t.Fatal(err)
		}
	}
	publish("deploy-5", attrs("kind", str("deploy"), "level", num("5")))
	publish("deploy-1", attrs("kind", str("deploy"), "level", num("1")))
	publish("release-3", attrs("kind", str("release-2.0"), "level", num("3")))
	publish("test-9", attrs("kind", str("test"), "level", num("9")))
	publish("level-as-string", attrs("kind", str("deploy"), "level", str("9")))
	publish("no attributes", nil)
	if got, want := filtered.messages(), []string{"deploy-5", "release-3"}; !slices.Equal(got, want) {
		t.Fatalf("filtered subscriber got %q, want %q", got, want)
	}
	if got := all.messages(); len(got) != 6 {
		t.Fatalf("unfiltered subscriber got %q", got)
	}

	// A nested policy needs the MessageBody scope, set first.
	nested := `{"order": {"status": ["paid"]}, "total": [{"numeric": [">", 100]}]}`
	err := e.sns.SetSubscriptionAttribute(e.ctx, arn, "FilterPolicy", nested)
	wantInvalid(t, err, "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy")
	err = e.sns.SetSubscriptionAttribute(e.ctx, arn, "FilterPolicyScope", "Body")
	wantInvalid(t, err, "Invalid parameter: FilterPolicyScope: Invalid value [Body]. Please use either MessageBody or MessageAttributes")
	e.setSubAttr(arn, "FilterPolicyScope", "MessageBody")
	e.setSubAttr(arn, "FilterPolicy", nested)
	err = e.sns.SetSubscriptionAttribute(e.ctx, arn, "FilterPolicyScope", "MessageAttributes")
	wantInvalid(t, err, "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy")
	if a := e.subAttrs(arn); a["FilterPolicy"] != nested || a["FilterPolicyScope"] != "MessageBody" {
		t.Fatal(a)
	}
	publish(`{"order": {"status": "paid"}, "total": 150}`, nil)
	publish(`{"order": {"status": "paid"}, "total": 50}`, attrs("kind", str("deploy"), "level", num("5")))
	publish(`{"order": {"status": "new"}, "total": 150}`, nil)
	publish(`not json`, nil)
	if got := filtered.messages()[2:]; !slices.Equal(got, []string{`{"order": {"status": "paid"}, "total": 150}`}) {
		t.Fatalf("%q", got)
	}

	// An empty FilterPolicy removes the policy (and the scope is no longer shown).
	e.setSubAttr(arn, "FilterPolicy", "")
	if a := e.subAttrs(arn); a["FilterPolicy"] != "" || a["FilterPolicyScope"] != "" {
		t.Fatal(a)
	}
	publish("everything again", nil)
	if got := filtered.messages(); got[len(got)-1] != "everything again" {
		t.Fatalf("%q", got)
	}
	if got := all.messages(); len(got) != 11 {
		t.Fatalf("%d", len(got))
	}
	waitFor(t, "deliveries done", func() bool { return e.sns.PendingDeliveries() == 0 })
}

// TestFilterPolicyAlarmNotifications: alarm notifications are published like any
// message: they have no message attributes, so a MessageAttributes policy drops them
// (even one of {"exists": false}, as AWS documents), and a MessageBody policy is matched
// on the alarm's JSON.
func TestFilterPolicyAlarmNotifications(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "security", nil, nil)
	attrsPolicy, alarms, oks, plain := newSubscriber(t, nil), newSubscriber(t, nil), newSubscriber(t, nil), newSubscriber(t, nil)
	e.subscribeConfirmedWith(topic, attrsPolicy, map[string]string{"FilterPolicy": `{"team": [{"exists": false}]}`})
	e.subscribeConfirmedWith(topic, alarms, map[string]string{"FilterPolicyScope": "MessageBody",
		"FilterPolicy": `{"NewStateValue": ["ALARM"], "AlarmName": [{"prefix": "admin-"}], "Trigger": {"MetricName": ["FailedLoginCount"]}}`})
	e.subscribeConfirmedWith(topic, oks, map[string]string{"FilterPolicyScope": "MessageBody", "FilterPolicy": `{"NewStateValue": ["OK"]}`})
	e.subscribeConfirmed(topic, plain)

	dims := []cloudwatch.Dimension{{Name: "ClusterId", Value: "cluster-1"}}
	two := 2.0
	if err := e.cw.PutMetricAlarm(e.ctx, cloudwatch.PutMetricAlarmInput{AlarmName: "admin-failed-logins", Namespace: "AWS/CloudHSM",
		MetricName: "FailedLoginCount", Dimensions: dims, Statistic: "Sum", Period: 10, EvaluationPeriods: 1, Threshold: &two,
		ComparisonOperator: "GreaterThanOrEqualToThreshold", TreatMissingData: "notBreaching", AlarmActions: []string{topic}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.cw.Put("AWS/CloudHSM", "FailedLoginCount", dims, time.Time{}, 1, "Count"); err != nil {
			t.Fatal(err)
		}
	}
	// The notification has been delivered when Put returns.
	if len(plain.messages()) != 1 || len(alarms.messages()) != 1 {
		t.Fatalf("plain %d, alarms %d", len(plain.messages()), len(alarms.messages()))
	}
	var a cloudwatch.AlarmNotification
	if err := json.Unmarshal([]byte(alarms.messages()[0]), &a); err != nil || a.NewStateValue != "ALARM" || a.AlarmName != "admin-failed-logins" {
		t.Fatalf("%+v %v", a, err)
	}
	waitFor(t, "deliveries done", func() bool { return e.sns.PendingDeliveries() == 0 })
	if n, m := len(attrsPolicy.messages()), len(oks.messages()); n != 0 || m != 0 {
		t.Fatalf("attribute policy got %d, OK policy got %d", n, m)
	}
}

// TestSubscribeAttributes: Subscribe's attributes, their errors, and subscribing again.
func TestSubscribeAttributes(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "t", nil, nil)
	sub := newSubscriber(t, nil)
	subscribe := func(attrs map[string]string) (string, error) {
		out, err := e.sns.Subscribe(e.ctx, topic, "http", sub.srv.URL+"/hook", attrs, true)
		return out.SubscriptionArn, err
	}
	for attrs, msg := range map[string]string{
		`{"RawMessageDelivery": "yes"}`:                                                "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [yes]. Must be true or false.",
		`{"FilterPolicy": "{"}`:                                                        "Invalid parameter: Attributes Reason: FilterPolicy: failed to parse JSON.",
		`{"FilterPolicy": "{\"a\": {\"b\": [1]}}"}`:                                    "Invalid parameter: Attributes Reason: Filter policy scope MessageAttributes does not support nested filter policy",
		`{"FilterPolicyScope": "body"}`:                                                "Invalid parameter: Attributes Reason: FilterPolicyScope: Invalid value [body]. Please use either MessageBody or MessageAttributes",
		`{"FilterPolicy": "{\"a\": [{\"numeric\": [\">\", 5, \"<\", 1]}]}"}`:           "Invalid parameter: Attributes Reason: FilterPolicy: Bottom must be less than top",
		`{"RedrivePolicy": "{}"}`:                                                      "Invalid parameter: Attributes Reason: RedrivePolicy is not supported by Coffer",
		`{"DeliveryPolicy": "{\"healthyRetryPolicy\": {\"numRetries\": 101}}"}`:        "Invalid parameter: Attributes Reason: DeliveryPolicy: healthyRetryPolicy.numRetries must be less than or equal to 100",
		`{"Colour": "blue"}`:                                                           "Invalid parameter: Attributes Reason: Unknown attribute Colour",
		`{"FilterPolicyScope": "MessageBody", "FilterPolicy": "{\"a\": {\"b\": []}}"}`: "Invalid parameter: Attributes Reason: FilterPolicy: Empty arrays are not allowed",
	} {
		var m map[string]string
		if err := json.Unmarshal([]byte(attrs), &m); err != nil {
			t.Fatal(err)
		}
		_, err := subscribe(m)
		wantInvalid(t, err, msg)
	}
	// Pending: subscribing again sends a new confirmation and takes the attributes given.
	arn, err := subscribe(map[string]string{"RawMessageDelivery": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := subscribe(map[string]string{"FilterPolicyScope": "MessageBody", "FilterPolicy": `{"a": {"b": ["c"]}}`}); err != nil || again != arn {
		t.Fatal(again, err)
	}
	a := e.subAttrs(arn)
	if a["RawMessageDelivery"] != "true" || a["FilterPolicy"] != `{"a": {"b": ["c"]}}` || a["FilterPolicyScope"] != "MessageBody" {
		t.Fatal(a)
	}
	// The scope alone cannot leave the nested policy in the MessageAttributes scope.
	_, err = subscribe(map[string]string{"FilterPolicyScope": "MessageAttributes"})
	wantInvalid(t, err, "Invalid parameter: Attributes Reason: Filter policy scope MessageAttributes does not support nested filter policy")
	waitFor(t, "confirmations", func() bool { return len(sub.received()) == 2 })
	// The two confirmations are delivered concurrently and may arrive in either order;
	// the second subscription's token replaced the first's, so exactly one confirms.
	confirmed := 0
	for _, m := range sub.received() {
		if _, err := e.sns.ConfirmSubscription(e.ctx, topic, m.Token); err == nil {
			confirmed++
		}
	}
	if confirmed != 1 {
		t.Fatalf("%d of the two confirmation tokens confirmed, want the newer one only", confirmed)
	}
	// Confirmed: the same attributes (or none) return it; different ones are an error.
	for _, attrs := range []map[string]string{nil, {"RawMessageDelivery": "TRUE"}, {"FilterPolicyScope": "MessageBody"}} {
		if again, err := subscribe(attrs); err != nil || again != arn {
			t.Fatal(attrs, again, err)
		}
	}
	_, err = subscribe(map[string]string{"RawMessageDelivery": "false"})
	wantInvalid(t, err, "Invalid parameter: Attributes Reason: Subscription already exists with different attributes")
	_, err = subscribe(map[string]string{"FilterPolicy": `{"a": {"b": ["d"]}}`})
	wantInvalid(t, err, "Invalid parameter: Attributes Reason: Subscription already exists with different attributes")

	// SetSubscriptionAttributes' messages have no "Attributes Reason".
	err = e.sns.SetSubscriptionAttribute(e.ctx, arn, "RawMessageDelivery", "1")
	wantInvalid(t, err, "Invalid parameter: RawMessageDelivery: Invalid value [1]. Must be true or false.")
	err = e.sns.SetSubscriptionAttribute(e.ctx, arn, "FilterPolicy", `{"a": [{"exists": 1}]}`)
	wantInvalid(t, err, "Invalid parameter: FilterPolicy: exists match pattern must be either true or false.")
	err = e.sns.SetSubscriptionAttribute(e.ctx, arn, "FilterPolicy", `{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}`)
	wantInvalid(t, err, "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys")
	err = e.sns.SetSubscriptionAttribute(e.ctx, arn, "RedrivePolicy", `{}`)
	wantInvalid(t, err, "Invalid parameter: AttributeName Reason: RedrivePolicy is not supported by Coffer")
}

// TestSubscriptionAttributesReplicated: the attributes are replicated state that
// survives a restart, and a subscription recorded before they existed replays as it
// was: JSON delivery, no filter.
func TestSubscriptionAttributesReplicated(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "t", nil, nil)
	sub, old := newSubscriber(t, nil), newSubscriber(t, nil)
	arn := e.subscribeConfirmedWith(topic, sub, map[string]string{"RawMessageDelivery": "true"})
	e.setSubAttr(arn, "FilterPolicyScope", "MessageBody")
	e.setSubAttr(arn, "FilterPolicy", `{"a": {"b": ["c"]}}`)
	// A log entry of the format before subscription attributes (a confirmed subscription).
	oldArn := topic + ":00000000-0000-0000-0000-0000000000aa"
	body := json.RawMessage(`{"subscription":{"arn":"` + oldArn + `","topic_arn":"` + topic + `","protocol":"http","endpoint":"` + old.srv.URL +
		`","owner":"111122223333","confirmed":true,"token":"t","token_issued":"2026-11-23T12:00:00Z"},"confirmation":null}`)
	if _, err := e.store.Propose(e.ctx, cmdPutSub, 1, body); err != nil {
		t.Fatal(err)
	}
	// Apply refuses a nested policy in the MessageAttributes scope, however it comes.
	_, err := e.store.Propose(e.ctx, cmdPutSub, 1, putSubCmd{Sub: &subRec{Arn: topic + ":nested", TopicArn: topic, Protocol: "http",
		Endpoint: old.srv.URL + "/n", FilterPolicy: `{"a": {"b": ["c"]}}`}})
	wantCode(t, err, "InvalidParameter")
	e.restart()
	waitFor(t, "replayed", func() bool {
		_, err := e.sns.GetSubscriptionAttributes(e.ctx, oldArn)
		return err == nil
	})
	if a := e.subAttrs(arn); a["RawMessageDelivery"] != "true" || a["FilterPolicy"] != `{"a": {"b": ["c"]}}` || a["FilterPolicyScope"] != "MessageBody" {
		t.Fatal(a)
	}
	if a := e.subAttrs(oldArn); a["RawMessageDelivery"] != "false" || a["FilterPolicy"] != "" || a["PendingConfirmation"] != "false" {
		t.Fatal(a)
	}
	e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: `{"a": [{"b": "c"}]}`})
	e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: `{"a": {"b": "x"}}`})
	if got := sub.messages(); !slices.Equal(got, []string{`{"a": [{"b": "c"}]}`}) || sub.header(1).Get("x-amz-sns-rawdelivery") != "true" {
		t.Fatalf("%q", got)
	}
	if got := old.messages(); len(got) != 2 || old.received()[0].Signature == "" {
		t.Fatalf("%+v", old.received())
	}
}

// TestOpsSubscriptionAttributes: the query protocol carries the attributes both ways.
func TestOpsSubscriptionAttributes(t *testing.T) {
	e := newEnv(t, fast)
	topic := e.mustCall("CreateTopic", url.Values{"Name": {"t"}}).(*CreateTopicResult).TopicArn
	sub := newSubscriber(t, nil)
	policy := `{"kind": ["deploy"]}`
	arn := e.mustCall("Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {sub.srv.URL},
		"ReturnSubscriptionArn":  {"true"},
		"Attributes.entry.1.key": {"RawMessageDelivery"}, "Attributes.entry.1.value": {"true"},
		"Attributes.entry.2.key": {"FilterPolicy"}, "Attributes.entry.2.value": {policy}}).(*SubscribeResult).SubscriptionArn
	x := resultXML(t, "GetSubscriptionAttributes", e.mustCall("GetSubscriptionAttributes", url.Values{"SubscriptionArn": {arn}}))
	for _, want := range []string{"<entry><key>RawMessageDelivery</key><value>true</value></entry>",
		"<entry><key>FilterPolicy</key><value>{&#34;kind&#34;: [&#34;deploy&#34;]}</value></entry>",
		"<entry><key>FilterPolicyScope</key><value>MessageAttributes</value></entry>"} {
		if !strings.Contains(x, want) {
			t.Fatalf("%s\nmissing %s", x, want)
		}
	}
	e.mustCall("SetSubscriptionAttributes", url.Values{"SubscriptionArn": {arn}, "AttributeName": {"FilterPolicyScope"}, "AttributeValue": {"MessageBody"}})
	_, err := e.call("SetSubscriptionAttributes", url.Values{"SubscriptionArn": {arn}, "AttributeName": {"FilterPolicy"}, "AttributeValue": {`{"a": "b"}`}})
	wantAPIError(t, err, 400, "InvalidParameter")
	if !strings.Contains(err.Error(), `Invalid parameter: FilterPolicy: "a" must be an object or an array`) {
		t.Fatal(err)
	}
}

// TestRawDeliveryResumesAfterRestart: a raw delivery pending at a restart is resumed raw.
func TestRawDeliveryResumesAfterRestart(t *testing.T) {
	e := newEnv(t, RetryPolicy{Retries: 3, MinDelay: time.Hour, MaxDelay: time.Hour})
	topic, _ := e.sns.CreateTopic(e.ctx, "t", nil, nil)
	var up atomic.Bool
	up.Store(true)
	sub := newSubscriber(t, func(int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusBadGateway
	})
	e.subscribeConfirmedWith(topic, sub, map[string]string{"RawMessageDelivery": "true"})
	up.Store(false)
	if _, err := e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: "durable and raw"}); err != nil {
		t.Fatal(err)
	}
	e.restart()
	up.Store(true)
	waitFor(t, "state replayed", func() bool { return e.sns.PendingDeliveries() == 1 })
	if n := e.sns.Resume(); n != 1 {
		t.Fatalf("resumed %d", n)
	}
	waitFor(t, "resumed delivery", func() bool { return len(sub.received()) == 2 })
	if b := sub.body(1); b != "durable and raw" || sub.header(1).Get("x-amz-sns-rawdelivery") != "true" {
		t.Fatalf("%q %v", b, sub.header(1))
	}
}
