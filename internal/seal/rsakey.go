package seal

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/coffer-hsm/coffer/internal/fsutil"
)

// rsaKeyFile is a wrapped RSA key file: the key's PKCS#8 DER encrypted under a wrapping
// key, and when the key was made.
type rsaKeyFile struct {
	Created    time.Time `json:"created,omitzero"`
	Ciphertext []byte    `json:"ciphertext"`
}

// LoadOrCreateRSAKey returns the RSA key kept in path, encrypted under wrap with aad
// (which binds the file to its use). If path does not exist it makes an RSA-2048 key and
// saves it (0600, atomically, its directory made 0700 if needed); fresh says so. created
// is when the key was made (zero for a file that does not say). A file that exists but
// does not decrypt is an error, never replaced.
func LoadOrCreateRSAKey(path string, wrap *DomainKey, aad []byte, now time.Time) (priv *rsa.PrivateKey, created time.Time, fresh bool, err error) {
	var kf rsaKeyFile
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &kf); err != nil {
			return nil, time.Time{}, false, fmt.Errorf("%s is corrupt: %w", path, err)
		}
		der, err := wrap.Decrypt(kf.Ciphertext, aad)
		if err != nil {
			return nil, time.Time{}, false, fmt.Errorf("decrypting %s: %w", path, err)
		}
		k, err := x509.ParsePKCS8PrivateKey(der)
		clear(der)
		if err != nil {
			return nil, time.Time{}, false, fmt.Errorf("%s: %w", path, err)
		}
		priv, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, time.Time{}, false, fmt.Errorf("%s is not an RSA key", path)
		}
		return priv, kf.Created, false, nil
	case errors.Is(err, os.ErrNotExist):
		if priv, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, time.Time{}, false, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, time.Time{}, false, err
		}
		ct, err := wrap.Encrypt(der, aad)
		clear(der)
		if err != nil {
			return nil, time.Time{}, false, err
		}
		kf = rsaKeyFile{Created: now.UTC().Truncate(time.Second), Ciphertext: ct}
		data, err := json.Marshal(kf)
		if err != nil {
			return nil, time.Time{}, false, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, time.Time{}, false, err
		}
		if err := fsutil.WriteFile(path, data); err != nil {
			return nil, time.Time{}, false, err
		}
		return priv, kf.Created, true, nil
	default:
		return nil, time.Time{}, false, err
	}
}
