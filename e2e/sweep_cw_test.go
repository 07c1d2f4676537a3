package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// Regression tests of the CloudWatch compatibility sweep, with the real AWS CLIs: Debian's
// awscli 2.9 (query protocol) and, when it is on PATH, aws-cli v1 (AWS JSON 1.0).

type sweepTags struct{ Tags []struct{ Key, Value string } }

func (s sweepTags) String() string {
	out := ""
	for _, t := range s.Tags {
		out += t.Key + "=" + t.Value + " "
	}
	return out
}

// TestSweepCWAlarmTagsAndAlarmsForMetric: DescribeAlarmsForMetric, TagResource,
// UntagResource and ListTagsForResource exist, their answers parse in both CLIs, and an
// update of an alarm keeps its tags (AWS ignores the Tags of an update).
func TestSweepCWAlarmTagsAndAlarmsForMetric(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil)
	dc := s.creds()
	clients := map[string]*cliClient{"query": {bin: "/usr/bin/aws", endpoint: s.url, creds: dc}}
	if v1 := awsCLIs(t)["v1"]; v1 != "" {
		clients["json"] = &cliClient{bin: v1, endpoint: s.url, creds: dc}
	}
	for tag, c := range clients {
		name := "sweep-" + tag
		alarm := func(threshold string, tags ...string) {
			t.Helper()
			args := []string{"put-metric-alarm", "--alarm-name", name, "--namespace", "Sweep", "--metric-name", "Lat-" + tag,
				"--dimensions", "Name=Host,Value=h1", "--statistic", "Average", "--period", "60", "--evaluation-periods", "1",
				"--threshold", threshold, "--comparison-operator", "GreaterThanThreshold"}
			if len(tags) > 0 {
				args = append(append(args, "--tags"), tags...)
			}
			if err := c.run(nil, args...); err != nil {
				t.Fatalf("%s: %v", tag, err)
			}
		}
		alarm("1", "Key=team,Value=ops")
		var desc struct {
			MetricAlarms []struct{ AlarmName, AlarmArn string }
		}
		if err := c.run(&desc, "describe-alarms-for-metric", "--namespace", "Sweep", "--metric-name", "Lat-"+tag,
			"--dimensions", "Name=Host,Value=h1", "--statistic", "Average"); err != nil {
			t.Fatalf("%s: describe-alarms-for-metric: %v", tag, err)
		}
		if len(desc.MetricAlarms) != 1 || desc.MetricAlarms[0].AlarmName != name {
			t.Fatalf("%s: describe-alarms-for-metric: %+v", tag, desc)
		}
		arn := desc.MetricAlarms[0].AlarmArn
		tagsNow := func() string {
			t.Helper()
			var tags sweepTags
			if err := c.run(&tags, "list-tags-for-resource", "--resource-arn", arn); err != nil {
				t.Fatalf("%s: list-tags-for-resource: %v", tag, err)
			}
			return tags.String()
		}
		if got := tagsNow(); got != "team=ops " {
			t.Fatalf("%s: tags after create: %q", tag, got)
		}
		alarm("2", "Key=other,Value=x") // an update: its tags are ignored
		alarm("3")
		if got := tagsNow(); got != "team=ops " {
			t.Fatalf("%s: tags after updates: %q", tag, got)
		}
		if err := c.run(nil, "tag-resource", "--resource-arn", arn, "--tags", "Key=env,Value=prod", "Key=team,Value=sec"); err != nil {
			t.Fatalf("%s: tag-resource: %v", tag, err)
		}
		if err := c.run(nil, "untag-resource", "--resource-arn", arn, "--tag-keys", "env"); err != nil {
			t.Fatalf("%s: untag-resource: %v", tag, err)
		}
		if got := tagsNow(); got != "team=sec " {
			t.Fatalf("%s: tags after tag and untag: %q", tag, got)
		}
		var ce *cliError
		if err := c.run(nil, "list-tags-for-resource", "--resource-arn", arn+"-nope"); !errors.As(err, &ce) || ce.code != "ResourceNotFoundException" {
			t.Fatalf("%s: list-tags-for-resource of a missing alarm: %v", tag, err)
		}
	}
}

// TestSweepCWGetMetricDataPages: GetMetricData returns NextToken when MaxDatapoints
// stops it, and the CLI's paginator (--page-size) collects every datapoint.
func TestSweepCWGetMetricDataPages(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Skip("Debian's awscli is not installed (make deps installs it)")
	}
	s := startServer(t, "", nil)
	c := &cliClient{bin: "/usr/bin/aws", endpoint: s.url, creds: s.creds()}
	at := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	data := ""
	for i := range 5 {
		data += fmt.Sprintf(`{"MetricName":"Lat","Value":%d,"Timestamp":"%s"},`, i+1, at.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
	}
	// Values with Counts: percentiles count each value by its count.
	data += fmt.Sprintf(`{"MetricName":"Sizes","Values":[1,2,3],"Counts":[1,1,2],"Timestamp":"%s"}`, at.Format(time.RFC3339))
	if err := c.run(nil, "put-metric-data", "--namespace", "Sweep", "--metric-data", "["+data+"]"); err != nil {
		t.Fatal(err)
	}
	q := `[{"Id":"a","MetricStat":{"Metric":{"Namespace":"Sweep","MetricName":"Lat"},"Period":60,"Stat":"Sum"}},` +
		`{"Id":"b","MetricStat":{"Metric":{"Namespace":"Sweep","MetricName":"Lat"},"Period":60,"Stat":"Maximum"}}]`
	window := []string{"--start-time", at.Format(time.RFC3339), "--end-time", at.Add(time.Hour).Format(time.RFC3339), "--scan-by", "TimestampAscending"}
	type result struct {
		MetricDataResults []struct {
			ID         string `json:"Id"`
			Values     []float64
			StatusCode string
		}
		NextToken string
	}
	var one result
	if err := c.run(&one, append([]string{"get-metric-data", "--metric-data-queries", q, "--max-datapoints", "3"}, window...)...); err != nil {
		t.Fatal(err)
	}
	if one.NextToken == "" || len(one.MetricDataResults) != 1 || one.MetricDataResults[0].StatusCode != "PartialData" {
		t.Fatalf("first page of 3: %+v", one)
	}
	var all result
	if err := c.run(&all, append([]string{"get-metric-data", "--metric-data-queries", q, "--page-size", "3"}, window...)...); err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for _, r := range all.MetricDataResults {
		got[r.ID] = append(got[r.ID], r.Values...)
	}
	if want := (map[string][]float64{"a": {1, 2, 3, 4, 5}, "b": {1, 2, 3, 4, 5}}); !reflect.DeepEqual(got, want) || all.NextToken != "" {
		t.Fatalf("paginated: %v (next %q), want %v", got, all.NextToken, want)
	}
	// Metric math: a*10 - b (both series have every minute).
	mq := `[{"Id":"a","ReturnData":false,"MetricStat":{"Metric":{"Namespace":"Sweep","MetricName":"Lat"},"Period":60,"Stat":"Sum"}},` +
		`{"Id":"b","ReturnData":false,"MetricStat":{"Metric":{"Namespace":"Sweep","MetricName":"Lat"},"Period":60,"Stat":"Maximum"}},` +
		`{"Id":"e1","Expression":"a * 10 - b","Label":"ten times less one"}]`
	var math result
	if err := c.run(&math, append([]string{"get-metric-data", "--metric-data-queries", mq}, window...)...); err != nil {
		t.Fatal(err)
	}
	if len(math.MetricDataResults) != 1 || math.MetricDataResults[0].ID != "e1" ||
		!reflect.DeepEqual(math.MetricDataResults[0].Values, []float64{9, 18, 27, 36, 45}) {
		t.Fatalf("metric math: %+v", math)
	}
	var ce *cliError
	if err := c.run(nil, append([]string{"get-metric-data", "--metric-data-queries", `[{"Id":"e1","Expression":"TOTAL(METRICS())"}]`}, window...)...); !errors.As(err, &ce) || ce.code != "ValidationError" {
		t.Fatalf("an unknown function: %v", err)
	}
	var stats struct {
		Datapoints []struct{ ExtendedStatistics map[string]float64 }
	}
	if err := c.run(&stats, "get-metric-statistics", "--namespace", "Sweep", "--metric-name", "Sizes", "--period", "60",
		"--extended-statistics", "p50", "p100", "--start-time", at.Format(time.RFC3339), "--end-time", at.Add(time.Minute).Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	if len(stats.Datapoints) != 1 || !reflect.DeepEqual(stats.Datapoints[0].ExtendedStatistics, map[string]float64{"p50": 2, "p100": 3}) {
		t.Fatalf("percentiles of 1, 2, 3×2: %+v", stats)
	}
}

// TestSweepCWSDK: the new operations and GetMetricData's pages through aws-sdk-go-v2
// (Smithy RPC v2 CBOR), with its typed errors and its paginator.
func TestSweepCWSDK(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s := startServer(t, "", nil)
	dc := s.creds()
	c := cloudwatch.New(cloudwatch.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: dc.RootAccessKeyID, SecretAccessKey: dc.RootSecretAccessKey, Source: "e2e"}, nil
		})})
	dims := []cwtypes.Dimension{{Name: aws.String("Host"), Value: aws.String("h1")}}
	put := func(threshold float64, tags ...cwtypes.Tag) {
		t.Helper()
		if _, err := c.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("sdk"), Namespace: aws.String("Sweep"),
			MetricName: aws.String("Lat"), Dimensions: dims, Statistic: cwtypes.StatisticAverage, Period: aws.Int32(60),
			EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(threshold), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
			Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	put(1, cwtypes.Tag{Key: aws.String("team"), Value: aws.String("ops")})
	put(2, cwtypes.Tag{Key: aws.String("other"), Value: aws.String("x")})
	am, err := c.DescribeAlarmsForMetric(ctx, &cloudwatch.DescribeAlarmsForMetricInput{Namespace: aws.String("Sweep"), MetricName: aws.String("Lat"), Dimensions: dims})
	if err != nil || len(am.MetricAlarms) != 1 || aws.ToFloat64(am.MetricAlarms[0].Threshold) != 2 {
		t.Fatalf("DescribeAlarmsForMetric: %+v %v", am, err)
	}
	arn := am.MetricAlarms[0].AlarmArn
	if _, err := c.TagResource(ctx, &cloudwatch.TagResourceInput{ResourceARN: arn, Tags: []cwtypes.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &cloudwatch.UntagResourceInput{ResourceARN: arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &cloudwatch.ListTagsForResourceInput{ResourceARN: arn})
	if err != nil || len(lt.Tags) != 1 || aws.ToString(lt.Tags[0].Key) != "env" || aws.ToString(lt.Tags[0].Value) != "prod" {
		t.Fatalf("ListTagsForResource: %+v %v", lt, err)
	}
	var nf *cwtypes.ResourceNotFoundException
	if _, err := c.ListTagsForResource(ctx, &cloudwatch.ListTagsForResourceInput{ResourceARN: aws.String(aws.ToString(arn) + "-nope")}); !errors.As(err, &nf) {
		t.Fatalf("ListTagsForResource of a missing alarm: %T %v", err, err)
	}

	at := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	var data []cwtypes.MetricDatum
	for i := range 5 {
		data = append(data, cwtypes.MetricDatum{MetricName: aws.String("Lat"), Value: aws.Float64(float64(i + 1)), Timestamp: aws.Time(at.Add(time.Duration(i) * time.Minute))})
	}
	if _, err := c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Sweep"), MetricData: data}); err != nil {
		t.Fatal(err)
	}
	p := cloudwatch.NewGetMetricDataPaginator(c, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(at), EndTime: aws.Time(at.Add(time.Hour)),
		ScanBy: cwtypes.ScanByTimestampAscending, MaxDatapoints: aws.Int32(2),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("a"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("Sweep"), MetricName: aws.String("Lat")}, Period: aws.Int32(60), Stat: aws.String("Sum")}}}})
	var values []float64
	pages := 0
	for p.HasMorePages() && pages < 10 {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range out.MetricDataResults {
			values = append(values, r.Values...)
		}
	}
	if !reflect.DeepEqual(values, []float64{1, 2, 3, 4, 5}) || pages != 3 {
		t.Fatalf("GetMetricData pages: %d pages, %v", pages, values)
	}
}
