package awsproto

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash/maphash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Verifier checks SigV4 header authentication. The zero value of the optional
// fields gives the defaults. A Verifier must not be copied after first use.
type Verifier struct {
	Credentials CredentialStore
	Now         func() time.Time // default time.Now
	MaxSkew     time.Duration    // default 5 * time.Minute

	once    sync.Once
	signers *signerPool

	keysOnce    sync.Once
	signingKeys *signingKeys
}

// Scope is the credential scope of a verified request.
type Scope struct{ Date, Region, Service string }

// DefaultMaxSkew is the clock skew AWS tolerates between X-Amz-Date and now.
const DefaultMaxSkew = 5 * time.Minute

// Verify verifies r (whose body was already read into body) and returns the
// principal and scope. It does not check the scope's service: callers must
// (or use VerifyService). Errors are *Error.
func (v *Verifier) Verify(r *http.Request, body []byte) (Principal, Scope, error) {
	return v.VerifyService(r, body, "")
}

// VerifyService is Verify that also requires the credential scope's service
// to equal service (unless service is ""), checked before any key lookup or
// signature computation.
func (v *Verifier) VerifyService(r *http.Request, body []byte, service string) (Principal, Scope, error) {
	p, s, err := v.verify(r, body, service, false)
	if err != nil {
		return Principal{}, Scope{}, err
	}
	return p, s, nil
}

// verify implements VerifyService. signTarget additionally requires
// x-amz-target to be signed when the request carries X-Amz-Target, so that a
// captured request cannot be replayed as another operation.
func (v *Verifier) verify(r *http.Request, body []byte, service string, signTarget bool) (Principal, Scope, *Error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return Principal{}, Scope{}, errMissingAuth
	}
	a, perr := parseAuthorization(authz)
	if perr != nil {
		return Principal{}, Scope{}, perr
	}
	if signTarget && r.Header.Get("X-Amz-Target") != "" && !signs(a.SignedHeaders, "x-amz-target") {
		return Principal{}, Scope{}, badRequest(CodeIncompleteSignature,
			"'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization. Authorization=%s", redactAuthorization(authz))
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return Principal{}, Scope{}, badRequest(CodeIncompleteSignature,
			"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s",
			redactAuthorization(authz))
	}
	t, err := time.Parse(amzDateLayout, amzDate)
	if err != nil || t.Format(amzDateLayout) != amzDate {
		return Principal{}, Scope{}, badRequest(CodeIncompleteSignature,
			"X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z', got '%s'", quote(amzDate))
	}
	scope := Scope{Date: a.Date, Region: a.Region, Service: a.Service}
	if a.Date != amzDate[:8] {
		return Principal{}, Scope{}, badRequest(CodeInvalidSignature,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			a.Date, amzDate[:8], amzDate)
	}
	if service != "" && a.Service != service {
		return Principal{}, Scope{}, badRequest(CodeInvalidSignature,
			"Credential should be scoped to correct service: '%s'.", service)
	}

	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	n := now().UTC()
	if t.Before(n.Add(-skew)) {
		return Principal{}, Scope{}, badRequest(CodeInvalidSignature,
			"Signature expired: %s is now earlier than %s (%s - %s.)",
			amzDate, n.Add(-skew).Format(amzDateLayout), n.Format(amzDateLayout), skewString(skew))
	}
	if t.After(n.Add(skew)) {
		return Principal{}, Scope{}, badRequest(CodeInvalidSignature,
			"Signature not yet current: %s is still later than %s (%s + %s.)",
			amzDate, n.Add(skew).Format(amzDateLayout), n.Format(amzDateLayout), skewString(skew))
	}

	if v.Credentials == nil {
		return Principal{}, Scope{}, errUnknownKey
	}
	secret, p, ok := v.Credentials.Lookup(a.AccessKeyID)
	if !ok {
		return Principal{}, Scope{}, errUnknownKey
	}

	// Temporary credentials: the request must present the key's session
	// token, signed; long-term keys must not present one.
	presented, hasToken := r.Header["X-Amz-Security-Token"]
	if p.SessionToken == "" {
		if hasToken {
			return Principal{}, Scope{}, errUnknownKey
		}
	} else {
		if !hasToken || len(presented) != 1 || !signs(a.SignedHeaders, "x-amz-security-token") ||
			subtle.ConstantTimeCompare([]byte(presented[0]), []byte(p.SessionToken)) != 1 {
			return Principal{}, Scope{}, errUnknownKey
		}
		if !p.Expires.IsZero() && !n.Before(p.Expires) {
			return Principal{}, Scope{}, errExpiredToken
		}
		p.SessionToken, p.Temporary = "", true
	}

	sum := sha256.Sum256(body)
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])
	payloadHash := string(hexSum[:])
	if h, ok := r.Header["X-Amz-Content-Sha256"]; ok && (len(h) != 1 || h[0] != payloadHash) {
		return Principal{}, Scope{}, errContentSHA256
	}

	computed, ok := v.fastSignature(r, a, secret, amzDate, payloadHash, len(body))
	if !ok {
		if computed, ok = v.sdkSignature(r, a, secret, t, payloadHash, body); !ok {
			return Principal{}, Scope{}, errSignatureMismatch
		}
	}
	if subtle.ConstantTimeCompare(computed[:], []byte(a.Signature)) != 1 {
		return Principal{}, Scope{}, errSignatureMismatch
	}
	return p, scope, nil
}

// sdkSignature recomputes r's signature with the SDK's signer over a copy of
// r that carries only the signed headers; it serves what fastSignature does
// not cover.
func (v *Verifier) sdkSignature(r *http.Request, a authorization, secret string, t time.Time, payloadHash string, body []byte) (sig [2 * sha256.Size]byte, ok bool) {
	// The copy carries only what the client signed. Signed headers are stored
	// under their lower-case names: the SDK's ignore list (User-Agent,
	// X-Amzn-Trace-Id, Expect, Transfer-Encoding, Authorization) matches
	// canonical names only, so a header the client chose to sign is signed
	// here too. X-Amz-Date (and X-Amz-Security-Token) are set by the signer
	// itself under canonical names; Host and Content-Length come from the
	// request's Host and ContentLength fields.
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	cp := &http.Request{
		Method: r.Method,
		URL: &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath,
			RawQuery: r.URL.RawQuery},
		Host:   r.Host,
		Header: make(http.Header, 8),
	}
	var token string
	for name := range strings.SplitSeq(a.SignedHeaders, ";") {
		switch name {
		case "host", "x-amz-date":
			continue
		case "content-length":
			cp.ContentLength = int64(len(body))
			continue
		case "x-amz-security-token":
			token = r.Header.Get("X-Amz-Security-Token")
			continue
		case "transfer-encoding":
			if len(r.TransferEncoding) > 0 {
				cp.Header[name] = []string{strings.Join(r.TransferEncoding, ",")}
				continue
			}
		}
		vals := r.Header.Values(name)
		if len(vals) == 0 {
			vals = []string{""}
		}
		cp.Header[name] = vals
	}

	creds := aws.Credentials{
		AccessKeyID:     signerCacheID(a.AccessKeyID, secret),
		SecretAccessKey: secret,
		SessionToken:    token,
	}
	signer := v.pool().get(a.AccessKeyID, a.Region, a.Service)
	if err := signer.SignHTTP(context.Background(), creds, cp, payloadHash, a.Service, a.Region, t); err != nil {
		return sig, false
	}
	computed := cp.Header.Get("Authorization")
	i := strings.LastIndex(computed, "Signature=")
	if i < 0 {
		return sig, false
	}
	computed = computed[i+len("Signature="):]
	if len(computed) != len(sig) {
		return sig, false
	}
	copy(sig[:], computed)
	return sig, true
}

// signs reports whether the ';'-separated list signed contains name.
func signs(signed, name string) bool {
	for h := range strings.SplitSeq(signed, ";") {
		if h == name {
			return true
		}
	}
	return false
}

func skewString(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min"
	}
	return d.String()
}

// signerCacheID is the access key id handed to the SDK signer. The SDK's
// derived-key cache checks the access key id and the day but not the secret;
// adding a fingerprint of the secret makes a changed secret a cache miss. The
// value only appears in the Credential= part of the recomputed header, which
// is not compared.
func signerCacheID(akid, secret string) string {
	fp := sha256.Sum256([]byte(secret))
	var b [16]byte
	hex.Encode(b[:], fp[:8])
	return akid + "#" + string(b[:])
}

func (v *Verifier) pool() *signerPool {
	v.once.Do(func() { v.signers = newSignerPool() })
	return v.signers
}

// signerPool holds a few v4.Signers, sharded by access key id. Each SDK signer
// caches one derived key per region/service (for one access key and day), and
// its cache is never pruned. A shard therefore counts the distinct
// region/service pairs its signer has seen and starts a fresh signer once
// there are too many, bounding memory against attacker-chosen scopes.
type signerPool struct {
	seed   maphash.Seed
	shards [signerShards]signerShard
}

const (
	signerShards   = 16
	maxShardScopes = 32
)

type scopeKey struct{ region, service string }

type signerShard struct {
	mu     sync.Mutex
	signer *v4.Signer
	scopes map[scopeKey]struct{}
}

func newSignerPool() *signerPool {
	p := &signerPool{seed: maphash.MakeSeed()}
	for i := range p.shards {
		p.shards[i].signer = v4.NewSigner()
		p.shards[i].scopes = make(map[scopeKey]struct{}, maxShardScopes)
	}
	return p
}

func (p *signerPool) get(akid, region, service string) *v4.Signer {
	s := &p.shards[maphash.String(p.seed, akid)%signerShards]
	k := scopeKey{region, service}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.scopes[k]; !ok {
		if len(s.scopes) >= maxShardScopes {
			s.signer = v4.NewSigner()
			clear(s.scopes)
		}
		s.scopes[k] = struct{}{}
	}
	return s.signer
}
