package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/nsutil"
)

// Capture runs tcpdump rather than an AF_PACKET socket and a Go pcap
// writer (gopacket/pcapgo): users give tcpdump/pcap-filter expressions
// ("icmp6 and ip6[40] == 128"), and the only compiler of those is
// libpcap's, which Go reaches through cgo only (gopacket/pcap). tcpdump
// brings that compiler, writes classic pcap to a pipe one packet at a time
// (-U), flushes a complete file when it is interrupted, and reports the
// packets the kernel dropped; it is already needed by every lab (the demo
// group of scripts/setup.sh installs it).

// CaptureOptions tune a capture.
type CaptureOptions struct {
	// Filter is a pcap-filter(7) expression; "" captures everything.
	Filter string
	// Count stops the capture after that many packets; 0 runs until ctx
	// is done.
	Count int
	// Ready, when set, is called once the capture is open on the
	// interface: packets sent from then on are in it.
	Ready func()
}

// ErrNoTcpdump says that capture needs tcpdump and it is not installed.
var ErrNoTcpdump = errors.New("capture needs tcpdump: apt-get install tcpdump (or scripts/setup.sh demo)")

// tcpdump's last words: how many packets it wrote and how many the kernel
// dropped.
var (
	capturedLine = regexp.MustCompile(`(?m)^(\d+) packets? captured`)
	droppedLine  = regexp.MustCompile(`(?m)^(\d+) packets? dropped by kernel`)
)

// Capture writes the packets crossing endpoint ("node:interface") of lab
// name, both directions, to w as a classic pcap stream (microsecond
// timestamps, Ethernet link type) until ctx is done or co.Count packets
// were written; each packet is written whole as soon as it is seen, so a
// pipe into `tcpdump -r -` or `wireshark -k -i -` shows it at once. When
// ctx ends, the capture is stopped cleanly: the stream is complete (a
// file given as w is synced) and the summary says how many packets it
// holds.
func Capture(ctx context.Context, name, endpoint string, co CaptureOptions, w io.Writer, opts Options) (*restv1.CaptureSummary, error) {
	opts.defaults()
	if err := checkRoot(); err != nil {
		return nil, err
	}
	e, err := resolveEndpoint(opts, name, endpoint)
	if err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, ErrNoTcpdump
	}
	// -n: no name lookups; -s 0: whole packets; --immediate-mode: no
	// batching in the kernel buffer; -U: write each packet at once; -Z
	// root: keep writing to the inherited stdout after tcpdump would drop
	// privileges (Debian builds it to become the tcpdump user).
	args := []string{"-n", "-i", e.ifc.Name, "-s", "0", "--immediate-mode", "-U", "-Z", "root", "-w", "-"}
	if co.Count > 0 {
		args = append(args, "-c", strconv.Itoa(co.Count))
	}
	if co.Filter != "" {
		args = append(args, co.Filter)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = w
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	// Its own process group: a Ctrl-C at the terminal reaches sr6 alone,
	// which stops tcpdump once, and waits for it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := nsutil.Start(e.ns(), cmd); err != nil {
		return nil, fmt.Errorf("capture on %s: start tcpdump: %w", e, err)
	}
	var errText bytes.Buffer
	var mu sync.Mutex
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stderr)
		ready := false
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			errText.WriteString(line + "\n")
			mu.Unlock()
			if !ready && strings.Contains(line, "listening on ") {
				ready = true
				if co.Ready != nil {
					co.Ready()
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-readDone // Wait closes the pipe: read it to the end first
		exited <- cmd.Wait()
	}()
	var werr error
	select {
	case werr = <-exited:
	case <-ctx.Done():
		// SIGINT is tcpdump's clean stop: it writes what it holds,
		// prints its counts and exits 0.
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case werr = <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			werr = <-exited
		}
	}
	mu.Lock()
	text := errText.String()
	mu.Unlock()
	sum := &restv1.CaptureSummary{Lab: name, Node: e.ifc.Node.Name, Interface: e.ifc.Name, Filter: co.Filter}
	var exitErr *exec.ExitError
	if errors.As(werr, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGPIPE {
			// The reader went away (`| tcpdump -c 10 -r -` has its 10
			// packets): the end of the capture, not its failure.
			sum.ReaderClosed = true
			return sum, nil
		}
	}
	if werr != nil {
		return nil, fmt.Errorf("capture on %s: tcpdump: %w: %s", e, werr, strings.TrimSpace(lastLines(text, 5)))
	}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if err := f.Sync(); err != nil {
				return nil, fmt.Errorf("capture on %s: sync %s: %w", e, f.Name(), err)
			}
		}
	}
	if m := capturedLine.FindStringSubmatch(text); m != nil {
		sum.Packets, _ = strconv.ParseUint(m[1], 10, 64)
	}
	if m := droppedLine.FindStringSubmatch(text); m != nil {
		sum.DroppedByKernel, _ = strconv.ParseUint(m[1], 10, 64)
	}
	return sum, nil
}
