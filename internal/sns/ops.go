package sns

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// Query-protocol layer (API version 2010-03-31, XML namespace
// http://sns.amazonaws.com/doc/2010-03-31/). Parameters are named as in botocore's sns
// model: maps are Name.entry.N.key / .value (Attributes) or Name.entry.N.Name /
// .Value.* (MessageAttributes), lists Name.member.N (Tags.member.N.Key / .Value).
// Unknown parameters are ignored, as AWS does; known parameters the core does not
// implement (FIFO, TargetArn, redrive policies...) are refused
// with InvalidParameter rather than silently ignored.

// Caller is the verified identity of a request. SNS is single-account: the service's
// topics all belong to Config.AccountID, and a caller of another account gets
// AuthorizationError (an empty Account is not checked). SNS is regional, as on AWS:
// Region (the region the request was signed for; "" = the node's region, Config.Region)
// is where CreateTopic makes its topic and what ListTopics and ListSubscriptions list,
// and an ARN parameter naming a topic or subscription of another region is refused as
// AWS's regional endpoints refuse it (see checkRegion).
type Caller struct {
	Region  string
	Account string
}

// Op is one SNS API operation: it decodes its form-encoded query-protocol request body
// and returns the result value (an XML-tagged struct encoded as the content of
// <{Action}Result>), nil for operations without a result element (DeleteTopic,
// Unsubscribe), or an error (an *Error, an *awsproto.Error, or mapped by MapError).
type Op func(s *Service, ctx context.Context, c Caller, body []byte) (any, error)

var snsOps = map[string]Op{
	"CreateTopic":               opCreateTopic,
	"ListTopics":                opListTopics,
	"DeleteTopic":               opDeleteTopic,
	"GetTopicAttributes":        opGetTopicAttributes,
	"Subscribe":                 opSubscribe,
	"ConfirmSubscription":       opConfirmSubscription,
	"ListSubscriptions":         opListSubscriptions,
	"ListSubscriptionsByTopic":  opListSubscriptionsByTopic,
	"Unsubscribe":               opUnsubscribe,
	"Publish":                   opPublish,
	"PublishBatch":              opPublishBatch,
	"SetTopicAttributes":        opSetTopicAttributes,
	"AddPermission":             opAddPermission,
	"RemovePermission":          opRemovePermission,
	"GetSubscriptionAttributes": opGetSubscriptionAttributes,
	"SetSubscriptionAttributes": opSetSubscriptionAttributes,
	"ListTagsForResource":       opListTagsForResource,
	"TagResource":               opTagResource,
	"UntagResource":             opUntagResource,
}

// Operations is the dispatch table of the SNS API (query protocol, version 2010-03-31).
func Operations() map[string]Op { return maps.Clone(snsOps) }

// MapError maps any error of the service to the protocol layer's error
// (awsproto.QueryService.MapError): an *Error keeps its code and status, an
// *awsproto.Error is returned as is, anything else is 500 InternalError.
func MapError(err error) *awsproto.Error {
	var e *Error
	if errors.As(err, &e) {
		return &awsproto.Error{Status: e.Status, Code: e.Code, Message: e.Message}
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &awsproto.Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: "Request timed out"}
	}
	return &awsproto.Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: "Internal error"}
}

// ---- results ----

// CreateTopicResult is the content of <CreateTopicResult>.
type CreateTopicResult struct {
	TopicArn string `xml:"TopicArn"`
}

// TopicMember is one <Topics><member>.
type TopicMember struct {
	TopicArn string `xml:"TopicArn"`
}

// TopicList is <Topics> (always present, as on AWS, so that SDKs see an empty list).
type TopicList struct {
	Member []TopicMember `xml:"member"`
}

// ListTopicsResult is the content of <ListTopicsResult>.
type ListTopicsResult struct {
	Topics    TopicList `xml:"Topics"`
	NextToken string    `xml:"NextToken,omitempty"`
}

// AttributeEntry is one <entry><key/><value/></entry> of a map.
type AttributeEntry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// AttributeMap is a map element (<Attributes>): its entries, sorted by key.
type AttributeMap struct {
	Entry []AttributeEntry `xml:"entry"`
}

// GetTopicAttributesResult is the content of <GetTopicAttributesResult>.
type GetTopicAttributesResult struct {
	Attributes AttributeMap `xml:"Attributes"`
}

// SubscribeResult is the content of <SubscribeResult>.
type SubscribeResult struct {
	SubscriptionArn string `xml:"SubscriptionArn"`
}

// ConfirmSubscriptionResult is the content of <ConfirmSubscriptionResult>.
type ConfirmSubscriptionResult struct {
	SubscriptionArn string `xml:"SubscriptionArn"`
}

// SubscriptionMember is one <Subscriptions><member>.
type SubscriptionMember struct {
	SubscriptionArn string `xml:"SubscriptionArn"`
	Owner           string `xml:"Owner"`
	Protocol        string `xml:"Protocol"`
	Endpoint        string `xml:"Endpoint"`
	TopicArn        string `xml:"TopicArn"`
}

// SubscriptionList is <Subscriptions> (always present).
type SubscriptionList struct {
	Member []SubscriptionMember `xml:"member"`
}

// ListSubscriptionsResult is the content of <ListSubscriptionsResult> and
// <ListSubscriptionsByTopicResult>.
type ListSubscriptionsResult struct {
	Subscriptions SubscriptionList `xml:"Subscriptions"`
	NextToken     string           `xml:"NextToken,omitempty"`
}

// PublishResult is the content of <PublishResult>.
type PublishResult struct {
	MessageId string `xml:"MessageId"`
}

// GetSubscriptionAttributesResult is the content of <GetSubscriptionAttributesResult>.
type GetSubscriptionAttributesResult struct {
	Attributes AttributeMap `xml:"Attributes"`
}

// TagMember is one <Tags><member>.
type TagMember struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// ListTagsForResourceResult is the content of <ListTagsForResourceResult> (<Tags> is
// always present).
type ListTagsForResourceResult struct {
	Tags struct {
		Member []TagMember `xml:"member"`
	} `xml:"Tags"`
}

// TagResourceResult and UntagResourceResult are the (empty) <TagResourceResult> and
// <UntagResourceResult>.
type (
	TagResourceResult   struct{}
	UntagResourceResult struct{}
)

func attributeMap(attrs map[string]string) AttributeMap {
	var m AttributeMap
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		m.Entry = append(m.Entry, AttributeEntry{Key: k, Value: attrs[k]})
	}
	return m
}

// ---- decoding helpers ----

// params parses the body strictly (awsproto.ParseQuery) and checks the caller's account.
func (s *Service) params(c Caller, body []byte) (url.Values, error) {
	if c.Account != "" && c.Account != s.cfg.AccountID {
		return nil, snsErr("AuthorizationError", "User of account %s is not authorized to access SNS resources of account %s", c.Account, s.cfg.AccountID)
	}
	return awsproto.ParseQuery(body)
}

// checkRegion refuses an ARN parameter (field: TopicArn, SubscriptionArn, ResourceArn)
// that names a resource of another region than the caller's, as AWS's regional
// endpoints do: 400 InvalidParameter "Invalid parameter: TopicArn" (the answer of a
// region's endpoint to Publish, Subscribe or ConfirmSubscription with another region's
// topic ARN), whether or not that topic exists. A caller without a region is not
// checked, and a malformed ARN is left to the operation, which refuses it with its own
// message. The service's Go methods (the links, CloudWatch's and CloudTrail's
// notifications) take full ARNs and are not regional.
func checkRegion(c Caller, arn, field string) error {
	if c.Region == "" || !strings.HasPrefix(arn, "arn:aws:sns:") || strings.Count(arn, ":") < 5 {
		return nil
	}
	if arnRegion(arn) != c.Region {
		return invalid("Invalid parameter: %s", field)
	}
	return nil
}

// paramsIn is params followed by checkRegion of the ARN parameter field.
func (s *Service) paramsIn(c Caller, body []byte, field string) (url.Values, error) {
	v, err := s.params(c, body)
	if err != nil {
		return nil, err
	}
	if err := checkRegion(c, v.Get(field), field); err != nil {
		return nil, err
	}
	return v, nil
}

// asInvalid turns a parameter-parsing error (ValidationError) into SNS's InvalidParameter.
func asInvalid(err error) error {
	var ae *awsproto.Error
	if errors.As(err, &ae) && ae.Status < 500 {
		return invalid("Invalid parameter: %s", ae.Message)
	}
	return err
}

func boolParam(v url.Values, name string) (bool, error) {
	switch s := strings.ToLower(v.Get(name)); s {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, invalid("Invalid parameter: %s", name)
	}
}

func refuseIfSet(v url.Values, reason string, names ...string) error {
	for _, n := range names {
		if v.Get(n) != "" {
			return invalid("Invalid parameter: %s Reason: %s", n, reason)
		}
	}
	return nil
}

func hasPrefixParam(v url.Values, prefix string) bool {
	for k := range v {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// messageAttributes decodes MessageAttributes.entry.N.Name / .Value.DataType /
// .Value.StringValue / .Value.BinaryValue (base64), N = 1, 2, ... contiguous.
func messageAttributes(v url.Values) (map[string]MessageAttributeValue, error) {
	var out map[string]MessageAttributeValue
	for i := 1; ; i++ {
		e := "MessageAttributes.entry." + strconv.Itoa(i)
		name, hasName := v[e+".Name"]
		if !hasName && !hasPrefixParam(v, e+".") {
			return out, nil
		}
		if !hasName || name[0] == "" {
			return nil, invalid("Invalid parameter: MessageAttributes: entry %d has no Name", i)
		}
		a := MessageAttributeValue{DataType: v.Get(e + ".Value.DataType"), StringValue: v.Get(e + ".Value.StringValue")}
		if a.DataType == "" {
			return nil, invalidValue("The message attribute '%s' must contain a non-empty message attribute type.", name[0])
		}
		if b := v.Get(e + ".Value.BinaryValue"); b != "" {
			raw, err := base64.StdEncoding.DecodeString(b)
			if err != nil {
				return nil, invalid("Invalid parameter: MessageAttributes: the BinaryValue of '%s' is not valid base64", name[0])
			}
			a.BinaryValue = raw
		}
		if out == nil {
			out = map[string]MessageAttributeValue{}
		}
		if _, dup := out[name[0]]; dup {
			return nil, invalid("Invalid parameter: MessageAttributes: duplicate name '%s'", name[0])
		}
		out[name[0]] = a
	}
}

// ---- operations ----

func opCreateTopic(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.params(c, body)
	if err != nil {
		return nil, err
	}
	if err := refuseIfSet(v, "Data protection policies are not supported", "DataProtectionPolicy"); err != nil {
		return nil, err
	}
	attrs, err := awsproto.QueryMap(v, "Attributes")
	if err != nil {
		return nil, asInvalid(err)
	}
	tagList, err := awsproto.QueryTags(v, "Tags")
	if err != nil {
		return nil, asInvalid(err)
	}
	var tags map[string]string
	for _, t := range tagList {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return nil, invalid("Invalid parameter: Tags Reason: invalid tag key or value")
		}
		if tags == nil {
			tags = map[string]string{}
		}
		if _, dup := tags[t.Key]; dup {
			return nil, invalid("Invalid parameter: Tags Reason: duplicate tag key %s", t.Key)
		}
		tags[t.Key] = t.Value
	}
	arn, err := s.CreateTopicIn(ctx, c.Region, v.Get("Name"), attrs, tags)
	if err != nil {
		return nil, err
	}
	return &CreateTopicResult{TopicArn: arn}, nil
}

func opListTopics(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.params(c, body)
	if err != nil {
		return nil, err
	}
	arns, next, err := s.ListTopicsIn(ctx, c.Region, v.Get("NextToken"))
	if err != nil {
		return nil, err
	}
	out := &ListTopicsResult{NextToken: next}
	for _, a := range arns {
		out.Topics.Member = append(out.Topics.Member, TopicMember{TopicArn: a})
	}
	return out, nil
}

func opDeleteTopic(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "TopicArn")
	if err != nil {
		return nil, err
	}
	return nil, s.DeleteTopic(ctx, v.Get("TopicArn"))
}

func opAddPermission(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "TopicArn")
	if err != nil {
		return nil, err
	}
	return nil, s.AddPermission(ctx, v.Get("TopicArn"), v.Get("Label"),
		awsproto.QueryList(v, "AWSAccountId"), awsproto.QueryList(v, "ActionName"))
}

func opRemovePermission(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "TopicArn")
	if err != nil {
		return nil, err
	}
	return nil, s.RemovePermission(ctx, v.Get("TopicArn"), v.Get("Label"))
}

func opGetTopicAttributes(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "TopicArn")
	if err != nil {
		return nil, err
	}
	attrs, err := s.GetTopicAttributes(ctx, v.Get("TopicArn"))
	if err != nil {
		return nil, err
	}
	return &GetTopicAttributesResult{Attributes: attributeMap(attrs)}, nil
}

func opSetTopicAttributes(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "TopicArn")
	if err != nil {
		return nil, err
	}
	return nil, s.SetTopicAttribute(ctx, v.Get("TopicArn"), v.Get("AttributeName"), v.Get("AttributeValue"))
}

func opGetSubscriptionAttributes(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "SubscriptionArn")
	if err != nil {
		return nil, err
	}
	attrs, err := s.GetSubscriptionAttributes(ctx, v.Get("SubscriptionArn"))
	if err != nil {
		return nil, err
	}
	return &GetSubscriptionAttributesResult{Attributes: attributeMap(attrs)}, nil
}

func opSetSubscriptionAttributes(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "SubscriptionArn")
	if err != nil {
		return nil, err
	}
	return nil, s.SetSubscriptionAttribute(ctx, v.Get("SubscriptionArn"), v.Get("AttributeName"), v.Get("AttributeValue"))
}

func opListTagsForResource(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "ResourceArn")
	if err != nil {
		return nil, err
	}
	tags, err := s.ListTopicTags(ctx, v.Get("ResourceArn"))
	if err != nil {
		return nil, err
	}
	out := &ListTagsForResourceResult{}
	for _, t := range tags {
		out.Tags.Member = append(out.Tags.Member, TagMember(t))
	}
	return out, nil
}

func opTagResource(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "ResourceArn")
	if err != nil {
		return nil, err
	}
	list, err := awsproto.QueryTags(v, "Tags")
	if err != nil {
		return nil, asInvalid(err)
	}
	tags := make([]Tag, 0, len(list))
	for _, t := range list {
		tags = append(tags, Tag{Key: t.Key, Value: t.Value})
	}
	if err := s.TagTopic(ctx, v.Get("ResourceArn"), tags); err != nil {
		return nil, err
	}
	return &TagResourceResult{}, nil
}

func opUntagResource(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "ResourceArn")
	if err != nil {
		return nil, err
	}
	if err := s.UntagTopic(ctx, v.Get("ResourceArn"), awsproto.QueryList(v, "TagKeys")); err != nil {
		return nil, err
	}
	return &UntagResourceResult{}, nil
}

func opSubscribe(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "TopicArn")
	if err != nil {
		return nil, err
	}
	attrs, err := awsproto.QueryMap(v, "Attributes")
	if err != nil {
		return nil, asInvalid(err)
	}
	ret, err := boolParam(v, "ReturnSubscriptionArn")
	if err != nil {
		return nil, err
	}
	out, err := s.Subscribe(ctx, v.Get("TopicArn"), v.Get("Protocol"), v.Get("Endpoint"), attrs, ret)
	if err != nil {
		return nil, err
	}
	return &SubscribeResult{SubscriptionArn: out.SubscriptionArn}, nil
}

func opConfirmSubscription(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "TopicArn")
	if err != nil {
		return nil, err
	}
	auth, err := boolParam(v, "AuthenticateOnUnsubscribe")
	if err != nil {
		return nil, err
	}
	// The request is signed (SigV4-verified): an authenticated confirmation.
	arn, err := s.ConfirmSubscriptionAuthenticated(ctx, v.Get("TopicArn"), v.Get("Token"), auth)
	if err != nil {
		return nil, err
	}
	return &ConfirmSubscriptionResult{SubscriptionArn: arn}, nil
}

func subscriptionsResult(subs []Subscription, next string) *ListSubscriptionsResult {
	out := &ListSubscriptionsResult{NextToken: next}
	for _, sub := range subs {
		out.Subscriptions.Member = append(out.Subscriptions.Member, SubscriptionMember(sub))
	}
	return out
}

func opListSubscriptions(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.params(c, body)
	if err != nil {
		return nil, err
	}
	subs, next, err := s.ListSubscriptionsIn(ctx, c.Region, v.Get("NextToken"))
	if err != nil {
		return nil, err
	}
	return subscriptionsResult(subs, next), nil
}

func opListSubscriptionsByTopic(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "TopicArn")
	if err != nil {
		return nil, err
	}
	subs, next, err := s.ListSubscriptionsByTopic(ctx, v.Get("TopicArn"), v.Get("NextToken"))
	if err != nil {
		return nil, err
	}
	return subscriptionsResult(subs, next), nil
}

func opUnsubscribe(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "SubscriptionArn")
	if err != nil {
		return nil, err
	}
	return nil, s.Unsubscribe(ctx, v.Get("SubscriptionArn"))
}

func opPublish(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.params(c, body)
	if err != nil {
		return nil, err
	}
	if err := refuseIfSet(v, "Only TopicArn is supported", "TargetArn", "PhoneNumber"); err != nil {
		return nil, err
	}
	if v.Get("TopicArn") == "" {
		return nil, invalid("Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
	}
	if err := checkRegion(c, v.Get("TopicArn"), "TopicArn"); err != nil {
		return nil, err
	}
	in, err := publishMessage(v)
	if err != nil {
		return nil, err
	}
	in.TopicArn = v.Get("TopicArn")
	id, err := s.Publish(ctx, in)
	if err != nil {
		return nil, err
	}
	return &PublishResult{MessageId: id}, nil
}

// publishMessage reads one message of Publish (or of a PublishBatch entry, its parameters
// without the entry's prefix): Message, Subject, MessageStructure, MessageAttributes,
// MessageGroupId (accepted on standard topics, as AWS does, which passes it only to SQS
// subscriptions: Coffer has none) and MessageDeduplicationId (FIFO topics only: refused).
func publishMessage(v url.Values) (PublishInput, error) {
	if v.Get("MessageDeduplicationId") != "" {
		return PublishInput{}, invalid("Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
	}
	if g, ok := v["MessageGroupId"]; ok && !validMessageGroupID(g[0]) {
		return PublishInput{}, invalid("Invalid parameter: MessageGroupId Reason: MessageGroupId can contain up to 128 alphanumeric characters (a-z, A-Z, 0-9) and punctuation")
	}
	in := PublishInput{Message: v.Get("Message"), Subject: v.Get("Subject")}
	switch v.Get("MessageStructure") {
	case "":
	case "json":
		if len(in.Message) > maxMessage {
			return PublishInput{}, invalid("Invalid parameter: Message too long")
		}
		def, perProtocol, err := jsonStructuredMessage(in.Message)
		if err != nil {
			return PublishInput{}, err
		}
		in.Message, in.ProtocolMessages, in.Structured = def, perProtocol, true
	default:
		return PublishInput{}, invalid("Invalid parameter: MessageStructure")
	}
	attrs, err := messageAttributes(v)
	if err != nil {
		return PublishInput{}, err
	}
	in.MessageAttributes = attrs
	return in, nil
}

// validMessageGroupID: 1-128 letters, digits and ASCII punctuation (Publish's
// MessageGroupId).
func validMessageGroupID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// PublishBatch's limits: AWS's.
const (
	maxBatchEntries = 10
	maxBatchIDLen   = 80
)

// PublishBatchResult is the content of <PublishBatchResult>.
type PublishBatchResult struct {
	Successful []BatchResultEntry      `xml:"Successful>member"`
	Failed     []BatchResultErrorEntry `xml:"Failed>member"`
}

// BatchResultEntry is a message PublishBatch published.
type BatchResultEntry struct {
	Id        string `xml:"Id"`
	MessageId string `xml:"MessageId"`
}

// BatchResultErrorEntry is a message PublishBatch refused.
type BatchResultErrorEntry struct {
	Id          string `xml:"Id"`
	Code        string `xml:"Code"`
	Message     string `xml:"Message"`
	SenderFault bool   `xml:"SenderFault"`
}

// opPublishBatch publishes up to ten messages to a topic, each on its own: an entry that
// is invalid is reported in Failed (with the code Publish would answer) and the others
// are published. A request that is wrong as a whole (no entries, more than ten, an Id
// that is not 1-80 letters, digits, - or _, two entries with one Id, more than 256 KiB of
// messages in all, an unknown topic) is refused with AWS's error.
func opPublishBatch(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	v, err := s.paramsIn(c, body, "TopicArn")
	if err != nil {
		return nil, err
	}
	topic := v.Get("TopicArn")
	if err := s.checkARN(topic, "TopicArn"); err != nil {
		return nil, err
	}
	entries, err := batchEntries(v)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	exists := s.topics[topic] != nil
	s.mu.RUnlock()
	if !exists {
		return nil, snsErr("NotFound", "Topic does not exist")
	}
	out := &PublishBatchResult{Successful: []BatchResultEntry{}, Failed: []BatchResultErrorEntry{}}
	for _, e := range entries {
		id := e.Get("Id")
		in, err := publishMessage(e)
		var msgID string
		if err == nil {
			in.TopicArn = topic
			msgID, err = s.Publish(ctx, in)
		}
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				return nil, err // not the entry's fault (e.g. the state store): the whole call fails
			}
			out.Failed = append(out.Failed, BatchResultErrorEntry{Id: id, Code: se.Code, Message: se.Message, SenderFault: se.Status < 500})
			continue
		}
		out.Successful = append(out.Successful, BatchResultEntry{Id: id, MessageId: msgID})
	}
	return out, nil
}

// batchEntries reads PublishBatch's entries (each entry's parameters without its
// prefix) and checks the request as a whole: 1 to 10 entries, valid and distinct Ids, at
// most 256 KiB of messages and their attributes in all.
func batchEntries(v url.Values) ([]url.Values, error) {
	var entries []url.Values
	for i := 1; ; i++ {
		prefix := "PublishBatchRequestEntries.member." + strconv.Itoa(i) + "."
		if !hasPrefixParam(v, prefix) {
			break
		}
		if len(entries) == maxBatchEntries {
			return nil, snsErr("TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible.")
		}
		e := url.Values{}
		for k, vals := range v {
			if rest, ok := strings.CutPrefix(k, prefix); ok {
				e[rest] = vals
			}
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, snsErr("EmptyBatchRequest", "The batch request doesn't contain any entries.")
	}
	seen := map[string]bool{}
	total := 0
	for _, e := range entries {
		id := e.Get("Id")
		if !validBatchID(id) {
			return nil, snsErr("InvalidBatchEntryId", "The Id of a batch entry in a batch request doesn't abide by the specification: 1 to %d letters, digits, hyphens and underscores.", maxBatchIDLen)
		}
		if seen[id] {
			return nil, snsErr("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
		}
		seen[id] = true
		total += batchEntrySize(e)
	}
	if total > maxMessage {
		return nil, snsErr("BatchRequestTooLong", "The length of all the batch messages put together is more than the limit of %d bytes.", maxMessage)
	}
	return entries, nil
}

// batchEntrySize is what an entry counts toward PublishBatch's 256 KiB: its message
// and, as in Publish, every part of its message attributes (name, type and value; a
// binary value decoded).
func batchEntrySize(e url.Values) int {
	n := len(e.Get("Message"))
	for k, vals := range e {
		rest, ok := strings.CutPrefix(k, "MessageAttributes.entry.")
		if !ok || len(vals) == 0 {
			continue
		}
		switch {
		case strings.HasSuffix(rest, ".Name"), strings.HasSuffix(rest, ".Value.DataType"), strings.HasSuffix(rest, ".Value.StringValue"):
			n += len(vals[0])
		case strings.HasSuffix(rest, ".Value.BinaryValue"):
			n += base64.StdEncoding.DecodedLen(len(vals[0]))
		}
	}
	return n
}

// validBatchID: a PublishBatch entry Id (1-80 alphanumerics, hyphens and underscores).
func validBatchID(id string) bool {
	if id == "" || len(id) > maxBatchIDLen {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// structuredProtocols are the keys of a MessageStructure=json message that Coffer's
// subscriptions use; the keys of other protocols are ignored, as AWS ignores keys that are
// no protocol.
var structuredProtocols = []string{"http", "https"}

// jsonStructuredMessage reads the message of MessageStructure=json: a JSON object with a
// "default" string member (the message of the protocols without their own), and the
// messages of the http and https subscriptions when it has them. As AWS documents: a key
// whose value is not a string is ignored (but "default" must be a string), and duplicate
// keys are refused.
func jsonStructuredMessage(msg string) (def string, perProtocol map[string]string, err error) {
	parseErr := invalid("Invalid parameter: Message Structure - JSON message body failed to parse")
	dec := json.NewDecoder(strings.NewReader(msg))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", nil, parseErr
	}
	seen := map[string]bool{}
	hasDefault := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", nil, parseErr
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", nil, parseErr
		}
		if seen[key] {
			return "", nil, invalid("Invalid parameter: Message Structure - Duplicate key %s in JSON message body", key)
		}
		seen[key] = true
		var str string
		isStr := json.Unmarshal(raw, &str) == nil && len(raw) > 0 && raw[0] == '"'
		switch {
		case key == "default":
			if !isStr {
				return "", nil, invalid("Invalid parameter: Message Structure - No default entry in JSON message body")
			}
			def, hasDefault = str, true
		case isStr && slices.Contains(structuredProtocols, key):
			if perProtocol == nil {
				perProtocol = map[string]string{}
			}
			perProtocol[key] = str
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return "", nil, parseErr
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", nil, parseErr
	}
	if !hasDefault {
		return "", nil, invalid("Invalid parameter: Message Structure - No default entry in JSON message body")
	}
	return def, perProtocol, nil
}
