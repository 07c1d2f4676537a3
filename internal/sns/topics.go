package sns

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

type topicRec struct {
	Arn         string            `json:"arn"`
	Name        string            `json:"name"`
	DisplayName string            `json:"display_name,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Created     time.Time         `json:"created"`
	// DeliveryPolicy is the topic's HTTP/S delivery policy, normalized ("" = none; absent
	// from records written before it existed).
	DeliveryPolicy string `json:"delivery_policy,omitempty"`
	// SignatureVersion is the topic's SignatureVersion attribute: "1" (SHA1withRSA) or
	// "2" (SHA256withRSA); "" = never set, which signs as 1 (absent from older records).
	SignatureVersion string `json:"signature_version,omitempty"`
	// Policy is the topic's access policy as set ("" = AWS's default policy, which is
	// also what records written before policies existed mean).
	Policy string `json:"policy,omitempty"`
}

// sigVersion is the SignatureVersion the topic's messages are signed with.
func (t *topicRec) sigVersion() string {
	if t == nil || t.SignatureVersion == "" {
		return "1"
	}
	return t.SignatureVersion
}

type subRec struct {
	Arn         string    `json:"arn"`
	TopicArn    string    `json:"topic_arn"`
	Protocol    string    `json:"protocol"`
	Endpoint    string    `json:"endpoint"`
	Owner       string    `json:"owner"`
	Confirmed   bool      `json:"confirmed"`
	Token       string    `json:"token"`
	TokenIssued time.Time `json:"token_issued"`
	// Settable attributes. Absent from records written before they existed, which
	// therefore keep their meaning: JSON delivery, no filter policy.
	RawMessageDelivery bool   `json:"raw_message_delivery,omitempty"`
	FilterPolicy       string `json:"filter_policy,omitempty"`       // "" = none
	FilterPolicyScope  string `json:"filter_policy_scope,omitempty"` // "" = MessageAttributes
	DeliveryPolicy     string `json:"delivery_policy,omitempty"`     // "" = none (normalized)
	// ConfirmationAuthenticated: confirmed by a signed ConfirmSubscription call (not by a
	// GET of the SubscribeURL). AuthenticateOnUnsubscribe: that call asked that the
	// subscription be deleted only by signed Unsubscribe calls (the UnsubscribeURL of its
	// messages is then refused).
	ConfirmationAuthenticated bool `json:"confirmation_authenticated,omitempty"`
	AuthenticateOnUnsubscribe bool `json:"authenticate_on_unsubscribe,omitempty"`
}

// scope is the subscription's effective FilterPolicyScope.
func (sub *subRec) scope() string {
	if sub.FilterPolicyScope == "" {
		return ScopeMessageAttributes
	}
	return sub.FilterPolicyScope
}

// Subscription is a ListSubscriptions entry. SubscriptionArn is "PendingConfirmation"
// until the subscription is confirmed.
type Subscription struct {
	SubscriptionArn string
	Owner           string
	Protocol        string
	Endpoint        string
	TopicArn        string
}

var topicName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// regionName is a region as SigV4 credential scopes have them (awsproto checks the
// requests' regions the same way), so that it is one field of an ARN.
var regionName = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// topicARN is the ARN of the topic of that name in region ("" = the node's region,
// Config.Region).
func (s *Service) topicARN(region, name string) string {
	return fmt.Sprintf("arn:aws:sns:%s:%s:%s", s.region(region), s.cfg.AccountID, name)
}

// region is r, or the node's region (Config.Region) if r is empty.
func (s *Service) region(r string) string {
	if r == "" {
		return s.cfg.Region
	}
	return r
}

// arnRegion is the region of an ARN (its fourth field; "" if it has none). A
// subscription's ARN is its topic's ARN and an id, so it is in its topic's region.
func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}

func (s *Service) newID() (string, error) {
	u, err := uuid.NewRandomFromReader(s.cfg.Rand)
	if err != nil {
		return "", snsErr("InternalError", "sns: random: %v", err)
	}
	return u.String(), nil
}

// CreateTopic creates a standard topic in the node's region (Config.Region), or returns
// the existing topic of that name there: CreateTopicIn with the node's region.
func (s *Service) CreateTopic(ctx context.Context, name string, attrs map[string]string, tags map[string]string) (string, error) {
	return s.CreateTopicIn(ctx, "", name, attrs, tags)
}

// CreateTopicIn creates a standard topic in region ("" = the node's region), or returns
// the existing topic of that name in that region: a name is a topic per region, as on
// AWS, and the topic's ARN carries its region. Supported attributes: DisplayName,
// DeliveryPolicy, SignatureVersion, Policy and FifoTopic=false. FIFO topics are not supported.
func (s *Service) CreateTopicIn(ctx context.Context, region, name string, attrs map[string]string, tags map[string]string) (string, error) {
	if region != "" && !regionName.MatchString(region) {
		return "", invalid("Invalid parameter: region %q", region)
	}
	if !topicName.MatchString(name) {
		if strings.HasSuffix(name, ".fifo") {
			return "", invalid("Invalid parameter: FIFO topics are not supported")
		}
		return "", invalid("Invalid parameter: Topic Name")
	}
	t := &topicRec{Arn: s.topicARN(region, name), Name: name, Tags: tags, Created: s.now()}
	for k, v := range attrs {
		switch k {
		case "DisplayName":
			if len(v) > 100 {
				return "", invalid("Invalid parameter: DisplayName")
			}
			t.DisplayName = v
		case "DeliveryPolicy":
			norm, _, err := parseTopicDeliveryPolicy(v, subscribeAttrPrefix)
			if err != nil {
				return "", err
			}
			t.DeliveryPolicy = norm
		case "SignatureVersion":
			if err := checkSignatureVersion(v, subscribeAttrPrefix); err != nil {
				return "", err
			}
			t.SignatureVersion = v
		case "Policy":
			if _, err := checkTopicPolicy(v); err != nil {
				return "", err
			}
			t.Policy = v
		case "FifoTopic":
			switch strings.ToLower(v) {
			case "true":
				return "", invalid("Invalid parameter: FIFO topics are not supported")
			case "false":
			default:
				return "", invalid("%sFifoTopic: Invalid value [%s]. Must be true or false.", subscribeAttrPrefix, v)
			}
		default:
			return "", invalid("Invalid parameter: Attributes Reason: Unsupported attribute %s", k)
		}
	}
	if len(tags) > 50 {
		return "", snsErr("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
	}
	r, err := s.propose(ctx, cmdCreateTopic, createTopicCmd{Topic: t})
	if err != nil {
		return "", err
	}
	arn, _ := r.(string)
	return arn, nil
}

// DeleteTopic deletes a topic and its subscriptions (no error if it does not exist).
func (s *Service) DeleteTopic(ctx context.Context, arn string) error {
	if err := s.checkARN(arn, "TopicArn"); err != nil {
		return err
	}
	_, err := s.propose(ctx, cmdDeleteTopic, arnCmd{Arn: arn})
	return err
}

func (s *Service) checkARN(arn, field string) error {
	if arn == "" {
		return invalid("Invalid parameter: %s", field)
	}
	if !strings.HasPrefix(arn, "arn:aws:sns:") || strings.Count(arn, ":") < 5 {
		return invalid("Invalid parameter: %s Reason: An ARN must have the format arn:aws:sns:region:account:name", field)
	}
	return nil
}

func pageToken(t string) (string, error) {
	if t == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) == 0 {
		return "", invalid("Invalid parameter: NextToken")
	}
	return string(b), nil
}

const pageSize = 100

// ListTopics lists the ARNs of the topics of the node's region (Config.Region), 100 per
// page: ListTopicsIn with the node's region.
func (s *Service) ListTopics(ctx context.Context, nextToken string) ([]string, string, error) {
	return s.ListTopicsIn(ctx, "", nextToken)
}

// ListTopicsIn lists the ARNs of the topics of region ("" = the node's region), 100 per
// page, as AWS's regional endpoints do.
func (s *Service) ListTopicsIn(ctx context.Context, region, nextToken string) ([]string, string, error) {
	region = s.region(region)
	after, err := pageToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for _, k := range slices.Sorted(maps.Keys(s.topics)) {
		if k <= after || arnRegion(k) != region {
			continue
		}
		if len(out) == pageSize {
			return out, base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1])), nil
		}
		out = append(out, k)
	}
	return out, "", nil
}

// GetTopicAttributes returns TopicArn, Owner, Policy (the topic's, or AWS's default), DisplayName,
// SubscriptionsConfirmed, SubscriptionsPending, SubscriptionsDeleted,
// EffectiveDeliveryPolicy and, when they are set, DeliveryPolicy and SignatureVersion.
func (s *Service) GetTopicAttributes(ctx context.Context, arn string) (map[string]string, error) {
	if err := s.checkARN(arn, "TopicArn"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.topics[arn]
	if t == nil {
		return nil, snsErr("NotFound", "Topic does not exist")
	}
	conf, pend, deleted := 0, 0, 0
	for _, sub := range s.unsubscribed {
		if sub.TopicArn == arn && !s.now().After(sub.TokenIssued.Add(tokenTTL)) {
			deleted++
		}
	}
	for _, sub := range s.subs {
		if sub.TopicArn == arn {
			if sub.Confirmed {
				conf++
			} else {
				pend++
			}
		}
	}
	attrs := map[string]string{"TopicArn": t.Arn, "Owner": s.cfg.AccountID, "DisplayName": t.DisplayName, "Policy": s.topicPolicyDoc(t),
		"SubscriptionsConfirmed": strconv.Itoa(conf), "SubscriptionsPending": strconv.Itoa(pend), "SubscriptionsDeleted": strconv.Itoa(deleted),
		"EffectiveDeliveryPolicy": s.topicEffectiveJSON(t)}
	if t.DeliveryPolicy != "" {
		attrs["DeliveryPolicy"] = t.DeliveryPolicy
	}
	if t.SignatureVersion != "" {
		// As AWS: absent until it is set (which means 1).
		attrs["SignatureVersion"] = t.SignatureVersion
	}
	return attrs, nil
}

// defaultTopicPolicy is the access policy AWS gives a topic at creation (its Policy
// attribute until another is set): the owner's account may use it. Its condition,
// AWS:SourceOwner, is a key of the requests of services publishing for a resource of the
// account (alarms, trails), not of IAM users' requests, which their identity policies
// authorize.
func (s *Service) defaultTopicPolicy(arn string) string {
	acct, _ := json.Marshal(s.cfg.AccountID)
	res, _ := json.Marshal(arn)
	return `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow",` +
		`"Principal":{"AWS":"*"},"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission",` +
		`"SNS:RemovePermission","SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],` +
		`"Resource":` + string(res) + `,"Condition":{"StringEquals":{"AWS:SourceOwner":` + string(acct) + `}}}]}`
}

// SubscribeOutput is Subscribe's result: "pending confirmation" unless the subscription
// was already confirmed or ReturnSubscriptionArn was set.
type SubscribeOutput struct {
	SubscriptionArn string
}

// Subscribe subscribes an http or https endpoint, with the subscription attributes
// RawMessageDelivery, FilterPolicy and FilterPolicyScope (attrs, may be nil). The
// subscription is pending until the endpoint confirms it: a SubscriptionConfirmation
// message (Token, SubscribeURL) is delivered to it. Subscribing the same endpoint again
// returns the confirmed subscription (an attribute given with a different value is an
// error, as on AWS), or sends a new confirmation for a pending one, whose attributes are
// then those given.
func (s *Service) Subscribe(ctx context.Context, topicArn, protocol, endpoint string, attrs map[string]string, returnArn bool) (SubscribeOutput, error) {
	if err := s.checkARN(topicArn, "TopicArn"); err != nil {
		return SubscribeOutput{}, err
	}
	if protocol != "http" && protocol != "https" {
		return SubscribeOutput{}, invalid("Invalid parameter: Amazon SNS does not support this protocol string: %s (only http and https are supported)", protocol)
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != protocol || u.Host == "" || u.User != nil {
		return SubscribeOutput{}, invalid("Invalid parameter: Endpoint must match the specified protocol")
	}
	s.mu.RLock()
	t := s.topics[topicArn]
	var existing *subRec
	for _, k := range slices.Sorted(maps.Keys(s.subs)) {
		if sub := s.subs[k]; sub.TopicArn == topicArn && sub.Protocol == protocol && sub.Endpoint == endpoint {
			cp := *sub
			existing = &cp
		}
	}
	s.mu.RUnlock()
	a, err := parseSubscribeAttrs(attrs, existing)
	if err != nil {
		return SubscribeOutput{}, err
	}
	if t == nil {
		return SubscribeOutput{}, snsErr("NotFound", "Topic does not exist")
	}
	if existing != nil && existing.Confirmed {
		if a.differ(existing) {
			return SubscribeOutput{}, invalid("%sSubscription already exists with different attributes", subscribeAttrPrefix)
		}
		return SubscribeOutput{SubscriptionArn: existing.Arn}, nil
	}
	now := s.now()
	sub := existing
	if sub == nil {
		id, err := s.newID()
		if err != nil {
			return SubscribeOutput{}, err
		}
		sub = &subRec{Arn: topicArn + ":" + id, TopicArn: topicArn, Protocol: protocol, Endpoint: endpoint, Owner: s.cfg.AccountID}
	}
	a.set(sub)
	tok := make([]byte, 64)
	if _, err := io.ReadFull(s.cfg.Rand, tok); err != nil {
		return SubscribeOutput{}, snsErr("InternalError", "sns: random: %v", err)
	}
	sub.Token, sub.TokenIssued = hex.EncodeToString(tok), now
	msgID, err := s.newID()
	if err != nil {
		return SubscribeOutput{}, err
	}
	m := &Message{Type: TypeSubscriptionConfirmation, MessageID: msgID, Token: sub.Token, TopicArn: topicArn,
		Message:      fmt.Sprintf("You have chosen to subscribe to the topic %s.\nTo confirm the subscription, visit the SubscribeURL included in this message.", topicArn),
		SubscribeURL: s.subscribeURL(topicArn, sub.Token),
		Timestamp:    now.Format(tsFormat), SignatureVersion: t.sigVersion()}
	d, err := s.newDelivery(sub, m, now)
	if err != nil {
		return SubscribeOutput{}, err
	}
	if _, err := s.propose(ctx, cmdPutSub, putSubCmd{Sub: sub, Confirmation: d}); err != nil {
		return SubscribeOutput{}, err
	}
	s.start(d)
	if returnArn {
		return SubscribeOutput{SubscriptionArn: sub.Arn}, nil
	}
	return SubscribeOutput{SubscriptionArn: "pending confirmation"}, nil
}

// actionURL is a link to the SNS endpoint with the query parameters given (name, value,
// ...) in that order, as AWS writes its links: ...?Action=ConfirmSubscription&TopicArn=
// arn:aws:sns:...&Token=... (the colons of ARNs are not escaped).
func (s *Service) actionURL(kv ...string) string {
	var b strings.Builder
	b.WriteString(s.cfg.BaseURL)
	if !strings.HasSuffix(s.cfg.BaseURL, "/") {
		b.WriteByte('/')
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + strings.ReplaceAll(url.QueryEscape(kv[i+1]), "%3A", ":"))
	}
	return b.String()
}

// subscribeURL is the SubscribeURL of a confirmation: ConfirmSubscription with the token.
func (s *Service) subscribeURL(topicArn, token string) string {
	return s.actionURL("Action", "ConfirmSubscription", "TopicArn", topicArn, "Token", token)
}

// ConfirmSubscription confirms a pending subscription with the token of its
// SubscriptionConfirmation message (valid 3 days) and returns its ARN, as an
// unauthenticated GET of the SubscribeURL does.
func (s *Service) ConfirmSubscription(ctx context.Context, topicArn, token string) (string, error) {
	return s.confirm(ctx, confirmSubCmd{TopicArn: topicArn, Token: token})
}

// ConfirmSubscriptionAuthenticated is ConfirmSubscription by a signed API call: the
// subscription's ConfirmationWasAuthenticated is true and, with authenticateOnUnsubscribe,
// only signed Unsubscribe calls may delete it (its UnsubscribeURL is refused), as on AWS.
func (s *Service) ConfirmSubscriptionAuthenticated(ctx context.Context, topicArn, token string, authenticateOnUnsubscribe bool) (string, error) {
	return s.confirm(ctx, confirmSubCmd{TopicArn: topicArn, Token: token, Authenticated: true, AuthenticateOnUnsubscribe: authenticateOnUnsubscribe})
}

func (s *Service) confirm(ctx context.Context, c confirmSubCmd) (string, error) {
	if err := s.checkARN(c.TopicArn, "TopicArn"); err != nil {
		return "", err
	}
	if c.Token == "" {
		return "", invalid("Invalid parameter: Token")
	}
	c.Now = s.now()
	r, err := s.propose(ctx, cmdConfirmSub, c)
	if err != nil {
		return "", err
	}
	arn, _ := r.(string)
	return arn, nil
}

// Unsubscribe deletes a subscription and its pending deliveries (a signed API call).
func (s *Service) Unsubscribe(ctx context.Context, subArn string) error {
	return s.unsubscribe(ctx, subArn, false)
}

// unsubscribe deletes a subscription; unauthenticated is a GET of its UnsubscribeURL,
// refused for a subscription confirmed with AuthenticateOnUnsubscribe. A confirmed
// subscription's endpoint is sent an UnsubscribeConfirmation, as AWS does, whose token
// (SubscribeURL) restores the subscription within 3 days.
func (s *Service) unsubscribe(ctx context.Context, subArn string, unauthenticated bool) error {
	if err := s.checkARN(subArn, "SubscriptionArn"); err != nil {
		return err
	}
	c := deleteSubCmd{Arn: subArn, Unauthenticated: unauthenticated, Now: s.now()}
	s.mu.RLock()
	var sub *subRec
	var t *topicRec
	if cur := s.subs[subArn]; cur != nil && cur.Confirmed {
		cp := *cur
		sub, t = &cp, s.topics[cur.TopicArn]
	}
	s.mu.RUnlock()
	if sub != nil {
		tok := make([]byte, 64)
		if _, err := io.ReadFull(s.cfg.Rand, tok); err != nil {
			return snsErr("InternalError", "sns: random: %v", err)
		}
		c.Token = hex.EncodeToString(tok)
		msgID, err := s.newID()
		if err != nil {
			return err
		}
		m := &Message{Type: TypeUnsubscribeConfirmation, MessageID: msgID, Token: c.Token, TopicArn: sub.TopicArn,
			Message:      fmt.Sprintf("You have chosen to deactivate subscription %s.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.", subArn),
			SubscribeURL: s.subscribeURL(sub.TopicArn, c.Token), Timestamp: c.Now.Format(tsFormat), SignatureVersion: t.sigVersion()}
		if c.Notice, err = s.newDelivery(sub, m, c.Now); err != nil {
			return err
		}
	}
	r, err := s.propose(ctx, cmdDeleteSub, c)
	if err != nil {
		return err
	}
	if sent, _ := r.(bool); sent {
		s.start(c.Notice)
	}
	return nil
}

// ListSubscriptions lists the subscriptions of the node's region (Config.Region), 100 per
// page: ListSubscriptionsIn with the node's region.
func (s *Service) ListSubscriptions(ctx context.Context, nextToken string) ([]Subscription, string, error) {
	return s.ListSubscriptionsIn(ctx, "", nextToken)
}

// ListSubscriptionsIn lists the subscriptions to the topics of region ("" = the node's
// region), 100 per page.
func (s *Service) ListSubscriptionsIn(ctx context.Context, region, nextToken string) ([]Subscription, string, error) {
	return s.listSubs(s.region(region), "", nextToken)
}

// ListSubscriptionsByTopic lists a topic's subscriptions, 100 per page.
func (s *Service) ListSubscriptionsByTopic(ctx context.Context, topicArn, nextToken string) ([]Subscription, string, error) {
	if err := s.checkARN(topicArn, "TopicArn"); err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	ok := s.topics[topicArn] != nil
	s.mu.RUnlock()
	if !ok {
		return nil, "", snsErr("NotFound", "Topic does not exist")
	}
	return s.listSubs("", topicArn, nextToken)
}

// listSubs lists the subscriptions of region ("" = any) or of topic ("" = any).
func (s *Service) listSubs(region, topic, nextToken string) ([]Subscription, string, error) {
	after, err := pageToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Subscription
	last := ""
	for _, k := range slices.Sorted(maps.Keys(s.subs)) {
		sub := s.subs[k]
		if k <= after || (topic != "" && sub.TopicArn != topic) || (region != "" && arnRegion(sub.TopicArn) != region) {
			continue
		}
		if len(out) == pageSize {
			return out, base64.RawURLEncoding.EncodeToString([]byte(last)), nil
		}
		arn := sub.Arn
		if !sub.Confirmed {
			arn = "PendingConfirmation"
		}
		out = append(out, Subscription{SubscriptionArn: arn, Owner: sub.Owner, Protocol: sub.Protocol, Endpoint: sub.Endpoint, TopicArn: sub.TopicArn})
		last = k
	}
	return out, "", nil
}

// MessageAttributeValue is a Publish message attribute (DataType String, Number or
// Binary).
type MessageAttributeValue struct {
	DataType    string
	StringValue string
	BinaryValue []byte
}

// PublishInput is Publish's input (TopicArn only; no TargetArn/PhoneNumber).
type PublishInput struct {
	TopicArn string
	Message  string // the message, or with Structured the "default" one
	Subject  string
	// Structured: the message was published with MessageStructure=json. ProtocolMessages
	// are then its messages for the http and https subscriptions that have their own, and
	// the message attributes are not delivered (AWS sends them only when the message
	// structure is a string), though filter policies see them.
	Structured        bool
	ProtocolMessages  map[string]string
	MessageAttributes map[string]MessageAttributeValue
}

// messageFor is the message delivered to a subscription of that protocol.
func (in *PublishInput) messageFor(protocol string) string {
	if m, ok := in.ProtocolMessages[protocol]; ok {
		return m
	}
	return in.Message
}

const maxMessage = 256 * 1024

// snsNumber is the syntax of a Number message attribute: a decimal integer or float
// (strconv.ParseFloat alone would also take "NaN", "Inf", hex floats and underscores).
var snsNumber = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// isSNSNumber reports whether v is a valid Number attribute value: decimal, at most 38
// significant digits, between -10^128 and 10^126 (SNS message attribute data types).
func isSNSNumber(v string) bool {
	if !snsNumber.MatchString(v) {
		return false
	}
	mant, _, _ := strings.Cut(strings.ToLower(strings.TrimLeft(v, "+-")), "e")
	// Significant digits: without the leading and trailing zeros.
	digits := strings.Trim(strings.Replace(mant, ".", "", 1), "0")
	if len(digits) > 38 {
		return false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return false
	}
	return f >= -1e128 && f <= 1e126
}

// invalidValue is SNS's InvalidParameterValueException (code ParameterValueInvalid), the
// error of invalid message attributes.
func invalidValue(format string, args ...any) *Error {
	return snsErr("ParameterValueInvalid", format, args...)
}

// checkAttributeName checks a message attribute name as AWS does: 1-256 letters, digits,
// '_', '-' and '.', not beginning or ending with '.', no two '.' in a row, and not
// beginning with the reserved prefixes "AWS." and "Amazon." (in any case).
func checkAttributeName(k string) error {
	switch {
	case k == "":
		return invalidValue("The message attribute name must not be empty.")
	case len(k) > 256:
		return invalidValue("Length of message attribute name must be less than 256 bytes.")
	case k[0] == '.':
		return invalidValue("Invalid message attribute name starting with character '.' was found.")
	case k[len(k)-1] == '.':
		return invalidValue("Invalid message attribute name ending with character '.' was found.")
	}
	for i, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return invalidValue("Invalid non-alphanumeric character '#x%X' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.", r)
		}
		if r == '.' && k[i-1] == '.' {
			return invalidValue("Message attribute name can not have successive '.' character.")
		}
	}
	if l := strings.ToLower(k); strings.HasPrefix(l, "aws.") || strings.HasPrefix(l, "amazon.") {
		return invalidValue("The message attribute name '%s' is reserved: names beginning with AWS. or Amazon. are for AWS's use.", k)
	}
	return nil
}

func checkPublish(in PublishInput) error {
	if in.Message == "" {
		return invalid("Invalid parameter: Empty message")
	}
	if len(in.Message) > maxMessage {
		return invalid("Invalid parameter: Message too long")
	}
	if !utf8.ValidString(in.Message) {
		// Messages are UTF-8; a JSON document could not carry the bytes as they are, and
		// the subscriber could not verify the signature.
		return invalid("Invalid parameter: Message Reason: the message must be UTF-8 text")
	}
	if len(in.Subject) > 100 {
		return invalid("Invalid parameter: Subject")
	}
	for i, r := range in.Subject {
		// ASCII, no line breaks or control characters, beginning with a letter, number
		// or punctuation mark (not a space).
		if r > unicode.MaxASCII || r == '\n' || r == '\r' || !unicode.IsPrint(r) || (i == 0 && r == ' ') {
			return invalid("Invalid parameter: Subject")
		}
	}
	size := len(in.Message)
	for _, k := range slices.Sorted(maps.Keys(in.MessageAttributes)) {
		v := in.MessageAttributes[k]
		// "All parts of the message attribute, including name, type, and value, are
		// included in the message size restriction" (MessageAttributeValue).
		size += len(k) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
		if err := checkAttributeName(k); err != nil {
			return err
		}
		base, custom, hasCustom := strings.Cut(v.DataType, ".")
		if (base != "String" && base != "Number" && base != "Binary") || (hasCustom && custom == "") || len(v.DataType) > 256 {
			return invalidValue("The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", k)
		}
		switch base {
		case "String", "Number":
			if v.StringValue == "" {
				return invalidValue("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", k, v.DataType)
			}
			if !utf8.ValidString(v.StringValue) {
				return invalidValue("The message attribute '%s' must be UTF-8 text.", k)
			}
			if base == "Number" && !isSNSNumber(v.StringValue) {
				return invalidValue("Could not cast message attribute '%s' value to number.", k)
			}
			if v.DataType == "String.Array" && !isStringArray(v.StringValue) {
				return invalidValue("The message attribute '%s' with type 'String.Array' must be a JSON array of strings, numbers, booleans or nulls.", k)
			}
		case "Binary":
			if len(v.BinaryValue) == 0 {
				return invalidValue("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", k, v.DataType)
			}
		}
	}
	if size > maxMessage {
		return invalid("Invalid parameter: Message too long")
	}
	return nil
}

// isStringArray reports whether v is a String.Array value: a JSON array whose elements
// are strings, numbers, booleans or nulls.
func isStringArray(v string) bool {
	var a []any
	if err := json.Unmarshal([]byte(v), &a); err != nil || a == nil {
		return false
	}
	for _, e := range a {
		switch e.(type) {
		case string, float64, bool, nil:
		default:
			return false
		}
	}
	return true
}

// Publish publishes a message to a topic's confirmed subscriptions and returns its
// MessageId. Deliveries are recorded, then attempted in the background. A subscription
// whose filter policy the message does not pass gets no delivery (this is decided now:
// a later change of the policy does not affect recorded deliveries), and neither does
// it count as a failure.
func (s *Service) Publish(ctx context.Context, in PublishInput) (string, error) {
	id, _, err := s.publish(ctx, in)
	return id, err
}

// PublishAndWait is Publish, but waits (within ctx) for the first delivery attempt to
// every subscriber to finish; retries continue in the background. It is what alarm
// notifications use, so that the subscriber has been told when the alarm returns.
func (s *Service) PublishAndWait(ctx context.Context, in PublishInput) (string, error) {
	id, fl, err := s.publish(ctx, in)
	if err != nil {
		return id, err
	}
	for _, f := range fl {
		select {
		case <-f.first:
		case <-ctx.Done():
			return id, ctx.Err()
		}
	}
	return id, nil
}

func (s *Service) publish(ctx context.Context, in PublishInput) (string, []*flight, error) {
	if err := s.checkARN(in.TopicArn, "TopicArn"); err != nil {
		return "", nil, err
	}
	if err := checkPublish(in); err != nil {
		return "", nil, err
	}
	s.mu.RLock()
	t := s.topics[in.TopicArn]
	var subs []subRec
	for _, k := range slices.Sorted(maps.Keys(s.subs)) {
		if sub := s.subs[k]; sub.TopicArn == in.TopicArn && sub.Confirmed {
			subs = append(subs, *sub)
		}
	}
	s.mu.RUnlock()
	if t == nil {
		return "", nil, snsErr("NotFound", "Topic does not exist")
	}
	msgID, err := s.newID()
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	var attrs map[string]messageAttr
	if len(in.MessageAttributes) > 0 && !in.Structured {
		attrs = map[string]messageAttr{}
		for k, v := range in.MessageAttributes {
			base, _, _ := strings.Cut(v.DataType, ".")
			a := messageAttr{Type: v.DataType, Value: v.StringValue}
			if base == "Binary" {
				a.Value = base64.StdEncoding.EncodeToString(v.BinaryValue)
			}
			attrs[k] = a
		}
	}
	var ds []*deliveryRec
	msgs := map[string]*message{} // by body (filtering parses it once)
	for i := range subs {
		sub := &subs[i]
		body := in.messageFor(sub.Protocol)
		if msgs[body] == nil {
			msgs[body] = &message{attrs: in.MessageAttributes, body: body}
		}
		if !s.passesFilter(sub, msgs[body]) {
			continue
		}
		m := &Message{Type: TypeNotification, MessageID: msgID, TopicArn: in.TopicArn, Subject: in.Subject, Message: body,
			Timestamp: now.Format(tsFormat), MessageAttributes: attrs, SignatureVersion: t.sigVersion(),
			UnsubscribeURL: s.actionURL("Action", "Unsubscribe", "SubscriptionArn", sub.Arn)}
		d, err := s.newDelivery(sub, m, now)
		if err != nil {
			return "", nil, err
		}
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		return msgID, nil, nil
	}
	if _, err := s.propose(ctx, cmdPutDelivery, putDeliveryCmd{Deliveries: ds}); err != nil {
		return "", nil, err
	}
	var fl []*flight
	for _, d := range ds {
		if f := s.start(d); f != nil {
			fl = append(fl, f)
		}
	}
	return msgID, fl, nil
}

// passesFilter reports whether the message passes the subscription's filter policy (true
// without one). A policy that no longer compiles (it was checked when it was set) passes
// nothing.
func (s *Service) passesFilter(sub *subRec, m *message) bool {
	if sub.FilterPolicy == "" {
		return true
	}
	p, err := s.compiledPolicy(sub.FilterPolicy, sub.scope())
	if err != nil {
		s.cfg.Logger.Warn("sns: subscription filter policy does not compile; nothing is delivered to it", "subscription", sub.Arn, "err", err)
		return false
	}
	if !p.matches(m) {
		s.cfg.Logger.Debug("sns: message filtered out", "subscription", sub.Arn)
		return false
	}
	return true
}

// maxCachedPolicies bounds the compiled filter policies kept in memory.
const maxCachedPolicies = 256

func (s *Service) compiledPolicy(policy, scope string) (*filterPolicy, error) {
	key := scope + "\x00" + policy
	s.pmu.Lock()
	p := s.policies[key]
	s.pmu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := compileFilterPolicy(policy, scope)
	if err != nil {
		return nil, err
	}
	s.pmu.Lock()
	if s.policies == nil || len(s.policies) >= maxCachedPolicies {
		s.policies = map[string]*filterPolicy{}
	}
	s.policies[key] = p
	s.pmu.Unlock()
	return p, nil
}
