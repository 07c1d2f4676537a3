package policy

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// gen builds random policies and requests from small vocabularies so that
// matches, near misses and edge cases are all frequent.
type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }

var (
	genActions        = []string{"kms:Decrypt", "kms:Encrypt", "kms:DescribeKey", "kms:GenerateDataKey", "kms:ReEncryptFrom", "iam:GetUser", "sts:AssumeRole"}
	genActionPatterns = []string{"kms:Decrypt", "KMS:decrypt", "kms:*", "kms:Gen*", "kms:?ncrypt", "kms:*Key", "*", "iam:*", "kms:Describe*", "sts:AssumeRole", "*:Get*"}
	genResources      = []string{keyARN, key2ARN, "arn:aws:kms:eu-west-1:111122223333:alias/app", alice, "arn:aws:iam::111122223333:user/bob"}
	genResPatterns    = []string{"*", keyARN, "arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:*", "arn:aws:iam::111122223333:user/${aws:username}", "arn:aws:kms:??-*", "arn:aws:iam::*:user/b?b", "arn:aws:kms:*:*:alias/${aws:PrincipalTag/team}", "arn:aws:kms:eu-west-1:111122223333:alias/${aws:PrincipalTag/team, 'app'}"}
	genPrincipals     = []Principal{
		{ARN: alice, Account: acct, Username: "alice", Tags: map[string]string{"team": "app"}},
		{ARN: "arn:aws:iam::111122223333:user/bob", Account: acct, Username: "bob"},
		{ARN: root, Account: acct},
		{ARN: "arn:aws:sts::111122223333:assumed-role/App/s1", Account: acct, Tags: map[string]string{"Team": "a*"}},
		{ARN: "arn:aws:iam::444455556666:user/eve", Account: "444455556666", Username: "eve"},
		{ARN: "logs.amazonaws.com", Type: "Service"},
	}
	genPrincipalSpecs = []string{`"*"`, `{"AWS":"*"}`, `{"AWS":"` + alice + `"}`, `{"AWS":["111122223333"]}`, `{"AWS":"arn:aws:iam::111122223333:root"}`,
		`{"AWS":"arn:aws:iam::111122223333:role/App"}`, `{"Service":"logs.amazonaws.com"}`, `{"AWS":["444455556666","arn:aws:iam::111122223333:user/bob"]}`}
)

// condition families: operator base names, keys and value pools.
type family struct {
	ops    []string
	keys   []string
	values []string // policy values
	req    []string // request values
}

var genFamilies = []family{
	{[]string{"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike"},
		[]string{"kms:ViaService", "aws:TagKeys", "kms:EncryptionContextKeys", "aws:ResourceTag/team"},
		[]string{"s3.amazonaws.com", "S3.amazonaws.com", "s3.*", "*.amazonaws.com", "app", "a?p", "team", "${aws:username}", "${aws:PrincipalTag/team}", "${aws:PrincipalTag/team,'env'}", "env"},
		[]string{"s3.amazonaws.com", "ec2.amazonaws.com", "app", "App", "team", "env", "alice", "a*"}},
	{[]string{"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals"},
		[]string{"aws:MultiFactorAuthAge", "s:Count"},
		[]string{"0", "10", "3600", "-1.5", "1e3"},
		[]string{"0", "10", "3600", "1000", "-1.5", "x"}},
	{[]string{"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals"},
		[]string{"aws:CurrentTime", "aws:EpochTime"},
		[]string{"2026-01-01T00:00:00Z", "2026-01-01", "1767225600", "2026-06-01T12:00:00+02:00"},
		[]string{"2026-01-01T00:00:00Z", "2025-12-31T23:59:59Z", "1767225600", "1780000000", "2026-06-01T10:00:00Z", "never"}},
	{[]string{"Bool"}, []string{"aws:MultiFactorAuthPresent", "aws:SecureTransport"},
		[]string{"true", "false"}, []string{"true", "false", "TRUE"}},
	{[]string{"IpAddress", "NotIpAddress"}, []string{"aws:SourceIp"},
		[]string{"192.0.2.0/24", "10.0.0.0/8", "203.0.113.9", "2001:db8::/32"},
		[]string{"192.0.2.7", "10.1.2.3", "203.0.113.9", "2001:db8::1", "::ffff:10.0.0.1", "bogus"}},
	{[]string{"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}, []string{"aws:PrincipalArn", "aws:SourceArn"},
		[]string{alice, "arn:aws:iam::*:user/*", "arn:aws:iam::111122223333:*", "arn:aws:*:alice", "arn:aws:sts::111122223333:assumed-role/App/*", "arn:aws:iam::111122223333:user/${aws:username}"},
		[]string{alice, "arn:aws:iam::111122223333:user/bob", "not-an-arn", "arn:aws:s3:::bucket/a:b"}},
	{[]string{"BinaryEquals"}, []string{"s:Blob"}, []string{"QQ==", "QUI="}, []string{"QQ==", "QUI=", "!!"}},
	{[]string{"Null"}, []string{"aws:MultiFactorAuthAge", "kms:ViaService", "aws:PrincipalTag/team"}, []string{"true", "false"}, nil},
}

func (g gen) strOrList(pool []string, max int) string {
	n := 1 + g.r.Intn(max)
	if n == 1 && g.r.Intn(2) == 0 {
		b, _ := json.Marshal(g.pick(pool...))
		return string(b)
	}
	var items []string
	for i := 0; i < n; i++ {
		b, _ := json.Marshal(g.pick(pool...))
		items = append(items, string(b))
	}
	return "[" + strings.Join(items, ",") + "]"
}

func (g gen) condition() string {
	ops := map[string]map[string]string{}
	for i := 0; i <= g.r.Intn(3); i++ {
		f := genFamilies[g.r.Intn(len(genFamilies))]
		op := g.pick(f.ops...)
		if op != "Null" {
			if g.r.Intn(4) == 0 {
				op += "IfExists"
			}
			switch g.r.Intn(4) {
			case 0:
				op = "ForAnyValue:" + op
			case 1:
				op = "ForAllValues:" + op
			}
		}
		key := g.pick(f.keys...)
		if g.r.Intn(4) == 0 {
			key = strings.ToUpper(key)
		}
		if ops[op] == nil {
			ops[op] = map[string]string{}
		}
		ops[op][key] = g.strOrList(f.values, 3)
	}
	// Iterate in sorted order so that a seed always gives the same cases.
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		kv := ops[op]
		var keys []string
		for _, k := range slices.Sorted(maps.Keys(kv)) {
			keys = append(keys, fmt.Sprintf("%q:%s", k, kv[k]))
		}
		parts = append(parts, fmt.Sprintf("%q:{%s}", op, strings.Join(keys, ",")))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func (g gen) statement(resource bool, sid int) string {
	var f []string
	if g.r.Intn(2) == 0 {
		f = append(f, fmt.Sprintf(`"Sid":"s%d"`, sid))
	}
	f = append(f, `"Effect":"`+g.pick("Allow", "Allow", "Deny")+`"`)
	act := "Action"
	if g.r.Intn(5) == 0 {
		act = "NotAction"
	}
	f = append(f, fmt.Sprintf("%q:%s", act, g.strOrList(genActionPatterns, 3)))
	res := "Resource"
	if g.r.Intn(6) == 0 {
		res = "NotResource"
	}
	f = append(f, fmt.Sprintf("%q:%s", res, g.strOrList(genResPatterns, 2)))
	if resource {
		pr := "Principal"
		if g.r.Intn(8) == 0 {
			pr = "NotPrincipal"
		}
		f = append(f, fmt.Sprintf("%q:%s", pr, g.pick(genPrincipalSpecs...)))
	}
	if g.r.Intn(3) != 0 {
		f = append(f, `"Condition":`+g.condition())
	}
	g.r.Shuffle(len(f), func(i, j int) { f[i], f[j] = f[j], f[i] })
	return "{" + strings.Join(f, ",") + "}"
}

func (g gen) policy(resource bool) string {
	n := 1 + g.r.Intn(3)
	var sts []string
	for i := 0; i < n; i++ {
		sts = append(sts, g.statement(resource, i))
	}
	ver := `"Version":"2012-10-17",`
	if g.r.Intn(8) == 0 {
		ver = ""
	}
	if n == 1 && g.r.Intn(2) == 0 {
		return "{" + ver + `"Statement":` + sts[0] + "}"
	}
	return "{" + ver + `"Statement":[` + strings.Join(sts, ",") + "]}"
}

func (g gen) request() *Request {
	req := &Request{
		Principal: genPrincipals[g.r.Intn(len(genPrincipals))],
		Action:    g.pick(genActions...),
		Resource:  g.pick(genResources...),
		Context:   map[string][]string{},
	}
	if g.r.Intn(3) == 0 {
		req.Action = strings.ToUpper(req.Action)
	}
	for _, f := range genFamilies {
		if f.req == nil {
			continue
		}
		for _, k := range f.keys {
			if g.r.Intn(2) == 0 {
				continue
			}
			n := g.r.Intn(3) // zero values: present but empty
			if g.r.Intn(3) != 0 {
				n = 1
			}
			var vs []string
			for i := 0; i < n; i++ {
				vs = append(vs, g.pick(f.req...))
			}
			if g.r.Intn(5) == 0 {
				k = strings.ToLower(k)
			}
			req.Context[k] = vs
		}
	}
	return req
}

func TestDecideMatchesReference(t *testing.T) {
	g := gen{rand.New(rand.NewSource(20261123))}
	counts := map[Reason]int{}
	const cases = 5000
	for i := 0; i < cases; i++ {
		var idDocs, resDocs [][]byte
		var id, res []*Policy
		for j := g.r.Intn(3); j > 0; j-- {
			idDocs = append(idDocs, []byte(g.policy(false)))
		}
		for j := g.r.Intn(2); j > 0; j-- {
			resDocs = append(resDocs, []byte(g.policy(true)))
		}
		for _, d := range idDocs {
			p, err := Parse(d)
			if err != nil {
				t.Fatalf("case %d: Parse(%s): %v", i, d, err)
			}
			id = append(id, p)
		}
		for _, d := range resDocs {
			p, err := Parse(d)
			if err != nil {
				t.Fatalf("case %d: Parse(%s): %v", i, d, err)
			}
			res = append(res, p)
		}
		for k := 0; k < 4; k++ {
			req := g.request()
			got := Decide(req, id, res)
			want := refDecide(req, idDocs, resDocs)
			counts[want]++
			if got.Reason != want || got.Allowed != (want == Allowed) {
				t.Fatalf("case %d.%d: Decide = %+v, reference = %v\nrequest: %+v\nidentity: %s\nresource: %s",
					i, k, got, want, req, idDocs, resDocs)
			}
		}
	}
	t.Logf("outcomes: %v", counts)
	for _, r := range []Reason{Allowed, ExplicitDeny, ImplicitDeny} {
		if counts[r] < cases/20 {
			t.Errorf("only %d %v outcomes; the generator is too narrow", counts[r], r)
		}
	}
}

func TestKMSDecideMatchesReference(t *testing.T) {
	g := gen{rand.New(rand.NewSource(7))}
	counts := map[Reason]int{}
	const cases = 3000
	parse := func(doc []byte) *Policy {
		p, err := Parse(doc)
		if err != nil {
			t.Fatalf("Parse(%s): %v", doc, err)
		}
		return p
	}
	for i := 0; i < cases; i++ {
		keyDoc := []byte(g.policy(true))
		var idDocs, grantDocs [][]byte
		var id, grants []*Policy
		for j := g.r.Intn(3); j > 0; j-- {
			idDocs = append(idDocs, []byte(g.policy(false)))
			id = append(id, parse(idDocs[len(idDocs)-1]))
		}
		for j := g.r.Intn(3); j > 0; j-- {
			grantDocs = append(grantDocs, []byte(g.policy(false)))
			grants = append(grants, parse(grantDocs[len(grantDocs)-1]))
		}
		key := parse(keyDoc)
		for k := 0; k < 4; k++ {
			req := g.request()
			got := KMSDecide(req, key, id, grants)
			want := refKMSDecide(req, keyDoc, idDocs, grantDocs)
			counts[want]++
			if got.Reason != want || got.Allowed != (want == Allowed) {
				t.Fatalf("case %d.%d: KMSDecide = %+v, reference = %v\nrequest: %+v\nkey: %s\nidentity: %s\ngrants: %s",
					i, k, got, want, req, keyDoc, idDocs, grantDocs)
			}
		}
	}
	t.Logf("outcomes: %v", counts)
	for _, r := range []Reason{Allowed, ExplicitDeny, ImplicitDeny} {
		if counts[r] < cases/20 {
			t.Errorf("only %d %v outcomes; the generator is too narrow", counts[r], r)
		}
	}
}
