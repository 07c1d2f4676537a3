package kms

import (
	"context"
)

var oaepHash = map[string]string{"RSAES_OAEP_SHA_1": "sha1", "RSAES_OAEP_SHA_256": "sha256"}

func rsaMaxPlaintext(spec, alg string) int {
	bytes := map[string]int{SpecRSA2048: 256, SpecRSA3072: 384, SpecRSA4096: 512}[spec]
	h := 20
	if alg == "RSAES_OAEP_SHA_256" {
		h = 32
	}
	return bytes - 2*h - 2
}

// encryptRSA is Encrypt with an RSA ENCRYPT_DECRYPT key: RSAES-OAEP with the public key.
func (s *Service) encryptRSA(ctx context.Context, c Caller, k *keyRec, m *material, in EncryptInput) (*EncryptOutput, error) {
	hash, ok := oaepHash[in.EncryptionAlgorithm]
	if !ok {
		return nil, kmsErr("InvalidKeyUsageException", "%s requires EncryptionAlgorithm RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256", k.arn())
	}
	if len(in.EncryptionContext) > 0 {
		return nil, validation("EncryptionContext is not supported with asymmetric KMS keys")
	}
	if err := checkPlaintext(in.Plaintext, rsaMaxPlaintext(k.Spec, in.EncryptionAlgorithm)); err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, errDryRun
	}
	sess, hs, err := s.material(ctx, k, &m.Versions[m.Current])
	if err != nil {
		return nil, err
	}
	ct, err := s.cfg.HSM.EncryptRSAOAEP(sess, hs[0], hash, in.Plaintext, nil)
	if err != nil {
		return nil, s.hsmErr(k, err)
	}
	return &EncryptOutput{CiphertextBlob: ct, KeyId: k.arn(), EncryptionAlgorithm: in.EncryptionAlgorithm}, nil
}

// decryptRSA is Decrypt with an RSA key: the KeyId and algorithm are required.
func (s *Service) decryptRSA(ctx context.Context, c Caller, in DecryptInput) (*DecryptOutput, *keyRec, error) {
	hash, ok := oaepHash[in.EncryptionAlgorithm]
	if !ok {
		return nil, nil, validation("1 validation error detected: Value '%s' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]", in.EncryptionAlgorithm)
	}
	if in.KeyId == "" {
		return nil, nil, validation("KeyId is required to decrypt with an asymmetric KMS key")
	}
	k, m, err := s.keyForUse(c, in.KeyId, UsageEncrypt)
	if err != nil {
		return nil, nil, err
	}
	if k.Spec == SpecSymmetric {
		return nil, nil, kmsErr("InvalidKeyUsageException", "%s is a symmetric key; use EncryptionAlgorithm SYMMETRIC_DEFAULT", k.arn())
	}
	if in.DryRun {
		return nil, nil, errDryRun
	}
	sess, hs, err := s.material(ctx, k, &m.Versions[m.Current])
	if err != nil {
		return nil, nil, err
	}
	pt, err := s.cfg.HSM.DecryptRSAOAEP(sess, hs[1], hash, in.CiphertextBlob, nil, nil)
	if err != nil {
		return nil, nil, s.mechanismErr(k, err, "InvalidCiphertextException", "The ciphertext is not valid for this key and algorithm.")
	}
	return &DecryptOutput{KeyId: k.arn(), Plaintext: pt, EncryptionAlgorithm: in.EncryptionAlgorithm}, k, nil
}
