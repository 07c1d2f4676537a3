package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// jsonCodec is AWS JSON 1.0 for query-compatible services.
type jsonCodec struct{}

func (jsonCodec) name() string        { return "AWS JSON 1.0" }
func (jsonCodec) contentType() string { return "application/x-amz-json-1.0" }
func (jsonCodec) header(http.Header)  {}

// decode reads one JSON value (numbers as json.Number); an empty body is {}.
func (jsonCodec) decode(body []byte) (any, *Error) {
	return DecodeJSONTree(body)
}

// DecodeJSONTree decodes an AWS JSON request body into map[string]any, []any,
// string, bool, nil and json.Number values. An empty (or all-whitespace) body
// is an empty structure. Malformed JSON or trailing data is a *Error 400
// SerializationException.
func DecodeJSONTree(body []byte) (any, *Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, badRequest(CodeSerialization, "Unexpected data after the JSON value in the request body")
	}
	return v, nil
}

func (jsonCodec) encode(v any) ([]byte, error) { return jsonMarshal(jsonTimes(v)) }

// jsonTimes replaces time.Time values by their Epoch (seconds since the epoch).
func jsonTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonTimes(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonTimes(e)
		}
		return out
	case time.Time:
		return Epoch(x)
	}
	return v
}

// cborCodec is Smithy RPC v2 CBOR.
type cborCodec struct{}

func (cborCodec) name() string        { return "Smithy RPC v2 CBOR" }
func (cborCodec) contentType() string { return "application/cbor" }
func (cborCodec) header(h http.Header) {
	h.Set("smithy-protocol", "rpc-v2-cbor")
}

// CBOR limits: bodies are at most Router.MaxBodyBytes; these bound the work
// a hostile body can cause inside that.
var (
	cborDec = mustDecMode(cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  32,
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      1 << 16,
		IndefLength:      cbor.IndefLengthAllowed, // the Go SDK sends indefinite-length maps and arrays
		TagsMd:           cbor.TagsAllowed,
		DefaultMapType:   reflect.TypeOf(map[string]any(nil)),
		UTF8:             cbor.UTF8RejectInvalid,
		TimeTagToAny:     cbor.TimeTagToTime,
		NaN:              cbor.NaNDecodeAllowed,
		Inf:              cbor.InfDecodeAllowed,
	})
	cborEnc = mustEncMode(cbor.EncOptions{
		Time:    cbor.TimeUnixDynamic,
		TimeTag: cbor.EncTagRequired,
		Sort:    cbor.SortBytewiseLexical,
	})
)

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

func (cborCodec) decode(body []byte) (any, *Error) { return DecodeCBORTree(body) }

// DecodeCBORTree decodes a Smithy RPC v2 CBOR request body into
// map[string]any, []any, string, bool, nil, int64/uint64/float64, []byte and
// time.Time (tag 1) values. An empty body is an empty structure. Malformed
// CBOR, trailing data, a map key that is not a text string, a duplicate key or
// nesting deeper than 32 is a *Error 400 SerializationException.
func DecodeCBORTree(body []byte) (any, *Error) {
	if len(body) == 0 {
		return map[string]any{}, nil
	}
	var v any
	rest, err := cborDec.UnmarshalFirst(body, &v)
	if err != nil {
		var dup *cbor.DupMapKeyError
		if errors.As(err, &dup) {
			return nil, badRequest(CodeSerialization, "The CBOR request body has a duplicate map key")
		}
		return nil, badRequest(CodeSerialization, "The request body is not valid CBOR")
	}
	if len(rest) > 0 {
		return nil, badRequest(CodeSerialization, "Unexpected data after the CBOR value in the request body")
	}
	return v, nil
}

func (cborCodec) encode(v any) ([]byte, error) { return cborEnc.Marshal(v) }
