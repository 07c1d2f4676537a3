package tlsca

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// Source is the certificate a node serves (its Leaf always set), renewed while it runs: a
// generated one is re-issued under the node's CA when it nears expiry (a node
// may run longer than ServerValidity), and an operator's files are reloaded
// when they change (e.g. rotated by a certificate manager). A failed refresh
// keeps the current certificate.
type Source struct {
	mu      sync.RWMutex
	cert    *tls.Certificate
	refresh func(now time.Time) (*tls.Certificate, error) // nil certificate: unchanged
}

// GetCertificate is tls.Config.GetCertificate.
func (s *Source) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cert, nil
}

// Current is the certificate being served.
func (s *Source) Current() *tls.Certificate {
	c, _ := s.GetCertificate(nil)
	return c
}

// Refresh renews or reloads the certificate if needed, at time now; changed
// says a new one is served from now on.
func (s *Source) Refresh(now time.Time) (changed bool, err error) {
	c, err := s.refresh(now)
	if err != nil || c == nil {
		return false, err
	}
	s.mu.Lock()
	s.cert = c
	s.mu.Unlock()
	return true, nil
}

// Config is the node's server TLS configuration with s's certificate: TLS
// 1.2 or later, and no ALPN, so that every client speaks HTTP/1.1 (see
// docs/performance.md for why not HTTP/2).
func (s *Source) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.GetCertificate}
}

// GeneratedSource serves the server certificate of the node's own CA in dir
// for hosts (see Ensure), re-issued when Refresh finds it near expiry.
func GeneratedSource(dir string, hosts []string, now time.Time) (*Source, *Identity, error) {
	id, err := Ensure(dir, hosts, now)
	if err != nil {
		return nil, nil, err
	}
	s := &Source{cert: &id.Certificate}
	s.refresh = func(now time.Time) (*tls.Certificate, error) {
		id, err := Ensure(dir, hosts, now)
		if err != nil || !id.Issued {
			return nil, err
		}
		return &id.Certificate, nil
	}
	return s, id, nil
}

// FileSource serves the operator's certificate chain and key (PEM files),
// reloaded by Refresh when either file's size or modification time changed.
func FileSource(certFile, keyFile string) (*Source, error) {
	stamp := func() (string, error) {
		var b []byte
		for _, p := range []string{certFile, keyFile} {
			fi, err := os.Stat(p)
			if err != nil {
				return "", err
			}
			b = fmt.Appendf(b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		}
		return string(b), nil
	}
	loaded, err := stamp()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	c, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	s := &Source{cert: &c}
	var mu sync.Mutex
	s.refresh = func(time.Time) (*tls.Certificate, error) {
		mu.Lock()
		defer mu.Unlock()
		now, err := stamp() // before loading: a change while loading is seen next time
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if now == loaded {
			return nil, nil
		}
		c, err := LoadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%w (still serving the previous certificate)", err)
		}
		loaded = now
		return &c, nil
	}
	return s, nil
}
