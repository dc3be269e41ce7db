package testutil

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
)

// requireEtcd returns the etcd binary's path. Without one it skips on a
// developer machine and fails under testutil.Strict, the rule
// RequirePrivileged applies (these tests need no root, so they
// cannot use it).
func requireEtcd(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("etcd")
	if err == nil {
		return path
	}
	if Strict() {
		t.Fatalf("etcd test needs the etcd binary (apt-get install etcd-server) (CI=true or SR6_E2E=1: not skipping)")
	}
	t.Skipf("etcd test needs the etcd binary: apt-get install etcd-server, or set SR6_E2E=1 to make this a failure")
	return ""
}

// StartEtcd starts a one-member etcd cluster on free loopback ports with its
// data in a temporary directory, waits until it reports healthy, and kills
// it when the test ends, pass or fail. It returns the client host:port.
func StartEtcd(t testing.TB) string {
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

func tryStartEtcd(t testing.TB, bin string) (string, error) {
	dir := t.TempDir()
	client := "127.0.0.1:" + FreePort(t)
	peerURL := "http://127.0.0.1:" + FreePort(t)
	clientURL := "http://" + client
	name := UniqueName("sr6test")
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

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) string {
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
