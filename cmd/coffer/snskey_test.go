package main

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/coffer-hsm/coffer/internal/seal"
)

// The SNS signing key survives a restart (subscribers keep verifying with the certificate
// they fetched), is stored only encrypted in a 0600 file, and a file that does not
// decrypt under the sealed wrapping key is refused rather than replaced.
func TestSNSSigningKeyKeptEncrypted(t *testing.T) {
	dir := t.TempDir()
	sealer, err := seal.NewNodeKeySealer(filepath.Join(dir, "node-key"))
	if err != nil {
		t.Fatal(err)
	}
	path, wrapPath := filepath.Join(dir, "sns-signing-key"), filepath.Join(dir, "sns-signing.sealed")
	k1, err := snsSigningKey(path, wrapPath, sealer)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := snsSigningKey(path, wrapPath, sealer)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("a second start made another SNS signing key")
	}
	for _, p := range []string{path, wrapPath} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(k1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, der) || bytes.Contains(b, k1.D.Bytes()) {
		t.Fatal("the SNS signing key file holds the private key in the clear")
	}
	// Another wrapping key: the file must be refused, not silently replaced.
	if err := os.Remove(wrapPath); err != nil {
		t.Fatal(err)
	}
	if _, err := snsSigningKey(path, wrapPath, sealer); err == nil {
		t.Fatal("a key file encrypted under another wrapping key was accepted")
	}
	if b2, _ := os.ReadFile(path); !bytes.Equal(b, b2) {
		t.Fatal("the key file was overwritten")
	}
}
