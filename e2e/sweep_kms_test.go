package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// sweepKMSCLI runs Debian's AWS CLI (awsAs) against s's KMS as the account root (in
// us-east-1, or the region of a leading "--region R") and returns its stdout, stderr and
// whether it succeeded.
func sweepKMSCLI(t *testing.T, s *server, args ...string) (string, string, bool) {
	t.Helper()
	cmd := append([]string{"kms"}, args...)
	if len(args) > 1 && args[0] == "--region" {
		// A later --region overrides awsAs's us-east-1.
		cmd = append([]string{"--region", args[1], "kms"}, args[2:]...)
	}
	return awsAs(t, s, s.rootAWS(), cmd...)
}

// sweepKMSOK runs a CLI command that must succeed and decodes its output into v (if not nil).
func sweepKMSOK(t *testing.T, s *server, v any, args ...string) {
	t.Helper()
	out, errOut, ok := sweepKMSCLI(t, s, args...)
	if !ok {
		t.Fatalf("aws kms %s: %s", strings.Join(args, " "), errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("aws kms %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// sweepKMSFail runs a CLI command that must fail with the AWS error code and a message
// containing msg.
func sweepKMSFail(t *testing.T, s *server, code, msg string, args ...string) {
	t.Helper()
	out, errOut, ok := sweepKMSCLI(t, s, args...)
	if ok {
		t.Fatalf("aws kms %s succeeded, want %s:\n%s", strings.Join(args, " "), code, out)
	}
	if !strings.Contains(errOut, "("+code+")") || !strings.Contains(errOut, msg) {
		t.Fatalf("aws kms %s: want %s %q, got:\n%s", strings.Join(args, " "), code, msg, errOut)
	}
}

func sweepKMSNeedCLI(t *testing.T) {
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("no /usr/bin/aws")
	}
}

type sweepKMSKey struct {
	KeyMetadata struct {
		KeyId, Arn, KeyState, Description string
	}
}

// TestSweepKMSRequestValidation: enum values and grant tokens the CLI passes through
// unchecked get AWS's answers (the model's ValidationException, InvalidGrantTokenException).
func TestSweepKMSRequestValidation(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	sweepKMSNeedCLI(t)
	s := startServer(t, "", nil)
	var k sweepKMSKey
	sweepKMSOK(t, s, &k, "create-key")
	pt := "fileb://" + writeSweepKMSFile(t, "secret")

	sweepKMSFail(t, s, "ValidationException", "at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set",
		"encrypt", "--key-id", k.KeyMetadata.KeyId, "--plaintext", pt, "--encryption-algorithm", "RSAES_OAEP_SHA_512")
	// Even for a key that does not exist: the request is invalid before any lookup.
	sweepKMSFail(t, s, "ValidationException", "encryptionAlgorithm",
		"encrypt", "--key-id", "alias/none", "--plaintext", pt, "--encryption-algorithm", "RSAES_OAEP_SHA_512")
	sweepKMSFail(t, s, "InvalidGrantTokenException", "",
		"encrypt", "--key-id", k.KeyMetadata.KeyId, "--plaintext", pt, "--grant-tokens", "not-a-token")
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = "t"
	}
	sweepKMSFail(t, s, "ValidationException", "grantTokens",
		append([]string{"generate-data-key", "--key-id", k.KeyMetadata.KeyId, "--key-spec", "AES_256", "--grant-tokens"}, eleven...)...)

	var enc struct{ CiphertextBlob string }
	sweepKMSOK(t, s, &enc, "encrypt", "--key-id", k.KeyMetadata.KeyId, "--plaintext", pt)
	ct := "fileb://" + writeSweepKMSBase64File(t, enc.CiphertextBlob)
	sweepKMSFail(t, s, "ValidationException", "at 'encryptionAlgorithm'",
		"decrypt", "--ciphertext-blob", ct, "--encryption-algorithm", "FOO")
	sweepKMSFail(t, s, "ValidationException", "at 'destinationEncryptionAlgorithm'",
		"re-encrypt", "--ciphertext-blob", ct, "--destination-key-id", k.KeyMetadata.KeyId, "--destination-encryption-algorithm", "FOO")

	// KeyUsage defaults to ENCRYPT_DECRYPT and is required for keys that cannot encrypt.
	sweepKMSFail(t, s, "ValidationException", "KeyUsage is required for KeySpec HMAC_256", "create-key", "--key-spec", "HMAC_256")
	sweepKMSFail(t, s, "ValidationException", "KeyUsage is required for KeySpec ECC_NIST_P256", "create-key", "--key-spec", "ECC_NIST_P256")

	// A real grant's token is accepted.
	var g struct{ GrantToken string }
	sweepKMSOK(t, s, &g, "create-grant", "--key-id", k.KeyMetadata.KeyId, "--grantee-principal", "arn:aws:iam::111122223333:root",
		"--operations", "Decrypt")
	var dec struct{ Plaintext string }
	sweepKMSOK(t, s, &dec, "decrypt", "--ciphertext-blob", ct, "--grant-tokens", g.GrantToken)
}

// TestSweepKMSManagementRefusesAliases: operations whose KeyId AWS documents as "key ID or
// key ARN" refuse an alias (NotFoundException "Invalid keyId") and change nothing.
func TestSweepKMSManagementRefusesAliases(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	sweepKMSNeedCLI(t)
	s := startServer(t, "", nil)
	var k sweepKMSKey
	sweepKMSOK(t, s, &k, "create-key")
	sweepKMSOK(t, s, nil, "create-alias", "--alias-name", "alias/sweep", "--target-key-id", k.KeyMetadata.KeyId)
	aliasARN := "arn:aws:kms:us-east-1:111122223333:alias/sweep"

	sweepKMSFail(t, s, "NotFoundException", "Invalid keyId alias/sweep", "disable-key", "--key-id", "alias/sweep")
	sweepKMSFail(t, s, "NotFoundException", "Invalid keyId "+aliasARN, "schedule-key-deletion", "--key-id", aliasARN)
	sweepKMSFail(t, s, "NotFoundException", "Invalid keyId alias/sweep", "tag-resource", "--key-id", "alias/sweep", "--tags", "TagKey=a,TagValue=b")
	sweepKMSFail(t, s, "NotFoundException", "Invalid keyId alias/sweep", "update-key-description", "--key-id", "alias/sweep", "--description", "changed")
	sweepKMSFail(t, s, "NotFoundException", "Invalid keyId alias/sweep", "get-key-policy", "--key-id", "alias/sweep", "--policy-name", "default")

	// A key ARN of another region is not found (KMS is regional), and that key is unchanged.
	var west sweepKMSKey
	sweepKMSOK(t, s, &west, "--region", "us-west-2", "create-key")
	sweepKMSFail(t, s, "NotFoundException", "does not exist", "disable-key", "--key-id", west.KeyMetadata.Arn)
	sweepKMSFail(t, s, "NotFoundException", "does not exist", "describe-key", "--key-id", west.KeyMetadata.Arn)
	sweepKMSOK(t, s, &west, "--region", "us-west-2", "describe-key", "--key-id", west.KeyMetadata.Arn)
	if west.KeyMetadata.KeyState != "Enabled" {
		t.Fatalf("us-west-2 key: %+v", west.KeyMetadata)
	}

	var d sweepKMSKey
	sweepKMSOK(t, s, &d, "describe-key", "--key-id", "alias/sweep")
	if d.KeyMetadata.KeyId != k.KeyMetadata.KeyId || d.KeyMetadata.KeyState != "Enabled" || d.KeyMetadata.Description != "" {
		t.Fatalf("key changed through an alias: %+v", d.KeyMetadata)
	}
	var tags struct{ Tags []any }
	sweepKMSOK(t, s, &tags, "list-resource-tags", "--key-id", k.KeyMetadata.Arn)
	if len(tags.Tags) != 0 {
		t.Fatalf("tags: %v", tags.Tags)
	}
	sweepKMSOK(t, s, nil, "disable-key", "--key-id", k.KeyMetadata.Arn)
}

func writeSweepKMSFile(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "sweep-kms-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func writeSweepKMSBase64File(t *testing.T, b64 string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return writeSweepKMSFile(t, string(b))
}

// TestSweepKMSSDKEmptyMembersAndRecipient drives, with aws-sdk-go-v2 (which checks only
// required members client-side), what the CLI refuses before sending: a member set to ""
// and a Nitro Enclaves Recipient.
func TestSweepKMSSDKEmptyMembersAndRecipient(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ctx := context.Background()
	before, err := k.ListKeys(ctx, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	// An empty policy (say, read from an empty file) is refused, not replaced by the
	// default key policy.
	_, err = k.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String("")})
	wantAPIError(t, err, "ValidationException")
	after, err := k.ListKeys(ctx, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Keys) != len(before.Keys) {
		t.Fatalf("CreateKey with Policy \"\" created a key")
	}

	ck, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Encrypt(ctx, &kms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: ""})
	if err != nil {
		t.Fatalf("an unset enum must be omitted by the SDK: %v", err)
	}
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("enclave only")})
	if err != nil {
		t.Fatal(err)
	}
	rcpt := &types.RecipientInfo{KeyEncryptionAlgorithm: types.KeyEncryptionMechanismRsaesOaepSha256, AttestationDocument: []byte("doc")}
	dec, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, Recipient: rcpt})
	wantAPIError(t, err, "UnsupportedOperationException")
	if dec != nil && dec.Plaintext != nil {
		t.Fatal("plaintext returned to a Recipient request")
	}
	_, err = k.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: ck.KeyMetadata.KeyId, KeySpec: types.DataKeySpecAes256, Recipient: rcpt})
	wantAPIError(t, err, "UnsupportedOperationException")
	_, err = k.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(16), Recipient: rcpt})
	wantAPIError(t, err, "UnsupportedOperationException")
}

// TestSweepKMSMultiRegionPrimaryDeletion: scheduling the deletion of a Multi-Region primary
// key with a replica answers PendingReplicaDeletion without a deletion date, as AWS does.
func TestSweepKMSMultiRegionPrimaryDeletion(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	sweepKMSNeedCLI(t)
	s := startServer(t, "", nil)
	var k sweepKMSKey
	sweepKMSOK(t, s, &k, "create-key", "--multi-region")
	sweepKMSOK(t, s, nil, "replicate-key", "--key-id", k.KeyMetadata.KeyId, "--replica-region", "eu-west-1")
	var sched struct {
		KeyState            string
		DeletionDate        *string
		PendingWindowInDays int
	}
	sweepKMSOK(t, s, &sched, "schedule-key-deletion", "--key-id", k.KeyMetadata.KeyId, "--pending-window-in-days", "9")
	if sched.KeyState != "PendingReplicaDeletion" || sched.DeletionDate != nil || sched.PendingWindowInDays != 9 {
		t.Fatalf("%+v", sched)
	}
	var d struct {
		KeyMetadata struct {
			KeyState                    string
			Enabled                     bool
			PendingDeletionWindowInDays int
		}
	}
	sweepKMSOK(t, s, &d, "describe-key", "--key-id", k.KeyMetadata.KeyId)
	if d.KeyMetadata.KeyState != "PendingReplicaDeletion" || d.KeyMetadata.Enabled || d.KeyMetadata.PendingDeletionWindowInDays != 9 {
		t.Fatalf("%+v", d.KeyMetadata)
	}
	sweepKMSFail(t, s, "KMSInvalidStateException", "", "encrypt", "--key-id", k.KeyMetadata.KeyId, "--plaintext", "fileb://"+writeSweepKMSFile(t, "x"))
}
