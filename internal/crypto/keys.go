package crypto

import (
	"bytes"
	stdcrypto "crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Curve names accepted by [GenerateEC] and returned by [CurveOf].
const (
	CurveP256      = "P-256"
	CurveP384      = "P-384"
	CurveP521      = "P-521"
	CurveSecp256k1 = "secp256k1"
)

var (
	// oidECPublicKey is id-ecPublicKey, RFC 5480 §2.1.1.
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	// oidSecp256k1 is secp256k1, SEC 2 §A.2.1 (certicom-arc 0 10).
	oidSecp256k1 = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
)

// pkcs8 is PrivateKeyInfo, RFC 5208 §5.
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
	// Attributes are not used and rejected.
}

// ecPrivateKey is ECPrivateKey, RFC 5915 §3.
type ecPrivateKey struct {
	Version       int
	PrivateKey    []byte
	NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey     asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// spki is SubjectPublicKeyInfo, RFC 5280 §4.1.
type spki struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

func secp256k1AlgID() pkix.AlgorithmIdentifier {
	params, _ := asn1.Marshal(oidSecp256k1) // cannot fail for a constant OID
	return pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}}
}

// isSecp256k1AlgID reports whether id is id-ecPublicKey with namedCurve secp256k1.
func isSecp256k1AlgID(id pkix.AlgorithmIdentifier) bool {
	if !id.Algorithm.Equal(oidECPublicKey) {
		return false
	}
	var curve asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(id.Parameters.FullBytes, &curve)
	return err == nil && len(rest) == 0 && curve.Equal(oidSecp256k1)
}

// PublicKey returns the public key of priv for every supported private key
// type (*ecdsa.PrivateKey, *secp256k1.PrivateKey, *rsa.PrivateKey,
// ed25519.PrivateKey, *ecdh.PrivateKey), or nil.
func PublicKey(priv stdcrypto.PrivateKey) stdcrypto.PublicKey {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if k != nil {
			return &k.PublicKey
		}
	case *secp256k1.PrivateKey:
		if k != nil {
			return k.PubKey()
		}
	case *rsa.PrivateKey:
		if k != nil {
			return &k.PublicKey
		}
	case ed25519.PrivateKey:
		if len(k) == ed25519.PrivateKeySize {
			return k.Public()
		}
	case *ecdh.PrivateKey:
		if k != nil {
			return k.PublicKey()
		}
	}
	return nil
}

// MarshalPKCS8 encodes priv as PKCS #8 PrivateKeyInfo (RFC 5208 §5). For
// secp256k1 the algorithm is id-ecPublicKey with namedCurve 1.3.132.0.10
// and the key is a SEC 1 ECPrivateKey (RFC 5915 §3) including the public key.
func MarshalPKCS8(priv stdcrypto.PrivateKey) ([]byte, error) {
	switch k := priv.(type) {
	case *secp256k1.PrivateKey:
		if k == nil || k.Key.IsZero() {
			return nil, ErrInvalidPrivateKey
		}
		d := k.Key.Bytes()
		defer clear(d[:])
		pub := k.PubKey().SerializeUncompressed()
		inner, err := asn1.Marshal(ecPrivateKey{
			Version:    1,
			PrivateKey: d[:],
			PublicKey:  asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)},
		})
		if err != nil {
			return nil, err
		}
		defer clear(inner)
		return asn1.Marshal(pkcs8{Version: 0, Algo: secp256k1AlgID(), PrivateKey: inner})
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
		return x509.MarshalPKCS8PrivateKey(k)
	}
	return nil, ErrUnsupportedKey
}

// ParsePKCS8 decodes a PKCS #8 PrivateKeyInfo. It returns *ecdsa.PrivateKey
// (P-256/384/521), *secp256k1.PrivateKey, *rsa.PrivateKey or
// ed25519.PrivateKey; other key types are rejected with [ErrUnsupportedKey]
// and other curves with [ErrUnsupportedCurve]. For secp256k1 the scalar
// must be in [1, n-1] and an embedded public key must match it.
func ParsePKCS8(der []byte) (stdcrypto.PrivateKey, error) {
	var p pkcs8
	rest, err := asn1.Unmarshal(der, &p)
	if err != nil || len(rest) != 0 {
		return nil, ErrKeyEncoding
	}
	if isSecp256k1AlgID(p.Algo) {
		if p.Version != 0 {
			return nil, ErrKeyEncoding
		}
		return parseSecp256k1ECPrivateKey(p.PrivateKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, ErrKeyEncoding
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if CurveOf(k) == "" {
			return nil, ErrUnsupportedCurve
		}
		return key, nil
	case *rsa.PrivateKey, ed25519.PrivateKey:
		return key, nil
	}
	return nil, ErrUnsupportedKey
}

func parseSecp256k1ECPrivateKey(der []byte) (*secp256k1.PrivateKey, error) {
	var ec ecPrivateKey
	rest, err := asn1.Unmarshal(der, &ec)
	if err != nil || len(rest) != 0 || ec.Version != 1 {
		return nil, ErrKeyEncoding
	}
	if len(ec.NamedCurveOID) != 0 && !ec.NamedCurveOID.Equal(oidSecp256k1) {
		return nil, ErrKeyEncoding
	}
	if len(ec.PrivateKey) == 0 || len(ec.PrivateKey) > 32 {
		return nil, ErrInvalidPrivateKey
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(ec.PrivateKey); overflow || s.IsZero() {
		return nil, ErrInvalidPrivateKey
	}
	key := secp256k1.NewPrivateKey(&s)
	if ec.PublicKey.BitLength != 0 {
		pub, err := secp256k1.ParsePubKey(ec.PublicKey.RightAlign())
		if err != nil || !pub.IsEqual(key.PubKey()) {
			key.Zero()
			return nil, ErrInvalidPrivateKey
		}
	}
	return key, nil
}

// MarshalPKIX encodes pub as SubjectPublicKeyInfo (RFC 5280 §4.1.2.7). For
// secp256k1 the point is uncompressed (SEC 1 §2.3.3) under id-ecPublicKey
// with namedCurve 1.3.132.0.10 (RFC 5480 §2).
func MarshalPKIX(pub stdcrypto.PublicKey) ([]byte, error) {
	switch k := pub.(type) {
	case *secp256k1.PublicKey:
		if k == nil {
			return nil, ErrInvalidPublicKey
		}
		pt := k.SerializeUncompressed()
		return asn1.Marshal(spki{
			Algorithm: secp256k1AlgID(),
			PublicKey: asn1.BitString{Bytes: pt, BitLength: 8 * len(pt)},
		})
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		return x509.MarshalPKIXPublicKey(k)
	}
	return nil, ErrUnsupportedKey
}

// ParsePKIX decodes a SubjectPublicKeyInfo. It returns *ecdsa.PublicKey
// (P-256/384/521), *secp256k1.PublicKey, *rsa.PublicKey or ed25519.PublicKey. EC points must
// be uncompressed and on the named curve; explicit curve parameters are
// rejected. The input must be the canonical DER encoding: it must
// re-encode to exactly the same bytes, so trailing or extra elements
// anywhere in the structure are rejected.
func ParsePKIX(der []byte) (stdcrypto.PublicKey, error) {
	key, err := parsePKIX(der)
	if err != nil {
		return nil, err
	}
	re, err := MarshalPKIX(key)
	if err != nil || !bytes.Equal(re, der) {
		return nil, ErrKeyEncoding
	}
	return key, nil
}

func parsePKIX(der []byte) (stdcrypto.PublicKey, error) {
	var s spki
	rest, err := asn1.Unmarshal(der, &s)
	if err != nil || len(rest) != 0 {
		return nil, ErrKeyEncoding
	}
	if isSecp256k1AlgID(s.Algorithm) {
		b := s.PublicKey.Bytes
		if s.PublicKey.BitLength != 8*len(b) || len(b) != 65 || b[0] != 0x04 {
			return nil, ErrInvalidPublicKey
		}
		pub, err := secp256k1.ParsePubKey(b)
		if err != nil {
			return nil, ErrInvalidPublicKey
		}
		return pub, nil
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, ErrKeyEncoding
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if CurveOf(k) == "" {
			return nil, ErrUnsupportedCurve
		}
		return key, nil
	case *rsa.PublicKey, ed25519.PublicKey:
		return key, nil
	}
	return nil, ErrUnsupportedKey
}

// GenerateEC generates an EC private key on curve "P-256", "P-384", "P-521"
// (*ecdsa.PrivateKey) or "secp256k1" (*secp256k1.PrivateKey). A nil rnd
// means crypto/rand.Reader. Note that since Go 1.26 the standard library
// ignores rnd for NIST curves and always uses a secure source.
func GenerateEC(rnd io.Reader, curve string) (stdcrypto.PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if curve == CurveSecp256k1 {
		k, err := secp256k1.GeneratePrivateKeyFromRand(rnd)
		if err != nil {
			return nil, wrapErr("generate key", err)
		}
		return k, nil
	}
	c := ellipticCurve(curve)
	if c == nil {
		return nil, ErrUnsupportedCurve
	}
	k, err := ecdsa.GenerateKey(c, rnd)
	if err != nil {
		return nil, wrapErr("generate key", err)
	}
	return k, nil
}

func ellipticCurve(name string) elliptic.Curve {
	switch name {
	case CurveP256:
		return elliptic.P256()
	case CurveP384:
		return elliptic.P384()
	case CurveP521:
		return elliptic.P521()
	}
	return nil
}

// CurveOf returns the curve name ("P-256", "P-384", "P-521", "secp256k1")
// of an EC public or private key, or "" for other keys.
func CurveOf(key any) string {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k != nil {
			return CurveOf(&k.PublicKey)
		}
	case *ecdsa.PublicKey:
		if k != nil && k.Curve != nil {
			switch k.Curve {
			case elliptic.P256():
				return CurveP256
			case elliptic.P384():
				return CurveP384
			case elliptic.P521():
				return CurveP521
			}
		}
	case *secp256k1.PrivateKey, *secp256k1.PublicKey:
		return CurveSecp256k1
	case *ecdh.PrivateKey:
		if k != nil {
			return ecdhCurveName(k.Curve())
		}
	case *ecdh.PublicKey:
		if k != nil {
			return ecdhCurveName(k.Curve())
		}
	}
	return ""
}

func ecdhCurveName(c ecdh.Curve) string {
	switch c {
	case ecdh.P256():
		return CurveP256
	case ecdh.P384():
		return CurveP384
	case ecdh.P521():
		return CurveP521
	}
	return ""
}

// ECDH returns the raw ECDH shared secret (the x-coordinate, SEC 1 §3.3.1)
// between priv and peer. Supported are *ecdsa.PrivateKey or
// *ecdh.PrivateKey (P-256/384/521) with *ecdsa.PublicKey or
// *ecdh.PublicKey peers on the same curve, and *secp256k1.PrivateKey with a
// *secp256k1.PublicKey peer. Points not on the curve, the point at infinity
// and curve mismatches are rejected. The result is not a key: derive keys
// from it with a KDF.
func ECDH(priv stdcrypto.PrivateKey, peer stdcrypto.PublicKey) ([]byte, error) {
	if k, ok := priv.(*secp256k1.PrivateKey); ok {
		p, ok := peer.(*secp256k1.PublicKey)
		if !ok {
			if CurveOf(peer) != "" {
				return nil, ErrCurveMismatch
			}
			return nil, ErrUnsupportedKey
		}
		if k == nil || k.Key.IsZero() {
			return nil, ErrInvalidPrivateKey
		}
		if p == nil || !p.IsOnCurve() {
			return nil, ErrInvalidPublicKey
		}
		return secp256k1.GenerateSharedSecret(k, p), nil
	}
	var dk *ecdh.PrivateKey
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if CurveOf(k) == "" {
			return nil, ErrUnsupportedCurve
		}
		var err error
		if dk, err = k.ECDH(); err != nil {
			return nil, ErrInvalidPrivateKey
		}
	case *ecdh.PrivateKey:
		if CurveOf(k) == "" {
			return nil, ErrUnsupportedCurve
		}
		dk = k
	default:
		return nil, ErrUnsupportedKey
	}
	var dp *ecdh.PublicKey
	switch p := peer.(type) {
	case *ecdsa.PublicKey:
		if CurveOf(p) == "" {
			return nil, ErrUnsupportedCurve
		}
		var err error
		if dp, err = p.ECDH(); err != nil {
			return nil, ErrInvalidPublicKey
		}
	case *ecdh.PublicKey:
		if p == nil {
			return nil, ErrInvalidPublicKey
		}
		dp = p
	case *secp256k1.PublicKey:
		return nil, ErrCurveMismatch
	default:
		return nil, ErrUnsupportedKey
	}
	if dk.Curve() != dp.Curve() {
		return nil, ErrCurveMismatch
	}
	secret, err := dk.ECDH(dp)
	if err != nil {
		return nil, ErrInvalidPublicKey
	}
	return secret, nil
}
