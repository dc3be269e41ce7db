package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/dataplane"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

var pathParamRE = regexp.MustCompile(`\{([^}]+)\}`)

// TestOpenAPICoversEveryRoute walks the route table and fails when a
// route, a path or query parameter, an error answer or the need for a
// token is not in openapi.json as the router has it, and the reverse.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	c := newTestController(t, "triangle.yaml")
	inTable := map[string]bool{}
	for _, rt := range c.apiRoutes() {
		inTable[rt.pattern()] = true
		item := doc.Paths.Value(rt.path)
		if item == nil {
			t.Errorf("%s: path not in openapi.json", rt.pattern())
			continue
		}
		op := item.GetOperation(rt.method)
		if op == nil {
			t.Errorf("%s: method not in openapi.json", rt.pattern())
			continue
		}
		params := map[string][]string{}
		for _, p := range slices.Concat(item.Parameters, op.Parameters) {
			params[p.Value.In] = append(params[p.Value.In], p.Value.Name)
		}
		var wantPath []string
		for _, m := range pathParamRE.FindAllStringSubmatch(rt.path, -1) {
			wantPath = append(wantPath, m[1])
		}
		if !sameSet(params["path"], wantPath) {
			t.Errorf("%s: path parameters %v in openapi.json, %v in the route", rt.pattern(), params["path"], wantPath)
		}
		if !sameSet(params["query"], rt.query) {
			t.Errorf("%s: query parameters %v in openapi.json, %v in the route", rt.pattern(), params["query"], rt.query)
		}
		var docErrors []int
		successes := 0
		for code := range op.Responses.Map() {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s: response %q is not a status code", rt.pattern(), code)
				continue
			}
			if n >= 400 {
				docErrors = append(docErrors, n)
				if !strings.HasSuffix(op.Responses.Value(code).Ref, "#/components/responses/"+errorResponseName(n)) {
					t.Errorf("%s: response %d is not the shared error body", rt.pattern(), n)
				}
			} else {
				successes++
			}
		}
		if successes != 1 {
			t.Errorf("%s: %d success answers in openapi.json, want 1", rt.pattern(), successes)
		}
		if want := slices.Concat(rt.errors, rt.guardErrors()); !sameSet(intStrings(docErrors), intStrings(want)) {
			slices.Sort(docErrors)
			t.Errorf("%s: error answers %v in openapi.json, the handler and guards give %v", rt.pattern(), docErrors, uniqueSorted(want))
		}
		open := op.Security != nil && len(*op.Security) == 0
		if open != rt.open {
			t.Errorf("%s: open (no token) %v in openapi.json, %v in the route", rt.pattern(), open, rt.open)
		}
		if (op.RequestBody != nil) != rt.body {
			t.Errorf("%s: request body %v in openapi.json, %v in the route", rt.pattern(), op.RequestBody != nil, rt.body)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !inTable[method+" "+path] {
				t.Errorf("openapi.json has %s %s, which the router does not serve", method, path)
			}
		}
	}
}

func errorResponseName(code int) string {
	return map[int]string{400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
		413: "TooLarge", 415: "UnsupportedMediaType", 500: "InternalError"}[code]
}

func intStrings(ns []int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = strconv.Itoa(n)
	}
	return out
}

func uniqueSorted(ns []int) []int {
	out := slices.Clone(ns)
	slices.Sort(out)
	return slices.Compact(out)
}

func sameSet(a, b []string) bool {
	set := func(xs []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	return maps.Equal(set(a), set(b))
}

// TestResponsesMatchTheDocument sends real requests, good and bad, to
// every route of a controller on the triangle and validates each answer
// (status, content type, body) against openapi.json with kin-openapi. It
// fails too when a route or a documented status was never exercised.
func TestResponsesMatchTheDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestController(t, "triangle.yaml")
	h, err := c.NewHandler(HandlerConfig{Token: "s3cret", MaxBody: 4096})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	const auth = "Bearer s3cret"
	type req struct {
		method, path, body string
		header             map[string]string
		status             int
	}
	jsonCT := map[string]string{"Content-Type": "application/json"}
	tests := []req{
		{"GET", "/healthz", "", nil, 200},
		{"GET", "/openapi.json", "", nil, 200},
		{"GET", "/metrics", "", nil, 200},
		{"GET", "/metrics", "", map[string]string{"Authorization": ""}, 401},
		{"GET", "/v1/topology", "", nil, 200},
		{"GET", "/v1/topology", "", map[string]string{"Origin": "http://evil.example"}, 403},
		{"POST", "/v1/policies", `{"name":"fwd","from":"h1","to":"h2","include":["r2"]}`, jsonCT, 201},
		{"POST", "/v1/policies", `{"name":"back","from":"h2","to":"h1"}`, jsonCT, 201},
		{"POST", "/v1/policies?replace=true", `{"name":"back","from":"h2","to":"h1","metric":"hops"}`, jsonCT, 201},
		{"POST", "/v1/policies?replace=maybe", `{"name":"x","from":"h1","to":"h2"}`, jsonCT, 400},
		{"POST", "/v1/policies", `{"name":"fwd","from":"h1","to":"h2"}`, jsonCT, 409},
		{"POST", "/v1/policies", `{"name":"x","from":"h1","to":"h2","metric":"fastest"}`, jsonCT, 400},
		{"POST", "/v1/policies", `{"name":"x","from":"h1","to":"h2"}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"POST", "/v1/policies", `{"name":"` + strings.Repeat("x", 5000) + `"}`, jsonCT, 413},
		{"GET", "/v1/policies", "", nil, 200},
		{"GET", "/v1/policies/fwd", "", nil, 200},
		{"GET", "/v1/policies/ghost", "", nil, 404},
		{"PUT", "/v1/policies/fwd", `{"from":"h1","to":"h2","include":["r2"],"per_hop":true}`, jsonCT, 200},
		{"PUT", "/v1/policies/fwd", `{"name":"other","from":"h1","to":"h2"}`, jsonCT, 400},
		{"PUT", "/v1/policies/other", `{"from":"h1","to":"h2"}`, jsonCT, 409},
		{"PUT", "/v1/policies/fwd", `{}`, map[string]string{"Content-Type": ""}, 415},
		{"PUT", "/v1/policies/fwd", strings.Repeat(" ", 5000) + `{}`, jsonCT, 413},
		{"GET", "/v1/nodes", "", nil, 200},
		{"GET", "/v1/nodes/r1/desired", "", nil, 200},
		{"GET", "/v1/nodes/h1/desired", "", nil, 404},
		{"POST", "/v1/pm/sessions", `{"name":"s1","policy":"fwd","period_ms":1000}`, jsonCT, 201},
		// Measured now: the headend's and the tail's states have a pm part.
		{"GET", "/v1/nodes/r1/desired", "", nil, 200},
		{"GET", "/v1/nodes/r3/desired", "", nil, 200},
		{"POST", "/v1/pm/sessions", `{"name":"s2","policy":"fwd"}`, jsonCT, 409},
		{"POST", "/v1/pm/sessions", `{"name":"s2","policy":"ghost"}`, jsonCT, 400},
		{"POST", "/v1/pm/sessions", `{"name":"s2"}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"POST", "/v1/pm/sessions", `{"name":"` + strings.Repeat("s", 5000) + `"}`, jsonCT, 413},
		{"GET", "/v1/pm/sessions", "", nil, 200},
		{"GET", "/v1/pm/sessions/s1/results", "", nil, 200},
		{"GET", "/v1/pm/sessions/s1/results?from=2020-01-01T00:00:00Z&to=" + strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10), "", nil, 200},
		{"GET", "/v1/pm/sessions/s1/results?from=yesterday", "", nil, 400},
		{"GET", "/v1/pm/sessions/ghost/results", "", nil, 404},
		{"GET", "/v1/pm/sessions/ghost/stream", "", nil, 404},
		{"DELETE", "/v1/pm/sessions/ghost", "", nil, 404},
		{"DELETE", "/v1/policies/ghost", "", nil, 404},
		{"DELETE", "/v1/policies/back", "", nil, 204},
	}
	// A result for s1, so that the results answers carry one.
	now := time.Now().Truncate(time.Second)
	feed := func() {
		c.Measurement(&agentv1.Measurement{Session: "s1", Policy: "fwd", Segments: []string{"fc00:0:2::1", "fc00:0:3::d6"},
			PeriodStartUnixMs: now.UnixMilli(), PeriodMs: 1000, Delay: true, ProbesSent: 10, ProbesLost: 1,
			RttMinNs: 1e5, RttAvgNs: 2e5, RttMaxNs: 3e5, JitterNs: 1e4})
	}
	seen := map[string]map[int]bool{} // route -> statuses exercised
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	check := func(tt req) {
		t.Helper()
		r, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", auth)
		for k, v := range tt.header {
			if v == "" {
				r.Header.Del(k)
			} else {
				r.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		name := tt.method + " " + tt.path
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d: %s", name, resp.StatusCode, tt.status, body)
			return
		}
		route, params, err := router.FindRoute(r)
		if err != nil {
			t.Errorf("%s: not in openapi.json: %v", name, err)
			return
		}
		if seen[route.Path+" "+route.Method] == nil {
			seen[route.Path+" "+route.Method] = map[int]bool{}
		}
		seen[route.Path+" "+route.Method][resp.StatusCode] = true
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts},
			Status:                 resp.StatusCode, Header: resp.Header, Options: opts}
		in.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Errorf("%s: answer %d does not match openapi.json: %v\n%s", name, resp.StatusCode, err, body)
		}
		if resp.StatusCode >= 400 && !bytes.Contains(body, []byte(`"reason"`)) {
			t.Errorf("%s: error answer without a reason: %s", name, body)
		}
	}
	for _, tt := range tests {
		if tt.path == "/v1/pm/sessions/s1/results" {
			feed()
		}
		check(tt)
	}

	// The stream: one event, validated against the LossResult schema.
	client := restv1.NewClient(srv.URL, restv1.WithToken("s3cret"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := client.Stream(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	seen["/v1/pm/sessions/{name}/stream GET"][200] = true
	now = now.Add(time.Second)
	feed()
	res, err := st.Next()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Session != "s1" || res.Kind != restv1.KindDelay || res.PeriodStart.UnixMilli() != now.UnixMilli() {
		t.Errorf("streamed %+v", res)
	}
	if err := validateValue(doc, "LossResult", res); err != nil {
		t.Errorf("streamed result does not match the LossResult schema: %v", err)
	}
	check(req{"DELETE", "/v1/pm/sessions/s1", "", nil, 204})
	check(req{"DELETE", "/v1/policies/fwd", "", nil, 204})

	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				n, _ := strconv.Atoi(code)
				if n == 500 {
					continue // no way to make the handlers fail here; the shape is tested in TestServerErrorShape
				}
				if n == 401 || n == 403 {
					continue // the guards answer them alike on every route: tested once each above and in http_test.go
				}
				if !seen[path+" "+method][n] {
					t.Errorf("%s %s: documented answer %d never exercised", method, path, n)
				}
			}
		}
	}
}

// validateValue checks v, as JSON, against the named schema of doc.
func validateValue(doc *openapi3.T, schema string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return err
	}
	s := doc.Components.Schemas[schema]
	if s == nil {
		return fmt.Errorf("no schema %s", schema)
	}
	return s.Value.VisitJSON(generic)
}

// TestDocumentMatchesTheGoTypes: the document's schemas and the public Go
// types say the same thing: one name rule, the same fields, the same
// enumerations.
func TestDocumentMatchesTheGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	schema := func(name string) *openapi3.Schema { return doc.Components.Schemas[name].Value }
	for _, s := range []string{"Policy", "PolicyView", "Session", "SessionView"} {
		if got := schema(s).Properties["name"].Value.Pattern; got != restv1.NamePattern {
			t.Errorf("%s.name pattern %q, restv1.NamePattern %q", s, got, restv1.NamePattern)
		}
	}
	keys := func(s *openapi3.Schema) []string { return slices.Collect(maps.Keys(s.Properties)) }
	if got := keys(schema("Policy")); !sameSet(got, restv1.PolicyFields) {
		t.Errorf("Policy properties %v, restv1.PolicyFields %v", got, restv1.PolicyFields)
	}
	if got := keys(schema("Session")); !sameSet(got, restv1.SessionFields) {
		t.Errorf("Session properties %v, restv1.SessionFields %v", got, restv1.SessionFields)
	}
	enum := func(s *openapi3.Schema, field string) []string {
		var out []string
		for _, v := range s.Properties[field].Value.Enum {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
	if got := enum(schema("Policy"), "mode"); !sameSet(got, restv1.Modes) {
		t.Errorf("Policy.mode enum %v, restv1.Modes %v", got, restv1.Modes)
	}
	if got := enum(schema("Status"), "state"); !sameSet(got, restv1.States) {
		t.Errorf("Status.state enum %v, restv1.States %v", got, restv1.States)
	}
	if got := enum(schema("Policy"), "metric"); !sameSet(got, restv1.Metrics) {
		t.Errorf("Policy.metric enum %v, restv1.Metrics %v", got, restv1.Metrics)
	}
	if got := enum(schema("SteeringRoute"), "mode"); !sameSet(got, restv1.Modes) {
		t.Errorf("SteeringRoute.mode enum %v, restv1.Modes %v", got, restv1.Modes)
	}
	if got := enum(schema("LocalSID"), "action"); !sameSet(got, restv1.Actions) {
		t.Errorf("LocalSID.action enum %v, restv1.Actions %v", got, restv1.Actions)
	}
	if got := enum(schema("PMList"), "role"); !sameSet(got, restv1.Roles) {
		t.Errorf("PMList.role enum %v, restv1.Roles %v", got, restv1.Roles)
	}
	// The actions the API names are the data plane's: its error for an
	// unknown one lists those it has.
	_, err := dataplane.LocalSIDRoute(netip.MustParseAddr("fc00::1"), dataplane.Behavior{Action: "End.Nope"}, 1)
	_, known, _ := strings.Cut(fmt.Sprint(err), "allowed values: ")
	if got := strings.Split(known, ", "); !sameSet(got, restv1.Actions) {
		t.Errorf("the data plane's actions %v, restv1.Actions %v", got, restv1.Actions)
	}
	// Every field a Go value encodes is in the schema (additionalProperties
	// is false), checked on a fully populated policy.
	full := restv1.Policy{Name: "n", From: "a", To: "b", Headend: "c", Endpoint: "d", Prefixes: []string{"e"}, Mode: restv1.ModeInline,
		Metric: "hops", Include: []string{"f"}, ExcludeNodes: []string{"g"}, ExcludeLinks: []string{"h"}, DisjointFrom: "i",
		Segments: []string{"j"}, PerHop: true}
	if err := validateValue(doc, "Policy", full); err != nil {
		t.Errorf("a full policy does not match the Policy schema: %v", err)
	}
	a := func(s string) *netip.Addr { v := netip.MustParseAddr(s); return &v }
	node := restv1.NodeState{
		Steering: []restv1.SteeringRoute{{Prefix: netip.MustParsePrefix("fd00::/64"), Mode: restv1.ModeInline,
			Segments: []netip.Addr{*a("fc00::1")}, Policy: "p"}},
		SIDs: []restv1.LocalSID{{SID: *a("fc00::1"), Action: "End.B6.Encaps", NH4: a("0.0.0.0"), NH6: a("fd00::2"), Table: 254,
			OIF: "eth1", Segments: []netip.Addr{*a("fc00::2")}}},
		Underlay:   []restv1.UnderlayRoute{{Prefix: netip.MustParsePrefix("fd00:1::/64"), Via: a("fd00::2"), Dev: "eth1", Unreachable: true}},
		Generation: 7,
		PM: &restv1.NodePM{PeriodMs: 1000, MarkMask: 1 << 19, ProbeAddr: a("fc00::5"), ClocksSynced: true,
			Lists:  []restv1.PMList{{Session: "s", Policy: "p", Segments: []netip.Addr{*a("fc00::1")}, Role: restv1.RoleTail}},
			Delays: []restv1.PMDelay{{Session: "s", Policy: "p", Target: *a("fc00::6"), IntervalMs: 100}}},
	}
	if err := validateValue(doc, "NodeState", node); err != nil {
		t.Errorf("a full node state does not match the NodeState schema: %v", err)
	}
}
