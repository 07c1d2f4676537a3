// Package kms is Coffer's AWS KMS service: keys and their versions (rotation), aliases,
// grants, tags, key policies, data keys, sign/verify, MAC, key agreement, import and
// Multi-Region keys, with AWS KMS's key states and exception names.
//
// # Key material
//
// KMS never holds key material. Every key version is a set of HSM key objects (internal/hsm)
// owned by the internal crypto user "svc-kms", created non-extractable inside the HSM; every
// operation on material (Encrypt, Sign, GenerateMac...) is an HSM operation on those objects.
// This package keeps metadata only: states, versions (by HSM key reference), aliases, grants,
// tags and policies.
//
// The exception are keys of AWS CloudHSM key stores (custom key stores, customkeystore.go):
// their material is owned by the cluster's "kmsuser" crypto user, and KMS uses it in a
// session logged in as kmsuser with a password that only KMS knows, kept sealed by the HSM.
//
// # State
//
// The metadata is the "kms" part of the replicated state. Mutations are commands whose
// Apply is deterministic; records carry a revision so that a read-modify-write (e.g.
// TagResource) is rejected and retried if another change came between.
//
// # Callers
//
// Operations take a Caller (region, account and principal from the verified SigV4
// request). Regions are namespaces of one server: a key lives in the region it was created
// in; Multi-Region keys have replicas in other regions that share their material.
package kms

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/state"
)

// ServiceUser is the HSM crypto user that owns the key material of KMS keys.
const ServiceUser = hsm.ServiceUserPrefix + "kms"

// Proposer commits commands to the replicated state (*state.Store).
type Proposer interface {
	Propose(ctx context.Context, typ string, version int, body any) (any, error)
}

// Config configures the KMS service.
type Config struct {
	HSM      *hsm.HSM
	Proposer Proposer
	Now      func() time.Time // default time.Now
	Rand     io.Reader        // default crypto/rand
	Logger   *slog.Logger
	// Clusters answers questions about CloudHSM clusters for AWS CloudHSM key stores (custom
	// key stores). Nil means no CloudHSM API: every cluster is unknown.
	Clusters ClusterDirectory
	// Enforce turns on KMS authorization (authz.go): key policies, identity policies
	// and grants decide every operation of the dispatch table. False: every signed
	// request is allowed, as the account root.
	Enforce bool
	// Identities gives the identity-based policies of IAM principals (see
	// IdentityPolicies and CachedIdentityDocuments). Nil: principals other than the
	// account root have no identity policies.
	Identities IdentityPolicies
	// OnKeyUse, when set, is called after every successful cryptographic operation with
	// the key's region, key id and the operation (Encrypt, Decrypt, GenerateDataKey...),
	// in the caller's goroutine on the request path: it must be cheap and must not block
	// (count in memory, publish elsewhere).
	OnKeyUse func(region, keyID, op string)
}

// Caller is who calls an operation, from the verified request. A Caller with only
// Region, Account and Principal set is an IAM user (or, with the principal
// arn:aws:iam::ACCOUNT:root or empty, the account root) with long-term credentials.
type Caller struct {
	Region    string
	Account   string
	Principal string // ARN: arn:aws:iam::A:root, arn:aws:iam::A:user/U, arn:aws:sts::A:assumed-role/R/S
	// AccessKeyID is the key the request was signed with: with an Identities that is a
	// CredentialPolicies, the session policies of temporary credentials apply.
	AccessKeyID string

	// PrincipalType is PrincipalRoot, PrincipalIAMUser, PrincipalAssumedRole or
	// PrincipalFederatedUser; empty: derived from Principal.
	PrincipalType string
	// UserID is aws:userid: the user's unique ID (AIDA...), "AROA...:session" for a role
	// session; empty for the root means the account ID.
	UserID string
	// UserName is aws:username (IAM users only); empty: the last part of the user ARN.
	UserName string
	// PrincipalTags are aws:PrincipalTag/<key> (the user's or role's tags, session tags).
	PrincipalTags map[string]string
	// TemporaryCredentials says the request was signed with STS credentials: only then
	// is aws:MultiFactorAuthPresent in the request context (as AWS).
	TemporaryCredentials bool
	// MFAPresent and MFAAuthTime: the credentials were obtained with MFA at that time
	// (aws:MultiFactorAuthPresent, aws:MultiFactorAuthAge).
	MFAPresent  bool
	MFAAuthTime time.Time
	// SourceIP is aws:SourceIp (the client address, no port); SecureTransport is
	// aws:SecureTransport (the request came over TLS).
	SourceIP        string
	SecureTransport bool
}

// Service is the KMS service of one node. It implements state.Part ("kms").
type Service struct {
	cfg Config

	mu        sync.RWMutex
	keys      map[string]*keyRec
	materials map[string]*material
	aliases   map[string]*aliasRec
	grants    map[string]*grantRec
	imports   map[string]*importRec

	// stMu guards stores. Lock order: mu before stMu; never take mu while holding stMu.
	stMu   sync.RWMutex
	stores map[string]*storeRec

	sessMu sync.Mutex
	sess   *hsm.Session
	// domain caches the HSM's current domain key id (domain.go).
	domain atomic.Pointer[domainCache]

	// conns are this node's kmsuser sessions of connected custom key stores (node-local,
	// like every HSM session); attempts the connection attempts running on this node.
	connMu       sync.Mutex
	conns        map[string]*storeConn
	attempts     map[string]bool
	attemptsDone *sync.Cond // on connMu: an attempt ended

	usage lastUsage

	// authz caches compiled key and grant policies (authz.go); grantGen counts grant
	// changes (incremented under mu by the Apply of grants and key deletions).
	authz    authzCache
	grantGen atomic.Uint64
}

var _ state.Part = (*Service)(nil)

// New returns the KMS service with empty state.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, conns: map[string]*storeConn{}, attempts: map[string]bool{}}
	s.attemptsDone = sync.NewCond(&s.connMu)
	s.reset()
	s.authz.init()
	s.usage.m = map[string]usageRec{}
	return s
}

// Attach sets the proposer (the state store is opened after the parts are created).
func (s *Service) Attach(p Proposer) { s.cfg.Proposer = p }

func (s *Service) reset() {
	s.keys = map[string]*keyRec{}
	s.materials = map[string]*material{}
	s.aliases = map[string]*aliasRec{}
	s.grants = map[string]*grantRec{}
	s.imports = map[string]*importRec{}
	s.grantGen.Add(1)
	s.stMu.Lock()
	s.stores = map[string]*storeRec{}
	s.stMu.Unlock()
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Name implements state.Part.
func (s *Service) Name() string { return "kms" }

// Snapshot implements state.Part.
func (s *Service) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.stMu.RLock()
	defer s.stMu.RUnlock()
	return json.Marshal(persisted{Format: snapshotFormat, Version: snapshotVersion, Keys: s.keys,
		Materials: s.materials, Aliases: s.aliases, Grants: s.grants, Imports: s.imports, Stores: s.stores})
}

// Restore implements state.Part.
func (s *Service) Restore(data []byte) error {
	var p persisted
	if data != nil {
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("kms: restore: %w", err)
		}
		if p.Format != snapshotFormat || p.Version != snapshotVersion {
			return fmt.Errorf("kms: restore: unsupported snapshot %q version %d", p.Format, p.Version)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
	// The HSM part may have been restored with another domain key, its sessions alive.
	s.domain.Store(nil)
	if p.Keys != nil {
		s.keys = p.Keys
	}
	if p.Materials != nil {
		s.materials = p.Materials
	}
	if p.Aliases != nil {
		s.aliases = p.Aliases
	}
	if p.Grants != nil {
		s.grants = p.Grants
	}
	if p.Imports != nil {
		s.imports = p.Imports
	}
	if p.Stores != nil {
		s.stMu.Lock()
		s.stores = p.Stores
		s.stMu.Unlock()
	}
	return nil
}

// ---- commands ----

const (
	cmdPutKey       = "kms.key.put"
	cmdDeleteKey    = "kms.key.delete"
	cmdPutMaterial  = "kms.material.put"
	cmdPutAlias     = "kms.alias.put"
	cmdDeleteAlias  = "kms.alias.delete"
	cmdPutGrant     = "kms.grant.put"
	cmdDeleteGrant  = "kms.grant.delete"
	cmdPutImport    = "kms.import.put"
	cmdDeleteImport = "kms.import.delete"
	cmdPutStore     = "kms.store.put"
	cmdDeleteStore  = "kms.store.delete"
)

// putKeyCmd creates (Expect 0, no existing record) or replaces a key record whose current
// revision is Expect; Material, when set, is put in the same step with ExpectMaterial.
type putKeyCmd struct {
	Key            *keyRec   `json:"key"`
	Expect         uint64    `json:"expect"`
	Material       *material `json:"material,omitempty"`
	ExpectMaterial uint64    `json:"expect_material"`
}

type deleteKeyCmd struct {
	Region string `json:"region"`
	ID     string `json:"id"`
	Expect uint64 `json:"expect"`
	// DeleteMaterial also removes the shared material record (last region of the key).
	DeleteMaterial bool `json:"delete_material"`
}

type putMaterialCmd struct {
	Material *material `json:"material"`
	Expect   uint64    `json:"expect"`
}

type putAliasCmd struct {
	Alias  *aliasRec `json:"alias"`
	Expect uint64    `json:"expect"` // 0: must not exist
}

type deleteByIDCmd struct {
	ID string `json:"id"`
}

// errConflict means a record changed between read and write; the operation retries.
var errConflict = errors.New("kms: concurrent update, retry")

type applyFunc func(s *Service, t time.Time, body json.RawMessage) (any, error)

var applyTable = map[string]applyFunc{
	cmdPutKey:       applyPutKey,
	cmdDeleteKey:    applyDeleteKey,
	cmdPutMaterial:  applyPutMaterial,
	cmdPutAlias:     applyPutAlias,
	cmdDeleteAlias:  applyDeleteAlias,
	cmdPutGrant:     applyPutGrant,
	cmdDeleteGrant:  applyDeleteGrant,
	cmdPutImport:    applyPutImport,
	cmdDeleteImport: applyDeleteImport,
	cmdPutStore:     applyPutStore,
	cmdDeleteStore:  applyDeleteStore,
}

// Apply implements state.Part.
func (s *Service) Apply(index uint64, cmd state.Command) (any, error) {
	fn, ok := applyTable[cmd.Type]
	if !ok || cmd.Version != 1 {
		return nil, fmt.Errorf("kms: unknown command %s v%d", cmd.Type, cmd.Version)
	}
	return fn(s, cmd.Time, cmd.Body)
}

func applyPutKey(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[putKeyCmd](body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := keyIndex(c.Key.Region, c.Key.ID)
	old := s.keys[idx]
	if (old == nil && c.Expect != 0) || (old != nil && old.Revision != c.Expect) {
		return nil, errConflict
	}
	if old == nil && c.Key.CustomKeyStoreID != "" {
		// A key is created in a custom key store only while the store exists (it may
		// have been deleted between CreateKey's checks and this command).
		s.stMu.RLock()
		st := s.stores[c.Key.CustomKeyStoreID]
		s.stMu.RUnlock()
		if st == nil {
			return nil, kmsErr("CustomKeyStoreNotFoundException", "Custom key store %s does not exist", c.Key.CustomKeyStoreID)
		}
	}
	if c.Material != nil {
		om := s.materials[c.Material.ID]
		if (om == nil && c.ExpectMaterial != 0) || (om != nil && om.Revision != c.ExpectMaterial) {
			return nil, errConflict
		}
		m := c.Material
		m.Revision = c.ExpectMaterial + 1
		s.materials[m.ID] = m
	}
	k := c.Key
	k.Revision = c.Expect + 1
	s.keys[idx] = k
	return nil, nil
}

func applyDeleteKey(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[deleteKeyCmd](body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := keyIndex(c.Region, c.ID)
	old := s.keys[idx]
	if old == nil || old.Revision != c.Expect {
		return nil, errConflict
	}
	delete(s.keys, idx)
	if c.DeleteMaterial {
		delete(s.materials, c.ID)
	}
	for n, a := range s.aliases {
		if a.KeyID == c.ID && a.Region == c.Region {
			delete(s.aliases, n)
		}
	}
	for id, g := range s.grants {
		if g.KeyID == c.ID && g.Region == c.Region {
			delete(s.grants, id)
		}
	}
	s.grantGen.Add(1)
	return nil, nil
}

func applyPutMaterial(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[putMaterialCmd](body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.materials[c.Material.ID]
	if (old == nil && c.Expect != 0) || (old != nil && old.Revision != c.Expect) {
		return nil, errConflict
	}
	c.Material.Revision = c.Expect + 1
	s.materials[c.Material.ID] = c.Material
	return nil, nil
}

func aliasIndex(region, name string) string { return region + "/" + name }

func applyPutAlias(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[putAliasCmd](body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := aliasIndex(c.Alias.Region, c.Alias.Name)
	old := s.aliases[idx]
	if old == nil && c.Expect != 0 || old != nil && old.Revision != c.Expect {
		if old != nil && c.Expect == 0 {
			return nil, kmsErr("AlreadyExistsException", "An alias with the name arn:aws:kms:%s:%s:%s already exists", c.Alias.Region, "", c.Alias.Name)
		}
		return nil, errConflict
	}
	c.Alias.Revision = c.Expect + 1
	s.aliases[idx] = c.Alias
	return nil, nil
}

func applyDeleteAlias(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[deleteByIDCmd](body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.aliases, c.ID)
	return nil, nil
}

func applyPutGrant(s *Service, t time.Time, body json.RawMessage) (any, error) {
	g, err := state.DecodeBody[grantRec](body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants[g.ID] = &g
	s.grantGen.Add(1)
	return nil, nil
}

func applyDeleteGrant(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[deleteByIDCmd](body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.grants[c.ID]; !ok {
		return nil, kmsErr("NotFoundException", "grant %s not found", c.ID)
	}
	delete(s.grants, c.ID)
	s.grantGen.Add(1)
	return nil, nil
}

func applyPutImport(s *Service, t time.Time, body json.RawMessage) (any, error) {
	r, err := state.DecodeBody[importRec](body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.imports[r.Token] = &r
	return nil, nil
}

func applyDeleteImport(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[deleteByIDCmd](body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.imports, c.ID)
	return nil, nil
}

func (s *Service) propose(ctx context.Context, typ string, body any) error {
	if s.cfg.Proposer == nil {
		return errors.New("kms: no state store attached")
	}
	_, err := s.cfg.Proposer.Propose(ctx, typ, 1, body)
	return err
}

// update runs a read-modify-write of a key record, retrying on concurrent updates. fn gets a
// copy of the key (and of its material) to change; returning errNoChange skips the write.
func (s *Service) update(ctx context.Context, c Caller, keyID string, fn func(k *keyRec, m *material) error) (*keyRec, error) {
	for attempt := 0; attempt < 10; attempt++ {
		k, m, err := s.resolve(c, keyID)
		if err != nil {
			return nil, err
		}
		nk, nm := k.clone(), m.clone()
		if err := fn(nk, nm); err != nil {
			if errors.Is(err, errNoChange) {
				return k, nil
			}
			return nil, err
		}
		cmd := putKeyCmd{Key: nk, Expect: k.Revision}
		if !materialEqual(m, nm) {
			cmd.Material, cmd.ExpectMaterial = nm, m.Revision
		}
		err = s.propose(ctx, cmdPutKey, cmd)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return nk, nil
	}
	return nil, kmsErr("KMSInternalException", "too many concurrent updates of key %s; retry", keyID)
}

var errNoChange = errors.New("kms: no change")

func materialEqual(a, b *material) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// session returns the HSM session of the KMS service user.
func (s *Service) session(ctx context.Context) (*hsm.Session, error) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.sess != nil && !s.sess.Ended() {
		return s.sess, nil
	}
	sess, err := s.cfg.HSM.ServiceSession(ctx, ServiceUser)
	if err != nil {
		return nil, err
	}
	s.sess = sess
	s.noteSession(sess)
	return sess, nil
}
