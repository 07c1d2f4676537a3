package awsproto

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// heldRecord is one RecordAsync call of a heldEnv.
type heldRecord struct {
	op     string
	status int
	code   string
	done   func(error)
}

// heldEnv serves the test services through a QuietListener with RecordAsync,
// whose records the test settles by hand (as the journal's settler does
// once a group is durable).
type heldEnv struct {
	srv       *httptest.Server
	pending   chan heldRecord
	observed  chan string
	mu        sync.Mutex
	internals []string // InternalError reports
	syncs     int      // Record calls (requests that could not hold their answers)
}

func newHeldEnv(t *testing.T, tlsOn bool, settleAt func(heldRecord) bool) *heldEnv {
	t.Helper()
	env := &heldEnv{pending: make(chan heldRecord, 16), observed: make(chan string, 16)}
	svc := testService()
	svc.Operations["Big"] = func(context.Context, *Call) (any, error) {
		return map[string]string{"Blob": strings.Repeat("b", 16<<20)}, nil
	}
	rt := NewRouter(&Verifier{Credentials: testCreds()}, svc).AddQuery(testIAM())
	rt.Record = func(*Call, int, string, string, any) error {
		env.mu.Lock()
		env.syncs++
		env.mu.Unlock()
		return nil
	}
	rt.RecordAsync = func(c *Call, status int, code, _ string, _ any, done func(error)) error {
		r := heldRecord{op: c.Operation, status: status, code: code, done: done}
		if settleAt != nil && settleAt(r) {
			return nil
		}
		env.pending <- r
		return nil
	}
	rt.Observe = func(c *Call, status int, code, _ string, _ any) {
		env.observed <- fmt.Sprintf("%s %d %s", c.Operation, status, code)
	}
	rt.InternalError = func(_ *Call, err error) {
		env.mu.Lock()
		env.internals = append(env.internals, err.Error())
		env.mu.Unlock()
	}
	env.srv = httptest.NewUnstartedServer(rt)
	env.srv.Listener = QuietListener(env.srv.Listener)
	env.srv.Config.ConnContext = QuietConnContext
	if tlsOn {
		env.srv.StartTLS()
	} else {
		env.srv.Start()
	}
	t.Cleanup(env.srv.Close)
	return env
}

// receive returns the next value of c, failing the test (with missing) after 5 s.
func receive[T any](t *testing.T, c <-chan T, missing string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal(missing)
		var zero T
		return zero
	}
}

func (env *heldEnv) next(t *testing.T) heldRecord {
	t.Helper()
	return receive(t, env.pending, "no RecordAsync call")
}

func (env *heldEnv) observedNext(t *testing.T) string {
	t.Helper()
	return receive(t, env.observed, "Observe not called")
}

type clientResult struct {
	resp *http.Response
	body []byte
	err  error
}

// send runs req with client in the background.
func send(client *http.Client, req *http.Request) chan clientResult {
	c := make(chan clientResult, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			c <- clientResult{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		c <- clientResult{resp: resp, body: b, err: err}
	}()
	return c
}

func waitResult(t *testing.T, c chan clientResult) clientResult {
	t.Helper()
	return receive(t, c, "no answer")
}

// TestHeldAnswerLeavesAfterItsRecord: the answer does not reach the client
// before its record is settled, Observe sees it only then, and the
// connection serves the next request.
func TestHeldAnswerLeavesAfterItsRecord(t *testing.T) {
	env := newHeldEnv(t, false, nil)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	for i := range 2 { // the second one on the same connection
		res := send(client, newSignedRequest(t, env.srv.URL, []byte(fmt.Sprintf(`{"N":%d}`, i)), signOpts{}))
		rec := env.next(t)
		if rec.op != "Echo" || rec.status != 200 {
			t.Fatalf("record %+v", rec)
		}
		select {
		case r := <-res:
			t.Fatalf("answered before its record was durable: %+v", r)
		case s := <-env.observed:
			t.Fatalf("observed before its record was durable: %s", s)
		case <-time.After(100 * time.Millisecond):
		}
		rec.done(nil)
		r := waitResult(t, res)
		if r.err != nil || r.resp.StatusCode != 200 || !bytes.Contains(r.body, []byte(fmt.Sprintf(`{\"N\":%d}`, i))) {
			t.Fatalf("answer %d: %v %+v %s", i, r.err, r.resp, r.body)
		}
		if s := env.observedNext(t); s != "Echo 200 " {
			t.Fatalf("observed %q", s)
		}
	}
	if env.syncs != 0 {
		t.Fatalf("%d requests recorded synchronously", env.syncs)
	}
}

// TestHeldAnswerReplacedWhenRecordFails: a success whose record fails is
// answered 500 InternalFailure (in the protocol's shape) and its connection
// closes; the cause goes to InternalError.
func TestHeldAnswerReplacedWhenRecordFails(t *testing.T) {
	env := newHeldEnv(t, false, nil)
	client := &http.Client{Transport: &http.Transport{}}

	res := send(client, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{}))
	env.next(t).done(errors.New("audit: fsync: EIO"))
	r := waitResult(t, res)
	if r.err != nil {
		t.Fatal(r.err)
	}
	var body errorBody
	if err := json.Unmarshal(r.body, &body); err != nil || r.resp.StatusCode != 500 || body.Type != CodeInternalFailure ||
		r.resp.Header.Get("x-amzn-ErrorType") != CodeInternalFailure || !r.resp.Close || r.resp.Header.Get("x-amzn-RequestId") == "" ||
		r.resp.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		t.Fatalf("answer: %v %d %v %s", err, r.resp.StatusCode, r.resp.Header, r.body)
	}
	if bytes.Contains(r.body, []byte("EIO")) {
		t.Fatalf("the cause leaked to the client: %s", r.body)
	}
	if s := env.observedNext(t); s != "Echo 500 InternalFailure" {
		t.Fatalf("observed %q", s)
	}

	// Query protocol: the XML error shape.
	res = send(client, newQueryRequest(t, env.srv.URL, "Action=GetUser&Version=2010-05-08&UserName=bob", signOpts{}))
	env.next(t).done(errors.New("audit: fsync: EIO"))
	r = waitResult(t, res)
	if r.err != nil || r.resp.StatusCode != 500 || !bytes.Contains(r.body, []byte("<Code>InternalFailure</Code>")) ||
		bytes.Contains(r.body, []byte("bob")) {
		t.Fatalf("query answer: %v %+v %s", r.err, r.resp, r.body)
	}
	env.observedNext(t)

	// The connection was closed: the next request works on a new one.
	res = send(client, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{}))
	env.next(t).done(nil)
	if r := waitResult(t, res); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("after the failures: %+v", r)
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	if len(env.internals) != 2 || !strings.Contains(env.internals[0], "fsync: EIO") {
		t.Fatalf("InternalError got %q", env.internals)
	}
}

// TestHeldAnswerUnderTLSClosesWhenRecordFails: under TLS the held answer
// never leaves either; the connection closes without an answer.
func TestHeldAnswerUnderTLSClosesWhenRecordFails(t *testing.T) {
	env := newHeldEnv(t, true, nil)
	client := env.srv.Client()
	res := send(client, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{}))
	rec := env.next(t)
	select {
	case r := <-res:
		t.Fatalf("answered before its record: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	rec.done(nil)
	if r := waitResult(t, res); r.err != nil || r.resp.StatusCode != 200 || r.resp.TLS == nil {
		t.Fatalf("TLS answer: %+v", r)
	}
	env.observedNext(t)

	res = send(client, newSignedRequest(t, env.srv.URL, []byte(`{"secret":"answer"}`), signOpts{}))
	env.next(t).done(errors.New("audit: commit timed out"))
	r := waitResult(t, res)
	if r.err == nil {
		t.Fatalf("got an answer although its record failed: %d %s", r.resp.StatusCode, r.body)
	}
}

// TestHeldAnswerSettledBeforeWritten: a record that is durable before the
// handler has written its answer (a fast commit) lets it through at once;
// a failed one still replaces it.
func TestHeldAnswerSettledBeforeWritten(t *testing.T) {
	var fail bool
	var mu sync.Mutex
	env := newHeldEnv(t, false, func(r heldRecord) bool {
		mu.Lock()
		f := fail
		mu.Unlock()
		if f {
			r.done(errors.New("disk full"))
		} else {
			r.done(nil)
		}
		return true
	})
	client := &http.Client{Transport: &http.Transport{}}
	if r := waitResult(t, send(client, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{}))); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("%+v", r)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	r := waitResult(t, send(client, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{})))
	if r.err != nil || r.resp.StatusCode != 500 || !r.resp.Close {
		t.Fatalf("%+v %s", r, r.body)
	}
}

// TestHeldRefusalLeavesEvenIfItsRecordFails: a refused request's answer
// (an error anyway) also waits for its record, but leaves when the record
// fails.
func TestHeldRefusalLeavesEvenIfItsRecordFails(t *testing.T) {
	env := newHeldEnv(t, false, nil)
	client := &http.Client{Transport: &http.Transport{}}
	res := send(client, newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{secret: "wrong"}))
	rec := env.next(t)
	if rec.status != 400 || rec.code != CodeInvalidSignature {
		t.Fatalf("record %+v", rec)
	}
	select {
	case r := <-res:
		t.Fatalf("refusal answered before its record: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	rec.done(errors.New("disk full"))
	r := waitResult(t, res)
	if r.err != nil || r.resp.StatusCode != 400 || !bytes.Contains(r.body, []byte(CodeInvalidSignature)) {
		t.Fatalf("%+v %s", r, r.body)
	}
	if s := env.observedNext(t); s != "Echo 400 "+CodeInvalidSignature {
		t.Fatalf("observed %q", s)
	}
}

// TestHeldAnswersLeaveInOrder: with pipelined requests, an answer whose
// record is durable first still waits for the answers before it.
func TestHeldAnswersLeaveInOrder(t *testing.T) {
	env := newHeldEnv(t, false, nil)
	conn, err := net.Dial("tcp", env.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var raw bytes.Buffer
	for i := range 2 {
		if err := newSignedRequest(t, env.srv.URL, []byte(fmt.Sprintf(`{"N":%d}`, i)), signOpts{}).Write(&raw); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	first, second := env.next(t), env.next(t)
	second.done(nil)
	conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatal("the second answer left before the first")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	first.done(nil)
	br := bufio.NewReader(conn)
	for i := range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(fmt.Sprintf(`{\"N\":%d}`, i))) {
			t.Fatalf("answer %d: %d %s", i, resp.StatusCode, b)
		}
	}
}

// TestHeldAnswerToSlowReader: settling never blocks on a client that does
// not read (the settler serves a whole group); the answer still arrives
// whole once it reads.
func TestHeldAnswerToSlowReader(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			env := newHeldEnv(t, tlsOn, nil)
			conn, err := net.Dial("tcp", env.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var c net.Conn = conn
			if tlsOn {
				cfg := env.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
				cfg.ServerName = "127.0.0.1"
				tc := tls.Client(conn, cfg)
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c = tc
			}
			if err := newSignedRequest(t, env.srv.URL, []byte(`{}`), signOpts{target: "TrentService.Big"}).Write(c); err != nil {
				t.Fatal(err)
			}
			rec := env.next(t)
			time.Sleep(200 * time.Millisecond) // the 16 MiB answer is written (held)
			start := time.Now()
			rec.done(nil)
			if d := time.Since(start); d > time.Second {
				t.Fatalf("settling took %v with a client that does not read", d)
			}
			time.Sleep(100 * time.Millisecond)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			var out struct{ Blob string }
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Blob) != 16<<20 {
				t.Fatalf("answer: %v %d %d bytes", err, resp.StatusCode, len(out.Blob))
			}
		})
	}
}
