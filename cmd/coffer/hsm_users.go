package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

// ---- approvals (quorum token files) ----

func addApprovalFlag(cmd *cobra.Command) {
	cmd.Flags().String("approval", "", "quorum token file with the approvers' signatures (from 'quorum token-sign generate')")
}

// approval reads the --approval token file, or returns nil when the flag is absent.
func (r *hsmRun) approval() (*hsm.TokenFile, error) {
	if !changed(r.cmd, "approval") {
		return nil, nil
	}
	path, _ := r.cmd.Flags().GetString("approval")
	return readTokenFile("approval", path)
}

func readTokenFile(flag, path string) (*hsm.TokenFile, error) {
	b, err := readFileFlag(flag, path)
	if err != nil {
		return nil, err
	}
	var tf hsm.TokenFile
	if err := json.Unmarshal(b, &tf); err != nil {
		return nil, fmt.Errorf("--%s: %s is not a quorum token file: %w", flag, path, err)
	}
	if tf.TokenID == "" || len(tf.Token) == 0 {
		return nil, fmt.Errorf("--%s: %s is not a quorum token file (no token_id or token)", flag, path)
	}
	return &tf, nil
}

// writePrivateFile writes data to path with mode 0600 (also when the file existed).
func writePrivateFile(flag, path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("--%s: %w", flag, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("--%s: %w", flag, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	return nil
}

func writeTokenFile(flag, path string, tf *hsm.TokenFile) error {
	b, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return err
	}
	return writePrivateFile(flag, path, append(b, '\n'))
}

// ---- user ----

func (r *hsmRun) userCmd() *cobra.Command {
	list := r.leaf("list", "List the HSM's users", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		return r.call(ctx, "user/list", nil)
	})

	var u hsmapi.UserRequest
	userFlags := func(cmd *cobra.Command, approval bool) {
		cmd.Flags().StringVar(&u.Username, "username", "", "user name")
		cmd.Flags().StringVar(&u.Role, "role", "", "role: admin, crypto-user or appliance")
		required(cmd, "username", "role")
		if approval {
			addApprovalFlag(cmd)
		}
	}
	send := func(ctx context.Context, command string) (any, error) {
		var err error
		if u.Approval, err = r.approval(); err != nil {
			return nil, err
		}
		return r.call(ctx, command, u)
	}

	create := r.leaf("create", "Create a user (admins)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		var err error
		if u.Password, err = r.password("password", false); err != nil {
			return nil, err
		}
		return send(ctx, "user/create")
	})
	userFlags(create, true)
	create.Flags().String("password", "", "the new user's password (default: a prompt)")

	del := r.leaf("delete", "Delete a user (admins)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		return send(ctx, "user/delete")
	})
	userFlags(del, true)

	chpw := r.leaf("change-password", "Change a user's password (admins, or users their own)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		var err error
		if u.Password, err = r.password("password", false); err != nil {
			return nil, err
		}
		return send(ctx, "user/change-password")
	})
	userFlags(chpw, true)
	chpw.Flags().String("password", "", "the new password (default: a prompt)")

	var disable bool
	var pubPath string
	mfaTokenSign := r.leaf("token-sign", "Require token-sign MFA (an RSA key pair) at login", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		switch {
		case disable && pubPath != "":
			return nil, usagef("give --public-key or --disable, not both")
		case disable:
			u.Strategy = ""
		case pubPath == "":
			return nil, usagef("give --public-key <pub.pem> to enable token-sign MFA, or --disable")
		default:
			b, err := readFileFlag("public-key", pubPath)
			if err != nil {
				return nil, err
			}
			u.Strategy, u.PublicKey = "token-sign", string(b)
		}
		return send(ctx, "user/change-mfa")
	})
	mfaTokenSign.Long = `Register an RSA public key (PEM) as the user's second factor: at login the user signs the
server's challenge with the private key (coffer hsm login --mfa-private-key key.pem).
--disable turns MFA off.`
	userFlags(mfaTokenSign, true)
	mfaTokenSign.Flags().StringVar(&pubPath, "public-key", "", "RSA public key PEM file (2048 bits or more)")
	mfaTokenSign.Flags().BoolVar(&disable, "disable", false, "turn MFA off")

	mfaTOTP := r.leaf("totp", "Require TOTP MFA at login; prints the secret once", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		u.Strategy = "totp"
		if disable {
			u.Strategy = ""
		}
		return send(ctx, "user/change-mfa")
	})
	mfaTOTP.Long = `Enable TOTP (RFC 6238) as the user's second factor. The answer holds the secret and an
otpauth:// URI for an authenticator app; they are shown only this once. --disable turns MFA off.`
	userFlags(mfaTOTP, true)
	mfaTOTP.Flags().BoolVar(&disable, "disable", false, "turn MFA off")

	register := r.leaf("register", "Register your RSA public key for signing quorum approvals", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		b, err := readFileFlag("public-key", pubPath)
		if err != nil {
			return nil, err
		}
		req := hsmapi.UserRequest{Strategy: "token-sign", PublicKey: string(b)}
		if r.app.sess != nil {
			req.Username = r.app.sess.Username
		}
		return r.call(ctx, "user/change-quorum", req)
	})
	register.Long = `Register the logged-in user's RSA public key (PEM). Approvers sign quorum tokens with the
private half ('quorum token-sign sign').`
	register.Flags().StringVar(&pubPath, "public-key", "", "RSA public key PEM file")
	required(register, "public-key")

	return r.group("user", "Manage HSM users", list, create, del, chpw,
		r.group("change-mfa", "Change a user's multi-factor authentication", mfaTokenSign, mfaTOTP),
		r.group("change-quorum", "Change the logged-in user's quorum authentication",
			r.group("token-sign", "Token-sign quorum authentication", register)),
	)
}

// ---- quorum ----

func (r *hsmRun) quorumCmd() *cobra.Command {
	var q hsmapi.QuorumRequest
	var tokenPath string

	generate := r.leaf("generate", "Create a quorum token for approvers to sign", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		out, err := r.withSession(ctx, func(c *hsmapi.Client) (any, error) {
			var tf hsm.TokenFile
			if err := c.Call(ctx, "quorum/generate", q, &tf); err != nil {
				return nil, err
			}
			return &tf, nil
		})
		if err != nil {
			return nil, err
		}
		tf := out.(*hsm.TokenFile)
		if err := writeTokenFile("token", tokenPath, tf); err != nil {
			return nil, fmt.Errorf("the token %s was created but not saved: %w", tf.TokenID, err)
		}
		res := orderedMap{{"path", tokenPath}, {"token_id", tf.TokenID}, {"service", tf.Service}}
		if tf.KeyRef != "" {
			res = append(res, kv{"key-reference", tf.KeyRef})
		}
		return append(res, kv{"expires", tf.Expires}), nil
	})
	generate.Long = `Create a quorum token and write it (0600) to --token. Each approver signs it
('quorum token-sign sign', or openssl as below) and the requester passes the file with
--approval. Tokens expire after 10 minutes.`
	generate.Flags().StringVar(&q.Service, "service", "", "user, quorum (admins), key-management or key-usage (crypto users)")
	generate.Flags().StringVar(&q.KeyRef, "key-reference", "", "the key, for key-management and key-usage (e.g. 0x0000000000000003)")
	generate.Flags().StringVar(&tokenPath, "token", "", "file to write the token to")
	required(generate, "service", "token")

	list := r.leaf("list", "List pending quorum tokens", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		return r.call(ctx, "quorum/list", nil)
	})

	var scope string
	del := r.leaf("delete", "Delete pending quorum tokens", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		switch scope {
		case "user":
		case "all":
			q.All = true
		default:
			return nil, usagef("--scope must be user or all, got %q", scope)
		}
		return r.call(ctx, "quorum/delete", q)
	})
	del.Flags().StringVar(&scope, "scope", "user", "user (your tokens) or all (admins: every token)")

	setValue := r.leaf("set-quorum-value", "Set how many approvals the user service needs (admins)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		var err error
		if q.Approval, err = r.approval(); err != nil {
			return nil, err
		}
		return r.call(ctx, "quorum/set-quorum-value", q)
	})
	setValue.Flags().StringVar(&q.Service, "service", "", "the service: user")
	setValue.Flags().IntVar(&q.Value, "value", 0, "approvals required, 1 to 8")
	addApprovalFlag(setValue)
	required(setValue, "service", "value")

	var username, keyPath string
	sign := r.leaf("sign", "Approve a quorum token: sign it with your quorum private key (offline)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		tf, err := readTokenFile("token", tokenPath)
		if err != nil {
			return nil, err
		}
		priv, err := loadRSAPrivateKey("private-key", keyPath)
		if err != nil {
			return nil, err
		}
		sig, err := hsm.SignTokenPayload(priv, tf.Token)
		if err != nil {
			return nil, fmt.Errorf("signing the token: %w", err)
		}
		name := strings.ToLower(strings.TrimSpace(username))
		kept := tf.Signatures[:0]
		for _, s := range tf.Signatures {
			if strings.ToLower(s.Username) != name {
				kept = append(kept, s)
			}
		}
		tf.Signatures = append(kept, hsm.ApprovalSignature{Username: name, Signature: sig})
		if err := writeTokenFile("token", tokenPath, tf); err != nil {
			return nil, err
		}
		return orderedMap{{"path", tokenPath}, {"token_id", tf.TokenID}, {"username", name}, {"signatures", len(tf.Signatures)}}, nil
	})
	sign.Long = `Sign a token file as an approver, on your own machine: no login and no server needed. It
signs the token (RSA PKCS#1 v1.5, SHA-256) with the private key whose public half you
registered ('user change-quorum token-sign register') and adds {username, signature} to the
file's signatures, replacing an earlier signature of the same user.

Without this command, with openssl and jq:
  openssl dgst -sha256 -sign key.pem -out sig.bin <(jq -r .token token.json | base64 -d)
  jq --arg u alice --arg s "$(base64 -w0 sig.bin)" '.signatures += [{username: $u, signature: $s}]' \
    token.json > token.signed.json`
	sign.Flags().StringVar(&tokenPath, "token", "", "the token file, updated in place")
	sign.Flags().StringVar(&username, "username", "", "your user name")
	sign.Flags().StringVar(&keyPath, "private-key", "", "your quorum RSA private key PEM (PKCS#1 or PKCS#8)")
	required(sign, "token", "username", "private-key")

	return r.group("quorum", "Quorum (M of N) approvals",
		r.group("token-sign", "Token-sign quorum approvals", generate, list, del, setValue, sign))
}
