package iam

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// AccessKey is IAM's AccessKey shape (CreateAccessKey only: it holds the secret).
type AccessKey struct {
	UserName        string `xml:"UserName"`
	AccessKeyId     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	CreateDate      string `xml:"CreateDate"`
}

// AccessKeyMetadata is IAM's AccessKeyMetadata shape.
type AccessKeyMetadata struct {
	UserName    string `xml:"UserName,omitempty"` // empty only for the root's key
	AccessKeyId string `xml:"AccessKeyId"`
	Status      string `xml:"Status"`
	CreateDate  string `xml:"CreateDate"`
}

type CreateAccessKeyOutput struct {
	AccessKey AccessKey `xml:"AccessKey"`
}

// keyUser is the user an access key operation applies to: UserName, or the calling user.
func keyUser(c Caller, name string) (string, error) {
	if name == "" {
		name = callerUserName(c)
		if name == "" {
			return "", validation("Must specify userName when calling with non-User credentials")
		}
	}
	return name, checkName("UserName", name, 128)
}

func (s *Service) CreateAccessKey(ctx context.Context, c Caller, in UserNameInput) (*CreateAccessKeyOutput, error) {
	name, err := keyUser(c, in.UserName)
	if err != nil {
		return nil, err
	}
	u, err := s.getEntity(kindUser, c.Account, name)
	if err != nil {
		return nil, err
	}
	id, err := s.newID("AKIA", 16)
	if err != nil {
		return nil, err
	}
	secret, err := s.newSecret()
	if err != nil {
		return nil, err
	}
	sealed, err := s.seal(id, []byte(secret))
	if err != nil {
		return nil, err
	}
	k := &accessKey{ID: id, Account: c.Account, UserName: u.Name, Secret: sealed, Status: "Active", Created: second(s.now())}
	if err := s.propose(ctx, cmdKeyCreate, k); err != nil {
		return nil, err
	}
	return &CreateAccessKeyOutput{AccessKey: AccessKey{UserName: u.Name, AccessKeyId: id, Status: "Active", SecretAccessKey: secret,
		CreateDate: k.Created.Format(timeFormat)}}, nil
}

type ListAccessKeysInput struct {
	UserName, Marker string
	MaxItems         int
}

type ListAccessKeysOutput struct {
	AccessKeyMetadata []AccessKeyMetadata `xml:"AccessKeyMetadata>member"`
	IsTruncated       bool                `xml:"IsTruncated"`
	Marker            string              `xml:"Marker,omitempty"`
}

func (s *Service) ListAccessKeys(ctx context.Context, c Caller, in ListAccessKeysInput) (*ListAccessKeysOutput, error) {
	if p, ok := parseARN(c.Principal.ARN); ok && p.Kind == "root" && in.UserName == "" && s.callerSession(c) == nil {
		// The root's own keys. Coffer's root has the one key it is configured with (it
		// cannot create others): the caller's. Its CreateDate is the account's.
		list := []AccessKeyMetadata{{AccessKeyId: c.Principal.AccessKeyID, Status: "Active",
			CreateDate: s.cfg.AccountCreated.UTC().Format(timeFormat)}}
		page, trunc, next, err := paginate(list, in.Marker, in.MaxItems)
		if err != nil {
			return nil, err
		}
		return &ListAccessKeysOutput{AccessKeyMetadata: nonNil(page), IsTruncated: trunc, Marker: next}, nil
	}
	name, err := keyUser(c, in.UserName)
	if err != nil {
		return nil, err
	}
	if _, err := s.getEntity(kindUser, c.Account, name); err != nil {
		return nil, err
	}
	var list []AccessKeyMetadata
	s.mu.RLock()
	for _, k := range s.keys {
		if k.Account == c.Account && strings.EqualFold(k.UserName, name) {
			list = append(list, AccessKeyMetadata{UserName: k.UserName, AccessKeyId: k.ID, Status: k.Status, CreateDate: k.Created.UTC().Format(timeFormat)})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(list, func(a, b AccessKeyMetadata) int {
		if c := strings.Compare(a.CreateDate, b.CreateDate); c != 0 {
			return c
		}
		return strings.Compare(a.AccessKeyId, b.AccessKeyId)
	})
	page, trunc, next, err := paginate(list, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &ListAccessKeysOutput{AccessKeyMetadata: nonNil(page), IsTruncated: trunc, Marker: next}, nil
}

type UpdateAccessKeyInput struct{ UserName, AccessKeyId, Status string }

// checkAccessKeyID validates an AccessKeyId parameter (accessKeyIdType: 16-128 word
// characters).
func checkAccessKeyID(id string) error {
	if len(id) < 16 || len(id) > 128 {
		return validation("1 validation error detected: Value '%s' at 'accessKeyId' failed to satisfy constraint: Member must have length greater than or equal to 16", id)
	}
	if !validAccessKeyID(id) {
		return validation("1 validation error detected: Value '%s' at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+", id)
	}
	return nil
}

func (s *Service) UpdateAccessKey(ctx context.Context, c Caller, in UpdateAccessKeyInput) error {
	name, err := keyUser(c, in.UserName)
	if err != nil {
		return err
	}
	if err := checkAccessKeyID(in.AccessKeyId); err != nil {
		return err
	}
	if in.Status != "Active" && in.Status != "Inactive" {
		return validation("1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", in.Status)
	}
	return s.propose(ctx, cmdKeyUpdate, keyCmd{ID: in.AccessKeyId, Account: c.Account, UserName: name, Status: in.Status})
}

type DeleteAccessKeyInput struct{ UserName, AccessKeyId string }

func (s *Service) DeleteAccessKey(ctx context.Context, c Caller, in DeleteAccessKeyInput) error {
	name, err := keyUser(c, in.UserName)
	if err != nil {
		return err
	}
	if err := checkAccessKeyID(in.AccessKeyId); err != nil {
		return err
	}
	return s.propose(ctx, cmdKeyDelete, keyCmd{ID: in.AccessKeyId, Account: c.Account, UserName: name})
}

// ---- credential resolution ----

// Session describes the temporary credentials behind an access key (ASIA...), for the
// request authenticator: the session token the request must carry, expiry, MFA context and
// session tags.
type Session struct {
	Token       string
	Expiration  time.Time
	MFA         bool
	MFAAuthTime time.Time
	Tags        map[string]string
	Principal   awsproto.Principal
	UserID      string
}

// Lookup implements awsproto.CredentialStore: active long-term access keys of IAM users,
// temporary credentials (with their Expires: expired ones until they are purged, for the
// verifier to answer ExpiredToken), then the configured Root store. For temporary
// credentials the Principal carries the SessionToken the request must present, Expires,
// the MFA context, session tags (over the role's or user's tags), SourceIdentity and
// RoleSessionName.
func (s *Service) Lookup(accessKeyID string) (string, awsproto.Principal, bool) {
	s.mu.RLock()
	var p awsproto.Principal
	var sealed string
	if k := s.keys[accessKeyID]; k != nil {
		if k.Status != "Active" {
			s.mu.RUnlock()
			return "", awsproto.Principal{}, false
		}
		u := s.ents[entKey(kindUser, k.Account, k.UserName)]
		path := "/"
		if u != nil {
			path = u.Path
		}
		p = awsproto.Principal{AccessKeyID: k.ID, Account: k.Account, ARN: userARN(k.Account, path, k.UserName), Type: "IAMUser",
			UserName: k.UserName, Tags: tagMap(u, nil)}
		if u != nil {
			p.UserID = u.ID
		}
		sealed = k.Secret
	} else if x := s.sessions[accessKeyID]; x != nil {
		if !s.sessionLiveLocked(x) {
			// The user or role the session acts for was deleted (and perhaps created
			// again with the same name, another entity): the credentials are invalid
			// (InvalidClientTokenId), not another entity's.
			s.mu.RUnlock()
			return "", awsproto.Principal{}, false
		}
		p = s.sessionPrincipalLocked(x)
		sealed = x.Secret
	}
	s.mu.RUnlock()
	if sealed == "" {
		if s.cfg.Root != nil {
			return s.cfg.Root.Lookup(accessKeyID)
		}
		return "", awsproto.Principal{}, false
	}
	// Expired temporary credentials are still found until PurgeExpiredSessions removes
	// them, with their Expires: the verifier refuses them with ExpiredToken (after it has
	// checked their session token), as AWS does, rather than as an unknown key.
	secret, err := s.unseal(accessKeyID, sealed)
	if err != nil {
		s.cfg.Logger.Error("iam: cannot unseal secret access key", "access_key_id", accessKeyID, "err", err)
		return "", awsproto.Principal{}, false
	}
	return string(secret), p, true
}

// tagMap merges an entity's tags and session tags (which win); nil when there are none.
func tagMap(e *entity, session []Tag) map[string]string {
	var out map[string]string
	add := func(ts []Tag) {
		for _, t := range ts {
			if out == nil {
				out = map[string]string{}
			}
			out[t.Key] = t.Value
		}
	}
	if e != nil {
		add(e.Tags)
	}
	add(session)
	return out
}

// sessionPrincipalLocked is the principal of temporary credentials; s.mu held.
func (s *Service) sessionPrincipalLocked(x *sessionRec) awsproto.Principal {
	p := awsproto.Principal{AccessKeyID: x.AccessKeyID, Account: x.Account, ARN: x.ARN, Type: x.Type,
		SessionToken: x.Token, Expires: x.Expiration, MFAAuthenticated: x.MFA, MFAAuthTime: x.MFAAuthTime,
		SourceIdentity: x.SourceIdentity, RoleSessionName: x.Session, UserID: x.UserID}
	switch {
	case x.RoleName != "":
		p.UserName = x.RoleName
		p.Tags = tagMap(s.ents[entKey(kindRole, x.Account, x.RoleName)], x.Tags)
	case x.UserName != "":
		p.UserName = x.UserName
		p.Tags = tagMap(s.ents[entKey(kindUser, x.Account, x.UserName)], x.Tags)
	case x.Owner != "":
		// A federated user: the tags of the user it was made for, and its session tags.
		var u *entity
		if o, ok := parseARN(x.Owner); ok && o.Kind == "user" {
			u = s.ents[entKey(kindUser, o.Account, o.Name)]
		}
		p.Tags = tagMap(u, x.Tags)
	default:
		p.Tags = tagMap(nil, x.Tags)
	}
	return p
}

// SessionInfo returns the context of unexpired temporary credentials.
func (s *Service) SessionInfo(accessKeyID string) (Session, bool) {
	s.mu.RLock()
	x := s.sessions[accessKeyID]
	if x == nil || !s.now().Before(x.Expiration) || !s.sessionLiveLocked(x) {
		s.mu.RUnlock()
		return Session{}, false
	}
	p := s.sessionPrincipalLocked(x)
	s.mu.RUnlock()
	out := Session{Token: x.Token, Expiration: x.Expiration, MFA: x.MFA, MFAAuthTime: x.MFAAuthTime,
		Principal: p, UserID: x.UserID}
	if len(x.Tags) > 0 {
		out.Tags = map[string]string{}
		for _, t := range x.Tags {
			out.Tags[t.Key] = t.Value
		}
	}
	return out, true
}

// IdentityPolicies returns the JSON documents of the identity-based policies of a principal:
// for a user, its inline and attached managed policies (default versions) and those of its
// groups; for a role or an assumed-role session, the role's inline and attached policies.
// The root and unknown principals have none (the root is not subject to identity policies).
func (s *Service) IdentityPolicies(principalARN string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	docs, _, err := s.identityDocsLocked(principalARN)
	return docs, err
}

// identityDocsLocked is IdentityPolicies, which also returns the user or role behind the
// principal (nil for others); s.mu held.
func (s *Service) identityDocsLocked(principalARN string) ([]string, *entity, error) {
	var docs []string
	e, err := s.identitySourcesLocked(principalARN, func(src policySrc) { docs = append(docs, src.Doc) })
	return docs, e, err
}

// policySrc is one identity policy of a principal and where it comes from, as the policy
// simulator names it: Type is user, group or role for an inline policy of that entity,
// aws-managed or user-managed for a managed policy; ID is the policy's name.
type policySrc struct {
	Type, ID, Doc string
}

// entitySourcesLocked visits the inline policies of e (by name) and then its attached
// managed policies (in attachment order); s.mu held.
func (s *Service) entitySourcesLocked(e *entity, visit func(policySrc)) {
	names := make([]string, 0, len(e.Inline))
	for n := range e.Inline {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		visit(policySrc{Type: e.Kind, ID: n, Doc: e.Inline[n]})
	}
	for _, arn := range e.Attached {
		if m, err := s.managedLocked(e.Account, arn); err == nil {
			typ := "user-managed"
			if m.AWS {
				typ = "aws-managed"
			}
			visit(policySrc{Type: typ, ID: m.Name, Doc: m.defaultDoc()})
		}
	}
}

// identitySourcesLocked visits the identity policies of a principal in the order the
// evaluator sees them (for a user: its own, then those of its groups by group name), and
// returns the user or role behind the principal (nil for others); s.mu held.
func (s *Service) identitySourcesLocked(principalARN string, visit func(policySrc)) (*entity, error) {
	p, ok := parseARN(principalARN)
	if !ok {
		return nil, invalidInput("ARN %s is not valid.", principalARN)
	}
	switch p.Kind {
	case "user":
		u := s.ents[entKey(kindUser, p.Account, p.Name)]
		if u == nil {
			return nil, noSuch("The user with name %s cannot be found.", p.Name)
		}
		s.entitySourcesLocked(u, visit)
		for _, g := range s.groupsOfLocked(u) {
			s.entitySourcesLocked(g, visit)
		}
		return u, nil
	case "role", "assumed-role":
		r := s.ents[entKey(kindRole, p.Account, p.Name)]
		if r == nil {
			return nil, noSuch("The role with name %s cannot be found.", p.Name)
		}
		s.entitySourcesLocked(r, visit)
		return r, nil
	}
	return nil, nil
}

// groupsOfLocked are the groups of user u, by name; s.mu held.
func (s *Service) groupsOfLocked(u *entity) []*entity {
	var groups []*entity
	for _, g := range s.ents {
		if g.Kind == kindGroup && g.Account == u.Account && slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, u.Name) }) {
			groups = append(groups, g)
		}
	}
	slices.SortFunc(groups, func(a, b *entity) int { return strings.Compare(a.Name, b.Name) })
	return groups
}

// PrincipalTags returns the tags of the user or role behind a principal ARN (for an
// assumed-role session, the role's; session tags come with SessionInfo and override them).
func (s *Service) PrincipalTags(principalARN string) map[string]string {
	p, ok := parseARN(principalARN)
	if !ok {
		return nil
	}
	kind := kindUser
	if p.Kind == "role" || p.Kind == "assumed-role" {
		kind = kindRole
	} else if p.Kind != "user" {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.ents[entKey(kind, p.Account, p.Name)]
	if e == nil || len(e.Tags) == 0 {
		return nil
	}
	out := make(map[string]string, len(e.Tags))
	for _, t := range e.Tags {
		out[t.Key] = t.Value
	}
	return out
}

// KeyUse is the last authenticated use of an access key (GetAccessKeyLastUsed).
type KeyUse struct {
	Time    time.Time
	Service string // the service's name, e.g. "kms" (eventSource without .amazonaws.com)
	Region  string
}

// KeyUsage answers the last authenticated use of an access key; ok false: none known.
type KeyUsage func(accessKeyID string) (use KeyUse, ok bool, err error)

// SetKeyUsage sets where GetAccessKeyLastUsed learns a key's last use (the node's audit
// trail). Without it every key answers "N/A".
func (s *Service) SetKeyUsage(f KeyUsage) {
	s.mu.Lock()
	s.keyUsage = f
	s.mu.Unlock()
}

type GetAccessKeyLastUsedInput struct{ AccessKeyId string }

// AccessKeyLastUsed is IAM's AccessKeyLastUsed shape.
type AccessKeyLastUsed struct {
	LastUsedDate string `xml:"LastUsedDate,omitempty"`
	ServiceName  string `xml:"ServiceName"`
	Region       string `xml:"Region"`
}

type GetAccessKeyLastUsedOutput struct {
	UserName          string            `xml:"UserName,omitempty"` // empty for the root's key
	AccessKeyLastUsed AccessKeyLastUsed `xml:"AccessKeyLastUsed"`
}

// validAccessKeyID: AWS's AccessKeyId (16–128 letters, digits or _).
func validAccessKeyID(id string) bool {
	if len(id) < 16 || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// GetAccessKeyLastUsed answers when an access key of the caller's account was last used to
// sign an authenticated request, for which service and in which region. A key never used
// (or not within the trail's retention) answers ServiceName and Region "N/A" without a
// date, as on AWS.
func (s *Service) GetAccessKeyLastUsed(ctx context.Context, c Caller, in GetAccessKeyLastUsedInput) (*GetAccessKeyLastUsedOutput, error) {
	if !validAccessKeyID(in.AccessKeyId) {
		return nil, validation("1 validation error detected: Value at 'accessKeyId' failed to satisfy constraint: Member must have length between 16 and 128 and contain only letters, digits and _")
	}
	user, ok := s.keyOwner(c.Account, in.AccessKeyId)
	if !ok {
		return nil, noSuch("The Access Key with id %s cannot be found", in.AccessKeyId)
	}
	out := &GetAccessKeyLastUsedOutput{UserName: user}
	s.mu.RLock()
	usage := s.keyUsage
	s.mu.RUnlock()
	out.AccessKeyLastUsed = AccessKeyLastUsed{ServiceName: "N/A", Region: "N/A"}
	if usage != nil {
		use, ok, err := usage(in.AccessKeyId)
		if err != nil {
			return nil, err
		}
		if ok {
			out.AccessKeyLastUsed = AccessKeyLastUsed{LastUsedDate: use.Time.UTC().Format(timeFormat), ServiceName: use.Service, Region: use.Region}
		}
	}
	return out, nil
}

// keyOwner returns the user whose access key id is, in account ("" for the root's key);
// ok false: no key of the account has that id.
func (s *Service) keyOwner(account, id string) (user string, ok bool) {
	s.mu.RLock()
	k := s.keys[id]
	if k != nil && k.Account == account {
		user = k.UserName
	}
	s.mu.RUnlock()
	if user != "" {
		return user, true
	}
	return "", s.rootKeyOf(account, id)
}

// rootKeys lists the root credentials' access keys of account, when the root credentials
// are a fixed set (the configured root key); otherwise none can be listed.
func (s *Service) rootKeys(account string) []string {
	st, ok := s.cfg.Root.(awsproto.StaticCredentials)
	if !ok {
		return nil
	}
	var ids []string
	for id, cred := range st {
		if cred.Principal.Account == account {
			ids = append(ids, id)
		}
	}
	return ids
}

// rootKeyOf reports whether id is the root credentials' key of account.
func (s *Service) rootKeyOf(account, id string) bool {
	if s.cfg.Root == nil {
		return false
	}
	_, p, ok := s.cfg.Root.Lookup(id)
	return ok && p.Account == account
}
