package iam

import (
	"context"
	"slices"
	"strings"
)

type ListEntitiesForPolicyInput struct {
	PolicyArn, EntityFilter, PathPrefix, PolicyUsageFilter, Marker string
	MaxItems                                                       int
}

// PolicyGroup, PolicyUser and PolicyRole are IAM's shapes of the same names.
type (
	PolicyGroup struct {
		GroupName string `xml:"GroupName"`
		GroupId   string `xml:"GroupId"`
	}
	PolicyUser struct {
		UserName string `xml:"UserName"`
		UserId   string `xml:"UserId"`
	}
	PolicyRole struct {
		RoleName string `xml:"RoleName"`
		RoleId   string `xml:"RoleId"`
	}
)

type ListEntitiesForPolicyOutput struct {
	PolicyGroups []PolicyGroup `xml:"PolicyGroups>member"`
	PolicyUsers  []PolicyUser  `xml:"PolicyUsers>member"`
	PolicyRoles  []PolicyRole  `xml:"PolicyRoles>member"`
	IsTruncated  bool          `xml:"IsTruncated"`
	Marker       string        `xml:"Marker,omitempty"`
}

// ListEntitiesForPolicy lists the users, groups and roles a managed policy is attached
// to (groups, then users, then roles, each by name; one page spans the three lists).
// EntityFilter User, Role or Group keeps one kind; LocalManagedPolicy and
// AWSManagedPolicy keep all three kinds when the policy is of that sort, none otherwise.
// PolicyUsageFilter PermissionsPolicy keeps the entities the policy is attached to,
// PermissionsBoundary the users and roles whose permissions boundary it is; without it,
// both are listed.
func (s *Service) ListEntitiesForPolicy(ctx context.Context, c Caller, in ListEntitiesForPolicyInput) (*ListEntitiesForPolicyOutput, error) {
	if err := checkPolicyARN(in.PolicyArn); err != nil {
		return nil, err
	}
	switch in.EntityFilter {
	case "", "User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'entityFilter' failed to satisfy constraint: Member must satisfy enum value set: [User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]", in.EntityFilter)
	}
	switch in.PolicyUsageFilter {
	case "", "PermissionsPolicy", "PermissionsBoundary":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'policyUsageFilter' failed to satisfy constraint: Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]", in.PolicyUsageFilter)
	}
	// Its PathPrefix is a pathType: "/" or "/.../".
	if in.PathPrefix != "" {
		if _, err := checkPath(in.PathPrefix); err != nil {
			return nil, validation("1 validation error detected: Value '%s' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007F]+\\u002F)", in.PathPrefix)
		}
	}
	type hit struct{ kind, name, id string }
	var hits []hit
	s.mu.RLock()
	m, err := s.managedLocked(c.Account, in.PolicyArn)
	if err == nil {
		keep := !(in.EntityFilter == "LocalManagedPolicy" && m.AWS) && !(in.EntityFilter == "AWSManagedPolicy" && !m.AWS)
		for _, e := range s.ents {
			attached := in.PolicyUsageFilter != "PermissionsBoundary" && slices.Contains(e.Attached, in.PolicyArn)
			bound := in.PolicyUsageFilter != "PermissionsPolicy" && e.Boundary == in.PolicyArn
			if !keep || e.Account != c.Account || !(attached || bound) || !strings.HasPrefix(e.Path, in.PathPrefix) {
				continue
			}
			if f := in.EntityFilter; (f == "User" && e.Kind != kindUser) || (f == "Role" && e.Kind != kindRole) || (f == "Group" && e.Kind != kindGroup) {
				continue
			}
			hits = append(hits, hit{e.Kind, e.Name, e.ID})
		}
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	order := map[string]int{kindGroup: 0, kindUser: 1, kindRole: 2}
	slices.SortFunc(hits, func(a, b hit) int {
		if d := order[a.kind] - order[b.kind]; d != 0 {
			return d
		}
		return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name))
	})
	page, trunc, next, err := paginate(hits, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &ListEntitiesForPolicyOutput{PolicyGroups: []PolicyGroup{}, PolicyUsers: []PolicyUser{}, PolicyRoles: []PolicyRole{}, IsTruncated: trunc, Marker: next}
	for _, h := range page {
		switch h.kind {
		case kindGroup:
			out.PolicyGroups = append(out.PolicyGroups, PolicyGroup{h.name, h.id})
		case kindUser:
			out.PolicyUsers = append(out.PolicyUsers, PolicyUser{h.name, h.id})
		default:
			out.PolicyRoles = append(out.PolicyRoles, PolicyRole{h.name, h.id})
		}
	}
	return out, nil
}
