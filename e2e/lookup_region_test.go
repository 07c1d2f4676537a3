package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// regionEvent is what TestLookupEventsRegionScoped reads of a looked-up event.
type regionEvent struct {
	ID, Name, Region, KeyARN string
}

// lookupIn pages through `aws cloudtrail lookup-events --region <region>` (the CLI
// follows NextToken itself), optionally for one attribute.
func lookupIn(t *testing.T, s *server, region string, attr ...string) []regionEvent {
	t.Helper()
	args := []string{"cloudtrail", "lookup-events", "--region", region}
	if len(attr) == 2 {
		args = append(args, "--lookup-attributes", "AttributeKey="+attr[0]+",AttributeValue="+attr[1])
	}
	var out struct {
		Events []struct{ EventId, EventName, CloudTrailEvent string }
	}
	awsOK(t, s, s.rootAWS(), &out, args...)
	var evs []regionEvent
	for _, e := range out.Events {
		evs = append(evs, regionEventOf(t, e.EventId, e.EventName, e.CloudTrailEvent))
	}
	return evs
}

// regionEventOf is a LookupEvents event, checked against its CloudTrailEvent record.
func regionEventOf(t *testing.T, id, name, record string) regionEvent {
	t.Helper()
	var rec struct {
		EventID   string `json:"eventID"`
		AWSRegion string `json:"awsRegion"`
		Resources []struct {
			ARN string `json:"ARN"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(record), &rec); err != nil || rec.EventID != id {
		t.Fatalf("CloudTrailEvent %v: %s", err, record)
	}
	ev := regionEvent{ID: id, Name: name, Region: rec.AWSRegion}
	if len(rec.Resources) > 0 {
		ev.KeyARN = rec.Resources[0].ARN
	}
	return ev
}

// lookupInSDK is lookupIn with aws-sdk-go-v2's paginator.
func lookupInSDK(t *testing.T, s *server, region string, attr ...string) []regionEvent {
	t.Helper()
	in := &cloudtrail.LookupEventsInput{}
	if len(attr) == 2 {
		in.LookupAttributes = []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKey(attr[0]), AttributeValue: aws.String(attr[1])}}
	}
	var evs []regionEvent
	p := cloudtrail.NewLookupEventsPaginator(s.cloudtrailClientIn(region), in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("LookupEvents in %s %v: %v", region, attr, err)
		}
		for _, e := range page.Events {
			evs = append(evs, regionEventOf(t, aws.ToString(e.EventId), aws.ToString(e.EventName), aws.ToString(e.CloudTrailEvent)))
		}
	}
	return evs
}

func (s *server) cloudtrailClientIn(region string) *cloudtrail.Client {
	c := s.creds()
	return cloudtrail.New(cloudtrail.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: c.RootAccessKeyID, SecretAccessKey: c.RootSecretAccessKey, Source: "e2e"}, nil
		}),
		RetryMaxAttempts: 1,
		HTTPClient:       s.httpClient(),
	})
}

// TestLookupEventsRegionScoped: as on AWS, `aws cloudtrail lookup-events --region R`
// answers with the events recorded in R only (HSM events are the node's region's), also
// after a restart, when they are in closed segments' index files; a NextToken from one
// region is refused in another. The region listings run with the CLI while the node runs;
// the lookups by key and the checks after the restart (the server's index files) use
// aws-sdk-go-v2.
func TestLookupEventsRegionScoped(t *testing.T) {
	t.Parallel() // independent node
	s, _ := debianCLINode(t)
	dc := s.creds()
	keys := map[string]string{} // region → key ARN
	for _, region := range []string{"us-east-1", "us-west-2"} {
		k := s.kmsClientWith(region, dc.RootAccessKeyID, dc.RootSecretAccessKey)
		key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		keys[region] = *key.KeyMetadata.Arn
		for i := 0; i < 3; i++ {
			if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// An HSM event: recorded in the node's region (--region, us-east-1 by default).
	s.cli().run("", "login", "--username", "admin", "--role", "admin", "--password", "wrong-password")

	check := func(when string, lookup func(t *testing.T, s *server, region string, attr ...string) []regionEvent) {
		t.Helper()
		for region, key := range keys {
			evs := lookup(t, s, region)
			names := map[string]int{}
			for _, e := range evs {
				if e.Region != region {
					t.Fatalf("%s: lookup-events --region %s returned an event of %s: %+v", when, region, e.Region, e)
				}
				names[e.Name]++
			}
			if names["CreateKey"] != 1 || names["Encrypt"] != 3 {
				t.Fatalf("%s: %s events: %v", when, region, names)
			}
			if hsm := names["CN_LOGIN"]; (region == "us-east-1") != (hsm > 0) {
				t.Fatalf("%s: %d HSM login events in %s", when, hsm, region)
			}
			// A lookup by the key finds its creation and its Encrypts in its region, and
			// nothing elsewhere.
			for other := range keys {
				byKey := lookupInSDK(t, s, other, "ResourceName", key)
				if want := map[bool]int{true: 4, false: 0}[other == region]; len(byKey) != want {
					t.Fatalf("%s: %d events of the %s key in %s, want %d", when, len(byKey), region, other, want)
				}
			}
		}
		// A region where nothing but lookups was called has only those.
		for _, e := range lookup(t, s, "eu-central-1") {
			if e.Name != "LookupEvents" || e.Region != "eu-central-1" {
				t.Fatalf("%s: eu-central-1 has %+v", when, e)
			}
		}
	}
	check("running", lookupIn)

	// A token is bound to the region it was issued in.
	east, west := s.cloudtrailClientIn("us-east-1"), s.cloudtrailClientIn("us-west-2")
	page, err := east.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(2)})
	if err != nil || page.NextToken == nil {
		t.Fatalf("first page: %v", err)
	}
	_, err = west.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(2), NextToken: page.NextToken})
	wantAPIError(t, err, "InvalidNextTokenException")
	next, err := east.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(2), NextToken: page.NextToken})
	if err != nil || len(next.Events) != 2 {
		t.Fatalf("second page in the token's region: %v", err)
	}
	for _, e := range next.Events {
		if !strings.Contains(aws.ToString(e.CloudTrailEvent), `"awsRegion":"us-east-1"`) {
			t.Fatalf("second us-east-1 page holds %s", aws.ToString(e.CloudTrailEvent))
		}
	}

	// After a restart the events are in a closed segment, served from its index file.
	s.stop()
	s.restart()
	check("after restart", lookupInSDK)
}
