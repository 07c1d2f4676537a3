package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// MaxDocumentSize is the largest policy document Parse accepts, in bytes.
// It is KMS's key policy limit; IAM's own limits are smaller and are checked
// by the callers that store such policies.
const MaxDocumentSize = 32 * 1024

// Versions of the policy language.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// ParseError reports a malformed policy document. Reason is worded like the
// message of IAM's MalformedPolicyDocument error and may be shown to callers.
type ParseError struct {
	Reason string
}

func (e *ParseError) Error() string { return "policy: malformed policy document: " + e.Reason }

func malformed(format string, args ...any) error {
	return &ParseError{Reason: fmt.Sprintf(format, args...)}
}

// Effect is a statement's Effect.
type Effect string

// Effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Principals is a Principal or NotPrincipal element. Any is true for "*".
// Otherwise Values maps a principal type (AWS, Service, Federated,
// CanonicalUser) to its values.
type Principals struct {
	Any    bool
	Values map[string][]string
}

// Condition is one key of one operator in a Condition element.
type Condition struct {
	Operator string // as written, e.g. "ForAnyValue:StringLikeIfExists"
	Key      string // as written
	Values   []string
}

// Statement is a parsed statement. Exactly one of Action and NotAction is
// set, and exactly one of Resource and NotResource.
type Statement struct {
	Sid          string
	Effect       Effect
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Principal    *Principals
	NotPrincipal *Principals
	Condition    []Condition // sorted by Operator then Key
}

// Policy is a parsed and compiled policy document. It is immutable and safe
// for concurrent use.
type Policy struct {
	Version    string
	ID         string
	Statements []Statement

	compiled []cstmt
	layer    Layer
}

// Layer says what part an identity-side policy plays in a decision (the
// identity argument of Decide and KMSDecide).
type Layer uint8

// Layers.
const (
	// IdentityLayer policies (inline and managed policies of the user, its
	// groups, or the role) grant permissions.
	IdentityLayer Layer = iota
	// BoundaryLayer is the principal's permissions boundary: it grants
	// nothing, and what it does not allow is denied.
	BoundaryLayer
	// SessionLayer are the session policies of temporary credentials: they
	// grant nothing, and what none of them allows is denied.
	SessionLayer
	numLayers
)

// Layer is the policy's layer (IdentityLayer for a parsed document).
func (p *Policy) Layer() Layer { return p.layer }

// As returns the policy as a policy of layer l: a shallow copy sharing the
// compiled statements (p itself is not changed).
func (p *Policy) As(l Layer) *Policy {
	if p.layer == l {
		return p
	}
	cp := *p
	cp.layer = l
	return &cp
}

// EmptyLayer is a policy of layer l without statements: a boundary or a set of
// session policies that allows nothing (its managed policies were deleted).
func EmptyLayer(l Layer) *Policy { return &Policy{Version: Version2012, layer: l} }

// Parse parses and compiles a policy document.
func Parse(doc []byte) (*Policy, error) {
	if len(doc) > MaxDocumentSize {
		return nil, malformed("Policy document exceeds the maximum size of %d bytes.", MaxDocumentSize)
	}
	top, err := object(doc, "Syntax errors in policy.")
	if err != nil {
		return nil, err
	}
	p := &Policy{Version: Version2008}
	var rawStmts json.RawMessage
	for k, v := range top {
		switch k {
		case "Version":
			if err := json.Unmarshal(v, &p.Version); err != nil {
				return nil, malformed("The policy Version must be a string.")
			}
			if p.Version != Version2012 && p.Version != Version2008 {
				return nil, malformed("The policy failed legacy parsing: invalid Version %q.", p.Version)
			}
		case "Id":
			if err := json.Unmarshal(v, &p.ID); err != nil {
				return nil, malformed("The policy Id must be a string.")
			}
		case "Statement":
			rawStmts = v
		default:
			return nil, malformed("Policy document contains unsupported element %q.", k)
		}
	}
	if rawStmts == nil {
		return nil, malformed("Missing required field Statement.")
	}
	var list []json.RawMessage
	if b := bytes.TrimSpace(rawStmts); len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, malformed("Syntax errors in policy.")
		}
	} else {
		list = []json.RawMessage{rawStmts}
	}
	if len(list) == 0 {
		return nil, malformed("Policy document must contain at least one statement.")
	}
	sids := make(map[string]bool)
	for _, raw := range list {
		s, err := parseStatement(raw)
		if err != nil {
			return nil, err
		}
		if s.Sid != "" {
			if sids[s.Sid] {
				return nil, malformed("Statement IDs (SID) in a single policy must be unique: %q.", s.Sid)
			}
			sids[s.Sid] = true
		}
		p.Statements = append(p.Statements, s)
	}
	for i := range p.Statements {
		c, err := compileStatement(&p.Statements[i], p.Version == Version2012)
		if err != nil {
			return nil, err
		}
		p.compiled = append(p.compiled, c)
	}
	return p, nil
}

// MustParse is Parse for documents known to be valid; it panics on error.
func MustParse(doc string) *Policy {
	p, err := Parse([]byte(doc))
	if err != nil {
		panic(err)
	}
	return p
}

// ValidateIdentity reports whether p may be attached to an identity: its
// statements must not name a principal.
func (p *Policy) ValidateIdentity() error {
	for _, s := range p.Statements {
		if s.Principal != nil || s.NotPrincipal != nil {
			return malformed("Policy document should not specify a principal.")
		}
	}
	return nil
}

// ValidateResource reports whether p may be used as a resource policy: every
// statement must name a principal.
func (p *Policy) ValidateResource() error {
	for _, s := range p.Statements {
		if s.Principal == nil && s.NotPrincipal == nil {
			return malformed("Policy statement must contain a principal.")
		}
	}
	return nil
}

func object(raw []byte, syntaxMsg string) (map[string]json.RawMessage, error) {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 || b[0] != '{' {
		return nil, malformed("%s", syntaxMsg)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, malformed("%s", syntaxMsg)
	}
	return m, nil
}

func parseStatement(raw json.RawMessage) (Statement, error) {
	var s Statement
	m, err := object(raw, "Statement must be an object.")
	if err != nil {
		return s, err
	}
	for k, v := range m {
		var err error
		switch k {
		case "Sid":
			if json.Unmarshal(v, &s.Sid) != nil {
				err = malformed("Statement Sid must be a string.")
			}
		case "Effect":
			var e string
			if json.Unmarshal(v, &e) != nil || (e != string(Allow) && e != string(Deny)) {
				err = malformed("Invalid effect: %s.", bytes.TrimSpace(v))
			}
			s.Effect = Effect(e)
		case "Action":
			s.Action, err = stringList(k, v)
		case "NotAction":
			s.NotAction, err = stringList(k, v)
		case "Resource":
			s.Resource, err = stringList(k, v)
		case "NotResource":
			s.NotResource, err = stringList(k, v)
		case "Principal":
			s.Principal, err = parsePrincipals(k, v)
		case "NotPrincipal":
			s.NotPrincipal, err = parsePrincipals(k, v)
		case "Condition":
			s.Condition, err = parseCondition(v)
		default:
			err = malformed("Statement contains unsupported element %q.", k)
		}
		if err != nil {
			return s, err
		}
	}
	switch {
	case s.Effect == "":
		return s, malformed("Missing required field Effect.")
	case s.Action == nil && s.NotAction == nil:
		return s, malformed("Policy statement must contain actions.")
	case s.Action != nil && s.NotAction != nil:
		return s, malformed("Statement cannot contain both Action and NotAction.")
	case s.Resource == nil && s.NotResource == nil:
		return s, malformed("Policy statement must contain resources.")
	case s.Resource != nil && s.NotResource != nil:
		return s, malformed("Statement cannot contain both Resource and NotResource.")
	case s.Principal != nil && s.NotPrincipal != nil:
		return s, malformed("Statement cannot contain both Principal and NotPrincipal.")
	}
	return s, nil
}

// stringList decodes a string-or-array-of-strings element. The result is
// non-nil and non-empty.
func stringList(name string, raw json.RawMessage) ([]string, error) {
	b := bytes.TrimSpace(raw)
	var one string
	if json.Unmarshal(b, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if len(b) > 0 && b[0] == '[' && json.Unmarshal(b, &list) == nil {
		if len(list) == 0 {
			return nil, malformed("%s must not be empty.", name)
		}
		return list, nil
	}
	return nil, malformed("%s must be a string or an array of strings.", name)
}

func parsePrincipals(name string, raw json.RawMessage) (*Principals, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one != "*" {
			return nil, malformed("Invalid principal in policy: %q.", one)
		}
		return &Principals{Any: true}, nil
	}
	m, err := object(raw, "Invalid principal in policy.")
	if err != nil {
		return nil, err
	}
	p := &Principals{Values: make(map[string][]string)}
	for typ, v := range m {
		switch typ {
		case "AWS", "Service", "Federated", "CanonicalUser":
		default:
			return nil, malformed("Invalid principal type in policy: %q.", typ)
		}
		vals, err := stringList(name+"."+typ, v)
		if err != nil {
			return nil, err
		}
		for _, val := range vals {
			if val == "" || (strings.ContainsAny(val, "*?") && val != "*") {
				return nil, malformed("Invalid principal in policy: %q.", val)
			}
		}
		p.Values[typ] = vals
	}
	if len(p.Values) == 0 {
		return nil, malformed("Invalid principal in policy: empty %s.", name)
	}
	return p, nil
}

func parseCondition(raw json.RawMessage) ([]Condition, error) {
	m, err := object(raw, "Condition must be an object.")
	if err != nil {
		return nil, err
	}
	var out []Condition
	for op, body := range m {
		keys, err := object(body, "Condition operator "+op+" must map keys to values.")
		if err != nil {
			return nil, err
		}
		for key, v := range keys {
			vals, err := scalarList(v)
			if err != nil {
				return nil, malformed("Invalid value for condition %s key %s.", op, key)
			}
			out = append(out, Condition{Operator: op, Key: key, Values: vals})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Operator != out[j].Operator {
			return out[i].Operator < out[j].Operator
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// scalarList decodes a scalar or an array of scalars (strings, numbers or
// booleans) into their string forms.
func scalarList(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("empty")
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch x := it.(type) {
		case string:
			out = append(out, x)
		case json.Number:
			out = append(out, x.String())
		case bool:
			if x {
				out = append(out, "true")
			} else {
				out = append(out, "false")
			}
		default:
			return nil, fmt.Errorf("not a scalar")
		}
	}
	return out, nil
}
