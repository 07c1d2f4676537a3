package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

// kmsClient is an aws-sdk-go-v2 KMS client for the server, signed with the given keys.
func (s *server) kmsClientWith(region, akid, secret string) *kms.Client {
	return kms.New(kms.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, Source: "e2e"}, nil
		}),
		RetryMaxAttempts: 1,
		HTTPClient:       s.httpClient(),
	})
}

func (s *server) kmsClient() *kms.Client {
	c := s.creds()
	return s.kmsClientWith("us-east-1", c.RootAccessKeyID, c.RootSecretAccessKey)
}

// apiCode returns the AWS error code of err ("" if it is not an API error).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("got error %v (code %q), want %s", err, got, code)
	}
}

func TestKMSSigV4Verification(t *testing.T) {
	s := startServer(t, "", nil)
	c := s.creds()
	good := s.kmsClient()
	if _, err := good.ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.kmsClientWith("us-east-1", c.RootAccessKeyID, c.RootSecretAccessKey+"x").ListKeys(ctx, &kms.ListKeysInput{})
	wantAPIError(t, err, "InvalidSignatureException")
	_, err = s.kmsClientWith("us-east-1", "AKIANOTAREALKEY00000", c.RootSecretAccessKey).ListKeys(ctx, &kms.ListKeysInput{})
	wantAPIError(t, err, "UnrecognizedClientException")
	// An unsigned request gets AWS's error shape.
	req, _ := http.NewRequest(http.MethodPost, s.url+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Type string `json:"__type"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 400 || body.Type != "MissingAuthenticationTokenException" || res.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("unsigned: %d %+v", res.StatusCode, body)
	}
}

func TestKMSSymmetricLifecycle(t *testing.T) {
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ck, err := k.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("e2e key"), Tags: []types.Tag{{TagKey: aws.String("env"), TagValue: aws.String("test")}}})
	if err != nil {
		t.Fatal(err)
	}
	md := ck.KeyMetadata
	if md.KeyState != types.KeyStateEnabled || md.KeySpec != types.KeySpecSymmetricDefault || !strings.HasPrefix(*md.Arn, "arn:aws:kms:us-east-1:") || md.CreationDate == nil {
		t.Fatalf("%+v", md)
	}
	ec := map[string]string{"app": "e2e", "tenant": "42"}
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("top secret"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "42", "app": "e2e"}})
	if err != nil || string(dec.Plaintext) != "top secret" || *dec.KeyId != *md.Arn {
		t.Fatalf("decrypt: %v %+v", err, dec)
	}
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"app": "e2e"}})
	wantAPIError(t, err, "InvalidCiphertextException")
	bad := append([]byte(nil), enc.CiphertextBlob...)
	bad[len(bad)-1] ^= 1
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: bad, EncryptionContext: ec})
	wantAPIError(t, err, "InvalidCiphertextException")
	// Data keys and re-encryption.
	dk, err := k.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256})
	if err != nil || len(dk.Plaintext) != 32 {
		t.Fatal(err)
	}
	other, _ := k.CreateKey(ctx, &kms.CreateKeyInput{})
	re, err := k.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: dk.CiphertextBlob, DestinationKeyId: other.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	dec, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
		t.Fatalf("re-encrypted data key: %v", err)
	}
	if _, err := k.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, NumberOfBytes: aws.Int32(64)}); err != nil {
		t.Fatal(err)
	}
	r, err := k.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1024)})
	if err != nil || len(r.Plaintext) != 1024 {
		t.Fatal(err)
	}
	_, err = k.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1025)})
	wantAPIError(t, err, "ValidationException")
	// Disabled keys.
	if _, err := k.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = k.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantAPIError(t, err, "DisabledException")
	if _, err := k.EnableKey(ctx, &kms.EnableKeyInput{KeyId: md.Arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: md.KeyId, Description: aws.String("new")}); err != nil {
		t.Fatal(err)
	}
	d, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.KeyId})
	if err != nil || *d.KeyMetadata.Description != "new" || !d.KeyMetadata.Enabled {
		t.Fatalf("describe: %v %+v", err, d)
	}
	_, err = k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("00000000-0000-0000-0000-000000000000")})
	wantAPIError(t, err, "NotFoundException")
	// Paging.
	for i := 0; i < 3; i++ {
		k.CreateKey(ctx, &kms.CreateKeyInput{})
	}
	var all []string
	p := kms.NewListKeysPaginator(k, &kms.ListKeysInput{Limit: aws.Int32(2)})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range pg.Keys {
			all = append(all, *e.KeyId)
		}
	}
	if len(all) != 5 {
		t.Fatalf("paged %d keys", len(all))
	}
	_, err = k.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1001)})
	wantAPIError(t, err, "ValidationException")
	// Ciphertexts survive a restart.
	s.stop()
	s.restart()
	k = s.kmsClient()
	dec, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "top secret" {
		t.Fatalf("after restart: %v", err)
	}
}

func TestKMSAliasesTagsPoliciesGrants(t *testing.T) {
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ck, _ := k.CreateKey(ctx, &kms.CreateKeyInput{})
	id := ck.KeyMetadata.KeyId
	if _, err := k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/e2e"), TargetKeyId: id}); err != nil {
		t.Fatal(err)
	}
	_, err := k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: id})
	if apiCode(err) == "" {
		t.Fatal("alias/aws/ accepted")
	}
	_, err = k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/e2e"), TargetKeyId: id})
	wantAPIError(t, err, "AlreadyExistsException")
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/e2e"), Plaintext: []byte("via alias")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: aws.String("alias/e2e")}); err != nil {
		t.Fatal(err)
	}
	la, err := k.ListAliases(ctx, &kms.ListAliasesInput{KeyId: id})
	if err != nil || len(la.Aliases) != 1 {
		t.Fatalf("aliases: %v %+v", err, la)
	}
	if _, err := k.TagResource(ctx, &kms.TagResourceInput{KeyId: id, Tags: []types.Tag{{TagKey: aws.String("Environment"), TagValue: aws.String("Production")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := k.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: id})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].TagValue != "Production" {
		t.Fatalf("tags: %v %+v", err, tags)
	}
	_, err = k.TagResource(ctx, &kms.TagResourceInput{KeyId: id, Tags: []types.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("y")}}})
	wantAPIError(t, err, "TagException")
	if _, err := k.UntagResource(ctx, &kms.UntagResourceInput{KeyId: id, TagKeys: []string{"Environment"}}); err != nil {
		t.Fatal(err)
	}
	pol, err := k.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: id, PolicyName: aws.String("default")})
	if err != nil || !strings.Contains(*pol.Policy, "kms:*") {
		t.Fatalf("policy: %v", err)
	}
	_, err = k.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: id, PolicyName: aws.String("default"), Policy: aws.String("{nope")})
	wantAPIError(t, err, "MalformedPolicyDocumentException")
	g, err := k.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: id, GranteePrincipal: aws.String("arn:aws:iam::111122223333:role/app"),
		Operations:  []types.GrantOperation{types.GrantOperationDecrypt, types.GrantOperationEncrypt},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"app": "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	lg, err := k.ListGrants(ctx, &kms.ListGrantsInput{KeyId: id})
	if err != nil || len(lg.Grants) != 1 || *lg.Grants[0].GrantId != *g.GrantId {
		t.Fatalf("grants: %v %+v", err, lg)
	}
	if _, err := k.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: id, GrantId: g.GrantId}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/e2e")}); err != nil {
		t.Fatal(err)
	}
	_, err = k.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/e2e"), Plaintext: []byte("x")})
	wantAPIError(t, err, "NotFoundException")
}

func TestKMSRotationAndDeletion(t *testing.T) {
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ck, _ := k.CreateKey(ctx, &kms.CreateKeyInput{})
	id := ck.KeyMetadata.KeyId
	_, err := k.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: id, RotationPeriodInDays: aws.Int32(89)})
	wantAPIError(t, err, "ValidationException")
	if _, err := k.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: id, RotationPeriodInDays: aws.Int32(90)}); err != nil {
		t.Fatal(err)
	}
	st, err := k.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: id})
	if err != nil || !st.KeyRotationEnabled || *st.RotationPeriodInDays != 90 {
		t.Fatalf("rotation status: %v %+v", err, st)
	}
	old, _ := k.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("before rotation")})
	if _, err := k.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	rots, err := k.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: id})
	if err != nil || len(rots.Rotations) != 1 || rots.Rotations[0].RotationType != types.RotationTypeOnDemand {
		t.Fatalf("rotations: %v %+v", err, rots)
	}
	dec, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: old.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "before rotation" {
		t.Fatalf("old ciphertext after rotation: %v", err)
	}
	_, err = k.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: aws.Int32(6)})
	wantAPIError(t, err, "ValidationException")
	sd, err := k.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: aws.Int32(7)})
	if err != nil || sd.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("schedule: %v %+v", err, sd)
	}
	_, err = k.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantAPIError(t, err, "KMSInvalidStateException")
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: old.CiphertextBlob})
	wantAPIError(t, err, "KMSInvalidStateException")
	if _, err := k.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	d, _ := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: id})
	if d.KeyMetadata.KeyState != types.KeyStateDisabled {
		t.Fatalf("after cancel: %s", d.KeyMetadata.KeyState)
	}
}

func TestKMSAsymmetric(t *testing.T) {
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ck, err := k.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	msg := []byte("sign me with KMS")
	sig, err := k.Sign(ctx, &kms.SignInput{KeyId: id, Message: msg, MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		t.Fatal(err)
	}
	v, err := k.Verify(ctx, &kms.VerifyInput{KeyId: id, Message: msg, Signature: sig.Signature, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil || !v.SignatureValid {
		t.Fatalf("verify: %v", err)
	}
	_, err = k.Verify(ctx, &kms.VerifyInput{KeyId: id, Message: []byte("other"), Signature: sig.Signature, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantAPIError(t, err, "KMSInvalidSignatureException")
	pk, err := k.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], sig.Signature) {
		t.Fatal("stdlib does not verify the KMS signature")
	}
	// OpenSSL verifies KMS signatures (RAW message, ECDSA P-256 and RSA PKCS#1 v1.5).
	rk, err := k.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	rsig, err := k.Sign(ctx, &kms.SignInput{KeyId: rk.KeyMetadata.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPkcs1V15Sha256})
	if err != nil {
		t.Fatal(err)
	}
	rpk, _ := k.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: rk.KeyMetadata.KeyId})
	rpub, _ := x509.ParsePKIXPublicKey(rpk.PublicKey)
	if err := rsa.VerifyPKCS1v15(rpub.(*rsa.PublicKey), 5, d[:], rsig.Signature); err != nil {
		t.Fatalf("stdlib RSA verify: %v", err)
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "msg"), msg, 0o600)
		for name, c := range map[string]struct{ der, sig []byte }{"ec": {pk.PublicKey, sig.Signature}, "rsa": {rpk.PublicKey, rsig.Signature}} {
			os.WriteFile(filepath.Join(dir, name+".der"), c.der, 0o600)
			os.WriteFile(filepath.Join(dir, name+".sig"), c.sig, 0o600)
			out, err := exec.Command("openssl", "dgst", "-sha256", "-keyform", "DER", "-verify", filepath.Join(dir, name+".der"),
				"-signature", filepath.Join(dir, name+".sig"), filepath.Join(dir, "msg")).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Verified OK") {
				t.Fatalf("openssl %s: %v %s", name, err, out)
			}
		}
	}
	// MAC keys.
	mk, err := k.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	if err != nil {
		t.Fatal(err)
	}
	mac, err := k.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: mk.KeyMetadata.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	if err != nil {
		t.Fatal(err)
	}
	vm, err := k.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: mk.KeyMetadata.KeyId, Message: msg, Mac: mac.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	if err != nil || !vm.MacValid {
		t.Fatal(err)
	}
	_, err = k.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: mk.KeyMetadata.KeyId, Message: []byte("x"), Mac: mac.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	wantAPIError(t, err, "KMSInvalidMacException")
	// ECDH with a local key.
	ak, err := k.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeKeyAgreement})
	if err != nil {
		t.Fatal(err)
	}
	local, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	localDER, _ := x509.MarshalPKIXPublicKey(&local.PublicKey)
	ss, err := k.DeriveSharedSecret(ctx, &kms.DeriveSharedSecretInput{KeyId: ak.KeyMetadata.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: localDER})
	if err != nil {
		t.Fatal(err)
	}
	apk, _ := k.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: ak.KeyMetadata.KeyId})
	ap, _ := x509.ParsePKIXPublicKey(apk.PublicKey)
	le, _ := local.ECDH()
	ae, _ := ap.(*ecdsa.PublicKey).ECDH()
	want, _ := le.ECDH(ae)
	if !bytes.Equal(ss.SharedSecret, want) {
		t.Fatal("ECDH secret differs from the local computation")
	}
	// Data key pairs under a symmetric key.
	sk, _ := k.CreateKey(ctx, &kms.CreateKeyInput{})
	kp, err := k.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{KeyId: sk.KeyMetadata.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(kp.PrivateKeyPlaintext); err != nil {
		t.Fatal(err)
	}
	dec, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: kp.PrivateKeyCiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, kp.PrivateKeyPlaintext) {
		t.Fatalf("data key pair ciphertext: %v", err)
	}
}

func TestKMSMultiRegionAndCustomKeyStores(t *testing.T) {
	s := startServer(t, "", nil)
	c := s.creds()
	east := s.kmsClient()
	west := s.kmsClientWith("eu-west-1", c.RootAccessKeyID, c.RootSecretAccessKey)
	mk, err := east.CreateKey(ctx, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	id := mk.KeyMetadata.KeyId
	if !strings.HasPrefix(*id, "mrk-") {
		t.Fatalf("multi-region key id %s", *id)
	}
	if _, err := east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: id, ReplicaRegion: aws.String("eu-west-1")}); err != nil {
		t.Fatal(err)
	}
	enc, err := east.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("cross-region")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := west.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "cross-region" {
		t.Fatalf("replica decrypt: %v", err)
	}
	// A single-region key is invisible in another region.
	sk, _ := east.CreateKey(ctx, &kms.CreateKeyInput{})
	_, err = west.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: sk.KeyMetadata.KeyId})
	wantAPIError(t, err, "NotFoundException")
	// Custom key stores come with the CloudHSMv2 API: until then the right exception, not 501.
	_, err = east.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0")})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException")
	_, err = east.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginType("CLOUDHSM")})
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "AWS_CLOUDHSM") {
		t.Fatalf("origin typo: %v", err)
	}
}

func TestKMSImportKeyMaterial(t *testing.T) {
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ck, err := k.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	if err != nil || ck.KeyMetadata.KeyState != types.KeyStatePendingImport {
		t.Fatalf("%v %+v", err, ck)
	}
	id := ck.KeyMetadata.KeyId
	params, err := k.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: id,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(params.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, 32)
	rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.ImportKeyMaterial(ctx, &kms.ImportKeyMaterialInput{KeyId: id, ImportToken: params.ImportToken, EncryptedKeyMaterial: wrapped,
		ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}); err != nil {
		t.Fatal(err)
	}
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("imported")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantAPIError(t, err, "KMSInvalidStateException")
	_ = time.Second
}
