package trail

import (
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/coffer-hsm/coffer/internal/seal"
)

// Digest is a CloudTrail digest file (its JSON field names are CloudTrail's).
type Digest struct {
	AWSAccountID                string    `json:"awsAccountId"`
	DigestStartTime             string    `json:"digestStartTime"`
	DigestEndTime               string    `json:"digestEndTime"`
	DigestS3Bucket              string    `json:"digestS3Bucket"`
	DigestS3Object              string    `json:"digestS3Object"`
	DigestPublicKeyFingerprint  string    `json:"digestPublicKeyFingerprint"`
	DigestSignatureAlgorithm    string    `json:"digestSignatureAlgorithm"`
	NewestEventTime             *string   `json:"newestEventTime"`
	OldestEventTime             *string   `json:"oldestEventTime"`
	PreviousDigestS3Bucket      *string   `json:"previousDigestS3Bucket"`
	PreviousDigestS3Object      *string   `json:"previousDigestS3Object"`
	PreviousDigestHashValue     *string   `json:"previousDigestHashValue"`
	PreviousDigestHashAlgorithm *string   `json:"previousDigestHashAlgorithm"`
	PreviousDigestSignature     *string   `json:"previousDigestSignature"`
	LogFiles                    []LogFile `json:"logFiles"`
}

// LogFile is one entry of a digest's logFiles.
type LogFile struct {
	S3Bucket        string `json:"s3Bucket"`
	S3Object        string `json:"s3Object"`
	HashValue       string `json:"hashValue"` // hex SHA-256 of the uncompressed file
	HashAlgorithm   string `json:"hashAlgorithm"`
	NewestEventTime string `json:"newestEventTime"`
	OldestEventTime string `json:"oldestEventTime"`
}

// SignatureAlgorithm is the only digest signature algorithm.
const SignatureAlgorithm = "SHA256withRSA"

// HashAlgorithm names SHA-256 in digests.
const HashAlgorithm = "SHA-256"

// Signature is what S3 keeps in a digest object's metadata; Coffer writes it to the
// sidecar <digest>.sig.
type Signature struct {
	Signature          string `json:"signature"` // hex
	SignatureAlgorithm string `json:"signature-algorithm"`
}

// SigSuffix is the suffix of a digest's signature sidecar.
const SigSuffix = ".sig"

// StringToSign is CloudTrail's digest signing string: the end time, bucket/object, the
// hex SHA-256 of the uncompressed digest and the previous signature ("null" for the
// first digest of a chain).
func StringToSign(d *Digest, inflated []byte) []byte {
	prev := "null"
	if d.PreviousDigestSignature != nil {
		prev = *d.PreviousDigestSignature
	}
	h := sha256.Sum256(inflated)
	return fmt.Appendf(nil, "%s\n%s/%s\n%s\n%s", d.DigestEndTime, d.DigestS3Bucket, d.DigestS3Object, hex.EncodeToString(h[:]), prev)
}

// ParseDigest decodes an uncompressed digest file and checks the fields validation needs.
func ParseDigest(inflated []byte) (*Digest, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(inflated, &raw); err != nil {
		return nil, err
	}
	for _, k := range []string{"digestPublicKeyFingerprint", "digestS3Bucket", "digestS3Object", "previousDigestSignature", "digestEndTime", "digestStartTime"} {
		if _, ok := raw[k]; !ok {
			return nil, fmt.Errorf("missing %s", k)
		}
	}
	var d Digest
	if err := json.Unmarshal(inflated, &d); err != nil {
		return nil, err
	}
	if _, err := time.Parse(time.RFC3339, d.DigestStartTime); err != nil {
		return nil, fmt.Errorf("digestStartTime: %w", err)
	}
	if _, err := time.Parse(time.RFC3339, d.DigestEndTime); err != nil {
		return nil, fmt.Errorf("digestEndTime: %w", err)
	}
	return &d, nil
}

// Fingerprint is the hex MD5 of a DER PKCS#1 public key (CloudTrail's fingerprint form).
func Fingerprint(der []byte) string {
	h := md5.Sum(der)
	return hex.EncodeToString(h[:])
}

// Verify checks a digest signature (hex) with a DER PKCS#1 public key.
func Verify(pubDER []byte, d *Digest, inflated []byte, sigHex string) error {
	pub, err := x509.ParsePKCS1PublicKey(pubDER)
	if err != nil {
		return fmt.Errorf("unable to load PKCS #1 key: %w", err)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return errors.New("signature is not hex")
	}
	h := sha256.Sum256(StringToSign(d, inflated))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig)
}

// Signer holds the digest signing keys: one RSA-2048 key per region, made on first use
// and kept in dir as <region>.key, encrypted (AES-256-GCM) with a key that is sealed
// like the node's other secrets. The private key is never written in plaintext.
type Signer struct {
	dir  string
	wrap *seal.DomainKey

	mu   sync.Mutex
	keys map[string]*signingKey
}

type signingKey struct {
	priv    *rsa.PrivateKey
	pub     PublicKey
	created time.Time
}

// NewSigner returns a signer keeping its keys in dir, encrypted with wrapKey (32 bytes).
func NewSigner(dir string, wrapKey []byte) (*Signer, error) {
	w, err := seal.FromBytes(wrapKey)
	if err != nil {
		return nil, err
	}
	return &Signer{dir: dir, wrap: w, keys: map[string]*signingKey{}}, nil
}

// Key returns the region's signing key, making it at first use (fresh reports that).
func (s *Signer) Key(region string, now time.Time) (priv *rsa.PrivateKey, pub PublicKey, fresh bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys[region]; k != nil {
		return k.priv, k.pub, false, nil
	}
	if !validRegion(region) {
		return nil, PublicKey{}, false, fmt.Errorf("trail: bad region %q", region)
	}
	path := filepath.Join(s.dir, region+".key")
	priv, created, fresh, err := seal.LoadOrCreateRSAKey(path, s.wrap, []byte("coffer cloudtrail digest key "+region), now)
	if err != nil {
		return nil, PublicKey{}, false, fmt.Errorf("trail: signing key: %w", err)
	}
	der := x509.MarshalPKCS1PublicKey(&priv.PublicKey)
	pub = PublicKey{Region: region, Value: der, Fingerprint: Fingerprint(der), ValidityStart: created}
	s.keys[region] = &signingKey{priv: priv, pub: pub, created: created}
	return priv, pub, fresh, nil
}

// Loaded returns the public keys of the signing keys loaded so far.
func (s *Signer) Loaded() []PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PublicKey
	for _, k := range s.keys {
		out = append(out, k.pub)
	}
	return out
}

// Sign signs a digest: it returns the hex signature.
func Sign(priv *rsa.PrivateKey, d *Digest, inflated []byte) (string, error) {
	h := sha256.Sum256(StringToSign(d, inflated))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, h[:])
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sig), nil
}

func validRegion(r string) bool {
	if r == "" || len(r) > 32 {
		return false
	}
	for _, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
