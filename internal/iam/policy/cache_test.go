package policy

import (
	"fmt"
	"testing"
)

func TestCacheParsesOnceAndFailsClosed(t *testing.T) {
	var c Cache
	allow := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`
	a, err := c.Parse([]string{allow})
	if err != nil || len(a) != 1 {
		t.Fatal(a, err)
	}
	b, _ := c.Parse([]string{allow})
	if a[0] != b[0] {
		t.Error("the same document was parsed twice")
	}
	// A broken document among valid ones fails the lookup rather than being skipped.
	if p, err := c.Parse([]string{allow, `{"Statement":[{"Effect":"Deny"`}); err == nil || p != nil {
		t.Fatalf("broken document skipped: %v %v", p, err)
	}
	// Bounded.
	for i := 0; i < MaxCached+10; i++ {
		c.Parse([]string{fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"s%d","Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, i)})
	}
	if n := len(c.m); n > MaxCached {
		t.Fatalf("cache holds %d", n)
	}
}
