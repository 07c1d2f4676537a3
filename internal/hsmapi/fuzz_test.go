package hsmapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// FuzzDecodeRequest: the strict request decoder never panics and either yields a value
// or a ValidationError (which the API answers with 400).
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{}`, `{"username":"a","role":"admin"}`, `{"filter":["attr.label=x"],"data":"AAEC"}`,
		`{"approval":{"token_id":"x","signatures":[{"username":"a","signature":"AA=="}]}}`, `{"x":1}`, `[1,2]`, `{"a":`, ``, `{} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeRequest[UserRequest](b); err != nil {
			if status, _ := ErrorStatus(err); status != http.StatusBadRequest {
				t.Fatalf("decode error maps to %d: %v", status, err)
			}
		}
		_, _ = DecodeRequest[CryptoRequest](b)
		_, _ = DecodeRequest[UnwrapRequest](b)
		_, _ = DecodeRequest[hsm.LoginRequest](b)
	})
}

// FuzzFilters: key filters and attribute assignments from the CLI never panic.
func FuzzFilters(f *testing.F) {
	for _, s := range []string{"attr.label=x", "key-reference=0x1f", "attr.id=0xabcd", "sign=true", "label=a=b", "token=false", "=", "attr.=", "key-reference=0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := strings.Split(s, ",")
		_, _ = hsm.ParseFilter(parts)
		_, _ = hsm.ParseAttrSpec(parts)
		_, _ = hsm.ParseKeyRef(s)
	})
}

func TestUnknownCommandAndMethod(t *testing.T) {
	srv := httptest.NewServer(NewServer(hsm.New(hsm.Config{}), ServerConfig{}))
	defer srv.Close()
	res, err := http.Get(srv.URL + PathPrefix + "user/list")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	res, err = http.Post(srv.URL+PathPrefix+"nope", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown: %d", res.StatusCode)
	}
	big := strings.NewReader(`{"username":"` + strings.Repeat("a", MaxRequestBytes) + `"}`)
	res, err = http.Post(srv.URL+PathPrefix+"login", "application/json", big)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized: %d", res.StatusCode)
	}
}
