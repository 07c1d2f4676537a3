package kms

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// importRegionOps: import of key material, Multi-Region keys.
var importRegionOps = map[string]Op{
	"GetParametersForImport":    op("GetParametersForImport", (*Service).GetParametersForImport),
	"ImportKeyMaterial":         op("ImportKeyMaterial", (*Service).ImportKeyMaterial),
	"DeleteImportedKeyMaterial": op("DeleteImportedKeyMaterial", (*Service).DeleteImportedKeyMaterial),
	"ReplicateKey":              op("ReplicateKey", (*Service).ReplicateKey),
	"UpdatePrimaryRegion":       opNoOutput("UpdatePrimaryRegion", (*Service).UpdatePrimaryRegion),
}

// AWS KMS's import parameters: a wrapping key and import token are valid 24 hours;
// imported key material expires at most 365 days after the import.
const (
	importParametersLifetime = 24 * time.Hour
	maxMaterialValidity      = 365 * 24 * time.Hour
	importTokenBytes         = 64

	expiresModel       = "KEY_MATERIAL_EXPIRES"
	doesNotExpireModel = "KEY_MATERIAL_DOES_NOT_EXPIRE"
	importNew          = "NEW_KEY_MATERIAL"
	importExisting     = "EXISTING_KEY_MATERIAL"

	// materialIDContext is the domain separation of the key material IDs Coffer derives.
	materialIDContext = "coffer/kms/key-material-id/v1\x00"
)

// The enums of the botocore model, in its order.
var (
	wrappingAlgorithmEnum = []string{"RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256", "SM2PKE"}
	wrappingKeySpecEnum   = []string{"RSA_2048", "RSA_3072", "RSA_4096", "SM2"}
	expirationModelEnum   = []string{expiresModel, doesNotExpireModel}
	importTypeEnum        = []string{importNew, importExisting}
)

// wrapAlg is the HSM unwrap mechanism of an AWS wrapping algorithm.
type wrapAlg struct{ mech, hash string }

var wrappingAlgorithms = map[string]wrapAlg{
	"RSAES_PKCS1_V1_5":         {hsm.WrapRSAPKCS, ""},
	"RSAES_OAEP_SHA_1":         {hsm.WrapRSAOAEP, "sha1"},
	"RSAES_OAEP_SHA_256":       {hsm.WrapRSAOAEP, "sha256"},
	"RSA_AES_KEY_WRAP_SHA_1":   {hsm.WrapRSAAES, "sha1"},
	"RSA_AES_KEY_WRAP_SHA_256": {hsm.WrapRSAAES, "sha256"},
}

var wrappingKeyBits = map[string]int{"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}

// hmacImportLength is the length range AWS KMS accepts for imported HMAC key material.
var hmacImportLength = map[string][2]int{
	SpecHMAC224: {28, 64}, SpecHMAC256: {32, 64}, SpecHMAC384: {48, 128}, SpecHMAC512: {64, 128},
}

// regionPattern is the model's RegionType pattern.
const regionPatternText = `^([a-z]+-){2,3}\d+$`

var regionPattern = regexp.MustCompile(regionPatternText)

var materialDescriptionPattern = regexp.MustCompile(`^[a-zA-Z0-9:/_\s.-]+$`)

var materialIDPattern = regexp.MustCompile(`^[a-f0-9]+$`)

func isSecretSpec(spec string) bool { return spec == SpecSymmetric || strings.HasPrefix(spec, "HMAC_") }

// checkWrapping applies AWS KMS's rules on which wrapping algorithm and wrapping key spec
// can carry which key material: RSA private keys only with RSA_AES_KEY_WRAP_*; RSAES_OAEP_*
// for everything else, except ECC_NIST_P521 under an RSA_2048 wrapping key (its PKCS#8
// does not fit); RSAES_PKCS1_V1_5 (deprecated by AWS) only for symmetric and HMAC keys.
func checkWrapping(k *keyRec, alg, wks string) error {
	switch {
	case strings.HasPrefix(alg, "RSA_AES_KEY_WRAP_"):
		return nil
	case strings.HasPrefix(k.Spec, "RSA_"):
		return validation("%s is not a valid wrapping algorithm for %s key material: RSA private keys must be wrapped with RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.", alg, k.Spec)
	case alg == "RSAES_PKCS1_V1_5" && !isSecretSpec(k.Spec):
		return validation("RSAES_PKCS1_V1_5 is not a valid wrapping algorithm for %s key material; use RSA_AES_KEY_WRAP_SHA_256 or RSAES_OAEP_SHA_256.", k.Spec)
	case k.Spec == SpecP521 && wks == "RSA_2048":
		return validation("%s key material cannot be wrapped with %s under an RSA_2048 wrapping key; use a larger wrapping key spec or an RSA_AES_KEY_WRAP_* wrapping algorithm.", SpecP521, alg)
	}
	return nil
}

// requireImportable refuses import operations on keys that are not EXTERNAL or whose state
// does not allow them.
func requireImportable(k *keyRec) error {
	if k.Origin != OriginExternal {
		return kmsErr("UnsupportedOperationException", "%s origin is %s which is not valid for this operation.", k.arn(), k.Origin)
	}
	switch k.State {
	case StateEnabled, StateDisabled, StatePendingImport:
		return nil
	}
	return requireEnabled(k)
}

// ---- GetParametersForImport ----

// GetParametersForImportInput is GetParametersForImport's request.
type GetParametersForImportInput struct {
	KeyId             string `json:"KeyId"`
	WrappingAlgorithm string `json:"WrappingAlgorithm"`
	WrappingKeySpec   string `json:"WrappingKeySpec"`
}

// GetParametersForImportOutput is GetParametersForImport's response.
type GetParametersForImportOutput struct {
	KeyId             string `json:"KeyId"`
	ImportToken       []byte `json:"ImportToken"`
	PublicKey         []byte `json:"PublicKey"`
	ParametersValidTo *Epoch `json:"ParametersValidTo,omitempty"`
}

// importTokenID is the stored identifier of an import token: its SHA-256, so the state
// never holds the bearer value itself.
func importTokenID(token []byte) string {
	sum := sha256.Sum256(token)
	return hex.EncodeToString(sum[:])
}

// GetParametersForImport generates, inside the HSM, an RSA wrapping key pair for importing
// key material into an EXTERNAL key, and returns its public key with an import token; both
// are valid 24 hours. The private key never leaves the HSM (unwrap only, not extractable).
func (s *Service) GetParametersForImport(ctx context.Context, c Caller, in GetParametersForImportInput) (*GetParametersForImportOutput, error) {
	if in.KeyId == "" {
		return nil, asymNull("keyId")
	}
	if err := asymCheckEnum("wrappingAlgorithm", in.WrappingAlgorithm, wrappingAlgorithmEnum); err != nil {
		return nil, err
	}
	if err := asymCheckEnum("wrappingKeySpec", in.WrappingKeySpec, wrappingKeySpecEnum); err != nil {
		return nil, err
	}
	if in.WrappingAlgorithm == "SM2PKE" || in.WrappingKeySpec == "SM2" {
		return nil, kmsErr("UnsupportedOperationException", "SM2 wrapping keys and the SM2PKE wrapping algorithm are only supported in China Regions.")
	}
	if in.WrappingAlgorithm == "RSAES_PKCS1_V1_5" {
		// Still an enum value of the model, but "As of October 10, 2023, KMS does not
		// support the RSAES_PKCS1_V1_5 wrapping algorithm" (and PKCS #1 v1.5 unwrapping
		// is a padding oracle).
		return nil, validation("The RSAES_PKCS1_V1_5 wrapping algorithm is not supported (AWS KMS stopped supporting it on October 10, 2023); use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.")
	}
	k, _, err := s.resolve(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	if err := requireImportable(k); err != nil {
		return nil, err
	}
	if err := checkWrapping(k, in.WrappingAlgorithm, in.WrappingKeySpec); err != nil {
		return nil, err
	}
	sess, err := s.session(ctx)
	if err != nil {
		return nil, AsError(err)
	}
	dom := s.currentDomain() // in sess, before the objects are made (domain.go)
	f, t := false, true
	label := "kms-import:" + k.ID
	kp, err := s.cfg.HSM.GenerateKeyPair(ctx, sess, hsm.GenerateKeyPairRequest{KeyType: hsm.TypeRSA,
		ModulusSizeBits:  wrappingKeyBits[in.WrappingKeySpec],
		PublicAttributes: hsm.AttrSpec{Label: label + ":pub"}, PrivateAttributes: hsm.AttrSpec{Label: label, Unwrap: &t, Extractable: &f}})
	if err != nil {
		return nil, AsError(err)
	}
	pub, _ := hsm.ParseKeyRef(kp.PublicKey.KeyReference)
	priv, _ := hsm.ParseKeyRef(kp.PrivateKey.KeyReference)
	handles := []uint64{pub, priv}
	fail := func(err error) (*GetParametersForImportOutput, error) {
		s.destroyMaterial(ctx, []version{{Handles: handles, Domain: dom}})
		return nil, AsError(err)
	}
	der, err := s.cfg.HSM.PublicKeyDER(sess, pub)
	if err != nil {
		return fail(err)
	}
	token := make([]byte, importTokenBytes)
	if _, err := s.cfg.Rand.Read(token); err != nil {
		return fail(err)
	}
	expires := s.now().Add(importParametersLifetime)
	rec := importRec{Token: importTokenID(token), KeyID: k.ID, Region: k.Region, Handles: handles,
		Spec: in.WrappingAlgorithm, Expires: expires, Domain: dom}
	if err := s.propose(ctx, cmdPutImport, rec); err != nil {
		return fail(err)
	}
	return &GetParametersForImportOutput{KeyId: k.arn(), ImportToken: token, PublicKey: der, ParametersValidTo: epochPtr(expires)}, nil
}

// ---- ImportKeyMaterial ----

// ImportKeyMaterialInput is ImportKeyMaterial's request.
type ImportKeyMaterialInput struct {
	KeyId                  string  `json:"KeyId"`
	ImportToken            []byte  `json:"ImportToken"`
	EncryptedKeyMaterial   []byte  `json:"EncryptedKeyMaterial"`
	ValidTo                *Epoch  `json:"ValidTo"`
	ExpirationModel        string  `json:"ExpirationModel"`
	ImportType             string  `json:"ImportType"`
	KeyMaterialDescription *string `json:"KeyMaterialDescription"`
	KeyMaterialId          string  `json:"KeyMaterialId"`
}

// ImportKeyMaterialOutput is ImportKeyMaterial's response.
type ImportKeyMaterialOutput struct {
	KeyId         string `json:"KeyId"`
	KeyMaterialId string `json:"KeyMaterialId,omitempty"`
}

func checkMaterialID(id string) error {
	if id == "" {
		return nil
	}
	if len(id) != 64 {
		return memberLengthErr(id, "keyMaterialId", 64, 64)
	}
	if !materialIDPattern.MatchString(id) {
		return memberPatternErr(id, "keyMaterialId", "^[a-f0-9]+$")
	}
	return nil
}

// validateImportInput checks the request members and the expiration settings; it returns
// the expiration model and ValidTo to record.
func (s *Service) validateImportInput(in ImportKeyMaterialInput) (string, time.Time, error) {
	if in.KeyId == "" {
		return "", time.Time{}, asymNull("keyId")
	}
	if err := asymCheckBlob("importToken", in.ImportToken, 6144); err != nil {
		return "", time.Time{}, err
	}
	if err := asymCheckBlob("encryptedKeyMaterial", in.EncryptedKeyMaterial, 6144); err != nil {
		return "", time.Time{}, err
	}
	model := in.ExpirationModel
	if model == "" {
		model = expiresModel
	} else if !contains(expirationModelEnum, model) {
		return "", time.Time{}, asymEnumErr("expirationModel", model, expirationModelEnum)
	}
	if in.ImportType != "" && !contains(importTypeEnum, in.ImportType) {
		return "", time.Time{}, asymEnumErr("importType", in.ImportType, importTypeEnum)
	}
	if d := in.KeyMaterialDescription; d != nil {
		if len(*d) > 256 {
			return "", time.Time{}, validation("1 validation error detected: Value at 'keyMaterialDescription' failed to satisfy constraint: Member must have length less than or equal to 256")
		}
		if *d != "" && !materialDescriptionPattern.MatchString(*d) {
			return "", time.Time{}, memberPatternErr(*d, "keyMaterialDescription", `^[a-zA-Z0-9:/_\s.-]+$`)
		}
	}
	if err := checkMaterialID(in.KeyMaterialId); err != nil {
		return "", time.Time{}, err
	}
	if in.KeyMaterialId != "" && in.ImportType == importNew {
		return "", time.Time{}, validation("You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.")
	}
	var validTo time.Time
	switch model {
	case expiresModel:
		if in.ValidTo == nil {
			return "", time.Time{}, validation("A ValidTo date is required when ExpirationModel is KEY_MATERIAL_EXPIRES.")
		}
		validTo = time.Time(*in.ValidTo).UTC()
		now := s.now()
		if !validTo.After(now) {
			return "", time.Time{}, validation("ValidTo must be a date and time in the future.")
		}
		if validTo.After(now.Add(maxMaterialValidity)) {
			return "", time.Time{}, validation("ValidTo must be at most 365 days from now.")
		}
	case doesNotExpireModel:
		if in.ValidTo != nil {
			return "", time.Time{}, validation("ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.")
		}
	}
	return model, validTo, nil
}

// importToken finds the import record of a token for key k.
func (s *Service) importToken(k *keyRec, token []byte) (importRec, error) {
	s.mu.RLock()
	r := s.imports[importTokenID(token)]
	s.mu.RUnlock()
	if r == nil || r.KeyID != k.ID || r.Region != k.Region || len(r.Handles) != 2 {
		return importRec{}, kmsErr("InvalidImportTokenException", "The import token is not valid for %s.", k.arn())
	}
	if !r.Expires.After(s.now()) {
		return importRec{}, kmsErr("ExpiredImportTokenException", "The import token and the public key it goes with expired at %s; call GetParametersForImport again.", r.Expires.Format(time.RFC3339))
	}
	return *r, nil
}

func incorrectMaterial(format string, args ...any) *Error {
	return kmsErr("IncorrectKeyMaterialException", format, args...)
}

// unwrapMaterial unwraps the encrypted key material inside the HSM into new non-extractable
// objects of the KMS service user, checks that it fits the key's spec, and returns their
// handles: [secret] or [public, private]. dom is the current domain key id, read in sess.
func (s *Service) unwrapMaterial(ctx context.Context, sess *hsm.Session, k *keyRec, rec importRec, wrapped []byte, dom string) ([]uint64, error) {
	info := specs[k.Spec]
	alg, ok := wrappingAlgorithms[rec.Spec]
	if !ok {
		return nil, kmsErr("InvalidImportTokenException", "The import token is not valid for %s.", k.arn())
	}
	if otherDomain(rec.Domain, dom) {
		// The wrapping key went with the HSM domain it was made in: the handle may name
		// another object now.
		return nil, kmsErr("InvalidImportTokenException", "The wrapping key of the import token no longer exists (the HSM cluster was zeroized); call GetParametersForImport again.")
	}
	f, t := false, true
	label := "kms:" + k.ID + ":imported"
	attrs := hsm.AttrSpec{Label: label, Extractable: &f}
	pubAttrs := hsm.AttrSpec{Label: label + ":pub"}
	switch {
	case info.hsmType == hsm.TypeAES:
		attrs.Encrypt, attrs.Decrypt = &t, &t
	case info.hsmType == hsm.TypeGenericSecret:
		attrs.Sign, attrs.Verify = &t, &t
	case k.Usage == UsageEncrypt:
		attrs.Decrypt, pubAttrs.Encrypt = &t, &t
	case k.Usage == UsageSign:
		attrs.Sign, pubAttrs.Verify = &t, &t
	case k.Usage == UsageKeyAgreement:
		attrs.Derive = &t
	}
	ki, err := s.cfg.HSM.Unwrap(ctx, sess, hsm.UnwrapRequest{UnwrappingKey: rec.Handles[1], Mechanism: alg.mech, Hash: alg.hash,
		Wrapped: wrapped, KeyType: info.hsmType, Attributes: attrs}, nil)
	if err != nil {
		var me *hsm.MechanismError
		var ve *hsm.ValidationError
		var nf *hsm.NotFoundError
		switch {
		case errors.As(err, &me) && strings.Contains(me.Reason, "does not decrypt"):
			return nil, kmsErr("InvalidCiphertextException", "The encrypted key material could not be decrypted with the wrapping key and algorithm (%s) of the import token.", rec.Spec)
		case errors.As(err, &me):
			return nil, incorrectMaterial("The key material is not valid %s key material: %s", k.Spec, me.Reason)
		case errors.As(err, &ve) && ve.Field == "key-type":
			return nil, incorrectMaterial("The key material is not valid %s key material: %s", k.Spec, ve.Reason)
		case errors.As(err, &nf):
			return nil, kmsErr("InvalidImportTokenException", "The wrapping key of the import token no longer exists; call GetParametersForImport again.")
		}
		return nil, AsError(err)
	}
	priv, _ := hsm.ParseKeyRef(ki.KeyReference)
	handles := []uint64{priv}
	fail := func(err error) ([]uint64, error) {
		s.destroyMaterial(ctx, []version{{Handles: handles, Domain: dom}})
		return nil, err
	}
	a := ki.Attributes
	if a == nil {
		return fail(kmsErr("KMSInternalException", "the HSM did not describe the unwrapped key"))
	}
	switch {
	case k.Spec == SpecSymmetric:
		if a.KeyLengthBytes != info.length {
			return fail(incorrectMaterial("SYMMETRIC_DEFAULT key material must be a 256-bit (32-byte) AES key, got %d bytes.", a.KeyLengthBytes))
		}
		return handles, nil
	case info.hsmType == hsm.TypeGenericSecret:
		r := hmacImportLength[k.Spec]
		if a.KeyLengthBytes < r[0] || a.KeyLengthBytes > r[1] {
			return fail(incorrectMaterial("%s key material must be %d to %d bytes, got %d bytes.", k.Spec, r[0], r[1], a.KeyLengthBytes))
		}
		return handles, nil
	case info.hsmType == hsm.TypeRSA && a.ModulusSizeBits != info.bits:
		return fail(incorrectMaterial("%s key material must be a %d-bit RSA private key, got %d bits.", k.Spec, info.bits, a.ModulusSizeBits))
	case info.hsmType == hsm.TypeEC && a.Curve != info.curve:
		return fail(incorrectMaterial("%s key material must be an EC private key on %s, got %s.", k.Spec, info.curve, a.Curve))
	}
	// Asymmetric: the public key object, like generated key pairs have.
	der, err := s.cfg.HSM.PublicKeyDER(sess, priv)
	if err != nil {
		return fail(AsError(err))
	}
	pk, err := s.cfg.HSM.ImportPEM(ctx, sess, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), pubAttrs)
	if err != nil {
		return fail(AsError(err))
	}
	pub, _ := hsm.ParseKeyRef(pk.KeyReference)
	handles = []uint64{pub, priv}
	return handles, nil
}

// materialIDFor derives the KeyMaterialId of imported key material from the key ID and the
// material, inside the HSM: for asymmetric keys a hash of the public key; for HMAC keys an
// HMAC-SHA-256 with the key itself; for AES keys an AES-GCM authentication tag of the empty
// message under the key (its nonce and tag, and a checksum). All are one-way: they reveal
// nothing about the material, but the same material always verifies against its ID.
func (s *Service) materialIDFor(sess *hsm.Session, k *keyRec, handles []uint64) (string, error) {
	ctxt := []byte(materialIDContext + k.ID)
	switch {
	case len(handles) == 2:
		der, err := s.cfg.HSM.PublicKeyDER(sess, handles[1])
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(append(ctxt, der...))
		return hex.EncodeToString(sum[:]), nil
	case specs[k.Spec].hsmType == hsm.TypeGenericSecret:
		mac, err := s.cfg.HSM.MAC(sess, handles[0], "sha256", ctxt, nil)
		if err != nil {
			return "", err
		}
		return hex.EncodeToString(mac), nil
	default:
		probe, err := s.cfg.HSM.EncryptAESGCM(sess, handles[0], nil, ctxt, nil)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(append(ctxt, probe...))
		return hex.EncodeToString(append(probe, sum[:32-len(probe)]...)), nil
	}
}

// materialMatches reports whether the material of handles is the material whose ID is id.
func (s *Service) materialMatches(sess *hsm.Session, k *keyRec, handles []uint64, id string) (bool, error) {
	if len(handles) == 1 && specs[k.Spec].hsmType == hsm.TypeAES {
		b, err := hex.DecodeString(id)
		if err != nil || len(b) != 32 {
			return false, nil
		}
		probe := b[:hsm.GCMNonceSize+hsm.GCMTagSize]
		_, err = s.cfg.HSM.DecryptAESGCM(sess, handles[0], probe, []byte(materialIDContext+k.ID), nil)
		var me *hsm.MechanismError
		if errors.As(err, &me) {
			return false, nil
		}
		return err == nil, err
	}
	got, err := s.materialIDFor(sess, k, handles)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(id)) == 1, nil
}

// sameCheckValue compares the HSM check values of two key objects (the cheap first test of
// a reimport while the old objects still exist).
func (s *Service) sameCheckValue(sess *hsm.Session, a, b uint64) bool {
	ka, err1 := s.cfg.HSM.GetKey(sess, a)
	kb, err2 := s.cfg.HSM.GetKey(sess, b)
	if err1 != nil || err2 != nil || ka.Attributes == nil || kb.Attributes == nil {
		return true // cannot tell: the material ID check decides
	}
	return ka.Attributes.CheckValue == kb.Attributes.CheckValue
}

func currentVersion(m *material) *version {
	if len(m.Versions) == 0 || m.Current >= len(m.Versions) {
		return nil
	}
	return &m.Versions[m.Current]
}

// versionExpiry is the expiration model and date of the last import of version i of an
// imported key's material. Records of older snapshots kept them on the key only, for its
// (single, current) material.
func versionExpiry(k *keyRec, m *material, i int) (string, time.Time) {
	v := &m.Versions[i]
	if v.ExpirationModel == "" && i == m.Current && len(v.Handles) > 0 {
		return k.ExpirationModel, k.ValidTo
	}
	return v.ExpirationModel, v.ValidTo
}

// adoptKeyExpiry moves the expiration of an older snapshot's key record onto its current
// version, before the versions change (a rotation would otherwise lose it).
func adoptKeyExpiry(k *keyRec, m *material) {
	if v := currentVersion(m); v != nil && v.ExpirationModel == "" && len(v.Handles) > 0 && k.ExpirationModel != "" {
		v.ExpirationModel, v.ValidTo = k.ExpirationModel, k.ValidTo
	}
}

// pendingVersion is the index of the version in PENDING_ROTATION, or -1.
func pendingVersion(m *material) int {
	return slices.IndexFunc(m.Versions, func(v version) bool { return v.Pending })
}

// settleImportState derives an imported key's state and its ExpirationModel and ValidTo
// (DescribeKey's: the current material's) from its materials, as AWS KMS does: the key is
// usable only while every material permanently associated with it (all but the one
// PENDING_ROTATION) is imported; otherwise it is PendingImport. Disabled stays Disabled
// while complete; PendingDeletion is never changed.
func settleImportState(k *keyRec, m *material) {
	if k.Origin != OriginExternal {
		return
	}
	adoptKeyExpiry(k, m)
	complete := len(m.Versions) > 0
	for _, v := range m.Versions {
		if !v.Pending && len(v.Handles) == 0 {
			complete = false
		}
	}
	switch {
	case complete && k.State == StatePendingImport:
		k.State = StateEnabled
	case !complete && (k.State == StateEnabled || k.State == StateDisabled):
		k.State = StatePendingImport
	}
	k.ExpirationModel, k.ValidTo = "", time.Time{}
	if v := currentVersion(m); v != nil && len(v.Handles) > 0 {
		k.ExpirationModel, k.ValidTo = v.ExpirationModel, v.ValidTo
	}
}

// ImportKeyMaterial imports key material, wrapped under the public key of an import token,
// into an EXTERNAL key. The material is unwrapped inside the HSM and must fit the key's
// spec. With EXISTING_KEY_MATERIAL (the default once a key has material) it must be one of
// the key's materials (KeyMaterialId, if given, names which). With NEW_KEY_MATERIAL into a
// single-Region symmetric key that has material, it must be material the key never had: it
// becomes PENDING_ROTATION, and RotateKeyOnDemand makes it current.
func (s *Service) ImportKeyMaterial(ctx context.Context, c Caller, in ImportKeyMaterialInput) (*ImportKeyMaterialOutput, error) {
	model, validTo, err := s.validateImportInput(in)
	if err != nil {
		return nil, err
	}
	k, m, err := s.resolve(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	if err := requireImportable(k); err != nil {
		return nil, err
	}
	if k.Spec != SpecSymmetric && (in.ImportType != "" || in.KeyMaterialId != "" || in.KeyMaterialDescription != nil) {
		return nil, validation("ImportType, KeyMaterialId and KeyMaterialDescription are only valid for symmetric encryption keys; %s is a %s key.", k.arn(), k.Spec)
	}
	first := len(m.Versions) == 0
	typ := in.ImportType
	if typ == "" {
		typ = importExisting
		if first {
			typ = importNew
		}
	}
	known := func(id string) bool {
		return slices.ContainsFunc(m.Versions, func(v version) bool { return v.ID == id })
	}
	switch {
	case first && typ == importExisting:
		return nil, incorrectMaterial("No key material was ever imported into %s; use NEW_KEY_MATERIAL.", k.arn())
	case in.KeyMaterialId != "" && !known(in.KeyMaterialId):
		return nil, incorrectMaterial("Key material %s is not associated with %s.", in.KeyMaterialId, k.arn())
	case !first && typ == importNew:
		if err := s.requireNewMaterial(k, m); err != nil {
			return nil, err
		}
	}
	rec, err := s.importToken(k, in.ImportToken)
	if err != nil {
		return nil, err
	}
	sess, err := s.session(ctx)
	if err != nil {
		return nil, AsError(err)
	}
	dom := s.currentDomain() // in sess, before the objects are made (domain.go)
	handles, err := s.unwrapMaterial(ctx, sess, k, rec, in.EncryptedKeyMaterial, dom)
	if err != nil {
		return nil, err
	}
	discard := func() { s.destroyMaterial(ctx, []version{{Handles: handles, Domain: dom}}) }
	// gone: the version's objects went with another HSM domain (reimporting the same
	// material after the cluster was zeroized and initialized again brings the key back).
	gone := func(v *version) bool { return len(v.Handles) == 0 || otherDomain(v.Domain, dom) }
	// matches: whether the imported material is version v's.
	matches := func(v *version) (bool, error) {
		ok, err := s.materialMatches(sess, k, handles, v.ID)
		if err == nil && ok && !gone(v) && len(v.Handles) == len(handles) {
			ok = s.sameCheckValue(sess, v.Handles[len(v.Handles)-1], handles[len(handles)-1])
		}
		return ok, err
	}
	// which: the version of m the material is, or "" (the current one is tried first).
	which := func(m *material) (string, error) {
		order := make([]int, 0, len(m.Versions))
		if m.Current < len(m.Versions) {
			order = append(order, m.Current)
		}
		for i := range m.Versions {
			if i != m.Current {
				order = append(order, i)
			}
		}
		for _, i := range order {
			if ok, err := matches(&m.Versions[i]); err != nil || ok {
				if err != nil {
					return "", err
				}
				return m.Versions[i].ID, nil
			}
		}
		return "", nil
	}
	var id string
	switch {
	case typ == importNew:
		// New material must be new: material of this key again is a reimport.
		old, err := which(m)
		if err == nil && old == "" {
			id, err = s.materialIDFor(sess, k, handles)
		}
		if err != nil {
			discard()
			return nil, AsError(err)
		}
		if old != "" {
			discard()
			return nil, incorrectMaterial("The key material is already associated with %s as key material %s; reimport it with EXISTING_KEY_MATERIAL.", k.arn(), old)
		}
	case in.KeyMaterialId != "":
		i := slices.IndexFunc(m.Versions, func(v version) bool { return v.ID == in.KeyMaterialId })
		ok, err := matches(&m.Versions[i])
		if err != nil || !ok {
			discard()
			if err != nil {
				return nil, AsError(err)
			}
			return nil, incorrectMaterial("The key material is not key material %s of %s.", in.KeyMaterialId, k.arn())
		}
		id = in.KeyMaterialId
	default:
		if id, err = which(m); err != nil || id == "" {
			discard()
			if err != nil {
				return nil, AsError(err)
			}
			return nil, incorrectMaterial("The key material is not the key material previously imported into %s.", k.arn())
		}
	}
	keep := true // whether the new objects are used (else the existing ones stay)
	nk, err := s.update(ctx, Caller{Region: k.Region, Account: k.Account}, k.ID, func(nk *keyRec, nm *material) error {
		if err := requireImportable(nk); err != nil {
			return err
		}
		adoptKeyExpiry(nk, nm)
		keep = true
		i := slices.IndexFunc(nm.Versions, func(v version) bool { return v.ID == id })
		switch {
		case i < 0 && len(nm.Versions) == 0:
			nm.Versions = []version{{ID: id, Handles: handles, Created: s.now(), Imported: true, Domain: dom}}
			nm.Current, i = 0, 0
		case i < 0 && first:
			// A concurrent first import came first: ours must be the same material.
			if ok, err := s.materialMatches(sess, k, handles, nm.Versions[nm.Current].ID); err != nil || !ok {
				return incorrectMaterial("The key material is not the key material previously imported into %s.", k.arn())
			}
			i = nm.Current
			v := &nm.Versions[i]
			if keep = gone(v); keep {
				v.Handles, v.Imported, v.Domain = handles, true, dom
			}
		case i < 0 && typ == importNew:
			if err := s.requireNewMaterial(nk, nm); err != nil {
				return err
			}
			nm.Versions = append(nm.Versions, version{ID: id, Handles: handles, Created: s.now(), Imported: true, Domain: dom, Pending: true})
			i = len(nm.Versions) - 1
		case i < 0:
			// The pending material was deleted meanwhile.
			return incorrectMaterial("Key material %s is not associated with %s.", id, k.arn())
		case typ == importNew && !first:
			return incorrectMaterial("The key material is already associated with %s as key material %s; reimport it with EXISTING_KEY_MATERIAL.", k.arn(), id)
		default:
			v := &nm.Versions[i]
			if keep = gone(v); keep {
				v.Handles, v.Imported, v.Domain = handles, true, dom
			}
		}
		v := &nm.Versions[i]
		v.ExpirationModel, v.ValidTo = model, validTo
		if in.KeyMaterialDescription != nil {
			v.Description = *in.KeyMaterialDescription
		}
		settleImportState(nk, nm)
		return nil
	})
	if err != nil || !keep {
		discard()
	}
	if err != nil {
		return nil, err
	}
	s.dropImportToken(ctx, rec)
	s.syncMaterialState(ctx, nk, nk.State != StatePendingImport)
	return &ImportKeyMaterialOutput{KeyId: nk.arn(), KeyMaterialId: id}, nil
}

// requireNewMaterial checks that new key material (NEW_KEY_MATERIAL, for an on-demand
// rotation) can be imported into k, which has material: a single-Region symmetric key
// without material already PENDING_ROTATION.
func (s *Service) requireNewMaterial(k *keyRec, m *material) error {
	if k.MultiRegion {
		return kmsErr("UnsupportedOperationException", "%s is a multi-Region key. Coffer does not support importing new key material (on-demand rotation) into multi-Region keys; reimport its key material with EXISTING_KEY_MATERIAL.", k.arn())
	}
	if p := pendingVersion(m); p >= 0 {
		return invalidState("%s already has key material %s in PENDING_ROTATION state. Rotate the key (RotateKeyOnDemand) or delete that key material before importing new key material.", k.arn(), m.Versions[p].ID)
	}
	return nil
}

// dropImportToken forgets an import token and destroys its wrapping key pair.
func (s *Service) dropImportToken(ctx context.Context, rec importRec) error {
	if err := s.propose(ctx, cmdDeleteImport, deleteByIDCmd{ID: rec.Token}); err != nil {
		return err
	}
	return s.destroyMaterial(ctx, []version{{Handles: rec.Handles, Domain: rec.Domain}})
}

// syncMaterialState brings the other regions of a Multi-Region key in line with the
// presence of their shared material: Coffer's replicas share one material record, so
// importing or deleting it in one region does it in all.
func (s *Service) syncMaterialState(ctx context.Context, k *keyRec, present bool) {
	if !k.MultiRegion {
		return
	}
	s.mu.RLock()
	others := s.otherRegionsLocked(k)
	s.mu.RUnlock()
	for _, r := range others {
		_, err := s.update(ctx, Caller{Region: r, Account: k.Account}, k.ID, func(ok *keyRec, m *material) error {
			switch {
			case present && ok.State == StatePendingImport:
				ok.State = StateEnabled
				ok.ExpirationModel, ok.ValidTo = k.ExpirationModel, k.ValidTo
			case !present && (ok.State == StateEnabled || ok.State == StateDisabled):
				ok.State = StatePendingImport
				ok.ExpirationModel, ok.ValidTo = "", time.Time{}
			default:
				return errNoChange
			}
			return nil
		})
		if err != nil {
			s.cfg.Logger.Warn("kms: updating the key state of a replica", "key", keyARN(r, k.Account, k.ID), "err", err)
		}
	}
}

// ---- DeleteImportedKeyMaterial ----

// DeleteImportedKeyMaterialInput is DeleteImportedKeyMaterial's request.
type DeleteImportedKeyMaterialInput struct {
	KeyId         string `json:"KeyId"`
	KeyMaterialId string `json:"KeyMaterialId"`
}

// DeleteImportedKeyMaterialOutput is DeleteImportedKeyMaterial's response.
type DeleteImportedKeyMaterialOutput struct {
	KeyId         string `json:"KeyId"`
	KeyMaterialId string `json:"KeyMaterialId,omitempty"`
}

// DeleteImportedKeyMaterial destroys one imported key material of an EXTERNAL key in the
// HSM: KeyMaterialId's, or the current one. Deleting material permanently associated with
// the key makes it PendingImport (a key pending deletion stays so) until the same material
// is imported again; material PENDING_ROTATION is dissociated from the key instead, which
// keeps its state.
func (s *Service) DeleteImportedKeyMaterial(ctx context.Context, c Caller, in DeleteImportedKeyMaterialInput) (*DeleteImportedKeyMaterialOutput, error) {
	if in.KeyId == "" {
		return nil, asymNull("keyId")
	}
	if err := checkMaterialID(in.KeyMaterialId); err != nil {
		return nil, err
	}
	k, m, err := s.resolve(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	if k.Origin != OriginExternal {
		return nil, kmsErr("UnsupportedOperationException", "%s origin is %s which is not valid for this operation.", k.arn(), k.Origin)
	}
	switch k.State {
	case StateEnabled, StateDisabled, StatePendingImport, StatePendingDeletion, StatePendingReplicaDeletion:
	default:
		return nil, requireEnabled(k)
	}
	if in.KeyMaterialId != "" && !slices.ContainsFunc(m.Versions, func(v version) bool { return v.ID == in.KeyMaterialId }) {
		return nil, notFound("Key material %s is not associated with %s.", in.KeyMaterialId, k.arn())
	}
	matID := in.KeyMaterialId
	if v := currentVersion(m); matID == "" && v != nil {
		matID = v.ID
	}
	nk, err := s.deleteImported(ctx, k.Region, k.Account, k.ID, matID, nil)
	if err != nil {
		return nil, err
	}
	return &DeleteImportedKeyMaterialOutput{KeyId: nk.arn(), KeyMaterialId: matID}, nil
}

// deleteImported destroys the HSM objects of one material (matID) of an imported key, then
// records the key without it. check, when set, may veto (errNoChange) the deletion
// beforehand. The objects are destroyed before the records change (idempotently): once the
// call returns, the material is gone even if the commit has to be retried.
func (s *Service) deleteImported(ctx context.Context, region, account, id, matID string, check func(k *keyRec, m *material) error) (*keyRec, error) {
	c := Caller{Region: region, Account: account}
	k, m, err := s.resolve(c, id)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(k, m); err != nil {
			if errors.Is(err, errNoChange) {
				return k, nil
			}
			return nil, err
		}
	}
	i := slices.IndexFunc(m.Versions, func(v version) bool { return v.ID == matID })
	if i >= 0 {
		if err := s.destroyMaterial(ctx, m.Versions[i:i+1]); err != nil {
			return nil, AsError(err)
		}
	}
	var extra []version
	wasPending := false
	// Once the objects are destroyed the records must follow, whatever changed meanwhile
	// (a record must never name destroyed objects): no veto past this point.
	nk, err := s.update(ctx, c, id, func(k *keyRec, m *material) error {
		extra = extra[:0]
		adoptKeyExpiry(k, m)
		changed := false
		if i := slices.IndexFunc(m.Versions, func(v version) bool { return v.ID == matID }); i >= 0 {
			v := m.Versions[i]
			if len(v.Handles) > 0 {
				extra = append(extra, v)
			}
			wasPending = v.Pending
			if v.Pending && i == len(m.Versions)-1 && i != m.Current {
				// Not permanently associated with the key: dissociated (no ciphertext
				// refers to it, so the versions before it keep their numbers).
				m.Versions = m.Versions[:i]
				changed = true
			} else if len(v.Handles) > 0 || v.ExpirationModel != "" {
				m.Versions[i].Handles, m.Versions[i].Domain = nil, ""
				m.Versions[i].ExpirationModel, m.Versions[i].ValidTo = "", time.Time{}
				changed = true
			}
		}
		state, model, validTo := k.State, k.ExpirationModel, k.ValidTo
		settleImportState(k, m)
		if !changed && state == k.State && model == k.ExpirationModel && validTo.Equal(k.ValidTo) {
			return errNoChange
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Objects committed by a concurrent import between the destruction and the commit.
	if err := s.destroyMaterial(ctx, extra); err != nil {
		return nil, AsError(err)
	}
	if !wasPending {
		s.syncMaterialState(ctx, nk, nk.State != StatePendingImport && nk.State != StatePendingDeletion && nk.State != StatePendingReplicaDeletion)
	}
	return nk, nil
}

// ---- scheduler ----

// tickImports deletes each imported key material whose ValidTo has passed, and forgets
// expired import tokens, destroying their wrapping keys.
func (s *Service) tickImports(ctx context.Context) error {
	now := s.now()
	type ref struct{ region, account, id, material string }
	var due []ref
	var tokens []importRec
	expired := func(k *keyRec, m *material, matID string) bool {
		i := slices.IndexFunc(m.Versions, func(v version) bool { return v.ID == matID })
		if k.Origin != OriginExternal || i < 0 || len(m.Versions[i].Handles) == 0 {
			return false
		}
		model, validTo := versionExpiry(k, m, i)
		return model == expiresModel && !validTo.IsZero() && !validTo.After(s.now())
	}
	s.mu.RLock()
	for _, k := range s.keys {
		m := s.materials[k.ID]
		if k.Origin != OriginExternal || m == nil {
			continue
		}
		for _, v := range m.Versions {
			if expired(k, m, v.ID) {
				due = append(due, ref{k.Region, k.Account, k.ID, v.ID})
			}
		}
	}
	for _, r := range s.imports {
		if !r.Expires.After(now) {
			tokens = append(tokens, *r)
		}
	}
	s.mu.RUnlock()
	var errs []error
	for _, r := range due {
		_, err := s.deleteImported(ctx, r.region, r.account, r.id, r.material, func(k *keyRec, m *material) error {
			if !expired(k, m, r.material) {
				return errNoChange // reimported meanwhile (or expired in another region of the key)
			}
			return nil
		})
		if err != nil {
			var ke *Error
			if errors.As(err, &ke) && ke.Code == "NotFoundException" {
				continue
			}
			errs = append(errs, fmt.Errorf("kms: expiring imported key material %s of %s: %w", r.material, keyARN(r.region, r.account, r.id), err))
			continue
		}
		s.cfg.Logger.Info("kms: imported key material expired and was deleted", "key", keyARN(r.region, r.account, r.id), "key_material_id", r.material)
	}
	for _, r := range tokens {
		if err := s.dropImportToken(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("kms: dropping an expired import token of %s: %w", keyARN(r.Region, "", r.KeyID), err))
		}
	}
	return errors.Join(errs...)
}

// ---- Multi-Region keys ----

// ReplicateKeyInput is ReplicateKey's request.
type ReplicateKeyInput struct {
	KeyId                          string  `json:"KeyId"`
	ReplicaRegion                  string  `json:"ReplicaRegion"`
	Policy                         string  `json:"Policy"`
	BypassPolicyLockoutSafetyCheck bool    `json:"BypassPolicyLockoutSafetyCheck"`
	Description                    *string `json:"Description"`
	Tags                           []Tag   `json:"Tags"`
}

// ReplicateKeyOutput is ReplicateKey's response.
type ReplicateKeyOutput struct {
	ReplicaKeyMetadata KeyMetadata `json:"ReplicaKeyMetadata"`
	ReplicaPolicy      string      `json:"ReplicaPolicy"`
	ReplicaTags        []Tag       `json:"ReplicaTags"`
}

func checkRegion(field, r string) error {
	switch {
	case r == "":
		return asymNull(field)
	case len(r) > 32:
		return memberLengthErr(r, field, 1, 32)
	case !regionPattern.MatchString(r):
		return memberPatternErr(r, field, regionPatternText)
	}
	return nil
}

// requireMultiRegion refuses single-Region keys.
func requireMultiRegion(k *keyRec) error {
	if !k.MultiRegion {
		return kmsErr("UnsupportedOperationException", "%s is not a multi-Region key.", k.arn())
	}
	return nil
}

// ReplicateKey creates a replica of a Multi-Region primary key in another region: a key
// record with the same ID, spec, usage and origin that shares the primary's material, with
// its own description, policy and tags.
func (s *Service) ReplicateKey(ctx context.Context, c Caller, in ReplicateKeyInput) (*ReplicateKeyOutput, error) {
	if in.KeyId == "" {
		return nil, asymNull("keyId")
	}
	if err := checkRegion("replicaRegion", in.ReplicaRegion); err != nil {
		return nil, err
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	if len(desc) > 8192 {
		return nil, validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192")
	}
	policy := in.Policy
	if policy == "" {
		policy = DefaultPolicy(c.Account)
	} else {
		if len(policy) > 131072 {
			return nil, validation("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 131072")
		}
		if err := ValidatePolicy(policy); err != nil {
			return nil, err
		}
		if err := s.checkLockout(c, policy, keyARN(in.ReplicaRegion, c.Account, "*"), in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	tags := dedupeTags(in.Tags)
	for attempt := 0; attempt < 10; attempt++ {
		k, m, err := s.resolve(c, in.KeyId)
		if err != nil {
			return nil, err
		}
		if err := requireMultiRegion(k); err != nil {
			return nil, err
		}
		if m.PrimaryRegion != k.Region {
			return nil, kmsErr("UnsupportedOperationException", "%s is a replica key. Only the primary key (in %s) can be replicated.", k.arn(), m.PrimaryRegion)
		}
		if k.State != StatePendingImport {
			if err := requireEnabled(k); err != nil {
				return nil, err
			}
		}
		if in.ReplicaRegion == k.Region {
			return nil, validation("The replica region %s must differ from the region of the primary key.", in.ReplicaRegion)
		}
		s.mu.RLock()
		existing := s.keys[keyIndex(in.ReplicaRegion, k.ID)]
		s.mu.RUnlock()
		if existing != nil {
			return nil, kmsErr("AlreadyExistsException", "%s already has a replica in %s (%s).", k.arn(), in.ReplicaRegion, keyARN(in.ReplicaRegion, k.Account, k.ID))
		}
		now := s.now()
		rk := &keyRec{ID: k.ID, Region: in.ReplicaRegion, Account: k.Account, Description: desc, Spec: k.Spec, Usage: k.Usage,
			Origin: k.Origin, State: StateEnabled, Created: now, Policy: policy, Tags: tags, MultiRegion: true,
			Rotation: k.Rotation}
		if k.Origin == OriginExternal {
			if v := currentVersion(m); v == nil || len(v.Handles) == 0 {
				rk.State = StatePendingImport
			} else {
				rk.ExpirationModel, rk.ValidTo = k.ExpirationModel, k.ValidTo
			}
		}
		nm := m.clone()
		if !slices.Contains(nm.Replicas, in.ReplicaRegion) {
			nm.Replicas = append(nm.Replicas, in.ReplicaRegion)
			slices.Sort(nm.Replicas)
		}
		err = s.propose(ctx, cmdPutKey, putKeyCmd{Key: rk, Material: nm, ExpectMaterial: m.Revision})
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		rk.Revision = 1
		return &ReplicateKeyOutput{ReplicaKeyMetadata: s.metadata(rk, nm), ReplicaPolicy: policy, ReplicaTags: tags}, nil
	}
	return nil, kmsErr("KMSInternalException", "too many concurrent updates of key %s; retry", in.KeyId)
}

// UpdatePrimaryRegionInput is UpdatePrimaryRegion's request.
type UpdatePrimaryRegionInput struct {
	KeyId         string `json:"KeyId"`
	PrimaryRegion string `json:"PrimaryRegion"`
}

// UpdatePrimaryRegion makes the replica in PrimaryRegion the primary key of a Multi-Region
// key and the former primary a replica. The primary's automatic rotation settings move
// with it.
func (s *Service) UpdatePrimaryRegion(ctx context.Context, c Caller, in UpdatePrimaryRegionInput) error {
	if in.KeyId == "" {
		return asymNull("keyId")
	}
	if err := checkRegion("primaryRegion", in.PrimaryRegion); err != nil {
		return err
	}
	for attempt := 0; attempt < 10; attempt++ {
		k, m, err := s.resolve(c, in.KeyId)
		if err != nil {
			return err
		}
		if err := requireMultiRegion(k); err != nil {
			return err
		}
		if err := requireNotPendingDeletion(k); err != nil {
			return err
		}
		if in.PrimaryRegion == m.PrimaryRegion {
			return nil
		}
		s.mu.RLock()
		target := s.keys[keyIndex(in.PrimaryRegion, k.ID)]
		old := s.keys[keyIndex(m.PrimaryRegion, k.ID)]
		s.mu.RUnlock()
		if target == nil || !slices.Contains(m.Replicas, in.PrimaryRegion) {
			return notFound("Key '%s' does not exist", keyARN(in.PrimaryRegion, k.Account, k.ID))
		}
		if err := requireNotPendingDeletion(target); err != nil {
			return err
		}
		if old != nil {
			if err := requireNotPendingDeletion(old); err != nil {
				return err
			}
			// The rotation schedule is driven by the primary's record: it moves with it.
			if !sameRotation(target.Rotation, old.Rotation) {
				nt := target.clone()
				nt.Rotation = old.Rotation
				err := s.propose(ctx, cmdPutKey, putKeyCmd{Key: nt, Expect: target.Revision})
				if errors.Is(err, errConflict) {
					continue
				}
				if err != nil {
					return err
				}
			}
		}
		nm := m.clone()
		nm.Replicas = slices.DeleteFunc(nm.Replicas, func(r string) bool { return r == in.PrimaryRegion })
		if old != nil {
			nm.Replicas = append(nm.Replicas, m.PrimaryRegion)
		}
		slices.Sort(nm.Replicas)
		nm.PrimaryRegion = in.PrimaryRegion
		err = s.propose(ctx, cmdPutMaterial, putMaterialCmd{Material: nm, Expect: m.Revision})
		if errors.Is(err, errConflict) {
			continue
		}
		return err
	}
	return kmsErr("KMSInternalException", "too many concurrent updates of key %s; retry", in.KeyId)
}

func sameRotation(a, b rotation) bool {
	return a.Enabled == b.Enabled && a.PeriodDays == b.PeriodDays && a.Next.Equal(b.Next)
}
