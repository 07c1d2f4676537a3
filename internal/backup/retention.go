package backup

import (
	"fmt"
	"time"
)

// Backup states, as CloudHSM's.
const (
	StateCreateInProgress = "CREATE_IN_PROGRESS"
	StateReady            = "READY"
	StatePendingDeletion  = "PENDING_DELETION"
	StateDeleted          = "DELETED"
)

// Retention bounds in days, as CloudHSM's backup retention policy.
const (
	MinRetentionDays = 7
	MaxRetentionDays = 379
	// PendingDeletionPeriod is how long a deleted backup stays restorable
	// (PENDING_DELETION) before it is purged.
	PendingDeletionPeriod = 7 * 24 * time.Hour
)

// BackupInfo is what retention decisions need to know about a backup.
type BackupInfo struct {
	ID             string
	ClusterID      string
	Created        time.Time
	NeverExpires   bool
	Copied         bool      // a copy from another region
	SourceBackupID string    // set for copies; either this or Copied marks a copy
	State          string    // StateReady, ...; "" counts as StateReady
	Deleted        time.Time // when it entered PENDING_DELETION
}

func (b BackupInfo) copied() bool { return b.Copied || b.SourceBackupID != "" }

func (b BackupInfo) ready() bool { return b.State == StateReady || b.State == "" }

// ValidateRetention checks a retention period in days (7 to 379).
func ValidateRetention(days int) error {
	if days < MinRetentionDays || days > MaxRetentionDays {
		return fmt.Errorf("backup: retention period %d days is out of range: it must be %d to %d days",
			days, MinRetentionDays, MaxRetentionDays)
	}
	return nil
}

// Expired returns the IDs of the backups that the retention policy deletes
// at now, in input order. A READY backup expires when it is strictly older
// than retentionDays*24h (a backup exactly retentionDays old is kept),
// except:
//   - each cluster's most recent READY, non-copied backup (ties: all of
//     them) is never deleted;
//   - backups with NeverExpires;
//   - copied backups, to which retention does not apply.
//
// Backups in other states (CREATE_IN_PROGRESS, PENDING_DELETION, DELETED)
// are neither expired nor counted as a cluster's latest. With an invalid
// retentionDays (see ValidateRetention) Expired returns nil: a bad setting
// never deletes anything.
func Expired(backups []BackupInfo, now time.Time, retentionDays int) []string {
	if ValidateRetention(retentionDays) != nil {
		return nil
	}
	latest := map[string]time.Time{}
	for _, b := range backups {
		if b.ready() && !b.copied() {
			if t, ok := latest[b.ClusterID]; !ok || b.Created.After(t) {
				latest[b.ClusterID] = b.Created
			}
		}
	}
	period := time.Duration(retentionDays) * 24 * time.Hour
	var out []string
	for _, b := range backups {
		switch {
		case !b.ready(), b.NeverExpires, b.copied():
		case b.Created.Equal(latest[b.ClusterID]):
		case now.Sub(b.Created) > period:
			out = append(out, b.ID)
		}
	}
	return out
}

// PurgeDue returns the IDs of PENDING_DELETION backups whose deletion is
// strictly older than PendingDeletionPeriod (7 days) at now, in input order.
// A backup with no recorded deletion time is never purged.
func PurgeDue(backups []BackupInfo, now time.Time) []string {
	var out []string
	for _, b := range backups {
		if b.State == StatePendingDeletion && !b.Deleted.IsZero() && now.Sub(b.Deleted) > PendingDeletionPeriod {
			out = append(out, b.ID)
		}
	}
	return out
}
