package hsmapi

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/coffer-hsm/coffer/internal/hsm"
	"net/http"
	"net/http/httptest"
	"testing"
)

type teapot struct{}

func (teapot) Error() string               { return "no coffee here" }
func (teapot) NativeStatus() (int, string) { return http.StatusTeapot, "Teapot" }

func TestExtensionStreamsProgressThenAnswer(t *testing.T) {
	srv := NewServer(nil, ServerConfig{Extensions: map[string]Extension{
		"demo/count": {Fn: func(ctx context.Context, _ *hsm.Session, body []byte, progress func(any)) (any, error) {
			req, err := DecodeRequest[struct{ N int }](body)
			if err != nil {
				return nil, err
			}
			for i := 1; i <= req.N; i++ {
				progress(map[string]int{"done": i, "total": req.N})
			}
			if req.N < 0 {
				return nil, teapot{}
			}
			return map[string]int{"counted": req.N}, nil
		}},
	}})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := &Client{Endpoint: ts.URL}

	var seen []int
	var out struct{ Counted int }
	err := c.CallStream(context.Background(), "demo/count", map[string]int{"N": 3}, &out, func(raw json.RawMessage) {
		var p struct{ Done int }
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Errorf("progress %s: %v", raw, err)
		}
		seen = append(seen, p.Done)
	})
	if err != nil || out.Counted != 3 {
		t.Fatalf("CallStream: %v %+v", err, out)
	}
	if len(seen) != 3 || seen[0] != 1 || seen[2] != 3 {
		t.Fatalf("progress seen: %v", seen)
	}

	// Without a stream the same command answers plainly.
	out.Counted = 0
	if err := c.Call(context.Background(), "demo/count", map[string]int{"N": 2}, &out); err != nil || out.Counted != 2 {
		t.Fatalf("Call: %v %+v", err, out)
	}

	// Errors keep their status and type, streamed or not.
	for _, stream := range []bool{false, true} {
		var cb func(json.RawMessage)
		if stream {
			cb = func(json.RawMessage) {}
		}
		err := c.CallStream(context.Background(), "demo/count", map[string]int{"N": -1}, nil, cb)
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusTeapot || e.Type != "Teapot" || e.Message != "no coffee here" {
			t.Fatalf("stream=%v: error %#v", stream, err)
		}
	}
	// Strict decoding applies to extensions too.
	err = c.Call(context.Background(), "demo/count", map[string]any{"N": 1, "Typo": 2}, nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
		t.Fatalf("unknown field: %v", err)
	}
}
