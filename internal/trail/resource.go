package trail

import (
	"encoding/json"
	"slices"
	"strings"
)

// RequestResources returns the trail ARNs a request of operation op is authorized on, as
// AWS's Service Authorization Reference gives them for CloudTrail: the trail it names
// (Name of CreateTrail, UpdateTrail, DeleteTrail, GetTrail, StartLogging, StopLogging,
// GetTrailStatus; TrailName of Get/PutEventSelectors and Get/PutInsightSelectors;
// ResourceId of AddTags and RemoveTags; every ResourceIdList entry of ListTags), and "*"
// for the others (DescribeTrails, ListTrails, ListPublicKeys, LookupEvents) and for
// requests naming none (they fail validation). A name (or ARN) of an existing trail of
// the caller's account is its ARN, that of its home region for the shadow of a
// multi-region trail; any other name is the ARN it would have in the request's region
// ("" = the node's), and an ARN is taken as given.
func (s *Service) RequestResources(op string, c Caller, body []byte) []string {
	var in struct {
		Name           string   `json:"Name"`
		TrailName      string   `json:"TrailName"`
		ResourceID     string   `json:"ResourceId"`
		ResourceIDList []string `json:"ResourceIdList"`
	}
	if len(body) > 0 && json.Unmarshal(body, &in) != nil {
		return []string{"*"}
	}
	var names []string
	switch op {
	case "CreateTrail", "UpdateTrail", "DeleteTrail", "GetTrail", "StartLogging", "StopLogging", "GetTrailStatus":
		names = []string{in.Name}
	case "GetEventSelectors", "PutEventSelectors", "GetInsightSelectors", "PutInsightSelectors":
		names = []string{in.TrailName}
	case "AddTags", "RemoveTags":
		names = []string{in.ResourceID}
	case "ListTags":
		names = in.ResourceIDList
	}
	var out []string
	for _, n := range names {
		if n == "" {
			continue
		}
		arn := n
		if op == "CreateTrail" && !strings.HasPrefix(n, "arn:") {
			arn = TrailARN(c.region(s), c.account(s), n) // the trail it creates, not a shadow of that name
		} else if t, err := s.resolve(c, n); err == nil {
			arn = t.ARN()
		} else if !strings.HasPrefix(n, "arn:") {
			arn = TrailARN(c.region(s), c.account(s), n)
		}
		if !slices.Contains(out, arn) {
			out = append(out, arn)
		}
	}
	if len(out) == 0 {
		return []string{"*"}
	}
	return out
}

// ResourceTags returns the tags of the caller's account's trail of an ARN
// RequestResources returned, for the aws:ResourceTag/<key> condition keys; nil when no
// such trail exists ("*" included).
func (s *Service) ResourceTags(c Caller, arn string) map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.trails[arn]
	if t == nil || t.Account != c.account(s) || len(t.Tags) == 0 {
		return nil
	}
	out := make(map[string]string, len(t.Tags))
	for _, tg := range t.Tags {
		out[tg.Key] = tg.Value
	}
	return out
}
