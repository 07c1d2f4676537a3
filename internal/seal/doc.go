// Package seal manages Coffer's cluster domain key: generating it, using it
// to encrypt HSM key material at rest, sealing it to a node, splitting it
// among backup custodians, and zeroizing it.
//
// # The domain key
//
// A [DomainKey] is a 256-bit AES key shared by every node of a Coffer
// cluster. The secret material of every HSM key object in the replicated
// state is encrypted under it with AES-256-GCM ([DomainKey.Encrypt]); the
// additional data must bind the object's ID and immutable attributes so a
// ciphertext cannot be moved to another object or re-labelled. Plaintext key
// material and the domain key never leave this package and internal/hsm, and
// they never appear in errors, logs or fmt output ([DomainKey] implements
// [fmt.Formatter] and [log/slog.LogValuer] and prints only its ID).
//
// [DomainKey.ID] is a stable, non-secret identifier: the hex encoding of the
// first 8 bytes of HMAC-SHA256(key, "coffer domain key id v1").
//
// # Ciphertext format
//
//	0x01 || nonce (12 bytes, random) || AES-256-GCM ciphertext || tag (16 bytes)
//
// The GCM additional data is the version byte 0x01 followed by the caller's
// aad, so the header is authenticated too. The caller is responsible for
// encoding its aad unambiguously (for example length-prefixed fields).
// Random 96-bit nonces limit one domain key to about 2^32 encryptions, far
// above the number of key objects a cluster holds.
//
// # Sealing
//
// A [Sealer] protects the domain key at rest on one node:
//
//   - [NodeKeySealer] ("node-key", for --dev): a random 32-byte node key in a
//     0600 file encrypts the domain key. Anyone who can read that file can
//     unseal; it is not a production protection.
//   - [PassphraseSealer] ("passphrase", for production): a key derived from
//     an operator passphrase with scrypt (N=2^15, r=8, p=1, random 16-byte
//     salt stored in the blob).
//   - [Chain] combines two sealers, e.g. node key AND passphrase.
//
// [Save] writes the sealed domain key to a versioned JSON file, atomically
// and with mode 0600; [Load] reads and unseals it and checks the domain key
// ID recorded in the file. [Erase] overwrites a file with zeros before
// removing it.
//
// # Custodian shares
//
// [Split] and [Combine] implement Shamir secret sharing over GF(2^8) (the AES
// field, constant-time arithmetic). Each share is the y-values followed by a
// one-byte x coordinate. [EncodeShare] and [DecodeShare] convert a share to
// and from the text form handed to a custodian:
//
//	coffer-share-v1:<domain key ID>:<x>:<base64url y-values>:<crc32 hex>
//
// The CRC-32 covers everything before it and detects any single-character
// typo. It is not an integrity check against a malicious custodian: fewer
// than the threshold of shares, or a forged share, silently yields wrong
// bytes, so callers must check the recombined key against a known domain key
// ID with [FromBytes] and [DomainKey.ID].
//
// # Errors
//
// Errors are matched with [errors.Is] against the sentinels ([ErrDecrypt],
// [ErrZeroized], [ErrUnseal], [ErrNotFound], [ErrInvalidKey],
// [ErrMalformed], [ErrInvalidShare], [ErrShareChecksum], [ErrInvalidParams],
// [ErrInsecurePermissions]) or with [errors.As] against [*Error], which
// carries the operation and, for file operations, the path. All messages
// start with "seal: " and never contain secret bytes or passphrases.
//
// # Limits of zeroization
//
// [DomainKey.Zeroize] overwrites the key bytes this package holds and drops
// the AEAD, but Go gives no control over copies made by the runtime (the AES
// key schedule inside crypto/aes, stack copies, swapped pages). Zeroization
// here is best effort; [Erase] likewise cannot reach copies kept by
// copy-on-write file systems, SSD wear levelling or journals.
package seal
