package iam

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

// Error is an IAM or STS error: Code is AWS's error code (NoSuchEntity, EntityAlreadyExists,
// LimitExceeded, MalformedPolicyDocument, ValidationError, DeleteConflict, InvalidInput,
// AccessDenied...), Status its HTTP status. The query protocol writes it as
// <ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>...
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Sender reports whether the error is the caller's fault (<Type>Sender</Type>) rather than
// the service's (<Type>Receiver</Type>).
func (e *Error) Sender() bool { return e.Status < 500 }

var statusOf = map[string]int{
	"NoSuchEntity":                  http.StatusNotFound,
	"EntityAlreadyExists":           http.StatusConflict,
	"LimitExceeded":                 http.StatusConflict,
	"DeleteConflict":                http.StatusConflict,
	"ConcurrentModification":        http.StatusConflict,
	"EntityTemporarilyUnmodifiable": http.StatusConflict,
	"AccessDenied":                  http.StatusForbidden,
	"InvalidAuthenticationCode":     http.StatusForbidden,
	"InvalidClientTokenId":          http.StatusForbidden,
	"ServiceFailure":                http.StatusInternalServerError,
	"PolicyEvaluation":              http.StatusInternalServerError,
	"ReportNotPresent":              http.StatusGone,
	"ReportExpired":                 http.StatusGone,
}

func iamErr(code, format string, args ...any) *Error {
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusBadRequest
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

func validation(format string, args ...any) *Error {
	return iamErr("ValidationError", format, args...)
}

func noSuch(format string, args ...any) *Error { return iamErr("NoSuchEntity", format, args...) }

func invalidInput(format string, args ...any) *Error {
	return iamErr("InvalidInput", format, args...)
}

// AsError maps any error of the service to an *Error (MapError is the same function).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var pe *policy.ParseError
	if errors.As(err, &pe) {
		return iamErr("MalformedPolicyDocument", "%s", pe.Reason)
	}
	return iamErr("ServiceFailure", "internal error: %v", err)
}

// MapError maps any error of the service to the protocol layer's error
// (awsproto.QueryService.MapError).
func MapError(err error) *awsproto.Error {
	e := AsError(err)
	return &awsproto.Error{Status: e.Status, Code: e.Code, Message: e.Message}
}
