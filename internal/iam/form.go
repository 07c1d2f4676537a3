package iam

import (
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// Query-protocol request decoding. A request body is form-encoded
// (Action=CreateUser&Version=2010-05-08&UserName=bob&Tags.member.1.Key=k...). Input structs
// name their parameters by Go field name (AWS's member names); supported field types are
// string, int, *int, bool, []string (X.member.N), []Tag (X.member.N.Key / .Value) and
// []PolicyDescriptor (X.member.N.arn).
// Unknown parameters are ignored, as AWS does.

// maxListMembers bounds X.member.N indexes (AWS lists of these APIs are at most 50 long).
const maxListMembers = 1000

var tagType = reflect.TypeFor[Tag]()

// PolicyDescriptor is STS's PolicyDescriptorType (X.member.N.arn).
type PolicyDescriptor struct {
	Arn string
}

func decodeForm[T any](body []byte) (T, error) {
	var v T
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return v, iamErr("MalformedQueryString", "the request body is not a valid form: %v", err)
	}
	rv := reflect.ValueOf(&v).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		name := f.Name
		fv := rv.Field(i)
		switch {
		case f.Type.Kind() == reflect.String:
			fv.SetString(vals.Get(name))
		case f.Type.Kind() == reflect.Int:
			if s := vals.Get(name); s != "" {
				n, err := strconv.Atoi(s)
				if err != nil {
					return v, validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a number", s, lowerFirst(name))
				}
				if name == "MaxItems" && n < 1 {
					// maxItemsType is 1..1000: an explicit 0 is refused, not the default.
					return v, validation("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1", n)
				}
				fv.SetInt(int64(n))
			}
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Int:
			if s := vals.Get(name); s != "" {
				n, err := strconv.Atoi(s)
				if err != nil {
					return v, validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a number", s, lowerFirst(name))
				}
				fv.Set(reflect.ValueOf(&n))
			}
		case f.Type.Kind() == reflect.Bool:
			if s := vals.Get(name); s != "" {
				b, err := strconv.ParseBool(s)
				if err != nil {
					return v, validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a boolean", s, lowerFirst(name))
				}
				fv.SetBool(b)
			}
		case f.Type == reflect.TypeFor[[]string]():
			list := members(vals, name, func(p string) (string, bool) {
				s, ok := vals[p]
				if !ok || len(s) == 0 {
					return "", false
				}
				return s[0], true
			})
			fv.Set(reflect.ValueOf(list))
		case f.Type == reflect.TypeFor[[]PolicyDescriptor]():
			list := members(vals, name, func(p string) (PolicyDescriptor, bool) {
				a, ok := vals[p+".arn"]
				if !ok {
					return PolicyDescriptor{}, false
				}
				return PolicyDescriptor{Arn: a[0]}, true
			})
			fv.Set(reflect.ValueOf(list))
		case f.Type.Kind() == reflect.Slice && f.Type.Elem() == tagType:
			list := members(vals, name, func(p string) (Tag, bool) {
				k, ok1 := vals[p+".Key"]
				val, ok2 := vals[p+".Value"]
				if !ok1 && !ok2 {
					return Tag{}, false
				}
				var t Tag
				if len(k) > 0 {
					t.Key = k[0]
				}
				if len(val) > 0 {
					t.Value = val[0]
				}
				return t, true
			})
			fv.Set(reflect.ValueOf(list))
		}
	}
	return v, nil
}

// members collects X.member.1, X.member.2... until the first missing index.
func members[E any](vals url.Values, name string, get func(prefix string) (E, bool)) []E {
	var out []E
	for n := 1; n <= maxListMembers; n++ {
		e, ok := get(name + ".member." + strconv.Itoa(n))
		if !ok {
			break
		}
		out = append(out, e)
	}
	return out
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
