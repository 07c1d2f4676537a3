package kms

import (
	"strconv"
	"time"
)

// The permissions each operation's request needs (authz.go). The op dispatch requires
// every request type to implement authInput, so an operation cannot be added without
// saying how it is authorized.

// condKeys builds operation-specific condition keys from name/value pairs; empty values
// are left out (the key is absent from the request context).
func condKeys(pairs ...string) map[string][]string {
	m := make(map[string][]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			m[pairs[i]] = []string{pairs[i+1]}
		}
	}
	return m
}

func keyCheck(id string, keys map[string][]string) []authCheck {
	return []authCheck{{scope: scopeKey, keyID: id, keys: keys}}
}

func accountCheck(keys map[string][]string) []authCheck {
	return []authCheck{{scope: scopeAccount, keys: keys}}
}

// tagKeys fills aws:RequestTag/<key> and aws:TagKeys.
func tagKeys(m map[string][]string, tags []Tag) map[string][]string {
	if len(tags) == 0 {
		return m
	}
	keys := make([]string, 0, len(tags))
	for _, t := range tags {
		m["aws:RequestTag/"+t.TagKey] = []string{t.TagValue}
		keys = append(keys, t.TagKey)
	}
	m["aws:TagKeys"] = keys
	return m
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func boolStr(b bool) string { return strconv.FormatBool(b) }

// ---- keys.go ----

func (in CreateKeyInput) authChecks(string) []authCheck {
	spec := orDefault(in.KeySpec, orDefault(in.CustomerMasterKeySpec, SpecSymmetric))
	m := condKeys("kms:KeySpec", spec, "kms:KeyUsage", in.KeyUsage, "kms:KeyOrigin", orDefault(in.Origin, OriginKMS),
		"kms:BypassPolicyLockoutSafetyCheck", boolStr(in.BypassPolicyLockoutSafetyCheck),
		"kms:MultiRegion", boolStr(in.MultiRegion != nil && *in.MultiRegion))
	return accountCheck(tagKeys(m, in.Tags))
}

func (in KeyIDInput) authChecks(string) []authCheck { return keyCheck(in.KeyId, nil) }

func (in ListInput) authChecks(string) []authCheck { return accountCheck(nil) }

func (in UpdateKeyDescriptionInput) authChecks(string) []authCheck { return keyCheck(in.KeyId, nil) }

// ---- crypto.go ----

func (in EncryptInput) authChecks(string) []authCheck {
	return []authCheck{{scope: scopeKey, keyID: in.KeyId, ec: in.EncryptionContext, hasEC: true,
		keys: condKeys("kms:EncryptionAlgorithm", orDefault(in.EncryptionAlgorithm, "SYMMETRIC_DEFAULT"))}}
}

func (in DecryptInput) authChecks(string) []authCheck {
	alg := orDefault(in.EncryptionAlgorithm, "SYMMETRIC_DEFAULT")
	ch := authCheck{scope: scopeKey, ec: in.EncryptionContext, hasEC: true, keys: condKeys("kms:EncryptionAlgorithm", alg)}
	if alg == "SYMMETRIC_DEFAULT" && !ignoreCiphertext(in.DryRun, in.DryRunModifiers) {
		ch.blob = nonNil(in.CiphertextBlob) // the key named by the ciphertext
	} else {
		ch.keyID = in.KeyId
	}
	return []authCheck{ch}
}

func (in ReEncryptInput) authChecks(string) []authCheck {
	srcAlg := orDefault(in.SourceEncryptionAlgorithm, "SYMMETRIC_DEFAULT")
	src := authCheck{scope: scopeKey, action: "kms:ReEncryptFrom", ec: in.SourceEncryptionContext, hasEC: true,
		keys: condKeys("kms:EncryptionAlgorithm", srcAlg)}
	if srcAlg == "SYMMETRIC_DEFAULT" && !ignoreCiphertext(in.DryRun, in.DryRunModifiers) {
		src.blob = nonNil(in.CiphertextBlob)
	} else {
		src.keyID = in.SourceKeyId
	}
	dst := authCheck{scope: scopeKey, action: "kms:ReEncryptTo", keyID: in.DestinationKeyId, ec: in.DestinationEncryptionContext,
		hasEC: true, keys: condKeys("kms:EncryptionAlgorithm", orDefault(in.DestinationEncryptionAlgorithm, "SYMMETRIC_DEFAULT"))}
	return []authCheck{src, dst}
}

func (in GenerateDataKeyInput) authChecks(string) []authCheck {
	return []authCheck{{scope: scopeKey, keyID: in.KeyId, ec: in.EncryptionContext, hasEC: true,
		keys: condKeys("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")}}
}

func (in GenerateRandomInput) authChecks(string) []authCheck { return accountCheck(nil) }

// ---- asymmetric.go ----

func (in SignInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, condKeys("kms:SigningAlgorithm", in.SigningAlgorithm, "kms:MessageType", orDefault(in.MessageType, "RAW")))
}

func (in VerifyInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, condKeys("kms:SigningAlgorithm", in.SigningAlgorithm, "kms:MessageType", orDefault(in.MessageType, "RAW")))
}

func (in GetPublicKeyInput) authChecks(string) []authCheck { return keyCheck(in.KeyId, nil) }

func (in GenerateMacInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, condKeys("kms:MacAlgorithm", in.MacAlgorithm))
}

func (in VerifyMacInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, condKeys("kms:MacAlgorithm", in.MacAlgorithm))
}

func (in DeriveSharedSecretInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, condKeys("kms:KeyAgreementAlgorithm", in.KeyAgreementAlgorithm))
}

func (in GenerateDataKeyPairInput) authChecks(string) []authCheck {
	return []authCheck{{scope: scopeKey, keyID: in.KeyId, ec: in.EncryptionContext, hasEC: true,
		keys: condKeys("kms:DataKeyPairSpec", in.KeyPairSpec)}}
}

// ---- lifecycle.go ----

func (in EnableKeyRotationInput) authChecks(string) []authCheck {
	p := ""
	if in.RotationPeriodInDays != nil {
		p = strconv.Itoa(*in.RotationPeriodInDays)
	}
	return keyCheck(in.KeyId, condKeys("kms:RotationPeriodInDays", p))
}

func (in ListKeyRotationsInput) authChecks(string) []authCheck { return keyCheck(in.KeyId, nil) }

func (in ScheduleKeyDeletionInput) authChecks(string) []authCheck {
	w := "30"
	if in.PendingWindowInDays != nil {
		w = strconv.Itoa(*in.PendingWindowInDays)
	}
	return keyCheck(in.KeyId, condKeys("kms:ScheduleKeyDeletionPendingWindowInDays", w))
}

// ---- metadata.go ----

// CreateAliasInput is also UpdateAliasInput.
func (in CreateAliasInput) authChecks(op string) []authCheck {
	checks := []authCheck{{scope: scopeAlias, alias: in.AliasName}}
	if in.TargetKeyId != "" {
		checks = append(checks, authCheck{scope: scopeKey, keyID: in.TargetKeyId})
	}
	if op == "UpdateAlias" && in.AliasName != "" {
		// The key the alias designates now.
		checks = append(checks, authCheck{scope: scopeKey, keyID: in.AliasName})
	}
	return checks
}

func (in DeleteAliasInput) authChecks(string) []authCheck {
	checks := []authCheck{{scope: scopeAlias, alias: in.AliasName}}
	if in.AliasName != "" {
		checks = append(checks, authCheck{scope: scopeKey, keyID: in.AliasName})
	}
	return checks
}

func (in ListAliasesInput) authChecks(string) []authCheck { return accountCheck(nil) }

func (in TagResourceInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, tagKeys(map[string][]string{}, in.Tags))
}

func (in UntagResourceInput) authChecks(string) []authCheck {
	m := map[string][]string{}
	if len(in.TagKeys) > 0 {
		m["aws:TagKeys"] = in.TagKeys
	}
	return keyCheck(in.KeyId, m)
}

func (in ListResourceTagsInput) authChecks(string) []authCheck { return keyCheck(in.KeyId, nil) }

func (in GetKeyPolicyInput) authChecks(string) []authCheck { return keyCheck(in.KeyId, nil) }

func (in PutKeyPolicyInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, condKeys("kms:BypassPolicyLockoutSafetyCheck", boolStr(in.BypassPolicyLockoutSafetyCheck)))
}

func (in ListKeyPoliciesInput) authChecks(string) []authCheck { return keyCheck(in.KeyId, nil) }

func (in CreateGrantInput) authChecks(string) []authCheck {
	m := condKeys("kms:GranteePrincipal", in.GranteePrincipal, "kms:RetiringPrincipal", in.RetiringPrincipal,
		"kms:GrantIsForAWSResource", "false")
	if len(in.Operations) > 0 {
		m["kms:GrantOperations"] = in.Operations
	}
	if gc := normalizeConstraints(in.Constraints); gc != nil {
		var types []string
		if gc.EncryptionContextEquals != nil {
			types = append(types, "EncryptionContextEquals")
		}
		if gc.EncryptionContextSubset != nil {
			types = append(types, "EncryptionContextSubset")
		}
		m["kms:GrantConstraintType"] = types
	}
	return keyCheck(in.KeyId, m)
}

func (in ListGrantsInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, condKeys("kms:GranteePrincipal", in.GranteePrincipal))
}

func (in ListRetirableGrantsInput) authChecks(string) []authCheck {
	return accountCheck(condKeys("kms:RetiringPrincipal", in.RetiringPrincipal))
}

func (in RetireGrantInput) authChecks(string) []authCheck {
	return []authCheck{{scope: scopeRetire, grantToken: in.GrantToken, grantID: in.GrantId}}
}

func (in RevokeGrantInput) authChecks(string) []authCheck { return keyCheck(in.KeyId, nil) }

// ---- importregion.go ----

func (in GetParametersForImportInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, condKeys("kms:WrappingAlgorithm", in.WrappingAlgorithm, "kms:WrappingKeySpec", in.WrappingKeySpec))
}

func (in ImportKeyMaterialInput) authChecks(string) []authCheck {
	m := condKeys("kms:ExpirationModel", in.ExpirationModel)
	if in.ValidTo != nil {
		m["kms:ValidTo"] = []string{strconv.FormatInt(time.Time(*in.ValidTo).Unix(), 10)}
	}
	return keyCheck(in.KeyId, m)
}

func (in DeleteImportedKeyMaterialInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, nil)
}

func (in ReplicateKeyInput) authChecks(string) []authCheck {
	m := condKeys("kms:ReplicaRegion", in.ReplicaRegion)
	// The replica is created with kms:CreateKey in its region (identity policies).
	create := authCheck{scope: scopeAccount, action: "kms:CreateKey", keys: tagKeys(condKeys("aws:RequestedRegion", in.ReplicaRegion,
		"kms:BypassPolicyLockoutSafetyCheck", boolStr(in.BypassPolicyLockoutSafetyCheck)), in.Tags)}
	return append(keyCheck(in.KeyId, m), create)
}

func (in UpdatePrimaryRegionInput) authChecks(string) []authCheck {
	return keyCheck(in.KeyId, condKeys("kms:PrimaryRegion", in.PrimaryRegion))
}

// ---- customkeystore.go: identity policies only, resource "*" ----

func (in CreateCustomKeyStoreInput) authChecks(string) []authCheck    { return accountCheck(nil) }
func (in CustomKeyStoreIDInput) authChecks(string) []authCheck        { return accountCheck(nil) }
func (in UpdateCustomKeyStoreInput) authChecks(string) []authCheck    { return accountCheck(nil) }
func (in DescribeCustomKeyStoresInput) authChecks(string) []authCheck { return accountCheck(nil) }
