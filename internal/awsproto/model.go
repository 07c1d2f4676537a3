package awsproto

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Model is the part of a botocore service model (service-2.json) that the
// query-compatible protocols need to transcode requests and answers between
// the query protocol and AWS JSON 1.0 / Smithy RPC v2 CBOR: operations with
// their input and output shapes, the shapes' types and member names, and the
// error shapes with their query error codes. scripts/trim-botocore-model.py
// trims a botocore model to this (documentation and constraints dropped).
type Model struct {
	APIVersion   string // metadata.apiVersion: the query protocol's Version
	TargetPrefix string // metadata.targetPrefix: X-Amz-Target prefix and the CBOR path's service name

	ops    map[string]*modelOp
	shapes map[string]*shape
	// errorType maps a query error code to the error shape name written as
	// __type when the operation lists no error shape with that code.
	errorType map[string]string
}

type modelOp struct {
	errors        []string  // the operation's error shapes, by name
	input         *shapeRef // nil: no input members
	output        *shapeRef // nil: no output (Unit)
	resultWrapper string
}

type shapeRef struct {
	Shape        string `json:"shape"`
	LocationName string `json:"locationName"`
	QueryName    string `json:"queryName"`
	Flattened    bool   `json:"flattened"`
	sh           *shape
}

// queryName is the member's name in the query protocol's request parameters.
func (r *shapeRef) queryName(member string) string {
	switch {
	case r.QueryName != "":
		return r.QueryName
	case r.LocationName != "":
		return r.LocationName
	}
	return member
}

// xmlName is the member's element name in query-protocol XML answers.
func (r *shapeRef) xmlName(member string) string {
	if r.LocationName != "" {
		return r.LocationName
	}
	return member
}

type shape struct {
	Type      string               `json:"type"`
	Flattened bool                 `json:"flattened"`
	Members   map[string]*shapeRef `json:"members"`
	Member    *shapeRef            `json:"member"`
	Key       *shapeRef            `json:"key"`
	Value     *shapeRef            `json:"value"`
	Exception bool                 `json:"exception"`
	Error     *struct {
		Code           string `json:"code"`
		HTTPStatusCode int    `json:"httpStatusCode"`
		SenderFault    bool   `json:"senderFault"`
	} `json:"error"`
}

// ParseModel parses a botocore service model (JSON). Every operation needs an
// input or output shape that exists; every shape reference must resolve;
// metadata needs apiVersion and targetPrefix.
func ParseModel(b []byte) (*Model, error) {
	var raw struct {
		Metadata struct {
			APIVersion   string `json:"apiVersion"`
			TargetPrefix string `json:"targetPrefix"`
		} `json:"metadata"`
		Operations map[string]struct {
			Input  *shapeRef `json:"input"`
			Output *struct {
				shapeRef
				ResultWrapper string `json:"resultWrapper"`
			} `json:"output"`
			Errors []shapeRef `json:"errors"`
		} `json:"operations"`
		Shapes map[string]json.RawMessage `json:"shapes"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("awsproto: model: %w", err)
	}
	if raw.Metadata.APIVersion == "" || raw.Metadata.TargetPrefix == "" {
		return nil, fmt.Errorf("awsproto: model: metadata needs apiVersion and targetPrefix")
	}
	m := &Model{APIVersion: raw.Metadata.APIVersion, TargetPrefix: raw.Metadata.TargetPrefix,
		ops: map[string]*modelOp{}, shapes: map[string]*shape{}, errorType: map[string]string{}}
	for name, rs := range raw.Shapes {
		s := &shape{}
		if err := json.Unmarshal(rs, s); err != nil {
			return nil, fmt.Errorf("awsproto: model: shape %s: %w", name, err)
		}
		m.shapes[name] = s
	}
	resolve := func(where string, r *shapeRef) error {
		if r == nil {
			return nil
		}
		if r.sh = m.shapes[r.Shape]; r.sh == nil {
			return fmt.Errorf("awsproto: model: %s refers to the unknown shape %q", where, r.Shape)
		}
		return nil
	}
	for name, s := range m.shapes {
		for mn, r := range s.Members {
			if err := resolve(name+"."+mn, r); err != nil {
				return nil, err
			}
		}
		for _, r := range []*shapeRef{s.Member, s.Key, s.Value} {
			if err := resolve(name, r); err != nil {
				return nil, err
			}
		}
		switch s.Type {
		case "structure":
		case "list":
			if s.Member == nil {
				return nil, fmt.Errorf("awsproto: model: list %s has no member", name)
			}
		case "map":
			if s.Key == nil || s.Value == nil {
				return nil, fmt.Errorf("awsproto: model: map %s needs a key and a value", name)
			}
		case "string", "blob", "boolean", "timestamp", "integer", "long", "short", "byte", "float", "double":
		default:
			return nil, fmt.Errorf("awsproto: model: shape %s has the unsupported type %q", name, s.Type)
		}
	}
	// Several error shapes may share a query code (CloudWatch's ResourceNotFound and
	// DashboardNotFoundError): the shape named like the code wins, else the first name.
	for _, name := range slices.Sorted(maps.Keys(m.shapes)) {
		s := m.shapes[name]
		if !s.Exception {
			continue
		}
		code := s.errorCode(name)
		if prev, dup := m.errorType[code]; !dup || (prev != code && name == code) {
			m.errorType[code] = name
		}
	}
	for name, o := range raw.Operations {
		op := &modelOp{input: o.Input}
		for _, e := range o.Errors {
			if m.shapes[e.Shape] == nil {
				return nil, fmt.Errorf("awsproto: model: %s refers to the unknown error shape %q", name, e.Shape)
			}
			op.errors = append(op.errors, e.Shape)
		}
		if err := resolve(name+" input", op.input); err != nil {
			return nil, err
		}
		if o.Output != nil {
			op.output, op.resultWrapper = &o.Output.shapeRef, o.Output.ResultWrapper
			if err := resolve(name+" output", op.output); err != nil {
				return nil, err
			}
		}
		for _, r := range []*shapeRef{op.input, op.output} {
			if r != nil && r.sh.Type != "structure" {
				return nil, fmt.Errorf("awsproto: model: %s: input and output must be structures", name)
			}
		}
		m.ops[name] = op
	}
	return m, nil
}

// MustParseModel is ParseModel for models embedded in the binary: it panics
// on an error.
func MustParseModel(b []byte) *Model {
	m, err := ParseModel(b)
	if err != nil {
		panic(err)
	}
	return m
}

// HasOperation reports whether the model defines the operation.
func (m *Model) HasOperation(name string) bool { return m.ops[name] != nil }

// errorCode is the query error code of the error shape name.
func (s *shape) errorCode(name string) string {
	if s.Error != nil && s.Error.Code != "" {
		return s.Error.Code
	}
	return name
}

// errorTypeOf is the __type written for a query error code of the operation:
// the operation's error shape with that code, else any error shape with it,
// else the code itself.
func (m *Model) errorTypeOf(op, code string) string {
	if o := m.ops[op]; o != nil {
		for _, name := range o.errors {
			if m.shapes[name].errorCode(name) == code {
				return name
			}
		}
	}
	if t, ok := m.errorType[code]; ok {
		return t
	}
	return code
}
