package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	for _, data := range []string{"first", "second, longer than the first"} {
		if err := WriteFile(p, []byte(data)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != data {
			t.Fatalf("read %q %v, want %q", b, err, data)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", fi.Mode())
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), []byte("x")); err == nil {
		t.Fatal("wrote into a missing directory")
	}
}

// Inside an os.Root nothing can be written outside it.
func TestWriteFileInRoot(t *testing.T) {
	outer := t.TempDir()
	inner := filepath.Join(outer, "root")
	os.Mkdir(inner, 0o700)
	r, err := os.OpenRoot(inner)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := WriteFileIn(r, "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(inner, "a")); string(b) != "x" {
		t.Fatalf("content %q", b)
	}
	if err := WriteFileIn(r, "../escape", []byte("x")); err == nil {
		t.Fatal("wrote outside the root")
	}
	if _, err := os.Stat(filepath.Join(outer, "escape")); err == nil {
		t.Fatal("file outside the root exists")
	}
	if err := SyncDir(inner); err != nil {
		t.Fatal(err)
	}
}
