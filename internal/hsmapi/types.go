// Package hsmapi is the HSM's native API: JSON over HTTP on the server's listener, spoken by
// `coffer hsm` and (later) the PKCS#11 module.
//
// # Protocol
//
// Every command is `POST /hsm/v1/<command>` (e.g. /hsm/v1/key/generate-symmetric) with a JSON
// request body; a session token from `login` goes in `Authorization: Bearer <token>`.
// Responses have cloudhsm-cli's shape: {"error_code": 0, "data": {...}} on success and
// {"error_code": 1, "error_type": "...", "data": "<message>"} with an HTTP error status on
// failure. Binary values (data, signatures, ciphertexts, wrapped keys) are base64 (standard
// encoding) in JSON, as encoding/json encodes []byte.
//
// Keys are chosen with cloudhsm-cli's filters: ["attr.label=my-key", "attr.class=private-key"]
// or ["key-reference=0x0000000000000003"]; a filter must match exactly one key.
package hsmapi

import (
	"github.com/coffer-hsm/coffer/internal/hsm"
)

// PathPrefix is where the native API is mounted.
const PathPrefix = "/hsm/v1/"

// MaxRequestBytes bounds a request body.
const MaxRequestBytes = 1 << 20

// Response is the envelope of every answer.
type Response struct {
	ErrorCode int    `json:"error_code"`
	ErrorType string `json:"error_type,omitempty"`
	Data      any    `json:"data"`
	// Status is the HTTP status of a failure in a streamed answer (whose HTTP status is
	// 200 because progress was already sent).
	Status int `json:"status,omitempty"`
}

// Empty is the request of commands without parameters.
type Empty struct{}

// Message is a data payload that is only a message.
type Message struct {
	Message string `json:"message"`
}

// ClusterInfo is the answer of cluster/info (no login needed).
type ClusterInfo struct {
	NodeID string     `json:"node_id"`
	HSM    hsm.Status `json:"hsm"`
}

// ActivateRequest sets the admin password of an initialized cluster (cluster/activate).
type ActivateRequest struct {
	Password string `json:"password"`
}

// InitializeRequest initializes and activates an uninitialized cluster in one step
// (cluster/initialize; --dev servers only: production clusters are initialized through the
// CloudHSMv2 API with a signed certificate).
type InitializeRequest struct {
	AdminPassword string      `json:"admin_password"`
	Policy        *hsm.Policy `json:"policy,omitempty"`
}

// SetPolicyRequest changes the login policy (cluster/set-policy).
type SetPolicyRequest struct {
	hsm.Policy
}

// LoginResponse is the answer to login.
type LoginResponse struct {
	Username  string            `json:"username"`
	Role      string            `json:"role"`
	Token     string            `json:"token,omitempty"`
	Challenge *hsm.MFAChallenge `json:"challenge,omitempty"`
}

// UserRequest names a user and carries the parameters of user commands.
type UserRequest struct {
	Username  string         `json:"username"`
	Role      string         `json:"role,omitempty"`
	Password  string         `json:"password,omitempty"`
	Strategy  string         `json:"strategy,omitempty"`   // change-mfa: token-sign, totp, or "" to disable
	PublicKey string         `json:"public_key,omitempty"` // change-mfa token-sign / change-quorum: PEM
	Approval  *hsm.TokenFile `json:"approval,omitempty"`
}

// UserList is the answer of user/list.
type UserList struct {
	Users []hsm.UserInfo `json:"users"`
}

// QuorumRequest carries quorum token-sign parameters.
type QuorumRequest struct {
	Service  string         `json:"service,omitempty"`
	KeyRef   string         `json:"key-reference,omitempty"`
	Value    int            `json:"value,omitempty"`
	All      bool           `json:"all,omitempty"`
	Approval *hsm.TokenFile `json:"approval,omitempty"`
}

// TokenList is the answer of quorum/list.
type TokenList struct {
	Tokens []hsm.TokenInfo `json:"tokens"`
}

// GenerateSymmetricRequest is key/generate-symmetric.
type GenerateSymmetricRequest struct {
	KeyType        string   `json:"key_type"`
	KeyLengthBytes int      `json:"key_length_bytes"`
	Label          string   `json:"label,omitempty"`
	ID             string   `json:"id,omitempty"`
	Session        bool     `json:"session,omitempty"`
	Attributes     []string `json:"attributes,omitempty"` // name=value
	ManageQuorum   int      `json:"manage_key_quorum_value,omitempty"`
	UseQuorum      int      `json:"use_key_quorum_value,omitempty"`
}

// GenerateKeyPairRequest is key/generate-asymmetric-pair.
type GenerateKeyPairRequest struct {
	KeyType           string   `json:"key_type"`
	ModulusSizeBits   int      `json:"modulus_size_bits,omitempty"`
	PublicExponent    int      `json:"public_exponent,omitempty"`
	Curve             string   `json:"curve,omitempty"`
	PublicLabel       string   `json:"public_label,omitempty"`
	PrivateLabel      string   `json:"private_label,omitempty"`
	ID                string   `json:"id,omitempty"`
	Session           bool     `json:"session,omitempty"`
	PublicAttributes  []string `json:"public_attributes,omitempty"`
	PrivateAttributes []string `json:"private_attributes,omitempty"`
	ManageQuorum      int      `json:"manage_key_quorum_value,omitempty"`
	UseQuorum         int      `json:"use_key_quorum_value,omitempty"`
}

// ListKeysRequest is key/list.
type ListKeysRequest struct {
	Filter        []string `json:"filter,omitempty"`
	MaxItems      int      `json:"max_items,omitempty"`
	StartingToken string   `json:"starting_token,omitempty"`
	Verbose       bool     `json:"verbose,omitempty"`
}

// KeyRequest selects one key and carries the parameters of key management commands.
type KeyRequest struct {
	Filter   []string       `json:"filter"`
	Name     string         `json:"name,omitempty"`     // set-attribute
	Value    string         `json:"value,omitempty"`    // set-attribute
	Username string         `json:"username,omitempty"` // share, unshare
	Approval *hsm.TokenFile `json:"approval,omitempty"`
}

// ImportPEMRequest is key/import-pem.
type ImportPEMRequest struct {
	PEM        string   `json:"pem"`
	Label      string   `json:"label,omitempty"`
	ID         string   `json:"id,omitempty"`
	Session    bool     `json:"session,omitempty"`
	Attributes []string `json:"attributes,omitempty"`
}

// PublicKeyFile is the answer of key/generate-file: the public key in PEM.
type PublicKeyFile struct {
	KeyReference string `json:"key-reference"`
	PEM          string `json:"pem"`
}

// WrapRequest is key/wrap.
type WrapRequest struct {
	Mechanism      string         `json:"mechanism"`
	WrappingFilter []string       `json:"wrapping_filter"`
	PayloadFilter  []string       `json:"payload_filter"`
	HashFunction   string         `json:"hash_function,omitempty"`
	AAD            []byte         `json:"aad,omitempty"`
	Approval       *hsm.TokenFile `json:"approval,omitempty"`
}

// WrapResponse is the answer of key/wrap.
type WrapResponse struct {
	WrappingKeyReference string `json:"wrapping-key-reference"`
	PayloadKeyReference  string `json:"payload-key-reference"`
	WrappedKeyData       []byte `json:"wrapped_key_data"`
}

// UnwrapRequest is key/unwrap.
type UnwrapRequest struct {
	Mechanism        string         `json:"mechanism"`
	UnwrappingFilter []string       `json:"unwrapping_filter"`
	HashFunction     string         `json:"hash_function,omitempty"`
	AAD              []byte         `json:"aad,omitempty"`
	WrappedKeyData   []byte         `json:"wrapped_key_data"`
	KeyType          string         `json:"key_type"`
	Label            string         `json:"label,omitempty"`
	ID               string         `json:"id,omitempty"`
	Session          bool           `json:"session,omitempty"`
	Attributes       []string       `json:"attributes,omitempty"`
	Approval         *hsm.TokenFile `json:"approval,omitempty"`
}

// DeriveRequest is key/derive-ecdh.
type DeriveRequest struct {
	Filter         []string `json:"filter"`
	PeerPublicKey  string   `json:"peer_public_key"` // PEM
	KeyType        string   `json:"key_type"`
	KeyLengthBytes int      `json:"key_length_bytes"`
	Label          string   `json:"label,omitempty"`
	Session        bool     `json:"session,omitempty"`
	Attributes     []string `json:"attributes,omitempty"`
}

// CryptoRequest carries the parameters of crypto commands.
type CryptoRequest struct {
	Mechanism    string         `json:"mechanism,omitempty"` // sign: ecdsa, rsa-pkcs, rsa-pkcs-pss, ed25519; encrypt: aes-gcm, rsa-oaep
	HashFunction string         `json:"hash_function,omitempty"`
	Filter       []string       `json:"filter"`
	Data         []byte         `json:"data"`
	DataType     string         `json:"data_type,omitempty"` // raw (default) or digest
	Signature    []byte         `json:"signature,omitempty"`
	MAC          []byte         `json:"mac,omitempty"`
	AAD          []byte         `json:"aad,omitempty"`
	Approval     *hsm.TokenFile `json:"approval,omitempty"`
}

// CryptoResponse is the answer of crypto commands.
type CryptoResponse struct {
	KeyReference string `json:"key-reference,omitempty"`
	Signature    []byte `json:"signature,omitempty"`
	Ciphertext   []byte `json:"ciphertext,omitempty"`
	Plaintext    []byte `json:"plaintext,omitempty"`
	MAC          []byte `json:"mac,omitempty"`
	Message      string `json:"message,omitempty"`
}

// RandomRequest is crypto/random.
type RandomRequest struct {
	LengthBytes int `json:"length_bytes"`
}

// RandomResponse is the answer of crypto/random.
type RandomResponse struct {
	Random []byte `json:"random"`
}
