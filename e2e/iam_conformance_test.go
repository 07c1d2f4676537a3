package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// TestIAMConformance: IAM/STS behaviours checked against AWS's API reference and botocore
// model. Both AWS CLIs (Debian's v2.9 at /usr/bin/aws, and the v1 on PATH when there is
// one; its checks fall back to v2.9) run where a CLI user meets what the CLI itself does
// (list-users joins the pages it asks for), once each for a refusal a CLI user reads, and
// for assume-role in another region; the other checks are of the server's answers and use
// signed query calls (aws-sdk-go-v2's signer), which also see the HTTP status.
func TestIAMConformance(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s, root := debianCLINode(t)
	v2 := "/usr/bin/aws"
	v1 := awsCLIs(t)["v1"]
	if v1 == "" {
		v1 = v2
	}
	acct := sdkAccount(t, s, root)

	cliOK := func(t *testing.T, bin string, c awsCreds, v any, args ...string) {
		t.Helper()
		out, errOut, ok := awsRun(s, bin, "us-east-1", c, args...)
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
		out, errOut, ok := awsRun(s, bin, "us-east-1", c, args...)
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
		qOK(t, s, root, nil, "iam", "CreateUser", "UserName", "quota")
		qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "quota", "PolicyName", "one", "PolicyDocument", doc(1200))
		cliFails(t, v1, root, "LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user quota",
			"iam", "put-user-policy", "--user-name", "quota", "--policy-name", "two", "--policy-document", doc(1000))
		qStatus(t, "LimitExceeded", 409, "iam", "PutUserPolicy", "UserName", "quota", "PolicyName", "two", "PolicyDocument", doc(1000))
		var names struct {
			PolicyNames []string `xml:"ListUserPoliciesResult>PolicyNames>member"`
		}
		qOK(t, s, root, &names, "iam", "ListUserPolicies", "UserName", "quota")
		if len(names.PolicyNames) != 1 {
			t.Fatalf("a refused inline policy was kept: %v", names.PolicyNames)
		}
		qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "quota", "PolicyName", "two", "PolicyDocument", doc(848))

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
			Arn string `xml:"CreatePolicyResult>Policy>Arn"`
		}
		qOK(t, s, root, &p, "iam", "CreatePolicy", "PolicyName", "versions", "Description", "encrypts", "PolicyDocument", doc(150))
		for range 2 {
			qOK(t, s, root, nil, "iam", "CreatePolicyVersion", "PolicyArn", p.Arn, "PolicyDocument", doc(160))
		}
		var l struct {
			Versions []struct {
				VersionId        string
				IsDefaultVersion bool
			} `xml:"ListPolicyVersionsResult>Versions>member"`
		}
		qOK(t, s, root, &l, "iam", "ListPolicyVersions", "PolicyArn", p.Arn)
		if len(l.Versions) != 3 || l.Versions[0].VersionId != "v3" || l.Versions[2].VersionId != "v1" || !l.Versions[2].IsDefaultVersion {
			t.Fatalf("want v3, v2, v1 (default): %+v", l.Versions)
		}
		var lp struct {
			Policies []struct {
				Arn         string
				Description *string
			} `xml:"ListPoliciesResult>Policies>member"`
		}
		qOK(t, s, root, &lp, "iam", "ListPolicies", "Scope", "Local")
		if len(lp.Policies) != 1 || lp.Policies[0].Arn != p.Arn {
			t.Fatalf("%+v", lp)
		}
		if d := lp.Policies[0].Description; d != nil {
			t.Fatalf("ListPolicies lists the description: %q", *d)
		}
		var gp struct {
			Description string `xml:"GetPolicyResult>Policy>Description"`
		}
		qOK(t, s, root, &gp, "iam", "GetPolicy", "PolicyArn", p.Arn)
		if gp.Description != "encrypts" {
			t.Fatalf("%+v", gp)
		}
		// Deleting a policy with versions besides the default, or attached: DeleteConflict.
		qStatus(t, "DeleteConflict", 409, "iam", "DeletePolicy", "PolicyArn", p.Arn)
	})

	t.Run("RoleLastUsedAndRoleSessions", func(t *testing.T) {
		user, userARN := sdkNewIAMUser(t, s, root, "assumer")
		trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + userARN + `"},"Action":"sts:AssumeRole"}]}`
		var cr struct {
			Arn string `xml:"CreateRoleResult>Role>Arn"`
		}
		qOK(t, s, root, &cr, "iam", "CreateRole", "RoleName", "used", "AssumeRolePolicyDocument", trust)
		qOK(t, s, root, nil, "iam", "PutRolePolicy", "RoleName", "used", "PolicyName", "read",
			"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}`)
		// A role never used has an empty RoleLastUsed (the CLIs show {}).
		var gr struct {
			RoleLastUsed *struct {
				Inner string `xml:",innerxml"`
			} `xml:"GetRoleResult>Role>RoleLastUsed"`
		}
		qOK(t, s, root, &gr, "iam", "GetRole", "RoleName", "used")
		if gr.RoleLastUsed == nil || strings.TrimSpace(gr.RoleLastUsed.Inner) != "" {
			t.Fatalf("a role never used: RoleLastUsed %+v", gr.RoleLastUsed)
		}

		// Assumed with the v1 CLI in another region than the node's.
		before := time.Now().Add(-time.Second)
		out, errOut, ok := awsRun(s, v1, "eu-west-3", user, "sts", "assume-role", "--role-arn", cr.Arn, "--role-session-name", "conformance")
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

		var g struct {
			RoleLastUsed struct{ LastUsedDate, Region string } `xml:"GetRoleResult>Role>RoleLastUsed"`
		}
		qOK(t, s, root, &g, "iam", "GetRole", "RoleName", "used")
		used, err := time.Parse(time.RFC3339, g.RoleLastUsed.LastUsedDate)
		if err != nil || used.Before(before) || used.After(time.Now().Add(time.Second)) || g.RoleLastUsed.Region != "eu-west-3" {
			t.Fatalf("RoleLastUsed %+v (%v)", g.RoleLastUsed, err)
		}
		var ad struct {
			RoleDetailList []struct {
				RoleName     string
				RoleLastUsed struct{ LastUsedDate, Region string }
			} `xml:"GetAccountAuthorizationDetailsResult>RoleDetailList>member"`
		}
		qOK(t, s, root, &ad, "iam", "GetAccountAuthorizationDetails", "Filter.member.1", "Role")
		found := false
		for _, r := range ad.RoleDetailList {
			if r.RoleName == "used" && (r.RoleLastUsed.Region != "eu-west-3" || r.RoleLastUsed.LastUsedDate == "") {
				t.Fatalf("authorization details: %+v", r)
			}
			found = found || r.RoleName == "used"
		}
		if !found {
			t.Fatalf("authorization details without the role: %+v", ad)
		}
		var lr struct {
			Roles []struct {
				RoleName     string
				RoleLastUsed *struct{}
			} `xml:"ListRolesResult>Roles>member"`
		}
		qOK(t, s, root, &lr, "iam", "ListRoles")
		if len(lr.Roles) == 0 {
			t.Fatal("ListRoles: no role")
		}
		for _, r := range lr.Roles {
			if r.RoleLastUsed != nil {
				t.Fatalf("ListRoles returns RoleLastUsed: %+v", r)
			}
		}

		// The role's session has no IAM user: GetUser without a name is refused.
		sess := awsCreds{AccessKeyID: ar.Credentials.AccessKeyId, SecretAccessKey: ar.Credentials.SecretAccessKey, SessionToken: ar.Credentials.SessionToken}
		if m := qFails(t, s, sess, "ValidationError", "iam", "GetUser"); !strings.Contains(m, "Must specify userName when calling with non-User credentials") {
			t.Fatalf("GetUser with a role session: %s", m)
		}
		var me struct {
			Arn    string `xml:"GetCallerIdentityResult>Arn"`
			UserId string `xml:"GetCallerIdentityResult>UserId"`
		}
		qOK(t, s, sess, &me, "sts", "GetCallerIdentity")
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
		sess := sdkTempCreds(t, s, user, "GetSessionToken", "DurationSeconds", "900")
		if m := qFails(t, s, sess, "InvalidClientTokenId", "iam", "ListUsers"); !strings.Contains(m, "The security token included in the request is invalid") {
			t.Fatalf("ListUsers with a session token: %s", m)
		}
		qOK(t, s, user, nil, "iam", "ListUsers")
		var me struct {
			Arn string `xml:"GetCallerIdentityResult>Arn"`
		}
		qOK(t, s, sess, &me, "sts", "GetCallerIdentity")
		if !strings.HasSuffix(me.Arn, ":user/gst-user") {
			t.Fatal(me)
		}
	})

	t.Run("PolicyAndMFADeviceTags", func(t *testing.T) {
		type tagList struct {
			Tags []struct{ Key, Value string } `xml:"Result>Tags>member"`
		}
		// listTags calls ListPolicyTags or ListMFADeviceTags (whose result element is
		// <{Action}Result>).
		listTags := func(action string, params ...string) tagList {
			t.Helper()
			b, err := queryCall(s, root, "iam", action, params...)
			if err != nil {
				t.Fatalf("%s: %v", action, err)
			}
			var l tagList
			if err := xml.Unmarshal(bytes.ReplaceAll(b, []byte(action+"Result>"), []byte("Result>")), &l); err != nil {
				t.Fatalf("%s: %v\n%s", action, err, b)
			}
			return l
		}
		var p struct {
			Arn string `xml:"CreatePolicyResult>Policy>Arn"`
		}
		qOK(t, s, root, &p, "iam", "CreatePolicy", "PolicyName", "tagged", "PolicyDocument", doc(150), "Tags.member.1.Key", "team", "Tags.member.1.Value", "a")
		qOK(t, s, root, nil, "iam", "TagPolicy", "PolicyArn", p.Arn, "Tags.member.1.Key", "Team", "Tags.member.1.Value", "b",
			"Tags.member.2.Key", "env", "Tags.member.2.Value", "prod")
		qOK(t, s, root, nil, "iam", "UntagPolicy", "PolicyArn", p.Arn, "TagKeys.member.1", "env")
		if lt := listTags("ListPolicyTags", "PolicyArn", p.Arn); len(lt.Tags) != 1 || lt.Tags[0].Key != "Team" || lt.Tags[0].Value != "b" {
			t.Fatalf("%+v", lt)
		}
		var d struct {
			SerialNumber string `xml:"CreateVirtualMFADeviceResult>VirtualMFADevice>SerialNumber"`
		}
		qOK(t, s, root, &d, "iam", "CreateVirtualMFADevice", "VirtualMFADeviceName", "tagged")
		qOK(t, s, root, nil, "iam", "TagMFADevice", "SerialNumber", d.SerialNumber, "Tags.member.1.Key", "owner", "Tags.member.1.Value", "ops")
		if lt := listTags("ListMFADeviceTags", "SerialNumber", d.SerialNumber); len(lt.Tags) != 1 || lt.Tags[0].Key != "owner" {
			t.Fatalf("%+v", lt)
		}
		qStatus(t, "NoSuchEntity", 404, "iam", "ListPolicyTags", "PolicyArn", "arn:aws:iam::"+acct+":policy/none")

		// No instance profiles: an empty list (present, without members) for an existing role.
		trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
		qOK(t, s, root, nil, "iam", "CreateRole", "RoleName", "profiles", "AssumeRolePolicyDocument", trust)
		var ip struct {
			InstanceProfiles *struct {
				Members []struct{} `xml:"member"`
			} `xml:"ListInstanceProfilesForRoleResult>InstanceProfiles"`
		}
		qOK(t, s, root, &ip, "iam", "ListInstanceProfilesForRole", "RoleName", "profiles")
		if ip.InstanceProfiles == nil || len(ip.InstanceProfiles.Members) != 0 {
			t.Fatalf("InstanceProfiles %+v", ip.InstanceProfiles)
		}
		qStatus(t, "NoSuchEntity", 404, "iam", "ListInstanceProfilesForRole", "RoleName", "absent")
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
