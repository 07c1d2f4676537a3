package awsproto

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// countingListener counts the Reads its connections get from above (the
// system calls, or would-be system calls, of the connection).
type countingListener struct {
	net.Listener
	reads *atomic.Int64
	open  *atomic.Int64 // connections accepted and not closed
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countingConn{Conn: c, reads: l.reads, open: l.open, deadline: new(atomic.Int64)}, nil
}

// countingConn counts the Reads that reach the socket: not those made
// after a deadline in the past, which fail without a system call.
type countingConn struct {
	net.Conn
	reads    *atomic.Int64
	open     *atomic.Int64
	closed   sync.Once
	deadline *atomic.Int64 // read deadline, Unix ns (0: none)
}

func (c *countingConn) Close() error {
	c.closed.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

func (c *countingConn) Read(p []byte) (int, error) {
	if d := c.deadline.Load(); d == 0 || d > time.Now().UnixNano() {
		c.reads.Add(1)
	}
	return c.Conn.Read(p)
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

func (c *countingConn) SetDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *countingConn) setDeadline(t time.Time) {
	if t.IsZero() {
		c.deadline.Store(0)
	} else {
		c.deadline.Store(t.UnixNano())
	}
}

// quietServer serves a handler that reads the body, then (when hold) holds
// back the background read the way Router.record does, and waits like a
// request waiting for its audit record.
func quietServer(t testing.TB, hold bool, wait time.Duration, tlsOn bool) (srv *httptest.Server, reads, open *atomic.Int64) {
	reads, open = new(atomic.Int64), new(atomic.Int64)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if q := quietOf(r.Context(), r.ProtoMajor); hold && q != nil {
			q.arm()
			defer q.disarm()
		} else if hold {
			t.Error("no quiet connection in the request's context")
		}
		time.Sleep(wait)
		w.Write(bytes.ToUpper(body))
	})
	srv = httptest.NewUnstartedServer(h)
	srv.Listener = QuietListener(countingListener{srv.Listener, reads, open})
	srv.Config.ConnContext = QuietConnContext
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, reads, open
}

// TestQuietConnHoldsBackgroundRead: with the hold, a request that waits costs
// the connection no read beyond the request's own; without it, net/http's
// background read adds one per request. Answers are right either way, over
// plain HTTP and TLS, on one keep-alive connection.
func TestQuietConnHoldsBackgroundRead(t *testing.T) {
	const n = 20
	for _, tlsOn := range []bool{false, true} {
		perReq := map[bool]float64{}
		for _, hold := range []bool{false, true} {
			srv, reads, _ := quietServer(t, hold, 3*time.Millisecond, tlsOn)
			c := srv.Client()
			c.Transport.(*http.Transport).MaxConnsPerHost = 1
			get := func(i int) {
				res, err := c.Post(srv.URL, "text/plain", strings.NewReader(fmt.Sprintf("request %d", i)))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(b) != fmt.Sprintf("REQUEST %d", i) {
					t.Fatalf("tls=%v hold=%v: %d %q", tlsOn, hold, res.StatusCode, b)
				}
			}
			get(-1) // the connection (and TLS handshake) exists
			r0 := reads.Load()
			for i := range n {
				get(i)
			}
			perReq[hold] = float64(reads.Load()-r0) / n
		}
		t.Logf("tls=%v: reads per request %.2f without the hold, %.2f with it", tlsOn, perReq[false], perReq[true])
		// With the hold, reads are the requests' own: one per request, and
		// one more when the background read runs before the hold is armed
		// (rare, unless the race detector slows everything down); without
		// it, net/http's background read adds one per plain-HTTP request
		// (under TLS it is sometimes served from what TLS has buffered).
		if perReq[true] > 1.5 || perReq[true] >= perReq[false] {
			t.Errorf("tls=%v: %.2f reads per request with the hold, %.2f without", tlsOn, perReq[true], perReq[false])
		}
		if !tlsOn && perReq[false] < 1.8 {
			t.Errorf("plain HTTP without the hold: %.2f reads per request; the test no longer sees the background read", perReq[false])
		}
	}
}

// TestQuietConnPipelinedAndClosed: a client that pipelines its next request
// while the first waits gets both answers in order; one that hangs up while
// its request waits does not keep the server's connection.
func TestQuietConnPipelinedAndClosed(t *testing.T) {
	srv, _, open := quietServer(t, true, 20*time.Millisecond, false)
	addr := srv.Listener.Addr().String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
	if _, err := io.WriteString(c, req+"one"+req+"two"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for _, want := range []string{"ONE", "TWO"} {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
	}

	// Hang up during the wait: the server answers into a closed connection
	// and then drops it (the next read ends), instead of holding it.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c2, req+"abc")
	time.Sleep(5 * time.Millisecond)
	c2.(*net.TCPConn).SetLinger(0)
	c2.Close()
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() != 1 { // c's
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after the client hung up, want 1", open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQuietConn measures, side by side, what holding back the
// background read saves a request that waits 1ms (a group commit's fsync)
// over loopback: process CPU per request (client and server, both in this
// process) with hold=on against hold=off.
func BenchmarkQuietConn(b *testing.B) {
	for _, hold := range []bool{false, true} {
		b.Run(fmt.Sprintf("hold=%v", hold), func(b *testing.B) {
			srv, _, _ := quietServer(b, hold, time.Millisecond, false)
			c := srv.Client()
			c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
			body := []byte(`{"KeyId":"alias/bench","Plaintext":"aGVsbG8="}`)
			b.SetParallelism(16)
			cpu0 := processCPU()
			b.ResetTimer()
			var mu sync.Mutex
			var failed error
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := c.Post(srv.URL, "application/x-amz-json-1.1", bytes.NewReader(body))
					if err == nil {
						_, err = io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
					if err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
				}
			})
			if failed != nil {
				b.Fatal(failed)
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
		})
	}
}

// TestRouterHoldsBackgroundReadWhileRecording: served through a
// QuietListener, a request whose Record waits (as for the durable journal)
// costs its connection no read beyond its own — and requests refused before
// their body is read (whose body net/http still has to drain) do not hang.
func TestRouterHoldsBackgroundReadWhileRecording(t *testing.T) {
	rt := NewRouter(&Verifier{Credentials: testCreds()}, testService())
	rt.Record = func(*Call, int, string, string, any) error {
		time.Sleep(3 * time.Millisecond)
		return nil
	}
	srv := httptest.NewUnstartedServer(rt)
	reads, open := new(atomic.Int64), new(atomic.Int64)
	srv.Listener = QuietListener(countingListener{srv.Listener, reads, open})
	srv.Config.ConnContext = QuietConnContext
	srv.Start()
	t.Cleanup(srv.Close)

	do(t, newSignedRequest(t, srv.URL, []byte(`{}`), signOpts{})) // the connection exists
	const n = 10
	r0 := reads.Load()
	for i := range n {
		a := do(t, newSignedRequest(t, srv.URL, []byte(fmt.Sprintf(`{"N":%d}`, i)), signOpts{}))
		if a.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	if per := float64(reads.Load()-r0) / n; per > 1.5 { // 2 without the hold; see TestQuietConnHoldsBackgroundRead
		t.Errorf("%.2f reads per request while Record waits, want 1", per)
	}

	// Refused with the body unread, on the same connection.
	req := newSignedRequest(t, srv.URL, bytes.Repeat([]byte("x"), 64<<10), signOpts{})
	req.Method = http.MethodPut
	expectErr(t, do(t, req), http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	expectErr(t, do(t, newSignedRequest(t, srv.URL, []byte(`{}`), signOpts{secret: "wrong"})), 400, CodeInvalidSignature)
	if a := do(t, newSignedRequest(t, srv.URL, []byte(`{}`), signOpts{})); a.status != http.StatusOK {
		t.Fatalf("after the refusals: %d %s", a.status, a.body)
	}
}
