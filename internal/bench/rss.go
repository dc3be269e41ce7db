package bench

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/procfs"

	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/supervise"
)

// proc is what the RSS sums need of one process.
type proc struct {
	ppid int
	comm string
}

// readProcs reads every process's parent and command name from /proc.
func readProcs(fs procfs.FS) (map[int]proc, error) {
	all, err := fs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	out := make(map[int]proc, len(all))
	for _, p := range all {
		st, err := p.Stat()
		if err != nil {
			continue // exited meanwhile
		}
		out[p.PID] = proc{ppid: st.PPID, comm: st.Comm}
	}
	return out, nil
}

// frrDaemons are the command names of FRR's daemons, counted apart from
// sr6's own processes.
var frrDaemons = []string{"zebra", "isisd", "staticd", "mgmtd", "watchfrr", "bgpd", "ospf6d"}

// LabRSS is the resident memory of one lab's processes at one moment.
type LabRSS struct {
	SR6   uint64 `json:"sr6_bytes"` // supervisor, agents (or agent host), controller
	FRR   uint64 `json:"frr_bytes"` // FRR daemons, with `routing: isis`
	Procs int    `json:"processes"`
	// ByDaemon splits the total by the supervisor's daemon names up to the
	// first "/" (agent, controller, zebra, ...) and "supervisor": where
	// the memory goes.
	ByDaemon map[string]uint64 `json:"by_daemon_bytes"`
}

// labRSS sums VmRSS over the lab's supervisor, the daemons its status
// names (an adopted one is not its child) and all their descendants.
// VmRSS counts shared pages (the sr6 binary's text) once per process, as
// the goals do.
func labRSS(store lab.Store, name string) (LabRSS, error) {
	l, err := store.Layout(name)
	if err != nil {
		return LabRSS{}, err
	}
	owners := map[int]string{} // root pid -> what it is
	supervisor, ok := supervise.Running(l.SupervisorPid())
	if ok {
		owners[supervisor] = "supervisor"
	}
	if st, err := lab.ReadDaemonsStatus(l); err == nil {
		for _, d := range st.Daemons {
			if d.PID > 0 {
				kind, _, _ := strings.Cut(d.Name, "/")
				owners[d.PID] = kind
			}
		}
	}
	if len(owners) == 0 {
		return LabRSS{}, fmt.Errorf("lab %s: no supervisor or daemon running", name)
	}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return LabRSS{}, err
	}
	procs, err := readProcs(fs)
	if err != nil {
		return LabRSS{}, err
	}
	r := LabRSS{ByDaemon: map[string]uint64{}}
	for pid, owner := range attribute(procs, owners) {
		rss, err := vmRSS(fs, pid)
		if err != nil {
			continue // exited meanwhile
		}
		r.Procs++
		r.ByDaemon[owner] += rss
		if slices.Contains(frrDaemons, procs[pid].comm) {
			r.FRR += rss
		} else {
			r.SR6 += rss
		}
	}
	return r, nil
}

// attribute gives every process in the trees of roots the name of its
// nearest root: a daemon's children are the daemon's, not the
// supervisor's.
func attribute(procs map[int]proc, roots map[int]string) map[int]string {
	out := map[int]string{}
	for pid := range procs {
		for p, hops := pid, 0; hops < len(procs); hops++ {
			if owner, ok := roots[p]; ok {
				out[pid] = owner
				break
			}
			next, ok := procs[p]
			if !ok || next.ppid == p {
				break
			}
			p = next.ppid
		}
	}
	return out
}

func vmRSS(fs procfs.FS, pid int) (uint64, error) {
	p, err := fs.Proc(pid)
	if err != nil {
		return 0, err
	}
	st, err := p.NewStatus()
	if err != nil {
		return 0, err
	}
	return st.VmRSS, nil
}

// memAvailable is the kernel's estimate of the memory that can be used
// without swapping (MemAvailable in /proc/meminfo), in bytes.
func memAvailable() (uint64, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return 0, err
	}
	mi, err := fs.Meminfo()
	if err != nil {
		return 0, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	if mi.MemAvailable == nil {
		return 0, errors.New("/proc/meminfo has no MemAvailable")
	}
	return *mi.MemAvailable * 1024, nil
}

// isRoot: labs and Mininet need root; the benchmark says so up front.
func isRoot() bool { return os.Geteuid() == 0 }
