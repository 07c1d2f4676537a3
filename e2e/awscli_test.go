package e2e

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// awsCLIs are the AWS CLIs the compatibility script runs with: Debian's awscli (v2.9, the
// JSON 1.1 client of botocore 2022) and the newer v1 `aws` found on PATH.
// They are looked up once per test binary (reading the v1 CLI's version starts it, about
// a second of CPU); each caller gets its own copy.
func awsCLIs(t *testing.T) map[string]string { return maps.Clone(lookupAWSCLIs()) }

var lookupAWSCLIs = sync.OnceValue(func() map[string]string {
	clis := map[string]string{}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		clis["debian-v2"] = "/usr/bin/aws"
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "aws")
		if p == "/usr/bin/aws" {
			continue
		}
		if out, err := exec.Command(p, "--version").CombinedOutput(); err == nil && strings.HasPrefix(string(out), "aws-cli/1.") {
			clis["v1"] = p
			break
		}
	}
	return clis
})

// TestAWSCLIsAgainstKMS runs e2e/testdata/awscli-kms.sh with each AWS CLI and checks both
// the expected results and that the CLIs saw the same thing.
func TestAWSCLIsAgainstKMS(t *testing.T) {
	clis := awsCLIs(t)
	if len(clis) == 0 {
		t.Skip("no AWS CLI installed (make deps installs Debian's awscli)")
	}
	s := startServer(t, "", nil)
	c := s.creds()
	// The CLIs run side by side (each is a single-threaded Python process; the CI machine
	// has two cores), then their outputs are checked one after the other.
	outputs := map[string]string{}
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, bin := range clis {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("bash", "testdata/awscli-kms.sh")
			cmd.Env = append(os.Environ(), "AWS_CLI="+bin, "COFFER_ENDPOINT="+s.url,
				"AWS_ACCESS_KEY_ID="+c.RootAccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.RootSecretAccessKey)
			out, err := cmd.CombinedOutput()
			mu.Lock()
			outputs[name], errs[name] = string(out), err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for name, bin := range clis {
		out := outputs[name]
		if err := errs[name]; err != nil {
			t.Fatalf("%s (%s): %v\n%s", name, bin, err, out)
		}
		for _, want := range []string{
			"create-key: Enabled\tSYMMETRIC_DEFAULT\tENCRYPT_DECRYPT\tcli test",
			"encrypt/decrypt: round trip ok",
			"decrypt with the wrong context: InvalidCiphertextException",
			"generate-data-key: 32 bytes",
			"sign/verify: True",
			"tag-resource: Production",
			"list-aliases: alias found",
			"enable-key-rotation: True",
			"schedule-key-deletion: PendingDeletion\t7",
			"encrypt with a key pending deletion: KMSInvalidStateException",
			"cancel-key-deletion: ok",
			"generate-random: 32 bytes",
		} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("%s: output lacks %q:\n%s", name, want, out)
			}
		}
		if _, err := exec.LookPath("openssl"); err == nil && !strings.Contains(out, "openssl: Verified OK") {
			t.Errorf("%s: OpenSSL did not verify the KMS signature:\n%s", name, out)
		}
		t.Logf("%s (%s):\n%s", name, bin, out)
	}
	if len(outputs) == 2 {
		// list-keys counts differ between runs (a CLI sees the other CLI's keys).
		norm := func(s string) string {
			var keep []string
			for _, l := range strings.Split(s, "\n") {
				if !strings.HasPrefix(l, "list-keys:") {
					keep = append(keep, l)
				}
			}
			return strings.Join(keep, "\n")
		}
		if a, b := norm(outputs["debian-v2"]), norm(outputs["v1"]); a != b {
			t.Errorf("the two AWS CLIs saw different results:\n--- Debian v2:\n%s\n--- v1:\n%s", a, b)
		}
	} else {
		t.Logf("only %v installed: no cross-CLI comparison", clis)
	}
}
