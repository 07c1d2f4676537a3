package sns

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Topic and subscription attributes that can be changed after creation, and topic tags.

// topicAttributeNames are the attribute names SetTopicAttributes knows (botocore's sns
// model, SetTopicAttributesInput.AttributeName). DisplayName, DeliveryPolicy, Policy and
// SignatureVersion are implemented; the others are refused with a reason rather than
// silently ignored.
var topicAttributeNames = []string{
	"ApplicationFailureFeedbackRoleArn", "ApplicationSuccessFeedbackRoleArn", "ApplicationSuccessFeedbackSampleRate",
	"ArchivePolicy", "ContentBasedDeduplication", "DeliveryPolicy", "DisplayName", "FifoThroughputScope",
	"FirehoseFailureFeedbackRoleArn", "FirehoseSuccessFeedbackRoleArn", "FirehoseSuccessFeedbackSampleRate",
	"HTTPFailureFeedbackRoleArn", "HTTPSuccessFeedbackRoleArn", "HTTPSuccessFeedbackSampleRate",
	"KmsMasterKeyId", "LambdaFailureFeedbackRoleArn", "LambdaSuccessFeedbackRoleArn", "LambdaSuccessFeedbackSampleRate",
	"Policy", "SQSFailureFeedbackRoleArn", "SQSSuccessFeedbackRoleArn", "SQSSuccessFeedbackSampleRate",
	"SignatureVersion", "TracingConfig",
}

// subscriptionAttributeNames are the attribute names SetSubscriptionAttributes knows.
var subscriptionAttributeNames = []string{
	"DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy", "ReplayPolicy", "SubscriptionRoleArn",
}

const maxTopicTags = 50

// setTopicAttrCmd sets one topic attribute. Entries written before DeliveryPolicy was
// settable have no name: they set DisplayName (display_name), which is still how a
// DisplayName change is written.
type setTopicAttrCmd struct {
	Arn         string `json:"arn"`
	DisplayName string `json:"display_name"`
	Name        string `json:"name,omitempty"`  // "" = DisplayName; or "DeliveryPolicy"
	Value       string `json:"value,omitempty"` // the value of Name when it is not ""
}

type tagTopicCmd struct {
	Arn    string            `json:"arn"`
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// SetTopicAttribute sets one attribute of a topic: DisplayName (at most 100 characters;
// empty clears it), DeliveryPolicy (an HTTP/S delivery policy; empty removes it), Policy
// (its access policy, see policy.go) or
// SignatureVersion (1: SHA1withRSA, 2: SHA256withRSA, for the messages published from
// then on).
func (s *Service) SetTopicAttribute(ctx context.Context, arn, name, value string) error {
	if err := s.checkARN(arn, "TopicArn"); err != nil {
		return err
	}
	if !slices.Contains(topicAttributeNames, name) {
		return invalid("Invalid parameter: AttributeName")
	}
	if name == "DeliveryPolicy" {
		norm, _, err := parseTopicDeliveryPolicy(value, setAttrPrefix)
		if err != nil {
			return err
		}
		_, err = s.propose(ctx, cmdSetTopicAttr, setTopicAttrCmd{Arn: arn, Name: name, Value: norm})
		return err
	}
	if name == "Policy" {
		if _, err := checkTopicPolicy(value); err != nil {
			return err
		}
		if err := s.topicExists(arn); err != nil {
			return err
		}
		_, err := s.propose(ctx, cmdSetTopicPolicy, setPolicyCmd{Arn: arn, Policy: value})
		return err
	}
	if name == "SignatureVersion" {
		if err := checkSignatureVersion(value, setAttrPrefix); err != nil {
			return err
		}
		_, err := s.propose(ctx, cmdSetTopicAttr, setTopicAttrCmd{Arn: arn, Name: name, Value: value})
		return err
	}
	if name != "DisplayName" {
		return invalid("Invalid parameter: AttributeName Reason: %s is not supported by Coffer", name)
	}
	if len(value) > 100 {
		return invalid("Invalid parameter: DisplayName")
	}
	_, err := s.propose(ctx, cmdSetTopicAttr, setTopicAttrCmd{Arn: arn, DisplayName: value})
	return err
}

// GetSubscriptionAttributes returns a subscription's attributes: SubscriptionArn,
// TopicArn, Owner, Protocol, Endpoint, PendingConfirmation, ConfirmationWasAuthenticated,
// RawMessageDelivery, EffectiveDeliveryPolicy (the merge of the topic's and the
// subscription's delivery policies), DeliveryPolicy when the subscription has one and,
// when it has a filter policy, FilterPolicy and FilterPolicyScope (as AWS, which shows
// the scope only then).
func (s *Service) GetSubscriptionAttributes(ctx context.Context, subArn string) (map[string]string, error) {
	if err := s.checkARN(subArn, "SubscriptionArn"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sub := s.subs[subArn]
	if sub == nil {
		return nil, snsErr("NotFound", "Subscription does not exist")
	}
	attrs := map[string]string{
		"SubscriptionArn": sub.Arn, "TopicArn": sub.TopicArn, "Owner": sub.Owner, "Protocol": sub.Protocol,
		"Endpoint": sub.Endpoint, "PendingConfirmation": strconv.FormatBool(!sub.Confirmed),
		// True when a signed ConfirmSubscription call confirmed it (not the SubscribeURL).
		"ConfirmationWasAuthenticated": strconv.FormatBool(sub.ConfirmationAuthenticated),
		"RawMessageDelivery":           strconv.FormatBool(sub.RawMessageDelivery),
		"EffectiveDeliveryPolicy":      s.subEffectiveJSON(s.topics[sub.TopicArn], sub),
	}
	if sub.DeliveryPolicy != "" {
		attrs["DeliveryPolicy"] = sub.DeliveryPolicy
	}
	if sub.FilterPolicy != "" {
		attrs["FilterPolicy"] = sub.FilterPolicy
		attrs["FilterPolicyScope"] = sub.scope()
	}
	return attrs, nil
}

// Error prefixes of subscription attribute values: Subscribe's Attributes, and
// SetSubscriptionAttributes (as AWS words them).
const (
	subscribeAttrPrefix = "Invalid parameter: Attributes Reason: "
	setAttrPrefix       = "Invalid parameter: "
)

// checkSignatureVersion checks a topic's SignatureVersion: 1 or 2.
func checkSignatureVersion(v, prefix string) error {
	if v != "1" && v != "2" {
		return invalid("%sSignatureVersion: Invalid value [%s]. Must be 1 or 2.", prefix, v)
	}
	return nil
}

func parseRawMessageDelivery(v, prefix string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid("%sRawMessageDelivery: Invalid value [%s]. Must be true or false.", prefix, v)
}

func checkFilterPolicyScope(v, prefix string) error {
	if v != ScopeMessageAttributes && v != ScopeMessageBody {
		return invalid("%sFilterPolicyScope: Invalid value [%s]. Please use either MessageBody or MessageAttributes", prefix, v)
	}
	return nil
}

// checkFilterPolicy validates a FilterPolicy value for a scope ("" removes the policy).
func checkFilterPolicy(policy, scope, prefix string) error {
	if policy == "" {
		return nil
	}
	if _, err := compileFilterPolicy(policy, scope); err != nil {
		return invalid("%s%s", prefix, err.Error())
	}
	return nil
}

// subscribeAttrs are the attributes given to Subscribe (nil: not given).
type subscribeAttrs struct {
	raw      *bool
	policy   *string
	scope    *string
	delivery *string // normalized
}

// parseSubscribeAttrs checks Subscribe's Attributes. The filter policy is checked against
// the scope the subscription will have: the one given with it, else the scope of the
// subscription being subscribed again (cur, may be nil), else MessageAttributes. Only
// RawMessageDelivery, FilterPolicy, FilterPolicyScope and DeliveryPolicy are supported;
// the other attributes AWS knows are refused.
func parseSubscribeAttrs(attrs map[string]string, cur *subRec) (subscribeAttrs, error) {
	var a subscribeAttrs
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		v := attrs[k]
		switch k {
		case "RawMessageDelivery":
			raw, err := parseRawMessageDelivery(v, subscribeAttrPrefix)
			if err != nil {
				return a, err
			}
			a.raw = &raw
		case "FilterPolicyScope":
			if err := checkFilterPolicyScope(v, subscribeAttrPrefix); err != nil {
				return a, err
			}
			a.scope = &v
		case "FilterPolicy":
			a.policy = &v
		case "DeliveryPolicy":
			norm, _, err := parseSubDeliveryPolicy(v, subscribeAttrPrefix)
			if err != nil {
				return a, err
			}
			a.delivery = &norm
		default:
			if !slices.Contains(subscriptionAttributeNames, k) {
				return a, invalid("%sUnknown attribute %s", subscribeAttrPrefix, k)
			}
			return a, invalid("%s%s is not supported by Coffer", subscribeAttrPrefix, k)
		}
	}
	if a.policy != nil || a.scope != nil {
		// The policy and scope the subscription will have must suit each other.
		var sub subRec
		if cur != nil {
			sub = *cur
		}
		a.set(&sub)
		if err := checkFilterPolicy(sub.FilterPolicy, sub.scope(), subscribeAttrPrefix); err != nil {
			return a, err
		}
	}
	return a, nil
}

// differ reports whether a given attribute differs from the subscription's.
func (a subscribeAttrs) differ(sub *subRec) bool {
	return (a.raw != nil && *a.raw != sub.RawMessageDelivery) ||
		(a.policy != nil && *a.policy != sub.FilterPolicy) ||
		(a.scope != nil && *a.scope != sub.scope()) ||
		(a.delivery != nil && *a.delivery != sub.DeliveryPolicy)
}

// set sets the given attributes on sub.
func (a subscribeAttrs) set(sub *subRec) {
	if a.raw != nil {
		sub.RawMessageDelivery = *a.raw
	}
	if a.policy != nil {
		sub.FilterPolicy = *a.policy
	}
	if a.scope != nil {
		sub.FilterPolicyScope = *a.scope
	}
	if a.delivery != nil {
		sub.DeliveryPolicy = *a.delivery
	}
}

type setSubAttrCmd struct {
	Arn   string `json:"arn"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SetSubscriptionAttribute sets one attribute of a subscription: RawMessageDelivery
// (true or false), FilterPolicy (a filter policy for the subscription's scope; empty
// removes it) or FilterPolicyScope (MessageAttributes or MessageBody; the policy must
// suit it) or DeliveryPolicy (an HTTP/S delivery policy; empty removes it).
// RedrivePolicy, ReplayPolicy and SubscriptionRoleArn are refused rather than ignored.
func (s *Service) SetSubscriptionAttribute(ctx context.Context, subArn, name, value string) error {
	if err := s.checkARN(subArn, "SubscriptionArn"); err != nil {
		return err
	}
	if !slices.Contains(subscriptionAttributeNames, name) {
		return invalid("Invalid parameter: AttributeName")
	}
	s.mu.RLock()
	var sub subRec
	cur := s.subs[subArn]
	if cur != nil {
		sub = *cur
	}
	s.mu.RUnlock()
	if cur == nil {
		return snsErr("NotFound", "Subscription does not exist")
	}
	switch name {
	case "RawMessageDelivery":
		raw, err := parseRawMessageDelivery(value, setAttrPrefix)
		if err != nil {
			return err
		}
		value = strconv.FormatBool(raw)
	case "FilterPolicy":
		if err := checkFilterPolicy(value, sub.scope(), setAttrPrefix); err != nil {
			return err
		}
	case "FilterPolicyScope":
		if err := checkFilterPolicyScope(value, setAttrPrefix); err != nil {
			return err
		}
		if err := checkFilterPolicy(sub.FilterPolicy, value, setAttrPrefix); err != nil {
			return err
		}
	case "DeliveryPolicy":
		norm, _, err := parseSubDeliveryPolicy(value, setAttrPrefix)
		if err != nil {
			return err
		}
		value = norm
	default:
		return invalid("Invalid parameter: AttributeName Reason: %s is not supported by Coffer", name)
	}
	_, err := s.propose(ctx, cmdSetSubAttr, setSubAttrCmd{Arn: subArn, Name: name, Value: value})
	return err
}

// applySetSubAttr runs under s.mu (Apply). The values were checked by the proposer; what
// is checked here is what a concurrent change could break: a nested policy must not end
// up in the MessageAttributes scope.
func (s *Service) applySetSubAttr(c setSubAttrCmd) (any, error) {
	old := s.subs[c.Arn]
	if old == nil {
		return nil, snsErr("NotFound", "Subscription does not exist")
	}
	sub := *old
	switch c.Name {
	case "RawMessageDelivery":
		sub.RawMessageDelivery = c.Value == "true"
	case "FilterPolicy":
		sub.FilterPolicy = c.Value
	case "FilterPolicyScope":
		sub.FilterPolicyScope = c.Value
	case "DeliveryPolicy":
		sub.DeliveryPolicy = c.Value
	default:
		return nil, fmt.Errorf("sns: bad %s: attribute %q", cmdSetSubAttr, c.Name)
	}
	if sub.scope() == ScopeMessageAttributes && policyIsNested(sub.FilterPolicy) {
		return nil, invalid("Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy")
	}
	s.subs[c.Arn] = &sub
	return nil, nil
}

// Tag is a topic tag.
type Tag struct {
	Key, Value string
}

func (s *Service) checkTopicResource(arn string) error {
	if arn == "" || len(arn) > 1011 {
		return invalid("Invalid parameter: ResourceArn")
	}
	if err := s.checkARN(arn, "ResourceArn"); err != nil {
		return err
	}
	s.mu.RLock()
	ok := s.topics[arn] != nil
	s.mu.RUnlock()
	if !ok {
		return snsErr("ResourceNotFound", "Resource does not exist")
	}
	return nil
}

func checkTag(k, v string) error {
	if k == "" || len(k) > 128 || len(v) > 256 {
		return invalid("Invalid parameter: Tags Reason: invalid tag key or value")
	}
	return nil
}

// ListTopicTags returns a topic's tags, sorted by key.
func (s *Service) ListTopicTags(ctx context.Context, arn string) ([]Tag, error) {
	if err := s.checkTopicResource(arn); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.topics[arn]
	if t == nil {
		return nil, snsErr("ResourceNotFound", "Resource does not exist")
	}
	out := []Tag{}
	for _, k := range slices.Sorted(maps.Keys(t.Tags)) {
		out = append(out, Tag{Key: k, Value: t.Tags[k]})
	}
	return out, nil
}

// TagTopic adds or overwrites tags of a topic (at most 50 in all).
func (s *Service) TagTopic(ctx context.Context, arn string, tags []Tag) error {
	if err := s.checkTopicResource(arn); err != nil {
		return err
	}
	if len(tags) == 0 {
		return invalid("Invalid parameter: Tags")
	}
	set := map[string]string{}
	for _, t := range tags {
		if err := checkTag(t.Key, t.Value); err != nil {
			return err
		}
		set[t.Key] = t.Value
	}
	_, err := s.propose(ctx, cmdTagTopic, tagTopicCmd{Arn: arn, Set: set})
	return err
}

// UntagTopic removes tags of a topic (keys it does not have are ignored).
func (s *Service) UntagTopic(ctx context.Context, arn string, keys []string) error {
	if err := s.checkTopicResource(arn); err != nil {
		return err
	}
	if len(keys) == 0 {
		return invalid("Invalid parameter: TagKeys")
	}
	for _, k := range keys {
		if k == "" || len(k) > 128 {
			return invalid("Invalid parameter: TagKeys Reason: invalid tag key")
		}
	}
	_, err := s.propose(ctx, cmdTagTopic, tagTopicCmd{Arn: arn, Remove: keys})
	return err
}

// applySetTopicAttr and applyTagTopic run under s.mu (Apply). Records are replaced,
// never modified in place, as readers may hold copies of the pointers' values.
func (s *Service) applySetTopicAttr(c setTopicAttrCmd) (any, error) {
	old := s.topics[c.Arn]
	if old == nil {
		return nil, snsErr("NotFound", "Topic does not exist")
	}
	t := *old
	switch c.Name {
	case "":
		t.DisplayName = c.DisplayName
	case "DeliveryPolicy":
		t.DeliveryPolicy = c.Value
	case "SignatureVersion":
		t.SignatureVersion = c.Value
	default:
		return nil, fmt.Errorf("sns: bad %s: attribute %q", cmdSetTopicAttr, c.Name)
	}
	s.topics[c.Arn] = &t
	return nil, nil
}

func (s *Service) applyTagTopic(c tagTopicCmd) (any, error) {
	old := s.topics[c.Arn]
	if old == nil {
		return nil, snsErr("ResourceNotFound", "Resource does not exist")
	}
	tags := maps.Clone(old.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	maps.Copy(tags, c.Set)
	for _, k := range c.Remove {
		delete(tags, k)
	}
	if len(tags) > maxTopicTags {
		return nil, snsErr("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
	}
	t := *old
	t.Tags = tags
	if len(tags) == 0 {
		t.Tags = nil
	}
	s.topics[c.Arn] = &t
	return nil, nil
}
