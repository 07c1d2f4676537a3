package kms

import "encoding/base64"

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
