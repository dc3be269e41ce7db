package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
)

const testToken = "tok-3f9a"

// guarded serves c's API behind its guards, with cfg's token (testToken
// when empty).
func guarded(t *testing.T, c *Controller, cfg HandlerConfig) *httptest.Server {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	h, err := c.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// tokenTransport adds the bearer token to every request.
type tokenTransport struct{ token string }

func (tt tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tt.token)
	return http.DefaultTransport.RoundTrip(r)
}

// authClient is an HTTP client that sends testToken.
func authClient() *http.Client { return &http.Client{Transport: tokenTransport{testToken}} }

// call sends one request and returns the status, headers and error body.
func call(t *testing.T, method, url, body string, header map[string]string) (int, http.Header, *restv1.Error) {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var eb restv1.ErrorBody
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &eb); err != nil || eb.Error == nil || eb.Error.Reason == "" {
			t.Errorf("%s %s: %d answer not in the error shape: %s", method, url, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, resp.Header, eb.Error
}

func TestGuards(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	srv := guarded(t, c, HandlerConfig{AllowedHosts: []string{"ctl.example"}, AllowedOrigins: []string{"https://ui.example"}, MaxBody: 1000})
	bearer := "Bearer " + testToken
	policy := `{"name":"p%d","headend":"r1","endpoint":"r3","prefixes":["fd00:%x::/64"]}`
	n := 0
	body := func() string { n++; return fmt.Sprintf(policy, n, n) }
	tests := []struct {
		name    string
		method  string
		path    string
		body    string
		header  map[string]string
		status  int
		field   string
		wwwAuth bool
	}{
		{"no token", "GET", "/v1/policies", "", nil, 401, "authorization", true},
		{"wrong token", "GET", "/v1/policies", "", map[string]string{"Authorization": "Bearer nope"}, 401, "authorization", true},
		{"token with a longer prefix", "GET", "/v1/policies", "", map[string]string{"Authorization": bearer + "x"}, 401, "authorization", true},
		{"basic auth is not a bearer token", "GET", "/v1/policies", "", map[string]string{"Authorization": "Basic " + testToken}, 401, "authorization", true},
		{"right token", "GET", "/v1/policies", "", map[string]string{"Authorization": bearer}, 200, "", false},
		{"lower-case scheme", "GET", "/v1/policies", "", map[string]string{"Authorization": "bearer " + testToken}, 200, "", false},
		{"metrics need the token", "GET", "/metrics", "", nil, 401, "authorization", true},
		{"healthz is open", "GET", "/healthz", "", nil, 200, "", false},
		{"the document is open", "GET", "/openapi.json", "", nil, 200, "", false},
		{"policy with the token", "POST", "/v1/policies", body(), map[string]string{"Authorization": bearer, "Content-Type": "application/json"}, 201, "", false},
		{"JSON with a charset", "POST", "/v1/policies", body(), map[string]string{"Authorization": bearer, "Content-Type": "application/json; charset=utf-8"}, 201, "", false},
		{"policy without the token", "POST", "/v1/policies", body(), map[string]string{"Content-Type": "application/json"}, 401, "authorization", true},
		{"foreign Origin", "POST", "/v1/policies", body(), map[string]string{"Authorization": bearer, "Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "origin", false},
		{"opaque Origin", "GET", "/v1/policies", "", map[string]string{"Authorization": bearer, "Origin": "null"}, 403, "origin", false},
		{"another local port is another origin", "GET", "/v1/policies", "", map[string]string{"Authorization": bearer, "Origin": "http://127.0.0.1:1"}, 403, "origin", false},
		{"same origin", "GET", "/v1/policies", "", map[string]string{"Authorization": bearer, "Origin": srv.URL}, 200, "", false},
		{"allowed origin", "GET", "/v1/policies", "", map[string]string{"Authorization": bearer, "Origin": "https://ui.example"}, 200, "", false},
		{"foreign Host (DNS rebinding)", "GET", "/v1/policies", "", map[string]string{"Authorization": bearer, "Host": "evil.example:7700"}, 403, "host", false},
		{"foreign Host on an open route", "GET", "/healthz", "", map[string]string{"Host": "evil.example"}, 403, "host", false},
		{"localhost", "GET", "/v1/policies", "", map[string]string{"Authorization": bearer, "Host": "localhost:7700"}, 200, "", false},
		{"IPv6 loopback", "GET", "/v1/policies", "", map[string]string{"Authorization": bearer, "Host": "[::1]:7700"}, 200, "", false},
		{"allowed host", "GET", "/v1/policies", "", map[string]string{"Authorization": bearer, "Host": "ctl.example:7700"}, 200, "", false},
		{"text/plain body", "POST", "/v1/policies", body(), map[string]string{"Authorization": bearer, "Content-Type": "text/plain"}, 415, "content-type", false},
		{"form body", "POST", "/v1/pm/sessions", `{"name":"s","policy":"p1"}`, map[string]string{"Authorization": bearer, "Content-Type": "application/x-www-form-urlencoded"}, 415, "content-type", false},
		{"body without a type", "PUT", "/v1/policies/p1", body(), map[string]string{"Authorization": bearer}, 415, "content-type", false},
		{"oversized body", "POST", "/v1/policies", `{"name":"` + strings.Repeat("a", 2000) + `"}`, map[string]string{"Authorization": bearer, "Content-Type": "application/json"}, 413, "body", false},
		{"unknown query parameter", "GET", "/v1/policies?verbose=1", "", map[string]string{"Authorization": bearer}, 400, "verbose", false},
		{"no such route", "GET", "/v2/policies", "", map[string]string{"Authorization": bearer}, 404, "path", false},
		{"wrong method", "PATCH", "/v1/policies/p1", "", map[string]string{"Authorization": bearer}, 405, "method", false},
		{"404 names the policy", "GET", "/v1/policies/ghost", "", map[string]string{"Authorization": bearer}, 404, "name", false},
		{"404 names the session", "DELETE", "/v1/pm/sessions/ghost", "", map[string]string{"Authorization": bearer}, 404, "name", false},
		{"404 names the node", "GET", "/v1/nodes/r9/desired", "", map[string]string{"Authorization": bearer}, 404, "name", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, e := call(t, tt.method, srv.URL+tt.path, tt.body, tt.header)
			if code != tt.status {
				t.Fatalf("status %d, want %d (%v)", code, tt.status, e)
			}
			if e != nil && e.Field != tt.field {
				t.Errorf("field %q, want %q (%s)", e.Field, tt.field, e.Reason)
			}
			if got := strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer"); got != tt.wwwAuth {
				t.Errorf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
			}
		})
	}
	// Names in 404s.
	for path, want := range map[string]string{
		"/v1/policies/ghost":                 `no policy "ghost"`,
		"/v1/pm/sessions/ghost/results":      `no session "ghost"`,
		"/v1/nodes/r9/desired":               `no node "r9"`,
		"/v1/pm/sessions/missing-one/stream": `no session "missing-one"`,
	} {
		_, _, e := call(t, "GET", srv.URL+path, "", map[string]string{"Authorization": bearer})
		if e == nil || e.Reason != want {
			t.Errorf("GET %s: %v, want reason %q", path, e, want)
		}
	}
	// Nothing refused was applied.
	vs := c.Policies()
	if len(vs) != 2 {
		t.Errorf("%d policies stored, want the 2 accepted ones: %+v", len(vs), vs)
	}
}

func TestOversizedChunkedBody(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	srv := guarded(t, c, HandlerConfig{MaxBody: 512})
	// No Content-Length: the limit is found while reading.
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprintf(pw, `{"name":"x","from":"h1","to":"h2","include":[`)
		for i := 0; i < 200; i++ {
			fmt.Fprintf(pw, `"r2",`)
		}
		pw.Close()
	}()
	r, _ := http.NewRequest("POST", srv.URL+"/v1/policies", pr)
	r.Header.Set("Authorization", "Bearer "+testToken)
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb restv1.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || resp.StatusCode != 413 || eb.Error == nil || eb.Error.Field != "body" {
		t.Fatalf("chunked oversized body: %d %+v %v", resp.StatusCode, eb.Error, err)
	}
}

func TestNewHandlerNeedsAToken(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	if _, err := c.NewHandler(HandlerConfig{}); err == nil {
		t.Fatal("a handler without a token was built")
	}
}

// TestServerErrorShape: a store failure is a 500 in the one error shape.
func TestServerErrorShape(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	srv := guarded(t, c, HandlerConfig{})
	if err := c.store.Close(); err != nil {
		t.Fatal(err)
	}
	code, _, e := call(t, "POST", srv.URL+"/v1/policies", `{"name":"p","from":"h1","to":"h2"}`,
		map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"})
	if code != 500 || e == nil || !strings.Contains(e.Reason, "internal error") {
		t.Fatalf("store failure: %d %+v", code, e)
	}
}

// serveTest runs Serve on a loopback port with cfg and returns its URL
// and a function that stops it and returns Serve's error.
func serveTest(t *testing.T, h http.Handler, cfg HTTPConfig) (string, func() error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, lis, h, cfg) }()
	var once sync.Once
	var serr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case serr = <-done:
			case <-time.After(10 * time.Second):
				serr = errors.New("Serve did not return 10 s after its context ended")
			}
		})
		return serr
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + lis.Addr().String(), stop
}

// TestSlowBodiesAreCut: 500 connections sending a body slowly are closed
// by the server once the read timeout passes.
func TestSlowBodiesAreCut(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	h, _ := c.NewHandler(HandlerConfig{Token: testToken})
	url, _ := serveTest(t, h, HTTPConfig{ReadTimeout: 300 * time.Millisecond, MaxConns: 1000})
	addr := strings.TrimPrefix(url, "http://")
	const n = 500
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, cn := range conns {
			cn.Close()
		}
	})
	for i := 0; i < n; i++ {
		cn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, cn)
		fmt.Fprintf(cn, "POST /v1/policies HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", testToken)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for _, cn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The client would send the rest of its body in 4 s; the
			// server must have hung up before.
			_ = cn.SetReadDeadline(start.Add(4 * time.Second))
			_, err := io.Copy(io.Discard, cn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				mu.Lock()
				open++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if open > 0 {
		t.Fatalf("%d of %d slow connections still open after %s (read timeout 300 ms)", open, n, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("%d slow connections cut within %s", n, time.Since(start).Round(time.Millisecond))
}

// TestConnectionCap: with a cap of 4 held connections, a fifth client is
// not served until one of them goes.
func TestConnectionCap(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	h, _ := c.NewHandler(HandlerConfig{Token: testToken})
	url, _ := serveTest(t, h, HTTPConfig{MaxConns: 4, ReadHeaderTimeout: 30 * time.Second, ReadTimeout: 30 * time.Second})
	addr := strings.TrimPrefix(url, "http://")
	var held []net.Conn
	for i := 0; i < 4; i++ {
		cn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cn.Close() })
		fmt.Fprintf(cn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n") // headers never end
		held = append(held, cn)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept them
	get := func(timeout time.Duration) error {
		cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(500 * time.Millisecond); err == nil {
		t.Fatal("a fifth connection was served while 4 held the cap of 4")
	}
	held[0].Close()
	if err := get(5 * time.Second); err != nil {
		t.Fatalf("after one held connection closed: %v", err)
	}
}

// TestStreamOutlivesWriteTimeout: an event stream keeps delivering past
// the server's write and read timeouts, and ends when Serve's context
// does.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	ctx := context.Background()
	if _, err := c.AddPolicy(ctx, Policy{Name: "fwd", From: "h1", To: "h2"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartSession(ctx, Session{Name: "s", Policy: "fwd", PeriodMs: 1000}); err != nil {
		t.Fatal(err)
	}
	h, _ := c.NewHandler(HandlerConfig{Token: testToken})
	url, stop := serveTest(t, h, HTTPConfig{WriteTimeout: 400 * time.Millisecond, ReadTimeout: 400 * time.Millisecond})
	cl := restv1.NewClient(url, restv1.WithToken(testToken))
	st, err := cl.Stream(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := time.Now().Truncate(time.Second)
	for i := 0; i < 3; i++ {
		time.Sleep(500 * time.Millisecond)
		c.Measurement(&agentv1.Measurement{Session: "s", Policy: "fwd", Segments: []string{"fc00:0:3::d6"}, Delay: true,
			PeriodStartUnixMs: base.Add(time.Duration(i) * time.Second).UnixMilli(), PeriodMs: 1000, ProbesSent: 5})
		r, err := st.Next()
		if err != nil {
			t.Fatalf("event %d, %s after the stream opened (write timeout 400 ms): %v", i, time.Since(base).Round(time.Millisecond), err)
		}
		if want := base.Add(time.Duration(i) * time.Second); !r.PeriodStart.Equal(want) {
			t.Errorf("event %d: period %s, want %s", i, r.PeriodStart, want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
	if _, err := st.Next(); err == nil {
		t.Error("the stream went on after the server shut down")
	}
}

// TestStreamEndsWhenTheSessionStops: stopping a session ends its event
// streams with the end event (restv1.ErrSessionStopped for the client), so
// a watcher is not left waiting on heartbeats for ever and can tell this
// end from a restart's.
func TestStreamEndsWhenTheSessionStops(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	ctx := context.Background()
	if _, err := c.AddPolicy(ctx, Policy{Name: "fwd", From: "h1", To: "h2"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartSession(ctx, Session{Name: "s", Policy: "fwd", PeriodMs: 1000}); err != nil {
		t.Fatal(err)
	}
	srv := guarded(t, c, HandlerConfig{})
	cl := restv1.NewClient(srv.URL, restv1.WithToken(testToken))
	st, err := cl.Stream(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	next := make(chan error, 1)
	go func() {
		_, err := st.Next()
		next <- err
	}()
	if err := c.StopSession(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-next:
		if !errors.Is(err, restv1.ErrSessionStopped) {
			t.Errorf("stream after the session stopped: %v, want restv1.ErrSessionStopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream of a stopped session did not end within 5s")
	}
	if _, err := cl.Stream(ctx, "s"); !restv1.IsNotFound(err) {
		t.Errorf("stream of a stopped session: %v, want 404", err)
	}
}

// fakeAddrListener reports another address than the one it listens on.
type fakeAddrListener struct {
	net.Listener
	addr net.Addr
}

func (l fakeAddrListener) Addr() net.Addr { return l.addr }

func TestServeWarnsWithoutTLSOffLoopback(t *testing.T) {
	for _, tt := range []struct {
		addr net.Addr
		warn bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 7700}, true},
		{&net.TCPAddr{IP: net.IPv6zero, Port: 7700}, true},
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 7700}, false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 7700}, false},
	} {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		var mu sync.Mutex
		log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Serve(ctx, fakeAddrListener{lis, tt.addr}, http.NotFoundHandler(), HTTPConfig{Log: log})
		}()
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", tt.addr, err)
		}
		mu.Lock()
		got := strings.Contains(buf.String(), "without TLS")
		mu.Unlock()
		if got != tt.warn {
			t.Errorf("%s: warned %v, want %v: %s", tt.addr, got, tt.warn, buf.String())
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
