package trail

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/sns"
)

// Op is one CloudTrail operation of the JSON 1.1 protocol.
type Op func(s *Service, ctx context.Context, c Caller, body []byte) (any, error)

var ops = map[string]Op{
	"CreateTrail":       (*Service).opCreateTrail,
	"UpdateTrail":       (*Service).opUpdateTrail,
	"GetTrail":          (*Service).opGetTrail,
	"DescribeTrails":    (*Service).opDescribeTrails,
	"ListTrails":        (*Service).opListTrails,
	"DeleteTrail":       (*Service).opDeleteTrail,
	"StartLogging":      (*Service).opStartLogging,
	"StopLogging":       (*Service).opStopLogging,
	"GetTrailStatus":    (*Service).opGetTrailStatus,
	"ListPublicKeys":    (*Service).opListPublicKeys,
	"AddTags":           (*Service).opAddTags,
	"RemoveTags":        (*Service).opRemoveTags,
	"ListTags":          (*Service).opListTags,
	"GetEventSelectors": (*Service).opGetEventSelectors,
	"PutEventSelectors": (*Service).opPutEventSelectors,

	"GetInsightSelectors": (*Service).opGetInsightSelectors,
	"PutInsightSelectors": (*Service).opPutInsightSelectors,
}

// Operations is the dispatch table of the trail operations, by name.
func Operations() map[string]Op { return maps.Clone(ops) }

// MapError maps the service's errors to the protocol's (all CloudTrail errors are 400).
func MapError(err error) *awsproto.Error {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Code == "InternalFailure" {
			return &awsproto.Error{Status: http.StatusInternalServerError, Code: e.Code, Message: e.Message}
		}
		return &awsproto.Error{Status: Status, Code: e.Code, Message: e.Message}
	}
	return nil
}

// trailInput is CreateTrail's and UpdateTrail's request.
type trailInput struct {
	Name                       string  `json:"Name"`
	S3BucketName               *string `json:"S3BucketName"`
	S3KeyPrefix                *string `json:"S3KeyPrefix"`
	SnsTopicName               *string `json:"SnsTopicName"`
	IncludeGlobalServiceEvents *bool   `json:"IncludeGlobalServiceEvents"`
	IsMultiRegionTrail         *bool   `json:"IsMultiRegionTrail"`
	EnableLogFileValidation    *bool   `json:"EnableLogFileValidation"`
	CloudWatchLogsLogGroupArn  *string `json:"CloudWatchLogsLogGroupArn"`
	CloudWatchLogsRoleArn      *string `json:"CloudWatchLogsRoleArn"`
	KmsKeyId                   *string `json:"KmsKeyId"`
	IsOrganizationTrail        *bool   `json:"IsOrganizationTrail"`
	TagsList                   []Tag   `json:"TagsList"`
}

// trailOutput is CreateTrail's and UpdateTrail's response, and the Trail shape.
type trailOutput struct {
	Name                       string `json:"Name"`
	S3BucketName               string `json:"S3BucketName"`
	S3KeyPrefix                string `json:"S3KeyPrefix,omitempty"`
	SnsTopicName               string `json:"SnsTopicName,omitempty"`
	SnsTopicARN                string `json:"SnsTopicARN,omitempty"`
	IncludeGlobalServiceEvents bool   `json:"IncludeGlobalServiceEvents"`
	IsMultiRegionTrail         bool   `json:"IsMultiRegionTrail"`
	HomeRegion                 string `json:"HomeRegion,omitempty"`
	TrailARN                   string `json:"TrailARN"`
	LogFileValidationEnabled   bool   `json:"LogFileValidationEnabled"`
	KmsKeyId                   string `json:"KmsKeyId,omitempty"`
	HasCustomEventSelectors    *bool  `json:"HasCustomEventSelectors,omitempty"`
	HasInsightSelectors        *bool  `json:"HasInsightSelectors,omitempty"`
	IsOrganizationTrail        bool   `json:"IsOrganizationTrail"`
}

func outputOf(t *Trail, full bool) *trailOutput {
	o := &trailOutput{Name: t.Name, S3BucketName: t.S3BucketName, S3KeyPrefix: t.S3KeyPrefix, SnsTopicName: t.SnsTopicName,
		IncludeGlobalServiceEvents: t.IncludeGlobalServiceEvents, IsMultiRegionTrail: t.IsMultiRegionTrail,
		TrailARN: t.ARN(), LogFileValidationEnabled: t.LogFileValidationEnabled, KmsKeyId: t.KmsKeyId}
	o.SnsTopicARN = t.SnsTopicARN() // SnsTopicName may be the topic's ARN
	if full {
		custom, insights := t.HasCustomSelectors(), false
		o.HomeRegion, o.HasCustomEventSelectors, o.HasInsightSelectors = t.HomeRegion, &custom, &insights
	}
	return o
}

// apply validates in onto t (a new trail or a copy of the existing one).
func (s *Service) apply(ctx context.Context, t *Trail, in *trailInput) error {
	if in.S3BucketName != nil {
		if !ValidBucketName(*in.S3BucketName) {
			return errorf("InvalidS3BucketNameException", "Bucket name is not valid: %s", *in.S3BucketName)
		}
		t.S3BucketName = *in.S3BucketName
	}
	if in.S3KeyPrefix != nil {
		p := strings.TrimSuffix(*in.S3KeyPrefix, "/")
		if !ValidKeyPrefix(p) {
			return errorf("InvalidS3PrefixException", "The S3 key prefix is not valid: %s", *in.S3KeyPrefix)
		}
		t.S3KeyPrefix = p
	}
	if in.SnsTopicName != nil {
		if v := *in.SnsTopicName; v != "" && !ValidSnsTopic(v) {
			return errorf("InvalidSnsTopicNameException", "SNS topic name is not valid: %s", v)
		}
		t.SnsTopicName = *in.SnsTopicName
		// As on AWS, the topic must exist (and, there, allow CloudTrail to publish).
		if n := s.notifier(); n != nil && t.SnsTopicName != "" && !n.TopicExists(sns.WithSourceArn(ctx, t.ARN()), t.SnsTopicARN()) {
			return errorf("InsufficientSnsTopicPolicyException", "SNS Topic does not exist or the topic policy is incorrect!")
		}
	}
	if in.IncludeGlobalServiceEvents != nil {
		t.IncludeGlobalServiceEvents = *in.IncludeGlobalServiceEvents
	}
	if in.IsMultiRegionTrail != nil {
		t.IsMultiRegionTrail = *in.IsMultiRegionTrail
	}
	if t.IsMultiRegionTrail && !t.IncludeGlobalServiceEvents {
		return errorf("InvalidParameterCombinationException", "Multi-Region trail must include global service events.")
	}
	if in.EnableLogFileValidation != nil {
		t.LogFileValidationEnabled = *in.EnableLogFileValidation
	}
	if in.IsOrganizationTrail != nil && *in.IsOrganizationTrail {
		return errorf("OrganizationsNotInUseException", "This account is not a member of an organization.")
	}
	if in.CloudWatchLogsLogGroupArn != nil && *in.CloudWatchLogsLogGroupArn != "" || in.CloudWatchLogsRoleArn != nil && *in.CloudWatchLogsRoleArn != "" {
		return errorf("CloudWatchLogsDeliveryUnavailableException", "Coffer does not deliver trails to CloudWatch Logs.")
	}
	if in.KmsKeyId != nil {
		id := *in.KmsKeyId
		switch {
		case id == "":
			t.KmsKeyId = ""
		case s.cfg.Keys == nil:
			return errorf("KmsException", "No KMS is available for trail encryption.")
		default:
			if len(id) > 2048 || strings.ContainsAny(id, " \t\n") || strings.HasPrefix(id, "arn:") && !kmsARNRE.MatchString(id) {
				return errorf("InvalidKmsKeyIdException", "KMS key ID is not valid: %s", id)
			}
			if r, ok := kmsARNRegion(id); ok && r != t.HomeRegion {
				return kmsOtherRegion(id, t.HomeRegion)
			}
			arn, err := s.cfg.Keys.Check(ctx, id, map[string]string{EncryptionContextKey: t.ARN()})
			if err != nil {
				return err
			}
			// As on AWS, the key must be in the trail's region (the bucket's, on AWS).
			if r, ok := kmsARNRegion(arn); ok && r != t.HomeRegion {
				return kmsOtherRegion(id, t.HomeRegion)
			}
			t.KmsKeyId = arn
		}
	}
	if in.TagsList != nil {
		if err := checkTags(in.TagsList, true); err != nil {
			return err
		}
		if len(in.TagsList) > maxTags {
			return errorf("TagsLimitExceededException", "The number of tags exceeds the limit of %d.", maxTags)
		}
		t.Tags = in.TagsList
	}
	return nil
}

// kmsARNRE is a KMS key or alias ARN; a KmsKeyId that is another ARN is
// InvalidKmsKeyIdException ("the KMS key ARN is not valid").
var kmsARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/.+$`)

// kmsARNRegion is the region of a KMS key or alias ARN.
func kmsARNRegion(id string) (string, bool) {
	parts := strings.SplitN(id, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" {
		return "", false
	}
	return parts[3], true
}

// kmsOtherRegion is CloudTrail's answer for a KMS key of another region than the trail's.
func kmsOtherRegion(id, region string) error {
	return errorf("KmsKeyNotFoundException", "KMS key %s is not in the trail's region %s.", id, region)
}

// maxTags is the number of tags a trail may have.
const maxTags = 50

// checkTags validates the tags of a request: keys of 1-128 and values of at most 256
// characters of CloudTrail's tag alphabet (letters, digits, spaces and _.:/=+-@), each key
// once. Keys that start with "aws:" are AWS's own and cannot be added (adding is true for
// CreateTrail and AddTags).
func checkTags(tags []Tag, adding bool) error {
	seen := make(map[string]bool, len(tags))
	for _, tag := range tags {
		if tag.Key == "" || utf8.RuneCountInString(tag.Key) > 128 || utf8.RuneCountInString(tag.Value) > 256 {
			return errorf("InvalidTagParameterException", "Tag keys must be 1-128 characters and values at most 256.")
		}
		if !tagCharsRE.MatchString(tag.Key) || !tagCharsRE.MatchString(tag.Value) {
			return errorf("InvalidTagParameterException", "Tag keys and values may contain only letters, numbers, spaces and _ . : / = + - @.")
		}
		if adding && strings.HasPrefix(strings.ToLower(tag.Key), "aws:") {
			return errorf("InvalidTagParameterException", "Tag keys beginning with aws: are reserved for AWS use.")
		}
		if seen[tag.Key] {
			return errorf("InvalidTagParameterException", "Tag key %s is given more than once.", tag.Key)
		}
		seen[tag.Key] = true
	}
	return nil
}

// tagCharsRE is the alphabet of tag keys and values (InvalidTagParameterException's
// documented pattern).
var tagCharsRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// EncryptionContextKey is the encryption context key of a trail's data keys; its value
// is the trail ARN.
const EncryptionContextKey = "aws:cloudtrail:arn"

func (s *Service) opCreateTrail(ctx context.Context, c Caller, body []byte) (any, error) {
	in, err := awsproto.Decode[trailInput](body)
	if err != nil {
		return nil, err
	}
	if err := trailNameError(in.Name); err != nil {
		return nil, err
	}
	if in.S3BucketName == nil || *in.S3BucketName == "" {
		return nil, errorf("InvalidS3BucketNameException", "S3 bucket name is required.")
	}
	t := &Trail{Name: in.Name, Account: c.account(s), HomeRegion: c.region(s), IncludeGlobalServiceEvents: true}
	if _, err := s.resolve(Caller{Region: t.HomeRegion, Account: t.Account}, t.ARN()); err == nil {
		return nil, errorf("TrailAlreadyExistsException", "Trail %s already exists for customer: %s", t.Name, t.Account)
	}
	if err := s.roomFor(t, in.IsMultiRegionTrail != nil && *in.IsMultiRegionTrail, ""); err != nil {
		return nil, err
	}
	if err := s.apply(ctx, t, &in); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, cmdPut, putCmd{Trail: *t, Create: true})
	if err != nil {
		return nil, err
	}
	return outputOf(res.(*Trail), false), nil
}

// roomFor checks that new trail t fits in its region, and with multi in every region where
// the account has trails: a multi-region trail has a shadow in every region, which holds
// its name there and counts against that region's limit of 5 trails, as on AWS.
// self, when not empty, is the ARN of the trail itself (UpdateTrail), which is not
// counted.
func (s *Service) roomFor(t *Trail, multi bool, self string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	regions := []string{t.HomeRegion}
	for _, o := range s.trails {
		if o.Account == t.Account && multi && !slices.Contains(regions, o.HomeRegion) {
			regions = append(regions, o.HomeRegion)
		}
	}
	slices.Sort(regions[1:])
	for _, r := range regions {
		n := 0
		for _, o := range s.trails {
			if o.Account != t.Account || o.HomeRegion != r && !o.IsMultiRegionTrail || o.ARN() == self {
				continue
			}
			if o.Name == t.Name {
				return errorf("TrailAlreadyExistsException", "Trail %s already exists for customer: %s", t.Name, t.Account)
			}
			n++
		}
		if n >= 5 {
			return errorf("MaximumNumberOfTrailsExceededException", "User: %s already has 5 trails in %s.", t.Account, r)
		}
	}
	return nil
}

func (s *Service) opUpdateTrail(ctx context.Context, c Caller, body []byte) (any, error) {
	in, err := awsproto.Decode[trailInput](body)
	if err != nil {
		return nil, err
	}
	t, err := s.resolveHome(c, in.Name)
	if err != nil {
		return nil, err
	}
	if in.S3BucketName != nil && *in.S3BucketName == "" {
		return nil, errorf("InvalidS3BucketNameException", "S3 bucket name is required.")
	}
	in.TagsList = nil // not an UpdateTrail parameter: tags change with AddTags and RemoveTags
	// A trail that becomes multi-region gets a shadow in every region: as at CreateTrail,
	// its name must be free there and the region must have room for it. Otherwise two
	// trails of one name would answer to that name in a region.
	if in.IsMultiRegionTrail != nil && *in.IsMultiRegionTrail && !t.IsMultiRegionTrail {
		if err := s.roomFor(t, true, t.ARN()); err != nil {
			return nil, err
		}
	}
	if err := s.apply(ctx, t, &in); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, cmdPut, putCmd{Trail: *t})
	if err != nil {
		return nil, err
	}
	return outputOf(res.(*Trail), false), nil
}

type nameInput struct {
	Name string `json:"Name"`
}

func (s *Service) named(c Caller, body []byte) (*Trail, error) {
	in, err := awsproto.Decode[nameInput](body)
	if err != nil {
		return nil, err
	}
	return s.resolve(c, in.Name)
}

func (s *Service) opGetTrail(ctx context.Context, c Caller, body []byte) (any, error) {
	t, err := s.named(c, body)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Trail": outputOf(t, true)}, nil
}

func (s *Service) opDescribeTrails(ctx context.Context, c Caller, body []byte) (any, error) {
	in, err := awsproto.Decode[struct {
		TrailNameList       []string `json:"trailNameList"`
		IncludeShadowTrails *bool    `json:"includeShadowTrails"`
	}](body)
	if err != nil {
		return nil, err
	}
	shadows := in.IncludeShadowTrails == nil || *in.IncludeShadowTrails
	list := []*trailOutput{}
	if len(in.TrailNameList) == 0 {
		for _, t := range s.Trails() {
			if t.Account != c.account(s) || t.HomeRegion != c.region(s) && !(shadows && t.IsMultiRegionTrail) {
				continue
			}
			list = append(list, outputOf(&t, true))
		}
		return map[string]any{"trailList": list}, nil
	}
	for _, name := range in.TrailNameList {
		t, err := s.resolve(c, name)
		var e *Error
		if errors.As(err, &e) && e.Code == "TrailNotFoundException" {
			continue // unknown names are left out, as on AWS
		}
		if err != nil {
			return nil, err
		}
		// A name finds only the caller's region's trails: a shadow trail (a multi-region
		// trail of another home region) is described only by its ARN, as on AWS.
		if t.HomeRegion != c.region(s) && (!shadows || !strings.HasPrefix(name, "arn:")) {
			continue
		}
		list = append(list, outputOf(t, true))
	}
	return map[string]any{"trailList": list}, nil
}

func (s *Service) opListTrails(ctx context.Context, c Caller, body []byte) (any, error) {
	type info struct {
		TrailARN, Name, HomeRegion string
	}
	out := []info{}
	for _, t := range s.Trails() {
		if t.Account == c.account(s) && (t.HomeRegion == c.region(s) || t.IsMultiRegionTrail) {
			out = append(out, info{t.ARN(), t.Name, t.HomeRegion})
		}
	}
	return map[string]any{"Trails": out}, nil
}

// resolveHome resolves a trail by name or ARN, and refuses it outside its home region
// (for the operations that change a trail).
func (s *Service) resolveHome(c Caller, name string) (*Trail, error) {
	t, err := s.resolve(c, name)
	if err != nil {
		return nil, err
	}
	return t, s.checkHome(c, t)
}

func (s *Service) homeNamed(c Caller, body []byte) (*Trail, error) {
	t, err := s.named(c, body)
	if err != nil {
		return nil, err
	}
	return t, s.checkHome(c, t)
}

// checkHome refuses a change to t from outside its home region.
func (s *Service) checkHome(c Caller, t *Trail) error {
	if t.HomeRegion != c.region(s) {
		return errorf("InvalidHomeRegionException", "This operation must be called from the trail's home region (%s).", t.HomeRegion)
	}
	return nil
}

// trailNamed resolves the trail a request names in TrailName (name or ARN).
func (s *Service) trailNamed(c Caller, body []byte) (*Trail, error) {
	in, err := awsproto.Decode[struct {
		TrailName string `json:"TrailName"`
	}](body)
	if err != nil {
		return nil, err
	}
	return s.resolve(c, in.TrailName)
}

func (s *Service) opDeleteTrail(ctx context.Context, c Caller, body []byte) (any, error) {
	t, err := s.homeNamed(c, body)
	if err != nil {
		return nil, err
	}
	_, err = s.propose(ctx, cmdDelete, arnCmd{ARN: t.ARN()})
	return nil, err
}

func (s *Service) logging(ctx context.Context, c Caller, body []byte, on bool) (any, error) {
	t, err := s.homeNamed(c, body)
	if err != nil {
		return nil, err
	}
	_, err = s.propose(ctx, cmdLogging, arnCmd{ARN: t.ARN(), Logging: on})
	return nil, err
}

func (s *Service) opStartLogging(ctx context.Context, c Caller, body []byte) (any, error) {
	return s.logging(ctx, c, body, true)
}

func (s *Service) opStopLogging(ctx context.Context, c Caller, body []byte) (any, error) {
	return s.logging(ctx, c, body, false)
}

// DeliveryStatus is the node's delivery record of a trail (GetTrailStatus).
type DeliveryStatus struct {
	LatestDeliveryTime        time.Time
	LatestDeliveryAttemptTime time.Time
	LatestDeliveryError       string
	LatestDigestDeliveryTime  time.Time
	LatestDigestDeliveryError string
	// The trail's last SNS notification of delivered log files: when one was last
	// published, last attempted, and the SNS error code of the last attempt if it failed.
	LatestNotificationTime        time.Time
	LatestNotificationAttemptTime time.Time
	LatestNotificationError       string
}

// SetStatusSource sets where GetTrailStatus reads delivery times from.
func (s *Service) SetStatusSource(f func(arn string) DeliveryStatus) {
	s.statusMu.Lock()
	s.statusFn = f
	s.statusMu.Unlock()
}

func (s *Service) status(arn string) DeliveryStatus {
	s.statusMu.RLock()
	defer s.statusMu.RUnlock()
	if s.statusFn == nil {
		return DeliveryStatus{}
	}
	return s.statusFn(arn)
}

func awsTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func (s *Service) opGetTrailStatus(ctx context.Context, c Caller, body []byte) (any, error) {
	in, err := awsproto.Decode[nameInput](body)
	if err != nil {
		return nil, err
	}
	t, err := s.resolve(c, in.Name)
	if err != nil {
		return nil, err
	}
	// As on AWS, the status of a shadow trail (a multi-region trail in a region other
	// than its home region) is asked for by its ARN; its name is not found there.
	if t.HomeRegion != c.region(s) && !strings.HasPrefix(in.Name, "arn:") {
		return nil, notFound(TrailARN(c.region(s), c.account(s), in.Name), c.account(s))
	}
	st := s.status(t.ARN())
	out := map[string]any{"IsLogging": t.IsLogging}
	put := func(k string, v time.Time) {
		if !v.IsZero() {
			out[k] = awsproto.Epoch(v)
		}
	}
	put("StartLoggingTime", t.StartLoggingTime)
	put("StopLoggingTime", t.StopLoggingTime)
	put("LatestDeliveryTime", st.LatestDeliveryTime)
	put("LatestDigestDeliveryTime", st.LatestDigestDeliveryTime)
	if st.LatestDeliveryError != "" {
		out["LatestDeliveryError"] = st.LatestDeliveryError
	}
	if st.LatestDigestDeliveryError != "" {
		out["LatestDigestDeliveryError"] = st.LatestDigestDeliveryError
	}
	if v := awsTime(t.StartLoggingTime); v != "" {
		out["TimeLoggingStarted"] = v
	}
	if v := awsTime(t.StopLoggingTime); v != "" {
		out["TimeLoggingStopped"] = v
	}
	if v := awsTime(st.LatestDeliveryAttemptTime); v != "" {
		out["LatestDeliveryAttemptTime"] = v
		ok := ""
		if st.LatestDeliveryError == "" {
			ok = awsTime(st.LatestDeliveryTime)
		}
		out["LatestDeliveryAttemptSucceeded"] = ok
	}
	put("LatestNotificationTime", st.LatestNotificationTime)
	if st.LatestNotificationError != "" {
		out["LatestNotificationError"] = st.LatestNotificationError
	}
	// The two notification attempt fields are "no longer in use" in CloudTrail's model;
	// they are filled like their delivery counterparts.
	out["LatestNotificationAttemptTime"], out["LatestNotificationAttemptSucceeded"] = awsTime(st.LatestNotificationAttemptTime), ""
	if st.LatestNotificationError == "" {
		out["LatestNotificationAttemptSucceeded"] = awsTime(st.LatestNotificationTime)
	}
	return out, nil
}

func (s *Service) opListPublicKeys(ctx context.Context, c Caller, body []byte) (any, error) {
	in, err := awsproto.Decode[struct {
		StartTime *awsproto.Epoch `json:"StartTime"`
		EndTime   *awsproto.Epoch `json:"EndTime"`
		NextToken string          `json:"NextToken"`
	}](body)
	if err != nil {
		return nil, err
	}
	if in.NextToken != "" {
		return nil, errorf("InvalidTokenException", "Invalid NextToken.")
	}
	now := s.cfg.Now()
	start, end := now, now
	if in.EndTime != nil {
		end = time.Time(*in.EndTime)
	}
	if in.StartTime != nil {
		start = time.Time(*in.StartTime)
	} else if in.EndTime != nil {
		start = end
	}
	if end.Before(start) {
		return nil, errorf("InvalidTimeRangeException", "Start time must be before end time.")
	}
	type pk struct {
		Value             []byte         `json:"Value"`
		ValidityStartTime awsproto.Epoch `json:"ValidityStartTime"`
		ValidityEndTime   awsproto.Epoch `json:"ValidityEndTime"`
		Fingerprint       string         `json:"Fingerprint"`
	}
	list := []pk{}
	for _, k := range s.PublicKeys() {
		// Coffer's signing keys do not rotate: each is valid from its creation on.
		if k.Region != c.region(s) || k.ValidityStart.After(end.Add(time.Hour)) {
			continue
		}
		list = append(list, pk{Value: k.Value, ValidityStartTime: awsproto.Epoch(k.ValidityStart),
			ValidityEndTime: awsproto.Epoch(now.Add(validityAhead).Truncate(time.Second)), Fingerprint: k.Fingerprint})
	}
	return map[string]any{"PublicKeyList": list}, nil
}

// validityAhead is how far ahead ListPublicKeys reports a key as valid.
const validityAhead = 24 * time.Hour

// tagsInput is AddTags' and RemoveTags' request.
type tagsInput struct {
	ResourceID string `json:"ResourceId"`
	TagsList   []Tag  `json:"TagsList"`
}

// tagged resolves the ResourceId of a tag operation: a trail ARN of the caller's account.
// Other CloudTrail resources (event data stores, channels, dashboards) do not exist in
// Coffer.
func (s *Service) tagged(c Caller, id string) (*Trail, error) {
	if id == "" {
		return nil, errorf("CloudTrailARNInvalidException", "Resource ARN can not be empty.")
	}
	m := resourceARNRE.FindStringSubmatch(id)
	if m == nil {
		return nil, errorf("CloudTrailARNInvalidException", "Invalid resource ARN: %s", id)
	}
	if m[1] != "trail" {
		return nil, errorf("ResourceNotFoundException", "Resource %s not found.", id)
	}
	t, err := s.resolve(c, id)
	var e *Error
	if errors.As(err, &e) && e.Code == "TrailNotFoundException" {
		return nil, errorf("ResourceNotFoundException", "Resource %s not found.", id)
	}
	return t, err
}

func (s *Service) changeTags(ctx context.Context, c Caller, body []byte, remove bool) (any, error) {
	in, err := awsproto.Decode[tagsInput](body)
	if err != nil {
		return nil, err
	}
	t, err := s.tagged(c, in.ResourceID)
	if err != nil {
		return nil, err
	}
	if t.HomeRegion != c.region(s) {
		return nil, errorf("InvalidHomeRegionException", "Tags of a trail change only in its home region (%s).", t.HomeRegion)
	}
	if err := checkTags(in.TagsList, !remove); err != nil {
		return nil, err
	}
	cmd := tagsCmd{ARN: t.ARN()}
	if remove {
		cmd.Remove = in.TagsList
	} else {
		cmd.Add = in.TagsList
	}
	_, err = s.propose(ctx, cmdTags, cmd)
	return map[string]any{}, err
}

func (s *Service) opAddTags(ctx context.Context, c Caller, body []byte) (any, error) {
	return s.changeTags(ctx, c, body, false)
}

func (s *Service) opRemoveTags(ctx context.Context, c Caller, body []byte) (any, error) {
	return s.changeTags(ctx, c, body, true)
}

func (s *Service) opListTags(ctx context.Context, c Caller, body []byte) (any, error) {
	in, err := awsproto.Decode[struct {
		ResourceIDList []string `json:"ResourceIdList"`
		NextToken      string   `json:"NextToken"`
	}](body)
	if err != nil {
		return nil, err
	}
	if in.NextToken != "" {
		return nil, errorf("InvalidTokenException", "Invalid NextToken.")
	}
	type resourceTag struct {
		ResourceID string `json:"ResourceId"`
		TagsList   []Tag  `json:"TagsList"`
	}
	out := make([]resourceTag, 0, len(in.ResourceIDList))
	for _, id := range in.ResourceIDList {
		t, err := s.tagged(c, id)
		if err != nil {
			return nil, err
		}
		tags := t.Tags
		if tags == nil {
			tags = []Tag{}
		}
		out = append(out, resourceTag{ResourceID: t.ARN(), TagsList: tags})
	}
	return map[string]any{"ResourceTagList": out}, nil
}
