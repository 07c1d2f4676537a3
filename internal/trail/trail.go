// Package trail is Coffer's CloudTrail trails: trail configuration (the replicated
// "cloudtrail" state part), delivery of the audit journal as gzipped CloudTrail log files
// into a local directory per trail, hourly signed digest files that chain to each other,
// optional envelope encryption of both with a Coffer KMS key, an SNS notification of the
// log files each delivery writes (notify.go), and the validation of a trail's files (what
// `aws cloudtrail validate-logs` does against S3).
//
// # Mapping S3 to directories
//
// A trail's S3BucketName is a directory under the trail root (<data-dir>/trails by
// default); S3KeyPrefix a sub-path in it. Object keys are the paths below the bucket
// directory, with CloudTrail's layout:
//
//	<bucket>/<prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<random>.json.gz
//	<bucket>/<prefix>/AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHMMSSZ>.json.gz
//
// S3 keeps a digest's signature in the object's metadata (signature,
// signature-algorithm); Coffer writes it next to the digest as <digest>.sig, a JSON
// object with those two keys.
package trail

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coffer-hsm/coffer/internal/state"
)

// Proposer commits commands to the replicated state (*state.Store).
type Proposer interface {
	Propose(ctx context.Context, typ string, version int, body any) (any, error)
}

// KeyService is the KMS that trails with a KmsKeyId use (the in-process Coffer KMS).
type KeyService interface {
	// Check resolves keyID (id, ARN or alias) to the key's ARN and verifies that trail
	// delivery may generate data keys under it; errors are *Error with CloudTrail's codes.
	Check(ctx context.Context, keyID string, encCtx map[string]string) (string, error)
	// GenerateDataKey returns a 256-bit data key in plaintext and encrypted under keyID.
	GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (plain, blob []byte, err error)
	// Decrypt decrypts a data key.
	Decrypt(ctx context.Context, blob []byte, encCtx map[string]string) ([]byte, error)
}

// Error is a CloudTrail error (all are HTTP 400).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Status is the HTTP status of every CloudTrail error.
const Status = http.StatusBadRequest

// Trail is one trail's replicated configuration and logging state.
type Trail struct {
	Name                       string    `json:"name"`
	Account                    string    `json:"account"`
	HomeRegion                 string    `json:"home_region"`
	S3BucketName               string    `json:"s3_bucket"`
	S3KeyPrefix                string    `json:"s3_prefix,omitempty"`
	SnsTopicName               string    `json:"sns_topic,omitempty"`
	IncludeGlobalServiceEvents bool      `json:"global_events"`
	IsMultiRegionTrail         bool      `json:"multi_region"`
	LogFileValidationEnabled   bool      `json:"validation"`
	KmsKeyId                   string    `json:"kms_key_id,omitempty"` // key ARN
	Tags                       []Tag     `json:"tags,omitempty"`
	IsLogging                  bool      `json:"logging"`
	StartLoggingTime           time.Time `json:"start_logging,omitzero"`
	StopLoggingTime            time.Time `json:"stop_logging,omitzero"`
	// Earlier are the logging periods before the last StartLogging (at most
	// maxEarlierPeriods, newest last): a StopLogging and StartLogging within one delivery
	// interval must not drop the events logged before the stop that are not delivered yet.
	Earlier []Period  `json:"earlier,omitempty"`
	Created time.Time `json:"created"`
	// EventSelectors or AdvancedEventSelectors (at most one is set) are the custom
	// selectors of PutEventSelectors; neither: CloudTrail's default (selectors.go).
	EventSelectors         []EventSelector         `json:"event_selectors,omitempty"`
	AdvancedEventSelectors []AdvancedEventSelector `json:"advanced_event_selectors,omitempty"`
}

// Period is a closed logging period.
type Period struct {
	Start time.Time `json:"start"`
	Stop  time.Time `json:"stop"`
}

// maxEarlierPeriods bounds Trail.Earlier.
const maxEarlierPeriods = 32

// Tag is a trail tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value,omitempty"`
}

// ARN is the trail's ARN.
func (t *Trail) ARN() string { return TrailARN(t.HomeRegion, t.Account, t.Name) }

// SnsTopicARN is the ARN of the trail's SNS topic ("" without one): SnsTopicName as it is
// when it is an ARN, else the topic of that name in the trail's home region and account.
func (t *Trail) SnsTopicARN() string {
	switch {
	case strings.HasPrefix(t.SnsTopicName, "arn:"):
		return t.SnsTopicName
	case t.SnsTopicName != "":
		return "arn:aws:sns:" + t.HomeRegion + ":" + t.Account + ":" + t.SnsTopicName
	}
	return ""
}

// TrailARN formats a trail ARN.
func TrailARN(region, account, name string) string {
	return "arn:aws:cloudtrail:" + region + ":" + account + ":trail/" + name
}

// PublicKey is a digest signing public key (ListPublicKeys).
type PublicKey struct {
	Region        string    `json:"region"`
	Value         []byte    `json:"value"` // DER PKCS#1 RSAPublicKey
	Fingerprint   string    `json:"fingerprint"`
	ValidityStart time.Time `json:"validity_start"`
}

// Config configures the service.
type Config struct {
	Region    string // the node's region (default us-east-1)
	AccountID string
	Proposer  Proposer
	Keys      KeyService // nil: KmsKeyId is refused
	// Notifier publishes the SNS notifications of log file deliveries (SNSNotifier);
	// nil: SnsTopicName is kept, not checked, and nothing is published.
	Notifier Notifier
	Logger   *slog.Logger
	Now      func() time.Time
}

// Service is the trail service; it implements state.Part ("cloudtrail").
type Service struct {
	cfg Config

	mu     sync.RWMutex
	trails map[string]*Trail // by ARN
	keys   []PublicKey

	statusMu sync.RWMutex
	statusFn func(arn string) DeliveryStatus // set by the deliverer

	notifyMu sync.RWMutex // guards cfg.Notifier
}

var _ state.Part = (*Service)(nil)

// New returns the service with no trails.
func New(cfg Config) *Service {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, trails: map[string]*Trail{}}
}

// Attach sets the proposer (the state store opens after the parts are created).
func (s *Service) Attach(p Proposer) { s.cfg.Proposer = p }

// SetKeys sets the KMS used for KmsKeyId.
func (s *Service) SetKeys(k KeyService) { s.cfg.Keys = k }

// SetNotifier sets the SNS publisher of log file notifications.
func (s *Service) SetNotifier(n Notifier) {
	s.notifyMu.Lock()
	s.cfg.Notifier = n
	s.notifyMu.Unlock()
}

func (s *Service) notifier() Notifier {
	s.notifyMu.RLock()
	defer s.notifyMu.RUnlock()
	return s.cfg.Notifier
}

// Trails returns copies of every trail, sorted by ARN.
func (s *Service) Trails() []Trail {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Trail, 0, len(s.trails))
	for _, t := range s.trails {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Trail) int { return strings.Compare(a.ARN(), b.ARN()) })
	return out
}

// PublicKeys returns the registered digest signing keys.
func (s *Service) PublicKeys() []PublicKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.keys)
}

// ---- state.Part ----

const (
	snapshotFormat = "coffer-cloudtrail"
	cmdPut         = "cloudtrail.trail.put"
	cmdDelete      = "cloudtrail.trail.delete"
	cmdLogging     = "cloudtrail.trail.logging"
	cmdPublicKey   = "cloudtrail.publickey.add"
	cmdTags        = "cloudtrail.trail.tags"
	cmdSelectors   = "cloudtrail.trail.selectors"
)

type persisted struct {
	Format  string            `json:"format"`
	Version int               `json:"version"`
	Trails  map[string]*Trail `json:"trails"`
	Keys    []PublicKey       `json:"keys"`
}

// Name implements state.Part.
func (s *Service) Name() string { return "cloudtrail" }

// Snapshot implements state.Part.
func (s *Service) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(persisted{Format: snapshotFormat, Version: 1, Trails: s.trails, Keys: s.keys})
}

// Restore implements state.Part.
func (s *Service) Restore(data []byte) error {
	p := persisted{Trails: map[string]*Trail{}}
	if data != nil {
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("cloudtrail: restore: %w", err)
		}
		if p.Format != snapshotFormat || p.Version != 1 {
			return fmt.Errorf("cloudtrail: restore: unsupported snapshot %q version %d", p.Format, p.Version)
		}
		if p.Trails == nil {
			p.Trails = map[string]*Trail{}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trails, s.keys = p.Trails, p.Keys
	return nil
}

type putCmd struct {
	Trail  Trail `json:"trail"`
	Create bool  `json:"create"`
}

// tagsCmd adds (or overwrites) and removes tags of a trail, by key.
type tagsCmd struct {
	ARN    string `json:"arn"`
	Add    []Tag  `json:"add,omitempty"`
	Remove []Tag  `json:"remove,omitempty"`
}

type arnCmd struct {
	ARN     string `json:"arn"`
	Logging bool   `json:"logging,omitempty"`
}

// Apply implements state.Part.
func (s *Service) Apply(index uint64, cmd state.Command) (any, error) {
	if cmd.Version != 1 {
		return nil, fmt.Errorf("cloudtrail: unknown command %s v%d", cmd.Type, cmd.Version)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch cmd.Type {
	case cmdPut:
		c, err := state.DecodeBody[putCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		t := c.Trail
		old := s.trails[t.ARN()]
		switch {
		case c.Create && old != nil:
			return nil, errorf("TrailAlreadyExistsException", "Trail %s already exists for customer: %s", t.Name, t.Account)
		case !c.Create && old == nil:
			return nil, notFound(t.ARN(), t.Account)
		case c.Create:
			t.Created = cmd.Time
		default: // an update keeps the logging state and the tags (AddTags, RemoveTags)
			t.Created, t.IsLogging, t.StartLoggingTime, t.StopLoggingTime, t.Earlier = old.Created, old.IsLogging, old.StartLoggingTime, old.StopLoggingTime, old.Earlier
			t.Tags = old.Tags
			t.EventSelectors, t.AdvancedEventSelectors = old.EventSelectors, old.AdvancedEventSelectors
		}
		s.trails[t.ARN()] = &t
		out := t
		return &out, nil
	case cmdDelete, cmdLogging:
		c, err := state.DecodeBody[arnCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		t := s.trails[c.ARN]
		if t == nil {
			return nil, errorf("TrailNotFoundException", "Unknown trail: %s", c.ARN)
		}
		if cmd.Type == cmdDelete {
			delete(s.trails, c.ARN)
			return nil, nil
		}
		n := *t
		if c.Logging && !n.IsLogging {
			if !n.StartLoggingTime.IsZero() {
				n.Earlier = append(slices.Clone(n.Earlier), Period{Start: n.StartLoggingTime, Stop: n.StopLoggingTime})
				if len(n.Earlier) > maxEarlierPeriods {
					n.Earlier = n.Earlier[len(n.Earlier)-maxEarlierPeriods:]
				}
			}
			n.IsLogging, n.StartLoggingTime = true, cmd.Time
		} else if !c.Logging && n.IsLogging {
			n.IsLogging, n.StopLoggingTime = false, cmd.Time
		}
		s.trails[c.ARN] = &n
		return &n, nil
	case cmdTags:
		c, err := state.DecodeBody[tagsCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		t := s.trails[c.ARN]
		if t == nil {
			return nil, errorf("ResourceNotFoundException", "Resource %s not found.", c.ARN)
		}
		tags := slices.Clone(t.Tags)
		for _, a := range c.Add {
			if i := slices.IndexFunc(tags, func(x Tag) bool { return x.Key == a.Key }); i >= 0 {
				tags[i].Value = a.Value
			} else {
				tags = append(tags, a)
			}
		}
		tags = slices.DeleteFunc(tags, func(x Tag) bool {
			return slices.ContainsFunc(c.Remove, func(r Tag) bool { return r.Key == x.Key })
		})
		if len(tags) > maxTags {
			return nil, errorf("TagsLimitExceededException", "The number of tags exceeds the limit of %d.", maxTags)
		}
		n := *t
		n.Tags = tags
		s.trails[c.ARN] = &n
		return &n, nil
	case cmdSelectors:
		c, err := state.DecodeBody[selectorsCmd](cmd.Body)
		if err != nil {
			return nil, err
		}
		t := s.trails[c.ARN]
		if t == nil {
			return nil, errorf("TrailNotFoundException", "Unknown trail: %s", c.ARN)
		}
		if (c.Basic == nil) == (c.Advanced == nil) {
			return nil, invalidSelectors("Use EventSelectors or AdvancedEventSelectors, not both.")
		}
		n := *t
		n.EventSelectors, n.AdvancedEventSelectors = c.Basic, c.Advanced
		s.trails[c.ARN] = &n
		out := n
		return &out, nil
	case cmdPublicKey:
		k, err := state.DecodeBody[PublicKey](cmd.Body)
		if err != nil {
			return nil, err
		}
		for _, have := range s.keys {
			if have.Fingerprint == k.Fingerprint {
				return nil, nil
			}
		}
		s.keys = append(s.keys, k)
		return nil, nil
	}
	return nil, fmt.Errorf("cloudtrail: unknown command %s v%d", cmd.Type, cmd.Version)
}

func (s *Service) propose(ctx context.Context, typ string, body any) (any, error) {
	if s.cfg.Proposer == nil {
		return nil, errorf("InternalFailure", "cloudtrail: no state store")
	}
	return s.cfg.Proposer.Propose(ctx, typ, 1, body)
}

// RegisterPublicKey records a signing public key in the replicated state (idempotent).
func (s *Service) RegisterPublicKey(ctx context.Context, k PublicKey) error {
	s.mu.RLock()
	for _, have := range s.keys {
		if have.Fingerprint == k.Fingerprint {
			s.mu.RUnlock()
			return nil
		}
	}
	s.mu.RUnlock()
	_, err := s.propose(ctx, cmdPublicKey, k)
	return err
}

// ---- names ----

var (
	trailNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	adjacentRE  = regexp.MustCompile(`[._-]{2}`)
	trailARNRE  = regexp.MustCompile(`^arn:aws[a-z-]*:cloudtrail:([a-z0-9-]+):(\d{12}):trail/(.+)$`)
	// resourceARNRE is a CloudTrail resource ARN (AddTags, RemoveTags, ListTags); the
	// submatch is the resource type.
	resourceARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:(trail|eventdatastore|channel|dashboard)/.+$`)
	bucketNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	snsTopicRE    = regexp.MustCompile(`^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:)?[A-Za-z0-9_-]{1,256}$`)
)

// ValidSnsTopic reports whether v is an SNS topic name (1-256 ASCII letters, digits,
// '_' and '-', SNS's rule) or a topic ARN, as CreateTrail's SnsTopicName may be.
func ValidSnsTopic(v string) bool { return snsTopicRE.MatchString(v) }

// ValidTrailName reports whether name follows CloudTrail's rules: 3-128 characters,
// ASCII letters, digits, '.', '_' and '-', starting and ending with a letter or digit,
// no two adjacent '.', '_' or '-', and not an IP address.
func ValidTrailName(name string) bool { return trailNameError(name) == nil }

// trailNameError is the InvalidTrailNameException of a name that breaks CloudTrail's
// rules (nil for a valid name), with the message AWS gives for the first rule broken,
// checked in AWS's order: length, first character, last character, characters,
// adjacent punctuation, IP address.
func trailNameError(name string) *Error {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	bad := func(msg string, args ...any) *Error { return errorf("InvalidTrailNameException", msg, args...) }
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return bad("Trail name cannot be blank!")
	case n < 3:
		return bad("Trail name too short. Minimum allowed length: 3 characters. Specified name length: %d characters.", n)
	case n > 128:
		return bad("Trail name too long. Maximum allowed length: 128 characters. Specified name length: %d characters.", n)
	case !alnum(name[0]):
		return bad("Trail name must starts with a letter or number.")
	case !alnum(name[len(name)-1]):
		return bad("Trail name must ends with a letter or number.")
	case !trailNameRE.MatchString(name):
		return bad("Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).")
	case adjacentRE.MatchString(name):
		return bad("Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_).")
	case net.ParseIP(name) != nil:
		return bad("Trail name cannot be formatted as an IP address.")
	}
	return nil
}

func notFound(arn, account string) *Error {
	return errorf("TrailNotFoundException", "Unknown trail: %s for the user: %s", arn, account)
}

// ValidBucketName applies S3's bucket naming rules (the name becomes a directory).
func ValidBucketName(b string) bool {
	return bucketNameRE.MatchString(b) && !strings.Contains(b, "..") && net.ParseIP(b) == nil
}

// ValidKeyPrefix: a relative path of at most 200 characters with no empty, "." or ".."
// segments and no control characters or backslashes.
func ValidKeyPrefix(p string) bool {
	if p == "" {
		return true
	}
	if len(p) > 200 || strings.ContainsAny(p, "\\\x00") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, r := range seg {
			if r < 0x20 || r == 0x7f {
				return false
			}
		}
	}
	return true
}

// Caller is the authenticated caller of an operation.
type Caller struct {
	Region  string
	Account string
}

func (c Caller) region(s *Service) string {
	if c.Region != "" {
		return c.Region
	}
	return s.cfg.Region
}

func (c Caller) account(s *Service) string {
	if c.Account != "" {
		return c.Account
	}
	return s.cfg.AccountID
}

// resolve finds the trail a Name parameter (a name or an ARN) refers to: a trail of the
// caller's region, or a multi-region trail of another region (its shadow).
func (s *Service) resolve(c Caller, name string) (*Trail, error) {
	arn := ""
	if strings.HasPrefix(name, "arn:") {
		m := trailARNRE.FindStringSubmatch(name)
		if m == nil || !ValidTrailName(m[3]) {
			return nil, errorf("CloudTrailARNInvalidException", "Invalid trail ARN: %s", name)
		}
		arn = name
	} else if err := trailNameError(name); err != nil {
		return nil, err
	} else {
		arn = TrailARN(c.region(s), c.account(s), name)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// A trail ARN of another account is unknown to the caller, as on AWS (no
	// organization trails): the ARN must not reach another account's trail.
	if t := s.trails[arn]; t != nil && t.Account == c.account(s) {
		out := *t
		return &out, nil
	}
	if !strings.HasPrefix(name, "arn:") {
		// The shadow of a multi-region trail; the first by ARN should two regions
		// hold one of the same name (one made multi-region by UpdateTrail).
		var found *Trail
		for _, t := range s.trails {
			if t.Name == name && t.Account == c.account(s) && t.IsMultiRegionTrail && (found == nil || t.ARN() < found.ARN()) {
				found = t
			}
		}
		if found != nil {
			out := *found
			return &out, nil
		}
	}
	return nil, notFound(arn, c.account(s))
}
