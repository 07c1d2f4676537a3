package policy

import "strings"

// pattern is a compiled Action or Resource entry.
type pattern struct {
	s    string // lower case for actions
	any  bool   // exactly "*"
	wild bool   // contains '*' or '?'
	vars bool   // contains a policy variable
}

// cprincipal is a compiled Principal or NotPrincipal element.
type cprincipal struct {
	any      bool
	arns     []string // AWS principals given as ARNs (not account roots)
	accounts []string // AWS principals given as an account ID or its root ARN
	others   []string // "Type\x00value" for Service, Federated and CanonicalUser
}

type cstmt struct {
	sid          string
	allow        bool
	notAction    bool
	actions      []pattern
	notResource  bool
	resources    []pattern
	principal    *cprincipal
	notPrincipal bool
	conds        []ccond
}

func compileStatement(s *Statement, vars bool) (cstmt, error) {
	c := cstmt{sid: s.Sid, allow: s.Effect == Allow}
	acts := s.Action
	if acts == nil {
		c.notAction, acts = true, s.NotAction
	}
	for _, a := range acts {
		if a != "*" && !strings.Contains(a, ":") {
			return c, malformed("Action %q must be of the form service:action.", a)
		}
		l := asciiLower(a)
		c.actions = append(c.actions, pattern{s: l, any: l == "*", wild: hasWild(l)})
	}
	res := s.Resource
	if res == nil {
		c.notResource, res = true, s.NotResource
	}
	for _, r := range res {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return c, malformed("Resource %s must be in ARN format or \"*\".", r)
		}
		c.resources = append(c.resources, pattern{s: r, any: r == "*", wild: hasWild(r), vars: vars && hasVars(r)})
	}
	pr := s.Principal
	if pr == nil && s.NotPrincipal != nil {
		c.notPrincipal, pr = true, s.NotPrincipal
	}
	if pr != nil {
		c.principal = compilePrincipal(pr)
	}
	for _, cond := range s.Condition {
		cc, err := compileCondition(cond, vars)
		if err != nil {
			return c, err
		}
		c.conds = append(c.conds, cc)
	}
	return c, nil
}

func compilePrincipal(p *Principals) *cprincipal {
	c := &cprincipal{any: p.Any}
	for typ, vals := range p.Values {
		for _, v := range vals {
			switch {
			case v == "*":
				c.any = true
			case typ != "AWS":
				c.others = append(c.others, typ+"\x00"+v)
			case isAccountID(v):
				c.accounts = append(c.accounts, v)
			default:
				if acct, ok := rootAccount(v); ok {
					c.accounts = append(c.accounts, acct)
				} else {
					c.arns = append(c.arns, v)
				}
			}
		}
	}
	return c
}

// asciiLower lowers ASCII letters only: action names are compared
// case-insensitively in ASCII.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// rootAccount returns the account of an account root ARN
// (arn:<partition>:iam::<account>:root).
func rootAccount(arn string) (string, bool) {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, ':')
	if i < 0 {
		return "", false
	}
	rest, ok = strings.CutPrefix(rest[i+1:], "iam::")
	if !ok {
		return "", false
	}
	acct, ok := strings.CutSuffix(rest, ":root")
	if !ok || !isAccountID(acct) {
		return "", false
	}
	return acct, true
}

// sessionRole maps an assumed-role session ARN
// (arn:<p>:sts::<acct>:assumed-role/<role>/<session>) to the parts of its
// role ARN (arn:<p>:iam::<acct>:role/<role>): the partition, account and
// role name.
func sessionRole(arn string) (partition, acct, role string, ok bool) {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return "", "", "", false
	}
	i := strings.IndexByte(rest, ':')
	if i < 0 {
		return "", "", "", false
	}
	partition, rest = rest[:i], rest[i+1:]
	if rest, ok = strings.CutPrefix(rest, "sts::"); !ok {
		return "", "", "", false
	}
	i = strings.IndexByte(rest, ':')
	if i < 0 {
		return "", "", "", false
	}
	acct, rest = rest[:i], rest[i+1:]
	if rest, ok = strings.CutPrefix(rest, "assumed-role/"); !ok {
		return "", "", "", false
	}
	i = strings.IndexByte(rest, '/')
	if i < 0 {
		return "", "", "", false
	}
	return partition, acct, rest[:i], true
}

// matchesRoleOf reports whether roleARN is the role of the session ARN.
func matchesRoleOf(roleARN, session string) bool {
	p, acct, role, ok := sessionRole(session)
	if !ok {
		return false
	}
	// arn:<p>:iam::<acct>:role/<role> with no role path.
	want := len("arn:") + len(p) + len(":iam::") + len(acct) + len(":role/") + len(role)
	if len(roleARN) != want {
		return false
	}
	r := roleARN
	for _, part := range [...]string{"arn:", p, ":iam::", acct, ":role/", role} {
		if !strings.HasPrefix(r, part) {
			return false
		}
		r = r[len(part):]
	}
	return true
}

// matches reports whether the principal element names the caller. In a
// Deny statement (broad) an account matches every principal of the account;
// otherwise only its root.
func (c *cprincipal) matches(p *Principal, broad bool) bool {
	if c.any {
		return true
	}
	typ := p.Type
	if typ == "" || typ == "AWS" {
		for _, a := range c.arns {
			if a == p.ARN || matchesRoleOf(a, p.ARN) {
				return true
			}
		}
		for _, acct := range c.accounts {
			if broad && acct == p.Account {
				return true
			}
			if r, ok := rootAccount(p.ARN); ok && r == acct {
				return true
			}
		}
		return false
	}
	for _, o := range c.others {
		if len(o) == len(typ)+1+len(p.ARN) && strings.HasPrefix(o, typ) && o[len(typ)] == 0 && strings.HasSuffix(o, p.ARN) {
			return true
		}
	}
	return false
}

// rootMatches reports whether the principal element names the root of acct.
func (c *cprincipal) rootMatches(acct string) bool {
	if acct == "" {
		return false
	}
	if c.any {
		return true
	}
	for _, a := range c.accounts {
		if a == acct {
			return true
		}
	}
	return false
}

func (s *cstmt) actionMatches(action string) bool {
	for i := range s.actions {
		a := &s.actions[i]
		var m bool
		switch {
		case a.any:
			m = true
		case !a.wild && len(a.s) != len(action):
		default:
			m = glob(a.s, action, true)
		}
		if m {
			return !s.notAction
		}
	}
	return s.notAction
}

func (s *cstmt) resourceMatches(req *Request) bool {
	for i := range s.resources {
		r := &s.resources[i]
		var m bool
		switch {
		case r.any:
			m = true
		case r.vars:
			if p, ok := expand(r.s, req); ok {
				m = glob(p, req.Resource, false)
			}
		case r.wild:
			m = glob(r.s, req.Resource, false)
		default:
			m = r.s == req.Resource
		}
		if m {
			return !s.notResource
		}
	}
	return s.notResource
}

func (s *cstmt) conditionsHold(req *Request) bool {
	for i := range s.conds {
		if !s.conds[i].eval(req) {
			return false
		}
	}
	return true
}

// principalMode says how a statement's Principal element is checked.
type principalMode uint8

const (
	ignorePrincipal principalMode = iota // identity policies
	callerPrincipal                      // resource policies
	rootPrincipal                        // key policy delegation to IAM
)

// applies reports whether the statement applies to the request.
func (s *cstmt) applies(req *Request, mode principalMode) bool {
	switch mode {
	case callerPrincipal:
		if s.principal == nil || s.principal.matches(&req.Principal, !s.allow) == s.notPrincipal {
			return false
		}
	case rootPrincipal:
		if s.principal == nil || s.notPrincipal || !s.principal.rootMatches(req.Principal.Account) {
			return false
		}
	}
	return s.actionMatches(req.Action) && s.resourceMatches(req) && s.conditionsHold(req)
}

// Reason is why a decision was made.
type Reason uint8

// Reasons.
const (
	ImplicitDeny Reason = iota
	ExplicitDeny
	Allowed
)

func (r Reason) String() string {
	switch r {
	case ExplicitDeny:
		return "ExplicitDeny"
	case Allowed:
		return "Allowed"
	}
	return "ImplicitDeny"
}

// PolicySet says which argument of Decide or KMSDecide a matched policy was
// in.
type PolicySet uint8

// Policy sets.
const (
	IdentitySet PolicySet = iota
	ResourceSet           // the key policy, for KMSDecide
	GrantSet
)

// StatementRef locates a statement.
type StatementRef struct {
	Set       PolicySet
	Policy    int // index in its set
	Statement int // index in the policy
	Sid       string
}

// Decision is the outcome of an evaluation. For ExplicitDeny and Allowed,
// Matched is the deciding statement (the first Deny found, or the first
// Allow found).
type Decision struct {
	Allowed bool
	Reason  Reason
	Matched StatementRef
}

// scan looks for the first applicable Deny and the first applicable Allow.
func scan(req *Request, set PolicySet, ps []*Policy, mode principalMode, deny, allow *StatementRef, denied, allowed *bool) {
	for pi, p := range ps {
		if p == nil {
			continue
		}
		for si := range p.compiled {
			s := &p.compiled[si]
			if s.allow && *allowed {
				continue
			}
			if s.applies(req, mode) {
				ref := StatementRef{Set: set, Policy: pi, Statement: si, Sid: s.sid}
				if !s.allow {
					*deny, *denied = ref, true
					return
				}
				*allow, *allowed = ref, true
			}
		}
	}
}

// Decide evaluates a request against identity-based and resource-based
// policies of one account: an explicit Deny wins, then any Allow, else the
// request is implicitly denied. Statements of resource policies apply only
// if their Principal (or NotPrincipal) matches the caller; the Principal of
// identity policies is not consulted.
func Decide(req *Request, identity, resource []*Policy) Decision {
	var deny, allow StatementRef
	var denied, allowed bool
	scan(req, IdentitySet, identity, ignorePrincipal, &deny, &allow, &denied, &allowed)
	if !denied {
		scan(req, ResourceSet, resource, callerPrincipal, &deny, &allow, &denied, &allowed)
	}
	return decision(deny, allow, denied, allowed)
}

func decision(deny, allow StatementRef, denied, allowed bool) Decision {
	switch {
	case denied:
		return Decision{Reason: ExplicitDeny, Matched: deny}
	case allowed:
		return Decision{Allowed: true, Reason: Allowed, Matched: allow}
	}
	return Decision{Reason: ImplicitDeny}
}

// KMSDecide applies KMS's authorization rule. An explicit Deny in the key
// policy, an identity policy or a grant wins. Otherwise the request is
// allowed if the key policy allows the caller, if a grant (a policy of
// Allow statements built from the grant, whose Principal is ignored) allows
// it, or if the key policy allows the account root for the request and an
// identity policy allows it. Otherwise it is implicitly denied.
func KMSDecide(req *Request, keyPolicy *Policy, identity, grants []*Policy) Decision {
	var deny, keyAllow, idAllow, grantAllow StatementRef
	var denied, keyAllowed, idAllowed, grantAllowed bool
	key := []*Policy{keyPolicy}
	scan(req, ResourceSet, key, callerPrincipal, &deny, &keyAllow, &denied, &keyAllowed)
	if !denied {
		scan(req, IdentitySet, identity, ignorePrincipal, &deny, &idAllow, &denied, &idAllowed)
	}
	if !denied {
		scan(req, GrantSet, grants, ignorePrincipal, &deny, &grantAllow, &denied, &grantAllowed)
	}
	switch {
	case denied:
		return decision(deny, keyAllow, true, false)
	case keyAllowed:
		return decision(deny, keyAllow, false, true)
	case grantAllowed:
		return decision(deny, grantAllow, false, true)
	case idAllowed && keyPolicy != nil:
		for si := range keyPolicy.compiled {
			s := &keyPolicy.compiled[si]
			if s.allow && s.applies(req, rootPrincipal) {
				return decision(deny, idAllow, false, true)
			}
		}
	}
	return Decision{Reason: ImplicitDeny}
}
