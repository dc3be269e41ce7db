package bench

import (
	"errors"
	"fmt"
	"os"
	"slices"

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

// tree is roots and all their descendants that exist in procs, sorted.
func tree(procs map[int]proc, roots []int) []int {
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	seen := map[int]bool{}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if _, ok := procs[pid]; !ok || seen[pid] {
			continue
		}
		seen[pid] = true
		queue = append(queue, children[pid]...)
	}
	out := make([]int, 0, len(seen))
	for pid := range seen {
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

// frrDaemons are the command names of FRR's daemons, counted apart from
// sr6's own processes.
var frrDaemons = []string{"zebra", "isisd", "staticd", "mgmtd", "watchfrr", "bgpd", "ospf6d"}

// LabRSS is the resident memory of one lab's processes at one moment.
type LabRSS struct {
	SR6   uint64 `json:"sr6_bytes"` // supervisor, agents (or agent host), controller
	FRR   uint64 `json:"frr_bytes"` // FRR daemons, with `routing: isis`
	Procs int    `json:"processes"`
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
	var roots []int
	if pid, ok := supervise.Running(l.SupervisorPid()); ok {
		roots = append(roots, pid)
	}
	if st, err := lab.ReadDaemonsStatus(l); err == nil {
		for _, d := range st.Daemons {
			if d.PID > 0 {
				roots = append(roots, d.PID)
			}
		}
	}
	if len(roots) == 0 {
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
	var r LabRSS
	for _, pid := range tree(procs, roots) {
		rss, err := vmRSS(fs, pid)
		if err != nil {
			continue // exited meanwhile
		}
		r.Procs++
		if slices.Contains(frrDaemons, procs[pid].comm) {
			r.FRR += rss
		} else {
			r.SR6 += rss
		}
	}
	return r, nil
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
