package iam

import (
	"context"
	"encoding/json"
	"regexp"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

// UpdateRole, UpdateRoleDescription and UpdateAssumeRolePolicy: a role's description,
// maximum session duration and trust policy change in place (its ID, ARN, tags and
// policies stay).

const cmdRoleUpdate = "iam.role.update"

// roleUpdateCmd changes the fields that are set.
type roleUpdateCmd struct {
	Account            string  `json:"account"`
	Name               string  `json:"name"`
	Description        *string `json:"description,omitempty"`
	MaxSessionDuration int     `json:"max_session,omitempty"`
	TrustPolicy        string  `json:"trust,omitempty"`
}

func applyRoleUpdate(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[roleUpdateCmd](body)
	if err != nil {
		return nil, err
	}
	e, err := s.entityLocked(kindRole, c.Account, c.Name)
	if err != nil {
		return nil, err
	}
	if c.Description != nil {
		e.Description = *c.Description
	}
	if c.MaxSessionDuration != 0 {
		e.MaxSessionDuration = c.MaxSessionDuration
	}
	if c.TrustPolicy != "" {
		e.TrustPolicy = c.TrustPolicy
	}
	return nil, nil
}

// roleDescriptionRE is roleDescriptionType's pattern (botocore's iam model): letters,
// marks, separators, symbols, numbers and punctuation; no control characters.
var roleDescriptionRE = regexp.MustCompile(`^[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*$`)

func checkRoleDescription(d string) error {
	if len([]rune(d)) > 1000 {
		return validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000")
	}
	if !roleDescriptionRE.MatchString(d) {
		return validation("1 validation error detected: Value '%s' at 'description' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{M}\\p{Z}\\p{S}\\p{N}\\p{P}]*", d)
	}
	return nil
}

type UpdateRoleInput struct {
	RoleName, Description string
	MaxSessionDuration    *int
}

// UpdateRoleOutput is the (empty) <UpdateRoleResult>.
type UpdateRoleOutput struct{}

// UpdateRole sets a role's Description (when given and not empty) and
// MaxSessionDuration (when given; 3600..43200).
func (s *Service) UpdateRole(ctx context.Context, c Caller, in UpdateRoleInput) (*UpdateRoleOutput, error) {
	if err := checkName("RoleName", in.RoleName, 64); err != nil {
		return nil, err
	}
	if err := checkRoleDescription(in.Description); err != nil {
		return nil, err
	}
	cmd := roleUpdateCmd{Account: c.Account, Name: in.RoleName}
	if in.Description != "" {
		cmd.Description = &in.Description
	}
	if in.MaxSessionDuration != nil {
		d := *in.MaxSessionDuration
		if d < 3600 || d > 43200 {
			return nil, validation("1 validation error detected: Value '%d' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600 and less than or equal to 43200", d)
		}
		cmd.MaxSessionDuration = d
	}
	if err := s.propose(ctx, cmdRoleUpdate, cmd); err != nil {
		return nil, err
	}
	return &UpdateRoleOutput{}, nil
}

type UpdateRoleDescriptionInput struct{ RoleName, Description string }

// UpdateRoleDescription sets a role's description ("" clears it) and returns the role.
func (s *Service) UpdateRoleDescription(ctx context.Context, c Caller, in UpdateRoleDescriptionInput) (*GetRoleOutput, error) {
	if err := checkName("RoleName", in.RoleName, 64); err != nil {
		return nil, err
	}
	if err := checkRoleDescription(in.Description); err != nil {
		return nil, err
	}
	if err := s.propose(ctx, cmdRoleUpdate, roleUpdateCmd{Account: c.Account, Name: in.RoleName, Description: &in.Description}); err != nil {
		return nil, err
	}
	return s.GetRole(ctx, c, RoleNameInput{RoleName: in.RoleName})
}

type UpdateAssumeRolePolicyInput struct{ RoleName, PolicyDocument string }

// UpdateAssumeRolePolicy replaces a role's trust policy, validated as CreateRole's.
func (s *Service) UpdateAssumeRolePolicy(ctx context.Context, c Caller, in UpdateAssumeRolePolicyInput) error {
	if err := checkName("RoleName", in.RoleName, 64); err != nil {
		return err
	}
	if in.PolicyDocument == "" {
		return validation("1 validation error detected: Value null at 'policyDocument' failed to satisfy constraint: Member must not be null")
	}
	if _, err := checkDocument(in.PolicyDocument, true, trustPolicyMaxChars); err != nil {
		return err
	}
	return s.propose(ctx, cmdRoleUpdate, roleUpdateCmd{Account: c.Account, Name: in.RoleName, TrustPolicy: in.PolicyDocument})
}

type ListAccountAliasesInput struct {
	Marker   string
	MaxItems int
}

type ListAccountAliasesOutput struct {
	AccountAliases []string `xml:"AccountAliases>member"`
	IsTruncated    bool     `xml:"IsTruncated"`
	Marker         string   `xml:"Marker,omitempty"`
}

// ListAccountAliases lists the account's aliases: Coffer's account has none (there is
// no CreateAccountAlias), so the list is empty.
func (s *Service) ListAccountAliases(ctx context.Context, c Caller, in ListAccountAliasesInput) (*ListAccountAliasesOutput, error) {
	page, trunc, next, err := paginate([]string{}, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &ListAccountAliasesOutput{AccountAliases: nonNil(page), IsTruncated: trunc, Marker: next}, nil
}
