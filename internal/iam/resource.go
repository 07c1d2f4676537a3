package iam

import (
	"net/url"
	"strings"
)

// RequestResource returns the resource ARN an IAM request acts on, for the identity
// decision that authorizes it (action iam:<op>): the user, role, group, managed policy or
// virtual MFA device it names, as AWS's Service Authorization Reference lists them
// (access keys, MFA enablement, inline and attached policies of a user are the user;
// ListUsers/ListRoles/ListGroups are "arn:aws:iam::<account>:user/" etc.). An existing
// entity's ARN carries its path. Operations without a resource, and requests that do not
// parse, give "*". body is the form-encoded request; caller is the signing principal's
// ARN (UserName defaults to the calling user, as the operations do).
//
// Authorizing with "*" instead makes statements scoped to a resource ARN match nothing:
// their Allow never applies and, worse, neither does their Deny.
func (s *Service) RequestResource(account, op string, body []byte, caller string) string {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return "*"
	}
	entity := func(kind, name, path string) string {
		if name == "" {
			return "*"
		}
		if arn := s.entityARN(kind, account, name); arn != "" {
			return arn
		}
		if path == "" || !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/") {
			path = "/"
		}
		switch kind {
		case kindRole:
			return roleARN(account, path, name)
		case kindGroup:
			return groupARN(account, path, name)
		}
		return userARN(account, path, name)
	}
	user := func() string {
		name := v.Get("UserName")
		if name == "" {
			if p, ok := parseARN(caller); ok && p.Kind == "user" && p.Account == account {
				return caller
			}
			return "*"
		}
		return entity(kindUser, name, v.Get("Path"))
	}
	switch op {
	case "GetAccessKeyLastUsed":
		// The user who owns the key (the root's key: the account's root).
		switch user, ok := s.keyOwner(account, v.Get("AccessKeyId")); {
		case !ok:
			return "*"
		case user == "":
			return "arn:aws:iam::" + account + ":root"
		default:
			return entity(kindUser, user, "")
		}
	case "CreateUser", "GetUser", "DeleteUser", "UpdateUser", "TagUser", "UntagUser", "ListUserTags",
		"CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey",
		"ListGroupsForUser", "AttachUserPolicy", "DetachUserPolicy", "ListAttachedUserPolicies",
		"PutUserPolicy", "GetUserPolicy", "DeleteUserPolicy", "ListUserPolicies",
		"EnableMFADevice", "ListMFADevices", "DeactivateMFADevice",
		"PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary":
		return user()
	case "CreateRole", "GetRole", "DeleteRole", "TagRole", "UntagRole", "ListRoleTags",
		"UpdateRole", "UpdateRoleDescription", "UpdateAssumeRolePolicy",
		"AttachRolePolicy", "DetachRolePolicy", "ListAttachedRolePolicies",
		"PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies", "ListInstanceProfilesForRole",
		"PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary":
		return entity(kindRole, v.Get("RoleName"), v.Get("Path"))
	case "CreateGroup", "GetGroup", "DeleteGroup", "AddUserToGroup", "RemoveUserFromGroup",
		"AttachGroupPolicy", "DetachGroupPolicy", "ListAttachedGroupPolicies",
		"PutGroupPolicy", "GetGroupPolicy", "DeleteGroupPolicy", "ListGroupPolicies":
		return entity(kindGroup, v.Get("GroupName"), v.Get("Path"))
	case "GetPolicy", "GetPolicyVersion", "ListPolicyVersions", "DeletePolicy",
		"CreatePolicyVersion", "DeletePolicyVersion", "SetDefaultPolicyVersion",
		"TagPolicy", "UntagPolicy", "ListPolicyTags":
		if a := v.Get("PolicyArn"); a != "" {
			return a
		}
	case "CreatePolicy":
		if n := v.Get("PolicyName"); n != "" {
			path := v.Get("Path")
			if path == "" || !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/") {
				path = "/"
			}
			return policyARN(account, path, n)
		}
	case "CreateVirtualMFADevice":
		if n := v.Get("VirtualMFADeviceName"); n != "" {
			path := v.Get("Path")
			if path == "" || !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/") {
				path = "/"
			}
			return mfaARN(account, path, n)
		}
	case "DeleteVirtualMFADevice", "TagMFADevice", "UntagMFADevice", "ListMFADeviceTags":
		if sn := v.Get("SerialNumber"); sn != "" {
			return sn
		}
	case "SimulatePrincipalPolicy", "GetContextKeysForPrincipalPolicy":
		// The user, group or role whose policies are simulated: the entity's own ARN
		// (with its path and name as stored), since the simulator finds the entity by
		// name alone; deciding on the ARN as given would let a made-up path or another
		// case of the name ("user/team/admin", "user/ADMIN") escape statements scoped to
		// the entity. An ARN naming no entity of the account is decided as given (the
		// operation answers NoSuchEntity or InvalidInput).
		a := v.Get("PolicySourceArn")
		if a == "" {
			break
		}
		if p, ok := parseARN(a); ok && p.Service == "iam" && p.Account == account {
			switch p.Kind {
			case kindUser, kindGroup, kindRole:
				if arn := s.entityARN(p.Kind, account, p.Name); arn != "" {
					return arn
				}
			}
		}
		return a
	case "ListUsers":
		return "arn:aws:iam::" + account + ":user/"
	case "ListRoles":
		return "arn:aws:iam::" + account + ":role/"
	case "ListGroups":
		return "arn:aws:iam::" + account + ":group/"
	}
	return "*"
}

// UpdateUserTarget is the ARN an UpdateUser request gives the user (its new name and/or
// path; what the request does not change stays), for the second identity decision AWS
// makes on a rename or move: the caller needs iam:UpdateUser on the user as it is
// (RequestResource) and as it will be. A request that does not parse, or names no user,
// gives "*".
func (s *Service) UpdateUserTarget(account string, body []byte) string {
	v, err := url.ParseQuery(string(body))
	if err != nil || v.Get("UserName") == "" {
		return "*"
	}
	name, path := v.Get("UserName"), "/"
	s.mu.RLock()
	if e := s.ents[entKey(kindUser, account, name)]; e != nil {
		name, path = e.Name, e.Path
	}
	s.mu.RUnlock()
	if n := v.Get("NewUserName"); n != "" {
		name = n
	}
	if p := v.Get("NewPath"); strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
		path = p
	}
	return userARN(account, path, name)
}

// entityARN is the ARN of the user, group or role of that name, "" if there is none.
func (s *Service) entityARN(kind, account, name string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e := s.ents[entKey(kind, account, name)]; e != nil {
		return e.arn()
	}
	return ""
}
