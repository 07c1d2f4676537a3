package cloudhsm

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestCreateClusterRefusesHsm1: hsm1.medium reached its end of support, and AWS creates no
// new clusters of that type; hsm2m.medium clusters are created as before.
func TestCreateClusterRefusesHsm1(t *testing.T) {
	e := newTestEnv(t)
	_, err := e.s.CreateCluster(e.ctx, e.c, CreateClusterInput{HsmType: HsmType1, SubnetIds: []string{subnetA}})
	wantErr(t, err, CodeInvalidRequest, "end of support")
	out, err := e.s.DescribeClusters(e.ctx, e.c, DescribeClustersInput{})
	if err != nil || len(out.Clusters) != 0 {
		t.Fatalf("a refused CreateCluster left a cluster: %v %+v", err, out)
	}
	if cl := e.createCluster(CreateClusterInput{HsmType: HsmType2}); cl.HsmType != HsmType2 {
		t.Fatalf("HsmType %s", cl.HsmType)
	}
}

// legacyHsm1Cluster is a cluster recorded as hsm1.medium (before that type's end of
// support): CreateCluster no longer makes one.
func legacyHsm1Cluster(e *testEnv) Cluster {
	e.t.Helper()
	cl := e.createCluster(CreateClusterInput{})
	if _, err := e.s.updateCluster(e.ctx, "", cl.ClusterId, func(c *clusterRec, _ *putClusterCmd) error {
		c.HsmType = HsmType1
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return e.describe(cl.ClusterId)
}

// TestModifyClusterHsmTypeMigration: as on AWS, ModifyCluster migrates hsm1.medium to
// hsm2m.medium and reports HsmTypeRollbackExpiration (24 hours on); within that time the
// cluster can be rolled back to hsm1.medium, after it not; hsm2m.medium clusters that were
// never migrated cannot become hsm1.medium.
func TestModifyClusterHsmTypeMigration(t *testing.T) {
	e := newTestEnv(t)
	cl := legacyHsm1Cluster(e)
	if cl.HsmType != HsmType1 || cl.HsmTypeRollbackExpiration != nil {
		t.Fatalf("legacy cluster: %s %v", cl.HsmType, cl.HsmTypeRollbackExpiration)
	}
	out, err := e.s.ModifyCluster(e.ctx, e.c, ModifyClusterInput{ClusterId: cl.ClusterId, HsmType: HsmType2})
	if err != nil {
		t.Fatal(err)
	}
	want := e.clock.Now().Add(24 * time.Hour)
	if out.Cluster.HsmType != HsmType2 || out.Cluster.HsmTypeRollbackExpiration == nil ||
		!time.Time(*out.Cluster.HsmTypeRollbackExpiration).Equal(want) {
		t.Fatalf("after migration: %s %v, want rollback expiration %v", out.Cluster.HsmType, out.Cluster.HsmTypeRollbackExpiration, want)
	}
	// Rolled back within the window.
	e.clock.Add(23 * time.Hour)
	out, err = e.s.ModifyCluster(e.ctx, e.c, ModifyClusterInput{ClusterId: cl.ClusterId, HsmType: HsmType1})
	if err != nil || out.Cluster.HsmType != HsmType1 || out.Cluster.HsmTypeRollbackExpiration != nil {
		t.Fatalf("rollback: %v %+v", err, out)
	}
	// Migrated again; past the window a rollback is refused and nothing changes.
	if _, err := e.s.ModifyCluster(e.ctx, e.c, ModifyClusterInput{ClusterId: cl.ClusterId, HsmType: HsmType2}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(25 * time.Hour)
	if got := e.describe(cl.ClusterId); got.HsmTypeRollbackExpiration != nil {
		t.Fatalf("rollback expiration still reported after it passed: %v", got.HsmTypeRollbackExpiration)
	}
	_, err = e.s.ModifyCluster(e.ctx, e.c, ModifyClusterInput{ClusterId: cl.ClusterId, HsmType: HsmType1})
	wantErr(t, err, CodeInvalidRequest, "can no longer be rolled back")
	if got := e.describe(cl.ClusterId); got.HsmType != HsmType2 {
		t.Fatalf("HsmType %s after a refused rollback", got.HsmType)
	}

	// A cluster created as hsm2m.medium has no hsm1.medium to go back to.
	e2 := newTestEnv(t)
	cl2 := e2.createCluster(CreateClusterInput{})
	_, err = e2.s.ModifyCluster(e2.ctx, e2.c, ModifyClusterInput{ClusterId: cl2.ClusterId, HsmType: HsmType1})
	wantErr(t, err, CodeInvalidRequest, "migrate from hsm1.medium to hsm2m.medium only")
	// The same type is no change, and not an error.
	out, err = e2.s.ModifyCluster(e2.ctx, e2.c, ModifyClusterInput{ClusterId: cl2.ClusterId, HsmType: HsmType2})
	if err != nil || out.Cluster.HsmType != HsmType2 || out.Cluster.HsmTypeRollbackExpiration != nil {
		t.Fatalf("same type: %v %+v", err, out)
	}
}

// TestPutResourcePolicyConformance: as on AWS, only a READY backup can be shared, and the
// policy must be a policy document (statements with an Effect, a Principal and an
// Action), not just any JSON object; a refused Put leaves the policy as it was.
func TestPutResourcePolicyConformance(t *testing.T) {
	e := newTestEnv(t)
	cl := e.activeCluster(CreateClusterInput{})
	b, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "test")
	if err != nil {
		t.Fatal(err)
	}
	arn := b.BackupArn
	stmt := `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"cloudhsm:DescribeBackups","Resource":"` + arn + `"}`
	good := `{"Version":"2012-10-17","Statement":[` + stmt + `]}`
	for _, tc := range []struct{ policy, substr string }{
		{`{}`, "no Statement"},
		{`{"Version":"2012-10-17"}`, "no Statement"},
		{`{"Version":"2020-01-01","Statement":[` + stmt + `]}`, "Version"},
		{`{"Statement":[]}`, "no statement"},
		{`{"Statement":"x"}`, "statement object"},
		{`{"Statement":[1]}`, "statement object"},
		{`{"Statement":[null]}`, "not an object"},
		{`{"Statement":[{"Principal":"*","Action":"*"}]}`, "Effect"},
		{`{"Statement":[{"Effect":"allow","Principal":"*","Action":"*"}]}`, "Effect"},
		{`{"Statement":[{"Effect":"Allow","Action":"*"}]}`, "Principal"},
		{`{"Statement":[{"Effect":"Allow","Principal":null,"Action":"*"}]}`, "Principal"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, "Action"},
	} {
		_, err := e.s.PutResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn, Policy: tc.policy})
		wantErr(t, err, CodeInvalidRequest, tc.substr)
	}
	// One statement object (not a list) is a policy too.
	if _, err := e.s.PutResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn, Policy: `{"Statement":` + stmt + `}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.PutResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn, Policy: good}); err != nil {
		t.Fatal(err)
	}
	// A backup pending deletion cannot be shared; its policy stays as it was.
	if _, err := e.s.DeleteBackup(e.ctx, e.c, BackupIDInput{BackupId: b.BackupId}); err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(good, "444455556666", "777788889999", 1)
	_, err = e.s.PutResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn, Policy: other})
	wantErr(t, err, CodeInvalidRequest, "only on a READY backup")
	if got, err := e.s.GetResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn}); err != nil || got.Policy != good {
		t.Fatalf("policy after a refused Put: %v %+v", err, got)
	}
	// Restored to READY, it can be shared again.
	if _, err := e.s.RestoreBackup(e.ctx, e.c, BackupIDInput{BackupId: b.BackupId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.PutResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn, Policy: other}); err != nil {
		t.Fatal(err)
	}
}

// FuzzCheckBackupPolicy: the policy document parser never panics, and what it accepts is
// a JSON object with a Statement.
func FuzzCheckBackupPolicy(f *testing.F) {
	for _, s := range []string{`{}`, `{"Statement":[]}`, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"x"},"NotAction":["a"]}]}`,
		`{"Statement":[null,{}]}`, `[]`, `null`, `"x"`, `{"Statement":[{"Effect":"Allow","Principal":null,"Action":null}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, policy string) {
		if err := checkBackupPolicy(policy); err == nil {
			if !strings.Contains(policy, "Statement") {
				t.Fatalf("accepted a policy without a Statement: %q", policy)
			}
		} else if AsError(err).Code != CodeInvalidRequest {
			t.Fatalf("refusal %v is not CloudHsmInvalidRequestException", err)
		}
	})
}

// TestDualStackHsmHasIPv6: the HSMs of a DUALSTACK cluster report an IPv6 address of
// their ENI (EniIpV6), as on AWS; those of an IPV4 cluster do not.
func TestDualStackHsmHasIPv6(t *testing.T) {
	e := newTestEnv(t)
	cl := e.createCluster(CreateClusterInput{NetworkType: "DUALSTACK"})
	h := e.createHsm(cl.ClusterId)
	a, err := netip.ParseAddr(h.EniIpV6)
	if err != nil || !a.Is6() || a.Is4In6() || a.As16()[0] != 0xfd {
		t.Fatalf("EniIpV6 %q: not a unique local IPv6 address (%v)", h.EniIpV6, err)
	}
	if got := e.describe(cl.ClusterId); len(got.Hsms) != 1 || got.Hsms[0].EniIpV6 != h.EniIpV6 || got.NetworkType != "DUALSTACK" {
		t.Fatalf("DescribeClusters: %+v, want EniIpV6 %s", got.Hsms, h.EniIpV6)
	}

	e2 := newTestEnv(t)
	cl2 := e2.createCluster(CreateClusterInput{})
	if h2 := e2.createHsm(cl2.ClusterId); h2.EniIpV6 != "" || h2.EniIp == "" {
		t.Fatalf("IPV4 cluster's HSM: EniIp %q EniIpV6 %q", h2.EniIp, h2.EniIpV6)
	}
}

// TestTagNeedsKeyAndValue: Key and Value are both required members of a Tag: a tag sent
// without a Value (not the same as an empty Value) is refused, by TagResource and
// CreateCluster alike, and nothing is tagged.
func TestTagNeedsKeyAndValue(t *testing.T) {
	e := newTestEnv(t)
	ops := Operations()
	call := func(op, body string) (any, error) {
		return ops[op](e.s, e.ctx, e.c, []byte(body))
	}
	cl := e.createCluster(CreateClusterInput{})
	for _, tags := range []string{`[{"Key":"a"}]`, `[{"Value":"x"}]`, `[{"Key":"a","Value":null}]`, `[{"Key":"b","Value":"1"},{"Key":"a"}]`} {
		_, err := call("TagResource", `{"ResourceId":"`+cl.ClusterId+`","TagList":`+tags+`}`)
		wantErr(t, err, CodeInvalidRequest, "needs a Key and a Value")
		_, err = call("CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["`+subnetA+`"],"TagList":`+tags+`}`)
		wantErr(t, err, CodeInvalidRequest, "needs a Key and a Value")
	}
	if got := e.describe(cl.ClusterId); len(got.TagList) != 0 {
		t.Fatalf("tags after refused calls: %+v", got.TagList)
	}
	if _, err := call("TagResource", `{"ResourceId":"`+cl.ClusterId+`","TagList":[{"Key":"a","Value":""}]}`); err != nil {
		t.Fatal(err)
	}
	if got := e.describe(cl.ClusterId); len(got.TagList) != 1 || got.TagList[0] != (Tag{Key: "a"}) {
		t.Fatalf("tags: %+v", got.TagList)
	}
}

// TestHsm1BackupRestoresIntoHsm2m: a backup of an hsm1.medium cluster (taken before that
// type's end of support) restores into an hsm2m.medium cluster, the only type new
// clusters have.
func TestHsm1BackupRestoresIntoHsm2m(t *testing.T) {
	e := newTestEnv(t)
	cl := e.activeCluster(CreateClusterInput{})
	b, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.updateBackup(e.ctx, "", b.BackupId, func(r *backupRec) error {
		r.HsmType = HsmType1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.retire(cl.ClusterId)
	_, err = e.s.CreateCluster(e.ctx, e.c, CreateClusterInput{HsmType: HsmType1, SubnetIds: []string{subnetA}, SourceBackupId: b.BackupId})
	wantErr(t, err, CodeInvalidRequest, "end of support")
	out, err := e.s.CreateCluster(e.ctx, e.c, CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA}, SourceBackupId: b.BackupId})
	if err != nil || out.Cluster.HsmType != HsmType2 || out.Cluster.SourceBackupId != b.BackupId {
		t.Fatalf("restore of an hsm1.medium backup: %v %+v", err, out)
	}
}
