package hsm

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/crypto"
)

// UserInfo is a user as "user list" shows it (cloudhsm-cli's shape).
type UserInfo struct {
	Username        string    `json:"username"`
	Role            string    `json:"role"`
	Locked          string    `json:"locked"`
	MFA             []MFAInfo `json:"mfa"`
	Quorum          []MFAInfo `json:"quorum"`
	ClusterCoverage string    `json:"cluster-coverage"`
	FailedLogins    int       `json:"failed-logins"`
	Activated       bool      `json:"activated"`
}

// MFAInfo names a registered MFA or quorum strategy.
type MFAInfo struct {
	Strategy string `json:"strategy"`
	Status   string `json:"status"`
}

func normalizeUsername(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" || len(n) > MaxUsernameLength {
		return "", invalid("username", "must be 1 to %d characters", MaxUsernameLength)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return "", invalid("username", "may contain only letters, digits, '_' and '-' (got %q)", name)
		}
	}
	return n, nil
}

func validateRole(role string) error {
	switch role {
	case RoleAdmin, RoleCrypto, RoleAppliance:
		return nil
	}
	return invalid("role", "must be admin, crypto-user or appliance, got %q", role)
}

func validatePassword(pw string) error {
	if len(pw) < MinPasswordLength || len(pw) > MaxPasswordLength {
		return invalid("password", "must be %d to %d characters long", MinPasswordLength, MaxPasswordLength)
	}
	return nil
}

// ListUsers lists the cluster's users. Any logged-in user may list them.
func (h *HSM) ListUsers(s *Session) ([]UserInfo, error) {
	if err := h.requireSession(s); err != nil {
		return nil, err
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []UserInfo
	for _, u := range sortedUsers(h.users) {
		info := UserInfo{
			Username: u.Name, Role: u.Role, Locked: boolString(u.Locked),
			MFA: []MFAInfo{}, Quorum: []MFAInfo{}, ClusterCoverage: "full",
			FailedLogins: u.FailedLogins, Activated: u.PasswordHash != "",
		}
		if u.MFA != nil {
			info.MFA = append(info.MFA, MFAInfo{Strategy: u.MFA.Strategy, Status: "enabled"})
		}
		if u.QuorumKey != "" {
			info.Quorum = append(info.Quorum, MFAInfo{Strategy: "token-sign", Status: "enabled"})
		}
		out = append(out, info)
	}
	return out, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

type userCreateCmd struct {
	Name         string `json:"name"`
	Role         string `json:"role"`
	PasswordHash string `json:"password_hash"`
	QuorumToken  string `json:"quorum_token,omitempty"`
}

// CreateUser creates a user. Admins only; needs user-service quorum approval when the
// cluster's user quorum value is above 1.
func (h *HSM) CreateUser(ctx context.Context, s *Session, name, role, password string, approval *Approval) error {
	const op = "user create"
	if err := h.requireRole(s, op, RoleAdmin); err != nil {
		return err
	}
	name, err := normalizeUsername(name)
	if err != nil {
		return err
	}
	if strings.HasPrefix(name, ServiceUserPrefix) {
		return invalid("username", "names starting with %q are reserved for Coffer's internal service users", ServiceUserPrefix)
	}
	if err := validateRole(role); err != nil {
		return err
	}
	if err := validatePassword(password); err != nil {
		return err
	}
	h.mu.RLock()
	_, exists := h.users[name]
	n := len(h.users)
	h.mu.RUnlock()
	if exists {
		return &ConflictError{Reason: "user " + name + " already exists"}
	}
	if n >= MaxUsers {
		return &ConflictError{Reason: "the cluster already has the maximum of 1024 users"}
	}
	tok, err := h.checkUserQuorum(s, op, approval)
	if err != nil {
		return err
	}
	hash, err := crypto.HashPassword(password)
	if err != nil {
		return err
	}
	if _, err := h.propose(ctx, cmdUserCreate, userCreateCmd{Name: name, Role: role, PasswordHash: hash, QuorumToken: tok}); err != nil {
		return err
	}
	h.emit(Event{Opcode: OpCreateUser, Result: ResultOK, User: s.User, Role: s.Role, Target: name, Message: "role=" + role})
	return nil
}

func applyUserCreate(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[userCreateCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.users[c.Name]; ok {
		return nil, &ConflictError{Reason: "user " + c.Name + " already exists"}
	}
	if len(h.users) >= MaxUsers {
		return nil, &ConflictError{Reason: "the cluster already has the maximum of 1024 users"}
	}
	if err := h.consumeToken(c.QuorumToken, ServiceUser, t); err != nil {
		return nil, err
	}
	h.users[c.Name] = &user{Name: c.Name, Role: c.Role, PasswordHash: c.PasswordHash, Created: t}
	return nil, nil
}

type userDeleteCmd struct {
	Name        string `json:"name"`
	QuorumToken string `json:"quorum_token,omitempty"`
}

// DeleteUser deletes a user. Admins only; a user who owns keys cannot be deleted, nor the
// last admin, nor the caller.
func (h *HSM) DeleteUser(ctx context.Context, s *Session, name, role string, approval *Approval) error {
	const op = "user delete"
	if err := h.requireRole(s, op, RoleAdmin); err != nil {
		return err
	}
	name, err := normalizeUsername(name)
	if err != nil {
		return err
	}
	if err := h.checkDeletable(name, role, s.User); err != nil {
		return err
	}
	tok, err := h.checkUserQuorum(s, op, approval)
	if err != nil {
		return err
	}
	if _, err := h.propose(ctx, cmdUserDelete, userDeleteCmd{Name: name, QuorumToken: tok}); err != nil {
		return err
	}
	h.dropUserSessions(name)
	h.emit(Event{Opcode: OpDeleteUser, Result: ResultOK, User: s.User, Role: s.Role, Target: name})
	return nil
}

func (h *HSM) checkDeletable(name, role, caller string) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	u, ok := h.users[name]
	if !ok || (role != "" && u.Role != role) {
		return &NotFoundError{Kind: "user", Name: name}
	}
	if name == caller {
		return &ConflictError{Reason: "you cannot delete the user you are logged in as"}
	}
	if strings.HasPrefix(name, ServiceUserPrefix) && u.PasswordHash == "" {
		return &ConflictError{Reason: "user " + name + " is an internal service user of Coffer"}
	}
	if u.Role == RoleAdmin {
		admins := 0
		for _, o := range h.users {
			if o.Role == RoleAdmin {
				admins++
			}
		}
		if admins <= 1 {
			return &ConflictError{Reason: "the last admin cannot be deleted"}
		}
	}
	for _, k := range h.keys {
		if k.Owner == name {
			return &ConflictError{Reason: "user " + name + " owns keys; delete them or they would be orphaned"}
		}
	}
	return nil
}

func applyUserDelete(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[userDeleteCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.users[c.Name]; !ok {
		return nil, &NotFoundError{Kind: "user", Name: c.Name}
	}
	for _, k := range h.keys {
		if k.Owner == c.Name {
			return nil, &ConflictError{Reason: "user " + c.Name + " owns keys"}
		}
	}
	if err := h.consumeToken(c.QuorumToken, ServiceUser, t); err != nil {
		return nil, err
	}
	delete(h.users, c.Name)
	// Remove the user from every share list.
	for hnd, k := range h.keys {
		if k.accessibleBy(c.Name) {
			nk := k.clone()
			nk.Shared = removeString(nk.Shared, c.Name)
			h.keys[hnd] = nk
		}
	}
	return nil, nil
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

type userPasswordCmd struct {
	Name         string `json:"name"`
	PasswordHash string `json:"password_hash"`
	QuorumToken  string `json:"quorum_token,omitempty"`
}

// ChangePassword sets a user's password. Users change their own; admins change anyone's,
// which also unlocks a locked-out user (with user-service quorum when configured).
func (h *HSM) ChangePassword(ctx context.Context, s *Session, name, role, password string, approval *Approval) error {
	const op = "user change-password"
	if err := h.requireSession(s); err != nil {
		return err
	}
	name, err := normalizeUsername(name)
	if err != nil {
		return err
	}
	if err := validatePassword(password); err != nil {
		return err
	}
	h.mu.RLock()
	u, ok := h.users[name]
	h.mu.RUnlock()
	if !ok || (role != "" && u.Role != role) {
		return &NotFoundError{Kind: "user", Name: name}
	}
	var tok string
	if name != s.User {
		if s.Role != RoleAdmin {
			return denied(op, "only admins change other users' passwords")
		}
		if tok, err = h.checkUserQuorum(s, op, approval); err != nil {
			return err
		}
	}
	hash, err := crypto.HashPassword(password)
	if err != nil {
		return err
	}
	if _, err := h.propose(ctx, cmdUserPassword, userPasswordCmd{Name: name, PasswordHash: hash, QuorumToken: tok}); err != nil {
		return err
	}
	h.emit(Event{Opcode: OpChangePassword, Result: ResultOK, User: s.User, Role: s.Role, Target: name})
	return nil
}

func applyUserPassword(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[userPasswordCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.users[c.Name]
	if !ok {
		return nil, &NotFoundError{Kind: "user", Name: c.Name}
	}
	if err := h.consumeToken(c.QuorumToken, ServiceUser, t); err != nil {
		return nil, err
	}
	nu := *u
	nu.PasswordHash = c.PasswordHash
	nu.FailedLogins = 0
	nu.Locked = false
	h.users[c.Name] = &nu
	return nil, nil
}

// MFASpec is a change of a user's MFA: Strategy "token-sign" with an RSA public key (PEM),
// "totp", or "" to disable MFA.
type MFASpec struct {
	Strategy  string `json:"strategy"`
	PublicKey string `json:"public_key,omitempty"`
}

// TOTPEnrollment is returned once when TOTP is enabled: the secret for the user's
// authenticator app. It is not retrievable later.
type TOTPEnrollment struct {
	Secret string `json:"secret"` // base32
	URI    string `json:"otpauth_uri"`
}

type userMFACmd struct {
	Name        string `json:"name"`
	MFA         *mfa   `json:"mfa,omitempty"`
	QuorumToken string `json:"quorum_token,omitempty"`
}

// ChangeMFA enables, replaces or disables a user's MFA. Users enable MFA for themselves;
// an admin may disable another user's MFA (with user-service quorum when configured).
func (h *HSM) ChangeMFA(ctx context.Context, s *Session, name, role string, spec MFASpec, approval *Approval) (*TOTPEnrollment, error) {
	const op = "user change-mfa"
	if err := h.requireSession(s); err != nil {
		return nil, err
	}
	name, err := normalizeUsername(name)
	if err != nil {
		return nil, err
	}
	h.mu.RLock()
	u, ok := h.users[name]
	h.mu.RUnlock()
	if !ok || (role != "" && u.Role != role) {
		return nil, &NotFoundError{Kind: "user", Name: name}
	}
	var tok string
	if name != s.User {
		if s.Role != RoleAdmin || spec.Strategy != "" {
			return nil, denied(op, "users enable MFA for themselves; an admin may only disable another user's MFA")
		}
		if tok, err = h.checkUserQuorum(s, op, approval); err != nil {
			return nil, err
		}
	}
	var m *mfa
	var enroll *TOTPEnrollment
	switch spec.Strategy {
	case "":
	case "token-sign":
		if _, err := parseRSAPublicKeyPEM(spec.PublicKey, 2048); err != nil {
			return nil, err
		}
		m = &mfa{Strategy: "token-sign", PublicKey: spec.PublicKey}
	case "totp":
		secret := make([]byte, 20)
		if _, err := h.cfg.Rand.Read(secret); err != nil {
			return nil, err
		}
		dk, err := h.domainKey()
		if err != nil {
			return nil, err
		}
		sealed, err := dk.Encrypt(secret, totpAAD(name))
		if err != nil {
			return nil, err
		}
		m = &mfa{Strategy: "totp", SealedTOTP: sealed}
		enroll = &TOTPEnrollment{Secret: crypto.Base32Secret(secret), URI: crypto.OTPAuthURI("Coffer HSM", name, secret)}
		clear(secret)
	default:
		return nil, invalid("strategy", "must be token-sign or totp, got %q", spec.Strategy)
	}
	if _, err := h.propose(ctx, cmdUserMFA, userMFACmd{Name: name, MFA: m, QuorumToken: tok}); err != nil {
		return nil, err
	}
	h.emit(Event{Opcode: OpChangeMFA, Result: ResultOK, User: s.User, Role: s.Role, Target: name, Message: "strategy=" + spec.Strategy})
	return enroll, nil
}

func totpAAD(name string) []byte { return []byte("coffer/hsm/totp/v1|" + name) }

func applyUserMFA(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[userMFACmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.users[c.Name]
	if !ok {
		return nil, &NotFoundError{Kind: "user", Name: c.Name}
	}
	if err := h.consumeToken(c.QuorumToken, ServiceUser, t); err != nil {
		return nil, err
	}
	nu := *u
	nu.MFA = c.MFA
	h.users[c.Name] = &nu
	return nil, nil
}

type userQuorumKeyCmd struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// RegisterQuorumKey registers (or, with an empty key, removes) the caller's RSA public key
// for signing quorum tokens ("user change-quorum token-sign register").
func (h *HSM) RegisterQuorumKey(ctx context.Context, s *Session, publicKeyPEM string) error {
	if err := h.requireSession(s); err != nil {
		return err
	}
	if publicKeyPEM != "" {
		if _, err := parseRSAPublicKeyPEM(publicKeyPEM, 2048); err != nil {
			return err
		}
	}
	if _, err := h.propose(ctx, cmdUserQuorumKey, userQuorumKeyCmd{Name: s.User, PublicKey: publicKeyPEM}); err != nil {
		return err
	}
	h.emit(Event{Opcode: OpChangeQuorum, Result: ResultOK, User: s.User, Role: s.Role, Target: s.User})
	return nil
}

func applyUserQuorumKey(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[userQuorumKeyCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.users[c.Name]
	if !ok {
		return nil, &NotFoundError{Kind: "user", Name: c.Name}
	}
	nu := *u
	nu.QuorumKey = c.PublicKey
	h.users[c.Name] = &nu
	return nil, nil
}

func parseRSAPublicKeyPEM(s string, minBits int) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, invalid("public-key", "not a PEM block")
	}
	var pub any
	var err error
	switch blk.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	default:
		return nil, invalid("public-key", "PEM type %q is not a public key", blk.Type)
	}
	if err != nil {
		return nil, invalid("public-key", "cannot parse: %v", err)
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, invalid("public-key", "must be an RSA public key")
	}
	if rk.N.BitLen() < minBits {
		return nil, invalid("public-key", "RSA key must be at least %d bits", minBits)
	}
	return rk, nil
}
