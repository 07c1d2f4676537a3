package awsproto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAKID    = "AKIAIOSFODNN7EXAMPLE"
	testSecret  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion  = "eu-west-3"
	testAccount = "111122223333"
)

var testPrincipal = Principal{Account: testAccount, ARN: "arn:aws:iam::111122223333:root", Type: "Root"}

// Temporary credentials: a live session and an expired one.
const (
	testTempAKID    = "ASIAIOSFODNN7EXAMPLE"
	testTempSecret  = "tEmPsEcReT/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testToken       = "FwoGZXIvYXdzEXAMPLE//TOKEN="
	testExpiredAKID = "ASIAEXPIREDEXAMPLE00"
)

var testTempPrincipal = Principal{Account: testAccount, ARN: "arn:aws:sts::111122223333:assumed-role/app/sess",
	Type: "AssumedRole", UserName: "app", SessionToken: testToken, Expires: time.Now().Add(time.Hour),
	MFAAuthenticated: true, Tags: map[string]string{"team": "blue"}, RoleSessionName: "sess"}

func testCreds() StaticCredentials {
	expired := testTempPrincipal
	expired.Expires = time.Now().Add(-time.Second)
	return StaticCredentials{
		testAKID:        {Secret: testSecret, Principal: testPrincipal},
		testTempAKID:    {Secret: testTempSecret, Principal: testTempPrincipal},
		testExpiredAKID: {Secret: testTempSecret, Principal: expired},
	}
}

var errDomain = errors.New("domain: key is disabled")

type echoResp struct {
	Account   string
	ARN       string
	AccessKey string
	Region    string
	Service   string
	Operation string
	RequestID string
	Body      string
}

func echoHandler(_ context.Context, c *Call) (any, error) {
	return echoResp{
		Account: c.Principal.Account, ARN: c.Principal.ARN, AccessKey: c.Principal.AccessKeyID,
		Region: c.Region, Service: c.Service, Operation: c.Operation, RequestID: c.RequestID, Body: string(c.Body),
	}, nil
}

func testService() *JSONService {
	return &JSONService{
		TargetPrefix: "TrentService",
		SigningName:  "kms",
		JSONVersion:  "1.1",
		Operations: map[string]Handler{
			"Echo": echoHandler,
			"ListKeys": func(context.Context, *Call) (any, error) {
				return map[string]any{"Keys": []any{map[string]string{"KeyId": "k1", "KeyArn": "arn:aws:kms:eu-west-3:111122223333:key/k1"}}, "Truncated": false}, nil
			},
			"Domain": func(context.Context, *Call) (any, error) { return nil, errDomain },
			"Unmapped": func(context.Context, *Call) (any, error) {
				return nil, errors.New("secret-ish detail that must not leak")
			},
			"Panic": func(context.Context, *Call) (any, error) { panic("boom") },
			"Nil":   func(context.Context, *Call) (any, error) { return nil, nil },
			"Decode": func(_ context.Context, c *Call) (any, error) {
				in, err := Decode[struct{ KeyId string }](c.Body)
				if err != nil {
					return nil, err
				}
				return map[string]string{"KeyId": in.KeyId}, nil
			},
		},
		MapError: func(err error) *Error {
			if errors.Is(err, errDomain) {
				return Errorf(400, "DisabledException", "key is disabled")
			}
			return nil
		},
	}
}

type testEnv struct {
	srv    *httptest.Server
	router *Router
}

func newEnv(t testing.TB, store CredentialStore) *testEnv {
	t.Helper()
	if store == nil {
		store = testCreds()
	}
	rt := NewRouter(&Verifier{Credentials: store}, testService())
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return &testEnv{srv: srv, router: rt}
}

type signOpts struct {
	akid, secret, token string
	region, service     string
	when                time.Time
	target              string
	extra               http.Header // added before signing
}

// newSignedRequest builds a request the way aws-sdk-go-v2 does for a JSON
// protocol call and signs it with the SDK's v4 signer.
func newSignedRequest(t testing.TB, url string, body []byte, o signOpts) *http.Request {
	t.Helper()
	if o.akid == "" {
		o.akid = testAKID
	}
	if o.secret == "" {
		o.secret = testSecret
	}
	if o.region == "" {
		o.region = testRegion
	}
	if o.service == "" {
		o.service = "kms"
	}
	if o.when.IsZero() {
		o.when = time.Now()
	}
	if o.target == "" {
		o.target = "TrentService.Echo"
	}
	req, err := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", o.target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("Amz-Sdk-Invocation-Id", "3f0a5a6e-6f4e-4a59-9d38-0d1f8f1f2b11")
	req.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	for k, vs := range o.extra {
		req.Header[k] = vs
	}
	sum := sha256Hex(body)
	creds := aws.Credentials{AccessKeyID: o.akid, SecretAccessKey: o.secret, SessionToken: o.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sum, o.service, o.region, o.when); err != nil {
		t.Fatal(err)
	}
	// Unsigned headers a real SDK adds after signing (User-Agent is in the
	// SDK's ignore list anyway).
	req.Header.Set("User-Agent", "aws-sdk-go-v2/1.0 os/linux lang/go#1.26")
	req.Header.Set("X-Amzn-Trace-Id", "Root=1-00000000-000000000000000000000000")
	return req
}

type answer struct {
	status int
	header http.Header
	body   []byte
	Type   string `json:"__type"`
	Msg    string `json:"message"`
}

func do(t testing.TB, req *http.Request) answer {
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
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("response is not JSON: %v: %q", err, b)
	}
	if resp.Header.Get("x-amzn-RequestId") == "" {
		t.Errorf("response without x-amzn-RequestId (status %d)", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" && ct != "application/x-amz-json-1.0" {
		t.Errorf("Content-Type = %q", ct)
	}
	if a.status != http.StatusOK && a.Type == "" {
		t.Errorf("error response without __type: %d %q", a.status, b)
	}
	return a
}

func expectErr(t testing.TB, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.Type != code {
		t.Fatalf("got %d %s %q, want %d %s", a.status, a.Type, a.Msg, status, code)
	}
	if a.header.Get("x-amzn-ErrorType") != code {
		t.Errorf("x-amzn-ErrorType = %q, want %q", a.header.Get("x-amzn-ErrorType"), code)
	}
}
