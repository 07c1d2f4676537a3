package kms

import (
	"context"
	"errors"
	"strings"

	"github.com/coffer-hsm/coffer/internal/crypto"
	"github.com/coffer-hsm/coffer/internal/hsm"
)

// asymmetricOps: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac, DeriveSharedSecret,
// GenerateDataKeyPair(WithoutPlaintext).
var asymmetricOps = map[string]Op{
	"Sign":                                op("Sign", (*Service).Sign),
	"Verify":                              op("Verify", (*Service).Verify),
	"GetPublicKey":                        op("GetPublicKey", (*Service).GetPublicKey),
	"GenerateMac":                         op("GenerateMac", (*Service).GenerateMac),
	"VerifyMac":                           op("VerifyMac", (*Service).VerifyMac),
	"DeriveSharedSecret":                  op("DeriveSharedSecret", (*Service).DeriveSharedSecret),
	"GenerateDataKeyPair":                 op("GenerateDataKeyPair", (*Service).GenerateDataKeyPair),
	"GenerateDataKeyPairWithoutPlaintext": op("GenerateDataKeyPairWithoutPlaintext", (*Service).GenerateDataKeyPairWithoutPlaintext),
}

// The enums of the botocore model, in its order (for ValidationException messages).
var (
	signingAlgorithmEnum = []string{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
		"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
		"ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "SM2DSA", "ML_DSA_SHAKE_256", "ED25519_SHA_512", "ED25519_PH_SHA_512"}
	messageTypeEnum  = []string{"RAW", "DIGEST", "EXTERNAL_MU"}
	macAlgorithmEnum = []string{"HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"}
	keyPairSpecEnum  = []string{SpecRSA2048, SpecRSA3072, SpecRSA4096, SpecP256, SpecP384, SpecP521, SpecSecp256k1, "SM2", SpecEd25519}
)

// macAlgHash is the HSM hash name of each MAC algorithm.
var macAlgHash = map[string]string{"HMAC_SHA_224": "sha224", "HMAC_SHA_256": "sha256", "HMAC_SHA_384": "sha384", "HMAC_SHA_512": "sha512"}

// agreementCurve is the internal/crypto curve name of each KEY_AGREEMENT key spec.
var agreementCurve = map[string]string{SpecP256: crypto.CurveP256, SpecP384: crypto.CurveP384, SpecP521: crypto.CurveP521}

const (
	algEd25519   = "ED25519_SHA_512"
	algEd25519ph = "ED25519_PH_SHA_512"
)

// ---- request validation (the model's constraints, with AWS's messages) ----

func asymEnumErr(field, value string, enum []string) error {
	return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", value, field, strings.Join(enum, ", "))
}

func asymNull(field string) error {
	return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

// checkBlob checks a required blob member's length.
func asymCheckBlob(field string, b []byte, max int) error {
	if b == nil {
		return asymNull(field)
	}
	if len(b) < 1 || len(b) > max {
		return blobLengthErr(field, len(b), 1, max)
	}
	return nil
}

// checkEnum checks a required enum member.
func asymCheckEnum(field, v string, enum []string) error {
	if v == "" {
		return asymNull(field)
	}
	if !contains(enum, v) {
		return asymEnumErr(field, v, enum)
	}
	return nil
}

func asymCheckGrants(t []string) error {
	if len(t) > 10 {
		return validation("1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	for _, g := range t {
		if len(g) < 1 || len(g) > 8192 {
			return validation("1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 8192, Member must have length greater than or equal to 1]")
		}
	}
	for _, g := range t {
		if !grantTokenWellFormed(g) {
			return invalidGrantToken()
		}
	}
	return nil
}

// asymVersion returns the current version of an asymmetric key: Handles [public, private].
func (s *Service) asymVersion(k *keyRec, m *material) (version, error) {
	if len(m.Versions) == 0 || m.Current >= len(m.Versions) || len(m.Versions[m.Current].Handles) < 2 {
		return version{}, invalidState("%s has no key material.", k.arn())
	}
	if err := s.materialAvailable(k, m); err != nil {
		return version{}, err
	}
	return m.Versions[m.Current], nil
}

// ---- Sign, Verify ----

// SignInput is Sign's request.
type SignInput struct {
	KeyId            string   `json:"KeyId"`
	Message          []byte   `json:"Message"`
	MessageType      string   `json:"MessageType"`
	GrantTokens      []string `json:"GrantTokens"`
	SigningAlgorithm string   `json:"SigningAlgorithm"`
	DryRun           bool     `json:"DryRun"`
}

// SignOutput is Sign's response.
type SignOutput struct {
	KeyId            string `json:"KeyId"`
	Signature        []byte `json:"Signature"`
	SigningAlgorithm string `json:"SigningAlgorithm"`
}

// VerifyInput is Verify's request.
type VerifyInput struct {
	KeyId            string   `json:"KeyId"`
	Message          []byte   `json:"Message"`
	MessageType      string   `json:"MessageType"`
	Signature        []byte   `json:"Signature"`
	SigningAlgorithm string   `json:"SigningAlgorithm"`
	GrantTokens      []string `json:"GrantTokens"`
	DryRun           bool     `json:"DryRun"`
}

// VerifyOutput is Verify's response. SignatureValid is always true: an invalid signature is
// a KMSInvalidSignatureException, as in AWS KMS.
type VerifyOutput struct {
	KeyId            string `json:"KeyId"`
	SignatureValid   bool   `json:"SignatureValid"`
	SigningAlgorithm string `json:"SigningAlgorithm"`
}

// signRequest validates the members Sign and Verify share, resolves the key, and returns
// its current version and the HSM's algorithm and digest mode.
func (s *Service) signRequest(c Caller, keyID string, msg []byte, msgType, alg string, grants []string) (*keyRec, version, crypto.SignAlg, bool, error) {
	fail := func(err error) (*keyRec, version, crypto.SignAlg, bool, error) { return nil, version{}, "", false, err }
	if keyID == "" {
		return fail(asymNull("keyId"))
	}
	if err := asymCheckBlob("message", msg, 4096); err != nil {
		return fail(err)
	}
	if msgType == "" {
		msgType = "RAW"
	} else if !contains(messageTypeEnum, msgType) {
		return fail(asymEnumErr("messageType", msgType, messageTypeEnum))
	}
	if err := asymCheckEnum("signingAlgorithm", alg, signingAlgorithmEnum); err != nil {
		return fail(err)
	}
	if err := asymCheckGrants(grants); err != nil {
		return fail(err)
	}
	k, m, err := s.keyForUse(c, keyID, UsageSign)
	if err != nil {
		return fail(err)
	}
	info := specs[k.Spec]
	if alg == algEd25519ph && k.Spec == SpecEd25519 {
		return fail(kmsErr("UnsupportedOperationException", "%s is not supported by Coffer: the HSM implements pure Ed25519 only (use %s with MessageType RAW).", algEd25519ph, algEd25519))
	}
	if !contains(info.sign, alg) {
		return fail(kmsErr("InvalidKeyUsageException", "Signing algorithm %s is not valid for %s (KeySpec %s). Valid signing algorithms are: [%s]", alg, k.arn(), k.Spec, strings.Join(info.sign, ", ")))
	}
	hsmAlg := crypto.SignAlg(alg)
	if alg == algEd25519 {
		hsmAlg = crypto.ED25519
	}
	isDigest := false
	switch msgType {
	case "EXTERNAL_MU":
		return fail(validation("MessageType EXTERNAL_MU is only valid with ML-DSA keys; %s is %s.", k.arn(), k.Spec))
	case "DIGEST":
		if hsmAlg == crypto.ED25519 {
			return fail(validation("MessageType DIGEST is not valid with signing algorithm %s; use RAW (or ED25519_PH_SHA_512 for digests).", alg))
		}
		if n := hsmAlg.Hash().Size(); len(msg) != n {
			return fail(validation("Digest is invalid length for algorithm %s: expected %d bytes, got %d.", alg, n, len(msg)))
		}
		isDigest = true
	}
	v, err := s.asymVersion(k, m)
	if err != nil {
		return fail(err)
	}
	return k, v, hsmAlg, isDigest, nil
}

// Sign signs a message or digest with the private key of a SIGN_VERIFY key, inside the HSM.
// ECDSA signatures are DER; RSA-PSS uses a salt as long as the hash; Ed25519 is pure EdDSA.
func (s *Service) Sign(ctx context.Context, c Caller, in SignInput) (*SignOutput, error) {
	k, v, alg, isDigest, err := s.signRequest(c, in.KeyId, in.Message, in.MessageType, in.SigningAlgorithm, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, errDryRun
	}
	sess, hs, err := s.material(ctx, k, &v)
	if err != nil {
		return nil, err
	}
	sig, err := s.cfg.HSM.Sign(sess, hs[1], alg, in.Message, isDigest, nil)
	if err != nil {
		return nil, s.hsmErr(k, err)
	}
	s.recordUse(k, "Sign")
	return &SignOutput{KeyId: k.arn(), Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// Verify checks a signature with the public key of a SIGN_VERIFY key.
func (s *Service) Verify(ctx context.Context, c Caller, in VerifyInput) (*VerifyOutput, error) {
	k, v, alg, isDigest, err := s.signRequest(c, in.KeyId, in.Message, in.MessageType, in.SigningAlgorithm, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := asymCheckBlob("signature", in.Signature, 6144); err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, errDryRun
	}
	sess, hs, err := s.material(ctx, k, &v)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.HSM.Verify(sess, hs[0], alg, in.Message, isDigest, in.Signature); err != nil {
		return nil, s.mechanismErr(k, err, "KMSInvalidSignatureException", "The signature is not valid for this message, key and signing algorithm.")
	}
	s.recordUse(k, "Verify")
	return &VerifyOutput{KeyId: k.arn(), SignatureValid: true, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// ---- GetPublicKey ----

// GetPublicKeyInput is GetPublicKey's request.
type GetPublicKeyInput struct {
	KeyId       string   `json:"KeyId"`
	GrantTokens []string `json:"GrantTokens"`
}

// GetPublicKeyOutput is GetPublicKey's response.
type GetPublicKeyOutput struct {
	KeyId                  string   `json:"KeyId"`
	PublicKey              []byte   `json:"PublicKey"`
	CustomerMasterKeySpec  string   `json:"CustomerMasterKeySpec"`
	KeySpec                string   `json:"KeySpec"`
	KeyUsage               string   `json:"KeyUsage"`
	EncryptionAlgorithms   []string `json:"EncryptionAlgorithms,omitempty"`
	SigningAlgorithms      []string `json:"SigningAlgorithms,omitempty"`
	KeyAgreementAlgorithms []string `json:"KeyAgreementAlgorithms,omitempty"`
}

// GetPublicKey returns the DER SubjectPublicKeyInfo of an asymmetric key.
func (s *Service) GetPublicKey(ctx context.Context, c Caller, in GetPublicKeyInput) (*GetPublicKeyOutput, error) {
	if err := asymCheckGrants(in.GrantTokens); err != nil {
		return nil, err
	}
	k, m, err := s.resolve(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	if err := requireEnabled(k); err != nil {
		return nil, err
	}
	if k.Spec == SpecSymmetric || k.Usage == UsageMAC {
		return nil, kmsErr("UnsupportedOperationException", "%s is a %s key; GetPublicKey is only valid for asymmetric KMS keys.", k.arn(), k.Spec)
	}
	v, err := s.asymVersion(k, m)
	if err != nil {
		return nil, err
	}
	sess, hs, err := s.material(ctx, k, &v)
	if err != nil {
		return nil, err
	}
	der, err := s.cfg.HSM.PublicKeyDER(sess, hs[0])
	if err != nil {
		return nil, s.hsmErr(k, err)
	}
	info := specs[k.Spec]
	out := &GetPublicKeyOutput{KeyId: k.arn(), PublicKey: der, CustomerMasterKeySpec: k.Spec, KeySpec: k.Spec, KeyUsage: k.Usage}
	switch k.Usage {
	case UsageEncrypt:
		out.EncryptionAlgorithms = info.enc
	case UsageSign:
		out.SigningAlgorithms = info.sign
	case UsageKeyAgreement:
		out.KeyAgreementAlgorithms = info.agree
	}
	s.recordUse(k, "GetPublicKey")
	return out, nil
}

// ---- GenerateMac, VerifyMac ----

// GenerateMacInput is GenerateMac's request.
type GenerateMacInput struct {
	Message      []byte   `json:"Message"`
	KeyId        string   `json:"KeyId"`
	MacAlgorithm string   `json:"MacAlgorithm"`
	GrantTokens  []string `json:"GrantTokens"`
	DryRun       bool     `json:"DryRun"`
}

// GenerateMacOutput is GenerateMac's response.
type GenerateMacOutput struct {
	Mac          []byte `json:"Mac"`
	MacAlgorithm string `json:"MacAlgorithm"`
	KeyId        string `json:"KeyId"`
}

// VerifyMacInput is VerifyMac's request.
type VerifyMacInput struct {
	Message      []byte   `json:"Message"`
	KeyId        string   `json:"KeyId"`
	MacAlgorithm string   `json:"MacAlgorithm"`
	Mac          []byte   `json:"Mac"`
	GrantTokens  []string `json:"GrantTokens"`
	DryRun       bool     `json:"DryRun"`
}

// VerifyMacOutput is VerifyMac's response; a wrong MAC is a KMSInvalidMacException.
type VerifyMacOutput struct {
	KeyId        string `json:"KeyId"`
	MacValid     bool   `json:"MacValid"`
	MacAlgorithm string `json:"MacAlgorithm"`
}

// macRequest validates GenerateMac's and VerifyMac's shared members and returns the key and
// its current version (the secret: Handles[0]).
func (s *Service) macRequest(c Caller, keyID string, msg []byte, alg string, grants []string) (*keyRec, *version, error) {
	if err := asymCheckBlob("message", msg, 4096); err != nil {
		return nil, nil, err
	}
	if keyID == "" {
		return nil, nil, asymNull("keyId")
	}
	if err := asymCheckEnum("macAlgorithm", alg, macAlgorithmEnum); err != nil {
		return nil, nil, err
	}
	if err := asymCheckGrants(grants); err != nil {
		return nil, nil, err
	}
	k, m, err := s.keyForUse(c, keyID, UsageMAC)
	if err != nil {
		return nil, nil, err
	}
	info := specs[k.Spec]
	if !contains(info.mac, alg) {
		return nil, nil, kmsErr("InvalidKeyUsageException", "MAC algorithm %s is not valid for %s (KeySpec %s). Valid MAC algorithms are: [%s]", alg, k.arn(), k.Spec, strings.Join(info.mac, ", "))
	}
	if len(m.Versions) == 0 || m.Current >= len(m.Versions) || len(m.Versions[m.Current].Handles) == 0 {
		return nil, nil, invalidState("%s has no key material.", k.arn())
	}
	return k, &m.Versions[m.Current], nil
}

// GenerateMac computes an HMAC of a message with an HMAC key, inside the HSM.
func (s *Service) GenerateMac(ctx context.Context, c Caller, in GenerateMacInput) (*GenerateMacOutput, error) {
	k, v, err := s.macRequest(c, in.KeyId, in.Message, in.MacAlgorithm, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, errDryRun
	}
	sess, hs, err := s.material(ctx, k, v)
	if err != nil {
		return nil, err
	}
	mac, err := s.cfg.HSM.MAC(sess, hs[0], macAlgHash[in.MacAlgorithm], in.Message, nil)
	if err != nil {
		return nil, s.hsmErr(k, err)
	}
	s.recordUse(k, "GenerateMac")
	return &GenerateMacOutput{Mac: mac, MacAlgorithm: in.MacAlgorithm, KeyId: k.arn()}, nil
}

// VerifyMac checks an HMAC (in constant time, inside the HSM).
func (s *Service) VerifyMac(ctx context.Context, c Caller, in VerifyMacInput) (*VerifyMacOutput, error) {
	k, v, err := s.macRequest(c, in.KeyId, in.Message, in.MacAlgorithm, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := asymCheckBlob("mac", in.Mac, 6144); err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, errDryRun
	}
	sess, hs, err := s.material(ctx, k, v)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.HSM.VerifyMAC(sess, hs[0], macAlgHash[in.MacAlgorithm], in.Message, in.Mac); err != nil {
		return nil, s.mechanismErr(k, err, "KMSInvalidMacException", "The MAC is not valid for this message, key and MAC algorithm.")
	}
	s.recordUse(k, "VerifyMac")
	return &VerifyMacOutput{KeyId: k.arn(), MacValid: true, MacAlgorithm: in.MacAlgorithm}, nil
}

// ---- DeriveSharedSecret ----

// AttestationRecipient is KMS's RecipientInfo (a Nitro Enclave attestation document).
// Coffer does not support it: a request carrying one is an UnsupportedOperationException.
type AttestationRecipient struct {
	KeyEncryptionAlgorithm string `json:"KeyEncryptionAlgorithm"`
	AttestationDocument    []byte `json:"AttestationDocument"`
}

func recipientUnsupported() error {
	return kmsErr("UnsupportedOperationException", "Recipient (Nitro Enclaves attestation) is not supported by Coffer.")
}

// DeriveSharedSecretInput is DeriveSharedSecret's request.
type DeriveSharedSecretInput struct {
	KeyId                 string                `json:"KeyId"`
	KeyAgreementAlgorithm string                `json:"KeyAgreementAlgorithm"`
	PublicKey             []byte                `json:"PublicKey"`
	GrantTokens           []string              `json:"GrantTokens"`
	DryRun                bool                  `json:"DryRun"`
	Recipient             *AttestationRecipient `json:"Recipient"`
}

// DeriveSharedSecretOutput is DeriveSharedSecret's response.
type DeriveSharedSecretOutput struct {
	KeyId                 string `json:"KeyId"`
	SharedSecret          []byte `json:"SharedSecret"`
	KeyAgreementAlgorithm string `json:"KeyAgreementAlgorithm"`
	KeyOrigin             string `json:"KeyOrigin"`
}

// DeriveSharedSecret returns the raw ECDH shared secret (the x-coordinate) of a
// KEY_AGREEMENT key's private key and a peer's public key on the same curve.
func (s *Service) DeriveSharedSecret(ctx context.Context, c Caller, in DeriveSharedSecretInput) (*DeriveSharedSecretOutput, error) {
	if in.KeyId == "" {
		return nil, asymNull("keyId")
	}
	if err := asymCheckEnum("keyAgreementAlgorithm", in.KeyAgreementAlgorithm, []string{"ECDH"}); err != nil {
		return nil, err
	}
	if err := asymCheckBlob("publicKey", in.PublicKey, 8192); err != nil {
		return nil, err
	}
	if err := asymCheckGrants(in.GrantTokens); err != nil {
		return nil, err
	}
	k, m, err := s.keyForUse(c, in.KeyId, UsageKeyAgreement)
	if err != nil {
		return nil, err
	}
	info := specs[k.Spec]
	if !contains(info.agree, in.KeyAgreementAlgorithm) {
		return nil, kmsErr("InvalidKeyUsageException", "Key agreement algorithm %s is not valid for %s (KeySpec %s).", in.KeyAgreementAlgorithm, k.arn(), k.Spec)
	}
	peer, err := crypto.ParsePKIX(in.PublicKey)
	if err != nil {
		return nil, validation("PublicKey is not a valid DER-encoded X.509 SubjectPublicKeyInfo (uncompressed EC point on a named curve).")
	}
	want := agreementCurve[k.Spec]
	if got := crypto.CurveOf(peer); got != want {
		if got == "" {
			got = "not an elliptic-curve key"
		}
		return nil, validation("The public key (%s) is not on the curve of %s (%s, %s).", got, k.arn(), k.Spec, want)
	}
	if in.Recipient != nil {
		return nil, recipientUnsupported()
	}
	v, err := s.asymVersion(k, m)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, errDryRun
	}
	sess, hs, err := s.material(ctx, k, &v)
	if err != nil {
		return nil, err
	}
	shared, err := s.cfg.HSM.ECDHSharedSecret(sess, hs[1], in.PublicKey)
	if err != nil {
		var ve *hsm.ValidationError
		if errors.As(err, &ve) {
			return nil, validation("PublicKey is not valid for key agreement with %s.", k.arn())
		}
		return nil, s.hsmErr(k, err)
	}
	s.recordUse(k, "DeriveSharedSecret")
	return &DeriveSharedSecretOutput{KeyId: k.arn(), SharedSecret: shared, KeyAgreementAlgorithm: in.KeyAgreementAlgorithm, KeyOrigin: k.Origin}, nil
}

// ---- GenerateDataKeyPair ----

// GenerateDataKeyPairInput is GenerateDataKeyPair's (and ...WithoutPlaintext's) request.
type GenerateDataKeyPairInput struct {
	EncryptionContext map[string]string     `json:"EncryptionContext"`
	KeyId             string                `json:"KeyId"`
	KeyPairSpec       string                `json:"KeyPairSpec"`
	GrantTokens       []string              `json:"GrantTokens"`
	Recipient         *AttestationRecipient `json:"Recipient"`
	DryRun            bool                  `json:"DryRun"`
}

// GenerateDataKeyPairOutput is GenerateDataKeyPair's response (no PrivateKeyPlaintext for
// WithoutPlaintext).
type GenerateDataKeyPairOutput struct {
	PrivateKeyCiphertextBlob []byte `json:"PrivateKeyCiphertextBlob"`
	PrivateKeyPlaintext      []byte `json:"PrivateKeyPlaintext,omitempty"`
	PublicKey                []byte `json:"PublicKey"`
	KeyId                    string `json:"KeyId"`
	KeyPairSpec              string `json:"KeyPairSpec"`
	KeyMaterialId            string `json:"KeyMaterialId,omitempty"`
}

// GenerateDataKeyPair returns a new key pair: the public key (DER SubjectPublicKeyInfo), the
// private key (PKCS#8) in plaintext and encrypted under a symmetric KMS key, as a ciphertext
// that Decrypt opens.
func (s *Service) GenerateDataKeyPair(ctx context.Context, c Caller, in GenerateDataKeyPairInput) (*GenerateDataKeyPairOutput, error) {
	return s.generateDataKeyPair(ctx, c, in, false)
}

// GenerateDataKeyPairWithoutPlaintext is GenerateDataKeyPair without the plaintext private key.
func (s *Service) GenerateDataKeyPairWithoutPlaintext(ctx context.Context, c Caller, in GenerateDataKeyPairInput) (*GenerateDataKeyPairOutput, error) {
	in.Recipient = nil // not a member of this operation's request
	return s.generateDataKeyPair(ctx, c, in, true)
}

func (s *Service) generateDataKeyPair(ctx context.Context, c Caller, in GenerateDataKeyPairInput, withoutPlaintext bool) (*GenerateDataKeyPairOutput, error) {
	if in.KeyId == "" {
		return nil, asymNull("keyId")
	}
	if err := asymCheckEnum("keyPairSpec", in.KeyPairSpec, keyPairSpecEnum); err != nil {
		return nil, err
	}
	if err := asymCheckGrants(in.GrantTokens); err != nil {
		return nil, err
	}
	k, m, err := s.keyForUse(c, in.KeyId, UsageEncrypt)
	if err != nil {
		return nil, err
	}
	if k.Spec != SpecSymmetric {
		return nil, kmsErr("InvalidKeyUsageException", "%s is not a symmetric encryption key; data key pairs are encrypted under a SYMMETRIC_DEFAULT key.", k.arn())
	}
	info, ok := specs[in.KeyPairSpec]
	if !ok {
		return nil, kmsErr("UnsupportedOperationException", "KeyPairSpec %s is not supported by Coffer.", in.KeyPairSpec)
	}
	if err := validateContext(in.EncryptionContext); err != nil {
		return nil, err
	}
	if in.Recipient != nil {
		return nil, recipientUnsupported()
	}
	if in.DryRun {
		return nil, errDryRun
	}
	sess, err := s.session(ctx)
	if err != nil {
		return nil, AsError(err)
	}
	pkcs8, spki, err := s.cfg.HSM.ExportableKeyPair(sess, info.hsmType, info.bits, info.curve)
	if err != nil {
		return nil, AsError(err)
	}
	blob, err := s.seal(ctx, k, m, pkcs8, in.EncryptionContext)
	if err != nil {
		clear(pkcs8)
		return nil, err
	}
	out := &GenerateDataKeyPairOutput{PrivateKeyCiphertextBlob: blob, PublicKey: spki, KeyId: k.arn(),
		KeyPairSpec: in.KeyPairSpec, KeyMaterialId: m.Versions[m.Current].ID}
	op := "GenerateDataKeyPair"
	if withoutPlaintext {
		clear(pkcs8)
		op = "GenerateDataKeyPairWithoutPlaintext"
	} else {
		out.PrivateKeyPlaintext = pkcs8
	}
	s.recordUse(k, op)
	return out, nil
}
