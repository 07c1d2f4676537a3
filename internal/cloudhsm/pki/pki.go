// Package pki implements the certificate side of CloudHSM cluster
// initialization.
//
// After the first HSM of a cluster is created, the cluster is UNINITIALIZED
// and DescribeClusters reports Certificates.ClusterCsr: a PKCS#10 request
// made with the cluster's own RSA-2048 identity key (NewClusterCSR). The
// operator signs it with a self-signed CA of their own and calls
// InitializeCluster with the signed certificate and the CA certificate (the
// trust anchor); VerifyInitialization decides whether to accept them.
//
// The package is pure: it holds no state and persists nothing. Every refusal
// is a *Error whose Reason is meant to be shown to the API caller (in a
// CloudHsmInvalidRequestException message).
package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"strings"
	"time"
)

// MaxPEMSize bounds every PEM input (CSR, signed certificate, trust anchor).
const MaxPEMSize = 64 << 10

// ClusterKeyBits is the size of the cluster identity RSA key, as in CloudHSM.
const ClusterKeyBits = 2048

// maxClusterIDLen keeps the CSR common name within the X.520 upper bound of
// 64 characters: len("HSM:") + id + len(":PARTN:0") <= 64.
const maxClusterIDLen = 64 - len("HSM:") - len(":PARTN:0")

// Error is a refusal. Reason is a human-readable, specific explanation.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "pki: " + e.Reason }

func refuse(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// ClusterCommonName is the subject common name of the cluster CSR, modelled
// on CloudHSM's "HSM:<serial>:PARTN:<n>" with the cluster id in place of the
// HSM serial.
func ClusterCommonName(clusterID string) string {
	return "HSM:" + clusterID + ":PARTN:0"
}

// NewClusterCSR creates the cluster identity key pair (RSA-2048) and a PEM
// PKCS#10 CSR signed by it. It returns the CSR and the private key as PKCS#8
// DER; the caller must keep the key sealed. rnd is used for the CSR
// signature; nil means crypto/rand.Reader. (Since Go 1.26 the RSA key itself
// is always generated from a secure source; rnd is ignored for it unless
// GODEBUG=cryptocustomrand=1.)
//
// clusterID must be 1 to 52 characters of [A-Za-z0-9._-].
func NewClusterCSR(rnd io.Reader, clusterID string) (csrPEM string, keyPKCS8 []byte, err error) {
	if err := checkClusterID(clusterID); err != nil {
		return "", nil, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	key, err := rsa.GenerateKey(rnd, ClusterKeyBits)
	if err != nil {
		return "", nil, fmt.Errorf("pki: generating cluster key: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		SignatureAlgorithm: x509.SHA256WithRSA,
		Subject: pkix.Name{
			Organization:       []string{"Coffer"},
			OrganizationalUnit: []string{"CloudHSM cluster " + clusterID},
			CommonName:         ClusterCommonName(clusterID),
		},
	}
	der, err := x509.CreateCertificateRequest(rnd, tmpl, key)
	if err != nil {
		return "", nil, fmt.Errorf("pki: creating cluster CSR: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", nil, fmt.Errorf("pki: encoding cluster key: %w", err)
	}
	csrPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	return csrPEM, keyDER, nil
}

func checkClusterID(id string) error {
	if id == "" {
		return refuse("cluster id is empty")
	}
	if len(id) > maxClusterIDLen {
		return refuse("cluster id is %d characters, at most %d allowed", len(id), maxClusterIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return refuse("cluster id contains %q; only letters, digits, '-', '_' and '.' are allowed", c)
		}
	}
	return nil
}

// Fingerprint returns the lower-case hex SHA-256 of the DER of a PEM
// certificate (exactly one CERTIFICATE block, at most MaxPEMSize bytes).
func Fingerprint(certPEM string) (string, error) {
	c, err := parseCert("certificate", certPEM)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:]), nil
}

// VerifyInitialization decides whether InitializeCluster may accept
// signedCertPEM and trustAnchorPEM for the cluster whose CSR is csrPEM, at
// time now (the zero time means time.Now()). It returns nil on acceptance and
// a *Error on refusal. The checks are:
//
//   - each input is at most MaxPEMSize bytes and holds exactly one PEM block
//     of the right type (CERTIFICATE REQUEST / CERTIFICATE), nothing else but
//     whitespace, no PEM headers, and parses;
//   - the trust anchor is a CA certificate (v3 with basicConstraints CA:TRUE,
//     or a v1/v2 certificate), may sign certificates if it has a keyUsage,
//     is self-signed (subject = issuer, valid self-signature), and is valid
//     at now;
//   - the signed certificate is not the trust anchor and does not carry the
//     trust anchor's key;
//   - the signed certificate was issued by the trust anchor (issuer name
//     matches, signature verifies) and is valid at now;
//   - the signed certificate's public key is the CSR's public key;
//   - finally crypto/x509 chain verification to the trust anchor succeeds
//     (catches unhandled critical extensions and the like).
func VerifyInitialization(csrPEM, signedCertPEM, trustAnchorPEM string, now time.Time) error {
	if now.IsZero() {
		now = time.Now()
	}

	csr, err := parseCSR(csrPEM)
	if err != nil {
		return err
	}
	signed, err := parseCert("signed certificate", signedCertPEM)
	if err != nil {
		return err
	}
	anchor, err := parseCert("trust anchor", trustAnchorPEM)
	if err != nil {
		return err
	}

	// Trust anchor: a self-signed CA valid now.
	if anchor.Version >= 3 && !(anchor.BasicConstraintsValid && anchor.IsCA) {
		return refuse("trust anchor %s is not a CA certificate (it lacks basicConstraints CA:TRUE)", name(anchor.Subject))
	}
	if anchor.KeyUsage != 0 && anchor.KeyUsage&x509.KeyUsageCertSign == 0 {
		return refuse("trust anchor %s has a keyUsage extension without keyCertSign", name(anchor.Subject))
	}
	if !bytes.Equal(anchor.RawSubject, anchor.RawIssuer) {
		return refuse("trust anchor %s is not self-signed (it was issued by %s); pass the self-signed root CA certificate",
			name(anchor.Subject), name(anchor.Issuer))
	}
	if err := anchor.CheckSignatureFrom(anchor); err != nil {
		return refuse("trust anchor %s is not validly self-signed: %s", name(anchor.Subject), short(err.Error()))
	}
	if err := checkValidity("trust anchor", anchor, now); err != nil {
		return err
	}

	// Signed certificate: not the anchor, issued by the anchor, valid now.
	if bytes.Equal(signed.Raw, anchor.Raw) {
		return refuse("signed certificate is the trust anchor itself; pass the certificate issued for the cluster CSR")
	}
	if samePublicKey(signed.PublicKey, anchor.PublicKey) {
		return refuse("signed certificate carries the trust anchor's public key, not the cluster's; sign the cluster CSR with the CA")
	}
	if !bytes.Equal(signed.RawIssuer, anchor.RawSubject) {
		return refuse("signed certificate was issued by %s, not by the trust anchor %s",
			name(signed.Issuer), name(anchor.Subject))
	}
	if err := signed.CheckSignatureFrom(anchor); err != nil {
		return refuse("signed certificate's signature does not verify with the trust anchor's key: %s", short(err.Error()))
	}
	if err := checkValidity("signed certificate", signed, now); err != nil {
		return err
	}

	// The signed certificate must certify the cluster's own key.
	if !samePublicKey(signed.PublicKey, csr.PublicKey) {
		return refuse("signed certificate's public key does not match the cluster CSR's public key; sign this cluster's current ClusterCsr")
	}

	// Belt and braces: the standard chain builder must agree.
	roots := x509.NewCertPool()
	roots.AddCert(anchor)
	if _, err := signed.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return refuse("signed certificate does not chain to the trust anchor: %s", short(err.Error()))
	}
	return nil
}

func checkValidity(what string, c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return refuse("%s is not yet valid: notBefore %s is after now %s",
			what, c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return refuse("%s has expired: notAfter %s is before now %s",
			what, c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && ak.Equal(b)
}

func parseCSR(s string) (*x509.CertificateRequest, error) {
	der, err := onePEM("cluster CSR", s, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
	if err != nil {
		return nil, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, refuse("cluster CSR does not parse: %s", short(err.Error()))
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, refuse("cluster CSR signature is invalid: %s", short(err.Error()))
	}
	return csr, nil
}

func parseCert(what, s string) (*x509.Certificate, error) {
	der, err := onePEM(what, s, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, refuse("%s does not parse as an X.509 certificate: %s", what, short(err.Error()))
	}
	return c, nil
}

// onePEM returns the DER of the single PEM block in s, which must have one of
// the given types and be surrounded by nothing but whitespace.
func onePEM(what, s string, types ...string) ([]byte, error) {
	if len(s) > MaxPEMSize {
		return nil, refuse("%s is %d bytes, larger than the %d-byte limit", what, len(s), MaxPEMSize)
	}
	if strings.TrimSpace(s) == "" {
		return nil, refuse("%s is empty", what)
	}
	if n := strings.Count(s, "-----BEGIN "); n == 0 {
		return nil, refuse("%s is not PEM (no -----BEGIN line)", what)
	} else if n > 1 {
		return nil, refuse("%s contains %d PEM blocks; exactly one is required", what, n)
	}
	if !strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN ") {
		return nil, refuse("%s has data before the PEM block", what)
	}
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, refuse("%s is not valid PEM (malformed BEGIN/END lines or base64)", what)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, refuse("%s has data after the PEM block", what)
	}
	ok := false
	for _, t := range types {
		if block.Type == t {
			ok = true
		}
	}
	if !ok {
		return nil, refuse("%s is a PEM %q block, want %q", what, short(block.Type), types[0])
	}
	if len(block.Headers) != 0 {
		return nil, refuse("%s PEM block has headers (encrypted or non-standard PEM is not accepted)", what)
	}
	return block.Bytes, nil
}

// name renders a distinguished name for a message, bounded in length.
func name(n pkix.Name) string {
	s := n.String()
	if s == "" {
		s = "(empty name)"
	}
	return "\"" + short(s) + "\""
}

// short bounds attacker-influenced text placed in messages and strips
// control characters.
func short(s string) string {
	const max = 200
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		// Cut on a rune boundary.
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
