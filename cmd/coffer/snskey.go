package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/coffer-hsm/coffer/internal/fsutil"
	"github.com/coffer-hsm/coffer/internal/seal"
)

// snsKeyAAD binds the encrypted SNS signing key to its use.
var snsKeyAAD = []byte("coffer sns signing key")

// snsSigningKeyFile is <data-dir>/sns-signing-key: the PKCS#8 DER of the RSA key that
// signs SNS messages, encrypted under a wrapping key sealed like the node's other keys.
type snsSigningKeyFile struct {
	Ciphertext []byte `json:"ciphertext"`
}

// snsSigningKey returns the node's SNS message signing key, made at first start and kept
// across restarts, so that subscribers that fetched the certificate at a message's
// SigningCertURL keep verifying the node's messages (AWS's key changes only on its own
// rotation). The key is stored encrypted (path, 0600) under the wrapping key in
// wrapPath, which sealer seals.
func snsSigningKey(path, wrapPath string, sealer seal.Sealer) (*rsa.PrivateKey, error) {
	wrapBytes, err := sealedKey(wrapPath, sealer, "SNS signing key's wrapping key")
	if err != nil {
		return nil, err
	}
	wrap, err := seal.FromBytes(wrapBytes)
	clear(wrapBytes)
	if err != nil {
		return nil, err
	}
	defer wrap.Zeroize()
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var f snsSigningKeyFile
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("the SNS signing key %s is corrupt: %w", path, err)
		}
		der, err := wrap.Decrypt(f.Ciphertext, snsKeyAAD)
		if err != nil {
			return nil, fmt.Errorf("decrypting the SNS signing key %s: %w", path, err)
		}
		k, err := x509.ParsePKCS8PrivateKey(der)
		clear(der)
		if err != nil {
			return nil, fmt.Errorf("the SNS signing key %s: %w", path, err)
		}
		priv, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("the SNS signing key %s is not an RSA key", path)
		}
		return priv, nil
	case errors.Is(err, os.ErrNotExist):
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("making the SNS signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		ct, err := wrap.Encrypt(der, snsKeyAAD)
		clear(der)
		if err != nil {
			return nil, err
		}
		out, err := json.Marshal(snsSigningKeyFile{Ciphertext: ct})
		if err != nil {
			return nil, err
		}
		if err := fsutil.WriteFile(path, out); err != nil {
			return nil, fmt.Errorf("saving the SNS signing key: %w", err)
		}
		return priv, nil
	default:
		return nil, fmt.Errorf("reading the SNS signing key: %w", err)
	}
}
