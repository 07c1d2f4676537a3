package iam

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/coffer-hsm/coffer/internal/iam/policy"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/state"
)

// Proposer commits commands to the replicated state (*state.Store).
type Proposer interface {
	Propose(ctx context.Context, typ string, version int, body any) (any, error)
}

// Config configures the IAM/STS service.
type Config struct {
	Proposer Proposer
	Now      func() time.Time // default time.Now
	Rand     io.Reader        // default crypto/rand
	Logger   *slog.Logger
	// Root resolves the access keys that are not IAM keys (the account root credentials);
	// nil means none.
	Root awsproto.CredentialStore
	// SecretsKey, when set (16, 24 or 32 bytes), encrypts the secrets kept in the
	// replicated state (secret access keys of users and sessions, MFA seeds) with AES-GCM.
	// Without it they are stored as they are. It must be the same on every node and across
	// restarts.
	SecretsKey []byte
	// AccountCreated is when the account was created: the CreateDate of the root user
	// (GetUser called by the root). Zero: the time New was called.
	AccountCreated time.Time
}

// Caller is who calls an operation, from the verified request.
type Caller struct {
	Region    string
	Account   string
	Principal awsproto.Principal
}

// Service is the IAM and STS service of one node. It implements state.Part ("iam").
type Service struct {
	cfg  Config
	aead cipher.AEAD

	mu       sync.RWMutex
	ents     map[string]*entity     // users, roles, groups by entKey
	policies map[string]*policyRec  // customer managed policies by ARN
	keys     map[string]*accessKey  // long-term access keys by id
	mfas     map[string]*mfaDevice  // virtual MFA devices by serial number
	sessions map[string]*sessionRec // temporary credentials by access key id

	keyUsage KeyUsage // GetAccessKeyLastUsed's source (SetKeyUsage)

	pcache policy.Cache // parsed policies of RequestPolicies, by layer and content

	reportMu sync.Mutex
	reports  map[string]*credReport // credential reports by account (this node's)
}

var _ state.Part = (*Service)(nil)

// New returns the IAM service with empty state.
func New(cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AccountCreated.IsZero() {
		cfg.AccountCreated = cfg.Now()
	}
	s := &Service{cfg: cfg}
	if cfg.SecretsKey != nil {
		b, err := aes.NewCipher(cfg.SecretsKey)
		if err != nil {
			return nil, fmt.Errorf("iam: secrets key: %w", err)
		}
		s.aead, err = cipher.NewGCM(b)
		if err != nil {
			return nil, err
		}
	}
	s.reset()
	return s, nil
}

// Attach sets the proposer (the state store is opened after the parts are created).
func (s *Service) Attach(p Proposer) { s.cfg.Proposer = p }

func (s *Service) reset() {
	s.ents = map[string]*entity{}
	s.policies = map[string]*policyRec{}
	s.keys = map[string]*accessKey{}
	s.mfas = map[string]*mfaDevice{}
	s.sessions = map[string]*sessionRec{}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Name implements state.Part.
func (s *Service) Name() string { return "iam" }

const (
	snapshotFormat  = "coffer-iam"
	snapshotVersion = 1
)

type persisted struct {
	Format   string                 `json:"format"`
	Version  int                    `json:"version"`
	Entities map[string]*entity     `json:"entities"`
	Policies map[string]*policyRec  `json:"policies"`
	Keys     map[string]*accessKey  `json:"keys"`
	MFAs     map[string]*mfaDevice  `json:"mfas"`
	Sessions map[string]*sessionRec `json:"sessions"`
}

// Snapshot implements state.Part.
func (s *Service) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(persisted{Format: snapshotFormat, Version: snapshotVersion, Entities: s.ents,
		Policies: s.policies, Keys: s.keys, MFAs: s.mfas, Sessions: s.sessions})
}

// Restore implements state.Part.
func (s *Service) Restore(data []byte) error {
	var p persisted
	if data != nil {
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("iam: restore: %w", err)
		}
		if p.Format != snapshotFormat || p.Version != snapshotVersion {
			return fmt.Errorf("iam: restore: unsupported snapshot %q version %d", p.Format, p.Version)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
	if p.Entities != nil {
		s.ents = p.Entities
	}
	if p.Policies != nil {
		s.policies = p.Policies
	}
	if p.Keys != nil {
		s.keys = p.Keys
	}
	if p.MFAs != nil {
		s.mfas = p.MFAs
	}
	if p.Sessions != nil {
		s.sessions = p.Sessions
	}
	return nil
}

// Apply implements state.Part.
func (s *Service) Apply(index uint64, cmd state.Command) (any, error) {
	fn, ok := applyTable[cmd.Type]
	if !ok || cmd.Version != 1 {
		return nil, fmt.Errorf("iam: unknown command %s v%d", cmd.Type, cmd.Version)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(s, cmd.Time.UTC(), cmd.Body)
}

func (s *Service) propose(ctx context.Context, typ string, body any) error {
	_, err := s.proposeResult(ctx, typ, body)
	return err
}

func (s *Service) proposeResult(ctx context.Context, typ string, body any) (any, error) {
	if s.cfg.Proposer == nil {
		return nil, errors.New("iam: no state store attached")
	}
	return s.cfg.Proposer.Propose(ctx, typ, 1, body)
}

// ---- identifiers and secrets ----

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// newID returns prefix + n random characters of AWS's unique-id alphabet (uppercase
// letters and 2-7): AIDA/AROA/ANPA/AGPA + 17 for entities, AKIA/ASIA + 16 for access keys.
func (s *Service) newID(prefix string, n int) (string, error) {
	buf := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Rand, buf); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(prefix)
	for _, c := range buf {
		b.WriteByte(idAlphabet[c&31])
	}
	return b.String(), nil
}

const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// newSecret returns a 40-character secret access key.
func (s *Service) newSecret() (string, error) {
	buf := make([]byte, 40)
	if _, err := io.ReadFull(s.cfg.Rand, buf); err != nil {
		return "", err
	}
	for i, c := range buf {
		buf[i] = secretAlphabet[c&63]
	}
	return string(buf), nil
}

// seal protects a secret for the replicated state: "gcm:" + base64(nonce|ciphertext) with
// the secrets key, AAD = aad (the access key id or MFA serial), or "plain:" + secret
// without one.
func (s *Service) seal(aad string, secret []byte) (string, error) {
	if s.aead == nil {
		return "plain:" + base64.StdEncoding.EncodeToString(secret), nil
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	if _, err := io.ReadFull(s.cfg.Rand, nonce); err != nil {
		return "", err
	}
	return "gcm:" + base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, secret, []byte(aad))), nil
}

func (s *Service) unseal(aad, sealed string) ([]byte, error) {
	switch {
	case strings.HasPrefix(sealed, "plain:"):
		return base64.StdEncoding.DecodeString(sealed[len("plain:"):])
	case strings.HasPrefix(sealed, "gcm:"):
		if s.aead == nil {
			return nil, errors.New("iam: secret is encrypted but no secrets key is configured")
		}
		b, err := base64.StdEncoding.DecodeString(sealed[len("gcm:"):])
		if err != nil || len(b) < s.aead.NonceSize() {
			return nil, errors.New("iam: malformed sealed secret")
		}
		return s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(aad))
	}
	return nil, errors.New("iam: unknown sealed secret format")
}

// ---- ARNs ----

func userARN(acct, path, name string) string  { return "arn:aws:iam::" + acct + ":user" + path + name }
func roleARN(acct, path, name string) string  { return "arn:aws:iam::" + acct + ":role" + path + name }
func groupARN(acct, path, name string) string { return "arn:aws:iam::" + acct + ":group" + path + name }
func policyARN(acct, path, name string) string {
	return "arn:aws:iam::" + acct + ":policy" + path + name
}
func mfaARN(acct, path, name string) string { return "arn:aws:iam::" + acct + ":mfa" + path + name }

// parsedARN is an IAM or STS principal ARN.
type parsedARN struct {
	Service string // iam or sts
	Account string
	Kind    string // root, user, role, group, assumed-role, policy, mfa
	Name    string // last path segment (role name for assumed-role)
	Session string // assumed-role session name
}

func parseARN(arn string) (parsedARN, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || (parts[2] != "iam" && parts[2] != "sts") {
		return parsedARN{}, false
	}
	p := parsedARN{Service: parts[2], Account: parts[4]}
	res := parts[5]
	if res == "root" {
		p.Kind = "root"
		return p, true
	}
	kind, rest, ok := strings.Cut(res, "/")
	if !ok || rest == "" {
		return parsedARN{}, false
	}
	p.Kind = kind
	if kind == "assumed-role" {
		role, sess, ok := strings.Cut(rest, "/")
		if !ok {
			return parsedARN{}, false
		}
		p.Name, p.Session = role, sess
		return p, true
	}
	p.Name = rest[strings.LastIndexByte(rest, '/')+1:]
	return p, true
}
