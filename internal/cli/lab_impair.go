package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/topo"
)

// impairFlags are the flags of `lab impair` as typed.
type impairFlags struct {
	loss, rate, delay, jitter string
	clear                     bool
}

// impairment turns the flags into the impairment to set; the parsers are
// the topology file's, so both accept and refuse the same values.
func (f impairFlags) impairment() (restv1.Impairment, error) {
	var imp restv1.Impairment
	given := f.loss != "" || f.rate != "" || f.delay != "" || f.jitter != ""
	switch {
	case f.clear && given:
		return imp, errors.New("--clear takes no --loss, --rate, --delay or --jitter")
	case !f.clear && !given:
		return imp, errors.New("give --loss, --rate, --delay and/or --jitter, or --clear")
	}
	var err error
	if f.loss != "" {
		if imp.LossPercent, err = topo.ParseLoss(f.loss); err != nil {
			return imp, fmt.Errorf("--loss: %w", err)
		}
	}
	if f.rate != "" {
		if imp.RateBps, err = topo.ParseRate(f.rate); err != nil {
			return imp, fmt.Errorf("--rate: %w", err)
		}
	}
	if f.delay != "" {
		if imp.DelayUs, err = topo.ParseLatency(f.delay); err != nil {
			return imp, fmt.Errorf("--delay: %w", err)
		}
	}
	if f.jitter != "" {
		if imp.JitterUs, err = topo.ParseLatency(f.jitter); err != nil {
			return imp, fmt.Errorf("--jitter: %w", err)
		}
	}
	return imp, lab.CheckImpairment(imp)
}

func (a *app) labImpairCmd() *cobra.Command {
	var f impairFlags
	var flagLab string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "impair [LAB] NODE:IF [--loss 5%] [--rate 10mbit] [--delay 10ms [--jitter 1ms]] | --clear",
		Short: "Set or clear the loss, rate and delay of the packets an interface sends",
		Long: "Set the impairment of the egress of NODE:IF (the packets it sends; impair the peer too for both\n" +
			"directions), replacing what was there: the flags left out are unset. --clear removes every\n" +
			"impairment of that egress, the topology's too. Delay and jitter need the kernel's netem.\n" +
			"Shown by `sr6 lab inspect`. Without LAB (and --lab), the only deployed lab.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			imp, err := f.impairment()
			if err != nil {
				return usageError{err}
			}
			name, endpoint, rest, err := a.labArgs(flagLab, args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return usageError{fmt.Errorf("unexpected argument %q after %s", rest[0], endpoint)}
			}
			res, err := lab.Impair(cmd.Context(), name, endpoint, imp, a.labOptions())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.out, res)
			}
			fmt.Fprintf(a.out, "lab %s: egress of %s:%s: %s\n", name, res.Node, res.Interface, lab.FormatImpairment(*res))
			return nil
		},
	}
	cmd.Flags().StringVar(&f.loss, "loss", "", "random loss, 0% to 100% in steps of 0.01% (nftables)")
	cmd.Flags().StringVar(&f.rate, "rate", "", "rate limit, e.g. 10mbit (tbf)")
	cmd.Flags().StringVar(&f.delay, "delay", "", "delay, e.g. 10ms (netem: the kernel must have it)")
	cmd.Flags().StringVar(&f.jitter, "jitter", "", "jitter of the delay, e.g. 1ms (netem)")
	cmd.Flags().BoolVar(&f.clear, "clear", false, "remove the interface's egress impairment")
	cmd.Flags().StringVar(&flagLab, "lab", "", "the lab (default: the only deployed lab)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
