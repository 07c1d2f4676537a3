package awsproto

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fastAndSDK computes r's signature on both paths the way verify does.
func fastAndSDK(t testing.TB, v *Verifier, r *http.Request, body []byte, secret string) (fast, sdk string, fastOK, sdkOK bool) {
	t.Helper()
	a, perr := parseAuthorization(r.Header.Get("Authorization"))
	if perr != nil {
		t.Fatalf("parse: %v", perr)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	when, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		t.Fatal(err)
	}
	ph := sha256Hex(body)
	f, fok := v.fastSignature(r, a, secret, amzDate, ph, len(body))
	s, sok := v.sdkSignature(r, a, secret, when, ph, body)
	return string(f[:]), string(s[:]), fok, sok
}

// The requests AWS clients send take the fast path, and it computes the
// signature the client sent (that is, the SDK signer's).
func TestFastSignatureCoversClientRequests(t *testing.T) {
	v := &Verifier{Credentials: testCreds()}
	body := []byte(`{"KeyId":"alias/x","Plaintext":"aGk="}`)
	cases := map[string]struct {
		url  string
		body []byte
		o    signOpts
	}{
		"json":          {"http://127.0.0.1:8990", body, signOpts{}},
		"default port":  {"http://localhost:80", body, signOpts{}},
		"no port":       {"http://kms.example", body, signOpts{}},
		"session token": {"http://127.0.0.1:8990", body, signOpts{token: "FwoGZXIvYXdzEXAMPLE"}},
		"empty body":    {"http://127.0.0.1:8990", nil, signOpts{}},
		"extra signed":  {"http://127.0.0.1:8990", body, signOpts{extra: http.Header{"X-Amz-Meta": {"  a   b  ", "c"}}}},
		"other service": {"http://127.0.0.1:8990", body, signOpts{service: "monitoring", region: "eu-west-1"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := newSignedRequest(t, c.url, c.body, c.o)
			secret := c.o.secret
			if secret == "" {
				secret = testSecret
			}
			fast, sdk, fok, sok := fastAndSDK(t, v, r, c.body, secret)
			if !fok || !sok {
				t.Fatalf("fast ok=%v, sdk ok=%v; both paths must serve a client's request", fok, sok)
			}
			a, _ := parseAuthorization(r.Header.Get("Authorization"))
			if fast != a.Signature || sdk != a.Signature {
				t.Fatalf("signature: client %s, fast %s, sdk %s", a.Signature, fast, sdk)
			}
		})
	}
}

// A changed secret must not reuse a cached signing key.
func TestFastSignatureKeyCacheFollowsSecret(t *testing.T) {
	v := &Verifier{Credentials: testCreds()}
	r := newSignedRequest(t, "http://127.0.0.1:8990", []byte("{}"), signOpts{})
	f1, _, _, _ := fastAndSDK(t, v, r, []byte("{}"), testSecret)
	f2, s2, ok, _ := fastAndSDK(t, v, r, []byte("{}"), testSecret+"x")
	if !ok || f1 == f2 || f2 != s2 {
		t.Fatalf("changed secret: before %s, after %s (sdk %s)", f1, f2, s2)
	}
}

// FuzzFastSignatureMatchesSDK: whenever the fast path answers, it answers
// what the SDK's signer computes for the same request.
func FuzzFastSignatureMatchesSDK(f *testing.F) {
	f.Add("POST", "/", "127.0.0.1:8990", "content-type;host;x-amz-date;x-amz-target", "X-Amz-Target", "TrentService.Encrypt", []byte(`{"a":1}`), "", false)
	f.Add("POST", "/service/GraniteServiceVersion20100801/operation/ListMetrics", "localhost:80", "content-length;host;x-amz-date;x-amz-security-token", "Smithy-Protocol", " rpc-v2-cbor ", []byte{0xa0}, "tok", false)
	f.Add("GET", "", "h:443", "host;transfer-encoding;x-amz-date", "X-A", "a  b", []byte{}, "", true)
	f.Add("POST", "/a b", "[::1]:80", "host;x-amz-date;x-amz-date", "x-amz-date", "x", []byte("q"), "", false)
	f.Fuzz(func(t *testing.T, method, path, host, signed, hName, hVal string, body []byte, token string, te bool) {
		if len(signed) > 512 || strings.Count(signed, ";") > maxSignedHeader {
			return
		}
		u, err := url.Parse(path)
		if err != nil || u.Host != "" || u.Scheme != "" {
			return
		}
		r := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}}
		if hName != "" {
			r.Header.Add(hName, hVal)
			r.Header.Add(hName, hVal+" ")
		}
		if token != "" {
			r.Header.Set("X-Amz-Security-Token", token)
		}
		if te {
			r.TransferEncoding = []string{"chunked"}
		}
		amzDate := "20261123T120000Z"
		when, _ := time.Parse(amzDateLayout, amzDate)
		a := authorization{AccessKeyID: testAKID, Date: amzDate[:8], Region: "us-east-1", Service: "kms", SignedHeaders: signed}
		v := &Verifier{}
		ph := sha256Hex(body)
		fast, fok := v.fastSignature(r, a, testSecret, amzDate, ph, len(body))
		if !fok {
			return
		}
		sdk, sok := v.sdkSignature(r, a, testSecret, when, ph, body)
		if !sok || fast != sdk {
			t.Fatalf("fast %s != sdk %s (ok %v) for %q %q host %q signed %q %q=%q", fast, sdk, sok, method, path, host, signed, hName, hVal)
		}
	})
}
