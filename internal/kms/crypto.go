package kms

import (
	"context"
	"errors"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// EncryptInput is Encrypt's request.
type EncryptInput struct {
	KeyId               string            `json:"KeyId"`
	Plaintext           []byte            `json:"Plaintext"`
	EncryptionContext   map[string]string `json:"EncryptionContext"`
	GrantTokens         []string          `json:"GrantTokens"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm"`
	DryRun              bool              `json:"DryRun"`
}

// EncryptOutput is Encrypt's response.
type EncryptOutput struct {
	CiphertextBlob      []byte `json:"CiphertextBlob"`
	KeyId               string `json:"KeyId"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
	// keyMaterialID is the key material a symmetric key encrypted with: not part of
	// Encrypt's response, ReEncrypt answers it as DestinationKeyMaterialId.
	keyMaterialID string
}

// keyForUse resolves a key for a cryptographic operation: it must be Enabled, have the
// usage, and its current material must not belong to another HSM domain (domain.go).
func (s *Service) keyForUse(c Caller, keyID, usage string) (*keyRec, *material, error) {
	k, m, err := s.resolve(c, keyID)
	if err != nil {
		return nil, nil, err
	}
	if err := s.requireUsable(k); err != nil {
		return nil, nil, err
	}
	if k.Usage != usage {
		return nil, nil, kmsErr("InvalidKeyUsageException", "%s key usage is %s which is not valid for this operation.", k.arn(), k.Usage)
	}
	if err := s.materialAvailable(k, m); err != nil {
		return nil, nil, err
	}
	return k, m, nil
}

func checkPlaintext(pt []byte, max int) error {
	if len(pt) < 1 || len(pt) > max {
		return blobLengthErr("plaintext", len(pt), 1, max)
	}
	return nil
}

// Encrypt encrypts up to 4096 bytes with a symmetric key (or RSA-OAEP with an RSA key).
func (s *Service) Encrypt(ctx context.Context, c Caller, in EncryptInput) (*EncryptOutput, error) {
	out, k, err := s.encrypt(ctx, c, in)
	if err != nil {
		return nil, err
	}
	s.recordUse(k, "Encrypt")
	return out, nil
}

// encrypt is Encrypt without recording the key's use (ReEncrypt records its own).
func (s *Service) encrypt(ctx context.Context, c Caller, in EncryptInput) (*EncryptOutput, *keyRec, error) {
	k, m, err := s.keyForUse(c, in.KeyId, UsageEncrypt)
	if err != nil {
		return nil, nil, err
	}
	if k.Spec != SpecSymmetric {
		out, err := s.encryptRSA(ctx, c, k, m, in)
		return out, k, err
	}
	if in.EncryptionAlgorithm != "" && in.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
		return nil, nil, kmsErr("InvalidKeyUsageException", "Symmetric keys only support the SYMMETRIC_DEFAULT encryption algorithm")
	}
	if err := checkPlaintext(in.Plaintext, 4096); err != nil {
		return nil, nil, err
	}
	if err := validateContext(in.EncryptionContext); err != nil {
		return nil, nil, err
	}
	if in.DryRun {
		return nil, nil, errDryRun
	}
	blob, err := s.seal(ctx, k, m, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, nil, err
	}
	return &EncryptOutput{CiphertextBlob: blob, KeyId: k.arn(), EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
		keyMaterialID: m.Versions[m.Current].ID}, k, nil
}

// seal encrypts plaintext under the key's current version inside the HSM (in kmsuser's
// session for a key of an AWS CloudHSM key store).
func (s *Service) seal(ctx context.Context, k *keyRec, m *material, pt []byte, ec map[string]string) ([]byte, error) {
	v := &m.Versions[m.Current]
	if len(v.Handles) == 0 {
		return nil, invalidState("%s has no key material.", k.arn())
	}
	header := encodeHeader(k.ID, uint32(m.Current+1))
	var ct []byte
	err := s.withKeySession(ctx, k, func(sess *hsm.Session) error {
		hs, err := s.handles(k, v)
		if err != nil {
			return err
		}
		ct, err = s.cfg.HSM.EncryptAESGCM(sess, hs[0], pt, blobAAD(header, ec), nil)
		return err
	})
	if err != nil {
		return nil, s.hsmErr(k, err)
	}
	return append(header, ct...), nil
}

// mechanismErr maps the failure of a cryptographic check inside the HSM (a signature, MAC
// or ciphertext that does not verify) to the KMS exception code with msg; any other failure
// goes through hsmErr.
func (s *Service) mechanismErr(k *keyRec, err error, code, msg string) error {
	var me *hsm.MechanismError
	if errors.As(err, &me) {
		return kmsErr(code, "%s", msg)
	}
	return s.hsmErr(k, err)
}

// hsmErr turns an HSM failure on a key's material into KMS's answer: material that is gone
// (zeroized or uninitialized cluster, deleted object) makes the key unusable,
// KMSInvalidStateException as AsError answers for the cluster-wide cases. A KMS *Error
// (e.g. from a custom key store that cannot be reached) passes through.
func (s *Service) hsmErr(k *keyRec, err error) error {
	var ke *Error
	if errors.As(err, &ke) {
		return ke
	}
	var nf *hsm.NotFoundError
	if errors.As(err, &nf) || errors.Is(err, hsm.ErrZeroized) || errors.Is(err, hsm.ErrNotInitialized) {
		return invalidState("%s is unavailable: its key material is not in the HSM cluster (%v)", k.arn(), err)
	}
	return AsError(err)
}

// DecryptInput is Decrypt's request.
type DecryptInput struct {
	CiphertextBlob      []byte            `json:"CiphertextBlob"`
	EncryptionContext   map[string]string `json:"EncryptionContext"`
	GrantTokens         []string          `json:"GrantTokens"`
	KeyId               string            `json:"KeyId"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm"`
	DryRun              bool              `json:"DryRun"`
	DryRunModifiers     []string          `json:"DryRunModifiers"`
	// Recipient asks for the plaintext encrypted to a Nitro Enclave: not supported, and
	// never ignored (the plaintext must not be returned to a caller that asked for it not
	// to be).
	Recipient *AttestationRecipient `json:"Recipient"`
}

// DecryptOutput is Decrypt's response.
type DecryptOutput struct {
	KeyId               string `json:"KeyId"`
	Plaintext           []byte `json:"Plaintext"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
	KeyMaterialId       string `json:"KeyMaterialId,omitempty"`
}

// Decrypt decrypts a ciphertext. For symmetric ciphertexts the key is found from the blob;
// a KeyId, when given, must name the same key.
func (s *Service) Decrypt(ctx context.Context, c Caller, in DecryptInput) (*DecryptOutput, error) {
	out, k, err := s.decrypt(ctx, c, in)
	if err != nil {
		return nil, err
	}
	s.recordUse(k, "Decrypt")
	return out, nil
}

// decrypt is Decrypt without recording the key's use (ReEncrypt records its own).
func (s *Service) decrypt(ctx context.Context, c Caller, in DecryptInput) (*DecryptOutput, *keyRec, error) {
	if ignoreCiphertext(in.DryRun, in.DryRunModifiers) {
		return nil, nil, s.dryRunDecryptKey(c, in.KeyId, in.EncryptionAlgorithm, in.EncryptionContext, in.CiphertextBlob, in.Recipient)
	}
	if len(in.CiphertextBlob) < 1 || len(in.CiphertextBlob) > 6144 {
		return nil, nil, blobLengthErr("ciphertextBlob", len(in.CiphertextBlob), 1, 6144)
	}
	if in.Recipient != nil {
		return nil, nil, recipientUnsupported()
	}
	if in.EncryptionAlgorithm != "" && in.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
		return s.decryptRSA(ctx, c, in)
	}
	pt, k, v, err := s.open(ctx, c, in.CiphertextBlob, in.EncryptionContext, in.KeyId, in.DryRun)
	if err != nil {
		return nil, nil, err
	}
	return &DecryptOutput{KeyId: k.arn(), Plaintext: pt, EncryptionAlgorithm: "SYMMETRIC_DEFAULT", KeyMaterialId: v.ID}, k, nil
}

// dryRunDecryptKey is a Decrypt DryRun with IGNORE_CIPHERTEXT: the ciphertext (if any) is
// not looked at; the key named by keyID must be able to decrypt with the algorithm, as the
// ciphertext would have required. It answers DryRunOperationException when it can.
func (s *Service) dryRunDecryptKey(c Caller, keyID, alg string, ec map[string]string, blob []byte, rcpt *AttestationRecipient) error {
	if len(blob) > 6144 {
		return blobLengthErr("ciphertextBlob", len(blob), 1, 6144)
	}
	if rcpt != nil {
		return recipientUnsupported()
	}
	k, _, err := s.keyForUse(c, keyID, UsageEncrypt)
	if err != nil {
		return err
	}
	switch {
	case k.Spec == SpecSymmetric && alg != "" && alg != "SYMMETRIC_DEFAULT":
		return kmsErr("InvalidKeyUsageException", "%s is a symmetric key; use EncryptionAlgorithm SYMMETRIC_DEFAULT", k.arn())
	case k.Spec != SpecSymmetric && oaepHash[alg] == "":
		return kmsErr("InvalidKeyUsageException", "%s requires EncryptionAlgorithm RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256", k.arn())
	case k.Spec == SpecSymmetric:
		if err := validateContext(ec); err != nil {
			return err
		}
	}
	return errDryRun
}

// open decrypts a symmetric ciphertext blob.
func (s *Service) open(ctx context.Context, c Caller, blob []byte, ec map[string]string, keyID string, dryRun bool) ([]byte, *keyRec, version, error) {
	bh, err := parseBlob(blob)
	if err != nil {
		return nil, nil, version{}, err
	}
	k, m, err := s.resolve(c, bh.keyID)
	if err != nil {
		var ke *Error
		if errors.As(err, &ke) && ke.Code == "NotFoundException" {
			return nil, nil, version{}, kmsErr("InvalidCiphertextException", "The ciphertext refers to a key that does not exist in %s or was altered.", c.Region)
		}
		return nil, nil, version{}, err
	}
	if keyID != "" {
		want, _, err := s.resolve(c, keyID)
		if err != nil {
			return nil, nil, version{}, err
		}
		if want.ID != k.ID {
			return nil, nil, version{}, kmsErr("IncorrectKeyException", "The key ID in the request does not identify a KMS key that can perform this operation.")
		}
	}
	if err := s.requireUsable(k); err != nil {
		return nil, nil, version{}, err
	}
	if k.Spec != SpecSymmetric || k.Usage != UsageEncrypt {
		return nil, nil, version{}, kmsErr("InvalidCiphertextException", "The ciphertext was not made by a symmetric encryption key.")
	}
	if int(bh.version) > len(m.Versions) {
		return nil, nil, version{}, kmsErr("InvalidCiphertextException", "The ciphertext refers to a key version that does not exist or was altered.")
	}
	v := m.Versions[bh.version-1]
	if v.Pending {
		// Imported material PENDING_ROTATION encrypts nothing until the key rotates to it.
		return nil, nil, version{}, kmsErr("InvalidCiphertextException", "The ciphertext refers to a key version that does not exist or was altered.")
	}
	if len(v.Handles) == 0 {
		return nil, nil, version{}, invalidState("%s: the key material this ciphertext was made with was deleted.", k.arn())
	}
	if err := s.versionAvailable(k, &v); err != nil {
		return nil, nil, version{}, err
	}
	if dryRun {
		return nil, nil, version{}, errDryRun
	}
	var pt []byte
	err = s.withKeySession(ctx, k, func(sess *hsm.Session) error {
		hs, err := s.handles(k, &v)
		if err != nil {
			return err
		}
		pt, err = s.cfg.HSM.DecryptAESGCM(sess, hs[0], bh.payload, blobAAD(bh.header, ec), nil)
		return err
	})
	if err != nil {
		return nil, nil, version{}, s.mechanismErr(k, err, "InvalidCiphertextException", "The ciphertext or the encryption context is not valid for this key.")
	}
	return pt, k, v, nil
}

// ReEncryptInput is ReEncrypt's request.
type ReEncryptInput struct {
	CiphertextBlob                 []byte            `json:"CiphertextBlob"`
	SourceEncryptionContext        map[string]string `json:"SourceEncryptionContext"`
	SourceKeyId                    string            `json:"SourceKeyId"`
	DestinationKeyId               string            `json:"DestinationKeyId"`
	DestinationEncryptionContext   map[string]string `json:"DestinationEncryptionContext"`
	SourceEncryptionAlgorithm      string            `json:"SourceEncryptionAlgorithm"`
	DestinationEncryptionAlgorithm string            `json:"DestinationEncryptionAlgorithm"`
	GrantTokens                    []string          `json:"GrantTokens"`
	DryRun                         bool              `json:"DryRun"`
	DryRunModifiers                []string          `json:"DryRunModifiers"`
}

// ReEncryptOutput is ReEncrypt's response.
type ReEncryptOutput struct {
	CiphertextBlob                 []byte `json:"CiphertextBlob"`
	SourceKeyId                    string `json:"SourceKeyId"`
	KeyId                          string `json:"KeyId"`
	SourceEncryptionAlgorithm      string `json:"SourceEncryptionAlgorithm"`
	DestinationEncryptionAlgorithm string `json:"DestinationEncryptionAlgorithm"`
	// The key material of the source and the destination ciphertext: present only for
	// symmetric encryption keys, as AWS answers.
	SourceKeyMaterialId      string `json:"SourceKeyMaterialId,omitempty"`
	DestinationKeyMaterialId string `json:"DestinationKeyMaterialId,omitempty"`
}

// ReEncrypt decrypts a ciphertext and encrypts the plaintext under another key (or the
// same key's current version) without the plaintext leaving the server.
func (s *Service) ReEncrypt(ctx context.Context, c Caller, in ReEncryptInput) (*ReEncryptOutput, error) {
	if in.DestinationKeyId == "" {
		return nil, validation("1 validation error detected: Value null at 'destinationKeyId' failed to satisfy constraint: Member must not be null")
	}
	if ignoreCiphertext(in.DryRun, in.DryRunModifiers) {
		// Only the permissions: the source key could decrypt, the destination encrypt.
		err := s.dryRunDecryptKey(c, in.SourceKeyId, in.SourceEncryptionAlgorithm, in.SourceEncryptionContext, in.CiphertextBlob, nil)
		if !errors.Is(err, errDryRun) {
			return nil, err
		}
		_, _, err = s.encrypt(ctx, c, EncryptInput{KeyId: in.DestinationKeyId, Plaintext: []byte{0},
			EncryptionContext: in.DestinationEncryptionContext, EncryptionAlgorithm: in.DestinationEncryptionAlgorithm, DryRun: true})
		return nil, err
	}
	// The source is decrypted even for a DryRun, so that a ciphertext that does not
	// decrypt is refused as it would be; neither key's use is recorded unless the
	// re-encryption happens (a DryRun, or a refused destination, uses no key).
	dec, sk, err := s.decrypt(ctx, c, DecryptInput{CiphertextBlob: in.CiphertextBlob, EncryptionContext: in.SourceEncryptionContext,
		KeyId: in.SourceKeyId, EncryptionAlgorithm: in.SourceEncryptionAlgorithm, DryRun: false})
	if err != nil {
		return nil, err
	}
	defer clear(dec.Plaintext)
	enc, dk, err := s.encrypt(ctx, c, EncryptInput{KeyId: in.DestinationKeyId, Plaintext: dec.Plaintext,
		EncryptionContext: in.DestinationEncryptionContext, EncryptionAlgorithm: in.DestinationEncryptionAlgorithm, DryRun: in.DryRun})
	if err != nil {
		return nil, err
	}
	// docs/metrics.md: a ReEncrypt counts as a Decrypt of the source key and an Encrypt of
	// the destination key.
	s.recordUse(sk, "Decrypt")
	s.recordUse(dk, "Encrypt")
	return &ReEncryptOutput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: dec.KeyId, KeyId: enc.KeyId,
		SourceEncryptionAlgorithm: dec.EncryptionAlgorithm, DestinationEncryptionAlgorithm: enc.EncryptionAlgorithm,
		SourceKeyMaterialId: dec.KeyMaterialId, DestinationKeyMaterialId: enc.keyMaterialID}, nil
}

// GenerateDataKeyInput is GenerateDataKey's (and ...WithoutPlaintext's) request.
type GenerateDataKeyInput struct {
	KeyId             string            `json:"KeyId"`
	EncryptionContext map[string]string `json:"EncryptionContext"`
	NumberOfBytes     *int              `json:"NumberOfBytes"`
	KeySpec           string            `json:"KeySpec"`
	GrantTokens       []string          `json:"GrantTokens"`
	DryRun            bool              `json:"DryRun"`
	// Recipient (GenerateDataKey only; see DecryptInput.Recipient).
	Recipient *AttestationRecipient `json:"Recipient"`
}

// GenerateDataKeyOutput is GenerateDataKey's response (no Plaintext for WithoutPlaintext).
type GenerateDataKeyOutput struct {
	CiphertextBlob []byte `json:"CiphertextBlob"`
	Plaintext      []byte `json:"Plaintext,omitempty"`
	KeyId          string `json:"KeyId"`
	KeyMaterialId  string `json:"KeyMaterialId,omitempty"`
}

// dataKeyLen is the length of the data key a request asks for (NumberOfBytes or KeySpec,
// exactly one of them).
func (in GenerateDataKeyInput) dataKeyLen() (int, error) {
	switch {
	case in.NumberOfBytes != nil && in.KeySpec != "":
		return 0, validation("Please specify either number of bytes or key spec.")
	case in.NumberOfBytes != nil:
		n := *in.NumberOfBytes
		if n < 1 || n > 1024 {
			return 0, validation("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: %s", n, valueConstraint(n, 1, 1024))
		}
		return n, nil
	case in.KeySpec == "AES_256":
		return 32, nil
	case in.KeySpec == "AES_128":
		return 16, nil
	case in.KeySpec == "":
		return 0, validation("Please specify either number of bytes or key spec.")
	default:
		return 0, validation("1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", in.KeySpec)
	}
}

// GenerateDataKey returns a random data key in plaintext (unless withoutPlaintext) and
// encrypted under a symmetric KMS key.
func (s *Service) GenerateDataKey(ctx context.Context, c Caller, in GenerateDataKeyInput, withoutPlaintext bool) (*GenerateDataKeyOutput, error) {
	n, err := in.dataKeyLen()
	if err != nil {
		return nil, err
	}
	if !withoutPlaintext && in.Recipient != nil {
		return nil, recipientUnsupported()
	}
	k, m, err := s.keyForUse(c, in.KeyId, UsageEncrypt)
	if err != nil {
		return nil, err
	}
	if k.Spec != SpecSymmetric {
		return nil, kmsErr("InvalidKeyUsageException", "%s is not a symmetric encryption key.", k.arn())
	}
	if err := validateContext(in.EncryptionContext); err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, errDryRun
	}
	sess, err := s.session(ctx)
	if err != nil {
		return nil, AsError(err)
	}
	dk, err := s.cfg.HSM.Random(sess, n)
	if err != nil {
		return nil, AsError(err)
	}
	blob, err := s.seal(ctx, k, m, dk, in.EncryptionContext)
	if err != nil {
		clear(dk)
		return nil, err
	}
	op := "GenerateDataKey"
	out := &GenerateDataKeyOutput{CiphertextBlob: blob, KeyId: k.arn(), KeyMaterialId: m.Versions[m.Current].ID}
	if withoutPlaintext {
		clear(dk)
		op = "GenerateDataKeyWithoutPlaintext"
	} else {
		out.Plaintext = dk
	}
	s.recordUse(k, op)
	return out, nil
}

// GenerateRandomInput is GenerateRandom's request.
type GenerateRandomInput struct {
	NumberOfBytes    *int                  `json:"NumberOfBytes"`
	CustomKeyStoreId string                `json:"CustomKeyStoreId"`
	Recipient        *AttestationRecipient `json:"Recipient"` // see DecryptInput.Recipient
}

// GenerateRandomOutput is GenerateRandom's response.
type GenerateRandomOutput struct {
	Plaintext []byte `json:"Plaintext"`
}

// GenerateRandom returns 1 to 1024 random bytes from the HSM.
func (s *Service) GenerateRandom(ctx context.Context, c Caller, in GenerateRandomInput) (*GenerateRandomOutput, error) {
	if in.NumberOfBytes == nil {
		// Optional in the model, required by the service, which says so.
		return nil, validation("NumberOfBytes is required.")
	}
	if n := *in.NumberOfBytes; n < 1 || n > 1024 {
		return nil, validation("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: %s", n, valueConstraint(n, 1, 1024))
	}
	if in.Recipient != nil {
		return nil, recipientUnsupported()
	}
	var sess *hsm.Session
	var err error
	if in.CustomKeyStoreId != "" {
		// Random bytes from the store's cluster, in kmsuser's session.
		r, err := s.lookupStore(c, in.CustomKeyStoreId)
		if err != nil {
			return nil, err
		}
		if r.State != ConnConnected {
			return nil, kmsErr("CustomKeyStoreInvalidStateException", "Custom key store %s is %s. GenerateRandom in an AWS CloudHSM key store needs it CONNECTED.", r.ID, r.State)
		}
		sess, err = s.storeSession(ctx, r.ID, "custom key store "+r.ID)
		if err != nil {
			return nil, err
		}
	} else if sess, err = s.session(ctx); err != nil {
		return nil, AsError(err)
	}
	b, err := s.cfg.HSM.Random(sess, *in.NumberOfBytes)
	if err != nil {
		return nil, AsError(err)
	}
	return &GenerateRandomOutput{Plaintext: b}, nil
}
