package iam

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// FuzzOps feeds random form bodies to every IAM and STS operation of a service whose
// commands are applied in memory: no operation may panic.
func FuzzOps(f *testing.F) {
	ops := Operations()
	for k, v := range STSOperations() {
		ops["sts:"+k] = v
	}
	var names []string
	for n := range ops {
		names = append(names, n)
	}
	slices.Sort(names)
	seeds := []string{
		"UserName=alice", "UserName=alice&Tags.member.1.Key=k&Tags.member.1.Value=v",
		"RoleName=r&AssumeRolePolicyDocument=" + url.QueryEscape(trustDoc("arn:aws:iam::111122223333:user/alice", "")),
		"PolicyName=p&PolicyDocument=" + url.QueryEscape(allowKMSRead),
		"PolicyArn=arn:aws:iam::aws:policy/ReadOnlyAccess&UserName=alice&VersionId=v1",
		"GroupName=g&UserName=alice", "VirtualMFADeviceName=d", "DurationSeconds=900&SerialNumber=arn:aws:iam::111122223333:mfa/d&TokenCode=123456",
		"RoleArn=arn:aws:iam::111122223333:role/r&RoleSessionName=s&DurationSeconds=-1", "MaxItems=1&Marker=1", "%zz&a.member.1=",
	}
	for i, s := range seeds {
		for j := range names {
			if j%len(seeds) == i {
				f.Add(uint16(j), s)
			}
		}
		f.Add(uint16(i), s)
	}
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	root := Caller{Account: acct, Principal: awsproto.Principal{Account: acct, ARN: "arn:aws:iam::" + acct + ":root", Type: "Root"}}
	// Each input runs on a fresh service holding a few entities, so that runs are
	// independent (reproducible) and stay fast.
	fresh := func(t *testing.T) *Service {
		s, err := New(Config{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		s.Attach(&memProposer{s: s})
		ctx := context.Background()
		_, err1 := s.CreateUser(ctx, root, CreateUserInput{UserName: "alice"})
		_, err2 := s.CreateRole(ctx, root, CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustDoc("arn:aws:iam::"+acct+":user/alice", "")})
		_, err3 := s.CreateGroup(ctx, root, CreateGroupInput{GroupName: "g"})
		_, err4 := s.CreatePolicy(ctx, root, CreatePolicyInput{PolicyName: "p", PolicyDocument: allowKMSRead})
		_, err5 := s.CreateVirtualMFADevice(ctx, root, CreateVirtualMFADeviceInput{VirtualMFADeviceName: "d"})
		for _, err := range []error{err1, err2, err3, err4, err5} {
			if err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	callers := []Caller{
		{Account: acct, Principal: awsproto.Principal{Account: acct, ARN: "arn:aws:iam::" + acct + ":root", Type: "Root"}},
		{Account: acct, Principal: awsproto.Principal{Account: acct, ARN: "arn:aws:iam::" + acct + ":user/alice", Type: "IAMUser"}},
		{Account: acct, Principal: awsproto.Principal{Account: acct, ARN: "arn:aws:sts::" + acct + ":assumed-role/r/s", Type: "AssumedRole"}},
	}
	f.Fuzz(func(t *testing.T, which uint16, body string) {
		name := names[int(which)%len(names)]
		c := callers[int(which)%len(callers)]
		res, err := ops[name](fresh(t), context.Background(), c, []byte(body))
		if err != nil {
			if e := AsError(err); e.Status == 0 || e.Code == "" {
				t.Fatalf("%s: bad error %v", name, err)
			}
		}
		_ = res
	})
}
