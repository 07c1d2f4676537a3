package awsproto

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The query-compatible protocols: a QueryService with a Model is also served
// over AWS JSON 1.0 (X-Amz-Target: <TargetPrefix>.<Action>, the JSON protocol
// of an awsQueryCompatible service) and Smithy RPC v2 CBOR (POST
// /service/<TargetPrefix>/operation/<Action>, smithy-protocol: rpc-v2-cbor).
// Both are transcoded, by the model, to the query protocol: the request body
// becomes the form the query protocol would have sent (Action, Version and the
// input members as Name, List.member.N, Map.entry.N.key...), the operation
// runs as for a query request, and its result, encoded as the query
// protocol's <ActionResult> XML, is read back by the output shape into JSON or
// CBOR. So one operation table serves all three protocols, and the audit hook
// sees the same Call.Body (the form) whichever protocol the client spoke.

// compatCodec is one query-compatible wire encoding.
type compatCodec interface {
	name() string
	contentType() string
	// decode returns the request body as a tree: map[string]any, []any,
	// string, bool, nil and the encoding's numbers, blobs and timestamps.
	decode(body []byte) (any, *Error)
	// encode writes a tree of map[string]any, []any, string, int64, float64,
	// bool, time.Time and []byte.
	encode(v any) ([]byte, error)
	// header sets protocol headers common to every answer.
	header(h http.Header)
}

// compatRoute returns the query service, operation and codec for a
// query-compatible request, or ok=false for a request of another protocol.
// A path under /service/ is always answered as RPC v2 CBOR when a
// query-compatible service is registered (svc is nil when the path names none).
func (rt *Router) compatRoute(r *http.Request) (svc *QueryService, op string, codec compatCodec, ok bool) {
	if len(rt.compat) == 0 {
		return nil, "", nil, false
	}
	if rest, isCBOR := strings.CutPrefix(r.URL.Path, "/service/"); isCBOR {
		name, opName, _ := strings.Cut(rest, "/operation/")
		return rt.compat[name], opName, cborCodec{}, true
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, opName, _ := cutLast(target, '.')
		if s := rt.compat[prefix]; s != nil {
			return s, opName, jsonCodec{}, true
		}
	}
	return nil, "", nil, false
}

func (rt *Router) serveCompat(w http.ResponseWriter, r *http.Request, c *Call, svc *QueryService, op string, codec compatCodec) {
	codec.header(w.Header())
	var m *Model
	if svc != nil {
		m = svc.Model
		c.Service = svc.SigningName
		c.Query = true
	}
	c.Operation = quote(op)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rt.failCompat(w, c, m, codec, Errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			"Method %s is not allowed: %s requests use POST", quote(r.Method), codec.name()), nil)
		return
	}
	if _, isCBOR := codec.(cborCodec); isCBOR && !strings.EqualFold(strings.TrimSpace(r.Header.Get("smithy-protocol")), "rpc-v2-cbor") {
		rt.failCompat(w, c, m, codec, badRequest(CodeSerialization,
			"RPC v2 CBOR requests carry the header 'smithy-protocol: rpc-v2-cbor'; got '%s'", quote(r.Header.Get("smithy-protocol"))), nil)
		return
	}
	body, berr := rt.readBody(w, r, c)
	if berr != nil {
		rt.failCompat(w, c, m, codec, berr, nil)
		return
	}
	expect := ""
	if svc != nil {
		expect = svc.SigningName
	}
	_, isJSON := codec.(jsonCodec)
	p, scope, verr := rt.Verifier.verify(r, body, expect, isJSON)
	if verr != nil {
		c.ClaimedAccessKeyID = claimedAccessKeyID(r)
		rt.failCompat(w, c, m, codec, verr, nil)
		return
	}
	c.Principal, c.Region = p, scope.Region
	if c.Service == "" {
		c.Service = scope.Service
	}
	if svc == nil {
		rt.failCompat(w, c, m, codec, badRequest(CodeUnknownOperation,
			"Unknown service in the request path '%s': expected /service/<Service>/operation/<Operation>", quote(r.URL.Path)), nil)
		return
	}
	mop := m.ops[op]
	h := svc.Operations[op]
	if mop == nil || h == nil {
		rt.failCompat(w, c, m, codec, badRequest(CodeUnknownOperation, "Unknown operation '%s' for %s",
			quote(op), m.TargetPrefix), nil)
		return
	}

	if body, berr = rt.decodeContent(r, body); berr != nil {
		rt.failCompat(w, c, m, codec, berr, nil)
		return
	}
	tree, derr := codec.decode(body)
	if derr != nil {
		rt.failCompat(w, c, m, codec, derr, nil)
		return
	}
	form, terr := m.requestForm(op, mop, tree)
	if terr != nil {
		rt.failCompat(w, c, m, codec, terr, nil)
		return
	}
	c.Body = form

	resp, err := rt.invoke(r.Context(), h, c)
	if err != nil {
		rt.failCompat(w, c, m, codec, rt.mapError(svc.MapError, err), err)
		return
	}
	out, eerr := m.responseBody(op, mop, resp, codec)
	if eerr != nil {
		rt.failCompat(w, c, m, codec, errInternal, fmt.Errorf("awsproto: encoding the %s response: %w", op, eerr))
		return
	}
	failed := func(err error) []byte {
		return rt.failedAnswer(c, fmt.Errorf("awsproto: recording %s: %w", op, err), func(w http.ResponseWriter, status int, code, msg string) {
			writeCompatError(w, c, m, codec, status, code, msg)
		})
	}
	held, err := rt.record(c, http.StatusOK, "", "", resp, failed)
	if err != nil {
		rt.failCompat(w, c, m, codec, errInternal, fmt.Errorf("awsproto: recording %s: %w", op, err))
		return
	}
	ct := codec.contentType()
	if out == nil { // RPC v2 CBOR: an operation without output has an empty body
		ct = ""
	}
	writeCompat(w, http.StatusOK, ct, out)
	if !held && rt.Observe != nil {
		rt.Observe(c, http.StatusOK, "", "", resp)
	}
}

// decodeContent undoes the request's Content-Encoding after the signature was
// verified over the body as sent: the SDKs gzip large requests of operations
// with the requestCompression trait (aws-sdk-go-v2 gzips every PutMetricData).
// Only gzip (and identity) is accepted; the decompressed body is capped at
// MaxBodyBytes as the body itself is (413 beyond).
func (rt *Router) decodeContent(r *http.Request, body []byte) ([]byte, *Error) {
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return body, nil
	case "gzip":
		max := rt.MaxBodyBytes
		if max <= 0 {
			max = DefaultMaxBodyBytes
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, badRequest(CodeSerialization, "The request body is not valid gzip")
		}
		out, err := io.ReadAll(io.LimitReader(zr, max+1))
		if err != nil {
			return nil, badRequest(CodeSerialization, "The request body is not valid gzip")
		}
		if int64(len(out)) > max {
			return nil, Errorf(http.StatusRequestEntityTooLarge, CodeRequestEntityTooLarge,
				"The decompressed request body exceeds the maximum size of %d bytes", max)
		}
		return out, nil
	default:
		return nil, Errorf(http.StatusUnsupportedMediaType, CodeSerialization, "Unsupported Content-Encoding '%s': use gzip or none", quote(enc))
	}
}

// responseBody encodes the operation's result: its query-protocol XML read
// back by the output shape. A nil result is an empty structure; an operation
// without output answers {} in JSON and nothing in CBOR.
func (m *Model) responseBody(op string, mop *modelOp, resp any, codec compatCodec) ([]byte, error) {
	if mop.output == nil {
		if _, isJSON := codec.(jsonCodec); isJSON {
			return []byte("{}"), nil
		}
		return nil, nil
	}
	tree := any(map[string]any{})
	if resp != nil {
		var b bytes.Buffer
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(resp, xml.StartElement{Name: xml.Name{Local: op + "Result"}}); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
		root, err := parseXMLTree(b.Bytes())
		if err != nil {
			return nil, err
		}
		if tree, err = fromXML(mop.output.sh, root); err != nil {
			return nil, err
		}
	}
	return codec.encode(tree)
}

func writeCompat(w http.ResponseWriter, status int, ct string, b []byte) {
	h := w.Header()
	if ct != "" {
		h["Content-Type"] = []string{ct}
	}
	h["Content-Length"] = []string{itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// failCompat writes e for a query-compatible request: the code and status are
// those the query protocol answers (SigV4 failures are translated as for query
// services), carried in x-amzn-query-error: <Code>;Sender|Receiver; the body's
// __type is the model's error shape for that code (e.g. InvalidParameterValue →
// InvalidParameterValueException), or the code itself.
func (rt *Router) failCompat(w http.ResponseWriter, c *Call, m *Model, codec compatCodec, e *Error, cause error) {
	status, code := rt.errorStatus(c, queryAuthError(e), cause)
	held := rt.recordRefused(c, status, code, e.Message)
	writeCompatError(w, c, m, codec, status, code, e.Message)
	if !held && rt.Observe != nil {
		rt.Observe(c, status, code, e.Message, nil)
	}
}

// writeCompatError writes a query-compatible error answer (see failCompat).
func writeCompatError(w http.ResponseWriter, c *Call, m *Model, codec compatCodec, status int, code, msg string) {
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	typ := code
	if m != nil {
		typ = m.errorTypeOf(c.Operation, code)
	}
	b, err := codec.encode(map[string]any{"__type": typ, "message": msg})
	if err != nil { // cannot happen for two strings
		b = nil
	}
	h := w.Header()
	h.Set("x-amzn-query-error", code+";"+fault)
	h.Set("x-amzn-ErrorType", typ)
	writeCompat(w, status, codec.contentType(), b)
}
