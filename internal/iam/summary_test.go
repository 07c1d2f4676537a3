package iam

import (
	"encoding/xml"
	"strings"
	"testing"
)

// GetAccountSummary counts the account's entities (not another account's) and reports
// the quotas Coffer enforces, in the SummaryMap entry shape the SDKs decode.
func TestGetAccountSummary(t *testing.T) {
	e := newTestEnv(t)
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "alice"}))
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "bob"}))
	must[*CreateGroupOutput](t)(e.s.CreateGroup(e.ctx, e.root, CreateGroupInput{GroupName: "ops"}))
	must[*CreateRoleOutput](t)(e.s.CreateRole(e.ctx, e.root, CreateRoleInput{RoleName: "app", AssumeRolePolicyDocument: trustDoc("arn:aws:iam::"+acct+":user/alice", "")}))
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}`
	p := must[*PolicyOutput](t)(e.s.CreatePolicy(e.ctx, e.root, CreatePolicyInput{PolicyName: "decrypt", PolicyDocument: doc}))
	must[*CreatePolicyVersionOutput](t)(e.s.CreatePolicyVersion(e.ctx, e.root, CreatePolicyVersionInput{PolicyArn: p.Policy.Arn, PolicyDocument: doc}))
	must[*CreateVirtualMFADeviceOutput](t)(e.s.CreateVirtualMFADevice(e.ctx, e.root, CreateVirtualMFADeviceInput{VirtualMFADeviceName: "spare"}))

	got := map[string]int{}
	for _, en := range must[*GetAccountSummaryOutput](t)(e.s.GetAccountSummary(e.ctx, e.root, struct{}{})).SummaryMap {
		got[en.Key] = en.Value
	}
	for k, want := range map[string]int{"Users": 2, "Groups": 1, "Roles": 1, "Policies": 1, "PolicyVersionsInUse": 2,
		"MFADevices": 1, "MFADevicesInUse": 0, "AccountMFAEnabled": 0, "AccountAccessKeysPresent": 1,
		"AccessKeysPerUserQuota": 2, "VersionsPerPolicyQuota": 5, "PolicySizeQuota": 6144,
		"UserPolicySizeQuota": 2048, "GroupPolicySizeQuota": 5120, "RolePolicySizeQuota": 10240, "AssumeRolePolicySizePerRoleQuota": 2048} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %d (present %v), want %d", k, v, ok, want)
		}
	}
	other := e.root
	other.Account = "444455556666"
	for _, en := range must[*GetAccountSummaryOutput](t)(e.s.GetAccountSummary(e.ctx, other, struct{}{})).SummaryMap {
		if en.Key == "Users" && en.Value != 0 || en.Key == "AccountAccessKeysPresent" && en.Value != 0 {
			t.Errorf("another account: %s = %d", en.Key, en.Value)
		}
	}
	b, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"GetAccountSummaryResult"`
		*GetAccountSummaryOutput
	}{GetAccountSummaryOutput: &GetAccountSummaryOutput{SummaryMap: []summaryEntry{{"Users", 2}}}})
	if !strings.Contains(string(b), "<SummaryMap><entry><key>Users</key><value>2</value></entry></SummaryMap>") {
		t.Fatalf("XML: %s", b)
	}
}
