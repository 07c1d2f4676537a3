package iam

import (
	"context"
	"slices"
	"strings"
)

// GetAccountAuthorizationDetails: a snapshot of who can do what in the account (users,
// groups, roles and managed policies with their policy documents), for audits.

type GetAccountAuthorizationDetailsInput struct {
	Filter   []string
	Marker   string
	MaxItems int
}

// PolicyDetail is IAM's PolicyDetail shape (an inline policy); PolicyDocument is
// URL-encoded JSON.
type PolicyDetail struct {
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

// The lists of the details are always present (empty when there is nothing), as IAM
// answers, so that the CLI shows [] rather than leaving the key out.
type (
	policyDetailList struct {
		Members []PolicyDetail `xml:"member"`
	}
	attachedPolicyList struct {
		Members []AttachedPolicy `xml:"member"`
	}
	policyVersionList struct {
		Members []PolicyVersion `xml:"member"`
	}
	nameList struct {
		Members []string `xml:"member"`
	}
	emptyList      struct{}
	userDetailList struct {
		Members []UserDetail `xml:"member"`
	}
	groupDetailList struct {
		Members []GroupDetail `xml:"member"`
	}
	roleDetailList struct {
		Members []RoleDetail `xml:"member"`
	}
	managedDetailList struct {
		Members []ManagedPolicyDetail `xml:"member"`
	}
)

// UserDetail is IAM's UserDetail shape.
type UserDetail struct {
	Path                    string                       `xml:"Path"`
	UserName                string                       `xml:"UserName"`
	UserId                  string                       `xml:"UserId"`
	Arn                     string                       `xml:"Arn"`
	CreateDate              string                       `xml:"CreateDate"`
	UserPolicyList          policyDetailList             `xml:"UserPolicyList"`
	GroupList               nameList                     `xml:"GroupList"`
	AttachedManagedPolicies attachedPolicyList           `xml:"AttachedManagedPolicies"`
	PermissionsBoundary     *AttachedPermissionsBoundary `xml:"PermissionsBoundary,omitempty"`
	Tags                    *Tags                        `xml:"Tags,omitempty"`
}

// GroupDetail is IAM's GroupDetail shape.
type GroupDetail struct {
	Path                    string             `xml:"Path"`
	GroupName               string             `xml:"GroupName"`
	GroupId                 string             `xml:"GroupId"`
	Arn                     string             `xml:"Arn"`
	CreateDate              string             `xml:"CreateDate"`
	GroupPolicyList         policyDetailList   `xml:"GroupPolicyList"`
	AttachedManagedPolicies attachedPolicyList `xml:"AttachedManagedPolicies"`
}

// RoleDetail is IAM's RoleDetail shape. Coffer has no instance profiles (the list is
// empty); RoleLastUsed is when the role was last assumed (empty, as IAM answers for a
// role never used).
type RoleDetail struct {
	Path                     string                       `xml:"Path"`
	RoleName                 string                       `xml:"RoleName"`
	RoleId                   string                       `xml:"RoleId"`
	Arn                      string                       `xml:"Arn"`
	CreateDate               string                       `xml:"CreateDate"`
	AssumeRolePolicyDocument string                       `xml:"AssumeRolePolicyDocument,omitempty"`
	InstanceProfileList      emptyList                    `xml:"InstanceProfileList"`
	RolePolicyList           policyDetailList             `xml:"RolePolicyList"`
	AttachedManagedPolicies  attachedPolicyList           `xml:"AttachedManagedPolicies"`
	PermissionsBoundary      *AttachedPermissionsBoundary `xml:"PermissionsBoundary,omitempty"`
	Tags                     *Tags                        `xml:"Tags,omitempty"`
	RoleLastUsed             *RoleLastUsed                `xml:"RoleLastUsed"`
}

// ManagedPolicyDetail is IAM's ManagedPolicyDetail shape: the policy with all its
// versions and their documents.
// It is the Policy shape (without Tags, which it does not have) and the versions.
type ManagedPolicyDetail struct {
	Policy
	PolicyVersionList policyVersionList `xml:"PolicyVersionList"`
}

type GetAccountAuthorizationDetailsOutput struct {
	UserDetailList  userDetailList    `xml:"UserDetailList"`
	GroupDetailList groupDetailList   `xml:"GroupDetailList"`
	RoleDetailList  roleDetailList    `xml:"RoleDetailList"`
	Policies        managedDetailList `xml:"Policies"`
	IsTruncated     bool              `xml:"IsTruncated"`
	Marker          string            `xml:"Marker,omitempty"`
}

// authItem is one item of the combined list GetAccountAuthorizationDetails pages over.
type authItem struct {
	user *UserDetail
	g    *GroupDetail
	r    *RoleDetail
	p    *ManagedPolicyDetail
}

var entityTypes = []string{"User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"}

// GetAccountAuthorizationDetails lists the account's users, groups, roles and managed
// policies with their relationships and policy documents (URL-encoded). Filter keeps
// some of User, Role, Group, LocalManagedPolicy (customer managed policies) and
// AWSManagedPolicy (the AWS managed policies attached to an entity of the account, as
// IAM lists them); none means all. One page of MaxItems (1..1000, default 100) spans the
// lists in this order: users, groups, roles, policies, each by name (policies by ARN).
func (s *Service) GetAccountAuthorizationDetails(ctx context.Context, c Caller, in GetAccountAuthorizationDetailsInput) (*GetAccountAuthorizationDetailsOutput, error) {
	want := map[string]bool{}
	for _, f := range in.Filter {
		if !slices.Contains(entityTypes, f) {
			return nil, validation("1 validation error detected: Value '[%s]' at 'filter' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [%s]]",
				strings.Join(in.Filter, ", "), strings.Join(entityTypes, ", "))
		}
		want[f] = true
	}
	if len(want) == 0 {
		for _, f := range entityTypes {
			want[f] = true
		}
	}
	items := s.authItems(c.Account, want)
	page, trunc, next, err := paginate(items, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &GetAccountAuthorizationDetailsOutput{IsTruncated: trunc, Marker: next}
	for _, it := range page {
		switch {
		case it.user != nil:
			out.UserDetailList.Members = append(out.UserDetailList.Members, *it.user)
		case it.g != nil:
			out.GroupDetailList.Members = append(out.GroupDetailList.Members, *it.g)
		case it.r != nil:
			out.RoleDetailList.Members = append(out.RoleDetailList.Members, *it.r)
		case it.p != nil:
			out.Policies.Members = append(out.Policies.Members, *it.p)
		}
	}
	return out, nil
}

// authItems builds the details of the account's entities and policies the filter keeps.
func (s *Service) authItems(acct string, want map[string]bool) []authItem {
	s.mu.RLock()
	defer s.mu.RUnlock()
	byName := func(kind string) []*entity {
		var out []*entity
		for _, e := range s.ents {
			if e.Kind == kind && e.Account == acct {
				out = append(out, e)
			}
		}
		slices.SortFunc(out, func(a, b *entity) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
		return out
	}
	inline := func(e *entity) policyDetailList {
		names := make([]string, 0, len(e.Inline))
		for n := range e.Inline {
			names = append(names, n)
		}
		slices.Sort(names)
		var l policyDetailList
		for _, n := range names {
			l.Members = append(l.Members, PolicyDetail{PolicyName: n, PolicyDocument: urlEncode(e.Inline[n])})
		}
		return l
	}
	attached := func(e *entity) attachedPolicyList {
		var l attachedPolicyList
		for _, arn := range e.Attached {
			if m, err := s.managedLocked(acct, arn); err == nil {
				l.Members = append(l.Members, AttachedPolicy{PolicyName: m.Name, PolicyArn: arn})
			}
		}
		return l
	}
	groups := byName(kindGroup)
	var items []authItem
	if want["User"] {
		for _, u := range byName(kindUser) {
			d := UserDetail{Path: u.Path, UserName: u.Name, UserId: u.ID, Arn: u.arn(), CreateDate: u.Created.UTC().Format(timeFormat),
				UserPolicyList: inline(u), AttachedManagedPolicies: attached(u), PermissionsBoundary: boundaryOf(u), Tags: tagList(u.Tags)}
			for _, g := range groups {
				if slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, u.Name) }) {
					d.GroupList.Members = append(d.GroupList.Members, g.Name)
				}
			}
			items = append(items, authItem{user: &d})
		}
	}
	if want["Group"] {
		for _, g := range groups {
			items = append(items, authItem{g: &GroupDetail{Path: g.Path, GroupName: g.Name, GroupId: g.ID, Arn: g.arn(),
				CreateDate: g.Created.UTC().Format(timeFormat), GroupPolicyList: inline(g), AttachedManagedPolicies: attached(g)}})
		}
	}
	if want["Role"] {
		for _, r := range byName(kindRole) {
			items = append(items, authItem{r: &RoleDetail{Path: r.Path, RoleName: r.Name, RoleId: r.ID, Arn: r.arn(),
				CreateDate: r.Created.UTC().Format(timeFormat), AssumeRolePolicyDocument: urlEncode(r.TrustPolicy),
				RolePolicyList: inline(r), AttachedManagedPolicies: attached(r), PermissionsBoundary: boundaryOf(r), Tags: tagList(r.Tags),
				RoleLastUsed: roleLastUsedOf(r)}})
		}
	}
	var arns []string
	if want["LocalManagedPolicy"] {
		for arn, p := range s.policies {
			if p.Account == acct {
				arns = append(arns, arn)
			}
		}
	}
	if want["AWSManagedPolicy"] {
		for arn := range awsManaged {
			if s.attachmentsInAccountLocked(acct, arn) > 0 || s.boundaryUsesInAccountLocked(acct, arn) > 0 {
				arns = append(arns, arn)
			}
		}
	}
	slices.Sort(arns)
	for _, arn := range arns {
		m, err := s.managedLocked(acct, arn)
		if err != nil {
			continue
		}
		d := ManagedPolicyDetail{Policy: m.policy(s.attachmentsInAccountLocked(acct, arn), false)}
		d.PermissionsBoundaryUsageCount = s.boundaryUsesInAccountLocked(acct, arn)
		for _, v := range m.Versions {
			d.PolicyVersionList.Members = append(d.PolicyVersionList.Members, PolicyVersion{Document: urlEncode(v.Document),
				VersionId: v.ID, IsDefaultVersion: v.ID == m.Default, CreateDate: v.Created.UTC().Format(timeFormat)})
		}
		items = append(items, authItem{p: &d})
	}
	return items
}
