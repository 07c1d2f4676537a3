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
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// holdingReceiver is an HTTP endpoint that records what it receives without confirming
// subscriptions, and answers 503 while failing is set.
type holdingReceiver struct {
	URL     string
	failing atomic.Bool
	mu      sync.Mutex
	reqs    []snsRequest // the requests answered 200
	refused atomic.Int32
}

func newHoldingReceiver(t *testing.T) *holdingReceiver {
	rcv := &holdingReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if rcv.failing.Load() {
			rcv.refused.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rcv.mu.Lock()
		rcv.reqs = append(rcv.reqs, snsRequest{Header: r.Header.Clone(), Body: string(b)})
		rcv.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rcv.URL = srv.URL
	return rcv
}

func (rcv *holdingReceiver) requests() []snsRequest {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return slices.Clone(rcv.reqs)
}

// TestSNSSubscriberVerifiesSignatures: what an HTTP subscriber sees, checked as AWS's
// subscriber libraries check it, with Debian's AWS CLI (/usr/bin/aws) as the publisher:
// AWS's headers and JSON fields, a signature over AWS's canonical string that verifies
// with the certificate fetched from SigningCertURL (SHA1withRSA, then SHA256withRSA after
// set-topic-attributes SignatureVersion 2), and a delivery resumed after a restart that
// names the same certificate (the node keeps its signing key) and still verifies.
func TestSNSSubscriberVerifiesSignatures(t *testing.T) {
	t.Parallel() // independent node
	s, root := debianCLINode(t)
	var topic struct{ TopicArn string }
	awsOK(t, s, root, &topic, "sns", "create-topic", "--name", "signed")
	rcv := newSNSReceiver(t) // confirms through the SubscribeURL, as a real subscriber does
	subArn := snsSubscribe(t, s, root, topic.TopicArn, rcv.URL+"/hook")

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

	publish := func(msg string, extra ...string) string {
		t.Helper()
		var out struct{ MessageId string }
		awsOK(t, s, root, &out, append([]string{"sns", "publish", "--topic-arn", topic.TopicArn, "--message", msg}, extra...)...)
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
	id := publish(`<deploy & "release">`, "--subject", "Deploy: 100% done",
		"--message-attributes", `{"team":{"DataType":"String","StringValue":"sec"},"level":{"DataType":"Number","StringValue":"3"}}`)
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

	// SignatureVersion 2: SHA256withRSA, shown by get-topic-attributes.
	awsOK(t, s, root, nil, "sns", "set-topic-attributes", "--topic-arn", topic.TopicArn,
		"--attribute-name", "SignatureVersion", "--attribute-value", "2")
	var ta struct{ Attributes map[string]string }
	awsOK(t, s, root, &ta, "sns", "get-topic-attributes", "--topic-arn", topic.TopicArn)
	if ta.Attributes["SignatureVersion"] != "2" {
		t.Fatal(ta.Attributes)
	}
	_, n = notification(publish("sha256"))
	if n["SignatureVersion"] != "2" {
		t.Fatalf("%v", n)
	}
	n["SignatureVersion"] = "1" // the same signature does not verify as SHA1
	if checkSNSSignature(n) == nil {
		t.Fatal("a SignatureVersion 2 signature verified as SHA1withRSA")
	}
	_, errOut, ok := awsAs(t, s, root, "sns", "set-topic-attributes", "--topic-arn", topic.TopicArn,
		"--attribute-name", "SignatureVersion", "--attribute-value", "3")
	if ok || !strings.Contains(errOut, "(InvalidParameter)") {
		t.Fatalf("ok=%v %s", ok, errOut)
	}

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

// sdkSNSSubscribeHeld subscribes a holdingReceiver (queryCall: setup) and confirms it with
// the token it received.
func sdkSNSSubscribeHeld(t *testing.T, s *server, root awsCreds, topicArn string, rcv *holdingReceiver) string {
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

// TestSNSConformanceCLI: what a CLI user sees of the request checks and attributes that
// differed from AWS, with Debian's AWS CLI (/usr/bin/aws): AWS's default Policy in
// get-topic-attributes, FifoTopic values, message attribute errors as
// ParameterValueInvalid with AWS's messages, MessageGroupId accepted on a standard topic
// and MessageDeduplicationId refused, MessageStructure=json delivering the http message
// without attributes, confirm-subscription --authenticate-on-unsubscribe
// (ConfirmationWasAuthenticated, the UnsubscribeURL refused), and the
// UnsubscribeConfirmation of unsubscribe, whose SubscribeURL restores the subscription.
func TestSNSConformanceCLI(t *testing.T) {
	t.Parallel() // independent node
	s, root := debianCLINode(t)
	var topic struct{ TopicArn string }
	awsOK(t, s, root, &topic, "sns", "create-topic", "--name", "conformance", "--attributes", "FifoTopic=false")
	var ta struct{ Attributes map[string]string }
	awsOK(t, s, root, &ta, "sns", "get-topic-attributes", "--topic-arn", topic.TopicArn)
	var pol struct {
		Statement []struct {
			Resource  string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(ta.Attributes["Policy"]), &pol); err != nil || len(pol.Statement) != 1 ||
		pol.Statement[0].Resource != topic.TopicArn || pol.Statement[0].Condition["StringEquals"]["AWS:SourceOwner"] == "" {
		t.Fatalf("Policy: %v %q", err, ta.Attributes["Policy"])
	}
	if _, ok := ta.Attributes["SignatureVersion"]; ok || !strings.Contains(ta.Attributes["EffectiveDeliveryPolicy"], `"backoffFunction":"linear"`) {
		t.Fatal(ta.Attributes)
	}

	fails := func(code, msg string, args ...string) {
		t.Helper()
		_, errOut, ok := awsAs(t, s, root, args...)
		if ok || !strings.Contains(errOut, "("+code+")") || !strings.Contains(errOut, msg) {
			t.Fatalf("%v: ok=%v %s", args, ok, errOut)
		}
	}
	fails("InvalidParameter", "FifoTopic: Invalid value [maybe]", "sns", "create-topic", "--name", "f", "--attributes", "FifoTopic=maybe")
	pub := []string{"sns", "publish", "--topic-arn", topic.TopicArn, "--message", "m"}
	fails("ParameterValueInvalid", "Could not cast message attribute 'n' value to number.",
		append(pub, "--message-attributes", `{"n":{"DataType":"Number","StringValue":"ten"}}`)...)
	fails("ParameterValueInvalid", "Invalid message attribute name starting with character '.' was found.",
		append(pub, "--message-attributes", `{".n":{"DataType":"String","StringValue":"v"}}`)...)
	fails("ParameterValueInvalid", "the set of supported type prefixes is Binary, Number, and String.",
		append(pub, "--message-attributes", `{"n":{"DataType":"Text","StringValue":"v"}}`)...)
	fails("InvalidParameter", "The request includes MessageDeduplicationId parameter that is not valid for this topic type",
		append(pub, "--message-deduplication-id", "d1")...)
	awsOK(t, s, root, nil, append(pub, "--message-group-id", "group-1")...)

	// A subscriber confirmed with a signed call and AuthenticateOnUnsubscribe.
	rcv := newHoldingReceiver(t)
	awsOK(t, s, root, nil, "sns", "subscribe", "--topic-arn", topic.TopicArn, "--protocol", "http", "--notification-endpoint", rcv.URL+"/h")
	waitFor(t, 20*time.Second, func() bool { return len(rcv.requests()) == 1 })
	var conf struct{ Token string }
	json.Unmarshal([]byte(rcv.requests()[0].Body), &conf)
	var sub struct{ SubscriptionArn string }
	awsOK(t, s, root, &sub, "sns", "confirm-subscription", "--topic-arn", topic.TopicArn, "--token", conf.Token,
		"--authenticate-on-unsubscribe", "true")
	var sa struct{ Attributes map[string]string }
	awsOK(t, s, root, &sa, "sns", "get-subscription-attributes", "--subscription-arn", sub.SubscriptionArn)
	if sa.Attributes["ConfirmationWasAuthenticated"] != "true" || sa.Attributes["PendingConfirmation"] != "false" {
		t.Fatal(sa.Attributes)
	}

	// MessageStructure=json: the http message, verifiable, without the attributes.
	var out struct{ MessageId string }
	awsOK(t, s, root, &out, "sns", "publish", "--topic-arn", topic.TopicArn, "--message-structure", "json",
		"--message", `{"default":"for all","http":"for http","email":"for email"}`,
		"--message-attributes", `{"team":{"DataType":"String","StringValue":"sec"}}`)
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
	awsOK(t, s, root, nil, "sns", "unsubscribe", "--subscription-arn", sub.SubscriptionArn)
	var list struct {
		Subscriptions []struct{ SubscriptionArn string }
	}
	awsOK(t, s, root, &list, "sns", "list-subscriptions-by-topic", "--topic-arn", topic.TopicArn)
	if len(list.Subscriptions) != 0 {
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
	awsOK(t, s, root, &ta, "sns", "get-topic-attributes", "--topic-arn", topic.TopicArn)
	if ta.Attributes["SubscriptionsDeleted"] != "1" || ta.Attributes["SubscriptionsConfirmed"] != "0" {
		t.Fatal(ta.Attributes)
	}
	res, err = http.Get(fmt.Sprint(n["SubscribeURL"]))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	awsOK(t, s, root, &list, "sns", "list-subscriptions-by-topic", "--topic-arn", topic.TopicArn)
	if res.StatusCode != 200 || len(list.Subscriptions) != 1 || list.Subscriptions[0].SubscriptionArn != sub.SubscriptionArn {
		t.Fatalf("restore: %d %+v", res.StatusCode, list)
	}
}
