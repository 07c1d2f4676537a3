package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The module has no aws-sdk-go-v2 clients for IAM, STS and SNS (go.mod lists KMS,
// CloudHSMv2, CloudTrail and CloudWatch only), so tests that merely set up state or check
// server behaviour through those query-protocol services call them here: form-encoded
// parameters signed with aws-sdk-go-v2's SigV4 signer, answers read as XML. Where the point
// is that the AWS CLI parses and sends something verbatim, tests keep using awsOK and
// friends. This costs milliseconds where a CLI process costs most of a second of CPU.

// queryVersions are the API versions of the query-protocol services, by signing name.
var queryVersions = map[string]string{"iam": "2010-05-08", "sts": "2011-06-15", "sns": "2010-03-31"}

// queryError is a query-protocol error answer.
type queryError struct {
	Status        int
	Code, Message string
}

func (e *queryError) Error() string { return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message) }

// queryCall sends Action with params (name, value pairs) to service ("iam", "sts", "sns")
// signed with c in us-east-1. It returns the answer's body, or a *queryError.
func queryCall(s *server, c awsCreds, service, action string, params ...string) ([]byte, error) {
	return queryCallIn(s, c, "us-east-1", service, action, params...)
}

// queryCallIn is queryCall signed for region (SNS answers for the region of the signature).
func queryCallIn(s *server, c awsCreds, region, service, action string, params ...string) ([]byte, error) {
	if len(params)%2 != 0 {
		return nil, fmt.Errorf("queryCall %s: odd number of parameters", action)
	}
	form := url.Values{"Action": {action}, "Version": {queryVersions[service]}}
	for i := 0; i < len(params); i += 2 {
		form.Add(params[i], params[i+1])
	}
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, s.url+"/", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Source: "e2e"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
		return nil, err
	}
	res, err := s.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Code    string `xml:"Error>Code"`
			Message string `xml:"Error>Message"`
		}
		if err := xml.Unmarshal(b, &e); err != nil || e.Code == "" {
			return nil, fmt.Errorf("%s %s: HTTP %d: %s", service, action, res.StatusCode, b)
		}
		return nil, &queryError{Status: res.StatusCode, Code: e.Code, Message: e.Message}
	}
	return b, nil
}

// qOK calls Action, which must succeed, and decodes the XML answer into v (if not nil),
// whose xml tags are paths below the <ActionResponse> element.
func qOK(t *testing.T, s *server, c awsCreds, v any, service, action string, params ...string) {
	t.Helper()
	qOKIn(t, s, c, "us-east-1", v, service, action, params...)
}

// qOKIn is qOK signed for region.
func qOKIn(t *testing.T, s *server, c awsCreds, region string, v any, service, action string, params ...string) {
	t.Helper()
	b, err := queryCallIn(s, c, region, service, action, params...)
	if err != nil {
		t.Fatalf("%s %s in %s %v: %v", service, action, region, params, err)
	}
	if v != nil {
		if err := xml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v\n%s", service, action, err, b)
		}
	}
}

// qFails calls Action, which must fail with the error code; it returns the error message.
func qFails(t *testing.T, s *server, c awsCreds, code, service, action string, params ...string) string {
	t.Helper()
	b, err := queryCall(s, c, service, action, params...)
	qe, ok := err.(*queryError)
	if !ok || qe.Code != code {
		t.Fatalf("%s %s %v: want %s, got %v\n%s", service, action, params, code, err, b)
	}
	return qe.Message
}

// qDenied calls Action, which must be refused with AccessDenied (IAM, STS) or
// AuthorizationError (SNS); it returns the error message.
func qDenied(t *testing.T, s *server, c awsCreds, service, action string, params ...string) string {
	t.Helper()
	code := "AccessDenied"
	if service == "sns" {
		code = "AuthorizationError"
	}
	return qFails(t, s, c, code, service, action, params...)
}

// sdkNewIAMUser is newIAMUser through queryCall: it creates a user with an access key.
func sdkNewIAMUser(t *testing.T, s *server, root awsCreds, name string) (awsCreds, string) {
	t.Helper()
	var u struct {
		Arn string `xml:"CreateUserResult>User>Arn"`
	}
	qOK(t, s, root, &u, "iam", "CreateUser", "UserName", name)
	var k struct {
		ID     string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
		Secret string `xml:"CreateAccessKeyResult>AccessKey>SecretAccessKey"`
	}
	qOK(t, s, root, &k, "iam", "CreateAccessKey", "UserName", name)
	if u.Arn == "" || k.ID == "" || k.Secret == "" {
		t.Fatalf("user %s: arn %q, key %q", name, u.Arn, k.ID)
	}
	return awsCreds{AccessKeyID: k.ID, SecretAccessKey: k.Secret}, u.Arn
}

// sdkTempCreds calls an STS action that answers Credentials (AssumeRole, GetSessionToken).
func sdkTempCreds(t *testing.T, s *server, c awsCreds, action string, params ...string) awsCreds {
	t.Helper()
	var out struct {
		ID     string `xml:"Result>Credentials>AccessKeyId"`
		Secret string `xml:"Result>Credentials>SecretAccessKey"`
		Token  string `xml:"Result>Credentials>SessionToken"`
	}
	b, err := queryCall(s, c, "sts", action, params...)
	if err != nil {
		t.Fatalf("sts %s: %v", action, err)
	}
	// The result element is <{Action}Result>.
	b = bytes.ReplaceAll(b, []byte(action+"Result>"), []byte("Result>"))
	if err := xml.Unmarshal(b, &out); err != nil || out.ID == "" || out.Token == "" {
		t.Fatalf("sts %s: %v\n%s", action, err, b)
	}
	return awsCreds{out.ID, out.Secret, out.Token}
}

// sdkAccount is the account of c (sts GetCallerIdentity).
func sdkAccount(t *testing.T, s *server, c awsCreds) string {
	t.Helper()
	var who struct {
		Account string `xml:"GetCallerIdentityResult>Account"`
	}
	qOK(t, s, c, &who, "sts", "GetCallerIdentity")
	if who.Account == "" {
		t.Fatal("GetCallerIdentity: no Account")
	}
	return who.Account
}

// sdkCreateTopic creates an SNS topic and returns its ARN.
func sdkCreateTopic(t *testing.T, s *server, c awsCreds, name string, params ...string) string {
	t.Helper()
	var ct struct {
		TopicArn string `xml:"CreateTopicResult>TopicArn"`
	}
	qOK(t, s, c, &ct, "sns", "CreateTopic", append([]string{"Name", name}, params...)...)
	if ct.TopicArn == "" {
		t.Fatalf("CreateTopic %s: no TopicArn", name)
	}
	return ct.TopicArn
}

// sdkSubscriptionAttributes is GetSubscriptionAttributes as a map.
func sdkSubscriptionAttributes(t *testing.T, s *server, c awsCreds, subArn string) map[string]string {
	t.Helper()
	var out struct {
		Entries []struct {
			Key   string `xml:"key"`
			Value string `xml:"value"`
		} `xml:"GetSubscriptionAttributesResult>Attributes>entry"`
	}
	qOK(t, s, c, &out, "sns", "GetSubscriptionAttributes", "SubscriptionArn", subArn)
	m := map[string]string{}
	for _, e := range out.Entries {
		m[e.Key] = e.Value
	}
	return m
}
