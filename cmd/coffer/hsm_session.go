package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

// hsmSession is a logged-in session: what the session file holds in single-command mode and
// what the REPL keeps in memory.
type hsmSession struct {
	Endpoint string    `json:"endpoint"`
	Username string    `json:"username"`
	Role     string    `json:"role"`
	Token    string    `json:"token"`
	Created  time.Time `json:"created"`

	source string // "file", "interactive" or "environment"; for messages
	path   string // the session file
}

func normalizeEndpoint(ep string) string { return strings.TrimRight(strings.TrimSpace(ep), "/") }

// sessionFilePath is COFFER_SESSION_FILE, else
// $XDG_CONFIG_HOME/coffer/session-<sha256(endpoint)[:16]>.json (~/.config when unset).
func (a *hsmApp) sessionFilePath(endpoint string) (string, error) {
	if p := a.getenv(envSessionFile); p != "" {
		return p, nil
	}
	dir := a.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := a.getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return "", fmt.Errorf("cannot place the session file: no $XDG_CONFIG_HOME or home directory; set %s", envSessionFile)
			}
		}
		dir = filepath.Join(home, ".config")
	}
	sum := sha256.Sum256([]byte(normalizeEndpoint(endpoint)))
	return filepath.Join(dir, "coffer", "session-"+hex.EncodeToString(sum[:8])+".json"), nil
}

// loadSessionFile reads the session file for endpoint; (nil, nil) when there is none.
func (a *hsmApp) loadSessionFile(endpoint string) (*hsmSession, error) {
	path, err := a.sessionFilePath(endpoint)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the session file: %w", err)
	}
	var s hsmSession
	if err := json.Unmarshal(b, &s); err != nil || s.Token == "" {
		return nil, fmt.Errorf("the session file %s is damaged; delete it and log in again", path)
	}
	if normalizeEndpoint(s.Endpoint) != normalizeEndpoint(endpoint) {
		return nil, fmt.Errorf("the session file %s is for %s, not %s; log out there, or use --endpoint %s", path, s.Endpoint, endpoint, s.Endpoint)
	}
	s.source, s.path = "file", path
	return &s, nil
}

// saveSessionFile writes the session file: 0600, in a 0700 directory, replaced atomically.
func (a *hsmApp) saveSessionFile(s *hsmSession) (string, error) {
	path, err := a.sessionFilePath(s.Endpoint)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating the session directory: %w", err)
	}
	if a.getenv(envSessionFile) == "" {
		// Our own directory: make sure nobody else can list it.
		if err := os.Chmod(dir, 0o700); err != nil {
			return "", fmt.Errorf("securing the session directory: %w", err)
		}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".session-*.tmp") // created 0600
	if err != nil {
		return "", fmt.Errorf("writing the session file: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(append(b, '\n'))
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o600)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("writing the session file %s: %w", path, werr)
	}
	return path, nil
}

// sessionClient returns a client with a session and a function to call when done (which
// logs out a one-shot environment session).
func (r *hsmRun) sessionClient(ctx context.Context) (*hsmapi.Client, func(), error) {
	noop := func() {}
	app := r.app
	if app.interactive {
		if app.sess == nil {
			return nil, nil, errors.New("not logged in: run 'login --username <name> --role <role>' first")
		}
		if normalizeEndpoint(app.sess.Endpoint) != normalizeEndpoint(r.endpoint) {
			return nil, nil, fmt.Errorf("this interactive session is logged in to %s, not %s", app.sess.Endpoint, r.endpoint)
		}
		app.sess.source = "interactive"
		return r.client(app.sess.Token), noop, nil
	}
	s, err := app.loadSessionFile(r.endpoint)
	if err != nil {
		return nil, nil, err
	}
	if s != nil {
		app.sess = s
		return r.client(s.Token), noop, nil
	}
	user, role, pw := app.getenv(envUsername), app.getenv(envRole), app.getenv(envPassword)
	if user == "" || role == "" || pw == "" {
		return nil, nil, fmt.Errorf("not logged in to %s: run 'coffer hsm login --username <name> --role <role>', or set %s, %s and %s for one command", r.endpoint, envUsername, envRole, envPassword)
	}
	c := r.client("")
	lr, err := r.doLogin(ctx, c, loginParams{username: user, role: role, password: pw})
	if err != nil {
		return nil, nil, fmt.Errorf("logging in as %s (%s) from %s/%s/%s: %w", user, role, envUsername, envRole, envPassword, err)
	}
	app.sess = &hsmSession{Endpoint: r.endpoint, Username: lr.Username, Role: lr.Role, Token: lr.Token, source: "environment"}
	c.Token = lr.Token
	done := func() {
		// A fresh context: the command's may be cancelled, and the session must end.
		lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Call(lctx, "logout", nil, nil)
		app.sess = nil
	}
	return c, done, nil
}

// sessionHint adds what to do when the server no longer knows the session.
func (r *hsmRun) sessionHint(err error) error {
	var ae *hsmapi.Error
	if !errors.As(err, &ae) || ae.Type != "NotLoggedIn" || r.app.sess == nil {
		return err
	}
	switch r.app.sess.source {
	case "file":
		return fmt.Errorf("%w (the session in %s has expired or ended: run 'coffer hsm logout' and log in again)", err, r.app.sess.path)
	case "interactive":
		return fmt.Errorf("%w (the session has expired or ended: run 'logout' and 'login' again)", err)
	}
	return err
}
