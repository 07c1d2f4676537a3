// Package tlsca gives a production node its TLS identity when the operator
// brings none: a node-local certificate authority (made once, kept in the data
// directory) and a server certificate it issues for the names the node answers
// to. Clients trust the CA's certificate file (aws --ca-bundle, coffer
// --ca-cert), which stays the same across restarts and re-issued server
// certificates.
//
// Files, in the directory given to Ensure:
//
//	ca.pem          the CA certificate (0644): what clients trust
//	ca-key.pem      the CA's certificate and private key, one file (0600)
//	server.pem      the server certificate, issued by the CA (0644)
//	server-key.pem  the server's private key (0600)
//
// Keys are ECDSA P-256. The server certificate is re-issued at start when it is
// missing, not issued by this CA, within RenewBefore of expiry, or does not
// cover every requested name. A damaged CA is an error, never silently
// replaced: replacing it would break every client that trusts it.
package tlsca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/fsutil"
)

// File names in the TLS directory.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

const (
	// CAValidity is how long a generated CA is valid.
	CAValidity = 10 * 365 * 24 * time.Hour
	// ServerValidity is how long an issued server certificate is valid.
	ServerValidity = 397 * 24 * time.Hour
	// RenewBefore: a server certificate expiring sooner than this is re-issued at start.
	RenewBefore = 30 * 24 * time.Hour
)

// Identity is the node's TLS identity.
type Identity struct {
	// Certificate is the server certificate chain (server, CA) with its key.
	Certificate tls.Certificate
	// CAPath is the CA certificate file clients should trust.
	CAPath string
	// Issued says the server certificate was (re-)issued by this call.
	Issued bool
	// CACreated says the CA was made by this call.
	CACreated bool
}

// Ensure loads or makes the CA and the server certificate in dir for hosts
// (DNS names and IP addresses; empty entries are ignored), at time now.
func Ensure(dir string, hosts []string, now time.Time) (*Identity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	hosts = normalizeHosts(hosts)
	if len(hosts) == 0 {
		return nil, errors.New("tls: no host names for the server certificate")
	}
	id := &Identity{CAPath: filepath.Join(dir, CAFile)}
	ca, caKey, err := loadCA(dir)
	if errors.Is(err, os.ErrNotExist) {
		ca, caKey, err = makeCA(dir, now)
		id.CACreated = true
	}
	if err != nil {
		return nil, err
	}
	cert, key, err := loadServer(dir, ca, hosts, now)
	if err != nil {
		if cert, key, err = issueServer(dir, ca, caKey, hosts, now); err != nil {
			return nil, err
		}
		id.Issued = true
	}
	id.Certificate = tls.Certificate{Certificate: [][]byte{cert.Raw, ca.Raw}, PrivateKey: key, Leaf: cert}
	return id, nil
}

// normalizeHosts trims, lower-cases DNS names, canonicalizes IPs and drops duplicates.
func normalizeHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		} else {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// loadCA loads the CA from ca-key.pem, which holds its certificate and key
// together (one atomic file), and rewrites ca.pem, the copy clients read, when
// it is missing or differs.
func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	keyPath, certPath := filepath.Join(dir, CAKeyFile), filepath.Join(dir, CAFile)
	b, err := os.ReadFile(keyPath)
	if err != nil {
		if _, cerr := os.Stat(certPath); errors.Is(err, os.ErrNotExist) && cerr == nil {
			return nil, nil, fmt.Errorf("tls: %s exists but the CA key %s does not; restore it, or remove %s to make a new CA (clients must then trust the new one)",
				certPath, keyPath, certPath)
		}
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	cert, key, err := parsePair(b, b)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: the CA in %s: %w (restore it, or remove %s and %s to make a new CA, which clients must then trust again)",
			keyPath, err, CAKeyFile, CAFile)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("tls: %s does not hold a CA certificate", keyPath)
	}
	want := certPEM(cert.Raw)
	if have, err := os.ReadFile(certPath); err != nil || !bytes.Equal(have, want) {
		if err := writePublic(certPath, want); err != nil {
			return nil, nil, err
		}
	}
	return cert, key, nil
}

// parsePair decodes a PEM certificate and its PEM (PKCS#8) ECDSA key and checks they match.
func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb := findBlock(certPEM, "CERTIFICATE")
	if cb == nil {
		return nil, nil, errors.New("no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	kb := findBlock(keyPEM, "PRIVATE KEY")
	if kb == nil {
		return nil, nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("the private key is not ECDSA")
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return nil, nil, errors.New("the certificate does not match its private key")
	}
	return cert, key, nil
}

// findBlock returns the first PEM block of type typ in b.
func findBlock(b []byte, typ string) *pem.Block {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil || blk.Type == typ {
			return blk
		}
	}
}

func makeCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"Coffer"}, CommonName: "Coffer node CA " + rand.Text()[:8]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	cert, err := createCert(tmpl, tmpl, key, key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := fsutil.WriteFile(filepath.Join(dir, CAKeyFile), append(certPEM(cert.Raw), keyPEM...)); err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	if err := writePublic(filepath.Join(dir, CAFile), certPEM(cert.Raw)); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func loadServer(dir string, ca *x509.Certificate, hosts []string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, ServerFile))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, ServerKeyFile))
	if err != nil {
		return nil, nil, err
	}
	cert, key, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	if err := cert.CheckSignatureFrom(ca); err != nil || !bytes.Equal(cert.RawIssuer, ca.RawSubject) {
		return nil, nil, errors.New("not issued by this CA")
	}
	if now.Before(cert.NotBefore) || now.Add(RenewBefore).After(cert.NotAfter) {
		return nil, nil, errors.New("expired or about to")
	}
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return nil, nil, fmt.Errorf("does not cover %s", h)
		}
	}
	return cert, key, nil
}

func issueServer(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"Coffer"}, CommonName: hosts[0]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              earlier(now.Add(ServerValidity), ca.NotAfter),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	cert, err := writePair(dir, ServerFile, ServerKeyFile, tmpl, ca, key, caKey)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// writePair signs tmpl with signer (as parent), writes the key (0600) and then
// the certificate (0644), each atomically, and returns the parsed certificate.
// A crash between the two leaves a pair that does not match, which Ensure
// re-issues.
func writePair(dir, certName, keyName string, tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey) (*x509.Certificate, error) {
	cert, err := createCert(tmpl, parent, key, signer)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(filepath.Join(dir, keyName), keyPEM); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if err := writePublic(filepath.Join(dir, certName), certPEM(cert.Raw)); err != nil {
		return nil, err
	}
	return cert, nil
}

// createCert signs tmpl for key's public key with signer (as parent) and parses the result.
func createCert(tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return cert, nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
}

// writePublic writes a certificate file atomically, readable by everyone (0644).
func writePublic(path string, data []byte) error {
	if err := fsutil.WriteFile(path, data); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n.Add(n, big.NewInt(1))
}

// LoadKeyPair loads an operator's certificate chain and key (PEM files) for
// serving, with Leaf set (whatever GODEBUG x509keypairleaf says).
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil && c.Leaf == nil {
		c.Leaf, err = x509.ParseCertificate(c.Certificate[0])
	}
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: --tls-cert %s / --tls-key %s: %w", certFile, keyFile, err)
	}
	return c, nil
}

// ClientConfig returns a client TLS configuration trusting the PEM
// certificates in caFile (in addition to nothing else: a node's own CA).
func ClientConfig(caFile string) (*tls.Config, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}
