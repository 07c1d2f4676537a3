package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSNSRawDeliveryAndFilterPolicy: two HTTP subscribers on loopback, subscribed with
// Debian's AWS CLI: one with RawMessageDelivery and a filter policy, one plain. Each
// message published with attributes reaches exactly the subscribers it should, the raw
// one as the bare message with AWS's raw headers, the other as the signed JSON
// document; then the raw subscription's policy moves to the MessageBody scope.
func TestSNSRawDeliveryAndFilterPolicy(t *testing.T) {
	t.Parallel() // independent node
	s, root := debianCLINode(t)
	var topic struct{ TopicArn string }
	topic.TopicArn = sdkCreateTopic(t, s, root, "deploys")

	raw, plain := newSNSReceiver(t), newSNSReceiver(t)
	policy := `{"kind":["deploy",{"prefix":"release-"}],"level":[{"numeric":[">=",3]}]}`
	attrs, _ := json.Marshal(map[string]string{"RawMessageDelivery": "true", "FilterPolicy": policy})
	rawArn := snsSubscribe(t, s, root, topic.TopicArn, raw.URL+"/raw", "--attributes", string(attrs))
	sdkSNSSubscribe(t, s, root, topic.TopicArn, plain.URL+"/plain")

	if a := sdkSubscriptionAttributes(t, s, root, rawArn); a["RawMessageDelivery"] != "true" || a["FilterPolicy"] != policy || a["FilterPolicyScope"] != "MessageAttributes" {
		t.Fatalf("%v", a)
	}
	// The confirmation was the JSON document, not raw.
	if r := raw.requests()[0]; r.Header.Get("x-amz-sns-rawdelivery") != "" || !strings.Contains(r.Body, `"SubscribeURL"`) {
		t.Fatalf("confirmation: %v %s", r.Header, r.Body)
	}
	// AWS's validation errors reach the CLI.
	_, errOut, ok := awsAs(t, s, root, "sns", "set-subscription-attributes", "--subscription-arn", rawArn,
		"--attribute-name", "FilterPolicy", "--attribute-value", `{"kind":[{"numeric":[">",5,"<",1]}]}`)
	if ok || !strings.Contains(errOut, "(InvalidParameter)") || !strings.Contains(errOut, "Invalid parameter: FilterPolicy: Bottom must be less than top") {
		t.Fatalf("ok=%v %s", ok, errOut)
	}

	// The first message is published with the CLI (--message-attributes as JSON), the
	// others, which check the server's filtering, with queryCall.
	publishCLI := func(msg, attrs string) string {
		t.Helper()
		var out struct{ MessageId string }
		awsOK(t, s, root, &out, "sns", "publish", "--topic-arn", topic.TopicArn, "--message", msg, "--message-attributes", attrs)
		return out.MessageId
	}
	publish := func(msg, attrs string) string {
		t.Helper()
		params := []string{"TopicArn", topic.TopicArn, "Message", msg}
		if attrs != "" {
			var m map[string]struct{ DataType, StringValue string }
			if err := json.Unmarshal([]byte(attrs), &m); err != nil {
				t.Fatal(err)
			}
			names := slices.Sorted(maps.Keys(m))
			for i, name := range names {
				p := fmt.Sprintf("MessageAttributes.entry.%d.", i+1)
				params = append(params, p+"Name", name, p+"Value.DataType", m[name].DataType, p+"Value.StringValue", m[name].StringValue)
			}
		}
		var out struct {
			MessageID string `xml:"PublishResult>MessageId"`
		}
		qOK(t, s, root, &out, "sns", "Publish", params...)
		return out.MessageID
	}
	attr := func(kind, levelType, level string) string {
		return `{"kind":{"DataType":"String","StringValue":"` + kind + `"},"level":{"DataType":"` + levelType + `","StringValue":"` + level + `"}}`
	}
	ids := map[string]string{"deploy-5": publishCLI("deploy-5", attr("deploy", "Number", "5"))} // message → MessageId
	for _, m := range []struct{ msg, attrs string }{
		{"deploy-1", attr("deploy", "Number", "1")},
		{"release-3", attr("release-2.0", "Number", "3")},
		{"test-9", attr("test", "Number", "9")},
		{"level-as-a-string", attr("deploy", "String", "9")},
		{"no attributes", ""},
	} {
		ids[m.msg] = publish(m.msg, m.attrs)
	}
	// Deliveries run in the background: wait for what must come, then a little more for
	// what must not.
	waitFor(t, 20*time.Second, func() bool { return len(plain.notifications()) == 6 && len(raw.notifications()) == 2 })
	time.Sleep(500 * time.Millisecond)

	var rawGot []string
	for _, r := range raw.notifications() {
		rawGot = append(rawGot, r.Body)
		want := map[string]string{"X-Amz-Sns-Message-Type": "Notification", "X-Amz-Sns-Message-Id": ids[r.Body],
			"X-Amz-Sns-Topic-Arn": topic.TopicArn, "X-Amz-Sns-Subscription-Arn": rawArn, "X-Amz-Sns-Rawdelivery": "true"}
		for k, v := range want {
			if got := r.Header.Get(k); got != v || v == "" {
				t.Errorf("%q: %s is %q, want %q", r.Body, k, got, v)
			}
		}
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-sns-") && want[k] == "" {
				t.Errorf("%q: unexpected header %s: %v", r.Body, k, r.Header[k])
			}
		}
	}
	slices.Sort(rawGot)
	if want := []string{"deploy-5", "release-3"}; !slices.Equal(rawGot, want) {
		t.Fatalf("raw subscriber got %q, want %q", rawGot, want)
	}
	var plainGot []string
	for _, r := range plain.notifications() {
		var n struct {
			Type, MessageId, Message, Signature string
			MessageAttributes                   map[string]struct{ Type, Value string }
		}
		if err := json.Unmarshal([]byte(r.Body), &n); err != nil || n.Type != "Notification" || n.Signature == "" ||
			n.MessageId != ids[n.Message] || r.Header.Get("x-amz-sns-rawdelivery") != "" {
			t.Fatalf("plain subscriber: %v %s", err, r.Body)
		}
		if n.Message != "no attributes" && n.MessageAttributes["kind"].Type != "String" {
			t.Fatalf("plain subscriber: attributes missing: %s", r.Body)
		}
		plainGot = append(plainGot, n.Message)
	}
	slices.Sort(plainGot)
	if want := []string{"deploy-1", "deploy-5", "level-as-a-string", "no attributes", "release-3", "test-9"}; !slices.Equal(plainGot, want) {
		t.Fatalf("plain subscriber got %q, want %q", plainGot, want)
	}

	// The MessageBody scope, with a nested key, set with set-subscription-attributes.
	awsOK(t, s, root, nil, "sns", "set-subscription-attributes", "--subscription-arn", rawArn,
		"--attribute-name", "FilterPolicyScope", "--attribute-value", "MessageBody")
	bodyPolicy := `{"service":[{"prefix":"hsm-"}],"change":{"risk":["high"]}}`
	qOK(t, s, root, nil, "sns", "SetSubscriptionAttributes", "SubscriptionArn", rawArn,
		"AttributeName", "FilterPolicy", "AttributeValue", bodyPolicy)
	if a := sdkSubscriptionAttributes(t, s, root, rawArn); a["FilterPolicy"] != bodyPolicy || a["FilterPolicyScope"] != "MessageBody" {
		t.Fatalf("%v", a)
	}
	match := `{"service":"hsm-eu-1","change":{"risk":"high"}}`
	publish(`{"service":"kms","change":{"risk":"high"}}`, "")
	publish(`{"service":"hsm-eu-1","change":{"risk":"low"}}`, attr("deploy", "Number", "5"))
	publish(match, "")
	waitFor(t, 20*time.Second, func() bool { return len(plain.notifications()) == 9 && len(raw.notifications()) == 3 })
	time.Sleep(500 * time.Millisecond)
	if n := raw.notifications(); len(n) != 3 || n[2].Body != match {
		t.Fatalf("raw subscriber: %+v", n)
	}
}
