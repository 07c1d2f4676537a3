package iam

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

// Tag is an IAM tag.
type Tag struct {
	Key   string `xml:"Key" json:"k"`
	Value string `xml:"Value" json:"v"`
}

// Entity kinds.
const (
	kindUser  = "user"
	kindRole  = "role"
	kindGroup = "group"
)

// AWS quotas enforced here.
const (
	maxAccessKeysPerUser  = 2
	maxPolicyVersions     = 5
	maxAttachedPolicies   = 10
	maxGroupsPerUser      = 10
	maxTags               = 50
	maxMFADevicesPerUser  = 8
	defaultMaxSession     = 3600
	managedPolicyMaxChars = 6144
	trustPolicyMaxChars   = 2048
)

// entity is a user, role or group. Names are unique per account and kind, case-insensitively.
type entity struct {
	Kind     string            `json:"kind"`
	Account  string            `json:"account"`
	Name     string            `json:"name"`
	Path     string            `json:"path"`
	ID       string            `json:"id"`
	Created  time.Time         `json:"created"`
	Tags     []Tag             `json:"tags,omitempty"`
	Inline   map[string]string `json:"inline,omitempty"` // policy name -> JSON document
	Attached []string          `json:"attached,omitempty"`
	// Roles.
	TrustPolicy        string `json:"trust,omitempty"`
	Description        string `json:"description,omitempty"`
	MaxSessionDuration int    `json:"max_session,omitempty"`
	// Groups: member user names.
	Members []string `json:"members,omitempty"`
	// Roles: when and in which region the role was last assumed (RoleLastUsed).
	LastUsed       time.Time `json:"last_used,omitzero"`
	LastUsedRegion string    `json:"last_used_region,omitempty"`
	// Users and roles: the ARN of the managed policy that is the permissions boundary.
	Boundary string `json:"boundary,omitempty"`
}

func (e *entity) arn() string {
	switch e.Kind {
	case kindRole:
		return roleARN(e.Account, e.Path, e.Name)
	case kindGroup:
		return groupARN(e.Account, e.Path, e.Name)
	}
	return userARN(e.Account, e.Path, e.Name)
}

func entKey(kind, acct, name string) string { return kind + "/" + acct + "/" + strings.ToLower(name) }

type policyVersion struct {
	ID       string    `json:"id"`
	Document string    `json:"doc"`
	Created  time.Time `json:"created"`
}

// policyRec is a customer managed policy.
type policyRec struct {
	Account        string          `json:"account"`
	Name           string          `json:"name"`
	Path           string          `json:"path"`
	ID             string          `json:"id"`
	ARN            string          `json:"arn"`
	Description    string          `json:"description,omitempty"`
	Created        time.Time       `json:"created"`
	Updated        time.Time       `json:"updated"`
	DefaultVersion string          `json:"default"`
	NextVersion    int             `json:"next"`
	Versions       []policyVersion `json:"versions"`
	Tags           []Tag           `json:"tags,omitempty"`
}

func (p *policyRec) version(id string) *policyVersion {
	for i := range p.Versions {
		if p.Versions[i].ID == id {
			return &p.Versions[i]
		}
	}
	return nil
}

// accessKey is a long-term access key of a user.
type accessKey struct {
	ID       string    `json:"id"`
	Account  string    `json:"account"`
	UserName string    `json:"user"`
	Secret   string    `json:"secret"` // sealed
	Status   string    `json:"status"`
	Created  time.Time `json:"created"`
}

// mfaDevice is a virtual MFA device.
type mfaDevice struct {
	Serial   string    `json:"serial"`
	Account  string    `json:"account"`
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	Seed     string    `json:"seed"` // sealed
	Created  time.Time `json:"created"`
	UserName string    `json:"user,omitempty"` // enabled for this user
	Enabled  time.Time `json:"enabled,omitzero"`
	// LastCounter is the TOTP time step of the last accepted code (replay guard).
	LastCounter int64 `json:"last_counter"`
	Tags        []Tag `json:"tags,omitempty"`
}

// sessionRec is a set of temporary credentials (GetSessionToken, AssumeRole).
type sessionRec struct {
	AccessKeyID string    `json:"id"`
	Secret      string    `json:"secret"` // sealed
	Token       string    `json:"token"`
	Expiration  time.Time `json:"expiration"`
	Account     string    `json:"account"`
	ARN         string    `json:"arn"`
	Type        string    `json:"type"` // IAMUser (GetSessionToken), AssumedRole, FederatedUser, Root
	UserName    string    `json:"user,omitempty"`
	UserID      string    `json:"user_id"`           // AIDA.. or AROA..:session
	RoleName    string    `json:"role,omitempty"`    // assumed roles
	Session     string    `json:"session,omitempty"` // role session name
	MFA         bool      `json:"mfa"`
	MFAAuthTime time.Time `json:"mfa_time,omitzero"`
	Tags        []Tag     `json:"tags,omitempty"` // session tags
	Created     time.Time `json:"created"`
	// SourceIdentity is the sts:SourceIdentity of an assumed-role session.
	SourceIdentity string `json:"source_identity,omitempty"`
	// Region is the region the session was requested in (the role's RoleLastUsed).
	Region string `json:"region,omitempty"`
	// Session policies (AssumeRole's Policy and PolicyArns): when either is set, the
	// session may do only what they allow too.
	Policy     string   `json:"policy,omitempty"`
	PolicyARNs []string `json:"policy_arns,omitempty"`
	// Owner is the ARN of the IAM user (or root) whose GetFederationToken made a federated
	// user's session: its policies are the session's identity policies.
	Owner string `json:"owner,omitempty"`
	// EntityID is the unique ID (AIDA.../AROA...) of the user or role the session acts
	// for: the user of GetSessionToken, the role of AssumeRole, the user whose
	// GetFederationToken made a federated user ("" for the root's). A session is valid
	// only while that very entity exists (sessionLiveLocked): a user or role deleted and
	// created again with the same name is another entity, as in AWS.
	EntityID string `json:"entity_id,omitempty"`
}

// sessionLiveLocked reports whether the user or role a session acts for still exists and
// is the one it was made for (the same unique ID; a rename keeps it). Sessions made by an
// earlier Coffer have no EntityID: the unique ID in their UserID (GetSessionToken's and
// AssumeRole's) must match, and the entity must not have been created after the session
// (a federated user's, whose UserID holds no ID); s.mu held.
func (s *Service) sessionLiveLocked(x *sessionRec) bool {
	var e *entity
	legacyID := ""
	switch {
	case x.RoleName != "":
		e = s.ents[entKey(kindRole, x.Account, x.RoleName)]
		legacyID, _, _ = strings.Cut(x.UserID, ":")
	case x.Type == federatedType:
		o, ok := parseARN(x.Owner)
		if !ok || o.Kind == "root" {
			return ok
		}
		if o.Kind != kindUser {
			return false
		}
		e = s.ents[entKey(kindUser, o.Account, o.Name)]
	case x.UserName != "":
		e = s.ents[entKey(kindUser, x.Account, x.UserName)]
		legacyID = x.UserID
	default:
		return true // the root's GetSessionToken
	}
	if e == nil {
		return false
	}
	if x.EntityID != "" {
		return e.ID == x.EntityID
	}
	if legacyID != "" && legacyID != e.ID {
		return false
	}
	return !e.Created.After(x.Created)
}

// limited reports whether the session has session policies: those it was given, or (a
// federated user's session) none, which then allows nothing.
func (x *sessionRec) limited() bool {
	return x.Policy != "" || len(x.PolicyARNs) > 0 || x.Type == federatedType
}

// ---- commands ----

const (
	cmdEntityCreate   = "iam.entity.create"
	cmdEntityDelete   = "iam.entity.delete"
	cmdEntityTags     = "iam.entity.tags"
	cmdInlinePut      = "iam.inline.put"
	cmdInlineDelete   = "iam.inline.delete"
	cmdAttach         = "iam.attach"
	cmdDetach         = "iam.detach"
	cmdGroupMember    = "iam.group.member"
	cmdPolicyCreate   = "iam.policy.create"
	cmdPolicyDelete   = "iam.policy.delete"
	cmdPolicyVersion  = "iam.policy.version"
	cmdPolicyDelVer   = "iam.policy.deleteversion"
	cmdPolicyDefault  = "iam.policy.default"
	cmdKeyCreate      = "iam.key.create"
	cmdKeyUpdate      = "iam.key.update"
	cmdKeyDelete      = "iam.key.delete"
	cmdMFACreate      = "iam.mfa.create"
	cmdMFAEnable      = "iam.mfa.enable"
	cmdMFADeactivate  = "iam.mfa.deactivate"
	cmdMFADelete      = "iam.mfa.delete"
	cmdSessionCreate  = "iam.session.create"
	cmdSessionsExpire = "iam.session.expire"
)

// ref names an entity (and, for inline/attach commands, a policy).
type ref struct {
	Kind    string `json:"kind"`
	Account string `json:"account"`
	Name    string `json:"name"`
	// Policy is the inline policy name or the managed policy ARN.
	Policy string `json:"policy,omitempty"`
	Doc    string `json:"doc,omitempty"`
}

type tagsCmd struct {
	ref
	Set    []Tag    `json:"set,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

type memberCmd struct {
	Account string `json:"account"`
	Group   string `json:"group"`
	User    string `json:"user"`
	Add     bool   `json:"add"`
}

type policyVersionCmd struct {
	ARN        string        `json:"arn"`
	Version    policyVersion `json:"version"`
	SetDefault bool          `json:"set_default"`
}

type keyCmd struct {
	ID       string `json:"id"`
	Account  string `json:"account"`
	UserName string `json:"user"`
	Status   string `json:"status,omitempty"`
}

type mfaCmd struct {
	Serial   string `json:"serial"`
	Account  string `json:"account"`
	UserName string `json:"user,omitempty"`
	Counter  int64  `json:"counter,omitempty"`
	// Time is the proposer's clock (EnableDate).
	Time time.Time `json:"time,omitzero"`
}

type sessionCmd struct {
	Session *sessionRec `json:"session"`
	// MFASerial/MFACounter: the code that authenticated the session, consumed atomically.
	MFASerial  string `json:"mfa_serial,omitempty"`
	MFACounter int64  `json:"mfa_counter,omitempty"`
}

type expireCmd struct {
	Before time.Time `json:"before"`
}

type applyFunc func(s *Service, t time.Time, body json.RawMessage) (any, error)

var applyTable = map[string]applyFunc{
	cmdEntityCreate:   applyEntityCreate,
	cmdEntityDelete:   applyEntityDelete,
	cmdEntityTags:     applyEntityTags,
	cmdInlinePut:      applyInlinePut,
	cmdInlineDelete:   applyInlineDelete,
	cmdAttach:         applyAttach,
	cmdDetach:         applyDetach,
	cmdGroupMember:    applyGroupMember,
	cmdPolicyCreate:   applyPolicyCreate,
	cmdPolicyDelete:   applyPolicyDelete,
	cmdPolicyVersion:  applyPolicyVersion,
	cmdPolicyDelVer:   applyPolicyDeleteVersion,
	cmdPolicyDefault:  applyPolicyDefault,
	cmdKeyCreate:      applyKeyCreate,
	cmdKeyUpdate:      applyKeyUpdate,
	cmdKeyDelete:      applyKeyDelete,
	cmdMFACreate:      applyMFACreate,
	cmdMFAEnable:      applyMFAEnable,
	cmdMFADeactivate:  applyMFADeactivate,
	cmdMFADelete:      applyMFADelete,
	cmdSessionCreate:  applySessionCreate,
	cmdSessionsExpire: applySessionsExpire,
	cmdRoleUpdate:     applyRoleUpdate,
	cmdUserUpdate:     applyUserUpdate,
	cmdResourceTags:   applyResourceTags,
	cmdBoundary:       applyBoundary,
}

func kindTitle(kind string) string {
	switch kind {
	case kindRole:
		return "role"
	case kindGroup:
		return "group"
	}
	return "user"
}

// entityLocked returns an entity or NoSuchEntity; s.mu held.
func (s *Service) entityLocked(kind, acct, name string) (*entity, error) {
	e := s.ents[entKey(kind, acct, name)]
	if e == nil {
		return nil, noSuch("The %s with name %s cannot be found.", kindTitle(kind), name)
	}
	return e, nil
}

func applyEntityCreate(s *Service, t time.Time, body json.RawMessage) (any, error) {
	e, err := state.DecodeBody[*entity](body)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, validation("missing entity")
	}
	k := entKey(e.Kind, e.Account, e.Name)
	if s.ents[k] != nil {
		return nil, iamErr("EntityAlreadyExists", "%s with name %s already exists.", strings.ToUpper(e.Kind[:1])+e.Kind[1:], e.Name)
	}
	if e.Boundary != "" && !s.boundaryExistsLocked(e.Account, e.Boundary) {
		return nil, boundaryMissing("NoSuchEntity", e.Boundary)
	}
	s.ents[k] = e
	return nil, nil
}

func applyEntityDelete(s *Service, t time.Time, body json.RawMessage) (any, error) {
	r, err := state.DecodeBody[ref](body)
	if err != nil {
		return nil, err
	}
	e, err := s.entityLocked(r.Kind, r.Account, r.Name)
	if err != nil {
		return nil, err
	}
	conflict := func(what string) error {
		return iamErr("DeleteConflict", "Cannot delete entity, must %s first.", what)
	}
	if len(e.Inline) > 0 {
		return nil, conflict("delete policies")
	}
	if len(e.Attached) > 0 {
		return nil, conflict("detach all policies")
	}
	switch e.Kind {
	case kindUser:
		for _, k := range s.keys {
			if k.Account == e.Account && strings.EqualFold(k.UserName, e.Name) {
				return nil, conflict("delete access keys")
			}
		}
		for _, d := range s.mfas {
			if d.Account == e.Account && strings.EqualFold(d.UserName, e.Name) {
				return nil, conflict("delete MFA device")
			}
		}
		for _, g := range s.ents {
			if g.Kind == kindGroup && g.Account == e.Account && slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, e.Name) }) {
				return nil, conflict("remove users from group")
			}
		}
	case kindGroup:
		if len(e.Members) > 0 {
			return nil, conflict("remove users from group")
		}
	}
	delete(s.ents, entKey(r.Kind, r.Account, r.Name))
	return nil, nil
}

func applyEntityTags(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[tagsCmd](body)
	if err != nil {
		return nil, err
	}
	e, err := s.entityLocked(c.Kind, c.Account, c.Name)
	if err != nil {
		return nil, err
	}
	tags, err := mergeTags(e.Tags, c.Set, c.Remove)
	if err != nil {
		return nil, err
	}
	e.Tags = tags
	return nil, nil
}

func applyInlinePut(s *Service, t time.Time, body json.RawMessage) (any, error) {
	r, err := state.DecodeBody[ref](body)
	if err != nil {
		return nil, err
	}
	e, err := s.entityLocked(r.Kind, r.Account, r.Name)
	if err != nil {
		return nil, err
	}
	// The quota is on all of the entity's inline policies together (the one replaced
	// by this name does not count).
	size := nonSpaceLen(r.Doc)
	for n, doc := range e.Inline {
		if n != r.Policy {
			size += nonSpaceLen(doc)
		}
	}
	if size > inlineMaxChars[e.Kind] {
		return nil, inlineTooBig(e.Kind, e.Name)
	}
	if e.Inline == nil {
		e.Inline = map[string]string{}
	}
	e.Inline[r.Policy] = r.Doc
	return nil, nil
}

func applyInlineDelete(s *Service, t time.Time, body json.RawMessage) (any, error) {
	r, err := state.DecodeBody[ref](body)
	if err != nil {
		return nil, err
	}
	e, err := s.entityLocked(r.Kind, r.Account, r.Name)
	if err != nil {
		return nil, err
	}
	if _, ok := e.Inline[r.Policy]; !ok {
		return nil, noSuch("The %s policy with name %s cannot be found.", kindTitle(r.Kind), r.Policy)
	}
	delete(e.Inline, r.Policy)
	return nil, nil
}

// policyExistsLocked reports whether a managed policy ARN names an AWS managed or a
// customer managed policy.
func (s *Service) policyExistsLocked(arn string) bool {
	if _, ok := awsManaged[arn]; ok {
		return true
	}
	return s.policies[arn] != nil
}

func applyAttach(s *Service, t time.Time, body json.RawMessage) (any, error) {
	r, err := state.DecodeBody[ref](body)
	if err != nil {
		return nil, err
	}
	e, err := s.entityLocked(r.Kind, r.Account, r.Name)
	if err != nil {
		return nil, err
	}
	if !s.policyExistsLocked(r.Policy) {
		return nil, noSuch("Policy %s does not exist or is not attachable.", r.Policy)
	}
	if slices.Contains(e.Attached, r.Policy) {
		return nil, nil
	}
	if len(e.Attached) >= maxAttachedPolicies {
		return nil, iamErr("LimitExceeded", "Cannot exceed quota for PoliciesPer%s: %d", strings.ToUpper(r.Kind[:1])+r.Kind[1:], maxAttachedPolicies)
	}
	e.Attached = append(e.Attached, r.Policy)
	return nil, nil
}

func applyDetach(s *Service, t time.Time, body json.RawMessage) (any, error) {
	r, err := state.DecodeBody[ref](body)
	if err != nil {
		return nil, err
	}
	e, err := s.entityLocked(r.Kind, r.Account, r.Name)
	if err != nil {
		return nil, err
	}
	i := slices.Index(e.Attached, r.Policy)
	if i < 0 {
		return nil, noSuch("Policy %s was not found.", r.Policy)
	}
	e.Attached = slices.Delete(e.Attached, i, i+1)
	return nil, nil
}

func applyGroupMember(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[memberCmd](body)
	if err != nil {
		return nil, err
	}
	g, err := s.entityLocked(kindGroup, c.Account, c.Group)
	if err != nil {
		return nil, err
	}
	u, err := s.entityLocked(kindUser, c.Account, c.User)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(g.Members, func(m string) bool { return strings.EqualFold(m, u.Name) })
	if !c.Add {
		if i < 0 {
			return nil, noSuch("The user with name %s cannot be found in group %s.", u.Name, g.Name)
		}
		g.Members = slices.Delete(g.Members, i, i+1)
		return nil, nil
	}
	if i >= 0 {
		return nil, nil
	}
	n := 0
	for _, o := range s.ents {
		if o.Kind == kindGroup && o.Account == c.Account && slices.ContainsFunc(o.Members, func(m string) bool { return strings.EqualFold(m, u.Name) }) {
			n++
		}
	}
	if n >= maxGroupsPerUser {
		return nil, iamErr("LimitExceeded", "Cannot exceed quota for GroupsPerUser: %d", maxGroupsPerUser)
	}
	g.Members = append(g.Members, u.Name)
	return nil, nil
}

func applyPolicyCreate(s *Service, t time.Time, body json.RawMessage) (any, error) {
	p, err := state.DecodeBody[*policyRec](body)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, validation("missing policy")
	}
	for _, o := range s.policies {
		if o.Account == p.Account && strings.EqualFold(o.Name, p.Name) {
			return nil, iamErr("EntityAlreadyExists", "A policy called %s already exists. Duplicate names are not allowed.", p.Name)
		}
	}
	s.policies[p.ARN] = p
	return nil, nil
}

// attachmentsLocked counts the entities a managed policy is attached to.
func (s *Service) attachmentsLocked(arn string) int {
	n := 0
	for _, e := range s.ents {
		if slices.Contains(e.Attached, arn) {
			n++
		}
	}
	return n
}

func (s *Service) localPolicyLocked(arn string) (*policyRec, error) {
	p := s.policies[arn]
	if p == nil {
		if _, ok := awsManaged[arn]; ok {
			return nil, iamErr("AccessDenied", "AWS managed policy %s cannot be modified.", arn)
		}
		return nil, noSuch("Policy %s does not exist or is not attachable.", arn)
	}
	return p, nil
}

func applyPolicyDelete(s *Service, t time.Time, body json.RawMessage) (any, error) {
	r, err := state.DecodeBody[ref](body)
	if err != nil {
		return nil, err
	}
	p, err := s.localPolicyLocked(r.Policy)
	if err != nil {
		return nil, err
	}
	if s.attachmentsLocked(p.ARN) > 0 || s.boundaryUsesInAccountLocked(p.Account, p.ARN) > 0 {
		return nil, iamErr("DeleteConflict", "Cannot delete a policy attached to entities.")
	}
	if len(p.Versions) > 1 {
		return nil, iamErr("DeleteConflict", "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.")
	}
	delete(s.policies, p.ARN)
	return nil, nil
}

func applyPolicyVersion(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[policyVersionCmd](body)
	if err != nil {
		return nil, err
	}
	p, err := s.localPolicyLocked(c.ARN)
	if err != nil {
		return nil, err
	}
	if len(p.Versions) >= maxPolicyVersions {
		return nil, iamErr("LimitExceeded", "A managed policy can have up to %d versions. Before you create a new version, you must delete an existing version.", maxPolicyVersions)
	}
	p.NextVersion++
	v := c.Version
	v.ID = "v" + itoa(p.NextVersion)
	p.Versions = append(p.Versions, v)
	if c.SetDefault {
		p.DefaultVersion = v.ID
	}
	p.Updated = v.Created
	return v.ID, nil
}

func applyPolicyDeleteVersion(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[policyVersionCmd](body)
	if err != nil {
		return nil, err
	}
	p, err := s.localPolicyLocked(c.ARN)
	if err != nil {
		return nil, err
	}
	if p.version(c.Version.ID) == nil {
		return nil, noSuch("Policy %s version %s does not exist or is not attachable.", c.ARN, c.Version.ID)
	}
	if p.DefaultVersion == c.Version.ID {
		return nil, iamErr("DeleteConflict", "Cannot delete the default version of a policy.")
	}
	p.Versions = slices.DeleteFunc(p.Versions, func(v policyVersion) bool { return v.ID == c.Version.ID })
	return nil, nil
}

func applyPolicyDefault(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[policyVersionCmd](body)
	if err != nil {
		return nil, err
	}
	p, err := s.localPolicyLocked(c.ARN)
	if err != nil {
		return nil, err
	}
	if p.version(c.Version.ID) == nil {
		return nil, noSuch("Policy %s version %s does not exist or is not attachable.", c.ARN, c.Version.ID)
	}
	p.DefaultVersion = c.Version.ID
	p.Updated = c.Version.Created
	return nil, nil
}

func applyKeyCreate(s *Service, t time.Time, body json.RawMessage) (any, error) {
	k, err := state.DecodeBody[*accessKey](body)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, validation("missing key")
	}
	if _, err := s.entityLocked(kindUser, k.Account, k.UserName); err != nil {
		return nil, err
	}
	n := 0
	for _, o := range s.keys {
		if o.Account == k.Account && strings.EqualFold(o.UserName, k.UserName) {
			n++
		}
	}
	if n >= maxAccessKeysPerUser {
		return nil, iamErr("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: %d", maxAccessKeysPerUser)
	}
	if s.keys[k.ID] != nil || s.sessions[k.ID] != nil {
		return nil, iamErr("EntityAlreadyExists", "access key id collision")
	}
	s.keys[k.ID] = k
	return nil, nil
}

func (s *Service) keyLocked(c keyCmd) (*accessKey, error) {
	k := s.keys[c.ID]
	if k == nil || k.Account != c.Account || !strings.EqualFold(k.UserName, c.UserName) {
		return nil, noSuch("The Access Key with id %s cannot be found.", c.ID)
	}
	return k, nil
}

func applyKeyUpdate(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[keyCmd](body)
	if err != nil {
		return nil, err
	}
	k, err := s.keyLocked(c)
	if err != nil {
		return nil, err
	}
	k.Status = c.Status
	return nil, nil
}

func applyKeyDelete(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[keyCmd](body)
	if err != nil {
		return nil, err
	}
	if _, err := s.keyLocked(c); err != nil {
		return nil, err
	}
	delete(s.keys, c.ID)
	return nil, nil
}

func applyMFACreate(s *Service, t time.Time, body json.RawMessage) (any, error) {
	d, err := state.DecodeBody[*mfaDevice](body)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, validation("missing device")
	}
	if s.mfas[d.Serial] != nil {
		return nil, iamErr("EntityAlreadyExists", "MFADevice entity at the same path and name already exists.")
	}
	s.mfas[d.Serial] = d
	return nil, nil
}

func (s *Service) deviceLocked(c mfaCmd) (*mfaDevice, error) {
	d := s.mfas[c.Serial]
	if d == nil || d.Account != c.Account {
		return nil, noSuch("VirtualMFADevice with serial number %s doesn't exist.", c.Serial)
	}
	return d, nil
}

func applyMFAEnable(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[mfaCmd](body)
	if err != nil {
		return nil, err
	}
	d, err := s.deviceLocked(c)
	if err != nil {
		return nil, err
	}
	u, err := s.entityLocked(kindUser, c.Account, c.UserName)
	if err != nil {
		return nil, err
	}
	if d.UserName != "" {
		return nil, iamErr("EntityAlreadyExists", "MFA Device is already in use.")
	}
	if c.Counter <= d.LastCounter {
		return nil, iamErr("InvalidAuthenticationCode", "Authentication code for device is not valid.")
	}
	n := 0
	for _, o := range s.mfas {
		if o.Account == c.Account && strings.EqualFold(o.UserName, u.Name) {
			n++
		}
	}
	if n >= maxMFADevicesPerUser {
		return nil, iamErr("LimitExceeded", "Cannot exceed quota for MFADevicesPerUser: %d", maxMFADevicesPerUser)
	}
	d.UserName, d.Enabled, d.LastCounter = u.Name, c.Time, c.Counter
	return nil, nil
}

func applyMFADeactivate(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[mfaCmd](body)
	if err != nil {
		return nil, err
	}
	d, err := s.deviceLocked(c)
	if err != nil {
		return nil, err
	}
	if d.UserName == "" || !strings.EqualFold(d.UserName, c.UserName) {
		return nil, noSuch("MFA Device with serial number %s is not enabled for user %s.", c.Serial, c.UserName)
	}
	d.UserName, d.Enabled = "", time.Time{}
	return nil, nil
}

func applyMFADelete(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[mfaCmd](body)
	if err != nil {
		return nil, err
	}
	d, err := s.deviceLocked(c)
	if err != nil {
		return nil, err
	}
	if d.UserName != "" {
		return nil, iamErr("DeleteConflict", "MFA Device is in use; deactivate it first.")
	}
	delete(s.mfas, c.Serial)
	return nil, nil
}

func applySessionCreate(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[sessionCmd](body)
	if err != nil {
		return nil, err
	}
	if c.Session == nil {
		return nil, validation("missing session")
	}
	var d *mfaDevice
	if c.MFASerial != "" {
		d = s.mfas[c.MFASerial]
		if d == nil || d.UserName == "" {
			return nil, iamErr("AccessDenied", "MultiFactorAuthentication failed, unable to validate MFA code.")
		}
		if c.MFACounter <= d.LastCounter {
			return nil, iamErr("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code.")
		}
	}
	if s.keys[c.Session.AccessKeyID] != nil || s.sessions[c.Session.AccessKeyID] != nil {
		return nil, iamErr("ServiceFailure", "access key id collision")
	}
	if d != nil {
		d.LastCounter = c.MFACounter
	}
	if c.Session.RoleName != "" {
		if r := s.ents[entKey(kindRole, c.Session.Account, c.Session.RoleName)]; r != nil && c.Session.Created.After(r.LastUsed) {
			r.LastUsed, r.LastUsedRegion = c.Session.Created, c.Session.Region
		}
	}
	s.sessions[c.Session.AccessKeyID] = c.Session
	return nil, nil
}

func applySessionsExpire(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[expireCmd](body)
	if err != nil {
		return nil, err
	}
	n := 0
	for id, x := range s.sessions {
		if !x.Expiration.After(c.Before) {
			delete(s.sessions, id)
			n++
		}
	}
	return n, nil
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
