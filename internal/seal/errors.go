package seal

import (
	"errors"
	"io/fs"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one of these (match
// with errors.Is); most are also an [*Error] (match with errors.As).
var (
	// ErrDecrypt: a ciphertext failed to decrypt (wrong key, wrong aad,
	// truncation, corruption or unknown version).
	ErrDecrypt = errors.New("seal: decryption failed")
	// ErrZeroized: the domain key was zeroized and can no longer be used.
	ErrZeroized = errors.New("seal: domain key zeroized")
	// ErrUnseal: a sealed blob or sealed file is not ours (wrong sealer, node
	// key or passphrase), was altered, or is corrupt.
	ErrUnseal = errors.New("seal: cannot unseal domain key")
	// ErrNotFound: the sealed domain key file does not exist. It also matches
	// errors.Is(err, fs.ErrNotExist).
	ErrNotFound error = notFoundError{}
	// ErrInvalidKey: key bytes have the wrong length or are all zero.
	ErrInvalidKey = errors.New("seal: invalid key")
	// ErrMalformed: a file could not be parsed. Load wraps it together with
	// ErrUnseal.
	ErrMalformed = errors.New("seal: malformed data")
	// ErrInvalidShare: a custodian share is malformed, or a set of shares is
	// inconsistent (duplicates, different lengths).
	ErrInvalidShare = errors.New("seal: invalid share")
	// ErrShareChecksum: an encoded share's checksum does not match (typo).
	// Always wrapped together with ErrInvalidShare.
	ErrShareChecksum = errors.New("seal: share checksum mismatch")
	// ErrInvalidParams: invalid arguments (for example Split's n and m).
	ErrInvalidParams = errors.New("seal: invalid parameters")
	// ErrInsecurePermissions: a secret file is accessible by group or others.
	ErrInsecurePermissions = errors.New("seal: file permissions broader than 0600")
)

type notFoundError struct{}

func (notFoundError) Error() string        { return "seal: sealed domain key file not found" }
func (notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// Error describes a failed operation. Kind is one of the package's sentinel
// errors; Err is an optional underlying cause. Neither contains secrets.
type Error struct {
	Op   string // operation, e.g. "load", "unseal", "decode share"
	Path string // file path for file operations, else ""
	Kind error  // sentinel error (ErrUnseal, ErrNotFound, ...)
	Err  error  // underlying cause, may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("seal: ")
	b.WriteString(e.Op)
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Kind.Error(), "seal: "))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "seal: "))
	}
	return b.String()
}

// Unwrap returns Kind and Err so errors.Is/As see both.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func newErr(op string, kind, err error) *Error { return &Error{Op: op, Kind: kind, Err: err} }

func pathErr(op, path string, kind, err error) *Error {
	return &Error{Op: op, Path: path, Kind: kind, Err: err}
}

// detail is a plain non-secret explanation used as Error.Err.
type detail string

func (d detail) Error() string { return string(d) }
