package awsproto

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

var errNoSuchUser = errors.New("no such user")

type testUser struct {
	Path       string
	UserName   string
	UserId     string
	Arn        string
	CreateDate time.Time
}

func testIAM() *QueryService {
	return &QueryService{
		SigningName:  "iam",
		Version:      "2010-05-08",
		XMLNamespace: iamNS,
		Operations: map[string]Handler{
			"GetUser": func(_ context.Context, c *Call) (any, error) {
				v, err := ParseQuery(c.Body)
				if err != nil {
					return nil, err
				}
				name := v.Get("UserName")
				if name == "missing" {
					return nil, errNoSuchUser
				}
				if name == "" {
					name = c.Principal.UserName
				}
				return &struct{ User testUser }{testUser{Path: "/", UserName: name, UserId: "AIDAEXAMPLE",
					Arn:        "arn:aws:iam::" + c.Principal.Account + ":user/" + name,
					CreateDate: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}}, nil
			},
			"DeleteUser": func(context.Context, *Call) (any, error) { return nil, nil },
			"TagUser": func(_ context.Context, c *Call) (any, error) {
				v, err := ParseQuery(c.Body)
				if err != nil {
					return nil, err
				}
				tags, err := QueryTags(v, "Tags")
				if err != nil {
					return nil, err
				}
				if !reflect.DeepEqual(tags, []Tag{{"a", "1"}, {"b", "<&>"}}) {
					return nil, Errorf(400, "InvalidInput", "tags %v", tags)
				}
				return nil, nil
			},
			"CreateOpenIDConnectProvider": func(_ context.Context, c *Call) (any, error) {
				v, err := ParseQuery(c.Body)
				if err != nil {
					return nil, err
				}
				return struct{ OpenIDConnectProviderArn string }{strings.Join(QueryList(v, "ClientIDList"), ",") +
					"|" + strings.Join(QueryList(v, "ThumbprintList"), ",")}, nil
			},
			"Echo": func(_ context.Context, c *Call) (any, error) {
				return struct {
					Service, Operation, Body, Region, AccessKey string
					Secure                                      bool
				}{c.Service, c.Operation, string(c.Body), c.Region, c.Principal.AccessKeyID, c.SecureTransport}, nil
			},
			"Panic": func(context.Context, *Call) (any, error) { panic("boom") },
			"BadResult": func(context.Context, *Call) (any, error) {
				return map[string]string{"a": "b"}, nil
			},
		},
		MapError: func(err error) *Error {
			if errors.Is(err, errNoSuchUser) {
				return Errorf(404, "NoSuchEntity", "The user with name missing cannot be found.")
			}
			return nil
		},
	}
}

func testSTS() *QueryService {
	return &QueryService{
		SigningName:  "sts",
		Version:      "2011-06-15",
		XMLNamespace: stsNS,
		Operations: map[string]Handler{
			"GetCallerIdentity": func(_ context.Context, c *Call) (any, error) {
				return struct{ UserId, Account, Arn string }{c.Principal.AccessKeyID, c.Principal.Account, c.Principal.ARN}, nil
			},
		},
	}
}

func newQueryEnv(t testing.TB) *testEnv {
	t.Helper()
	rt := NewRouter(&Verifier{Credentials: testCreds()}, testService()).AddQuery(testIAM(), testSTS())
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return &testEnv{srv: srv, router: rt}
}

// newQueryRequest builds a form-encoded query-protocol POST as the SDKs do
// and signs it (service "iam" unless o.service says otherwise).
func newQueryRequest(t testing.TB, base, form string, o signOpts) *http.Request {
	t.Helper()
	if o.service == "" {
		o.service = "iam"
	}
	req, err := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	for k, vs := range o.extra {
		req.Header[k] = vs
	}
	return signQuery(t, req, []byte(form), o)
}

func signQuery(t testing.TB, req *http.Request, body []byte, o signOpts) *http.Request {
	t.Helper()
	if o.akid == "" {
		o.akid, o.secret = testAKID, testSecret
	}
	if o.region == "" {
		o.region = "us-east-1"
	}
	if o.service == "" {
		o.service = "iam"
	}
	if o.when.IsZero() {
		o.when = time.Now()
	}
	creds := aws.Credentials{AccessKeyID: o.akid, SecretAccessKey: o.secret, SessionToken: o.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(body), o.service, o.region, o.when); err != nil {
		t.Fatal(err)
	}
	return req
}

type xmlAnswer struct {
	status int
	header http.Header
	body   []byte
	err    struct {
		XMLName xml.Name
		Error   struct{ Type, Code, Message string }
		ReqID   string `xml:"RequestId"`
	}
}

func doXML(t testing.TB, req *http.Request) xmlAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := xmlAnswer{status: resp.StatusCode, header: resp.Header, body: b}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type = %q (%s)", ct, b)
	}
	rid := resp.Header.Get("x-amzn-RequestId")
	if rid == "" {
		t.Errorf("no x-amzn-RequestId")
	}
	if a.status != 200 {
		if err := xml.Unmarshal(b, &a.err); err != nil {
			t.Fatalf("error is not XML: %v: %q", err, b)
		}
		if a.err.XMLName.Local != "ErrorResponse" || a.err.ReqID != rid || a.err.Error.Code == "" || a.err.Error.Message == "" {
			t.Fatalf("bad error shape: %s", b)
		}
		wantType := "Sender"
		if a.status >= 500 {
			wantType = "Receiver"
		}
		if a.err.Error.Type != wantType {
			t.Errorf("Type %q for %d", a.err.Error.Type, a.status)
		}
	}
	return a
}

func expectXMLErr(t testing.TB, a xmlAnswer, status int, code, msg string) {
	t.Helper()
	if a.status != status || a.err.Error.Code != code {
		t.Fatalf("got %d %s %q, want %d %s", a.status, a.err.Error.Code, a.err.Error.Message, status, code)
	}
	if !strings.Contains(a.err.Error.Message, msg) {
		t.Errorf("message %q does not contain %q", a.err.Error.Message, msg)
	}
}

func TestQuerySuccess(t *testing.T) {
	env := newQueryEnv(t)
	a := doXML(t, newQueryRequest(t, env.srv.URL, "Action=GetUser&Version=2010-05-08&UserName=alice", signOpts{}))
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var got struct {
		XMLName xml.Name
		Result  struct {
			User testUser
		} `xml:"GetUserResult"`
		Meta struct{ RequestId string } `xml:"ResponseMetadata"`
	}
	if err := xml.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.XMLName != (xml.Name{Space: iamNS, Local: "GetUserResponse"}) || got.Meta.RequestId != a.header.Get("x-amzn-RequestId") ||
		got.Result.User.UserName != "alice" || got.Result.User.Arn != "arn:aws:iam::111122223333:user/alice" ||
		!got.Result.User.CreateDate.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("%+v\n%s", got, a.body)
	}

	// nil result: only ResponseMetadata.
	a = doXML(t, newQueryRequest(t, env.srv.URL, "Action=DeleteUser&Version=2010-05-08&UserName=alice", signOpts{}))
	want := `<DeleteUserResponse xmlns="` + iamNS + `"><ResponseMetadata><RequestId>` + a.header.Get("x-amzn-RequestId") +
		`</RequestId></ResponseMetadata></DeleteUserResponse>`
	if a.status != 200 || string(a.body) != want {
		t.Fatalf("%d %s", a.status, a.body)
	}

	// STS is routed by the credential scope.
	a = doXML(t, newQueryRequest(t, env.srv.URL, "Action=GetCallerIdentity&Version=2011-06-15", signOpts{service: "sts"}))
	var id struct {
		XMLName xml.Name
		R       struct{ UserId, Account, Arn string } `xml:"GetCallerIdentityResult"`
	}
	if err := xml.Unmarshal(a.body, &id); err != nil || a.status != 200 {
		t.Fatalf("%v %d %s", err, a.status, a.body)
	}
	if id.XMLName.Space != stsNS || id.R.Account != testAccount || id.R.Arn != testPrincipal.ARN || id.R.UserId != testAKID {
		t.Fatalf("%+v", id)
	}

	// Echo: what the handler sees.
	a = doXML(t, newQueryRequest(t, env.srv.URL, "Action=Echo&Version=2010-05-08&X=%3C1%3E", signOpts{}))
	var echo struct {
		R struct {
			Service, Operation, Body, Region, AccessKey string
			Secure                                      bool
		} `xml:"EchoResult"`
	}
	if err := xml.Unmarshal(a.body, &echo); err != nil {
		t.Fatal(err)
	}
	if echo.R.Service != "iam" || echo.R.Operation != "Echo" || echo.R.Body != "Action=Echo&Version=2010-05-08&X=%3C1%3E" ||
		echo.R.Region != "us-east-1" || echo.R.AccessKey != testAKID || echo.R.Secure {
		t.Fatalf("%+v", echo.R)
	}

	// JSON services are unaffected.
	if a := do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{})); a.status != 200 {
		t.Fatalf("JSON: %d %s", a.status, a.body)
	}
}

func TestQueryURLParameters(t *testing.T) {
	env := newQueryEnv(t)
	// GET with everything in the URL.
	req, _ := http.NewRequest(http.MethodGet, env.srv.URL+"/?Action=GetUser&Version=2010-05-08&UserName=bob", nil)
	a := doXML(t, signQuery(t, req, nil, signOpts{}))
	if a.status != 200 || !bytes.Contains(a.body, []byte("<UserName>bob</UserName>")) {
		t.Fatalf("GET: %d %s", a.status, a.body)
	}
	// POST with Action/Version in the URL, the rest in the body.
	req, _ = http.NewRequest(http.MethodPost, env.srv.URL+"/?Action=GetUser&Version=2010-05-08", strings.NewReader("UserName=carol"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a = doXML(t, signQuery(t, req, []byte("UserName=carol"), signOpts{}))
	if a.status != 200 || !bytes.Contains(a.body, []byte("<UserName>carol</UserName>")) {
		t.Fatalf("POST+URL: %d %s", a.status, a.body)
	}
	// A parameter in both places is ambiguous.
	req, _ = http.NewRequest(http.MethodPost, env.srv.URL+"/?Action=GetUser&Version=2010-05-08", strings.NewReader("Action=DeleteUser"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	expectXMLErr(t, doXML(t, signQuery(t, req, []byte("Action=DeleteUser"), signOpts{})), 400, CodeMalformedQueryString, "more than once")
	// The URL query string is signed.
	req, _ = http.NewRequest(http.MethodGet, env.srv.URL+"/?Action=GetUser&Version=2010-05-08&UserName=bob", nil)
	req = signQuery(t, req, nil, signOpts{})
	req.URL.RawQuery = "Action=DeleteUser&Version=2010-05-08&UserName=bob"
	expectXMLErr(t, doXML(t, req), 403, CodeSignatureDoesNotMatch, "does not match")
}

func TestQueryErrors(t *testing.T) {
	env := newQueryEnv(t)
	var internal []error
	env.router.InternalError = func(_ *Call, err error) { internal = append(internal, err) }
	cases := []struct {
		name, form string
		o          signOpts
		status     int
		code, msg  string
	}{
		{"missing action", "Version=2010-05-08", signOpts{}, 400, CodeMissingAction, "Missing Action"},
		{"empty action", "Action=&Version=2010-05-08", signOpts{}, 400, CodeMissingAction, "Missing Action"},
		{"unknown action", "Action=NoSuchOp&Version=2010-05-08", signOpts{}, 400, CodeInvalidAction,
			"Could not find operation NoSuchOp for version 2010-05-08"},
		{"other service's action", "Action=GetCallerIdentity&Version=2010-05-08", signOpts{}, 400, CodeInvalidAction,
			"Could not find operation GetCallerIdentity for version 2010-05-08"},
		{"wrong version", "Action=GetUser&Version=2011-06-15", signOpts{}, 400, CodeInvalidAction,
			"Could not find operation GetUser for version 2011-06-15"},
		{"missing version", "Action=GetUser", signOpts{}, 400, CodeInvalidAction,
			"Could not find operation GetUser for version NO_VERSION_SPECIFIED"},
		{"bad escape", "Action=GetUser&Version=2010-05-08&UserName=%zz", signOpts{}, 400, CodeMalformedQueryString, "escape"},
		{"domain error", "Action=GetUser&Version=2010-05-08&UserName=missing", signOpts{}, 404, "NoSuchEntity", "cannot be found"},
		{"panic", "Action=Panic&Version=2010-05-08", signOpts{}, 500, CodeInternalFailure, "unknown error"},
		{"unencodable result", "Action=BadResult&Version=2010-05-08", signOpts{}, 500, CodeInternalFailure, "unknown error"},
		{"bad tags", "Action=TagUser&Version=2010-05-08&Tags.member.1.Key=a", signOpts{}, 400, CodeValidationError,
			"'tags.1.member.value'"},
		{"unknown scope service", "Action=GetUser&Version=2010-05-08", signOpts{service: "sqs"}, 400, CodeUnknownOperation, "'sqs'"},
		{"wrong secret", "Action=GetUser&Version=2010-05-08", signOpts{akid: testAKID, secret: "x"}, 403,
			CodeSignatureDoesNotMatch, "does not match the signature you provided"},
		{"unknown key", "Action=GetUser&Version=2010-05-08", signOpts{akid: "AKIAUNKNOWN000000000", secret: "x"}, 403,
			CodeInvalidClientTokenID, "The security token included in the request is invalid."},
		{"signature expired", "Action=GetUser&Version=2010-05-08", signOpts{when: time.Now().Add(-time.Hour)}, 403,
			CodeSignatureDoesNotMatch, "Signature expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := doXML(t, newQueryRequest(t, env.srv.URL, tc.form, tc.o))
			expectXMLErr(t, a, tc.status, tc.code, tc.msg)
			ns := iamNS
			if tc.o.service == "sqs" {
				ns = ""
			}
			if a.err.XMLName.Space != ns {
				t.Errorf("namespace %q", a.err.XMLName.Space)
			}
		})
	}
	if len(internal) != 2 {
		t.Errorf("InternalError calls: %v", internal)
	}

	// Authentication failures.
	r := newQueryRequest(t, env.srv.URL, "Action=GetUser&Version=2010-05-08", signOpts{})
	r.Header.Del("Authorization")
	expectXMLErr(t, doXML(t, r), 403, CodeQueryMissingAuthenticationToken, "Request is missing Authentication Token")
	r = newQueryRequest(t, env.srv.URL, "Action=GetUser&Version=2010-05-08", signOpts{})
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=", "SignedHeaders=x;", 1)+", Foo=bar")
	expectXMLErr(t, doXML(t, r), 400, CodeQueryIncompleteSignature, "Unknown parameter 'Foo'")
	r = newQueryRequest(t, env.srv.URL, "Action=GetUser&Version=2010-05-08", signOpts{})
	r.Body, r.ContentLength = nopBody([]byte("Action=DeleteUser&Version=2010")), int64(len("Action=DeleteUser&Version=2010"))
	expectXMLErr(t, doXML(t, r), 403, CodeSignatureDoesNotMatch, "does not match")
	env.router.MaxBodyBytes = 16
	expectXMLErr(t, doXML(t, newQueryRequest(t, env.srv.URL, "Action=GetUser&Version=2010-05-08", signOpts{})),
		413, CodeRequestEntityTooLarge, "maximum size")
}

func TestTemporaryCredentialsQuery(t *testing.T) {
	env := newQueryEnv(t)
	form := "Action=GetCallerIdentity&Version=2011-06-15"
	temp := signOpts{akid: testTempAKID, secret: testTempSecret, token: testToken, service: "sts"}
	a := doXML(t, newQueryRequest(t, env.srv.URL, form, temp))
	if a.status != 200 || !bytes.Contains(a.body, []byte("assumed-role/app/sess")) {
		t.Fatalf("%d %s", a.status, a.body)
	}
	invalid := "The security token included in the request is invalid."
	wrong := temp
	wrong.token = "nope"
	expectXMLErr(t, doXML(t, newQueryRequest(t, env.srv.URL, form, wrong)), 403, CodeInvalidClientTokenID, invalid)
	missing := temp
	missing.token = ""
	expectXMLErr(t, doXML(t, newQueryRequest(t, env.srv.URL, form, missing)), 403, CodeInvalidClientTokenID, invalid)
	longTerm := signOpts{token: testToken, service: "sts"}
	expectXMLErr(t, doXML(t, newQueryRequest(t, env.srv.URL, form, longTerm)), 403, CodeInvalidClientTokenID, invalid)
	expired := temp
	expired.akid = testExpiredAKID
	a = doXML(t, newQueryRequest(t, env.srv.URL, form, expired))
	expectXMLErr(t, a, 400, CodeExpiredToken, "The security token included in the request is expired")
	if a.err.XMLName.Space != stsNS {
		t.Errorf("namespace %q", a.err.XMLName.Space)
	}
}

// Without query services, form requests keep the JSON protocol's answers.
func TestQueryNotRegistered(t *testing.T) {
	env := newEnv(t, nil)
	r := newQueryRequest(t, env.srv.URL, "Action=GetUser&Version=2010-05-08", signOpts{service: "kms"})
	expectErr(t, do(t, r), 400, CodeUnknownOperation)
}

func TestAddQueryPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"nil":          func() { NewRouter(&Verifier{}).AddQuery(nil) },
		"no version":   func() { NewRouter(&Verifier{}).AddQuery(&QueryService{SigningName: "iam", XMLNamespace: iamNS}) },
		"no namespace": func() { NewRouter(&Verifier{}).AddQuery(&QueryService{SigningName: "iam", Version: "v"}) },
		"duplicate":    func() { NewRouter(&Verifier{}).AddQuery(testIAM(), testIAM()) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}

func TestParseQuery(t *testing.T) {
	v, err := ParseQuery([]byte("Action=ListUsers&PathPrefix=%2Fa+b%2F&&Empty=&Flag"))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"Action": {"ListUsers"}, "PathPrefix": {"/a b/"}, "Empty": {""}, "Flag": {""}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("%v", v)
	}
	for _, bad := range []string{"a=%", "a=%zz", "a=1;b=2", "%ff=1", "a=%C3%28", "=x", "a=1&a=1", "a=1&a=2"} {
		_, err := ParseQuery([]byte(bad))
		var e *Error
		if !errors.As(err, &e) || e.Status != 400 || e.Code != CodeMalformedQueryString {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if v, err := ParseQuery(nil); err != nil || len(v) != 0 {
		t.Errorf("empty: %v %v", v, err)
	}
}

func TestQueryList(t *testing.T) {
	v, _ := ParseQuery([]byte("L.member.3=c&L.member.1=a&L.member.2=b&L.member.5=e&M=&N.member.2=x"))
	if got := QueryList(v, "L"); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("L: %q", got)
	}
	if got := QueryList(v, "M"); got != nil {
		t.Errorf("empty list: %q", got)
	}
	if got := QueryList(v, "N"); got != nil {
		t.Errorf("list without member.1: %q", got)
	}
	if got := QueryList(v, "Absent"); got != nil {
		t.Errorf("absent: %q", got)
	}
	// Long lists keep their numeric order (10 after 9, not after 1).
	var form []string
	for i := 200; i >= 1; i-- {
		form = append(form, "L.member."+strconv.Itoa(i)+"="+strconv.Itoa(i))
	}
	v, _ = ParseQuery([]byte(strings.Join(form, "&")))
	got := QueryList(v, "L")
	if len(got) != 200 {
		t.Fatalf("%d members", len(got))
	}
	for i, s := range got {
		if s != strconv.Itoa(i+1) {
			t.Fatalf("member %d = %q", i+1, s)
		}
	}
}

func TestQueryTagsAndMap(t *testing.T) {
	v, _ := ParseQuery([]byte("Tags.member.2.Key=b&Tags.member.2.Value=&Tags.member.1.Value=1&Tags.member.1.Key=a&Tags.member.4.Key=z&Tags.member.4.Value=z"))
	tags, err := QueryTags(v, "Tags")
	if err != nil || !reflect.DeepEqual(tags, []Tag{{"a", "1"}, {"b", ""}}) {
		t.Fatalf("%v %v", tags, err)
	}
	if tags, err := QueryTags(v, "None"); err != nil || tags != nil {
		t.Fatalf("absent: %v %v", tags, err)
	}
	v, _ = ParseQuery([]byte("Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.2.Value=2"))
	if _, err := QueryTags(v, "Tags"); err == nil || err.(*Error).Code != CodeValidationError ||
		!strings.Contains(err.Error(), "'tags.2.member.key'") {
		t.Fatalf("missing key: %v", err)
	}

	v, _ = ParseQuery([]byte("Ctx.entry.1.key=k1&Ctx.entry.1.value=v1&Ctx.entry.2.key=k2&Ctx.entry.2.value=v2"))
	m, err := QueryMap(v, "Ctx")
	if err != nil || !reflect.DeepEqual(m, map[string]string{"k1": "v1", "k2": "v2"}) {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"Ctx.entry.1.key=k", "Ctx.entry.1.value=v", "Ctx.entry.1.key=k&Ctx.entry.1.value=1&Ctx.entry.2.key=k&Ctx.entry.2.value=2"} {
		v, _ := ParseQuery([]byte(bad))
		if _, err := QueryMap(v, "Ctx"); err == nil || err.(*Error).Code != CodeValidationError {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if m, err := QueryMap(url.Values{}, "Ctx"); m != nil || err != nil {
		t.Errorf("absent: %v %v", m, err)
	}
}
