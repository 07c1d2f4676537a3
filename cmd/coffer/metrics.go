package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/cloudhsm"
	"github.com/coffer-hsm/coffer/internal/cloudwatch"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/state"
)

// Coffer's own metrics (docs/metrics.md):
//
//   - CloudWatch: AWS/KMS KeyUsageCount (counted in memory on the request path, published
//     every second, merged into one datapoint per minute, in the key's region) and the
//     AWS/CloudHSM gauges HsmUnhealthy, HsmSessionCount, HsmUsersAvailable, HsmUsersMax,
//     HsmKeysTokenOccupied (published every --metrics-interval, in the node's region).
//     FailedLoginCount is monitoring.go's (in the node's region).
//   - Prometheus: GET /metrics (text format) with the API requests and latencies, the same
//     counts and gauges, raft, the audit journal and the Go runtime.

// metricsOptions are the server flags of the metrics.
type metricsOptions struct {
	public   bool
	listen   string
	interval time.Duration
}

func (o *metricsOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.public, "metrics-public", false, "serve GET /metrics (Prometheus) on --listen to every client; by default only loopback clients may scrape it there")
	f.StringVar(&o.listen, "metrics-listen", "", "also serve GET /metrics (Prometheus, unauthenticated) on this address, e.g. 10.0.0.5:9990")
	f.DurationVar(&o.interval, "metrics-interval", time.Minute, "how often the AWS/CloudHSM gauges (HsmUnhealthy, HsmSessionCount...) are published to CloudWatch")
}

func (o *metricsOptions) validate() error {
	if o.interval < time.Second {
		return fmt.Errorf("--metrics-interval must be at least 1s, got %v", o.interval)
	}
	return nil
}

// usageFlushEvery is how often counted key uses are published to CloudWatch (reads and
// alarm evaluations also publish them first).
const usageFlushEvery = time.Second

type usageKey struct{ region, keyID, op string }

type usageCell struct {
	total     atomic.Uint64 // uses since start (Prometheus)
	published atomic.Uint64 // of which published to CloudWatch (under keyUsage.flushMu)
}

// keyUsage counts KMS key uses in memory. add is on the hot path of every cryptographic
// operation: a read-locked map lookup and an atomic increment, no allocation after the
// first use of a (key, operation).
type keyUsage struct {
	mu    sync.RWMutex
	cells map[usageKey]*usageCell

	flushMu sync.Mutex
}

func newKeyUsage() *keyUsage { return &keyUsage{cells: map[usageKey]*usageCell{}} }

// add counts one use (kms.Config.OnKeyUse).
func (u *keyUsage) add(region, keyID, op string) {
	k := usageKey{region, keyID, op}
	u.mu.RLock()
	c := u.cells[k]
	u.mu.RUnlock()
	if c == nil {
		u.mu.Lock()
		if c = u.cells[k]; c == nil {
			c = new(usageCell)
			u.cells[k] = c
		}
		u.mu.Unlock()
	}
	c.total.Add(1)
}

// each calls f with every counted (key, operation) and its cell.
func (u *keyUsage) each(f func(usageKey, *usageCell)) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	for k, c := range u.cells {
		f(k, c)
	}
}

// flush publishes the uses counted since the last flush as AWS/KMS KeyUsageCount, per
// KeyId and Operation and per KeyId: one datapoint whose SampleCount and Sum are the
// number of uses (as if each use were a datapoint of 1), in the key's region (as AWS
// publishes a key's metrics in its region's CloudWatch).
func (u *keyUsage) flush(cw *cloudwatch.Service, now time.Time) error {
	u.flushMu.Lock()
	defer u.flushMu.Unlock()
	type pending struct {
		k usageKey
		n uint64
	}
	var todo []pending
	u.each(func(k usageKey, c *usageCell) {
		t := c.total.Load()
		if d := t - c.published.Load(); d > 0 {
			c.published.Store(t)
			todo = append(todo, pending{k, d})
		}
	})
	type regionKey struct{ region, keyID string }
	perKey := map[regionKey]uint64{}
	var firstErr error
	put := func(region string, dims []cloudwatch.Dimension, n uint64) {
		v := float64(n)
		err := cw.PutAggregateIn(region, "AWS/KMS", "KeyUsageCount", dims, now, cloudwatch.StatisticSet{SampleCount: v, Sum: v, Minimum: 1, Maximum: 1}, "Count")
		if err != nil && firstErr == nil && !state.IsNotLeader(err) {
			firstErr = err
		}
	}
	for _, p := range todo {
		perKey[regionKey{p.k.region, p.k.keyID}] += p.n
		put(p.k.region, []cloudwatch.Dimension{{Name: "KeyId", Value: p.k.keyID}, {Name: "Operation", Value: p.k.op}}, p.n)
	}
	for k, n := range perKey {
		put(k.region, []cloudwatch.Dimension{{Name: "KeyId", Value: k.keyID}}, n)
	}
	return firstErr
}

// nodeMetrics holds the node's own metrics.
type nodeMetrics struct {
	n     *node
	usage *keyUsage
	reg   *prometheus.Registry

	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	hsmEvents    *prometheus.CounterVec
	failedLogins prometheus.Counter

	// ops lists the operations of every service (by signing name), so that request labels
	// only take known values (an unknown operation name is the client's text).
	ops map[string]map[string]bool
}

func newNodeMetrics(n *node) *nodeMetrics {
	m := &nodeMetrics{n: n, usage: newKeyUsage(), reg: prometheus.NewRegistry(), ops: map[string]map[string]bool{}}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coffer_api_requests_total",
		Help: "AWS API requests answered, by service (SigV4 signing name), operation and HTTP status."}, []string{"service", "operation", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "coffer_api_request_duration_seconds",
		Help:    "Time from receiving an AWS API request to writing its answer (audit record included), by service and operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"service", "operation"})
	m.hsmEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coffer_hsm_events_total",
		Help: "HSM audit events, by opcode and result."}, []string{"opcode", "result"})
	m.failedLogins = prometheus.NewCounter(prometheus.CounterOpts{Name: "coffer_hsm_failed_logins_total",
		Help: "Failed HSM logins (the CloudWatch metric AWS/CloudHSM FailedLoginCount)."})
	m.reg.MustRegister(m.requests, m.latency, m.hsmEvents, m.failedLogins,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m)
	return m
}

// services records the operation names the request labels may take.
func (m *nodeMetrics) services(json []*awsproto.JSONService, query []*awsproto.QueryService) {
	add := func(svc string, ops map[string]awsproto.Handler) {
		if m.ops[svc] == nil {
			m.ops[svc] = map[string]bool{}
		}
		for op := range ops {
			m.ops[svc][op] = true
		}
	}
	for _, s := range json {
		add(s.SigningName, s.Operations)
	}
	for _, s := range query {
		add(s.SigningName, s.Operations)
	}
}

// observe is the router's Observe hook: one count and one latency per request.
func (m *nodeMetrics) observe(c *awsproto.Call, status int, _, _ string, _ any) {
	svc, op := c.Service, c.Operation
	if m.ops[svc] == nil {
		svc, op = "other", "other"
	} else if !m.ops[svc][op] {
		op = "other"
	}
	m.requests.WithLabelValues(svc, op, strconv.Itoa(status)).Inc()
	if !c.Received.IsZero() {
		m.latency.WithLabelValues(svc, op).Observe(time.Since(c.Received).Seconds())
	}
}

// hsmEvent counts an HSM event (the HSM's event sink).
func (m *nodeMetrics) hsmEvent(e hsm.Event) {
	m.hsmEvents.WithLabelValues(e.Opcode, e.Result).Inc()
	if e.Opcode == hsm.OpLogin && e.Result == hsm.ResultLoginFailure {
		m.failedLogins.Inc()
	}
}

var (
	descKeyUsage     = prometheus.NewDesc("coffer_kms_key_usage_total", "Successful KMS cryptographic operations, by region, key id and operation (CloudWatch AWS/KMS KeyUsageCount).", []string{"region", "key_id", "operation"}, nil)
	descHsmUnhealthy = prometheus.NewDesc("coffer_hsm_unhealthy", "1 when this node's HSM cannot serve (self-test failed, sealed, not ACTIVE, or its cluster is not ACTIVE), else 0 (AWS/CloudHSM HsmUnhealthy).", nil, nil)
	descHsmState     = prometheus.NewDesc("coffer_hsm_state", "The HSM core's state (1 for the current one).", []string{"state"}, nil)
	descHsmSessions  = prometheus.NewDesc("coffer_hsm_sessions", "Open HSM sessions on this node (AWS/CloudHSM HsmSessionCount).", nil, nil)
	descHsmUsers     = prometheus.NewDesc("coffer_hsm_users", "HSM users.", nil, nil)
	descHsmUsersAv   = prometheus.NewDesc("coffer_hsm_users_available", "HSM users that can still be created (AWS/CloudHSM HsmUsersAvailable).", nil, nil)
	descHsmKeys      = prometheus.NewDesc("coffer_hsm_token_keys", "Token keys stored in the HSM (AWS/CloudHSM HsmKeysTokenOccupied).", nil, nil)
	descRaftLeader   = prometheus.NewDesc("coffer_raft_leader", "1 when this node is the raft leader.", nil, nil)
	descRaftRole     = prometheus.NewDesc("coffer_raft_role", "This node's raft role (1 for the current one).", []string{"role"}, nil)
	descRaftApplied  = prometheus.NewDesc("coffer_raft_applied_index", "Last raft log index applied on this node.", nil, nil)
	descRaftCommit   = prometheus.NewDesc("coffer_raft_commit_index", "Last raft log index known committed.", nil, nil)
	descRaftSnap     = prometheus.NewDesc("coffer_raft_last_snapshot_index", "Raft log index of the last snapshot.", nil, nil)
	descAuditEvents  = prometheus.NewDesc("coffer_audit_journal_events", "Events in the audit journal (CloudTrail).", nil, nil)
	descAuditSegs    = prometheus.NewDesc("coffer_audit_journal_segments", "Segment files of the audit journal.", nil, nil)
	descAuditBad     = prometheus.NewDesc("coffer_audit_journal_bad_lines", "Invalid journal lines skipped when the journal was opened.", nil, nil)
	descAuditCommits = prometheus.NewDesc("coffer_audit_journal_commits_total", "Group commits of the audit journal (one write and one fdatasync each) since the node started.", nil, nil)
	descAuditAppends = prometheus.NewDesc("coffer_audit_journal_appended_events_total", "Events made durable by the audit journal since the node started; divided by commits, the mean group size.", nil, nil)
	descAuditWrite   = prometheus.NewDesc("coffer_audit_journal_write_seconds_total", "Wall time the audit journal's group commits spent writing since the node started; divided by commits, the mean write time.", nil, nil)
	descAuditSync    = prometheus.NewDesc("coffer_audit_journal_fsync_seconds_total", "Wall time the audit journal's group commits spent in fdatasync since the node started; divided by commits, the mean fsync time.", nil, nil)
	descAuditFailed  = prometheus.NewDesc("coffer_audit_journal_failed", "1 when a write or fdatasync of the audit journal failed: every request is refused until the node is restarted on a working disk.", nil, nil)
	descAuditAge     = prometheus.NewDesc("coffer_audit_journal_commit_age_seconds", "How long the audit journal's commit in flight has been running (0: none); seconds mean a hanging disk.", nil, nil)
	descCWPoints     = prometheus.NewDesc("coffer_cloudwatch_datapoints", "CloudWatch datapoints held by this node.", nil, nil)
	descCWBytes      = prometheus.NewDesc("coffer_cloudwatch_log_bytes", "Size of this node's CloudWatch datapoint log.", nil, nil)
	descCWBad        = prometheus.NewDesc("coffer_cloudwatch_log_bad_lines", "Invalid datapoint log lines skipped when the log was loaded.", nil, nil)
	descCWWriteErrs  = prometheus.NewDesc("coffer_cloudwatch_log_write_errors_total", "Failed writes of the CloudWatch datapoint log (datapoints stay in memory and are rewritten).", nil, nil)
	descCWCompacts   = prometheus.NewDesc("coffer_cloudwatch_log_compactions_total", "Rewrites of the CloudWatch datapoint log.", nil, nil)
	descBuild        = prometheus.NewDesc("coffer_build_info", "Coffer's version and node id.", []string{"version", "node_id"}, nil)
	descTLSNotAfter  = prometheus.NewDesc("coffer_tls_certificate_not_after_seconds", "Expiry (Unix time) of the TLS certificate the node serves (only with TLS).", nil, nil)
)

// Describe implements prometheus.Collector (the values read at scrape time).
func (m *nodeMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descKeyUsage, descHsmUnhealthy, descHsmState, descHsmSessions, descHsmUsers, descHsmUsersAv,
		descHsmKeys, descRaftLeader, descRaftRole, descRaftApplied, descRaftCommit, descRaftSnap, descAuditEvents, descAuditSegs, descAuditBad, descAuditCommits, descAuditAppends, descAuditWrite, descAuditSync,
		descAuditFailed, descAuditAge,
		descCWPoints, descCWBytes, descCWBad, descCWWriteErrs, descCWCompacts, descBuild, descTLSNotAfter} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *nodeMetrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	m.usage.each(func(k usageKey, c *usageCell) {
		ch <- prometheus.MustNewConstMetric(descKeyUsage, prometheus.CounterValue, float64(c.total.Load()), k.region, k.keyID, k.op)
	})
	g := m.hsmGauges()
	gauge(descHsmUnhealthy, g.unhealthy)
	for _, s := range []string{hsm.StateUninitialized, hsm.StateInitialized, hsm.StateActive} {
		gauge(descHsmState, b2f(g.st.State == s), s)
	}
	gauge(descHsmSessions, float64(g.st.ActiveSessions))
	gauge(descHsmUsers, float64(g.st.Users))
	gauge(descHsmUsersAv, float64(hsm.MaxUsers-g.st.Users))
	gauge(descHsmKeys, float64(g.st.Keys))
	if m.n.store != nil {
		rs := m.n.store.Status()
		gauge(descRaftLeader, b2f(rs.Role == "leader"))
		for _, r := range []string{"leader", "follower", "candidate", "shutdown"} {
			gauge(descRaftRole, b2f(rs.Role == r), r)
		}
		ch <- prometheus.MustNewConstMetric(descRaftApplied, prometheus.GaugeValue, float64(rs.AppliedIndex))
		ch <- prometheus.MustNewConstMetric(descRaftCommit, prometheus.GaugeValue, float64(rs.CommitIndex))
		ch <- prometheus.MustNewConstMetric(descRaftSnap, prometheus.GaugeValue, float64(rs.LastSnapshotIndex))
	}
	if m.n.rec != nil {
		as := m.n.rec.j.Stats()
		gauge(descAuditEvents, float64(as.Events))
		gauge(descAuditSegs, float64(as.Segments))
		gauge(descAuditBad, float64(as.BadLines))
		ch <- prometheus.MustNewConstMetric(descAuditCommits, prometheus.CounterValue, float64(as.Commits))
		ch <- prometheus.MustNewConstMetric(descAuditAppends, prometheus.CounterValue, float64(as.Appended))
		ch <- prometheus.MustNewConstMetric(descAuditWrite, prometheus.CounterValue, as.WriteSeconds)
		ch <- prometheus.MustNewConstMetric(descAuditSync, prometheus.CounterValue, as.SyncSeconds)
		gauge(descAuditFailed, b2f(as.Failed != nil))
		gauge(descAuditAge, as.CommitAge.Seconds())
	}
	if m.n.cw != nil {
		cs := m.n.cw.StoreStats()
		gauge(descCWPoints, float64(cs.Points))
		gauge(descCWBytes, float64(cs.Bytes))
		gauge(descCWBad, float64(cs.BadLines))
		ch <- prometheus.MustNewConstMetric(descCWWriteErrs, prometheus.CounterValue, float64(cs.WriteErrors))
		ch <- prometheus.MustNewConstMetric(descCWCompacts, prometheus.CounterValue, float64(cs.Compactions))
	}
	gauge(descBuild, 1, version, m.n.nodeID)
	if src := m.n.tlsSource.Load(); src != nil {
		gauge(descTLSNotAfter, float64(src.Current().Leaf.NotAfter.Unix()))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// hsmGauges is what the HSM gauges are computed from.
type hsmGaugeValues struct {
	st        hsm.Status
	unhealthy float64
	clusterID string // "" when this node is no cluster's HSM
	hsmID     string
}

func (m *nodeMetrics) hsmGauges() hsmGaugeValues {
	g := hsmGaugeValues{st: m.n.hsm.Status()}
	ok := g.st.SelfTest == "passed" && g.st.Unsealed && g.st.State == hsm.StateActive
	if m.n.cloudhsm != nil {
		for _, mb := range m.n.cloudhsm.Members() {
			if mb.NodeID != m.n.nodeID {
				continue
			}
			ci, err := m.n.cloudhsm.ClusterInfo("", mb.ClusterID)
			if err != nil || ci.State == cloudhsm.ClusterDeleted {
				continue
			}
			g.clusterID, g.hsmID = mb.ClusterID, mb.HsmID
			ok = ok && ci.State == cloudhsm.ClusterActive
			break
		}
	}
	g.unhealthy = b2f(!ok)
	return g
}

// publishHSM publishes the AWS/CloudHSM gauges of this node's HSM: per ClusterId and
// HsmId and per ClusterId when the node is an HSM of a cluster, and per Region.
func (m *nodeMetrics) publishHSM(now time.Time) error {
	g := m.hsmGauges()
	dimSets := [][]cloudwatch.Dimension{{{Name: "Region", Value: m.n.opts.region}}}
	if g.clusterID != "" {
		dimSets = append(dimSets, []cloudwatch.Dimension{{Name: "ClusterId", Value: g.clusterID}},
			[]cloudwatch.Dimension{{Name: "ClusterId", Value: g.clusterID}, {Name: "HsmId", Value: g.hsmID}})
	}
	values := []struct {
		name string
		v    float64
	}{
		{"HsmUnhealthy", g.unhealthy},
		{"HsmSessionCount", float64(g.st.ActiveSessions)},
		{"HsmUsersAvailable", float64(hsm.MaxUsers - g.st.Users)},
		{"HsmUsersMax", float64(hsm.MaxUsers)},
		{"HsmKeysTokenOccupied", float64(g.st.Keys)},
	}
	var firstErr error
	for _, dims := range dimSets {
		for _, x := range values {
			err := m.n.cw.PutAggregate("AWS/CloudHSM", x.name, dims, now, cloudwatch.StatisticSet{SampleCount: 1, Sum: x.v, Minimum: x.v, Maximum: x.v}, "Count")
			if err != nil && firstErr == nil && !state.IsNotLeader(err) {
				firstErr = err
			}
		}
	}
	return firstErr
}

// flushUsage publishes the pending key uses (the CloudWatch collector).
func (m *nodeMetrics) flushUsage() {
	if err := m.usage.flush(m.n.cw, time.Now()); err != nil {
		m.n.log.Warn("cloudwatch: KeyUsageCount", "err", err)
	}
}

// run publishes key usage every second and the HSM gauges every interval (and once at
// start) until ctx ends.
func (m *nodeMetrics) run(ctx context.Context, interval time.Duration) {
	if err := m.publishHSM(time.Now()); err != nil {
		m.n.log.Warn("cloudwatch: HSM metrics", "err", err)
	}
	fast := time.NewTicker(usageFlushEvery)
	defer fast.Stop()
	slow := time.NewTicker(interval)
	defer slow.Stop()
	for {
		select {
		case <-ctx.Done():
			m.flushUsage()
			return
		case <-fast.C:
			m.flushUsage()
		case <-slow.C:
			if err := m.publishHSM(time.Now()); err != nil {
				m.n.log.Warn("cloudwatch: HSM metrics", "err", err)
			}
		}
	}
}

// handler serves the Prometheus text format. Unless public, only loopback clients are
// served (403 otherwise).
func (m *nodeMetrics) handler(public bool) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !public {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				http.Error(w, "GET /metrics on this listener is served to loopback clients only (see --metrics-public and --metrics-listen)", http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// serve starts the dedicated --metrics-listen listener, if any; it stops with ctx.
func (m *nodeMetrics) serve(ctx context.Context, addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler(true))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() { _ = srv.Serve(ln) }()
	m.n.log.Info("serving Prometheus metrics", "addr", ln.Addr().String())
	return nil
}
