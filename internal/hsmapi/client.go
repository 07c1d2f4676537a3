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
	// HTTP is the HTTP client (default: a client with a 60 s timeout).
	HTTP *http.Client
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
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	res, err := hc.Do(hr)
	if err != nil {
		return fmt.Errorf("cannot reach the Coffer server at %s: %w (is it running? set --endpoint or COFFER_ENDPOINT)", c.Endpoint, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return err
	}
	var env struct {
		ErrorCode int             `json:"error_code"`
		ErrorType string          `json:"error_type"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("the server at %s did not answer with the native API (HTTP %d): %.200s", c.Endpoint, res.StatusCode, raw)
	}
	if env.ErrorCode != 0 || res.StatusCode >= 300 {
		var msg string
		if json.Unmarshal(env.Data, &msg) != nil {
			msg = string(env.Data)
		}
		return &Error{Status: res.StatusCode, Type: env.ErrorType, Message: msg}
	}
	if resp == nil {
		return nil
	}
	return json.Unmarshal(env.Data, resp)
}
