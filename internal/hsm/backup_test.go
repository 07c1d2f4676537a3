package hsm

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/seal"
	"github.com/coffer-hsm/coffer/internal/state"
)

// backupOf takes what a backup archive carries for this package: the hsm part's snapshot
// and a copy of the domain key.
func backupOf(t *testing.T, e *env) ([]byte, *seal.DomainKey) {
	t.Helper()
	part, err := e.h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	dk, err := e.h.DomainKeyForBackup()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dk.Zeroize)
	return part, dk
}

func wantValidation(t *testing.T, err error, substr string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), substr) {
		t.Fatalf("got %v, want a ValidationError containing %q", err, substr)
	}
}

func TestRestoreBackupAfterZeroize(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	cu := e.cryptoUser("rita")
	k := e.aesKey(cu, "restored", AttrSpec{Encrypt: t_(true), Decrypt: t_(true)})
	ct, err := e.h.EncryptAESGCM(cu, k, []byte("made before the backup"), []byte("aad"), nil)
	if err != nil {
		t.Fatal(err)
	}
	part, dk := backupOf(t, e)

	// An initialized cluster is never overwritten.
	var ce *ConflictError
	if err := e.h.RestoreBackup(e.ctx, dk, part); !errors.As(err, &ce) {
		t.Fatalf("restore over an active cluster: %v", err)
	}

	if err := e.h.Zeroize(e.ctx, e.admin(), "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.wiped:
	case <-time.After(30 * time.Second):
		t.Fatal("state was not wiped")
	}
	if st := e.h.Status(); st.State != StateUninitialized || st.Keys != 0 {
		t.Fatalf("after zeroize: %+v", st)
	}

	// Shares of another domain key, and state that is not an hsm snapshot, are refused and
	// change nothing.
	other, err := seal.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Zeroize()
	wantValidation(t, e.h.RestoreBackup(e.ctx, other, part), "belong to another domain key")
	wantValidation(t, e.h.RestoreBackup(e.ctx, dk, []byte(`{"format":"coffer-kms-state","version":1}`)), "not valid")
	wantValidation(t, e.h.RestoreBackup(e.ctx, dk, []byte(`not json`)), "not valid")
	wantValidation(t, e.h.RestoreBackup(e.ctx, dk, bytes.Replace(part, []byte(`"name":"rita"`), []byte(`"name":"mallory"`), 1)), "malformed")
	empty, _ := New(Config{}).Snapshot()
	wantValidation(t, e.h.RestoreBackup(e.ctx, dk, empty), "nothing to restore")
	if st := e.h.Status(); st.State != StateUninitialized || st.Unsealed {
		t.Fatalf("after refused restores: %+v", st)
	}

	if err := e.h.RestoreBackup(e.ctx, dk, part); err != nil {
		t.Fatal(err)
	}
	if dk.Zeroized() {
		t.Fatal("RestoreBackup zeroized the caller's key")
	}
	if st := e.h.Status(); st.State != StateActive || st.DomainKeyID != dk.ID() || !st.Unsealed || st.Users != 2 || st.Keys != 1 {
		t.Fatalf("after restore: %+v", st)
	}
	// The user logs in with their password and the key decrypts data made before.
	cu = e.login("rita", RoleCrypto, "rita-password")
	pt, err := e.h.DecryptAESGCM(cu, k, ct, []byte("aad"), nil)
	if err != nil || string(pt) != "made before the backup" {
		t.Fatalf("decrypt after restore: %q %v", pt, err)
	}
	e.admin()
	found := false
	for _, ev := range e.events.Events() {
		found = found || (ev.Opcode == OpRestore && ev.Result == ResultOK && ev.Target == dk.ID())
	}
	if !found {
		t.Error("no restore event")
	}
	// A second restore is a conflict.
	if err := e.h.RestoreBackup(e.ctx, dk, part); !errors.As(err, &ce) {
		t.Fatalf("second restore: %v", err)
	}

	// The domain key was sealed to this node's file: a restart unseals it.
	e.restart()
	cu = e.login("rita", RoleCrypto, "rita-password")
	if pt, err := e.h.DecryptAESGCM(cu, k, ct, []byte("aad"), nil); err != nil || string(pt) != "made before the backup" {
		t.Fatalf("decrypt after restart: %q %v", pt, err)
	}
}

// TestRestoreBackupOnAnotherNode restores into a fresh node that never had the cluster:
// a node key of its own, an empty state store.
func TestRestoreBackupOnAnotherNode(t *testing.T) {
	src := newEnv(t, DefaultPolicy())
	cu := src.cryptoUser("sam")
	k := src.aesKey(cu, "k", AttrSpec{Encrypt: t_(true), Decrypt: t_(true)})
	ct, err := src.h.EncryptAESGCM(cu, k, []byte("hello"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	part, dk := backupOf(t, src)

	dst := &env{t: t, dir: t.TempDir(), ctx: context.Background()}
	dst.open()
	if err := dst.h.RestoreBackup(dst.ctx, dk, part); err != nil {
		t.Fatal(err)
	}
	cu = dst.login("sam", RoleCrypto, "sam-password")
	if pt, err := dst.h.DecryptAESGCM(cu, k, ct, nil, nil); err != nil || string(pt) != "hello" {
		t.Fatalf("decrypt on the other node: %q %v", pt, err)
	}
	got, _ := dst.h.Snapshot()
	if !bytes.Equal(got, part) {
		t.Fatal("restored state differs from the backup's")
	}
	// The restore went through the replicated log: a node restarted from the log has it.
	dst.restart()
	if st := dst.h.Status(); st.State != StateActive || !st.Unsealed || st.Keys != 1 {
		t.Fatalf("after restart: %+v", st)
	}
}

func TestValidateSnapshot(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	e.cryptoUser("vera")
	good, _ := e.h.Snapshot()
	var v state.SnapshotValidator = e.h
	if err := v.ValidateSnapshot(good); err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateSnapshot(nil); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{[]byte("{"), []byte(`{"format":"x","version":1}`),
		bytes.Replace(good, []byte(`"state":"ACTIVE"`), []byte(`"state":"BROKEN"`), 1),
		bytes.Replace(good, []byte(`"vera":{`), []byte(`"vera":null,"x":{`), 1)} {
		if err := v.ValidateSnapshot(bad); err == nil {
			t.Errorf("accepted %.60s", bad)
		}
	}
}
