package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/coffer-hsm/coffer/internal/fsutil"
)

const (
	defaultSnapshotThreshold = 1024
	defaultProposeTimeout    = 10 * time.Second
	openLeaderTimeout        = 10 * time.Second
	boltFile                 = "raft.db"
	snapshotDir              = "snapshots"
	snapshotRetain           = 2
	logCacheSize             = 512
)

// Config configures a Store.
type Config struct {
	NodeID   string       // stable node id
	Dir      string       // directory for raft data (created 0700): raft.db (raft-boltdb v2 / bbolt log+stable store), snapshots/ (raft.FileSnapshotStore, retain 2)
	BindAddr string       // "" = single node with raft.InmemTransport (no port); otherwise TCP transport on this address
	Logger   *slog.Logger // may be nil (discard); raft's own output is forwarded at warn level and above

	SnapshotThreshold uint64 // 0 = default 1024
}

// Status is a point-in-time view of the local raft node.
type Status struct {
	NodeID            string
	Role              string // "leader", "follower", "candidate", "shutdown"
	LeaderID          string
	AppliedIndex      uint64
	CommitIndex       uint64
	LastSnapshotIndex uint64
}

// ErrClosed is returned by operations on a closed Store (or one whose Wipe
// failed half-way).
var ErrClosed = errors.New("state: store is closed")

// ErrNotLeader is returned by Propose (and other leader-only operations) when
// this node is not the raft leader. LeaderID/LeaderAddr are empty when no
// leader is currently known. Match it with errors.As(err, &ErrNotLeader{}) or
// IsNotLeader(err); errors.Is(err, raft.ErrNotLeader) also holds.
type ErrNotLeader struct {
	LeaderID   string
	LeaderAddr string
}

func (e ErrNotLeader) Error() string {
	if e.LeaderID == "" {
		return "state: not the leader (no leader known)"
	}
	return fmt.Sprintf("state: not the leader (leader is %s at %s)", e.LeaderID, e.LeaderAddr)
}

// Is reports true for any ErrNotLeader value and for raft.ErrNotLeader.
func (e ErrNotLeader) Is(target error) bool {
	switch target.(type) {
	case ErrNotLeader, *ErrNotLeader:
		return true
	}
	return target == raft.ErrNotLeader
}

// IsNotLeader reports whether err is (or wraps) ErrNotLeader.
func IsNotLeader(err error) bool {
	var e ErrNotLeader
	return errors.As(err, &e)
}

// node is one raft incarnation (replaced wholesale by Wipe).
type node struct {
	raft  *raft.Raft
	bolt  *raftboltdb.BoltStore
	trans raft.Transport
}

// Store is Coffer's replicated state: a raft node driving a set of Parts.
// All methods are safe for concurrent use.
type Store struct {
	cfg    Config
	logger *slog.Logger
	hlog   hclog.Logger
	fsm    *fsm

	mu     sync.RWMutex // guards n and closed; held exclusively by Close and Wipe
	n      *node        // nil when closed or after a failed Wipe
	closed bool

	gate sync.RWMutex // Propose holds it shared, Wipe exclusively
}

func newFSM(logger *slog.Logger, parts []Part) (*fsm, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &fsm{parts: make(map[string]Part, len(parts)), logger: logger}
	for _, p := range parts {
		if p == nil {
			return nil, errors.New("state: nil part")
		}
		n := p.Name()
		if n == "" || strings.ContainsAny(n, ". ") {
			return nil, fmt.Errorf("state: invalid part name %q", n)
		}
		if _, dup := f.parts[n]; dup {
			return nil, fmt.Errorf("state: duplicate part %q", n)
		}
		f.parts[n] = p
		f.names = append(f.names, n)
	}
	slices.Sort(f.names)
	return f, nil
}

// Open opens (or creates) the raft data in cfg.Dir and starts the node. When
// no raft state exists it bootstraps a one-voter cluster made of this node.
// The parts are restored by raft from the latest snapshot followed by replay
// of the log. In single-node mode (BindAddr == "") Open also waits until the
// node is leader and every committed entry has been applied, so the parts
// reflect all acknowledged commands when Open returns. In TCP mode call
// WaitLeader.
func Open(cfg Config, parts ...Part) (*Store, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("state: Config.NodeID is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("state: Config.Dir is required")
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = defaultSnapshotThreshold
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f, err := newFSM(logger, parts)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, logger: logger, hlog: newRaftLogger(logger), fsm: f}
	n, err := s.start()
	if err != nil {
		return nil, err
	}
	s.n = n
	if cfg.BindAddr == "" {
		ctx, cancel := context.WithTimeout(context.Background(), openLeaderTimeout)
		defer cancel()
		if err := s.WaitLeader(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("state: single node did not become leader: %w", err)
		}
	}
	return s, nil
}

func (s *Store) raftConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(s.cfg.NodeID)
	c.Logger = s.hlog
	c.SnapshotThreshold = s.cfg.SnapshotThreshold
	if s.cfg.BindAddr == "" {
		// One voter that can never have peers: nothing to wait for but our
		// own election timer.
		c.HeartbeatTimeout = 100 * time.Millisecond
		c.ElectionTimeout = 100 * time.Millisecond
		c.LeaderLeaseTimeout = 50 * time.Millisecond
		c.CommitTimeout = 5 * time.Millisecond
	}
	return c
}

// start opens stores and transport and starts raft, bootstrapping if needed.
func (s *Store) start() (n *node, err error) {
	dir := s.cfg.Dir
	if err := os.MkdirAll(filepath.Join(dir, snapshotDir), 0o700); err != nil {
		return nil, fmt.Errorf("state: creating %s: %w", dir, err)
	}
	_ = os.Chmod(dir, 0o700)
	_ = os.Chmod(filepath.Join(dir, snapshotDir), 0o700)

	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, boltFile),
		BoltOptions: &bbolt.Options{Timeout: 2 * time.Second},
		NoSync:      false, // fsync every append: acknowledged == durable
	})
	if err != nil {
		return nil, fmt.Errorf("state: opening %s: %w", boltFile, err)
	}
	defer func() {
		if err != nil {
			bolt.Close()
		}
	}()
	logs, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotRetain, s.hlog.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("state: snapshot store: %w", err)
	}

	var trans raft.Transport
	if s.cfg.BindAddr == "" {
		_, trans = raft.NewInmemTransport(raft.ServerAddress("inmem:" + s.cfg.NodeID))
	} else {
		nt, err := raft.NewTCPTransportWithLogger(s.cfg.BindAddr, nil, 3, 10*time.Second, s.hlog.Named("transport"))
		if err != nil {
			return nil, fmt.Errorf("state: tcp transport on %s: %w", s.cfg.BindAddr, err)
		}
		trans = nt
	}
	closeTrans := func() {
		if c, ok := trans.(raft.WithClose); ok {
			c.Close()
		}
	}

	conf := s.raftConfig()
	has, err := raft.HasExistingState(logs, bolt, snaps)
	if err != nil {
		closeTrans()
		return nil, fmt.Errorf("state: inspecting raft state: %w", err)
	}
	if !has {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       conf.LocalID,
			Address:  trans.LocalAddr(),
		}}}
		if err := raft.BootstrapCluster(conf, logs, bolt, snaps, trans, boot); err != nil {
			closeTrans()
			return nil, fmt.Errorf("state: bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(conf, s.fsm, logs, bolt, snaps, trans)
	if err != nil {
		closeTrans()
		return nil, fmt.Errorf("state: starting raft: %w", err)
	}
	return &node{raft: r, bolt: bolt, trans: trans}, nil
}

// stop shuts raft down (which waits for the FSM goroutine and closes the
// transport) and closes the bolt file.
func (n *node) stop() error {
	var errs []error
	if err := n.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("state: raft shutdown: %w", err))
	}
	if err := n.bolt.Close(); err != nil {
		errs = append(errs, fmt.Errorf("state: closing %s: %w", boltFile, err))
	}
	return errors.Join(errs...)
}

// current returns the live raft node.
func (s *Store) current() (*node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.n == nil {
		return nil, ErrClosed
	}
	return s.n, nil
}

// notLeader builds the typed error from the node's view of the leader.
func notLeader(r *raft.Raft) error {
	addr, id := r.LeaderWithID()
	return ErrNotLeader{LeaderID: string(id), LeaderAddr: string(addr)}
}

// leaderNode returns the live node if it is the leader. While no leader is
// known at all (start-up, election, a concurrent Wipe) it waits, within ctx;
// if another node is leader it fails at once with ErrNotLeader.
func (s *Store) leaderNode(ctx context.Context) (*node, error) {
	var t *time.Ticker
	for {
		n, err := s.current()
		if err != nil {
			return nil, err
		}
		if n.raft.State() == raft.Leader {
			return n, nil
		}
		if _, id := n.raft.LeaderWithID(); id != "" {
			return nil, notLeader(n.raft)
		}
		if t == nil {
			t = time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNotLeader{}, ctx.Err())
		case <-t.C:
		}
	}
}

// WaitLeader blocks until this node is leader or a leader is known. When this
// node is the leader it also waits until every entry committed before the call
// has been applied locally (a raft barrier), so reads of the parts are
// current. It keeps waiting across a concurrent Wipe.
func (s *Store) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		n, err := s.current()
		if err != nil {
			return err
		}
		if n.raft.State() == raft.Leader {
			if err := n.raft.Barrier(time.Until(deadlineOr(ctx, defaultProposeTimeout))).Error(); err == nil {
				return nil
			}
			// Lost leadership or shut down by a Wipe: look again.
		} else if _, id := n.raft.LeaderWithID(); id != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("state: waiting for a leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func deadlineOr(ctx context.Context, d time.Duration) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(d)
}

// Propose replicates a command of type typ (schema version) with the
// JSON-marshalled body and waits until it has been committed and applied on
// this node. It returns the owning Part's Apply result, or its error exactly
// as returned (compare with errors.Is/As). Other errors:
//   - ErrUnknownPart when typ names no registered part (nothing is proposed);
//   - ErrNotLeader when another node is the leader (while no leader is known,
//     e.g. during an election or a concurrent Wipe, Propose waits within ctx);
//   - raft.ErrLeadershipLost (wrapped): leadership was lost before the entry
//     was known to be committed — it may or may not be applied later;
//   - the context's error when ctx ends first (default deadline 10 s): here
//     too the command may still commit afterwards;
//   - ErrClosed after Close.
//
// Command.Time is set to time.Now().UTC() on the proposer.
func (s *Store) Propose(ctx context.Context, typ string, version int, body any) (any, error) {
	// A Wipe runs alone: commands wait for it (see Wipe), so that none lands in the fresh
	// log before the kept parts are written back, where the restore would drop it.
	s.gate.RLock()
	defer s.gate.RUnlock()
	if _, ok := s.fsm.parts[partName(typ)]; !ok {
		return nil, fmt.Errorf("%w %q (command %q)", ErrUnknownPart, partName(typ), typ)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("state: encoding %s body: %w", typ, err)
	}
	data, err := json.Marshal(Command{Type: typ, Version: version, Time: time.Now().UTC(), Body: b})
	if err != nil {
		return nil, fmt.Errorf("state: encoding %s: %w", typ, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultProposeTimeout)
		defer cancel()
	}
	n, err := s.leaderNode(ctx)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("state: %s: not proposed: %w", typ, err)
	}
	dl, _ := ctx.Deadline()
	fut := n.raft.Apply(data, time.Until(dl))
	done := make(chan struct{})
	go func() { fut.Error(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("state: %s: outcome unknown: %w", typ, ctx.Err())
	}
	if err := fut.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return nil, notLeader(n.raft)
		}
		return nil, fmt.Errorf("state: %s: %w", typ, err)
	}
	res, ok := fut.Response().(*applyResult)
	if !ok {
		return nil, fmt.Errorf("state: %s: unexpected FSM response %T", typ, fut.Response())
	}
	return res.res, res.err
}

// Status reports the local node's raft status.
func (s *Store) Status() Status {
	st := Status{NodeID: s.cfg.NodeID, Role: "shutdown"}
	n, err := s.current()
	if err != nil {
		return st
	}
	r := n.raft
	st.Role = strings.ToLower(r.State().String())
	_, id := r.LeaderWithID()
	st.LeaderID = string(id)
	// raft advances its applied index only after handing entries to the FSM,
	// so a command can be applied (and its Propose returned) before raft
	// reports it: report what the FSM has applied when that is further.
	st.AppliedIndex = max(r.AppliedIndex(), s.fsm.applied.Load())
	st.CommitIndex = r.CommitIndex()
	if r.State() != raft.Shutdown { // Stats round-trips through raft's main loop
		st.LastSnapshotIndex, _ = strconv.ParseUint(r.Stats()["last_snapshot_index"], 10, 64)
	}
	return st
}

// Snapshot forces raft to take a snapshot now (and compact the log as per
// raft's TrailingLogs). It is not an error if nothing changed since the last
// snapshot.
func (s *Store) Snapshot() error {
	n, err := s.current()
	if err != nil {
		return err
	}
	if err := n.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("state: snapshot: %w", err)
	}
	return nil
}

// SnapshotData returns the full encoded state of all parts (the snapshot
// format, see DecodeSnapshot) and the raft index of the last command applied
// to it. The encoding is consistent: no command is applied while it is taken.
func (s *Store) SnapshotData() ([]byte, uint64, error) {
	if _, err := s.current(); err != nil {
		return nil, 0, err
	}
	s.fsm.mu.Lock()
	defer s.fsm.mu.Unlock()
	b, err := s.fsm.encodeLocked()
	if err != nil {
		return nil, 0, err
	}
	return b, s.fsm.index, nil
}

// RestoreFromData replaces the whole state with data (SnapshotData output or a
// backup) through raft's user-restore: the data is validated (format, version,
// known parts, and each part's SnapshotValidator when implemented), written as
// a new raft snapshot, restored into every part and replicated to followers.
// Parts absent from data are reset to empty. Leader only; irreversible.
//
// Raft treats a Part.Restore failure during a user restore as fatal (panic),
// so Parts should implement SnapshotValidator to reject bad bytes up front.
func (s *Store) RestoreFromData(data []byte) error {
	snap, err := DecodeSnapshot(data)
	if err != nil {
		return err
	}
	if err := s.fsm.checkParts(snap); err != nil {
		return err
	}
	for _, name := range s.fsm.names {
		if v, ok := s.fsm.parts[name].(SnapshotValidator); ok {
			if err := v.ValidateSnapshot(snap.Parts[name]); err != nil {
				return fmt.Errorf("state: backup data for part %q rejected: %w", name, err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultProposeTimeout)
	defer cancel()
	n, err := s.leaderNode(ctx)
	if err != nil {
		return err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: snap.Index, Size: int64(len(data))}
	if err := n.raft.Restore(meta, bytes.NewReader(data), defaultProposeTimeout); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return notLeader(n.raft)
		}
		return fmt.Errorf("state: restore: %w", err)
	}
	return nil
}

// Close shuts the node down cleanly. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.n == nil {
		return nil
	}
	err := s.n.stop()
	s.n = nil
	return err
}

// Wipe zeroizes the store: it shuts raft down, closes the stores, overwrites
// every file under Dir with zeros (fsync) and removes it, recreates Dir empty,
// resets every part to empty, then bootstraps a fresh one-voter cluster and
// waits for it to elect itself (bounded by ctx). Concurrent Propose calls
// either fail (raft shut down under them) or wait for the new cluster;
// acknowledged commands proposed before Wipe are gone afterwards.
//
// Parts named in keep survive: they keep serving their state in memory, and it
// is written back through a raft user-restore into the fresh cluster (every
// other part stays empty). Propose calls wait until Wipe is done. Their old log entries are scrubbed like the rest. A crash
// in the short window between the scrub and that restore loses the kept parts
// too; that is the price of scrubbing everything the log held.
//
// If Wipe fails before the new cluster is started the Store is left closed
// (ErrClosed); it can be retried by Open on the same Dir.
func (s *Store) Wipe(ctx context.Context, keep ...string) error {
	s.gate.Lock()
	defer s.gate.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	kept, err := s.fsm.snapshotParts(keep)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("state: wipe: %w", err)
	}
	var errs []error
	if s.n != nil {
		if err := s.n.stop(); err != nil {
			errs = append(errs, err)
		}
		s.n = nil
	}
	if err := zeroizeDir(s.cfg.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := s.fsm.reset(keep); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		s.mu.Unlock()
		return fmt.Errorf("state: wipe: %w", errors.Join(errs...))
	}
	n, err := s.start()
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("state: wipe: restarting: %w", err)
	}
	s.n = n
	s.mu.Unlock()
	s.logger.Warn("state: raft data zeroized and a fresh cluster bootstrapped", "node", s.cfg.NodeID)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, openLeaderTimeout)
		defer cancel()
	}
	if err := s.WaitLeader(ctx); err != nil {
		return err
	}
	if kept == nil {
		return nil
	}
	if err := s.RestoreFromData(kept); err != nil {
		return fmt.Errorf("state: wipe: restoring the kept parts %v: %w", keep, err)
	}
	return nil
}

// zeroizeDir overwrites every regular file under dir with zeros, fsyncs and
// removes it, then recreates dir empty (0700). It keeps going past errors so
// that as much as possible is destroyed, and reports them all.
func zeroizeDir(dir string) error {
	var errs []error
	walkErr := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if d.Type().IsRegular() {
			if err := zeroizeFile(path); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	})
	if walkErr != nil && !errors.Is(walkErr, os.ErrNotExist) {
		errs = append(errs, walkErr)
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		errs = append(errs, err)
	}
	fsutil.SyncDir(filepath.Dir(dir)) // best effort
	return errors.Join(errs...)
}

var zeros = make([]byte, 64<<10)

func zeroizeFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("zeroize %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("zeroize %s: %w", path, err)
	}
	for left := fi.Size(); left > 0; {
		k := min(left, int64(len(zeros)))
		if _, err := f.Write(zeros[:k]); err != nil {
			f.Close()
			return fmt.Errorf("zeroize %s: %w", path, err)
		}
		left -= k
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("zeroize %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("zeroize %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("zeroize %s: %w", path, err)
	}
	return nil
}

var _ io.Closer = (*Store)(nil)
