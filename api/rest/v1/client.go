package restv1

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to a controller's REST API. It is safe for concurrent use.
type Client struct {
	base   string
	token  string
	http   *http.Client // calls: bounded by a timeout
	stream *http.Client // event streams: no overall timeout
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends token as the bearer token of every request.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient uses h for calls (its Transport also for streams), e.g.
// to trust a private CA.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) {
		c.http = h
		c.stream = &http.Client{Transport: h.Transport}
	}
}

// NewClient returns a client for the controller at baseURL
// (http://127.0.0.1:7700, https://...).
func NewClient(baseURL string, opts ...Option) *Client {
	// Keep enough idle connections for concurrent callers: the default two
	// per host makes bulk provisioning open a TCP connection per call.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	c := &Client{base: strings.TrimRight(baseURL, "/"),
		http:   &http.Client{Timeout: 30 * time.Second, Transport: tr},
		stream: &http.Client{Transport: tr}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL is the controller's URL.
func (c *Client) BaseURL() string { return c.base }

func (c *Client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("controller request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// answerError reads an error answer into an *APIError.
func answerError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
		return &APIError{Status: resp.StatusCode, Err: eb.Error}
	}
	return &APIError{Status: resp.StatusCode, Text: string(data)}
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("controller %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return answerError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("controller %s %s: read answer: %w", method, path, err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("controller %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// Health checks that the controller answers.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
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

// PutPolicy creates or replaces policy p.Name.
func (c *Client) PutPolicy(ctx context.Context, p Policy) (PolicyView, error) {
	var v PolicyView
	err := c.do(ctx, http.MethodPut, "/v1/policies/"+url.PathEscape(p.Name), p, &v)
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
func (c *Client) Topology(ctx context.Context) (Topology, error) {
	var v Topology
	err := c.do(ctx, http.MethodGet, "/v1/topology", nil, &v)
	return v, err
}

// Desired returns a router's desired state as the controller pushes it to
// the router's agent.
func (c *Client) Desired(ctx context.Context, node string) (NodeState, error) {
	var v NodeState
	err := c.do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(node)+"/desired", nil, &v)
	return v, err
}

// StartSession starts a measurement session.
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
	path := "/v1/pm/sessions/" + url.PathEscape(name) + "/results"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []LossResult
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// ResultStream is a session's live results, as the controller pairs
// them. Read with Next; Close ends it.
type ResultStream struct {
	body io.ReadCloser
	sc   *bufio.Scanner
	// idle closes body when nothing (not even a heartbeat) came for
	// StreamIdle: a connection that died without a word ends Next too.
	idle *time.Timer
}

// StreamIdle is how long a stream may stay silent before it counts as
// dead: three of the controller's 15 s heartbeats.
const StreamIdle = 45 * time.Second

// EventEnd is the event the controller sends before it ends a stream
// because its session was stopped; a stream that ends without it (a
// controller restart, a broken connection) was cut, not finished.
const EventEnd = "end"

// ErrSessionStopped is what Next returns after EventEnd.
var ErrSessionStopped = errors.New("the session was stopped")

// Stream subscribes to a session's results. It returns once the
// controller has subscribed, so a Results call made after it misses
// nothing: every later result comes through the stream (results that
// come both ways are the same, see LossResult's period and segments).
func (c *Client) Stream(ctx context.Context, session string) (*ResultStream, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/pm/sessions/"+url.PathEscape(session)+"/stream", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.stream.Do(req)
	if err != nil {
		return nil, fmt.Errorf("controller %s: %w", c.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, answerError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	body := resp.Body
	return &ResultStream{body: body, sc: sc, idle: time.AfterFunc(StreamIdle, func() { body.Close() })}, nil
}

// Next blocks until the next result. It returns ErrSessionStopped when the
// controller ends the stream because the session was stopped, io.EOF (or
// another error) when the stream ends otherwise, and the context's error
// once the context given to Stream ends.
func (s *ResultStream) Next() (LossResult, error) {
	var data []byte
	event := ""
	for s.sc.Scan() {
		s.idle.Reset(StreamIdle)
		line := s.sc.Text()
		switch {
		case line == "":
			if event == EventEnd {
				return LossResult{}, ErrSessionStopped
			}
			// An event ends at a blank line; comments (heartbeats) and
			// events without data are skipped.
			if len(data) > 0 && (event == "" || event == "result") {
				var r LossResult
				if err := json.Unmarshal(data, &r); err != nil {
					return LossResult{}, fmt.Errorf("result stream: bad event: %w", err)
				}
				return r, nil
			}
			data, event = nil, ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")...)
		}
	}
	if err := s.sc.Err(); err != nil {
		return LossResult{}, fmt.Errorf("result stream: %w", err)
	}
	return LossResult{}, io.EOF
}

// Close ends the stream.
func (s *ResultStream) Close() error {
	s.idle.Stop()
	return s.body.Close()
}

// IsNotFound tells whether err is a 404 answer.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.NotFound()
}

// WatchRetry bounds how long Watch keeps trying to reach a controller
// that went away (a restart takes well under a second).
const WatchRetry = 30 * time.Second

// watchWindow is how far back Watch looks again after a reconnection: a
// period older than the newest seen can still be completed meanwhile (the
// controller pairs the halves of a period for up to ten minutes).
const watchWindow = 10 * time.Minute

// Watch calls fn with session's results of the periods from since on, then
// with each new one as it closes, once each, in the order they come;
// caughtUp (may be nil) is called once the stored ones are replayed and the
// stream follows. When the stream is cut (a controller restart, a broken or
// silent connection) it reconnects, backing off up to WatchRetry, and
// fills the gap from the stored results. It returns nil when the session is
// stopped (the controller says so, or it is gone after a reconnection),
// ctx's error when ctx ends, fn's error, or the error that outlasted
// WatchRetry.
func (c *Client) Watch(ctx context.Context, session string, since time.Time, fn func(LossResult) error, caughtUp func()) error {
	seen := map[string]time.Time{} // result key -> its period, pruned past watchWindow
	newest := since
	emit := func(r LossResult) error {
		if _, ok := seen[r.Key()]; ok {
			return nil
		}
		seen[r.Key()] = r.PeriodStart
		if r.PeriodStart.After(newest) {
			newest = r.PeriodStart
		}
		if len(seen)%1024 == 0 {
			for k, t := range seen {
				if t.Before(newest.Add(-watchWindow)) {
					delete(seen, k)
				}
			}
		}
		return fn(r)
	}
	var failingSince time.Time
	backoff := 100 * time.Millisecond
	connected := false
	for {
		from := since
		if connected && newest.Add(-watchWindow).After(since) {
			from = newest.Add(-watchWindow)
		}
		err := c.watchOnce(ctx, session, from, emit, func() {
			connected = true
			failingSince, backoff = time.Time{}, 100*time.Millisecond
			if caughtUp != nil {
				caughtUp()
				caughtUp = nil
			}
		})
		switch {
		case errors.Is(err, ErrSessionStopped):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errFn):
			return errors.Unwrap(err)
		case connected && IsNotFound(err):
			return nil // stopped while the controller was away
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status < 500 {
			return err // refused (token, no such session): trying again changes nothing
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		} else if time.Since(failingSince) > WatchRetry {
			return fmt.Errorf("watch %s: %w (gave up after %s)", session, err, WatchRetry)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// errFn marks an error of Watch's callback.
var errFn = errors.New("watch callback")

type fnError struct{ err error }

func (e fnError) Error() string        { return e.err.Error() }
func (e fnError) Unwrap() error        { return e.err }
func (e fnError) Is(target error) bool { return target == errFn }

// watchOnce subscribes, replays the results from from on, then follows the
// stream until it ends or breaks.
func (c *Client) watchOnce(ctx context.Context, session string, from time.Time, emit func(LossResult) error, caughtUp func()) error {
	// Subscribe before reading the history, so that no result falls
	// between the two; results seen both ways are emitted once.
	stream, err := c.Stream(ctx, session)
	if err != nil {
		return err
	}
	defer stream.Close()
	rs, err := c.Results(ctx, session, from, time.Time{})
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := emit(r); err != nil {
			return fnError{err}
		}
	}
	caughtUp()
	for {
		r, err := stream.Next()
		if err != nil {
			return err
		}
		if err := emit(r); err != nil {
			return fnError{err}
		}
	}
}
