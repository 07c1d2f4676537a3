package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/hsmapi"
	"github.com/coffer-hsm/coffer/internal/seal"
)

var ctx = context.Background()

var execCommand = exec.Command

func TestDevServerHealthAndCredentials(t *testing.T) {
	start := time.Now()
	s := startServer(t, "", nil)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("dev node took %v to serve", d)
	}
	h, code := s.health()
	if code != 200 || h.Status != "ok" || h.ClusterState != hsm.StateActive || h.RaftRole != "leader" || !strings.HasPrefix(h.NodeID, "node-") || !h.Unsealed ||
		h.Audit != "ok" {
		t.Fatalf("health %d %+v", code, h)
	}
	// Generated credentials: printed once, stored 0600.
	fi, err := os.Stat(filepath.Join(s.dataDir, "dev-credentials"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev-credentials: %v %v", err, fi)
	}
	c := s.creds()
	if len(c.AdminPassword) < 7 || !strings.HasPrefix(c.RootAccessKeyID, "AKIA") || len(c.RootSecretAccessKey) != 40 {
		t.Fatalf("creds %+v", c)
	}
	if !strings.Contains(s.out(), c.AdminPassword) || !strings.Contains(s.out(), c.RootSecretAccessKey) {
		t.Fatal("credentials not printed at first start")
	}
	for _, f := range []string{"node.key", "domain-key.sealed"} {
		fi, err := os.Stat(filepath.Join(s.dataDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, fi)
		}
	}
	s.admin()
	s.stop()
	s.restart()
	if strings.Contains(s.out(), c.AdminPassword) {
		t.Fatal("credentials printed again on restart")
	}
	s.admin()
}

func TestDevCredentialsFromEnvironment(t *testing.T) {
	s := startServer(t, "", []string{"COFFER_ADMIN_PASSWORD=env-admin-pw", "COFFER_ROOT_ACCESS_KEY_ID=AKIAENVENVENVENVENV1",
		"COFFER_ROOT_SECRET_ACCESS_KEY=envsecretenvsecretenvsecretenvsecret0000"})
	c := s.creds()
	if c.AdminPassword != "env-admin-pw" || c.RootAccessKeyID != "AKIAENVENVENVENVENV1" {
		t.Fatalf("%+v", c)
	}
	s.client("admin", "admin", "env-admin-pw")
}

func TestNonLoopbackDevRefused(t *testing.T) {
	out, err := runCoffer("server", "--dev", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(out, "loopback") {
		t.Fatalf("dev on 0.0.0.0: %v %s", err, out)
	}
}

func runCoffer(args ...string) (string, error) { return runCmd(cofferBin, nil, args...) }

func TestSelfTestFailureRefusesService(t *testing.T) {
	s := startServer(t, "", nil, "--simulate-self-test-failure", "aes-gcm")
	h, code := s.health()
	if code != 503 || !strings.Contains(h.SelfTest, "AES-GCM") {
		t.Fatalf("health %d %+v", code, h)
	}
	c := &hsmapi.Client{Endpoint: s.url}
	err := c.Call(ctx, "login", map[string]string{"username": "admin", "role": "admin", "password": "whatever"}, nil)
	var ae *hsmapi.Error
	if !errors.As(err, &ae) || ae.Type != "SelfTestFailed" || ae.Status != 503 || !strings.Contains(ae.Message, "AES-GCM") {
		t.Fatalf("login on a failed node: %v", err)
	}
}

// keyLabels lists the labels of the crypto user's keys.
func keyLabels(t *testing.T, c *hsmapi.Client) []string {
	t.Helper()
	var kl hsm.KeyList
	if err := c.Call(ctx, "key/list", hsmapi.ListKeysRequest{Verbose: true}, &kl); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range kl.MatchedKeys {
		out = append(out, k.Attributes.Label)
	}
	return out
}

func createCryptoUser(t *testing.T, s *server, name string) *hsmapi.Client {
	t.Helper()
	if err := s.admin().Call(ctx, "user/create", hsmapi.UserRequest{Username: name, Role: "crypto-user", Password: name + "-pw-1"}, nil); err != nil {
		t.Fatal(err)
	}
	return s.client(name, "crypto-user", name+"-pw-1")
}

func TestRestartRestoresState(t *testing.T) {
	s := startServer(t, "", nil)
	cu := createCryptoUser(t, s, "alice")
	var kr map[string]hsm.KeyInfo
	if err := cu.Call(ctx, "key/generate-symmetric", hsmapi.GenerateSymmetricRequest{KeyType: "aes", KeyLengthBytes: 32, Label: "persisted", Attributes: []string{"encrypt=true", "decrypt=true"}}, &kr); err != nil {
		t.Fatal(err)
	}
	var enc hsmapi.CryptoResponse
	if err := cu.Call(ctx, "crypto/encrypt", hsmapi.CryptoRequest{Mechanism: "aes-gcm", Filter: []string{"attr.label=persisted"}, Data: []byte("survives restarts")}, &enc); err != nil {
		t.Fatal(err)
	}
	var before, after hsm.KeyList
	if err := cu.Call(ctx, "key/list", hsmapi.ListKeysRequest{Verbose: true}, &before); err != nil {
		t.Fatal(err)
	}
	s.stop() // Ctrl-C: clean shutdown, exit 0
	s.restart()
	cu = s.client("alice", "crypto-user", "alice-pw-1")
	if err := cu.Call(ctx, "key/list", hsmapi.ListKeysRequest{Verbose: true}, &after); err != nil {
		t.Fatal(err)
	}
	if b1, b2 := mustJSON(t, before), mustJSON(t, after); b1 != b2 {
		t.Fatalf("keys differ after restart:\n%v\n%v", before, after)
	}
	var dec hsmapi.CryptoResponse
	if err := cu.Call(ctx, "crypto/decrypt", hsmapi.CryptoRequest{Mechanism: "aes-gcm", Filter: []string{"attr.label=persisted"}, Data: enc.Ciphertext}, &dec); err != nil {
		t.Fatal(err)
	}
	if string(dec.Plaintext) != "survives restarts" {
		t.Fatalf("decrypt after restart: %q", dec.Plaintext)
	}
}

// TestKill9LosesNoAcknowledgedKey creates keys in a stream from several clients, kills the
// server with SIGKILL mid-stream and checks that every acknowledged key is there after a
// restart.
func TestKill9LosesNoAcknowledgedKey(t *testing.T) {
	s := startServer(t, "", nil)
	cu := createCryptoUser(t, s, "bob")
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				label := fmt.Sprintf("k-%d-%d", w, i)
				err := cu.Call(ctx, "key/generate-symmetric", hsmapi.GenerateSymmetricRequest{KeyType: "aes", KeyLengthBytes: 16, Label: label}, nil)
				if err != nil {
					return // the server died mid-request: not acknowledged
				}
				mu.Lock()
				acked[label] = true
				mu.Unlock()
			}
		}(w)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 60 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill9()
	close(stop)
	wg.Wait()
	if len(acked) < 20 {
		t.Fatalf("only %d keys acknowledged before the kill", len(acked))
	}
	s.restart()
	cu = s.client("bob", "crypto-user", "bob-pw-1")
	have := map[string]bool{}
	for _, l := range keyLabels(t, cu) {
		have[l] = true
	}
	for l := range acked {
		if !have[l] {
			t.Errorf("acknowledged key %s lost after kill -9", l)
		}
	}
	t.Logf("%d acknowledged, %d present after restart", len(acked), len(have))
}

// TestZeroizeWipesEverything: under the zeroize policy, three wrong admin passwords erase
// the domain key and every key object; the data dir keeps no trace of them.
func TestZeroizeWipesEverything(t *testing.T) {
	s := startServer(t, "", nil, "--login-failure-policy", "zeroize")
	cu := createCryptoUser(t, s, "carol")
	// A key with known plaintext, unwrapped into the HSM with a key we generate here.
	var kek map[string]hsm.KeyInfo
	if err := cu.Call(ctx, "key/generate-symmetric", hsmapi.GenerateSymmetricRequest{KeyType: "aes", KeyLengthBytes: 32, Label: "kek", Attributes: []string{"wrap=true", "unwrap=true"}}, &kek); err != nil {
		t.Fatal(err)
	}
	if err := cu.Call(ctx, "key/generate-asymmetric-pair", hsmapi.GenerateKeyPairRequest{KeyType: "ec", Curve: "secp256r1", PrivateLabel: "signer", PublicLabel: "signer-pub", PrivateAttributes: []string{"sign=true"}}, nil); err != nil {
		t.Fatal(err)
	}
	sealedDK, err := os.ReadFile(filepath.Join(s.dataDir, "domain-key.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.NewNodeKeySealer(filepath.Join(s.dataDir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	dk, err := seal.Load(filepath.Join(s.dataDir, "domain-key.sealed"), sealer)
	if err != nil {
		t.Fatal(err)
	}
	dkBytes := dk.Bytes()
	// The sealed material of the EC private key, as stored in the raft log.
	raftBefore := readDir(t, filepath.Join(s.dataDir, "raft"))
	if !bytes.Contains(raftBefore, []byte(`"material"`)) {
		t.Fatal("test is broken: no sealed material found in the raft files before zeroize")
	}

	c := &hsmapi.Client{Endpoint: s.url}
	for i := 1; i <= 3; i++ {
		err := c.Call(ctx, "login", map[string]string{"username": "admin", "role": "admin", "password": "wrong-password"}, nil)
		var ae *hsmapi.Error
		if !errors.As(err, &ae) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if i < 3 && (ae.Type != "LoginFailed" || !strings.Contains(ae.Message, fmt.Sprintf("%d of 3", i))) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if i == 3 && (ae.Type != "Zeroized" || !strings.Contains(ae.Message, "ZEROIZED")) {
			t.Fatalf("attempt 3: %v", err)
		}
	}
	waitFor(t, 20*time.Second, func() bool {
		h, _ := s.health()
		return h.ClusterState == hsm.StateUninitialized && h.Zeroizations == 1 && !h.Unsealed
	})
	// The crypto user's session and keys are gone.
	if err := cu.Call(ctx, "key/list", hsmapi.ListKeysRequest{}, nil); err == nil {
		t.Fatal("session survived zeroization")
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "domain-key.sealed")); !os.IsNotExist(err) {
		t.Fatalf("sealed domain key still on disk: %v", err)
	}
	// The audit trail survives a zeroization by design (it records it); it never held key
	// material, and is checked for that separately.
	trail := readDir(t, filepath.Join(s.dataDir, "audit"))
	if !bytes.Contains(trail, []byte(`"CN_ZEROIZE"`)) {
		t.Error("the zeroization is not in the audit trail")
	}
	all := readDirExcept(t, s.dataDir, "audit")
	for name, needle := range map[string][]byte{
		"domain key":               dkBytes,
		"domain key (base64)":      []byte(base64.StdEncoding.EncodeToString(dkBytes)[:40]),
		"sealed domain key file":   sealedDK,
		"sealed key material tags": []byte(`"material"`),
		"key label":                []byte("signer"),
	} {
		if bytes.Contains(all, needle) {
			t.Errorf("%s still in the data dir after zeroization", name)
		}
		if bytes.Contains(trail, needle) && name != "key label" {
			t.Errorf("%s in the audit trail", name)
		}
	}
	// After a restart the dev node initializes a brand-new cluster: the old keys stay gone.
	s.stop()
	s.restart()
	cu2 := s.admin()
	var users hsmapi.UserList
	if err := cu2.Call(ctx, "user/list", nil, &users); err != nil {
		t.Fatal(err)
	}
	if len(users.Users) != 1 {
		t.Fatalf("users after zeroize+restart: %+v", users)
	}
	dk2, err := seal.Load(filepath.Join(s.dataDir, "domain-key.sealed"), sealer)
	if err != nil {
		t.Fatal(err)
	}
	if dk2.ID() == dk.ID() {
		t.Fatal("the old domain key came back")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readDir(t *testing.T, dir string) []byte {
	t.Helper()
	return readDirExcept(t, dir, "")
}

// readDirExcept concatenates the files under dir, skipping the subdirectory named skip.
func readDirExcept(t *testing.T, dir, skip string) []byte {
	t.Helper()
	var all []byte
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			if skip != "" && p == filepath.Join(dir, skip) {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		all = append(all, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLockoutOverAPI(t *testing.T) {
	s := startServer(t, "", nil)
	createCryptoUser(t, s, "dan")
	c := &hsmapi.Client{Endpoint: s.url}
	for i := 1; i <= 5; i++ {
		err := c.Call(ctx, "login", map[string]string{"username": "dan", "role": "crypto-user", "password": "nope-nope"}, nil)
		var ae *hsmapi.Error
		if !errors.As(err, &ae) || ae.Type != "LoginFailed" || ae.Status != 401 {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	err := c.Call(ctx, "login", map[string]string{"username": "dan", "role": "crypto-user", "password": "dan-pw-1"}, nil)
	var ae *hsmapi.Error
	if !errors.As(err, &ae) || ae.Type != "UserLocked" || ae.Status != 403 {
		t.Fatalf("locked login: %v", err)
	}
	if h, _ := s.health(); h.ClusterState != hsm.StateActive {
		t.Fatal("lockout policy changed the cluster state")
	}
}

func TestNativeAPIErrors(t *testing.T) {
	s := startServer(t, "", nil)
	c := &hsmapi.Client{Endpoint: s.url}
	var ae *hsmapi.Error
	if err := c.Call(ctx, "user/list", nil, nil); !errors.As(err, &ae) || ae.Type != "NotLoggedIn" {
		t.Fatalf("unauthenticated: %v", err)
	}
	if err := c.Call(ctx, "no/such-command", nil, nil); !errors.As(err, &ae) || ae.Type != "UnknownCommand" {
		t.Fatalf("unknown: %v", err)
	}
	a := s.admin()
	if err := a.Call(ctx, "user/create", map[string]any{"username": "x", "rol": "admin"}, nil); !errors.As(err, &ae) || ae.Type != "ValidationError" || !strings.Contains(ae.Message, "rol") {
		t.Fatalf("misspelt field: %v", err)
	}
}

func TestUnknownSelfTestNameRefused(t *testing.T) {
	out, err := runCoffer("server", "--dev", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--simulate-self-test-failure", "no-such-test")
	if err == nil || !strings.Contains(out, "unknown self-test") {
		t.Fatalf("%v %s", err, out)
	}
}
