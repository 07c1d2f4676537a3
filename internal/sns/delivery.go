package sns

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/cloudwatch"
)

// Message types.
const (
	TypeNotification             = "Notification"
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
	TypeUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

const tsFormat = "2006-01-02T15:04:05.000Z"

type messageAttr struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// Message is the JSON document SNS POSTs to HTTP/S endpoints.
type Message struct {
	Type              string                 `json:"Type"`
	MessageID         string                 `json:"MessageId"`
	Token             string                 `json:"Token,omitempty"`
	TopicArn          string                 `json:"TopicArn"`
	Subject           string                 `json:"Subject,omitempty"`
	Message           string                 `json:"Message"`
	SubscribeURL      string                 `json:"SubscribeURL,omitempty"`
	Timestamp         string                 `json:"Timestamp"`
	SignatureVersion  string                 `json:"SignatureVersion"`
	Signature         string                 `json:"Signature"`
	SigningCertURL    string                 `json:"SigningCertURL"`
	UnsubscribeURL    string                 `json:"UnsubscribeURL,omitempty"`
	MessageAttributes map[string]messageAttr `json:"MessageAttributes,omitempty"`
}

// StringToSign is SNS's canonical string, the same for SignatureVersion 1 and 2: the
// name and value of each member on its own line, in this order: Message, MessageId,
// Subject (notifications that have one), SubscribeURL (confirmations), Timestamp, Token
// (confirmations), TopicArn, Type.
func (m *Message) StringToSign() string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	if m.Type == TypeNotification {
		if m.Subject != "" {
			add("Subject", m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != TypeNotification {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

// signatureHash is the hash of a SignatureVersion: 1 is SHA1withRSA, 2 SHA256withRSA.
func signatureHash(version string) (crypto.Hash, bool) {
	switch version {
	case "1":
		return crypto.SHA1, true
	case "2":
		return crypto.SHA256, true
	}
	return 0, false
}

func digest(h crypto.Hash, s string) []byte {
	if h == crypto.SHA1 {
		d := sha1.Sum([]byte(s))
		return d[:]
	}
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// VerifyMessage checks a message's signature (SignatureVersion 1 or 2) with pub, as a
// subscriber does with the certificate at SigningCertURL.
func VerifyMessage(m *Message, pub *rsa.PublicKey) error {
	h, ok := signatureHash(m.SignatureVersion)
	if !ok {
		return fmt.Errorf("sns: unsupported SignatureVersion %q", m.SignatureVersion)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return err
	}
	return rsa.VerifyPKCS1v15(pub, h, digest(h, m.StringToSign()), sig)
}

// sign signs m with the node's key, with m.SignatureVersion ("" = 1, the default), and
// points its SigningCertURL at the certificate of that key.
func (s *Service) sign(m *Message) error {
	if m.SignatureVersion == "" {
		m.SignatureVersion = "1"
	}
	h, ok := signatureHash(m.SignatureVersion)
	if !ok {
		return snsErr("InternalError", "sns: unsupported SignatureVersion %q", m.SignatureVersion)
	}
	sig, err := rsa.SignPKCS1v15(nil, s.cfg.SigningKey, h, digest(h, m.StringToSign()))
	if err != nil {
		return snsErr("InternalError", "sns: signing: %v", err)
	}
	m.Signature, m.SigningCertURL = base64.StdEncoding.EncodeToString(sig), s.certURL
	return nil
}

// marshalMessage encodes m as SNS does: without escaping <, > and & (Go's json.Marshal
// writes them as \u003c..., which AWS does not).
func marshalMessage(m *Message) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return "", snsErr("InternalError", "sns: %v", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// keyCertURL is the SigningCertURL of the node's signing key: Config.SigningCertURL with
// a fingerprint of the key before ".pem" (as AWS names its certificates
// SimpleNotificationService-<hex>.pem). A new key thus gets a new URL: subscribers cache
// certificates by URL, and a message signed with another key never points at this one.
func keyCertURL(base string, pub *rsa.PublicKey) string {
	if base == "" {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return base
	}
	sum := sha256.Sum256(der)
	return strings.TrimSuffix(base, ".pem") + "-" + hex.EncodeToString(sum[:16]) + ".pem"
}

// resign returns d's JSON body signed again with this node's key if it was signed with
// another one (a delivery recorded before a restart, when the key is not kept across
// restarts): the certificate at the recorded SigningCertURL is gone, and subscribers
// would refuse the message. Raw deliveries and bodies already signed by this key are
// returned as they are.
func (s *Service) resign(d *deliveryRec) string {
	if d.Raw || s.certURL == "" || strings.Contains(d.Body, `"SigningCertURL":"`+s.certURL+`"`) {
		return d.Body // (the fast path: this node's bodies name its URL as it is)
	}
	var m Message
	if err := json.Unmarshal([]byte(d.Body), &m); err != nil || m.SigningCertURL == s.certURL {
		return d.Body
	}
	if err := s.sign(&m); err != nil {
		return d.Body
	}
	body, err := marshalMessage(&m)
	if err != nil {
		return d.Body
	}
	return body
}

// SigningCertificatePEM returns a self-signed certificate of the signing key, to be
// served at SigningCertURL.
func (s *Service) SigningCertificatePEM() []byte {
	s.certOnce.Do(func() {
		now := s.now()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "sns." + s.cfg.Region + ".coffer"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &s.cfg.SigningKey.PublicKey, s.cfg.SigningKey)
		if err != nil {
			s.cfg.Logger.Error("sns: signing certificate", "err", err)
			return
		}
		s.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	})
	return s.certPEM
}

// deliveryRec is a pending delivery of one message to one subscription.
type deliveryRec struct {
	ID              string    `json:"id"`
	Node            string    `json:"node"`
	SubscriptionArn string    `json:"subscription_arn"`
	TopicArn        string    `json:"topic_arn"`
	Endpoint        string    `json:"endpoint"`
	Type            string    `json:"type"`
	MessageID       string    `json:"message_id"`
	Body            string    `json:"body"` // the signed JSON message, or the raw message (Raw)
	Created         time.Time `json:"created"`
	// Raw: a notification to a subscription with RawMessageDelivery, whose Body is the
	// message as published (absent from records written before raw delivery existed).
	Raw bool `json:"raw,omitempty"`
}

// newDelivery records the delivery of m to sub. Whether it is raw is decided here, when
// the message is published (or the confirmation sent): a notification to a subscription
// with RawMessageDelivery is its bare message, without the JSON document, signature or
// message attributes (as AWS delivers raw messages to HTTP/S endpoints); confirmation
// messages are never raw. Changing RawMessageDelivery later does not change recorded
// deliveries, retries included.
func (s *Service) newDelivery(sub *subRec, m *Message, now time.Time) (*deliveryRec, error) {
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	d := &deliveryRec{ID: id, Node: s.cfg.NodeID, SubscriptionArn: sub.Arn, TopicArn: sub.TopicArn, Endpoint: sub.Endpoint,
		Type: m.Type, MessageID: m.MessageID, Created: now}
	if m.Type == TypeNotification && sub.RawMessageDelivery {
		d.Body, d.Raw = m.Message, true
		return d, nil
	}
	if err := s.sign(m); err != nil {
		return nil, err
	}
	body, err := marshalMessage(m)
	if err != nil {
		return nil, err
	}
	d.Body = body
	return d, nil
}

// flight is a running delivery; first is closed after its first attempt.
type flight struct {
	first chan struct{}
}

// start runs d's delivery in the background unless it is already running (nil then).
func (s *Service) start(d *deliveryRec) *flight {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.inflight[d.ID] != nil || s.ctx.Err() != nil {
		return nil
	}
	f := &flight{first: make(chan struct{})}
	s.inflight[d.ID] = f
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(d, f)
		s.wmu.Lock()
		delete(s.inflight, d.ID)
		s.wmu.Unlock()
	}()
	return f
}

// Resume restarts this node's pending deliveries (after a restart). It returns how many
// were started.
func (s *Service) Resume() int {
	s.mu.RLock()
	var ds []*deliveryRec
	for _, k := range slices.Sorted(maps.Keys(s.deliveries)) {
		if d := s.deliveries[k]; d.Node == s.cfg.NodeID {
			cp := *d
			ds = append(ds, &cp)
		}
	}
	s.mu.RUnlock()
	n := 0
	for _, d := range ds {
		if s.start(d) != nil {
			n++
		}
	}
	return n
}

// PendingDeliveries returns the number of recorded, unfinished deliveries.
func (s *Service) PendingDeliveries() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.deliveries)
}

var errPermanent = errors.New("sns: permanent delivery failure")

func (s *Service) run(d *deliveryRec, f *flight) {
	firstDone := false
	signal := func() {
		if !firstDone {
			firstDone = true
			close(f.first)
		}
	}
	defer signal()
	for attempt := 0; ; attempt++ {
		// The policy in effect now: a change of the topic's or subscription's
		// DeliveryPolicy applies to the deliveries being retried from their next attempt.
		pol := s.deliveryPolicy(d)
		if !s.throttle(d.SubscriptionArn, pol.MaxPerSec) {
			return
		}
		err := s.attempt(d, pol.ContentType)
		signal()
		if err == nil {
			break
		}
		if s.ctx.Err() != nil {
			return // stopping: the delivery stays recorded and resumes after a restart
		}
		delay := s.deliveryPolicy(d).Retry.delay(attempt)
		if errors.Is(err, errPermanent) || delay < 0 {
			s.cfg.Logger.Warn("sns: delivery failed, giving up", "endpoint", d.Endpoint, "message", d.MessageID, "attempts", attempt+1, "err", err)
			break
		}
		s.cfg.Logger.Info("sns: delivery failed, will retry", "endpoint", d.Endpoint, "message", d.MessageID, "attempt", attempt+1, "delay", delay, "err", err)
		if !s.sleep(delay) {
			return
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if _, err := s.propose(ctx, cmdDoneDelivery, doneDeliveryCmd{IDs: []string{d.ID}}); err != nil && s.ctx.Err() == nil {
		s.cfg.Logger.Warn("sns: recording delivery completion", "id", d.ID, "err", err)
	}
}

// deliveryPolicy is the delivery policy in effect for d's subscription.
func (s *Service) deliveryPolicy(d *deliveryRec) effectivePolicy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.effective(s.topics[d.TopicArn], s.subs[d.SubscriptionArn])
}

// sleep waits for d unless the service stops (false then).
func (s *Service) sleep(d time.Duration) bool {
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// throttle spaces the attempts to a subscription (first attempts and retries alike) to
// at most perSec a second on this node (0: no limit). It returns false if the service
// stops meanwhile.
func (s *Service) throttle(subArn string, perSec int) bool {
	if perSec <= 0 {
		return true
	}
	gap := time.Second / time.Duration(perSec)
	now := time.Now()
	s.wmu.Lock()
	if len(s.nextSend) > 1024 {
		for k, t := range s.nextSend {
			if t.Before(now) {
				delete(s.nextSend, k) // past: no wait owed
			}
		}
	}
	next := s.nextSend[subArn]
	if next.Before(now) {
		next = now
	}
	s.nextSend[subArn] = next.Add(gap)
	s.wmu.Unlock()
	return s.sleep(next.Sub(now))
}

func (s *Service) attempt(d *deliveryRec, contentType string) error {
	// Still subscribed? (Unsubscribe removes the delivery record.)
	s.mu.RLock()
	_, ok := s.deliveries[d.ID]
	s.mu.RUnlock()
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint, strings.NewReader(s.resign(d)))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Amazon Simple Notification Service Agent")
	req.Header.Set("x-amz-sns-message-type", d.Type)
	req.Header.Set("x-amz-sns-message-id", d.MessageID)
	req.Header.Set("x-amz-sns-topic-arn", d.TopicArn)
	if d.Type != TypeSubscriptionConfirmation {
		req.Header.Set("x-amz-sns-subscription-arn", d.SubscriptionArn)
	}
	if d.Raw {
		req.Header.Set("x-amz-sns-rawdelivery", "true")
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("sns: endpoint answered %d", resp.StatusCode)
	default:
		return fmt.Errorf("%w: endpoint answered %d", errPermanent, resp.StatusCode)
	}
}

// CloudWatchNotifier returns the cloudwatch.Notifier that publishes alarm notifications
// to SNS topics (as CloudWatch does), waiting for the first delivery attempts.
func (s *Service) CloudWatchNotifier() cloudwatch.Notifier { return notifier{s} }

type notifier struct{ s *Service }

func (n notifier) Notify(ctx context.Context, topicARN string, a cloudwatch.AlarmNotification) error {
	// CloudWatch publishes as its service principal, for the alarm: a topic policy that
	// does not allow that fails the action (AWS's history records it).
	if err := n.s.publishDenied(CloudWatchPrincipal, topicARN, a.AlarmArn); err != nil {
		return err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = n.s.PublishAndWait(ctx, PublishInput{TopicArn: topicARN, Message: string(b), Subject: a.Subject()})
	return err
}
