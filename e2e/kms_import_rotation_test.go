package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// importMaterial imports material into the EXTERNAL key id with aws-sdk-go-v2 (a fresh
// import token, RSAES_OAEP_SHA_256) and returns the KeyMaterialId KMS answers.
func importMaterial(t *testing.T, k *kms.Client, id string, material []byte, in kms.ImportKeyMaterialInput) (string, error) {
	t.Helper()
	params, err := k.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: aws.String(id),
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(params.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	in.KeyId, in.ImportToken, in.EncryptedKeyMaterial = aws.String(id), params.ImportToken, wrapped
	in.ExpirationModel = types.ExpirationModelTypeKeyMaterialDoesNotExpire
	out, err := k.ImportKeyMaterial(ctx, &in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.KeyMaterialId), nil
}

// keyMaterials lists the key materials of id (ALL_KEY_MATERIAL) by KeyMaterialId.
func keyMaterials(t *testing.T, k *kms.Client, id string) map[string]types.RotationsListEntry {
	t.Helper()
	l, err := k.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: aws.String(id), IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]types.RotationsListEntry{}
	for _, r := range l.Rotations {
		out[aws.ToString(r.KeyMaterialId)] = r
	}
	return out
}

// TestKMSImportedKeyRotation drives on-demand rotation of a key with imported key material
// with aws-sdk-go-v2 (import, import NEW_KEY_MATERIAL, rotate, decrypt old and new
// ciphertexts, list the materials, delete one, restart, reimport) and lists the materials
// with the AWS CLI v1 (Debian's v2.9 has no list-key-rotations).
func TestKMSImportedKeyRotation(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", nil)
	k := s.kmsClient()
	ck, err := k.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(ck.KeyMetadata.KeyId)
	key1, key2 := make([]byte, 32), make([]byte, 32)
	rand.Read(key1)
	rand.Read(key2)
	id1, err := importMaterial(t, k, id, key1, kms.ImportKeyMaterialInput{KeyMaterialDescription: aws.String("first")})
	if err != nil {
		t.Fatal(err)
	}
	enc1, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("under the first")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	wantAPIError(t, err, "KMSInvalidStateException") // nothing PENDING_ROTATION
	id2, err := importMaterial(t, k, id, key2, kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial, KeyMaterialDescription: aws.String("second")})
	if err != nil || id2 == id1 || len(id2) != 64 {
		t.Fatalf("%v %q %q", err, id1, id2)
	}
	l := keyMaterials(t, k, id)
	if l[id1].KeyMaterialState != types.KeyMaterialStateCurrent || l[id2].KeyMaterialState != types.KeyMaterialStatePendingRotation ||
		aws.ToString(l[id2].KeyMaterialDescription) != "second" || l[id2].ImportState != types.ImportStateImported {
		t.Fatalf("%+v", l)
	}
	if _, err := k.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	d, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil || aws.ToString(d.KeyMetadata.CurrentKeyMaterialId) != id2 || d.KeyMetadata.KeyState != types.KeyStateEnabled {
		t.Fatalf("%v %+v", err, d.KeyMetadata)
	}
	enc2, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("under the second")})
	if err != nil {
		t.Fatal(err)
	}
	decrypts := func(when string) {
		t.Helper()
		for _, c := range []struct {
			blob    []byte
			pt, mat string
		}{{enc1.CiphertextBlob, "under the first", id1}, {enc2.CiphertextBlob, "under the second", id2}} {
			dec, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: c.blob})
			if err != nil || string(dec.Plaintext) != c.pt || aws.ToString(dec.KeyMaterialId) != c.mat {
				t.Fatalf("%s: %v", when, err)
			}
		}
	}
	decrypts("after the rotation")
	l = keyMaterials(t, k, id)
	if l[id1].KeyMaterialState != types.KeyMaterialStateNonCurrent || l[id2].KeyMaterialState != types.KeyMaterialStateCurrent ||
		l[id2].RotationType != types.RotationTypeOnDemand || l[id2].RotationDate == nil {
		t.Fatalf("%+v", l)
	}

	// What a user of the AWS CLI v1 sees.
	if v1 := awsCLIs(t)["v1"]; v1 != "" {
		c := s.creds()
		out, errOut, ok := awsRun(s, v1, "us-east-1", awsCreds{AccessKeyID: c.RootAccessKeyID, SecretAccessKey: c.RootSecretAccessKey},
			"kms", "list-key-rotations", "--key-id", id, "--include-key-material", "ALL_KEY_MATERIAL")
		if !ok {
			t.Fatalf("aws v1 kms list-key-rotations: %s", errOut)
		}
		var got struct {
			Rotations []struct{ KeyMaterialId, KeyMaterialState, KeyMaterialDescription, ImportState, RotationType string }
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Rotations) != 2 {
			t.Fatalf("%v %s", err, out)
		}
		if r := got.Rotations[0]; r.KeyMaterialId != id1 || r.KeyMaterialState != "NON_CURRENT" || r.KeyMaterialDescription != "first" || r.ImportState != "IMPORTED" {
			t.Fatalf("%+v", r)
		}
		if r := got.Rotations[1]; r.KeyMaterialId != id2 || r.KeyMaterialState != "CURRENT" || r.RotationType != "ON_DEMAND" {
			t.Fatalf("%+v", r)
		}
	} else {
		t.Log("no AWS CLI v1 on PATH: list-key-rotations --include-key-material not checked with a CLI")
	}

	// Deleting the first material: the key is PendingImport, no ciphertext decrypts.
	del, err := k.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: aws.String(id), KeyMaterialId: aws.String(id1)})
	if err != nil || aws.ToString(del.KeyMaterialId) != id1 {
		t.Fatalf("%v %+v", err, del)
	}
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc2.CiphertextBlob})
	wantAPIError(t, err, "KMSInvalidStateException")

	// The state survives a restart; reimporting the deleted material restores the key.
	s.stop()
	s.restart()
	k = s.kmsClient()
	l = keyMaterials(t, k, id)
	if len(l) != 2 || l[id1].ImportState != types.ImportStatePendingImport || l[id2].KeyMaterialState != types.KeyMaterialStateCurrent {
		t.Fatalf("after restart: %+v", l)
	}
	if d, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)}); err != nil || d.KeyMetadata.KeyState != types.KeyStatePendingImport {
		t.Fatalf("after restart: %v %+v", err, d)
	}
	other := make([]byte, 32)
	rand.Read(other)
	_, err = importMaterial(t, k, id, other, kms.ImportKeyMaterialInput{ImportType: types.ImportTypeExistingKeyMaterial})
	wantAPIError(t, err, "IncorrectKeyMaterialException")
	if got, err := importMaterial(t, k, id, key1, kms.ImportKeyMaterialInput{}); err != nil || got != id1 {
		t.Fatalf("reimport: %v %q", err, got)
	}
	decrypts("after the reimport")
}
