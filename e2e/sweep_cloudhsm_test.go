package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	chtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
)

// sweepCHFail runs Debian's AWS CLI (awsAs) against s with the node's root credentials,
// expects it to fail, and returns its output (stdout and stderr).
func sweepCHFail(t *testing.T, s *server, args ...string) string {
	t.Helper()
	out, errOut, ok := awsAs(t, s, s.rootAWS(), args...)
	if ok {
		t.Fatalf("aws %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return out + errOut
}

// TestSweepCloudHSMCLI drives what the compatibility sweep of CloudHSMv2 fixed through the
// real AWS CLI and aws-sdk-go-v2 on a --dev node:
//   - create-hsm --ip-address refuses an address that is no IPv4 address (10.0.0.300 was
//     recorded as the HSM's EniIp) with CloudHsmInvalidRequestException;
//   - tags past a resource's 50 are CloudHsmResourceLimitExceededException, the model's
//     TagResource error for a CloudHSM limit, and nothing changes;
//   - DescribeBackups with Shared answers the (empty) list of backups other accounts share,
//     not an error, while the caller's own backups are listed without it;
//   - CopyBackupToRegion refuses TagList [] (the model's minimum is one tag);
//   - create-cluster in a region refuses a subnet of another region's zone;
//   - delete-hsm on an active cluster takes a backup.
func TestSweepCloudHSMCLI(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil, "--scheduler-interval", "1s")
	creds := s.creds()
	ch := s.cloudhsmClient()
	cluster := devCluster(t, ch)
	id := *cluster.ClusterId

	out := sweepCHFail(t, s, "cloudhsmv2", "create-hsm", "--cluster-id", id, "--availability-zone", "us-east-1a", "--ip-address", "10.0.0.300")
	if !strings.Contains(out, "CloudHsmInvalidRequestException") || !strings.Contains(out, "IpAddress") {
		t.Fatalf("create-hsm --ip-address 10.0.0.300: %s", out)
	}

	args := []string{"cloudhsmv2", "tag-resource", "--resource-id", id, "--tag-list"}
	for i := range 50 {
		args = append(args, fmt.Sprintf("Key=k%02d,Value=v", i))
	}
	awsCLI(t, s, creds, nil, args...)
	out = sweepCHFail(t, s, "cloudhsmv2", "tag-resource", "--resource-id", id, "--tag-list", "Key=one-more,Value=v")
	if !strings.Contains(out, "CloudHsmResourceLimitExceededException") {
		t.Fatalf("51st tag: %s", out)
	}
	var tags struct{ TagList []struct{ Key, Value string } }
	awsCLI(t, s, creds, &tags, "cloudhsmv2", "list-tags", "--resource-id", id)
	if len(tags.TagList) != 50 || tags.TagList[0].Key != "k00" || tags.TagList[49].Key != "k49" {
		t.Fatalf("tags after the refused call: %+v", tags.TagList)
	}
	// Replacing a value is not a new tag.
	awsCLI(t, s, creds, nil, "cloudhsmv2", "tag-resource", "--resource-id", id, "--tag-list", "Key=k00,Value=w")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var own []chtypes.Backup
	waitFor(t, 30*time.Second, func() bool {
		b, err := ch.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{})
		if err != nil {
			t.Fatal(err)
		}
		own = b.Backups
		return len(own) > 0
	})
	shared, err := ch.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Shared: aws.Bool(true)})
	if err != nil {
		t.Fatalf("DescribeBackups Shared: %v", err)
	}
	if len(shared.Backups) != 0 || shared.NextToken != nil {
		t.Fatalf("backups shared with the caller: %+v", shared)
	}
	// Validation still applies with Shared.
	_, err = ch.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Shared: aws.Bool(true), NextToken: aws.String("made-up")})
	var inv *chtypes.CloudHsmInvalidRequestException
	if !errors.As(err, &inv) {
		t.Fatalf("made-up NextToken with Shared: %v", err)
	}

	// An empty TagList (the model's TagList has 1 to 50 members) is refused, not read as
	// "drop the source's tags"; the SDK sends the empty list as given.
	_, err = ch.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: own[0].BackupId,
		DestinationRegion: aws.String("us-west-2"), TagList: []chtypes.Tag{}})
	if !errors.As(err, &inv) {
		t.Fatalf("CopyBackupToRegion with TagList []: %v", err)
	}

	// Subnets are regional: the node's us-east-1a subnet is no subnet of us-west-2.
	subnet := aws.ToString(cluster.Hsms[0].SubnetId)
	out = sweepCHFail(t, s, "--region", "us-west-2", "cloudhsmv2", "create-cluster", "--hsm-type", "hsm2m.medium", "--subnet-ids", subnet)
	if !strings.Contains(out, "CloudHsmInvalidRequestException") || !strings.Contains(out, "not in region us-west-2") {
		t.Fatalf("create-cluster in us-west-2 with a us-east-1a subnet: %s", out)
	}

	// Removing an HSM from an active cluster takes a backup, as on AWS.
	var before struct{ Backups []struct{ BackupId string } }
	awsCLI(t, s, creds, &before, "cloudhsmv2", "describe-backups", "--filters", "clusterIds="+id)
	awsCLI(t, s, creds, nil, "cloudhsmv2", "delete-hsm", "--cluster-id", id, "--hsm-id", aws.ToString(cluster.Hsms[0].HsmId))
	var after struct {
		Backups []struct{ BackupId, BackupState string }
	}
	awsCLI(t, s, creds, &after, "cloudhsmv2", "describe-backups", "--filters", "clusterIds="+id)
	if len(after.Backups) != len(before.Backups)+1 || after.Backups[0].BackupState != "READY" {
		t.Fatalf("backups before delete-hsm %+v, after %+v", before.Backups, after.Backups)
	}
}
