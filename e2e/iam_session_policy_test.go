package e2e

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// sessionAssumeRole is AssumeRole through queryCall (aws-sdk-go-v2's signer); it returns
// the credentials and PackedPolicySize.
func sessionAssumeRole(t *testing.T, s *server, c awsCreds, params ...string) (awsCreds, int) {
	t.Helper()
	b, err := queryCall(s, c, "sts", "AssumeRole", params...)
	if err != nil {
		t.Fatalf("AssumeRole %v: %v", params, err)
	}
	var out struct {
		ID     string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		Secret string `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
		Token  string `xml:"AssumeRoleResult>Credentials>SessionToken"`
		Packed int    `xml:"AssumeRoleResult>PackedPolicySize"`
	}
	if err := xml.Unmarshal(b, &out); err != nil || out.Token == "" {
		t.Fatalf("AssumeRole: %v\n%s", err, b)
	}
	return awsCreds{out.ID, out.Secret, out.Token}, out.Packed
}

// TestAssumeRoleSessionPolicy: a role that may do everything, assumed with a session
// policy allowing only kms:Encrypt: Encrypt works, Decrypt (and IAM) are refused with the
// session policy named, also after a restart of the node; a key policy naming the session
// itself is not limited by the session policy; a federated user (get-federation-token) is
// limited by its session policy too. The SDK (aws-sdk-go-v2) signs every call; Debian's
// AWS CLI passes --policy and --policy-arns.
func TestAssumeRoleSessionPolicy(t *testing.T) {
	t.Parallel()
	s, root := debianCLINode(t)
	acct := sdkAccount(t, s, root)
	rk := s.kmsAs(root)
	key, err := rk.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("session")})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(key.KeyMetadata.KeyId)

	alice, aliceArn := sdkNewIAMUser(t, s, root, "alice")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + aliceArn + `"},"Action":"sts:AssumeRole"}]}`
	qOK(t, s, root, nil, "iam", "CreateRole", "RoleName", "app", "AssumeRolePolicyDocument", trust)
	qOK(t, s, root, nil, "iam", "PutRolePolicy", "RoleName", "app", "PolicyName", "all",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	roleArn := "arn:aws:iam::" + acct + ":role/app"
	onlyEncrypt := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`

	sess, packed := sessionAssumeRole(t, s, alice, "RoleArn", roleArn, "RoleSessionName", "enc", "Policy", onlyEncrypt)
	if packed < 1 || packed > 100 {
		t.Fatalf("PackedPolicySize %d", packed)
	}
	check := func(when string) {
		t.Helper()
		kc := s.kmsAs(sess)
		enc, err := kc.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
		if err != nil {
			t.Fatalf("%s: Encrypt: %v", when, err)
		}
		_, err = kc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		kmsDenied(t, when+": Decrypt", err)
		want := "User: arn:aws:sts::" + acct + ":assumed-role/app/enc is not authorized to perform: kms:Decrypt on resource: " +
			aws.ToString(key.KeyMetadata.Arn) + " because no session policy allows the kms:Decrypt action"
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: Decrypt: %v\nwant %q", when, err, want)
		}
		msg := qDenied(t, s, sess, "iam", "ListUsers")
		if !strings.Contains(msg, "because no session policy allows the iam:ListUsers action") {
			t.Fatalf("%s: ListUsers: %s", when, msg)
		}
	}
	check("before the restart")
	// The same role without a session policy decrypts.
	plain, _ := sessionAssumeRole(t, s, alice, "RoleArn", roleArn, "RoleSessionName", "plain")
	enc, err := rk.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("y")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.kmsAs(plain).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("Decrypt without session policy: %v", err)
	}
	s.stop()
	s.restart()
	check("after a restart")
	rk = s.kmsAs(root) // the node listens on a new port

	// A key policy that names the session ARN itself is not limited by the session
	// policy; one that delegates to the account (the default) is.
	direct := `{"Version":"2012-10-17","Statement":[
	 {"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},
	 {"Sid":"session","Effect":"Allow","Principal":{"AWS":"arn:aws:sts::` + acct + `:assumed-role/app/enc"},"Action":"kms:Decrypt","Resource":"*"}]}`
	k2, err := rk.CreateKey(ctx, &kms.CreateKeyInput{Policy: &direct})
	if err != nil {
		t.Fatal(err)
	}
	enc2, err := rk.Encrypt(ctx, &kms.EncryptInput{KeyId: k2.KeyMetadata.KeyId, Plaintext: []byte("z")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.kmsAs(sess).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc2.CiphertextBlob}); err != nil {
		t.Fatalf("Decrypt under a key policy naming the session: %v", err)
	}

	// Debian's AWS CLI: --policy and --policy-arns (shorthand arn=...), and the refusals.
	qOK(t, s, root, nil, "iam", "CreatePolicy", "PolicyName", "encrypt-only", "PolicyDocument", onlyEncrypt)
	cli := tempCreds(t, s, alice, "sts", "assume-role", "--role-arn", roleArn, "--role-session-name", "cli",
		"--policy", onlyEncrypt, "--policy-arns", "arn=arn:aws:iam::"+acct+":policy/encrypt-only")
	if _, err := s.kmsAs(cli).Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("CLI session Encrypt: %v", err)
	}
	_, err = s.kmsAs(cli).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	kmsDenied(t, "CLI session Decrypt", err)
	_, errOut, ok := awsAs(t, s, alice, "sts", "assume-role", "--role-arn", roleArn, "--role-session-name", "cli",
		"--policy-arns", "arn=arn:aws:iam::"+acct+":policy/nope")
	if ok || !strings.Contains(errOut, "MalformedPolicyDocument") {
		t.Fatalf("a missing managed session policy: %s", errOut)
	}
	b, err := queryCall(s, alice, "sts", "AssumeRole", "RoleArn", roleArn, "RoleSessionName", "big",
		"Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Sid":"`+strings.Repeat("a", 2048)+`"}]}`)
	if qe, ok := err.(*queryError); !ok || qe.Code != "ValidationError" || qe.Status != 400 || !bytes.Equal(b, nil) {
		t.Fatalf("a 2 KB+ session policy: %v", err)
	}

	// GetFederationToken (Debian's AWS CLI): alice's policies ∩ the session policy.
	qDenied(t, s, alice, "sts", "GetFederationToken", "Name", "fed")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "alice", "PolicyName", "fed",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","sts:GetFederationToken"],"Resource":"*"}]}`)
	var fedOut struct {
		Credentials   struct{ AccessKeyId, SecretAccessKey, SessionToken string }
		FederatedUser struct{ Arn, FederatedUserId string }
	}
	awsOK(t, s, alice, &fedOut, "sts", "get-federation-token", "--name", "fed", "--policy", onlyEncrypt)
	if fedOut.FederatedUser.Arn != "arn:aws:sts::"+acct+":federated-user/fed" || fedOut.FederatedUser.FederatedUserId != acct+":fed" {
		t.Fatalf("get-federation-token: %+v", fedOut.FederatedUser)
	}
	fed := awsCreds{fedOut.Credentials.AccessKeyId, fedOut.Credentials.SecretAccessKey, fedOut.Credentials.SessionToken}
	if _, err := s.kmsAs(fed).Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("federated Encrypt: %v", err)
	}
	_, err = s.kmsAs(fed).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	kmsDenied(t, "federated Decrypt", err)
	if !strings.Contains(err.Error(), "federated-user/fed is not authorized to perform: kms:Decrypt") || !strings.Contains(err.Error(), "because no session policy allows") {
		t.Fatalf("federated Decrypt: %v", err)
	}
}
