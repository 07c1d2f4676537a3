package iam

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// authFixture: alice (inline + managed policy, in group devs), bob, group devs (inline +
// AWS managed policy), role deployer (inline + customer managed policy), and a customer
// managed policy with two versions attached to nothing.
func authFixture(t *testing.T, e *testEnv) (local, unused string) {
	t.Helper()
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:List*","Resource":"*"}]}`
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "alice", Path: "/eng/", Tags: []Tag{{"team", "a"}}}))
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "bob"}))
	must[*CreateGroupOutput](t)(e.s.CreateGroup(e.ctx, e.root, CreateGroupInput{GroupName: "devs"}))
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "deployer", AssumeRolePolicyDocument: trust}))
	p := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "kms-list", PolicyDocument: doc}))
	q := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "unused", PolicyDocument: doc}))
	must[*CreatePolicyVersionOutput](t)(e.s.CreatePolicyVersion(e.ctx, e.root, CreatePolicyVersionInput{PolicyArn: q.Policy.Arn, PolicyDocument: doc, SetAsDefault: true}))
	ops := Operations()
	run := func(op, body string) {
		t.Helper()
		if _, err := ops[op](e.s, e.ctx, e.root, []byte(body)); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	run("AddUserToGroup", "GroupName=devs&UserName=alice")
	run("PutUserPolicy", "UserName=alice&PolicyName=own&PolicyDocument="+url.QueryEscape(doc))
	run("AttachUserPolicy", "UserName=alice&PolicyArn="+url.QueryEscape(p.Policy.Arn))
	run("PutGroupPolicy", "GroupName=devs&PolicyName=grp&PolicyDocument="+url.QueryEscape(doc))
	run("AttachGroupPolicy", "GroupName=devs&PolicyArn=arn:aws:iam::aws:policy/ReadOnlyAccess")
	run("PutRolePolicy", "RoleName=deployer&PolicyName=deploy&PolicyDocument="+url.QueryEscape(doc))
	run("AttachRolePolicy", "RoleName=deployer&PolicyArn="+url.QueryEscape(p.Policy.Arn))
	return p.Policy.Arn, q.Policy.Arn
}

func TestGetAccountAuthorizationDetails(t *testing.T) {
	e := newTestEnv(t)
	local, unused := authFixture(t, e)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:List*","Resource":"*"}]}`
	out := must[*GetAccountAuthorizationDetailsOutput](t)(e.s.GetAccountAuthorizationDetails(e.ctx, e.root, GetAccountAuthorizationDetailsInput{}))
	if out.IsTruncated || out.Marker != "" {
		t.Fatalf("truncated: %+v", out)
	}
	users := out.UserDetailList.Members
	if len(users) != 2 || users[0].UserName != "alice" || users[1].UserName != "bob" {
		t.Fatalf("users %+v", users)
	}
	a := users[0]
	if a.Path != "/eng/" || a.Arn != "arn:aws:iam::"+acct+":user/eng/alice" || !userIDRE.MatchString(a.UserId) ||
		!slices.Equal(a.GroupList.Members, []string{"devs"}) || a.Tags == nil || a.Tags.Members[0] != (Tag{"team", "a"}) ||
		len(a.UserPolicyList.Members) != 1 || a.UserPolicyList.Members[0] != (PolicyDetail{"own", urlEncode(doc)}) ||
		len(a.AttachedManagedPolicies.Members) != 1 || a.AttachedManagedPolicies.Members[0] != (AttachedPolicy{"kms-list", local}) {
		t.Fatalf("alice %+v", a)
	}
	if b := users[1]; len(b.GroupList.Members) != 0 || len(b.UserPolicyList.Members) != 0 || b.Tags != nil {
		t.Fatalf("bob %+v", b)
	}
	g := out.GroupDetailList.Members
	if len(g) != 1 || g[0].GroupName != "devs" || g[0].GroupPolicyList.Members[0].PolicyName != "grp" ||
		g[0].AttachedManagedPolicies.Members[0] != (AttachedPolicy{"ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"}) {
		t.Fatalf("groups %+v", g)
	}
	r := out.RoleDetailList.Members
	if len(r) != 1 || r[0].RoleName != "deployer" || !strings.Contains(r[0].AssumeRolePolicyDocument, "sts%3AAssumeRole") ||
		r[0].RolePolicyList.Members[0].PolicyName != "deploy" || r[0].AttachedManagedPolicies.Members[0].PolicyArn != local {
		t.Fatalf("roles %+v", r)
	}
	// Policies: the two customer managed ones and the one attached AWS managed policy (not
	// the other AWS managed policies), by ARN.
	var arns []string
	for _, p := range out.Policies.Members {
		arns = append(arns, p.Arn)
	}
	if !slices.Equal(arns, []string{local, unused, "arn:aws:iam::aws:policy/ReadOnlyAccess"}) {
		t.Fatalf("policies %v", arns)
	}
	kl, un := out.Policies.Members[0], out.Policies.Members[1]
	if kl.AttachmentCount != 2 || kl.DefaultVersionId != "v1" || len(kl.PolicyVersionList.Members) != 1 ||
		kl.PolicyVersionList.Members[0] != (PolicyVersion{Document: urlEncode(doc), VersionId: "v1", IsDefaultVersion: true, CreateDate: kl.CreateDate}) {
		t.Fatalf("kms-list %+v", kl)
	}
	if un.AttachmentCount != 0 || un.DefaultVersionId != "v2" || len(un.PolicyVersionList.Members) != 2 ||
		un.PolicyVersionList.Members[0].IsDefaultVersion || !un.PolicyVersionList.Members[1].IsDefaultVersion {
		t.Fatalf("unused %+v", un)
	}
	if ro := out.Policies.Members[2]; ro.AttachmentCount != 1 || len(ro.PolicyVersionList.Members) != 1 || ro.PolicyVersionList.Members[0].Document == "" {
		t.Fatalf("ReadOnlyAccess %+v", ro)
	}

	// The XML: empty lists are present, documents URL-encoded.
	x := marshalResult(t, "GetAccountAuthorizationDetails", out)
	for _, want := range []string{"<InstanceProfileList></InstanceProfileList>", "<RoleLastUsed></RoleLastUsed>",
		"<UserName>bob</UserName><UserId>", "<UserPolicyList></UserPolicyList><GroupList></GroupList><AttachedManagedPolicies></AttachedManagedPolicies>",
		"<GroupList><member>devs</member></GroupList>", "<PolicyDocument>%7B%22Version%22"} {
		if !strings.Contains(x, want) {
			t.Errorf("XML lacks %s:\n%s", want, x)
		}
	}
}

func TestGetAccountAuthorizationDetailsFilterAndPaging(t *testing.T) {
	e := newTestEnv(t)
	authFixture(t, e)
	op := Operations()["GetAccountAuthorizationDetails"]
	call := func(body string) *GetAccountAuthorizationDetailsOutput {
		t.Helper()
		res, err := op(e.s, e.ctx, e.root, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return res.(*GetAccountAuthorizationDetailsOutput)
	}
	count := func(o *GetAccountAuthorizationDetailsOutput) [4]int {
		return [4]int{len(o.UserDetailList.Members), len(o.GroupDetailList.Members), len(o.RoleDetailList.Members), len(o.Policies.Members)}
	}
	for body, want := range map[string][4]int{
		"Filter.member.1=User":                                  {2, 0, 0, 0},
		"Filter.member.1=Role&Filter.member.2=Group":            {0, 1, 1, 0},
		"Filter.member.1=LocalManagedPolicy":                    {0, 0, 0, 2},
		"Filter.member.1=AWSManagedPolicy":                      {0, 0, 0, 1},
		"Filter.member.1=AWSManagedPolicy&Filter.member.2=User": {2, 0, 0, 1},
		"": {2, 1, 1, 3},
		"Filter.member.1=LocalManagedPolicy&Filter.member.2=Group": {0, 1, 0, 2},
	} {
		if got := count(call(body)); got != want {
			t.Errorf("%q: got %v, want %v", body, got, want)
		}
	}
	_, err := op(e.s, e.ctx, e.root, []byte("Filter.member.1=Users"))
	wantCode(t, err, "ValidationError")
	_, err = op(e.s, e.ctx, e.root, []byte("MaxItems=1001"))
	wantCode(t, err, "ValidationError")
	_, err = op(e.s, e.ctx, e.root, []byte("Marker=nonsense"))
	wantCode(t, err, "InvalidInput")

	// Pages of 2 span the lists: users, then a group and a role, then policies.
	var pages [][4]int
	marker := ""
	for {
		body := "MaxItems=2"
		if marker != "" {
			body += "&Marker=" + url.QueryEscape(marker)
		}
		o := call(body)
		pages = append(pages, count(o))
		if !o.IsTruncated {
			if o.Marker != "" {
				t.Fatalf("marker on the last page: %q", o.Marker)
			}
			break
		}
		if o.Marker == "" || len(pages) > 10 {
			t.Fatalf("truncated without marker, or endless: %+v", o)
		}
		marker = o.Marker
	}
	if !slices.Equal(pages, [][4]int{{2, 0, 0, 0}, {0, 1, 1, 0}, {0, 0, 0, 2}, {0, 0, 0, 1}}) {
		t.Fatalf("pages %v", pages)
	}
	// MaxItems=3 crosses list boundaries within a page.
	o := call("MaxItems=3")
	if count(o) != [4]int{2, 1, 0, 0} || !o.IsTruncated {
		t.Fatalf("%v %v", count(o), o.IsTruncated)
	}
	o = call("MaxItems=3&Marker=" + url.QueryEscape(o.Marker))
	if count(o) != [4]int{0, 0, 1, 2} || !o.IsTruncated {
		t.Fatalf("%v %v", count(o), o.IsTruncated)
	}

	// The identity decision is on "*" (the operation names no resource).
	if r := e.s.RequestResource(acct, "GetAccountAuthorizationDetails", []byte("Filter.member.1=User"), e.root.Principal.ARN); r != "*" {
		t.Fatalf("resource %s", r)
	}
}
