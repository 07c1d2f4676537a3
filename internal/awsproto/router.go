package awsproto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Call is one decoded AWS request handed to an operation.
type Call struct {
	Service   string // signing name, e.g. "kms"
	Operation string
	Principal Principal
	Region    string // from the credential scope
	RequestID string
	SourceIP  string
	UserAgent string
	// SecureTransport: the request arrived over TLS at this server (a
	// TLS-terminating proxy in front makes it false).
	SecureTransport bool
	// Received is when the server began to handle the request (for latency metrics).
	Received time.Time
	// Body is the request body. For query services it is the form-encoded
	// parameters: the body, followed by "&" and the URL query string when the
	// request has one (parse it with ParseQuery).
	Body []byte
	// Query: the operation is a QueryService's (query protocol, or JSON 1.0 or
	// CBOR transcoded by its Model); its result is encoded with encoding/xml.
	Query bool
	// ClaimedAccessKeyID is, for a request refused by SigV4 verification, the
	// access key id its Credential named, when it has the shape of one. It is
	// not authenticated (anyone can send any id); it lets the audit trail tell
	// which key failed attempts used. Empty once verified (see Principal).
	ClaimedAccessKeyID string

	announced bool       // Router.Expect(1) was called and not yet taken back or consumed
	quiet     *quietConn // its HTTP/1 connection, once the body is read (nil: not through a QuietListener)
}

// TakeAnnouncement reports whether the request was announced with
// Router.Expect and not yet consumed, and consumes it: the Record hook calls
// it once and, if true, owes the announcement's settlement (for example
// audit.Journal.AppendExpected).
func (c *Call) TakeAnnouncement() bool {
	a := c.announced
	c.announced = false
	return a
}

// Handler runs one operation. The returned value is JSON-encoded as the
// response (nil → {}); the error is mapped as described in the package doc.
type Handler func(ctx context.Context, c *Call) (any, error)

// JSONService is one AWS JSON-protocol service served by a Router.
type JSONService struct {
	TargetPrefix string             // X-Amz-Target prefix, e.g. "TrentService"
	SigningName  string             // SigV4 scope service, e.g. "kms"
	JSONVersion  string             // "1.0" or "1.1" (default): Content-Type application/x-amz-json-<v>
	Operations   map[string]Handler // explicit dispatch table, by operation name
	// MapError maps a handler's domain error to its AWS shape. It is not called
	// for errors that are (or wrap) *Error. A nil func or a nil result gives
	// 500 InternalFailure.
	MapError func(error) *Error
}

// DefaultMaxBodyBytes is the default Router.MaxBodyBytes.
const DefaultMaxBodyBytes = 1 << 20

// maxOperationLen caps the operation name recorded in a Call for an unknown
// target.
const maxOperationLen = 128

// Router serves POST / for all registered JSON services: it picks the service
// by the X-Amz-Target prefix, verifies SigV4 (scope service must equal the
// service's SigningName), dispatches, and writes JSON or the error shape. It
// sets x-amzn-RequestId (a UUID v4) on every response.
type Router struct {
	Verifier     *Verifier
	MaxBodyBytes int64 // default DefaultMaxBodyBytes; larger bodies → 413

	// Observe, when set, is called after every request, accepted or refused:
	// status is the HTTP status written, errCode/errMsg are empty on success,
	// resp is the handler's result (nil on error). c.Body is the request body
	// as read (nil if it was not read). It must not retain c.Body or modify c.
	Observe func(c *Call, status int, errCode, errMsg string, resp any)

	// Record, when set, is called for every request, accepted or refused, BEFORE its
	// answer is written (Observe is called after): the answer waits for it. It is the
	// durable audit hook: when it fails for a request that succeeded, the client gets a
	// 500 InternalFailure instead of the answer (the operation itself has happened),
	// so that no acknowledged request lacks its record. Same arguments as Observe.
	Record func(c *Call, status int, errCode, errMsg string, resp any) error

	// RecordAsync, when set with Record, records a request without waiting
	// for its record: done is called once (from another goroutine; it does
	// not block) with nil when the record is durable, or with the error that
	// stopped it. If it returns an error, done is not called. The Router uses
	// it for HTTP/1 requests served through a QuietListener: the answer is
	// written to the connection but held there until done (see quiet.go); a
	// success whose record fails is answered 500 InternalFailure instead (on
	// plain HTTP; under TLS the connection closes). Observe is then called
	// from done, so that it sees the request's whole duration. Other
	// requests go through Record.
	RecordAsync func(c *Call, status int, errCode, errMsg string, resp any, done func(error)) error

	// Expect, when set with Record, announces records: it is called with 1
	// as each request starts, and with -1 when a request ends whose Record
	// call did not consume the announcement (Call.TakeAnnouncement). See
	// audit.Journal.Expect: a group commit waits for announced records.
	Expect func(n int)

	// InternalError, when set, receives the underlying error (or recovered
	// panic) whenever a 5xx answer is written. The client only sees a generic
	// message.
	InternalError func(c *Call, err error)

	services map[string]*route
	queries  map[string]*QueryService // by SigningName
	compat   map[string]*QueryService // query services with a Model, by Model.TargetPrefix
}

type route struct {
	svc         *JSONService
	contentType string
}

// NewRouter returns a Router for services. It panics on a nil Verifier, a
// service without TargetPrefix or SigningName, an unknown JSONVersion or a
// duplicate TargetPrefix: these are programming errors.
func NewRouter(v *Verifier, services ...*JSONService) *Router {
	if v == nil {
		panic("awsproto: NewRouter with a nil Verifier")
	}
	rt := &Router{Verifier: v, services: make(map[string]*route, len(services))}
	for _, s := range services {
		if s == nil || s.TargetPrefix == "" || s.SigningName == "" {
			panic("awsproto: JSONService needs a TargetPrefix and a SigningName")
		}
		// A prefix may contain dots (CloudTrail's is
		// com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101): the operation is what
		// follows the last dot of X-Amz-Target.
		ct := "application/x-amz-json-1.1"
		switch s.JSONVersion {
		case "", "1.1":
		case "1.0":
			ct = "application/x-amz-json-1.0"
		default:
			panic("awsproto: JSONService " + s.TargetPrefix + ": unknown JSONVersion " + strconv.Quote(s.JSONVersion))
		}
		if _, dup := rt.services[s.TargetPrefix]; dup {
			panic("awsproto: duplicate JSONService TargetPrefix " + s.TargetPrefix)
		}
		rt.services[s.TargetPrefix] = &route{svc: s, contentType: ct}
	}
	return rt
}

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := uuid.NewString()
	w.Header().Set("x-amzn-RequestId", rid)
	c := &Call{RequestID: rid, SourceIP: sourceIP(r.RemoteAddr), UserAgent: r.UserAgent(), SecureTransport: r.TLS != nil, Received: time.Now()}
	if rt.Record != nil && rt.Expect != nil {
		rt.Expect(1)
		c.announced = true
	}
	defer rt.finish(c)
	if svc, op, codec, ok := rt.compatRoute(r); ok {
		rt.serveCompat(w, r, c, svc, op, codec)
		return
	}
	if rt.isQuery(r) {
		rt.serveQuery(w, r, c)
		return
	}

	// Content type for answers before the service is known: mirror the
	// client's JSON version.
	ct := "application/x-amz-json-1.1"
	if r.Header.Get("Content-Type") == "application/x-amz-json-1.0" {
		ct = "application/x-amz-json-1.0"
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rt.fail(w, c, ct, Errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			"Method %s is not allowed: AWS JSON protocol requests use POST", quote(r.Method)), nil)
		return
	}

	target := r.Header.Get("X-Amz-Target")
	prefix, op, hasDot := cutLast(target, '.')
	rte := rt.services[prefix]
	if hasDot && rte != nil {
		c.Service = rte.svc.SigningName
		ct = rte.contentType
	} else {
		rte = nil
	}
	c.Operation = quote(op)

	body, berr := rt.readBody(w, r, c)
	if berr != nil {
		rt.fail(w, c, ct, berr, nil)
		return
	}
	c.Body = body

	expect := ""
	if rte != nil {
		expect = rte.svc.SigningName
	}
	p, scope, verr := rt.Verifier.verify(r, body, expect, true)
	if verr != nil {
		c.ClaimedAccessKeyID = claimedAccessKeyID(r)
		rt.fail(w, c, ct, verr, nil)
		return
	}
	c.Principal, c.Region = p, scope.Region
	if c.Service == "" {
		c.Service = scope.Service
	}

	if rte == nil {
		var e *Error
		switch {
		case target == "":
			e = badRequest(CodeUnknownOperation, "Missing X-Amz-Target header: expected <TargetPrefix>.<Operation>")
		case !hasDot:
			e = badRequest(CodeUnknownOperation, "Malformed X-Amz-Target '%s': expected <TargetPrefix>.<Operation>", quote(target))
		default:
			e = badRequest(CodeUnknownOperation, "Unknown target prefix '%s' in X-Amz-Target", quote(prefix))
		}
		rt.fail(w, c, ct, e, nil)
		return
	}
	h := rte.svc.Operations[op]
	if h == nil {
		rt.fail(w, c, ct, badRequest(CodeUnknownOperation, "Unknown operation '%s' for %s", quote(op), rte.svc.TargetPrefix), nil)
		return
	}

	resp, err := rt.invoke(r.Context(), h, c)
	if err != nil {
		rt.fail(w, c, ct, rt.mapError(rte.svc.MapError, err), err)
		return
	}
	out := []byte("{}")
	if resp != nil {
		b, merr := jsonMarshal(resp)
		if merr != nil {
			rt.fail(w, c, ct, errInternal, fmt.Errorf("awsproto: encoding the %s response: %w", op, merr))
			return
		}
		if string(b) != "null" {
			out = b
		}
	}
	failed := func(err error) []byte {
		return rt.failedAnswer(c, fmt.Errorf("awsproto: recording %s: %w", op, err), func(w http.ResponseWriter, status int, code, msg string) {
			writeJSONError(w, ct, status, code, msg)
		})
	}
	held, err := rt.record(c, http.StatusOK, "", "", resp, failed)
	if err != nil {
		rt.fail(w, c, ct, errInternal, fmt.Errorf("awsproto: recording %s: %w", op, err))
		return
	}
	writeJSON(w, http.StatusOK, ct, out)
	if !held && rt.Observe != nil {
		rt.Observe(c, http.StatusOK, "", "", resp)
	}
}

// record records c's answer before it leaves: it calls Record, or, when the
// answer can be held in c's connection (RecordAsync set and an HTTP/1
// QuietListener connection), holds what is written next to the connection
// until the record is durable and reports held. Observe is then called once
// the record is settled: the caller must not call it. failed, for an answer
// that must not leave without its record (a success), renders the answer
// that replaces it if the record fails (see failedAnswer); nil for an error
// answer, which leaves anyway (its record's failure goes to InternalError).
func (rt *Router) record(c *Call, status int, errCode, errMsg string, resp any, failed func(error) []byte) (held bool, err error) {
	if rt.Record == nil {
		return false, nil
	}
	q := c.quiet
	if q == nil || rt.RecordAsync == nil {
		return false, rt.Record(c, status, errCode, errMsg, resp)
	}
	a := q.hold()
	err = rt.RecordAsync(c, status, errCode, errMsg, resp, func(err error) {
		if err == nil || failed == nil {
			q.settle(a, true, nil)
			if err != nil && rt.InternalError != nil {
				rt.InternalError(c, fmt.Errorf("awsproto: recording a refused request: %w", err))
			}
			if rt.Observe != nil {
				rt.Observe(c, status, errCode, errMsg, resp)
			}
			return
		}
		q.settle(a, false, failed(err))
		if rt.Observe != nil {
			rt.Observe(c, errInternal.Status, errInternal.Code, errInternal.Message, nil)
		}
	})
	if err != nil {
		q.settle(a, true, nil) // nothing was written yet: the caller answers the error
		return false, err
	}
	return true, nil
}

// recordRefused records a refused request; its answer is an error anyway, so a
// failure to record goes to InternalError only. held: as for record.
func (rt *Router) recordRefused(c *Call, status int, code, msg string) (held bool) {
	held, err := rt.record(c, status, code, msg, nil, nil)
	if err != nil && rt.InternalError != nil {
		rt.InternalError(c, fmt.Errorf("awsproto: recording a refused request: %w", err))
	}
	return held
}

// failedAnswer reports cause (a record that failed after the answer was
// held) to InternalError and returns the raw HTTP/1.1 answer that replaces
// the held one: errInternal as render writes it, closing the connection.
func (rt *Router) failedAnswer(c *Call, cause error, render func(w http.ResponseWriter, status int, code, msg string)) []byte {
	status, code := rt.errorStatus(c, errInternal, cause)
	b := &bufferedAnswer{header: http.Header{}}
	b.header.Set("x-amzn-RequestId", c.RequestID)
	render(b, status, code, errInternal.Message)
	return b.raw()
}

// bufferedAnswer is an http.ResponseWriter that keeps the answer, to be
// written to a connection as it is (raw).
type bufferedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header { return b.header }

func (b *bufferedAnswer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedAnswer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// raw is the answer as an HTTP/1.1 response that closes the connection.
func (b *bufferedAnswer) raw() []byte {
	b.WriteHeader(http.StatusOK)
	h := b.header.Clone()
	h.Set("Content-Length", strconv.Itoa(b.body.Len()))
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 %d %s\r\n", b.status, http.StatusText(b.status))
	_ = h.Write(&out)
	out.WriteString("\r\n")
	out.Write(b.body.Bytes())
	return out.Bytes()
}

// finish takes back c's announcement if Record did not consume it, and lets
// reads of its connection through again.
func (rt *Router) finish(c *Call) {
	if c.TakeAnnouncement() {
		rt.Expect(-1)
	}
	if c.quiet != nil {
		c.quiet.disarm()
	}
}

// readBody reads r's body to its end. From then on until the handler
// returns, the connection's background read is held back (see quiet.go): the
// request only computes and writes, and typically waits for its record.
func (rt *Router) readBody(w http.ResponseWriter, r *http.Request, c *Call) ([]byte, *Error) {
	max := rt.MaxBodyBytes
	if max <= 0 {
		max = DefaultMaxBodyBytes
	}
	tooLarge := func() *Error {
		return Errorf(http.StatusRequestEntityTooLarge, CodeRequestEntityTooLarge,
			"The request body exceeds the maximum size of %d bytes", max)
	}
	if r.ContentLength > max {
		return nil, tooLarge()
	}
	if r.Body == nil || r.Body == http.NoBody {
		return []byte{}, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge()
		}
		return nil, badRequest(CodeSerialization, "The request body could not be read")
	}
	if c.quiet = quietOf(r.Context(), r.ProtoMajor); c.quiet != nil {
		c.quiet.arm()
	}
	return body, nil
}

// invoke runs h, turning a panic into an error.
func (rt *Router) invoke(ctx context.Context, h Handler, c *Call) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, &panicError{value: p}
		}
	}()
	return h(ctx, c)
}

type panicError struct{ value any }

func (p *panicError) Error() string { return fmt.Sprintf("awsproto: handler panic: %v", p.value) }

func (rt *Router) mapError(mapErr func(error) *Error, err error) *Error {
	var pe *panicError
	if errors.As(err, &pe) {
		return errInternal
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if mapErr != nil {
		if e := mapErr(err); e != nil {
			return e
		}
	}
	return errInternal
}

// fail writes e; cause, when e is a 5xx, goes to InternalError.
func (rt *Router) fail(w http.ResponseWriter, c *Call, ct string, e *Error, cause error) {
	status, code := rt.errorStatus(c, e, cause)
	held := rt.recordRefused(c, status, code, e.Message)
	writeJSONError(w, ct, status, code, e.Message)
	if !held && rt.Observe != nil {
		rt.Observe(c, status, code, e.Message, nil)
	}
}

// writeJSONError writes a JSON protocol error answer.
func writeJSONError(w http.ResponseWriter, ct string, status int, code, msg string) {
	b, err := jsonMarshal(errorBody{Type: code, Message: msg})
	if err != nil { // cannot happen for two strings
		b = []byte(`{"__type":"InternalFailure","message":""}`)
	}
	w.Header().Set("x-amzn-ErrorType", code)
	writeJSON(w, status, ct, b)
}

// errorStatus returns the status and code to write for e and reports a 5xx
// to InternalError.
func (rt *Router) errorStatus(c *Call, e *Error, cause error) (int, string) {
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	code := e.Code
	if code == "" {
		code = CodeInternalFailure
	}
	if status >= 500 && rt.InternalError != nil {
		if cause == nil {
			cause = e
		}
		rt.InternalError(c, cause)
	}
	return status, code
}

type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, ct string, b []byte) { writeBody(w, status, ct, b) }

func writeBody(w http.ResponseWriter, status int, ct string, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{ct}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// cutLast splits s around the last sep.
func cutLast(s string, sep byte) (before, after string, found bool) {
	if i := strings.LastIndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

func sourceIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}
