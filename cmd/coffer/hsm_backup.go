package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coffer-hsm/coffer/internal/backup"
	"github.com/coffer-hsm/coffer/internal/hsmapi"
	"github.com/coffer-hsm/coffer/internal/seal"
)

// `coffer hsm backup ...`: on-demand backups, backup custodians, and restoring a cluster
// created from a backup (CreateCluster --source-backup-id) with the custodians' shares.
// Backups themselves are listed and managed with the CloudHSMv2 API
// (aws cloudhsmv2 describe-backups ...).

func (r *hsmRun) backupCmd() *cobra.Command {
	var clusterID string

	create := r.leaf("create", "Take a backup of the cluster now (admins)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		return r.withSession(ctx, func(c *hsmapi.Client) (any, error) {
			var raw rawJSON
			err := c.CallStream(ctx, "backup/create", backupCreateRequest{ClusterID: clusterID}, &raw, r.progressPrinter())
			r.endProgress()
			return raw, err
		})
	})
	create.Long = `Take a backup of the cluster this node serves, as CloudHSM does after each new HSM and
every 24 hours. The archive holds the HSM's users and keys, still encrypted under the domain
key; the domain key itself is split among the backup custodians ('backup custodians set'),
or, until custodians are set, into one share written (0600) to <data-dir>/backup-shares/.
Progress goes to stderr.`
	create.Flags().StringVar(&clusterID, "cluster-id", "", "cluster to back up (default: the cluster of this node)")

	var threshold int
	var custodians []string
	set := r.leaf("set", "Name the backup custodians and how many must present shares (admins)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		req := custodiansRequest{ClusterID: clusterID, Threshold: threshold}
		for _, c := range custodians {
			name, path, ok := strings.Cut(c, "=")
			if !ok || name == "" || path == "" {
				return nil, usagef("--custodian %q: want <name>=<public-key.pem>", c)
			}
			b, err := readFileFlag("custodian", path)
			if err != nil {
				return nil, err
			}
			req.Custodians = append(req.Custodians, custodianEntry{Name: name, PublicKeyPEM: string(b)})
		}
		return r.withSession(ctx, func(c *hsmapi.Client) (any, error) {
			var raw rawJSON
			err := c.Call(ctx, "backup/custodians/set", req, &raw)
			return raw, err
		})
	})
	set.Long = `Set the backup custodians: each backup taken from now on splits the domain key into one
Shamir share per custodian (N), any --threshold (M) of which restore it, and encrypts each share
to its custodian's RSA public key (RSA-OAEP SHA-256, RSA 2048 bits or more). A custodian makes
a key pair once, keeps the private key offline and hands over the public key:
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out alice.key
  openssl pkey -in alice.key -pubout -out alice.pub`
	set.Example = `  coffer hsm backup custodians set --threshold 2 \
    --custodian alice=alice.pub --custodian bob=bob.pub --custodian carol=carol.pub`
	set.Flags().IntVar(&threshold, "threshold", 1, "how many custodians must present their shares to restore (M)")
	set.Flags().StringArrayVar(&custodians, "custodian", nil, "a custodian as <name>=<public-key.pem> (repeatable)")
	set.Flags().StringVar(&clusterID, "cluster-id", "", "cluster (default: the cluster of this node)")
	required(set, "custodian")

	list := r.leaf("list", "Show the backup custodians (no login needed)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		var raw rawJSON
		err := r.client("").Call(ctx, "backup/custodians/list", backupCreateRequest{ClusterID: clusterID}, &raw)
		return raw, err
	})
	list.Flags().StringVar(&clusterID, "cluster-id", "", "cluster (default: the cluster of this node)")

	var backupID, keyPath, outPath string
	share := r.leaf("share", "Decrypt your custodian share of a backup with your private key (runs locally)", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		priv, err := readPrivateKey(keyPath)
		if err != nil {
			return nil, err
		}
		enc, err := r.custodianShare(ctx, backupID, priv)
		if err != nil {
			return nil, err
		}
		if err := writeSecretFile(outPath, enc+"\n"); err != nil {
			return nil, err
		}
		return map[string]string{"backup_id": backupID, "share_file": outPath}, nil
	})
	share.Long = `Fetch this custodian's encrypted share from the backup's header and decrypt it here, with
the custodian's private key; the private key never leaves this machine. The share is written
to --out (mode 0600) for 'backup restore --share-file'.`
	share.Flags().StringVar(&backupID, "backup-id", "", "the backup")
	share.Flags().StringVar(&keyPath, "private-key", "", "the custodian's RSA private key (PEM)")
	share.Flags().StringVar(&outPath, "out", "", "file to write the share to (0600)")
	required(share, "backup-id", "private-key", "out")

	var shareFiles, keyPaths []string
	restore := r.leaf("restore", "Restore a cluster created from a backup, with the custodians' shares", func(ctx context.Context, r *hsmRun, _ []string) (any, error) {
		if len(shareFiles)+len(keyPaths) == 0 {
			return nil, usagef("backup restore: give the custodians' shares with --share-file, or their private keys with --private-key")
		}
		req := restoreRequest{ClusterID: clusterID}
		for _, f := range shareFiles {
			b, err := readFileFlag("share-file", f)
			if err != nil {
				return nil, err
			}
			req.Shares = append(req.Shares, strings.TrimSpace(string(b)))
		}
		if len(keyPaths) > 0 {
			var raw struct {
				SourceBackupID string `json:"SourceBackupId"`
			}
			if err := r.client("").Call(ctx, "backup/source", backupCreateRequest{ClusterID: clusterID}, &raw); err != nil {
				return nil, err
			}
			for _, p := range keyPaths {
				priv, err := readPrivateKey(p)
				if err != nil {
					return nil, err
				}
				enc, err := r.custodianShare(ctx, raw.SourceBackupID, priv)
				if err != nil {
					return nil, err
				}
				req.Shares = append(req.Shares, enc)
			}
		}
		var raw rawJSON
		err := r.client("").CallStream(ctx, "backup/restore", req, &raw, r.progressPrinter())
		r.endProgress()
		return raw, err
	})
	restore.Long = `Bring back the users and keys of a backup into a cluster created from it:
  aws cloudhsmv2 create-cluster --source-backup-id backup-... --hsm-type hsm2m.medium --subnet-ids ...
  aws cloudhsmv2 create-hsm --cluster-id cluster-... --availability-zone ...
  coffer hsm backup restore --cluster-id cluster-... --share-file alice.share --share-file bob.share
The HSM of this node must be uninitialized (a new node, or one that was zeroized). M shares
recombine the backup's domain key; the archive is verified end to end before anything is
restored, so a damaged archive or a wrong share changes nothing. No login is needed: the
shares are the authority. Progress goes to stderr.`
	restore.Flags().StringVar(&clusterID, "cluster-id", "", "the cluster created from the backup (default: the cluster of this node)")
	restore.Flags().StringArrayVar(&shareFiles, "share-file", nil, "a custodian's share file (from 'backup share', or the --dev share) (repeatable)")
	restore.Flags().StringArrayVar(&keyPaths, "private-key", nil, "a custodian's private key, to decrypt that custodian's share here (repeatable)")

	return r.group("backup", "Back up and restore the cluster; backup custodians",
		create, r.group("custodians", "Set and show the backup custodians", set, list), share, restore)
}

// custodianShare fetches the custodian's wrapped share of a backup and decrypts it locally.
func (r *hsmRun) custodianShare(ctx context.Context, backupID string, priv *rsa.PrivateKey) (string, error) {
	fp := backup.Fingerprint(&priv.PublicKey)
	var ans custodianShareAnswer
	if err := r.client("").Call(ctx, "backup/custodian-share", custodianShareRequest{BackupID: backupID, Fingerprint: fp}, &ans); err != nil {
		return "", err
	}
	sh, err := backup.DecryptShare(ans.WrappedShare, priv)
	if err != nil {
		return "", fmt.Errorf("decrypting the share of custodian %s: %w", ans.WrappedShare.Custodian, err)
	}
	defer clear(sh)
	return seal.EncodeShare(sh, ans.DomainKeyID), nil
}

func readPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := readFileFlag("private-key", path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("--private-key %s: not a PEM file", path)
	}
	var key any
	switch blk.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("--private-key %s: PEM type %q is not an RSA private key", path, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("--private-key %s: %w", path, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("--private-key %s: not an RSA key", path)
	}
	return rk, nil
}

// writeSecretFile writes a new file with mode 0600, refusing to overwrite one.
func writeSecretFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if _, err := io.WriteString(f, content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// progressPrinter prints streamed progress on stderr, on one line when stderr is a terminal.
func (r *hsmRun) progressPrinter() func(json.RawMessage) {
	w := r.cmd.ErrOrStderr()
	f, _ := w.(*os.File)
	tty := f != nil && isTerminal(f)
	return func(raw json.RawMessage) {
		var p progressEvent
		if json.Unmarshal(raw, &p) != nil {
			return
		}
		pct := 100
		if p.Total > 0 {
			pct = int(p.Done * 100 / p.Total)
		}
		line := fmt.Sprintf("%s: %3d%% (%s of %s)", p.Phase, pct, humanBytes(p.Done), humanBytes(p.Total))
		if tty {
			fmt.Fprintf(w, "\r%s", line)
			r.progressOpen = true
		} else {
			fmt.Fprintln(w, line)
		}
	}
}

func (r *hsmRun) endProgress() {
	if r.progressOpen {
		fmt.Fprintln(r.cmd.ErrOrStderr())
		r.progressOpen = false
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
