package hsm

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers match them with errors.Is; the native API and the AWS protocol
// layer map them to status codes in one place each. Messages never contain secrets.
var (
	// ErrLoginFailed: wrong username, role, password or MFA response. The message is the
	// same whichever of them was wrong.
	ErrLoginFailed = errors.New("hsm: login failed: wrong username, role, password or MFA response")
	// ErrUserLocked: the user reached the lockout threshold; an admin must reset the password.
	ErrUserLocked = errors.New("hsm: user is locked out after too many failed logins; an admin must reset the password with 'user change-password'")
	// ErrNotLoggedIn: the session is unknown or expired.
	ErrNotLoggedIn = errors.New("hsm: not logged in or session expired; run 'login' first")
	// ErrZeroized: the cluster was zeroized; all key material and the domain key are gone.
	ErrZeroized = errors.New("hsm: the cluster was zeroized; restore a backup or initialize a new cluster")
	// ErrNotInitialized: the cluster has no domain key yet.
	ErrNotInitialized = errors.New("hsm: the cluster is not initialized")
	// ErrSelfTest: the power-on self-tests failed; the node refuses service.
	ErrSelfTest = errors.New("hsm: power-on self-test failed; this node refuses service")
)

// PermissionError says which role or ownership an operation needs.
type PermissionError struct {
	Op     string // the command, e.g. "user create"
	Reason string // e.g. "only admins manage users"
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("hsm: %s: not permitted: %s", e.Op, e.Reason)
}

// NotFoundError names the user, key or token that does not exist (or is not visible to the
// caller: a crypto user cannot learn whether a key it has no access to exists).
type NotFoundError struct {
	Kind string // "user", "key", "quorum token"
	Name string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("hsm: %s %s not found", e.Kind, e.Name)
}

// ValidationError is bad input: a field out of range, a malformed value, a conflict.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "hsm: " + e.Reason
	}
	return fmt.Sprintf("hsm: invalid %s: %s", e.Field, e.Reason)
}

// ConflictError is an operation refused because of the current state (the user exists,
// the key is not destroyable, ...).
type ConflictError struct{ Reason string }

func (e *ConflictError) Error() string { return "hsm: " + e.Reason }

// QuorumError says that the operation needs M approvals and how many valid ones came.
type QuorumError struct {
	Service  string
	Required int
	Valid    int
	Reason   string
}

func (e *QuorumError) Error() string {
	msg := fmt.Sprintf("hsm: quorum required for service %q: %d approvals needed, %d valid", e.Service, e.Required, e.Valid)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// MechanismError is a cryptographic operation that failed for a reason other than the
// caller's permissions: a signature that does not verify, a ciphertext that does not
// authenticate, a key of the wrong type for the mechanism.
type MechanismError struct {
	Op     string
	Reason string
}

func (e *MechanismError) Error() string { return fmt.Sprintf("hsm: %s: %s", e.Op, e.Reason) }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func denied(op, format string, args ...any) error {
	return &PermissionError{Op: op, Reason: fmt.Sprintf(format, args...)}
}
