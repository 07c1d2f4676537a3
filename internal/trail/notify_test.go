package trail

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/audit"
	"github.com/coffer-hsm/coffer/internal/sns"
	"github.com/coffer-hsm/coffer/internal/state"
)

// snsEnv is Coffer's SNS service on its own replicated state (one node), with an HTTP
// subscriber on 127.0.0.1 that records the notifications it receives.
type snsEnv struct {
	t    *testing.T
	svc  *sns.Service
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []sns.Message
}

func newSNSEnv(t *testing.T) *snsEnv {
	dir := t.TempDir()
	svc, err := sns.New(sns.Config{AccountID: "111122223333", NodeID: "n1", BaseURL: "http://127.0.0.1/",
		Retry: sns.RetryPolicy{Retries: 2, MinDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(state.Config{NodeID: "n1", Dir: filepath.Join(dir, "raft")}, svc)
	if err != nil {
		t.Fatal(err)
	}
	svc.Attach(st)
	e := &snsEnv{t: t, svc: svc}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m sns.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("subscriber: %v: %s", err, b)
		}
		e.mu.Lock()
		e.msgs = append(e.msgs, m)
		e.mu.Unlock()
	}))
	t.Cleanup(func() { e.srv.Close(); svc.Close(); st.Close() })
	return e
}

func (e *snsEnv) received(typ string) []sns.Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []sns.Message
	for _, m := range e.msgs {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// topic creates the topic and a confirmed HTTP subscription of the env's subscriber.
func (e *snsEnv) topic(name string) string {
	e.t.Helper()
	ctx := context.Background()
	arn, err := e.svc.CreateTopic(ctx, name, nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	before := len(e.received(sns.TypeSubscriptionConfirmation))
	if _, err := e.svc.Subscribe(ctx, arn, "http", e.srv.URL+"/hook", nil, false); err != nil {
		e.t.Fatal(err)
	}
	waitUntil(e.t, "the subscription confirmation", func() bool { return len(e.received(sns.TypeSubscriptionConfirmation)) > before })
	m := e.received(sns.TypeSubscriptionConfirmation)[before]
	if _, err := e.svc.ConfirmSubscription(ctx, arn, m.Token); err != nil {
		e.t.Fatal(err)
	}
	return arn
}

// notifications decodes the trail notifications received, in order.
func (e *snsEnv) notifications() []Notification {
	e.t.Helper()
	var out []Notification
	for _, m := range e.received(sns.TypeNotification) {
		var n Notification
		if err := json.Unmarshal([]byte(m.Message), &n); err != nil {
			e.t.Fatalf("notification message %q: %v", m.Message, err)
		}
		out = append(out, n)
	}
	return out
}

// waitNotifications waits until n notifications have arrived and returns them.
func (e *snsEnv) waitNotifications(n int) []Notification {
	e.t.Helper()
	waitUntil(e.t, "notifications", func() bool { return len(e.received(sns.TypeNotification)) >= n })
	return e.notifications()
}

func (f *fixture) status() map[string]any {
	f.t.Helper()
	return f.mustOp("GetTrailStatus", `{"Name":"trail-1"}`).(map[string]any)
}

// logKeys lists the object keys of the log files (not digests) in a bucket.
func logKeys(t *testing.T, f *fixture, bucket string) []string {
	var keys []string
	filepath.WalkDir(filepath.Join(f.root, bucket), func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() && strings.HasSuffix(p, ".json.gz") && !strings.Contains(p, "CloudTrail-Digest") {
			rel, _ := filepath.Rel(filepath.Join(f.root, bucket), p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(keys)
	return keys
}

// A trail with an SNS topic publishes CloudTrail's notification for each delivery that
// writes log files, never for digests; the topic must exist at CreateTrail and
// UpdateTrail; a topic deleted later is reported by GetTrailStatus and never stops
// delivery, and the files delivered meanwhile are notified once the topic is back.
func TestSnsNotifications(t *testing.T) {
	f := newFixture(t)
	e := newSNSEnv(t)
	f.svc.SetNotifier(SNSNotifier(e.svc))

	body := `{"Name":"trail-1","S3BucketName":"bucket-1","S3KeyPrefix":"pre","EnableLogFileValidation":true,"SnsTopicName":"deliveries"}`
	if _, err := f.op("CreateTrail", body); MapError(err) == nil || MapError(err).Code != "InsufficientSnsTopicPolicyException" ||
		MapError(err).Message != "SNS Topic does not exist or the topic policy is incorrect!" {
		t.Fatalf("CreateTrail with a topic that does not exist: %v", err)
	}
	topic := e.topic("deliveries")
	f.mustOp("CreateTrail", body)
	if _, err := f.op("UpdateTrail", `{"Name":"trail-1","SnsTopicName":"arn:aws:sns:us-east-1:111122223333:nope"}`); MapError(err) == nil || MapError(err).Code != "InsufficientSnsTopicPolicyException" {
		t.Fatalf("UpdateTrail with a topic that does not exist: %v", err)
	}
	// Another account's topic of that name is not the trail's.
	if _, err := f.op("UpdateTrail", `{"Name":"trail-1","SnsTopicName":"arn:aws:sns:us-east-1:444455556666:deliveries"}`); MapError(err) == nil || MapError(err).Code != "InsufficientSnsTopicPolicyException" {
		t.Fatalf("UpdateTrail with another account's topic: %v", err)
	}
	if out := f.mustOp("UpdateTrail", `{"Name":"trail-1","SnsTopicName":"`+topic+`"}`).(*trailOutput); out.SnsTopicARN != topic {
		t.Fatalf("SnsTopicARN %q", out.SnsTopicARN)
	}
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.now = f.now.Add(time.Second)
	f.event("Encrypt")
	f.now = f.now.Add(time.Minute)
	f.tick()

	got := e.waitNotifications(1)
	keys := logKeys(t, f, "bucket-1")
	if len(got) != 1 || len(keys) != 1 || got[0].S3Bucket != "bucket-1" || !slices.Equal(got[0].S3ObjectKey, keys) ||
		!strings.HasPrefix(keys[0], "pre/AWSLogs/111122223333/CloudTrail/us-east-1/") {
		t.Fatalf("notifications %+v, log files %v", got, keys)
	}
	m := e.received(sns.TypeNotification)[0]
	if m.Subject != "" || m.TopicArn != topic {
		t.Errorf("notification subject %q topic %q", m.Subject, m.TopicArn)
	}
	st := f.status()
	if st["LatestNotificationTime"] == nil || st["LatestNotificationError"] != nil || st["LatestNotificationAttemptSucceeded"] == "" {
		t.Errorf("GetTrailStatus after a notification: %v", st)
	}

	// A tick without new log files publishes nothing; nor does one that writes a digest.
	f.now = f.now.Add(time.Minute)
	f.tick()
	f.now = f.now.Add(10 * time.Minute)
	f.tick()
	if _, digests := trailFiles(t, f, "bucket-1"); digests == 0 {
		t.Fatal("no digest written")
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(e.received(sns.TypeNotification)); n != 1 {
		t.Fatalf("%d notifications after ticks without log files: %+v", n, e.notifications())
	}

	// The topic deleted: delivery goes on, the failure is SNS's code in GetTrailStatus.
	if err := e.svc.DeleteTopic(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	f.event("WhileGone")
	f.now = f.now.Add(time.Minute)
	f.tick()
	st = f.status()
	if st["LatestNotificationError"] != "NotFound" || st["LatestDeliveryError"] != nil || st["LatestNotificationAttemptSucceeded"] != "" {
		t.Fatalf("GetTrailStatus with the topic gone: %v", st)
	}
	if keys := logKeys(t, f, "bucket-1"); len(keys) != 2 {
		t.Fatalf("log files with the topic gone: %v", keys)
	}
	missed := logKeys(t, f, "bucket-1")

	// The topic back: the file delivered meanwhile is notified at the next tick.
	e.topic("deliveries")
	f.now = f.now.Add(time.Minute)
	f.tick()
	got = e.waitNotifications(2)
	if len(got) != 2 || len(got[1].S3ObjectKey) != 1 || !slices.Contains(missed, got[1].S3ObjectKey[0]) || got[1].S3ObjectKey[0] == got[0].S3ObjectKey[0] {
		t.Fatalf("notifications after the topic came back: %+v (files %v)", got, missed)
	}
	if st := f.status(); st["LatestNotificationError"] != nil {
		t.Fatalf("GetTrailStatus after the topic came back: %v", st)
	}

	// Without a topic, nothing is published and nothing waits.
	f.mustOp("UpdateTrail", `{"Name":"trail-1","SnsTopicName":""}`)
	f.event("NoTopic")
	f.now = f.now.Add(time.Minute)
	f.tick()
	time.Sleep(50 * time.Millisecond)
	if n := len(e.received(sns.TypeNotification)); n != 2 {
		t.Fatalf("%d notifications without a topic", n)
	}
}

// A multi-region trail's delivery that writes one file per region is one notification
// naming all of them.
func TestSnsNotificationMultiRegion(t *testing.T) {
	f := newFixture(t)
	e := newSNSEnv(t)
	f.svc.SetNotifier(SNSNotifier(e.svc))
	e.topic("deliveries")
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","IsMultiRegionTrail":true,"SnsTopicName":"deliveries"}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.now = f.now.Add(time.Second)
	f.event("Home")
	f.eventIn("eu-west-1", "Away")
	f.now = f.now.Add(time.Minute)
	f.tick()
	got := e.waitNotifications(1)
	keys := logKeys(t, f, "bucket-1")
	sorted := slices.Sorted(slices.Values(got[0].S3ObjectKey))
	if len(got) != 1 || len(keys) != 2 || !slices.Equal(sorted, keys) {
		t.Fatalf("notifications %+v, files %v", got, keys)
	}
}

// A crash anywhere in a delivery neither loses nor duplicates events, and every log file
// on disk is notified at least once, naming only files that exist: a crash after the
// files are written notifies them after the restart; a crash after the publish, before
// the state is saved, publishes again.
func TestSnsNotificationCrash(t *testing.T) {
	for _, stage := range []string{"log-written", "log-partial", "notified"} {
		t.Run(stage, func(t *testing.T) {
			f := newFixture(t)
			e := newSNSEnv(t)
			f.svc.SetNotifier(SNSNotifier(e.svc))
			e.topic("deliveries")
			f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","IsMultiRegionTrail":true,"SnsTopicName":"deliveries"}`)
			f.mustOp("StartLogging", `{"Name":"trail-1"}`)
			f.now = f.now.Add(time.Second)
			f.event("Crash")
			f.eventIn("eu-west-1", "Crash")
			f.now = f.now.Add(time.Minute)
			f.crashTick(stage)
			f.now = f.now.Add(time.Minute)
			f.tick()
			keys := logKeys(t, f, "bucket-1")
			if names := deliveredEvents(t, f, "bucket-1"); names["Crash"] != 2 || len(keys) != 2 {
				t.Fatalf("delivered %v in %v", names, keys)
			}
			want := 1
			if stage == "notified" {
				want = 2 // published before the crash and again after it
			}
			got := e.waitNotifications(want)
			time.Sleep(50 * time.Millisecond)
			got = e.notifications()
			if len(got) != want {
				t.Fatalf("%d notifications, want %d: %+v", len(got), want, got)
			}
			for _, n := range got {
				if !slices.Equal(slices.Sorted(slices.Values(n.S3ObjectKey)), keys) {
					t.Fatalf("notification %+v, files on disk %v", n, keys)
				}
			}
		})
	}
}

// eventIn records an event of another region.
func (f *fixture) eventIn(region, name string) {
	f.t.Helper()
	e := &audit.Event{EventSource: audit.SourceKMS, EventName: name, AWSRegion: region, EventTime: f.now,
		UserIdentity: audit.UserIdentity{Type: "Root", AccountID: "111122223333"}}
	if err := f.j.Append(context.Background(), e); err != nil {
		f.t.Fatal(err)
	}
}
