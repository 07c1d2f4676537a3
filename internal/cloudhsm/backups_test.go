package cloudhsm

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/backup"
)

func ids(bs []Backup) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.BackupId)
	}
	return out
}

func (e *testEnv) archiveExists(region, id string) bool {
	e.t.Helper()
	rc, err := e.bstore.Get(e.ctx, region, id)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	rc.Close()
	return true
}

func fileExists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func TestCreateAndDescribeBackups(t *testing.T) {
	e := newTestEnv(t)
	cl := e.activeCluster(CreateClusterInput{})
	var made []string
	for i := range 3 {
		var done, total int64
		b, err := e.s.CreateBackupWithProgress(e.ctx, cl.ClusterId, "test", func(d, t int64) { done, total = d, t })
		if err != nil {
			t.Fatal(err)
		}
		if done != total || total == 0 {
			t.Fatalf("progress %d/%d", done, total)
		}
		if b.BackupState != BackupReady || b.ClusterId != cl.ClusterId || b.HsmType != HsmType2 || b.Mode != ModeFIPS ||
			!time.Time(*b.CreateTimestamp).Equal(e.clock.Now()) || b.BackupArn != "arn:aws:cloudhsm:us-east-1:"+testAcct+":backup/"+b.BackupId {
			t.Fatalf("backup %d: %+v", i, b)
		}
		made = append(made, b.BackupId)
		e.clock.Add(time.Hour)
	}
	// The archive is in the store under the region, the offline share next to it, 0600,
	// and the two restore the whole state.
	id := made[0]
	if !e.archiveExists("us-east-1", id) {
		t.Fatal("archive not stored")
	}
	fi, err := os.Stat(e.s.ShareFile(id))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("share file: %v %v", err, fi)
	}
	raw, _ := os.ReadFile(e.s.ShareFile(id))
	share, dkID, err := backup.ParseShare(string(raw))
	if err != nil || dkID != e.h.Status().DomainKeyID {
		t.Fatalf("share: %v %s", err, dkID)
	}
	rec, _ := e.s.getBackup("", id)
	a, err := e.s.readArchive(e.ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if a.Header.ClusterID != cl.ClusterId || a.Header.Region != "us-east-1" || a.Header.Custodians.Threshold != 1 || !a.Header.Custodians.Offline() {
		t.Fatalf("header: %+v", a.Header)
	}
	snap, dk, err := a.Open([][]byte{share})
	if err != nil {
		t.Fatal(err)
	}
	dk.Zeroize()
	if !strings.Contains(string(snap), `"hsm"`) || !strings.Contains(string(snap), `"cloudhsm"`) {
		t.Fatalf("snapshot lacks parts: %.200s", snap)
	}
	if rec.ClusterCert == "" || rec.TrustAnchor == "" || rec.Lineage != cl.ClusterId || !rec.OfflineShare {
		t.Fatalf("record: %+v", rec)
	}

	// Newest first by default, oldest first with SortAscending.
	if got := ids(e.backups(DescribeBackupsInput{})); !slices.Equal(got, []string{made[2], made[1], made[0]}) {
		t.Fatalf("default order %v, made %v", got, made)
	}
	if got := ids(e.backups(DescribeBackupsInput{SortAscending: true})); !slices.Equal(got, made) {
		t.Fatalf("ascending %v", got)
	}
	// Paging through one at a time.
	var paged []string
	tok := ""
	for {
		out, err := e.s.DescribeBackups(e.ctx, e.c, DescribeBackupsInput{SortAscending: true, MaxResults: intp(1), NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, ids(out.Backups)...)
		if tok = out.NextToken; tok == "" {
			break
		}
	}
	if !slices.Equal(paged, made) {
		t.Fatalf("paged %v", paged)
	}
	// Filters.
	if _, err := e.s.ModifyBackupAttributes(e.ctx, e.c, ModifyBackupAttributesInput{BackupId: made[1], NeverExpires: boolp(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DeleteBackup(e.ctx, e.c, BackupIDInput{BackupId: made[0]}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    map[string][]string
		want []string
	}{
		{map[string][]string{"backupIds": {made[0], made[2]}}, []string{made[0], made[2]}},
		{map[string][]string{"clusterIds": {cl.ClusterId}}, made},
		{map[string][]string{"clusterIds": {"cluster-aaaaaaaaaaa"}}, nil},
		{map[string][]string{"states": {BackupReady}}, made[1:]},
		{map[string][]string{"states": {BackupPendingDeletion}}, made[:1]},
		{map[string][]string{"neverExpires": {"true"}}, made[1:2]},
		{map[string][]string{"neverExpires": {"false"}, "states": {BackupReady}}, made[2:]},
		{map[string][]string{"sourceBackupIds": {made[0]}}, nil},
	} {
		if got := ids(e.backups(DescribeBackupsInput{Filters: tc.f, SortAscending: true})); !slices.Equal(got, tc.want) {
			t.Errorf("filter %v: %v, want %v", tc.f, got, tc.want)
		}
	}
	// Another region sees none of them.
	other := e.c
	other.Region = "eu-west-1"
	if out, err := e.s.DescribeBackups(e.ctx, other, DescribeBackupsInput{}); err != nil || len(out.Backups) != 0 || out.Backups == nil {
		t.Fatalf("other region: %v %+v", err, out)
	}
	_, err = e.s.ModifyBackupAttributes(e.ctx, e.c, ModifyBackupAttributesInput{BackupId: made[1]})
	wantErr(t, err, CodeInvalidRequest, "NeverExpires is required")
}

func TestDeleteRestoreAndPurge(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.BackupInterval = 1000 * time.Hour })
	cl := e.activeCluster(CreateClusterInput{})
	b1, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "one")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	if _, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "two"); err != nil {
		t.Fatal(err)
	}
	del, err := e.s.DeleteBackup(e.ctx, e.c, BackupIDInput{BackupId: b1.BackupId})
	if err != nil || del.Backup.BackupState != BackupPendingDeletion || del.Backup.DeleteTimestamp == nil ||
		!time.Time(*del.Backup.DeleteTimestamp).Equal(e.clock.Now()) {
		t.Fatalf("DeleteBackup: %v %+v", err, del)
	}
	_, err = e.s.DeleteBackup(e.ctx, e.c, BackupIDInput{BackupId: b1.BackupId})
	wantErr(t, err, CodeInvalidRequest, "only a READY backup")
	res, err := e.s.RestoreBackup(e.ctx, e.c, BackupIDInput{BackupId: b1.BackupId})
	if err != nil || res.Backup.BackupState != BackupReady || res.Backup.DeleteTimestamp != nil {
		t.Fatalf("RestoreBackup: %v %+v", err, res)
	}
	_, err = e.s.RestoreBackup(e.ctx, e.c, BackupIDInput{BackupId: b1.BackupId})
	wantErr(t, err, CodeInvalidRequest, "PENDING_DELETION")

	// Deleted again: kept for 7 days, then purged with its archive and share.
	if _, err := e.s.DeleteBackup(e.ctx, e.c, BackupIDInput{BackupId: b1.BackupId}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(7 * 24 * time.Hour)
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.backupState(b1.BackupId).BackupState; st != BackupPendingDeletion {
		t.Fatalf("purged at exactly 7 days: %s", st)
	}
	e.clock.Add(time.Second)
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.backupState(b1.BackupId); got.BackupState != BackupDeleted || got.DeleteTimestamp == nil {
		t.Fatalf("after 7 days: %+v", got)
	}
	if e.archiveExists("us-east-1", b1.BackupId) || fileExists(t, e.s.ShareFile(b1.BackupId)) {
		t.Fatal("purged backup's archive or share still exists")
	}
	_, err = e.s.RestoreBackup(e.ctx, e.c, BackupIDInput{BackupId: b1.BackupId})
	wantErr(t, err, CodeInvalidRequest, "DELETED")
}

func TestRetention(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.BackupInterval = 1000 * time.Hour })
	cl := e.activeCluster(CreateClusterInput{BackupRetentionPolicy: &BackupRetentionPolicy{Type: "DAYS", Value: "7"}})
	var made []string
	for range 4 {
		b, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "test")
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, b.BackupId)
		e.clock.Add(24 * time.Hour)
	}
	// made[1] never expires; made[0] is copied to another region.
	if _, err := e.s.ModifyBackupAttributes(e.ctx, e.c, ModifyBackupAttributesInput{BackupId: made[1], NeverExpires: boolp(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CopyBackupToRegion(e.ctx, e.c, CopyBackupToRegionInput{BackupId: made[0], DestinationRegion: "us-west-2"}); err != nil {
		t.Fatal(err)
	}
	west := e.c
	west.Region = "us-west-2"
	copies, _ := e.s.DescribeBackups(e.ctx, west, DescribeBackupsInput{})
	if len(copies.Backups) != 1 {
		t.Fatalf("copies: %+v", copies)
	}
	cp := copies.Backups[0].BackupId

	// made[0] is 7 days old minus nothing: exactly the period is kept.
	e.clock.Add(3 * 24 * time.Hour) // now = created(made[0]) + 7 days
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.backupState(made[0]).BackupState; st != BackupReady {
		t.Fatalf("backup exactly 7 days old: %s", st)
	}
	// 10 days later every backup is older than 7 days: only the copy, the NeverExpires
	// backup and the cluster's newest backup stay READY. The expired ones are
	// PENDING_DELETION, as on AWS ("You can restore backups the service purges just as
	// you would restore manually deleted backups"), with their archive and share.
	e.clock.Add(10 * 24 * time.Hour)
	expiredAt := e.clock.Now()
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	checkStates := func(want map[string]string) {
		t.Helper()
		for id, st := range want {
			got := e.backupState(id)
			if got.BackupState != st {
				t.Errorf("%s: %s, want %s", id, got.BackupState, st)
			}
			region := "us-east-1"
			if id == cp {
				region = "us-west-2"
			}
			if exists := e.archiveExists(region, id); exists != (st != BackupDeleted) {
				t.Errorf("%s (%s): archive exists %v", id, st, exists)
			}
			if exists := fileExists(t, e.s.ShareFile(id)); exists != (st != BackupDeleted) {
				t.Errorf("%s (%s): share exists %v", id, st, exists)
			}
		}
	}
	checkStates(map[string]string{made[0]: BackupPendingDeletion, made[1]: BackupReady, made[2]: BackupPendingDeletion, made[3]: BackupReady, cp: BackupReady})
	if got := e.backupState(made[0]); got.DeleteTimestamp == nil || !time.Time(*got.DeleteTimestamp).Equal(expiredAt) {
		t.Errorf("expired backup's DeleteTimestamp: %+v", got)
	}
	// An expired backup is restored like a deleted one (after the retention period is
	// raised, as AWS advises, or the next run expires it again).
	if _, err := e.s.ModifyCluster(e.ctx, e.c, ModifyClusterInput{ClusterId: cl.ClusterId, BackupRetentionPolicy: &BackupRetentionPolicy{Type: "DAYS", Value: "379"}}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.s.RestoreBackup(e.ctx, e.c, BackupIDInput{BackupId: made[2]}); err != nil || res.Backup.BackupState != BackupReady {
		t.Fatalf("RestoreBackup of an expired backup: %v %+v", err, res)
	}
	// 7 days after it expired, the one left PENDING_DELETION is purged.
	e.clock.Add(7*24*time.Hour + time.Second)
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	checkStates(map[string]string{made[0]: BackupDeleted, made[1]: BackupReady, made[2]: BackupReady, made[3]: BackupReady, cp: BackupReady})
	// The copy still opens with its own share.
	rec, _ := e.s.getBackup("", cp)
	a, err := e.s.readArchive(e.ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(e.s.ShareFile(cp))
	share, _, err := backup.ParseShare(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, dk, err := a.Open([][]byte{share}); err != nil {
		t.Fatalf("copy does not open: %v", err)
	} else {
		dk.Zeroize()
	}
}

func TestScheduledBackups(t *testing.T) {
	e := newTestEnv(t)
	cl := e.activeCluster(CreateClusterInput{})
	count := func() int {
		return len(e.backups(DescribeBackupsInput{Filters: map[string][]string{"states": {BackupReady}}}))
	}
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("first tick: %d backups", n)
	}
	e.clock.Add(23 * time.Hour)
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("tick before the interval: %d backups", n)
	}
	e.clock.Add(time.Hour)
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("tick after the interval: %d backups", n)
	}
	// Removing an HSM from an initialized cluster takes a backup (before the removal),
	// and so does a new HSM, as on AWS.
	e.retireHsms(cl.ClusterId)
	if n := count(); n != 3 {
		t.Fatalf("after DeleteHsm: %d backups", n)
	}
	e.createHsm(cl.ClusterId)
	if n := count(); n != 4 {
		t.Fatalf("after CreateHsm: %d backups", n)
	}
	// No backups while the HSM core is not ACTIVE (zeroized).
	e.zeroize()
	e.clock.Add(48 * time.Hour)
	if err := e.s.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 4 {
		t.Fatalf("tick on a zeroized HSM: %d backups", n)
	}
	if st := e.describe(cl.ClusterId); st.State != ClusterDegraded || !strings.Contains(st.StateMessage, "zeroized") {
		t.Fatalf("zeroized cluster: %+v", st)
	}
}

func (e *testEnv) retireHsms(clusterID string) {
	e.t.Helper()
	for _, h := range e.describe(clusterID).Hsms {
		if _, err := e.s.DeleteHsm(e.ctx, e.c, DeleteHsmInput{ClusterId: clusterID, HsmId: h.HsmId}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func TestCopyBackupToRegion(t *testing.T) {
	e := newTestEnv(t)
	cl := e.activeCluster(CreateClusterInput{})
	b, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.TagResource(e.ctx, e.c, TagResourceInput{ResourceId: b.BackupId, TagList: []Tag{{Key: "env", Value: "prod"}}}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour)
	out, err := e.s.CopyBackupToRegion(e.ctx, e.c, CopyBackupToRegionInput{BackupId: b.BackupId, DestinationRegion: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	d := out.DestinationBackup
	if d.SourceBackup != b.BackupId || d.SourceRegion != "us-east-1" || d.SourceCluster != cl.ClusterId ||
		!time.Time(*d.CreateTimestamp).Equal(time.Time(*b.CreateTimestamp)) {
		t.Fatalf("DestinationBackup: %+v", d)
	}
	eu := e.c
	eu.Region = "eu-west-1"
	list, err := e.s.DescribeBackups(e.ctx, eu, DescribeBackupsInput{Filters: map[string][]string{"sourceBackupIds": {b.BackupId}}})
	if err != nil || len(list.Backups) != 1 {
		t.Fatalf("copies: %v %+v", err, list)
	}
	c := list.Backups[0]
	if c.BackupId == b.BackupId || c.BackupState != BackupReady || c.SourceRegion != "us-east-1" || c.SourceCluster != cl.ClusterId ||
		c.CopyTimestamp == nil || !time.Time(*c.CopyTimestamp).Equal(e.clock.Now()) || !strings.Contains(c.BackupArn, ":eu-west-1:") ||
		!slices.Equal(c.TagList, []Tag{{Key: "env", Value: "prod"}}) {
		t.Fatalf("copy: %+v", c)
	}
	if !e.archiveExists("eu-west-1", c.BackupId) || e.archiveExists("eu-west-1", b.BackupId) {
		t.Fatal("copied archive not in the destination region")
	}
	// Explicit tags replace the source's.
	out2, err := e.s.CopyBackupToRegion(e.ctx, e.c, CopyBackupToRegionInput{BackupId: b.BackupId, DestinationRegion: "eu-west-1", TagList: []Tag{{Key: "copy", Value: "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	_ = out2
	list, _ = e.s.DescribeBackups(e.ctx, eu, DescribeBackupsInput{SortAscending: true})
	if len(list.Backups) != 2 || !slices.Equal(list.Backups[1].TagList, []Tag{{Key: "copy", Value: "2"}}) && !slices.Equal(list.Backups[0].TagList, []Tag{{Key: "copy", Value: "2"}}) {
		t.Fatalf("second copy: %+v", list.Backups)
	}
	for _, tc := range []struct {
		in     CopyBackupToRegionInput
		c      Caller
		code   string
		substr string
	}{
		{CopyBackupToRegionInput{BackupId: b.BackupId, DestinationRegion: "us-east-1"}, e.c, CodeInvalidRequest, "another region"},
		{CopyBackupToRegionInput{BackupId: b.BackupId, DestinationRegion: "mars-1"}, e.c, CodeInvalidRequest, "not a valid region"},
		{CopyBackupToRegionInput{BackupId: b.BackupId, DestinationRegion: "eu-west-2"}, eu, CodeNotFound, "not found"},
		{CopyBackupToRegionInput{BackupId: b.BackupId, DestinationRegion: "eu-west-2", TagList: []Tag{{Key: "a:b!", Value: ""}}}, e.c, CodeTag, "characters"},
	} {
		_, err := e.s.CopyBackupToRegion(e.ctx, tc.c, tc.in)
		wantErr(t, err, tc.code, tc.substr)
	}
	if _, err := e.s.DeleteBackup(e.ctx, e.c, BackupIDInput{BackupId: b.BackupId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.CopyBackupToRegion(e.ctx, e.c, CopyBackupToRegionInput{BackupId: b.BackupId, DestinationRegion: "eu-west-2"})
	wantErr(t, err, CodeInvalidRequest, "only a READY backup")
}

func TestTags(t *testing.T) {
	e := newTestEnv(t)
	var many []Tag
	for i := range 47 {
		many = append(many, Tag{Key: "k" + string(rune('A'+i%26)) + string(rune('a'+i/26)), Value: "v"})
	}
	cl := e.createCluster(CreateClusterInput{TagList: many})
	id := cl.ClusterId
	tag := func(tags ...Tag) error {
		_, err := e.s.TagResource(e.ctx, e.c, TagResourceInput{ResourceId: id, TagList: tags})
		return err
	}
	for _, tc := range []struct {
		tags   []Tag
		substr string
	}{
		{[]Tag{{Key: "", Value: "v"}}, "1 to 128"},
		{[]Tag{{Key: strings.Repeat("k", 129), Value: "v"}}, "1 to 128"},
		{[]Tag{{Key: "x", Value: strings.Repeat("v", 257)}}, "at most 256"},
		{[]Tag{{Key: "bad*key", Value: "v"}}, "characters"},
		{[]Tag{{Key: "x", Value: "bad#value"}}, "characters"},
		{[]Tag{{Key: "aws:thing", Value: "v"}}, "reserved"},
		{[]Tag{{Key: "x", Value: "1"}, {Key: "x", Value: "2"}}, "twice"},
	} {
		wantErr(t, tag(tc.tags...), CodeTag, tc.substr)
	}
	// 128 and 256 characters are fine.
	if err := tag(Tag{Key: strings.Repeat("k", 128), Value: strings.Repeat("v", 256)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UntagResource(e.ctx, e.c, UntagResourceInput{ResourceId: id, TagKeyList: []string{strings.Repeat("k", 128)}}); err != nil {
		t.Fatal(err)
	}
	// 47 + 2 = 49; 2 more is over the limit; replacing a value is not a new tag.
	if err := tag(Tag{Key: "x", Value: "1"}, Tag{Key: "y", Value: "2"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, tag(Tag{Key: "z", Value: "1"}, Tag{Key: "w", Value: "2"}), CodeLimitExceeded, "at most 50")
	if err := tag(Tag{Key: "z", Value: "1"}, Tag{Key: many[0].Key, Value: "new"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, tag(Tag{Key: "w", Value: "1"}), CodeLimitExceeded, "at most 50")
	if err := tag(Tag{Key: "ключ", Value: "значение: a/b=c+d-e@f_g.h"}); err == nil {
		t.Fatal("51st tag accepted")
	}
	// Untag frees room; unknown keys are ignored.
	if _, err := e.s.UntagResource(e.ctx, e.c, UntagResourceInput{ResourceId: id, TagKeyList: []string{"x", many[1].Key, "absent"}}); err != nil {
		t.Fatal(err)
	}
	if err := tag(Tag{Key: "ключ", Value: "значение: a/b=c+d-e@f_g.h"}); err != nil {
		t.Fatalf("unicode tag: %v", err)
	}
	_, err := e.s.UntagResource(e.ctx, e.c, UntagResourceInput{ResourceId: id})
	wantErr(t, err, CodeInvalidRequest, "TagKeyList")
	_, err = e.s.TagResource(e.ctx, e.c, TagResourceInput{ResourceId: id})
	wantErr(t, err, CodeInvalidRequest, "TagList")
	_, err = e.s.TagResource(e.ctx, e.c, TagResourceInput{ResourceId: "vpc-0123456789", TagList: []Tag{{Key: "a"}}})
	wantErr(t, err, CodeInvalidRequest, "cluster or backup id")

	// ListTags pages through all 49 tags in order.
	var listed []Tag
	tok := ""
	for {
		out, err := e.s.ListTags(e.ctx, e.c, ListTagsInput{ResourceId: id, MaxResults: intp(20), NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, out.TagList...)
		if tok = out.NextToken; tok == "" {
			break
		}
	}
	if len(listed) != 49 || listed[0] != (Tag{Key: many[0].Key, Value: "new"}) || listed[48].Key != "ключ" || listed[47].Key != "z" {
		t.Fatalf("listed %d: %v", len(listed), listed)
	}
	for _, tg := range listed {
		if tg.Key == many[1].Key || tg.Key == "x" {
			t.Fatalf("untagged key %s still listed", tg.Key)
		}
	}
	_, err = e.s.ListTags(e.ctx, e.c, ListTagsInput{ResourceId: id, MaxResults: intp(101)})
	wantErr(t, err, CodeInvalidRequest, "MaxResults")
	other := e.c
	other.Region = "ap-south-1"
	_, err = e.s.ListTags(e.ctx, other, ListTagsInput{ResourceId: id})
	wantErr(t, err, CodeNotFound, "not found")
	// The cluster view shows the tags.
	if got := e.describe(id).TagList; len(got) != 49 {
		t.Fatalf("view tags: %d", len(got))
	}
}

func TestResourcePolicy(t *testing.T) {
	e := newTestEnv(t)
	cl := e.activeCluster(CreateClusterInput{})
	b, err := e.s.CreateBackup(e.ctx, cl.ClusterId, "test")
	if err != nil {
		t.Fatal(err)
	}
	arn := b.BackupArn
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["cloudhsm:CreateCluster","cloudhsm:DescribeBackups"],"Resource":"` + arn + `"}]}`
	for _, tc := range []struct {
		in     ResourcePolicyInput
		code   string
		substr string
	}{
		{ResourcePolicyInput{ResourceArn: arn, Policy: "not json"}, CodeInvalidRequest, "JSON"},
		{ResourcePolicyInput{ResourceArn: arn, Policy: `["a"]`}, CodeInvalidRequest, "JSON"},
		{ResourcePolicyInput{ResourceArn: arn, Policy: ""}, CodeInvalidRequest, "1 to 20000"},
		{ResourcePolicyInput{ResourceArn: arn, Policy: `{"a":"` + strings.Repeat("x", 20000) + `"}`}, CodeInvalidRequest, "1 to 20000"},
		{ResourcePolicyInput{ResourceArn: "arn:aws:cloudhsm:us-east-1:" + testAcct + ":cluster/" + cl.ClusterId, Policy: policy}, CodeInvalidRequest, "backups only"},
		{ResourcePolicyInput{ResourceArn: "backup-aaaaaaaaaaa", Policy: policy}, CodeInvalidRequest, "not a valid backup ARN"},
		{ResourcePolicyInput{Policy: policy}, CodeInvalidRequest, "ResourceArn is required"},
		{ResourcePolicyInput{ResourceArn: strings.Replace(arn, "us-east-1", "us-east-2", 1), Policy: policy}, CodeNotFound, "not found"},
		{ResourcePolicyInput{ResourceArn: strings.Replace(arn, testAcct, "999999999999", 1), Policy: policy}, CodeNotFound, "not found"},
	} {
		_, err := e.s.PutResourcePolicy(e.ctx, e.c, tc.in)
		wantErr(t, err, tc.code, tc.substr)
	}
	got, err := e.s.GetResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn})
	if err != nil || got.Policy != "" {
		t.Fatalf("no policy yet: %v %+v", err, got)
	}
	put, err := e.s.PutResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn, Policy: policy})
	if err != nil || put.ResourceArn != arn || put.Policy != policy {
		t.Fatalf("Put: %v %+v", err, put)
	}
	if got, err = e.s.GetResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn}); err != nil || got.Policy != policy {
		t.Fatalf("Get: %v %+v", err, got)
	}
	del, err := e.s.DeleteResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn})
	if err != nil || del.ResourceArn != arn || del.Policy != policy {
		t.Fatalf("Delete: %v %+v", err, del)
	}
	if got, err = e.s.GetResourcePolicy(e.ctx, e.c, ResourcePolicyInput{ResourceArn: arn}); err != nil || got.Policy != "" {
		t.Fatalf("Get after delete: %v %+v", err, got)
	}
}
