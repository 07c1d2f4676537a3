// Package e2e holds tests that build the real coffer binary, start it and talk to it with
// real clients: the coffer CLI, the native API client and (with the KMS issue) the AWS SDK
// and CLIs. Nothing of Coffer is mocked here.
package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

var cofferBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coffer-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cofferBin = filepath.Join(dir, "coffer")
	build := exec.Command("go", "build", "-o", cofferBin, "../cmd/coffer")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building coffer:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running coffer server process.
type server struct {
	t       *testing.T
	dataDir string
	args    []string
	env     []string
	cmd     *exec.Cmd
	url     string
	ca      string // the CA certificate clients trust, when not <data-dir>/tls/ca.pem
	mu      sync.Mutex
	stdout  strings.Builder
	stderr  strings.Builder
	exited  chan struct{}
}

var listenRE = regexp.MustCompile(`listening on (https?://[0-9.:]+)`)

// startServer starts `coffer server --dev` on a free loopback port with a fresh data dir
// (or dataDir if not empty) and waits until /health answers.
func startServer(t *testing.T, dataDir string, env []string, extra ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	s := &server{t: t, dataDir: dataDir, env: env,
		args: append([]string{"server", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"}, extra...)}
	t.Cleanup(s.kill) // first: a start that fails its test still ends the process
	s.start()
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(cofferBin, s.args...)
	s.cmd.Env = append(os.Environ(), s.env...)
	stdout, _ := s.cmd.StdoutPipe()
	stderr, _ := s.cmd.StderrPipe()
	s.stdout.Reset()
	s.stderr.Reset()
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	urlc := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stdout.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		b, _ := io.ReadAll(stderr)
		s.mu.Lock()
		s.stderr.Write(b)
		s.mu.Unlock()
	}()
	go func() {
		wg.Wait()
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.url = <-urlc:
	case <-s.exited:
		s.t.Fatalf("coffer server exited before serving:\nstdout:\n%s\nstderr:\n%s", s.out(), s.errOut())
	case <-time.After(30 * time.Second):
		s.t.Fatalf("coffer server did not start in 30 s:\n%s", s.errOut())
	}
	// "ready in seconds": /health must answer promptly.
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := s.httpClient().Get(s.url + "/health")
		if err == nil {
			res.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("/health did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caFile is the node's CA certificate when it serves HTTPS (a production
// node), else "".
func (s *server) caFile() string {
	if !strings.HasPrefix(s.url, "https://") {
		return ""
	}
	if s.ca != "" {
		return s.ca
	}
	return filepath.Join(s.dataDir, "tls", "ca.pem")
}

// transport is an HTTP transport that trusts the node's CA.
func (s *server) transport() *http.Transport {
	s.t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ca := s.caFile(); ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			s.t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			s.t.Fatalf("%s: no certificate", ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return tr
}

func (s *server) httpClient() *http.Client { return &http.Client{Transport: s.transport()} }

// environ is os.Environ() and what makes the AWS CLI and coffer trust the node's CA.
func (s *server) environ() []string {
	env := os.Environ()
	if ca := s.caFile(); ca != "" {
		env = append(env, "AWS_CA_BUNDLE="+ca, "COFFER_CA_CERT="+ca)
	}
	return env
}

func (s *server) out() string    { s.mu.Lock(); defer s.mu.Unlock(); return s.stdout.String() }
func (s *server) errOut() string { s.mu.Lock(); defer s.mu.Unlock(); return s.stderr.String() }

// stop sends SIGINT (Ctrl-C) and waits for a clean exit.
func (s *server) stop() {
	s.t.Helper()
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.t.Fatal("server did not stop on SIGINT")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Fatalf("server exited %d on SIGINT:\n%s", code, s.errOut())
	}
}

// kill9 kills the server with SIGKILL.
func (s *server) kill9() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
	default:
		s.kill9()
	}
}

// restart starts the server again after stop or kill9. Called while the previous process
// still runs, it ends that process (which would otherwise outlive the test, holding the
// data dir) and fails the test.
func (s *server) restart() {
	s.t.Helper()
	select {
	case <-s.exited:
	default:
		s.kill9()
		s.t.Fatal("restart while the server still runs: stop or kill9 it first")
	}
	s.start()
}

type health struct {
	Status       string `json:"status"`
	NodeID       string `json:"node_id"`
	ClusterState string `json:"cluster_state"`
	RaftRole     string `json:"raft_role"`
	SelfTest     string `json:"self_test"`
	Unsealed     bool   `json:"unsealed"`
	Zeroizations int    `json:"zeroizations"`
	Audit        string `json:"audit"`
}

func (s *server) health() (health, int) {
	s.t.Helper()
	res, err := s.httpClient().Get(s.url + "/health")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var h health
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		s.t.Fatal(err)
	}
	return h, res.StatusCode
}

type devCreds struct {
	AdminUsername       string `json:"admin_username"`
	AdminPassword       string `json:"admin_password"`
	RootAccessKeyID     string `json:"root_access_key_id"`
	RootSecretAccessKey string `json:"root_secret_access_key"`
}

func (s *server) creds() devCreds {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "dev-credentials"))
	if err != nil {
		s.t.Fatal(err)
	}
	var c devCreds
	if err := json.Unmarshal(b, &c); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// client returns a native API client logged in as the given user.
func (s *server) client(user, role, password string) *hsmapi.Client {
	s.t.Helper()
	c := &hsmapi.Client{Endpoint: s.url, Transport: s.transport()}
	var res hsmapi.LoginResponse
	if err := c.Call(context.Background(), "login", map[string]string{"username": user, "role": role, "password": password}, &res); err != nil {
		s.t.Fatalf("login %s: %v", user, err)
	}
	c.Token = res.Token
	return c
}

func (s *server) admin() *hsmapi.Client {
	return s.client("admin", "admin", s.creds().AdminPassword)
}

// cli runs `coffer hsm ...` against the server with its own session file.
type cli struct {
	t           *testing.T
	s           *server
	sessionFile string
}

func (s *server) cli() *cli {
	return &cli{t: s.t, s: s, sessionFile: filepath.Join(s.t.TempDir(), "session.json")}
}

// run runs a coffer hsm command and returns stdout, stderr and the exit code.
func (c *cli) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(cofferBin, append([]string{"hsm"}, args...)...)
	cmd.Env = append(c.s.environ(), "COFFER_ENDPOINT="+c.s.url, "COFFER_SESSION_FILE="+c.sessionFile)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = ctx
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed and decodes its JSON output's data into v (if not nil).
func (c *cli) ok(v any, args ...string) {
	c.t.Helper()
	out, errOut, code := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("coffer hsm %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	var env struct {
		ErrorCode int             `json:"error_code"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &env); err != nil {
		c.t.Fatalf("coffer hsm %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	if env.ErrorCode != 0 {
		c.t.Fatalf("coffer hsm %s: error_code %d: %s", strings.Join(args, " "), env.ErrorCode, out)
	}
	if v != nil {
		if err := json.Unmarshal(env.Data, v); err != nil {
			c.t.Fatalf("coffer hsm %s: data: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// fail runs a command that must fail and returns its error message.
func (c *cli) fail(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run("", args...)
	if code == 0 {
		c.t.Fatalf("coffer hsm %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	return out + errOut
}
