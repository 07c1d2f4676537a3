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

// names reports whether the principal element names arn itself (not its
// role, its account or everyone).
func (c *cprincipal) names(arn string) bool {
	if c == nil {
		return false
	}
	for _, a := range c.arns {
		if a == arn {
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
// in, and for the identity argument, which layer.
type PolicySet uint8

// Policy sets.
const (
	IdentitySet PolicySet = iota
	ResourceSet           // the key policy, for KMSDecide
	GrantSet
	BoundarySet // a BoundaryLayer policy of the identity argument
	SessionSet  // a SessionLayer policy of the identity argument
)

var layerSet = [numLayers]PolicySet{IdentityLayer: IdentitySet, BoundaryLayer: BoundarySet, SessionLayer: SessionSet}

// StatementRef locates a statement.
type StatementRef struct {
	Set       PolicySet
	Policy    int // index in its set (for the layers: in the identity argument)
	Statement int // index in the policy
	Sid       string
}

// Decision is the outcome of an evaluation. For ExplicitDeny and Allowed,
// Matched is the deciding statement (the first Deny found, or the first
// Allow found). For an ImplicitDeny, Matched.Set is BoundarySet or
// SessionSet when a policy allowed the request but the permissions boundary
// or the session policies did not (Policy and Statement are then zero), and
// IdentitySet otherwise.
type Decision struct {
	Allowed bool
	Reason  Reason
	Matched StatementRef
}

// DeniedWhy is the end of AWS's AccessDenied message for a request of action that d
// refuses: which kind of policy denied it, explicitly ("with an explicit deny in a
// permissions boundary") or by not allowing it ("because no session policy allows the
// kms:Decrypt action"). An ImplicitDeny not due to a boundary or session policy is
// "no identity-based policy" (its Matched.Set is IdentitySet).
func (d Decision) DeniedWhy(action string) string {
	kind := "identity-based policy"
	switch d.Matched.Set {
	case BoundarySet:
		kind = "permissions boundary"
	case SessionSet:
		kind = "session policy"
	case ResourceSet, GrantSet:
		if d.Reason == ExplicitDeny {
			kind = "resource-based policy"
		}
	}
	if d.Reason == ExplicitDeny {
		article := "a "
		if kind[0] == 'i' {
			article = "an "
		}
		return "with an explicit deny in " + article + kind
	}
	return "because no " + kind + " allows the " + action + " action"
}

// tally collects what the policies of a request say.
type tally struct {
	deny   StatementRef
	denied bool
	// limited: the identity argument has a boundary or session layer.
	limited bool
	// has: which limiting layers are present; allowed/allow by layer.
	has     [numLayers]bool
	allowed [numLayers]bool
	allow   [numLayers]StatementRef
	// Resource-side allows: res by any principal match, direct by the
	// caller's own ARN.
	res, direct          StatementRef
	resAllowed, dirAllow bool
	grant                StatementRef
	grantAllowed         bool
}

// layers notes which limiting layers the identity policies have.
func (t *tally) layers(ps []*Policy) {
	for _, p := range ps {
		if p != nil && p.layer != IdentityLayer {
			t.limited = true
			t.has[p.layer] = true
		}
	}
}

// scanIdentity looks for the first applicable Deny of any layer and the first
// applicable Allow of each layer.
func (t *tally) scanIdentity(req *Request, ps []*Policy) {
	for pi, p := range ps {
		if p == nil {
			continue
		}
		l := p.layer
		for si := range p.compiled {
			s := &p.compiled[si]
			if s.allow && t.allowed[l] {
				continue
			}
			if s.applies(req, ignorePrincipal) {
				ref := StatementRef{Set: layerSet[l], Policy: pi, Statement: si, Sid: s.sid}
				if !s.allow {
					t.deny, t.denied = ref, true
					return
				}
				t.allow[l], t.allowed[l] = ref, true
			}
		}
	}
}

// scanResource looks for the first applicable Deny and the first applicable
// Allow of resource policies; with limiting layers, also for an Allow that
// names the caller's own ARN (which the layers do not limit).
func (t *tally) scanResource(req *Request, set PolicySet, ps []*Policy) {
	for pi, p := range ps {
		if p == nil {
			continue
		}
		for si := range p.compiled {
			s := &p.compiled[si]
			if s.allow && t.resAllowed && (!t.limited || t.dirAllow) {
				continue
			}
			if s.applies(req, callerPrincipal) {
				ref := StatementRef{Set: set, Policy: pi, Statement: si, Sid: s.sid}
				if !s.allow {
					t.deny, t.denied = ref, true
					return
				}
				if !t.resAllowed {
					t.res, t.resAllowed = ref, true
				}
				if t.limited && !t.dirAllow && !s.notPrincipal && s.principal.names(req.Principal.ARN) {
					t.direct, t.dirAllow = ref, true
				}
			}
		}
	}
}

// scanGrants is scanIdentity for KMS grants (Allow-only policies whose
// Principal is ignored; a Deny in one still wins).
func (t *tally) scanGrants(req *Request, ps []*Policy) {
	for pi, p := range ps {
		if p == nil {
			continue
		}
		for si := range p.compiled {
			s := &p.compiled[si]
			if s.allow && t.grantAllowed {
				continue
			}
			if s.applies(req, ignorePrincipal) {
				ref := StatementRef{Set: GrantSet, Policy: pi, Statement: si, Sid: s.sid}
				if !s.allow {
					t.deny, t.denied = ref, true
					return
				}
				t.grant, t.grantAllowed = ref, true
			}
		}
	}
}

// limit applies the boundary and the session policies to an Allow: what one
// of them does not allow is implicitly denied.
func (t *tally) limit(allow StatementRef) Decision {
	for _, l := range [...]Layer{BoundaryLayer, SessionLayer} {
		if t.has[l] && !t.allowed[l] {
			return Decision{Reason: ImplicitDeny, Matched: StatementRef{Set: layerSet[l]}}
		}
	}
	return Decision{Allowed: true, Reason: Allowed, Matched: allow}
}

// Decide evaluates a request against identity-based and resource-based
// policies of one account: an explicit Deny wins, then any Allow, else the
// request is implicitly denied. Statements of resource policies apply only
// if their Principal (or NotPrincipal) matches the caller; the Principal of
// identity policies is not consulted.
//
// The identity argument may hold a permissions boundary (BoundaryLayer) and
// session policies (SessionLayer) besides the identity policies: they grant
// nothing, and an Allow of an identity policy, or of a resource policy that
// matches the caller otherwise than by its own ARN (a role session matched
// by its role, or the account), stands only if the boundary and the session
// policies (when present) allow the request too. An Allow of a resource
// policy naming the caller's ARN (the user, the role session) is not limited
// by them, as on AWS ("Policy evaluation logic", "Session policies").
func Decide(req *Request, identity, resource []*Policy) Decision {
	var t tally
	t.layers(identity)
	t.scanIdentity(req, identity)
	if !t.denied {
		t.scanResource(req, ResourceSet, resource)
	}
	switch {
	case t.denied:
		return Decision{Reason: ExplicitDeny, Matched: t.deny}
	case t.dirAllow:
		return Decision{Allowed: true, Reason: Allowed, Matched: t.direct}
	case t.allowed[IdentityLayer]:
		return t.limit(t.allow[IdentityLayer])
	case t.resAllowed:
		return t.limit(t.res)
	}
	return Decision{Reason: ImplicitDeny}
}

// KMSDecide applies KMS's authorization rule. An explicit Deny in the key
// policy, an identity policy or a grant wins. Otherwise the request is
// allowed if the key policy allows the caller, if a grant (a policy of
// Allow statements built from the grant, whose Principal is ignored) allows
// it, or if the key policy allows the account root for the request and an
// identity policy allows it. Otherwise it is implicitly denied.
//
// The permissions boundary and session policies of the identity argument
// limit every Allow (as in Decide) except one of the key policy naming the
// caller's ARN; they limit grants too.
func KMSDecide(req *Request, keyPolicy *Policy, identity, grants []*Policy) Decision {
	var t tally
	t.layers(identity)
	key := [1]*Policy{keyPolicy}
	t.scanResource(req, ResourceSet, key[:])
	if !t.denied {
		t.scanIdentity(req, identity)
	}
	if !t.denied {
		t.scanGrants(req, grants)
	}
	switch {
	case t.denied:
		return Decision{Reason: ExplicitDeny, Matched: t.deny}
	case t.dirAllow:
		return Decision{Allowed: true, Reason: Allowed, Matched: t.direct}
	case t.resAllowed:
		return t.limit(t.res)
	case t.grantAllowed:
		return t.limit(t.grant)
	case t.allowed[IdentityLayer] && keyPolicy != nil:
		for si := range keyPolicy.compiled {
			s := &keyPolicy.compiled[si]
			if s.allow && s.applies(req, rootPrincipal) {
				return t.limit(t.allow[IdentityLayer])
			}
		}
	}
	return Decision{Reason: ImplicitDeny}
}
