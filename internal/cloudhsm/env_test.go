package cloudhsm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/backup"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/seal"
	"github.com/coffer-hsm/coffer/internal/state"
)

const (
	subnetA  = "subnet-0a608d19e6c29c7a9" // us-east-1a, the node's zone
	subnetB  = "subnet-0364ed27644866914" // us-east-1b
	adminPW  = "admin-password"
	testAcct = "111122223333"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// testEnv is one node: a real raft store in a temp dir with the hsm and cloudhsm parts, a
// directory backup store, a share directory and an injected clock.
type testEnv struct {
	t      testing.TB
	dir    string
	ctx    context.Context
	clock  *fakeClock
	h      *hsm.HSM
	s      *Service
	store  *state.Store
	bstore *backup.DirStore
	c      Caller
	wiped  chan struct{}
}

func newTestEnv(t testing.TB, mutate ...func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dir: t.TempDir(), ctx: context.Background(), clock: &fakeClock{t: time.Now().UTC()},
		c:     Caller{Region: "us-east-1", Account: testAcct, Principal: "arn:aws:iam::" + testAcct + ":root"},
		wiped: make(chan struct{}, 1)}
	sealer, err := seal.NewNodeKeySealer(filepath.Join(e.dir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	e.h = hsm.New(hsm.Config{DomainKeyPath: filepath.Join(e.dir, "domain-key.sealed"), Sealer: sealer,
		// As the server does: zeroization scrubs the replicated state but keeps the
		// cloudhsm part (cluster and backup records).
		OnZeroize: func() {
			if err := e.store.Wipe(context.Background(), "cloudhsm"); err != nil {
				t.Errorf("wipe: %v", err)
			}
			e.wiped <- struct{}{}
		}})
	e.bstore = &backup.DirStore{Root: filepath.Join(e.dir, "backups")}
	cfg := Config{HSM: e.h, Store: e.bstore, ShareDir: filepath.Join(e.dir, "shares"), NodeID: "n1", Zone: "us-east-1a",
		Subnets: map[string]string{subnetA: "us-east-1a", subnetB: "us-east-1b"}, Now: e.clock.Now}
	for _, m := range mutate {
		m(&cfg)
	}
	e.s = New(cfg)
	e.store, err = state.Open(state.Config{NodeID: "n1", Dir: filepath.Join(e.dir, "raft")}, e.h, e.s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	e.h.Attach(e.store)
	e.s.Attach(e.store)
	return e
}

func errCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "not *Error: " + err.Error()
}

func wantErr(t testing.TB, err error, code, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s containing %q", code, substr)
	}
	e := AsError(err)
	if e.Code != code || !strings.Contains(e.Message, substr) {
		t.Fatalf("got %v; want %s containing %q", err, code, substr)
	}
}

func (e *testEnv) createCluster(in CreateClusterInput) Cluster {
	e.t.Helper()
	if in.HsmType == "" {
		in.HsmType = HsmType2
	}
	if in.SubnetIds == nil {
		in.SubnetIds = []string{subnetA, subnetB}
	}
	out, err := e.s.CreateCluster(e.ctx, e.c, in)
	if err != nil {
		e.t.Fatalf("CreateCluster: %v", err)
	}
	return out.Cluster
}

func (e *testEnv) describe(id string) Cluster {
	e.t.Helper()
	out, err := e.s.DescribeClusters(e.ctx, e.c, DescribeClustersInput{Filters: map[string][]string{"clusterIds": {id}}})
	if err != nil || len(out.Clusters) != 1 {
		e.t.Fatalf("DescribeClusters %s: %v %+v", id, err, out)
	}
	return out.Clusters[0]
}

func (e *testEnv) createHsm(clusterID string) Hsm {
	e.t.Helper()
	out, err := e.s.CreateHsm(e.ctx, e.c, CreateHsmInput{ClusterId: clusterID, AvailabilityZone: "us-east-1a"})
	if err != nil {
		e.t.Fatalf("CreateHsm: %v", err)
	}
	return out.Hsm
}

// testCA is the operator's CA (P-256: fast).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Customer CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// sign signs a cluster CSR as `openssl x509 -req` does.
func (ca *testCA) sign(t testing.TB, csrPEM string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil {
		t.Fatal("CSR is not PEM")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: csr.Subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// activeCluster runs the operator's lifecycle to an ACTIVE cluster and returns it.
func (e *testEnv) activeCluster(in CreateClusterInput) Cluster {
	e.t.Helper()
	cl := e.createCluster(in)
	e.createHsm(cl.ClusterId)
	cl = e.describe(cl.ClusterId)
	ca := newTestCA(e.t)
	if _, err := e.s.InitializeCluster(e.ctx, e.c, InitializeClusterInput{ClusterId: cl.ClusterId,
		SignedCert: ca.sign(e.t, cl.Certificates.ClusterCsr), TrustAnchor: ca.pem}); err != nil {
		e.t.Fatalf("InitializeCluster: %v", err)
	}
	if err := e.h.Activate(e.ctx, adminPW); err != nil {
		e.t.Fatal(err)
	}
	cl = e.describe(cl.ClusterId)
	if cl.State != ClusterActive {
		e.t.Fatalf("cluster not ACTIVE: %+v", cl)
	}
	return cl
}

func (e *testEnv) login(user, role, pw string) *hsm.Session {
	e.t.Helper()
	res, err := e.h.Login(e.ctx, hsm.LoginRequest{Username: user, Role: role, Password: pw})
	if err != nil || res.Session == nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	return res.Session
}

// keyMaterial creates a crypto user with an AES key and returns the key's handle and a
// ciphertext of "sealed before the backup" under it.
func (e *testEnv) keyMaterial(user string) (uint64, []byte) {
	e.t.Helper()
	if err := e.h.CreateUser(e.ctx, e.login("admin", hsm.RoleAdmin, adminPW), user, hsm.RoleCrypto, user+"-password", nil); err != nil {
		e.t.Fatal(err)
	}
	cu := e.login(user, hsm.RoleCrypto, user+"-password")
	yes := true
	ki, err := e.h.GenerateSymmetric(e.ctx, cu, hsm.GenerateSymmetricRequest{KeyType: hsm.TypeAES, KeyLengthBytes: 32,
		Attributes: hsm.AttrSpec{Label: "restored", Encrypt: &yes, Decrypt: &yes}})
	if err != nil {
		e.t.Fatal(err)
	}
	ref, _ := hsm.ParseKeyRef(ki.KeyReference)
	ct, err := e.h.EncryptAESGCM(cu, ref, []byte("sealed before the backup"), nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return ref, ct
}

func (e *testEnv) checkKeyMaterial(user string, ref uint64, ct []byte) {
	e.t.Helper()
	cu := e.login(user, hsm.RoleCrypto, user+"-password")
	pt, err := e.h.DecryptAESGCM(cu, ref, ct, nil, nil)
	if err != nil || string(pt) != "sealed before the backup" {
		e.t.Fatalf("decrypt after restore: %q %v", pt, err)
	}
}

// zeroize zeroizes the HSM core (as an admin) and waits for the state wipe.
func (e *testEnv) zeroize() {
	e.t.Helper()
	if err := e.h.Zeroize(e.ctx, e.login("admin", hsm.RoleAdmin, adminPW), "test"); err != nil {
		e.t.Fatal(err)
	}
	select {
	case <-e.wiped:
	case <-time.After(30 * time.Second):
		e.t.Fatal("state was not wiped")
	}
	if st := e.h.Status(); st.State != hsm.StateUninitialized {
		e.t.Fatalf("after zeroize: %+v", st)
	}
}

// retire deletes the cluster's HSMs and the cluster, so that the node can hold another.
func (e *testEnv) retire(clusterID string) {
	e.t.Helper()
	for _, h := range e.describe(clusterID).Hsms {
		if _, err := e.s.DeleteHsm(e.ctx, e.c, DeleteHsmInput{ClusterId: clusterID, HsmId: h.HsmId}); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := e.s.DeleteCluster(e.ctx, e.c, ClusterIDInput{ClusterId: clusterID}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) backups(in DescribeBackupsInput) []Backup {
	e.t.Helper()
	out, err := e.s.DescribeBackups(e.ctx, e.c, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Backups
}

func (e *testEnv) backupState(id string) Backup {
	e.t.Helper()
	c := e.c
	b, err := e.s.getBackup("", id)
	if err != nil {
		e.t.Fatal(err)
	}
	c.Region = b.Region
	out, err := e.s.DescribeBackups(e.ctx, c, DescribeBackupsInput{Filters: map[string][]string{"backupIds": {id}}})
	if err != nil || len(out.Backups) != 1 {
		e.t.Fatalf("describe backup %s: %v %+v", id, err, out)
	}
	return out.Backups[0]
}

func intp(n int) *int    { return &n }
func boolp(b bool) *bool { return &b }
