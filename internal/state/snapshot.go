package state

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Snapshot format identifiers.
const (
	SnapshotFormat  = "coffer-state"
	SnapshotVersion = 1
)

// ErrSnapshotFormat is returned (wrapped) when snapshot data is not a
// supported coffer-state snapshot.
var ErrSnapshotFormat = errors.New("state: unsupported snapshot")

// Snapshot is the decoded form of the full-state encoding shared by raft
// snapshots, SnapshotData and backups:
//
//	{"format":"coffer-state","version":1,"index":N,"parts":{"hsm":"<base64>",...}}
type Snapshot struct {
	Format  string            `json:"format"`
	Version int               `json:"version"`
	Index   uint64            `json:"index"` // raft index of the last applied command
	Parts   map[string][]byte `json:"parts"` // part name -> Part.Snapshot output
}

// EncodeSnapshot encodes s (Format and Version are filled in when empty).
func EncodeSnapshot(s *Snapshot) ([]byte, error) {
	c := *s
	if c.Format == "" {
		c.Format = SnapshotFormat
	}
	if c.Version == 0 {
		c.Version = SnapshotVersion
	}
	if c.Format != SnapshotFormat || c.Version != SnapshotVersion {
		return nil, fmt.Errorf("%w: cannot encode format %q version %d", ErrSnapshotFormat, c.Format, c.Version)
	}
	if c.Parts == nil {
		c.Parts = map[string][]byte{}
	}
	return json.Marshal(&c)
}

// DecodeSnapshot decodes and validates data produced by EncodeSnapshot,
// SnapshotData or a raft snapshot. It rejects unknown formats and versions.
func DecodeSnapshot(data []byte) (*Snapshot, error) {
	var probe struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: not a JSON coffer-state snapshot: %v", ErrSnapshotFormat, err)
	}
	if probe.Format != SnapshotFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrSnapshotFormat, probe.Format, SnapshotFormat)
	}
	if probe.Version != SnapshotVersion {
		return nil, fmt.Errorf("%w: %s version %d, this binary supports version %d", ErrSnapshotFormat, SnapshotFormat, probe.Version, SnapshotVersion)
	}
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshotFormat, err)
	}
	if s.Parts == nil {
		s.Parts = map[string][]byte{}
	}
	return &s, nil
}

// RestoreParts restores parts directly from data (SnapshotData output, a
// backup or a raft snapshot), without raft. It returns the snapshot's applied
// index. Parts absent from data are reset to empty; a part in data that is not
// among parts is an error. Nothing durable is written: this is meant for
// offline tools and conformance tests (Store.RestoreFromData is the durable,
// replicated path).
func RestoreParts(data []byte, parts ...Part) (uint64, error) {
	f, err := newFSM(nil, parts)
	if err != nil {
		return 0, err
	}
	snap, err := DecodeSnapshot(data)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.restoreLocked(snap); err != nil {
		return 0, err
	}
	return snap.Index, nil
}
