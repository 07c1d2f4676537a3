package cloudhsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/backup"
	"github.com/coffer-hsm/coffer/internal/fsutil"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/state"
)

// ---- inputs and outputs ----

// BackupIDInput is a request naming a backup (DeleteBackup, RestoreBackup).
type BackupIDInput struct {
	BackupId string `json:"BackupId"`
}

// BackupOutput is the response of DeleteBackup, RestoreBackup and ModifyBackupAttributes.
type BackupOutput struct {
	Backup Backup `json:"Backup"`
}

// DescribeBackupsInput is the DescribeBackups request.
type DescribeBackupsInput struct {
	NextToken     string              `json:"NextToken"`
	MaxResults    *int                `json:"MaxResults"`
	Filters       map[string][]string `json:"Filters"`
	Shared        *bool               `json:"Shared"`
	SortAscending bool                `json:"SortAscending"`
}

// DescribeBackupsOutput is the DescribeBackups response.
type DescribeBackupsOutput struct {
	Backups   []Backup `json:"Backups"`
	NextToken string   `json:"NextToken,omitempty"`
}

// ModifyBackupAttributesInput is the ModifyBackupAttributes request.
type ModifyBackupAttributesInput struct {
	BackupId     string `json:"BackupId"`
	NeverExpires *bool  `json:"NeverExpires"`
}

// CopyBackupToRegionInput is the CopyBackupToRegion request.
type CopyBackupToRegionInput struct {
	DestinationRegion string `json:"DestinationRegion"`
	BackupId          string `json:"BackupId"`
	TagList           []Tag  `json:"TagList"`
}

// DestinationBackup describes the copy made by CopyBackupToRegion: CreateTimestamp is the
// source backup's creation time.
type DestinationBackup struct {
	CreateTimestamp *Epoch `json:"CreateTimestamp,omitempty"`
	SourceRegion    string `json:"SourceRegion,omitempty"`
	SourceBackup    string `json:"SourceBackup,omitempty"`
	SourceCluster   string `json:"SourceCluster,omitempty"`
}

// CopyBackupToRegionOutput is the CopyBackupToRegion response.
type CopyBackupToRegionOutput struct {
	DestinationBackup DestinationBackup `json:"DestinationBackup"`
}

func (b *backupRec) copied() bool { return b.SourceBackup != "" }

// archiveID is the backup id in the archive's header.
func (b *backupRec) archiveID() string {
	if b.ArchiveID != "" {
		return b.ArchiveID
	}
	return b.ID
}

func (b *backupRec) info() backup.BackupInfo {
	return backup.BackupInfo{ID: b.ID, ClusterID: b.ClusterID, Created: b.Created, NeverExpires: b.NeverExpires,
		Copied: b.copied(), SourceBackupID: b.SourceBackup, State: b.State, Deleted: b.Deleted}
}

func backupView(b *backupRec) Backup {
	out := Backup{
		BackupId: b.ID, BackupArn: b.arn(), BackupState: b.State, ClusterId: b.ClusterID,
		CreateTimestamp: epochPtr(b.Created), CopyTimestamp: epochPtr(b.Copied), NeverExpires: b.NeverExpires,
		SourceRegion: b.SourceRegion, SourceBackup: b.SourceBackup, SourceCluster: b.SourceCluster,
		TagList: b.Tags, HsmType: b.HsmType, Mode: b.Mode,
	}
	if b.State == BackupPendingDeletion || b.State == BackupDeleted {
		out.DeleteTimestamp = epochPtr(b.Deleted)
	}
	return out
}

// ShareFile is where CreateBackup writes the offline share of a backup without custodian
// keys: Config.ShareDir/<backup-id>.share ("" when no ShareDir is configured).
func (s *Service) ShareFile(backupID string) string {
	if s.cfg.ShareDir == "" || !backup.ValidID(backupID) {
		return ""
	}
	return filepath.Join(s.cfg.ShareDir, backupID+".share")
}

func (s *Service) hasLocalHsm(c *clusterRec) bool {
	for _, h := range c.Hsms {
		if h.NodeID == s.cfg.NodeID {
			return true
		}
	}
	return false
}

func (s *Service) coreState() string {
	if s.cfg.HSM == nil {
		return ""
	}
	return s.cfg.HSM.Status().State
}

// ---- CreateBackup ----

// CreateBackup takes a backup of an initialized cluster now: an archive (internal/backup)
// of the whole replicated state, written to Config.Store under the cluster's region, and a
// READY backup record. The domain key goes into the archive split for the cluster's
// custodians (SetCustodians); without custodians it is one offline 1-of-1 share, written
// with mode 0600 to ShareFile(id). reason is recorded with the backup.
func (s *Service) CreateBackup(ctx context.Context, clusterID, reason string) (*Backup, error) {
	return s.CreateBackupWithProgress(ctx, clusterID, reason, nil)
}

// CreateBackupWithProgress is CreateBackup reporting progress over the snapshot's bytes.
func (s *Service) CreateBackupWithProgress(ctx context.Context, clusterID, reason string, p backup.Progress) (*Backup, error) {
	if s.cfg.Store == nil {
		return nil, invalid("backups are disabled on this node: no backup store is configured")
	}
	if s.cfg.Snapshotter == nil || s.cfg.HSM == nil {
		return nil, chErr(CodeInternal, "the backup service is not wired (no state snapshotter or HSM)")
	}
	s.backupMu.Lock()
	defer s.backupMu.Unlock()
	cl, err := s.getCluster("", clusterID)
	if err != nil {
		return nil, err
	}
	if cl.State != ClusterInitialized {
		return nil, invalid("cluster %s is %s; only an initialized cluster can be backed up", cl.ID, s.view(cl).State)
	}
	if v := s.view(cl); v.State == ClusterDegraded {
		// The node's HSM is zeroized or holds another domain key: a backup would not hold
		// the cluster's keys, yet become its newest backup, the one retention keeps.
		return nil, invalid("cluster %s is DEGRADED (%s); a backup now would not hold its keys", cl.ID, v.StateMessage)
	}
	if !s.hasLocalHsm(cl) {
		return nil, invalid("cluster %s has no HSM on this node; a backup is taken by a node that provides one of its HSMs", cl.ID)
	}
	if len(cl.Custodians) == 0 && s.cfg.ShareDir == "" {
		return nil, invalid("cluster %s has no backup custodians and this node has no share directory: the backup's domain key share would have nowhere to go; register custodian keys first", cl.ID)
	}
	dk, err := s.cfg.HSM.DomainKeyForBackup()
	if err != nil {
		return nil, err
	}
	defer dk.Zeroize()
	snap, index, err := s.cfg.Snapshotter.SnapshotData()
	if err != nil {
		return nil, fmt.Errorf("cloudhsm: backup: %w", err)
	}
	defer clear(snap)

	id := newID("backup-")
	now := s.now()
	in := backup.WriteInput{BackupID: id, ClusterID: cl.ID, Region: cl.Region, Created: now, StateIndex: index,
		Snapshot: snap, DomainKey: dk, Progress: p}
	for _, c := range cl.Custodians {
		in.Custodians = append(in.Custodians, backup.CustodianKey{Name: c.Name, PublicKeyPEM: c.PublicKeyPEM})
	}
	if len(in.Custodians) > 0 {
		in.Threshold = cl.CustodianThreshold
	}
	var buf bytes.Buffer
	res, shares, err := backup.Write(&buf, in)
	if err != nil {
		return nil, fmt.Errorf("cloudhsm: backup: %w", err)
	}
	rec := &backupRec{
		ID: id, Region: cl.Region, Account: cl.Account, ClusterID: cl.ID, State: BackupReady, Created: now,
		HsmType: cl.HsmType, Mode: cl.Mode, Reason: reason, DomainKeyID: res.Header.DomainKeyID,
		StateIndex: index, Size: res.Size, ClusterCert: cl.ClusterCert, TrustAnchor: cl.TrustAnchor,
		Lineage: cl.lineage(), ArchiveID: id, Threshold: res.Header.Custodians.Threshold, Total: res.Header.Custodians.Total,
	}
	if len(shares) > 0 {
		if len(shares) != 1 {
			return nil, chErr(CodeInternal, "backup: %d offline shares, want 1", len(shares))
		}
		if err := writeSecretFile(s.ShareFile(id), []byte(shares[0]+"\n")); err != nil {
			return nil, fmt.Errorf("cloudhsm: backup: writing the offline share: %w", err)
		}
		rec.OfflineShare = true
	}
	if err := s.cfg.Store.Put(ctx, cl.Region, id, &buf); err != nil {
		s.removeBackupFiles(context.WithoutCancel(ctx), rec)
		return nil, fmt.Errorf("cloudhsm: backup: storing the archive: %w", err)
	}
	if err := s.propose(ctx, cmdPutBackup, putBackupCmd{Backup: rec}); err != nil {
		s.removeBackupFiles(context.WithoutCancel(ctx), rec)
		return nil, err
	}
	rec.Revision = 1
	s.cfg.Logger.Info("cloudhsm: backup created", "backup", id, "cluster", cl.ID, "reason", reason, "bytes", res.Size)
	v := backupView(rec)
	return &v, nil
}

// writeSecretFile writes data to path with mode 0600 (directory 0700), atomically, and
// refuses to replace an existing file.
func writeSecretFile(path string, data []byte) (err error) {
	if path == "" {
		return errors.New("no share directory")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	fsutil.SyncDir(dir) // best effort: the file is complete either way
	return nil
}

// removeBackupFiles deletes a backup's archive and offline share; missing files are fine.
func (s *Service) removeBackupFiles(ctx context.Context, b *backupRec) {
	if s.cfg.Store != nil {
		if err := s.cfg.Store.Delete(ctx, b.Region, b.ID); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.cfg.Logger.Warn("cloudhsm: removing a backup archive", "backup", b.ID, "err", err)
		}
	}
	if b.OfflineShare {
		if p := s.ShareFile(b.ID); p != "" {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.cfg.Logger.Warn("cloudhsm: removing a backup share", "backup", b.ID, "err", err)
			}
		}
	}
}

// readArchive reads and parses a backup's archive from the store and checks that it is
// the archive the record describes. The archive is not authenticated yet (Open does).
func (s *Service) readArchive(ctx context.Context, b *backupRec) (*backup.Archive, error) {
	_, a, err := s.loadArchive(ctx, b)
	return a, err
}

// loadArchive is readArchive that also returns the archive's bytes.
func (s *Service) loadArchive(ctx context.Context, b *backupRec) ([]byte, *backup.Archive, error) {
	if s.cfg.Store == nil {
		return nil, nil, invalid("backups are disabled on this node: no backup store is configured")
	}
	rc, err := s.cfg.Store.Get(ctx, b.Region, b.ID)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, invalid("the archive of backup %s is missing from the backup store", b.ID)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cloudhsm: reading backup %s: %w", b.ID, err)
	}
	defer rc.Close()
	// Bounded by the format's own limits; Read re-checks every length.
	data, err := io.ReadAll(io.LimitReader(rc, int64(len(backup.Magic))+13+backup.MaxHeaderSize+backup.MaxPayloadSize+32+1))
	if err != nil {
		return nil, nil, fmt.Errorf("cloudhsm: reading backup %s: %w", b.ID, err)
	}
	a, err := backup.Read(bytes.NewReader(data))
	if errors.Is(err, backup.ErrFormat) {
		return nil, nil, invalid("the archive of backup %s is damaged: %v", b.ID, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cloudhsm: reading backup %s: %w", b.ID, err)
	}
	if a.Header.BackupID != b.archiveID() || a.Header.DomainKeyID != b.DomainKeyID {
		return nil, nil, invalid("the archive stored as backup %s is another backup (%s, domain key %s)", b.ID, clip(a.Header.BackupID), a.Header.DomainKeyID)
	}
	return data, a, nil
}

// ---- API operations ----

// DescribeBackups lists the backups of the caller's region, newest first (oldest first
// with SortAscending), filtered by backupIds, sourceBackupIds, clusterIds, states and
// neverExpires ("true"/"false"). With Shared, it lists the backups other accounts share
// with the caller: none.
func (s *Service) DescribeBackups(ctx context.Context, c Caller, in DescribeBackupsInput) (*DescribeBackupsOutput, error) {
	max, err := pageSize(in.MaxResults, 50, "MaxResults")
	if err != nil {
		return nil, err
	}
	if len(in.Filters) > 30 {
		return nil, invalid("Filters: at most 30 filters")
	}
	for k, vals := range in.Filters {
		switch k {
		case "backupIds", "sourceBackupIds", "clusterIds", "states":
		case "neverExpires":
			for _, v := range vals {
				if _, err := strconv.ParseBool(v); err != nil {
					return nil, invalid("Filters: neverExpires takes true or false, not %q", clip(v))
				}
			}
		default:
			return nil, invalid("Filters: unknown filter %q; DescribeBackups filters by backupIds, sourceBackupIds, clusterIds, states and neverExpires", clip(k))
		}
	}
	if in.Shared != nil && *in.Shared {
		// Backups shared with the caller by other accounts: Coffer does not share backups
		// across accounts, so there are none (AWS answers an empty list too). NextToken is
		// checked all the same.
		if _, _, err := paginate([]Backup(nil), in.NextToken, max); err != nil {
			return nil, err
		}
		return &DescribeBackupsOutput{Backups: []Backup{}}, nil
	}
	s.mu.RLock()
	var recs []*backupRec
	for _, b := range s.backups {
		if b.Region == c.Region {
			recs = append(recs, b.clone())
		}
	}
	s.mu.RUnlock()
	sort.Slice(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created) == in.SortAscending
		}
		return (a.ID < b.ID) == in.SortAscending
	})
	var all []Backup
	for _, b := range recs {
		if match(in.Filters, "backupIds", b.ID) && match(in.Filters, "sourceBackupIds", b.SourceBackup) &&
			match(in.Filters, "clusterIds", b.ClusterID) && match(in.Filters, "states", b.State) && matchBool(in.Filters, "neverExpires", b.NeverExpires) {
			all = append(all, backupView(b))
		}
	}
	page, next, err := paginate(all, in.NextToken, max)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []Backup{}
	}
	return &DescribeBackupsOutput{Backups: page, NextToken: next}, nil
}

func matchBool(f map[string][]string, key string, v bool) bool {
	vals, ok := f[key]
	if !ok {
		return true
	}
	for _, x := range vals {
		if b, err := strconv.ParseBool(x); err == nil && b == v {
			return true
		}
	}
	return false
}

// DeleteBackup marks a READY backup PENDING_DELETION. It can be restored (RestoreBackup)
// for 7 days; then Tick deletes it for good.
func (s *Service) DeleteBackup(ctx context.Context, c Caller, in BackupIDInput) (*BackupOutput, error) {
	b, err := s.updateBackup(ctx, c.Region, in.BackupId, func(b *backupRec) error {
		if b.State != BackupReady {
			return invalid("backup %s is %s; only a READY backup can be deleted", b.ID, b.State)
		}
		b.State, b.Deleted = BackupPendingDeletion, s.now()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &BackupOutput{Backup: backupView(b)}, nil
}

// RestoreBackup brings a PENDING_DELETION backup back to READY.
func (s *Service) RestoreBackup(ctx context.Context, c Caller, in BackupIDInput) (*BackupOutput, error) {
	b, err := s.updateBackup(ctx, c.Region, in.BackupId, func(b *backupRec) error {
		if b.State != BackupPendingDeletion {
			return invalid("backup %s is %s; only a backup PENDING_DELETION can be restored", b.ID, b.State)
		}
		b.State, b.Deleted = BackupReady, time.Time{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &BackupOutput{Backup: backupView(b)}, nil
}

// ModifyBackupAttributes sets NeverExpires: such a backup is exempt from retention.
func (s *Service) ModifyBackupAttributes(ctx context.Context, c Caller, in ModifyBackupAttributesInput) (*BackupOutput, error) {
	if in.NeverExpires == nil {
		return nil, invalid("NeverExpires is required (true or false)")
	}
	b, err := s.updateBackup(ctx, c.Region, in.BackupId, func(b *backupRec) error {
		if b.State == BackupDeleted {
			return invalid("backup %s is deleted", b.ID)
		}
		if b.NeverExpires == *in.NeverExpires {
			return errNoChange
		}
		b.NeverExpires = *in.NeverExpires
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &BackupOutput{Backup: backupView(b)}, nil
}

// CopyBackupToRegion copies a READY backup of the caller's region to DestinationRegion: a
// new backup id there, the archive copied byte for byte (its header keeps the source id),
// and the offline share file copied too. The copy's tags are TagList, or the source's
// tags when TagList is absent. Retention never deletes copies.
func (s *Service) CopyBackupToRegion(ctx context.Context, c Caller, in CopyBackupToRegionInput) (*CopyBackupToRegionOutput, error) {
	if !regionRE.MatchString(in.DestinationRegion) || !backup.ValidRegion(in.DestinationRegion) {
		return nil, invalid("DestinationRegion %q is not a valid region", clip(in.DestinationRegion))
	}
	src, err := s.getBackup(c.Region, in.BackupId)
	if err != nil {
		return nil, err
	}
	if src.State != BackupReady {
		return nil, invalid("backup %s is %s; only a READY backup can be copied", src.ID, src.State)
	}
	if in.DestinationRegion == src.Region {
		return nil, invalid("backup %s is already in %s; the destination region must be another region", src.ID, src.Region)
	}
	if err := checkTagListGiven(in.TagList); err != nil {
		return nil, err
	}
	tags := in.TagList
	if tags == nil {
		tags = src.Tags
	}
	if err := checkTags(tags, 0); err != nil {
		return nil, err
	}
	data, _, err := s.loadArchive(ctx, src)
	if err != nil {
		return nil, err
	}
	cp := src.clone()
	cp.ID, cp.Region, cp.Revision = newID("backup-"), in.DestinationRegion, 0
	cp.Copied = s.now()
	cp.SourceRegion, cp.SourceBackup, cp.SourceCluster = src.Region, src.ID, src.ClusterID
	cp.Tags = append([]Tag(nil), tags...)
	cp.Policy, cp.NeverExpires, cp.Deleted = "", false, time.Time{}
	cp.ArchiveID = src.archiveID()
	cp.OfflineShare = false
	if src.OfflineShare {
		if share, err := os.ReadFile(s.ShareFile(src.ID)); err == nil {
			err = writeSecretFile(s.ShareFile(cp.ID), share)
			clear(share)
			if err != nil {
				return nil, fmt.Errorf("cloudhsm: copying the offline share of %s: %w", src.ID, err)
			}
			cp.OfflineShare = true
		} else {
			s.cfg.Logger.Warn("cloudhsm: the offline share of a copied backup is not in the share directory; the copy needs the source's share", "backup", src.ID, "err", err)
		}
	}
	if err := s.cfg.Store.Put(ctx, cp.Region, cp.ID, bytes.NewReader(data)); err != nil {
		s.removeBackupFiles(context.WithoutCancel(ctx), cp)
		return nil, fmt.Errorf("cloudhsm: copying backup %s: %w", src.ID, err)
	}
	if err := s.propose(ctx, cmdPutBackup, putBackupCmd{Backup: cp}); err != nil {
		s.removeBackupFiles(context.WithoutCancel(ctx), cp)
		return nil, err
	}
	return &CopyBackupToRegionOutput{DestinationBackup: DestinationBackup{
		CreateTimestamp: epochPtr(src.Created), SourceRegion: src.Region, SourceBackup: src.ID, SourceCluster: src.ClusterID,
	}}, nil
}

// ---- Tick ----

// Tick runs the periodic work: clusters CREATE_IN_PROGRESS become UNINITIALIZED; each
// initialized cluster with an HSM on this node, whose HSM core is ACTIVE and whose newest
// READY backup is older than Config.BackupInterval (or which has none), is backed up;
// retention marks expired backups PENDING_DELETION (backup.Expired: never a cluster's
// newest, never NeverExpires backups, never copies), restorable for 7 days like deleted
// ones, and purges PENDING_DELETION backups older than 7 days (backup.PurgeDue): those
// become DELETED and lose their archive and share.
func (s *Service) Tick(ctx context.Context) error {
	errs := []error{s.settle(ctx), s.scheduledBackups(ctx), s.applyRetention(ctx)}
	return errors.Join(errs...)
}

// Run calls Tick every interval until ctx ends. Errors are logged, not fatal; a node that
// is not the raft leader skips the work quietly.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := s.Tick(ctx)
			switch {
			case err == nil:
			case state.IsNotLeader(err):
				s.cfg.Logger.Debug("cloudhsm scheduler: not the leader", "err", err)
			default:
				s.cfg.Logger.Warn("cloudhsm scheduler", "err", err)
			}
		}
	}
}

func (s *Service) scheduledBackups(ctx context.Context) error {
	if s.cfg.Store == nil || s.coreState() != hsm.StateActive {
		return nil
	}
	now := s.now()
	s.mu.RLock()
	var due []string
	for _, c := range s.clusters {
		if c.State != ClusterInitialized || !s.hasLocalHsm(c) || s.view(c).State == ClusterDegraded {
			continue
		}
		var newest *backupRec
		for _, b := range s.backups {
			if b.ClusterID == c.ID && b.Region == c.Region && b.State == BackupReady && !b.copied() &&
				(newest == nil || b.Created.After(newest.Created)) {
				newest = b
			}
		}
		if newest == nil || now.Sub(newest.Created) >= s.cfg.BackupInterval {
			due = append(due, c.ID)
		}
	}
	s.mu.RUnlock()
	sort.Strings(due)
	var errs []error
	for _, id := range due {
		if _, err := s.CreateBackup(ctx, id, "scheduled"); err != nil {
			errs = append(errs, fmt.Errorf("scheduled backup of %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) applyRetention(ctx context.Context) error {
	now := s.now()
	s.mu.RLock()
	var expired []string
	for _, c := range s.clusters {
		var infos []backup.BackupInfo
		for _, b := range s.backups {
			if b.ClusterID == c.ID {
				infos = append(infos, b.info())
			}
		}
		sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
		expired = append(expired, backup.Expired(infos, now, c.RetentionDays)...)
	}
	var all []backup.BackupInfo
	for _, b := range s.backups {
		all = append(all, b.info())
	}
	s.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	purge := backup.PurgeDue(all, now)
	sort.Strings(expired)

	var errs []error
	for _, id := range expired {
		errs = append(errs, s.expire(ctx, id))
	}
	for _, id := range purge {
		errs = append(errs, s.finalDelete(ctx, id, "purge", func(b *backupRec) bool {
			return b.State == BackupPendingDeletion
		}))
	}
	return errors.Join(errs...)
}

// expire marks a backup the retention policy expired PENDING_DELETION, as DeleteBackup
// does: as on AWS, a backup the service purges can be restored (RestoreBackup) for 7
// days, and its archive and share stay until then.
func (s *Service) expire(ctx context.Context, id string) error {
	changed := false
	_, err := s.updateBackup(ctx, "", id, func(b *backupRec) error {
		if b.State != BackupReady || b.NeverExpires || b.copied() {
			return errNoChange
		}
		b.State, b.Deleted = BackupPendingDeletion, s.now()
		changed = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("retention of backup %s: %w", id, err)
	}
	if changed {
		s.cfg.Logger.Info("cloudhsm: backup expired: pending deletion", "backup", id, "by", "retention")
	}
	return nil
}

// finalDelete makes a backup DELETED (if still eligible) and removes its files.
func (s *Service) finalDelete(ctx context.Context, id, why string, eligible func(*backupRec) bool) error {
	changed := false
	b, err := s.updateBackup(ctx, "", id, func(b *backupRec) error {
		if !eligible(b) {
			return errNoChange
		}
		if b.State != BackupPendingDeletion {
			b.Deleted = s.now()
		}
		b.State = BackupDeleted
		changed = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s of backup %s: %w", why, id, err)
	}
	if changed {
		s.removeBackupFiles(ctx, b)
		s.cfg.Logger.Info("cloudhsm: backup deleted", "backup", id, "by", why)
	}
	return nil
}

// sourceBackup resolves CreateCluster's SourceBackupId (a backup id or ARN) to a READY
// backup of the caller's region.
func (s *Service) sourceBackup(c Caller, ref string) (*backupRec, error) {
	id := ref
	if strings.HasPrefix(ref, "arn:") {
		region, account, bid, err := parseBackupARN(ref, "SourceBackupId")
		if err != nil {
			return nil, err
		}
		if region != c.Region {
			return nil, invalid("SourceBackupId names a backup in %s; a cluster is restored from a backup of its own region (%s): copy it first (CopyBackupToRegion)", region, c.Region)
		}
		if account != c.Account {
			return nil, notFound("backup %s not found", bid)
		}
		id = bid
	}
	b, err := s.getBackup(c.Region, id)
	if err != nil {
		return nil, err
	}
	if b.State != BackupReady {
		return nil, invalid("backup %s is %s; a cluster is created only from a READY backup", b.ID, b.State)
	}
	return b, nil
}
