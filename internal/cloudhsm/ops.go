package cloudhsm

import (
	"context"
	"errors"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// Op is one CloudHSM v2 API operation: it decodes its JSON request body and returns the
// response value (JSON-encoded by the protocol layer) or an error (an *Error, or mapped by
// AsError/MapError).
type Op func(s *Service, ctx context.Context, c Caller, body []byte) (any, error)

// op adapts a typed operation method to an Op.
func op[In any, Out any](fn func(*Service, context.Context, Caller, In) (*Out, error)) Op {
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

// decodeInput decodes a request body with awsproto.Decode (malformed JSON, trailing data
// or a field of the wrong type is refused; unknown fields are ignored, as AWS does) and
// answers decoding failures as CloudHsmInvalidRequestException, CloudHSM's exception for
// bad input.
func decodeInput[T any](body []byte) (T, error) {
	v, err := awsproto.Decode[T](body)
	if err != nil {
		var ae *awsproto.Error
		if errors.As(err, &ae) {
			return v, invalid("%s", ae.Message)
		}
		return v, invalid("the request body could not be decoded as JSON")
	}
	return v, nil
}

// Operations is the explicit dispatch table of the CloudHSM v2 API: every operation of the
// botocore model (cloudhsmv2 2017-04-28), by name.
func Operations() map[string]Op {
	return map[string]Op{
		"CreateCluster":          op((*Service).CreateCluster),
		"DescribeClusters":       op((*Service).DescribeClusters),
		"ModifyCluster":          op((*Service).ModifyCluster),
		"DeleteCluster":          op((*Service).DeleteCluster),
		"InitializeCluster":      op((*Service).InitializeCluster),
		"CreateHsm":              op((*Service).CreateHsm),
		"DeleteHsm":              op((*Service).DeleteHsm),
		"DescribeBackups":        op((*Service).DescribeBackups),
		"DeleteBackup":           op((*Service).DeleteBackup),
		"RestoreBackup":          op((*Service).RestoreBackup),
		"ModifyBackupAttributes": op((*Service).ModifyBackupAttributes),
		"CopyBackupToRegion":     op((*Service).CopyBackupToRegion),
		"TagResource":            op((*Service).TagResource),
		"UntagResource":          op((*Service).UntagResource),
		"ListTags":               op((*Service).ListTags),
		"PutResourcePolicy":      op((*Service).PutResourcePolicy),
		"GetResourcePolicy":      op((*Service).GetResourcePolicy),
		"DeleteResourcePolicy":   op((*Service).DeleteResourcePolicy),
	}
}
