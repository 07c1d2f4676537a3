package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startProductionServer starts a node without --dev: uninitialized, domain key sealed with
// an operator passphrase, root AWS credentials from the environment.
func startProductionServer(t *testing.T) (*server, devCreds) {
	t.Helper()
	creds := devCreds{RootAccessKeyID: "AKIAPRODPRODPRODPROD", RootSecretAccessKey: "prodsecretprodsecretprodsecretprodsecret"}
	dir := t.TempDir()
	s := &server{t: t, dataDir: dir,
		env: []string{"COFFER_SEAL_PASSPHRASE=correct horse battery staple",
			"COFFER_ROOT_ACCESS_KEY_ID=" + creds.RootAccessKeyID, "COFFER_ROOT_SECRET_ACCESS_KEY=" + creds.RootSecretAccessKey},
		args: []string{"server", "--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "warn",
			"--zone", "us-east-1a", "--subnet", "subnet-0a608d19e6c29c7a9=us-east-1a", "--subnet", "subnet-0364ed27644866914=us-east-1b",
			"--backup-dir", filepath.Join(dir, "backups"), "--scheduler-interval", "1s"}}
	t.Cleanup(s.kill)
	s.start()
	return s, creds
}

// awsCLI runs Debian's AWS CLI against the server as creds' root, requires success and
// decodes its JSON output.
func awsCLI(t *testing.T, s *server, creds devCreds, out any, args ...string) {
	t.Helper()
	awsOK(t, s, awsCreds{AccessKeyID: creds.RootAccessKeyID, SecretAccessKey: creds.RootSecretAccessKey}, out, args...)
}

type clusterDesc struct {
	ClusterId    string
	State        string
	StateMessage string
	Certificates struct {
		ClusterCsr         string
		ClusterCertificate string
	}
	Hsms []struct {
		HsmId            string
		AvailabilityZone string
		State            string
	}
}

// TestCloudHSMOperatorLifecycle walks what an operator does with CloudHSM, on a fresh
// production node: create a cluster and an HSM, sign the cluster CSR with their own CA
// (openssl), initialize, activate with `coffer hsm`, and find an automatic backup.
func TestCloudHSMOperatorLifecycle(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	s, creds := startProductionServer(t)
	if h, _ := s.health(); h.ClusterState != "UNINITIALIZED" {
		t.Fatalf("fresh production node: %+v", h)
	}
	var created struct{ Cluster clusterDesc }
	awsCLI(t, s, creds, &created, "cloudhsmv2", "create-cluster", "--hsm-type", "hsm2m.medium",
		"--subnet-ids", "subnet-0a608d19e6c29c7a9", "subnet-0364ed27644866914", "--backup-retention-policy", "Type=DAYS,Value=10")
	id := created.Cluster.ClusterId
	if !strings.HasPrefix(id, "cluster-") {
		t.Fatalf("cluster id %q", id)
	}
	awsCLI(t, s, creds, nil, "cloudhsmv2", "create-hsm", "--cluster-id", id, "--availability-zone", "us-east-1a")
	var desc struct{ Clusters []clusterDesc }
	waitFor(t, 20*time.Second, func() bool {
		awsCLI(t, s, creds, &desc, "cloudhsmv2", "describe-clusters", "--filters", "clusterIds="+id)
		return len(desc.Clusters) == 1 && desc.Clusters[0].State == "UNINITIALIZED" && desc.Clusters[0].Certificates.ClusterCsr != ""
	})
	c := desc.Clusters[0]
	if len(c.Hsms) != 1 || c.Hsms[0].State != "ACTIVE" || c.Hsms[0].AvailabilityZone != "us-east-1a" {
		t.Fatalf("hsms: %+v", c.Hsms)
	}
	// The operator's CA signs the cluster CSR (the README's commands).
	dir := t.TempDir()
	csr := filepath.Join(dir, id+"_ClusterCsr.csr")
	os.WriteFile(csr, []byte(c.Certificates.ClusterCsr), 0o600)
	for _, args := range [][]string{
		{"genrsa", "-out", "customerCA.key", "2048"},
		{"req", "-new", "-x509", "-days", "3652", "-key", "customerCA.key", "-subj", "/CN=Example Customer CA", "-out", "customerCA.crt"},
		{"x509", "-req", "-days", "3652", "-in", csr, "-CA", "customerCA.crt", "-CAkey", "customerCA.key", "-CAcreateserial", "-out", id + "_CustomerHsmCertificate.crt"},
	} {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	cert, _ := os.ReadFile(filepath.Join(dir, id+"_CustomerHsmCertificate.crt"))
	anchor, _ := os.ReadFile(filepath.Join(dir, "customerCA.crt"))
	// A certificate that is not signed by the trust anchor is refused.
	bad := exec.Command("/usr/bin/aws", "--endpoint-url", s.url, "--region", "us-east-1", "cloudhsmv2", "initialize-cluster",
		"--cluster-id", id, "--signed-cert", string(anchor), "--trust-anchor", string(anchor))
	bad.Env = append(s.environ(), "AWS_ACCESS_KEY_ID="+creds.RootAccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.RootSecretAccessKey, "AWS_CONFIG_FILE=/dev/null")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "CloudHsmInvalidRequestException") {
		t.Fatalf("anchor as signed cert accepted: %v %s", err, out)
	}
	var init struct{ State string }
	awsCLI(t, s, creds, &init, "cloudhsmv2", "initialize-cluster", "--cluster-id", id, "--signed-cert", string(cert), "--trust-anchor", string(anchor))
	waitFor(t, 20*time.Second, func() bool {
		awsCLI(t, s, creds, &desc, "cloudhsmv2", "describe-clusters")
		return desc.Clusters[0].State == "INITIALIZED"
	})
	// The operator activates the cluster with the HSM CLI: the admin password is set.
	cl := s.cli()
	if out, errOut, code := cl.run("", "cluster", "activate", "--password", "operator-admin-pw"); code != 0 {
		t.Fatalf("activate: %s %s", out, errOut)
	}
	awsCLI(t, s, creds, &desc, "cloudhsmv2", "describe-clusters")
	if desc.Clusters[0].State != "ACTIVE" {
		t.Fatalf("after activate: %+v", desc.Clusters[0])
	}
	cl.ok(nil, "login", "--username", "admin", "--role", "admin", "--password", "operator-admin-pw")
	// A backup is taken after an HSM is added to an initialized cluster, or on demand;
	// at least the on-demand path must produce one now.
	var backups struct {
		Backups []struct {
			BackupId    string
			BackupState string
			ClusterId   string
		}
	}
	waitFor(t, 30*time.Second, func() bool {
		awsCLI(t, s, creds, &backups, "cloudhsmv2", "describe-backups", "--filters", "clusterIds="+id)
		return len(backups.Backups) > 0 && backups.Backups[0].BackupState == "READY"
	})
	// Deleting a cluster that still has an HSM is refused.
	del := exec.Command("/usr/bin/aws", "--endpoint-url", s.url, "--region", "us-east-1", "cloudhsmv2", "delete-cluster", "--cluster-id", id)
	del.Env = bad.Env
	if out, err := del.CombinedOutput(); err == nil || !strings.Contains(string(out), "CloudHsmInvalidRequestException") {
		t.Fatalf("delete-cluster with an HSM: %v %s", err, out)
	}
	// A KMS custom key store needs two HSMs in two zones outside --dev, as on AWS.
	cl.ok(nil, "user", "create", "--username", "kmsuser", "--role", "crypto-user", "--password", "kmsuser-pw-1")
	anchorFile := filepath.Join(dir, "customerCA.crt")
	cks := exec.Command("/usr/bin/aws", "--endpoint-url", s.url, "--region", "us-east-1", "kms", "create-custom-key-store",
		"--custom-key-store-name", "prod", "--cloud-hsm-cluster-id", id, "--trust-anchor-certificate", "file://"+anchorFile,
		"--key-store-password", "kmsuser-pw-1")
	cks.Env = bad.Env
	if out, err := cks.CombinedOutput(); err == nil || !strings.Contains(string(out), "CloudHsmClusterInvalidConfigurationException") {
		t.Fatalf("create-custom-key-store with one HSM: %v %s", err, out)
	}
}

// TestCustomKeyStoreWithDebianCLI drives a custom key store through Debian's AWS CLI on a
// --dev node: describe the cluster, create/connect/describe the store, a key in it,
// encrypt/decrypt with fileb://, then disconnect and delete.
func TestCustomKeyStoreWithDebianCLI(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil)
	creds := s.creds()
	var desc struct{ Clusters []clusterDesc }
	awsCLI(t, s, creds, &desc, "cloudhsmv2", "describe-clusters")
	if len(desc.Clusters) != 1 || desc.Clusters[0].State != "ACTIVE" {
		t.Fatalf("dev cluster: %+v", desc.Clusters)
	}
	id := desc.Clusters[0].ClusterId
	cl := s.cli()
	cl.ok(nil, "login", "--username", "admin", "--role", "admin", "--password", creds.AdminPassword)
	cl.ok(nil, "user", "create", "--username", "kmsuser", "--role", "crypto-user", "--password", "kmsuser-pw-1")
	var cks struct{ CustomKeyStoreId string }
	awsCLI(t, s, creds, &cks, "kms", "create-custom-key-store", "--custom-key-store-name", "debian-cli",
		"--cloud-hsm-cluster-id", id, "--trust-anchor-certificate", "file://"+filepath.Join(s.dataDir, "dev-trust-anchor.pem"),
		"--key-store-password", "kmsuser-pw-1")
	awsCLI(t, s, creds, nil, "kms", "connect-custom-key-store", "--custom-key-store-id", cks.CustomKeyStoreId)
	var stores struct {
		CustomKeyStores []struct {
			CustomKeyStoreId, CloudHsmClusterId, ConnectionState, ConnectionErrorCode string
		}
	}
	waitFor(t, 20*time.Second, func() bool {
		awsCLI(t, s, creds, &stores, "kms", "describe-custom-key-stores", "--custom-key-store-id", cks.CustomKeyStoreId)
		return stores.CustomKeyStores[0].ConnectionState != "CONNECTING"
	})
	if st := stores.CustomKeyStores[0]; st.ConnectionState != "CONNECTED" || st.CloudHsmClusterId != id {
		t.Fatalf("store: %+v", st)
	}
	var key struct {
		KeyMetadata struct{ KeyId, Origin, CustomKeyStoreId, CloudHsmClusterId, KeyState string }
	}
	awsCLI(t, s, creds, &key, "kms", "create-key", "--origin", "AWS_CLOUDHSM", "--custom-key-store-id", cks.CustomKeyStoreId)
	if m := key.KeyMetadata; m.Origin != "AWS_CLOUDHSM" || m.CustomKeyStoreId != cks.CustomKeyStoreId || m.CloudHsmClusterId != id || m.KeyState != "Enabled" {
		t.Fatalf("key: %+v", m)
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "msg.txt")
	os.WriteFile(plain, []byte("kept in the cluster"), 0o600)
	var enc struct{ CiphertextBlob string }
	awsCLI(t, s, creds, &enc, "kms", "encrypt", "--key-id", key.KeyMetadata.KeyId, "--plaintext", "fileb://"+plain)
	blob, err := base64.StdEncoding.DecodeString(enc.CiphertextBlob)
	if err != nil {
		t.Fatal(err)
	}
	encFile := filepath.Join(dir, "msg.enc")
	os.WriteFile(encFile, blob, 0o600)
	var dec struct{ Plaintext, KeyId string }
	awsCLI(t, s, creds, &dec, "kms", "decrypt", "--ciphertext-blob", "fileb://"+encFile)
	if p, _ := base64.StdEncoding.DecodeString(dec.Plaintext); string(p) != "kept in the cluster" {
		t.Fatalf("decrypt: %+v", dec)
	}
	// A store with keys cannot be deleted; a disconnected store's keys are Unavailable.
	awsCLI(t, s, creds, nil, "kms", "disconnect-custom-key-store", "--custom-key-store-id", cks.CustomKeyStoreId)
	awsCLI(t, s, creds, &key, "kms", "describe-key", "--key-id", key.KeyMetadata.KeyId)
	if key.KeyMetadata.KeyState != "Unavailable" {
		t.Fatalf("key of a disconnected store: %+v", key.KeyMetadata)
	}
	del := exec.Command("/usr/bin/aws", "--endpoint-url", s.url, "--region", "us-east-1", "kms", "delete-custom-key-store", "--custom-key-store-id", cks.CustomKeyStoreId)
	del.Env = append(s.environ(), "AWS_ACCESS_KEY_ID="+creds.RootAccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.RootSecretAccessKey, "AWS_CONFIG_FILE=/dev/null")
	if out, err := del.CombinedOutput(); err == nil || !strings.Contains(string(out), "CustomKeyStoreHasCMKsException") {
		t.Fatalf("delete-custom-key-store with keys: %v %s", err, out)
	}
}
