package awsproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
)

// Decode decodes a JSON request body into T. An empty (or all-whitespace)
// body decodes as {} (the zero T). Malformed JSON, trailing data, a field of
// the wrong type or an invalid base64 blob give a *Error 400
// SerializationException; a type error names the field. Unknown fields are
// ignored, as AWS does. An *Error returned by a custom UnmarshalJSON method of
// T (or of a field's type) is returned as is, so enum types can answer
// ValidationException.
//
// Field names match case-insensitively (encoding/json semantics), unlike
// AWS, which is case-sensitive.
func Decode[T any](body []byte) (T, error) {
	var v T
	if len(bytes.TrimSpace(body)) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(body, &v); err != nil {
		var zero T
		return zero, decodeError(err)
	}
	return v, nil
}

func decodeError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return badRequest(CodeSerialization, "Malformed JSON in the request body (syntax error at byte offset %d)", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		got := typ.Value
		if i := strings.IndexByte(got, ' '); i >= 0 { // "number 1e999": do not echo input
			got = got[:i]
		}
		if typ.Field == "" {
			return badRequest(CodeSerialization, "The request body must be a JSON %s, not a JSON %s", jsonKind(typ.Type), quote(got))
		}
		return badRequest(CodeSerialization, "Field '%s' must be a JSON %s, not a JSON %s",
			quote(typ.Field), jsonKind(typ.Type), quote(got))
	}
	var b64 base64.CorruptInputError
	if errors.As(err, &b64) {
		return badRequest(CodeSerialization, "A blob field is not valid base64 (error at byte %d of the value)", int64(b64))
	}
	return badRequest(CodeSerialization, "The request body could not be decoded as JSON")
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "integer in range for " + t.Kind().String()
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64-encoded string"
		}
		return "array"
	case reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return "value"
}
