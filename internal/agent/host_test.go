package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunHostRefusesBadConfigs: configurations that cannot all run are
// refused, naming the culprit, before any agent starts.
func TestRunHostRefusesBadConfigs(t *testing.T) {
	ok := func(node, listen string) Config { return Config{Node: node, Listen: listen, Insecure: true} }
	tests := []struct {
		name   string
		agents []Config
		want   string
	}{
		{"none", nil, "no agents to run"},
		{"no node name", []Config{ok("", "unix:///tmp/x.sock")}, "without a node name"},
		{"no TLS", []Config{{Node: "r1", Listen: "unix:///tmp/x.sock"}}, "agent r1: no TLS configuration"},
		{"a node twice", []Config{ok("r1", "unix:///tmp/a.sock"), ok("r1", "unix:///tmp/b.sock")}, "node r1 given twice"},
		{"one endpoint twice", []Config{ok("r1", "unix:///tmp/a.sock"), ok("r2", "unix:///tmp/a.sock")},
			"nodes r1 and r2 both listen on unix:///tmp/a.sock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := RunHost(context.Background(), tc.agents, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RunHost: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestServeHostReloads: a new set starts the agents of new nodes, stops
// those of nodes it lacks, and leaves the others serving on the same
// listener; a bad set changes nothing.
func TestServeHostReloads(t *testing.T) {
	dir := t.TempDir()
	cfg := func(node string) Config {
		return Config{Node: node, Listen: "unix://" + filepath.Join(dir, node+".sock"), Insecure: true}
	}
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan []Config)
	done := make(chan error, 1)
	go func() { done <- ServeHost(ctx, []Config{cfg("r1"), cfg("r2")}, reload, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeHost: %v", err)
		}
	})
	// dial answers whether node's agent accepts a connection now.
	dial := func(node string) bool {
		c, err := net.Dial("unix", filepath.Join(dir, node+".sock"))
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("r1 and r2", func() bool { return dial("r1") && dial("r2") })
	// r1's listener is kept: a connection made before the reload stays up.
	kept, err := net.Dial("unix", filepath.Join(dir, "r1.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	reload <- []Config{cfg("r1"), cfg("r3")}
	waitFor("r3 up and r2 gone", func() bool { return dial("r3") && !dial("r2") })
	if !dial("r1") {
		t.Fatal("r1 stopped serving through a reload that kept it")
	}
	// The server's HTTP/2 preface may be there to read; then nothing more
	// comes, and the connection is not closed.
	kept.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 4096)
	for {
		if _, err = kept.Read(buf); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("r1's connection from before the reload: %v, want it open (read timeout)", err)
	}
	// A bad set (a node twice) is refused whole.
	reload <- []Config{cfg("r1"), cfg("r1")}
	reload <- []Config{cfg("r1"), cfg("r3")} // taken once the bad one was refused
	if !dial("r1") || !dial("r3") {
		t.Fatal("a refused set changed the running agents")
	}
}
