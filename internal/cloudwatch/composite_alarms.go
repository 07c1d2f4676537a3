package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Composite alarms (PutCompositeAlarm). A composite alarm is an alarmRec with an
// AlarmRule (composite.go) and the names of the alarms it refers to (Children). It is
// created in INSUFFICIENT_DATA and evaluated at once (ALARM when its rule is TRUE, else
// OK); it is evaluated again whenever one of its children changes state and when its
// configuration is updated, and never on the evaluation loop, so that a state set by
// SetAlarmState stays until then (as AWS documents it). A state change of a composite
// alarm is recorded and runs its actions like that of a metric alarm, and its own
// parents are then evaluated.

func (a *alarmRec) isComposite() bool { return a.AlarmRule != "" }

func (a *alarmRec) alarmType() string {
	if a.isComposite() {
		return "CompositeAlarm"
	}
	return "MetricAlarm"
}

// CompositeAlarm is a composite alarm as DescribeAlarms returns it.
type CompositeAlarm struct {
	AlarmName                          string
	AlarmArn                           string
	AlarmDescription                   string
	AlarmRule                          string
	AlarmConfigurationUpdatedTimestamp time.Time
	ActionsEnabled                     bool
	OKActions                          []string
	AlarmActions                       []string
	InsufficientDataActions            []string
	StateValue                         string
	StateReason                        string
	StateReasonData                    string
	StateUpdatedTimestamp              time.Time
	StateTransitionedTimestamp         time.Time
}

func (a *alarmRec) publicComposite() CompositeAlarm {
	return CompositeAlarm{AlarmName: a.AlarmName, AlarmArn: a.AlarmArn, AlarmDescription: a.AlarmDescription, AlarmRule: a.AlarmRule,
		AlarmConfigurationUpdatedTimestamp: a.AlarmConfigurationUpdatedTimestamp, ActionsEnabled: a.ActionsEnabled,
		OKActions: clone(a.OKActions), AlarmActions: clone(a.AlarmActions), InsufficientDataActions: clone(a.InsufficientDataActions),
		StateValue: a.StateValue, StateReason: a.StateReason, StateReasonData: a.StateReasonData,
		StateUpdatedTimestamp: a.StateUpdatedTimestamp, StateTransitionedTimestamp: a.StateTransitionedTimestamp}
}

// PutCompositeAlarmInput is PutCompositeAlarm's input. ActionsEnabled nil means true.
// The ActionsSuppressor fields are refused when set (not supported).
type PutCompositeAlarmInput struct {
	Region                           string // "" = the node's region (Config.Region)
	AlarmName                        string
	AlarmRule                        string
	AlarmDescription                 string
	ActionsEnabled                   *bool
	OKActions                        []string
	AlarmActions                     []string
	InsufficientDataActions          []string
	Tags                             []Tag
	ActionsSuppressor                string
	ActionsSuppressorWaitPeriod      *int
	ActionsSuppressorExtensionPeriod *int
}

// compiledRule is a parsed rule with the names of the alarms it refers to.
type compiledRule struct {
	root     *ruleNode
	names    map[string]string // as written -> alarm name
	children []string          // alarm names, sorted, distinct
}

// compileRule compiles the rule of a composite alarm of region: the alarms it names
// (by name or ARN) are alarms of that region.
func (s *Service) compileRule(region, rule string) (*compiledRule, error) {
	root, err := parseRule(rule)
	if err != nil {
		return nil, err
	}
	c := &compiledRule{root: root, names: map[string]string{}}
	for _, ref := range root.alarms() {
		name, err := s.ruleAlarmName(region, ref)
		if err != nil {
			return nil, err
		}
		c.names[ref] = name
		if !slices.Contains(c.children, name) {
			c.children = append(c.children, name)
		}
	}
	if len(c.children) > maxRuleChildren {
		return nil, ruleError("the rule refers to %d alarms; at most %d are allowed.", len(c.children), maxRuleChildren)
	}
	slices.Sort(c.children)
	return c, nil
}

// PutCompositeAlarm creates or replaces a composite alarm (an update keeps its state and
// its tags) and evaluates it.
func (s *Service) PutCompositeAlarm(ctx context.Context, in PutCompositeAlarmInput) error {
	switch {
	case in.AlarmName == "":
		return missing("AlarmName")
	case len(in.AlarmName) > 255:
		return invalid("The parameter AlarmName must be at most 255 characters.")
	case !validAlarmName(in.AlarmName):
		return invalid("The value %q for parameter AlarmName is invalid: UTF-8 characters, no ASCII control characters.", in.AlarmName)
	case len(in.AlarmDescription) > 1024:
		return invalid("The parameter AlarmDescription must be at most 1024 characters.")
	case in.AlarmRule == "":
		return missing("AlarmRule")
	case in.ActionsSuppressor != "" || in.ActionsSuppressorWaitPeriod != nil || in.ActionsSuppressorExtensionPeriod != nil:
		return invalid("Composite alarm action suppression (ActionsSuppressor, ActionsSuppressorWaitPeriod, ActionsSuppressorExtensionPeriod) is not supported.")
	}
	region := s.region(in.Region)
	rule, err := s.compileRule(region, in.AlarmRule)
	if err != nil {
		return err
	}
	for f, acts := range map[string][]string{"OKActions": in.OKActions, "AlarmActions": in.AlarmActions, "InsufficientDataActions": in.InsufficientDataActions} {
		if err := checkActions(region, f, acts); err != nil {
			return err
		}
	}
	if err := checkTags(in.Tags); err != nil {
		return err
	}
	now := s.now()
	a := &alarmRec{Region: region, AlarmName: in.AlarmName, AlarmArn: s.alarmARN(region, in.AlarmName), AlarmDescription: in.AlarmDescription,
		AlarmConfigurationUpdatedTimestamp: now, ActionsEnabled: in.ActionsEnabled == nil || *in.ActionsEnabled,
		OKActions: clone(in.OKActions), AlarmActions: clone(in.AlarmActions), InsufficientDataActions: clone(in.InsufficientDataActions),
		Tags: clone(in.Tags), AlarmRule: in.AlarmRule, Children: rule.children,
		StateValue: StateInsufficientData, StateReason: "Unchecked: Initial alarm creation", StateUpdatedTimestamp: now, StateTransitionedTimestamp: now}
	s.mu.RLock()
	old := s.alarms[akey(region, in.AlarmName)]
	s.mu.RUnlock()
	verb, cfgType, shown := "created", "Create", *a
	if old != nil {
		verb, cfgType = "updated", "Update"
		shown.StateValue, shown.StateUpdatedTimestamp = old.StateValue, old.StateUpdatedTimestamp
	}
	h := HistoryItem{AlarmName: in.AlarmName, AlarmType: "CompositeAlarm", Timestamp: now, HistoryItemType: "ConfigurationUpdate",
		HistorySummary: fmt.Sprintf("Alarm %q %s", in.AlarmName, verb), HistoryData: shown.configHistoryData(cfgType)}
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	if _, err := s.propose(ctx, cmdPutComposite, putAlarmCmd{Alarm: a, History: h, KeepTags: true}); err != nil {
		return err
	}
	l := s.alarmsWhere(func(x *alarmRec) bool { return x.Region == region && x.AlarmName == in.AlarmName && x.isComposite() })
	if len(l) == 0 {
		return nil // deleted meanwhile
	}
	return s.evaluateCompositeLocked(ctx, l[0], nil, now, 0)
}

// checkCompositeLocked checks, in Apply, that a composite alarm can be stored: its name is
// not a metric alarm's, its children (alarms of its region) exist, and it is not on a
// cycle. Callers hold mu.
func (s *Service) checkCompositeLocked(a *alarmRec) error {
	if old := s.alarms[akey(a.Region, a.AlarmName)]; old != nil && !old.isComposite() {
		return cwErr("ValidationError", "The alarm %s is a metric alarm; a composite alarm cannot have its name.", a.AlarmName)
	}
	if slices.Contains(a.Children, a.AlarmName) {
		return cwErr("ValidationError", "The composite alarm %s cannot refer to itself in its alarm rule.", a.AlarmName)
	}
	var gone []string
	for _, c := range a.Children {
		if s.alarms[akey(a.Region, c)] == nil {
			gone = append(gone, c)
		}
	}
	if len(gone) > 0 {
		return cwErr("ValidationError", "Could not save the composite alarm as alarms [%s] in the alarm rule do not exist", strings.Join(gone, ", "))
	}
	for _, c := range a.Children {
		n := 0
		for _, p := range s.parentsOfLocked(a.Region, c) {
			if p != a.AlarmName {
				n++
			}
		}
		if n >= maxParents {
			return cwErr("LimitExceeded", "The alarm %s is already in the alarm rules of %d composite alarms (at most %d).", c, n, maxParents)
		}
	}
	// A cycle: a child reaches this alarm through the children of composite alarms.
	seen := map[string]bool{}
	var path []string
	var reaches func(n string) bool
	reaches = func(n string) bool {
		if n == a.AlarmName {
			return true
		}
		if seen[n] {
			return false
		}
		seen[n] = true
		x := s.alarms[akey(a.Region, n)]
		if x == nil {
			return false
		}
		for _, c := range x.Children {
			if reaches(c) {
				path = append(path, c)
				return true
			}
		}
		return false
	}
	for _, c := range a.Children {
		if reaches(c) {
			path = append(path, c)
			slices.Reverse(path)
			return cwErr("ValidationError", "The alarm rule of %s would create a cycle of composite alarms: %s -> %s.",
				a.AlarmName, a.AlarmName, strings.Join(path, " -> "))
		}
	}
	return nil
}

// parentsOfLocked returns the names of the composite alarms of region whose rule refers
// to name (an alarm of region), by name. Callers hold mu.
func (s *Service) parentsOfLocked(region, name string) []string {
	var out []string
	for _, a := range s.alarms {
		if a.Region == region && a.isComposite() && slices.Contains(a.Children, name) {
			out = append(out, a.AlarmName)
		}
	}
	slices.Sort(out)
	return out
}

// maxParents: an alarm can be in the rules of at most 150 composite alarms (AWS's bound).
const maxParents = 150

// maxCompositeDepth bounds the evaluation of parents of parents (there are no cycles;
// this is a guard).
const maxCompositeDepth = 64

// evaluateParentsLocked evaluates the composite alarms that refer to child, which has
// just changed state. Callers hold evalMu.
func (s *Service) evaluateParentsLocked(ctx context.Context, child *alarmRec, now time.Time, depth int) error {
	if depth >= maxCompositeDepth {
		return nil
	}
	s.mu.RLock()
	names := s.parentsOfLocked(child.Region, child.AlarmName)
	s.mu.RUnlock()
	var errs []error
	for _, n := range names {
		l := s.alarmsWhere(func(a *alarmRec) bool { return a.Region == child.Region && a.AlarmName == n })
		if len(l) == 1 && l[0].isComposite() {
			errs = append(errs, s.evaluateCompositeLocked(ctx, l[0], child, now, depth+1))
		}
	}
	return errors.Join(errs...)
}

// awsReasonTime is how AWS writes a time in a composite alarm's state reason.
const awsReasonTime = "Monday 02 January, 2006 15:04:05 MST"

// evaluateCompositeLocked evaluates composite alarm a; cause is the child whose state
// change led to it (nil at creation and update). Callers hold evalMu.
func (s *Service) evaluateCompositeLocked(ctx context.Context, a *alarmRec, cause *alarmRec, now time.Time, depth int) error {
	rule, err := s.compileRule(a.Region, a.AlarmRule)
	if err != nil {
		return fmt.Errorf("cloudwatch: composite alarm %s: %w", a.AlarmName, err)
	}
	states := map[string]*alarmRec{}
	s.mu.RLock()
	for _, c := range rule.children {
		if x := s.alarms[akey(a.Region, c)]; x != nil {
			cp := *x
			states[c] = &cp
		}
	}
	s.mu.RUnlock()
	if cause != nil {
		states[cause.AlarmName] = cause
	}
	val := rule.root.eval(func(ref string) string {
		if x := states[rule.names[ref]]; x != nil {
			return x.StateValue
		}
		return ""
	})
	newState := StateOK
	if val {
		newState = StateAlarm
	}
	if newState == a.StateValue {
		return nil // no transition: nothing recorded
	}
	type childState struct {
		Value     string `json:"value"`
		Timestamp string `json:"timestamp"`
	}
	type trigger struct {
		Arn   string     `json:"arn"`
		State childState `json:"state"`
	}
	var reason string
	triggers := []trigger{}
	if cause != nil {
		at := cause.StateTransitionedTimestamp
		if at.IsZero() {
			at = now
		}
		reason = fmt.Sprintf("%s transitioned to %s at %s", cause.AlarmArn, cause.StateValue, at.UTC().Format(awsReasonTime))
		triggers = append(triggers, trigger{Arn: cause.AlarmArn, State: childState{Value: cause.StateValue, Timestamp: at.UTC().Format(awsTime)}})
	} else {
		reason = fmt.Sprintf("The alarm rule evaluated to %s when the alarm was created or updated", map[bool]string{true: "TRUE", false: "FALSE"}[val])
	}
	rd, _ := json.Marshal(map[string]any{"triggeringAlarms": triggers})
	return s.transitionDepth(ctx, a, newState, reason, string(rd), now, depth)
}

// TriggeringChild is a child alarm in a composite alarm's notification.
type TriggeringChild struct {
	Arn   string `json:"Arn"`
	State struct {
		Value     string `json:"Value"`
		Timestamp string `json:"Timestamp"`
	} `json:"State"`
}

// compositeNotification is the body AWS publishes for a composite alarm.
type compositeNotification struct {
	AlarmName               string            `json:"AlarmName"`
	AlarmDescription        *string           `json:"AlarmDescription"`
	AWSAccountID            string            `json:"AWSAccountId"`
	NewStateValue           string            `json:"NewStateValue"`
	NewStateReason          string            `json:"NewStateReason"`
	StateChangeTime         string            `json:"StateChangeTime"`
	Region                  string            `json:"Region"`
	AlarmArn                string            `json:"AlarmArn"`
	OKActions               []string          `json:"OKActions"`
	AlarmActions            []string          `json:"AlarmActions"`
	InsufficientDataActions []string          `json:"InsufficientDataActions"`
	OldStateValue           string            `json:"OldStateValue"`
	AlarmRule               string            `json:"AlarmRule"`
	TriggeringChildren      []TriggeringChild `json:"TriggeringChildren"`
}

// MarshalJSON writes a composite alarm's notification (AlarmRule set) in AWS's composite
// shape (AlarmRule and TriggeringChildren, no Trigger), and a metric alarm's as before.
func (n AlarmNotification) MarshalJSON() ([]byte, error) {
	type plain AlarmNotification
	if n.AlarmRule == "" {
		return json.Marshal(plain(n))
	}
	tc := n.TriggeringChildren
	if tc == nil {
		tc = []TriggeringChild{}
	}
	return json.Marshal(compositeNotification{AlarmName: n.AlarmName, AlarmDescription: n.AlarmDescription, AWSAccountID: n.AWSAccountID,
		NewStateValue: n.NewStateValue, NewStateReason: n.NewStateReason, StateChangeTime: n.StateChangeTime, Region: n.Region,
		AlarmArn: n.AlarmArn, OKActions: n.OKActions, AlarmActions: n.AlarmActions, InsufficientDataActions: n.InsufficientDataActions,
		OldStateValue: n.OldStateValue, AlarmRule: n.AlarmRule, TriggeringChildren: tc})
}

// triggeringChildren reads the triggering alarms of a composite alarm's state reason data.
func triggeringChildren(reasonData string) []TriggeringChild {
	var rd struct {
		TriggeringAlarms []struct {
			Arn   string `json:"arn"`
			State struct {
				Value     string `json:"value"`
				Timestamp string `json:"timestamp"`
			} `json:"state"`
		} `json:"triggeringAlarms"`
	}
	out := []TriggeringChild{}
	if json.Unmarshal([]byte(reasonData), &rd) != nil {
		return out
	}
	for _, t := range rd.TriggeringAlarms {
		var c TriggeringChild
		c.Arn, c.State.Value, c.State.Timestamp = t.Arn, t.State.Value, t.State.Timestamp
		out = append(out, c)
	}
	return out
}

// checkDeleteLocked checks that the alarms of names that exist can be deleted together:
// at most one of them is a composite alarm, and every composite alarm that refers to one
// of them is deleted with it (names: alarms of region). Callers hold mu.
func (s *Service) checkDeleteLocked(region string, names []string) error {
	del := map[string]bool{}
	composites := 0
	for _, n := range names {
		if a := s.alarms[akey(region, n)]; a != nil && !del[n] {
			del[n] = true
			if a.isComposite() {
				composites++
			}
		}
	}
	if composites > 1 {
		return cwErr("ValidationError", "You can delete at most one composite alarm per DeleteAlarms call (%d were named).", composites)
	}
	var blocked []string
	for _, n := range names {
		if !del[n] || slices.Contains(blocked, n) {
			continue
		}
		for _, p := range s.parentsOfLocked(region, n) {
			if !del[p] {
				blocked = append(blocked, n)
				break
			}
		}
	}
	switch len(blocked) {
	case 0:
		return nil
	case 1:
		return cwErr("ValidationError", "Cannot delete %s as there are composite alarm(s) depending on it.", blocked[0])
	}
	return cwErr("ValidationError", "Cannot delete %s as there are composite alarm(s) depending on them.", strings.Join(blocked, ","))
}
