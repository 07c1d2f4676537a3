package audit

import (
	"cmp"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxQueryDepth bounds the nesting of a query parameter name (segments between dots);
// deeper names are not recorded. AWS's query APIs nest a handful of levels.
const maxQueryDepth = 16

// RequestParametersQuery turns a query-protocol request (IAM, STS, SNS, CloudWatch: a
// form) into CloudTrail's requestParameters, shaped as CloudTrail records them:
//   - lists (`Tags.member.1.Key`) become arrays, in the order of their indexes;
//   - maps (`Attributes.entry.1.key` / `.value`, or `.Name` / `.Value` as SNS message
//     attributes send them) become objects keyed by the data;
//   - other nested members (`Dimensions.member.1.Name`) become objects;
//   - member names are lowerCamel at every depth; map keys stay as sent;
//   - secrets are dropped (Redact), and so are Action and Version, which are not
//     parameters.
//
// It returns nil when nothing is left. Names that collide (`A=1` and `A.B=2`) keep the
// first in sorted order; empty segments and names nested deeper than 16 are dropped.
func RequestParametersQuery(form url.Values) json.RawMessage {
	keys := make([]string, 0, len(form))
	for k, vals := range form {
		if k != "Action" && k != "Version" && len(vals) > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	root := map[string]any{}
	for _, k := range keys {
		segs := strings.Split(k, ".")
		if len(segs) > maxQueryDepth || slices.Contains(segs, "") {
			continue
		}
		cur := root
		for _, s := range segs[:len(segs)-1] {
			next, exists := cur[s]
			if !exists {
				m := map[string]any{}
				cur[s] = m
				cur = m
				continue
			}
			m, isMap := next.(map[string]any)
			if !isMap {
				cur = nil // a value already has this name
				break
			}
			cur = m
		}
		last := segs[len(segs)-1]
		if cur == nil {
			continue
		}
		if _, exists := cur[last]; exists {
			continue
		}
		cur[last] = form[k][0]
	}
	out, _ := shapeQuery(root).(map[string]any)
	out = Redact(out)
	if len(out) == 0 {
		return nil
	}
	return Params(out)
}

// shapeQuery turns one level of the parsed form into CloudTrail's shape.
func shapeQuery(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if len(m) == 1 {
		if members, ok := m["member"].(map[string]any); ok {
			if items, ok := indexed(members); ok {
				list := make([]any, len(items))
				for i, e := range items {
					list[i] = shapeQuery(e)
				}
				return list
			}
		}
		if entries, ok := m["entry"].(map[string]any); ok {
			if items, ok := indexed(entries); ok {
				obj := make(map[string]any, len(items))
				for _, e := range items {
					em, _ := e.(map[string]any)
					key, _ := em["key"].(string)
					val, hasVal := em["value"]
					if key == "" {
						key, _ = em["Name"].(string)
						val, hasVal = em["Value"]
					}
					if key != "" && hasVal {
						obj[key] = shapeQuery(val)
					}
				}
				return obj
			}
		}
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[LowerFirst(k)] = shapeQuery(e)
	}
	return out
}

// indexed returns the values of m in the order of its keys, which must all be positive
// decimal indexes (1, 2, ... without leading zeros); ok is false otherwise.
func indexed(m map[string]any) (values []any, ok bool) {
	type item struct {
		i int
		v any
	}
	items := make([]item, 0, len(m))
	for k, v := range m {
		i, err := strconv.Atoi(k)
		if err != nil || i < 1 || strconv.Itoa(i) != k {
			return nil, false
		}
		items = append(items, item{i, v})
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.i, b.i) })
	values = make([]any, len(items))
	for j, it := range items {
		values[j] = it.v
	}
	return values, true
}
