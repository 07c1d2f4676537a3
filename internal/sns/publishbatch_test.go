package sns

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// PublishBatch publishes each valid entry (the subscriber gets them, with their subjects
// and attributes), reports invalid ones in Failed with Publish's code, and refuses a
// request that is wrong as a whole with AWS's batch errors.
func TestPublishBatch(t *testing.T) {
	e := newEnv(t, fast)
	e.mustCall("CreateTopic", url.Values{"Name": {"batch"}})
	topic := "arn:aws:sns:us-east-1:111122223333:batch"
	sub := newSubscriber(t, nil)
	e.mustCall("Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {sub.srv.URL + "/hook"}})
	waitFor(t, "confirmation", func() bool { return len(sub.received()) == 1 })
	e.mustCall("ConfirmSubscription", url.Values{"TopicArn": {topic}, "Token": {sub.received()[0].Token}})

	p := url.Values{"TopicArn": {topic}}
	entry := func(i int, kv ...string) {
		for j := 0; j < len(kv); j += 2 {
			p.Set("PublishBatchRequestEntries.member."+strconv.Itoa(i)+"."+kv[j], kv[j+1])
		}
	}
	entry(1, "Id", "first", "Message", "one", "Subject", "S1",
		"MessageAttributes.entry.1.Name", "level", "MessageAttributes.entry.1.Value.DataType", "String", "MessageAttributes.entry.1.Value.StringValue", "high")
	entry(2, "Id", "bad-structure", "Message", "not json", "MessageStructure", "json")
	entry(3, "Id", "third_3", "Message", `{"default":"three"}`, "MessageStructure", "json")
	entry(4, "Id", "fifo", "Message", "m", "MessageDeduplicationId", "d")
	out := e.mustCall("PublishBatch", p).(*PublishBatchResult)
	if len(out.Successful) != 2 || out.Successful[0].Id != "first" || out.Successful[1].Id != "third_3" || out.Successful[0].MessageId == "" ||
		len(out.Failed) != 2 || out.Failed[0].Id != "bad-structure" || out.Failed[0].Code != "InvalidParameter" || !out.Failed[0].SenderFault ||
		out.Failed[1].Id != "fifo" || out.Failed[1].Code != "InvalidParameter" {
		t.Fatalf("%+v", out)
	}
	x := resultXML(t, "PublishBatch", out)
	if !strings.HasPrefix(x, "<PublishBatchResult><Successful><member><Id>first</Id><MessageId>"+out.Successful[0].MessageId+"</MessageId></member>") ||
		!strings.Contains(x, "<Failed><member><Id>bad-structure</Id><Code>InvalidParameter</Code><Message>") ||
		!strings.Contains(x, "<SenderFault>true</SenderFault>") {
		t.Fatal(x)
	}
	waitFor(t, "two notifications", func() bool { return len(sub.received()) == 3 })
	got := map[string]Message{}
	for _, m := range sub.received()[1:] {
		got[m.MessageID] = m
	}
	m1, m3 := got[out.Successful[0].MessageId], got[out.Successful[1].MessageId]
	if m1.Message != "one" || m1.Subject != "S1" || m1.MessageAttributes["level"] != (messageAttr{Type: "String", Value: "high"}) || m3.Message != "three" {
		t.Fatalf("delivered %+v", got)
	}

	many := url.Values{"TopicArn": {topic}}
	for i := 1; i <= 11; i++ {
		many.Set("PublishBatchRequestEntries.member."+strconv.Itoa(i)+".Id", "m"+strconv.Itoa(i))
		many.Set("PublishBatchRequestEntries.member."+strconv.Itoa(i)+".Message", "x")
	}
	big := strings.Repeat("x", 130*1024)
	nearHalf := strings.Repeat("x", 125*1024)
	for _, c := range []struct {
		p    url.Values
		code string
	}{
		{url.Values{"TopicArn": {topic}}, "EmptyBatchRequest"},
		{many, "TooManyEntriesInBatchRequest"},
		{url.Values{"TopicArn": {topic}, "PublishBatchRequestEntries.member.1.Id": {"a b"}, "PublishBatchRequestEntries.member.1.Message": {"x"}}, "InvalidBatchEntryId"},
		{url.Values{"TopicArn": {topic}, "PublishBatchRequestEntries.member.1.Message": {"x"}}, "InvalidBatchEntryId"},
		{url.Values{"TopicArn": {topic}, "PublishBatchRequestEntries.member.1.Id": {"a"}, "PublishBatchRequestEntries.member.1.Message": {"x"},
			"PublishBatchRequestEntries.member.2.Id": {"a"}, "PublishBatchRequestEntries.member.2.Message": {"y"}}, "BatchEntryIdsNotDistinct"},
		{url.Values{"TopicArn": {topic}, "PublishBatchRequestEntries.member.1.Id": {"a"}, "PublishBatchRequestEntries.member.1.Message": {big},
			"PublishBatchRequestEntries.member.2.Id": {"b"}, "PublishBatchRequestEntries.member.2.Message": {big}}, "BatchRequestTooLong"},
		// Under 256 KiB of messages, over it with their attributes (which count, as in Publish).
		{url.Values{"TopicArn": {topic}, "PublishBatchRequestEntries.member.1.Id": {"a"}, "PublishBatchRequestEntries.member.1.Message": {nearHalf},
			"PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Name":              {"pad"},
			"PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.DataType":    {"String"},
			"PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.StringValue": {strings.Repeat("p", 8*1024)},
			"PublishBatchRequestEntries.member.2.Id":                                          {"b"}, "PublishBatchRequestEntries.member.2.Message": {nearHalf}}, "BatchRequestTooLong"},
		{url.Values{"TopicArn": {topic + "-missing"}, "PublishBatchRequestEntries.member.1.Id": {"a"}, "PublishBatchRequestEntries.member.1.Message": {"x"}}, "NotFound"},
		{url.Values{"TopicArn": {"not-an-arn"}, "PublishBatchRequestEntries.member.1.Id": {"a"}, "PublishBatchRequestEntries.member.1.Message": {"x"}}, "InvalidParameter"},
	} {
		_, err := e.call("PublishBatch", c.p)
		if ae := MapError(err); ae == nil || ae.Code != c.code {
			t.Errorf("%s: %v, want %s", c.code, err, c.code)
		}
	}
	if n := len(sub.received()); n != 3 {
		t.Fatalf("refused batches delivered: %d notifications", n)
	}
}

// FuzzPublishBatchParams: any PublishBatch body is read into 1-10 entries with valid,
// distinct Ids, or refused with one of SNS's errors; each entry's message is read or
// refused with InvalidParameter or ParameterValueInvalid; nothing panics.
func FuzzPublishBatchParams(f *testing.F) {
	f.Add("TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A111122223333%3At&PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.1.Message=m")
	f.Add("PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.1.Message=%7B%22default%22%3A%22x%22%7D&PublishBatchRequestEntries.member.1.MessageStructure=json" +
		"&PublishBatchRequestEntries.member.2.Id=b&PublishBatchRequestEntries.member.2.Message=m&PublishBatchRequestEntries.member.2.MessageAttributes.entry.1.Name=n" +
		"&PublishBatchRequestEntries.member.2.MessageAttributes.entry.1.Value.DataType=Number&PublishBatchRequestEntries.member.2.MessageAttributes.entry.1.Value.StringValue=1")
	f.Add("PublishBatchRequestEntries.member.2.Id=a")
	f.Add("PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.1.Id=b")
	f.Fuzz(func(t *testing.T, body string) {
		v, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		entries, err := batchEntries(v)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Status != 400 {
				t.Fatalf("%q: %v", body, err)
			}
			return
		}
		if len(entries) == 0 || len(entries) > maxBatchEntries {
			t.Fatalf("%d entries", len(entries))
		}
		seen := map[string]bool{}
		for _, e := range entries {
			id := e.Get("Id")
			if !validBatchID(id) || seen[id] {
				t.Fatalf("entry Id %q accepted", id)
			}
			seen[id] = true
			if _, err := publishMessage(e); err != nil {
				// Publish's own refusals: InvalidParameter, or ParameterValueInvalid for a
				// message attribute.
				if se, ok := err.(*Error); !ok || se.Status != 400 || (se.Code != "InvalidParameter" && se.Code != "ParameterValueInvalid") {
					t.Fatalf("entry %q: %v", id, err)
				}
			}
		}
	})
}
