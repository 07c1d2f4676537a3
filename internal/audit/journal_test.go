package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func sampleEvent(i int) *Event {
	return &Event{
		UserIdentity: UserIdentity{
			Type:        "IAMUser",
			PrincipalID: "AIDAEXAMPLE",
			ARN:         "arn:aws:iam::111122223333:user/alice",
			AccountID:   "111122223333",
			AccessKeyID: "AKIAEXAMPLE",
			UserName:    "alice",
		},
		EventTime:         t0.Add(time.Duration(i) * time.Second),
		EventSource:       SourceKMS,
		EventName:         "Encrypt",
		AWSRegion:         "us-east-1",
		SourceIPAddress:   "192.0.2.10",
		UserAgent:         "aws-sdk-go-v2/1.0",
		RequestParameters: Params(map[string]any{"keyId": "alias/app", "encryptionContext": map[string]string{"tenant": strconv.Itoa(i)}, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
		RequestID:         fmt.Sprintf("req-%d", i),
		ReadOnly:          true,
		Resources:         []Resource{{AccountID: "111122223333", Type: "AWS::KMS::Key", ARN: "arn:aws:kms:us-east-1:111122223333:key/1234"}},
		ManagementEvent:   true,
	}
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func openT(t testing.TB, dir string, o Options) *Journal {
	t.Helper()
	j, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func appendN(t testing.TB, j *Journal, n int, mk func(int) *Event) []*Event {
	t.Helper()
	var evs []*Event
	for i := 0; i < n; i++ {
		e := mk(i)
		if err := j.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	return evs
}

func lookupAll(t testing.TB, j *Journal, in LookupInput) []Event {
	t.Helper()
	var all []Event
	for {
		evs, next, err := j.Lookup(in)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
		if next == "" {
			return all
		}
		in.NextToken = next
	}
}

func TestAppendReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	j, err := Open(dir, Options{Now: fixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	want := appendN(t, j, 20, sampleEvent)
	if want[0].EventID == "" || want[0].EventVersion != EventVersion || want[0].EventCategory != CategoryManagement || want[0].EventType != EventTypeAPICall {
		t.Fatalf("defaults not filled: %+v", want[0])
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(context.Background(), sampleEvent(99)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v %v", fi.Mode(), err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	for _, s := range segs {
		fi, _ := os.Stat(s)
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", s, fi.Mode())
		}
	}

	j2 := openT(t, dir, Options{Now: fixedClock(t0)})
	got := lookupAll(t, j2, LookupInput{})
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range got { // newest first
		w := want[len(want)-1-i]
		wj, _ := json.Marshal(w)
		gj, _ := json.Marshal(&got[i])
		if string(wj) != string(gj) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, gj, wj)
		}
	}
	if !strings.Contains(string(mustJSON(t, &got[0])), `"eventTime":"2026-11-01T12:00:19Z"`) {
		t.Fatalf("eventTime format: %s", mustJSON(t, &got[0]))
	}
	// New appends after reopen land and are found.
	appendN(t, j2, 1, func(int) *Event { return sampleEvent(100) })
	if n := len(lookupAll(t, j2, LookupInput{})); n != 21 {
		t.Fatalf("after reopen+append: %d events", n)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGroupCommit(t *testing.T) {
	var syncs atomic.Int64
	dir := t.TempDir()
	j := openT(t, dir, Options{Sync: func(f *os.File) error {
		syncs.Add(1)
		time.Sleep(2 * time.Millisecond) // a slow disk: appends pile up meanwhile
		return f.Sync()
	}})
	const G, N = 50, 20
	var wg sync.WaitGroup
	ids := make(chan string, G*N)
	for g := 0; g < G; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < N; i++ {
				e := sampleEvent(i)
				e.EventTime = time.Time{}
				if err := j.Append(context.Background(), e); err != nil {
					t.Error(err)
					return
				}
				ids <- e.EventID
			}
		}()
	}
	wg.Wait()
	close(ids)
	if s := syncs.Load(); s >= G*N/4 {
		t.Fatalf("%d fsyncs for %d events: not batched", s, G*N)
	} else {
		t.Logf("%d events, %d fsyncs", G*N, s)
	}
	j.Close()
	j2 := openT(t, dir, Options{})
	found := map[string]bool{}
	for _, e := range lookupAll(t, j2, LookupInput{}) {
		found[e.EventID] = true
	}
	for id := range ids {
		if !found[id] {
			t.Fatalf("acknowledged event %s lost", id)
		}
	}
	if len(found) != G*N {
		t.Fatalf("%d events found, want %d", len(found), G*N)
	}
}

// TestCommitTimes: Stats reports the wall time commits spent in fsync (and
// writing), for the metrics an operator watches for a slowing disk.
func TestCommitTimes(t *testing.T) {
	j := openT(t, t.TempDir(), Options{Sync: func(f *os.File) error {
		time.Sleep(20 * time.Millisecond)
		return f.Sync()
	}})
	appendN(t, j, 3, sampleEvent) // three commits
	st := j.Stats()
	if st.Commits != 3 || st.SyncSeconds < 0.060 || st.SyncSeconds > 10 || st.WriteSeconds <= 0 || st.WriteSeconds > st.SyncSeconds {
		t.Fatalf("%+v", st)
	}
}

func TestSyncFailureIsSticky(t *testing.T) {
	fail := atomic.Bool{}
	j := openT(t, t.TempDir(), Options{Sync: func(f *os.File) error {
		if fail.Load() {
			return errors.New("EIO")
		}
		return f.Sync()
	}})
	appendN(t, j, 1, sampleEvent)
	if st := j.Stats(); st.Failed != nil {
		t.Fatalf("a working journal reports a failure: %v", st.Failed)
	}
	fail.Store(true)
	if err := j.Append(context.Background(), sampleEvent(1)); err == nil {
		t.Fatal("append succeeded after fsync failure")
	}
	fail.Store(false)
	if err := j.Append(context.Background(), sampleEvent(2)); err == nil {
		t.Fatal("append succeeded after an earlier fsync failure")
	}
	// The failure is reported (the node's health and metrics read it).
	if st := j.Stats(); st.Failed == nil || !strings.Contains(st.Failed.Error(), "fsync: EIO") {
		t.Fatalf("Stats().Failed = %v", st.Failed)
	}
}

// TestCommitAge: Stats reports how long the commit in flight has been running, so
// that a hanging disk shows before appends time out; none once the disk answers.
func TestCommitAge(t *testing.T) {
	j, release := openHanging(t, Options{CommitDelay: -1})
	if age := j.Stats().CommitAge; age != 0 {
		t.Fatalf("idle journal: commit age %v", age)
	}
	done := appendAsync(j, false, 0)
	deadline := time.Now().Add(5 * time.Second)
	for j.Stats().CommitAge < 50*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("hanging commit not reported: %+v", j.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := j.Stats(); st.CommitAge != 0 || st.Failed != nil {
		t.Fatalf("after the commit: %+v", st)
	}
}

func lastSegment(t *testing.T, dir string) string {
	segs, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	var best string
	var bestSize int64 = -1
	for _, s := range segs { // the last non-empty one
		fi, _ := os.Stat(s)
		if fi.Size() > 0 && s > best {
			best, bestSize = s, fi.Size()
		}
	}
	if bestSize < 0 {
		t.Fatal("no segment")
	}
	return best
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := appendN(t, j, 5, sampleEvent)
	j.Close()
	seg := lastSegment(t, dir)
	whole, _ := os.ReadFile(seg)
	// A crash mid-write: half of a sixth record, no newline.
	partial, _ := json.Marshal(sampleEvent(5))
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(partial[:len(partial)/2])
	f.Close()

	j2 := openT(t, dir, Options{})
	got := lookupAll(t, j2, LookupInput{})
	if len(got) != 5 || got[4].EventID != want[0].EventID || got[0].EventID != want[4].EventID {
		t.Fatalf("after torn tail: %d events", len(got))
	}
	if b, _ := os.ReadFile(seg); string(b) != string(whole) {
		t.Fatalf("torn tail not truncated: %d bytes, want %d", len(b), len(whole))
	}
	appendN(t, j2, 3, func(i int) *Event { return sampleEvent(10 + i) })
	j2.Close()
	j3 := openT(t, dir, Options{})
	if n := len(lookupAll(t, j3, LookupInput{})); n != 8 {
		t.Fatalf("after new appends: %d events, want 8", n)
	}
	if st := j3.Stats(); st.BadLines != 0 {
		t.Fatalf("bad lines: %+v", st)
	}
}

func TestCorruptLineSkipped(t *testing.T) {
	dir := t.TempDir()
	j, _ := Open(dir, Options{})
	appendN(t, j, 2, sampleEvent)
	j.Close()
	seg := lastSegment(t, dir)
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("\x00\x00garbage\n"))
	f.Close()
	j2 := openT(t, dir, Options{})
	appendN(t, j2, 1, sampleEvent)
	if n := len(lookupAll(t, j2, LookupInput{})); n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
	if st := j2.Stats(); st.BadLines != 1 {
		t.Fatalf("stats %+v", st)
	}
}

const crashEnv = "COFFER_AUDIT_CRASH_DIR"

// TestCrashRecovery re-executes the test binary as a child that appends in a
// loop and prints every acknowledged event id; the child is SIGKILLed and
// every printed id must be found on reopen.
func TestCrashRecovery(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make(chan []string)
	first := make(chan struct{})
	go func() {
		var ids []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok && len(id) == 36 {
				if ids = append(ids, id); len(ids) == 1 {
					close(first)
				}
			}
		}
		acked <- ids
	}()
	// Kill ~300ms into the appending (the child's start-up is not counted:
	// it is slow under -race).
	select {
	case <-first:
	case <-time.After(10 * time.Second):
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	ids := <-acked
	cmd.Wait()
	if len(ids) == 0 {
		t.Fatal("child acknowledged nothing")
	}
	j := openT(t, dir, Options{})
	found := map[string]bool{}
	for _, e := range lookupAll(t, j, LookupInput{}) {
		found[e.EventID] = true
	}
	for _, id := range ids {
		if !found[id] {
			t.Fatalf("acknowledged event %s lost (%d acked, %d found)", id, len(ids), len(found))
		}
	}
	t.Logf("%d acknowledged, %d recovered, stats %+v", len(ids), len(found), j.Stats())
	j.Close()
	assertNoZeroTail(t, dir)
}

// assertNoZeroTail: after Close (or recovery) no segment keeps the zero
// fill of preallocation, and every segment ends with a newline.
func assertNoZeroTail(t *testing.T, dir string) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "audit-*"))
	for _, s := range segs {
		if strings.HasSuffix(s, idxSuffix) {
			continue
		}
		if strings.HasSuffix(s, ".tmp") {
			t.Errorf("spare %s left", s)
			continue
		}
		b, _ := os.ReadFile(s)
		if strings.IndexByte(string(b), 0) >= 0 || (len(b) > 0 && b[len(b)-1] != '\n') {
			t.Errorf("%s: zero fill or torn tail left (%d bytes)", s, len(b))
		}
	}
}

func TestPreallocatedSegments(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{SegmentBytes: 8 << 10})
	seg := lastSegment(t, dir) // the active one, zero-filled
	if fi, _ := os.Stat(seg); fi.Size() != 8<<10 {
		t.Fatalf("active segment not preallocated: %d bytes", fi.Size())
	}
	appendN(t, j, 40, sampleEvent) // several rolls
	if n := len(lookupAll(t, j, LookupInput{})); n != 40 {
		t.Fatalf("%d events", n)
	}
	j.Close()
	assertNoZeroTail(t, dir)
	j2 := openT(t, dir, Options{NoPreallocate: true})
	if st := j2.Stats(); st.Events != 40 || st.BadLines != 0 {
		t.Fatalf("reopen: %+v", st)
	}
}

func TestAppendCanceled(t *testing.T) {
	j := openT(t, t.TempDir(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Append(ctx, sampleEvent(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestLoneAppenderNotDelayed: a single synchronous appender must not pay
// CommitDelay on every event, on an idle machine (nothing is announced) nor
// on a saturated one (two waits that gather nothing turn the wait off).
func TestLoneAppenderNotDelayed(t *testing.T) {
	for _, c := range []struct {
		name      string
		saturated func() bool
	}{{"idle", nil}, {"saturated", func() bool { return true }}} {
		t.Run(c.name, func(t *testing.T) {
			j := openT(t, t.TempDir(), Options{CommitDelay: 200 * time.Millisecond, NoPreallocate: true, Saturated: c.saturated})
			start := time.Now()
			appendN(t, j, 20, sampleEvent)
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("20 serial appends took %v", el)
			}
		})
	}
}

// appendAsync runs an append in the background and returns its result channel.
func appendAsync(j *Journal, expected bool, i int) chan error {
	done := make(chan error, 1)
	go func() {
		if expected {
			done <- j.AppendExpected(context.Background(), sampleEvent(i))
		} else {
			done <- j.Append(context.Background(), sampleEvent(i))
		}
	}()
	return done
}

func waitAll(t *testing.T, within time.Duration, chans ...chan error) {
	t.Helper()
	timeout := time.After(within)
	for _, c := range chans {
		select {
		case err := <-c:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatalf("appends not done within %v", within)
		}
	}
}

// TestCommitWaitsForExpectedEvents: while announced events are on their way,
// the commit waits for them, and the last one to arrive starts it: three
// events, one commit, long before CommitDelay.
func TestCommitWaitsForExpectedEvents(t *testing.T) {
	j := openT(t, t.TempDir(), Options{CommitDelay: time.Minute, NoPreallocate: true})
	j.Expect(3)
	first := appendAsync(j, true, 0)
	select {
	case err := <-first:
		t.Fatalf("committed while two announced events were missing (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	second, third := appendAsync(j, true, 1), appendAsync(j, true, 2)
	waitAll(t, 10*time.Second, first, second, third)
	if st := j.Stats(); st.Commits != 1 || st.Appended != 3 {
		t.Fatalf("%d commits for %d events, want 1 for 3", st.Commits, st.Appended)
	}
	// Nothing announced now: the next event is committed at once.
	waitAll(t, 10*time.Second, appendAsync(j, false, 3))
}

// TestExpectedWaitBounded: an announced event that never comes holds a
// commit back for CommitDelay at most; taking the announcement back ends the
// wait at once.
func TestExpectedWaitBounded(t *testing.T) {
	j := openT(t, t.TempDir(), Options{CommitDelay: 300 * time.Millisecond, NoPreallocate: true})
	j.Expect(2)
	start := time.Now()
	waitAll(t, 10*time.Second, appendAsync(j, true, 0))
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("committed after %v while an announced event was missing", el)
	}
	j.Expect(-1)

	j2 := openT(t, t.TempDir(), Options{CommitDelay: time.Minute, NoPreallocate: true})
	j2.Expect(2)
	c := appendAsync(j2, true, 0)
	time.Sleep(50 * time.Millisecond)
	j2.Expect(-1) // the other request ended without a record
	waitAll(t, 10*time.Second, c)
}

// TestSaturatedCommitGathers: on a saturated machine a commit waits for
// unannounced events too, until GroupTarget of them are queued.
func TestSaturatedCommitGathers(t *testing.T) {
	j := openT(t, t.TempDir(), Options{CommitDelay: time.Minute, GroupTarget: 8, NoPreallocate: true,
		Saturated: func() bool { return true }})
	var chans []chan error
	for i := range 8 {
		chans = append(chans, appendAsync(j, false, i))
	}
	waitAll(t, 10*time.Second, chans...)
	if st := j.Stats(); st.Commits != 1 || st.Appended != 8 {
		t.Fatalf("%d commits for %d events, want 1 for 8", st.Commits, st.Appended)
	}
}

// TestSaturatedLingerSurvivesFullGroups: on a saturated machine, lingers that
// end without waiting (the group already full when the committer comes back
// from a slow fsync) are not "waits that gathered nothing": they must not turn
// waiting for unannounced events off.
func TestSaturatedLingerSurvivesFullGroups(t *testing.T) {
	j := openT(t, t.TempDir(), Options{CommitDelay: time.Minute, GroupTarget: 2, MaxBatch: 2, NoPreallocate: true,
		Saturated: func() bool { return true },
		Sync: func(f *os.File) error {
			time.Sleep(100 * time.Millisecond) // a slow disk: the next group fills meanwhile
			return f.Sync()
		}})
	var chans []chan error
	for i := range 6 { // three full groups, the last two full before the committer is back
		chans = append(chans, appendAsync(j, false, i))
		if i%2 == 1 {
			time.Sleep(30 * time.Millisecond)
		}
	}
	waitAll(t, 10*time.Second, chans...)
	if st := j.Stats(); st.Commits != 3 {
		t.Fatalf("%d commits for 6 events, want 3", st.Commits)
	}
	// Waiting still works: a lone event waits for the next one.
	first := appendAsync(j, false, 6)
	time.Sleep(150 * time.Millisecond)
	waitAll(t, 10*time.Second, first, appendAsync(j, false, 7))
	if st := j.Stats(); st.Commits != 4 {
		t.Fatalf("%d commits for 8 events, want 4: the lone event did not wait", st.Commits)
	}
}

func crashChild(dir string) {
	j, err := Open(dir, Options{SegmentBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(3 * time.Second)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
				e := sampleEvent(i)
				e.EventTime = time.Time{}
				if err := j.Append(context.Background(), e); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				os.Stdout.WriteString("ACK " + e.EventID + "\n")
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

func TestSegmentRollAndPrune(t *testing.T) {
	dir := t.TempDir()
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	j := openT(t, dir, Options{Now: clock, SegmentDuration: time.Hour, Retention: 48 * time.Hour})
	// Day 0, day 1, day 2: one segment each (hourly roll).
	for d := 0; d < 3; d++ {
		mu.Lock()
		now = t0.Add(time.Duration(d) * 24 * time.Hour)
		mu.Unlock()
		appendN(t, j, 4, func(i int) *Event {
			e := sampleEvent(i)
			e.EventTime = time.Time{}
			return e
		})
	}
	if st := j.Stats(); st.Segments != 3 || st.Events != 12 {
		t.Fatalf("stats %+v", st)
	}
	n, err := j.Prune(t0.Add(2*24*time.Hour + time.Hour)) // cutoff: day 0 + 1h
	if err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if st := j.Stats(); st.Segments != 2 || st.Events != 8 {
		t.Fatalf("stats after prune %+v", st)
	}
	for _, e := range lookupAll(t, j, LookupInput{}) {
		if e.EventTime.Before(t0.Add(24 * time.Hour)) {
			t.Fatalf("pruned event still found: %v", e.EventTime)
		}
	}
	// The active segment is never pruned.
	n, _ = j.Prune(t0.Add(1000 * 24 * time.Hour))
	if st := j.Stats(); n != 1 || st.Segments != 1 || st.Events != 4 {
		t.Fatalf("prune all: %d %+v", n, st)
	}
	j.Close()
	j2 := openT(t, dir, Options{Now: clock})
	if n := len(lookupAll(t, j2, LookupInput{})); n != 4 {
		t.Fatalf("after reopen: %d", n)
	}
}

func TestSizeRoll(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{SegmentBytes: 2048})
	appendN(t, j, 30, sampleEvent)
	if st := j.Stats(); st.Segments < 5 {
		t.Fatalf("no size roll: %+v", st)
	}
	j.Close()
	j2 := openT(t, dir, Options{})
	got := lookupAll(t, j2, LookupInput{MaxResults: 7})
	if len(got) != 30 {
		t.Fatalf("%d events", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].EventTime.After(got[i-1].EventTime) {
			t.Fatal("not newest first")
		}
	}
}

func TestEventJSONShape(t *testing.T) {
	e := sampleEvent(0)
	e.UserIdentity.SessionContext = &SessionContext{Attributes: NewSessionAttributes(t0, true)}
	e.normalize(t0)
	var m map[string]any
	json.Unmarshal(mustJSON(t, e), &m)
	for _, k := range []string{"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent", "requestParameters", "responseElements", "requestID", "eventID", "readOnly", "resources", "eventType", "managementEvent", "recipientAccountId", "eventCategory"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	ui := m["userIdentity"].(map[string]any)
	attrs := ui["sessionContext"].(map[string]any)["attributes"].(map[string]any)
	if attrs["mfaAuthenticated"] != "true" || attrs["creationDate"] != "2026-11-01T12:00:00Z" {
		t.Errorf("session attributes %v", attrs)
	}
	if r := m["resources"].([]any)[0].(map[string]any); r["ARN"] == nil || r["type"] == nil {
		t.Errorf("resources %v", r)
	}
	if m["responseElements"] != nil || m["recipientAccountId"] != "111122223333" {
		t.Errorf("shape %v", m)
	}
	var back Event
	if err := json.Unmarshal(mustJSON(t, e), &back); err != nil || !reflect.DeepEqual(mustJSON(t, &back), mustJSON(t, e)) {
		t.Errorf("round trip: %v", err)
	}
}

// Stats counts group commits and the events they made durable: one commit
// per event when appends come one at a time, fewer when they come together.
func TestCommitCounts(t *testing.T) {
	j := openT(t, t.TempDir(), Options{NoPreallocate: true})
	appendN(t, j, 20, sampleEvent)
	if st := j.Stats(); st.Commits != 20 || st.Appended != 20 {
		t.Fatalf("sequential appends: %+v", st)
	}
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if err := j.Append(t.Context(), sampleEvent(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := j.Stats()
	if st.Appended != 20+32*20 || st.Commits <= 20 || st.Commits >= st.Appended {
		t.Fatalf("concurrent appends: %+v", st)
	}
}

// openHanging opens a journal whose fsyncs hang until release is called (also at the
// end of the test, before Close: cleanups run last first).
func openHanging(t *testing.T, o Options) (j *Journal, release func()) {
	stuck := make(chan struct{})
	var hang atomic.Bool
	hang.Store(true)
	o.Sync = func(f *os.File) error {
		if hang.Load() {
			<-stuck
		}
		return f.Sync()
	}
	j = openT(t, t.TempDir(), o)
	var unstick sync.Once
	release = func() { unstick.Do(func() { hang.Store(false); close(stuck) }) }
	t.Cleanup(release)
	return j, release
}

// TestAppendTimeout: when the disk hangs, appenders give up after
// AppendTimeout with ErrCommitTimeout — those whose group is being committed,
// those queued behind it, and those waiting for room in a full group — and
// the journal works again once the disk does.
func TestAppendTimeout(t *testing.T) {
	j, release := openHanging(t, Options{MaxBatch: 2, CommitDelay: -1, AppendTimeout: 150 * time.Millisecond})
	first := appendAsync(j, false, 0)
	time.Sleep(20 * time.Millisecond) // its commit is under way and hangs
	var rest []chan error
	for i := 1; i <= 3; i++ { // two fill the next group, one waits for room
		rest = append(rest, appendAsync(j, false, i))
	}
	start := time.Now()
	for i, c := range append([]chan error{first}, rest...) {
		select {
		case err := <-c:
			if !errors.Is(err, ErrCommitTimeout) {
				t.Fatalf("append %d: %v, want ErrCommitTimeout", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("append %d still waits on a hung disk", i)
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("timeouts took %v", el)
	}
	release()
	waitAll(t, 5*time.Second, appendAsync(j, false, 4))
}

// TestFailedAppendTakesAnnouncementBack: an announced event that is refused
// (journal closed) is no longer expected, so no commit waits for it.
func TestFailedAppendTakesAnnouncementBack(t *testing.T) {
	j, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	j.Expect(1)
	j.Close()
	if err := j.AppendExpected(context.Background(), sampleEvent(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Close: %v", err)
	}
	if n := j.expected.Load(); n != 0 {
		t.Fatalf("%d events still expected", n)
	}
}
