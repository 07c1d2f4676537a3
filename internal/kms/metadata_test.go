package kms

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func (e *testEnv) mdSetPendingDeletion(keyID string) {
	e.t.Helper()
	if _, err := e.k.update(e.ctx, e.c, keyID, func(k *keyRec, m *material) error {
		k.State = StatePendingDeletion
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

func mdIntp(n int) *int { return &n }

func mdMustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMetadataOpsRegistered(t *testing.T) {
	all := Operations()
	for _, name := range []string{"CreateAlias", "UpdateAlias", "DeleteAlias", "ListAliases", "TagResource", "UntagResource",
		"ListResourceTags", "GetKeyPolicy", "PutKeyPolicy", "ListKeyPolicies", "CreateGrant", "ListGrants",
		"ListRetirableGrants", "RetireGrant", "RevokeGrant"} {
		if metadataOps[name] == nil || all[name] == nil {
			t.Errorf("%s is not registered", name)
		}
	}
}

// TestMetadataWire drives the operations through the Op table with AWS's JSON.
func TestMetadataWire(t *testing.T) {
	e := newTestEnv(t)
	md := e.createKey(CreateKeyInput{})
	call := func(name, body string) map[string]any {
		t.Helper()
		out, err := metadataOps[name](e.k, e.ctx, e.c, []byte(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := json.Marshal(out)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	call("CreateAlias", `{"AliasName":"alias/wire","TargetKeyId":"`+md.KeyId+`"}`)
	la := call("ListAliases", `{"Limit":10}`)
	a := la["Aliases"].([]any)[0].(map[string]any)
	for _, f := range []string{"AliasName", "AliasArn", "TargetKeyId", "CreationDate", "LastUpdatedDate"} {
		if a[f] == nil {
			t.Errorf("ListAliases entry lacks %s: %v", f, a)
		}
	}
	if la["Truncated"] != false {
		t.Errorf("%v", la)
	}
	call("TagResource", `{"KeyId":"`+md.KeyId+`","Tags":[{"TagKey":"k","TagValue":"v"}]}`)
	if tags := call("ListResourceTags", `{"KeyId":"`+md.Arn+`"}`); fmt.Sprint(tags["Tags"]) != "[map[TagKey:k TagValue:v]]" {
		t.Errorf("%v", tags)
	}
	call("UntagResource", `{"KeyId":"`+md.KeyId+`","TagKeys":["k"]}`)
	if pol := call("GetKeyPolicy", `{"KeyId":"`+md.KeyId+`"}`); pol["PolicyName"] != "default" || pol["Policy"] != DefaultPolicy(e.c.Account) {
		t.Errorf("%v", pol)
	}
	if lp := call("ListKeyPolicies", `{"KeyId":"`+md.KeyId+`"}`); fmt.Sprint(lp["PolicyNames"]) != "[default]" || lp["Truncated"] != false {
		t.Errorf("%v", lp)
	}
	g := call("CreateGrant", `{"KeyId":"`+md.KeyId+`","GranteePrincipal":"arn:aws:iam::111122223333:role/app","Operations":["Encrypt","Decrypt"],"Constraints":{"EncryptionContextEquals":{"a":"b"}}}`)
	if g["GrantId"] == nil || g["GrantToken"] == nil {
		t.Fatalf("%v", g)
	}
	lg := call("ListGrants", `{"KeyId":"`+md.KeyId+`"}`)
	ge := lg["Grants"].([]any)[0].(map[string]any)
	for _, f := range []string{"KeyId", "GrantId", "CreationDate", "GranteePrincipal", "IssuingAccount", "Operations", "Constraints"} {
		if ge[f] == nil {
			t.Errorf("ListGrants entry lacks %s: %v", f, ge)
		}
	}
	if fmt.Sprint(ge["Constraints"]) != "map[EncryptionContextEquals:map[a:b]]" || ge["IssuingAccount"] != "arn:aws:iam::111122223333:root" || ge["KeyId"] != md.Arn {
		t.Errorf("%v", ge)
	}
	call("RetireGrant", `{"GrantToken":"`+g["GrantToken"].(string)+`"}`)
	call("DeleteAlias", `{"AliasName":"alias/wire"}`)
	if _, err := metadataOps["CreateGrant"](e.k, e.ctx, e.c, []byte(`{"KeyId":1}`)); err == nil {
		t.Fatal("wrong type accepted")
	} else {
		wantCode(t, err, "SerializationException")
	}
}

// ---- aliases ----

func TestAliases(t *testing.T) {
	e := newTestEnv(t)
	a := e.createKey(CreateKeyInput{})
	b := e.createKey(CreateKeyInput{})
	rsa := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt})
	hmac := e.createKey(CreateKeyInput{KeySpec: SpecHMAC256, KeyUsage: UsageMAC})
	mdMustNil(t, e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: "alias/app", TargetKeyId: a.KeyId}))
	mdMustNil(t, e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: "alias/rsa", TargetKeyId: rsa.Arn}))

	// Aliases are usable as KeyId (name and ARN).
	for _, id := range []string{"alias/app", aliasARN("us-east-1", e.c.Account, "alias/app")} {
		d, err := e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: id})
		if err != nil || d.KeyMetadata.KeyId != a.KeyId {
			t.Fatalf("%s: %v %+v", id, err, d)
		}
		enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: id, Plaintext: []byte("x")})
		if err != nil || enc.KeyId != a.Arn {
			t.Fatalf("%s: %v", id, err)
		}
	}

	long := "alias/" + strings.Repeat("a", 251)
	otherRegion := keyARN("eu-west-1", e.c.Account, a.KeyId)
	otherAccount := keyARN("us-east-1", "999999999999", a.KeyId)
	for _, tc := range []struct {
		name, target, code string
	}{
		{"", a.KeyId, "ValidationException"},
		{"app", a.KeyId, "ValidationException"},
		{"alias/", a.KeyId, "ValidationException"},
		{"alias/with space", a.KeyId, "ValidationException"},
		{"alias/dot.not.allowed", a.KeyId, "ValidationException"},
		{long, a.KeyId, "ValidationException"},
		{"alias/aws/mine", a.KeyId, "NotAuthorizedException"},
		{"alias/AWS/mine", a.KeyId, "NotAuthorizedException"},
		{"alias/app", b.KeyId, "AlreadyExistsException"},
		{"alias/new", "", "ValidationException"},
		{"alias/new", "alias/app", "ValidationException"},
		{"alias/new", aliasARN("us-east-1", e.c.Account, "alias/app"), "ValidationException"},
		{"alias/new", otherRegion, "ValidationException"},
		{"alias/new", otherAccount, "NotFoundException"},
		{"alias/new", "1234abcd-12ab-34cd-56ef-1234567890ab", "NotFoundException"},
	} {
		err := e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: tc.name, TargetKeyId: tc.target})
		wantCode(t, err, tc.code)
	}
	// The longest valid name is fine; the AlreadyExists message names the alias ARN.
	mdMustNil(t, e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: long[:256], TargetKeyId: a.KeyId}))
	err := e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: "alias/app", TargetKeyId: a.KeyId})
	if err == nil || !strings.Contains(err.Error(), "An alias with the name arn:aws:kms:us-east-1:111122223333:alias/app already exists") {
		t.Fatalf("%v", err)
	}

	// UpdateAlias: same type and usage only; dates.
	before, _ := e.k.ListAliases(e.ctx, e.c, ListAliasesInput{KeyId: a.KeyId})
	e.clock.Add(time.Hour)
	mdMustNil(t, e.k.UpdateAlias(e.ctx, e.c, UpdateAliasInput{AliasName: "alias/app", TargetKeyId: b.Arn}))
	d, err := e.k.DescribeKey(e.ctx, e.c, KeyIDInput{KeyId: "alias/app"})
	if err != nil || d.KeyMetadata.KeyId != b.KeyId {
		t.Fatalf("%v %+v", err, d)
	}
	after, _ := e.k.ListAliases(e.ctx, e.c, ListAliasesInput{KeyId: b.KeyId})
	if len(after.Aliases) != 1 || after.Aliases[0].TargetKeyId != b.KeyId || *after.Aliases[0].CreationDate != *before.Aliases[0].CreationDate ||
		!time.Time(*after.Aliases[0].LastUpdatedDate).After(time.Time(*before.Aliases[0].LastUpdatedDate)) {
		t.Fatalf("%+v %+v", before.Aliases, after.Aliases)
	}
	rsaSign := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageSign})
	rsa2 := e.createKey(CreateKeyInput{KeySpec: SpecRSA3072, KeyUsage: UsageEncrypt})
	for _, tc := range []struct {
		name, target, code string
	}{
		{"alias/app", rsa.KeyId, "ValidationException"},     // symmetric -> asymmetric
		{"alias/app", hmac.KeyId, "ValidationException"},    // symmetric -> HMAC
		{"alias/rsa", rsaSign.KeyId, "ValidationException"}, // same type, other usage
		{"alias/missing", a.KeyId, "NotFoundException"},
		{"alias/aws/x", a.KeyId, "NotAuthorizedException"},
		{"alias/app", "alias/rsa", "ValidationException"},
		{"bad", a.KeyId, "ValidationException"},
	} {
		err := e.k.UpdateAlias(e.ctx, e.c, UpdateAliasInput{AliasName: tc.name, TargetKeyId: tc.target})
		wantCode(t, err, tc.code)
	}
	mdMustNil(t, e.k.UpdateAlias(e.ctx, e.c, UpdateAliasInput{AliasName: "alias/rsa", TargetKeyId: rsa2.KeyId}))

	// Keys pending deletion cannot get aliases.
	p := e.createKey(CreateKeyInput{})
	e.mdSetPendingDeletion(p.KeyId)
	wantCode(t, e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: "alias/p", TargetKeyId: p.KeyId}), "KMSInvalidStateException")
	wantCode(t, e.k.UpdateAlias(e.ctx, e.c, UpdateAliasInput{AliasName: "alias/app", TargetKeyId: p.KeyId}), "KMSInvalidStateException")

	// Another region does not see the alias.
	_, err = e.k.DescribeKey(e.ctx, Caller{Region: "eu-west-1", Account: e.c.Account}, KeyIDInput{KeyId: "alias/app"})
	wantCode(t, err, "NotFoundException")

	// DeleteAlias.
	mdMustNil(t, e.k.DeleteAlias(e.ctx, e.c, DeleteAliasInput{AliasName: "alias/app"}))
	wantCode(t, e.k.DeleteAlias(e.ctx, e.c, DeleteAliasInput{AliasName: "alias/app"}), "NotFoundException")
	wantCode(t, e.k.DeleteAlias(e.ctx, e.c, DeleteAliasInput{AliasName: "alias/aws/x"}), "NotAuthorizedException")
	wantCode(t, e.k.DeleteAlias(e.ctx, e.c, DeleteAliasInput{}), "ValidationException")
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: "alias/app", Plaintext: []byte("x")})
	wantCode(t, err, "NotFoundException")
	// The name is free again.
	mdMustNil(t, e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: "alias/app", TargetKeyId: hmac.KeyId}))

	// ListAliases with a KeyId filter, an unknown key.
	l, err := e.k.ListAliases(e.ctx, e.c, ListAliasesInput{KeyId: a.Arn})
	if err != nil || len(l.Aliases) != 1 || l.Aliases[0].AliasName != long[:256] || l.Aliases[0].AliasArn != aliasARN("us-east-1", e.c.Account, long[:256]) {
		t.Fatalf("%v %+v", err, l)
	}
	_, err = e.k.ListAliases(e.ctx, e.c, ListAliasesInput{KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab"})
	wantCode(t, err, "NotFoundException")
}

func TestListAliasesPaging(t *testing.T) {
	e := newTestEnv(t)
	a := e.createKey(CreateKeyInput{})
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("alias/p%02d", i)
		want = append(want, name)
		mdMustNil(t, e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: name, TargetKeyId: a.KeyId}))
	}
	var got []string
	marker := ""
	pages := 0
	for {
		out, err := e.k.ListAliases(e.ctx, e.c, ListAliasesInput{Limit: mdIntp(3), Marker: marker})
		mdMustNil(t, err)
		pages++
		for _, al := range out.Aliases {
			got = append(got, al.AliasName)
		}
		if out.Truncated != (out.NextMarker != "") {
			t.Fatalf("%+v", out)
		}
		if !out.Truncated {
			break
		}
		// Deleting the last alias of a page does not break paging.
		if pages == 1 {
			mdMustNil(t, e.k.DeleteAlias(e.ctx, e.c, DeleteAliasInput{AliasName: out.Aliases[len(out.Aliases)-1].AliasName}))
		}
		marker = out.NextMarker
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Fatalf("%d pages: %v", pages, got)
	}
	for _, l := range []int{0, 101} {
		_, err := e.k.ListAliases(e.ctx, e.c, ListAliasesInput{Limit: mdIntp(l)})
		wantCode(t, err, "ValidationException")
	}
	_, err := e.k.ListAliases(e.ctx, e.c, ListAliasesInput{Marker: "not a marker!"})
	wantCode(t, err, "InvalidMarkerException")
	def, err := e.k.ListAliases(e.ctx, e.c, ListAliasesInput{})
	if err != nil || len(def.Aliases) != 6 || def.Truncated {
		t.Fatalf("%v %+v", err, def)
	}
	// Quota: 50 aliases per key.
	for i := 6; i < maxAliasesPerKey; i++ {
		mdMustNil(t, e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: fmt.Sprintf("alias/q%02d", i), TargetKeyId: a.KeyId}))
	}
	wantCode(t, e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: "alias/one-too-many", TargetKeyId: a.KeyId}), "LimitExceededException")
}

// ---- tags ----

func TestTags(t *testing.T) {
	e := newTestEnv(t)
	k := e.createKey(CreateKeyInput{Tags: []Tag{{TagKey: "team", TagValue: "a"}}})
	mdMustNil(t, e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: "alias/t", TargetKeyId: k.KeyId}))
	mdMustNil(t, e.k.TagResource(e.ctx, e.c, TagResourceInput{KeyId: "alias/t", Tags: []Tag{{TagKey: "team", TagValue: "b"}, {TagKey: "env", TagValue: ""}}}))
	l, err := e.k.ListResourceTags(e.ctx, e.c, ListResourceTagsInput{KeyId: k.Arn})
	if err != nil || !slices.Equal(l.Tags, []Tag{{"env", ""}, {"team", "b"}}) || l.Truncated || l.NextMarker != "" {
		t.Fatalf("%v %+v", err, l)
	}
	mdMustNil(t, e.k.UntagResource(e.ctx, e.c, UntagResourceInput{KeyId: k.KeyId, TagKeys: []string{"team", "absent"}}))
	l, _ = e.k.ListResourceTags(e.ctx, e.c, ListResourceTagsInput{KeyId: k.KeyId})
	if !slices.Equal(l.Tags, []Tag{{"env", ""}}) {
		t.Fatalf("%+v", l)
	}
	// Untagging nothing that exists is not an error.
	mdMustNil(t, e.k.UntagResource(e.ctx, e.c, UntagResourceInput{KeyId: k.KeyId, TagKeys: []string{"nope"}}))

	many := func(n int, prefix string) []Tag {
		var ts []Tag
		for i := range n {
			ts = append(ts, Tag{TagKey: fmt.Sprintf("%s%02d", prefix, i), TagValue: "v"})
		}
		return ts
	}
	for _, tc := range []struct {
		name string
		in   TagResourceInput
		code string
	}{
		{"aws prefix", TagResourceInput{KeyId: k.KeyId, Tags: []Tag{{TagKey: "aws:x", TagValue: "y"}}}, "TagException"},
		{"AWS prefix", TagResourceInput{KeyId: k.KeyId, Tags: []Tag{{TagKey: "AWS:x", TagValue: "y"}}}, "TagException"},
		{"empty key", TagResourceInput{KeyId: k.KeyId, Tags: []Tag{{TagKey: "", TagValue: "y"}}}, "ValidationException"},
		{"long key", TagResourceInput{KeyId: k.KeyId, Tags: []Tag{{TagKey: strings.Repeat("k", 129)}}}, "ValidationException"},
		{"long value", TagResourceInput{KeyId: k.KeyId, Tags: []Tag{{TagKey: "k", TagValue: strings.Repeat("v", 257)}}}, "ValidationException"},
		{"null tags", TagResourceInput{KeyId: k.KeyId}, "ValidationException"},
		{"51 in request", TagResourceInput{KeyId: k.KeyId, Tags: many(51, "r")}, "TagException"},
		{"50 more than 50 total", TagResourceInput{KeyId: k.KeyId, Tags: many(50, "t")}, "TagException"}, // env + 50
		{"no key", TagResourceInput{Tags: []Tag{{TagKey: "a"}}}, "ValidationException"},
		{"unknown key", TagResourceInput{KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab", Tags: []Tag{{TagKey: "a"}}}, "NotFoundException"},
	} {
		wantCode(t, e.k.TagResource(e.ctx, e.c, tc.in), tc.code)
	}
	// Overwriting keeps the count: 49 new + env = 50 is fine, and re-tagging them too.
	mdMustNil(t, e.k.TagResource(e.ctx, e.c, TagResourceInput{KeyId: k.KeyId, Tags: many(49, "t")}))
	mdMustNil(t, e.k.TagResource(e.ctx, e.c, TagResourceInput{KeyId: k.KeyId, Tags: many(49, "t")}))
	wantCode(t, e.k.TagResource(e.ctx, e.c, TagResourceInput{KeyId: k.KeyId, Tags: []Tag{{TagKey: "fifty-one"}}}), "TagException")

	wantCode(t, e.k.UntagResource(e.ctx, e.c, UntagResourceInput{KeyId: k.KeyId}), "ValidationException")
	wantCode(t, e.k.UntagResource(e.ctx, e.c, UntagResourceInput{KeyId: k.KeyId, TagKeys: []string{""}}), "ValidationException")
	wantCode(t, e.k.UntagResource(e.ctx, e.c, UntagResourceInput{KeyId: k.KeyId, TagKeys: []string{"aws:x"}}), "TagException")

	// Paging: 50 tags by 20.
	var got []string
	marker := ""
	for pages := 1; ; pages++ {
		out, err := e.k.ListResourceTags(e.ctx, e.c, ListResourceTagsInput{KeyId: k.KeyId, Limit: mdIntp(20), Marker: marker})
		mdMustNil(t, err)
		for _, tg := range out.Tags {
			got = append(got, tg.TagKey)
		}
		if !out.Truncated {
			if pages != 3 {
				t.Fatalf("%d pages", pages)
			}
			break
		}
		marker = out.NextMarker
	}
	if len(got) != 50 || !slices.IsSorted(got) {
		t.Fatalf("%v", got)
	}
	for _, l := range []int{0, 51} {
		_, err := e.k.ListResourceTags(e.ctx, e.c, ListResourceTagsInput{KeyId: k.KeyId, Limit: mdIntp(l)})
		wantCode(t, err, "ValidationException")
	}
	_, err = e.k.ListResourceTags(e.ctx, e.c, ListResourceTagsInput{KeyId: k.KeyId, Marker: "%%%"})
	wantCode(t, err, "InvalidMarkerException")

	// Pending deletion: no tagging, listing still works.
	e.mdSetPendingDeletion(k.KeyId)
	wantCode(t, e.k.TagResource(e.ctx, e.c, TagResourceInput{KeyId: k.KeyId, Tags: []Tag{{TagKey: "x"}}}), "KMSInvalidStateException")
	wantCode(t, e.k.UntagResource(e.ctx, e.c, UntagResourceInput{KeyId: k.KeyId, TagKeys: []string{"env"}}), "KMSInvalidStateException")
	if _, err := e.k.ListResourceTags(e.ctx, e.c, ListResourceTagsInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
}

// ---- key policies ----

const mdAccount = "111122223333"

func mdPolicyDoc(principal, action string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":` + principal + `,"Action":` + action + `,"Resource":"*"}]}`
}

func TestKeyPolicy(t *testing.T) {
	e := newTestEnv(t)
	k := e.createKey(CreateKeyInput{})
	got, err := e.k.GetKeyPolicy(e.ctx, e.c, GetKeyPolicyInput{KeyId: k.KeyId})
	if err != nil || got.PolicyName != "default" || got.Policy != DefaultPolicy(e.c.Account) {
		t.Fatalf("%v %+v", err, got)
	}
	user := Caller{Region: e.c.Region, Account: e.c.Account, Principal: "arn:aws:iam::111122223333:user/alice"}
	alice := mdPolicyDoc(`{"AWS":"arn:aws:iam::111122223333:user/alice"}`, `["kms:Describe*","kms:PutKeyPolicy"]`)
	mdMustNil(t, e.k.PutKeyPolicy(e.ctx, user, PutKeyPolicyInput{KeyId: k.KeyId, PolicyName: "default", Policy: alice}))
	got, err = e.k.GetKeyPolicy(e.ctx, e.c, GetKeyPolicyInput{KeyId: "alias/none"})
	wantCode(t, err, "NotFoundException")
	got, err = e.k.GetKeyPolicy(e.ctx, e.c, GetKeyPolicyInput{KeyId: k.Arn, PolicyName: "default"})
	if err != nil || got.Policy != alice {
		t.Fatalf("%v %+v", err, got)
	}
	// Root would lock itself out with this policy; with the bypass it is stored.
	bob := mdPolicyDoc(`{"AWS":"arn:aws:iam::111122223333:user/bob"}`, `"kms:*"`)
	wantCode(t, e.k.PutKeyPolicy(e.ctx, e.c, PutKeyPolicyInput{KeyId: k.KeyId, Policy: bob}), "MalformedPolicyDocumentException")
	mdMustNil(t, e.k.PutKeyPolicy(e.ctx, e.c, PutKeyPolicyInput{KeyId: k.KeyId, Policy: bob, BypassPolicyLockoutSafetyCheck: true}))

	for _, tc := range []struct {
		name string
		in   PutKeyPolicyInput
		code string
	}{
		{"no policy", PutKeyPolicyInput{KeyId: k.KeyId}, "ValidationException"},
		{"not json", PutKeyPolicyInput{KeyId: k.KeyId, Policy: "{nope"}, "MalformedPolicyDocumentException"},
		{"no statement", PutKeyPolicyInput{KeyId: k.KeyId, Policy: `{"Version":"2012-10-17","Statement":[]}`}, "MalformedPolicyDocumentException"},
		{"bad principal", PutKeyPolicyInput{KeyId: k.KeyId, Policy: mdPolicyDoc(`{"AWS":"bob"}`, `"kms:*"`)}, "MalformedPolicyDocumentException"},
		{"bad element", PutKeyPolicyInput{KeyId: k.KeyId, Policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Act":"x"}]}`}, "MalformedPolicyDocumentException"},
		{"too large", PutKeyPolicyInput{KeyId: k.KeyId, Policy: mdPolicyDoc(`"*"`, `"kms:*"`) + strings.Repeat(" ", MaxPolicyBytes)}, "LimitExceededException"},
		{"bad chars", PutKeyPolicyInput{KeyId: k.KeyId, Policy: mdPolicyDoc(`"*"`, `"kms:Ā"`)}, "ValidationException"},
		{"other policy name", PutKeyPolicyInput{KeyId: k.KeyId, PolicyName: "custom", Policy: mdPolicyDoc(`"*"`, `"*"`)}, "NotFoundException"},
		{"bad policy name", PutKeyPolicyInput{KeyId: k.KeyId, PolicyName: "no-dash", Policy: mdPolicyDoc(`"*"`, `"*"`)}, "ValidationException"},
		{"unknown key", PutKeyPolicyInput{KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab", Policy: mdPolicyDoc(`"*"`, `"*"`)}, "NotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, e.k.PutKeyPolicy(e.ctx, e.c, tc.in), tc.code)
		})
	}
	_, err = e.k.GetKeyPolicy(e.ctx, e.c, GetKeyPolicyInput{KeyId: k.KeyId, PolicyName: "custom"})
	wantCode(t, err, "NotFoundException")
	_, err = e.k.GetKeyPolicy(e.ctx, e.c, GetKeyPolicyInput{KeyId: k.KeyId, PolicyName: strings.Repeat("p", 129)})
	wantCode(t, err, "ValidationException")

	lp, err := e.k.ListKeyPolicies(e.ctx, e.c, ListKeyPoliciesInput{KeyId: "alias/none"})
	wantCode(t, err, "NotFoundException")
	lp, err = e.k.ListKeyPolicies(e.ctx, e.c, ListKeyPoliciesInput{KeyId: k.KeyId, Limit: mdIntp(1000)})
	if err != nil || !slices.Equal(lp.PolicyNames, []string{"default"}) || lp.Truncated {
		t.Fatalf("%v %+v", err, lp)
	}
	_, err = e.k.ListKeyPolicies(e.ctx, e.c, ListKeyPoliciesInput{KeyId: k.KeyId, Limit: mdIntp(1001)})
	wantCode(t, err, "ValidationException")
	_, err = e.k.ListKeyPolicies(e.ctx, e.c, ListKeyPoliciesInput{KeyId: k.KeyId, Marker: "x"})
	wantCode(t, err, "InvalidMarkerException")

	// Pending deletion: the policy can be read, not changed.
	e.mdSetPendingDeletion(k.KeyId)
	if _, err := e.k.GetKeyPolicy(e.ctx, e.c, GetKeyPolicyInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.k.PutKeyPolicy(e.ctx, e.c, PutKeyPolicyInput{KeyId: k.KeyId, Policy: DefaultPolicy(e.c.Account)}), "KMSInvalidStateException")
}

func TestCheckPolicyLockout(t *testing.T) {
	const root = "arn:aws:iam::111122223333:root"
	for _, tc := range []struct {
		name, policy, principal string
		ok                      bool
	}{
		{"default", DefaultPolicy(mdAccount), root, true},
		{"star principal", mdPolicyDoc(`"*"`, `"kms:PutKeyPolicy"`), "arn:aws:iam::111122223333:user/x", true},
		{"AWS star", mdPolicyDoc(`{"AWS":"*"}`, `"*"`), "arn:aws:iam::111122223333:user/x", true},
		{"account id covers users", mdPolicyDoc(`{"AWS":"111122223333"}`, `"kms:*"`), "arn:aws:iam::111122223333:user/x", true},
		{"root covers users", mdPolicyDoc(`{"AWS":["arn:aws:iam::111122223333:root"]}`, `"kms:*"`), "arn:aws:iam::111122223333:role/r", true},
		{"case-insensitive action", mdPolicyDoc(`{"AWS":"arn:aws:iam::111122223333:user/x"}`, `"KMS:putkeypolicy"`), "arn:aws:iam::111122223333:user/x", true},
		{"wildcard action", mdPolicyDoc(`{"AWS":"arn:aws:iam::111122223333:user/x"}`, `"kms:Put*"`), "arn:aws:iam::111122223333:user/x", true},
		{"assumed role by role ARN", mdPolicyDoc(`{"AWS":"arn:aws:iam::111122223333:role/admin"}`, `"kms:*"`), "arn:aws:sts::111122223333:assumed-role/admin/session", true},
		{"NotAction excluding others", `{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"kms:Decrypt"}]}`, root, true},
		{"other user", mdPolicyDoc(`{"AWS":"arn:aws:iam::111122223333:user/bob"}`, `"kms:*"`), "arn:aws:iam::111122223333:user/x", false},
		{"other account", mdPolicyDoc(`{"AWS":"arn:aws:iam::999999999999:root"}`, `"kms:*"`), root, false},
		{"other action", mdPolicyDoc(`"*"`, `["kms:Encrypt","kms:Get*"]`), root, false},
		{"NotAction excluding it", `{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"kms:Put*"}]}`, root, false},
		{"service only", mdPolicyDoc(`{"Service":"logs.amazonaws.com"}`, `"kms:*"`), root, false},
		{"deny only", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*"}]}`, root, false},
		{"allow then deny", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"},{"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"kms:PutKeyPolicy"}]}`, root, false},
		{"conditional deny", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"},{"Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, root, true},
		{"NotPrincipal", `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*"}]}`, root, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPolicyLockout(tc.policy, mdAccount, tc.principal)
			if tc.ok {
				mdMustNil(t, err)
				return
			}
			wantCode(t, err, "MalformedPolicyDocumentException")
			if !strings.Contains(err.Error(), "The new key policy will not allow you to update the key policy in the future.") {
				t.Fatal(err)
			}
		})
	}
	for _, tc := range []struct{ pattern, s string }{{"*", ""}, {"kms:*", "kms:x"}, {"k?s:put*policy", "kms:putkeypolicy"}, {"a*b*c", "aXbYbc"}} {
		if !wildcardMatch(tc.pattern, tc.s) {
			t.Errorf("%s should match %s", tc.pattern, tc.s)
		}
	}
	for _, tc := range []struct{ pattern, s string }{{"kms:put", "kms:putkeypolicy"}, {"a*b", "ac"}, {"", "x"}} {
		if wildcardMatch(tc.pattern, tc.s) {
			t.Errorf("%s should not match %s", tc.pattern, tc.s)
		}
	}
}

// ---- grants ----

const mdGrantee = "arn:aws:iam::111122223333:role/app"

var mdHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestCreateGrant(t *testing.T) {
	e := newTestEnv(t)
	sym := e.createKey(CreateKeyInput{})
	mdMustNil(t, e.k.CreateAlias(e.ctx, e.c, CreateAliasInput{AliasName: "alias/g", TargetKeyId: sym.KeyId}))
	out, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: "alias/g", GranteePrincipal: mdGrantee,
		RetiringPrincipal: "arn:aws:iam::111122223333:role/ops", Operations: []string{"Encrypt", "Decrypt", "Encrypt"},
		Constraints: &GrantConstraints{EncryptionContextSubset: map[string]string{"app": "x"}}, Name: "app-grant"})
	mdMustNil(t, err)
	if !mdHex64.MatchString(out.GrantId) {
		t.Fatalf("grant id %q", out.GrantId)
	}
	raw, err := base64.RawURLEncoding.DecodeString(out.GrantToken)
	if err != nil || len(raw) < 64+32 {
		t.Fatalf("token %q: %v", out.GrantToken, err)
	}
	if !e.k.ValidGrantToken(out.GrantToken) {
		t.Fatal("token not valid")
	}
	views := e.k.GrantsFor("us-east-1", sym.KeyId)
	if len(views) != 1 || views[0].GrantId != out.GrantId || !slices.Equal(views[0].Operations, []string{"Encrypt", "Decrypt"}) ||
		views[0].Constraints.EncryptionContextSubset["app"] != "x" || views[0].IssuingAccount != "arn:aws:iam::111122223333:root" {
		t.Fatalf("%+v", views)
	}
	// GrantsFor returns copies.
	views[0].Operations[0] = "Sign"
	views[0].Constraints.EncryptionContextSubset["app"] = "changed"
	if v := e.k.GrantsFor("us-east-1", sym.KeyId)[0]; v.Operations[0] != "Encrypt" || v.Constraints.EncryptionContextSubset["app"] != "x" {
		t.Fatalf("%+v", v)
	}

	// Idempotent with a Name and identical parameters (operations in any order).
	again, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: sym.Arn, GranteePrincipal: mdGrantee,
		RetiringPrincipal: "arn:aws:iam::111122223333:role/ops", Operations: []string{"Decrypt", "Encrypt"},
		Constraints: &GrantConstraints{EncryptionContextSubset: map[string]string{"app": "x"}}, Name: "app-grant"})
	if err != nil || again.GrantId != out.GrantId || !e.k.ValidGrantToken(again.GrantToken) {
		t.Fatalf("%v %+v", err, again)
	}
	// Different parameters, or no Name: new grants.
	other, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: sym.KeyId, GranteePrincipal: mdGrantee, Operations: []string{"Decrypt"}, Name: "app-grant"})
	if err != nil || other.GrantId == out.GrantId {
		t.Fatalf("%v %+v", err, other)
	}
	n1, _ := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: sym.KeyId, GranteePrincipal: mdGrantee, Operations: []string{"Decrypt"}})
	n2, _ := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: sym.KeyId, GranteePrincipal: mdGrantee, Operations: []string{"Decrypt"}})
	if n1.GrantId == n2.GrantId || n1.GrantToken == n2.GrantToken {
		t.Fatal("grants without a Name must be distinct")
	}
	if len(e.k.GrantsFor("us-east-1", sym.KeyId)) != 4 {
		t.Fatal(e.k.GrantsFor("us-east-1", sym.KeyId))
	}
	// Service principals and STS sessions are valid grantees; grant tokens of live grants are accepted.
	for _, p := range []string{"dynamodb.amazonaws.com", "logs.us-east-1.amazonaws.com", "arn:aws:sts::111122223333:assumed-role/app/i-123", "arn:aws:iam::111122223333:root"} {
		_, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: sym.KeyId, GranteePrincipal: p, Operations: []string{"DescribeKey"}, GrantTokens: []string{out.GrantToken}})
		mdMustNil(t, err)
	}

	rsaSign := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageSign})
	rsaEnc := e.createKey(CreateKeyInput{KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt})
	hmac := e.createKey(CreateKeyInput{KeySpec: SpecHMAC256, KeyUsage: UsageMAC})
	ecdh := e.createKey(CreateKeyInput{KeySpec: SpecP256, KeyUsage: UsageKeyAgreement})
	ok := func(key string, ops ...string) {
		t.Helper()
		_, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: key, GranteePrincipal: mdGrantee, Operations: ops})
		mdMustNil(t, err)
	}
	ok(sym.KeyId, "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "CreateGrant", "RetireGrant", "DescribeKey")
	ok(rsaSign.KeyId, "Sign", "Verify", "GetPublicKey", "DescribeKey")
	ok(rsaEnc.KeyId, "Encrypt", "Decrypt", "GetPublicKey", "ReEncryptTo")
	ok(hmac.KeyId, "GenerateMac", "VerifyMac")
	ok(ecdh.KeyId, "DeriveSharedSecret", "GetPublicKey")

	disabled := e.createKey(CreateKeyInput{})
	mdMustNil(t, e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: disabled.KeyId}))
	pending := e.createKey(CreateKeyInput{})
	e.mdSetPendingDeletion(pending.KeyId)
	ec := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprint(i)] = "v"
		}
		return m
	}
	base := CreateGrantInput{KeyId: sym.KeyId, GranteePrincipal: mdGrantee, Operations: []string{"Decrypt"}}
	with := func(f func(*CreateGrantInput)) CreateGrantInput { in := base; f(&in); return in }
	for _, tc := range []struct {
		name string
		in   CreateGrantInput
		code string
	}{
		{"no grantee", with(func(in *CreateGrantInput) { in.GranteePrincipal = "" }), "ValidationException"},
		{"grantee not a principal", with(func(in *CreateGrantInput) { in.GranteePrincipal = "bob" }), "ValidationException"},
		{"grantee bad chars", with(func(in *CreateGrantInput) { in.GranteePrincipal = "arn:aws:iam::111122223333:user/a b" }), "ValidationException"},
		{"grantee too long", with(func(in *CreateGrantInput) {
			in.GranteePrincipal = "arn:aws:iam::111122223333:user/" + strings.Repeat("a", 230)
		}), "ValidationException"},
		{"grantee kms arn", with(func(in *CreateGrantInput) { in.GranteePrincipal = sym.Arn }), "ValidationException"},
		{"bad retiring", with(func(in *CreateGrantInput) { in.RetiringPrincipal = "arn:aws:iam::1:root" }), "ValidationException"},
		{"null operations", with(func(in *CreateGrantInput) { in.Operations = nil }), "ValidationException"},
		{"empty operations", with(func(in *CreateGrantInput) { in.Operations = []string{} }), "ValidationException"},
		{"unknown operation", with(func(in *CreateGrantInput) { in.Operations = []string{"Decrypt", "ScheduleKeyDeletion"} }), "ValidationException"},
		{"case of operation", with(func(in *CreateGrantInput) { in.Operations = []string{"decrypt"} }), "ValidationException"},
		{"Sign on symmetric", with(func(in *CreateGrantInput) { in.Operations = []string{"Sign"} }), "ValidationException"},
		{"GetPublicKey on symmetric", with(func(in *CreateGrantInput) { in.Operations = []string{"GetPublicKey"} }), "ValidationException"},
		{"GenerateDataKey on RSA", with(func(in *CreateGrantInput) { in.KeyId = rsaEnc.KeyId; in.Operations = []string{"GenerateDataKey"} }), "ValidationException"},
		{"Encrypt on signing key", with(func(in *CreateGrantInput) { in.KeyId = rsaSign.KeyId; in.Operations = []string{"Encrypt"} }), "ValidationException"},
		{"Decrypt on HMAC", with(func(in *CreateGrantInput) { in.KeyId = hmac.KeyId }), "ValidationException"},
		{"constraints on HMAC", with(func(in *CreateGrantInput) {
			in.KeyId, in.Operations = hmac.KeyId, []string{"GenerateMac"}
			in.Constraints = &GrantConstraints{EncryptionContextEquals: map[string]string{"a": "b"}}
		}), "ValidationException"},
		{"constraints on RSA", with(func(in *CreateGrantInput) {
			in.KeyId = rsaEnc.KeyId
			in.Constraints = &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "b"}}
		}), "ValidationException"},
		{"too many constraint pairs", with(func(in *CreateGrantInput) { in.Constraints = &GrantConstraints{EncryptionContextEquals: ec(9)} }), "ValidationException"},
		{"long constraint value", with(func(in *CreateGrantInput) {
			in.Constraints = &GrantConstraints{EncryptionContextEquals: map[string]string{"a": strings.Repeat("v", 385)}}
		}), "ValidationException"},
		{"bad name", with(func(in *CreateGrantInput) { in.Name = "has space" }), "ValidationException"},
		{"long name", with(func(in *CreateGrantInput) { in.Name = strings.Repeat("n", 257) }), "ValidationException"},
		{"unknown grant token", with(func(in *CreateGrantInput) { in.GrantTokens = []string{"bm9wZQ"} }), "InvalidGrantTokenException"},
		{"too many grant tokens", with(func(in *CreateGrantInput) { in.GrantTokens = make([]string, 11) }), "ValidationException"},
		{"no key", with(func(in *CreateGrantInput) { in.KeyId = "" }), "ValidationException"},
		{"unknown key", with(func(in *CreateGrantInput) { in.KeyId = "alias/none" }), "NotFoundException"},
		{"disabled key", with(func(in *CreateGrantInput) { in.KeyId = disabled.KeyId }), "DisabledException"},
		{"pending deletion", with(func(in *CreateGrantInput) { in.KeyId = pending.KeyId }), "KMSInvalidStateException"},
		{"dry run", with(func(in *CreateGrantInput) { in.DryRun = true }), "DryRunOperationException"},
		{"dry run of an invalid request", with(func(in *CreateGrantInput) { in.DryRun = true; in.Operations = []string{"Sign"} }), "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.k.GrantsFor("us-east-1", tc.in.KeyId))
			_, err := e.k.CreateGrant(e.ctx, e.c, tc.in)
			wantCode(t, err, tc.code)
			if after := len(e.k.GrantsFor("us-east-1", tc.in.KeyId)); after != before {
				t.Fatalf("grant created: %d -> %d", before, after)
			}
		})
	}
	// Constraints are fine with DescribeKey/RetireGrant alongside cryptographic operations.
	_, err = e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: sym.KeyId, GranteePrincipal: mdGrantee, Operations: []string{"Decrypt", "DescribeKey", "RetireGrant"},
		Constraints: &GrantConstraints{EncryptionContextEquals: ec(8)}})
	mdMustNil(t, err)
}

func TestGrantLimit(t *testing.T) {
	e := newTestEnv(t)
	k := e.createKey(CreateKeyInput{})
	e.k.mu.Lock()
	for i := range maxGrantsPerKey {
		id := fmt.Sprintf("%064x", i)
		e.k.grants[id] = &grantRec{ID: id, Token: "t" + id, KeyID: k.KeyId, Region: "us-east-1", GranteePrincipal: mdGrantee,
			IssuingAccount: grantIssuingAccount(mdAccount), Operations: []string{"Decrypt"}, Created: e.clock.Now()}
	}
	e.k.mu.Unlock()
	_, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: mdGrantee, Operations: []string{"Decrypt"}})
	wantCode(t, err, "LimitExceededException")
}

func TestGrantToken(t *testing.T) {
	e := newTestEnv(t)
	k := e.createKey(CreateKeyInput{})
	out, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: mdGrantee, Operations: []string{"Decrypt"}})
	mdMustNil(t, err)
	raw, _ := base64.RawURLEncoding.DecodeString(out.GrantToken)
	flip := func(i int) string {
		b := slices.Clone(raw)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	bads := []string{"", "x", out.GrantToken[:len(out.GrantToken)-1], out.GrantToken + "A", flip(len(raw) - 1), flip(40), flip(0),
		strings.Repeat("A", len(out.GrantToken)), out.GrantId}
	// The standard alphabet spells the same token unless it has '-' or '_' (about 1 in 60 tokens has neither).
	if std := base64.StdEncoding.EncodeToString(raw); std != out.GrantToken {
		bads = append(bads, std)
	}
	for _, bad := range bads {
		if e.k.ValidGrantToken(bad) {
			t.Errorf("token %q accepted", bad)
		}
	}
	v, ok := e.k.GrantByToken(out.GrantToken)
	if !ok || v.GrantId != out.GrantId || v.KeyId != k.KeyId {
		t.Fatalf("%v %+v", ok, v)
	}
	// Tokens survive a snapshot and restore.
	snap, err := e.k.Snapshot()
	mdMustNil(t, err)
	s2 := New(Config{})
	mdMustNil(t, s2.Restore(snap))
	if !s2.ValidGrantToken(out.GrantToken) || s2.ValidGrantToken(flip(50)) {
		t.Fatal("restored service does not know the token")
	}
}

func TestListGrants(t *testing.T) {
	e := newTestEnv(t)
	k := e.createKey(CreateKeyInput{})
	other := e.createKey(CreateKeyInput{})
	var ids []string
	for i := range 5 {
		e.clock.Add(time.Second)
		p := mdGrantee
		if i%2 == 1 {
			p = "arn:aws:iam::111122223333:user/odd"
		}
		out, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: p, RetiringPrincipal: "arn:aws:iam::111122223333:role/retirer",
			Operations: []string{"Decrypt"}, Name: fmt.Sprintf("g%d", i)})
		mdMustNil(t, err)
		ids = append(ids, out.GrantId)
	}
	_, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: other.KeyId, GranteePrincipal: mdGrantee, Operations: []string{"Encrypt"}})
	mdMustNil(t, err)

	// Pages of 2, in creation order.
	var got []string
	marker := ""
	pages := 0
	for {
		out, err := e.k.ListGrants(e.ctx, e.c, ListGrantsInput{KeyId: k.KeyId, Limit: mdIntp(2), Marker: marker})
		mdMustNil(t, err)
		pages++
		for _, g := range out.Grants {
			got = append(got, g.GrantId)
			if g.KeyId != k.Arn || g.IssuingAccount != "arn:aws:iam::111122223333:root" || g.CreationDate == nil || g.RetiringPrincipal == "" {
				t.Fatalf("%+v", g)
			}
		}
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	if pages != 3 || !slices.Equal(got, ids) {
		t.Fatalf("%d pages %v want %v", pages, got, ids)
	}
	f, err := e.k.ListGrants(e.ctx, e.c, ListGrantsInput{KeyId: k.Arn, GrantId: ids[2]})
	if err != nil || len(f.Grants) != 1 || f.Grants[0].GrantId != ids[2] || f.Grants[0].Name != "g2" {
		t.Fatalf("%v %+v", err, f)
	}
	f, err = e.k.ListGrants(e.ctx, e.c, ListGrantsInput{KeyId: k.KeyId, GranteePrincipal: "arn:aws:iam::111122223333:user/odd"})
	if err != nil || len(f.Grants) != 2 {
		t.Fatalf("%v %+v", err, f)
	}
	for _, tc := range []struct {
		in   ListGrantsInput
		code string
	}{
		{ListGrantsInput{}, "ValidationException"},
		{ListGrantsInput{KeyId: k.KeyId, Limit: mdIntp(0)}, "ValidationException"},
		{ListGrantsInput{KeyId: k.KeyId, Limit: mdIntp(101)}, "ValidationException"},
		{ListGrantsInput{KeyId: k.KeyId, Marker: "@@"}, "InvalidMarkerException"},
		{ListGrantsInput{KeyId: k.KeyId, GranteePrincipal: "a b"}, "ValidationException"},
		{ListGrantsInput{KeyId: "alias/none"}, "NotFoundException"},
	} {
		_, err := e.k.ListGrants(e.ctx, e.c, tc.in)
		wantCode(t, err, tc.code)
	}
	// Listing works on a key pending deletion.
	e.mdSetPendingDeletion(other.KeyId)
	if l, err := e.k.ListGrants(e.ctx, e.c, ListGrantsInput{KeyId: other.KeyId}); err != nil || len(l.Grants) != 1 {
		t.Fatalf("%v %+v", err, l)
	}

	r, err := e.k.ListRetirableGrants(e.ctx, e.c, ListRetirableGrantsInput{RetiringPrincipal: "arn:aws:iam::111122223333:role/retirer", Limit: mdIntp(3)})
	if err != nil || len(r.Grants) != 3 || !r.Truncated {
		t.Fatalf("%v %+v", err, r)
	}
	r, err = e.k.ListRetirableGrants(e.ctx, e.c, ListRetirableGrantsInput{RetiringPrincipal: "arn:aws:iam::111122223333:role/retirer", Marker: r.NextMarker})
	if err != nil || len(r.Grants) != 2 || r.Truncated {
		t.Fatalf("%v %+v", err, r)
	}
	r, err = e.k.ListRetirableGrants(e.ctx, Caller{Region: "eu-west-1", Account: mdAccount}, ListRetirableGrantsInput{RetiringPrincipal: "arn:aws:iam::111122223333:role/retirer"})
	if err != nil || len(r.Grants) != 0 {
		t.Fatalf("%v %+v", err, r)
	}
	_, err = e.k.ListRetirableGrants(e.ctx, e.c, ListRetirableGrantsInput{})
	wantCode(t, err, "ValidationException")
	_, err = e.k.ListRetirableGrants(e.ctx, e.c, ListRetirableGrantsInput{RetiringPrincipal: "arn:aws:iam::111122223333:role/retirer", Limit: mdIntp(101)})
	wantCode(t, err, "ValidationException")
}

func TestRetireAndRevokeGrant(t *testing.T) {
	e := newTestEnv(t)
	k := e.createKey(CreateKeyInput{})
	other := e.createKey(CreateKeyInput{})
	create := func(key string) *CreateGrantOutput {
		t.Helper()
		out, err := e.k.CreateGrant(e.ctx, e.c, CreateGrantInput{KeyId: key, GranteePrincipal: mdGrantee, Operations: []string{"Decrypt"}})
		mdMustNil(t, err)
		return out
	}
	count := func() int { return len(e.k.GrantsFor("us-east-1", k.KeyId)) }

	// RetireGrant by token.
	g1 := create(k.KeyId)
	wantCode(t, e.k.RetireGrant(e.ctx, e.c, RetireGrantInput{GrantToken: g1.GrantToken, DryRun: true}), "DryRunOperationException")
	if count() != 1 {
		t.Fatal("dry run retired the grant")
	}
	wantCode(t, e.k.RetireGrant(e.ctx, e.c, RetireGrantInput{GrantToken: g1.GrantToken, GrantId: strings.Repeat("0", 64)}), "InvalidGrantIdException")
	wantCode(t, e.k.RetireGrant(e.ctx, e.c, RetireGrantInput{GrantToken: g1.GrantToken, KeyId: other.KeyId}), "InvalidGrantIdException")
	mdMustNil(t, e.k.RetireGrant(e.ctx, e.c, RetireGrantInput{GrantToken: g1.GrantToken, KeyId: k.KeyId, GrantId: g1.GrantId}))
	if count() != 0 || e.k.ValidGrantToken(g1.GrantToken) {
		t.Fatal("grant not retired")
	}
	wantCode(t, e.k.RetireGrant(e.ctx, e.c, RetireGrantInput{GrantToken: g1.GrantToken}), "InvalidGrantTokenException")

	// RetireGrant by key and grant ID.
	g2 := create(k.KeyId)
	for _, tc := range []struct {
		in   RetireGrantInput
		code string
	}{
		{RetireGrantInput{}, "ValidationException"},
		{RetireGrantInput{KeyId: k.KeyId}, "ValidationException"},
		{RetireGrantInput{GrantId: g2.GrantId}, "ValidationException"},
		{RetireGrantInput{KeyId: k.KeyId, GrantId: "not-a-grant-id"}, "InvalidGrantIdException"},
		{RetireGrantInput{KeyId: k.KeyId, GrantId: strings.Repeat("a", 129)}, "ValidationException"},
		{RetireGrantInput{KeyId: k.KeyId, GrantId: strings.Repeat("0", 64)}, "NotFoundException"},
		{RetireGrantInput{KeyId: other.KeyId, GrantId: g2.GrantId}, "NotFoundException"},
		{RetireGrantInput{KeyId: "alias/none", GrantId: g2.GrantId}, "NotFoundException"},
		{RetireGrantInput{KeyId: k.KeyId, GrantId: g2.GrantId, DryRun: true}, "DryRunOperationException"},
	} {
		wantCode(t, e.k.RetireGrant(e.ctx, e.c, tc.in), tc.code)
	}
	mdMustNil(t, e.k.RetireGrant(e.ctx, e.c, RetireGrantInput{KeyId: k.Arn, GrantId: g2.GrantId}))
	wantCode(t, e.k.RetireGrant(e.ctx, e.c, RetireGrantInput{KeyId: k.KeyId, GrantId: g2.GrantId}), "NotFoundException")

	// RevokeGrant, also on a key pending deletion.
	g3 := create(k.KeyId)
	for _, tc := range []struct {
		in   RevokeGrantInput
		code string
	}{
		{RevokeGrantInput{KeyId: k.KeyId}, "ValidationException"},
		{RevokeGrantInput{GrantId: g3.GrantId}, "ValidationException"},
		{RevokeGrantInput{KeyId: k.KeyId, GrantId: "0123"}, "InvalidGrantIdException"},
		{RevokeGrantInput{KeyId: k.KeyId, GrantId: strings.Repeat("f", 64)}, "NotFoundException"},
		{RevokeGrantInput{KeyId: other.KeyId, GrantId: g3.GrantId}, "NotFoundException"},
		{RevokeGrantInput{KeyId: k.KeyId, GrantId: g3.GrantId, DryRun: true}, "DryRunOperationException"},
	} {
		wantCode(t, e.k.RevokeGrant(e.ctx, e.c, tc.in), tc.code)
	}
	if count() != 1 {
		t.Fatal("grant revoked by a failed request")
	}
	e.mdSetPendingDeletion(k.KeyId)
	mdMustNil(t, e.k.RevokeGrant(e.ctx, e.c, RevokeGrantInput{KeyId: k.KeyId, GrantId: g3.GrantId}))
	if count() != 0 || e.k.ValidGrantToken(g3.GrantToken) {
		t.Fatal("grant not revoked")
	}
	wantCode(t, e.k.RevokeGrant(e.ctx, e.c, RevokeGrantInput{KeyId: k.KeyId, GrantId: g3.GrantId}), "NotFoundException")
}
