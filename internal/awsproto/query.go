package awsproto

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// QueryService is one AWS query-protocol service (IAM, STS) served by a
// Router: form-encoded parameters (POST body and/or URL query string) with
// Action and Version, answered in XML.
type QueryService struct {
	SigningName  string // SigV4 scope service, e.g. "iam", "sts"; routes the request
	Version      string // API version clients send, e.g. "2010-05-08"
	XMLNamespace string // e.g. "https://iam.amazonaws.com/doc/2010-05-08/"
	// Operations by Action name. The handler's Call has Operation = Action
	// and Body = the form-encoded parameters. Its result is encoded with
	// encoding/xml as the content of <{Action}Result> (nil: no Result
	// element); it must be a struct, pointer to struct or other value
	// encoding/xml handles (not a map).
	Operations map[string]Handler
	// MapError is as for JSONService.MapError.
	MapError func(error) *Error
	// Model, when set, also serves the service over the protocols of an
	// awsQueryCompatible service (AWS JSON 1.0 with X-Amz-Target
	// <TargetPrefix>.<Action>, and Smithy RPC v2 CBOR at
	// /service/<TargetPrefix>/operation/<Action>): their requests are
	// transcoded to the query form by the model, so the same Operations serve
	// them (see the package documentation). Its APIVersion must be Version.
	Model *Model
}

// AddQuery registers query-protocol services and returns rt. It panics on a
// nil service, a missing SigningName, Version or XMLNamespace, or a
// SigningName registered twice. Call it before serving requests.
//
// A request without X-Amz-Target whose Content-Type is
// application/x-www-form-urlencoded (or a GET, or a POST without
// Content-Type, with a URL query string) goes to the query service whose
// SigningName equals the verified credential scope's service. Without any
// registered query service, such requests get the JSON protocol's errors as
// before.
func (rt *Router) AddQuery(services ...*QueryService) *Router {
	for _, s := range services {
		if s == nil || s.SigningName == "" || s.Version == "" || s.XMLNamespace == "" {
			panic("awsproto: QueryService needs a SigningName, a Version and an XMLNamespace")
		}
		if rt.queries == nil {
			rt.queries = make(map[string]*QueryService)
		}
		if _, dup := rt.queries[s.SigningName]; dup {
			panic("awsproto: duplicate QueryService SigningName " + s.SigningName)
		}
		rt.queries[s.SigningName] = s
		if s.Model != nil {
			if s.Model.APIVersion != s.Version {
				panic("awsproto: QueryService " + s.SigningName + ": the Model's apiVersion is not the service's Version")
			}
			if rt.compat == nil {
				rt.compat = make(map[string]*QueryService)
			}
			if _, dup := rt.compat[s.Model.TargetPrefix]; dup || rt.services[s.Model.TargetPrefix] != nil {
				panic("awsproto: duplicate Model targetPrefix " + s.Model.TargetPrefix)
			}
			rt.compat[s.Model.TargetPrefix] = s
		}
	}
	return rt
}

// isQuery reports whether r is for the query protocol.
func (rt *Router) isQuery(r *http.Request) bool {
	if len(rt.queries) == 0 || r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	ct := r.Header.Get("Content-Type")
	switch r.Method {
	case http.MethodPost:
		if ct == "" {
			return r.URL.RawQuery != ""
		}
		mt, _, err := mime.ParseMediaType(ct)
		return err == nil && mt == "application/x-www-form-urlencoded"
	case http.MethodGet:
		return r.URL.RawQuery != ""
	}
	return false
}

// noVersion is what AWS names a missing Version in InvalidAction messages.
const noVersion = "NO_VERSION_SPECIFIED"

func (rt *Router) serveQuery(w http.ResponseWriter, r *http.Request, c *Call) {
	ns := rt.guessNamespace(r)
	body, berr := rt.readBody(w, r, c)
	if berr != nil {
		rt.failXML(w, c, ns, berr, nil)
		return
	}
	c.Body = body
	c.Query = true
	p, scope, verr := rt.Verifier.verify(r, body, "", false)
	if verr != nil {
		c.ClaimedAccessKeyID = claimedAccessKeyID(r)
		rt.claimedQueryCall(r, c, body)
		rt.failXML(w, c, ns, queryAuthError(verr), nil)
		return
	}
	c.Principal, c.Region, c.Service = p, scope.Region, scope.Service
	svc := rt.queries[scope.Service]
	if svc == nil {
		rt.failXML(w, c, "", badRequest(CodeUnknownOperation,
			"No query-protocol service '%s' is served here (from the credential scope)", quote(scope.Service)), nil)
		return
	}
	ns = svc.XMLNamespace

	params := body
	if r.URL.RawQuery != "" {
		if len(body) == 0 {
			params = []byte(r.URL.RawQuery)
		} else {
			params = make([]byte, 0, len(body)+1+len(r.URL.RawQuery))
			params = append(append(append(params, body...), '&'), r.URL.RawQuery...)
		}
		c.Body = params
	}
	vals, perr := ParseQuery(params)
	if perr != nil {
		rt.failXML(w, c, ns, asError(perr), nil)
		return
	}
	action := vals.Get("Action")
	if action == "" {
		rt.failXML(w, c, ns, badRequest(CodeMissingAction, "Missing Action"), nil)
		return
	}
	c.Operation = quote(action)
	version := vals.Get("Version")
	if version == "" {
		version = noVersion
	}
	h := svc.Operations[action]
	if h == nil || version != svc.Version {
		rt.failXML(w, c, ns, badRequest(CodeInvalidAction, "Could not find operation %s for version %s",
			quote(action), quote(version)), nil)
		return
	}

	resp, err := rt.invoke(r.Context(), h, c)
	if err != nil {
		rt.failXML(w, c, ns, rt.mapError(svc.MapError, err), err)
		return
	}
	out, merr := queryResponse(action, ns, c.RequestID, resp)
	if merr != nil {
		rt.failXML(w, c, ns, errInternal, fmt.Errorf("awsproto: encoding the %s response: %w", action, merr))
		return
	}
	failed := func(err error) []byte {
		return rt.failedAnswer(c, fmt.Errorf("awsproto: recording %s: %w", action, err), func(w http.ResponseWriter, status int, code, msg string) {
			writeXMLError(w, c, ns, status, code, msg)
		})
	}
	held, err := rt.record(c, http.StatusOK, "", "", resp, failed)
	if err != nil {
		rt.failXML(w, c, ns, errInternal, fmt.Errorf("awsproto: recording %s: %w", action, err))
		return
	}
	writeBody(w, http.StatusOK, "text/xml", out)
	if !held && rt.Observe != nil {
		rt.Observe(c, http.StatusOK, "", "", resp)
	}
}

// claimedQueryCall fills in, for a query request refused by SigV4, the service its
// credential scope names (when it is one served here) and its Action, so that its record
// says which operation of which service was attempted (eventSource and eventName). Neither
// is authenticated.
func (rt *Router) claimedQueryCall(r *http.Request, c *Call, body []byte) {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil || rt.queries[a.Service] == nil {
		return
	}
	c.Service = a.Service
	params := body
	if len(params) == 0 {
		params = []byte(r.URL.RawQuery)
	}
	if v, err := ParseQuery(params); err == nil {
		if action := v.Get("Action"); action != "" && len(action) <= maxOperationLen {
			c.Operation = quote(action)
		}
	}
}

// guessNamespace is the XML namespace for an answer written before the
// request is verified: that of the service named in the Authorization
// header's scope, else of the only query service, else none.
func (rt *Router) guessNamespace(r *http.Request) string {
	if a, err := parseAuthorization(r.Header.Get("Authorization")); err == nil {
		if s := rt.queries[a.Service]; s != nil {
			return s.XMLNamespace
		}
	}
	if len(rt.queries) == 1 {
		for _, s := range rt.queries {
			return s.XMLNamespace
		}
	}
	return ""
}

// queryAuthError translates a Verifier error to the codes IAM and STS use.
func queryAuthError(e *Error) *Error {
	switch e.Code {
	case CodeMissingAuthenticationToken:
		return &Error{Status: http.StatusForbidden, Code: CodeQueryMissingAuthenticationToken,
			Message: "Request is missing Authentication Token"}
	case CodeIncompleteSignature:
		return &Error{Status: http.StatusBadRequest, Code: CodeQueryIncompleteSignature, Message: e.Message}
	case CodeInvalidSignature:
		return &Error{Status: http.StatusForbidden, Code: CodeSignatureDoesNotMatch, Message: e.Message}
	case CodeUnrecognizedClient:
		return &Error{Status: http.StatusForbidden, Code: CodeInvalidClientTokenID, Message: e.Message}
	case CodeExpiredTokenException:
		return &Error{Status: http.StatusBadRequest, Code: CodeExpiredToken, Message: e.Message}
	}
	return e
}

func asError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return errInternal
}

// queryResponse builds <{action}Response xmlns=ns>[<{action}Result>v</...>]
// <ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></...>.
func queryResponse(action, ns, rid string, v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("<" + action + "Response")
	writeXMLNS(&b, ns)
	if v != nil {
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	b.WriteString("<ResponseMetadata><RequestId>")
	_ = xml.EscapeText(&b, []byte(rid))
	b.WriteString("</RequestId></ResponseMetadata></" + action + "Response>")
	return b.Bytes(), nil
}

func writeXMLNS(b *bytes.Buffer, ns string) {
	if ns != "" {
		b.WriteString(` xmlns="`)
		_ = xml.EscapeText(b, []byte(ns))
		b.WriteString(`"`)
	}
	b.WriteString(">")
}

// failXML is fail for query services.
func (rt *Router) failXML(w http.ResponseWriter, c *Call, ns string, e *Error, cause error) {
	status, code := rt.errorStatus(c, e, cause)
	held := rt.recordRefused(c, status, code, e.Message)
	writeXMLError(w, c, ns, status, code, e.Message)
	if !held && rt.Observe != nil {
		rt.Observe(c, status, code, e.Message, nil)
	}
}

// writeXMLError writes a query protocol error answer.
func writeXMLError(w http.ResponseWriter, c *Call, ns string, status int, code, msg string) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	var b bytes.Buffer
	b.WriteString("<ErrorResponse")
	writeXMLNS(&b, ns)
	b.WriteString("<Error><Type>" + typ + "</Type><Code>")
	_ = xml.EscapeText(&b, []byte(code))
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString("</Message></Error><RequestId>")
	_ = xml.EscapeText(&b, []byte(c.RequestID))
	b.WriteString("</RequestId></ErrorResponse>")
	writeBody(w, status, "text/xml", b.Bytes())
}

// ParseQuery parses form-encoded query-protocol parameters strictly: a bad
// %-escape, a ';' separator, invalid UTF-8 or a parameter given twice is a
// *Error 400 MalformedQueryString. Empty pairs ("a&&b") are skipped.
func ParseQuery(body []byte) (url.Values, error) {
	v := url.Values{}
	for pair := range strings.SplitSeq(string(body), "&") {
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		if strings.Contains(k, ";") || strings.Contains(val, ";") {
			return nil, badRequest(CodeMalformedQueryString, "The query string contains a ';' separator")
		}
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(val)
		if err1 != nil || err2 != nil {
			return nil, badRequest(CodeMalformedQueryString, "The query string contains an invalid %%-escape")
		}
		if !utf8.ValidString(key) || !utf8.ValidString(value) {
			return nil, badRequest(CodeMalformedQueryString, "The query string is not valid UTF-8")
		}
		if key == "" {
			return nil, badRequest(CodeMalformedQueryString, "The query string contains a parameter without a name")
		}
		if _, dup := v[key]; dup {
			return nil, badRequest(CodeMalformedQueryString, "Parameter '%s' is given more than once", quote(key))
		}
		v[key] = []string{value}
	}
	return v, nil
}

// QueryList returns the list prefix.member.1, prefix.member.2, ... in order.
// Members must be contiguous from 1: the list ends at the first missing index
// (later ones are ignored). An absent list, or "prefix=" (how SDKs send an
// empty list), gives nil.
func QueryList(v url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		vals, ok := v[prefix+".member."+strconv.Itoa(i)]
		if !ok || len(vals) == 0 {
			return out
		}
		out = append(out, vals[0])
	}
}

// Tag is one key-value tag of a query-protocol request or response.
type Tag struct {
	Key   string
	Value string
}

// QueryTags returns the tags prefix.member.N.Key / prefix.member.N.Value,
// N = 1, 2, ... contiguous (the list ends at the first N with neither). A
// member with only one of Key and Value is a *Error 400 ValidationError.
// Duplicate keys are returned as given: the caller decides.
func QueryTags(v url.Values, prefix string) ([]Tag, error) {
	var out []Tag
	for i := 1; ; i++ {
		m := prefix + ".member." + strconv.Itoa(i)
		k, hasK := v[m+".Key"]
		val, hasV := v[m+".Value"]
		if !hasK && !hasV {
			return out, nil
		}
		if !hasK || !hasV || len(k) == 0 || len(val) == 0 {
			missing := "key"
			if hasK && len(k) > 0 {
				missing = "value"
			}
			return nil, badRequest(CodeValidationError,
				"1 validation error detected: Value null at '%s.%d.member.%s' failed to satisfy constraint: Member must not be null",
				quote(lowerFirst(prefix)), i, missing)
		}
		out = append(out, Tag{Key: k[0], Value: val[0]})
	}
}

// QueryMap returns the map prefix.entry.N.key / prefix.entry.N.value (the
// query protocol's default map serialization), N = 1, 2, ... contiguous. An
// entry with only one of key and value, or a key given twice, is a *Error 400
// ValidationError. An absent map gives nil.
func QueryMap(v url.Values, prefix string) (map[string]string, error) {
	var out map[string]string
	for i := 1; ; i++ {
		e := prefix + ".entry." + strconv.Itoa(i)
		k, hasK := v[e+".key"]
		val, hasV := v[e+".value"]
		if !hasK && !hasV {
			return out, nil
		}
		if !hasK || !hasV || len(k) == 0 || len(val) == 0 {
			return nil, badRequest(CodeValidationError, "Map entry '%s' needs both a key and a value", quote(e))
		}
		if out == nil {
			out = make(map[string]string)
		}
		if _, dup := out[k[0]]; dup {
			return nil, badRequest(CodeValidationError, "Duplicate key '%s' in map '%s'", quote(k[0]), quote(prefix))
		}
		out[k[0]] = val[0]
	}
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
