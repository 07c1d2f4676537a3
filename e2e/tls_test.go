package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// servedLeaf returns the certificate the server presents (not verified).
func servedLeaf(t *testing.T, s *server) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", strings.TrimPrefix(s.url, "https://"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// TestProductionServesTLS: a production node serves HTTPS only, with a CA it
// makes once and keeps; the AWS CLI, aws-sdk-go-v2 and coffer hsm reach it by
// trusting <data-dir>/tls/ca.pem, and nothing else gets an answer.
// aws:SecureTransport says how a request came.
func TestProductionServesTLS(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s, creds := startProductionServer(t)
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("production node serves %s", s.url)
	}
	caPath := filepath.Join(s.dataDir, "tls", "ca.pem")
	if !strings.Contains(s.out(), caPath) {
		t.Fatalf("the start message does not name the CA file:\n%s", s.out())
	}
	if fi, err := os.Stat(filepath.Join(s.dataDir, "tls", "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key file: %v %v", fi, err)
	}
	host := strings.TrimPrefix(s.url, "https://")

	// Plain HTTP on the same port gets no API answer.
	res, err := http.Post("http://"+host+"/", "application/x-amz-json-1.1", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
		t.Fatalf("plain HTTP: %d %s", res.StatusCode, body)
	}
	// A client that does not trust the node's CA is refused at the handshake.
	_, err = http.Get(s.url + "/health")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("client without the CA: %v", err)
	}
	// Through "localhost" too: the certificate names it.
	loc := &http.Client{Transport: s.transport()}
	_, port, _ := net.SplitHostPort(host)
	res, err = loc.Get("https://localhost:" + port + "/health")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	// aws-sdk-go-v2 over TLS, SigV4 and all.
	sdk := s.kmsClientWith("us-east-1", creds.RootAccessKeyID, creds.RootSecretAccessKey)
	if _, err := sdk.ListKeys(context.Background(), nil); err != nil {
		t.Fatal(err)
	}

	// An IAM user allowed kms:ListKeys only over TLS (Debian's AWS CLI, AWS_CA_BUNDLE).
	root := awsCreds{AccessKeyID: creds.RootAccessKeyID, SecretAccessKey: creds.RootSecretAccessKey}
	alice, _ := newIAMUser(t, s, root, "alice")
	awsOK(t, s, root, nil, "iam", "put-user-policy", "--user-name", "alice", "--policy-name", "tls-only", "--policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:ListKeys","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`)
	awsOK(t, s, alice, nil, "kms", "list-keys")
	// The newer aws v1 on PATH takes --ca-bundle.
	if v1, err := exec.LookPath("aws"); err == nil && v1 != "/usr/bin/aws" {
		out, err := runCmd(v1, []string{"AWS_ACCESS_KEY_ID=" + alice.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + alice.SecretAccessKey,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"},
			"--endpoint-url", s.url, "--region", "us-east-1", "--ca-bundle", caPath, "kms", "list-keys")
		if err != nil {
			t.Fatalf("%s kms list-keys --ca-bundle: %v\n%s", v1, err, out)
		}
	}

	// coffer hsm: refused without the CA, served with --ca-cert.
	cmdOut, err := runCmd(cofferBin, []string{"COFFER_CA_CERT="}, "hsm", "--endpoint", s.url, "cluster", "info")
	if err == nil || !strings.Contains(cmdOut, "certificate") {
		t.Fatalf("coffer hsm without the CA: %v\n%s", err, cmdOut)
	}
	if cmdOut, err = runCmd(cofferBin, nil, "hsm", "--endpoint", s.url, "--ca-cert", caPath, "cluster", "info"); err != nil {
		t.Fatalf("coffer hsm --ca-cert: %v\n%s", err, cmdOut)
	}

	// Prometheus sees when the served certificate expires.
	fams, code := scrapeWith(t, s.httpClient(), s.url+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics over TLS: %d", code)
	}
	if v := value(fams, "coffer_tls_certificate_not_after_seconds", nil); int64(v) != servedLeaf(t, s).NotAfter.Unix() {
		t.Fatalf("coffer_tls_certificate_not_after_seconds %v, served certificate expires %v", v, servedLeaf(t, s).NotAfter)
	}

	// A restart keeps the CA and the certificate: clients need nothing new.
	caBefore, _ := os.ReadFile(caPath)
	leafBefore := servedLeaf(t, s)
	s.stop()
	s.restart()
	if caAfter, _ := os.ReadFile(caPath); string(caAfter) != string(caBefore) {
		t.Fatal("the CA changed across a restart")
	}
	if leaf := servedLeaf(t, s); !leaf.Equal(leafBefore) {
		t.Fatal("the server certificate was re-issued at a restart with the same names")
	}
	awsOK(t, s, alice, nil, "kms", "list-keys")

	// --tls=false (behind a TLS-terminating proxy): a warning, and aws:SecureTransport is false.
	s.stop()
	s.args = append(s.args, "--tls=false")
	s.restart()
	if !strings.HasPrefix(s.url, "http://") {
		t.Fatalf("--tls=false: %s", s.url)
	}
	awsDenied(t, s, alice, "kms", "list-keys")
	awsOK(t, s, root, nil, "kms", "list-keys")
	s.stop()
	if !strings.Contains(s.errOut(), "serving plain HTTP (--tls=false)") {
		t.Fatalf("no warning for --tls=false:\n%s", s.errOut())
	}
}

// TestOperatorCertificate: --tls-cert/--tls-key serve the operator's own
// certificate (here on a --dev node with --tls); bad combinations are refused.
func TestOperatorCertificate(t *testing.T) {
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Operator CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "coffer.internal"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames: []string{"coffer.internal"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	caCert, _ := x509.ParseCertificate(caDER)
	certFile, keyFile, caFile := filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv.key"), filepath.Join(dir, "ca.pem")
	// issue writes a server certificate with serial number sn, as a certificate manager would.
	issue := func(sn int64) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl.SerialNumber = big.NewInt(sn)
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
		pk, _ := x509.MarshalPKCS8PrivateKey(key)
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600)
		os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	}
	issue(42)
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)

	for _, bad := range [][]string{
		{"--tls-cert", certFile},
		{"--tls=false", "--tls-cert", certFile, "--tls-key", keyFile},
		{"--tls", "--tls-cert", certFile, "--tls-key", keyFile, "--tls-san", "x.example"},
		{"--tls", "--tls-cert", keyFile, "--tls-key", keyFile},
	} {
		out, err := runCoffer(append([]string{"server", "--dev", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, bad...)...)
		if err == nil || !strings.Contains(out, "tls") {
			t.Errorf("%v: want a refusal naming the TLS flags, got %v\n%s", bad, err, out)
		}
	}

	s := &server{t: t, dataDir: t.TempDir(), ca: caFile}
	s.args = []string{"server", "--dev", "--listen", "127.0.0.1:0", "--data-dir", s.dataDir, "--log-level", "warn",
		"--tls", "--tls-cert", certFile, "--tls-key", keyFile}
	t.Cleanup(s.kill)
	s.start()
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("--dev --tls serves %s", s.url)
	}
	if leaf := servedLeaf(t, s); leaf.SerialNumber.Int64() != 42 {
		t.Fatalf("served certificate %v, want the operator's", leaf.Subject)
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "tls")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a node with --tls-cert made its own CA: %v", err)
	}
	// Rotated files are served after a SIGHUP, without a restart; a broken
	// replacement keeps the current certificate.
	issue(43)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); servedLeaf(t, s).SerialNumber.Int64() != 43; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate is not served after SIGHUP")
		}
	}
	os.WriteFile(keyFile, []byte("broken"), 0o600)
	s.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	if leaf := servedLeaf(t, s); leaf.SerialNumber.Int64() != 43 {
		t.Fatalf("after a broken rotation the node serves serial %v", leaf.SerialNumber)
	}
	// coffer hsm trusts the operator's CA through COFFER_CA_CERT.
	out, err := runCmd(cofferBin, []string{"COFFER_CA_CERT=" + caFile}, "hsm", "--endpoint", s.url, "cluster", "info")
	var info struct {
		Data struct{ HSM struct{ State string } }
	}
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info.Data.HSM.State != "ACTIVE" {
		t.Fatalf("coffer hsm with COFFER_CA_CERT: %v\n%s", err, out)
	}
	// coffer bench and coffer trail validate reach the node with --ca-cert, and
	// fail at the handshake without it.
	bench := []string{"bench", "--endpoint", s.url, "--data-dir", s.dataDir, "--ops", "encrypt", "--concurrency", "1",
		"--duration", "1s", "--max-requests", "20", "--output", "json"}
	if out, err := runCmd(cofferBin, []string{"COFFER_CA_CERT="}, append(bench, "--ca-cert", caFile)...); err != nil || !strings.Contains(out, `"errors": 0`) {
		t.Fatalf("coffer bench --ca-cert: %v\n%s", err, out)
	}
	if out, err := runCmd(cofferBin, []string{"COFFER_CA_CERT="}, bench...); err == nil || !strings.Contains(out, "certificate") {
		t.Fatalf("coffer bench without the CA: %v\n%s", err, out)
	}
	validate := []string{"trail", "validate", "--endpoint", s.url, "--data-dir", s.dataDir,
		"--trail-arn", "arn:aws:cloudtrail:us-east-1:111122223333:trail/none", "--start-time", "2026-01-01T00:00:00Z"}
	if out, _ := runCmd(cofferBin, []string{"COFFER_CA_CERT="}, append(validate, "--ca-cert", caFile)...); !strings.Contains(out, "TrailNotFound") {
		t.Fatalf("coffer trail validate --ca-cert did not reach the node:\n%s", out)
	}
	if out, _ := runCmd(cofferBin, []string{"COFFER_CA_CERT="}, validate...); !strings.Contains(out, "certificate") {
		t.Fatalf("coffer trail validate without the CA:\n%s", out)
	}
}

// runCmd runs bin with args and env added to the environment; it returns the combined output.
func runCmd(bin string, env []string, args ...string) (string, error) {
	cmd := execCommand(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}
