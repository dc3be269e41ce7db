package controller

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the document describing the REST API (served at /openapi.json).
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// route is one entry of the REST API: everything the guards and the
// OpenAPI test need to know about it besides its handler.
type route struct {
	method, path string
	open         bool     // served without a token: liveness and the API document
	body         bool     // takes a JSON body (Content-Type and size are checked)
	query        []string // the query parameters it reads; others are refused
	errors       []int    // the error answers of its handler (the guards add theirs)
	h            http.Handler
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// guardErrors are the error answers the guards give on rt, besides its own.
func (rt route) guardErrors() []int {
	codes := []int{http.StatusForbidden, http.StatusInternalServerError}
	if !rt.open {
		codes = append(codes, http.StatusUnauthorized)
	}
	if len(rt.query) > 0 {
		codes = append(codes, http.StatusBadRequest)
	}
	if rt.body {
		codes = append(codes, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	return codes
}

// apiRoutes is the REST API, one table: the router, the guards and the test
// that compares it with openapi.json all read it.
func (c *Controller) apiRoutes() []route {
	const (
		s400 = http.StatusBadRequest
		s404 = http.StatusNotFound
		s409 = http.StatusConflict
	)
	fn := func(f http.HandlerFunc) http.Handler { return f }
	return []route{
		{method: "GET", path: "/healthz", open: true, h: fn(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})},
		{method: "GET", path: "/openapi.json", open: true, h: fn(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(openAPI)
		})},
		{method: "GET", path: "/metrics", h: c.metricsHandler()},
		{method: "GET", path: "/v1/topology", h: fn(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, c.Topology())
		})},
		{method: "GET", path: "/v1/policies", h: fn(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, c.Policies())
		})},
		{method: "POST", path: "/v1/policies", body: true, query: []string{"replace"}, errors: []int{s400, s409}, h: fn(c.postPolicy)},
		{method: "GET", path: "/v1/policies/{name}", errors: []int{s404}, h: fn(func(w http.ResponseWriter, r *http.Request) {
			v, err := c.PolicyByName(r.PathValue("name"))
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})},
		{method: "PUT", path: "/v1/policies/{name}", body: true, errors: []int{s400, s409}, h: fn(c.putPolicy)},
		{method: "DELETE", path: "/v1/policies/{name}", errors: []int{s404}, h: fn(func(w http.ResponseWriter, r *http.Request) {
			if err := c.DeletePolicy(r.Context(), r.PathValue("name")); err != nil {
				writeError(w, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})},
		{method: "GET", path: "/v1/nodes", h: fn(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, c.Nodes())
		})},
		{method: "GET", path: "/v1/nodes/{name}/desired", errors: []int{s404}, h: fn(func(w http.ResponseWriter, r *http.Request) {
			st := c.Desired(r.PathValue("name"))
			if st == nil {
				writeError(w, notFound("node", r.PathValue("name")))
				return
			}
			writeJSON(w, http.StatusOK, nodeStateView(st))
		})},
		{method: "GET", path: "/v1/pm/sessions", h: fn(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, c.Sessions())
		})},
		{method: "POST", path: "/v1/pm/sessions", body: true, errors: []int{s400, s409}, h: fn(c.postSession)},
		{method: "DELETE", path: "/v1/pm/sessions/{name}", errors: []int{s404}, h: fn(func(w http.ResponseWriter, r *http.Request) {
			if err := c.StopSession(r.Context(), r.PathValue("name")); err != nil {
				writeError(w, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})},
		{method: "GET", path: "/v1/pm/sessions/{name}/results", query: []string{"from", "to"}, errors: []int{s400, s404}, h: fn(c.getResults)},
		{method: "GET", path: "/v1/pm/sessions/{name}/stream", errors: []int{s404}, h: fn(c.streamResults)},
	}
}

func (c *Controller) postPolicy(w http.ResponseWriter, r *http.Request) {
	replace := false
	if v := r.URL.Query().Get("replace"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, bad("replace", []string{"true", "false"}, "%q is not a boolean", v))
			return
		}
		replace = b
	}
	p, err := DecodePolicy(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	v, err := c.AddPolicy(r.Context(), p, replace)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (c *Controller) putPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := DecodePolicy(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	if p.Name == "" {
		p.Name = r.PathValue("name")
	}
	if p.Name != r.PathValue("name") {
		writeError(w, bad("name", nil, "%q differs from the name in the path, %q", p.Name, r.PathValue("name")))
		return
	}
	v, err := c.AddPolicy(r.Context(), p, true)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (c *Controller) postSession(w http.ResponseWriter, r *http.Request) {
	var s Session
	if err := decodeJSON(r.Body, &s, restv1.SessionFields, "a session"); err != nil {
		writeError(w, err)
		return
	}
	v, err := c.StartSession(r.Context(), s)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// hasSession tells whether session name exists.
func (c *Controller) hasSession(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.sessions[name]
	return ok
}

func (c *Controller) getResults(w http.ResponseWriter, r *http.Request) {
	from, err := timeParam(r, "from")
	if err != nil {
		writeError(w, err)
		return
	}
	to, err := timeParam(r, "to")
	if err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	if !c.hasSession(name) {
		writeError(w, notFound("session", name))
		return
	}
	rs := c.pm.Query(name, from, to)
	if rs == nil {
		rs = []LossResult{}
	}
	writeJSON(w, http.StatusOK, rs)
}

// Stream timing: a heartbeat keeps idle streams alive through proxies and
// finds clients that went away; each write may take streamWriteWindow.
const (
	streamHeartbeat   = 15 * time.Second
	streamWriteWindow = 30 * time.Second
)

// streamResults sends a session's results as server-sent events
// ("event: result", the LossResult as data) until the client leaves or
// the session is stopped.
func (c *Controller) streamResults(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	// Subscribed first, then checked: a session stopped in between is
	// either not found here or closes ch, never a stream that waits on.
	ch, cancel := c.pm.Subscribe(name)
	defer cancel()
	if !c.hasSession(name) {
		writeError(w, notFound("session", name))
		return
	}
	rc := http.NewResponseController(w)
	// The server's read deadline would end the stream (the idle
	// connection's background read fails and cancels the request) and its
	// write deadline would cut it: instead each event gets its own write
	// deadline, and the stream lasts as long as its client reads.
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		c.log.Debug("stream: clear read deadline", "err", err)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) error {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteWindow)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return err
		}
		return rc.Flush()
	}
	if send(": subscribed to %s\n\n", name) != nil {
		return
	}
	tick := time.NewTicker(streamHeartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			err = send(": heartbeat\n\n")
		case res, ok := <-ch:
			if !ok {
				// The session was stopped: said so, so that the client
				// can tell this end from a restart's.
				_ = send("event: %s\ndata: {}\n\n", restv1.EventEnd)
				return
			}
			data, _ := json.Marshal(res)
			err = send("event: result\ndata: %s\n\n", data)
		}
		if err != nil {
			return
		}
	}
}

// DecodePolicy reads one policy from JSON, refusing unknown fields and
// trailing data; errors are *InputError naming the field.
func DecodePolicy(r io.Reader) (Policy, error) {
	var p Policy
	if err := decodeJSON(r, &p, restv1.PolicyFields, "a policy"); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// decodeJSON reads exactly one JSON object into v; fields are the allowed
// ones, named by an unknown-field error.
func decodeJSON(r io.Reader, v any, fields []string, what string) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, fields, what)
	}
	if dec.More() {
		return bad("body", nil, "one JSON object expected, found more data after it")
	}
	return nil
}

// TooLargeError is a request body over the limit (413). It unwraps to its
// *InputError.
type TooLargeError struct{ In *InputError }

func (e *TooLargeError) Error() string { return e.In.Error() }
func (e *TooLargeError) Unwrap() error { return e.In }

func jsonError(err error, fields []string, what string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &TooLargeError{In: bad("body", nil, "larger than %d bytes", tooBig.Limit)}
	case errors.As(err, &syn):
		return bad("body", nil, "invalid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ) && typ.Field == "":
		return bad("body", nil, "must be a JSON object, got a JSON %s", typ.Value)
	case errors.As(err, &typ):
		return bad(typ.Field, nil, "must be a %s, got a JSON %s", typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bad("body", nil, "invalid JSON: it ends in the middle of a value")
	case errors.Is(err, io.EOF):
		return bad("body", nil, "empty: %s object is expected", what)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name := strings.Trim(field, `"`)
		if name == "" {
			return bad("body", fields, "unknown field with an empty name")
		}
		return bad(name, fields, "unknown field")
	}
	return bad("body", nil, "%v", err)
}

// statusOf maps an error of the controller to its HTTP status and body.
func statusOf(err error) (int, *restv1.Error) {
	var tooBig *TooLargeError
	var conf *ConflictError
	var in *InputError
	var nf *NotFoundError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, tooBig.In
	case errors.As(err, &conf):
		return http.StatusConflict, conf.In
	case errors.As(err, &in):
		return http.StatusBadRequest, in
	case errors.As(err, &nf):
		return http.StatusNotFound, &restv1.Error{Field: "name", Reason: nf.Error()}
	}
	return http.StatusInternalServerError, &restv1.Error{Reason: "internal error: " + err.Error()}
}

func writeError(w http.ResponseWriter, err error) {
	code, body := statusOf(err)
	writeJSON(w, code, restv1.ErrorBody{Error: body})
}

// timeParam reads an RFC 3339 time or Unix milliseconds; absent is zero.
func timeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, bad(name, nil, "%q is neither an RFC 3339 time nor Unix milliseconds", v)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(w, err)
	}
}
