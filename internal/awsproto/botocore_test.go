package awsproto

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	for _, tc := range []struct{ name, token string }{{"long-term", ""}, {"session token", "FwoGZXIvYXdzEXAMPLE//TOKEN="}} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(py, "-c", botocoreSign, env.srv.URL+"/", testRegion, testAKID, testSecret,
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
			if got.AccessKey != testAKID || got.Region != testRegion {
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
