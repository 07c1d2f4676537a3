package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/cloudwatch"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/iam/policy"
	"github.com/coffer-hsm/coffer/internal/sns"
)

// cloudwatchQueryService exposes CloudWatch (SigV4 service "monitoring") over the query
// protocol and, through its model, AWS JSON 1.0 (awsQueryCompatible) and Smithy RPC v2
// CBOR: one operation table for every client (awscli 2.9, botocore, aws-sdk-go-v2).
func cloudwatchQueryService(svc *cloudwatch.Service, a *identityAuthorizer) *awsproto.QueryService {
	ops := handlers(svc, cloudwatch.Operations(), func(c *awsproto.Call) cloudwatch.Caller {
		return cloudwatch.Caller{Region: c.Region, Account: c.Principal.Account}
	}, func(op string, h awsproto.Handler) awsproto.Handler {
		return a.guardEach("cloudwatch", op, "AccessDenied", http.StatusForbidden, func(op string, c *awsproto.Call) []string {
			return svc.RequestResources(op, c.Region, c.Body) // the alarms it names, so that alarm-scoped statements apply
		}, func(c *awsproto.Call, res string) map[string]string { return svc.ResourceTags(res) }, h)
	})
	return &awsproto.QueryService{SigningName: cloudwatch.SigningName, Version: cloudwatch.Version,
		XMLNamespace: cloudwatch.XMLNamespace, Operations: ops, MapError: cloudwatch.MapError,
		Model: cloudwatch.Model()}
}

// guardEach is guardOn for a request acting on several resources (CloudWatch's
// DeleteAlarms, EnableAlarmActions and DisableAlarmActions name up to 100 alarms,
// CloudTrail's ListTags several trails): as on AWS, the action must be allowed on each,
// and the first refused one is named in the AccessDenied. resources returns ["*"] for a
// request naming none. tags gives the tags of an existing resource (nil for none), its
// aws:ResourceTag/<key> condition keys.
func (a *identityAuthorizer) guardEach(prefix, op, code string, status int, resources func(op string, c *awsproto.Call) []string,
	tags func(c *awsproto.Call, res string) map[string]string, h awsproto.Handler) awsproto.Handler {
	action := prefix + ":" + op
	return func(ctx context.Context, c *awsproto.Call) (any, error) {
		res := resources(op, c)
		if len(res) == 0 {
			res = []string{"*"}
		}
		for _, r := range res {
			var extra map[string][]string
			for k, v := range tags(c, r) {
				if extra == nil {
					extra = map[string][]string{}
				}
				extra["aws:ResourceTag/"+k] = []string{v}
			}
			ok, msg, err := a.authorize(c, action, r, extra)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, &awsproto.Error{Status: status, Code: code, Message: msg}
			}
		}
		return h(ctx, c)
	}
}

// snsQueryService exposes SNS (query protocol, SigV4 service "sns").
func snsQueryService(svc *sns.Service, a *identityAuthorizer) *awsproto.QueryService {
	guard := func(op string, h awsproto.Handler) awsproto.Handler { return snsGuard(svc, a, op, h) }
	ops := handlers(svc, sns.Operations(), func(c *awsproto.Call) sns.Caller {
		return sns.Caller{Region: c.Region, Account: c.Principal.Account}
	}, func(op string, h awsproto.Handler) awsproto.Handler {
		if op == "PublishBatch" {
			return guard("Publish", h) // as on AWS, PublishBatch needs sns:Publish (there is no sns:PublishBatch)
		}
		return guard(op, h)
	})
	return &awsproto.QueryService{SigningName: "sns", Version: "2010-03-31",
		XMLNamespace: sns.XMLNamespace, Operations: ops, MapError: sns.MapError}
}

// snsGuard authorizes an SNS request as action sns:<op> on the topic it names (CreateTopic:
// the topic of that name in the signed region; "*" for the requests naming none), with
// the caller's identity policies and, for an existing topic, the topic's access policy
// as its resource-based policy (not for CreateTopic, which no topic policy governs). A
// topic policy that no longer parses refuses the request (fail closed). Denied answers
// are 403 AuthorizationError, as AWS's.
func snsGuard(svc *sns.Service, a *identityAuthorizer, op string, h awsproto.Handler) awsproto.Handler {
	action := "SNS:" + op // as AWS's messages spell it (actions match case-insensitively)
	return func(ctx context.Context, c *awsproto.Call) (any, error) {
		res := svc.RequestResourceIn(op, c.Region, c.Body) // so that topic-scoped statements apply
		var resPolicies []*policy.Policy
		if res != "*" && op != "CreateTopic" {
			p, found, err := svc.TopicPolicy(res)
			if err != nil {
				return nil, &awsproto.Error{Status: http.StatusForbidden, Code: "AuthorizationError",
					Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", c.Principal.ARN, action, res)}
			}
			if found && p != nil {
				resPolicies = []*policy.Policy{p}
			}
		}
		ok, msg, err := a.authorizeWith(c, action, res, nil, resPolicies)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &awsproto.Error{Status: http.StatusForbidden, Code: "AuthorizationError", Message: msg}
		}
		return h(ctx, c)
	}
}

// hsmMetrics publishes the AWS/CloudHSM metrics derived from HSM events: FailedLoginCount
// per user (dimension UserName) and for the whole cluster (no dimension), in the node's
// region (the HSMs are the node's, whatever region a request names). It runs in the
// caller of the failed login, after the failure was committed and before it is answered,
// so an alarm on the metric is evaluated — and its SNS actions delivered — before the
// client can make another attempt.
func (n *node) hsmMetrics(e hsm.Event) {
	if e.Opcode != hsm.OpLogin || e.Result != hsm.ResultLoginFailure || n.cw == nil {
		return
	}
	now := time.Now()
	for _, dims := range [][]cloudwatch.Dimension{nil, {{Name: "UserName", Value: e.User}}} {
		if err := n.cw.Put("AWS/CloudHSM", "FailedLoginCount", dims, now, 1, "Count"); err != nil {
			n.log.Warn("cloudwatch: FailedLoginCount", "err", err)
		}
	}
}
