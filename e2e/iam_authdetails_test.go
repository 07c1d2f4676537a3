package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

type authDetails struct {
	UserDetailList []struct {
		UserName, Arn, UserId string
		GroupList             []string
		UserPolicyList        []struct {
			PolicyName     string
			PolicyDocument json.RawMessage
		}
		AttachedManagedPolicies []struct{ PolicyName, PolicyArn string }
	}
	GroupDetailList []struct {
		GroupName       string
		GroupPolicyList []struct {
			PolicyName     string
			PolicyDocument json.RawMessage
		}
		AttachedManagedPolicies []struct{ PolicyName, PolicyArn string }
	}
	RoleDetailList []struct {
		RoleName                 string
		AssumeRolePolicyDocument json.RawMessage
		InstanceProfileList      []any
		RolePolicyList           []struct{ PolicyName string }
		AttachedManagedPolicies  []struct{ PolicyName, PolicyArn string }
	}
	Policies []struct {
		PolicyName, Arn, DefaultVersionId string
		AttachmentCount                   int
		PolicyVersionList                 []struct {
			VersionId        string
			IsDefaultVersion bool
			Document         json.RawMessage
		}
	}
	NextToken string
}

func (d authDetails) userNames() []string {
	var out []string
	for _, u := range d.UserDetailList {
		out = append(out, u.UserName)
	}
	return out
}

func (d authDetails) counts() [4]int {
	return [4]int{len(d.UserDetailList), len(d.GroupDetailList), len(d.RoleDetailList), len(d.Policies)}
}

// TestIAMAuthorizationDetailsStory: an auditor reads who can do what with Debian's
// `aws iam get-account-authorization-details` (filters, paging), and a user renamed with
// `aws iam update-user` keeps its access key, groups and policies. The CLI runs the
// get-account-authorization-details and update-user commands; the setup and the checks of
// server behaviour (refusals, the renamed user's key and identity) use queryCall.
func TestIAMAuthorizationDetailsStory(t *testing.T) {
	t.Parallel() // independent node
	s, root := debianCLINode(t)
	acct := sdkAccount(t, s, root)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetAccountAuthorizationDetails","Resource":"*"}]}`

	// dana audits through group auditors (inline policy) and also has a managed policy; erin
	// has no permission; role deployer has an inline and an AWS managed policy.
	dana, _ := sdkNewIAMUser(t, s, root, "dana")
	erin, _ := sdkNewIAMUser(t, s, root, "erin")
	// The group commands, attach-user-policy and put-role-policy run with the CLI once
	// here (their only CLI use in the suite); the rest of the setup through queryCall.
	awsOK(t, s, root, nil, "iam", "create-group", "--group-name", "auditors")
	awsOK(t, s, root, nil, "iam", "add-user-to-group", "--group-name", "auditors", "--user-name", "dana")
	awsOK(t, s, root, nil, "iam", "put-group-policy", "--group-name", "auditors", "--policy-name", "audit", "--policy-document", doc)
	var pol struct {
		Policy struct{ Arn string } `xml:"CreatePolicyResult>Policy"`
	}
	qOK(t, s, root, &pol, "iam", "CreatePolicy", "PolicyName", "kms-list",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:List*","Resource":"*"}]}`)
	if pol.Policy.Arn == "" {
		t.Fatal("CreatePolicy: no Arn")
	}
	awsOK(t, s, root, nil, "iam", "attach-user-policy", "--user-name", "dana", "--policy-arn", pol.Policy.Arn)
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "dana", "PolicyName", "own",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}`)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
	qOK(t, s, root, nil, "iam", "CreateRole", "RoleName", "deployer", "AssumeRolePolicyDocument", trust)
	awsOK(t, s, root, nil, "iam", "put-role-policy", "--role-name", "deployer", "--policy-name", "deploy",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`)
	qOK(t, s, root, nil, "iam", "AttachRolePolicy", "RoleName", "deployer", "PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess")

	// The whole picture, read by dana (allowed through her group).
	var all authDetails
	awsOK(t, s, dana, &all, "iam", "get-account-authorization-details")
	if got := all.userNames(); !slices.Equal(got, []string{"dana", "erin"}) {
		t.Fatalf("users %v", got)
	}
	d := all.UserDetailList[0]
	if !slices.Equal(d.GroupList, []string{"auditors"}) || len(d.UserPolicyList) != 1 || d.UserPolicyList[0].PolicyName != "own" ||
		!strings.Contains(string(d.UserPolicyList[0].PolicyDocument), `"sts:GetCallerIdentity"`) ||
		len(d.AttachedManagedPolicies) != 1 || d.AttachedManagedPolicies[0].PolicyArn != pol.Policy.Arn {
		t.Fatalf("dana %+v", d)
	}
	if e := all.UserDetailList[1]; e.GroupList == nil || len(e.GroupList) != 0 || len(e.UserPolicyList) != 0 {
		t.Fatalf("erin %+v", e) // empty lists are present (as [])
	}
	if len(all.GroupDetailList) != 1 || all.GroupDetailList[0].GroupName != "auditors" || len(all.GroupDetailList[0].GroupPolicyList) != 1 ||
		!strings.Contains(string(all.GroupDetailList[0].GroupPolicyList[0].PolicyDocument), "iam:GetAccountAuthorizationDetails") {
		t.Fatalf("groups %+v", all.GroupDetailList)
	}
	if len(all.RoleDetailList) != 1 {
		t.Fatalf("roles %+v", all.RoleDetailList)
	}
	r := all.RoleDetailList[0]
	if r.RoleName != "deployer" || !strings.Contains(string(r.AssumeRolePolicyDocument), "sts:AssumeRole") || r.InstanceProfileList == nil ||
		len(r.RolePolicyList) != 1 || len(r.AttachedManagedPolicies) != 1 || r.AttachedManagedPolicies[0].PolicyName != "ReadOnlyAccess" {
		t.Fatalf("role %+v", r)
	}
	// kms-list and the one attached AWS managed policy; the CLI decodes the documents.
	if len(all.Policies) != 2 || all.Policies[0].Arn != pol.Policy.Arn || all.Policies[1].Arn != "arn:aws:iam::aws:policy/ReadOnlyAccess" ||
		all.Policies[0].AttachmentCount != 1 || len(all.Policies[0].PolicyVersionList) != 1 ||
		!all.Policies[0].PolicyVersionList[0].IsDefaultVersion || !strings.Contains(string(all.Policies[0].PolicyVersionList[0].Document), `"kms:List*"`) {
		t.Fatalf("policies %+v", all.Policies)
	}

	// --filter.
	var users authDetails
	awsOK(t, s, dana, &users, "iam", "get-account-authorization-details", "--filter", "User")
	if users.counts() != [4]int{2, 0, 0, 0} {
		t.Fatalf("--filter User: %v", users.counts())
	}
	var some authDetails
	awsOK(t, s, dana, &some, "iam", "get-account-authorization-details", "--filter", "Role", "LocalManagedPolicy")
	if some.counts() != [4]int{0, 0, 1, 1} {
		t.Fatalf("--filter Role LocalManagedPolicy: %v", some.counts())
	}

	// Paging: the CLI follows Marker across pages of one item and gathers the same picture.
	var paged authDetails
	awsOK(t, s, dana, &paged, "iam", "get-account-authorization-details", "--page-size", "1")
	if paged.counts() != all.counts() || !slices.Equal(paged.userNames(), all.userNames()) {
		t.Fatalf("--page-size 1: %v, want %v", paged.counts(), all.counts())
	}
	// --max-items 1: one item and a NextToken, from which the rest follows.
	var first, rest authDetails
	awsOK(t, s, dana, &first, "iam", "get-account-authorization-details", "--max-items", "1", "--page-size", "1")
	if first.counts() != [4]int{1, 0, 0, 0} || first.NextToken == "" {
		t.Fatalf("--max-items 1: %v %q", first.counts(), first.NextToken)
	}
	awsOK(t, s, dana, &rest, "iam", "get-account-authorization-details", "--page-size", "1", "--starting-token", first.NextToken)
	if rest.counts() != [4]int{1, 1, 1, 2} || !slices.Equal(rest.userNames(), []string{"erin"}) {
		t.Fatalf("rest: %v %v", rest.counts(), rest.userNames())
	}
	// Invalid filter: the CLI's own validation or the server's.
	if _, errOut, ok := awsAs(t, s, dana, "iam", "get-account-authorization-details", "--filter", "Users"); ok {
		t.Fatal("bad filter accepted")
	} else if !strings.Contains(errOut, "Users") {
		t.Fatalf("bad filter: %s", errOut)
	}

	// erin has no iam:GetAccountAuthorizationDetails.
	msg := qDenied(t, s, erin, "iam", "GetAccountAuthorizationDetails")
	if !strings.Contains(msg, "iam:GetAccountAuthorizationDetails") {
		t.Fatalf("denial: %s", msg)
	}

	// Rename dana: her access key keeps working as the new ARN, with her group's policy.
	qFails(t, s, root, "EntityAlreadyExists", "iam", "UpdateUser", "UserName", "dana", "NewUserName", "erin")
	awsOK(t, s, root, nil, "iam", "update-user", "--user-name", "dana", "--new-user-name", "dana.audit", "--new-path", "/audit/")
	var me struct {
		Arn string `xml:"GetCallerIdentityResult>Arn"`
	}
	qOK(t, s, dana, &me, "sts", "GetCallerIdentity")
	if me.Arn != "arn:aws:iam::"+acct+":user/audit/dana.audit" {
		t.Fatalf("caller after rename: %s", me.Arn)
	}
	var after authDetails
	awsOK(t, s, dana, &after, "iam", "get-account-authorization-details", "--filter", "User")
	if got := after.userNames(); !slices.Equal(got, []string{"dana.audit", "erin"}) {
		t.Fatalf("users after rename %v", got)
	}
	if a := after.UserDetailList[0]; a.UserId != d.UserId || a.Arn != me.Arn || !slices.Equal(a.GroupList, []string{"auditors"}) ||
		len(a.UserPolicyList) != 1 || len(a.AttachedManagedPolicies) != 1 {
		t.Fatalf("renamed %+v", a)
	}
	var keys struct {
		AccessKeyMetadata []struct{ UserName, AccessKeyId string } `xml:"ListAccessKeysResult>AccessKeyMetadata>member"`
	}
	qOK(t, s, root, &keys, "iam", "ListAccessKeys", "UserName", "dana.audit")
	if len(keys.AccessKeyMetadata) != 1 || keys.AccessKeyMetadata[0].AccessKeyId != dana.AccessKeyID || keys.AccessKeyMetadata[0].UserName != "dana.audit" {
		t.Fatalf("keys %+v", keys)
	}
	qFails(t, s, root, "NoSuchEntity", "iam", "GetUser", "UserName", "dana")

	// iam:UpdateUser is needed on the user as it is and as it will be: erin may rename
	// users under /team/ only within /team/.
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "erin", "PolicyName", "team-admin",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:UpdateUser","Resource":"arn:aws:iam::`+acct+`:user/team/*"}]}`)
	qOK(t, s, root, nil, "iam", "CreateUser", "UserName", "tm", "Path", "/team/")
	qOK(t, s, erin, nil, "iam", "UpdateUser", "UserName", "tm", "NewUserName", "tm2")
	if msg := qDenied(t, s, erin, "iam", "UpdateUser", "UserName", "tm2", "NewPath", "/admin/"); !strings.Contains(msg, "user/admin/tm2") {
		t.Fatalf("denial: %s", msg)
	}
	qDenied(t, s, erin, "iam", "UpdateUser", "UserName", "dana.audit", "NewPath", "/team/")
	var tm struct {
		User struct{ Arn string } `xml:"GetUserResult>User"`
	}
	qOK(t, s, root, &tm, "iam", "GetUser", "UserName", "tm2")
	if tm.User.Arn != "arn:aws:iam::"+acct+":user/team/tm2" {
		t.Fatalf("tm2: %s", tm.User.Arn)
	}
}
