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
	benchMaxRounds      = 20
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

	compareEndpoint string
	compareDataDir  string
	rounds          int
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
	compare      *url.URL // nil: no comparison
	rounds       int
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

--compare-endpoint measures a second node against the first, e.g. the cost of the durable
audit trail (a node started with --audit=false). Each cell then runs --rounds rounds (default
3) that alternate the two nodes in ABBA order (A B, B A, A B, ...), each run for --duration,
and reports per node its cells and, per (op, concurrency), the median, minimum and maximum of
the per-round ratios A/B of req/s and of server CPU per request. Ratios of runs side by side
are far steadier on a noisy machine than runs minutes apart. With two or more concurrencies it
also reports each op's peak: each node's best cell (req/s over all its rounds) and their
ratio, the capacity A loses; below saturation a closed-loop client's req/s measures latency
instead. The floor ops run once per round and are not compared.

The endpoints must be loopback addresses: load tests only target this machine. The tool and
the server share the machine's CPUs, so req/s at high concurrency is bounded by both.

Credentials: --access-key-id/--secret-access-key, else AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, else the root credentials a --dev node wrote to
<data-dir>/dev-credentials. The --compare-endpoint node: the root credentials in
<compare-data-dir>/dev-credentials, else the same as the first node's.`,
		Example: `  coffer server --dev --data-dir ./coffer-data &
  coffer bench --data-dir ./coffer-data --duration 3s --concurrency 1,4
  coffer bench --ops encrypt,sign --output json
  coffer server --dev --audit=false --listen 127.0.0.1:8991 --data-dir ./coffer-noaudit &
  coffer bench --ops encrypt --concurrency 16,64,256 --duration 2s \
      --compare-endpoint http://127.0.0.1:8991 --compare-data-dir ./coffer-noaudit`,
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
	f.StringVar(&o.endpoint, "endpoint", endpoint, "the node's URL (env COFFER_ENDPOINT); must be a loopback address")
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
	f.StringVar(&o.compareEndpoint, "compare-endpoint", "", "a second node's URL (loopback) to measure against the first, in alternating rounds")
	f.StringVar(&o.compareDataDir, "compare-data-dir", "", "the --compare-endpoint node's data dir, to read its dev-credentials (default: the first node's credentials)")
	f.IntVar(&o.rounds, "rounds", 0, fmt.Sprintf("measuring runs per cell and node, of --duration each (1-%d; default 1, or 3 with --compare-endpoint)", benchMaxRounds))
	return cmd
}

// ---- validation ----

func validateBench(o *benchOptions) (*benchPlan, error) {
	p := &benchPlan{region: o.region, duration: o.duration, maxRequests: o.maxRequests, payloadBytes: o.payloadBytes, output: o.output}
	var err error
	if p.endpoint, err = loopbackEndpoint(o.endpoint); err != nil {
		return nil, fmt.Errorf("--endpoint %w", err)
	}
	p.rounds = o.rounds
	if o.compareEndpoint != "" {
		if p.compare, err = loopbackEndpoint(o.compareEndpoint); err != nil {
			return nil, fmt.Errorf("--compare-endpoint %w", err)
		}
		if p.compare.String() == p.endpoint.String() {
			return nil, fmt.Errorf("--compare-endpoint %s is the --endpoint: compare two different nodes", o.compareEndpoint)
		}
		if p.rounds == 0 {
			p.rounds = 3
		}
	} else if o.compareDataDir != "" {
		return nil, errors.New("--compare-data-dir needs --compare-endpoint")
	}
	if p.rounds == 0 {
		p.rounds = 1
	}
	if p.rounds < 1 || p.rounds > benchMaxRounds {
		return nil, fmt.Errorf("--rounds must be between 1 and %d, got %d", benchMaxRounds, o.rounds)
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
		return nil, fmt.Errorf("%q: want a URL such as http://127.0.0.1:8990", s)
	}
	host := u.Hostname()
	if !isLoopbackHost(host) {
		return nil, fmt.Errorf("%s: coffer bench only targets this machine; use a loopback address (127.0.0.1, ::1 or localhost), not %q", s, host)
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
// from says where the access key id came from, for error messages.
func benchCredentials(o *benchOptions) (akid, secret, from string, err error) {
	akid, secret = o.accessKeyID, o.secretKey
	from = "--access-key-id"
	if akid == "" {
		akid, from = os.Getenv("AWS_ACCESS_KEY_ID"), "$AWS_ACCESS_KEY_ID"
	}
	if secret == "" {
		secret = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if akid != "" && secret != "" {
		return akid, secret, from, nil
	}
	devID, devSecret, err := devRootCredentials(o.dataDir)
	if err != nil {
		return "", "", "", fmt.Errorf("no AWS credentials: set --access-key-id/--secret-access-key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or point --data-dir at a --dev node's data dir (%v)", err)
	}
	if akid == "" {
		akid, from = devID, filepath.Join(o.dataDir, "dev-credentials")
	}
	if secret == "" {
		secret = devSecret
	}
	return akid, secret, from, nil
}

// devRootCredentials reads the root AWS credentials a --dev node wrote to
// <dataDir>/dev-credentials.
func devRootCredentials(dataDir string) (akid, secret string, err error) {
	path := filepath.Join(dataDir, "dev-credentials")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	var c devCredentials
	if err := json.Unmarshal(b, &c); err != nil {
		return "", "", fmt.Errorf("%s is corrupt: %w", path, err)
	}
	if c.RootAccessKeyID == "" || c.RootSecretAccessKey == "" {
		return "", "", fmt.Errorf("%s holds no root AWS credentials", path)
	}
	return c.RootAccessKeyID, c.RootSecretAccessKey, nil
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
	Endpoint           string  `json:"endpoint"`
	Rounds             int     `json:"rounds"`
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
	runs               []benchRun // the rounds, for comparisons
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
	Endpoint        string            `json:"endpoint"`
	CompareEndpoint string            `json:"compare_endpoint,omitempty"`
	DurationSeconds float64           `json:"duration_seconds"`
	MaxRequests     int               `json:"max_requests"`
	PayloadBytes    int               `json:"payload_bytes"`
	Rounds          int               `json:"rounds"`
	Baselines       []benchBaseline   `json:"baselines"`
	Cells           []benchCell       `json:"cells"`
	Comparisons     []benchComparison `json:"comparisons,omitempty"`
	Peaks           []benchPeak       `json:"peaks,omitempty"`
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
	akid, secret, credsFrom, err := benchCredentials(o)
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
	// One client setup for the nodes and the floor servers: no retries (an error is counted).
	target := func(name string, endpoint *url.URL, akid, secret, credsFrom string) *benchTarget {
		return &benchTarget{name: name, endpoint: endpoint, credsFrom: credsFrom, kms: kms.New(kms.Options{
			Region:       p.region,
			BaseEndpoint: aws.String(endpoint.String()),
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, Source: "coffer bench"}, nil
			}),
			RetryMaxAttempts: 1,
			HTTPClient:       b.http,
		})}
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
			b.floors = map[string]*benchTarget{}
		}
		// The floor answers any key id: it decodes nothing.
		b.floors[op] = target(op, f.endpoint, akid, secret, credsFrom)
		b.floors[op].symKey = "alias/coffer-bench-floor"
	}
	b.node = target("endpoint", p.endpoint, akid, secret, credsFrom)
	nodes := []*benchTarget{b.node}
	if p.compare != nil {
		cid, csecret, cfrom := akid, secret, credsFrom
		if o.compareDataDir != "" {
			if cid, csecret, err = devRootCredentials(o.compareDataDir); err != nil {
				return fmt.Errorf("--compare-data-dir: %w", err)
			}
			cfrom = filepath.Join(o.compareDataDir, "dev-credentials")
		}
		b.compare = target("compare", p.compare, cid, csecret, cfrom)
		nodes = append(nodes, b.compare)
	}

	for _, t := range nodes {
		if _, ok, err := b.serverCPU(ctx, t.endpoint); err != nil {
			return err
		} else if !ok {
			fmt.Fprintf(stderr, "bench: warning: %s's /health has no cpu_seconds (older server?); its server CPU per request is not reported\n", t.endpoint)
		}
	}
	for _, t := range nodes {
		defer b.cleanup(t)
		if err := b.setup(ctx, t); err != nil {
			return err
		}
	}

	report := &benchReport{Endpoint: p.endpoint.String(), DurationSeconds: p.duration.Seconds(), MaxRequests: p.maxRequests,
		PayloadBytes: p.payloadBytes, Rounds: p.rounds}
	if b.compare != nil {
		report.CompareEndpoint = b.compare.endpoint.String()
	}
	report.Baselines = b.baselines()

	for _, op := range p.ops {
		for _, c := range p.concurrency {
			if ctx.Err() != nil {
				break
			}
			if f := b.floors[op]; f != nil {
				report.Cells = append(report.Cells, b.runCell(ctx, []*benchTarget{f}, op, c)...)
				continue
			}
			cells := b.runCell(ctx, nodes, op, c)
			report.Cells = append(report.Cells, cells...)
			if len(cells) == 2 {
				report.Comparisons = append(report.Comparisons, compareCells(cells[0], cells[1]))
			}
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
	report.Peaks = peakComparisons(report)

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

// benchTarget is a server under load: a node (--endpoint, --compare-endpoint)
// or a floor server, and the keys bench created on it.
type benchTarget struct {
	name       string // "endpoint", "compare", or the floor op
	endpoint   *url.URL
	credsFrom  string // where its access key id came from (a flag, the environment, a dev-credentials file)
	kms        *kms.Client
	symKey     string
	signKey    string
	ciphertext []byte
	created    []string
}

type bencher struct {
	plan    *benchPlan
	stderr  io.Writer
	http    *http.Client
	node    *benchTarget
	compare *benchTarget            // nil without --compare-endpoint
	floors  map[string]*benchTarget // the floor servers measured, by op
	payload []byte
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

func (b *bencher) setup(ctx context.Context, t *benchTarget) error {
	ck, err := t.kms.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("coffer bench")})
	if err != nil {
		return fmt.Errorf("creating the symmetric bench key at %s: %s%s", t.endpoint, awsErrorText(err), credentialsHint(err, t))
	}
	t.symKey = aws.ToString(ck.KeyMetadata.KeyId)
	t.created = append(t.created, t.symKey)
	b.progress("created symmetric key %s at %s", t.symKey, t.endpoint)
	enc, err := t.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(t.symKey), Plaintext: b.payload})
	if err != nil {
		return fmt.Errorf("encrypting the decrypt op's ciphertext at %s: %s", t.endpoint, awsErrorText(err))
	}
	t.ciphertext = enc.CiphertextBlob
	if b.needs(benchSign) {
		sk, err := t.kms.CreateKey(ctx, &kms.CreateKeyInput{
			Description: aws.String("coffer bench"),
			KeySpec:     types.KeySpecEccNistP256,
			KeyUsage:    types.KeyUsageTypeSignVerify,
		})
		if err != nil {
			return fmt.Errorf("creating the ECC_NIST_P256 bench key at %s: %s", t.endpoint, awsErrorText(err))
		}
		t.signKey = aws.ToString(sk.KeyMetadata.KeyId)
		t.created = append(t.created, t.signKey)
		b.progress("created ECC_NIST_P256 signing key %s at %s", t.signKey, t.endpoint)
	}
	return nil
}

// cleanup schedules the bench keys for deletion, also after an interrupt.
func (b *bencher) cleanup(t *benchTarget) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, id := range t.created {
		_, err := t.kms.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
		if err != nil {
			b.progress("warning: scheduling key %s at %s for deletion failed: %s", id, t.endpoint, awsErrorText(err))
			continue
		}
		b.progress("scheduled key %s at %s for deletion in 7 days", id, t.endpoint)
	}
	t.created = nil
}

// request returns the function one worker calls for op against t.
func (b *bencher) request(t *benchTarget, op string) func(context.Context) error {
	switch op {
	case benchFloor, benchRawFloor, benchEncrypt:
		return func(ctx context.Context) error {
			_, err := t.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(t.symKey), Plaintext: b.payload})
			return err
		}
	case benchDecrypt:
		return func(ctx context.Context) error {
			_, err := t.kms.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(t.symKey), CiphertextBlob: t.ciphertext})
			return err
		}
	case benchGenerateDataKey:
		return func(ctx context.Context) error {
			_, err := t.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(t.symKey), KeySpec: types.DataKeySpecAes256})
			return err
		}
	case benchSign:
		return func(ctx context.Context) error {
			_, err := t.kms.Sign(ctx, &kms.SignInput{KeyId: aws.String(t.signKey), Message: b.payload,
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

// benchRun is one measuring run of an (op, concurrency) cell against one target.
type benchRun struct {
	latencies []time.Duration
	errors    int
	first     error
	firstAt   time.Time
	elapsed   time.Duration
	serverCPU float64 // seconds; valid if cpuOK
	cpuOK     bool
	clientCPU float64 // seconds
	err       error   // the server's CPU time could not be read
}

// runCell measures op at concurrency c against each target, plan.rounds times,
// and returns one cell per target. With two targets the runs alternate in
// ABBA order (A B, B A, A B, ...), so that drifts of the machine (other load,
// thermal or host throttling) fall on both alike.
func (b *bencher) runCell(ctx context.Context, targets []*benchTarget, op string, c int) []benchCell {
	p := b.plan
	b.progress("%s c=%d: warming up, then %d round(s) of %s or %d requests per node", op, c, p.rounds, p.duration, p.maxRequests)
	dos := make([]func(context.Context) error, len(targets))
	for i, t := range targets {
		dos[i] = b.request(t, op)
		// Warm up with the cell's concurrency so its connections exist before measuring.
		drive(ctx, c, max(benchWarmup, 2*c), time.Time{}, dos[i])
	}
	runs := make([][]benchRun, len(targets))
	for r := range p.rounds {
		for k := range targets {
			i := k
			if r%2 == 1 {
				i = len(targets) - 1 - k
			}
			if ctx.Err() != nil {
				break
			}
			run := b.measure(ctx, targets[i].endpoint, c, dos[i])
			runs[i] = append(runs[i], run)
			label := fmt.Sprintf("%s c=%d", op, c)
			if p.rounds > 1 {
				label += fmt.Sprintf(" round %d/%d", r+1, p.rounds)
			}
			if len(targets) > 1 {
				label += " " + targets[i].name
			}
			b.progressRun(label, run)
		}
	}
	cells := make([]benchCell, len(targets))
	for i, t := range targets {
		cells[i] = summarize(op, c, t, runs[i])
	}
	return cells
}

// measure runs c workers against endpoint for the plan's duration or request
// limit, reading the server's CPU time before and after.
func (b *bencher) measure(ctx context.Context, endpoint *url.URL, c int, do func(context.Context) error) benchRun {
	p := b.plan
	var run benchRun
	cpuBefore, cpuOK, err := b.serverCPU(ctx, endpoint)
	if err != nil {
		run.err = err
		return run
	}
	clientBefore := processCPUSeconds()
	start := time.Now()
	results := drive(ctx, c, p.maxRequests, start.Add(p.duration), do)
	run.elapsed = time.Since(start)
	run.clientCPU = processCPUSeconds() - clientBefore
	cpuAfter, cpuOK2, err := b.serverCPU(context.WithoutCancel(ctx), endpoint)
	if run.cpuOK = cpuOK && cpuOK2 && err == nil; run.cpuOK {
		run.serverCPU = cpuAfter - cpuBefore
	}
	for _, r := range results {
		run.latencies = append(run.latencies, r.latencies...)
		run.errors += r.errors
		if r.firstErr != nil && (run.first == nil || r.firstAt.Before(run.firstAt)) {
			run.first, run.firstAt = r.firstErr, r.firstAt
		}
	}
	return run
}

func (b *bencher) progressRun(label string, run benchRun) {
	if run.err != nil {
		b.progress("%s: %v", label, run.err)
		return
	}
	n := len(run.latencies)
	slices.Sort(run.latencies)
	srv := "-"
	if run.cpuOK && n > 0 {
		srv = fmt.Sprintf("%.0f µs/req", run.serverCPU/float64(n)*1e6)
	}
	b.progress("%s: %d requests, %d errors, %.0f req/s, p50 %.2f ms, p99 %.2f ms, server CPU %s",
		label, n, run.errors, float64(n)/run.elapsed.Seconds(), ms(percentile(run.latencies, 50)), ms(percentile(run.latencies, 99)), srv)
	if run.first != nil {
		b.progress("%s: first error: %s", label, awsErrorText(run.first))
	}
}

// summarize makes one cell of a target's runs: their requests over their
// summed time, latency percentiles over all of them, and server CPU per
// request (if every run could read it). Each run is kept for comparisons.
func summarize(op string, c int, t *benchTarget, runs []benchRun) benchCell {
	// runs stay in round order, failed ones too: comparisons pair rounds by index.
	cell := benchCell{Op: op, Concurrency: c, Endpoint: t.endpoint.String(), serverCPUAvailable: len(runs) > 0, runs: runs}
	var all []time.Duration
	var elapsed time.Duration
	var serverCPU, clientCPU float64
	var first error
	var firstAt time.Time
	for _, r := range runs {
		if r.err != nil {
			cell.serverCPUAvailable = false
			if cell.FirstError == "" {
				cell.FirstError = r.err.Error()
			}
			continue
		}
		all = append(all, r.latencies...)
		elapsed += r.elapsed
		cell.Errors += r.errors
		cell.serverCPUAvailable = cell.serverCPUAvailable && r.cpuOK
		serverCPU += r.serverCPU
		clientCPU += r.clientCPU
		if r.first != nil && (first == nil || r.firstAt.Before(firstAt)) {
			first, firstAt = r.first, r.firstAt
		}
		cell.Rounds++
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
		cell.ServerCPUUsPerReq = serverCPU / float64(cell.Requests) * 1e6
		cell.ClientCPUUsPerReq = clientCPU / float64(cell.Requests) * 1e6
	} else {
		cell.serverCPUAvailable = false
	}
	if first != nil {
		cell.FirstError = awsErrorText(first)
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

// credentialsHint explains a refused signature: the usual cause is a node
// other than the one whose credentials bench read (e.g. --data-dir of one
// node, the default --endpoint of another).
func credentialsHint(err error, t *benchTarget) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	switch ae.ErrorCode() {
	case "UnrecognizedClientException", "InvalidSignatureException":
		return fmt.Sprintf(" (the access key id is from %s: does it belong to the node at %s? --endpoint names the node, --data-dir the node whose dev-credentials are read)", t.credsFrom, t.endpoint)
	}
	return ""
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
	fmt.Fprintf(w, "endpoint %s, %d round(s) of up to %s or %d requests per cell, payload %d bytes\n",
		r.Endpoint, r.Rounds, time.Duration(r.DurationSeconds*float64(time.Second)), r.MaxRequests, r.PayloadBytes)
	comparing := r.CompareEndpoint != ""
	if comparing {
		fmt.Fprintf(w, "A: %s, B: %s (floor servers: -)\n", r.Endpoint, r.CompareEndpoint)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if comparing {
		fmt.Fprint(tw, "NODE\t")
	}
	fmt.Fprintln(tw, "OP\tCONC\tREQUESTS\tERRORS\tREQ/S\tP50-MS\tP99-MS\tSERVER-CPU-µs/REQ\tRAW-µs/OP\tRATIO\tCLIENT-CPU-µs/REQ\t")
	for _, c := range r.Cells {
		if comparing {
			node := "-"
			switch c.Endpoint {
			case r.Endpoint:
				node = "A"
			case r.CompareEndpoint:
				node = "B"
			}
			fmt.Fprint(tw, node+"\t")
		}
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
	if err := writeBenchComparisons(w, r); err != nil {
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
