package controller

import (
	"context"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/topo"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	nw, err := topo.LoadNetwork(filepath.Join("..", "..", "examples", "triangle.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var eps []AgentEndpoint
	for _, r := range nw.Routers() {
		// Nobody listens there: the pushers keep retrying, as with agents
		// that are down.
		eps = append(eps, AgentEndpoint{Node: r.Name, Addr: "unix://" + filepath.Join(dir, r.Name+".sock")})
	}
	return Config{Network: nw, Agents: eps, StoreURL: "bolt://" + filepath.Join(dir, "c.db"),
		BusDir: filepath.Join(dir, "bus"), Listen: "127.0.0.1:0", Token: strings.Repeat("t", 32)}
}

// TestRunServesAndShutsDown runs a whole controller, checks that its REST
// API answers, and that cancelling ends Run with nil and releases the store.
func TestRunServesAndShutsDown(t *testing.T) {
	cfg := testConfig(t)
	cfg.AllowedHosts = []string{"sr6.example"}
	addr := make(chan net.Addr, 1)
	cfg.Serving = func(a net.Addr) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a.String()
	case err := <-done:
		t.Fatalf("Run ended before serving: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not serve within 20s")
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}
	// The API Run serves wants cfg's token, and a loopback or allowed Host.
	for _, tt := range []struct {
		token, host string
		want        int
	}{
		{"", "", http.StatusUnauthorized}, {"wrong-token-0123456789abcdef0123", "", http.StatusUnauthorized},
		{cfg.Token, "", http.StatusOK}, {cfg.Token, "sr6.example", http.StatusOK}, {cfg.Token, "evil.example", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/policies", nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		if tt.host != "" {
			req.Host = tt.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET /v1/policies with token %q, Host %q: %s, want %d", tt.token, tt.host, resp.Status, tt.want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
	// bbolt locks its file: opening it again proves Run closed it.
	st, err := store.OpenBolt(strings.TrimPrefix(cfg.StoreURL, "bolt://"))
	if err != nil {
		t.Fatalf("store still held after Run: %v", err)
	}
	st.Close()
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("REST API still answers after Run returned")
	}
}

// TestRunFailsCleanly: a part that cannot start is Run's error, and what
// Run had opened before it is closed again.
func TestRunFailsCleanly(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"address in use", func(c *Config) { c.Listen = busy.Addr().String() }, "address already in use"},
		{"bad store URL", func(c *Config) { c.StoreURL = "redis://x" }, "controller store"},
		{"bad bus URL", func(c *Config) { c.BusURL = "kafka://" }, "kafka://host:port"},
		{"no network", func(c *Config) { c.Network = nil }, "no network"},
		{"no token", func(c *Config) { c.Token = "" }, "bearer token is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.change(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := Run(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want an error containing %q", err, tt.want)
			}
			if path, ok := strings.CutPrefix(cfg.StoreURL, "bolt://"); ok {
				if _, err := os.Stat(path); err == nil {
					st, err := store.OpenBolt(path)
					if err != nil {
						t.Fatalf("store still held after a failed Run: %v", err)
					}
					st.Close()
				}
			}
		})
	}
}

func TestParseMarkBit(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		err  bool
	}{
		{"tc2", 1 << 22, false}, {"tc7", 1 << 27, false}, {"fl0", 1, false}, {"fl19", 1 << 19, false},
		{"tc0", 0, true}, {"tc1", 0, true}, {"tc8", 0, true}, {"fl20", 0, true}, {"tc3x", 0, true}, {"dscp1", 0, true}, {"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMarkBit(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseMarkBit(%q) = %#x, %v", tt.in, got, err)
		}
	}
}

// TestOptionsArgsRoundTrip: the arguments a lab builds from Options parse
// back, through the flags the CLI binds, into the same Options.
func TestOptionsArgsRoundTrip(t *testing.T) {
	tests := []Options{
		DefaultOptions(),
		func() Options {
			o := DefaultOptions()
			o.Lab, o.StateDir, o.Listen, o.TokenFile = "lab1", "/var/lib/x", "127.0.0.1:9", "/tmp/t"
			return o
		}(),
		{Topology: "t.yaml", Agents: []string{"r1=unix:///a", "r2=127.0.0.1:1"}, CA: "ca", Cert: "c", Key: "k",
			Insecure: true, Listen: "[::1]:7", MarkBit: "tc3", Retention: time.Hour, ClocksSynced: true,
			TLSCert: "api.pem", TLSKey: "api-key.pem", AllowedHosts: []string{"sr6.example", "192.0.2.1:7700"},
			AllowedOrigins: []string{"https://ui.example"},
			BusURL:         "kafka://k:9092/t", BusDir: "b", StoreURL: "etcd://e:2379/p"},
	}
	for i, want := range tests {
		args := want.Args()
		if args[0] != "controller" {
			t.Fatalf("args start with %q", args[0])
		}
		got := DefaultOptions()
		fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
		got.BindFlags(fs)
		fs.StringVar(&got.StateDir, "state-dir", "", "")
		if err := fs.Parse(args[1:]); err != nil {
			t.Fatalf("%d: parse %q: %v", i, args, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d: %q parsed into\n%+v\nwant\n%+v", i, args, got, want)
		}
	}
}

func TestReadOrCreateToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pki", "api.token")
	tok, err := ReadOrCreateToken(path)
	if err != nil || len(tok) != 64 {
		t.Fatalf("created token %q, %v", tok, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, %v", fi.Mode(), err)
	}
	again, err := ReadOrCreateToken(path)
	if err != nil || again != tok {
		t.Fatalf("second read %q, %v; want %q", again, err, tok)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadOrCreateToken(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable token file: %v", err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadOrCreateToken(short); err == nil {
		t.Error("a 3-character token was accepted")
	}
}

func TestNewTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.token")
	// A token file left with a looser mode is tightened.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTokenFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	tok := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(tok); err != nil || len(b) != 32 {
		t.Errorf("token %q: want 32 bytes in hex (%v)", tok, err)
	}
	first := tok
	if _, err := NewTokenFile(path); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	if strings.TrimSpace(string(data)) == first {
		t.Error("two tokens are the same")
	}
}
