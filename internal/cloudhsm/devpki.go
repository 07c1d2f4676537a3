package cloudhsm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/coffer-hsm/coffer/internal/cloudhsm/pki"
)

// devCertificates makes what an operator's CA would give a --dev cluster: a self-signed
// development CA (the trust anchor, P-256) and the cluster certificate it signs for a fresh
// cluster CSR, checked like InitializeCluster checks them. Neither private key is kept:
// nothing signs with them afterwards.
func devCertificates(clusterID string, now time.Time) (clusterCert, trustAnchor string, err error) {
	csrPEM, key, err := pki.NewClusterCSR(nil, clusterID)
	clear(key)
	if err != nil {
		return "", "", err
	}
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil {
		return "", "", errors.New("cloudhsm: dev certificates: bad CSR")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return "", "", err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
		return n
	}
	ca := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Coffer development CA " + clusterID, Organization: []string{"Coffer --dev"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	if err != nil {
		return "", "", err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", "", err
	}
	leaf := &x509.Certificate{SerialNumber: serial(), Subject: csr.Subject, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, csr.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	clusterCert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	trustAnchor = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	if err := pki.VerifyInitialization(csrPEM, clusterCert, trustAnchor, now); err != nil {
		return "", "", fmt.Errorf("cloudhsm: dev certificates: %w", err)
	}
	return clusterCert, trustAnchor, nil
}
