package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// TestCLIWalkthrough runs the README's walkthrough with the real `coffer hsm` CLI in
// single-command mode against a real server.
func TestCLIWalkthrough(t *testing.T) {
	s := startServer(t, "", nil)
	admin := s.cli()
	admin.ok(nil, "login", "--username", "admin", "--role", "admin", "--password", s.creds().AdminPassword)
	fi, err := os.Stat(admin.sessionFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v %v", err, fi)
	}
	admin.ok(nil, "user", "create", "--username", "alice", "--role", "crypto-user", "--password", "alice-password")
	var users struct {
		Users []hsm.UserInfo `json:"users"`
	}
	admin.ok(&users, "user", "list")
	if len(users.Users) != 2 {
		t.Fatalf("users: %+v", users)
	}
	out, _, code := admin.run("", "user", "list", "--output", "table")
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "crypto-user") {
		t.Fatalf("table output: %d %s", code, out)
	}
	// Admins do not use keys.
	if msg := admin.fail("key", "generate-symmetric", "aes", "--label", "x", "--key-length-bytes", "32"); !strings.Contains(msg, "only crypto users") {
		t.Fatalf("admin generated a key: %s", msg)
	}
	admin.ok(nil, "logout")
	if _, err := os.Stat(admin.sessionFile); !os.IsNotExist(err) {
		t.Fatal("session file kept after logout")
	}
	if msg := admin.fail("user", "list"); !strings.Contains(strings.ToLower(msg), "log") {
		t.Fatalf("after logout: %s", msg)
	}

	alice := s.cli()
	alice.ok(nil, "login", "--username", "alice", "--role", "crypto-user", "--password", "alice-password")
	alice.ok(nil, "key", "generate-symmetric", "aes", "--label", "my-aes", "--key-length-bytes", "32", "--attributes", "encrypt=true,decrypt=true")
	alice.ok(nil, "key", "generate-asymmetric-pair", "ec", "--curve", "secp256r1", "--public-label", "my-ec-pub", "--private-label", "my-ec",
		"--private-attributes", "sign=true", "--public-attributes", "verify=true")
	var kl hsm.KeyList
	alice.ok(&kl, "key", "list", "--filter", "attr.label=my-ec", "--verbose")
	if kl.TotalKeyCount != 1 || !kl.MatchedKeys[0].Attributes.Sign || kl.MatchedKeys[0].Attributes.Class != hsm.ClassPrivate {
		t.Fatalf("key list: %+v", kl)
	}
	msg := []byte("hello")
	var sig struct {
		Signature []byte `json:"signature"`
	}
	alice.ok(&sig, "crypto", "sign", "ecdsa", "--key-filter", "attr.label=my-ec", "--hash-function", "sha256", "--data", base64.StdEncoding.EncodeToString(msg))
	alice.ok(nil, "crypto", "verify", "ecdsa", "--key-filter", "attr.label=my-ec-pub", "--hash-function", "sha256",
		"--data", base64.StdEncoding.EncodeToString(msg), "--signature", base64.StdEncoding.EncodeToString(sig.Signature))
	pubPath := filepath.Join(t.TempDir(), "my-ec-pub.pem")
	alice.ok(nil, "key", "generate-file", "--filter", "attr.label=my-ec-pub", "--path", pubPath)
	pemBytes, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], sig.Signature) {
		t.Fatal("the stdlib does not verify the HSM's signature")
	}
	// OpenSSL verifies it too.
	if _, err := exec.LookPath("openssl"); err == nil {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "msg"), msg, 0o600)
		os.WriteFile(filepath.Join(dir, "sig"), sig.Signature, 0o600)
		out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pubPath, "-signature", filepath.Join(dir, "sig"), filepath.Join(dir, "msg")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verified OK") {
			t.Fatalf("openssl: %v %s", err, out)
		}
	} else {
		t.Log("openssl not installed: skipping the OpenSSL check")
	}
	var enc struct {
		Ciphertext []byte `json:"ciphertext"`
	}
	alice.ok(&enc, "crypto", "encrypt", "aes-gcm", "--key-filter", "attr.label=my-aes", "--data", base64.StdEncoding.EncodeToString(msg))
	var dec struct {
		Plaintext []byte `json:"plaintext"`
	}
	alice.ok(&dec, "crypto", "decrypt", "aes-gcm", "--key-filter", "attr.label=my-aes", "--data", base64.StdEncoding.EncodeToString(enc.Ciphertext))
	if !bytes.Equal(dec.Plaintext, msg) {
		t.Fatalf("decrypt: %q", dec.Plaintext)
	}
	// Wrap the AES key under a second AES key, unwrap it as a new key: it decrypts the same data.
	alice.ok(nil, "key", "generate-symmetric", "aes", "--label", "kek", "--key-length-bytes", "32", "--attributes", "wrap=true,unwrap=true")
	wrapped := filepath.Join(t.TempDir(), "wrapped.bin")
	alice.ok(nil, "key", "wrap", "aes-zero-pad", "--payload-filter", "attr.label=my-aes", "--wrapping-filter", "attr.label=kek", "--path", wrapped)
	alice.ok(nil, "key", "unwrap", "aes-zero-pad", "--unwrapping-filter", "attr.label=kek", "--data-path", wrapped,
		"--key-type-class", "aes", "--label", "my-aes-copy", "--attributes", "decrypt=true")
	alice.ok(&dec, "crypto", "decrypt", "aes-gcm", "--key-filter", "attr.label=my-aes-copy", "--data", base64.StdEncoding.EncodeToString(enc.Ciphertext))
	if !bytes.Equal(dec.Plaintext, msg) {
		t.Fatal("unwrapped copy does not decrypt")
	}
	// The key cannot sign: attribute checks hold through the CLI.
	if msg := alice.fail("crypto", "sign", "ecdsa", "--key-filter", "attr.label=my-ec-pub", "--hash-function", "sha256", "--data", "aGVsbG8="); !strings.Contains(msg, "sign") {
		t.Fatalf("public key signed: %s", msg)
	}
	// Bad input gets a clear message and a usage exit code.
	if out, errOut, code := alice.run("", "key", "generate-symmetric", "aes", "--label", "x"); code != 2 || !strings.Contains(out+errOut, "key-length-bytes") {
		t.Fatalf("missing flag: exit %d %s %s", code, out, errOut)
	}
	alice.ok(nil, "logout")
}

// TestInteractiveMode drives `coffer hsm interactive` through its prompt.
func TestInteractiveMode(t *testing.T) {
	s := startServer(t, "", nil)
	c := s.cli()
	script := strings.Join([]string{
		"login --username admin --role admin --password " + s.creds().AdminPassword,
		"user create --username bob --role crypto-user --password 'bob password'",
		"user list --output table",
		"logout",
		"login --username bob --role crypto-user --password 'bob password'",
		"key generate-symmetric aes --label \"bob key\" --key-length-bytes 16 --session",
		"key list --filter 'attr.label=bob key'",
		"quit",
	}, "\n") + "\n"
	out, errOut, code := c.run(script, "interactive")
	if code != 0 {
		t.Fatalf("interactive exit %d: %s %s", code, out, errOut)
	}
	for _, want := range []string{"coffer-hsm >", "bob", `"total_key_count": 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("interactive output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(c.sessionFile); !os.IsNotExist(err) {
		t.Error("interactive mode wrote a session file")
	}
}
