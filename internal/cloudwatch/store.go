package cloudwatch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coffer-hsm/coffer/internal/fsutil"
	"github.com/coffer-hsm/coffer/internal/jsonx"
)

// The datapoint log: each node keeps its datapoints in <Dir>/points-<seq>.log, a JSON
// lines file. The first line is the header; then metric definitions, which give a
// metric a number valid in that file, and datapoint operations on a defined metric:
//
//	{"format":"coffer-cloudwatch-points","version":1}
//	{"m":1,"r":"eu-west-1","ns":"AWS/KMS","name":"KeyUsageCount","dims":[{"Name":"KeyId","Value":"..."}]}
//	{"i":1,"t":1795000000000000000,"c":3,"s":3,"lo":1,"hi":1,"u":"Count","a":true}
//	{"i":1,"t":1795000060000000000,"c":1,"s":5,"lo":5,"hi":5,"u":"Count","v":[5]}
//
// r is the metric's region (absent from the logs of earlier versions, whose metrics are
// the node's region's); t is the datapoint's time in Unix nanoseconds, c/s/lo/hi its SampleCount, Sum,
// Minimum and Maximum, u its unit, v its raw values (for percentiles); "a" marks a
// PutAggregate, which replays as a merge into the metric's last datapoint of the same
// minute. Numbers that JSON cannot hold (a Sum that overflowed) are written as the
// strings "+Inf", "-Inf" and "NaN". Replaying the operations in order rebuilds exactly
// the datapoints the node had.
//
// Every file is written whole by a rewrite (compaction: the live datapoints, to a
// temporary file, fsynced, then renamed) and then appended to; the newest file holds
// everything and the older ones are deleted once it is in place.

const (
	logFormat  = "coffer-cloudwatch-points"
	logVersion = 1
	// maxLine bounds one line of the log; a metric definition with 30 dimensions of the
	// largest size is about 40 KiB.
	maxLine = 128 << 10
	// maxPending bounds the operations waiting for the flusher; beyond it they are not
	// queued and the next write is a rewrite of every datapoint instead of an append.
	maxPending = 1 << 20
)

// StoreStats describes the datapoint log (Config.Dir).
type StoreStats struct {
	Points      int   // datapoints in memory
	Loaded      int   // operations replayed at start
	BadLines    int   // lines skipped at start (corrupt, torn, unknown metric)
	Bytes       int64 // size of the current log file
	Compactions int   // rewrites since start
	WriteErrors int   // failed writes since start (each followed by a rewrite)
}

type pendingOp struct {
	se  *series
	p   point
	agg bool
}

// disk is the state of the datapoint log. Fields below wmu are the writer's; pending,
// overflow and stats are under Service.mmu.
type disk struct {
	dir       string
	stop      chan struct{}
	closeOnce sync.Once
	done      chan struct{}

	wmu       sync.Mutex // the writer: flush, compact, close
	f         *os.File
	seq       uint64
	ids       map[*series]uint64 // metrics defined in f
	nextID    uint64
	size      int64 // of f
	base      int64 // size of f after its rewrite
	lastSync  time.Time
	unsynced  bool
	broken    bool // the next write must be a rewrite
	closed    bool
	buf       []byte
	spare     []pendingOp
	compacts  int
	writeErrs int

	pending  []pendingOp
	overflow bool
	stopped  bool // closed: nothing more is queued
	loaded   int
	bad      int
}

// Open returns the service, and with cfg.Dir set loads the datapoints kept there and
// starts writing new ones to it in the background (Close stops). Without cfg.Dir it is
// New.
func Open(cfg Config) (*Service, error) {
	s := New(cfg)
	if s.cfg.Dir == "" {
		return s, nil
	}
	if err := s.openDisk(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) openDisk() error {
	d := &disk{dir: s.cfg.Dir, stop: make(chan struct{}), done: make(chan struct{})}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return fmt.Errorf("cloudwatch: datapoint log: %w", err)
	}
	files, err := logFiles(d.dir)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		last := files[len(files)-1]
		f, err := os.Open(filepath.Join(d.dir, last.name))
		if err != nil {
			return fmt.Errorf("cloudwatch: datapoint log: %w", err)
		}
		s.mmu.Lock()
		n, bad, err := s.replayLocked(bufio.NewReaderSize(f, maxLine))
		s.pruneLocked()
		s.mmu.Unlock()
		f.Close()
		if err != nil {
			return fmt.Errorf("cloudwatch: datapoint log %s: %w (move it away to start without these datapoints)", last.name, err)
		}
		d.seq, d.loaded, d.bad = last.seq, n, bad
		if bad > 0 {
			s.cfg.Logger.Warn("cloudwatch: datapoint log: skipped bad lines", "file", last.name, "bad_lines", bad, "loaded", n)
		}
	}
	s.disk = d
	// A fresh file at every start: it drops what expired, the superseded operations and
	// any torn tail, and the appends never follow a partial line.
	d.wmu.Lock()
	err = s.compactLocked()
	d.wmu.Unlock()
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.seq < d.seq {
			_ = os.Remove(filepath.Join(d.dir, f.name))
		}
	}
	go s.flusher()
	return nil
}

type logFile struct {
	name string
	seq  uint64
}

// logFiles lists the log files of dir, oldest first (temporary files are removed).
func logFiles(dir string) ([]logFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch: datapoint log: %w", err)
	}
	var out []logFile
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		num, ok := strings.CutPrefix(name, "points-")
		if num, ok2 := strings.CutSuffix(num, ".log"); ok && ok2 {
			if seq, err := strconv.ParseUint(num, 10, 64); err == nil {
				out = append(out, logFile{name, seq})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out, nil
}

func (d *disk) fileName(seq uint64) string { return fmt.Sprintf("points-%016d.log", seq) }

// flusher appends the pending operations every FlushInterval, fsyncs every
// SyncInterval, and rewrites the log when it has grown enough.
func (s *Service) flusher() {
	d := s.disk
	defer close(d.done)
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		d.wmu.Lock()
		if err := s.writeLocked(false); err != nil {
			s.cfg.Logger.Warn("cloudwatch: datapoint log", "err", err)
		}
		d.wmu.Unlock()
	}
}

// Flush writes the pending datapoints to the log and fsyncs it (no-op without Dir).
func (s *Service) Flush() error {
	d := s.disk
	if d == nil {
		return nil
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed {
		return errors.New("cloudwatch: datapoint log closed")
	}
	return s.writeLocked(true)
}

// Close stops the background writer, writes what is pending and closes the log.
// Datapoints stored afterwards stay in memory only.
func (s *Service) Close() error {
	d := s.disk
	if d == nil {
		return nil
	}
	d.closeOnce.Do(func() { close(d.stop) })
	<-d.done
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed {
		return nil
	}
	err := s.writeLocked(true)
	d.closed = true
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	s.mmu.Lock()
	d.pending, d.stopped = nil, true
	s.mmu.Unlock()
	return err
}

// writeLocked appends the pending operations (or rewrites the log when it must or has
// grown by more than CompactMinBytes and by more than its rewritten size), then fsyncs
// if sync or SyncInterval has passed. Callers hold wmu.
func (s *Service) writeLocked(sync bool) error {
	d := s.disk
	if d.closed {
		return nil
	}
	s.mmu.Lock()
	overflow := d.overflow
	s.mmu.Unlock()
	if d.broken || overflow || (d.size-d.base > s.cfg.CompactMinBytes && d.size-d.base > d.base) {
		return s.compactLocked()
	}
	s.mmu.Lock()
	ops := d.pending
	d.pending = d.spare[:0]
	s.mmu.Unlock()
	d.buf = d.buf[:0]
	for _, op := range ops {
		d.buf = d.appendOp(d.buf, op)
	}
	clear(ops) // drop the references to series and values
	d.spare = ops[:0]
	if len(d.buf) > 0 {
		n, err := d.f.Write(d.buf)
		d.size += int64(n)
		if err != nil {
			d.broken, d.writeErrs = true, d.writeErrs+1
			return fmt.Errorf("cloudwatch: datapoint log: %w (rewriting it at the next flush)", err)
		}
		d.unsynced = true
	}
	if d.unsynced && (sync || time.Since(d.lastSync) >= s.cfg.SyncInterval) {
		if err := d.f.Sync(); err != nil {
			d.broken, d.writeErrs = true, d.writeErrs+1
			return fmt.Errorf("cloudwatch: datapoint log: %w (rewriting it at the next flush)", err)
		}
		d.unsynced, d.lastSync = false, time.Now()
	}
	return nil
}

// compactLocked writes every live datapoint to a new log file, makes it the current
// one and deletes the previous one. The pending operations are dropped: they are in
// the datapoints written. Callers hold wmu.
func (s *Service) compactLocked() error {
	d := s.disk
	type snap struct {
		se     *series
		points []point
	}
	s.mmu.Lock()
	s.pruneLocked()
	snaps := make([]snap, 0, len(s.metrics))
	for _, k := range slices.Sorted(maps.Keys(s.metrics)) {
		se := s.metrics[k]
		snaps = append(snaps, snap{se, slices.Clone(se.points)})
	}
	clear(d.pending)
	d.pending, d.overflow = d.pending[:0], false
	s.mmu.Unlock()

	seq := d.seq + 1
	name := filepath.Join(d.dir, d.fileName(seq))
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		d.broken = true
		return fmt.Errorf("cloudwatch: datapoint log: %w", err)
	}
	ids := map[*series]uint64{}
	var nextID uint64
	w := bufio.NewWriterSize(f, 256<<10)
	buf := fmt.Appendf(d.buf[:0], `{"format":%q,"version":%d}`+"\n", logFormat, logVersion)
	for _, sn := range snaps {
		nextID++
		ids[sn.se] = nextID
		buf = appendDef(buf, nextID, sn.se.region, sn.se.m)
		for _, p := range sn.points {
			buf = appendPoint(buf, nextID, p, false)
			if len(buf) > 64<<10 {
				_, _ = w.Write(buf)
				buf = buf[:0]
			}
		}
	}
	_, _ = w.Write(buf)
	d.buf = buf[:0]
	size := int64(w.Buffered())
	err = w.Flush()
	if st, serr := f.Stat(); serr == nil {
		size = st.Size()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err == nil {
		err = fsutil.SyncDir(d.dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		d.broken, d.writeErrs = true, d.writeErrs+1
		return fmt.Errorf("cloudwatch: datapoint log: rewrite: %w", err)
	}
	nf, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.broken, d.writeErrs = true, d.writeErrs+1
		return fmt.Errorf("cloudwatch: datapoint log: %w", err)
	}
	if d.f != nil {
		d.f.Close()
		_ = os.Remove(filepath.Join(d.dir, d.fileName(d.seq)))
	}
	d.f, d.seq, d.ids, d.nextID = nf, seq, ids, nextID
	d.size, d.base = size, size
	d.broken, d.unsynced, d.lastSync = false, false, time.Now()
	d.compacts++
	return nil
}

// logLocked queues the operation for the datapoint log. Callers hold mmu.
func (s *Service) logLocked(se *series, p point, agg bool) {
	d := s.disk
	if d == nil || d.stopped {
		return
	}
	if len(d.pending) >= maxPending {
		d.overflow = true // the next write rewrites everything
		return
	}
	d.pending = append(d.pending, pendingOp{se: se, p: p, agg: agg})
}

// StoreStats returns the state of the datapoint log (zero without Config.Dir).
func (s *Service) StoreStats() StoreStats {
	var st StoreStats
	s.mmu.RLock()
	for _, se := range s.metrics {
		st.Points += len(se.points)
	}
	d := s.disk
	if d != nil {
		st.Loaded, st.BadLines = d.loaded, d.bad
	}
	s.mmu.RUnlock()
	if d != nil {
		d.wmu.Lock()
		st.Bytes, st.Compactions, st.WriteErrors = d.size, d.compacts, d.writeErrs
		d.wmu.Unlock()
	}
	return st
}

// ---- encoding ----

func (d *disk) appendOp(b []byte, op pendingOp) []byte {
	id, ok := d.ids[op.se]
	if !ok {
		d.nextID++
		id = d.nextID
		d.ids[op.se] = id
		b = appendDef(b, id, op.se.region, op.se.m)
	}
	return appendPoint(b, id, op.p, op.agg)
}

func appendDef(b []byte, id uint64, region string, m Metric) []byte {
	b = append(b, `{"m":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"r":`...)
	b = jsonx.AppendString(b, region)
	b = append(b, `,"ns":`...)
	b = jsonx.AppendString(b, m.Namespace)
	b = append(b, `,"name":`...)
	b = jsonx.AppendString(b, m.MetricName)
	if len(m.Dimensions) > 0 {
		b = append(b, `,"dims":[`...)
		for i, dm := range m.Dimensions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Name":`...)
			b = jsonx.AppendString(b, dm.Name)
			b = append(b, `,"Value":`...)
			b = jsonx.AppendString(b, dm.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

func appendPoint(b []byte, id uint64, p point, agg bool) []byte {
	b = append(b, `{"i":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, p.t.UnixNano(), 10)
	b = append(b, `,"c":`...)
	b = appendFloat(b, p.n)
	b = append(b, `,"s":`...)
	b = appendFloat(b, p.sum)
	b = append(b, `,"lo":`...)
	b = appendFloat(b, p.min)
	b = append(b, `,"hi":`...)
	b = appendFloat(b, p.max)
	if p.unit != "" {
		b = append(b, `,"u":`...)
		b = jsonx.AppendString(b, p.unit)
	}
	if p.values != nil {
		b = append(b, `,"v":[`...)
		for i, v := range p.values {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, v)
		}
		b = append(b, ']')
	}
	if agg {
		b = append(b, `,"a":true`...)
	}
	return append(b, "}\n"...)
}

func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Inf"`...)
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// ---- decoding ----

// jfloat is a float64 that may also be written "+Inf", "-Inf" or "NaN".
type jfloat float64

func (f *jfloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"+Inf"`:
		*f = jfloat(math.Inf(1))
	case `"-Inf"`:
		*f = jfloat(math.Inf(-1))
	case `"NaN"`:
		*f = jfloat(math.NaN())
	default:
		v, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return errors.New("bad number")
		}
		*f = jfloat(v)
	}
	return nil
}

type logLine struct {
	Format  string `json:"format"`
	Version int    `json:"version"`

	M    uint64      `json:"m"`
	R    string      `json:"r"`
	NS   string      `json:"ns"`
	Name string      `json:"name"`
	Dims []Dimension `json:"dims"`

	I  uint64   `json:"i"`
	T  *int64   `json:"t"`
	C  jfloat   `json:"c"`
	S  jfloat   `json:"s"`
	Lo jfloat   `json:"lo"`
	Hi jfloat   `json:"hi"`
	U  string   `json:"u"`
	V  []jfloat `json:"v"`
	A  bool     `json:"a"`
}

// errFormat: the log's header is not one this version reads.
var errFormat = errors.New("not a datapoint log of a version this Coffer reads")

// replayLocked applies the operations of a log to the service's datapoints. A line
// that does not parse, is too long, or names a metric not defined before is skipped
// and counted in bad (so is a torn last line); a missing or unknown header is an
// error. Callers hold mmu for writing.
func (s *Service) replayLocked(r *bufio.Reader) (ops, bad int, err error) {
	ids := map[uint64]*series{}
	first := true
	for {
		line, rerr := r.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			if first {
				return 0, 0, errFormat
			}
			bad++ // too long: skip to the end of the line
			for rerr == bufio.ErrBufferFull {
				_, rerr = r.ReadSlice('\n')
			}
			if rerr != nil && rerr != io.EOF {
				return ops, bad, rerr
			}
			if rerr == io.EOF {
				return ops, bad, nil
			}
			continue
		}
		if rerr != nil && rerr != io.EOF {
			return ops, bad, rerr
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var l logLine
			perr := json.Unmarshal(line, &l)
			switch {
			case first:
				if perr != nil || l.Format != logFormat || l.Version != logVersion {
					return 0, 0, errFormat
				}
			case perr != nil:
				bad++
			case l.M != 0:
				if !validMetric(l) {
					bad++
					break
				}
				m := Metric{Namespace: l.NS, MetricName: l.Name, Dimensions: normDims(l.Dims)}
				r := s.region(l.R) // (none in the logs of earlier versions: the node's region)
				ids[l.M] = s.seriesLocked(metricKey(r, m.Namespace, m.MetricName, m.Dimensions), r, m)
			case l.I != 0 && l.T != nil && l.Format == "":
				se := ids[l.I]
				if se == nil || !(l.C > 0) || len(l.V) > 150 {
					bad++
					break
				}
				p := point{t: time.Unix(0, *l.T).UTC(), n: float64(l.C), sum: float64(l.S), min: float64(l.Lo), max: float64(l.Hi), unit: l.U}
				if l.V != nil {
					p.values = make([]float64, len(l.V))
					for i, v := range l.V {
						p.values[i] = float64(v)
					}
				}
				if l.A {
					s.aggregateLocked(se, p)
				} else {
					s.insertLocked(se, p)
				}
				ops++
			default:
				bad++
			}
			first = false
		}
		if rerr == io.EOF {
			if first {
				return 0, 0, errFormat
			}
			return ops, bad, nil
		}
	}
}

func validMetric(l logLine) bool {
	if l.NS == "" || l.Name == "" || l.Format != "" || l.I != 0 || len(l.Dims) > 30 || (l.R != "" && !regionName.MatchString(l.R)) {
		return false
	}
	seen := map[string]bool{}
	for _, d := range l.Dims {
		if d.Name == "" || seen[d.Name] {
			return false
		}
		seen[d.Name] = true
	}
	return true
}
