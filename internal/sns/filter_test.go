package sns

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// Attribute helpers for the matcher tables.
func str(v string) MessageAttributeValue {
	return MessageAttributeValue{DataType: "String", StringValue: v}
}
func num(v string) MessageAttributeValue {
	return MessageAttributeValue{DataType: "Number", StringValue: v}
}
func arr(v string) MessageAttributeValue {
	return MessageAttributeValue{DataType: "String.Array", StringValue: v}
}
func bin(v string) MessageAttributeValue {
	return MessageAttributeValue{DataType: "Binary", BinaryValue: []byte(v)}
}
func attrs(kv ...any) map[string]MessageAttributeValue {
	m := map[string]MessageAttributeValue{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(MessageAttributeValue)
	}
	return m
}

// TestFilterPolicyMatchesAttributes: the examples of AWS's "Amazon SNS message filtering"
// pages (string, numeric and key matching, AND/OR logic), on message attributes.
func TestFilterPolicyMatchesAttributes(t *testing.T) {
	cases := []struct {
		policy string
		attrs  map[string]MessageAttributeValue
		want   bool
	}{
		// Exact string matching; String.Array elements match one by one.
		{`{"customer_interests": ["rugby", "tennis"]}`, attrs("customer_interests", str("rugby")), true},
		{`{"customer_interests": ["rugby", "tennis"]}`, attrs("customer_interests", str("tennis")), true},
		{`{"customer_interests": ["rugby", "tennis"]}`, attrs("customer_interests", arr(`["rugby", "tennis"]`)), true},
		{`{"customer_interests": ["rugby", "tennis"]}`, attrs("customer_interests", str("baseball")), false},
		{`{"customer_interests": ["rugby", "tennis"]}`, attrs("customer_interests", arr(`["baseball"]`)), false},
		{`{"customer_interests": ["rugby"]}`, attrs("customer_interests", str("Rugby")), false}, // case-sensitive
		{`{"customer_interests": ["rugby"]}`, attrs("other", str("rugby")), false},
		{`{"customer_interests": ["rugby"]}`, attrs("customer_interests", str("rugby"), "other", str("x")), true},
		// A custom String type is a string; Binary attributes are ignored.
		{`{"kind": ["a"]}`, attrs("kind", MessageAttributeValue{DataType: "String.custom", StringValue: "a"}), true},
		{`{"kind": ["a"]}`, attrs("kind", bin("a")), false},
		// Anything-but.
		{`{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}`, attrs("customer_interests", str("baseball")), true},
		{`{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}`, attrs("customer_interests", str("rugby")), false},
		{`{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}`, attrs("customer_interests", arr(`["rugby", "baseball"]`)), true},
		{`{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}`, attrs("other", str("x")), false},
		{`{"customer_interests": [{"anything-but": "rugby"}]}`, attrs("customer_interests", str("tennis")), true},
		{`{"event": [{"anything-but": {"prefix": "order-"}}]}`, attrs("event", str("data-entry")), true},
		{`{"event": [{"anything-but": {"prefix": "order-"}}]}`, attrs("event", str("order-cancelled")), false},
		{`{"price": [{"anything-but": [100, 500]}]}`, attrs("price", num("101")), true},
		{`{"price": [{"anything-but": [100, 500]}]}`, attrs("price", num("100.1")), true},
		{`{"price": [{"anything-but": [100, 500]}]}`, attrs("price", num("100")), false},
		{`{"price": [{"anything-but": [100, 500]}]}`, attrs("price", num("1e2")), false},
		// Prefix, suffix, equals-ignore-case.
		{`{"customer_interests": [{"prefix": "bas"}]}`, attrs("customer_interests", str("baseball")), true},
		{`{"customer_interests": [{"prefix": "bas"}]}`, attrs("customer_interests", str("rugby")), false},
		{`{"customer_interests": [{"suffix": "ball"}]}`, attrs("customer_interests", arr(`["rugby", "basketball"]`)), true},
		{`{"customer_interests": [{"suffix": "ball"}]}`, attrs("customer_interests", str("rugby")), false},
		{`{"customer_interests": [{"equals-ignore-case": "tennis"}]}`, attrs("customer_interests", str("TeNnIs")), true},
		{`{"customer_interests": [{"equals-ignore-case": "tennis"}]}`, attrs("customer_interests", str("tennis2")), false},
		// Numeric matching: Number attributes (and numbers in a String.Array), by value.
		{`{"price_usd": [{"numeric": ["=", 301.5]}]}`, attrs("price_usd", num("301.5")), true},
		{`{"price_usd": [{"numeric": ["=", 301.5]}]}`, attrs("price_usd", num("3.015e2")), true},
		{`{"price_usd": [{"numeric": ["=", 301.5]}]}`, attrs("price_usd", str("301.5")), false},
		{`{"price_usd": [301.5]}`, attrs("price_usd", num("3.015e2")), true},
		{`{"price_usd": ["301.5"]}`, attrs("price_usd", num("301.5")), false},
		{`{"price_usd": [{"numeric": ["<", 0]}]}`, attrs("price_usd", num("-0.5")), true},
		{`{"price_usd": [{"numeric": ["<", 0]}]}`, attrs("price_usd", num("0")), false},
		{`{"price_usd": [{"numeric": [">", 0, "<=", 150]}]}`, attrs("price_usd", num("150")), true},
		{`{"price_usd": [{"numeric": [">", 0, "<=", 150]}]}`, attrs("price_usd", num("150.000001")), true}, // five decimal digits
		{`{"price_usd": [{"numeric": [">", 0, "<=", 150]}]}`, attrs("price_usd", num("150.0001")), false},
		{`{"price_usd": [{"numeric": [">", 0, "<=", 150]}]}`, attrs("price_usd", num("0")), false},
		{`{"price_usd": [{"numeric": [">=", 10, "<", 20]}]}`, attrs("price_usd", arr(`[5, 15]`)), true},
		// Key matching. exists:false needs at least one attribute.
		{`{"store": [{"exists": true}]}`, attrs("store", str("fans"), "customer_interests", arr(`["baseball", "basketball"]`)), true},
		{`{"store": [{"exists": true}]}`, attrs("customer_interests", arr(`["baseball", "basketball"]`)), false},
		{`{"store": [{"exists": false}]}`, attrs("store", str("fans"), "customer_interests", arr(`["baseball"]`)), false},
		{`{"store": [{"exists": false}]}`, attrs("customer_interests", arr(`["baseball", "basketball"]`)), true},
		{`{"store": [{"exists": false}]}`, nil, false},
		{`{"store": [{"exists": false}]}`, attrs("blob", bin("x")), false},
		{`{"store": [{"exists": true}]}`, attrs("store", arr(`[]`)), false},
		// AND across keys, OR within a key's values.
		{`{"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}`, attrs("customer_interests", str("rugby"), "price_usd", num("101")), true},
		{`{"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}`, attrs("customer_interests", str("rugby"), "price_usd", num("100")), false},
		{`{"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}`, attrs("customer_interests", str("football"), "price_usd", num("500")), false},
		{`{"customer_interests": ["rugby", "football", "baseball"]}`, attrs("customer_interests", str("football")), true},
		{`{"customer_interests": ["rugby", {"prefix": "foot"}]}`, attrs("customer_interests", str("footgolf")), true},
		// $or.
		{`{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}]}`,
			attrs("source", str("aws.cloudwatch"), "metricName", str("ReadLatency")), true},
		{`{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}]}`,
			attrs("source", str("aws.cloudwatch"), "namespace", str("AWS/ES")), true},
		{`{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}]}`,
			attrs("source", str("aws.cloudwatch"), "namespace", str("AWS/RDS")), false},
		{`{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}]}`,
			attrs("source", str("other"), "metricName", str("ReadLatency")), false},
		// "$or" without a list of two objects is an ordinary key.
		{`{"$or": ["x"]}`, attrs("$or", str("x")), true},
		{`{"$or": [{"prefix": "x"}, {"suffix": "y"}]}`, attrs("$or", str("xa")), true},
		// CIDR.
		{`{"source_ip": [{"cidr": "10.0.0.0/24"}]}`, attrs("source_ip", str("10.0.0.255")), true},
		{`{"source_ip": [{"cidr": "10.0.0.0/24"}]}`, attrs("source_ip", str("10.0.1.1")), false},
		{`{"source_ip": [{"cidr": "2001:db8::/32"}]}`, attrs("source_ip", str("2001:db8::1")), true},
		// A repeated key keeps its last value.
		{`{"a": ["x"], "a": ["y"]}`, attrs("a", str("y")), true},
		{`{"a": ["x"], "a": ["y"]}`, attrs("a", str("x")), false},
		// The empty policy filters nothing.
		{`{}`, nil, true},
	}
	for _, c := range cases {
		p, err := compileFilterPolicy(c.policy, ScopeMessageAttributes)
		if err != nil {
			t.Fatalf("%s: %v", c.policy, err)
		}
		if got := p.matches(&message{attrs: c.attrs, body: "not json"}); got != c.want {
			t.Errorf("%s on %v: got %v, want %v", c.policy, c.attrs, got, c.want)
		}
	}
}

// TestFilterPolicyMatchesBody: FilterPolicyScope MessageBody, with AWS's examples and
// nested keys.
func TestFilterPolicyMatchesBody(t *testing.T) {
	cases := []struct {
		policy, body string
		want         bool
	}{
		{`{"customer_interests": ["rugby", "tennis"]}`, `{"customer_interests": "rugby"}`, true},
		{`{"customer_interests": ["rugby", "tennis"]}`, `{"customer_interests": "baseball"}`, false},
		{`{"customer_interests": ["rugby", "tennis"]}`, `{"customer_interests": ["baseball", "tennis"]}`, true},
		{`{"price_usd": [{"numeric": ["=", 301.5]}]}`, `{"price_usd": 3.015e2}`, true},
		{`{"price": [{"anything-but": [100, 500]}]}`, `{"price": [100, 50]}`, true},
		{`{"price": [{"anything-but": [100, 500]}]}`, `{"price": 100}`, false},
		{`{"store": [{"exists": true}]}`, `{"store": "fans", "customer_interests": ["baseball", "basketball"]}`, true},
		{`{"store": [{"exists": true}]}`, `{"customer_interests": ["baseball", "basketball"]}`, false},
		{`{"store": [{"exists": true}]}`, `{"store": null}`, false},
		{`{"store": [{"exists": false}]}`, `{"customer_interests": ["baseball", "basketball"]}`, true},
		{`{"store": [{"exists": false}]}`, `{"store": "fans"}`, false},
		{`{"store": [{"exists": false}]}`, `{}`, false},
		{`{"flag": [true], "none": [null]}`, `{"flag": true, "none": null}`, true},
		{`{"flag": [true]}`, `{"flag": "true"}`, false},
		// Nested keys.
		{`{"order": {"status": ["paid"], "total": [{"numeric": [">", 10]}]}}`, `{"order": {"status": "paid", "total": 12}}`, true},
		{`{"order": {"status": ["paid"], "total": [{"numeric": [">", 10]}]}}`, `{"order": {"status": "paid", "total": 5}}`, false},
		{`{"order": {"status": ["paid"], "total": [{"numeric": [">", 10]}]}}`, `{"order": [{"status": "paid", "total": 50}]}`, true},
		// Under an array of objects, one element matches the whole nested policy.
		{`{"order": {"status": ["paid"], "total": [{"numeric": [">", 10]}]}}`, `{"order": [{"status": "paid", "total": 5}, {"status": "new", "total": 50}]}`, false},
		{`{"order": {"status": ["paid"]}}`, `{"order": "paid"}`, false},
		{`{"order": {"status": [{"exists": false}]}}`, `{"other": 1}`, true},
		{`{"a": {"b": {"c": [{"prefix": "x"}]}}}`, `{"a": {"b": {"c": "xyz"}}}`, true},
		{`{"a": {"$or": [{"b": ["1"]}, {"c": ["2"]}]}}`, `{"a": {"c": "2"}}`, true},
		{`{"a": {"$or": [{"b": ["1"]}, {"c": ["2"]}]}}`, `{"a": {"c": "1"}}`, false},
		// The body must be a JSON object.
		{`{"a": [{"exists": false}]}`, `not json`, false},
		{`{"a": [{"exists": false}]}`, `["a"]`, false},
		{`{"a": ["x"]}`, `{"a": "x"} trailing`, false},
		// Alarm notifications are JSON documents.
		{`{"NewStateValue": ["ALARM"], "Trigger": {"MetricName": ["FailedLoginCount"]}}`,
			`{"AlarmName":"a","NewStateValue":"ALARM","Trigger":{"MetricName":"FailedLoginCount","Threshold":2}}`, true},
		{`{"NewStateValue": ["ALARM"]}`, `{"AlarmName":"a","NewStateValue":"OK"}`, false},
	}
	for _, c := range cases {
		p, err := compileFilterPolicy(c.policy, ScopeMessageBody)
		if err != nil {
			t.Fatalf("%s: %v", c.policy, err)
		}
		// The message attributes play no part in this scope.
		m := &message{body: c.body, attrs: attrs("a", str("x"), "store", str("fans"))}
		if got := p.matches(m); got != c.want {
			t.Errorf("%s on %s: got %v, want %v", c.policy, c.body, got, c.want)
		}
	}
}

// values is a policy key with n values.
func values(key string, n int) string {
	v := make([]string, n)
	for i := range v {
		v[i] = strconv.Itoa(i)
	}
	return `"` + key + `": [` + strings.Join(v, ",") + `]`
}

// TestFilterPolicyValidation: AWS's constraints and error messages.
func TestFilterPolicyValidation(t *testing.T) {
	ok := []struct{ policy, scope string }{
		{`{}`, ScopeMessageAttributes},
		{`{` + values("a", 10) + `,` + values("b", 15) + `}`, ScopeMessageAttributes}, // 150 combinations
		{`{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"]}`, ScopeMessageAttributes},
		// AWS's nested example: 4 values at depth 3, 3 at depth 2: 3*4*2*3 = 72.
		{`{"key_a": {"key_b": {"key_c": ["value_one", "value_two", "value_three", "value_four"]}}, "key_d": {"key_e": ["value_one", "value_two", "value_three"]}}`, ScopeMessageBody},
		// AWS's $or example: (1*2) + (1*1*2) + (1*1*3) = 7.
		{`{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"metricType": ["MetricType"], "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}]}]}`, ScopeMessageAttributes},
		{`{"a": [{"numeric": [">=", -1e9, "<", 1e9]}, {"anything-but": 5}, {"anything-but": {"prefix": "x"}}, null, true, 1.5, "s"]}`, ScopeMessageAttributes},
		{`{"a": ["x"], "a": ["y"]}`, ScopeMessageAttributes},                                   // a repeated key keeps its last value
		{strings.Repeat(`{"a": `, 149) + `["x"]` + strings.Repeat(`}`, 149), ScopeMessageBody}, // 149 combinations
	}
	for _, c := range ok {
		if _, err := compileFilterPolicy(c.policy, c.scope); err != nil {
			t.Errorf("%s (%s): %v", c.policy, c.scope, err)
		}
	}
	bad := []struct{ policy, scope, want string }{
		{`{`, ScopeMessageAttributes, "FilterPolicy: failed to parse JSON."},
		{`{"a": ["x"]} {}`, ScopeMessageAttributes, "FilterPolicy: failed to parse JSON."},
		{"{\"a\": [\"\xff\"]}", ScopeMessageAttributes, "FilterPolicy: failed to parse JSON."},
		{`["a"]`, ScopeMessageAttributes, "FilterPolicy: Filter policy must be a JSON object"},
		{`{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}`, ScopeMessageAttributes, "FilterPolicy: Filter policy can not have more than 5 keys"},
		{`{"a": []}`, ScopeMessageAttributes, "FilterPolicy: Empty arrays are not allowed"},
		{`{"a": "x"}`, ScopeMessageAttributes, `FilterPolicy: "a" must be an object or an array`},
		{`{"a": {"b": ["x"]}}`, ScopeMessageAttributes, "Filter policy scope MessageAttributes does not support nested filter policy"},
		{`{"$or": [{"a": ["1"]}, {"b": {"c": ["2"]}}]}`, ScopeMessageAttributes, "Filter policy scope MessageAttributes does not support nested filter policy"},
		{`{` + values("a", 10) + `,` + values("b", 10) + `,` + values("c", 2) + `}`, ScopeMessageAttributes, "FilterPolicy: Filter policy is too complex"},
		// Depth multiplies: 20 values at depth 3 and 3 at depth 1: 20*3*3 = 180.
		{`{"a": {"b": {` + values("c", 20) + `}}, ` + values("d", 3) + `}`, ScopeMessageBody, "FilterPolicy: Filter policy is too complex"},
		// $or adds up: 2 * (40 + 40) = 160.
		{`{` + values("x", 2) + `, "$or": [{` + values("a", 40) + `}, {` + values("b", 40) + `}]}`, ScopeMessageAttributes, "FilterPolicy: Filter policy is too complex"},
		// Complexity is reported before a bad match value.
		{`{"a": [{"prefix": 1}, ` + strings.TrimPrefix(values("", 200), `"": [`) + `}`, ScopeMessageAttributes, "FilterPolicy: Filter policy is too complex"},
		{`{"a": [{"prefix": 1}]}`, ScopeMessageAttributes, "FilterPolicy: prefix match pattern must be a string"},
		{`{"a": [{"suffix": null}]}`, ScopeMessageAttributes, "FilterPolicy: suffix match pattern must be a string"},
		{`{"a": [{"equals-ignore-case": ["x"]}]}`, ScopeMessageAttributes, "FilterPolicy: equals-ignore-case match pattern must be a string"},
		{`{"a": [{"prefix": "x", "suffix": "y"}]}`, ScopeMessageAttributes, "FilterPolicy: Only one key allowed in match expression"},
		{`{"a": [{}]}`, ScopeMessageAttributes, "FilterPolicy: Only one key allowed in match expression"},
		{`{"a": [{"wildcard": "x*"}]}`, ScopeMessageAttributes, "FilterPolicy: Unrecognized match type wildcard"},
		{`{"a": [["x"]]}`, ScopeMessageAttributes, "FilterPolicy: Match value must be String, number, true, false, or null"},
		{`{"a": [{"exists": "true"}]}`, ScopeMessageAttributes, "FilterPolicy: exists match pattern must be either true or false."},
		{`{"a": [{"anything-but": {"suffix": "x"}}]}`, ScopeMessageAttributes, "FilterPolicy: Unsupported anything-but pattern: suffix"},
		{`{"a": [{"anything-but": {"prefix": 1}}]}`, ScopeMessageAttributes, "FilterPolicy: prefix match pattern must be a string"},
		{`{"a": [{"anything-but": [true]}]}`, ScopeMessageAttributes, "FilterPolicy: Inside anything but list, start|null|boolean is not supported."},
		{`{"a": [{"anything-but": []}]}`, ScopeMessageAttributes, "FilterPolicy: Empty arrays are not allowed"},
		{`{"a": [{"numeric": "x"}]}`, ScopeMessageAttributes, "FilterPolicy: Value of numeric must be an array."},
		{`{"a": [{"numeric": []}]}`, ScopeMessageAttributes, "FilterPolicy: Invalid member in numeric match: ]"},
		{`{"a": [{"numeric": [1]}]}`, ScopeMessageAttributes, "FilterPolicy: Invalid member in numeric match: 1"},
		{`{"a": [{"numeric": ["!", 1]}]}`, ScopeMessageAttributes, "FilterPolicy: Unrecognized numeric range operator: !"},
		{`{"a": [{"numeric": ["=", "1"]}]}`, ScopeMessageAttributes, "FilterPolicy: Value of equals must be numeric"},
		{`{"a": [{"numeric": [">"]}]}`, ScopeMessageAttributes, "FilterPolicy: Value of > must be numeric"},
		{`{"a": [{"numeric": ["<", 1, ">", 0]}]}`, ScopeMessageAttributes, "FilterPolicy: Too many elements in numeric expression"},
		{`{"a": [{"numeric": [">", 0, 5]}]}`, ScopeMessageAttributes, "FilterPolicy: Bad value in numeric range: 5"},
		{`{"a": [{"numeric": [">", 0, "=", 5]}]}`, ScopeMessageAttributes, "FilterPolicy: Bad numeric range operator: ="},
		{`{"a": [{"numeric": [">", 0, "<"]}]}`, ScopeMessageAttributes, "FilterPolicy: Value of < must be numeric"},
		{`{"a": [{"numeric": [">", 5, "<", 1]}]}`, ScopeMessageAttributes, "FilterPolicy: Bottom must be less than top"},
		{`{"a": [{"numeric": [">", 0, "<", 5, "<", 6]}]}`, ScopeMessageAttributes, "FilterPolicy: Too many terms in numeric range expression"},
		{`{"a": [{"cidr": "10.0.0.0"}]}`, ScopeMessageAttributes, "FilterPolicy: Malformed CIDR, one '/' required"},
		{`{"a": [{"cidr": "10.0.0.0/x"}]}`, ScopeMessageAttributes, "FilterPolicy: Malformed CIDR, mask bits must be an integer"},
		{`{"a": [{"cidr": "10.0.0.300/24"}]}`, ScopeMessageAttributes, "FilterPolicy: Nonstandard IP address: 10.0.0.300"},
		{`{"a": ["` + strings.Repeat("x", maxFilterPolicySize) + `"]}`, ScopeMessageAttributes, "FilterPolicy: Filter policy is too large (maximum 256 KB)"},
		{strings.Repeat(`{"a": `, 152) + `["x"]` + strings.Repeat(`}`, 152), ScopeMessageBody, "FilterPolicy: Filter policy is too complex"},
		{`{"a": ` + strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200) + `}`, ScopeMessageBody, "FilterPolicy: Filter policy is too complex"},
	}
	for _, c := range bad {
		_, err := compileFilterPolicy(c.policy, c.scope)
		if err == nil || err.Error() != c.want {
			name := c.policy
			if len(name) > 120 {
				name = name[:120] + "..."
			}
			t.Errorf("%s (%s): got %v, want %s", name, c.scope, err, c.want)
		}
	}
}

func TestPolicyIsNested(t *testing.T) {
	for p, want := range map[string]bool{
		``: false, `{}`: false, `{"a": ["b"]}`: false, `{"a": {"b": ["c"]}}`: true,
		`{"$or": [{"a": ["1"]}, {"b": {"c": ["2"]}}]}`: true, `{"$or": [{"a": ["1"]}, {"b": ["2"]}]}`: false,
	} {
		if got := policyIsNested(p); got != want {
			t.Errorf("%s: %v", p, got)
		}
	}
}

// FuzzFilterPolicy: the parser and the matcher never panic; a policy valid for the
// MessageAttributes scope is valid for MessageBody and not nested, and a policy without
// nesting is valid for both or neither; errors carry AWS's wording; matching is
// deterministic, and {"$or": [P, P]} matches what P matches.
func FuzzFilterPolicy(f *testing.F) {
	for _, p := range []string{
		`{}`, `{"a": ["x", 1, true, null]}`, `{"a": [{"prefix": "x"}, {"suffix": "y"}, {"equals-ignore-case": "Z"}]}`,
		`{"a": [{"anything-but": ["x", 2]}], "b": [{"anything-but": {"prefix": "p"}}]}`,
		`{"n": [{"numeric": [">", 0, "<=", 150]}], "m": [{"numeric": ["=", 3.5]}]}`,
		`{"a": [{"exists": false}], "b": [{"exists": true}]}`, `{"ip": [{"cidr": "10.0.0.0/8"}]}`,
		`{"source": ["s"], "$or": [{"a": ["1"]}, {"b": ["2"], "$or": [{"c": [3]}, {"d": [4]}]}]}`,
		`{"o": {"p": ["q"], "r": {"s": [{"numeric": [">=", 1]}]}}}`, `{"a": []}`, `{"a": "b"}`, `[1]`, `{`,
	} {
		f.Add(p, `{"a": "x", "n": 5, "o": {"p": "q", "r": [{"s": 2}]}, "ip": "10.1.2.3"}`, `["x", 1, null]`)
	}
	f.Fuzz(func(t *testing.T, policy, payload, array string) {
		pa, errA := compileFilterPolicy(policy, ScopeMessageAttributes)
		pb, errB := compileFilterPolicy(policy, ScopeMessageBody)
		for _, err := range []error{errA, errB} {
			var pe *policyError
			if err != nil && (!errors.As(err, &pe) || !(strings.HasPrefix(pe.reason, "FilterPolicy: ") ||
				pe.reason == "Filter policy scope MessageAttributes does not support nested filter policy")) {
				t.Fatalf("%q: error %v", policy, err)
			}
		}
		if errA == nil && (errB != nil || policyIsNested(policy)) {
			t.Fatalf("%q: valid for attributes, but %v for the body (nested %v)", policy, errB, policyIsNested(policy))
		}
		if errB == nil && !policyIsNested(policy) && errA != nil {
			t.Fatalf("%q: not nested, valid for the body, but %v for attributes", policy, errA)
		}
		msgAttrs := attrs("a", str(payload), "arr", arr(array), "bin", bin(payload))
		if isSNSNumber(payload) {
			msgAttrs["n"] = num(payload)
		}
		for _, p := range []*filterPolicy{pa, pb} {
			if p == nil {
				continue
			}
			m := &message{attrs: msgAttrs, body: payload}
			got := p.matches(m)
			if again := p.matches(&message{attrs: msgAttrs, body: payload}); again != got {
				t.Fatalf("%q on %q: %v then %v", policy, payload, got, again)
			}
			if p.empty() {
				continue
			}
			or, err := compileFilterPolicy(`{"$or": [`+policy+`, `+policy+`]}`, p.scope)
			if err == nil {
				if orGot := or.matches(&message{attrs: msgAttrs, body: payload}); orGot != got {
					t.Fatalf("%q on %q: %v, but %v as {\"$or\": [P, P]}", policy, payload, got, orGot)
				}
			}
		}
	})
}
