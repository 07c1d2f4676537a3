package iam

import (
	"encoding/base64"
	"encoding/csv"
	"strings"
	"testing"
	"time"
)

// The credential report: AWS's columns; the root first, then the users by name; the keys
// with their status, creation and last use; MFA; STARTED then COMPLETE; ReportNotPresent
// before and ReportExpired four hours after.
func TestCredentialReport(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.s.GetCredentialReport(e.ctx, e.root, struct{}{}); err == nil {
		t.Fatal("a report before any was generated")
	} else {
		wantCode(t, err, "ReportNotPresent")
	}
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "bob"}))
	must[*CreateUserOutput](t)(e.s.CreateUser(e.ctx, e.root, CreateUserInput{UserName: "Alice", Path: "/ops/"}))
	k1 := must[*CreateAccessKeyOutput](t)(e.s.CreateAccessKey(e.ctx, e.root, UserNameInput{UserName: "Alice"})).AccessKey.AccessKeyId
	e.clock.Add(time.Minute)
	k2 := must[*CreateAccessKeyOutput](t)(e.s.CreateAccessKey(e.ctx, e.root, UserNameInput{UserName: "Alice"})).AccessKey.AccessKeyId
	if err := e.s.UpdateAccessKey(e.ctx, e.root, UpdateAccessKeyInput{UserName: "Alice", AccessKeyId: k2, Status: "Inactive"}); err != nil {
		t.Fatal(err)
	}
	used := time.Date(2026, 3, 1, 11, 30, 0, 0, time.UTC)
	e.s.SetKeyUsage(func(id string) (KeyUse, bool, error) {
		if id == k1 {
			return KeyUse{Time: used, Service: "kms", Region: "eu-west-1"}, true, nil
		}
		return KeyUse{}, false, nil
	})

	gen := must[*GenerateCredentialReportOutput](t)(e.s.GenerateCredentialReport(e.ctx, e.root, struct{}{}))
	if gen.State != "STARTED" {
		t.Fatalf("first generate: %+v", gen)
	}
	if gen = must[*GenerateCredentialReportOutput](t)(e.s.GenerateCredentialReport(e.ctx, e.root, struct{}{})); gen.State != "COMPLETE" {
		t.Fatalf("second generate: %+v", gen)
	}
	rep := must[*GetCredentialReportOutput](t)(e.s.GetCredentialReport(e.ctx, e.root, struct{}{}))
	raw, err := base64.StdEncoding.DecodeString(rep.Content)
	if err != nil || rep.ReportFormat != "text/csv" || rep.GeneratedTime != "2026-03-01T12:01:00Z" {
		t.Fatalf("%+v %v", rep, err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("%v\n%s", err, raw)
	}
	if strings.Join(rows[0], ",") != strings.Join(credentialReportColumns, ",") || len(rows[0]) != 22 {
		t.Fatalf("header %q", rows[0])
	}
	col := func(row []string, name string) string {
		for i, c := range credentialReportColumns {
			if c == name {
				return row[i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	root, alice, bob := rows[1], rows[2], rows[3]
	if col(root, "user") != "<root_account>" || col(root, "arn") != "arn:aws:iam::"+acct+":root" || col(root, "password_enabled") != "not_supported" ||
		col(root, "access_key_1_active") != "true" || col(root, "access_key_2_active") != "false" {
		t.Errorf("root row %q", root)
	}
	if col(alice, "user") != "Alice" || col(alice, "arn") != "arn:aws:iam::"+acct+":user/ops/Alice" || col(alice, "user_creation_time") != "2026-03-01T12:00:00+00:00" ||
		col(alice, "password_enabled") != "false" || col(alice, "mfa_active") != "false" ||
		col(alice, "access_key_1_active") != "true" || col(alice, "access_key_1_last_rotated") != "2026-03-01T12:00:00+00:00" ||
		col(alice, "access_key_1_last_used_date") != "2026-03-01T11:30:00+00:00" || col(alice, "access_key_1_last_used_region") != "eu-west-1" ||
		col(alice, "access_key_1_last_used_service") != "kms" ||
		col(alice, "access_key_2_active") != "false" || col(alice, "access_key_2_last_rotated") != "2026-03-01T12:01:00+00:00" ||
		col(alice, "access_key_2_last_used_date") != "N/A" || col(alice, "cert_1_active") != "false" {
		t.Errorf("Alice's row %q", alice)
	}
	if col(bob, "user") != "bob" || col(bob, "access_key_1_active") != "false" || col(bob, "access_key_1_last_used_date") != "N/A" {
		t.Errorf("bob's row %q", bob)
	}

	// Another account has none; after four hours the report has expired and a new one is made.
	other := e.root
	other.Account = "444455556666"
	_, err = e.s.GetCredentialReport(e.ctx, other, struct{}{})
	wantCode(t, err, "ReportNotPresent")
	e.clock.Add(4 * time.Hour)
	_, err = e.s.GetCredentialReport(e.ctx, e.root, struct{}{})
	wantCode(t, err, "ReportExpired")
	if gen = must[*GenerateCredentialReportOutput](t)(e.s.GenerateCredentialReport(e.ctx, e.root, struct{}{})); gen.State != "STARTED" {
		t.Fatalf("generate after expiry: %+v", gen)
	}
	must[*GetCredentialReportOutput](t)(e.s.GetCredentialReport(e.ctx, e.root, struct{}{}))
}
