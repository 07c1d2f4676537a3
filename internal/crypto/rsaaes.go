package crypto

import (
	stdcrypto "crypto"
	"crypto/rand"
	"crypto/rsa"
	"io"
)

func checkOAEPHash(h stdcrypto.Hash) error {
	switch h {
	case stdcrypto.SHA1, stdcrypto.SHA256, stdcrypto.SHA384, stdcrypto.SHA512:
		if h.Available() {
			return nil
		}
	}
	return ErrUnsupportedAlg
}

// WrapRSAAES wraps key for the holder of pub per PKCS #11 Current Mechanisms
// v2.40 §2.1.21
// (CKM_RSA_AES_KEY_WRAP; AWS KMS RSA_AES_KEY_WRAP_SHA_1/SHA_256): a fresh
// AES key of aesKeyBits (128, 192 or 256) is encrypted with RSA-OAEP
// (RFC 8017 §7.1.1, hash h, MGF1 with h, empty label), then key is wrapped
// with it per RFC 5649. The result is the RSA ciphertext (modulus size)
// followed by the RFC 5649 ciphertext. The ephemeral AES key is zeroed
// before returning. A nil rnd means crypto/rand.Reader.
func WrapRSAAES(rnd io.Reader, pub *rsa.PublicKey, h stdcrypto.Hash, aesKeyBits int, key []byte) ([]byte, error) {
	if pub == nil || pub.N == nil {
		return nil, ErrInvalidPublicKey
	}
	if err := checkOAEPHash(h); err != nil {
		return nil, err
	}
	switch aesKeyBits {
	case 128, 192, 256:
	default:
		return nil, ErrKEKSize
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	eph := make([]byte, aesKeyBits/8)
	defer clear(eph)
	if _, err := io.ReadFull(rnd, eph); err != nil {
		return nil, wrapErr("read random", err)
	}
	kwp, err := WrapPad(eph, key)
	if err != nil {
		return nil, err
	}
	ct, err := rsa.EncryptOAEP(h.New(), rnd, pub, eph, nil)
	if err != nil {
		return nil, wrapErr("RSA-OAEP encrypt", err)
	}
	return append(ct, kwp...), nil
}

// UnwrapRSAAES reverses [WrapRSAAES]. Any decoding failure (RSA-OAEP or
// RFC 5649) is reported uniformly as [ErrUnwrap] so that the two cannot be
// told apart.
func UnwrapRSAAES(priv *rsa.PrivateKey, h stdcrypto.Hash, wrapped []byte) ([]byte, error) {
	if priv == nil || priv.N == nil {
		return nil, ErrInvalidPrivateKey
	}
	if err := checkOAEPHash(h); err != nil {
		return nil, err
	}
	k := priv.Size()
	// RSA block plus at least one 16-byte RFC 5649 block.
	if len(wrapped) < k+16 {
		return nil, ErrUnwrapLength
	}
	eph, err := rsa.DecryptOAEP(h.New(), nil, priv, wrapped[:k], nil)
	if err != nil {
		return nil, ErrUnwrap
	}
	defer clear(eph)
	switch len(eph) {
	case 16, 24, 32:
	default:
		return nil, ErrUnwrap
	}
	key, err := UnwrapPad(eph, wrapped[k:])
	if err != nil {
		if err == ErrUnwrapLength {
			return nil, err
		}
		return nil, ErrUnwrap
	}
	return key, nil
}
