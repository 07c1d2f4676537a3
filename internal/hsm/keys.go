package hsm

import (
	"context"
	stdcrypto "crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/crypto"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Session key handles have this bit set so they never collide with token key handles.
const sessionHandleBit = uint64(1) << 62

// KeyInfo is a key as cloudhsm-cli's "key list --verbose" shows it.
type KeyInfo struct {
	KeyReference string      `json:"key-reference"`
	KeyInfo      KeyMetadata `json:"key-info"`
	Attributes   *Attributes `json:"attributes,omitempty"`
}

// KeyMetadata is a key's ownership and quorum information.
type KeyMetadata struct {
	KeyOwners       []KeyUser       `json:"key-owners"`
	SharedUsers     []KeyUser       `json:"shared-users"`
	KeyQuorumValues KeyQuorumValues `json:"key-quorum-values"`
	ClusterCoverage string          `json:"cluster-coverage"`
}

// KeyUser names an owner or a user a key is shared with.
type KeyUser struct {
	Username    string `json:"username"`
	KeyCoverage string `json:"key-coverage"`
}

// KeyQuorumValues are a key's quorum values.
type KeyQuorumValues struct {
	ManageKeyQuorumValue int `json:"manage-key-quorum-value"`
	UseKeyQuorumValue    int `json:"use-key-quorum-value"`
}

func (o *keyObject) info(verbose bool) KeyInfo {
	ki := KeyInfo{
		KeyReference: FormatKeyRef(o.Handle),
		KeyInfo: KeyMetadata{
			KeyOwners:       []KeyUser{{Username: o.Owner, KeyCoverage: "full"}},
			SharedUsers:     []KeyUser{},
			KeyQuorumValues: KeyQuorumValues{ManageKeyQuorumValue: o.ManageQuorum, UseKeyQuorumValue: o.UseQuorum},
			ClusterCoverage: "full",
		},
	}
	if !o.Attrs.Token {
		ki.KeyInfo.ClusterCoverage = "session"
	}
	for _, u := range o.Shared {
		ki.KeyInfo.SharedUsers = append(ki.KeyInfo.SharedUsers, KeyUser{Username: u, KeyCoverage: "full"})
	}
	if verbose {
		a := o.Attrs
		ki.Attributes = &a
	} else {
		ki.Attributes = &Attributes{Class: o.Attrs.Class, KeyType: o.Attrs.KeyType, Label: o.Attrs.Label, ID: o.Attrs.ID,
			CheckValue: o.Attrs.CheckValue, KeyLengthBytes: o.Attrs.KeyLengthBytes, ModulusSizeBits: o.Attrs.ModulusSizeBits, Curve: o.Attrs.Curve}
	}
	return ki
}

// materialAAD binds a sealed key to its object: unique ID and immutable attributes.
func materialAAD(o *keyObject) []byte {
	return fmt.Appendf(nil, "coffer/hsm/key/v1|%s|%s|%s|%d|%d|%s",
		o.UID, o.Attrs.Class, o.Attrs.KeyType, o.Attrs.KeyLengthBytes, o.Attrs.ModulusSizeBits, o.Attrs.Curve)
}

// liveKey is a decrypted key held in memory inside the boundary.
type liveKey struct {
	secret []byte
	aead   cipher.AEAD // AES keys
	block  cipher.Block
	priv   stdcrypto.PrivateKey
	pub    stdcrypto.PublicKey
}

func (l *liveKey) zero() {
	clear(l.secret)
	switch k := l.priv.(type) {
	case ed25519.PrivateKey:
		clear(k)
	case *ecdsa.PrivateKey:
		if k.D != nil {
			k.D.SetInt64(0)
		}
	case *rsa.PrivateKey:
		k.D.SetInt64(0)
		for _, p := range k.Primes {
			p.SetInt64(0)
		}
	case *secp256k1.PrivateKey:
		k.Zero()
	}
	l.aead, l.block, l.priv = nil, nil, nil
}

func newLiveSecret(keyType string, secret []byte) (*liveKey, error) {
	l := &liveKey{secret: secret}
	if keyType == TypeAES {
		b, err := aes.NewCipher(secret)
		if err != nil {
			return nil, err
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return nil, err
		}
		l.block, l.aead = b, g
	}
	return l, nil
}

// liveKey returns the decrypted key of an object, decrypting and caching it on first use.
func (h *HSM) liveKey(o *keyObject) (*liveKey, error) {
	if v, ok := h.live.Load(o.UID); ok {
		return v.(*liveKey), nil
	}
	var l *liveKey
	if o.Attrs.Class == ClassPublic {
		pub, err := crypto.ParsePKIX(o.Public)
		if err != nil {
			return nil, fmt.Errorf("hsm: key %s: stored public key: %w", FormatKeyRef(o.Handle), err)
		}
		l = &liveKey{pub: pub}
	} else {
		dk, err := h.domainKey()
		if err != nil {
			return nil, err
		}
		pt, err := dk.Decrypt(o.Material, materialAAD(o))
		if err != nil {
			return nil, fmt.Errorf("hsm: key %s: sealed material does not authenticate under the domain key", FormatKeyRef(o.Handle))
		}
		if o.Attrs.Class == ClassSecret {
			if l, err = newLiveSecret(o.Attrs.KeyType, pt); err != nil {
				clear(pt)
				return nil, err
			}
		} else {
			priv, err := crypto.ParsePKCS8(pt)
			clear(pt)
			if err != nil {
				return nil, fmt.Errorf("hsm: key %s: sealed private key does not parse", FormatKeyRef(o.Handle))
			}
			l = &liveKey{priv: priv, pub: crypto.PublicKey(priv)}
		}
	}
	if v, loaded := h.live.LoadOrStore(o.UID, l); loaded {
		l.zero()
		return v.(*liveKey), nil
	}
	return l, nil
}

func (h *HSM) forgetLive(o *keyObject) {
	if v, ok := h.live.LoadAndDelete(o.UID); ok {
		v.(*liveKey).zero()
	}
}

func (h *HSM) dropLiveKeys() {
	h.live.Range(func(k, v any) bool {
		v.(*liveKey).zero()
		h.live.Delete(k)
		return true
	})
}

// lookupKey finds a key the session may see: its own session keys; for crypto users the
// token keys they own or that are shared with them; for admins every token key.
func (h *HSM) lookupKey(s *Session, ref uint64, op string) (*keyObject, error) {
	if err := h.requireSession(s); err != nil {
		return nil, err
	}
	if ref&sessionHandleBit != 0 {
		s.mu.Lock()
		o := s.keys[ref]
		s.mu.Unlock()
		if o == nil {
			return nil, &NotFoundError{Kind: "key", Name: FormatKeyRef(ref)}
		}
		return o, nil
	}
	h.mu.RLock()
	o := h.keys[ref]
	h.mu.RUnlock()
	if o == nil || !(s.Role == RoleAdmin || (s.Role == RoleCrypto && o.accessibleBy(s.User))) {
		return nil, &NotFoundError{Kind: "key", Name: FormatKeyRef(ref)}
	}
	return o, nil
}

// usableKey finds a key a crypto user may use with an operation needing attribute attr.
func (h *HSM) usableKey(s *Session, ref uint64, op, attr string, approval *Approval) (*keyObject, *liveKey, error) {
	if s == nil || s.Role != RoleCrypto {
		if err := h.requireSession(s); err != nil {
			return nil, nil, err
		}
		return nil, nil, denied(op, "only crypto users use keys (logged in as %s)", s.Role)
	}
	o, err := h.lookupKey(s, ref, op)
	if err != nil {
		return nil, nil, err
	}
	if !o.Attrs.usage(attr) {
		return nil, nil, denied(op, "key %s does not have the %s attribute", FormatKeyRef(o.Handle), attr)
	}
	if o.UseQuorum > 1 {
		if _, err := h.checkKeyQuorum(o, ServiceKeyUsage, approval); err != nil {
			return nil, nil, err
		}
	}
	l, err := h.liveKey(o)
	if err != nil {
		return nil, nil, err
	}
	return o, l, nil
}

// ---- creation ----

// KeyQuorum are the quorum values of a new key (0 or 1 = none).
type KeyQuorum struct {
	Manage int `json:"manage-key-quorum-value,omitempty"`
	Use    int `json:"use-key-quorum-value,omitempty"`
}

func (q KeyQuorum) validate() error {
	if q.Manage < 0 || q.Manage > MaxQuorumValue || q.Use < 0 || q.Use > MaxQuorumValue {
		return invalid("key quorum value", "must be between 0 and %d", MaxQuorumValue)
	}
	return nil
}

// GenerateSymmetricRequest asks for an AES or generic-secret key.
type GenerateSymmetricRequest struct {
	KeyType        string    `json:"key_type"` // aes or generic-secret
	KeyLengthBytes int       `json:"key_length_bytes"`
	Attributes     AttrSpec  `json:"attributes"`
	Quorum         KeyQuorum `json:"quorum"`
}

// GenerateSymmetric generates a secret key owned by the calling crypto user.
func (h *HSM) GenerateSymmetric(ctx context.Context, s *Session, req GenerateSymmetricRequest) (KeyInfo, error) {
	const op = "key generate-symmetric"
	if err := h.requireRole(s, op, RoleCrypto); err != nil {
		return KeyInfo{}, err
	}
	switch req.KeyType {
	case TypeAES:
		if req.KeyLengthBytes != 16 && req.KeyLengthBytes != 24 && req.KeyLengthBytes != 32 {
			return KeyInfo{}, invalid("key-length-bytes", "AES keys are 16, 24 or 32 bytes, got %d", req.KeyLengthBytes)
		}
	case TypeGenericSecret:
		if req.KeyLengthBytes < 1 || req.KeyLengthBytes > 800 {
			return KeyInfo{}, invalid("key-length-bytes", "generic secrets are 1 to 800 bytes, got %d", req.KeyLengthBytes)
		}
	default:
		return KeyInfo{}, invalid("key-type", "symmetric keys are aes or generic-secret, got %q", req.KeyType)
	}
	if err := req.Quorum.validate(); err != nil {
		return KeyInfo{}, err
	}
	attrs, err := req.Attributes.apply(ClassSecret, req.KeyType)
	if err != nil {
		return KeyInfo{}, err
	}
	secret := make([]byte, req.KeyLengthBytes)
	if _, err := h.cfg.Rand.Read(secret); err != nil {
		return KeyInfo{}, err
	}
	attrs.Local, attrs.AlwaysSensitive, attrs.NeverExtractable = true, true, !attrs.Extractable
	objs, err := h.createObjects(ctx, s, []newObject{{attrs: attrs, secret: secret, quorum: req.Quorum}}, OpGenerateKey)
	if err != nil {
		return KeyInfo{}, err
	}
	return objs[0].info(true), nil
}

// Curves accepted by "key generate-asymmetric-pair ec --curve", mapped to internal/crypto names.
var curveNames = map[string]string{
	"secp256r1": "P-256", "prime256v1": "P-256", "p-256": "P-256", "p256": "P-256",
	"secp384r1": "P-384", "p-384": "P-384", "p384": "P-384",
	"secp521r1": "P-521", "p-521": "P-521", "p521": "P-521",
	"secp256k1": "secp256k1",
}

var curveDisplay = map[string]string{"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1", "secp256k1": "secp256k1"}

// GenerateKeyPairRequest asks for an RSA, EC or Ed25519 key pair.
type GenerateKeyPairRequest struct {
	KeyType           string    `json:"key_type"` // rsa, ec or ed25519
	ModulusSizeBits   int       `json:"modulus_size_bits,omitempty"`
	PublicExponent    int       `json:"public_exponent,omitempty"`
	Curve             string    `json:"curve,omitempty"`
	PublicAttributes  AttrSpec  `json:"public_attributes"`
	PrivateAttributes AttrSpec  `json:"private_attributes"`
	Quorum            KeyQuorum `json:"quorum"`
}

// KeyPair is a generated pair.
type KeyPair struct {
	PublicKey  KeyInfo `json:"public_key"`
	PrivateKey KeyInfo `json:"private_key"`
}

// GenerateKeyPair generates a key pair owned by the calling crypto user, after a pairwise
// consistency test of the new pair.
func (h *HSM) GenerateKeyPair(ctx context.Context, s *Session, req GenerateKeyPairRequest) (KeyPair, error) {
	const op = "key generate-asymmetric-pair"
	if err := h.requireRole(s, op, RoleCrypto); err != nil {
		return KeyPair{}, err
	}
	if err := req.Quorum.validate(); err != nil {
		return KeyPair{}, err
	}
	var priv stdcrypto.PrivateKey
	var err error
	switch req.KeyType {
	case TypeRSA:
		if req.ModulusSizeBits < 2048 || req.ModulusSizeBits > 4096 || req.ModulusSizeBits%256 != 0 {
			return KeyPair{}, invalid("modulus-size-bits", "must be 2048 to 4096 in steps of 256, got %d", req.ModulusSizeBits)
		}
		if req.PublicExponent != 0 && req.PublicExponent != 65537 {
			return KeyPair{}, invalid("public-exponent", "Coffer generates RSA keys with public exponent 65537")
		}
		priv, err = rsa.GenerateKey(h.cfg.Rand, req.ModulusSizeBits)
	case TypeEC:
		c, ok := curveNames[strings.ToLower(req.Curve)]
		if !ok {
			return KeyPair{}, invalid("curve", "must be secp256r1 (prime256v1), secp384r1, secp521r1 or secp256k1, got %q", req.Curve)
		}
		priv, err = crypto.GenerateEC(h.cfg.Rand, c)
	case TypeEd25519:
		_, priv, err = ed25519.GenerateKey(h.cfg.Rand)
	default:
		return KeyPair{}, invalid("key-type", "key pairs are rsa, ec or ed25519, got %q", req.KeyType)
	}
	if err != nil {
		return KeyPair{}, err
	}
	if err := crypto.PairwiseCheck(h.cfg.Rand, priv); err != nil {
		return KeyPair{}, &MechanismError{Op: op, Reason: "the new key pair failed its pairwise consistency test: " + err.Error()}
	}
	pubAttrs, err := req.PublicAttributes.apply(ClassPublic, req.KeyType)
	if err != nil {
		return KeyPair{}, err
	}
	privAttrs, err := req.PrivateAttributes.apply(ClassPrivate, req.KeyType)
	if err != nil {
		return KeyPair{}, err
	}
	pubAttrs.Local = true
	privAttrs.Local, privAttrs.AlwaysSensitive, privAttrs.NeverExtractable = true, true, !privAttrs.Extractable
	objs, err := h.createObjects(ctx, s, []newObject{
		{attrs: pubAttrs, pub: crypto.PublicKey(priv), quorum: req.Quorum},
		{attrs: privAttrs, priv: priv, quorum: req.Quorum},
	}, OpGenerateKeyPair)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{PublicKey: objs[0].info(true), PrivateKey: objs[1].info(true)}, nil
}

// newObject is a key object about to be created, with its plaintext material.
type newObject struct {
	attrs  Attributes
	secret []byte               // secret keys
	priv   stdcrypto.PrivateKey // private keys
	pub    stdcrypto.PublicKey  // public keys
	quorum KeyQuorum
}

type keyCreateCmd struct {
	Owner   string       `json:"owner"`
	Objects []*keyObject `json:"objects"`
}

// createObjects seals the new objects' material under the domain key and commits them
// (token keys) or adds them to the session (session keys). It takes ownership of the
// plaintext: it ends up in the live cache or is zeroed.
func (h *HSM) createObjects(ctx context.Context, s *Session, objs []newObject, opcode string) ([]*keyObject, error) {
	dk, err := h.domainKey()
	if err != nil {
		return nil, err
	}
	now := h.now()
	out := make([]*keyObject, len(objs))
	lives := make([]*liveKey, len(objs))
	fail := func(err error) ([]*keyObject, error) {
		for i, l := range lives {
			if l != nil {
				l.zero()
			} else {
				clear(objs[i].secret)
			}
		}
		return nil, err
	}
	for i, n := range objs {
		uid := make([]byte, 16)
		if _, err := h.cfg.Rand.Read(uid); err != nil {
			return fail(err)
		}
		o := &keyObject{UID: hex.EncodeToString(uid), Owner: s.User, Attrs: n.attrs,
			ManageQuorum: n.quorum.Manage, UseQuorum: n.quorum.Use, Created: now}
		switch {
		case n.secret != nil:
			o.Attrs.KeyLengthBytes = len(n.secret)
			o.Attrs.CheckValue = checkValue(n.attrs.KeyType, n.secret)
			if lives[i], err = newLiveSecret(n.attrs.KeyType, n.secret); err != nil {
				return fail(err)
			}
			if o.Material, err = dk.Encrypt(n.secret, materialAAD(o)); err != nil {
				return fail(err)
			}
		case n.priv != nil:
			pub := crypto.PublicKey(n.priv)
			if o.Public, err = crypto.MarshalPKIX(pub); err != nil {
				return fail(err)
			}
			setPublicAttrs(o, pub)
			der, err := crypto.MarshalPKCS8(n.priv)
			if err != nil {
				return fail(err)
			}
			lives[i] = &liveKey{priv: n.priv, pub: pub}
			o.Material, err = dk.Encrypt(der, materialAAD(o))
			clear(der)
			if err != nil {
				return fail(err)
			}
		default:
			if o.Public, err = crypto.MarshalPKIX(n.pub); err != nil {
				return fail(err)
			}
			setPublicAttrs(o, n.pub)
			lives[i] = &liveKey{pub: n.pub}
		}
		out[i] = o
	}
	if !objs[0].attrs.Token {
		s.mu.Lock()
		for _, o := range out {
			o.Handle = sessionHandleBit | h.nextSess.Add(1)
			s.keys[o.Handle] = o
		}
		s.mu.Unlock()
	} else {
		res, err := h.propose(ctx, cmdKeyCreate, keyCreateCmd{Owner: s.User, Objects: out})
		if err != nil {
			return fail(err)
		}
		handles, _ := res.([]uint64)
		if len(handles) != len(out) {
			return fail(fmt.Errorf("hsm: key create: unexpected result %T", res))
		}
		for i, o := range out {
			o.Handle = handles[i]
		}
	}
	for i, o := range out {
		h.live.Store(o.UID, lives[i])
		h.emit(Event{Opcode: opcode, Result: ResultOK, User: s.User, Role: s.Role, Target: FormatKeyRef(o.Handle),
			Message: o.Attrs.Class + " " + o.Attrs.KeyType + " label=" + o.Attrs.Label})
	}
	return out, nil
}

// setPublicAttrs fills the read-only public attributes (modulus, curve, check value...).
func setPublicAttrs(o *keyObject, pub stdcrypto.PublicKey) *keyObject {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		o.Attrs.ModulusSizeBits = k.N.BitLen()
		o.Attrs.Modulus = "0x" + k.N.Text(16)
		o.Attrs.PublicExponent = "0x" + big.NewInt(int64(k.E)).Text(16)
	case *ecdsa.PublicKey:
		o.Attrs.Curve = curveDisplay[k.Curve.Params().Name]
		if b, err := k.Bytes(); err == nil {
			o.Attrs.ECPoint = "0x" + hex.EncodeToString(b)
		}
	case *secp256k1.PublicKey:
		o.Attrs.Curve = "secp256k1"
		o.Attrs.ECPoint = "0x" + hex.EncodeToString(k.SerializeUncompressed())
	case ed25519.PublicKey:
		o.Attrs.Curve = "ed25519"
		o.Attrs.ECPoint = "0x" + hex.EncodeToString(k)
	}
	if pub != nil {
		if der, err := crypto.MarshalPKIX(pub); err == nil {
			sum := sha1.Sum(der)
			o.Attrs.CheckValue = "0x" + hex.EncodeToString(sum[:3])
		}
	}
	return o
}

// checkValue is the key check value: for AES the first 3 bytes of the encryption of a zero
// block (the common KCV), for generic secrets the first 3 bytes of SHA-1 of the key.
func checkValue(keyType string, secret []byte) string {
	if keyType == TypeAES {
		b, err := aes.NewCipher(secret)
		if err != nil {
			return ""
		}
		var zero, out [16]byte
		b.Encrypt(out[:], zero[:])
		return "0x" + hex.EncodeToString(out[:3])
	}
	sum := sha1.Sum(secret)
	return "0x" + hex.EncodeToString(sum[:3])
}

func applyKeyCreate(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[keyCreateCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cluster.State != StateActive {
		return nil, ErrNotInitialized
	}
	owner, ok := h.users[c.Owner]
	if !ok || owner.Role != RoleCrypto {
		return nil, &NotFoundError{Kind: "crypto user", Name: c.Owner}
	}
	handles := make([]uint64, len(c.Objects))
	for i, o := range c.Objects {
		o.Handle = h.cluster.NextHandle
		h.cluster.NextHandle++
		o.Owner = c.Owner
		h.keys[o.Handle] = o
		handles[i] = o.Handle
	}
	return handles, nil
}

// ImportPEM imports a public key, or a private key, from PEM. Imported keys are not local.
func (h *HSM) ImportPEM(ctx context.Context, s *Session, pemData string, spec AttrSpec) (KeyInfo, error) {
	const op = "key import pem"
	if err := h.requireRole(s, op, RoleCrypto); err != nil {
		return KeyInfo{}, err
	}
	blk, rest := pem.Decode([]byte(pemData))
	if blk == nil || len(strings.TrimSpace(string(rest))) != 0 {
		return KeyInfo{}, invalid("pem", "must hold exactly one PEM block")
	}
	var n newObject
	var keyType string
	switch blk.Type {
	case "PUBLIC KEY":
		pub, err := crypto.ParsePKIX(blk.Bytes)
		if err != nil {
			return KeyInfo{}, invalid("pem", "cannot parse the public key: %v", err)
		}
		n.pub, keyType = pub, keyTypeOf(pub)
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		var priv any
		var err error
		switch blk.Type {
		case "PRIVATE KEY":
			priv, err = crypto.ParsePKCS8(blk.Bytes)
		case "RSA PRIVATE KEY":
			priv, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		default:
			priv, err = x509.ParseECPrivateKey(blk.Bytes)
		}
		clear(blk.Bytes)
		if err != nil {
			return KeyInfo{}, invalid("pem", "cannot parse the private key")
		}
		n.priv, keyType = priv, keyTypeOf(crypto.PublicKey(priv))
	default:
		return KeyInfo{}, invalid("pem", "unsupported PEM type %q", blk.Type)
	}
	if keyType == "" {
		return KeyInfo{}, invalid("pem", "unsupported key algorithm")
	}
	if rk, ok := n.pub.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
		return KeyInfo{}, invalid("pem", "RSA keys must be at least 2048 bits")
	}
	class := ClassPublic
	if n.priv != nil {
		class = ClassPrivate
		if err := crypto.PairwiseCheck(h.cfg.Rand, n.priv); err != nil {
			return KeyInfo{}, invalid("pem", "the private key failed its consistency test")
		}
	}
	attrs, err := spec.apply(class, keyType)
	if err != nil {
		return KeyInfo{}, err
	}
	n.attrs = attrs // imported: not local, not always-sensitive
	objs, err := h.createObjects(ctx, s, []newObject{n}, OpImportKey)
	if err != nil {
		return KeyInfo{}, err
	}
	return objs[0].info(true), nil
}

func keyTypeOf(pub stdcrypto.PublicKey) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return TypeRSA
	case *ecdsa.PublicKey, *secp256k1.PublicKey:
		return TypeEC
	case ed25519.PublicKey:
		return TypeEd25519
	}
	return ""
}

// ---- listing and management ----

// KeyList is a page of "key list".
type KeyList struct {
	MatchedKeys      []KeyInfo `json:"matched_keys"`
	TotalKeyCount    int       `json:"total_key_count"`
	ReturnedKeyCount int       `json:"returned_key_count"`
	NextToken        string    `json:"next_token,omitempty"`
}

// ListKeys lists the keys the session can see that match the filter, by key reference,
// maxItems per page (0 = all); startingToken is the previous page's NextToken.
func (h *HSM) ListKeys(s *Session, f Filter, maxItems int, startingToken string, verbose bool) (KeyList, error) {
	if err := h.requireSession(s); err != nil {
		return KeyList{}, err
	}
	if s.Role == RoleAppliance {
		return KeyList{}, denied("key list", "appliance users do not use keys")
	}
	if maxItems < 0 || maxItems > 10000 {
		return KeyList{}, invalid("max-items", "must be between 1 and 10000")
	}
	var after uint64
	if startingToken != "" {
		v, err := strconv.ParseUint(startingToken, 10, 64)
		if err != nil {
			return KeyList{}, invalid("starting-token", "not a token from a previous page")
		}
		after = v
	}
	var all []*keyObject
	h.mu.RLock()
	for _, o := range h.keys {
		if s.Role == RoleAdmin || o.accessibleBy(s.User) {
			all = append(all, o)
		}
	}
	h.mu.RUnlock()
	s.mu.Lock()
	for _, o := range s.keys {
		all = append(all, o)
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Handle < all[j].Handle })
	out := KeyList{MatchedKeys: []KeyInfo{}}
	for _, o := range all {
		ok, err := f.matches(o)
		if err != nil {
			return KeyList{}, err
		}
		if !ok {
			continue
		}
		out.TotalKeyCount++
		if o.Handle <= after {
			continue
		}
		if maxItems > 0 && len(out.MatchedKeys) == maxItems {
			if out.NextToken == "" {
				out.NextToken = strconv.FormatUint(out.MatchedKeys[len(out.MatchedKeys)-1].handle(), 10)
			}
			continue
		}
		out.MatchedKeys = append(out.MatchedKeys, o.info(verbose))
	}
	out.ReturnedKeyCount = len(out.MatchedKeys)
	return out, nil
}

func (k KeyInfo) handle() uint64 {
	v, _ := ParseKeyRef(k.KeyReference)
	return v
}

// FindKey resolves a filter to exactly one key the session can see, as cloudhsm-cli's
// --key-filter does: zero or several matches are errors.
func (h *HSM) FindKey(s *Session, f Filter) (uint64, error) {
	l, err := h.ListKeys(s, f, 0, "", false)
	if err != nil {
		return 0, err
	}
	switch len(l.MatchedKeys) {
	case 0:
		return 0, &NotFoundError{Kind: "key", Name: "matching the filter"}
	case 1:
		return l.MatchedKeys[0].handle(), nil
	}
	return 0, invalid("key-filter", "%d keys match; narrow the filter (e.g. attr.label=..., attr.class=...)", len(l.MatchedKeys))
}

// GetKey returns one key's information.
func (h *HSM) GetKey(s *Session, ref uint64) (KeyInfo, error) {
	o, err := h.lookupKey(s, ref, "key get")
	if err != nil {
		return KeyInfo{}, err
	}
	return o.info(true), nil
}

// PublicKeyDER returns the SubjectPublicKeyInfo of a public or private key object.
func (h *HSM) PublicKeyDER(s *Session, ref uint64) ([]byte, error) {
	o, err := h.lookupKey(s, ref, "key generate-file")
	if err != nil {
		return nil, err
	}
	if o.Public == nil {
		return nil, invalid("key", "%s is a secret key; it has no public key", FormatKeyRef(ref))
	}
	return append([]byte(nil), o.Public...), nil
}

func (h *HSM) ownedKey(s *Session, ref uint64, op string) (*keyObject, error) {
	o, err := h.lookupKey(s, ref, op)
	if err != nil {
		return nil, err
	}
	if s.Role != RoleCrypto || o.Owner != s.User {
		return nil, denied(op, "only the key's owner (%s) may do this", o.Owner)
	}
	return o, nil
}

type keyAttrsCmd struct {
	Handle      uint64     `json:"handle"`
	Attrs       Attributes `json:"attributes"`
	QuorumToken string     `json:"quorum_token,omitempty"`
}

// SetAttribute changes one attribute of a key: owners change their keys' attributes
// (key-management quorum applies); admins change only "trusted".
func (h *HSM) SetAttribute(ctx context.Context, s *Session, ref uint64, name, value string, approval *Approval) (KeyInfo, error) {
	const op = "key set-attribute"
	if err := h.requireRole(s, op, RoleCrypto, RoleAdmin); err != nil {
		return KeyInfo{}, err
	}
	var o *keyObject
	var err error
	if s.Role == RoleAdmin {
		o, err = h.lookupKey(s, ref, op)
	} else {
		o, err = h.ownedKey(s, ref, op)
	}
	if err != nil {
		return KeyInfo{}, err
	}
	attrs := o.Attrs
	if err := setAttribute(&attrs, name, value, s.Role == RoleAdmin); err != nil {
		return KeyInfo{}, err
	}
	if !o.Attrs.Token {
		s.mu.Lock()
		o.Attrs = attrs
		s.mu.Unlock()
		return o.info(true), nil
	}
	var tok string
	if s.Role == RoleCrypto {
		if tok, err = h.checkKeyQuorum(o, ServiceKeyManagement, approval); err != nil {
			return KeyInfo{}, err
		}
	}
	if _, err := h.propose(ctx, cmdKeyAttrs, keyAttrsCmd{Handle: ref, Attrs: attrs, QuorumToken: tok}); err != nil {
		return KeyInfo{}, err
	}
	h.emit(Event{Opcode: OpSetAttribute, Result: ResultOK, User: s.User, Role: s.Role, Target: FormatKeyRef(ref), Message: name + "=" + value})
	return h.GetKey(s, ref)
}

func applyKeyAttrs(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[keyAttrsCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	o, ok := h.keys[c.Handle]
	if !ok {
		return nil, &NotFoundError{Kind: "key", Name: FormatKeyRef(c.Handle)}
	}
	// Immutable attributes are bound into the sealed material; refuse any change to them.
	old := o.Attrs
	if c.Attrs.Class != old.Class || c.Attrs.KeyType != old.KeyType || c.Attrs.Extractable != old.Extractable ||
		c.Attrs.CheckValue != old.CheckValue || c.Attrs.Token != old.Token {
		return nil, invalid("attributes", "immutable attributes cannot change")
	}
	if err := h.consumeToken(c.QuorumToken, ServiceKeyManagement, t); err != nil {
		return nil, err
	}
	n := o.clone()
	n.Attrs = c.Attrs
	h.keys[c.Handle] = n
	return nil, nil
}

type keyDeleteCmd struct {
	Handle      uint64 `json:"handle"`
	QuorumToken string `json:"quorum_token,omitempty"`
}

// DeleteKey destroys a key: owner only, the key must be destroyable. Its sealed material
// leaves the state and its decrypted form is zeroed.
func (h *HSM) DeleteKey(ctx context.Context, s *Session, ref uint64, approval *Approval) error {
	const op = "key delete"
	o, err := h.ownedKey(s, ref, op)
	if err != nil {
		return err
	}
	if !o.Attrs.Destroyable {
		return &ConflictError{Reason: "key delete: the key is not destroyable"}
	}
	if !o.Attrs.Token {
		s.mu.Lock()
		delete(s.keys, ref)
		s.mu.Unlock()
		h.forgetLive(o)
		return nil
	}
	tok, err := h.checkKeyQuorum(o, ServiceKeyManagement, approval)
	if err != nil {
		return err
	}
	if _, err := h.propose(ctx, cmdKeyDelete, keyDeleteCmd{Handle: ref, QuorumToken: tok}); err != nil {
		return err
	}
	h.emit(Event{Opcode: OpDestroyObject, Result: ResultOK, User: s.User, Role: s.Role, Target: FormatKeyRef(ref)})
	return nil
}

func applyKeyDelete(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[keyDeleteCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	o, ok := h.keys[c.Handle]
	if !ok {
		return nil, &NotFoundError{Kind: "key", Name: FormatKeyRef(c.Handle)}
	}
	if err := h.consumeToken(c.QuorumToken, ServiceKeyManagement, t); err != nil {
		return nil, err
	}
	delete(h.keys, c.Handle)
	h.forgetLive(o)
	return nil, nil
}

type keyShareCmd struct {
	Handle      uint64 `json:"handle"`
	User        string `json:"user"`
	Share       bool   `json:"share"`
	QuorumToken string `json:"quorum_token,omitempty"`
}

// ShareKey shares (or with share=false unshares) a token key with another crypto user.
func (h *HSM) ShareKey(ctx context.Context, s *Session, ref uint64, username string, share bool, approval *Approval) error {
	op := "key share"
	if !share {
		op = "key unshare"
	}
	o, err := h.ownedKey(s, ref, op)
	if err != nil {
		return err
	}
	if !o.Attrs.Token {
		return invalid("key", "session keys cannot be shared")
	}
	name, err := normalizeUsername(username)
	if err != nil {
		return err
	}
	h.mu.RLock()
	u := h.users[name]
	h.mu.RUnlock()
	if u == nil || u.Role != RoleCrypto {
		return &NotFoundError{Kind: "crypto user", Name: name}
	}
	if name == o.Owner {
		return invalid("username", "the owner already has the key")
	}
	tok, err := h.checkKeyQuorum(o, ServiceKeyManagement, approval)
	if err != nil {
		return err
	}
	if _, err := h.propose(ctx, cmdKeyShare, keyShareCmd{Handle: ref, User: name, Share: share, QuorumToken: tok}); err != nil {
		return err
	}
	h.emit(Event{Opcode: OpShareObject, Result: ResultOK, User: s.User, Role: s.Role, Target: FormatKeyRef(ref), Message: op + " " + name})
	return nil
}

func applyKeyShare(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[keyShareCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	o, ok := h.keys[c.Handle]
	if !ok {
		return nil, &NotFoundError{Kind: "key", Name: FormatKeyRef(c.Handle)}
	}
	if u, ok := h.users[c.User]; !ok || u.Role != RoleCrypto {
		return nil, &NotFoundError{Kind: "crypto user", Name: c.User}
	}
	shared := false
	for _, v := range o.Shared {
		shared = shared || v == c.User
	}
	if c.Share == shared {
		if c.Share {
			return nil, &ConflictError{Reason: "the key is already shared with " + c.User}
		}
		return nil, &ConflictError{Reason: "the key is not shared with " + c.User}
	}
	if err := h.consumeToken(c.QuorumToken, ServiceKeyManagement, t); err != nil {
		return nil, err
	}
	n := o.clone()
	if c.Share {
		n.Shared = append(n.Shared, c.User)
		sort.Strings(n.Shared)
	} else {
		n.Shared = removeString(n.Shared, c.User)
	}
	h.keys[c.Handle] = n
	return nil, nil
}
