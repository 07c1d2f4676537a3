package audit

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

func TestFromHSM(t *testing.T) {
	j := openT(t, t.TempDir(), Options{NoPreallocate: true})
	he := hsm.Event{Time: t0, Opcode: hsm.OpLogin, Result: hsm.ResultLoginFailure, User: "admin", Role: "CO", FailedLogins: 2, Message: "wrong password"}
	e := FromHSM(he, "us-east-1", "111122223333", "arn:aws:cloudhsm:us-east-1:111122223333:cluster/cluster-1")
	if err := j.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	got := lookupAll(t, j, LookupInput{Attributes: []LookupAttribute{{AttrEventName, "CN_LOGIN"}}})
	if len(got) != 1 || got[0].EventType != EventTypeServiceEvent || got[0].ErrorCode != hsm.ResultLoginFailure ||
		got[0].EventSource != SourceCloudHSM || got[0].Username() != "admin" {
		t.Fatalf("%+v", got)
	}
	b, _ := json.Marshal(&got[0])
	if !strings.Contains(string(b), `"serviceEventDetails":{"opcode":"CN_LOGIN","result":"RET_USER_LOGIN_FAILURE","user":"admin","role":"CO","failedLogins":2`) {
		t.Fatalf("%s", b)
	}
	if n := len(lookupAll(t, j, LookupInput{Attributes: []LookupAttribute{{AttrResourceType, "AWS::CloudHSM::Cluster"}}})); n != 1 {
		t.Fatal("resource")
	}
	for op, want := range map[string]bool{"Encrypt": true, "DescribeKey": true, "GenerateDataKeyPair": true, "CreateKey": false, "ScheduleKeyDeletion": false, "ListAliases": true, "PutKeyPolicy": false,
		"SimulatePrincipalPolicy": true, "SimulateCustomPolicy": true, "SetAlarmState": false} {
		if ReadOnlyOperation(op) != want {
			t.Errorf("ReadOnlyOperation(%s)", op)
		}
	}
}
