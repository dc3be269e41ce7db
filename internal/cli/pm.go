package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
)

func (a *app) pmCmd() *cobra.Command {
	var cf controllerFlags
	cmd := &cobra.Command{Use: "pm", Short: "Loss measurement sessions (alternate marking) of a controller"}
	cf.register(cmd)
	var s restv1.Session
	var period time.Duration
	start := &cobra.Command{
		Use:   "start NAME --policy POLICY [--period 1s]",
		Short: "Measure a policy's loss, period by period",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			s.Name, s.PeriodMs = args[0], uint32(period.Milliseconds())
			v, err := c.StartSession(cmd.Context(), s)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "session %s measures policy %s every %s\n", v.Name, v.Policy, time.Duration(v.PeriodMs)*time.Millisecond)
			return nil
		},
	}
	start.Flags().StringVar(&s.Policy, "policy", "", "policy to measure")
	start.Flags().DurationVar(&period, "period", time.Second, "color period (1s or more)")
	start.Flags().BoolVar(&s.Delay, "delay", false, "also measure delay with STAMP probes along the policy")
	start.Flags().StringVar(&s.ReturnPolicy, "return-policy", "", "policy carrying the STAMP replies back (default: the underlay)")
	var probe time.Duration
	start.Flags().DurationVar(&probe, "probe-interval", 100*time.Millisecond, "time between STAMP probes (with --delay)")
	start.PreRun = func(*cobra.Command, []string) { s.ProbeIntervalMs = uint32(probe.Milliseconds()) }
	_ = start.MarkFlagRequired("policy")
	stop := a.removeEachCmd(&cf, "stop NAME...", "Stop sessions", "stop", "stopped", (*restv1.Client).StopSession)
	list := &cobra.Command{
		Use:   "list",
		Short: "Sessions with their last period's loss",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			vs, err := c.Sessions(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SESSION\tPOLICY\tPERIOD\tLAST PERIOD\tTX\tLOST")
			for _, v := range vs {
				last, tx, lost := "-", "-", "-"
				if n := len(v.Results); n > 0 {
					r := v.Results[n-1]
					last, tx, lost = r.PeriodStart.Local().Format("15:04:05"), fmt.Sprint(r.TxPackets), fmt.Sprint(r.Lost)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Policy, time.Duration(v.PeriodMs)*time.Millisecond, last, tx, lost)
			}
			return tw.Flush()
		},
	}
	var watch bool
	var since time.Duration
	show := &cobra.Command{
		Use:   "show NAME [--since 1m] [--watch]",
		Short: "A session's loss per period (and per segment list)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PERIOD START\tKIND\tSEGMENTS / TARGET\tTX\tRX\tLOST\tLOSS\tRTT MIN/AVG/MAX\tJITTER")
			if !watch {
				rs, err := c.Results(ctx, args[0], time.Now().Add(-since), time.Time{})
				if err != nil {
					return err
				}
				for _, r := range rs {
					printResult(tw, r)
				}
				return tw.Flush()
			}
			// Watch replays the history, then streams, reconnecting when
			// the controller restarts; it ends when the session is stopped.
			err = c.Watch(ctx, args[0], time.Now().Add(-since), func(r restv1.LossResult) error {
				printResult(tw, r)
				return tw.Flush()
			}, func() { _ = tw.Flush() })
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("watch %s: %w", args[0], err)
			}
			return tw.Flush()
		},
	}
	show.Flags().BoolVarP(&watch, "watch", "w", false, "keep printing new periods")
	show.Flags().DurationVar(&since, "since", 5*time.Minute, "how far back to start")
	cmd.AddCommand(start, stop, list, show)
	return cmd
}

// printResult prints one result as a row.
func printResult(tw *tabwriter.Writer, r restv1.LossResult) {
	rtt, jitter := "", ""
	if r.Kind == restv1.KindDelay {
		rtt = fmt.Sprintf("%.3f/%.3f/%.3f ms", r.RTTMinMs, r.RTTAvgMs, r.RTTMaxMs)
		if r.ForwardAvgMs > 0 {
			rtt += fmt.Sprintf(" (one-way avg %.3f there, %.3f back)", r.ForwardAvgMs, r.BackwardAvgMs)
		}
		jitter = fmt.Sprintf("%.3f ms", r.JitterMs)
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.3f%%\t%s\t%s\n", r.PeriodStart.Local().Format("15:04:05.000"),
		r.Kind, strings.Join(r.Segments, ","), r.TxPackets, r.RxPackets, r.Lost, 100*r.LossRatio, rtt, jitter)
}
