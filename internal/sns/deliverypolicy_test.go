package sns

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDeliveryPolicyValidation(t *testing.T) {
	for _, tc := range []struct {
		doc, err string // err "" = valid
	}{
		{``, ""},
		{`{}`, ""},
		{`{"healthyRetryPolicy":{"numRetries":5}}`, ""},
		{`{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":60,"numRetries":50,"numNoDelayRetries":3,"numMinDelayRetries":2,"numMaxDelayRetries":35,"backoffFunction":"linear"}}`, ""},
		{`{"healthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"sicklyRetryPolicy":null,"throttlePolicy":null,"requestPolicy":{"headerContentType":"text/plain; charset=UTF-8"},"guaranteed":false}`, ""},
		{`{"throttlePolicy":{"maxReceivesPerSecond":10},"requestPolicy":{"headerContentType":"application/json"}}`, ""},
		{`{"requestPolicy":{"headerContentType":"application/xml"}}`, ""},
		{`{"healthyRetryPolicy":{"numRetries":0}}`, ""},
		{`{"healthyRetryPolicy":{"minDelayTarget":3600,"maxDelayTarget":3600,"numRetries":1}}`, ""},
		{`{`, "Invalid parameter: DeliveryPolicy: failed to parse JSON"},
		{`[]`, "Invalid parameter: DeliveryPolicy: failed to parse JSON"},
		{`null`, "Invalid parameter: DeliveryPolicy: failed to parse JSON"},
		{`{} {}`, "Invalid parameter: DeliveryPolicy: failed to parse JSON"},
		{`{"http":{}}`, "Invalid parameter: DeliveryPolicy: Unexpected JSON member: http"},
		{`{"healthyRetryPolicy":{"numRetries":101}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.numRetries must be less than or equal to 100"},
		{`{"healthyRetryPolicy":{"numRetries":-1}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.numRetries must be greater than or equal to 0"},
		{`{"healthyRetryPolicy":{"numRetries":1.5}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.numRetries must be an integer"},
		{`{"healthyRetryPolicy":{"numRetries":"3"}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.numRetries must be an integer"},
		{`{"healthyRetryPolicy":{"minDelayTarget":0}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.minDelayTarget must be greater than or equal to 1"},
		{`{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":3601}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.maxDelayTarget must be less than or equal to 3600"},
		{`{"healthyRetryPolicy":{"minDelayTarget":30}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.maxDelayTarget must be greater than or equal to minDelayTarget"},
		{`{"healthyRetryPolicy":{"minDelayTarget":5,"maxDelayTarget":3}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.maxDelayTarget must be greater than or equal to minDelayTarget"},
		{`{"healthyRetryPolicy":{"numRetries":3,"numNoDelayRetries":2,"numMinDelayRetries":1,"numMaxDelayRetries":1}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.numRetries must be greater than or equal to total of numMinDelayRetries, numNoDelayRetries and numMaxDelayRetries"},
		{`{"healthyRetryPolicy":{"numNoDelayRetries":-1}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.numNoDelayRetries must be greater than or equal to 0"},
		{`{"healthyRetryPolicy":{"backoffFunction":"cubic"}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.backoffFunction must be one of: linear, arithmetic, geometric, exponential"},
		{`{"healthyRetryPolicy":{"minDelayTarget":60,"maxDelayTarget":60,"numRetries":61}}`, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy: total retry time must be less than or equal to 3600 seconds"},
		{`{"healthyRetryPolicy":{"minDelayTarget":60,"maxDelayTarget":60,"numRetries":60}}`, ""},
		{`{"healthyRetryPolicy":{"colour":1}}`, "Invalid parameter: DeliveryPolicy: Unexpected JSON member: colour"},
		{`{"throttlePolicy":{"maxReceivesPerSecond":0}}`, "Invalid parameter: DeliveryPolicy: throttlePolicy.maxReceivesPerSecond must be greater than or equal to 1"},
		{`{"requestPolicy":{"headerContentType":"text/html"}}`, "Invalid parameter: DeliveryPolicy: requestPolicy.headerContentType must be one of: text/plain, application/json, application/xml"},
		{`{"sicklyRetryPolicy":{"numRetries":1}}`, "Invalid parameter: DeliveryPolicy: sicklyRetryPolicy is not supported by Coffer"},
		{`{"guaranteed":true}`, "Invalid parameter: DeliveryPolicy: guaranteed is not supported by Coffer"},
	} {
		_, _, err := parseSubDeliveryPolicy(tc.doc, setAttrPrefix)
		got := ""
		if err != nil {
			wantCode(t, err, "InvalidParameter")
			got = err.(*Error).Message
		}
		if got != tc.err {
			t.Errorf("%s: got %q, want %q", tc.doc, got, tc.err)
		}
	}
	for _, tc := range []struct {
		doc, err string
	}{
		{`{}`, ""},
		{`{"http":{"defaultHealthyRetryPolicy":{"numRetries":5}}}`, ""},
		{`{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":2,"numRetries":4,"backoffFunction":"geometric"},"disableSubscriptionOverrides":true,"defaultThrottlePolicy":{"maxReceivesPerSecond":1},"defaultRequestPolicy":{"headerContentType":"text/plain"}}}`, ""},
		{`{"http":{"defaultHealthyRetryPolicy":{"numRetries":101}}}`, "Invalid parameter: DeliveryPolicy: http.defaultHealthyRetryPolicy.numRetries must be less than or equal to 100"},
		{`{"http":{"defaultThrottlePolicy":{"maxReceivesPerSecond":-2}}}`, "Invalid parameter: DeliveryPolicy: http.defaultThrottlePolicy.maxReceivesPerSecond must be greater than or equal to 1"},
		{`{"http":{"defaultRequestPolicy":{"headerContentType":"image/png"}}}`, "Invalid parameter: DeliveryPolicy: http.defaultRequestPolicy.headerContentType must be one of: text/plain, application/json, application/xml"},
		{`{"http":{"disableSubscriptionOverrides":"yes"}}`, "Invalid parameter: DeliveryPolicy: http.disableSubscriptionOverrides must be a boolean"},
		{`{"http":{"throttlePolicy":{"maxReceivesPerSecond":1}}}`, "Invalid parameter: DeliveryPolicy: Unexpected JSON member: throttlePolicy"},
		{`{"sqs":{}}`, "Invalid parameter: DeliveryPolicy: Unexpected JSON member: sqs"},
	} {
		_, _, err := parseTopicDeliveryPolicy(tc.doc, setAttrPrefix)
		got := ""
		if err != nil {
			got = err.(*Error).Message
		}
		if got != tc.err {
			t.Errorf("topic %s: got %q, want %q", tc.doc, got, tc.err)
		}
	}
}

func secs(ds ...float64) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = time.Duration(d * float64(time.Second))
	}
	return out
}

func TestRetrySchedule(t *testing.T) {
	delays := func(s schedule) []time.Duration {
		var out []time.Duration
		for k := 0; ; k++ {
			d := s.delay(k)
			if d < 0 {
				return out
			}
			out = append(out, d)
		}
	}
	sec := time.Second
	for _, tc := range []struct {
		name string
		s    schedule
		want []time.Duration
	}{
		// AWS's default: 3 retries, 20 s apart.
		{"default", (&healthyRetryPolicy{}).schedule(), secs(20, 20, 20)},
		{"none", schedule{Min: sec, Max: sec, Retries: 0, Backoff: "linear"}, nil},
		// The phases, in order: no delay, min delay, backoff, max delay.
		{"phases", schedule{Min: sec, Max: 5 * sec, Retries: 9, NoDelay: 2, MinDelay: 1, MaxDelay: 2, Backoff: "linear"},
			secs(0, 0, 1, 1, 1+4.0/3, 1+8.0/3, 5, 5, 5)},
		{"linear", schedule{Min: sec, Max: 9 * sec, Retries: 5, Backoff: "linear"}, secs(1, 3, 5, 7, 9)},
		{"arithmetic", schedule{Min: sec, Max: 11 * sec, Retries: 5, Backoff: "arithmetic"}, secs(1, 2, 4, 7, 11)},
		{"geometric", schedule{Min: sec, Max: 16 * sec, Retries: 5, Backoff: "geometric"}, secs(1, 2, 4, 8, 16)},
		{"exponential", schedule{Min: sec, Max: 10 * sec, Retries: 6, Backoff: "exponential"}, secs(1, 2, 4, 8, 10, 10)},
		{"one backoff retry", schedule{Min: 2 * sec, Max: 10 * sec, Retries: 1, Backoff: "geometric"}, secs(2)},
		{"min = max", schedule{Min: 7 * sec, Max: 7 * sec, Retries: 3, Backoff: "arithmetic"}, secs(7, 7, 7)},
	} {
		got := delays(tc.s)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if d := got[i] - tc.want[i]; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
	// AWS's example policy (sns-message-delivery-retries): 50 retries, 3 immediately, 2
	// at 1 s, 10 backing off linearly from 1 to 60 s, 35 at 60 s.
	var h healthyRetryPolicy
	if err := json.Unmarshal([]byte(`{"minDelayTarget":1,"maxDelayTarget":60,"numRetries":50,"numNoDelayRetries":3,"numMinDelayRetries":2,"numMaxDelayRetries":35,"backoffFunction":"linear"}`), &h); err != nil {
		t.Fatal(err)
	}
	s := h.schedule()
	got := delays(s)
	if len(got) != 50 || got[0] != 0 || got[2] != 0 || got[3] != sec || got[4] != sec || got[5] != sec || got[14] != 60*sec || got[15] != 60*sec || got[49] != 60*sec {
		t.Fatalf("%v", got)
	}
	// 2 + (1+...+60 in 10 equal steps: 305) + 35*60.
	if tot := s.total(); tot != (2+305+35*60)*sec {
		t.Fatalf("total %v", tot)
	}
}

func TestEffectiveDeliveryPolicy(t *testing.T) {
	e := newEnv(t, RetryPolicy{})
	topic, err := e.sns.CreateTopic(e.ctx, "dp", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(t, nil)
	arn := e.subscribeConfirmed(topic, sub)
	topicAttrs := func() map[string]string {
		a, err := e.sns.GetTopicAttributes(e.ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	const defHealthy = `{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"}`
	// Nothing set: the node's policy, AWS's default schedule, shown as AWS shows it (linear).
	if a := topicAttrs(); a["EffectiveDeliveryPolicy"] != `{"http":{"defaultHealthyRetryPolicy":`+defHealthy+`,"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}` || a["DeliveryPolicy"] != "" {
		t.Fatal(a)
	}
	if a := e.subAttrs(arn); a["EffectiveDeliveryPolicy"] != `{"healthyRetryPolicy":`+defHealthy+`,"sicklyRetryPolicy":null,"throttlePolicy":null,"requestPolicy":{"headerContentType":"text/plain; charset=UTF-8"},"guaranteed":false}` {
		t.Fatal(a)
	}
	// Topic defaults.
	if err := e.sns.SetTopicAttribute(e.ctx, topic, "DeliveryPolicy", `{"http": {"defaultHealthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 2, "maxDelayTarget": 8, "backoffFunction": "geometric"}, "defaultThrottlePolicy": {"maxReceivesPerSecond": 4}}}`); err != nil {
		t.Fatal(err)
	}
	topicHealthy := `{"minDelayTarget":2,"maxDelayTarget":8,"numRetries":5,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"geometric"}`
	if a := topicAttrs(); a["DeliveryPolicy"] != `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":2,"maxDelayTarget":8,"numRetries":5,"backoffFunction":"geometric"},"defaultThrottlePolicy":{"maxReceivesPerSecond":4}}}` ||
		a["EffectiveDeliveryPolicy"] != `{"http":{"defaultHealthyRetryPolicy":`+topicHealthy+`,"disableSubscriptionOverrides":false,"defaultThrottlePolicy":{"maxReceivesPerSecond":4},"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}` {
		t.Fatal(a)
	}
	if a := e.subAttrs(arn); a["EffectiveDeliveryPolicy"] != `{"healthyRetryPolicy":`+topicHealthy+`,"sicklyRetryPolicy":null,"throttlePolicy":{"maxReceivesPerSecond":4},"requestPolicy":{"headerContentType":"text/plain; charset=UTF-8"},"guaranteed":false}` || a["DeliveryPolicy"] != "" {
		t.Fatal(a)
	}
	// Subscription overrides, part by part: its retry policy replaces the topic's whole
	// (missing members take AWS's defaults), the topic's throttle stays.
	e.setSubAttr(arn, "DeliveryPolicy", `{"healthyRetryPolicy": {"numRetries": 7}, "requestPolicy": {"headerContentType": "application/json"}}`)
	subHealthy := `{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":7,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"}`
	if a := e.subAttrs(arn); a["EffectiveDeliveryPolicy"] != `{"healthyRetryPolicy":`+subHealthy+`,"sicklyRetryPolicy":null,"throttlePolicy":{"maxReceivesPerSecond":4},"requestPolicy":{"headerContentType":"application/json"},"guaranteed":false}` ||
		a["DeliveryPolicy"] != `{"healthyRetryPolicy":{"numRetries":7},"requestPolicy":{"headerContentType":"application/json"}}` {
		t.Fatal(a)
	}
	// disableSubscriptionOverrides: the topic's policy only.
	if err := e.sns.SetTopicAttribute(e.ctx, topic, "DeliveryPolicy", `{"http": {"defaultHealthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 2, "maxDelayTarget": 8, "backoffFunction": "geometric"}, "disableSubscriptionOverrides": true}}`); err != nil {
		t.Fatal(err)
	}
	if a := e.subAttrs(arn); a["EffectiveDeliveryPolicy"] != `{"healthyRetryPolicy":`+topicHealthy+`,"sicklyRetryPolicy":null,"throttlePolicy":null,"requestPolicy":{"headerContentType":"text/plain; charset=UTF-8"},"guaranteed":false}` {
		t.Fatal(a)
	}
	// Removing both.
	if err := e.sns.SetTopicAttribute(e.ctx, topic, "DeliveryPolicy", ""); err != nil {
		t.Fatal(err)
	}
	e.setSubAttr(arn, "DeliveryPolicy", "")
	if a := e.subAttrs(arn); !strings.Contains(a["EffectiveDeliveryPolicy"], defHealthy) || a["DeliveryPolicy"] != "" {
		t.Fatal(a)
	}
	// Errors from SetTopicAttributes, CreateTopic and Subscribe.
	err = e.sns.SetTopicAttribute(e.ctx, topic, "DeliveryPolicy", `{"http":{"defaultHealthyRetryPolicy":{"numRetries":101}}}`)
	if wantCode(t, err, "InvalidParameter"); err.(*Error).Message != "Invalid parameter: DeliveryPolicy: http.defaultHealthyRetryPolicy.numRetries must be less than or equal to 100" {
		t.Fatal(err)
	}
	_, err = e.sns.CreateTopic(e.ctx, "dp2", map[string]string{"DeliveryPolicy": `{"http":{"defaultHealthyRetryPolicy":{"numRetries":101}}}`}, nil)
	if wantCode(t, err, "InvalidParameter"); err.(*Error).Message != "Invalid parameter: Attributes Reason: DeliveryPolicy: http.defaultHealthyRetryPolicy.numRetries must be less than or equal to 100" {
		t.Fatal(err)
	}
	topic2, err := e.sns.CreateTopic(e.ctx, "dp2", map[string]string{"DeliveryPolicy": `{"http":{"defaultHealthyRetryPolicy":{"numRetries":1}}}`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sns.CreateTopic(e.ctx, "dp2", map[string]string{"DeliveryPolicy": `{"http":{"defaultHealthyRetryPolicy":{"numRetries":2}}}`}, nil); err == nil {
		t.Fatal("created again with another policy")
	}
	// Subscribe with a DeliveryPolicy; subscribing again with another is refused.
	sub2 := newSubscriber(t, nil)
	arn2 := e.subscribeConfirmedWith(topic2, sub2, map[string]string{"DeliveryPolicy": `{"healthyRetryPolicy":{"numRetries":2,"minDelayTarget":1,"maxDelayTarget":1}}`})
	if a := e.subAttrs(arn2); !strings.Contains(a["EffectiveDeliveryPolicy"], `"minDelayTarget":1,"maxDelayTarget":1,"numRetries":2,`) {
		t.Fatal(a)
	}
	if _, err := e.sns.Subscribe(e.ctx, topic2, "http", sub2.srv.URL+"/hook", map[string]string{"DeliveryPolicy": `{"healthyRetryPolicy":{"numRetries":3}}`}, true); err == nil {
		t.Fatal("subscribed again with another policy")
	}
	// Replicated: after a restart, the same.
	e.restart()
	waitFor(t, "replayed", func() bool {
		a, err := e.sns.GetSubscriptionAttributes(e.ctx, arn2)
		return err == nil && a["DeliveryPolicy"] != ""
	})
	if a, _ := e.sns.GetTopicAttributes(e.ctx, topic2); a["DeliveryPolicy"] != `{"http":{"defaultHealthyRetryPolicy":{"numRetries":1}}}` {
		t.Fatal(a)
	}
}

// TestSetTopicAttrOldEntry: a sns.topic.set_attribute entry written before DeliveryPolicy
// was settable (no name) still sets DisplayName on replay.
func TestSetTopicAttrOldEntry(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "old", nil, nil)
	body := json.RawMessage(`{"arn":"` + topic + `","display_name":"Old style"}`)
	if _, err := e.store.Propose(e.ctx, cmdSetTopicAttr, 1, body); err != nil {
		t.Fatal(err)
	}
	if err := e.sns.SetTopicAttribute(e.ctx, topic, "DeliveryPolicy", `{"http":{"defaultHealthyRetryPolicy":{"numRetries":4}}}`); err != nil {
		t.Fatal(err)
	}
	check := func() {
		a, err := e.sns.GetTopicAttributes(e.ctx, topic)
		if err != nil || a["DisplayName"] != "Old style" || a["DeliveryPolicy"] != `{"http":{"defaultHealthyRetryPolicy":{"numRetries":4}}}` {
			t.Fatal(a, err)
		}
	}
	check()
	e.restart()
	waitFor(t, "replayed", func() bool {
		a, err := e.sns.GetTopicAttributes(e.ctx, topic)
		return err == nil && a["DeliveryPolicy"] != ""
	})
	check()
	// An unknown attribute name in an entry is an error, not a silent DisplayName change.
	if _, err := e.store.Propose(e.ctx, cmdSetTopicAttr, 1, setTopicAttrCmd{Arn: topic, Name: "Bogus", Value: "x"}); err == nil {
		t.Fatal("bogus attribute applied")
	}
	check()
}

// TestDeliveryPolicyRetries: a loopback endpoint that fails 3 times, with a subscription
// policy of 4 retries (1 without delay, then 1 s apart): 4 attempts, spaced as the
// policy says; the content type is the policy's.
func TestDeliveryPolicyRetries(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "dp", nil, nil)
	var mu sync.Mutex
	var times []time.Time
	fails := 3
	sub := newSubscriber(t, func(n int) int {
		if n == 0 {
			return http.StatusOK // the confirmation
		}
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		if len(times) <= fails {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	arn := e.subscribeConfirmed(topic, sub)
	e.setSubAttr(arn, "DeliveryPolicy", `{"healthyRetryPolicy":{"numRetries":4,"numNoDelayRetries":1,"minDelayTarget":1,"maxDelayTarget":1},"requestPolicy":{"headerContentType":"application/json"}}`)
	if _, err := e.sns.Publish(e.ctx, PublishInput{TopicArn: topic, Message: "retry me"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(sub.messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := sub.messages(); len(got) != 1 || got[0] != "retry me" {
		t.Fatalf("%q", got)
	}
	mu.Lock()
	ts := append([]time.Time(nil), times...)
	mu.Unlock()
	if len(ts) != 4 {
		t.Fatalf("%d attempts", len(ts))
	}
	gaps := []time.Duration{ts[1].Sub(ts[0]), ts[2].Sub(ts[1]), ts[3].Sub(ts[2])}
	if gaps[0] > 500*time.Millisecond || gaps[1] < 900*time.Millisecond || gaps[1] > 2*time.Second || gaps[2] < 900*time.Millisecond || gaps[2] > 2*time.Second {
		t.Fatalf("gaps %v", gaps)
	}
	if ct := sub.header(1).Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	if ct := sub.header(0).Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Fatalf("confirmation content type %q", ct)
	}
	waitFor(t, "no pending delivery", func() bool { return e.sns.PendingDeliveries() == 0 })

	// Exhausted: numRetries 1 without delay, always failing: 2 attempts, then dropped.
	mu.Lock()
	times, fails = nil, 100
	mu.Unlock()
	e.setSubAttr(arn, "DeliveryPolicy", `{"healthyRetryPolicy":{"numRetries":1,"numNoDelayRetries":1}}`)
	e.sns.Publish(e.ctx, PublishInput{TopicArn: topic, Message: "m"})
	waitFor(t, "gave up", func() bool { return e.sns.PendingDeliveries() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 2 {
		t.Fatalf("%d attempts", len(times))
	}
}

// TestDeliveryPolicyThrottle: maxReceivesPerSecond 2 spaces deliveries 500 ms apart.
func TestDeliveryPolicyThrottle(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "dp", nil, nil)
	var mu sync.Mutex
	var times []time.Time
	sub := newSubscriber(t, func(n int) int {
		if n > 0 {
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
		}
		return http.StatusOK
	})
	e.subscribeConfirmed(topic, sub)
	if err := e.sns.SetTopicAttribute(e.ctx, topic, "DeliveryPolicy", `{"http":{"defaultThrottlePolicy":{"maxReceivesPerSecond":2}}}`); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.sns.Publish(e.ctx, PublishInput{TopicArn: topic, Message: "m"})
	}
	waitFor(t, "3 deliveries", func() bool { return len(sub.messages()) == 3 })
	mu.Lock()
	defer mu.Unlock()
	if span := times[2].Sub(times[0]); span < 900*time.Millisecond {
		t.Fatalf("3 deliveries in %v at 2/s", span)
	}
}

func FuzzDeliveryPolicy(f *testing.F) {
	for _, s := range []string{
		`{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":60,"numRetries":50,"numNoDelayRetries":3,"numMinDelayRetries":2,"numMaxDelayRetries":35,"backoffFunction":"linear"}}`,
		`{"http":{"defaultHealthyRetryPolicy":{"numRetries":5},"disableSubscriptionOverrides":true,"defaultThrottlePolicy":{"maxReceivesPerSecond":3},"defaultRequestPolicy":{"headerContentType":"application/json"}}}`,
		`{"throttlePolicy":{"maxReceivesPerSecond":1},"requestPolicy":{"headerContentType":"text/plain"},"sicklyRetryPolicy":null,"guaranteed":false}`,
		`{"healthyRetryPolicy":{"backoffFunction":"exponential","minDelayTarget":1,"maxDelayTarget":3600,"numRetries":100}}`,
		`{`, `null`, `[]`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		for _, topic := range []bool{false, true} {
			var norm string
			var h *healthyRetryPolicy
			var err error
			if topic {
				var p *topicDeliveryPolicy
				norm, p, err = parseTopicDeliveryPolicy(doc, setAttrPrefix)
				if p != nil && p.HTTP != nil {
					h = p.HTTP.DefaultHealthyRetryPolicy
				}
			} else {
				var p *subDeliveryPolicy
				norm, p, err = parseSubDeliveryPolicy(doc, setAttrPrefix)
				if p != nil {
					h = p.HealthyRetryPolicy
				}
			}
			if err != nil {
				if e, ok := err.(*Error); !ok || e.Code != "InvalidParameter" || !strings.HasPrefix(e.Message, "Invalid parameter: DeliveryPolicy: ") {
					t.Fatalf("%q: %v", doc, err)
				}
				continue
			}
			// A valid policy normalizes to itself and keeps within AWS's limits.
			var again string
			if topic {
				again, _, err = parseTopicDeliveryPolicy(norm, setAttrPrefix)
			} else {
				again, _, err = parseSubDeliveryPolicy(norm, setAttrPrefix)
			}
			if err != nil || again != norm {
				t.Fatalf("%q -> %q -> %q %v", doc, norm, again, err)
			}
			if h != nil {
				s := h.schedule()
				if s.Retries > 100 || s.total() > time.Hour {
					t.Fatalf("%q: %+v", doc, s)
				}
				for k := range s.Retries {
					if d := s.delay(k); d < 0 || d > s.Max {
						t.Fatalf("%q: delay %d = %v", doc, k, d)
					}
				}
			}
		}
	})
}
