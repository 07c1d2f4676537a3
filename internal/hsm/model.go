package hsm

import (
	"time"
)

// Cluster states of the HSM core. They are persisted as these strings.
const (
	StateUninitialized = "UNINITIALIZED" // no domain key
	StateInitialized   = "INITIALIZED"   // domain key exists; the admin has no password yet
	StateActive        = "ACTIVE"        // the admin password is set; users can log in
)

// Roles, persisted as these strings (cloudhsm-cli's names).
const (
	RoleAdmin     = "admin"
	RoleCrypto    = "crypto-user"
	RoleAppliance = "appliance"
)

// Login failure policies.
const (
	PolicyLockout = "lockout"
	PolicyZeroize = "zeroize"
)

// Quorum services.
const (
	ServiceUser          = "user"
	ServiceQuorum        = "quorum"
	ServiceKeyManagement = "key-management"
	ServiceKeyUsage      = "key-usage"
)

// Limits, as CloudHSM documents them.
const (
	MaxUsers          = 1024
	MaxUsernameLength = 31
	MinPasswordLength = 7
	MaxPasswordLength = 32
	MaxQuorumValue    = 8
)

// Policy is the cluster's login policy.
type Policy struct {
	// LoginFailurePolicy is "lockout" (CloudHSM's behaviour) or "zeroize" (FIPS-style HSMs).
	LoginFailurePolicy string `json:"login_failure_policy"`
	// LockoutThreshold: consecutive failed logins after which a user is locked (lockout policy).
	LockoutThreshold int `json:"lockout_threshold"`
	// ZeroizeThreshold: consecutive failed logins of one admin after which the cluster
	// zeroizes (zeroize policy). Crypto users are locked out after LockoutThreshold.
	ZeroizeThreshold int `json:"zeroize_threshold"`
}

// DefaultPolicy is CloudHSM's: lock a user after 5 consecutive failures.
func DefaultPolicy() Policy {
	return Policy{LoginFailurePolicy: PolicyLockout, LockoutThreshold: 5, ZeroizeThreshold: 3}
}

func (p Policy) validate() error {
	switch p.LoginFailurePolicy {
	case PolicyLockout, PolicyZeroize:
	default:
		return invalid("login_failure_policy", "must be %q or %q, got %q", PolicyLockout, PolicyZeroize, p.LoginFailurePolicy)
	}
	if p.LockoutThreshold < 1 || p.LockoutThreshold > 100 {
		return invalid("lockout_threshold", "must be between 1 and 100, got %d", p.LockoutThreshold)
	}
	if p.ZeroizeThreshold < 1 || p.ZeroizeThreshold > 100 {
		return invalid("zeroize_threshold", "must be between 1 and 100, got %d", p.ZeroizeThreshold)
	}
	return nil
}

// cluster is the replicated cluster-wide record.
type cluster struct {
	State       string    `json:"state"`
	DomainKeyID string    `json:"domain_key_id,omitempty"`
	Policy      Policy    `json:"policy"`
	UserQuorum  int       `json:"user_quorum"` // M for the "user" service; 0 or 1 = no quorum
	NextHandle  uint64    `json:"next_handle"`
	Initialized time.Time `json:"initialized,omitempty"`
}

// user is a persisted HSM user. PasswordHash is an argon2id PHC string; the TOTP secret
// is sealed under the domain key.
type user struct {
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	PasswordHash string    `json:"password_hash,omitempty"` // empty: not activated
	FailedLogins int       `json:"failed_logins"`
	Locked       bool      `json:"locked"`
	MFA          *mfa      `json:"mfa,omitempty"`
	QuorumKey    string    `json:"quorum_key,omitempty"` // PEM public key for token-sign quorum approvals
	Created      time.Time `json:"created"`
}

type mfa struct {
	Strategy   string `json:"strategy"`             // "token-sign" or "totp"
	PublicKey  string `json:"public_key,omitempty"` // PEM, token-sign
	SealedTOTP []byte `json:"sealed_totp,omitempty"`
}

// keyObject is a persisted key object. For secret and private keys Material is the key
// (raw bytes for secret keys, PKCS#8 for private keys) sealed under the domain key with the
// object's identity as AAD (see materialAAD). Public is the SubjectPublicKeyInfo of public
// and private keys: not secret.
type keyObject struct {
	Handle       uint64     `json:"handle"`
	UID          string     `json:"uid"` // random, assigned before proposal; bound into the material's AAD
	Owner        string     `json:"owner"`
	Shared       []string   `json:"shared,omitempty"`
	Attrs        Attributes `json:"attributes"`
	Material     []byte     `json:"material,omitempty"`
	Public       []byte     `json:"public,omitempty"`
	ManageQuorum int        `json:"manage_quorum,omitempty"`
	UseQuorum    int        `json:"use_quorum,omitempty"`
	Created      time.Time  `json:"created"`
}

// quorumToken is a pending quorum request: approvers sign Payload with their registered
// quorum keys; an operation that presents enough signatures consumes the token.
type quorumToken struct {
	ID      string    `json:"id"`
	Service string    `json:"service"`
	Key     uint64    `json:"key,omitempty"` // key reference for key services
	Creator string    `json:"creator"`
	Nonce   string    `json:"nonce"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// persisted is the hsm part's snapshot format. It is versioned and self-describing.
type persisted struct {
	Format  string                  `json:"format"`
	Version int                     `json:"version"`
	Cluster cluster                 `json:"cluster"`
	Users   map[string]*user        `json:"users"`
	Keys    map[uint64]*keyObject   `json:"keys"`
	Tokens  map[string]*quorumToken `json:"tokens"`
}

const (
	snapshotFormat  = "coffer-hsm-state"
	snapshotVersion = 1
)

func (o *keyObject) clone() *keyObject {
	c := *o
	c.Shared = append([]string(nil), o.Shared...)
	return &c
}

func (o *keyObject) accessibleBy(username string) bool {
	if o.Owner == username {
		return true
	}
	for _, s := range o.Shared {
		if s == username {
			return true
		}
	}
	return false
}
