package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// app carries what every command needs; it replaces package-level state.
type app struct {
	out, errOut io.Writer
	log         *slog.Logger
	stateDir    string
	verbose     bool
}

// defaultStateDir holds the labs unless --state-dir names another folder.
const defaultStateDir = "/var/lib/sr6/labs"

// exitInterrupted is the exit code of a command stopped by SIGINT or
// SIGTERM (128 + SIGINT, as shells report it).
const exitInterrupted = 130

// Run executes sr6 with args and returns the process exit code.
func Run(ctx context.Context, args []string, out, errOut io.Writer) int {
	a := &app{out: out, errOut: errOut}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(errOut, "sr6:", err)
		var ue usageError
		switch {
		case errors.As(err, &ue):
			return 2
		case ctx.Err() != nil:
			return exitInterrupted
		}
		return 1
	}
	return 0
}

// usageError marks errors in how a command was called (exit code 2).
type usageError struct{ error }

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "sr6",
		Short:         "Design, emulate, control and monitor SRv6 networks",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			level := slog.LevelInfo
			if a.verbose {
				level = slog.LevelDebug
			}
			a.log = slog.New(slog.NewTextHandler(a.errOut, &slog.HandlerOptions{Level: level}))
			// Labs remember their folder by absolute path: a relative
			// --state-dir must name the same labs from any directory.
			if abs, err := filepath.Abs(a.stateDir); err == nil {
				a.stateDir = abs
			}
		},
	}
	root.PersistentFlags().StringVar(&a.stateDir, "state-dir", defaultStateDir, "directory holding one folder per deployed lab")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "debug logging")
	root.AddCommand(a.validateCmd(), a.graphCmd(), a.genCmd(), a.labCmd(), a.benchCmd(), a.agentCmd(), a.controllerCmd(), a.policyCmd(), a.topoCmd(), a.pmCmd())
	root.AddCommand(a.importCmd())
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (lab, policy, pm, ...) refuse an unknown subcommand with a usage error:
// cobra would print the group's help and exit 0, so a typo looked like
// success.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil || !cmd.HasParent() {
		return
	}
	cmd.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Errorf("unknown command %q for %q; run %q", args[0], c.CommandPath(), c.CommandPath()+" --help")}
		}
		return nil
	}
}
