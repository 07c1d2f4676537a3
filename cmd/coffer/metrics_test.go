package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/cloudwatch"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"github.com/coffer-hsm/coffer/internal/kms"
	"github.com/coffer-hsm/coffer/internal/seal"
	"github.com/coffer-hsm/coffer/internal/state"
)

// kmsNode is an in-process HSM + KMS + CloudWatch on a one-node state store.
type kmsNode struct {
	k   *kms.Service
	cw  *cloudwatch.Service
	c   kms.Caller
	key string
}

func newKMSNode(tb testing.TB, onKeyUse func(region, keyID, op string)) *kmsNode {
	tb.Helper()
	dir := tb.TempDir()
	sealer, err := seal.NewNodeKeySealer(filepath.Join(dir, "node.key"))
	if err != nil {
		tb.Fatal(err)
	}
	h := hsm.New(hsm.Config{DomainKeyPath: filepath.Join(dir, "dk"), Sealer: sealer})
	k := kms.New(kms.Config{HSM: h, OnKeyUse: onKeyUse})
	cw := cloudwatch.New(cloudwatch.Config{AccountID: "111122223333"})
	store, err := state.Open(state.Config{NodeID: "n1", Dir: filepath.Join(dir, "raft")}, h, k, cw)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	h.Attach(store)
	k.Attach(store)
	cw.Attach(store)
	ctx := context.Background()
	if err := store.WaitLeader(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := h.Unseal(); err != nil {
		tb.Fatal(err)
	}
	if err := h.Initialize(ctx, hsm.DefaultPolicy()); err != nil {
		tb.Fatal(err)
	}
	if err := h.Activate(ctx, "admin-password"); err != nil {
		tb.Fatal(err)
	}
	n := &kmsNode{k: k, cw: cw, c: kms.Caller{Region: "us-east-1", Account: "111122223333", Principal: "arn:aws:iam::111122223333:root"}}
	out, err := k.CreateKey(ctx, n.c, kms.CreateKeyInput{})
	if err != nil {
		tb.Fatal(err)
	}
	n.key = out.KeyMetadata.KeyId
	return n
}

func TestKeyUsageFlush(t *testing.T) {
	u := newKeyUsage()
	n := newKMSNode(t, u.add)
	ctx := context.Background()
	for range 5 {
		if _, err := n.k.Encrypt(ctx, n.c, kms.EncryptInput{KeyId: n.key, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent uses while flushing lose nothing and count nothing twice.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				u.add("us-east-1", n.key, "Decrypt")
			}
		}()
	}
	for range 10 {
		if err := u.flush(n.cw, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := u.flush(n.cw, time.Now()); err != nil {
		t.Fatal(err)
	}
	sum := func(dims ...cloudwatch.Dimension) float64 {
		t.Helper()
		_, dps, err := n.cw.GetMetricStatistics(ctx, cloudwatch.GetMetricStatisticsInput{Namespace: "AWS/KMS", MetricName: "KeyUsageCount",
			Dimensions: dims, StartTime: time.Now().Add(-time.Hour), EndTime: time.Now().Add(time.Hour), Period: 7200, Statistics: []string{"Sum"}})
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for _, d := range dps {
			s += *d.Sum
		}
		return s
	}
	id := cloudwatch.Dimension{Name: "KeyId", Value: n.key}
	if got := sum(id, cloudwatch.Dimension{Name: "Operation", Value: "Encrypt"}); got != 5 {
		t.Errorf("Encrypt: %v", got)
	}
	if got := sum(id, cloudwatch.Dimension{Name: "Operation", Value: "Decrypt"}); got != 200 {
		t.Errorf("Decrypt: %v", got)
	}
	if got := sum(id); got != 205 {
		t.Errorf("per key: %v", got)
	}
	var total uint64
	u.each(func(_ usageKey, c *usageCell) { total += c.total.Load() })
	if total != 205 {
		t.Errorf("Prometheus totals: %d", total)
	}
}

// TestKeyUsageInKeysRegion: a key's KeyUsageCount is in its region's CloudWatch (as
// AWS publishes it), not in the node's region: one KeyId in two regions is two metrics.
func TestKeyUsageInKeysRegion(t *testing.T) {
	u := newKeyUsage()
	n := newKMSNode(t, u.add)
	ctx := context.Background()
	west := n.c
	west.Region = "eu-west-1"
	out, err := n.k.CreateKey(ctx, west, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	westKey := out.KeyMetadata.KeyId
	for range 3 {
		if _, err := n.k.Encrypt(ctx, west, kms.EncryptInput{KeyId: westKey, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.k.Encrypt(ctx, n.c, kms.EncryptInput{KeyId: n.key, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := u.flush(n.cw, time.Now()); err != nil {
		t.Fatal(err)
	}
	sum := func(region, key string) float64 {
		t.Helper()
		_, dps, err := n.cw.GetMetricStatistics(ctx, cloudwatch.GetMetricStatisticsInput{Region: region, Namespace: "AWS/KMS", MetricName: "KeyUsageCount",
			Dimensions: []cloudwatch.Dimension{{Name: "KeyId", Value: key}}, StartTime: time.Now().Add(-time.Hour), EndTime: time.Now().Add(time.Hour),
			Period: 7200, Statistics: []string{"Sum"}})
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for _, d := range dps {
			s += *d.Sum
		}
		return s
	}
	if got := sum("eu-west-1", westKey); got != 3 {
		t.Errorf("eu-west-1 key in eu-west-1: %v, want 3", got)
	}
	if got := sum("us-east-1", westKey); got != 0 {
		t.Errorf("eu-west-1 key in us-east-1: %v, want 0", got)
	}
	if got := sum("us-east-1", n.key); got != 1 {
		t.Errorf("us-east-1 key in us-east-1: %v, want 1", got)
	}
	if got := sum("eu-west-1", n.key); got != 0 {
		t.Errorf("us-east-1 key in eu-west-1: %v, want 0", got)
	}
}

// BenchmarkEncryptKeyUsage compares Encrypt without a key-use hook and with the server's
// (keyUsage.add, published every second as the server does).
func BenchmarkEncryptKeyUsage(b *testing.B) {
	run := func(b *testing.B, hook func(region, keyID, op string), u *keyUsage) {
		n := newKMSNode(b, hook)
		if u != nil {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				t := time.NewTicker(usageFlushEvery)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						_ = u.flush(n.cw, time.Now())
					}
				}
			}()
		}
		in := kms.EncryptInput{KeyId: n.key, Plaintext: make([]byte, 64)}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := n.k.Encrypt(ctx, n.c, in); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("no-hook", func(b *testing.B) { run(b, nil, nil) })
	b.Run("key-usage", func(b *testing.B) {
		u := newKeyUsage()
		run(b, u.add, u)
	})
	// The design not taken: one CloudWatch Put (store + alarm evaluation under the
	// evaluation lock) per use, on the request path.
	b.Run("cloudwatch-put-per-use", func(b *testing.B) {
		var cw *cloudwatch.Service
		hook := func(_, keyID, op string) {
			_ = cw.Put("AWS/KMS", "KeyUsageCount", []cloudwatch.Dimension{{Name: "KeyId", Value: keyID}, {Name: "Operation", Value: op}}, time.Time{}, 1, "Count")
			_ = cw.Put("AWS/KMS", "KeyUsageCount", []cloudwatch.Dimension{{Name: "KeyId", Value: keyID}}, time.Time{}, 1, "Count")
		}
		cw = cloudwatch.New(cloudwatch.Config{AccountID: "111122223333", MaxPointsPerMetric: 1000})
		run(b, hook, nil)
	})
}

// BenchmarkKeyUsageAdd is the hook alone, from parallel goroutines.
func BenchmarkKeyUsageAdd(b *testing.B) {
	u := newKeyUsage()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u.add("us-east-1", "1234abcd-12ab-34cd-56ef-1234567890ab", "Encrypt")
		}
	})
}

// TestMetricsHandlerLoopbackOnly: without --metrics-public, GET /metrics on the main
// listener answers loopback clients only.
func TestMetricsHandlerLoopbackOnly(t *testing.T) {
	n := &node{opts: &serverOptions{region: "us-east-1"}, nodeID: "node-test",
		hsm: hsm.New(hsm.Config{DomainKeyPath: filepath.Join(t.TempDir(), "dk")})}
	m := newNodeMetrics(n)
	m.usage.add("us-east-1", "k1", "Encrypt")
	for _, c := range []struct {
		public bool
		remote string
		want   int
	}{
		{false, "127.0.0.1:5000", http.StatusOK},
		{false, "[::1]:5000", http.StatusOK},
		{false, "10.0.0.7:5000", http.StatusForbidden},
		{false, "192.168.1.2:5000", http.StatusForbidden},
		{true, "10.0.0.7:5000", http.StatusOK},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = c.remote
		w := httptest.NewRecorder()
		m.handler(c.public).ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("public=%v from %s: %d, want %d", c.public, c.remote, w.Code, c.want)
		}
		if w.Code == http.StatusOK && (!strings.Contains(w.Body.String(), `coffer_kms_key_usage_total{key_id="k1",operation="Encrypt",region="us-east-1"} 1`) ||
			!strings.Contains(w.Body.String(), "coffer_hsm_unhealthy 1")) { // uninitialized HSM
			t.Errorf("body:\n%s", w.Body.String())
		}
	}
}
