package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func eventFrom(s1, s2, s3 string, raw []byte, n uint8) *Event {
	e := &Event{EventVersion: EventVersion, EventSource: s1, EventName: s2, AWSRegion: s3, EventID: s2 + s3,
		EventTime: time.Unix(int64(n)*1e7, 0).UTC(), ReadOnly: n&1 == 1, ManagementEvent: n&2 == 2,
		EventType: EventTypeAPICall, EventCategory: CategoryManagement}
	if n&4 == 4 {
		e.SourceIPAddress, e.UserAgent, e.ErrorCode, e.ErrorMessage, e.RequestID = s1, s2, s3, s1+s2, s3
		e.RecipientAccountID = s2
	}
	if n&8 == 8 {
		e.UserIdentity = UserIdentity{Type: "AssumedRole", PrincipalID: s1, ARN: s2, AccountID: s3, AccessKeyID: s1,
			UserName: s2, InvokedBy: s3}
	} else if n&16 == 16 {
		e.UserIdentity = UserIdentity{ARN: s3, SessionContext: &SessionContext{
			SessionIssuer: &SessionIssuer{Type: "Role", ARN: s1}, Attributes: NewSessionAttributes(time.Unix(7, 0), true)}}
	}
	if n&32 == 32 {
		e.Resources = []Resource{{AccountID: s3, Type: "AWS::KMS::Key", ARN: s1}, {Type: s2, ARN: s3}}
	}
	if len(raw) > 0 {
		e.RequestParameters = raw
		if n&64 == 64 {
			e.ResponseElements, e.ServiceEventDetails = raw, raw
		}
	}
	return e
}

func TestAppendEventMatchesMarshal(t *testing.T) {
	for n := 0; n < 256; n++ {
		e := eventFrom("kms.amazonaws.com", "Encrypt <&> \u2028 \x01 \"q\" \\ é \xff", "us-east-1",
			[]byte(`{"keyId": "a<b", "encryptionContext":{"k":"v"}}`), uint8(n))
		want, err := json.Marshal(e)
		got, err2 := appendEvent(nil, e)
		if err != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Fatalf("n=%d: %v %v\n got %s\nwant %s", n, err, err2, got, want)
		}
	}
	if _, err := appendEvent(nil, eventFrom("a", "b", "c", []byte(`{bad`), 0)); err == nil {
		t.Error("invalid requestParameters accepted")
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("kms.amazonaws.com", "Decrypt", "us-east-1", []byte(`{"keyId":"k"}`), uint8(255))
	f.Add("\x00<>&\u2029", "\xed\xa0\x80", "\t", []byte(`[1, 2]`), uint8(4))
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, raw []byte, n uint8) {
		e := eventFrom(s1, s2, s3, raw, n)
		want, err := json.Marshal(e)
		got, err2 := appendEvent(nil, e)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("errors differ: %v vs %v", err, err2)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

func TestAppendRawMatchesMarshal(t *testing.T) {
	for _, raw := range []string{
		`{"a":"b c"}`, `{"a":"x\"y","b":"\\"}`, `[1,2,{"c":null}]`, `"\u2028 as text"`, `{"k":"v"}`,
		`{"a": 1}`, "{\"a\":\n1}", `{"a":"<"}`, `{"a":"&amp;"}`, "{\"a\":\"\u2028\"}", "{\"a\":\"\u2029\"}", `{"a":"é"}`,
	} {
		want, err := json.Marshal(json.RawMessage(raw))
		got, err2 := appendRaw(nil, json.RawMessage(raw))
		if err != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: got %s (%v), want %s (%v)", raw, got, err2, want, err)
		}
	}
	for _, bad := range []string{`{"a":1`, `{"a":"\x01"}`, `{a:1}`, `{"a":"b"}x`} {
		if _, err := appendRaw(nil, json.RawMessage(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
