package tlsca

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func verify(t *testing.T, id *Identity, host string, at time.Time) error {
	t.Helper()
	cfg, err := ClientConfig(id.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, der := range id.Certificate.Certificate[1:] {
		c, _ := x509.ParseCertificate(der)
		inter.AddCert(c)
	}
	_, err = id.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: cfg.RootCAs, Intermediates: inter,
		CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

func TestEnsureMakesAndKeepsIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	id, err := Ensure(dir, []string{"localhost", "127.0.0.1", " ", "LOCALHOST.", "coffer-1.example.com"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !id.CACreated || !id.Issued {
		t.Fatalf("first start: CACreated=%v Issued=%v", id.CACreated, id.Issued)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "coffer-1.example.com"} {
		if err := verify(t, id, h, t0); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if err := verify(t, id, "other.example.com", t0); err == nil {
		t.Error("certificate verified for a name it was not issued for")
	}
	for name, mode := range map[string]os.FileMode{CAFile: 0o644, CAKeyFile: 0o600, ServerFile: 0o644, ServerKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, CAFile)); strings.Contains(string(b), "PRIVATE") {
		t.Fatal("ca.pem holds a private key")
	}

	// A restart with the same names keeps everything.
	caBefore, _ := os.ReadFile(filepath.Join(dir, CAFile))
	id2, err := Ensure(dir, []string{"coffer-1.example.com", "localhost", "127.0.0.1"}, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if id2.CACreated || id2.Issued || id2.Certificate.Leaf.SerialNumber.Cmp(id.Certificate.Leaf.SerialNumber) != 0 {
		t.Fatalf("restart re-made the identity: %+v", id2)
	}

	// A new name re-issues the server certificate under the same CA.
	id3, err := Ensure(dir, []string{"localhost", "10.1.2.3"}, t0.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if id3.CACreated || !id3.Issued {
		t.Fatalf("new name: CACreated=%v Issued=%v", id3.CACreated, id3.Issued)
	}
	if err := verify(t, id3, "10.1.2.3", t0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if caAfter, _ := os.ReadFile(filepath.Join(dir, CAFile)); string(caAfter) != string(caBefore) {
		t.Fatal("re-issuing the server certificate changed the CA")
	}

	// Close to expiry, it is re-issued; the CA stays.
	late := id3.Certificate.Leaf.NotAfter.Add(-RenewBefore / 2)
	id4, err := Ensure(dir, []string{"localhost", "10.1.2.3"}, late)
	if err != nil {
		t.Fatal(err)
	}
	if !id4.Issued || id4.CACreated || !id4.Certificate.Leaf.NotAfter.After(id3.Certificate.Leaf.NotAfter) {
		t.Fatalf("near expiry: %+v", id4)
	}
	if err := verify(t, id4, "localhost", late); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureRepairs(t *testing.T) {
	dir := t.TempDir()
	hosts := []string{"localhost"}
	if _, err := Ensure(dir, hosts, t0); err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, CAFile))

	// A damaged or mismatched server pair is re-issued.
	other := t.TempDir()
	if _, err := Ensure(other, hosts, t0); err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func(){
		"garbage cert": func() { os.WriteFile(filepath.Join(dir, ServerFile), []byte("junk"), 0o644) },
		"missing key":  func() { os.Remove(filepath.Join(dir, ServerKeyFile)) },
		"other CA's": func() {
			for _, f := range []string{ServerFile, ServerKeyFile} {
				b, _ := os.ReadFile(filepath.Join(other, f))
				os.WriteFile(filepath.Join(dir, f), b, 0o600)
			}
		},
		"key of another cert": func() {
			b, _ := os.ReadFile(filepath.Join(other, ServerKeyFile))
			os.WriteFile(filepath.Join(dir, ServerKeyFile), b, 0o600)
		},
	} {
		damage()
		got, err := Ensure(dir, hosts, t0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.Issued || got.CACreated {
			t.Fatalf("%s: Issued=%v CACreated=%v", name, got.Issued, got.CACreated)
		}
		if err := verify(t, got, "localhost", t0); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// ca.pem, the clients' copy, is rewritten from the CA file when lost.
	os.Remove(filepath.Join(dir, CAFile))
	if _, err := Ensure(dir, hosts, t0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, CAFile)); string(b) != string(caPEM) {
		t.Fatal("ca.pem not restored from ca-key.pem")
	}

	// A lost or damaged CA key is an error: never a silent new CA.
	keyPEM, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	os.WriteFile(filepath.Join(dir, CAKeyFile), keyPEM[:len(keyPEM)/2], 0o600)
	if _, err := Ensure(dir, hosts, t0); err == nil || !strings.Contains(err.Error(), "remove") {
		t.Fatalf("damaged CA: %v", err)
	}
	os.Remove(filepath.Join(dir, CAKeyFile))
	if _, err := Ensure(dir, hosts, t0); err == nil || !strings.Contains(err.Error(), "restore it") {
		t.Fatalf("lost CA key: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, CAFile)); string(b) != string(caPEM) {
		t.Fatal("a failed start replaced the CA certificate")
	}
}

// A TLS server with the identity serves a client that trusts only ca.pem, over
// HTTP/1.1; a client that does not trust it is refused.
func TestServeWithIdentity(t *testing.T) {
	dir := t.TempDir()
	src, id, err := GeneratedSource(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	})}
	go hs.Serve(tls.NewListener(ln, src.Config()))
	defer hs.Close()
	srv := struct{ URL string }{"https://" + ln.Addr().String()}
	cfg, err := ClientConfig(id.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	res, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "HTTP/1.1" {
		t.Fatalf("protocol %q", b)
	}
	_, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}).Get(srv.URL)
	if err == nil {
		t.Fatal("a client without the CA was served")
	}
	if _, err := ClientConfig(filepath.Join(dir, ServerKeyFile)); err == nil {
		t.Fatal("ClientConfig accepted a file with no certificate")
	}
}

// A generated certificate is re-issued while the node runs when it nears
// expiry; until then Refresh changes nothing.
func TestGeneratedSourceRenews(t *testing.T) {
	dir := t.TempDir()
	src, id, err := GeneratedSource(dir, []string{"localhost"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := src.Refresh(t0.Add(24 * time.Hour)); changed || err != nil {
		t.Fatalf("a fresh certificate was renewed: %v %v", changed, err)
	}
	late := id.Certificate.Leaf.NotAfter.Add(-RenewBefore / 3)
	if changed, err := src.Refresh(late); !changed || err != nil {
		t.Fatalf("near expiry: %v %v", changed, err)
	}
	cur := src.Current()
	if cur.Leaf.SerialNumber.Cmp(id.Certificate.Leaf.SerialNumber) == 0 || !cur.Leaf.NotAfter.After(id.Certificate.Leaf.NotAfter) {
		t.Fatal("the renewed certificate is not served")
	}
	if err := verify(t, &Identity{Certificate: *cur, CAPath: id.CAPath}, "localhost", late); err != nil {
		t.Fatal(err)
	}
}

// An operator's certificate files are reloaded when they change; a broken
// replacement keeps the previous certificate.
func TestFileSourceReloads(t *testing.T) {
	dir := t.TempDir()
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if _, err := Ensure(d, []string{"localhost"}, t0); err != nil {
			t.Fatal(err)
		}
	}
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	install := func(from string, mtime time.Time) {
		for src, dst := range map[string]string{ServerFile: certFile, ServerKeyFile: keyFile} {
			data, _ := os.ReadFile(filepath.Join(from, src))
			os.WriteFile(dst, data, 0o600)
			os.Chtimes(dst, mtime, mtime)
		}
	}
	install(a, t0)
	src, err := FileSource(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		c := src.Current()
		l, _ := x509.ParseCertificate(c.Certificate[0])
		return l.SerialNumber.String()
	}
	first := serial()
	if changed, err := src.Refresh(t0); changed || err != nil {
		t.Fatalf("unchanged files reloaded: %v %v", changed, err)
	}
	install(b, t0.Add(time.Minute))
	if changed, err := src.Refresh(t0); !changed || err != nil || serial() == first {
		t.Fatalf("rotated files not reloaded: %v %v", changed, err)
	}
	second := serial()
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	if changed, err := src.Refresh(t0); changed || err == nil || !strings.Contains(err.Error(), "previous certificate") {
		t.Fatalf("broken files: %v %v", changed, err)
	}
	if serial() != second {
		t.Fatal("a broken replacement replaced the served certificate")
	}
	if _, err := FileSource(certFile, keyFile); err == nil {
		t.Fatal("FileSource accepted a broken key")
	}
}
