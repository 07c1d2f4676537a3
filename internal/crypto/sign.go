package crypto

import (
	stdcrypto "crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// SignAlg names a signing algorithm. The values match the AWS KMS
// SigningAlgorithmSpec names.
type SignAlg string

// Signing algorithms.
const (
	ECDSA_SHA_256             SignAlg = "ECDSA_SHA_256"
	ECDSA_SHA_384             SignAlg = "ECDSA_SHA_384"
	ECDSA_SHA_512             SignAlg = "ECDSA_SHA_512"
	RSASSA_PKCS1_V1_5_SHA_256 SignAlg = "RSASSA_PKCS1_V1_5_SHA_256"
	RSASSA_PKCS1_V1_5_SHA_384 SignAlg = "RSASSA_PKCS1_V1_5_SHA_384"
	RSASSA_PKCS1_V1_5_SHA_512 SignAlg = "RSASSA_PKCS1_V1_5_SHA_512"
	RSASSA_PSS_SHA_256        SignAlg = "RSASSA_PSS_SHA_256"
	RSASSA_PSS_SHA_384        SignAlg = "RSASSA_PSS_SHA_384"
	RSASSA_PSS_SHA_512        SignAlg = "RSASSA_PSS_SHA_512"
	ED25519                   SignAlg = "ED25519"
)

type algFamily uint8

const (
	famUnknown algFamily = iota
	famECDSA
	famPKCS1
	famPSS
	famEd25519
)

func (a SignAlg) info() (algFamily, stdcrypto.Hash) {
	switch a {
	case ECDSA_SHA_256:
		return famECDSA, stdcrypto.SHA256
	case ECDSA_SHA_384:
		return famECDSA, stdcrypto.SHA384
	case ECDSA_SHA_512:
		return famECDSA, stdcrypto.SHA512
	case RSASSA_PKCS1_V1_5_SHA_256:
		return famPKCS1, stdcrypto.SHA256
	case RSASSA_PKCS1_V1_5_SHA_384:
		return famPKCS1, stdcrypto.SHA384
	case RSASSA_PKCS1_V1_5_SHA_512:
		return famPKCS1, stdcrypto.SHA512
	case RSASSA_PSS_SHA_256:
		return famPSS, stdcrypto.SHA256
	case RSASSA_PSS_SHA_384:
		return famPSS, stdcrypto.SHA384
	case RSASSA_PSS_SHA_512:
		return famPSS, stdcrypto.SHA512
	case ED25519:
		return famEd25519, 0
	}
	return famUnknown, 0
}

// Hash returns the digest algorithm of a, or 0 for ED25519 (pure EdDSA) and
// unknown algorithms.
func (a SignAlg) Hash() stdcrypto.Hash {
	_, h := a.info()
	return h
}

// SignAlgs returns all supported signing algorithms.
func SignAlgs() []SignAlg {
	return []SignAlg{
		ECDSA_SHA_256, ECDSA_SHA_384, ECDSA_SHA_512,
		RSASSA_PKCS1_V1_5_SHA_256, RSASSA_PKCS1_V1_5_SHA_384, RSASSA_PKCS1_V1_5_SHA_512,
		RSASSA_PSS_SHA_256, RSASSA_PSS_SHA_384, RSASSA_PSS_SHA_512,
		ED25519,
	}
}

// checkAlg validates alg against the key family and digest length.
func checkAlg(alg SignAlg, want algFamily, digest []byte) (algFamily, stdcrypto.Hash, error) {
	fam, h := alg.info()
	if fam == famUnknown {
		return fam, h, ErrUnsupportedAlg
	}
	if want == famPKCS1 { // RSA keys accept both RSA families
		if fam != famPKCS1 && fam != famPSS {
			return fam, h, ErrKeyAlgMismatch
		}
	} else if fam != want {
		return fam, h, ErrKeyAlgMismatch
	}
	if h != 0 && len(digest) != h.Size() {
		return fam, h, ErrDigestLength
	}
	return fam, h, nil
}

// pssOptions uses a salt as long as the digest (RFC 8017 §9.1, AWS KMS).
var pssOptions = rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}

// Sign signs digest with priv using alg. digest is the already-computed
// hash whose length must match alg's hash, except for ED25519 where it is
// the message itself (pure Ed25519, RFC 8032 §5.1.6). ECDSA signatures are
// ASN.1 DER (RFC 3279 §2.2.3); secp256k1 signatures are deterministic
// (RFC 6979) and low-S, and only ECDSA_SHA_256 is allowed for secp256k1.
// Supported keys: *ecdsa.PrivateKey (P-256/384/521), *secp256k1.PrivateKey,
// *rsa.PrivateKey, ed25519.PrivateKey. A nil rnd means crypto/rand.Reader.
func Sign(rnd io.Reader, priv stdcrypto.PrivateKey, alg SignAlg, digest []byte) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if _, _, err := checkAlg(alg, famECDSA, digest); err != nil {
			return nil, err
		}
		if k == nil || CurveOf(k) == "" {
			return nil, ErrUnsupportedCurve
		}
		sig, err := ecdsa.SignASN1(rnd, k, digest)
		return sig, wrapErr("sign", err)
	case *secp256k1.PrivateKey:
		if _, _, err := checkAlg(alg, famECDSA, digest); err != nil {
			return nil, err
		}
		if alg != ECDSA_SHA_256 {
			return nil, ErrKeyAlgMismatch
		}
		if k == nil || k.Key.IsZero() {
			return nil, ErrInvalidPrivateKey
		}
		return secpecdsa.Sign(k, digest).Serialize(), nil
	case *rsa.PrivateKey:
		fam, h, err := checkAlg(alg, famPKCS1, digest)
		if err != nil {
			return nil, err
		}
		if k == nil {
			return nil, ErrInvalidPrivateKey
		}
		var sig []byte
		if fam == famPSS {
			opts := pssOptions
			sig, err = rsa.SignPSS(rnd, k, h, digest, &opts)
		} else {
			sig, err = rsa.SignPKCS1v15(rnd, k, h, digest)
		}
		return sig, wrapErr("sign", err)
	case ed25519.PrivateKey:
		if _, _, err := checkAlg(alg, famEd25519, digest); err != nil {
			return nil, err
		}
		if len(k) != ed25519.PrivateKeySize {
			return nil, ErrInvalidPrivateKey
		}
		return ed25519.Sign(k, digest), nil
	}
	return nil, ErrUnsupportedKey
}

// Verify checks sig over digest (the message itself for ED25519) with pub
// and alg, returning nil if it is valid and [ErrVerify] if not. ECDSA
// signatures must be strict DER. For secp256k1 both low-S and high-S
// signatures are accepted (see the package documentation). Supported keys:
// *ecdsa.PublicKey, *secp256k1.PublicKey, *rsa.PublicKey, ed25519.PublicKey.
func Verify(pub stdcrypto.PublicKey, alg SignAlg, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if _, _, err := checkAlg(alg, famECDSA, digest); err != nil {
			return err
		}
		if k == nil || CurveOf(k) == "" {
			return ErrUnsupportedCurve
		}
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return ErrVerify
		}
		return nil
	case *secp256k1.PublicKey:
		if _, _, err := checkAlg(alg, famECDSA, digest); err != nil {
			return err
		}
		if alg != ECDSA_SHA_256 {
			return ErrKeyAlgMismatch
		}
		if k == nil {
			return ErrInvalidPublicKey
		}
		s, err := secpecdsa.ParseDERSignature(sig)
		if err != nil || !s.Verify(digest, k) {
			return ErrVerify
		}
		return nil
	case *rsa.PublicKey:
		fam, h, err := checkAlg(alg, famPKCS1, digest)
		if err != nil {
			return err
		}
		if k == nil || k.N == nil {
			return ErrInvalidPublicKey
		}
		if fam == famPSS {
			opts := pssOptions
			err = rsa.VerifyPSS(k, h, digest, sig, &opts)
		} else {
			err = rsa.VerifyPKCS1v15(k, h, digest, sig)
		}
		if err != nil {
			return ErrVerify
		}
		return nil
	case ed25519.PublicKey:
		if _, _, err := checkAlg(alg, famEd25519, digest); err != nil {
			return err
		}
		if len(k) != ed25519.PublicKeySize {
			return ErrInvalidPublicKey
		}
		if !ed25519.Verify(k, digest, sig) {
			return ErrVerify
		}
		return nil
	}
	return ErrUnsupportedKey
}

// wrapErr prefixes errors from the standard library with "crypto: op: ".
// It returns nil for a nil err. The wrapped errors never carry key bytes.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("crypto: %s: %w", op, err)
}
