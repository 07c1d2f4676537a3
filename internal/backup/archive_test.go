package backup

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/seal"
)

var custodianKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 5)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	return keys
})

func pubPEM(t testing.TB, k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func newDK(t testing.TB) *seal.DomainKey {
	dk, err := seal.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

func testSnapshot() []byte {
	return []byte(`{"format":"coffer-state","version":1,"index":42,"parts":{"hsm":{"users":[{"name":"admin","hash":"$scrypt$..."}]}}}`)
}

func baseInput(dk *seal.DomainKey, snap []byte) WriteInput {
	return WriteInput{
		BackupID:   "backup-abcdefghijk",
		ClusterID:  "cluster-1234567890a",
		Region:     "us-east-1",
		Created:    time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		StateIndex: 42,
		Snapshot:   snap,
		DomainKey:  dk,
	}
}

// writeRSA writes a 3-of-5 archive to the test custodians.
func writeRSA(t testing.TB, dk *seal.DomainKey, snap []byte) []byte {
	t.Helper()
	in := baseInput(dk, snap)
	for i, k := range custodianKeys() {
		in.Custodians = append(in.Custodians, CustodianKey{Name: fmt.Sprintf("custodian-%d", i+1), PublicKeyPEM: pubPEM(t, k)})
	}
	in.Threshold = 3
	var buf bytes.Buffer
	res, offline, err := Write(&buf, in)
	if err != nil {
		t.Fatal(err)
	}
	if offline != nil {
		t.Fatalf("stored form returned offline shares")
	}
	if res.Size != int64(buf.Len()) {
		t.Fatalf("Size %d, wrote %d", res.Size, buf.Len())
	}
	return buf.Bytes()
}

// writeOffline writes an m-of-n archive with offline shares.
func writeOffline(t testing.TB, dk *seal.DomainKey, snap []byte, m, n int) ([]byte, []string) {
	t.Helper()
	in := baseInput(dk, snap)
	in.Threshold, in.Shares = m, n
	var buf bytes.Buffer
	_, offline, err := Write(&buf, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(offline) != max(n, 1) {
		t.Fatalf("got %d offline shares, want %d", len(offline), n)
	}
	return buf.Bytes(), offline
}

func decryptShares(t testing.TB, a *Archive, which ...int) [][]byte {
	t.Helper()
	var out [][]byte
	for _, i := range which {
		s, err := DecryptShare(a.Header.Custodians.Shares[i], custodianKeys()[i])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func parseShares(t testing.TB, enc []string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, e := range enc {
		s, _, err := ParseShare(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestRoundTripCustodians(t *testing.T) {
	dk := newDK(t)
	snap := testSnapshot()
	raw := writeRSA(t, dk, snap)
	if bytes.Contains(raw, []byte("admin")) {
		t.Fatal("payload is not encrypted")
	}
	a, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := a.Header
	if h.Format != FormatName || h.Version != 1 || h.BackupID != "backup-abcdefghijk" || h.ClusterID != "cluster-1234567890a" ||
		h.Region != "us-east-1" || h.StateIndex != 42 || h.DomainKeyID != dk.ID() || h.SnapshotSize != int64(len(snap)) ||
		!h.Created.Equal(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("header: %+v", h)
	}
	c := h.Custodians
	if c.Threshold != 3 || c.Total != 5 || c.KeyWrap != "shamir-v1" || len(c.Shares) != 5 || c.Offline() {
		t.Fatalf("custodians: %+v", c)
	}
	for _, sets := range [][]int{{0, 1, 2}, {2, 3, 4}, {4, 0, 2}, {0, 1, 2, 3, 4}} {
		var calls []int64
		got, gotDK, err := a.Open(decryptShares(t, a, sets...), OpenOptions{Progress: func(done, total int64) {
			if total != int64(len(snap)) {
				t.Errorf("progress total %d", total)
			}
			calls = append(calls, done)
		}})
		if err != nil {
			t.Fatalf("shares %v: %v", sets, err)
		}
		if !bytes.Equal(got, snap) || gotDK.ID() != dk.ID() {
			t.Fatalf("shares %v: wrong snapshot or key", sets)
		}
		if len(calls) == 0 || calls[len(calls)-1] != int64(len(snap)) {
			t.Fatalf("progress calls %v", calls)
		}
	}
	// A custodian's share cannot be decrypted by another custodian.
	if _, err := DecryptShare(c.Shares[0], custodianKeys()[1]); !errors.Is(err, ErrCustodians) {
		t.Fatalf("DecryptShare with wrong key: %v", err)
	}
}

func TestRoundTripOffline(t *testing.T) {
	dk := newDK(t)
	snap := bytes.Repeat(testSnapshot(), 20000) // > 1 chunk: several progress calls
	var wrote []int64
	in := baseInput(dk, snap)
	in.Threshold, in.Shares = 3, 5
	in.Progress = func(done, total int64) {
		if total != int64(len(snap)) {
			t.Errorf("progress total %d", total)
		}
		wrote = append(wrote, done)
	}
	var buf bytes.Buffer
	_, offline, err := Write(&buf, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrote) < 2 || wrote[len(wrote)-1] != int64(len(snap)) {
		t.Fatalf("write progress %v", wrote)
	}
	a, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Header.Custodians.Offline() {
		t.Fatal("offline archive has stored shares")
	}
	for _, e := range offline {
		if strings.Contains(buf.String(), e) {
			t.Fatal("offline share stored in archive")
		}
		if _, id, _ := ParseShare(e); id != dk.ID() {
			t.Fatalf("share key ID %s", id)
		}
	}
	got, gotDK, err := a.Open(parseShares(t, offline[1:4]))
	if err != nil || !bytes.Equal(got, snap) || gotDK.ID() != dk.ID() {
		t.Fatalf("Open: %v", err)
	}
	// OpenWithKey with the cluster's key.
	if got, err := a.OpenWithKey(dk); err != nil || !bytes.Equal(got, snap) {
		t.Fatalf("OpenWithKey: %v", err)
	}
	if _, err := a.OpenWithKey(newDK(t)); !errors.Is(err, ErrCustodians) {
		t.Fatalf("OpenWithKey other key: %v", err)
	}
}

func TestDevSingleShare(t *testing.T) {
	dk := newDK(t)
	raw, offline := writeOffline(t, dk, nil, 0, 0) // defaults: 1 of 1, empty snapshot
	a, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if c := a.Header.Custodians; c.Threshold != 1 || c.Total != 1 {
		t.Fatalf("custodians %+v", c)
	}
	got, _, err := a.Open(parseShares(t, offline))
	if err != nil || len(got) != 0 {
		t.Fatalf("Open: %q %v", got, err)
	}
}

func TestCustodianFailures(t *testing.T) {
	dk := newDK(t)
	raw := writeRSA(t, dk, testSnapshot())
	a, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	// Too few shares.
	_, _, err = a.Open(decryptShares(t, a, 0, 3))
	if !errors.Is(err, ErrCustodians) || !strings.Contains(err.Error(), "needs 3 of its 5") {
		t.Fatalf("2 of 5: %v", err)
	}
	// Three shares, one duplicated.
	s := decryptShares(t, a, 0, 1)
	if _, _, err := a.Open([][]byte{s[0], s[1], s[0]}); !errors.Is(err, ErrCustodians) {
		t.Fatalf("duplicate: %v", err)
	}
	// Shares of another domain key.
	_, other := writeOffline(t, newDK(t), testSnapshot(), 3, 5)
	if _, _, err := a.Open(parseShares(t, other[:3])); !errors.Is(err, ErrCustodians) {
		t.Fatalf("foreign shares: %v", err)
	}
	// Two right shares and a foreign one.
	mixed := append(decryptShares(t, a, 0, 1), parseShares(t, other[2:3])...)
	if _, _, err := a.Open(mixed); !errors.Is(err, ErrCustodians) {
		t.Fatalf("mixed shares: %v", err)
	}
	// Malformed offline share text.
	if _, _, err := ParseShare("coffer-share-v1:nope"); !errors.Is(err, ErrCustodians) {
		t.Fatalf("ParseShare: %v", err)
	}
}

func TestWriteValidation(t *testing.T) {
	dk := newDK(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	k := custodianKeys()
	zeroized := newDK(t)
	zeroized.Zeroize()
	for name, mod := range map[string]func(*WriteInput){
		"bad id":        func(in *WriteInput) { in.BackupID = "../../etc" },
		"no key":        func(in *WriteInput) { in.DomainKey = nil },
		"zeroized key":  func(in *WriteInput) { in.DomainKey = zeroized },
		"threshold > n": func(in *WriteInput) { in.Threshold, in.Shares = 4, 3 },
		"1 of 3":        func(in *WriteInput) { in.Threshold, in.Shares = 1, 3 },
		"n > 255":       func(in *WriteInput) { in.Threshold, in.Shares = 2, 256 },
		"small rsa":     func(in *WriteInput) { in.Custodians = []CustodianKey{{"a", pubPEM(t, small)}} },
		"not pem":       func(in *WriteInput) { in.Custodians = []CustodianKey{{"a", "hello"}} },
		"duplicate name": func(in *WriteInput) {
			in.Custodians = []CustodianKey{{"a", pubPEM(t, k[0])}, {"a", pubPEM(t, k[1])}}
			in.Threshold = 2
		},
		"shares mismatch": func(in *WriteInput) { in.Custodians = []CustodianKey{{"a", pubPEM(t, k[0])}}; in.Shares = 2 },
	} {
		in := baseInput(dk, testSnapshot())
		mod(&in)
		var buf bytes.Buffer
		if _, _, err := Write(&buf, in); err == nil || buf.Len() != 0 {
			t.Errorf("%s: err %v, wrote %d bytes", name, err, buf.Len())
		}
	}
}

// TestBitFlips flips every bit of an offline archive, and one bit of every
// byte of a stored-custodian archive: Read, DecryptShare or Open must fail
// with a typed error, never succeed or panic.
func TestBitFlips(t *testing.T) {
	typed := func(err error) bool {
		return errors.Is(err, ErrFormat) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrCustodians)
	}
	t.Run("offline", func(t *testing.T) {
		dk := newDK(t)
		raw, offline := writeOffline(t, dk, testSnapshot(), 2, 3)
		shares := parseShares(t, offline[:2])
		mut := make([]byte, len(raw))
		for bit := range len(raw) * 8 {
			copy(mut, raw)
			mut[bit/8] ^= 1 << (bit % 8)
			a, err := Read(bytes.NewReader(mut))
			if err == nil {
				_, _, err = a.Open(shares)
			}
			if !typed(err) {
				t.Fatalf("bit %d (byte %d of %d): err = %v", bit, bit/8, len(raw), err)
			}
		}
	})
	t.Run("custodians", func(t *testing.T) {
		dk := newDK(t)
		raw := writeRSA(t, dk, testSnapshot())
		cache := map[string][]byte{} // DecryptShare is deterministic: cache by input
		mut := make([]byte, len(raw))
		for i := range raw {
			copy(mut, raw)
			mut[i] ^= 1 << (i % 8)
			a, err := Read(bytes.NewReader(mut))
			if err == nil {
				var shares [][]byte
				for j := range 3 {
					ws := a.Header.Custodians.Shares[j]
					key, _ := json.Marshal(ws)
					s, ok := cache[string(key)]
					if !ok {
						s, err = DecryptShare(ws, custodianKeys()[j])
						if err != nil {
							break
						}
						cache[string(key)] = s
					}
					shares = append(shares, s)
				}
				if err == nil {
					_, _, err = a.Open(shares)
				}
			}
			if !typed(err) {
				t.Fatalf("byte %d of %d: err = %v", i, len(raw), err)
			}
		}
	})
}

func TestTruncationAndTrailingData(t *testing.T) {
	raw, _ := writeOffline(t, newDK(t), testSnapshot(), 1, 1)
	for n := range len(raw) {
		if _, err := Read(bytes.NewReader(raw[:n])); !errors.Is(err, ErrFormat) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := Read(bytes.NewReader(append(raw[:len(raw):len(raw)], 0))); !errors.Is(err, ErrFormat) {
		t.Fatalf("trailing byte: %v", err)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestOversized(t *testing.T) {
	hdr := func(hlen uint32) []byte {
		b := append([]byte(Magic), Version)
		return binary.BigEndian.AppendUint32(b, hlen)
	}
	// Header length over 1 MiB: rejected before reading the header.
	cr := &countingReader{r: bytes.NewReader(append(hdr(MaxHeaderSize+1), make([]byte, 2<<20)...))}
	if _, err := Read(cr); !errors.Is(err, ErrFormat) || cr.n > 64 {
		t.Fatalf("oversized header: %v after %d bytes", err, cr.n)
	}
	if _, err := Read(bytes.NewReader(hdr(0xffffffff))); !errors.Is(err, ErrFormat) {
		t.Fatalf("huge header: %v", err)
	}
	// Payload length over 1 GiB, with a valid header.
	raw, _ := writeOffline(t, newDK(t), testSnapshot(), 1, 1)
	hlen := binary.BigEndian.Uint32(raw[9:13])
	off := 13 + int(hlen)
	mut := bytes.Clone(raw)
	binary.BigEndian.PutUint64(mut[off:], MaxPayloadSize+1)
	if _, err := Read(bytes.NewReader(mut)); !errors.Is(err, ErrFormat) {
		t.Fatalf("oversized payload: %v", err)
	}
	// A claimed 1 GiB payload with a short stream fails without a 1 GiB allocation.
	binary.BigEndian.PutUint64(mut[off:], MaxPayloadSize)
	if _, err := Read(bytes.NewReader(mut)); !errors.Is(err, ErrFormat) {
		t.Fatalf("lying payload length: %v", err)
	}
	// Wrong version byte.
	mut = bytes.Clone(raw)
	mut[8] = 2
	if _, err := Read(bytes.NewReader(mut)); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("version: %v", err)
	}
}

// TestHeaderRewriteDetected re-encodes the header with the same values but
// different bytes (and a tampered field), fixing up lengths: Read accepts
// it, Open must not.
func TestHeaderRewriteDetected(t *testing.T) {
	dk := newDK(t)
	raw, offline := writeOffline(t, dk, testSnapshot(), 1, 1)
	a, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	hlen := binary.BigEndian.Uint32(raw[9:13])
	rest := raw[13+int(hlen):]
	for name, mod := range map[string]func(*Header){
		"same values": func(*Header) {},
		"region":      func(h *Header) { h.Region = "eu-west-1" },
		"index":       func(h *Header) { h.StateIndex++ },
	} {
		h := a.Header
		mod(&h)
		hj, _ := json.MarshalIndent(h, "", " ")
		mut := binary.BigEndian.AppendUint32(append([]byte(Magic), Version), uint32(len(hj)))
		mut = append(append(mut, hj...), rest...)
		b, err := Read(bytes.NewReader(mut))
		if err != nil {
			t.Fatalf("%s: Read: %v", name, err)
		}
		if _, _, err := b.Open(parseShares(t, offline)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: Open: %v", name, err)
		}
	}
}
