package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/audit"
	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/iam"
	"github.com/coffer-hsm/coffer/internal/kms"
	"github.com/coffer-hsm/coffer/internal/trail"
)

// CloudTrail's JSON 1.1 target prefix and SigV4 service.
const cloudTrailPrefix = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"

// cloudTrailShortPrefix is the target prefix of CloudTrail's newer service model.
const cloudTrailShortPrefix = "CloudTrail_20131101"

// recorder turns verified AWS requests and HSM events into CloudTrail records in the
// durable journal. A request is answered only after its record is on disk
// (awsproto.Router.Record).
type recorder struct {
	j       *audit.Journal
	region  string
	account string
	kms     *kms.Service // resolves aliases in resources; set before the APIs are served
}

// record is the Router.Record hook.
func (r *recorder) record(c *awsproto.Call, status int, code, msg string, resp any) error {
	e := r.event(c, status, code, msg, resp)
	// The journal bounds the wait (audit.Options.AppendTimeout, one timer
	// per group rather than a deadline per request).
	if c.TakeAnnouncement() {
		return r.j.AppendExpected(context.Background(), e)
	}
	return r.j.Append(context.Background(), e)
}

// recordAsync is the Router.RecordAsync hook: the answer waits in its connection
// until the record is durable, and no goroutine waits for it.
func (r *recorder) recordAsync(c *awsproto.Call, status int, code, msg string, resp any, done func(error)) error {
	return r.j.AppendAsync(r.event(c, status, code, msg, resp), c.TakeAnnouncement(), done)
}

// event is the CloudTrail record of an AWS API request.
func (r *recorder) event(c *awsproto.Call, status int, code, msg string, resp any) *audit.Event {
	e := &audit.Event{
		EventSource:     audit.SourceFor(c.Service),
		EventName:       c.Operation,
		AWSRegion:       c.Region,
		SourceIPAddress: c.SourceIP,
		UserAgent:       c.UserAgent,
		ErrorCode:       code,
		ErrorMessage:    msg,
		RequestID:       c.RequestID,
		ReadOnly:        audit.ReadOnlyOperation(c.Operation),
		EventType:       audit.EventTypeAPICall,
		ManagementEvent: true,
		UserIdentity:    identityOf(c.Principal, c.ClaimedAccessKeyID),
	}
	if e.AWSRegion == "" {
		e.AWSRegion = r.region
	}
	if e.EventSource == "" {
		e.EventSource = "unknown"
	}
	var keyID string
	e.RequestParameters, keyID = requestParams(c)
	// As CloudTrail does, the answers of operations that change something are recorded
	// (CreateKey's keyMetadata, AssumeRole's credentials without their secrets); those
	// of read-only and cryptographic operations (Encrypt, Sign...) are not: data, often
	// secret.
	if code == "" && resp != nil && !e.ReadOnly {
		e.ResponseElements = responseElements(c, resp)
	}
	if c.Service == "kms" && keyID != "" {
		// As CloudTrail does, an alias is recorded as the key it points to; an alias that
		// points nowhere gives no resource.
		if arn, ok := r.kms.KeyARN(c.Region, c.Principal.Account, keyID); ok {
			e.Resources = []audit.Resource{{AccountID: c.Principal.Account, Type: "AWS::KMS::Key", ARN: arn}}
		}
	}
	if out, ok := resp.(*kms.KeyMetadataOutput); ok && c.Service == "kms" && c.Operation == "CreateKey" && code == "" {
		// The key CreateKey made, as CloudTrail lists it: a lookup by ResourceName finds
		// the key's creation.
		e.Resources = []audit.Resource{{AccountID: out.KeyMetadata.AWSAccountId, Type: "AWS::KMS::Key", ARN: out.KeyMetadata.Arn}}
	}
	return e
}

// keyLastUsed is IAM's GetAccessKeyLastUsed source: the newest event of this node's trail
// signed with the access key and authenticated (a request refused by SigV4 only claims a
// key, see identityOf), within the journal's retention.
func (r *recorder) keyLastUsed(id string) (iam.KeyUse, bool, error) {
	in := audit.LookupInput{Attributes: []audit.LookupAttribute{{Key: "AccessKeyId", Value: id}}}
	for range 1000 { // pages of 50: the newest authenticated use is almost always on the first
		evs, next, err := r.j.Lookup(in)
		if err != nil {
			return iam.KeyUse{}, false, err
		}
		for _, e := range evs {
			if e.UserIdentity.Type == "Unknown" || e.UserIdentity.AccessKeyID != id {
				continue
			}
			return iam.KeyUse{Time: e.EventTime, Service: strings.TrimSuffix(e.EventSource, ".amazonaws.com"), Region: e.AWSRegion}, true, nil
		}
		if next == "" {
			break
		}
		in.NextToken = next
	}
	return iam.KeyUse{}, false, nil
}

// responseElements encodes the answer to c as CloudTrail's responseElements, without
// secrets (see audit.ResponseElementsJSON and audit.ResponseElementsXML).
func responseElements(c *awsproto.Call, resp any) json.RawMessage {
	if c.Query {
		// Encoded as the router encodes the <{Action}Result> element.
		var b bytes.Buffer
		if xml.NewEncoder(&b).EncodeElement(resp, xml.StartElement{Name: xml.Name{Local: "Result"}}) != nil {
			return nil
		}
		return audit.ResponseElementsXML(b.Bytes())
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil
	}
	return audit.ResponseElementsJSON(b, c.Service == "kms")
}

// identityOf is the userIdentity of a request made as p. A request refused before
// its signature was verified has no principal: its identity is "Unknown", with the
// access key id it claimed, if any, so that lookups by AccessKeyId find failed
// attempts with a key.
func identityOf(p awsproto.Principal, claimedKey string) audit.UserIdentity {
	if p.ARN == "" {
		if claimedKey == "" {
			return audit.UserIdentity{}
		}
		return audit.UserIdentity{Type: "Unknown", AccessKeyID: claimedKey}
	}
	id := audit.UserIdentity{Type: p.Type, ARN: p.ARN, AccountID: p.Account, AccessKeyID: p.AccessKeyID, UserName: p.UserName,
		PrincipalID: p.UserID}
	switch p.Type {
	case "Root":
		id.PrincipalID = p.Account
	case "AssumedRole":
		id.UserName = ""
	}
	if p.Temporary {
		id.SessionContext = &audit.SessionContext{Attributes: audit.NewSessionAttributes(time.Time{}, p.MFAAuthenticated),
			SourceIdentity: p.SourceIdentity}
	}
	return id
}

// requestParams decodes the request for its record, without secrets, plaintext or
// ciphertext, with CloudTrail's lowerCamel parameter names.
func requestParams(c *awsproto.Call) (params json.RawMessage, kmsKeyID string) {
	if len(c.Body) == 0 {
		return nil, ""
	}
	if c.Body[0] == '{' {
		p, top, ok := audit.RequestParametersJSON(c.Body, c.Service == "kms")
		if !ok {
			return nil, ""
		}
		if raw, found := top.Get("CiphertextBlob"); found && c.Service == "kms" {
			// Decrypt and ReEncrypt name their key in the blob (unauthenticated
			// until decrypted, but the trail should show which key was tried).
			var blob []byte
			if json.Unmarshal(raw, &blob) == nil {
				kmsKeyID, _ = kms.CiphertextKeyID(blob)
			}
		}
		if raw, found := top.Get("KeyId"); found {
			if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
				kmsKeyID = string(raw[1 : n-1]) // the usual case: no escapes
			} else {
				json.Unmarshal(raw, &kmsKeyID)
			}
		}
		return p, kmsKeyID
	}
	v, err := url.ParseQuery(string(c.Body))
	if err != nil {
		return nil, ""
	}
	return audit.RequestParametersQuery(v), ""
}

// hsmEvent records an HSM event (login, logout, user and key management...) with
// CloudHSM's opcode as the event name. HSM events have no caller to answer, so a failure
// to record is logged; the journal is fail-closed afterwards for API requests.
func (r *recorder) hsmEvent(e hsm.Event) error {
	return r.j.Append(context.Background(), audit.FromHSM(e, r.region, r.account, ""))
}

// lookupEventsInput is CloudTrail's LookupEvents request.
type lookupEventsInput struct {
	LookupAttributes []audit.LookupAttribute `json:"LookupAttributes"`
	StartTime        *awsproto.Epoch         `json:"StartTime"`
	EndTime          *awsproto.Epoch         `json:"EndTime"`
	EventCategory    string                  `json:"EventCategory"`
	MaxResults       *int                    `json:"MaxResults"`
	NextToken        string                  `json:"NextToken"`
}

// cloudTrailJSONService serves LookupEvents (authorized as cloudtrail:LookupEvents; the
// calling region's events only) and the other given operations (the trails').
func cloudTrailJSONService(j *audit.Journal, a *identityAuthorizer, more map[string]awsproto.Handler) *awsproto.JSONService {
	lookup := func(ctx context.Context, c *awsproto.Call) (any, error) {
		in, err := awsproto.Decode[lookupEventsInput](c.Body)
		if err != nil {
			return nil, err
		}
		if in.EventCategory != "" && in.EventCategory != "insight" {
			return nil, &awsproto.Error{Status: http.StatusBadRequest, Code: "InvalidEventCategoryException",
				Message: "EventCategory must be insight"}
		}
		// As on AWS, a lookup finds the events of the region the request is signed for.
		li := audit.LookupInput{Region: c.Region, Attributes: in.LookupAttributes, NextToken: in.NextToken}
		if in.StartTime != nil {
			li.StartTime = time.Time(*in.StartTime)
		}
		if in.EndTime != nil {
			li.EndTime = time.Time(*in.EndTime)
		}
		if in.MaxResults != nil {
			li.MaxResults = *in.MaxResults
			if li.MaxResults == 0 {
				li.MaxResults = -1 // explicit 0 is out of range, not the default
			}
		}
		if in.EventCategory == "insight" {
			// Coffer records no Insights events: nothing matches, but the request is
			// checked as any other, and no page of nothing has a NextToken.
			if err := audit.CheckLookup(li); err != nil {
				return nil, err
			}
			if li.NextToken != "" {
				return nil, audit.InvalidNextToken()
			}
			return map[string]any{"Events": []any{}}, nil
		}
		return j.LookupEvents(li)
	}
	ops := map[string]awsproto.Handler{
		"LookupEvents": a.guard("cloudtrail", "LookupEvents", "AccessDeniedException", http.StatusBadRequest, lookup),
	}
	maps.Copy(ops, more)
	return &awsproto.JSONService{
		TargetPrefix: cloudTrailPrefix,
		SigningName:  "cloudtrail",
		JSONVersion:  "1.1",
		Operations:   ops,
		MapError: func(err error) *awsproto.Error {
			var e *audit.Error
			if errors.As(err, &e) {
				return &awsproto.Error{Status: http.StatusBadRequest, Code: e.Code, Message: e.Message}
			}
			return trail.MapError(err)
		},
	}
}
