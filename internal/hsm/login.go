package hsm

import (
	"context"
	stdcrypto "crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-hsm/coffer/internal/crypto"
)

// Session is a logged-in user on this node. Sessions are node-local, like a CloudHSM
// client's sessions; session keys (token=false) live in the session and die with it.
type Session struct {
	ID   string // non-secret identifier, for listings and audit
	User string
	Role string

	created time.Time
	expires atomic.Int64 // unix nanoseconds
	ttl     time.Duration
	ended   atomic.Bool

	mu   sync.Mutex
	keys map[uint64]*keyObject // session key objects
}

// Ended reports whether the session was logged out, expired or ended by zeroization.
func (s *Session) Ended() bool { return s.ended.Load() }

// Expires is when the session ends unless used again.
func (s *Session) Expires() time.Time { return time.Unix(0, s.expires.Load()) }

// LoginRequest is a login attempt. For a user with MFA, the first attempt (password only)
// returns an MFAChallenge; the second carries the MFA response with the challenge's LoginID.
// A TOTP code may also be sent with the password in one attempt.
type LoginRequest struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Password string `json:"password"`
	// LoginID continues a login that returned an MFA challenge.
	LoginID string `json:"login_id,omitempty"`
	// Signature is the RSA PKCS#1 v1.5 SHA-256 signature of the token-sign challenge.
	Signature []byte `json:"signature,omitempty"`
	// TOTPCode is the current RFC 6238 code.
	TOTPCode string `json:"totp_code,omitempty"`
}

// MFAChallenge asks the client to complete a login with its second factor.
type MFAChallenge struct {
	Strategy  string `json:"strategy"`
	LoginID   string `json:"login_id"`
	Challenge []byte `json:"challenge,omitempty"` // token-sign: sign SHA-256 of these bytes
}

// LoginResult is a completed login (Token and Session) or an MFA challenge.
type LoginResult struct {
	Token     string        `json:"token,omitempty"`
	Session   *Session      `json:"-"`
	Challenge *MFAChallenge `json:"challenge,omitempty"`
}

// LoginFailedError is a failed login: it wraps ErrLoginFailed and says how many consecutive
// failures the user now has and what happened because of them.
type LoginFailedError struct {
	FailedLogins int
	Threshold    int
	Policy       string
	Locked       bool
	Zeroized     bool
}

func (e *LoginFailedError) Error() string {
	switch {
	case e.Zeroized:
		return fmt.Sprintf("%v; after %d consecutive failed admin logins the cluster was ZEROIZED: all keys are erased", ErrLoginFailed, e.FailedLogins)
	case e.Locked:
		return fmt.Sprintf("%v; the user is now locked out after %d consecutive failures", ErrLoginFailed, e.FailedLogins)
	case e.Policy == PolicyZeroize:
		return fmt.Sprintf("%v (%d of %d consecutive failures before the cluster zeroizes)", ErrLoginFailed, e.FailedLogins, e.Threshold)
	default:
		return fmt.Sprintf("%v (%d of %d consecutive failures before lockout)", ErrLoginFailed, e.FailedLogins, e.Threshold)
	}
}

// Unwrap makes errors.Is(err, ErrLoginFailed) true, and ErrZeroized when it zeroized.
func (e *LoginFailedError) Unwrap() []error {
	if e.Zeroized {
		return []error{ErrLoginFailed, ErrZeroized}
	}
	return []error{ErrLoginFailed}
}

type pendingLogin struct {
	user      string
	role      string
	strategy  string
	challenge []byte
	expires   time.Time
}

// dummyHash equalizes the time of logins for unknown users with that of real ones.
var dummyHash = func() string {
	h, _ := crypto.HashPassword("coffer-dummy-password")
	return h
}()

// Login authenticates a user and returns a session token, or an MFA challenge.
func (h *HSM) Login(ctx context.Context, req LoginRequest) (LoginResult, error) {
	if err := h.serviceErr(); err != nil {
		return LoginResult{}, err
	}
	h.mu.RLock()
	st := h.cluster.State
	h.mu.RUnlock()
	switch st {
	case StateUninitialized:
		if h.Status().Zeroizations > 0 {
			return LoginResult{}, ErrZeroized
		}
		return LoginResult{}, ErrNotInitialized
	case StateInitialized:
		return LoginResult{}, &ConflictError{Reason: "the cluster is not activated; run 'cluster activate' to set the admin password"}
	}
	name, err := normalizeUsername(req.Username)
	if err != nil {
		return LoginResult{}, err
	}
	if err := validateRole(req.Role); err != nil {
		return LoginResult{}, err
	}
	fail := Event{Opcode: OpLogin, Result: ResultLoginFailure, User: name, Role: req.Role}

	if req.LoginID != "" {
		return h.completeMFA(ctx, name, req)
	}

	h.mu.RLock()
	u := h.users[name]
	h.mu.RUnlock()
	if u == nil || u.Role != req.Role || u.PasswordHash == "" {
		_, _ = crypto.VerifyPassword(dummyHash, req.Password)
		fail.Message = "unknown user or role"
		h.emit(fail)
		return LoginResult{}, ErrLoginFailed
	}
	if u.Locked {
		h.emit(Event{Opcode: OpLogin, Result: ResultUserLocked, User: name, Role: req.Role, FailedLogins: u.FailedLogins})
		return LoginResult{}, ErrUserLocked
	}
	ok, err := crypto.VerifyPassword(u.PasswordHash, req.Password)
	if err != nil {
		return LoginResult{}, err
	}
	if !ok {
		return LoginResult{}, h.recordFailure(ctx, u, "wrong password")
	}
	if u.MFA != nil {
		if u.MFA.Strategy == "totp" && req.TOTPCode != "" {
			if !h.checkTOTP(u, req.TOTPCode) {
				return LoginResult{}, h.recordFailure(ctx, u, "wrong TOTP code")
			}
			return h.loginSucceeded(ctx, u)
		}
		return h.startMFA(u)
	}
	return h.loginSucceeded(ctx, u)
}

func (h *HSM) startMFA(u *user) (LoginResult, error) {
	id := make([]byte, 16)
	if _, err := h.cfg.Rand.Read(id); err != nil {
		return LoginResult{}, err
	}
	p := &pendingLogin{user: u.Name, role: u.Role, strategy: u.MFA.Strategy, expires: h.now().Add(2 * time.Minute)}
	if p.strategy == "token-sign" {
		p.challenge = make([]byte, 32)
		if _, err := h.cfg.Rand.Read(p.challenge); err != nil {
			return LoginResult{}, err
		}
	}
	lid := hex.EncodeToString(id)
	h.sessMu.Lock()
	for k, v := range h.pending {
		if h.now().After(v.expires) {
			delete(h.pending, k)
		}
	}
	h.pending[lid] = p
	h.sessMu.Unlock()
	return LoginResult{Challenge: &MFAChallenge{Strategy: p.strategy, LoginID: lid, Challenge: p.challenge}}, nil
}

func (h *HSM) completeMFA(ctx context.Context, name string, req LoginRequest) (LoginResult, error) {
	h.sessMu.Lock()
	p := h.pending[req.LoginID]
	delete(h.pending, req.LoginID)
	h.sessMu.Unlock()
	if p == nil || p.user != name || p.role != req.Role || h.now().After(p.expires) {
		h.emit(Event{Opcode: OpLogin, Result: ResultLoginFailure, User: name, Role: req.Role, Message: "unknown or expired MFA login"})
		return LoginResult{}, ErrLoginFailed
	}
	h.mu.RLock()
	u := h.users[name]
	h.mu.RUnlock()
	if u == nil || u.MFA == nil || u.MFA.Strategy != p.strategy {
		return LoginResult{}, ErrLoginFailed
	}
	if u.Locked {
		return LoginResult{}, ErrUserLocked
	}
	var ok bool
	switch p.strategy {
	case "token-sign":
		pub, err := parseRSAPublicKeyPEM(u.MFA.PublicKey, 0)
		if err == nil {
			d := sha256.Sum256(p.challenge)
			ok = rsa.VerifyPKCS1v15(pub, stdcrypto.SHA256, d[:], req.Signature) == nil
		}
	case "totp":
		ok = h.checkTOTP(u, req.TOTPCode)
	}
	if !ok {
		return LoginResult{}, h.recordFailure(ctx, u, "wrong MFA response")
	}
	return h.loginSucceeded(ctx, u)
}

func (h *HSM) checkTOTP(u *user, code string) bool {
	dk, err := h.domainKey()
	if err != nil {
		return false
	}
	secret, err := dk.Decrypt(u.MFA.SealedTOTP, totpAAD(u.Name))
	if err != nil {
		return false
	}
	defer clear(secret)
	now := h.now()
	if !crypto.VerifyTOTP(secret, code, now, 1) {
		return false
	}
	// RFC 6238 §5.2: a code is accepted once. Codes are valid for up to three 30 s steps
	// (skew 1), so remembering the last accepted code for 90 s is enough.
	h.sessMu.Lock()
	defer h.sessMu.Unlock()
	if last, ok := h.totpUsed[u.Name]; ok && last.code == code && now.Before(last.until) {
		return false
	}
	h.totpUsed[u.Name] = usedCode{code: code, until: now.Add(90 * time.Second)}
	return true
}

type usedCode struct {
	code  string
	until time.Time
}

type loginCmd struct {
	Name string `json:"name"`
}

type loginFailedResult struct {
	FailedLogins int
	Locked       bool
	Zeroized     bool
}

func (h *HSM) recordFailure(ctx context.Context, u *user, why string) error {
	res, err := h.propose(ctx, cmdLoginFailed, loginCmd{Name: u.Name})
	if err != nil {
		return fmt.Errorf("hsm: recording a failed login: %w", err)
	}
	r, _ := res.(loginFailedResult)
	pol := h.Policy()
	e := &LoginFailedError{FailedLogins: r.FailedLogins, Locked: r.Locked, Zeroized: r.Zeroized, Policy: pol.LoginFailurePolicy, Threshold: pol.LockoutThreshold}
	if pol.LoginFailurePolicy == PolicyZeroize && u.Role == RoleAdmin {
		e.Threshold = pol.ZeroizeThreshold
	}
	h.emit(Event{Opcode: OpLogin, Result: ResultLoginFailure, User: u.Name, Role: u.Role, FailedLogins: r.FailedLogins, Message: why})
	if r.Locked {
		h.emit(Event{Opcode: OpLogin, Result: ResultUserLocked, User: u.Name, Role: u.Role, FailedLogins: r.FailedLogins, Message: "user locked out"})
	}
	if r.Zeroized {
		h.emit(Event{Opcode: OpZeroize, Result: ResultZeroized, User: u.Name, Role: u.Role, FailedLogins: r.FailedLogins,
			Message: fmt.Sprintf("cluster zeroized after %d consecutive failed admin logins", r.FailedLogins)})
	}
	return e
}

func applyLoginFailed(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[loginCmd](body)
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
	nu.FailedLogins++
	res := loginFailedResult{FailedLogins: nu.FailedLogins}
	pol := h.cluster.Policy
	if pol.LoginFailurePolicy == PolicyZeroize && nu.Role == RoleAdmin && nu.FailedLogins >= pol.ZeroizeThreshold {
		h.zeroizeLocked()
		res.Zeroized = true
		return res, nil
	}
	if nu.FailedLogins >= pol.LockoutThreshold {
		nu.Locked = true
		res.Locked = true
	}
	h.users[c.Name] = &nu
	return res, nil
}

func applyLoginOK(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[loginCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.users[c.Name]
	if !ok {
		return nil, &NotFoundError{Kind: "user", Name: c.Name}
	}
	if u.Locked {
		return nil, ErrUserLocked
	}
	nu := *u
	nu.FailedLogins = 0
	h.users[c.Name] = &nu
	return nil, nil
}

func (h *HSM) loginSucceeded(ctx context.Context, u *user) (LoginResult, error) {
	if u.FailedLogins > 0 {
		if _, err := h.propose(ctx, cmdLoginOK, loginCmd{Name: u.Name}); err != nil {
			return LoginResult{}, err
		}
	}
	tok := make([]byte, 32)
	if _, err := h.cfg.Rand.Read(tok); err != nil {
		return LoginResult{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(tok)
	s := &Session{
		ID:   fmt.Sprintf("%s-%d", u.Name, h.nextSess.Add(1)),
		User: u.Name, Role: u.Role, created: h.now(), ttl: h.cfg.SessionTTL,
		keys: map[uint64]*keyObject{},
	}
	s.expires.Store(h.now().Add(s.ttl).UnixNano())
	h.sessMu.Lock()
	h.sessions[sha256.Sum256([]byte(token))] = s
	h.sessMu.Unlock()
	h.emit(Event{Opcode: OpLogin, Result: ResultOK, User: u.Name, Role: u.Role})
	return LoginResult{Token: token, Session: s}, nil
}

// Session resolves a session token. Using a session extends it by the session TTL.
func (h *HSM) Session(token string) (*Session, error) {
	if token == "" {
		return nil, ErrNotLoggedIn
	}
	key := sha256.Sum256([]byte(token))
	h.sessMu.Lock()
	s := h.sessions[key]
	if s != nil && h.now().UnixNano() > s.expires.Load() {
		delete(h.sessions, key)
		h.sessMu.Unlock()
		h.dropSessionKeys(s)
		return nil, ErrNotLoggedIn
	}
	h.sessMu.Unlock()
	if s == nil {
		return nil, ErrNotLoggedIn
	}
	s.expires.Store(h.now().Add(s.ttl).UnixNano())
	return s, nil
}

// Logout ends a session and destroys its session keys.
func (h *HSM) Logout(token string) error {
	key := sha256.Sum256([]byte(token))
	h.sessMu.Lock()
	s := h.sessions[key]
	delete(h.sessions, key)
	h.sessMu.Unlock()
	if s == nil {
		return ErrNotLoggedIn
	}
	h.dropSessionKeys(s)
	h.emit(Event{Opcode: OpLogout, Result: ResultOK, User: s.User, Role: s.Role})
	return nil
}

// dropSessionKeys ends s and destroys its session keys.
func (h *HSM) dropSessionKeys(s *Session) {
	s.ended.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for hnd, o := range s.keys {
		h.forgetLive(o)
		delete(s.keys, hnd)
	}
}

func (h *HSM) dropUserSessions(name string) {
	h.sessMu.Lock()
	var drop []*Session
	for k, s := range h.sessions {
		if s.User == name {
			drop = append(drop, s)
			delete(h.sessions, k)
		}
	}
	h.sessMu.Unlock()
	for _, s := range drop {
		h.dropSessionKeys(s)
	}
}

func (h *HSM) dropAllSessions() {
	h.sessMu.Lock()
	all := h.sessions
	for _, s := range h.services {
		s.ended.Store(true)
	}
	h.services = nil
	h.sessions = map[[32]byte]*Session{}
	h.pending = map[string]*pendingLogin{}
	h.sessMu.Unlock()
	for _, s := range all {
		h.dropSessionKeys(s)
	}
}

func (h *HSM) requireSession(s *Session) error {
	if err := h.serviceErr(); err != nil {
		return err
	}
	if s == nil || s.ended.Load() || h.now().UnixNano() > s.expires.Load() {
		return ErrNotLoggedIn
	}
	return nil
}

func (h *HSM) requireRole(s *Session, op string, roles ...string) error {
	if err := h.requireSession(s); err != nil {
		return err
	}
	for _, r := range roles {
		if s.Role == r {
			return nil
		}
	}
	switch roles[0] {
	case RoleAdmin:
		return denied(op, "only admins may do this (logged in as %s %s)", s.Role, s.User)
	case RoleCrypto:
		return denied(op, "only crypto users may do this (logged in as %s %s)", s.Role, s.User)
	}
	return denied(op, "role %s may not do this", s.Role)
}
