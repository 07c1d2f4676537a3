package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func init() { scryptLogN = 10 } // keep tests fast; Unseal reads N from the blob

func newKey(t testing.TB) *DomainKey {
	t.Helper()
	d, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	d := newKey(t)
	for _, n := range []int{0, 1, 16, 32, 1000} {
		pt := make([]byte, n)
		rand.Read(pt)
		aad := []byte(fmt.Sprintf("object-%d", n))
		ct, err := d.Encrypt(pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != n+Overhead || ct[0] != 0x01 {
			t.Fatalf("bad ciphertext layout: len %d", len(ct))
		}
		got, err := d.Decrypt(ct, aad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("round trip failed for %d bytes: %v", n, err)
		}
		ct2, _ := d.Encrypt(pt, aad)
		if bytes.Equal(ct, ct2) {
			t.Fatal("two encryptions are identical (nonce reuse)")
		}
	}
	if got, err := d.Decrypt(mustEncrypt(t, d, nil, nil), nil); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty plaintext: %v %v", got, err)
	}
}

func mustEncrypt(t *testing.T, d *DomainKey, pt, aad []byte) []byte {
	t.Helper()
	ct, err := d.Encrypt(pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func TestDecryptTamper(t *testing.T) {
	d := newKey(t)
	pt, aad := []byte("key material 0123456789abcdef"), []byte("id=42;type=aes")
	ct := mustEncrypt(t, d, pt, aad)
	for i := range ct {
		for bit := 0; bit < 8; bit++ {
			c := bytes.Clone(ct)
			c[i] ^= 1 << bit
			if _, err := d.Decrypt(c, aad); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("flip byte %d bit %d: got %v", i, bit, err)
			}
		}
	}
	for n := 0; n < len(ct); n++ {
		if _, err := d.Decrypt(ct[:n], aad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("truncated to %d: got %v", n, err)
		}
	}
	if _, err := d.Decrypt(append(bytes.Clone(ct), 0), aad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("extended: got %v", err)
	}
	for _, a := range [][]byte{nil, []byte("id=43;type=aes"), aad[:len(aad)-1], append(bytes.Clone(aad), 0)} {
		if _, err := d.Decrypt(ct, a); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("aad %q: got %v", a, err)
		}
	}
	if _, err := newKey(t).Decrypt(ct, aad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("other key: got %v", err)
	}
	_, err := d.Decrypt(ct[:3], aad)
	var se *Error
	if !errors.As(err, &se) || se.Op != "decrypt" || !strings.HasPrefix(err.Error(), "seal: ") {
		t.Fatalf("error shape: %#v", err)
	}
}

func TestZeroize(t *testing.T) {
	d := newKey(t)
	internal := d.key // same backing array
	ct := mustEncrypt(t, d, []byte("x"), nil)
	id := d.ID()
	if d.Zeroized() {
		t.Fatal("fresh key reports zeroized")
	}
	d.Zeroize()
	d.Zeroize() // idempotent
	if !d.Zeroized() {
		t.Fatal("not zeroized")
	}
	if !isZero(internal) || len(internal) != KeySize {
		t.Fatal("key bytes not overwritten")
	}
	if b := d.Bytes(); len(b) != KeySize || !isZero(b) {
		t.Fatal("Bytes after Zeroize not all zero")
	}
	if _, err := d.Encrypt([]byte("x"), nil); !errors.Is(err, ErrZeroized) {
		t.Fatalf("Encrypt: %v", err)
	}
	if _, err := d.Decrypt(ct, nil); !errors.Is(err, ErrZeroized) {
		t.Fatalf("Decrypt: %v", err)
	}
	if d.ID() != id {
		t.Fatal("ID changed after Zeroize")
	}
	if err := Save(filepath.Join(t.TempDir(), "dk"), NewPassphraseSealer([]byte("p")), d); !errors.Is(err, ErrZeroized) {
		t.Fatalf("Save: %v", err)
	}
}

func TestIDAndFromBytes(t *testing.T) {
	a, b := newKey(t), newKey(t)
	if a.ID() == b.ID() {
		t.Fatal("different keys, same ID")
	}
	if len(a.ID()) != 16 || !validKeyID(a.ID()) {
		t.Fatalf("ID format %q", a.ID())
	}
	raw := a.Bytes()
	c, err := FromBytes(raw)
	if err != nil || c.ID() != a.ID() {
		t.Fatalf("FromBytes: %v", err)
	}
	raw[0] ^= 1 // FromBytes copied
	if !bytes.Equal(mustDecrypt(t, c, mustEncrypt(t, a, []byte("m"), nil)), []byte("m")) {
		t.Fatal("cross decrypt")
	}
	// Known answer: key 0x01..0x20.
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = byte(i + 1)
	}
	kd, _ := FromBytes(k)
	if kd.ID() != "4fcda6816dc453f3" { // HMAC-SHA256(key, "coffer domain key id v1")[:8], computed independently
		t.Fatalf("known-answer ID = %s", kd.ID())
	}
	for _, bad := range [][]byte{nil, make([]byte, 31), make([]byte, 33), make([]byte, 32)} {
		if _, err := FromBytes(bad); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("FromBytes(len %d): %v", len(bad), err)
		}
	}
	if _, err := Generate(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("short reader accepted")
	}
	if _, err := Generate(bytes.NewReader(make([]byte, 32))); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("zero reader: %v", err)
	}
}

func mustDecrypt(t *testing.T, d *DomainKey, ct []byte) []byte {
	t.Helper()
	pt, err := d.Decrypt(ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

func TestNoSecretsInOutput(t *testing.T) {
	d := newKey(t)
	raw := d.Bytes()
	ps := NewPassphraseSealer([]byte("hunter2-secret"))
	ns, err := NewNodeKeySealer(filepath.Join(t.TempDir(), "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	nraw := ns.dk.Bytes()
	var buf bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		fmt.Fprintf(&buf, verb+"\n", d)
		fmt.Fprintf(&buf, verb+"\n", ps)
		fmt.Fprintf(&buf, verb+"\n", ns)
	}
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "dk", d)
	out := buf.String()
	for _, secret := range [][]byte{raw, nraw} {
		for _, enc := range []string{fmt.Sprintf("%x", secret), fmt.Sprintf("%X", secret), fmt.Sprint(secret), fmt.Sprint(secret[:4]), string(secret)} {
			if strings.Contains(out, enc) {
				t.Fatalf("secret leaked in output:\n%s", out)
			}
		}
	}
	if strings.Contains(out, "hunter2") || !strings.Contains(out, d.ID()) {
		t.Fatalf("bad output:\n%s", out)
	}
}

// testSealer is the conformance test every Sealer must pass.
func testSealer(t *testing.T, s Sealer, other Sealer) {
	t.Helper()
	if s.Name() == "" {
		t.Fatal("empty Name")
	}
	for _, n := range []int{1, KeySize, 100} {
		in := make([]byte, n)
		rand.Read(in)
		blob, err := s.Seal(in)
		if err != nil {
			t.Fatal(err)
		}
		if n >= 16 && bytes.Contains(blob, in) {
			t.Fatal("blob contains plaintext")
		}
		out, err := s.Unseal(blob)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip (%d bytes): %v", n, err)
		}
		blob2, _ := s.Seal(in)
		if bytes.Equal(blob, blob2) {
			t.Fatal("sealing is deterministic")
		}
	}
	in := make([]byte, KeySize)
	rand.Read(in)
	blob, err := s.Seal(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range blob {
		c := bytes.Clone(blob)
		c[i] ^= 0x80
		if _, err := s.Unseal(c); !errors.Is(err, ErrUnseal) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	for n := 0; n < len(blob); n += 1 + n/4 {
		if _, err := s.Unseal(blob[:n]); !errors.Is(err, ErrUnseal) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	garbage := make([]byte, 200)
	rand.Read(garbage)
	if _, err := s.Unseal(garbage); !errors.Is(err, ErrUnseal) {
		t.Fatalf("garbage: %v", err)
	}
	if other != nil {
		if _, err := other.Unseal(blob); !errors.Is(err, ErrUnseal) {
			t.Fatalf("other sealer unsealed our blob: %v", err)
		}
	}
	// Save/Load round trip with this sealer.
	path := filepath.Join(t.TempDir(), "domain.sealed")
	d := newKey(t)
	if err := Save(path, s, d); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	if err := CheckPermissions(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, s)
	if err != nil || got.ID() != d.ID() || !bytes.Equal(got.Bytes(), d.Bytes()) {
		t.Fatalf("Load: %v", err)
	}
	if other != nil {
		if _, err := Load(path, other); !errors.Is(err, ErrUnseal) {
			t.Fatalf("Load with other sealer: %v", err)
		}
	}
}

func TestNodeKeySealer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "node.key")
	s, err := NewNodeKeySealer(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != KeySize {
		t.Fatalf("node key file: %v %v", fi, err)
	}
	other, err := NewNodeKeySealer(filepath.Join(dir, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	testSealer(t, s, other)

	// Reopening uses the same key.
	blob, _ := s.Seal([]byte("dk"))
	s2, err := NewNodeKeySealer(path)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := s2.Unseal(blob); err != nil || string(out) != "dk" {
		t.Fatalf("reopened: %v", err)
	}
	// Malformed node key files.
	for _, content := range [][]byte{nil, make([]byte, 31), make([]byte, 33), make([]byte, 32)} {
		p := filepath.Join(dir, "bad.key")
		os.WriteFile(p, content, 0o600)
		if _, err := NewNodeKeySealer(p); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("node key len %d: %v", len(content), err)
		}
	}
	s.Zeroize()
	if _, err := s.Seal([]byte("x")); !errors.Is(err, ErrZeroized) {
		t.Fatalf("after zeroize: %v", err)
	}
}

func TestPassphraseSealer(t *testing.T) {
	s := NewPassphraseSealer([]byte("correct horse battery staple"))
	testSealer(t, s, NewPassphraseSealer([]byte("correct horse battery stapl3")))

	blob, _ := s.Seal([]byte("dk"))
	if blob[2] != scryptLogN {
		t.Fatalf("logN = %d", blob[2])
	}
	if _, err := NewPassphraseSealer(nil).Seal([]byte("dk")); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("empty passphrase Seal: %v", err)
	}
	if _, err := NewPassphraseSealer(nil).Unseal(blob); !errors.Is(err, ErrUnseal) {
		t.Fatalf("empty passphrase Unseal: %v", err)
	}
	// Absurd work factor is refused before running scrypt.
	c := bytes.Clone(blob)
	c[2] = 40
	if _, err := s.Unseal(c); !errors.Is(err, ErrUnseal) {
		t.Fatalf("huge N: %v", err)
	}
	// Passphrase is copied.
	p := []byte("pw")
	s2 := NewPassphraseSealer(p)
	blob2, _ := s2.Seal([]byte("dk"))
	clear(p)
	if _, err := s2.Unseal(blob2); err != nil {
		t.Fatal(err)
	}
	s2.Zeroize()
	if _, err := s2.Unseal(blob2); !errors.Is(err, ErrUnseal) {
		t.Fatal("zeroized sealer still unseals")
	}
}

func TestDefaultScryptParams(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	old := scryptLogN
	scryptLogN = 15
	defer func() { scryptLogN = old }()
	s := NewPassphraseSealer([]byte("pw"))
	blob, err := s.Seal([]byte("dk"))
	if err != nil || blob[2] != 15 {
		t.Fatal(err)
	}
	if out, err := s.Unseal(blob); err != nil || string(out) != "dk" {
		t.Fatal(err)
	}
}

func TestChainSealer(t *testing.T) {
	dir := t.TempDir()
	nk, err := NewNodeKeySealer(filepath.Join(dir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	c := Chain(nk, NewPassphraseSealer([]byte("pw")))
	if c.Name() != "node-key+passphrase" {
		t.Fatal(c.Name())
	}
	testSealer(t, c, Chain(nk, NewPassphraseSealer([]byte("pw2"))))
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	s := NewPassphraseSealer([]byte("pw"))
	_, err := Load(filepath.Join(dir, "missing"), s)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	var se *Error
	if !errors.As(err, &se) || se.Path == "" || se.Op != "load" {
		t.Fatalf("error shape: %#v", err)
	}

	path := filepath.Join(dir, "dk")
	d := newKey(t)
	if err := Save(path, s, d); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)

	// Overwrite keeps working (re-seal) and leaves no temp files.
	if err := Save(path, s, d); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("leftover files: %v", ents)
	}

	var f map[string]any
	json.Unmarshal(good, &f)
	mutate := func(k string, v any) []byte {
		m := map[string]any{}
		for kk, vv := range f {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	other := newKey(t)
	cases := map[string][]byte{
		"empty":       {},
		"garbage":     []byte("not json"),
		"truncated":   good[:len(good)/2],
		"trailing":    append(bytes.Clone(good), []byte(`{}`)...),
		"format":      mutate("format", "other"),
		"version":     mutate("version", 2),
		"sealer":      mutate("sealer", "node-key"),
		"no-sealer":   mutate("sealer", nil),
		"id-mismatch": mutate("domain_key_id", other.ID()),
		"id-bad":      mutate("domain_key_id", "XYZ"),
		"unknown":     mutate("extra", 1),
		"blob":        mutate("sealed", "AAAA"),
	}
	for name, content := range cases {
		os.WriteFile(path, content, 0o600)
		if _, err := Load(path, s); !errors.Is(err, ErrUnseal) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	os.WriteFile(path, good, 0o600)
	if _, err := Load(path, NewPassphraseSealer([]byte("wrong"))); !errors.Is(err, ErrUnseal) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	// Broad permissions: loads, CheckPermissions reports.
	os.Chmod(path, 0o644)
	if _, err := Load(path, s); err != nil {
		t.Fatal(err)
	}
	if err := CheckPermissions(path); !errors.Is(err, ErrInsecurePermissions) {
		t.Fatalf("CheckPermissions: %v", err)
	}
}

func TestErase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dk")
	if err := Save(path, NewPassphraseSealer([]byte("pw")), newKey(t)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	link := filepath.Join(dir, "link")
	if err := os.Link(path, link); err != nil {
		t.Skipf("hard links unsupported: %v", err)
	}
	if err := Erase(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file still exists: %v", err)
	}
	after, err := os.ReadFile(link)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || len(after) == 0 || !isZero(after) {
		t.Fatalf("content not zeroed: %d bytes, was %d", len(after), len(before))
	}
	if err := Erase(path); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if err := Erase(dir); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("directory: %v", err)
	}
}

func TestShamir(t *testing.T) {
	secret := make([]byte, KeySize)
	rand.Read(secret)
	const n, m = 5, 3
	shares, err := Split(secret, n, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(shares) != n {
		t.Fatal("share count")
	}
	count := 0
	// All subsets of every size.
	for mask := 1; mask < 1<<n; mask++ {
		var sub [][]byte
		for i := 0; i < n; i++ {
			if mask&(1<<i) != 0 {
				sub = append(sub, shares[i])
			}
		}
		got, err := Combine(sub)
		if err != nil {
			t.Fatal(err)
		}
		if len(sub) >= m {
			if !bytes.Equal(got, secret) {
				t.Fatalf("subset %05b did not recover", mask)
			}
			if len(sub) == m {
				count++
			}
		} else if bytes.Equal(got, secret) {
			t.Fatalf("subset %05b of %d < m shares recovered the secret", mask, len(sub))
		}
	}
	if count != 10 {
		t.Fatalf("C(5,3) = %d", count)
	}
	// Order does not matter.
	if got, _ := Combine([][]byte{shares[4], shares[0], shares[2]}); !bytes.Equal(got, secret) {
		t.Fatal("order")
	}
	// Errors.
	if _, err := Combine([][]byte{shares[0], shares[1], shares[0]}); !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := Combine([][]byte{shares[0], shares[1][:10]}); !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("lengths: %v", err)
	}
	if _, err := Combine(nil); !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("none: %v", err)
	}
	zx := bytes.Clone(shares[0])
	zx[len(zx)-1] = 0
	if _, err := Combine([][]byte{zx, shares[1]}); !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("x=0: %v", err)
	}
	for _, p := range [][2]int{{1, 2}, {3, 1}, {2, 3}, {256, 2}, {0, 0}, {3, 0}} {
		if _, err := Split(secret, p[0], p[1]); !errors.Is(err, ErrInvalidParams) {
			t.Fatalf("Split(n=%d,m=%d): %v", p[0], p[1], err)
		}
	}
	if _, err := Split(nil, 3, 2); !errors.Is(err, ErrInvalidParams) {
		t.Fatal("empty secret")
	}
	one, err := Split(secret, 1, 1)
	if err != nil || len(one) != 1 {
		t.Fatal(err)
	}
	if got, _ := Combine(one); !bytes.Equal(got, secret) {
		t.Fatal("1-of-1")
	}
	big, err := Split(secret, 255, 255)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Combine(big); !bytes.Equal(got, secret) {
		t.Fatal("255-of-255")
	}
	if got, _ := Combine(big[:254]); bytes.Equal(got, secret) {
		t.Fatal("254-of-255 recovered")
	}
}

func TestGF(t *testing.T) {
	// Against a slow reference multiplication.
	ref := func(a, b byte) byte {
		var p uint16
		for i := 0; i < 8; i++ {
			if b&(1<<i) != 0 {
				p ^= uint16(a) << i
			}
		}
		for i := 15; i >= 8; i-- {
			if p&(1<<i) != 0 {
				p ^= 0x11b << (i - 8)
			}
		}
		return byte(p)
	}
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			if gfMul(byte(a), byte(b)) != ref(byte(a), byte(b)) {
				t.Fatalf("gfMul(%d,%d)", a, b)
			}
		}
		if a != 0 && gfMul(byte(a), gfInv(byte(a))) != 1 {
			t.Fatalf("gfInv(%d)", a)
		}
	}
	if gfMul(0x53, 0xca) != 1 { // FIPS-197 example
		t.Fatal("AES field")
	}
}

func TestShareEncoding(t *testing.T) {
	d := newKey(t)
	raw := d.Bytes()
	shares, _ := Split(raw, 3, 2)
	for _, sh := range shares {
		enc := EncodeShare(sh, d.ID())
		if !strings.HasPrefix(enc, "coffer-share-v1:"+d.ID()+":") {
			t.Fatal(enc)
		}
		got, id, err := DecodeShare("  " + enc + "\n")
		if err != nil || id != d.ID() || !bytes.Equal(got, sh) {
			t.Fatalf("round trip: %v", err)
		}
		// Every single-character substitution is detected.
		alphabet := "0123456789abcdefABCDEF-_:xyzZ"
		for i := 0; i < len(enc); i++ {
			for _, c := range []byte(alphabet) {
				if enc[i] == c {
					continue
				}
				typo := enc[:i] + string(c) + enc[i+1:]
				_, _, err := DecodeShare(typo)
				if !errors.Is(err, ErrInvalidShare) {
					t.Fatalf("typo at %d (%q) not detected", i, c)
				}
				if strings.Contains(err.Error(), typo[16:]) {
					t.Fatal("error echoes input")
				}
			}
		}
		// Deletion and insertion too.
		if _, _, err := DecodeShare(enc[:20] + enc[21:]); !errors.Is(err, ErrInvalidShare) {
			t.Fatal("deletion")
		}
		if _, _, err := DecodeShare(enc[:20] + "A" + enc[20:]); !errors.Is(err, ErrInvalidShare) {
			t.Fatal("insertion")
		}
	}
	// Checksum typo is classified.
	enc := EncodeShare(shares[0], d.ID())
	typo := []byte(enc)
	typo[30] ^= 0x01
	if _, _, err := DecodeShare(string(typo)); !errors.Is(err, ErrShareChecksum) || !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("checksum error kind: %v", err)
	}
	// Decoded shares recombine into the domain key with the right ID.
	var dec [][]byte
	for _, sh := range shares[1:] {
		b, _, err := DecodeShare(EncodeShare(sh, d.ID()))
		if err != nil {
			t.Fatal(err)
		}
		dec = append(dec, b)
	}
	rec, err := Combine(dec)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := FromBytes(rec)
	if err != nil || dk.ID() != d.ID() {
		t.Fatal("recombined key differs")
	}
	// Well-checksummed but invalid contents.
	for _, body := range []string{
		"coffer-share-v2:" + d.ID() + ":1:AAAA",
		"coffer-share-v1:" + d.ID() + ":0:AAAA",
		"coffer-share-v1:" + d.ID() + ":256:AAAA",
		"coffer-share-v1:" + d.ID() + ":01:AAAA",
		"coffer-share-v1:" + d.ID() + ":1:",
		"coffer-share-v1:" + d.ID() + ":1:AA=A",
		"coffer-share-v1:nothex:1:AAAA",
		"coffer-share-v1:" + d.ID() + ":1:AAAA:extra",
	} {
		if _, _, err := DecodeShare(body + ":" + shareChecksum(body)); !errors.Is(err, ErrInvalidShare) {
			t.Fatalf("%q accepted", body)
		}
	}
}

func TestConcurrentUseAndZeroize(t *testing.T) {
	d := newKey(t)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				ct, err := d.Encrypt([]byte("m"), []byte("a"))
				if err != nil {
					if !errors.Is(err, ErrZeroized) {
						t.Error(err)
					}
					return
				}
				if _, err := d.Decrypt(ct, []byte("a")); err != nil && !errors.Is(err, ErrZeroized) {
					t.Error(err)
					return
				}
			}
		}()
	}
	d.Zeroize()
	for g := 0; g < 4; g++ {
		<-done
	}
}
