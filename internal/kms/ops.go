package kms

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
)

// Op is one KMS API operation: it decodes its JSON request body and returns the response
// value (JSON-encoded by the protocol layer) or an error (an *Error, or mapped by AsError).
type Op func(s *Service, ctx context.Context, c Caller, body []byte) (any, error)

// op adapts a typed operation method to an Op. With Config.Enforce, the request is
// authorized (authz.go) after it is decoded and before the operation runs.
func op[In authInput, Out any](name string, fn func(*Service, context.Context, Caller, In) (Out, error)) Op {
	return func(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
		in, err := decodeInput[In](body)
		if err != nil {
			return nil, err
		}
		if err := validateInput(in); err != nil {
			return nil, err
		}
		if err := checkRawMembers(name, c.Region, body); err != nil {
			return nil, err
		}
		if s.cfg.Enforce {
			if err := s.authorize(ctx, c, name, in); err != nil {
				return nil, err
			}
		}
		out, err := fn(s, ctx, c, in)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// opNoOutput adapts an operation that answers with an empty body.
func opNoOutput[In authInput](name string, fn func(*Service, context.Context, Caller, In) error) Op {
	return func(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
		in, err := decodeInput[In](body)
		if err != nil {
			return nil, err
		}
		if err := validateInput(in); err != nil {
			return nil, err
		}
		if err := checkRawMembers(name, c.Region, body); err != nil {
			return nil, err
		}
		if s.cfg.Enforce {
			if err := s.authorize(ctx, c, name, in); err != nil {
				return nil, err
			}
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
			if te.Field == "" {
				return v, kmsErr("SerializationException", "the request body must be a JSON object, not a JSON %s", te.Value)
			}
			return v, kmsErr("SerializationException", "member %s: expected %s, got a JSON %s", te.Field, wireType(te.Type), te.Value)
		}
		return v, kmsErr("SerializationException", "the request body is not valid JSON: %v", err)
	}
	return v, nil
}

// wireType names a Go type of a request member as the JSON protocol shows it, rather
// than by its Go name.
func wireType(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Map:
		return "a map"
	case reflect.Struct:
		return "a structure"
	case reflect.Pointer:
		return wireType(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64-encoded blob"
		}
		return "a list"
	}
	return "a " + t.Kind().String()
}

// coreOps are the operations of keys.go and crypto.go.
var coreOps = map[string]Op{
	"CreateKey":                       op("CreateKey", (*Service).CreateKey),
	"DescribeKey":                     op("DescribeKey", (*Service).DescribeKey),
	"ListKeys":                        op("ListKeys", (*Service).ListKeys),
	"EnableKey":                       opNoOutput("EnableKey", (*Service).EnableKey),
	"DisableKey":                      opNoOutput("DisableKey", (*Service).DisableKey),
	"UpdateKeyDescription":            opNoOutput("UpdateKeyDescription", (*Service).UpdateKeyDescription),
	"Encrypt":                         op("Encrypt", (*Service).Encrypt),
	"Decrypt":                         op("Decrypt", (*Service).Decrypt),
	"ReEncrypt":                       op("ReEncrypt", (*Service).ReEncrypt),
	"GenerateDataKey":                 op("GenerateDataKey", generateDataKey(false)),
	"GenerateDataKeyWithoutPlaintext": op("GenerateDataKeyWithoutPlaintext", generateDataKey(true)),
	"GenerateRandom":                  op("GenerateRandom", (*Service).GenerateRandom),
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
