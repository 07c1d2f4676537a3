package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// specInfo describes a KeySpec: how its material is made in the HSM and which algorithms
// each usage allows.
type specInfo struct {
	usages  []string
	hsmType string // aes, generic-secret, rsa, ec, ed25519
	bits    int    // RSA modulus
	curve   string // EC curve (cloudhsm-cli name)
	length  int    // secret length in bytes
	enc     []string
	sign    []string
	mac     []string
	agree   []string
}

// rsaSign is in AWS's order (DescribeKey and GetPublicKey list PKCS #1 v1.5 first).
var rsaSign = []string{"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"}
var rsaEnc = []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}

var specs = map[string]specInfo{
	SpecSymmetric: {usages: []string{UsageEncrypt}, hsmType: hsm.TypeAES, length: 32, enc: []string{"SYMMETRIC_DEFAULT"}},
	SpecRSA2048:   {usages: []string{UsageEncrypt, UsageSign}, hsmType: hsm.TypeRSA, bits: 2048, enc: rsaEnc, sign: rsaSign},
	SpecRSA3072:   {usages: []string{UsageEncrypt, UsageSign}, hsmType: hsm.TypeRSA, bits: 3072, enc: rsaEnc, sign: rsaSign},
	SpecRSA4096:   {usages: []string{UsageEncrypt, UsageSign}, hsmType: hsm.TypeRSA, bits: 4096, enc: rsaEnc, sign: rsaSign},
	SpecP256:      {usages: []string{UsageSign, UsageKeyAgreement}, hsmType: hsm.TypeEC, curve: "secp256r1", sign: []string{"ECDSA_SHA_256"}, agree: []string{"ECDH"}},
	SpecP384:      {usages: []string{UsageSign, UsageKeyAgreement}, hsmType: hsm.TypeEC, curve: "secp384r1", sign: []string{"ECDSA_SHA_384"}, agree: []string{"ECDH"}},
	SpecP521:      {usages: []string{UsageSign, UsageKeyAgreement}, hsmType: hsm.TypeEC, curve: "secp521r1", sign: []string{"ECDSA_SHA_512"}, agree: []string{"ECDH"}},
	SpecSecp256k1: {usages: []string{UsageSign}, hsmType: hsm.TypeEC, curve: "secp256k1", sign: []string{"ECDSA_SHA_256"}},
	SpecEd25519:   {usages: []string{UsageSign}, hsmType: hsm.TypeEd25519, sign: []string{"ED25519_SHA_512"}},
	SpecHMAC224:   {usages: []string{UsageMAC}, hsmType: hsm.TypeGenericSecret, length: 28, mac: []string{"HMAC_SHA_224"}},
	SpecHMAC256:   {usages: []string{UsageMAC}, hsmType: hsm.TypeGenericSecret, length: 32, mac: []string{"HMAC_SHA_256"}},
	SpecHMAC384:   {usages: []string{UsageMAC}, hsmType: hsm.TypeGenericSecret, length: 48, mac: []string{"HMAC_SHA_384"}},
	SpecHMAC512:   {usages: []string{UsageMAC}, hsmType: hsm.TypeGenericSecret, length: 64, mac: []string{"HMAC_SHA_512"}},
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ---- resolution ----

// ARN of a key.
func keyARN(region, account, id string) string {
	return "arn:aws:kms:" + region + ":" + account + ":key/" + id
}

func aliasARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:%s", region, account, name)
}

// resolve finds a key by key ID, key ARN, alias name or alias ARN, as KMS's KeyId
// parameter allows, and returns it with its material (both shared: do not modify).
func (s *Service) resolve(c Caller, keyID string) (*keyRec, *material, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.resolveLocked(c, keyID)
}

func (s *Service) resolveLocked(c Caller, keyID string) (*keyRec, *material, error) {
	if keyID == "" {
		return nil, nil, validation("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	if len(keyID) > 2048 {
		return nil, nil, validation("1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	region, account, rest := c.Region, c.Account, keyID
	if strings.HasPrefix(keyID, "arn:") {
		parts := strings.SplitN(keyID, ":", 6)
		if len(parts) != 6 || parts[1] != "aws" || parts[2] != "kms" || parts[3] == "" {
			return nil, nil, kmsErr("NotFoundException", "Invalid arn %s", keyID)
		}
		region, account, rest = parts[3], parts[4], parts[5]
		if account != c.Account {
			return nil, nil, notFound("Key '%s' does not exist", keyID)
		}
		if !strings.HasPrefix(rest, "key/") && !strings.HasPrefix(rest, "alias/") {
			return nil, nil, kmsErr("NotFoundException", "Invalid arn %s", keyID)
		}
		rest = strings.TrimPrefix(rest, "key/")
	}
	if strings.HasPrefix(rest, "alias/") {
		a := s.aliases[aliasIndex(region, rest)]
		if a == nil {
			return nil, nil, notFound("Alias %s is not found.", aliasARN(region, account, rest))
		}
		rest = a.KeyID
	}
	k := s.keys[keyIndex(region, rest)]
	if k == nil {
		return nil, nil, notFound("Key '%s' does not exist", keyARN(region, account, rest))
	}
	m := s.materials[k.ID]
	if m == nil {
		return nil, nil, kmsErr("KMSInternalException", "key %s has no material record", k.ID)
	}
	return k, m, nil
}

func (k *keyRec) arn() string { return keyARN(k.Region, k.Account, k.ID) }

// requireUsable refuses operations on keys that are not Enabled, with AWS's exceptions.
func requireEnabled(k *keyRec) error {
	switch k.State {
	case StateEnabled:
		return nil
	case StateDisabled:
		return kmsErr("DisabledException", "%s is disabled.", k.arn())
	case StatePendingDeletion:
		return invalidState("%s is pending deletion.", k.arn())
	case StatePendingImport:
		return invalidState("%s is pending import.", k.arn())
	case StateUnavailable:
		return invalidState("%s is unavailable.", k.arn())
	}
	return invalidState("%s is %s.", k.arn(), k.State)
}

// requireManageable refuses management operations on keys pending deletion.
func requireNotPendingDeletion(k *keyRec) error {
	if k.State == StatePendingDeletion || k.State == StatePendingReplicaDeletion {
		return invalidState("%s is pending deletion.", k.arn())
	}
	return nil
}

// ---- CreateKey ----

// CreateKeyInput is CreateKey's request.
type CreateKeyInput struct {
	Policy                         string `json:"Policy"`
	Description                    string `json:"Description"`
	KeyUsage                       string `json:"KeyUsage"`
	CustomerMasterKeySpec          string `json:"CustomerMasterKeySpec"`
	KeySpec                        string `json:"KeySpec"`
	Origin                         string `json:"Origin"`
	CustomKeyStoreId               string `json:"CustomKeyStoreId"`
	BypassPolicyLockoutSafetyCheck bool   `json:"BypassPolicyLockoutSafetyCheck"`
	Tags                           []Tag  `json:"Tags"`
	MultiRegion                    *bool  `json:"MultiRegion"`
	XksKeyId                       string `json:"XksKeyId"`
}

// KeyMetadata is KMS's KeyMetadata.
type KeyMetadata struct {
	AWSAccountId                string                    `json:"AWSAccountId"`
	KeyId                       string                    `json:"KeyId"`
	Arn                         string                    `json:"Arn"`
	CreationDate                *Epoch                    `json:"CreationDate,omitempty"`
	Enabled                     bool                      `json:"Enabled"`
	Description                 string                    `json:"Description"`
	KeyUsage                    string                    `json:"KeyUsage"`
	KeyState                    string                    `json:"KeyState"`
	DeletionDate                *Epoch                    `json:"DeletionDate,omitempty"`
	ValidTo                     *Epoch                    `json:"ValidTo,omitempty"`
	Origin                      string                    `json:"Origin"`
	CustomKeyStoreId            string                    `json:"CustomKeyStoreId,omitempty"`
	CloudHsmClusterId           string                    `json:"CloudHsmClusterId,omitempty"`
	ExpirationModel             string                    `json:"ExpirationModel,omitempty"`
	KeyManager                  string                    `json:"KeyManager"`
	CustomerMasterKeySpec       string                    `json:"CustomerMasterKeySpec"`
	KeySpec                     string                    `json:"KeySpec"`
	EncryptionAlgorithms        []string                  `json:"EncryptionAlgorithms,omitempty"`
	SigningAlgorithms           []string                  `json:"SigningAlgorithms,omitempty"`
	KeyAgreementAlgorithms      []string                  `json:"KeyAgreementAlgorithms,omitempty"`
	MacAlgorithms               []string                  `json:"MacAlgorithms,omitempty"`
	MultiRegion                 bool                      `json:"MultiRegion"`
	MultiRegionConfiguration    *MultiRegionConfiguration `json:"MultiRegionConfiguration,omitempty"`
	PendingDeletionWindowInDays int                       `json:"PendingDeletionWindowInDays,omitempty"`
	CurrentKeyMaterialId        string                    `json:"CurrentKeyMaterialId,omitempty"`
}

// MultiRegionConfiguration describes a Multi-Region key's primary and replicas.
type MultiRegionConfiguration struct {
	MultiRegionKeyType string           `json:"MultiRegionKeyType"`
	PrimaryKey         *MultiRegionKey  `json:"PrimaryKey,omitempty"`
	ReplicaKeys        []MultiRegionKey `json:"ReplicaKeys"`
}

// MultiRegionKey is one region's copy of a Multi-Region key.
type MultiRegionKey struct {
	Arn    string `json:"Arn"`
	Region string `json:"Region"`
}

// KeyMetadataOutput wraps KeyMetadata (CreateKey, DescribeKey).
type KeyMetadataOutput struct {
	KeyMetadata KeyMetadata `json:"KeyMetadata"`
}

func (s *Service) metadata(k *keyRec, m *material) KeyMetadata {
	info := specs[k.Spec]
	state := s.keyState(k)
	md := KeyMetadata{
		AWSAccountId: k.Account, KeyId: k.ID, Arn: k.arn(), CreationDate: epochPtr(k.Created),
		Enabled: state == StateEnabled, Description: k.Description, KeyUsage: k.Usage, KeyState: state,
		DeletionDate: epochPtr(k.DeletionDate), ValidTo: epochPtr(k.ValidTo), Origin: k.Origin,
		CustomKeyStoreId: k.CustomKeyStoreID, ExpirationModel: k.ExpirationModel, KeyManager: "CUSTOMER",
		CustomerMasterKeySpec: k.Spec, KeySpec: k.Spec, MultiRegion: k.MultiRegion,
	}
	// "present only when the KeyState of the KMS key is PendingReplicaDeletion" (the
	// model); a key pending deletion shows its DeletionDate instead.
	if k.State == StatePendingReplicaDeletion {
		md.PendingDeletionWindowInDays = k.PendingWindow
	}
	if k.CustomKeyStoreID != "" {
		if r := s.storeByID(k.CustomKeyStoreID); r != nil {
			md.CloudHsmClusterId = r.ClusterID
		}
	}
	switch k.Usage {
	case UsageEncrypt:
		md.EncryptionAlgorithms = info.enc
	case UsageSign:
		md.SigningAlgorithms = info.sign
	case UsageMAC:
		md.MacAlgorithms = info.mac
	case UsageKeyAgreement:
		md.KeyAgreementAlgorithms = info.agree
	}
	if m != nil && len(m.Versions) > 0 && k.Spec == SpecSymmetric && len(m.Versions[m.Current].Handles) > 0 {
		md.CurrentKeyMaterialId = m.Versions[m.Current].ID
	}
	if k.MultiRegion && m != nil {
		cfg := &MultiRegionConfiguration{MultiRegionKeyType: "REPLICA", ReplicaKeys: []MultiRegionKey{},
			PrimaryKey: &MultiRegionKey{Arn: keyARN(m.PrimaryRegion, k.Account, k.ID), Region: m.PrimaryRegion}}
		if m.PrimaryRegion == k.Region {
			cfg.MultiRegionKeyType = "PRIMARY"
		}
		for _, r := range m.Replicas {
			cfg.ReplicaKeys = append(cfg.ReplicaKeys, MultiRegionKey{Arn: keyARN(r, k.Account, k.ID), Region: r})
		}
		md.MultiRegionConfiguration = cfg
	}
	return md
}

// DefaultPolicy is the key policy AWS KMS gives a key created without one: the account's
// IAM policies decide.
func DefaultPolicy(account string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::` + account + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}

// CreateKey creates a KMS key.
func (s *Service) CreateKey(ctx context.Context, c Caller, in CreateKeyInput) (*KeyMetadataOutput, error) {
	spec := in.KeySpec
	if spec == "" {
		spec = in.CustomerMasterKeySpec
	} else if in.CustomerMasterKeySpec != "" && in.CustomerMasterKeySpec != spec {
		return nil, validation("KeySpec and CustomerMasterKeySpec are both set and differ; use KeySpec")
	}
	if spec == "" {
		spec = SpecSymmetric
	}
	info, ok := specs[spec]
	if !ok {
		if spec == "SM2" || strings.HasPrefix(spec, "ML_DSA") {
			return nil, kmsErr("UnsupportedOperationException", "KeySpec %s is not supported by Coffer", spec)
		}
		return nil, validation("1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, ECC_NIST_EDWARDS25519, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512]", spec)
	}
	// AWS: "The default value is ENCRYPT_DECRYPT. This parameter is optional when you are
	// creating a symmetric encryption KMS key; otherwise, it is required." An HMAC or
	// elliptic-curve key without a KeyUsage is refused, not given a usage.
	usage := in.KeyUsage
	if usage == "" {
		if !contains(info.usages, UsageEncrypt) {
			return nil, validation("KeyUsage is required for KeySpec %s: its default, ENCRYPT_DECRYPT, is not compatible with KeySpec %s", spec, spec)
		}
		usage = UsageEncrypt
	}
	if !contains([]string{UsageEncrypt, UsageSign, UsageMAC, UsageKeyAgreement}, usage) {
		return nil, validation("1 validation error detected: Value '%s' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT]", usage)
	}
	if !contains(info.usages, usage) {
		return nil, validation("KeyUsage %s is not compatible with KeySpec %s", usage, spec)
	}
	origin := in.Origin
	if origin == "" {
		origin = OriginKMS
	}
	multi := in.MultiRegion != nil && *in.MultiRegion
	if in.XksKeyId != "" && origin != OriginExternalKS {
		// The model: XksKeyId "is not valid for KMS keys with any other Origin value".
		return nil, validation("XksKeyId is valid only for KMS keys with Origin EXTERNAL_KEY_STORE; Origin is %s.", origin)
	}
	var store *storeRec
	switch origin {
	case OriginKMS, OriginExternal:
		if in.CustomKeyStoreId != "" {
			return nil, validation("CustomKeyStoreId is valid only with Origin AWS_CLOUDHSM (a key in an AWS CloudHSM key store); Origin is %s.", origin)
		}
	case OriginCloudHSM:
		if in.CustomKeyStoreId == "" {
			return nil, validation("Origin AWS_CLOUDHSM requires a CustomKeyStoreId: the AWS CloudHSM key store to create the key in.")
		}
	case OriginExternalKS:
		return nil, kmsErr("UnsupportedOperationException", "external key stores (EXTERNAL_KEY_STORE) are not supported by Coffer")
	default:
		// AWS's enum validation message; it names the valid values, e.g. AWS_CLOUDHSM for
		// the common typo CLOUDHSM.
		return nil, validation("1 validation error detected: Value '%s' at 'origin' failed to satisfy constraint: Member must satisfy enum value set: [EXTERNAL, AWS_CLOUDHSM, AWS_KMS, EXTERNAL_KEY_STORE]", origin)
	}
	if len(in.Description) > 8192 {
		return nil, validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192")
	}
	policy := in.Policy
	if policy == "" {
		policy = DefaultPolicy(c.Account)
	} else if err := ValidatePolicy(policy); err != nil {
		return nil, err
	} else if err := s.checkLockout(c, policy, keyARN(c.Region, c.Account, "*"), in.BypassPolicyLockoutSafetyCheck); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if origin == OriginCloudHSM {
		var err error
		if store, err = s.cloudHSMKeyStore(ctx, c, in.CustomKeyStoreId, spec, usage, multi); err != nil {
			return nil, err
		}
	}
	id := uuid.NewString()
	if multi {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		id = "mrk-" + hex.EncodeToString(b)
	}
	now := s.now()
	k := &keyRec{ID: id, Region: c.Region, Account: c.Account, Description: in.Description, Spec: spec, Usage: usage,
		Origin: origin, State: StateEnabled, Created: now, Policy: policy, Tags: dedupeTags(in.Tags), MultiRegion: multi}
	if store != nil {
		k.CustomKeyStoreID = store.ID
	}
	m := &material{ID: id}
	if multi {
		m.PrimaryRegion = c.Region
	}
	if origin == OriginExternal {
		if spec != SpecSymmetric && !strings.HasPrefix(spec, "HMAC") && !strings.HasPrefix(spec, "RSA") && !strings.HasPrefix(spec, "ECC") {
			return nil, kmsErr("UnsupportedOperationException", "importing key material for %s keys is not supported", spec)
		}
		k.State = StatePendingImport
	} else {
		v, err := s.newVersion(ctx, k)
		if err != nil {
			if k.CustomKeyStoreID != "" {
				return nil, s.hsmErr(k, err)
			}
			return nil, err
		}
		m.Versions = []version{v}
	}
	if err := s.propose(ctx, cmdPutKey, putKeyCmd{Key: k, Material: m}); err != nil {
		s.destroyVersions(ctx, k, m.Versions)
		return nil, err
	}
	k.Revision = 1
	return &KeyMetadataOutput{KeyMetadata: s.metadata(k, m)}, nil
}

// newVersion generates new key material for k inside the HSM: owned by svc-kms, or for
// a key of an AWS CloudHSM key store by kmsuser (in its session) and labeled with the key
// id, as AWS KMS labels the key material it creates in a cluster.
func (s *Service) newVersion(ctx context.Context, k *keyRec) (version, error) {
	var v version
	err := s.withKeySession(ctx, k, func(sess *hsm.Session) error {
		var err error
		v, err = s.newVersionIn(ctx, sess, k)
		return err
	})
	return v, err
}

func (s *Service) newVersionIn(ctx context.Context, sess *hsm.Session, k *keyRec) (version, error) {
	info := specs[k.Spec]
	vid := make([]byte, 32)
	if _, err := rand.Read(vid); err != nil {
		return version{}, err
	}
	// The domain key id is read before the objects are made, in sess: if the domain
	// changes meanwhile, sess ends and the HSM refuses to make them.
	v := version{ID: hex.EncodeToString(vid), Created: s.now(), Domain: s.currentDomain()}
	label := "kms:" + k.ID + ":" + v.ID[:16]
	if k.CustomKeyStoreID != "" {
		label = k.ID
	}
	f := false
	t := true
	switch info.hsmType {
	case hsm.TypeAES, hsm.TypeGenericSecret:
		spec := hsm.AttrSpec{Label: label, Extractable: &f}
		if k.Usage == UsageEncrypt {
			spec.Encrypt, spec.Decrypt = &t, &t
		} else {
			spec.Sign, spec.Verify = &t, &t
		}
		ki, err := s.cfg.HSM.GenerateSymmetric(ctx, sess, hsm.GenerateSymmetricRequest{KeyType: info.hsmType, KeyLengthBytes: info.length, Attributes: spec})
		if err != nil {
			return version{}, err
		}
		ref, _ := hsm.ParseKeyRef(ki.KeyReference)
		v.Handles = []uint64{ref}
	default:
		pub := hsm.AttrSpec{Label: label + ":pub"}
		priv := hsm.AttrSpec{Label: label, Extractable: &f}
		switch k.Usage {
		case UsageEncrypt:
			pub.Encrypt, priv.Decrypt = &t, &t
		case UsageSign:
			pub.Verify, priv.Sign = &t, &t
		case UsageKeyAgreement:
			priv.Derive = &t
		}
		kp, err := s.cfg.HSM.GenerateKeyPair(ctx, sess, hsm.GenerateKeyPairRequest{KeyType: info.hsmType, ModulusSizeBits: info.bits, Curve: info.curve, PublicAttributes: pub, PrivateAttributes: priv})
		if err != nil {
			return version{}, err
		}
		pr, _ := hsm.ParseKeyRef(kp.PublicKey.KeyReference)
		vr, _ := hsm.ParseKeyRef(kp.PrivateKey.KeyReference)
		v.Handles = []uint64{pr, vr}
	}
	return v, nil
}

// destroyVersions deletes the HSM key objects of k's versions (best effort: used to clean
// up after a failed create or rotation).
func (s *Service) destroyVersions(ctx context.Context, k *keyRec, vs []version) error {
	var first error
	err := s.withKeySession(ctx, k, func(sess *hsm.Session) error {
		for _, h := range s.liveHandles(vs) {
			if err := s.cfg.HSM.DeleteKey(ctx, sess, h, nil); err != nil && first == nil {
				first = err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return first
}

// cloudHSMKeyStore checks that a key can be created in an AWS CloudHSM key store, in
// AWS's order: the store exists, the key is a single-Region symmetric encryption key, the
// store is CONNECTED, and its cluster has two active HSMs in two zones (one with --dev).
func (s *Service) cloudHSMKeyStore(ctx context.Context, c Caller, id, spec, usage string, multi bool) (*storeRec, error) {
	r, err := s.lookupStore(c, id)
	if err != nil {
		return nil, err
	}
	if spec != SpecSymmetric || usage != UsageEncrypt {
		return nil, kmsErr("UnsupportedOperationException", "KMS keys in an AWS CloudHSM key store must be symmetric encryption keys (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT); got %s / %s.", spec, usage)
	}
	if multi {
		return nil, kmsErr("UnsupportedOperationException", "Multi-Region keys cannot be created in a custom key store.")
	}
	if r.State != ConnConnected {
		return nil, kmsErr("CustomKeyStoreInvalidStateException", "Custom key store %s is %s. Keys can be created only in a CONNECTED custom key store; connect it first (ConnectCustomKeyStore).", r.ID, r.State)
	}
	cl, err := s.lookupCluster(ctx, c.Region, r.ClusterID)
	if err != nil {
		return nil, err
	}
	if err := requireClusterActive(cl); err != nil {
		return nil, err
	}
	if err := requireClusterHSMs(cl); err != nil {
		return nil, err
	}
	return r, nil
}

// ---- Describe, List, Enable, Disable, UpdateKeyDescription ----

// KeyIDInput is the request of operations that take only a KeyId.
type KeyIDInput struct {
	KeyId       string   `json:"KeyId"`
	GrantTokens []string `json:"GrantTokens"`
}

// DescribeKey describes a key.
func (s *Service) DescribeKey(ctx context.Context, c Caller, in KeyIDInput) (*KeyMetadataOutput, error) {
	k, m, err := s.resolve(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	return &KeyMetadataOutput{KeyMetadata: s.metadata(k, m)}, nil
}

// ListInput is the paging of list operations.
type ListInput struct {
	Limit  *int   `json:"Limit"`
	Marker string `json:"Marker"`
}

// KeyListEntry is one key in ListKeys.
type KeyListEntry struct {
	KeyId  string `json:"KeyId"`
	KeyArn string `json:"KeyArn"`
}

// ListKeysOutput is ListKeys's response.
type ListKeysOutput struct {
	Keys       []KeyListEntry `json:"Keys"`
	NextMarker string         `json:"NextMarker,omitempty"`
	Truncated  bool           `json:"Truncated"`
}

// limit validates a Limit (1..max, default def).
func limit(l *int, def, max int) (int, error) {
	if l == nil {
		return def, nil
	}
	if *l < 1 || *l > max {
		return 0, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: %s", *l, valueConstraint(*l, 1, max))
	}
	return *l, nil
}

// page applies Marker/Limit paging over sorted ids; the marker is the last id returned. A
// page starts after the marker's id even if that item was deleted meanwhile (a client that
// deletes what it lists keeps paging); a marker that is not of the ids' form (valid) is
// InvalidMarkerException.
func page(ids []string, marker string, n int, valid func(string) bool) ([]string, string, error) {
	start := 0
	if marker != "" {
		if !valid(marker) {
			return nil, "", kmsErr("InvalidMarkerException", "Invalid marker: %s", marker)
		}
		start = sort.SearchStrings(ids, marker)
		if start < len(ids) && ids[start] == marker {
			start++
		}
	}
	end := start + n
	if end >= len(ids) {
		return ids[start:], "", nil
	}
	return ids[start:end], ids[end-1], nil
}

// isKeyID reports whether s has the form of a key ID: a UUID, or mrk- and 32 hex digits.
func isKeyID(s string) bool {
	if rest, ok := strings.CutPrefix(s, "mrk-"); ok {
		_, err := hex.DecodeString(rest)
		return len(rest) == 32 && err == nil
	}
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// ListKeys lists the keys of the caller's region.
func (s *Service) ListKeys(ctx context.Context, c Caller, in ListInput) (*ListKeysOutput, error) {
	n, err := limit(in.Limit, 100, 1000)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	var ids []string
	for _, k := range s.keys {
		if k.Region == c.Region && k.Account == c.Account {
			ids = append(ids, k.ID)
		}
	}
	s.mu.RUnlock()
	sort.Strings(ids)
	pg, next, err := page(ids, in.Marker, n, isKeyID)
	if err != nil {
		return nil, err
	}
	out := &ListKeysOutput{Keys: []KeyListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, id := range pg {
		out.Keys = append(out.Keys, KeyListEntry{KeyId: id, KeyArn: keyARN(c.Region, c.Account, id)})
	}
	return out, nil
}

// EnableKey enables a disabled key.
func (s *Service) EnableKey(ctx context.Context, c Caller, in KeyIDInput) error {
	_, err := s.update(ctx, c, in.KeyId, func(k *keyRec, m *material) error {
		switch k.State {
		case StateEnabled:
			return errNoChange
		case StateDisabled:
			k.State = StateEnabled
			return nil
		}
		return requireEnabled(k)
	})
	return err
}

// DisableKey disables a key: it cannot be used until enabled again.
func (s *Service) DisableKey(ctx context.Context, c Caller, in KeyIDInput) error {
	_, err := s.update(ctx, c, in.KeyId, func(k *keyRec, m *material) error {
		switch k.State {
		case StateDisabled:
			return errNoChange
		case StateEnabled:
			k.State = StateDisabled
			return nil
		}
		return requireEnabled(k)
	})
	return err
}

// UpdateKeyDescriptionInput is UpdateKeyDescription's request.
type UpdateKeyDescriptionInput struct {
	KeyId       string `json:"KeyId"`
	Description string `json:"Description"`
}

// UpdateKeyDescription changes a key's description.
func (s *Service) UpdateKeyDescription(ctx context.Context, c Caller, in UpdateKeyDescriptionInput) error {
	if len(in.Description) > 8192 {
		return validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192")
	}
	_, err := s.update(ctx, c, in.KeyId, func(k *keyRec, m *material) error {
		if err := requireNotPendingDeletion(k); err != nil {
			return err
		}
		k.Description = in.Description
		return nil
	})
	return err
}

// ---- tags (validation shared with CreateKey) ----

func validateTags(tags []Tag) error {
	if len(tags) > 50 {
		return kmsErr("TagException", "a key can have at most 50 tags")
	}
	for _, t := range tags {
		if len(t.TagKey) < 1 || len(t.TagKey) > 128 {
			return memberLengthErr(t.TagKey, "tags.member.tagKey", 1, 128)
		}
		if len(t.TagValue) > 256 {
			return validation("1 validation error detected: Value at 'tags.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256")
		}
		if strings.HasPrefix(strings.ToLower(t.TagKey), "aws:") {
			return kmsErr("TagException", "Tags beginning with aws: are reserved")
		}
	}
	return nil
}

// dedupeTags keeps the last value of each tag key, sorted by key.
func dedupeTags(tags []Tag) []Tag {
	m := map[string]string{}
	for _, t := range tags {
		m[t.TagKey] = t.TagValue
	}
	out := make([]Tag, 0, len(m))
	for k, v := range m {
		out = append(out, Tag{TagKey: k, TagValue: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TagKey < out[j].TagKey })
	return out
}

// lastUsage tracks, node-locally, when each key was last used for a cryptographic
// operation (GetKeyLastUsage). It is not replicated: recording every use through the log
// would put a disk write on every Encrypt.
type lastUsage struct {
	mu sync.Mutex
	m  map[string]usageRec
}

type usageRec struct {
	Time      time.Time
	Operation string
}

func (s *Service) recordUse(k *keyRec, op string) {
	s.usage.mu.Lock()
	s.usage.m[keyIndex(k.Region, k.ID)] = usageRec{Time: s.now(), Operation: op}
	s.usage.mu.Unlock()
	if f := s.cfg.OnKeyUse; f != nil {
		f(k.Region, k.ID, op)
	}
}
