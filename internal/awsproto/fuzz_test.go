package awsproto

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=")
	f.Add("AWS4-HMAC-SHA256   ,,Signature=x,Signature=y")
	f.Add("AWS AKID:sig")
	f.Add("")
	f.Add("AWS4-HMAC-SHA256 Credential=//////, SignedHeaders=;;;, Signature==")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			if err.Code != CodeIncompleteSignature || err.Status != 400 || err.Message == "" {
				t.Fatalf("unexpected error %+v", err)
			}
			return
		}
		if a.AccessKeyID == "" || a.Signature == "" || !isScopeName(a.Region) || !isScopeName(a.Service) || !isDigits(a.Date, 8) {
			t.Fatalf("accepted incomplete header %q: %+v", h, a)
		}
		if !strings.Contains(";"+a.SignedHeaders+";", ";host;") {
			t.Fatalf("accepted without host: %q", h)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"a":"b"},"GrantTokens":["x"],"NumberOfBytes":32}`))
	f.Add([]byte(`{"KeyId":1}`))
	f.Add([]byte(`[`))
	f.Add([]byte(``))
	f.Add([]byte(`{"Plaintext":"***"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		type in struct {
			KeyId             string
			Plaintext         []byte
			EncryptionContext map[string]string
			GrantTokens       []string
			NumberOfBytes     *int32
			DryRun            bool
			Spec              spec
			Nested            *struct{ A []float64 }
		}
		_, err := Decode[in](body)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Status != 400 || e.Message == "" {
				t.Fatalf("unexpected error %#v", err)
			}
		}
	})
}

func FuzzRouter(f *testing.F) {
	rt := NewRouter(&Verifier{Credentials: testCreds()}, testService())
	rt.MaxBodyBytes = 4096
	now := time.Now().UTC()
	good := newSignedRequest(f, "http://example.com", []byte(`{}`), signOpts{when: now})
	f.Add("POST", "TrentService.Echo", good.Header.Get("Authorization"), good.Header.Get("X-Amz-Date"), "application/x-amz-json-1.1", []byte(`{}`))
	f.Add("POST", "TrentService.Decode", good.Header.Get("Authorization"), good.Header.Get("X-Amz-Date"), "", []byte(`{"KeyId":`))
	f.Add("GET", "", "", "", "", []byte(nil))
	f.Add("POST", "TrentService.Decode", "xx", "", "application/x-amz-json-1.1", []byte(`{"KeyId":"k"}`))
	f.Add("POST", "TrentService.Panic", "xx", "", "", []byte(`{}`))
	f.Add("POST", "X.Y.Z", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20240101T000000Z", "application/x-amz-json-1.0", []byte(`{}`))
	f.Fuzz(func(t *testing.T, method, target, authz, date, ct string, body []byte) {
		if !validMethod(method) {
			method = "POST"
		}
		r := httptest.NewRequest("POST", "http://example.com/", bytes.NewReader(body))
		r.Method = method
		r.Header = http.Header{}
		for k, v := range map[string]string{"X-Amz-Target": target, "Authorization": authz, "X-Amz-Date": date, "Content-Type": ct} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		switch len(authz) % 3 {
		case 1: // keep a valid signature's other headers
			for k, v := range good.Header {
				if r.Header.Get(k) == "" {
					r.Header[k] = v
				}
			}
		case 2: // sign the fuzzed request properly so that dispatch and Decode are reached
			r.Header.Del("Authorization")
			r.Header.Del("X-Amz-Date")
			creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, sha256Hex(body), "kms", testRegion, time.Now()); err != nil {
				t.Skip()
			}
		}
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, r)
		if w.Header().Get("x-amzn-RequestId") == "" {
			t.Fatal("no request id")
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("not JSON (%d): %q", w.Code, w.Body.Bytes())
		}
		if w.Code != 200 {
			if typ, _ := out["__type"].(string); typ == "" {
				t.Fatalf("error without __type: %d %q", w.Code, w.Body.Bytes())
			}
			if _, ok := out["message"].(string); !ok {
				t.Fatalf("error without message: %q", w.Body.Bytes())
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func FuzzQuery(f *testing.F) {
	f.Add([]byte("Action=TagUser&Version=2010-05-08&Tags.member.1.Key=a&Tags.member.1.Value=b&L.member.1=x&L.member.2=y"))
	f.Add([]byte("Ctx.entry.1.key=k&Ctx.entry.1.value=v&Ctx.entry.2.key=k&Ctx.entry.2.value=w"))
	f.Add([]byte("a=%zz&b=1;c"))
	f.Add([]byte("&&=&%C3%28"))
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := ParseQuery(body)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Status != 400 || e.Code != CodeMalformedQueryString {
				t.Fatalf("unexpected error %#v", err)
			}
			return
		}
		for k, vals := range v {
			if len(vals) != 1 || k == "" {
				t.Fatalf("parameter %q: %q", k, vals)
			}
		}
		if n := len(QueryList(v, "L")); n > len(v) {
			t.Fatalf("%d list members from %d parameters", n, len(v))
		}
		if tags, err := QueryTags(v, "Tags"); err != nil {
			if err.(*Error).Code != CodeValidationError {
				t.Fatal(err)
			}
		} else if 2*len(tags) > len(v) {
			t.Fatalf("%d tags from %d parameters", len(tags), len(v))
		}
		if m, err := QueryMap(v, "Ctx"); err != nil {
			if err.(*Error).Code != CodeValidationError {
				t.Fatal(err)
			}
		} else if 2*len(m) > len(v) {
			t.Fatalf("%d entries from %d parameters", len(m), len(v))
		}
	})
}

func FuzzQueryRouter(f *testing.F) {
	rt := NewRouter(&Verifier{Credentials: testCreds()}, testService()).AddQuery(testIAM(), testSTS())
	rt.MaxBodyBytes = 4096
	f.Add("POST", "iam", "", "application/x-www-form-urlencoded; charset=utf-8", []byte("Action=GetUser&Version=2010-05-08&UserName=a"), true)
	f.Add("POST", "sts", "", "application/x-www-form-urlencoded", []byte("Action=GetCallerIdentity&Version=2011-06-15"), true)
	f.Add("GET", "iam", "Action=Echo&Version=2010-05-08", "", []byte(nil), true)
	f.Add("POST", "iam", "Action=Echo", "application/x-www-form-urlencoded", []byte("Version=2010-05-08&Tags.member.1.Key=%00"), true)
	f.Add("POST", "iam", "", "application/x-www-form-urlencoded", []byte("Action=Panic&Version=2010-05-08"), false)
	f.Add("POST", "kms", "", "text/plain", []byte("Action=TagUser&Version=2010-05-08&Tags.member.1.Value=1"), true)
	f.Fuzz(func(t *testing.T, method, service, rawQuery, ct string, body []byte, sign bool) {
		if !validMethod(method) {
			method = "POST"
		}
		r := httptest.NewRequest("POST", "http://example.com/", bytes.NewReader(body))
		r.Method = method
		r.URL.RawQuery = rawQuery
		r.Header = http.Header{}
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if sign && isScopeName(service) {
			creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, sha256Hex(body), service, "us-east-1", time.Now()); err != nil {
				t.Skip()
			}
		}
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, r)
		rid := w.Header().Get("x-amzn-RequestId")
		if rid == "" {
			t.Fatal("no request id")
		}
		if w.Header().Get("Content-Type") != "text/xml" {
			return // a JSON-protocol answer (checked by FuzzRouter)
		}
		var out struct {
			XMLName xml.Name
			Error   struct{ Type, Code, Message string }
			Meta    struct{ RequestId string } `xml:"ResponseMetadata"`
			ReqID   string                     `xml:"RequestId"`
		}
		if err := xml.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("not XML (%d): %v %q", w.Code, err, w.Body.Bytes())
		}
		if w.Code == 200 {
			if !strings.HasSuffix(out.XMLName.Local, "Response") || out.Meta.RequestId != rid {
				t.Fatalf("bad success shape: %q", w.Body.Bytes())
			}
			return
		}
		if out.XMLName.Local != "ErrorResponse" || out.Error.Code == "" || out.ReqID != rid ||
			(out.Error.Type != "Sender") != (w.Code >= 500) {
			t.Fatalf("bad error shape (%d): %q", w.Code, w.Body.Bytes())
		}
	})
}
