package audit

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// MaxResponseElements bounds the responseElements of one record (its JSON). A
// larger response is recorded as {"omitted": true, "reason": ...}, so that a
// reader sees that there was one.
const MaxResponseElements = 16 << 10

// maxResponseDepth bounds the nesting ResponseElementsXML decodes.
const maxResponseDepth = 32

// omittedTooLarge replaces response elements larger than MaxResponseElements.
var omittedTooLarge = json.RawMessage(`{"omitted":true,"reason":"The response elements exceed the record's size limit of 16 KiB."}`)

// ResponseElementsJSON turns a JSON response (an object, as the client
// received it) into CloudTrail responseElements: the same rules as
// RequestParametersJSON (lowerCamel names, secrets removed, and for KMS its
// ciphertexts, signatures, MACs and public keys removed). It returns nil when
// nothing is left or b is not an object.
func ResponseElementsJSON(b []byte, kms bool) json.RawMessage {
	out, _, ok := RequestParametersJSON(b, kms)
	if !ok {
		return nil
	}
	return bounded(out)
}

// ResponseElementsXML turns the XML result of a query-protocol operation (IAM,
// STS, SNS, CloudWatch: the <{Action}Result> element, or any element whose
// children are the result's members) into CloudTrail responseElements: each
// child element becomes a member with its lowerCamel name, a list
// (<member>...</member> children) becomes an array, text becomes a string, and
// secrets (SecretAccessKey, SessionToken, Base32StringSeed...) are removed at
// every depth. It returns nil when nothing is left or b is not XML.
func ResponseElementsXML(b []byte) json.RawMessage {
	d := xml.NewDecoder(bytes.NewReader(b))
	var root *xmlNode
	for root == nil {
		tok, err := d.Token()
		if err != nil {
			return nil
		}
		if se, ok := tok.(xml.StartElement); ok {
			n, err := readXMLNode(d, se, 0)
			if err != nil {
				return nil
			}
			root = n
		}
	}
	v, ok := root.value().(map[string]any)
	if !ok || len(v) == 0 {
		return nil
	}
	m := redactMap(v, nil)
	if len(m) == 0 {
		return nil
	}
	out, err := json.Marshal(lowerNames(m))
	if err != nil {
		return nil
	}
	return bounded(out)
}

func bounded(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "{}" {
		return nil
	}
	if len(b) > MaxResponseElements {
		return omittedTooLarge
	}
	return b
}

// xmlNode is an element of a query-protocol result.
type xmlNode struct {
	name string
	text strings.Builder
	kids []*xmlNode
}

var errTooDeep = errors.New("audit: XML nested too deeply")

func readXMLNode(d *xml.Decoder, se xml.StartElement, depth int) (*xmlNode, error) {
	if depth > maxResponseDepth {
		return nil, errTooDeep
	}
	n := &xmlNode{name: se.Name.Local}
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			k, err := readXMLNode(d, t, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, k)
		case xml.CharData:
			n.text.Write(t)
		case xml.EndElement:
			return n, nil
		}
	}
}

// value is n's content: a string (no child elements), an array (every child a
// <member>), or an object (a repeated child name, as in flattened lists, gives
// an array of its values).
func (n *xmlNode) value() any {
	if len(n.kids) == 0 {
		return n.text.String()
	}
	list := true
	for _, k := range n.kids {
		if k.name != "member" {
			list = false
			break
		}
	}
	if list {
		a := make([]any, len(n.kids))
		for i, k := range n.kids {
			a[i] = k.value()
		}
		return a
	}
	count := make(map[string]int, len(n.kids))
	for _, k := range n.kids {
		count[k.name]++
	}
	m := make(map[string]any, len(count))
	for _, k := range n.kids {
		if count[k.name] == 1 {
			m[k.name] = k.value()
			continue
		}
		a, _ := m[k.name].([]any)
		m[k.name] = append(a, k.value())
	}
	return m
}
