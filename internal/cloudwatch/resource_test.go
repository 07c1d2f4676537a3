package cloudwatch

import (
	"slices"
	"testing"
)

// TestRequestResources: each alarm operation is authorized on the ARN of every alarm it
// names, in the request's region; the metric and listing operations on "*".
func TestRequestResources(t *testing.T) {
	s := New(Config{Region: "us-east-1", AccountID: "111122223333"})
	const a = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:"
	for _, tc := range []struct {
		op, body string
		want     []string
	}{
		{"PutMetricAlarm", "AlarmName=critical-db&MetricName=m&Namespace=n", []string{a + "critical-db"}},
		{"PutCompositeAlarm", "AlarmName=c&AlarmRule=ALARM(x)", []string{a + "c"}},
		{"SetAlarmState", "AlarmName=critical-db&StateValue=OK&StateReason=r", []string{a + "critical-db"}},
		{"DescribeAlarmHistory", "AlarmName=x%3Ay", []string{a + "x:y"}},
		{"DescribeAlarmHistory", "", []string{"*"}},
		{"DeleteAlarms", "AlarmNames.member.1=one&AlarmNames.member.2=two&AlarmNames.member.3=one", []string{a + "one", a + "two"}},
		{"EnableAlarmActions", "AlarmNames.member.1=one", []string{a + "one"}},
		{"DisableAlarmActions", "AlarmNames.member.2=two&AlarmNames.member.1=one", []string{a + "one", a + "two"}},
		{"TagResource", "ResourceARN=" + a + "one&Tags.member.1.Key=k", []string{a + "one"}},
		{"UntagResource", "ResourceARN=" + a + "one", []string{a + "one"}},
		{"ListTagsForResource", "ResourceARN=" + a + "one", []string{a + "one"}},
		{"ListTagsForResource", "ResourceARN=nonsense", []string{"*"}},
		{"DeleteAlarms", "", []string{"*"}},
		{"DescribeAlarms", "AlarmNames.member.1=one", []string{"*"}},
		{"DescribeAlarmsForMetric", "MetricName=m&Namespace=n", []string{"*"}},
		{"PutMetricData", "Namespace=n", []string{"*"}},
		{"GetMetricData", "", []string{"*"}},
		{"GetMetricStatistics", "", []string{"*"}},
		{"ListMetrics", "", []string{"*"}},
	} {
		if got := s.RequestResources(tc.op, "eu-west-1", []byte(tc.body)); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: %q, want %q", tc.op, tc.body, got, tc.want)
		}
	}
	// A request without a region is the node's region's.
	if got := s.RequestResources("SetAlarmState", "", []byte("AlarmName=x")); !slices.Equal(got, []string{"arn:aws:cloudwatch:us-east-1:111122223333:alarm:x"}) {
		t.Errorf("no region: %q", got)
	}
}
