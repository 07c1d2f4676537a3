package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
)

// Bench operations, in the order they run.
const (
	benchEncrypt         = "encrypt"
	benchDecrypt         = "decrypt"
	benchGenerateDataKey = "generate-data-key"
	benchSign            = "sign"
)

// benchAllOps are the operations --ops accepts; benchDefaultOps run without --ops.
var (
	benchAllOps     = []string{benchRawFloor, benchFloor, benchEncrypt, benchDecrypt, benchGenerateDataKey, benchSign}
	benchDefaultOps = []string{benchFloor, benchEncrypt, benchDecrypt, benchGenerateDataKey, benchSign}
)

// Bounds of the bench flags: a load test of this machine, not a soak test.
const (
	benchMaxDuration    = 60 * time.Second
	benchMaxConcurrency = 256
	benchMaxRequestsCap = 1_000_000
	benchMaxPayload     = 4096 // KMS's limit for Encrypt plaintext and RAW Sign messages
	benchWarmup         = 50
	benchBaselineTime   = time.Second
	benchRequestTimeout = 30 * time.Second
)

type benchOptions struct {
	endpoint     string
	accessKeyID  string
	secretKey    string
	dataDir      string
	region       string
	ops          string
	concurrency  string
	duration     time.Duration
	maxRequests  int
	payloadBytes int
	output       string
	cpuprofile   string
	caCert       string
}

// benchPlan is the validated form of benchOptions.
type benchPlan struct {
	endpoint     *url.URL
	region       string
	ops          []string
	concurrency  []int
	duration     time.Duration
	maxRequests  int
	payloadBytes int
	output       string
}

func newBenchCmd() *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a local Coffer node's KMS API and report latency and server CPU per request",
		Long: `Load-test a Coffer node on this machine through its AWS KMS API (aws-sdk-go-v2, SigV4).

bench creates a symmetric key (and an ECC_NIST_P256 signing key when sign is measured),
both described "coffer bench", and schedules them for deletion (7 days) when it ends. For
each operation and each concurrency it warms up, reads the server's cpu_seconds from
GET /health, runs the workers until --duration or --max-requests (whichever comes first),
and reads cpu_seconds again. Per cell it reports requests, errors, req/s, p50/p99 latency
and the server's CPU time per request. Server CPU includes everything the server process
does meanwhile (e.g. the KMS scheduler), which is negligible on an otherwise idle node.
Errors are counted in requests; the first error of each cell is printed.

In the same run it measures the raw primitive in-process with the Go standard library, on
one goroutine, for about a second each: AES-256-GCM encrypt of --payload-bytes (the baseline
of encrypt, decrypt and generate-data-key) and ECDSA P-256 SHA-256 sign (the baseline of
sign). RATIO is server CPU per request divided by the raw primitive's time per operation.

The http-floor op measures, in the same run, a bare Go HTTP server in a child process that
answers the same aws-sdk-go-v2 Encrypt calls with a fixed response: no SigV4, no crypto, no
audit. Its server CPU per request is what any Go HTTP server pays on this machine; the
difference to the encrypt row is what Coffer adds. The raw-floor op (not run by default)
does the same with a minimal hand-written HTTP/1.1 loop in place of net/http: the cost of the
loopback round trip itself.

The endpoint must be a loopback address: load tests only target this machine. The tool and
the server share the machine's CPUs, so req/s at high concurrency is bounded by both.

Credentials: --access-key-id/--secret-access-key, else AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, else the root credentials a --dev node wrote to
<data-dir>/dev-credentials.`,
		Example: `  coffer server --dev --data-dir ./coffer-data &
  coffer bench --data-dir ./coffer-data --duration 3s --concurrency 1,4
  coffer bench --ops encrypt,sign --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	endpoint := os.Getenv("COFFER_ENDPOINT")
	if endpoint == "" {
		endpoint = "http://127.0.0.1:8990"
	}
	f := cmd.Flags()
	f.StringVar(&o.endpoint, "endpoint", endpoint, "the node's URL (default $COFFER_ENDPOINT); must be a loopback address")
	f.StringVar(&o.accessKeyID, "access-key-id", "", "AWS access key id (default $AWS_ACCESS_KEY_ID, else <data-dir>/dev-credentials)")
	f.StringVar(&o.secretKey, "secret-access-key", "", "AWS secret access key (default $AWS_SECRET_ACCESS_KEY, else <data-dir>/dev-credentials)")
	f.StringVar(&o.dataDir, "data-dir", "./coffer-data", "a --dev node's data dir, to read its dev-credentials")
	f.StringVar(&o.region, "region", "us-east-1", "AWS region to sign requests for")
	f.StringVar(&o.ops, "ops", strings.Join(benchDefaultOps, ","), "comma-separated operations: "+strings.Join(benchAllOps, ", "))
	f.StringVar(&o.concurrency, "concurrency", "1,4,16", fmt.Sprintf("comma-separated numbers of concurrent workers (1-%d)", benchMaxConcurrency))
	f.DurationVar(&o.duration, "duration", 5*time.Second, "measuring time per (op, concurrency) cell (at most 60s)")
	f.IntVar(&o.maxRequests, "max-requests", 20000, "maximum requests per cell; a cell ends at --duration or --max-requests, whichever comes first")
	f.IntVar(&o.payloadBytes, "payload-bytes", 32, fmt.Sprintf("plaintext / message size for encrypt, decrypt and sign (1-%d)", benchMaxPayload))
	f.StringVar(&o.output, "output", "table", "output format: table or json")
	f.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of this tool (not the server) to this file")
	f.StringVar(&o.caCert, "ca-cert", "", "PEM CA certificate to trust for an https endpoint, e.g. <data-dir>/tls/ca.pem (default $"+envCACert+")")
	return cmd
}

// ---- validation ----

func validateBench(o *benchOptions) (*benchPlan, error) {
	p := &benchPlan{region: o.region, duration: o.duration, maxRequests: o.maxRequests, payloadBytes: o.payloadBytes, output: o.output}
	var err error
	if p.endpoint, err = loopbackEndpoint(o.endpoint); err != nil {
		return nil, err
	}
	if p.ops, err = parseBenchOps(o.ops); err != nil {
		return nil, err
	}
	if p.concurrency, err = parseConcurrency(o.concurrency); err != nil {
		return nil, err
	}
	if o.duration <= 0 || o.duration > benchMaxDuration {
		return nil, fmt.Errorf("--duration must be more than 0 and at most %s, got %s", benchMaxDuration, o.duration)
	}
	if o.maxRequests < 1 || o.maxRequests > benchMaxRequestsCap {
		return nil, fmt.Errorf("--max-requests must be between 1 and %d, got %d", benchMaxRequestsCap, o.maxRequests)
	}
	if o.payloadBytes < 1 || o.payloadBytes > benchMaxPayload {
		return nil, fmt.Errorf("--payload-bytes must be between 1 and %d, got %d", benchMaxPayload, o.payloadBytes)
	}
	if o.region == "" {
		return nil, errors.New("--region must not be empty")
	}
	switch o.output {
	case "table", "json":
	default:
		return nil, fmt.Errorf("--output must be table or json, got %q", o.output)
	}
	return p, nil
}

// loopbackEndpoint parses an http(s) endpoint and refuses any host that is not a loopback
// address. Host names other than localhost are refused without a DNS lookup; the dialer
// additionally checks every address it connects to (see loopbackHTTPClient).
func loopbackEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--endpoint %q: want a URL such as http://127.0.0.1:8990", s)
	}
	host := u.Hostname()
	if !isLoopbackHost(host) {
		return nil, fmt.Errorf("--endpoint %s: coffer bench only targets this machine; use a loopback address (127.0.0.1, ::1 or localhost), not %q", s, host)
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseBenchOps(s string) ([]string, error) {
	var ops []string
	for _, f := range strings.Split(s, ",") {
		op := strings.ToLower(strings.TrimSpace(f))
		if op == "" {
			continue
		}
		if !slices.Contains(benchAllOps, op) {
			return nil, fmt.Errorf("--ops: unknown operation %q; use %s", op, strings.Join(benchAllOps, ", "))
		}
		if !slices.Contains(ops, op) {
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("--ops: no operation given; use %s", strings.Join(benchAllOps, ", "))
	}
	return ops, nil
}

func parseConcurrency(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > benchMaxConcurrency {
			return nil, fmt.Errorf("--concurrency: %q is not a number between 1 and %d", f, benchMaxConcurrency)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--concurrency: give at least one number, e.g. 1,4,16")
	}
	return out, nil
}

// benchCredentials resolves the flags, then the environment, then <data-dir>/dev-credentials.
func benchCredentials(o *benchOptions) (akid, secret string, err error) {
	akid, secret = o.accessKeyID, o.secretKey
	if akid == "" {
		akid = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	if secret == "" {
		secret = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if akid != "" && secret != "" {
		return akid, secret, nil
	}
	path := filepath.Join(o.dataDir, "dev-credentials")
	b, rerr := os.ReadFile(path)
	if rerr != nil {
		return "", "", fmt.Errorf("no AWS credentials: set --access-key-id/--secret-access-key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or point --data-dir at a --dev node's data dir (%v)", rerr)
	}
	var c devCredentials
	if err := json.Unmarshal(b, &c); err != nil {
		return "", "", fmt.Errorf("%s is corrupt: %w", path, err)
	}
	if c.RootAccessKeyID == "" || c.RootSecretAccessKey == "" {
		return "", "", fmt.Errorf("%s holds no root AWS credentials", path)
	}
	if akid == "" {
		akid = c.RootAccessKeyID
	}
	if secret == "" {
		secret = c.RootSecretAccessKey
	}
	return akid, secret, nil
}

// loopbackHTTPClient keeps enough idle connections for the largest concurrency (so cells
// do not measure TCP setup) and refuses to connect to anything but a loopback address.
// tlsConfig (may be nil) is its TLS configuration for https endpoints.
func loopbackHTTPClient(maxConns int, tlsConfig *tls.Config) *http.Client {
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("coffer bench only connects to loopback addresses, not %s", address)
			}
			return nil
		},
	}
	tr := &http.Transport{
		Proxy:               nil, // never through a proxy: the target is this machine
		DialContext:         dialer.DialContext,
		MaxIdleConns:        maxConns + 8,
		MaxIdleConnsPerHost: maxConns + 8,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
		TLSClientConfig:     tlsConfig,
	}
	return &http.Client{Transport: tr, Timeout: benchRequestTimeout}
}

// ---- results ----

type benchCell struct {
	Op                 string  `json:"op"`
	Concurrency        int     `json:"concurrency"`
	Requests           int     `json:"requests"`
	Errors             int     `json:"errors"`
	ElapsedSeconds     float64 `json:"elapsed_seconds"`
	ReqPerSec          float64 `json:"req_per_sec"`
	P50Ms              float64 `json:"p50_ms"`
	P99Ms              float64 `json:"p99_ms"`
	ServerCPUUsPerReq  float64 `json:"server_cpu_us_per_req"`
	ClientCPUUsPerReq  float64 `json:"client_cpu_us_per_req"`
	Baseline           string  `json:"baseline"`
	RawUsPerOp         float64 `json:"raw_us_per_op"`
	ServerToRawRatio   float64 `json:"server_to_raw_ratio"`
	FirstError         string  `json:"first_error,omitempty"`
	serverCPUAvailable bool
}

// MarshalJSON reports the server CPU and the ratio as null when the server did not
// report its CPU time.
func (c benchCell) MarshalJSON() ([]byte, error) {
	type plain benchCell
	out := struct {
		plain
		ServerCPUUsPerReq *float64 `json:"server_cpu_us_per_req"`
		ServerToRawRatio  *float64 `json:"server_to_raw_ratio"`
	}{plain: plain(c)}
	if c.serverCPUAvailable {
		out.ServerCPUUsPerReq = &c.ServerCPUUsPerReq
		if c.RawUsPerOp > 0 {
			out.ServerToRawRatio = &c.ServerToRawRatio
		}
	}
	return json.Marshal(out)
}

type benchBaseline struct {
	Name       string  `json:"name"`
	Iterations int     `json:"iterations"`
	UsPerOp    float64 `json:"us_per_op"`
}

type benchReport struct {
	Endpoint        string          `json:"endpoint"`
	DurationSeconds float64         `json:"duration_seconds"`
	MaxRequests     int             `json:"max_requests"`
	PayloadBytes    int             `json:"payload_bytes"`
	Baselines       []benchBaseline `json:"baselines"`
	Cells           []benchCell     `json:"cells"`
}

const (
	baselineAESGCM = "aes-256-gcm-encrypt"
	baselineECDSA  = "ecdsa-p256-sha256-sign"
)

func baselineFor(op string) string {
	switch op {
	case benchSign:
		return baselineECDSA
	case benchFloor, benchRawFloor:
		return ""
	}
	return baselineAESGCM
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ---- running ----

func runBench(ctx context.Context, o *benchOptions, stdout, stderr io.Writer) (err error) {
	p, err := validateBench(o)
	if err != nil {
		return err
	}
	akid, secret, err := benchCredentials(o)
	if err != nil {
		return err
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	tlsConfig, err := caTLSConfig(o.caCert)
	if err != nil {
		return err
	}
	b := &bencher{plan: p, stderr: stderr, http: loopbackHTTPClient(slices.Max(p.concurrency), tlsConfig)}
	b.payload = make([]byte, p.payloadBytes)
	if _, err := rand.Read(b.payload); err != nil {
		return err
	}
	// One client setup for the node and the floor server: no retries (an error is counted).
	kmsClient := func(endpoint *url.URL) *kms.Client {
		return kms.New(kms.Options{
			Region:       p.region,
			BaseEndpoint: aws.String(endpoint.String()),
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, Source: "coffer bench"}, nil
			}),
			RetryMaxAttempts: 1,
			HTTPClient:       b.http,
		})
	}
	for _, op := range []string{benchFloor, benchRawFloor} {
		if !b.needs(op) {
			continue
		}
		f, err := startFloor(ctx, op == benchRawFloor)
		if err != nil {
			return err
		}
		defer f.stop()
		b.progress("started the %s server (pid %d) at %s", op, f.cmd.Process.Pid, f.endpoint)
		if b.floors == nil {
			b.floors = map[string]*floorClient{}
		}
		b.floors[op] = &floorClient{endpoint: f.endpoint, kms: kmsClient(f.endpoint)}
	}
	b.kms = kmsClient(p.endpoint)

	if _, ok, err := b.serverCPU(ctx, p.endpoint); err != nil {
		return err
	} else if !ok {
		fmt.Fprintln(stderr, "bench: warning: the server's /health has no cpu_seconds (older server?); server CPU per request is not reported")
	}
	if err := b.setup(ctx); err != nil {
		b.cleanup()
		return err
	}
	defer b.cleanup()

	report := &benchReport{Endpoint: p.endpoint.String(), DurationSeconds: p.duration.Seconds(), MaxRequests: p.maxRequests, PayloadBytes: p.payloadBytes}
	report.Baselines = b.baselines()

	for _, op := range p.ops {
		for _, c := range p.concurrency {
			if ctx.Err() != nil {
				break
			}
			report.Cells = append(report.Cells, b.runCell(ctx, op, c))
		}
	}
	for i := range report.Cells {
		c := &report.Cells[i]
		c.Baseline = baselineFor(c.Op)
		for _, bl := range report.Baselines {
			if bl.Name == c.Baseline && bl.UsPerOp > 0 {
				c.RawUsPerOp = bl.UsPerOp
				if c.serverCPUAvailable {
					c.ServerToRawRatio = c.ServerCPUUsPerReq / bl.UsPerOp
				}
			}
		}
	}

	if p.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else if err := writeBenchTable(stdout, report); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("interrupted; the results above are partial")
	}
	bad := 0
	for _, c := range report.Cells {
		if c.Errors > 0 {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d cells had request errors (first error of each is shown above)", bad, len(report.Cells))
	}
	return nil
}

type bencher struct {
	plan       *benchPlan
	stderr     io.Writer
	http       *http.Client
	kms        *kms.Client
	floors     map[string]*floorClient // the floor servers measured, by op
	payload    []byte
	symKey     string
	signKey    string
	ciphertext []byte
	created    []string
}

func (b *bencher) progress(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", args...)
}

// serverCPU reads cpu_seconds from the node's GET /health; ok is false when the field is absent.
func (b *bencher) serverCPU(ctx context.Context, endpoint *url.URL) (cpu float64, ok bool, err error) {
	u := url.URL{Scheme: endpoint.Scheme, Host: endpoint.Host, Path: "/health"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, false, err
	}
	res, err := b.http.Do(req)
	if err != nil {
		return 0, false, fmt.Errorf("reaching the node at %s: %w", u.String(), err)
	}
	defer res.Body.Close()
	var h struct {
		Status     string   `json:"status"`
		CPUSeconds *float64 `json:"cpu_seconds"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&h); err != nil {
		return 0, false, fmt.Errorf("%s: not a Coffer health answer (HTTP %d): %w", u.String(), res.StatusCode, err)
	}
	if res.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("%s: the node is not healthy (HTTP %d, status %q)", u.String(), res.StatusCode, h.Status)
	}
	if h.CPUSeconds == nil {
		return 0, false, nil
	}
	return *h.CPUSeconds, true, nil
}

func (b *bencher) needs(op string) bool { return slices.Contains(b.plan.ops, op) }

func (b *bencher) setup(ctx context.Context) error {
	ck, err := b.kms.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("coffer bench")})
	if err != nil {
		return fmt.Errorf("creating the symmetric bench key: %s", awsErrorText(err))
	}
	b.symKey = aws.ToString(ck.KeyMetadata.KeyId)
	b.created = append(b.created, b.symKey)
	b.progress("created symmetric key %s", b.symKey)
	enc, err := b.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(b.symKey), Plaintext: b.payload})
	if err != nil {
		return fmt.Errorf("encrypting the decrypt op's ciphertext: %s", awsErrorText(err))
	}
	b.ciphertext = enc.CiphertextBlob
	if b.needs(benchSign) {
		sk, err := b.kms.CreateKey(ctx, &kms.CreateKeyInput{
			Description: aws.String("coffer bench"),
			KeySpec:     types.KeySpecEccNistP256,
			KeyUsage:    types.KeyUsageTypeSignVerify,
		})
		if err != nil {
			return fmt.Errorf("creating the ECC_NIST_P256 bench key: %s", awsErrorText(err))
		}
		b.signKey = aws.ToString(sk.KeyMetadata.KeyId)
		b.created = append(b.created, b.signKey)
		b.progress("created ECC_NIST_P256 signing key %s", b.signKey)
	}
	return nil
}

// cleanup schedules the bench keys for deletion, also after an interrupt.
func (b *bencher) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, id := range b.created {
		_, err := b.kms.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
		if err != nil {
			b.progress("warning: scheduling key %s for deletion failed: %s", id, awsErrorText(err))
			continue
		}
		b.progress("scheduled key %s for deletion in 7 days", id)
	}
	b.created = nil
}

// request returns the function one worker calls for op.
func (b *bencher) request(op string) func(context.Context) error {
	switch op {
	case benchFloor, benchRawFloor:
		c := b.floors[op].kms
		return func(ctx context.Context) error {
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(b.symKey), Plaintext: b.payload})
			return err
		}
	case benchEncrypt:
		return func(ctx context.Context) error {
			_, err := b.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(b.symKey), Plaintext: b.payload})
			return err
		}
	case benchDecrypt:
		return func(ctx context.Context) error {
			_, err := b.kms.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(b.symKey), CiphertextBlob: b.ciphertext})
			return err
		}
	case benchGenerateDataKey:
		return func(ctx context.Context) error {
			_, err := b.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(b.symKey), KeySpec: types.DataKeySpecAes256})
			return err
		}
	case benchSign:
		return func(ctx context.Context) error {
			_, err := b.kms.Sign(ctx, &kms.SignInput{KeyId: aws.String(b.signKey), Message: b.payload,
				MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
			return err
		}
	}
	panic("unknown bench op " + op)
}

// workerResult is one worker's share of a run.
type workerResult struct {
	latencies []time.Duration
	errors    int
	firstErr  error
	firstAt   time.Time
}

// drive runs c workers issuing do until the deadline passes (zero: no deadline), limit
// requests were issued, or ctx ends. Requests in flight at the deadline complete.
func drive(ctx context.Context, c, limit int, deadline time.Time, do func(context.Context) error) []workerResult {
	var issued atomic.Int64
	results := make([]workerResult, c)
	var wg sync.WaitGroup
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[w]
			r.latencies = make([]time.Duration, 0, min(limit/c+1, 1<<16))
			for ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)) {
				if issued.Add(1) > int64(limit) {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, benchRequestTimeout)
				t0 := time.Now()
				err := do(rctx)
				lat := time.Since(t0)
				cancel()
				if err != nil && ctx.Err() != nil {
					return // interrupted: not a request error
				}
				r.latencies = append(r.latencies, lat)
				if err != nil {
					r.errors++
					if r.firstErr == nil {
						r.firstErr, r.firstAt = err, t0
					}
				}
			}
		}()
	}
	wg.Wait()
	return results
}

func (b *bencher) runCell(ctx context.Context, op string, c int) benchCell {
	p := b.plan
	cell := benchCell{Op: op, Concurrency: c}
	b.progress("%s c=%d: warming up, then running for %s or %d requests", op, c, p.duration, p.maxRequests)
	do := b.request(op)
	// Warm up with the cell's concurrency so its connections exist before measuring.
	drive(ctx, c, max(benchWarmup, 2*c), time.Time{}, do)

	endpoint := p.endpoint
	if f := b.floors[op]; f != nil {
		endpoint = f.endpoint
	}
	cpuBefore, cpuOK, err := b.serverCPU(ctx, endpoint)
	if err != nil {
		cell.FirstError = err.Error()
		b.progress("%s c=%d: %v", op, c, err)
		return cell
	}
	clientBefore := processCPUSeconds()
	start := time.Now()
	results := drive(ctx, c, p.maxRequests, start.Add(p.duration), do)
	elapsed := time.Since(start)
	clientAfter := processCPUSeconds()
	cpuAfter, cpuOK2, err := b.serverCPU(context.WithoutCancel(ctx), endpoint)
	cpuOK = cpuOK && cpuOK2 && err == nil

	var all []time.Duration
	var first error
	var firstAt time.Time
	for _, r := range results {
		all = append(all, r.latencies...)
		cell.Errors += r.errors
		if r.firstErr != nil && (first == nil || r.firstAt.Before(firstAt)) {
			first, firstAt = r.firstErr, r.firstAt
		}
	}
	slices.Sort(all)
	cell.Requests = len(all)
	cell.ElapsedSeconds = elapsed.Seconds()
	if elapsed > 0 {
		cell.ReqPerSec = float64(cell.Requests) / elapsed.Seconds()
	}
	cell.P50Ms = ms(percentile(all, 50))
	cell.P99Ms = ms(percentile(all, 99))
	if cell.Requests > 0 {
		if cpuOK {
			cell.serverCPUAvailable = true
			cell.ServerCPUUsPerReq = (cpuAfter - cpuBefore) / float64(cell.Requests) * 1e6
		}
		cell.ClientCPUUsPerReq = (clientAfter - clientBefore) / float64(cell.Requests) * 1e6
	}
	if first != nil {
		cell.FirstError = awsErrorText(first)
	}
	srv := "-"
	if cell.serverCPUAvailable {
		srv = fmt.Sprintf("%.0f µs/req", cell.ServerCPUUsPerReq)
	}
	b.progress("%s c=%d: %d requests, %d errors, %.0f req/s, p50 %.2f ms, p99 %.2f ms, server CPU %s",
		op, c, cell.Requests, cell.Errors, cell.ReqPerSec, cell.P50Ms, cell.P99Ms, srv)
	if first != nil {
		b.progress("%s c=%d: first error: %s", op, c, cell.FirstError)
	}
	return cell
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// awsErrorText is an error's AWS code and message when it is an API error.
func awsErrorText(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}

// ---- in-process baselines ----

// baselines measures the raw primitives the selected ops rest on, one goroutine each.
func (b *bencher) baselines() []benchBaseline {
	var out []benchBaseline
	needAES, needEC := false, false
	for _, op := range b.plan.ops {
		switch baselineFor(op) {
		case baselineAESGCM:
			needAES = true
		case baselineECDSA:
			needEC = true
		}
	}
	if needAES {
		b.progress("baseline: %s of %d bytes in-process for %s", baselineAESGCM, b.plan.payloadBytes, benchBaselineTime)
		out = append(out, measureBaseline(baselineAESGCM, benchBaselineTime, aesGCMBaseline(b.payload)))
	}
	if needEC {
		b.progress("baseline: %s in-process for %s", baselineECDSA, benchBaselineTime)
		out = append(out, measureBaseline(baselineECDSA, benchBaselineTime, ecdsaBaseline(b.payload)))
	}
	return out
}

// aesGCMBaseline seals the payload under a fresh random nonce into a new buffer per call,
// as the HSM does.
func aesGCMBaseline(pt []byte) func() {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	blk, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(blk)
	return func() {
		out := make([]byte, g.NonceSize(), g.NonceSize()+len(pt)+g.Overhead())
		_, _ = rand.Read(out)
		_ = g.Seal(out, out[:g.NonceSize()], pt, nil)
	}
}

// ecdsaBaseline hashes the message and signs it with P-256, as Sign with MessageType RAW does.
func ecdsaBaseline(msg []byte) func() {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return func() {
		d := sha256.Sum256(msg)
		if _, err := ecdsa.SignASN1(rand.Reader, k, d[:]); err != nil {
			panic(err)
		}
	}
}

func measureBaseline(name string, d time.Duration, f func()) benchBaseline {
	for range 100 { // warm up
		f()
	}
	n := 0
	start := time.Now()
	var elapsed time.Duration
	for elapsed < d {
		for range 64 {
			f()
		}
		n += 64
		elapsed = time.Since(start)
	}
	return benchBaseline{Name: name, Iterations: n, UsPerOp: float64(elapsed) / float64(n) / 1e3}
}

// ---- table ----

func writeBenchTable(w io.Writer, r *benchReport) error {
	fmt.Fprintf(w, "endpoint %s, up to %s or %d requests per cell, payload %d bytes\n\n",
		r.Endpoint, time.Duration(r.DurationSeconds*float64(time.Second)), r.MaxRequests, r.PayloadBytes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "OP\tCONC\tREQUESTS\tERRORS\tREQ/S\tP50-MS\tP99-MS\tSERVER-CPU-µs/REQ\tRAW-µs/OP\tRATIO\tCLIENT-CPU-µs/REQ\t")
	for _, c := range r.Cells {
		srv, ratio := "-", "-"
		if c.serverCPUAvailable {
			srv = fmt.Sprintf("%.1f", c.ServerCPUUsPerReq)
			if c.RawUsPerOp > 0 {
				ratio = fmt.Sprintf("%.1fx", c.ServerToRawRatio)
			}
		}
		raw := "-"
		if c.RawUsPerOp > 0 {
			raw = fmt.Sprintf("%.2f", c.RawUsPerOp)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%s\t%s\t%s\t%.1f\t\n", c.Op, c.Concurrency, c.Requests, c.Errors,
			c.ReqPerSec, c.P50Ms, c.P99Ms, srv, raw, ratio, c.ClientCPUUsPerReq)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nin-process baselines (Go stdlib, one goroutine):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, bl := range r.Baselines {
		fmt.Fprintf(tw, "  %s\t%.2f µs/op\t(%d ops)\n", bl.Name, bl.UsPerOp, bl.Iterations)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nRAW-µs/OP: the baseline of the op (aes-256-gcm-encrypt for encrypt, decrypt, generate-data-key;")
	fmt.Fprintln(w, "ecdsa-p256-sha256-sign for sign); RATIO = SERVER-CPU-µs/REQ / RAW-µs/OP. Server CPU includes")
	fmt.Fprintln(w, "HTTP, SigV4 verification, JSON and everything else the server process did meanwhile.")
	fmt.Fprintln(w, "http-floor: a bare Go HTTP server (child process) answering the same Encrypt calls with a fixed")
	fmt.Fprintln(w, "response; encrypt minus http-floor is what Coffer adds to what any Go HTTP server pays here.")
	if slices.ContainsFunc(r.Cells, func(c benchCell) bool { return c.Op == benchRawFloor }) {
		fmt.Fprintln(w, "raw-floor: the same with a minimal hand-written HTTP/1.1 loop instead of net/http: what the kernel,")
		fmt.Fprintln(w, "the Go runtime and the bytes on the wire cost per request here, below any real HTTP server.")
	}
	var errs []benchCell
	for _, c := range r.Cells {
		if c.FirstError != "" {
			errs = append(errs, c)
		}
	}
	if len(errs) > 0 {
		fmt.Fprintln(w, "\nfirst error of each cell:")
		for _, c := range errs {
			fmt.Fprintf(w, "  %s c=%d (%d errors): %s\n", c.Op, c.Concurrency, c.Errors, c.FirstError)
		}
	}
	return nil
}
