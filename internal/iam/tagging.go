package iam

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

// Tags of customer managed policies (TagPolicy, UntagPolicy, ListPolicyTags) and of
// virtual MFA devices (TagMFADevice, UntagMFADevice, ListMFADeviceTags), with the rules of
// the users' and roles' tags: at most 50, keys unique case-insensitively, a key set again
// replaces its value. ListInstanceProfilesForRole answers an empty list for an existing
// role: Coffer has no instance profiles.

const cmdResourceTags = "iam.resource.tags"

// Tagged resources other than users and roles.
const (
	tagPolicy = "policy"
	tagMFA    = "mfa"
)

// resourceTagsCmd sets and removes tags of a managed policy (ID: its ARN) or a virtual MFA
// device (ID: its serial number).
type resourceTagsCmd struct {
	Kind    string   `json:"kind"`
	Account string   `json:"account"`
	ID      string   `json:"id"`
	Set     []Tag    `json:"set,omitempty"`
	Remove  []string `json:"remove,omitempty"`
}

// mergeTags applies set (a key set again replaces its value) then remove to tags; it
// refuses a result of more than maxTags. Users', roles', policies' and MFA devices' tags
// all change through it.
func mergeTags(tags []Tag, set []Tag, remove []string) ([]Tag, error) {
	tags = slices.Clone(tags)
	for _, nt := range set {
		i := slices.IndexFunc(tags, func(x Tag) bool { return strings.EqualFold(x.Key, nt.Key) })
		if i >= 0 {
			tags[i] = nt
		} else {
			tags = append(tags, nt)
		}
	}
	tags = slices.DeleteFunc(tags, func(x Tag) bool {
		return slices.ContainsFunc(remove, func(k string) bool { return strings.EqualFold(k, x.Key) })
	})
	if len(tags) > maxTags {
		return nil, iamErr("LimitExceeded", "The number of tags has reached the maximum limit.")
	}
	return tags, nil
}

func applyResourceTags(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[resourceTagsCmd](body)
	if err != nil {
		return nil, err
	}
	switch c.Kind {
	case tagPolicy:
		p, err := s.localPolicyLocked(c.ID)
		if err != nil {
			return nil, err
		}
		if p.Account != c.Account {
			return nil, noSuch("Policy %s does not exist or is not attachable.", c.ID)
		}
		tags, err := mergeTags(p.Tags, c.Set, c.Remove)
		if err != nil {
			return nil, err
		}
		p.Tags = tags
	case tagMFA:
		d, err := s.deviceLocked(mfaCmd{Serial: c.ID, Account: c.Account})
		if err != nil {
			return nil, err
		}
		tags, err := mergeTags(d.Tags, c.Set, c.Remove)
		if err != nil {
			return nil, err
		}
		d.Tags = tags
	default:
		return nil, validation("unknown tagged resource kind %q", c.Kind)
	}
	return nil, nil
}

// checkTagRequest validates the Tags (set != nil) or TagKeys (remove != nil) of a tagging
// request, for every taggable IAM resource.
func checkTagRequest(set []Tag, remove []string) error {
	if set != nil {
		if len(set) == 0 {
			return validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
		}
		return checkTags(set)
	}
	if len(remove) > maxTags {
		return validation("1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to %d", maxTags)
	}
	return nil
}

type TagPolicyInput struct {
	PolicyArn string
	Tags      []Tag
}

type UntagPolicyInput struct {
	PolicyArn string
	TagKeys   []string
}

type ListPolicyTagsInput struct {
	PolicyArn, Marker string
	MaxItems          int
}

func (s *Service) tagPolicy(ctx context.Context, c Caller, arn string, set []Tag, remove []string) error {
	if err := s.ownPolicy(c, arn); err != nil {
		return err
	}
	if err := checkTagRequest(set, remove); err != nil {
		return err
	}
	return s.propose(ctx, cmdResourceTags, resourceTagsCmd{Kind: tagPolicy, Account: c.Account, ID: arn, Set: set, Remove: remove})
}

func (s *Service) TagPolicy(ctx context.Context, c Caller, in TagPolicyInput) error {
	return s.tagPolicy(ctx, c, in.PolicyArn, nonNil(in.Tags), nil)
}

func (s *Service) UntagPolicy(ctx context.Context, c Caller, in UntagPolicyInput) error {
	return s.tagPolicy(ctx, c, in.PolicyArn, nil, nonNil(in.TagKeys))
}

// ListPolicyTags lists a managed policy's tags (an AWS managed policy has none).
func (s *Service) ListPolicyTags(ctx context.Context, c Caller, in ListPolicyTagsInput) (*ListTagsOutput, error) {
	if err := checkPolicyARN(in.PolicyArn); err != nil {
		return nil, err
	}
	s.mu.RLock()
	m, err := s.managedLocked(c.Account, in.PolicyArn)
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	page, trunc, next, err := paginate(m.Tags, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &ListTagsOutput{Tags: nonNil(page), IsTruncated: trunc, Marker: next}, nil
}

type TagMFADeviceInput struct {
	SerialNumber string
	Tags         []Tag
}

type UntagMFADeviceInput struct {
	SerialNumber string
	TagKeys      []string
}

type ListMFADeviceTagsInput struct {
	SerialNumber, Marker string
	MaxItems             int
}

func (s *Service) tagMFADevice(ctx context.Context, c Caller, serial string, set []Tag, remove []string) error {
	if err := checkSerial(serial); err != nil {
		return err
	}
	if err := checkTagRequest(set, remove); err != nil {
		return err
	}
	return s.propose(ctx, cmdResourceTags, resourceTagsCmd{Kind: tagMFA, Account: c.Account, ID: serial, Set: set, Remove: remove})
}

func (s *Service) TagMFADevice(ctx context.Context, c Caller, in TagMFADeviceInput) error {
	return s.tagMFADevice(ctx, c, in.SerialNumber, nonNil(in.Tags), nil)
}

func (s *Service) UntagMFADevice(ctx context.Context, c Caller, in UntagMFADeviceInput) error {
	return s.tagMFADevice(ctx, c, in.SerialNumber, nil, nonNil(in.TagKeys))
}

func (s *Service) ListMFADeviceTags(ctx context.Context, c Caller, in ListMFADeviceTagsInput) (*ListTagsOutput, error) {
	if err := checkSerial(in.SerialNumber); err != nil {
		return nil, err
	}
	s.mu.RLock()
	d, err := s.deviceLocked(mfaCmd{Serial: in.SerialNumber, Account: c.Account})
	var tags []Tag
	if err == nil {
		tags = slices.Clone(d.Tags)
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	page, trunc, next, err := paginate(tags, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &ListTagsOutput{Tags: nonNil(page), IsTruncated: trunc, Marker: next}, nil
}

type ListInstanceProfilesForRoleInput struct {
	RoleName, Marker string
	MaxItems         int
}

type ListInstanceProfilesOutput struct {
	InstanceProfiles []struct{} `xml:"InstanceProfiles>member"`
	IsTruncated      bool       `xml:"IsTruncated"`
	Marker           string     `xml:"Marker,omitempty"`
}

// ListInstanceProfilesForRole answers an empty list for an existing role (Coffer has no
// instance profiles), NoSuchEntity for a missing one: tools that delete a role list its
// instance profiles first.
func (s *Service) ListInstanceProfilesForRole(ctx context.Context, c Caller, in ListInstanceProfilesForRoleInput) (*ListInstanceProfilesOutput, error) {
	if err := checkName("RoleName", in.RoleName, 64); err != nil {
		return nil, err
	}
	if _, err := s.getEntity(kindRole, c.Account, in.RoleName); err != nil {
		return nil, err
	}
	if _, _, _, err := paginate([]struct{}{}, in.Marker, in.MaxItems); err != nil {
		return nil, err
	}
	return &ListInstanceProfilesOutput{InstanceProfiles: []struct{}{}}, nil
}
