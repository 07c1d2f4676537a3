package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// botocoreSign signs a KMS-style request with botocore's SigV4Auth (what the
// Python AWS CLI v1 uses) and returns the headers it produced.
const botocoreSign = `
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, region, akid, secret, token, target, body = sys.argv[1:8]
req = AWSRequest(method="POST", url=url, data=body.encode(),
                 headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
SigV4Auth(Credentials(akid, secret, token or None), "kms", region).add_auth(req)
print(json.dumps(dict(req.headers.items())))
`

func needBotocore(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not available")
	}
	if err := exec.Command(py, "-c", "import botocore.auth").Run(); err != nil {
		t.Skip("botocore not available")
	}
	return py
}

func TestBotocoreSignature(t *testing.T) {
	py := needBotocore(t)
	env := newEnv(t, nil)
	body := `{"KeyId": "alias/test", "Plaintext": "aGVsbG8="}`
	for _, tc := range []struct{ name, akid, secret, token string }{
		{"long-term", testAKID, testSecret, ""},
		{"session token", testTempAKID, testTempSecret, testToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(py, "-c", botocoreSign, env.srv.URL+"/", testRegion, tc.akid, tc.secret,
				tc.token, "TrentService.Echo", body).Output()
			if err != nil {
				t.Fatalf("botocore: %v", err)
			}
			var hdrs map[string]string
			if err := json.Unmarshal(out, &hdrs); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !strings.Contains(hdrs["Authorization"], "SignedHeaders=content-type;host;x-amz-date;") {
				t.Fatalf("unexpected botocore signature: %s", hdrs["Authorization"])
			}
			mk := func() *http.Request {
				req, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/", bytes.NewReader([]byte(body)))
				for k, v := range hdrs {
					req.Header.Set(k, v)
				}
				req.Header.Set("User-Agent", "aws-cli/1.45.11 Python/3.11.7 Linux botocore/1.43.11")
				return req
			}
			a := do(t, mk())
			if a.status != 200 {
				t.Fatalf("botocore-signed request refused: %d %s", a.status, a.body)
			}
			var got echoResp
			_ = json.Unmarshal(a.body, &got)
			if got.AccessKey != tc.akid || got.Region != testRegion {
				t.Fatalf("echo %+v", got)
			}
			r := mk()
			r.Header.Set("X-Amz-Target", "TrentService.Nil")
			expectErr(t, do(t, r), 400, CodeInvalidSignature)
		})
	}
}

// TestAWSCLI runs the real AWS CLI (if installed) against the router.
func TestAWSCLI(t *testing.T) {
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not available")
	}
	env := newEnv(t, nil)
	dir := t.TempDir()
	cmd := exec.Command(aws, "kms", "list-keys", "--endpoint-url", env.srv.URL, "--region", testRegion, "--output", "json")
	cmd.Env = cliEnv(dir, testSecret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws kms list-keys: %v\n%s", err, out)
	}
	var got struct{ Keys []struct{ KeyId string } }
	if err := json.Unmarshal(out, &got); err != nil || len(got.Keys) != 1 || got.Keys[0].KeyId != "k1" {
		t.Fatalf("output %s (%v)", out, err)
	}

	// Query protocol (STS, IAM) through the CLI.
	qenv := newQueryEnv(t)
	cmd = exec.Command(aws, "sts", "get-caller-identity", "--endpoint-url", qenv.srv.URL, "--region", testRegion, "--output", "json")
	cmd.Env = cliEnv(dir, testSecret)
	out, err = cmd.CombinedOutput()
	var id struct{ UserId, Account, Arn string }
	if err != nil || json.Unmarshal(out, &id) != nil || id.Account != testAccount || id.Arn != testPrincipal.ARN {
		t.Fatalf("aws sts get-caller-identity: %v\n%s", err, out)
	}
	cmd = exec.Command(aws, "iam", "get-user", "--user-name", "missing", "--endpoint-url", qenv.srv.URL, "--region", testRegion)
	cmd.Env = cliEnv(dir, testSecret)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "(NoSuchEntity)") {
		t.Fatalf("aws iam get-user: %v\n%s", err, out)
	}
	cmd = exec.Command(aws, "sts", "get-caller-identity", "--endpoint-url", qenv.srv.URL, "--region", testRegion)
	cmd.Env = cliEnv(dir, "wrong")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "(SignatureDoesNotMatch)") {
		t.Fatalf("aws sts, wrong secret: %v\n%s", err, out)
	}

	// A wrong secret surfaces as AWS's error in the CLI.
	cmd = exec.Command(aws, "kms", "list-keys", "--endpoint-url", env.srv.URL, "--region", testRegion)
	cmd.Env = cliEnv(dir, "wrong")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "InvalidSignatureException") {
		t.Fatalf("wrong secret: %v\n%s", err, out)
	}
}

// cliEnv is the environment without the caller's AWS settings, with the test
// credentials.
func cliEnv(dir, secret string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_ACCESS_KEY_ID="+testAKID, "AWS_SECRET_ACCESS_KEY="+secret,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard", "AWS_PAGER=")
}

// botocoreQuery calls IAM and STS through botocore clients (its query
// serializer, SigV4 signer and XML parser) and prints what it parsed.
const botocoreQuery = `
import json, sys
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
url, akid, secret, token = sys.argv[1:5]
s = botocore.session.get_session()
kw = dict(region_name="us-east-1", endpoint_url=url, aws_access_key_id=akid, aws_secret_access_key=secret,
          aws_session_token=token or None, config=Config(retries={"max_attempts": 1}))
sts, iam = s.create_client("sts", **kw), s.create_client("iam", **kw)
out = {}
r = sts.get_caller_identity()
out["identity"] = [r["UserId"], r["Account"], r["Arn"]]
r = iam.get_user(UserName="alice")
out["user"] = [r["User"]["UserName"], r["User"]["Arn"], r["User"]["CreateDate"].isoformat()]
iam.delete_user(UserName="alice")
iam.tag_user(UserName="alice", Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "<&>"}])
r = iam.create_open_id_connect_provider(Url="https://x", ClientIDList=["c%d" % i for i in range(1, 12)],
                                        ThumbprintList=["t" * 40])
out["oidc"] = r["OpenIDConnectProviderArn"]
try:
    iam.get_user(UserName="missing")
except ClientError as e:
    out["error"] = [e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"],
                    e.response["Error"]["Message"], e.response["Error"].get("Type", "")]
print(json.dumps(out))
`

func TestBotocoreQuery(t *testing.T) {
	py := needBotocore(t)
	env := newQueryEnv(t)
	// The versions and namespaces the tests use are botocore's.
	meta, err := exec.Command(py, "-c", `
import json, botocore.session
s = botocore.session.get_session()
print(json.dumps({n: [m["apiVersion"], m["xmlNamespace"], m["protocol"], m.get("signingName", m["endpointPrefix"])]
                  for n in ("iam", "sts") for m in [s.get_service_model(n).metadata]}))`).Output()
	if err != nil {
		t.Fatal(err)
	}
	var md map[string][]string
	if err := json.Unmarshal(meta, &md); err != nil {
		t.Fatal(err)
	}
	for _, q := range []*QueryService{testIAM(), testSTS()} {
		if want := []string{q.Version, q.XMLNamespace, "query", q.SigningName}; !reflect.DeepEqual(md[q.SigningName], want) {
			t.Errorf("botocore %s: %q, want %q", q.SigningName, md[q.SigningName], want)
		}
	}
	for _, tc := range []struct{ name, akid, secret, token, arn string }{
		{"long-term", testAKID, testSecret, "", testPrincipal.ARN},
		{"session token", testTempAKID, testTempSecret, testToken, testTempPrincipal.ARN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(py, "-c", botocoreQuery, env.srv.URL, tc.akid, tc.secret, tc.token)
			cmd.Env = cliEnv(t.TempDir(), testSecret)
			out, err := cmd.Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("botocore: %v\n%s", err, ee.Stderr)
				}
				t.Fatal(err)
			}
			var got struct {
				Identity, User []string
				OIDC           string
				Error          []any
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			want := []string{tc.akid, testAccount, tc.arn}
			if !reflect.DeepEqual(got.Identity, want) {
				t.Errorf("identity %q, want %q", got.Identity, want)
			}
			if !reflect.DeepEqual(got.User, []string{"alice", "arn:aws:iam::111122223333:user/alice", "2024-01-02T03:04:05+00:00"}) {
				t.Errorf("user %q", got.User)
			}
			if got.OIDC != "c1,c2,c3,c4,c5,c6,c7,c8,c9,c10,c11|"+strings.Repeat("t", 40) {
				t.Errorf("oidc %q", got.OIDC)
			}
			if !reflect.DeepEqual(got.Error, []any{float64(404), "NoSuchEntity", "The user with name missing cannot be found.", "Sender"}) {
				t.Errorf("error %v", got.Error)
			}
		})
	}
}
