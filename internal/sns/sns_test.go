package sns

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/cloudwatch"
	"github.com/coffer-hsm/coffer/internal/state"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func signingKey(t *testing.T) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		testKey = k
	})
	return testKey
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type env struct {
	t     *testing.T
	dir   string
	ctx   context.Context
	clk   *fakeClock
	retry RetryPolicy
	sns   *Service
	cw    *cloudwatch.Service
	store *state.Store
}

func newEnv(t *testing.T, retry RetryPolicy) *env {
	e := &env{t: t, dir: t.TempDir(), ctx: context.Background(), clk: &fakeClock{t: t0}, retry: retry}
	e.open()
	return e
}

func (e *env) open() {
	s, err := New(Config{Now: e.clk.Now, AccountID: "111122223333", NodeID: "n1", BaseURL: "https://coffer.test:8443/",
		SigningKey: signingKey(e.t), SigningCertURL: "https://coffer.test:8443/sns/cert.pem", Retry: e.retry, AttemptTimeout: 5 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.sns = s
	e.cw = cloudwatch.New(cloudwatch.Config{Now: e.clk.Now, AccountID: "111122223333", Notifier: s.CloudWatchNotifier()})
	st, err := state.Open(state.Config{NodeID: "n1", Dir: filepath.Join(e.dir, "raft")}, s, e.cw)
	if err != nil {
		e.t.Fatal(err)
	}
	e.store = st
	s.Attach(st)
	e.cw.Attach(st)
	e.t.Cleanup(func() { s.Close(); st.Close() })
}

func (e *env) restart() {
	e.sns.Close()
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// subscriber is an HTTP endpoint on 127.0.0.1 that records what it receives: each
// message decoded (a raw delivery's only as its Message) with its headers and body.
type subscriber struct {
	srv    *httptest.Server
	mu     sync.Mutex
	msgs   []Message
	hdrs   []http.Header
	bodies []string
	status func(n int) int // answer to the nth request (0-based)
	n      atomic.Int32
}

func newSubscriber(t *testing.T, status func(int) int) *subscriber {
	s := &subscriber{status: status}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.n.Add(1) - 1)
		b, _ := io.ReadAll(r.Body)
		var m Message
		if r.Header.Get("x-amz-sns-rawdelivery") == "true" {
			m = Message{Type: r.Header.Get("x-amz-sns-message-type"), MessageID: r.Header.Get("x-amz-sns-message-id"), Message: string(b)}
		} else if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("subscriber: %v: %s", err, b)
		}
		code := http.StatusOK
		if s.status != nil {
			code = s.status(n)
		}
		if code < 300 {
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.hdrs = append(s.hdrs, r.Header.Clone())
			s.bodies = append(s.bodies, string(b))
			s.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *subscriber) body(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[i]
}

// messages returns the Message of each notification received, in order.
func (s *subscriber) messages() []string {
	var out []string
	for _, m := range s.received() {
		if m.Type == TypeNotification {
			out = append(out, m.Message)
		}
	}
	return out
}

func (s *subscriber) received() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *subscriber) header(i int) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hdrs[i]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for dl := time.Now().Add(5 * time.Second); time.Now().Before(dl); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timeout waiting for %s", what)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

var fast = RetryPolicy{Retries: 3, MinDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

// subscribeConfirmed subscribes sub to topic and confirms with the token it received.
func (e *env) subscribeConfirmed(topic string, sub *subscriber) string {
	e.t.Helper()
	return e.subscribeConfirmedWith(topic, sub, nil)
}

// subscribeConfirmedWith is subscribeConfirmed with subscription attributes.
func (e *env) subscribeConfirmedWith(topic string, sub *subscriber, attrs map[string]string) string {
	e.t.Helper()
	before := len(sub.received())
	out, err := e.sns.Subscribe(e.ctx, topic, "http", sub.srv.URL+"/hook", attrs, false)
	if err != nil || out.SubscriptionArn != "pending confirmation" {
		e.t.Fatalf("%+v %v", out, err)
	}
	waitFor(e.t, "confirmation", func() bool { return len(sub.received()) > before })
	m := sub.received()[before]
	if m.Type != TypeSubscriptionConfirmation || m.Token == "" || m.TopicArn != topic {
		e.t.Fatalf("%+v", m)
	}
	arn, err := e.sns.ConfirmSubscription(e.ctx, topic, m.Token)
	if err != nil || !strings.HasPrefix(arn, topic+":") {
		e.t.Fatalf("%s %v", arn, err)
	}
	return arn
}

func TestTopics(t *testing.T) {
	e := newEnv(t, fast)
	arn, err := e.sns.CreateTopic(e.ctx, "alerts", map[string]string{"DisplayName": "Alerts"}, nil)
	if err != nil || arn != "arn:aws:sns:us-east-1:111122223333:alerts" {
		t.Fatal(arn, err)
	}
	again, err := e.sns.CreateTopic(e.ctx, "alerts", nil, nil)
	if err != nil || again != arn {
		t.Fatal(again, err)
	}
	for _, bad := range []string{"", "a b", "x.fifo", strings.Repeat("a", 257), "é"} {
		_, err := e.sns.CreateTopic(e.ctx, bad, nil, nil)
		wantCode(t, err, "InvalidParameter")
	}
	_, err = e.sns.CreateTopic(e.ctx, "x", map[string]string{"Policy": "{}"}, nil)
	wantCode(t, err, "InvalidParameter")
	if _, err := e.sns.CreateTopic(e.ctx, "b_2-x", nil, nil); err != nil {
		t.Fatal(err)
	}
	l, next, err := e.sns.ListTopics(e.ctx, "")
	if err != nil || len(l) != 2 || next != "" {
		t.Fatal(l, err)
	}
	attrs, err := e.sns.GetTopicAttributes(e.ctx, arn)
	if err != nil || attrs["DisplayName"] != "Alerts" || attrs["SubscriptionsConfirmed"] != "0" || attrs["Owner"] != "111122223333" {
		t.Fatal(attrs, err)
	}
	_, err = e.sns.GetTopicAttributes(e.ctx, arn+"x")
	wantCode(t, err, "NotFound")
	_, err = e.sns.Publish(e.ctx, PublishInput{TopicArn: arn + "x", Message: "m"})
	wantCode(t, err, "NotFound")
	_, err = e.sns.Publish(e.ctx, PublishInput{TopicArn: arn, Message: ""})
	wantCode(t, err, "InvalidParameter")
	_, err = e.sns.Publish(e.ctx, PublishInput{TopicArn: arn, Message: "m", Subject: "two\nlines"})
	wantCode(t, err, "InvalidParameter")
	_, err = e.sns.Publish(e.ctx, PublishInput{TopicArn: arn, Message: "m", MessageAttributes: map[string]MessageAttributeValue{"n": {DataType: "Number", StringValue: "x"}}})
	wantCode(t, err, "ParameterValueInvalid")
	id, err := e.sns.Publish(e.ctx, PublishInput{TopicArn: arn, Message: "nobody listens"})
	if err != nil || id == "" {
		t.Fatal(id, err)
	}
	if err := e.sns.DeleteTopic(e.ctx, arn); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := e.sns.ListTopics(e.ctx, ""); len(l) != 1 {
		t.Fatal(l)
	}
}

func TestSubscribeConfirmPublish(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "alerts", nil, nil)
	sub := newSubscriber(t, nil)
	_, err := e.sns.Subscribe(e.ctx, topic, "email", "a@example.com", nil, false)
	wantCode(t, err, "InvalidParameter")
	_, err = e.sns.Subscribe(e.ctx, topic, "https", sub.srv.URL, nil, false) // http:// URL for https
	wantCode(t, err, "InvalidParameter")
	_, err = e.sns.Subscribe(e.ctx, topic, "http", "not a url", nil, false)
	wantCode(t, err, "InvalidParameter")
	_, err = e.sns.Subscribe(e.ctx, topic+"x", "http", sub.srv.URL, nil, false)
	wantCode(t, err, "NotFound")

	out, err := e.sns.Subscribe(e.ctx, topic, "http", sub.srv.URL+"/hook", nil, true)
	if err != nil || !strings.HasPrefix(out.SubscriptionArn, topic+":") {
		t.Fatal(out, err)
	}
	waitFor(t, "confirmation", func() bool { return len(sub.received()) == 1 })
	m := sub.received()[0]
	h := sub.header(0)
	if m.Type != TypeSubscriptionConfirmation || len(m.Token) < 64 || m.SignatureVersion != "1" || m.SigningCertURL != "https://coffer.test:8443"+e.sns.CertPath() ||
		h.Get("x-amz-sns-message-type") != "SubscriptionConfirmation" || h.Get("x-amz-sns-message-id") != m.MessageID || h.Get("x-amz-sns-topic-arn") != topic {
		t.Fatalf("%+v %v", m, h)
	}
	su, err := url.Parse(m.SubscribeURL)
	if err != nil || su.Query().Get("Action") != "ConfirmSubscription" || su.Query().Get("Token") != m.Token || su.Query().Get("TopicArn") != topic || su.Host != "coffer.test:8443" {
		t.Fatal(m.SubscribeURL)
	}
	if err := VerifyMessage(&m, &signingKey(t).PublicKey); err != nil {
		t.Fatal(err)
	}
	if len(e.sns.SigningCertificatePEM()) == 0 {
		t.Fatal("no certificate")
	}
	l, _, _ := e.sns.ListSubscriptionsByTopic(e.ctx, topic, "")
	if len(l) != 1 || l[0].SubscriptionArn != "PendingConfirmation" || l[0].Protocol != "http" {
		t.Fatal(l)
	}
	// Pending subscriptions get no notifications.
	if _, err := e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: "early"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.sns.ConfirmSubscription(e.ctx, topic, "bad-token")
	wantCode(t, err, "InvalidParameter")
	arn, err := e.sns.ConfirmSubscription(e.ctx, topic, m.Token)
	if err != nil || arn != out.SubscriptionArn {
		t.Fatal(arn, err)
	}
	// Confirming again is harmless; subscribing again returns the subscription.
	if again, err := e.sns.ConfirmSubscription(e.ctx, topic, m.Token); err != nil || again != arn {
		t.Fatal(again, err)
	}
	if o, err := e.sns.Subscribe(e.ctx, topic, "http", sub.srv.URL+"/hook", nil, false); err != nil || o.SubscriptionArn != arn {
		t.Fatal(o, err)
	}
	l, _, _ = e.sns.ListSubscriptions(e.ctx, "")
	if len(l) != 1 || l[0].SubscriptionArn != arn || l[0].Endpoint != sub.srv.URL+"/hook" || l[0].Owner != "111122223333" {
		t.Fatal(l)
	}
	id, err := e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: "hello", Subject: "greeting",
		MessageAttributes: map[string]MessageAttributeValue{"kind": {DataType: "String", StringValue: "test"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := sub.received()
	if len(got) != 2 {
		t.Fatalf("%+v", got)
	}
	n := got[1]
	h = sub.header(1)
	if n.Type != TypeNotification || n.MessageID != id || n.Message != "hello" || n.Subject != "greeting" || n.TopicArn != topic ||
		n.MessageAttributes["kind"] != (messageAttr{"String", "test"}) || !strings.Contains(n.UnsubscribeURL, "Action=Unsubscribe") ||
		n.Timestamp != "2026-11-23T12:00:00.000Z" || h.Get("x-amz-sns-subscription-arn") != arn || h.Get("x-amz-sns-message-type") != "Notification" {
		t.Fatalf("%+v %v", n, h)
	}
	if err := VerifyMessage(&n, &signingKey(t).PublicKey); err != nil {
		t.Fatal(err)
	}
	n.Message = "tampered"
	if VerifyMessage(&n, &signingKey(t).PublicKey) == nil {
		t.Fatal("tampered message verifies")
	}
	waitFor(t, "deliveries recorded done", func() bool { return e.sns.PendingDeliveries() == 0 })
	if err := e.sns.Unsubscribe(e.ctx, arn); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.sns.Unsubscribe(e.ctx, arn), "NotFound")
	e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: "after"})
	// The endpoint is told it was unsubscribed (UnsubscribeConfirmation), and gets no
	// more notifications.
	waitFor(t, "unsubscribe confirmation", func() bool { return len(sub.received()) == 3 })
	time.Sleep(20 * time.Millisecond)
	if r := sub.received(); len(r) != 3 || r[2].Type != TypeUnsubscribeConfirmation || slices.Contains(sub.messages(), "after") {
		t.Fatalf("after unsubscribe: %+v", r)
	}
	// Tokens expire after 3 days.
	sub2 := newSubscriber(t, nil)
	if _, err := e.sns.Subscribe(e.ctx, topic, "http", sub2.srv.URL, nil, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "confirmation", func() bool { return len(sub2.received()) == 1 })
	e.clk.Add(73 * time.Hour)
	_, err = e.sns.ConfirmSubscription(e.ctx, topic, sub2.received()[0].Token)
	wantCode(t, err, "InvalidParameter")
}

func TestRetries(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "alerts", nil, nil)
	// Fails twice (after the confirmation), then succeeds.
	flaky := newSubscriber(t, func(n int) int {
		if n == 1 || n == 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	e.subscribeConfirmed(topic, flaky)
	if _, err := e.sns.Publish(e.ctx, PublishInput{TopicArn: topic, Message: "retry me"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after retries", func() bool { return len(flaky.received()) == 2 })
	if flaky.n.Load() != 4 || flaky.received()[1].Message != "retry me" {
		t.Fatalf("%d requests", flaky.n.Load())
	}
	waitFor(t, "no pending delivery", func() bool { return e.sns.PendingDeliveries() == 0 })

	// Always failing: 1 + Retries attempts, then given up (and forgotten).
	down := newSubscriber(t, func(n int) int {
		if n == 0 {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	e.subscribeConfirmed(topic, down)
	flaky.n.Store(0)
	e.sns.Publish(e.ctx, PublishInput{TopicArn: topic, Message: "m"})
	waitFor(t, "gave up", func() bool { return e.sns.PendingDeliveries() == 0 })
	if down.n.Load() != 1+1+3 {
		t.Fatalf("%d requests", down.n.Load())
	}
	// A 4xx other than 429 is permanent: no retry.
	gone := newSubscriber(t, func(n int) int {
		if n == 0 {
			return http.StatusOK
		}
		return http.StatusForbidden
	})
	e.subscribeConfirmed(topic, gone)
	e.sns.Publish(e.ctx, PublishInput{TopicArn: topic, Message: "m"})
	waitFor(t, "gave up", func() bool { return e.sns.PendingDeliveries() == 0 })
	if gone.n.Load() != 2 {
		t.Fatalf("%d requests", gone.n.Load())
	}
}

func TestDeliveryResumesAfterRestart(t *testing.T) {
	// Retries far apart: the delivery is still pending when the node stops.
	e := newEnv(t, RetryPolicy{Retries: 3, MinDelay: time.Hour, MaxDelay: time.Hour})
	topic, _ := e.sns.CreateTopic(e.ctx, "alerts", nil, nil)
	var up atomic.Bool
	up.Store(true)
	sub := newSubscriber(t, func(int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusBadGateway
	})
	e.subscribeConfirmed(topic, sub)
	up.Store(false)
	if _, err := e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: "durable"}); err != nil {
		t.Fatal(err)
	}
	if len(sub.received()) != 1 || e.sns.PendingDeliveries() != 1 {
		t.Fatalf("%d received, %d pending", len(sub.received()), e.sns.PendingDeliveries())
	}
	e.restart()
	up.Store(true)
	waitFor(t, "state replayed", func() bool { return e.sns.PendingDeliveries() == 1 })
	if n := e.sns.Resume(); n != 1 {
		t.Fatalf("resumed %d", n)
	}
	waitFor(t, "resumed delivery", func() bool { return len(sub.received()) == 2 })
	if m := sub.received()[1]; m.Message != "durable" || m.Type != TypeNotification {
		t.Fatalf("%+v", m)
	}
	waitFor(t, "no pending delivery", func() bool { return e.sns.PendingDeliveries() == 0 })
}

// TestFailedLoginAlarmNotifiesBeforeThirdAttempt: an alarm FailedLoginCount >= 2 over
// 10 s with an SNS action; the second failed login's datapoint has been delivered to the
// subscriber as an ALARM notification by the time Put returns, i.e. before a third
// attempt (which could zeroize the HSM) can be made.
func TestFailedLoginAlarmNotifiesBeforeThirdAttempt(t *testing.T) {
	e := newEnv(t, fast)
	topic, _ := e.sns.CreateTopic(e.ctx, "security", nil, nil)
	sub := newSubscriber(t, nil)
	e.subscribeConfirmed(topic, sub)
	dims := []cloudwatch.Dimension{{Name: "ClusterId", Value: "cluster-1"}, {Name: "UserName", Value: "admin"}}
	two := 2.0
	if err := e.cw.PutMetricAlarm(e.ctx, cloudwatch.PutMetricAlarmInput{AlarmName: "admin-failed-logins", Namespace: "AWS/CloudHSM",
		MetricName: "FailedLoginCount", Dimensions: dims, Statistic: "Sum", Period: 10, EvaluationPeriods: 1, Threshold: &two,
		ComparisonOperator: "GreaterThanOrEqualToThreshold", TreatMissingData: "notBreaching", AlarmActions: []string{topic}}); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		if n := len(sub.received()); n != 1 {
			t.Fatalf("before attempt %d: %d messages", attempt, n)
		}
		if err := e.cw.Put("AWS/CloudHSM", "FailedLoginCount", dims, time.Time{}, 1, "Count"); err != nil {
			t.Fatal(err)
		}
	}
	// "Third attempt" would happen here: the notification must already be there.
	got := sub.received()
	if len(got) != 2 {
		t.Fatalf("%d messages after two failed logins", len(got))
	}
	m := got[1]
	if m.Type != TypeNotification || m.Subject != `ALARM: "admin-failed-logins" in US East (N. Virginia)` {
		t.Fatalf("%+v", m)
	}
	var a cloudwatch.AlarmNotification
	if err := json.Unmarshal([]byte(m.Message), &a); err != nil {
		t.Fatal(err)
	}
	if a.AlarmName != "admin-failed-logins" || a.NewStateValue != "ALARM" || a.Trigger.MetricName != "FailedLoginCount" ||
		a.Trigger.Threshold != 2 || a.Trigger.Period != 10 || len(a.Trigger.Dimensions) != 2 || a.AWSAccountID != "111122223333" {
		t.Fatalf("%+v", a)
	}
	if err := VerifyMessage(&m, &signingKey(t).PublicKey); err != nil {
		t.Fatal(err)
	}
}
