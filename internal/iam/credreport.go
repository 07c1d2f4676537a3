package iam

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The credential report (GenerateCredentialReport, GetCredentialReport): one CSV row per
// user of the account, and one for the root, with AWS's columns. Coffer has no console
// passwords and no signing certificates, so those columns say so ("false", "N/A"); the
// access keys' last use comes from the key usage source (SetKeyUsage: the audit trail).
// A report is kept on the node that made it, for the account, for credentialReportTTL.

// credentialReportTTL is how long a report is served (and a new one not made): AWS's
// four hours.
const credentialReportTTL = 4 * time.Hour

// credentialReportColumns are AWS's columns, in its order.
var credentialReportColumns = []string{"user", "arn", "user_creation_time", "password_enabled", "password_last_used",
	"password_last_changed", "password_next_rotation", "mfa_active",
	"access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date", "access_key_1_last_used_region", "access_key_1_last_used_service",
	"access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date", "access_key_2_last_used_region", "access_key_2_last_used_service",
	"cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"}

// credReport is a generated report.
type credReport struct {
	content   []byte
	generated time.Time
}

type GenerateCredentialReportOutput struct {
	State       string `xml:"State"`
	Description string `xml:"Description,omitempty"`
}

type GetCredentialReportOutput struct {
	Content       string `xml:"Content"` // base64, as the query protocol carries blobs
	ReportFormat  string `xml:"ReportFormat"`
	GeneratedTime string `xml:"GeneratedTime"`
}

// reportTime is the credential report's time format (ISO 8601 with the offset, as AWS's).
func reportTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }

// GenerateCredentialReport makes the account's credential report, unless one younger than
// four hours exists. As on AWS the first call answers STARTED and later ones COMPLETE;
// Coffer's report is ready as soon as the call returns.
func (s *Service) GenerateCredentialReport(ctx context.Context, c Caller, _ struct{}) (*GenerateCredentialReportOutput, error) {
	now := s.now()
	s.reportMu.Lock()
	r := s.reports[c.Account]
	s.reportMu.Unlock()
	if r != nil && now.Sub(r.generated) < credentialReportTTL {
		return &GenerateCredentialReportOutput{State: "COMPLETE"}, nil
	}
	content, err := s.credentialReport(c, now)
	if err != nil {
		return nil, err
	}
	s.reportMu.Lock()
	if s.reports == nil {
		s.reports = map[string]*credReport{}
	}
	s.reports[c.Account] = &credReport{content: content, generated: now}
	s.reportMu.Unlock()
	return &GenerateCredentialReportOutput{State: "STARTED", Description: "No report exists. Starting a new report generation task"}, nil
}

// GetCredentialReport answers the account's report made by GenerateCredentialReport on
// this node.
func (s *Service) GetCredentialReport(ctx context.Context, c Caller, _ struct{}) (*GetCredentialReportOutput, error) {
	s.reportMu.Lock()
	r := s.reports[c.Account]
	s.reportMu.Unlock()
	switch {
	case r == nil:
		return nil, iamErr("ReportNotPresent", "Credential report not present. Use GenerateCredentialReport to generate a report.")
	case s.now().Sub(r.generated) >= credentialReportTTL:
		return nil, iamErr("ReportExpired", "Credential report expired. Use GenerateCredentialReport to generate a new report.")
	}
	return &GetCredentialReportOutput{Content: base64.StdEncoding.EncodeToString(r.content), ReportFormat: "text/csv",
		GeneratedTime: r.generated.UTC().Format(timeFormat)}, nil
}

// credentialReport builds the CSV.
func (s *Service) credentialReport(c Caller, now time.Time) ([]byte, error) {
	type keyRow struct {
		id      string
		active  bool
		created time.Time
	}
	type userRow struct {
		name, arn string
		created   time.Time
		mfa       bool
		keys      []keyRow
	}
	s.mu.RLock()
	usage := s.keyUsage
	var users []userRow
	for _, e := range s.ents {
		if e.Kind != kindUser || e.Account != c.Account {
			continue
		}
		u := userRow{name: e.Name, arn: e.arn(), created: e.Created}
		for _, k := range s.keys {
			if k.Account == c.Account && strings.EqualFold(k.UserName, e.Name) {
				u.keys = append(u.keys, keyRow{id: k.ID, active: k.Status == "Active", created: k.Created})
			}
		}
		for _, m := range s.mfas {
			if m.Account == c.Account && m.UserName != "" && strings.EqualFold(m.UserName, e.Name) {
				u.mfa = true
			}
		}
		users = append(users, u)
	}
	s.mu.RUnlock()
	slices.SortFunc(users, func(a, b userRow) int { return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)) })

	root := userRow{name: "<root_account>", arn: "arn:aws:iam::" + c.Account + ":root", created: s.cfg.AccountCreated}
	for _, id := range s.rootKeys(c.Account) {
		root.keys = append(root.keys, keyRow{id: id, active: true, created: s.cfg.AccountCreated})
	}

	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(credentialReportColumns)
	for i, u := range append([]userRow{root}, users...) {
		isRoot := i == 0
		slices.SortFunc(u.keys, func(a, b keyRow) int {
			if c := a.created.Compare(b.created); c != 0 {
				return c
			}
			return strings.Compare(a.id, b.id)
		})
		row := []string{u.name, u.arn, reportTime(u.created)}
		if isRoot {
			row = append(row, "not_supported", "no_information", "not_supported", "not_supported")
		} else {
			row = append(row, "false", "N/A", "N/A", "N/A")
		}
		row = append(row, strconv.FormatBool(u.mfa))
		for k := range 2 {
			if k >= len(u.keys) {
				row = append(row, "false", "N/A", "N/A", "N/A", "N/A")
				continue
			}
			key := u.keys[k]
			rotated := reportTime(key.created)
			if isRoot {
				rotated = "N/A" // the configured key: Coffer does not know when it was made
			}
			row = append(row, strconv.FormatBool(key.active), rotated)
			used, ok := KeyUse{}, false
			if usage != nil {
				var err error
				if used, ok, err = usage(key.id); err != nil {
					return nil, err
				}
			}
			if ok {
				row = append(row, reportTime(used.Time), used.Region, used.Service)
			} else {
				row = append(row, "N/A", "N/A", "N/A")
			}
		}
		row = append(row, "false", "N/A", "false", "N/A")
		w.Write(row)
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}
