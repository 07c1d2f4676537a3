package cloudhsm

import (
	"strconv"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// TestHsmIPAddressMustBeAnIPv4Address: IpAddress (CreateHsm) and EniIp (DeleteHsm) match
// the model's pattern \d{1,3}(\.\d{1,3}){3} and must also be addresses a subnet can hold;
// 10.0.0.300 was recorded as an HSM's ENI address.
func TestHsmIPAddressMustBeAnIPv4Address(t *testing.T) {
	e := newTestEnv(t)
	cl := e.createCluster(CreateClusterInput{})
	for _, ip := range []string{"10.0.0.300", "256.1.1.1", "10.0.0.01", "1.2.3", "::1", "10.0.0.1 "} {
		_, err := e.s.CreateHsm(e.ctx, e.c, CreateHsmInput{ClusterId: cl.ClusterId, AvailabilityZone: "us-east-1a", IpAddress: ip})
		wantErr(t, err, CodeInvalidRequest, "IpAddress")
		_, err = e.s.DeleteHsm(e.ctx, e.c, DeleteHsmInput{ClusterId: cl.ClusterId, EniIp: ip})
		wantErr(t, err, CodeInvalidRequest, "EniIp")
	}
	if got := e.describe(cl.ClusterId); len(got.Hsms) != 0 {
		t.Fatalf("a refused CreateHsm added an HSM: %+v", got.Hsms)
	}
	out, err := e.s.CreateHsm(e.ctx, e.c, CreateHsmInput{ClusterId: cl.ClusterId, AvailabilityZone: "us-east-1a", IpAddress: "10.0.255.254"})
	if err != nil || out.Hsm.EniIp != "10.0.255.254" {
		t.Fatalf("CreateHsm with a valid address: %v %+v", err, out)
	}
	del, err := e.s.DeleteHsm(e.ctx, e.c, DeleteHsmInput{ClusterId: cl.ClusterId, EniIp: "10.0.255.254"})
	if err != nil || del.HsmId != out.Hsm.HsmId {
		t.Fatalf("DeleteHsm by EniIp: %v %+v", err, del)
	}
}

// TestDescribeBackupsShared: Shared lists the backups other accounts share with the caller.
// Coffer shares none, so the answer is an empty list, as AWS gives an account nobody shares
// with; it was a CloudHsmInvalidRequestException.
func TestDescribeBackupsShared(t *testing.T) {
	e := newTestEnv(t)
	cl := e.activeCluster(CreateClusterInput{})
	if _, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "test"); err != nil {
		t.Fatal(err)
	}
	out, err := e.s.DescribeBackups(e.ctx, e.c, DescribeBackupsInput{Shared: boolp(true)})
	if err != nil || out.Backups == nil || len(out.Backups) != 0 || out.NextToken != "" {
		t.Fatalf("Shared true: %v %+v", err, out)
	}
	if own := e.backups(DescribeBackupsInput{Shared: boolp(false)}); len(own) == 0 {
		t.Fatal("Shared false lists none of the caller's backups")
	}
	// The other parameters are still checked.
	_, err = e.s.DescribeBackups(e.ctx, e.c, DescribeBackupsInput{Shared: boolp(true), MaxResults: intp(51)})
	wantErr(t, err, CodeInvalidRequest, "MaxResults")
	_, err = e.s.DescribeBackups(e.ctx, e.c, DescribeBackupsInput{Shared: boolp(true), NextToken: "made-up"})
	wantErr(t, err, CodeInvalidRequest, "NextToken")
}

// TestTagQuotaIsAResourceLimit: tags that would take a resource past 50 are refused with
// CloudHsmResourceLimitExceededException (the model's TagResource error for exceeding a
// CloudHSM limit); a request of more than 50 tags stays a CloudHsmTagException; nothing
// changes either way.
func TestTagQuotaIsAResourceLimit(t *testing.T) {
	e := newTestEnv(t)
	tags := func(prefix string, n int) []Tag {
		var out []Tag
		for i := range n {
			out = append(out, Tag{Key: prefix + strconv.Itoa(i), Value: "v"})
		}
		return out
	}
	cl := e.createCluster(CreateClusterInput{TagList: tags("a", 50)})
	_, err := e.s.TagResource(e.ctx, e.c, TagResourceInput{ResourceId: cl.ClusterId, TagList: tags("b", 1)})
	wantErr(t, err, CodeLimitExceeded, "at most 50")
	_, err = e.s.TagResource(e.ctx, e.c, TagResourceInput{ResourceId: cl.ClusterId, TagList: tags("a", 51)})
	wantErr(t, err, CodeTag, "at most 50")
	_, err = e.s.CreateCluster(e.ctx, e.c, CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA}, TagList: tags("c", 51)})
	wantErr(t, err, CodeTag, "at most 50")
	if got := e.describe(cl.ClusterId).TagList; len(got) != 50 || got[0].Key != "a0" {
		t.Fatalf("tags after refused calls: %d %+v", len(got), got[:1])
	}
	// Replacing values is not a new tag.
	if _, err := e.s.TagResource(e.ctx, e.c, TagResourceInput{ResourceId: cl.ClusterId, TagList: []Tag{{Key: "a0", Value: "w"}}}); err != nil {
		t.Fatal(err)
	}
}

// TestRequestResource: the resource identity policies are evaluated against, per
// operation (what the cloudhsm guard in cmd/coffer needs so that a policy scoped to a
// cluster or backup ARN allows or denies; with "*" an explicit Deny on a backup ARN was
// ignored).
func TestRequestResource(t *testing.T) {
	const region, account = "us-east-1", "111122223333"
	cl, bk := "arn:aws:cloudhsm:us-east-1:111122223333:cluster/cluster-abcdefghijk", "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk"
	for _, tc := range []struct{ op, body, want string }{
		{"CreateHsm", `{"ClusterId":"cluster-abcdefghijk","AvailabilityZone":"us-east-1a"}`, cl},
		{"DeleteHsm", `{"ClusterId":"cluster-abcdefghijk","HsmId":"hsm-abcdefghijk"}`, cl},
		{"DeleteCluster", `{"ClusterId":"cluster-abcdefghijk"}`, cl},
		{"InitializeCluster", `{"ClusterId":"cluster-abcdefghijk"}`, cl},
		{"ModifyCluster", `{"ClusterId":"cluster-abcdefghijk"}`, cl},
		{"DeleteBackup", `{"BackupId":"backup-abcdefghijk"}`, bk},
		{"RestoreBackup", `{"BackupId":"backup-abcdefghijk"}`, bk},
		{"ModifyBackupAttributes", `{"BackupId":"backup-abcdefghijk","NeverExpires":true}`, bk},
		{"CopyBackupToRegion", `{"BackupId":"backup-abcdefghijk","DestinationRegion":"us-west-2"}`, bk},
		{"TagResource", `{"ResourceId":"backup-abcdefghijk"}`, bk},
		{"UntagResource", `{"ResourceId":"cluster-abcdefghijk"}`, cl},
		{"ListTags", `{"ResourceId":"cluster-abcdefghijk"}`, cl},
		{"GetResourcePolicy", `{"ResourceArn":"` + bk + `"}`, bk},
		{"CreateCluster", `{"SourceBackupId":"backup-abcdefghijk"}`, "*"},
		{"DescribeBackups", `{"Filters":{"backupIds":["backup-abcdefghijk"]}}`, "*"},
		{"DescribeClusters", `{}`, "*"},
		{"DeleteBackup", `{"BackupId":"backup-x/../cluster-abcdefghijk"}`, "*"},
		{"ListTags", `{"ResourceId":"hsm-abcdefghijk"}`, "*"},
		{"GetResourcePolicy", `{"ResourceArn":"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk*"}`, "*"},
		{"DeleteCluster", `not json`, "*"},
	} {
		if got := RequestResource(tc.op, region, account, []byte(tc.body)); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.op, tc.body, got, tc.want)
		}
	}
}

// TestNoBackupOfAForeignDomainKey: when the node's HSM holds another domain key than the
// cluster's (zeroized, then initialized afresh), the cluster is DEGRADED and its keys are
// not there. A backup then would file the new domain key and state as the cluster's newest
// backup, the one retention never expires, while the cluster's real backups age out: it is
// refused, and the scheduler takes none.
func TestNoBackupOfAForeignDomainKey(t *testing.T) {
	e := newTestEnv(t)
	cl := e.activeCluster(CreateClusterInput{})
	good, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "before")
	if err != nil {
		t.Fatal(err)
	}
	e.zeroize()
	if err := e.h.Initialize(e.ctx, hsm.DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Activate(e.ctx, adminPW); err != nil {
		t.Fatal(err)
	}
	if st := e.describe(cl.ClusterId).State; st != ClusterDegraded {
		t.Fatalf("cluster with another domain key: %s", st)
	}
	_, err = e.s.CreateBackup(e.ctx, cl.ClusterId, "after")
	wantErr(t, err, CodeInvalidRequest, "DEGRADED")
	e.clock.Add(48 * time.Hour)
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.backups(DescribeBackupsInput{}); len(got) != 1 || got[0].BackupId != good.BackupId {
		t.Fatalf("backups: %+v", got)
	}
}

// TestDeleteHsmTakesABackup: AWS makes a backup when an HSM is removed from an active
// cluster; the backup is taken before the removal (the last HSM's node could not take it
// after) and names the HSM. A refused DeleteHsm and one on an uninitialized cluster take none.
func TestDeleteHsmTakesABackup(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.BackupInterval = 1000 * time.Hour })
	cl := e.activeCluster(CreateClusterInput{})
	before := len(e.backups(DescribeBackupsInput{}))
	_, err := e.s.DeleteHsm(e.ctx, e.c, DeleteHsmInput{ClusterId: cl.ClusterId, HsmId: "hsm-aaaaaaaaaaa"})
	wantErr(t, err, CodeNotFound, "HSM not found")
	if n := len(e.backups(DescribeBackupsInput{})); n != before {
		t.Fatalf("a refused DeleteHsm took a backup: %d -> %d", before, n)
	}
	if _, err := e.s.DeleteHsm(e.ctx, e.c, DeleteHsmInput{ClusterId: cl.ClusterId, HsmId: cl.Hsms[0].HsmId}); err != nil {
		t.Fatal(err)
	}
	got := e.backups(DescribeBackupsInput{})
	if len(got) != before+1 || got[0].BackupState != BackupReady || got[0].ClusterId != cl.ClusterId {
		t.Fatalf("backups after DeleteHsm: %d -> %+v", before, got)
	}
	if rec, _ := e.s.getBackup("", got[0].BackupId); rec == nil || rec.Reason != "removing HSM "+cl.Hsms[0].HsmId {
		t.Fatalf("backup record: %+v", rec)
	}
	if len(e.describe(cl.ClusterId).Hsms) != 0 {
		t.Fatal("HSM still listed")
	}
}

// TestNonFIPSNeedsHsm2m: non-FIPS mode is a feature of hsm2m.medium; hsm1.medium HSMs run
// in FIPS mode only, so neither CreateCluster nor ModifyCluster makes such a cluster.
func TestNonFIPSNeedsHsm2m(t *testing.T) {
	e := newTestEnv(t)
	_, err := e.s.CreateCluster(e.ctx, e.c, CreateClusterInput{HsmType: HsmType1, Mode: ModeNonFIPS, SubnetIds: []string{subnetA}})
	wantErr(t, err, CodeInvalidRequest, "FIPS mode only")
	cl := e.createCluster(CreateClusterInput{Mode: ModeNonFIPS})
	_, err = e.s.ModifyCluster(e.ctx, e.c, ModifyClusterInput{ClusterId: cl.ClusterId, HsmType: HsmType1})
	wantErr(t, err, CodeInvalidRequest, "FIPS mode only")
	if got := e.describe(cl.ClusterId); got.HsmType != HsmType2 || got.Mode != ModeNonFIPS {
		t.Fatalf("after refused ModifyCluster: %s %s", got.HsmType, got.Mode)
	}
}

// TestClusterSubnetsAreInTheCallersRegion: subnets are regional, so a cluster created in
// us-west-2 cannot use a subnet of us-east-1a (it was created, with an HSM in us-east-1a).
func TestClusterSubnetsAreInTheCallersRegion(t *testing.T) {
	e := newTestEnv(t)
	west := e.c
	west.Region = "us-west-2"
	_, err := e.s.CreateCluster(e.ctx, west, CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA}})
	wantErr(t, err, CodeInvalidRequest, "not in region us-west-2")
	// us-east-1 is a prefix of us-east-10 (no such region yet): zones are compared whole.
	for az, ok := range map[string]bool{"us-east-1a": true, "us-east-1": false, "us-east-10a": false, "us-east-1ab": false, "us-west-2a": false} {
		if zoneInRegion(az, "us-east-1") != ok {
			t.Errorf("zoneInRegion(%s, us-east-1) = %v", az, !ok)
		}
	}
	if out, err := e.s.DescribeClusters(e.ctx, west, DescribeClustersInput{}); err != nil || len(out.Clusters) != 0 {
		t.Fatalf("clusters in us-west-2: %v %+v", err, out)
	}
	e.createCluster(CreateClusterInput{}) // the node's own region still works
}

// TestEmptyTagListIsRefused: TagList has 1 to 50 members in the model. CopyBackupToRegion
// read [] as "no tags", dropping the source's tags that an absent TagList copies; it and
// CreateCluster now refuse it, and no copy is made.
func TestEmptyTagListIsRefused(t *testing.T) {
	e := newTestEnv(t)
	_, err := e.s.CreateCluster(e.ctx, e.c, CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA}, TagList: []Tag{}})
	wantErr(t, err, CodeInvalidRequest, "TagList")
	cl := e.activeCluster(CreateClusterInput{})
	b, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.TagResource(e.ctx, e.c, TagResourceInput{ResourceId: b.BackupId, TagList: []Tag{{Key: "k", Value: "v"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.CopyBackupToRegion(e.ctx, e.c, CopyBackupToRegionInput{BackupId: b.BackupId, DestinationRegion: "us-west-2", TagList: []Tag{}})
	wantErr(t, err, CodeInvalidRequest, "TagList")
	west := e.c
	west.Region = "us-west-2"
	if out, err := e.s.DescribeBackups(e.ctx, west, DescribeBackupsInput{}); err != nil || len(out.Backups) != 0 {
		t.Fatalf("copies after a refused copy: %v %+v", err, out)
	}
	// Absent, the source's tags are copied.
	if _, err := e.s.CopyBackupToRegion(e.ctx, e.c, CopyBackupToRegionInput{BackupId: b.BackupId, DestinationRegion: "us-west-2"}); err != nil {
		t.Fatal(err)
	}
	if out, _ := e.s.DescribeBackups(e.ctx, west, DescribeBackupsInput{}); len(out.Backups) != 1 || len(out.Backups[0].TagList) != 1 {
		t.Fatalf("copy: %+v", out)
	}
}
