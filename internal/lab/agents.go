package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/pki"
	"github.com/sr6net/sr6/internal/topo"
)

// Files of a lab's agents and controller, inside the lab folder.

// PKIDir holds the lab's CA and certificates.
func PKIDir(labDir string) string { return filepath.Join(labDir, "pki") }

// APIToken reads the bearer token of the lab's controller REST API (in
// TokenFile, mode 0600): the CLI and the UI send it to the controller.
func APIToken(labDir string) (string, error) {
	tok, err := restv1.ReadTokenFile(TokenFile(labDir))
	if err != nil {
		return "", fmt.Errorf("controller token of the lab in %s: %w", labDir, err)
	}
	return tok, nil
}

// AgentSocket is where node's agent listens.
func AgentSocket(labDir, node string) string { return filepath.Join(labDir, node, "agent.sock") }

// ControllerIdentity names the controller's client certificate.
const ControllerIdentity = "controller"

// startAgents issues the lab's certificates, starts `sr6 agent` in every
// router's namespace and waits until each answers over mutual TLS.
func (d *deployer) startAgents(ctx context.Context) error {
	ca, err := pki.NewCA("sr6 lab " + d.nw.Name)
	if err != nil {
		return err
	}
	dir := PKIDir(d.dir)
	if _, err := ca.Issue(dir, ControllerIdentity, false); err != nil {
		return err
	}
	routers := d.nw.Routers()
	for _, r := range routers {
		if _, err := ca.Issue(dir, r.Name, true); err != nil {
			return err
		}
	}
	return d.eachNode(ctx, routers, func(r *topo.Node) error {
		nodeDir := filepath.Join(d.dir, r.Name)
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			return err
		}
		f := pki.In(dir, r.Name)
		args := []string{"agent", "--node", r.Name, "--listen", "unix://" + AgentSocket(d.dir, r.Name),
			"--state-file", filepath.Join(nodeDir, "agent.state"), "--ca", f.CA, "--cert", f.Cert, "--key", f.Key}
		if _, err := startDetached(d.ns(r), d.opts.Binary, args, filepath.Join(nodeDir, "agent.log")); err != nil {
			return fmt.Errorf("start agent: %w", err)
		}
		return waitAgent(ctx, d.dir, r.Name, 10*time.Second)
	})
}

// startDetached starts a long-running process in namespace ns (the host's
// when ns is ""), in its own session, with output to logFile; sr6 does not
// wait for it: destroy ends it.
func startDetached(ns, binary string, args []string, logFile string) (int, error) {
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if ns == "" {
		err = cmd.Start()
	} else {
		err = nsutil.Start(ns, cmd)
	}
	if err != nil {
		return 0, err
	}
	// Reap it if it exits while this process still runs; otherwise init
	// inherits it.
	go func() { _ = cmd.Wait() }()
	return cmd.Process.Pid, nil
}

// AgentClient dials node's agent of the lab in labDir over mutual TLS.
func AgentClient(labDir, node string) (agentv1.AgentClient, func(), error) {
	tlsCfg, err := pki.ClientConfig(pki.In(PKIDir(labDir), ControllerIdentity), node)
	if err != nil {
		return nil, nil, err
	}
	conn, err := grpc.NewClient("unix://"+AgentSocket(labDir, node), grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return nil, nil, err
	}
	return agentv1.NewAgentClient(conn), func() { conn.Close() }, nil
}

func waitAgent(ctx context.Context, labDir, node string, timeout time.Duration) error {
	client, closeFn, err := AgentClient(labDir, node)
	if err != nil {
		return err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		_, err := client.GetState(cctx, &agentv1.GetStateRequest{})
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent of %s not ready after %s: %v (log: %s)", node, timeout, err,
				filepath.Join(labDir, node, "agent.log"))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startController starts `sr6 controller` for the lab on a free loopback
// port and waits for its health check.
func (d *deployer) startController(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	args := []string{"controller", "--lab", d.nw.Name, "--state-dir", d.opts.Store.Dir, "--listen", "127.0.0.1:" + strconv.Itoa(port)}
	pid, err := startDetached("", d.opts.Binary, args, filepath.Join(d.dir, "controller.log"))
	if err != nil {
		return fmt.Errorf("start controller: %w", err)
	}
	d.controllerURL, d.controllerPID = url, pid
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("controller not healthy at %s after 10s (log: %s)", url, filepath.Join(d.dir, "controller.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// controllerPIDs finds the controller processes of lab name: they run in
// the host namespace, so destroy cannot find them by namespace. The pid in
// the state counts if that process is still an sr6 controller; any other
// process started with this lab's --lab and --state-dir counts too.
func controllerPIDs(name, stateDir string, st *State) []int {
	var pids []int
	if st != nil && st.ControllerPID > 0 {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(st.ControllerPID), "cmdline"))
		if err == nil && strings.Contains(string(raw), "controller\x00--lab\x00"+name+"\x00") {
			pids = append(pids, st.ControllerPID)
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || slices.Contains(pids, pid) {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) > 4 && args[1] == "controller" && hasArgPair(args, "--lab", name) && hasArgPair(args, "--state-dir", stateDir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func hasArgPair(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}
