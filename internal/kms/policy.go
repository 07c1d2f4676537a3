package kms

import (
	"encoding/json"
	"strings"
)

// MaxPolicyBytes is KMS's key policy size limit.
const MaxPolicyBytes = 32768

// ValidatePolicy checks that a key policy is a well-formed policy document: JSON, a
// Version (2012-10-17 or 2008-10-17) and a non-empty Statement of statements each with an
// Effect of Allow or Deny, a Principal (or NotPrincipal) and an Action (or NotAction).
// The IAM issue enforces policies; this only refuses documents that could never work,
// with MalformedPolicyDocumentException as KMS does.
func ValidatePolicy(doc string) error {
	if len(doc) > MaxPolicyBytes {
		return validation("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 32768")
	}
	var p struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return kmsErr("MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future. (The policy is not valid JSON: %v)", err)
	}
	if p.Version != "" && p.Version != "2012-10-17" && p.Version != "2008-10-17" {
		return kmsErr("MalformedPolicyDocumentException", "Policy has an invalid Version %q", p.Version)
	}
	var stmts []map[string]json.RawMessage
	if err := json.Unmarshal(p.Statement, &stmts); err != nil {
		var one map[string]json.RawMessage
		if err2 := json.Unmarshal(p.Statement, &one); err2 != nil || one == nil {
			return kmsErr("MalformedPolicyDocumentException", "Policy has no valid Statement")
		}
		stmts = []map[string]json.RawMessage{one}
	}
	if len(stmts) == 0 {
		return kmsErr("MalformedPolicyDocumentException", "Policy has no Statement")
	}
	for i, st := range stmts {
		var effect string
		_ = json.Unmarshal(st["Effect"], &effect)
		if effect != "Allow" && effect != "Deny" {
			return kmsErr("MalformedPolicyDocumentException", "Statement %d: Effect must be Allow or Deny", i)
		}
		if st["Principal"] == nil && st["NotPrincipal"] == nil {
			return kmsErr("MalformedPolicyDocumentException", "Statement %d: a key policy statement needs a Principal", i)
		}
		if st["Action"] == nil && st["NotAction"] == nil {
			return kmsErr("MalformedPolicyDocumentException", "Statement %d: missing Action", i)
		}
		for name := range st {
			if !strings.Contains("Sid Effect Principal NotPrincipal Action NotAction Resource NotResource Condition", name) {
				return kmsErr("MalformedPolicyDocumentException", "Statement %d: unknown element %q", i, name)
			}
		}
	}
	return nil
}
