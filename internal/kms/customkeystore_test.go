package kms

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// testClusters is an in-memory ClusterDirectory (the CloudHSM control plane is another
// package).
type testClusters struct {
	mu sync.Mutex
	m  map[string]CloudHsmCluster // region/id
}

func (d *testClusters) LookupCluster(ctx context.Context, region, id string) (CloudHsmCluster, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.m[region+"/"+id]
	return c, ok, nil
}

func (d *testClusters) put(region string, c CloudHsmCluster) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[region+"/"+c.ID] = c
}

func (d *testClusters) update(region, id string, fn func(c *CloudHsmCluster)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.m[region+"/"+id]
	fn(&c)
	d.m[region+"/"+id] = c
}

func (d *testClusters) remove(region, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, region+"/"+id)
}

// testTrustAnchor returns a self-signed CA certificate in PEM.
func testTrustAnchor(t testing.TB, cn string) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

const (
	cluster1   = "cluster-abcdefghijk"
	kmsuserPW  = "kmsuser-initial-pw"
	adminPW    = "admin-password"
	testRegion = "us-east-1"
)

type cksEnv struct {
	*testEnv
	cl     *testClusters
	anchor string
}

func newCKSEnv(t *testing.T, o envOpts) *cksEnv {
	t.Helper()
	d := &testClusters{m: map[string]CloudHsmCluster{}}
	o.clusters = d
	e := &cksEnv{testEnv: newTestEnvOpts(t, o), cl: d, anchor: testTrustAnchor(t, "customerCA")}
	e.addCluster(cluster1, "lineage-1", "us-east-1a", "us-east-1b")
	return e
}

func (e *cksEnv) addCluster(id, lineage string, zones ...string) {
	e.cl.put(testRegion, CloudHsmCluster{ID: id, State: "ACTIVE", TrustAnchor: e.anchor, Lineage: lineage, HsmZones: zones})
}

func (e *cksEnv) admin() *hsm.Session {
	e.t.Helper()
	res, err := e.h.Login(e.ctx, hsm.LoginRequest{Username: hsm.DefaultAdmin, Role: hsm.RoleAdmin, Password: adminPW})
	if err != nil {
		e.t.Fatalf("admin login: %v", err)
	}
	return res.Session
}

func (e *cksEnv) createKMSUser(pw string) {
	e.t.Helper()
	if err := e.h.CreateUser(e.ctx, e.admin(), KMSUser, hsm.RoleCrypto, pw, nil); err != nil {
		e.t.Fatalf("creating kmsuser: %v", err)
	}
}

func (e *cksEnv) createStore(name, cluster, pw string) string {
	e.t.Helper()
	out, err := e.k.CreateCustomKeyStore(e.ctx, e.c, CreateCustomKeyStoreInput{CustomKeyStoreName: name,
		CloudHsmClusterId: cluster, TrustAnchorCertificate: e.anchor, KeyStorePassword: pw})
	if err != nil {
		e.t.Fatalf("CreateCustomKeyStore: %v", err)
	}
	return out.CustomKeyStoreId
}

func (e *cksEnv) store(id string) CustomKeyStoresListEntry {
	e.t.Helper()
	out, err := e.k.DescribeCustomKeyStores(e.ctx, e.c, DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
	if err != nil || len(out.CustomKeyStores) != 1 {
		e.t.Fatalf("DescribeCustomKeyStores %s: %v %+v", id, err, out)
	}
	return out.CustomKeyStores[0]
}

// connect connects a store and waits for the attempt to end.
func (e *cksEnv) connect(id string) CustomKeyStoresListEntry {
	e.t.Helper()
	if _, err := e.k.ConnectCustomKeyStore(e.ctx, e.c, CustomKeyStoreIDInput{CustomKeyStoreId: id}); err != nil {
		e.t.Fatalf("ConnectCustomKeyStore: %v", err)
	}
	e.k.WaitCustomKeyStoreConnections()
	return e.store(id)
}

func (e *cksEnv) disconnect(id string) {
	e.t.Helper()
	if _, err := e.k.DisconnectCustomKeyStore(e.ctx, e.c, CustomKeyStoreIDInput{CustomKeyStoreId: id}); err != nil {
		e.t.Fatalf("DisconnectCustomKeyStore: %v", err)
	}
}

func (e *cksEnv) connected(id string) {
	e.t.Helper()
	if st := e.connect(id); st.ConnectionState != ConnConnected || st.ConnectionErrorCode != "" {
		e.t.Fatalf("store %s: %+v", id, st)
	}
}

func (e *cksEnv) storeKey(storeID string) KeyMetadata {
	e.t.Helper()
	return e.createKey(CreateKeyInput{Origin: OriginCloudHSM, CustomKeyStoreId: storeID, Description: "in the cluster"})
}

func (e *cksEnv) decrypt(blob []byte) (string, error) {
	out, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: blob})
	if err != nil {
		return "", err
	}
	return string(out.Plaintext), nil
}

func TestCustomKeyStoreWithoutCloudHSM(t *testing.T) {
	e := newTestEnv(t) // Config.Clusters nil: no CloudHSM API
	_, err := e.k.CreateCustomKeyStore(e.ctx, e.c, CreateCustomKeyStoreInput{CustomKeyStoreName: "s", CloudHsmClusterId: cluster1,
		TrustAnchorCertificate: "x", KeyStorePassword: "password"})
	wantCode(t, err, "CloudHsmClusterNotFoundException")
	_, err = e.k.ConnectCustomKeyStore(e.ctx, e.c, CustomKeyStoreIDInput{CustomKeyStoreId: "cks-1234567890abcdef0"})
	wantCode(t, err, "CustomKeyStoreNotFoundException")
	out, err := e.k.DescribeCustomKeyStores(e.ctx, e.c, DescribeCustomKeyStoresInput{})
	if err != nil || len(out.CustomKeyStores) != 0 || out.Truncated {
		t.Fatalf("%v %+v", err, out)
	}
}

func TestCreateCustomKeyStoreChecks(t *testing.T) {
	e := newCKSEnv(t, envOpts{})
	ok := CreateCustomKeyStoreInput{CustomKeyStoreName: "store", CloudHsmClusterId: cluster1, TrustAnchorCertificate: e.anchor, KeyStorePassword: kmsuserPW}
	e.cl.put(testRegion, CloudHsmCluster{ID: "cluster-notactiveyet", State: "INITIALIZED", TrustAnchor: e.anchor, Lineage: "l-na", HsmZones: []string{"us-east-1a", "us-east-1b"}})
	e.addCluster("cluster-onehsmonlyx", "l-one", "us-east-1a")
	e.addCluster("cluster-samezonetwo", "l-same", "us-east-1a", "us-east-1a")
	with := func(f func(in *CreateCustomKeyStoreInput)) CreateCustomKeyStoreInput {
		in := ok
		f(&in)
		return in
	}
	for _, tc := range []struct {
		in   CreateCustomKeyStoreInput
		code string
	}{
		{with(func(in *CreateCustomKeyStoreInput) { in.CustomKeyStoreName = "" }), "ValidationException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.CustomKeyStoreName = strings.Repeat("n", 257) }), "ValidationException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.KeyStorePassword = "short" }), "ValidationException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.KeyStorePassword = "" }), "ValidationException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.TrustAnchorCertificate = "" }), "ValidationException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.CloudHsmClusterId = "cluster-x" }), "ValidationException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.CustomKeyStoreType = "CLOUDHSM" }), "ValidationException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.CustomKeyStoreType = StoreTypeExternal }), "UnsupportedOperationException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.CloudHsmClusterId = "cluster-unknownxxxx" }), "CloudHsmClusterNotFoundException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.TrustAnchorCertificate = testTrustAnchor(t, "other") }), "IncorrectTrustAnchorException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.CloudHsmClusterId = "cluster-notactiveyet" }), "CloudHsmClusterNotActiveException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.CloudHsmClusterId = "cluster-onehsmonlyx" }), "CloudHsmClusterInvalidConfigurationException"},
		{with(func(in *CreateCustomKeyStoreInput) { in.CloudHsmClusterId = "cluster-samezonetwo" }), "CloudHsmClusterInvalidConfigurationException"},
	} {
		_, err := e.k.CreateCustomKeyStore(e.ctx, e.c, tc.in)
		wantCode(t, err, tc.code)
		if strings.Contains(err.Error(), kmsuserPW) {
			t.Fatalf("the password appears in an error: %v", err)
		}
	}
	// The two-HSMs-in-two-zones rule names --dev, where it is relaxed.
	_, err := e.k.CreateCustomKeyStore(e.ctx, e.c, with(func(in *CreateCustomKeyStoreInput) { in.CloudHsmClusterId = "cluster-onehsmonlyx" }))
	if !strings.Contains(err.Error(), "--dev") || !strings.Contains(err.Error(), "two active HSMs in different availability zones") {
		t.Fatalf("message: %v", err)
	}
	e.cl.update(testRegion, "cluster-onehsmonlyx", func(c *CloudHsmCluster) { c.Dev = true })
	// The trust anchor is compared as DER: other line endings and spacing are fine.
	devID, err := e.k.CreateCustomKeyStore(e.ctx, e.c, with(func(in *CreateCustomKeyStoreInput) {
		in.CloudHsmClusterId, in.CustomKeyStoreName = "cluster-onehsmonlyx", "dev-store"
		in.TrustAnchorCertificate = "\n  " + strings.ReplaceAll(e.anchor, "\n", "\r\n")
	}))
	if err != nil {
		t.Fatalf("--dev cluster with one HSM: %v", err)
	}
	id := e.createStore("store", cluster1, kmsuserPW)
	if !regexp.MustCompile(`^cks-[0-9a-f]{17}$`).MatchString(id) || !regexp.MustCompile(`^cks-[0-9a-f]{17}$`).MatchString(devID.CustomKeyStoreId) {
		t.Fatalf("store ids %s %s", id, devID.CustomKeyStoreId)
	}
	st := e.store(id)
	if st.CustomKeyStoreName != "store" || st.CloudHsmClusterId != cluster1 || st.TrustAnchorCertificate != e.anchor ||
		st.ConnectionState != ConnDisconnected || st.ConnectionErrorCode != "" || st.CreationDate == nil || st.CustomKeyStoreType != StoreTypeCloudHSM {
		t.Fatalf("%+v", st)
	}
	// Name unique per account and Region; one store per cluster and per related cluster.
	e.addCluster("cluster-secondxxxxx", "lineage-2", "us-east-1a", "us-east-1b")
	e.addCluster("cluster-relatedxxxx", "lineage-1", "us-east-1a", "us-east-1b")
	_, err = e.k.CreateCustomKeyStore(e.ctx, e.c, with(func(in *CreateCustomKeyStoreInput) { in.CloudHsmClusterId = "cluster-secondxxxxx" }))
	wantCode(t, err, "CustomKeyStoreNameInUseException")
	_, err = e.k.CreateCustomKeyStore(e.ctx, e.c, with(func(in *CreateCustomKeyStoreInput) { in.CustomKeyStoreName = "other" }))
	wantCode(t, err, "CloudHsmClusterInUseException")
	_, err = e.k.CreateCustomKeyStore(e.ctx, e.c, with(func(in *CreateCustomKeyStoreInput) {
		in.CustomKeyStoreName, in.CloudHsmClusterId = "other", "cluster-relatedxxxx"
	}))
	wantCode(t, err, "CloudHsmClusterInUseException")
	// Another Region has its own names.
	other := Caller{Region: "eu-west-1", Account: e.c.Account}
	_, err = e.k.DescribeCustomKeyStores(e.ctx, other, DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
	wantCode(t, err, "CustomKeyStoreNotFoundException")
	second := e.createStore("second", "cluster-secondxxxxx", kmsuserPW)

	// Describe: by name, paging, errors.
	out, err := e.k.DescribeCustomKeyStores(e.ctx, e.c, DescribeCustomKeyStoresInput{CustomKeyStoreName: "second"})
	if err != nil || len(out.CustomKeyStores) != 1 || out.CustomKeyStores[0].CustomKeyStoreId != second {
		t.Fatalf("%v %+v", err, out)
	}
	var seen []string
	marker := ""
	for i := 0; ; i++ {
		out, err := e.k.DescribeCustomKeyStores(e.ctx, e.c, DescribeCustomKeyStoresInput{Limit: lcInt(1), Marker: marker})
		if err != nil || len(out.CustomKeyStores) != 1 || i > 5 {
			t.Fatalf("page %d: %v %+v", i, err, out)
		}
		seen = append(seen, out.CustomKeyStores[0].CustomKeyStoreId)
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	if len(seen) != 3 {
		t.Fatalf("paged %v", seen)
	}
	_, err = e.k.DescribeCustomKeyStores(e.ctx, e.c, DescribeCustomKeyStoresInput{Marker: "cks-nope"})
	wantCode(t, err, "InvalidMarkerException")
	_, err = e.k.DescribeCustomKeyStores(e.ctx, e.c, DescribeCustomKeyStoresInput{CustomKeyStoreName: "missing"})
	wantCode(t, err, "CustomKeyStoreNotFoundException")
	_, err = e.k.DescribeCustomKeyStores(e.ctx, e.c, DescribeCustomKeyStoresInput{CustomKeyStoreId: id, CustomKeyStoreName: "store"})
	wantCode(t, err, "ValidationException")
	_, err = e.k.DescribeCustomKeyStores(e.ctx, e.c, DescribeCustomKeyStoresInput{Limit: lcInt(0)})
	wantCode(t, err, "ValidationException")

	// The kmsuser password is sealed: it appears nowhere in the state, log or snapshots.
	snap, err := e.k.Snapshot()
	if err != nil || bytes.Contains(snap, []byte(kmsuserPW)) {
		t.Fatalf("snapshot holds the password (%v)", err)
	}
	assertNotOnDisk(t, e.dir, kmsuserPW)
}

// assertNotOnDisk fails if secret appears in any file under root.
func assertNotOnDisk(t *testing.T, root, secret string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the kmsuser password in plaintext", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCustomKeyStoreConnectAndUse(t *testing.T) {
	e := newCKSEnv(t, envOpts{})
	e.createKMSUser(kmsuserPW)
	id := e.createStore("store", cluster1, kmsuserPW)
	_, err := e.k.ConnectCustomKeyStore(e.ctx, e.c, CustomKeyStoreIDInput{CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	if st := e.store(id).ConnectionState; st != ConnConnecting && st != ConnConnected {
		t.Fatalf("right after ConnectCustomKeyStore: %s", st)
	}
	e.k.WaitCustomKeyStoreConnections()
	if st := e.store(id); st.ConnectionState != ConnConnected {
		t.Fatalf("%+v", st)
	}
	// KMS rotated kmsuser's password: the one given to CreateCustomKeyStore no longer works.
	_, err = e.h.Login(e.ctx, hsm.LoginRequest{Username: KMSUser, Role: hsm.RoleCrypto, Password: kmsuserPW})
	if !errors.Is(err, hsm.ErrLoginFailed) {
		t.Fatalf("old kmsuser password: %v", err)
	}
	e.connected(id) // connecting a connected store changes nothing

	md := e.storeKey(id)
	if md.Origin != OriginCloudHSM || md.CustomKeyStoreId != id || md.CloudHsmClusterId != cluster1 || md.KeyState != StateEnabled ||
		md.KeySpec != SpecSymmetric || md.KeyUsage != UsageEncrypt || md.MultiRegion {
		t.Fatalf("%+v", md)
	}
	// The key material is a non-extractable AES-256 key made in the HSM, owned by kmsuser,
	// labeled with the key id.
	m := e.lcMaterial(md.KeyId)
	if len(m.Versions) != 1 || len(m.Versions[0].Handles) != 1 {
		t.Fatalf("%+v", m)
	}
	ki, err := e.h.GetKey(e.admin(), m.Versions[0].Handles[0])
	if err != nil {
		t.Fatal(err)
	}
	if ki.KeyInfo.KeyOwners[0].Username != KMSUser || ki.Attributes.Label != md.KeyId || ki.Attributes.Extractable ||
		ki.Attributes.KeyType != hsm.TypeAES || ki.Attributes.KeyLengthBytes != 32 {
		t.Fatalf("%+v %+v", ki.KeyInfo, ki.Attributes)
	}
	ec := map[string]string{"app": "cks"}
	enc, err := e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("in the cluster"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "in the cluster" || dec.KeyId != md.Arn {
		t.Fatalf("%v %+v", err, dec)
	}
	_, err = e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "InvalidCiphertextException")
	dk, err := e.k.GenerateDataKey(e.ctx, e.c, GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256"}, false)
	if err != nil || len(dk.Plaintext) != 32 {
		t.Fatal(err)
	}
	std := e.createKey(CreateKeyInput{})
	re, err := e.k.ReEncrypt(e.ctx, e.c, ReEncryptInput{CiphertextBlob: dk.CiphertextBlob, DestinationKeyId: std.KeyId})
	if err != nil || re.SourceKeyId != md.Arn {
		t.Fatalf("%v %+v", err, re)
	}
	back, err := e.k.ReEncrypt(e.ctx, e.c, ReEncryptInput{CiphertextBlob: re.CiphertextBlob, DestinationKeyId: md.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := e.decrypt(back.CiphertextBlob); err != nil || pt != string(dk.Plaintext) {
		t.Fatalf("round trip: %v", err)
	}
	n := 16
	rnd, err := e.k.GenerateRandom(e.ctx, e.c, GenerateRandomInput{NumberOfBytes: &n, CustomKeyStoreId: id})
	if err != nil || len(rnd.Plaintext) != 16 {
		t.Fatal(err)
	}
	_, err = e.k.GenerateRandom(e.ctx, e.c, GenerateRandomInput{NumberOfBytes: &n, CustomKeyStoreId: "cks-00000000000000000"})
	wantCode(t, err, "CustomKeyStoreNotFoundException")

	// CreateKey in a store: symmetric encryption keys of one Region only, AWS_CLOUDHSM.
	yes := true
	for _, tc := range []struct {
		in   CreateKeyInput
		code string
	}{
		{CreateKeyInput{Origin: OriginCloudHSM, CustomKeyStoreId: id, KeySpec: SpecRSA2048, KeyUsage: UsageEncrypt}, "UnsupportedOperationException"},
		{CreateKeyInput{Origin: OriginCloudHSM, CustomKeyStoreId: id, KeySpec: SpecHMAC256, KeyUsage: UsageMAC}, "UnsupportedOperationException"},
		{CreateKeyInput{Origin: OriginCloudHSM, CustomKeyStoreId: id, MultiRegion: &yes}, "UnsupportedOperationException"},
		{CreateKeyInput{Origin: OriginCloudHSM}, "ValidationException"},
		{CreateKeyInput{Origin: OriginCloudHSM, CustomKeyStoreId: "cks-00000000000000000"}, "CustomKeyStoreNotFoundException"},
		{CreateKeyInput{CustomKeyStoreId: id}, "ValidationException"},
		{CreateKeyInput{Origin: "CLOUDHSM", CustomKeyStoreId: id}, "ValidationException"},
	} {
		_, err := e.k.CreateKey(e.ctx, e.c, tc.in)
		wantCode(t, err, tc.code)
	}
	// The cluster lost an HSM: new keys need two HSMs in two zones.
	e.cl.update(testRegion, cluster1, func(c *CloudHsmCluster) { c.HsmZones = []string{"us-east-1a"} })
	_, err = e.k.CreateKey(e.ctx, e.c, CreateKeyInput{Origin: OriginCloudHSM, CustomKeyStoreId: id})
	wantCode(t, err, "CloudHsmClusterInvalidConfigurationException")
	e.cl.update(testRegion, cluster1, func(c *CloudHsmCluster) { c.HsmZones = []string{"us-east-1a", "us-east-1c"} })

	// Disconnected: the keys are Unavailable, crypto answers KMSInvalidStateException,
	// management still works and takes effect when the store is back.
	e.disconnect(id)
	_, err = e.k.DisconnectCustomKeyStore(e.ctx, e.c, CustomKeyStoreIDInput{CustomKeyStoreId: id})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	if st := e.store(id); st.ConnectionState != ConnDisconnected {
		t.Fatalf("%+v", st)
	}
	d := e.describe(e.c, md.KeyId)
	if d.KeyState != StateUnavailable || d.Enabled {
		t.Fatalf("disconnected: %+v", d)
	}
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")
	if !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("message: %v", err)
	}
	_, err = e.decrypt(enc.CiphertextBlob)
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.k.GenerateDataKey(e.ctx, e.c, GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256"}, true)
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.k.GenerateRandom(e.ctx, e.c, GenerateRandomInput{NumberOfBytes: &n, CustomKeyStoreId: id})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	_, err = e.k.CreateKey(e.ctx, e.c, CreateKeyInput{Origin: OriginCloudHSM, CustomKeyStoreId: id})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	if err := e.k.DisableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StateUnavailable {
		t.Fatalf("disabled while disconnected: %+v", d)
	}
	// Stores are changed and deleted only when disconnected; a store with keys is kept.
	_, err = e.k.DeleteCustomKeyStore(e.ctx, e.c, CustomKeyStoreIDInput{CustomKeyStoreId: id})
	wantCode(t, err, "CustomKeyStoreHasCMKsException")
	e.addCluster("cluster-unrelatedxxx", "lineage-9", "us-east-1a", "us-east-1b")
	_, err = e.k.UpdateCustomKeyStore(e.ctx, e.c, UpdateCustomKeyStoreInput{CustomKeyStoreId: id, CloudHsmClusterId: "cluster-unrelatedxxx"})
	wantCode(t, err, "CloudHsmClusterNotRelatedException")
	if _, err := e.k.UpdateCustomKeyStore(e.ctx, e.c, UpdateCustomKeyStoreInput{CustomKeyStoreId: id, NewCustomKeyStoreName: "renamed"}); err != nil {
		t.Fatal(err)
	}

	e.connected(id)
	if st := e.store(id); st.CustomKeyStoreName != "renamed" {
		t.Fatalf("%+v", st)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StateDisabled {
		t.Fatalf("reconnected: %+v", d)
	}
	if err := e.k.EnableKey(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if pt, err := e.decrypt(enc.CiphertextBlob); err == nil {
		t.Fatalf("decrypted without the encryption context: %q", pt)
	}
	if dec, err := e.k.Decrypt(e.ctx, e.c, DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}); err != nil || string(dec.Plaintext) != "in the cluster" {
		t.Fatalf("after reconnecting: %v", err)
	}
	_, err = e.k.UpdateCustomKeyStore(e.ctx, e.c, UpdateCustomKeyStoreInput{CustomKeyStoreId: id, NewCustomKeyStoreName: "again"})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	_, err = e.k.DeleteCustomKeyStore(e.ctx, e.c, CustomKeyStoreIDInput{CustomKeyStoreId: id})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")

	// Deleting the key destroys its material in the cluster (the store is connected); then
	// the store can go.
	if _, err := e.k.ScheduleKeyDeletion(e.ctx, e.c, ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: lcInt(7)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(8 * day)
	e.lcTick()
	var nf *hsm.NotFoundError
	if _, err := e.h.GetKey(e.admin(), m.Versions[0].Handles[0]); !errors.As(err, &nf) {
		t.Fatalf("key material after deletion: %v", err)
	}
	e.disconnect(id)
	if _, err := e.k.DeleteCustomKeyStore(e.ctx, e.c, CustomKeyStoreIDInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.k.DescribeCustomKeyStores(e.ctx, e.c, DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
	wantCode(t, err, "CustomKeyStoreNotFoundException")
	// The cluster is free again.
	e.createStore("store", cluster1, kmsuserPW)
}

func TestCustomKeyStoreConnectionFailures(t *testing.T) {
	e := newCKSEnv(t, envOpts{})
	failed := func(id, code string) {
		t.Helper()
		st := e.connect(id)
		if st.ConnectionState != ConnFailed || st.ConnectionErrorCode != code {
			t.Fatalf("want FAILED %s, got %+v", code, st)
		}
		// A FAILED store must be disconnected before it connects again.
		_, err := e.k.ConnectCustomKeyStore(e.ctx, e.c, CustomKeyStoreIDInput{CustomKeyStoreId: id})
		wantCode(t, err, "CustomKeyStoreInvalidStateException")
		e.disconnect(id)
		if st := e.store(id); st.ConnectionState != ConnDisconnected || st.ConnectionErrorCode != "" {
			t.Fatalf("%+v", st)
		}
	}
	id := e.createStore("store", cluster1, kmsuserPW)
	failed(id, ErrCodeUserNotFound) // no kmsuser in the cluster yet

	e.createKMSUser("a-different-pw")
	failed(id, ErrCodeInvalidCreds)
	// Tell KMS the right password (it does not change it in the cluster), then connect.
	_, err := e.k.UpdateCustomKeyStore(e.ctx, e.c, UpdateCustomKeyStoreInput{CustomKeyStoreId: id, KeyStorePassword: "bad"})
	wantCode(t, err, "ValidationException")
	if _, err := e.k.UpdateCustomKeyStore(e.ctx, e.c, UpdateCustomKeyStoreInput{CustomKeyStoreId: id, KeyStorePassword: "a-different-pw"}); err != nil {
		t.Fatal(err)
	}
	e.connected(id)
	e.disconnect(id)

	// kmsuser locked out after too many failed logins.
	for range hsm.DefaultPolicy().LockoutThreshold {
		_, _ = e.h.Login(e.ctx, hsm.LoginRequest{Username: KMSUser, Role: hsm.RoleCrypto, Password: "wrong-password"})
	}
	failed(id, ErrCodeUserLockedOut)
	// An admin resets the password; KMS is told the new one.
	if err := e.h.ChangePassword(e.ctx, e.admin(), KMSUser, hsm.RoleCrypto, "reset-by-admin", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.UpdateCustomKeyStore(e.ctx, e.c, UpdateCustomKeyStoreInput{CustomKeyStoreId: id, KeyStorePassword: "reset-by-admin"}); err != nil {
		t.Fatal(err)
	}
	e.connected(id)
	e.disconnect(id)

	// The cluster has no active HSM, is degraded, or is gone.
	e.cl.update(testRegion, cluster1, func(c *CloudHsmCluster) { c.HsmZones = nil })
	failed(id, ErrCodeInsufficientHSMs)
	e.cl.update(testRegion, cluster1, func(c *CloudHsmCluster) { c.HsmZones, c.State = []string{"us-east-1a", "us-east-1b"}, "DEGRADED" })
	failed(id, ErrCodeInsufficientHSMs)
	e.cl.remove(testRegion, cluster1)
	failed(id, ErrCodeClusterNotFound)
	e.addCluster(cluster1, "lineage-1", "us-east-1a", "us-east-1b")
	e.connected(id)
}

func TestCustomKeyStoreRotationExtension(t *testing.T) {
	e := newCKSEnv(t, envOpts{})
	e.createKMSUser(kmsuserPW)
	id := e.createStore("store", cluster1, kmsuserPW)
	e.connected(id)
	md := e.storeKey(id)
	old := e.lcEncrypt(md.KeyId, "v1")
	if err := e.k.EnableKeyRotation(e.ctx, e.c, EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: lcInt(90)}); err != nil {
		t.Fatal(err)
	}
	if st := e.lcRotationStatus(e.c, md.KeyId); !st.KeyRotationEnabled || st.RotationPeriodInDays != 90 || st.NextRotationDate == nil {
		t.Fatalf("%+v", st)
	}
	if _, err := e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	m := e.lcMaterial(md.KeyId)
	if len(m.Versions) != 2 || m.Current != 1 {
		t.Fatalf("%+v", m)
	}
	ki, err := e.h.GetKey(e.admin(), m.Versions[1].Handles[0])
	if err != nil || ki.KeyInfo.KeyOwners[0].Username != KMSUser || ki.Attributes.Extractable {
		t.Fatalf("rotated material: %v %+v", err, ki)
	}
	if v := lcBlobVersion(t, e.lcEncrypt(md.KeyId, "v2")); v != 2 {
		t.Fatalf("new ciphertexts use version %d", v)
	}
	if pt, err := e.decrypt(old); err != nil || pt != "v1" {
		t.Fatalf("old ciphertext: %v", err)
	}
	rots, err := e.k.ListKeyRotations(e.ctx, e.c, ListKeyRotationsInput{KeyId: md.KeyId})
	if err != nil || len(rots.Rotations) != 1 || rots.Rotations[0].RotationType != rotationOnDemand {
		t.Fatalf("%v %+v", err, rots)
	}
	// Automatic rotation waits while the store is disconnected, and happens once it is back.
	e.disconnect(id)
	_, err = e.k.RotateKeyOnDemand(e.ctx, e.c, KeyIDInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	e.clock.Add(91 * day)
	e.lcTick()
	if n := len(e.lcMaterial(md.KeyId).Versions); n != 2 {
		t.Fatalf("rotated while disconnected: %d versions", n)
	}
	e.connected(id)
	e.lcTick()
	m = e.lcMaterial(md.KeyId)
	if len(m.Versions) != 3 || m.Rotations[1].Type != rotationAutomatic {
		t.Fatalf("%+v", m)
	}
	if pt, err := e.decrypt(old); err != nil || pt != "v1" {
		t.Fatalf("old ciphertext after automatic rotation: %v", err)
	}
}

func TestCustomKeyStoreSessionExpiryAndRestart(t *testing.T) {
	e := newCKSEnv(t, envOpts{hsmClock: true, sessionTTL: time.Minute})
	e.createKMSUser(kmsuserPW)
	id := e.createStore("store", cluster1, kmsuserPW)
	e.connected(id)
	md := e.storeKey(id)
	blob := e.lcEncrypt(md.KeyId, "survives")
	tok := func() string {
		e.k.connMu.Lock()
		defer e.k.connMu.Unlock()
		if c := e.k.conns[id]; c != nil {
			return c.token
		}
		return ""
	}
	first := tok()
	// kmsuser's session expires; KMS logs in again with the sealed password.
	e.clock.Add(2 * time.Minute)
	if pt, err := e.decrypt(blob); err != nil || pt != "survives" {
		t.Fatalf("after the session expired: %v", err)
	}
	if second := tok(); second == "" || second == first {
		t.Fatal("no new kmsuser session")
	}

	// An interrupted rotation: the HSM has the pending password, the state still the old one.
	r := e.k.storeByID(id)
	wrong, err := e.k.sealPassword(e.ctx, r.SealKey, r.SealKeyDomain, id, "not-the-password")
	if err != nil {
		t.Fatal(err)
	}
	r.PendingPassword, r.Password = r.Password, wrong
	if err := e.k.propose(e.ctx, cmdPutStore, putStoreCmd{Store: r, Expect: r.Revision}); err != nil {
		t.Fatal(err)
	}
	e.k.dropConn(id)
	if pt, err := e.decrypt(blob); err != nil || pt != "survives" {
		t.Fatalf("with the pending password: %v", err)
	}
	if r2 := e.k.storeByID(id); len(r2.PendingPassword) != 0 || !bytes.Equal(r2.Password, r.PendingPassword) {
		t.Fatal("the pending password was not made current")
	}

	// A restarted node keeps the store CONNECTED and logs in with the sealed password.
	e.restart()
	if st := e.store(id); st.ConnectionState != ConnConnected {
		t.Fatalf("after restart: %+v", st)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StateEnabled || d.CloudHsmClusterId != cluster1 {
		t.Fatalf("%+v", d)
	}
	if pt, err := e.decrypt(blob); err != nil || pt != "survives" {
		t.Fatalf("after restart: %v", err)
	}
	e.disconnect(id)
	e.connected(id)
	if pt, err := e.decrypt(blob); err != nil || pt != "survives" {
		t.Fatalf("after reconnecting: %v", err)
	}
}

func TestCustomKeyStoreZeroizeAndRestore(t *testing.T) {
	e := newCKSEnv(t, envOpts{})
	e.createKMSUser(kmsuserPW)
	id := e.createStore("store", cluster1, kmsuserPW)
	e.connected(id)
	md := e.storeKey(id)
	std := e.createKey(CreateKeyInput{})
	inStore := e.lcEncrypt(md.KeyId, "store key")
	standard := e.lcEncrypt(std.KeyId, "standard key")

	// A backup of the HSM (its state and domain key) after the password rotation.
	backup, err := e.h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	dkPath := filepath.Join(e.dir, "dk")
	dk, err := os.ReadFile(dkPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.h.Zeroize(e.ctx, e.admin(), "test"); err != nil {
		t.Fatal(err)
	}
	// Every use answers KMSInvalidStateException, never an internal error.
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.decrypt(inStore)
	wantCode(t, err, "KMSInvalidStateException")
	if st := e.store(id); st.ConnectionState != ConnFailed || st.ConnectionErrorCode != ErrCodeInsufficientHSMs {
		t.Fatalf("after zeroization: %+v", st)
	}
	if d := e.describe(e.c, md.KeyId); d.KeyState != StateUnavailable {
		t.Fatalf("%+v", d)
	}
	_, err = e.k.Encrypt(e.ctx, e.c, EncryptInput{KeyId: std.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.decrypt(standard)
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.k.GenerateDataKey(e.ctx, e.c, GenerateDataKeyInput{KeyId: std.KeyId, KeySpec: "AES_256"}, false)
	wantCode(t, err, "KMSInvalidStateException")

	// The cluster is restored from the backup as a new, related cluster.
	if err := os.WriteFile(dkPath, dk, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Restore(backup); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Unseal(); err != nil {
		t.Fatal(err)
	}
	e.cl.update(testRegion, cluster1, func(c *CloudHsmCluster) { c.State = "DELETED" })
	const restored = "cluster-restoredxxxx"
	e.addCluster(restored, "lineage-1", "us-east-1a", "us-east-1b")
	_, err = e.k.UpdateCustomKeyStore(e.ctx, e.c, UpdateCustomKeyStoreInput{CustomKeyStoreId: id, CloudHsmClusterId: restored})
	wantCode(t, err, "CustomKeyStoreInvalidStateException") // FAILED: disconnect first
	e.disconnect(id)
	if _, err := e.k.UpdateCustomKeyStore(e.ctx, e.c, UpdateCustomKeyStoreInput{CustomKeyStoreId: id, CloudHsmClusterId: restored}); err != nil {
		t.Fatal(err)
	}
	e.connected(id)
	if st := e.store(id); st.CloudHsmClusterId != restored {
		t.Fatalf("%+v", st)
	}
	if d := e.describe(e.c, md.KeyId); d.CloudHsmClusterId != restored || d.KeyState != StateEnabled {
		t.Fatalf("%+v", d)
	}
	if pt, err := e.decrypt(inStore); err != nil || pt != "store key" {
		t.Fatalf("store key after restore: %v", err)
	}
	if pt, err := e.decrypt(standard); err != nil || pt != "standard key" {
		t.Fatalf("standard key after restore: %v", err)
	}
	// Zeroized again: the scheduler notices before any key is used.
	if err := e.h.Zeroize(e.ctx, e.admin(), "again"); err != nil {
		t.Fatal(err)
	}
	e.lcTick()
	if st := e.store(id); st.ConnectionState != ConnFailed || st.ConnectionErrorCode != ErrCodeInsufficientHSMs {
		t.Fatalf("after the second zeroization: %+v", st)
	}
}

func TestCreateKeyOriginTypo(t *testing.T) {
	e := newTestEnv(t)
	_, err := e.k.CreateKey(e.ctx, e.c, CreateKeyInput{Origin: "CLOUDHSM"})
	wantCode(t, err, "ValidationException")
	want := "1 validation error detected: Value 'CLOUDHSM' at 'origin' failed to satisfy constraint: Member must satisfy enum value set: [EXTERNAL, AWS_CLOUDHSM, AWS_KMS, EXTERNAL_KEY_STORE]"
	if err.(*Error).Message != want {
		t.Fatalf("message %q", err.(*Error).Message)
	}
}
