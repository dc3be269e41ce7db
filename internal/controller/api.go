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
)

//go:embed openapi.json
var openAPI []byte

// maxBody bounds request bodies: a policy is a few hundred bytes.
const maxBody = 1 << 20

// Handler is the controller's REST API.
func (c *Controller) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	mux.HandleFunc("GET /v1/topology", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, c.Topology()) })
	mux.HandleFunc("GET /v1/policies", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, c.Policies()) })
	mux.HandleFunc("POST /v1/policies", func(w http.ResponseWriter, r *http.Request) {
		p, err := DecodePolicy(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeError(w, err)
			return
		}
		v, err := c.AddPolicy(r.Context(), p, r.URL.Query().Get("replace") == "true")
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, v)
	})
	mux.HandleFunc("PUT /v1/policies/{name}", func(w http.ResponseWriter, r *http.Request) {
		p, err := DecodePolicy(http.MaxBytesReader(w, r.Body, maxBody))
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
	})
	mux.HandleFunc("GET /v1/policies/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, err := c.PolicyByName(r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("DELETE /v1/policies/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := c.DeletePolicy(r.Context(), r.PathValue("name")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/pm/sessions", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, c.Sessions()) })
	mux.HandleFunc("POST /v1/pm/sessions", func(w http.ResponseWriter, r *http.Request) {
		var s Session
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			in := jsonError(err)
			if in.Allowed != nil {
				in.Allowed = []string{"name", "policy", "period_ms", "delay", "probe_interval_ms", "return_policy"}
			}
			writeError(w, in)
			return
		}
		v, err := c.StartSession(r.Context(), s)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, v)
	})
	mux.HandleFunc("DELETE /v1/pm/sessions/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := c.StopSession(r.Context(), r.PathValue("name")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/pm/sessions/{name}/results", func(w http.ResponseWriter, r *http.Request) {
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
		rs := c.pm.Query(r.PathValue("name"), from, to)
		if rs == nil {
			rs = []LossResult{}
		}
		writeJSON(w, http.StatusOK, rs)
	})
	mux.HandleFunc("GET /v1/pm/sessions/{name}/stream", func(w http.ResponseWriter, r *http.Request) {
		flusher, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		ch, cancel := c.pm.Subscribe(r.PathValue("name"))
		defer cancel()
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		flusher.Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case res := <-ch:
				data, _ := json.Marshal(res)
				fmt.Fprintf(w, "event: loss\ndata: %s\n\n", data)
				flusher.Flush()
			}
		}
	})
	mux.Handle("GET /metrics", c.metricsHandler())
	mux.HandleFunc("GET /v1/nodes/{name}/desired", func(w http.ResponseWriter, r *http.Request) {
		st := c.Desired(r.PathValue("name"))
		if st == nil {
			writeError(w, errNotFound)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	return mux
}

// DecodePolicy reads one policy from JSON, refusing unknown fields and
// trailing data; errors are *InputError naming the field.
func DecodePolicy(r io.Reader) (Policy, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return Policy{}, jsonError(err)
	}
	if dec.More() {
		return Policy{}, bad("body", nil, "one JSON object expected, found more data after it")
	}
	return p, nil
}

func jsonError(err error) *InputError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &syn):
		return bad("body", nil, "invalid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ) && typ.Field == "":
		return bad("body", nil, "must be a JSON object, got a JSON %s", typ.Value)
	case errors.As(err, &typ):
		return bad(typ.Field, nil, "must be a %s, got a JSON %s", typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bad("body", nil, "invalid JSON: it ends in the middle of a value")
	case errors.As(err, &tooBig):
		return bad("body", nil, "larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return bad("body", nil, "empty: a policy object is expected")
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name := strings.Trim(field, `"`)
		if name == "" {
			return bad("body", policyFields(), "unknown field with an empty name")
		}
		return bad(name, policyFields(), "unknown field")
	}
	return bad("body", nil, "%v", err)
}

func policyFields() []string {
	return []string{"name", "from", "to", "headend", "endpoint", "prefixes", "mode", "metric", "include",
		"exclude_nodes", "exclude_links", "disjoint_from", "segments", "per_hop"}
}

type errorBody struct {
	Error *InputError `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	var in *InputError
	var conflict conflictError
	switch {
	case errors.As(err, &conflict):
		writeJSON(w, http.StatusConflict, errorBody{Error: conflict.InputError})
	case errors.As(err, &in):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: in})
	case errors.Is(err, errNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{Error: &InputError{Field: "name", Reason: "no such policy or node"}})
	default:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
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
