package awsproto

import (
	"context"
	"net"
	"sync"
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
	return &quietConn{Conn: c}, nil
}

type quietKey struct{}

// QuietConnContext is an http.Server ConnContext that makes a QuietListener
// connection (plain or under TLS) available to the Router.
func QuietConnContext(ctx context.Context, c net.Conn) context.Context {
	for range 2 {
		if q, ok := c.(*quietConn); ok {
			return context.WithValue(ctx, quietKey{}, q)
		}
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

// quietConn is a connection whose reads a handler can hold back.
type quietConn struct {
	net.Conn
	mu    sync.Mutex
	armed bool          // new Reads are held
	held  chan struct{} // non-nil while Reads are held; closed to release them
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

func (c *quietConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
