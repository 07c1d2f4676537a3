package hsmapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls the native API of a Coffer server.
type Client struct {
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:8990.
	Endpoint string
	// Token is the session token from Login; empty before login.
	Token string
	// HTTP is the HTTP client (default: a client with a 60 s timeout, none
	// for commands that report progress, over Transport).
	HTTP *http.Client
	// Transport carries the default clients' requests (nil:
	// http.DefaultTransport), e.g. one that trusts the node's CA.
	Transport http.RoundTripper
}

// Error is an error answered by the server.
type Error struct {
	Status  int    // HTTP status
	Type    string // error type, e.g. "LoginFailed", "ValidationError"
	Message string
}

func (e *Error) Error() string { return e.Message }

// Call runs a command ("user/list", "key/generate-symmetric", ...) with req as its JSON
// body and decodes the response's data into resp (which may be nil).
func (c *Client) Call(ctx context.Context, command string, req, resp any) error {
	return c.CallStream(ctx, command, req, resp, nil)
}

// CallStream is Call for commands that report progress: onProgress (when not nil)
// receives each progress value the server sends before the answer.
func (c *Client) CallStream(ctx context.Context, command string, req, resp any, onProgress func(json.RawMessage)) error {
	if req == nil {
		req = Empty{}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	url := strings.TrimRight(c.Endpoint, "/") + PathPrefix + command
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if onProgress != nil {
		hr.Header.Set("Accept", StreamContentType+", application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second, Transport: c.Transport}
		if onProgress != nil {
			hc = &http.Client{Transport: c.Transport} // long-running: bounded by ctx
		}
	}
	res, err := hc.Do(hr)
	if err != nil {
		return fmt.Errorf("cannot reach the Coffer server at %s: %w (is it running? set --endpoint or COFFER_ENDPOINT)", c.Endpoint, err)
	}
	defer res.Body.Close()
	var env struct {
		ErrorCode int             `json:"error_code"`
		ErrorType string          `json:"error_type"`
		Data      json.RawMessage `json:"data"`
		Status    int             `json:"status"`
		Progress  json.RawMessage `json:"progress"`
	}
	var raw []byte
	if strings.HasPrefix(res.Header.Get("Content-Type"), StreamContentType) {
		dec := json.NewDecoder(io.LimitReader(res.Body, 64<<20))
		for {
			env.Progress = nil
			if err := dec.Decode(&env); err != nil {
				return fmt.Errorf("the server at %s ended its answer early: %w", c.Endpoint, err)
			}
			if env.Progress == nil {
				break
			}
			if onProgress != nil {
				onProgress(env.Progress)
			}
		}
		if env.Status != 0 {
			res.StatusCode = env.Status
		}
		return decodeEnvelope(env.ErrorCode, env.ErrorType, env.Data, res.StatusCode, resp)
	}
	raw, err = io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("the server at %s did not answer with the native API (HTTP %d): %.200s", c.Endpoint, res.StatusCode, raw)
	}
	return decodeEnvelope(env.ErrorCode, env.ErrorType, env.Data, res.StatusCode, resp)
}

func decodeEnvelope(code int, typ string, data json.RawMessage, status int, resp any) error {
	if code != 0 || status >= 300 {
		var msg string
		if json.Unmarshal(data, &msg) != nil {
			msg = string(data)
		}
		return &Error{Status: status, Type: typ, Message: msg}
	}
	if resp == nil {
		return nil
	}
	return json.Unmarshal(data, resp)
}
