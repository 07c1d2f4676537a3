package main

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

const hashHelp = "hash function: sha1, sha224, sha256, sha384, sha512"

func (r *hsmRun) cryptoCmd() *cobra.Command {
	random := r.leaf("random", "Generate random bytes", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		n, _ := r.cmd.Flags().GetInt("length-bytes")
		return r.call(ctx, "crypto/random", hsmapi.RandomRequest{LengthBytes: n})
	})
	random.Flags().Int("length-bytes", 0, "number of bytes")
	required(random, "length-bytes")

	return r.group("crypto", "Cryptographic operations with keys in the HSM",
		r.signCmd(false), r.signCmd(true), r.cipherCmd(true), r.cipherCmd(false),
		r.group("mac", "Message authentication codes", r.macCmd(false), r.macCmd(true)),
		random)
}

// cryptoFlags adds the flags every crypto command has and returns a function that fills the
// request from them.
func (r *hsmRun) cryptoFlags(cmd *cobra.Command, req *hsmapi.CryptoRequest, hash bool, hashDefault string) func() error {
	var filters []string
	f := cmd.Flags()
	f.StringArrayVar(&filters, "key-filter", nil, filterHelp)
	if hash {
		f.StringVar(&req.HashFunction, "hash-function", hashDefault, hashHelp)
	}
	f.String("data", "", "input (base64)")
	f.String("data-path", "", "file with the raw input")
	addApprovalFlag(cmd)
	required(cmd, "key-filter")
	return func() error {
		req.Filter = splitList(filters)
		var err error
		if req.Data, err = r.dataInput("data", "data-path"); err != nil {
			return err
		}
		req.Approval, err = r.approval()
		return err
	}
}

var signMechanisms = []struct{ name, short string }{
	{"ecdsa", "ECDSA"},
	{"rsa-pkcs", "RSA PKCS#1 v1.5"},
	{"rsa-pkcs-pss", "RSA-PSS"},
	{"ed25519", "Ed25519"},
}

func (r *hsmRun) signCmd(verify bool) *cobra.Command {
	var subs []*cobra.Command
	for _, m := range signMechanisms {
		var req hsmapi.CryptoRequest
		var sigPath string
		short := "Sign with " + m.short
		if verify {
			short = "Verify an " + m.short + " signature" // ECDSA, RSA, Ed25519: all "an"
		}
		cmd := &cobra.Command{Use: m.name, Short: short, Args: r.noArgs}
		fill := r.cryptoFlags(cmd, &req, m.name != "ed25519", "sha256")
		cmd.Flags().StringVar(&req.DataType, "data-type", "raw", "raw (the message) or digest (its hash)")
		if verify {
			cmd.Flags().String("signature", "", "the signature (base64)")
			cmd.Flags().String("signature-path", "", "file with the raw signature")
		} else {
			cmd.Flags().StringVar(&sigPath, "signature-path", "", "also write the raw signature to this file")
		}
		cmd.RunE = r.run(func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
			req.Mechanism = m.name
			if err := fill(); err != nil {
				return nil, err
			}
			if verify {
				var err error
				if req.Signature, err = r.dataInput("signature", "signature-path"); err != nil {
					return nil, err
				}
				return r.call(ctx, "crypto/verify", req)
			}
			if sigPath == "" {
				return r.call(ctx, "crypto/sign", req)
			}
			var raw rawJSON
			var cr hsmapi.CryptoResponse
			_, err := r.withSession(ctx, func(c *hsmapi.Client) (any, error) {
				if err := c.Call(ctx, "crypto/sign", req, &raw); err != nil {
					return nil, err
				}
				return nil, json.Unmarshal(raw, &cr)
			})
			if err != nil {
				return nil, err
			}
			if err := writePrivateFile("signature-path", sigPath, cr.Signature); err != nil {
				return nil, err
			}
			return raw, nil
		})
		subs = append(subs, cmd)
	}
	if verify {
		return r.group("verify", "Verify a signature with a key in the HSM", subs...)
	}
	return r.group("sign", "Sign with a private key in the HSM", subs...)
}

func (r *hsmRun) cipherCmd(encrypt bool) *cobra.Command {
	var subs []*cobra.Command
	for _, m := range []string{"aes-gcm", "rsa-oaep"} {
		var req hsmapi.CryptoRequest
		short, command := "Encrypt with "+m, "crypto/encrypt"
		if !encrypt {
			short, command = "Decrypt with "+m, "crypto/decrypt"
		}
		cmd := &cobra.Command{Use: m, Short: short, Args: r.noArgs}
		fill := r.cryptoFlags(cmd, &req, m == "rsa-oaep", "sha256")
		aad := "additional authenticated data (base64)"
		if m == "rsa-oaep" {
			aad = "OAEP label (base64)"
		}
		cmd.Flags().String("aad", "", aad)
		cmd.RunE = r.run(func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
			req.Mechanism = m
			if err := fill(); err != nil {
				return nil, err
			}
			var err error
			if req.AAD, err = r.base64Flag("aad"); err != nil {
				return nil, err
			}
			return r.call(ctx, command, req)
		})
		subs = append(subs, cmd)
	}
	if encrypt {
		return r.group("encrypt", "Encrypt with a key in the HSM", subs...)
	}
	return r.group("decrypt", "Decrypt with a key in the HSM", subs...)
}

func (r *hsmRun) macCmd(verify bool) *cobra.Command {
	var req hsmapi.CryptoRequest
	short, command := "Generate an HMAC", "crypto/mac-generate"
	if verify {
		short, command = "Verify an HMAC", "crypto/mac-verify"
	}
	cmd := &cobra.Command{Use: "hmac", Short: short, Args: r.noArgs}
	fill := r.cryptoFlags(cmd, &req, true, "sha256")
	if verify {
		cmd.Flags().String("mac", "", "the MAC (base64)")
		cmd.Flags().String("mac-path", "", "file with the raw MAC")
	}
	cmd.RunE = r.run(func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		if err := fill(); err != nil {
			return nil, err
		}
		if verify {
			var err error
			if req.MAC, err = r.dataInput("mac", "mac-path"); err != nil {
				return nil, err
			}
		}
		return r.call(ctx, command, req)
	})
	use := "generate"
	if verify {
		use = "verify"
	}
	return r.group(use, short, cmd)
}
