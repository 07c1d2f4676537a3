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
