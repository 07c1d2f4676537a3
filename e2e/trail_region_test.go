package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestTrailValidateOtherRegion: `coffer trail validate --region` validates that region's
// log and digest files of a multi-region trail with that region's public keys, as
// `aws cloudtrail validate-logs --region` does.
func TestTrailValidateOtherRegion(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s, root := debianCLINode(t, "--trail-delivery-interval", "1s", "--trail-digest-interval", "2s")
	dc := s.creds()
	start := time.Now().Add(-time.Minute)
	var created struct{ TrailARN string }
	awsOK(t, s, root, &created, "cloudtrail", "create-trail", "--name", "everywhere", "--s3-bucket-name", "audit-bucket",
		"--is-multi-region-trail", "--enable-log-file-validation")
	awsOK(t, s, root, nil, "cloudtrail", "start-logging", "--name", "everywhere")

	west := s.kmsClientWith("us-west-2", dc.RootAccessKeyID, dc.RootSecretAccessKey)
	key, err := west.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := west.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		out, code := validateTrail(t, s, created.TrailARN, start, "--region", "us-west-2", "--output", "json")
		var r trailReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if code == 0 && validDigestsWithLogs(r) >= 2 {
			for _, f := range r.Findings {
				if !strings.Contains(f.Key, "/us-west-2/") {
					t.Fatalf("--region us-west-2 validated %s", f.Key)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no valid us-west-2 digests with log files after 60s: exit %d\n%s", code, out)
		}
	}
	// The default is the trail's home region, whose files hold the us-east-1 requests.
	out, code := validateTrail(t, s, created.TrailARN, start, "--output", "json")
	var home trailReport
	if err := json.Unmarshal([]byte(out), &home); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != 0 || home.ValidDigests == 0 {
		t.Fatalf("home region: exit %d\n%s", code, out)
	}
	for _, f := range home.Findings {
		if !strings.Contains(f.Key, "/us-east-1/") {
			t.Fatalf("the home region's validation read %s", f.Key)
		}
	}
}
