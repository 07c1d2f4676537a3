package kms

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// Error is a KMS error: Code is the AWS exception name (NotFoundException,
// KMSInvalidStateException...), Status its HTTP status. The protocol layer writes it as
// {"__type": Code, "message": Message}.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func kmsErr(code, format string, args ...any) *Error {
	status := http.StatusBadRequest
	switch code {
	case "KMSInternalException":
		status = http.StatusInternalServerError
	case "DependencyTimeoutException":
		status = http.StatusServiceUnavailable
	case "DryRunOperationException":
		// The KMS API reference: "HTTP Status Code: 412" (the request's preconditions
		// held, so it would have succeeded).
		status = http.StatusPreconditionFailed
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

func validation(format string, args ...any) *Error {
	return kmsErr("ValidationException", format, args...)
}

func notFound(format string, args ...any) *Error { return kmsErr("NotFoundException", format, args...) }

func invalidState(format string, args ...any) *Error {
	return kmsErr("KMSInvalidStateException", format, args...)
}

// errDryRun is what operations with DryRun=true answer when they would have succeeded.
var errDryRun = kmsErr("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")

// AsError maps any error from the KMS service to an *Error. HSM errors that reach KMS
// mean the key material is not usable; they never carry secrets.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, hsm.ErrZeroized), errors.Is(err, hsm.ErrNotInitialized):
		return kmsErr("KMSInvalidStateException", "the HSM cluster holding the key material is unavailable: %v", err)
	case errors.Is(err, hsm.ErrSelfTest):
		return kmsErr("KMSInternalException", "%v", err)
	}
	var me *hsm.MechanismError
	if errors.As(err, &me) {
		return kmsErr("KMSInternalException", "%v", err)
	}
	var ve *hsm.ValidationError
	if errors.As(err, &ve) {
		return validation("%v", err)
	}
	return kmsErr("KMSInternalException", "internal error: %v", err)
}
