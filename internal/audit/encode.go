package audit

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/coffer-hsm/coffer/internal/jsonx"
)

// appendEvent appends e's JSON encoding, byte for byte what json.Marshal
// writes for it, without reflection: the journal encodes one event per
// request on the request's goroutine. FuzzAppendEvent compares the two.
func appendEvent(b []byte, e *Event) ([]byte, error) {
	if y := e.EventTime.Year(); y < 0 || y > 9999 {
		m, err := json.Marshal(e) // json reports the out-of-range time
		return append(b, m...), err
	}
	b = append(b, `{"eventVersion":`...)
	b = jsonx.AppendString(b, e.EventVersion)
	b = append(b, `,"userIdentity":`...)
	var err error
	if b, err = appendIdentity(b, &e.UserIdentity); err != nil {
		return b, err
	}
	b = append(b, `,"eventTime":"`...)
	b = e.EventTime.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","eventSource":`...)
	b = jsonx.AppendString(b, e.EventSource)
	b = append(b, `,"eventName":`...)
	b = jsonx.AppendString(b, e.EventName)
	b = append(b, `,"awsRegion":`...)
	b = jsonx.AppendString(b, e.AWSRegion)
	b = appendOmit(b, `,"sourceIPAddress":`, e.SourceIPAddress)
	b = appendOmit(b, `,"userAgent":`, e.UserAgent)
	b = appendOmit(b, `,"errorCode":`, e.ErrorCode)
	b = appendOmit(b, `,"errorMessage":`, e.ErrorMessage)
	b = append(b, `,"requestParameters":`...)
	if b, err = appendRaw(b, e.RequestParameters); err != nil {
		return b, err
	}
	b = append(b, `,"responseElements":`...)
	if b, err = appendRaw(b, e.ResponseElements); err != nil {
		return b, err
	}
	if len(e.ServiceEventDetails) > 0 {
		b = append(b, `,"serviceEventDetails":`...)
		if b, err = appendRaw(b, e.ServiceEventDetails); err != nil {
			return b, err
		}
	}
	b = appendOmit(b, `,"requestID":`, e.RequestID)
	b = append(b, `,"eventID":`...)
	b = jsonx.AppendString(b, e.EventID)
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, e.ReadOnly)
	if len(e.Resources) > 0 {
		b = append(b, `,"resources":[`...)
		for i := range e.Resources {
			r := &e.Resources[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if r.AccountID != "" {
				b = append(b, `"accountId":`...)
				b = jsonx.AppendString(b, r.AccountID)
				b = append(b, ',')
			}
			b = append(b, `"type":`...)
			b = jsonx.AppendString(b, r.Type)
			b = append(b, `,"ARN":`...)
			b = jsonx.AppendString(b, r.ARN)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"eventType":`...)
	b = jsonx.AppendString(b, e.EventType)
	b = append(b, `,"managementEvent":`...)
	b = strconv.AppendBool(b, e.ManagementEvent)
	b = appendOmit(b, `,"recipientAccountId":`, e.RecipientAccountID)
	b = append(b, `,"eventCategory":`...)
	b = jsonx.AppendString(b, e.EventCategory)
	return append(b, '}'), nil
}

func appendIdentity(b []byte, u *UserIdentity) ([]byte, error) {
	start := len(b)
	b = append(b, '{')
	b = appendOmit(b, `,"type":`, u.Type)
	b = appendOmit(b, `,"principalId":`, u.PrincipalID)
	b = appendOmit(b, `,"arn":`, u.ARN)
	b = appendOmit(b, `,"accountId":`, u.AccountID)
	b = appendOmit(b, `,"accessKeyId":`, u.AccessKeyID)
	b = appendOmit(b, `,"userName":`, u.UserName)
	b = appendOmit(b, `,"invokedBy":`, u.InvokedBy)
	if u.SessionContext != nil {
		m, err := json.Marshal(u.SessionContext)
		if err != nil {
			return b, err
		}
		b = append(b, `,"sessionContext":`...)
		b = append(b, m...)
	}
	if len(b) > start+1 {
		b = append(b[:start+1], b[start+2:]...) // drop the first member's comma
	}
	return append(b, '}'), nil
}

// appendOmit appends member (with its leading comma) and s unless s is empty.
func appendOmit(b []byte, member, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, member...)
	return jsonx.AppendString(b, s)
}

// compactEscaped reports whether JSON text raw (if valid) is what json.Marshal
// writes for it: no white space outside strings, and none of the characters
// Marshal escapes for HTML (<, >, &, U+2028 and U+2029, whose UTF-8 starts
// with 0xE2; any 0xE2 byte takes the slow path).
func compactEscaped(raw []byte) bool {
	inString := false
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '<', '>', '&', 0xE2:
			return false
		case '"':
			inString = !inString
		case '\\':
			if inString {
				i++ // the escaped character: \" does not end the string
			}
		case ' ', '\t', '\r', '\n':
			if !inString {
				return false
			}
		}
	}
	return true
}

// appendRaw appends a json.RawMessage as json.Marshal does: null when empty,
// else compacted with HTML characters escaped (and an error when invalid).
func appendRaw(b []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return append(b, "null"...), nil
	}
	if compactEscaped(raw) && json.Valid(raw) {
		// Already as Marshal would write it (request parameters are built
		// compact): copy, without Marshal's allocations.
		return append(b, raw...), nil
	}
	m, err := json.Marshal(raw)
	if err != nil {
		return b, err
	}
	return append(b, m...), nil
}
