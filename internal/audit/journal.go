package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coffer-hsm/coffer/internal/fsutil"
)

// Defaults for Options.
const (
	DefaultRetention       = 90 * 24 * time.Hour
	DefaultSegmentBytes    = 64 << 20
	DefaultSegmentDuration = time.Hour
	DefaultMaxBatch        = 1024
	DefaultCommitDelay     = 5 * time.Millisecond
	DefaultGroupTarget     = 64
	DefaultAppendTimeout   = 10 * time.Second
)

// Options configures a Journal. The zero value gives the defaults.
type Options struct {
	Retention       time.Duration // Prune deletes segments whose newest event is older (default 90 days)
	SegmentBytes    int64         // roll to a new segment beyond this size (default 64 MiB)
	SegmentDuration time.Duration // roll to a new segment after this long (default 1 hour)
	MaxBatch        int           // most events in one write+fsync (default 1024)

	// CommitDelay bounds how long a commit (write+fsync) waits for more
	// events (announced with Expect but not yet appended, or any while
	// Saturated), counted from the first event of its group. A commit does
	// not wait when no event is expected and the machine is not saturated
	// (a lone client, or every request in flight already queued), nor once
	// GroupTarget events are queued. Default 5ms; negative: never wait.
	CommitDelay time.Duration
	// GroupTarget is the group size at which a commit stops waiting for more
	// events (default 64). A commit costs about as much CPU as one to three
	// requests; shared by 64 events, a few percent of theirs.
	GroupTarget int
	// Saturated, when set, reports whether the machine's CPUs are saturated.
	// A commit then also waits for events that were not announced, up to
	// CommitDelay or GroupTarget: each commit costs CPU that requests are
	// queueing for, while the wait costs only latency. Two waits in a row
	// that gather nothing (a lone client on a busy machine) turn this off
	// for the next 1000 commits.
	Saturated func() bool
	// AppendTimeout bounds how long Append waits for its event to be
	// committed, counted from the first event of its group (default 10s;
	// negative: no bound). When a write or fsync hangs, the waiters fail with
	// ErrCommitTimeout instead of waiting forever. One timer per group, not
	// per event: a per-request context with a deadline costs more than the
	// rest of Append's bookkeeping.
	AppendTimeout time.Duration
	// NoPreallocate disables pre-zeroed segment files. By default the next
	// segment is created and zero-filled to SegmentBytes in the background,
	// so that a commit's fdatasync does not have to journal a size change
	// (about half the cost on ext4). Readers stop at the last newline; the
	// zero tail is truncated when the segment is closed or recovered.
	NoPreallocate bool
	// NoDirectIO writes segments through the page cache. By default (on
	// Linux, where the file system allows it) commits write whole aligned
	// blocks with O_DIRECT, so that the fdatasync only flushes the device.
	NoDirectIO bool

	// Now is the clock (default time.Now).
	Now func() time.Time
	// Sync makes a segment's written data durable (default fdatasync).
	// Tests and benchmarks inject it to count fsyncs.
	Sync func(*os.File) error
}

const segPrefix, segSuffix = "audit-", ".jsonl"

// segment is one journal file: audit-<seq>-<unix start>.jsonl, with its
// index file audit-<seq>-<unix start>.idx once closed.
type segment struct {
	seq     uint64
	start   time.Time
	path    string
	size    int64
	oldest  int64 // unix seconds of the oldest event in it (if entries > 0)
	newest  int64 // unix seconds of the newest event in it (start if none)
	entries int
	// idx is the index in memory: always for the active segment, and for a
	// closed one until its index file is written. Guarded by Journal.mu.
	idx *index
}

func segName(seq uint64, start time.Time) string {
	return fmt.Sprintf("%s%010d-%d%s", segPrefix, seq, start.Unix(), segSuffix)
}

func parseSegName(name string) (seq uint64, start time.Time, ok bool) {
	if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
		return 0, time.Time{}, false
	}
	mid := strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix)
	a, b, found := strings.Cut(mid, "-")
	if !found {
		return 0, time.Time{}, false
	}
	s, err1 := strconv.ParseUint(a, 10, 64)
	u, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, time.Time{}, false
	}
	return s, time.Unix(u, 0).UTC(), true
}

// Journal is a durable, append-only audit trail of newline-delimited JSON
// CloudTrail records in segment files, with an index per segment for Lookup
// (see index.go). It is safe for concurrent use.
//
// Group commit: Append encodes its record, copies it into the filling group
// under a mutex and waits for that group's done channel. The committer takes
// the whole filling group (installing an empty one), writes it with one
// write and one fdatasync, and closes done, which wakes every waiter of the
// group at once. Appenders wake the committer only to start a commit or
// when the group is full, and the committer never wakes appenders one by one.
//
// Before a commit, the committer may linger (see linger): a server announces
// each request whose record will follow (Expect) and appends it with
// AppendExpected. While announced events are still on their way, the
// committer waits for them (up to CommitDelay, or until GroupTarget events
// are queued) instead of paying one fsync for the events queued so far and
// another for the stragglers: the idea of PostgreSQL's commit_siblings, with
// the exact count instead of a guess. The last expected event to arrive
// wakes a waiting committer. When nothing is announced, it commits at once,
// unless the machine's CPUs are saturated (Options.Saturated).
type Journal struct {
	dir  string
	opts Options

	gmu     sync.Mutex // guards the fields below it
	closed  bool
	filling *group        // the group Appends join
	room    chan struct{} // closed when the filling group is taken (for Appends finding it full)
	kick    chan struct{} // cap 1: the filling group became non-empty or full, or the expected events arrived

	expected  atomic.Int64  // events announced by Expect and not yet queued
	lingering atomic.Bool   // the committer waits for expected events: wake it when they are in
	closing   chan struct{} // closed by Close: commit what is left and exit
	done      chan struct{} // committer exited
	settle    chan *group   // committed groups with AppendAsync callbacks, for the settler
	settled   chan struct{} // settler exited

	// Committer-owned.
	active    *os.File
	dio       *directWriter    // writes to active with O_DIRECT (nil: through active)
	buf       []byte           // the previous group's buffer, reused
	ents      []newEntry       // the previous group's entries, reused
	satMisses int              // recent lingers on a saturated machine that gathered nothing
	skipSat   int              // commits left that do not linger for saturation
	spare     chan spareResult // the next pre-zeroed segment, being prepared

	commits    atomic.Int64          // group commits since Open
	failure    atomic.Pointer[error] // the sticky write/fsync failure (nil: none); see failed
	commitT0   atomic.Int64          // UnixNano when the commit in flight began (0: none)
	writeNanos atomic.Int64          // wall time of their writes
	syncNanos  atomic.Int64          // wall time of their fsyncs
	appended   atomic.Int64          // events committed since Open

	mu       sync.RWMutex // guards the fields below
	segs     []*segment   // oldest first; the last is the active one
	nextSeq  uint64
	badLines int

	pruneMu sync.RWMutex   // held (R) by lookups, (W) by Prune: files stay while read
	idxWG   sync.WaitGroup // index files being written in the background
	cacheMu sync.Mutex
	cache   []*segIndex // closed segments' indexes read back, least recently used first

	tokenKey [32]byte
}

// group is the events of one write+fsync: their lines back to back in buf,
// each entry's off relative to buf and n its length without the newline.
type group struct {
	first   time.Time // when its first event was queued
	buf     []byte
	ents    []newEntry
	done    chan struct{} // closed once committed (or failed: err)
	err     error
	expired chan struct{} // closed AppendTimeout after first, unless committed before
	timer   *time.Timer   // closes expired

	// AppendAsync callbacks, called once (settleAsync) by the settler after
	// the commit or by the timer at AppendTimeout, whichever is first.
	calls      []func(error)
	callsTaken bool // under gmu: calls were taken; no AppendAsync joins any more
}

func newGroup(buf []byte, ents []newEntry) *group {
	return &group{buf: buf, ents: ents, done: make(chan struct{}), expired: make(chan struct{})}
}

// Open opens (creating it 0700 if needed) the journal in dir, recovers it
// (a torn last line is truncated away) and rebuilds the index. Appends go to
// a new segment.
func Open(dir string, opts Options) (*Journal, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.SegmentDuration <= 0 {
		opts.SegmentDuration = DefaultSegmentDuration
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sync == nil {
		opts.Sync = fdatasync
	}
	if opts.CommitDelay == 0 {
		opts.CommitDelay = DefaultCommitDelay
	}
	if opts.AppendTimeout == 0 {
		opts.AppendTimeout = DefaultAppendTimeout
	}
	if opts.GroupTarget <= 0 {
		opts.GroupTarget = DefaultGroupTarget
	}
	opts.GroupTarget = min(opts.GroupTarget, opts.MaxBatch)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	j := &Journal{
		dir:     dir,
		opts:    opts,
		filling: newGroup(nil, nil),
		room:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		settle:  make(chan *group, 64),
		settled: make(chan struct{}),
	}
	if _, err := rand.Read(j.tokenKey[:]); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := j.recover(); err != nil {
		return nil, err
	}
	if !opts.NoPreallocate {
		j.spare = make(chan spareResult, 1)
		j.spare <- j.prepareSpare()
	}
	if err := j.roll(); err != nil {
		return nil, err
	}
	go j.commitLoop()
	go j.settleLoop()
	return j, nil
}

// recover finds the segments. A segment with a valid index file is known
// from its header alone (of any version: an older file's is rebuilt when a
// lookup first needs it, see loadIndex); any other (the one a crash left, or one whose index
// file is missing or stale) is read, its torn tail truncated, and its index
// file written.
func (j *Journal) recover() error {
	des, err := os.ReadDir(j.dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		if name == spareName || (strings.HasPrefix(name, "."+segPrefix) && strings.Contains(name, ".tmp-")) {
			os.Remove(filepath.Join(j.dir, name)) // a spare or an index file's temporary
			continue
		}
		if strings.HasPrefix(name, segPrefix) && strings.HasSuffix(name, idxSuffix) {
			seg := strings.TrimSuffix(name, idxSuffix) + segSuffix
			if _, err := os.Stat(filepath.Join(j.dir, seg)); errors.Is(err, os.ErrNotExist) {
				os.Remove(filepath.Join(j.dir, name)) // its segment was pruned
			}
			continue
		}
		seq, start, ok := parseSegName(name)
		if !ok || !de.Type().IsRegular() {
			continue
		}
		j.segs = append(j.segs, &segment{seq: seq, start: start, path: filepath.Join(j.dir, name), newest: start.Unix()})
	}
	sort.Slice(j.segs, func(a, b int) bool { return j.segs[a].seq < j.segs[b].seq })
	for _, s := range j.segs {
		if s.seq >= j.nextSeq {
			j.nextSeq = s.seq + 1
		}
		if fi, err := os.Stat(s.path); err == nil {
			if m, ok := readIdxHeaderFile(s.path); ok && m.segSize == fi.Size() {
				j.setMeta(s, m)
				continue
			}
		}
		data, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		x, m := scanIndex(data)
		if m.segSize < int64(len(data)) {
			if err := truncateSync(s.path, m.segSize); err != nil {
				return err
			}
		}
		j.setMeta(s, m)
		writeIndexFile(s.path, x, m) // best effort: a lookup rebuilds it otherwise
	}
	return nil
}

// setMeta fills s from its index's header.
func (j *Journal) setMeta(s *segment, m idxMeta) {
	s.size, s.entries = m.segSize, m.entries
	if m.entries > 0 {
		s.oldest, s.newest = m.oldest, max(s.newest, m.newest)
	}
	j.badLines += m.badLines
}

// scanIndex builds the index of a segment from its bytes.
func scanIndex(data []byte) (*index, idxMeta) {
	x := &index{}
	var m idxMeta
	m.segSize, m.badLines = scanSegment(data, func(off int64, line []byte, e *Event) {
		ent := entryOf(e)
		ent.off, ent.n = off, int32(len(line))
		x.add(&ent)
	})
	m.entries, m.oldest, m.newest = x.span()
	return x, m
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("audit: recover: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("audit: recover: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit: recover: %w", err)
	}
	return nil
}

// scanSegment parses newline-delimited records in data, calling fn for each
// valid one with its offset and bytes (without the newline). It returns the
// length of the part ending with the last newline (anything after is a torn
// tail) and the number of terminated lines that were not valid records.
func scanSegment(data []byte, fn func(off int64, line []byte, e *Event)) (end int64, bad int) {
	off := 0
	for off < len(data) {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			break // torn tail
		}
		line := data[off : off+i]
		var e Event
		if len(line) > 0 && json.Unmarshal(line, &e) == nil && e.EventID != "" && !e.EventTime.IsZero() {
			if fn != nil {
				fn(int64(off), line, &e)
			}
		} else {
			bad++
		}
		off += i + 1
	}
	return int64(off), bad
}

// roll closes the active segment (if any; truncating its zero tail) and
// starts a new one, durably (the directory is fsynced). Caller: Open, or the
// committer.
func (j *Journal) roll() error {
	now := j.opts.Now().UTC()
	j.mu.Lock()
	seq := j.nextSeq
	j.mu.Unlock()
	s := &segment{seq: seq, start: now, path: filepath.Join(j.dir, segName(seq, now)), newest: now.Unix(), idx: &index{}}
	var f *os.File
	if j.spare != nil {
		if r := <-j.spare; r.err == nil {
			if err := os.Rename(filepath.Join(j.dir, spareName), s.path); err == nil {
				f = r.f
			} else {
				r.f.Close()
			}
		}
		j.spare = nil
	}
	if f == nil {
		var err error
		f, err = os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if err := fsutil.SyncDir(j.dir); err != nil {
		f.Close()
		os.Remove(s.path)
		return fmt.Errorf("audit: sync dir: %w", err)
	}
	if j.active != nil {
		j.mu.RLock()
		old := j.segs[len(j.segs)-1]
		j.mu.RUnlock()
		j.closeDirect()
		if ok, _ := j.closeSegment(j.active, old); ok {
			// Its index file is written in the background.
			j.idxWG.Add(1)
			go func() {
				defer j.idxWG.Done()
				j.closeIndex(old)
			}()
		}
	}
	j.active = f
	if !j.opts.NoDirectIO {
		j.dio = openDirect(s.path)
	}
	j.mu.Lock()
	j.nextSeq = seq + 1
	j.segs = append(j.segs, s)
	j.mu.Unlock()
	if !j.opts.NoPreallocate {
		j.spare = make(chan spareResult, 1)
		go func(c chan spareResult) { c <- j.prepareSpare() }(j.spare)
	}
	return nil
}

const spareName = "audit-next.tmp"

type spareResult struct {
	f   *os.File
	err error
}

// prepareSpare creates the next segment file zero-filled to SegmentBytes
// and fsynced, under a temporary name (removed on Open if left over).
func (j *Journal) prepareSpare() spareResult {
	path := filepath.Join(j.dir, spareName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return spareResult{err: err}
	}
	zeros := make([]byte, 1<<20)
	for left := j.opts.SegmentBytes; left > 0 && err == nil; {
		n := min(left, int64(len(zeros)))
		_, err = f.Write(zeros[:n])
		left -= n
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return spareResult{err: err}
	}
	return spareResult{f: f}
}

func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}

// Append records e and returns once it is on stable storage (written and
// fsynced): a nil error means the event is durable. Empty EventID,
// EventTime, EventVersion, EventType and EventCategory are filled in (e is
// updated); EventTime is normalized to UTC whole seconds. If ctx ends first,
// Append returns its error and the event may or may not be recorded; so it
// does, with ErrCommitTimeout, when the commit takes longer than
// Options.AppendTimeout.
func (j *Journal) Append(ctx context.Context, e *Event) error {
	return j.append(ctx, e, false)
}

// Expect announces n events that will be appended with AppendExpected (a
// negative n takes announcements back, for requests that end without a
// record). Commits wait a little for announced events; see Journal.
func (j *Journal) Expect(n int) {
	if j.expected.Add(int64(n)) <= 0 && n < 0 {
		j.arrived()
	}
}

// AppendExpected is Append for an event announced by Expect: once the event
// is queued, it no longer holds back the commit.
func (j *Journal) AppendExpected(ctx context.Context, e *Event) error {
	return j.append(ctx, e, true)
}

// arrived wakes the committer if it waits for expected events and none is
// outstanding any more.
func (j *Journal) arrived() {
	if j.lingering.Load() {
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
}

func (j *Journal) append(ctx context.Context, e *Event, expected bool) error {
	g, err := j.enqueue(ctx, e, expected, nil)
	if err != nil {
		return err
	}
	select {
	case <-g.done:
		return g.err
	case <-g.expired:
		select {
		case <-g.done: // committed just in time
			return g.err
		default:
			return ErrCommitTimeout
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AppendAsync queues e as Append does but does not wait for its commit: done
// is called once, on another goroutine, with nil once e is durable, or with
// the commit's error (ErrCommitTimeout after Options.AppendTimeout). done must
// not block: the journal's settler calls the callbacks of a whole group in
// turn, while the committer goes on with the next group. expected says e was
// announced by Expect (as AppendExpected). When AppendAsync returns an error,
// e was not queued and done is not called.
//
// A server that answers from done (awsproto.Router.RecordAsync) parks no
// goroutine per request while its record is committed: one goroutine wakes
// per group instead.
func (j *Journal) AppendAsync(e *Event, expected bool, done func(error)) error {
	if done == nil {
		return errors.New("audit: AppendAsync without a callback")
	}
	_, err := j.enqueue(context.Background(), e, expected, done)
	return err
}

// enqueue encodes e and queues it in the filling group (with done among the
// group's callbacks, if set), waiting for room if that group is full.
func (j *Journal) enqueue(ctx context.Context, e *Event, expected bool, done func(error)) (*group, error) {
	var waitRoom *time.Timer // only while waiting for room in a full group
	queued := false
	defer func() {
		if waitRoom != nil {
			waitRoom.Stop()
		}
		if expected && !queued {
			j.Expect(-1) // the announced event will not come
		}
	}()
	e.normalize(j.opts.Now())
	lb := linePool.Get().(*[]byte)
	defer linePool.Put(lb)
	line, err := appendEvent((*lb)[:0], e)
	if err != nil {
		return nil, fmt.Errorf("audit: encode event: %w", err)
	}
	line = append(line, '\n')
	*lb = line
	ent := entryOf(e)
	ent.n = int32(len(line) - 1)
	for {
		j.gmu.Lock()
		if j.closed {
			j.gmu.Unlock()
			return nil, ErrClosed
		}
		g := j.filling
		if done != nil && g.callsTaken {
			// Its commit outlasted AppendTimeout and the group is still
			// filling: the committer hangs.
			j.gmu.Unlock()
			return nil, ErrCommitTimeout
		}
		if len(g.ents) < j.opts.MaxBatch {
			ent.off = int64(len(g.buf))
			g.buf = append(g.buf, line...)
			g.ents = append(g.ents, ent)
			if done != nil {
				g.calls = append(g.calls, done)
			}
			n := len(g.ents)
			if n == 1 {
				g.first = time.Now()
				if d := j.opts.AppendTimeout; d > 0 {
					g.timer = time.AfterFunc(d, func() { close(g.expired); j.settleGroup(g) })
				}
			}
			j.gmu.Unlock()
			queued = true
			if n == 1 || n == j.opts.GroupTarget || n == j.opts.MaxBatch {
				select {
				case j.kick <- struct{}{}:
				default:
				}
			}
			if expected && j.expected.Add(-1) <= 0 {
				j.arrived()
			}
			return g, nil
		}
		// The group is full (rare: MaxBatch events queued during one
		// commit): wait until the committer takes it, for AppendTimeout at
		// most.
		room := j.room
		j.gmu.Unlock()
		if waitRoom == nil && j.opts.AppendTimeout > 0 {
			waitRoom = time.NewTimer(j.opts.AppendTimeout)
		}
		var timeout <-chan time.Time
		if waitRoom != nil {
			timeout = waitRoom.C
		}
		select {
		case <-room:
		case <-timeout:
			return nil, ErrCommitTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// settleGroup calls g's AppendAsync callbacks, unless that was done already:
// with g's commit error once it is committed, else with ErrCommitTimeout (the
// group's timer calls it at AppendTimeout).
func (j *Journal) settleGroup(g *group) {
	j.gmu.Lock()
	taken := g.callsTaken
	g.callsTaken = true
	calls := g.calls
	j.gmu.Unlock()
	if taken || len(calls) == 0 {
		return
	}
	err := ErrCommitTimeout
	select {
	case <-g.done:
		err = g.err
	default:
	}
	for _, f := range calls {
		f(err)
	}
}

// settleLoop settles committed groups that have AppendAsync callbacks, so
// that the committer does not wait for them.
func (j *Journal) settleLoop() {
	defer close(j.settled)
	for g := range j.settle {
		j.settleGroup(g)
	}
}

// linePool holds encoding buffers: a record is copied into its group, so
// the buffer it was encoded in is free again once Append has queued it.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// take swaps the filling group for an empty one (reusing the previous
// group's buffer) and returns it, or nil if it is empty.
func (j *Journal) take() *group {
	j.gmu.Lock()
	defer j.gmu.Unlock()
	g := j.filling
	if len(g.ents) == 0 {
		return nil
	}
	j.filling = newGroup(j.buf[:0], j.ents[:0])
	j.buf, j.ents = nil, nil
	close(j.room)
	j.room = make(chan struct{})
	return g
}

// pending returns the number of queued events and when the first of them
// was queued.
func (j *Journal) pending() (int, time.Time) {
	j.gmu.Lock()
	defer j.gmu.Unlock()
	return len(j.filling.ents), j.filling.first
}

// commitLoop is the group committer: woken when the filling group becomes
// non-empty, it takes the whole group and writes and fsyncs it. Events
// arriving meanwhile fill the next group.
func (j *Journal) commitLoop() {
	defer close(j.done)
	defer close(j.settle)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	closing := false
	for {
		if !closing {
			select {
			case <-j.kick:
			case <-j.closing:
				closing = true
			}
		}
		if !closing {
			closing = j.linger(timer)
		}
		g := j.take()
		if g == nil {
			if closing {
				return
			}
			continue
		}
		g.err = j.commit(g)
		clear(g.ents) // drop their strings
		j.buf, j.ents = g.buf, g.ents
		close(g.done)
		if g.timer != nil {
			g.timer.Stop()
		}
		if len(g.calls) > 0 { // final: the group was taken
			j.settle <- g
		}
	}
}

// linger holds the queued group back, before its commit, while waiting
// gathers more events: while events announced by Expect are on their way, or
// while the machine's CPUs are saturated (Options.Saturated) and lingering
// has recently gathered events. It stops at GroupTarget events or CommitDelay
// after the group's first event, and reports whether the journal is closing.
func (j *Journal) linger(timer *time.Timer) (closing bool) {
	if j.opts.CommitDelay <= 0 {
		return false
	}
	saturated := false
	if j.skipSat > 0 {
		j.skipSat--
	} else if j.opts.Saturated != nil {
		saturated = j.opts.Saturated()
	}
	start, _ := j.pending()
	waited := false
	for {
		n, first := j.pending()
		if n == 0 || n >= j.opts.GroupTarget {
			break
		}
		wait := time.Until(first.Add(j.opts.CommitDelay))
		if wait <= 0 {
			break
		}
		// Announce the wait before checking the count: an appender that
		// takes the count to zero after this check sees lingering and kicks.
		j.lingering.Store(true)
		if j.expected.Load() <= 0 && !saturated {
			j.lingering.Store(false)
			break
		}
		waited = true
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-j.kick:
		case <-j.closing:
			closing = true
		}
		timer.Stop()
		j.lingering.Store(false)
		if closing {
			return true
		}
	}
	if saturated && waited {
		// A lone client on a busy machine gains nothing from waiting: after
		// two waits that gathered nothing, do not wait for unannounced
		// events during the next 1000 commits. (A linger that did not
		// wait, because the group was full or already CommitDelay old,
		// says nothing about that.)
		if end, _ := j.pending(); end > start {
			j.satMisses = 0
		} else if j.satMisses++; j.satMisses >= 2 {
			j.satMisses, j.skipSat = 0, 1000
		}
	}
	return false
}

func (j *Journal) commit(g *group) error {
	if err := j.failed(); err != nil {
		return err
	}
	j.commitT0.Store(time.Now().UnixNano())
	defer j.commitT0.Store(0)
	n := len(g.buf)
	j.mu.RLock()
	s := j.segs[len(j.segs)-1]
	j.mu.RUnlock()
	now := j.opts.Now()
	if s.size > 0 && (s.size+int64(n) > j.opts.SegmentBytes || now.Sub(s.start) >= j.opts.SegmentDuration) {
		if err := j.roll(); err != nil {
			return err // the old segment is still fine; retry on the next batch
		}
		j.mu.RLock()
		s = j.segs[len(j.segs)-1]
		j.mu.RUnlock()
	}
	var err error
	t0 := time.Now()
	if j.dio != nil {
		err = j.dio.writeAt(g.buf, s.size)
	} else {
		_, err = j.active.WriteAt(g.buf, s.size)
	}
	if err != nil {
		return j.fail(fmt.Errorf("audit: write: %w", err))
	}
	t1 := time.Now()
	if err := j.opts.Sync(j.active); err != nil {
		// After a failed fsync the page cache state is unknown: stop.
		return j.fail(fmt.Errorf("audit: fsync: %w", err))
	}
	j.writeNanos.Add(int64(t1.Sub(t0)))
	j.syncNanos.Add(int64(time.Since(t1)))
	j.mu.Lock()
	base := s.size
	for i := range g.ents {
		ent := &g.ents[i]
		ent.off = base + ent.off
		j.insert(s, ent)
	}
	s.size = base + int64(n)
	j.mu.Unlock()
	j.commits.Add(1)
	j.appended.Add(int64(len(g.ents)))
	return nil
}

// fail makes err the journal's sticky failure: no commit is attempted any more.
func (j *Journal) fail(err error) error {
	j.failure.Store(&err)
	return err
}

// failed returns the journal's sticky failure, nil while it works.
func (j *Journal) failed() error {
	if f := j.failure.Load(); f != nil {
		return *f
	}
	return nil
}

// Close stops accepting appends, waits for queued ones to be committed and
// closes the active segment.
func (j *Journal) Close() error {
	j.gmu.Lock()
	if j.closed {
		j.gmu.Unlock()
		return nil
	}
	j.closed = true
	close(j.closing)
	j.gmu.Unlock()
	<-j.done
	<-j.settled
	if j.spare != nil {
		if r := <-j.spare; r.f != nil {
			r.f.Close()
		}
		os.Remove(filepath.Join(j.dir, spareName))
		j.spare = nil
	}
	var err error
	if j.active != nil {
		j.mu.RLock()
		s := j.segs[len(j.segs)-1]
		j.mu.RUnlock()
		ok := false
		j.closeDirect()
		if j.failed() == nil {
			ok, err = j.closeSegment(j.active, s)
		} else {
			err = j.active.Close()
		}
		if ok {
			j.closeIndex(s)
		}
	}
	j.idxWG.Wait()
	return err
}

// closeDirect closes the active segment's direct-write descriptor.
func (j *Journal) closeDirect() {
	if j.dio != nil {
		j.dio.Close()
		j.dio = nil
	}
}

// closeSegment ends segment s, which no event joins any more, in its file f:
// it drops the zero tail (durably) and closes f. ok says the segment is
// final, so that its index file can be written; otherwise recovery truncates
// it and writes the index file.
func (j *Journal) closeSegment(f *os.File, s *segment) (ok bool, err error) {
	j.mu.RLock()
	size := s.size
	j.mu.RUnlock()
	ok = f.Truncate(size) == nil && j.opts.Sync(f) == nil
	return ok, f.Close()
}

// Prune deletes the segments whose newest event is older than
// now - Options.Retention (never the active segment), with their index
// files. It returns the number of segments deleted.
func (j *Journal) Prune(now time.Time) (int, error) {
	cutoff := now.Add(-j.opts.Retention).Unix()
	j.pruneMu.Lock()
	defer j.pruneMu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	var keep []*segment
	gone := 0
	var firstErr error
	for i, s := range j.segs {
		if i < len(j.segs)-1 && s.newest < cutoff {
			if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				if firstErr == nil {
					firstErr = fmt.Errorf("audit: prune: %w", err)
				}
				keep = append(keep, s)
				continue
			}
			os.Remove(idxPath(s.path))
			j.uncache(s.seq)
			gone++
			continue
		}
		keep = append(keep, s)
	}
	j.segs = keep
	return gone, firstErr
}

// Stats describes the journal.
type Stats struct {
	Segments int
	Events   int
	BadLines int // terminated lines found invalid (and skipped) on open
	// Commits and Appended count the group commits (one write and one
	// fdatasync each) and the events they made durable since Open:
	// Appended/Commits is the mean group size.
	Commits, Appended int64
	// WriteSeconds and SyncSeconds are the wall time those commits spent
	// writing and in fdatasync: divided by Commits, the mean of each.
	WriteSeconds, SyncSeconds float64
	// Failed is the write or fdatasync failure that stopped the journal: every
	// append fails from then on (the node must be restarted once the disk is
	// fixed). Nil while the journal works.
	Failed error
	// CommitAge is how long the commit in flight has been running (0: none).
	// Commits take milliseconds; one that lasts seconds is a hanging disk,
	// and appends fail with ErrCommitTimeout after Options.AppendTimeout.
	CommitAge time.Duration
}

// Stats returns current counts.
func (j *Journal) Stats() Stats {
	j.mu.RLock()
	defer j.mu.RUnlock()
	n := 0
	for _, s := range j.segs {
		n += s.entries
	}
	st := Stats{Segments: len(j.segs), Events: n, BadLines: j.badLines, Commits: j.commits.Load(), Appended: j.appended.Load(),
		WriteSeconds: time.Duration(j.writeNanos.Load()).Seconds(), SyncSeconds: time.Duration(j.syncNanos.Load()).Seconds()}
	st.Failed = j.failed()
	if t0 := j.commitT0.Load(); t0 != 0 {
		st.CommitAge = max(time.Since(time.Unix(0, t0)), time.Nanosecond)
	}
	return st
}

// waitSpare blocks until the background spare segment (if any) is ready.
// For benchmarks: call only while no roll can run.
func (j *Journal) waitSpare() {
	if j.spare != nil {
		r := <-j.spare
		j.spare <- r
	}
}
