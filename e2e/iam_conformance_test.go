package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestIAMConformance: IAM/STS behaviours checked against AWS's API reference and botocore
// model, driven with both AWS CLIs where a CLI user meets them (Debian's v2.9 at
// /usr/bin/aws, and the v1 on PATH when there is one; its subtests fall back to v2.9) and
// with signed query calls (aws-sdk-go-v2's signer) where the HTTP status is the point.
func TestIAMConformance(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s, root := debianCLINode(t)
	v2 := "/usr/bin/aws"
	v1 := awsCLIs(t)["v1"]
	if v1 == "" {
		v1 = v2
	}
	var who struct{ Account string }
	awsOK(t, s, root, &who, "sts", "get-caller-identity")
	acct := who.Account

	// cli runs an AWS CLI (bin) signed with c for region; ok reports its exit status.
	cli := func(t *testing.T, bin, region string, c awsCreds, args ...string) (string, string, bool) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--endpoint-url", s.url, "--region", region, "--output", "json"}, args...)...)
		cmd.Env = append(s.environ(), "AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
			"AWS_SESSION_TOKEN="+c.SessionToken, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err == nil
	}
	cliOK := func(t *testing.T, bin string, c awsCreds, v any, args ...string) {
		t.Helper()
		out, errOut, ok := cli(t, bin, "us-east-1", c, args...)
		if !ok {
			t.Fatalf("%s %s: %s", bin, strings.Join(args, " "), errOut)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
			}
		}
	}
	// cliFails runs a CLI command that must fail with the error code and a message
	// containing msg.
	cliFails := func(t *testing.T, bin string, c awsCreds, code, msg string, args ...string) {
		t.Helper()
		out, errOut, ok := cli(t, bin, "us-east-1", c, args...)
		if ok || !strings.Contains(errOut, "("+code+")") || !strings.Contains(errOut, msg) {
			t.Fatalf("%s %s: want %s %q, got ok=%v\n%s\n%s", bin, strings.Join(args, " "), code, msg, ok, out, errOut)
		}
	}
	// qStatus sends a query request that must fail with the code and HTTP status.
	qStatus := func(t *testing.T, code string, status int, service, action string, params ...string) string {
		t.Helper()
		_, err := queryCall(s, root, service, action, params...)
		qe, ok := err.(*queryError)
		if !ok || qe.Code != code || qe.Status != status {
			t.Fatalf("%s %s %v: want %s (%d), got %v", service, action, params, code, status, err)
		}
		return qe.Message
	}
	// doc is an identity policy of n non-whitespace characters.
	doc := func(n int) string {
		const head, tail = `{"Version":"2012-10-17","Statement":[{"Sid":"`, `","Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`
		return head + strings.Repeat("S", n-len(head)-len(tail)) + tail
	}

	t.Run("InlinePolicyQuotaIsPerEntity", func(t *testing.T) {
		// IAM's 2048 characters are for all of a user's inline policies together.
		cliOK(t, v2, root, nil, "iam", "create-user", "--user-name", "quota")
		cliOK(t, v2, root, nil, "iam", "put-user-policy", "--user-name", "quota", "--policy-name", "one", "--policy-document", doc(1200))
		cliFails(t, v1, root, "LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user quota",
			"iam", "put-user-policy", "--user-name", "quota", "--policy-name", "two", "--policy-document", doc(1000))
		qStatus(t, "LimitExceeded", 409, "iam", "PutUserPolicy", "UserName", "quota", "PolicyName", "two", "PolicyDocument", doc(1000))
		var names struct{ PolicyNames []string }
		cliOK(t, v2, root, &names, "iam", "list-user-policies", "--user-name", "quota")
		if len(names.PolicyNames) != 1 {
			t.Fatalf("a refused inline policy was kept: %v", names.PolicyNames)
		}
		cliOK(t, v1, root, nil, "iam", "put-user-policy", "--user-name", "quota", "--policy-name", "two", "--policy-document", doc(848))

		// A trust policy past 2048 characters: ACLSizePerRole.
		trust := `{"Version":"2012-10-17","Statement":[{"Sid":"` + strings.Repeat("T", 2000) + `","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
		cliFails(t, v2, root, "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048",
			"iam", "create-role", "--role-name", "big", "--assume-role-policy-document", trust)
	})

	t.Run("MaxItemsAndPathPrefix", func(t *testing.T) {
		qStatus(t, "ValidationError", 400, "iam", "ListUsers", "MaxItems", "0")
		qStatus(t, "ValidationError", 400, "iam", "ListRoles", "MaxItems", "1001")
		qStatus(t, "ValidationError", 400, "iam", "ListUsers", "PathPrefix", "/a b/")
		// Managed policies' paths are stricter (policyPathType).
		qStatus(t, "ValidationError", 400, "iam", "ListPolicies", "PathPrefix", "/svc")
		qStatus(t, "ValidationError", 400, "iam", "CreatePolicy", "PolicyName", "pathy", "Path", "/a~b/", "PolicyDocument", doc(150))
		// The CLIs page with MaxItems and Marker and join the pages.
		for _, n := range []string{"pa", "pb", "pc"} {
			qOK(t, s, root, nil, "iam", "CreateUser", "UserName", n, "Path", "/paged/")
		}
		for _, bin := range []string{v1, v2} {
			var l struct{ Users []struct{ UserName string } }
			cliOK(t, bin, root, &l, "iam", "list-users", "--path-prefix", "/paged", "--page-size", "2")
			if len(l.Users) != 3 || l.Users[0].UserName != "pa" || l.Users[2].UserName != "pc" {
				t.Fatalf("%s: %+v", bin, l)
			}
		}
	})

	t.Run("PolicyVersionsAndListPolicies", func(t *testing.T) {
		var p struct {
			Policy struct{ Arn, Description string }
		}
		cliOK(t, v2, root, &p, "iam", "create-policy", "--policy-name", "versions", "--description", "encrypts", "--policy-document", doc(150))
		for range 2 {
			cliOK(t, v2, root, nil, "iam", "create-policy-version", "--policy-arn", p.Policy.Arn, "--policy-document", doc(160))
		}
		for _, bin := range []string{v1, v2} {
			var l struct {
				Versions []struct {
					VersionId        string
					IsDefaultVersion bool
				}
			}
			cliOK(t, bin, root, &l, "iam", "list-policy-versions", "--policy-arn", p.Policy.Arn)
			if len(l.Versions) != 3 || l.Versions[0].VersionId != "v3" || l.Versions[2].VersionId != "v1" || !l.Versions[2].IsDefaultVersion {
				t.Fatalf("%s: want v3, v2, v1 (default): %+v", bin, l.Versions)
			}
		}
		var lp struct{ Policies []map[string]any }
		cliOK(t, v1, root, &lp, "iam", "list-policies", "--scope", "Local")
		if len(lp.Policies) != 1 || lp.Policies[0]["Arn"] != p.Policy.Arn {
			t.Fatalf("%+v", lp)
		}
		if _, ok := lp.Policies[0]["Description"]; ok {
			t.Fatalf("list-policies lists the description: %v", lp.Policies[0])
		}
		var gp struct{ Policy struct{ Description string } }
		cliOK(t, v2, root, &gp, "iam", "get-policy", "--policy-arn", p.Policy.Arn)
		if gp.Policy.Description != "encrypts" {
			t.Fatalf("%+v", gp)
		}
		// Deleting a policy with versions besides the default, or attached: DeleteConflict.
		qStatus(t, "DeleteConflict", 409, "iam", "DeletePolicy", "PolicyArn", p.Policy.Arn)
	})

	t.Run("RoleLastUsedAndRoleSessions", func(t *testing.T) {
		user, userARN := sdkNewIAMUser(t, s, root, "assumer")
		trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + userARN + `"},"Action":"sts:AssumeRole"}]}`
		var cr struct{ Role struct{ Arn string } }
		cliOK(t, v2, root, &cr, "iam", "create-role", "--role-name", "used", "--assume-role-policy-document", trust)
		cliOK(t, v2, root, nil, "iam", "put-role-policy", "--role-name", "used", "--policy-name", "read",
			"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}`)
		var gr struct{ Role map[string]json.RawMessage }
		cliOK(t, v1, root, &gr, "iam", "get-role", "--role-name", "used")
		if string(gr.Role["RoleLastUsed"]) != "{}" {
			t.Fatalf("a role never used: RoleLastUsed %s", gr.Role["RoleLastUsed"])
		}

		before := time.Now().Add(-time.Second)
		out, errOut, ok := cli(t, v1, "eu-west-3", user, "sts", "assume-role", "--role-arn", cr.Role.Arn, "--role-session-name", "conformance")
		if !ok {
			t.Fatal(errOut)
		}
		var ar struct {
			Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
			AssumedRoleUser struct{ AssumedRoleId, Arn string }
		}
		if err := json.Unmarshal([]byte(out), &ar); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ar.AssumedRoleUser.AssumedRoleId, "AROA") || !strings.HasSuffix(ar.AssumedRoleUser.AssumedRoleId, ":conformance") ||
			ar.AssumedRoleUser.Arn != "arn:aws:sts::"+acct+":assumed-role/used/conformance" || !strings.HasPrefix(ar.Credentials.AccessKeyId, "ASIA") {
			t.Fatalf("%+v", ar)
		}

		for _, bin := range []string{v1, v2} {
			var g struct {
				Role struct {
					RoleLastUsed struct{ LastUsedDate, Region string }
				}
			}
			cliOK(t, bin, root, &g, "iam", "get-role", "--role-name", "used")
			used, err := time.Parse(time.RFC3339, g.Role.RoleLastUsed.LastUsedDate)
			if err != nil || used.Before(before) || used.After(time.Now().Add(time.Second)) || g.Role.RoleLastUsed.Region != "eu-west-3" {
				t.Fatalf("%s: RoleLastUsed %+v (%v)", bin, g.Role.RoleLastUsed, err)
			}
		}
		var ad struct {
			RoleDetailList []struct {
				RoleName     string
				RoleLastUsed struct{ LastUsedDate, Region string }
			}
		}
		cliOK(t, v1, root, &ad, "iam", "get-account-authorization-details", "--filter", "Role")
		for _, r := range ad.RoleDetailList {
			if r.RoleName == "used" && (r.RoleLastUsed.Region != "eu-west-3" || r.RoleLastUsed.LastUsedDate == "") {
				t.Fatalf("authorization details: %+v", r)
			}
		}
		var lr struct{ Roles []map[string]any }
		cliOK(t, v2, root, &lr, "iam", "list-roles")
		for _, r := range lr.Roles {
			if _, ok := r["RoleLastUsed"]; ok {
				t.Fatalf("list-roles returns RoleLastUsed: %v", r)
			}
		}

		// The role's session has no IAM user: get-user without a name is refused.
		sess := awsCreds{AccessKeyID: ar.Credentials.AccessKeyId, SecretAccessKey: ar.Credentials.SecretAccessKey, SessionToken: ar.Credentials.SessionToken}
		cliFails(t, v2, sess, "ValidationError", "Must specify userName when calling with non-User credentials", "iam", "get-user")
		var me struct{ Arn, UserId string }
		cliOK(t, v1, sess, &me, "sts", "get-caller-identity")
		if me.Arn != ar.AssumedRoleUser.Arn || me.UserId != ar.AssumedRoleUser.AssumedRoleId {
			t.Fatalf("%+v", me)
		}
	})

	t.Run("SessionTokenWithoutMFAHasNoIAM", func(t *testing.T) {
		// "You cannot call any IAM API operations unless MFA authentication information is
		// included in the request" (GetSessionToken); other services still answer.
		user, _ := sdkNewIAMUser(t, s, root, "gst-user")
		qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "gst-user", "PolicyName", "iam",
			"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}`)
		var st struct {
			Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
		}
		cliOK(t, v1, user, &st, "sts", "get-session-token", "--duration-seconds", "900")
		sess := awsCreds{AccessKeyID: st.Credentials.AccessKeyId, SecretAccessKey: st.Credentials.SecretAccessKey, SessionToken: st.Credentials.SessionToken}
		cliFails(t, v2, sess, "InvalidClientTokenId", "The security token included in the request is invalid", "iam", "list-users")
		cliOK(t, v2, user, nil, "iam", "list-users")
		var me struct{ Arn string }
		cliOK(t, v2, sess, &me, "sts", "get-caller-identity")
		if !strings.HasSuffix(me.Arn, ":user/gst-user") {
			t.Fatal(me)
		}
	})

	t.Run("PolicyAndMFADeviceTags", func(t *testing.T) {
		var p struct{ Policy struct{ Arn string } }
		cliOK(t, v2, root, &p, "iam", "create-policy", "--policy-name", "tagged", "--policy-document", doc(150), "--tags", "Key=team,Value=a")
		cliOK(t, v1, root, nil, "iam", "tag-policy", "--policy-arn", p.Policy.Arn, "--tags", "Key=Team,Value=b", "Key=env,Value=prod")
		cliOK(t, v2, root, nil, "iam", "untag-policy", "--policy-arn", p.Policy.Arn, "--tag-keys", "env")
		for _, bin := range []string{v1, v2} {
			var lt struct{ Tags []struct{ Key, Value string } }
			cliOK(t, bin, root, &lt, "iam", "list-policy-tags", "--policy-arn", p.Policy.Arn)
			if len(lt.Tags) != 1 || lt.Tags[0].Key != "Team" || lt.Tags[0].Value != "b" {
				t.Fatalf("%s: %+v", bin, lt)
			}
		}
		var d struct{ VirtualMFADevice struct{ SerialNumber string } }
		cliOK(t, v2, root, &d, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "tagged", "--outfile", "/dev/null", "--bootstrap-method", "Base32StringSeed")
		cliOK(t, v1, root, nil, "iam", "tag-mfa-device", "--serial-number", d.VirtualMFADevice.SerialNumber, "--tags", "Key=owner,Value=ops")
		var lt struct{ Tags []struct{ Key, Value string } }
		cliOK(t, v2, root, &lt, "iam", "list-mfa-device-tags", "--serial-number", d.VirtualMFADevice.SerialNumber)
		if len(lt.Tags) != 1 || lt.Tags[0].Key != "owner" {
			t.Fatalf("%+v", lt)
		}
		cliFails(t, v2, root, "NoSuchEntity", "", "iam", "list-policy-tags", "--policy-arn", "arn:aws:iam::"+acct+":policy/none")

		// No instance profiles: an empty list for an existing role.
		trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
		cliOK(t, v2, root, nil, "iam", "create-role", "--role-name", "profiles", "--assume-role-policy-document", trust)
		for _, bin := range []string{v1, v2} {
			var ip struct{ InstanceProfiles []any }
			cliOK(t, bin, root, &ip, "iam", "list-instance-profiles-for-role", "--role-name", "profiles")
			if ip.InstanceProfiles == nil || len(ip.InstanceProfiles) != 0 {
				t.Fatalf("%s: %+v", bin, ip)
			}
		}
		cliFails(t, v1, root, "NoSuchEntity", "", "iam", "list-instance-profiles-for-role", "--role-name", "absent")
	})

	t.Run("ErrorStatuses", func(t *testing.T) {
		qOK(t, s, root, nil, "iam", "CreateUser", "UserName", "conflicted")
		qStatus(t, "EntityAlreadyExists", 409, "iam", "CreateUser", "UserName", "CONFLICTED")
		qStatus(t, "NoSuchEntity", 404, "iam", "GetUser", "UserName", "absent")
		qStatus(t, "ValidationError", 400, "iam", "CreateUser", "UserName", strings.Repeat("n", 65))
		qStatus(t, "ValidationError", 400, "iam", "CreateUser", "UserName", "bad name")
		qStatus(t, "ValidationError", 400, "iam", "CreateUser", "UserName", "pathy", "Path", "nopath")
		qOK(t, s, root, nil, "iam", "CreateAccessKey", "UserName", "conflicted")
		qOK(t, s, root, nil, "iam", "CreateAccessKey", "UserName", "conflicted")
		qStatus(t, "LimitExceeded", 409, "iam", "CreateAccessKey", "UserName", "conflicted")
		if m := qStatus(t, "DeleteConflict", 409, "iam", "DeleteUser", "UserName", "conflicted"); !strings.Contains(m, "access keys") {
			t.Fatal(m)
		}
		qStatus(t, "MalformedPolicyDocument", 400, "iam", "PutUserPolicy", "UserName", "conflicted", "PolicyName", "p", "PolicyDocument", `{"Version":"2012-10-17"}`)
		qStatus(t, "ValidationError", 400, "sts", "AssumeRole", "RoleArn", "arn:aws:iam::"+acct+":role/used", "RoleSessionName", "x")
		qStatus(t, "ValidationError", 400, "sts", "GetSessionToken", "DurationSeconds", "899")
	})
}
