package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/lab"
)

func (a *app) labLinkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "link",
		Short: "Runtime operations on a lab's links",
	}
	var flagLab string
	var asJSON bool
	set := &cobra.Command{
		Use:   "set [LAB] NODE:IF down|up",
		Short: "Set both ends of a link down or up, like cutting or mending a cable (the controller re-routes)",
		Long: "Set both ends of the link at NODE:IF administratively down or up. With agents, the controller\n" +
			"hears of it as of a real failure and re-routes policies and the underlay; with IS-IS, IS-IS re-routes\n" +
			"the underlay; with static routing and no controller nothing re-routes.\n" +
			"Without LAB (and --lab), the only deployed lab.",
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, endpoint, rest, err := a.labArgs(flagLab, args)
			if err != nil {
				return err
			}
			if len(rest) != 1 || (rest[0] != "down" && rest[0] != "up") {
				return usageError{fmt.Errorf("say down or up after %s", endpoint)}
			}
			res, err := lab.SetLink(cmd.Context(), name, endpoint, rest[0] == "up", a.labOptions())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.out, res)
			}
			fmt.Fprintf(a.out, "lab %s: link %s - %s %s: %s\n", res.Lab, res.Endpoints[0], res.Endpoints[1], res.State, res.Note)
			return nil
		},
	}
	set.Flags().StringVar(&flagLab, "lab", "", "the lab (default: the only deployed lab)")
	set.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(set)
	return cmd
}
