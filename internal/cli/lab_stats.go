package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/lab"
)

func (a *app) labStatsCmd() *cobra.Command {
	var flagLab string
	var watch, asJSON bool
	cmd := &cobra.Command{
		Use:   "stats [LAB] [NODE[:IF]]",
		Short: "Per-interface rx/tx bit/s, packet/s and drops, sampled every second",
		Long: "Sample the kernel's counters of the lab's interfaces (all, one node's, or one) over one second and\n" +
			"print rx/tx bit/s and packet/s, totals and drops; --watch prints a new sample every second until\n" +
			"Ctrl-C; --json prints one JSON object per sample (JSON lines). Without LAB (and --lab), the only\n" +
			"deployed lab.",
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, target, err := a.statsArgs(flagLab, args)
			if err != nil {
				return err
			}
			so := lab.StatsOptions{Target: target}
			if !watch {
				so.Count = 1
			}
			enc := json.NewEncoder(a.out)
			clear := watch && !asJSON && isTerminalWriter(a.out)
			return lab.WatchStats(cmd.Context(), name, so, a.labOptions(), func(s restv1.StatsSample) error {
				if asJSON {
					return enc.Encode(s)
				}
				if clear {
					fmt.Fprint(a.out, "\033[H\033[2J")
				} else if watch {
					fmt.Fprintln(a.out)
				}
				return printStats(a.out, s)
			})
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "print a new sample every second until Ctrl-C")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per sample (JSON lines)")
	cmd.Flags().StringVar(&flagLab, "lab", "", "the lab (default: the only deployed lab)")
	return cmd
}

// statsArgs reads `[LAB] [NODE[:IF]]`: two arguments are both; one is the
// target when it holds ":" or --lab names the lab, else a lab when the
// state directory has one of that name, else a node of the only lab.
func (a *app) statsArgs(flagLab string, args []string) (name, target string, err error) {
	switch {
	case len(args) == 2:
		name, err = a.resolveLab(flagLab, args[0])
		return name, args[1], err
	case len(args) == 0:
		name, err = a.resolveLab(flagLab, "")
		return name, "", err
	case strings.Contains(args[0], ":") || flagLab != "":
		name, err = a.resolveLab(flagLab, "")
		return name, args[0], err
	}
	if _, err := a.labOptions().Store.Load(args[0]); err == nil {
		return args[0], "", nil
	}
	name, err = a.resolveLab("", "")
	return name, args[0], err
}

func printStats(w io.Writer, s restv1.StatsSample) error {
	fmt.Fprintf(w, "lab %s at %s (over %.2fs)\n", s.Lab, s.Time.Local().Format("15:04:05"), s.IntervalS)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NODE\tIF\tPEER\tSTATE\tRX bit/s\tTX bit/s\tRX pkt/s\tTX pkt/s\tRX pkts\tTX pkts\tRX drop\tTX drop\t")
	for _, i := range s.Interfaces {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t\n", i.Node, i.Interface, i.Peer, i.State,
			formatBits(i.RxBps), formatBits(i.TxBps), i.RxPps, i.TxPps, i.RxPackets, i.TxPackets, i.RxDropped, i.TxDropped)
	}
	return tw.Flush()
}

// formatBits prints a bit rate with an SI prefix, three significant
// digits: 0, 812, 12.3k, 9.87M, 1.00G.
func formatBits(bps float64) string {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if bps >= u.div {
			v := bps / u.div
			switch {
			case v >= 100:
				return fmt.Sprintf("%.0f%s", v, u.suffix)
			case v >= 10:
				return fmt.Sprintf("%.1f%s", v, u.suffix)
			}
			return fmt.Sprintf("%.2f%s", v, u.suffix)
		}
	}
	return fmt.Sprintf("%.0f", bps)
}

func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}
