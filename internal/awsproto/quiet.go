package awsproto

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"syscall"
	"time"
)

// Holding back net/http's background read while a request waits.
//
// Once a handler has read an HTTP/1 request body to its end, net/http starts
// a goroutine that reads one byte from the connection, to notice a client
// that goes away (or pipelines its next request); the server aborts that read
// by setting a read deadline in the past when the handler returns. A handler
// that blocks, as every audited request does until its record is durable,
// lets that goroutine run: a read system call that finds nothing (EAGAIN), a
// park in the network poller and a wake-up by the deadline, for every
// request. On the machines we measured this was about a tenth of the cost of
// the durable trail per request (docs/performance.md).
//
// QuietListener's connections let the Router hold such reads back: once
// readBody has read the body to its end (arm) and until the handler returns
// (disarm), a Read on the connection waits without a system call until the
// server sets a read deadline or closes the connection — exactly what
// net/http does when the handler returns — and then reads for real (at once
// failing with the deadline, without a system call). Only the background read
// runs in that window: the handler has read its body and only writes, and
// HTTP/1 serves one request at a time. Requests of other protocols (HTTP/2
// multiplexes the connection and reads it all the time) never arm the hold,
// nor do requests refused before their body is read (net/http drains it).
// The cost: a client that goes away while its request is handled is noticed
// when the answer is written, not before; handlers are short and the wait for
// the journal is bounded (audit.Options.AppendTimeout).

// QuietListener wraps ln (under any TLS listener) so that handlers can hold
// back background reads; serve it with QuietConnContext as the server's
// ConnContext.
func QuietListener(ln net.Listener) net.Listener { return quietListener{ln} }

type quietListener struct{ net.Listener }

func (l quietListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	q := &quietConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		q.raw, _ = sc.SyscallConn()
	}
	return q, nil
}

type quietKey struct{}

// QuietConnContext is an http.Server ConnContext that makes a QuietListener
// connection (plain or under TLS) available to the Router.
func QuietConnContext(ctx context.Context, c net.Conn) context.Context {
	underTLS := false
	for range 2 {
		if q, ok := c.(*quietConn); ok {
			q.underTLS = underTLS
			return context.WithValue(ctx, quietKey{}, q)
		}
		_, underTLS = c.(*tls.Conn)
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	return ctx
}

// quietOf returns the connection of an HTTP/1 request served through a
// QuietListener, or nil.
func quietOf(ctx context.Context, protoMajor int) *quietConn {
	if protoMajor != 1 {
		return nil
	}
	q, _ := ctx.Value(quietKey{}).(*quietConn)
	return q
}

// quietConn is a connection whose reads a handler can hold back, and whose
// answers can wait for their records (see hold).
type quietConn struct {
	net.Conn
	raw      syscall.RawConn // for writes that must not block (nil: every held answer goes through flushSlow)
	underTLS bool            // set by QuietConnContext

	mu    sync.Mutex
	armed bool          // new Reads are held
	held  chan struct{} // non-nil while Reads are held; closed to release them

	answers    []*heldAnswer // held answers, oldest first; Writes go into the last one
	out        []byte        // released bytes not yet written
	flushing   bool          // flushSlow writes out (a slow reader); Writes queue behind it
	doomed     bool          // a held answer failed: Writes are dropped, the connection closes once out is written
	closeAsked bool          // Close was called while bytes were held or queued
	closed     bool          // closed for real
}

// heldAnswer is what was written for one request between hold and settle.
type heldAnswer struct {
	buf     []byte
	settled bool
	failed  bool // its record failed: buf is the failure answer, and nothing more joins it
}

// arm holds back Reads that start from now until disarm (Reads already held
// stay held until a deadline is set or the connection closes).
func (c *quietConn) arm() {
	c.mu.Lock()
	c.armed = true
	c.mu.Unlock()
}

// disarm lets new Reads through again.
func (c *quietConn) disarm() {
	c.mu.Lock()
	c.armed = false
	c.mu.Unlock()
}

// release lets held Reads go on to the real read.
func (c *quietConn) release() {
	c.mu.Lock()
	c.armed = false
	if c.held != nil {
		close(c.held)
		c.held = nil
	}
	c.mu.Unlock()
}

func (c *quietConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.armed {
		if c.held == nil {
			c.held = make(chan struct{})
		}
		held := c.held
		c.mu.Unlock()
		<-held
	} else {
		c.mu.Unlock()
	}
	return c.Conn.Read(p)
}

func (c *quietConn) SetReadDeadline(t time.Time) error {
	err := c.Conn.SetReadDeadline(t)
	c.release()
	return err
}

func (c *quietConn) SetDeadline(t time.Time) error {
	err := c.Conn.SetDeadline(t)
	c.release()
	return err
}

// Answers held until their records are durable.
//
// With the durable trail, a request's answer may only leave once its record
// is on disk. Waiting for that in the handler parks a goroutine per request
// and wakes it again after the commit. Instead, Router.record (with
// RecordAsync) calls hold before the handler writes its answer: everything
// written to the connection from then on (net/http writes the answer when
// the handler returns) stays in the connection until settle, which the
// journal's settler calls once the record is durable. Then the bytes are
// written by that goroutine without blocking (a raw non-blocking write; what
// does not fit in the socket buffer goes to a goroutine of its own), while
// net/http already waits for the next request. Answers leave in the order
// they were held. If the record fails, the answer never leaves: it is
// replaced by the failure answer (a 500 InternalFailure, on plain HTTP) and
// the connection closes; under TLS, whose records cannot be rewritten below
// the TLS layer, the connection just closes. Close waits for held and
// queued answers to be written.

// hold starts holding back what is written to c, until settle.
func (c *quietConn) hold() *heldAnswer {
	a := &heldAnswer{}
	c.mu.Lock()
	c.answers = append(c.answers, a)
	c.mu.Unlock()
	return a
}

// settle lets a's bytes go, after those of earlier answers. ok false means
// a's record failed: its bytes never leave, failure (if any, and not under
// TLS) is written in their place, and the connection closes without
// writing anything after it.
func (c *quietConn) settle(a *heldAnswer, ok bool, failure []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	a.settled = true
	if !ok {
		if c.underTLS {
			failure = nil
		}
		a.buf, a.failed = failure, true
	}
	for len(c.answers) > 0 && c.answers[0].settled {
		h := c.answers[0]
		c.answers[0] = nil
		c.answers = c.answers[1:]
		if len(c.out) == 0 {
			c.out = h.buf // the usual case: the answer's own buffer, not a copy
		} else {
			c.out = append(c.out, h.buf...)
		}
		if h.failed {
			c.doomed = true
			c.answers = nil // later answers never leave
		}
	}
	c.flushLocked()
}

// flushLocked writes out without blocking; what is left goes to flushSlow.
// Once nothing is held or queued, a requested (or doomed) close happens.
func (c *quietConn) flushLocked() {
	if c.flushing || c.closed {
		return
	}
	if len(c.out) > 0 {
		n, err := c.tryWrite(c.out)
		if err != nil {
			c.closeLocked()
			return
		}
		if n < len(c.out) {
			c.out = c.out[n:]
			c.flushing = true
			go c.flushSlow()
			return
		}
		c.out = nil
	}
	if len(c.answers) == 0 && (c.closeAsked || c.doomed) {
		c.closeLocked()
	}
}

// slowWriteTimeout bounds each write of flushSlow: a client that does not
// read its answers loses its connection.
const slowWriteTimeout = 30 * time.Second

// flushSlow writes out with blocking writes, for a client that reads slower
// than its answers come.
func (c *quietConn) flushSlow() {
	for {
		c.mu.Lock()
		b := c.out
		c.out = nil
		if len(b) == 0 || c.closed {
			c.flushing = false
			c.flushLocked()
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		_ = c.Conn.SetWriteDeadline(time.Now().Add(slowWriteTimeout))
		_, err := c.Conn.Write(b)
		_ = c.Conn.SetWriteDeadline(time.Time{})
		if err != nil {
			c.mu.Lock()
			c.flushing = false
			c.closeLocked()
			c.mu.Unlock()
			return
		}
	}
}

// tryWrite writes as much of b as the socket takes now, without blocking.
func (c *quietConn) tryWrite(b []byte) (int, error) {
	if c.raw == nil {
		return 0, nil
	}
	n := 0
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		n, werr = writeNonblocking(fd, b)
		return true // never wait for the poller: flushSlow does
	})
	if err == nil {
		err = werr
	}
	return n, err
}

// closeLocked closes the connection for real.
func (c *quietConn) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	c.answers, c.out = nil, nil
	_ = c.Conn.Close()
}

// Write holds p back while an answer is held, queues it behind a slow
// flush, drops it on a doomed connection, and otherwise writes it.
func (c *quietConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return 0, net.ErrClosed
	case c.doomed:
		c.mu.Unlock()
		return len(p), nil
	case len(c.answers) > 0:
		if a := c.answers[len(c.answers)-1]; !a.failed {
			a.buf = append(a.buf, p...)
		}
		c.mu.Unlock()
		return len(p), nil
	case c.flushing || len(c.out) > 0:
		c.out = append(c.out, p...)
		c.mu.Unlock()
		return len(p), nil
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// Close closes the connection, once what is held or queued is written.
func (c *quietConn) Close() error {
	c.mu.Lock()
	var err error
	if len(c.answers) > 0 || c.flushing || len(c.out) > 0 {
		c.closeAsked = true
	} else if !c.closed {
		c.closed = true
		err = c.Conn.Close()
	}
	c.mu.Unlock()
	c.release()
	return err
}
