package hsm

import (
	"context"
	stdcrypto "crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/crypto"
)

// Internal service users are crypto users that Coffer's own services act as, e.g.
// "kms-service" owns the key material of standard KMS keys. They have no password, so
// nobody can log in as them through the native API, and they cannot be deleted.
const ServiceUserPrefix = "svc-"

type serviceUserCmd struct {
	Name string `json:"name"`
}

// ServiceSession returns a session of the internal service crypto user name (which must
// start with ServiceUserPrefix), creating the user on first use. The session does not
// expire; it ends when the cluster is zeroized.
func (h *HSM) ServiceSession(ctx context.Context, name string) (*Session, error) {
	if err := h.serviceErr(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(name, ServiceUserPrefix) {
		return nil, invalid("username", "service users start with %q", ServiceUserPrefix)
	}
	h.mu.RLock()
	st := h.cluster.State
	u := h.users[name]
	h.mu.RUnlock()
	if st != StateActive {
		if h.Status().Zeroizations > 0 {
			return nil, ErrZeroized
		}
		return nil, ErrNotInitialized
	}
	if u == nil {
		if _, err := h.propose(ctx, cmdServiceUser, serviceUserCmd{Name: name}); err != nil {
			var ce *ConflictError
			if !asConflict(err, &ce) {
				return nil, err
			}
		}
	} else if u.Role != RoleCrypto || u.PasswordHash != "" {
		return nil, &ConflictError{Reason: "user " + name + " exists and is not a service user"}
	}
	s := &Session{ID: name + "-service", User: name, Role: RoleCrypto, created: h.now(), keys: map[uint64]*keyObject{}}
	s.expires.Store(math.MaxInt64)
	h.sessMu.Lock()
	h.services = append(h.services, s)
	h.sessMu.Unlock()
	return s, nil
}

func asConflict(err error, ce **ConflictError) bool {
	c, ok := err.(*ConflictError)
	if ok {
		*ce = c
	}
	return ok
}

func applyServiceUser(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[serviceUserCmd](body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.users[c.Name]; ok {
		return nil, &ConflictError{Reason: "user " + c.Name + " already exists"}
	}
	if h.cluster.State != StateActive {
		return nil, ErrNotInitialized
	}
	h.users[c.Name] = &user{Name: c.Name, Role: RoleCrypto, Created: t}
	return nil, nil
}

// ExportableKeyPair generates a key pair whose private key leaves the HSM in plaintext
// (PKCS#8) together with its SubjectPublicKeyInfo: what KMS's GenerateDataKeyPair returns
// to its caller. keyType is rsa (bits 2048-4096), ec (curve) or ed25519. The pair passes the
// pairwise consistency test first. Crypto users only.
func (h *HSM) ExportableKeyPair(s *Session, keyType string, bits int, curve string) (pkcs8, spki []byte, err error) {
	const op = "generate data key pair"
	if err := h.requireRole(s, op, RoleCrypto); err != nil {
		return nil, nil, err
	}
	var priv stdcrypto.PrivateKey
	switch keyType {
	case TypeRSA:
		if bits < 2048 || bits > 4096 || bits%1024 != 0 {
			return nil, nil, invalid("modulus-size-bits", "must be 2048, 3072 or 4096")
		}
		priv, err = rsa.GenerateKey(h.cfg.Rand, bits)
	case TypeEC:
		c, ok := curveNames[strings.ToLower(curve)]
		if !ok {
			return nil, nil, invalid("curve", "unsupported curve %q", curve)
		}
		priv, err = crypto.GenerateEC(h.cfg.Rand, c)
	case TypeEd25519:
		_, priv, err = ed25519.GenerateKey(h.cfg.Rand)
	default:
		return nil, nil, invalid("key-type", "must be rsa, ec or ed25519")
	}
	if err != nil {
		return nil, nil, err
	}
	if err := crypto.PairwiseCheck(h.cfg.Rand, priv); err != nil {
		return nil, nil, &MechanismError{Op: op, Reason: "pairwise consistency test failed"}
	}
	if spki, err = crypto.MarshalPKIX(crypto.PublicKey(priv)); err != nil {
		return nil, nil, err
	}
	pkcs8, err = crypto.MarshalPKCS8(priv)
	(&liveKey{priv: priv}).zero()
	return pkcs8, spki, err
}

// RSA PKCS#1 v1.5 encryption, for unwrapping only (KMS import's legacy RSAES_PKCS1_V1_5).
const WrapRSAPKCS = "rsa-pkcs"

func unwrapRSAPKCS(priv *rsa.PrivateKey, wrapped []byte) ([]byte, error) {
	return rsa.DecryptPKCS1v15(nil, priv, wrapped)
}
