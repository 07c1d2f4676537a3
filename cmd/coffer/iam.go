package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/iam"
	"github.com/coffer-hsm/coffer/internal/iam/policy"
	"github.com/coffer-hsm/coffer/internal/kms"
	"github.com/coffer-hsm/coffer/internal/seal"
)

// sealedKey loads (or makes, at first start) a 256-bit key sealed like the domain key,
// but in its own file: the key that encrypts IAM secrets (secret access keys, MFA seeds)
// in the replicated state, or the one that encrypts the CloudTrail digest signing keys.
// Both live outside the HSM boundary and survive a zeroization, as on AWS. what names the
// key in errors.
func sealedKey(path string, sealer seal.Sealer, what string) ([]byte, error) {
	k, err := seal.Load(path, sealer)
	if errors.Is(err, os.ErrNotExist) {
		if k, err = seal.Generate(nil); err != nil {
			return nil, err
		}
		if err := seal.Save(path, sealer, k); err != nil {
			return nil, fmt.Errorf("saving the %s: %w", what, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("unsealing the %s %s: %w", what, path, err)
	}
	return k.Bytes(), nil
}

// identityAuthorizer decides requests to the APIs other than KMS (IAM, STS, CloudHSMv2)
// with the caller's identity-based policies, as AWS does for them: the root may do
// everything, anyone else needs an Allow and no Deny.
type identityAuthorizer struct {
	iam *iam.Service
	now func() time.Time
}

// requestFor builds the policy request of a call: principal and the global condition keys.
func requestFor(c *awsproto.Call, action, resource string, now time.Time) *policy.Request {
	p := c.Principal
	ctx := map[string][]string{
		"aws:PrincipalArn":     {p.ARN},
		"aws:PrincipalAccount": {p.Account},
		"aws:PrincipalType":    {p.Type},
		"aws:SourceIp":         {c.SourceIP},
		"aws:CurrentTime":      {now.UTC().Format(time.RFC3339)},
		"aws:EpochTime":        {strconv.FormatInt(now.Unix(), 10)},
		"aws:SecureTransport":  {strconv.FormatBool(c.SecureTransport)},
		"aws:RequestedRegion":  {c.Region},
	}
	if p.Temporary {
		ctx["aws:MultiFactorAuthPresent"] = []string{strconv.FormatBool(p.MFAAuthenticated)}
		if p.MFAAuthenticated && !p.MFAAuthTime.IsZero() {
			ctx["aws:MultiFactorAuthAge"] = []string{strconv.FormatInt(int64(now.Sub(p.MFAAuthTime)/time.Second), 10)}
		}
	}
	for k, v := range p.Tags {
		ctx["aws:PrincipalTag/"+k] = []string{v}
	}
	return &policy.Request{
		// Type is the policy language's principal type: callers are AWS principals (the
		// Principal "AWS" of resource policies), whatever their aws:PrincipalType.
		Principal: policy.Principal{ARN: p.ARN, Account: p.Account, Tags: p.Tags, Username: p.UserName},
		Action:    action, Resource: resource, Context: ctx,
	}
}

// denied is AWS's AccessDenied for an identity-policy decision.
func deniedMessage(c *awsproto.Call, action, resource string, d policy.Decision) string {
	return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", c.Principal.ARN, action, resource, d.DeniedWhy(action))
}

// authorize decides action on resource for the call, with the request's own condition
// keys (extra, may be nil) added to the global ones.
func (a *identityAuthorizer) authorize(c *awsproto.Call, action, resource string, extra map[string][]string) (bool, string, error) {
	return a.authorizeWith(c, action, resource, extra, nil)
}

// authorizeWith is authorize with the resource-based policies of the resource (an SNS
// topic's policy; nil elements are skipped), decided as AWS decides a request of the
// resource's own account: an explicit Deny in any policy wins, then an Allow of an
// identity policy (limited by the boundary and session policies) or of a resource
// policy (limited by them too, unless it names the caller's own ARN). The account root
// needs no Allow, but an explicit Deny of a resource policy that names it (Principal "*"
// or the account) refuses it, as AWS's resource policies do.
func (a *identityAuthorizer) authorizeWith(c *awsproto.Call, action, resource string, extra map[string][]string, resPolicies []*policy.Policy) (bool, string, error) {
	if c.Principal.Type == "Root" {
		if len(resPolicies) == 0 {
			return true, "", nil
		}
		req := requestFor(c, action, resource, a.now())
		for k, v := range extra {
			req.Context[k] = v
		}
		if d := policy.Decide(req, nil, resPolicies); d.Reason == policy.ExplicitDeny {
			return false, deniedMessage(c, action, resource, d), nil
		}
		return true, "", nil
	}
	// Identity policies, limited by the permissions boundary and, for temporary
	// credentials, by their session policies.
	pols, err := a.iam.RequestPolicies(c.Principal.ARN, c.Principal.AccessKeyID)
	if err != nil {
		return false, "", err
	}
	req := requestFor(c, action, resource, a.now())
	for k, v := range extra {
		req.Context[k] = v
	}
	d := policy.Decide(req, pols, resPolicies)
	if d.Allowed {
		return true, "", nil
	}
	return false, deniedMessage(c, action, resource, d), nil
}

// guard wraps a handler of service prefix (iam, sts, cloudhsm) with the identity decision
// on resource "*"; denied answers use code with the given HTTP status.
func (a *identityAuthorizer) guard(prefix, op, code string, status int, h awsproto.Handler) awsproto.Handler {
	return a.guardOn(prefix, op, code, status, nil, h)
}

// guardOn is guard deciding on the resource the request acts on: resource gives its ARN
// (or "*" when the request names none); nil means "*" for every request.
func (a *identityAuthorizer) guardOn(prefix, op, code string, status int, resource func(op string, c *awsproto.Call) string, h awsproto.Handler) awsproto.Handler {
	return a.guardWith(prefix, op, code, status, resource, nil, h)
}

// guardWith is guardOn with the request's own condition keys (keys may be nil, and may
// return nil).
func (a *identityAuthorizer) guardWith(prefix, op, code string, status int, resource func(op string, c *awsproto.Call) string,
	keys func(op string, c *awsproto.Call) map[string][]string, h awsproto.Handler) awsproto.Handler {
	action := prefix + ":" + op
	return func(ctx context.Context, c *awsproto.Call) (any, error) {
		res := "*"
		if resource != nil {
			res = resource(op, c)
		}
		var extra map[string][]string
		if keys != nil {
			extra = keys(op, c)
		}
		ok, msg, err := a.authorize(c, action, res, extra)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &awsproto.Error{Status: status, Code: code, Message: msg}
		}
		return h(ctx, c)
	}
}

// guardAll is guard for every operation of a service (a wrap for handlers).
func (a *identityAuthorizer) guardAll(prefix, code string, status int) func(string, awsproto.Handler) awsproto.Handler {
	return a.guardAllOn(prefix, code, status, nil)
}

// guardAllOn is guardOn for every operation of a service.
func (a *identityAuthorizer) guardAllOn(prefix, code string, status int, resource func(op string, c *awsproto.Call) string) func(string, awsproto.Handler) awsproto.Handler {
	return func(op string, h awsproto.Handler) awsproto.Handler {
		return a.guardOn(prefix, op, code, status, resource, h)
	}
}

// stsOpen are the STS actions that need no identity permission, as on AWS:
// GetCallerIdentity and GetSessionToken always work, and AssumeRole is decided by the
// role's trust policy together with the caller's identity policies (inside the operation).
var stsOpen = map[string]bool{"GetCallerIdentity": true, "GetSessionToken": true, "AssumeRole": true}

func iamCaller(c *awsproto.Call) iam.Caller {
	return iam.Caller{Region: c.Region, Account: c.Principal.Account, Principal: c.Principal}
}

// iamQueryService exposes IAM (query protocol, SigV4 service "iam").
func iamQueryService(svc *iam.Service, a *identityAuthorizer) *awsproto.QueryService {
	resource := func(op string, c *awsproto.Call) string {
		// The user, group, role or policy, so that statements scoped to it apply.
		return svc.RequestResource(c.Principal.Account, op, c.Body, c.Principal.ARN)
	}
	keys := func(op string, c *awsproto.Call) map[string][]string {
		// iam:PermissionsBoundary: the boundary the request sets, or the entity has.
		return svc.BoundaryConditionKeys(c.Principal.Account, op, c.Body)
	}
	ops := handlers(svc, iam.Operations(), iamCaller, func(op string, h awsproto.Handler) awsproto.Handler {
		return a.guardWith("iam", op, "AccessDenied", http.StatusForbidden, resource, keys, h)
	})
	// A rename or move also needs iam:UpdateUser on the user's new ARN, as on AWS.
	ops["UpdateUser"] = a.guardOn("iam", "UpdateUser", "AccessDenied", http.StatusForbidden, func(op string, c *awsproto.Call) string {
		return svc.UpdateUserTarget(c.Principal.Account, c.Body)
	}, ops["UpdateUser"])
	return &awsproto.QueryService{SigningName: "iam", Version: "2010-05-08",
		XMLNamespace: "https://iam.amazonaws.com/doc/2010-05-08/", Operations: ops, MapError: iam.MapError}
}

// stsQueryService exposes STS (query protocol, SigV4 service "sts").
func stsQueryService(svc *iam.Service, a *identityAuthorizer) *awsproto.QueryService {
	guard := a.guardAll("sts", "AccessDenied", http.StatusForbidden)
	ops := handlers(svc, iam.STSOperations(), iamCaller, func(name string, h awsproto.Handler) awsproto.Handler {
		if stsOpen[name] {
			return h
		}
		return guard(name, h)
	})
	return &awsproto.QueryService{SigningName: "sts", Version: "2011-06-15",
		XMLNamespace: "https://sts.amazonaws.com/doc/2011-06-15/", Operations: ops, MapError: iam.MapError}
}

// kmsCaller carries the verified identity into KMS's authorization.
func kmsCaller(c *awsproto.Call) kms.Caller {
	p := c.Principal
	return kms.Caller{Region: c.Region, Account: p.Account, Principal: p.ARN, PrincipalType: p.Type, AccessKeyID: p.AccessKeyID,
		UserName: p.UserName, PrincipalTags: p.Tags, TemporaryCredentials: p.Temporary,
		MFAPresent: p.MFAAuthenticated, MFAAuthTime: p.MFAAuthTime, SourceIP: c.SourceIP, SecureTransport: c.SecureTransport}
}
