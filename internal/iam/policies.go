package iam

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Policy is IAM's Policy shape.
type Policy struct {
	PolicyName                    string `xml:"PolicyName"`
	PolicyId                      string `xml:"PolicyId"`
	Arn                           string `xml:"Arn"`
	Path                          string `xml:"Path"`
	DefaultVersionId              string `xml:"DefaultVersionId"`
	AttachmentCount               int    `xml:"AttachmentCount"`
	PermissionsBoundaryUsageCount int    `xml:"PermissionsBoundaryUsageCount"`
	IsAttachable                  bool   `xml:"IsAttachable"`
	Description                   string `xml:"Description,omitempty"`
	CreateDate                    string `xml:"CreateDate"`
	UpdateDate                    string `xml:"UpdateDate"`
	Tags                          *Tags  `xml:"Tags,omitempty"`
}

// PolicyVersion is IAM's PolicyVersion shape; Document is URL-encoded JSON.
type PolicyVersion struct {
	Document         string `xml:"Document,omitempty"`
	VersionId        string `xml:"VersionId"`
	IsDefaultVersion bool   `xml:"IsDefaultVersion"`
	CreateDate       string `xml:"CreateDate"`
}

// AttachedPolicy is IAM's AttachedPolicy shape.
type AttachedPolicy struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

// managedView is a read-only view of a managed policy (AWS or customer).
type managedView struct {
	Name, ID, ARN, Path, Default, Description string
	Created, Updated                          string
	Versions                                  []policyVersion
	Tags                                      []Tag
	AWS                                       bool
}

// managedLocked returns a managed policy by ARN; s.mu held.
func (s *Service) managedLocked(acct, arn string) (*managedView, error) {
	if p, ok := awsManaged[arn]; ok {
		return &managedView{Name: p.Name, ID: p.ID, ARN: arn, Path: p.Path, Default: p.Version, Description: p.Description,
			Created: p.Created.Format(timeFormat), Updated: p.Updated.Format(timeFormat), AWS: true,
			Versions: []policyVersion{{ID: p.Version, Document: p.Document, Created: p.Updated}}}, nil
	}
	p := s.policies[arn]
	if p == nil || p.Account != acct {
		return nil, noSuch("Policy %s does not exist or is not attachable.", arn)
	}
	return &managedView{Name: p.Name, ID: p.ID, ARN: p.ARN, Path: p.Path, Default: p.DefaultVersion, Description: p.Description,
		Created: p.Created.Format(timeFormat), Updated: p.Updated.Format(timeFormat), Versions: slices.Clone(p.Versions), Tags: slices.Clone(p.Tags)}, nil
}

func (m *managedView) policy(attachments int, withTags bool) Policy {
	p := Policy{PolicyName: m.Name, PolicyId: m.ID, Arn: m.ARN, Path: m.Path, DefaultVersionId: m.Default, AttachmentCount: attachments,
		IsAttachable: true, Description: m.Description, CreateDate: m.Created, UpdateDate: m.Updated}
	if withTags {
		p.Tags = tagList(m.Tags)
	}
	return p
}

func (m *managedView) defaultDoc() string {
	for _, v := range m.Versions {
		if v.ID == m.Default {
			return v.Document
		}
	}
	return ""
}

func checkPolicyARN(arn string) error {
	if len(arn) < 20 || len(arn) > 2048 || !strings.HasPrefix(arn, "arn:") {
		return validation("1 validation error detected: Value '%s' at 'policyArn' failed to satisfy constraint: Member must have length greater than or equal to 20", arn)
	}
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[2] != "iam" || !strings.HasPrefix(p[5], "policy/") {
		return invalidInput("ARN %s is not valid.", arn)
	}
	return nil
}

type CreatePolicyInput struct {
	PolicyName, Path, PolicyDocument, Description string
	Tags                                          []Tag
}

type PolicyOutput struct {
	Policy Policy `xml:"Policy"`
}

func (s *Service) CreatePolicy(ctx context.Context, c Caller, in CreatePolicyInput) (*PolicyOutput, error) {
	if err := checkName("PolicyName", in.PolicyName, 128); err != nil {
		return nil, err
	}
	if err := checkPolicyPath("path", in.Path); err != nil {
		return nil, err
	}
	path, err := checkPath(in.Path)
	if err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if len(in.Description) > 1000 {
		return nil, validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000")
	}
	if _, err := checkDocument(in.PolicyDocument, false, managedPolicyMaxChars); err != nil {
		return nil, err
	}
	id, err := s.newID("ANPA", 17)
	if err != nil {
		return nil, err
	}
	now := second(s.now())
	p := &policyRec{Account: c.Account, Name: in.PolicyName, Path: path, ID: id, ARN: policyARN(c.Account, path, in.PolicyName),
		Description: in.Description, Created: now, Updated: now, DefaultVersion: "v1", NextVersion: 1,
		Versions: []policyVersion{{ID: "v1", Document: in.PolicyDocument, Created: now}}, Tags: in.Tags}
	if err := s.propose(ctx, cmdPolicyCreate, p); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, err := s.managedLocked(c.Account, p.ARN)
	if err != nil {
		return nil, err
	}
	return &PolicyOutput{Policy: m.policy(0, true)}, nil
}

type PolicyArnInput struct{ PolicyArn string }

func (s *Service) GetPolicy(ctx context.Context, c Caller, in PolicyArnInput) (*PolicyOutput, error) {
	if err := checkPolicyARN(in.PolicyArn); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, err := s.managedLocked(c.Account, in.PolicyArn)
	if err != nil {
		return nil, err
	}
	pol := m.policy(s.attachmentsInAccountLocked(c.Account, in.PolicyArn), true)
	pol.PermissionsBoundaryUsageCount = s.boundaryUsesInAccountLocked(c.Account, in.PolicyArn)
	return &PolicyOutput{Policy: pol}, nil
}

func (s *Service) attachmentsInAccountLocked(acct, arn string) int {
	n := 0
	for _, e := range s.ents {
		if e.Account == acct && slices.Contains(e.Attached, arn) {
			n++
		}
	}
	return n
}

type PolicyVersionInput struct{ PolicyArn, VersionId string }

// versionIDRE is the pattern of policyVersionIdType (botocore's iam model).
var versionIDRE = regexp.MustCompile(`^v[1-9][0-9]*(\.[A-Za-z0-9-]*)?$`)

// checkVersionID validates a VersionId parameter as IAM's request validation does,
// before any look-up.
func checkVersionID(id string) error {
	if !versionIDRE.MatchString(id) {
		return validation("1 validation error detected: Value '%s' at 'versionId' failed to satisfy constraint: Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?", id)
	}
	return nil
}

type GetPolicyVersionOutput struct {
	PolicyVersion PolicyVersion `xml:"PolicyVersion"`
}

func (s *Service) GetPolicyVersion(ctx context.Context, c Caller, in PolicyVersionInput) (*GetPolicyVersionOutput, error) {
	if err := checkPolicyARN(in.PolicyArn); err != nil {
		return nil, err
	}
	if err := checkVersionID(in.VersionId); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, err := s.managedLocked(c.Account, in.PolicyArn)
	if err != nil {
		return nil, err
	}
	for _, v := range m.Versions {
		if v.ID == in.VersionId {
			return &GetPolicyVersionOutput{PolicyVersion: PolicyVersion{Document: urlEncode(v.Document), VersionId: v.ID,
				IsDefaultVersion: v.ID == m.Default, CreateDate: v.Created.UTC().Format(timeFormat)}}, nil
		}
	}
	return nil, noSuch("Policy %s version %s does not exist or is not attachable.", in.PolicyArn, in.VersionId)
}

type ListPolicyVersionsInput struct {
	PolicyArn, Marker string
	MaxItems          int
}

type ListPolicyVersionsOutput struct {
	Versions    []PolicyVersion `xml:"Versions>member"`
	IsTruncated bool            `xml:"IsTruncated"`
	Marker      string          `xml:"Marker,omitempty"`
}

func (s *Service) ListPolicyVersions(ctx context.Context, c Caller, in ListPolicyVersionsInput) (*ListPolicyVersionsOutput, error) {
	if err := checkPolicyARN(in.PolicyArn); err != nil {
		return nil, err
	}
	s.mu.RLock()
	m, err := s.managedLocked(c.Account, in.PolicyArn)
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	// Newest first, as IAM lists them.
	versions := slices.Clone(m.Versions)
	slices.SortStableFunc(versions, func(a, b policyVersion) int { return versionNumber(b.ID) - versionNumber(a.ID) })
	page, trunc, next, err := paginate(versions, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &ListPolicyVersionsOutput{Versions: []PolicyVersion{}, IsTruncated: trunc, Marker: next}
	for _, v := range page {
		out.Versions = append(out.Versions, PolicyVersion{VersionId: v.ID, IsDefaultVersion: v.ID == m.Default, CreateDate: v.Created.UTC().Format(timeFormat)})
	}
	return out, nil
}

// versionNumber is N of a version id "vN" (0 if it is not one).
func versionNumber(id string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "v"))
	return n
}

type ListPoliciesInput struct {
	Scope, PathPrefix, PolicyUsageFilter, Marker string
	OnlyAttached                                 bool
	MaxItems                                     int
}

type ListPoliciesOutput struct {
	Policies    []Policy `xml:"Policies>member"`
	IsTruncated bool     `xml:"IsTruncated"`
	Marker      string   `xml:"Marker,omitempty"`
}

func (s *Service) ListPolicies(ctx context.Context, c Caller, in ListPoliciesInput) (*ListPoliciesOutput, error) {
	switch in.Scope {
	case "":
		in.Scope = "All"
	case "All", "AWS", "Local":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]", in.Scope)
	}
	switch in.PolicyUsageFilter {
	case "", "PermissionsPolicy", "PermissionsBoundary":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'policyUsageFilter' failed to satisfy constraint: Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]", in.PolicyUsageFilter)
	}
	if err := checkPolicyPath("pathPrefix", in.PathPrefix); err != nil {
		return nil, err
	}
	var all []Policy
	s.mu.RLock()
	add := func(arn string) {
		m, err := s.managedLocked(c.Account, arn)
		if err != nil || !strings.HasPrefix(m.Path, in.PathPrefix) {
			return
		}
		n := s.attachmentsInAccountLocked(c.Account, arn)
		b := s.boundaryUsesInAccountLocked(c.Account, arn)
		// PolicyUsageFilter keeps the policies in use as permissions policies (attached)
		// or as permissions boundaries; OnlyAttached keeps those in use either way (a
		// boundary is attached to its user or role too).
		switch {
		case in.PolicyUsageFilter == "PermissionsPolicy" && n == 0,
			in.PolicyUsageFilter == "PermissionsBoundary" && b == 0,
			in.OnlyAttached && n == 0 && b == 0:
			return
		}
		// "Description ... is not included in the response to the ListPolicies
		// operation" (IAM's Policy shape), nor are tags.
		pol := m.policy(n, false)
		pol.PermissionsBoundaryUsageCount = b
		pol.Description = ""
		all = append(all, pol)
	}
	if in.Scope != "Local" {
		for arn := range awsManaged {
			add(arn)
		}
	}
	if in.Scope != "AWS" {
		for arn, p := range s.policies {
			if p.Account == c.Account {
				add(arn)
			}
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b Policy) int { return strings.Compare(a.Arn, b.Arn) })
	page, trunc, next, err := paginate(all, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &ListPoliciesOutput{Policies: nonNil(page), IsTruncated: trunc, Marker: next}, nil
}

func (s *Service) DeletePolicy(ctx context.Context, c Caller, in PolicyArnInput) error {
	if err := s.ownPolicy(c, in.PolicyArn); err != nil {
		return err
	}
	return s.propose(ctx, cmdPolicyDelete, ref{Account: c.Account, Policy: in.PolicyArn})
}

// ownPolicy checks that arn is a customer managed policy of the caller's account.
func (s *Service) ownPolicy(c Caller, arn string) error {
	if err := checkPolicyARN(arn); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.localPolicyLocked(arn); err != nil {
		return err
	}
	if s.policies[arn].Account != c.Account {
		return noSuch("Policy %s does not exist or is not attachable.", arn)
	}
	return nil
}

type CreatePolicyVersionInput struct {
	PolicyArn, PolicyDocument string
	SetAsDefault              bool
}

type CreatePolicyVersionOutput struct {
	PolicyVersion PolicyVersion `xml:"PolicyVersion"`
}

func (s *Service) CreatePolicyVersion(ctx context.Context, c Caller, in CreatePolicyVersionInput) (*CreatePolicyVersionOutput, error) {
	if err := s.ownPolicy(c, in.PolicyArn); err != nil {
		return nil, err
	}
	if _, err := checkDocument(in.PolicyDocument, false, managedPolicyMaxChars); err != nil {
		return nil, err
	}
	now := second(s.now())
	cmd := policyVersionCmd{ARN: in.PolicyArn, Version: policyVersion{Document: in.PolicyDocument, Created: now}, SetDefault: in.SetAsDefault}
	res, err := s.proposeResult(ctx, cmdPolicyVersion, cmd)
	if err != nil {
		return nil, err
	}
	id, _ := res.(string)
	return &CreatePolicyVersionOutput{PolicyVersion: PolicyVersion{VersionId: id, IsDefaultVersion: in.SetAsDefault, CreateDate: now.Format(timeFormat)}}, nil
}

func (s *Service) DeletePolicyVersion(ctx context.Context, c Caller, in PolicyVersionInput) error {
	if err := checkVersionID(in.VersionId); err != nil {
		return err
	}
	if err := s.ownPolicy(c, in.PolicyArn); err != nil {
		return err
	}
	return s.propose(ctx, cmdPolicyDelVer, policyVersionCmd{ARN: in.PolicyArn, Version: policyVersion{ID: in.VersionId}})
}

func (s *Service) SetDefaultPolicyVersion(ctx context.Context, c Caller, in PolicyVersionInput) error {
	if err := checkVersionID(in.VersionId); err != nil {
		return err
	}
	if err := s.ownPolicy(c, in.PolicyArn); err != nil {
		return err
	}
	return s.propose(ctx, cmdPolicyDefault, policyVersionCmd{ARN: in.PolicyArn, Version: policyVersion{ID: in.VersionId, Created: second(s.now())}})
}

// ---- attachments ----

type AttachPolicyInput struct{ UserName, RoleName, GroupName, PolicyArn string }

func entityName(kind string, in AttachPolicyInput) (string, string) {
	switch kind {
	case kindRole:
		return "RoleName", in.RoleName
	case kindGroup:
		return "GroupName", in.GroupName
	}
	return "UserName", in.UserName
}

func (s *Service) attach(ctx context.Context, c Caller, kind string, in AttachPolicyInput, detach bool) error {
	field, name := entityName(kind, in)
	if err := checkName(field, name, existingNameMax(kind)); err != nil {
		return err
	}
	if err := checkPolicyARN(in.PolicyArn); err != nil {
		return err
	}
	if p := s.policyAccount(in.PolicyArn); p != "" && p != c.Account {
		return noSuch("Policy %s does not exist or is not attachable.", in.PolicyArn)
	}
	typ := cmdAttach
	if detach {
		typ = cmdDetach
	}
	return s.propose(ctx, typ, ref{Kind: kind, Account: c.Account, Name: name, Policy: in.PolicyArn})
}

// policyAccount is the account of a customer managed policy ("" if none).
func (s *Service) policyAccount(arn string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p := s.policies[arn]; p != nil {
		return p.Account
	}
	return ""
}

type ListAttachedInput struct {
	UserName, RoleName, GroupName, PathPrefix, Marker string
	MaxItems                                          int
}

type ListAttachedOutput struct {
	AttachedPolicies []AttachedPolicy `xml:"AttachedPolicies>member"`
	IsTruncated      bool             `xml:"IsTruncated"`
	Marker           string           `xml:"Marker,omitempty"`
}

func (s *Service) listAttached(c Caller, kind string, in ListAttachedInput) (*ListAttachedOutput, error) {
	field, name := entityName(kind, AttachPolicyInput{UserName: in.UserName, RoleName: in.RoleName, GroupName: in.GroupName})
	if err := checkName(field, name, existingNameMax(kind)); err != nil {
		return nil, err
	}
	if err := checkPolicyPath("pathPrefix", in.PathPrefix); err != nil {
		return nil, err
	}
	e, err := s.getEntity(kind, c.Account, name)
	if err != nil {
		return nil, err
	}
	var list []AttachedPolicy
	s.mu.RLock()
	for _, arn := range e.Attached {
		if m, err := s.managedLocked(c.Account, arn); err == nil && strings.HasPrefix(m.Path, in.PathPrefix) {
			list = append(list, AttachedPolicy{PolicyName: m.Name, PolicyArn: arn})
		}
	}
	s.mu.RUnlock()
	page, trunc, next, err := paginate(list, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &ListAttachedOutput{AttachedPolicies: nonNil(page), IsTruncated: trunc, Marker: next}, nil
}

// ---- inline policies ----

type PutInlinePolicyInput struct{ UserName, RoleName, GroupName, PolicyName, PolicyDocument string }

type InlinePolicyInput struct{ UserName, RoleName, GroupName, PolicyName string }

// GetInlinePolicyOutput is the result of GetUserPolicy/GetRolePolicy/GetGroupPolicy: one of
// UserName, RoleName, GroupName is set.
type GetInlinePolicyOutput struct {
	UserName       string `xml:"UserName,omitempty"`
	RoleName       string `xml:"RoleName,omitempty"`
	GroupName      string `xml:"GroupName,omitempty"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

type ListInlinePoliciesOutput struct {
	PolicyNames []string `xml:"PolicyNames>member"`
	IsTruncated bool     `xml:"IsTruncated"`
	Marker      string   `xml:"Marker,omitempty"`
}

// inlineMaxChars are IAM's inline policy size quotas: the non-whitespace characters of all
// of an entity's inline policies together.
var inlineMaxChars = map[string]int{kindUser: 2048, kindRole: 10240, kindGroup: 5120}

// inlineTooBig is IAM's error when an entity's inline policies would exceed their quota.
func inlineTooBig(kind, name string) *Error {
	return iamErr("LimitExceeded", "Maximum policy size of %d bytes exceeded for %s %s", inlineMaxChars[kind], kindTitle(kind), name)
}

func (s *Service) putInline(ctx context.Context, c Caller, kind string, in PutInlinePolicyInput) error {
	field, name := entityName(kind, AttachPolicyInput{UserName: in.UserName, RoleName: in.RoleName, GroupName: in.GroupName})
	if err := checkName(field, name, existingNameMax(kind)); err != nil {
		return err
	}
	if err := checkName("PolicyName", in.PolicyName, 128); err != nil {
		return err
	}
	if _, err := checkDocumentLimit(in.PolicyDocument, false, inlineMaxChars[kind], inlineTooBig(kind, name)); err != nil {
		return err
	}
	return s.propose(ctx, cmdInlinePut, ref{Kind: kind, Account: c.Account, Name: name, Policy: in.PolicyName, Doc: in.PolicyDocument})
}

func (s *Service) getInline(c Caller, kind string, in InlinePolicyInput) (*GetInlinePolicyOutput, error) {
	field, name := entityName(kind, AttachPolicyInput{UserName: in.UserName, RoleName: in.RoleName, GroupName: in.GroupName})
	if err := checkName(field, name, existingNameMax(kind)); err != nil {
		return nil, err
	}
	if err := checkName("PolicyName", in.PolicyName, 128); err != nil {
		return nil, err
	}
	e, err := s.getEntity(kind, c.Account, name)
	if err != nil {
		return nil, err
	}
	doc, ok := e.Inline[in.PolicyName]
	if !ok {
		return nil, noSuch("The %s policy with name %s cannot be found.", kindTitle(kind), in.PolicyName)
	}
	out := &GetInlinePolicyOutput{PolicyName: in.PolicyName, PolicyDocument: urlEncode(doc)}
	switch kind {
	case kindUser:
		out.UserName = e.Name
	case kindRole:
		out.RoleName = e.Name
	default:
		out.GroupName = e.Name
	}
	return out, nil
}

func (s *Service) deleteInline(ctx context.Context, c Caller, kind string, in InlinePolicyInput) error {
	field, name := entityName(kind, AttachPolicyInput{UserName: in.UserName, RoleName: in.RoleName, GroupName: in.GroupName})
	if err := checkName(field, name, existingNameMax(kind)); err != nil {
		return err
	}
	if err := checkName("PolicyName", in.PolicyName, 128); err != nil {
		return err
	}
	return s.propose(ctx, cmdInlineDelete, ref{Kind: kind, Account: c.Account, Name: name, Policy: in.PolicyName})
}

func (s *Service) listInline(c Caller, kind string, in ListAttachedInput) (*ListInlinePoliciesOutput, error) {
	field, name := entityName(kind, AttachPolicyInput{UserName: in.UserName, RoleName: in.RoleName, GroupName: in.GroupName})
	if err := checkName(field, name, existingNameMax(kind)); err != nil {
		return nil, err
	}
	e, err := s.getEntity(kind, c.Account, name)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(e.Inline))
	for n := range e.Inline {
		names = append(names, n)
	}
	slices.Sort(names)
	page, trunc, next, err := paginate(names, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &ListInlinePoliciesOutput{PolicyNames: nonNil(page), IsTruncated: trunc, Marker: next}, nil
}
