package iam

import (
	"context"
	"slices"
	"strings"
)

// User is IAM's User shape.
type User struct {
	Path       string `xml:"Path,omitempty"`     // empty only for the root user
	UserName   string `xml:"UserName,omitempty"` // empty only for the root user
	UserId     string `xml:"UserId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
	// PermissionsBoundary is answered by GetUser and CreateUser (not ListUsers).
	PermissionsBoundary *AttachedPermissionsBoundary `xml:"PermissionsBoundary,omitempty"`
	Tags                *Tags                        `xml:"Tags,omitempty"`
}

// Role is IAM's Role shape.
type Role struct {
	Path                     string `xml:"Path"`
	RoleName                 string `xml:"RoleName"`
	RoleId                   string `xml:"RoleId"`
	Arn                      string `xml:"Arn"`
	CreateDate               string `xml:"CreateDate"`
	AssumeRolePolicyDocument string `xml:"AssumeRolePolicyDocument,omitempty"`
	Description              string `xml:"Description,omitempty"`
	MaxSessionDuration       int    `xml:"MaxSessionDuration,omitempty"`
	// PermissionsBoundary is answered by GetRole and CreateRole (not ListRoles).
	PermissionsBoundary *AttachedPermissionsBoundary `xml:"PermissionsBoundary,omitempty"`
	Tags                *Tags                        `xml:"Tags,omitempty"`
	// RoleLastUsed is answered by GetRole only (ListRoles does not return it); empty for
	// a role never assumed.
	RoleLastUsed *RoleLastUsed `xml:"RoleLastUsed,omitempty"`
}

// RoleLastUsed is IAM's RoleLastUsed shape: when and in which region the role was last
// used (Coffer: assumed).
type RoleLastUsed struct {
	LastUsedDate string `xml:"LastUsedDate,omitempty"`
	Region       string `xml:"Region,omitempty"`
}

func roleLastUsedOf(e *entity) *RoleLastUsed {
	if e.LastUsed.IsZero() {
		return &RoleLastUsed{}
	}
	return &RoleLastUsed{LastUsedDate: e.LastUsed.UTC().Format(timeFormat), Region: e.LastUsedRegion}
}

// Group is IAM's Group shape.
type Group struct {
	Path       string `xml:"Path"`
	GroupName  string `xml:"GroupName"`
	GroupId    string `xml:"GroupId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
}

const timeFormat = "2006-01-02T15:04:05Z"

func userOf(e *entity, withTags bool) User {
	u := User{Path: e.Path, UserName: e.Name, UserId: e.ID, Arn: e.arn(), CreateDate: e.Created.UTC().Format(timeFormat)}
	if withTags {
		// ListUsers answers neither tags nor the permissions boundary (IAM's ListUsers).
		u.Tags = tagList(e.Tags)
		u.PermissionsBoundary = boundaryOf(e)
	}
	return u
}

func roleOf(e *entity, full bool) Role {
	r := Role{Path: e.Path, RoleName: e.Name, RoleId: e.ID, Arn: e.arn(), CreateDate: e.Created.UTC().Format(timeFormat),
		AssumeRolePolicyDocument: urlEncode(e.TrustPolicy), Description: e.Description, MaxSessionDuration: e.MaxSessionDuration}
	if full {
		r.Tags = tagList(e.Tags)
		r.PermissionsBoundary = boundaryOf(e)
	}
	return r
}

func groupOf(e *entity) Group {
	return Group{Path: e.Path, GroupName: e.Name, GroupId: e.ID, Arn: e.arn(), CreateDate: e.Created.UTC().Format(timeFormat)}
}

// getEntity returns a copy of an entity.
func (s *Service) getEntity(kind, acct, name string) (*entity, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.entityLocked(kind, acct, name)
	if err != nil {
		return nil, err
	}
	return cloneEntity(e), nil
}

func cloneEntity(e *entity) *entity {
	c := *e
	c.Tags = slices.Clone(e.Tags)
	c.Attached = slices.Clone(e.Attached)
	c.Members = slices.Clone(e.Members)
	if e.Inline != nil {
		c.Inline = make(map[string]string, len(e.Inline))
		for k, v := range e.Inline {
			c.Inline[k] = v
		}
	}
	return &c
}

// listEntities returns copies of an account's entities of a kind under a path prefix,
// sorted by name.
func (s *Service) listEntities(kind, acct, prefix string, keep func(*entity) bool) []*entity {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*entity
	for _, e := range s.ents {
		if e.Kind == kind && e.Account == acct && strings.HasPrefix(e.Path, prefix) && (keep == nil || keep(e)) {
			out = append(out, cloneEntity(e))
		}
	}
	slices.SortFunc(out, func(a, b *entity) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out
}

// callerUserName is the IAM user name of the caller (for operations whose UserName
// defaults to the caller), or "".
func callerUserName(c Caller) string {
	if p, ok := parseARN(c.Principal.ARN); ok && p.Kind == "user" {
		return p.Name
	}
	return ""
}

// checkNewPrincipal validates what CreateUser and CreateRole share: the name (in field),
// path, permissions boundary and tags. It returns the path to use.
func checkNewPrincipal(field, name, path, boundary string, tags []Tag) (string, error) {
	if err := checkName(field, name, 64); err != nil {
		return "", err
	}
	if boundary != "" {
		if err := checkBoundaryARN(boundary); err != nil {
			return "", err
		}
	}
	path, err := checkPath(path)
	if err != nil {
		return "", err
	}
	if err := checkTags(tags); err != nil {
		return "", err
	}
	return path, nil
}

// ---- users ----

type CreateUserInput struct {
	UserName, Path, PermissionsBoundary string
	Tags                                []Tag
}

type CreateUserOutput struct {
	User User `xml:"User"`
}

func (s *Service) CreateUser(ctx context.Context, c Caller, in CreateUserInput) (*CreateUserOutput, error) {
	path, err := checkNewPrincipal("UserName", in.UserName, in.Path, in.PermissionsBoundary, in.Tags)
	if err != nil {
		return nil, err
	}
	id, err := s.newID("AIDA", 17)
	if err != nil {
		return nil, err
	}
	if err := s.checkBoundaryExists(c.Account, in.PermissionsBoundary, "NoSuchEntity"); err != nil {
		return nil, err
	}
	e := &entity{Kind: kindUser, Account: c.Account, Name: in.UserName, Path: path, ID: id, Created: second(s.now()), Tags: in.Tags,
		Boundary: in.PermissionsBoundary}
	if err := s.propose(ctx, cmdEntityCreate, e); err != nil {
		return nil, err
	}
	return &CreateUserOutput{User: userOf(e, true)}, nil
}

type GetUserInput struct{ UserName string }

type GetUserOutput struct {
	User User `xml:"User"`
}

func (s *Service) GetUser(ctx context.Context, c Caller, in GetUserInput) (*GetUserOutput, error) {
	name := in.UserName
	if name == "" {
		name = callerUserName(c)
		if p, ok := parseARN(c.Principal.ARN); name == "" && (!ok || p.Kind != "root") {
			// An assumed role (or any identity that is neither a user nor the root).
			return nil, validation("Must specify userName when calling with non-User credentials")
		}
		if name == "" {
			// The root user: AWS answers with the account's root identity, without
			// UserName and Path, and the account's creation date.
			return &GetUserOutput{User: User{UserId: c.Account, Arn: "arn:aws:iam::" + c.Account + ":root",
				CreateDate: s.cfg.AccountCreated.UTC().Format(timeFormat)}}, nil
		}
	}
	e, err := s.getEntity(kindUser, c.Account, name)
	if err != nil {
		return nil, err
	}
	return &GetUserOutput{User: userOf(e, true)}, nil
}

type ListInput struct {
	PathPrefix, Marker string
	MaxItems           int
}

type ListUsersOutput struct {
	Users       []User `xml:"Users>member"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

func (s *Service) ListUsers(ctx context.Context, c Caller, in ListInput) (*ListUsersOutput, error) {
	if err := checkPathPrefix(in.PathPrefix); err != nil {
		return nil, err
	}
	page, trunc, next, err := paginate(s.listEntities(kindUser, c.Account, in.PathPrefix, nil), in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &ListUsersOutput{Users: []User{}, IsTruncated: trunc, Marker: next}
	for _, e := range page {
		out.Users = append(out.Users, userOf(e, false))
	}
	return out, nil
}

type UserNameInput struct{ UserName string }

func (s *Service) DeleteUser(ctx context.Context, c Caller, in UserNameInput) error {
	if err := checkName("UserName", in.UserName, 128); err != nil {
		return err
	}
	return s.propose(ctx, cmdEntityDelete, ref{Kind: kindUser, Account: c.Account, Name: in.UserName})
}

// ---- roles ----

type CreateRoleInput struct {
	RoleName, Path, AssumeRolePolicyDocument, Description, PermissionsBoundary string
	MaxSessionDuration                                                         *int
	Tags                                                                       []Tag
}

type CreateRoleOutput struct {
	Role Role `xml:"Role"`
}

func (s *Service) CreateRole(ctx context.Context, c Caller, in CreateRoleInput) (*CreateRoleOutput, error) {
	path, err := checkNewPrincipal("RoleName", in.RoleName, in.Path, in.PermissionsBoundary, in.Tags)
	if err != nil {
		return nil, err
	}
	if err := checkRoleDescription(in.Description); err != nil {
		return nil, err
	}
	maxSession := defaultMaxSession
	if in.MaxSessionDuration != nil {
		maxSession = *in.MaxSessionDuration
	}
	if maxSession < 3600 || maxSession > 43200 {
		return nil, validation("1 validation error detected: Value '%d' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600 and less than or equal to 43200", maxSession)
	}
	if _, err := checkDocument(in.AssumeRolePolicyDocument, true, trustPolicyMaxChars); err != nil {
		return nil, err
	}
	id, err := s.newID("AROA", 17)
	if err != nil {
		return nil, err
	}
	// CreateRole's errors (botocore's iam model) have no NoSuchEntity: a missing boundary
	// policy is InvalidInput.
	if err := s.checkBoundaryExists(c.Account, in.PermissionsBoundary, "InvalidInput"); err != nil {
		return nil, err
	}
	e := &entity{Kind: kindRole, Account: c.Account, Name: in.RoleName, Path: path, ID: id, Created: second(s.now()), Tags: in.Tags,
		TrustPolicy: in.AssumeRolePolicyDocument, Description: in.Description, MaxSessionDuration: maxSession, Boundary: in.PermissionsBoundary}
	if err := s.propose(ctx, cmdEntityCreate, e); err != nil {
		return nil, err
	}
	return &CreateRoleOutput{Role: roleOf(e, true)}, nil
}

type RoleNameInput struct{ RoleName string }

type GetRoleOutput struct {
	Role Role `xml:"Role"`
}

func (s *Service) GetRole(ctx context.Context, c Caller, in RoleNameInput) (*GetRoleOutput, error) {
	if err := checkName("RoleName", in.RoleName, 64); err != nil {
		return nil, err
	}
	e, err := s.getEntity(kindRole, c.Account, in.RoleName)
	if err != nil {
		return nil, err
	}
	r := roleOf(e, true)
	r.RoleLastUsed = roleLastUsedOf(e)
	return &GetRoleOutput{Role: r}, nil
}

type ListRolesOutput struct {
	Roles       []Role `xml:"Roles>member"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

func (s *Service) ListRoles(ctx context.Context, c Caller, in ListInput) (*ListRolesOutput, error) {
	if err := checkPathPrefix(in.PathPrefix); err != nil {
		return nil, err
	}
	page, trunc, next, err := paginate(s.listEntities(kindRole, c.Account, in.PathPrefix, nil), in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &ListRolesOutput{Roles: []Role{}, IsTruncated: trunc, Marker: next}
	for _, e := range page {
		out.Roles = append(out.Roles, roleOf(e, false))
	}
	return out, nil
}

func (s *Service) DeleteRole(ctx context.Context, c Caller, in RoleNameInput) error {
	if err := checkName("RoleName", in.RoleName, 64); err != nil {
		return err
	}
	return s.propose(ctx, cmdEntityDelete, ref{Kind: kindRole, Account: c.Account, Name: in.RoleName})
}

// ---- groups ----

type CreateGroupInput struct{ GroupName, Path string }

type CreateGroupOutput struct {
	Group Group `xml:"Group"`
}

func (s *Service) CreateGroup(ctx context.Context, c Caller, in CreateGroupInput) (*CreateGroupOutput, error) {
	if err := checkName("GroupName", in.GroupName, 128); err != nil {
		return nil, err
	}
	path, err := checkPath(in.Path)
	if err != nil {
		return nil, err
	}
	id, err := s.newID("AGPA", 17)
	if err != nil {
		return nil, err
	}
	e := &entity{Kind: kindGroup, Account: c.Account, Name: in.GroupName, Path: path, ID: id, Created: second(s.now())}
	if err := s.propose(ctx, cmdEntityCreate, e); err != nil {
		return nil, err
	}
	return &CreateGroupOutput{Group: groupOf(e)}, nil
}

type GetGroupInput struct {
	GroupName, Marker string
	MaxItems          int
}

type GetGroupOutput struct {
	Group       Group  `xml:"Group"`
	Users       []User `xml:"Users>member"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

func (s *Service) GetGroup(ctx context.Context, c Caller, in GetGroupInput) (*GetGroupOutput, error) {
	if err := checkName("GroupName", in.GroupName, 128); err != nil {
		return nil, err
	}
	g, err := s.getEntity(kindGroup, c.Account, in.GroupName)
	if err != nil {
		return nil, err
	}
	users := s.listEntities(kindUser, c.Account, "", func(u *entity) bool {
		return slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, u.Name) })
	})
	page, trunc, next, err := paginate(users, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &GetGroupOutput{Group: groupOf(g), Users: []User{}, IsTruncated: trunc, Marker: next}
	for _, u := range page {
		out.Users = append(out.Users, userOf(u, false))
	}
	return out, nil
}

type ListGroupsOutput struct {
	Groups      []Group `xml:"Groups>member"`
	IsTruncated bool    `xml:"IsTruncated"`
	Marker      string  `xml:"Marker,omitempty"`
}

func (s *Service) ListGroups(ctx context.Context, c Caller, in ListInput) (*ListGroupsOutput, error) {
	if err := checkPathPrefix(in.PathPrefix); err != nil {
		return nil, err
	}
	return s.groupsPage(s.listEntities(kindGroup, c.Account, in.PathPrefix, nil), in.Marker, in.MaxItems)
}

func (s *Service) groupsPage(groups []*entity, marker string, maxItems int) (*ListGroupsOutput, error) {
	page, trunc, next, err := paginate(groups, marker, maxItems)
	if err != nil {
		return nil, err
	}
	out := &ListGroupsOutput{Groups: []Group{}, IsTruncated: trunc, Marker: next}
	for _, g := range page {
		out.Groups = append(out.Groups, groupOf(g))
	}
	return out, nil
}

type GroupNameInput struct{ GroupName string }

func (s *Service) DeleteGroup(ctx context.Context, c Caller, in GroupNameInput) error {
	if err := checkName("GroupName", in.GroupName, 128); err != nil {
		return err
	}
	return s.propose(ctx, cmdEntityDelete, ref{Kind: kindGroup, Account: c.Account, Name: in.GroupName})
}

type GroupUserInput struct{ GroupName, UserName string }

func (s *Service) AddUserToGroup(ctx context.Context, c Caller, in GroupUserInput) error {
	return s.groupMember(ctx, c, in, true)
}

func (s *Service) RemoveUserFromGroup(ctx context.Context, c Caller, in GroupUserInput) error {
	return s.groupMember(ctx, c, in, false)
}

func (s *Service) groupMember(ctx context.Context, c Caller, in GroupUserInput, add bool) error {
	if err := checkName("GroupName", in.GroupName, 128); err != nil {
		return err
	}
	if err := checkName("UserName", in.UserName, 128); err != nil {
		return err
	}
	return s.propose(ctx, cmdGroupMember, memberCmd{Account: c.Account, Group: in.GroupName, User: in.UserName, Add: add})
}

type ListGroupsForUserInput struct {
	UserName, Marker string
	MaxItems         int
}

func (s *Service) ListGroupsForUser(ctx context.Context, c Caller, in ListGroupsForUserInput) (*ListGroupsOutput, error) {
	if err := checkName("UserName", in.UserName, 128); err != nil {
		return nil, err
	}
	if _, err := s.getEntity(kindUser, c.Account, in.UserName); err != nil {
		return nil, err
	}
	groups := s.listEntities(kindGroup, c.Account, "", func(g *entity) bool {
		return slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, in.UserName) })
	})
	return s.groupsPage(groups, in.Marker, in.MaxItems)
}

// ---- tags ----

// existingNameMax is the longest name the operations on an existing user, group or role
// take (existingUserNameType and groupNameType are 1-128, roleNameType 1-64): a user name
// longer than 64 is a missing user, not a validation error.
func existingNameMax(kind string) int {
	if kind == kindRole {
		return 64
	}
	return 128
}

type TagUserInput struct {
	UserName string
	Tags     []Tag
}

type TagRoleInput struct {
	RoleName string
	Tags     []Tag
}

type UntagUserInput struct {
	UserName string
	TagKeys  []string
}

type UntagRoleInput struct {
	RoleName string
	TagKeys  []string
}

type ListTagsInput struct {
	UserName, RoleName, Marker string
	MaxItems                   int
}

type ListTagsOutput struct {
	Tags        []Tag  `xml:"Tags>member"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

func (s *Service) tag(ctx context.Context, c Caller, kind, name string, set []Tag, remove []string) error {
	if err := checkName(strings.ToUpper(kind[:1])+kind[1:]+"Name", name, existingNameMax(kind)); err != nil {
		return err
	}
	if err := checkTagRequest(set, remove); err != nil {
		return err
	}
	return s.propose(ctx, cmdEntityTags, tagsCmd{ref: ref{Kind: kind, Account: c.Account, Name: name}, Set: set, Remove: remove})
}

func (s *Service) TagUser(ctx context.Context, c Caller, in TagUserInput) error {
	return s.tag(ctx, c, kindUser, in.UserName, nonNil(in.Tags), nil)
}

func (s *Service) TagRole(ctx context.Context, c Caller, in TagRoleInput) error {
	return s.tag(ctx, c, kindRole, in.RoleName, nonNil(in.Tags), nil)
}

func (s *Service) UntagUser(ctx context.Context, c Caller, in UntagUserInput) error {
	return s.tag(ctx, c, kindUser, in.UserName, nil, nonNil(in.TagKeys))
}

func (s *Service) UntagRole(ctx context.Context, c Caller, in UntagRoleInput) error {
	return s.tag(ctx, c, kindRole, in.RoleName, nil, nonNil(in.TagKeys))
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func (s *Service) listTags(c Caller, kind, name string, in ListTagsInput) (*ListTagsOutput, error) {
	if err := checkName(strings.ToUpper(kind[:1])+kind[1:]+"Name", name, existingNameMax(kind)); err != nil {
		return nil, err
	}
	e, err := s.getEntity(kind, c.Account, name)
	if err != nil {
		return nil, err
	}
	page, trunc, next, err := paginate(e.Tags, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &ListTagsOutput{Tags: nonNil(page), IsTruncated: trunc, Marker: next}, nil
}

func (s *Service) ListUserTags(ctx context.Context, c Caller, in ListTagsInput) (*ListTagsOutput, error) {
	return s.listTags(c, kindUser, in.UserName, in)
}

func (s *Service) ListRoleTags(ctx context.Context, c Caller, in ListTagsInput) (*ListTagsOutput, error) {
	return s.listTags(c, kindRole, in.RoleName, in)
}
