package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	chtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

func (s *server) cloudhsmClient() *cloudhsmv2.Client {
	c := s.creds()
	return cloudhsmv2.New(cloudhsmv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: c.RootAccessKeyID, SecretAccessKey: c.RootSecretAccessKey, Source: "e2e"}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

// devCluster returns the --dev node's cluster.
func devCluster(t *testing.T, ch *cloudhsmv2.Client) chtypes.Cluster {
	t.Helper()
	out, err := ch.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range out.Clusters {
		if c.State != chtypes.ClusterStateDeleted {
			return c
		}
	}
	t.Fatalf("no live cluster: %+v", out.Clusters)
	return chtypes.Cluster{}
}

// waitConnected waits until the custom key store reaches a final connection state.
func waitConnected(t *testing.T, k *kms.Client, id string) types.CustomKeyStoresListEntry {
	t.Helper()
	var e types.CustomKeyStoresListEntry
	waitFor(t, 20*time.Second, func() bool {
		out, err := k.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		e = out.CustomKeyStores[0]
		return e.ConnectionState != types.ConnectionStateTypeConnecting
	})
	return e
}

// TestZeroizationStory is the story of the CloudHSMv2 issue, end to end: keys in a custom
// key store, a backup, three wrong admin passwords → the cluster zeroizes and the keys are
// Unavailable; restore the backup into a new cluster with the custodian's share, reconnect
// the key store → the old ciphertexts decrypt. A key made after the backup is gone for good.
func TestZeroizationStory(t *testing.T) {
	s := startServer(t, "", nil, "--login-failure-policy", "zeroize")
	creds := s.creds()
	k, ch := s.kmsClient(), s.cloudhsmClient()
	cluster := devCluster(t, ch)
	if cluster.State != chtypes.ClusterStateActive || len(cluster.Hsms) != 1 {
		t.Fatalf("dev cluster: %+v", cluster)
	}
	anchor, err := os.ReadFile(filepath.Join(s.dataDir, "dev-trust-anchor.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// The kmsuser crypto user that KMS logs in as.
	if err := s.admin().Call(ctx, "user/create", hsmapi.UserRequest{Username: "kmsuser", Role: "crypto-user", Password: "kmsuser-initial-pw"}, nil); err != nil {
		t.Fatal(err)
	}
	cks, err := k.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("story"), CloudHsmClusterId: cluster.ClusterId,
		TrustAnchorCertificate: aws.String(string(anchor)), KeyStorePassword: aws.String("kmsuser-initial-pw")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: cks.CustomKeyStoreId}); err != nil {
		t.Fatal(err)
	}
	if e := waitConnected(t, k, *cks.CustomKeyStoreId); e.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("connect: %+v", e)
	}
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: cks.CustomKeyStoreId})
	if err != nil {
		t.Fatal(err)
	}
	std, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	encCKS, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("in the cluster"),
		EncryptionContext: map[string]string{"story": "zeroize"}})
	if err != nil {
		t.Fatal(err)
	}
	encStd, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: std.KeyMetadata.KeyId, Plaintext: []byte("standard key")})
	if err != nil {
		t.Fatal(err)
	}

	// A backup, on demand, with progress on stderr.
	cl := s.cli()
	cl.ok(nil, "login", "--username", "admin", "--role", "admin", "--password", creds.AdminPassword)
	out, errOut, code := cl.run("", "backup", "create")
	if code != 0 || !strings.Contains(errOut, "backup: 100%") {
		t.Fatalf("backup create: exit %d\n%s\n%s", code, out, errOut)
	}
	backups, err := ch.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"clusterIds": {*cluster.ClusterId}}})
	if err != nil || len(backups.Backups) != 1 || backups.Backups[0].BackupState != chtypes.BackupStateReady {
		t.Fatalf("backups: %v %+v", err, backups)
	}
	backupID := *backups.Backups[0].BackupId
	shareFile := filepath.Join(s.dataDir, "backup-shares", backupID+".share")
	if fi, err := os.Stat(shareFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev share file: %v %v", err, fi)
	}

	// A key made after the backup: no backup holds it.
	late, err := k.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: cks.CustomKeyStoreId})
	if err != nil {
		t.Fatal(err)
	}
	encLate, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: late.KeyMetadata.KeyId, Plaintext: []byte("too late")})
	if err != nil {
		t.Fatal(err)
	}

	// Three wrong admin passwords: the cluster zeroizes.
	anon := &hsmapi.Client{Endpoint: s.url}
	for range 3 {
		_ = anon.Call(ctx, "login", map[string]string{"username": "admin", "role": "admin", "password": "not-the-password"}, nil)
	}
	waitFor(t, 20*time.Second, func() bool { h, _ := s.health(); return h.ClusterState == "UNINITIALIZED" })
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: encCKS.CiphertextBlob, EncryptionContext: map[string]string{"story": "zeroize"}})
	wantAPIError(t, err, "KMSInvalidStateException")
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: encStd.CiphertextBlob})
	wantAPIError(t, err, "KMSInvalidStateException")
	waitFor(t, 20*time.Second, func() bool {
		d, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: key.KeyMetadata.KeyId})
		return err == nil && d.KeyMetadata.KeyState == types.KeyStateUnavailable
	})
	if c := devCluster(t, ch); c.State != chtypes.ClusterStateDegraded {
		t.Fatalf("cluster after zeroization: %s %s", c.State, aws.ToString(c.StateMessage))
	}

	// Restore into a new cluster: the old one goes, the new one comes from the backup.
	if _, err := ch.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: cluster.ClusterId, HsmId: cluster.Hsms[0].HsmId}); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: cluster.ClusterId}); err != nil {
		t.Fatal(err)
	}
	nc, err := ch.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"),
		SourceBackupId: aws.String(backupID), SubnetIds: []string{aws.ToString(cluster.Hsms[0].SubnetId)}})
	if err != nil {
		t.Fatal(err)
	}
	newID := *nc.Cluster.ClusterId
	if _, err := ch.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(newID), AvailabilityZone: cluster.Hsms[0].AvailabilityZone}); err != nil {
		t.Fatal(err)
	}
	// A share that is not the custodian's changes nothing.
	bogus := filepath.Join(t.TempDir(), "bogus.share")
	share, _ := os.ReadFile(shareFile)
	os.WriteFile(bogus, []byte(strings.Replace(string(share), string(share[len(share)/2]), "A", 1)), 0o600)
	if msg := cl.fail("backup", "restore", "--cluster-id", newID, "--share-file", bogus); msg == "" {
		t.Fatal("restore with a damaged share: no message")
	}
	out, errOut, code = cl.run("", "backup", "restore", "--cluster-id", newID, "--share-file", shareFile)
	if code != 0 || !strings.Contains(errOut, "restore: 100%") {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
	}
	waitFor(t, 20*time.Second, func() bool { h, _ := s.health(); return h.ClusterState == "ACTIVE" })
	d, err := ch.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {newID}}})
	if err != nil || d.Clusters[0].State != chtypes.ClusterStateActive || aws.ToString(d.Clusters[0].SourceBackupId) != backupID {
		t.Fatalf("restored cluster: %v %+v", err, d)
	}
	// The admin's password is the backup's.
	s.admin()

	// Reconnect the key store to the restored (related) cluster: old ciphertexts decrypt.
	if _, err := k.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: cks.CustomKeyStoreId}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: cks.CustomKeyStoreId, CloudHsmClusterId: aws.String(newID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: cks.CustomKeyStoreId}); err != nil {
		t.Fatal(err)
	}
	if e := waitConnected(t, k, *cks.CustomKeyStoreId); e.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("reconnect: %+v", e)
	}
	dec, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: encCKS.CiphertextBlob, EncryptionContext: map[string]string{"story": "zeroize"}})
	if err != nil || string(dec.Plaintext) != "in the cluster" {
		t.Fatalf("decrypt after restore: %v", err)
	}
	dec, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: encStd.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "standard key" {
		t.Fatalf("standard key after restore: %v", err)
	}
	// The key made after the backup is gone for good.
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: encLate.CiphertextBlob})
	if err == nil {
		t.Fatal("a key created after the backup decrypts after the restore")
	}
	wantAPIError(t, err, "KMSInvalidStateException")
}

// TestZeroizationWithoutBackup: no backup, no way back.
func TestZeroizationWithoutBackup(t *testing.T) {
	s := startServer(t, "", nil, "--login-failure-policy", "zeroize")
	k, ch := s.kmsClient(), s.cloudhsmClient()
	std, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: std.KeyMetadata.KeyId, Plaintext: []byte("doomed")})
	if err != nil {
		t.Fatal(err)
	}
	anon := &hsmapi.Client{Endpoint: s.url}
	for range 3 {
		_ = anon.Call(ctx, "login", map[string]string{"username": "admin", "role": "admin", "password": "not-the-password"}, nil)
	}
	waitFor(t, 20*time.Second, func() bool { h, _ := s.health(); return h.ClusterState == "UNINITIALIZED" })
	b, err := ch.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{})
	if err != nil || len(b.Backups) != 0 {
		t.Fatalf("backups: %v %+v", err, b)
	}
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantAPIError(t, err, "KMSInvalidStateException")
	// A restart re-initializes a --dev node with a new domain key: the old ciphertext
	// still does not decrypt.
	s.stop()
	s.restart()
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err == nil {
		t.Fatal("ciphertext of a zeroized key decrypts after restart")
	}
}

// TestBackupCustodiansRestore: custodians' RSA keys receive the backup's domain key shares;
// two of three restore the cluster after a zeroization, one alone does not.
func TestBackupCustodiansRestore(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	s := startServer(t, "", nil, "--login-failure-policy", "zeroize")
	creds := s.creds()
	ch := s.cloudhsmClient()
	cluster := devCluster(t, ch)
	dir := t.TempDir()
	for _, who := range []string{"alice", "bob", "carol"} {
		for _, args := range [][]string{
			{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", who + ".key"},
			{"pkey", "-in", who + ".key", "-pubout", "-out", who + ".pub"},
		} {
			cmd := exec.Command("openssl", args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	cl := s.cli()
	cl.ok(nil, "login", "--username", "admin", "--role", "admin", "--password", creds.AdminPassword)
	var cust struct {
		Threshold  int
		Custodians []struct{ Name, Fingerprint string }
	}
	cl.ok(&cust, "backup", "custodians", "set", "--threshold", "2",
		"--custodian", "alice="+p("alice.pub"), "--custodian", "bob="+p("bob.pub"), "--custodian", "carol="+p("carol.pub"))
	if cust.Threshold != 2 || len(cust.Custodians) != 3 || len(cust.Custodians[0].Fingerprint) != 64 {
		t.Fatalf("custodians: %+v", cust)
	}
	cl.ok(nil, "user", "create", "--username", "dave", "--role", "crypto-user", "--password", "dave-password")
	var b struct{ BackupId string }
	cl.ok(&b, "backup", "create")
	if _, err := os.Stat(filepath.Join(s.dataDir, "backup-shares", b.BackupId+".share")); !os.IsNotExist(err) {
		t.Fatalf("a backup with custodians left an offline share: %v", err)
	}
	cl.ok(nil, "logout")
	anon := &hsmapi.Client{Endpoint: s.url}
	for range 3 {
		_ = anon.Call(ctx, "login", map[string]string{"username": "admin", "role": "admin", "password": "not-the-password"}, nil)
	}
	waitFor(t, 20*time.Second, func() bool { h, _ := s.health(); return h.ClusterState == "UNINITIALIZED" })
	if _, err := ch.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: cluster.ClusterId, HsmId: cluster.Hsms[0].HsmId}); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: cluster.ClusterId}); err != nil {
		t.Fatal(err)
	}
	nc, err := ch.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"),
		SourceBackupId: aws.String(b.BackupId), SubnetIds: []string{aws.ToString(cluster.Hsms[0].SubnetId)}})
	if err != nil {
		t.Fatal(err)
	}
	newID := *nc.Cluster.ClusterId
	if _, err := ch.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(newID), AvailabilityZone: cluster.Hsms[0].AvailabilityZone}); err != nil {
		t.Fatal(err)
	}
	// Each custodian decrypts their share locally.
	cl.ok(nil, "backup", "share", "--backup-id", b.BackupId, "--private-key", p("alice.key"), "--out", p("alice.share"))
	if fi, err := os.Stat(p("alice.share")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("share file: %v %v", err, fi)
	}
	if msg := cl.fail("backup", "restore", "--cluster-id", newID, "--share-file", p("alice.share")); !strings.Contains(msg, "2 of its 3") {
		t.Fatalf("restore with one share: %s", msg)
	}
	if h, _ := s.health(); h.ClusterState != "UNINITIALIZED" {
		t.Fatalf("a refused restore changed the HSM: %+v", h)
	}
	// Two custodians: one share file, one private key used on the spot.
	cl.ok(nil, "backup", "restore", "--cluster-id", newID, "--share-file", p("alice.share"), "--private-key", p("carol.key"))
	waitFor(t, 20*time.Second, func() bool { h, _ := s.health(); return h.ClusterState == "ACTIVE" })
	s.client("dave", "crypto-user", "dave-password")
	// The restore is durable: a restart brings back the same cluster, users and state.
	s.stop()
	s.restart()
	if h, _ := s.health(); h.ClusterState != "ACTIVE" {
		t.Fatalf("after restart: %+v", h)
	}
	s.client("dave", "crypto-user", "dave-password")
	d, err := s.cloudhsmClient().DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"states": {"ACTIVE"}}})
	if err != nil || len(d.Clusters) != 1 || *d.Clusters[0].ClusterId != newID {
		t.Fatalf("clusters after restart: %v %+v", err, d)
	}
}
