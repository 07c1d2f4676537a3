package kms

import (
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// Key states, specs, usages and origins: AWS KMS's names, persisted as these strings.
const (
	StateCreating               = "Creating"
	StateEnabled                = "Enabled"
	StateDisabled               = "Disabled"
	StatePendingDeletion        = "PendingDeletion"
	StatePendingImport          = "PendingImport"
	StatePendingReplicaDeletion = "PendingReplicaDeletion"
	StateUnavailable            = "Unavailable"
	StateUpdating               = "Updating"

	SpecSymmetric = "SYMMETRIC_DEFAULT"
	SpecRSA2048   = "RSA_2048"
	SpecRSA3072   = "RSA_3072"
	SpecRSA4096   = "RSA_4096"
	SpecP256      = "ECC_NIST_P256"
	SpecP384      = "ECC_NIST_P384"
	SpecP521      = "ECC_NIST_P521"
	SpecSecp256k1 = "ECC_SECG_P256K1"
	SpecEd25519   = "ECC_NIST_EDWARDS25519"
	SpecHMAC224   = "HMAC_224"
	SpecHMAC256   = "HMAC_256"
	SpecHMAC384   = "HMAC_384"
	SpecHMAC512   = "HMAC_512"

	UsageEncrypt      = "ENCRYPT_DECRYPT"
	UsageSign         = "SIGN_VERIFY"
	UsageMAC          = "GENERATE_VERIFY_MAC"
	UsageKeyAgreement = "KEY_AGREEMENT"

	OriginKMS        = "AWS_KMS"
	OriginExternal   = "EXTERNAL"
	OriginCloudHSM   = "AWS_CLOUDHSM"
	OriginExternalKS = "EXTERNAL_KEY_STORE"
)

// Tag is a resource tag.
type Tag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// keyRec is one KMS key in one region. Multi-Region keys have one keyRec per region with
// the same ID; they share the material record.
type keyRec struct {
	ID               string    `json:"id"`
	Region           string    `json:"region"`
	Account          string    `json:"account"`
	Revision         uint64    `json:"revision"`
	Description      string    `json:"description"`
	Spec             string    `json:"spec"`
	Usage            string    `json:"usage"`
	Origin           string    `json:"origin"`
	State            string    `json:"state"`
	Created          time.Time `json:"created"`
	DeletionDate     time.Time `json:"deletion_date,omitzero"`
	PendingWindow    int       `json:"pending_window,omitempty"`
	ExpirationModel  string    `json:"expiration_model,omitempty"`
	ValidTo          time.Time `json:"valid_to,omitzero"`
	Policy           string    `json:"policy"`
	Tags             []Tag     `json:"tags,omitempty"`
	MultiRegion      bool      `json:"multi_region,omitempty"`
	CustomKeyStoreID string    `json:"custom_key_store_id,omitempty"`
	Rotation         rotation  `json:"rotation"`
}

type rotation struct {
	Enabled    bool      `json:"enabled"`
	PeriodDays int       `json:"period_days,omitempty"`
	Next       time.Time `json:"next,omitzero"`
}

// material is the key material of a key ID: its versions, each a set of HSM key objects
// owned by the KMS service user. Rotation appends a version; old versions stay for Decrypt.
type material struct {
	ID        string        `json:"id"`
	Revision  uint64        `json:"revision"`
	Versions  []version     `json:"versions"`
	Current   int           `json:"current"` // index into Versions
	Rotations []rotationRec `json:"rotations,omitempty"`
	// PrimaryRegion is the primary region of a Multi-Region key; Replicas the others.
	PrimaryRegion string   `json:"primary_region,omitempty"`
	Replicas      []string `json:"replicas,omitempty"`
}

// version is one generation of key material. Handles are HSM key references: [secret] for
// symmetric and HMAC keys, [public, private] for asymmetric keys. Deleted versions (imported
// material that expired or was deleted) keep their place with no handles. Domain is the
// HSM domain key id the objects were made under (domain.go); "" in records of older
// snapshots, which are used unchecked.
//
// Imported material (EXTERNAL symmetric keys) also records, per material, the settings of
// its last import: Description, ExpirationModel and ValidTo, and Pending while it waits
// for RotateKeyOnDemand (PENDING_ROTATION: always the last version, never current, and no
// ciphertext refers to it). Records of older snapshots have no per-version expiration:
// the key's ExpirationModel and ValidTo are then the current version's (versionExpiry).
type version struct {
	ID              string    `json:"id"` // KeyMaterialId: 64 hex characters
	Handles         []uint64  `json:"handles"`
	Created         time.Time `json:"created"`
	Imported        bool      `json:"imported,omitempty"`
	Domain          string    `json:"domain_key_id,omitempty"`
	Description     string    `json:"description,omitempty"`
	Pending         bool      `json:"pending_rotation,omitempty"`
	ExpirationModel string    `json:"expiration_model,omitempty"`
	ValidTo         time.Time `json:"valid_to,omitzero"`
}

type rotationRec struct {
	Date       time.Time `json:"date"`
	Type       string    `json:"type"` // AUTOMATIC or ON_DEMAND
	MaterialID string    `json:"material_id"`
}

// persisted is the kms part's snapshot.
type persisted struct {
	Format    string                `json:"format"`
	Version   int                   `json:"version"`
	Keys      map[string]*keyRec    `json:"keys"`             // region/id
	Materials map[string]*material  `json:"materials"`        // id
	Aliases   map[string]*aliasRec  `json:"aliases"`          // region/alias/name
	Grants    map[string]*grantRec  `json:"grants"`           // grant id
	Imports   map[string]*importRec `json:"imports"`          // import token id
	Stores    map[string]*storeRec  `json:"stores,omitempty"` // custom key store id
}

const (
	snapshotFormat  = "coffer-kms-state"
	snapshotVersion = 1
)

type aliasRec struct {
	Name     string    `json:"name"` // alias/...
	Region   string    `json:"region"`
	KeyID    string    `json:"key_id"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Revision uint64    `json:"revision"`
}

// GrantConstraints are a grant's encryption context constraints.
type GrantConstraints struct {
	EncryptionContextSubset map[string]string `json:"EncryptionContextSubset,omitempty"`
	EncryptionContextEquals map[string]string `json:"EncryptionContextEquals,omitempty"`
}

type grantRec struct {
	ID                string            `json:"id"`
	Token             string            `json:"token"`
	KeyID             string            `json:"key_id"`
	Region            string            `json:"region"`
	Name              string            `json:"name,omitempty"`
	GranteePrincipal  string            `json:"grantee"`
	RetiringPrincipal string            `json:"retiring,omitempty"`
	IssuingAccount    string            `json:"issuing_account"`
	Operations        []string          `json:"operations"`
	Constraints       *GrantConstraints `json:"constraints,omitempty"`
	Created           time.Time         `json:"created"`
}

type importRec struct {
	Token   string    `json:"token"`
	KeyID   string    `json:"key_id"`
	Region  string    `json:"region"`
	Handles []uint64  `json:"handles"` // the RSA wrapping key pair: [public, private]
	Spec    string    `json:"spec"`
	Expires time.Time `json:"expires"`
	Domain  string    `json:"domain_key_id,omitempty"` // HSM domain key of Handles (domain.go)
}

// Custom key store connection states and connection error codes: AWS KMS's names,
// persisted as these strings. DISCONNECTING is never stored: Disconnect completes at once.
const (
	ConnConnected     = "CONNECTED"
	ConnConnecting    = "CONNECTING"
	ConnFailed        = "FAILED"
	ConnDisconnected  = "DISCONNECTED"
	ConnDisconnecting = "DISCONNECTING"

	ErrCodeClusterNotFound  = "CLUSTER_NOT_FOUND"
	ErrCodeInsufficientHSMs = "INSUFFICIENT_CLOUDHSM_HSMS"
	ErrCodeInvalidCreds     = "INVALID_CREDENTIALS"
	ErrCodeUserLockedOut    = "USER_LOCKED_OUT"
	ErrCodeUserNotFound     = "USER_NOT_FOUND"
	ErrCodeInternal         = "INTERNAL_ERROR"

	StoreTypeCloudHSM = "AWS_CLOUDHSM"
	StoreTypeExternal = "EXTERNAL_KEY_STORE"
)

// storeRec is an AWS CloudHSM key store. The kmsuser password is never stored in
// plaintext: Password (and PendingPassword while a rotation is under way) are AES-GCM
// ciphertexts made inside the HSM with SealKey, an AES key owned by the svc-kms service
// user, with the store id in the additional data.
type storeRec struct {
	ID          string    `json:"id"`
	Region      string    `json:"region"`
	Account     string    `json:"account"`
	Revision    uint64    `json:"revision"`
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	ClusterID   string    `json:"cluster_id"`
	Lineage     string    `json:"lineage,omitempty"`
	TrustAnchor string    `json:"trust_anchor"`
	Created     time.Time `json:"created"`
	State       string    `json:"state"`
	ErrorCode   string    `json:"error_code,omitempty"`
	// Attempt identifies the connection attempt under way (CONNECTING), AttemptStarted
	// when it began: the scheduler takes over attempts that no goroutine finishes.
	Attempt        string    `json:"attempt,omitempty"`
	AttemptStarted time.Time `json:"attempt_started,omitzero"`
	SealKey        uint64    `json:"seal_key"`
	SealKeyDomain  string    `json:"seal_key_domain_key_id,omitempty"` // HSM domain key of SealKey (domain.go)
	Password       []byte    `json:"password"`
	// PendingPassword is the new kmsuser password of a rotation that may or may not have
	// reached the HSM yet; logins fall back to it.
	PendingPassword []byte `json:"pending_password,omitempty"`
}

func (r *storeRec) clone() *storeRec {
	c := *r
	c.Password = append([]byte(nil), r.Password...)
	c.PendingPassword = append([]byte(nil), r.PendingPassword...)
	if len(r.PendingPassword) == 0 {
		c.PendingPassword = nil
	}
	return &c
}

func keyIndex(region, id string) string { return region + "/" + id }

func (k *keyRec) clone() *keyRec {
	c := *k
	c.Tags = append([]Tag(nil), k.Tags...)
	return &c
}

func (m *material) clone() *material {
	c := *m
	c.Versions = append([]version(nil), m.Versions...)
	c.Rotations = append([]rotationRec(nil), m.Rotations...)
	c.Replicas = append([]string(nil), m.Replicas...)
	return &c
}

// Epoch is a timestamp on the wire (seconds since the epoch as a number).
type Epoch = awsproto.Epoch

func epochPtr(t time.Time) *Epoch { return awsproto.EpochPtr(t) }
