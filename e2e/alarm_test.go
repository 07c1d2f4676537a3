package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

// TestFailedAdminLoginAlarm is the story users came for: an alarm on FailedLoginCount with
// an SNS topic and an HTTP subscriber on loopback; two wrong admin passwords → the
// subscriber has the ALARM notification before a third attempt would zeroize the cluster.
func TestFailedAdminLoginAlarm(t *testing.T) {
	s, root := debianCLINode(t, "--login-failure-policy", "zeroize")

	topicArn, alarmNote := httpSubscriber(t, s, root, "hsm-alarms")

	// Both failures must land in the same 60 s period.
	if sec := time.Now().Second(); sec > 50 {
		time.Sleep(time.Duration(61-sec) * time.Second)
	}
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-alarm", "--alarm-name", "failed-admin-logins",
		"--namespace", "AWS/CloudHSM", "--metric-name", "FailedLoginCount", "--statistic", "Sum", "--period", "60",
		"--threshold", "2", "--comparison-operator", "GreaterThanOrEqualToThreshold", "--evaluation-periods", "1",
		"--treat-missing-data", "notBreaching", "--alarm-actions", topicArn)

	anon := &hsmapi.Client{Endpoint: s.url}
	for range 2 {
		_ = anon.Call(ctx, "login", map[string]string{"username": "admin", "role": "admin", "password": "not-the-password"}, nil)
	}
	// No waiting: the second failed login is answered only after the alarm was evaluated
	// and its notification delivered, so the notification is here before any third try.
	alarm := alarmNote()
	if alarm == nil {
		t.Fatal("the ALARM notification had not arrived when the second failed login was answered")
	}
	if alarm["AlarmName"] != "failed-admin-logins" {
		t.Fatalf("notification: %+v", alarm)
	}
	// The third attempt has not happened: the cluster is intact.
	if h, _ := s.health(); h.ClusterState != "ACTIVE" {
		t.Fatalf("cluster after two failures: %+v", h)
	}
	var desc struct {
		MetricAlarms []struct{ AlarmName, StateValue string }
	}
	awsOK(t, s, root, &desc, "cloudwatch", "describe-alarms", "--alarm-names", "failed-admin-logins")
	if len(desc.MetricAlarms) != 1 || desc.MetricAlarms[0].StateValue != "ALARM" {
		t.Fatalf("describe-alarms: %+v", desc)
	}
}

// httpSubscriber creates an SNS topic (with queryCall: setup, not what the tests using it
// check) and subscribes an HTTP endpoint on loopback to it (an snsReceiver, confirmed as a real subscriber does).
// alarmNote returns the first ALARM notification received (its Message), or nil.
func httpSubscriber(t *testing.T, s *server, root awsCreds, topicName string) (topicArn string, alarmNote func() map[string]any) {
	t.Helper()
	rcv := newSNSReceiver(t)
	alarmNote = func() map[string]any {
		for _, r := range rcv.requests() {
			var n map[string]any
			var a map[string]any
			if json.Unmarshal([]byte(r.Body), &n) == nil && n["Type"] == "Notification" &&
				json.Unmarshal([]byte(n["Message"].(string)), &a) == nil && a["NewStateValue"] == "ALARM" {
				return a
			}
		}
		return nil
	}
	topicArn = sdkCreateTopic(t, s, root, topicName)
	sdkSNSSubscribe(t, s, root, topicArn, rcv.URL)
	return topicArn, alarmNote
}

// snsReceiver is an HTTP endpoint on loopback for SNS subscriptions. It confirms a
// subscription through the SubscribeURL of its SubscriptionConfirmation, as a real
// subscriber does (unless it holds: newHoldingReceiver), and records every request it
// answers 200. While failing is set it answers 503 instead and counts the refusal.
type snsReceiver struct {
	URL     string
	hold    bool // do not confirm subscriptions
	failing atomic.Bool
	refused atomic.Int32
	mu      sync.Mutex
	reqs    []snsRequest
}

// snsRequest is a request an snsReceiver received.
type snsRequest struct {
	Header http.Header
	Body   string
}

func newSNSReceiver(t *testing.T) *snsReceiver {
	t.Helper()
	return startSNSReceiver(t, &snsReceiver{})
}

// newHoldingReceiver is an snsReceiver that does not confirm subscriptions (the test
// confirms them with the token it received).
func newHoldingReceiver(t *testing.T) *snsReceiver {
	t.Helper()
	return startSNSReceiver(t, &snsReceiver{hold: true})
}

func startSNSReceiver(t *testing.T, rcv *snsReceiver) *snsReceiver {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if rcv.failing.Load() {
			rcv.refused.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if !rcv.hold && r.Header.Get("x-amz-sns-message-type") == "SubscriptionConfirmation" {
			var m struct{ SubscribeURL string }
			if json.Unmarshal(b, &m) == nil && m.SubscribeURL != "" {
				if res, err := http.Get(m.SubscribeURL); err == nil {
					res.Body.Close()
				}
			}
		}
		rcv.mu.Lock()
		rcv.reqs = append(rcv.reqs, snsRequest{Header: r.Header.Clone(), Body: string(b)})
		rcv.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rcv.URL = srv.URL
	return rcv
}

func (rcv *snsReceiver) requests() []snsRequest {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return slices.Clone(rcv.reqs)
}

// notifications returns the Notification requests received.
func (rcv *snsReceiver) notifications() []snsRequest {
	var out []snsRequest
	for _, r := range rcv.requests() {
		if r.Header.Get("x-amz-sns-message-type") == "Notification" {
			out = append(out, r)
		}
	}
	return out
}

// snsSubscribe subscribes an HTTP endpoint (an snsReceiver's) to a topic with Debian's
// AWS CLI (extra: more arguments of subscribe, such as --attributes) and waits until
// the endpoint has confirmed it. It returns the subscription's ARN.
func snsSubscribe(t *testing.T, s *server, root awsCreds, topicArn, endpoint string, extra ...string) string {
	t.Helper()
	var sub struct{ SubscriptionArn string }
	awsOK(t, s, root, &sub, append([]string{"sns", "subscribe", "--topic-arn", topicArn, "--protocol", "http",
		"--notification-endpoint", endpoint, "--return-subscription-arn"}, extra...)...)
	waitConfirmed(t, s, root, sub.SubscriptionArn)
	return sub.SubscriptionArn
}

// sdkSNSSubscribe is snsSubscribe through queryCall, for tests where subscribing is setup.
func sdkSNSSubscribe(t *testing.T, s *server, root awsCreds, topicArn, endpoint string, params ...string) string {
	t.Helper()
	var sub struct {
		Arn string `xml:"SubscribeResult>SubscriptionArn"`
	}
	qOK(t, s, root, &sub, "sns", "Subscribe", append([]string{"TopicArn", topicArn, "Protocol", "http", "Endpoint", endpoint,
		"ReturnSubscriptionArn", "true"}, params...)...)
	waitConfirmed(t, s, root, sub.Arn)
	return sub.Arn
}

// waitConfirmed polls GetSubscriptionAttributes (with queryCall: a CLI process per poll
// costs most of a second) until the subscription is confirmed.
func waitConfirmed(t *testing.T, s *server, root awsCreds, subArn string) {
	t.Helper()
	waitFor(t, 20*time.Second, func() bool {
		return sdkSubscriptionAttributes(t, s, root, subArn)["PendingConfirmation"] == "false"
	})
}
