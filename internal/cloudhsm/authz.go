package cloudhsm

import (
	"encoding/json"
	"fmt"
	"strings"
)

// RequestResource is the resource an IAM identity policy is evaluated against for the
// CloudHSM v2 operation op with request body body, from a caller of region and account:
// the ARN of the cluster or backup the request names, as in AWS's Service Authorization
// Reference for cloudhsm (cluster: arn:aws:cloudhsm:<region>:<account>:cluster/<id>;
// backup: ...:backup/<id>), or "*" for operations without a resource type (CreateCluster,
// DescribeClusters, DescribeBackups) and for bodies that name no valid resource (the
// operation refuses those itself). The body is only read, never trusted further.
func RequestResource(op, region, account string, body []byte) string {
	var in struct {
		ClusterId   string
		BackupId    string
		ResourceId  string
		ResourceArn string
	}
	if json.Unmarshal(body, &in) != nil {
		return "*"
	}
	arn := func(kind, id string) string {
		return fmt.Sprintf("arn:aws:cloudhsm:%s:%s:%s/%s", region, account, kind, id)
	}
	switch op {
	case "CreateHsm", "DeleteHsm", "DeleteCluster", "InitializeCluster", "ModifyCluster":
		if clusterIDRE.MatchString(in.ClusterId) {
			return arn("cluster", in.ClusterId)
		}
	case "CopyBackupToRegion", "DeleteBackup", "RestoreBackup", "ModifyBackupAttributes":
		if backupIDRE.MatchString(in.BackupId) {
			return arn("backup", in.BackupId)
		}
	case "TagResource", "UntagResource", "ListTags":
		switch {
		case !resourceRE.MatchString(in.ResourceId):
		case strings.HasPrefix(in.ResourceId, "cluster-"):
			return arn("cluster", in.ResourceId)
		default:
			return arn("backup", in.ResourceId)
		}
	case "PutResourcePolicy", "GetResourcePolicy", "DeleteResourcePolicy":
		if cloudHsmARNRE.MatchString(in.ResourceArn) {
			return in.ResourceArn
		}
	}
	return "*"
}
