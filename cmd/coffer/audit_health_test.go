package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-hsm/coffer/internal/audit"
	"github.com/coffer-hsm/coffer/internal/hsm"
)

// A journal whose fdatasync failed refuses every request from then on: /health says so
// (503 "audit journal failed", with the failure) and /metrics' coffer_audit_journal_failed
// is 1, so that a load balancer and an alert see it. A commit that hangs shows as
// "stalled" once it has run auditStallAfter.
func TestAuditFailureShowsInHealthAndMetrics(t *testing.T) {
	var failing bool
	j, err := audit.Open(t.TempDir(), audit.Options{Sync: func(f *os.File) error {
		if failing {
			return errors.New("input/output error")
		}
		return f.Sync()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	n := &node{opts: &serverOptions{region: "us-east-1"}, nodeID: "node-test",
		hsm: hsm.New(hsm.Config{DomainKeyPath: filepath.Join(t.TempDir(), "dk")}), rec: &recorder{j: j}}
	m := newNodeMetrics(n)
	scrape := func() string {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		w := httptest.NewRecorder()
		m.handler(false).ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("/metrics: %d", w.Code)
		}
		return w.Body.String()
	}
	if err := j.Append(context.Background(), &audit.Event{EventName: "Encrypt"}); err != nil {
		t.Fatal(err)
	}
	if state, _, serving := auditHealth(j.Stats()); state != "ok" || !serving {
		t.Fatalf("working journal: %s serving=%v", state, serving)
	}
	if body := scrape(); !strings.Contains(body, "coffer_audit_journal_failed 0") || !strings.Contains(body, "coffer_audit_journal_commit_age_seconds 0") {
		t.Fatalf("metrics of a working journal:\n%s", body)
	}
	failing = true
	if err := j.Append(context.Background(), &audit.Event{EventName: "Encrypt"}); err == nil {
		t.Fatal("append succeeded although fdatasync failed")
	}
	state, failure, serving := auditHealth(j.Stats())
	if state != "failed" || serving || !strings.Contains(failure, "input/output error") {
		t.Fatalf("failed journal: %s %q serving=%v", state, failure, serving)
	}
	if body := scrape(); !strings.Contains(body, "coffer_audit_journal_failed 1") {
		t.Fatalf("metrics of a failed journal:\n%s", body)
	}
	for _, c := range []struct {
		age   time.Duration
		state string
	}{{0, "ok"}, {auditStallAfter - time.Millisecond, "ok"}, {auditStallAfter, "stalled"}, {time.Minute, "stalled"}} {
		if state, _, serving := auditHealth(audit.Stats{CommitAge: c.age}); state != c.state || serving != (c.state == "ok") {
			t.Errorf("commit age %v: %s serving=%v, want %s", c.age, state, serving, c.state)
		}
	}
}
