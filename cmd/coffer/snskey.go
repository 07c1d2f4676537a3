package main

import (
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/coffer-hsm/coffer/internal/seal"
)

// snsSigningKey returns the node's SNS message signing key, made at first start and kept
// across restarts, so that subscribers that fetched the certificate at a message's
// SigningCertURL keep verifying the node's messages (AWS's key changes only on its own
// rotation). The key is stored encrypted (path, 0600) under the wrapping key in
// wrapPath, which sealer seals, as the CloudTrail signing keys are.
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
	priv, _, _, err := seal.LoadOrCreateRSAKey(path, wrap, []byte("coffer sns signing key"), time.Now())
	if err != nil {
		return nil, fmt.Errorf("the SNS signing key: %w", err)
	}
	return priv, nil
}
