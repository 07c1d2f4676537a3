package seal

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A wrapped RSA key is made once (0600, in a directory made 0700), read back the same with
// its creation time, and refused, not replaced, under another use's aad.
func TestLoadOrCreateRSAKey(t *testing.T) {
	wrap, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keys", "k.key")
	now := time.Date(2026, 12, 7, 15, 0, 0, 500, time.UTC)
	k1, c1, fresh, err := LoadOrCreateRSAKey(path, wrap, []byte("use a"), now)
	if err != nil || !fresh || !c1.Equal(now.Truncate(time.Second)) {
		t.Fatalf("create: %v fresh=%v created=%v", err, fresh, c1)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, st)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("key dir: %v %v", err, st)
	}
	k2, c2, fresh, err := LoadOrCreateRSAKey(path, wrap, []byte("use a"), now.Add(time.Hour))
	if err != nil || fresh || !k1.Equal(k2) || !c2.Equal(c1) {
		t.Fatalf("load: %v fresh=%v same=%v created=%v", err, fresh, k1.Equal(k2), c2)
	}
	before, _ := os.ReadFile(path)
	if _, _, _, err := LoadOrCreateRSAKey(path, wrap, []byte("use b"), now); err == nil {
		t.Fatal("a key file was read under another use's aad")
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the key file was replaced")
	}
}
