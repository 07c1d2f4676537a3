package iam

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

// Session policies (AssumeRole's Policy and PolicyArns) limit what temporary credentials
// may do: a request signed with them is allowed only if the role's identity policies and
// the session policies allow it (policy.SessionLayer). They are stored with the session
// (sessionRec), so every node applies them, and after a restart too.

const (
	// sessionPolicyMaxChars is sessionPolicyDocumentType's length (botocore's sts model):
	// "The plaintext that you use for both inline and managed session policies can't exceed
	// 2,048 characters."
	sessionPolicyMaxChars = 2048
	// maxSessionPolicyARNs: "You can provide up to 10 managed policy ARNs."
	maxSessionPolicyARNs = 10
	// packedPolicyLimit is the room (bytes) of the packed form of session policies, policy
	// ARNs and session tags that PackedPolicySize is a percentage of.
	packedPolicyLimit = 2048
)

// sessionPolicyRE is sessionPolicyDocumentType's pattern.
var sessionPolicyRE = regexp.MustCompile("^[\u0009\u000A\u000D\u0020-\u00FF]+$")

// checkSessionPolicyInput validates the Policy and PolicyArns members of AssumeRole (and
// GetFederationToken): sizes, patterns, and the inline document's grammar.
func checkSessionPolicyInput(doc string, arns []PolicyDescriptor) error {
	if doc != "" {
		if len(doc) > sessionPolicyMaxChars {
			return validation("1 validation error detected: Value '%s' at 'policy' failed to satisfy constraint: Member must have length less than or equal to %d", doc, sessionPolicyMaxChars)
		}
		if !sessionPolicyRE.MatchString(doc) {
			return validation("1 validation error detected: Value '%s' at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+", doc)
		}
		if _, err := checkDocumentLimit(doc, false, sessionPolicyMaxChars, nil); err != nil {
			return err
		}
	}
	if len(arns) > maxSessionPolicyARNs {
		return validation("1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to %d", maxSessionPolicyARNs)
	}
	for i, d := range arns {
		if len(d.Arn) < 20 {
			return validation("1 validation error detected: Value '%s' at 'policyArns.%d.member.arn' failed to satisfy constraint: Member must have length greater than or equal to 20", d.Arn, i+1)
		}
		if len(d.Arn) > 2048 {
			return validation("1 validation error detected: Value '%s' at 'policyArns.%d.member.arn' failed to satisfy constraint: Member must have length less than or equal to 2048", d.Arn, i+1)
		}
	}
	return nil
}

// checkSessionPolicyARNs checks that each managed session policy exists in acct (or is an
// AWS managed policy) and returns the ARNs.
func (s *Service) checkSessionPolicyARNs(acct string, arns []PolicyDescriptor) ([]string, error) {
	if len(arns) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(arns))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, d := range arns {
		p := strings.SplitN(d.Arn, ":", 6)
		if len(p) != 6 || p[0] != "arn" || p[2] != "iam" || !strings.HasPrefix(p[5], "policy/") {
			return nil, iamErr("MalformedPolicyDocument", "Policy ARN %s is not valid.", d.Arn)
		}
		if _, ok := s.managedDocLocked(acct, d.Arn); !ok {
			return nil, iamErr("MalformedPolicyDocument", "Policy %s does not exist or is not attachable.", d.Arn)
		}
		out = append(out, d.Arn)
	}
	return out, nil
}

// packedPolicySize is AWS's PackedPolicySize: how full, in percent, the packed (compressed)
// session policy, policy ARNs and session tags are; past 100 the request fails with
// PackedPolicyTooLarge.
func packedPolicySize(doc string, arns []string, tags []Tag) (int, error) {
	size := 0
	if doc != "" || len(arns) > 0 {
		var b bytes.Buffer
		if doc != "" {
			// Whitespace does not count: the document is packed compacted.
			if err := json.Compact(&b, []byte(doc)); err != nil {
				b.Reset()
				b.WriteString(doc)
			}
		}
		for _, a := range arns {
			b.WriteString(a)
		}
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestCompression)
		w.Write(b.Bytes())
		w.Close()
		size += z.Len()
	}
	for _, t := range tags {
		size += len(t.Key) + len(t.Value) + 8
	}
	pct := max(1, (size*100+packedPolicyLimit-1)/packedPolicyLimit)
	if pct > 100 {
		return pct, iamErr("PackedPolicyTooLarge", "Packed policy consumes %d%% of allotted space, please use smaller policy.", pct)
	}
	return pct, nil
}

// managedDocLocked is the default version's document of a managed policy of acct (or of
// an AWS managed policy); s.mu held.
func (s *Service) managedDocLocked(acct, arn string) (string, bool) {
	if p, ok := awsManaged[arn]; ok {
		return p.Document, true
	}
	p := s.policies[arn]
	if p == nil || p.Account != acct {
		return "", false
	}
	if v := p.version(p.DefaultVersion); v != nil {
		return v.Document, true
	}
	return "", false
}

// RequestPolicies returns the policies that decide a request of principalARN signed with
// accessKeyID, for policy.Decide and policy.KMSDecide: the identity policies
// (IdentityPolicies; for a federated user, those of its IAM user, and everything for the
// root's), then the permissions boundary of the user or role
// (policy.BoundaryLayer), then the session policies of temporary credentials
// (policy.SessionLayer). Managed session policies that were deleted since allow nothing.
// Documents are parsed once (cached by content); one that does not parse fails the
// request.
func (s *Service) RequestPolicies(principalARN, accessKeyID string) ([]*policy.Policy, error) {
	docs, l, err := s.requestDocs(principalARN, accessKeyID)
	if err != nil {
		return nil, err
	}
	if !l.bounded && !l.limited {
		if len(docs) == 0 {
			return nil, nil
		}
		return s.pcache.Parse(docs)
	}
	out, err := s.pcache.Append(make([]*policy.Policy, 0, len(docs)+len(l.session)+2), docs, policy.IdentityLayer)
	if err != nil {
		return nil, err
	}
	switch {
	case l.bounded && l.boundary == "":
		out = append(out, policy.EmptyLayer(policy.BoundaryLayer))
	case l.bounded:
		if out, err = s.pcache.Append(out, []string{l.boundary}, policy.BoundaryLayer); err != nil {
			return nil, err
		}
	}
	if l.limited {
		if len(l.session) == 0 {
			return append(out, policy.EmptyLayer(policy.SessionLayer)), nil
		}
		return s.pcache.Append(out, l.session, policy.SessionLayer)
	}
	return out, nil
}

// limitDocs are the documents that limit a principal's identity policies.
type limitDocs struct {
	boundary string   // the permissions boundary's document ("": its policy is gone)
	bounded  bool     // there is a boundary
	session  []string // the session policies' documents
	limited  bool     // there are session policies
}

// requestDocs returns, under one read lock, the identity policy documents of the
// principal (of a federated user's IAM user; everything for the root's federated users),
// and the documents that limit them: the user's or role's permissions boundary and the
// session policies of temporary credentials accessKeyID.
func (s *Service) requestDocs(principalARN, accessKeyID string) ([]string, limitDocs, error) {
	var l limitDocs
	s.mu.RLock()
	defer s.mu.RUnlock()
	var x *sessionRec
	if accessKeyID != "" {
		x = s.sessions[accessKeyID]
	}
	if x != nil && !s.sessionLiveLocked(x) {
		return nil, l, iamErr("InvalidClientTokenId", "The security token included in the request is invalid")
	}
	var docs []string
	var e *entity
	var err error
	switch {
	case x != nil && x.Type == federatedType && isRootARN(x.Owner):
		docs = []string{allowAll}
	case x != nil && x.Type == federatedType:
		docs, e, err = s.identityDocsLocked(x.Owner)
	default:
		docs, e, err = s.identityDocsLocked(principalARN)
	}
	if err != nil {
		return nil, l, err
	}
	if e != nil && e.Boundary != "" {
		// A boundary policy cannot be deleted while in use; had it gone, the empty
		// boundary would allow nothing.
		l.boundary, _ = s.managedDocLocked(e.Account, e.Boundary)
		l.bounded = true
	}
	if x == nil || !x.limited() {
		return docs, l, nil
	}
	l.limited = true
	if x.Policy != "" {
		l.session = append(l.session, x.Policy)
	}
	for _, arn := range x.PolicyARNs {
		if doc, ok := s.managedDocLocked(x.Account, arn); ok {
			l.session = append(l.session, doc)
		}
	}
	return docs, l, nil
}

func isRootARN(arn string) bool {
	p, ok := parseARN(arn)
	return ok && p.Kind == "root"
}

// PolicySource gives KMS the policies of its callers (kms.IdentityPolicies, and with the
// access key a request was signed with, kms.CredentialPolicies).
type PolicySource struct{ s *Service }

// PolicySource returns the service's PolicySource.
func (s *Service) PolicySource() PolicySource { return PolicySource{s} }

// IdentityPolicies are the policies of a principal, without those of any credentials.
func (p PolicySource) IdentityPolicies(principalARN string) ([]*policy.Policy, error) {
	return p.s.RequestPolicies(principalARN, "")
}

// CredentialPolicies are RequestPolicies.
func (p PolicySource) CredentialPolicies(principalARN, accessKeyID string) ([]*policy.Policy, error) {
	return p.s.RequestPolicies(principalARN, accessKeyID)
}
