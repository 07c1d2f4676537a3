package e2e

import (
	"context"
	"errors"
	"os/exec"
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
	c := s.creds()
	cmd := exec.Command(v1, "--endpoint-url", s.url, "--region", "us-east-1", "kms", "decrypt", "--key-id", *srcID,
		"--dry-run", "--dry-run-modifiers", "IGNORE_CIPHERTEXT")
	cmd.Env = append(s.environ(), "AWS_ACCESS_KEY_ID="+c.RootAccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.RootSecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "(DryRunOperationException) when calling the Decrypt operation") {
		t.Fatalf("aws v1 kms decrypt --dry-run: %v\n%s", err, out)
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
