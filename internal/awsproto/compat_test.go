package awsproto

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/fxamacker/cbor/v2"
)

// widgetModel is a botocore-format model of a small query-compatible service, with
// every shape kind the transcoder handles.
const widgetModel = `{
 "metadata": {"apiVersion": "2020-01-01", "targetPrefix": "WidgetService20200101", "awsQueryCompatible": {}},
 "operations": {
  "GetWidget": {"name": "GetWidget", "input": {"shape": "GetWidgetInput"},
   "output": {"shape": "GetWidgetOutput", "resultWrapper": "GetWidgetResult"}, "errors": [{"shape": "WidgetNotFoundException"}]},
  "DeleteWidget": {"name": "DeleteWidget", "input": {"shape": "DeleteWidgetInput"}}
 },
 "shapes": {
  "GetWidgetInput": {"type": "structure", "members": {
   "Name": {"shape": "String"}, "Tags": {"shape": "Tags"}, "Attrs": {"shape": "Attrs"},
   "Flat": {"shape": "FlatList"}, "Since": {"shape": "Time"}, "Count": {"shape": "Int"},
   "Ratio": {"shape": "Double"}, "Enabled": {"shape": "Bool"}, "Data": {"shape": "Blob"},
   "Empty": {"shape": "Strings"}, "Renamed": {"shape": "String", "locationName": "Other"}}},
  "GetWidgetOutput": {"type": "structure", "members": {"Widget": {"shape": "Widget"}, "NextToken": {"shape": "String"}}},
  "DeleteWidgetInput": {"type": "structure", "members": {"Name": {"shape": "String"}}},
  "Widget": {"type": "structure", "members": {
   "Name": {"shape": "String"}, "Created": {"shape": "Time"}, "Sizes": {"shape": "Ints"},
   "Score": {"shape": "Double"}, "Labels": {"shape": "Attrs"}, "Tags": {"shape": "Tags"},
   "None": {"shape": "Strings"}, "On": {"shape": "Bool"}, "Data": {"shape": "Blob"}}},
  "Tags": {"type": "list", "member": {"shape": "Tag"}},
  "Tag": {"type": "structure", "members": {"Key": {"shape": "String"}, "Value": {"shape": "String"}}},
  "Attrs": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
  "FlatList": {"type": "list", "member": {"shape": "String"}, "flattened": true},
  "Strings": {"type": "list", "member": {"shape": "String"}},
  "Ints": {"type": "list", "member": {"shape": "Int"}},
  "String": {"type": "string"}, "Int": {"type": "integer"}, "Double": {"type": "double"},
  "Bool": {"type": "boolean"}, "Time": {"type": "timestamp"}, "Blob": {"type": "blob"},
  "WidgetNotFoundException": {"type": "structure", "members": {"message": {"shape": "String"}},
   "error": {"code": "WidgetNotFound", "httpStatusCode": 404, "senderFault": true}, "exception": true},
  "GadgetMissing": {"type": "structure", "members": {"message": {"shape": "String"}},
   "error": {"code": "WidgetNotFound", "httpStatusCode": 404, "senderFault": true}, "exception": true}
 }
}`

type widgetXML struct {
	Name    string
	Created string
	Sizes   struct {
		Member []int `xml:"member"`
	}
	Score  float64
	Labels struct {
		Entry []struct {
			Key   string `xml:"key"`
			Value string `xml:"value"`
		} `xml:"entry"`
	}
	Tags struct {
		Member []Tag `xml:"member"`
	}
	None struct{}
	On   bool
	Data string
}

type widgetEnv struct {
	srv     *httptest.Server
	mu      sync.Mutex
	forms   []string // the query form each operation received
	records []string // "op status code body" per Record call
}

func (e *widgetEnv) lastForm() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.forms) == 0 {
		return ""
	}
	return e.forms[len(e.forms)-1]
}

func (e *widgetEnv) lastRecord() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.records) == 0 {
		return ""
	}
	return e.records[len(e.records)-1]
}

func widgetService(e *widgetEnv) *QueryService {
	keep := func(c *Call) {
		e.mu.Lock()
		e.forms = append(e.forms, string(c.Body))
		e.mu.Unlock()
	}
	return &QueryService{
		SigningName: "widgets", Version: "2020-01-01", XMLNamespace: "https://widgets.example/doc/2020-01-01/",
		Model: MustParseModel([]byte(widgetModel)),
		Operations: map[string]Handler{
			"GetWidget": func(_ context.Context, c *Call) (any, error) {
				keep(c)
				v, err := ParseQuery(c.Body)
				if err != nil {
					return nil, err
				}
				switch v.Get("Name") {
				case "missing":
					return nil, &Error{Status: http.StatusNotFound, Code: "WidgetNotFound", Message: "Widget missing does not exist."}
				case "broken":
					return nil, errors.New("disk on fire")
				}
				w := widgetXML{Name: v.Get("Name"), Created: "2024-01-02T03:04:05.250Z", Score: 2.5, On: true, Data: "aGk="}
				w.Sizes.Member = []int{1, 22}
				w.Labels.Entry = append(w.Labels.Entry, struct {
					Key   string `xml:"key"`
					Value string `xml:"value"`
				}{"k", "v"})
				w.Tags.Member = []Tag{{Key: "a", Value: "b"}}
				return &struct {
					Widget    widgetXML
					NextToken string `xml:",omitempty"`
				}{Widget: w}, nil
			},
			"DeleteWidget": func(_ context.Context, c *Call) (any, error) { keep(c); return nil, nil },
			"NotModeled":   func(context.Context, *Call) (any, error) { return nil, nil },
		},
	}
}

func newWidgetEnv(t testing.TB) *widgetEnv {
	t.Helper()
	e := &widgetEnv{}
	rt := NewRouter(&Verifier{Credentials: testCreds()}, testService()).AddQuery(testIAM(), widgetService(e))
	rt.Record = func(c *Call, status int, code, _ string, _ any) error {
		e.mu.Lock()
		e.records = append(e.records, c.Service+" "+c.Operation+" "+itoa(status)+" "+code+" "+string(c.Body))
		e.mu.Unlock()
		return nil
	}
	e.srv = httptest.NewServer(rt)
	t.Cleanup(e.srv.Close)
	return e
}

// compatRequest builds a JSON 1.0 (cbor=false) or RPC v2 CBOR request as botocore and
// aws-sdk-go-v2 send them, signed for service "widgets".
func compatRequest(t testing.TB, base, op string, body []byte, isCBOR bool, o signOpts) *http.Request {
	t.Helper()
	url := base + "/"
	if isCBOR {
		url = base + "/service/WidgetService20200101/operation/" + op
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if isCBOR {
		req.Header.Set("Content-Type", "application/cbor")
		req.Header.Set("Accept", "application/cbor")
		req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	} else {
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "WidgetService20200101."+op)
	}
	req.Header.Set("X-Amzn-Query-Mode", "true")
	for k, vs := range o.extra {
		req.Header[k] = vs
	}
	if o.service == "" {
		o.service = "widgets"
	}
	if o.secret == "" {
		o.secret = testSecret
	}
	if o.when.IsZero() {
		o.when = time.Now()
	}
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: o.secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(body), o.service, "us-east-1", o.when); err != nil {
		t.Fatal(err)
	}
	return req
}

type compatAnswer struct {
	status int
	header http.Header
	body   []byte
	tree   map[string]any
}

func doCompat(t testing.TB, req *http.Request, isCBOR bool) compatAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := compatAnswer{status: resp.StatusCode, header: resp.Header, body: b}
	if resp.Header.Get("x-amzn-RequestId") == "" {
		t.Errorf("no x-amzn-RequestId")
	}
	if len(b) == 0 {
		return a
	}
	if isCBOR {
		if resp.Header.Get("Content-Type") != "application/cbor" || resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
			t.Errorf("CBOR answer headers: %v", resp.Header)
		}
		dm, _ := cbor.DecOptions{DefaultMapType: reflect.TypeOf(map[string]any(nil))}.DecMode()
		if err := dm.Unmarshal(b, &a.tree); err != nil {
			t.Fatalf("answer is not CBOR: %v %x", err, b)
		}
	} else {
		if resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
			t.Errorf("JSON answer Content-Type %q", resp.Header.Get("Content-Type"))
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&a.tree); err != nil {
			t.Fatalf("answer is not JSON: %v %q", err, b)
		}
	}
	return a
}

func expectCompatErr(t testing.TB, a compatAnswer, status int, typ, queryCode string) {
	t.Helper()
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	if a.status != status || a.tree["__type"] != typ || a.header.Get("x-amzn-query-error") != queryCode+";"+fault {
		t.Fatalf("got %d __type=%v x-amzn-query-error=%q (%v), want %d %s %s;%s", a.status, a.tree["__type"],
			a.header.Get("x-amzn-query-error"), a.tree["message"], status, typ, queryCode, fault)
	}
	if m, _ := a.tree["message"].(string); m == "" {
		t.Errorf("error without a message: %v", a.tree)
	}
}

const widgetForm = "Action=GetWidget&Attrs.entry.1.key=a&Attrs.entry.1.value=1&Attrs.entry.2.key=b&Attrs.entry.2.value=2" +
	"&Count=7&Data=aGk%3D&Empty=&Enabled=true&Flat.1=x&Flat.2=y&Name=w1&Other=r&Ratio=0.5&Since=2024-01-02T03%3A04%3A05.5Z" +
	"&Tags.member.1.Key=k1&Tags.member.1.Value=v1&Tags.member.2.Key=k2&Tags.member.2.Value=v2&Version=2020-01-01"

// TestCompatJSONRoundTrip: a JSON 1.0 request reaches the operation as the query form
// botocore's query serializer would send, and the XML result comes back as typed JSON.
func TestCompatJSONRoundTrip(t *testing.T) {
	e := newWidgetEnv(t)
	body := `{"Name":"w1","Tags":[{"Key":"k1","Value":"v1"},{"Key":"k2","Value":"v2"}],"Attrs":{"b":"2","a":"1"},
	  "Flat":["x","y"],"Since":1704164645.5,"Count":7,"Ratio":0.5,"Enabled":true,"Data":"aGk=","Empty":[],
	  "Renamed":"r","Unknown":{"ignored":1},"NextToken":null}`
	a := doCompat(t, compatRequest(t, e.srv.URL, "GetWidget", []byte(body), false, signOpts{}), false)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if got := e.lastForm(); got != widgetForm {
		t.Fatalf("form:\n got %s\nwant %s", got, widgetForm)
	}
	want := `{"Widget":{"Created":1704164645.25,"Data":"aGk=","Labels":{"k":"v"},"Name":"w1","None":[],"On":true,"Score":2.5,"Sizes":[1,22],"Tags":[{"Key":"a","Value":"b"}]}}`
	if string(a.body) != want {
		t.Fatalf("answer:\n got %s\nwant %s", a.body, want)
	}
	if r := e.lastRecord(); r != "widgets GetWidget 200  "+widgetForm {
		t.Fatalf("Record saw %q", r)
	}

	// No output shape: {}.
	a = doCompat(t, compatRequest(t, e.srv.URL, "DeleteWidget", []byte(`{"Name":"w1"}`), false, signOpts{}), false)
	if a.status != 200 || string(a.body) != "{}" || e.lastForm() != "Action=DeleteWidget&Name=w1&Version=2020-01-01" {
		t.Fatalf("DeleteWidget: %d %s form %s", a.status, a.body, e.lastForm())
	}
	// An empty body is an empty input.
	a = doCompat(t, compatRequest(t, e.srv.URL, "DeleteWidget", nil, false, signOpts{}), false)
	if a.status != 200 || e.lastForm() != "Action=DeleteWidget&Version=2020-01-01" {
		t.Fatalf("DeleteWidget without body: %d %s form %s", a.status, a.body, e.lastForm())
	}
}

// TestCompatCBORRoundTrip: the same over RPC v2 CBOR, with a tag 1 timestamp, a byte
// string blob and indefinite-length containers (as aws-sdk-go-v2 writes them).
func TestCompatCBORRoundTrip(t *testing.T) {
	e := newWidgetEnv(t)
	in := map[string]any{"Name": "w1", "Tags": []any{map[string]any{"Key": "k1", "Value": "v1"}, map[string]any{"Key": "k2", "Value": "v2"}},
		"Attrs": map[string]any{"b": "2", "a": "1"}, "Flat": []any{"x", "y"}, "Since": time.UnixMilli(1704164645500).UTC(),
		"Count": 7, "Ratio": 0.5, "Enabled": true, "Data": []byte("hi"), "Empty": []any{}, "Renamed": "r", "Unknown": 1}
	em, _ := cbor.EncOptions{Time: cbor.TimeUnixDynamic, TimeTag: cbor.EncTagRequired}.EncMode()
	body, err := em.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	a := doCompat(t, compatRequest(t, e.srv.URL, "GetWidget", body, true, signOpts{}), true)
	if a.status != 200 {
		t.Fatalf("%d %x", a.status, a.body)
	}
	if got := e.lastForm(); got != widgetForm {
		t.Fatalf("form:\n got %s\nwant %s", got, widgetForm)
	}
	w, _ := a.tree["Widget"].(map[string]any)
	created, isTime := w["Created"].(time.Time)
	if !isTime || !created.Equal(time.UnixMilli(1704164645250)) {
		t.Fatalf("Created is %T %v, want a tag 1 time", w["Created"], w["Created"])
	}
	if !bytes.Contains(a.body, []byte{0xc1, 0xfb}) { // tag 1, float64 seconds
		t.Errorf("timestamp not written as tag 1 epoch seconds: %x", a.body)
	}
	if w["Score"] != 2.5 || w["On"] != true || !reflect.DeepEqual(w["Sizes"], []any{uint64(1), uint64(22)}) ||
		!reflect.DeepEqual(w["Labels"], map[string]any{"k": "v"}) || !reflect.DeepEqual(w["Data"], []byte("hi")) ||
		!reflect.DeepEqual(w["None"], []any{}) || w["Name"] != "w1" {
		t.Fatalf("answer: %#v", w)
	}

	// Indefinite-length map and array, as the Go SDK encodes them.
	indef := []byte{0xbf, 0x64, 'N', 'a', 'm', 'e', 0x62, 'w', '2', 0x64, 'F', 'l', 'a', 't', 0x9f, 0x61, 'z', 0xff, 0xff}
	a = doCompat(t, compatRequest(t, e.srv.URL, "GetWidget", indef, true, signOpts{}), true)
	if a.status != 200 || e.lastForm() != "Action=GetWidget&Flat.1=z&Name=w2&Version=2020-01-01" {
		t.Fatalf("indefinite lengths: %d form %s", a.status, e.lastForm())
	}

	// No output shape: an empty body.
	a = doCompat(t, compatRequest(t, e.srv.URL, "DeleteWidget", []byte{0xa0}, true, signOpts{}), true)
	if a.status != 200 || len(a.body) != 0 || a.header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		t.Fatalf("DeleteWidget: %d %x %v", a.status, a.body, a.header)
	}

	// gzip (aws-sdk-go-v2 compresses PutMetricData): signed as sent, decoded after.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(body)
	_ = zw.Close()
	req := compatRequest(t, e.srv.URL, "GetWidget", z.Bytes(), true, signOpts{extra: http.Header{"Content-Encoding": {"gzip"}}})
	if a = doCompat(t, req, true); a.status != 200 || e.lastForm() != widgetForm {
		t.Fatalf("gzip: %d form %s", a.status, e.lastForm())
	}
}

func TestCompatErrors(t *testing.T) {
	e := newWidgetEnv(t)
	for _, isCBOR := range []bool{false, true} {
		name := "json"
		enc := func(v any) []byte { b, _ := json.Marshal(v); return b }
		if isCBOR {
			name = "cbor"
			enc = func(v any) []byte { b, _ := cbor.Marshal(v); return b }
		}
		t.Run(name, func(t *testing.T) {
			send := func(op string, body []byte, o signOpts) compatAnswer {
				return doCompat(t, compatRequest(t, e.srv.URL, op, body, isCBOR, o), isCBOR)
			}
			// A modeled error: __type is the error shape, the header the query code.
			a := send("GetWidget", enc(map[string]any{"Name": "missing"}), signOpts{})
			expectCompatErr(t, a, 404, "WidgetNotFoundException", "WidgetNotFound")
			if r := e.lastRecord(); !strings.HasPrefix(r, "widgets GetWidget 404 WidgetNotFound Action=GetWidget&Name=missing") {
				t.Errorf("Record saw %q", r)
			}
			// Unknown error: 500, Receiver, generic message.
			a = send("GetWidget", enc(map[string]any{"Name": "broken"}), signOpts{})
			expectCompatErr(t, a, 500, CodeInternalFailure, CodeInternalFailure)
			if strings.Contains(string(a.body), "fire") {
				t.Errorf("internal error leaked: %s", a.body)
			}
			// Unknown operation, and an operation the model lacks.
			expectCompatErr(t, send("Nope", enc(map[string]any{}), signOpts{}), 400, CodeUnknownOperation, CodeUnknownOperation)
			expectCompatErr(t, send("NotModeled", enc(map[string]any{}), signOpts{}), 400, CodeUnknownOperation, CodeUnknownOperation)
			// A member of the wrong type.
			a = send("GetWidget", enc(map[string]any{"Count": "seven"}), signOpts{})
			expectCompatErr(t, a, 400, CodeSerialization, CodeSerialization)
			if !strings.Contains(a.tree["message"].(string), "'Count' must be an integer") {
				t.Errorf("message %q", a.tree["message"])
			}
			a = send("GetWidget", enc(map[string]any{"Tags": []any{map[string]any{"Key": 1}}}), signOpts{})
			expectCompatErr(t, a, 400, CodeSerialization, CodeSerialization)
			if !strings.Contains(a.tree["message"].(string), "'Tags[0].Key' must be a string") {
				t.Errorf("message %q", a.tree["message"])
			}
			expectCompatErr(t, send("GetWidget", enc([]any{1}), signOpts{}), 400, CodeSerialization, CodeSerialization)
			expectCompatErr(t, send("GetWidget", []byte{0xff, 0x00, '{'}, signOpts{}), 400, CodeSerialization, CodeSerialization)
			// SigV4 failures carry the query protocol's codes.
			a = send("GetWidget", enc(map[string]any{}), signOpts{secret: "wrong"})
			expectCompatErr(t, a, 403, "SignatureDoesNotMatch", "SignatureDoesNotMatch")
			if r := e.lastRecord(); !strings.HasPrefix(r, "widgets GetWidget 403 SignatureDoesNotMatch ") {
				t.Errorf("Record saw %q", r)
			}
			expectCompatErr(t, send("GetWidget", enc(map[string]any{}), signOpts{service: "iam"}), 403, "SignatureDoesNotMatch", "SignatureDoesNotMatch")
			// Content-Encoding other than gzip, and a gzip bomb.
			expectCompatErr(t, send("GetWidget", enc(map[string]any{}), signOpts{extra: http.Header{"Content-Encoding": {"br"}}}),
				415, CodeSerialization, CodeSerialization)
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			_, _ = zw.Write(make([]byte, DefaultMaxBodyBytes+1))
			_ = zw.Close()
			expectCompatErr(t, send("GetWidget", z.Bytes(), signOpts{extra: http.Header{"Content-Encoding": {"gzip"}}}),
				413, CodeRequestEntityTooLarge, CodeRequestEntityTooLarge)
		})
	}

	// JSON: X-Amz-Target must be signed.
	req := compatRequest(t, e.srv.URL, "GetWidget", []byte(`{}`), false, signOpts{})
	req.Header.Set("X-Amz-Target", "WidgetService20200101.DeleteWidget")
	expectCompatErr(t, doCompat(t, req, false), 403, "SignatureDoesNotMatch", "SignatureDoesNotMatch")
	// CBOR: an unsigned request for an unknown service in the path, and GET.
	req = compatRequest(t, e.srv.URL, "GetWidget", []byte{0xa0}, true, signOpts{})
	req.URL.Path = "/service/Nope/operation/GetWidget"
	req.Header.Del("Authorization")
	expectCompatErr(t, doCompat(t, req, true), 403, CodeQueryMissingAuthenticationToken, CodeQueryMissingAuthenticationToken)
	// CBOR without the smithy-protocol header is refused (Smithy RPC v2 requires it).
	req = compatRequest(t, e.srv.URL, "GetWidget", []byte{0xa0}, true, signOpts{})
	req.Header.Del("Smithy-Protocol")
	if a := doCompat(t, req, true); a.status != 400 || !strings.Contains(string(a.body), "smithy-protocol") {
		t.Errorf("CBOR without smithy-protocol: %d %q", a.status, a.body)
	}
	get, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/service/WidgetService20200101/operation/GetWidget", nil)
	a := doCompat(t, get, true)
	expectCompatErr(t, a, 405, CodeMethodNotAllowed, CodeMethodNotAllowed)
}

// TestCompatUnknownServicePath: a signed CBOR request for a service that is not served.
func TestCompatUnknownServicePath(t *testing.T) {
	e := newWidgetEnv(t)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/service/Nope/operation/GetWidget", bytes.NewReader([]byte{0xa0}))
	req.Header.Set("Content-Type", "application/cbor")
	req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret},
		req, sha256Hex([]byte{0xa0}), "widgets", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	expectCompatErr(t, doCompat(t, req, true), 400, CodeUnknownOperation, CodeUnknownOperation)
}

// TestCompatQueryUnchanged: the service still answers the query protocol, and the JSON
// and CBOR paths leave JSON services alone.
func TestCompatQueryUnchanged(t *testing.T) {
	e := newWidgetEnv(t)
	req := newQueryRequest(t, e.srv.URL, "Action=GetWidget&Version=2020-01-01&Name=q", signOpts{service: "widgets"})
	x := doXML(t, req)
	want := `<GetWidgetResponse xmlns="https://widgets.example/doc/2020-01-01/"><GetWidgetResult><Widget><Name>q</Name>` +
		`<Created>2024-01-02T03:04:05.250Z</Created><Sizes><member>1</member><member>22</member></Sizes><Score>2.5</Score>` +
		`<Labels><entry><key>k</key><value>v</value></entry></Labels><Tags><member><Key>a</Key><Value>b</Value></member></Tags>` +
		`<None></None><On>true</On><Data>aGk=</Data></Widget></GetWidgetResult>`
	if x.status != 200 || !strings.HasPrefix(string(x.body), want) {
		t.Fatalf("query answer:\n%s", x.body)
	}
	a := do(t, newSignedRequest(t, e.srv.URL, []byte(`{"Message":"hi"}`), signOpts{}))
	if a.status != 200 {
		t.Fatalf("JSON service: %d %s", a.status, a.body)
	}
}

func TestParseModelErrors(t *testing.T) {
	for _, bad := range []string{
		`{`,
		`{"metadata":{"apiVersion":"1"}}`,
		`{"metadata":{"apiVersion":"1","targetPrefix":"T"},"operations":{"A":{"input":{"shape":"Nope"}}}}`,
		`{"metadata":{"apiVersion":"1","targetPrefix":"T"},"shapes":{"L":{"type":"list"}}}`,
		`{"metadata":{"apiVersion":"1","targetPrefix":"T"},"shapes":{"M":{"type":"map","key":{"shape":"S"}},"S":{"type":"string"}}}`,
		`{"metadata":{"apiVersion":"1","targetPrefix":"T"},"shapes":{"U":{"type":"document"}}}`,
		`{"metadata":{"apiVersion":"1","targetPrefix":"T"},"operations":{"A":{"input":{"shape":"S"}}},"shapes":{"S":{"type":"string"}}}`,
		`{"metadata":{"apiVersion":"1","targetPrefix":"T"},"operations":{"A":{"errors":[{"shape":"E"}]}}}`,
	} {
		if _, err := ParseModel([]byte(bad)); err == nil {
			t.Errorf("ParseModel(%s) accepted", bad)
		}
	}
	m := MustParseModel([]byte(widgetModel))
	// Two error shapes share the code WidgetNotFound: the operation's own wins, else the
	// first by name.
	if !m.HasOperation("GetWidget") || m.HasOperation("NotModeled") || m.errorTypeOf("GetWidget", "WidgetNotFound") != "WidgetNotFoundException" ||
		m.errorTypeOf("DeleteWidget", "WidgetNotFound") != "GadgetMissing" || m.errorTypeOf("GetWidget", "Other") != "Other" {
		t.Fatal("model lookups")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("AddQuery accepted a model of another version")
		}
	}()
	s := widgetService(&widgetEnv{})
	s.Version = "2021-01-01"
	NewRouter(&Verifier{Credentials: testCreds()}).AddQuery(s)
}
