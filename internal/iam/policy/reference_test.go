package policy

// A deliberately plain reference evaluator for the differential test. It
// re-decodes the JSON document on every call and matches naively; it shares
// no code with the package except the Request type and Decision types.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// refGlob is the textbook recursive wildcard matcher.
func refGlob(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		return refGlob(p[1:], s) || (s != "" && refGlob(p, s[1:]))
	case '?':
		return s != "" && refGlob(p[1:], s[1:])
	}
	return s != "" && p[0] == s[0] && refGlob(p[1:], s[1:])
}

func refList(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case json.Number:
		return []string{x.String()}
	case bool:
		return []string{strconv.FormatBool(x)}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, refList(e)...)
		}
		return out
	}
	return nil
}

// refLookup finds a key's values in the request, case-insensitively.
func refLookup(req *Request, key string) []string {
	lk := strings.ToLower(key)
	for k, v := range req.Context {
		if strings.ToLower(k) == lk {
			return v
		}
	}
	p := req.Principal
	opt := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	switch lk {
	case "aws:principalarn":
		return opt(p.ARN)
	case "aws:principalaccount":
		return opt(p.Account)
	case "aws:username":
		return opt(p.Username)
	case "aws:userid":
		return opt(p.UserID)
	}
	if strings.HasPrefix(lk, "aws:principaltag/") {
		for k, v := range p.Tags {
			if strings.ToLower(k) == lk[len("aws:principaltag/"):] {
				return []string{v}
			}
		}
	}
	return nil
}

func refExpand(s string, req *Request) (string, bool) {
	out := ""
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out + s, true
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			return out + s, true
		}
		name := s[i+2 : i+j]
		val := name
		if name != "*" && name != "?" && name != "$" {
			parts := strings.SplitN(name, ",", 2)
			vs := refLookup(req, strings.TrimSpace(parts[0]))
			switch {
			case len(vs) == 1:
				val = vs[0]
			case len(vs) == 0 && len(parts) == 2:
				d := strings.TrimSpace(parts[1])
				if len(d) < 2 || !strings.HasPrefix(d, "'") || !strings.HasSuffix(d, "'") {
					return "", false
				}
				val = d[1 : len(d)-1]
			default:
				return "", false
			}
			if strings.ContainsAny(val, "*?") {
				return "", false
			}
		}
		out += s[:i] + val
		s = s[i+j+1:]
	}
}

func refTime(s string) (time.Time, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func refNum(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

func refRel(rel string, c int) bool {
	switch rel {
	case "Equals":
		return c == 0
	case "LessThan":
		return c < 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThan":
		return c > 0
	}
	return c >= 0
}

// refMatchOne reports whether request value rv matches policy value pv
// under the positive operator base. ok is false if rv is not valid input.
func refMatchOne(base, pv, rv string, vars bool, req *Request) (m, ok bool) {
	switch base {
	case "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnLike", "ArnEquals":
		if vars {
			var ok2 bool
			if pv, ok2 = refExpand(pv, req); !ok2 {
				return false, true
			}
		}
		switch base {
		case "StringEquals":
			return pv == rv, true
		case "StringEqualsIgnoreCase":
			return strings.ToLower(pv) == strings.ToLower(rv), true
		case "StringLike":
			return refGlob(pv, rv), true
		}
		pp, rp := strings.SplitN(pv, ":", 6), strings.SplitN(rv, ":", 6)
		if len(pp) != 6 || len(rp) != 6 {
			return false, true
		}
		for i := range pp {
			if !refGlob(pp[i], rp[i]) {
				return false, true
			}
		}
		return true, true
	case "Bool":
		return strings.ToLower(pv) == strings.ToLower(rv), true
	case "IpAddress":
		a, err := netip.ParseAddr(rv)
		if err != nil {
			return false, false
		}
		if !strings.Contains(pv, "/") {
			b, _ := netip.ParseAddr(pv)
			return a.Unmap() == b || a == b, true
		}
		p, _ := netip.ParsePrefix(pv)
		return p.Contains(a.Unmap()) || p.Contains(a), true
	case "BinaryEquals":
		b, err := base64.StdEncoding.DecodeString(rv)
		if err != nil {
			return false, false
		}
		pb, _ := base64.StdEncoding.DecodeString(pv)
		return bytes.Equal(b, pb), true
	}
	if rel, ok := strings.CutPrefix(base, "Date"); ok {
		rt, ok := refTime(rv)
		if !ok {
			return false, false
		}
		pt, _ := refTime(pv)
		return refRel(rel, rt.Compare(pt)), true
	}
	rel := strings.TrimPrefix(base, "Numeric")
	rf, ok := refNum(rv)
	if !ok {
		return false, false
	}
	pf, _ := refNum(pv)
	c := 0
	if rf < pf {
		c = -1
	} else if rf > pf {
		c = 1
	}
	return refRel(rel, c), true
}

func refCondition(op, key string, pvals []string, vars bool, req *Request) bool {
	set := ""
	if s, rest, ok := strings.Cut(op, ":"); ok {
		set, op = s, rest
	}
	rvals := refLookup(req, key)
	if op == "Null" {
		for _, pv := range pvals {
			if pv == "true" && len(rvals) == 0 || pv == "false" && len(rvals) > 0 {
				return true
			}
		}
		return false
	}
	ifExists := false
	if b, ok := strings.CutSuffix(op, "IfExists"); ok {
		ifExists, op = true, b
	}
	negated := false
	base := op
	switch op {
	case "StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals", "DateNotEquals", "ArnNotEquals", "ArnNotLike":
		negated, base = true, strings.Replace(op, "Not", "", 1)
	case "NotIpAddress":
		negated, base = true, "IpAddress"
	}
	if len(rvals) == 0 {
		if ifExists || set == "ForAllValues" {
			return true
		}
		if set == "ForAnyValue" {
			return false
		}
		return negated
	}
	// sat reports whether one request value satisfies the operator.
	sat := func(rv string) bool {
		any := false
		for _, pv := range pvals {
			m, ok := refMatchOne(base, pv, rv, vars, req)
			if !ok {
				return false
			}
			any = any || m
		}
		return any != negated
	}
	count := 0
	for _, rv := range rvals {
		if sat(rv) {
			count++
		}
	}
	switch {
	case set == "ForAllValues", set == "" && negated:
		return count == len(rvals)
	}
	return count > 0
}

func refPrincipalMatches(pr any, p *Principal, deny bool) bool {
	if pr == "*" {
		return true
	}
	m, _ := pr.(map[string]any)
	typ := p.Type
	if typ == "" {
		typ = "AWS"
	}
	for t, v := range m {
		for _, val := range refList(v) {
			if val == "*" {
				return true
			}
			if t != typ {
				continue
			}
			if t != "AWS" {
				if val == p.ARN {
					return true
				}
				continue
			}
			acct := ""
			if len(val) == 12 && strings.Trim(val, "0123456789") == "" {
				acct = val
			} else if parts := strings.Split(val, ":"); len(parts) == 6 && parts[2] == "iam" && parts[5] == "root" && len(parts[4]) == 12 && strings.Trim(parts[4], "0123456789") == "" {
				acct = parts[4]
			}
			if acct != "" {
				if deny && acct == p.Account || p.ARN == "arn:aws:iam::"+acct+":root" {
					return true
				}
				continue
			}
			if val == p.ARN {
				return true
			}
			// A role ARN matches its sessions.
			if parts := strings.SplitN(p.ARN, ":", 6); len(parts) == 6 && parts[2] == "sts" {
				if rs := strings.Split(parts[5], "/"); len(rs) >= 3 && rs[0] == "assumed-role" &&
					val == "arn:"+parts[1]+":iam::"+parts[4]+":role/"+rs[1] {
					return true
				}
			}
		}
	}
	return false
}

// refApplies evaluates one statement. With resource the Principal must match
// the caller; with root, Principal must name the caller's account root (or
// everyone); otherwise Principal is ignored.
func refApplies(st map[string]any, req *Request, vars bool, resource bool, root ...bool) bool {
	deny := st["Effect"] == "Deny"
	if len(root) > 0 && root[0] {
		rootReq := *req
		rootReq.Principal = Principal{ARN: "arn:aws:iam::" + req.Principal.Account + ":root", Account: req.Principal.Account}
		pr, ok := st["Principal"]
		if !ok || req.Principal.Account == "" || !refPrincipalMatches(pr, &rootReq.Principal, false) {
			return false
		}
	} else if resource {
		pr, not := st["Principal"], false
		if pr == nil {
			pr, not = st["NotPrincipal"], true
		}
		if pr == nil || refPrincipalMatches(pr, &req.Principal, deny) == not {
			return false
		}
	}
	acts, not := st["Action"], false
	if acts == nil {
		acts, not = st["NotAction"], true
	}
	hit := false
	for _, a := range refList(acts) {
		if refGlob(refLowerASCII(a), refLowerASCII(req.Action)) {
			hit = true
		}
	}
	if hit == not {
		return false
	}
	res, not := st["Resource"], false
	if res == nil {
		res, not = st["NotResource"], true
	}
	hit = false
	for _, r := range refList(res) {
		if vars && r != "*" {
			var ok bool
			if r, ok = refExpand(r, req); !ok {
				continue
			}
		}
		if refGlob(r, req.Resource) {
			hit = true
		}
	}
	if hit == not {
		return false
	}
	cond, _ := st["Condition"].(map[string]any)
	for op, body := range cond {
		for key, v := range body.(map[string]any) {
			if !refCondition(op, key, refList(v), vars, req) {
				return false
			}
		}
	}
	return true
}

func refStatements(doc []byte) ([]map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var top map[string]any
	if dec.Decode(&top) != nil {
		panic("reference: bad document")
	}
	var sts []map[string]any
	switch s := top["Statement"].(type) {
	case map[string]any:
		sts = append(sts, s)
	case []any:
		for _, e := range s {
			sts = append(sts, e.(map[string]any))
		}
	}
	return sts, top["Version"] == "2012-10-17"
}

// refDecide is Decide's reference: any applicable Deny denies, else any
// applicable Allow allows.
func refDecide(req *Request, identity, resource [][]byte) Reason {
	allowed := false
	for i, docs := range [][][]byte{identity, resource} {
		for _, doc := range docs {
			sts, vars := refStatements(doc)
			for _, st := range sts {
				if refApplies(st, req, vars, i == 1, false) {
					if st["Effect"] == "Deny" {
						return ExplicitDeny
					}
					allowed = true
				}
			}
		}
	}
	if allowed {
		return Allowed
	}
	return ImplicitDeny
}

// refKMSDecide is KMSDecide's reference.
func refKMSDecide(req *Request, key []byte, identity, grants [][]byte) Reason {
	keyAllow, rootAllow, idAllow, grantAllow := false, false, false, false
	type set struct {
		docs     [][]byte
		resource bool
		allow    *bool
	}
	for _, s := range []set{{[][]byte{key}, true, &keyAllow}, {identity, false, &idAllow}, {grants, false, &grantAllow}} {
		for _, doc := range s.docs {
			sts, vars := refStatements(doc)
			for _, st := range sts {
				if refApplies(st, req, vars, s.resource) {
					if st["Effect"] == "Deny" {
						return ExplicitDeny
					}
					*s.allow = true
				}
			}
		}
	}
	sts, vars := refStatements(key)
	for _, st := range sts {
		if st["Effect"] == "Allow" && refApplies(st, req, vars, true, true) {
			rootAllow = true
		}
	}
	if keyAllow || grantAllow || rootAllow && idAllow {
		return Allowed
	}
	return ImplicitDeny
}

func refLowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}
