package iam

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

// Permissions boundaries: a managed policy (customer managed, of the entity's account, or
// AWS managed) set on a user or role with CreateUser/CreateRole's PermissionsBoundary or
// Put{User,Role}PermissionsBoundary. It grants nothing; the entity may do only what its
// identity policies and its boundary allow (policy.BoundaryLayer, see RequestPolicies).
// The boundary is referenced by ARN: a new default version of the policy applies at once,
// and a policy in use as a boundary cannot be deleted (DeleteConflict).

const cmdBoundary = "iam.boundary"

// AttachedPermissionsBoundary is IAM's AttachedPermissionsBoundary shape.
type AttachedPermissionsBoundary struct {
	PermissionsBoundaryType string `xml:"PermissionsBoundaryType"`
	PermissionsBoundaryArn  string `xml:"PermissionsBoundaryArn"`
}

// boundaryOf is the entity's boundary shape, nil without one.
func boundaryOf(e *entity) *AttachedPermissionsBoundary {
	if e.Boundary == "" {
		return nil
	}
	return &AttachedPermissionsBoundary{PermissionsBoundaryType: "PermissionsBoundaryPolicy", PermissionsBoundaryArn: e.Boundary}
}

// checkBoundaryARN validates a PermissionsBoundary member (arnType, then a policy ARN).
func checkBoundaryARN(arn string) error {
	if len(arn) < 20 || len(arn) > 2048 {
		return validation("1 validation error detected: Value '%s' at 'permissionsBoundary' failed to satisfy constraint: Member must have length greater than or equal to 20", arn)
	}
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "iam" || !strings.HasPrefix(p[5], "policy/") {
		return invalidInput("Value (%s) for parameter PermissionsBoundary is invalid.", arn)
	}
	return nil
}

// boundaryExistsLocked reports whether arn is a managed policy that acct may use as a
// boundary; s.mu held.
func (s *Service) boundaryExistsLocked(acct, arn string) bool {
	if _, ok := awsManaged[arn]; ok {
		return true
	}
	p := s.policies[arn]
	return p != nil && p.Account == acct
}

// checkBoundaryExists checks the boundary of a new user or role (none: nil); code is the
// error code of a missing policy.
func (s *Service) checkBoundaryExists(acct, arn, code string) error {
	if arn == "" {
		return nil
	}
	s.mu.RLock()
	ok := s.boundaryExistsLocked(acct, arn)
	s.mu.RUnlock()
	if !ok {
		return boundaryMissing(code, arn)
	}
	return nil
}

func boundaryRequired() error {
	return validation("1 validation error detected: Value null at 'permissionsBoundary' failed to satisfy constraint: Member must not be null")
}

// boundaryMissing is the error, with code, for a boundary arn that is not a policy.
func boundaryMissing(code, arn string) error {
	return iamErr(code, "Policy %s does not exist or is not attachable.", arn)
}

// boundaryUsesInAccountLocked counts the users and roles of acct whose boundary arn is.
func (s *Service) boundaryUsesInAccountLocked(acct, arn string) int {
	n := 0
	for _, e := range s.ents {
		if e.Boundary == arn && e.Account == acct {
			n++
		}
	}
	return n
}

func applyBoundary(s *Service, t time.Time, body json.RawMessage) (any, error) {
	r, err := state.DecodeBody[ref](body)
	if err != nil {
		return nil, err
	}
	e, err := s.entityLocked(r.Kind, r.Account, r.Name)
	if err != nil {
		return nil, err
	}
	if r.Policy != "" && !s.boundaryExistsLocked(r.Account, r.Policy) {
		return nil, boundaryMissing("NoSuchEntity", r.Policy)
	}
	e.Boundary = r.Policy
	return nil, nil
}

type PutUserPermissionsBoundaryInput struct{ UserName, PermissionsBoundary string }
type PutRolePermissionsBoundaryInput struct{ RoleName, PermissionsBoundary string }

// PutUserPermissionsBoundary sets (or replaces) the user's permissions boundary.
func (s *Service) PutUserPermissionsBoundary(ctx context.Context, c Caller, in PutUserPermissionsBoundaryInput) error {
	if in.PermissionsBoundary == "" {
		return boundaryRequired()
	}
	return s.putBoundary(ctx, c, kindUser, "UserName", in.UserName, in.PermissionsBoundary)
}

// PutRolePermissionsBoundary sets (or replaces) the role's permissions boundary.
func (s *Service) PutRolePermissionsBoundary(ctx context.Context, c Caller, in PutRolePermissionsBoundaryInput) error {
	if in.PermissionsBoundary == "" {
		return boundaryRequired()
	}
	return s.putBoundary(ctx, c, kindRole, "RoleName", in.RoleName, in.PermissionsBoundary)
}

// DeleteUserPermissionsBoundary removes the user's permissions boundary.
func (s *Service) DeleteUserPermissionsBoundary(ctx context.Context, c Caller, in UserNameInput) error {
	return s.putBoundary(ctx, c, kindUser, "UserName", in.UserName, "")
}

// DeleteRolePermissionsBoundary removes the role's permissions boundary.
func (s *Service) DeleteRolePermissionsBoundary(ctx context.Context, c Caller, in RoleNameInput) error {
	return s.putBoundary(ctx, c, kindRole, "RoleName", in.RoleName, "")
}

// putBoundary sets the boundary of an entity ("" removes it).
func (s *Service) putBoundary(ctx context.Context, c Caller, kind, field, name, arn string) error {
	if err := checkName(field, name, 64); err != nil {
		return err
	}
	if arn == "" {
		// Delete: the entity must exist; removing a boundary it does not have is a no-op.
		if _, err := s.getEntity(kind, c.Account, name); err != nil {
			return err
		}
		return s.propose(ctx, cmdBoundary, ref{Kind: kind, Account: c.Account, Name: name})
	}
	if err := checkBoundaryARN(arn); err != nil {
		return err
	}
	s.mu.RLock()
	_, err := s.entityLocked(kind, c.Account, name)
	exists := s.boundaryExistsLocked(c.Account, arn)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if !exists {
		return boundaryMissing("NoSuchEntity", arn)
	}
	return s.propose(ctx, cmdBoundary, ref{Kind: kind, Account: c.Account, Name: name, Policy: arn})
}

// BoundaryConditionKeys returns the iam:PermissionsBoundary condition key of an IAM
// request, as AWS's Service Authorization Reference lists it: for CreateUser, CreateRole
// and Put{User,Role}PermissionsBoundary the boundary the request sets; for the operations
// that change a user's or role's permissions (Attach/Detach/Put/Delete{User,Role}Policy,
// Delete{User,Role}PermissionsBoundary) the boundary the entity has. Nil when there is
// none.
func (s *Service) BoundaryConditionKeys(account, op string, body []byte) map[string][]string {
	var kind, field string
	switch op {
	case "CreateUser", "PutUserPermissionsBoundary", "CreateRole", "PutRolePermissionsBoundary":
		v, err := url.ParseQuery(string(body))
		if err != nil || v.Get("PermissionsBoundary") == "" {
			return nil
		}
		return map[string][]string{"iam:PermissionsBoundary": {v.Get("PermissionsBoundary")}}
	case "AttachUserPolicy", "DetachUserPolicy", "PutUserPolicy", "DeleteUserPolicy", "DeleteUserPermissionsBoundary":
		kind, field = kindUser, "UserName"
	case "AttachRolePolicy", "DetachRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "DeleteRolePermissionsBoundary":
		kind, field = kindRole, "RoleName"
	default:
		return nil
	}
	v, err := url.ParseQuery(string(body))
	if err != nil || v.Get(field) == "" {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e := s.ents[entKey(kind, account, v.Get(field))]; e != nil && e.Boundary != "" {
		return map[string][]string{"iam:PermissionsBoundary": {e.Boundary}}
	}
	return nil
}
