package kms

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// metadataOps: aliases, tags, key policies, grants.
var metadataOps = map[string]Op{
	"CreateAlias":         opNoOutput("CreateAlias", (*Service).CreateAlias),
	"UpdateAlias":         opNoOutput("UpdateAlias", (*Service).UpdateAlias),
	"DeleteAlias":         opNoOutput("DeleteAlias", (*Service).DeleteAlias),
	"ListAliases":         op("ListAliases", (*Service).ListAliases),
	"TagResource":         opNoOutput("TagResource", (*Service).TagResource),
	"UntagResource":       opNoOutput("UntagResource", (*Service).UntagResource),
	"ListResourceTags":    op("ListResourceTags", (*Service).ListResourceTags),
	"GetKeyPolicy":        op("GetKeyPolicy", (*Service).GetKeyPolicy),
	"PutKeyPolicy":        opNoOutput("PutKeyPolicy", (*Service).PutKeyPolicy),
	"ListKeyPolicies":     op("ListKeyPolicies", (*Service).ListKeyPolicies),
	"CreateGrant":         op("CreateGrant", (*Service).CreateGrant),
	"ListGrants":          op("ListGrants", (*Service).ListGrants),
	"ListRetirableGrants": op("ListRetirableGrants", (*Service).ListRetirableGrants),
	"RetireGrant":         opNoOutput("RetireGrant", (*Service).RetireGrant),
	"RevokeGrant":         opNoOutput("RevokeGrant", (*Service).RevokeGrant),
}

// Quotas of AWS KMS.
const (
	maxAliasesPerKey = 50
	maxTagsPerKey    = 50
	maxGrantsPerKey  = 50000
)

// ---- shared helpers ----

func requiredMemberErr(field string) *Error {
	return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

// lengthConstraint is AWS's wording of a violated length constraint: the bound that n
// (the member's length) is outside of ("Member must have length less than or equal to
// 4096"; AWS never says "between").
func lengthConstraint(n, min, max int) string {
	if n < min {
		return fmt.Sprintf("Member must have length greater than or equal to %d", min)
	}
	return fmt.Sprintf("Member must have length less than or equal to %d", max)
}

// valueConstraint is AWS's wording of a violated range constraint on an integer member.
func valueConstraint(v, min, max int) string {
	if v < min {
		return fmt.Sprintf("Member must have value greater than or equal to %d", min)
	}
	return fmt.Sprintf("Member must have value less than or equal to %d", max)
}

func memberLengthErr(value, field string, min, max int) *Error {
	return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, field, lengthConstraint(len(value), min, max))
}

// blobLengthErr is memberLengthErr for a blob or secret member, whose value AWS does not echo.
func blobLengthErr(field string, n, min, max int) *Error {
	return validation("1 validation error detected: Value at '%s' failed to satisfy constraint: %s", field, lengthConstraint(n, min, max))
}

func memberPatternErr(value, field, pattern string) *Error {
	return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", value, field, pattern)
}

// markerFor makes the opaque paging marker of the list operations
// here: the sort key of the last item returned. A page starts after the marker's item,
// even if that item was deleted meanwhile (a client deleting what it lists keeps paging).
func markerFor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// pageAfter returns the [start, end) window of sorted keys after marker, at most n long,
// and the marker of the next page ("" on the last page).
func pageAfter(keys []string, marker string, n int) (int, int, string, error) {
	start := 0
	if marker != "" {
		b, err := base64.RawURLEncoding.DecodeString(marker)
		if err != nil || len(b) == 0 || len(marker) > 1024 {
			return 0, 0, "", kmsErr("InvalidMarkerException", "Invalid marker: %s", marker)
		}
		last := string(b)
		start = sort.SearchStrings(keys, last)
		if start < len(keys) && keys[start] == last {
			start++
		}
	}
	end := min(start+n, len(keys))
	next := ""
	if end < len(keys) {
		next = markerFor(keys[end-1])
	}
	return start, end, next, nil
}

// requireOwnKey refuses keys of another account (resolve looks keys up by region and ID).
func requireOwnKey(c Caller, k *keyRec) error {
	if k.Account != c.Account {
		return notFound("Key '%s' does not exist", keyARN(k.Region, c.Account, k.ID))
	}
	return nil
}

func (s *Service) resolveOwn(c Caller, keyID string) (*keyRec, error) {
	k, _, err := s.resolve(c, keyID)
	if err != nil {
		return nil, err
	}
	if err := requireOwnKey(c, k); err != nil {
		return nil, err
	}
	return k, nil
}

// ---- aliases ----

var aliasNameRe = regexp.MustCompile(`^[a-zA-Z0-9:/_-]+$`)

const reservedAliasPrefix = "alias/aws/"

// validateAliasName checks AliasNameType and the alias/ prefix.
func validateAliasName(name string) error {
	switch {
	case name == "":
		return requiredMemberErr("aliasName")
	case len(name) > 256:
		return memberLengthErr(name, "aliasName", 1, 256)
	case !aliasNameRe.MatchString(name):
		return memberPatternErr(name, "aliasName", "^[a-zA-Z0-9:/_-]+$")
	case !strings.HasPrefix(name, "alias/") || len(name) == len("alias/"):
		return validation(`Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`)
	}
	return nil
}

func reservedAlias(name, verb string) error {
	if strings.HasPrefix(strings.ToLower(name), reservedAliasPrefix) {
		return kmsErr("NotAuthorizedException", "Cannot %s alias with prefix '%s'", verb, reservedAliasPrefix)
	}
	return nil
}

// resolveTarget resolves an alias's TargetKeyId: a key ID or key ARN of the caller's
// region and account, not an alias.
func (s *Service) resolveTarget(c Caller, id string) (*keyRec, error) {
	if id == "" {
		return nil, requiredMemberErr("targetKeyId")
	}
	if len(id) > 2048 {
		return nil, memberLengthErr(id, "targetKeyId", 1, 2048)
	}
	if strings.HasPrefix(id, "alias/") {
		return nil, validation("Aliases must refer to keys. Not aliases")
	}
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		if len(parts) == 6 && strings.HasPrefix(parts[5], "alias/") {
			return nil, validation("Aliases must refer to keys. Not aliases")
		}
		if len(parts) == 6 && parts[3] != "" && parts[3] != c.Region {
			return nil, validation("The target key %s must be in the same Region as the alias (%s).", id, c.Region)
		}
	}
	return s.resolveOwn(c, id)
}

// aliasLocked returns the caller's alias (nil if it does not exist or targets a key of
// another account). Callers hold s.mu.
func (s *Service) aliasLocked(c Caller, name string) *aliasRec {
	a := s.aliases[aliasIndex(c.Region, name)]
	if a == nil {
		return nil
	}
	if k := s.keys[keyIndex(a.Region, a.KeyID)]; k != nil && k.Account != c.Account {
		return nil
	}
	return a
}

func aliasNotFound(c Caller, name string) *Error {
	return notFound("Alias %s is not found.", aliasARN(c.Region, c.Account, name))
}

func aliasExists(c Caller, name string) *Error {
	return kmsErr("AlreadyExistsException", "An alias with the name %s already exists", aliasARN(c.Region, c.Account, name))
}

// aliasKeyClass is the alias compatibility class of a key: UpdateAlias requires the same class
// and the same key usage.
func aliasKeyClass(k *keyRec) string {
	switch {
	case k.Spec == SpecSymmetric:
		return "symmetric"
	case strings.HasPrefix(k.Spec, "HMAC_"):
		return "HMAC"
	}
	return "asymmetric"
}

// CreateAliasInput is CreateAlias's request (UpdateAlias has the same members).
type CreateAliasInput struct {
	AliasName   string `json:"AliasName"`
	TargetKeyId string `json:"TargetKeyId"`
}

// UpdateAliasInput is UpdateAlias's request.
type UpdateAliasInput = CreateAliasInput

// DeleteAliasInput is DeleteAlias's request.
type DeleteAliasInput struct {
	AliasName string `json:"AliasName"`
}

// CreateAlias creates an alias for a customer managed key.
func (s *Service) CreateAlias(ctx context.Context, c Caller, in CreateAliasInput) error {
	if err := validateAliasName(in.AliasName); err != nil {
		return err
	}
	if err := reservedAlias(in.AliasName, "create"); err != nil {
		return err
	}
	k, err := s.resolveTarget(c, in.TargetKeyId)
	if err != nil {
		return err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return err
	}
	s.mu.RLock()
	exists := s.aliases[aliasIndex(c.Region, in.AliasName)] != nil
	n := 0
	for _, a := range s.aliases {
		if a.Region == k.Region && a.KeyID == k.ID {
			n++
		}
	}
	s.mu.RUnlock()
	if exists {
		return aliasExists(c, in.AliasName)
	}
	if n >= maxAliasesPerKey {
		return kmsErr("LimitExceededException", "Key %s already has %d aliases, the maximum.", k.arn(), maxAliasesPerKey)
	}
	now := s.now()
	err = s.propose(ctx, cmdPutAlias, putAliasCmd{Alias: &aliasRec{Name: in.AliasName, Region: c.Region, KeyID: k.ID, Created: now, Updated: now}})
	var ke *Error
	if errors.Is(err, errConflict) || errors.As(err, &ke) && ke.Code == "AlreadyExistsException" {
		return aliasExists(c, in.AliasName)
	}
	return err
}

// UpdateAlias points an existing alias at another key of the same type and key usage.
func (s *Service) UpdateAlias(ctx context.Context, c Caller, in UpdateAliasInput) error {
	if err := validateAliasName(in.AliasName); err != nil {
		return err
	}
	if err := reservedAlias(in.AliasName, "update"); err != nil {
		return err
	}
	for attempt := 0; attempt < 10; attempt++ {
		nk, err := s.resolveTarget(c, in.TargetKeyId)
		if err != nil {
			return err
		}
		if err := requireNotPendingDeletion(nk); err != nil {
			return err
		}
		s.mu.RLock()
		a := s.aliasLocked(c, in.AliasName)
		var cur *keyRec
		var old aliasRec
		if a != nil {
			old = *a
			cur = s.keys[keyIndex(a.Region, a.KeyID)]
		}
		s.mu.RUnlock()
		if a == nil {
			return aliasNotFound(c, in.AliasName)
		}
		if cur != nil && (aliasKeyClass(cur) != aliasKeyClass(nk) || cur.Usage != nk.Usage) {
			return validation("Alias %s cannot be updated: the new target key %s (%s, %s) must be of the same key type and key usage as the current target key %s (%s, %s).",
				in.AliasName, nk.arn(), aliasKeyClass(nk), nk.Usage, cur.arn(), aliasKeyClass(cur), cur.Usage)
		}
		if old.KeyID == nk.ID {
			return nil
		}
		na := old
		na.KeyID, na.Updated = nk.ID, s.now()
		err = s.propose(ctx, cmdPutAlias, putAliasCmd{Alias: &na, Expect: old.Revision})
		if errors.Is(err, errConflict) {
			continue
		}
		return err
	}
	return kmsErr("KMSInternalException", "too many concurrent updates of alias %s; retry", in.AliasName)
}

// DeleteAlias deletes an alias (not its key).
func (s *Service) DeleteAlias(ctx context.Context, c Caller, in DeleteAliasInput) error {
	if err := validateAliasName(in.AliasName); err != nil {
		return err
	}
	if err := reservedAlias(in.AliasName, "delete"); err != nil {
		return err
	}
	s.mu.RLock()
	a := s.aliasLocked(c, in.AliasName)
	s.mu.RUnlock()
	if a == nil {
		return aliasNotFound(c, in.AliasName)
	}
	return s.propose(ctx, cmdDeleteAlias, deleteByIDCmd{ID: aliasIndex(c.Region, in.AliasName)})
}

// ListAliasesInput is ListAliases's request.
type ListAliasesInput struct {
	KeyId  string `json:"KeyId"`
	Limit  *int   `json:"Limit"`
	Marker string `json:"Marker"`
}

// AliasListEntry is one alias in ListAliases.
type AliasListEntry struct {
	AliasName       string `json:"AliasName"`
	AliasArn        string `json:"AliasArn"`
	TargetKeyId     string `json:"TargetKeyId,omitempty"`
	CreationDate    *Epoch `json:"CreationDate,omitempty"`
	LastUpdatedDate *Epoch `json:"LastUpdatedDate,omitempty"`
}

// ListAliasesOutput is ListAliases's response.
type ListAliasesOutput struct {
	Aliases    []AliasListEntry `json:"Aliases"`
	NextMarker string           `json:"NextMarker,omitempty"`
	Truncated  bool             `json:"Truncated"`
}

// ListAliases lists the aliases of the caller's account and region, or of one key.
func (s *Service) ListAliases(ctx context.Context, c Caller, in ListAliasesInput) (*ListAliasesOutput, error) {
	n, err := limit(in.Limit, 50, 100)
	if err != nil {
		return nil, err
	}
	keyID := ""
	if in.KeyId != "" {
		k, err := s.resolveOwn(c, in.KeyId)
		if err != nil {
			return nil, err
		}
		keyID = k.ID
	}
	entries := map[string]AliasListEntry{}
	s.mu.RLock()
	for _, a := range s.aliases {
		if a.Region != c.Region || (keyID != "" && a.KeyID != keyID) {
			continue
		}
		if k := s.keys[keyIndex(a.Region, a.KeyID)]; k == nil || k.Account != c.Account {
			continue
		}
		entries[a.Name] = AliasListEntry{AliasName: a.Name, AliasArn: aliasARN(a.Region, c.Account, a.Name), TargetKeyId: a.KeyID,
			CreationDate: epochPtr(a.Created), LastUpdatedDate: epochPtr(a.Updated)}
	}
	s.mu.RUnlock()
	names := slices.Sorted(maps.Keys(entries))
	start, end, next, err := pageAfter(names, in.Marker, n)
	if err != nil {
		return nil, err
	}
	out := &ListAliasesOutput{Aliases: []AliasListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, name := range names[start:end] {
		out.Aliases = append(out.Aliases, entries[name])
	}
	return out, nil
}

// ---- tags ----

// TagResourceInput is TagResource's request.
type TagResourceInput struct {
	KeyId string `json:"KeyId"`
	Tags  []Tag  `json:"Tags"`
}

// UntagResourceInput is UntagResource's request.
type UntagResourceInput struct {
	KeyId   string   `json:"KeyId"`
	TagKeys []string `json:"TagKeys"`
}

// ListResourceTagsInput is ListResourceTags's request.
type ListResourceTagsInput struct {
	KeyId  string `json:"KeyId"`
	Limit  *int   `json:"Limit"`
	Marker string `json:"Marker"`
}

// ListResourceTagsOutput is ListResourceTags's response.
type ListResourceTagsOutput struct {
	Tags       []Tag  `json:"Tags"`
	NextMarker string `json:"NextMarker,omitempty"`
	Truncated  bool   `json:"Truncated"`
}

// TagResource adds tags to a key or replaces the values of its existing tag keys.
func (s *Service) TagResource(ctx context.Context, c Caller, in TagResourceInput) error {
	if in.Tags == nil {
		return requiredMemberErr("tags")
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	_, err := s.update(ctx, c, in.KeyId, func(k *keyRec, m *material) error {
		if err := requireOwnKey(c, k); err != nil {
			return err
		}
		if err := requireNotPendingDeletion(k); err != nil {
			return err
		}
		merged := dedupeTags(append(slices.Clone(k.Tags), in.Tags...))
		if len(merged) > maxTagsPerKey {
			return kmsErr("TagException", "A KMS key can have at most %d tags; %s would have %d.", maxTagsPerKey, k.arn(), len(merged))
		}
		if slices.Equal(merged, k.Tags) {
			return errNoChange
		}
		k.Tags = merged
		return nil
	})
	return err
}

// UntagResource removes tags (by tag key) from a key; absent keys are ignored.
func (s *Service) UntagResource(ctx context.Context, c Caller, in UntagResourceInput) error {
	if in.TagKeys == nil {
		return requiredMemberErr("tagKeys")
	}
	for _, tk := range in.TagKeys {
		if len(tk) < 1 || len(tk) > 128 {
			return memberLengthErr(tk, "tagKeys.member", 1, 128)
		}
		if strings.HasPrefix(strings.ToLower(tk), "aws:") {
			return kmsErr("TagException", "Tags beginning with aws: are reserved")
		}
	}
	_, err := s.update(ctx, c, in.KeyId, func(k *keyRec, m *material) error {
		if err := requireOwnKey(c, k); err != nil {
			return err
		}
		if err := requireNotPendingDeletion(k); err != nil {
			return err
		}
		kept := slices.DeleteFunc(slices.Clone(k.Tags), func(t Tag) bool { return slices.Contains(in.TagKeys, t.TagKey) })
		if len(kept) == len(k.Tags) {
			return errNoChange
		}
		k.Tags = kept
		return nil
	})
	return err
}

// ListResourceTags lists a key's tags, sorted by tag key.
func (s *Service) ListResourceTags(ctx context.Context, c Caller, in ListResourceTagsInput) (*ListResourceTagsOutput, error) {
	n, err := limit(in.Limit, 50, 50)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveOwn(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	tags := slices.Clone(k.Tags)
	sort.Slice(tags, func(i, j int) bool { return tags[i].TagKey < tags[j].TagKey })
	keys := make([]string, len(tags))
	for i, t := range tags {
		keys[i] = t.TagKey
	}
	start, end, next, err := pageAfter(keys, in.Marker, n)
	if err != nil {
		return nil, err
	}
	return &ListResourceTagsOutput{Tags: append([]Tag{}, tags[start:end]...), NextMarker: next, Truncated: next != ""}, nil
}

// ---- key policies ----

const defaultPolicyName = "default"

var policyNameRe = regexp.MustCompile(`^\w+$`)

// checkPolicyName validates a PolicyName (default "default") against PolicyNameType.
func checkPolicyName(name string) (string, error) {
	if name == "" {
		return defaultPolicyName, nil
	}
	if len(name) > 128 {
		return "", memberLengthErr(name, "policyName", 1, 128)
	}
	if !policyNameRe.MatchString(name) {
		return "", memberPatternErr(name, "policyName", `[\w]+`)
	}
	return name, nil
}

func policyNotFound(k *keyRec, name string) *Error {
	return notFound("Policy '%s' does not exist on key %s. The only key policy name is 'default'.", name, k.arn())
}

// GetKeyPolicyInput is GetKeyPolicy's request.
type GetKeyPolicyInput struct {
	KeyId      string `json:"KeyId"`
	PolicyName string `json:"PolicyName"`
}

// GetKeyPolicyOutput is GetKeyPolicy's response.
type GetKeyPolicyOutput struct {
	Policy     string `json:"Policy"`
	PolicyName string `json:"PolicyName"`
}

// PutKeyPolicyInput is PutKeyPolicy's request.
type PutKeyPolicyInput struct {
	KeyId                          string `json:"KeyId"`
	PolicyName                     string `json:"PolicyName"`
	Policy                         string `json:"Policy"`
	BypassPolicyLockoutSafetyCheck bool   `json:"BypassPolicyLockoutSafetyCheck"`
}

// ListKeyPoliciesInput is ListKeyPolicies's request.
type ListKeyPoliciesInput struct {
	KeyId  string `json:"KeyId"`
	Limit  *int   `json:"Limit"`
	Marker string `json:"Marker"`
}

// ListKeyPoliciesOutput is ListKeyPolicies's response.
type ListKeyPoliciesOutput struct {
	PolicyNames []string `json:"PolicyNames"`
	NextMarker  string   `json:"NextMarker,omitempty"`
	Truncated   bool     `json:"Truncated"`
}

// GetKeyPolicy returns a key's policy.
func (s *Service) GetKeyPolicy(ctx context.Context, c Caller, in GetKeyPolicyInput) (*GetKeyPolicyOutput, error) {
	name, err := checkPolicyName(in.PolicyName)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveOwn(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	if name != defaultPolicyName {
		return nil, policyNotFound(k, name)
	}
	return &GetKeyPolicyOutput{Policy: k.Policy, PolicyName: defaultPolicyName}, nil
}

// PutKeyPolicy replaces a key's policy. Unless BypassPolicyLockoutSafetyCheck, the new
// policy must let the caller change it again (checkLockout). Policies are stored
// here and enforced by the authorization layer.
func (s *Service) PutKeyPolicy(ctx context.Context, c Caller, in PutKeyPolicyInput) error {
	name, err := checkPolicyName(in.PolicyName)
	if err != nil {
		return err
	}
	if err := ValidatePolicy(in.Policy); err != nil {
		return err
	}
	k, err := s.resolveOwn(c, in.KeyId)
	if err != nil {
		return err
	}
	if name != defaultPolicyName {
		return policyNotFound(k, name)
	}
	if err := s.checkLockout(c, in.Policy, k.arn(), in.BypassPolicyLockoutSafetyCheck); err != nil {
		return err
	}
	_, err = s.update(ctx, c, in.KeyId, func(k *keyRec, m *material) error {
		if err := requireNotPendingDeletion(k); err != nil {
			return err
		}
		if k.Policy == in.Policy {
			return errNoChange
		}
		k.Policy = in.Policy
		return nil
	})
	return err
}

// ListKeyPolicies lists the names of a key's policies: always just "default".
func (s *Service) ListKeyPolicies(ctx context.Context, c Caller, in ListKeyPoliciesInput) (*ListKeyPoliciesOutput, error) {
	if _, err := limit(in.Limit, 100, 1000); err != nil {
		return nil, err
	}
	if _, err := s.resolveOwn(c, in.KeyId); err != nil {
		return nil, err
	}
	if in.Marker != "" {
		return nil, kmsErr("InvalidMarkerException", "Invalid marker: %s", in.Marker)
	}
	return &ListKeyPoliciesOutput{PolicyNames: []string{defaultPolicyName}, Truncated: false}, nil
}

// ---- grants ----

// Grant operations (GrantOperation).
var grantOperations = []string{"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
	"ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey", "GenerateDataKeyPair",
	"GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "DeriveSharedSecret"}

// grantOpsFor are the grant operations a key supports.
func grantOpsFor(k *keyRec) []string {
	ops := []string{"CreateGrant", "RetireGrant", "DescribeKey"}
	switch k.Usage {
	case UsageEncrypt:
		if k.Spec == SpecSymmetric {
			return append(ops, "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
				"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext")
		}
		return append(ops, "Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey")
	case UsageSign:
		return append(ops, "Sign", "Verify", "GetPublicKey")
	case UsageMAC:
		return append(ops, "GenerateMac", "VerifyMac")
	case UsageKeyAgreement:
		return append(ops, "DeriveSharedSecret", "GetPublicKey")
	}
	return ops
}

var (
	principalIDRe    = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	iamPrincipalRe   = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:(root|user/.+|role/.+|federated-user/.+)$`)
	stsPrincipalRe   = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:sts::[0-9]{12}:(assumed-role/[^/]+/.+|federated-user/.+)$`)
	servicePrincipal = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.amazonaws\.com(\.cn)?$`)
	grantNameRe      = regexp.MustCompile(`^[a-zA-Z0-9:/_-]+$`)
	grantIDRe        = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// validatePrincipal checks a grantee or retiring principal: PrincipalIdType, and an IAM or
// STS principal ARN or a service principal.
func validatePrincipal(p, field string) error {
	switch {
	case p == "":
		return requiredMemberErr(field)
	case len(p) > 256:
		return memberLengthErr(p, field, 1, 256)
	case !principalIDRe.MatchString(p):
		return memberPatternErr(p, field, `^[\w+=,.@:/-]+$`)
	case iamPrincipalRe.MatchString(p), stsPrincipalRe.MatchString(p), servicePrincipal.MatchString(p):
		return nil
	}
	return validation("Value '%s' at '%s' is not a valid principal: use the ARN of an account root, IAM user, role, federated user or assumed-role session, or a service principal", p, field)
}

func validateGrantID(id string) error {
	if id == "" {
		return requiredMemberErr("grantId")
	}
	if len(id) > 128 {
		return memberLengthErr(id, "grantId", 1, 128)
	}
	if !grantIDRe.MatchString(id) {
		return kmsErr("InvalidGrantIdException", "Invalid grant ID %s", id)
	}
	return nil
}

func grantNotFound(k *keyRec, id string) *Error {
	return notFound("Grant ID %s not found for key %s", id, k.arn())
}

func grantIssuingAccount(account string) string { return "arn:aws:iam::" + account + ":root" }

// normalizeConstraints drops empty constraints and copies the maps.
func normalizeConstraints(gc *GrantConstraints) *GrantConstraints {
	if gc == nil || (len(gc.EncryptionContextEquals) == 0 && len(gc.EncryptionContextSubset) == 0) {
		return nil
	}
	out := &GrantConstraints{}
	if len(gc.EncryptionContextEquals) > 0 {
		out.EncryptionContextEquals = maps.Clone(gc.EncryptionContextEquals)
	}
	if len(gc.EncryptionContextSubset) > 0 {
		out.EncryptionContextSubset = maps.Clone(gc.EncryptionContextSubset)
	}
	return out
}

func validateConstraints(gc *GrantConstraints) error {
	if gc == nil {
		return nil
	}
	for field, m := range map[string]map[string]string{"encryptionContextEquals": gc.EncryptionContextEquals, "encryptionContextSubset": gc.EncryptionContextSubset} {
		if len(m) > 8 {
			return validation("1 validation error detected: Value at 'constraints.%s' failed to satisfy constraint: a grant constraint can have at most 8 encryption context pairs", field)
		}
		for k, v := range m {
			if k == "" {
				return validation("1 validation error detected: Value at 'constraints.%s' failed to satisfy constraint: encryption context keys must not be empty", field)
			}
			if len(v) > 384 {
				return validation("1 validation error detected: Value at 'constraints.%s' failed to satisfy constraint: encryption context values must have length less than or equal to 384", field)
			}
		}
	}
	return nil
}

func sameStringSet(a, b []string) bool {
	x, y := slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

func constraintsEqual(a, b *GrantConstraints) bool {
	if a == nil || b == nil {
		return a == b
	}
	return maps.Equal(a.EncryptionContextEquals, b.EncryptionContextEquals) && maps.Equal(a.EncryptionContextSubset, b.EncryptionContextSubset)
}

// newGrantToken makes a grant token: base64url of the grant ID's 32 bytes followed by 64
// random bytes. The ID prefix lets a token be looked up without scanning; the random part
// is the bearer secret.
func (s *Service) newGrantToken(idBytes []byte) (string, error) {
	b := make([]byte, 32+64)
	copy(b, idBytes)
	if _, err := io.ReadFull(s.cfg.Rand, b[32:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// grantByTokenLocked finds the grant of a token, comparing tokens in constant time.
// Callers hold s.mu.
func (s *Service) grantByTokenLocked(token string) *grantRec {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 32+64 {
		return nil
	}
	g := s.grants[hex.EncodeToString(b[:32])]
	if g == nil {
		return nil
	}
	x, y := sha256.Sum256([]byte(g.Token)), sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(x[:], y[:]) != 1 {
		return nil
	}
	return g
}

func invalidGrantToken() *Error {
	return kmsErr("InvalidGrantTokenException", "The grant token is not valid.")
}

func validateGrantTokens(tokens []string) error {
	if len(tokens) > 10 {
		return validation("1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	for _, t := range tokens {
		if len(t) < 1 || len(t) > 8192 {
			return blobLengthErr("grantTokens.member", len(t), 1, 8192)
		}
	}
	return nil
}

// GrantView is a copy of a grant, for the authorization layer.
type GrantView struct {
	GrantId           string
	KeyId             string // key ID (not ARN)
	Region            string
	Name              string
	GranteePrincipal  string
	RetiringPrincipal string
	IssuingAccount    string // arn:aws:iam::ACCOUNT:root
	Operations        []string
	Constraints       *GrantConstraints
	CreationDate      time.Time
}

func (g *grantRec) view() GrantView {
	return GrantView{GrantId: g.ID, KeyId: g.KeyID, Region: g.Region, Name: g.Name, GranteePrincipal: g.GranteePrincipal,
		RetiringPrincipal: g.RetiringPrincipal, IssuingAccount: g.IssuingAccount, Operations: slices.Clone(g.Operations),
		Constraints: normalizeConstraints(g.Constraints), CreationDate: g.Created}
}

// GrantsFor returns copies of the grants of a key (by region and key ID), oldest first.
func (s *Service) GrantsFor(region, keyID string) []GrantView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []GrantView
	for _, g := range s.grants {
		if g.Region == region && g.KeyID == keyID {
			out = append(out, g.view())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreationDate.Equal(out[j].CreationDate) {
			return out[i].CreationDate.Before(out[j].CreationDate)
		}
		return out[i].GrantId < out[j].GrantId
	})
	return out
}

// ValidGrantToken reports whether token is the token of an existing grant (constant-time
// comparison).
func (s *Service) ValidGrantToken(token string) bool {
	_, ok := s.GrantByToken(token)
	return ok
}

// GrantByToken returns a copy of the grant a token designates.
func (s *Service) GrantByToken(token string) (GrantView, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.grantByTokenLocked(token)
	if g == nil {
		return GrantView{}, false
	}
	return g.view(), true
}

// CreateGrantInput is CreateGrant's request.
type CreateGrantInput struct {
	KeyId             string            `json:"KeyId"`
	GranteePrincipal  string            `json:"GranteePrincipal"`
	RetiringPrincipal string            `json:"RetiringPrincipal"`
	Operations        []string          `json:"Operations"`
	Constraints       *GrantConstraints `json:"Constraints"`
	GrantTokens       []string          `json:"GrantTokens"`
	Name              string            `json:"Name"`
	DryRun            bool              `json:"DryRun"`
}

// CreateGrantOutput is CreateGrant's response.
type CreateGrantOutput struct {
	GrantToken string `json:"GrantToken"`
	GrantId    string `json:"GrantId"`
}

// CreateGrant creates a grant on a key. With a Name, retrying with identical parameters
// returns the existing grant (and its token) instead of creating another one.
func (s *Service) CreateGrant(ctx context.Context, c Caller, in CreateGrantInput) (*CreateGrantOutput, error) {
	if err := validatePrincipal(in.GranteePrincipal, "granteePrincipal"); err != nil {
		return nil, err
	}
	if in.RetiringPrincipal != "" {
		if err := validatePrincipal(in.RetiringPrincipal, "retiringPrincipal"); err != nil {
			return nil, err
		}
	}
	if in.Operations == nil {
		return nil, requiredMemberErr("operations")
	}
	if len(in.Operations) == 0 {
		return nil, validation("1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	var ops []string
	for _, o := range in.Operations {
		if !slices.Contains(grantOperations, o) {
			return nil, validation("1 validation error detected: Value '[%s]' at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [%s]]",
				strings.Join(in.Operations, ", "), strings.Join(grantOperations, ", "))
		}
		if !slices.Contains(ops, o) {
			ops = append(ops, o)
		}
	}
	if in.Name != "" {
		if len(in.Name) > 256 {
			return nil, memberLengthErr(in.Name, "name", 1, 256)
		}
		if !grantNameRe.MatchString(in.Name) {
			return nil, memberPatternErr(in.Name, "name", "^[a-zA-Z0-9:/_-]+$")
		}
	}
	if err := validateGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	constraints := normalizeConstraints(in.Constraints)
	if err := validateConstraints(constraints); err != nil {
		return nil, err
	}
	k, err := s.resolveOwn(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	// AWS's key state table: DisabledException for a disabled key, KMSInvalidStateException
	// for one pending deletion or pending import ("<key ARN> is pending import.").
	if err := requireEnabled(k); err != nil {
		return nil, err
	}
	supported := grantOpsFor(k)
	for _, o := range ops {
		if !slices.Contains(supported, o) {
			return nil, validation("Grant operation %s is not supported for key %s (KeySpec %s, KeyUsage %s).", o, k.arn(), k.Spec, k.Usage)
		}
	}
	if constraints != nil && (k.Spec != SpecSymmetric || k.Usage != UsageEncrypt) {
		return nil, validation("Grant constraints are supported only for cryptographic operations with symmetric encryption KMS keys; %s is %s.", k.arn(), k.Spec)
	}

	s.mu.RLock()
	for _, t := range in.GrantTokens {
		if s.grantByTokenLocked(t) == nil {
			s.mu.RUnlock()
			return nil, invalidGrantToken()
		}
	}
	n := 0
	var existing *grantRec
	for _, g := range s.grants {
		if g.Region != k.Region || g.KeyID != k.ID {
			continue
		}
		n++
		if in.Name != "" && existing == nil && g.Name == in.Name && g.GranteePrincipal == in.GranteePrincipal &&
			g.RetiringPrincipal == in.RetiringPrincipal && sameStringSet(g.Operations, ops) &&
			constraintsEqual(normalizeConstraints(g.Constraints), constraints) {
			existing = g
		}
	}
	var found CreateGrantOutput
	if existing != nil {
		found = CreateGrantOutput{GrantToken: existing.Token, GrantId: existing.ID}
	}
	s.mu.RUnlock()
	if existing == nil && n >= maxGrantsPerKey {
		return nil, kmsErr("LimitExceededException", "Key %s already has %d grants, the maximum.", k.arn(), maxGrantsPerKey)
	}
	if in.DryRun {
		return nil, errDryRun
	}
	if existing != nil {
		return &found, nil
	}

	idBytes := make([]byte, 32)
	if _, err := io.ReadFull(s.cfg.Rand, idBytes); err != nil {
		return nil, err
	}
	token, err := s.newGrantToken(idBytes)
	if err != nil {
		return nil, err
	}
	g := grantRec{ID: hex.EncodeToString(idBytes), Token: token, KeyID: k.ID, Region: k.Region, Name: in.Name,
		GranteePrincipal: in.GranteePrincipal, RetiringPrincipal: in.RetiringPrincipal, IssuingAccount: grantIssuingAccount(k.Account),
		Operations: ops, Constraints: constraints, Created: s.now()}
	if err := s.propose(ctx, cmdPutGrant, g); err != nil {
		return nil, err
	}
	return &CreateGrantOutput{GrantToken: token, GrantId: g.ID}, nil
}

// ListGrantsInput is ListGrants's request.
type ListGrantsInput struct {
	Limit            *int   `json:"Limit"`
	Marker           string `json:"Marker"`
	KeyId            string `json:"KeyId"`
	GrantId          string `json:"GrantId"`
	GranteePrincipal string `json:"GranteePrincipal"`
}

// ListRetirableGrantsInput is ListRetirableGrants's request.
type ListRetirableGrantsInput struct {
	Limit             *int   `json:"Limit"`
	Marker            string `json:"Marker"`
	RetiringPrincipal string `json:"RetiringPrincipal"`
}

// GrantListEntry is one grant in ListGrants and ListRetirableGrants.
type GrantListEntry struct {
	KeyId             string            `json:"KeyId"`
	GrantId           string            `json:"GrantId"`
	Name              string            `json:"Name,omitempty"`
	CreationDate      *Epoch            `json:"CreationDate,omitempty"`
	GranteePrincipal  string            `json:"GranteePrincipal"`
	RetiringPrincipal string            `json:"RetiringPrincipal,omitempty"`
	IssuingAccount    string            `json:"IssuingAccount"`
	Operations        []string          `json:"Operations"`
	Constraints       *GrantConstraints `json:"Constraints,omitempty"`
}

// ListGrantsOutput is the response of ListGrants and ListRetirableGrants.
type ListGrantsOutput struct {
	Grants     []GrantListEntry `json:"Grants"`
	NextMarker string           `json:"NextMarker,omitempty"`
	Truncated  bool             `json:"Truncated"`
}

// grantSortKey orders grants by creation, then ID; it is the paging marker's content.
func grantSortKey(g *grantRec) string {
	return fmt.Sprintf("%020d/%s", g.Created.UnixNano(), g.ID)
}

// listGrants pages the grants selected by keep (keep runs under s.mu's read lock).
func (s *Service) listGrants(c Caller, keep func(*grantRec) bool, marker string, n int) (*ListGrantsOutput, error) {
	entries := map[string]GrantListEntry{}
	s.mu.RLock()
	for _, g := range s.grants {
		if !keep(g) {
			continue
		}
		account := c.Account
		if k := s.keys[keyIndex(g.Region, g.KeyID)]; k != nil {
			account = k.Account
		}
		v := g.view()
		entries[grantSortKey(g)] = GrantListEntry{KeyId: keyARN(g.Region, account, g.KeyID), GrantId: g.ID, Name: g.Name,
			CreationDate: epochPtr(g.Created), GranteePrincipal: g.GranteePrincipal, RetiringPrincipal: g.RetiringPrincipal,
			IssuingAccount: g.IssuingAccount, Operations: v.Operations, Constraints: v.Constraints}
	}
	s.mu.RUnlock()
	keys := slices.Sorted(maps.Keys(entries))
	start, end, next, err := pageAfter(keys, marker, n)
	if err != nil {
		return nil, err
	}
	out := &ListGrantsOutput{Grants: []GrantListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, sk := range keys[start:end] {
		out.Grants = append(out.Grants, entries[sk])
	}
	return out, nil
}

// ListGrants lists the grants of a key, optionally only one grant ID or one grantee.
func (s *Service) ListGrants(ctx context.Context, c Caller, in ListGrantsInput) (*ListGrantsOutput, error) {
	n, err := limit(in.Limit, 50, 100)
	if err != nil {
		return nil, err
	}
	if len(in.GrantId) > 128 {
		return nil, memberLengthErr(in.GrantId, "grantId", 1, 128)
	}
	if in.GranteePrincipal != "" {
		if len(in.GranteePrincipal) > 256 {
			return nil, memberLengthErr(in.GranteePrincipal, "granteePrincipal", 1, 256)
		}
		if !principalIDRe.MatchString(in.GranteePrincipal) {
			return nil, memberPatternErr(in.GranteePrincipal, "granteePrincipal", `^[\w+=,.@:/-]+$`)
		}
	}
	k, err := s.resolveOwn(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	return s.listGrants(c, func(g *grantRec) bool {
		return g.Region == k.Region && g.KeyID == k.ID && (in.GrantId == "" || g.ID == in.GrantId) &&
			(in.GranteePrincipal == "" || g.GranteePrincipal == in.GranteePrincipal)
	}, in.Marker, n)
}

// ListRetirableGrants lists the grants of the caller's account and region that a
// principal can retire.
func (s *Service) ListRetirableGrants(ctx context.Context, c Caller, in ListRetirableGrantsInput) (*ListGrantsOutput, error) {
	n, err := limit(in.Limit, 50, 100)
	if err != nil {
		return nil, err
	}
	if err := validatePrincipal(in.RetiringPrincipal, "retiringPrincipal"); err != nil {
		return nil, err
	}
	acct := grantIssuingAccount(c.Account)
	return s.listGrants(c, func(g *grantRec) bool {
		return g.Region == c.Region && g.IssuingAccount == acct && g.RetiringPrincipal == in.RetiringPrincipal
	}, in.Marker, n)
}

// RetireGrantInput is RetireGrant's request.
type RetireGrantInput struct {
	GrantToken string `json:"GrantToken"`
	KeyId      string `json:"KeyId"`
	GrantId    string `json:"GrantId"`
	DryRun     bool   `json:"DryRun"`
}

// RevokeGrantInput is RevokeGrant's request.
type RevokeGrantInput struct {
	KeyId   string `json:"KeyId"`
	GrantId string `json:"GrantId"`
	DryRun  bool   `json:"DryRun"`
}

// findGrant returns the grant id of key k (a copy), NotFoundException if there is none.
func (s *Service) findGrant(k *keyRec, id string) (grantRec, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.grants[id]
	if g == nil || g.Region != k.Region || g.KeyID != k.ID {
		return grantRec{}, grantNotFound(k, id)
	}
	return *g, nil
}

// deleteGrant removes a grant; a grant deleted meanwhile is NotFoundException.
func (s *Service) deleteGrant(ctx context.Context, id string) error {
	err := s.propose(ctx, cmdDeleteGrant, deleteByIDCmd{ID: id})
	var ke *Error
	if errors.As(err, &ke) && ke.Code == "NotFoundException" {
		return notFound("Grant ID %s not found", id)
	}
	return err
}

// RetireGrant deletes a grant designated by its token, or by key and grant ID.
func (s *Service) RetireGrant(ctx context.Context, c Caller, in RetireGrantInput) error {
	var id string
	switch {
	case in.GrantToken != "":
		if len(in.GrantToken) > 8192 {
			return blobLengthErr("grantToken", len(in.GrantToken), 1, 8192)
		}
		s.mu.RLock()
		g := s.grantByTokenLocked(in.GrantToken)
		var gc grantRec
		if g != nil {
			gc = *g
		}
		s.mu.RUnlock()
		if g == nil {
			return invalidGrantToken()
		}
		if in.GrantId != "" && in.GrantId != gc.ID {
			return kmsErr("InvalidGrantIdException", "Grant ID %s does not match the grant token", in.GrantId)
		}
		if in.KeyId != "" {
			k, err := s.resolveOwn(c, in.KeyId)
			if err != nil {
				return err
			}
			if k.ID != gc.KeyID || k.Region != gc.Region {
				return kmsErr("InvalidGrantIdException", "The grant token is not for key %s", k.arn())
			}
		}
		id = gc.ID
	case in.KeyId == "" && in.GrantId == "":
		return validation("Either GrantToken, or KeyId and GrantId, must be specified.")
	case in.KeyId == "":
		return requiredMemberErr("keyId")
	default:
		if err := validateGrantID(in.GrantId); err != nil {
			return err
		}
		k, err := s.resolveOwn(c, in.KeyId)
		if err != nil {
			return err
		}
		if _, err := s.findGrant(k, in.GrantId); err != nil {
			return err
		}
		id = in.GrantId
	}
	if in.DryRun {
		return errDryRun
	}
	return s.deleteGrant(ctx, id)
}

// RevokeGrant deletes a grant of a key.
func (s *Service) RevokeGrant(ctx context.Context, c Caller, in RevokeGrantInput) error {
	if err := validateGrantID(in.GrantId); err != nil {
		return err
	}
	k, err := s.resolveOwn(c, in.KeyId)
	if err != nil {
		return err
	}
	if _, err := s.findGrant(k, in.GrantId); err != nil {
		return err
	}
	if in.DryRun {
		return errDryRun
	}
	return s.deleteGrant(ctx, in.GrantId)
}
