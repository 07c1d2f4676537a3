package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

type trailEvent struct {
	EventID, EventName, EventSource, RequestID, ErrorCode string
	ReadOnly                                              bool
	RequestParameters                                     map[string]any
	ResponseElements                                      map[string]any
	UserIdentity                                          struct{ Type, Arn, AccessKeyID string }
	Raw                                                   string // the CloudTrailEvent as answered
}

// lookupAll pages through LookupEvents for an attribute with aws-sdk-go-v2 (the trail's
// content is what callers check; lookupAllCLI is the same through Debian's AWS CLI).
func lookupAll(t *testing.T, s *server, key, value string) []trailEvent {
	t.Helper()
	dc := s.creds()
	c := cloudtrail.New(cloudtrail.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), RetryMaxAttempts: 1, HTTPClient: s.httpClient(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey, Source: "e2e"}, nil
		})})
	p := cloudtrail.NewLookupEventsPaginator(c, &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKey(key), AttributeValue: aws.String(value)}}})
	var evs []trailEvent
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("LookupEvents %s=%s: %v", key, value, err)
		}
		for _, e := range page.Events {
			evs = append(evs, trailEventOf(t, aws.ToString(e.EventId), aws.ToString(e.EventName), aws.ToString(e.CloudTrailEvent)))
		}
	}
	return evs
}

// lookupAllCLI pages through lookup-events for an attribute with Debian's AWS CLI (which
// follows NextToken itself).
func lookupAllCLI(t *testing.T, s *server, key, value string) []trailEvent {
	t.Helper()
	dc := s.creds()
	var out struct {
		Events []struct {
			EventId, EventName, CloudTrailEvent string
		}
	}
	awsOK(t, s, awsCreds{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey}, &out,
		"cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey="+key+",AttributeValue="+value)
	var evs []trailEvent
	for _, e := range out.Events {
		evs = append(evs, trailEventOf(t, e.EventId, e.EventName, e.CloudTrailEvent))
	}
	return evs
}

// trailEventOf reads an event's CloudTrailEvent record and checks it against the summary.
func trailEventOf(t *testing.T, id, name, record string) trailEvent {
	t.Helper()
	var raw struct {
		EventID           string         `json:"eventID"`
		EventName         string         `json:"eventName"`
		EventSource       string         `json:"eventSource"`
		RequestID         string         `json:"requestID"`
		ErrorCode         string         `json:"errorCode"`
		ReadOnly          bool           `json:"readOnly"`
		RequestParameters map[string]any `json:"requestParameters"`
		ResponseElements  map[string]any `json:"responseElements"`
		UserIdentity      struct {
			Type        string `json:"type"`
			Arn         string `json:"arn"`
			AccessKeyID string `json:"accessKeyId"`
		} `json:"userIdentity"`
	}
	if err := json.Unmarshal([]byte(record), &raw); err != nil {
		t.Fatalf("CloudTrailEvent: %v\n%s", err, record)
	}
	if raw.EventID != id || raw.EventName != name {
		t.Fatalf("summary and record differ: %s %s vs %s", id, name, record)
	}
	return trailEvent{EventID: raw.EventID, EventName: raw.EventName, EventSource: raw.EventSource,
		RequestID: raw.RequestID, ErrorCode: raw.ErrorCode, ReadOnly: raw.ReadOnly, RequestParameters: raw.RequestParameters,
		ResponseElements: raw.ResponseElements, Raw: record,
		UserIdentity: struct{ Type, Arn, AccessKeyID string }{raw.UserIdentity.Type, raw.UserIdentity.Arn, raw.UserIdentity.AccessKeyID}}
}

// TestTrailRecordsRequests: every request, accepted or refused, is in the trail, with the
// encryption context and without plaintext; `aws cloudtrail lookup-events` works verbatim.
func TestTrailRecordsRequests(t *testing.T) {
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil)
	k := s.kmsClient()
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	secret := "PLAINTEXT-MUST-NOT-BE-LOGGED"
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte(secret),
		EncryptionContext: map[string]string{"purpose": "audit-test"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "audit-test"}}); err != nil {
		t.Fatal(err)
	}
	// A request that names the key by an alias is recorded on the key, as CloudTrail does.
	if _, err := k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/audit-test"), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/audit-test"), Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "wrong"}})
	wantAPIError(t, err, "InvalidCiphertextException")

	// `aws cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=Decrypt` verbatim.
	evs := lookupAllCLI(t, s, "EventName", "Decrypt")
	if len(evs) != 2 {
		t.Fatalf("Decrypt events: %+v", evs)
	}
	// Newest first: the refused one.
	if evs[0].ErrorCode != "InvalidCiphertextException" || evs[1].ErrorCode != "" || evs[0].EventSource != "kms.amazonaws.com" || !evs[1].ReadOnly {
		t.Fatalf("Decrypt events: %+v", evs)
	}
	if ec, _ := evs[1].RequestParameters["encryptionContext"].(map[string]any); ec["purpose"] != "audit-test" {
		t.Fatalf("encryption context not recorded: %+v", evs[1].RequestParameters)
	}
	if evs[1].UserIdentity.Type != "Root" || evs[1].UserIdentity.AccessKeyID != s.creds().RootAccessKeyID {
		t.Fatalf("identity: %+v", evs[1].UserIdentity)
	}
	// The key is the events' resource: lookup by ResourceName finds its creation (as
	// CloudTrail lists the new key), Encrypt and both Decrypts.
	byKey := lookupAll(t, s, "ResourceName", *key.KeyMetadata.Arn)
	names := map[string]int{}
	for _, e := range byKey {
		names[e.EventName]++
	}
	if names["CreateKey"] != 1 || names["Encrypt"] != 2 || names["Decrypt"] != 2 {
		t.Fatalf("events of the key %s: %v", *key.KeyMetadata.Arn, names)
	}
	// No plaintext anywhere in the audit directory.
	all := readDir(t, s.dataDir)
	if strings.Contains(string(all), secret) {
		t.Fatal("plaintext found in the data dir")
	}
	// HSM logins are in the trail too, with CloudHSM's opcodes.
	c := s.cli()
	c.run("", "login", "--username", "admin", "--role", "admin", "--password", "wrong-password")
	if evs := lookupAll(t, s, "EventName", "CN_LOGIN"); len(evs) == 0 || evs[0].EventSource != "cloudhsm.amazonaws.com" {
		t.Fatalf("HSM login events: %+v", evs)
	}
}

// TestTrailKill9UnderLoad: every request acknowledged before a kill -9 has its event.
func TestTrailKill9UnderLoad(t *testing.T) {
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil)
	k := s.kmsClient()
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(5 * time.Second)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && n.Load() < 400 {
				select {
				case <-stop:
					return
				default:
				}
				var rid string
				_, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")},
					func(o *kms.Options) {
						o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
							return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("rid", func(ctx2 context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
								out, md, err := next.HandleDeserialize(ctx2, in)
								if r, ok := out.RawResponse.(*smithyhttp.Response); ok {
									rid = r.Header.Get("x-amzn-RequestId")
								}
								return out, md, err
							}), middleware.After)
						})
					})
				if err == nil && rid != "" {
					mu.Lock()
					acked[rid] = true
					mu.Unlock()
					n.Add(1)
				}
			}
		}()
	}
	for n.Load() < 150 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.kill9()
	close(stop)
	wg.Wait()
	if len(acked) < 50 {
		t.Fatalf("only %d requests acknowledged before the kill", len(acked))
	}
	s.restart()
	found := map[string]bool{}
	for _, e := range lookupAll(t, s, "EventName", "Encrypt") {
		found[e.RequestID] = true
	}
	missing := 0
	for rid := range acked {
		if !found[rid] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged Encrypt requests have no event after kill -9", missing, len(acked))
	}
	_ = aws.String
}

// TestTrailQueryRequestParameters: query-protocol requests (IAM, SNS, CloudWatch) are
// recorded in CloudTrail's shape: lists as arrays, maps as objects, lowerCamel names.
func TestTrailQueryRequestParameters(t *testing.T) {
	s, root := debianCLINode(t)
	awsOK(t, s, root, nil, "iam", "create-user", "--user-name", "alice", "--tags", "Key=team,Value=ops", "Key=tier,Value=1")
	awsOK(t, s, root, nil, "sns", "create-topic", "--name", "alerts", "--attributes", "DisplayName=Ops")

	evs := lookupAll(t, s, "EventName", "CreateUser")
	if len(evs) != 1 {
		t.Fatalf("CreateUser events: %+v", evs)
	}
	got, _ := json.Marshal(evs[0].RequestParameters)
	if want := `{"tags":[{"key":"team","value":"ops"},{"key":"tier","value":"1"}],"userName":"alice"}`; string(got) != want {
		t.Fatalf("CreateUser requestParameters %s, want %s", got, want)
	}
	evs = lookupAll(t, s, "EventName", "CreateTopic")
	if len(evs) != 1 {
		t.Fatalf("CreateTopic events: %+v", evs)
	}
	got, _ = json.Marshal(evs[0].RequestParameters)
	if want := `{"attributes":{"DisplayName":"Ops"},"name":"alerts"}`; string(got) != want {
		t.Fatalf("CreateTopic requestParameters %s, want %s", got, want)
	}
}

// TestTrailResponseElements: the records of operations that change something carry
// their answer (CreateKey's keyMetadata, CreateUser's user, AssumeRole's credentials) in
// CloudTrail's shape and without its secrets; cryptographic operations record null; a
// request refused by SigV4 is recorded with the access key it claimed.
func TestTrailResponseElements(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", nil)
	root := s.rootAWS()
	// The calls are made with aws-sdk-go-v2 and queryCall: what is checked is the trail.
	acct := sdkAccount(t, s, root)
	rk := s.kmsAs(root)
	ck0, err := rk.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("response-elements")})
	if err != nil {
		t.Fatal(err)
	}
	var key struct{ KeyMetadata struct{ KeyId, Arn string } }
	key.KeyMetadata.KeyId, key.KeyMetadata.Arn = aws.ToString(ck0.KeyMetadata.KeyId), aws.ToString(ck0.KeyMetadata.Arn)
	g, err := rk.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key.KeyMetadata.KeyId, GranteePrincipal: aws.String("arn:aws:iam::" + acct + ":root"),
		Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
	if err != nil {
		t.Fatal(err)
	}
	grant := struct{ GrantId, GrantToken string }{aws.ToString(g.GrantId), aws.ToString(g.GrantToken)}
	if _, err := rk.Encrypt(ctx, &kms.EncryptInput{KeyId: &key.KeyMetadata.KeyId, Plaintext: []byte("hello")}); err != nil {
		t.Fatal(err)
	}

	alice, aliceArn := sdkNewIAMUser(t, s, root, "alice")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + aliceArn + `"},"Action":"sts:AssumeRole"}]}`
	qOK(t, s, root, nil, "iam", "CreateRole", "RoleName", "auditor", "AssumeRolePolicyDocument", trust)
	qOK(t, s, root, nil, "iam", "PutUserPolicy", "UserName", "alice", "PolicyName", "assume",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	session := sdkTempCreds(t, s, alice, "AssumeRole", "RoleArn", "arn:aws:iam::"+acct+":role/auditor", "RoleSessionName", "audit")

	one := func(name string) trailEvent {
		t.Helper()
		evs := lookupAll(t, s, "EventName", name)
		if len(evs) != 1 {
			t.Fatalf("%s events: %+v", name, evs)
		}
		return evs[0]
	}
	member := func(e trailEvent, path ...string) any {
		var v any = e.ResponseElements
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		return v
	}
	mustNotContain := func(e trailEvent, secrets ...string) {
		t.Helper()
		for _, sec := range secrets {
			if sec != "" && strings.Contains(e.Raw, sec) {
				t.Fatalf("%s record holds a secret: %s", e.EventName, e.Raw)
			}
		}
	}

	ck := one("CreateKey")
	if member(ck, "keyMetadata", "keyId") != key.KeyMetadata.KeyId || member(ck, "keyMetadata", "arn") != key.KeyMetadata.Arn ||
		member(ck, "keyMetadata", "keyState") != "Enabled" {
		t.Fatalf("CreateKey responseElements: %s", ck.Raw)
	}
	cg := one("CreateGrant")
	if member(cg, "grantId") != grant.GrantId || member(cg, "grantToken") != nil {
		t.Fatalf("CreateGrant responseElements: %s", cg.Raw)
	}
	mustNotContain(cg, grant.GrantToken)
	if enc := one("Encrypt"); enc.ResponseElements != nil || strings.Contains(enc.Raw, `"ciphertextBlob"`) {
		t.Fatalf("Encrypt responseElements: %s", enc.Raw)
	}

	cu := one("CreateUser")
	if member(cu, "user", "userName") != "alice" || member(cu, "user", "arn") != aliceArn {
		t.Fatalf("CreateUser responseElements: %s", cu.Raw)
	}
	ak := one("CreateAccessKey")
	if member(ak, "accessKey", "accessKeyId") != alice.AccessKeyID || member(ak, "accessKey", "status") != "Active" {
		t.Fatalf("CreateAccessKey responseElements: %s", ak.Raw)
	}
	mustNotContain(ak, alice.SecretAccessKey)
	ar := one("AssumeRole")
	if member(ar, "credentials", "accessKeyId") != session.AccessKeyID || member(ar, "credentials", "expiration") == nil ||
		member(ar, "assumedRoleUser", "arn") == nil {
		t.Fatalf("AssumeRole responseElements: %s", ar.Raw)
	}
	mustNotContain(ar, session.SecretAccessKey, session.SessionToken)

	// A key that does not exist: the refusal is recorded with the key it claimed.
	bogus := awsCreds{AccessKeyID: "AKIAZZZZZZZZZZZZZZZZ", SecretAccessKey: "not-a-secret-of-this-node"}
	if _, err := s.kmsAs(bogus).ListKeys(ctx, &kms.ListKeysInput{}); apiCode(err) != "UnrecognizedClientException" {
		t.Fatalf("a bogus key was not refused: %v", err)
	}
	evs := lookupAll(t, s, "AccessKeyId", bogus.AccessKeyID)
	if len(evs) != 1 || evs[0].ErrorCode != "UnrecognizedClientException" || evs[0].UserIdentity.Type != "Unknown" ||
		evs[0].UserIdentity.Arn != "" {
		t.Fatalf("refused request's events: %+v", evs)
	}
}
