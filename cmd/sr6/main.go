// Command sr6 designs, emulates, controls and monitors SRv6 networks.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sr6net/sr6/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
