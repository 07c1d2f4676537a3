package awsproto

import (
	"bytes"
	"encoding/json"
)

// jsonMarshal is json.Marshal without HTML escaping (AWS does not escape <, >, &)
// and without the trailing newline.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
