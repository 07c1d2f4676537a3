package hsm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/crypto"
	"github.com/coffer-hsm/coffer/internal/seal"
	"github.com/coffer-hsm/coffer/internal/state"
)

const adminPW = "admin-password-1"

// env is one node: a real raft store in a temp dir with the HSM as its part.
type env struct {
	t      testing.TB
	dir    string
	h      *HSM
	store  *state.Store
	events *EventLog
	wiped  chan struct{}
	ctx    context.Context
}

func newEnv(t testing.TB, p Policy) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), ctx: context.Background()}
	e.open()
	if err := e.h.Initialize(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Activate(e.ctx, adminPW); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) open() {
	e.t.Helper()
	sealer, err := seal.NewNodeKeySealer(filepath.Join(e.dir, "node.key"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.events = NewEventLog(1000)
	e.wiped = make(chan struct{}, 1)
	e.h = New(Config{DomainKeyPath: filepath.Join(e.dir, "domain-key.sealed"), Sealer: sealer, Events: e.events,
		OnZeroize: func() {
			if err := e.store.Wipe(context.Background()); err != nil {
				e.t.Errorf("wipe: %v", err)
			}
			e.wiped <- struct{}{}
		}})
	e.store, err = state.Open(state.Config{NodeID: "n1", Dir: filepath.Join(e.dir, "raft")}, e.h)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.store.Close() })
	e.h.Attach(e.store)
	if err := e.h.Unseal(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) restart() {
	e.t.Helper()
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *env) login(user, role, pw string) *Session {
	e.t.Helper()
	res, err := e.h.Login(e.ctx, LoginRequest{Username: user, Role: role, Password: pw})
	if err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	if res.Session == nil {
		e.t.Fatalf("login %s: no session (challenge %+v)", user, res.Challenge)
	}
	return res.Session
}

func (e *env) admin() *Session { return e.login("admin", RoleAdmin, adminPW) }

func (e *env) cryptoUser(name string) *Session {
	e.t.Helper()
	a := e.admin()
	if err := e.h.CreateUser(e.ctx, a, name, RoleCrypto, name+"-password", nil); err != nil {
		e.t.Fatal(err)
	}
	return e.login(name, RoleCrypto, name+"-password")
}

func t_(b bool) *bool { return &b }

func (e *env) aesKey(s *Session, label string, spec AttrSpec) uint64 {
	e.t.Helper()
	spec.Label = label
	ki, err := e.h.GenerateSymmetric(e.ctx, s, GenerateSymmetricRequest{KeyType: TypeAES, KeyLengthBytes: 32, Attributes: spec})
	if err != nil {
		e.t.Fatal(err)
	}
	return ki.handle()
}

func (e *env) ecPair(s *Session, label string, pub, priv AttrSpec) (uint64, uint64) {
	e.t.Helper()
	pub.Label, priv.Label = label+"-pub", label
	kp, err := e.h.GenerateKeyPair(e.ctx, s, GenerateKeyPairRequest{KeyType: TypeEC, Curve: "secp256r1", PublicAttributes: pub, PrivateAttributes: priv})
	if err != nil {
		e.t.Fatal(err)
	}
	return kp.PublicKey.handle(), kp.PrivateKey.handle()
}

func TestRolesAndUserLimits(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	a := e.admin()
	cu := e.cryptoUser("alice")
	for _, tc := range []struct {
		name, role, pw string
		want           string
	}{
		{"bob", "superuser", "password1", "role"},
		{strings.Repeat("x", 32), RoleCrypto, "password1", "username"},
		{"bob", RoleCrypto, "short", "password"},
		{"bob", RoleCrypto, strings.Repeat("p", 33), "password"},
		{"bad name", RoleCrypto, "password1", "username"},
	} {
		var ve *ValidationError
		if err := e.h.CreateUser(e.ctx, a, tc.name, tc.role, tc.pw, nil); !errors.As(err, &ve) || ve.Field != tc.want {
			t.Errorf("CreateUser(%q,%q): got %v, want invalid %s", tc.name, tc.role, err, tc.want)
		}
	}
	var pe *PermissionError
	if err := e.h.CreateUser(e.ctx, cu, "bob", RoleCrypto, "password1", nil); !errors.As(err, &pe) {
		t.Errorf("crypto user created a user: %v", err)
	}
	if _, err := e.h.GenerateSymmetric(e.ctx, a, GenerateSymmetricRequest{KeyType: TypeAES, KeyLengthBytes: 32}); !errors.As(err, &pe) {
		t.Errorf("admin generated a key: %v", err)
	}
	if err := e.h.CreateUser(e.ctx, a, "appl", RoleAppliance, "password1", nil); err != nil {
		t.Fatal(err)
	}
	ap := e.login("appl", RoleAppliance, "password1")
	if _, err := e.h.ListKeys(ap, Filter{}, 0, "", false); !errors.As(err, &pe) {
		t.Errorf("appliance user listed keys: %v", err)
	}
	if err := e.h.CreateUser(e.ctx, ap, "x1", RoleCrypto, "password1", nil); !errors.As(err, &pe) {
		t.Errorf("appliance user created a user: %v", err)
	}
	// Duplicate user, and a user who owns keys cannot be deleted.
	var ce *ConflictError
	if err := e.h.CreateUser(e.ctx, a, "ALICE", RoleCrypto, "password1", nil); !errors.As(err, &ce) {
		t.Errorf("duplicate (case-insensitive) user: %v", err)
	}
	e.aesKey(cu, "k", AttrSpec{})
	if err := e.h.DeleteUser(e.ctx, a, "alice", RoleCrypto, nil); !errors.As(err, &ce) {
		t.Errorf("deleted a key owner: %v", err)
	}
	if err := e.h.DeleteUser(e.ctx, a, "admin", RoleAdmin, nil); !errors.As(err, &ce) {
		t.Errorf("deleted the last admin / self: %v", err)
	}
	users, err := e.h.ListUsers(a)
	if err != nil || len(users) != 3 {
		t.Fatalf("ListUsers: %v %+v", err, users)
	}
	for _, u := range users {
		if strings.Contains(u.Username, "$argon2") {
			t.Fatal("password hash leaked in user list")
		}
	}
}

func TestLockoutAfterFiveFailures(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	e.cryptoUser("carol")
	for i := 1; i <= 5; i++ {
		_, err := e.h.Login(e.ctx, LoginRequest{Username: "carol", Role: RoleCrypto, Password: "wrong-password"})
		var lf *LoginFailedError
		if !errors.As(err, &lf) || lf.FailedLogins != i {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if (i == 5) != lf.Locked {
			t.Fatalf("attempt %d: locked=%v", i, lf.Locked)
		}
	}
	// Even the right password is refused now.
	if _, err := e.h.Login(e.ctx, LoginRequest{Username: "carol", Role: RoleCrypto, Password: "carol-password"}); !errors.Is(err, ErrUserLocked) {
		t.Fatalf("locked user logged in: %v", err)
	}
	// The counter is replicated state: it survives a restart.
	e.restart()
	if _, err := e.h.Login(e.ctx, LoginRequest{Username: "carol", Role: RoleCrypto, Password: "carol-password"}); !errors.Is(err, ErrUserLocked) {
		t.Fatalf("lock lost on restart: %v", err)
	}
	// An admin resets the password, which unlocks.
	if err := e.h.ChangePassword(e.ctx, e.admin(), "carol", RoleCrypto, "new-password", nil); err != nil {
		t.Fatal(err)
	}
	e.login("carol", RoleCrypto, "new-password")
	var locked int
	for _, ev := range e.events.Events() {
		if ev.Result == ResultUserLocked && ev.User == "carol" {
			locked++
		}
	}
	if locked < 1 {
		t.Error("no lockout event emitted")
	}
	// A success resets the consecutive counter.
	_, _ = e.h.Login(e.ctx, LoginRequest{Username: "carol", Role: RoleCrypto, Password: "bad-password"})
	e.login("carol", RoleCrypto, "new-password")
	users, _ := e.h.ListUsers(e.admin())
	for _, u := range users {
		if u.Username == "carol" && u.FailedLogins != 0 {
			t.Errorf("counter not reset: %d", u.FailedLogins)
		}
	}
}

// TestZeroizeAfterThreeFailedAdminLogins is the SecureCart accident: three wrong admin
// passwords under the zeroize policy erase every key, and nothing of the old keys or the
// domain key remains anywhere in the data directory.
func TestZeroizeAfterThreeFailedAdminLogins(t *testing.T) {
	e := newEnv(t, Policy{LoginFailurePolicy: PolicyZeroize, LockoutThreshold: 5, ZeroizeThreshold: 3})
	cu := e.cryptoUser("dave")

	// A key whose plaintext we know, brought in by unwrapping, plus generated keys.
	kek := e.aesKey(cu, "kek", AttrSpec{Wrap: t_(true), Unwrap: t_(true)})
	known := bytes.Repeat([]byte{0xC0, 0xFF, 0xEE, 0x42}, 8)
	kl, _ := e.h.liveKey(e.h.keys[kek])
	wrapped, err := crypto.WrapPad(kl.secret, known)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.Unwrap(e.ctx, cu, UnwrapRequest{UnwrappingKey: kek, Mechanism: WrapAESZeroPad, Wrapped: wrapped, KeyType: TypeAES,
		Attributes: AttrSpec{Label: "known", Encrypt: t_(true)}}, nil); err != nil {
		t.Fatal(err)
	}
	e.ecPair(cu, "signer", AttrSpec{Verify: t_(true)}, AttrSpec{Sign: t_(true)})
	dk, _ := e.h.domainKey()
	dkBytes := dk.Bytes()
	sealedDK, err := os.ReadFile(filepath.Join(e.dir, "domain-key.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	var sealedMaterial [][]byte
	for _, o := range e.h.keys {
		if o.Material != nil {
			sealedMaterial = append(sealedMaterial, o.Material)
		}
	}
	if err := e.store.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// The needles are really on disk before zeroization, so the scan below can fail.
	if !dirContains(t, e.dir, sealedMaterial[0]) {
		t.Fatal("test is broken: sealed key material not found on disk before zeroize")
	}

	for i := 1; i <= 3; i++ {
		_, err := e.h.Login(e.ctx, LoginRequest{Username: "admin", Role: RoleAdmin, Password: "not-the-password"})
		var lf *LoginFailedError
		if !errors.As(err, &lf) || lf.FailedLogins != i || lf.Zeroized != (i == 3) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if i == 3 && !errors.Is(err, ErrZeroized) {
			t.Fatalf("third failure is not ErrZeroized: %v", err)
		}
	}
	select {
	case <-e.wiped:
	case <-time.After(30 * time.Second):
		t.Fatal("state was not wiped")
	}
	st := e.h.Status()
	if st.State != StateUninitialized || st.Keys != 0 || st.Users != 0 || st.Unsealed {
		t.Fatalf("after zeroize: %+v", st)
	}
	if _, err := e.h.Login(e.ctx, LoginRequest{Username: "admin", Role: RoleAdmin, Password: adminPW}); !errors.Is(err, ErrZeroized) {
		t.Fatalf("login after zeroize: %v", err)
	}
	if _, err := e.h.Sign(cu, 3, crypto.ECDSA_SHA_256, []byte("x"), false, nil); err == nil {
		t.Fatal("old session still signs after zeroize")
	}
	if _, err := os.Stat(filepath.Join(e.dir, "domain-key.sealed")); !os.IsNotExist(err) {
		t.Fatalf("domain key file still exists: %v", err)
	}
	if !dk.Zeroized() {
		t.Fatal("in-memory domain key not zeroized")
	}
	needles := map[string][]byte{"domain key": dkBytes, "sealed domain key blob": sealedDK, "known key plaintext": known}
	for i, m := range sealedMaterial {
		needles["sealed key material "+string(rune('0'+i))] = m
	}
	for name, n := range needles {
		if dirContains(t, e.dir, n) {
			t.Errorf("%s still present in the data dir after zeroize", name)
		}
	}
	// The zeroize event was emitted for the alarms.
	found := false
	for _, ev := range e.events.Events() {
		found = found || (ev.Opcode == OpZeroize && ev.Result == ResultZeroized)
	}
	if !found {
		t.Error("no zeroize event")
	}
	// And the node can be initialized again, with nothing of the old cluster.
	e.restart()
	if st := e.h.Status(); st.State != StateUninitialized || st.Keys != 0 {
		t.Fatalf("after restart: %+v", st)
	}
}

func dirContains(t *testing.T, dir string, needle []byte) bool {
	t.Helper()
	found := false
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, needle) {
			found = true
		}
		// JSON state encodes []byte as base64; look for that too.
		if err == nil && len(needle) >= 12 && bytes.Contains(b, []byte(b64(needle))) {
			found = true
		}
		return nil
	})
	return found
}

func b64(b []byte) string {
	// base64 of a prefix aligned to 3 bytes appears verbatim inside the longer encoding.
	n := len(b) / 3 * 3
	return strings.TrimRight(encodeStd(b[:n]), "=")
}

func TestLockoutPolicyDoesNotZeroize(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	for i := 0; i < 3; i++ {
		_, _ = e.h.Login(e.ctx, LoginRequest{Username: "admin", Role: RoleAdmin, Password: "wrong-password"})
	}
	if st := e.h.Status(); st.State != StateActive {
		t.Fatalf("lockout policy zeroized: %+v", st)
	}
	e.admin()
}

func newApprover(t *testing.T, e *env, a *Session, name string) (*rsa.PrivateKey, *Session) {
	t.Helper()
	if name != "admin" {
		if err := e.h.CreateUser(e.ctx, a, name, RoleAdmin, name+"-password", nil); err != nil {
			t.Fatal(err)
		}
	}
	s := a
	if name != "admin" {
		s = e.login(name, RoleAdmin, name+"-password")
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err := e.h.RegisterQuorumKey(e.ctx, s, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))); err != nil {
		t.Fatal(err)
	}
	return k, s
}

func approve(t *testing.T, tf *TokenFile, user string, k *rsa.PrivateKey) {
	t.Helper()
	sig, err := SignTokenPayload(k, tf.Token)
	if err != nil {
		t.Fatal(err)
	}
	tf.Signatures = append(tf.Signatures, ApprovalSignature{Username: user, Signature: sig})
}

func TestUserQuorum(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	a := e.admin()
	k1, _ := newApprover(t, e, a, "admin")
	k2, _ := newApprover(t, e, a, "admin2")
	k3, _ := newApprover(t, e, a, "admin3")
	if err := e.h.SetQuorumValue(e.ctx, a, ServiceUser, 3, nil); err != nil {
		t.Fatal(err)
	}
	// Without approval.
	var qe *QuorumError
	if err := e.h.CreateUser(e.ctx, a, "eve", RoleCrypto, "password1", nil); !errors.As(err, &qe) || qe.Required != 3 {
		t.Fatalf("no approval: %v", err)
	}
	// M-1 approvals, plus a duplicate and a forged one, are refused.
	tf, err := e.h.GenerateToken(e.ctx, a, ServiceUser, 0)
	if err != nil {
		t.Fatal(err)
	}
	approve(t, tf, "admin", k1)
	approve(t, tf, "admin2", k2)
	approve(t, tf, "admin2", k2)
	approve(t, tf, "admin3", k1) // signed with the wrong key
	if err := e.h.CreateUser(e.ctx, a, "eve", RoleCrypto, "password1", tf); !errors.As(err, &qe) || qe.Valid != 2 {
		t.Fatalf("M-1 approvals: %v", err)
	}
	// M valid approvals are accepted.
	tf.Signatures = tf.Signatures[:2]
	approve(t, tf, "admin3", k3)
	if err := e.h.CreateUser(e.ctx, a, "eve", RoleCrypto, "password1", tf); err != nil {
		t.Fatalf("M approvals: %v", err)
	}
	// The token is single-use.
	if err := e.h.CreateUser(e.ctx, a, "eve2", RoleCrypto, "password1", tf); !errors.As(err, &qe) {
		t.Fatalf("token reused: %v", err)
	}
	// A token for another service does not count.
	tq, _ := e.h.GenerateToken(e.ctx, a, ServiceQuorum, 0)
	approve(t, tq, "admin", k1)
	approve(t, tq, "admin2", k2)
	approve(t, tq, "admin3", k3)
	if err := e.h.DeleteUser(e.ctx, a, "eve", RoleCrypto, tq); !errors.As(err, &qe) {
		t.Fatalf("wrong-service token accepted: %v", err)
	}
	// An altered token payload is refused.
	tf2, _ := e.h.GenerateToken(e.ctx, a, ServiceUser, 0)
	tf2.Token = append([]byte(nil), tf2.Token...)
	tf2.Token[len(tf2.Token)-2] ^= 1
	approve(t, tf2, "admin", k1)
	approve(t, tf2, "admin2", k2)
	approve(t, tf2, "admin3", k3)
	if err := e.h.DeleteUser(e.ctx, a, "eve", RoleCrypto, tf2); !errors.As(err, &qe) {
		t.Fatalf("altered token accepted: %v", err)
	}
	// Lowering the quorum value needs quorum-service approval.
	if err := e.h.SetQuorumValue(e.ctx, a, ServiceUser, 1, nil); !errors.As(err, &qe) {
		t.Fatalf("quorum lowered without approval: %v", err)
	}
	if err := e.h.SetQuorumValue(e.ctx, a, ServiceUser, 1, tq); err != nil {
		t.Fatal(err)
	}
	if err := e.h.CreateUser(e.ctx, a, "frank", RoleCrypto, "password1", nil); err != nil {
		t.Fatal(err)
	}
}

func TestKeyQuorum(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	owner := e.cryptoUser("owner")
	other := e.cryptoUser("other")
	ki, err := e.h.GenerateSymmetric(e.ctx, owner, GenerateSymmetricRequest{KeyType: TypeAES, KeyLengthBytes: 32,
		Attributes: AttrSpec{Label: "q", Encrypt: t_(true)}, Quorum: KeyQuorum{Manage: 2}})
	if err != nil {
		t.Fatal(err)
	}
	ref := ki.handle()
	if err := e.h.ShareKey(e.ctx, owner, ref, "other", true, nil); err == nil {
		t.Fatal("share without key-management quorum")
	}
	reg := func(s *Session) *rsa.PrivateKey {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err := e.h.RegisterQuorumKey(e.ctx, s, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))); err != nil {
			t.Fatal(err)
		}
		return k
	}
	ko, kx := reg(owner), reg(other)
	tf, err := e.h.GenerateToken(e.ctx, owner, ServiceKeyManagement, ref)
	if err != nil {
		t.Fatal(err)
	}
	approve(t, tf, "owner", ko)
	approve(t, tf, "other", kx) // "other" has no access to the key yet: not eligible
	if err := e.h.ShareKey(e.ctx, owner, ref, "other", true, tf); err == nil {
		t.Fatal("ineligible approver counted")
	}
	// Usage is not under quorum (use quorum 0).
	if _, err := e.h.EncryptAESGCM(owner, ref, []byte("x"), nil, nil); err != nil {
		t.Fatal(err)
	}
	_ = other
}

func TestRestartRestoresIdenticalState(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	cu := e.cryptoUser("gina")
	k := e.aesKey(cu, "persist", AttrSpec{Encrypt: t_(true), Decrypt: t_(true)})
	e.ecPair(cu, "ec", AttrSpec{Verify: t_(true)}, AttrSpec{Sign: t_(true)})
	ct, err := e.h.EncryptAESGCM(cu, k, []byte("hello"), []byte("aad"), nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := e.h.Snapshot()
	e.restart()
	after, _ := e.h.Snapshot()
	if !bytes.Equal(before, after) {
		t.Fatal("state differs after restart")
	}
	// Also across a snapshot + more log entries.
	if err := e.store.Snapshot(); err != nil {
		t.Fatal(err)
	}
	cu = e.login("gina", RoleCrypto, "gina-password")
	e.aesKey(cu, "after-snapshot", AttrSpec{})
	before, _ = e.h.Snapshot()
	e.restart()
	after, _ = e.h.Snapshot()
	if !bytes.Equal(before, after) {
		t.Fatal("state differs after snapshot+restart")
	}
	cu = e.login("gina", RoleCrypto, "gina-password")
	pt, err := e.h.DecryptAESGCM(cu, k, ct, []byte("aad"), nil)
	if err != nil || string(pt) != "hello" {
		t.Fatalf("decrypt after restart: %q %v", pt, err)
	}
}

func TestAttributesEnforced(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	cu := e.cryptoUser("hank")
	pub, priv := e.ecPair(cu, "nosign", AttrSpec{}, AttrSpec{})
	var pe *PermissionError
	if _, err := e.h.Sign(cu, priv, crypto.ECDSA_SHA_256, []byte("m"), false, nil); !errors.As(err, &pe) {
		t.Fatalf("key without sign signed: %v", err)
	}
	if err := e.h.Verify(cu, pub, crypto.ECDSA_SHA_256, []byte("m"), false, []byte("sig")); !errors.As(err, &pe) {
		t.Fatalf("key without verify verified: %v", err)
	}
	k := e.aesKey(cu, "noenc", AttrSpec{})
	if _, err := e.h.EncryptAESGCM(cu, k, []byte("m"), nil, nil); !errors.As(err, &pe) {
		t.Fatalf("key without encrypt encrypted: %v", err)
	}
	// set-attribute turns sign on; then it signs and the public key verifies.
	if _, err := e.h.SetAttribute(e.ctx, cu, priv, "sign", "true", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.SetAttribute(e.ctx, cu, pub, "verify", "true", nil); err != nil {
		t.Fatal(err)
	}
	sig, err := e.h.Sign(cu, priv, crypto.ECDSA_SHA_256, []byte("m"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.h.Verify(cu, pub, crypto.ECDSA_SHA_256, []byte("m"), false, sig); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Verify(cu, pub, crypto.ECDSA_SHA_256, []byte("n"), false, sig); err == nil {
		t.Fatal("wrong message verified")
	}
	// extractable cannot be modified; trusted only by admins; modifiable=false freezes.
	var ve *ValidationError
	if _, err := e.h.SetAttribute(e.ctx, cu, k, "extractable", "false", nil); !errors.As(err, &ve) {
		t.Fatalf("extractable modified: %v", err)
	}
	if _, err := e.h.SetAttribute(e.ctx, cu, k, "trusted", "true", nil); !errors.As(err, &pe) {
		t.Fatalf("crypto user set trusted: %v", err)
	}
	if _, err := e.h.SetAttribute(e.ctx, e.admin(), k, "trusted", "true", nil); err != nil {
		t.Fatalf("admin set trusted: %v", err)
	}
	if _, err := e.h.SetAttribute(e.ctx, cu, k, "modifiable", "false", nil); err != nil {
		t.Fatal(err)
	}
	var ce *ConflictError
	if _, err := e.h.SetAttribute(e.ctx, cu, k, "label", "x", nil); !errors.As(err, &ce) {
		t.Fatalf("unmodifiable key modified: %v", err)
	}
	// destroyable=false prevents deletion.
	k2 := e.aesKey(cu, "keep", AttrSpec{Destroyable: t_(false)})
	if err := e.h.DeleteKey(e.ctx, cu, k2, nil); !errors.As(err, &ce) {
		t.Fatalf("non-destroyable key deleted: %v", err)
	}
	// Only the owner deletes; a share lets another user use, not delete.
	other := e.cryptoUser("ivy")
	k3 := e.aesKey(cu, "shared", AttrSpec{Encrypt: t_(true)})
	if _, err := e.h.EncryptAESGCM(other, k3, []byte("m"), nil, nil); err == nil {
		t.Fatal("unshared key used by another user")
	}
	if err := e.h.ShareKey(e.ctx, cu, k3, "ivy", true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.EncryptAESGCM(other, k3, []byte("m"), nil, nil); err != nil {
		t.Fatalf("shared key: %v", err)
	}
	if err := e.h.DeleteKey(e.ctx, other, k3, nil); !errors.As(err, &pe) {
		t.Fatalf("non-owner deleted: %v", err)
	}
	if err := e.h.ShareKey(e.ctx, cu, k3, "ivy", false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.EncryptAESGCM(other, k3, []byte("m"), nil, nil); err == nil {
		t.Fatal("unshared key still usable")
	}
	if err := e.h.DeleteKey(e.ctx, cu, k3, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.EncryptAESGCM(cu, k3, []byte("m"), nil, nil); err == nil {
		t.Fatal("deleted key used")
	}
}

func TestWrapUnwrapAllMechanisms(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	cu := e.cryptoUser("jack")
	aesKEK := e.aesKey(cu, "kek", AttrSpec{Wrap: t_(true), Unwrap: t_(true)})
	kp, err := e.h.GenerateKeyPair(e.ctx, cu, GenerateKeyPairRequest{KeyType: TypeRSA, ModulusSizeBits: 2048,
		PublicAttributes: AttrSpec{Label: "rsa-wrap", Wrap: t_(true)}, PrivateAttributes: AttrSpec{Label: "rsa-unwrap", Unwrap: t_(true)}})
	if err != nil {
		t.Fatal(err)
	}
	target := e.aesKey(cu, "payload", AttrSpec{Encrypt: t_(true), Decrypt: t_(true)})
	ct, _ := e.h.EncryptAESGCM(cu, target, []byte("secret data"), nil, nil)
	_, ecPriv := e.ecPair(cu, "ecpayload", AttrSpec{Verify: t_(true)}, AttrSpec{Sign: t_(true)})
	for _, tc := range []struct {
		mech            string
		wrapKey, unwrap uint64
		payload         uint64
		keyType         string
	}{
		{WrapAESGCM, aesKEK, aesKEK, target, TypeAES},
		{WrapAESNoPad, aesKEK, aesKEK, target, TypeAES},
		{WrapAESZeroPad, aesKEK, aesKEK, target, TypeAES},
		{WrapAESPKCS5, aesKEK, aesKEK, target, TypeAES},
		{WrapRSAOAEP, kp.PublicKey.handle(), kp.PrivateKey.handle(), target, TypeAES},
		{WrapRSAAES, kp.PublicKey.handle(), kp.PrivateKey.handle(), target, TypeAES},
		{WrapAESZeroPad, aesKEK, aesKEK, ecPriv, TypeEC},
		{WrapRSAAES, kp.PublicKey.handle(), kp.PrivateKey.handle(), ecPriv, TypeEC},
	} {
		t.Run(tc.mech+"/"+tc.keyType, func(t *testing.T) {
			w, err := e.h.Wrap(cu, WrapRequest{WrappingKey: tc.wrapKey, Key: tc.payload, Mechanism: tc.mech, Hash: "sha256"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ki, err := e.h.Unwrap(e.ctx, cu, UnwrapRequest{UnwrappingKey: tc.unwrap, Mechanism: tc.mech, Hash: "sha256", Wrapped: w, KeyType: tc.keyType,
				Attributes: AttrSpec{Label: "unwrapped-" + tc.mech, Decrypt: t_(tc.keyType == TypeAES), Sign: t_(tc.keyType == TypeEC)}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ki.Attributes.Local {
				t.Error("unwrapped key is marked local")
			}
			if tc.keyType == TypeAES {
				pt, err := e.h.DecryptAESGCM(cu, ki.handle(), ct, nil, nil)
				if err != nil || string(pt) != "secret data" {
					t.Fatalf("unwrapped key does not decrypt: %v", err)
				}
			} else if _, err := e.h.Sign(cu, ki.handle(), crypto.ECDSA_SHA_256, []byte("m"), false, nil); err != nil {
				t.Fatal(err)
			}
			// A flipped byte never yields a key.
			w[len(w)/2] ^= 0x01
			if _, err := e.h.Unwrap(e.ctx, cu, UnwrapRequest{UnwrappingKey: tc.unwrap, Mechanism: tc.mech, Hash: "sha256", Wrapped: w, KeyType: tc.keyType}, nil); err == nil {
				t.Fatal("corrupted wrapped key unwrapped")
			}
		})
	}
	// Non-extractable keys never leave; wrap-with-trusted needs a trusted wrapping key.
	ne := e.aesKey(cu, "nonextractable", AttrSpec{Extractable: t_(false)})
	if _, err := e.h.Wrap(cu, WrapRequest{WrappingKey: aesKEK, Key: ne, Mechanism: WrapAESGCM}, nil); err == nil {
		t.Fatal("non-extractable key wrapped")
	}
	wwt := e.aesKey(cu, "wwt", AttrSpec{WrapWithTrusted: t_(true)})
	if _, err := e.h.Wrap(cu, WrapRequest{WrappingKey: aesKEK, Key: wwt, Mechanism: WrapAESGCM}, nil); err == nil {
		t.Fatal("wrap-with-trusted key wrapped by an untrusted key")
	}
	if _, err := e.h.SetAttribute(e.ctx, e.admin(), aesKEK, "trusted", "true", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.Wrap(cu, WrapRequest{WrappingKey: aesKEK, Key: wwt, Mechanism: WrapAESGCM}, nil); err != nil {
		t.Fatalf("trusted wrap: %v", err)
	}
	// Only the owner wraps, even a shared key.
	other := e.cryptoUser("kim")
	if err := e.h.ShareKey(e.ctx, cu, target, "kim", true, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.h.ShareKey(e.ctx, cu, aesKEK, "kim", true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.Wrap(other, WrapRequest{WrappingKey: aesKEK, Key: target, Mechanism: WrapAESGCM}, nil); err == nil {
		t.Fatal("non-owner wrapped a key")
	}
}

func TestSignMechanismsAndKeyTypes(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	cu := e.cryptoUser("liz")
	for _, tc := range []struct {
		req  GenerateKeyPairRequest
		mech string
	}{
		{GenerateKeyPairRequest{KeyType: TypeEC, Curve: "secp256r1"}, "ecdsa"},
		{GenerateKeyPairRequest{KeyType: TypeEC, Curve: "secp384r1"}, "ecdsa"},
		{GenerateKeyPairRequest{KeyType: TypeEC, Curve: "secp521r1"}, "ecdsa"},
		{GenerateKeyPairRequest{KeyType: TypeEC, Curve: "secp256k1"}, "ecdsa"},
		{GenerateKeyPairRequest{KeyType: TypeEd25519}, "ed25519"},
		{GenerateKeyPairRequest{KeyType: TypeRSA, ModulusSizeBits: 2048}, "rsa-pkcs"},
		{GenerateKeyPairRequest{KeyType: TypeRSA, ModulusSizeBits: 2048}, "rsa-pkcs-pss"},
	} {
		tc.req.PublicAttributes = AttrSpec{Verify: t_(true)}
		tc.req.PrivateAttributes = AttrSpec{Sign: t_(true)}
		kp, err := e.h.GenerateKeyPair(e.ctx, cu, tc.req)
		if err != nil {
			t.Fatalf("%+v: %v", tc.req, err)
		}
		alg, err := SignMechanism(tc.mech, "sha256")
		if err != nil {
			t.Fatal(err)
		}
		sig, err := e.h.Sign(cu, kp.PrivateKey.handle(), alg, []byte("message"), false, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.req.KeyType, tc.mech, err)
		}
		if err := e.h.Verify(cu, kp.PublicKey.handle(), alg, []byte("message"), false, sig); err != nil {
			t.Fatalf("%s %s verify: %v", tc.req.KeyType, tc.mech, err)
		}
	}
	// Digest input, checked with the stdlib.
	kp, _ := e.h.GenerateKeyPair(e.ctx, cu, GenerateKeyPairRequest{KeyType: TypeEC, Curve: "prime256v1", PrivateAttributes: AttrSpec{Sign: t_(true)}})
	d := sha256.Sum256([]byte("digest me"))
	sig, err := e.h.Sign(cu, kp.PrivateKey.handle(), crypto.ECDSA_SHA_256, d[:], true, nil)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := e.h.PublicKeyDER(cu, kp.PublicKey.handle())
	pub, _ := x509.ParsePKIXPublicKey(der)
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], sig) {
		t.Fatal("stdlib does not verify the HSM's signature")
	}
	// Out-of-range parameters.
	var ve *ValidationError
	for _, req := range []GenerateKeyPairRequest{{KeyType: TypeRSA, ModulusSizeBits: 1024}, {KeyType: TypeRSA, ModulusSizeBits: 8192}, {KeyType: TypeEC, Curve: "brainpool"}, {KeyType: "dsa"}} {
		if _, err := e.h.GenerateKeyPair(e.ctx, cu, req); !errors.As(err, &ve) {
			t.Errorf("%+v: %v", req, err)
		}
	}
	for _, n := range []int{0, 8, 33} {
		if _, err := e.h.GenerateSymmetric(e.ctx, cu, GenerateSymmetricRequest{KeyType: TypeAES, KeyLengthBytes: n}); !errors.As(err, &ve) {
			t.Errorf("AES %d bytes: %v", n, err)
		}
	}
}

func TestMACRandomRSAOAEPAndECDH(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	cu := e.cryptoUser("max")
	ki, err := e.h.GenerateSymmetric(e.ctx, cu, GenerateSymmetricRequest{KeyType: TypeGenericSecret, KeyLengthBytes: 32, Attributes: AttrSpec{Sign: t_(true), Verify: t_(true)}})
	if err != nil {
		t.Fatal(err)
	}
	mac, err := e.h.MAC(cu, ki.handle(), "sha384", []byte("data"), nil)
	if err != nil || len(mac) != 48 {
		t.Fatalf("mac: %v", err)
	}
	if err := e.h.VerifyMAC(cu, ki.handle(), "sha384", []byte("data"), mac); err != nil {
		t.Fatal(err)
	}
	mac[0] ^= 1
	if err := e.h.VerifyMAC(cu, ki.handle(), "sha384", []byte("data"), mac); err == nil {
		t.Fatal("bad MAC verified")
	}
	r1, _ := e.h.Random(cu, 32)
	r2, _ := e.h.Random(cu, 32)
	if bytes.Equal(r1, r2) || len(r1) != 32 {
		t.Fatal("random")
	}
	if _, err := e.h.Random(cu, MaxRandomBytes+1); err == nil {
		t.Fatal("oversized random")
	}
	kp, _ := e.h.GenerateKeyPair(e.ctx, cu, GenerateKeyPairRequest{KeyType: TypeRSA, ModulusSizeBits: 2048,
		PublicAttributes: AttrSpec{Encrypt: t_(true)}, PrivateAttributes: AttrSpec{Decrypt: t_(true)}})
	ct, err := e.h.EncryptRSAOAEP(cu, kp.PublicKey.handle(), "sha256", []byte("oaep"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := e.h.DecryptRSAOAEP(cu, kp.PrivateKey.handle(), "sha256", ct, nil, nil)
	if err != nil || string(pt) != "oaep" {
		t.Fatal(err)
	}
	// ECDH: the HSM and the stdlib agree on the shared secret.
	_, priv := e.ecPair(cu, "ecdh", AttrSpec{}, AttrSpec{Derive: t_(true)})
	peer, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	peerDER, _ := x509.MarshalPKIXPublicKey(&peer.PublicKey)
	shared, err := e.h.ECDHSharedSecret(cu, priv, peerDER)
	if err != nil {
		t.Fatal(err)
	}
	hsmPubDER, _ := e.h.PublicKeyDER(cu, priv)
	hp, _ := x509.ParsePKIXPublicKey(hsmPubDER)
	pe, _ := peer.ECDH()
	he, _ := hp.(*ecdsa.PublicKey).ECDH()
	want, _ := pe.ECDH(he)
	if !bytes.Equal(shared, want) {
		t.Fatal("ECDH mismatch with stdlib")
	}
	dk, err := e.h.DeriveECDH(e.ctx, cu, DeriveRequest{PrivateKey: priv, PeerPublicKey: peerDER, KeyType: TypeAES, KeyLengthBytes: 16, Attributes: AttrSpec{Label: "derived", Encrypt: t_(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if dk.Attributes.KeyLengthBytes != 16 {
		t.Fatalf("derived: %+v", dk.Attributes)
	}
}

func TestSessionKeysDieWithSession(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	res, err := func() (LoginResult, error) {
		e.cryptoUser("ned")
		return e.h.Login(e.ctx, LoginRequest{Username: "ned", Role: RoleCrypto, Password: "ned-password"})
	}()
	if err != nil {
		t.Fatal(err)
	}
	s := res.Session
	ref := e.aesKey(s, "ephemeral", AttrSpec{Session: true, Encrypt: t_(true)})
	if ref&sessionHandleBit == 0 {
		t.Fatalf("session key got a token handle %x", ref)
	}
	if st := e.h.Status(); st.Keys != 0 {
		t.Fatal("session key was replicated")
	}
	if _, err := e.h.EncryptAESGCM(s, ref, []byte("x"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Logout(res.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.EncryptAESGCM(s, ref, []byte("x"), nil, nil); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("after logout: %v", err)
	}
	if _, err := e.h.Session(res.Token); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatal("token still valid after logout")
	}
}

func TestMFA(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	s := e.cryptoUser("olga")
	// token-sign
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if _, err := e.h.ChangeMFA(e.ctx, s, "olga", RoleCrypto, MFASpec{Strategy: "token-sign", PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := e.h.Login(e.ctx, LoginRequest{Username: "olga", Role: RoleCrypto, Password: "olga-password"})
	if err != nil || res.Challenge == nil || res.Session != nil {
		t.Fatalf("expected a challenge: %+v %v", res, err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	bad, _ := SignTokenPayload(other, res.Challenge.Challenge)
	if _, err := e.h.Login(e.ctx, LoginRequest{Username: "olga", Role: RoleCrypto, LoginID: res.Challenge.LoginID, Signature: bad}); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("wrong signature accepted: %v", err)
	}
	res, _ = e.h.Login(e.ctx, LoginRequest{Username: "olga", Role: RoleCrypto, Password: "olga-password"})
	sig, _ := SignTokenPayload(k, res.Challenge.Challenge)
	res2, err := e.h.Login(e.ctx, LoginRequest{Username: "olga", Role: RoleCrypto, LoginID: res.Challenge.LoginID, Signature: sig})
	if err != nil || res2.Session == nil {
		t.Fatalf("token-sign login: %v", err)
	}
	// A login id is single-use.
	if _, err := e.h.Login(e.ctx, LoginRequest{Username: "olga", Role: RoleCrypto, LoginID: res.Challenge.LoginID, Signature: sig}); err == nil {
		t.Fatal("MFA login replayed")
	}
	// TOTP
	enr, err := e.h.ChangeMFA(e.ctx, res2.Session, "olga", RoleCrypto, MFASpec{Strategy: "totp"}, nil)
	if err != nil || enr == nil || !strings.HasPrefix(enr.URI, "otpauth://totp/") {
		t.Fatalf("totp enrollment: %+v %v", enr, err)
	}
	secret, err := decodeBase32(enr.Secret)
	if err != nil {
		t.Fatal(err)
	}
	code := crypto.TOTP(secret, time.Now(), 6, 30*time.Second, nil)
	if _, err := e.h.Login(e.ctx, LoginRequest{Username: "olga", Role: RoleCrypto, Password: "olga-password", TOTPCode: "000000"}); !errors.Is(err, ErrLoginFailed) && code != "000000" {
		t.Fatalf("wrong TOTP accepted: %v", err)
	}
	res3, err := e.h.Login(e.ctx, LoginRequest{Username: "olga", Role: RoleCrypto, Password: "olga-password", TOTPCode: code})
	if err != nil || res3.Session == nil {
		t.Fatalf("totp login: %v", err)
	}
	// The same code does not log in twice (RFC 6238 §5.2).
	if _, err := e.h.Login(e.ctx, LoginRequest{Username: "olga", Role: RoleCrypto, Password: "olga-password", TOTPCode: code}); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("TOTP code replayed: %v", err)
	}
	// The TOTP secret is sealed in the state, never stored in the clear.
	snap, _ := e.h.Snapshot()
	if bytes.Contains(snap, secret) || bytes.Contains(snap, []byte(enr.Secret)) {
		t.Fatal("TOTP secret stored in the clear")
	}
}

func TestSelfTestFailureRefusesService(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	e.h.SetSelfTestResult(errors.New("crypto: power-on self-test aes-gcm failed"))
	if _, err := e.h.Login(e.ctx, LoginRequest{Username: "admin", Role: RoleAdmin, Password: adminPW}); !errors.Is(err, ErrSelfTest) || !strings.Contains(err.Error(), "aes-gcm") {
		t.Fatalf("login on a failed node: %v", err)
	}
}

func TestListKeysFilterAndPaging(t *testing.T) {
	e := newEnv(t, DefaultPolicy())
	cu := e.cryptoUser("pat")
	for i := 0; i < 7; i++ {
		label := "batch"
		if i == 3 {
			label = "odd-one"
		}
		e.aesKey(cu, label, AttrSpec{})
	}
	f, _ := ParseFilter([]string{"attr.label=batch"})
	var got []string
	token := ""
	for {
		page, err := e.h.ListKeys(cu, f, 2, token, false)
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalKeyCount != 6 {
			t.Fatalf("total %d", page.TotalKeyCount)
		}
		for _, k := range page.MatchedKeys {
			got = append(got, k.KeyReference)
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	if len(got) != 6 {
		t.Fatalf("paged %d keys: %v", len(got), got)
	}
	if _, err := e.h.FindKey(cu, f); err == nil {
		t.Fatal("FindKey matched 6 keys without error")
	}
	f2, _ := ParseFilter([]string{"attr.label=odd-one"})
	if _, err := e.h.FindKey(cu, f2); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFilter([]string{"label=x"}); err == nil {
		t.Fatal("bad filter accepted")
	}
}

func encodeStd(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func decodeBase32(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(s))
}

func newBenchEnv(b *testing.B) (*env, *Session) {
	e := newEnv(b, DefaultPolicy())
	return e, e.cryptoUser("bench")
}
