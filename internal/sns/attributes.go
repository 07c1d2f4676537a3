package sns

import (
	"context"
	"maps"
	"slices"
	"strconv"
)

// Topic and subscription attributes that can be changed after creation, and topic tags.

// topicAttributeNames are the attribute names SetTopicAttributes knows (botocore's sns
// model, SetTopicAttributesInput.AttributeName). Only DisplayName is implemented; the
// others are refused with a reason rather than silently ignored.
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

type setTopicAttrCmd struct {
	Arn         string `json:"arn"`
	DisplayName string `json:"display_name"`
}

type tagTopicCmd struct {
	Arn    string            `json:"arn"`
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// SetTopicAttribute sets one attribute of a topic. Only DisplayName (at most 100
// characters; empty clears it) is supported.
func (s *Service) SetTopicAttribute(ctx context.Context, arn, name, value string) error {
	if err := s.checkARN(arn, "TopicArn"); err != nil {
		return err
	}
	if !slices.Contains(topicAttributeNames, name) {
		return invalid("Invalid parameter: AttributeName")
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
// RawMessageDelivery (always false) and EffectiveDeliveryPolicy.
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
	return map[string]string{
		"SubscriptionArn": sub.Arn, "TopicArn": sub.TopicArn, "Owner": sub.Owner, "Protocol": sub.Protocol,
		"Endpoint": sub.Endpoint, "PendingConfirmation": strconv.FormatBool(!sub.Confirmed),
		// Confirmations are made with the token, through the API or the SubscribeURL;
		// which one is not recorded, so neither is claimed to be authenticated.
		"ConfirmationWasAuthenticated": "false",
		"RawMessageDelivery":           "false",
		"EffectiveDeliveryPolicy":      s.effectiveDeliveryPolicy(),
	}, nil
}

// SetSubscriptionAttribute checks a SetSubscriptionAttributes request. The core
// delivers every message as an SNS JSON document with the topic's retry policy, so the
// only value it accepts is RawMessageDelivery=false (what it does already); other
// attributes are refused rather than ignored.
func (s *Service) SetSubscriptionAttribute(ctx context.Context, subArn, name, value string) error {
	if err := s.checkARN(subArn, "SubscriptionArn"); err != nil {
		return err
	}
	if !slices.Contains(subscriptionAttributeNames, name) {
		return invalid("Invalid parameter: AttributeName")
	}
	s.mu.RLock()
	exists := s.subs[subArn] != nil
	s.mu.RUnlock()
	if !exists {
		return snsErr("NotFound", "Subscription does not exist")
	}
	if name == "RawMessageDelivery" {
		switch value {
		case "false":
			return nil
		case "true":
			return invalid("Invalid parameter: RawMessageDelivery Reason: raw message delivery is not supported by Coffer")
		default:
			return invalid("Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [%s]. Must be true or false.", value)
		}
	}
	return invalid("Invalid parameter: AttributeName Reason: %s is not supported by Coffer", name)
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
	t.DisplayName = c.DisplayName
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
