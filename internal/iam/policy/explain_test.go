package policy

import (
	"slices"
	"testing"
)

func TestExplain(t *testing.T) {
	p := MustParse(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.amazonaws.com"},"Null":{"aws:TokenIssueTime":"true"}}},
		{"Effect":"Deny","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/k","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
		{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}`)
	req := &Request{Principal: Principal{ARN: "arn:aws:iam::111122223333:user/a", Account: "111122223333"}, Action: "kms:Encrypt",
		Resource: "arn:aws:kms:us-east-1:111122223333:key/k", Context: map[string][]string{"aws:securetransport": {"true"}}}
	got := p.Explain(req, false)
	// Statement 0 matches but lacks kms:ViaService (Null keys are never missing);
	// statement 1 matches with its key present and does not apply; statement 2's action
	// does not match.
	if len(got) != 2 || got[0].Statement != 0 || got[0].Applies || !slices.Equal(got[0].Missing, []string{"kms:ViaService"}) ||
		got[1].Statement != 1 || got[1].Allow || got[1].Applies || got[1].Missing != nil {
		t.Fatalf("%+v", got)
	}
	// Explain agrees with Decide on what applies.
	req.Context["kms:ViaService"] = []string{"s3.amazonaws.com"}
	got = p.Explain(req, false)
	if !got[0].Applies || got[0].Missing != nil || !Decide(req, []*Policy{p}, nil).Allowed {
		t.Fatalf("with the key: %+v", got)
	}
	// As a resource policy, statements without a matching Principal are not reported.
	rp := MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/b"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/a"},"Action":"kms:*","Resource":"*"}]}`)
	if got := rp.Explain(req, true); len(got) != 1 || got[0].Statement != 1 || !got[0].Applies {
		t.Fatalf("resource policy: %+v", got)
	}
	if keys := p.ContextKeys(); !slices.Equal(keys, []string{"aws:TokenIssueTime", "kms:ViaService", "aws:SecureTransport"}) {
		t.Fatalf("ContextKeys: %v", keys)
	}
}
