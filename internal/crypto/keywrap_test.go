package crypto

import (
	"bytes"
	stdcrypto "crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const kek256 = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"

// RFC 3394 §4.1–§4.6.
var rfc3394Vectors = []struct{ sec, kek, data, ct string }{
	{"4.1", kek256[:32], "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"},
	{"4.2", kek256[:48], "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D"},
	{"4.3", kek256, "00112233445566778899AABBCCDDEEFF", "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7"},
	{"4.4", kek256[:48], "00112233445566778899AABBCCDDEEFF0001020304050607", "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2"},
	{"4.5", kek256, "00112233445566778899AABBCCDDEEFF0001020304050607", "A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1"},
	{"4.6", kek256, "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"},
}

// RFC 5649 §6.
var rfc5649Vectors = []struct{ name, kek, data, ct string }{
	{"20 octets", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "c37b7e6492584340 bed1220780894115 5068f738", "138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a"},
	{"7 octets", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f"},
}

func TestRFC3394Vectors(t *testing.T) {
	for _, v := range rfc3394Vectors {
		kek, data, ct := unhex(t, v.kek), unhex(t, v.data), unhex(t, v.ct)
		got, err := Wrap(kek, data)
		if err != nil || !bytes.Equal(got, ct) {
			t.Errorf("§%s Wrap = %x, %v; want %x", v.sec, got, err, ct)
		}
		pt, err := Unwrap(kek, ct)
		if err != nil || !bytes.Equal(pt, data) {
			t.Errorf("§%s Unwrap = %x, %v", v.sec, pt, err)
		}
	}
}

func TestRFC5649Vectors(t *testing.T) {
	for _, v := range rfc5649Vectors {
		kek, data, ct := unhex(t, v.kek), unhex(t, v.data), unhex(t, v.ct)
		got, err := WrapPad(kek, data)
		if err != nil || !bytes.Equal(got, ct) {
			t.Errorf("%s WrapPad = %x, %v; want %x", v.name, got, err, ct)
		}
		pt, err := UnwrapPad(kek, ct)
		if err != nil || !bytes.Equal(pt, data) {
			t.Errorf("%s UnwrapPad = %x, %v", v.name, pt, err)
		}
	}
}

type wrapPair struct {
	name   string
	wrap   func(k, p []byte) ([]byte, error)
	unwrap func(k, c []byte) ([]byte, error)
	minLen int // smallest plaintext accepted
	mult8  bool
}

var wrapPairs = []wrapPair{
	{"KW", Wrap, Unwrap, 16, true},
	{"KWP", WrapPad, UnwrapPad, 1, false},
	{"PKCS5", WrapPKCS5, UnwrapPKCS5, 8, false},
}

func TestWrapRoundTrip(t *testing.T) {
	for _, p := range wrapPairs {
		for _, kl := range []int{16, 24, 32} {
			kek := make([]byte, kl)
			rand.Read(kek)
			for n := 0; n <= 80; n++ {
				pt := make([]byte, n)
				rand.Read(pt)
				ct, err := p.wrap(kek, pt)
				valid := n >= p.minLen && (!p.mult8 || n%8 == 0)
				if !valid {
					if !errors.Is(err, ErrWrapLength) {
						t.Errorf("%s len %d: err = %v, want ErrWrapLength", p.name, n, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s len %d: %v", p.name, n, err)
				}
				if len(ct)%8 != 0 {
					t.Errorf("%s len %d: ciphertext length %d", p.name, n, len(ct))
				}
				got, err := p.unwrap(kek, ct)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("%s len %d: round trip failed: %v", p.name, n, err)
				}
			}
		}
	}
}

func TestPKCS5PadLength(t *testing.T) {
	kek := make([]byte, 16)
	for n := 8; n <= 32; n++ {
		ct, err := WrapPKCS5(kek, make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		pad := 8 - n%8 // always 1..8
		if want := 8 + n + pad; len(ct) != want {
			t.Errorf("len %d: ciphertext %d bytes, want %d", n, len(ct), want)
		}
	}
}

// TestUnwrapPKCS5BadPadding wraps (with plain RFC 3394) blocks whose last
// bytes are not valid PKCS #5 padding; UnwrapPKCS5 must reject them.
func TestUnwrapPKCS5BadPadding(t *testing.T) {
	kek := make([]byte, 16)
	for _, tail := range []string{
		"0000000000000000", // pad 0
		"0909090909090909", // pad 9
		"FFFFFFFFFFFFFFFF", // pad 255
		"0000000000000102", // pad 2, wrong byte
		"0808080808080807", // pad 7, wrong byte
		"0708080808080808", // pad 8, first byte wrong
	} {
		pt := append(make([]byte, 8), unhex(t, tail)...)
		ct, err := Wrap(kek, pt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := UnwrapPKCS5(kek, ct); !errors.Is(err, ErrUnwrap) {
			t.Errorf("tail %s: UnwrapPKCS5 = %x, %v; want ErrUnwrap", tail, got, err)
		}
	}
	// Valid: pad 8 at full block, and pad 1.
	for _, tail := range []string{"0808080808080808", "0000000000000001"} {
		pt := append(make([]byte, 8), unhex(t, tail)...)
		ct, _ := Wrap(kek, pt)
		if _, err := UnwrapPKCS5(kek, ct); err != nil {
			t.Errorf("tail %s: %v", tail, err)
		}
	}
}

// TestUnwrapPadChecks builds RFC 5649 ciphertexts with a bad AIV, MLI or
// nonzero padding (using the unpadded RFC 3394 core) and checks rejection.
func TestUnwrapPadChecks(t *testing.T) {
	kek := make([]byte, 16)
	b, _ := newKEK(kek)
	mk := func(aiv string, body string) []byte {
		buf := append(unhex(t, aiv), unhex(t, body)...)
		if len(buf) == 16 {
			b.Encrypt(buf, buf)
		} else {
			wrapCore(b, buf)
		}
		return buf
	}
	cases := []struct {
		name, aiv, body string
		ok              bool
	}{
		{"valid 9 bytes", "A65959A600000009", "1111111111111111 1100000000000000", true},
		{"valid 16 bytes", "A65959A600000010", "1111111111111111 1111111111111111", true},
		{"valid 1 byte", "A65959A600000001", "1100000000000000", true},
		{"bad magic", "A65959A700000009", "1111111111111111 1100000000000000", false},
		{"default IV", "A6A6A6A6A6A6A6A6", "1111111111111111 1111111111111111", false},
		{"MLI 0", "A65959A600000000", "0000000000000000", false},
		{"MLI too small", "A65959A600000008", "1111111111111111 0000000000000000", false},
		{"MLI too large", "A65959A600000011", "1111111111111111 1111111111111111", false},
		{"MLI huge", "A65959A6FFFFFFFF", "1111111111111111 1111111111111111", false},
		{"MLI 9 single block", "A65959A600000009", "1111111111111111", false},
		{"nonzero padding", "A65959A600000009", "1111111111111111 1100000000000001", false},
		{"nonzero padding first", "A65959A600000009", "1111111111111111 1180000000000000", false},
		{"nonzero padding 1-block", "A65959A600000007", "1111111111111101", false},
	}
	for _, c := range cases {
		pt, err := UnwrapPad(kek, mk(c.aiv, c.body))
		if c.ok != (err == nil) {
			t.Errorf("%s: UnwrapPad = %x, %v", c.name, pt, err)
		}
		if !c.ok && !errors.Is(err, ErrUnwrap) {
			t.Errorf("%s: err = %v, want ErrUnwrap", c.name, err)
		}
	}
}

// TestUnwrapMalformed feeds every unwrap function short, misaligned,
// bit-flipped and wrong-KEK inputs: all must error and none may panic.
func TestUnwrapMalformed(t *testing.T) {
	kek := unhex(t, kek256)
	for _, p := range wrapPairs {
		pt := bytes.Repeat([]byte{0x5a}, 24)
		ct, err := p.wrap(kek, pt)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(ct); n++ {
			if _, err := p.unwrap(kek, ct[:n]); err == nil {
				t.Errorf("%s: truncated to %d accepted", p.name, n)
			}
		}
		if _, err := p.unwrap(kek, append(bytes.Clone(ct), 0)); err == nil {
			t.Errorf("%s: extra byte accepted", p.name)
		}
		for i := 0; i < 8*len(ct); i++ {
			bad := bytes.Clone(ct)
			bad[i/8] ^= 1 << (i % 8)
			if _, err := p.unwrap(kek, bad); !errors.Is(err, ErrUnwrap) {
				t.Fatalf("%s: bit %d flipped: err = %v", p.name, i, err)
			}
		}
		wrongKEK := bytes.Clone(kek)
		wrongKEK[0] ^= 1
		if _, err := p.unwrap(wrongKEK, ct); !errors.Is(err, ErrUnwrap) {
			t.Errorf("%s: wrong KEK: err = %v", p.name, err)
		}
		for _, kl := range []int{0, 8, 15, 17, 31, 33, 64} {
			if _, err := p.wrap(make([]byte, kl), pt); !errors.Is(err, ErrKEKSize) {
				t.Errorf("%s: KEK %d bytes: wrap err = %v", p.name, kl, err)
			}
			if _, err := p.unwrap(make([]byte, kl), ct); !errors.Is(err, ErrKEKSize) {
				t.Errorf("%s: KEK %d bytes: unwrap err = %v", p.name, kl, err)
			}
		}
		if _, err := p.unwrap(kek, nil); err == nil {
			t.Errorf("%s: nil accepted", p.name)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	for _, err := range []error{ErrKEKSize, ErrWrapLength, ErrUnwrapLength, ErrUnwrap, ErrUnsupportedKey,
		ErrUnsupportedAlg, ErrKeyAlgMismatch, ErrDigestLength, ErrVerify, ErrUnsupportedCurve, ErrCurveMismatch,
		ErrInvalidPublicKey, ErrInvalidPrivateKey, ErrKeyEncoding, ErrPairwise, ErrPasswordHashFormat,
		ErrPasswordHashParams, ErrKATMismatch} {
		if !strings.HasPrefix(err.Error(), "crypto: ") {
			t.Errorf("%q lacks the crypto: prefix", err)
		}
	}
	if ErrUnwrap.Error() != "crypto: key unwrap failed: integrity check" {
		t.Error(ErrUnwrap)
	}
}

func TestRSAAES(t *testing.T) {
	priv := testRSAKey(t)
	key := bytes.Repeat([]byte{0x42}, 32)
	for _, h := range []stdcrypto.Hash{stdcrypto.SHA1, stdcrypto.SHA256} {
		for _, bits := range []int{128, 192, 256} {
			w, err := WrapRSAAES(rand.Reader, &priv.PublicKey, h, bits, key)
			if err != nil {
				t.Fatal(err)
			}
			if want := priv.Size() + 8 + len(key); len(w) != want {
				t.Errorf("len = %d, want %d", len(w), want)
			}
			got, err := UnwrapRSAAES(priv, h, w)
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("%v/%d: %x, %v", h, bits, got, err)
			}
			// Flipping any region must fail with ErrUnwrap.
			for _, i := range []int{0, priv.Size() - 1, priv.Size(), len(w) - 1} {
				bad := bytes.Clone(w)
				bad[i] ^= 1
				if _, err := UnwrapRSAAES(priv, h, bad); !errors.Is(err, ErrUnwrap) {
					t.Errorf("flip %d: err = %v", i, err)
				}
			}
			// Wrong hash.
			other := stdcrypto.SHA256
			if h == stdcrypto.SHA256 {
				other = stdcrypto.SHA1
			}
			if _, err := UnwrapRSAAES(priv, other, w); !errors.Is(err, ErrUnwrap) {
				t.Errorf("wrong hash: err = %v", err)
			}
			if _, err := UnwrapRSAAES(priv, h, w[:priv.Size()+8]); !errors.Is(err, ErrUnwrapLength) {
				t.Errorf("short: err = %v", err)
			}
		}
	}
	// Interoperability: decode the layout by hand (OAEP then RFC 5649).
	w, _ := WrapRSAAES(nil, &priv.PublicKey, stdcrypto.SHA256, 256, key)
	eph, err := rsa.DecryptOAEP(stdcrypto.SHA256.New(), nil, priv, w[:priv.Size()], nil)
	if err != nil || len(eph) != 32 {
		t.Fatalf("ephemeral key: %d bytes, %v", len(eph), err)
	}
	if got, err := UnwrapPad(eph, w[priv.Size():]); err != nil || !bytes.Equal(got, key) {
		t.Fatal("layout mismatch")
	}
	if _, err := WrapRSAAES(nil, &priv.PublicKey, stdcrypto.SHA256, 100, key); err == nil {
		t.Error("aesKeyBits 100 accepted")
	}
	if _, err := WrapRSAAES(nil, &priv.PublicKey, stdcrypto.MD5, 256, key); err == nil {
		t.Error("MD5 accepted")
	}
	if _, err := WrapRSAAES(nil, nil, stdcrypto.SHA256, 256, key); err == nil {
		t.Error("nil key accepted")
	}
}
