package crypto

import (
	"errors"
	"testing"
)

func TestSelfTest(t *testing.T) {
	if err := SelfTest(); err != nil {
		t.Fatal(err)
	}
}

func TestSelfTestForcedFailures(t *testing.T) {
	t.Cleanup(func() { SetSelfTestFailure("") })
	names := SelfTestNames()
	if len(names) < 20 {
		t.Fatalf("only %d self-tests", len(names))
	}
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			t.Fatalf("duplicate self-test name %q", name)
		}
		seen[name] = true
		SetSelfTestFailure(name)
		err := SelfTest()
		var ste *SelfTestError
		if !errors.As(err, &ste) {
			t.Fatalf("%s: SelfTest() = %v, want *SelfTestError", name, err)
		}
		if ste.Test != name {
			t.Errorf("forced %q, SelfTest reported %q (%v)", name, ste.Test, err)
		}
		want := "crypto: power-on self-test " + name + " failed: "
		if got := err.Error(); len(got) < len(want) || got[:len(want)] != want {
			t.Errorf("error %q lacks prefix %q", got, want)
		}
	}
	SetSelfTestFailure("")
	if err := SelfTest(); err != nil {
		t.Fatalf("after reset: %v", err)
	}
	// "pairwise" affects only PairwiseCheck.
	SetSelfTestFailure("pairwise")
	if err := SelfTest(); err != nil {
		t.Fatalf("pairwise switch broke SelfTest: %v", err)
	}
}
