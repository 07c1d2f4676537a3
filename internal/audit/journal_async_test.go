package audit

import (
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// callback returns an AppendAsync callback and the channel it reports to.
// It fails the test if called twice.
func callback(t *testing.T) (func(error), chan error) {
	c := make(chan error, 1)
	var n atomic.Int32
	return func(err error) {
		if n.Add(1) > 1 {
			t.Errorf("AppendAsync callback called twice (now with %v)", err)
			return
		}
		c <- err
	}, c
}

// TestAppendAsyncCalledAfterSync: the callback runs only once the event's
// group is written and synced, and the event can then be looked up.
func TestAppendAsyncCalledAfterSync(t *testing.T) {
	gate := make(chan struct{})
	var synced atomic.Int32
	j := openT(t, t.TempDir(), Options{CommitDelay: -1, Sync: func(f *os.File) error {
		<-gate
		err := f.Sync()
		synced.Add(1)
		return err
	}})
	var chans []chan error
	for i := range 3 {
		f, c := callback(t)
		if err := j.AppendAsync(sampleEvent(i), false, f); err != nil {
			t.Fatal(err)
		}
		chans = append(chans, c)
	}
	select {
	case err := <-chans[0]:
		t.Fatalf("callback ran before the sync (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	waitAll(t, 5*time.Second, chans...)
	if synced.Load() == 0 {
		t.Fatal("callbacks ran without a sync")
	}
	if evs := lookupAll(t, j, LookupInput{}); len(evs) != 3 {
		t.Fatalf("%d events after the callbacks, want 3", len(evs))
	}
}

// TestAppendAsyncFailure: a failed sync reaches every callback of the group,
// and later appends fail too (the failure is sticky).
func TestAppendAsyncFailure(t *testing.T) {
	j := openT(t, t.TempDir(), Options{CommitDelay: -1, Sync: func(*os.File) error { return errors.New("EIO") }})
	f, c := callback(t)
	if err := j.AppendAsync(sampleEvent(0), false, f); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c:
		if err == nil || err.Error() != "audit: fsync: EIO" {
			t.Fatalf("callback got %v, want the fsync error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("callback not called after a failed sync")
	}
	f, c = callback(t)
	if err := j.AppendAsync(sampleEvent(1), false, f); err != nil {
		t.Fatal(err)
	}
	if err := <-c; err == nil {
		t.Fatal("an append after a failed sync succeeded")
	}
}

// TestAppendAsyncTimeout: when the disk hangs, callbacks get ErrCommitTimeout
// after AppendTimeout, once, even when the commit ends later; appends joining
// a group that already timed out are refused at once; and the journal works
// again once the disk does.
func TestAppendAsyncTimeout(t *testing.T) {
	j, release := openHanging(t, Options{CommitDelay: -1, AppendTimeout: 100 * time.Millisecond})
	f0, c0 := callback(t)
	if err := j.AppendAsync(sampleEvent(0), false, f0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // its commit is under way and hangs
	f1, c1 := callback(t)             // fills the next group, whose commit cannot start
	if err := j.AppendAsync(sampleEvent(1), false, f1); err != nil {
		t.Fatal(err)
	}
	for i, c := range []chan error{c0, c1} {
		select {
		case err := <-c:
			if !errors.Is(err, ErrCommitTimeout) {
				t.Fatalf("callback %d: %v, want ErrCommitTimeout", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("callback %d not called while the disk hangs", i)
		}
	}
	f2, _ := callback(t)
	if err := j.AppendAsync(sampleEvent(2), false, f2); !errors.Is(err, ErrCommitTimeout) {
		t.Fatalf("append to a group that timed out: %v, want ErrCommitTimeout", err)
	}
	release()
	f3, c3 := callback(t)
	deadline := time.Now().Add(5 * time.Second)
	for { // the timed-out group is committed first; then appends work again
		err := j.AppendAsync(sampleEvent(3), false, f3)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("appends still refused after the disk came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitAll(t, 5*time.Second, c3)
	time.Sleep(50 * time.Millisecond) // a second call would be reported by callback
}

// TestAppendAsyncClose: Close commits queued events and calls their callbacks
// before it returns; afterwards AppendAsync is refused without a call.
func TestAppendAsyncClose(t *testing.T) {
	j, err := Open(t.TempDir(), Options{CommitDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	j.Expect(2) // the commit would wait for a second event for a minute
	f, c := callback(t)
	if err := j.AppendAsync(sampleEvent(0), true, f); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("Close returned before the callback ran")
	}
	if err := j.AppendAsync(sampleEvent(1), false, func(error) { t.Error("callback after Close") }); !errors.Is(err, ErrClosed) {
		t.Fatalf("AppendAsync after Close: %v", err)
	}
}

// TestAppendAsyncMixed: waiting and asynchronous appends share groups.
func TestAppendAsyncMixed(t *testing.T) {
	j := openT(t, t.TempDir(), Options{})
	var chans []chan error
	for i := range 40 {
		if i%2 == 0 {
			chans = append(chans, appendAsync(j, false, i))
			continue
		}
		f, c := callback(t)
		if err := j.AppendAsync(sampleEvent(i), false, f); err != nil {
			t.Fatal(err)
		}
		chans = append(chans, c)
	}
	waitAll(t, 10*time.Second, chans...)
	if evs := lookupAll(t, j, LookupInput{}); len(evs) != 40 {
		t.Fatalf("%d events, want 40", len(evs))
	}
}
