package awsproto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestValidRequest(t *testing.T) {
	env := newEnv(t, nil)
	body := []byte(`{"KeyId":"alias/x"}`)
	a := do(t, newSignedRequest(t, env.srv.URL, body, signOpts{}))
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var got echoResp
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	want := echoResp{Account: testAccount, ARN: testPrincipal.ARN, AccessKey: testAKID, Region: testRegion,
		Service: "kms", Operation: "Echo", RequestID: a.header.Get("x-amzn-RequestId"), Body: string(body)}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestSessionTokenSigned(t *testing.T) {
	env := newEnv(t, nil)
	temp := signOpts{akid: testTempAKID, secret: testTempSecret, token: testToken}
	req := newSignedRequest(t, env.srv.URL, []byte(`{}`), temp)
	if !strings.Contains(req.Header.Get("Authorization"), "x-amz-security-token") {
		t.Fatal("signer did not sign the session token")
	}
	if a := do(t, req); a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
}

func TestTemporaryCredentialsJSON(t *testing.T) {
	env := newEnv(t, nil)
	var got Principal
	env.router.Observe = func(c *Call, status int, _, _ string, _ any) {
		if status == 200 {
			got = c.Principal
		}
	}
	temp := signOpts{akid: testTempAKID, secret: testTempSecret, token: testToken}
	if a := do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), temp)); a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	if got.SessionToken != "" || !got.Temporary || got.Tags["team"] != "blue" || !got.MFAAuthenticated ||
		got.UserName != "app" || got.RoleSessionName != "sess" || got.AccessKeyID != testTempAKID {
		t.Fatalf("principal %+v", got)
	}

	invalid := "The security token included in the request is invalid."
	cases := []struct {
		name       string
		req        func() *http.Request
		code, want string
	}{
		{"wrong token (signed)", func() *http.Request {
			o := temp
			o.token = testToken + "x"
			return newSignedRequest(t, env.srv.URL, []byte(`{}`), o)
		}, CodeUnrecognizedClient, invalid},
		{"token swapped after signing", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, []byte(`{}`), temp)
			r.Header.Set("X-Amz-Security-Token", "other")
			return r
		}, CodeUnrecognizedClient, invalid},
		{"missing token", func() *http.Request {
			o := temp
			o.token = ""
			return newSignedRequest(t, env.srv.URL, []byte(`{}`), o)
		}, CodeUnrecognizedClient, invalid},
		{"right token, not signed", func() *http.Request {
			o := temp
			o.token = ""
			r := newSignedRequest(t, env.srv.URL, []byte(`{}`), o)
			r.Header.Set("X-Amz-Security-Token", testToken)
			return r
		}, CodeUnrecognizedClient, invalid},
		{"token on a long-term key", func() *http.Request {
			return newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{token: testToken})
		}, CodeUnrecognizedClient, invalid},
		{"expired", func() *http.Request {
			o := temp
			o.akid = testExpiredAKID
			return newSignedRequest(t, env.srv.URL, []byte(`{}`), o)
		}, CodeExpiredTokenException, "The security token included in the request is expired"},
		{"right token, wrong secret", func() *http.Request {
			o := temp
			o.secret = testSecret
			return newSignedRequest(t, env.srv.URL, []byte(`{}`), o)
		}, CodeInvalidSignature, "does not match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, tc.req())
			expectErr(t, a, 400, tc.code)
			if !strings.Contains(a.Msg, tc.want) {
				t.Errorf("message %q", a.Msg)
			}
		})
	}
}

func TestSignatureFailures(t *testing.T) {
	env := newEnv(t, nil)
	body := []byte(`{"Plaintext":"aGVsbG8="}`)
	now := time.Now()
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		code   string
		msg    string
	}{
		{"wrong secret", func() *http.Request {
			return newSignedRequest(t, env.srv.URL, body, signOpts{secret: "not-the-secret"})
		}, 400, CodeInvalidSignature, "does not match the signature you provided"},
		{"unknown key", func() *http.Request {
			return newSignedRequest(t, env.srv.URL, body, signOpts{akid: "AKIAUNKNOWN000000000"})
		}, 400, CodeUnrecognizedClient, "The security token included in the request is invalid."},
		{"missing authorization", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{})
			r.Header.Del("Authorization")
			return r
		}, 400, CodeMissingAuthenticationToken, "Missing Authentication Token"},
		{"expired", func() *http.Request {
			return newSignedRequest(t, env.srv.URL, body, signOpts{when: now.Add(-6 * time.Minute)})
		}, 400, CodeInvalidSignature, "Signature expired"},
		{"not yet current", func() *http.Request {
			return newSignedRequest(t, env.srv.URL, body, signOpts{when: now.Add(6 * time.Minute)})
		}, 400, CodeInvalidSignature, "Signature not yet current"},
		{"body altered", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{})
			alt := []byte(`{"Plaintext":"aGVsbG9="}`)
			r.Body, r.ContentLength = nopBody(alt), int64(len(alt))
			return r
		}, 400, CodeInvalidSignature, "does not match"},
		{"signed header altered", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{extra: http.Header{"X-Custom": {"a"}}})
			if !strings.Contains(r.Header.Get("Authorization"), "x-custom") {
				t.Fatal("x-custom not signed")
			}
			r.Header.Set("X-Custom", "b")
			return r
		}, 400, CodeInvalidSignature, "does not match"},
		{"target altered", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{})
			r.Header.Set("X-Amz-Target", "TrentService.Nil")
			return r
		}, 400, CodeInvalidSignature, "does not match"},
		{"wrong service", func() *http.Request {
			return newSignedRequest(t, env.srv.URL, body, signOpts{service: "secretsmanager"})
		}, 400, CodeInvalidSignature, "Credential should be scoped to correct service: 'kms'."},
		{"wrong region still verifies region in signature", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{region: "us-east-1"})
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/eu-west-1/", 1))
			return r
		}, 400, CodeInvalidSignature, "does not match"},
		{"scope date differs from X-Amz-Date", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{})
			d := r.Header.Get("X-Amz-Date")[:8]
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/"+d+"/", "/20200101/", 1))
			return r
		}, 400, CodeInvalidSignature, "Date in Credential scope does not match"},
		{"X-Amz-Date altered", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{when: now.Add(-time.Minute)})
			r.Header.Set("X-Amz-Date", now.UTC().Format(amzDateLayout))
			return r
		}, 400, CodeInvalidSignature, ""},
		{"content sha256 mismatch", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{extra: http.Header{"X-Amz-Content-Sha256": {sha256Hex([]byte("other"))}}})
			return r
		}, 400, CodeInvalidSignature, "x-amz-content-sha256"},
		{"missing X-Amz-Date", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{})
			r.Header.Del("X-Amz-Date")
			return r
		}, 400, CodeIncompleteSignature, "'X-Amz-Date' or a 'Date' header"},
		{"malformed X-Amz-Date", func() *http.Request {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{})
			r.Header.Set("X-Amz-Date", "2024-01-01T00:00:00Z")
			return r
		}, 400, CodeIncompleteSignature, "ISO 8601"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, tc.req())
			expectErr(t, a, tc.status, tc.code)
			if !strings.Contains(a.Msg, tc.msg) {
				t.Errorf("message %q does not contain %q", a.Msg, tc.msg)
			}
			if strings.Contains(string(a.body), testSecret) {
				t.Errorf("answer echoes the secret")
			}
		})
	}
}

func TestMalformedAuthorization(t *testing.T) {
	env := newEnv(t, nil)
	body := []byte(`{}`)
	good := newSignedRequest(t, env.srv.URL, body, signOpts{}).Header.Get("Authorization")
	sig := good[strings.LastIndex(good, "Signature=")+len("Signature="):]
	d := time.Now().UTC().Format("20060102")
	cred := testAKID + "/" + d + "/" + testRegion + "/kms/aws4_request"
	cases := []struct{ name, authz, msg string }{
		{"no signature", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;x-amz-date", "requires 'Signature' parameter"},
		{"no credential", "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=" + sig, "requires 'Credential' parameter"},
		{"no signed headers", "AWS4-HMAC-SHA256 Credential=" + cred + ", Signature=" + sig, "requires 'SignedHeaders' parameter"},
		{"empty signature", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;x-amz-date, Signature=", "requires 'Signature' parameter"},
		{"only algorithm", "AWS4-HMAC-SHA256", "requires 'Credential' parameter"},
		{"other algorithm", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", "Unsupported AWS 'algorithm'"},
		{"missing equal sign", "AWS4-HMAC-SHA256 Credential " + cred, "missing equal-sign"},
		{"duplicate", "AWS4-HMAC-SHA256 Credential=" + cred + ", Credential=" + cred + ", SignedHeaders=host;x-amz-date, Signature=" + sig, "Duplicate 'Credential'"},
		{"unknown parameter", "AWS4-HMAC-SHA256 Credential=" + cred + ", Foo=bar, SignedHeaders=host;x-amz-date, Signature=" + sig, "Unknown parameter 'Foo'"},
		{"short credential", "AWS4-HMAC-SHA256 Credential=" + testAKID + "/" + d + "/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig, "exactly 5 slash-delimited"},
		{"bad terminator", "AWS4-HMAC-SHA256 Credential=" + testAKID + "/" + d + "/" + testRegion + "/kms/aws4_reqest, SignedHeaders=host;x-amz-date, Signature=" + sig, "valid terminator"},
		{"bad date", "AWS4-HMAC-SHA256 Credential=" + testAKID + "/2024-1-1/" + testRegion + "/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig, "YYYYMMDD"},
		{"bad region", "AWS4-HMAC-SHA256 Credential=" + testAKID + "/" + d + "/EU WEST/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig, "valid region"},
		{"empty access key", "AWS4-HMAC-SHA256 Credential=/" + d + "/" + testRegion + "/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig, "access key id"},
		{"host not signed", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=x-amz-date, Signature=" + sig, "'Host'"},
		{"date not signed", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + sig, "'X-Amz-Date' must be a 'SignedHeader'"},
		{"empty signed header name", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;;x-amz-date, Signature=" + sig, "non-empty header names"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newSignedRequest(t, env.srv.URL, body, signOpts{})
			r.Header.Set("Authorization", tc.authz)
			a := do(t, r)
			expectErr(t, a, 400, CodeIncompleteSignature)
			if !strings.Contains(a.Msg, tc.msg) {
				t.Errorf("message %q does not contain %q", a.Msg, tc.msg)
			}
			if strings.Contains(a.Msg, sig) {
				t.Errorf("message echoes the signature: %q", a.Msg)
			}
		})
	}
}

func TestSkewMessages(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	v := &Verifier{Credentials: testCreds(), Now: func() time.Time { return now }}
	body := []byte(`{}`)
	for _, tc := range []struct {
		when time.Time
		msg  string
	}{
		{now.Add(-6 * time.Minute), "Signature expired: 20240301T115400Z is now earlier than 20240301T115500Z (20240301T120000Z - 5 min.)"},
		{now.Add(6 * time.Minute), "Signature not yet current: 20240301T120600Z is still later than 20240301T120500Z (20240301T120000Z + 5 min.)"},
	} {
		r := newSignedRequest(t, "http://kms.example", body, signOpts{when: tc.when})
		_, _, err := v.Verify(r, body)
		e, ok := err.(*Error)
		if !ok || e.Code != CodeInvalidSignature || e.Message != tc.msg {
			t.Errorf("got %v, want %s", err, tc.msg)
		}
	}
	// Within the skew: accepted.
	for _, d := range []time.Duration{-5 * time.Minute, 5 * time.Minute, -4 * time.Minute} {
		r := newSignedRequest(t, "http://kms.example", body, signOpts{when: now.Add(d)})
		if _, _, err := v.Verify(r, body); err != nil {
			t.Errorf("skew %v: %v", d, err)
		}
	}
}

// A header the SDK never signs (User-Agent, X-Amzn-Trace-Id) still verifies
// when a client chose to sign it, and is then protected.
func TestIgnoredHeadersSignedByClient(t *testing.T) {
	env := newEnv(t, nil)
	body := []byte(`{}`)
	mk := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", "TrentService.Echo")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		// Lower-case keys defeat the SDK's ignore list on the client side too.
		req.Header["user-agent"] = []string{"aws-cli/1.45  Python/3.11"}
		req.Header["x-amzn-trace-id"] = []string{"Root=1-abc"}
		creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(body), "kms", testRegion, time.Now()); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(req.Header.Get("Authorization"), "user-agent;x-amz-date;x-amz-target;x-amzn-trace-id") {
			t.Fatalf("client did not sign user-agent: %s", req.Header.Get("Authorization"))
		}
		for _, k := range []string{"user-agent", "x-amzn-trace-id"} {
			v := req.Header[k]
			delete(req.Header, k)
			req.Header[http.CanonicalHeaderKey(k)] = v
		}
		return req
	}
	if a := do(t, mk()); a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	r := mk()
	r.Header.Set("User-Agent", "evil")
	expectErr(t, do(t, r), 400, CodeInvalidSignature)
}

func TestContentSHA256Header(t *testing.T) {
	env := newEnv(t, nil)
	body := []byte(`{"a":1}`)
	r := newSignedRequest(t, env.srv.URL, body, signOpts{extra: http.Header{"X-Amz-Content-Sha256": {sha256Hex(body)}}})
	if a := do(t, r); a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	r = newSignedRequest(t, env.srv.URL, body, signOpts{extra: http.Header{"X-Amz-Content-Sha256": {"UNSIGNED-PAYLOAD"}}})
	expectErr(t, do(t, r), 400, CodeInvalidSignature)
}

type mutableStore struct {
	mu     sync.Mutex
	secret string
}

func (m *mutableStore) Lookup(akid string) (string, Principal, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if akid != testAKID {
		return "", Principal{}, false
	}
	p := testPrincipal
	p.AccessKeyID = akid
	return m.secret, p, true
}

// The SDK's derived-key cache ignores the secret; a rotated secret must take
// effect immediately.
func TestSecretRotation(t *testing.T) {
	st := &mutableStore{secret: "old-secret"}
	env := newEnv(t, st)
	if a := do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{secret: "old-secret"})); a.status != 200 {
		t.Fatalf("old secret before rotation: %d %s", a.status, a.body)
	}
	st.mu.Lock()
	st.secret = "new-secret"
	st.mu.Unlock()
	expectErr(t, do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{secret: "old-secret"})), 400, CodeInvalidSignature)
	if a := do(t, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{secret: "new-secret"})); a.status != 200 {
		t.Fatalf("new secret after rotation: %d %s", a.status, a.body)
	}
}

// Attacker-chosen regions must not grow the signer caches without bound, and
// verification stays correct across signer replacement.
func TestSignerPoolBounded(t *testing.T) {
	v := &Verifier{Credentials: testCreds()}
	body := []byte(`{}`)
	for i := 0; i < 3*maxShardKeys; i++ {
		region := fmt.Sprintf("xx-test-%d", i)
		r := newSignedRequest(t, "http://kms.example", body, signOpts{region: region})
		if _, s, err := v.Verify(r, body); err != nil || s.Region != region {
			t.Fatalf("region %s: %v %+v", region, err, s)
		}
		// The SDK path, for requests the fast path does not cover.
		if _, _, _, ok := fastAndSDK(t, v, r, body, testSecret); !ok {
			t.Fatalf("region %s: sdk path failed", region)
		}
	}
	for i := range v.signers.shards {
		if n := len(v.signers.shards[i].scopes); n > maxShardScopes {
			t.Fatalf("signer shard %d holds %d scopes", i, n)
		}
	}
	for i := range v.signingKeys.shards {
		if n := len(v.signingKeys.shards[i].m); n > maxShardKeys {
			t.Fatalf("key shard %d holds %d keys", i, n)
		}
	}
}

func TestTLSRequest(t *testing.T) {
	srv := httptest.NewTLSServer(NewRouter(&Verifier{Credentials: testCreds()}, testService()))
	defer srv.Close()
	r := newSignedRequest(t, srv.URL, []byte(`{}`), signOpts{})
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := &Verifier{Credentials: testCreds()}
	body := []byte(`{"KeyId":"k"}`)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				r := newSignedRequest(t, "http://kms.example", body, signOpts{region: fmt.Sprintf("r-%d", i%40)})
				if _, _, err := v.Verify(r, body); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkVerify(b *testing.B) {
	v := &Verifier{Credentials: testCreds()}
	body := []byte(`{"KeyId":"alias/bench","Plaintext":"aGVsbG8gd29ybGQ="}`)
	r := newSignedRequest(b, "http://localhost:8080", body, signOpts{})
	if _, _, err := v.Verify(r, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}
