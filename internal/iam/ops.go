package iam

import (
	"context"
	"maps"
)

// Op is one IAM or STS API operation: it decodes its form-encoded query-protocol request
// body and returns the result value (an XML-tagged struct whose fields are the content of
// the <ActionResult> element; the protocol layer encodes it with
// xml.Encoder.EncodeElement(v, <ActionResult>)), or nil for operations whose response has
// no result element (DeleteUser...), or an error (an *Error, or mapped by AsError).
type Op func(s *Service, ctx context.Context, c Caller, body []byte) (any, error)

func op[In any, Out any](fn func(*Service, context.Context, Caller, In) (Out, error)) Op {
	return func(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
		in, err := decodeForm[In](body)
		if err != nil {
			return nil, err
		}
		out, err := fn(s, ctx, c, in)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

func opNoOutput[In any](fn func(*Service, context.Context, Caller, In) error) Op {
	return func(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
		in, err := decodeForm[In](body)
		if err != nil {
			return nil, err
		}
		return nil, fn(s, ctx, c, in)
	}
}

func attachOp(kind string, detach bool) Op {
	return opNoOutput(func(s *Service, ctx context.Context, c Caller, in AttachPolicyInput) error {
		return s.attach(ctx, c, kind, in, detach)
	})
}

func listAttachedOp(kind string) Op {
	return op(func(s *Service, ctx context.Context, c Caller, in ListAttachedInput) (*ListAttachedOutput, error) {
		return s.listAttached(c, kind, in)
	})
}

func putInlineOp(kind string) Op {
	return opNoOutput(func(s *Service, ctx context.Context, c Caller, in PutInlinePolicyInput) error {
		return s.putInline(ctx, c, kind, in)
	})
}

func getInlineOp(kind string) Op {
	return op(func(s *Service, ctx context.Context, c Caller, in InlinePolicyInput) (*GetInlinePolicyOutput, error) {
		return s.getInline(c, kind, in)
	})
}

func deleteInlineOp(kind string) Op {
	return opNoOutput(func(s *Service, ctx context.Context, c Caller, in InlinePolicyInput) error {
		return s.deleteInline(ctx, c, kind, in)
	})
}

func listInlineOp(kind string) Op {
	return op(func(s *Service, ctx context.Context, c Caller, in ListAttachedInput) (*ListInlinePoliciesOutput, error) {
		return s.listInline(c, kind, in)
	})
}

var iamOps = map[string]Op{
	"CreateUser":             op((*Service).CreateUser),
	"GetUser":                op((*Service).GetUser),
	"ListUsers":              op((*Service).ListUsers),
	"DeleteUser":             opNoOutput((*Service).DeleteUser),
	"UpdateUser":             opNoOutput((*Service).UpdateUser),
	"TagUser":                opNoOutput((*Service).TagUser),
	"UntagUser":              opNoOutput((*Service).UntagUser),
	"ListUserTags":           op((*Service).ListUserTags),
	"CreateRole":             op((*Service).CreateRole),
	"GetRole":                op((*Service).GetRole),
	"ListRoles":              op((*Service).ListRoles),
	"DeleteRole":             opNoOutput((*Service).DeleteRole),
	"TagRole":                opNoOutput((*Service).TagRole),
	"UntagRole":              opNoOutput((*Service).UntagRole),
	"ListRoleTags":           op((*Service).ListRoleTags),
	"UpdateRole":             op((*Service).UpdateRole),
	"UpdateRoleDescription":  op((*Service).UpdateRoleDescription),
	"UpdateAssumeRolePolicy": opNoOutput((*Service).UpdateAssumeRolePolicy),
	"CreateGroup":            op((*Service).CreateGroup),
	"GetGroup":               op((*Service).GetGroup),
	"ListGroups":             op((*Service).ListGroups),
	"DeleteGroup":            opNoOutput((*Service).DeleteGroup),
	"AddUserToGroup":         opNoOutput((*Service).AddUserToGroup),
	"RemoveUserFromGroup":    opNoOutput((*Service).RemoveUserFromGroup),
	"ListGroupsForUser":      op((*Service).ListGroupsForUser),

	"CreateAccessKey": op((*Service).CreateAccessKey),
	"ListAccessKeys":  op((*Service).ListAccessKeys),
	"UpdateAccessKey": opNoOutput((*Service).UpdateAccessKey),
	"DeleteAccessKey": opNoOutput((*Service).DeleteAccessKey),

	"GetAccessKeyLastUsed": op((*Service).GetAccessKeyLastUsed),

	"GetAccountSummary":        op((*Service).GetAccountSummary),
	"GenerateCredentialReport": op((*Service).GenerateCredentialReport),
	"GetCredentialReport":      op((*Service).GetCredentialReport),

	"CreatePolicy":            op((*Service).CreatePolicy),
	"GetPolicy":               op((*Service).GetPolicy),
	"GetPolicyVersion":        op((*Service).GetPolicyVersion),
	"ListPolicies":            op((*Service).ListPolicies),
	"ListPolicyVersions":      op((*Service).ListPolicyVersions),
	"DeletePolicy":            opNoOutput((*Service).DeletePolicy),
	"CreatePolicyVersion":     op((*Service).CreatePolicyVersion),
	"DeletePolicyVersion":     opNoOutput((*Service).DeletePolicyVersion),
	"SetDefaultPolicyVersion": opNoOutput((*Service).SetDefaultPolicyVersion),

	"AttachUserPolicy":          attachOp(kindUser, false),
	"DetachUserPolicy":          attachOp(kindUser, true),
	"ListAttachedUserPolicies":  listAttachedOp(kindUser),
	"AttachRolePolicy":          attachOp(kindRole, false),
	"DetachRolePolicy":          attachOp(kindRole, true),
	"ListAttachedRolePolicies":  listAttachedOp(kindRole),
	"AttachGroupPolicy":         attachOp(kindGroup, false),
	"DetachGroupPolicy":         attachOp(kindGroup, true),
	"ListAttachedGroupPolicies": listAttachedOp(kindGroup),

	"PutUserPolicy":     putInlineOp(kindUser),
	"GetUserPolicy":     getInlineOp(kindUser),
	"DeleteUserPolicy":  deleteInlineOp(kindUser),
	"ListUserPolicies":  listInlineOp(kindUser),
	"PutRolePolicy":     putInlineOp(kindRole),
	"GetRolePolicy":     getInlineOp(kindRole),
	"DeleteRolePolicy":  deleteInlineOp(kindRole),
	"ListRolePolicies":  listInlineOp(kindRole),
	"PutGroupPolicy":    putInlineOp(kindGroup),
	"GetGroupPolicy":    getInlineOp(kindGroup),
	"DeleteGroupPolicy": deleteInlineOp(kindGroup),
	"ListGroupPolicies": listInlineOp(kindGroup),

	"CreateVirtualMFADevice": op((*Service).CreateVirtualMFADevice),
	"EnableMFADevice":        opNoOutput((*Service).EnableMFADevice),
	"ListMFADevices":         op((*Service).ListMFADevices),
	"DeactivateMFADevice":    opNoOutput((*Service).DeactivateMFADevice),
	"DeleteVirtualMFADevice": opNoOutput((*Service).DeleteVirtualMFADevice),
	"ListVirtualMFADevices":  op((*Service).ListVirtualMFADevices),

	"TagPolicy":         opNoOutput((*Service).TagPolicy),
	"UntagPolicy":       opNoOutput((*Service).UntagPolicy),
	"ListPolicyTags":    op((*Service).ListPolicyTags),
	"TagMFADevice":      opNoOutput((*Service).TagMFADevice),
	"UntagMFADevice":    opNoOutput((*Service).UntagMFADevice),
	"ListMFADeviceTags": op((*Service).ListMFADeviceTags),

	"ListInstanceProfilesForRole": op((*Service).ListInstanceProfilesForRole),

	"ListAccountAliases":    op((*Service).ListAccountAliases),
	"ListEntitiesForPolicy": op((*Service).ListEntitiesForPolicy),

	"GetAccountAuthorizationDetails": op((*Service).GetAccountAuthorizationDetails),

	"SimulatePrincipalPolicy":          simulatePrincipalOp,
	"SimulateCustomPolicy":             simulateCustomOp,
	"GetContextKeysForPrincipalPolicy": op((*Service).GetContextKeysForPrincipalPolicy),
	"GetContextKeysForCustomPolicy":    op((*Service).GetContextKeysForCustomPolicy),

	"PutUserPermissionsBoundary":    opNoOutput((*Service).PutUserPermissionsBoundary),
	"PutRolePermissionsBoundary":    opNoOutput((*Service).PutRolePermissionsBoundary),
	"DeleteUserPermissionsBoundary": opNoOutput((*Service).DeleteUserPermissionsBoundary),
	"DeleteRolePermissionsBoundary": opNoOutput((*Service).DeleteRolePermissionsBoundary),
}

var stsOps = map[string]Op{
	"GetCallerIdentity": op((*Service).GetCallerIdentity),
	"AssumeRole":        op((*Service).AssumeRole),
	"GetSessionToken":   op((*Service).GetSessionToken),

	"GetFederationToken": op((*Service).GetFederationToken),
}

// Operations is the dispatch table of the IAM API (query protocol, version 2010-05-08).
// Every operation refuses the temporary credentials of a GetSessionToken without MFA, as
// IAM does ("You cannot call any IAM API operations unless MFA authentication information
// is included in the request"): InvalidClientTokenId.
func Operations() map[string]Op {
	out := make(map[string]Op, len(iamOps))
	for name, o := range iamOps {
		out[name] = func(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
			if x := s.callerSession(c); x != nil && x.RoleName == "" && !x.MFA {
				return nil, iamErr("InvalidClientTokenId", "The security token included in the request is invalid")
			}
			return o(s, ctx, c, body)
		}
	}
	return out
}

// STSOperations is the dispatch table of the STS API (query protocol, version 2011-06-15).
func STSOperations() map[string]Op { return maps.Clone(stsOps) }
