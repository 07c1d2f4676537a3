package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testStore checks that s satisfies the Store contract. s must be empty.
// Every Store implementation (DirStore, S3-compatible stores) runs it.
func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	const region = "us-east-1"
	id1, id2 := "backup-aaaaaaaaaaa", "backup-bbbbbbbbbbb"

	t.Run("empty", func(t *testing.T) {
		ids, err := s.List(ctx, region)
		if err != nil || len(ids) != 0 {
			t.Fatalf("List = %v, %v", ids, err)
		}
		if _, err := s.Get(ctx, region, id1); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Get missing: %v", err)
		}
		if err := s.Delete(ctx, region, id1); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Delete missing: %v", err)
		}
	})

	data := bytes.Repeat([]byte("archive bytes "), 100000)
	t.Run("put get list delete", func(t *testing.T) {
		if err := s.Put(ctx, region, id2, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, region, id1, strings.NewReader("one")); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "eu-west-1", id1, strings.NewReader("other region")); err != nil {
			t.Fatal(err)
		}
		ids, err := s.List(ctx, region)
		if err != nil || !slices.Equal(ids, []string{id1, id2}) {
			t.Fatalf("List = %v, %v", ids, err)
		}
		if got := get(t, s, region, id2); !bytes.Equal(got, data) {
			t.Fatalf("Get returned %d bytes, want %d", len(got), len(data))
		}
		if got := get(t, s, "eu-west-1", id1); string(got) != "other region" {
			t.Fatalf("Get other region = %q", got)
		}
		// Archives are immutable.
		if err := s.Put(ctx, region, id1, strings.NewReader("two")); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("Put existing: %v", err)
		}
		if got := get(t, s, region, id1); string(got) != "one" {
			t.Fatalf("after refused overwrite: %q", got)
		}
		if err := s.Delete(ctx, region, id1); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, region, id1); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Get deleted: %v", err)
		}
		ids, err = s.List(ctx, region)
		if err != nil || !slices.Equal(ids, []string{id2}) {
			t.Fatalf("List = %v, %v", ids, err)
		}
	})

	t.Run("put is atomic", func(t *testing.T) {
		const id = "backup-inprogress01"
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- s.Put(ctx, region, id, pr) }()
		if _, err := pw.Write(data[:1000]); err != nil { // Put has read part of it
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, region, id); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Get during Put: %v", err)
		}
		if ids, _ := s.List(ctx, region); slices.Contains(ids, id) {
			t.Fatalf("List during Put: %v", ids)
		}
		pw.Write(data[1000:])
		pw.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := get(t, s, region, id); !bytes.Equal(got, data) {
			t.Fatal("wrong data after Put")
		}
	})

	t.Run("failed put leaves nothing", func(t *testing.T) {
		const id = "backup-failedput001"
		pr, pw := io.Pipe()
		go func() {
			pw.Write(data[:5000])
			pw.CloseWithError(errors.New("network down"))
		}()
		if err := s.Put(ctx, region, id, pr); err == nil || !strings.Contains(err.Error(), "network down") {
			t.Fatalf("Put: %v", err)
		}
		if _, err := s.Get(ctx, region, id); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Get after failed Put: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cctx, region, id, bytes.NewReader(data)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put canceled: %v", err)
		}
		if _, err := s.Get(ctx, region, id); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Get after canceled Put: %v", err)
		}
	})

	t.Run("concurrent puts of one id", func(t *testing.T) {
		const id = "backup-concurrent01"
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { errs[i] = s.Put(ctx, region, id, bytes.NewReader(data)) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, fs.ErrExist):
				t.Fatalf("concurrent Put: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent Puts succeeded, want 1", ok)
		}
		if got := get(t, s, region, id); !bytes.Equal(got, data) {
			t.Fatal("wrong data")
		}
	})

	t.Run("invalid names", func(t *testing.T) {
		for _, c := range []struct{ region, id string }{
			{"../x", id1}, {"..", id1}, {"", id1}, {"us-east-1/..", id1}, {"US-EAST-1", id1},
			{region, "../backup-aaaaaaaaaaa"}, {region, "backup-aaaaaaaaaaa/../../x"},
			{region, "backup-short"}, {region, "backup-AAAAAAAAAAA"}, {region, ""}, {region, "x"},
		} {
			if err := s.Put(ctx, c.region, c.id, strings.NewReader("x")); !errors.Is(err, ErrInvalidName) || !errors.Is(err, fs.ErrInvalid) {
				t.Errorf("Put(%q, %q): %v", c.region, c.id, err)
			}
			if _, err := s.Get(ctx, c.region, c.id); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Get(%q, %q): %v", c.region, c.id, err)
			}
			if err := s.Delete(ctx, c.region, c.id); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Delete(%q, %q): %v", c.region, c.id, err)
			}
		}
		if _, err := s.List(ctx, "../etc"); !errors.Is(err, ErrInvalidName) {
			t.Errorf("List: %v", err)
		}
	})
}

func get(t *testing.T, s Store, region, id string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), region, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDirStore(t *testing.T) {
	root := t.TempDir()
	s := &DirStore{Root: filepath.Join(root, "backups")}
	testStore(t, s)

	// No temporary files remain; modes are private.
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", path)
		}
		if runtime.GOOS == "windows" || path == root {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "backups", "us-east-1", "backup-bbbbbbbbbbb.cbk")); err != nil {
		t.Fatalf("archive path: %v", err)
	}
	// Stray files are not listed.
	os.WriteFile(filepath.Join(root, "backups", "us-east-1", "notes.txt"), nil, 0o600)
	os.WriteFile(filepath.Join(root, "backups", "us-east-1", ".backup-ccccccccccc.tmp-1"), nil, 0o600)
	ids, err := s.List(context.Background(), "us-east-1")
	if err != nil || slices.ContainsFunc(ids, func(id string) bool { return !ValidID(id) || id == "backup-ccccccccccc" }) {
		t.Fatalf("List = %v, %v", ids, err)
	}
}

func TestDirStoreArchiveRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := &DirStore{Root: t.TempDir()}
	dk := newDK(t)
	raw, offline := writeOffline(t, dk, testSnapshot(), 2, 3)
	if err := s.Put(ctx, "us-east-1", "backup-abcdefghijk", bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, "us-east-1", "backup-abcdefghijk")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	a, err := Read(rc)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := a.Open(parseShares(t, offline[1:])); err != nil || !bytes.Equal(got, testSnapshot()) {
		t.Fatalf("Open: %v", err)
	}
}
