package iam

import (
	"context"
	"encoding/base64"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-hsm/coffer/internal/iam/policy"
)

// The IAM policy simulator: SimulatePrincipalPolicy, SimulateCustomPolicy,
// GetContextKeysForPrincipalPolicy and GetContextKeysForCustomPolicy. Decisions are
// made by policy.Decide (and policy.KMSDecide for a KMS action on a key with a key policy
// given as ResourcePolicy), the functions that authorize real requests; the simulator
// only chooses the policies and builds the request context from its input.

// ContextEntry is one ContextEntries member.
type ContextEntry struct {
	ContextKeyName   string
	ContextKeyValues []string
	ContextKeyType   string
}

// SimulatePrincipalPolicyInput is SimulatePrincipalPolicy's request.
type SimulatePrincipalPolicyInput struct {
	PolicySourceArn                    string
	PolicyInputList                    []string
	PermissionsBoundaryPolicyInputList []string
	ActionNames                        []string
	ResourceArns                       []string
	ResourcePolicy                     string
	ResourceOwner                      string
	CallerArn                          string
	ResourceHandlingOption             string
	MaxItems                           int
	Marker                             string
	ContextEntries                     []ContextEntry
}

// SimulateCustomPolicyInput is SimulateCustomPolicy's request.
type SimulateCustomPolicyInput struct {
	PolicyInputList                    []string
	PermissionsBoundaryPolicyInputList []string
	ActionNames                        []string
	ResourceArns                       []string
	ResourcePolicy                     string
	ResourceOwner                      string
	CallerArn                          string
	ResourceHandlingOption             string
	MaxItems                           int
	Marker                             string
	ContextEntries                     []ContextEntry
}

// SimStatement is a MatchedStatements member.
type SimStatement struct {
	SourcePolicyId   string    `xml:"SourcePolicyId"`
	SourcePolicyType string    `xml:"SourcePolicyType"`
	StartPosition    *Position `xml:"StartPosition,omitempty"`
	EndPosition      *Position `xml:"EndPosition,omitempty"`
}

type simStatements struct {
	Members []SimStatement `xml:"member"`
}

type simKeys struct {
	Members []string `xml:"member"`
}

// DecisionDetailEntry is one entry of the EvalDecisionDetails map.
type DecisionDetailEntry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// DecisionDetails is the EvalDecisionDetails map (policy type -> decision).
type DecisionDetails struct {
	Entries []DecisionDetailEntry `xml:"entry"`
}

// BoundaryDecisionDetail is PermissionsBoundaryDecisionDetail.
type BoundaryDecisionDetail struct {
	AllowedByPermissionsBoundary bool `xml:"AllowedByPermissionsBoundary"`
}

// ResourceSpecificResult is a ResourceSpecificResults member.
type ResourceSpecificResult struct {
	EvalResourceName                  string                  `xml:"EvalResourceName"`
	EvalResourceDecision              string                  `xml:"EvalResourceDecision"`
	MatchedStatements                 simStatements           `xml:"MatchedStatements"`
	MissingContextValues              simKeys                 `xml:"MissingContextValues"`
	EvalDecisionDetails               *DecisionDetails        `xml:"EvalDecisionDetails,omitempty"`
	PermissionsBoundaryDecisionDetail *BoundaryDecisionDetail `xml:"PermissionsBoundaryDecisionDetail,omitempty"`
}

// EvaluationResult is an EvaluationResults member.
type EvaluationResult struct {
	EvalActionName                    string                   `xml:"EvalActionName"`
	EvalResourceName                  string                   `xml:"EvalResourceName,omitempty"`
	EvalDecision                      string                   `xml:"EvalDecision"`
	MatchedStatements                 simStatements            `xml:"MatchedStatements"`
	MissingContextValues              simKeys                  `xml:"MissingContextValues"`
	EvalDecisionDetails               *DecisionDetails         `xml:"EvalDecisionDetails,omitempty"`
	PermissionsBoundaryDecisionDetail *BoundaryDecisionDetail  `xml:"PermissionsBoundaryDecisionDetail,omitempty"`
	ResourceSpecificResults           []ResourceSpecificResult `xml:"ResourceSpecificResults>member,omitempty"`
}

// SimulatePolicyOutput is the SimulatePolicyResponse shape.
type SimulatePolicyOutput struct {
	EvaluationResults []EvaluationResult `xml:"EvaluationResults>member"`
	IsTruncated       bool               `xml:"IsTruncated"`
	Marker            string             `xml:"Marker,omitempty"`
}

// GetContextKeysForPrincipalPolicyInput is GetContextKeysForPrincipalPolicy's request.
type GetContextKeysForPrincipalPolicyInput struct {
	PolicySourceArn string
	PolicyInputList []string
}

// GetContextKeysForCustomPolicyInput is GetContextKeysForCustomPolicy's request.
type GetContextKeysForCustomPolicyInput struct {
	PolicyInputList []string
}

// GetContextKeysOutput is the GetContextKeysForPolicyResponse shape.
type GetContextKeysOutput struct {
	ContextKeyNames simKeys `xml:"ContextKeyNames"`
}

// Decision names of the simulator.
const (
	evalAllowed      = "allowed"
	evalExplicitDeny = "explicitDeny"
	evalImplicitDeny = "implicitDeny"
)

// simPolicy is one policy of a simulation.
type simPolicy struct {
	src   policySrc
	p     *policy.Policy
	spans []statementSpan
}

func (sp *simPolicy) statement(i int) SimStatement {
	st := SimStatement{SourcePolicyId: sp.src.ID, SourcePolicyType: sp.src.Type}
	if i < len(sp.spans) {
		st.StartPosition, st.EndPosition = &sp.spans[i].Start, &sp.spans[i].End
	}
	return st
}

// simulation is a validated simulation request.
type simulation struct {
	identity []*simPolicy // identity policies (IdentityLayer)
	boundary *simPolicy   // nil: none
	bounded  bool         // the principal has a boundary (boundary may still be nil: deleted)
	resource *simPolicy   // nil: none
	caller   policy.Principal
	owner    string // the resource owner's account ("" = the caller's)
	context  map[string][]string
	actions  []string
	res      []string
}

// simPolicyError is the InvalidInput error for an input policy that does not parse or
// does not fit its use (a principal in an identity policy, none in a resource policy).
func simPolicyError(field string, i int, err error) error {
	var reason string
	if pe, ok := err.(*policy.ParseError); ok {
		reason = pe.Reason
	} else {
		reason = err.Error()
	}
	if i > 0 {
		field += "." + strconv.Itoa(i)
	}
	return invalidInput("The policy %s is invalid: %s", field, reason)
}

func parseSimPolicy(field string, i int, src policySrc) (*simPolicy, error) {
	p, err := policy.Parse([]byte(src.Doc))
	if err != nil {
		return nil, simPolicyError(field, i, err)
	}
	return &simPolicy{src: src, p: p, spans: statementSpans(src.Doc)}, nil
}

func checkSimDocs(field string, docs []string) error {
	for i, d := range docs {
		if err := checkPolicyDocumentType(field+".member."+strconv.Itoa(i+1), d); err != nil {
			return err
		}
	}
	return nil
}

// checkPolicyDocumentType applies policyDocumentType's constraints (1..131072 characters of
// [\u0009\u000A\u000D\u0020-\u00FF]).
func checkPolicyDocumentType(field, doc string) error {
	n := utf8.RuneCountInString(doc)
	if n < 1 {
		return validation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length greater than or equal to 1", field)
	}
	if n > 131072 {
		return validation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to 131072", field)
	}
	for _, r := range doc {
		if !(r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xFF)) {
			return validation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+", field)
		}
	}
	return nil
}

// simCommon is what both Simulate operations take besides the policies.
type simCommon struct {
	ActionNames            []string
	ResourceArns           []string
	ResourcePolicy         string
	ResourceOwner          string
	CallerArn              string
	ResourceHandlingOption string
	MaxItems               int
	Marker                 string
	ContextEntries         []ContextEntry
}

func (c *simCommon) validate() error {
	if len(c.ActionNames) == 0 {
		return validation("1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null")
	}
	for i, a := range c.ActionNames {
		if n := utf8.RuneCountInString(a); n < 3 || n > 128 {
			return validation("1 validation error detected: Value '%s' at 'actionNames.%d.member' failed to satisfy constraint: Member must have length between 3 and 128", a, i+1)
		}
	}
	for i, r := range c.ResourceArns {
		if n := utf8.RuneCountInString(r); n < 1 || n > 2048 {
			return validation("1 validation error detected: Value '%s' at 'resourceArns.%d.member' failed to satisfy constraint: Member must have length between 1 and 2048", r, i+1)
		}
	}
	if c.ResourcePolicy != "" {
		if err := checkPolicyDocumentType("resourcePolicy", c.ResourcePolicy); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{{"resourceOwner", c.ResourceOwner}, {"callerArn", c.CallerArn}} {
		if utf8.RuneCountInString(f.v) > 2048 {
			return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 2048", f.v, f.name)
		}
	}
	if utf8.RuneCountInString(c.ResourceHandlingOption) > 64 {
		return validation("1 validation error detected: Value '%s' at 'resourceHandlingOption' failed to satisfy constraint: Member must have length less than or equal to 64", c.ResourceHandlingOption)
	}
	if c.ResourceHandlingOption != "" && !slices.Contains(resourceHandlingOptions, c.ResourceHandlingOption) {
		return invalidInput("Invalid ResourceHandlingOption %s: it must be one of %s.", c.ResourceHandlingOption, strings.Join(resourceHandlingOptions, ", "))
	}
	if c.MaxItems > 1000 {
		return validation("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000", c.MaxItems)
	}
	if n := utf8.RuneCountInString(c.Marker); n > 320 {
		return validation("1 validation error detected: Value '%s' at 'marker' failed to satisfy constraint: Member must have length less than or equal to 320", c.Marker)
	}
	for i, e := range c.ContextEntries {
		if n := utf8.RuneCountInString(e.ContextKeyName); n < 5 || n > 256 {
			return validation("1 validation error detected: Value '%s' at 'contextEntries.%d.member.contextKeyName' failed to satisfy constraint: Member must have length between 5 and 256", e.ContextKeyName, i+1)
		}
		if !slices.Contains(contextKeyTypes, e.ContextKeyType) {
			return validation("1 validation error detected: Value '%s' at 'contextEntries.%d.member.contextKeyType' failed to satisfy constraint: Member must satisfy enum value set: [%s]", e.ContextKeyType, i+1, strings.Join(contextKeyTypes, ", "))
		}
	}
	return nil
}

// resourceHandlingOptions are the EC2 scenarios of ResourceHandlingOption (IAM User Guide,
// "Supported EC2 scenarios"); the simulator accepts them and does not model them.
var resourceHandlingOptions = []string{"EC2-Classic-InstanceStore", "EC2-Classic-EBS", "EC2-VPC-InstanceStore",
	"EC2-VPC-InstanceStore-Subnet", "EC2-VPC-EBS", "EC2-VPC-EBS-Subnet"}

var contextKeyTypes = []string{"string", "stringList", "numeric", "numericList", "boolean", "booleanList", "ip", "ipList", "binary", "binaryList", "date", "dateList"}

// contextMap checks the values of the context entries against their types and returns the
// request context: key -> values (boolean values in lower case, as requests carry them).
func contextMap(entries []ContextEntry) (map[string][]string, error) {
	ctx := make(map[string][]string, len(entries))
	for _, e := range entries {
		typ, list := strings.CutSuffix(e.ContextKeyType, "List")
		if !list && len(e.ContextKeyValues) > 1 {
			return nil, invalidInput("Context key %s of type %s takes a single value; use the type %sList for several.", e.ContextKeyName, e.ContextKeyType, e.ContextKeyType)
		}
		vals := make([]string, 0, len(e.ContextKeyValues))
		for _, v := range e.ContextKeyValues {
			ok := true
			switch typ {
			case "numeric":
				_, err := strconv.ParseFloat(v, 64)
				ok = err == nil
			case "boolean":
				lv := strings.ToLower(v)
				ok = lv == "true" || lv == "false"
				v = lv
			case "ip":
				if _, err := netip.ParsePrefix(v); err != nil {
					_, err = netip.ParseAddr(v)
					ok = err == nil
				}
			case "binary":
				_, err := base64.StdEncoding.DecodeString(v)
				ok = err == nil
			case "date":
				ok = isSimDate(v)
			}
			if !ok {
				return nil, invalidInput("Value %s for context key %s is not a valid %s.", v, e.ContextKeyName, typ)
			}
			vals = append(vals, v)
		}
		// Keys are case-insensitive: a later entry for the same key replaces an earlier one.
		for k := range ctx {
			if strings.EqualFold(k, e.ContextKeyName) {
				delete(ctx, k)
			}
		}
		ctx[e.ContextKeyName] = vals
	}
	return ctx, nil
}

// isSimDate accepts the date forms of the Date condition operators: ISO 8601 (RFC 3339,
// or a date alone) and epoch seconds.
func isSimDate(v string) bool {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if _, err := time.Parse(layout, v); err == nil {
			return true
		}
	}
	return false
}

// callerPrincipal checks CallerArn (only an IAM user's ARN) and returns the principal.
func callerPrincipal(arn string) (policy.Principal, error) {
	p, ok := parseARN(arn)
	if !ok || p.Service != "iam" || p.Kind != "user" || len(p.Account) != 12 {
		return policy.Principal{}, invalidInput("Invalid CallerArn %s: only the ARN of an IAM user can be the caller.", arn)
	}
	return policy.Principal{ARN: arn, Account: p.Account}, nil
}

// ownerAccount is the account of ResourceOwner (an account root ARN, or any IAM ARN of
// the account).
func ownerAccount(owner string) (string, error) {
	if owner == "" {
		return "", nil
	}
	parts := strings.SplitN(owner, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || len(parts[4]) != 12 {
		return "", invalidInput("Invalid ResourceOwner %s: it must be an ARN that names an account, such as arn:aws:iam::123456789012:root.", owner)
	}
	for _, c := range parts[4] {
		if c < '0' || c > '9' {
			return "", invalidInput("Invalid ResourceOwner %s: it must be an ARN that names an account, such as arn:aws:iam::123456789012:root.", owner)
		}
	}
	return parts[4], nil
}

// build fills the parts of the simulation common to both operations.
func (sim *simulation) build(c *simCommon, boundaryDocs []string) error {
	if err := c.validate(); err != nil {
		return err
	}
	ctx, err := contextMap(c.ContextEntries)
	if err != nil {
		return err
	}
	sim.context = ctx
	sim.actions = c.ActionNames
	sim.res = c.ResourceArns
	for i, d := range boundaryDocs {
		bp, err := parseSimPolicy("PermissionsBoundaryPolicyInputList", i+1, policySrc{Type: "none", ID: "PermissionsBoundaryPolicyInputList." + strconv.Itoa(i+1), Doc: d})
		if err != nil {
			return err
		}
		if err := bp.p.ValidateIdentity(); err != nil {
			return simPolicyError("PermissionsBoundaryPolicyInputList", i+1, err)
		}
		// An entity has one boundary: the last one given is the one simulated.
		sim.boundary, sim.bounded = bp, true
	}
	if c.ResourcePolicy != "" {
		rp, err := parseSimPolicy("ResourcePolicy", 0, policySrc{Type: "resource", ID: "ResourcePolicy", Doc: c.ResourcePolicy})
		if err != nil {
			return err
		}
		if err := rp.p.ValidateResource(); err != nil {
			return simPolicyError("ResourcePolicy", 0, err)
		}
		sim.resource = rp
	}
	if sim.owner, err = ownerAccount(c.ResourceOwner); err != nil {
		return err
	}
	return nil
}

func (sim *simulation) addInputPolicies(docs []string) error {
	for i, d := range docs {
		sp, err := parseSimPolicy("PolicyInputList", i+1, policySrc{Type: "none", ID: "PolicyInputList." + strconv.Itoa(i+1), Doc: d})
		if err != nil {
			return err
		}
		if err := sp.p.ValidateIdentity(); err != nil {
			return simPolicyError("PolicyInputList", i+1, err)
		}
		sim.identity = append(sim.identity, sp)
	}
	return nil
}

// newSimulation checks the policy documents both simulators take (PolicyInputList,
// PermissionsBoundaryPolicyInputList) and builds the simulation of common with the
// boundaries given.
func newSimulation(common *simCommon, inputs, boundaries []string) (*simulation, error) {
	if err := checkSimDocs("policyInputList", inputs); err != nil {
		return nil, err
	}
	if err := checkSimDocs("permissionsBoundaryPolicyInputList", boundaries); err != nil {
		return nil, err
	}
	sim := &simulation{}
	if err := sim.build(common, boundaries); err != nil {
		return nil, err
	}
	return sim, nil
}

// SimulatePrincipalPolicy simulates the policies of a user (with its groups' policies and
// its permissions boundary), a group or a role, plus PolicyInputList.
func (s *Service) SimulatePrincipalPolicy(ctx context.Context, c Caller, in SimulatePrincipalPolicyInput) (*SimulatePolicyOutput, error) {
	if err := checkArnType("policySourceArn", in.PolicySourceArn); err != nil {
		return nil, err
	}
	common := simCommon{ActionNames: in.ActionNames, ResourceArns: in.ResourceArns, ResourcePolicy: in.ResourcePolicy,
		ResourceOwner: in.ResourceOwner, CallerArn: in.CallerArn, ResourceHandlingOption: in.ResourceHandlingOption,
		MaxItems: in.MaxItems, Marker: in.Marker, ContextEntries: in.ContextEntries}
	sim, err := newSimulation(&common, in.PolicyInputList, in.PermissionsBoundaryPolicyInputList)
	if err != nil {
		return nil, err
	}
	src, err := s.sourceEntity(c, in.PolicySourceArn)
	if err != nil {
		return nil, err
	}
	if err := s.principalPolicies(sim, src, in.PermissionsBoundaryPolicyInputList != nil); err != nil {
		return nil, err
	}
	if err := sim.addInputPolicies(in.PolicyInputList); err != nil {
		return nil, err
	}
	switch {
	case in.CallerArn != "":
		if sim.caller, err = callerPrincipal(in.CallerArn); err != nil {
			return nil, err
		}
	case src.kind == kindUser:
		sim.caller = policy.Principal{ARN: src.arn, Account: src.account}
	case sim.resource != nil:
		return nil, invalidInput("CallerArn is required when a ResourcePolicy is given and the PolicySourceArn is not the ARN of an IAM user.")
	default:
		sim.caller = policy.Principal{ARN: src.arn, Account: src.account}
	}
	return sim.run(common.MaxItems, common.Marker)
}

// SimulateCustomPolicy simulates the policies of PolicyInputList.
func (s *Service) SimulateCustomPolicy(ctx context.Context, c Caller, in SimulateCustomPolicyInput) (*SimulatePolicyOutput, error) {
	if in.PolicyInputList == nil {
		return nil, validation("1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null")
	}
	common := simCommon{ActionNames: in.ActionNames, ResourceArns: in.ResourceArns, ResourcePolicy: in.ResourcePolicy,
		ResourceOwner: in.ResourceOwner, CallerArn: in.CallerArn, ResourceHandlingOption: in.ResourceHandlingOption,
		MaxItems: in.MaxItems, Marker: in.Marker, ContextEntries: in.ContextEntries}
	sim, err := newSimulation(&common, in.PolicyInputList, in.PermissionsBoundaryPolicyInputList)
	if err != nil {
		return nil, err
	}
	if err := sim.addInputPolicies(in.PolicyInputList); err != nil {
		return nil, err
	}
	switch {
	case in.CallerArn != "":
		if sim.caller, err = callerPrincipal(in.CallerArn); err != nil {
			return nil, err
		}
	case sim.resource != nil:
		return nil, invalidInput("CallerArn is required when a ResourcePolicy is given.")
	default:
		sim.caller = policy.Principal{Account: c.Account}
	}
	return sim.run(common.MaxItems, common.Marker)
}

// checkArnType applies arnType's length (20..2048).
func checkArnType(field, v string) error {
	if v == "" {
		return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	if n := utf8.RuneCountInString(v); n < 20 {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to 20", v, field)
	} else if n > 2048 {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 2048", v, field)
	}
	return nil
}

// sourceRef is the entity of a PolicySourceArn.
type sourceRef struct {
	kind, arn, account string
	entity             *entity
}

// sourceEntity resolves PolicySourceArn: a user, group or role of the caller's account.
func (s *Service) sourceEntity(c Caller, arn string) (sourceRef, error) {
	p, ok := parseARN(arn)
	if !ok || p.Service != "iam" || (p.Kind != kindUser && p.Kind != kindGroup && p.Kind != kindRole) {
		return sourceRef{}, invalidInput("Invalid ARN %s: PolicySourceArn must be the ARN of an IAM user, group or role.", arn)
	}
	if p.Account != c.Account {
		return sourceRef{}, noSuch("The %s with name %s cannot be found.", p.Kind, p.Name)
	}
	s.mu.RLock()
	e := s.ents[entKey(p.Kind, p.Account, p.Name)]
	s.mu.RUnlock()
	if e == nil {
		return sourceRef{}, noSuch("The %s with name %s cannot be found.", p.Kind, p.Name)
	}
	return sourceRef{kind: p.Kind, arn: e.arn(), account: e.Account, entity: e}, nil
}

// principalPolicies adds the identity policies of the source entity (for a user, those of
// its groups too) and, unless replaced, its permissions boundary.
func (s *Service) principalPolicies(sim *simulation, src sourceRef, boundaryGiven bool) error {
	var srcs []policySrc
	var boundary *policySrc
	bounded := false
	s.mu.RLock()
	switch src.kind {
	case kindGroup:
		s.entitySourcesLocked(src.entity, func(p policySrc) { srcs = append(srcs, p) })
	default:
		e, err := s.identitySourcesLocked(src.arn, func(p policySrc) { srcs = append(srcs, p) })
		if err != nil {
			s.mu.RUnlock()
			return err
		}
		if e != nil && e.Boundary != "" {
			bounded = true
			if m, err := s.managedLocked(e.Account, e.Boundary); err == nil {
				typ := "user-managed"
				if m.AWS {
					typ = "aws-managed"
				}
				boundary = &policySrc{Type: typ, ID: m.Name, Doc: m.defaultDoc()}
			}
		}
	}
	s.mu.RUnlock()
	for _, p := range srcs {
		sp, err := parseSimPolicy(p.ID, 0, p)
		if err != nil {
			return iamErr("PolicyEvaluation", "The policy %s of %s cannot be evaluated.", p.ID, src.arn)
		}
		sim.identity = append(sim.identity, sp)
	}
	if boundaryGiven {
		return nil
	}
	sim.bounded = bounded
	if boundary != nil {
		bp, err := parseSimPolicy(boundary.ID, 0, *boundary)
		if err != nil {
			return iamErr("PolicyEvaluation", "The permissions boundary %s of %s cannot be evaluated.", boundary.ID, src.arn)
		}
		sim.boundary = bp
	}
	return nil
}

// run evaluates the page of actions.
func (sim *simulation) run(maxItems int, marker string) (*SimulatePolicyOutput, error) {
	if maxItems == 0 {
		maxItems = 100
	}
	if maxItems >= 1 && maxItems <= 1000 {
		// Each action of a page is evaluated on every resource: a page holds at most
		// maxSimEvaluations of those (and at least one action), so that one request
		// cannot ask for millions of evaluations (1000 actions by tens of thousands of
		// ResourceArns fit in a request body). IAM may answer fewer than MaxItems
		// results; the Marker gives the rest.
		maxItems = min(maxItems, max(1, maxSimEvaluations/max(1, len(sim.res))))
	}
	page, trunc, next, err := paginate(sim.actions, marker, maxItems)
	if err != nil {
		return nil, err
	}
	out := &SimulatePolicyOutput{EvaluationResults: []EvaluationResult{}, IsTruncated: trunc, Marker: next}
	for _, action := range page {
		out.EvaluationResults = append(out.EvaluationResults, sim.evaluate(action))
	}
	return out, nil
}

// maxSimEvaluations is how many action-resource evaluations a page of results holds at
// most (the actions of a page times the ResourceArns).
const maxSimEvaluations = 10000

// identityPolicies are the identity argument of policy.Decide: the identity policies, then
// the boundary (policy.BoundaryLayer; an empty one when the boundary policy is gone).
func (sim *simulation) identityPolicies() []*policy.Policy {
	out := make([]*policy.Policy, 0, len(sim.identity)+1)
	for _, sp := range sim.identity {
		out = append(out, sp.p)
	}
	switch {
	case sim.boundary != nil:
		out = append(out, sim.boundary.p.As(policy.BoundaryLayer))
	case sim.bounded:
		out = append(out, policy.EmptyLayer(policy.BoundaryLayer))
	}
	return out
}

// one is the simulation of an action on one resource.
type one struct {
	decision string
	matched  []SimStatement
	missing  []string
	details  *DecisionDetails
	boundary *BoundaryDecisionDetail
}

func decisionName(d policy.Decision) string {
	switch d.Reason {
	case policy.Allowed:
		return evalAllowed
	case policy.ExplicitDeny:
		return evalExplicitDeny
	}
	return evalImplicitDeny
}

// isKMSKey reports whether a KMS action on resource is decided by KMS's key policy rule.
func isKMSKey(action, resource string) bool {
	if !strings.HasPrefix(strings.ToLower(action), "kms:") {
		return false
	}
	parts := strings.SplitN(resource, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && parts[2] == "kms" && strings.HasPrefix(parts[5], "key/")
}

// decide simulates action on resource.
func (sim *simulation) decide(action, resource string) one {
	req := &policy.Request{Principal: sim.caller, Action: action, Resource: resource, Context: sim.context}
	identity := sim.identityPolicies()
	var resPols []*policy.Policy
	if sim.resource != nil {
		resPols = []*policy.Policy{sim.resource.p}
	}
	owner := sim.owner
	if owner == "" {
		if parts := strings.SplitN(resource, ":", 6); len(parts) == 6 && parts[0] == "arn" && parts[4] != "" {
			owner = parts[4]
		}
	}
	cross := owner != "" && sim.caller.Account != "" && owner != sim.caller.Account
	var r one
	var d policy.Decision
	switch {
	case cross:
		// Across accounts both the caller's account (identity policies, boundary) and the
		// resource's (its resource policy) must allow: each is decided on its own.
		di := policy.Decide(req, identity, nil)
		dr := policy.Decide(req, nil, resPols)
		r.details = &DecisionDetails{Entries: []DecisionDetailEntry{{Key: "IAM Policy", Value: decisionName(di)}, {Key: "Resource Policy", Value: decisionName(dr)}}}
		switch {
		case di.Reason == policy.ExplicitDeny:
			d = di
		case dr.Reason == policy.ExplicitDeny:
			d = dr
		case !di.Allowed:
			d = di
		case !dr.Allowed:
			d = dr
		default:
			d = di
		}
	case sim.resource != nil && isKMSKey(action, resource):
		d = policy.KMSDecide(req, sim.resource.p, identity, nil)
	default:
		d = policy.Decide(req, identity, resPols)
	}
	if !cross && resource != "*" {
		r.details = &DecisionDetails{}
	}
	r.decision = decisionName(d)

	// The statements behind the decision, and the condition keys the request lacks, of
	// every policy whose statements match the action and resource.
	type explained struct {
		sp  *simPolicy
		res bool
		ms  []policy.StatementMatch
	}
	var all []explained
	for _, sp := range sim.identity {
		all = append(all, explained{sp, false, sp.p.Explain(req, false)})
	}
	if sim.boundary != nil {
		all = append(all, explained{sim.boundary, false, sim.boundary.p.Explain(req, false)})
	}
	if sim.resource != nil {
		all = append(all, explained{sim.resource, true, sim.resource.p.Explain(req, true)})
	}
	for _, e := range all {
		for _, m := range e.ms {
			for _, k := range m.Missing {
				if !slices.ContainsFunc(r.missing, func(o string) bool { return strings.EqualFold(o, k) }) {
					r.missing = append(r.missing, k)
				}
			}
			if !m.Applies {
				continue
			}
			switch {
			case d.Reason == policy.ExplicitDeny && !m.Allow:
				r.matched = append(r.matched, e.sp.statement(m.Statement))
			case d.Reason == policy.Allowed && m.Allow && e.sp != sim.boundary:
				r.matched = append(r.matched, e.sp.statement(m.Statement))
			}
		}
	}
	if sim.bounded {
		allowed := false
		if sim.boundary != nil {
			allowed = policy.Decide(req, []*policy.Policy{sim.boundary.p}, nil).Allowed
		}
		r.boundary = &BoundaryDecisionDetail{AllowedByPermissionsBoundary: allowed}
	}
	return r
}

var decisionRank = map[string]int{evalAllowed: 0, evalImplicitDeny: 1, evalExplicitDeny: 2}

// evaluate is the EvaluationResult of an action: on "*" without ResourceArns; otherwise
// one ResourceSpecificResult per resource, and at the top the most restrictive decision,
// with the statements and missing keys of all resources (as IAM has answered since it
// returns one result per action).
func (sim *simulation) evaluate(action string) EvaluationResult {
	if len(sim.res) == 0 {
		r := sim.decide(action, "*")
		return EvaluationResult{EvalActionName: action, EvalResourceName: "*", EvalDecision: r.decision,
			MatchedStatements: simStatements{r.matched}, MissingContextValues: simKeys{r.missing},
			EvalDecisionDetails: r.details, PermissionsBoundaryDecisionDetail: r.boundary}
	}
	out := EvaluationResult{EvalActionName: action, EvalDecision: evalAllowed, MissingContextValues: simKeys{[]string{}}}
	if len(sim.res) == 1 {
		out.EvalResourceName = sim.res[0]
	}
	for _, res := range sim.res {
		r := sim.decide(action, res)
		out.ResourceSpecificResults = append(out.ResourceSpecificResults, ResourceSpecificResult{EvalResourceName: res,
			EvalResourceDecision: r.decision, MatchedStatements: simStatements{r.matched}, MissingContextValues: simKeys{r.missing},
			EvalDecisionDetails: r.details, PermissionsBoundaryDecisionDetail: r.boundary})
		if decisionRank[r.decision] > decisionRank[out.EvalDecision] {
			out.EvalDecision = r.decision
		}
	}
	// The details of the first resource with the top-level decision.
	for _, rr := range out.ResourceSpecificResults {
		if rr.EvalResourceDecision == out.EvalDecision {
			out.EvalDecisionDetails, out.PermissionsBoundaryDecisionDetail = rr.EvalDecisionDetails, rr.PermissionsBoundaryDecisionDetail
			break
		}
	}
	// The statements of the resources whose decision is the top-level one.
	for _, rr := range out.ResourceSpecificResults {
		if rr.EvalResourceDecision == out.EvalDecision {
			for _, st := range rr.MatchedStatements.Members {
				if !slices.ContainsFunc(out.MatchedStatements.Members, func(o SimStatement) bool { return sameStatement(o, st) }) {
					out.MatchedStatements.Members = append(out.MatchedStatements.Members, st)
				}
			}
		}
		for _, k := range rr.MissingContextValues.Members {
			if !slices.ContainsFunc(out.MissingContextValues.Members, func(o string) bool { return strings.EqualFold(o, k) }) {
				out.MissingContextValues.Members = append(out.MissingContextValues.Members, k)
			}
		}
	}
	return out
}

func sameStatement(a, b SimStatement) bool {
	if a.SourcePolicyId != b.SourcePolicyId || a.SourcePolicyType != b.SourcePolicyType || (a.StartPosition == nil) != (b.StartPosition == nil) {
		return false
	}
	return a.StartPosition == nil || *a.StartPosition == *b.StartPosition
}

// GetContextKeysForPrincipalPolicy lists the context keys of the policies of a user (and
// its groups), group or role, its permissions boundary, and PolicyInputList.
func (s *Service) GetContextKeysForPrincipalPolicy(ctx context.Context, c Caller, in GetContextKeysForPrincipalPolicyInput) (*GetContextKeysOutput, error) {
	if err := checkArnType("policySourceArn", in.PolicySourceArn); err != nil {
		return nil, err
	}
	if err := checkSimDocs("policyInputList", in.PolicyInputList); err != nil {
		return nil, err
	}
	var sim simulation
	if err := sim.addInputPolicies(in.PolicyInputList); err != nil {
		return nil, err
	}
	input := sim.identity
	sim.identity = nil
	src, err := s.sourceEntity(c, in.PolicySourceArn)
	if err != nil {
		return nil, err
	}
	if err := s.principalPolicies(&sim, src, false); err != nil {
		return nil, err
	}
	pols := append(sim.identity, input...)
	if sim.boundary != nil {
		pols = append(pols, sim.boundary)
	}
	return contextKeys(pols), nil
}

// GetContextKeysForCustomPolicy lists the context keys of PolicyInputList.
func (s *Service) GetContextKeysForCustomPolicy(ctx context.Context, c Caller, in GetContextKeysForCustomPolicyInput) (*GetContextKeysOutput, error) {
	if in.PolicyInputList == nil {
		return nil, validation("1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null")
	}
	if err := checkSimDocs("policyInputList", in.PolicyInputList); err != nil {
		return nil, err
	}
	var sim simulation
	for i, d := range in.PolicyInputList {
		// Resource policies may be given too (their keys count the same).
		sp, err := parseSimPolicy("PolicyInputList", i+1, policySrc{Type: "none", Doc: d})
		if err != nil {
			return nil, err
		}
		sim.identity = append(sim.identity, sp)
	}
	return contextKeys(sim.identity), nil
}

func contextKeys(pols []*simPolicy) *GetContextKeysOutput {
	out := &GetContextKeysOutput{ContextKeyNames: simKeys{[]string{}}}
	for _, sp := range pols {
		for _, k := range sp.p.ContextKeys() {
			if !slices.ContainsFunc(out.ContextKeyNames.Members, func(o string) bool { return strings.EqualFold(o, k) }) {
				out.ContextKeyNames.Members = append(out.ContextKeyNames.Members, k)
			}
		}
	}
	return out
}

// contextEntries decodes ContextEntries.member.N.{ContextKeyName, ContextKeyType,
// ContextKeyValues.member.M} (decodeForm does not know lists of structures).
func contextEntries(body []byte) ([]ContextEntry, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, iamErr("MalformedQueryString", "the request body is not a valid form: %v", err)
	}
	return members(vals, "ContextEntries", func(p string) (ContextEntry, bool) {
		name, ok1 := vals[p+".ContextKeyName"]
		typ, ok2 := vals[p+".ContextKeyType"]
		vs := members(vals, p+".ContextKeyValues", func(q string) (string, bool) {
			v, ok := vals[q]
			if !ok || len(v) == 0 {
				return "", false
			}
			return v[0], true
		})
		if !ok1 && !ok2 && vs == nil {
			return ContextEntry{}, false
		}
		e := ContextEntry{ContextKeyValues: vs}
		if ok1 {
			e.ContextKeyName = name[0]
		}
		if ok2 {
			e.ContextKeyType = typ[0]
		}
		return e, true
	}), nil
}

func simulatePrincipalOp(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	in, err := decodeForm[SimulatePrincipalPolicyInput](body)
	if err != nil {
		return nil, err
	}
	if in.ContextEntries, err = contextEntries(body); err != nil {
		return nil, err
	}
	return s.SimulatePrincipalPolicy(ctx, c, in)
}

func simulateCustomOp(s *Service, ctx context.Context, c Caller, body []byte) (any, error) {
	in, err := decodeForm[SimulateCustomPolicyInput](body)
	if err != nil {
		return nil, err
	}
	if in.ContextEntries, err = contextEntries(body); err != nil {
		return nil, err
	}
	return s.SimulateCustomPolicy(ctx, c, in)
}
