package e2e

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	chtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
	"github.com/aws/smithy-go"
)

// The CloudHSM conformance tests run the newer aws v1 CLI once per command they are about
// (what its model sends and shows); the other checks of the server's answers (refusals,
// state read back) use aws-sdk-go-v2, whose model has the same members. An AWS CLI process
// costs about a second of CPU.

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
	out, errOut, ok := awsRun(s, bin, "us-east-1", awsCreds{AccessKeyID: c.RootAccessKeyID, SecretAccessKey: c.RootSecretAccessKey},
		append([]string{"cloudhsmv2"}, args...)...)
	return out + errOut, ok
}

func chV1Fail(t *testing.T, s *server, wantCode, wantMsg string, args ...string) {
	t.Helper()
	out, ok := chV1(t, s, args...)
	if ok || !strings.Contains(out, wantCode) || !strings.Contains(out, wantMsg) {
		t.Fatalf("aws cloudhsmv2 %s: ok=%v, want %s containing %q:\n%s", strings.Join(args, " "), ok, wantCode, wantMsg, out)
	}
}

// wantSDKError requires err, the answer of an aws-sdk-go-v2 call, to be the error
// wantCode with a message containing wantMsg.
func wantSDKError(t *testing.T, what string, err error, wantCode, wantMsg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != wantCode || !strings.Contains(ae.ErrorMessage(), wantMsg) {
		t.Fatalf("%s: %v, want %s containing %q", what, err, wantCode, wantMsg)
	}
}

// TestCloudHSMConformanceHsmType: hsm1.medium reached its end of support, so, as on AWS,
// no new cluster is created with it and an hsm2m.medium cluster does not become one
// (ModifyCluster migrates hsm1.medium to hsm2m.medium only, and rolls that back within
// HsmTypeRollbackExpiration). The refusals are checked with aws-sdk-go-v2; the
// modification a CLI user sees answered (the cluster, without a rollback date) with the
// newer aws v1 CLI; the state is read back with aws-sdk-go-v2.
func TestCloudHSMConformanceHsmType(t *testing.T) {
	t.Parallel() // independent node
	s := startServer(t, "", nil)
	ch := s.cloudhsmClient()
	cl := devCluster(t, ch)
	id := aws.ToString(cl.ClusterId)
	subnet := cl.SubnetMapping["us-east-1a"]

	_, err := ch.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: []string{subnet}})
	wantSDKError(t, "CreateCluster hsm1.medium", err, "CloudHsmInvalidRequestException", "end of support")
	_, err = ch.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: aws.String(id), HsmType: aws.String("hsm1.medium")})
	wantSDKError(t, "ModifyCluster hsm1.medium", err, "CloudHsmInvalidRequestException", "hsm1.medium to hsm2m.medium only")
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
// A policy is put once with the newer aws v1 CLI (Debian's awscli predates resource
// policies); the refusals, the other put and the reads use aws-sdk-go-v2.
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

	putPolicy := func(p string) error {
		_, err := ch.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: aws.String(arn), Policy: aws.String(p)})
		return err
	}

	wantSDKError(t, "PutResourcePolicy without statements", putPolicy(`{"Version":"2012-10-17"}`), "CloudHsmInvalidRequestException", "no Statement")
	wantSDKError(t, "PutResourcePolicy without a principal", putPolicy(`{"Statement":[{"Effect":"Allow","Action":"cloudhsm:DescribeBackups"}]}`),
		"CloudHsmInvalidRequestException", "Principal")
	if p := getPolicy(); p != "" {
		t.Fatalf("a refused policy was stored: %s", p)
	}
	// The CLI sends a policy document and reads the answer.
	if out, ok := chV1(t, s, "put-resource-policy", "--resource-arn", arn, "--policy", policy("444455556666")); !ok {
		t.Fatalf("put-resource-policy: %s", out)
	}

	// Pending deletion: not shareable; the policy stays.
	if _, err := ch.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: b.BackupId}); err != nil {
		t.Fatal(err)
	}
	wantSDKError(t, "PutResourcePolicy on a backup PENDING_DELETION", putPolicy(policy("777788889999")),
		"CloudHsmInvalidRequestException", "only on a READY backup")
	if p := getPolicy(); p != policy("444455556666") {
		t.Fatalf("policy after a refused put: %s", p)
	}
	// READY again: shareable again.
	if _, err := ch.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: b.BackupId}); err != nil {
		t.Fatal(err)
	}
	if err := putPolicy(policy("777788889999")); err != nil {
		t.Fatalf("PutResourcePolicy after RestoreBackup: %v", err)
	}
	if p := getPolicy(); p != policy("777788889999") {
		t.Fatalf("policy after restore-backup and put: %s", p)
	}
}

// TestCloudHSMConformanceDualStackAndDeleteHsm, on a production node: a NON_FIPS DUALSTACK
// cluster keeps its Mode and NetworkType, and its HSM reports an IPv6 address of its ENI
// (EniIpV6) beside EniIp; DeleteHsm finds an HSM by EniIp or EniId, answers
// CloudHsmResourceNotFoundException for an address or ENI no HSM has, and refuses a
// malformed one with CloudHsmInvalidRequestException. The newer aws v1 CLI (whose model has
// Mode, NetworkType and EniIpV6) creates the cluster and the HSM and deletes the HSM by its
// address, reading each answer; the refusals, the other calls and the reads back use
// aws-sdk-go-v2.
func TestCloudHSMConformanceDualStackAndDeleteHsm(t *testing.T) {
	t.Parallel() // independent node
	s, creds := startProductionServer(t)
	ch := s.cloudhsmAs(awsCreds{AccessKeyID: creds.RootAccessKeyID, SecretAccessKey: creds.RootSecretAccessKey})
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
	sdkHsms := func(hs []chtypes.Hsm) []hsmDesc {
		var l []hsmDesc
		for _, x := range hs {
			l = append(l, hsmDesc{aws.ToString(x.HsmId), aws.ToString(x.EniId), aws.ToString(x.EniIp), aws.ToString(x.EniIpV6), string(x.State)})
		}
		return l
	}
	describe := func() (chtypes.Cluster, []hsmDesc) {
		t.Helper()
		out, err := ch.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {id}}})
		if err != nil || len(out.Clusters) != 1 {
			t.Fatalf("DescribeClusters %s: %v %+v", id, err, out)
		}
		return out.Clusters[0], sdkHsms(out.Clusters[0].Hsms)
	}
	if cl, hsms := describe(); cl.NetworkType != chtypes.NetworkTypeDualstack || cl.Mode != chtypes.ClusterModeNonFips ||
		len(hsms) != 1 || hsms[0] != h.Hsm {
		t.Fatalf("DescribeClusters: %s %s %+v, want the HSM %+v", cl.NetworkType, cl.Mode, hsms, h.Hsm)
	}

	deleteHsm := func(eniIP, eniID string) (string, error) {
		in := &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String(id)}
		if eniIP != "" {
			in.EniIp = aws.String(eniIP)
		}
		if eniID != "" {
			in.EniId = aws.String(eniID)
		}
		out, err := ch.DeleteHsm(ctx, in)
		if err != nil {
			return "", err
		}
		return aws.ToString(out.HsmId), nil
	}
	_, err := deleteHsm("10.0.1.256", "")
	wantSDKError(t, "DeleteHsm EniIp 10.0.1.256", err, "CloudHsmInvalidRequestException", "EniIp")
	_, err = deleteHsm("10.0.1.21", "")
	wantSDKError(t, "DeleteHsm EniIp 10.0.1.21", err, "CloudHsmResourceNotFoundException", "not found")
	_, err = deleteHsm("", "eni-0123456789abcdef0")
	wantSDKError(t, "DeleteHsm EniId eni-0123456789abcdef0", err, "CloudHsmResourceNotFoundException", "not found")
	var del struct{ HsmId string }
	v1(&del, "delete-hsm", "--cluster-id", id, "--eni-ip", "10.0.1.20")
	if del.HsmId != h.Hsm.HsmId {
		t.Fatalf("delete-hsm --eni-ip: %+v, want %s", del, h.Hsm.HsmId)
	}
	// The node provides an HSM again; this time it is found by its ENI id.
	ch2, err := ch.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(id), AvailabilityZone: aws.String("us-east-1a")})
	if err != nil {
		t.Fatalf("CreateHsm: %v", err)
	}
	h2 := sdkHsms([]chtypes.Hsm{*ch2.Hsm})[0]
	if got, err := deleteHsm("", h2.EniId); err != nil || got != h2.HsmId {
		t.Fatalf("DeleteHsm EniId %s: %q %v, want %s", h2.EniId, got, err, h2.HsmId)
	}
	if _, hsms := describe(); len(hsms) != 0 {
		t.Fatalf("HSMs after DeleteHsm: %+v", hsms)
	}
	if _, err := ch.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String(id)}); err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
}
