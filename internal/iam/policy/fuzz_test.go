package policy

import (
	"math/rand"
	"testing"
)

// FuzzParse checks that no input makes Parse panic and that every accepted
// document can be evaluated, agrees with the reference evaluator, and can
// be used as identity, resource and KMS key policy without panicking.
func FuzzParse(f *testing.F) {
	g := gen{rand.New(rand.NewSource(1))}
	for i := 0; i < 32; i++ {
		f.Add([]byte(g.policy(i%2 == 0)), g.pick(genActions...))
	}
	f.Add([]byte(`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Null":{"a:b":["true","false"]}}}}`), "s:A")
	f.Add([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","NotAction":"k:*","NotResource":"arn:${x}","Condition":{"ForAllValues:DateLessThanIfExists":{"k":0}}}]}`), "K:\u00e9")
	reqs := []*Request{g.request(), g.request(), g.request(), {}}
	f.Fuzz(func(t *testing.T, doc []byte, action string) {
		if len(action) > 24 {
			return // keeps the reference's exponential glob affordable
		}
		p, err := Parse(doc)
		if err != nil {
			if p != nil {
				t.Fatal("Parse returned a policy and an error")
			}
			return
		}
		ps := []*Policy{p}
		for _, r := range reqs {
			req := *r
			if action != "" {
				req.Action = action
			}
			d := Decide(&req, ps, ps)
			KMSDecide(&req, p, ps, ps)
			if ref := refDecide(&req, [][]byte{doc}, [][]byte{doc}); ref != d.Reason {
				t.Fatalf("Decide = %v, reference = %v for %s and %+v", d.Reason, ref, doc, &req)
			}
		}
	})
}
