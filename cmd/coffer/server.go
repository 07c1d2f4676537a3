package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/coffer-hsm/coffer/internal/audit"
	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/backup"
	"github.com/coffer-hsm/coffer/internal/cloudhsm"
	"github.com/coffer-hsm/coffer/internal/cloudwatch"
	"github.com/coffer-hsm/coffer/internal/cpuload"
	"github.com/coffer-hsm/coffer/internal/crypto"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/hsmapi"
	"github.com/coffer-hsm/coffer/internal/iam"
	"github.com/coffer-hsm/coffer/internal/kms"
	"github.com/coffer-hsm/coffer/internal/seal"
	"github.com/coffer-hsm/coffer/internal/sns"
	"github.com/coffer-hsm/coffer/internal/state"
	"github.com/coffer-hsm/coffer/internal/tlsca"
	"github.com/coffer-hsm/coffer/internal/trail"
)

type serverOptions struct {
	dev              bool
	listen           string
	dataDir          string
	nodeID           string
	raftAddr         string
	zone             string
	policy           string
	lockout          int
	zeroize          int
	sessionTTL       time.Duration
	logLevel         string
	selfTestFailure  string
	passphraseFile   string
	accountID        string
	schedulerEvery   time.Duration
	pprof            bool
	region           string
	subnets          []string
	backupDir        string
	backupEvery      time.Duration
	audit            bool
	trailDir         string
	trailLogEvery    time.Duration
	trailDigestEvery time.Duration
	metrics          metricsOptions
	tls              tlsOptions
	advertiseURL     string

	onServing func(http.Handler) // in-process benchmarks: the node's handler, once it serves
}

func newServerCmd() *cobra.Command { return serverCmd(&serverOptions{}) }

// serverCmd is the server command filling o from its flags.
func serverCmd(o *serverOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Coffer node",
		Long: `Run a Coffer node: the HSM core, its replicated state (hashicorp/raft) and the APIs on one
listener.

With --dev the node is a one-voter cluster on loopback over plain HTTP (--tls for HTTPS),
initialized and activated at first start. The admin password and root AWS credentials come from
COFFER_ADMIN_PASSWORD, COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY when set;
otherwise they are generated, printed once and written (0600) to <data-dir>/dev-credentials.

Without --dev the node starts uninitialized and its domain key is additionally sealed with an
operator passphrase (COFFER_SEAL_PASSPHRASE or --seal-passphrase-file), and it serves HTTPS
only: with --tls-cert/--tls-key if given, otherwise with a certificate issued by a CA the node
makes once in <data-dir>/tls. Clients trust <data-dir>/tls/ca.pem (aws --ca-bundle or
AWS_CA_BUNDLE; coffer --ca-cert or COFFER_CA_CERT).

GET /health answers 200 with the node id, cluster state and raft role once the node serves,
and 503 while requests cannot be answered (the audit journal failed or stalled, or a power-on
self-test failed).`,
		Example: `  coffer server --dev --listen 127.0.0.1:8990 --data-dir ./coffer-data`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServer(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.dev, "dev", false, "development mode: loopback, plain HTTP, one node, auto-initialized")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8990", "address to serve the APIs on (port 0 picks a free port)")
	f.StringVar(&o.dataDir, "data-dir", "./coffer-data", "directory for the node's state, sealed domain key and node key")
	f.StringVar(&o.nodeID, "node-id", "", "stable node id (default: generated once and kept in <data-dir>/node-id)")
	f.StringVar(&o.raftAddr, "raft-addr", "", "raft TCP address for multi-node clusters (empty: single node, no raft port)")
	f.StringVar(&o.region, "region", "us-east-1", "region of the --dev cluster (clusters made through the CloudHSMv2 API live in the caller's region)")
	f.StringVar(&o.zone, "zone", "", "availability zone of this node, e.g. us-east-1a (default: <region>a)")
	f.StringArrayVar(&o.subnets, "subnet", nil, "a subnet the CloudHSMv2 API accepts, as subnet-<hex>=<zone> (repeatable)")
	f.StringVar(&o.backupDir, "backup-dir", "", "directory holding backup archives (default <data-dir>/backups)")
	f.BoolVar(&o.audit, "audit", true, "record every API request and HSM event in the durable CloudTrail journal (<data-dir>/audit) before answering; --audit=false only for measuring its cost")
	f.DurationVar(&o.backupEvery, "backup-interval", 24*time.Hour, "age of a cluster's newest backup at which an automatic backup is taken")
	f.StringVar(&o.policy, "login-failure-policy", hsm.PolicyLockout, "initial login failure policy: lockout or zeroize (applied when the cluster is initialized)")
	f.IntVar(&o.lockout, "lockout-threshold", 5, "consecutive failed logins that lock a user (lockout policy)")
	f.IntVar(&o.zeroize, "zeroize-threshold", 3, "consecutive failed admin logins that zeroize the cluster (zeroize policy)")
	f.DurationVar(&o.sessionTTL, "session-ttl", time.Hour, "HSM session lifetime after last use")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.selfTestFailure, "simulate-self-test-failure", os.Getenv("COFFER_SIMULATE_SELF_TEST_FAILURE"),
		"make the named power-on self-test fail (testing the failure path; see internal/crypto.SelfTestNames)")
	f.StringVar(&o.passphraseFile, "seal-passphrase-file", "", "file holding the operator passphrase that seals the domain key (production)")
	f.BoolVar(&o.pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the listener (for profiling under coffer bench; loopback only)")
	f.StringVar(&o.accountID, "account-id", "111122223333", "12-digit AWS account id used in ARNs")
	f.StringVar(&o.trailDir, "trail-dir", "", "directory CloudTrail trails deliver to: a trail's S3BucketName is a directory in it (default <data-dir>/trails)")
	f.DurationVar(&o.trailLogEvery, "trail-delivery-interval", 5*time.Minute, "how often trails deliver new events as log files")
	f.DurationVar(&o.trailDigestEvery, "trail-digest-interval", time.Hour, "how often trails with log file validation write a signed digest file")
	f.DurationVar(&o.schedulerEvery, "scheduler-interval", time.Minute, "how often due key rotations, deletions, import expirations, automatic backups and backup retention run")
	o.metrics.addFlags(f)
	o.tls.addFlags(f)
	f.StringVar(&o.advertiseURL, "advertise-url", "", "this node's URL as clients on other hosts reach it, used in the links of SNS messages (SubscribeURL...); default: the listen address (the host name when listening on all interfaces)")
	return cmd
}

// devCredentials are what a --dev node prints once and keeps in <data-dir>/dev-credentials.
type devCredentials struct {
	AdminUsername       string `json:"admin_username"`
	AdminPassword       string `json:"admin_password"`
	RootAccessKeyID     string `json:"root_access_key_id"`
	RootSecretAccessKey string `json:"root_secret_access_key"`
}

type node struct {
	opts     *serverOptions
	log      *slog.Logger
	nodeID   string
	hsm      *hsm.HSM
	kms      *kms.Service
	cloudhsm *cloudhsm.Service
	iam      *iam.Service
	rec      *recorder // nil with --audit=false
	cw       *cloudwatch.Service
	sns      *sns.Service
	metrics  *nodeMetrics
	trail    *trail.Service
	authz    *identityAuthorizer
	store    *state.Store
	creds    *devCredentials
	// credsFresh: the dev credentials were made at this start (printed once).
	credsFresh bool
	ready      chan struct{}
	wipeMu     sync.Mutex
	tlsSource  atomic.Pointer[tlsca.Source] // the served certificate, with TLS
}

func runServer(ctx context.Context, o *serverOptions, stdout io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	log, err := newLogger(o.logLevel)
	if err != nil {
		return err
	}
	if err := validatePolicyFlags(o); err != nil {
		return err
	}
	if err := o.tls.resolve(o.dev); err != nil {
		return err
	}
	if o.dev {
		host, _, err := net.SplitHostPort(o.listen)
		if err != nil {
			return fmt.Errorf("--listen %q: %w", o.listen, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--dev only listens on loopback; got --listen %s", o.listen)
		}
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	subnets, err := parseSubnets(o.subnets)
	if err != nil {
		return err
	}
	if o.zone == "" {
		o.zone = o.region + "a"
	}
	if o.backupDir == "" {
		o.backupDir = filepath.Join(o.dataDir, "backups")
	}
	if o.trailDir == "" {
		o.trailDir = filepath.Join(o.dataDir, "trails")
	}
	if o.trailLogEvery < time.Second || o.trailDigestEvery < time.Second {
		return errors.New("--trail-delivery-interval and --trail-digest-interval must be at least 1s")
	}
	if o.backupEvery < time.Second {
		return fmt.Errorf("--backup-interval must be at least 1s, got %v", o.backupEvery)
	}
	n := &node{opts: o, log: log, ready: make(chan struct{})}
	n.metrics = newNodeMetrics(n)
	if n.nodeID, err = loadNodeID(o.dataDir, o.nodeID); err != nil {
		return err
	}

	// Power-on self-tests: a failing node still answers /health (503, with the reason)
	// but refuses every HSM operation.
	if o.selfTestFailure != "" {
		name, err := selfTestName(o.selfTestFailure)
		if err != nil {
			return err
		}
		crypto.SetSelfTestFailure(name)
	}
	selfTestErr := crypto.SelfTest()
	if selfTestErr != nil {
		log.Error("power-on self-test FAILED; this node refuses service", "err", selfTestErr)
	}

	sealer, err := n.sealer()
	if err != nil {
		return err
	}
	if o.audit {
		// Group commits wait for more events when the machine's CPUs are saturated.
		load := cpuload.Start(ctx, 200*time.Millisecond)
		j, err := audit.Open(filepath.Join(o.dataDir, "audit"), audit.Options{Saturated: load.Saturated})
		if err != nil {
			return fmt.Errorf("opening the audit journal: %w", err)
		}
		defer j.Close()
		n.rec = &recorder{j: j, region: o.region, account: o.accountID}
	}
	n.hsm = hsm.New(hsm.Config{
		DomainKeyPath: filepath.Join(o.dataDir, "domain-key.sealed"),
		Sealer:        sealer,
		Events: hsm.EventSinkFunc(func(e hsm.Event) {
			logEvent(log, e)
			n.hsmMetrics(e)
			n.metrics.hsmEvent(e)
			if n.rec != nil {
				if err := n.rec.hsmEvent(e); err != nil {
					log.Error("audit: recording an HSM event failed", "opcode", e.Opcode, "err", err)
				}
			}
		}),
		SessionTTL: o.sessionTTL,
		OnZeroize:  n.wipe,
		Logger:     log,
	})
	n.hsm.SetSelfTestResult(selfTestErr)
	n.cloudhsm = cloudhsm.New(cloudhsm.Config{
		HSM: n.hsm, Store: &backup.DirStore{Root: o.backupDir}, ShareDir: filepath.Join(o.dataDir, "backup-shares"),
		NodeID: n.nodeID, Zone: o.zone, Subnets: subnets, Region: o.region, Account: o.accountID,
		BackupInterval: o.backupEvery, Logger: log,
		InitialPolicy: hsm.Policy{LoginFailurePolicy: o.policy, LockoutThreshold: o.lockout, ZeroizeThreshold: o.zeroize},
	})
	if o.dev {
		// The root credentials are needed before the state opens (IAM falls back to them).
		if n.creds, n.credsFresh, err = loadDevCredentials(o.dataDir); err != nil {
			return err
		}
	}
	akid, secret := os.Getenv("COFFER_ROOT_ACCESS_KEY_ID"), os.Getenv("COFFER_ROOT_SECRET_ACCESS_KEY")
	if n.creds != nil {
		akid, secret = n.creds.RootAccessKeyID, n.creds.RootSecretAccessKey
	}
	secretsPath := filepath.Join(o.dataDir, "iam-secrets.sealed")
	secretsKey, err := sealedKey(secretsPath, sealer, "IAM secrets key")
	if err != nil {
		return err
	}
	// The root's CreateDate: when this node's IAM secrets key was made (once, with the
	// node's data), so that it stays the same across restarts.
	var accountCreated time.Time
	if fi, err := os.Stat(secretsPath); err == nil {
		accountCreated = fi.ModTime().UTC().Truncate(time.Second)
	}
	n.iam, err = iam.New(iam.Config{Root: rootCredentials(akid, secret, o.accountID), SecretsKey: secretsKey, Logger: log,
		AccountCreated: accountCreated})
	clear(secretsKey)
	if err == nil && n.rec != nil {
		n.iam.SetKeyUsage(n.rec.keyLastUsed)
	}
	if err != nil {
		return err
	}
	n.authz = &identityAuthorizer{iam: n.iam, now: time.Now}
	// The listener comes first: SNS puts this node's URL in its messages.
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	ln = awsproto.QuietListener(ln) // under TLS: requests waiting for the journal hold back net/http's background read
	scheme, tlsID, err := n.serveTLS(ctx, &ln)
	if err != nil {
		return err
	}
	base, err := advertisedBase(scheme, ln.Addr(), o.advertiseURL)
	if err != nil {
		return err
	}
	// Datapoints are kept per node in <data-dir>/metrics (not replicated; see docs/metrics.md).
	n.cw, err = cloudwatch.Open(cloudwatch.Config{Region: o.region, AccountID: o.accountID, Logger: log, Dir: filepath.Join(o.dataDir, "metrics")})
	if err != nil {
		return fmt.Errorf("opening the metrics store: %w", err)
	}
	defer n.cw.Close()
	snsKey, err := snsSigningKey(filepath.Join(o.dataDir, "sns-signing-key"), filepath.Join(o.dataDir, "sns-signing.sealed"), sealer)
	if err != nil {
		return err
	}
	n.sns, err = sns.New(sns.Config{Region: o.region, AccountID: o.accountID, NodeID: n.nodeID,
		BaseURL: base, SigningCertURL: base + "sns/SimpleNotificationService.pem", SigningKey: snsKey, Logger: log})
	if err != nil {
		return err
	}
	n.cw.SetNotifier(n.sns.CloudWatchNotifier())
	n.cw.SetCollector(n.metrics.flushUsage)
	// Trails publish their log file notifications to SNS, as alarm actions do.
	n.trail = trail.New(trail.Config{Region: o.region, AccountID: o.accountID, Logger: log, Notifier: n.sns.ServicePublisher(sns.CloudTrailPrincipal)})
	n.kms = kms.New(kms.Config{HSM: n.hsm, Logger: log, Clusters: clusterDirectory{svc: n.cloudhsm, dev: o.dev},
		Enforce: true, Identities: n.iam.PolicySource(), OnKeyUse: n.metrics.usage.add})
	n.store, err = state.Open(state.Config{NodeID: n.nodeID, Dir: filepath.Join(o.dataDir, "raft"), BindAddr: o.raftAddr, Logger: log}, n.hsm, n.kms, n.cloudhsm, n.iam, n.cw, n.sns, n.trail)
	if err != nil {
		return fmt.Errorf("opening the replicated state: %w", err)
	}
	defer n.store.Close()
	n.hsm.Attach(n.store)
	n.kms.Attach(n.store)
	if n.rec != nil {
		n.rec.kms = n.kms
	}
	n.cloudhsm.Attach(n.store)
	n.iam.Attach(n.store)
	n.cw.Attach(n.store)
	n.sns.Attach(n.store)
	n.trail.Attach(n.store)
	defer n.sns.Close() // before the store closes (deferred earlier, runs later)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = n.store.WaitLeader(wctx)
	cancel()
	if err != nil {
		return fmt.Errorf("waiting for a raft leader: %w", err)
	}
	if err := n.hsm.Unseal(); err != nil {
		log.Error("the domain key could not be unsealed; key operations will fail", "err", err)
	}
	if o.dev && selfTestErr == nil {
		if err := n.devInitialize(ctx, stdout); err != nil {
			return err
		}
		if err := n.devCluster(ctx); err != nil {
			return err
		}
	}

	go n.kms.Run(ctx, o.schedulerEvery)
	go n.cloudhsm.Run(ctx, o.schedulerEvery)
	go n.purgeSessions(ctx, o.schedulerEvery)
	go n.cw.Run(ctx)
	go n.metrics.run(ctx, o.metrics.interval)
	if err := n.startTrails(ctx, sealer); err != nil {
		return err
	}
	if k := n.sns.Resume(); k > 0 {
		log.Info("sns: resumed pending deliveries", "count", k)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", n.health)
	mux.Handle(hsmapi.PathPrefix, hsmapi.NewServer(n.hsm, hsmapi.ServerConfig{NodeID: n.nodeID, AllowInitialize: o.dev, Logger: log, Extensions: n.backupExtensions()}))
	if akid == "" || secret == "" {
		log.Warn("no root AWS credentials: set COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY to use the AWS APIs")
	}
	if o.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	services := []*awsproto.JSONService{kmsJSONService(n.kms), cloudhsmJSONService(n.cloudhsm, n.authz)}
	if n.rec != nil {
		ct := cloudTrailJSONService(n.rec.j, n.authz, trailHandlers(n.trail, n.authz))
		ct2 := *ct // newer SDKs (aws-sdk-go-v2 cloudtrail >= 1.50) send the short target prefix
		ct2.TargetPrefix = cloudTrailShortPrefix
		services = append(services, ct, &ct2)
	}
	queries := []*awsproto.QueryService{iamQueryService(n.iam, n.authz), stsQueryService(n.iam, n.authz),
		cloudwatchQueryService(n.cw, n.authz), snsQueryService(n.sns, n.authz)}
	router := awsproto.NewRouter(&awsproto.Verifier{Credentials: n.iam}, services...).AddQuery(queries...)
	n.metrics.services(services, queries)
	router.Observe = n.metrics.observe
	mux.Handle("GET /metrics", n.metrics.handler(o.metrics.public))
	if err := n.metrics.serve(ctx, o.metrics.listen); err != nil {
		return fmt.Errorf("--metrics-listen: %w", err)
	}
	if n.rec != nil {
		router.Record = n.rec.record
		router.RecordAsync = n.rec.recordAsync
		router.Expect = n.rec.j.Expect
	}
	router.InternalError = func(c *awsproto.Call, err error) {
		log.Error("aws api: internal error", "service", c.Service, "operation", c.Operation, "err", err)
	}
	links := n.sns.HTTPHandler()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.sns.IsLinkRequest(r) { // unsigned SNS links: SubscribeURL, UnsubscribeURL, certificate
			links.ServeHTTP(w, r)
			return
		}
		router.ServeHTTP(w, r)
	}))

	if o.onServing != nil {
		o.onServing(mux)
	}
	// ErrorLog: failed TLS handshakes (e.g. a plain-HTTP client) and the like, as warnings.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext: awsproto.QuietConnContext}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "coffer: node %s listening on %s://%s (cluster %s)\n", n.nodeID, scheme, ln.Addr(), n.hsm.Status().State)
	if tlsID != nil {
		fmt.Fprintf(stdout, "coffer: clients trust the CA certificate %s (aws --ca-bundle, coffer --ca-cert)\n", tlsID.CAPath)
	}
	log.Info("serving", "addr", ln.Addr().String(), "node", n.nodeID, "dev", o.dev)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	n.metrics.flushUsage() // the last second of key usage, then the datapoint log
	if err := n.cw.Close(); err != nil {
		log.Warn("cloudwatch: closing the datapoint log", "err", err)
	}
	n.wipeMu.Lock() // let a running wipe finish before closing the store
	defer n.wipeMu.Unlock()
	return n.store.Close()
}

// advertisedBase is the node's base URL in the links it hands out: advertise
// when given, else scheme://<listen address>/, with the host name in place of
// an unspecified address (0.0.0.0, ::), which no client can reach.
func advertisedBase(scheme string, addr net.Addr, advertise string) (string, error) {
	if advertise != "" {
		u, err := url.Parse(advertise)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return "", fmt.Errorf("--advertise-url %q: want a URL such as https://coffer.example.com:8990/", advertise)
		}
		return strings.TrimSuffix(u.String(), "/") + "/", nil
	}
	host := addr.String()
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		name, err := os.Hostname()
		if err != nil || name == "" {
			name = "localhost"
		}
		host = net.JoinHostPort(name, strconv.Itoa(ta.Port))
	}
	return scheme + "://" + host + "/", nil
}

// selfTestName resolves a self-test name case-insensitively.
func selfTestName(s string) (string, error) {
	names := append(crypto.SelfTestNames(), "pairwise")
	for _, n := range names {
		if strings.EqualFold(n, s) {
			return n, nil
		}
	}
	return "", fmt.Errorf("--simulate-self-test-failure %q: unknown self-test; one of %s", s, strings.Join(names, ", "))
}

func validatePolicyFlags(o *serverOptions) error {
	switch o.policy {
	case hsm.PolicyLockout, hsm.PolicyZeroize:
	default:
		return fmt.Errorf("--login-failure-policy must be lockout or zeroize, got %q", o.policy)
	}
	if o.pprof {
		host, _, _ := net.SplitHostPort(o.listen)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("--pprof is only allowed on a loopback --listen address")
		}
	}
	if err := o.metrics.validate(); err != nil {
		return err
	}
	if len(o.accountID) != 12 || strings.Trim(o.accountID, "0123456789") != "" {
		return fmt.Errorf("--account-id must be 12 digits, got %q", o.accountID)
	}
	if o.lockout < 1 || o.lockout > 100 || o.zeroize < 1 || o.zeroize > 100 {
		return errors.New("--lockout-threshold and --zeroize-threshold must be between 1 and 100")
	}
	return nil
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// logEvent writes an HSM audit event to the log until the audit trail exists. Events carry
// no secrets by construction.
func logEvent(log *slog.Logger, e hsm.Event) {
	lvl := slog.LevelInfo
	if e.Result != hsm.ResultOK {
		lvl = slog.LevelWarn
	}
	log.Log(context.Background(), lvl, "hsm event", "opcode", e.Opcode, "result", e.Result, "user", e.User,
		"role", e.Role, "target", e.Target, "failed_logins", e.FailedLogins, "message", e.Message)
}

func loadNodeID(dir, flagID string) (string, error) {
	path := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		id := strings.TrimSpace(string(b))
		if flagID != "" && flagID != id {
			return "", fmt.Errorf("--node-id %s differs from the id %s this data dir belongs to", flagID, id)
		}
		return id, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	id := flagID
	if id == "" {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		id = "node-" + hex.EncodeToString(b)
	}
	return id, os.WriteFile(path, []byte(id+"\n"), 0o600)
}

func (n *node) sealer() (seal.Sealer, error) {
	nodeKey, err := seal.NewNodeKeySealer(filepath.Join(n.opts.dataDir, "node.key"))
	if err != nil {
		return nil, err
	}
	if n.opts.dev {
		return nodeKey, nil
	}
	pass := []byte(os.Getenv("COFFER_SEAL_PASSPHRASE"))
	if n.opts.passphraseFile != "" {
		b, err := os.ReadFile(n.opts.passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("--seal-passphrase-file: %w", err)
		}
		pass = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	if len(pass) < 12 {
		return nil, errors.New("production nodes seal the domain key with an operator passphrase of at least 12 characters: set COFFER_SEAL_PASSPHRASE or --seal-passphrase-file (or use --dev)")
	}
	return seal.Chain(nodeKey, seal.NewPassphraseSealer(pass)), nil
}

// devInitialize initializes and activates an uninitialized --dev cluster with the dev
// credentials, printing them once when they are new.
func (n *node) devInitialize(ctx context.Context, stdout io.Writer) error {
	creds, fresh := n.creds, n.credsFresh
	st := n.hsm.Status().State
	if st == hsm.StateUninitialized {
		p := hsm.Policy{LoginFailurePolicy: n.opts.policy, LockoutThreshold: n.opts.lockout, ZeroizeThreshold: n.opts.zeroize}
		if err := n.hsm.Initialize(ctx, p); err != nil {
			return fmt.Errorf("initializing the dev cluster: %w", err)
		}
		st = hsm.StateInitialized
	}
	if st == hsm.StateInitialized {
		if err := n.hsm.Activate(ctx, creds.AdminPassword); err != nil {
			return fmt.Errorf("activating the dev cluster: %w", err)
		}
	}
	if fresh {
		fmt.Fprintf(stdout, `Coffer dev credentials (printed once; also in %s, mode 0600):
  HSM admin:            username %s, password %s
  AWS root credentials: AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s
`, filepath.Join(n.opts.dataDir, "dev-credentials"), creds.AdminUsername, creds.AdminPassword, creds.RootAccessKeyID, creds.RootSecretAccessKey)
	}
	return nil
}

// devCluster records the --dev node's cluster (ACTIVE, one HSM: this node) and writes its
// trust anchor to <data-dir>/dev-trust-anchor.pem for KMS custom key stores.
func (n *node) devCluster(ctx context.Context) error {
	id, err := n.cloudhsm.EnsureDevCluster(ctx)
	if err != nil {
		return fmt.Errorf("recording the dev cluster: %w", err)
	}
	ci, err := n.cloudhsm.ClusterInfo("", id)
	if err != nil {
		return fmt.Errorf("reading the dev cluster: %w", err)
	}
	if ci.TrustAnchor == "" {
		return nil
	}
	path := filepath.Join(n.opts.dataDir, "dev-trust-anchor.pem")
	if err := os.WriteFile(path, []byte(ci.TrustAnchor), 0o644); err != nil {
		return fmt.Errorf("writing the dev trust anchor: %w", err)
	}
	return nil
}

func loadDevCredentials(dir string) (*devCredentials, bool, error) {
	path := filepath.Join(dir, "dev-credentials")
	if b, err := os.ReadFile(path); err == nil {
		var c devCredentials
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, false, fmt.Errorf("%s is corrupt: %w", path, err)
		}
		return &c, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	c := &devCredentials{
		AdminUsername:       hsm.DefaultAdmin,
		AdminPassword:       os.Getenv("COFFER_ADMIN_PASSWORD"),
		RootAccessKeyID:     os.Getenv("COFFER_ROOT_ACCESS_KEY_ID"),
		RootSecretAccessKey: os.Getenv("COFFER_ROOT_SECRET_ACCESS_KEY"),
	}
	if c.AdminPassword == "" {
		c.AdminPassword = randomString(20, "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
	}
	if c.RootAccessKeyID == "" {
		c.RootAccessKeyID = "AKIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	}
	if c.RootSecretAccessKey == "" {
		c.RootSecretAccessKey = randomString(40, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/")
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return nil, false, err
	}
	return c, true, nil
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// purgeSessions removes expired STS credentials from the state every interval.
func (n *node) purgeSessions(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.iam.PurgeExpiredSessions(ctx); err != nil && !state.IsNotLeader(err) {
				n.log.Warn("iam: purging expired sessions", "err", err)
			}
			if n.rec != nil {
				if _, err := n.rec.j.Prune(time.Now()); err != nil {
					n.log.Warn("audit: pruning expired journal segments", "err", err)
				}
			}
		}
	}
}

// parseSubnets reads --subnet subnet-<hex>=<zone> values.
func parseSubnets(vals []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vals {
		id, zone, ok := strings.Cut(v, "=")
		if !ok || !strings.HasPrefix(id, "subnet-") || zone == "" {
			return nil, fmt.Errorf("--subnet %q: want subnet-<hex>=<zone>, e.g. subnet-0a608d19e6c29c7a9=us-east-1a", v)
		}
		if prev, dup := out[id]; dup && prev != zone {
			return nil, fmt.Errorf("--subnet %s is given twice, in %s and %s", id, prev, zone)
		}
		out[id] = zone
	}
	return out, nil
}

// wipe runs after a zeroization was applied: it scrubs the replicated log and snapshots
// from disk and restarts the state as a fresh, uninitialized one-voter cluster.
func (n *node) wipe() {
	n.wipeMu.Lock()
	defer n.wipeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The HSM part (users, keys) is scrubbed; the KMS metadata and the CloudHSM control
	// plane (clusters, backup records) are outside the HSM boundary and survive, as they
	// do on AWS, so that a restore can bring the keys back under the same KMS key ids.
	if err := n.store.Wipe(ctx, n.kms.Name(), n.cloudhsm.Name(), n.iam.Name(), n.trail.Name()); err != nil {
		n.log.Error("zeroize: wiping the replicated state failed", "err", err)
		return
	}
	n.log.Warn("cluster ZEROIZED: domain key erased, HSM state scrubbed from the replicated log; the HSM is uninitialized")
}

type healthResponse struct {
	Status       string `json:"status"`
	NodeID       string `json:"node_id"`
	Zone         string `json:"zone"`
	ClusterState string `json:"cluster_state"`
	RaftRole     string `json:"raft_role"`
	RaftLeader   string `json:"raft_leader,omitempty"`
	AppliedIndex uint64 `json:"applied_index"`
	Unsealed     bool   `json:"unsealed"`
	SelfTest     string `json:"self_test"`
	Zeroizations int    `json:"zeroizations,omitempty"`
	// Audit is the durable trail's state: "ok", "off" (--audit=false), "failed" (a write
	// or fdatasync failed: every request is refused until the node is restarted on a
	// working disk; AuditError says why) or "stalled" (a commit has been running for
	// auditStallAfter: the disk hangs, and requests time out).
	Audit      string `json:"audit"`
	AuditError string `json:"audit_error,omitempty"`
	Version    string `json:"version"`
	// CPUSeconds is the process's user+system CPU time, for `coffer bench`'s server CPU per request.
	CPUSeconds float64 `json:"cpu_seconds"`
}

// auditStallAfter is how long a journal commit may run before /health reports the trail
// stalled (commits take milliseconds; requests give up at audit.DefaultAppendTimeout).
const auditStallAfter = 5 * time.Second

// auditHealth is the durable trail's part of /health: "ok", "failed" with the failure,
// or "stalled"; serving is false when requests cannot be recorded, so cannot be answered.
func auditHealth(st audit.Stats) (state, failure string, serving bool) {
	switch {
	case st.Failed != nil:
		return "failed", st.Failed.Error(), false
	case st.CommitAge >= auditStallAfter:
		return "stalled", "", false
	}
	return "ok", "", true
}

func (n *node) health(w http.ResponseWriter, r *http.Request) {
	hs := n.hsm.Status()
	rs := n.store.Status()
	resp := healthResponse{
		Status: "ok", NodeID: n.nodeID, Zone: n.opts.zone, ClusterState: hs.State, RaftRole: rs.Role,
		RaftLeader: rs.LeaderID, AppliedIndex: rs.AppliedIndex, Unsealed: hs.Unsealed, SelfTest: hs.SelfTest,
		Zeroizations: hs.Zeroizations, Version: version, CPUSeconds: processCPUSeconds(),
	}
	status := http.StatusOK
	resp.Audit = "off"
	if n.rec != nil {
		var serving bool
		if resp.Audit, resp.AuditError, serving = auditHealth(n.rec.j.Stats()); !serving {
			resp.Status, status = "audit journal "+resp.Audit, http.StatusServiceUnavailable
		}
	}
	if hs.SelfTest != "passed" {
		resp.Status = "self-test failed"
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

// processCPUSeconds returns this process's user+system CPU time.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
