package e2e

import (
	"context"
	"crypto/sha1"
	"encoding/base32"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/coffer-hsm/coffer/internal/crypto"
)

type awsCreds struct{ AccessKeyID, SecretAccessKey, SessionToken string }

// awsAs runs Debian's AWS CLI with the given credentials; it returns stdout, and the
// error output when the command fails.
func awsAs(t *testing.T, s *server, c awsCreds, args ...string) (string, string, bool) {
	t.Helper()
	return awsRun(s, "/usr/bin/aws", "us-east-1", c, args...)
}

// awsRun runs an AWS CLI (bin) against s for region, signed with c, with no config or
// credentials file of the machine's, and JSON output; it returns stdout, the error output,
// and whether the command succeeded.
func awsRun(s *server, bin, region string, c awsCreds, args ...string) (string, string, bool) {
	cmd := exec.Command(bin, append([]string{"--endpoint-url", s.url, "--region", region, "--output", "json"}, args...)...)
	cmd.Env = append(s.environ(), "AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"AWS_SESSION_TOKEN="+c.SessionToken, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err == nil
}

func awsOK(t *testing.T, s *server, c awsCreds, v any, args ...string) {
	t.Helper()
	out, errOut, ok := awsAs(t, s, c, args...)
	if !ok {
		t.Fatalf("aws %s: %s", strings.Join(args, " "), errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func awsDenied(t *testing.T, s *server, c awsCreds, args ...string) string {
	t.Helper()
	out, errOut, ok := awsAs(t, s, c, args...)
	if ok || !strings.Contains(errOut, "AccessDenied") {
		t.Fatalf("aws %s: want AccessDenied, got ok=%v\n%s\n%s", strings.Join(args, " "), ok, out, errOut)
	}
	return errOut
}

// newIAMUser creates a user with an access key.
func newIAMUser(t *testing.T, s *server, root awsCreds, name string) (awsCreds, string) {
	t.Helper()
	var u struct{ User struct{ Arn string } }
	awsOK(t, s, root, &u, "iam", "create-user", "--user-name", name)
	var k struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	awsOK(t, s, root, &k, "iam", "create-access-key", "--user-name", name)
	return awsCreds{AccessKeyID: k.AccessKey.AccessKeyId, SecretAccessKey: k.AccessKey.SecretAccessKey}, u.User.Arn
}

func tempCreds(t *testing.T, s *server, c awsCreds, args ...string) awsCreds {
	t.Helper()
	var out struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	}
	awsOK(t, s, c, &out, args...)
	return awsCreds{out.Credentials.AccessKeyId, out.Credentials.SecretAccessKey, out.Credentials.SessionToken}
}

// kmsAs is an aws-sdk-go-v2 KMS client for the server signed with c (which may be
// temporary credentials with a session token).
func (s *server) kmsAs(c awsCreds) *kms.Client {
	return kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), RetryMaxAttempts: 1, HTTPClient: s.httpClient(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Source: "e2e"}, nil
		})})
}

// kmsDenied requires err to be KMS's AccessDeniedException.
func kmsDenied(t *testing.T, what string, err error) {
	t.Helper()
	if apiCode(err) != "AccessDeniedException" {
		t.Fatalf("%s: %v, want AccessDeniedException", what, err)
	}
}

// TestLeastPrivilegeStory: the IAM issue's story with Debian's AWS CLI: the read-only
// role and assume-role, a refused decrypt, the MFA key policy, a virtual MFA device's seed
// file, enabling it, and get-session-token with a code run with the CLI; the other setup
// (users, policies, keys) and the other allowed or refused calls, which check the
// server's decisions, use aws-sdk-go-v2 and queryCall.
func TestLeastPrivilegeStory(t *testing.T) {
	t.Parallel()
	s, root := debianCLINode(t)
	acct := sdkAccount(t, s, root)
	rk := s.kmsAs(root)

	key, err := rk.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("story")})
	if err != nil {
		t.Fatal(err)
	}
	keyID, keyArn := aws.ToString(key.KeyMetadata.KeyId), aws.ToString(key.KeyMetadata.Arn)
	enc, err := rk.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	blobFile := t.TempDir() + "/blob"
	os.WriteFile(blobFile, enc.CiphertextBlob, 0o600)
	decrypt := &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}

	// 1. A role with only ReadOnlyAccess lists and describes keys, and cannot decrypt.
	alice, aliceArn := sdkNewIAMUser(t, s, root, "alice")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + aliceArn + `"},"Action":"sts:AssumeRole"}]}`
	qOK(t, s, root, nil, "iam", "CreateRole", "RoleName", "reader", "AssumeRolePolicyDocument", trust)
	awsOK(t, s, root, nil, "iam", "attach-role-policy", "--role-name", "reader", "--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "alice", "PolicyName", "assume",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	reader := tempCreds(t, s, alice, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+acct+":role/reader", "--role-session-name", "story")
	if _, err := s.kmsAs(reader).ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("reader ListKeys: %v", err)
	}
	if _, err := s.kmsAs(reader).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyID}); err != nil {
		t.Fatalf("reader DescribeKey: %v", err)
	}
	msg := awsDenied(t, s, reader, "kms", "decrypt", "--ciphertext-blob", "fileb://"+blobFile)
	if !strings.Contains(msg, "assumed-role/reader/story") || !strings.Contains(msg, "kms:Decrypt") {
		t.Fatalf("denial message: %s", msg)
	}
	_, err = s.kmsAs(alice).ListKeys(ctx, &kms.ListKeysInput{})
	kmsDenied(t, "alice ListKeys", err) // alice herself has no KMS permission

	// 2. A key policy that requires MFA for ScheduleKeyDeletion and DisableKey.
	bob, bobArn := sdkNewIAMUser(t, s, root, "bob")
	qOK(t, s, root, nil, "iam", "AttachUserPolicy", "UserName", "bob", "PolicyArn", "arn:aws:iam::aws:policy/AWSKeyManagementServicePowerUser")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "bob", "PolicyName", "key-admin",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:ScheduleKeyDeletion","kms:DisableKey","sts:GetSessionToken"],"Resource":"*"}]}`)
	mk, err := rk.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("mfa-protected")})
	if err != nil {
		t.Fatal(err)
	}
	mkID := aws.ToString(mk.KeyMetadata.KeyId)
	keyPolicy := `{"Version":"2012-10-17","Statement":[
 {"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"mfa","Effect":"Deny","Principal":{"AWS":"` + bobArn + `"},"Action":["kms:ScheduleKeyDeletion","kms:DisableKey"],"Resource":"*",
  "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}`
	awsOK(t, s, root, nil, "kms", "put-key-policy", "--key-id", mkID, "--policy-name", "default", "--policy", keyPolicy)
	_, err = s.kmsAs(bob).DisableKey(ctx, &kms.DisableKeyInput{KeyId: &mkID})
	kmsDenied(t, "bob DisableKey without MFA", err)
	var dev struct{ VirtualMFADevice struct{ SerialNumber string } }
	seedFile := t.TempDir() + "/seed.txt"
	awsOK(t, s, root, &dev, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "bob-phone",
		"--outfile", seedFile, "--bootstrap-method", "Base32StringSeed")
	seedText, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(strings.TrimSpace(string(seedText)), "="))
	if err != nil {
		t.Fatalf("seed %q: %v", seedText, err)
	}
	now := time.Now()
	code1 := crypto.TOTP(seed, now.Add(-30*time.Second), 6, 30*time.Second, sha1.New)
	code2 := crypto.TOTP(seed, now, 6, 30*time.Second, sha1.New)
	awsOK(t, s, root, nil, "iam", "enable-mfa-device", "--user-name", "bob", "--serial-number", dev.VirtualMFADevice.SerialNumber,
		"--authentication-code1", code1, "--authentication-code2", code2)
	// A session without MFA is still refused; one from get-session-token with a code passes.
	plain := sdkTempCreds(t, s, bob, "GetSessionToken")
	_, err = s.kmsAs(plain).DisableKey(ctx, &kms.DisableKeyInput{KeyId: &mkID})
	kmsDenied(t, "DisableKey in a session without MFA", err)
	code3 := crypto.TOTP(seed, time.Now().Add(30*time.Second), 6, 30*time.Second, sha1.New)
	withMFA := tempCreds(t, s, bob, "sts", "get-session-token", "--serial-number", dev.VirtualMFADevice.SerialNumber, "--token-code", code3)
	awsOK(t, s, withMFA, nil, "kms", "disable-key", "--key-id", mkID)
	// The trail records the MFA calls with the device's serial number but never a code.
	for _, name := range []string{"EnableMFADevice", "GetSessionToken"} {
		evs := lookupAll(t, s, "EventName", name)
		if len(evs) == 0 {
			t.Fatalf("no %s event in the trail", name)
		}
		for _, e := range evs {
			b, _ := json.Marshal(e.RequestParameters)
			for _, code := range []string{code1, code2, code3} {
				if strings.Contains(string(b), code) {
					t.Fatalf("%s event records an MFA code: %s", name, b)
				}
			}
		}
	}

	// 3. Separation of duties: a key administrator cannot use the key, a key user cannot
	// administer it.
	admin, _ := sdkNewIAMUser(t, s, root, "key-admin")
	user, _ := sdkNewIAMUser(t, s, root, "key-user")
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "key-admin", "PolicyName", "admin",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"}]}`)
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "key-user", "PolicyName", "user",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"`+keyArn+`"}]}`)
	if _, err := s.kmsAs(user).Decrypt(ctx, decrypt); err != nil {
		t.Fatalf("key user Decrypt: %v", err)
	}
	_, err = s.kmsAs(user).ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &keyID})
	kmsDenied(t, "key user ScheduleKeyDeletion", err)
	_, err = s.kmsAs(admin).Decrypt(ctx, decrypt)
	kmsDenied(t, "key admin Decrypt", err)
	if _, err := s.kmsAs(admin).DisableKey(ctx, &kms.DisableKeyInput{KeyId: &keyID}); err != nil {
		t.Fatalf("key admin DisableKey: %v", err)
	}
	if _, err := s.kmsAs(admin).EnableKey(ctx, &kms.EnableKeyInput{KeyId: &keyID}); err != nil {
		t.Fatalf("key admin EnableKey: %v", err)
	}
}

// debianCLINode starts a --dev node (with extra server flags) for a test that drives
// Debian's AWS CLI and returns it with the root's credentials; the test is skipped when
// that CLI is not installed.
func debianCLINode(t *testing.T, extra ...string) (*server, awsCreds) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil, extra...)
	return s, s.rootAWS()
}

// rootAWS returns the node's root credentials for awsAs and awsOK.
func (s *server) rootAWS() awsCreds {
	dc := s.creds()
	return awsCreds{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey}
}
