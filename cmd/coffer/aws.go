package main

import (
	"context"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/kms"
)

// kmsJSONService exposes the KMS operation table as the TrentService JSON 1.1 protocol.
func kmsJSONService(svc *kms.Service) *awsproto.JSONService {
	ops := map[string]awsproto.Handler{}
	for name, op := range kms.Operations() {
		ops[name] = func(ctx context.Context, c *awsproto.Call) (any, error) {
			return op(svc, ctx, kmsCaller(c), c.Body)
		}
	}
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
