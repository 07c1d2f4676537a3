package hsm

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/seal"
)

func TestSessionExpires(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	now := time.Now()
	e.h.cfg.Now = func() time.Time { return now }
	e.h.cfg.SessionTTL = 10 * time.Minute
	res, err := e.h.Login(e.ctx, LoginRequest{Username: "admin", Role: RoleAdmin, Password: adminPW})
	if err != nil {
		t.Fatal(err)
	}
	// Using the session extends it.
	now = now.Add(9 * time.Minute)
	if _, err := e.h.Session(res.Token); err != nil {
		t.Fatalf("session ended early: %v", err)
	}
	now = now.Add(9 * time.Minute)
	if _, err := e.h.ListUsers(res.Session); err != nil {
		t.Fatalf("session not extended by use: %v", err)
	}
	now = now.Add(11 * time.Minute)
	if _, err := e.h.ListUsers(res.Session); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("expired session still works: %v", err)
	}
	if _, err := e.h.Session(res.Token); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("expired token resolves: %v", err)
	}
}

func TestServiceSession(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	s, err := e.h.ServiceSession(e.ctx, ServiceUserPrefix+"kms")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.GenerateSymmetric(e.ctx, s, GenerateSymmetricRequest{KeyType: TypeAES, KeyLengthBytes: 32}); err != nil {
		t.Fatal(err)
	}
	// Nobody logs in as a service user, and admins cannot delete it or take its name.
	if _, err := e.h.Login(e.ctx, LoginRequest{Username: ServiceUserPrefix + "kms", Role: RoleCrypto, Password: "anything1"}); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("service user login: %v", err)
	}
	a := e.admin()
	var ce *ConflictError
	if err := e.h.DeleteUser(e.ctx, a, ServiceUserPrefix+"kms", "", nil); !errors.As(err, &ce) {
		t.Fatalf("service user deleted: %v", err)
	}
	var ve *ValidationError
	if err := e.h.CreateUser(e.ctx, a, ServiceUserPrefix+"evil", RoleCrypto, "password1", nil); !errors.As(err, &ve) {
		t.Fatalf("reserved prefix: %v", err)
	}
	if _, err := e.h.ServiceSession(e.ctx, "kms"); err == nil {
		t.Fatal("service session without the prefix")
	}
	// A second call reuses the user.
	if _, err := e.h.ServiceSession(e.ctx, ServiceUserPrefix+"kms"); err != nil {
		t.Fatal(err)
	}
}

// FuzzRestore: a corrupt snapshot of the hsm part is refused with an error, never a panic.
func FuzzRestore(f *testing.F) {
	h := New(Config{DomainKeyPath: filepath.Join(f.TempDir(), "dk"), Sealer: mustSealer(f)})
	good, _ := h.Snapshot()
	f.Add(good)
	f.Add([]byte(`{"format":"coffer-hsm-state","version":1,"keys":{"1":{"handle":1}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = h.Restore(b)
		_ = h.Status()
	})
}

func mustSealer(tb testing.TB) seal.Sealer {
	s, err := seal.NewNodeKeySealer(filepath.Join(tb.TempDir(), "node.key"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
