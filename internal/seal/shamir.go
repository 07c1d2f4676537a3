package seal

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1. Multiplication and
// inversion are branch-free and table-free, so they run in constant time
// with respect to the (secret) operands.

func gfMul(a, b byte) byte {
	var p byte
	for i := 0; i < 8; i++ {
		p ^= a & -(b & 1)                 // add a if low bit of b is set
		a = (a << 1) ^ (0x1b & -(a >> 7)) // multiply a by x, reduce
		b >>= 1
	}
	return p
}

// gfInv returns a^254 = a^-1 (and 0 for 0).
func gfInv(a byte) byte {
	a2 := gfMul(a, a)    // a^2
	a4 := gfMul(a2, a2)  // a^4
	a8 := gfMul(a4, a4)  // a^8
	a16 := gfMul(a8, a8) // a^16
	a32 := gfMul(a16, a16)
	a64 := gfMul(a32, a32)
	a128 := gfMul(a64, a64)
	// 254 = 128+64+32+16+8+4+2
	r := gfMul(a128, a64)
	r = gfMul(r, a32)
	r = gfMul(r, a16)
	r = gfMul(r, a8)
	r = gfMul(r, a4)
	return gfMul(r, a2)
}

// Split splits secret into n shares such that any m of them recover it
// with Combine. Each share is len(secret)+1 bytes: the polynomial values
// followed by the share's x coordinate (1..n). It requires a non-empty
// secret and 2 <= m <= n <= 255; as a special case m == n == 1 returns one
// share that is the secret itself followed by x = 1 (no splitting, for
// single-custodian setups). Coefficients are uniformly random (crypto/rand),
// so fewer than m shares reveal nothing about the secret. Errors wrap
// ErrInvalidParams. The caller should zero secret and the shares when done.
func Split(secret []byte, n, m int) ([][]byte, error) {
	const op = "split"
	switch {
	case len(secret) == 0:
		return nil, newErr(op, ErrInvalidParams, detail("empty secret"))
	case n == 1 && m == 1:
		share := make([]byte, len(secret)+1)
		copy(share, secret)
		share[len(secret)] = 1
		return [][]byte{share}, nil
	case m < 2 || m > n || n > 255:
		return nil, newErr(op, ErrInvalidParams, detail(fmt.Sprintf("need 2 <= m <= n <= 255, got n=%d m=%d", n, m)))
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, len(secret)+1)
		shares[i][len(secret)] = byte(i + 1)
	}
	coeffs := make([]byte, m) // coeffs[0] = secret byte, rest random
	defer clear(coeffs)
	for j, s := range secret {
		coeffs[0] = s
		rand.Read(coeffs[1:])
		for _, share := range shares {
			x := share[len(secret)]
			// Horner: y = c0 + x(c1 + x(c2 + ...))
			var y byte
			for k := m - 1; k >= 0; k-- {
				y = gfMul(y, x) ^ coeffs[k]
			}
			share[j] = y
		}
	}
	return shares, nil
}

// Combine recovers the secret from shares produced by Split. All shares
// must have the same length (at least 2) and distinct, non-zero x
// coordinates (ErrInvalidShare otherwise). Combine cannot know the
// threshold: with fewer than m shares, or with a share from another split,
// it returns wrong bytes without error, so verify the result (for a domain
// key: FromBytes and compare ID with the expected domain key ID).
func Combine(shares [][]byte) ([]byte, error) {
	const op = "combine"
	if len(shares) == 0 {
		return nil, newErr(op, ErrInvalidShare, detail("no shares"))
	}
	if len(shares) > 255 {
		return nil, newErr(op, ErrInvalidShare, detail("too many shares"))
	}
	l := len(shares[0])
	if l < 2 {
		return nil, newErr(op, ErrInvalidShare, detail("share too short"))
	}
	var seen [256]bool
	xs := make([]byte, len(shares))
	for i, s := range shares {
		if len(s) != l {
			return nil, newErr(op, ErrInvalidShare, detail("shares have different lengths"))
		}
		x := s[l-1]
		if x == 0 {
			return nil, newErr(op, ErrInvalidShare, detail("share has x = 0"))
		}
		if seen[x] {
			return nil, newErr(op, ErrInvalidShare, detail(fmt.Sprintf("duplicate share x = %d", x)))
		}
		seen[x] = true
		xs[i] = x
	}
	// Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_i - x_j), where
	// subtraction is XOR. The x coordinates are public.
	basis := make([]byte, len(shares))
	for i := range xs {
		num, den := byte(1), byte(1)
		for j := range xs {
			if j != i {
				num = gfMul(num, xs[j])
				den = gfMul(den, xs[i]^xs[j])
			}
		}
		basis[i] = gfMul(num, gfInv(den))
	}
	secret := make([]byte, l-1)
	for k := range secret {
		var acc byte
		for i, s := range shares {
			acc ^= gfMul(s[k], basis[i])
		}
		secret[k] = acc
	}
	return secret, nil
}

const sharePrefix = "coffer-share-v1"

var shareB64 = base64.RawURLEncoding.Strict()

// EncodeShare returns the text form of a share for a custodian:
//
//	coffer-share-v1:<dkID>:<x>:<base64url(y-values)>:<crc32>
//
// where x is the share's x coordinate in decimal, base64url has no padding
// and crc32 is the 8 lowercase hex digits of the CRC-32 (IEEE) of
// everything before the last colon. dkID must be a DomainKey.ID (16
// lowercase hex digits) and share a share from Split; otherwise the result
// is rejected by DecodeShare. The string is as secret as the share.
func EncodeShare(share []byte, dkID string) string {
	var x byte
	var ys []byte
	if len(share) > 0 {
		x, ys = share[len(share)-1], share[:len(share)-1]
	}
	body := sharePrefix + ":" + dkID + ":" + strconv.Itoa(int(x)) + ":" + shareB64.EncodeToString(ys)
	return body + ":" + shareChecksum(body)
}

func shareChecksum(body string) string {
	return fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(body)))
}

// DecodeShare parses a share encoded by EncodeShare (surrounding white
// space is ignored) and returns the share bytes (y-values followed by x)
// and the domain key ID. Errors wrap ErrInvalidShare, and also
// ErrShareChecksum when the checksum does not match, which catches any
// single-character typo. Errors never echo the input.
func DecodeShare(s string) (share []byte, dkID string, err error) {
	const op = "decode share"
	bad := func(kind error, msg string) ([]byte, string, error) {
		return nil, "", &Error{Op: op, Kind: ErrInvalidShare, Err: kindOrDetail(kind, msg)}
	}
	s = strings.TrimSpace(s)
	cut := strings.LastIndexByte(s, ':')
	if cut < 0 {
		return bad(nil, "not a coffer share")
	}
	body, sum := s[:cut], s[cut+1:]
	if subtle.ConstantTimeCompare([]byte(sum), []byte(shareChecksum(body))) != 1 {
		return bad(ErrShareChecksum, "")
	}
	parts := strings.Split(body, ":")
	if len(parts) != 4 || parts[0] != sharePrefix {
		return bad(nil, "not a coffer-share-v1 share")
	}
	if !validKeyID(parts[1]) {
		return bad(nil, "invalid domain key ID")
	}
	x, err := strconv.Atoi(parts[2])
	if err != nil || x < 1 || x > 255 || strconv.Itoa(x) != parts[2] {
		return bad(nil, "invalid x coordinate")
	}
	buf := make([]byte, shareB64.DecodedLen(len(parts[3]))+1)
	n, err := shareB64.Decode(buf, []byte(parts[3]))
	if err != nil || n == 0 {
		clear(buf)
		return bad(nil, "invalid share data")
	}
	share = buf[:n+1]
	share[n] = byte(x)
	return share, parts[1], nil
}

func kindOrDetail(kind error, msg string) error {
	if kind != nil {
		return kind
	}
	return detail(msg)
}
