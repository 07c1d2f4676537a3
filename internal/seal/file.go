package seal

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/coffer-hsm/coffer/internal/fsutil"
)

// Sealed domain key file format (JSON, one object, no unknown fields):
//
//	{"format":"coffer-sealed-domain-key","version":1,"sealer":"node-key",
//	 "domain_key_id":"0123456789abcdef","sealed":"<base64 std>"}
const (
	fileFormat  = "coffer-sealed-domain-key"
	fileVersion = 1
	maxFileSize = 1 << 20
)

type sealedFile struct {
	Format      string `json:"format"`
	Version     int    `json:"version"`
	Sealer      string `json:"sealer"`
	DomainKeyID string `json:"domain_key_id"`
	Sealed      []byte `json:"sealed"`
}

// parseSealedFile parses and validates the sealed file format. Errors wrap
// ErrMalformed.
func parseSealedFile(b []byte) (*sealedFile, error) {
	bad := func(msg string) (*sealedFile, error) {
		return nil, newErr("parse sealed file", ErrMalformed, detail(msg))
	}
	if len(b) > maxFileSize {
		return bad("file too large")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f sealedFile
	if err := dec.Decode(&f); err != nil {
		return bad("invalid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("trailing data")
	}
	switch {
	case f.Format != fileFormat:
		return bad("not a sealed domain key file")
	case f.Version != fileVersion:
		return bad(fmt.Sprintf("unsupported version %d", f.Version))
	case f.Sealer == "" || len(f.Sealer) > 64:
		return bad("invalid sealer name")
	case !validKeyID(f.DomainKeyID):
		return bad("invalid domain key ID")
	case len(f.Sealed) == 0:
		return bad("empty sealed blob")
	}
	return &f, nil
}

// validKeyID reports whether id looks like DomainKey.ID: 16 lowercase hex.
func validKeyID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func marshalSealedFile(f *sealedFile) ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Save seals d with s and writes the sealed domain key file to path with
// mode 0600, atomically: temp file in the same directory, fsync, rename,
// fsync of the directory. An existing file at path is REPLACED (this is how
// a domain key is re-sealed, e.g. on passphrase change); callers that create
// a new domain key must make sure they are not overwriting an existing one.
// It returns ErrZeroized if d was zeroized.
func Save(path string, s Sealer, d *DomainKey) error {
	const op = "save"
	if d.Zeroized() {
		return pathErr(op, path, ErrZeroized, nil)
	}
	raw := d.Bytes()
	blob, err := s.Seal(raw)
	clear(raw)
	if err != nil {
		return pathErr(op, path, nil, err)
	}
	data, err := marshalSealedFile(&sealedFile{
		Format: fileFormat, Version: fileVersion, Sealer: s.Name(),
		DomainKeyID: d.ID(), Sealed: blob,
	})
	if err != nil {
		return pathErr(op, path, nil, err)
	}
	if err := fsutil.WriteFile(path, data); err != nil {
		return pathErr(op, path, nil, err)
	}
	return nil
}

// Load reads the sealed domain key file at path and unseals it with s.
//
// Errors: ErrNotFound (which also matches fs.ErrNotExist) when the file is
// missing; ErrUnseal when the file is corrupt (also wrapping ErrMalformed),
// was sealed by another sealer type, cannot be unsealed by s, or unseals to
// a key whose ID differs from the one recorded in the file. Load does not
// refuse files with permissions broader than 0600; call CheckPermissions
// and log a warning.
func Load(path string, s Sealer) (*DomainKey, error) {
	const op = "load"
	b, err := readLimited(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, pathErr(op, path, ErrNotFound, nil)
	}
	if err != nil {
		return nil, pathErr(op, path, nil, err)
	}
	f, err := parseSealedFile(b)
	if err != nil {
		return nil, pathErr(op, path, ErrUnseal, err)
	}
	if f.Sealer != s.Name() {
		return nil, pathErr(op, path, ErrUnseal,
			detail(fmt.Sprintf("file was sealed with %q, not %q", f.Sealer, s.Name())))
	}
	raw, err := s.Unseal(f.Sealed)
	if err != nil {
		if !errors.Is(err, ErrUnseal) {
			return nil, pathErr(op, path, ErrUnseal, err)
		}
		return nil, pathErr(op, path, nil, err)
	}
	d, err := FromBytes(raw)
	clear(raw)
	if err != nil {
		return nil, pathErr(op, path, ErrUnseal, detail("unsealed data is not a domain key"))
	}
	if subtle.ConstantTimeCompare([]byte(d.ID()), []byte(f.DomainKeyID)) != 1 {
		d.Zeroize()
		return nil, pathErr(op, path, ErrUnseal, detail("domain key ID mismatch"))
	}
	return d, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFileSize+1))
}

// CheckPermissions returns an error wrapping ErrInsecurePermissions if the
// file at path is accessible by group or others (mode broader than 0600),
// so callers can log a warning. It returns the os error if path cannot be
// stat'ed.
func CheckPermissions(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return pathErr("check permissions", path, nil, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return pathErr("check permissions", path, ErrInsecurePermissions,
			detail(fmt.Sprintf("mode %04o", fi.Mode().Perm())))
	}
	return nil
}

// Erase overwrites the regular file at path with zeros (same length),
// fsyncs it, removes it and fsyncs the directory. A missing file is not an
// error. Symlinks and non-regular files are refused. See the package
// documentation for what overwriting cannot reach.
func Erase(path string) error {
	const op = "erase"
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return pathErr(op, path, nil, err)
	}
	if !fi.Mode().IsRegular() {
		return pathErr(op, path, ErrInvalidParams, detail("not a regular file"))
	}
	if err := overwriteZeros(path); err != nil {
		return pathErr(op, path, nil, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return pathErr(op, path, nil, err)
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		return pathErr(op, path, nil, err)
	}
	return nil
}

func overwriteZeros(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	zeros := make([]byte, 32*1024)
	for off, size := int64(0), fi.Size(); off < size; {
		n := int64(len(zeros))
		if size-off < n {
			n = size - off
		}
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}
