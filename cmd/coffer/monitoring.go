package main

import (
	"net/http"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/cloudwatch"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/sns"
)

// cloudwatchQueryService exposes CloudWatch (SigV4 service "monitoring") over the query
// protocol and, through its model, AWS JSON 1.0 (awsQueryCompatible) and Smithy RPC v2
// CBOR: one operation table for every client (awscli 2.9, botocore, aws-sdk-go-v2).
func cloudwatchQueryService(svc *cloudwatch.Service, a *identityAuthorizer) *awsproto.QueryService {
	ops := handlers(svc, cloudwatch.Operations(), func(c *awsproto.Call) cloudwatch.Caller {
		return cloudwatch.Caller{Region: c.Region, Account: c.Principal.Account}
	}, a.guardAll("cloudwatch", "AccessDenied", http.StatusForbidden))
	return &awsproto.QueryService{SigningName: cloudwatch.SigningName, Version: cloudwatch.Version,
		XMLNamespace: cloudwatch.XMLNamespace, Operations: ops, MapError: cloudwatch.MapError,
		Model: cloudwatch.Model()}
}

// snsQueryService exposes SNS (query protocol, SigV4 service "sns").
func snsQueryService(svc *sns.Service, a *identityAuthorizer) *awsproto.QueryService {
	guard := a.guardAllOn("sns", "AuthorizationError", http.StatusForbidden, func(op string, c *awsproto.Call) string {
		return svc.RequestResourceIn(op, c.Region, c.Body) // the topic (CreateTopic: in the signed region), so that topic-scoped statements apply
	})
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
