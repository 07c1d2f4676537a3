package hsm

import (
	"context"
	stdcrypto "crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// QuorumTokenTTL is how long a quorum token can collect approvals and be used.
const QuorumTokenTTL = 10 * time.Minute

// TokenFile is what "quorum token-sign generate" writes and what approvers sign: each
// approver signs Token (RSA PKCS#1 v1.5 with SHA-256, e.g. `openssl dgst -sha256 -sign`)
// with the private key whose public half they registered ("user change-quorum token-sign
// register") and adds their signature. The requester passes the file as --approval.
type TokenFile struct {
	Version    string              `json:"version"`
	TokenID    string              `json:"token_id"`
	Service    string              `json:"service"`
	KeyRef     string              `json:"key-reference,omitempty"`
	Expires    time.Time           `json:"expires"`
	Token      []byte              `json:"token"`
	Signatures []ApprovalSignature `json:"signatures"`
}

// ApprovalSignature is one approver's signature of a token.
type ApprovalSignature struct {
	Username  string `json:"username"`
	Signature []byte `json:"signature"`
}

// Approval is a token file presented with an operation that needs quorum.
type Approval = TokenFile

func tokenPayload(t *quorumToken) []byte {
	return fmt.Appendf(nil, "coffer-quorum-token-v1\nid=%s\nservice=%s\nkey=%s\nnonce=%s\nexpires=%s\n",
		t.ID, t.Service, keyRefOrNone(t.Key), t.Nonce, t.Expires.UTC().Format(time.RFC3339))
}

func keyRefOrNone(h uint64) string {
	if h == 0 {
		return "none"
	}
	return FormatKeyRef(h)
}

// SignTokenPayload signs a token with an approver's quorum private key. It is what the CLI
// does for an approver; it runs on the approver's machine, never in the server.
func SignTokenPayload(priv *rsa.PrivateKey, token []byte) ([]byte, error) {
	d := sha256.Sum256(token)
	return rsa.SignPKCS1v15(nil, priv, stdcrypto.SHA256, d[:])
}

type tokenCreateCmd struct {
	Token quorumToken `json:"token"`
}

// GenerateToken creates a quorum token for a service: "user" and "quorum" for admins,
// "key-management" and "key-usage" (with the key) for crypto users with access to the key.
func (h *HSM) GenerateToken(ctx context.Context, s *Session, service string, keyRef uint64) (*TokenFile, error) {
	const op = "quorum token-sign generate"
	if err := h.requireSession(s); err != nil {
		return nil, err
	}
	switch service {
	case ServiceUser, ServiceQuorum:
		if s.Role != RoleAdmin {
			return nil, denied(op, "only admins generate tokens for the %s service", service)
		}
		keyRef = 0
	case ServiceKeyManagement, ServiceKeyUsage:
		if s.Role != RoleCrypto {
			return nil, denied(op, "only crypto users generate tokens for the %s service", service)
		}
		if _, err := h.lookupKey(s, keyRef, op); err != nil {
			return nil, err
		}
	default:
		return nil, invalid("service", "must be user, quorum, key-management or key-usage, got %q", service)
	}
	raw := make([]byte, 32)
	if _, err := h.cfg.Rand.Read(raw); err != nil {
		return nil, err
	}
	now := h.now()
	t := quorumToken{
		ID: hex.EncodeToString(raw[:8]), Service: service, Key: keyRef, Creator: s.User,
		Nonce: hex.EncodeToString(raw[8:]), Created: now, Expires: now.Add(QuorumTokenTTL).Truncate(time.Second),
	}
	if _, err := h.propose(ctx, cmdTokenCreate, tokenCreateCmd{Token: t}); err != nil {
		return nil, err
	}
	h.emit(Event{Opcode: OpQuorumToken, Result: ResultOK, User: s.User, Role: s.Role, Target: t.ID, Message: "service=" + service})
	tf := &TokenFile{Version: "1.0", TokenID: t.ID, Service: service, Expires: t.Expires, Token: tokenPayload(&t), Signatures: []ApprovalSignature{}}
	if keyRef != 0 {
		tf.KeyRef = FormatKeyRef(keyRef)
	}
	return tf, nil
}

func applyTokenCreate(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[tokenCreateCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// Expired tokens are dropped here, deterministically by the command's time.
	for id, tok := range h.tokens {
		if !t.Before(tok.Expires) {
			delete(h.tokens, id)
		}
	}
	if len(h.tokens) >= 1024 {
		return nil, &ConflictError{Reason: "too many pending quorum tokens; delete some with 'quorum token-sign delete'"}
	}
	tok := c.Token
	h.tokens[tok.ID] = &tok
	return nil, nil
}

// TokenInfo describes a pending token ("quorum token-sign list").
type TokenInfo struct {
	TokenID string    `json:"token_id"`
	Service string    `json:"service"`
	KeyRef  string    `json:"key-reference,omitempty"`
	Creator string    `json:"username"`
	Expires time.Time `json:"expires"`
}

// ListTokens lists pending tokens: admins see all, others their own.
func (h *HSM) ListTokens(s *Session) ([]TokenInfo, error) {
	if err := h.requireSession(s); err != nil {
		return nil, err
	}
	now := h.now()
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := []TokenInfo{}
	for _, t := range h.tokens {
		if now.After(t.Expires) || (s.Role != RoleAdmin && t.Creator != s.User) {
			continue
		}
		ti := TokenInfo{TokenID: t.ID, Service: t.Service, Creator: t.Creator, Expires: t.Expires}
		if t.Key != 0 {
			ti.KeyRef = FormatKeyRef(t.Key)
		}
		out = append(out, ti)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TokenID < out[j].TokenID })
	return out, nil
}

type tokenDeleteCmd struct {
	IDs []string `json:"ids"`
}

// DeleteTokens deletes pending tokens: a user deletes their own; with all=true an admin
// deletes every token.
func (h *HSM) DeleteTokens(ctx context.Context, s *Session, all bool) (int, error) {
	if err := h.requireSession(s); err != nil {
		return 0, err
	}
	if all && s.Role != RoleAdmin {
		return 0, denied("quorum token-sign delete", "only admins delete all tokens")
	}
	h.mu.RLock()
	var ids []string
	for id, t := range h.tokens {
		if all || t.Creator == s.User {
			ids = append(ids, id)
		}
	}
	h.mu.RUnlock()
	sort.Strings(ids)
	if len(ids) == 0 {
		return 0, nil
	}
	if _, err := h.propose(ctx, cmdTokenDelete, tokenDeleteCmd{IDs: ids}); err != nil {
		return 0, err
	}
	return len(ids), nil
}

func applyTokenDelete(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[tokenDeleteCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range c.IDs {
		delete(h.tokens, id)
	}
	return nil, nil
}

type quorumValueCmd struct {
	Service     string `json:"service"`
	Value       int    `json:"value"`
	QuorumToken string `json:"quorum_token,omitempty"`
}

// SetQuorumValue sets M for the user service (admins). Raising or lowering it while M > 1
// needs M approvals of a "quorum" service token.
func (h *HSM) SetQuorumValue(ctx context.Context, s *Session, service string, value int, approval *Approval) error {
	const op = "quorum token-sign set-quorum-value"
	if err := h.requireRole(s, op, RoleAdmin); err != nil {
		return err
	}
	if service != ServiceUser {
		return invalid("service", "admins set the quorum value of the user service; key quorum values are set when a key is created")
	}
	if value < 1 || value > MaxQuorumValue {
		return invalid("value", "must be between 1 and %d", MaxQuorumValue)
	}
	h.mu.RLock()
	m := h.cluster.UserQuorum
	h.mu.RUnlock()
	var tok string
	if m > 1 {
		var err error
		if tok, err = h.verifyApproval(approval, ServiceQuorum, 0, m, isAdmin); err != nil {
			return err
		}
	}
	if _, err := h.propose(ctx, cmdQuorumValue, quorumValueCmd{Service: service, Value: value, QuorumToken: tok}); err != nil {
		return err
	}
	h.emit(Event{Opcode: OpChangeQuorum, Result: ResultOK, User: s.User, Role: s.Role, Message: fmt.Sprintf("service=%s value=%d", service, value)})
	return nil
}

func applyQuorumValue(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[quorumValueCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.consumeToken(c.QuorumToken, ServiceQuorum, t); err != nil {
		return nil, err
	}
	h.cluster.UserQuorum = c.Value
	return nil, nil
}

func isAdmin(u *user) bool { return u.Role == RoleAdmin }

// checkUserQuorum verifies user-service approvals when the cluster's user quorum is > 1.
// It returns the token ID the operation's command must consume.
func (h *HSM) checkUserQuorum(s *Session, op string, approval *Approval) (string, error) {
	h.mu.RLock()
	m := h.cluster.UserQuorum
	h.mu.RUnlock()
	if m <= 1 {
		return "", nil
	}
	return h.verifyApproval(approval, ServiceUser, 0, m, isAdmin)
}

// checkKeyQuorum verifies key-management or key-usage approvals for a key with a quorum value.
func (h *HSM) checkKeyQuorum(o *keyObject, service string, approval *Approval) (string, error) {
	m := o.ManageQuorum
	if service == ServiceKeyUsage {
		m = o.UseQuorum
	}
	if m <= 1 {
		return "", nil
	}
	return h.verifyApproval(approval, service, o.Handle, m, func(u *user) bool {
		return u.Role == RoleCrypto && o.accessibleBy(u.Name)
	})
}

// verifyApproval counts valid signatures by distinct eligible users with registered quorum
// keys over the token the approval names, and requires at least m of them. The approver
// who generated the token may approve it too, as in CloudHSM.
func (h *HSM) verifyApproval(a *Approval, service string, key uint64, m int, eligible func(*user) bool) (string, error) {
	if a == nil {
		return "", &QuorumError{Service: service, Required: m, Reason: "generate a token with 'quorum token-sign generate --service " + service + "', collect approvals and pass it with --approval"}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	tok, ok := h.tokens[a.TokenID]
	if !ok {
		return "", &QuorumError{Service: service, Required: m, Reason: "unknown, used or deleted quorum token"}
	}
	if tok.Service != service || tok.Key != key {
		return "", &QuorumError{Service: service, Required: m, Reason: fmt.Sprintf("the token is for service %s key %s", tok.Service, keyRefOrNone(tok.Key))}
	}
	if !h.now().Before(tok.Expires) {
		return "", &QuorumError{Service: service, Required: m, Reason: "the quorum token expired"}
	}
	payload := tokenPayload(tok)
	if subtle.ConstantTimeCompare(payload, a.Token) != 1 {
		return "", &QuorumError{Service: service, Required: m, Reason: "the token in the approval file was altered"}
	}
	digest := sha256.Sum256(payload)
	seen := map[string]bool{}
	valid := 0
	var problems []string
	for _, sig := range a.Signatures {
		name := strings.ToLower(sig.Username)
		if seen[name] {
			problems = append(problems, name+": duplicate approval")
			continue
		}
		u := h.users[name]
		if u == nil || !eligible(u) || u.QuorumKey == "" {
			problems = append(problems, name+": not an eligible approver with a registered quorum key")
			continue
		}
		pub, err := parseRSAPublicKeyPEM(u.QuorumKey, 0)
		if err != nil || rsa.VerifyPKCS1v15(pub, stdcrypto.SHA256, digest[:], sig.Signature) != nil {
			problems = append(problems, name+": signature does not verify")
			continue
		}
		seen[name] = true
		valid++
	}
	if valid < m {
		return "", &QuorumError{Service: service, Required: m, Valid: valid, Reason: strings.Join(problems, "; ")}
	}
	return tok.ID, nil
}
