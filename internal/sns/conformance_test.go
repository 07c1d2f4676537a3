package sns

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// subscriberVerify verifies a delivered JSON message as AWS's subscriber libraries do,
// independently of the package's own code: it builds the canonical string from the
// message's fields (AWS's documented order), fetches the certificate at SigningCertURL
// (from the service's handler), and checks the RSA PKCS#1 v1.5 signature with SHA1
// (SignatureVersion 1) or SHA256 (SignatureVersion 2).
func subscriberVerify(t *testing.T, s *Service, body string) error {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
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
	u, err := url.Parse(m["SigningCertURL"].(string))
	if err != nil {
		t.Fatal(err)
	}
	rec := serve(s.HTTPHandler(), http.MethodGet, u.Path)
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d", u.Path, rec.Code)
	}
	blk, _ := pem.Decode(rec.Body.Bytes())
	if blk == nil {
		t.Fatalf("no PEM at %s", u.Path)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(m["Signature"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var h crypto.Hash
	var sum []byte
	switch m["SignatureVersion"] {
	case "1":
		d := sha1.Sum([]byte(sb.String()))
		h, sum = crypto.SHA1, d[:]
	case "2":
		d := sha256.Sum256([]byte(sb.String()))
		h, sum = crypto.SHA256, d[:]
	default:
		t.Fatalf("SignatureVersion %v", m["SignatureVersion"])
	}
	return rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), h, sum, sig)
}

// The topic's SignatureVersion: 1 (SHA1withRSA) by default and absent from the
// attributes until set; 2 signs with SHA256withRSA; other values are refused. Messages
// are verifiable by a subscriber with the certificate at SigningCertURL, and are encoded
// without Go's HTML escaping (the signature is over the characters as they are).
func TestSignatureVersions(t *testing.T) {
	e := newEnv(t, fast)
	topic, err := e.sns.CreateTopic(e.ctx, "signed", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(t, nil)
	e.subscribeConfirmed(topic, sub)
	if err := subscriberVerify(t, e.sns, sub.body(0)); err != nil {
		t.Fatal("confirmation:", err)
	}
	if a, _ := e.sns.GetTopicAttributes(e.ctx, topic); a["SignatureVersion"] != "" {
		t.Fatalf("SignatureVersion shown before it is set: %v", a)
	}
	publish := func(msg, subject string) Message {
		t.Helper()
		n := len(sub.received())
		if _, err := e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: msg, Subject: subject}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "notification", func() bool { return len(sub.received()) > n })
		if err := subscriberVerify(t, e.sns, sub.body(n)); err != nil {
			t.Fatalf("%q: %v\n%s", msg, err, sub.body(n))
		}
		return sub.received()[n]
	}
	if m := publish("<a href='x'>&</a>", "S & P"); m.SignatureVersion != "1" {
		t.Fatalf("%+v", m)
	}
	if b := sub.body(1); !strings.Contains(b, `"Message":"<a href='x'>&</a>"`) || strings.Contains(b, `\u0026`) {
		t.Fatalf("body escaped: %s", b)
	}

	for _, bad := range []string{"3", "", "sha256"} {
		wantCode(t, e.sns.SetTopicAttribute(e.ctx, topic, "SignatureVersion", bad), "InvalidParameter")
	}
	if err := e.sns.SetTopicAttribute(e.ctx, topic, "SignatureVersion", "2"); err != nil {
		t.Fatal(err)
	}
	if a, _ := e.sns.GetTopicAttributes(e.ctx, topic); a["SignatureVersion"] != "2" {
		t.Fatal(a)
	}
	m := publish("sha256 now", "")
	if m.SignatureVersion != "2" {
		t.Fatalf("%+v", m)
	}
	// A SHA1 check of a version 2 signature fails: the version is not a label only.
	m.SignatureVersion = "1"
	if VerifyMessage(&m, &signingKey(t).PublicKey) == nil {
		t.Fatal("a SignatureVersion 2 signature verified as SHA1")
	}

	// CreateTopic: the attribute at creation, idempotency, bad values.
	if _, err := e.sns.CreateTopic(e.ctx, "signed", map[string]string{"SignatureVersion": "2"}, nil); err != nil {
		t.Fatal("same attributes:", err)
	}
	_, err = e.sns.CreateTopic(e.ctx, "signed", map[string]string{"SignatureVersion": "1"}, nil)
	wantCode(t, err, "InvalidParameter")
	_, err = e.sns.CreateTopic(e.ctx, "v9", map[string]string{"SignatureVersion": "9"}, nil)
	wantCode(t, err, "InvalidParameter")
	v2, err := e.sns.CreateTopic(e.ctx, "v2", map[string]string{"SignatureVersion": "2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sns.CreateTopic(e.ctx, "v1", map[string]string{"SignatureVersion": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	// A topic created without it is version 1: CreateTopic with 1 is the same attributes.
	if _, err := e.sns.CreateTopic(e.ctx, "plain", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sns.CreateTopic(e.ctx, "plain", map[string]string{"SignatureVersion": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	// The confirmation of a subscription to a version 2 topic is signed with version 2.
	sub2 := newSubscriber(t, nil)
	e.subscribeConfirmed(v2, sub2)
	if m := sub2.received()[0]; m.SignatureVersion != "2" || subscriberVerify(t, e.sns, sub2.body(0)) != nil {
		t.Fatalf("%+v", m)
	}
	// Replicated: the version survives a restart.
	e.restart()
	if a, _ := e.sns.GetTopicAttributes(e.ctx, topic); a["SignatureVersion"] != "2" {
		t.Fatal(a)
	}
}

// A delivery recorded under another signing key (before a restart: the key is not kept)
// is signed again with the current key when it is attempted, so that it points at a
// certificate that is served and verifies; one signed with the current key is sent as it
// was recorded.
func TestResignUnderNewKey(t *testing.T) {
	old, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{AccountID: "111122223333", BaseURL: "https://coffer.test:8443/", SigningCertURL: "https://coffer.test:8443/sns/cert.pem"}
	cfg.SigningKey = old
	before, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	cfg.SigningKey = signingKey(t)
	now, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer now.Close()
	if before.certURL == now.certURL {
		t.Fatal("two keys, one certificate URL:", now.certURL)
	}
	sub := &subRec{Arn: "arn:aws:sns:us-east-1:111122223333:t:s", TopicArn: "arn:aws:sns:us-east-1:111122223333:t", Endpoint: "http://127.0.0.1:1/"}
	m := &Message{Type: TypeNotification, MessageID: "m-1", TopicArn: sub.TopicArn, Subject: "s", Message: "hello & bye",
		Timestamp: "2026-12-07T13:00:00.000Z", SignatureVersion: "2", UnsubscribeURL: "https://coffer.test:8443/?Action=Unsubscribe",
		MessageAttributes: map[string]messageAttr{"k": {Type: "String", Value: "v"}}}
	d, err := before.newDelivery(sub, m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body := now.resign(d)
	var got Message
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.SigningCertURL != now.certURL || got.SignatureVersion != "2" || got.Message != m.Message || got.MessageAttributes["k"].Value != "v" ||
		got.UnsubscribeURL != m.UnsubscribeURL {
		t.Fatalf("%s", body)
	}
	if err := subscriberVerify(t, now, body); err != nil {
		t.Fatal(err)
	}
	// Already signed by this key: unchanged. Raw: unchanged.
	d2, err := now.newDelivery(sub, &Message{Type: TypeNotification, MessageID: "m-2", TopicArn: sub.TopicArn, Message: "x", Timestamp: m.Timestamp}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if now.resign(d2) != d2.Body {
		t.Fatal("re-signed a body of the current key")
	}
	raw := &deliveryRec{Body: "raw body", Raw: true}
	if now.resign(raw) != "raw body" {
		t.Fatal("raw body changed")
	}
}

// GetTopicAttributes shows AWS's default access policy (the owner's account).
func TestTopicDefaultPolicy(t *testing.T) {
	e := newEnv(t, fast)
	topic, err := e.sns.CreateTopic(e.ctx, "p", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.sns.GetTopicAttributes(e.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var pol struct {
		Version, Id string
		Statement   []struct {
			Sid, Effect string
			Principal   map[string]string
			Action      []string
			Resource    string
			Condition   map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(a["Policy"]), &pol); err != nil {
		t.Fatalf("%v: %q", err, a["Policy"])
	}
	if pol.Version != "2008-10-17" || len(pol.Statement) != 1 || pol.Statement[0].Resource != topic || pol.Statement[0].Effect != "Allow" ||
		pol.Statement[0].Condition["StringEquals"]["AWS:SourceOwner"] != "111122223333" || len(pol.Statement[0].Action) != 8 {
		t.Fatalf("%+v", pol)
	}
	// Setting it again keeps it (policy_test.go has the policies that change it).
	if err := e.sns.SetTopicAttribute(e.ctx, topic, "Policy", a["Policy"]); err != nil {
		t.Fatal(err)
	}
	if b, _ := e.sns.GetTopicAttributes(e.ctx, topic); b["Policy"] != a["Policy"] {
		t.Fatalf("policy %s, want %s", b["Policy"], a["Policy"])
	}
}

// MessageStructure=json: http subscriptions get the "http" message, https ones "https",
// others "default"; keys of other protocols and non-string values are ignored; message
// attributes are not delivered (AWS sends them only with a string structure), though
// filter policies see them.
func TestMessageStructurePerProtocol(t *testing.T) {
	e := newEnv(t, fast)
	topic, err := e.sns.CreateTopic(e.ctx, "structured", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(t, nil)
	filtered := newSubscriber(t, nil)
	e.subscribeConfirmed(topic, sub)
	e.subscribeConfirmedWith(topic, filtered, map[string]string{"FilterPolicy": `{"kind":["keep"]}`})
	publish := func(msg string, attrs ...string) {
		t.Helper()
		p := url.Values{"TopicArn": {topic}, "Message": {msg}, "MessageStructure": {"json"}}
		for i := 0; i < len(attrs); i += 2 {
			n := "MessageAttributes.entry." + strconv.Itoa(i/2+1)
			p.Set(n+".Name", attrs[i])
			p.Set(n+".Value.DataType", "String")
			p.Set(n+".Value.StringValue", attrs[i+1])
		}
		e.mustCall("Publish", p)
	}
	publish(`{"default":"for everyone","http":"for http","https":"for https","sqs":"for sqs"}`, "kind", "keep")
	publish(`{"default":"default only","https":"for https","http":5}`, "kind", "drop")
	waitFor(t, "notifications", func() bool { return len(sub.messages()) == 2 && len(filtered.messages()) == 1 })
	time.Sleep(50 * time.Millisecond)
	if got := sub.messages(); got[0] != "for http" || got[1] != "default only" {
		t.Fatalf("%q", got)
	}
	if got := filtered.messages(); len(got) != 1 || got[0] != "for http" {
		t.Fatalf("filtered: %q", got)
	}
	for i, m := range sub.received()[1:] {
		if m.MessageAttributes != nil || strings.Contains(sub.body(i+1), "MessageAttributes") {
			t.Fatalf("attributes delivered with a json structure: %s", sub.body(i+1))
		}
		if err := subscriberVerify(t, e.sns, sub.body(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	// The whole JSON counts toward 256 KiB, not only the default message.
	big := `{"default":"x","other":"` + strings.Repeat("y", maxMessage) + `"}`
	_, err = e.call("Publish", url.Values{"TopicArn": {topic}, "Message": {big}, "MessageStructure": {"json"}})
	wantAPIError(t, err, 400, "InvalidParameter")
}

// Publish's MessageGroupId is accepted on a standard topic (AWS passes it to SQS
// subscriptions only) and not delivered; MessageDeduplicationId is refused with AWS's
// message; a message or attribute value that is not UTF-8 is refused (its signature
// could not be verified).
func TestPublishStandardTopicParameters(t *testing.T) {
	e := newEnv(t, fast)
	topic, err := e.sns.CreateTopic(e.ctx, "std", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(t, nil)
	e.subscribeConfirmed(topic, sub)
	e.mustCall("Publish", url.Values{"TopicArn": {topic}, "Message": {"grouped"}, "MessageGroupId": {`g-1!"#$%&'()*+,-./:;<=>?@[\]^_{|}~`}})
	waitFor(t, "notification", func() bool { return len(sub.messages()) == 1 })
	if b := sub.body(1); strings.Contains(b, "g-1") || strings.Contains(b, "MessageGroupId") {
		t.Fatal(b)
	}
	_, err = e.call("Publish", url.Values{"Message": {"m"}})
	wantAPIError(t, err, 400, "InvalidParameter")
	if !strings.Contains(err.Error(), "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter") {
		t.Fatal(err)
	}
	_, err = e.call("Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageDeduplicationId": {"d"}})
	wantAPIError(t, err, 400, "InvalidParameter")
	if !strings.Contains(err.Error(), "The request includes MessageDeduplicationId parameter that is not valid for this topic type") {
		t.Fatal(err)
	}
	// (The query protocol refuses such a request before; the check guards the publishers
	// inside Coffer.)
	_, err = e.sns.Publish(e.ctx, PublishInput{TopicArn: topic, Message: "bad \xff utf-8"})
	wantCode(t, err, "InvalidParameter")
	_, err = e.sns.Publish(e.ctx, PublishInput{TopicArn: topic, Message: "m", MessageAttributes: map[string]MessageAttributeValue{"a": {DataType: "String", StringValue: "\xff"}}})
	wantCode(t, err, "ParameterValueInvalid")
}

// Message attribute names and values, checked as AWS does, with AWS's
// ParameterValueInvalid and messages; more than 10 attributes are accepted (the 10
// limit is for raw delivery to SQS).
func TestMessageAttributeValidation(t *testing.T) {
	e := newEnv(t, fast)
	topic, err := e.sns.CreateTopic(e.ctx, "attrs", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	attr := func(name, typ, val string) url.Values {
		return url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageAttributes.entry.1.Name": {name},
			"MessageAttributes.entry.1.Value.DataType": {typ}, "MessageAttributes.entry.1.Value.StringValue": {val}}
	}
	for _, c := range []struct {
		p    url.Values
		want string
	}{
		{attr(".a", "String", "v"), "Invalid message attribute name starting with character '.' was found."},
		{attr("a.", "String", "v"), "Invalid message attribute name ending with character '.' was found."},
		{attr("a..b", "String", "v"), "Message attribute name can not have successive '.' character."},
		{attr("a b", "String", "v"), "Invalid non-alphanumeric character '#x20' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots."},
		{attr(strings.Repeat("a", 257), "String", "v"), "Length of message attribute name must be less than 256 bytes."},
		{attr("AWS.trace", "String", "v"), "The message attribute name 'AWS.trace' is reserved"},
		{attr("amazon.x", "String", "v"), "is reserved"},
		{attr("a", "Text", "v"), "The message attribute 'a' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."},
		{attr("a", "String.", "v"), "has an invalid message attribute type"},
		{attr("a", "Number", "ten"), "Could not cast message attribute 'a' value to number."},
		{attr("a", "String", ""), "The message attribute 'a' must contain non-empty message attribute value for message attribute type 'String'."},
	} {
		_, err := e.call("Publish", c.p)
		wantAPIError(t, err, 400, "ParameterValueInvalid")
		if !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%v: %v, want %q", c.p, err, c.want)
		}
	}
	for _, name := range []string{"a.b", "A-b_c.9", strings.Repeat("a", 256), "AWSx", "amazonia.x"} {
		e.mustCall("Publish", attr(name, "String", "v"))
	}
	many := url.Values{"TopicArn": {topic}, "Message": {"m"}}
	for i := 1; i <= 12; i++ {
		n := "MessageAttributes.entry." + strconv.Itoa(i)
		many.Set(n+".Name", "a"+strconv.Itoa(i))
		many.Set(n+".Value.DataType", "String")
		many.Set(n+".Value.StringValue", "v")
	}
	e.mustCall("Publish", many)
}

// ConfirmationWasAuthenticated is true for a signed ConfirmSubscription, false for the
// SubscribeURL; AuthenticateOnUnsubscribe makes the UnsubscribeURL refuse (403
// AuthorizationError) while a signed Unsubscribe still works.
func TestAuthenticatedConfirmation(t *testing.T) {
	e := newEnv(t, fast)
	topic, err := e.sns.CreateTopic(e.ctx, "auth", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := e.sns.HTTPHandler()
	subscribe := func(sub *subscriber) Message {
		t.Helper()
		e.mustCall("Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {sub.srv.URL + "/"}})
		waitFor(t, "confirmation", func() bool { return len(sub.received()) == 1 })
		return sub.received()[0]
	}
	attrs := func(arn string) map[string]string {
		t.Helper()
		a, err := e.sns.GetSubscriptionAttributes(e.ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// By link.
	linked := newSubscriber(t, nil)
	m := subscribe(linked)
	if rec := serve(h, http.MethodGet, localTarget(t, m.SubscribeURL)); rec.Code != 200 {
		t.Fatal(rec.Code, rec.Body.String())
	}
	linkedArn := e.mustCall("ConfirmSubscription", url.Values{"TopicArn": {topic}, "Token": {m.Token}}).(*ConfirmSubscriptionResult).SubscriptionArn
	if a := attrs(linkedArn); a["ConfirmationWasAuthenticated"] != "false" || a["PendingConfirmation"] != "false" {
		t.Fatal(a)
	}
	// By a signed call, with AuthenticateOnUnsubscribe.
	guarded := newSubscriber(t, nil)
	m = subscribe(guarded)
	arn := e.mustCall("ConfirmSubscription", url.Values{"TopicArn": {topic}, "Token": {m.Token}, "AuthenticateOnUnsubscribe": {"true"}}).(*ConfirmSubscriptionResult).SubscriptionArn
	if a := attrs(arn); a["ConfirmationWasAuthenticated"] != "true" {
		t.Fatal(a)
	}
	if _, err := e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: "m"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "notification", func() bool { return len(guarded.messages()) == 1 && len(linked.messages()) == 1 })
	unsub := localTarget(t, guarded.received()[1].UnsubscribeURL)
	rec := serve(h, http.MethodGet, unsub)
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "<Code>AuthorizationError</Code>") {
		t.Fatal(rec.Code, rec.Body.String())
	}
	e.restart() // the flag is replicated state
	h = e.sns.HTTPHandler()
	if rec := serve(h, http.MethodGet, unsub); rec.Code != 403 {
		t.Fatal(rec.Code, rec.Body.String())
	}
	e.mustCall("Unsubscribe", url.Values{"SubscriptionArn": {arn}})
	// The other subscription's UnsubscribeURL works without authentication.
	if rec := serve(h, http.MethodGet, localTarget(t, linked.received()[1].UnsubscribeURL)); rec.Code != 200 {
		t.Fatal(rec.Code, rec.Body.String())
	}
	if l, _, _ := e.sns.ListSubscriptionsByTopic(e.ctx, topic, ""); len(l) != 0 {
		t.Fatal(l)
	}
}

// CreateTopic's FifoTopic takes true (refused: no FIFO topics) or false; other values
// are refused rather than taken as false.
func TestCreateTopicFifoAttribute(t *testing.T) {
	e := newEnv(t, fast)
	if _, err := e.sns.CreateTopic(e.ctx, "std", map[string]string{"FifoTopic": "false"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"true", "yes", ""} {
		_, err := e.sns.CreateTopic(e.ctx, "x", map[string]string{"FifoTopic": v}, nil)
		wantCode(t, err, "InvalidParameter")
	}
}

// FuzzPublishMessage: publishMessage and checkPublish never panic; a MessageStructure=json
// message they accept is a JSON object whose "default" is the message and whose http
// member, when it is a string, is what http subscriptions get; an attribute name they
// accept follows AWS's rules (checked here with a regular expression).
func FuzzPublishMessage(f *testing.F) {
	f.Add(`{"default":"d","http":"h"}`, "json", "a.b", "String", "v")
	f.Add(`{"default":"d","http":5,"https":"s"}`, "json", ".a", "Number", "1e3")
	f.Add(`{"default":"d"} x`, "json", "a..b", "String.Array", `["x"]`)
	f.Add(`plain`, "", "AWS.x", "Binary", "")
	f.Add(`{"default":"a","default":"b"}`, "json", "a b", "String.", "v")
	nameRE := regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	f.Fuzz(func(t *testing.T, msg, structure, name, typ, val string) {
		v := url.Values{"Message": {msg}, "MessageStructure": {structure}}
		if name != "" {
			v.Set("MessageAttributes.entry.1.Name", name)
			v.Set("MessageAttributes.entry.1.Value.DataType", typ)
			v.Set("MessageAttributes.entry.1.Value.StringValue", val)
		}
		in, err := publishMessage(v)
		if err != nil {
			return
		}
		if in.Structured {
			var obj map[string]any
			if json.Unmarshal([]byte(msg), &obj) != nil || obj["default"] != in.Message {
				t.Fatalf("accepted %q as %q", msg, in.Message)
			}
			if h, ok := obj["http"].(string); ok && in.messageFor("http") != h {
				t.Fatalf("%q: http gets %q", msg, in.messageFor("http"))
			}
			if _, ok := obj["http"].(string); !ok && in.messageFor("http") != in.Message {
				t.Fatalf("%q: http gets %q", msg, in.messageFor("http"))
			}
		}
		if checkPublish(in) == nil && name != "" {
			l := strings.ToLower(name)
			if len(name) > 256 || !nameRE.MatchString(name) || strings.HasPrefix(l, "aws.") || strings.HasPrefix(l, "amazon.") {
				t.Fatalf("accepted the attribute name %q", name)
			}
		}
	})
}

// Unsubscribing a confirmed HTTP subscription sends its endpoint AWS's
// UnsubscribeConfirmation (signed, with the subscription's ARN in
// x-amz-sns-subscription-arn, a Token and a SubscribeURL); the SubscribeURL, within 3
// days, restores the subscription with its ARN and attributes. Links are written as AWS
// writes them (parameters in AWS's order, ARN colons unescaped).
func TestUnsubscribeConfirmation(t *testing.T) {
	e := newEnv(t, fast)
	topic, err := e.sns.CreateTopic(e.ctx, "unsub", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(t, nil)
	arn := e.subscribeConfirmedWith(topic, sub, map[string]string{"RawMessageDelivery": "true"})
	conf := sub.received()[0]
	if want := "https://coffer.test:8443/?Action=ConfirmSubscription&TopicArn=" + topic + "&Token=" + conf.Token; conf.SubscribeURL != want {
		t.Fatalf("SubscribeURL %s, want %s", conf.SubscribeURL, want)
	}
	counts := func() (string, string) {
		a, err := e.sns.GetTopicAttributes(e.ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		return a["SubscriptionsConfirmed"], a["SubscriptionsDeleted"]
	}
	if err := e.sns.Unsubscribe(e.ctx, arn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "unsubscribe confirmation", func() bool { return len(sub.received()) == 2 })
	m, h := sub.received()[1], sub.header(1)
	if m.Type != TypeUnsubscribeConfirmation || m.TopicArn != topic || len(m.Token) < 64 || m.UnsubscribeURL != "" ||
		m.Message != "You have chosen to deactivate subscription "+arn+".\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message." ||
		m.SubscribeURL != "https://coffer.test:8443/?Action=ConfirmSubscription&TopicArn="+topic+"&Token="+m.Token ||
		h.Get("x-amz-sns-message-type") != TypeUnsubscribeConfirmation || h.Get("x-amz-sns-message-id") != m.MessageID ||
		h.Get("x-amz-sns-topic-arn") != topic || h.Get("x-amz-sns-subscription-arn") != arn || h.Get("x-amz-sns-rawdelivery") != "" {
		t.Fatalf("%+v %v", m, h)
	}
	if err := subscriberVerify(t, e.sns, sub.body(1)); err != nil {
		t.Fatal(err)
	}
	if c, d := counts(); c != "0" || d != "1" {
		t.Fatal(c, d)
	}
	wantCode(t, e.sns.Unsubscribe(e.ctx, arn), "NotFound")
	e.restart() // the restoring token is replicated state

	// Restored through the SubscribeURL: same ARN, same attributes, delivered to again.
	rec := serve(e.sns.HTTPHandler(), http.MethodGet, localTarget(t, m.SubscribeURL))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<SubscriptionArn>"+arn+"</SubscriptionArn>") {
		t.Fatal(rec.Code, rec.Body.String())
	}
	if a, err := e.sns.GetSubscriptionAttributes(e.ctx, arn); err != nil || a["RawMessageDelivery"] != "true" || a["PendingConfirmation"] != "false" {
		t.Fatal(a, err)
	}
	if c, d := counts(); c != "1" || d != "0" {
		t.Fatal(c, d)
	}
	if _, err := e.sns.PublishAndWait(e.ctx, PublishInput{TopicArn: topic, Message: "back"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "notification", func() bool { return len(sub.messages()) == 1 && sub.messages()[0] == "back" })

	// The token expires after 3 days.
	if err := e.sns.Unsubscribe(e.ctx, arn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second unsubscribe confirmation", func() bool { return len(sub.received()) == 4 })
	e.clk.Add(73 * time.Hour)
	_, err = e.sns.ConfirmSubscription(e.ctx, topic, sub.received()[3].Token)
	wantCode(t, err, "InvalidParameter")
	if c, d := counts(); c != "0" || d != "0" {
		t.Fatal(c, d)
	}

	// A pending subscription is deleted without a notice.
	pending := newSubscriber(t, nil)
	out, err := e.sns.Subscribe(e.ctx, topic, "http", pending.srv.URL+"/p", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "confirmation", func() bool { return len(pending.received()) == 1 })
	if err := e.sns.Unsubscribe(e.ctx, out.SubscriptionArn); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(pending.received()); n != 1 {
		t.Fatalf("%d requests", n)
	}
}
