package audit

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestRequestParametersQuery(t *testing.T) {
	for _, tc := range []struct {
		name, form string
		want       string // JSON; "" for nil
	}{
		{"flat", "Action=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Fops%2F",
			`{"userName":"alice","path":"/ops/"}`},
		{"list of structures", "Action=TagUser&UserName=alice&Tags.member.2.Key=b&Tags.member.2.Value=2&Tags.member.1.Key=a&Tags.member.1.Value=1",
			`{"userName":"alice","tags":[{"key":"a","value":"1"},{"key":"b","value":"2"}]}`},
		{"list of strings", "Action=DeleteAlarms&AlarmNames.member.1=x&AlarmNames.member.10=z&AlarmNames.member.2=y",
			`{"alarmNames":["x","y","z"]}`},
		{"map, data keys as sent", "Action=CreateTopic&Name=t&Attributes.entry.1.key=DisplayName&Attributes.entry.1.value=Ops",
			`{"name":"t","attributes":{"DisplayName":"Ops"}}`},
		{"SNS message attributes", "Action=Publish&Message=m&MessageAttributes.entry.1.Name=color&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=red",
			`{"message":"m","messageAttributes":{"color":{"dataType":"String","stringValue":"red"}}}`},
		{"nested structure in a list", "Action=PutMetricData&Namespace=App&MetricData.member.1.MetricName=m&MetricData.member.1.Dimensions.member.1.Name=Host&MetricData.member.1.Dimensions.member.1.Value=a",
			`{"namespace":"App","metricData":[{"metricName":"m","dimensions":[{"name":"Host","value":"a"}]}]}`},
		{"secrets dropped at any depth", "Action=EnableMFADevice&UserName=bob&AuthenticationCode1=123456&AuthenticationCode2=654321&Attributes.entry.1.key=Password&Attributes.entry.1.value=hunter2",
			`{"userName":"bob","attributes":{}}`},
		{"colliding names keep the first", "Action=X&A=1&A.B=2", `{"a":"1"}`},
		{"not an index", "Action=X&L.member.01=a&L.member.1=b", `{"l":{"member":{"01":"a","1":"b"}}}`},
		{"empty segments dropped", "Action=X&A..B=1&.C=2&D.=3", ""},
		{"nothing but the action", "Action=ListUsers&Version=2010-05-08", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form, err := url.ParseQuery(tc.form)
			if err != nil {
				t.Fatal(err)
			}
			got := RequestParametersQuery(form)
			if tc.want == "" {
				if got != nil {
					t.Fatalf("got %s, want nothing", got)
				}
				return
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("%v: %s", err, got)
			}
			json.Unmarshal([]byte(tc.want), &w)
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func FuzzRequestParametersQuery(f *testing.F) {
	f.Add("Action=TagUser&UserName=alice&Tags.member.1.Key=a&Tags.member.1.Value=1")
	f.Add("Attributes.entry.1.key=k&Attributes.entry.1.value=v&A=1&A.B=2")
	f.Add("MessageAttributes.entry.1.Name=n&MessageAttributes.entry.1.Value.DataType=String&NewPassword=x")
	f.Fuzz(func(t *testing.T, q string) {
		form, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		got := RequestParametersQuery(form)
		if got == nil {
			return
		}
		var v map[string]any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatalf("not a JSON object: %s", got)
		}
		// No denied value survives under any name (the deny-list is by name), unless the
		// same text is also in a name or a value that may be recorded.
		var others strings.Builder
		for k, vals := range form {
			others.WriteString(k + "\x00")
			if !Denied(k[strings.LastIndexByte(k, '.')+1:]) {
				for _, s := range vals {
					others.WriteString(s + "\x00")
				}
			}
		}
		for k, vals := range form {
			if Denied(k[strings.LastIndexByte(k, '.')+1:]) {
				for _, s := range vals {
					if len(s) >= 8 && !strings.Contains(others.String(), s) && strings.Contains(string(got), s) {
						t.Fatalf("secret %q of %q recorded: %s", s, k, got)
					}
				}
			}
		}
	})
}
