package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// httpSubscriber creates an SNS topic with Debian's AWS CLI and subscribes an HTTP
// endpoint on loopback to it, which confirms through SubscribeURL as a real subscriber
// does. alarmNote returns the first ALARM notification received (its Message), or nil.
func httpSubscriber(t *testing.T, s *server, root awsCreds, topicName string) (topicArn string, alarmNote func() map[string]any) {
	t.Helper()
	var mu sync.Mutex
	var notes []map[string]any
	sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
		if m["Type"] == "SubscriptionConfirmation" {
			if res, err := http.Get(m["SubscribeURL"].(string)); err == nil {
				res.Body.Close()
			}
		}
		mu.Lock()
		notes = append(notes, m)
		mu.Unlock()
	}))
	t.Cleanup(sub.Close)
	alarmNote = func() map[string]any {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range notes {
			var a map[string]any
			if n["Type"] == "Notification" && json.Unmarshal([]byte(n["Message"].(string)), &a) == nil && a["NewStateValue"] == "ALARM" {
				return a
			}
		}
		return nil
	}
	var topic struct{ TopicArn string }
	awsOK(t, s, root, &topic, "sns", "create-topic", "--name", topicName)
	awsOK(t, s, root, nil, "sns", "subscribe", "--topic-arn", topic.TopicArn, "--protocol", "http", "--notification-endpoint", sub.URL)
	waitFor(t, 20*time.Second, func() bool {
		var subs struct {
			Subscriptions []struct{ SubscriptionArn string }
		}
		awsOK(t, s, root, &subs, "sns", "list-subscriptions-by-topic", "--topic-arn", topic.TopicArn)
		return len(subs.Subscriptions) == 1 && strings.HasPrefix(subs.Subscriptions[0].SubscriptionArn, "arn:aws:sns:")
	})
	return topic.TopicArn, alarmNote
}
