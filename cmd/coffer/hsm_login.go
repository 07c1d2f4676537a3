package main

import (
	"bufio"
	"context"
	stdcrypto "crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

type loginParams struct {
	username, role, password string
	totpCode                 string
	mfaPrivateKey            string // path of the token-sign MFA private key (PEM)
}

// doLogin logs in, answering an MFA challenge when the server asks for one.
func (r *hsmRun) doLogin(ctx context.Context, c *hsmapi.Client, p loginParams) (hsmapi.LoginResponse, error) {
	var resp hsmapi.LoginResponse
	req := hsm.LoginRequest{Username: p.username, Role: p.role, Password: p.password, TOTPCode: p.totpCode}
	if err := c.Call(ctx, "login", req, &resp); err != nil {
		return resp, err
	}
	if ch := resp.Challenge; ch != nil {
		next := hsm.LoginRequest{Username: p.username, Role: p.role, LoginID: ch.LoginID}
		switch ch.Strategy {
		case "token-sign":
			if p.mfaPrivateKey == "" {
				return resp, fmt.Errorf("user %s has token-sign MFA: pass --mfa-private-key <key.pem>, the private key whose public half was registered with 'user change-mfa token-sign'", p.username)
			}
			priv, err := loadRSAPrivateKey("mfa-private-key", p.mfaPrivateKey)
			if err != nil {
				return resp, err
			}
			if next.Signature, err = signSHA256(priv, ch.Challenge); err != nil {
				return resp, fmt.Errorf("signing the MFA challenge: %w", err)
			}
		case "totp":
			code := p.totpCode
			if code == "" {
				var err error
				if code, err = r.prompt("TOTP code: ", false); err != nil || code == "" {
					return resp, fmt.Errorf("user %s has TOTP MFA: pass --totp-code <code> from the authenticator app", p.username)
				}
			}
			next.TOTPCode = code
		default:
			return resp, fmt.Errorf("the server asks for MFA strategy %q, which this client does not know", ch.Strategy)
		}
		resp = hsmapi.LoginResponse{}
		if err := c.Call(ctx, "login", next, &resp); err != nil {
			return resp, err
		}
		if resp.Challenge != nil {
			return resp, errors.New("the server answered the MFA response with another challenge")
		}
	}
	if resp.Token == "" {
		return resp, errors.New("the server completed the login without a session token")
	}
	return resp, nil
}

// signSHA256 signs SHA-256 of msg with RSA PKCS#1 v1.5: the token-sign MFA response and the
// quorum approval signature (hsm.SignTokenPayload is the same operation).
func signSHA256(priv *rsa.PrivateKey, msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	return rsa.SignPKCS1v15(nil, priv, stdcrypto.SHA256, d[:])
}

// loadRSAPrivateKey reads an RSA private key in PKCS#1 or PKCS#8 PEM.
func loadRSAPrivateKey(flag, path string) (*rsa.PrivateKey, error) {
	b, err := readFileFlag(flag, path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("--%s: %s is not a PEM file", flag, path)
	}
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--%s: %s: %w", flag, path, err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--%s: %s: %w", flag, path, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("--%s: %s holds a %T, not an RSA private key", flag, path, k)
		}
		return rk, nil
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("--%s: %s is encrypted; decrypt it first (openssl pkey -in %s -out plain.pem)", flag, path, path)
	}
	return nil, fmt.Errorf("--%s: %s holds a PEM %q, not an RSA private key", flag, path, blk.Type)
}

// ---- prompting ----

// prompt reads a line from the terminal (without echo when secret) or, when input is not a
// terminal, from the command's input.
func (r *hsmRun) prompt(label string, secret bool) (string, error) {
	in := r.cmd.InOrStdin()
	var f *os.File
	if r.app.term != nil {
		f = r.app.term
	} else if tf, ok := in.(*os.File); ok && isTerminal(tf) {
		f = tf
	}
	if f != nil {
		fmt.Fprint(r.cmd.ErrOrStderr(), label)
		var line []byte
		var err error
		if secret {
			line, err = readNoEcho(int(f.Fd()))
			fmt.Fprintln(r.cmd.ErrOrStderr())
		}
		if !secret || errors.Is(err, errNoEchoUnsupported) {
			line, err = readLine(f)
		}
		return strings.TrimRight(string(line), "\r\n"), err
	}
	line, err := readLine(in)
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// readLine reads one line without reading ahead of it (unless in is already buffered).
func readLine(in io.Reader) ([]byte, error) {
	if br, ok := in.(*bufio.Reader); ok {
		s, err := br.ReadString('\n')
		return []byte(s), err
	}
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := in.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return line, nil
			}
			line = append(line, b[0])
		}
		if err != nil {
			return line, err
		}
	}
}

// password is the --password flag, else COFFER_PASSWORD (when env), else a prompt.
func (r *hsmRun) password(flag string, env bool) (string, error) {
	if changed(r.cmd, flag) {
		return r.cmd.Flags().GetString(flag)
	}
	if env {
		if pw := r.app.getenv(envPassword); pw != "" {
			return pw, nil
		}
	}
	pw, err := r.prompt("Password: ", true)
	if err != nil || pw == "" {
		hint := ""
		if env {
			hint = ", set " + envPassword
		}
		return "", fmt.Errorf("no password: pass --%s%s, or type it on standard input", flag, hint)
	}
	return pw, nil
}

// ---- login, logout ----

func (r *hsmRun) loginCmd() *cobra.Command {
	var p loginParams
	cmd := r.leaf("login", "Log in to the HSM and keep the session", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		if r.app.interactive && r.app.sess != nil {
			return nil, fmt.Errorf("already logged in as %s (%s); run 'logout' first", r.app.sess.Username, r.app.sess.Role)
		}
		var err error
		if p.password, err = r.password("password", true); err != nil {
			return nil, err
		}
		c := r.client("")
		lr, err := r.doLogin(ctx, c, p)
		if err != nil {
			return nil, err
		}
		s := &hsmSession{Endpoint: r.endpoint, Username: lr.Username, Role: lr.Role, Token: lr.Token, Created: time.Now().UTC()}
		if r.app.interactive {
			s.source = "interactive"
			r.app.sess = s
			return orderedMap{{"username", lr.Username}, {"role", lr.Role}}, nil
		}
		// Replace a previous session of this endpoint: end it on the server first.
		if old, _ := r.app.loadSessionFile(r.endpoint); old != nil {
			_ = r.client(old.Token).Call(ctx, "logout", nil, nil)
		}
		if _, err := r.app.saveSessionFile(s); err != nil {
			_ = r.client(lr.Token).Call(ctx, "logout", nil, nil)
			return nil, err
		}
		return orderedMap{{"username", lr.Username}, {"role", lr.Role}}, nil
	})
	cmd.Long = `Log in to the HSM. In single-command mode the session token is kept in a session file,
created 0600 in a 0700 directory: $COFFER_SESSION_FILE, else
$XDG_CONFIG_HOME/coffer/session-<hash of the endpoint>.json (~/.config when XDG_CONFIG_HOME is
unset). Later commands use it until 'coffer hsm logout'. In interactive mode the session is
kept in memory.

The password comes from --password, else COFFER_PASSWORD, else a prompt (without echo on a
terminal; otherwise one line of standard input).

Users with MFA: token-sign answers the server's challenge by signing it with
--mfa-private-key (RSA PKCS#1 v1.5, SHA-256); totp takes --totp-code (or prompts).`
	cmd.Example = `  coffer hsm login --username admin --role admin
  COFFER_PASSWORD=secret coffer hsm login --username alice --role crypto-user --mfa-private-key alice-mfa.pem`
	f := cmd.Flags()
	f.StringVar(&p.username, "username", "", "user name")
	f.StringVar(&p.role, "role", "", "role: admin, crypto-user or appliance")
	f.String("password", "", "password (default: COFFER_PASSWORD, else a prompt)")
	f.StringVar(&p.totpCode, "totp-code", "", "current TOTP code, for users with TOTP MFA")
	f.StringVar(&p.mfaPrivateKey, "mfa-private-key", "", "RSA private key PEM (PKCS#1 or PKCS#8) for token-sign MFA")
	required(cmd, "username", "role")
	return cmd
}

func (r *hsmRun) logoutCmd() *cobra.Command {
	cmd := r.leaf("logout", "End the session and delete the session file", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		if r.app.interactive {
			if r.app.sess == nil {
				return nil, errors.New("not logged in")
			}
			var raw rawJSON
			err := r.client(r.app.sess.Token).Call(ctx, "logout", nil, &raw)
			r.app.sess = nil
			if err != nil && !isAPIError(err, "NotLoggedIn") {
				return nil, err
			}
			return logoutData(raw, err), nil
		}
		s, err := r.app.loadSessionFile(r.endpoint)
		if err != nil {
			return nil, err
		}
		if s == nil {
			path, _ := r.app.sessionFilePath(r.endpoint)
			return nil, fmt.Errorf("not logged in to %s (no session file %s)", r.endpoint, path)
		}
		var raw rawJSON
		err = r.client(s.Token).Call(ctx, "logout", nil, &raw)
		if err != nil && !isAPIError(err, "NotLoggedIn") {
			return nil, fmt.Errorf("%w (the session file %s was kept)", err, s.path)
		}
		if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, fmt.Errorf("logged out, but deleting the session file failed: %w", rerr)
		}
		return logoutData(raw, err), nil
	})
	cmd.Long = "End the session on the server and delete the session file (in interactive mode: forget the in-memory session)."
	return cmd
}

func logoutData(raw rawJSON, err error) any {
	if err != nil {
		return hsmapi.Message{Message: "the session had already ended"}
	}
	return raw
}

func isAPIError(err error, typ string) bool {
	var ae *hsmapi.Error
	return errors.As(err, &ae) && ae.Type == typ
}

// ---- cluster ----

func (r *hsmRun) clusterCmd() *cobra.Command {
	info := r.leaf("info", "Show the cluster's state, login policy and node (no login needed)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		var raw rawJSON
		if err := r.client("").Call(ctx, "cluster/info", nil, &raw); err != nil {
			return nil, err
		}
		return raw, nil
	})

	activate := r.leaf("activate", "Set the admin password of an initialized cluster", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		pw, err := r.password("password", false)
		if err != nil {
			return nil, err
		}
		var raw rawJSON
		if err := r.client("").Call(ctx, "cluster/activate", hsmapi.ActivateRequest{Password: pw}, &raw); err != nil {
			return nil, err
		}
		return raw, nil
	})
	activate.Flags().String("password", "", "the new admin password (default: a prompt)")

	var initPol, setPol hsm.Policy // the policy flags of initialize and of set-policy
	// addPolicyFlags adds the policy flags, filling *pol; with keep (set-policy) a flag not
	// given keeps the cluster's current value, so the help states no default.
	addPolicyFlags := func(cmd *cobra.Command, pol *hsm.Policy, keep bool) {
		d, unset := hsm.DefaultPolicy(), ""
		if keep {
			d, unset = hsm.Policy{}, " (default: unchanged)"
		}
		f := cmd.Flags()
		f.StringVar(&pol.LoginFailurePolicy, "login-failure-policy", d.LoginFailurePolicy, "lockout (lock a user) or zeroize (erase the cluster after admin failures)"+unset)
		f.IntVar(&pol.LockoutThreshold, "lockout-threshold", d.LockoutThreshold, "consecutive failed logins that lock a user"+unset)
		f.IntVar(&pol.ZeroizeThreshold, "zeroize-threshold", d.ZeroizeThreshold, "consecutive failed admin logins that zeroize the cluster (zeroize policy)"+unset)
	}
	policyChanged := func(cmd *cobra.Command) bool {
		return changed(cmd, "login-failure-policy") || changed(cmd, "lockout-threshold") || changed(cmd, "zeroize-threshold")
	}

	initialize := r.leaf("initialize", "Initialize and activate a new cluster (--dev servers only)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		pw, err := r.password("admin-password", false)
		if err != nil {
			return nil, err
		}
		req := hsmapi.InitializeRequest{AdminPassword: pw}
		if policyChanged(r.cmd) {
			p := initPol
			req.Policy = &p
		}
		var raw rawJSON
		if err := r.client("").Call(ctx, "cluster/initialize", req, &raw); err != nil {
			return nil, err
		}
		return raw, nil
	})
	initialize.Long = `Initialize an uninitialized cluster and set the admin password in one step. Only --dev
servers allow it; production clusters are initialized through the CloudHSMv2 API and then
activated with 'cluster activate'.`
	initialize.Flags().String("admin-password", "", "password of the admin user (default: a prompt)")
	addPolicyFlags(initialize, &initPol, false)

	setPolicy := r.leaf("set-policy", "Change the login failure policy (admins)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		if !policyChanged(r.cmd) {
			return nil, usagef("set-policy: give at least one of --login-failure-policy, --lockout-threshold, --zeroize-threshold")
		}
		return r.withSession(ctx, func(c *hsmapi.Client) (any, error) {
			// Start from the current policy so that flags not given keep their values.
			var ci hsmapi.ClusterInfo
			if err := c.Call(ctx, "cluster/info", nil, &ci); err != nil {
				return nil, err
			}
			p := ci.HSM.LoginPolicy
			if changed(r.cmd, "login-failure-policy") {
				p.LoginFailurePolicy = setPol.LoginFailurePolicy
			}
			if changed(r.cmd, "lockout-threshold") {
				p.LockoutThreshold = setPol.LockoutThreshold
			}
			if changed(r.cmd, "zeroize-threshold") {
				p.ZeroizeThreshold = setPol.ZeroizeThreshold
			}
			var raw rawJSON
			if err := c.Call(ctx, "cluster/set-policy", hsmapi.SetPolicyRequest{Policy: p}, &raw); err != nil {
				return nil, err
			}
			return raw, nil
		})
	})
	setPolicy.Long = "Change the login failure policy. Flags not given keep their current values."
	addPolicyFlags(setPolicy, &setPol, true)

	return r.group("cluster", "Cluster state and login policy", info, activate, initialize, setPolicy)
}
