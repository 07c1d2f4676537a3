package cloudhsm

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/coffer-hsm/coffer/internal/backup"
)

// MaxCustodians is the number of backup custodians a cluster may register.
const MaxCustodians = 16

// SetCustodians registers the cluster's backup custodians: from the next backup on, the
// domain key is split threshold-of-len(keys) (Shamir) and each share is encrypted to one
// custodian's RSA public key (at least 2048 bits) inside the archive. The threshold is 1
// with a single custodian, otherwise 2 to len(keys); names (1 to 64 characters) and keys
// must be distinct. No keys (and threshold 0) removes the custodians: backups then write
// one offline share to ShareFile. Backups already taken keep their own split.
func (s *Service) SetCustodians(ctx context.Context, clusterID string, threshold int, keys []backup.CustodianKey) error {
	var recs []custodianRec
	switch n := len(keys); {
	case n == 0:
		if threshold != 0 {
			return invalid("a threshold of %d needs custodian keys", threshold)
		}
	case n > MaxCustodians:
		return invalid("at most %d backup custodians, got %d", MaxCustodians, n)
	case !(n == 1 && threshold == 1) && (threshold < 2 || threshold > n):
		return invalid("threshold %d of %d custodians is not valid: 1 of 1, or 2 to %d of %d", threshold, n, n, n)
	}
	names, prints := map[string]bool{}, map[string]string{}
	for _, k := range keys {
		if n := utf8.RuneCountInString(k.Name); n < 1 || n > 64 || strings.TrimSpace(k.Name) != k.Name || !utf8.ValidString(k.Name) {
			return invalid("custodian name %q must be 1 to 64 characters without surrounding spaces", clip(k.Name))
		}
		if names[k.Name] {
			return invalid("custodian %q is listed twice", clip(k.Name))
		}
		names[k.Name] = true
		pub, err := backup.ParseCustodianKey(k.PublicKeyPEM)
		if err != nil {
			return invalid("custodian %q: %v", clip(k.Name), err)
		}
		fp := backup.Fingerprint(pub)
		if other, dup := prints[fp]; dup {
			return invalid("custodians %q and %q have the same key: each custodian needs a key of their own", other, clip(k.Name))
		}
		prints[fp] = k.Name
		recs = append(recs, custodianRec{Name: k.Name, PublicKeyPEM: k.PublicKeyPEM, Fingerprint: fp})
	}
	_, err := s.updateCluster(ctx, "", clusterID, func(c *clusterRec, _ *putClusterCmd) error {
		if c.State == ClusterDeleted {
			return invalid("cluster %s is deleted", c.ID)
		}
		c.Custodians, c.CustodianThreshold = recs, threshold
		return nil
	})
	return err
}

// Custodians returns the cluster's backup custodians and threshold (none: 0 and nil).
func (s *Service) Custodians(clusterID string) (threshold int, keys []backup.CustodianKey, err error) {
	c, err := s.getCluster("", clusterID)
	if err != nil {
		return 0, nil, err
	}
	for _, k := range c.Custodians {
		keys = append(keys, backup.CustodianKey{Name: k.Name, PublicKeyPEM: k.PublicKeyPEM})
	}
	return c.CustodianThreshold, keys, nil
}

// CustodianShare returns the share of a backup encrypted to the custodian key whose
// fingerprint (backup.Fingerprint, hex SHA-256 of the PKIX public key) is given. The
// custodian decrypts it locally with backup.DecryptShare and their private key; M such
// shares restore the backup (RestoreCluster).
func (s *Service) CustodianShare(ctx context.Context, backupID, fingerprint string) (backup.WrappedShare, error) {
	b, err := s.getBackup("", backupID)
	if err != nil {
		return backup.WrappedShare{}, err
	}
	if b.State == BackupDeleted {
		return backup.WrappedShare{}, invalid("backup %s is deleted", b.ID)
	}
	a, err := s.readArchive(ctx, b)
	if err != nil {
		return backup.WrappedShare{}, err
	}
	if a.Header.Custodians.Offline() {
		return backup.WrappedShare{}, invalid("backup %s has no custodian shares: its single share was written offline (%s.share)", b.ID, b.archiveID())
	}
	fp := strings.ToLower(strings.TrimSpace(fingerprint))
	var names []string
	for _, ws := range a.Header.Custodians.Shares {
		if ws.KeyFingerprint == fp {
			return ws, nil
		}
		names = append(names, ws.Custodian)
	}
	return backup.WrappedShare{}, notFound("backup %s has no share for the custodian key %s (its custodians: %s)", b.ID, clip(fp), strings.Join(names, ", "))
}

// BackupDomainKeyID returns the id of the domain key a backup's shares recombine, so
// that a custodian's decrypted share can be encoded with it (seal.EncodeShare).
func (s *Service) BackupDomainKeyID(backupID string) (string, error) {
	b, err := s.getBackup("", backupID)
	if err != nil {
		return "", err
	}
	return b.DomainKeyID, nil
}
