package iam

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestUpdateUserRename(t *testing.T) {
	e := newTestEnv(t)
	local, _ := authFixture(t, e) // alice: inline, attached, in devs
	k := must[*CreateAccessKeyOutput](t)(e.s.CreateAccessKey(e.ctx, e.root, UserNameInput{UserName: "alice"}))
	akid := k.AccessKey.AccessKeyId
	before := e.callerFor(akid)
	// An MFA device enabled for alice, and a session she got with GetSessionToken.
	d := must[*CreateVirtualMFADeviceOutput](t)(e.s.CreateVirtualMFADevice(e.ctx, e.root, CreateVirtualMFADeviceInput{VirtualMFADeviceName: "alice-mfa"}))
	seed, now := seedOf(t, d.VirtualMFADevice), e.clock.Now()
	if err := e.s.EnableMFADevice(e.ctx, e.root, EnableMFADeviceInput{UserName: "alice", SerialNumber: d.VirtualMFADevice.SerialNumber,
		AuthenticationCode1: code(seed, now.Add(-30*time.Second)), AuthenticationCode2: code(seed, now)}); err != nil {
		t.Fatal(err)
	}
	st := must[*GetSessionTokenOutput](t)(e.s.GetSessionToken(e.ctx, before, GetSessionTokenInput{}))

	// Conflicts and validation first: nothing changes.
	wantCode(t, e.s.UpdateUser(e.ctx, e.root, UpdateUserInput{UserName: "alice", NewUserName: "BOB"}), "EntityAlreadyExists")
	wantCode(t, e.s.UpdateUser(e.ctx, e.root, UpdateUserInput{UserName: "nobody", NewUserName: "x"}), "NoSuchEntity")
	wantCode(t, e.s.UpdateUser(e.ctx, e.root, UpdateUserInput{UserName: "alice", NewUserName: "bad name"}), "ValidationError")
	wantCode(t, e.s.UpdateUser(e.ctx, e.root, UpdateUserInput{UserName: "alice", NewPath: "nope"}), "ValidationError")
	wantCode(t, e.s.UpdateUser(e.ctx, e.root, UpdateUserInput{UserName: "", NewUserName: "x"}), "ValidationError")
	wantCode(t, e.s.UpdateUser(e.ctx, e.root, UpdateUserInput{UserName: "alice", NewUserName: string(make([]byte, 65))}), "ValidationError")

	// Through the operations table, as the protocol layer calls it.
	if _, err := Operations()["UpdateUser"](e.s, e.ctx, e.root, []byte("UserName=alice&NewUserName=Alicia&NewPath="+url.QueryEscape("/ops/"))); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		wantARN := "arn:aws:iam::" + acct + ":user/ops/Alicia"
		_, err := e.s.GetUser(e.ctx, e.root, GetUserInput{UserName: "alice"})
		wantCode(t, err, "NoSuchEntity")
		u := must[*GetUserOutput](t)(e.s.GetUser(e.ctx, e.root, GetUserInput{UserName: "alicia"}))
		if u.User.UserName != "Alicia" || u.User.Path != "/ops/" || u.User.Arn != wantARN || u.User.UserId != before.Principal.UserID {
			t.Fatalf("%s: %+v", when, u.User)
		}
		// The old access key still signs, as the new ARN; the session follows too.
		c := e.callerFor(akid)
		if c.Principal.ARN != wantARN || c.Principal.UserName != "Alicia" || c.Principal.UserID != before.Principal.UserID {
			t.Fatalf("%s: key principal %+v", when, c.Principal)
		}
		if sc := e.callerFor(st.Credentials.AccessKeyId); sc.Principal.ARN != wantARN {
			t.Fatalf("%s: session principal %+v", when, sc.Principal)
		}
		id := must[*GetCallerIdentityOutput](t)(e.s.GetCallerIdentity(e.ctx, c, GetCallerIdentityInput{}))
		if id.Arn != wantARN {
			t.Fatalf("%s: %+v", when, id)
		}
		keys := must[*ListAccessKeysOutput](t)(e.s.ListAccessKeys(e.ctx, c, ListAccessKeysInput{}))
		if len(keys.AccessKeyMetadata) != 1 || keys.AccessKeyMetadata[0].UserName != "Alicia" {
			t.Fatalf("%s: keys %+v", when, keys)
		}
		// Policies (own and the group's) still apply.
		docs := must[[]string](t)(e.s.IdentityPolicies(wantARN))
		if len(docs) != 4 { // inline + kms-list, group's inline + ReadOnlyAccess
			t.Fatalf("%s: %d identity policies", when, len(docs))
		}
		att := must[*ListAttachedOutput](t)(e.s.listAttached(e.root, kindUser, ListAttachedInput{UserName: "Alicia"}))
		if len(att.AttachedPolicies) != 1 || att.AttachedPolicies[0].PolicyArn != local {
			t.Fatalf("%s: %+v", when, att)
		}
		gs := must[*ListGroupsOutput](t)(e.s.ListGroupsForUser(e.ctx, e.root, ListGroupsForUserInput{UserName: "Alicia"}))
		if len(gs.Groups) != 1 || gs.Groups[0].GroupName != "devs" {
			t.Fatalf("%s: groups %+v", when, gs)
		}
		g := must[*GetGroupOutput](t)(e.s.GetGroup(e.ctx, e.root, GetGroupInput{GroupName: "devs"}))
		if len(g.Users) != 1 || g.Users[0].Arn != wantARN {
			t.Fatalf("%s: group users %+v", when, g.Users)
		}
		mfa := must[*ListMFADevicesOutput](t)(e.s.ListMFADevices(e.ctx, c, ListAccessKeysInput{}))
		if len(mfa.MFADevices) != 1 || mfa.MFADevices[0].UserName != "Alicia" {
			t.Fatalf("%s: mfa %+v", when, mfa)
		}
		details := must[*GetAccountAuthorizationDetailsOutput](t)(e.s.GetAccountAuthorizationDetails(e.ctx, e.root, GetAccountAuthorizationDetailsInput{Filter: []string{"User"}}))
		var names []string
		for _, u := range details.UserDetailList.Members {
			names = append(names, u.UserName)
		}
		if !slices.Equal(names, []string{"Alicia", "bob"}) {
			t.Fatalf("%s: %v", when, names)
		}
		// The old name is free again (case-insensitively taken by nobody).
		wantCode(t, e.s.UpdateUser(e.ctx, e.root, UpdateUserInput{UserName: "bob", NewUserName: "ALICIA"}), "EntityAlreadyExists")
	}
	check("after rename")
	// The command replays from the log with the same meaning...
	e.restart()
	check("after replay")
	// ... and the renamed state survives a snapshot.
	if err := e.store.Snapshot(); err != nil {
		t.Fatal(err)
	}
	e.restart()
	check("after snapshot")

	// A path-only change and a case-only rename keep the name's key.
	if err := e.s.UpdateUser(e.ctx, e.root, UpdateUserInput{UserName: "bob", NewUserName: "Bob", NewPath: "/x/"}); err != nil {
		t.Fatal(err)
	}
	if u := must[*GetUserOutput](t)(e.s.GetUser(e.ctx, e.root, GetUserInput{UserName: "bob"})); u.User.UserName != "Bob" || u.User.Path != "/x/" {
		t.Fatalf("%+v", u.User)
	}
	// UpdateUser is decided on the existing user's ARN (its current path).
	if r := e.s.RequestResource(acct, "UpdateUser", []byte("UserName=Bob&NewUserName=z"), e.root.Principal.ARN); r != "arn:aws:iam::"+acct+":user/x/Bob" {
		t.Fatalf("resource %s", r)
	}
	// ... and on its new ARN: what the request does not change stays.
	for body, want := range map[string]string{
		"UserName=Bob&NewUserName=z":                     "arn:aws:iam::" + acct + ":user/x/z",
		"UserName=bob&NewPath=%2Fy%2F":                   "arn:aws:iam::" + acct + ":user/y/Bob",
		"UserName=Bob&NewUserName=z&NewPath=%2Fy%2Fw%2F": "arn:aws:iam::" + acct + ":user/y/w/z",
		"UserName=ghost&NewUserName=z":                   "arn:aws:iam::" + acct + ":user/z",
		"UserName=Bob":                                   "arn:aws:iam::" + acct + ":user/x/Bob",
		"NewUserName=z":                                  "*",
		"%zz":                                            "*",
	} {
		if r := e.s.UpdateUserTarget(acct, []byte(body)); r != want {
			t.Errorf("%s: target %s, want %s", body, r, want)
		}
	}
}
