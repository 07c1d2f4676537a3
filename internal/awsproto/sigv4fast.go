package awsproto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The fast path recomputes a SigV4 signature without building a copy of the
// request for the SDK's signer. It covers what AWS clients send to Coffer (a
// plain path, no query string, lower-case signed header names, a host without
// IPv6 brackets) and produces exactly the SDK signer's canonical request for
// those; anything else returns ok=false and takes the SDK path in verify.
// FuzzFastSignatureMatchesSDK checks the two agree.

// fastSignature returns the hex signature of r as the SDK signer would compute
// it for the verify path (see verify for which headers take part), or ok=false
// when r is outside what the fast path covers.
func (v *Verifier) fastSignature(r *http.Request, a authorization, secret, amzDate, payloadHash string, bodyLen int) (sig [2 * sha256.Size]byte, ok bool) {
	if r.URL.Opaque != "" || r.URL.RawQuery != "" || r.URL.RawPath != "" || r.URL.ForceQuery || r.URL.Fragment != "" {
		return sig, false
	}
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	if path[0] != '/' {
		return sig, false
	}
	for i := 0; i < len(path); i++ {
		if !unreservedOrSlash(path[i]) {
			return sig, false
		}
	}
	host := r.Host
	if strings.IndexByte(host, '[') >= 0 || strings.IndexByte(host, ']') >= 0 {
		return sig, false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if i := strings.IndexByte(host, ':'); i >= 0 {
		if port := host[i+1:]; (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
			host = host[:i]
		}
	}
	if host == "" {
		return sig, false
	}

	// The names that take part: the client's list (deduplicated), plus host
	// and x-amz-date always; content-length only with a non-empty body and
	// x-amz-security-token only with a non-empty token, as the SDK signer does.
	var namesBuf [16]string
	names := append(namesBuf[:0], "host", "x-amz-date")
	for name := range strings.SplitSeq(a.SignedHeaders, ";") {
		if name == "" {
			return sig, false
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
				return sig, false
			}
		}
		switch name {
		case "host", "x-amz-date":
			continue
		case "content-length":
			if bodyLen == 0 {
				continue
			}
		case "x-amz-security-token":
			if r.Header.Get("X-Amz-Security-Token") == "" {
				continue
			}
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)

	bp := canonicalBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = append(b, path...)
	b = append(b, '\n', '\n') // empty query
	for _, name := range names {
		b = append(b, name...)
		b = append(b, ':')
		switch name {
		case "host":
			b = appendStripped(b, host)
		case "x-amz-date":
			b = append(b, amzDate...)
		case "content-length":
			b = strconv.AppendInt(b, int64(bodyLen), 10)
		case "transfer-encoding":
			if len(r.TransferEncoding) > 0 {
				b = appendTrimmed(b, strings.Join(r.TransferEncoding, ","))
				break
			}
			fallthrough
		default:
			for j, val := range r.Header.Values(name) {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendTrimmed(b, val)
			}
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	for i, name := range names {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	b = append(b, payloadHash...)
	canonicalHash := sha256.Sum256(b)

	// String to sign.
	b = b[:0]
	b = append(b, sigV4Algorithm...)
	b = append(b, '\n')
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, a.Date...)
	b = append(b, '/')
	b = append(b, a.Region...)
	b = append(b, '/')
	b = append(b, a.Service...)
	b = append(b, "/aws4_request\n"...)
	b = hex.AppendEncode(b, canonicalHash[:])

	key := v.keys().get(a.AccessKeyID, secret, a.Date, a.Region, a.Service)
	mac := hmac.New(sha256.New, key[:])
	mac.Write(b)
	var sum [sha256.Size]byte
	hex.Encode(sig[:], mac.Sum(sum[:0]))
	*bp = b
	canonicalBufs.Put(bp)
	return sig, true
}

var canonicalBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func unreservedOrSlash(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~' || c == '/'
}

// appendStripped appends s without leading and trailing spaces and with each
// run of inner spaces collapsed to one (the SDK's StripExcessSpaces: spaces
// only, not other white space).
func appendStripped(b []byte, s string) []byte {
	s = strings.Trim(s, " ")
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, s[i])
	}
	return b
}

// appendTrimmed is the canonical form of a header value other than host:
// strings.TrimSpace of appendStripped.
func appendTrimmed(b []byte, s string) []byte {
	n := len(b)
	b = appendStripped(b, s)
	t := strings.TrimSpace(string(b[n:]))
	if len(t) == len(b)-n {
		return b
	}
	return append(b[:n], t...)
}

// signingKeys caches derived SigV4 signing keys per (access key, secret,
// date, region, service), sharded by access key id. Each shard holds at most
// maxShardKeys entries and starts over when full, which bounds memory against
// attacker-chosen scopes (only a known access key reaches the cache).
type signingKeys struct {
	seed   maphash.Seed
	shards [signerShards]keyShard
}

const maxShardKeys = 64

type signingKeyID struct {
	akid, date, region, service string
	secret                      [sha256.Size]byte // fingerprint: a changed secret is a miss
}

type keyShard struct {
	mu sync.Mutex
	m  map[signingKeyID][sha256.Size]byte
}

func (v *Verifier) keys() *signingKeys {
	v.keysOnce.Do(func() {
		v.signingKeys = &signingKeys{seed: maphash.MakeSeed()}
		for i := range v.signingKeys.shards {
			v.signingKeys.shards[i].m = make(map[signingKeyID][sha256.Size]byte)
		}
	})
	return v.signingKeys
}

func (k *signingKeys) get(akid, secret, date, region, service string) [sha256.Size]byte {
	id := signingKeyID{akid: akid, date: date, region: region, service: service, secret: sha256.Sum256([]byte(secret))}
	s := &k.shards[maphash.String(k.seed, akid)%signerShards]
	s.mu.Lock()
	key, ok := s.m[id]
	s.mu.Unlock()
	if ok {
		return key
	}
	key = deriveSigningKey(secret, date, region, service)
	s.mu.Lock()
	if len(s.m) >= maxShardKeys {
		clear(s.m)
	}
	s.m[id] = key
	s.mu.Unlock()
	return key
}

// deriveSigningKey is SigV4's kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret,
// date), region), service), "aws4_request").
func deriveSigningKey(secret, date, region, service string) [sha256.Size]byte {
	h := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	var out [sha256.Size]byte
	copy(out[:], h(h(h(h([]byte("AWS4"+secret), date), region), service), "aws4_request"))
	return out
}
