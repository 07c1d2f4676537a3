package trail

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/audit"
	"github.com/coffer-hsm/coffer/internal/state"
)

// applier proposes by applying directly (the unit under test is the part, not raft).
type applier struct {
	mu  sync.Mutex
	svc *Service
	idx uint64
	now func() time.Time
}

func (a *applier) Propose(ctx context.Context, typ string, version int, body any) (any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	a.idx++
	return a.svc.Apply(a.idx, state.Command{Type: typ, Version: version, Time: a.now().UTC(), Body: b})
}

// fakeKMS wraps data keys with one AES key and checks the encryption context.
type fakeKMS struct {
	master []byte
}

func (k *fakeKMS) Check(ctx context.Context, id string, ec map[string]string) (string, error) {
	if id != "alias/trail" {
		return "", errorf("KmsKeyNotFoundException", "KMS key %s not found", id)
	}
	return "arn:aws:kms:us-east-1:111122223333:key/k1", nil
}

func (k *fakeKMS) aead() cipher.AEAD {
	b, _ := aes.NewCipher(k.master)
	g, _ := cipher.NewGCM(b)
	return g
}

func (k *fakeKMS) GenerateDataKey(ctx context.Context, id string, ec map[string]string) ([]byte, []byte, error) {
	dk := make([]byte, 32)
	rand.Read(dk)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return dk, k.aead().Seal(nonce, nonce, dk, []byte(ec[EncryptionContextKey])), nil
}

func (k *fakeKMS) Decrypt(ctx context.Context, blob []byte, ec map[string]string) ([]byte, error) {
	if len(blob) < 12 {
		return nil, errors.New("bad blob")
	}
	return k.aead().Open(nil, blob[:12], blob[12:], []byte(ec[EncryptionContextKey]))
}

type fixture struct {
	t       *testing.T
	svc     *Service
	j       *audit.Journal
	d       *Deliverer
	root    string
	now     time.Time
	keys    *fakeKMS
	caller  Caller
	trailID string
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	f := &fixture{t: t, root: filepath.Join(dir, "trails"), now: time.Now().UTC().Truncate(time.Second), caller: Caller{Region: "us-east-1", Account: "111122223333"}}
	clock := func() time.Time { return f.now }
	f.keys = &fakeKMS{master: bytes.Repeat([]byte{7}, 32)}
	f.svc = New(Config{Region: "us-east-1", AccountID: "111122223333", Now: clock, Keys: f.keys})
	f.svc.Attach(&applier{svc: f.svc, now: clock})
	j, err := audit.Open(filepath.Join(dir, "audit"), audit.Options{NoPreallocate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	f.j = j
	wrap := bytes.Repeat([]byte{9}, 32)
	signer, err := NewSigner(filepath.Join(dir, "keys"), wrap)
	if err != nil {
		t.Fatal(err)
	}
	f.d = NewDeliverer(DelivererConfig{Service: f.svc, Journal: j, Root: f.root, StateDir: filepath.Join(dir, "state"), Signer: signer,
		LogInterval: time.Minute, DigestInterval: 10 * time.Minute, Now: clock})
	return f
}

func (f *fixture) op(name string, body string) (any, error) {
	return ops[name](f.svc, context.Background(), f.caller, []byte(body))
}

func (f *fixture) mustOp(name, body string) any {
	f.t.Helper()
	out, err := f.op(name, body)
	if err != nil {
		f.t.Fatalf("%s: %v", name, err)
	}
	return out
}

func (f *fixture) event(name string) {
	f.t.Helper()
	e := &audit.Event{EventSource: audit.SourceKMS, EventName: name, AWSRegion: "us-east-1", EventTime: f.now,
		UserIdentity: audit.UserIdentity{Type: "Root", AccountID: "111122223333"}}
	if err := f.j.Append(context.Background(), e); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) tick() {
	f.t.Helper()
	if err := f.d.Tick(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) validate(start time.Time) *Report {
	f.t.Helper()
	tr, err := f.svc.resolve(f.caller, "trail-1")
	if err != nil {
		f.t.Fatal(err)
	}
	pks := map[string][]byte{}
	for _, k := range f.svc.PublicKeys() {
		pks[k.Fingerprint] = k.Value
	}
	rep, err := Validate(context.Background(), &ValidateInput{Root: f.root, Trail: tr, Start: start, End: f.now, PublicKeys: pks, Keys: f.keys})
	if err != nil {
		f.t.Fatal(err)
	}
	return rep
}

func findings(r *Report, status string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Status == status {
			out = append(out, f)
		}
	}
	return out
}

// run makes events and ticks through n digest periods, one log file per minute.
func (f *fixture) run(periods int) {
	for p := 0; p < periods; p++ {
		for m := 0; m < 10; m++ {
			f.now = f.now.Add(time.Minute)
			if m%3 == 0 {
				f.event("Encrypt")
			}
			f.tick()
		}
	}
}

func TestDigestChainAndValidation(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "kms"}[encrypted], func(t *testing.T) {
			f := newFixture(t)
			start := f.now
			body := `{"Name":"trail-1","S3BucketName":"bucket-1","S3KeyPrefix":"pre/fix","EnableLogFileValidation":true}`
			if encrypted {
				body = `{"Name":"trail-1","S3BucketName":"bucket-1","S3KeyPrefix":"pre/fix","EnableLogFileValidation":true,"KmsKeyId":"alias/trail"}`
			}
			f.mustOp("CreateTrail", body)
			f.event("before-logging") // not delivered
			f.now = f.now.Add(time.Second)
			f.mustOp("StartLogging", `{"Name":"trail-1"}`)
			f.run(4)

			rep := f.validate(start)
			if !rep.OK() || rep.ValidDigests != 4 || rep.ValidLogs < 8 {
				t.Fatalf("fresh trail: %s", rep.Text(true))
			}
			// Every delivered record is there once, and the one before logging is not.
			logs := findings(rep, StatusValid)
			names := map[string]int{}
			for _, lf := range logs {
				if lf.File != "log" {
					continue
				}
				raw, err := os.ReadFile(ObjectPath(f.root, lf.Bucket, lf.Key))
				if err != nil {
					t.Fatal(err)
				}
				if encrypted {
					if IsEnvelope(raw) == false {
						t.Fatalf("%s is not encrypted", lf.Key)
					}
					if _, err := Gunzip(raw); err == nil {
						t.Fatalf("%s reads as plain gzip", lf.Key)
					}
				}
				in, err := readObject(context.Background(), &ValidateInput{Root: f.root, Trail: mustTrail(t, f), Keys: f.keys}, lf.Bucket, lf.Key)
				if err != nil {
					t.Fatal(err)
				}
				var doc struct{ Records []audit.Event }
				if err := json.Unmarshal(in, &doc); err != nil {
					t.Fatal(err)
				}
				for _, e := range doc.Records {
					names[e.EventName]++
				}
			}
			if names["before-logging"] != 0 || names["Encrypt"] != 16 {
				t.Fatalf("delivered records: %v", names)
			}

			// Tamper with one log file, delete another, delete a digest in the middle.
			var logKeys []Finding
			for _, lf := range logs {
				if lf.File == "log" {
					logKeys = append(logKeys, lf)
				}
			}
			modified, deleted := logKeys[len(logKeys)-1], logKeys[0]
			p := ObjectPath(f.root, modified.Bucket, modified.Key)
			if encrypted {
				raw, _ := os.ReadFile(p)
				raw[len(raw)-1] ^= 1
				os.WriteFile(p, raw, 0o600)
			} else {
				os.WriteFile(p, gzipBytes([]byte(`{"Records":[]}`)), 0o600)
			}
			if err := os.Remove(ObjectPath(f.root, deleted.Bucket, deleted.Key)); err != nil {
				t.Fatal(err)
			}
			var digests []Finding
			for _, d := range findings(rep, StatusValid) {
				if d.File == "digest" {
					digests = append(digests, d) // newest first
				}
			}
			missing := digests[1]
			if err := os.Remove(ObjectPath(f.root, missing.Bucket, missing.Key)); err != nil {
				t.Fatal(err)
			}
			rep = f.validate(start)
			if rep.OK() || !rep.ChainBroken {
				t.Fatalf("tampered trail reported OK:\n%s", rep.Text(true))
			}
			text := rep.Text(false)
			for _, want := range []string{
				"Log file\ts3://" + modified.Bucket + "/" + modified.Key + "\tINVALID:",
				"Log file\ts3://" + deleted.Bucket + "/" + deleted.Key + "\tINVALID: not found (deleted)",
				"Digest file\ts3://" + missing.Bucket + "/" + missing.Key + "\tINVALID: not found (missing)",
				"3/4 digest files valid, 1/4 digest files INVALID",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("report lacks %q:\n%s", want, text)
				}
			}
			if got := findings(rep, StatusModified); len(got) != 1 || got[0].Key != modified.Key {
				t.Errorf("modified: %+v", got)
			}
		})
	}
}

func mustTrail(t *testing.T, f *fixture) *Trail {
	tr, err := f.svc.resolve(f.caller, "trail-1")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestForgedDigestRejected(t *testing.T) {
	f := newFixture(t)
	start := f.now
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","EnableLogFileValidation":true}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.run(2)
	rep := f.validate(start)
	if !rep.OK() || rep.ValidDigests != 2 {
		t.Fatalf("%s", rep.Text(true))
	}
	// Rewrite the newest digest to drop its log files: the signature no longer matches.
	d := findings(rep, StatusValid)[0]
	p := ObjectPath(f.root, d.Bucket, d.Key)
	raw, _ := os.ReadFile(p)
	in, _ := Gunzip(raw)
	var dg Digest
	json.Unmarshal(in, &dg)
	dg.LogFiles = []LogFile{}
	b, _ := json.Marshal(dg)
	os.WriteFile(p, gzipBytes(b), 0o600)
	rep = f.validate(start)
	if rep.OK() || !strings.Contains(rep.Text(false), "INVALID: signature verification failed") {
		t.Fatalf("forged digest accepted:\n%s", rep.Text(true))
	}
}

func TestDigestWithoutLogsAndRestart(t *testing.T) {
	f := newFixture(t)
	start := f.now
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","EnableLogFileValidation":true}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	// An hour with no events still gets a digest.
	f.now = f.now.Add(11 * time.Minute)
	f.tick()
	// A new deliverer (a restart) continues from the saved position and chain.
	f.event("Encrypt")
	f.d = NewDeliverer(f.d.cfg)
	f.now = f.now.Add(11 * time.Minute)
	f.tick()
	rep := f.validate(start)
	if !rep.OK() || rep.ValidDigests != 2 || rep.ValidLogs != 1 {
		t.Fatalf("%s", rep.Text(true))
	}
	st := f.svc.status(mustTrail(t, f).ARN())
	if st.LatestDigestDeliveryTime.IsZero() || st.LatestDeliveryTime.IsZero() {
		t.Fatalf("status %+v", st)
	}
}

func TestTrailOperations(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ body, code string }{
		{`{"Name":"ab","S3BucketName":"bucket-1"}`, "InvalidTrailNameException"},
		{`{"Name":"a--b","S3BucketName":"bucket-1"}`, "InvalidTrailNameException"},
		{`{"Name":"192.168.5.4","S3BucketName":"bucket-1"}`, "InvalidTrailNameException"},
		{`{"Name":"-abc","S3BucketName":"bucket-1"}`, "InvalidTrailNameException"},
		{`{"Name":"good","S3BucketName":"Bad_Bucket"}`, "InvalidS3BucketNameException"},
		{`{"Name":"good","S3BucketName":"bucket-1","S3KeyPrefix":"../x"}`, "InvalidS3PrefixException"},
		{`{"Name":"good","S3BucketName":"bucket-1","KmsKeyId":"alias/none"}`, "KmsKeyNotFoundException"},
		{`{"Name":"good","S3BucketName":"bucket-1","IsMultiRegionTrail":true,"IncludeGlobalServiceEvents":false}`, "InvalidParameterCombinationException"},
	} {
		_, err := f.op("CreateTrail", tc.body)
		if e := MapError(err); e == nil || e.Code != tc.code || e.Status != 400 {
			t.Errorf("CreateTrail %s: %v, want %s", tc.body, err, tc.code)
		}
	}
	f.mustOp("CreateTrail", `{"Name":"good","S3BucketName":"bucket-1"}`)
	if _, err := f.op("CreateTrail", `{"Name":"good","S3BucketName":"bucket-1"}`); MapError(err).Code != "TrailAlreadyExistsException" {
		t.Errorf("duplicate: %v", err)
	}
	out := f.mustOp("UpdateTrail", `{"Name":"good","EnableLogFileValidation":true,"KmsKeyId":"alias/trail"}`).(*trailOutput)
	if !out.LogFileValidationEnabled || out.KmsKeyId != "arn:aws:kms:us-east-1:111122223333:key/k1" || out.S3BucketName != "bucket-1" {
		t.Errorf("update: %+v", out)
	}
	got := f.mustOp("GetTrail", `{"Name":"arn:aws:cloudtrail:us-east-1:111122223333:trail/good"}`).(map[string]any)["Trail"].(*trailOutput)
	if got.HomeRegion != "us-east-1" || got.TrailARN != "arn:aws:cloudtrail:us-east-1:111122223333:trail/good" {
		t.Errorf("get: %+v", got)
	}
	for _, op := range []string{"GetTrail", "StartLogging", "GetTrailStatus", "DeleteTrail"} {
		if _, err := f.op(op, `{"Name":"nope"}`); MapError(err).Code != "TrailNotFoundException" {
			t.Errorf("%s of an unknown trail: %v", op, err)
		}
	}
	if _, err := f.op("GetTrail", `{"Name":"arn:aws:cloudtrail:us-east-1:1:trail/x"}`); MapError(err).Code != "CloudTrailARNInvalidException" {
		t.Errorf("bad ARN: %v", err)
	}
	f.mustOp("StartLogging", `{"Name":"good"}`)
	st := f.mustOp("GetTrailStatus", `{"Name":"good"}`).(map[string]any)
	if st["IsLogging"] != true || st["StartLoggingTime"] == nil {
		t.Errorf("status %v", st)
	}
	f.mustOp("StopLogging", `{"Name":"good"}`)
	if st := f.mustOp("GetTrailStatus", `{"Name":"good"}`).(map[string]any); st["IsLogging"] != false || st["StopLoggingTime"] == nil {
		t.Errorf("status after stop %v", st)
	}
	// The state survives a snapshot and restore.
	snap, err := f.svc.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := New(Config{})
	if err := other.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if tr := other.Trails(); len(tr) != 1 || !tr[0].LogFileValidationEnabled || tr[0].StopLoggingTime.IsZero() {
		t.Fatalf("restored %+v", tr)
	}
	list := f.mustOp("DescribeTrails", `{}`).(map[string]any)["trailList"].([]*trailOutput)
	if len(list) != 1 {
		t.Errorf("describe: %v", list)
	}
	f.mustOp("DeleteTrail", `{"Name":"good"}`)
	if list := f.mustOp("DescribeTrails", `{"trailNameList":["good"]}`).(map[string]any)["trailList"].([]*trailOutput); len(list) != 0 {
		t.Errorf("describe after delete: %v", list)
	}
}

// A trail ARN of another account must not reach that account's trail.
func TestTrailARNOfAnotherAccount(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"theirs","S3BucketName":"bucket-1"}`)
	arn := `{"Name":"arn:aws:cloudtrail:us-east-1:111122223333:trail/theirs"}`
	f.caller = Caller{Region: "us-east-1", Account: "444455556666"}
	for _, op := range []string{"GetTrail", "GetTrailStatus", "StartLogging", "StopLogging", "DeleteTrail", "UpdateTrail"} {
		if _, err := f.op(op, arn); MapError(err) == nil || MapError(err).Code != "TrailNotFoundException" {
			t.Errorf("%s of another account's trail ARN: %v, want TrailNotFoundException", op, err)
		}
	}
	if list := f.mustOp("DescribeTrails", `{"trailNameList":["arn:aws:cloudtrail:us-east-1:111122223333:trail/theirs"]}`).(map[string]any)["trailList"].([]*trailOutput); len(list) != 0 {
		t.Errorf("DescribeTrails lists another account's trail: %+v", list)
	}
	f.caller = Caller{Region: "us-east-1", Account: "111122223333"}
	if len(f.svc.Trails()) != 1 {
		t.Fatal("the trail is gone")
	}
	f.mustOp("GetTrail", arn)
}

// deliveredEvents counts the event names in every log file of a bucket (not digests).
func deliveredEvents(t *testing.T, f *fixture, bucket string) map[string]int {
	t.Helper()
	names := map[string]int{}
	base := filepath.Join(f.root, bucket)
	filepath.WalkDir(base, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(p, ".json.gz") || strings.Contains(p, "CloudTrail-Digest") {
			return nil
		}
		rel, _ := filepath.Rel(base, p)
		in, err := readObject(context.Background(), &ValidateInput{Root: f.root, Trail: mustTrail(t, f), Keys: f.keys}, bucket, filepath.ToSlash(rel))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var doc struct{ Records []audit.Event }
		if err := json.Unmarshal(in, &doc); err != nil {
			t.Fatal(err)
		}
		for _, e := range doc.Records {
			names[e.EventName]++
		}
		return nil
	})
	return names
}

// A trail takes its own account's events only (and the node's unauthenticated ones when
// it is the node's account).
func TestTrailTakesOnlyItsAccountsEvents(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","IsMultiRegionTrail":true}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.caller = Caller{Region: "us-east-1", Account: "444455556666"}
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-2"}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.caller = Caller{Region: "us-east-1", Account: "111122223333"}
	f.now = f.now.Add(time.Second)
	for _, e := range []*audit.Event{
		{EventName: "Mine", UserIdentity: audit.UserIdentity{Type: "Root", AccountID: "111122223333"}},
		{EventName: "Theirs", UserIdentity: audit.UserIdentity{Type: "Root", AccountID: "444455556666"}},
		{EventName: "Anonymous"},
		{EventName: "BadRegion", AWSRegion: "..", UserIdentity: audit.UserIdentity{Type: "Root", AccountID: "111122223333"}},
	} {
		e.EventSource, e.EventTime = audit.SourceKMS, f.now
		if e.AWSRegion == "" {
			e.AWSRegion = "us-east-1"
		}
		if err := f.j.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(time.Minute)
	f.tick()
	if got := deliveredEvents(t, f, "bucket-1"); got["Mine"] != 1 || got["Anonymous"] != 1 || got["Theirs"] != 0 || got["BadRegion"] != 0 {
		t.Errorf("account 111122223333's trail got %v", got)
	}
	if _, err := os.Stat(filepath.Join(f.root, "bucket-1", "AWSLogs", "111122223333", f.now.Format("2006"))); err == nil {
		t.Error("an event's region escaped its directory")
	}
	if got := deliveredEvents(t, f, "bucket-2"); got["Theirs"] != 1 || got["Mine"] != 0 || got["Anonymous"] != 0 {
		t.Errorf("account 444455556666's trail got %v", got)
	}
}

// StopLogging and StartLogging within one delivery interval keep the events logged
// before the stop, and leave out those between the stop and the start.
func TestStopStartWithinOneInterval(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1"}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.now = f.now.Add(time.Second)
	f.event("First")
	f.now = f.now.Add(time.Second)
	f.mustOp("StopLogging", `{"Name":"trail-1"}`)
	f.now = f.now.Add(time.Second)
	f.event("WhileStopped")
	f.now = f.now.Add(time.Second)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.now = f.now.Add(time.Second)
	f.event("Second")
	f.now = f.now.Add(time.Minute)
	f.tick()
	if got := deliveredEvents(t, f, "bucket-1"); got["First"] != 1 || got["Second"] != 1 || got["WhileStopped"] != 0 {
		t.Fatalf("delivered %v", got)
	}
}

// crashTick runs a tick that dies (like kill -9) at stage, then restarts the deliverer.
func (f *fixture) crashTick(stage string) {
	f.t.Helper()
	crashed := false
	f.d.crashHook = func(s string) {
		if s == stage {
			crashed = true
			panic("crash")
		}
	}
	func() {
		defer func() { recover() }()
		f.d.Tick(context.Background())
	}()
	if !crashed {
		f.t.Fatalf("no crash at %s", stage)
	}
	f.d = NewDeliverer(f.d.cfg)
}

// trailFiles counts the log and digest files of a bucket.
func trailFiles(t *testing.T, f *fixture, bucket string) (logs, digests int) {
	filepath.WalkDir(filepath.Join(f.root, bucket), func(p string, de os.DirEntry, err error) error {
		switch {
		case err != nil || de.IsDir() || !strings.HasSuffix(p, ".json.gz"):
		case strings.Contains(p, "CloudTrail-Digest"):
			digests++
		default:
			logs++
		}
		return nil
	})
	return logs, digests
}

// A crash between writing files and saving the delivery position delivers every event
// exactly once, in exactly one digest, and keeps the chain valid.
func TestCrashBetweenWriteAndSave(t *testing.T) {
	for _, stage := range []string{"log-written", "log-partial", "digest-written", "digest-partial"} {
		t.Run(stage, func(t *testing.T) {
			f := newFixture(t)
			start := f.now
			f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","EnableLogFileValidation":true,"IsMultiRegionTrail":true}`)
			f.mustOp("StartLogging", `{"Name":"trail-1"}`)
			f.run(1)
			f.now = f.now.Add(time.Second)
			f.event("Crash")
			e := &audit.Event{EventSource: audit.SourceKMS, EventName: "Crash", AWSRegion: "eu-west-1", EventTime: f.now,
				UserIdentity: audit.UserIdentity{Type: "Root", AccountID: "111122223333"}}
			if err := f.j.Append(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(stage, "digest") {
				f.now = f.now.Add(10 * time.Minute) // the tick also writes a digest
			} else {
				f.now = f.now.Add(time.Minute)
			}
			f.crashTick(stage)
			f.run(2)
			f.now = f.now.Add(11 * time.Minute) // a digest of everything pending
			f.tick()
			names := deliveredEvents(t, f, "bucket-1")
			if names["Crash"] != 2 || names["Encrypt"] != 12 {
				t.Fatalf("delivered %v", names)
			}
			rep := f.validate(start)
			logs, digests := trailFiles(t, f, "bucket-1")
			euDigests := 0
			filepath.WalkDir(filepath.Join(f.root, "bucket-1"), func(p string, de os.DirEntry, err error) error {
				if err == nil && strings.HasSuffix(p, ".json.gz") && strings.Contains(p, "/CloudTrail-Digest/eu-west-1/") {
					euDigests++
				}
				return nil
			})
			if !rep.OK() || rep.ValidDigests < 3 || digests-euDigests != rep.ValidDigests {
				t.Fatalf("%d home-region digest files:\n%s", digests-euDigests, rep.Text(true))
			}
			inDigests := map[string]int{}
			for _, fd := range rep.Findings {
				if fd.File == "log" {
					inDigests[fd.Key]++
				}
			}
			for k, n := range inDigests {
				if n != 1 {
					t.Errorf("%s is in %d digests", k, n)
				}
			}
			// Every home-region log file is in a digest (eu-west-1's have their own chain).
			euLogs := 0
			filepath.WalkDir(filepath.Join(f.root, "bucket-1"), func(p string, de os.DirEntry, err error) error {
				if err == nil && !de.IsDir() && strings.Contains(p, "/CloudTrail/eu-west-1/") {
					euLogs++
				}
				return nil
			})
			if logs-euLogs != len(inDigests) {
				t.Errorf("%d home-region log files, %d in digests", logs-euLogs, len(inDigests))
			}
		})
	}
}

// Log files delivered while validation is off are in no digest (nor kept pending), and
// turning it on again starts a new chain, as on AWS.
func TestValidationOffAndOn(t *testing.T) {
	f := newFixture(t)
	start := f.now
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","EnableLogFileValidation":true}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.run(1)
	f.mustOp("UpdateTrail", `{"Name":"trail-1","EnableLogFileValidation":false}`)
	f.run(3)
	arn := mustTrail(t, f).ARN()
	if c := f.d.states[arn].Chains["us-east-1"]; len(c.Pending) != 0 || c.PrevObject != "" {
		t.Fatalf("validation off keeps %d pending log files, chain head %q", len(c.Pending), c.PrevObject)
	}
	f.mustOp("UpdateTrail", `{"Name":"trail-1","EnableLogFileValidation":true}`)
	f.run(2)
	rep := f.validate(start)
	if !rep.OK() || rep.ValidDigests != 3 || len(rep.Gaps) != 1 {
		t.Fatalf("%s", rep.Text(true))
	}
	if rep.ValidLogs != 4+8 { // 4 files in the first period, 8 after turning validation on
		t.Errorf("%d log files validated, want 12:\n%s", rep.ValidLogs, rep.Text(true))
	}
}

// A symbolic link in a trail's directory that leads out of the trail root is not followed:
// delivery fails (and says so in GetTrailStatus) without writing outside.
func TestSymlinkOutOfTrailRoot(t *testing.T) {
	f := newFixture(t)
	outside := t.TempDir()
	if err := os.MkdirAll(f.root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(f.root, "bucket-1")); err != nil {
		t.Fatal(err)
	}
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","EnableLogFileValidation":true}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.now = f.now.Add(time.Second)
	f.event("Encrypt")
	f.now = f.now.Add(11 * time.Minute)
	if err := f.d.Tick(context.Background()); err == nil {
		t.Error("delivery through a symlink out of the root succeeded")
	}
	n := 0
	filepath.WalkDir(outside, func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			n++
		}
		return nil
	})
	if n != 0 {
		t.Fatalf("%d files written outside the trail root", n)
	}
	st := f.mustOp("GetTrailStatus", `{"Name":"trail-1"}`).(map[string]any)
	if e, _ := st["LatestDeliveryError"].(string); e == "" || strings.Contains(e, "/") {
		t.Errorf("delivery error %q: want a code, without the server's paths", e)
	}
	// Reading follows no link out of the root either.
	os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600)
	if _, err := readObjectFile(f.root, "bucket-1", "secret"); err == nil {
		t.Error("read through a symlink out of the root")
	}
}

// signDigest writes a digest signed with the trail's real signing key.
func (f *fixture) signDigest(dg *Digest) {
	f.t.Helper()
	priv, pub, _, err := f.d.cfg.Signer.Key("us-east-1", f.now)
	if err != nil {
		f.t.Fatal(err)
	}
	dg.DigestPublicKeyFingerprint, dg.DigestSignatureAlgorithm = pub.Fingerprint, SignatureAlgorithm
	b, _ := json.Marshal(dg)
	sig, err := Sign(priv, dg, b)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := writeObject(f.root, dg.DigestS3Bucket, dg.DigestS3Object, gzipBytes(b)); err != nil {
		f.t.Fatal(err)
	}
	sb, _ := json.Marshal(Signature{Signature: sig, SignatureAlgorithm: SignatureAlgorithm})
	if err := writeObject(f.root, dg.DigestS3Bucket, dg.DigestS3Object+SigSuffix, sb); err != nil {
		f.t.Fatal(err)
	}
}

// Validly signed digests whose times do not follow the chain (ranges that overlap or go
// backwards, an end time that is not the one in the name) are INVALID.
func TestDigestTimesFollowTheChain(t *testing.T) {
	f := newFixture(t)
	start := f.now
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","EnableLogFileValidation":true}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.run(2)
	rep := f.validate(start)
	if !rep.OK() || rep.ValidDigests != 2 {
		t.Fatalf("%s", rep.Text(true))
	}
	newest := findings(rep, StatusValid)[0]
	raw, _ := readObjectFile(f.root, newest.Bucket, newest.Key)
	in, _ := Gunzip(raw)
	prev, _ := ParseDigest(in)
	sb, _ := readObjectFile(f.root, newest.Bucket, newest.Key+SigSuffix)
	var sig Signature
	json.Unmarshal(sb, &sig)
	tr := mustTrail(t, f)
	for name, times := range map[string][2]string{
		"overlapping":   {prev.DigestStartTime, ""},                                             // starts before the previous one ends
		"backwards":     {awsTime(f.now.Add(5 * time.Minute)), awsTime(f.now.Add(time.Minute))}, // ends before it starts
		"renamed":       {prev.DigestEndTime, awsTime(f.now.Add(9 * time.Minute))},              // end time not the name's
		"valid (check)": {prev.DigestEndTime, ""},
	} {
		t.Run(name, func(t *testing.T) {
			g := newFixture(t)
			*g = *f
			g.t = t
			end := f.now.Add(10 * time.Minute)
			key := DigestKey(tr, "us-east-1", end)
			h := sha256Hex(in)
			alg := HashAlgorithm
			dg := &Digest{AWSAccountID: tr.Account, DigestStartTime: times[0], DigestEndTime: awsTime(end), DigestS3Bucket: "bucket-1",
				DigestS3Object: key, LogFiles: []LogFile{}, PreviousDigestS3Bucket: &newest.Bucket, PreviousDigestS3Object: &newest.Key,
				PreviousDigestHashValue: &h, PreviousDigestHashAlgorithm: &alg, PreviousDigestSignature: &sig.Signature}
			if times[1] != "" {
				dg.DigestEndTime = times[1]
			}
			g.signDigest(dg)
			defer removeObjectFile(f.root, "bucket-1", key)
			g.now = end
			rep := g.validate(start)
			if name == "valid (check)" {
				if !rep.OK() || rep.ValidDigests != 3 {
					t.Fatalf("%s", rep.Text(true))
				}
				return
			}
			if rep.OK() || !strings.Contains(rep.Text(false), "do not follow the chain") {
				t.Fatalf("accepted:\n%s", rep.Text(true))
			}
		})
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// After a restart GetTrailStatus reports the saved delivery times before the first tick.
func TestStatusAfterRestart(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1"}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.now = f.now.Add(time.Second)
	f.event("Encrypt")
	f.now = f.now.Add(time.Minute)
	f.tick()
	f.d = NewDeliverer(f.d.cfg)
	if st := f.mustOp("GetTrailStatus", `{"Name":"trail-1"}`).(map[string]any); st["LatestDeliveryTime"] == nil {
		t.Fatalf("status after restart: %v", st)
	}
}

func TestDeliveryErrorCode(t *testing.T) {
	for err, want := range map[error]string{
		kmsFailure{errors.New("DisabledException: key disabled")}:                                   "InsufficientEncryptionPolicy",
		fmt.Errorf("writing: %w", &fs.PathError{Op: "open", Path: "/srv/x", Err: fs.ErrPermission}): "AccessDenied",
		fmt.Errorf("reading: %w", &fs.PathError{Op: "open", Path: "/srv/y", Err: fs.ErrNotExist}):   "NoSuchBucket",
		errors.New("disk on fire at /srv/z"):                                                        "InternalError",
	} {
		if got := deliveryErrorCode(err); got != want {
			t.Errorf("%v: %s, want %s", err, got, want)
		}
	}
}

// GetTrailStatus answers while a tick is delivering (it reads the last tick's status).
func TestStatusDoesNotWaitForATick(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1"}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.now = f.now.Add(time.Second)
	f.event("Encrypt")
	f.now = f.now.Add(11 * time.Minute)
	f.d.Tick(context.Background()) // status published
	f.event("Decrypt")
	f.now = f.now.Add(11 * time.Minute)
	inTick, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.d.crashHook = func(string) {
		once.Do(func() { close(inTick); <-release })
	}
	done := make(chan struct{})
	go func() { f.d.Tick(context.Background()); close(done) }()
	<-inTick
	got := make(chan map[string]any, 1)
	go func() { got <- f.mustOp("GetTrailStatus", `{"Name":"trail-1"}`).(map[string]any) }()
	select {
	case st := <-got:
		if st["LatestDeliveryTime"] == nil {
			t.Errorf("status without the last delivery: %v", st)
		}
	case <-time.After(5 * time.Second):
		t.Error("GetTrailStatus waited for the running tick")
	}
	close(release)
	<-done
}

// Validation follows a trail through a change of bucket and prefix, also
// past a gap in the chain (validation turned off for a while) and past a broken digest in the
// old bucket: every digest and log file of the whole range is checked.
func TestValidateFollowsBucketChange(t *testing.T) {
	f := newFixture(t)
	start := f.now
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","S3KeyPrefix":"old","EnableLogFileValidation":true}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	f.run(2)
	// Validation off for a while: the digest chain starts anew after it.
	f.mustOp("UpdateTrail", `{"Name":"trail-1","EnableLogFileValidation":false}`)
	f.run(1)
	f.mustOp("UpdateTrail", `{"Name":"trail-1","EnableLogFileValidation":true}`)
	f.run(2)
	f.mustOp("UpdateTrail", `{"Name":"trail-1","S3BucketName":"bucket-2","S3KeyPrefix":"new"}`)
	f.run(2)

	_, d1 := trailFiles(t, f, "bucket-1")
	_, d2 := trailFiles(t, f, "bucket-2")
	if d1 < 4 || d2 < 2 {
		t.Fatalf("digests: %d in bucket-1, %d in bucket-2", d1, d2)
	}
	rep := f.validate(start)
	if !rep.OK() || rep.ValidDigests != d1+d2 {
		t.Fatalf("want all %d+%d digests valid:\n%s", d1, d2, rep.Text(true))
	}
	if len(rep.Gaps) != 1 {
		t.Fatalf("want the period without validation as one gap: %v\n%s", rep.Gaps, rep.Text(true))
	}
	if rep.FoundStart.After(start.Add(15 * time.Minute)) {
		t.Fatalf("validation stopped at %v, the range starts at %v", rep.FoundStart, start)
	}

	// A digest deleted in the old bucket breaks the chain there; the walk
	// goes on with the old bucket's older digests.
	var old []Finding
	for _, x := range rep.Findings {
		if x.File == "digest" && x.Bucket == "bucket-1" {
			old = append(old, x) // newest first
		}
	}
	if err := os.Remove(ObjectPath(f.root, old[1].Bucket, old[1].Key)); err != nil {
		t.Fatal(err)
	}
	rep = f.validate(start)
	if rep.OK() || rep.InvalidDigests != 1 || rep.ValidDigests != d1+d2-1 {
		t.Fatalf("after deleting %s:\n%s", old[1].Key, rep.Text(true))
	}
}

// A multi-region trail's shadow counts against another region's limit of 5 trails
// and holds its name there, as on AWS.
func TestShadowTrailCountsInOtherRegions(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"everywhere","S3BucketName":"bucket-1","IsMultiRegionTrail":true}`)
	f.caller = Caller{Region: "us-west-2", Account: "111122223333"}
	if _, err := f.op("CreateTrail", `{"Name":"everywhere","S3BucketName":"bucket-2"}`); MapError(err) == nil || MapError(err).Code != "TrailAlreadyExistsException" {
		t.Errorf("a trail named like a shadow: %v, want TrailAlreadyExistsException", err)
	}
	for i := range 4 {
		f.mustOp("CreateTrail", fmt.Sprintf(`{"Name":"west-%d","S3BucketName":"bucket-2"}`, i))
	}
	if _, err := f.op("CreateTrail", `{"Name":"west-4","S3BucketName":"bucket-2"}`); MapError(err) == nil || MapError(err).Code != "MaximumNumberOfTrailsExceededException" {
		t.Errorf("a sixth trail in us-west-2 (with the shadow): %v, want MaximumNumberOfTrailsExceededException", err)
	}
	if list := f.mustOp("DescribeTrails", `{}`).(map[string]any)["trailList"].([]*trailOutput); len(list) != 5 {
		t.Errorf("us-west-2 has %d trails, want 5", len(list))
	}
	// Another account's multi-region trail does not count.
	f.caller = Caller{Region: "us-west-2", Account: "444455556666"}
	f.mustOp("CreateTrail", `{"Name":"everywhere","S3BucketName":"bucket-3"}`)
}

// SnsTopicName is a topic name or ARN: anything else is InvalidSnsTopicNameException,
// and an ARN is the trail's SnsTopicARN as it is.
func TestSnsTopicName(t *testing.T) {
	f := newFixture(t)
	for _, bad := range []string{"bad topic", "a/b", strings.Repeat("t", 257), "arn:aws:sns:us-east-1:111122223333:", "arn:aws:s3:::bucket"} {
		body, _ := json.Marshal(map[string]string{"Name": "notify", "S3BucketName": "bucket-1", "SnsTopicName": bad})
		if _, err := f.op("CreateTrail", string(body)); MapError(err) == nil || MapError(err).Code != "InvalidSnsTopicNameException" {
			t.Errorf("SnsTopicName %q: %v, want InvalidSnsTopicNameException", bad, err)
		}
	}
	if len(f.svc.Trails()) != 0 {
		t.Fatal("a trail was created")
	}
	out := f.mustOp("CreateTrail", `{"Name":"notify","S3BucketName":"bucket-1","SnsTopicName":"deliveries"}`).(*trailOutput)
	if out.SnsTopicARN != "arn:aws:sns:us-east-1:111122223333:deliveries" {
		t.Errorf("SnsTopicARN %q", out.SnsTopicARN)
	}
	arn := "arn:aws:sns:us-west-2:111122223333:other_topic"
	out = f.mustOp("UpdateTrail", `{"Name":"notify","SnsTopicName":"`+arn+`"}`).(*trailOutput)
	if out.SnsTopicARN != arn {
		t.Errorf("SnsTopicARN of an ARN: %q, want %q", out.SnsTopicARN, arn)
	}
	if _, err := f.op("UpdateTrail", `{"Name":"notify","SnsTopicName":"no spaces"}`); MapError(err) == nil || MapError(err).Code != "InvalidSnsTopicNameException" {
		t.Errorf("UpdateTrail with a bad topic: %v", err)
	}
	if got := mustTrailNamed(t, f, "notify").SnsTopicName; got != arn {
		t.Errorf("a refused update changed the topic to %q", got)
	}
	out = f.mustOp("UpdateTrail", `{"Name":"notify","SnsTopicName":""}`).(*trailOutput)
	if out.SnsTopicName != "" || out.SnsTopicARN != "" {
		t.Errorf("cleared topic: %+v", out)
	}
}

func mustTrailNamed(t *testing.T, f *fixture, name string) Trail {
	t.Helper()
	for _, tr := range f.svc.Trails() {
		if tr.Name == name {
			return tr
		}
	}
	t.Fatalf("no trail %s", name)
	return Trail{}
}

// AddTags, RemoveTags and ListTags, and UpdateTrail keeps the tags.
func TestTrailTags(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"tagged","S3BucketName":"bucket-1","TagsList":[{"Key":"env","Value":"dev"}]}`)
	arn := "arn:aws:cloudtrail:us-east-1:111122223333:trail/tagged"
	list := func() []Tag {
		t.Helper()
		out, err := json.Marshal(f.mustOp("ListTags", `{"ResourceIdList":["`+arn+`"]}`))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			ResourceTagList []struct {
				ResourceID string `json:"ResourceId"`
				TagsList   []Tag
			}
		}
		if err := json.Unmarshal(out, &got); err != nil || len(got.ResourceTagList) != 1 || got.ResourceTagList[0].ResourceID != arn {
			t.Fatalf("ListTags: %s %v", out, err)
		}
		return got.ResourceTagList[0].TagsList
	}
	f.mustOp("AddTags", `{"ResourceId":"`+arn+`","TagsList":[{"Key":"env","Value":"prod"},{"Key":"team","Value":"sec"},{"Key":"empty"}]}`)
	if got := fmt.Sprint(list()); got != "[{env prod} {team sec} {empty }]" {
		t.Errorf("after AddTags: %s", got)
	}
	// UpdateTrail does not take tags and keeps them.
	f.mustOp("UpdateTrail", `{"Name":"tagged","EnableLogFileValidation":true,"TagsList":[]}`)
	f.mustOp("RemoveTags", `{"ResourceId":"`+arn+`","TagsList":[{"Key":"team"},{"Key":"absent"}]}`)
	if got := fmt.Sprint(list()); got != "[{env prod} {empty }]" {
		t.Errorf("after UpdateTrail and RemoveTags: %s", got)
	}
	for _, tc := range []struct{ op, body, code string }{
		{"AddTags", `{"ResourceId":"tagged","TagsList":[{"Key":"a"}]}`, "CloudTrailARNInvalidException"},
		{"AddTags", `{"ResourceId":"arn:aws:cloudtrail:us-east-1:111122223333:trail/nope","TagsList":[{"Key":"a"}]}`, "ResourceNotFoundException"},
		{"AddTags", `{"ResourceId":"arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/x","TagsList":[{"Key":"a"}]}`, "ResourceNotFoundException"},
		{"AddTags", `{"ResourceId":"` + arn + `","TagsList":[{"Key":""}]}`, "InvalidTagParameterException"},
		{"AddTags", `{"ResourceId":"` + arn + `","TagsList":[{"Key":"a"},{"Key":"a"}]}`, "InvalidTagParameterException"},
		{"AddTags", `{"ResourceId":"` + arn + `","TagsList":[{"Key":"a","Value":"` + strings.Repeat("v", 257) + `"}]}`, "InvalidTagParameterException"},
		{"ListTags", `{"ResourceIdList":["arn:aws:kms:us-east-1:111122223333:key/k"]}`, "CloudTrailARNInvalidException"},
		{"ListTags", `{"ResourceIdList":["` + arn + `"],"NextToken":"x"}`, "InvalidTokenException"},
	} {
		if _, err := f.op(tc.op, tc.body); MapError(err) == nil || MapError(err).Code != tc.code {
			t.Errorf("%s %s: %v, want %s", tc.op, tc.body, err, tc.code)
		}
	}
	var many []string
	for i := range 49 {
		many = append(many, fmt.Sprintf(`{"Key":"k%d"}`, i))
	}
	if _, err := f.op("AddTags", `{"ResourceId":"`+arn+`","TagsList":[`+strings.Join(many, ",")+`]}`); MapError(err) == nil || MapError(err).Code != "TagsLimitExceededException" {
		t.Errorf("51 tags: %v", err)
	}
	if got := fmt.Sprint(list()); got != "[{env prod} {empty }]" {
		t.Errorf("after refused requests: %s", got)
	}
	// Only in the home region.
	f.caller = Caller{Region: "eu-west-1", Account: "111122223333"}
	if _, err := f.op("AddTags", `{"ResourceId":"`+arn+`","TagsList":[{"Key":"a"}]}`); MapError(err) == nil || MapError(err).Code != "InvalidHomeRegionException" {
		t.Errorf("AddTags from another region: %v", err)
	}
}

// GetEventSelectors reports CloudTrail's default selector (all management events), by
// name or ARN, also for a shadow trail.
func TestGetEventSelectors(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"everywhere","S3BucketName":"bucket-1","IsMultiRegionTrail":true}`)
	arn := "arn:aws:cloudtrail:us-east-1:111122223333:trail/everywhere"
	want := `{"EventSelectors":[{"ReadWriteType":"All","IncludeManagementEvents":true,"DataResources":[],"ExcludeManagementEventSources":[]}],"TrailARN":"` + arn + `"}`
	for _, c := range []Caller{f.caller, {Region: "eu-west-1", Account: "111122223333"}} {
		f.caller = c
		for _, name := range []string{"everywhere", arn} {
			b, _ := json.Marshal(f.mustOp("GetEventSelectors", `{"TrailName":"`+name+`"}`))
			if string(b) != want {
				t.Errorf("%s from %s: %s\nwant %s", name, c.Region, b, want)
			}
		}
	}
	for body, code := range map[string]string{`{"TrailName":"nope"}`: "TrailNotFoundException", `{}`: "InvalidTrailNameException",
		`{"TrailName":"arn:aws:cloudtrail:us-east-1:111122223333:x"}`: "CloudTrailARNInvalidException"} {
		if _, err := f.op("GetEventSelectors", body); MapError(err) == nil || MapError(err).Code != code {
			t.Errorf("%s: %v, want %s", body, err, code)
		}
	}
}

// Each region's digests are signed with that region's key, whose public key ListPublicKeys
// returns in that region, as on AWS ("Each digest file is signed with a private key unique
// to its Region", ListPublicKeys in the API reference).
func TestDigestSignedWithItsRegionsKey(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"trail-1","S3BucketName":"bucket-1","EnableLogFileValidation":true,"IsMultiRegionTrail":true}`)
	f.mustOp("StartLogging", `{"Name":"trail-1"}`)
	for range 12 {
		f.now = f.now.Add(time.Minute)
		e := &audit.Event{EventSource: audit.SourceKMS, EventName: "Encrypt", AWSRegion: "eu-west-1", EventTime: f.now,
			UserIdentity: audit.UserIdentity{Type: "Root", AccountID: "111122223333"}}
		if err := f.j.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		f.tick()
	}
	files, _ := filepath.Glob(filepath.Join(f.root, "bucket-1", "AWSLogs", "111122223333", "CloudTrail-Digest", "eu-west-1", "*", "*", "*", "*.json.gz"))
	if len(files) == 0 {
		t.Fatal("no eu-west-1 digest")
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	inflated, err := Gunzip(raw)
	if err != nil {
		t.Fatal(err)
	}
	dg, err := ParseDigest(inflated)
	if err != nil {
		t.Fatal(err)
	}
	var sig struct {
		Signature string `json:"signature"`
	}
	sb, _ := os.ReadFile(files[0] + SigSuffix)
	json.Unmarshal(sb, &sig)
	f.caller = Caller{Region: "eu-west-1", Account: "111122223333"}
	out, _ := json.Marshal(f.mustOp("ListPublicKeys", `{}`))
	var keys struct {
		PublicKeyList []struct {
			Value       []byte
			Fingerprint string
		}
	}
	json.Unmarshal(out, &keys)
	found := false
	for _, k := range keys.PublicKeyList {
		if k.Fingerprint == dg.DigestPublicKeyFingerprint {
			found = true
			if err := Verify(k.Value, dg, inflated, sig.Signature); err != nil {
				t.Errorf("signature: %v", err)
			}
		}
	}
	if !found {
		t.Errorf("the eu-west-1 digest's key %s is not among eu-west-1's public keys %s", dg.DigestPublicKeyFingerprint, out)
	}
}

// A new multi-region trail needs room in every region where the account has trails: its
// name must be free there and the region must have fewer than 5 trails.
func TestMultiRegionTrailNeedsRoomEverywhere(t *testing.T) {
	f := newFixture(t)
	f.caller = Caller{Region: "us-west-2", Account: "111122223333"}
	f.mustOp("CreateTrail", `{"Name":"taken","S3BucketName":"bucket-2"}`)
	f.caller = Caller{Region: "us-east-1", Account: "111122223333"}
	if _, err := f.op("CreateTrail", `{"Name":"taken","S3BucketName":"bucket-1","IsMultiRegionTrail":true}`); MapError(err) == nil || MapError(err).Code != "TrailAlreadyExistsException" {
		t.Errorf("a multi-region trail named like a trail of us-west-2: %v, want TrailAlreadyExistsException", err)
	}
	f.mustOp("CreateTrail", `{"Name":"taken","S3BucketName":"bucket-1"}`) // a single-region one is fine
	f.caller = Caller{Region: "us-west-2", Account: "111122223333"}
	for i := range 4 {
		f.mustOp("CreateTrail", fmt.Sprintf(`{"Name":"west-%d","S3BucketName":"bucket-2"}`, i))
	}
	f.caller = Caller{Region: "us-east-1", Account: "111122223333"}
	_, err := f.op("CreateTrail", `{"Name":"everywhere","S3BucketName":"bucket-1","IsMultiRegionTrail":true}`)
	if e := MapError(err); e == nil || e.Code != "MaximumNumberOfTrailsExceededException" || !strings.Contains(e.Message, "us-west-2") {
		t.Errorf("a multi-region trail while us-west-2 has 5 trails: %v, want MaximumNumberOfTrailsExceededException", err)
	}
	if n := len(f.svc.Trails()); n != 6 {
		t.Errorf("%d trails, want 6", n)
	}
}

// Report.Text lays out blank lines as aws cloudtrail validate-logs does
// (awscli/customizations/cloudtrail/validation.py: _write_status, _write_summary_text).
func TestReportTextLayout(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	r := &Report{TrailARN: "arn:aws:cloudtrail:us-east-1:111122223333:trail/t", Start: t0, End: t0.Add(time.Hour),
		FoundStart: t0, FoundEnd: t0.Add(time.Hour), ValidDigests: 1, ValidLogs: 1}
	valid := []Finding{{File: "digest", Bucket: "b", Key: "d1", Status: StatusValid, Message: "valid"},
		{File: "log", Bucket: "b", Key: "l1", Status: StatusValid, Message: "valid"}}
	head := "Validating log files for trail arn:aws:cloudtrail:us-east-1:111122223333:trail/t between 2026-01-02T03:00:00Z and 2026-01-02T04:00:00Z\n\n"
	tail := "Results requested for 2026-01-02T03:00:00Z to 2026-01-02T04:00:00Z\nResults found for 2026-01-02T03:00:00Z to 2026-01-02T04:00:00Z:\n\n"
	r.Findings = valid
	if got, want := r.Text(false), head+tail+"1/1 digest files valid\n1/1 log files valid\n"; got != want {
		t.Errorf("all valid:\n%q\nwant\n%q", got, want)
	}
	if got, want := r.Text(true), head+"Digest file\ts3://b/d1\tvalid\nLog file\ts3://b/l1\tvalid\n\n"+tail+"1/1 digest files valid\n1/1 log files valid\n"; got != want {
		t.Errorf("verbose:\n%q\nwant\n%q", got, want)
	}
	r.Findings = append(valid, Finding{File: "log", Bucket: "b", Key: "l2", Status: StatusDeleted, Message: "INVALID: not found"},
		Finding{File: "log", Bucket: "b", Key: "l3", Status: StatusValid, Message: "valid"})
	r.InvalidLogs, r.ValidLogs = 1, 2
	want := head + "Digest file\ts3://b/d1\tvalid\nLog file\ts3://b/l1\tvalid\n\nLog file\ts3://b/l2\tINVALID: not found (deleted)\n\n" +
		"Log file\ts3://b/l3\tvalid\n\n" + tail + "1/1 digest files valid\n2/3 log files valid, 1/3 log files INVALID\n"
	if got := r.Text(true); got != want {
		t.Errorf("verbose with an INVALID file:\n%q\nwant\n%q", got, want)
	}
	want = head + "Log file\ts3://b/l2\tINVALID: not found (deleted)\n\n" + tail + "1/1 digest files valid\n2/3 log files valid, 1/3 log files INVALID\n"
	if got := r.Text(false); got != want {
		t.Errorf("an INVALID file:\n%q\nwant\n%q", got, want)
	}
}
