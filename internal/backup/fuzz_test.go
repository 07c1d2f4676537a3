package backup

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-hsm/coffer/internal/seal"
)

var update = flag.Bool("update", false, "rewrite testdata/v1-offline.cbk and its shares")

const (
	goldenArchive = "testdata/v1-offline.cbk"
	goldenShares  = "testdata/v1-offline.shares"
)

func goldenKey(t testing.TB) *seal.DomainKey {
	dk, err := seal.FromBytes(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

// golden returns a fixed 2-of-3 archive under goldenKey and its shares.
// Write is randomized (salt, nonce, shares), so the archive is stored in
// testdata: it also pins format version 1, which later builds must read.
func golden(t testing.TB) ([]byte, []string) {
	if *update {
		raw, offline := writeOffline(t, goldenKey(t), testSnapshot(), 2, 3)
		os.MkdirAll(filepath.Dir(goldenArchive), 0o755)
		if err := os.WriteFile(goldenArchive, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenShares, []byte(strings.Join(offline, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(goldenArchive)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := os.ReadFile(goldenShares)
	if err != nil {
		t.Fatal(err)
	}
	return raw, strings.Fields(string(sh))
}

func TestGoldenArchive(t *testing.T) {
	raw, offline := golden(t)
	a, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][]int{{0, 1}, {1, 2}, {0, 2}} {
		snap, dk, err := a.Open(parseShares(t, []string{offline[pair[0]], offline[pair[1]]}))
		if err != nil || !bytes.Equal(snap, testSnapshot()) || dk.ID() != goldenKey(t).ID() {
			t.Fatalf("shares %v: %v", pair, err)
		}
	}
}

// FuzzRead feeds arbitrary bytes to Read. It must never panic, and any
// input that Read accepts must fail Open unless it is byte-for-byte the
// golden archive (the only one written under the golden domain key).
func FuzzRead(f *testing.F) {
	raw, offline := golden(f)
	shares := parseShares(f, offline[:2])
	f.Add(raw)
	f.Add(raw[:len(raw)-1])
	f.Add(raw[:40])
	other, _ := writeOffline(f, newDK(f), nil, 1, 1)
	f.Add(other)
	f.Add([]byte(Magic + "\x01\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Read(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Read error is not ErrFormat: %v", err)
			}
			return
		}
		snap, _, err := a.Open(shares)
		if err == nil {
			if !bytes.Equal(data, raw) || !bytes.Equal(snap, testSnapshot()) {
				t.Fatal("Open accepted a modified archive")
			}
			return
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrCustodians) {
			t.Fatalf("Open error is not typed: %v", err)
		}
	})
}
