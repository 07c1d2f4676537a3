package sns

import (
	"bytes"
	"encoding/pem"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

var testCaller = Caller{Region: "us-east-1", Account: "111122223333"}

// call runs action through the op table with the form-encoded params.
func (e *env) call(action string, params url.Values) (any, error) {
	e.t.Helper()
	op := Operations()[action]
	if op == nil {
		e.t.Fatalf("no op %s", action)
	}
	body := "Action=" + action + "&Version=2010-03-31"
	if len(params) > 0 {
		body += "&" + params.Encode()
	}
	return op(e.sns, e.ctx, testCaller, []byte(body))
}

func (e *env) mustCall(action string, params url.Values) any {
	e.t.Helper()
	out, err := e.call(action, params)
	if err != nil {
		e.t.Fatalf("%s: %v", action, err)
	}
	return out
}

// resultXML encodes v as awsproto's QueryService does.
func resultXML(t *testing.T, action string, v any) string {
	t.Helper()
	var sb strings.Builder
	enc := xml.NewEncoder(&sb)
	if err := enc.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func wantAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	ae := MapError(err)
	if ae.Status != status || ae.Code != code {
		t.Fatalf("got %d %s (%v), want %d %s", ae.Status, ae.Code, err, status, code)
	}
}

func TestOperationsTable(t *testing.T) {
	var names []string
	for n := range Operations() {
		names = append(names, n)
	}
	sort.Strings(names)
	want := "AddPermission ConfirmSubscription CreateTopic DeleteTopic GetSubscriptionAttributes GetTopicAttributes ListSubscriptions ListSubscriptionsByTopic " +
		"ListTagsForResource ListTopics Publish PublishBatch RemovePermission SetSubscriptionAttributes SetTopicAttributes Subscribe TagResource Unsubscribe UntagResource"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("got %s", got)
	}
	delete(Operations(), "Publish")
	if Operations()["Publish"] == nil {
		t.Fatal("Operations is not a copy")
	}
}

func TestOpsCreateSubscribeConfirmPublish(t *testing.T) {
	e := newEnv(t, fast)
	out := e.mustCall("CreateTopic", url.Values{"Name": {"alerts"},
		"Attributes.entry.1.key": {"DisplayName"}, "Attributes.entry.1.value": {"Alerts"},
		"Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"ops"}})
	topic := "arn:aws:sns:us-east-1:111122223333:alerts"
	if got := resultXML(t, "CreateTopic", out); got != "<CreateTopicResult><TopicArn>"+topic+"</TopicArn></CreateTopicResult>" {
		t.Fatal(got)
	}
	attrs := e.mustCall("GetTopicAttributes", url.Values{"TopicArn": {topic}}).(*GetTopicAttributesResult)
	x := resultXML(t, "GetTopicAttributes", attrs)
	if !strings.Contains(x, "<entry><key>DisplayName</key><value>Alerts</value></entry>") ||
		!strings.Contains(x, "<entry><key>SubscriptionsPending</key><value>0</value></entry>") || !strings.HasPrefix(x, "<GetTopicAttributesResult><Attributes><entry>") {
		t.Fatal(x)
	}

	sub := newSubscriber(t, nil)
	out = e.mustCall("Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {sub.srv.URL + "/hook"}})
	if got := resultXML(t, "Subscribe", out); got != "<SubscribeResult><SubscriptionArn>pending confirmation</SubscriptionArn></SubscribeResult>" {
		t.Fatal(got)
	}
	waitFor(t, "confirmation", func() bool { return len(sub.received()) == 1 })
	m := sub.received()[0]
	out = e.mustCall("ConfirmSubscription", url.Values{"TopicArn": {topic}, "Token": {m.Token}, "AuthenticateOnUnsubscribe": {"false"}})
	subArn := out.(*ConfirmSubscriptionResult).SubscriptionArn
	if !strings.HasPrefix(subArn, topic+":") {
		t.Fatal(subArn)
	}
	if got := resultXML(t, "ConfirmSubscription", out); got != "<ConfirmSubscriptionResult><SubscriptionArn>"+subArn+"</SubscriptionArn></ConfirmSubscriptionResult>" {
		t.Fatal(got)
	}

	// A second subscriber with ReturnSubscriptionArn stays pending.
	sub2 := newSubscriber(t, nil)
	out = e.mustCall("Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {sub2.srv.URL + "/h"}, "ReturnSubscriptionArn": {"true"}})
	pendingArn := out.(*SubscribeResult).SubscriptionArn
	if !strings.HasPrefix(pendingArn, topic+":") {
		t.Fatal(pendingArn)
	}
	ls := e.mustCall("ListSubscriptions", nil).(*ListSubscriptionsResult)
	x = resultXML(t, "ListSubscriptions", ls)
	want := "<member><SubscriptionArn>" + subArn + "</SubscriptionArn><Owner>111122223333</Owner><Protocol>http</Protocol><Endpoint>" +
		sub.srv.URL + "/hook</Endpoint><TopicArn>" + topic + "</TopicArn></member>"
	if len(ls.Subscriptions.Member) != 2 || !strings.Contains(x, want) || !strings.Contains(x, "<SubscriptionArn>PendingConfirmation</SubscriptionArn>") ||
		strings.Contains(x, "NextToken") {
		t.Fatal(x)
	}

	out = e.mustCall("Publish", url.Values{"TopicArn": {topic}, "Message": {"hello"}, "Subject": {"Greeting"},
		"MessageAttributes.entry.1.Name": {"level"}, "MessageAttributes.entry.1.Value.DataType": {"String"},
		"MessageAttributes.entry.1.Value.StringValue": {"high"},
		"MessageAttributes.entry.2.Name":              {"n"}, "MessageAttributes.entry.2.Value.DataType": {"Number"},
		"MessageAttributes.entry.2.Value.StringValue": {"42"},
		"MessageAttributes.entry.3.Name":              {"b"}, "MessageAttributes.entry.3.Value.DataType": {"Binary"},
		"MessageAttributes.entry.3.Value.BinaryValue": {"AAEC"}})
	id := out.(*PublishResult).MessageId
	if got := resultXML(t, "Publish", out); id == "" || got != "<PublishResult><MessageId>"+id+"</MessageId></PublishResult>" {
		t.Fatal(got)
	}
	waitFor(t, "notification", func() bool { return len(sub.received()) == 2 })
	n := sub.received()[1]
	if n.Type != TypeNotification || n.MessageID != id || n.Message != "hello" || n.Subject != "Greeting" ||
		n.MessageAttributes["level"] != (messageAttr{Type: "String", Value: "high"}) ||
		n.MessageAttributes["n"] != (messageAttr{Type: "Number", Value: "42"}) ||
		n.MessageAttributes["b"] != (messageAttr{Type: "Binary", Value: "AAEC"}) {
		t.Fatalf("%+v", n)
	}
	if err := VerifyMessage(&n, &signingKey(t).PublicKey); err != nil {
		t.Fatal(err)
	}

	// MessageStructure=json publishes the default message.
	e.mustCall("Publish", url.Values{"TopicArn": {topic}, "MessageStructure": {"json"}, "Message": {`{"default":"plain","email":"mail"}`}})
	waitFor(t, "json notification", func() bool { return len(sub.received()) == 3 })
	if got := sub.received()[2].Message; got != "plain" {
		t.Fatal(got)
	}
	if len(sub2.received()) != 1 { // pending: only its confirmation
		t.Fatal(sub2.received())
	}
}

func TestOpsListsAndDeletes(t *testing.T) {
	e := newEnv(t, fast)
	out := e.mustCall("ListTopics", nil)
	if got := resultXML(t, "ListTopics", out); got != "<ListTopicsResult><Topics></Topics></ListTopicsResult>" {
		t.Fatal(got)
	}
	for _, n := range []string{"b", "a"} {
		e.mustCall("CreateTopic", url.Values{"Name": {n}})
	}
	out = e.mustCall("ListTopics", nil)
	if got := resultXML(t, "ListTopics", out); got != "<ListTopicsResult><Topics><member><TopicArn>arn:aws:sns:us-east-1:111122223333:a</TopicArn></member>"+
		"<member><TopicArn>arn:aws:sns:us-east-1:111122223333:b</TopicArn></member></Topics></ListTopicsResult>" {
		t.Fatal(got)
	}
	a := "arn:aws:sns:us-east-1:111122223333:a"
	sub := newSubscriber(t, nil)
	subArn := e.subscribeConfirmed(a, sub)
	ls := e.mustCall("ListSubscriptionsByTopic", url.Values{"TopicArn": {a}}).(*ListSubscriptionsResult)
	if len(ls.Subscriptions.Member) != 1 || ls.Subscriptions.Member[0].SubscriptionArn != subArn {
		t.Fatalf("%+v", ls)
	}
	ls = e.mustCall("ListSubscriptionsByTopic", url.Values{"TopicArn": {"arn:aws:sns:us-east-1:111122223333:b"}}).(*ListSubscriptionsResult)
	if got := resultXML(t, "ListSubscriptionsByTopic", ls); got != "<ListSubscriptionsByTopicResult><Subscriptions></Subscriptions></ListSubscriptionsByTopicResult>" {
		t.Fatal(got)
	}
	if out := e.mustCall("Unsubscribe", url.Values{"SubscriptionArn": {subArn}}); out != nil {
		t.Fatal(out)
	}
	_, err := e.call("Unsubscribe", url.Values{"SubscriptionArn": {subArn}})
	wantAPIError(t, err, 404, "NotFound")
	if out := e.mustCall("DeleteTopic", url.Values{"TopicArn": {a}}); out != nil {
		t.Fatal(out)
	}
	if l := e.mustCall("ListTopics", nil).(*ListTopicsResult); len(l.Topics.Member) != 1 {
		t.Fatalf("%+v", l)
	}
	_, err = e.call("ListTopics", url.Values{"NextToken": {"%%%"}})
	if err == nil {
		t.Fatal("bad NextToken accepted")
	}
}

func TestOpsErrors(t *testing.T) {
	e := newEnv(t, fast)
	e.mustCall("CreateTopic", url.Values{"Name": {"t"}})
	topic := "arn:aws:sns:us-east-1:111122223333:t"
	missing := topic + "x"
	cases := []struct {
		action string
		params url.Values
		status int
		code   string
	}{
		{"CreateTopic", url.Values{"Name": {"bad name"}}, 400, "InvalidParameter"},
		{"CreateTopic", url.Values{"Name": {"x"}, "Attributes.entry.1.key": {"DisplayName"}}, 400, "InvalidParameter"},
		{"CreateTopic", url.Values{"Name": {"x"}, "Tags.member.1.Key": {"k"}}, 400, "InvalidParameter"},
		{"CreateTopic", url.Values{"Name": {"x"}, "DataProtectionPolicy": {"{}"}}, 400, "InvalidParameter"},
		{"GetTopicAttributes", url.Values{"TopicArn": {missing}}, 404, "NotFound"},
		{"GetTopicAttributes", url.Values{}, 400, "InvalidParameter"},
		{"ListSubscriptionsByTopic", url.Values{"TopicArn": {missing}}, 404, "NotFound"},
		{"Subscribe", url.Values{"TopicArn": {missing}, "Protocol": {"http"}, "Endpoint": {"http://127.0.0.1:1/"}}, 404, "NotFound"},
		{"Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"email"}, "Endpoint": {"a@b.c"}}, 400, "InvalidParameter"},
		{"Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {"http://127.0.0.1:1/"}, "ReturnSubscriptionArn": {"maybe"}}, 400, "InvalidParameter"},
		{"Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {"http://127.0.0.1:1/"},
			"Attributes.entry.1.key": {"RawMessageDelivery"}, "Attributes.entry.1.value": {"yes"}}, 400, "InvalidParameter"},
		{"Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {"http://127.0.0.1:1/"},
			"Attributes.entry.1.key": {"DeliveryPolicy"}, "Attributes.entry.1.value": {`{"healthyRetryPolicy":{"numRetries":101}}`}}, 400, "InvalidParameter"},
		{"Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {"http://127.0.0.1:1/"},
			"Attributes.entry.1.key": {"RedrivePolicy"}, "Attributes.entry.1.value": {"{}"}}, 400, "InvalidParameter"},
		{"ConfirmSubscription", url.Values{"TopicArn": {topic}, "Token": {"nope"}}, 400, "InvalidParameter"},
		{"ConfirmSubscription", url.Values{"TopicArn": {missing}, "Token": {"nope"}}, 404, "NotFound"},
		{"ConfirmSubscription", url.Values{"TopicArn": {topic}, "Token": {"x"}, "AuthenticateOnUnsubscribe": {"true"}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {missing}, "Message": {"m"}}, 404, "NotFound"},
		{"Publish", url.Values{"TopicArn": {topic}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "TargetArn": {topic}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageGroupId": {strings.Repeat("g", 129)}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageGroupId": {"group one"}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageDeduplicationId": {"d"}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageStructure": {"xml"}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"not json"}, "MessageStructure": {"json"}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {`{"http":"x"}`}, "MessageStructure": {"json"}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {`{"default":1}`}, "MessageStructure": {"json"}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {`{"default":"a","http":"b","http":"c"}`}, "MessageStructure": {"json"}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {`{"default":"a"} {}`}, "MessageStructure": {"json"}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageAttributes.entry.1.Value.DataType": {"String"}}, 400, "InvalidParameter"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageAttributes.entry.1.Name": {"a"}}, 400, "ParameterValueInvalid"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageAttributes.entry.1.Name": {"a"},
			"MessageAttributes.entry.1.Value.DataType": {"Binary"}, "MessageAttributes.entry.1.Value.BinaryValue": {"!!"}}, 400, "InvalidParameter"},
		{"Unsubscribe", url.Values{"SubscriptionArn": {"nope"}}, 400, "InvalidParameter"},
		{"DeleteTopic", url.Values{"TopicArn": {"arn:aws:s3:::x"}}, 400, "InvalidParameter"},
	}
	for _, c := range cases {
		_, err := e.call(c.action, c.params)
		if err == nil {
			t.Fatalf("%s %v: no error", c.action, c.params)
		}
		ae := MapError(err)
		if ae.Status != c.status || ae.Code != c.code {
			t.Fatalf("%s %v: got %d %s (%v)", c.action, c.params, ae.Status, ae.Code, err)
		}
	}

	// Another account's caller.
	_, err := Operations()["ListTopics"](e.sns, e.ctx, Caller{Account: "999999999999"}, []byte("Action=ListTopics"))
	wantAPIError(t, err, 403, "AuthorizationError")
	// A malformed body (a parameter given twice).
	_, err = Operations()["CreateTopic"](e.sns, e.ctx, testCaller, []byte("Name=a&Name=b"))
	wantAPIError(t, err, 400, "MalformedQueryString")
	// Other errors are 500 InternalError.
	if ae := MapError(http.ErrHandlerTimeout); ae.Status != 500 || ae.Code != "InternalError" {
		t.Fatalf("%+v", ae)
	}
	if ae := MapError(&awsproto.Error{Status: 400, Code: "X", Message: "m"}); ae.Code != "X" {
		t.Fatalf("%+v", ae)
	}
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

// localTarget is u's path and query (u is a link on https://coffer.test:8443/).
func localTarget(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil || p.Host != "coffer.test:8443" {
		t.Fatal(u, err)
	}
	return p.RequestURI()
}

func TestHTTPHandlerLinks(t *testing.T) {
	e := newEnv(t, fast)
	h := e.sns.HTTPHandler()
	// The certificate's path carries the key's fingerprint (a new key, a new URL).
	if cp := e.sns.CertPath(); e.sns.BasePath() != "/" || !regexp.MustCompile(`^/sns/cert-[0-9a-f]{32}\.pem$`).MatchString(cp) {
		t.Fatal(e.sns.BasePath(), cp)
	}

	// Certificate, at its path and at the configured one (links of earlier versions).
	for _, p := range []string{e.sns.CertPath(), "/sns/cert.pem"} {
		rec := serve(h, http.MethodGet, p)
		blk, _ := pem.Decode(rec.Body.Bytes())
		if rec.Code != 200 || blk == nil || blk.Type != "CERTIFICATE" || !bytes.Equal(rec.Body.Bytes(), e.sns.SigningCertificatePEM()) {
			t.Fatal(p, rec.Code, rec.Body.String())
		}
		if !e.sns.IsLinkRequest(httptest.NewRequest(http.MethodGet, p, nil)) {
			t.Fatal("cert not a link request", p)
		}
	}
	var rec *httptest.ResponseRecorder

	topic := e.mustCall("CreateTopic", url.Values{"Name": {"links"}}).(*CreateTopicResult).TopicArn
	sub := newSubscriber(t, nil)
	e.mustCall("Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {sub.srv.URL + "/"}})
	waitFor(t, "confirmation", func() bool { return len(sub.received()) == 1 })
	confirm := localTarget(t, sub.received()[0].SubscribeURL)

	// A bad token first.
	bad := strings.Replace(confirm, "Token=", "Token=00", 1)
	rec = serve(h, http.MethodGet, bad)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "<Error><Type>Sender</Type><Code>InvalidParameter</Code>") ||
		!strings.HasPrefix(rec.Body.String(), `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">`) {
		t.Fatal(rec.Code, rec.Body.String())
	}

	req := httptest.NewRequest(http.MethodGet, confirm, nil)
	if !e.sns.IsLinkRequest(req) {
		t.Fatal("SubscribeURL not a link request")
	}
	signed := httptest.NewRequest(http.MethodGet, confirm, nil)
	signed.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	if e.sns.IsLinkRequest(signed) || e.sns.IsLinkRequest(httptest.NewRequest(http.MethodGet, "/?Action=ListTopics", nil)) ||
		e.sns.IsLinkRequest(httptest.NewRequest(http.MethodPost, confirm, nil)) {
		t.Fatal("API request taken for a link")
	}
	rec = serve(h, http.MethodGet, confirm)
	body := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/xml" ||
		!strings.HasPrefix(body, `<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ConfirmSubscriptionResult><SubscriptionArn>`+topic+":") ||
		!strings.Contains(body, "</ConfirmSubscriptionResult><ResponseMetadata><RequestId>") {
		t.Fatal(rec.Code, body)
	}

	e.mustCall("Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}})
	waitFor(t, "notification", func() bool { return len(sub.received()) == 2 })
	unsub := localTarget(t, sub.received()[1].UnsubscribeURL)
	rec = serve(h, http.MethodGet, unsub)
	if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), `<UnsubscribeResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ResponseMetadata><RequestId>`) {
		t.Fatal(rec.Code, rec.Body.String())
	}
	if l := e.mustCall("ListSubscriptions", nil).(*ListSubscriptionsResult); len(l.Subscriptions.Member) != 0 {
		t.Fatalf("%+v", l)
	}
	rec = serve(h, http.MethodGet, unsub)
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "<Code>NotFound</Code>") {
		t.Fatal(rec.Code, rec.Body.String())
	}

	for _, c := range []struct {
		method, target string
		status         int
	}{
		{http.MethodGet, "/?Action=Publish&TopicArn=" + url.QueryEscape(topic) + "&Message=x", 400},
		{http.MethodGet, "/?Action=Unsubscribe&SubscriptionArn=a&SubscriptionArn=b", 400},
		{http.MethodGet, "/elsewhere", 404},
		{http.MethodPost, confirm, 405},
		{http.MethodPost, "/sns/cert.pem", 405},
	} {
		if rec := serve(h, c.method, c.target); rec.Code != c.status {
			t.Fatalf("%s %s: %d %s", c.method, c.target, rec.Code, rec.Body.String())
		}
	}
}

// The attribute and tag operations, and the state they change surviving a restart.
func TestOpsAttributesAndTags(t *testing.T) {
	e := newEnv(t, fast)
	topic := "arn:aws:sns:us-east-1:111122223333:t"
	e.mustCall("CreateTopic", url.Values{"Name": {"t"}, "Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"ops"}})

	// CreateTopic is idempotent only with the same tags.
	e.mustCall("CreateTopic", url.Values{"Name": {"t"}})
	e.mustCall("CreateTopic", url.Values{"Name": {"t"}, "Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"ops"}})
	_, err := e.call("CreateTopic", url.Values{"Name": {"t"}, "Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"dev"}})
	wantAPIError(t, err, 400, "InvalidParameter")
	if !strings.Contains(err.Error(), "Topic already exists with different tags") {
		t.Fatal(err)
	}

	e.mustCall("SetTopicAttributes", url.Values{"TopicArn": {topic}, "AttributeName": {"DisplayName"}, "AttributeValue": {"Ops alerts"}})
	x := resultXML(t, "GetTopicAttributes", e.mustCall("GetTopicAttributes", url.Values{"TopicArn": {topic}}))
	if !strings.Contains(x, "<entry><key>DisplayName</key><value>Ops alerts</value></entry>") {
		t.Fatal(x)
	}

	e.mustCall("TagResource", url.Values{"ResourceArn": {topic}, "Tags.member.1.Key": {"env"}, "Tags.member.1.Value": {"prod"},
		"Tags.member.2.Key": {"team"}, "Tags.member.2.Value": {"sec"}})
	e.mustCall("UntagResource", url.Values{"ResourceArn": {topic}, "TagKeys.member.1": {"nope"}})
	out := e.mustCall("ListTagsForResource", url.Values{"ResourceArn": {topic}})
	if got := resultXML(t, "ListTagsForResource", out); got != "<ListTagsForResourceResult><Tags><member><Key>env</Key><Value>prod</Value></member>"+
		"<member><Key>team</Key><Value>sec</Value></member></Tags></ListTagsForResourceResult>" {
		t.Fatal(got)
	}
	if got := resultXML(t, "TagResource", e.mustCall("TagResource", url.Values{"ResourceArn": {topic}, "Tags.member.1.Key": {"x"}, "Tags.member.1.Value": {""}})); got != "<TagResourceResult></TagResourceResult>" {
		t.Fatal(got)
	}
	e.mustCall("UntagResource", url.Values{"ResourceArn": {topic}, "TagKeys.member.1": {"env"}, "TagKeys.member.2": {"x"}})

	sub := newSubscriber(t, nil)
	pending := e.mustCall("Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {sub.srv.URL + "/p"},
		"ReturnSubscriptionArn": {"true"}}).(*SubscribeResult).SubscriptionArn
	a := e.mustCall("GetSubscriptionAttributes", url.Values{"SubscriptionArn": {pending}}).(*GetSubscriptionAttributesResult)
	x = resultXML(t, "GetSubscriptionAttributes", a)
	for _, want := range []string{"<entry><key>PendingConfirmation</key><value>true</value></entry>",
		"<entry><key>SubscriptionArn</key><value>" + pending + "</value></entry>",
		"<entry><key>TopicArn</key><value>" + topic + "</value></entry>",
		"<entry><key>Endpoint</key><value>" + sub.srv.URL + "/p</value></entry>",
		"<entry><key>Protocol</key><value>http</value></entry>", "<entry><key>Owner</key><value>111122223333</value></entry>",
		"<entry><key>RawMessageDelivery</key><value>false</value></entry>"} {
		if !strings.Contains(x, want) {
			t.Fatalf("%s\nmissing %s", x, want)
		}
	}
	confirmed := e.subscribeConfirmed(topic, newSubscriber(t, nil))
	a = e.mustCall("GetSubscriptionAttributes", url.Values{"SubscriptionArn": {confirmed}}).(*GetSubscriptionAttributesResult)
	if x := resultXML(t, "GetSubscriptionAttributes", a); !strings.Contains(x, "<entry><key>PendingConfirmation</key><value>false</value></entry>") {
		t.Fatal(x)
	}
	if out := e.mustCall("SetSubscriptionAttributes", url.Values{"SubscriptionArn": {confirmed}, "AttributeName": {"RawMessageDelivery"}, "AttributeValue": {"false"}}); out != nil {
		t.Fatal(out)
	}

	missingTopic, missingSub := topic+"x", topic+":00000000-0000-0000-0000-000000000000"
	cases := []struct {
		action string
		params url.Values
		status int
		code   string
	}{
		{"SetTopicAttributes", url.Values{"TopicArn": {missingTopic}, "AttributeName": {"DisplayName"}, "AttributeValue": {"x"}}, 404, "NotFound"},
		{"SetTopicAttributes", url.Values{"TopicArn": {topic}, "AttributeName": {"Bogus"}, "AttributeValue": {"x"}}, 400, "InvalidParameter"},
		{"SetTopicAttributes", url.Values{"TopicArn": {topic}, "AttributeName": {"Policy"}, "AttributeValue": {"{}"}}, 400, "InvalidParameter"},
		{"SetTopicAttributes", url.Values{"TopicArn": {topic}, "AttributeName": {"DisplayName"}, "AttributeValue": {strings.Repeat("d", 101)}}, 400, "InvalidParameter"},
		{"SetTopicAttributes", url.Values{"AttributeName": {"DisplayName"}}, 400, "InvalidParameter"},
		{"GetSubscriptionAttributes", url.Values{"SubscriptionArn": {missingSub}}, 404, "NotFound"},
		{"GetSubscriptionAttributes", url.Values{}, 400, "InvalidParameter"},
		{"SetSubscriptionAttributes", url.Values{"SubscriptionArn": {missingSub}, "AttributeName": {"RawMessageDelivery"}, "AttributeValue": {"false"}}, 404, "NotFound"},
		{"SetSubscriptionAttributes", url.Values{"SubscriptionArn": {confirmed}, "AttributeName": {"Bogus"}, "AttributeValue": {"x"}}, 400, "InvalidParameter"},
		{"SetSubscriptionAttributes", url.Values{"SubscriptionArn": {confirmed}, "AttributeName": {"RawMessageDelivery"}, "AttributeValue": {"yes"}}, 400, "InvalidParameter"},
		{"SetSubscriptionAttributes", url.Values{"SubscriptionArn": {confirmed}, "AttributeName": {"FilterPolicy"}, "AttributeValue": {"{"}}, 400, "InvalidParameter"},
		{"SetSubscriptionAttributes", url.Values{"SubscriptionArn": {confirmed}, "AttributeName": {"FilterPolicyScope"}, "AttributeValue": {"Body"}}, 400, "InvalidParameter"},
		{"SetSubscriptionAttributes", url.Values{"SubscriptionArn": {confirmed}, "AttributeName": {"DeliveryPolicy"}, "AttributeValue": {`{"throttlePolicy":{"maxReceivesPerSecond":0}}`}}, 400, "InvalidParameter"},
		{"SetSubscriptionAttributes", url.Values{"SubscriptionArn": {confirmed}, "AttributeName": {"RedrivePolicy"}, "AttributeValue": {"{}"}}, 400, "InvalidParameter"},
		{"SetTopicAttributes", url.Values{"TopicArn": {topic}, "AttributeName": {"DeliveryPolicy"}, "AttributeValue": {`{"http":{"defaultHealthyRetryPolicy":{"numRetries":101}}}`}}, 400, "InvalidParameter"},
		{"ListTagsForResource", url.Values{"ResourceArn": {missingTopic}}, 404, "ResourceNotFound"},
		{"TagResource", url.Values{"ResourceArn": {missingTopic}, "Tags.member.1.Key": {"k"}, "Tags.member.1.Value": {"v"}}, 404, "ResourceNotFound"},
		{"TagResource", url.Values{"ResourceArn": {topic}}, 400, "InvalidParameter"},
		{"TagResource", url.Values{"ResourceArn": {topic}, "Tags.member.1.Key": {strings.Repeat("k", 129)}, "Tags.member.1.Value": {"v"}}, 400, "InvalidParameter"},
		{"UntagResource", url.Values{"ResourceArn": {topic}}, 400, "InvalidParameter"},
		{"UntagResource", url.Values{"ResourceArn": {missingTopic}, "TagKeys.member.1": {"k"}}, 404, "ResourceNotFound"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageAttributes.entry.1.Name": {"n"},
			"MessageAttributes.entry.1.Value.DataType": {"Number"}, "MessageAttributes.entry.1.Value.StringValue": {"NaN"}}, 400, "ParameterValueInvalid"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageAttributes.entry.1.Name": {"n"},
			"MessageAttributes.entry.1.Value.DataType": {"Number"}, "MessageAttributes.entry.1.Value.StringValue": {"0x10"}}, 400, "ParameterValueInvalid"},
		{"Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageAttributes.entry.1.Name": {"n"},
			"MessageAttributes.entry.1.Value.DataType": {"Number"}, "MessageAttributes.entry.1.Value.StringValue": {"1e127"}}, 400, "ParameterValueInvalid"},
	}
	for _, c := range cases {
		_, err := e.call(c.action, c.params)
		if err == nil {
			t.Fatalf("%s %v: no error", c.action, c.params)
		}
		if ae := MapError(err); ae.Status != c.status || ae.Code != c.code {
			t.Fatalf("%s %v: got %d %s (%v)", c.action, c.params, ae.Status, ae.Code, err)
		}
	}
	for _, n := range []string{"-1.5E+3", "1" + strings.Repeat("0", 60), "0.000" + strings.Repeat("9", 38), ".5", "7."} {
		e.mustCall("Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageAttributes.entry.1.Name": {"n"},
			"MessageAttributes.entry.1.Value.DataType": {"Number.float"}, "MessageAttributes.entry.1.Value.StringValue": {n}})
	}
	_, err = e.call("Publish", url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageAttributes.entry.1.Name": {"n"},
		"MessageAttributes.entry.1.Value.DataType": {"Number"}, "MessageAttributes.entry.1.Value.StringValue": {"1." + strings.Repeat("1", 38)}})
	wantAPIError(t, err, 400, "ParameterValueInvalid") // 39 significant digits

	// Subscribe takes the attribute values SetSubscriptionAttributes takes.
	e.mustCall("Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {sub.srv.URL + "/raw"},
		"Attributes.entry.1.key": {"RawMessageDelivery"}, "Attributes.entry.1.value": {"false"}})
	for _, a := range [][2]string{{"RawMessageDelivery", "1"}, {"Bogus", "x"}, {"FilterPolicy", "[]"}, {"RedrivePolicy", "{}"}} {
		_, err := e.call("Subscribe", url.Values{"TopicArn": {topic}, "Protocol": {"http"}, "Endpoint": {sub.srv.URL + "/raw2"},
			"Attributes.entry.1.key": {a[0]}, "Attributes.entry.1.value": {a[1]}})
		wantAPIError(t, err, 400, "InvalidParameter")
	}

	// Over 50 tags in all.
	many := url.Values{"ResourceArn": {topic}}
	for i := 1; i <= 50; i++ {
		many.Set("Tags.member."+strconv.Itoa(i)+".Key", "k"+strconv.Itoa(i))
		many.Set("Tags.member."+strconv.Itoa(i)+".Value", "v")
	}
	_, err = e.call("TagResource", many)
	wantAPIError(t, err, 400, "TagLimitExceeded")

	// The changes are replicated state: they survive a restart, and the failed
	// TagResource changed nothing.
	e.restart()
	x = resultXML(t, "GetTopicAttributes", e.mustCall("GetTopicAttributes", url.Values{"TopicArn": {topic}}))
	if !strings.Contains(x, "<entry><key>DisplayName</key><value>Ops alerts</value></entry>") {
		t.Fatal(x)
	}
	if got := resultXML(t, "ListTagsForResource", e.mustCall("ListTagsForResource", url.Values{"ResourceArn": {topic}})); got != "<ListTagsForResourceResult><Tags><member><Key>team</Key><Value>sec</Value></member></Tags></ListTagsForResourceResult>" {
		t.Fatal(got)
	}
	// Deleting the topic deletes its tags: a new topic of that name has none.
	e.mustCall("DeleteTopic", url.Values{"TopicArn": {topic}})
	e.mustCall("CreateTopic", url.Values{"Name": {"t"}})
	if got := resultXML(t, "ListTagsForResource", e.mustCall("ListTagsForResource", url.Values{"ResourceArn": {topic}})); got != "<ListTagsForResourceResult><Tags></Tags></ListTagsForResourceResult>" {
		t.Fatal(got)
	}
}

// Publish's limits as botocore's sns model states them: a Subject begins with a letter,
// number or punctuation mark; message attributes count toward the 256 KiB; a
// String.Array is a JSON array of simple values.
func TestPublishValidationLimits(t *testing.T) {
	e := newEnv(t, fast)
	e.mustCall("CreateTopic", url.Values{"Name": {"t"}})
	topic := "arn:aws:sns:us-east-1:111122223333:t"
	attr := func(typ, val string) url.Values {
		return url.Values{"TopicArn": {topic}, "Message": {"m"}, "MessageAttributes.entry.1.Name": {"a"},
			"MessageAttributes.entry.1.Value.DataType": {typ}, "MessageAttributes.entry.1.Value.StringValue": {val}}
	}
	bad := []struct {
		p    url.Values
		code string
	}{
		{url.Values{"TopicArn": {topic}, "Message": {"m"}, "Subject": {" leading space"}}, "InvalidParameter"},
		{url.Values{"TopicArn": {topic}, "Message": {strings.Repeat("m", maxMessage-10)}, "MessageAttributes.entry.1.Name": {"a"},
			"MessageAttributes.entry.1.Value.DataType": {"String"}, "MessageAttributes.entry.1.Value.StringValue": {"0123456789"}}, "InvalidParameter"},
		{attr("String.Array", "not json"), "ParameterValueInvalid"},
		{attr("String.Array", `{"a":1}`), "ParameterValueInvalid"},
		{attr("String.Array", `["a",{"b":1}]`), "ParameterValueInvalid"},
		{attr("String.Array", `null`), "ParameterValueInvalid"},
	}
	for _, c := range bad {
		_, err := e.call("Publish", c.p)
		wantAPIError(t, err, 400, c.code)
	}
	good := []url.Values{
		{"TopicArn": {topic}, "Message": {"m"}, "Subject": {"[alarm] 100% CPU"}},
		{"TopicArn": {topic}, "Message": {strings.Repeat("m", maxMessage-20)}, "MessageAttributes.entry.1.Name": {"a"},
			"MessageAttributes.entry.1.Value.DataType": {"String"}, "MessageAttributes.entry.1.Value.StringValue": {"0123456789"}},
		attr("String.Array", `["a",1,true,null]`),
		attr("String.custom", `anything`),
	}
	for _, p := range good {
		e.mustCall("Publish", p)
	}
}
