// Package audit records Coffer's audit trail: every AWS-protocol API call and
// every HSM login or management command, as CloudTrail records, in a durable
// journal with group commit, and answers CloudTrail's LookupEvents over it.
//
// The record model (Event) uses CloudTrail's field names. Callers build an
// Event per request, with request parameters already stripped of secrets
// (see Redact and RedactKMS), and call (*Journal).Append, which returns only
// once the event is on stable storage. Concurrent appends share one write and
// one fsync.
package audit

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
)

// EventVersion is the CloudTrail record format version written.
const EventVersion = "1.09"

// Event types, categories and sources.
const (
	EventTypeAPICall      = "AwsApiCall"
	EventTypeServiceEvent = "AwsServiceEvent"

	CategoryManagement = "Management"

	SourceKMS      = "kms.amazonaws.com"
	SourceCloudHSM = "cloudhsm.amazonaws.com"
	SourceIAM      = "iam.amazonaws.com"
	SourceSTS      = "sts.amazonaws.com"
)

// Event is one CloudTrail record. The JSON field names are CloudTrail's.
type Event struct {
	EventVersion      string          `json:"eventVersion"`
	UserIdentity      UserIdentity    `json:"userIdentity"`
	EventTime         time.Time       `json:"eventTime"` // normalized to UTC, whole seconds, by Append
	EventSource       string          `json:"eventSource"`
	EventName         string          `json:"eventName"`
	AWSRegion         string          `json:"awsRegion"`
	SourceIPAddress   string          `json:"sourceIPAddress,omitempty"`
	UserAgent         string          `json:"userAgent,omitempty"`
	ErrorCode         string          `json:"errorCode,omitempty"`
	ErrorMessage      string          `json:"errorMessage,omitempty"`
	RequestParameters json.RawMessage `json:"requestParameters"` // nil → null, as CloudTrail writes
	ResponseElements  json.RawMessage `json:"responseElements"`
	// ServiceEventDetails is set on AwsServiceEvent records (HSM events).
	ServiceEventDetails json.RawMessage `json:"serviceEventDetails,omitempty"`
	RequestID           string          `json:"requestID,omitempty"`
	EventID             string          `json:"eventID"` // a UUID; set by Append when empty
	ReadOnly            bool            `json:"readOnly"`
	Resources           []Resource      `json:"resources,omitempty"`
	EventType           string          `json:"eventType"`
	ManagementEvent     bool            `json:"managementEvent"`
	RecipientAccountID  string          `json:"recipientAccountId,omitempty"`
	EventCategory       string          `json:"eventCategory"`
}

// UserIdentity is CloudTrail's userIdentity element.
type UserIdentity struct {
	Type           string          `json:"type,omitempty"` // "Root", "IAMUser", "AssumedRole", "AWSService"...
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext is userIdentity.sessionContext, present for temporary
// credentials.
type SessionContext struct {
	SessionIssuer  *SessionIssuer   `json:"sessionIssuer,omitempty"`
	Attributes     SessionAttribute `json:"attributes"`
	SourceIdentity string           `json:"sourceIdentity,omitempty"`
}

// SessionIssuer is the role (or user) that issued a temporary credential.
type SessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// SessionAttribute is sessionContext.attributes. CloudTrail writes
// mfaAuthenticated as the string "true" or "false".
type SessionAttribute struct {
	CreationDate     string `json:"creationDate,omitempty"` // RFC 3339, UTC, seconds
	MFAAuthenticated string `json:"mfaAuthenticated,omitempty"`
}

// NewSessionAttributes formats the attributes of a session created at created.
func NewSessionAttributes(created time.Time, mfa bool) SessionAttribute {
	a := SessionAttribute{MFAAuthenticated: "false"}
	if mfa {
		a.MFAAuthenticated = "true"
	}
	if !created.IsZero() {
		a.CreationDate = created.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	return a
}

// Resource is one element of resources.
type Resource struct {
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type"` // e.g. "AWS::KMS::Key"
	ARN       string `json:"ARN"`
}

// SourceFor returns the eventSource of an AWS signing name ("kms" →
// "kms.amazonaws.com"; "cloudhsm" and "cloudhsmv2" → "cloudhsm.amazonaws.com").
func SourceFor(signingName string) string {
	switch signingName {
	case "cloudhsm", "cloudhsmv2":
		return SourceCloudHSM
	case "":
		return ""
	}
	return signingName + ".amazonaws.com"
}

// NewEventID returns a random UUID for EventID.
func NewEventID() string { return uuid.NewString() }

// Params marshals v (typically a redacted map) for RequestParameters or
// ResponseElements. A nil v, or a value that cannot be marshalled, gives nil
// (written as null).
func Params(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// normalize fills defaults in place: version, id, time (UTC, seconds), type
// and category.
func (e *Event) normalize(now time.Time) {
	if e.EventVersion == "" {
		e.EventVersion = EventVersion
	}
	if e.EventID == "" {
		e.EventID = NewEventID()
	}
	if e.EventTime.IsZero() {
		e.EventTime = now
	}
	e.EventTime = e.EventTime.UTC().Truncate(time.Second)
	if e.EventType == "" {
		e.EventType = EventTypeAPICall
	}
	if e.EventCategory == "" {
		e.EventCategory = CategoryManagement
	}
	if e.RecipientAccountID == "" {
		e.RecipientAccountID = e.UserIdentity.AccountID
	}
}

// Username is the value LookupEvents reports (and matches) as Username:
// "root" for the root identity, the session name for an assumed role, else
// the user name.
func (e *Event) Username() string {
	u := &e.UserIdentity
	switch u.Type {
	case "Root":
		if u.UserName != "" {
			return u.UserName
		}
		return "root"
	case "AssumedRole":
		if i := strings.LastIndexByte(u.ARN, '/'); i >= 0 && i+1 < len(u.ARN) {
			return u.ARN[i+1:]
		}
	}
	return u.UserName
}

// ResourceName is the name LookupEvents reports for r: its ARN.
func (r Resource) ResourceName() string { return r.ARN }
