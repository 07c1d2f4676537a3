package seal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/scrypt"

	"github.com/coffer-hsm/coffer/internal/fsutil"
)

// Sealer protects the domain key at rest on one node.
//
// Seal encrypts dk (any non-empty byte string, normally the KeySize raw
// domain key) and returns an opaque blob; it does not retain dk. Unseal
// returns the plaintext, which the caller must zero when done; when the blob
// was not produced by this sealer (other node key, other passphrase, other
// sealer type) or was altered or truncated, Unseal returns an error wrapping
// ErrUnseal. Errors never contain secret bytes.
type Sealer interface {
	// Name identifies the sealer type: "node-key", "passphrase", or for a
	// chain "<outer>+<inner>". It is recorded in sealed files.
	Name() string
	Seal(dk []byte) ([]byte, error)
	Unseal(blob []byte) ([]byte, error)
}

var (
	_ Sealer = (*NodeKeySealer)(nil)
	_ Sealer = (*PassphraseSealer)(nil)
	_ Sealer = (*ChainSealer)(nil)
)

const nodeKeyAAD = "coffer seal node-key v1"

// NodeKeySealer seals with a random 32-byte node key kept in a 0600 file.
// It is meant for --dev: anyone who can read the node key file and the
// sealed file can unseal.
//
// Blob format: 0x01 || nonce(12) || AES-256-GCM(dk) || tag, additional data
// 0x01 || "coffer seal node-key v1".
type NodeKeySealer struct {
	path string
	dk   *DomainKey // the node key, reusing DomainKey's AEAD handling
}

// NewNodeKeySealer loads the node key from path, or creates it (mode 0600,
// parent directory 0700 if missing, exclusive create, fsynced) when the file
// does not exist. An existing file must hold exactly KeySize non-zero bytes
// (ErrInvalidKey otherwise). Permissions broader than 0600 are not refused;
// use CheckPermissions to warn.
func NewNodeKeySealer(path string) (*NodeKeySealer, error) {
	const op = "open node key"
	b, err := readNodeKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = createNodeKey(path)
	}
	if err != nil {
		return nil, err
	}
	defer clear(b)
	dk, err := FromBytes(b)
	if err != nil {
		return nil, pathErr(op, path, ErrInvalidKey, detail("node key file must hold 32 random bytes"))
	}
	return &NodeKeySealer{path: path, dk: dk}, nil
}

func readNodeKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, pathErr("open node key", path, nil, err)
	}
	defer f.Close()
	b := make([]byte, KeySize+1)
	n, err := io.ReadFull(f, b)
	if err != io.ErrUnexpectedEOF || n != KeySize {
		clear(b)
		if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, pathErr("open node key", path, ErrInvalidKey, detail(fmt.Sprintf("node key file must be exactly %d bytes", KeySize)))
		}
		return nil, pathErr("open node key", path, nil, err)
	}
	return b[:KeySize], nil
}

func createNodeKey(path string) ([]byte, error) {
	const op = "create node key"
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, pathErr(op, path, nil, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readNodeKey(path) // lost a creation race
	}
	if err != nil {
		return nil, pathErr(op, path, nil, err)
	}
	b := make([]byte, KeySize)
	rand.Read(b)
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsutil.SyncDir(dir)
	}
	if err != nil {
		clear(b)
		os.Remove(path)
		return nil, pathErr(op, path, nil, err)
	}
	return b, nil
}

// Name returns "node-key".
func (s *NodeKeySealer) Name() string { return "node-key" }

// Path returns the node key file's path.
func (s *NodeKeySealer) Path() string { return s.path }

// Seal encrypts dk under the node key.
func (s *NodeKeySealer) Seal(dk []byte) ([]byte, error) {
	if len(dk) == 0 {
		return nil, newErr("seal node-key", ErrInvalidParams, detail("empty input"))
	}
	out, err := s.dk.Encrypt(dk, []byte(nodeKeyAAD))
	if err != nil {
		return nil, newErr("seal node-key", ErrZeroized, nil)
	}
	return out, nil
}

// Unseal decrypts a blob produced by Seal with the same node key; any other
// blob yields an error wrapping ErrUnseal.
func (s *NodeKeySealer) Unseal(blob []byte) ([]byte, error) {
	pt, err := s.dk.Decrypt(blob, []byte(nodeKeyAAD))
	if errors.Is(err, ErrZeroized) {
		return nil, newErr("unseal node-key", ErrZeroized, nil)
	}
	if err != nil {
		return nil, newErr("unseal node-key", ErrUnseal, detail("wrong node key or altered blob"))
	}
	return pt, nil
}

// Zeroize wipes the in-memory node key; the sealer is unusable afterwards.
func (s *NodeKeySealer) Zeroize() { s.dk.Zeroize() }

// String describes the sealer without secrets.
func (s *NodeKeySealer) String() string { return "seal.NodeKeySealer(" + s.path + ")" }

// Format implements fmt.Formatter so that no verb prints the node key.
func (s *NodeKeySealer) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// Passphrase sealing parameters.
const (
	passphraseVersion = 0x01
	kdfScrypt         = 0x01
	saltSize          = 16
	passphraseAAD     = "coffer seal passphrase v1"
	// header: version, kdf, log2(N), salt
	passphraseHeaderSize = 3 + saltSize
	maxScryptLogN        = 20 // 1 GiB with r=8; bounds work an altered blob can demand
)

// scryptLogN is log2 of scrypt's N used by Seal. Tests lower it; Unseal
// reads the value from the blob.
var scryptLogN byte = 15

// PassphraseSealer seals with a key derived from an operator passphrase
// with scrypt (N=2^15, r=8, p=1) and a random 16-byte salt.
//
// Blob format: 0x01 (version) || 0x01 (kdf = scrypt) || log2(N) || salt(16)
// || nonce(12) || AES-256-GCM(dk) || tag. The GCM additional data is the
// 19-byte header followed by "coffer seal passphrase v1" (plus the 0x01
// ciphertext version byte prefix). r=8 and p=1 are fixed by version 1;
// log2(N) is accepted up to 20.
type PassphraseSealer struct {
	passphrase []byte
}

// NewPassphraseSealer returns a sealer for passphrase, which it copies; the
// caller should zero its own copy. An empty passphrase makes Seal fail with
// ErrInvalidParams and Unseal fail with ErrUnseal.
func NewPassphraseSealer(passphrase []byte) *PassphraseSealer {
	p := make([]byte, len(passphrase))
	copy(p, passphrase)
	return &PassphraseSealer{passphrase: p}
}

// Name returns "passphrase".
func (s *PassphraseSealer) Name() string { return "passphrase" }

func (s *PassphraseSealer) deriveKey(salt []byte, logN byte) (*DomainKey, error) {
	k, err := scrypt.Key(s.passphrase, salt, 1<<logN, 8, 1, KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return FromBytes(k)
}

// Seal encrypts dk under a key derived from the passphrase and a fresh salt.
func (s *PassphraseSealer) Seal(dk []byte) ([]byte, error) {
	const op = "seal passphrase"
	if len(dk) == 0 {
		return nil, newErr(op, ErrInvalidParams, detail("empty input"))
	}
	if len(s.passphrase) == 0 {
		return nil, newErr(op, ErrInvalidParams, detail("empty passphrase"))
	}
	hdr := make([]byte, passphraseHeaderSize)
	hdr[0], hdr[1], hdr[2] = passphraseVersion, kdfScrypt, scryptLogN
	rand.Read(hdr[3:])
	k, err := s.deriveKey(hdr[3:], hdr[2])
	if err != nil {
		return nil, newErr(op, ErrInvalidParams, detail("key derivation failed"))
	}
	defer k.Zeroize()
	ct, err := k.Encrypt(dk, append(append([]byte{}, hdr...), passphraseAAD...))
	if err != nil {
		return nil, newErr(op, nil, err)
	}
	return append(hdr, ct...), nil
}

// Unseal decrypts a blob produced by Seal with the same passphrase; a wrong
// passphrase or an altered blob yields an error wrapping ErrUnseal.
func (s *PassphraseSealer) Unseal(blob []byte) ([]byte, error) {
	const op = "unseal passphrase"
	if len(blob) < passphraseHeaderSize+Overhead || blob[0] != passphraseVersion || blob[1] != kdfScrypt {
		return nil, newErr(op, ErrUnseal, detail("not a passphrase-sealed blob"))
	}
	if logN := blob[2]; logN < 1 || logN > maxScryptLogN {
		return nil, newErr(op, ErrUnseal, detail("unsupported scrypt parameters"))
	}
	if len(s.passphrase) == 0 {
		return nil, newErr(op, ErrUnseal, detail("empty passphrase"))
	}
	hdr := blob[:passphraseHeaderSize]
	k, err := s.deriveKey(hdr[3:], hdr[2])
	if err != nil {
		return nil, newErr(op, ErrUnseal, detail("key derivation failed"))
	}
	defer k.Zeroize()
	pt, err := k.Decrypt(blob[passphraseHeaderSize:], append(append([]byte{}, hdr...), passphraseAAD...))
	if err != nil {
		return nil, newErr(op, ErrUnseal, detail("wrong passphrase or altered blob"))
	}
	return pt, nil
}

// Zeroize wipes the in-memory passphrase; Seal and Unseal fail afterwards.
func (s *PassphraseSealer) Zeroize() {
	clear(s.passphrase)
	s.passphrase = nil
}

// String describes the sealer without secrets.
func (s *PassphraseSealer) String() string { return "seal.PassphraseSealer" }

// Format implements fmt.Formatter so that no verb prints the passphrase.
func (s *PassphraseSealer) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// ChainSealer seals with Inner first and then Outer, so unsealing needs
// both (e.g. node key AND passphrase).
type ChainSealer struct {
	Outer, Inner Sealer
}

// Chain returns a Sealer that seals with inner and then wraps the result
// with outer. Its name is outer.Name() + "+" + inner.Name().
func Chain(outer, inner Sealer) *ChainSealer { return &ChainSealer{Outer: outer, Inner: inner} }

// Name returns outer.Name() + "+" + inner.Name().
func (c *ChainSealer) Name() string { return c.Outer.Name() + "+" + c.Inner.Name() }

// Seal returns Outer.Seal(Inner.Seal(dk)).
func (c *ChainSealer) Seal(dk []byte) ([]byte, error) {
	mid, err := c.Inner.Seal(dk)
	if err != nil {
		return nil, err
	}
	return c.Outer.Seal(mid)
}

// Unseal returns Inner.Unseal(Outer.Unseal(blob)).
func (c *ChainSealer) Unseal(blob []byte) ([]byte, error) {
	mid, err := c.Outer.Unseal(blob)
	if err != nil {
		return nil, err
	}
	return c.Inner.Unseal(mid)
}
