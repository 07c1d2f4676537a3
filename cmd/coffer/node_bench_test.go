package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// What a node spends per KMS Encrypt inside the process: the whole handler
// (SigV4 verification, routing, JSON, authorization, the HSM, metrics and, with
// audit, the durable CloudTrail record) without the kernel's TCP and Go's HTTP
// server, which `coffer bench --ops http-floor` measures on its own. Requests
// are signed once and replayed (a SigV4 signature stays valid for 5 minutes).
//
//	go test ./cmd/coffer -run '^$' -bench NodeEncrypt -benchtime 20000x
//
// cpu-µs/op is the process's CPU time (all goroutines, fsync included) per
// request; with audit, many goroutines run so that commits gather batches as
// under concurrent clients.

type benchNode struct {
	handler http.Handler
	creds   *devCredentials
	keyID   string
	stop    func()
}

func startBenchNode(b *testing.B, args ...string) *benchNode {
	b.Helper()
	dir := b.TempDir()
	o := &serverOptions{}
	cmd := serverCmd(o)
	if err := cmd.ParseFlags(append([]string{"--dev", "--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "error"}, args...)); err != nil {
		b.Fatal(err)
	}
	ready := make(chan http.Handler, 1)
	o.onServing = func(h http.Handler) { ready <- h }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, o, io.Discard) }()
	n := &benchNode{stop: func() { cancel(); <-done }}
	select {
	case n.handler = <-ready:
	case err := <-done:
		b.Fatalf("server: %v", err)
	case <-time.After(60 * time.Second):
		b.Fatal("server did not start")
	}
	var err error
	if n.creds, _, err = loadDevCredentials(dir); err != nil {
		b.Fatal(err)
	}
	var out struct{ KeyMetadata struct{ KeyId string } }
	if code := n.call(b, "CreateKey", `{"Description":"bench"}`, &out); code != 200 {
		b.Fatalf("CreateKey: %d", code)
	}
	n.keyID = out.KeyMetadata.KeyId
	b.Cleanup(n.stop)
	// A new dev node still works in the background for a while (its first
	// automatic backup, key generation): wait until it is idle, so that the
	// CPU measured is the requests'.
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		c0 := processCPUSeconds()
		time.Sleep(200 * time.Millisecond)
		if processCPUSeconds()-c0 < 0.01 {
			break
		}
	}
	return n
}

// signed returns a KMS request template signed with the node's root credentials.
func (n *benchNode) signed(b *testing.B, op, body string) *http.Request {
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8990/", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService."+op)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: n.creds.RootAccessKeyID, SecretAccessKey: n.creds.RootSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}

// replay serves a copy of the template with a fresh body.
func (n *benchNode) replay(tmpl *http.Request, body []byte, w *benchWriter) {
	r := *tmpl
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	w.reset()
	n.handler.ServeHTTP(w, &r)
}

func (n *benchNode) call(b *testing.B, op, body string, out any) int {
	w := &benchWriter{}
	n.replay(n.signed(b, op, body), []byte(body), w)
	if out != nil && w.code == 200 {
		if err := json.Unmarshal(w.body.Bytes(), out); err != nil {
			b.Fatal(err)
		}
	}
	if w.code != 200 {
		b.Logf("%s: %d %s", op, w.code, w.body.String())
	}
	return w.code
}

// benchWriter is a minimal ResponseWriter, reused per goroutine.
type benchWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *benchWriter) reset() {
	if w.h == nil {
		w.h = http.Header{}
	}
	clear(w.h)
	w.code = 0
	w.body.Reset()
}
func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return w.body.Write(p)
}

func BenchmarkNodeEncrypt(b *testing.B) {
	benchNodeOp(b, "Encrypt", "", func(keyID string) string {
		return `{"KeyId":"` + keyID + `","Plaintext":"aGVsbG8gd29ybGQsIHRoaXMgaXMgMzIgYnl0ZXMhIQ=="}`
	})
}

// BenchmarkNodeSign: ECDSA P-256 Sign of a 32-byte message (MessageType RAW).
//
//	go test ./cmd/coffer -run '^$' -bench NodeSign -benchtime 10000x
func BenchmarkNodeSign(b *testing.B) {
	benchNodeOp(b, "Sign", `{"KeySpec":"ECC_NIST_P256","KeyUsage":"SIGN_VERIFY"}`, func(keyID string) string {
		return `{"KeyId":"` + keyID + `","Message":"aGVsbG8gd29ybGQsIHRoaXMgaXMgMzIgYnl0ZXMhIQ==","MessageType":"RAW","SigningAlgorithm":"ECDSA_SHA_256"}`
	})
}

func benchNodeOp(b *testing.B, op, createKey string, request func(keyID string) string) {
	for _, c := range []struct {
		name string
		args []string
	}{{"audit=off", []string{"--audit=false"}}, {"audit=on", nil}} {
		b.Run(c.name, func(b *testing.B) {
			n := startBenchNode(b, c.args...)
			keyID := n.keyID
			if createKey != "" {
				var out struct{ KeyMetadata struct{ KeyId string } }
				if code := n.call(b, "CreateKey", createKey, &out); code != 200 {
					b.Fatalf("CreateKey: %d", code)
				}
				keyID = out.KeyMetadata.KeyId
			}
			body := request(keyID)
			tmpl := n.signed(b, op, body)
			raw := []byte(body)
			if w := (&benchWriter{}); true {
				n.replay(tmpl, raw, w)
				if w.code != 200 {
					b.Fatalf("%s: %d %s", op, w.code, w.body.String())
				}
			}
			var mu sync.Mutex
			failed := ""
			b.SetParallelism(16) // 32 goroutines on 2 CPUs: commits gather batches
			b.ReportAllocs()
			cpu0 := processCPUSeconds()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := &benchWriter{}
				for pb.Next() {
					n.replay(tmpl, raw, w)
					if w.code != 200 {
						mu.Lock()
						failed = w.body.String()
						mu.Unlock()
					}
				}
			})
			b.StopTimer()
			b.ReportMetric((processCPUSeconds()-cpu0)*1e6/float64(b.N), "cpu-µs/op")
			if failed != "" {
				b.Fatalf("a request failed: %s", failed)
			}
		})
	}
}
