package e2e

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestUserPermissionsBoundary: a user whose identity policy allows kms:* gets a permissions
// boundary allowing only kms:Encrypt with Debian's AWS CLI (put-user-permissions-boundary,
// get-user shows it); then Encrypt works and Decrypt is refused with the boundary named
// (aws-sdk-go-v2), also after a restart; the boundary policy cannot be deleted while in
// use; a delegated administrator may create users only with the boundary
// (iam:PermissionsBoundary); removing the boundary gives Decrypt back.
func TestUserPermissionsBoundary(t *testing.T) {
	t.Parallel()
	s, root := debianCLINode(t)
	acct := sdkAccount(t, s, root)
	key, err := s.kmsAs(root).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("boundary")})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(key.KeyMetadata.KeyId)
	boundary := "arn:aws:iam::" + acct + ":policy/encrypt-only"
	qOK(t, s, root, nil, "iam", "CreatePolicy", "PolicyName", "encrypt-only",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","iam:*"],"Resource":"*"}]}`)
	bob, bobArn := sdkNewIAMUser(t, s, root, "bob")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "bob", "PolicyName", "kms",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
	enc, err := s.kmsAs(bob).Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	decrypt := func() error {
		_, err := s.kmsAs(bob).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		return err
	}
	if err := decrypt(); err != nil {
		t.Fatalf("Decrypt before the boundary: %v", err)
	}

	awsOK(t, s, root, nil, "iam", "put-user-permissions-boundary", "--user-name", "bob", "--permissions-boundary", boundary)
	var got struct {
		User struct {
			PermissionsBoundary struct{ PermissionsBoundaryType, PermissionsBoundaryArn string }
		}
	}
	awsOK(t, s, root, &got, "iam", "get-user", "--user-name", "bob")
	if b := got.User.PermissionsBoundary; b.PermissionsBoundaryType != "PermissionsBoundaryPolicy" || b.PermissionsBoundaryArn != boundary {
		t.Fatalf("get-user: %+v", b)
	}
	check := func(when string) {
		t.Helper()
		if _, err := s.kmsAs(bob).Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")}); err != nil {
			t.Fatalf("%s: Encrypt: %v", when, err)
		}
		err := decrypt()
		kmsDenied(t, when+": Decrypt", err)
		want := "User: " + bobArn + " is not authorized to perform: kms:Decrypt on resource: " + aws.ToString(key.KeyMetadata.Arn) +
			" because no permissions boundary allows the kms:Decrypt action"
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: Decrypt: %v\nwant %q", when, err, want)
		}
	}
	check("with the boundary")
	var pol struct {
		Count int `xml:"GetPolicyResult>Policy>PermissionsBoundaryUsageCount"`
	}
	qOK(t, s, root, &pol, "iam", "GetPolicy", "PolicyArn", boundary)
	if pol.Count != 1 {
		t.Fatalf("PermissionsBoundaryUsageCount %d", pol.Count)
	}
	qFails(t, s, root, "DeleteConflict", "iam", "DeletePolicy", "PolicyArn", boundary)

	// A delegated administrator may create users only with the boundary.
	admin, _ := sdkNewIAMUser(t, s, root, "admin")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "admin", "PolicyName", "delegate",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:CreateUser","iam:PutUserPermissionsBoundary"],"Resource":"*",
		"Condition":{"StringEquals":{"iam:PermissionsBoundary":"`+boundary+`"}}}]}`)
	qDenied(t, s, admin, "iam", "CreateUser", "UserName", "free")
	qDenied(t, s, admin, "iam", "CreateUser", "UserName", "other", "PermissionsBoundary", "arn:aws:iam::aws:policy/AdministratorAccess")
	qOK(t, s, admin, nil, "iam", "CreateUser", "UserName", "bounded", "PermissionsBoundary", boundary)

	s.stop()
	s.restart()
	check("after a restart")

	qOK(t, s, root, nil, "iam", "DeleteUserPermissionsBoundary", "UserName", "bob")
	if err := decrypt(); err != nil {
		t.Fatalf("Decrypt without the boundary: %v", err)
	}
}
