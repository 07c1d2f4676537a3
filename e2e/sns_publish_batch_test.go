package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// `aws sns publish-batch` (Debian's /usr/bin/aws): valid entries reach an HTTP subscriber,
// an invalid one is reported in Failed, and a user needs sns:Publish on the topic for it,
// as on AWS (there is no sns:PublishBatch action).
func TestSNSPublishBatch(t *testing.T) {
	t.Parallel()
	s, root := debianCLINode(t)
	rcv := newSNSReceiver(t)
	topic := sdkCreateTopic(t, s, root, "batch")
	sdkSNSSubscribe(t, s, root, topic, rcv.URL)

	var out struct {
		Successful []struct{ Id, MessageId string }
		Failed     []struct {
			Id, Code    string
			SenderFault bool
		}
	}
	awsOK(t, s, root, &out, "sns", "publish-batch", "--topic-arn", topic, "--publish-batch-request-entries",
		"Id=a,Message=hello,Subject=first", "Id=b,Message=world", "Id=c,Message=oops,MessageStructure=json")
	if len(out.Successful) != 2 || out.Successful[0].Id != "a" || out.Successful[1].Id != "b" ||
		len(out.Failed) != 1 || out.Failed[0].Id != "c" || out.Failed[0].Code != "InvalidParameter" || !out.Failed[0].SenderFault {
		t.Fatalf("publish-batch: %+v", out)
	}
	waitFor(t, 10*time.Second, func() bool { return len(rcv.notifications()) == 2 })
	got := map[string]string{}
	for _, r := range rcv.notifications() {
		var n struct{ MessageId, Message, Subject string }
		if err := json.Unmarshal([]byte(r.Body), &n); err != nil {
			t.Fatal(err)
		}
		got[n.MessageId] = n.Message + "/" + n.Subject
	}
	if got[out.Successful[0].MessageId] != "hello/first" || got[out.Successful[1].MessageId] != "world/" {
		t.Fatalf("delivered %v", got)
	}
	if _, errOut, ok := awsAs(t, s, root, "sns", "publish-batch", "--topic-arn", topic, "--publish-batch-request-entries",
		"Id=x,Message=1", "Id=x,Message=2"); ok || !strings.Contains(errOut, "BatchEntryIdsNotDistinct") {
		t.Fatalf("duplicate ids: %s", errOut)
	}

	// Authorized as sns:Publish on the topic.
	user, _ := sdkNewIAMUser(t, s, root, "publisher")
	batch := []string{"PublishBatchRequestEntries.member.1.Id", "a", "PublishBatchRequestEntries.member.1.Message", "m"}
	qDenied(t, s, user, "sns", "PublishBatch", append([]string{"TopicArn", topic}, batch...)...)
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "publisher", "PolicyName", "publish", "PolicyDocument",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:Publish","Resource":"`+topic+`"}]}`)
	qOK(t, s, user, nil, "sns", "PublishBatch", append([]string{"TopicArn", topic}, batch...)...)
	waitFor(t, 10*time.Second, func() bool { return len(rcv.notifications()) == 3 })
}
