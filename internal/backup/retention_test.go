package backup

import (
	"slices"
	"testing"
	"time"
)

func TestValidateRetention(t *testing.T) {
	for days, ok := range map[int]bool{-1: false, 0: false, 6: false, 7: true, 90: true, 379: true, 380: false} {
		if err := ValidateRetention(days); (err == nil) != ok {
			t.Errorf("ValidateRetention(%d) = %v", days, err)
		}
	}
}

func TestExpired(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	b := func(id string, age time.Duration) BackupInfo {
		return BackupInfo{ID: id, ClusterID: "cluster-a", Created: ago(age), State: StateReady}
	}
	with := func(x BackupInfo, f func(*BackupInfo)) BackupInfo { f(&x); return x }

	tests := []struct {
		name    string
		backups []BackupInfo
		days    int
		want    []string
	}{
		{"none", nil, 7, nil},
		{"all young", []BackupInfo{b("b1", 1*day), b("b2", 6*day)}, 7, nil},
		{"old ones expire", []BackupInfo{b("b1", 30*day), b("b2", 10*day), b("b3", 1*day)}, 7, []string{"b1", "b2"}},
		{"latest never deleted", []BackupInfo{b("b1", 400*day), b("b2", 300*day)}, 7, []string{"b1"}},
		{"only backup kept", []BackupInfo{b("b1", 1000*day)}, 7, nil},
		{"boundary: exactly N days kept", []BackupInfo{b("b1", 7*day), b("b2", 7*day+time.Nanosecond), b("b3", 0)}, 7, []string{"b2"}},
		{"boundary 379", []BackupInfo{b("b1", 379*day), b("b2", 379*day+time.Second), b("b3", 0)}, 379, []string{"b2"}},
		{"never expires", []BackupInfo{with(b("b1", 100*day), func(x *BackupInfo) { x.NeverExpires = true }), b("b2", 50*day), b("b3", 0)}, 7, []string{"b2"}},
		{"copies have no retention", []BackupInfo{
			with(b("b1", 100*day), func(x *BackupInfo) { x.Copied = true }),
			with(b("b2", 100*day), func(x *BackupInfo) { x.SourceBackupID = "backup-sourcesource" }),
			b("b3", 100*day), b("b4", 0)}, 7, []string{"b3"}},
		{"a copy is not the latest", []BackupInfo{with(b("b1", 0), func(x *BackupInfo) { x.Copied = true }), b("b2", 100*day)}, 7, nil},
		{"pending deletion is not the latest", []BackupInfo{
			b("b1", 100*day), with(b("b2", 1*day), func(x *BackupInfo) { x.State = StatePendingDeletion })}, 7, nil},
		{"in progress is not the latest and does not expire", []BackupInfo{
			b("b1", 100*day), b("b2", 50*day), with(b("b3", 200*day), func(x *BackupInfo) { x.State = StateCreateInProgress })}, 7, []string{"b1"}},
		{"per cluster latest", []BackupInfo{
			b("a1", 100*day), b("a2", 90*day),
			with(b("c1", 100*day), func(x *BackupInfo) { x.ClusterID = "cluster-c" }),
			with(b("c2", 200*day), func(x *BackupInfo) { x.ClusterID = "cluster-c" })}, 7, []string{"a1", "c2"}},
		{"empty state counts as ready", []BackupInfo{with(b("b1", 100*day), func(x *BackupInfo) { x.State = "" }), b("b2", 0)}, 7, []string{"b1"}},
		{"invalid retention deletes nothing", []BackupInfo{b("b1", 1000*day), b("b2", 0)}, 0, nil},
		{"invalid retention deletes nothing (too long)", []BackupInfo{b("b1", 1000*day), b("b2", 0)}, 380, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Expired(tc.backups, now, tc.days); !slices.Equal(got, tc.want) {
				t.Fatalf("Expired = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPurgeDue(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	backups := []BackupInfo{
		{ID: "p1", State: StatePendingDeletion, Created: now.Add(-400 * day), Deleted: now.Add(-8 * day)},
		{ID: "p2", State: StatePendingDeletion, Created: now.Add(-400 * day), Deleted: now.Add(-7 * day)}, // exactly 7 days: kept
		{ID: "p3", State: StatePendingDeletion, Created: now.Add(-400 * day), Deleted: now.Add(-7*day - time.Second)},
		{ID: "p4", State: StatePendingDeletion, Created: now.Add(-400 * day)}, // unknown deletion time: kept
		{ID: "r1", State: StateReady, Created: now.Add(-400 * day), Deleted: now.Add(-30 * day)},
		{ID: "d1", State: StateDeleted, Created: now.Add(-400 * day), Deleted: now.Add(-30 * day)},
	}
	if got := PurgeDue(backups, now); !slices.Equal(got, []string{"p1", "p3"}) {
		t.Fatalf("PurgeDue = %v", got)
	}
}
