package kms

import (
	"sort"
	"testing"
)

// botocoreOperations are the 54 operations of the KMS model (botocore kms/2014-11-01).
var botocoreOperations = []string{"CancelKeyDeletion", "ConnectCustomKeyStore", "CreateAlias", "CreateCustomKeyStore",
	"CreateGrant", "CreateKey", "Decrypt", "DeleteAlias", "DeleteCustomKeyStore", "DeleteImportedKeyMaterial",
	"DeriveSharedSecret", "DescribeCustomKeyStores", "DescribeKey", "DisableKey", "DisableKeyRotation",
	"DisconnectCustomKeyStore", "EnableKey", "EnableKeyRotation", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
	"GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac", "GenerateRandom",
	"GetKeyLastUsage", "GetKeyPolicy", "GetKeyRotationStatus", "GetParametersForImport", "GetPublicKey",
	"ImportKeyMaterial", "ListAliases", "ListGrants", "ListKeyPolicies", "ListKeyRotations", "ListKeys",
	"ListResourceTags", "ListRetirableGrants", "PutKeyPolicy", "ReEncrypt", "ReplicateKey", "RetireGrant",
	"RevokeGrant", "RotateKeyOnDemand", "ScheduleKeyDeletion", "Sign", "TagResource", "UntagResource", "UpdateAlias",
	"UpdateCustomKeyStore", "UpdateKeyDescription", "UpdatePrimaryRegion", "Verify", "VerifyMac"}

func TestEveryModelOperationIsServed(t *testing.T) {
	ops := Operations()
	for _, name := range botocoreOperations {
		if ops[name] == nil {
			t.Errorf("operation %s is not in the dispatch table", name)
		}
	}
	var extra []string
	for name := range ops {
		found := false
		for _, m := range botocoreOperations {
			found = found || m == name
		}
		if !found {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("operations not in the model: %v", extra)
	}
	if len(botocoreOperations) != 54 {
		t.Fatalf("model list has %d operations", len(botocoreOperations))
	}
}
