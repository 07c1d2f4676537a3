// Package crypto provides the cryptographic primitives Coffer needs that the
// Go standard library lacks, a uniform signing API for the HSM hot path, and
// the HSM's power-on self-tests.
//
// Import the standard library package as stdcrypto "crypto" when both are
// needed in the same file.
//
// # Key wrapping
//
//   - [Wrap] / [Unwrap]: AES Key Wrap, RFC 3394 §2.2.1 and §2.2.2, with the
//     default initial value A6A6A6A6A6A6A6A6 (RFC 3394 §2.2.3.1); also NIST
//     SP 800-38F §6.2 (KW). Plaintext must be a multiple of 8 bytes and at
//     least 16 bytes.
//   - [WrapPad] / [UnwrapPad]: AES Key Wrap with Padding, RFC 5649 §4.1 and
//     §4.2 (NIST SP 800-38F §6.3, KWP). The alternative initial value is
//     A65959A6 || MLI (RFC 5649 §3); plaintexts of at most 8 bytes use the
//     single-block AES encryption of RFC 5649 §4.1. Unwrap checks the
//     MLI range and that the padding bytes are zero (RFC 5649 §3).
//   - [WrapPKCS5] / [UnwrapPKCS5]: PKCS#5 padding (RFC 8018 §6.1.1 step 4)
//     to a multiple of 8 bytes followed by RFC 3394, as AWS CloudHSM's
//     CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD. Plaintext must be at least 8 bytes.
//   - [WrapRSAAES] / [UnwrapRSAAES]: RSA-AES key wrap, PKCS #11 Current
//     Mechanisms v2.40 §2.1.21 (CKM_RSA_AES_KEY_WRAP), identical to AWS KMS
//     RSA_AES_KEY_WRAP_SHA_1 / RSA_AES_KEY_WRAP_SHA_256: an ephemeral AES key
//     is RSA-OAEP encrypted (RFC 8017 §7.1, MGF1 with the same hash, empty
//     label) and the target key is wrapped with it per RFC 5649.
//
// All KEKs must be 16, 24 or 32 bytes (AES-128/192/256).
//
// # Signatures
//
// [Sign] and [Verify] implement one API over [SignAlg] for ECDSA (FIPS 186-5
// §6, signatures DER encoded per RFC 3279 §2.2.3) on P-256, P-384, P-521 and
// secp256k1 (SEC 2 §2.4.1), RSASSA-PKCS1-v1_5 (RFC 8017 §8.2), RSASSA-PSS
// (RFC 8017 §8.1, salt length = hash length, MGF1 with the same hash) and
// pure Ed25519 (RFC 8032 §5.1). Except for Ed25519 the input is the
// pre-computed digest.
//
// secp256k1 policy: [Sign] always produces low-S signatures (BIP 62 /
// RFC 6979 deterministic nonces, via decred's implementation, which ignores
// the random source). [Verify] accepts both low-S and high-S signatures, as
// plain ECDSA per SEC 1 §4.1.4 does and as AWS KMS and PKCS #11 tokens
// produce; callers needing non-malleability (e.g. Bitcoin) must check S
// themselves. secp256k1 is only used with ECDSA_SHA_256.
//
// # Key encoding and agreement
//
// [MarshalPKCS8], [ParsePKCS8] (RFC 5208 §5, RFC 5915 §3 for EC keys),
// [MarshalPKIX], [ParsePKIX] (RFC 5280 §4.1.2.7, RFC 5480 §2) delegate to
// crypto/x509 for standard-library key types and add secp256k1 as
// id-ecPublicKey with namedCurve 1.3.132.0.10 (SEC 2 §A.2.1), the encoding
// OpenSSL uses. Only uncompressed points (SEC 1 §2.3.3) are accepted.
// [ECDH] computes the SEC 1 §3.3.1 shared secret (x-coordinate) for P-256,
// P-384, P-521 and secp256k1.
//
// # Self-tests
//
// [SelfTest] runs a cryptographic algorithm self-test (known-answer test)
// per mechanism, as FIPS 140-3 requires before first use (ISO/IEC
// 19790:2012 §7.10; FIPS 140-3 IG 10.3.A). [PairwiseCheck] is the pairwise
// consistency test for freshly generated key pairs (ISO/IEC 19790:2012
// §7.10; NIST SP 800-56A Rev. 3 §5.6.2.1.4). [SetSelfTestFailure] forces a named test to fail so
// the error path can be exercised.
//
// # One-time passwords and passwords
//
// [TOTP] and [VerifyTOTP] implement RFC 6238 §4 on top of HOTP (RFC 4226
// §5.3). [HashPassword] and [VerifyPassword] use Argon2id (RFC 9106 §3.1)
// with the OWASP-recommended parameters m=19456 KiB, t=2, p=1, encoded in
// the PHC string format.
//
// # Errors
//
// All errors are prefixed "crypto: " and never contain secret bytes.
// Secrets are compared in constant time (crypto/subtle).
package crypto
