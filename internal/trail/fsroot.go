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

// writeObject writes an object atomically (temporary file, fsync, rename, directory
// fsync), mode 0600, in directories made 0700, all confined to the trail root.
func writeObject(rootDir, bucket, key string, data []byte) error {
	name, err := objectName(bucket, key)
	if err != nil {
		return err
	}
	r, err := openRoot(rootDir, true)
	if err != nil {
		return err
	}
	defer r.Close()
	dir := path.Dir(name)
	if err := r.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileIn(r, name, data)
}

// readObjectFile reads an object's file under the trail root.
func readObjectFile(rootDir, bucket, key string) ([]byte, error) {
	name, err := objectName(bucket, key)
	if err != nil {
		return nil, err
	}
	r, err := openRoot(rootDir, false)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadFile(name)
}

// statObject reports whether an object's file exists under the trail root.
func statObject(rootDir, bucket, key string) bool {
	name, err := objectName(bucket, key)
	if err != nil {
		return false
	}
	r, err := openRoot(rootDir, false)
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = r.Stat(name)
	return err == nil
}

// removeObjectFile removes an object's file under the trail root (a missing file is no error).
func removeObjectFile(rootDir, bucket, key string) error {
	name, err := objectName(bucket, key)
	if err != nil {
		return err
	}
	r, err := openRoot(rootDir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// walkObjects calls fn with the key of every file under bucket/dir (a missing directory
// is empty), confined to the trail root.
func walkObjects(rootDir, bucket, dir string, fn func(key string)) error {
	name, err := objectName(bucket, dir)
	if err != nil {
		return err
	}
	r, err := openRoot(rootDir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	return fs.WalkDir(r.FS(), name, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !de.IsDir() {
			fn(strings.TrimPrefix(p, bucket+"/"))
		}
		return nil
	})
}
