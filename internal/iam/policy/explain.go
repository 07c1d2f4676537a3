package policy

import "strings"

// StatementMatch is what one statement of a policy says about a request, for
// the policy simulator (IAM's SimulatePrincipalPolicy): the decision itself
// comes from Decide or KMSDecide; Explain lists the statements behind it and
// the condition keys a request lacks, with the same matching code.
type StatementMatch struct {
	Statement int  // index in the policy
	Allow     bool // the statement's Effect
	// Applies reports whether the statement applies to the request, as Decide
	// sees it: action, resource, principal (for a resource policy) and
	// conditions.
	Applies bool
	// Missing are the condition keys of the statement (as written) that the
	// request has no value for; keys of Null conditions are not listed.
	Missing []string
}

// Explain reports the statements of p whose action and resource match req
// (and, when resource is true, whose Principal matches the caller, as for a
// resource policy): whether each applies and which of its condition keys
// the request lacks. Statements whose action, resource or principal do not
// match are not reported.
func (p *Policy) Explain(req *Request, resource bool) []StatementMatch {
	var out []StatementMatch
	for si := range p.compiled {
		s := &p.compiled[si]
		if resource && (s.principal == nil || s.principal.matches(&req.Principal, !s.allow) == s.notPrincipal) {
			continue
		}
		if !s.actionMatches(req.Action) || !s.resourceMatches(req) {
			continue
		}
		m := StatementMatch{Statement: si, Allow: s.allow, Applies: s.conditionsHold(req)}
		for i := range s.conds {
			c := &s.conds[i]
			if c.op == opNull || req.lookup(c.key).len() > 0 {
				continue
			}
			dup := false
			for _, k := range m.Missing {
				dup = dup || strings.EqualFold(k, c.key)
			}
			if !dup {
				m.Missing = append(m.Missing, c.key)
			}
		}
		out = append(out, m)
	}
	return out
}

// ContextKeys returns the condition keys of p's statements and the keys of
// the policy variables in their Resource and NotResource elements and
// condition values, as written, each once (compared case-insensitively):
// statement by statement, the variables of its resources, then its condition
// keys in the order of Statement.Condition (IAM's
// GetContextKeysForCustomPolicy).
func (p *Policy) ContextKeys() []string {
	var out []string
	add := func(k string) {
		for _, o := range out {
			if strings.EqualFold(o, k) {
				return
			}
		}
		out = append(out, k)
	}
	vars := func(s string) {
		if p.Version != Version2012 {
			return
		}
		for {
			i := strings.Index(s, "${")
			if i < 0 {
				return
			}
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return
			}
			name := s[i+2 : i+j]
			key, _, _ := strings.Cut(name, ",")
			if key = strings.TrimSpace(key); key != "*" && key != "?" && key != "$" && key != "" {
				add(key)
			}
			s = s[i+j+1:]
		}
	}
	for _, st := range p.Statements {
		for _, r := range st.Resource {
			vars(r)
		}
		for _, r := range st.NotResource {
			vars(r)
		}
		for _, c := range st.Condition {
			add(c.Key)
			for _, v := range c.Values {
				vars(v)
			}
		}
	}
	return out
}
