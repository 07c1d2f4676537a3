package audit

import (
	"strings"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// ReadOnlyOperation reports whether CloudTrail marks operation op as
// readOnly: Describe*, Get*, List*, Lookup*, IAM's Simulate*, and KMS's cryptographic
// operations that change no resource (Encrypt, Decrypt, ReEncrypt,
// GenerateDataKey*, GenerateRandom, GenerateMac, VerifyMac, Sign, Verify,
// DeriveSharedSecret).
func ReadOnlyOperation(op string) bool {
	for _, p := range []string{"Describe", "Get", "List", "Lookup", "Simulate", "GenerateDataKey", "ReEncrypt"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	switch op {
	case "Encrypt", "Decrypt", "GenerateRandom", "GenerateMac", "VerifyMac", "Sign", "Verify", "DeriveSharedSecret":
		return true
	}
	return false
}

// hsmDetails is serviceEventDetails of an HSM event.
type hsmDetails struct {
	Opcode       string `json:"opcode"`
	Result       string `json:"result"`
	User         string `json:"user,omitempty"`
	Role         string `json:"role,omitempty"`
	Target       string `json:"target,omitempty"`
	FailedLogins int    `json:"failedLogins,omitempty"`
	Message      string `json:"message,omitempty"`
}

// FromHSM turns an HSM audit event (a login, a management command, a
// lockout, a zeroization) into an AwsServiceEvent record of
// cloudhsm.amazonaws.com: eventName is the opcode (e.g. CN_LOGIN), a result
// other than RET_OK is the errorCode, the HSM user is userIdentity.userName
// (type "HSMUser") and the details go to serviceEventDetails. clusterARN,
// when set, is the event's resource.
func FromHSM(e hsm.Event, region, accountID, clusterARN string) *Event {
	ev := &Event{
		UserIdentity: UserIdentity{
			Type:      "HSMUser",
			AccountID: accountID,
			UserName:  e.User,
			InvokedBy: SourceCloudHSM,
		},
		EventTime:       e.Time,
		EventSource:     SourceCloudHSM,
		EventName:       e.Opcode,
		AWSRegion:       region,
		EventType:       EventTypeServiceEvent,
		ManagementEvent: true,
		ServiceEventDetails: Params(hsmDetails{
			Opcode: e.Opcode, Result: e.Result, User: e.User, Role: e.Role,
			Target: e.Target, FailedLogins: e.FailedLogins, Message: e.Message,
		}),
		RecipientAccountID: accountID,
	}
	if e.Result != "" && e.Result != hsm.ResultOK {
		ev.ErrorCode = e.Result
		ev.ErrorMessage = e.Message
	}
	if clusterARN != "" {
		ev.Resources = []Resource{{AccountID: accountID, Type: "AWS::CloudHSM::Cluster", ARN: clusterARN}}
	}
	return ev
}
