package policy

import (
	"errors"
	"strings"
	"testing"
)

const (
	acct    = "111122223333"
	alice   = "arn:aws:iam::111122223333:user/alice"
	root    = "arn:aws:iam::111122223333:root"
	keyARN  = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	key2ARN = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
)

func aliceReq(action, resource string, ctx map[string][]string) *Request {
	return &Request{
		Principal: Principal{ARN: alice, Account: acct, Username: "alice", Tags: map[string]string{"team": "blue"}},
		Action:    action,
		Resource:  resource,
		Context:   ctx,
	}
}

func idPolicy(stmt string) string {
	return `{"Version":"2012-10-17","Statement":[` + stmt + `]}`
}

func TestDecideDocumentedExamples(t *testing.T) {
	tests := []struct {
		name     string
		identity []string
		resource []string
		req      *Request
		want     Reason
	}{
		{
			name: "no policy is an implicit deny",
			req:  aliceReq("kms:Decrypt", keyARN, nil),
			want: ImplicitDeny,
		},
		{
			name:     "explicit deny overrides allow",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ExplicitDeny,
		},
		{
			name:     "deny in resource policy overrides identity allow",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`)},
			resource: []string{idPolicy(`{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ExplicitDeny,
		},
		{
			name:     "action wildcard and case-insensitive action",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"KMS:Describe*","Resource":"*"}`)},
			req:      aliceReq("kms:describekey", keyARN, nil),
			want:     Allowed,
		},
		{
			name:     "question mark matches one character",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:?ncrypt","Resource":"*"}`)},
			req:      aliceReq("kms:ReEncrypt", keyARN, nil),
			want:     ImplicitDeny,
		},
		{
			name:     "NotAction with Allow allows everything else",
			identity: []string{idPolicy(`{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     Allowed,
		},
		{
			name:     "NotAction with Allow does not allow the listed actions",
			identity: []string{idPolicy(`{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}`)},
			req:      aliceReq("iam:CreateUser", root, nil),
			want:     ImplicitDeny,
		},
		{
			name:     "resource wildcard is case-sensitive",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:KEY/*"}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ImplicitDeny,
		},
		{
			name:     "NotResource",
			identity: []string{idPolicy(`{"Effect":"Deny","Action":"kms:*","NotResource":"` + keyARN + `"}`)},
			req:      aliceReq("kms:Decrypt", key2ARN, nil),
			want:     ExplicitDeny,
		},
		{
			name:     "policy variable aws:username in resource",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}`)},
			req:      aliceReq("iam:GetUser", alice, nil),
			want:     Allowed,
		},
		{
			name:     "policy variables are literal in version 2008-10-17",
			identity: []string{`{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}}`},
			req:      aliceReq("iam:GetUser", alice, nil),
			want:     ImplicitDeny,
		},
		{
			name:     "aws:PrincipalTag variable in condition",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:ResourceTag/team": {"blue"}}),
			want:     Allowed,
		},
		{
			name:     "policy variable default value",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/unit, 'shared'}"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:ResourceTag/team": {"shared"}}),
			want:     Allowed,
		},
		{
			name:     "policy variable with a wildcard value does not match",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}`)},
			req:      &Request{Principal: Principal{ARN: "arn:aws:iam::111122223333:user/a*", Account: acct, Username: "a*"}, Action: "iam:GetUser", Resource: alice},
			want:     ImplicitDeny,
		},
		{
			name:     "ForAllValues on a missing key is true",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}}`)},
			req:      aliceReq("kms:TagResource", keyARN, nil),
			want:     Allowed,
		},
		{
			name:     "ForAllValues fails when one value is outside the set",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}}`)},
			req:      aliceReq("kms:TagResource", keyARN, map[string][]string{"aws:TagKeys": {"env", "cost"}}),
			want:     ImplicitDeny,
		},
		{
			name:     "ForAnyValue on a missing key is false",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"project"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ImplicitDeny,
		},
		{
			name:     "ForAnyValue matches one of several values",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"project"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"kms:EncryptionContextKeys": {"app", "project"}}),
			want:     Allowed,
		},
		{
			name:     "StringLike with wildcards",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"kms:ViaService":"s3.*.amazonaws.com"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"kms:ViaService": {"s3.us-east-1.amazonaws.com"}}),
			want:     Allowed,
		},
		{
			name:     "condition keys are case-insensitive, values are not",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"KMS:VIASERVICE":"s3.amazonaws.com"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"kms:ViaService": {"S3.amazonaws.com"}}),
			want:     ImplicitDeny,
		},
		{
			name:     "multiple values for one key are ORed",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":["us-east-1","eu-west-1"]}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:RequestedRegion": {"eu-west-1"}}),
			want:     Allowed,
		},
		{
			name:     "multiple keys are ANDed",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1","kms:CallerAccount":"111122223333"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:RequestedRegion": {"eu-west-1"}}),
			want:     ImplicitDeny,
		},
		{
			name:     "negated operator with several values is a NOR",
			identity: []string{idPolicy(`{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["us-east-1","eu-west-1"]}}},{"Effect":"Allow","Action":"kms:*","Resource":"*"}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:RequestedRegion": {"eu-west-1"}}),
			want:     Allowed,
		},
		{
			name:     "negated operator on a missing key is true",
			identity: []string{idPolicy(`{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"StringNotLike":{"kms:ViaService":"*.amazonaws.com"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ExplicitDeny,
		},
		{
			name:     "IfExists on a missing key is true",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEqualsIfExists":{"kms:ViaService":"s3.amazonaws.com"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     Allowed,
		},
		{
			name:     "IfExists on a present key still checks it",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEqualsIfExists":{"kms:ViaService":"s3.amazonaws.com"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"kms:ViaService": {"ec2.amazonaws.com"}}),
			want:     ImplicitDeny,
		},
		{
			name:     "Null true when key is absent",
			identity: []string{idPolicy(`{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"Null":{"aws:MultiFactorAuthAge":"true"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ExplicitDeny,
		},
		{
			name:     "Null false when key is present",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Null":{"aws:TokenIssueTime":"false"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:TokenIssueTime": {"2026-01-01T00:00:00Z"}}),
			want:     Allowed,
		},
		{
			name:     "Bool aws:MultiFactorAuthPresent true",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":true}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:MultiFactorAuthPresent": {"true"}}),
			want:     Allowed,
		},
		{
			name:     "BoolIfExists false denies long-term keys without MFA",
			identity: []string{idPolicy(`{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ExplicitDeny,
		},
		{
			name:     "IpAddress in CIDR",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:SourceIp": {"203.0.113.7"}}),
			want:     Allowed,
		},
		{
			name:     "NotIpAddress denies outside the range",
			identity: []string{idPolicy(`{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","2001:db8::/32"]}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:SourceIp": {"2001:db9::1"}}),
			want:     ExplicitDeny,
		},
		{
			name:     "DateLessThan aws:CurrentTime before the date",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2026-06-30T23:59:59Z"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:CurrentTime": {"2026-03-01T12:00:00Z"}}),
			want:     Allowed,
		},
		{
			name:     "DateLessThan aws:CurrentTime after the date",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2026-06-30T23:59:59Z"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:CurrentTime": {"2026-07-01T00:00:00Z"}}),
			want:     ImplicitDeny,
		},
		{
			name:     "DateGreaterThan with epoch seconds",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:EpochTime":1767225600}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:EpochTime": {"2026-01-02T00:00:00Z"}}),
			want:     Allowed,
		},
		{
			name:     "NumericLessThanEquals",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"NumericLessThanEquals":{"aws:MultiFactorAuthAge":"3600"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:MultiFactorAuthAge": {"3600"}}),
			want:     Allowed,
		},
		{
			name:     "Numeric with a non-numeric request value does not match",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"aws:MultiFactorAuthAge": {"soon"}}),
			want:     ImplicitDeny,
		},
		{
			name:     "ArnLike aws:PrincipalArn",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/al*"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     Allowed,
		},
		{
			name:     "ArnLike wildcards do not cross segments",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:*:user/alice"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ImplicitDeny,
		},
		{
			name:     "ArnNotEquals",
			identity: []string{idPolicy(`{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/bob"}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ExplicitDeny,
		},
		{
			name:     "BinaryEquals",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"BinaryEquals":{"x:Blob":"QmluYXJ5VmFsdWU="}}}`)},
			req:      aliceReq("kms:Decrypt", keyARN, map[string][]string{"x:Blob": {"QmluYXJ5VmFsdWU="}}),
			want:     Allowed,
		},
		{
			name:     "resource policy naming the caller allows",
			resource: []string{idPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + alice + `"},"Action":"kms:Decrypt","Resource":"*"}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     Allowed,
		},
		{
			name:     "resource policy naming someone else does not",
			resource: []string{idPolicy(`{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/bob"]},"Action":"kms:Decrypt","Resource":"*"}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ImplicitDeny,
		},
		{
			name:     "resource policy naming the account only delegates",
			resource: []string{idPolicy(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:Decrypt","Resource":"*"}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ImplicitDeny,
		},
		{
			name:     "resource policy Deny naming the account applies to its users",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`)},
			resource: []string{idPolicy(`{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*"}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     ExplicitDeny,
		},
		{
			name:     "role principal matches its sessions",
			resource: []string{idPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":"kms:Decrypt","Resource":"*"}`)},
			req:      &Request{Principal: Principal{ARN: "arn:aws:sts::111122223333:assumed-role/App/i-123", Account: acct}, Action: "kms:Decrypt", Resource: keyARN},
			want:     Allowed,
		},
		{
			name:     "service principal",
			resource: []string{idPolicy(`{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:Encrypt*","Resource":"*"}`)},
			req:      &Request{Principal: Principal{ARN: "logs.amazonaws.com", Type: "Service"}, Action: "kms:EncryptBlob", Resource: keyARN},
			want:     Allowed,
		},
		{
			name:     "NotPrincipal with Deny spares the listed principal",
			identity: []string{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`)},
			resource: []string{idPolicy(`{"Effect":"Deny","NotPrincipal":{"AWS":"` + alice + `"},"Action":"kms:*","Resource":"*"}`)},
			req:      aliceReq("kms:Decrypt", keyARN, nil),
			want:     Allowed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var id, res []*Policy
			var idRaw, resRaw [][]byte
			for _, d := range tt.identity {
				id = append(id, MustParse(d))
				idRaw = append(idRaw, []byte(d))
			}
			for _, d := range tt.resource {
				res = append(res, MustParse(d))
				resRaw = append(resRaw, []byte(d))
			}
			got := Decide(tt.req, id, res)
			if got.Reason != tt.want || got.Allowed != (tt.want == Allowed) {
				t.Errorf("Decide = %+v, want %v", got, tt.want)
			}
			if ref := refDecide(tt.req, idRaw, resRaw); ref != tt.want {
				t.Errorf("reference = %v, want %v", ref, tt.want)
			}
		})
	}
}

func TestDecideMatchedStatement(t *testing.T) {
	id := []*Policy{
		MustParse(idPolicy(`{"Sid":"A","Effect":"Allow","Action":"kms:*","Resource":"*"}`)),
		MustParse(idPolicy(`{"Sid":"Other","Effect":"Allow","Action":"iam:*","Resource":"*"},{"Sid":"NoDecrypt","Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}`)),
	}
	got := Decide(aliceReq("kms:Decrypt", keyARN, nil), id, nil)
	want := StatementRef{Set: IdentitySet, Policy: 1, Statement: 1, Sid: "NoDecrypt"}
	if got.Allowed || got.Reason != ExplicitDeny || got.Matched != want {
		t.Errorf("Decide = %+v, want deny by %+v", got, want)
	}
	got = Decide(aliceReq("kms:Encrypt", keyARN, nil), id, nil)
	want = StatementRef{Set: IdentitySet, Policy: 0, Statement: 0, Sid: "A"}
	if !got.Allowed || got.Matched != want {
		t.Errorf("Decide = %+v, want allow by %+v", got, want)
	}
}

func TestKMSDecide(t *testing.T) {
	rootKeyPolicy := MustParse(idPolicy(`{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`))
	aliceKeyPolicy := MustParse(idPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + alice + `"},"Action":"kms:Decrypt","Resource":"*"}`))
	allowAll := MustParse(idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`))
	denyDecrypt := MustParse(idPolicy(`{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}`))
	grant := MustParse(idPolicy(`{"Sid":"grant-1","Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"billing"}}}`))
	billing := map[string][]string{"kms:EncryptionContext:app": {"billing"}}
	tests := []struct {
		name     string
		key      *Policy
		identity []*Policy
		grants   []*Policy
		req      *Request
		want     Reason
	}{
		{"root delegation with identity allow", rootKeyPolicy, []*Policy{allowAll}, nil, aliceReq("kms:Decrypt", keyARN, nil), Allowed},
		{"root delegation without identity allow", rootKeyPolicy, nil, nil, aliceReq("kms:Decrypt", keyARN, nil), ImplicitDeny},
		{"identity allow without delegation", aliceKeyPolicy, []*Policy{allowAll}, nil, aliceReq("kms:Encrypt", keyARN, nil), ImplicitDeny},
		{"key policy allows caller directly", aliceKeyPolicy, nil, nil, aliceReq("kms:Decrypt", keyARN, nil), Allowed},
		{"identity deny overrides key policy", aliceKeyPolicy, []*Policy{denyDecrypt}, nil, aliceReq("kms:Decrypt", keyARN, nil), ExplicitDeny},
		{"grant allows with matching context", aliceKeyPolicy, nil, []*Policy{grant}, aliceReq("kms:Encrypt", keyARN, billing), Allowed},
		{"grant needs its context", aliceKeyPolicy, nil, []*Policy{grant}, aliceReq("kms:Encrypt", keyARN, nil), ImplicitDeny},
		{"root caller is allowed by the root statement", rootKeyPolicy, nil, nil, &Request{Principal: Principal{ARN: root, Account: acct}, Action: "kms:PutKeyPolicy", Resource: keyARN}, Allowed},
		{"other account root delegation does not apply", rootKeyPolicy, []*Policy{allowAll}, nil, &Request{Principal: Principal{ARN: "arn:aws:iam::444455556666:user/eve", Account: "444455556666"}, Action: "kms:Decrypt", Resource: keyARN}, ImplicitDeny},
		{"nil key policy", nil, []*Policy{allowAll}, nil, aliceReq("kms:Decrypt", keyARN, nil), ImplicitDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := KMSDecide(tt.req, tt.key, tt.identity, tt.grants)
			if got.Reason != tt.want || got.Allowed != (tt.want == Allowed) {
				t.Errorf("KMSDecide = %+v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		doc  string
		want string
	}{
		{`not json`, "Syntax errors in policy."},
		{`[]`, "Syntax errors in policy."},
		{`{"Version":"2012-10-17"}`, "Missing required field Statement."},
		{`{"Version":"2013-01-01","Statement":[]}`, "invalid Version"},
		{`{"Version":"2012-10-17","Statement":[]}`, "at least one statement"},
		{idPolicy(`{"Action":"kms:*","Resource":"*"}`), "Missing required field Effect."},
		{idPolicy(`{"Effect":"allow","Action":"kms:*","Resource":"*"}`), "Invalid effect"},
		{idPolicy(`{"Effect":"Allow","Resource":"*"}`), "must contain actions"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*"}`), "must contain resources"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","NotAction":"iam:*","Resource":"*"}`), "both Action and NotAction"},
		{idPolicy(`{"Effect":"Allow","Action":[],"Resource":"*"}`), "must not be empty"},
		{idPolicy(`{"Effect":"Allow","Action":5,"Resource":"*"}`), "string or an array"},
		{idPolicy(`{"Effect":"Allow","Action":"Decrypt","Resource":"*"}`), "service:action"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"key/1"}`), "ARN format"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Foo":1}`), "unsupported element"},
		{idPolicy(`{"Sid":"a","Effect":"Allow","Action":"kms:*","Resource":"*"},{"Sid":"a","Effect":"Allow","Action":"kms:*","Resource":"*"}`), "must be unique"},
		{idPolicy(`{"Effect":"Allow","Principal":"me","Action":"kms:*","Resource":"*"}`), "Invalid principal"},
		{idPolicy(`{"Effect":"Allow","Principal":{"Users":"x"},"Action":"kms:*","Resource":"*"}`), "Invalid principal type"},
		{idPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::*:root"},"Action":"kms:*","Resource":"*"}`), "Invalid principal"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}}}`), "Invalid Condition type"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"ForAllValues:Null":{"a:b":"true"}}}`), "Invalid Condition type"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"NumericEquals":{"a:b":"ten"}}}`), "Invalid value"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"DateEquals":{"a:b":"yesterday"}}}`), "Invalid value"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"a:b":"10.0.0.0/33"}}}`), "Invalid value"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Bool":{"a:b":"yes"}}}`), "Invalid value"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"a:b":null}}}`), "Invalid value for condition"},
		{idPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"a:b":[]}}}`), "Invalid value for condition"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"` + strings.Repeat("a", MaxDocumentSize) + `"}}`, "maximum size"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc))
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(pe.Reason, tt.want) {
			t.Errorf("Parse(%.80s) = %v, want a ParseError containing %q", tt.doc, err, tt.want)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	p := MustParse(`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"a:n":[1,2.5]},"Bool":{"a:b":true}}}}`)
	if p.Version != Version2008 {
		t.Errorf("default Version = %q, want %q", p.Version, Version2008)
	}
	if got := p.Statements[0].Condition; len(got) != 2 || got[1].Values[1] != "2.5" || got[0].Values[0] != "true" {
		t.Errorf("Condition = %+v", got)
	}
	if err := p.ValidateIdentity(); err != nil {
		t.Errorf("ValidateIdentity: %v", err)
	}
	if err := p.ValidateResource(); err == nil {
		t.Error("ValidateResource accepted a statement without a principal")
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		p, s string
		fold bool
		want bool
	}{
		{"", "", false, true},
		{"*", "", false, true},
		{"a*b", "ab", false, true},
		{"a*b", "axxbxb", false, true},
		{"a*b", "axxbx", false, false},
		{"a?c", "abc", false, true},
		{"a?c", "ac", false, false},
		{"*a*a*a*", "aaa", false, true},
		{"*a*a*a*a", "aaa", false, false},
		{"kms:describe*", "KMS:DescribeKey", true, true},
		{"kms:describe*", "KMS:DescribeKey", false, false},
	}
	for _, tt := range tests {
		if got := glob(tt.p, tt.s, tt.fold); got != tt.want {
			t.Errorf("glob(%q, %q, %v) = %v", tt.p, tt.s, tt.fold, got)
		}
		if !tt.fold && refGlob(tt.p, tt.s) != tt.want {
			t.Errorf("refGlob(%q, %q) disagrees", tt.p, tt.s)
		}
	}
}
