package trail

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// Event selectors (PutEventSelectors, GetEventSelectors).
//
// A trail without custom selectors logs every event, as CloudTrail's default logs every
// management event (all of Coffer's events are management events: KMS, CloudHSM, IAM,
// STS, CloudWatch, SNS and CloudTrail API calls, and the HSM's own events). With custom
// selectors a trail logs an event when any selector matches it:
//
//   - a basic selector (EventSelectors, at most 5) matches a management event when it has
//     IncludeManagementEvents, its ReadWriteType takes the event's readOnly value (ReadOnly,
//     WriteOnly or All) and the event's source is not in ExcludeManagementEventSources
//     (kms.amazonaws.com or rdsdata.amazonaws.com: AWS allows only these);
//   - an advanced selector (AdvancedEventSelectors) matches when each of its field selectors
//     matches the event's field: eventCategory (Management or Data; required), readOnly
//     ("true" or "false") and, for management events, eventSource with NotEquals.
//
// Coffer records no data events, so DataResources and advanced selectors of the Data
// category are validated and kept, and select nothing. Selectors apply to the log files a
// trail delivers from then on; LookupEvents (the event history) is not filtered, as on AWS.

// EventSelector is a basic event selector.
type EventSelector struct {
	ReadWriteType                 string         `json:"ReadWriteType"`
	IncludeManagementEvents       bool           `json:"IncludeManagementEvents"`
	DataResources                 []DataResource `json:"DataResources"`
	ExcludeManagementEventSources []string       `json:"ExcludeManagementEventSources"`
}

// DataResource is a basic selector's data resource (kept; Coffer has no data events).
type DataResource struct {
	Type   string   `json:"Type,omitempty"`
	Values []string `json:"Values,omitempty"`
}

// AdvancedEventSelector is an advanced event selector: its field selectors all match.
type AdvancedEventSelector struct {
	Name           string          `json:"Name,omitempty"`
	FieldSelectors []FieldSelector `json:"FieldSelectors"`
}

// FieldSelector matches one field of an event: every operator given must hold.
type FieldSelector struct {
	Field         string   `json:"Field"`
	Equals        []string `json:"Equals,omitempty"`
	StartsWith    []string `json:"StartsWith,omitempty"`
	EndsWith      []string `json:"EndsWith,omitempty"`
	NotEquals     []string `json:"NotEquals,omitempty"`
	NotStartsWith []string `json:"NotStartsWith,omitempty"`
	NotEndsWith   []string `json:"NotEndsWith,omitempty"`
}

// Limits of CloudTrail's quotas.
const (
	maxEventSelectors    = 5
	maxDataResources     = 250
	maxAdvancedValues    = 500
	maxAdvancedSelectors = 500
	maxSelectorValueLen  = 2048
	maxSelectorNameLen   = 1000
)

// excludableSources are the event sources ExcludeManagementEventSources (and an advanced
// management selector's eventSource NotEquals) may name.
var excludableSources = []string{"kms.amazonaws.com", "rdsdata.amazonaws.com"}

// dataResourceTypes are the data resource types basic selectors accept.
var dataResourceTypes = []string{"AWS::S3::Object", "AWS::Lambda::Function", "AWS::DynamoDB::Table"}

// advancedDataTypes are the resources.type values of advanced data selectors.
var advancedDataTypes = []string{"AWS::S3::Object", "AWS::Lambda::Function", "AWS::DynamoDB::Table",
	"AWS::S3Outposts::Object", "AWS::ManagedBlockchain::Node", "AWS::S3ObjectLambda::AccessPoint",
	"AWS::EC2::Snapshot", "AWS::S3::AccessPoint", "AWS::DynamoDB::Stream", "AWS::Glue::Table"}

// dataFields are the fields of advanced data selectors.
var dataFields = []string{"eventCategory", "resources.type", "resources.ARN", "readOnly", "eventName",
	"eventType", "userIdentity.arn", "errorCode", "sessionCredentialFromConsole", "eventSource"}

func invalidSelectors(format string, args ...any) *Error {
	return errorf("InvalidEventSelectorsException", format, args...)
}

// defaultSelectors is what a trail without custom selectors answers: every management
// event, read and write.
func defaultSelectors() []EventSelector {
	return []EventSelector{{ReadWriteType: "All", IncludeManagementEvents: true, DataResources: []DataResource{},
		ExcludeManagementEventSources: []string{}}}
}

// HasCustomSelectors reports whether PutEventSelectors configured the trail.
func (t *Trail) HasCustomSelectors() bool {
	return t.EventSelectors != nil || t.AdvancedEventSelectors != nil
}

// Selects reports whether the trail logs an event: management says it is a management
// event, readOnly is its readOnly field and source its eventSource.
func (t *Trail) Selects(management, readOnly bool, source string) bool {
	if !t.HasCustomSelectors() {
		return true
	}
	if !management {
		return false // no data selector matches (Coffer has no data events)
	}
	for _, s := range t.EventSelectors {
		if !s.IncludeManagementEvents || slices.Contains(s.ExcludeManagementEventSources, source) {
			continue
		}
		if s.ReadWriteType == "All" || s.ReadWriteType == "ReadOnly" && readOnly || s.ReadWriteType == "WriteOnly" && !readOnly {
			return true
		}
	}
	ro := strconv.FormatBool(readOnly)
	for _, s := range t.AdvancedEventSelectors {
		if s.matchesManagement(ro, source) {
			return true
		}
	}
	return false
}

// matchesManagement reports whether an advanced selector matches a management event.
func (s *AdvancedEventSelector) matchesManagement(readOnly, source string) bool {
	for _, f := range s.FieldSelectors {
		var v string
		switch f.Field {
		case "eventCategory":
			v = "Management"
		case "readOnly":
			v = readOnly
		case "eventSource":
			v = source
		default:
			return false // a data event field: the selector is not a management one
		}
		if !f.matches(v) {
			return false
		}
	}
	return true
}

// matches reports whether every operator of f holds for v.
func (f *FieldSelector) matches(v string) bool {
	anyOf := func(vals []string, fn func(string) bool) bool { return slices.ContainsFunc(vals, fn) }
	eq := func(x string) bool { return v == x }
	pre := func(x string) bool { return strings.HasPrefix(v, x) }
	suf := func(x string) bool { return strings.HasSuffix(v, x) }
	return (len(f.Equals) == 0 || anyOf(f.Equals, eq)) &&
		(len(f.StartsWith) == 0 || anyOf(f.StartsWith, pre)) &&
		(len(f.EndsWith) == 0 || anyOf(f.EndsWith, suf)) &&
		!anyOf(f.NotEquals, eq) && !anyOf(f.NotStartsWith, pre) && !anyOf(f.NotEndsWith, suf)
}

// eventSelectorInput is a basic selector as requested: unset fields take their defaults.
type eventSelectorInput struct {
	ReadWriteType                 *string        `json:"ReadWriteType"`
	IncludeManagementEvents       *bool          `json:"IncludeManagementEvents"`
	DataResources                 []DataResource `json:"DataResources"`
	ExcludeManagementEventSources []string       `json:"ExcludeManagementEventSources"`
}

type putSelectorsInput struct {
	TrailName              string                  `json:"TrailName"`
	EventSelectors         []eventSelectorInput    `json:"EventSelectors"`
	AdvancedEventSelectors []AdvancedEventSelector `json:"AdvancedEventSelectors"`
}

// basicSelectors validates basic selectors and fills in their defaults.
func basicSelectors(in []eventSelectorInput) ([]EventSelector, error) {
	if len(in) == 0 || len(in) > maxEventSelectors {
		return nil, invalidSelectors("A trail can have 1 to %d event selectors; %d were given.", maxEventSelectors, len(in))
	}
	out := make([]EventSelector, 0, len(in))
	resources := 0
	for _, s := range in {
		e := EventSelector{ReadWriteType: "All", IncludeManagementEvents: true, DataResources: []DataResource{},
			ExcludeManagementEventSources: []string{}}
		if s.ReadWriteType != nil {
			if !slices.Contains([]string{"ReadOnly", "WriteOnly", "All"}, *s.ReadWriteType) {
				return nil, invalidSelectors("ReadWriteType %q is not valid: use ReadOnly, WriteOnly or All.", *s.ReadWriteType)
			}
			e.ReadWriteType = *s.ReadWriteType
		}
		if s.IncludeManagementEvents != nil {
			e.IncludeManagementEvents = *s.IncludeManagementEvents
		}
		for _, src := range s.ExcludeManagementEventSources {
			if !slices.Contains(excludableSources, src) {
				return nil, invalidSelectors("ExcludeManagementEventSources can only name %s; %q is not valid.",
					strings.Join(excludableSources, " or "), src)
			}
			if !slices.Contains(e.ExcludeManagementEventSources, src) {
				e.ExcludeManagementEventSources = append(e.ExcludeManagementEventSources, src)
			}
		}
		for _, r := range s.DataResources {
			if !slices.Contains(dataResourceTypes, r.Type) {
				return nil, invalidSelectors("Data resource type %q is not valid: use %s.", r.Type, strings.Join(dataResourceTypes, ", "))
			}
			if len(r.Values) == 0 {
				return nil, invalidSelectors("The data resource of type %s has no values.", r.Type)
			}
			for _, v := range r.Values {
				if v == "" || len(v) > maxSelectorValueLen {
					return nil, invalidSelectors("Data resource values must be 1 to %d characters long.", maxSelectorValueLen)
				}
			}
			resources += len(r.Values)
			e.DataResources = append(e.DataResources, DataResource{Type: r.Type, Values: slices.Clone(r.Values)})
		}
		out = append(out, e)
	}
	if resources > maxDataResources {
		return nil, invalidSelectors("A trail can have at most %d data resources; %d were given.", maxDataResources, resources)
	}
	return out, nil
}

// advancedSelectors validates advanced selectors.
func advancedSelectors(in []AdvancedEventSelector) ([]AdvancedEventSelector, error) {
	if len(in) > maxAdvancedSelectors {
		return nil, invalidSelectors("A trail can have at most %d advanced event selectors.", maxAdvancedSelectors)
	}
	values := 0
	out := make([]AdvancedEventSelector, 0, len(in))
	for i, s := range in {
		where := "advanced event selector " + strconv.Itoa(i+1)
		if s.Name != "" {
			where = strconv.Quote(s.Name)
		}
		if len(s.Name) > maxSelectorNameLen {
			return nil, invalidSelectors("Selector names are at most %d characters long.", maxSelectorNameLen)
		}
		if len(s.FieldSelectors) == 0 {
			return nil, invalidSelectors("Selector %s has no field selectors.", where)
		}
		fields := map[string]FieldSelector{}
		for _, f := range s.FieldSelectors {
			if _, dup := fields[f.Field]; dup {
				return nil, invalidSelectors("Selector %s names the field %s more than once.", where, f.Field)
			}
			count := 0
			for _, vals := range [][]string{f.Equals, f.StartsWith, f.EndsWith, f.NotEquals, f.NotStartsWith, f.NotEndsWith} {
				for _, v := range vals {
					if v == "" || len(v) > maxSelectorValueLen {
						return nil, invalidSelectors("Field selector values must be 1 to %d characters long (selector %s, field %s).",
							maxSelectorValueLen, where, f.Field)
					}
				}
				count += len(vals)
			}
			if count == 0 {
				return nil, invalidSelectors("The field selector %s of selector %s has no condition.", f.Field, where)
			}
			values += count
			fields[f.Field] = f
		}
		cat, ok := fields["eventCategory"]
		if !ok || len(cat.Equals) != 1 || valueCount(cat) != 1 || (cat.Equals[0] != "Management" && cat.Equals[0] != "Data") {
			return nil, invalidSelectors("Selector %s must have the field eventCategory with Equals Management or Data.", where)
		}
		if cat.Equals[0] == "Management" {
			for name, f := range fields {
				switch name {
				case "eventCategory":
				case "readOnly":
					if len(f.Equals) != 1 || valueCount(f) != 1 || (f.Equals[0] != "true" && f.Equals[0] != "false") {
						return nil, invalidSelectors("In selector %s, readOnly can only be Equals true or false.", where)
					}
				case "eventSource":
					if len(f.NotEquals) != valueCount(f) || slices.ContainsFunc(f.NotEquals, func(v string) bool { return !slices.Contains(excludableSources, v) }) {
						return nil, invalidSelectors("In selector %s, eventSource of management events can only be NotEquals %s.",
							where, strings.Join(excludableSources, " or "))
					}
				default:
					return nil, invalidSelectors("The field %s is not valid for management events (selector %s): use eventCategory, readOnly or eventSource.",
						name, where)
				}
			}
		} else {
			typ, ok := fields["resources.type"]
			if !ok || len(typ.Equals) != 1 || valueCount(typ) != 1 || !slices.Contains(advancedDataTypes, typ.Equals[0]) {
				return nil, invalidSelectors("Data event selector %s must have the field resources.type with Equals one of %s.",
					where, strings.Join(advancedDataTypes, ", "))
			}
			for name := range fields {
				if !slices.Contains(dataFields, name) {
					return nil, invalidSelectors("The field %s is not valid for data events (selector %s).", name, where)
				}
			}
		}
		c := AdvancedEventSelector{Name: s.Name}
		for _, f := range s.FieldSelectors {
			c.FieldSelectors = append(c.FieldSelectors, FieldSelector{Field: f.Field, Equals: slices.Clone(f.Equals),
				StartsWith: slices.Clone(f.StartsWith), EndsWith: slices.Clone(f.EndsWith), NotEquals: slices.Clone(f.NotEquals),
				NotStartsWith: slices.Clone(f.NotStartsWith), NotEndsWith: slices.Clone(f.NotEndsWith)})
		}
		out = append(out, c)
	}
	if values > maxAdvancedValues {
		return nil, invalidSelectors("Advanced event selectors can have at most %d values in all; %d were given.", maxAdvancedValues, values)
	}
	return out, nil
}

// valueCount is the number of values of a field selector's operators.
func valueCount(f FieldSelector) int {
	return len(f.Equals) + len(f.StartsWith) + len(f.EndsWith) + len(f.NotEquals) + len(f.NotStartsWith) + len(f.NotEndsWith)
}

// selectorsCmd replaces a trail's selectors: one of the two is set.
type selectorsCmd struct {
	ARN      string                  `json:"arn"`
	Basic    []EventSelector         `json:"basic,omitempty"`
	Advanced []AdvancedEventSelector `json:"advanced,omitempty"`
}

func decodeSelectors(body []byte) (putSelectorsInput, error) {
	return awsproto.Decode[putSelectorsInput](body)
}

func (s *Service) opPutEventSelectors(ctx context.Context, c Caller, body []byte) (any, error) {
	in, err := decodeSelectors(body)
	if err != nil {
		return nil, err
	}
	t, err := s.resolveHome(c, in.TrailName)
	if err != nil {
		return nil, err
	}
	cmd := selectorsCmd{ARN: t.ARN()}
	switch {
	case in.EventSelectors != nil && in.AdvancedEventSelectors != nil:
		return nil, invalidSelectors("Use EventSelectors or AdvancedEventSelectors, not both.")
	case in.AdvancedEventSelectors != nil:
		if len(in.AdvancedEventSelectors) == 0 {
			return nil, invalidSelectors("AdvancedEventSelectors must not be empty.")
		}
		if cmd.Advanced, err = advancedSelectors(in.AdvancedEventSelectors); err != nil {
			return nil, err
		}
	default:
		if cmd.Basic, err = basicSelectors(in.EventSelectors); err != nil {
			return nil, err
		}
	}
	res, err := s.propose(ctx, cmdSelectors, cmd)
	if err != nil {
		return nil, err
	}
	return selectorsOutput(res.(*Trail)), nil
}

// opGetEventSelectors answers with a trail's event selectors: CloudTrail's default
// (every management event, read and write, no data events) unless PutEventSelectors set
// others.
func (s *Service) opGetEventSelectors(ctx context.Context, c Caller, body []byte) (any, error) {
	t, err := s.trailNamed(c, body)
	if err != nil {
		return nil, err
	}
	return selectorsOutput(t), nil
}

func selectorsOutput(t *Trail) map[string]any {
	if t.AdvancedEventSelectors != nil {
		return map[string]any{"TrailARN": t.ARN(), "AdvancedEventSelectors": t.AdvancedEventSelectors}
	}
	sel := t.EventSelectors
	if sel == nil {
		sel = defaultSelectors()
	}
	return map[string]any{"TrailARN": t.ARN(), "EventSelectors": sel}
}

// opGetInsightSelectors: Coffer records no CloudTrail Insights events, so no trail has
// Insights enabled and the answer is CloudTrail's InsightNotEnabledException for a trail
// that exists (what AWS answers for a trail without Insights).
func (s *Service) opGetInsightSelectors(ctx context.Context, c Caller, body []byte) (any, error) {
	t, err := s.trailNamed(c, body)
	if err != nil {
		return nil, err
	}
	return nil, errorf("InsightNotEnabledException", "Trail %s does not have Insights enabled.", t.ARN())
}

// opPutInsightSelectors refuses to enable Insights (Coffer does not compute them) with
// UnsupportedOperationException, once the trail is known to exist and to be in this region.
func (s *Service) opPutInsightSelectors(ctx context.Context, c Caller, body []byte) (any, error) {
	in, err := awsproto.Decode[struct {
		TrailName        string            `json:"TrailName"`
		InsightSelectors []json.RawMessage `json:"InsightSelectors"`
	}](body)
	if err != nil {
		return nil, err
	}
	if _, err := s.resolveHome(c, in.TrailName); err != nil {
		return nil, err
	}
	return nil, errorf("UnsupportedOperationException", "CloudTrail Insights are not supported by Coffer: it records no Insights events.")
}
