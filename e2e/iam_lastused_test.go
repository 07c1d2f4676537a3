package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"strings"
	"testing"
	"time"
)

// `aws iam get-access-key-last-used` (Debian's /usr/bin/aws), the check behind "find
// unused access keys": a new key answers N/A; after the user signs a KMS request with it
// the answer names kms, the request's region and its time, also when KMS refused the
// request; a request with a wrong signature does not count; and the answer survives a
// restart (it comes from the durable trail). The credential report and
// get-account-summary, which the same audits read, agree.
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

	// The credential report (what CIS-style checks read) has the same last use.
	var gen struct{ State string }
	awsOK(t, s, root, &gen, "iam", "generate-credential-report")
	if gen.State != "STARTED" && gen.State != "COMPLETE" {
		t.Fatalf("generate-credential-report: %+v", gen)
	}
	var rep struct{ Content, ReportFormat string }
	awsOK(t, s, root, &rep, "iam", "get-credential-report")
	raw, err := base64.StdEncoding.DecodeString(rep.Content)
	if err != nil || rep.ReportFormat != "text/csv" {
		t.Fatalf("get-credential-report: %+v %v", rep, err)
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][0] != "<root_account>" || rows[2][0] != "auditor" ||
		rows[2][8] != "true" || rows[2][11] != "eu-west-1" || rows[2][12] != "kms" {
		t.Fatalf("credential report: %v\n%s", err, raw)
	}
	if at, err := time.Parse("2006-01-02T15:04:05+00:00", rows[2][10]); err != nil || at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
		t.Fatalf("credential report: last used %q (%v)", rows[2][10], err)
	}
	// get-account-summary, read by the same checks (CLI-decoded SummaryMap).
	var sum struct{ SummaryMap map[string]int }
	awsOK(t, s, root, &sum, "iam", "get-account-summary")
	if sum.SummaryMap["Users"] != 1 || sum.SummaryMap["AccountAccessKeysPresent"] != 1 || sum.SummaryMap["AccountMFAEnabled"] != 0 ||
		sum.SummaryMap["AccessKeysPerUserQuota"] != 2 {
		t.Fatalf("get-account-summary: %+v", sum)
	}
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
