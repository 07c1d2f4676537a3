package e2e

import (
	"strings"
	"testing"
	"time"
)

// `aws iam get-access-key-last-used` (Debian's /usr/bin/aws), the check behind "find
// unused access keys": a new key answers N/A; after the user signs a KMS request with it
// the answer names kms, the request's region and its time, also when KMS refused the
// request; a request with a wrong signature does not count; and the answer survives a
// restart (it comes from the durable trail).
func TestAccessKeyLastUsed(t *testing.T) {
	t.Parallel()
	s, root := debianCLINode(t)
	user, _ := sdkNewIAMUser(t, s, root, "auditor")
	type lastUsed struct {
		UserName          string
		AccessKeyLastUsed struct {
			LastUsedDate, ServiceName, Region string
		}
	}
	var got lastUsed
	awsOK(t, s, root, &got, "iam", "get-access-key-last-used", "--access-key-id", user.AccessKeyID)
	if got.UserName != "auditor" || got.AccessKeyLastUsed.ServiceName != "N/A" || got.AccessKeyLastUsed.Region != "N/A" || got.AccessKeyLastUsed.LastUsedDate != "" {
		t.Fatalf("a new key: %+v", got)
	}

	before := time.Now().Add(-time.Second).UTC()
	// KMS refuses the user (no policy), but the request was signed with the key.
	if out, errOut, ok := awsAs(t, s, user, "--region", "eu-west-1", "kms", "list-keys"); ok || !strings.Contains(errOut, "AccessDenied") {
		t.Fatalf("list-keys as a user without policies: %s %s", out, errOut)
	}
	// A wrong signature only claims the key.
	bad := user
	bad.SecretAccessKey = "not-the-secret-not-the-secret-not-the-se"
	if _, errOut, ok := awsAs(t, s, bad, "sts", "get-caller-identity"); ok || !strings.Contains(errOut, "SignatureDoesNotMatch") {
		t.Fatalf("a bad signature: %s", errOut)
	}
	check := func(when string) {
		t.Helper()
		var got lastUsed
		awsOK(t, s, root, &got, "iam", "get-access-key-last-used", "--access-key-id", user.AccessKeyID)
		at, err := time.Parse(time.RFC3339, got.AccessKeyLastUsed.LastUsedDate)
		if err != nil || got.UserName != "auditor" || got.AccessKeyLastUsed.ServiceName != "kms" || got.AccessKeyLastUsed.Region != "eu-west-1" ||
			at.Before(before.Truncate(time.Second)) || at.After(time.Now().Add(time.Second)) {
			t.Fatalf("%s: %+v (%v)", when, got, err)
		}
	}
	check("after a refused KMS request")
	s.stop()
	s.restart()
	check("after a restart")
	if _, errOut, ok := awsAs(t, s, root, "iam", "get-access-key-last-used", "--access-key-id", "AKIAUNKNOWNUNKNOWN00"); ok || !strings.Contains(errOut, "NoSuchEntity") {
		t.Fatalf("an unknown key: %s", errOut)
	}
	// A user may ask about a key of their own only with iam:GetAccessKeyLastUsed.
	if _, errOut, ok := awsAs(t, s, user, "iam", "get-access-key-last-used", "--access-key-id", user.AccessKeyID); ok || !strings.Contains(errOut, "AccessDenied") {
		t.Fatalf("without permission: %s", errOut)
	}
}
