package iam

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/crypto"
	"github.com/coffer-hsm/coffer/internal/state"
)

const acct = "111122223333"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// testEnv is a one-node cluster: the IAM part on a real raft store, an injectable clock.
type testEnv struct {
	t     testing.TB
	dir   string
	s     *Service
	store *state.Store
	clock *fakeClock
	ctx   context.Context
	root  Caller
	key   []byte
}

var rootCreds = awsproto.StaticCredentials{"AKIAROOTROOTROOT0000": {Secret: "root-secret",
	Principal: awsproto.Principal{Account: acct, ARN: "arn:aws:iam::" + acct + ":root", Type: "Root"}}}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	// Aligned on a TOTP step, so that tests control which step a code belongs to.
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := &testEnv{t: t, dir: t.TempDir(), ctx: context.Background(), clock: &fakeClock{t: start},
		root: Caller{Region: "us-east-1", Account: acct, Principal: awsproto.Principal{AccessKeyID: "AKIAROOTROOTROOT0000", Account: acct, ARN: "arn:aws:iam::" + acct + ":root", Type: "Root"}},
		key:  make([]byte, 32)}
	for i := range e.key {
		e.key[i] = byte(i)
	}
	e.open()
	return e
}

func (e *testEnv) open() {
	t := e.t
	t.Helper()
	s, err := New(Config{Now: e.clock.Now, Root: rootCreds, SecretsKey: e.key})
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(state.Config{NodeID: "n1", Dir: filepath.Join(e.dir, "raft")}, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s.Attach(store)
	e.s, e.store = s, store
}

func (e *testEnv) restart() {
	e.t.Helper()
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// callerFor returns the Caller of requests signed with an access key, via Lookup.
func (e *testEnv) callerFor(akid string) Caller {
	e.t.Helper()
	_, p, ok := e.s.Lookup(akid)
	if !ok {
		e.t.Fatalf("Lookup(%s) failed", akid)
	}
	return Caller{Region: "us-east-1", Account: p.Account, Principal: p}
}

func (e *testEnv) user(name string) (Caller, *AccessKey) {
	e.t.Helper()
	if _, err := e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: name}); err != nil {
		e.t.Fatal(err)
	}
	k, err := e.s.CreateAccessKey(e.ctx, e.root, UserNameInput{UserName: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.callerFor(k.AccessKey.AccessKeyId), &k.AccessKey
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var ie *Error
	if !errors.As(err, &ie) || ie.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func seedOf(t testing.TB, d VirtualMFADevice) []byte {
	t.Helper()
	b32, err := base64.StdEncoding.DecodeString(d.Base32StringSeed)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(b32))
	if err != nil {
		t.Fatal(err)
	}
	return seed
}

func code(seed []byte, t time.Time) string {
	return crypto.TOTP(seed, t, crypto.TOTPDigits, crypto.TOTPPeriod, nil)
}

// memProposer applies commands directly (no raft): for fuzzing.
type memProposer struct {
	s     *Service
	mu    sync.Mutex
	index uint64
}

func (m *memProposer) Propose(ctx context.Context, typ string, version int, body any) (any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.index++
	i := m.index
	m.mu.Unlock()
	return m.s.Apply(i, state.Command{Type: typ, Version: version, Time: m.s.now(), Body: b})
}
