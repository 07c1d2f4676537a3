package sns

import (
	"net/url"
	"testing"
)

func TestRequestResource(t *testing.T) {
	e := newEnv(t, fast)
	topic := "arn:aws:sns:us-east-1:111122223333:alerts"
	cases := []struct {
		op     string
		params url.Values
		want   string
	}{
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}}, topic},
		{"Subscribe", url.Values{"TopicArn": {topic}}, topic},
		{"TagResource", url.Values{"ResourceArn": {topic}}, topic},
		{"CreateTopic", url.Values{"Name": {"alerts"}}, topic},
		{"CreateTopic", url.Values{"Name": {"bad name"}}, "*"},
		{"Publish", url.Values{"TopicArn": {"not-an-arn"}}, "*"},
		{"Publish", nil, "*"},
		{"Unsubscribe", url.Values{"SubscriptionArn": {topic + ":x"}}, "*"},
		{"ListTopics", nil, "*"},
	}
	for _, c := range cases {
		if got := e.sns.RequestResource(c.op, []byte(c.params.Encode())); got != c.want {
			t.Errorf("%s %v: got %s, want %s", c.op, c.params, got, c.want)
		}
	}
	if got := e.sns.RequestResource("Publish", []byte("%zz")); got != "*" {
		t.Fatal(got)
	}
}
