// Package cloudwatch is Coffer's Amazon CloudWatch: a metric store, metric alarms and
// their evaluator. It holds the core logic only; the AWS query/JSON protocol layer lives
// elsewhere.
//
// # Regions
//
// CloudWatch is regional, as on AWS, and regions are namespaces of one server (as for KMS
// and SNS): every metric, alarm, history item and tag is in a region, the region of the
// request that made it (Caller.Region, the SigV4 credential scope's; "" = the node's
// region, Config.Region), and the API operations see their region's only. An alarm's
// ARN carries its region (alarmRec.Region); it evaluates the metrics of its region, its
// composite rule names alarms of its region, its actions are SNS topics of its region,
// and its notifications name it. The Go methods without a region (Put, PutAggregate,
// DescribeAlarms with no Region...) are the node's region's. The replicated commands
// carry their region, so applying them does not depend on the node; the state and
// commands of earlier versions, which have none, are the node's region's (as their
// alarms' ARNs say). The datapoint log records each metric's region.
//
// # Metrics (node-local)
//
// Datapoints are kept in memory, per metric (Namespace, MetricName, sorted Dimensions),
// in a bounded buffer (MaxPointsPerMetric, Retention; reads ignore expired datapoints).
// They are NOT replicated: each node keeps the metrics it produced or received. This is
// right for Coffer's own operational metrics (KMS KeyUsageCount, CloudHSM HsmUnhealthy,
// FailedLoginCount...), which describe the node that emits them.
//
// With Config.Dir (Open), they also survive a restart: every store is queued (an append
// to a slice under the metrics lock) for a background flusher that appends it to a JSON
// lines log every FlushInterval (1 s) and fsyncs every SyncInterval (5 s), so a crash
// loses at most the last second (process crash) or the last few seconds (power loss),
// and a clean Close nothing. At start the log is replayed (a torn last line and corrupt
// lines are skipped and counted), expired datapoints are dropped, and the log is
// rewritten with the live datapoints only, as it is whenever it has grown by more than
// CompactMinBytes and more than its rewritten size (store.go).
//
// # Alarms (replicated)
//
// Alarm definitions, their state and their history are the "cloudwatch" part of the
// replicated state (internal/state). Every node sees every alarm; an alarm is evaluated
// on the node that evaluates it (Evaluate, EvaluateNow, or Put of a datapoint of its
// metric) against that node's metrics. State changes are proposed with the alarm's
// state revision, so that two concurrent evaluations cannot both record a transition.
//
// # Evaluation
//
// An alarm looks at its last EvaluationPeriods periods, aligned on multiples of Period
// (Unix time), the most recent one being the period that contains "now" (partial): a
// datapoint is acted upon as soon as it arrives, which is what the security alarms
// (FailedLoginCount) need. M out of N: ALARM when at least DatapointsToAlarm of the N
// periods breach; TreatMissingData decides how empty periods count (see evaluate.go).
// An alarm on metric math (Metrics) evaluates its expression (mathexpr.go, as
// GetMetricData does) over its periods and a few before them, and is evaluated when a
// datapoint of any of its metrics is Put; anomaly detection alarms are not supported.
// A composite alarm (composite.go, composite_alarms.go) is ALARM when its rule over other
// alarms' states is TRUE, else OK; it is evaluated when it is put and whenever one of the
// alarms its rule names changes state.
// docs/cloudwatch.md lists the API's behaviours as AWS documents them.
//
// Put, PutMetricData+EvaluateNow, Evaluate and SetAlarmState propose commands: they must
// never be called from a state.Part's Apply (that would deadlock raft), and on a
// follower they fail with state.ErrNotLeader when a transition has to be recorded (the
// caller must forward, or run evaluations on the leader).
package cloudwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

// Proposer commits commands to the replicated state (*state.Store).
type Proposer interface {
	Propose(ctx context.Context, typ string, version int, body any) (any, error)
}

// Notifier delivers alarm notifications to an alarm action (an SNS topic ARN).
// internal/sns provides one (sns.Service.CloudWatchNotifier).
type Notifier interface {
	Notify(ctx context.Context, topicARN string, alarm AlarmNotification) error
}

// Config configures the CloudWatch service.
type Config struct {
	Proposer  Proposer
	Notifier  Notifier // nil: actions are not executed
	Region    string   // default us-east-1
	AccountID string   // default 000000000000
	Now       func() time.Time
	Logger    *slog.Logger

	// Retention of datapoints (default 15 days) and the maximum number of datapoints
	// kept per metric (default 21600, 15 days at one per minute).
	Retention          time.Duration
	MaxPointsPerMetric int
	// EvalInterval is the period of Run's evaluation loop (default 10 s).
	EvalInterval time.Duration
	// NotifyTimeout bounds one Notify call (default 15 s).
	NotifyTimeout time.Duration

	// Dir, when set, is the directory where Open keeps this node's datapoints (see
	// "Metrics"); New ignores it. The log is appended every FlushInterval (default 1 s),
	// fsynced every SyncInterval (default 5 s), and rewritten when it has grown by more
	// than CompactMinBytes (default 4 MiB) and more than its size after the last rewrite.
	Dir             string
	FlushInterval   time.Duration
	SyncInterval    time.Duration
	CompactMinBytes int64
}

// Error is a CloudWatch error: Code is the AWS error code (InvalidParameterValue,
// MissingParameter, ResourceNotFound...), Status its HTTP status.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func cwErr(code, format string, args ...any) *Error {
	st := http.StatusBadRequest
	switch code {
	case "ResourceNotFound", "ResourceNotFoundException":
		st = http.StatusNotFound
	case "InternalServiceError":
		st = http.StatusInternalServerError
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: st}
}

func invalid(format string, args ...any) *Error {
	return cwErr("InvalidParameterValue", format, args...)
}

func missing(name string) *Error {
	return cwErr("MissingParameter", "The parameter %s is required.", name)
}

// Service is the CloudWatch service of one node. It implements state.Part ("cloudwatch").
type Service struct {
	cfg Config

	// alarms and history are keyed by akey(region, alarm name): each region has its own
	// alarms (see "Regions").
	mu      sync.RWMutex // alarms, history
	alarms  map[string]*alarmRec
	history map[string][]HistoryItem

	mmu     sync.RWMutex // metrics
	metrics map[string]*series
	disk    *disk // the datapoint log (Open with Dir), nil in memory only

	evalMu sync.Mutex // serialises evaluations on this node

	collector atomic.Pointer[func()] // SetCollector
}

var _ state.Part = (*Service)(nil)

// New returns the service with no alarms and no metrics.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 15 * 24 * time.Hour
	}
	if cfg.MaxPointsPerMetric <= 0 {
		cfg.MaxPointsPerMetric = 21600
	}
	if cfg.EvalInterval <= 0 {
		cfg.EvalInterval = 10 * time.Second
	}
	if cfg.NotifyTimeout <= 0 {
		cfg.NotifyTimeout = 15 * time.Second
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = 5 * time.Second
	}
	if cfg.CompactMinBytes <= 0 {
		cfg.CompactMinBytes = 4 << 20
	}
	return &Service{cfg: cfg, alarms: map[string]*alarmRec{}, history: map[string][]HistoryItem{}, metrics: map[string]*series{}}
}

// Attach sets the proposer (the state store is opened after the parts are created).
func (s *Service) Attach(p Proposer) { s.cfg.Proposer = p }

// SetNotifier sets the notifier for alarm actions.
func (s *Service) SetNotifier(n Notifier) { s.evalMu.Lock(); s.cfg.Notifier = n; s.evalMu.Unlock() }

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Run evaluates every alarm each EvalInterval until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.EvalInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Evaluate(ctx, s.now()); err != nil {
				s.cfg.Logger.Warn("cloudwatch: evaluation", "err", err)
			}
		}
	}
}

// ---- state.Part ----

const (
	snapshotFormat = "coffer-cloudwatch"
	// snapshotVersion 2 keys alarms and history by akey(region, name); version 1 (earlier
	// versions, one region) by name: its alarms are restored into the node's region.
	snapshotVersion = 2
	maxHistory      = 100 // per alarm
)

type persisted struct {
	Format  string                   `json:"format"`
	Version int                      `json:"version"`
	Alarms  map[string]*alarmRec     `json:"alarms"`
	History map[string][]HistoryItem `json:"history"`
}

// Name implements state.Part.
func (s *Service) Name() string { return "cloudwatch" }

// Snapshot implements state.Part.
func (s *Service) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(persisted{Format: snapshotFormat, Version: snapshotVersion, Alarms: s.alarms, History: s.history})
}

// Restore implements state.Part.
func (s *Service) Restore(data []byte) error {
	var p persisted
	if data != nil {
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("cloudwatch: restore: %w", err)
		}
		if p.Format != snapshotFormat || (p.Version != 1 && p.Version != snapshotVersion) {
			return fmt.Errorf("cloudwatch: restore: unsupported snapshot %q version %d", p.Format, p.Version)
		}
	}
	alarms, history := map[string]*alarmRec{}, map[string][]HistoryItem{}
	for k, a := range p.Alarms {
		if a == nil {
			continue
		}
		if p.Version == 1 {
			// An earlier version's alarm (one region): it is the node's region's, as
			// its ARN says.
			a.Region, k = s.cfg.Region, akey(s.cfg.Region, k)
		}
		if a.Region == "" {
			a.Region, _ = splitKey(k)
		}
		alarms[k] = a
	}
	for k, l := range p.History {
		if p.Version == 1 {
			k = akey(s.cfg.Region, k)
		}
		history[k] = l
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alarms, s.history = alarms, history
	return nil
}

// regionName is a region as SigV4 credential scopes have them (awsproto checks the
// requests' regions the same way): it has no ':' (akey) and no NUL (metricKey).
var regionName = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// akey is the key of the alarm (and history) of that name in region in Service.alarms
// and Service.history. A region has no ':' (regionName), so the key splits back.
func akey(region, name string) string { return region + ":" + name }

// splitKey is the region and alarm name of an akey.
func splitKey(k string) (region, name string) {
	region, name, _ = strings.Cut(k, ":")
	return region, name
}

// region is r, or the node's region (Config.Region) when r is empty: the region of a
// request without one, and of the commands and state of earlier versions.
func (s *Service) region(r string) string {
	if r == "" {
		return s.cfg.Region
	}
	return r
}

const (
	cmdPutAlarm     = "cloudwatch.alarm.put"
	cmdDeleteAlarms = "cloudwatch.alarm.delete" // all or none: proposed by earlier versions
	// cmdDeleteExisting deletes the named alarms that exist and returns the other names.
	cmdDeleteExisting = "cloudwatch.alarm.delete_existing"
	cmdSetState       = "cloudwatch.alarm.state"
	cmdSetActions     = "cloudwatch.alarm.actions"
	cmdSetTags        = "cloudwatch.alarm.tags"
	// cmdPutComposite creates or replaces a composite alarm (putAlarmCmd whose alarm has
	// an AlarmRule); Apply checks its children and cycles.
	cmdPutComposite = "cloudwatch.composite.put"
	// cmdAddHistory records history items (the Action items of a transition's actions).
	cmdAddHistory = "cloudwatch.alarm.history"
)

// The commands carry the region of the alarms they name ("" in the commands of earlier
// versions: the node's region), so that applying them does not depend on the applying
// node's configuration. A putAlarmCmd's region is its alarm's (alarmRec.Region).

type addHistoryCmd struct {
	Region string        `json:"region,omitempty"`
	Items  []HistoryItem `json:"items"`
}

type putAlarmCmd struct {
	Alarm   *alarmRec   `json:"alarm"`
	History HistoryItem `json:"history"`
	// KeepTags: an update keeps the alarm's tags (AWS ignores the Tags of an update).
	// Unset in the commands of earlier versions, whose updates replaced them.
	KeepTags bool `json:"keep_tags,omitempty"`
}

type deleteAlarmsCmd struct {
	Region string   `json:"region,omitempty"`
	Names  []string `json:"names"`
	// KeepHistory (cmdDeleteExisting): the deleted alarms' history is kept, with a
	// "deleted" item at the command's time, as AWS keeps it ("CloudWatch retains the
	// history of an alarm even if you delete the alarm"). Unset in the commands of
	// earlier versions, which deleted it.
	KeepHistory bool      `json:"keep_history,omitempty"`
	Time        time.Time `json:"time,omitempty"` // of the deletion (the service's clock)
}

// Bounds of the history of deleted alarms: kept deletedHistoryRetention after their
// last item, and for at most maxDeletedHistories deleted alarms (the most recent).
const (
	deletedHistoryRetention = 30 * 24 * time.Hour
	maxDeletedHistories     = 1000
)

type setStateCmd struct {
	Region     string      `json:"region,omitempty"`
	Name       string      `json:"name"`
	Expect     uint64      `json:"expect"` // state revision
	State      string      `json:"state"`
	Reason     string      `json:"reason"`
	ReasonData string      `json:"reason_data,omitempty"`
	Time       time.Time   `json:"time"`
	History    HistoryItem `json:"history"`
}

// setTagsCmd removes the tags of keys Remove, then sets the tags Add (TagResource,
// UntagResource).
type setTagsCmd struct {
	Region string   `json:"region,omitempty"`
	Name   string   `json:"name"`
	ARN    string   `json:"arn"` // for the error message
	Add    []Tag    `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

type setActionsCmd struct {
	Region  string   `json:"region,omitempty"`
	Names   []string `json:"names"`
	Enabled bool     `json:"enabled"`
}

// errConflict: the alarm's state changed between evaluation and proposal.
var errConflict = cwErr("ConcurrentModification", "alarm state changed concurrently")

// Apply implements state.Part.
func (s *Service) Apply(index uint64, cmd state.Command) (any, error) {
	if cmd.Version != 1 {
		return nil, fmt.Errorf("cloudwatch: unknown command %s v%d", cmd.Type, cmd.Version)
	}
	switch cmd.Type {
	case cmdPutAlarm, cmdPutComposite:
		c, err := state.DecodeBody[putAlarmCmd](cmd.Body)
		if err != nil || c.Alarm == nil {
			return nil, fmt.Errorf("cloudwatch: bad %s: %v", cmd.Type, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		a := *c.Alarm
		a.Region = s.region(a.Region)
		k := akey(a.Region, a.AlarmName)
		if cmd.Type == cmdPutComposite {
			if !a.isComposite() {
				return nil, fmt.Errorf("cloudwatch: bad %s: no alarm rule", cmd.Type)
			}
			if err := s.checkCompositeLocked(&a); err != nil {
				return nil, err
			}
		} else {
			// (The alarms of earlier versions' entries are all metric alarms.)
			a.AlarmRule, a.Children = "", nil
			if old := s.alarms[k]; old != nil && old.isComposite() {
				return nil, cwErr("ValidationError", "The alarm %s is a composite alarm; a metric alarm cannot have its name.", a.AlarmName)
			}
		}
		if old := s.alarms[k]; old != nil {
			// An update keeps the alarm's state, and its tags (AWS ignores the Tags
			// of an update: TagResource and UntagResource change them).
			if c.KeepTags {
				a.Tags = old.Tags
			}
			a.StateValue, a.StateReason, a.StateReasonData = old.StateValue, old.StateReason, old.StateReasonData
			a.StateUpdatedTimestamp, a.StateTransitionedTimestamp, a.StateRevision = old.StateUpdatedTimestamp, old.StateTransitionedTimestamp, old.StateRevision
		}
		s.alarms[k] = &a
		s.addHistoryLocked(a.Region, c.History)
		return nil, nil
	case cmdDeleteAlarms:
		c, err := state.DecodeBody[deleteAlarmsCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		// All or none (the command of earlier versions, kept for their log entries).
		s.mu.Lock()
		defer s.mu.Unlock()
		r := s.region(c.Region)
		for _, n := range c.Names {
			if s.alarms[akey(r, n)] == nil {
				return nil, cwErr("ResourceNotFound", "Alarm %s does not exist.", n)
			}
		}
		for _, n := range c.Names {
			delete(s.alarms, akey(r, n))
			delete(s.history, akey(r, n))
		}
		return nil, nil
	case cmdDeleteExisting:
		c, err := state.DecodeBody[deleteAlarmsCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		// The alarms that exist are deleted; the names of those that do not are
		// returned (DeleteAlarms reports them). As on AWS, nothing is deleted when an
		// alarm has a composite parent that is not deleted with it, or when more than one
		// composite alarm is named (the entries of earlier versions have no composite
		// alarms: these checks do not change their meaning).
		s.mu.Lock()
		defer s.mu.Unlock()
		r := s.region(c.Region)
		if err := s.checkDeleteLocked(r, c.Names); err != nil {
			return nil, err
		}
		if c.Time.IsZero() {
			c.Time = cmd.Time
		}
		var notFound []string
		for _, n := range c.Names {
			a := s.alarms[akey(r, n)]
			if a == nil {
				if !slices.Contains(notFound, n) {
					notFound = append(notFound, n)
				}
				continue
			}
			delete(s.alarms, akey(r, n))
			if !c.KeepHistory {
				delete(s.history, akey(r, n))
				continue
			}
			s.addHistoryLocked(r, a.deletedItem(c.Time))
		}
		if c.KeepHistory {
			s.pruneDeletedHistoryLocked(c.Time)
		}
		return notFound, nil
	case cmdSetState:
		c, err := state.DecodeBody[setStateCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		r := s.region(c.Region)
		a := s.alarms[akey(r, c.Name)]
		if a == nil {
			return nil, cwErr("ResourceNotFound", "Alarm %s does not exist.", c.Name)
		}
		if a.StateRevision != c.Expect {
			return nil, errConflict
		}
		n := *a
		old := n.StateValue
		n.StateValue, n.StateReason, n.StateReasonData = c.State, c.Reason, c.ReasonData
		n.StateUpdatedTimestamp = c.Time
		if old != c.State {
			n.StateTransitionedTimestamp = c.Time
		}
		n.StateRevision++
		s.alarms[akey(r, c.Name)] = &n
		if c.History.AlarmName != "" {
			s.addHistoryLocked(r, c.History)
		}
		return n, nil
	case cmdSetTags:
		c, err := state.DecodeBody[setTagsCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		k := akey(s.region(c.Region), c.Name)
		a := s.alarms[k]
		if a == nil {
			return nil, notFoundARN(c.ARN)
		}
		tags, err := applyTags(a.Tags, c)
		if err != nil {
			return nil, err
		}
		n := *a
		n.Tags = tags
		s.alarms[k] = &n
		return nil, nil
	case cmdAddHistory:
		c, err := state.DecodeBody[addHistoryCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, h := range c.Items {
			if h.AlarmName != "" {
				s.addHistoryLocked(s.region(c.Region), h)
			}
		}
		return nil, nil
	case cmdSetActions:
		c, err := state.DecodeBody[setActionsCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		r := s.region(c.Region)
		for _, name := range c.Names {
			if a := s.alarms[akey(r, name)]; a != nil {
				n := *a
				n.ActionsEnabled = c.Enabled
				s.alarms[akey(r, name)] = &n
			}
		}
		return nil, nil
	}
	return nil, fmt.Errorf("cloudwatch: unknown command %s v%d", cmd.Type, cmd.Version)
}

// deletedItem is the ConfigurationUpdate history item of the alarm's deletion at t.
func (a *alarmRec) deletedItem(t time.Time) HistoryItem {
	return HistoryItem{AlarmName: a.AlarmName, AlarmType: a.alarmType(), Timestamp: t.UTC(), HistoryItemType: "ConfigurationUpdate",
		HistorySummary: fmt.Sprintf("Alarm %q deleted", a.AlarmName), HistoryData: a.configHistoryData("Delete")}
}

// pruneDeletedHistoryLocked drops the history of deleted alarms whose last item is
// older than deletedHistoryRetention at now (a command's time), and beyond
// maxDeletedHistories deleted alarms that of those deleted first. Callers hold mu.
func (s *Service) pruneDeletedHistoryLocked(now time.Time) {
	type gone struct {
		name string
		last time.Time
	}
	var deleted []gone
	for n, l := range s.history {
		if s.alarms[n] != nil || len(l) == 0 {
			continue
		}
		last := l[len(l)-1].Timestamp
		if last.Before(now.Add(-deletedHistoryRetention)) {
			delete(s.history, n)
			continue
		}
		deleted = append(deleted, gone{n, last})
	}
	if len(deleted) <= maxDeletedHistories {
		return
	}
	slices.SortFunc(deleted, func(a, b gone) int {
		if c := a.last.Compare(b.last); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for _, g := range deleted[:len(deleted)-maxDeletedHistories] {
		delete(s.history, g.name)
	}
}

// addHistoryLocked records h in the history of its alarm of region. Callers hold mu.
func (s *Service) addHistoryLocked(region string, h HistoryItem) {
	k := akey(region, h.AlarmName)
	l := append(s.history[k], h)
	if len(l) > maxHistory {
		l = append([]HistoryItem(nil), l[len(l)-maxHistory:]...)
	}
	s.history[k] = l
}

func (s *Service) propose(ctx context.Context, typ string, body any) (any, error) {
	if s.cfg.Proposer == nil {
		return nil, cwErr("InternalServiceError", "cloudwatch: no state store")
	}
	return s.cfg.Proposer.Propose(ctx, typ, 1, body)
}
