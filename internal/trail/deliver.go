package trail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/coffer-hsm/coffer/internal/audit"
	"github.com/coffer-hsm/coffer/internal/fsutil"
)

// Journal is the audit journal a deliverer reads (*audit.Journal).
type Journal interface {
	ReadSince(pos audit.Position, max int) ([]audit.Record, audit.Position, error)
	PositionAt(t time.Time) audit.Position
}

// DelivererConfig configures delivery.
type DelivererConfig struct {
	Service  *Service
	Journal  Journal
	Root     string // the trail root directory: a trail's bucket is Root/<S3BucketName>
	StateDir string // where this node keeps its delivery positions and digest chains
	Signer   *Signer
	// LogInterval is how often new events are delivered as log files (default 5 min);
	// DigestInterval how often digest files are written (default 1 hour).
	LogInterval    time.Duration
	DigestInterval time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
}

// Deliverer writes trails' log and digest files on this node. Its position in the
// journal and each digest chain's head are kept in StateDir/delivery.json. Files are
// written under an intent: the files about to be written (and the position after them)
// are saved first, then the files, then the new position. After a crash, a load finds the
// intent and completes it when every file of it is on disk, else removes the ones that
// are and delivers those events again, so that each event is delivered exactly once and
// every digest is the head of its chain.
type Deliverer struct {
	cfg DelivererConfig

	mu     sync.Mutex
	states map[string]*deliveryState
	loaded bool

	// status is what GetTrailStatus reads, published at the end of each tick, so
	// that it never waits for a running tick (KMS calls, fsyncs). nil until loaded.
	statusMu sync.Mutex
	status   map[string]DeliveryStatus

	crashHook func(stage string) // tests: simulates a crash at a stage
}

type deliveryState struct {
	Created     time.Time         `json:"created"` // the trail's, to tell a re-created trail apart
	Initialized bool              `json:"initialized"`
	Cursor      audit.Position    `json:"cursor"`
	Delivered   time.Time         `json:"delivered,omitzero"`
	Attempted   time.Time         `json:"attempted,omitzero"`
	Error       string            `json:"error,omitempty"`
	Digested    time.Time         `json:"digested,omitzero"`
	DigestError string            `json:"digest_error,omitempty"`
	Chains      map[string]*chain `json:"chains"` // by region

	// Notify are the delivered log files whose SNS notification is not published yet;
	// Notified, NotifyAttempted and NotifyError the last notification's outcome.
	Notify          []notifyObject `json:"notify,omitempty"`
	Notified        time.Time      `json:"notified,omitzero"`
	NotifyAttempted time.Time      `json:"notify_attempted,omitzero"`
	NotifyError     string         `json:"notify_error,omitempty"`

	LogIntent    *logIntent    `json:"log_intent,omitempty"`
	DigestIntent *digestIntent `json:"digest_intent,omitempty"`
}

// logIntent is a batch of log files being written and the journal position after it.
type logIntent struct {
	Next  audit.Position `json:"next"`
	Files []regionLog    `json:"files"`
}

type regionLog struct {
	Region string `json:"region"`
	LogFile
}

// digestIntent is a digest being written: the chain head it becomes.
type digestIntent struct {
	Region string    `json:"region"`
	End    time.Time `json:"end"`
	Bucket string    `json:"bucket"`
	Object string    `json:"object"`
	Hash   string    `json:"hash"`
	Sig    string    `json:"sig"`
}

type chain struct {
	LastEnd    time.Time `json:"last_end,omitzero"`
	PrevBucket string    `json:"prev_bucket,omitempty"`
	PrevObject string    `json:"prev_object,omitempty"`
	PrevHash   string    `json:"prev_hash,omitempty"`
	PrevSig    string    `json:"prev_sig,omitempty"`
	Pending    []LogFile `json:"pending,omitempty"`
}

// NewDeliverer returns a deliverer; it registers itself as the service's status source.
func NewDeliverer(cfg DelivererConfig) *Deliverer {
	if cfg.LogInterval <= 0 {
		cfg.LogInterval = 5 * time.Minute
	}
	if cfg.DigestInterval <= 0 {
		cfg.DigestInterval = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Deliverer{cfg: cfg, states: map[string]*deliveryState{}}
	cfg.Service.SetStatusSource(d.Status)
	return d
}

func (d *Deliverer) statePath() string { return filepath.Join(d.cfg.StateDir, "delivery.json") }

func (d *Deliverer) load() error {
	if d.loaded {
		return nil
	}
	b, err := os.ReadFile(d.statePath())
	if err == nil {
		if err := json.Unmarshal(b, &d.states); err != nil {
			return fmt.Errorf("trail: %s is corrupt: %w", d.statePath(), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if d.states == nil {
		d.states = map[string]*deliveryState{}
	}
	recovered := false
	for _, st := range d.states {
		if st.LogIntent != nil || st.DigestIntent != nil {
			d.recoverIntents(st)
			recovered = true
		}
	}
	if recovered {
		if err := d.save(); err != nil {
			return err
		}
	}
	d.loaded = true
	return nil
}

func (d *Deliverer) objectExists(bucket, key string) bool {
	return statObject(d.cfg.Root, bucket, key)
}

func (d *Deliverer) removeObject(bucket, key string) {
	if err := removeObjectFile(d.cfg.Root, bucket, key); err != nil {
		d.cfg.Logger.Warn("cloudtrail: removing an unfinished file", "bucket", bucket, "key", key, "err", err)
	}
}

// recoverIntents completes or undoes the writes a crash interrupted.
func (d *Deliverer) recoverIntents(st *deliveryState) {
	if in := st.LogIntent; in != nil {
		all := true
		for _, f := range in.Files {
			all = all && d.objectExists(f.S3Bucket, f.S3Object)
		}
		if all {
			d.commitLogs(st)
		} else {
			d.undoLogs(st)
		}
	}
	if in := st.DigestIntent; in != nil {
		if d.objectExists(in.Bucket, in.Object) && d.objectExists(in.Bucket, in.Object+SigSuffix) {
			d.commitDigest(st)
		} else {
			d.removeObject(in.Bucket, in.Object)
			d.removeObject(in.Bucket, in.Object+SigSuffix)
			st.DigestIntent = nil
		}
	}
}

func (st *deliveryState) chain(region string) *chain {
	c := st.Chains[region]
	if c == nil {
		if st.Chains == nil {
			st.Chains = map[string]*chain{}
		}
		c = &chain{}
		st.Chains[region] = c
	}
	return c
}

// commitLogs makes the log intent's files pending in their chains and moves the position.
func (d *Deliverer) commitLogs(st *deliveryState) {
	in := st.LogIntent
	for _, f := range in.Files {
		c := st.chain(f.Region)
		c.Pending = append(c.Pending, f.LogFile)
	}
	st.queueNotify(in.Files)
	st.Cursor, st.LogIntent = in.Next, nil
}

// undoLogs removes the files of the log intent that were written (the events are
// delivered again from the unchanged position).
func (d *Deliverer) undoLogs(st *deliveryState) {
	for _, f := range st.LogIntent.Files {
		d.removeObject(f.S3Bucket, f.S3Object)
	}
	st.LogIntent = nil
}

// commitDigest makes the digest intent the head of its chain.
func (d *Deliverer) commitDigest(st *deliveryState) {
	in := st.DigestIntent
	c := st.chain(in.Region)
	c.PrevBucket, c.PrevObject, c.PrevHash, c.PrevSig = in.Bucket, in.Object, in.Hash, in.Sig
	c.LastEnd, c.Pending = in.End, nil
	st.DigestIntent = nil
}

func (d *Deliverer) crash(stage string) {
	if d.crashHook != nil {
		d.crashHook(stage)
	}
}

func (d *Deliverer) save() error {
	b, err := json.Marshal(d.states)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.cfg.StateDir, 0o700); err != nil {
		return err
	}
	return fsutil.WriteFile(d.statePath(), b)
}

// Status is the trail's delivery status on this node, as of the last tick.
func (d *Deliverer) Status(arn string) DeliveryStatus {
	d.statusMu.Lock()
	if d.status != nil {
		st := d.status[arn]
		d.statusMu.Unlock()
		return st
	}
	d.statusMu.Unlock()
	// After a restart, before the first tick: load the saved state.
	d.mu.Lock()
	err := d.load()
	if err == nil {
		d.publishStatus()
	}
	d.mu.Unlock()
	if err != nil {
		return DeliveryStatus{LatestDeliveryError: "InternalError"}
	}
	d.statusMu.Lock()
	defer d.statusMu.Unlock()
	return d.status[arn]
}

// publishStatus copies the delivery states for Status. Callers hold d.mu.
func (d *Deliverer) publishStatus() {
	m := make(map[string]DeliveryStatus, len(d.states))
	for arn, st := range d.states {
		m[arn] = DeliveryStatus{LatestDeliveryTime: st.Delivered, LatestDeliveryAttemptTime: st.Attempted, LatestDeliveryError: st.Error,
			LatestDigestDeliveryTime: st.Digested, LatestDigestDeliveryError: st.DigestError,
			LatestNotificationTime: st.Notified, LatestNotificationAttemptTime: st.NotifyAttempted, LatestNotificationError: st.NotifyError}
	}
	d.statusMu.Lock()
	d.status = m
	d.statusMu.Unlock()
}

// Run delivers every LogInterval until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.LogInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.Tick(ctx); err != nil {
				d.cfg.Logger.Warn("cloudtrail: delivery", "err", err)
			}
		}
	}
}

// Tick delivers the new events of every trail and writes the digests that are due.
func (d *Deliverer) Tick(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.load(); err != nil {
		return err
	}
	defer d.publishStatus() // runs before the unlock
	now := d.cfg.Now().UTC().Truncate(time.Second)
	trails := d.cfg.Service.Trails()
	live := map[string]bool{}
	var errs []error
	for i := range trails {
		t := &trails[i]
		arn := t.ARN()
		live[arn] = true
		st := d.states[arn]
		if st == nil || !st.Created.Equal(t.Created) {
			st = &deliveryState{Created: t.Created, Chains: map[string]*chain{}}
			d.states[arn] = st
		}
		if !st.Initialized {
			if t.StartLoggingTime.IsZero() {
				continue // never logged
			}
			st.Cursor = d.cfg.Journal.PositionAt(t.StartLoggingTime)
			st.Initialized = true
		}
		if err := d.deliverLogs(ctx, t, st, now); err != nil {
			st.Error = deliveryErrorCode(err)
			errs = append(errs, fmt.Errorf("%s: %w", arn, err))
		}
		// Only log files are notified, as on AWS (digest files are not).
		d.notify(ctx, t, st, now)
		if t.LogFileValidationEnabled {
			if err := d.deliverDigests(ctx, t, st, now); err != nil {
				st.DigestError = deliveryErrorCode(err)
				errs = append(errs, fmt.Errorf("%s: digest: %w", arn, err))
			}
		} else {
			// As on AWS, log files delivered while validation is off are in no digest, and
			// turning it on again starts new chains (no previous digest).
			for _, c := range st.Chains {
				*c = chain{LastEnd: now}
			}
		}
		if err := d.save(); err != nil {
			return err
		}
	}
	for arn := range d.states {
		if !live[arn] {
			delete(d.states, arn)
		}
	}
	return errors.Join(errs...)
}

// logged reports whether an event at t falls in the trail's logging time.
func logged(t *Trail, at time.Time) bool {
	start := t.StartLoggingTime.Truncate(time.Second)
	if t.IsLogging && !at.Before(start) || !t.IsLogging && !start.IsZero() && !at.Before(start) && !at.After(t.StopLoggingTime) {
		return true
	}
	for _, p := range t.Earlier {
		if !at.Before(p.Start.Truncate(time.Second)) && !at.After(p.Stop) {
			return true
		}
	}
	return false
}

// wants reports whether the trail takes the record, and the region it is delivered under.
// A trail takes only its own account's events, as on AWS; a record without a recipient
// account (a request that failed authentication, an event of the node) belongs to
// nodeAccount, the node's own account.
func (t *Trail) wants(r *audit.Record, nodeAccount string) (string, bool) {
	account := r.Account
	if account == "" {
		account = nodeAccount
	}
	if account != t.Account {
		return "", false
	}
	region := r.Region
	if region == "" {
		region = t.HomeRegion
	}
	if !validRegion(region) { // the region becomes a path segment
		return "", false
	}
	if !t.IsMultiRegionTrail && region != t.HomeRegion {
		return "", false
	}
	if !t.IncludeGlobalServiceEvents && (r.Source == audit.SourceIAM || r.Source == audit.SourceSTS) {
		return "", false
	}
	if !t.Selects(r.Management, r.ReadOnly, r.Source) {
		return "", false
	}
	return region, logged(t, r.EventTime)
}

const batchRecords = 2000

func (d *Deliverer) deliverLogs(ctx context.Context, t *Trail, st *deliveryState, now time.Time) error {
	for range 50 { // at most 100k records a tick
		recs, next, err := d.cfg.Journal.ReadSince(st.Cursor, batchRecords)
		if err != nil {
			return err
		}
		groups := map[string][]audit.Record{}
		for i := range recs {
			if region, ok := t.wants(&recs[i], d.cfg.Service.cfg.AccountID); ok {
				groups[region] = append(groups[region], recs[i])
			}
		}
		if len(groups) == 0 {
			st.Cursor = next
		} else {
			st.Attempted = now
			intent := &logIntent{Next: next}
			var contents [][]byte
			for _, region := range slices.Sorted(maps.Keys(groups)) {
				lf, content := logFile(t, region, groups[region], now)
				intent.Files = append(intent.Files, regionLog{Region: region, LogFile: *lf})
				contents = append(contents, content)
			}
			st.LogIntent = intent
			if err := d.save(); err != nil {
				st.LogIntent = nil
				return err
			}
			for i, f := range intent.Files {
				if i > 0 {
					d.crash("log-partial")
				}
				if err := d.put(ctx, t, f.S3Object, contents[i]); err != nil {
					d.undoLogs(st)
					return err
				}
			}
			d.crash("log-written")
			d.commitLogs(st)
			st.Delivered, st.Error = now, ""
		}
		if err := d.save(); err != nil {
			return err
		}
		if len(recs) < batchRecords {
			return nil
		}
	}
	return nil
}

const randAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomName(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = randAlphabet[int(b[i])%len(randAlphabet)]
	}
	return string(b)
}

// objectKey joins a trail's key prefix and a key.
func objectKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "/" + key
}

// LogKey is the object key of a log file.
func LogKey(t *Trail, region string, at time.Time, random string) string {
	return objectKey(t.S3KeyPrefix, path.Join("AWSLogs", t.Account, "CloudTrail", region, at.Format("2006/01/02"),
		fmt.Sprintf("%s_CloudTrail_%s_%s_%s.json.gz", t.Account, region, at.Format("20060102T1504Z"), random)))
}

// DigestKey is the object key of a digest file ending at end.
func DigestKey(t *Trail, region string, end time.Time) string {
	return objectKey(t.S3KeyPrefix, path.Join("AWSLogs", t.Account, "CloudTrail-Digest", region, end.Format("2006/01/02"),
		fmt.Sprintf("%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz", t.Account, region, t.Name, t.HomeRegion, end.Format("20060102T150405Z"))))
}

// ObjectPath is the file of an object key in a bucket under the trail root.
func ObjectPath(root, bucket, key string) string {
	return filepath.Join(root, bucket, filepath.FromSlash(key))
}

func (d *Deliverer) encCtx(t *Trail) map[string]string {
	return map[string]string{EncryptionContextKey: t.ARN()}
}

// put writes an object: gzipped, and envelope-encrypted when the trail has a KMS key.
func (d *Deliverer) put(ctx context.Context, t *Trail, key string, inflated []byte) error {
	data := gzipBytes(inflated)
	if t.KmsKeyId != "" {
		if d.cfg.Service.cfg.Keys == nil {
			return kmsFailure{errors.New("the trail's KMS key is not available")}
		}
		var err error
		if data, err = Seal(ctx, d.cfg.Service.cfg.Keys, t.KmsKeyId, d.encCtx(t), data); err != nil {
			return kmsFailure{fmt.Errorf("encrypting with %s: %w", t.KmsKeyId, err)}
		}
	}
	return writeObject(d.cfg.Root, t.S3BucketName, key, data)
}

// logFile makes a log file of recs: its digest entry and its uncompressed content.
func logFile(t *Trail, region string, recs []audit.Record, now time.Time) (*LogFile, []byte) {
	var buf bytes.Buffer
	buf.WriteString(`{"Records":[`)
	oldest, newest := recs[0].EventTime, recs[0].EventTime
	for i, r := range recs {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(r.Line)
		if r.EventTime.Before(oldest) {
			oldest = r.EventTime
		}
		if r.EventTime.After(newest) {
			newest = r.EventTime
		}
	}
	buf.WriteString("]}")
	key := LogKey(t, region, now, randomName(16))
	h := sha256.Sum256(buf.Bytes())
	return &LogFile{S3Bucket: t.S3BucketName, S3Object: key, HashValue: hex.EncodeToString(h[:]), HashAlgorithm: HashAlgorithm,
		NewestEventTime: awsTime(newest), OldestEventTime: awsTime(oldest)}, buf.Bytes()
}

func (d *Deliverer) deliverDigests(ctx context.Context, t *Trail, st *deliveryState, now time.Time) error {
	regions := []string{t.HomeRegion}
	for r := range st.Chains {
		if r != t.HomeRegion {
			regions = append(regions, r)
		}
	}
	slices.Sort(regions[1:])
	for _, region := range regions {
		c := st.Chains[region]
		if c == nil {
			c = &chain{}
			st.Chains[region] = c
		}
		if c.LastEnd.IsZero() {
			c.LastEnd = t.StartLoggingTime.UTC().Truncate(time.Second)
		}
		if now.Sub(c.LastEnd) < d.cfg.DigestInterval || !t.IsLogging && len(c.Pending) == 0 {
			continue
		}
		if err := d.writeDigest(ctx, t, st, region, c, now); err != nil {
			return err
		}
		st.Digested, st.DigestError = now, ""
	}
	return nil
}

func (d *Deliverer) writeDigest(ctx context.Context, t *Trail, st *deliveryState, region string, c *chain, now time.Time) error {
	if d.cfg.Signer == nil {
		return errors.New("no digest signing key")
	}
	priv, pub, _, err := d.cfg.Signer.Key(region, now) // each region's digests are signed with its own key, as on AWS
	if err != nil {
		return err
	}
	if err := d.cfg.Service.RegisterPublicKey(ctx, pub); err != nil {
		return fmt.Errorf("registering the digest public key: %w", err)
	}
	key := DigestKey(t, region, now)
	dg := &Digest{AWSAccountID: t.Account, DigestStartTime: awsTime(c.LastEnd), DigestEndTime: awsTime(now),
		DigestS3Bucket: t.S3BucketName, DigestS3Object: key, DigestPublicKeyFingerprint: pub.Fingerprint,
		DigestSignatureAlgorithm: SignatureAlgorithm, LogFiles: c.Pending}
	if dg.LogFiles == nil {
		dg.LogFiles = []LogFile{}
	}
	for _, lf := range c.Pending {
		if dg.OldestEventTime == nil || lf.OldestEventTime < *dg.OldestEventTime {
			v := lf.OldestEventTime
			dg.OldestEventTime = &v
		}
		if dg.NewestEventTime == nil || lf.NewestEventTime > *dg.NewestEventTime {
			v := lf.NewestEventTime
			dg.NewestEventTime = &v
		}
	}
	if c.PrevObject != "" {
		alg := HashAlgorithm
		dg.PreviousDigestS3Bucket, dg.PreviousDigestS3Object = &c.PrevBucket, &c.PrevObject
		dg.PreviousDigestHashValue, dg.PreviousDigestHashAlgorithm, dg.PreviousDigestSignature = &c.PrevHash, &alg, &c.PrevSig
	}
	inflated, err := json.Marshal(dg)
	if err != nil {
		return err
	}
	sig, err := Sign(priv, dg, inflated)
	if err != nil {
		return err
	}
	h := sha256.Sum256(inflated)
	st.DigestIntent = &digestIntent{Region: region, End: now, Bucket: t.S3BucketName, Object: key, Hash: hex.EncodeToString(h[:]), Sig: sig}
	if err := d.save(); err != nil {
		st.DigestIntent = nil
		return err
	}
	undo := func() {
		d.removeObject(t.S3BucketName, key)
		d.removeObject(t.S3BucketName, key+SigSuffix)
		st.DigestIntent = nil
	}
	if err := d.put(ctx, t, key, inflated); err != nil {
		undo()
		return err
	}
	d.crash("digest-partial")
	sb, _ := json.Marshal(Signature{Signature: sig, SignatureAlgorithm: SignatureAlgorithm})
	if err := writeObject(d.cfg.Root, t.S3BucketName, key+SigSuffix, sb); err != nil {
		undo()
		return err
	}
	d.crash("digest-written")
	d.commitDigest(st)
	return d.save()
}

// kmsFailure marks a delivery error of the trail's KMS key.
type kmsFailure struct{ err error }

func (k kmsFailure) Error() string { return k.err.Error() }
func (k kmsFailure) Unwrap() error { return k.err }

// deliveryErrorCode is what GetTrailStatus reports for a failed delivery: an
// error code in the manner of CloudTrail's S3 and KMS codes, never the
// server's paths or error text (those go to the server's log).
func deliveryErrorCode(err error) string {
	var kf kmsFailure
	switch {
	case errors.As(err, &kf):
		return "InsufficientEncryptionPolicy"
	case errors.Is(err, fs.ErrPermission):
		return "AccessDenied"
	case errors.Is(err, fs.ErrNotExist):
		return "NoSuchBucket"
	}
	return "InternalError"
}
