package kms

import (
	"context"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// HSM domains.
//
// A key reference (handle) names an HSM key object only within one life of the HSM
// cluster: zeroization resets the cluster, and a new Initialize (with a new domain key)
// hands out handles from 1 again, so an old handle may name a new, unrelated key object. A
// restore from backup brings back the same domain key with the same objects and handles.
//
// So every record that holds handles (a key version, an import token's wrapping key pair, a
// custom key store's password sealing key) also records the id of the domain key
// (hsm.Status().DomainKeyID) current when its objects were made, and a handle is used, or
// deleted, only while the cluster runs under that domain key. Records of older snapshots
// carry no domain key id and are used as before.
//
// The current domain key id is cached with the svc-kms session it was read after: a
// domain key changes only when the cluster is zeroized (then initialized or restored) or
// restored from a backup, and both end every session. A replicated-state snapshot
// installed on the node (Service.Restore, next to hsm.HSM.Restore, which keeps sessions)
// clears the cache. The check on the hot path is two atomic loads and a string comparison.
//
// The check is race-free when it runs after the HSM session of the operation was obtained:
// a domain change after the check ends that session, so the operation fails instead of
// resolving the handle in the new domain. handles (and liveHandles for deletions) are the
// places that turn a record into handles; callers call them inside withKeySession, or
// after session.

// domainCache is the domain key id read after sess was opened; valid while sess lives.
type domainCache struct {
	sess *hsm.Session
	id   string
}

// currentDomain returns the domain key id of the HSM cluster now ("" when uninitialized or
// zeroized).
func (s *Service) currentDomain() string {
	if c := s.domain.Load(); c != nil && !c.sess.Ended() {
		return c.id
	}
	s.sessMu.Lock()
	sess := s.sess
	s.sessMu.Unlock()
	id := s.cfg.HSM.Status().DomainKeyID
	if sess != nil && !sess.Ended() {
		// sess lived before the read and still does: no domain change came between.
		s.domain.Store(&domainCache{sess: sess, id: id})
	}
	return id
}

// noteSession caches the domain key id for a new svc-kms session (under sessMu).
func (s *Service) noteSession(sess *hsm.Session) {
	s.domain.Store(&domainCache{sess: sess, id: s.cfg.HSM.Status().DomainKeyID})
}

// otherDomain reports whether objects made under domain key recorded are out of reach now
// (cur being the current domain key id): recorded is set (records of older snapshots are
// not) and differs.
func otherDomain(recorded, cur string) bool { return recorded != "" && recorded != cur }

// unavailableMaterial is KMS's answer for a key whose material was made under another
// domain key than the cluster's current one, as for material that is not in the cluster.
func unavailableMaterial(k *keyRec, recorded, cur string) *Error {
	if cur == "" {
		return invalidState("%s is unavailable: its key material is not in the HSM cluster (the cluster was zeroized; the material belonged to domain key %s).", k.arn(), recorded)
	}
	return invalidState("%s is unavailable: its key material is not in the HSM cluster (it was made under domain key %s; the cluster was zeroized and now uses domain key %s). Restore the cluster from a backup of domain key %s to use it again.", k.arn(), recorded, cur, recorded)
}

// material is the service session and the HSM handles of a key version, for an
// operation on its material: session errors are mapped for the caller, and handles
// refuses material from another domain key.
func (s *Service) material(ctx context.Context, k *keyRec, v *version) (*hsm.Session, []uint64, error) {
	sess, err := s.session(ctx)
	if err != nil {
		return nil, nil, AsError(err)
	}
	hs, err := s.handles(k, v)
	if err != nil {
		return nil, nil, err
	}
	return sess, hs, nil
}

// handles returns the HSM key references of version v of k for an HSM operation, or
// KMSInvalidStateException when v was made under another domain key (the references
// would name other objects, or none). Call it after getting the session the operation
// runs in.
func (s *Service) handles(k *keyRec, v *version) ([]uint64, error) {
	if v.Domain != "" {
		if cur := s.currentDomain(); v.Domain != cur {
			return nil, unavailableMaterial(k, v.Domain, cur)
		}
	}
	return v.Handles, nil
}

// materialAvailable is an early check (before DryRun answers, rotations...) that the
// current version of m was not made under another domain key. A zeroized cluster is left
// to the session to report; handles is still the authoritative check.
func (s *Service) materialAvailable(k *keyRec, m *material) error {
	if len(m.Versions) == 0 || m.Current >= len(m.Versions) {
		return nil
	}
	return s.versionAvailable(k, &m.Versions[m.Current])
}

func (s *Service) versionAvailable(k *keyRec, v *version) error {
	if v.Domain == "" {
		return nil
	}
	if cur := s.currentDomain(); cur != "" && v.Domain != cur {
		return unavailableMaterial(k, v.Domain, cur)
	}
	return nil
}

// liveHandles returns the handles of vs that may be deleted in the current domain: those
// made under another domain key are skipped (their objects went with the old domain; the
// handles may name other objects now). Call it after getting the session that deletes.
func (s *Service) liveHandles(vs []version) []uint64 {
	var out []uint64
	cur := ""
	for _, v := range vs {
		if v.Domain != "" {
			if cur == "" {
				cur = s.currentDomain()
			}
			if v.Domain != cur {
				continue
			}
		}
		out = append(out, v.Handles...)
	}
	return out
}
