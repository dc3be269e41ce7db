package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/lab"
)

func (a *app) labCaptureCmd() *cobra.Command {
	var file, flagLab string
	var count int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "capture [LAB] NODE:IF [-w FILE] [FILTER...]",
		Short: "Capture an interface's packets as pcap, to a file or to stdout (| tcpdump -r -, | wireshark -k -i -)",
		Long: "Capture the packets NODE:IF sends and receives, in classic pcap format, to FILE or to stdout,\n" +
			"each packet as soon as it is seen, until Ctrl-C (or SIGTERM, or -c packets): the output is then\n" +
			"complete. FILTER is a pcap-filter expression, e.g. 'icmp6 or ip6[6] == 43'. Runs tcpdump inside\n" +
			"the node's namespace. Without LAB (and --lab), the only deployed lab.\n\n" +
			"  sr6 lab capture tri r2:eth1 | tcpdump -nr -\n" +
			"  sr6 lab capture tri r2:eth1 | wireshark -k -i -\n" +
			"  sr6 lab capture tri r2:eth1 -w r2.pcap icmp6",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (rerr error) {
			name, endpoint, filter, err := a.labArgs(flagLab, args)
			if err != nil {
				return err
			}
			var w io.Writer = a.out
			info := a.errOut // the summary's place: never the pcap stream
			if file != "" && file != "-" {
				_, statErr := os.Stat(file)
				f, err := os.Create(file)
				if err != nil {
					return fmt.Errorf("capture: %w", err)
				}
				defer f.Close()
				// A capture that never started leaves no empty file
				// behind (one that was there before stays, emptied).
				defer func() {
					if rerr != nil && errors.Is(statErr, os.ErrNotExist) {
						os.Remove(file)
					}
				}()
				w, info = f, a.out
			} else if f, ok := a.out.(*os.File); ok && isTerminal(f) {
				return usageError{errors.New("stdout is a terminal, not a place for pcap: give -w FILE, or pipe into `tcpdump -nr -` or `wireshark -k -i -`")}
			}
			co := lab.CaptureOptions{Filter: strings.Join(filter, " "), Count: count, Ready: func() {
				fmt.Fprintf(a.errOut, "capturing on %s of lab %s (Ctrl-C stops)\n", endpoint, name)
			}}
			sum, err := lab.Capture(cmd.Context(), name, endpoint, co, w, a.labOptions())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(info, sum)
			}
			printCaptureSummary(info, sum)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "write", "w", "", "write the pcap to FILE (default, or -: stdout)")
	cmd.Flags().IntVarP(&count, "count", "c", 0, "stop after this many packets (default: at Ctrl-C)")
	cmd.Flags().StringVar(&flagLab, "lab", "", "the lab (default: the only deployed lab)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON (on stderr when the pcap goes to stdout)")
	return cmd
}

func printCaptureSummary(w io.Writer, s *restv1.CaptureSummary) {
	if s.ReaderClosed {
		fmt.Fprintf(w, "capture on %s:%s of lab %s ended: its reader closed the stream\n", s.Node, s.Interface, s.Lab)
		return
	}
	fmt.Fprintf(w, "captured %d packets on %s:%s of lab %s", s.Packets, s.Node, s.Interface, s.Lab)
	if s.DroppedByKernel > 0 {
		fmt.Fprintf(w, " (%d dropped by the kernel: the reader was too slow)", s.DroppedByKernel)
	}
	fmt.Fprintln(w)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
