package awsproto

import (
	"encoding/json"
	"testing"
	"time"
)

func TestEpochWireFormat(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 123_456_789, time.UTC)
	b, err := json.Marshal(struct{ T *Epoch }{EpochPtr(at)})
	if err != nil || string(b) != `{"T":1795428000.123}` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	var back struct{ T *Epoch }
	if err := json.Unmarshal(b, &back); err != nil || !time.Time(*back.T).Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("unmarshal: %v %v", time.Time(*back.T), err)
	}
	if EpochPtr(time.Time{}) != nil {
		t.Fatal("zero time must be an absent field")
	}
	if err := json.Unmarshal([]byte(`{"T":"yesterday"}`), &back); err == nil {
		t.Fatal("a string timestamp was accepted")
	}
}
