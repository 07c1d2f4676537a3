package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coffer-hsm/coffer/internal/hsmapi"
)

const filterHelp = "key filter, repeatable: attr.<name>=<value> or key-reference=<0x...>"

// ---- input helpers shared by key and crypto commands ----

// dataInput reads --<name> (base64) or --<name>-path (raw bytes from a file); exactly one is
// required.
func (r *hsmRun) dataInput(name, pathFlag string) ([]byte, error) {
	hasB64, hasPath := changed(r.cmd, name), changed(r.cmd, pathFlag)
	switch {
	case hasB64 && hasPath:
		return nil, usagef("give --%s or --%s, not both", name, pathFlag)
	case hasB64:
		s, _ := r.cmd.Flags().GetString(name)
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("--%s must be base64: %w", name, err)
		}
		return b, nil
	case hasPath:
		p, _ := r.cmd.Flags().GetString(pathFlag)
		return readFileFlag(pathFlag, p)
	}
	return nil, usagef("%s: give --%s <base64> or --%s <file>", r.cmd.CommandPath(), name, pathFlag)
}

func (r *hsmRun) hexFlag(name string) ([]byte, error) {
	if !changed(r.cmd, name) {
		return nil, nil
	}
	s, _ := r.cmd.Flags().GetString(name)
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	if err != nil {
		return nil, fmt.Errorf("--%s must be hex: %w", name, err)
	}
	return b, nil
}

func (r *hsmRun) base64Flag(name string) ([]byte, error) {
	if !changed(r.cmd, name) {
		return nil, nil
	}
	s, _ := r.cmd.Flags().GetString(name)
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("--%s must be base64: %w", name, err)
	}
	return b, nil
}

// ---- key ----

func (r *hsmRun) keyCmd() *cobra.Command {
	return r.group("key", "Manage keys",
		r.keyGenerateSymmetricCmd(), r.keyGeneratePairCmd(), r.keyListCmd(),
		r.keySetAttributeCmd(), r.keyDeleteCmd(), r.keyShareCmd(true), r.keyShareCmd(false),
		r.keyImportCmd(), r.keyGenerateFileCmd(), r.keyWrapCmd(), r.keyUnwrapCmd(), r.keyDeriveCmd(),
	)
}

func (r *hsmRun) keyGenerateSymmetricCmd() *cobra.Command {
	sub := func(keyType, short string) *cobra.Command {
		var req hsmapi.GenerateSymmetricRequest
		var attrs []string
		cmd := r.leaf(keyType, short, func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
			req.KeyType = keyType
			req.Attributes = splitList(attrs)
			return r.call(ctx, "key/generate-symmetric", req)
		})
		f := cmd.Flags()
		f.StringVar(&req.Label, "label", "", "label of the key")
		f.IntVar(&req.KeyLengthBytes, "key-length-bytes", 0, "key length in bytes (aes: 16, 24 or 32; generic-secret: 1 to 800)")
		f.StringVar(&req.ID, "id", "", "ID of the key (hex)")
		f.BoolVar(&req.Session, "session", false, "a session key: deleted at logout, not replicated")
		f.StringArrayVar(&attrs, "attributes", nil, "attribute name=value, repeatable (e.g. --attributes sign=true)")
		f.IntVar(&req.ManageQuorum, "manage-key-quorum-value", 0, "approvals needed to manage the key (0-8)")
		f.IntVar(&req.UseQuorum, "use-key-quorum-value", 0, "approvals needed to use the key (0-8)")
		required(cmd, "label", "key-length-bytes")
		return cmd
	}
	return r.group("generate-symmetric", "Generate a symmetric key (crypto users)",
		sub("aes", "Generate an AES key"),
		sub("generic-secret", "Generate a generic secret key (HMAC)"))
}

func (r *hsmRun) keyGeneratePairCmd() *cobra.Command {
	sub := func(keyType, short string) *cobra.Command {
		var req hsmapi.GenerateKeyPairRequest
		var pubAttrs, privAttrs []string
		cmd := r.leaf(keyType, short, func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
			req.KeyType = keyType
			req.PublicAttributes = splitList(pubAttrs)
			req.PrivateAttributes = splitList(privAttrs)
			return r.call(ctx, "key/generate-asymmetric-pair", req)
		})
		f := cmd.Flags()
		switch keyType {
		case "rsa":
			f.IntVar(&req.ModulusSizeBits, "modulus-size-bits", 0, "modulus size in bits (2048 to 4096)")
			f.IntVar(&req.PublicExponent, "public-exponent", 65537, "public exponent")
			required(cmd, "modulus-size-bits")
		case "ec":
			f.StringVar(&req.Curve, "curve", "", "curve: secp256r1, secp384r1, secp521r1 or secp256k1")
			required(cmd, "curve")
		}
		f.StringVar(&req.PublicLabel, "public-label", "", "label of the public key")
		f.StringVar(&req.PrivateLabel, "private-label", "", "label of the private key")
		f.StringVar(&req.ID, "id", "", "ID of both keys (hex)")
		f.BoolVar(&req.Session, "session", false, "session keys: deleted at logout, not replicated")
		f.StringArrayVar(&pubAttrs, "public-attributes", nil, "public key attribute name=value, repeatable")
		f.StringArrayVar(&privAttrs, "private-attributes", nil, "private key attribute name=value, repeatable")
		f.IntVar(&req.ManageQuorum, "manage-key-quorum-value", 0, "approvals needed to manage the private key (0-8)")
		f.IntVar(&req.UseQuorum, "use-key-quorum-value", 0, "approvals needed to use the private key (0-8)")
		required(cmd, "public-label", "private-label")
		return cmd
	}
	return r.group("generate-asymmetric-pair", "Generate a key pair (crypto users)",
		sub("rsa", "Generate an RSA key pair"),
		sub("ec", "Generate an elliptic-curve key pair"),
		sub("ed25519", "Generate an Ed25519 key pair"))
}

func (r *hsmRun) keyListCmd() *cobra.Command {
	var req hsmapi.ListKeysRequest
	var filters []string
	cmd := r.leaf("list", "List the keys you can see", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		req.Filter = splitList(filters)
		return r.call(ctx, "key/list", req)
	})
	f := cmd.Flags()
	f.StringArrayVar(&filters, "filter", nil, "attr.<name>=<value> or key-reference=<0x...>, repeatable (all must match)")
	f.IntVar(&req.MaxItems, "max-items", 0, "keys per page (0: all)")
	f.StringVar(&req.StartingToken, "starting-token", "", "next_token of the previous page")
	f.BoolVar(&req.Verbose, "verbose", false, "show all attributes")
	return cmd
}

// keyReqCmd builds a command that selects one key with --filter.
func (r *hsmRun) keyReqCmd(use, short, command string, approval bool, prep func(*hsmapi.KeyRequest) error, flags func(*cobra.Command, *hsmapi.KeyRequest)) *cobra.Command {
	var req hsmapi.KeyRequest
	var filters []string
	cmd := r.leaf(use, short, func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		req.Filter = splitList(filters)
		var err error
		if req.Approval, err = r.approval(); err != nil {
			return nil, err
		}
		if prep != nil {
			if err := prep(&req); err != nil {
				return nil, err
			}
		}
		return r.call(ctx, command, req)
	})
	cmd.Flags().StringArrayVar(&filters, "filter", nil, filterHelp)
	required(cmd, "filter")
	if flags != nil {
		flags(cmd, &req)
	}
	if approval {
		addApprovalFlag(cmd)
	}
	return cmd
}

func (r *hsmRun) keySetAttributeCmd() *cobra.Command {
	return r.keyReqCmd("set-attribute", "Change an attribute of a key", "key/set-attribute", true, nil,
		func(cmd *cobra.Command, req *hsmapi.KeyRequest) {
			cmd.Flags().StringVar(&req.Name, "name", "", "attribute name, e.g. label, encrypt, sign")
			cmd.Flags().StringVar(&req.Value, "value", "", "new value")
			required(cmd, "name", "value")
		})
}

func (r *hsmRun) keyDeleteCmd() *cobra.Command {
	return r.keyReqCmd("delete", "Delete a key", "key/delete", true, nil, nil)
}

func (r *hsmRun) keyShareCmd(share bool) *cobra.Command {
	use, short, command := "share", "Share a key with another crypto user", "key/share"
	if !share {
		use, short, command = "unshare", "Stop sharing a key with a crypto user", "key/unshare"
	}
	var role string
	return r.keyReqCmd(use, short, command, true,
		func(*hsmapi.KeyRequest) error {
			if role != "" && role != "crypto-user" {
				return usagef("keys are shared with crypto users only (--role crypto-user), got --role %q", role)
			}
			return nil
		},
		func(cmd *cobra.Command, req *hsmapi.KeyRequest) {
			cmd.Flags().StringVar(&req.Username, "username", "", "the crypto user")
			cmd.Flags().StringVar(&role, "role", "", "role of the user: crypto-user (optional)")
			required(cmd, "username")
		})
}

func (r *hsmRun) keyImportCmd() *cobra.Command {
	var req hsmapi.ImportPEMRequest
	var path string
	var attrs []string
	cmd := r.leaf("pem", "Import a PEM key (private, public or PKCS#8)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		b, err := readFileFlag("path", path)
		if err != nil {
			return nil, err
		}
		req.PEM = string(b)
		req.Attributes = splitList(attrs)
		return r.call(ctx, "key/import-pem", req)
	})
	f := cmd.Flags()
	f.StringVar(&path, "path", "", "PEM file")
	f.StringVar(&req.Label, "label", "", "label of the key")
	f.StringVar(&req.ID, "id", "", "ID of the key (hex)")
	f.BoolVar(&req.Session, "session", false, "a session key: deleted at logout, not replicated")
	f.StringArrayVar(&attrs, "attributes", nil, "attribute name=value, repeatable")
	required(cmd, "path", "label")
	return r.group("import", "Import a key", cmd)
}

func (r *hsmRun) keyGenerateFileCmd() *cobra.Command {
	var filters []string
	var path, encoding string
	cmd := r.leaf("generate-file", "Write a key's public key to a PEM file", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		if encoding != "pem" {
			return nil, usagef("--encoding must be pem, got %q", encoding)
		}
		out, err := r.withSession(ctx, func(c *hsmapi.Client) (any, error) {
			var pk hsmapi.PublicKeyFile
			if err := c.Call(ctx, "key/generate-file", hsmapi.KeyRequest{Filter: splitList(filters)}, &pk); err != nil {
				return nil, err
			}
			return &pk, nil
		})
		if err != nil {
			return nil, err
		}
		pk := out.(*hsmapi.PublicKeyFile)
		if err := os.WriteFile(path, []byte(pk.PEM), 0o644); err != nil {
			return nil, fmt.Errorf("--path: %w", err)
		}
		return orderedMap{{"key-reference", pk.KeyReference}, {"path", path}}, nil
	})
	cmd.Flags().StringArrayVar(&filters, "filter", nil, filterHelp)
	cmd.Flags().StringVar(&path, "path", "", "file to write")
	cmd.Flags().StringVar(&encoding, "encoding", "pem", "file encoding: pem")
	required(cmd, "filter", "path")
	return cmd
}

var wrapMechanisms = []struct{ name, short string }{
	{"aes-gcm", "AES-GCM"},
	{"aes-no-pad", "AES key wrap (RFC 3394)"},
	{"aes-zero-pad", "AES key wrap with padding (RFC 5649)"},
	{"aes-pkcs5-pad", "AES key wrap (RFC 3394) of the key with PKCS#5 padding"},
	{"rsa-oaep", "RSA-OAEP"},
	{"rsa-aes", "RSA-OAEP wrapped AES key, then AES key wrap with padding"},
}

func (r *hsmRun) keyWrapCmd() *cobra.Command {
	var subs []*cobra.Command
	for _, m := range wrapMechanisms {
		var req hsmapi.WrapRequest
		var payload, wrapping []string
		var path string
		cmd := r.leaf(m.name, "Wrap with "+m.short, func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
			req.Mechanism = m.name
			req.PayloadFilter, req.WrappingFilter = splitList(payload), splitList(wrapping)
			var err error
			if req.AAD, err = r.hexFlag("aad-hex"); err != nil {
				return nil, err
			}
			if req.Approval, err = r.approval(); err != nil {
				return nil, err
			}
			if path == "" {
				return r.call(ctx, "key/wrap", req)
			}
			out, err := r.withSession(ctx, func(c *hsmapi.Client) (any, error) {
				var wr hsmapi.WrapResponse
				if err := c.Call(ctx, "key/wrap", req, &wr); err != nil {
					return nil, err
				}
				return &wr, nil
			})
			if err != nil {
				return nil, err
			}
			wr := out.(*hsmapi.WrapResponse)
			if err := writePrivateFile("path", path, wr.WrappedKeyData); err != nil {
				return nil, err
			}
			return orderedMap{{"wrapping-key-reference", wr.WrappingKeyReference}, {"payload-key-reference", wr.PayloadKeyReference}, {"path", path}}, nil
		})
		f := cmd.Flags()
		f.StringArrayVar(&payload, "payload-filter", nil, "the key to wrap: "+filterHelp)
		f.StringArrayVar(&wrapping, "wrapping-filter", nil, "the wrapping key: "+filterHelp)
		if strings.HasPrefix(m.name, "rsa-") {
			f.StringVar(&req.HashFunction, "hash-function", "sha256", "OAEP hash: sha1, sha224, sha256, sha384, sha512")
		}
		if m.name == "aes-gcm" {
			f.String("aad-hex", "", "additional authenticated data (hex)")
		}
		f.StringVar(&path, "path", "", "write the wrapped key's raw bytes here (default: base64 in the output)")
		addApprovalFlag(cmd)
		required(cmd, "payload-filter", "wrapping-filter")
		subs = append(subs, cmd)
	}
	return r.group("wrap", "Wrap (export) a key under another key", subs...)
}

var keyTypeClasses = map[string]string{
	"aes": "aes", "generic-secret": "generic-secret",
	"rsa-private": "rsa", "ec-private": "ec", "ed25519-private": "ed25519",
}

func (r *hsmRun) keyUnwrapCmd() *cobra.Command {
	var subs []*cobra.Command
	for _, m := range wrapMechanisms {
		var req hsmapi.UnwrapRequest
		var filters, attrs []string
		var class string
		cmd := r.leaf(m.name, "Unwrap a key wrapped with "+m.short, func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
			kt, ok := keyTypeClasses[class]
			if !ok {
				return nil, usagef("--key-type-class must be aes, generic-secret, rsa-private, ec-private or ed25519-private, got %q", class)
			}
			req.Mechanism, req.KeyType = m.name, kt
			req.UnwrappingFilter, req.Attributes = splitList(filters), splitList(attrs)
			var err error
			if req.WrappedKeyData, err = r.dataInput("data", "data-path"); err != nil {
				return nil, err
			}
			if req.AAD, err = r.hexFlag("aad-hex"); err != nil {
				return nil, err
			}
			if req.Approval, err = r.approval(); err != nil {
				return nil, err
			}
			return r.call(ctx, "key/unwrap", req)
		})
		f := cmd.Flags()
		f.StringArrayVar(&filters, "unwrapping-filter", nil, "the unwrapping key: "+filterHelp)
		f.String("data", "", "wrapped key (base64)")
		f.String("data-path", "", "file with the wrapped key's raw bytes")
		f.StringVar(&class, "key-type-class", "", "aes, generic-secret, rsa-private, ec-private or ed25519-private")
		f.StringVar(&req.Label, "label", "", "label of the new key")
		f.StringVar(&req.ID, "id", "", "ID of the new key (hex)")
		f.BoolVar(&req.Session, "session", false, "a session key: deleted at logout, not replicated")
		f.StringArrayVar(&attrs, "attributes", nil, "attribute name=value, repeatable")
		if strings.HasPrefix(m.name, "rsa-") {
			f.StringVar(&req.HashFunction, "hash-function", "sha256", "OAEP hash: sha1, sha224, sha256, sha384, sha512")
		}
		if m.name == "aes-gcm" {
			f.String("aad-hex", "", "additional authenticated data (hex)")
		}
		addApprovalFlag(cmd)
		required(cmd, "unwrapping-filter", "key-type-class", "label")
		subs = append(subs, cmd)
	}
	return r.group("unwrap", "Unwrap (import) a wrapped key", subs...)
}

func (r *hsmRun) keyDeriveCmd() *cobra.Command {
	var req hsmapi.DeriveRequest
	var filters, attrs []string
	var peer string
	cmd := r.leaf("derive-ecdh", "Derive a secret key with ECDH from your EC private key and a peer's public key", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		b, err := readFileFlag("peer-public-key", peer)
		if err != nil {
			return nil, err
		}
		req.PeerPublicKey = string(b)
		req.Filter, req.Attributes = splitList(filters), splitList(attrs)
		return r.call(ctx, "key/derive-ecdh", req)
	})
	f := cmd.Flags()
	f.StringArrayVar(&filters, "filter", nil, "your EC private key: "+filterHelp)
	f.StringVar(&peer, "peer-public-key", "", "the peer's public key PEM file")
	f.StringVar(&req.KeyType, "key-type", "", "type of the derived key: aes or generic-secret")
	f.IntVar(&req.KeyLengthBytes, "key-length-bytes", 0, "length of the derived key in bytes")
	f.StringVar(&req.Label, "label", "", "label of the derived key")
	f.BoolVar(&req.Session, "session", false, "a session key: deleted at logout, not replicated")
	f.StringArrayVar(&attrs, "attributes", nil, "attribute name=value, repeatable")
	required(cmd, "filter", "peer-public-key", "key-type", "key-length-bytes", "label")
	return cmd
}
