package kms

import (
	"encoding/json"
	"regexp"
	"strings"
)

// MaxPolicyBytes is KMS's key policy size quota (32 KB). Larger documents, up to the API's
// length constraint (MaxPolicyLength characters), are refused with LimitExceededException.
const MaxPolicyBytes = 32768

// MaxPolicyLength is the API's length constraint of the Policy parameter (PolicyType).
const MaxPolicyLength = 131072

// policyStatementElements are the elements a key policy statement may have.
var policyStatementElements = map[string]bool{
	"Sid": true, "Effect": true, "Principal": true, "NotPrincipal": true, "Action": true,
	"NotAction": true, "Resource": true, "NotResource": true, "Condition": true,
}

// policyPrincipalTypes are the keys of a Principal object.
var policyPrincipalTypes = map[string]bool{"AWS": true, "Service": true, "Federated": true, "CanonicalUser": true}

var (
	policyAccountRe = regexp.MustCompile(`^[0-9]{12}$`)
	awsPrincipalRe  = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:(iam|sts)::[0-9]{12}:[\w+=,.@:/-]+$`)
)

// policyStatement is one parsed key policy statement. Principal and Action lists are nil
// when the element is absent.
type policyStatement struct {
	Effect       string
	Principal    map[string][]string // "*" is {"*": ["*"]}
	NotPrincipal bool
	Action       []string
	NotAction    []string
	Condition    bool
}

// ValidatePolicy checks that a key policy is a well-formed policy document: JSON, a
// Version (2012-10-17 or 2008-10-17) and a non-empty Statement of statements each with an
// Effect of Allow or Deny, a valid Principal (or NotPrincipal) and an Action (or
// NotAction). The IAM issue enforces policies; this only refuses documents that could
// never work, with MalformedPolicyDocumentException as KMS does. Length and characters
// are checked as the API's PolicyType constraint (ValidationException) and KMS's 32 KB
// quota (LimitExceededException).
func ValidatePolicy(doc string) error {
	_, err := parsePolicy(doc)
	return err
}

func malformedPolicy(format string, args ...any) *Error {
	return kmsErr("MalformedPolicyDocumentException", format, args...)
}

func parsePolicy(doc string) ([]policyStatement, error) {
	if doc == "" {
		return nil, validation("1 validation error detected: Value null at 'policy' failed to satisfy constraint: Member must not be null")
	}
	if len(doc) > MaxPolicyLength {
		return nil, validation("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to %d", MaxPolicyLength)
	}
	for _, r := range doc {
		if !(r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xFF)) {
			return nil, validation(`1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+`)
		}
	}
	if len(doc) > MaxPolicyBytes {
		return nil, kmsErr("LimitExceededException", "The key policy exceeds the maximum size of %d bytes.", MaxPolicyBytes)
	}
	var p struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, malformedPolicy("The key policy is not a valid JSON document: %v", err)
	}
	if p.Version != "" && p.Version != "2012-10-17" && p.Version != "2008-10-17" {
		return nil, malformedPolicy("Policy has an invalid Version %q", p.Version)
	}
	var stmts []map[string]json.RawMessage
	if err := json.Unmarshal(p.Statement, &stmts); err != nil {
		var one map[string]json.RawMessage
		if err2 := json.Unmarshal(p.Statement, &one); err2 != nil || one == nil {
			return nil, malformedPolicy("Policy has no valid Statement")
		}
		stmts = []map[string]json.RawMessage{one}
	}
	if len(stmts) == 0 {
		return nil, malformedPolicy("Policy has no Statement")
	}
	out := make([]policyStatement, 0, len(stmts))
	for i, st := range stmts {
		for name := range st {
			if !policyStatementElements[name] {
				return nil, malformedPolicy("Statement %d: unknown element %q", i, name)
			}
		}
		var ps policyStatement
		_ = json.Unmarshal(st["Effect"], &ps.Effect)
		if ps.Effect != "Allow" && ps.Effect != "Deny" {
			return nil, malformedPolicy("Statement %d: Effect must be Allow or Deny", i)
		}
		pr, hasP := st["Principal"]
		if !hasP {
			pr, hasP = st["NotPrincipal"]
			ps.NotPrincipal = hasP
		}
		if !hasP {
			return nil, malformedPolicy("Policy contains a statement with no principal.")
		}
		var err error
		if ps.Principal, err = parsePrincipal(pr); err != nil {
			return nil, err
		}
		act, hasA := st["Action"]
		notAct, hasNA := st["NotAction"]
		if !hasA && !hasNA {
			return nil, malformedPolicy("Statement %d: missing Action", i)
		}
		if hasA {
			if ps.Action, err = stringOrList(act); err != nil {
				return nil, malformedPolicy("Statement %d: Action must be a string or a list of strings", i)
			}
		}
		if hasNA {
			if ps.NotAction, err = stringOrList(notAct); err != nil {
				return nil, malformedPolicy("Statement %d: NotAction must be a string or a list of strings", i)
			}
		}
		ps.Condition = st["Condition"] != nil
		out = append(out, ps)
	}
	return out, nil
}

// stringOrList decodes a policy value that is a string or a list of strings.
func stringOrList(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// parsePrincipal decodes a Principal: "*" or {"AWS"|"Service"|...: string or list}. AWS
// principals must be "*", an account ID or an IAM/STS ARN.
func parsePrincipal(raw json.RawMessage) (map[string][]string, error) {
	invalid := malformedPolicy("Policy contains a statement with one or more invalid principals.")
	var star string
	if err := json.Unmarshal(raw, &star); err == nil {
		if star != "*" {
			return nil, invalid
		}
		return map[string][]string{"*": {"*"}}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || len(obj) == 0 {
		return nil, invalid
	}
	out := map[string][]string{}
	for typ, v := range obj {
		if !policyPrincipalTypes[typ] {
			return nil, invalid
		}
		vals, err := stringOrList(v)
		if err != nil || len(vals) == 0 {
			return nil, invalid
		}
		for _, p := range vals {
			if p == "" || (typ == "AWS" && p != "*" && !policyAccountRe.MatchString(p) && !awsPrincipalRe.MatchString(p)) {
				return nil, invalid
			}
		}
		out[typ] = vals
	}
	return out, nil
}

// CheckPolicyLockout is KMS's policy lockout safety check, simplified: the policy must let
// the caller call PutKeyPolicy again, i.e. have an Allow statement whose Principal covers
// the caller (by ARN, its account's root, its account ID, or "*"; an assumed-role session
// is also covered by its role's ARN) and whose Action covers kms:PutKeyPolicy (wildcards,
// case-insensitive), and no unconditional Deny statement of the caller for it. Conditions
// of Allow statements are not evaluated.
func CheckPolicyLockout(doc, account, principal string) error {
	stmts, err := parsePolicy(doc)
	if err != nil {
		return err
	}
	ids := callerIdentities(account, principal)
	allowed := false
	for _, st := range stmts {
		if st.NotPrincipal || !principalCovers(st.Principal, ids) || !actionCovers(st, "kms:PutKeyPolicy") {
			continue
		}
		switch st.Effect {
		case "Deny":
			if !st.Condition {
				return lockoutErr()
			}
		case "Allow":
			allowed = true
		}
	}
	if !allowed {
		return lockoutErr()
	}
	return nil
}

func lockoutErr() *Error {
	return malformedPolicy("The new key policy will not allow you to update the key policy in the future.")
}

// callerIdentities are the policy principal values that designate the caller.
func callerIdentities(account, principal string) []string {
	ids := []string{"*", account, "arn:aws:iam::" + account + ":root"}
	if principal != "" {
		ids = append(ids, principal)
		// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION is covered by the role's ARN.
		if parts := strings.SplitN(principal, ":", 6); len(parts) == 6 && parts[2] == "sts" {
			if rest, ok := strings.CutPrefix(parts[5], "assumed-role/"); ok {
				if role, _, ok := strings.Cut(rest, "/"); ok {
					ids = append(ids, "arn:"+parts[1]+":iam::"+parts[4]+":role/"+role)
				}
			}
		}
	}
	return ids
}

func principalCovers(p map[string][]string, ids []string) bool {
	if len(p["*"]) > 0 {
		return true
	}
	for _, v := range p["AWS"] {
		if contains(ids, v) {
			return true
		}
	}
	return false
}

func actionCovers(st policyStatement, action string) bool {
	if st.Action != nil {
		for _, a := range st.Action {
			if wildcardMatch(strings.ToLower(a), strings.ToLower(action)) {
				return true
			}
		}
		return false
	}
	for _, a := range st.NotAction {
		if wildcardMatch(strings.ToLower(a), strings.ToLower(action)) {
			return false
		}
	}
	return true
}

// wildcardMatch matches s against an IAM pattern where * is any run and ? any character.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
