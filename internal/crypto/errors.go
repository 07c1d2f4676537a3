package crypto

import "errors"

var (
	// ErrKEKSize is returned when a key-encryption key is not 16, 24 or 32 bytes.
	ErrKEKSize = errors.New("crypto: invalid key-encryption key size")
	// ErrWrapLength is returned when the plaintext to wrap has an invalid length.
	ErrWrapLength = errors.New("crypto: invalid key wrap input length")
	// ErrUnwrapLength is returned when the ciphertext to unwrap has an invalid length.
	ErrUnwrapLength = errors.New("crypto: invalid key unwrap input length")
	// ErrUnwrap is returned when an unwrapped key fails its integrity check
	// (IV, MLI, padding or RSA-OAEP decoding).
	ErrUnwrap = errors.New("crypto: key unwrap failed: integrity check")

	// ErrUnsupportedKey is returned for key types this package does not handle.
	ErrUnsupportedKey = errors.New("crypto: unsupported key type")
	// ErrUnsupportedAlg is returned for an unknown signing algorithm or hash.
	ErrUnsupportedAlg = errors.New("crypto: unsupported algorithm")
	// ErrKeyAlgMismatch is returned when the key type cannot be used with the algorithm.
	ErrKeyAlgMismatch = errors.New("crypto: key type does not match algorithm")
	// ErrDigestLength is returned when a digest's length does not match the algorithm's hash.
	ErrDigestLength = errors.New("crypto: digest length does not match algorithm")
	// ErrVerify is returned when a signature does not verify.
	ErrVerify = errors.New("crypto: signature verification failed")

	// ErrUnsupportedCurve is returned for an unknown curve name or curve.
	ErrUnsupportedCurve = errors.New("crypto: unsupported curve")
	// ErrCurveMismatch is returned when ECDH keys are on different curves.
	ErrCurveMismatch = errors.New("crypto: ECDH keys are on different curves")
	// ErrInvalidPublicKey is returned for a public key not on its curve or malformed.
	ErrInvalidPublicKey = errors.New("crypto: invalid public key")
	// ErrInvalidPrivateKey is returned for a malformed or out-of-range private key.
	ErrInvalidPrivateKey = errors.New("crypto: invalid private key")
	// ErrKeyEncoding is returned for malformed PKCS #8 or PKIX encodings.
	ErrKeyEncoding = errors.New("crypto: malformed key encoding")

	// ErrPairwise is returned when a pairwise consistency test fails.
	ErrPairwise = errors.New("crypto: pairwise consistency test failed")

	// ErrPasswordHashFormat is returned for a malformed encoded password hash.
	ErrPasswordHashFormat = errors.New("crypto: malformed password hash")
	// ErrPasswordHashParams is returned when encoded Argon2id parameters are out of bounds.
	ErrPasswordHashParams = errors.New("crypto: password hash parameters out of range")
)
