package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSNSDeliveryPolicyRetries: an HTTP subscriber on loopback whose endpoint fails the
// first two notification attempts, subscribed with Debian's AWS CLI and given a
// DeliveryPolicy of 3 retries (one without delay, then 1 s apart) and a JSON content
// type. The message arrives on the third attempt, spaced as the policy says, and
// get-subscription-attributes shows the policy and the EffectiveDeliveryPolicy (merged
// with the topic's defaults); bad policies are refused with AWS's messages.
func TestSNSDeliveryPolicyRetries(t *testing.T) {
	t.Parallel() // independent node
	s, root := debianCLINode(t)
	// The topic, the subscription, get-topic-attributes and publish are setup or server
	// checks and go through queryCall; the subscription's policy is set and read, and the
	// validation errors are seen, with the CLI.
	var topic struct{ TopicArn string }
	topic.TopicArn = sdkCreateTopic(t, s, root, "flaky-hooks")
	qOK(t, s, root, nil, "sns", "SetTopicAttributes", "TopicArn", topic.TopicArn, "AttributeName", "DeliveryPolicy",
		"AttributeValue", `{"http":{"defaultHealthyRetryPolicy":{"numRetries":1},"defaultThrottlePolicy":{"maxReceivesPerSecond":50}}}`)

	// The endpoint: notifications fail (503) until two have failed; everything else goes
	// to an snsReceiver (which confirms the subscription and records what it gets).
	rcv := newSNSReceiver(t)
	target, _ := url.Parse(rcv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var attempts []time.Time
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-amz-sns-message-type") == "Notification" {
			mu.Lock()
			attempts = append(attempts, time.Now())
			n := len(attempts)
			mu.Unlock()
			if n <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	policy := `{"healthyRetryPolicy":{"numRetries":3,"numNoDelayRetries":1,"minDelayTarget":1,"maxDelayTarget":1,"backoffFunction":"linear"},"requestPolicy":{"headerContentType":"application/json"}}`
	arn := sdkSNSSubscribe(t, s, root, topic.TopicArn, front.URL+"/hook")
	awsOK(t, s, root, nil, "sns", "set-subscription-attributes", "--subscription-arn", arn,
		"--attribute-name", "DeliveryPolicy", "--attribute-value", policy)

	var ga struct{ Attributes map[string]string }
	awsOK(t, s, root, &ga, "sns", "get-subscription-attributes", "--subscription-arn", arn)
	wantEff := `{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":1,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":1,"numMinDelayRetries":0,"backoffFunction":"linear"},` +
		`"sicklyRetryPolicy":null,"throttlePolicy":{"maxReceivesPerSecond":50},"requestPolicy":{"headerContentType":"application/json"},"guaranteed":false}`
	// DeliveryPolicy is shown as stored: compact, members in AWS's order.
	wantPolicy := `{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":1,"numRetries":3,"numNoDelayRetries":1,"backoffFunction":"linear"},"requestPolicy":{"headerContentType":"application/json"}}`
	if a := ga.Attributes; a["EffectiveDeliveryPolicy"] != wantEff || a["DeliveryPolicy"] != wantPolicy {
		t.Fatalf("%v", a)
	}
	var ta struct {
		Entries []struct {
			Key   string `xml:"key"`
			Value string `xml:"value"`
		} `xml:"GetTopicAttributesResult>Attributes>entry"`
	}
	qOK(t, s, root, &ta, "sns", "GetTopicAttributes", "TopicArn", topic.TopicArn)
	a := map[string]string{}
	for _, e := range ta.Entries {
		a[e.Key] = e.Value
	}
	if !strings.Contains(a["DeliveryPolicy"], `"defaultHealthyRetryPolicy":{"numRetries":1}`) ||
		!strings.Contains(a["EffectiveDeliveryPolicy"], `"numRetries":1,`) {
		t.Fatalf("%v", a)
	}

	// AWS's validation errors reach the CLI.
	_, errOut, ok := awsAs(t, s, root, "sns", "set-subscription-attributes", "--subscription-arn", arn,
		"--attribute-name", "DeliveryPolicy", "--attribute-value", `{"healthyRetryPolicy":{"numRetries":101}}`)
	if ok || !strings.Contains(errOut, "(InvalidParameter)") || !strings.Contains(errOut, "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.numRetries must be less than or equal to 100") {
		t.Fatalf("ok=%v %s", ok, errOut)
	}
	_, errOut, ok = awsAs(t, s, root, "sns", "set-topic-attributes", "--topic-arn", topic.TopicArn,
		"--attribute-name", "DeliveryPolicy", "--attribute-value", `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":5,"maxDelayTarget":3}}}`)
	if ok || !strings.Contains(errOut, "Invalid parameter: DeliveryPolicy: http.defaultHealthyRetryPolicy.maxDelayTarget must be greater than or equal to minDelayTarget") {
		t.Fatalf("ok=%v %s", ok, errOut)
	}

	qOK(t, s, root, nil, "sns", "Publish", "TopicArn", topic.TopicArn, "Message", "third time lucky")
	waitFor(t, 15*time.Second, func() bool { return len(rcv.notifications()) == 1 })
	n := rcv.notifications()[0]
	if !strings.Contains(n.Body, `"Message":"third time lucky"`) || n.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%v %s", n.Header, n.Body)
	}
	mu.Lock()
	ts := append([]time.Time(nil), attempts...)
	mu.Unlock()
	if len(ts) != 3 {
		t.Fatalf("%d attempts", len(ts))
	}
	// Retry 1 at once (numNoDelayRetries), retry 2 after minDelayTarget (1 s).
	if g1, g2 := ts[1].Sub(ts[0]), ts[2].Sub(ts[1]); g1 > 700*time.Millisecond || g2 < 900*time.Millisecond || g2 > 3*time.Second {
		t.Fatalf("gaps %v %v", g1, g2)
	}
}
