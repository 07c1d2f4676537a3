package kms

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// inputValidator is a request with model constraints (enum values, list sizes, lengths)
// that AWS checks before it authorizes the request or looks anything up: a request with an
// unknown EncryptionAlgorithm is a ValidationException whatever key it names. op and
// opNoOutput call it right after decoding.
type inputValidator interface {
	validate() error
}

func validateInput(in any) error {
	if v, ok := in.(inputValidator); ok {
		return v.validate()
	}
	return nil
}

// encryptionAlgorithmEnum is the model's EncryptionAlgorithmSpec.
var encryptionAlgorithmEnum = []string{"SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"}

func checkEncryptionAlgorithm(field, alg string) error {
	if alg != "" && !contains(encryptionAlgorithmEnum, alg) {
		return asymEnumErr(field, alg, encryptionAlgorithmEnum)
	}
	return nil
}

// grantTokenWellFormed reports whether t has the shape of a Coffer grant token
// (newGrantToken); whether its grant still exists is not asked.
func grantTokenWellFormed(t string) bool {
	b, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil && len(b) == 32+64
}

func (in EncryptInput) validate() error {
	if err := checkEncryptionAlgorithm("encryptionAlgorithm", in.EncryptionAlgorithm); err != nil {
		return err
	}
	return asymCheckGrants(in.GrantTokens)
}

// dryRunModifierEnum is the model's DryRunModifierType.
var dryRunModifierEnum = []string{"IGNORE_CIPHERTEXT"}

func checkDryRunModifiers(mods []string) error {
	for _, m := range mods {
		if !contains(dryRunModifierEnum, m) {
			return validation("1 validation error detected: Value '[%s]' at 'dryRunModifiers' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [%s]]",
				strings.Join(mods, ", "), strings.Join(dryRunModifierEnum, ", "))
		}
	}
	return nil
}

// ignoreCiphertext reports whether a Decrypt or ReEncrypt is a DryRun with the
// IGNORE_CIPHERTEXT modifier: only the caller's permission on the named key (and the key's
// state and usage) is checked, not the ciphertext, which may be absent.
func ignoreCiphertext(dryRun bool, mods []string) bool {
	return dryRun && contains(mods, "IGNORE_CIPHERTEXT")
}

func (in DecryptInput) validate() error {
	if err := checkEncryptionAlgorithm("encryptionAlgorithm", in.EncryptionAlgorithm); err != nil {
		return err
	}
	if err := checkDryRunModifiers(in.DryRunModifiers); err != nil {
		return err
	}
	if ignoreCiphertext(in.DryRun, in.DryRunModifiers) && in.KeyId == "" {
		return validation("KeyId is required with DryRunModifiers IGNORE_CIPHERTEXT: it names the KMS key whose permissions the dry run checks.")
	}
	return asymCheckGrants(in.GrantTokens)
}

func (in ReEncryptInput) validate() error {
	if err := checkEncryptionAlgorithm("sourceEncryptionAlgorithm", in.SourceEncryptionAlgorithm); err != nil {
		return err
	}
	if err := checkEncryptionAlgorithm("destinationEncryptionAlgorithm", in.DestinationEncryptionAlgorithm); err != nil {
		return err
	}
	if err := checkDryRunModifiers(in.DryRunModifiers); err != nil {
		return err
	}
	if ignoreCiphertext(in.DryRun, in.DryRunModifiers) && in.SourceKeyId == "" {
		return validation("SourceKeyId is required with DryRunModifiers IGNORE_CIPHERTEXT: it names the KMS key whose permissions the dry run checks.")
	}
	return asymCheckGrants(in.GrantTokens)
}

func (in GenerateDataKeyInput) validate() error {
	if _, err := in.dataKeyLen(); err != nil {
		return err
	}
	return asymCheckGrants(in.GrantTokens)
}

func (in KeyIDInput) validate() error { return asymCheckGrants(in.GrantTokens) }

// CreateAliasInput is also UpdateAliasInput.
func (in CreateAliasInput) validate() error { return validateAliasName(in.AliasName) }

func (in DeleteAliasInput) validate() error { return validateAliasName(in.AliasName) }

// keyIDOnlyOps are the operations whose KeyId is "the key ID or key ARN of the KMS key"
// (the model's documentation): AWS refuses an alias name or alias ARN there with
// NotFoundException "Invalid keyId ...", where the cryptographic operations and
// DescribeKey accept one.
var keyIDOnlyOps = map[string]bool{
	"EnableKey": true, "DisableKey": true, "UpdateKeyDescription": true,
	"ScheduleKeyDeletion": true, "CancelKeyDeletion": true,
	"GetKeyPolicy": true, "PutKeyPolicy": true, "ListKeyPolicies": true,
	"TagResource": true, "UntagResource": true, "ListResourceTags": true,
	"CreateGrant": true, "ListGrants": true, "RevokeGrant": true,
	"EnableKeyRotation": true, "DisableKeyRotation": true, "GetKeyRotationStatus": true,
	"RotateKeyOnDemand": true, "ListKeyRotations": true,
	"GetParametersForImport": true, "ImportKeyMaterial": true, "DeleteImportedKeyMaterial": true,
	"ReplicateKey": true, "UpdatePrimaryRegion": true, "ListAliases": true, "GetKeyLastUsage": true,
}

// minLengthZeroMembers are the top-level string members of KMS requests that may be empty
// (DescriptionType, min 0); every other top-level string member has a minimum length of 1
// or is an enum, of which "" is not a value.
var minLengthZeroMembers = map[string]bool{"Description": true, "KeyMaterialDescription": true}

// requiredNullable are required members whose zero value is valid, so the decoded input
// cannot tell them missing.
var requiredNullable = map[string][]string{"UpdateKeyDescription": {"Description"}}

// checkRawMembers checks what the decoded input cannot show: a top-level string member
// sent as "" (AWS: below the minimum length, not absent), a required member missing, a
// key ARN of a region other than the request's, and an alias as the KeyId of a
// keyIDOnlyOps operation. body has already been decoded into
// the operation's input, so it is a valid JSON object.
func checkRawMembers(op, region string, body []byte) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return nil
	}
	for _, name := range requiredNullable[op] {
		if v, ok := members[name]; !ok || string(v) == "null" {
			return requiredMemberErr(lowerFirst(name))
		}
	}
	for name, v := range members {
		if string(v) == `""` && !minLengthZeroMembers[name] {
			return validation("1 validation error detected: Value '' at '%s' failed to satisfy constraint: Member must have length greater than or equal to 1", lowerFirst(name))
		}
	}
	// Tag's TagValue is required (it may be ""): a tag without one is refused, not given
	// an empty value. Only a client that skips the model's checks sends one.
	if v, ok := members["Tags"]; ok {
		var tags []map[string]json.RawMessage
		if json.Unmarshal(v, &tags) == nil {
			for i, t := range tags {
				if tv, ok := t["TagValue"]; !ok || string(tv) == "null" {
					return validation("1 validation error detected: Value null at 'tags.%d.member.tagValue' failed to satisfy constraint: Member must not be null", i+1)
				}
			}
		}
	}
	if v, ok := members["Marker"]; ok {
		var m string
		if json.Unmarshal(v, &m) == nil && len(m) > 1024 {
			return validation("1 validation error detected: Value '%s' at 'marker' failed to satisfy constraint: Member must have length less than or equal to 1024", m)
		}
	}
	// KMS is regional: a key or alias ARN of another region names nothing in this one.
	for _, name := range []string{"KeyId", "SourceKeyId", "DestinationKeyId"} {
		var id string
		if json.Unmarshal(members[name], &id) != nil || !strings.HasPrefix(id, "arn:") {
			continue
		}
		if parts := strings.SplitN(id, ":", 6); len(parts) == 6 && parts[3] != region {
			if strings.HasPrefix(parts[5], "alias/") {
				return notFound("Alias %s is not found.", id)
			}
			return notFound("Key '%s' does not exist", id)
		}
	}
	if keyIDOnlyOps[op] {
		var id string
		if json.Unmarshal(members["KeyId"], &id) == nil && isAliasRef(id) {
			return notFound("Invalid keyId %s", id)
		}
	}
	return nil
}

// lowerFirst is a member's name as AWS's validation messages spell it (keyId, policy).
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// isAliasRef reports whether a key reference is an alias name or an alias ARN.
func isAliasRef(id string) bool {
	if strings.HasPrefix(id, "alias/") {
		return true
	}
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		return len(parts) == 6 && strings.HasPrefix(parts[5], "alias/")
	}
	return false
}
