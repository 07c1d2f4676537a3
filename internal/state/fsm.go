package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Command is a committed, typed, versioned mutation. Type is a stable dotted
// name whose first segment is the owning Part's name, e.g. "hsm.user.create".
// Never persist Go iota enums.
type Command struct {
	Type    string          `json:"type"`
	Version int             `json:"v"`
	Time    time.Time       `json:"time"` // proposer's wall clock (UTC); Apply must use this, never time.Now
	Body    json.RawMessage `json:"body"`
}

// DecodeBody decodes a command's body into T: the Apply side of the JSON body that
// Propose encoded.
func DecodeBody[T any](body json.RawMessage) (T, error) {
	var v T
	err := json.Unmarshal(body, &v)
	return v, err
}

// Part is one domain's slice of the replicated state (e.g. "hsm", later "kms").
// See the package documentation for the full threading, determinism and error
// contract.
type Part interface {
	// Name is the part's stable name: the first segment of the Type of every
	// command it owns, and its key in snapshots. It must not contain '.'.
	Name() string
	// Apply applies a committed command routed to this part. Called from one
	// goroutine, in log order. Deterministic: no clocks, randomness or I/O.
	// The returned value is handed to the in-process proposer; a returned
	// error means the command was rejected and must have left the state
	// unchanged (the error is returned by Propose on the proposing node).
	Apply(index uint64, cmd Command) (any, error)
	// Snapshot returns a self-contained encoding of the part's state. It is
	// never called concurrently with Apply or Restore; the part may keep
	// serving reads concurrently under its own locks.
	Snapshot() ([]byte, error)
	// Restore replaces the part's whole state; data == nil means empty state.
	Restore(data []byte) error
}

// SnapshotValidator may optionally be implemented by a Part. When present,
// Store.RestoreFromData calls it on the part's bytes before anything is
// changed, so that a bad backup is rejected cleanly instead of failing inside
// raft (where a failed restore is fatal).
type SnapshotValidator interface {
	ValidateSnapshot(data []byte) error
}

// Errors returned by the FSM and Propose.
var (
	// ErrUnknownPart: the command's Type does not name a registered Part.
	ErrUnknownPart = errors.New("state: unknown part")
	// ErrBadEntry: a log entry could not be decoded as a Command.
	ErrBadEntry = errors.New("state: undecodable log entry")
	// ErrPartPanic: a Part's Apply panicked (contract violation).
	ErrPartPanic = errors.New("state: part panicked during apply")
)

// applyResult is what fsm.Apply hands back to raft (ApplyFuture.Response).
type applyResult struct {
	res any
	err error
}

// partName returns the first dotted segment of a command type.
func partName(typ string) string {
	if i := strings.IndexByte(typ, '.'); i >= 0 {
		return typ[:i]
	}
	return typ
}

// fsm implements raft.FSM over a fixed set of Parts. One fsm lives as long as
// the Store and is reused across Wipe (the raft instance that drives it is
// always fully shut down before another one is started).
type fsm struct {
	parts  map[string]Part
	names  []string // sorted, for deterministic iteration
	logger *slog.Logger

	mu    sync.Mutex // serialises Apply, Snapshot, Restore and SnapshotData
	index uint64     // raft index of the last command applied (or restored)
	// applied mirrors index for Status without waiting for f.mu (a restore
	// holds it long).
	applied atomic.Uint64
}

var _ raft.FSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applyLocked(l.Index, l.Data)
}

func (f *fsm) applyLocked(index uint64, data []byte) (r *applyResult) {
	// The index advances even for rejected entries: they are part of the log.
	f.index = index
	f.applied.Store(index)
	var cmd Command
	if err := json.Unmarshal(data, &cmd); err != nil {
		return &applyResult{err: fmt.Errorf("%w at index %d: %v", ErrBadEntry, index, err)}
	}
	name := partName(cmd.Type)
	p, ok := f.parts[name]
	if !ok {
		return &applyResult{err: fmt.Errorf("%w %q (command %q at index %d)", ErrUnknownPart, name, cmd.Type, index)}
	}
	defer func() {
		if v := recover(); v != nil {
			f.logger.Error("state: part panicked in Apply", "part", name, "type", cmd.Type, "index", index, "panic", fmt.Sprint(v))
			r = &applyResult{err: fmt.Errorf("%w: %s %q at index %d: %v", ErrPartPanic, name, cmd.Type, index, v)}
		}
	}()
	res, err := p.Apply(index, cmd)
	return &applyResult{res: res, err: err}
}

// encodeLocked snapshots every part. Caller holds f.mu.
func (f *fsm) encodeLocked() ([]byte, error) {
	snap := Snapshot{Format: SnapshotFormat, Version: SnapshotVersion, Index: f.index, Parts: make(map[string][]byte, len(f.names))}
	for _, n := range f.names {
		b, err := f.parts[n].Snapshot()
		if err != nil {
			return nil, fmt.Errorf("state: snapshot of part %q: %w", n, err)
		}
		snap.Parts[n] = b
	}
	return EncodeSnapshot(&snap)
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.encodeLocked()
	if err != nil {
		return nil, err
	}
	return fsmSnapshot(b), nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("state: reading snapshot: %w", err)
	}
	snap, err := DecodeSnapshot(data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restoreLocked(snap)
}

// checkParts rejects snapshots holding parts this binary does not know.
func (f *fsm) checkParts(snap *Snapshot) error {
	for n := range snap.Parts {
		if _, ok := f.parts[n]; !ok {
			return fmt.Errorf("%w %q in snapshot (refusing to drop its state)", ErrUnknownPart, n)
		}
	}
	return nil
}

// restoreLocked replaces every part's state with the snapshot's. Parts missing
// from the snapshot are reset to empty. On failure it tries to roll every part
// back to its previous state. Caller holds f.mu.
func (f *fsm) restoreLocked(snap *Snapshot) error {
	if err := f.checkParts(snap); err != nil {
		return err
	}
	prev := make(map[string][]byte, len(f.names))
	for _, n := range f.names {
		b, err := f.parts[n].Snapshot()
		if err != nil {
			return fmt.Errorf("state: saving part %q before restore: %w", n, err)
		}
		prev[n] = b
	}
	for i, n := range f.names {
		if err := f.parts[n].Restore(snap.Parts[n]); err != nil {
			for _, m := range f.names[:i+1] {
				if rerr := f.parts[m].Restore(prev[m]); rerr != nil {
					f.logger.Error("state: rollback after failed restore failed", "part", m, "error", rerr)
				}
			}
			return fmt.Errorf("state: restore of part %q: %w", n, err)
		}
	}
	f.index = snap.Index
	f.applied.Store(snap.Index)
	return nil
}

// snapshotParts encodes a snapshot holding only the named parts (nil for no
// names). Unknown names are an error.
func (f *fsm) snapshotParts(names []string) ([]byte, error) {
	if len(names) == 0 {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	snap := Snapshot{Index: f.index, Parts: make(map[string][]byte, len(names))}
	for _, n := range names {
		p, ok := f.parts[n]
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownPart, n)
		}
		b, err := p.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("snapshot of part %q: %w", n, err)
		}
		snap.Parts[n] = b
	}
	return EncodeSnapshot(&snap)
}

// reset empties every part but those named in keep (used by Wipe).
func (f *fsm) reset(keep []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, n := range f.names {
		if slices.Contains(keep, n) {
			continue
		}
		if err := f.parts[n].Restore(nil); err != nil {
			errs = append(errs, fmt.Errorf("state: reset of part %q: %w", n, err))
		}
	}
	f.index = 0
	f.applied.Store(0)
	return errors.Join(errs...)
}

// fsmSnapshot is an already-encoded, immutable snapshot.
type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}
