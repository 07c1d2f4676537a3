package iam

import "context"

// summaryEntry is one entry of GetAccountSummary's SummaryMap.
type summaryEntry struct {
	Key   string `xml:"key"`
	Value int    `xml:"value"`
}

type GetAccountSummaryOutput struct {
	SummaryMap []summaryEntry `xml:"SummaryMap>entry"`
}

// GetAccountSummary counts the account's IAM entities, as CIS-style checks read them
// (AccountMFAEnabled, AccountAccessKeysPresent), with the quotas Coffer enforces. Quotas
// Coffer does not enforce (UsersQuota, RolesQuota...) are not reported; Coffer has no
// server or signing certificates, so those counts are 0.
func (s *Service) GetAccountSummary(ctx context.Context, c Caller, _ struct{}) (*GetAccountSummaryOutput, error) {
	counts := map[string]int{}
	s.mu.RLock()
	for _, e := range s.ents {
		if e.Account != c.Account {
			continue
		}
		switch e.Kind {
		case kindUser:
			counts["Users"]++
		case kindGroup:
			counts["Groups"]++
		case kindRole:
			counts["Roles"]++
		}
	}
	for _, p := range s.policies {
		if p.Account == c.Account {
			counts["Policies"]++
			counts["PolicyVersionsInUse"] += len(p.Versions)
		}
	}
	for _, m := range s.mfas {
		if m.Account == c.Account {
			counts["MFADevices"]++
			if m.UserName != "" && !m.Enabled.IsZero() {
				counts["MFADevicesInUse"]++
			}
		}
	}
	s.mu.RUnlock()
	// The root's access keys are the configured root credentials; Coffer's root has no
	// MFA device.
	if len(s.rootKeys(c.Account)) > 0 {
		counts["AccountAccessKeysPresent"] = 1
	}
	out := &GetAccountSummaryOutput{}
	for _, k := range []string{"Users", "Groups", "Roles", "Policies", "PolicyVersionsInUse", "MFADevices", "MFADevicesInUse",
		"AccountMFAEnabled", "AccountAccessKeysPresent", "AccountSigningCertificatesPresent", "ServerCertificates"} {
		out.SummaryMap = append(out.SummaryMap, summaryEntry{k, counts[k]})
	}
	for _, q := range []summaryEntry{
		{"AccessKeysPerUserQuota", maxAccessKeysPerUser},
		{"AttachedPoliciesPerUserQuota", maxAttachedPolicies},
		{"AttachedPoliciesPerGroupQuota", maxAttachedPolicies},
		{"AttachedPoliciesPerRoleQuota", maxAttachedPolicies},
		{"GroupsPerUserQuota", maxGroupsPerUser},
		{"PolicySizeQuota", managedPolicyMaxChars},
		{"UserPolicySizeQuota", inlineMaxChars[kindUser]},
		{"GroupPolicySizeQuota", inlineMaxChars[kindGroup]},
		{"RolePolicySizeQuota", inlineMaxChars[kindRole]},
		{"AssumeRolePolicySizePerRoleQuota", trustPolicyMaxChars},
		{"VersionsPerPolicyQuota", maxPolicyVersions},
	} {
		out.SummaryMap = append(out.SummaryMap, q)
	}
	return out, nil
}
