package kms

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

// Authorization (Config.Enforce) follows AWS KMS: every operation is authorized in the
// dispatch (op) before it runs, as action kms:<Operation> on a resource:
//
//   - key-scoped operations on the key's ARN, decided by policy.KMSDecide with the key
//     policy, the caller's identity policies and the caller's grants on the key. The
//     account root is not special: the key policy decides (the default key policy allows
//     the root kms:* and delegates to identity policies).
//   - account-level operations (CreateKey, ListKeys, ListAliases, GenerateRandom,
//     ListRetirableGrants, the custom key store operations) on "*", decided by
//     policy.Decide with the identity policies only; the account root is always allowed.
//   - CreateAlias, UpdateAlias and DeleteAlias need the permission on the alias ARN
//     (identity policies) and on the key(s) (as key-scoped operations).
//   - ReEncrypt needs kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the
//     destination key.
//   - RetireGrant is decided by the grant: its retiring principal, its grantee when the
//     grant allows RetireGrant, or the root of the key's account may retire it.
//
// The caller's permissions boundary and the session policies of its credentials
// (Config.Identities, CredentialPolicies) limit the identity policies, grants and key
// policy statements that name the role or the account; a key policy statement naming the
// caller's own ARN is not limited by them.
//
// Grant tokens are accepted (their format is validated by the operations) but not needed:
// grants are strongly consistent, a grant is effective as soon as CreateGrant returns.

// Principal types of Caller.PrincipalType.
const (
	PrincipalRoot          = "Root"
	PrincipalIAMUser       = "IAMUser"
	PrincipalAssumedRole   = "AssumedRole"
	PrincipalFederatedUser = "FederatedUser"
)

// IdentityPolicies gives the identity-based policies that apply to a principal: for an
// IAM user its inline and attached policies and those of its groups; for an assumed-role
// session those of the role; and its permissions boundary (policy.BoundaryLayer). The
// account root has none and is never asked. The returned policies are
// used read-only; implementations should cache them (policies are immutable; see also
// CachedIdentityDocuments). An error fails the request with KMSInternalException.
type IdentityPolicies interface {
	IdentityPolicies(principalARN string) ([]*policy.Policy, error)
}

// CredentialPolicies is an IdentityPolicies that also knows the policies of the
// credentials a request was signed with: the session policies of temporary credentials
// (policy.SessionLayer). KMS asks it with Caller.AccessKeyID.
type CredentialPolicies interface {
	CredentialPolicies(principalARN, accessKeyID string) ([]*policy.Policy, error)
}

// identityPolicies are the policies of the caller (identity, boundary, session).
func (s *Service) identityPolicies(c *Caller) ([]*policy.Policy, error) {
	if cp, ok := s.cfg.Identities.(CredentialPolicies); ok {
		return cp.CredentialPolicies(c.principal().ARN, c.AccessKeyID)
	}
	return s.cfg.Identities.IdentityPolicies(c.principal().ARN)
}

// IdentityDocumentsFunc returns the JSON documents of a principal's identity policies.
type IdentityDocumentsFunc func(principalARN string) ([]string, error)

// CachedIdentityDocuments adapts a source of policy documents to IdentityPolicies: each
// document is parsed once and cached by its content (policy.Cache). A document that does
// not parse fails the request (KMSInternalException) rather than being skipped: had it
// been a Deny, skipping it would allow what it forbids.
func CachedIdentityDocuments(fn IdentityDocumentsFunc) IdentityPolicies {
	return &docCache{fn: fn}
}

type docCache struct {
	fn    IdentityDocumentsFunc
	cache policy.Cache
}

// IdentityPolicies fails (closed) when a document does not parse.
func (d *docCache) IdentityPolicies(arn string) ([]*policy.Policy, error) {
	docs, err := d.fn(arn)
	if err != nil || len(docs) == 0 {
		return nil, err
	}
	return d.cache.Parse(docs)
}

// ---- what a request needs ----

type authScope uint8

const (
	scopeAccount authScope = iota // resource "*", identity policies only
	scopeKey                      // the key's ARN, key policy + identity + grants
	scopeAlias                    // the alias ARN, identity policies only
	scopeRetire                   // RetireGrant: decided by the grant
)

// authCheck is one permission a request needs.
type authCheck struct {
	scope  authScope
	action string // kms:<Op> unless set
	keyID  string // scopeKey: KeyId as given (ID, ARN, alias name or alias ARN)
	blob   []byte // scopeKey without keyID: a symmetric ciphertext naming its key
	alias  string // scopeAlias: the alias name
	ec     map[string]string
	hasEC  bool                // the operation takes an encryption context
	keys   map[string][]string // operation-specific condition keys
	// retire: RetireGrant's designation of the grant.
	grantToken, grantID string
}

// authInput is implemented by every operation's request type (authz_inputs.go): it says
// which permissions the request needs for operation op.
type authInput interface {
	authChecks(op string) []authCheck
}

// ---- caches ----

type authzCache struct {
	mu          sync.RWMutex
	keyPolicies map[string]cachedKeyPolicy // key index
	grantSets   map[string]cachedGrants    // key index
	grantPols   map[string]*policy.Policy  // grant id (grants are immutable)
}

type cachedKeyPolicy struct {
	doc string
	pol *policy.Policy
}

type cachedGrants struct {
	gen  uint64
	list []grantPolicy
}

type grantPolicy struct {
	grantee string
	pol     *policy.Policy
}

func (a *authzCache) init() {
	a.keyPolicies = map[string]cachedKeyPolicy{}
	a.grantSets = map[string]cachedGrants{}
	a.grantPols = map[string]*policy.Policy{}
}

// keyPolicy returns the compiled policy of a key (nil if it does not compile: no one is
// allowed by it).
func (s *Service) keyPolicy(idx, doc string) *policy.Policy {
	a := &s.authz
	a.mu.RLock()
	c, ok := a.keyPolicies[idx]
	a.mu.RUnlock()
	if ok && c.doc == doc {
		return c.pol
	}
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		s.cfg.Logger.Warn("kms: key policy does not compile; the key policy allows nothing", "key", idx, "err", err)
		p = nil
	}
	a.mu.Lock()
	if len(a.keyPolicies) > 65536 {
		clear(a.keyPolicies)
	}
	a.keyPolicies[idx] = cachedKeyPolicy{doc: doc, pol: p}
	a.mu.Unlock()
	return p
}

// grantsOf returns the grant policies of a key whose grantee is the caller.
func (s *Service) grantsOf(idx, region, keyID string, c *Caller) []*policy.Policy {
	a := &s.authz
	gen := s.grantGen.Load()
	a.mu.RLock()
	cg, ok := a.grantSets[idx]
	a.mu.RUnlock()
	if !ok || cg.gen != gen {
		cg = s.buildGrants(idx, region, keyID, gen)
	}
	var out []*policy.Policy
	role := roleOfSession(c.Principal)
	for _, g := range cg.list {
		if g.grantee == c.Principal || (role != "" && g.grantee == role) {
			out = append(out, g.pol)
		}
	}
	return out
}

func (s *Service) buildGrants(idx, region, keyID string, gen uint64) cachedGrants {
	var gs []grantRec
	s.mu.RLock()
	for _, g := range s.grants {
		if g.Region == region && g.KeyID == keyID {
			gs = append(gs, *g)
		}
	}
	nGrants := len(s.grants)
	s.mu.RUnlock()
	a := &s.authz
	cg := cachedGrants{gen: gen}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, g := range gs {
		p, ok := a.grantPols[g.ID]
		if !ok {
			p = grantToPolicy(&g)
			a.grantPols[g.ID] = p
		}
		if p != nil {
			cg.list = append(cg.list, grantPolicy{grantee: g.GranteePrincipal, pol: p})
		}
	}
	if len(a.grantPols) > 2*nGrants+256 {
		// Forget the policies of deleted grants.
		s.mu.RLock()
		for id := range a.grantPols {
			if s.grants[id] == nil {
				delete(a.grantPols, id)
			}
		}
		s.mu.RUnlock()
	}
	if len(a.grantSets) >= 65536 {
		clear(a.grantSets)
	}
	a.grantSets[idx] = cg
	return cg
}

// grantToPolicy is a grant as an identity-like policy: one Allow statement of its
// operations with its constraints as conditions. EncryptionContextEquals requires each
// pair (StringEquals on kms:EncryptionContext:<key>) and no other key
// (ForAllValues:StringEquals on kms:EncryptionContextKeys); EncryptionContextSubset
// requires each pair. Condition key names are matched case-insensitively by the policy
// engine, so a Subset constraint's keys are not case-sensitive (AWS's are).
func grantToPolicy(g *grantRec) *policy.Policy {
	actions := make([]string, 0, len(g.Operations))
	for _, o := range g.Operations {
		actions = append(actions, "kms:"+o)
	}
	st := map[string]any{"Effect": "Allow", "Action": actions, "Resource": "*"}
	if gc := g.Constraints; gc != nil {
		eq := map[string]string{}
		cond := map[string]any{}
		for k, v := range gc.EncryptionContextSubset {
			eq["kms:EncryptionContext:"+k] = v
		}
		if len(gc.EncryptionContextEquals) > 0 {
			keys := make([]string, 0, len(gc.EncryptionContextEquals))
			for k, v := range gc.EncryptionContextEquals {
				eq["kms:EncryptionContext:"+k] = v
				keys = append(keys, k)
			}
			cond["ForAllValues:StringEquals"] = map[string]any{"kms:EncryptionContextKeys": keys}
		}
		if len(eq) > 0 {
			cond["StringEquals"] = eq
		}
		if len(cond) > 0 {
			st["Condition"] = cond
		}
	}
	doc, err := json.Marshal(map[string]any{"Version": policy.Version2012, "Statement": []any{st}})
	if err != nil {
		return nil
	}
	p, err := policy.Parse(doc)
	if err != nil {
		return nil
	}
	return p
}

// ---- the decision ----

var allowEverything = policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`)

func accessDenied(c *Caller, action, resource, why string) *Error {
	return kmsErr("AccessDeniedException", "User: %s is not authorized to perform: %s on resource: %s %s", c.principal().ARN, action, resource, why)
}

// isRoot reports whether the caller is its account's root.
func (c *Caller) isRoot() bool {
	if c.PrincipalType != "" {
		return c.PrincipalType == PrincipalRoot
	}
	return c.Principal == "" || c.Principal == "arn:aws:iam::"+c.Account+":root"
}

func (c *Caller) principalType() string {
	if c.PrincipalType != "" {
		return c.PrincipalType
	}
	switch {
	case c.isRoot():
		return PrincipalRoot
	case strings.Contains(c.Principal, ":assumed-role/"):
		return PrincipalAssumedRole
	case strings.Contains(c.Principal, ":federated-user/"):
		return PrincipalFederatedUser
	}
	return PrincipalIAMUser
}

// roleOfSession is the role ARN of an assumed-role session ARN, "" otherwise.
func roleOfSession(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" {
		return ""
	}
	rest, ok := strings.CutPrefix(parts[5], "assumed-role/")
	if !ok {
		return ""
	}
	role, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + role
}

// principal is the caller as the policy engine sees it.
func (c *Caller) principal() policy.Principal {
	p := policy.Principal{ARN: c.Principal, Account: c.Account, Tags: c.PrincipalTags, UserID: c.UserID}
	if p.ARN == "" {
		p.ARN = "arn:aws:iam::" + c.Account + ":root"
	}
	switch c.principalType() {
	case PrincipalRoot:
		if p.UserID == "" {
			p.UserID = c.Account
		}
	case PrincipalIAMUser:
		p.Username = c.UserName
		if p.Username == "" {
			if i := strings.LastIndexByte(c.Principal, '/'); i >= 0 {
				p.Username = c.Principal[i+1:]
			}
		}
	}
	return p
}

// callerContext fills the global condition keys of the caller and the request.
// Condition-key values shared by every request (the evaluator only reads them).
var (
	ctxAccount       = []string{"Account"}
	ctxUser          = []string{"User"}
	ctxAssumedRole   = []string{"AssumedRole"}
	ctxFederatedUser = []string{"FederatedUser"}
	ctxTrue          = []string{"true"}
	ctxFalse         = []string{"false"}
)

func ctxBool(b bool) []string {
	if b {
		return ctxTrue
	}
	return ctxFalse
}

// clockKeys are aws:CurrentTime and aws:EpochTime for one second, shared by the
// requests of that second.
type clockKeys struct {
	sec            int64
	current, epoch []string
}

var clockCache atomic.Pointer[clockKeys]

func clockContext(now time.Time) *clockKeys {
	sec := now.Unix()
	if k := clockCache.Load(); k != nil && k.sec == sec {
		return k
	}
	k := &clockKeys{sec: sec, current: []string{now.UTC().Format(time.RFC3339)}, epoch: []string{strconv.FormatInt(sec, 10)}}
	clockCache.Store(k)
	return k
}

func (s *Service) callerContext(c *Caller, m map[string][]string) {
	now := s.now()
	switch c.principalType() {
	case PrincipalRoot:
		m["aws:PrincipalType"] = ctxAccount
	case PrincipalIAMUser:
		m["aws:PrincipalType"] = ctxUser
	case PrincipalAssumedRole:
		m["aws:PrincipalType"] = ctxAssumedRole
	case PrincipalFederatedUser:
		m["aws:PrincipalType"] = ctxFederatedUser
	}
	ck := clockContext(now)
	m["aws:CurrentTime"] = ck.current
	m["aws:EpochTime"] = ck.epoch
	m["aws:SecureTransport"] = ctxBool(c.SecureTransport)
	m["aws:PrincipalIsAWSService"] = ctxFalse
	if c.Region != "" {
		m["aws:RequestedRegion"] = []string{c.Region}
	}
	if c.SourceIP != "" {
		m["aws:SourceIp"] = []string{c.SourceIP}
	}
	if c.TemporaryCredentials {
		m["aws:MultiFactorAuthPresent"] = ctxBool(c.MFAPresent)
		if c.MFAPresent && !c.MFAAuthTime.IsZero() {
			m["aws:MultiFactorAuthAge"] = []string{strconv.FormatInt(int64(now.Sub(c.MFAAuthTime)/time.Second), 10)}
		}
	}
	m["kms:CallerAccount"] = []string{c.Account}
}

func addEC(m map[string][]string, ec map[string]string) {
	if len(ec) == 0 {
		return
	}
	keys := make([]string, 0, len(ec))
	for k, v := range ec {
		m["kms:EncryptionContext:"+k] = []string{v}
		keys = append(keys, k)
	}
	m["kms:EncryptionContextKeys"] = keys
}

// authorize checks every permission the request in needs for operation op.
func (s *Service) authorize(ctx context.Context, c Caller, op string, in authInput) error {
	checks := in.authChecks(op)
	if len(checks) == 0 {
		return nil
	}
	var identity []*policy.Policy
	fetched := false
	ids := func() ([]*policy.Policy, error) {
		if fetched || c.isRoot() || s.cfg.Identities == nil {
			return identity, nil
		}
		fetched = true
		var err error
		identity, err = s.identityPolicies(&c)
		if err != nil {
			return nil, kmsErr("KMSInternalException", "cannot read the identity policies of %s: %v", c.Principal, err)
		}
		return identity, nil
	}
	for i := range checks {
		if err := s.check(&c, op, &checks[i], ids); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) check(c *Caller, op string, ch *authCheck, ids func() ([]*policy.Policy, error)) error {
	action := ch.action
	if action == "" {
		action = "kms:" + op
	}
	req := policy.Request{Principal: c.principal(), Action: action, Context: make(map[string][]string, 16)}
	s.callerContext(c, req.Context)
	for k, v := range ch.keys {
		req.Context[k] = v
	}
	if ch.hasEC {
		addEC(req.Context, ch.ec)
	}
	switch ch.scope {
	case scopeAccount, scopeAlias:
		req.Resource = "*"
		if ch.scope == scopeAlias {
			req.Resource = aliasARN(c.Region, c.Account, ch.alias)
		}
		if c.isRoot() {
			return nil
		}
		identity, err := ids()
		if err != nil {
			return err
		}
		d := policy.Decide(&req, identity, nil)
		if d.Allowed {
			return nil
		}
		return accessDenied(c, action, req.Resource, d.DeniedWhy(action))
	case scopeRetire:
		return s.checkRetire(c, ch)
	}
	// Key-scoped.
	k, aliases, err := s.authKey(c, ch, req.Context)
	if err != nil {
		return err
	}
	if k == nil {
		return nil // the operation reports the malformed request
	}
	req.Resource = k.arn()
	idx := keyIndex(k.Region, k.ID)
	keyPol := s.keyPolicy(idx, k.Policy)
	identity, err := ids()
	if err != nil {
		return err
	}
	if keyPol != nil && policyMentions(keyPol, identity, "kms:ResourceAliases") {
		req.Context["kms:ResourceAliases"] = aliases()
	}
	grants := s.grantsOf(idx, k.Region, k.ID, c)
	d := policy.KMSDecide(&req, keyPol, identity, grants)
	if d.Allowed {
		return nil
	}
	if d.Reason == policy.ExplicitDeny || d.Matched.Set == policy.BoundarySet || d.Matched.Set == policy.SessionSet {
		return accessDenied(c, action, req.Resource, d.DeniedWhy(action))
	}
	// Would an identity policy have sufficed (the key policy delegates to the account)?
	if policy.KMSDecide(&req, keyPol, []*policy.Policy{allowEverything}, nil).Allowed {
		return accessDenied(c, action, req.Resource, "because no identity-based policy allows the "+action+" action")
	}
	return accessDenied(c, action, req.Resource, "because no resource-based policy allows the "+action+" action")
}

// authKey resolves the key of a key-scoped check and fills the key's condition keys. It
// returns a nil key (and no error) when the request is malformed in a way the operation
// reports itself.
func (s *Service) authKey(c *Caller, ch *authCheck, m map[string][]string) (*keyRec, func() []string, error) {
	ref := ch.keyID
	fromBlob := false
	if ch.blob != nil && ref == "" {
		bh, err := parseBlob(ch.blob)
		if err != nil {
			return nil, nil, nil
		}
		ref, fromBlob = bh.keyID, true
	}
	if ref == "" && ch.blob != nil {
		return nil, nil, nil
	}
	s.mu.RLock()
	k, _, err := s.resolveLocked(*c, ref)
	var kc keyRec
	if err == nil {
		kc = *k
	}
	s.mu.RUnlock()
	if err != nil {
		var ke *Error
		if fromBlob && errors.As(err, &ke) && ke.Code == "NotFoundException" {
			return nil, nil, kmsErr("InvalidCiphertextException", "The ciphertext refers to a key that does not exist in %s or was altered.", c.Region)
		}
		return nil, nil, err
	}
	if kc.Account != c.Account {
		return nil, nil, notFound("Key '%s' does not exist", keyARN(kc.Region, c.Account, kc.ID))
	}
	if a := requestAlias(ref); a != "" {
		m["kms:RequestAlias"] = []string{a}
	}
	m["kms:KeySpec"] = []string{kc.Spec}
	m["kms:KeyUsage"] = []string{kc.Usage}
	m["kms:KeyOrigin"] = []string{kc.Origin}
	m["kms:MultiRegion"] = []string{strconv.FormatBool(kc.MultiRegion)}
	for _, t := range kc.Tags {
		m["aws:ResourceTag/"+t.TagKey] = []string{t.TagValue}
	}
	aliases := func() []string {
		var out []string
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, a := range s.aliases {
			if a.Region == kc.Region && a.KeyID == kc.ID {
				out = append(out, a.Name)
			}
		}
		return out
	}
	return &kc, aliases, nil
}

// requestAlias is the alias name of a KeyId that is an alias name or alias ARN.
func requestAlias(ref string) string {
	if strings.HasPrefix(ref, "alias/") {
		return ref
	}
	if strings.HasPrefix(ref, "arn:") {
		if parts := strings.SplitN(ref, ":", 6); len(parts) == 6 && strings.HasPrefix(parts[5], "alias/") {
			return parts[5]
		}
	}
	return ""
}

// policyMentions reports whether the key policy or an identity policy has a condition on
// the key (costly keys are computed only then).
func policyMentions(keyPol *policy.Policy, identity []*policy.Policy, key string) bool {
	for _, p := range append([]*policy.Policy{keyPol}, identity...) {
		if p == nil {
			continue
		}
		for _, st := range p.Statements {
			for _, cd := range st.Condition {
				if strings.EqualFold(cd.Key, key) {
					return true
				}
			}
		}
	}
	return false
}

// checkRetire authorizes RetireGrant: the grant's retiring principal, its grantee if the
// grant allows RetireGrant, or the root of the key's account. Requests that designate no
// existing grant are left to the operation (it reports them).
func (s *Service) checkRetire(c *Caller, ch *authCheck) error {
	s.mu.RLock()
	var g *grantRec
	if ch.grantToken != "" {
		g = s.grantByTokenLocked(ch.grantToken)
	} else if ch.grantID != "" {
		g = s.grants[ch.grantID]
	}
	var gc grantRec
	if g != nil {
		gc = *g
	}
	s.mu.RUnlock()
	if g == nil {
		return nil
	}
	who := c.principal().ARN
	role := roleOfSession(who)
	switch {
	case gc.RetiringPrincipal != "" && (gc.RetiringPrincipal == who || gc.RetiringPrincipal == role):
		return nil
	case (gc.GranteePrincipal == who || (role != "" && gc.GranteePrincipal == role)) && contains(gc.Operations, "RetireGrant"):
		return nil
	case c.isRoot() && gc.IssuingAccount == grantIssuingAccount(c.Account):
		return nil
	}
	return accessDenied(c, "kms:RetireGrant", keyARN(gc.Region, c.Account, gc.KeyID), "because the grant does not allow the caller to retire it")
}

// checkLockout is the policy lockout safety check of CreateKey, PutKeyPolicy and
// ReplicateKey. With Enforce it evaluates the new policy: the caller must be allowed
// kms:PutKeyPolicy on the key by it (with its identity policies, in the current request
// context), and the document must compile. Without Enforce it is CheckPolicyLockout.
func (s *Service) checkLockout(c Caller, doc, keyARN string, bypass bool) error {
	if !s.cfg.Enforce {
		if bypass {
			return nil
		}
		return CheckPolicyLockout(doc, c.Account, c.Principal)
	}
	p, err := policy.Parse([]byte(doc))
	if err == nil {
		err = p.ValidateResource()
	}
	if err != nil {
		var pe *policy.ParseError
		if errors.As(err, &pe) {
			return malformedPolicy("%s", pe.Reason)
		}
		return malformedPolicy("%v", err)
	}
	if bypass {
		return nil
	}
	req := policy.Request{Principal: c.principal(), Action: "kms:PutKeyPolicy", Resource: keyARN, Context: map[string][]string{}}
	s.callerContext(&c, req.Context)
	var identity []*policy.Policy
	if !c.isRoot() && s.cfg.Identities != nil {
		if identity, err = s.identityPolicies(&c); err != nil {
			return kmsErr("KMSInternalException", "cannot read the identity policies of %s: %v", c.Principal, err)
		}
	}
	if !policy.KMSDecide(&req, p, identity, nil).Allowed {
		return lockoutErr()
	}
	return nil
}
