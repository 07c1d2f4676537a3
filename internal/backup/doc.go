// Package backup implements Coffer's backup archives, backup stores and
// CloudHSM-style retention decisions. It knows nothing of HTTP or of
// CloudHSM's API; the cluster and the CLI build on it.
//
// # Archive format (version 1)
//
// An archive is a single self-contained byte stream:
//
//	"COFFERBK"                 8 bytes magic
//	version                    u8, 1
//	header length              u32 big endian, 1..MaxHeaderSize
//	header                     JSON ([Header]), strict: no unknown fields
//	payload length             u64 big endian, 28..MaxPayloadSize
//	payload                    nonce (12) || AES-256-GCM(gzip(snapshot)) || tag (16)
//	mac                        32 bytes HMAC-SHA256 over every byte before it
//
// Nothing may follow the MAC.
//
// The payload is the state snapshot (internal/state SnapshotData), gzip
// compressed, then encrypted. Key material inside the snapshot is already
// sealed under the domain key, but the snapshot also holds metadata (HSM
// users' password hashes, key labels, policies), so the payload is
// encrypted too: encrypt-then-MAC. Both keys are derived from the domain key
// with HKDF-SHA256 and the header's random 32-byte salt, so every archive
// uses fresh keys:
//
//	payload key = HKDF(domain key, salt, "coffer backup payload v1")
//	mac key     = HKDF(domain key, salt, "coffer backup mac v1")
//
// The GCM additional data is every byte before the payload (magic, version,
// header length, header, payload length), so the header is bound to the
// ciphertext; the HMAC then covers the whole archive, so any changed bit is
// detected ([ErrCorrupt]) before decryption. Because the MAC is computed over
// the raw header bytes, re-encodings of the JSON that decode to the same
// values (letter case in field names, base64 padding bits) are detected too.
//
// # Custodians
//
// The domain key is never stored in the clear. [Write] splits it with
// Shamir's secret sharing (seal.Split, "shamir-v1") into N shares, any M of
// which recover it:
//
//   - stored form: with custodian RSA public keys, share i is encrypted to
//     custodian i with RSA-OAEP-SHA256 (label "coffer backup share v1") and
//     stored in the header; at restore each custodian runs [DecryptShare]
//     with their private key.
//   - offline form: without custodian keys, the N shares are returned to the
//     caller as seal.EncodeShare strings and are not stored (a --dev cluster
//     keeps its single 1-of-1 share in its data directory).
//
// [Archive.Open] combines the shares, checks the recovered key's ID against
// Header.DomainKeyID ([ErrCustodians] otherwise), verifies the MAC in
// constant time, decrypts and decompresses.
//
// Any change to the header's fields or to the layout requires a new version.
package backup
