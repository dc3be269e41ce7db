package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Client talks to a controller's REST API.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// NewClient returns a client for the controller at baseURL.
func NewClient(baseURL string) *Client {
	// Keep enough idle connections for concurrent callers: the default two
	// per host makes bulk provisioning open a TCP connection per call.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &Client{BaseURL: baseURL, HTTP: &http.Client{Timeout: 30 * time.Second, Transport: tr}}
}

// APIError is an error answer of the controller.
type APIError struct {
	Status int
	Input  *InputError
	Text   string
}

func (e *APIError) Error() string {
	if e.Input != nil {
		msg := fmt.Sprintf("%s: %s", e.Input.Field, e.Input.Reason)
		if len(e.Input.Allowed) > 0 {
			msg += fmt.Sprintf(" (allowed: %v)", e.Input.Allowed)
		}
		return msg
	}
	return fmt.Sprintf("controller answered %d: %s", e.Status, e.Text)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("controller %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
			return &APIError{Status: resp.StatusCode, Input: eb.Error}
		}
		return &APIError{Status: resp.StatusCode, Text: string(data)}
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// AddPolicy creates (or with replace, replaces) a policy.
func (c *Client) AddPolicy(ctx context.Context, p Policy, replace bool) (PolicyView, error) {
	var v PolicyView
	path := "/v1/policies"
	if replace {
		path += "?replace=true"
	}
	err := c.do(ctx, http.MethodPost, path, p, &v)
	return v, err
}

// DeletePolicy deletes a policy.
func (c *Client) DeletePolicy(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/policies/"+url.PathEscape(name), nil, nil)
}

// Policies lists the policies.
func (c *Client) Policies(ctx context.Context) ([]PolicyView, error) {
	var v []PolicyView
	err := c.do(ctx, http.MethodGet, "/v1/policies", nil, &v)
	return v, err
}

// Policy returns one policy.
func (c *Client) Policy(ctx context.Context, name string) (PolicyView, error) {
	var v PolicyView
	err := c.do(ctx, http.MethodGet, "/v1/policies/"+url.PathEscape(name), nil, &v)
	return v, err
}

// Topology returns the live topology.
func (c *Client) Topology(ctx context.Context) (TopologyView, error) {
	var v TopologyView
	err := c.do(ctx, http.MethodGet, "/v1/topology", nil, &v)
	return v, err
}

// StartSession starts a loss-measurement session.
func (c *Client) StartSession(ctx context.Context, s Session) (Session, error) {
	var out Session
	err := c.do(ctx, http.MethodPost, "/v1/pm/sessions", s, &out)
	return out, err
}

// StopSession stops a session.
func (c *Client) StopSession(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/pm/sessions/"+url.PathEscape(name), nil, nil)
}

// Sessions lists sessions with their last results.
func (c *Client) Sessions(ctx context.Context) ([]SessionView, error) {
	var out []SessionView
	err := c.do(ctx, http.MethodGet, "/v1/pm/sessions", nil, &out)
	return out, err
}

// Results returns a session's results with period starts in [from, to)
// (zero times leave that end open).
func (c *Client) Results(ctx context.Context, name string, from, to time.Time) ([]LossResult, error) {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("to", to.Format(time.RFC3339Nano))
	}
	var out []LossResult
	err := c.do(ctx, http.MethodGet, "/v1/pm/sessions/"+url.PathEscape(name)+"/results?"+q.Encode(), nil, &out)
	return out, err
}
