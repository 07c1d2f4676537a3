package cloudhsm

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-hsm/coffer/internal/backup"
	"github.com/coffer-hsm/coffer/internal/hsm"
)

var (
	custodianOnce sync.Once
	custodianKeys []*rsa.PrivateKey
)

// testCustodians returns three RSA-2048 custodian keys, generated once.
func testCustodians(t *testing.T) []*rsa.PrivateKey {
	t.Helper()
	custodianOnce.Do(func() {
		keys := make([]*rsa.PrivateKey, 3)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() { keys[i], _ = rsa.GenerateKey(rand.Reader, 2048) })
		}
		wg.Wait()
		custodianKeys = keys
	})
	for _, k := range custodianKeys {
		if k == nil {
			t.Fatal("custodian key generation failed")
		}
	}
	return custodianKeys
}

func pubPEM(t *testing.T, k *rsa.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// restoredCluster creates a cluster from backupRef with an HSM on this node.
func (e *testEnv) restoredCluster(backupRef string) Cluster {
	e.t.Helper()
	cl := e.createCluster(CreateClusterInput{SourceBackupId: backupRef})
	if cl.SourceBackupId == "" || cl.State != ClusterCreateInProgress {
		e.t.Fatalf("restored cluster: %+v", cl)
	}
	e.createHsm(cl.ClusterId)
	cl = e.describe(cl.ClusterId)
	if cl.State != ClusterUninitialized || cl.Certificates != nil {
		e.t.Fatalf("a cluster created from a backup made a CSR or is not UNINITIALIZED: %+v", cl)
	}
	return cl
}

func TestCustodiansAndRestore(t *testing.T) {
	keys := testCustodians(t)
	e := newTestEnv(t)
	src := e.activeCluster(CreateClusterInput{Mode: ModeNonFIPS, TagList: []Tag{{Key: "app", Value: "pay"}}})
	ref, ct := e.keyMaterial("carol")

	var ck []backup.CustodianKey
	for i, k := range keys {
		ck = append(ck, backup.CustodianKey{Name: []string{"alice", "bob", "chen"}[i], PublicKeyPEM: pubPEM(t, &k.PublicKey)})
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m      int
		keys   []backup.CustodianKey
		substr string
	}{
		{1, ck, "threshold 1 of 3"},
		{4, ck, "threshold 4 of 3"},
		{2, []backup.CustodianKey{ck[0], {Name: "alice", PublicKeyPEM: ck[1].PublicKeyPEM}}, "listed twice"},
		{2, []backup.CustodianKey{ck[0], {Name: "dana", PublicKeyPEM: ck[0].PublicKeyPEM}}, "same key"},
		{1, []backup.CustodianKey{{Name: "eve", PublicKeyPEM: pubPEM(t, &small.PublicKey)}}, "at least 2048"},
		{1, []backup.CustodianKey{{Name: "eve", PublicKeyPEM: "garbage"}}, "not PEM"},
		{1, []backup.CustodianKey{{Name: "", PublicKeyPEM: ck[0].PublicKeyPEM}}, "1 to 64"},
		{1, nil, "needs custodian keys"},
	} {
		wantErr(t, e.s.SetCustodians(e.ctx, src.ClusterId, tc.m, tc.keys), CodeInvalidRequest, tc.substr)
	}
	if err := e.s.SetCustodians(e.ctx, src.ClusterId, 2, ck); err != nil {
		t.Fatal(err)
	}
	m, got, err := e.s.Custodians(src.ClusterId)
	if err != nil || m != 2 || len(got) != 3 || got[1] != ck[1] {
		t.Fatalf("Custodians: %v %d %+v", err, m, got)
	}

	b, err := e.s.CreateBackup(e.ctx, src.ClusterId, "before zeroize")
	if err != nil {
		t.Fatal(err)
	}
	if fileExists(t, e.s.ShareFile(b.BackupId)) {
		t.Fatal("an offline share was written for a backup with custodians")
	}
	// Each custodian fetches their wrapped share and decrypts it locally.
	var shares [][]byte
	for i, k := range keys {
		ws, err := e.s.CustodianShare(e.ctx, b.BackupId, backup.Fingerprint(&k.PublicKey))
		if err != nil || ws.Custodian != ck[i].Name {
			t.Fatalf("CustodianShare %d: %v %+v", i, err, ws)
		}
		share, err := backup.DecryptShare(ws, k)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, share)
	}
	_, err = e.s.CustodianShare(e.ctx, b.BackupId, backup.Fingerprint(&small.PublicKey))
	wantErr(t, err, CodeNotFound, "alice, bob, chen")

	// Disaster: the HSM is zeroized. The operator retires the cluster and restores the
	// backup into a new one.
	e.zeroize()
	e.retire(src.ClusterId)
	// The backup records survived the wipe of the replicated state.
	arn := e.backupState(b.BackupId).BackupArn
	_, err = e.s.CreateCluster(e.ctx, e.c, CreateClusterInput{HsmType: HsmType1, SubnetIds: []string{subnetA}, SourceBackupId: arn})
	wantErr(t, err, CodeInvalidRequest, "HSM type")
	_, err = e.s.CreateCluster(e.ctx, e.c, CreateClusterInput{HsmType: HsmType2, SubnetIds: []string{subnetA}, SourceBackupId: arn, Mode: ModeFIPS})
	wantErr(t, err, CodeInvalidRequest, "mode")
	cl := e.restoredCluster(arn)
	if cl.SourceBackupId != b.BackupId || cl.Mode != ModeNonFIPS || cl.HsmType != HsmType2 {
		t.Fatalf("restored cluster: %+v", cl)
	}
	info, _ := e.s.ClusterInfo("us-east-1", cl.ClusterId)
	if info.Lineage != src.ClusterId {
		t.Fatalf("lineage %q, want the source cluster %s", info.Lineage, src.ClusterId)
	}
	ca := newTestCA(t)
	_, err = e.s.InitializeCluster(e.ctx, e.c, InitializeClusterInput{ClusterId: cl.ClusterId, SignedCert: ca.pem, TrustAnchor: ca.pem})
	wantErr(t, err, CodeInvalidRequest, "restore the backup")

	// One share of a 2-of-3 backup is not enough, and says so.
	_, err = e.s.RestoreCluster(e.ctx, e.c, cl.ClusterId, shares[:1], nil)
	wantErr(t, err, CodeInvalidRequest, "needs 2 of its 3 custodian shares, got 1")
	// Two copies of one share do not recover the key either.
	_, err = e.s.RestoreCluster(e.ctx, e.c, cl.ClusterId, [][]byte{shares[0], shares[0]}, nil)
	wantErr(t, err, CodeInvalidRequest, "do not unlock")
	if got := e.describe(cl.ClusterId); got.State != ClusterUninitialized {
		t.Fatalf("after refused restores: %+v", got)
	}
	if st := e.h.Status(); st.State != hsm.StateUninitialized {
		t.Fatalf("HSM after refused restores: %+v", st)
	}

	var last, total int64
	restored, err := e.s.RestoreCluster(e.ctx, e.c, cl.ClusterId, [][]byte{shares[2], shares[0]}, func(done, tot int64) { last, total = done, tot })
	if err != nil {
		t.Fatal(err)
	}
	if restored.State != ClusterActive || restored.Certificates == nil || restored.Certificates.ClusterCertificate == "" || last != total || total == 0 {
		t.Fatalf("restored: %+v (progress %d/%d)", restored, last, total)
	}
	if got := e.describe(cl.ClusterId); got.State != ClusterActive || got.SourceBackupId != b.BackupId {
		t.Fatalf("after restore: %+v", got)
	}
	// Users and keys are back: carol decrypts what she encrypted before the disaster.
	e.checkKeyMaterial("carol", ref, ct)
	e.login("admin", hsm.RoleAdmin, adminPW)
	_, err = e.s.RestoreCluster(e.ctx, e.c, cl.ClusterId, shares[:2], nil)
	wantErr(t, err, CodeInvalidRequest, "only an UNINITIALIZED cluster")
	// The restored cluster is backed up like any other, with the same lineage.
	b2, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "after restore")
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := e.s.getBackup("", b2.BackupId)
	if rec.Lineage != src.ClusterId || rec.DomainKeyID != e.h.Status().DomainKeyID {
		t.Fatalf("backup of the restored cluster: %+v", rec)
	}
}

func TestRestoreOfflineShareAndTamper(t *testing.T) {
	e := newTestEnv(t)
	src := e.activeCluster(CreateClusterInput{})
	ref, ct := e.keyMaterial("dora")
	b, err := e.s.CreateBackup(e.ctx, src.ClusterId, "test")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(e.s.ShareFile(b.BackupId))
	if err != nil {
		t.Fatal(err)
	}
	share, _, err := backup.ParseShare(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	// Not restorable into a cluster that was not created from a backup.
	_, err = e.s.RestoreCluster(e.ctx, e.c, src.ClusterId, [][]byte{share}, nil)
	wantErr(t, err, CodeInvalidRequest, "not created from a backup")

	e.zeroize()
	e.retire(src.ClusterId)
	cl := e.restoredCluster(b.BackupId)

	// A flipped bit anywhere in the payload or MAC is detected before anything changes.
	path := filepath.Join(e.bstore.Root, "us-east-1", b.BackupId+".cbk")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{len(orig) / 2, len(orig) - 40, len(orig) - 1} {
		bad := append([]byte(nil), orig...)
		bad[off] ^= 0x04
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = e.s.RestoreCluster(e.ctx, e.c, cl.ClusterId, [][]byte{share}, nil)
		wantErr(t, err, CodeInvalidRequest, "fails authentication: its archive was altered or is corrupt")
	}
	// A header change (another backup id) is caught too.
	bad := []byte(strings.Replace(string(orig), b.BackupId, "backup-aaaaaaaaaaa", 1))
	os.WriteFile(path, bad, 0o600)
	_, err = e.s.RestoreCluster(e.ctx, e.c, cl.ClusterId, [][]byte{share}, nil)
	wantErr(t, err, CodeInvalidRequest, "another backup")
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	// A wrong share.
	wrong := append([]byte(nil), share...)
	wrong[0] ^= 1
	_, err = e.s.RestoreCluster(e.ctx, e.c, cl.ClusterId, [][]byte{wrong}, nil)
	wantErr(t, err, CodeInvalidRequest, "do not unlock")
	_, err = e.s.RestoreCluster(e.ctx, e.c, cl.ClusterId, nil, nil)
	wantErr(t, err, CodeInvalidRequest, "no custodian shares")
	if got := e.describe(cl.ClusterId); got.State != ClusterUninitialized {
		t.Fatalf("after refused restores: %+v", got)
	}

	if _, err := e.s.RestoreCluster(e.ctx, e.c, cl.ClusterId, [][]byte{share}, nil); err != nil {
		t.Fatal(err)
	}
	e.checkKeyMaterial("dora", ref, ct)
	if got := e.describe(cl.ClusterId); got.State != ClusterActive {
		t.Fatalf("after restore: %+v", got)
	}
}
