package kms

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
)

// Op is one KMS API operation: it decodes its JSON request body and returns the response
// value (JSON-encoded by the protocol layer) or an error (an *Error, or mapped by AsError).
type Op func(s *Service, ctx context.Context, c Caller, body []byte) (any, error)

// op adapts a typed operation method to an Op.
func op[In any, Out any](fn func(*Service, context.Context, Caller, In) (Out, error)) Op {
	return func(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
		in, err := decodeInput[In](body)
		if err != nil {
			return nil, err
		}
		out, err := fn(s, ctx, c, in)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// opNoOutput adapts an operation that answers with an empty body.
func opNoOutput[In any](fn func(*Service, context.Context, Caller, In) error) Op {
	return func(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
		in, err := decodeInput[In](body)
		if err != nil {
			return nil, err
		}
		return struct{}{}, fn(s, ctx, c, in)
	}
}

// decodeInput decodes a request body as AWS JSON services do: unknown fields are ignored,
// malformed JSON or a field of the wrong type is a SerializationException.
func decodeInput[T any](body []byte) (T, error) {
	var v T
	if len(body) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(body, &v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return v, kmsErr("SerializationException", "field %s: expected %s, got a JSON %s", te.Field, te.Type, te.Value)
		}
		return v, kmsErr("SerializationException", "the request body is not valid JSON: %v", err)
	}
	return v, nil
}

// coreOps are the operations of keys.go and crypto.go.
var coreOps = map[string]Op{
	"CreateKey":                       op((*Service).CreateKey),
	"DescribeKey":                     op((*Service).DescribeKey),
	"ListKeys":                        op((*Service).ListKeys),
	"EnableKey":                       opNoOutput((*Service).EnableKey),
	"DisableKey":                      opNoOutput((*Service).DisableKey),
	"UpdateKeyDescription":            opNoOutput((*Service).UpdateKeyDescription),
	"Encrypt":                         op((*Service).Encrypt),
	"Decrypt":                         op((*Service).Decrypt),
	"ReEncrypt":                       op((*Service).ReEncrypt),
	"GenerateDataKey":                 op(generateDataKey(false)),
	"GenerateDataKeyWithoutPlaintext": op(generateDataKey(true)),
	"GenerateRandom":                  op((*Service).GenerateRandom),
}

func generateDataKey(without bool) func(*Service, context.Context, Caller, GenerateDataKeyInput) (*GenerateDataKeyOutput, error) {
	return func(s *Service, ctx context.Context, c Caller, in GenerateDataKeyInput) (*GenerateDataKeyOutput, error) {
		return s.GenerateDataKey(ctx, c, in, without)
	}
}

// Operations is the explicit dispatch table of the KMS API: every operation of the
// botocore model, by name. Each family of operations keeps its table beside its code.
func Operations() map[string]Op {
	all := map[string]Op{}
	for _, t := range []map[string]Op{coreOps, metadataOps, lifecycleOps, importRegionOps, asymmetricOps, customKeyStoreOps} {
		maps.Copy(all, t)
	}
	return all
}
