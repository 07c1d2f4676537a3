package backup

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/seal"
)

// Format constants.
const (
	Magic        = "COFFERBK"
	FormatName   = "coffer-backup"
	Version      = 1
	KeyWrapSplit = "shamir-v1"
	// PayloadEncoding is the only payload encoding of version 1.
	PayloadEncoding = "gzip+aes-256-gcm"

	MaxHeaderSize   = 1 << 20 // 1 MiB
	MaxPayloadSize  = 1 << 30 // 1 GiB (compressed and encrypted)
	MaxSnapshotSize = 4 << 30 // 4 GiB (uncompressed)

	// MinCustodianKeyBits is the minimum RSA modulus size of a custodian key.
	MinCustodianKeyBits = 2048

	macSize   = sha256.Size
	saltSize  = 32
	nonceSize = 12
	gcmTag    = 16
	prefixLen = len(Magic) + 1 + 4

	infoMAC     = "coffer backup mac v1"
	infoPayload = "coffer backup payload v1"
	oaepLabel   = "coffer backup share v1"
)

// Errors. Errors from Read, Open, DecryptShare and ParseShare wrap one of
// these (match with errors.Is), except I/O errors of the reader.
var (
	// ErrFormat: the data is not a Coffer backup archive, is truncated or
	// malformed, or has an unsupported version.
	ErrFormat = errors.New("backup: not a valid coffer backup archive")
	// ErrCorrupt: authentication failed: the backup was altered or is corrupt.
	ErrCorrupt = errors.New("backup: the backup was altered or is corrupt")
	// ErrCustodians: the custodian shares do not recover the backup's domain
	// key (too few, wrong or foreign shares), or a share cannot be decrypted.
	ErrCustodians = errors.New("backup: custodian shares do not unlock this backup")
)

func errf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}

// Header is the archive's JSON header. Fields marked "set by Write" are
// filled in by Write from its input; the others are copied from WriteInput.
type Header struct {
	Format         string       `json:"format"`  // "coffer-backup" (set by Write)
	Version        int          `json:"version"` // 1 (set by Write)
	BackupID       string       `json:"backupId"`
	ClusterID      string       `json:"clusterId"`
	Region         string       `json:"region"`
	Created        time.Time    `json:"created"`
	SourceBackupID string       `json:"sourceBackupId,omitempty"` // for copies
	SourceRegion   string       `json:"sourceRegion,omitempty"`   // for copies
	StateIndex     uint64       `json:"stateIndex"`
	DomainKeyID    string       `json:"domainKeyId"`     // set by Write
	SnapshotSize   int64        `json:"snapshotSize"`    // uncompressed, set by Write
	Payload        string       `json:"payloadEncoding"` // PayloadEncoding, set by Write
	Salt           []byte       `json:"salt"`            // HKDF salt, set by Write
	Custodians     CustodianSet `json:"custodians"`      // set by Write
}

// CustodianSet describes how the domain key is split. Shares is empty for
// offline custodians (the shares were handed out by Write and are not in
// the archive), otherwise it holds Total shares, one per custodian.
type CustodianSet struct {
	Threshold int            `json:"threshold"` // M
	Total     int            `json:"total"`     // N
	KeyWrap   string         `json:"keyWrap"`   // "shamir-v1"
	Shares    []WrappedShare `json:"shares,omitempty"`
}

// Offline reports whether the shares are held offline by the custodians.
func (c CustodianSet) Offline() bool { return len(c.Shares) == 0 }

// WrappedShare is one Shamir share encrypted to a custodian's RSA public key
// with RSA-OAEP-SHA256.
type WrappedShare struct {
	Custodian      string `json:"custodian"`      // custodian name
	Index          int    `json:"index"`          // share x coordinate, 1..N
	KeyFingerprint string `json:"keyFingerprint"` // hex SHA-256 of the public key's PKIX DER
	Ciphertext     []byte `json:"ciphertext"`
}

// CustodianKey is a backup custodian registered in the cluster.
type CustodianKey struct {
	Name         string
	PublicKeyPEM string // "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY" (PKCS #1), RSA >= 2048 bits
}

// Progress is called as bytes are processed, with done <= total; the last
// call has done == total.
type Progress func(done, total int64)

// WriteInput is the input of Write.
type WriteInput struct {
	BackupID       string // see ValidID; NewID makes one
	ClusterID      string
	Region         string
	Created        time.Time // time.Now() if zero; stored in UTC
	SourceBackupID string    // set for copies
	SourceRegion   string    // set for copies
	StateIndex     uint64

	Snapshot  []byte          // state snapshot (state.Store.SnapshotData)
	DomainKey *seal.DomainKey // the cluster's domain key

	// Custodians, if not empty, selects the stored form: one share per
	// custodian, encrypted to its public key. Otherwise Write returns
	// Shares offline shares.
	Custodians []CustodianKey
	// Threshold is M, the number of shares needed to restore. Zero means 1,
	// which is only valid with a single share.
	Threshold int
	// Shares is N for offline custodians (zero means 1). With Custodians it
	// must be zero or len(Custodians).
	Shares int

	Progress Progress // optional, called over the snapshot bytes
}

// WriteResult describes a written archive.
type WriteResult struct {
	Header Header
	Size   int64 // bytes written
}

// OpenOptions are optional parameters of Open and OpenWithKey.
type OpenOptions struct {
	Progress Progress // called over the decompressed snapshot bytes
}

var (
	idRE      = regexp.MustCompile(`^backup-[a-z0-9]{11,64}$`)
	keyIDRE   = regexp.MustCompile(`^[0-9a-f]{16}$`)
	fingerRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	nameLimit = 256
)

// ValidID reports whether id is a valid backup ID: "backup-" followed by 11
// to 64 lowercase letters or digits.
func ValidID(id string) bool { return idRE.MatchString(id) }

// NewID returns a new random backup ID ("backup-" + 11 base32 characters,
// 55 random bits, as CloudHSM's).
func NewID() string { return "backup-" + strings.ToLower(rand.Text()[:11]) }

// Write writes an archive of in.Snapshot to w. With in.Custodians it returns
// no offline shares; without, it returns the N offline shares, each a
// seal.EncodeShare string to give to one custodian (they are as secret as
// the domain key when N == 1). Nothing is written if the input is invalid.
func Write(w io.Writer, in WriteInput) (*WriteResult, []string, error) {
	h, pubs, err := prepareHeader(&in)
	if err != nil {
		return nil, nil, err
	}
	dkb := in.DomainKey.Bytes()
	defer clear(dkb)

	shares, err := seal.Split(dkb, h.Custodians.Total, h.Custodians.Threshold)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: splitting the domain key: %w", err)
	}
	defer func() {
		for _, s := range shares {
			clear(s)
		}
	}()
	var offline []string
	if len(pubs) == 0 {
		for _, s := range shares {
			offline = append(offline, seal.EncodeShare(s, h.DomainKeyID))
		}
	} else {
		for i, s := range shares {
			ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pubs[i].key, s, []byte(oaepLabel))
			if err != nil {
				return nil, nil, fmt.Errorf("backup: encrypting share for custodian %q: %w", in.Custodians[i].Name, err)
			}
			h.Custodians.Shares = append(h.Custodians.Shares, WrappedShare{
				Custodian:      in.Custodians[i].Name,
				Index:          int(s[len(s)-1]),
				KeyFingerprint: pubs[i].fingerprint,
				Ciphertext:     ct,
			})
		}
	}

	compressed, err := compress(in.Snapshot, in.Progress)
	if err != nil {
		return nil, nil, err
	}
	if int64(len(compressed))+nonceSize+gcmTag > MaxPayloadSize {
		return nil, nil, fmt.Errorf("backup: compressed snapshot exceeds %d bytes", MaxPayloadSize)
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: encoding header: %w", err)
	}
	if len(hj) > MaxHeaderSize {
		return nil, nil, fmt.Errorf("backup: header exceeds %d bytes (too many custodians?)", MaxHeaderSize)
	}
	plen := uint64(len(compressed) + nonceSize + gcmTag)
	pre := make([]byte, 0, prefixLen+len(hj)+8)
	pre = append(pre, Magic...)
	pre = append(pre, Version)
	pre = binary.BigEndian.AppendUint32(pre, uint32(len(hj)))
	pre = append(pre, hj...)
	pre = binary.BigEndian.AppendUint64(pre, plen)

	aead, mac, err := deriveKeys(dkb, h.Salt)
	if err != nil {
		return nil, nil, err
	}
	payload := make([]byte, nonceSize, plen)
	rand.Read(payload)
	payload = aead.Seal(payload, payload[:nonceSize], compressed, pre)
	mac.Write(pre)
	mac.Write(payload)
	tag := mac.Sum(nil)

	cw := &countWriter{w: w}
	for _, b := range [][]byte{pre, payload, tag} {
		if _, err := cw.Write(b); err != nil {
			return nil, nil, fmt.Errorf("backup: writing archive: %w", err)
		}
	}
	return &WriteResult{Header: h, Size: cw.n}, offline, nil
}

type parsedKey struct {
	key         *rsa.PublicKey
	fingerprint string
}

func prepareHeader(in *WriteInput) (Header, []parsedKey, error) {
	var h Header
	switch {
	case !ValidID(in.BackupID):
		return h, nil, fmt.Errorf("backup: invalid backup ID %q: want backup- followed by 11 to 64 lowercase letters or digits", clip(in.BackupID))
	case in.DomainKey == nil || in.DomainKey.Zeroized():
		return h, nil, errors.New("backup: a live domain key is required")
	case int64(len(in.Snapshot)) > MaxSnapshotSize:
		return h, nil, fmt.Errorf("backup: snapshot exceeds %d bytes", int64(MaxSnapshotSize))
	case len(in.ClusterID) > nameLimit || len(in.Region) > nameLimit ||
		len(in.SourceBackupID) > nameLimit || len(in.SourceRegion) > nameLimit:
		return h, nil, fmt.Errorf("backup: cluster ID, region or source fields longer than %d bytes", nameLimit)
	}
	n, m := in.Shares, in.Threshold
	var pubs []parsedKey
	if len(in.Custodians) > 0 {
		if n != 0 && n != len(in.Custodians) {
			return h, nil, fmt.Errorf("backup: Shares is %d but %d custodians are given", n, len(in.Custodians))
		}
		n = len(in.Custodians)
		seen := map[string]bool{}
		for _, c := range in.Custodians {
			if c.Name == "" || len(c.Name) > nameLimit {
				return h, nil, errors.New("backup: custodian names must be 1 to 256 bytes")
			}
			if seen[c.Name] {
				return h, nil, fmt.Errorf("backup: custodian %q listed twice", c.Name)
			}
			seen[c.Name] = true
			pk, err := ParseCustodianKey(c.PublicKeyPEM)
			if err != nil {
				return h, nil, fmt.Errorf("backup: custodian %q: %w", c.Name, err)
			}
			pubs = append(pubs, parsedKey{pk, Fingerprint(pk)})
		}
	}
	if n == 0 {
		n = 1
	}
	if m == 0 {
		m = 1
	}
	if err := validThreshold(m, n); err != nil {
		return h, nil, fmt.Errorf("backup: %s", err)
	}
	created := in.Created
	if created.IsZero() {
		created = time.Now()
	}
	salt := make([]byte, saltSize)
	rand.Read(salt)
	h = Header{
		Format:         FormatName,
		Version:        Version,
		BackupID:       in.BackupID,
		ClusterID:      in.ClusterID,
		Region:         in.Region,
		Created:        created.UTC(),
		SourceBackupID: in.SourceBackupID,
		SourceRegion:   in.SourceRegion,
		StateIndex:     in.StateIndex,
		DomainKeyID:    in.DomainKey.ID(),
		SnapshotSize:   int64(len(in.Snapshot)),
		Payload:        PayloadEncoding,
		Salt:           salt,
		Custodians:     CustodianSet{Threshold: m, Total: n, KeyWrap: KeyWrapSplit},
	}
	return h, pubs, nil
}

func validThreshold(m, n int) error {
	if n == 1 && m == 1 {
		return nil
	}
	if m < 2 || m > n || n > 255 {
		return fmt.Errorf("invalid custodian threshold %d of %d: need 1 of 1, or 2 <= M <= N <= 255", m, n)
	}
	return nil
}

// ParseCustodianKey parses a custodian's PEM RSA public key ("PUBLIC KEY"
// or "RSA PUBLIC KEY") of at least MinCustodianKeyBits bits.
func ParseCustodianKey(pemText string) (*rsa.PublicKey, error) {
	b, _ := pem.Decode([]byte(pemText))
	if b == nil {
		return nil, errors.New("public key is not PEM")
	}
	var pk *rsa.PublicKey
	switch b.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing public key: %w", err)
		}
		var ok bool
		if pk, ok = k.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("custodian keys must be RSA, got %T", k)
		}
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing public key: %w", err)
		}
		pk = k
	default:
		return nil, fmt.Errorf("unexpected PEM block %q, want PUBLIC KEY", b.Type)
	}
	if pk.N.BitLen() < MinCustodianKeyBits {
		return nil, fmt.Errorf("RSA key has %d bits, need at least %d", pk.N.BitLen(), MinCustodianKeyBits)
	}
	return pk, nil
}

// Fingerprint returns the hex SHA-256 of pub's PKIX DER encoding.
func Fingerprint(pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// DecryptShare decrypts a stored share with the custodian's private key.
// The result is as secret as the share; clear it when done. Errors wrap
// ErrCustodians.
func DecryptShare(ws WrappedShare, priv *rsa.PrivateKey) ([]byte, error) {
	if priv == nil {
		return nil, errf(ErrCustodians, "no private key")
	}
	if Fingerprint(&priv.PublicKey) != ws.KeyFingerprint {
		return nil, errf(ErrCustodians, "share %d is for custodian %q, whose key does not match this private key", ws.Index, clip(ws.Custodian))
	}
	share, err := rsa.DecryptOAEP(sha256.New(), nil, priv, ws.Ciphertext, []byte(oaepLabel))
	if err != nil {
		return nil, errf(ErrCustodians, "share %d of custodian %q cannot be decrypted (altered or corrupt)", ws.Index, clip(ws.Custodian))
	}
	if len(share) != seal.KeySize+1 || int(share[len(share)-1]) != ws.Index {
		clear(share)
		return nil, errf(ErrCustodians, "share %d of custodian %q is malformed", ws.Index, clip(ws.Custodian))
	}
	return share, nil
}

// ParseShare decodes an offline share (seal.EncodeShare form) and returns
// its bytes and the ID of the domain key it belongs to. Errors wrap
// ErrCustodians and never echo the input.
func ParseShare(encoded string) (share []byte, domainKeyID string, err error) {
	share, id, err := seal.DecodeShare(encoded)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrCustodians, err)
	}
	return share, id, nil
}

// Archive is a parsed, not yet authenticated archive.
type Archive struct {
	// Header is the decoded header. It is NOT authenticated until Open or
	// OpenWithKey succeeds; use it only to show what the archive claims to
	// be and to find the custodians' shares.
	Header  Header
	pre     []byte // everything before the payload
	payload []byte
	tag     []byte
}

// Read reads and parses an archive from r, checking its structure and
// bounds (header <= MaxHeaderSize, payload <= MaxPayloadSize, nothing after
// the MAC). It cannot authenticate the archive; Open does. Errors wrap
// ErrFormat, or are r's I/O errors.
func Read(r io.Reader) (*Archive, error) {
	var fixed [prefixLen]byte
	if err := readFull(r, fixed[:]); err != nil {
		return nil, err
	}
	if string(fixed[:len(Magic)]) != Magic {
		return nil, errf(ErrFormat, "bad magic (not a coffer backup)")
	}
	if v := fixed[len(Magic)]; v != Version {
		return nil, errf(ErrFormat, "unsupported archive version %d (this build reads version %d)", v, Version)
	}
	hlen := binary.BigEndian.Uint32(fixed[len(Magic)+1:])
	if hlen == 0 || hlen > MaxHeaderSize {
		return nil, errf(ErrFormat, "header length %d out of range (1..%d)", hlen, MaxHeaderSize)
	}
	pre := make([]byte, prefixLen+int(hlen)+8)
	copy(pre, fixed[:])
	if err := readFull(r, pre[prefixLen:]); err != nil {
		return nil, err
	}
	hj := pre[prefixLen : prefixLen+int(hlen)]
	plen := binary.BigEndian.Uint64(pre[len(pre)-8:])
	if plen < nonceSize+gcmTag || plen > MaxPayloadSize {
		return nil, errf(ErrFormat, "payload length %d out of range", plen)
	}
	h, err := decodeHeader(hj)
	if err != nil {
		return nil, err
	}
	// Read the payload incrementally so a lying length cannot make us
	// allocate more than the input holds.
	var pb bytes.Buffer
	if n, err := io.CopyN(&pb, r, int64(plen)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errf(ErrFormat, "truncated payload (%d of %d bytes)", n, plen)
		}
		return nil, fmt.Errorf("backup: reading archive: %w", err)
	}
	tag := make([]byte, macSize)
	if err := readFull(r, tag); err != nil {
		return nil, err
	}
	var one [1]byte
	switch n, err := io.ReadFull(r, one[:]); {
	case n > 0:
		return nil, errf(ErrFormat, "unexpected data after the archive")
	case err != nil && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("backup: reading archive: %w", err)
	}
	return &Archive{Header: *h, pre: pre, payload: pb.Bytes(), tag: tag}, nil
}

func readFull(r io.Reader, b []byte) error {
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errf(ErrFormat, "truncated archive")
		}
		return fmt.Errorf("backup: reading archive: %w", err)
	}
	return nil
}

func decodeHeader(hj []byte) (*Header, error) {
	var h Header
	d := json.NewDecoder(bytes.NewReader(hj))
	d.DisallowUnknownFields()
	if err := d.Decode(&h); err != nil {
		return nil, errf(ErrFormat, "header is not valid JSON for version %d", Version)
	}
	if d.More() {
		return nil, errf(ErrFormat, "data after the header JSON")
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errf(ErrFormat, "data after the header JSON")
	}
	c := h.Custodians
	switch {
	case h.Format != FormatName:
		return nil, errf(ErrFormat, "header format is not %q", FormatName)
	case h.Version != Version:
		return nil, errf(ErrFormat, "header version %d does not match archive version %d", h.Version, Version)
	case !ValidID(h.BackupID):
		return nil, errf(ErrFormat, "invalid backup ID in header")
	case !keyIDRE.MatchString(h.DomainKeyID):
		return nil, errf(ErrFormat, "invalid domain key ID in header")
	case h.SnapshotSize < 0 || h.SnapshotSize > MaxSnapshotSize:
		return nil, errf(ErrFormat, "snapshot size %d out of range", h.SnapshotSize)
	case h.Payload != PayloadEncoding:
		return nil, errf(ErrFormat, "unsupported payload encoding %q", clip(h.Payload))
	case len(h.Salt) != saltSize:
		return nil, errf(ErrFormat, "salt must be %d bytes", saltSize)
	case h.Created.IsZero():
		return nil, errf(ErrFormat, "missing creation time")
	case len(h.ClusterID) > nameLimit || len(h.Region) > nameLimit ||
		len(h.SourceBackupID) > nameLimit || len(h.SourceRegion) > nameLimit:
		return nil, errf(ErrFormat, "header field too long")
	case c.KeyWrap != KeyWrapSplit:
		return nil, errf(ErrFormat, "unsupported custodian key wrap %q", clip(c.KeyWrap))
	case len(c.Shares) != 0 && len(c.Shares) != c.Total:
		return nil, errf(ErrFormat, "%d stored shares for %d custodians", len(c.Shares), c.Total)
	}
	if err := validThreshold(c.Threshold, c.Total); err != nil {
		return nil, errf(ErrFormat, "%s", err)
	}
	seen := map[int]bool{}
	for _, s := range c.Shares {
		switch {
		case s.Index < 1 || s.Index > c.Total || seen[s.Index]:
			return nil, errf(ErrFormat, "invalid or duplicate share index")
		case s.Custodian == "" || len(s.Custodian) > nameLimit:
			return nil, errf(ErrFormat, "invalid custodian name")
		case !fingerRE.MatchString(s.KeyFingerprint):
			return nil, errf(ErrFormat, "invalid custodian key fingerprint")
		case len(s.Ciphertext) == 0 || len(s.Ciphertext) > 2048:
			return nil, errf(ErrFormat, "invalid wrapped share size")
		}
		seen[s.Index] = true
	}
	return &h, nil
}

// Open recovers the domain key from at least Threshold custodian shares
// (from DecryptShare or ParseShare), then authenticates, decrypts and
// decompresses the archive like OpenWithKey. It returns the state snapshot
// and the domain key; the caller owns both (Zeroize the key when done).
//
// Errors: ErrCustodians if the shares are too few, inconsistent, or do not
// recover the key whose ID is Header.DomainKeyID; ErrCorrupt if the archive
// was altered.
func (a *Archive) Open(shares [][]byte, opts ...OpenOptions) (snapshot []byte, dk *seal.DomainKey, err error) {
	c := a.Header.Custodians
	if len(shares) < c.Threshold {
		return nil, nil, errf(ErrCustodians, "this backup needs %d of its %d custodian shares, got %d", c.Threshold, c.Total, len(shares))
	}
	secret, err := seal.Combine(shares)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCustodians, err)
	}
	defer clear(secret)
	dk, err = seal.FromBytes(secret)
	if err != nil || dk.ID() != a.Header.DomainKeyID {
		if dk != nil {
			dk.Zeroize()
		}
		return nil, nil, errf(ErrCustodians,
			"the shares do not recover this backup's domain key %s: they are wrong, belong to another backup's key, or fewer than %d are distinct valid shares",
			a.Header.DomainKeyID, c.Threshold)
	}
	snapshot, err = a.OpenWithKey(dk, opts...)
	if err != nil {
		dk.Zeroize()
		return nil, nil, err
	}
	return snapshot, dk, nil
}

// OpenWithKey authenticates the archive with the domain key (HMAC-SHA256,
// constant-time compare), decrypts and decompresses the payload, and returns
// the snapshot. It serves clusters that hold the domain key (verifying or
// copying their own backups). Errors wrap ErrCustodians (another domain key)
// or ErrCorrupt.
func (a *Archive) OpenWithKey(dk *seal.DomainKey, opts ...OpenOptions) ([]byte, error) {
	var opt OpenOptions
	if len(opts) > 0 {
		opt = opts[0]
	}
	if dk == nil || dk.Zeroized() || dk.ID() != a.Header.DomainKeyID {
		return nil, errf(ErrCustodians, "the domain key is not this backup's key %s", a.Header.DomainKeyID)
	}
	dkb := dk.Bytes()
	defer clear(dkb)
	aead, mac, err := deriveKeys(dkb, a.Header.Salt)
	if err != nil {
		return nil, err
	}
	mac.Write(a.pre)
	mac.Write(a.payload)
	if !hmac.Equal(mac.Sum(nil), a.tag) {
		return nil, ErrCorrupt
	}
	compressed, err := aead.Open(nil, a.payload[:nonceSize], a.payload[nonceSize:], a.pre)
	if err != nil {
		return nil, ErrCorrupt
	}
	return decompress(compressed, a.Header.SnapshotSize, opt.Progress)
}

func deriveKeys(dkb, salt []byte) (cipher.AEAD, hash.Hash, error) {
	ek, err := hkdf.Key(sha256.New, dkb, salt, infoPayload, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: deriving keys: %w", err)
	}
	defer clear(ek)
	mk, err := hkdf.Key(sha256.New, dkb, salt, infoMAC, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: deriving keys: %w", err)
	}
	defer clear(mk)
	block, err := aes.NewCipher(ek)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: deriving keys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: deriving keys: %w", err)
	}
	return aead, hmac.New(sha256.New, mk), nil
}

const chunk = 1 << 20

func compress(src []byte, progress Progress) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	total := int64(len(src))
	for done := 0; ; {
		n := min(chunk, len(src)-done)
		if _, err := zw.Write(src[done : done+n]); err != nil {
			return nil, fmt.Errorf("backup: compressing: %w", err)
		}
		done += n
		if progress != nil {
			progress(int64(done), total)
		}
		if done == len(src) {
			break
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("backup: compressing: %w", err)
	}
	return buf.Bytes(), nil
}

// decompress inflates an authenticated payload, refusing anything but
// exactly size bytes.
func decompress(src []byte, size int64, progress Progress) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, ErrCorrupt
	}
	zr.Multistream(false)
	out := bytes.NewBuffer(make([]byte, 0, min(size, MaxPayloadSize)))
	var done int64
	for {
		n, err := io.CopyN(out, zr, min(chunk, size+1-done))
		done += n
		if done > size {
			return nil, errf(ErrCorrupt, "snapshot larger than recorded")
		}
		if progress != nil && n > 0 {
			progress(done, size)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, ErrCorrupt
		}
	}
	if done != size {
		return nil, errf(ErrCorrupt, "snapshot size %d, recorded %d", done, size)
	}
	if progress != nil && size == 0 {
		progress(0, 0)
	}
	return out.Bytes(), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// clip shortens untrusted strings before they go into error messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
