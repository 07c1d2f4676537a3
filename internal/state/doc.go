// Package state is Coffer's replicated state machine, built on
// github.com/hashicorp/raft.
//
// # Overview
//
// Every durable mutation of the product (HSM users, keys, KMS keys, ...) is a
// typed, versioned [Command] proposed through raft with [Store.Propose]. Once
// the command is committed to the raft log it is applied, in log order, to the
// [Part] that owns it. A single node is simply a one-voter cluster and uses
// exactly the same code path as a three-node cluster: there is no "local
// write" shortcut.
//
// # Commands
//
// A [Command] carries a stable dotted Type ("hsm.user.create"), an explicit
// schema Version, the proposer's wall-clock Time (UTC) and a JSON Body. The
// first segment of Type names the owning Part; the command is routed to it.
// Type strings and body schemas are part of the on-disk format: never rename a
// Type, never persist Go iota enums, and bump Version (keeping the old decoder)
// when a body schema changes, because old log entries and snapshots are
// replayed by new binaries.
//
// # Parts and the FSM contract
//
// A [Part] is one domain's slice of the replicated state (e.g. "hsm", later
// "kms"). The contract mirrors raft's FSM (fsm.go):
//
//   - Threading. Apply, Snapshot and Restore are never called concurrently
//     with each other: the Store serialises them under one lock. Apply is
//     called from raft's single FSM goroutine, in log order, exactly once
//     per committed command on every node (and again on replay after a
//     restart, on top of the state restored from the latest snapshot). The
//     part may serve reads from other goroutines concurrently, under its own
//     locks.
//   - Determinism. Apply must produce the same state on every node and on
//     every replay: no clocks (use Command.Time), no randomness (the proposer
//     generates random material and puts it in the body, or derives it
//     deterministically), no I/O, no dependence on map iteration order.
//     Snapshot+Restore must round-trip exactly.
//   - Errors. An error returned by Apply means the command was rejected: the
//     part must have left its state unchanged. The command stays in the log
//     (it is committed) and is rejected again, identically, on replay. The
//     error and the result value are handed only to the in-process proposer
//     (Propose on the node where the command was proposed); other nodes
//     discard them. Apply must not panic; if it does, the panic is recovered
//     and turned into an error result, but the part's state may then be
//     inconsistent.
//   - Snapshot returns a self-contained encoding of the part's whole state.
//     It should be reasonably fast: Apply is blocked while it runs.
//   - Restore replaces the part's whole state (nil data means empty state).
//     It must accept anything its own Snapshot produced, including from older
//     versions of the binary. A Restore error during raft start-up makes Open
//     fail.
//
// The raft FSM itself never panics and never halts on bad input: an entry
// that cannot be decoded, or that names an unknown part, yields an error
// result for that entry and the FSM continues with the next one.
//
// # Snapshots
//
// Snapshots (raft's, [Store.SnapshotData] and backups) share one versioned,
// self-describing JSON format:
//
//	{"format":"coffer-state","version":1,"index":N,"parts":{"hsm":"<base64>",...}}
//
// index is the raft index of the last command applied to the encoded state.
// Decoding rejects an unknown format, an unknown version, or a part this
// binary does not know (to never silently drop state). Registered parts that
// are absent from a snapshot are restored to the empty state.
//
// # Durability
//
// The raft log and stable store live in Dir/raft.db (raft-boltdb v2 over
// bbolt, fsync on every commit) and snapshots in Dir/snapshots (retain 2).
// An acknowledged Propose has been fsynced on a quorum and survives kill -9.
//
// Note that command bodies are stored as given (JSON) in the log and in
// snapshots: anything secret must already be encrypted (sealed) by the part
// before it is proposed.
//
// # Zeroization
//
// [Store.Wipe] shuts raft down, overwrites every file under Dir with zeros
// (with fsync) before removing it, resets every part to empty and bootstraps
// a fresh one-voter cluster. Overwriting files is best effort at the storage
// layer (journaling file systems and SSD wear-levelling may keep copies of
// old blocks, and the blocks of files raft deleted earlier, such as reaped
// snapshots, are no longer reachable); the real guarantee must come from
// destroying the sealing keys.
package state
