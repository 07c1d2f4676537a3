package hsm

import (
	"context"
	stdcrypto "crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"strings"

	"github.com/coffer-hsm/coffer/internal/crypto"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Hash names as cloudhsm-cli's --hash-function takes them.
func parseHash(name string) (stdcrypto.Hash, error) {
	switch strings.ToLower(strings.ReplaceAll(name, "-", "")) {
	case "sha1":
		return stdcrypto.SHA1, nil
	case "sha224":
		return stdcrypto.SHA224, nil
	case "sha256", "":
		return stdcrypto.SHA256, nil
	case "sha384":
		return stdcrypto.SHA384, nil
	case "sha512":
		return stdcrypto.SHA512, nil
	}
	return 0, invalid("hash-function", "must be sha1, sha224, sha256, sha384 or sha512, got %q", name)
}

func newHash(h stdcrypto.Hash) func() hash.Hash {
	switch h {
	case stdcrypto.SHA1:
		return sha1.New
	case stdcrypto.SHA224:
		return sha256.New224
	case stdcrypto.SHA384:
		return sha512.New384
	case stdcrypto.SHA512:
		return sha512.New
	}
	return sha256.New
}

// SignMechanism picks the signature algorithm from cloudhsm-cli's mechanism names (ecdsa,
// rsa-pkcs, rsa-pkcs-pss, ed25519) and hash function.
func SignMechanism(mech, hashName string) (crypto.SignAlg, error) {
	h, err := parseHash(hashName)
	if err != nil {
		return "", err
	}
	suffix := map[stdcrypto.Hash]string{stdcrypto.SHA256: "SHA_256", stdcrypto.SHA384: "SHA_384", stdcrypto.SHA512: "SHA_512"}[h]
	switch strings.ToLower(mech) {
	case "ed25519", "eddsa":
		return crypto.ED25519, nil
	}
	if suffix == "" {
		return "", invalid("hash-function", "signatures use sha256, sha384 or sha512")
	}
	switch strings.ToLower(mech) {
	case "ecdsa":
		return crypto.SignAlg("ECDSA_" + suffix), nil
	case "rsa-pkcs", "rsa-pkcs1", "rsa-pkcs1v15":
		return crypto.SignAlg("RSASSA_PKCS1_V1_5_" + suffix), nil
	case "rsa-pkcs-pss", "rsa-pss":
		return crypto.SignAlg("RSASSA_PSS_" + suffix), nil
	}
	return "", invalid("mechanism", "must be ecdsa, rsa-pkcs, rsa-pkcs-pss or ed25519, got %q", mech)
}

// prepareDigest hashes data for alg unless it is already a digest (Ed25519 signs messages).
func prepareDigest(alg crypto.SignAlg, data []byte, isDigest bool) ([]byte, error) {
	if alg == crypto.ED25519 {
		if isDigest {
			return nil, invalid("data-type", "Ed25519 signs the message itself, not a digest")
		}
		return data, nil
	}
	h := alg.Hash()
	if isDigest {
		if len(data) != h.Size() {
			return nil, invalid("data", "a %s digest is %d bytes, got %d", h, h.Size(), len(data))
		}
		return data, nil
	}
	hh := newHash(h)()
	hh.Write(data)
	return hh.Sum(nil), nil
}

// Sign signs data (or a digest, when isDigest) with a private key that has sign=true.
func (h *HSM) Sign(s *Session, ref uint64, alg crypto.SignAlg, data []byte, isDigest bool, approval *Approval) ([]byte, error) {
	const op = "crypto sign"
	o, l, err := h.usableKey(s, ref, op, "sign", approval)
	if err != nil {
		return nil, err
	}
	if o.Attrs.Class != ClassPrivate {
		return nil, invalid("key", "%s is not a private key", FormatKeyRef(ref))
	}
	digest, err := prepareDigest(alg, data, isDigest)
	if err != nil {
		return nil, err
	}
	sig, err := crypto.Sign(h.cfg.Rand, l.priv, alg, digest)
	if err != nil {
		return nil, &MechanismError{Op: op, Reason: err.Error()}
	}
	return sig, nil
}

// Verify checks a signature with a public key (verify=true) or, for KMS's convenience, the
// public half of a private key the caller may use. It returns a MechanismError when the
// signature does not verify.
func (h *HSM) Verify(s *Session, ref uint64, alg crypto.SignAlg, data []byte, isDigest bool, sig []byte) error {
	const op = "crypto verify"
	o, err := h.lookupKey(s, ref, op)
	if err != nil {
		return err
	}
	if s.Role != RoleCrypto {
		return denied(op, "only crypto users use keys")
	}
	if o.Attrs.Class == ClassSecret {
		return invalid("key", "%s is a secret key; use crypto mac verify", FormatKeyRef(ref))
	}
	if o.Attrs.Class == ClassPublic && !o.Attrs.Verify {
		return denied(op, "key %s does not have the verify attribute", FormatKeyRef(ref))
	}
	if o.Attrs.Class == ClassPrivate && !o.Attrs.Sign {
		return denied(op, "key %s does not have the sign attribute", FormatKeyRef(ref))
	}
	l, err := h.liveKey(o)
	if err != nil {
		return err
	}
	digest, err := prepareDigest(alg, data, isDigest)
	if err != nil {
		return err
	}
	if err := crypto.Verify(l.pub, alg, digest, sig); err != nil {
		return &MechanismError{Op: op, Reason: "the signature is not valid"}
	}
	return nil
}

// GCMNonceSize and GCMTagSize describe Encrypt's AES-GCM output: nonce || ciphertext || tag.
const (
	GCMNonceSize = 12
	GCMTagSize   = 16
)

// EncryptAESGCM encrypts with an AES key (encrypt=true) under a fresh HSM-generated 96-bit
// nonce; the output is nonce || ciphertext || tag and aad is authenticated.
func (h *HSM) EncryptAESGCM(s *Session, ref uint64, plaintext, aad []byte, approval *Approval) ([]byte, error) {
	o, l, err := h.usableKey(s, ref, "crypto encrypt aes-gcm", "encrypt", approval)
	if err != nil {
		return nil, err
	}
	if o.Attrs.KeyType != TypeAES {
		return nil, invalid("key", "%s is not an AES key", FormatKeyRef(ref))
	}
	out := make([]byte, GCMNonceSize, GCMNonceSize+len(plaintext)+GCMTagSize)
	if _, err := h.cfg.Rand.Read(out); err != nil {
		return nil, err
	}
	return l.aead.Seal(out, out[:GCMNonceSize], plaintext, aad), nil
}

// DecryptAESGCM reverses EncryptAESGCM; a wrong key, aad or any altered byte fails.
func (h *HSM) DecryptAESGCM(s *Session, ref uint64, ciphertext, aad []byte, approval *Approval) ([]byte, error) {
	o, l, err := h.usableKey(s, ref, "crypto decrypt aes-gcm", "decrypt", approval)
	if err != nil {
		return nil, err
	}
	if o.Attrs.KeyType != TypeAES {
		return nil, invalid("key", "%s is not an AES key", FormatKeyRef(ref))
	}
	if len(ciphertext) < GCMNonceSize+GCMTagSize {
		return nil, &MechanismError{Op: "crypto decrypt aes-gcm", Reason: "the ciphertext is too short"}
	}
	pt, err := l.aead.Open(nil, ciphertext[:GCMNonceSize], ciphertext[GCMNonceSize:], aad)
	if err != nil {
		return nil, &MechanismError{Op: "crypto decrypt aes-gcm", Reason: "the ciphertext does not authenticate (wrong key, aad or altered data)"}
	}
	return pt, nil
}

// EncryptRSAOAEP encrypts with an RSA public key (encrypt=true), OAEP with hash and MGF1 of
// the same hash.
func (h *HSM) EncryptRSAOAEP(s *Session, ref uint64, hashName string, plaintext, label []byte) ([]byte, error) {
	const op = "crypto encrypt rsa-oaep"
	hh, err := parseHash(hashName)
	if err != nil {
		return nil, err
	}
	o, l, err := h.usableKey(s, ref, op, "encrypt", nil)
	if err != nil {
		return nil, err
	}
	pub, ok := l.pub.(*rsa.PublicKey)
	if !ok || o.Attrs.Class != ClassPublic {
		return nil, invalid("key", "%s is not an RSA public key", FormatKeyRef(ref))
	}
	ct, err := rsa.EncryptOAEP(newHash(hh)(), h.cfg.Rand, pub, plaintext, label)
	if err != nil {
		return nil, &MechanismError{Op: op, Reason: err.Error()}
	}
	return ct, nil
}

// DecryptRSAOAEP decrypts with an RSA private key (decrypt=true).
func (h *HSM) DecryptRSAOAEP(s *Session, ref uint64, hashName string, ciphertext, label []byte, approval *Approval) ([]byte, error) {
	const op = "crypto decrypt rsa-oaep"
	hh, err := parseHash(hashName)
	if err != nil {
		return nil, err
	}
	_, l, err := h.usableKey(s, ref, op, "decrypt", approval)
	if err != nil {
		return nil, err
	}
	priv, ok := l.priv.(*rsa.PrivateKey)
	if !ok {
		return nil, invalid("key", "%s is not an RSA private key", FormatKeyRef(ref))
	}
	pt, err := rsa.DecryptOAEP(newHash(hh)(), nil, priv, ciphertext, label)
	if err != nil {
		return nil, &MechanismError{Op: op, Reason: "decryption failed"}
	}
	return pt, nil
}

// MAC computes HMAC with a generic-secret or AES key that has sign=true.
func (h *HSM) MAC(s *Session, ref uint64, hashName string, data []byte, approval *Approval) ([]byte, error) {
	hh, err := parseHash(hashName)
	if err != nil {
		return nil, err
	}
	o, l, err := h.usableKey(s, ref, "crypto mac generate", "sign", approval)
	if err != nil {
		return nil, err
	}
	if o.Attrs.Class != ClassSecret {
		return nil, invalid("key", "%s is not a secret key", FormatKeyRef(ref))
	}
	m := hmac.New(newHash(hh), l.secret)
	m.Write(data)
	return m.Sum(nil), nil
}

// VerifyMAC checks an HMAC in constant time with a secret key that has verify=true.
func (h *HSM) VerifyMAC(s *Session, ref uint64, hashName string, data, mac []byte) error {
	hh, err := parseHash(hashName)
	if err != nil {
		return err
	}
	o, l, err := h.usableKey(s, ref, "crypto mac verify", "verify", nil)
	if err != nil {
		return err
	}
	if o.Attrs.Class != ClassSecret {
		return invalid("key", "%s is not a secret key", FormatKeyRef(ref))
	}
	m := hmac.New(newHash(hh), l.secret)
	m.Write(data)
	if !hmac.Equal(m.Sum(nil), mac) {
		return &MechanismError{Op: "crypto mac verify", Reason: "the MAC is not valid"}
	}
	return nil
}

// MaxRandomBytes bounds one Random call.
const MaxRandomBytes = 65536

// Random returns n random bytes from the HSM's generator. Any logged-in user may ask.
func (h *HSM) Random(s *Session, n int) ([]byte, error) {
	if err := h.requireSession(s); err != nil {
		return nil, err
	}
	if n < 1 || n > MaxRandomBytes {
		return nil, invalid("length-bytes", "must be between 1 and %d", MaxRandomBytes)
	}
	b := make([]byte, n)
	if _, err := h.cfg.Rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Wrap mechanisms (cloudhsm-cli's names).
const (
	WrapAESGCM     = "aes-gcm"
	WrapAESNoPad   = "aes-no-pad"   // RFC 3394
	WrapAESZeroPad = "aes-zero-pad" // RFC 5649 (standard key wrap with padding)
	WrapAESPKCS5   = "aes-pkcs5-pad"
	WrapRSAOAEP    = "rsa-oaep"
	WrapRSAAES     = "rsa-aes"
)

// WrapRequest wraps a key for export.
type WrapRequest struct {
	WrappingKey uint64 `json:"wrapping_key"`
	Key         uint64 `json:"key"`
	Mechanism   string `json:"mechanism"`
	Hash        string `json:"hash_function,omitempty"` // rsa-oaep, rsa-aes
	AAD         []byte `json:"aad,omitempty"`           // aes-gcm
}

// Wrap exports a key encrypted under a wrapping key. Only the key's owner wraps it; the
// key must be extractable; a wrap-with-trusted key needs a trusted wrapping key. Secret
// keys are wrapped as raw bytes, private keys as PKCS#8.
func (h *HSM) Wrap(s *Session, req WrapRequest, approval *Approval) ([]byte, error) {
	const op = "key wrap"
	target, err := h.ownedKey(s, req.Key, op)
	if err != nil {
		return nil, err
	}
	if !target.Attrs.Extractable {
		return nil, denied(op, "key %s is not extractable", FormatKeyRef(req.Key))
	}
	if target.Attrs.Class == ClassPublic {
		return nil, invalid("key", "public keys are not wrapped; export them with 'key generate-file'")
	}
	if _, err := h.checkKeyQuorum(target, ServiceKeyManagement, approval); err != nil {
		return nil, err
	}
	wk, wl, err := h.usableKey(s, req.WrappingKey, op, "wrap", nil)
	if err != nil {
		return nil, err
	}
	if target.Attrs.WrapWithTrusted && !wk.Attrs.Trusted {
		return nil, denied(op, "key %s is wrap-with-trusted and wrapping key %s is not trusted", FormatKeyRef(req.Key), FormatKeyRef(req.WrappingKey))
	}
	tl, err := h.liveKey(target)
	if err != nil {
		return nil, err
	}
	payload := tl.secret
	if target.Attrs.Class == ClassPrivate {
		if payload, err = crypto.MarshalPKCS8(tl.priv); err != nil {
			return nil, err
		}
		defer clear(payload)
	}
	out, err := h.wrapPayload(wk, wl, req, payload)
	if err != nil {
		return nil, err
	}
	h.emit(Event{Opcode: OpWrapKey, Result: ResultOK, User: s.User, Role: s.Role, Target: FormatKeyRef(req.Key),
		Message: "mechanism=" + req.Mechanism + " wrapping-key=" + FormatKeyRef(req.WrappingKey)})
	return out, nil
}

func (h *HSM) wrapPayload(wk *keyObject, wl *liveKey, req WrapRequest, payload []byte) ([]byte, error) {
	const op = "key wrap"
	needAES := func() error {
		if wk.Attrs.KeyType != TypeAES {
			return invalid("wrapping-key", "mechanism %s needs an AES wrapping key", req.Mechanism)
		}
		return nil
	}
	wrapErr := func(err error) error { return &MechanismError{Op: op, Reason: err.Error()} }
	switch req.Mechanism {
	case WrapAESGCM:
		if err := needAES(); err != nil {
			return nil, err
		}
		out := make([]byte, GCMNonceSize, GCMNonceSize+len(payload)+GCMTagSize)
		if _, err := h.cfg.Rand.Read(out); err != nil {
			return nil, err
		}
		return wl.aead.Seal(out, out[:GCMNonceSize], payload, req.AAD), nil
	case WrapAESNoPad, WrapAESZeroPad, WrapAESPKCS5:
		if err := needAES(); err != nil {
			return nil, err
		}
		var out []byte
		var err error
		switch req.Mechanism {
		case WrapAESNoPad:
			out, err = crypto.Wrap(wl.secret, payload)
		case WrapAESZeroPad:
			out, err = crypto.WrapPad(wl.secret, payload)
		default:
			out, err = crypto.WrapPKCS5(wl.secret, payload)
		}
		if err != nil {
			return nil, wrapErr(err)
		}
		return out, nil
	case WrapRSAOAEP, WrapRSAAES:
		pub, ok := wl.pub.(*rsa.PublicKey)
		if !ok || wk.Attrs.Class != ClassPublic {
			return nil, invalid("wrapping-key", "mechanism %s needs an RSA public wrapping key", req.Mechanism)
		}
		hh, err := parseHash(req.Hash)
		if err != nil {
			return nil, err
		}
		var out []byte
		if req.Mechanism == WrapRSAOAEP {
			out, err = rsa.EncryptOAEP(newHash(hh)(), h.cfg.Rand, pub, payload, nil)
		} else {
			out, err = crypto.WrapRSAAES(h.cfg.Rand, pub, hh, 256, payload)
		}
		if err != nil {
			return nil, wrapErr(err)
		}
		return out, nil
	}
	return nil, invalid("mechanism", "must be one of aes-gcm, aes-no-pad, aes-zero-pad, aes-pkcs5-pad, rsa-oaep, rsa-aes; got %q", req.Mechanism)
}

// UnwrapRequest imports a wrapped key as a new key object owned by the caller.
type UnwrapRequest struct {
	UnwrappingKey uint64   `json:"unwrapping_key"`
	Mechanism     string   `json:"mechanism"`
	Hash          string   `json:"hash_function,omitempty"`
	AAD           []byte   `json:"aad,omitempty"`
	Wrapped       []byte   `json:"wrapped"`
	KeyType       string   `json:"key_type"` // aes, generic-secret, rsa, ec, ed25519
	Attributes    AttrSpec `json:"attributes"`
}

// Unwrap decrypts a wrapped key inside the HSM and stores it as a new key object.
func (h *HSM) Unwrap(ctx context.Context, s *Session, req UnwrapRequest, approval *Approval) (KeyInfo, error) {
	const op = "key unwrap"
	uk, ul, err := h.usableKey(s, req.UnwrappingKey, op, "unwrap", approval)
	if err != nil {
		return KeyInfo{}, err
	}
	payload, err := h.unwrapPayload(uk, ul, req)
	if err != nil {
		return KeyInfo{}, err
	}
	var n newObject
	var class string
	switch req.KeyType {
	case TypeAES, TypeGenericSecret:
		class = ClassSecret
		if req.KeyType == TypeAES && len(payload) != 16 && len(payload) != 24 && len(payload) != 32 {
			clear(payload)
			return KeyInfo{}, &MechanismError{Op: op, Reason: fmt.Sprintf("the unwrapped key is %d bytes, not an AES key", len(payload))}
		}
		n.secret = payload
	case TypeRSA, TypeEC, TypeEd25519:
		class = ClassPrivate
		priv, err := crypto.ParsePKCS8(payload)
		clear(payload)
		if err != nil {
			return KeyInfo{}, &MechanismError{Op: op, Reason: "the unwrapped data is not a PKCS#8 private key"}
		}
		if keyTypeOf(crypto.PublicKey(priv)) != req.KeyType {
			return KeyInfo{}, invalid("key-type", "the unwrapped key is %s, not %s", keyTypeOf(crypto.PublicKey(priv)), req.KeyType)
		}
		if err := crypto.PairwiseCheck(h.cfg.Rand, priv); err != nil {
			return KeyInfo{}, &MechanismError{Op: op, Reason: "the unwrapped key pair is inconsistent"}
		}
		n.priv = priv
	default:
		clear(payload)
		return KeyInfo{}, invalid("key-type", "must be aes, generic-secret, rsa, ec or ed25519, got %q", req.KeyType)
	}
	attrs, err := req.Attributes.apply(class, req.KeyType)
	if err != nil {
		clear(n.secret)
		return KeyInfo{}, err
	}
	n.attrs = attrs
	objs, err := h.createObjects(ctx, s, []newObject{n}, OpUnwrapKey)
	if err != nil {
		return KeyInfo{}, err
	}
	return objs[0].info(true), nil
}

func (h *HSM) unwrapPayload(uk *keyObject, ul *liveKey, req UnwrapRequest) ([]byte, error) {
	const op = "key unwrap"
	fail := &MechanismError{Op: op, Reason: "the wrapped key does not decrypt under the unwrapping key (wrong key, mechanism or altered data)"}
	needAES := func() error {
		if uk.Attrs.KeyType != TypeAES {
			return invalid("unwrapping-key", "mechanism %s needs an AES unwrapping key", req.Mechanism)
		}
		return nil
	}
	var out []byte
	var err error
	switch req.Mechanism {
	case WrapAESGCM:
		if err := needAES(); err != nil {
			return nil, err
		}
		if len(req.Wrapped) < GCMNonceSize+GCMTagSize {
			return nil, fail
		}
		out, err = ul.aead.Open(nil, req.Wrapped[:GCMNonceSize], req.Wrapped[GCMNonceSize:], req.AAD)
	case WrapAESNoPad:
		if err := needAES(); err != nil {
			return nil, err
		}
		out, err = crypto.Unwrap(ul.secret, req.Wrapped)
	case WrapAESZeroPad:
		if err := needAES(); err != nil {
			return nil, err
		}
		out, err = crypto.UnwrapPad(ul.secret, req.Wrapped)
	case WrapAESPKCS5:
		if err := needAES(); err != nil {
			return nil, err
		}
		out, err = crypto.UnwrapPKCS5(ul.secret, req.Wrapped)
	case WrapRSAPKCS:
		priv, ok := ul.priv.(*rsa.PrivateKey)
		if !ok {
			return nil, invalid("unwrapping-key", "mechanism %s needs an RSA private unwrapping key", req.Mechanism)
		}
		out, err = unwrapRSAPKCS(priv, req.Wrapped)
	case WrapRSAOAEP, WrapRSAAES:
		priv, ok := ul.priv.(*rsa.PrivateKey)
		if !ok {
			return nil, invalid("unwrapping-key", "mechanism %s needs an RSA private unwrapping key", req.Mechanism)
		}
		hh, herr := parseHash(req.Hash)
		if herr != nil {
			return nil, herr
		}
		if req.Mechanism == WrapRSAOAEP {
			out, err = rsa.DecryptOAEP(newHash(hh)(), nil, priv, req.Wrapped, nil)
		} else {
			out, err = crypto.UnwrapRSAAES(priv, hh, req.Wrapped)
		}
	default:
		return nil, invalid("mechanism", "must be one of aes-gcm, aes-no-pad, aes-zero-pad, aes-pkcs5-pad, rsa-oaep, rsa-aes; got %q", req.Mechanism)
	}
	if err != nil {
		return nil, fail
	}
	return out, nil
}

// DeriveRequest derives a secret key by ECDH from a private EC key (derive=true) and a
// peer's public key (SubjectPublicKeyInfo DER), with PKCS#11's CKD_NULL: the new key is the
// leftmost KeyLengthBytes of the shared secret.
type DeriveRequest struct {
	PrivateKey     uint64   `json:"private_key"`
	PeerPublicKey  []byte   `json:"peer_public_key"`
	KeyType        string   `json:"key_type"` // aes or generic-secret
	KeyLengthBytes int      `json:"key_length_bytes"`
	Attributes     AttrSpec `json:"attributes"`
}

// DeriveECDH derives a new secret key object by ECDH.
func (h *HSM) DeriveECDH(ctx context.Context, s *Session, req DeriveRequest) (KeyInfo, error) {
	shared, err := h.ECDHSharedSecret(s, req.PrivateKey, req.PeerPublicKey)
	if err != nil {
		return KeyInfo{}, err
	}
	if req.KeyType != TypeAES && req.KeyType != TypeGenericSecret {
		clear(shared)
		return KeyInfo{}, invalid("key-type", "derived keys are aes or generic-secret")
	}
	if req.KeyLengthBytes < 1 || req.KeyLengthBytes > len(shared) ||
		(req.KeyType == TypeAES && req.KeyLengthBytes != 16 && req.KeyLengthBytes != 24 && req.KeyLengthBytes != 32) {
		clear(shared)
		return KeyInfo{}, invalid("key-length-bytes", "must be a valid length for %s and at most %d (the shared secret's size)", req.KeyType, len(shared))
	}
	secret := append([]byte(nil), shared[:req.KeyLengthBytes]...)
	clear(shared)
	attrs, err := req.Attributes.apply(ClassSecret, req.KeyType)
	if err != nil {
		clear(secret)
		return KeyInfo{}, err
	}
	objs, err := h.createObjects(ctx, s, []newObject{{attrs: attrs, secret: secret}}, OpDeriveKey)
	if err != nil {
		return KeyInfo{}, err
	}
	return objs[0].info(true), nil
}

// ECDHSharedSecret returns the raw ECDH shared secret of a private EC key (derive=true) and
// a peer public key. It exists for KMS's DeriveSharedSecret, which returns it to the caller.
func (h *HSM) ECDHSharedSecret(s *Session, privRef uint64, peerDER []byte) ([]byte, error) {
	const op = "key derive ecdh"
	o, l, err := h.usableKey(s, privRef, op, "derive", nil)
	if err != nil {
		return nil, err
	}
	switch l.priv.(type) {
	case *ecdsa.PrivateKey, *secp256k1.PrivateKey:
	default:
		return nil, invalid("key", "%s is not an EC private key", FormatKeyRef(o.Handle))
	}
	peer, err := crypto.ParsePKIX(peerDER)
	if err != nil {
		return nil, invalid("peer-public-key", "not a valid SubjectPublicKeyInfo: %v", err)
	}
	shared, err := crypto.ECDH(l.priv, peer)
	if err != nil {
		return nil, &MechanismError{Op: op, Reason: err.Error()}
	}
	return shared, nil
}
