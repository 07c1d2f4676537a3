// Package sns is Coffer's Amazon SNS, core logic only (no protocol layer): standard
// topics (DisplayName, DeliveryPolicy, SignatureVersion, the access Policy (policy.go) and tags are
// their settable attributes), HTTP/HTTPS
// subscriptions with SNS's confirmation flow (RawMessageDelivery, FilterPolicy,
// FilterPolicyScope and DeliveryPolicy are their settable attributes; see filter.go for
// the filter policy language), Publish, and durable HTTP delivery with retries and SNS
// message signatures (SignatureVersion 1, SHA1withRSA, or 2, SHA256withRSA, as the
// topic's SignatureVersion says), verifiable with the certificate served at
// SigningCertURL.
//
// # Regions
//
// SNS is regional: a topic's ARN carries the region it was created in (CreateTopicIn; the
// API's caller region, Caller.Region), one name is a topic per region, and the API
// operations answer for the caller's region only (ListTopicsIn, ListSubscriptionsIn; an
// ARN of another region is InvalidParameter, see checkRegion). The Go methods that take
// full ARNs (Publish, GetTopicAttributes, ConfirmSubscription, the links, the
// CloudWatchNotifier) work for topics of every region: they are what Coffer's own
// publishers use. All regions are one replicated state.
//
// # Filtering and raw delivery
//
// Publish decides, for each confirmed subscription, whether the message passes its filter
// policy and, if it does, records the delivery in its final form: the signed JSON
// document, or the bare message for a subscription with RawMessageDelivery (POSTed with
// x-amz-sns-rawdelivery: true and no message attributes, as AWS does). Changing a
// subscription's attributes later does not change deliveries already recorded.
//
// # State
//
// Topics, subscriptions, pending deliveries and the unsubscribed subscriptions that can
// still be restored (3 days) are the "sns" part of the replicated
// state (internal/state). A delivery is recorded (with its final, signed JSON body)
// before it is attempted and removed once it succeeded or was given up, so that a
// node that restarts resumes the deliveries it had not finished (Resume). Each delivery
// belongs to the node that published it; deliveries of a node that never comes back stay
// pending (a takeover by another node is not implemented). Attempt counts are not
// replicated: a resumed delivery starts a new retry sequence.
//
// # Delivery policy
//
// SNS's default HTTP/S delivery policy is 3 retries, 20 s apart (linear backoff,
// minDelayTarget = maxDelayTarget = 20). Topics and subscriptions may set their own
// (the DeliveryPolicy attribute, deliverypolicy.go: retry phases, throttle, content
// type); without one, Coffer retries RetryPolicy.Retries times with an exponential
// backoff from MinDelay to MaxDelay (defaults 3, 20 s, 20 s: AWS's schedule). Each step
// of a delivery follows the policy in effect then. A 2xx answer is a success; 429, 5xx
// and transport errors are retried; other statuses are permanent failures. Redirects are
// not followed.
package sns

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
	"github.com/coffer-hsm/coffer/internal/state"
)

// Proposer commits commands to the replicated state (*state.Store).
type Proposer interface {
	Propose(ctx context.Context, typ string, version int, body any) (any, error)
}

// RetryPolicy is the HTTP delivery retry policy.
type RetryPolicy struct {
	Retries  int           // retries after the first attempt (default 3)
	MinDelay time.Duration // first delay (default 20 s)
	MaxDelay time.Duration // cap (default 20 s)
}

// Config configures the SNS service.
type Config struct {
	Proposer  Proposer
	Region    string // default us-east-1
	AccountID string // default 000000000000
	NodeID    string // owner of the deliveries this node publishes (default "local")
	// BaseURL is the SNS endpoint as clients see it (SubscribeURL, UnsubscribeURL),
	// e.g. "https://coffer.example:8443/". Default "http://localhost/".
	BaseURL string
	// SigningKey signs messages (nil: a fresh RSA-2048 key per process). SigningCertURL
	// is where the certificate of that key (SigningCertificatePEM) is served.
	SigningKey     *rsa.PrivateKey
	SigningCertURL string

	HTTPClient     *http.Client // default: no redirects, AttemptTimeout per request
	AttemptTimeout time.Duration
	Retry          RetryPolicy
	Now            func() time.Time
	Rand           io.Reader
	Logger         *slog.Logger
}

// Error is an SNS error: Code is the AWS error code (InvalidParameter, NotFound...).
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func snsErr(code, format string, args ...any) *Error {
	st := http.StatusBadRequest
	switch code {
	case "NotFound", "ResourceNotFound":
		st = http.StatusNotFound
	case "InternalError":
		st = http.StatusInternalServerError
	case "AuthorizationError":
		st = http.StatusForbidden
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: st}
}

func invalid(format string, args ...any) *Error { return snsErr("InvalidParameter", format, args...) }

// Service is the SNS service of one node. It implements state.Part ("sns").
type Service struct {
	cfg Config

	mu         sync.RWMutex
	topics     map[string]*topicRec
	subs       map[string]*subRec
	deliveries map[string]*deliveryRec
	// unsubscribed are the confirmed subscriptions deleted in the last 3 days, by ARN:
	// the token of their UnsubscribeConfirmation restores them.
	unsubscribed map[string]*subRec

	certURL  string // SigningCertURL of the messages this node signs (keyCertURL)
	certOnce sync.Once
	certPEM  []byte

	pmu      sync.Mutex
	policies map[string]*filterPolicy // compiled filter policies, by scope and policy

	policyCache policy.Cache // compiled topic access policies, by document

	wmu      sync.Mutex
	inflight map[string]*flight
	nextSend map[string]time.Time // throttle: earliest next attempt, by subscription
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

var _ state.Part = (*Service)(nil)

// New returns the service with empty state.
func New(cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "local"
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://localhost/"
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 15 * time.Second
	}
	if cfg.Retry.Retries == 0 {
		cfg.Retry.Retries = 3
	}
	if cfg.Retry.Retries < 0 {
		cfg.Retry.Retries = 0
	}
	if cfg.Retry.MinDelay <= 0 {
		cfg.Retry.MinDelay = 20 * time.Second
	}
	if cfg.Retry.MaxDelay < cfg.Retry.MinDelay {
		cfg.Retry.MaxDelay = cfg.Retry.MinDelay
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.SigningKey == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("sns: signing key: %w", err)
		}
		cfg.SigningKey = k
	}
	s := &Service{cfg: cfg, inflight: map[string]*flight{}, nextSend: map[string]time.Time{},
		certURL: keyCertURL(cfg.SigningCertURL, &cfg.SigningKey.PublicKey)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.reset()
	return s, nil
}

func (s *Service) reset() {
	s.topics = map[string]*topicRec{}
	s.subs = map[string]*subRec{}
	s.deliveries = map[string]*deliveryRec{}
	s.unsubscribed = map[string]*subRec{}
}

// Attach sets the proposer (the state store is opened after the parts are created).
func (s *Service) Attach(p Proposer) { s.cfg.Proposer = p }

// Close stops the delivery workers (pending deliveries stay recorded) and waits for them.
// Call it before closing the state store.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// ---- state.Part ----

const (
	snapshotFormat  = "coffer-sns"
	snapshotVersion = 1
)

type persisted struct {
	Format     string                  `json:"format"`
	Version    int                     `json:"version"`
	Topics     map[string]*topicRec    `json:"topics"`
	Subs       map[string]*subRec      `json:"subscriptions"`
	Deliveries map[string]*deliveryRec `json:"deliveries"`
	// Unsubscribed: absent from snapshots of versions without UnsubscribeConfirmation.
	Unsubscribed map[string]*subRec `json:"unsubscribed,omitempty"`
}

// Name implements state.Part.
func (s *Service) Name() string { return "sns" }

// Snapshot implements state.Part.
func (s *Service) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(persisted{Format: snapshotFormat, Version: snapshotVersion, Topics: s.topics, Subs: s.subs, Deliveries: s.deliveries,
		Unsubscribed: s.unsubscribed})
}

// Restore implements state.Part.
func (s *Service) Restore(data []byte) error {
	var p persisted
	if data != nil {
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("sns: restore: %w", err)
		}
		if p.Format != snapshotFormat || p.Version != snapshotVersion {
			return fmt.Errorf("sns: restore: unsupported snapshot %q version %d", p.Format, p.Version)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
	if p.Topics != nil {
		s.topics = p.Topics
	}
	if p.Subs != nil {
		s.subs = p.Subs
	}
	if p.Deliveries != nil {
		s.deliveries = p.Deliveries
	}
	if p.Unsubscribed != nil {
		s.unsubscribed = p.Unsubscribed
	}
	return nil
}

const (
	cmdCreateTopic  = "sns.topic.create"
	cmdDeleteTopic  = "sns.topic.delete"
	cmdPutSub       = "sns.subscription.put"
	cmdConfirmSub   = "sns.subscription.confirm"
	cmdDeleteSub    = "sns.subscription.delete"
	cmdPutDelivery  = "sns.delivery.put"
	cmdDoneDelivery = "sns.delivery.done"
	cmdSetTopicAttr = "sns.topic.set_attribute"
	cmdTagTopic     = "sns.topic.tag"
	cmdSetSubAttr   = "sns.subscription.set_attribute"
	// cmdSetTopicPolicy sets a topic's access policy (SetTopicAttributes Policy), or
	// edits it (AddPermission, RemovePermission).
	cmdSetTopicPolicy = "sns.topic.set_policy"
)

type createTopicCmd struct {
	Topic *topicRec `json:"topic"`
}

type arnCmd struct {
	Arn string `json:"arn"`
}

type putSubCmd struct {
	Sub          *subRec      `json:"subscription"`
	Confirmation *deliveryRec `json:"confirmation"`
}

type confirmSubCmd struct {
	TopicArn string    `json:"topic_arn"`
	Token    string    `json:"token"`
	Now      time.Time `json:"now"` // proposer's clock, for the token's expiry
	// Authenticated: a signed ConfirmSubscription call (false in older entries, and for
	// the SubscribeURL); AuthenticateOnUnsubscribe is its parameter.
	Authenticated             bool `json:"authenticated,omitempty"`
	AuthenticateOnUnsubscribe bool `json:"authenticate_on_unsubscribe,omitempty"`
}

// deleteSubCmd deletes a subscription. Unauthenticated: a GET of the UnsubscribeURL
// (false in older entries, which were all applied as deletions). Notice is the
// UnsubscribeConfirmation to send to a confirmed subscription's endpoint, with Token, the
// token that restores it (absent from older entries: no notice, no restoring).
type deleteSubCmd struct {
	Arn             string       `json:"arn"`
	Unauthenticated bool         `json:"unauthenticated,omitempty"`
	Token           string       `json:"token,omitempty"`
	Now             time.Time    `json:"now,omitzero"`
	Notice          *deliveryRec `json:"notice,omitempty"`
}

type putDeliveryCmd struct {
	Deliveries []*deliveryRec `json:"deliveries"`
}

type doneDeliveryCmd struct {
	IDs []string `json:"ids"`
}

// tokenTTL: SNS confirmation tokens are valid for 3 days.
const tokenTTL = 72 * time.Hour

// Apply implements state.Part.
func (s *Service) Apply(index uint64, cmd state.Command) (any, error) {
	if cmd.Version != 1 {
		return nil, fmt.Errorf("sns: unknown command %s v%d", cmd.Type, cmd.Version)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch cmd.Type {
	case cmdCreateTopic:
		c, err := state.DecodeBody[createTopicCmd](cmd.Body)
		if err != nil || c.Topic == nil {
			return nil, fmt.Errorf("sns: bad %s: %v", cmd.Type, err)
		}
		if old := s.topics[c.Topic.Arn]; old != nil {
			if (old.DisplayName != c.Topic.DisplayName && c.Topic.DisplayName != "") ||
				(old.DeliveryPolicy != c.Topic.DeliveryPolicy && c.Topic.DeliveryPolicy != "") ||
				(old.sigVersion() != c.Topic.SignatureVersion && c.Topic.SignatureVersion != "") ||
				(old.Policy != c.Topic.Policy && c.Topic.Policy != "") {
				return nil, invalid("Invalid parameter: Attributes Reason: Topic already exists with different attributes")
			}
			if c.Topic.Tags != nil && !maps.Equal(old.Tags, c.Topic.Tags) {
				return nil, invalid("Invalid parameter: Tags Reason: Topic already exists with different tags")
			}
			return old.Arn, nil
		}
		t := *c.Topic
		s.topics[t.Arn] = &t
		return t.Arn, nil
	case cmdDeleteTopic:
		c, err := state.DecodeBody[arnCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		delete(s.topics, c.Arn)
		for k, sub := range s.subs {
			if sub.TopicArn == c.Arn {
				delete(s.subs, k)
			}
		}
		for k, sub := range s.unsubscribed {
			if sub.TopicArn == c.Arn {
				delete(s.unsubscribed, k)
			}
		}
		for k, d := range s.deliveries {
			if d.TopicArn == c.Arn {
				delete(s.deliveries, k)
			}
		}
		return nil, nil
	case cmdPutSub:
		c, err := state.DecodeBody[putSubCmd](cmd.Body)
		if err != nil || c.Sub == nil {
			return nil, fmt.Errorf("sns: bad %s: %v", cmd.Type, err)
		}
		if s.topics[c.Sub.TopicArn] == nil {
			return nil, snsErr("NotFound", "Topic does not exist")
		}
		if c.Sub.scope() == ScopeMessageAttributes && policyIsNested(c.Sub.FilterPolicy) {
			return nil, invalid("%sFilter policy scope MessageAttributes does not support nested filter policy", subscribeAttrPrefix)
		}
		sub := *c.Sub
		s.subs[sub.Arn] = &sub
		if c.Confirmation != nil {
			d := *c.Confirmation
			s.deliveries[d.ID] = &d
		}
		return nil, nil
	case cmdConfirmSub:
		c, err := state.DecodeBody[confirmSubCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		if s.topics[c.TopicArn] == nil {
			return nil, snsErr("NotFound", "Topic does not exist")
		}
		now := c.Now
		if now.IsZero() {
			now = cmd.Time
		}
		for _, k := range slices.Sorted(maps.Keys(s.subs)) {
			sub := s.subs[k]
			if sub.TopicArn != c.TopicArn || sub.Token != c.Token {
				continue
			}
			if sub.Confirmed {
				if c.Authenticated && c.AuthenticateOnUnsubscribe && !sub.AuthenticateOnUnsubscribe {
					n := *sub // a signed confirmation may make unsubscribing stricter, never looser
					n.AuthenticateOnUnsubscribe = true
					s.subs[k] = &n
				}
				return sub.Arn, nil
			}
			if now.After(sub.TokenIssued.Add(tokenTTL)) {
				return nil, invalid("Invalid token")
			}
			n := confirmed(sub, c)
			s.subs[k] = n
			return n.Arn, nil
		}
		return s.restoreUnsubscribed(c, now)
	case cmdDeleteSub:
		c, err := state.DecodeBody[deleteSubCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		sub := s.subs[c.Arn]
		if sub == nil {
			return nil, snsErr("NotFound", "Subscription does not exist")
		}
		if c.Unauthenticated && sub.AuthenticateOnUnsubscribe {
			return nil, snsErr("AuthorizationError", "This subscription was confirmed with AuthenticateOnUnsubscribe: only an authenticated Unsubscribe call can delete it")
		}
		delete(s.subs, c.Arn)
		for k, d := range s.deliveries {
			if d.SubscriptionArn == c.Arn {
				delete(s.deliveries, k)
			}
		}
		s.pruneUnsubscribed(c.Now)
		if c.Notice == nil || c.Token == "" || !sub.Confirmed {
			return false, nil
		}
		// The endpoint is told (UnsubscribeConfirmation) and may restore the
		// subscription with the token for 3 days.
		tomb := *sub
		tomb.Token, tomb.TokenIssued = c.Token, c.Now
		s.unsubscribed[c.Arn] = &tomb
		d := *c.Notice
		s.deliveries[d.ID] = &d
		return true, nil
	case cmdPutDelivery:
		c, err := state.DecodeBody[putDeliveryCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		for _, d := range c.Deliveries {
			if s.subs[d.SubscriptionArn] == nil {
				continue // unsubscribed meanwhile
			}
			cp := *d
			s.deliveries[d.ID] = &cp
		}
		return nil, nil
	case cmdSetTopicAttr:
		c, err := state.DecodeBody[setTopicAttrCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		return s.applySetTopicAttr(c)
	case cmdSetTopicPolicy:
		c, err := state.DecodeBody[setPolicyCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		return s.applySetPolicy(c)
	case cmdTagTopic:
		c, err := state.DecodeBody[tagTopicCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		return s.applyTagTopic(c)
	case cmdSetSubAttr:
		c, err := state.DecodeBody[setSubAttrCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		return s.applySetSubAttr(c)
	case cmdDoneDelivery:
		c, err := state.DecodeBody[doneDeliveryCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		for _, id := range c.IDs {
			delete(s.deliveries, id)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("sns: unknown command %s v%d", cmd.Type, cmd.Version)
}

// pruneUnsubscribed forgets the unsubscribed subscriptions whose token has expired at
// now (the proposer's clock, carried by the command; runs under s.mu in Apply).
func (s *Service) pruneUnsubscribed(now time.Time) {
	for k, sub := range s.unsubscribed {
		if now.After(sub.TokenIssued.Add(tokenTTL)) {
			delete(s.unsubscribed, k)
		}
	}
}

// confirmed is sub confirmed by c: authenticated if c was a signed ConfirmSubscription,
// which may also ask that unsubscribing be authenticated.
func confirmed(sub *subRec, c confirmSubCmd) *subRec {
	n := *sub
	n.Confirmed = true
	n.ConfirmationAuthenticated = c.Authenticated
	n.AuthenticateOnUnsubscribe = c.Authenticated && c.AuthenticateOnUnsubscribe
	return &n
}

// restoreUnsubscribed is ConfirmSubscription with the token of an UnsubscribeConfirmation
// (under s.mu in Apply): the subscription comes back, confirmed, with its ARN and
// attributes, unless the endpoint was subscribed again meanwhile (that subscription's
// ARN is returned then).
func (s *Service) restoreUnsubscribed(c confirmSubCmd, now time.Time) (any, error) {
	for _, k := range slices.Sorted(maps.Keys(s.unsubscribed)) {
		tomb := s.unsubscribed[k]
		if tomb.TopicArn != c.TopicArn || tomb.Token != c.Token {
			continue
		}
		if now.After(tomb.TokenIssued.Add(tokenTTL)) {
			break
		}
		delete(s.unsubscribed, k)
		for _, sk := range slices.Sorted(maps.Keys(s.subs)) {
			if sub := s.subs[sk]; sub.TopicArn == tomb.TopicArn && sub.Protocol == tomb.Protocol && sub.Endpoint == tomb.Endpoint {
				return sub.Arn, nil
			}
		}
		n := confirmed(tomb, c)
		s.subs[k] = n
		return n.Arn, nil
	}
	return nil, invalid("Invalid token")
}

func (s *Service) propose(ctx context.Context, typ string, body any) (any, error) {
	if s.cfg.Proposer == nil {
		return nil, snsErr("InternalError", "sns: no state store")
	}
	return s.cfg.Proposer.Propose(ctx, typ, 1, body)
}
