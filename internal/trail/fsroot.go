package trail

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/coffer-hsm/coffer/internal/fsutil"
)

// Every file of a trail is read and written through an os.Root opened on the trail root
// directory: an object name that would leave it (through "..", an absolute path or a
// symbolic link pointing outside) fails instead of touching anything else.

// objectName is the slash-separated name of an object under the trail root; it refuses
// names that are not a valid bucket and key.
func objectName(bucket, key string) (string, error) {
	if !ValidBucketName(bucket) || !validObjectKey(key) {
		return "", fmt.Errorf("trail: %q/%q is not a valid object name", bucket, key)
	}
	return bucket + "/" + key, nil
}

// validObjectKey: a relative slash-separated path with no empty, "." or ".." segments.
func validObjectKey(key string) bool {
	return key != "" && len(key) <= 1024 && ValidKeyPrefix(key)
}

func openRoot(dir string, create bool) (*os.Root, error) {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	return os.OpenRoot(dir)
}

// inRoot runs fn on the object's slash-separated name in the trail root, opened (and
// made, with create) for the call. A missing root is fs.ErrNotExist.
func inRoot(rootDir, bucket, key string, create bool, fn func(r *os.Root, name string) error) error {
	name, err := objectName(bucket, key)
	if err != nil {
		return err
	}
	r, err := openRoot(rootDir, create)
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(r, name)
}

// writeObject writes an object atomically (temporary file, fsync, rename, directory
// fsync), mode 0600, in directories made 0700, all confined to the trail root.
func writeObject(rootDir, bucket, key string, data []byte) error {
	return inRoot(rootDir, bucket, key, true, func(r *os.Root, name string) error {
		if err := r.MkdirAll(path.Dir(name), 0o700); err != nil {
			return err
		}
		return fsutil.WriteFileIn(r, name, data)
	})
}

// readObjectFile reads an object's file under the trail root.
func readObjectFile(rootDir, bucket, key string) (data []byte, err error) {
	err = inRoot(rootDir, bucket, key, false, func(r *os.Root, name string) error {
		data, err = r.ReadFile(name)
		return err
	})
	return data, err
}

// statObject reports whether an object's file exists under the trail root.
func statObject(rootDir, bucket, key string) bool {
	return inRoot(rootDir, bucket, key, false, func(r *os.Root, name string) error {
		_, err := r.Stat(name)
		return err
	}) == nil
}

// removeObjectFile removes an object's file under the trail root (a missing file is no error).
func removeObjectFile(rootDir, bucket, key string) error {
	err := inRoot(rootDir, bucket, key, false, func(r *os.Root, name string) error { return r.Remove(name) })
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// walkObjects calls fn with the key of every file under bucket/dir (a missing directory
// is empty), confined to the trail root.
func walkObjects(rootDir, bucket, dir string, fn func(key string)) error {
	err := inRoot(rootDir, bucket, dir, false, func(r *os.Root, name string) error {
		return fs.WalkDir(r.FS(), name, func(p string, de fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone meanwhile, or a missing directory: nothing there
			}
			if err != nil {
				return err
			}
			if !de.IsDir() {
				fn(strings.TrimPrefix(p, bucket+"/"))
			}
			return nil
		})
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
