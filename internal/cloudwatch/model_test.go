package cloudwatch

import (
	"testing"
)

// TestModelCoversOperations: every operation of the table is in the embedded model, so
// the JSON 1.0 and CBOR clients reach all of them (regenerate model.json after adding one).
func TestModelCoversOperations(t *testing.T) {
	m := Model()
	if m.APIVersion != Version || m.TargetPrefix != "GraniteServiceVersion20100801" {
		t.Fatalf("model metadata: %s %s", m.APIVersion, m.TargetPrefix)
	}
	for name := range Operations() {
		if !m.HasOperation(name) {
			t.Errorf("operation %s is not in model.json", name)
		}
	}
}
