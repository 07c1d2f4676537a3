package audit

import (
	"errors"
	"fmt"
)

// CloudTrail exception names returned by Lookup, for a JSON service to map
// (all are HTTP 400).
const (
	CodeInvalidLookupAttributes = "InvalidLookupAttributesException"
	CodeInvalidTimeRange        = "InvalidTimeRangeException"
	CodeInvalidMaxResults       = "InvalidMaxResultsException"
	CodeInvalidNextToken        = "InvalidNextTokenException"
)

// Error is a LookupEvents input error with CloudTrail's exception name.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidNextToken is the error of a NextToken that no lookup with the same
// parameters issued.
func InvalidNextToken() *Error {
	return errorf(CodeInvalidNextToken, "The NextToken is not valid for this request")
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: journal is closed")

// ErrCommitTimeout is returned by Append when its event's commit (write and
// fsync) took longer than Options.AppendTimeout: the event may or may not be
// recorded.
var ErrCommitTimeout = errors.New("audit: the event was not committed in time (is the disk stuck?)")
