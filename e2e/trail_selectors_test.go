package e2e

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// deliveredRecords returns (eventSource, eventName, readOnly) of every record in the
// delivered log files of a bucket directory.
func deliveredRecords(t *testing.T, dir string) []struct {
	EventSource, EventName string
	ReadOnly               bool
} {
	t.Helper()
	var out []struct {
		EventSource, EventName string
		ReadOnly               bool
	}
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.Contains(p, "/CloudTrail/") || !strings.HasSuffix(p, ".json.gz") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b, _ := io.ReadAll(zr)
		var doc struct {
			Records []struct {
				EventSource, EventName string
				ReadOnly               bool
			}
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, doc.Records...)
		return nil
	})
	return out
}

// The common cost-saving trail setting, with Debian's /usr/bin/aws: put-event-selectors
// that log write events only and exclude KMS. Delivered log files then hold no KMS event
// and no read-only event, while the event history (lookup-events) still has them all.
func TestTrailEventSelectors(t *testing.T) {
	t.Parallel() // independent node; most of its time is waiting for delivery
	s, root := debianCLINode(t, "--trail-delivery-interval", "1s")
	awsOK(t, s, root, nil, "cloudtrail", "create-trail", "--name", "writes", "--s3-bucket-name", "writes-bucket")
	awsOK(t, s, root, nil, "cloudtrail", "start-logging", "--name", "writes")
	var put struct {
		TrailARN       string
		EventSelectors []struct {
			ReadWriteType                 string
			IncludeManagementEvents       bool
			ExcludeManagementEventSources []string
		}
	}
	awsOK(t, s, root, &put, "cloudtrail", "put-event-selectors", "--trail-name", "writes", "--event-selectors",
		`[{"ReadWriteType":"WriteOnly","ExcludeManagementEventSources":["kms.amazonaws.com"]}]`)
	if len(put.EventSelectors) != 1 || put.EventSelectors[0].ReadWriteType != "WriteOnly" || !put.EventSelectors[0].IncludeManagementEvents ||
		strings.Join(put.EventSelectors[0].ExcludeManagementEventSources, ",") != "kms.amazonaws.com" ||
		put.TrailARN != "arn:aws:cloudtrail:us-east-1:111122223333:trail/writes" {
		t.Fatalf("put-event-selectors: %+v", put)
	}
	var get struct {
		EventSelectors []struct{ ReadWriteType string }
	}
	awsOK(t, s, root, &get, "cloudtrail", "get-event-selectors", "--trail-name", "writes")
	if len(get.EventSelectors) != 1 || get.EventSelectors[0].ReadWriteType != "WriteOnly" {
		t.Fatalf("get-event-selectors: %+v", get)
	}
	if _, errOut, ok := awsAs(t, s, root, "cloudtrail", "put-event-selectors", "--trail-name", "writes", "--event-selectors",
		`[{"ExcludeManagementEventSources":["iam.amazonaws.com"]}]`); ok || !strings.Contains(errOut, "InvalidEventSelectorsException") {
		t.Fatalf("bad selector: %s", errOut)
	}

	ct := s.cloudtrailClient()
	desc, err := ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{TrailNameList: []string{"writes"}})
	if err != nil || len(desc.TrailList) != 1 || !aws.ToBool(desc.TrailList[0].HasCustomEventSelectors) {
		t.Fatalf("DescribeTrails: %+v %v", desc, err)
	}
	// KMS writes and reads, CloudTrail reads and one CloudTrail write.
	k := s.kmsClient()
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("writes")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("marker"), S3BucketName: aws.String("other-bucket")}); err != nil {
		t.Fatal(err)
	}
	bucket := filepath.Join(s.dataDir, "trails", "writes-bucket")
	delivered := func() bool {
		for _, r := range deliveredRecords(t, bucket) {
			if r.EventName == "CreateTrail" {
				return true
			}
		}
		return false
	}
	waitFor(t, 30*time.Second, delivered)
	time.Sleep(1500 * time.Millisecond) // one more delivery, for anything recorded with it
	for _, r := range deliveredRecords(t, bucket) {
		if r.ReadOnly || r.EventSource == "kms.amazonaws.com" {
			t.Errorf("delivered although the selectors exclude it: %+v", r)
		}
	}
	// The event history is not filtered.
	var hist struct{ Events []struct{ EventName string } }
	awsOK(t, s, root, &hist, "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=EventName,AttributeValue=Encrypt")
	if len(hist.Events) != 1 {
		t.Fatalf("lookup-events Encrypt: %+v", hist)
	}

	// Advanced selectors replace the basic ones.
	var adv struct {
		AdvancedEventSelectors []struct {
			Name           string
			FieldSelectors []struct {
				Field  string
				Equals []string
			}
		}
		EventSelectors []any
	}
	awsOK(t, s, root, &adv, "cloudtrail", "put-event-selectors", "--trail-name", "writes", "--advanced-event-selectors",
		`[{"Name":"management writes","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"readOnly","Equals":["false"]}]}]`)
	if len(adv.AdvancedEventSelectors) != 1 || adv.AdvancedEventSelectors[0].Name != "management writes" ||
		len(adv.AdvancedEventSelectors[0].FieldSelectors) != 2 || adv.EventSelectors != nil {
		t.Fatalf("advanced put-event-selectors: %+v", adv)
	}
	sel, err := ct.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String("writes")})
	if err != nil || len(sel.AdvancedEventSelectors) != 1 || len(sel.EventSelectors) != 0 {
		t.Fatalf("GetEventSelectors: %+v %v", sel, err)
	}
}
