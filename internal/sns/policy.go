package sns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

// Topic access policies (the Policy attribute, AddPermission, RemovePermission).
//
// A topic has AWS's default policy until one is set (CreateTopic's Policy attribute,
// SetTopicAttributes Policy, AddPermission, RemovePermission); topicRec.Policy is ""
// then, which is also what records written before policies existed have. The policy is
// stored as given (AddPermission and RemovePermission store the edited document in
// AWS's shape) and compiled with internal/iam/policy when it is used.

// maxTopicPolicySize is AWS's limit on a topic policy (30 KB).
const maxTopicPolicySize = 30 * 1024

// permissionActions are the actions AddPermission grants (ActionName): the topic
// actions of SNS's access policies. Others are "out of service scope", as on AWS.
var permissionActions = []string{
	"AddPermission", "DeleteTopic", "GetTopicAttributes", "ListSubscriptionsByTopic", "Publish", "Receive",
	"RemovePermission", "SetTopicAttributes", "Subscribe",
}

// policyPrefix starts the errors of a topic policy that does not parse or validate.
const policyPrefix = "Invalid parameter: Policy Error: "

var errOutOfScope = invalid("Invalid parameter: Policy statement action out of service scope!")

// checkTopicPolicy validates a topic policy document: JSON, at most 30 KB, a resource
// policy (every statement names a Principal) whose actions are SNS actions ("sns:..."
// or "*"). It returns the compiled policy.
func checkTopicPolicy(doc string) (*policy.Policy, error) {
	if strings.TrimSpace(doc) == "" {
		return nil, invalid("%snull", policyPrefix)
	}
	if len(doc) > maxTopicPolicySize {
		return nil, invalid("%sPolicy size %d exceeds the maximum of %d bytes", policyPrefix, len(doc), maxTopicPolicySize)
	}
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		var pe *policy.ParseError
		if errors.As(err, &pe) {
			return nil, invalid("%s%s", policyPrefix, pe.Reason)
		}
		return nil, invalid("%snull", policyPrefix)
	}
	if err := p.ValidateResource(); err != nil {
		var pe *policy.ParseError
		if errors.As(err, &pe) {
			return nil, invalid("%s%s", policyPrefix, pe.Reason)
		}
		return nil, invalid("%snull", policyPrefix)
	}
	for _, st := range p.Statements {
		for _, a := range append(slices.Clone(st.Action), st.NotAction...) {
			if a != "*" && !strings.HasPrefix(strings.ToLower(a), "sns:") {
				return nil, errOutOfScope
			}
		}
	}
	return p, nil
}

// topicPolicyDoc is the topic's policy document: the one set, else AWS's default.
func (s *Service) topicPolicyDoc(t *topicRec) string {
	if t.Policy != "" {
		return t.Policy
	}
	return s.defaultTopicPolicy(t.Arn)
}

// TopicPolicy returns the compiled access policy of a topic (its own, or AWS's default
// one): the resource-based policy of the requests on the topic. found is false when
// there is no such topic. A policy whose statements were all removed (RemovePermission)
// is nil: it allows and denies nothing. A stored policy that no longer parses is an
// error, and callers refuse the request (fail closed: skipping it would skip its Denies).
func (s *Service) TopicPolicy(arn string) (p *policy.Policy, found bool, err error) {
	s.mu.RLock()
	t := s.topics[arn]
	var doc string
	if t != nil {
		doc = s.topicPolicyDoc(t)
	}
	s.mu.RUnlock()
	if t == nil {
		return nil, false, nil
	}
	if emptyStatements(doc) {
		return nil, true, nil
	}
	ps, err := s.policyCache.Parse([]string{doc})
	if err != nil {
		s.cfg.Logger.Warn("sns: a stored topic policy does not parse", "topic", arn, "err", err)
		return nil, true, err
	}
	return ps[0], true, nil
}

// emptyStatements reports whether a policy document's Statement is an empty list.
func emptyStatements(doc string) bool {
	var d struct{ Statement json.RawMessage }
	if json.Unmarshal([]byte(doc), &d) != nil {
		return false
	}
	return bytes.Equal(bytes.Join(bytes.Fields(d.Statement), nil), []byte("[]"))
}

// Service principals of Coffer's own publishers.
const (
	CloudWatchPrincipal = "cloudwatch.amazonaws.com"
	CloudTrailPrincipal = "cloudtrail.amazonaws.com"
)

// PolicyDeniedError is the error of a service principal's Publish that the topic policy
// does not allow. Its text is the error AWS's CloudWatch records in the alarm history:
// "Resource: <source> is not authorized to perform: SNS:Publish on resource: <topic>
// because no resource-based policy allows the SNS:Publish action" (or "with an explicit
// deny in a resource-based policy").
type PolicyDeniedError struct {
	Source, Topic string
	Explicit      bool // an explicit Deny refused it
}

func (e *PolicyDeniedError) Error() string {
	why := "because no resource-based policy allows the SNS:Publish action"
	if e.Explicit {
		why = "with an explicit deny in a resource-based policy"
	}
	return fmt.Sprintf("Resource: %s is not authorized to perform: SNS:Publish on resource: %s %s", e.Source, e.Topic, why)
}

// ServiceMayPublish reports whether the topic's policy lets the service principal (e.g.
// cloudwatch.amazonaws.com) publish to it on behalf of sourceArn (the alarm or trail; may
// be ""), as AWS decides it: the request carries aws:SourceAccount and AWS:SourceOwner
// (the account, which the default policy's condition names) and aws:SourceArn. Without
// the topic it is false.
func (s *Service) ServiceMayPublish(principal, topicArn, sourceArn string) bool {
	return s.servicePublish(principal, topicArn, sourceArn) == policy.Allowed
}

// servicePublish is the decision of the topic's policy on the service principal's
// Publish (ImplicitDeny without the topic, or with a policy that does not parse).
func (s *Service) servicePublish(principal, topicArn, sourceArn string) policy.Reason {
	p, found, err := s.TopicPolicy(topicArn)
	if !found || err != nil || p == nil {
		return policy.ImplicitDeny
	}
	ctx := map[string][]string{
		"aws:SourceAccount": {s.cfg.AccountID},
		"aws:SourceOwner":   {s.cfg.AccountID},
	}
	if sourceArn != "" {
		ctx["aws:SourceArn"] = []string{sourceArn}
	}
	req := &policy.Request{Principal: policy.Principal{ARN: principal, Type: "Service"},
		Action: "sns:Publish", Resource: topicArn, Context: ctx}
	return policy.Decide(req, nil, []*policy.Policy{p}).Reason
}

type sourceArnKey struct{}

// WithSourceArn returns ctx carrying the ARN of the resource a service publishes for (a
// trail): ServicePublisher puts it in aws:SourceArn.
func WithSourceArn(ctx context.Context, arn string) context.Context {
	return context.WithValue(ctx, sourceArnKey{}, arn)
}

func sourceArn(ctx context.Context) string {
	v, _ := ctx.Value(sourceArnKey{}).(string)
	return v
}

// ServicePublisher publishes to topics as a service principal (CloudTrail's log file
// notifications), subject to the topics' policies. It implements trail.Notifier.
type ServicePublisher struct {
	s         *Service
	principal string
}

// ServicePublisher returns the publisher of service principal (e.g.
// cloudtrail.amazonaws.com). The source ARN is WithSourceArn's.
func (s *Service) ServicePublisher(principal string) *ServicePublisher {
	return &ServicePublisher{s: s, principal: principal}
}

// TopicExists reports whether the topic exists and its policy lets the service publish
// to it (CloudTrail's CreateTrail and UpdateTrail check both:
// InsufficientSnsTopicPolicyException).
func (p *ServicePublisher) TopicExists(ctx context.Context, arn string) bool {
	return p.s.ServiceMayPublish(p.principal, arn, sourceArn(ctx))
}

// Publish publishes message to the topic if its policy lets the service do so (an
// AuthorizationError *Error otherwise), without waiting for the subscribers.
func (p *ServicePublisher) Publish(ctx context.Context, arn, message string) error {
	if err := p.s.checkServicePublish(p.principal, arn, sourceArn(ctx)); err != nil {
		return err
	}
	_, err := p.s.Publish(ctx, PublishInput{TopicArn: arn, Message: message})
	return err
}

// checkServicePublish is nil if the principal may publish to the topic, or if the topic
// does not exist (Publish answers NotFound then); else AuthorizationError.
func (s *Service) checkServicePublish(principal, topicArn, source string) error {
	if e := s.publishDenied(principal, topicArn, source); e != nil {
		return &Error{Code: "AuthorizationError", Status: 403, Message: e.Error()}
	}
	return nil
}

// publishDenied is nil if the principal may publish to the topic for source (the alarm
// or trail; the principal itself when ""), or if the topic does not exist; else the
// refusal.
func (s *Service) publishDenied(principal, topicArn, source string) *PolicyDeniedError {
	if s.topicExists(topicArn) != nil {
		return nil
	}
	d := s.servicePublish(principal, topicArn, source)
	if d == policy.Allowed {
		return nil
	}
	if source == "" {
		source = principal
	}
	return &PolicyDeniedError{Source: source, Topic: topicArn, Explicit: d == policy.ExplicitDeny}
}

// ---- AddPermission, RemovePermission ----

var labelPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
var accountPattern = regexp.MustCompile(`^[0-9]{12}$`)

type setPolicyCmd struct {
	Arn    string `json:"arn"`
	Policy string `json:"policy"` // "" = the default policy
	// For AddPermission / RemovePermission, applied to the policy the topic has when the
	// command is applied (so that concurrent edits are not lost): Label is the Sid.
	Add    *policyStatement `json:"add,omitempty"`
	Remove string           `json:"remove,omitempty"`
}

// policyStatement is a statement as AddPermission writes it.
type policyStatement struct {
	Sid       string         `json:"Sid"`
	Effect    string         `json:"Effect"`
	Principal map[string]any `json:"Principal"`
	Action    any            `json:"Action"`
	Resource  string         `json:"Resource"`
}

// AddPermission adds a statement to the topic's policy (the default one, if it has none)
// that allows the accounts the actions: Sid = label, Principal {"AWS": the accounts'
// root ARNs}, Action "SNS:<name>", Resource the topic. The label must not be a Sid of the
// policy already.
func (s *Service) AddPermission(ctx context.Context, arn, label string, accounts, actions []string) error {
	if err := s.checkARN(arn, "TopicArn"); err != nil {
		return err
	}
	if label == "" {
		return invalid("Invalid parameter: Label")
	}
	if !labelPattern.MatchString(label) {
		return invalid("Invalid parameter: Label Reason: Label must be 1-80 alphanumeric characters, hyphens or underscores")
	}
	if len(accounts) == 0 {
		return invalid("Invalid parameter: AWSAccountId")
	}
	if len(actions) == 0 {
		return invalid("Invalid parameter: ActionName")
	}
	var principals []string
	for _, a := range accounts {
		if !accountPattern.MatchString(a) {
			return invalid("%sPrincipalNotFound", policyPrefix)
		}
		if p := "arn:aws:iam::" + a + ":root"; !slices.Contains(principals, p) {
			principals = append(principals, p)
		}
	}
	var acts []string
	for _, a := range actions {
		if !slices.Contains(permissionActions, a) {
			return errOutOfScope
		}
		if x := "SNS:" + a; !slices.Contains(acts, x) {
			acts = append(acts, x)
		}
	}
	st := &policyStatement{Sid: label, Effect: "Allow", Principal: map[string]any{"AWS": oneOrList(principals)},
		Action: oneOrList(acts), Resource: arn}
	if err := s.topicExists(arn); err != nil {
		return err
	}
	_, err := s.propose(ctx, cmdSetTopicPolicy, setPolicyCmd{Arn: arn, Add: st})
	return err
}

// RemovePermission removes the statement whose Sid is label from the topic's policy.
func (s *Service) RemovePermission(ctx context.Context, arn, label string) error {
	if err := s.checkARN(arn, "TopicArn"); err != nil {
		return err
	}
	if label == "" {
		return invalid("Invalid parameter: Label")
	}
	if err := s.topicExists(arn); err != nil {
		return err
	}
	_, err := s.propose(ctx, cmdSetTopicPolicy, setPolicyCmd{Arn: arn, Remove: label})
	return err
}

func (s *Service) topicExists(arn string) error {
	s.mu.RLock()
	ok := s.topics[arn] != nil
	s.mu.RUnlock()
	if !ok {
		return snsErr("NotFound", "Topic does not exist")
	}
	return nil
}

func oneOrList(v []string) any {
	if len(v) == 1 {
		return v[0]
	}
	return v
}

// applySetPolicy runs under s.mu (Apply).
func (s *Service) applySetPolicy(c setPolicyCmd) (any, error) {
	old := s.topics[c.Arn]
	if old == nil {
		return nil, snsErr("NotFound", "Topic does not exist")
	}
	t := *old
	switch {
	case c.Add != nil:
		doc, err := editPolicy(s.topicPolicyDoc(old), func(stmts []json.RawMessage) ([]json.RawMessage, error) {
			for _, raw := range stmts {
				if statementSid(raw) == c.Add.Sid {
					return nil, invalid("Invalid parameter: Statement already exists")
				}
			}
			b, err := json.Marshal(c.Add)
			if err != nil {
				return nil, err
			}
			return append(stmts, b), nil
		})
		if err != nil {
			return nil, err
		}
		t.Policy = doc
	case c.Remove != "":
		doc, err := editPolicy(s.topicPolicyDoc(old), func(stmts []json.RawMessage) ([]json.RawMessage, error) {
			return slices.DeleteFunc(stmts, func(raw json.RawMessage) bool { return statementSid(raw) == c.Remove }), nil
		})
		if err != nil {
			return nil, err
		}
		t.Policy = doc
	default:
		t.Policy = c.Policy
	}
	if len(t.Policy) > maxTopicPolicySize { // AddPermission may make it too long
		return nil, invalid("%sPolicy size %d exceeds the maximum of %d bytes", policyPrefix, len(t.Policy), maxTopicPolicySize)
	}
	if t.Policy == s.defaultTopicPolicy(t.Arn) {
		t.Policy = ""
	}
	s.topics[c.Arn] = &t
	return nil, nil
}

func statementSid(raw json.RawMessage) string {
	var st struct{ Sid string }
	_ = json.Unmarshal(raw, &st)
	return st.Sid
}

// editPolicy rewrites the Statement list of a policy document, keeping its other members
// (Version, Id) in their order. The result is compact JSON.
func editPolicy(doc string, edit func([]json.RawMessage) ([]json.RawMessage, error)) (string, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", invalid("%snull", policyPrefix)
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	n := 0
	sawStatements := false
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return "", invalid("%snull", policyPrefix)
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", invalid("%snull", policyPrefix)
		}
		if k == "Statement" {
			sawStatements = true
			var stmts []json.RawMessage
			if b := bytes.TrimSpace(v); len(b) > 0 && b[0] == '[' {
				if err := json.Unmarshal(b, &stmts); err != nil {
					return "", invalid("%snull", policyPrefix)
				}
			} else {
				stmts = []json.RawMessage{v}
			}
			if stmts, err = edit(stmts); err != nil {
				return "", err
			}
			if stmts == nil {
				stmts = []json.RawMessage{}
			}
			v, _ = json.Marshal(stmts)
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		if err := json.Compact(&buf, v); err != nil {
			return "", invalid("%snull", policyPrefix)
		}
		n++
	}
	if !sawStatements {
		stmts, err := edit(nil)
		if err != nil {
			return "", err
		}
		v, _ := json.Marshal(stmts)
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`"Statement":`)
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.String(), nil
}
