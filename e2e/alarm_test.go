package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil, "--login-failure-policy", "zeroize")
	dc := s.creds()
	root := awsCreds{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey}

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
			// A real subscriber visits SubscribeURL.
			if res, err := http.Get(m["SubscribeURL"].(string)); err == nil {
				res.Body.Close()
			}
		}
		mu.Lock()
		notes = append(notes, m)
		mu.Unlock()
	}))
	defer sub.Close()

	var topic struct{ TopicArn string }
	awsOK(t, s, root, &topic, "sns", "create-topic", "--name", "hsm-alarms")
	awsOK(t, s, root, nil, "sns", "subscribe", "--topic-arn", topic.TopicArn, "--protocol", "http", "--notification-endpoint", sub.URL)
	waitFor(t, 20*time.Second, func() bool {
		var subs struct {
			Subscriptions []struct{ SubscriptionArn string }
		}
		awsOK(t, s, root, &subs, "sns", "list-subscriptions-by-topic", "--topic-arn", topic.TopicArn)
		return len(subs.Subscriptions) == 1 && strings.HasPrefix(subs.Subscriptions[0].SubscriptionArn, "arn:aws:sns:")
	})

	// Both failures must land in the same 60 s period.
	if sec := time.Now().Second(); sec > 50 {
		time.Sleep(time.Duration(61-sec) * time.Second)
	}
	awsOK(t, s, root, nil, "cloudwatch", "put-metric-alarm", "--alarm-name", "failed-admin-logins",
		"--namespace", "AWS/CloudHSM", "--metric-name", "FailedLoginCount", "--statistic", "Sum", "--period", "60",
		"--threshold", "2", "--comparison-operator", "GreaterThanOrEqualToThreshold", "--evaluation-periods", "1",
		"--treat-missing-data", "notBreaching", "--alarm-actions", topic.TopicArn)

	anon := &hsmapi.Client{Endpoint: s.url}
	for range 2 {
		_ = anon.Call(ctx, "login", map[string]string{"username": "admin", "role": "admin", "password": "not-the-password"}, nil)
	}
	// No waiting: the second failed login is answered only after the alarm was evaluated
	// and its notification delivered, so the notification is here before any third try.
	var alarm map[string]any
	found := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range notes {
			if n["Type"] != "Notification" {
				continue
			}
			var a map[string]any
			if json.Unmarshal([]byte(n["Message"].(string)), &a) == nil && a["NewStateValue"] == "ALARM" {
				alarm = a
				return true
			}
		}
		return false
	}
	if !found() {
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
