package awsproto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func nopBody(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

func TestUnknownOperation(t *testing.T) {
	env := newEnv(t, nil)
	for _, target := range []string{"TrentService.NoSuchOp", "NoSuchService.Echo", "TrentService", "TrentService.", ".Echo", ""} {
		t.Run(target, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/", strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			if target != "" {
				req.Header.Set("X-Amz-Target", target)
			}
			a := do(t, signPlain(t, req, []byte("{}")))
			expectErr(t, a, 400, CodeUnknownOperation)
			if a.Msg == "" {
				t.Error("empty message")
			}
		})
	}
}

// signPlain signs req as is with the test credentials.
func signPlain(t testing.TB, req *http.Request, body []byte) *http.Request {
	t.Helper()
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(body), "kms", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestUnauthenticatedUnknownOperation(t *testing.T) {
	env := newEnv(t, nil)
	r := newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{target: "TrentService.NoSuchOp"})
	r.Header.Del("Authorization")
	expectErr(t, do(t, r), 400, CodeMissingAuthenticationToken)
	r = newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{target: "Nope.NoSuchOp", secret: "bad"})
	expectErr(t, do(t, r), 400, CodeInvalidSignature)
}

func TestMethodNotAllowed(t *testing.T) {
	env := newEnv(t, nil)
	req, _ := http.NewRequest(http.MethodGet, env.srv.URL+"/", nil)
	a := do(t, req)
	expectErr(t, a, 405, CodeMethodNotAllowed)
	if a.header.Get("Allow") != "POST" {
		t.Errorf("Allow = %q", a.header.Get("Allow"))
	}
}

func TestOversizedBody(t *testing.T) {
	env := newEnv(t, nil)
	env.router.MaxBodyBytes = 64
	body := []byte(`{"Plaintext":"` + strings.Repeat("A", 100) + `"}`)
	expectErr(t, do(t, newSignedRequest(t, env.srv.URL, body, signOpts{})), 413, CodeRequestEntityTooLarge)
	// Chunked (no Content-Length): caught while reading.
	r := newSignedRequest(t, env.srv.URL, body, signOpts{})
	r.ContentLength = -1
	r.Body = io.NopCloser(bytes.NewReader(body))
	expectErr(t, do(t, r), 413, CodeRequestEntityTooLarge)
	// Exactly at the limit is fine.
	body = []byte(`{"Plaintext":"` + strings.Repeat("A", 64-16) + `"}`)
	if len(body) != 64 {
		t.Fatal(len(body))
	}
	if a := do(t, newSignedRequest(t, env.srv.URL, body, signOpts{})); a.status != 200 {
		t.Fatalf("status %d %s", a.status, a.body)
	}
}

func TestHandlerErrors(t *testing.T) {
	env := newEnv(t, nil)
	var mu sync.Mutex
	var internal []error
	env.router.InternalError = func(c *Call, err error) {
		mu.Lock()
		defer mu.Unlock()
		internal = append(internal, err)
	}
	a := do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{target: "TrentService.Domain"}))
	expectErr(t, a, 400, "DisabledException")
	if a.Msg != "key is disabled" {
		t.Errorf("message %q", a.Msg)
	}
	a = do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{target: "TrentService.Unmapped"}))
	expectErr(t, a, 500, CodeInternalFailure)
	if strings.Contains(string(a.body), "secret-ish") {
		t.Errorf("internal error leaked: %s", a.body)
	}
	expectErr(t, do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{target: "TrentService.Panic"})), 500, CodeInternalFailure)
	mu.Lock()
	if len(internal) != 2 || !strings.Contains(internal[0].Error(), "secret-ish") || !strings.Contains(internal[1].Error(), "boom") {
		t.Errorf("InternalError got %v", internal)
	}
	mu.Unlock()

	a = do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{target: "TrentService.Nil"}))
	if a.status != 200 || string(a.body) != "{}" {
		t.Errorf("nil response: %d %q", a.status, a.body)
	}
	a = do(t, newSignedRequest(t, env.srv.URL, []byte(`{"KeyId":7}`), signOpts{target: "TrentService.Decode"}))
	expectErr(t, a, 400, CodeSerialization)
	if !strings.Contains(a.Msg, "KeyId") {
		t.Errorf("message does not name the field: %q", a.Msg)
	}
	a = do(t, newSignedRequest(t, env.srv.URL, []byte(`{"KeyId":"k","NewField":[1]}`), signOpts{target: "TrentService.Decode"}))
	if a.status != 200 || string(a.body) != `{"KeyId":"k"}` {
		t.Errorf("unknown field: %d %q", a.status, a.body)
	}
	a = do(t, newSignedRequest(t, env.srv.URL, nil, signOpts{target: "TrentService.Decode"}))
	if a.status != 200 || string(a.body) != `{"KeyId":""}` {
		t.Errorf("empty body: %d %q", a.status, a.body)
	}
}

func TestObserve(t *testing.T) {
	env := newEnv(t, nil)
	type obs struct {
		c      Call
		status int
		code   string
		resp   any
	}
	var mu sync.Mutex
	var got []obs
	env.router.Observe = func(c *Call, status int, code, msg string, resp any) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, obs{*c, status, code, resp})
	}
	before := time.Now()
	ok := do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{}))
	do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{secret: "wrong"}))
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d observations", len(got))
	}
	for _, o := range got { // Received is set, for latency metrics
		if o.c.Received.Before(before) || o.c.Received.After(time.Now()) {
			t.Errorf("Received %v", o.c.Received)
		}
	}
	if o := got[0]; o.status != 200 || o.code != "" || o.c.Operation != "Echo" || o.c.Service != "kms" ||
		o.c.Principal.AccessKeyID != testAKID || o.c.RequestID != ok.header.Get("x-amzn-RequestId") || o.resp == nil || o.c.SourceIP != "127.0.0.1" {
		t.Errorf("accepted: %+v", o)
	}
	if o := got[1]; o.status != 400 || o.code != CodeInvalidSignature || o.c.Principal.AccessKeyID != "" || o.c.Principal.ARN != "" || o.c.Operation != "Echo" {
		t.Errorf("refused: %+v", o)
	}
}

// TestRecordBeforeAnswer: Record runs before the answer is written, and an accepted
// request whose record fails is answered 500 instead of with its result.
func TestRecordBeforeAnswer(t *testing.T) {
	env := newEnv(t, nil)
	var mu sync.Mutex
	var recorded []string
	fail := false
	env.router.Record = func(c *Call, status int, code, msg string, resp any) error {
		mu.Lock()
		defer mu.Unlock()
		recorded = append(recorded, fmt.Sprintf("%s %d %s", c.Operation, status, code))
		if fail {
			return errors.New("disk full")
		}
		return nil
	}
	answered := false
	env.router.Observe = func(*Call, int, string, string, any) {
		mu.Lock()
		defer mu.Unlock()
		answered = true
		if len(recorded) == 0 {
			t.Error("Observe (after the answer) ran before Record")
		}
	}
	if a := do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{})); a.status != 200 {
		t.Fatalf("accepted: %d %s", a.status, a.body)
	}
	expectErr(t, do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{secret: "wrong"})), 400, CodeInvalidSignature)
	mu.Lock()
	fail = true
	mu.Unlock()
	expectErr(t, do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{})), 500, CodeInternalFailure)
	mu.Lock()
	defer mu.Unlock()
	if !answered || len(recorded) < 3 || recorded[0] != "Echo 200 " || recorded[1] != "Echo 400 "+CodeInvalidSignature {
		t.Fatalf("records: %q", recorded)
	}
}

func TestJSON10Service(t *testing.T) {
	svc := &JSONService{TargetPrefix: "DynamoDB_20120810", SigningName: "dynamodb", JSONVersion: "1.0",
		Operations: map[string]Handler{"ListTables": func(context.Context, *Call) (any, error) {
			return map[string][]string{"TableNames": {}}, nil
		}}}
	srv := httptest.NewServer(NewRouter(&Verifier{Credentials: testCreds()}, testService(), svc))
	defer srv.Close()
	r := newSignedRequest(t, srv.URL, []byte(`{}`), signOpts{target: "DynamoDB_20120810.ListTables", service: "dynamodb"})
	a := do(t, r)
	if a.status != 200 || a.header.Get("Content-Type") != "application/x-amz-json-1.0" {
		t.Fatalf("%d %s %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	// Signed for kms, sent to dynamodb.
	r = newSignedRequest(t, srv.URL, []byte(`{}`), signOpts{target: "DynamoDB_20120810.ListTables", service: "kms"})
	expectErr(t, do(t, r), 400, CodeInvalidSignature)
}

func TestNewRouterPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"nil verifier": func() { NewRouter(nil) },
		"no prefix":    func() { NewRouter(&Verifier{}, &JSONService{SigningName: "kms"}) },
		"bad version":  func() { NewRouter(&Verifier{}, &JSONService{TargetPrefix: "A", SigningName: "a", JSONVersion: "2"}) },
		"duplicate":    func() { NewRouter(&Verifier{}, testService(), testService()) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestDecode(t *testing.T) {
	type in struct {
		KeyId      string
		Plaintext  []byte
		Count      int32
		Context    map[string]string
		GrantFlags []string
	}
	for _, tc := range []struct {
		body, msg string
	}{
		{`{`, "Malformed JSON"},
		{`{"KeyId":"a"} x`, "Malformed JSON"},
		{`{"KeyId":1}`, "Field 'KeyId' must be a JSON string, not a JSON number"},
		{`{"Plaintext":"%%%"}`, "not valid base64"},
		{`{"Count":99999999999}`, "Field 'Count' must be a JSON integer"},
		{`{"Context":{"a":1}}`, "Context"},
		{`{"GrantFlags":"x"}`, "Field 'GrantFlags' must be a JSON array"},
		{`[1]`, "must be a JSON object"},
		{`"str"`, "must be a JSON object"},
	} {
		_, err := Decode[in]([]byte(tc.body))
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeSerialization || e.Status != 400 || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: got %v, want SerializationException containing %q", tc.body, err, tc.msg)
		}
		if strings.Contains(e.Message, "99999999999") {
			t.Errorf("message echoes input: %q", e.Message)
		}
	}
	v, err := Decode[in]([]byte(`{"KeyId":"k","Plaintext":"aGk=","Unknown":{"x":[1,2]}}`))
	if err != nil || v.KeyId != "k" || string(v.Plaintext) != "hi" {
		t.Fatalf("%+v %v", v, err)
	}
	if _, err := Decode[in]([]byte("  \n")); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode[in]([]byte("null")); err != nil {
		t.Fatal(err)
	}
	// An *Error from a custom UnmarshalJSON passes through.
	if _, err := Decode[struct{ S spec }]([]byte(`{"S":"BAD"}`)); err == nil || err.(*Error).Code != "ValidationException" {
		t.Fatalf("custom error: %v", err)
	}
}

type spec string

func (s *spec) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v != "SYMMETRIC_DEFAULT" {
		return Errorf(400, "ValidationException", "invalid KeySpec")
	}
	*s = spec(v)
	return nil
}

// The Router requires X-Amz-Target to be signed: otherwise a captured request
// could be replayed as another operation.
func TestTargetMustBeSigned(t *testing.T) {
	env := newEnv(t, nil)
	req, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req = signPlain(t, req, []byte("{}"))
	req.Header.Set("X-Amz-Target", "TrentService.Echo")
	a := do(t, req)
	expectErr(t, a, 400, CodeIncompleteSignature)
	if !strings.Contains(a.Msg, "'X-Amz-Target' must be a 'SignedHeader'") {
		t.Errorf("message %q", a.Msg)
	}
}

// TestExpectAnnouncements: every request is announced before its Record call;
// an announcement is settled exactly once, by the Record hook that takes it or
// by the Router when the hook does not, also when Record runs twice (a failed
// record answered 500).
func TestExpectAnnouncements(t *testing.T) {
	env := newEnv(t, nil)
	var mu sync.Mutex
	outstanding, takenBack, taken := 0, 0, 0
	take, fail := true, false
	env.router.Expect = func(n int) {
		mu.Lock()
		defer mu.Unlock()
		outstanding += n
		if n < 0 {
			takenBack++
		}
	}
	env.router.Record = func(c *Call, status int, code, msg string, resp any) error {
		mu.Lock()
		defer mu.Unlock()
		if take && c.TakeAnnouncement() {
			if outstanding < 1 {
				t.Errorf("Record for %s %d took an announcement never made", c.Operation, status)
			}
			outstanding--
			taken++
			if c.TakeAnnouncement() {
				t.Error("an announcement taken twice")
			}
		}
		if fail {
			return errors.New("disk full")
		}
		return nil
	}
	set := func(tk, fl bool) { mu.Lock(); take, fail = tk, fl; mu.Unlock() }
	check := func(wantTaken, wantBack int) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if outstanding != 0 || taken != wantTaken || takenBack != wantBack {
			t.Fatalf("outstanding %d, taken by Record %d (want %d), taken back %d (want %d)", outstanding, taken, wantTaken, takenBack, wantBack)
		}
	}
	do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{}))
	expectErr(t, do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{secret: "wrong"})), 400, CodeInvalidSignature)
	check(2, 0)
	set(true, true)
	expectErr(t, do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{})), 500, CodeInternalFailure)
	check(3, 0)
	set(false, false) // a hook that does not settle: the Router takes it back
	do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{}))
	check(3, 1)
}

// TestRecordSeesClaimedAccessKey: a request refused by verification reaches Record with
// the access key id it claimed (for the audit trail) and no principal; a verified one has
// none; an id without an access key's shape is not passed on.
func TestRecordSeesClaimedAccessKey(t *testing.T) {
	env := newEnv(t, nil)
	var mu sync.Mutex
	var calls []Call
	env.router.Record = func(c *Call, _ int, _, _ string, _ any) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, Call{Principal: c.Principal, ClaimedAccessKeyID: c.ClaimedAccessKeyID})
		return nil
	}
	for _, tc := range []struct {
		o           signOpts
		wantClaimed string
		wantCode    string
	}{
		{signOpts{akid: "AKIAUNKNOWNEXAMPLE00"}, "AKIAUNKNOWNEXAMPLE00", CodeUnrecognizedClient},
		{signOpts{secret: "wrong-secret"}, testAKID, CodeInvalidSignature},
		{signOpts{akid: "short"}, "", CodeUnrecognizedClient},
		{signOpts{}, "", ""},
	} {
		calls = nil
		a := do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), tc.o))
		if a.Type != tc.wantCode {
			t.Fatalf("%+v: answered %d %s", tc.o, a.status, a.Type)
		}
		if len(calls) != 1 || calls[0].ClaimedAccessKeyID != tc.wantClaimed {
			t.Fatalf("%+v: Record saw %+v, want claimed %q", tc.o, calls, tc.wantClaimed)
		}
		if tc.wantCode != "" && calls[0].Principal.ARN != "" {
			t.Fatalf("a refused request has a principal: %+v", calls[0].Principal)
		}
	}
}

// A query request refused by SigV4 is recorded with the service its credential scope
// names (when served here) and its Action, so that the trail says what was attempted.
func TestRecordSeesClaimedQueryOperation(t *testing.T) {
	env := newQueryEnv(t)
	var mu sync.Mutex
	var seen []string
	env.router.Record = func(c *Call, status int, code, _ string, _ any) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%s %s %d %s", c.Service, c.Operation, status, c.ClaimedAccessKeyID))
		return nil
	}
	for _, tc := range []struct {
		form string
		o    signOpts
		want string
	}{
		{"Action=GetUser&Version=2010-05-08", signOpts{akid: testAKID, secret: "wrong-secret"}, "iam GetUser 403 " + testAKID},
		{"Action=GetCallerIdentity&Version=2011-06-15", signOpts{akid: testAKID, service: "sts", secret: "wrong-secret"}, "sts GetCallerIdentity 403 " + testAKID},
		{"Action=GetUser&Version=2010-05-08", signOpts{akid: testAKID, service: "nosuchservice", secret: "wrong-secret"}, "  403 " + testAKID},
	} {
		seen = nil
		req := newQueryRequest(t, env.srv.URL, tc.form, tc.o)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		mu.Lock()
		if len(seen) != 1 || seen[0] != tc.want {
			t.Errorf("%s as %s: recorded %q, want %q", tc.form, tc.o.service, seen, tc.want)
		}
		mu.Unlock()
	}
}
