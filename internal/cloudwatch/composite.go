package cloudwatch

import (
	"strings"
	"unicode/utf8"
)

// Composite alarm rules (PutCompositeAlarm AlarmRule), as AWS documents them:
//
//	rule     = or
//	or       = and { "OR" and }
//	and      = not { "AND" not }
//	not      = "NOT" not | primary
//	primary  = "(" rule ")" | "TRUE" | "FALSE" | state "(" alarm ")"
//	state    = "ALARM" | "OK" | "INSUFFICIENT_DATA"
//	alarm    = a name or an alarm ARN, between double quotes (\" and \\ escape a quote
//	           and a backslash) or not (then everything up to the next ")", trimmed)
//
// Keywords are case-insensitive (AWS's documentation writes both TRUE and false). A
// function is TRUE when the named alarm is in that state: a child in INSUFFICIENT_DATA
// makes ALARM(child) and OK(child) FALSE and INSUFFICIENT_DATA(child) TRUE. The composite
// alarm is in ALARM when its rule is TRUE, else OK.

// Bounds of a rule, as AWS documents them.
const (
	maxRuleLength   = 10240
	maxRuleChildren = 100 // distinct alarms
	maxRuleElements = 500 // alarms, TRUE/FALSE and parentheses
)

// ruleNode is a node of a parsed rule.
type ruleNode struct {
	op    byte // 'c' constant, 'f' state function, '!' NOT, '&' AND, '|' OR
	val   bool // 'c'
	state string
	alarm string // 'f': the name or ARN as written
	kids  []*ruleNode
}

// ruleError is a syntax error of a rule (ValidationError).
func ruleError(format string, a ...any) *Error {
	return cwErr("ValidationError", "Error in AlarmRule: "+format, a...)
}

type ruleParser struct {
	s        string
	i        int
	elements int
	depth    int
}

// parseRule parses an AlarmRule. It checks the syntax and the element bound only; the
// alarms it names are resolved by the caller.
func parseRule(s string) (*ruleNode, error) {
	switch {
	case s == "":
		return nil, missing("AlarmRule")
	case len(s) > maxRuleLength:
		return nil, invalid("The parameter AlarmRule must be at most %d characters.", maxRuleLength)
	case !utf8.ValidString(s):
		return nil, ruleError("the rule is not valid UTF-8.")
	}
	p := &ruleParser{s: s}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, ruleError("unexpected %q at position %d.", p.rest(), p.i+1)
	}
	if p.elements > maxRuleElements {
		return nil, ruleError("the rule has %d elements; at most %d are allowed.", p.elements, maxRuleElements)
	}
	return n, nil
}

func (p *ruleParser) rest() string {
	r := p.s[p.i:]
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return r
}

func (p *ruleParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

// word returns the keyword at the cursor (letters and underscores), without consuming it.
func (p *ruleParser) word() string {
	p.space()
	j := p.i
	for j < len(p.s) && (p.s[j] == '_' || (p.s[j] >= 'A' && p.s[j] <= 'Z') || (p.s[j] >= 'a' && p.s[j] <= 'z')) {
		j++
	}
	return strings.ToUpper(p.s[p.i:j])
}

// keyword consumes the keyword kw (case-insensitive) when it is next, followed by a
// character that cannot continue it.
func (p *ruleParser) keyword(kw string) bool {
	if p.word() != kw {
		return false
	}
	p.i += len(kw)
	return true
}

const maxRuleDepth = 200

func (p *ruleParser) or() (*ruleNode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxRuleDepth {
		return nil, ruleError("the rule is nested too deeply.")
	}
	n, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("OR") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		if n.op == '|' {
			n.kids = append(n.kids, r)
		} else {
			n = &ruleNode{op: '|', kids: []*ruleNode{n, r}}
		}
	}
	return n, nil
}

func (p *ruleParser) and() (*ruleNode, error) {
	n, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.keyword("AND") {
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		if n.op == '&' {
			n.kids = append(n.kids, r)
		} else {
			n = &ruleNode{op: '&', kids: []*ruleNode{n, r}}
		}
	}
	return n, nil
}

func (p *ruleParser) not() (*ruleNode, error) {
	if p.keyword("NOT") {
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxRuleDepth {
			return nil, ruleError("the rule is nested too deeply.")
		}
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		return &ruleNode{op: '!', kids: []*ruleNode{n}}, nil
	}
	return p.primary()
}

func (p *ruleParser) primary() (*ruleNode, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, ruleError("unexpected end of the rule.")
	}
	if p.s[p.i] == '(' {
		p.i++
		p.elements += 2
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, ruleError("missing ) at position %d.", p.i+1)
		}
		p.i++
		return n, nil
	}
	w := p.word()
	switch w {
	case "TRUE", "FALSE":
		p.i += len(w)
		p.elements++
		return &ruleNode{op: 'c', val: w == "TRUE"}, nil
	case StateAlarm, StateOK, StateInsufficientData:
		p.i += len(w)
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '(' {
			return nil, ruleError("%s must be followed by (alarm name or ARN) at position %d.", w, p.i+1)
		}
		p.i++
		name, err := p.alarmName()
		if err != nil {
			return nil, err
		}
		p.elements++
		return &ruleNode{op: 'f', state: w, alarm: name}, nil
	case "":
		return nil, ruleError("unexpected %q at position %d.", p.rest(), p.i+1)
	}
	return nil, ruleError("unknown function or keyword %s at position %d (ALARM, OK, INSUFFICIENT_DATA, TRUE, FALSE, AND, OR, NOT).", w, p.i+1)
}

// alarmName reads the argument of a state function and its closing parenthesis.
func (p *ruleParser) alarmName() (string, error) {
	p.space()
	var name string
	if p.i < len(p.s) && p.s[p.i] == '"' {
		var b strings.Builder
		p.i++
		for {
			if p.i >= len(p.s) {
				return "", ruleError("unterminated quoted alarm name.")
			}
			c := p.s[p.i]
			if c == '"' {
				p.i++
				break
			}
			if c == '\\' && p.i+1 < len(p.s) && (p.s[p.i+1] == '"' || p.s[p.i+1] == '\\') {
				c = p.s[p.i+1]
				p.i++
			}
			b.WriteByte(c)
			p.i++
		}
		name = b.String()
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return "", ruleError("missing ) after the quoted alarm name at position %d.", p.i+1)
		}
	} else {
		j := strings.IndexByte(p.s[p.i:], ')')
		if j < 0 {
			return "", ruleError("missing ) after the alarm name.")
		}
		name = strings.TrimSpace(p.s[p.i : p.i+j])
		if strings.ContainsAny(name, "(\"") {
			return "", ruleError("invalid alarm name %q (quote a name that has parentheses or quotes).", name)
		}
		p.i += j
	}
	p.i++ // ")"
	if name == "" {
		return "", ruleError("empty alarm name.")
	}
	if len(name) > 1600 {
		return "", ruleError("alarm name or ARN too long.")
	}
	return name, nil
}

// eval evaluates the rule with the state of each alarm (by the name written in the rule).
func (n *ruleNode) eval(state func(alarm string) string) bool {
	switch n.op {
	case 'c':
		return n.val
	case 'f':
		return state(n.alarm) == n.state
	case '!':
		return !n.kids[0].eval(state)
	case '&':
		for _, k := range n.kids {
			if !k.eval(state) {
				return false
			}
		}
		return true
	case '|':
		for _, k := range n.kids {
			if k.eval(state) {
				return true
			}
		}
		return false
	}
	return false
}

// alarms returns the alarms the rule names, as written, in order of first appearance.
func (n *ruleNode) alarms() []string {
	var out []string
	seen := map[string]bool{}
	var walk func(*ruleNode)
	walk = func(n *ruleNode) {
		if n.op == 'f' && !seen[n.alarm] {
			seen[n.alarm] = true
			out = append(out, n.alarm)
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(n)
	return out
}

// ruleAlarmName resolves an alarm named in the rule of a composite alarm of region (a
// name, or an alarm ARN of that region and this account) to its name.
func (s *Service) ruleAlarmName(region, ref string) (string, error) {
	if !strings.HasPrefix(ref, "arn:") {
		return ref, nil
	}
	p := strings.SplitN(ref, ":", 7)
	if len(p) != 7 || p[2] != "cloudwatch" || p[5] != "alarm" || p[6] == "" {
		return "", ruleError("%s is not an alarm ARN.", ref)
	}
	if p[3] != region || p[4] != s.cfg.AccountID {
		return "", ruleError("alarm %s is not in this region and account (a composite alarm's alarms must be).", ref)
	}
	return p[6], nil
}
