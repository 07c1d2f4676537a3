package cloudwatch

import (
	"slices"
	"strings"
)

// RequestResources returns the resources a request of operation op, signed for region
// ("" = the node's region), is authorized on, as AWS's Service Authorization Reference
// gives them for CloudWatch: the ARN of each alarm it names (PutMetricAlarm,
// PutCompositeAlarm, SetAlarmState, DescribeAlarmHistory of one alarm, DeleteAlarms,
// EnableAlarmActions, DisableAlarmActions: every alarm of AlarmNames), the ResourceARN
// of the tag operations, and "*" for the others (metrics, DescribeAlarms,
// DescribeAlarmsForMetric) and for requests naming no alarm (they fail validation, or
// act on no alarm). An alarm's ARN is that of the request's region and the node's
// account, whether or not the alarm exists.
func (s *Service) RequestResources(op, region string, body []byte) []string {
	f, err := parseForm(body)
	if err != nil {
		return []string{"*"}
	}
	region = s.region(region)
	var out []string
	switch op {
	case "PutMetricAlarm", "PutCompositeAlarm", "SetAlarmState", "DescribeAlarmHistory":
		if n := f.str("AlarmName"); n != "" {
			out = append(out, s.alarmARN(region, n))
		}
	case "DeleteAlarms", "EnableAlarmActions", "DisableAlarmActions":
		for _, n := range f.strs("AlarmNames") {
			if a := s.alarmARN(region, n); n != "" && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	case "TagResource", "UntagResource", "ListTagsForResource":
		if a := f.str("ResourceARN"); strings.HasPrefix(a, "arn:") {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return []string{"*"}
	}
	return out
}

// ResourceTags returns the tags of the alarm of an ARN RequestResources returned, for
// the aws:ResourceTag/<key> condition keys; nil when no such alarm exists ("*" included).
func (s *Service) ResourceTags(arn string) map[string]string {
	p := strings.SplitN(arn, ":", 7)
	if len(p) != 7 || p[0] != "arn" || p[2] != "cloudwatch" || p[4] != s.cfg.AccountID || p[5] != "alarm" {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.alarms[akey(p[3], p[6])]
	if a == nil || len(a.Tags) == 0 {
		return nil
	}
	out := make(map[string]string, len(a.Tags))
	for _, t := range a.Tags {
		out[t.Key] = t.Value
	}
	return out
}
