package main

import (
	"context"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/kms"
)

// handlers adapts a service's operation table to protocol handlers: each operation gets
// the caller built from the verified call, and wrap (when not nil) decorates it, e.g.
// with an authorization check.
func handlers[S, C any, O ~func(*S, context.Context, C, []byte) (any, error)](svc *S, ops map[string]O,
	caller func(*awsproto.Call) C, wrap func(name string, h awsproto.Handler) awsproto.Handler) map[string]awsproto.Handler {
	out := make(map[string]awsproto.Handler, len(ops))
	for name, op := range ops {
		var h awsproto.Handler = func(ctx context.Context, c *awsproto.Call) (any, error) {
			return op(svc, ctx, caller(c), c.Body)
		}
		if wrap != nil {
			h = wrap(name, h)
		}
		out[name] = h
	}
	return out
}

// kmsJSONService exposes the KMS operation table as the TrentService JSON 1.1 protocol.
func kmsJSONService(svc *kms.Service) *awsproto.JSONService {
	ops := handlers(svc, kms.Operations(), kmsCaller, nil)
	return &awsproto.JSONService{
		TargetPrefix: "TrentService",
		SigningName:  "kms",
		JSONVersion:  "1.1",
		Operations:   ops,
		MapError: func(err error) *awsproto.Error {
			e := kms.AsError(err)
			return &awsproto.Error{Status: e.Status, Code: e.Code, Message: e.Message}
		},
	}
}

// rootCredentials is the credential store until IAM exists: the root access key of the
// account, from the dev credentials or the environment.
func rootCredentials(accessKeyID, secret, account string) awsproto.StaticCredentials {
	store := awsproto.StaticCredentials{}
	if accessKeyID != "" && secret != "" {
		store[accessKeyID] = awsproto.StaticCredential{Secret: secret, Principal: awsproto.Principal{
			AccessKeyID: accessKeyID, Account: account, ARN: "arn:aws:iam::" + account + ":root", Type: "Root"}}
	}
	return store
}
