package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestTrailSNSNotification: a trail with --sns-topic-name publishes CloudTrail's
// notification ({"s3Bucket", "s3ObjectKey"}) to an HTTP subscriber for the log files it
// delivers, naming files that are on disk under the trail directory; get-trail-status
// shows the notification time. A topic that does not exist is refused at create-trail,
// and a topic deleted later is reported as LatestNotificationError while delivery goes on.
func TestTrailSNSNotification(t *testing.T) {
	t.Parallel()
	s, root := debianCLINode(t, "--trail-delivery-interval", "1s")
	rcv := newSNSReceiver(t)
	// The topic and its subscriber are setup (queryCall); the trail is created and
	// started with the CLI, and its status polled with aws-sdk-go-v2.
	var topic struct{ TopicArn string }
	topic.TopicArn = sdkCreateTopic(t, s, root, "trail-deliveries")
	sdkSNSSubscribe(t, s, root, topic.TopicArn, rcv.URL)
	ct := s.cloudtrailClientIn("us-east-1")

	_, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("notified"), S3BucketName: aws.String("notify-bucket"),
		SnsTopicName: aws.String("no-such-topic")})
	wantAPIError(t, err, "InsufficientSnsTopicPolicyException")
	var created struct{ SnsTopicName, SnsTopicARN string }
	awsOK(t, s, root, &created, "cloudtrail", "create-trail", "--name", "notified", "--s3-bucket-name", "notify-bucket",
		"--s3-key-prefix", "pre", "--sns-topic-name", "trail-deliveries")
	if created.SnsTopicName != "trail-deliveries" || created.SnsTopicARN != topic.TopicArn {
		t.Fatalf("create-trail: %+v", created)
	}
	awsOK(t, s, root, nil, "cloudtrail", "start-logging", "--name", "notified")

	k := s.kmsClient()
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return len(rcv.notifications()) > 0 })

	bucketDir := filepath.Join(s.dataDir, "trails", "notify-bucket")
	var keys []string
	for _, r := range rcv.notifications() {
		var m struct{ Type, TopicArn, Subject, Message string }
		if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
			t.Fatalf("notification %s: %v", r.Body, err)
		}
		var n struct {
			S3Bucket    string   `json:"s3Bucket"`
			S3ObjectKey []string `json:"s3ObjectKey"`
		}
		if err := json.Unmarshal([]byte(m.Message), &n); err != nil {
			t.Fatalf("notification message %q: %v", m.Message, err)
		}
		if m.TopicArn != topic.TopicArn || m.Subject != "" || n.S3Bucket != "notify-bucket" || len(n.S3ObjectKey) == 0 {
			t.Fatalf("notification %+v: %+v", m, n)
		}
		keys = append(keys, n.S3ObjectKey...)
	}
	for _, key := range keys {
		if !strings.HasPrefix(key, "pre/AWSLogs/111122223333/CloudTrail/us-east-1/") || !strings.HasSuffix(key, ".json.gz") {
			t.Errorf("object key %q is not a log file's", key)
		}
		raw, err := os.ReadFile(filepath.Join(bucketDir, filepath.FromSlash(key)))
		if err != nil {
			t.Fatalf("the notified log file: %v", err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(zr)
		if !bytes.HasPrefix(content, []byte(`{"Records":[`)) {
			t.Fatalf("%s: %.100s", key, content)
		}
	}

	var st struct {
		LatestDeliveryTime      string
		LatestNotificationTime  string
		LatestNotificationError string
	}
	awsOK(t, s, root, &st, "cloudtrail", "get-trail-status", "--name", "notified")
	if st.LatestNotificationTime == "" || st.LatestNotificationError != "" {
		t.Fatalf("get-trail-status after a notification: %+v", st)
	}

	// The topic deleted: delivery goes on and get-trail-status names SNS's error.
	qOK(t, s, root, nil, "sns", "DeleteTopic", "TopicArn", topic.TopicArn)
	before, err := time.Parse(time.RFC3339, st.LatestDeliveryTime)
	if err != nil {
		t.Fatalf("LatestDeliveryTime %q: %v", st.LatestDeliveryTime, err)
	}
	var notifErr string
	waitFor(t, 30*time.Second, func() bool {
		if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		out, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("notified")})
		if err != nil {
			t.Fatal(err)
		}
		notifErr = aws.ToString(out.LatestNotificationError)
		return notifErr != "" && out.LatestDeliveryTime != nil && !out.LatestDeliveryTime.Equal(before)
	})
	if notifErr != "NotFound" {
		t.Fatalf("LatestNotificationError %q, want SNS's NotFound", notifErr)
	}
}
