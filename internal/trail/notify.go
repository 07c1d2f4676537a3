package trail

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/coffer-hsm/coffer/internal/sns"
)

// Notifier publishes a trail's log file notifications to its SNS topic. SNSNotifier
// adapts Coffer's SNS service.
type Notifier interface {
	// TopicExists reports whether the topic exists (CreateTrail and UpdateTrail check it).
	TopicExists(ctx context.Context, topicARN string) bool
	// Publish publishes message to the topic. An *sns.Error's Code is what
	// GetTrailStatus reports as LatestNotificationError.
	Publish(ctx context.Context, topicARN, message string) error
}

// SNSNotifier is the Notifier of the in-process SNS service. Publish records the
// message's deliveries in the replicated state (sns.Service.Publish) and returns without
// waiting for the subscribers, who are retried by SNS's delivery policy.
func SNSNotifier(s *sns.Service) Notifier { return snsNotifier{s} }

type snsNotifier struct{ s *sns.Service }

func (n snsNotifier) TopicExists(ctx context.Context, arn string) bool {
	_, err := n.s.GetTopicAttributes(ctx, arn)
	return err == nil
}

func (n snsNotifier) Publish(ctx context.Context, arn, message string) error {
	_, err := n.s.Publish(ctx, sns.PublishInput{TopicArn: arn, Message: message})
	return err
}

// Notification is the message CloudTrail publishes when it has written log files: the
// bucket and the object keys of the files (relative to the bucket). CloudTrail sets no
// Subject.
type Notification struct {
	S3Bucket    string   `json:"s3Bucket"`
	S3ObjectKey []string `json:"s3ObjectKey"`
}

// notifyObject is a delivered log file whose notification is not published yet.
type notifyObject struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// maxPendingNotify bounds the log files waiting for their notification (while the topic
// is gone or publishing fails): the oldest are dropped. 500 keys of at most ~330 bytes
// fit in one SNS message (256 KiB).
const maxPendingNotify = 500

// notifyTimeout bounds one publish (a raft proposal of the message's deliveries).
const notifyTimeout = 10 * time.Second

// queueNotify adds the log intent's files to those to be notified.
func (st *deliveryState) queueNotify(files []regionLog) {
	for _, f := range files {
		st.Notify = append(st.Notify, notifyObject{Bucket: f.S3Bucket, Key: f.S3Object})
	}
	if n := len(st.Notify) - maxPendingNotify; n > 0 {
		st.Notify = slices.Delete(st.Notify, 0, n)
	}
}

// notify publishes the notifications of the trail's delivered log files: one message per
// bucket, naming every file delivered since the last published one. It runs after the
// files and the journal position are saved (the pending files are saved with them), so a
// failure or a crash here never touches delivery: a failed publish is retried at the next
// tick, and a crash between the publish and the next save publishes again after the
// restart (at least once). Callers save the state afterwards.
func (d *Deliverer) notify(ctx context.Context, t *Trail, st *deliveryState, now time.Time) {
	n := d.cfg.Service.notifier()
	topic := t.SnsTopicARN()
	if n == nil || topic == "" {
		st.Notify = nil // nothing to publish to: the files are not notified later
		return
	}
	if len(st.Notify) == 0 {
		return
	}
	var buckets []string
	for _, o := range st.Notify {
		if !slices.Contains(buckets, o.Bucket) {
			buckets = append(buckets, o.Bucket)
		}
	}
	st.NotifyAttempted = now
	for _, b := range buckets {
		msg := Notification{S3Bucket: b}
		for _, o := range st.Notify {
			if o.Bucket == b {
				msg.S3ObjectKey = append(msg.S3ObjectKey, o.Key)
			}
		}
		body, err := json.Marshal(msg)
		if err == nil {
			pctx, cancel := context.WithTimeout(sns.WithSourceArn(ctx, t.ARN()), notifyTimeout) // aws:SourceArn of the topic policy
			err = n.Publish(pctx, topic, string(body))
			cancel()
		}
		if err != nil {
			st.NotifyError = notifyErrorCode(err)
			d.cfg.Logger.Warn("cloudtrail: SNS notification failed; retried at the next delivery", "trail", t.ARN(), "topic", topic, "err", err)
			return
		}
		st.Notify = slices.DeleteFunc(st.Notify, func(o notifyObject) bool { return o.Bucket == b })
		st.Notified, st.NotifyError = now, ""
	}
	d.crash("notified")
}

// notifyErrorCode is what GetTrailStatus reports for a failed notification: SNS's error
// code (NotFound when the topic was deleted...), never the server's error text.
func notifyErrorCode(err error) string {
	var e *sns.Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return "InternalError"
}
