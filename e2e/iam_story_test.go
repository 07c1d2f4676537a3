package e2e

import (
	"crypto/sha1"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/crypto"
)

type awsCreds struct{ AccessKeyID, SecretAccessKey, SessionToken string }

// awsAs runs Debian's AWS CLI with the given credentials; it returns stdout, and the
// error output when the command fails.
func awsAs(t *testing.T, s *server, c awsCreds, args ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", s.url, "--region", "us-east-1", "--output", "json"}, args...)...)
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

// TestLeastPrivilegeStory: the IAM issue's story with Debian's AWS CLI.
func TestLeastPrivilegeStory(t *testing.T) {
	s, root := debianCLINode(t)
	var who struct{ Account, Arn string }
	awsOK(t, s, root, &who, "sts", "get-caller-identity")
	acct := who.Account

	var key struct{ KeyMetadata struct{ KeyId, Arn string } }
	awsOK(t, s, root, &key, "kms", "create-key", "--description", "story")
	var enc struct{ CiphertextBlob string }
	awsOK(t, s, root, &enc, "kms", "encrypt", "--key-id", key.KeyMetadata.KeyId, "--plaintext", "aGVsbG8=")
	blobFile := t.TempDir() + "/blob"
	b, _ := base64.StdEncoding.DecodeString(enc.CiphertextBlob)
	os.WriteFile(blobFile, b, 0o600)

	// 1. A role with only ReadOnlyAccess lists and describes keys, and cannot decrypt.
	alice, aliceArn := newIAMUser(t, s, root, "alice")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + aliceArn + `"},"Action":"sts:AssumeRole"}]}`
	awsOK(t, s, root, nil, "iam", "create-role", "--role-name", "reader", "--assume-role-policy-document", trust)
	awsOK(t, s, root, nil, "iam", "attach-role-policy", "--role-name", "reader", "--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess")
	awsOK(t, s, root, nil, "iam", "put-user-policy", "--user-name", "alice", "--policy-name", "assume",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	reader := tempCreds(t, s, alice, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+acct+":role/reader", "--role-session-name", "story")
	awsOK(t, s, reader, nil, "kms", "list-keys")
	awsOK(t, s, reader, nil, "kms", "describe-key", "--key-id", key.KeyMetadata.KeyId)
	msg := awsDenied(t, s, reader, "kms", "decrypt", "--ciphertext-blob", "fileb://"+blobFile)
	if !strings.Contains(msg, "assumed-role/reader/story") || !strings.Contains(msg, "kms:Decrypt") {
		t.Fatalf("denial message: %s", msg)
	}
	awsDenied(t, s, alice, "kms", "list-keys") // alice herself has no KMS permission

	// 2. A key policy that requires MFA for ScheduleKeyDeletion and DisableKey.
	bob, bobArn := newIAMUser(t, s, root, "bob")
	awsOK(t, s, root, nil, "iam", "attach-user-policy", "--user-name", "bob", "--policy-arn", "arn:aws:iam::aws:policy/AWSKeyManagementServicePowerUser")
	awsOK(t, s, root, nil, "iam", "put-user-policy", "--user-name", "bob", "--policy-name", "key-admin",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:ScheduleKeyDeletion","kms:DisableKey","sts:GetSessionToken"],"Resource":"*"}]}`)
	var mk struct{ KeyMetadata struct{ KeyId string } }
	awsOK(t, s, root, &mk, "kms", "create-key", "--description", "mfa-protected")
	keyPolicy := `{"Version":"2012-10-17","Statement":[
 {"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"mfa","Effect":"Deny","Principal":{"AWS":"` + bobArn + `"},"Action":["kms:ScheduleKeyDeletion","kms:DisableKey"],"Resource":"*",
  "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}`
	awsOK(t, s, root, nil, "kms", "put-key-policy", "--key-id", mk.KeyMetadata.KeyId, "--policy-name", "default", "--policy", keyPolicy)
	awsDenied(t, s, bob, "kms", "disable-key", "--key-id", mk.KeyMetadata.KeyId)
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
	plain := tempCreds(t, s, bob, "sts", "get-session-token")
	awsDenied(t, s, plain, "kms", "disable-key", "--key-id", mk.KeyMetadata.KeyId)
	code3 := crypto.TOTP(seed, time.Now().Add(30*time.Second), 6, 30*time.Second, sha1.New)
	withMFA := tempCreds(t, s, bob, "sts", "get-session-token", "--serial-number", dev.VirtualMFADevice.SerialNumber, "--token-code", code3)
	awsOK(t, s, withMFA, nil, "kms", "disable-key", "--key-id", mk.KeyMetadata.KeyId)
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
	admin, _ := newIAMUser(t, s, root, "key-admin")
	user, _ := newIAMUser(t, s, root, "key-user")
	awsOK(t, s, root, nil, "iam", "put-user-policy", "--user-name", "key-admin", "--policy-name", "admin",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"}]}`)
	awsOK(t, s, root, nil, "iam", "put-user-policy", "--user-name", "key-user", "--policy-name", "user",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"`+key.KeyMetadata.Arn+`"}]}`)
	awsOK(t, s, user, nil, "kms", "decrypt", "--ciphertext-blob", "fileb://"+blobFile)
	awsDenied(t, s, user, "kms", "schedule-key-deletion", "--key-id", key.KeyMetadata.KeyId)
	awsDenied(t, s, admin, "kms", "decrypt", "--ciphertext-blob", "fileb://"+blobFile)
	awsOK(t, s, admin, nil, "kms", "disable-key", "--key-id", key.KeyMetadata.KeyId)
	awsOK(t, s, admin, nil, "kms", "enable-key", "--key-id", key.KeyMetadata.KeyId)
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
