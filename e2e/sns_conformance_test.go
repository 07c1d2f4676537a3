package e2e

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// verifySNSMessage checks a delivered JSON message as AWS's subscriber libraries do: the
// canonical string of its fields in AWS's order, the certificate fetched from its
// SigningCertURL, RSA PKCS#1 v1.5 with SHA1 (SignatureVersion 1) or SHA256 (2). It
// returns the decoded message.
func verifySNSMessage(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if err := checkSNSSignature(m); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	return m
}

func checkSNSSignature(m map[string]any) error {
	keys := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var sb strings.Builder
	for _, k := range keys {
		if v, ok := m[k].(string); ok {
			sb.WriteString(k + "\n" + v + "\n")
		}
	}
	certURL, _ := m["SigningCertURL"].(string)
	res, err := http.Get(certURL)
	if err != nil {
		return fmt.Errorf("fetching the certificate: %w", err)
	}
	pemBytes, _ := io.ReadAll(res.Body)
	res.Body.Close()
	blk, _ := pem.Decode(pemBytes)
	if res.StatusCode != 200 || blk == nil {
		return fmt.Errorf("GET %s: %d %s", certURL, res.StatusCode, pemBytes)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(fmt.Sprint(m["Signature"]))
	if err != nil {
		return err
	}
	switch m["SignatureVersion"] {
	case "1":
		d := sha1.Sum([]byte(sb.String()))
		return rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA1, d[:], sig)
	case "2":
		d := sha256.Sum256([]byte(sb.String()))
		return rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sig)
	}
	return fmt.Errorf("SignatureVersion %v", m["SignatureVersion"])
}

// TestSNSSubscriberVerifiesSignatures: what an HTTP subscriber sees, checked as AWS's
// subscriber libraries check it, with Debian's AWS CLI (/usr/bin/aws) as the publisher of
// the first message (the topic, the subscription, the attribute changes and the later
// messages are signed query calls):
// AWS's headers and JSON fields, a signature over AWS's canonical string that verifies
// with the certificate fetched from SigningCertURL (SHA1withRSA, then SHA256withRSA after
// set-topic-attributes SignatureVersion 2), and a delivery resumed after a restart that
// names the same certificate (the node keeps its signing key) and still verifies.
func TestSNSSubscriberVerifiesSignatures(t *testing.T) {
	t.Parallel() // independent node
	s, root := debianCLINode(t)
	topic := struct{ TopicArn string }{sdkCreateTopic(t, s, root, "signed")}
	rcv := newSNSReceiver(t) // confirms through the SubscribeURL, as a real subscriber does
	subArn := sdkSNSSubscribe(t, s, root, topic.TopicArn, rcv.URL+"/hook")

	conf := rcv.requests()[0]
	m := verifySNSMessage(t, conf.Body)
	if m["Type"] != "SubscriptionConfirmation" || m["SignatureVersion"] != "1" || m["Token"] == "" || m["TopicArn"] != topic.TopicArn ||
		!strings.HasPrefix(fmt.Sprint(m["SubscribeURL"]), s.url+"/?Action=ConfirmSubscription&") ||
		conf.Header.Get("x-amz-sns-message-type") != "SubscriptionConfirmation" || conf.Header.Get("x-amz-sns-message-id") != m["MessageId"] ||
		conf.Header.Get("x-amz-sns-topic-arn") != topic.TopicArn || conf.Header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Fatalf("confirmation: %v %s", conf.Header, conf.Body)
	}
	certURL := fmt.Sprint(m["SigningCertURL"])
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(s.url) + `/sns/SimpleNotificationService-[0-9a-f]{32}\.pem$`).MatchString(certURL) {
		t.Fatalf("SigningCertURL %s", certURL)
	}

	publish := func(msg string) string {
		t.Helper()
		var out struct {
			MessageId string `xml:"PublishResult>MessageId"`
		}
		qOK(t, s, root, &out, "sns", "Publish", "TopicArn", topic.TopicArn, "Message", msg)
		return out.MessageId
	}
	notification := func(id string) (snsRequest, map[string]any) {
		t.Helper()
		var got *snsRequest
		waitFor(t, 20*time.Second, func() bool {
			for _, r := range rcv.notifications() {
				if r.Header.Get("x-amz-sns-message-id") == id {
					got = &r
					return true
				}
			}
			return false
		})
		return *got, verifySNSMessage(t, got.Body)
	}
	var first struct{ MessageId string }
	awsOK(t, s, root, &first, "sns", "publish", "--topic-arn", topic.TopicArn, "--message", `<deploy & "release">`, "--subject", "Deploy: 100% done",
		"--message-attributes", `{"team":{"DataType":"String","StringValue":"sec"},"level":{"DataType":"Number","StringValue":"3"}}`)
	id := first.MessageId
	r, n := notification(id)
	want := map[string]string{"X-Amz-Sns-Message-Type": "Notification", "X-Amz-Sns-Message-Id": id, "X-Amz-Sns-Topic-Arn": topic.TopicArn,
		"X-Amz-Sns-Subscription-Arn": subArn, "Content-Type": "text/plain; charset=UTF-8"}
	for k, v := range want {
		if r.Header.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, r.Header.Get(k), v)
		}
	}
	var keys []string
	dec := json.NewDecoder(strings.NewReader(r.Body))
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	if wantKeys := []string{"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
		"SigningCertURL", "UnsubscribeURL", "MessageAttributes"}; !slices.Equal(keys, wantKeys) {
		t.Fatalf("fields %q, want AWS's %q", keys, wantKeys)
	}
	attrs, _ := n["MessageAttributes"].(map[string]any)
	if n["Message"] != `<deploy & "release">` || n["Subject"] != "Deploy: 100% done" || n["SignatureVersion"] != "1" ||
		!regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(fmt.Sprint(n["Timestamp"])) ||
		fmt.Sprint(attrs["level"]) != "map[Type:Number Value:3]" || fmt.Sprint(attrs["team"]) != "map[Type:String Value:sec]" ||
		strings.Contains(r.Body, `\u0026`) || !strings.HasPrefix(fmt.Sprint(n["UnsubscribeURL"]), s.url+"/?Action=Unsubscribe&") {
		t.Fatalf("notification: %s", r.Body)
	}

	// SignatureVersion 2: SHA256withRSA, shown by GetTopicAttributes.
	qOK(t, s, root, nil, "sns", "SetTopicAttributes", "TopicArn", topic.TopicArn,
		"AttributeName", "SignatureVersion", "AttributeValue", "2")
	if ta := sdkTopicAttributes(t, s, root, topic.TopicArn); ta["SignatureVersion"] != "2" {
		t.Fatal(ta)
	}
	_, n = notification(publish("sha256"))
	if n["SignatureVersion"] != "2" {
		t.Fatalf("%v", n)
	}
	n["SignatureVersion"] = "1" // the same signature does not verify as SHA1
	if checkSNSSignature(n) == nil {
		t.Fatal("a SignatureVersion 2 signature verified as SHA1withRSA")
	}
	qFails(t, s, root, "InvalidParameter", "sns", "SetTopicAttributes", "TopicArn", topic.TopicArn,
		"AttributeName", "SignatureVersion", "AttributeValue", "3")

	// A delivery pending at a restart: its first attempt fails (503), the node stops
	// during the retry delay and starts again; it keeps its signing key, so the resumed
	// delivery names the same SigningCertURL a subscriber may have cached, and verifies.
	held := newHoldingReceiver(t)
	heldArn := sdkSNSSubscribeHeld(t, s, root, topic.TopicArn, held)
	held.failing.Store(true)
	id = publish("across a restart")
	waitFor(t, 20*time.Second, func() bool { return held.refused.Load() >= 1 })
	s.stop()
	held.failing.Store(false)
	s.restart()
	var resumed *snsRequest
	waitFor(t, 20*time.Second, func() bool {
		for _, r := range held.requests() {
			if r.Header.Get("x-amz-sns-message-id") == id {
				resumed = &r
				return true
			}
		}
		return false
	})
	n = verifySNSMessage(t, resumed.Body)
	// The restarted node listens on another port; the certificate's name is the key's.
	if n["Message"] != "across a restart" || path.Base(fmt.Sprint(n["SigningCertURL"])) != path.Base(certURL) || resumed.Header.Get("x-amz-sns-subscription-arn") != heldArn {
		t.Fatalf("resumed: %v %s", resumed.Header, resumed.Body)
	}
}

// sdkSNSSubscribeHeld subscribes a holding snsReceiver (queryCall: setup) and confirms it with
// the token it received.
func sdkSNSSubscribeHeld(t *testing.T, s *server, root awsCreds, topicArn string, rcv *snsReceiver) string {
	t.Helper()
	qOK(t, s, root, nil, "sns", "Subscribe", "TopicArn", topicArn, "Protocol", "http", "Endpoint", rcv.URL+"/held")
	var token string
	waitFor(t, 20*time.Second, func() bool {
		for _, r := range rcv.requests() {
			var m struct{ Type, Token string }
			if json.Unmarshal([]byte(r.Body), &m) == nil && m.Type == "SubscriptionConfirmation" {
				token = m.Token
				return true
			}
		}
		return false
	})
	var out struct {
		Arn string `xml:"ConfirmSubscriptionResult>SubscriptionArn"`
	}
	qOK(t, s, root, &out, "sns", "ConfirmSubscription", "TopicArn", topicArn, "Token", token)
	return out.Arn
}

// sdkTopicAttributes is GetTopicAttributes (queryCall) as a map.
func sdkTopicAttributes(t *testing.T, s *server, c awsCreds, topicArn string) map[string]string {
	t.Helper()
	var out struct {
		Entries []struct {
			Key   string `xml:"key"`
			Value string `xml:"value"`
		} `xml:"GetTopicAttributesResult>Attributes>entry"`
	}
	qOK(t, s, c, &out, "sns", "GetTopicAttributes", "TopicArn", topicArn)
	m := map[string]string{}
	for _, e := range out.Entries {
		m[e.Key] = e.Value
	}
	return m
}

// TestSNSConformanceCLI: the request checks and attributes that differed from AWS: AWS's
// default Policy in GetTopicAttributes, FifoTopic values, message attribute errors as
// ParameterValueInvalid with AWS's messages, MessageGroupId accepted on a standard topic
// and MessageDeduplicationId refused, MessageStructure=json delivering the http message
// without attributes, ConfirmSubscription with AuthenticateOnUnsubscribe
// (ConfirmationWasAuthenticated, the UnsubscribeURL refused), and the
// UnsubscribeConfirmation of Unsubscribe, whose SubscribeURL restores the subscription.
// What a CLI user types runs with Debian's AWS CLI (/usr/bin/aws): create-topic --attributes
// FifoTopic=false, a publish --message-attributes refused with AWS's message, and
// confirm-subscription --authenticate-on-unsubscribe; the other calls, which check the
// server's answers and state, are signed query calls.
func TestSNSConformanceCLI(t *testing.T) {
	t.Parallel() // independent node
	s, root := debianCLINode(t)
	var topic struct{ TopicArn string }
	awsOK(t, s, root, &topic, "sns", "create-topic", "--name", "conformance", "--attributes", "FifoTopic=false")
	ta := sdkTopicAttributes(t, s, root, topic.TopicArn)
	var pol struct {
		Statement []struct {
			Resource  string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(ta["Policy"]), &pol); err != nil || len(pol.Statement) != 1 ||
		pol.Statement[0].Resource != topic.TopicArn || pol.Statement[0].Condition["StringEquals"]["AWS:SourceOwner"] == "" {
		t.Fatalf("Policy: %v %q", err, ta["Policy"])
	}
	if _, ok := ta["SignatureVersion"]; ok || !strings.Contains(ta["EffectiveDeliveryPolicy"], `"backoffFunction":"linear"`) {
		t.Fatal(ta)
	}

	fails := func(code, msg, action string, params ...string) {
		t.Helper()
		if got := qFails(t, s, root, code, "sns", action, params...); !strings.Contains(got, msg) {
			t.Fatalf("%s %v: %q, want %q", action, params, got, msg)
		}
	}
	fails("InvalidParameter", "FifoTopic: Invalid value [maybe]", "CreateTopic", "Name", "f",
		"Attributes.entry.1.key", "FifoTopic", "Attributes.entry.1.value", "maybe")
	if _, errOut, ok := awsAs(t, s, root, "sns", "publish", "--topic-arn", topic.TopicArn, "--message", "m",
		"--message-attributes", `{"n":{"DataType":"Number","StringValue":"ten"}}`); ok ||
		!strings.Contains(errOut, "(ParameterValueInvalid)") || !strings.Contains(errOut, "Could not cast message attribute 'n' value to number.") {
		t.Fatalf("publish --message-attributes n=ten: ok=%v %s", ok, errOut)
	}
	pub := []string{"TopicArn", topic.TopicArn, "Message", "m"}
	attr := func(name, typ, value string) []string {
		return append(slices.Clone(pub), "MessageAttributes.entry.1.Name", name,
			"MessageAttributes.entry.1.Value.DataType", typ, "MessageAttributes.entry.1.Value.StringValue", value)
	}
	fails("ParameterValueInvalid", "Could not cast message attribute 'n' value to number.", "Publish", attr("n", "Number", "ten")...)
	fails("ParameterValueInvalid", "Invalid message attribute name starting with character '.' was found.", "Publish", attr(".n", "String", "v")...)
	fails("ParameterValueInvalid", "the set of supported type prefixes is Binary, Number, and String.", "Publish", attr("n", "Text", "v")...)
	fails("InvalidParameter", "The request includes MessageDeduplicationId parameter that is not valid for this topic type",
		"Publish", append(slices.Clone(pub), "MessageDeduplicationId", "d1")...)
	qOK(t, s, root, nil, "sns", "Publish", append(slices.Clone(pub), "MessageGroupId", "group-1")...)

	// A subscriber confirmed with a signed call and AuthenticateOnUnsubscribe.
	rcv := newHoldingReceiver(t)
	qOK(t, s, root, nil, "sns", "Subscribe", "TopicArn", topic.TopicArn, "Protocol", "http", "Endpoint", rcv.URL+"/h")
	waitFor(t, 20*time.Second, func() bool { return len(rcv.requests()) == 1 })
	var conf struct{ Token string }
	json.Unmarshal([]byte(rcv.requests()[0].Body), &conf)
	var sub struct{ SubscriptionArn string }
	awsOK(t, s, root, &sub, "sns", "confirm-subscription", "--topic-arn", topic.TopicArn, "--token", conf.Token,
		"--authenticate-on-unsubscribe", "true")
	if sa := sdkSubscriptionAttributes(t, s, root, sub.SubscriptionArn); sa["ConfirmationWasAuthenticated"] != "true" || sa["PendingConfirmation"] != "false" {
		t.Fatal(sa)
	}

	// MessageStructure=json: the http message, verifiable, without the attributes.
	var out struct {
		MessageId string `xml:"PublishResult>MessageId"`
	}
	qOK(t, s, root, &out, "sns", "Publish", "TopicArn", topic.TopicArn, "MessageStructure", "json",
		"Message", `{"default":"for all","http":"for http","email":"for email"}`,
		"MessageAttributes.entry.1.Name", "team", "MessageAttributes.entry.1.Value.DataType", "String",
		"MessageAttributes.entry.1.Value.StringValue", "sec")
	var got snsRequest
	waitFor(t, 20*time.Second, func() bool {
		for _, r := range rcv.requests() {
			if r.Header.Get("x-amz-sns-message-id") == out.MessageId {
				got = r
				return true
			}
		}
		return false
	})
	n := verifySNSMessage(t, got.Body)
	if n["Message"] != "for http" || n["MessageAttributes"] != nil {
		t.Fatalf("%s", got.Body)
	}

	// Its UnsubscribeURL is refused; the signed call works.
	res, err := http.Get(fmt.Sprint(n["UnsubscribeURL"]))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 403 || !strings.Contains(string(b), "<Code>AuthorizationError</Code>") {
		t.Fatalf("UnsubscribeURL: %d %s", res.StatusCode, b)
	}
	qOK(t, s, root, nil, "sns", "Unsubscribe", "SubscriptionArn", sub.SubscriptionArn)
	listSubs := func() []string {
		t.Helper()
		var list struct {
			Arns []string `xml:"ListSubscriptionsByTopicResult>Subscriptions>member>SubscriptionArn"`
		}
		qOK(t, s, root, &list, "sns", "ListSubscriptionsByTopic", "TopicArn", topic.TopicArn)
		return list.Arns
	}
	if list := listSubs(); len(list) != 0 {
		t.Fatal(list)
	}

	// The endpoint is told, as AWS tells it: a signed UnsubscribeConfirmation whose
	// SubscribeURL restores the subscription.
	var unsubNote snsRequest
	waitFor(t, 20*time.Second, func() bool {
		for _, r := range rcv.requests() {
			if r.Header.Get("x-amz-sns-message-type") == "UnsubscribeConfirmation" {
				unsubNote = r
				return true
			}
		}
		return false
	})
	n = verifySNSMessage(t, unsubNote.Body)
	if n["Type"] != "UnsubscribeConfirmation" || n["Token"] == "" || unsubNote.Header.Get("x-amz-sns-subscription-arn") != sub.SubscriptionArn ||
		fmt.Sprint(n["SubscribeURL"]) != s.url+"/?Action=ConfirmSubscription&TopicArn="+topic.TopicArn+"&Token="+fmt.Sprint(n["Token"]) {
		t.Fatalf("%v %s", unsubNote.Header, unsubNote.Body)
	}
	if ta := sdkTopicAttributes(t, s, root, topic.TopicArn); ta["SubscriptionsDeleted"] != "1" || ta["SubscriptionsConfirmed"] != "0" {
		t.Fatal(ta)
	}
	res, err = http.Get(fmt.Sprint(n["SubscribeURL"]))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if list := listSubs(); res.StatusCode != 200 || len(list) != 1 || list[0] != sub.SubscriptionArn {
		t.Fatalf("restore: %d %+v", res.StatusCode, list)
	}
}
