package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testClusterID = "cluster-jxhlf7644ne"

// fixture is built once: RSA-2048 key generation is the slow part.
type fixture struct {
	csrPEM  string
	csr     *x509.CertificateRequest
	key     *rsa.PrivateKey
	otherPK crypto.PublicKey // a key that is not the cluster's
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

func getFixture(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() {
		csrPEM, keyDER, err := NewClusterCSR(rand.Reader, testClusterID)
		if err != nil {
			fixErr = err
			return
		}
		k, err := x509.ParsePKCS8PrivateKey(keyDER)
		if err != nil {
			fixErr = err
			return
		}
		b, _ := pem.Decode([]byte(csrPEM))
		csr, err := x509.ParseCertificateRequest(b.Bytes)
		if err != nil {
			fixErr = err
			return
		}
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		fix = fixture{csrPEM: csrPEM, csr: csr, key: k.(*rsa.PrivateKey), otherPK: other.Public()}
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return &fix
}

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  string
}

var serial int64 = 1000

func nextSerial() *big.Int { serial++; return big.NewInt(serial) }

func pemCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// newCA makes a self-signed CA, RSA-2048 like the AWS walkthrough when rsaKey
// is set, otherwise P-256 (fast).
func newCA(t *testing.T, cn string, rsaKey bool, mutate func(*x509.Certificate)) *ca {
	t.Helper()
	var key crypto.Signer
	var err error
	if rsaKey {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Customer"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if mutate != nil {
		mutate(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: c, key: key, pem: pemCert(der)}
}

// sign issues a certificate for pub from issuer (like `openssl x509 -req`).
func (c *ca) sign(t *testing.T, pub crypto.PublicKey, mutate func(*x509.Certificate)) string {
	t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: ClusterCommonName(testClusterID)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
	}
	if mutate != nil {
		mutate(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, pub, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pemCert(der)
}

// v1SelfSigned rewrites a Go-made (v3) self-signed ECDSA CA into an X.509 v1
// certificate: no version field, no extensions, re-signed.
func v1SelfSigned(t *testing.T, c *ca) *ca {
	t.Helper()
	var outer struct {
		TBS    asn1.RawValue
		SigAlg asn1.RawValue
		Sig    asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.cert.Raw, &outer); err != nil {
		t.Fatal(err)
	}
	var elems []asn1.RawValue
	if _, err := asn1.Unmarshal(outer.TBS.FullBytes, &elems); err != nil {
		t.Fatal(err)
	}
	var kept []asn1.RawValue
	for _, e := range elems {
		if e.Class == asn1.ClassContextSpecific { // [0] version, [3] extensions
			continue
		}
		kept = append(kept, e)
	}
	tbs, err := asn1.Marshal(kept)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(tbs)
	sig, err := c.key.(*ecdsa.PrivateKey).Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct {
		TBS    asn1.RawValue
		SigAlg asn1.RawValue
		Sig    asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, outer.SigAlg, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 {
		t.Fatalf("crafted cert has version %d", v1.Version)
	}
	return &ca{cert: v1, key: c.key, pem: pemCert(der)}
}

func wantRefusal(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want refusal containing %q", substr)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is %T, want *pki.Error", err, err)
	}
	if !strings.HasPrefix(err.Error(), "pki: ") {
		t.Errorf("error %q lacks the pki: prefix", err)
	}
	if !strings.Contains(e.Reason, substr) {
		t.Fatalf("reason %q does not contain %q", e.Reason, substr)
	}
	t.Logf("refused: %v", err)
}

func TestNewClusterCSR(t *testing.T) {
	f := getFixture(t)
	if err := f.csr.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	pub, ok := f.csr.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 2048 {
		t.Fatalf("CSR key is %T, want RSA-2048", f.csr.PublicKey)
	}
	if !pub.Equal(f.key.Public()) {
		t.Fatal("PKCS#8 key does not match the CSR key")
	}
	if got, want := f.csr.Subject.CommonName, "HSM:"+testClusterID+":PARTN:0"; got != want {
		t.Fatalf("CN = %q, want %q", got, want)
	}
	if !strings.HasPrefix(f.csrPEM, "-----BEGIN CERTIFICATE REQUEST-----\n") {
		t.Fatalf("CSR PEM header: %.40q", f.csrPEM)
	}

	for _, bad := range []string{"", strings.Repeat("a", 53), "cluster/../x", "a b", "clu\nster"} {
		if _, _, err := NewClusterCSR(nil, bad); err == nil {
			t.Errorf("cluster id %q accepted", bad)
		}
	}
	if _, _, err := NewClusterCSR(nil, strings.Repeat("a", 52)); err != nil {
		t.Errorf("52-char id refused: %v", err)
	}
}

func TestHappyPathGoCA(t *testing.T) {
	f := getFixture(t)
	root := newCA(t, "Customer Root CA", true, nil)
	signed := root.sign(t, f.csr.PublicKey, nil)
	if err := VerifyInitialization(f.csrPEM, signed, root.pem, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Zero time means now; CRLF line endings and surrounding whitespace are fine.
	crlf := "\r\n" + strings.ReplaceAll(signed, "\n", "\r\n") + "\r\n\r\n"
	if err := VerifyInitialization(f.csrPEM, crlf, " \n"+root.pem, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func TestHappyPathV1TrustAnchor(t *testing.T) {
	f := getFixture(t)
	root := v1SelfSigned(t, newCA(t, "Customer v1 Root", false, nil))
	signed := root.sign(t, f.csr.PublicKey, nil)
	if err := VerifyInitialization(f.csrPEM, signed, root.pem, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestHappyPathOpenSSL runs the operator walkthrough from AWS's CloudHSM
// documentation (made non-interactive) against our CSR.
func TestHappyPathOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not on PATH")
	}
	f := getFixture(t)
	dir := t.TempDir()
	csrFile := testClusterID + "_ClusterCsr.csr"
	crtFile := testClusterID + "_CustomerHsmCertificate.crt"
	if err := os.WriteFile(filepath.Join(dir, csrFile), []byte(f.csrPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		t.Logf("$ openssl %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("openssl %s: %v", strings.Join(args, " "), err)
		}
	}
	run("genrsa", "-aes256", "-passout", "pass:coffer-test", "-out", "customerCA.key", "2048")
	run("req", "-new", "-x509", "-days", "3652", "-key", "customerCA.key", "-passin", "pass:coffer-test",
		"-subj", "/C=US/O=Example Customer/CN=Example Customer CA", "-out", "customerCA.crt")
	run("x509", "-req", "-days", "3652", "-in", csrFile, "-CA", "customerCA.crt", "-CAkey", "customerCA.key",
		"-passin", "pass:coffer-test", "-CAcreateserial", "-out", crtFile)

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	signed, anchor := read(crtFile), read("customerCA.crt")
	for _, p := range []string{signed, anchor} {
		b, _ := pem.Decode([]byte(p))
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			t.Logf("openssl made v%d cert %q (CA=%v)", c.Version, c.Subject, c.IsCA)
		}
	}
	if err := VerifyInitialization(f.csrPEM, signed, anchor, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := Fingerprint(signed); err != nil {
		t.Fatal(err)
	}

	// A second openssl CA that did not sign the certificate must be refused.
	run("req", "-new", "-x509", "-days", "3652", "-newkey", "rsa:2048", "-nodes", "-keyout", "otherCA.key",
		"-subj", "/CN=Other CA", "-out", "otherCA.crt")
	wantRefusal(t, VerifyInitialization(f.csrPEM, signed, read("otherCA.crt"), time.Now()), "not by the trust anchor")
	// And the anchor passed as the signed certificate.
	wantRefusal(t, VerifyInitialization(f.csrPEM, anchor, anchor, time.Now()), "is the trust anchor itself")
}

func TestRefusals(t *testing.T) {
	f := getFixture(t)
	now := time.Now()
	root := newCA(t, "Customer Root CA", false, func(c *x509.Certificate) { c.NotAfter = now.AddDate(20, 0, 0) })
	good := root.sign(t, f.csr.PublicKey, nil)

	t.Run("signed by another CA", func(t *testing.T) {
		other := newCA(t, "Other CA", false, nil)
		wantRefusal(t, VerifyInitialization(f.csrPEM, other.sign(t, f.csr.PublicKey, nil), root.pem, now),
			"not by the trust anchor")
	})
	t.Run("another CA with the same name", func(t *testing.T) {
		impostor := newCA(t, "Customer Root CA", false, nil)
		wantRefusal(t, VerifyInitialization(f.csrPEM, impostor.sign(t, f.csr.PublicKey, nil), root.pem, now),
			"signature does not verify")
	})
	t.Run("different key than the CSR", func(t *testing.T) {
		wantRefusal(t, VerifyInitialization(f.csrPEM, root.sign(t, f.otherPK, nil), root.pem, now),
			"does not match the cluster CSR's public key")
	})
	t.Run("expired", func(t *testing.T) {
		s := root.sign(t, f.csr.PublicKey, func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
		})
		wantRefusal(t, VerifyInitialization(f.csrPEM, s, root.pem, now), "signed certificate has expired")
		// The good certificate, checked ten years and a day later.
		wantRefusal(t, VerifyInitialization(f.csrPEM, good, root.pem, now.AddDate(10, 0, 1)), "signed certificate has expired")
	})
	t.Run("not yet valid", func(t *testing.T) {
		s := root.sign(t, f.csr.PublicKey, func(c *x509.Certificate) {
			c.NotBefore = now.Add(24 * time.Hour)
		})
		wantRefusal(t, VerifyInitialization(f.csrPEM, s, root.pem, now), "signed certificate is not yet valid")
	})
	t.Run("trust anchor expired", func(t *testing.T) {
		old := newCA(t, "Old CA", false, func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
		})
		wantRefusal(t, VerifyInitialization(f.csrPEM, old.sign(t, f.csr.PublicKey, nil), old.pem, now),
			"trust anchor has expired")
	})
	t.Run("trust anchor not a CA", func(t *testing.T) {
		notCA := newCA(t, "Not A CA", false, func(c *x509.Certificate) {
			c.IsCA = false
			c.KeyUsage = x509.KeyUsageDigitalSignature
		})
		wantRefusal(t, VerifyInitialization(f.csrPEM, notCA.sign(t, f.csr.PublicKey, nil), notCA.pem, now),
			"is not a CA certificate")
		noBC := newCA(t, "No Basic Constraints", false, func(c *x509.Certificate) {
			c.BasicConstraintsValid, c.IsCA = false, false
		})
		wantRefusal(t, VerifyInitialization(f.csrPEM, noBC.sign(t, f.csr.PublicKey, nil), noBC.pem, now),
			"is not a CA certificate")
	})
	t.Run("trust anchor without keyCertSign", func(t *testing.T) {
		a := newCA(t, "No CertSign", false, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature })
		wantRefusal(t, VerifyInitialization(f.csrPEM, a.sign(t, f.csr.PublicKey, nil), a.pem, now), "without keyCertSign")
	})
	t.Run("trust anchor not self-signed", func(t *testing.T) {
		inter := newCA(t, "Intermediate", false, nil)
		interDER := root.sign(t, inter.cert.PublicKey, func(c *x509.Certificate) {
			c.Subject = inter.cert.Subject
			c.BasicConstraintsValid, c.IsCA = true, true
			c.KeyUsage = x509.KeyUsageCertSign
		})
		b, _ := pem.Decode([]byte(interDER))
		ic, _ := x509.ParseCertificate(b.Bytes)
		inter = &ca{cert: ic, key: inter.key, pem: interDER}
		wantRefusal(t, VerifyInitialization(f.csrPEM, inter.sign(t, f.csr.PublicKey, nil), inter.pem, now),
			"is not self-signed")
	})
	t.Run("trust anchor as signed cert", func(t *testing.T) {
		wantRefusal(t, VerifyInitialization(f.csrPEM, root.pem, root.pem, now), "is the trust anchor itself")
	})
	t.Run("trust anchor key in signed cert", func(t *testing.T) {
		s := root.sign(t, root.cert.PublicKey, nil)
		wantRefusal(t, VerifyInitialization(f.csrPEM, s, root.pem, now), "carries the trust anchor's public key")
	})
	t.Run("garbage PEM", func(t *testing.T) {
		garbage := "-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n"
		wantRefusal(t, VerifyInitialization(f.csrPEM, garbage, root.pem, now), "signed certificate is not valid PEM")
		wantRefusal(t, VerifyInitialization(f.csrPEM, good, garbage, now), "trust anchor is not valid PEM")
		wantRefusal(t, VerifyInitialization(f.csrPEM, "hello", root.pem, now), "signed certificate is not PEM")
		wantRefusal(t, VerifyInitialization(f.csrPEM, good, "", now), "trust anchor is empty")
		wantRefusal(t, VerifyInitialization("junk", good, root.pem, now), "cluster CSR is not PEM")
		junkDER := pemCert([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
		wantRefusal(t, VerifyInitialization(f.csrPEM, junkDER, root.pem, now), "does not parse")
		wantRefusal(t, VerifyInitialization(f.csrPEM, "text\n"+good, root.pem, now), "data before the PEM block")
		wantRefusal(t, VerifyInitialization(f.csrPEM, good+"trailing", root.pem, now), "data after the PEM block")
	})
	t.Run("two PEM blocks", func(t *testing.T) {
		wantRefusal(t, VerifyInitialization(f.csrPEM, good+root.pem, root.pem, now), "contains 2 PEM blocks")
		wantRefusal(t, VerifyInitialization(f.csrPEM, good, root.pem+root.pem, now), "contains 2 PEM blocks")
	})
	t.Run("wrong PEM type", func(t *testing.T) {
		wantRefusal(t, VerifyInitialization(f.csrPEM, f.csrPEM, root.pem, now), `want "CERTIFICATE"`)
		wantRefusal(t, VerifyInitialization(good, good, root.pem, now), `want "CERTIFICATE REQUEST"`)
	})
	t.Run("PEM headers", func(t *testing.T) {
		b, _ := pem.Decode([]byte(good))
		b.Headers = map[string]string{"Proc-Type": "4,ENCRYPTED"}
		wantRefusal(t, VerifyInitialization(f.csrPEM, string(pem.EncodeToMemory(b)), root.pem, now), "has headers")
	})
	t.Run("too large", func(t *testing.T) {
		big := good + strings.Repeat(" ", MaxPEMSize)
		wantRefusal(t, VerifyInitialization(f.csrPEM, big, root.pem, now), "larger than the 65536-byte limit")
	})
	t.Run("CSR signature broken", func(t *testing.T) {
		b, _ := pem.Decode([]byte(f.csrPEM))
		der := append([]byte(nil), b.Bytes...)
		der[len(der)-1] ^= 1
		bad := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
		wantRefusal(t, VerifyInitialization(bad, good, root.pem, now), "cluster CSR signature is invalid")
	})
	// Sanity: the good certificate is accepted by the same fixture.
	if err := VerifyInitialization(f.csrPEM, good, root.pem, now); err != nil {
		t.Fatal(err)
	}
}

func TestFingerprint(t *testing.T) {
	root := newCA(t, "FP CA", false, nil)
	fp, err := Fingerprint(root.pem)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(root.cert.Raw)
	if fp != hex.EncodeToString(sum[:]) || len(fp) != 64 {
		t.Fatalf("fingerprint %s", fp)
	}
	for _, bad := range []string{"", "x", root.pem + root.pem, getFixture(t).csrPEM} {
		if _, err := Fingerprint(bad); err == nil {
			t.Errorf("Fingerprint(%.30q) succeeded", bad)
		}
	}
}

func TestShort(t *testing.T) {
	s := short(strings.Repeat("é", 300) + "\x00")
	if len(s) > 210 || strings.ContainsRune(s, 0) || !strings.HasSuffix(s, "...") {
		t.Fatalf("short: %q", s)
	}
}

func FuzzVerifyInitialization(f *testing.F) {
	// No RSA key generation here: under fuzzing coverage instrumentation it
	// takes seconds per worker. An ECDSA CSR exercises the same checks.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clusterKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: ClusterCommonName("cluster-fuzz")},
	}, clusterKey)
	if err != nil {
		f.Fatal(err)
	}
	fx := struct{ csrPEM string }{string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fuzz CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter,
	}, caCert, clusterKey.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	caPEM, leafPEM := pemCert(caDER), pemCert(leafDER)
	if err := VerifyInitialization(fx.csrPEM, leafPEM, caPEM, time.Now()); err != nil {
		f.Fatal(err)
	}
	f.Add(fx.csrPEM, leafPEM, caPEM)
	f.Add(fx.csrPEM, caPEM, caPEM)
	f.Add("", "", "")
	f.Add("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "\x00", "-----BEGIN ")
	f.Fuzz(func(t *testing.T, csrPEM, signedPEM, anchorPEM string) {
		err := VerifyInitialization(csrPEM, signedPEM, anchorPEM, time.Now())
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, want *pki.Error", err, err)
			}
		}
		if _, err := Fingerprint(signedPEM); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Fingerprint error %v is %T", err, err)
			}
		}
	})
}
