package audit

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"
)

// slowParams is the reference: decode everything, redact, rename, encode.
func slowParams(body []byte, kms bool) (json.RawMessage, bool) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, false
	}
	if kms {
		m = RedactKMS("Encrypt", m)
	} else {
		m = Redact(m)
	}
	out, _ := camelRef(m).(map[string]any)
	if len(out) == 0 {
		return nil, true
	}
	return Params(out), true
}

// camelRef lower-cases the first letter of every member name at every depth,
// except inside encryption contexts (the reference: fuzzing skips bodies with
// names that collide).
func camelRef(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			name := k
			if r, n := utf8.DecodeRuneInString(k); r != utf8.RuneError {
				name = string(unicode.ToLower(r)) + k[n:]
			}
			switch strings.ToLower(k) {
			case "encryptioncontext", "encryptioncontextsubset", "encryptioncontextequals",
				"sourceencryptioncontext", "destinationencryptioncontext":
				out[name] = e
			default:
				out[name] = camelRef(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = camelRef(e)
		}
		return out
	}
	return v
}

func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

func TestRequestParametersJSON(t *testing.T) {
	body := []byte(`{"KeyId":"alias/a", "Plaintext":"c2VjcmV0",
		"EncryptionContext":{"Password":"kept: context is data","dept":"x"},
		"GrantTokens":["t1"], "Recipient":{"AttestationDocument":"ZG9j","KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256"},
		"Nested":[{"SecretAccessKey":"s","ok":1}]}`)
	p, top, ok := RequestParametersJSON(body, true)
	if keyID, found := top.Get("KeyId"); !ok || !found || string(keyID) != `"alias/a"` {
		t.Fatalf("%v %s", ok, keyID)
	}
	want := `{"encryptionContext":{"Password":"kept: context is data","dept":"x"},"grantTokens":["t1"],"keyId":"alias/a",` +
		`"nested":[{"ok":1}],"recipient":{"keyEncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}`
	if string(p) != want {
		t.Fatalf("got  %s\nwant %s", p, want)
	}
	ref, _ := slowParams(body, true)
	if !sameJSON(t, p, ref) {
		t.Fatalf("differs from decode-redact-encode:\n%s\n%s", p, ref)
	}
	for _, bad := range []string{``, `[]`, `null`, `{`, `"x"`} {
		if _, _, ok := RequestParametersJSON([]byte(bad), true); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	if p, _, ok := RequestParametersJSON([]byte(`{"Plaintext":"eA=="}`), true); !ok || p != nil {
		t.Errorf("only secrets: %s %v", p, ok)
	}
	// Line-oriented journal: whitespace in a member never survives.
	if p, _, _ := RequestParametersJSON([]byte("{\"A\":[1,\n2]}"), false); strings.ContainsAny(string(p), "\n ") {
		t.Errorf("not compact: %q", p)
	}
}

func FuzzRequestParametersJSON(f *testing.F) {
	f.Add([]byte(`{"KeyId":"k","Plaintext":"eA==","EncryptionContext":{"a":"b"}}`), true)
	f.Add([]byte(`{"UserName":"u","Password":"p","Tags":[{"Key":"SessionToken","Value":"v"}]}`), false)
	f.Add([]byte(`{"A":{"B":{"privateKey":"x","c":[1,2,{"Mac":"m"}]}},"Message":"m"}`), true)
	f.Add([]byte(`{"KeyId":"a","keyId":"b"}`), false)
	f.Fuzz(func(t *testing.T, body []byte, kms bool) {
		p, _, ok := RequestParametersJSON(body, kms)
		ref, refOK := slowParams(body, kms)
		if refOK && !ok {
			t.Fatalf("refused what the reference accepts: %q", body)
		}
		if !refOK { // e.g. 1e400 does not decode into float64 but is a JSON number
			if ok && p != nil && !json.Valid(p) {
				t.Fatalf("invalid JSON %q", p)
			}
			return
		}
		if p != nil && !json.Valid(p) {
			t.Fatalf("invalid JSON %q", p)
		}
		// Two members that differ only in their first letter's case are one
		// member in either; which value wins may differ.
		var all any
		json.Unmarshal(body, &all)
		if collides(all) {
			return
		}
		if !sameJSON(t, p, ref) {
			t.Fatalf("body %q:\n got %s\nwant %s", body, p, ref)
		}
	})
}

// BenchmarkRequestParametersJSON: the request parameters of a KMS Encrypt
// with an encryption context, as every audited Encrypt builds them.
//
//	go test ./internal/audit -run '^$' -bench RequestParametersJSON
func BenchmarkRequestParametersJSON(b *testing.B) {
	body := []byte(`{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","Plaintext":"aGVsbG8gd29ybGQsIHRoaXMgaXMgMzIgYnl0ZXMhIQ==","EncryptionContext":{"Department":"10103.0"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := RequestParametersJSON(body, true); !ok {
			b.Fatal("refused")
		}
	}
}

func TestTopMembersDuplicatesAndEscapes(t *testing.T) {
	// More than 16 members switch to the index; duplicates before and after
	// the switch keep the last value, as json.Unmarshal does.
	var b strings.Builder
	b.WriteString(`{"KeyId":"first","K\u0065yId2":"escaped"`)
	for i := range 20 {
		fmt.Fprintf(&b, `,"M%d":%d`, i, i)
	}
	b.WriteString(`,"KeyId":"last","M3":"three","M18":"eighteen"}`)
	top, ok := topMembers([]byte(b.String()))
	if !ok || len(top) != 22 {
		t.Fatalf("%v %d members", ok, len(top))
	}
	var ref map[string]json.RawMessage
	if err := json.Unmarshal([]byte(b.String()), &ref); err != nil {
		t.Fatal(err)
	}
	for name, want := range ref {
		if got, found := top.Get(name); !found || string(got) != string(want) {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	if _, found := top.Get("keyId"); found {
		t.Error("Get matches names exactly")
	}
}

func TestMemberNameCacheBounded(t *testing.T) {
	long := strings.Repeat("n", memberNameMaxLen+1)
	if n := lookupMemberName([]byte(long)); n.name != long {
		t.Fatalf("%+v", n)
	}
	if _, cached := (*memberNames.Load())[long]; cached {
		t.Error("a long name was cached")
	}
	for i := range memberNamesMax + 10 {
		name := fmt.Sprintf("Password%d", i)
		n := lookupMemberName([]byte(name))
		// Cached or not, the decisions are the name's own.
		if n.name != name || n.param != "password"+fmt.Sprint(i) || !n.denied {
			t.Fatalf("%s: %+v", name, n)
		}
	}
	if n := len(*memberNames.Load()); n > memberNamesMax {
		t.Errorf("cache holds %d names, bound %d", n, memberNamesMax)
	}
	if n := lookupMemberName([]byte("EncryptionContext")); !n.preserved || n.denied || n.param != "encryptionContext" {
		t.Errorf("%+v", n)
	}
}

// Requests are recorded concurrently: the member-name cache is shared.
func TestRequestParametersJSONConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				body := fmt.Sprintf(`{"KeyId":"k%d","Name%d":%d,"Plaintext":"eA==","OldPassword%d":"s"}`, i, (g*200+i)%700, i, i%3)
				p, top, ok := RequestParametersJSON([]byte(body), true)
				want := fmt.Sprintf(`{"keyId":"k%d","name%d":%d}`, i, (g*200+i)%700, i)
				if k, _ := top.Get("KeyId"); !ok || string(p) != want || string(k) != fmt.Sprintf(`"k%d"`, i) {
					t.Errorf("%s: %s, want %s", body, p, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// collides says whether an object in v, at any depth, has two member names
// that differ only in their first letter's case.
func collides(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		names := map[string]bool{}
		for k, e := range t {
			if names[LowerFirst(k)] || collides(e) {
				return true
			}
			names[LowerFirst(k)] = true
		}
	case []any:
		for _, e := range t {
			if collides(e) {
				return true
			}
		}
	}
	return false
}

// Nested member names start lower case too, but encryption context keys are
// data: the CreateGrant record of
// https://docs.aws.amazon.com/kms/latest/developerguide/ct-creategrant.html.
func TestRequestParametersNestedNames(t *testing.T) {
	body := []byte(`{"KeyId":"k","Constraints":{"EncryptionContextSubset":{"ContextKey1":"Value1"}},"Operations":["Encrypt"],` +
		`"Tags":[{"TagKey":"CostCenter","TagValue":"87"}]}`)
	p, _, ok := RequestParametersJSON(body, true)
	want := `{"constraints":{"encryptionContextSubset":{"ContextKey1":"Value1"}},"keyId":"k","operations":["Encrypt"],` +
		`"tags":[{"tagKey":"CostCenter","tagValue":"87"}]}`
	if !ok || string(p) != want {
		t.Fatalf("got  %s\nwant %s", p, want)
	}
}
