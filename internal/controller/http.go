package controller

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/netutil"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
)

// DefaultMaxBody bounds request bodies: a policy is a few hundred bytes.
const DefaultMaxBody = 1 << 20

// HandlerConfig configures the guards in front of the REST API.
type HandlerConfig struct {
	// Token is the bearer token that every /v1/ route and /metrics require
	// (/healthz and /openapi.json stay open). Required.
	Token string
	// AllowedHosts are Host header values (a name or address, with or
	// without a port) accepted besides loopback names and addresses: the
	// names the controller is reached by when it listens elsewhere. Any
	// other Host is refused (403), which defeats DNS rebinding.
	AllowedHosts []string
	// AllowedOrigins are Origin values (scheme://host[:port]) accepted
	// besides the request's own host: a browser page elsewhere is refused
	// (403) even with the token.
	AllowedOrigins []string
	// MaxBody bounds request bodies (DefaultMaxBody when 0); larger ones
	// get 413.
	MaxBody int64
}

// NewHandler is the REST API behind its guards: Host and Origin checks,
// the bearer token, query parameters, JSON-only bodies within the size
// limit; every refusal is an error body of the one shape.
func (c *Controller) NewHandler(cfg HandlerConfig) (http.Handler, error) {
	if cfg.Token == "" {
		return nil, errors.New("controller REST handler: a bearer token is required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	// Digests, not the token, are compared: equal lengths whatever the
	// token, so the comparison's time says nothing of it.
	sum := sha256.Sum256([]byte(cfg.Token))
	g := &guard{cfg: cfg, tokenSum: sum[:], mux: http.NewServeMux(), byPattern: map[string]route{}, log: c.log}
	for _, rt := range c.apiRoutes() {
		g.mux.Handle(rt.pattern(), rt.h)
		g.byPattern[rt.pattern()] = rt
		if !slices.Contains(g.methods, rt.method) {
			g.methods = append(g.methods, rt.method)
		}
	}
	return g, nil
}

type guard struct {
	cfg       HandlerConfig
	tokenSum  []byte
	mux       *http.ServeMux
	byPattern map[string]route
	methods   []string
	log       *slog.Logger
}

func refuse(w http.ResponseWriter, code int, field string, allowed []string, format string, args ...any) {
	writeJSON(w, code, restv1.ErrorBody{Error: &restv1.Error{Field: field, Reason: fmt.Sprintf(format, args...), Allowed: allowed}})
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			g.log.Error("REST handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
			refuse(w, http.StatusInternalServerError, "", nil, "internal error")
		}
	}()
	_, pattern := g.mux.Handler(r)
	rt, ok := g.byPattern[pattern]
	if !ok {
		g.noRoute(w, r)
		return
	}
	if !g.hostAllowed(r.Host) {
		refuse(w, http.StatusForbidden, "host", nil, "Host %q is not a loopback name or address nor an allowed host", r.Host)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !g.originAllowed(o, r.Host) {
		refuse(w, http.StatusForbidden, "origin", nil, "requests from origin %q are refused", o)
		return
	}
	if !rt.open && !g.authorized(w, r) {
		return
	}
	for k := range r.URL.Query() {
		if !slices.Contains(rt.query, k) {
			refuse(w, http.StatusBadRequest, k, rt.query, "unknown query parameter")
			return
		}
	}
	if rt.body {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			refuse(w, http.StatusUnsupportedMediaType, "content-type", []string{"application/json"},
				"body of type %q: only JSON is accepted", r.Header.Get("Content-Type"))
			return
		}
		if r.ContentLength > g.cfg.MaxBody {
			refuse(w, http.StatusRequestEntityTooLarge, "body", nil, "larger than %d bytes", g.cfg.MaxBody)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBody)
	}
	g.mux.ServeHTTP(w, r)
}

// noRoute answers a request no route matches: 405 if the path exists for
// other methods, else 404, in the one error shape.
func (g *guard) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range g.methods {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := g.mux.Handler(r2); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		refuse(w, http.StatusMethodNotAllowed, "method", allow, "%s is not allowed on %s", r.Method, r.URL.Path)
		return
	}
	refuse(w, http.StatusNotFound, "path", nil, "no route %s", r.URL.Path)
}

// authorized checks the bearer token. Both sides are compared as SHA-256
// digests, so the comparison takes the same time whatever the token's
// length or content.
func (g *guard) authorized(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sr6"`)
		refuse(w, http.StatusUnauthorized, "authorization", nil, "missing bearer token (Authorization: Bearer TOKEN)")
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if subtle.ConstantTimeCompare(sum[:], g.tokenSum) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sr6", error="invalid_token"`)
		refuse(w, http.StatusUnauthorized, "authorization", nil, "wrong bearer token")
		return false
	}
	return true
}

// hostAllowed accepts loopback names and addresses and the configured
// hosts: a page whose name was rebound to 127.0.0.1 still sends its own
// name.
func (g *guard) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, a := range g.cfg.AllowedHosts {
		if strings.EqualFold(a, hostport) || strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

// originAllowed accepts a browser request only from the controller's own
// origin (its Host) or a configured one.
func (g *guard) originAllowed(origin, host string) bool {
	for _, a := range g.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(a, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, host)
}

// HTTPConfig configures the controller's HTTP server (see Serve). Zero
// values take the defaults.
type HTTPConfig struct {
	ReadHeaderTimeout time.Duration // default 5 s
	// ReadTimeout bounds reading a whole request, body included (default
	// 30 s): a client sending its body slowly is cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing an answer (default 60 s); event streams
	// extend it per event.
	WriteTimeout time.Duration
	IdleTimeout  time.Duration // keep-alive connections, default 120 s
	// MaxConns caps concurrent connections (default 256); more wait in
	// the kernel's accept queue.
	MaxConns int
	// TLS, if set, serves HTTPS with it.
	TLS *tls.Config
	// ShutdownGrace is how long Serve lets requests finish once ctx ends
	// (default 5 s).
	ShutdownGrace time.Duration
	Log           *slog.Logger
}

func (cfg *HTTPConfig) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&cfg.ReadHeaderTimeout, 5*time.Second)
	set(&cfg.ReadTimeout, 30*time.Second)
	set(&cfg.WriteTimeout, 60*time.Second)
	set(&cfg.IdleTimeout, 120*time.Second)
	set(&cfg.ShutdownGrace, 5*time.Second)
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 256
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
}

// Serve serves h on lis until ctx ends, then shuts down (requests in
// flight get ShutdownGrace, event streams end at once). It returns nil
// after a shutdown by ctx, else the server's error. Listening on a
// non-loopback address without TLS is allowed but logged as a warning:
// the token would cross the network in clear.
func Serve(ctx context.Context, lis net.Listener, h http.Handler, cfg HTTPConfig) error {
	cfg.defaults()
	if cfg.TLS == nil && !isLoopback(lis.Addr()) {
		cfg.Log.Warn("REST API listens on a non-loopback address without TLS: the bearer token and all traffic travel in clear",
			"addr", lis.Addr().String())
	}
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		TLSConfig:         cfg.TLS,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	// Event streams never finish on their own: cancelling the requests'
	// base context when shutdown begins ends them.
	srv.RegisterOnShutdown(cancelBase)
	lis = netutil.LimitListener(lis, cfg.MaxConns)
	if cfg.TLS != nil {
		lis = tls.NewListener(lis, cfg.TLS)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("REST server on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("REST server shutdown: %w", err)
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
