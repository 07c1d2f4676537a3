package iam

import (
	"encoding/xml"
	"strings"
	"testing"
)

// Managed policies and virtual MFA devices take tags after their creation, with the
// rules of user and role tags; the tags are replicated (they survive a restart).
func TestPolicyAndMFADeviceTags(t *testing.T) {
	e := newTestEnv(t)
	ops := Operations()
	p := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "p", PolicyDocument: allowKMSRead, Tags: []Tag{{"team", "a"}}}))
	arn := p.Policy.Arn
	if _, err := call(e, ops, "TagPolicy", "PolicyArn", arn, "Tags.member.1.Key", "Team", "Tags.member.1.Value", "b",
		"Tags.member.2.Key", "env", "Tags.member.2.Value", "prod"); err != nil {
		t.Fatal(err)
	}
	d := must[*CreateVirtualMFADeviceOutput](t)(e.s.CreateVirtualMFADevice(e.ctx, e.root, CreateVirtualMFADeviceInput{VirtualMFADeviceName: "m"}))
	serial := d.VirtualMFADevice.SerialNumber
	if _, err := call(e, ops, "TagMFADevice", "SerialNumber", serial, "Tags.member.1.Key", "owner", "Tags.member.1.Value", "ops"); err != nil {
		t.Fatal(err)
	}
	e.restart()
	ops = Operations()
	out, err := call(e, ops, "ListPolicyTags", "PolicyArn", arn)
	if err != nil {
		t.Fatal(err)
	}
	if tags := out.(*ListTagsOutput).Tags; len(tags) != 2 || tags[0] != (Tag{"Team", "b"}) || tags[1] != (Tag{"env", "prod"}) {
		t.Fatalf("%+v", tags)
	}
	if g := must[*PolicyOutput](t)(e.s.GetPolicy(e.ctx, e.root, PolicyArnInput{PolicyArn: arn})); g.Policy.Tags == nil || len(g.Policy.Tags.Members) != 2 {
		t.Fatalf("GetPolicy tags: %+v", g.Policy.Tags)
	}
	if _, err := call(e, ops, "UntagPolicy", "PolicyArn", arn, "TagKeys.member.1", "TEAM"); err != nil {
		t.Fatal(err)
	}
	out, _ = call(e, ops, "ListPolicyTags", "PolicyArn", arn, "MaxItems", "1")
	if l := out.(*ListTagsOutput); len(l.Tags) != 1 || l.Tags[0].Key != "env" || l.IsTruncated {
		t.Fatalf("%+v", l)
	}
	out, err = call(e, ops, "ListMFADeviceTags", "SerialNumber", serial)
	if err != nil || len(out.(*ListTagsOutput).Tags) != 1 || out.(*ListTagsOutput).Tags[0] != (Tag{"owner", "ops"}) {
		t.Fatal(out, err)
	}
	if _, err := call(e, ops, "UntagMFADevice", "SerialNumber", serial, "TagKeys.member.1", "owner"); err != nil {
		t.Fatal(err)
	}
	out, _ = call(e, ops, "ListMFADeviceTags", "SerialNumber", serial)
	b, _ := xml.Marshal(out)
	if !strings.Contains(string(b), "<Tags></Tags>") {
		t.Fatalf("%s", b)
	}

	// Errors: missing resources, the 50-tag quota, duplicate keys, AWS managed policies.
	_, err = call(e, ops, "TagPolicy", "PolicyArn", "arn:aws:iam::"+acct+":policy/none", "Tags.member.1.Key", "k", "Tags.member.1.Value", "v")
	wantCode(t, err, "NoSuchEntity")
	_, err = call(e, ops, "ListMFADeviceTags", "SerialNumber", "arn:aws:iam::"+acct+":mfa/none")
	wantCode(t, err, "NoSuchEntity")
	_, err = call(e, ops, "TagPolicy", "PolicyArn", arn)
	wantCode(t, err, "ValidationError")
	_, err = call(e, ops, "TagPolicy", "PolicyArn", arn, "Tags.member.1.Key", "k", "Tags.member.1.Value", "v", "Tags.member.2.Key", "K", "Tags.member.2.Value", "w")
	wantCode(t, err, "InvalidInput")
	var many []string
	for i := range 50 {
		many = append(many, "Tags.member."+itoa(i+1)+".Key", "k"+itoa(i), "Tags.member."+itoa(i+1)+".Value", "v")
	}
	_, err = call(e, ops, "TagMFADevice", append([]string{"SerialNumber", serial}, many...)...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = call(e, ops, "TagMFADevice", "SerialNumber", serial, "Tags.member.1.Key", "one-more", "Tags.member.1.Value", "v")
	wantCode(t, err, "LimitExceeded")
	_, err = call(e, ops, "TagPolicy", "PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess", "Tags.member.1.Key", "k", "Tags.member.1.Value", "v")
	if err == nil {
		t.Fatal("an AWS managed policy was tagged")
	}
	out, err = call(e, ops, "ListPolicyTags", "PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess")
	if err != nil || len(out.(*ListTagsOutput).Tags) != 0 {
		t.Fatal(out, err)
	}
}

// ListInstanceProfilesForRole: none for an existing role, NoSuchEntity for a missing one.
func TestListInstanceProfilesForRole(t *testing.T) {
	e := newTestEnv(t)
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "R", AssumeRolePolicyDocument: trustDoc("arn:aws:iam::"+acct+":root", "")}))
	out, err := call(e, Operations(), "ListInstanceProfilesForRole", "RoleName", "r")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := xml.Marshal(out)
	if !strings.Contains(string(b), "<InstanceProfiles></InstanceProfiles><IsTruncated>false</IsTruncated>") {
		t.Fatalf("%s", b)
	}
	_, err = call(e, Operations(), "ListInstanceProfilesForRole", "RoleName", "missing")
	wantCode(t, err, "NoSuchEntity")
}
