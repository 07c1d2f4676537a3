package cloudhsm

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ---- inputs and outputs ----

// TagResourceInput is the TagResource request.
type TagResourceInput struct {
	ResourceId string `json:"ResourceId"`
	TagList    []Tag  `json:"TagList"`
}

// UntagResourceInput is the UntagResource request.
type UntagResourceInput struct {
	ResourceId string   `json:"ResourceId"`
	TagKeyList []string `json:"TagKeyList"`
}

// TagResourceOutput and UntagResourceOutput are empty responses.
type (
	TagResourceOutput   struct{}
	UntagResourceOutput struct{}
)

// ListTagsInput is the ListTags request.
type ListTagsInput struct {
	ResourceId string `json:"ResourceId"`
	NextToken  string `json:"NextToken"`
	MaxResults *int   `json:"MaxResults"`
}

// ListTagsOutput is the ListTags response.
type ListTagsOutput struct {
	TagList   []Tag  `json:"TagList"`
	NextToken string `json:"NextToken,omitempty"`
}

// ResourcePolicyInput is the request of PutResourcePolicy (ResourceArn, Policy),
// GetResourcePolicy and DeleteResourcePolicy (ResourceArn).
type ResourcePolicyInput struct {
	ResourceArn string `json:"ResourceArn"`
	Policy      string `json:"Policy"`
}

// ResourcePolicyOutput is the response of PutResourcePolicy and DeleteResourcePolicy.
type ResourcePolicyOutput struct {
	ResourceArn string `json:"ResourceArn,omitempty"`
	Policy      string `json:"Policy,omitempty"`
}

// GetResourcePolicyOutput is the GetResourcePolicy response.
type GetResourcePolicyOutput struct {
	Policy string `json:"Policy,omitempty"`
}

// MaxPolicyLength is the longest resource policy, in characters.
const MaxPolicyLength = 20000

// cloudHsmARNRE is the model's CloudHsmArn: a backup, cluster or HSM ARN.
var cloudHsmARNRE = regexp.MustCompile(`^arn:aws(-(us-gov))?:cloudhsm:([a-z]{2}(-(gov|isob|iso))?-(east|west|north|south|central){1,2}-[0-9]{1}):[0-9]{12}:(backup/backup|cluster/cluster|hsm/hsm)-[2-7a-zA-Z]{11,16}$`)

// parseBackupARN splits a backup ARN into region, account and backup id.
func parseBackupARN(arn, field string) (region, account, id string, err error) {
	if !backupARNRE.MatchString(arn) {
		if cloudHsmARNRE.MatchString(arn) {
			return "", "", "", invalid("%s %s is not a backup ARN: CloudHSM resource policies apply to backups only", field, clip(arn))
		}
		return "", "", "", invalid("%s %q is not a valid backup ARN (arn:aws:cloudhsm:<region>:<account>:backup/backup-…)", field, clip(arn))
	}
	parts := strings.SplitN(arn, ":", 6)
	return parts[3], parts[4], strings.TrimPrefix(parts[5], "backup/"), nil
}

// ---- tags ----

// updateTags runs fn over the tags of a cluster or a backup of region.
func (s *Service) updateTags(ctx context.Context, region, resourceID string, fn func([]Tag) ([]Tag, error)) error {
	switch {
	case !resourceRE.MatchString(resourceID):
		return invalid("ResourceId %q is not a cluster or backup id", clip(resourceID))
	case strings.HasPrefix(resourceID, "cluster-"):
		_, err := s.updateCluster(ctx, region, resourceID, func(c *clusterRec, _ *putClusterCmd) error {
			if c.State == ClusterDeleted {
				return invalid("cluster %s is deleted", c.ID)
			}
			tags, err := fn(c.Tags)
			c.Tags = tags
			return err
		})
		return err
	default:
		_, err := s.updateBackup(ctx, region, resourceID, func(b *backupRec) error {
			if b.State == BackupDeleted {
				return invalid("backup %s is deleted", b.ID)
			}
			tags, err := fn(b.Tags)
			b.Tags = tags
			return err
		})
		return err
	}
}

// TagResource adds tags to a cluster or backup, replacing the values of keys it has.
func (s *Service) TagResource(ctx context.Context, c Caller, in TagResourceInput) (*TagResourceOutput, error) {
	if len(in.TagList) == 0 {
		return nil, invalid("TagList is required: 1 to %d tags", MaxTags)
	}
	err := s.updateTags(ctx, c.Region, in.ResourceId, func(old []Tag) ([]Tag, error) {
		add := make(map[string]string, len(in.TagList))
		for _, t := range in.TagList {
			add[t.Key] = t.Value
		}
		others := 0
		for _, t := range old {
			if _, ok := add[t.Key]; !ok {
				others++
			}
		}
		if err := checkTags(in.TagList, others); err != nil {
			return nil, err
		}
		out := make([]Tag, 0, others+len(in.TagList))
		for _, t := range old {
			if v, ok := add[t.Key]; ok {
				t.Value = v
				delete(add, t.Key)
			}
			out = append(out, t)
		}
		for _, t := range in.TagList {
			if _, ok := add[t.Key]; ok {
				out = append(out, t)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return &TagResourceOutput{}, nil
}

// UntagResource removes tags by key; keys the resource does not have are ignored.
func (s *Service) UntagResource(ctx context.Context, c Caller, in UntagResourceInput) (*UntagResourceOutput, error) {
	if len(in.TagKeyList) == 0 || len(in.TagKeyList) > MaxTags {
		return nil, invalid("TagKeyList must list 1 to %d tag keys", MaxTags)
	}
	drop := map[string]bool{}
	for _, k := range in.TagKeyList {
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 || !tagRE.MatchString(k) {
			return nil, tagErr("tag key %q is not a valid tag key", clip(k))
		}
		drop[k] = true
	}
	err := s.updateTags(ctx, c.Region, in.ResourceId, func(old []Tag) ([]Tag, error) {
		var out []Tag
		for _, t := range old {
			if !drop[t.Key] {
				out = append(out, t)
			}
		}
		if len(out) == len(old) {
			return old, errNoChange
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return &UntagResourceOutput{}, nil
}

// ListTags lists the tags of a cluster or backup, in the order they were added.
func (s *Service) ListTags(ctx context.Context, c Caller, in ListTagsInput) (*ListTagsOutput, error) {
	max, err := pageSize(in.MaxResults, 100, "MaxResults")
	if err != nil {
		return nil, err
	}
	var tags []Tag
	switch {
	case !resourceRE.MatchString(in.ResourceId):
		return nil, invalid("ResourceId %q is not a cluster or backup id", clip(in.ResourceId))
	case strings.HasPrefix(in.ResourceId, "cluster-"):
		cl, err := s.getCluster(c.Region, in.ResourceId)
		if err != nil {
			return nil, err
		}
		tags = cl.Tags
	default:
		b, err := s.getBackup(c.Region, in.ResourceId)
		if err != nil {
			return nil, err
		}
		tags = b.Tags
	}
	page, next, err := paginate(tags, in.NextToken, max)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []Tag{}
	}
	return &ListTagsOutput{TagList: page, NextToken: next}, nil
}

// ---- resource policies ----

// policyBackup resolves a ResourceArn to a backup of the caller's region and account.
func (s *Service) policyBackup(c Caller, arn string) (*backupRec, error) {
	if arn == "" {
		return nil, invalid("ResourceArn is required: the ARN of a backup")
	}
	region, account, id, err := parseBackupARN(arn, "ResourceArn")
	if err != nil {
		return nil, err
	}
	b, err := s.getBackup(c.Region, id)
	if err != nil || region != c.Region || account != b.Account {
		return nil, notFound("backup %s not found", arn)
	}
	return b, nil
}

// PutResourcePolicy sets the resource policy of a backup: a JSON policy document of 1 to
// 20000 characters. Coffer stores and returns it; it does not share backups across
// accounts.
func (s *Service) PutResourcePolicy(ctx context.Context, c Caller, in ResourcePolicyInput) (*ResourcePolicyOutput, error) {
	if n := utf8.RuneCountInString(in.Policy); n < 1 || n > MaxPolicyLength {
		return nil, invalid("Policy must be 1 to %d characters, got %d", MaxPolicyLength, n)
	}
	if err := checkBackupPolicy(in.Policy); err != nil {
		return nil, err
	}
	b, err := s.policyBackup(c, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	b, err = s.updateBackup(ctx, c.Region, b.ID, func(b *backupRec) error {
		// As on AWS, only a READY backup can be shared.
		if b.State != BackupReady {
			return invalid("backup %s is %s; a resource policy can be put only on a READY backup", b.ID, b.State)
		}
		if b.Policy == in.Policy {
			return errNoChange
		}
		b.Policy = in.Policy
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ResourcePolicyOutput{ResourceArn: b.arn(), Policy: b.Policy}, nil
}

// checkBackupPolicy validates a resource policy document: a JSON object with an optional
// Version (2012-10-17 or 2008-10-17) and a Statement, one statement object or a non-empty
// list of them, each with an Effect of Allow or Deny, a Principal (or NotPrincipal), as a
// resource policy names who it applies to, and an Action (or NotAction). Coffer stores the
// document; it does not evaluate it.
func checkBackupPolicy(policy string) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(policy), &doc); err != nil || doc == nil {
		return invalid("Policy is not a JSON policy document (a JSON object)")
	}
	if v, ok := doc["Version"]; ok {
		var ver string
		if json.Unmarshal(v, &ver) != nil || (ver != "2012-10-17" && ver != "2008-10-17") {
			return invalid("Policy: Version must be 2012-10-17 or 2008-10-17")
		}
	}
	raw, ok := doc["Statement"]
	if !ok {
		return invalid("Policy has no Statement")
	}
	var stmts []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &stmts); err != nil {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil || one == nil {
			return invalid("Policy: Statement must be a statement object or a list of them")
		}
		stmts = []map[string]json.RawMessage{one}
	}
	if len(stmts) == 0 {
		return invalid("Policy: Statement lists no statement")
	}
	for i, st := range stmts {
		if st == nil {
			return invalid("Policy: statement %d is not an object", i+1)
		}
		var effect string
		if json.Unmarshal(st["Effect"], &effect) != nil || (effect != "Allow" && effect != "Deny") {
			return invalid("Policy: statement %d needs an Effect of Allow or Deny", i+1)
		}
		present := func(k string) bool { return st[k] != nil && string(st[k]) != "null" }
		if !present("Principal") && !present("NotPrincipal") {
			return invalid("Policy: statement %d names no Principal: a resource policy says whom it applies to", i+1)
		}
		if !present("Action") && !present("NotAction") {
			return invalid("Policy: statement %d names no Action", i+1)
		}
	}
	return nil
}

// GetResourcePolicy returns the resource policy of a backup (none: no Policy).
func (s *Service) GetResourcePolicy(ctx context.Context, c Caller, in ResourcePolicyInput) (*GetResourcePolicyOutput, error) {
	b, err := s.policyBackup(c, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return &GetResourcePolicyOutput{Policy: b.Policy}, nil
}

// DeleteResourcePolicy removes the resource policy of a backup and returns it.
func (s *Service) DeleteResourcePolicy(ctx context.Context, c Caller, in ResourcePolicyInput) (*ResourcePolicyOutput, error) {
	b, err := s.policyBackup(c, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	old := b.Policy
	b, err = s.updateBackup(ctx, c.Region, b.ID, func(b *backupRec) error {
		if b.Policy == "" {
			return errNoChange
		}
		old = b.Policy
		b.Policy = ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ResourcePolicyOutput{ResourceArn: b.arn(), Policy: old}, nil
}
