package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestSessionBoundToRoleID: a role session acts for the role's unique ID, not its name
// (aws-sdk-go-v2 signs every call). The role is deleted and created again with the same
// name, trust and policies: the old session's KMS Encrypt is refused as an unknown token
// (UnrecognizedClientException, 400), its STS and IAM calls with InvalidClientTokenId
// (403), also after a restart; a new session of the new role encrypts.
func TestSessionBoundToRoleID(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", nil)
	root := s.rootAWS()
	acct := sdkAccount(t, s, root)
	key, err := s.kmsAs(root).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("sessid")})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(key.KeyMetadata.KeyId)
	alice, aliceArn := sdkNewIAMUser(t, s, root, "alice")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + aliceArn + `"},"Action":"sts:AssumeRole"}]}`
	allowKMS := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","iam:ListUsers"],"Resource":"*"}]}`
	makeRole := func() {
		t.Helper()
		qOK(t, s, root, nil, "iam", "CreateRole", "RoleName", "app", "AssumeRolePolicyDocument", trust)
		qOK(t, s, root, nil, "iam", "PutRolePolicy", "RoleName", "app", "PolicyName", "kms", "PolicyDocument", allowKMS)
	}
	makeRole()
	roleArn := "arn:aws:iam::" + acct + ":role/app"
	old, _ := sessionAssumeRole(t, s, alice, "RoleArn", roleArn, "RoleSessionName", "old")
	encrypt := func(c awsCreds) error {
		_, err := s.kmsAs(c).Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
		return err
	}
	if err := encrypt(old); err != nil {
		t.Fatalf("Encrypt with the session: %v", err)
	}

	qOK(t, s, root, nil, "iam", "DeleteRolePolicy", "RoleName", "app", "PolicyName", "kms")
	qOK(t, s, root, nil, "iam", "DeleteRole", "RoleName", "app")
	makeRole()

	refused := func(when string) {
		t.Helper()
		err := encrypt(old)
		if apiCode(err) != "UnrecognizedClientException" || !strings.Contains(err.Error(), "StatusCode: 400") ||
			!strings.Contains(err.Error(), "The security token included in the request is invalid") {
			t.Fatalf("%s: Encrypt with the old role's session: %v", when, err)
		}
		for _, call := range [][2]string{{"sts", "GetCallerIdentity"}, {"iam", "ListUsers"}} {
			_, err := queryCall(s, old, call[0], call[1])
			qe, ok := err.(*queryError)
			if !ok || qe.Code != "InvalidClientTokenId" || qe.Status != http.StatusForbidden ||
				qe.Message != "The security token included in the request is invalid." {
				t.Fatalf("%s: %s with the old role's session: %v", when, call[1], err)
			}
		}
	}
	refused("after the role was created again")
	fresh, _ := sessionAssumeRole(t, s, alice, "RoleArn", roleArn, "RoleSessionName", "new")
	if err := encrypt(fresh); err != nil {
		t.Fatalf("Encrypt with a session of the new role: %v", err)
	}
	s.stop()
	s.restart()
	refused("after a restart")
	if err := encrypt(fresh); err != nil {
		t.Fatalf("Encrypt with a session of the new role after a restart: %v", err)
	}
}
