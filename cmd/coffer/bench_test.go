package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

func TestBenchPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}, {0.001, time.Millisecond}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("p%v of 1..100ms = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
	one := []time.Duration{7 * time.Millisecond}
	if percentile(one, 50) != 7*time.Millisecond || percentile(one, 99) != 7*time.Millisecond {
		t.Error("single sample")
	}
	// Nearest rank: p99 of 10 samples is the largest, p50 the 5th.
	ten := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if percentile(ten, 50) != 5 || percentile(ten, 99) != 10 || percentile(ten, 90) != 9 {
		t.Errorf("ten samples: p50 %v p90 %v p99 %v", percentile(ten, 50), percentile(ten, 90), percentile(ten, 99))
	}
}

func TestBenchLoopbackEndpoint(t *testing.T) {
	for _, ok := range []string{
		"http://127.0.0.1:8990", "http://127.0.0.1", "https://127.0.0.1:8443/", "http://127.1.2.3:80",
		"http://[::1]:8990", "http://localhost:8990", "http://LOCALHOST:1", "http://localhost.:8990",
	} {
		if _, err := loopbackEndpoint(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"http://10.0.0.1:8990", "http://example.com", "https://example.com:443", "http://0.0.0.0:8990",
		"http://[::]:8990", "http://192.168.1.1", "http://localhost.example.com", "http://127.0.0.1.nip.io",
		"ftp://127.0.0.1", "127.0.0.1:8990", "", "http://",
	} {
		if _, err := loopbackEndpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	_, err := loopbackEndpoint("http://10.0.0.1:8990")
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("error should say why: %v", err)
	}
}

func TestBenchLoopbackDialer(t *testing.T) {
	// Even a name that passed the check cannot make the client connect elsewhere.
	c := loopbackHTTPClient(1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://10.255.255.1:9/", nil)
	_, err := c.Do(req)
	if err == nil || !strings.Contains(err.Error(), "only connects to loopback") {
		t.Fatalf("dial to 10.255.255.1: %v", err)
	}
}

func validBenchOptions() *benchOptions {
	return &benchOptions{endpoint: "http://127.0.0.1:8990", region: "us-east-1", ops: "http-floor,encrypt,decrypt,generate-data-key,sign",
		concurrency: "1,4,16", duration: 5 * time.Second, maxRequests: 20000, payloadBytes: 32, output: "table"}
}

func TestBenchValidation(t *testing.T) {
	p, err := validateBench(validBenchOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.ops, benchDefaultOps) || !reflect.DeepEqual(p.concurrency, []int{1, 4, 16}) {
		t.Fatalf("%+v", p)
	}
	for name, c := range map[string]struct {
		mod  func(*benchOptions)
		want string
	}{
		"duration too long":  {func(o *benchOptions) { o.duration = 61 * time.Second }, "--duration"},
		"duration zero":      {func(o *benchOptions) { o.duration = 0 }, "--duration"},
		"unknown op":         {func(o *benchOptions) { o.ops = "encrypt,verify" }, `unknown operation "verify"`},
		"no op":              {func(o *benchOptions) { o.ops = " , " }, "--ops"},
		"concurrency word":   {func(o *benchOptions) { o.concurrency = "1,four" }, "--concurrency"},
		"concurrency zero":   {func(o *benchOptions) { o.concurrency = "0" }, "--concurrency"},
		"concurrency huge":   {func(o *benchOptions) { o.concurrency = "100000" }, "--concurrency"},
		"concurrency empty":  {func(o *benchOptions) { o.concurrency = "" }, "--concurrency"},
		"max requests zero":  {func(o *benchOptions) { o.maxRequests = 0 }, "--max-requests"},
		"payload too big":    {func(o *benchOptions) { o.payloadBytes = 4097 }, "--payload-bytes"},
		"output":             {func(o *benchOptions) { o.output = "yaml" }, "--output"},
		"remote endpoint":    {func(o *benchOptions) { o.endpoint = "http://10.0.0.1:8990" }, "loopback"},
		"hostname endpoint":  {func(o *benchOptions) { o.endpoint = "https://example.com" }, "loopback"},
		"empty region":       {func(o *benchOptions) { o.region = "" }, "--region"},
		"negative duration":  {func(o *benchOptions) { o.duration = -time.Second }, "--duration"},
		"concurrency minus1": {func(o *benchOptions) { o.concurrency = "1,-1" }, "--concurrency"},
	} {
		o := validBenchOptions()
		c.mod(o)
		if _, err := validateBench(o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error mentioning %s", name, err, c.want)
		}
	}
	o := validBenchOptions()
	o.duration, o.concurrency, o.ops = 60*time.Second, " 8, 2 ,8,", "SIGN, encrypt,sign"
	p, err = validateBench(o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.concurrency, []int{8, 2}) || !reflect.DeepEqual(p.ops, []string{"sign", "encrypt"}) {
		t.Fatalf("parsed %v %v", p.concurrency, p.ops)
	}
}

func TestBenchCommandRefusesBeforeConnecting(t *testing.T) {
	for _, args := range [][]string{
		{"--duration", "61s"},
		{"--endpoint", "http://10.0.0.1:8990"},
		{"--endpoint", "http://example.com"},
		{"--ops", "encrypt,frobnicate"},
		{"--concurrency", "1,x"},
	} {
		cmd := newBenchCmd()
		cmd.SetArgs(args)
		var out, errb bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		if err := cmd.Execute(); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestBenchCredentials(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	o := validBenchOptions()
	o.dataDir = dir
	if _, _, _, err := benchCredentials(o); err == nil || !strings.Contains(err.Error(), "no AWS credentials") {
		t.Fatalf("missing: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "dev-credentials"), []byte(`{"root_access_key_id":"AKIAFILE","root_secret_access_key":"filesecret"}`), 0o600)
	if a, s, from, err := benchCredentials(o); err != nil || a != "AKIAFILE" || s != "filesecret" || from != filepath.Join(dir, "dev-credentials") {
		t.Fatalf("file: %s %s %s %v", a, s, from, err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
	if a, s, from, err := benchCredentials(o); err != nil || a != "AKIAENV" || s != "envsecret" || from != "$AWS_ACCESS_KEY_ID" {
		t.Fatalf("env: %s %s %s %v", a, s, from, err)
	}
	o.accessKeyID, o.secretKey = "AKIAFLAG", "flagsecret"
	if a, s, from, err := benchCredentials(o); err != nil || a != "AKIAFLAG" || s != "flagsecret" || from != "--access-key-id" {
		t.Fatalf("flags: %s %s %s %v", a, s, from, err)
	}
}

func TestBenchDriveBounds(t *testing.T) {
	// The request limit is a hard bound, whatever the concurrency.
	var calls atomic.Int64
	res := drive(context.Background(), 7, 100, time.Now().Add(time.Minute), func(context.Context) error {
		if calls.Add(1)%10 == 0 {
			return errors.New("boom")
		}
		return nil
	})
	n, errs := 0, 0
	for _, r := range res {
		n += len(r.latencies)
		errs += r.errors
	}
	if n != 100 || calls.Load() != 100 || errs != 10 {
		t.Fatalf("requests %d, calls %d, errors %d", n, calls.Load(), errs)
	}
	// The deadline ends a run long before the limit.
	start := time.Now()
	drive(context.Background(), 2, 1<<30, start.Add(50*time.Millisecond), func(context.Context) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("deadline not honoured: %v", el)
	}
}

func TestBenchTable(t *testing.T) {
	r := &benchReport{Endpoint: "http://127.0.0.1:8990", DurationSeconds: 5, MaxRequests: 20000, PayloadBytes: 32,
		Baselines: []benchBaseline{{Name: baselineAESGCM, Iterations: 1000, UsPerOp: 0.5}},
		Cells: []benchCell{{Op: "encrypt", Concurrency: 4, Requests: 100, Errors: 1, ReqPerSec: 20, P50Ms: 1, P99Ms: 2,
			ServerCPUUsPerReq: 50, serverCPUAvailable: true, RawUsPerOp: 0.5, ServerToRawRatio: 100, FirstError: "AccessDeniedException: no"}}}
	var b bytes.Buffer
	if err := writeBenchTable(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SERVER-CPU-µs/REQ", "100.0x", "aes-256-gcm-encrypt", "AccessDeniedException: no", "encrypt c=4 (1 errors)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestBenchCellJSON(t *testing.T) {
	c := benchCell{Op: "sign", Concurrency: 1, Requests: 3, ServerCPUUsPerReq: 250, RawUsPerOp: 25, ServerToRawRatio: 10, serverCPUAvailable: true}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["op"] != "sign" || m["server_cpu_us_per_req"] != 250.0 || m["server_to_raw_ratio"] != 10.0 || m["requests"] != 3.0 {
		t.Fatalf("%s", b)
	}
	c.serverCPUAvailable = false
	b, _ = json.Marshal(c)
	m = nil
	json.Unmarshal(b, &m)
	if v, ok := m["server_cpu_us_per_req"]; !ok || v != nil || m["server_to_raw_ratio"] != nil {
		t.Fatalf("unavailable server CPU should be null: %s", b)
	}
}

func TestBenchDriveInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	res := drive(ctx, 2, 1000, time.Time{}, func(rctx context.Context) error {
		if calls.Add(1) == 10 {
			cancel()
		}
		if rctx.Err() != nil {
			return rctx.Err()
		}
		return nil
	})
	for _, r := range res {
		if r.errors != 0 {
			t.Fatalf("requests cut short by an interrupt counted as errors: %+v", r)
		}
	}
}

// Both floor servers answer the SDK's Encrypt (over kept-alive connections)
// and report their own CPU time, and stop when the bench goes away.
func TestBenchFloorServer(t *testing.T) {
	for name, serve := range map[string]func(context.Context, io.Writer, io.Reader) error{
		benchFloor: serveFloor, benchRawFloor: serveMinimalFloor,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw := io.Pipe()
			out := &lineWriter{ch: make(chan string, 1)}
			done := make(chan error, 1)
			go func() { done <- serve(ctx, out, pr) }()
			addr := strings.TrimPrefix(<-out.ch, "listening ")
			u, err := loopbackEndpoint(strings.TrimSpace(addr))
			if err != nil {
				t.Fatal(err)
			}
			b := &bencher{http: loopbackHTTPClient(2, nil)}
			c := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(u.String()), HTTPClient: b.http,
				Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
					return aws.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "s"}, nil
				})})
			for i := 0; i < 3; i++ {
				res, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("k"), Plaintext: bytes.Repeat([]byte("x"), 100*i+1)})
				if err != nil || len(res.CiphertextBlob) == 0 || aws.ToString(res.KeyId) == "" {
					t.Fatalf("Encrypt against the floor: %v", err)
				}
			}
			if cpu, ok, err := b.serverCPU(ctx, u); err != nil || !ok || cpu <= 0 {
				t.Fatalf("floor cpu_seconds: %v %v %v", cpu, ok, err)
			}
			pw.Close() // the bench went away: the floor server stops
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("floor server did not stop when its parent's pipe closed")
			}
		})
	}
}

type lineWriter struct{ ch chan string }

func (w *lineWriter) Write(p []byte) (int, error) {
	select {
	case w.ch <- string(p):
	default:
	}
	return len(p), nil
}

func TestBenchCredentialsHint(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:8990")
	tg := &benchTarget{endpoint: u, credsFrom: "/tmp/other/dev-credentials"}
	for code, want := range map[string]bool{"UnrecognizedClientException": true, "InvalidSignatureException": true, "ValidationException": false} {
		h := credentialsHint(&smithy.GenericAPIError{Code: code, Message: "m"}, tg)
		if got := strings.Contains(h, "/tmp/other/dev-credentials") && strings.Contains(h, "http://127.0.0.1:8990"); got != want {
			t.Errorf("%s: hint %q", code, h)
		}
	}
	if h := credentialsHint(errors.New("connection refused"), tg); h != "" {
		t.Errorf("hint for a transport error: %q", h)
	}
}
