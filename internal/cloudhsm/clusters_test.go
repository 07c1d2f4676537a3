package cloudhsm

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/backup"
	"github.com/coffer-hsm/coffer/internal/hsm"
)

func TestClusterLifecycle(t *testing.T) {
	e := newTestEnv(t)
	cl := e.createCluster(CreateClusterInput{BackupRetentionPolicy: &BackupRetentionPolicy{Type: "DAYS", Value: "10"},
		TagList: []Tag{{Key: "team", Value: "crypto"}}})
	if cl.State != ClusterCreateInProgress || !clusterIDRE.MatchString(cl.ClusterId) || cl.Mode != ModeFIPS ||
		cl.BackupRetentionPolicy.Value != "10" || len(cl.Hsms) != 0 || cl.SourceBackupId != "" {
		t.Fatalf("created: %+v", cl)
	}
	// The next read settles it.
	cl = e.describe(cl.ClusterId)
	if cl.State != ClusterUninitialized || cl.Certificates != nil {
		t.Fatalf("after describe: %+v", cl)
	}
	// InitializeCluster needs an HSM (and its CSR) first.
	ca := newTestCA(t)
	_, err := e.s.InitializeCluster(e.ctx, e.c, InitializeClusterInput{ClusterId: cl.ClusterId, SignedCert: ca.pem, TrustAnchor: ca.pem})
	wantErr(t, err, CodeInvalidRequest, "has no HSM yet")

	h := e.createHsm(cl.ClusterId)
	if h.State != HsmActive || h.AvailabilityZone != "us-east-1a" || h.SubnetId != subnetA || !hsmIDRE.MatchString(h.HsmId) {
		t.Fatalf("hsm: %+v", h)
	}
	// One node, one HSM.
	_, err = e.s.CreateHsm(e.ctx, e.c, CreateHsmInput{ClusterId: cl.ClusterId, AvailabilityZone: "us-east-1a"})
	wantErr(t, err, CodeLimitExceeded, "one HSM")
	// An HSM in a zone this node is not in.
	_, err = e.s.CreateHsm(e.ctx, e.c, CreateHsmInput{ClusterId: cl.ClusterId, AvailabilityZone: "us-east-1b"})
	wantErr(t, err, CodeInvalidRequest, "us-east-1a")

	cl = e.describe(cl.ClusterId)
	if cl.State != ClusterUninitialized || cl.Certificates == nil || !strings.Contains(cl.Certificates.ClusterCsr, "CERTIFICATE REQUEST") {
		t.Fatalf("after CreateHsm: %+v", cl)
	}
	// The trust anchor is not the signed certificate.
	_, err = e.s.InitializeCluster(e.ctx, e.c, InitializeClusterInput{ClusterId: cl.ClusterId, SignedCert: ca.pem, TrustAnchor: ca.pem})
	wantErr(t, err, CodeInvalidRequest, "")
	// A certificate from another CA is refused.
	other := newTestCA(t)
	_, err = e.s.InitializeCluster(e.ctx, e.c, InitializeClusterInput{ClusterId: cl.ClusterId, SignedCert: other.sign(t, cl.Certificates.ClusterCsr), TrustAnchor: ca.pem})
	wantErr(t, err, CodeInvalidRequest, "")
	if st := e.h.Status(); st.State != hsm.StateUninitialized {
		t.Fatalf("HSM initialized by a refused call: %+v", st)
	}

	out, err := e.s.InitializeCluster(e.ctx, e.c, InitializeClusterInput{ClusterId: cl.ClusterId,
		SignedCert: ca.sign(t, cl.Certificates.ClusterCsr), TrustAnchor: ca.pem})
	if err != nil || out.State != ClusterInitialized {
		t.Fatalf("InitializeCluster: %v %+v", err, out)
	}
	cl = e.describe(cl.ClusterId)
	if cl.State != ClusterInitialized || cl.Certificates.ClusterCertificate == "" {
		t.Fatalf("after initialize: %+v", cl)
	}
	_, err = e.s.InitializeCluster(e.ctx, e.c, InitializeClusterInput{ClusterId: cl.ClusterId,
		SignedCert: ca.sign(t, cl.Certificates.ClusterCsr), TrustAnchor: ca.pem})
	wantErr(t, err, CodeInvalidRequest, "only an UNINITIALIZED cluster")

	if err := e.h.Activate(e.ctx, adminPW); err != nil {
		t.Fatal(err)
	}
	if cl = e.describe(cl.ClusterId); cl.State != ClusterActive || cl.Hsms[0].State != HsmActive {
		t.Fatalf("after activate: %+v", cl)
	}
	info, err := e.s.ClusterInfo("us-east-1", cl.ClusterId)
	if err != nil || info.State != ClusterActive || info.Lineage != cl.ClusterId || info.TrustAnchor != ca.pem ||
		!slices.Equal(info.HsmZones, []string{"us-east-1a"}) || info.Dev {
		t.Fatalf("ClusterInfo: %v %+v", err, info)
	}
	for _, tc := range []struct{ region, id string }{{"us-west-2", cl.ClusterId}, {"us-east-1", "cluster-aaaaaaaaaaaaa"}, {"us-east-1", "nope"}} {
		if _, err := e.s.ClusterInfo(tc.region, tc.id); errCode(err) != CodeNotFound {
			t.Errorf("ClusterInfo(%s, %s): %v", tc.region, tc.id, err)
		}
	}

	// A node holds one live cluster.
	_, err = e.s.CreateCluster(e.ctx, e.c, CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA}})
	wantErr(t, err, CodeLimitExceeded, "one cluster")
	// DeleteCluster with an HSM is refused; after DeleteHsm it works.
	_, err = e.s.DeleteCluster(e.ctx, e.c, ClusterIDInput{ClusterId: cl.ClusterId})
	wantErr(t, err, CodeInvalidRequest, "still has 1 HSM")
	if _, err := e.s.DeleteHsm(e.ctx, e.c, DeleteHsmInput{ClusterId: cl.ClusterId, EniIp: h.EniIp}); err != nil {
		t.Fatal(err)
	}
	del, err := e.s.DeleteCluster(e.ctx, e.c, ClusterIDInput{ClusterId: cl.ClusterId})
	if err != nil || del.Cluster.State != ClusterDeleted {
		t.Fatalf("DeleteCluster: %v %+v", err, del)
	}
}

func TestValidation(t *testing.T) {
	e := newTestEnv(t)
	for _, v := range []string{"6", "380", "x", "-7", "+10"} {
		_, err := e.s.CreateCluster(e.ctx, e.c, CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA},
			BackupRetentionPolicy: &BackupRetentionPolicy{Type: "DAYS", Value: v}})
		wantErr(t, err, CodeInvalidRequest, "BackupRetentionPolicy.Value")
	}
	for _, tc := range []struct {
		in     CreateClusterInput
		substr string
	}{
		{CreateClusterInput{HsmType: "hsm9.huge", SubnetIds: []string{subnetA}}, "HsmType"},
		{CreateClusterInput{HsmType: HsmType2}, "SubnetIds"},
		{CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{"subnet-0123456789abcdef0"}}, "not known"},
		{CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetB}}, "none of the subnets"},
		{CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA}, Mode: "fips"}, "Mode"},
		{CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA}, SourceBackupId: "backup-aaaaaaaaaaa"}, "not found"},
		{CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA}, SourceBackupId: "arn:aws:cloudhsm:us-west-2:111122223333:backup/backup-aaaaaaaaaaa"}, "copy it first"},
	} {
		_, err := e.s.CreateCluster(e.ctx, e.c, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("%+v: %v, want %q", tc.in, err, tc.substr)
		}
	}
	cl := e.createCluster(CreateClusterInput{})
	// Tick settles a new cluster too.
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.s.getCluster("", cl.ClusterId); rec.State != ClusterUninitialized {
		t.Fatalf("after Tick: %s", rec.State)
	}
	for _, id := range []string{"", "cluster-1", "cluster-" + strings.Repeat("a", 17), "hsm-aaaaaaaaaaa"} {
		_, err := e.s.ModifyCluster(e.ctx, e.c, ModifyClusterInput{ClusterId: id, HsmType: HsmType2})
		wantErr(t, err, CodeInvalidRequest, "not a valid cluster id")
	}
	_, err := e.s.ModifyCluster(e.ctx, e.c, ModifyClusterInput{ClusterId: "cluster-aaaaaaaaaaa", HsmType: HsmType2})
	wantErr(t, err, CodeNotFound, "not found")
	// Another region does not see the cluster.
	other := e.c
	other.Region = "eu-west-1"
	_, err = e.s.ModifyCluster(e.ctx, other, ModifyClusterInput{ClusterId: cl.ClusterId, HsmType: HsmType2})
	wantErr(t, err, CodeNotFound, "not found")
	for _, v := range []string{"6", "380"} {
		_, err := e.s.ModifyCluster(e.ctx, e.c, ModifyClusterInput{ClusterId: cl.ClusterId, BackupRetentionPolicy: &BackupRetentionPolicy{Type: "DAYS", Value: v}})
		wantErr(t, err, CodeInvalidRequest, "out of range")
	}
	mod, err := e.s.ModifyCluster(e.ctx, e.c, ModifyClusterInput{ClusterId: cl.ClusterId, BackupRetentionPolicy: &BackupRetentionPolicy{Type: "DAYS", Value: "379"}})
	if err != nil || mod.Cluster.BackupRetentionPolicy.Value != "379" {
		t.Fatalf("ModifyCluster: %v %+v", err, mod)
	}
	_, err = e.s.DescribeClusters(e.ctx, e.c, DescribeClustersInput{Filters: map[string][]string{"regions": {"x"}}})
	wantErr(t, err, CodeInvalidRequest, "unknown filter")
	_, err = e.s.DescribeBackups(e.ctx, e.c, DescribeBackupsInput{Filters: map[string][]string{"vpcIds": {"x"}}})
	wantErr(t, err, CodeInvalidRequest, "unknown filter")
	_, err = e.s.DescribeBackups(e.ctx, e.c, DescribeBackupsInput{Filters: map[string][]string{"neverExpires": {"maybe"}}})
	wantErr(t, err, CodeInvalidRequest, "true or false")
	for _, n := range []int{0, 26, -1} {
		_, err = e.s.DescribeClusters(e.ctx, e.c, DescribeClustersInput{MaxResults: intp(n)})
		wantErr(t, err, CodeInvalidRequest, "MaxResults")
	}
	_, err = e.s.DescribeBackups(e.ctx, e.c, DescribeBackupsInput{MaxResults: intp(51)})
	wantErr(t, err, CodeInvalidRequest, "1 to 50")
	for _, tok := range []string{"x", pageToken(3) + "A", strings.Repeat("A", 300), "AAAAAAAAAAAAAAAA"} {
		_, err = e.s.DescribeClusters(e.ctx, e.c, DescribeClustersInput{NextToken: tok})
		wantErr(t, err, CodeInvalidRequest, "NextToken")
	}
	for _, id := range []string{"", "backup-1", "cluster-aaaaaaaaaaa"} {
		_, err := e.s.DeleteBackup(e.ctx, e.c, BackupIDInput{BackupId: id})
		wantErr(t, err, CodeInvalidRequest, "not a valid backup id")
	}
	_, err = e.s.DeleteBackup(e.ctx, e.c, BackupIDInput{BackupId: "backup-aaaaaaaaaaa"})
	wantErr(t, err, CodeNotFound, "not found")
	_, err = e.s.DeleteHsm(e.ctx, e.c, DeleteHsmInput{ClusterId: cl.ClusterId})
	wantErr(t, err, CodeInvalidRequest, "HsmId, EniId or EniIp")
	// Backups need an initialized cluster.
	_, err = e.s.CreateBackup(e.ctx, cl.ClusterId, "test")
	wantErr(t, err, CodeInvalidRequest, "only an initialized cluster")
}

func TestPaginate(t *testing.T) {
	all := []int{0, 1, 2, 3, 4, 5, 6}
	var got []int
	tok := ""
	pages := 0
	for {
		page, next, err := paginate(all, tok, 3)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		pages++
		if next == "" {
			break
		}
		tok = next
	}
	if !slices.Equal(got, all) || pages != 3 {
		t.Fatalf("pages %d: %v", pages, got)
	}
	// A token past the end (the list shrank) is an empty last page.
	page, next, err := paginate(all[:2], pageToken(3), 3)
	if err != nil || len(page) != 0 || next != "" {
		t.Fatalf("%v %q %v", page, next, err)
	}
	// Every single-character change of a token is refused or reads as a valid token.
	tok = pageToken(3)
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 1
		if _, err := parsePageToken(string(b)); err == nil {
			t.Errorf("mangled token %q accepted", b)
		}
	}
}

func TestDevCluster(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Subnets = nil })
	_, err := e.s.EnsureDevCluster(e.ctx)
	wantErr(t, err, CodeInvalidRequest, "not ACTIVE")
	if err := e.h.Initialize(e.ctx, hsm.DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Activate(e.ctx, adminPW); err != nil {
		t.Fatal(err)
	}
	id, err := e.s.EnsureDevCluster(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.s.EnsureDevCluster(e.ctx); err != nil || again != id {
		t.Fatalf("second EnsureDevCluster: %s %v", again, err)
	}
	cl := e.describe(id)
	if cl.State != ClusterActive || len(cl.Hsms) != 1 || cl.Hsms[0].SubnetId != DefaultSubnet("us-east-1a") ||
		cl.Certificates == nil || cl.Certificates.ClusterCertificate == "" {
		t.Fatalf("dev cluster: %+v", cl)
	}
	info, err := e.s.ClusterInfo("us-east-1", id)
	if err != nil || !info.Dev || info.Lineage != id || !strings.Contains(info.TrustAnchor, "BEGIN CERTIFICATE") {
		t.Fatalf("ClusterInfo: %v %+v", err, info)
	}
	// The dev cluster is backed up and restored like any other, through the node's
	// default subnet.
	b, err := e.s.CreateBackup(e.ctx, id, "dev")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(e.s.ShareFile(b.BackupId))
	share, _, err := backup.ParseShare(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	e.zeroize()
	e.retire(id)
	nc := e.createCluster(CreateClusterInput{SourceBackupId: b.BackupId, SubnetIds: []string{cl.Hsms[0].SubnetId}})
	e.createHsm(nc.ClusterId)
	restored, err := e.s.RestoreCluster(e.ctx, Caller{}, nc.ClusterId, [][]byte{share}, nil)
	if err != nil {
		t.Fatal(err)
	}
	info2, _ := e.s.ClusterInfo("us-east-1", nc.ClusterId)
	if restored.State != ClusterActive || info2.Lineage != id || info2.TrustAnchor != info.TrustAnchor || info2.Dev {
		t.Fatalf("restored dev cluster: %+v %+v", restored, info2)
	}
	if src, err := e.s.SourceBackupID(nc.ClusterId); err != nil || src != b.BackupId {
		t.Fatalf("SourceBackupID: %q %v", src, err)
	}
}
