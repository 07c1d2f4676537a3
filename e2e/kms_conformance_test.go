package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

// wantKMSError checks an aws-sdk-go-v2 error's code, HTTP status and message.
func wantKMSError(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) || ae.ErrorCode() != code || re.HTTPStatusCode() != status || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("got %v, want %s (HTTP %d) %q", err, code, status, msg)
	}
}

// TestKMSConformanceDryRun (aws-sdk-go-v2 and the newer `aws` v1 on PATH): DryRun answers
// DryRunOperationException with HTTP 412 (the KMS API reference); Decrypt and ReEncrypt
// with DryRunModifiers IGNORE_CIPHERTEXT need no ciphertext and check the permission on
// the named key; a dry run does not count as a use of the key (GetKeyLastUsage).
func TestKMSConformanceDryRun(t *testing.T) {
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ctx := context.Background()
	src, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	srcID, dstID := src.KeyMetadata.KeyId, dst.KeyMetadata.KeyId
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: srcID, Plaintext: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}

	_, err = k.Encrypt(ctx, &kms.EncryptInput{KeyId: srcID, Plaintext: []byte("x"), DryRun: aws.Bool(true)})
	wantKMSError(t, err, "DryRunOperationException", 412, "DryRun")
	_, err = k.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: dstID, DryRun: aws.Bool(true)})
	wantKMSError(t, err, "DryRunOperationException", 412, "DryRun")
	_, err = k.Decrypt(ctx, &kms.DecryptInput{KeyId: srcID, DryRun: aws.Bool(true),
		DryRunModifiers: []types.DryRunModifierType{types.DryRunModifierTypeIgnoreCiphertext}})
	wantKMSError(t, err, "DryRunOperationException", 412, "DryRun")
	_, err = k.ReEncrypt(ctx, &kms.ReEncryptInput{SourceKeyId: srcID, DestinationKeyId: dstID, DryRun: aws.Bool(true),
		DryRunModifiers: []types.DryRunModifierType{types.DryRunModifierTypeIgnoreCiphertext}})
	wantKMSError(t, err, "DryRunOperationException", 412, "DryRun")
	// Without the modifier, a DryRun Decrypt needs its ciphertext.
	_, err = k.Decrypt(ctx, &kms.DecryptInput{KeyId: srcID, DryRun: aws.Bool(true)})
	wantKMSError(t, err, "ValidationException", 400, "ciphertextBlob")

	// Neither key was used by the dry runs: the source's last use is still the Encrypt,
	// the destination has none.
	lu, err := k.GetKeyLastUsage(ctx, &kms.GetKeyLastUsageInput{KeyId: srcID})
	if err != nil {
		t.Fatal(err)
	}
	if lu.KeyLastUsage == nil || lu.KeyLastUsage.Operation != "Encrypt" {
		t.Fatalf("source key last usage %+v", lu.KeyLastUsage)
	}
	lu, err = k.GetKeyLastUsage(ctx, &kms.GetKeyLastUsageInput{KeyId: dstID})
	if err != nil {
		t.Fatal(err)
	}
	if lu.KeyLastUsage != nil && lu.KeyLastUsage.Operation != "" {
		t.Fatalf("destination key last usage %+v", lu.KeyLastUsage)
	}

	// The newer CLI (botocore with DryRunModifiers) shows the exception.
	clis := awsCLIs(t)
	v1 := clis["v1"]
	if v1 == "" {
		t.Log("no aws v1 CLI on PATH: CLI part skipped")
		return
	}
	out, errOut, ok := awsRun(s, v1, "us-east-1", s.rootAWS(), "kms", "decrypt", "--key-id", *srcID,
		"--dry-run", "--dry-run-modifiers", "IGNORE_CIPHERTEXT")
	if ok || !strings.Contains(errOut, "(DryRunOperationException) when calling the Decrypt operation") {
		t.Fatalf("aws v1 kms decrypt --dry-run: ok=%v\n%s%s", ok, out, errOut)
	}
}

// TestKMSConformanceCreateGrantKeyStates (aws-sdk-go-v2): CreateGrant follows AWS's key
// state table: a key pending import is KMSInvalidStateException, a disabled key
// DisabledException, with AWS's messages; no grant is created.
func TestKMSConformanceCreateGrantKeyStates(t *testing.T) {
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ctx := context.Background()
	ext, err := k.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	if err != nil {
		t.Fatal(err)
	}
	dis, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.DisableKey(ctx, &kms.DisableKeyInput{KeyId: dis.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	grant := func(keyID *string) error {
		_, err := k.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: keyID, GranteePrincipal: aws.String("arn:aws:iam::111122223333:root"),
			Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
		return err
	}
	wantKMSError(t, grant(ext.KeyMetadata.KeyId), "KMSInvalidStateException", 400, *ext.KeyMetadata.Arn+" is pending import.")
	wantKMSError(t, grant(dis.KeyMetadata.KeyId), "DisabledException", 400, *dis.KeyMetadata.Arn+" is disabled.")
	for _, id := range []*string{ext.KeyMetadata.KeyId, dis.KeyMetadata.KeyId} {
		l, err := k.ListGrants(ctx, &kms.ListGrantsInput{KeyId: id})
		if err != nil || len(l.Grants) != 0 {
			t.Fatalf("grants: %v %+v", err, l)
		}
	}
	// Deleting the (absent) material of a key pending import has no effect and names no
	// key material.
	del, err := k.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: ext.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if del.KeyMaterialId != nil {
		t.Fatalf("KeyMaterialId %q", *del.KeyMaterialId)
	}
	// XksKeyId belongs to external key store keys only.
	_, err = k.CreateKey(ctx, &kms.CreateKeyInput{XksKeyId: aws.String("ext-key-1")})
	wantKMSError(t, err, "ValidationException", 400, "XksKeyId")
}

// TestKMSConformanceReEncryptKeyMaterial (aws-sdk-go-v2, and Debian's /usr/bin/aws v2.9
// whose older model lacks the members): ReEncrypt answers SourceKeyMaterialId (the
// material the ciphertext was made with, still after a rotation) and
// DestinationKeyMaterialId (the destination's current material).
func TestKMSConformanceReEncryptKeyMaterial(t *testing.T) {
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ctx := context.Background()
	src, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: src.KeyMetadata.KeyId, Plaintext: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: src.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	re, err := k.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: dst.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(re.SourceKeyMaterialId) != aws.ToString(src.KeyMetadata.CurrentKeyMaterialId) ||
		aws.ToString(re.DestinationKeyMaterialId) != aws.ToString(dst.KeyMetadata.CurrentKeyMaterialId) || re.DestinationKeyMaterialId == nil {
		t.Fatalf("SourceKeyMaterialId %v DestinationKeyMaterialId %v, want %v %v", aws.ToString(re.SourceKeyMaterialId),
			aws.ToString(re.DestinationKeyMaterialId), aws.ToString(src.KeyMetadata.CurrentKeyMaterialId), aws.ToString(dst.KeyMetadata.CurrentKeyMaterialId))
	}
	dec, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "secret" || aws.ToString(dec.KeyMaterialId) != aws.ToString(re.DestinationKeyMaterialId) {
		t.Fatalf("decrypt: %v %+v", err, dec)
	}

	// The older CLI ignores the new members and re-encrypts as before.
	sweepKMSNeedCLI(t)
	var out struct{ KeyId, SourceKeyId string }
	sweepKMSOK(t, s, &out, "re-encrypt", "--ciphertext-blob", "fileb://"+writeSweepKMSFile(t, string(re.CiphertextBlob)),
		"--destination-key-id", *src.KeyMetadata.KeyId)
	if out.KeyId != *src.KeyMetadata.Arn || out.SourceKeyId != *dst.KeyMetadata.Arn {
		t.Fatalf("%+v", out)
	}
}

// TestKMSConformanceCLIValidationMessages (Debian's /usr/bin/aws v2.9, which checks only
// minimums client-side): the server's answers to values above a model maximum read as
// AWS's, naming the bound crossed.
func TestKMSConformanceCLIValidationMessages(t *testing.T) {
	sweepKMSNeedCLI(t)
	s := startServer(t, "", nil)
	var k sweepKMSKey
	sweepKMSOK(t, s, &k, "create-key")
	big := "fileb://" + writeSweepKMSFile(t, strings.Repeat("x", 4097))
	sweepKMSFail(t, s, "ValidationException", "Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
		"encrypt", "--key-id", k.KeyMetadata.KeyId, "--plaintext", big)
	sweepKMSFail(t, s, "ValidationException", "Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
		"generate-data-key", "--key-id", k.KeyMetadata.KeyId, "--number-of-bytes", "1025")
	sweepKMSFail(t, s, "ValidationException", "NumberOfBytes is required.", "generate-random")
	sweepKMSFail(t, s, "ValidationException", "Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000",
		"list-keys", "--limit", "1001")
	sweepKMSFail(t, s, "ValidationException", "Member must have value less than or equal to 30",
		"schedule-key-deletion", "--key-id", k.KeyMetadata.KeyId, "--pending-window-in-days", "31")
	var d sweepKMSKey
	sweepKMSOK(t, s, &d, "describe-key", "--key-id", k.KeyMetadata.KeyId)
	if d.KeyMetadata.KeyState != "Enabled" {
		t.Fatalf("%+v", d.KeyMetadata)
	}
}

// TestKMSConformanceKeyStateTable (aws-sdk-go-v2): AWS's key state table ("Key states of
// AWS KMS keys") for keys that are Disabled, PendingDeletion and PendingImport: which
// operations still work, and the exception and message of those that do not.
func TestKMSConformanceKeyStateTable(t *testing.T) {
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ctx := context.Background()
	create := func(in *kms.CreateKeyInput) *types.KeyMetadata {
		t.Helper()
		out, err := k.CreateKey(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.KeyMetadata
	}
	dis, pd, pi := create(&kms.CreateKeyInput{}), create(&kms.CreateKeyInput{}), create(&kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	disSign := create(&kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	disMac := create(&kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	enabled := create(&kms.CreateKeyInput{})
	ct := map[string][]byte{}
	for _, md := range []*types.KeyMetadata{dis, pd} {
		enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		ct[*md.KeyId] = enc.CiphertextBlob
	}
	for _, md := range []*types.KeyMetadata{dis, disSign, disMac} {
		if _, err := k.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: pd.KeyId, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}

	type call func(md *types.KeyMetadata) error
	encrypt := func(md *types.KeyMetadata) error {
		_, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
		return err
	}
	decrypt := func(md *types.KeyMetadata) error {
		_, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct[*md.KeyId]})
		return err
	}
	reEncryptTo := func(md *types.KeyMetadata) error {
		enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: enabled.KeyId, Plaintext: []byte("x")})
		if err != nil {
			return err
		}
		_, err = k.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: md.KeyId})
		return err
	}
	gdk := func(md *types.KeyMetadata) error {
		_, err := k.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256})
		return err
	}
	grant := func(md *types.KeyMetadata) error {
		_, err := k.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String("arn:aws:iam::111122223333:root"),
			Operations: []types.GrantOperation{types.GrantOperationDescribeKey}})
		return err
	}
	enable := func(md *types.KeyMetadata) error {
		_, err := k.EnableKey(ctx, &kms.EnableKeyInput{KeyId: md.KeyId})
		return err
	}
	disable := func(md *types.KeyMetadata) error {
		_, err := k.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId})
		return err
	}
	rotation := func(md *types.KeyMetadata) error {
		_, err := k.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: md.KeyId})
		return err
	}
	tag := func(md *types.KeyMetadata) error {
		_, err := k.TagResource(ctx, &kms.TagResourceInput{KeyId: md.KeyId, Tags: []types.Tag{{TagKey: aws.String("t"), TagValue: aws.String("v")}}})
		return err
	}
	untag := func(md *types.KeyMetadata) error {
		_, err := k.UntagResource(ctx, &kms.UntagResourceInput{KeyId: md.KeyId, TagKeys: []string{"t"}})
		return err
	}
	describe := func(md *types.KeyMetadata) error {
		_, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.KeyId})
		return err
	}
	desc := func(md *types.KeyMetadata) error {
		_, err := k.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: md.KeyId, Description: aws.String("d")})
		return err
	}
	alias := func(md *types.KeyMetadata) error {
		_, err := k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/state-" + (*md.KeyId)[:8]), TargetKeyId: md.KeyId})
		return err
	}
	policy := func(md *types.KeyMetadata) error {
		_, err := k.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: md.KeyId})
		return err
	}
	sign := func(md *types.KeyMetadata) error {
		_, err := k.Sign(ctx, &kms.SignInput{KeyId: md.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		return err
	}
	pub := func(md *types.KeyMetadata) error {
		_, err := k.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: md.KeyId})
		return err
	}
	mac := func(md *types.KeyMetadata) error {
		_, err := k.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: md.KeyId, Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
		return err
	}
	cancel := func(md *types.KeyMetadata) error {
		_, err := k.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: md.KeyId})
		return err
	}

	const ok = ""
	for _, c := range []struct {
		name string
		md   *types.KeyMetadata
		fn   call
		code string
		msg  string // after the key ARN
	}{
		{"Encrypt disabled", dis, encrypt, "DisabledException", " is disabled."},
		{"Decrypt disabled", dis, decrypt, "DisabledException", " is disabled."},
		{"ReEncrypt to disabled", dis, reEncryptTo, "DisabledException", " is disabled."},
		{"GenerateDataKey disabled", dis, gdk, "DisabledException", " is disabled."},
		{"CreateGrant disabled", dis, grant, "DisabledException", " is disabled."},
		{"EnableKeyRotation disabled", dis, rotation, "DisabledException", " is disabled."},
		{"Sign disabled", disSign, sign, "DisabledException", " is disabled."},
		{"GetPublicKey disabled", disSign, pub, "DisabledException", " is disabled."},
		{"GenerateMac disabled", disMac, mac, "DisabledException", " is disabled."},
		{"DescribeKey disabled", dis, describe, ok, ""},
		{"UpdateKeyDescription disabled", dis, desc, ok, ""},
		{"TagResource disabled", dis, tag, ok, ""},
		{"CreateAlias disabled", dis, alias, ok, ""},
		{"DisableKey disabled", dis, disable, ok, ""},

		{"Encrypt pending deletion", pd, encrypt, "KMSInvalidStateException", " is pending deletion."},
		{"Decrypt pending deletion", pd, decrypt, "KMSInvalidStateException", " is pending deletion."},
		{"GenerateDataKey pending deletion", pd, gdk, "KMSInvalidStateException", " is pending deletion."},
		{"CreateGrant pending deletion", pd, grant, "KMSInvalidStateException", " is pending deletion."},
		{"EnableKey pending deletion", pd, enable, "KMSInvalidStateException", " is pending deletion."},
		{"DisableKey pending deletion", pd, disable, "KMSInvalidStateException", " is pending deletion."},
		{"TagResource pending deletion", pd, tag, "KMSInvalidStateException", " is pending deletion."},
		{"UntagResource pending deletion", pd, untag, "KMSInvalidStateException", " is pending deletion."},
		{"UpdateKeyDescription pending deletion", pd, desc, "KMSInvalidStateException", " is pending deletion."},
		{"CreateAlias pending deletion", pd, alias, "KMSInvalidStateException", " is pending deletion."},
		{"EnableKeyRotation pending deletion", pd, rotation, "KMSInvalidStateException", " is pending deletion."},
		{"DescribeKey pending deletion", pd, describe, ok, ""},
		{"GetKeyPolicy pending deletion", pd, policy, ok, ""},

		{"Encrypt pending import", pi, encrypt, "KMSInvalidStateException", " is pending import."},
		{"GenerateDataKey pending import", pi, gdk, "KMSInvalidStateException", " is pending import."},
		{"CreateGrant pending import", pi, grant, "KMSInvalidStateException", " is pending import."},
		{"EnableKey pending import", pi, enable, "KMSInvalidStateException", " is pending import."},
		{"DisableKey pending import", pi, disable, "KMSInvalidStateException", " is pending import."},
		{"TagResource pending import", pi, tag, ok, ""},
		{"UpdateKeyDescription pending import", pi, desc, ok, ""},
		{"CreateAlias pending import", pi, alias, ok, ""},

		{"CancelKeyDeletion enabled", enabled, cancel, "KMSInvalidStateException", " is not pending deletion."},
		{"CancelKeyDeletion pending deletion", pd, cancel, ok, ""},
	} {
		err := c.fn(c.md)
		if c.code == ok {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != c.code || ae.ErrorMessage() != *c.md.Arn+c.msg {
			t.Errorf("%s: got %v, want %s %q", c.name, err, c.code, *c.md.Arn+c.msg)
		}
	}
}
