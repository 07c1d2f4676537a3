package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

func (s *server) cloudtrailClient() *cloudtrail.Client {
	c := s.creds()
	return cloudtrail.New(cloudtrail.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: c.RootAccessKeyID, SecretAccessKey: c.RootSecretAccessKey, Source: "e2e"}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

// trailFinding is one file of `coffer trail validate --output json`.
type trailFinding struct{ File, Bucket, Key, Status, Message string }

type trailReport struct {
	ValidDigests, InvalidDigests, ValidLogs, InvalidLogs int
	ChainBroken                                          bool
	Findings                                             []trailFinding
}

// validateTrail runs `coffer trail validate`; it returns stdout and the exit status.
func validateTrail(t *testing.T, s *server, arn string, start time.Time, extra ...string) (string, int) {
	t.Helper()
	args := append([]string{"trail", "validate", "--trail-arn", arn, "--start-time", start.UTC().Format(time.RFC3339),
		"--endpoint", s.url, "--data-dir", s.dataDir}, extra...)
	cmd := exec.Command(cofferBin, args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code == 1 {
		t.Fatalf("coffer trail validate failed: %s\n%s", errb.String(), out.String())
	}
	return out.String(), code
}

func validateJSON(t *testing.T, s *server, arn string, start time.Time) (trailReport, int) {
	t.Helper()
	out, code := validateTrail(t, s, arn, start, "--output", "json")
	var r trailReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return r, code
}

// digestGroups returns the valid digests (newest first) with the log files each lists.
func digestGroups(r trailReport) (digests []trailFinding, logs map[string][]trailFinding) {
	logs = map[string][]trailFinding{}
	cur := ""
	for _, f := range r.Findings {
		if f.File == "digest" {
			cur = f.Key
			if f.Status == "valid" {
				digests = append(digests, f)
			}
		} else if cur != "" {
			logs[cur] = append(logs[cur], f)
		}
	}
	return digests, logs
}

// countEncrypts counts the Encrypt records in the delivered log files of a bucket.
func countEncrypts(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, r := range deliveredRecords(t, dir) {
		if r.EventName == "Encrypt" && r.EventSource == "kms.amazonaws.com" {
			n++
		}
	}
	return n
}

func validDigestsWithLogs(r trailReport) int {
	digests, logs := digestGroups(r)
	n := 0
	for _, d := range digests {
		if len(logs[d.Key]) > 0 {
			n++
		}
	}
	return n
}

// TestTrailLogFileValidation: a trail made with the AWS CLI delivers the journal as log
// files with signed, chained digests that survive a restart; `coffer trail validate`
// finds everything valid, then names a modified log, a deleted log and a missing digest.
func TestTrailLogFileValidation(t *testing.T) {
	t.Parallel() // independent node; most of its time is waiting for digests
	s, root := debianCLINode(t, "--trail-delivery-interval", "1s", "--trail-digest-interval", "3s")
	start := time.Now().Add(-time.Minute)
	var created struct {
		TrailARN                 string
		LogFileValidationEnabled bool
		S3BucketName             string
	}
	awsOK(t, s, root, &created, "cloudtrail", "create-trail", "--name", "main", "--s3-bucket-name", "audit-bucket", "--enable-log-file-validation")
	if created.TrailARN != "arn:aws:cloudtrail:us-east-1:111122223333:trail/main" || !created.LogFileValidationEnabled || created.S3BucketName != "audit-bucket" {
		t.Fatalf("create-trail: %+v", created)
	}
	if _, errOut, ok := awsAs(t, s, root, "cloudtrail", "create-trail", "--name", "main", "--s3-bucket-name", "audit-bucket"); ok || !strings.Contains(errOut, "TrailAlreadyExistsException") {
		t.Fatalf("duplicate create-trail: %s", errOut)
	}
	if _, errOut, ok := awsAs(t, s, root, "cloudtrail", "create-trail", "--name", "a..b", "--s3-bucket-name", "audit-bucket"); ok || !strings.Contains(errOut, "InvalidTrailNameException") {
		t.Fatalf("bad name: %s", errOut)
	}
	awsOK(t, s, root, nil, "cloudtrail", "start-logging", "--name", "main")
	var st struct{ IsLogging bool }
	awsOK(t, s, root, &st, "cloudtrail", "get-trail-status", "--name", "main")
	if !st.IsLogging {
		t.Fatalf("get-trail-status: %+v", st)
	}

	k := s.kmsClient()
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	encrypts := 0
	work := func(want int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			encrypts++
			time.Sleep(700 * time.Millisecond)
			if r, _ := validateJSON(t, s, created.TrailARN, start); validDigestsWithLogs(r) >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d digests with log files after 60s", want)
			}
		}
	}
	work(3)

	ct := s.cloudtrailClient()
	status, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("main")})
	if err != nil || status.LatestDeliveryTime == nil || status.LatestDigestDeliveryTime == nil || status.StartLoggingTime == nil {
		t.Fatalf("GetTrailStatus: %+v %v", status, err)
	}
	pks, err := ct.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{})
	if err != nil || len(pks.PublicKeyList) != 1 || len(pks.PublicKeyList[0].Value) < 200 {
		t.Fatalf("ListPublicKeys: %+v %v", pks, err)
	}

	// A restart neither loses nor repeats events, and the chain goes on.
	s.stop()
	s.restart()
	k = s.kmsClient()
	work(validDigestsWithLogs(func() trailReport { r, _ := validateJSON(t, s, created.TrailARN, start); return r }()) + 2)
	awsOK(t, s, root, nil, "cloudtrail", "stop-logging", "--name", "main")
	awsOK(t, s, root, &st, "cloudtrail", "get-trail-status", "--name", "main")
	if st.IsLogging {
		t.Fatal("still logging after stop-logging")
	}
	bucket := filepath.Join(s.dataDir, "trails", "audit-bucket")
	waitFor(t, 10*time.Second, func() bool { return countEncrypts(t, bucket) >= encrypts })
	if n := countEncrypts(t, bucket); n != encrypts {
		t.Fatalf("%d Encrypt records delivered, %d made", n, encrypts)
	}
	time.Sleep(4 * time.Second) // the last digest, for the last log files

	out, code := validateTrail(t, s, created.TrailARN, start)
	if code != 0 || strings.Contains(out, "INVALID") || !strings.Contains(out, "Results requested for") {
		t.Fatalf("validate of an intact trail: exit %d\n%s", code, out)
	}
	rep, _ := validateJSON(t, s, created.TrailARN, start)
	if rep.InvalidLogs+rep.InvalidDigests != 0 || rep.ValidDigests < 5 || rep.ValidLogs < 5 {
		t.Fatalf("intact trail: %+v", rep)
	}

	// Tamper: modify a log of the newest digest with logs, delete a log of an older
	// digest, and delete a digest between them (the chain is broken there).
	digests, logs := digestGroups(rep)
	var withLogs []trailFinding
	for _, d := range digests {
		if len(logs[d.Key]) > 0 {
			withLogs = append(withLogs, d)
		}
	}
	modified := logs[withLogs[0].Key][0]
	var missing trailFinding
	for _, d := range digests {
		if d.Key > withLogs[0].Key {
			continue
		}
		if d.Key < withLogs[0].Key {
			missing = d
			break
		}
	}
	var deleted trailFinding
	for _, d := range withLogs {
		if d.Key < missing.Key {
			deleted = logs[d.Key][0]
			break
		}
	}
	if missing.Key == "" || deleted.Key == "" {
		t.Fatalf("not enough digests to tamper with: %+v", rep)
	}
	path := func(f trailFinding) string {
		return filepath.Join(s.dataDir, "trails", f.Bucket, filepath.FromSlash(f.Key))
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(`{"Records":[]}`))
	zw.Close()
	if err := os.WriteFile(path(modified), zb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path(deleted)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path(missing)); err != nil {
		t.Fatal(err)
	}
	out, code = validateTrail(t, s, created.TrailARN, start)
	if code != 2 {
		t.Fatalf("validate of a tampered trail: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"Log file\ts3://audit-bucket/" + modified.Key + "\tINVALID: hash value doesn't match (modified)",
		"Log file\ts3://audit-bucket/" + deleted.Key + "\tINVALID: not found (deleted)",
		"Digest file\ts3://audit-bucket/" + missing.Key + "\tINVALID: not found (missing)",
		"digest files INVALID", "2/", "log files INVALID",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}

// TestTrailKMSEncryption: a trail with a KmsKeyId writes files that are not readable as
// gzip; validation decrypts them through KMS and still detects tampering.
func TestTrailKMSEncryption(t *testing.T) {
	s := startServer(t, "", nil, "--trail-delivery-interval", "1s", "--trail-digest-interval", "2s")
	ct := s.cloudtrailClient()
	k := s.kmsClient()
	start := time.Now().Add(-time.Minute)
	_, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("sealed"), S3BucketName: aws.String("sealed-bucket"),
		KmsKeyId: aws.String("alias/does-not-exist"), EnableLogFileValidation: aws.Bool(true)})
	wantAPIError(t, err, "KmsKeyNotFoundException")
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	created, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("sealed"), S3BucketName: aws.String("sealed-bucket"),
		S3KeyPrefix: aws.String("org/prod"), KmsKeyId: key.KeyMetadata.KeyId, EnableLogFileValidation: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(created.KmsKeyId) != aws.ToString(key.KeyMetadata.Arn) {
		t.Fatalf("KmsKeyId %q, want the key ARN %q", aws.ToString(created.KmsKeyId), aws.ToString(key.KeyMetadata.Arn))
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: created.TrailARN}); err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.TrailARN)
	deadline := time.Now().Add(60 * time.Second)
	var rep trailReport
	for {
		if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		if rep, _ = validateJSON(t, s, arn, start); validDigestsWithLogs(rep) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no digests after 60s: %+v", rep)
		}
	}
	if rep.InvalidDigests+rep.InvalidLogs != 0 {
		t.Fatalf("encrypted trail: %+v", rep)
	}
	digests, logs := digestGroups(rep)
	log := logs[digests[0].Key]
	if len(log) == 0 {
		log = logs[digests[1].Key]
	}
	for _, f := range []trailFinding{digests[0], log[0]} {
		if !strings.HasPrefix(f.Key, "org/prod/AWSLogs/111122223333/") {
			t.Fatalf("key %s lacks the prefix layout", f.Key)
		}
		raw, err := os.ReadFile(filepath.Join(s.dataDir, "trails", f.Bucket, filepath.FromSlash(f.Key)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gzip.NewReader(bytes.NewReader(raw)); err == nil || bytes.Contains(raw, []byte("Encrypt")) {
			t.Fatalf("%s is readable without the KMS key", f.Key)
		}
	}
	p := filepath.Join(s.dataDir, "trails", log[0].Bucket, filepath.FromSlash(log[0].Key))
	raw, _ := os.ReadFile(p)
	raw[len(raw)-5] ^= 0x40
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := validateTrail(t, s, arn, start)
	if code != 2 || !strings.Contains(out, "Log file\ts3://sealed-bucket/"+log[0].Key+"\tINVALID") || !strings.Contains(out, "(modified)") {
		t.Fatalf("tampered encrypted log: exit %d\n%s", code, out)
	}
}
