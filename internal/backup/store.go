package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/coffer-hsm/coffer/internal/fsutil"
)

// Store holds backup archives outside the cluster state, by region and
// backup ID. DirStore keeps them in a directory; the interface is meant for
// S3-compatible object stores too (key "<region>/<id>.cbk").
//
// Contract, checked by the conformance test (testStore in store_test.go):
//   - region must match ValidRegion and id ValidID, otherwise every method
//     fails with an error wrapping ErrInvalidName (and fs.ErrInvalid), so
//     names can never escape the store.
//   - Put stores the whole of r under (region, id) atomically: until Put
//     returns nil, Get and List behave as if the archive does not exist, and
//     if Put fails nothing is left behind. Archives are immutable: Put of an
//     existing id fails with an error wrapping fs.ErrExist.
//   - Get of a missing archive, and Delete of a missing archive, fail with
//     an error wrapping fs.ErrNotExist. The caller closes Get's reader.
//   - List returns the IDs in region in ascending order (an empty list if
//     the region has none).
//   - All methods are safe for concurrent use and honor ctx cancellation.
type Store interface {
	Put(ctx context.Context, region, id string, r io.Reader) error
	Get(ctx context.Context, region, id string) (io.ReadCloser, error)
	Delete(ctx context.Context, region, id string) error
	List(ctx context.Context, region string) ([]string, error)
}

// ErrInvalidName: a region or backup ID is not valid. It also matches
// fs.ErrInvalid.
var ErrInvalidName error = invalidNameError{}

type invalidNameError struct{}

func (invalidNameError) Error() string        { return "backup: invalid region or backup ID" }
func (invalidNameError) Is(target error) bool { return target == fs.ErrInvalid }

var regionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidRegion reports whether region is a valid region name: lowercase
// letters, digits and dashes, at most 63 bytes, not starting with a dash.
func ValidRegion(region string) bool { return regionRE.MatchString(region) }

func checkNames(region, id string) error {
	if !ValidRegion(region) {
		return fmt.Errorf("%w: region %q", ErrInvalidName, clip(region))
	}
	if id != "" && !ValidID(id) {
		return fmt.Errorf("%w: backup ID %q", ErrInvalidName, clip(id))
	}
	return nil
}

const archiveExt = ".cbk"

// DirStore stores archives as files Root/<region>/<id>.cbk (mode 0600,
// directories 0700). Put writes a temporary file in the same directory,
// fsyncs it, links it into place (failing if the id exists) and fsyncs the
// directory. The zero value is not usable: Root must be set.
type DirStore struct {
	Root string
}

var _ Store = (*DirStore)(nil)

func (s *DirStore) path(region, id string) string {
	return filepath.Join(s.Root, region, id+archiveExt)
}

func (s *DirStore) check(ctx context.Context, region, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.Root == "" {
		return errors.New("backup: DirStore has no root directory")
	}
	return checkNames(region, id)
}

// Put implements Store.
func (s *DirStore) Put(ctx context.Context, region, id string, r io.Reader) (err error) {
	if err := s.check(ctx, region, id); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%w: empty backup ID", ErrInvalidName)
	}
	dir := filepath.Join(s.Root, region)
	if err := s.mkdir(dir); err != nil {
		return fmt.Errorf("backup: store: %w", err)
	}
	final := s.path(region, id)
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("backup: store: archive %s/%s: %w", region, id, fs.ErrExist)
	}
	tmp, err := os.CreateTemp(dir, "."+id+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: store: %w", err)
	}
	defer func() {
		tmp.Close()           // no-op error after a successful Close
		os.Remove(tmp.Name()) // always: on success the final name is a hard link
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("backup: store: %w", err)
	}
	if _, err := io.Copy(tmp, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("backup: store: writing %s/%s: %w", region, id, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("backup: store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup: store: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Link, unlike rename, refuses to replace an existing archive, so two
	// concurrent Puts of one id cannot silently overwrite each other.
	if err := os.Link(tmp.Name(), final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("backup: store: archive %s/%s: %w", region, id, fs.ErrExist)
		}
		return fmt.Errorf("backup: store: %w", err)
	}
	if err := os.Remove(tmp.Name()); err != nil {
		return fmt.Errorf("backup: store: %w", err)
	}
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("backup: store: %w", err)
	}
	return nil
}

func (s *DirStore) mkdir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Make the new directory entries durable.
	if err := fsutil.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return nil
}

// Get implements Store.
func (s *DirStore) Get(ctx context.Context, region, id string) (io.ReadCloser, error) {
	if err := s.check(ctx, region, id); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("%w: empty backup ID", ErrInvalidName)
	}
	f, err := os.Open(s.path(region, id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("backup: store: archive %s/%s: %w", region, id, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("backup: store: %w", err)
	}
	return f, nil
}

// Delete implements Store.
func (s *DirStore) Delete(ctx context.Context, region, id string) error {
	if err := s.check(ctx, region, id); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%w: empty backup ID", ErrInvalidName)
	}
	if err := os.Remove(s.path(region, id)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup: store: archive %s/%s: %w", region, id, fs.ErrNotExist)
		}
		return fmt.Errorf("backup: store: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Join(s.Root, region)); err != nil {
		return fmt.Errorf("backup: store: %w", err)
	}
	return nil
}

// List implements Store.
func (s *DirStore) List(ctx context.Context, region string) ([]string, error) {
	if err := s.check(ctx, region, ""); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(s.Root, region))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return []string{}, nil
		}
		return nil, fmt.Errorf("backup: store: %w", err)
	}
	ids := []string{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), archiveExt)
		if ok && e.Type().IsRegular() && ValidID(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
