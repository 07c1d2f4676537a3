package cloudhsm

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/coffer-hsm/coffer/internal/backup"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/state"
)

// RestoreCluster initializes a cluster created from a backup (CreateCluster with
// SourceBackupId) with that backup: the cluster must be UNINITIALIZED with an HSM on this
// node, whose HSM core must be UNINITIALIZED. shares are the custodians' decrypted shares
// (backup.DecryptShare) or the offline share (backup.ParseShare); at least the backup's
// threshold of them. The archive is read from the store, authenticated and decrypted with
// the recovered domain key, and its "hsm" part replaces the node's HSM state
// (hsm.RestoreBackup). The cluster is then INITIALIZED with the source cluster's
// certificates; its reported state follows the HSM core (ACTIVE when the backed-up core
// was active). progress, if not nil, is called over the decrypted snapshot bytes.
//
// Wrong, too few or foreign shares, and an altered archive, are
// CloudHsmInvalidRequestException errors saying so; the cluster stays UNINITIALIZED.
func (s *Service) RestoreCluster(ctx context.Context, c Caller, clusterID string, shares [][]byte, progress backup.Progress) (*Cluster, error) {
	cur, err := s.getCluster(c.Region, clusterID)
	if err != nil {
		return nil, err
	}
	if cur.SourceBackupID == "" {
		return nil, invalid("cluster %s was not created from a backup (SourceBackupId); initialize it with InitializeCluster", cur.ID)
	}
	if cur.State != ClusterUninitialized {
		return nil, invalid("cluster %s is %s; only an UNINITIALIZED cluster created from a backup can be restored", cur.ID, s.view(cur).State)
	}
	if !s.hasLocalHsm(cur) {
		return nil, invalid("cluster %s has no HSM on this node; create one (CreateHsm) first", cur.ID)
	}
	if st := s.coreState(); st != hsm.StateUninitialized {
		return nil, invalid("the node's HSM is %s; a backup is restored only into an uninitialized HSM (zeroize it or use another node)", st)
	}
	if len(shares) == 0 {
		return nil, invalid("no custodian shares given: backup %s needs its custodians' shares", cur.SourceBackupID)
	}
	src, err := s.getBackup(cur.Region, cur.SourceBackupID)
	if err != nil {
		return nil, err
	}
	if src.State != BackupReady {
		return nil, invalid("backup %s is %s; restore it (RestoreBackup) before restoring a cluster from it", src.ID, src.State)
	}
	a, err := s.readArchive(ctx, src)
	if err != nil {
		return nil, err
	}
	// INITIALIZE_IN_PROGRESS claims the cluster, as InitializeCluster does.
	if _, err := s.updateCluster(ctx, c.Region, cur.ID, func(cl *clusterRec, _ *putClusterCmd) error {
		if cl.State != ClusterUninitialized {
			return invalid("cluster %s changed meanwhile (state %s); retry", cl.ID, cl.State)
		}
		cl.State = ClusterInitializeInProgress
		return nil
	}); err != nil {
		return nil, err
	}
	setState := func(st, msg string) (*clusterRec, error) {
		return s.updateCluster(context.WithoutCancel(ctx), c.Region, cur.ID, func(cl *clusterRec, _ *putClusterCmd) error {
			cl.State, cl.StateMessage = st, msg
			if st == ClusterInitialized {
				cl.ClusterCert, cl.TrustAnchor = src.ClusterCert, src.TrustAnchor
				cl.DomainKeyID = src.DomainKeyID
			}
			return nil
		})
	}
	fail := func(err error) (*Cluster, error) {
		if _, rerr := setState(ClusterUninitialized, ""); rerr != nil {
			s.cfg.Logger.Error("cloudhsm: reverting a failed restore", "cluster", cur.ID, "err", rerr)
		}
		return nil, err
	}
	snap, dk, err := a.Open(shares, backup.OpenOptions{Progress: progress})
	switch {
	case errors.Is(err, backup.ErrCustodians):
		return fail(invalid("the shares do not unlock backup %s: %s", src.ID, strings.TrimPrefix(err.Error(), backup.ErrCustodians.Error()+": ")))
	case errors.Is(err, backup.ErrCorrupt), errors.Is(err, backup.ErrFormat):
		return fail(invalid("backup %s fails authentication: its archive was altered or is corrupt; restore another backup or a copy", src.ID))
	case err != nil:
		return fail(err)
	}
	defer dk.Zeroize()
	defer clear(snap)
	whole, err := state.DecodeSnapshot(snap)
	if err != nil {
		return fail(invalid("backup %s holds no usable state: %v", src.ID, err))
	}
	part, ok := whole.Parts["hsm"]
	if !ok || len(part) == 0 {
		return fail(invalid("backup %s holds no HSM state", src.ID))
	}
	if err := s.cfg.HSM.RestoreBackup(ctx, dk, part); err != nil {
		return fail(err)
	}
	rec, err := setState(ClusterInitialized, "Cluster restored from backup "+src.ID)
	if err != nil {
		return nil, err
	}
	s.cfg.Logger.Info("cloudhsm: cluster restored from backup", "cluster", cur.ID, "backup", src.ID)
	v := s.view(rec)
	return &v, nil
}

// SourceBackupID returns the backup a cluster was created from ("" for a cluster created
// from scratch), in any region.
func (s *Service) SourceBackupID(clusterID string) (string, error) {
	c, err := s.getCluster("", clusterID)
	if err != nil {
		return "", err
	}
	return c.SourceBackupID, nil
}

// ClusterInfo is what KMS custom key stores need to know about a cluster.
type ClusterInfo struct {
	ID, Region string
	State      string // the reported state (DescribeClusters')
	// TrustAnchor is the PEM CA certificate the cluster was initialized with.
	TrustAnchor string
	// Lineage identifies the domain key: clusters restored from a cluster's backups share
	// its lineage, so their keys are the same keys.
	Lineage  string
	HsmZones []string // availability zones of the cluster's HSMs, sorted, distinct
	Dev      bool
}

// ClusterInfo describes the cluster id of region. An unknown cluster is a
// CloudHsmResourceNotFoundException *Error.
func (s *Service) ClusterInfo(region, id string) (ClusterInfo, error) {
	if !clusterIDRE.MatchString(id) {
		return ClusterInfo{}, notFound("cluster %s not found", clip(id))
	}
	c, err := s.getCluster(region, id)
	if err != nil {
		return ClusterInfo{}, err
	}
	v := s.view(c)
	info := ClusterInfo{ID: c.ID, Region: c.Region, State: v.State, TrustAnchor: c.TrustAnchor,
		Lineage: c.lineage(), Dev: c.Dev}
	seen := map[string]bool{}
	for _, h := range c.Hsms {
		if !seen[h.AZ] {
			seen[h.AZ] = true
			info.HsmZones = append(info.HsmZones, h.AZ)
		}
	}
	sort.Strings(info.HsmZones)
	return info, nil
}
