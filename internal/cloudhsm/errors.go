package cloudhsm

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// Exception names of the CloudHSM v2 model.
const (
	CodeInvalidRequest = "CloudHsmInvalidRequestException"
	CodeNotFound       = "CloudHsmResourceNotFoundException"
	CodeLimitExceeded  = "CloudHsmResourceLimitExceededException"
	CodeInternal       = "CloudHsmInternalFailureException"
	CodeTag            = "CloudHsmTagException"
	CodeAccessDenied   = "CloudHsmAccessDeniedException"
)

// Error is a CloudHSM error: Code is the AWS exception name, Status its HTTP status.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func chErr(code, format string, args ...any) *Error {
	status := http.StatusBadRequest
	if code == CodeInternal {
		status = http.StatusInternalServerError
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

func invalid(format string, args ...any) *Error { return chErr(CodeInvalidRequest, format, args...) }
func notFound(format string, args ...any) *Error {
	return chErr(CodeNotFound, format, args...)
}
func limit(format string, args ...any) *Error  { return chErr(CodeLimitExceeded, format, args...) }
func tagErr(format string, args ...any) *Error { return chErr(CodeTag, format, args...) }

// AsError maps any error of the service to an *Error.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, hsm.ErrZeroized), errors.Is(err, hsm.ErrNotInitialized):
		return invalid("the cluster's HSM is not usable: %v", err)
	case errors.Is(err, hsm.ErrSelfTest):
		return chErr(CodeInternal, "%v", err)
	}
	var ce *hsm.ConflictError
	if errors.As(err, &ce) {
		return invalid("%v", err)
	}
	var ve *hsm.ValidationError
	if errors.As(err, &ve) {
		return invalid("%v", err)
	}
	return chErr(CodeInternal, "internal error: %v", err)
}

// MapError maps an error of the service to its HTTP status, exception name and message,
// for the protocol layer.
func MapError(err error) (status int, code, msg string) {
	e := AsError(err)
	return e.Status, e.Code, e.Message
}
