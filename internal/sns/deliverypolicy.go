package sns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// HTTP/S delivery policies (the DeliveryPolicy attribute of topics and subscriptions).
//
// A topic's policy is {"http": {"defaultHealthyRetryPolicy": {...},
// "disableSubscriptionOverrides": bool, "defaultThrottlePolicy": {...},
// "defaultRequestPolicy": {...}}}; a subscription's is {"healthyRetryPolicy": {...},
// "throttlePolicy": {...}, "requestPolicy": {...}}. A subscription's effective policy takes
// each of the three parts from the subscription when it has it (and the topic does not
// disable subscription overrides), else from the topic, else the default. A retry policy
// part replaces the other level's as a whole; its missing fields take AWS's defaults
// (minDelayTarget and maxDelayTarget 20, numRetries 3, no phases, linear). Without a retry
// policy at either level, the node's RetryPolicy applies (AWS's default schedule unless
// configured otherwise).

// AWS's defaults and limits.
const (
	defaultDelayTarget  = 20
	defaultNumRetries   = 3
	maxNumRetries       = 100
	maxDelayTargetLimit = 3600
	maxTotalRetryTime   = 3600 // seconds, all retries of one delivery
	defaultContentType  = "text/plain; charset=UTF-8"
)

var backoffFunctions = []string{"linear", "arithmetic", "geometric", "exponential"}

// contentTypes are the headerContentType values AWS documents for the delivery policy
// ("text/plain | application/json | application/xml"), and the default AWS shows.
var contentTypes = []string{"text/plain", "application/json", "application/xml", defaultContentType}

type healthyRetryPolicy struct {
	MinDelayTarget     *int   `json:"minDelayTarget,omitempty"`
	MaxDelayTarget     *int   `json:"maxDelayTarget,omitempty"`
	NumRetries         *int   `json:"numRetries,omitempty"`
	NumMaxDelayRetries *int   `json:"numMaxDelayRetries,omitempty"`
	NumNoDelayRetries  *int   `json:"numNoDelayRetries,omitempty"`
	NumMinDelayRetries *int   `json:"numMinDelayRetries,omitempty"`
	BackoffFunction    string `json:"backoffFunction,omitempty"`
}

type throttlePolicy struct {
	MaxReceivesPerSecond *int `json:"maxReceivesPerSecond,omitempty"`
}

type requestPolicy struct {
	HeaderContentType string `json:"headerContentType,omitempty"`
}

// subDeliveryPolicy is a subscription's DeliveryPolicy. SicklyRetryPolicy and Guaranteed
// appear in the EffectiveDeliveryPolicy AWS shows, so that a policy copied from it is
// accepted: they must be null and false.
type subDeliveryPolicy struct {
	HealthyRetryPolicy *healthyRetryPolicy `json:"healthyRetryPolicy,omitempty"`
	SicklyRetryPolicy  json.RawMessage     `json:"sicklyRetryPolicy,omitempty"`
	ThrottlePolicy     *throttlePolicy     `json:"throttlePolicy,omitempty"`
	RequestPolicy      *requestPolicy      `json:"requestPolicy,omitempty"`
	Guaranteed         *bool               `json:"guaranteed,omitempty"`
}

type topicHTTPPolicy struct {
	DefaultHealthyRetryPolicy    *healthyRetryPolicy `json:"defaultHealthyRetryPolicy,omitempty"`
	DisableSubscriptionOverrides *bool               `json:"disableSubscriptionOverrides,omitempty"`
	DefaultThrottlePolicy        *throttlePolicy     `json:"defaultThrottlePolicy,omitempty"`
	DefaultRequestPolicy         *requestPolicy      `json:"defaultRequestPolicy,omitempty"`
}

type topicDeliveryPolicy struct {
	HTTP *topicHTTPPolicy `json:"http,omitempty"`
}

func deliveryErr(prefix, format string, args ...any) error {
	return invalid("%sDeliveryPolicy: %s", prefix, fmt.Sprintf(format, args...))
}

// decodePolicy decodes a policy document strictly into v: one JSON object, no unknown
// members, integers where integers are expected.
func decodePolicy(doc, prefix string, v any) error {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return deliveryErr(prefix, "%s must be %s", te.Field, kindName(te.Type.String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return deliveryErr(prefix, "Unexpected JSON member: %s", strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
		}
		return deliveryErr(prefix, "failed to parse JSON")
	}
	if dec.More() {
		return deliveryErr(prefix, "failed to parse JSON")
	}
	if bytes.HasPrefix(bytes.TrimSpace([]byte(doc)), []byte("null")) {
		return deliveryErr(prefix, "failed to parse JSON")
	}
	return nil
}

func kindName(t string) string {
	switch strings.TrimPrefix(t, "*") {
	case "int":
		return "an integer"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	}
	return "an object"
}

// parseSubDeliveryPolicy checks a subscription's DeliveryPolicy and returns it normalized
// (compact JSON of the members given; "" for an empty value, which removes the policy).
func parseSubDeliveryPolicy(doc, prefix string) (string, *subDeliveryPolicy, error) {
	if doc == "" {
		return "", nil, nil
	}
	var p subDeliveryPolicy
	if err := decodePolicy(doc, prefix, &p); err != nil {
		return "", nil, err
	}
	if len(p.SicklyRetryPolicy) > 0 && string(p.SicklyRetryPolicy) != "null" {
		return "", nil, deliveryErr(prefix, "sicklyRetryPolicy is not supported by Coffer")
	}
	p.SicklyRetryPolicy = nil
	if p.Guaranteed != nil {
		if *p.Guaranteed {
			return "", nil, deliveryErr(prefix, "guaranteed is not supported by Coffer")
		}
		p.Guaranteed = nil
	}
	if err := checkParts(prefix, "", p.HealthyRetryPolicy, p.ThrottlePolicy, p.RequestPolicy); err != nil {
		return "", nil, err
	}
	b, _ := json.Marshal(p)
	return string(b), &p, nil
}

// parseTopicDeliveryPolicy checks a topic's DeliveryPolicy and returns it normalized.
func parseTopicDeliveryPolicy(doc, prefix string) (string, *topicDeliveryPolicy, error) {
	if doc == "" {
		return "", nil, nil
	}
	var p topicDeliveryPolicy
	if err := decodePolicy(doc, prefix, &p); err != nil {
		return "", nil, err
	}
	if h := p.HTTP; h != nil {
		if err := checkParts(prefix, "http.default", h.DefaultHealthyRetryPolicy, h.DefaultThrottlePolicy, h.DefaultRequestPolicy); err != nil {
			return "", nil, err
		}
	}
	b, _ := json.Marshal(p)
	return string(b), &p, nil
}

// checkParts checks the parts of a policy; path is "" (subscription) or "http.default"
// (topic), so that the member names in errors are as the caller wrote them.
func checkParts(prefix, path string, h *healthyRetryPolicy, t *throttlePolicy, r *requestPolicy) error {
	name := func(n string) string {
		if path == "" {
			return n
		}
		return path + strings.ToUpper(n[:1]) + n[1:]
	}
	if h != nil {
		if err := h.check(prefix, name("healthyRetryPolicy")+"."); err != nil {
			return err
		}
	}
	if t != nil && t.MaxReceivesPerSecond != nil && *t.MaxReceivesPerSecond < 1 {
		return deliveryErr(prefix, "%s.maxReceivesPerSecond must be greater than or equal to 1", name("throttlePolicy"))
	}
	if r != nil && r.HeaderContentType != "" && !validContentType(r.HeaderContentType) {
		return deliveryErr(prefix, "%s.headerContentType must be one of: %s", name("requestPolicy"), strings.Join(contentTypes[:3], ", "))
	}
	return nil
}

func validContentType(ct string) bool {
	for _, c := range contentTypes {
		if strings.EqualFold(ct, c) {
			return true
		}
	}
	return false
}

// schedule is a retry policy in effect: the delays before each retry.
type schedule struct {
	Min, Max                    time.Duration
	Retries                     int
	NoDelay, MinDelay, MaxDelay int
	Backoff                     string
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// schedule is h with AWS's defaults for the members it lacks.
func (h *healthyRetryPolicy) schedule() schedule {
	b := h.BackoffFunction
	if b == "" {
		b = "linear"
	}
	return schedule{
		Min:     time.Duration(intOr(h.MinDelayTarget, defaultDelayTarget)) * time.Second,
		Max:     time.Duration(intOr(h.MaxDelayTarget, defaultDelayTarget)) * time.Second,
		Retries: intOr(h.NumRetries, defaultNumRetries), NoDelay: intOr(h.NumNoDelayRetries, 0),
		MinDelay: intOr(h.NumMinDelayRetries, 0), MaxDelay: intOr(h.NumMaxDelayRetries, 0), Backoff: b,
	}
}

// check applies AWS's rules: numRetries 0-100, delays 1-3600 s with minDelayTarget <=
// maxDelayTarget, phase counts >= 0 adding up to at most numRetries, a known backoff
// function, and all retries within 3600 s.
func (h *healthyRetryPolicy) check(prefix, path string) error {
	s := h.schedule()
	ge := func(field string, v, lim int) error {
		if v < lim {
			return deliveryErr(prefix, "%s%s must be greater than or equal to %d", path, field, lim)
		}
		return nil
	}
	le := func(field string, v, lim int) error {
		if v > lim {
			return deliveryErr(prefix, "%s%s must be less than or equal to %d", path, field, lim)
		}
		return nil
	}
	minD, maxD := intOr(h.MinDelayTarget, defaultDelayTarget), intOr(h.MaxDelayTarget, defaultDelayTarget)
	for _, err := range []error{
		ge("numRetries", s.Retries, 0), le("numRetries", s.Retries, maxNumRetries),
		ge("minDelayTarget", minD, 1), le("minDelayTarget", minD, maxDelayTargetLimit),
		ge("maxDelayTarget", maxD, 1), le("maxDelayTarget", maxD, maxDelayTargetLimit),
		ge("numNoDelayRetries", s.NoDelay, 0), ge("numMinDelayRetries", s.MinDelay, 0), ge("numMaxDelayRetries", s.MaxDelay, 0),
	} {
		if err != nil {
			return err
		}
	}
	if minD > maxD {
		return deliveryErr(prefix, "%smaxDelayTarget must be greater than or equal to minDelayTarget", path)
	}
	if s.NoDelay+s.MinDelay+s.MaxDelay > s.Retries {
		return deliveryErr(prefix, "%snumRetries must be greater than or equal to total of numMinDelayRetries, numNoDelayRetries and numMaxDelayRetries", path)
	}
	if !contains(backoffFunctions, s.Backoff) {
		return deliveryErr(prefix, "%sbackoffFunction must be one of: %s", path, strings.Join(backoffFunctions, ", "))
	}
	if s.total() > maxTotalRetryTime*time.Second {
		return deliveryErr(prefix, "%s: total retry time must be less than or equal to %d seconds", strings.TrimSuffix(path, "."), maxTotalRetryTime)
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, e := range list {
		if e == v {
			return true
		}
	}
	return false
}

// delay is the delay before retry k (0 for the first retry), by AWS's phases: the
// no-delay retries, the retries at minDelayTarget, the backoff retries from minDelayTarget
// to maxDelayTarget, then the retries at maxDelayTarget. k >= Retries: no retry (-1).
//
// AWS does not publish its backoff functions; Coffer's, over the backoff phase's n
// retries i = 0..n-1 with x = i/(n-1) (x = 0 when n = 1), all starting at min and, but
// for exponential, ending at max:
//
//	linear:      min + (max-min)·x
//	arithmetic:  min + (max-min)·i(i+1)/((n-1)n)   (the increments grow arithmetically)
//	geometric:   min·(max/min)^x                   (a constant ratio)
//	exponential: min·2^i, capped at max
//
// AWS adds jitter; Coffer does not.
func (s schedule) delay(k int) time.Duration {
	switch {
	case k < 0 || k >= s.Retries:
		return -1
	case k < s.NoDelay:
		return 0
	case k < s.NoDelay+s.MinDelay:
		return s.Min
	case k >= s.Retries-s.MaxDelay:
		return s.Max
	}
	n := s.Retries - s.NoDelay - s.MinDelay - s.MaxDelay
	i := k - s.NoDelay - s.MinDelay
	lo, hi := float64(s.Min), float64(s.Max)
	var d float64
	switch s.Backoff {
	case "exponential":
		d = math.Min(lo*math.Pow(2, float64(i)), hi)
	default:
		if n == 1 {
			return s.Min
		}
		x := float64(i) / float64(n-1)
		switch s.Backoff {
		case "arithmetic":
			d = lo + (hi-lo)*float64(i*(i+1))/float64((n-1)*n)
		case "geometric":
			if lo <= 0 {
				d = lo + (hi-lo)*x
			} else {
				d = lo * math.Pow(hi/lo, x)
			}
		default: // linear
			d = lo + (hi-lo)*x
		}
	}
	return time.Duration(d).Round(time.Millisecond)
}

// total is the sum of all delays.
func (s schedule) total() time.Duration {
	var t time.Duration
	for k := range s.Retries {
		t += s.delay(k)
	}
	return t
}

// effectivePolicy is the delivery policy in effect for one subscription.
type effectivePolicy struct {
	Retry       schedule
	RetrySet    bool // from a policy (else the node's RetryPolicy)
	MaxPerSec   int  // 0: no throttle
	ContentType string
}

// nodeSchedule is the node's RetryPolicy as a schedule (exponential from MinDelay to
// MaxDelay: with the defaults, AWS's 3 retries 20 s apart). With MinDelay = MaxDelay (the
// defaults) every function gives the same delays, and the schedule is shown as AWS's
// default, linear.
func (s *Service) nodeSchedule() schedule {
	r := s.cfg.Retry
	b := "exponential"
	if r.MinDelay == r.MaxDelay {
		b = "linear"
	}
	return schedule{Min: r.MinDelay, Max: r.MaxDelay, Retries: r.Retries, Backoff: b}
}

// topicPolicy returns the parsed DeliveryPolicy of t (nil without one, or if it no
// longer parses: it was checked when it was set).
func topicPolicy(t *topicRec) *topicHTTPPolicy {
	if t == nil || t.DeliveryPolicy == "" {
		return nil
	}
	_, p, err := parseTopicDeliveryPolicy(t.DeliveryPolicy, "")
	if err != nil || p == nil {
		return nil
	}
	return p.HTTP
}

func subPolicy(sub *subRec) *subDeliveryPolicy {
	if sub == nil || sub.DeliveryPolicy == "" {
		return nil
	}
	_, p, err := parseSubDeliveryPolicy(sub.DeliveryPolicy, "")
	if err != nil {
		return nil
	}
	return p
}

// effective merges the topic's defaults and the subscription's overrides (t and sub may
// be nil).
func (s *Service) effective(t *topicRec, sub *subRec) effectivePolicy {
	var h *healthyRetryPolicy
	var th *throttlePolicy
	var rq *requestPolicy
	if tp := topicPolicy(t); tp != nil {
		h, th, rq = tp.DefaultHealthyRetryPolicy, tp.DefaultThrottlePolicy, tp.DefaultRequestPolicy
		if tp.DisableSubscriptionOverrides != nil && *tp.DisableSubscriptionOverrides {
			sub = nil
		}
	}
	if sp := subPolicy(sub); sp != nil {
		if sp.HealthyRetryPolicy != nil {
			h = sp.HealthyRetryPolicy
		}
		if sp.ThrottlePolicy != nil {
			th = sp.ThrottlePolicy
		}
		if sp.RequestPolicy != nil {
			rq = sp.RequestPolicy
		}
	}
	e := effectivePolicy{Retry: s.nodeSchedule(), ContentType: defaultContentType}
	if h != nil {
		e.Retry, e.RetrySet = h.schedule(), true
	}
	if th != nil && th.MaxReceivesPerSecond != nil {
		e.MaxPerSec = *th.MaxReceivesPerSecond
	}
	if rq != nil && rq.HeaderContentType != "" {
		e.ContentType = rq.HeaderContentType
	}
	return e
}

// healthyJSON is a schedule as AWS shows it in EffectiveDeliveryPolicy (all members).
func (sc schedule) healthyJSON() map[string]any {
	return map[string]any{
		"minDelayTarget": int(sc.Min / time.Second), "maxDelayTarget": int(sc.Max / time.Second),
		"numRetries": sc.Retries, "numMaxDelayRetries": sc.MaxDelay, "numNoDelayRetries": sc.NoDelay,
		"numMinDelayRetries": sc.MinDelay, "backoffFunction": sc.Backoff,
	}
}

// orderedJSON writes an object with its members in the given order (AWS's).
func orderedJSON(keys []string, m map[string]any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(m[k])
		if raw, ok := m[k].(json.RawMessage); ok {
			vb = raw
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.String()
}

var healthyKeys = []string{"minDelayTarget", "maxDelayTarget", "numRetries", "numMaxDelayRetries", "numNoDelayRetries", "numMinDelayRetries", "backoffFunction"}

func (sc schedule) healthyString() json.RawMessage {
	return json.RawMessage(orderedJSON(healthyKeys, sc.healthyJSON()))
}

// topicEffectiveJSON is a topic's EffectiveDeliveryPolicy: its policy with the defaults
// filled in.
func (s *Service) topicEffectiveJSON(t *topicRec) string {
	e := s.effective(t, nil)
	disable := false
	if tp := topicPolicy(t); tp != nil && tp.DisableSubscriptionOverrides != nil {
		disable = *tp.DisableSubscriptionOverrides
	}
	keys := []string{"defaultHealthyRetryPolicy", "disableSubscriptionOverrides"}
	m := map[string]any{"defaultHealthyRetryPolicy": e.Retry.healthyString(), "disableSubscriptionOverrides": disable,
		"defaultRequestPolicy": map[string]string{"headerContentType": e.ContentType}}
	if e.MaxPerSec > 0 {
		keys = append(keys, "defaultThrottlePolicy")
		m["defaultThrottlePolicy"] = map[string]int{"maxReceivesPerSecond": e.MaxPerSec}
	}
	keys = append(keys, "defaultRequestPolicy")
	return `{"http":` + orderedJSON(keys, m) + `}`
}

// subEffectiveJSON is a subscription's EffectiveDeliveryPolicy, in AWS's shape.
func (s *Service) subEffectiveJSON(t *topicRec, sub *subRec) string {
	e := s.effective(t, sub)
	var throttle any
	if e.MaxPerSec > 0 {
		throttle = map[string]int{"maxReceivesPerSecond": e.MaxPerSec}
	}
	return orderedJSON([]string{"healthyRetryPolicy", "sicklyRetryPolicy", "throttlePolicy", "requestPolicy", "guaranteed"},
		map[string]any{"healthyRetryPolicy": e.Retry.healthyString(), "sicklyRetryPolicy": nil, "throttlePolicy": throttle,
			"requestPolicy": map[string]string{"headerContentType": e.ContentType}, "guaranteed": false})
}
