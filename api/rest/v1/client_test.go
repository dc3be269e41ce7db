package restv1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"p1", true}, {"a.b_c-d", true}, {strings.Repeat("x", 64), true},
		{"", false}, {strings.Repeat("x", 65), false}, {"a/b", false}, {"a b", false}, {"..%2f", false}, {"é", false},
		// A URL path cleans these away: the policy could never be read or deleted.
		{".", false}, {"..", false}, {"-x", false}, {"_x", false}, {"1.x", true},
	} {
		if err := CheckName(tt.name); (err == nil) != tt.ok {
			t.Errorf("CheckName(%q) = %v", tt.name, err)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Mode
		err  bool
	}{{"", ModeEncap, false}, {"encap", ModeEncap, false}, {"inline", ModeInline, false}, {"Inline", "", true}, {"warp", "", true}} {
		got, err := ParseMode(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseMode(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// TestClientAnswers checks the client against canned answers: the token
// it sends, the errors it makes of error bodies and of foreign ones.
func TestClientAnswers(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantErr  string
		notFound bool
	}{
		{"ok", 200, `[{"name":"p","status":{"state":"up","updated":"2026-01-01T00:00:00Z"}}]`, "", false},
		{"error shape", 400, `{"error":{"field":"to","reason":"\"x\" is not a host","allowed":["h1","h2"]}}`, `to: "x" is not a host (allowed: [h1 h2])`, false},
		{"not found", 404, `{"error":{"field":"name","reason":"no policy \"p\""}}`, `name: no policy "p"`, true},
		{"server fault", 500, `{"error":{"field":"","reason":"internal error: disk full"}}`, `internal error: disk full`, false},
		{"a proxy's page", 502, `<html>bad gateway</html>`, `controller answered 502 Bad Gateway: <html>bad gateway</html>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header.Get("Authorization"); got != "Bearer k" {
					t.Errorf("Authorization %q", got)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			vs, err := NewClient(srv.URL, WithToken("k")).Policies(context.Background())
			if tt.wantErr == "" {
				if err != nil || len(vs) != 1 || vs[0].Status.State != "up" {
					t.Fatalf("%v %+v", err, vs)
				}
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != tt.status || err.Error() != tt.wantErr || IsNotFound(err) != tt.notFound {
				t.Fatalf("error %v (%T), want %q", err, err, tt.wantErr)
			}
		})
	}
}

func TestResultStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/pm/sessions/s/stream" {
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"field":"name","reason":"no session \"x\""}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": subscribed\n\n")
		fmt.Fprint(w, "event: result\ndata: {\"session\":\"s\",\"kind\":\"loss\",\ndata: \"lost\":3}\n\n")
		fmt.Fprint(w, ": heartbeat\n\n")
		fmt.Fprint(w, "event: other\ndata: {}\n\n")
		fmt.Fprint(w, "data: {\"session\":\"s\",\"kind\":\"delay\",\"period_start\":\"2026-01-01T00:00:01Z\"}\n\n")
	}))
	defer srv.Close()
	c := NewClient(srv.URL)
	st, err := c.Stream(context.Background(), "s")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r1, err := st.Next()
	if err != nil || r1.Kind != KindLoss || r1.Lost != 3 {
		t.Fatalf("first event: %+v %v", r1, err)
	}
	r2, err := st.Next()
	if err != nil || r2.Kind != KindDelay || !r2.PeriodStart.Equal(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)) {
		t.Fatalf("second event (after a heartbeat and an unknown event): %+v %v", r2, err)
	}
	if _, err := st.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of stream: %v", err)
	}
	if _, err := c.Stream(context.Background(), "x"); !IsNotFound(err) {
		t.Fatalf("stream of a missing session: %v", err)
	}
}

// TestWatchReconnects: a stream that breaks (a controller killed) or
// ends without the end event (a controller shut down to restart) is opened
// again and the gap filled from the stored results; each result is given
// once; only the end event means the session stopped.
func TestWatchReconnects(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	result := func(i int) string {
		return fmt.Sprintf(`{"session":"s","kind":"loss","segments":["x"],"period_start":%q,"tx_packets":%d}`,
			t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i)
	}
	var mu sync.Mutex
	streams := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/v1/pm/sessions/s/results":
			// What is stored so far: period 0, and period 1 once the
			// first stream broke (it closed while the client was away).
			rs := []string{result(0)}
			if streams > 0 {
				rs = append(rs, result(1))
			}
			fmt.Fprintf(w, "[%s]", strings.Join(rs, ","))
		case "/v1/pm/sessions/s/stream":
			streams++
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			switch streams {
			case 1:
				// Period 0 again (seen in the history), then the server
				// dies mid-stream.
				fmt.Fprintf(w, "event: result\ndata: %s\n\n", result(0))
				w.(http.Flusher).Flush()
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
			case 2:
				// Period 1, then a clean end without the end event: a
				// controller shutting down.
				fmt.Fprintf(w, "event: result\ndata: %s\n\n", result(1))
			default:
				fmt.Fprintf(w, "event: result\ndata: %s\n\nevent: end\ndata: {}\n\n", result(2))
			}
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	var got []uint64
	caughtUp := 0
	err := NewClient(srv.URL).Watch(context.Background(), "s", t0, func(r LossResult) error {
		got = append(got, r.TxPackets)
		return nil
	}, func() { caughtUp++ })
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	mu.Lock()
	n := streams
	mu.Unlock()
	if !slices.Equal(got, []uint64{0, 1, 2}) || caughtUp != 1 || n != 3 {
		t.Errorf("results %v, caught up %d times, %d streams; want [0 1 2], once, 3", got, caughtUp, n)
	}
	// A session the controller does not know is not retried.
	if err := NewClient(srv.URL).Watch(context.Background(), "nosuch", t0, func(LossResult) error { return nil }, nil); !IsNotFound(err) {
		t.Errorf("Watch of a missing session: %v, want 404", err)
	}
}
