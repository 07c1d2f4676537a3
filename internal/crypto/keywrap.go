package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"math"
)

// defaultIV is the RFC 3394 §2.2.3.1 default initial value.
var defaultIV = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// kwpMagic is the constant high half of the RFC 5649 §3 alternative initial value.
var kwpMagic = [4]byte{0xA6, 0x59, 0x59, 0xA6}

// maxKWPLen is the largest plaintext RFC 5649 can wrap (32-bit MLI, §3).
const maxKWPLen = math.MaxUint32

func newKEK(kek []byte) (cipher.Block, error) {
	switch len(kek) {
	case 16, 24, 32:
	default:
		return nil, ErrKEKSize
	}
	return aes.NewCipher(kek)
}

// wrapCore is W(S) of RFC 3394 §2.2.1 (index-based form) applied in place.
// buf[0:8] holds the initial value A, buf[8:] the n >= 2 plaintext blocks R.
func wrapCore(b cipher.Block, buf []byte) {
	n := len(buf)/8 - 1
	var blk [16]byte
	copy(blk[:8], buf[:8])
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			r := buf[8*i : 8*i+8]
			copy(blk[8:], r)
			b.Encrypt(blk[:], blk[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(blk[:8], binary.BigEndian.Uint64(blk[:8])^t)
			copy(r, blk[8:])
		}
	}
	copy(buf[:8], blk[:8])
	clear(blk[:])
}

// unwrapCore is W^-1(C) of RFC 3394 §2.2.2 (index-based form) applied in
// place. On return buf[0:8] holds the recovered A and buf[8:] the plaintext.
func unwrapCore(b cipher.Block, buf []byte) {
	n := len(buf)/8 - 1
	var blk [16]byte
	copy(blk[:8], buf[:8])
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			r := buf[8*i : 8*i+8]
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(blk[:8], binary.BigEndian.Uint64(blk[:8])^t)
			copy(blk[8:], r)
			b.Decrypt(blk[:], blk[:])
			copy(r, blk[8:])
		}
	}
	copy(buf[:8], blk[:8])
	clear(blk[:])
}

// Wrap wraps plaintext with kek per RFC 3394 §2.2.1 using the default
// initial value (§2.2.3.1). plaintext must be a multiple of 8 bytes and at
// least 16 bytes; the result is 8 bytes longer.
func Wrap(kek, plaintext []byte) ([]byte, error) {
	b, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	if len(plaintext) < 16 || len(plaintext)%8 != 0 {
		return nil, ErrWrapLength
	}
	out := make([]byte, 8+len(plaintext))
	copy(out, defaultIV[:])
	copy(out[8:], plaintext)
	wrapCore(b, out)
	return out, nil
}

// Unwrap unwraps ciphertext with kek per RFC 3394 §2.2.2 and checks the
// default initial value (§2.2.3). ciphertext must be a multiple of 8 bytes
// and at least 24 bytes. Integrity failures return [ErrUnwrap].
func Unwrap(kek, ciphertext []byte) ([]byte, error) {
	b, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) < 24 || len(ciphertext)%8 != 0 {
		return nil, ErrUnwrapLength
	}
	buf := make([]byte, len(ciphertext))
	copy(buf, ciphertext)
	unwrapCore(b, buf)
	if subtle.ConstantTimeCompare(buf[:8], defaultIV[:]) != 1 {
		clear(buf)
		return nil, ErrUnwrap
	}
	return buf[8:], nil
}

// WrapPad wraps plaintext (1 to 2^32-1 bytes) with kek per RFC 5649 §4.1.
// Plaintexts of at most 8 bytes are encrypted as a single AES block.
func WrapPad(kek, plaintext []byte) ([]byte, error) {
	b, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	if len(plaintext) == 0 || uint64(len(plaintext)) > maxKWPLen {
		return nil, ErrWrapLength
	}
	padded := (len(plaintext) + 7) &^ 7
	out := make([]byte, 8+padded)
	copy(out, kwpMagic[:])
	binary.BigEndian.PutUint32(out[4:8], uint32(len(plaintext)))
	copy(out[8:], plaintext)
	if padded == 8 {
		b.Encrypt(out, out)
	} else {
		wrapCore(b, out)
	}
	return out, nil
}

// ctLessOrEq returns 1 if x <= y and 0 otherwise, in constant time, for
// x, y < 2^63.
func ctLessOrEq(x, y uint64) int {
	return int(1 ^ ((y - x) >> 63))
}

// UnwrapPad unwraps ciphertext with kek per RFC 5649 §4.2, verifying the
// alternative initial value, that the MLI lies in (8*(n-1), 8*n] and that
// all padding bytes are zero (RFC 5649 §3). Failures return [ErrUnwrap].
func UnwrapPad(kek, ciphertext []byte) ([]byte, error) {
	b, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) < 16 || len(ciphertext)%8 != 0 || uint64(len(ciphertext)) > maxKWPLen+15 {
		return nil, ErrUnwrapLength
	}
	buf := make([]byte, len(ciphertext))
	copy(buf, ciphertext)
	if len(buf) == 16 {
		b.Decrypt(buf, buf)
	} else {
		unwrapCore(b, buf)
	}
	ok := subtle.ConstantTimeCompare(buf[:4], kwpMagic[:])
	mli := uint64(binary.BigEndian.Uint32(buf[4:8]))
	plen := uint64(len(buf) - 8)
	ok &= ctLessOrEq(plen-7, mli) & ctLessOrEq(mli, plen)
	// Every byte of the last block at an offset >= MLI must be zero.
	var acc byte
	for p := plen - 8; p < plen; p++ {
		mask := byte(-ctLessOrEq(mli, p))
		acc |= mask & buf[8+p]
	}
	ok &= subtle.ConstantTimeByteEq(acc, 0)
	if ok != 1 {
		clear(buf)
		return nil, ErrUnwrap
	}
	return buf[8 : 8+mli], nil
}

// WrapPKCS5 pads plaintext with PKCS #5 padding (RFC 8018 §6.1.1 step 4:
// 1 to 8 bytes, each equal to the pad length) and wraps it per RFC 3394,
// like AWS CloudHSM's CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD. plaintext must be
// at least 8 bytes so that the padded input has the two blocks RFC 3394
// requires.
func WrapPKCS5(kek, plaintext []byte) ([]byte, error) {
	b, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	if len(plaintext) < 8 {
		return nil, ErrWrapLength
	}
	pad := 8 - len(plaintext)%8
	out := make([]byte, 8+len(plaintext)+pad)
	copy(out, defaultIV[:])
	copy(out[8:], plaintext)
	for i := 8 + len(plaintext); i < len(out); i++ {
		out[i] = byte(pad)
	}
	wrapCore(b, out)
	return out, nil
}

// UnwrapPKCS5 reverses [WrapPKCS5]: RFC 3394 unwrap followed by a
// constant-time check and removal of the PKCS #5 padding. Failures return
// [ErrUnwrap].
func UnwrapPKCS5(kek, ciphertext []byte) ([]byte, error) {
	buf, err := Unwrap(kek, ciphertext)
	if err != nil {
		return nil, err
	}
	n := len(buf)
	pad := buf[n-1]
	ok := subtle.ConstantTimeLessOrEq(1, int(pad)) & subtle.ConstantTimeLessOrEq(int(pad), 8)
	var acc byte
	for i := 1; i <= 8; i++ {
		mask := byte(-subtle.ConstantTimeLessOrEq(i, int(pad)))
		acc |= mask & (buf[n-i] ^ pad)
	}
	ok &= subtle.ConstantTimeByteEq(acc, 0)
	if ok != 1 {
		clear(buf)
		return nil, ErrUnwrap
	}
	return buf[:n-int(pad)], nil
}
