package e2e

import (
	"encoding/json"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	chtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
)

// chV1 runs the newer aws v1 CLI on PATH (its botocore knows the CloudHSMv2 operations and
// members Debian's awscli lacks: resource policies, Mode, HsmTypeRollbackExpiration) with
// the node's root credentials. It returns the combined output and whether it succeeded.
func chV1(t *testing.T, s *server, args ...string) (string, bool) {
	t.Helper()
	return chV1As(t, s, s.creds(), args...)
}

// chV1As is chV1 with the credentials c.
func chV1As(t *testing.T, s *server, c devCreds, args ...string) (string, bool) {
	t.Helper()
	bin := awsCLIs(t)["v1"]
	if bin == "" {
		t.Skip("the newer aws v1 CLI is not on PATH")
	}
	cmd := exec.Command(bin, append([]string{"--endpoint-url", s.url, "--region", "us-east-1", "--output", "json", "cloudhsmv2"}, args...)...)
	cmd.Env = append(s.environ(), "AWS_ACCESS_KEY_ID="+c.RootAccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.RootSecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func chV1Fail(t *testing.T, s *server, wantCode, wantMsg string, args ...string) {
	t.Helper()
	out, ok := chV1(t, s, args...)
	if ok || !strings.Contains(out, wantCode) || !strings.Contains(out, wantMsg) {
		t.Fatalf("aws cloudhsmv2 %s: ok=%v, want %s containing %q:\n%s", strings.Join(args, " "), ok, wantCode, wantMsg, out)
	}
}

// TestCloudHSMConformanceHsmType: hsm1.medium reached its end of support, so, as on AWS,
// no new cluster is created with it and an hsm2m.medium cluster does not become one
// (ModifyCluster migrates hsm1.medium to hsm2m.medium only, and rolls that back within
// HsmTypeRollbackExpiration). Driven with the newer aws v1 CLI; read back with
// aws-sdk-go-v2.
func TestCloudHSMConformanceHsmType(t *testing.T) {
	t.Parallel() // independent node
	s := startServer(t, "", nil)
	ch := s.cloudhsmClient()
	cl := devCluster(t, ch)
	id := aws.ToString(cl.ClusterId)
	subnet := cl.SubnetMapping["us-east-1a"]

	chV1Fail(t, s, "CloudHsmInvalidRequestException", "end of support",
		"create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids", subnet)
	chV1Fail(t, s, "CloudHsmInvalidRequestException", "hsm1.medium to hsm2m.medium only",
		"modify-cluster", "--cluster-id", id, "--hsm-type", "hsm1.medium")
	// The same type is no change: the CLI gets the cluster back, without a rollback date.
	out, ok := chV1(t, s, "modify-cluster", "--cluster-id", id, "--hsm-type", "hsm2m.medium")
	var mod struct{ Cluster map[string]any }
	if !ok || json.Unmarshal([]byte(out), &mod) != nil || mod.Cluster["HsmType"] != "hsm2m.medium" || mod.Cluster["HsmTypeRollbackExpiration"] != nil {
		t.Fatalf("modify-cluster --hsm-type hsm2m.medium: %s", out)
	}
	after := devCluster(t, ch)
	if aws.ToString(after.HsmType) != "hsm2m.medium" || after.HsmTypeRollbackExpiration != nil || after.State != chtypes.ClusterStateActive {
		t.Fatalf("cluster after the refused modification: %s %v %s", aws.ToString(after.HsmType), after.HsmTypeRollbackExpiration, after.State)
	}
	clusters, err := ch.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
	if err != nil || len(clusters.Clusters) != 1 {
		t.Fatalf("a refused create-cluster left a cluster: %v %d", err, len(clusters.Clusters))
	}
}

// TestCloudHSMConformanceResourcePolicy: as on AWS, a resource policy is put only on a
// READY backup (not one PENDING_DELETION) and must be a policy document (a JSON object
// without statements is refused); a refused put leaves the backup's policy as it was.
// Driven with the newer aws v1 CLI (Debian's awscli predates resource policies); read
// back with aws-sdk-go-v2.
func TestCloudHSMConformanceResourcePolicy(t *testing.T) {
	t.Parallel() // independent node
	s := startServer(t, "", nil, "--scheduler-interval", "1s")
	ch := s.cloudhsmClient()
	id := aws.ToString(devCluster(t, ch).ClusterId)
	var b chtypes.Backup
	waitFor(t, 30*time.Second, func() bool {
		out, err := ch.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"clusterIds": {id}, "states": {"READY"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Backups) > 0 {
			b = out.Backups[0]
		}
		return len(out.Backups) > 0
	})
	arn := aws.ToString(b.BackupArn)
	policy := func(account string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account +
			`:root"},"Action":["cloudhsm:CreateCluster","cloudhsm:DescribeBackups"],"Resource":"` + arn + `"}]}`
	}
	getPolicy := func() string {
		t.Helper()
		out, err := ch.GetResourcePolicy(ctx, &cloudhsmv2.GetResourcePolicyInput{ResourceArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Policy)
	}

	chV1Fail(t, s, "CloudHsmInvalidRequestException", "no Statement",
		"put-resource-policy", "--resource-arn", arn, "--policy", `{"Version":"2012-10-17"}`)
	chV1Fail(t, s, "CloudHsmInvalidRequestException", "Principal",
		"put-resource-policy", "--resource-arn", arn, "--policy", `{"Statement":[{"Effect":"Allow","Action":"cloudhsm:DescribeBackups"}]}`)
	if p := getPolicy(); p != "" {
		t.Fatalf("a refused policy was stored: %s", p)
	}
	if out, ok := chV1(t, s, "put-resource-policy", "--resource-arn", arn, "--policy", policy("444455556666")); !ok {
		t.Fatalf("put-resource-policy: %s", out)
	}

	// Pending deletion: not shareable; the policy stays.
	if _, err := ch.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: b.BackupId}); err != nil {
		t.Fatal(err)
	}
	chV1Fail(t, s, "CloudHsmInvalidRequestException", "only on a READY backup",
		"put-resource-policy", "--resource-arn", arn, "--policy", policy("777788889999"))
	if p := getPolicy(); p != policy("444455556666") {
		t.Fatalf("policy after a refused put: %s", p)
	}
	// READY again: shareable again.
	if _, err := ch.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: b.BackupId}); err != nil {
		t.Fatal(err)
	}
	if out, ok := chV1(t, s, "put-resource-policy", "--resource-arn", arn, "--policy", policy("777788889999")); !ok {
		t.Fatalf("put-resource-policy after restore-backup: %s", out)
	}
	if p := getPolicy(); p != policy("777788889999") {
		t.Fatalf("policy after restore-backup and put: %s", p)
	}
}

// TestCloudHSMConformanceDualStackAndDeleteHsm, on a production node with the newer aws v1
// CLI: a NON_FIPS DUALSTACK cluster keeps its Mode and NetworkType, and its HSM reports an
// IPv6 address of its ENI (EniIpV6) beside EniIp; DeleteHsm finds an HSM by EniIp or
// EniId, answers CloudHsmResourceNotFoundException for an address or ENI no HSM has, and
// refuses a malformed one with CloudHsmInvalidRequestException.
func TestCloudHSMConformanceDualStackAndDeleteHsm(t *testing.T) {
	t.Parallel() // independent node
	s, creds := startProductionServer(t)
	v1 := func(v any, args ...string) {
		t.Helper()
		out, ok := chV1As(t, s, creds, args...)
		if !ok {
			t.Fatalf("aws cloudhsmv2 %s: %s", strings.Join(args, " "), out)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("aws cloudhsmv2 %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	v1Fail := func(code, msg string, args ...string) {
		t.Helper()
		out, ok := chV1As(t, s, creds, args...)
		if ok || !strings.Contains(out, code) || !strings.Contains(out, msg) {
			t.Fatalf("aws cloudhsmv2 %s: ok=%v, want %s containing %q:\n%s", strings.Join(args, " "), ok, code, msg, out)
		}
	}
	type hsmDesc struct{ HsmId, EniId, EniIp, EniIpV6, State string }
	var created struct {
		Cluster struct{ ClusterId, Mode, NetworkType string }
	}
	v1(&created, "create-cluster", "--hsm-type", "hsm2m.medium", "--subnet-ids", "subnet-0a608d19e6c29c7a9",
		"--mode", "NON_FIPS", "--network-type", "DUALSTACK")
	id := created.Cluster.ClusterId
	if created.Cluster.Mode != "NON_FIPS" || created.Cluster.NetworkType != "DUALSTACK" {
		t.Fatalf("create-cluster: %+v", created.Cluster)
	}
	var h struct{ Hsm hsmDesc }
	v1(&h, "create-hsm", "--cluster-id", id, "--availability-zone", "us-east-1a", "--ip-address", "10.0.1.20")
	if net := netip.MustParseAddr; h.Hsm.EniIp != "10.0.1.20" || h.Hsm.EniIpV6 == "" || !net(h.Hsm.EniIpV6).Is6() {
		t.Fatalf("create-hsm: %+v", h.Hsm)
	}
	var desc struct {
		Clusters []struct {
			Mode, NetworkType string
			Hsms              []hsmDesc
		}
	}
	v1(&desc, "describe-clusters", "--filters", "clusterIds="+id)
	if len(desc.Clusters) != 1 || desc.Clusters[0].NetworkType != "DUALSTACK" || desc.Clusters[0].Mode != "NON_FIPS" ||
		len(desc.Clusters[0].Hsms) != 1 || desc.Clusters[0].Hsms[0] != h.Hsm {
		t.Fatalf("describe-clusters: %+v, want the HSM %+v", desc.Clusters, h.Hsm)
	}

	v1Fail("CloudHsmInvalidRequestException", "EniIp", "delete-hsm", "--cluster-id", id, "--eni-ip", "10.0.1.256")
	v1Fail("CloudHsmResourceNotFoundException", "not found", "delete-hsm", "--cluster-id", id, "--eni-ip", "10.0.1.21")
	v1Fail("CloudHsmResourceNotFoundException", "not found", "delete-hsm", "--cluster-id", id, "--eni-id", "eni-0123456789abcdef0")
	var del struct{ HsmId string }
	v1(&del, "delete-hsm", "--cluster-id", id, "--eni-ip", "10.0.1.20")
	if del.HsmId != h.Hsm.HsmId {
		t.Fatalf("delete-hsm --eni-ip: %+v, want %s", del, h.Hsm.HsmId)
	}
	// The node provides an HSM again; this time it is found by its ENI id.
	v1(&h, "create-hsm", "--cluster-id", id, "--availability-zone", "us-east-1a")
	v1(&del, "delete-hsm", "--cluster-id", id, "--eni-id", h.Hsm.EniId)
	if del.HsmId != h.Hsm.HsmId {
		t.Fatalf("delete-hsm --eni-id: %+v, want %s", del, h.Hsm.HsmId)
	}
	v1(&desc, "describe-clusters", "--filters", "clusterIds="+id)
	if len(desc.Clusters) != 1 || len(desc.Clusters[0].Hsms) != 0 {
		t.Fatalf("HSMs after delete-hsm: %+v", desc.Clusters)
	}
	v1(nil, "delete-cluster", "--cluster-id", id)
}
