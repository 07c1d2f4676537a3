package policy

import (
	"fmt"
	"testing"
)

// realistic returns a KMS key policy, three identity policies and ten
// grants, and a kms:Decrypt request allowed by the last grant.
func realistic() (*Request, *Policy, []*Policy, []*Policy) {
	key := MustParse(`{
  "Version": "2012-10-17",
  "Id": "key-default-1",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow access for Key Administrators", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam::111122223333:role/KeyAdmin", "arn:aws:iam::111122223333:user/admin"]},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"],
     "Resource": "*"},
    {"Sid": "Allow use of the key", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
     "Resource": "*", "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}},
    {"Sid": "Deny outside the VPC", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
     "Condition": {"StringNotEqualsIfExists": {"aws:SourceVpc": "vpc-0123456789"}, "BoolIfExists": {"aws:ViaAWSService": "false"}}}
  ]
}`)
	identity := []*Policy{
		MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Describe*","kms:List*"],"Resource":"*"}]}`),
		MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bucket/${aws:username}/*"},
			{"Effect":"Deny","Action":"kms:ScheduleKeyDeletion","Resource":"*"}]}`),
		MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}}`),
	}
	var grants []*Policy
	for i := 0; i < 10; i++ {
		grants = append(grants, MustParse(fmt.Sprintf(`{"Version":"2012-10-17","Statement":{"Sid":"grant-%d","Effect":"Allow",
			"Action":["kms:Decrypt","kms:Encrypt","kms:GenerateDataKey"],"Resource":"%s",
			"Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"tenant-%d"},"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant","purpose"]}}}}`, i, keyARN, i)))
	}
	req := &Request{
		Principal: Principal{ARN: alice, Account: acct, Username: "alice"},
		Action:    "kms:Decrypt",
		Resource:  keyARN,
		Context: map[string][]string{
			"aws:CurrentTime":              {"2026-11-23T10:00:00Z"},
			"aws:SourceVpc":                {"vpc-0123456789"},
			"kms:EncryptionContext:tenant": {"tenant-9"},
			"kms:EncryptionContextKeys":    {"tenant", "purpose"},
			"kms:CallerAccount":            {acct},
		},
	}
	return req, key, identity, grants
}

func TestRealisticScenario(t *testing.T) {
	req, key, identity, grants := realistic()
	d := KMSDecide(req, key, identity, grants)
	want := StatementRef{Set: GrantSet, Policy: 9, Statement: 0, Sid: "grant-9"}
	if !d.Allowed || d.Matched != want {
		t.Fatalf("KMSDecide = %+v, want allowed by %+v", d, want)
	}
	req.Context["kms:EncryptionContext:tenant"] = []string{"tenant-10"}
	if d := KMSDecide(req, key, identity, grants); d.Allowed {
		t.Fatalf("KMSDecide = %+v for an unknown tenant", d)
	}
	if n := testing.AllocsPerRun(100, func() { KMSDecide(req, key, identity, grants) }); n != 0 {
		t.Errorf("KMSDecide allocates %v times per call", n)
	}
}

func BenchmarkDecideRealistic(b *testing.B) {
	req, key, identity, grants := realistic()
	b.ReportAllocs()
	for b.Loop() {
		if d := KMSDecide(req, key, identity, grants); !d.Allowed {
			b.Fatal("denied")
		}
	}
}

func BenchmarkParse(b *testing.B) {
	doc := []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideRealisticLayered is BenchmarkDecideRealistic for a role session with a
// permissions boundary and a session policy.
func BenchmarkDecideRealisticLayered(b *testing.B) {
	req, key, identity, grants := realistic()
	layered := append(append([]*Policy{}, identity...),
		MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}`).As(BoundaryLayer),
		MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"}}`).As(SessionLayer))
	b.ReportAllocs()
	for b.Loop() {
		if d := KMSDecide(req, key, layered, grants); !d.Allowed {
			b.Fatal("denied")
		}
	}
}
