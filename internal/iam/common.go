package iam

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

var nameRE = regexp.MustCompile(`^[\w+=,.@-]+$`)

// checkName validates an entity or policy name (pattern [\w+=,.@-]+, 1..max characters).
func checkName(field, v string, max int) error {
	if v == "" {
		return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(field))
	}
	if len(v) > max {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", v, lowerFirst(field), max)
	}
	if !nameRE.MatchString(v) {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", v, lowerFirst(field))
	}
	return nil
}

// checkPath validates a path (default "/"): "/" or "/x/.../", printable ASCII, ≤ 512.
func checkPath(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if len(p) > 512 || p[0] != '/' || p[len(p)-1] != '/' || strings.Contains(p, "//") {
		return "", validation("The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.")
	}
	for _, c := range p {
		if c < 0x21 || c > 0x7e {
			return "", validation("The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.")
		}
	}
	return p, nil
}

// checkPathPrefix validates a PathPrefix filter (pathPrefixType: "/" then printable
// ASCII, ≤ 512).
func checkPathPrefix(p string) error {
	if p == "" {
		return nil
	}
	if p[0] != '/' || len(p) > 512 || strings.IndexFunc(p, func(c rune) bool { return c < 0x21 || c > 0x7f }) >= 0 {
		return validation("1 validation error detected: Value '%s' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*", p)
	}
	return nil
}

// policyPathRE is policyPathType's pattern (botocore's iam model): the Path of a managed
// policy, and the PathPrefix that ListPolicies and ListAttached*Policies filter with, are
// "/" or "/" segments of letters, digits and .,+@=_- each followed by "/".
var policyPathRE = regexp.MustCompile(`^((/[A-Za-z0-9.,+@=_-]+)*)/$`)

// checkPolicyPath validates a managed policy path or path prefix (field "path" or
// "pathPrefix"); "" is the default.
func checkPolicyPath(field, p string) error {
	if p == "" {
		return nil
	}
	if len(p) > 512 || !policyPathRE.MatchString(p) {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ((/[A-Za-z0-9\\.,\\+@=_-]+)*)/", p, field)
	}
	return nil
}

func nonSpaceLen(s string) int {
	n := 0
	for _, c := range s {
		if !unicode.IsSpace(c) {
			n++
		}
	}
	return n
}

var sidRE = regexp.MustCompile(`^[0-9A-Za-z]*$`)

// checkDocument parses a policy document. Identity policies must not name a principal;
// trust (resource) policies must. maxChars bounds the non-whitespace characters (IAM does
// not count white space); past it the error is IAM's: "Cannot exceed quota for
// ACLSizePerRole" for a trust policy, "Cannot exceed quota for PolicySize" for a managed
// policy.
func checkDocument(doc string, trust bool, maxChars int) (*policy.Policy, error) {
	quota := "PolicySize"
	if trust {
		quota = "ACLSizePerRole"
	}
	return checkDocumentLimit(doc, trust, maxChars, iamErr("LimitExceeded", "Cannot exceed quota for %s: %d", quota, maxChars))
}

// checkDocumentLimit is checkDocument with the error to answer past maxChars.
func checkDocumentLimit(doc string, trust bool, maxChars int, tooBig error) (*policy.Policy, error) {
	if doc == "" {
		return nil, validation("1 validation error detected: Value null at 'policyDocument' failed to satisfy constraint: Member must not be null")
	}
	if nonSpaceLen(doc) > maxChars {
		return nil, tooBig
	}
	var p *policy.Policy
	var err error
	if trust {
		p, err = parseTrust(doc)
	} else {
		p, err = policy.Parse([]byte(doc))
	}
	if err != nil {
		return nil, AsError(err)
	}
	// IAM's policies (not KMS key policies, whose default has "Enable IAM User
	// Permissions") take only alphanumeric statement IDs.
	for _, st := range p.Statements {
		if !sidRE.MatchString(st.Sid) {
			return nil, iamErr("MalformedPolicyDocument", "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*")
		}
	}
	if trust {
		err = p.ValidateResource()
	} else {
		err = p.ValidateIdentity()
	}
	if err != nil {
		return nil, AsError(err)
	}
	return p, nil
}

// The patterns of tagKeyType and tagValueType (botocore's iam and sts models).
var (
	tagKeyRE   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValueRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// checkTags validates request tags (≤ 50, key 1..128, value ≤ 256, unique keys).
func checkTags(tags []Tag) error {
	if len(tags) > maxTags {
		return validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to %d", maxTags)
	}
	seen := map[string]bool{}
	for i, t := range tags {
		if t.Key == "" || utf8.RuneCountInString(t.Key) > 128 || utf8.RuneCountInString(t.Value) > 256 {
			return validation("1 validation error detected: Value '%s' at 'tags' failed to satisfy constraint: tag keys must be 1-128 characters and values at most 256", t.Key)
		}
		if !tagKeyRE.MatchString(t.Key) {
			return validation("1 validation error detected: Value '%s' at 'tags.%d.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+", t.Key, i+1)
		}
		if !tagValueRE.MatchString(t.Value) {
			return validation("1 validation error detected: Value '%s' at 'tags.%d.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*", t.Value, i+1)
		}
		k := strings.ToLower(t.Key)
		if seen[k] {
			return invalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[k] = true
	}
	return nil
}

// paginate returns one page of items: marker is the opaque offset of a previous page.
func paginate[T any](items []T, marker string, maxItems int) ([]T, bool, string, error) {
	if maxItems == 0 {
		maxItems = 100
	}
	if maxItems < 1 || maxItems > 1000 {
		return nil, false, "", validation("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000", maxItems)
	}
	off := 0
	if marker != "" {
		n, err := strconv.Atoi(marker)
		if err != nil || n < 0 || n > len(items) {
			return nil, false, "", invalidInput("Invalid Marker.")
		}
		off = n
	}
	end := min(off+maxItems, len(items))
	if end < len(items) {
		return items[off:end], true, strconv.Itoa(end), nil
	}
	return items[off:end], false, "", nil
}

// urlEncode encodes a policy document as IAM returns them (RFC 3986 percent-encoding).
func urlEncode(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}

func second(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// ---- XML shapes ----

// Tags is an XML list of tags.
type Tags struct {
	Members []Tag `xml:"member"`
}

func tagList(t []Tag) *Tags {
	if len(t) == 0 {
		return nil
	}
	return &Tags{Members: append([]Tag(nil), t...)}
}

// Names is an XML list of strings.
type Names struct {
	Members []string `xml:"member"`
}

// parseTrust parses a role trust policy. Trust policies name no Resource (the role is the
// resource) but policy.Parse requires one in every statement, so statements without
// Resource/NotResource get "Resource":"*" before parsing.
// TODO(policy): drop once the policy package accepts resource-less trust policies.
func parseTrust(doc string) (*policy.Policy, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil {
		return policy.Parse([]byte(doc)) // its syntax error
	}
	raw, ok := top["Statement"]
	if !ok {
		return policy.Parse([]byte(doc))
	}
	var list []map[string]json.RawMessage
	single := false
	if err := json.Unmarshal(raw, &list); err != nil {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return policy.Parse([]byte(doc))
		}
		list, single = []map[string]json.RawMessage{one}, true
	}
	for _, st := range list {
		if st == nil {
			continue
		}
		_, r := st["Resource"]
		_, nr := st["NotResource"]
		if !r && !nr {
			st["Resource"] = json.RawMessage(`"*"`)
		}
	}
	var err error
	if single {
		top["Statement"], err = json.Marshal(list[0])
	} else {
		top["Statement"], err = json.Marshal(list)
	}
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(top)
	if err != nil {
		return nil, err
	}
	return policy.Parse(b)
}
