// Package fsutil holds the crash-safe file operations Coffer's stores share:
// an atomic file write (temporary file, fsync, rename, directory fsync) and a
// directory fsync, on plain paths or inside an os.Root.
package fsutil

import (
	"crypto/rand"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// Dir is where WriteFileIn writes: an *os.Root, or OS (plain paths).
type Dir interface {
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Open(name string) (*os.File, error)
	Rename(oldname, newname string) error
	Remove(name string) error
}

// OS is the Dir of plain paths.
var OS Dir = osDir{}

type osDir struct{}

func (osDir) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (osDir) Open(name string) (*os.File, error)   { return os.Open(name) }
func (osDir) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osDir) Remove(name string) error             { return os.Remove(name) }

// WriteFile writes data to path atomically and durably, mode 0600: after a
// crash the file holds either its old content or data, never a mix.
func WriteFile(path string, data []byte) error {
	return WriteFileIn(OS, filepath.ToSlash(path), data)
}

// WriteFileIn is WriteFile for a slash-separated name in d (whose directory must exist).
func WriteFileIn(d Dir, name string, data []byte) (err error) {
	dir := path.Dir(name)
	tmp := path.Join(dir, "."+path.Base(name)+".tmp-"+rand.Text())
	f, err := d.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			d.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = d.Rename(tmp, name); err != nil {
		return err
	}
	return syncDirIn(d, dir)
}

// SyncDir fsyncs a directory, making the creations, renames and removals in it durable.
func SyncDir(dir string) error { return syncDirIn(OS, dir) }

func syncDirIn(d Dir, dir string) error {
	f, err := d.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
