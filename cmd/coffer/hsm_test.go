package main

import (
	"bytes"
	stdcrypto "crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// ---- a fake native API server that records requests ----

type recordedReq struct {
	Path string
	Auth string
	Body map[string]any
}

type fakeAPI struct {
	mu   sync.Mutex
	reqs []recordedReq
	// answer returns the HTTP status and the whole response body for a command.
	answer func(cmd string, body map[string]any) (int, string)
}

func newFakeAPI(t *testing.T, answer func(cmd string, body map[string]any) (int, string)) (*fakeAPI, *httptest.Server) {
	t.Helper()
	f := &fakeAPI{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("request body of %s is not a JSON object: %q", r.URL.Path, raw)
		}
		cmd := strings.TrimPrefix(r.URL.Path, "/hsm/v1/")
		f.mu.Lock()
		f.reqs = append(f.reqs, recordedReq{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: body})
		f.mu.Unlock()
		status, resp := 200, `{"error_code":0,"data":{"message":"ok"}}`
		if f.answer != nil {
			status, resp = f.answer(cmd, body)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, resp)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAPI) requests() []recordedReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedReq(nil), f.reqs...)
}

func (f *fakeAPI) paths() []string {
	var p []string
	for _, r := range f.requests() {
		p = append(p, r.Path)
	}
	return p
}

func ok(data string) (int, string) { return 200, `{"error_code":0,"data":` + data + `}` }

// testApp is an app whose environment is env and whose session file is in a temp dir.
func testApp(t *testing.T, endpoint string, env map[string]string) *hsmApp {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if _, set := env[envSessionFile]; !set {
		env[envSessionFile] = filepath.Join(t.TempDir(), "sess", "session.json")
	}
	return &hsmApp{endpoint: endpoint, output: "json", getenv: func(k string) string { return env[k] }}
}

func runHSM(t *testing.T, app *hsmApp, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newHSMTree(app)
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.Execute()
	return out.String(), errb.String(), err
}

// loggedIn writes a session file for app's endpoint with token "tok".
func loggedIn(t *testing.T, app *hsmApp) {
	t.Helper()
	if _, err := app.saveSessionFile(&hsmSession{Endpoint: app.endpoint, Username: "alice", Role: "crypto-user", Token: "tok"}); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return m
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// ---- request building ----

func TestHSMRequests(t *testing.T) {
	dir := t.TempDir()
	wrapped := filepath.Join(dir, "wrapped.bin")
	if err := os.WriteFile(wrapped, []byte("WRAPPED"), 0o600); err != nil {
		t.Fatal(err)
	}
	approval := filepath.Join(dir, "approval.json")
	tf := hsm.TokenFile{Version: "1.0", TokenID: "abcd", Service: "user", Token: []byte("payload"),
		Signatures: []hsm.ApprovalSignature{{Username: "bob", Signature: []byte("sig")}}}
	b, _ := json.Marshal(tf)
	if err := os.WriteFile(approval, b, 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		args []string
		path string
		body map[string]any
	}{
		{
			name: "generate-symmetric",
			args: []string{"key", "generate-symmetric", "aes", "--label", "k1", "--key-length-bytes", "32",
				"--attributes", "sign=false", "--attributes", "encrypt=true,decrypt=true", "--session", "--use-key-quorum-value", "2"},
			path: "/hsm/v1/key/generate-symmetric",
			body: map[string]any{"key_type": "aes", "key_length_bytes": 32.0, "label": "k1", "session": true,
				"attributes": []any{"sign=false", "encrypt=true", "decrypt=true"}, "use_key_quorum_value": 2.0},
		},
		{
			name: "generate-asymmetric-pair ec",
			args: []string{"key", "generate-asymmetric-pair", "ec", "--curve", "secp256r1", "--public-label", "p", "--private-label", "q",
				"--private-attributes", "sign=true"},
			path: "/hsm/v1/key/generate-asymmetric-pair",
			body: map[string]any{"key_type": "ec", "curve": "secp256r1", "public_label": "p", "private_label": "q",
				"private_attributes": []any{"sign=true"}},
		},
		{
			name: "key list",
			args: []string{"key", "list", "--filter", "attr.label=a,b", "--filter", "attr.class=secret-key", "--max-items", "5", "--verbose"},
			path: "/hsm/v1/key/list",
			body: map[string]any{"filter": []any{"attr.label=a,b", "attr.class=secret-key"}, "max_items": 5.0, "verbose": true},
		},
		{
			name: "set-attribute with approval",
			args: []string{"key", "set-attribute", "--filter", "key-reference=0x1", "--name", "label", "--value", "new", "--approval", approval},
			path: "/hsm/v1/key/set-attribute",
			body: map[string]any{"filter": []any{"key-reference=0x1"}, "name": "label", "value": "new",
				"approval": map[string]any{"version": "1.0", "token_id": "abcd", "service": "user", "expires": "0001-01-01T00:00:00Z",
					"token": b64("payload"), "signatures": []any{map[string]any{"username": "bob", "signature": b64("sig")}}}},
		},
		{
			name: "user create",
			args: []string{"user", "create", "--username", "bob", "--role", "crypto-user", "--password", "password1"},
			path: "/hsm/v1/user/create",
			body: map[string]any{"username": "bob", "role": "crypto-user", "password": "password1"},
		},
		{
			name: "unwrap",
			args: []string{"key", "unwrap", "rsa-oaep", "--unwrapping-filter", "attr.label=w", "--data-path", wrapped,
				"--key-type-class", "ec-private", "--label", "u"},
			path: "/hsm/v1/key/unwrap",
			body: map[string]any{"mechanism": "rsa-oaep", "unwrapping_filter": []any{"attr.label=w"}, "hash_function": "sha256",
				"wrapped_key_data": b64("WRAPPED"), "key_type": "ec", "label": "u"},
		},
		{
			name: "wrap aes-gcm",
			args: []string{"key", "wrap", "aes-gcm", "--payload-filter", "attr.label=p", "--wrapping-filter", "attr.label=w", "--aad-hex", "0a0b"},
			path: "/hsm/v1/key/wrap",
			body: map[string]any{"mechanism": "aes-gcm", "payload_filter": []any{"attr.label=p"}, "wrapping_filter": []any{"attr.label=w"},
				"aad": base64.StdEncoding.EncodeToString([]byte{10, 11})},
		},
		{
			name: "sign",
			args: []string{"crypto", "sign", "rsa-pkcs-pss", "--key-filter", "attr.label=s", "--hash-function", "sha384", "--data", b64("hello")},
			path: "/hsm/v1/crypto/sign",
			body: map[string]any{"mechanism": "rsa-pkcs-pss", "hash_function": "sha384", "filter": []any{"attr.label=s"}, "data": b64("hello"), "data_type": "raw"},
		},
		{
			name: "mac verify",
			args: []string{"crypto", "mac", "verify", "hmac", "--key-filter", "attr.label=m", "--data", b64("x"), "--mac", b64("mac")},
			path: "/hsm/v1/crypto/mac-verify",
			body: map[string]any{"hash_function": "sha256", "filter": []any{"attr.label=m"}, "data": b64("x"), "mac": b64("mac")},
		},
		{
			name: "quorum delete all",
			args: []string{"quorum", "token-sign", "delete", "--scope", "all"},
			path: "/hsm/v1/quorum/delete",
			body: map[string]any{"all": true},
		},
		{
			name: "random",
			args: []string{"crypto", "random", "--length-bytes", "16"},
			path: "/hsm/v1/crypto/random",
			body: map[string]any{"length_bytes": 16.0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api, srv := newFakeAPI(t, nil)
			app := testApp(t, srv.URL, nil)
			loggedIn(t, app)
			stdout, _, err := runHSM(t, app, "", tc.args...)
			if err != nil {
				t.Fatalf("error: %v\n%s", err, stdout)
			}
			reqs := api.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests: %v", api.paths())
			}
			if reqs[0].Path != tc.path || reqs[0].Auth != "Bearer tok" {
				t.Errorf("request %s auth %q", reqs[0].Path, reqs[0].Auth)
			}
			if !reflect.DeepEqual(reqs[0].Body, tc.body) {
				t.Errorf("body:\n got %v\nwant %v", reqs[0].Body, tc.body)
			}
			if m := mustJSON(t, stdout); m["error_code"] != 0.0 || m["data"] == nil {
				t.Errorf("output: %s", stdout)
			}
		})
	}
}

func TestHSMSetPolicyKeepsUnchangedValues(t *testing.T) {
	api, srv := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		if cmd == "cluster/info" {
			return ok(`{"node_id":"n1","hsm":{"state":"ACTIVE","login_policy":{"login_failure_policy":"lockout","lockout_threshold":5,"zeroize_threshold":3}}}`)
		}
		return ok(`{}`)
	})
	app := testApp(t, srv.URL, nil)
	loggedIn(t, app)
	if out, _, err := runHSM(t, app, "", "cluster", "set-policy", "--lockout-threshold", "9"); err != nil {
		t.Fatal(err, out)
	}
	reqs := api.requests()
	want := map[string]any{"login_failure_policy": "lockout", "lockout_threshold": 9.0, "zeroize_threshold": 3.0}
	if len(reqs) != 2 || !reflect.DeepEqual(reqs[1].Body, want) {
		t.Fatalf("requests %v, body %v", api.paths(), reqs)
	}
}

// TestHSMSetPolicyHelpStatesNoDefault: set-policy keeps the values of the flags not given, so
// its help must not claim defaults (5, 3, "lockout") it would not apply; initialize does apply
// them, and its flags (a separate policy) still start from them.
func TestHSMSetPolicyHelpStatesNoDefault(t *testing.T) {
	app := testApp(t, "http://127.0.0.1:1", nil)
	out, _, err := runHSM(t, app, "", "cluster", "set-policy", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"--login-failure-policy", "--lockout-threshold", "--zeroize-threshold"} {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, f+" ") {
				line = l
			}
		}
		if !strings.HasSuffix(line, "(default: unchanged)") {
			t.Errorf("set-policy help for %s: %q, want it to end in (default: unchanged)", f, line)
		}
	}

	api, srv := newFakeAPI(t, func(string, map[string]any) (int, string) { return ok(`{}`) })
	app = testApp(t, srv.URL, nil)
	if out, _, err := runHSM(t, app, "", "cluster", "initialize", "--admin-password", "pw-123456", "--lockout-threshold", "7"); err != nil {
		t.Fatal(err, out)
	}
	reqs := api.requests()
	d := hsm.DefaultPolicy()
	want := map[string]any{"login_failure_policy": d.LoginFailurePolicy, "lockout_threshold": 7.0, "zeroize_threshold": float64(d.ZeroizeThreshold)}
	if len(reqs) != 1 || !reflect.DeepEqual(reqs[0].Body["policy"], want) {
		t.Fatalf("initialize sent %v, want policy %v", reqs, want)
	}
}

// ---- sessions ----

func TestHSMLoginSessionFile(t *testing.T) {
	api, srv := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		switch cmd {
		case "login":
			return ok(`{"username":"admin","role":"admin","token":"secret-token"}`)
		case "logout":
			return ok(`{"message":"logged out"}`)
		}
		return ok(`{"users":[]}`)
	})
	cfg := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": cfg, envSessionFile: ""}
	app := testApp(t, srv.URL, env)

	stdout, _, err := runHSM(t, app, "", "login", "--username", "admin", "--role", "admin", "--password", "password1")
	if err != nil {
		t.Fatal(err, stdout)
	}
	if strings.Contains(stdout, "secret-token") {
		t.Errorf("login printed the session token: %s", stdout)
	}
	m := mustJSON(t, stdout)
	if d, _ := m["data"].(map[string]any); d["username"] != "admin" || d["role"] != "admin" {
		t.Errorf("login output: %s", stdout)
	}
	path, err := app.sessionFilePath(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(path, filepath.Join(cfg, "coffer", "session-")) {
		t.Errorf("session file %s", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("session file mode %v", fi.Mode())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("session dir mode %v", di.Mode())
	}
	// A trailing slash names the same endpoint.
	if p2, _ := app.sessionFilePath(srv.URL + "/"); p2 != path {
		t.Errorf("endpoint normalization: %s vs %s", p2, path)
	}

	if _, _, err := runHSM(t, app, "", "user", "list"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runHSM(t, app, "", "logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("session file not deleted: %v", err)
	}
	reqs := api.requests()
	if got := api.paths(); !reflect.DeepEqual(got, []string{"/hsm/v1/login", "/hsm/v1/user/list", "/hsm/v1/logout"}) {
		t.Fatalf("paths %v", got)
	}
	if reqs[0].Body["password"] != "password1" || reqs[1].Auth != "Bearer secret-token" || reqs[2].Auth != "Bearer secret-token" {
		t.Errorf("requests %+v", reqs)
	}

	// Logged out: commands say so.
	stdout, _, err = runHSM(t, app, "", "user", "list")
	if err == nil || !strings.Contains(stdout, "not logged in") {
		t.Errorf("after logout: %v %s", err, stdout)
	}
}

func TestHSMPasswordFromStdinAndEnv(t *testing.T) {
	api, srv := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		return ok(`{"username":"admin","role":"admin","token":"t"}`)
	})
	app := testApp(t, srv.URL, nil)
	if _, _, err := runHSM(t, app, "from-stdin\n", "login", "--username", "admin", "--role", "admin"); err != nil {
		t.Fatal(err)
	}
	app2 := testApp(t, srv.URL, map[string]string{envPassword: "from-env"})
	if _, _, err := runHSM(t, app2, "", "login", "--username", "admin", "--role", "admin"); err != nil {
		t.Fatal(err)
	}
	reqs := api.requests()
	if reqs[0].Body["password"] != "from-stdin" || reqs[1].Body["password"] != "from-env" {
		t.Errorf("passwords: %v / %v", reqs[0].Body["password"], reqs[1].Body["password"])
	}
}

func TestHSMOneShotEnvironmentLogin(t *testing.T) {
	api, srv := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		if cmd == "login" {
			return ok(`{"username":"admin","role":"admin","token":"one-shot"}`)
		}
		return ok(`{"users":[]}`)
	})
	app := testApp(t, srv.URL, map[string]string{envUsername: "admin", envRole: "admin", envPassword: "password1"})
	if out, _, err := runHSM(t, app, "", "user", "list"); err != nil {
		t.Fatal(err, out)
	}
	if got := api.paths(); !reflect.DeepEqual(got, []string{"/hsm/v1/login", "/hsm/v1/user/list", "/hsm/v1/logout"}) {
		t.Fatalf("paths %v", got)
	}
	reqs := api.requests()
	if reqs[1].Auth != "Bearer one-shot" || reqs[2].Auth != "Bearer one-shot" {
		t.Errorf("auth %q %q", reqs[1].Auth, reqs[2].Auth)
	}
	if _, err := os.Stat(app.getenv(envSessionFile)); !os.IsNotExist(err) {
		t.Errorf("one-shot login wrote a session file")
	}
}

func writeRSAKey(t *testing.T, path string, pkcs8 bool) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	blk := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	if pkcs8 {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		blk = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHSMLoginTokenSignMFA(t *testing.T) {
	keyPath := filepath.Join(t.TempDir(), "mfa.pem")
	key := writeRSAKey(t, keyPath, false)
	challenge := []byte("challenge-bytes")
	_, srv := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		if body["login_id"] == nil {
			return ok(`{"username":"alice","role":"crypto-user","challenge":{"strategy":"token-sign","login_id":"L1","challenge":"` + base64.StdEncoding.EncodeToString(challenge) + `"}}`)
		}
		sig, _ := base64.StdEncoding.DecodeString(body["signature"].(string))
		d := sha256.Sum256(challenge)
		if body["login_id"] != "L1" || rsa.VerifyPKCS1v15(&key.PublicKey, stdcrypto.SHA256, d[:], sig) != nil {
			return 401, `{"error_code":1,"error_type":"LoginFailed","data":"hsm: login failed"}`
		}
		return ok(`{"username":"alice","role":"crypto-user","token":"mfa-token"}`)
	})
	app := testApp(t, srv.URL, nil)
	out, _, err := runHSM(t, app, "", "login", "--username", "alice", "--role", "crypto-user", "--password", "password1", "--mfa-private-key", keyPath)
	if err != nil {
		t.Fatal(err, out)
	}
	s, err := app.loadSessionFile(srv.URL)
	if err != nil || s == nil || s.Token != "mfa-token" {
		t.Fatalf("session %+v %v", s, err)
	}

	// Without the key the error says what to pass.
	app2 := testApp(t, srv.URL, nil)
	out, _, err = runHSM(t, app2, "", "login", "--username", "alice", "--role", "crypto-user", "--password", "password1")
	if err == nil || !strings.Contains(out, "--mfa-private-key") {
		t.Errorf("no key: %v %s", err, out)
	}
}

// ---- quorum approvals ----

func TestHSMQuorumTokenSignRoundTrip(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "quorum.pem")
	key := writeRSAKey(t, keyPath, true)
	tokenPath := filepath.Join(dir, "token.json")
	tf := &hsm.TokenFile{Version: "1.0", TokenID: "t1", Service: "user", Expires: time.Now().Add(time.Minute).UTC().Truncate(time.Second),
		Token: []byte("coffer-quorum-token-v1\nid=t1\n"), Signatures: []hsm.ApprovalSignature{{Username: "carol", Signature: []byte("x")}}}
	if err := writeTokenFile("token", tokenPath, tf); err != nil {
		t.Fatal(err)
	}
	app := testApp(t, "http://127.0.0.1:1", nil) // no server needed
	for range 2 {                                // signing twice replaces the signature
		if out, _, err := runHSM(t, app, "", "quorum", "token-sign", "sign", "--token", tokenPath, "--username", "Bob", "--private-key", keyPath); err != nil {
			t.Fatal(err, out)
		}
	}
	got, err := readTokenFile("token", tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Signatures) != 2 || got.Signatures[1].Username != "bob" || got.TokenID != "t1" || !got.Expires.Equal(tf.Expires) {
		t.Fatalf("token file %+v", got)
	}
	d := sha256.Sum256(tf.Token)
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, stdcrypto.SHA256, d[:], got.Signatures[1].Signature); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	if fi, _ := os.Stat(tokenPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode())
	}
}

func TestHSMQuorumGenerateWritesTokenFile(t *testing.T) {
	_, srv := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		return ok(`{"version":"1.0","token_id":"t9","service":"key-usage","key-reference":"0x0000000000000003","expires":"2030-01-01T00:00:00Z","token":"` + b64("p") + `","signatures":[]}`)
	})
	app := testApp(t, srv.URL, nil)
	loggedIn(t, app)
	path := filepath.Join(t.TempDir(), "tok.json")
	out, _, err := runHSM(t, app, "", "quorum", "token-sign", "generate", "--service", "key-usage", "--key-reference", "0x3", "--token", path)
	if err != nil {
		t.Fatal(err, out)
	}
	tf, err := readTokenFile("token", path)
	if err != nil || tf.TokenID != "t9" || string(tf.Token) != "p" || tf.KeyRef != "0x0000000000000003" {
		t.Fatalf("token file %+v %v", tf, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
}

// ---- errors and output ----

func TestHSMErrorOutput(t *testing.T) {
	_, srv := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		return 404, `{"error_code":1,"error_type":"NotFound","data":"hsm: no key matches the filter"}`
	})
	app := testApp(t, srv.URL, nil)
	loggedIn(t, app)

	stdout, stderr, err := runHSM(t, app, "", "key", "delete", "--filter", "attr.label=x")
	m := mustJSON(t, stdout)
	if m["error_code"] != 1.0 || m["data"] != "hsm: no key matches the filter" || len(m) != 2 || stderr != "" {
		t.Errorf("json error output: %q %q", stdout, stderr)
	}
	if exitCode(err) != 1 || !isReported(err) {
		t.Errorf("json error: code %d reported %v", exitCode(err), isReported(err))
	}

	stdout, _, err = runHSM(t, app, "", "--output", "table", "key", "delete", "--filter", "attr.label=x")
	if stdout != "" || err == nil || exitCode(err) != 1 || isReported(err) || err.Error() != "hsm: no key matches the filter" {
		t.Errorf("table error: %q %v", stdout, err)
	}
}

func TestHSMUsageErrors(t *testing.T) {
	app := testApp(t, "http://127.0.0.1:1", nil)
	for _, args := range [][]string{
		{"user", "create", "--role", "admin"}, // missing --username
		{"key", "list", "--no-such-flag"},     // unknown flag
		{"key", "list", "extra"},              // positional argument
		{"bogus"},                             // unknown command
		{"--output", "yaml", "crypto", "random", "--length-bytes", "1"}, // bad --output
		{"crypto", "sign", "ecdsa", "--key-filter", "attr.label=x"},     // no --data
	} {
		stdout, _, err := runHSM(t, app, "", args...)
		if exitCode(err) != 2 {
			t.Errorf("%v: exit code %d (%v)", args, exitCode(err), err)
			continue
		}
		if m := mustJSON(t, stdout); m["error_code"] != 1.0 || m["data"] == "" {
			t.Errorf("%v: output %s", args, stdout)
		}
	}
	_, _, err := runHSM(t, app, "", "user", "create", "--role", "admin")
	if err == nil || !strings.Contains(err.Error(), "--username") {
		t.Errorf("missing flag not named: %v", err)
	}
}

func TestHSMTableOutput(t *testing.T) {
	_, srv := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		if cmd == "user/list" {
			return ok(`{"users":[{"username":"admin","role":"admin","locked":"false","mfa":[],"quorum":[],"cluster-coverage":"full","failed-logins":0,"activated":true}]}`)
		}
		return ok(`{"key-reference":"0x0000000000000007","signature":"c2ln"}`)
	})
	app := testApp(t, srv.URL, nil)
	loggedIn(t, app)
	out, _, err := runHSM(t, app, "", "--output", "table", "user", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "USERNAME") || !strings.HasPrefix(lines[1], "admin ") {
		t.Errorf("user table:\n%s", out)
	}
	out, _, err = runHSM(t, app, "", "--output", "table", "crypto", "sign", "ed25519", "--key-filter", "attr.label=k", "--data", b64("m"))
	if err != nil {
		t.Fatal(err)
	}
	if out != "key-reference: 0x0000000000000007\nsignature: c2ln\n" {
		t.Errorf("key: value output:\n%s", out)
	}
}

// ---- interactive mode ----

func TestSplitCommandLine(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{`user list`, []string{"user", "list"}, false},
		{`  key   list  `, []string{"key", "list"}, false},
		{`key list --filter attr.label='my key'`, []string{"key", "list", "--filter", "attr.label=my key"}, false},
		{`login --password "p a\"s\\s"`, []string{"login", "--password", `p a"s\s`}, false},
		{`a 'it''s' "" b\ c`, []string{"a", "its", "", "b c"}, false},
		{`x 'no "escape\" here'`, []string{"x", `no "escape\" here`}, false},
		{`x "a\nb"`, []string{"x", `a\nb`}, false},
		{`x 'open`, nil, true},
		{`x "open`, nil, true},
	}
	for _, tc := range cases {
		got, err := splitCommandLine(tc.in)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestHSMInteractive(t *testing.T) {
	api, srv := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		switch cmd {
		case "login":
			return ok(`{"username":"admin","role":"admin","token":"repl-token"}`)
		case "user/list":
			return ok(`{"users":[]}`)
		}
		return ok(`{"message":"logged out"}`)
	})
	app := testApp(t, srv.URL, nil)
	script := "# a comment\n\nlogin --username admin --role admin --password 'pass word'\nuser list\nbogus\nlogin --username x --role admin --password y\nexit\nuser list\n"
	stdout, _, err := runHSM(t, app, script, "interactive")
	if err != nil {
		t.Fatal(err, stdout)
	}
	if got := api.paths(); !reflect.DeepEqual(got, []string{"/hsm/v1/login", "/hsm/v1/user/list", "/hsm/v1/logout"}) {
		t.Fatalf("paths %v\n%s", got, stdout)
	}
	reqs := api.requests()
	if reqs[0].Body["password"] != "pass word" || reqs[1].Auth != "Bearer repl-token" || reqs[2].Auth != "Bearer repl-token" {
		t.Errorf("requests %+v", reqs)
	}
	if !strings.HasPrefix(stdout, replPrompt) || !strings.Contains(stdout, `unknown command \"bogus\"`) || !strings.Contains(stdout, "already logged in") {
		t.Errorf("output:\n%s", stdout)
	}
	if _, err := os.Stat(app.getenv(envSessionFile)); !os.IsNotExist(err) {
		t.Errorf("interactive login wrote a session file")
	}

	// Password prompts read the next input line; EOF ends the session (and logs out).
	api2, srv2 := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		return ok(`{"username":"admin","role":"admin","token":"t2"}`)
	})
	app2 := testApp(t, srv2.URL, nil)
	if _, _, err := runHSM(t, app2, "--output table login --username admin --role admin\nsecret-pw\n", "interactive"); err != nil {
		t.Fatal(err)
	}
	reqs = api2.requests()
	if len(reqs) != 2 || reqs[0].Body["password"] != "secret-pw" || reqs[1].Path != "/hsm/v1/logout" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestHSMNotLoggedInHint(t *testing.T) {
	_, srv := newFakeAPI(t, func(cmd string, body map[string]any) (int, string) {
		return 401, `{"error_code":1,"error_type":"NotLoggedIn","data":"hsm: not logged in"}`
	})
	app := testApp(t, srv.URL, nil)
	loggedIn(t, app)
	_, _, err := runHSM(t, app, "", "--output", "table", "user", "list")
	if err == nil || !strings.Contains(err.Error(), "coffer hsm logout") {
		t.Errorf("hint: %v", err)
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Errorf("exit error %v", err)
	}
}
