package awsproto

import (
	"fmt"
	"net/http"
)

// AWS error codes written by this package.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	CodeUnknownOperation           = "UnknownOperationException"
	CodeSerialization              = "SerializationException"
	CodeInternalFailure            = "InternalFailure"
	CodeRequestEntityTooLarge      = "RequestEntityTooLargeException"
	CodeMethodNotAllowed           = "MethodNotAllowedException"
	CodeExpiredTokenException      = "ExpiredTokenException"
)

// AWS error codes written for query-protocol services (IAM, STS). The
// authentication codes are what IAM and STS answer instead of the JSON
// protocols' *Exception codes.
const (
	CodeQueryMissingAuthenticationToken = "MissingAuthenticationToken" // 403
	CodeQueryIncompleteSignature        = "IncompleteSignature"        // 400
	CodeSignatureDoesNotMatch           = "SignatureDoesNotMatch"      // 403
	CodeInvalidClientTokenID            = "InvalidClientTokenId"       // 403
	CodeExpiredToken                    = "ExpiredToken"               // 400
	CodeMissingAction                   = "MissingAction"              // 400
	CodeInvalidAction                   = "InvalidAction"              // 400
	CodeMalformedQueryString            = "MalformedQueryString"       // 400
	CodeValidationError                 = "ValidationError"            // 400
)

// Error is an AWS-shaped error: written as {"__type": Code, "message": Message}
// with HTTP status Status (and the header x-amzn-ErrorType: Code) by JSON
// services, and as <ErrorResponse><Error><Type>Sender|Receiver</Type><Code>
// <Message>... by query services (Type is Receiver for a 5xx Status).
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given status, code and formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Status: status, Code: code, Message: msg}
}

func badRequest(code, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, code, format, args...)
}

var (
	errMissingAuth = &Error{Status: http.StatusBadRequest, Code: CodeMissingAuthenticationToken,
		Message: "Missing Authentication Token"}
	errUnknownKey = &Error{Status: http.StatusBadRequest, Code: CodeUnrecognizedClient,
		Message: "The security token included in the request is invalid."}
	errExpiredToken = &Error{Status: http.StatusBadRequest, Code: CodeExpiredTokenException,
		Message: "The security token included in the request is expired"}
	errSignatureMismatch = &Error{Status: http.StatusBadRequest, Code: CodeInvalidSignature,
		Message: "The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	errContentSHA256 = &Error{Status: http.StatusBadRequest, Code: CodeInvalidSignature,
		Message: "The provided 'x-amz-content-sha256' header does not match what was computed."}
	errInternal = &Error{Status: http.StatusInternalServerError, Code: CodeInternalFailure,
		Message: "The request processing has failed because of an unknown error, exception or failure."}
)
