package sns

import (
	"net/url"
	"strings"
)

// RequestResource returns the resource ARN an SNS request acts on, for the identity
// decision that authorizes it (action sns:<op>): the topic of the topic operations
// (TopicArn, ResourceArn for tags, the topic named by CreateTopic's Name), "*" for the
// others (ListTopics, ListSubscriptions, and the subscription operations, which AWS's
// Service Authorization Reference gives no resource type), and for requests that do not
// parse. body is the form-encoded request.
//
// Authorizing with "*" instead makes statements scoped to a topic ARN match nothing:
// their Allow never applies and, worse, neither does their Deny.
func (s *Service) RequestResource(op string, body []byte) string {
	return s.RequestResourceIn(op, "", body)
}

// RequestResourceIn is RequestResource for a request signed for region ("" = the node's
// region): the topic CreateTopic names is the one of that name in that region.
func (s *Service) RequestResourceIn(op, region string, body []byte) string {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return "*"
	}
	arn := ""
	switch op {
	case "DeleteTopic", "GetTopicAttributes", "SetTopicAttributes", "Subscribe", "ConfirmSubscription",
		"ListSubscriptionsByTopic", "Publish", "PublishBatch", "AddPermission", "RemovePermission":
		arn = v.Get("TopicArn")
	case "ListTagsForResource", "TagResource", "UntagResource":
		arn = v.Get("ResourceArn")
	case "CreateTopic":
		if n := v.Get("Name"); topicName.MatchString(n) {
			arn = s.topicARN(region, n)
		}
	}
	if arn == "" || !strings.HasPrefix(arn, "arn:") {
		return "*"
	}
	return arn
}
