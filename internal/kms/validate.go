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

func (in DecryptInput) validate() error {
	if err := checkEncryptionAlgorithm("encryptionAlgorithm", in.EncryptionAlgorithm); err != nil {
		return err
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
	return asymCheckGrants(in.GrantTokens)
}

func (in GenerateDataKeyInput) validate() error {
	if _, err := in.dataKeyLen(); err != nil {
		return err
	}
	return asymCheckGrants(in.GrantTokens)
}

func (in KeyIDInput) validate() error { return asymCheckGrants(in.GrantTokens) }

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

// checkKeyIDOnly refuses an alias as the KeyId of a keyIDOnlyOps operation. body has
// already been decoded into the operation's input, so it is valid JSON.
func checkKeyIDOnly(op string, body []byte) error {
	if !keyIDOnlyOps[op] || len(body) == 0 {
		return nil
	}
	var in struct {
		KeyId string `json:"KeyId"`
	}
	if json.Unmarshal(body, &in) != nil || !isAliasRef(in.KeyId) {
		return nil
	}
	return notFound("Invalid keyId %s", in.KeyId)
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
