package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/supervise"
)

// Destroy removes lab name: every process running in its namespaces, the
// namespaces (and with them links, routes, qdiscs and nftables tables) and
// its state folder. It works from the state file and, should that be gone,
// from the namespace names, so it also cleans up after a crash. Destroying
// a lab that does not exist is not an error.
func Destroy(ctx context.Context, name string, opts Options) error {
	opts.defaults()
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	unlock, err := opts.Store.Lock(name)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := opts.Store.Load(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return destroyLocked(ctx, name, st, opts)
}

func destroyLocked(ctx context.Context, name string, st *State, opts Options) error {
	start := time.Now()
	namespaces := slices.DeleteFunc(labNamespaces(name), func(ns string) bool { return !ownsNamespace(name, ns) })
	if st != nil {
		for _, ns := range st.Namespaces {
			if !ownsNamespace(name, ns) {
				opts.Log.Warn("state file lists a namespace that is not this lab's: leaving it", "lab", name, "namespace", ns)
				fmt.Fprintf(opts.Progress, "warning: lab %s: state file lists namespace %q, which is not named %s.<node>: left alone\n", name, ns, name)
				continue
			}
			if !slices.Contains(namespaces, ns) && nsutil.Exists(ns) {
				namespaces = append(namespaces, ns)
			}
		}
	}
	if st == nil && len(namespaces) == 0 {
		fmt.Fprintf(opts.Progress, "lab %s does not exist: nothing to destroy\n", name)
		return nil
	}
	// The supervisor goes first, so that nothing restarts what destroy
	// ends; it stops the controller (in the host namespace) and the agents.
	layout, err := opts.Store.Layout(name)
	if err != nil {
		return err
	}
	killed, err := stopDaemons(ctx, layout, daemonPidFiles(st, layout))
	if err != nil {
		// A torn pid file must not keep the lab alive: the namespace sweep
		// below still ends the agents.
		opts.Log.Warn("destroy: stopping the daemons", "lab", name, "err", err)
	}
	pids, err := nsutil.PIDs(namespaces...)
	if err != nil {
		return fmt.Errorf("destroy %s: %w", name, err)
	}
	killed += killPIDs(ctx, pids)
	var errs []error
	for _, ns := range namespaces {
		if err := nsutil.Delete(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy %s: %w", name, err)
	}
	dir, err := opts.Store.LabDir(name)
	if err != nil {
		return fmt.Errorf("destroy %s: %w", name, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("destroy %s: remove state: %w", name, err)
	}
	fmt.Fprintf(opts.Progress, "lab %s destroyed: %d namespaces, %d processes, in %s\n",
		name, len(namespaces), killed, time.Since(start).Round(time.Millisecond))
	return nil
}

// killPIDs ends processes: SIGTERM, a grace period, then SIGKILL. A
// namespace whose processes survived would keep its interfaces alive after
// its name is gone.
func killPIDs(ctx context.Context, pids []int) int {
	if len(pids) == 0 {
		return 0
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		alive := pids[:0:0]
		for _, pid := range pids {
			if supervise.Alive(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return len(pids)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			for _, pid := range alive {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return len(pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
