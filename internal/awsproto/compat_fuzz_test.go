package awsproto

import (
	"net/http"
	"testing"
)

// fuzzTranscode runs a decoded request through the widget model's GetWidget input: any
// input gives a form the query parser accepts, or a 400 SerializationException.
func fuzzTranscode(t *testing.T, tree any, derr *Error) {
	m := MustParseModel([]byte(widgetModel))
	if derr != nil {
		if derr.Status != http.StatusBadRequest || derr.Code != CodeSerialization || derr.Message == "" {
			t.Fatalf("decode error %+v", derr)
		}
		return
	}
	form, err := m.requestForm("GetWidget", m.ops["GetWidget"], tree)
	if err != nil {
		if err.Status != http.StatusBadRequest || err.Code != CodeSerialization || err.Message == "" {
			t.Fatalf("transcode error %+v", err)
		}
		return
	}
	v, perr := ParseQuery(form)
	if perr != nil {
		t.Fatalf("transcoded form %q does not parse: %v", form, perr)
	}
	if v.Get("Action") != "GetWidget" || v.Get("Version") != "2020-01-01" {
		t.Fatalf("form %q lost Action or Version", form)
	}
}

func FuzzDecodeCBORTree(f *testing.F) {
	f.Add([]byte{0xa0})
	f.Add([]byte{0xbf, 0x64, 'N', 'a', 'm', 'e', 0x62, 'w', '2', 0x64, 'F', 'l', 'a', 't', 0x9f, 0x61, 'z', 0xff, 0xff})
	// {"Since": 1(1704164645.5), "Data": h'6869', "Count": 7, "Attrs": {"a": "1"}}
	f.Add([]byte{0xa4, 0x65, 'S', 'i', 'n', 'c', 'e', 0xc1, 0xfb, 0x41, 0xd9, 0x65, 0xb9, 0x49, 0x60, 0x00, 0x00,
		0x64, 'D', 'a', 't', 'a', 0x42, 'h', 'i', 0x65, 'C', 'o', 'u', 'n', 't', 0x07,
		0x65, 'A', 't', 't', 'r', 's', 0xa1, 0x61, 'a', 0x61, '1'})
	f.Add([]byte{0xa1, 0x01, 0x02})                       // integer key
	f.Add([]byte{0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02}) // duplicate key
	f.Add([]byte{0x9f, 0x9f, 0x9f, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		tree, err := DecodeCBORTree(body)
		fuzzTranscode(t, tree, err)
	})
}

func FuzzDecodeJSONTree(f *testing.F) {
	f.Add([]byte(`{"Name":"w1","Tags":[{"Key":"k1","Value":"v1"}],"Attrs":{"b":"2"},"Flat":["x"],"Since":1704164645.5,"Count":7,"Ratio":0.5,"Enabled":true,"Data":"aGk=","Empty":[]}`))
	f.Add([]byte(`{"Count":1e999,"Since":-1e300}`))
	f.Add([]byte(`{"Tags":[null,{"Key":null}]}`))
	f.Add([]byte(`[1] {}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		tree, err := DecodeJSONTree(body)
		fuzzTranscode(t, tree, err)
	})
}
