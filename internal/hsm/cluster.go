package hsm

import (
	"context"
	"encoding/json"
	"time"

	"github.com/coffer-hsm/coffer/internal/crypto"
	"github.com/coffer-hsm/coffer/internal/seal"
)

// DefaultAdmin is the name of the admin user that initialization creates, as in CloudHSM.
const DefaultAdmin = "admin"

type initializeCmd struct {
	DomainKeyID string `json:"domain_key_id"`
	Policy      Policy `json:"policy"`
}

// Initialize creates the cluster's domain key on this node, seals it to the node's key file
// and records the initialized cluster with its login policy and the default admin user
// (no password yet: Activate sets it).
func (h *HSM) Initialize(ctx context.Context, policy Policy) error {
	if err := h.serviceErr(); err != nil {
		return err
	}
	if err := policy.validate(); err != nil {
		return err
	}
	h.mu.RLock()
	st := h.cluster.State
	h.mu.RUnlock()
	if st != StateUninitialized {
		return &ConflictError{Reason: "the cluster is already initialized"}
	}
	dk, err := seal.Generate(h.cfg.Rand)
	if err != nil {
		return err
	}
	if err := seal.Save(h.cfg.DomainKeyPath, h.cfg.Sealer, dk); err != nil {
		dk.Zeroize()
		return err
	}
	if _, err := h.propose(ctx, cmdInitialize, initializeCmd{DomainKeyID: dk.ID(), Policy: policy}); err != nil {
		dk.Zeroize()
		_ = seal.Erase(h.cfg.DomainKeyPath)
		return err
	}
	h.dkMu.Lock()
	h.dk = dk
	h.dkMu.Unlock()
	h.emit(Event{Opcode: OpInitialize, Result: ResultOK, Target: dk.ID()})
	return nil
}

func applyInitialize(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[initializeCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cluster.State != StateUninitialized {
		return nil, &ConflictError{Reason: "the cluster is already initialized"}
	}
	h.cluster.State = StateInitialized
	h.cluster.DomainKeyID = c.DomainKeyID
	h.cluster.Policy = c.Policy
	h.cluster.Initialized = t
	h.users[DefaultAdmin] = &user{Name: DefaultAdmin, Role: RoleAdmin, Created: t}
	return nil, nil
}

type activateCmd struct {
	PasswordHash string `json:"password_hash"`
}

// Activate sets the default admin's password and makes the cluster ACTIVE, as
// cloudhsm-cli's "cluster activate" does.
func (h *HSM) Activate(ctx context.Context, adminPassword string) error {
	if err := h.serviceErr(); err != nil {
		return err
	}
	if err := validatePassword(adminPassword); err != nil {
		return err
	}
	h.mu.RLock()
	st := h.cluster.State
	h.mu.RUnlock()
	switch st {
	case StateUninitialized:
		return ErrNotInitialized
	case StateActive:
		return &ConflictError{Reason: "the cluster is already active"}
	}
	hash, err := crypto.HashPassword(adminPassword)
	if err != nil {
		return err
	}
	if _, err := h.propose(ctx, cmdActivate, activateCmd{PasswordHash: hash}); err != nil {
		return err
	}
	h.emit(Event{Opcode: OpActivate, Result: ResultOK, User: DefaultAdmin, Role: RoleAdmin})
	return nil
}

func applyActivate(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[activateCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cluster.State != StateInitialized {
		return nil, &ConflictError{Reason: "the cluster is not waiting for activation (state " + h.cluster.State + ")"}
	}
	admin, ok := h.users[DefaultAdmin]
	if !ok {
		return nil, &NotFoundError{Kind: "user", Name: DefaultAdmin}
	}
	u := *admin
	u.PasswordHash = c.PasswordHash
	h.users[DefaultAdmin] = &u
	h.cluster.State = StateActive
	return nil, nil
}

type setPolicyCmd struct {
	Policy Policy `json:"policy"`
}

// SetPolicy changes the cluster's login failure policy and thresholds. Admins only.
func (h *HSM) SetPolicy(ctx context.Context, s *Session, p Policy) error {
	if err := h.requireRole(s, "cluster set-policy", RoleAdmin); err != nil {
		return err
	}
	if err := p.validate(); err != nil {
		return err
	}
	if _, err := h.propose(ctx, cmdSetPolicy, setPolicyCmd{Policy: p}); err != nil {
		return err
	}
	h.emit(Event{Opcode: OpSetPolicy, Result: ResultOK, User: s.User, Role: s.Role,
		Message: "login_failure_policy=" + p.LoginFailurePolicy})
	return nil
}

func applySetPolicy(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[setPolicyCmd](body)
	if err != nil {
		return nil, err
	}
	if err := c.Policy.validate(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cluster.Policy = c.Policy
	return nil, nil
}

// Policy returns the cluster's login policy.
func (h *HSM) Policy() Policy {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cluster.Policy
}

type zeroizeCmd struct {
	Reason string `json:"reason"`
}

// Zeroize destroys the domain key on every node and every key object: the cluster returns
// to UNINITIALIZED. Only a backup and its custodians can bring the keys back. Admins only.
func (h *HSM) Zeroize(ctx context.Context, s *Session, reason string) error {
	if err := h.requireRole(s, "cluster zeroize", RoleAdmin); err != nil {
		return err
	}
	if _, err := h.propose(ctx, cmdZeroize, zeroizeCmd{Reason: reason}); err != nil {
		return err
	}
	h.emit(Event{Opcode: OpZeroize, Result: ResultOK, User: s.User, Role: s.Role, Message: reason})
	return nil
}

func applyZeroize(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.zeroizeLocked()
	return nil, nil
}

// zeroizeLocked erases this node's domain key (file and memory), every decrypted key and
// every session, and resets the replicated model. Called under h.mu from Apply: the erasure
// of the node-local key file is the one side effect of applying a command, and every node
// performs it. OnZeroize then scrubs the replicated log from disk.
func (h *HSM) zeroizeLocked() {
	h.zeroizations.Add(1)
	h.dkMu.Lock()
	if h.dk != nil {
		h.dk.Zeroize()
		h.dk = nil
	}
	if err := seal.Erase(h.cfg.DomainKeyPath); err != nil {
		h.cfg.Logger.Error("zeroize: erasing the domain key file failed", "err", err)
	}
	h.dkMu.Unlock()
	h.dropLiveKeys()
	h.dropAllSessions()
	h.reset()
	if h.cfg.OnZeroize != nil {
		go h.cfg.OnZeroize()
	}
}
