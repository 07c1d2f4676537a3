package iam

import (
	"context"
	"encoding/base64"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

// Credentials is STS's Credentials shape.
type Credentials struct {
	AccessKeyId     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

// GetCallerIdentityOutput is in the element order of AWS's documented sample response.
type GetCallerIdentityOutput struct {
	Arn     string `xml:"Arn"`
	UserId  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type GetCallerIdentityInput struct{}

// GetCallerIdentity needs no permission.
func (s *Service) GetCallerIdentity(ctx context.Context, c Caller, _ GetCallerIdentityInput) (*GetCallerIdentityOutput, error) {
	out := &GetCallerIdentityOutput{Arn: c.Principal.ARN, Account: c.Account, UserId: c.Account}
	if x, ok := s.SessionInfo(c.Principal.AccessKeyID); ok {
		out.UserId = x.UserID
		return out, nil
	}
	if p, ok := parseARN(c.Principal.ARN); ok && p.Kind == "user" {
		if u, err := s.getEntity(kindUser, p.Account, p.Name); err == nil {
			out.UserId = u.ID
		}
	}
	return out, nil
}

// callerSession is the session record of the caller's credentials, if temporary.
func (s *Service) callerSession(c Caller) *sessionRec {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if x := s.sessions[c.Principal.AccessKeyID]; x != nil {
		cp := *x
		return &cp
	}
	return nil
}

func (s *Service) newSession(ctx context.Context, base sessionRec, dur time.Duration, mfaSerial string, mfaStep int64) (*Credentials, *sessionRec, error) {
	id, err := s.newID("ASIA", 16)
	if err != nil {
		return nil, nil, err
	}
	secret, err := s.newSecret()
	if err != nil {
		return nil, nil, err
	}
	tok := make([]byte, 144)
	if _, err := io.ReadFull(s.cfg.Rand, tok); err != nil {
		return nil, nil, err
	}
	sealed, err := s.seal(id, []byte(secret))
	if err != nil {
		return nil, nil, err
	}
	x := base
	now := second(s.now())
	x.AccessKeyID, x.Secret, x.Token, x.Created, x.Expiration = id, sealed, base64.StdEncoding.EncodeToString(tok), now, now.Add(dur)
	if err := s.propose(ctx, cmdSessionCreate, sessionCmd{Session: &x, MFASerial: mfaSerial, MFACounter: mfaStep}); err != nil {
		return nil, nil, err
	}
	return &Credentials{AccessKeyId: id, SecretAccessKey: secret, SessionToken: x.Token, Expiration: x.Expiration.Format(timeFormat)}, &x, nil
}

// mfaPair validates SerialNumber/TokenCode given together and verifies the code for the
// calling user. It returns the serial and step to consume ("" when no MFA was given).
func (s *Service) mfaPair(c Caller, serial, code string) (string, int64, error) {
	if serial == "" && code == "" {
		return "", 0, nil
	}
	if serial == "" || code == "" {
		return "", 0, validation("SerialNumber and TokenCode must be specified together")
	}
	st, err := s.verifyMFA(c.Account, callerUserName(c), serial, code)
	if err != nil {
		return "", 0, err
	}
	return serial, st, nil
}

type GetSessionTokenInput struct {
	DurationSeconds         *int
	SerialNumber, TokenCode string
}

type GetSessionTokenOutput struct {
	Credentials Credentials `xml:"Credentials"`
}

// GetSessionToken returns temporary credentials of the calling user (or root), MFA
// authenticated when SerialNumber and TokenCode are given.
func (s *Service) GetSessionToken(ctx context.Context, c Caller, in GetSessionTokenInput) (*GetSessionTokenOutput, error) {
	p, ok := parseARN(c.Principal.ARN)
	if !ok || (p.Kind != "user" && p.Kind != "root") {
		return nil, iamErr("AccessDenied", "Cannot call GetSessionToken with session credentials")
	}
	if s.callerSession(c) != nil {
		return nil, iamErr("AccessDenied", "Cannot call GetSessionToken with session credentials")
	}
	dur, err := tokenDuration(in.DurationSeconds, p.Kind == "root")
	if err != nil {
		return nil, err
	}
	serial, step, err := s.mfaPair(c, in.SerialNumber, in.TokenCode)
	if err != nil {
		return nil, err
	}
	base := sessionRec{Account: c.Account, ARN: c.Principal.ARN, Type: c.Principal.Type, UserID: c.Account}
	if p.Kind == "user" {
		u, err := s.getEntity(kindUser, p.Account, p.Name)
		if err != nil {
			return nil, iamErr("AccessDenied", "The calling user no longer exists.")
		}
		base.Type, base.UserName, base.UserID, base.EntityID = "IAMUser", u.Name, u.ID, u.ID
	}
	if serial != "" {
		base.MFA, base.MFAAuthTime = true, second(s.now())
	}
	creds, _, err := s.newSession(ctx, base, time.Duration(dur)*time.Second, serial, step)
	if err != nil {
		return nil, err
	}
	return &GetSessionTokenOutput{Credentials: *creds}, nil
}

type AssumeRoleInput struct {
	RoleArn, RoleSessionName, Policy, ExternalId, SerialNumber, TokenCode, SourceIdentity string
	DurationSeconds                                                                       *int
	Tags                                                                                  []Tag
	TransitiveTagKeys                                                                     []string
	PolicyArns                                                                            []PolicyDescriptor
}

type AssumedRoleUser struct {
	AssumedRoleId string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type AssumeRoleOutput struct {
	Credentials      Credentials     `xml:"Credentials"`
	AssumedRoleUser  AssumedRoleUser `xml:"AssumedRoleUser"`
	PackedPolicySize *int            `xml:"PackedPolicySize,omitempty"`
	SourceIdentity   string          `xml:"SourceIdentity,omitempty"`
}

var sessionNameOK = nameRE

// externalIDRE is externalIdType's pattern (botocore's sts model).
var externalIDRE = regexp.MustCompile(`^[\w+=,.@:/-]+$`)

// AssumeRole returns temporary credentials of a role whose trust policy allows the caller.
func (s *Service) AssumeRole(ctx context.Context, c Caller, in AssumeRoleInput) (*AssumeRoleOutput, error) {
	if len(in.RoleArn) < 20 || len(in.RoleArn) > 2048 {
		return nil, validation("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20", in.RoleArn)
	}
	if len(in.RoleSessionName) < 2 || len(in.RoleSessionName) > 64 || !sessionNameOK.MatchString(in.RoleSessionName) {
		return nil, validation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64", in.RoleSessionName)
	}
	if err := checkSessionPolicyInput(in.Policy, in.PolicyArns); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if in.SourceIdentity != "" && (len(in.SourceIdentity) < 2 || len(in.SourceIdentity) > 64 || !sessionNameOK.MatchString(in.SourceIdentity)) {
		return nil, validation("1 validation error detected: Value '%s' at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64", in.SourceIdentity)
	}
	if in.ExternalId != "" && (len(in.ExternalId) < 2 || len(in.ExternalId) > 1224 || !externalIDRE.MatchString(in.ExternalId)) {
		return nil, validation("1 validation error detected: Value '%s' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]* and have length between 2 and 1224", in.ExternalId)
	}
	rp, ok := parseARN(in.RoleArn)
	if !ok || rp.Service != "iam" || rp.Kind != "role" {
		return nil, validation("%s is invalid", in.RoleArn)
	}
	cp, ok := parseARN(c.Principal.ARN)
	if !ok {
		return nil, iamErr("AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.Principal.ARN, in.RoleArn)
	}
	if cp.Kind == "root" {
		return nil, iamErr("AccessDenied", "Roles may not be assumed by root accounts.")
	}
	role, err := s.getEntity(kindRole, rp.Account, rp.Name)
	if err != nil || role.arn() != in.RoleArn {
		return nil, iamErr("AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.Principal.ARN, in.RoleArn)
	}
	callerSess := s.callerSession(c)
	if callerSess != nil && callerSess.Type == federatedType {
		// "You cannot call any STS API operations except GetCallerIdentity" with a
		// federated user's credentials (GetFederationToken).
		return nil, iamErr("AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.Principal.ARN, in.RoleArn)
	}
	// Role chaining: temporary credentials (of an assumed role, or GetSessionToken's)
	// assuming a role get at most an hour, whatever the role's MaxSessionDuration.
	chained := cp.Kind == "assumed-role" || callerSess != nil
	maxDur := role.MaxSessionDuration
	if chained {
		maxDur = 3600
	}
	dur := 3600
	if in.DurationSeconds != nil {
		dur = *in.DurationSeconds
		if dur < 900 || dur > maxDur {
			if dur >= 900 && dur <= 43200 {
				if chained {
					return nil, validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
				}
				return nil, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
			}
			return nil, validation("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900 and less than or equal to 43200", dur)
		}
	}
	serial, step, err := s.mfaPair(c, in.SerialNumber, in.TokenCode)
	if err != nil {
		return nil, err
	}
	mfa, mfaTime := false, time.Time{}
	switch {
	case serial != "":
		mfa, mfaTime = true, second(s.now())
	case callerSess != nil && callerSess.MFA:
		mfa, mfaTime = true, callerSess.MFAAuthTime
	}
	if callerSess != nil && callerSess.SourceIdentity != "" {
		// A source identity persists across chained role sessions and cannot be changed.
		if in.SourceIdentity != "" && in.SourceIdentity != callerSess.SourceIdentity {
			return nil, iamErr("AccessDenied", "User: %s is not authorized to perform: sts:SetSourceIdentity on resource: %s: the source identity of a role session cannot be changed", c.Principal.ARN, in.RoleArn)
		}
		in.SourceIdentity = callerSess.SourceIdentity
	}
	if err := s.checkTrust(c, cp, role, in, callerSess, mfa, mfaTime); err != nil {
		return nil, err
	}
	// Session policies: the managed ones must exist in the role's account (or be AWS
	// managed). Role chaining passes nothing on: the new session has only what is given here.
	policyARNs, err := s.checkSessionPolicyARNs(role.Account, in.PolicyArns)
	if err != nil {
		return nil, err
	}
	packed, err := packedPolicySize(in.Policy, policyARNs, in.Tags)
	if err != nil {
		return nil, err
	}
	arn := "arn:aws:sts::" + role.Account + ":assumed-role/" + role.Name + "/" + in.RoleSessionName
	base := sessionRec{Account: role.Account, ARN: arn, Type: "AssumedRole", UserID: role.ID + ":" + in.RoleSessionName,
		RoleName: role.Name, EntityID: role.ID, Session: in.RoleSessionName, MFA: mfa, MFAAuthTime: mfaTime, Tags: in.Tags, SourceIdentity: in.SourceIdentity,
		Region: c.Region, Policy: in.Policy, PolicyARNs: policyARNs}
	creds, _, err := s.newSession(ctx, base, time.Duration(dur)*time.Second, serial, step)
	if err != nil {
		return nil, err
	}
	out := &AssumeRoleOutput{Credentials: *creds, AssumedRoleUser: AssumedRoleUser{AssumedRoleId: base.UserID, Arn: arn}, SourceIdentity: in.SourceIdentity}
	if in.Policy != "" || len(policyARNs) > 0 || len(in.Tags) > 0 {
		out.PackedPolicySize = &packed
	}
	return out, nil
}

// checkTrust evaluates the role's trust policy for sts:AssumeRole (and sts:TagSession when
// session tags are passed, sts:SetSourceIdentity when a SourceIdentity is). A statement naming the caller allows it by itself; one naming
// only the caller's account (root) allows it if, in addition, the caller's identity
// policies allow the action on the role (AWS's rule for same-account trust).
func (s *Service) checkTrust(c Caller, cp parsedARN, role *entity, in AssumeRoleInput, callerSess *sessionRec, mfa bool, mfaTime time.Time) error {
	trust, err := parseTrust(role.TrustPolicy)
	if err != nil {
		return iamErr("AccessDenied", "the trust policy of role %s is not valid: %v", role.Name, err)
	}
	tags := s.PrincipalTags(c.Principal.ARN)
	if callerSess != nil && len(callerSess.Tags) > 0 {
		if tags == nil {
			tags = map[string]string{}
		}
		for _, t := range callerSess.Tags {
			tags[t.Key] = t.Value
		}
	}
	ctxKeys := map[string][]string{
		"aws:MultiFactorAuthPresent": {strconv.FormatBool(mfa)},
		"sts:RoleSessionName":        {in.RoleSessionName},
		"aws:CurrentTime":            {s.now().Format(time.RFC3339)},
		"aws:EpochTime":              {strconv.FormatInt(s.now().Unix(), 10)},
	}
	if mfa {
		ctxKeys["aws:MultiFactorAuthAge"] = []string{strconv.FormatInt(int64(s.now().Sub(mfaTime)/time.Second), 10)}
	}
	if in.ExternalId != "" {
		ctxKeys["sts:ExternalId"] = []string{in.ExternalId}
	}
	if in.SourceIdentity != "" {
		ctxKeys["sts:SourceIdentity"] = []string{in.SourceIdentity}
	}
	if len(in.Tags) > 0 {
		var keys []string
		for _, t := range in.Tags {
			ctxKeys["aws:RequestTag/"+t.Key] = []string{t.Value}
			keys = append(keys, t.Key)
		}
		ctxKeys["aws:TagKeys"] = keys
	}
	userName := ""
	if cp.Kind == "user" {
		userName = cp.Name
	}
	actions := []string{"sts:AssumeRole"}
	if len(in.Tags) > 0 {
		actions = append(actions, "sts:TagSession")
	}
	if in.SourceIdentity != "" {
		// "To set a source identity, the role's trust policy must allow
		// sts:SetSourceIdentity" (and the caller's permissions, as for the others).
		actions = append(actions, "sts:SetSourceIdentity")
	}
	// The caller's permissions: identity policies, limited by its permissions boundary and
	// its session policies. The limits also apply to a trust statement that names the
	// caller's role rather than the caller itself ("Policy evaluation logic").
	identity, err := s.RequestPolicies(c.Principal.ARN, c.Principal.AccessKeyID)
	if err != nil {
		return iamErr("AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.Principal.ARN, role.arn())
	}
	var limits []*policy.Policy
	for _, p := range identity {
		if p.Layer() != policy.IdentityLayer {
			limits = append(limits, p)
		}
	}
	for _, action := range actions {
		req := &policy.Request{Principal: policy.Principal{ARN: c.Principal.ARN, Account: c.Account, Tags: tags, Username: userName},
			Action: action, Resource: role.arn(), Context: ctxKeys}
		d := policy.Decide(req, limits, []*policy.Policy{trust})
		if d.Allowed {
			continue
		}
		denied := iamErr("AccessDenied", "User: %s is not authorized to perform: %s on resource: %s", c.Principal.ARN, action, role.arn())
		if d.Reason == policy.ExplicitDeny || c.Account != role.Account {
			return denied
		}
		root := *req
		root.Principal.ARN = "arn:aws:iam::" + c.Account + ":root"
		if !policy.Decide(&root, nil, []*policy.Policy{trust}).Allowed {
			return denied
		}
		if !policy.Decide(req, identity, nil).Allowed {
			return denied
		}
	}
	return nil
}

// expiredSessionRetention is how long expired temporary credentials are kept: requests
// signed with them get ExpiredToken (on which SDKs refresh their credentials) rather than
// InvalidClientTokenId (on which they give up).
const expiredSessionRetention = 24 * time.Hour

// PurgeExpiredSessions removes the temporary credentials that expired more than
// expiredSessionRetention ago (the verifier refuses expired ones with ExpiredToken); the
// node calls it periodically on the leader.
func (s *Service) PurgeExpiredSessions(ctx context.Context) error {
	s.mu.RLock()
	expired := false
	now := s.now().Add(-expiredSessionRetention)
	for _, x := range s.sessions {
		if !x.Expiration.After(now) {
			expired = true
			break
		}
	}
	s.mu.RUnlock()
	if !expired {
		return nil
	}
	return s.propose(ctx, cmdSessionsExpire, expireCmd{Before: now})
}

// tokenDuration is the lifetime of GetSessionToken's and GetFederationToken's credentials:
// DurationSeconds (900-129600, default 43200), at most an hour for the root ("Sessions for
// Amazon Web Services account owners are restricted to a maximum of 3,600 seconds (one
// hour). If the duration is longer than one hour, the session for Amazon Web Services
// account owners defaults to one hour."; GetFederationToken's reference says the same).
func tokenDuration(seconds *int, root bool) (int, error) {
	dur := 43200
	if seconds != nil {
		dur = *seconds
		if dur < 900 || dur > 129600 {
			return 0, validation("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900 and less than or equal to 129600", dur)
		}
	}
	if root && dur > 3600 {
		dur = 3600
	}
	return dur, nil
}
