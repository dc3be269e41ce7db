package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/testutil"
)

// TestEtcd runs everything that needs a real etcd server against one
// server, started for the test from Debian's etcd-server package.
func TestEtcd(t *testing.T) {
	ep := startEtcd(t)
	ctx := t.Context()

	t.Run("Conformance", func(t *testing.T) {
		testStore(t, openTestEtcd(t, ep, "/"+testutil.UniqueName("conf")))
	})

	t.Run("TwoControllers", func(t *testing.T) {
		prefix := "/" + testutil.UniqueName("shared")
		a := openTestEtcd(t, ep, prefix)
		b := openTestEtcd(t, ep, prefix)
		other := openTestEtcd(t, ep, prefix+"x") // a neighbouring namespace
		wa, err := a.Watch(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		wb, err := b.Watch(ctx, "policy/")
		if err != nil {
			t.Fatal(err)
		}

		// A writes, B reads it and sees the event.
		revA, err := a.Put(ctx, "policy/p1", []byte("via r2"))
		if err != nil {
			t.Fatal(err)
		}
		if kv, err := b.Get(ctx, "policy/p1"); err != nil || string(kv.Value) != "via r2" || kv.Revision != revA {
			t.Errorf("B Get = %+v, %v; want A's write at revision %d", kv, err, revA)
		}
		expectEvent(t, "B", wb, Put, "policy/p1", "via r2")
		expectEvent(t, "A", wa, Put, "policy/p1", "via r2")

		// B updates on top of A's value; A sees it.
		revB, err := b.Update(ctx, "policy/p1", func(old []byte, _ bool) ([]byte, error) {
			return append(old, ",r3"...), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if revB <= revA {
			t.Errorf("B's revision %d is not above A's %d: revisions are not shared", revB, revA)
		}
		if kv, err := a.Get(ctx, "policy/p1"); err != nil || string(kv.Value) != "via r2,r3" {
			t.Errorf("A Get = %+v, %v; want B's update", kv, err)
		}
		expectEvent(t, "A", wa, Put, "policy/p1", "via r2,r3")
		expectEvent(t, "B", wb, Put, "policy/p1", "via r2,r3")

		// Create is atomic across controllers.
		if _, err := a.Create(ctx, "leader", []byte("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create(ctx, "leader", []byte("b")); !errors.Is(err, ErrExists) {
			t.Errorf("B Create of A's key: err %v, want ErrExists", err)
		}
		expectEvent(t, "A", wa, Put, "leader", "a")

		// A neighbouring prefix shares nothing, though its keys sort
		// right after ours on the server.
		if _, err := other.Get(ctx, "policy/p1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("other namespace Get: err %v, want ErrNotFound", err)
		}
		if _, err := other.Put(ctx, "policy/p1", []byte("elsewhere")); err != nil {
			t.Fatal(err)
		}
		if kvs, err := a.List(ctx, ""); err != nil || len(kvs) != 2 {
			t.Errorf("A List all = %+v, %v; want policy/p1 and leader only", kvs, err)
		}

		// B deletes; A sees the delete, and nothing from the other
		// namespace came in between.
		if err := b.Delete(ctx, "policy/p1"); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, "A", wa, Delete, "policy/p1", "")
		expectEvent(t, "B", wb, Delete, "policy/p1", "")
	})

	t.Run("OpenURL", func(t *testing.T) {
		prefix := testutil.UniqueName("url")
		s, err := Open(ctx, "etcd://"+ep+"/"+prefix)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		e, ok := s.(*Etcd)
		if !ok || e.Prefix() != "/"+prefix+"/" {
			t.Fatalf("Open = %T, want an *Etcd on /%s/", s, prefix)
		}
		if _, err := s.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		// The same state through OpenEtcd with the prefix as written.
		if kv, err := openTestEtcd(t, ep, "/"+prefix).Get(ctx, "k"); err != nil || string(kv.Value) != "v" {
			t.Errorf("Get through OpenEtcd = %+v, %v", kv, err)
		}
	})

	t.Run("Close", func(t *testing.T) {
		s, err := OpenEtcd(ctx, []string{ep}, "/"+testutil.UniqueName("close"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := s.Watch(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if ev, ok := recv(t, ch); ok {
			t.Errorf("watch after Close sent %v, want closed", ev)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		_, perr := s.Put(ctx, "k", []byte("v"))
		_, gerr := s.Get(ctx, "k")
		_, werr := s.Watch(ctx, "")
		for _, err := range []error{perr, gerr, werr} {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("call after Close: err %v, want %v", err, ErrClosed)
			}
		}
	})
}

// TestOpenEtcdUnreachable: a wrong address fails at open, within the dial
// timeout, saying where it tried. No server is needed.
func TestOpenEtcdUnreachable(t *testing.T) {
	ep := "127.0.0.1:" + freePort(t) // nothing listens there
	start := time.Now()
	s, err := OpenEtcd(t.Context(), []string{ep}, "/sr6", 500*time.Millisecond)
	if err == nil {
		_ = s.Close()
		t.Fatalf("OpenEtcd on %s with no server succeeded", ep)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("OpenEtcd took %v with a 500ms dial timeout", took)
	}
	if !strings.Contains(err.Error(), ep) || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("error %q should name %s and say it got no answer", err, ep)
	}
	if _, err := OpenEtcd(t.Context(), []string{ep}, "", time.Second); err == nil || !strings.Contains(err.Error(), "no key prefix") {
		t.Errorf("OpenEtcd with no prefix: err %v, want a no key prefix error", err)
	}
	if _, err := OpenEtcd(t.Context(), nil, "/sr6/", time.Second); err == nil || !strings.Contains(err.Error(), "no endpoints") {
		t.Errorf("OpenEtcd with no endpoints: err %v, want a no endpoints error", err)
	}
}

func openTestEtcd(t *testing.T, ep, prefix string) *Etcd {
	t.Helper()
	s, err := OpenEtcd(t.Context(), []string{ep}, prefix, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// expectEvent checks the next event on who's watch; a delete carries no
// value, so pass "" for one.
func expectEvent(t *testing.T, who string, ch <-chan Event, typ EventType, key, value string) {
	t.Helper()
	ev, ok := recv(t, ch)
	if !ok {
		t.Fatalf("%s: watch closed, want %v %s", who, typ, key)
	}
	if ev.Type != typ || ev.KV.Key != key || string(ev.KV.Value) != value {
		t.Errorf("%s: event %v %s=%q, want %v %s=%q", who, ev.Type, ev.KV.Key, ev.KV.Value, typ, key, value)
	}
}

// requireEtcd returns the etcd binary's path. Without one it skips on a
// developer machine and fails under testutil.Strict, the rule
// testutil.RequirePrivileged applies (these tests need no root, so they
// cannot use it).
func requireEtcd(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("etcd")
	if err == nil {
		return path
	}
	if testutil.Strict() {
		t.Fatalf("etcd test needs the etcd binary (apt-get install etcd-server) (CI=true or SR6_E2E=1: not skipping)")
	}
	t.Skipf("etcd test needs the etcd binary: apt-get install etcd-server, or set SR6_E2E=1 to make this a failure")
	return ""
}

// startEtcd starts a one-member etcd cluster on free loopback ports with its
// data in a temporary directory, waits until it reports healthy, and kills
// it when the test ends, pass or fail. It returns the client host:port.
func startEtcd(t *testing.T) string {
	t.Helper()
	bin := requireEtcd(t)
	// A free port found by listening on :0 can be taken by someone else
	// before etcd binds it; a fresh pair of ports usually gets past that.
	var errs []error
	for range 3 {
		ep, err := tryStartEtcd(t, bin)
		if err == nil {
			return ep
		}
		errs = append(errs, err)
	}
	t.Fatalf("start etcd: %v", errors.Join(errs...))
	return ""
}

func tryStartEtcd(t *testing.T, bin string) (string, error) {
	dir := t.TempDir()
	client := "127.0.0.1:" + freePort(t)
	peerURL := "http://127.0.0.1:" + freePort(t)
	clientURL := "http://" + client
	name := testutil.UniqueName("sr6test")
	logPath := filepath.Join(dir, "etcd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin,
		"--name", name,
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", name+"="+peerURL,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", name,
		"--logger", "zap",
		"--log-outputs", "stderr",
	)
	// etcd reads its flags from ETCD_* variables too: keep the caller's out.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test binary dies (a timeout panic skips cleanups), so does etcd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return "", fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = logf.Close()
	})

	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return "", fmt.Errorf("etcd exited before it was healthy (%v); log:\n%s", waitErr, tail(logPath))
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := hc.Get(clientURL + "/health")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"health":"true"`)) {
			return client, nil
		}
	}
	return "", fmt.Errorf("etcd not healthy at %s within 30s; log:\n%s", clientURL, tail(logPath))
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// tail returns the end of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
