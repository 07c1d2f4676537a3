package crypto

import (
	stdcrypto "crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// pairwiseName is the failure-switch name of [PairwiseCheck].
const pairwiseName = "pairwise"

var pairwiseMsg = []byte("Coffer pairwise consistency test")

// PairwiseCheck performs the FIPS 140-3 pairwise consistency test
// (ISO/IEC 19790:2012 §7.10; SP 800-56A Rev. 3 §5.6.2.1.4) on a freshly
// generated key pair: a sign/verify round trip for signing keys, and additionally an
// RSA-OAEP encrypt/decrypt round trip for RSA keys. It honors
// [SetSelfTestFailure]("pairwise"). On failure it returns an error wrapping
// [ErrPairwise].
func PairwiseCheck(rnd io.Reader, priv stdcrypto.PrivateKey) error {
	if rnd == nil {
		rnd = rand.Reader
	}
	corrupt := forcedFailure(pairwiseName)
	var alg SignAlg
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		switch CurveOf(k) {
		case CurveP256:
			alg = ECDSA_SHA_256
		case CurveP384:
			alg = ECDSA_SHA_384
		case CurveP521:
			alg = ECDSA_SHA_512
		default:
			return ErrUnsupportedCurve
		}
	case *secp256k1.PrivateKey:
		alg = ECDSA_SHA_256
	case *rsa.PrivateKey:
		alg = RSASSA_PSS_SHA_256
	case ed25519.PrivateKey:
		alg = ED25519
	default:
		return ErrUnsupportedKey
	}
	pub := PublicKey(priv)
	if pub == nil {
		return fmt.Errorf("%w: no public key", ErrPairwise)
	}
	msg := pairwiseMsg
	if h := alg.Hash(); h != 0 {
		hh := h.New()
		hh.Write(pairwiseMsg)
		msg = hh.Sum(nil)
	}
	sig, err := Sign(rnd, priv, alg, msg)
	if err != nil {
		return fmt.Errorf("%w: sign: %w", ErrPairwise, err)
	}
	if corrupt {
		sig[len(sig)/2] ^= 0x01
	}
	if err := Verify(pub, alg, msg, sig); err != nil {
		return fmt.Errorf("%w: verify: %w", ErrPairwise, err)
	}
	if k, ok := priv.(*rsa.PrivateKey); ok {
		ct, err := rsa.EncryptOAEP(sha256.New(), rnd, &k.PublicKey, pairwiseMsg, nil)
		if err != nil {
			return fmt.Errorf("%w: encrypt: %w", ErrPairwise, err)
		}
		// The ciphertext must differ from the plaintext.
		if subtle.ConstantTimeCompare(ct, pairwiseMsg) == 1 {
			return fmt.Errorf("%w: ciphertext equals plaintext", ErrPairwise)
		}
		pt, err := rsa.DecryptOAEP(sha256.New(), nil, k, ct, nil)
		if err != nil || subtle.ConstantTimeCompare(pt, pairwiseMsg) != 1 {
			return fmt.Errorf("%w: decrypt", ErrPairwise)
		}
	}
	return nil
}
