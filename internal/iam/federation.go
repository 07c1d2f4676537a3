package iam

import (
	"context"
	"net/http"
	"time"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

// GetFederationToken: temporary credentials of a federated user
// (arn:aws:sts::<account>:federated-user/<Name>) for an IAM user (or the root). The
// session may do only what the calling user's policies (with its permissions boundary)
// and the session policies passed here allow: without session policies it may do
// nothing. The root's federated users are limited by the session policies only.

type GetFederationTokenInput struct {
	Name, Policy    string
	DurationSeconds *int
	Tags            []Tag
	PolicyArns      []PolicyDescriptor
}

// FederatedUser is STS's FederatedUser shape.
type FederatedUser struct {
	FederatedUserId string `xml:"FederatedUserId"`
	Arn             string `xml:"Arn"`
}

type GetFederationTokenOutput struct {
	Credentials      Credentials   `xml:"Credentials"`
	FederatedUser    FederatedUser `xml:"FederatedUser"`
	PackedPolicySize *int          `xml:"PackedPolicySize,omitempty"`
}

// federatedType is the Type of a federated user's session (and principal).
const federatedType = "FederatedUser"

// allowAll is the identity of the root's federated users: everything, which their session
// policies then limit.
const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// GetFederationToken returns the credentials of a federated user session.
func (s *Service) GetFederationToken(ctx context.Context, c Caller, in GetFederationTokenInput) (*GetFederationTokenOutput, error) {
	if len(in.Name) < 2 || len(in.Name) > 32 || !sessionNameOK.MatchString(in.Name) {
		return nil, validation("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 32", in.Name)
	}
	p, ok := parseARN(c.Principal.ARN)
	if !ok || (p.Kind != "user" && p.Kind != "root") || s.callerSession(c) != nil {
		return nil, iamErr("AccessDenied", "Cannot call GetFederationToken with session credentials")
	}
	if err := checkSessionPolicyInput(in.Policy, in.PolicyArns); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	dur, err := tokenDuration(in.DurationSeconds, p.Kind == "root")
	if err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 && p.Kind == "user" {
		// Passing session tags needs sts:TagSession, as for AssumeRole.
		pols, err := s.RequestPolicies(c.Principal.ARN, c.Principal.AccessKeyID)
		if err != nil {
			return nil, err
		}
		req := &policy.Request{Principal: policy.Principal{ARN: c.Principal.ARN, Account: c.Account, Username: p.Name},
			Action: "sts:TagSession", Resource: "*", Context: map[string][]string{}}
		if !policy.Decide(req, pols, nil).Allowed {
			return nil, &Error{Code: "AccessDenied", Status: http.StatusForbidden,
				Message: "User: " + c.Principal.ARN + " is not authorized to perform: sts:TagSession on resource: *"}
		}
	}
	policyARNs, err := s.checkSessionPolicyARNs(c.Account, in.PolicyArns)
	if err != nil {
		return nil, err
	}
	packed, err := packedPolicySize(in.Policy, policyARNs, in.Tags)
	if err != nil {
		return nil, err
	}
	arn := "arn:aws:sts::" + c.Account + ":federated-user/" + in.Name
	base := sessionRec{Account: c.Account, ARN: arn, Type: federatedType, UserID: c.Account + ":" + in.Name, Tags: in.Tags,
		Region: c.Region, Policy: in.Policy, PolicyARNs: policyARNs, Owner: c.Principal.ARN}
	if p.Kind == "user" {
		// The session is this user's (its unique ID): not a user later given its name.
		u, err := s.getEntity(kindUser, p.Account, p.Name)
		if err != nil {
			return nil, iamErr("AccessDenied", "The calling user no longer exists.")
		}
		base.EntityID = u.ID
	}
	creds, _, err := s.newSession(ctx, base, time.Duration(dur)*time.Second, "", 0)
	if err != nil {
		return nil, err
	}
	out := &GetFederationTokenOutput{Credentials: *creds, FederatedUser: FederatedUser{FederatedUserId: base.UserID, Arn: arn}}
	if in.Policy != "" || len(policyARNs) > 0 || len(in.Tags) > 0 {
		out.PackedPolicySize = &packed
	}
	return out, nil
}
