package awsproto

import (
	"net/http"
	"strings"
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	scopeTerminator = "aws4_request"
	amzDateLayout   = "20060102T150405Z"
	maxSignedHeader = 64
	maxQuoteLen     = 256
)

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	AccessKeyID   string
	Date          string // YYYYMMDD
	Region        string
	Service       string
	SignedHeaders string // as sent, e.g. "content-type;host;x-amz-date"
	Signature     string
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
// SignedHeaders=a;b, Signature=hex". Errors are IncompleteSignatureException.
func parseAuthorization(h string) (authorization, *Error) {
	var a authorization
	alg, rest, _ := strings.Cut(strings.TrimLeft(h, " "), " ")
	if alg != sigV4Algorithm {
		return a, badRequest(CodeIncompleteSignature,
			"Unsupported AWS 'algorithm': '%s'; only %s header authentication is supported. Authorization=%s",
			quote(alg), sigV4Algorithm, redactAuthorization(h))
	}
	var cred string
	var haveCred, haveSH, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.Trim(part, " \t")
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return a, badRequest(CodeIncompleteSignature,
				"'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'",
				quote(redactAuthorization(part)), redactAuthorization(h))
		}
		var seen *bool
		switch k {
		case "Credential":
			cred, seen = val, &haveCred
		case "SignedHeaders":
			a.SignedHeaders, seen = val, &haveSH
		case "Signature":
			a.Signature, seen = val, &haveSig
		default:
			return a, badRequest(CodeIncompleteSignature,
				"Unknown parameter '%s' in Authorization header. Authorization=%s", quote(k), redactAuthorization(h))
		}
		if *seen {
			return a, badRequest(CodeIncompleteSignature,
				"Duplicate '%s' parameter in Authorization header. Authorization=%s", k, redactAuthorization(h))
		}
		*seen = true
	}
	var missing string
	if !haveCred || cred == "" {
		missing += "Authorization header requires 'Credential' parameter. "
	}
	if !haveSig || a.Signature == "" {
		missing += "Authorization header requires 'Signature' parameter. "
	}
	if !haveSH || a.SignedHeaders == "" {
		missing += "Authorization header requires 'SignedHeaders' parameter. "
	}
	if missing != "" {
		return a, badRequest(CodeIncompleteSignature, "%sAuthorization=%s", missing, redactAuthorization(h))
	}

	// Credential=AKID/YYYYMMDD/region/service/aws4_request
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return a, badRequest(CodeIncompleteSignature,
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'",
			quote(cred))
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = parts[0], parts[1], parts[2], parts[3]
	if a.AccessKeyID == "" {
		return a, badRequest(CodeIncompleteSignature, "Credential must begin with an access key id, got '%s'", quote(cred))
	}
	if !isDigits(a.Date, 8) {
		return a, badRequest(CodeIncompleteSignature,
			"Credential should be scoped to a date in the format YYYYMMDD, not '%s'.", quote(a.Date))
	}
	if !isScopeName(a.Region) {
		return a, badRequest(CodeIncompleteSignature,
			"Credential should be scoped to a valid region, not '%s'.", quote(a.Region))
	}
	if !isScopeName(a.Service) {
		return a, badRequest(CodeIncompleteSignature,
			"Credential should be scoped to a valid service, not '%s'.", quote(a.Service))
	}
	if parts[4] != scopeTerminator {
		return a, badRequest(CodeIncompleteSignature,
			"Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerminator, quote(parts[4]))
	}

	var n int
	var host, date bool
	for name := range strings.SplitSeq(a.SignedHeaders, ";") {
		n++
		if name == "" || n > maxSignedHeader {
			return a, badRequest(CodeIncompleteSignature,
				"SignedHeaders must be a ';'-separated list of at most %d non-empty header names, got '%s'",
				maxSignedHeader, quote(a.SignedHeaders))
		}
		switch name {
		case "host":
			host = true
		case "x-amz-date":
			date = true
		}
	}
	if !host {
		return a, badRequest(CodeIncompleteSignature,
			"'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization. Authorization=%s",
			redactAuthorization(h))
	}
	if !date {
		return a, badRequest(CodeIncompleteSignature,
			"'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization (the Date header is not supported). Authorization=%s",
			redactAuthorization(h))
	}
	return a, nil
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isScopeName accepts region and service names: 1-64 of [a-z0-9-].
func isScopeName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// quote caps an untrusted value quoted in an error message.
func quote(s string) string {
	if len(s) > maxQuoteLen {
		return s[:maxQuoteLen] + "..."
	}
	return s
}

// redactAuthorization returns h with every Signature value replaced, capped in length,
// for quoting in error messages.
func redactAuthorization(h string) string {
	const key = "Signature="
	var b strings.Builder
	for {
		i := strings.Index(h, key)
		if i < 0 {
			b.WriteString(h)
			break
		}
		b.WriteString(h[:i+len(key)])
		b.WriteString("<redacted>")
		h = h[i+len(key):]
		if j := strings.IndexByte(h, ','); j >= 0 {
			h = h[j:]
		} else {
			h = ""
		}
	}
	return quote(b.String())
}

// maxAccessKeyIDLen bounds an access key id (AWS: 16 to 128 characters).
const maxAccessKeyIDLen = 128

// claimedAccessKeyID returns the access key id r's Authorization header names, if
// the header parses and the id has an access key id's shape (16 to 128 letters and
// digits), else "".
func claimedAccessKeyID(r *http.Request) string {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil || len(a.AccessKeyID) < 16 || len(a.AccessKeyID) > maxAccessKeyIDLen {
		return ""
	}
	for i := 0; i < len(a.AccessKeyID); i++ {
		if c := a.AccessKeyID[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return ""
		}
	}
	return a.AccessKeyID
}
