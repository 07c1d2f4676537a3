package sns

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// XMLNamespace is the XML namespace of SNS's query-protocol responses.
const XMLNamespace = "http://sns.amazonaws.com/doc/2010-03-31/"

// linkTimeout bounds the state commit of a confirmation or unsubscription link.
const linkTimeout = 30 * time.Second

// BasePath is the URL path of the SubscribeURL and UnsubscribeURL links in messages
// (the path of Config.BaseURL, with a trailing slash).
func (s *Service) BasePath() string {
	p := "/"
	if u, err := url.Parse(s.cfg.BaseURL); err == nil && u.Path != "" {
		p = u.Path
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// CertPath is the URL path of the signing certificate ("" if Config.SigningCertURL is
// not set): the path of Config.SigningCertURL with the key's fingerprint (see
// keyCertURL), which is the SigningCertURL of the messages.
func (s *Service) CertPath() string { return urlPath(s.certURL) }

func urlPath(u string) string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Path
}

// isCertPath: the certificate is served at CertPath and, for links recorded by earlier
// versions, at the path of Config.SigningCertURL itself.
func (s *Service) isCertPath(p string) bool {
	cp := s.CertPath()
	return cp != "" && (p == cp || p == urlPath(s.cfg.SigningCertURL))
}

// IsLinkRequest reports whether r is for HTTPHandler: a GET of the signing certificate
// (CertPath), or an unsigned GET of BasePath with Action=ConfirmSubscription or
// Action=Unsubscribe (the SubscribeURL / UnsubscribeURL of a message). Signed requests
// (Authorization header or X-Amz-Signature) are API calls, for the query protocol.
func (s *Service) IsLinkRequest(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if s.isCertPath(r.URL.Path) {
		return true
	}
	if r.Method != http.MethodGet || r.URL.Path != s.BasePath() || r.Header.Get("Authorization") != "" {
		return false
	}
	q := r.URL.Query()
	if q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") {
		return false
	}
	a := q.Get("Action")
	return a == "ConfirmSubscription" || a == "Unsubscribe"
}

// HTTPHandler serves, without authentication as SNS does:
//
//   - GET CertPath(): the signing certificate (SigningCertificatePEM);
//   - GET BasePath()?Action=ConfirmSubscription&TopicArn=..&Token=.. (SubscribeURL):
//     confirms the subscription, answering <ConfirmSubscriptionResponse> with its ARN;
//   - GET BasePath()?Action=Unsubscribe&SubscriptionArn=.. (UnsubscribeURL): deletes the
//     subscription, answering <UnsubscribeResponse>.
//
// Errors are SNS's <ErrorResponse> with the error's status. Anything else is 404.
func (s *Service) HTTPHandler() http.Handler {
	return http.HandlerFunc(s.serveLink)
}

func (s *Service) serveLink(w http.ResponseWriter, r *http.Request) {
	rid, err := s.newID()
	if err != nil {
		writeXMLError(w, rid, MapError(err))
		return
	}
	if s.isCertPath(r.URL.Path) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeXMLError(w, rid, &awsproto.Error{Status: http.StatusMethodNotAllowed, Code: "InvalidAction", Message: "Only GET is supported"})
			return
		}
		pem := s.SigningCertificatePEM()
		if pem == nil {
			writeXMLError(w, rid, &awsproto.Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: "No signing certificate"})
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(pem)
		}
		return
	}
	if r.URL.Path != s.BasePath() {
		writeXMLError(w, rid, &awsproto.Error{Status: http.StatusNotFound, Code: "NotFound", Message: "Not found"})
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeXMLError(w, rid, &awsproto.Error{Status: http.StatusMethodNotAllowed, Code: "InvalidAction", Message: "Only GET is supported"})
		return
	}
	q, err := awsproto.ParseQuery([]byte(r.URL.RawQuery))
	if err != nil {
		writeXMLError(w, rid, MapError(err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), linkTimeout)
	defer cancel()
	action := q.Get("Action")
	var result any
	switch action {
	case "ConfirmSubscription":
		arn, err := s.ConfirmSubscription(ctx, q.Get("TopicArn"), q.Get("Token"))
		if err != nil {
			writeXMLError(w, rid, MapError(err))
			return
		}
		result = &ConfirmSubscriptionResult{SubscriptionArn: arn}
	case "Unsubscribe":
		if err := s.unsubscribe(ctx, q.Get("SubscriptionArn"), true); err != nil {
			writeXMLError(w, rid, MapError(err))
			return
		}
	default:
		writeXMLError(w, rid, &awsproto.Error{Status: http.StatusBadRequest, Code: "InvalidAction",
			Message: "Only ConfirmSubscription and Unsubscribe are served without authentication"})
		return
	}
	var b bytes.Buffer
	b.WriteString(`<` + action + `Response xmlns="` + XMLNamespace + `">`)
	if result != nil {
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			writeXMLError(w, rid, MapError(err))
			return
		}
		if err := enc.Close(); err != nil {
			writeXMLError(w, rid, MapError(err))
			return
		}
	}
	b.WriteString("<ResponseMetadata><RequestId>")
	_ = xml.EscapeText(&b, []byte(rid))
	b.WriteString("</RequestId></ResponseMetadata></" + action + "Response>")
	writeXML(w, http.StatusOK, rid, b.Bytes())
}

func writeXMLError(w http.ResponseWriter, rid string, e *awsproto.Error) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	var b bytes.Buffer
	b.WriteString(`<ErrorResponse xmlns="` + XMLNamespace + `"><Error><Type>` + typ + `</Type><Code>`)
	_ = xml.EscapeText(&b, []byte(e.Code))
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte(e.Message))
	b.WriteString("</Message></Error><RequestId>")
	_ = xml.EscapeText(&b, []byte(rid))
	b.WriteString("</RequestId></ErrorResponse>")
	writeXML(w, e.Status, rid, b.Bytes())
}

func writeXML(w http.ResponseWriter, status int, rid string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	if rid != "" {
		h.Set("x-amzn-RequestId", rid)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
