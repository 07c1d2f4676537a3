// Package hsm is Coffer's cryptographic boundary: HSM users and roles, sessions, the login
// policy (lockout or zeroize), MFA, quorum (M of N) approvals, key objects with PKCS#11-style
// attributes, the mechanisms that use them, and zeroization.
//
// # The boundary
//
// Plaintext key material exists only inside this package and internal/crypto. Key objects
// are persisted in the replicated state with their secret material sealed under the
// cluster's domain key (internal/seal), with the object's unique ID and immutable attributes
// as additional data, so a sealed blob cannot be moved to another object. Decrypted keys are
// cached in memory for speed and zeroed on delete, logout (session keys) and zeroization.
// Nothing this package returns, logs or emits contains key material, passwords or tokens,
// except the outputs that are the point of an operation (a wrapped key, a ciphertext, a
// signature, random bytes, an ECDH shared secret for KMS's DeriveSharedSecret).
//
// # State and determinism
//
// Every mutation is a typed, versioned command proposed through a Proposer (internal/state
// on hashicorp/raft) and applied by (*HSM).Apply on every node in log order. Randomness
// (key generation, salts, nonces) and password hashing happen on the proposing node before
// the command is proposed; Apply is deterministic and uses the command's timestamp.
//
// # Roles
//
// Admins manage users, the login policy and quorum values, and may mark keys trusted.
// Crypto users create, manage and use keys: the creator owns a key and may share it with
// other crypto users; only the owner wraps, shares, deletes or changes it. Appliance users
// neither manage users nor use keys.
//
// # Failed logins
//
// Each user has a replicated consecutive-failure counter. Under the "lockout" policy (the
// default, CloudHSM's) a user is locked after LockoutThreshold failures until an admin sets
// a new password. Under the "zeroize" policy (FIPS-style HSMs) an admin's
// ZeroizeThreshold-th consecutive failure zeroizes the cluster: the domain key is erased on
// every node and every key object with it. Every failure, lockout and zeroization is
// reported to the EventSink.
package hsm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-hsm/coffer/internal/seal"
	"github.com/coffer-hsm/coffer/internal/state"
)

// Proposer commits a command to the replicated state and returns the applied result.
// *state.Store implements it.
type Proposer interface {
	Propose(ctx context.Context, typ string, version int, body any) (any, error)
}

// Config configures an HSM.
type Config struct {
	// DomainKeyPath is the sealed domain key file of this node.
	DomainKeyPath string
	// Sealer seals the domain key at rest on this node.
	Sealer seal.Sealer
	// Events receives audit events; nil discards them.
	Events EventSink
	// SessionTTL is how long a session lives after its last use (default 1 h).
	SessionTTL time.Duration
	// OnZeroize is called (in its own goroutine) after a zeroize command was applied, with
	// the domain key already erased. The server wires it to the state store's Wipe, which
	// scrubs the replicated log and snapshots from disk.
	OnZeroize func()
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// Rand is the randomness source (default crypto/rand.Reader).
	Rand io.Reader
	// Logger logs operational messages, never secrets. Nil discards.
	Logger *slog.Logger
}

// HSM is one node's view of the cluster's HSM. It implements state.Part ("hsm").
type HSM struct {
	cfg      Config
	proposer Proposer
	events   EventSink

	mu      sync.RWMutex // guards the replicated model below
	cluster cluster
	users   map[string]*user
	keys    map[uint64]*keyObject
	tokens  map[string]*quorumToken

	dkMu sync.RWMutex
	dk   *seal.DomainKey

	live sync.Map // object UID -> *liveKey: decrypted keys, inside the boundary

	sessMu   sync.Mutex
	sessions map[[32]byte]*Session
	services []*Session // internal service sessions, ended at zeroization
	pending  map[string]*pendingLogin
	totpUsed map[string]usedCode // node-local replay guard for TOTP codes
	nextSess atomic.Uint64

	selfTestErr  error
	zeroizations atomic.Int32 // node-local: zeroizations since this process started
}

var _ state.Part = (*HSM)(nil)

// New returns an HSM with empty state. Attach a Proposer before use.
func New(cfg Config) *HSM {
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &HSM{cfg: cfg, events: cfg.Events, sessions: map[[32]byte]*Session{}, pending: map[string]*pendingLogin{}, totpUsed: map[string]usedCode{}}
	if h.events == nil {
		h.events = EventSinkFunc(func(Event) {})
	}
	h.reset()
	return h
}

// Attach sets the proposer through which mutations are committed.
func (h *HSM) Attach(p Proposer) { h.proposer = p }

// SetSelfTestResult records the outcome of the power-on self-tests. A node whose self-tests
// failed refuses every operation with an error wrapping ErrSelfTest that says why.
func (h *HSM) SetSelfTestResult(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.selfTestErr = err
}

func (h *HSM) serviceErr() error {
	if h.selfTestErr != nil {
		return fmt.Errorf("%w: %v", ErrSelfTest, h.selfTestErr)
	}
	return nil
}

func (h *HSM) reset() {
	h.cluster = cluster{State: StateUninitialized, Policy: DefaultPolicy(), NextHandle: 1}
	h.users = map[string]*user{}
	h.keys = map[uint64]*keyObject{}
	h.tokens = map[string]*quorumToken{}
}

// Name implements state.Part.
func (h *HSM) Name() string { return "hsm" }

// Snapshot implements state.Part.
func (h *HSM) Snapshot() ([]byte, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return json.Marshal(persisted{
		Format: snapshotFormat, Version: snapshotVersion,
		Cluster: h.cluster, Users: h.users, Keys: h.keys, Tokens: h.tokens,
	})
}

// Restore implements state.Part.
func (h *HSM) Restore(data []byte) error {
	var p persisted
	if data != nil {
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("hsm: restore: %w", err)
		}
		if p.Format != snapshotFormat || p.Version != snapshotVersion {
			return fmt.Errorf("hsm: restore: unsupported snapshot %q version %d", p.Format, p.Version)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLiveKeys()
	h.reset()
	if data == nil {
		return nil
	}
	h.cluster = p.Cluster
	if p.Users != nil {
		h.users = p.Users
	}
	if p.Keys != nil {
		h.keys = p.Keys
	}
	if p.Tokens != nil {
		h.tokens = p.Tokens
	}
	return nil
}

// Status is a summary of the HSM for health checks and `cluster info`.
type Status struct {
	State          string `json:"state"`
	DomainKeyID    string `json:"domain_key_id,omitempty"`
	Unsealed       bool   `json:"unsealed"`
	Users          int    `json:"users"`
	Keys           int    `json:"token_keys"`
	LoginPolicy    Policy `json:"login_policy"`
	UserQuorum     int    `json:"user_quorum_value"`
	SelfTest       string `json:"self_test"`
	ActiveSessions int    `json:"active_sessions"`
	Zeroizations   int    `json:"zeroizations,omitempty"`
}

// Status returns the HSM's status.
func (h *HSM) Status() Status {
	h.mu.RLock()
	st := Status{
		State: h.cluster.State, DomainKeyID: h.cluster.DomainKeyID, Users: len(h.users),
		Keys: len(h.keys), LoginPolicy: h.cluster.Policy, UserQuorum: h.cluster.UserQuorum,
		SelfTest: "passed", Zeroizations: int(h.zeroizations.Load()),
	}
	if h.selfTestErr != nil {
		st.SelfTest = "failed: " + h.selfTestErr.Error()
	}
	h.mu.RUnlock()
	h.dkMu.RLock()
	st.Unsealed = h.dk != nil
	h.dkMu.RUnlock()
	h.sessMu.Lock()
	st.ActiveSessions = len(h.sessions)
	h.sessMu.Unlock()
	return st
}

// Unseal loads this node's domain key when the replicated state says the cluster is
// initialized. It is a no-op when already unsealed or not initialized.
func (h *HSM) Unseal() error {
	h.mu.RLock()
	st, id := h.cluster.State, h.cluster.DomainKeyID
	h.mu.RUnlock()
	if st == StateUninitialized {
		return nil
	}
	h.dkMu.Lock()
	defer h.dkMu.Unlock()
	if h.dk != nil {
		return nil
	}
	dk, err := seal.Load(h.cfg.DomainKeyPath, h.cfg.Sealer)
	if err != nil {
		return fmt.Errorf("hsm: unseal domain key: %w", err)
	}
	if dk.ID() != id {
		dk.Zeroize()
		return fmt.Errorf("hsm: unseal: the domain key file holds key %s but the cluster uses %s", dk.ID(), id)
	}
	h.dk = dk
	return nil
}

func (h *HSM) domainKey() (*seal.DomainKey, error) {
	h.dkMu.RLock()
	dk := h.dk
	h.dkMu.RUnlock()
	if dk == nil {
		h.mu.RLock()
		st := h.cluster.State
		h.mu.RUnlock()
		if st == StateUninitialized {
			return nil, ErrNotInitialized
		}
		return nil, errors.New("hsm: the domain key is sealed on this node")
	}
	return dk, nil
}

// ---- command plumbing ----

// Command types. They are persisted in the replicated log: never rename one; add a new
// version instead.
const (
	cmdInitialize    = "hsm.cluster.initialize"
	cmdActivate      = "hsm.cluster.activate"
	cmdSetPolicy     = "hsm.cluster.set_policy"
	cmdZeroize       = "hsm.cluster.zeroize"
	cmdUserCreate    = "hsm.user.create"
	cmdUserDelete    = "hsm.user.delete"
	cmdUserPassword  = "hsm.user.set_password"
	cmdUserMFA       = "hsm.user.set_mfa"
	cmdUserQuorumKey = "hsm.user.set_quorum_key"
	cmdLoginFailed   = "hsm.login.failed"
	cmdLoginOK       = "hsm.login.succeeded"
	cmdKeyCreate     = "hsm.key.create"
	cmdKeyDelete     = "hsm.key.delete"
	cmdKeyAttrs      = "hsm.key.set_attributes"
	cmdKeyShare      = "hsm.key.share"
	cmdTokenCreate   = "hsm.quorum.token_create"
	cmdTokenDelete   = "hsm.quorum.token_delete"
	cmdQuorumValue   = "hsm.quorum.set_value"
	cmdServiceUser   = "hsm.user.create_service"
)

type applyFunc func(h *HSM, t time.Time, body json.RawMessage) (any, error)

// applyTable is the explicit dispatch table of the hsm part's commands (version 1 each).
var applyTable = map[string]applyFunc{
	cmdInitialize:    applyInitialize,
	cmdActivate:      applyActivate,
	cmdSetPolicy:     applySetPolicy,
	cmdZeroize:       applyZeroize,
	cmdUserCreate:    applyUserCreate,
	cmdUserDelete:    applyUserDelete,
	cmdUserPassword:  applyUserPassword,
	cmdUserMFA:       applyUserMFA,
	cmdUserQuorumKey: applyUserQuorumKey,
	cmdLoginFailed:   applyLoginFailed,
	cmdLoginOK:       applyLoginOK,
	cmdKeyCreate:     applyKeyCreate,
	cmdKeyDelete:     applyKeyDelete,
	cmdKeyAttrs:      applyKeyAttrs,
	cmdKeyShare:      applyKeyShare,
	cmdTokenCreate:   applyTokenCreate,
	cmdTokenDelete:   applyTokenDelete,
	cmdQuorumValue:   applyQuorumValue,
	cmdServiceUser:   applyServiceUser,
	cmdRestore:       applyRestore,
}

// Apply implements state.Part.
func (h *HSM) Apply(index uint64, cmd state.Command) (any, error) {
	fn, ok := applyTable[cmd.Type]
	if !ok || cmd.Version != 1 {
		return nil, fmt.Errorf("hsm: unknown command %s v%d", cmd.Type, cmd.Version)
	}
	return fn(h, cmd.Time, cmd.Body)
}

func (h *HSM) propose(ctx context.Context, typ string, body any) (any, error) {
	if h.proposer == nil {
		return nil, errors.New("hsm: no state store attached")
	}
	return h.proposer.Propose(ctx, typ, 1, body)
}

func decode[T any](body json.RawMessage) (T, error) {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("hsm: decode command: %w", err)
	}
	return v, nil
}

// consumeToken removes a quorum token as part of the operation that used it. Called under h.mu.
func (h *HSM) consumeToken(id string, service string, t time.Time) error {
	if id == "" {
		return nil
	}
	tok, ok := h.tokens[id]
	if !ok {
		return &QuorumError{Service: service, Reason: "the quorum token was already used or deleted"}
	}
	if !t.Before(tok.Expires) {
		delete(h.tokens, id)
		return &QuorumError{Service: service, Reason: "the quorum token expired"}
	}
	delete(h.tokens, id)
	return nil
}

func (h *HSM) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = h.cfg.Now().UTC()
	}
	h.events.HSMEvent(e)
}

func (h *HSM) now() time.Time { return h.cfg.Now().UTC() }

func sortedUsers(m map[string]*user) []*user {
	out := make([]*user, 0, len(m))
	for _, u := range m {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
