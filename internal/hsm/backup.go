package hsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coffer-hsm/coffer/internal/seal"
)

// DomainKeyForBackup returns a copy of this node's unsealed domain key, for writing a
// backup archive: the archive carries the key only wrapped for the backup's custodians
// (Shamir shares, see internal/backup). This is the one path by which the domain key leaves
// this package. The caller owns the copy and must Zeroize it as soon as the archive is
// written.
//
// Errors: ErrNotInitialized when the cluster has no domain key, ErrZeroized when it was
// zeroized meanwhile, ErrSelfTest when the node refuses service, or the error saying the
// domain key is still sealed on this node.
func (h *HSM) DomainKeyForBackup() (*seal.DomainKey, error) {
	h.mu.RLock()
	err := h.serviceErr()
	h.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	dk, err := h.domainKey()
	if err != nil {
		return nil, err
	}
	b := dk.Bytes()
	defer clear(b)
	if dk.Zeroized() {
		return nil, ErrZeroized
	}
	cp, err := seal.FromBytes(b)
	if err != nil {
		// A key zeroized between the check and the copy reads as zero bytes.
		return nil, fmt.Errorf("%w: %v", ErrZeroized, err)
	}
	return cp, nil
}

// OpRestore is the audit opcode of a restore from backup (Coffer's own: CloudHSM restores
// backups outside the HSM).
const OpRestore = "CN_RESTORE_BACKUP"

// cmdRestore replaces the state of an UNINITIALIZED cluster with the hsm part of a backup.
// It is persisted in the replicated log: never rename it.
const cmdRestore = "hsm.cluster.restore"

// restoreCmd carries the backup's hsm part as Snapshot produced it. That state holds key
// material only sealed under the domain key (and password hashes), so it may sit in the
// replicated log like every other command body.
type restoreCmd struct {
	DomainKeyID string `json:"domain_key_id"`
	State       []byte `json:"state"`
}

// restoreMu serializes RestoreBackup calls in this process, so that two restores cannot
// interleave their writes of the domain key file. (InitializeCluster and restores are
// serialized above this package by the cluster record's INITIALIZE_IN_PROGRESS claim.)
var restoreMu sync.Mutex

// decodePart decodes and checks the hsm part's snapshot as Restore would accept it, plus
// the invariants a restore relies on (no nil records, a known cluster state).
func decodePart(data []byte) (persisted, error) {
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("not a JSON %s snapshot: %v", snapshotFormat, err)
	}
	if p.Format != snapshotFormat || p.Version != snapshotVersion {
		return p, fmt.Errorf("unsupported snapshot %q version %d", p.Format, p.Version)
	}
	switch p.Cluster.State {
	case StateUninitialized, StateInitialized, StateActive:
	default:
		return p, fmt.Errorf("unknown cluster state %q", p.Cluster.State)
	}
	for name, u := range p.Users {
		if u == nil || u.Name != name {
			return p, fmt.Errorf("user record %q is malformed", name)
		}
	}
	for handle, k := range p.Keys {
		if k == nil || k.Handle != handle {
			return p, fmt.Errorf("key record %d is malformed", handle)
		}
	}
	for id, tok := range p.Tokens {
		if tok == nil || tok.ID != id {
			return p, fmt.Errorf("quorum token record %q is malformed", id)
		}
	}
	return p, nil
}

// ValidateSnapshot implements state.SnapshotValidator: it rejects hsm part data that
// Restore would refuse or that is internally inconsistent. Nil data (empty state) is valid.
func (h *HSM) ValidateSnapshot(data []byte) error {
	if data == nil {
		return nil
	}
	if _, err := decodePart(data); err != nil {
		return fmt.Errorf("hsm: %w", err)
	}
	return nil
}

// RestoreBackup brings an UNINITIALIZED cluster back from a backup: hsmPart is the "hsm"
// part of the backup's state snapshot (what Snapshot produced on the backed-up cluster) and
// dk the domain key recovered from the backup's custodian shares. RestoreBackup keeps its
// own copy of dk; the caller still owns dk and zeroizes it.
//
// The key is sealed to this node's domain key file, then a replicated command replaces the
// cluster's users, keys, quorum tokens, login policy and state with the backup's (sessions
// and decrypted keys are dropped). A backup of an ACTIVE cluster restores an ACTIVE
// cluster whose users log in with their passwords of the time of the backup.
//
// Errors: a *ConflictError when the cluster is not UNINITIALIZED; a *ValidationError when
// hsmPart is not a valid hsm snapshot, holds an uninitialized cluster, or belongs to
// another domain key than dk; ErrSelfTest when the node refuses service.
func (h *HSM) RestoreBackup(ctx context.Context, dk *seal.DomainKey, hsmPart []byte) error {
	h.mu.RLock()
	err := h.serviceErr()
	h.mu.RUnlock()
	if err != nil {
		return err
	}
	if dk == nil || dk.Zeroized() {
		return invalid("domain key", "a live domain key recovered from the backup's shares is required")
	}
	p, err := decodePart(hsmPart)
	if err != nil {
		return invalid("backup", "the backup's HSM state is not valid: %v", err)
	}
	if p.Cluster.State == StateUninitialized {
		return invalid("backup", "the backup holds an uninitialized HSM: there is nothing to restore")
	}
	if p.Cluster.DomainKeyID != dk.ID() {
		return invalid("shares", "the shares recover domain key %s but the backup's HSM state uses domain key %s: the shares belong to another domain key", dk.ID(), p.Cluster.DomainKeyID)
	}
	restoreMu.Lock()
	defer restoreMu.Unlock()
	h.mu.RLock()
	st := h.cluster.State
	h.mu.RUnlock()
	if st != StateUninitialized {
		return &ConflictError{Reason: "the cluster is " + st + ": only an UNINITIALIZED (new or zeroized) cluster can be restored from a backup"}
	}
	b := dk.Bytes()
	cp, err := seal.FromBytes(b)
	clear(b)
	if err != nil {
		return err
	}
	if err := seal.Save(h.cfg.DomainKeyPath, h.cfg.Sealer, cp); err != nil {
		cp.Zeroize()
		return err
	}
	if _, err := h.propose(ctx, cmdRestore, restoreCmd{DomainKeyID: cp.ID(), State: hsmPart}); err != nil {
		cp.Zeroize()
		_ = seal.Erase(h.cfg.DomainKeyPath)
		return err
	}
	h.dkMu.Lock()
	if h.dk != nil {
		h.dk.Zeroize()
	}
	h.dk = cp
	h.dkMu.Unlock()
	h.emit(Event{Opcode: OpRestore, Result: ResultOK, Target: cp.ID(),
		Message: fmt.Sprintf("restored %s cluster: %d users, %d keys", p.Cluster.State, len(p.Users), len(p.Keys))})
	return nil
}

func applyRestore(h *HSM, t time.Time, body json.RawMessage) (any, error) {
	c, err := decode[restoreCmd](body)
	if err != nil {
		return nil, err
	}
	p, err := decodePart(c.State)
	if err != nil {
		return nil, invalid("backup", "the backup's HSM state is not valid: %v", err)
	}
	if p.Cluster.State == StateUninitialized || p.Cluster.DomainKeyID != c.DomainKeyID {
		return nil, errors.New("hsm: restore: the backup's HSM state does not match the restored domain key")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cluster.State != StateUninitialized {
		return nil, &ConflictError{Reason: "the cluster is " + h.cluster.State + ": only an UNINITIALIZED cluster can be restored from a backup"}
	}
	h.dropLiveKeys()
	h.dropAllSessions()
	h.reset()
	h.cluster = p.Cluster
	if p.Users != nil {
		h.users = p.Users
	}
	if p.Keys != nil {
		h.keys = p.Keys
	}
	if p.Tokens != nil {
		h.tokens = p.Tokens
	}
	return nil, nil
}
