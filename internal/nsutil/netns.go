package nsutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Dir is where named network namespaces are bind-mounted, as iproute2 does.
const Dir = "/run/netns"

// Path is the bind-mount path of the namespace called name.
func Path(name string) string { return filepath.Join(Dir, name) }

// Exists tells whether a namespace called name is mounted.
func Exists(name string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(Path(name), &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// Create makes a new named network namespace. It fails if one exists.
//
// The namespace is created on a dedicated OS thread that is never handed
// back to the Go scheduler: netns.NewNamed switches the calling thread into
// the new namespace, and ending the locked goroutine makes the runtime
// destroy that thread instead of reusing it in the wrong namespace.
func Create(name string) error {
	if Exists(name) {
		return fmt.Errorf("network namespace %s already exists", name)
	}
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", Dir, err)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		_ = netns.DeleteNamed(name)
		return fmt.Errorf("create network namespace %s: %w", name, err)
	}
	return nil
}

// Delete unmounts and removes the named namespace; a missing one is not an
// error. The namespace itself disappears once no process holds it.
func Delete(name string) error {
	p := Path(name)
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

// List returns the names of all named namespaces.
func List() ([]string, error) {
	entries, err := os.ReadDir(Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// Do runs fn on a thread switched into the named namespace (see DoPath).
func Do(name string, fn func() error) error {
	return DoPath(Path(name), fn)
}

// Handle opens the named namespace for netlink handles; close it after use.
func Handle(name string) (netns.NsHandle, error) {
	h, err := netns.GetFromPath(Path(name))
	if err != nil {
		return 0, fmt.Errorf("open network namespace %s: %w", name, err)
	}
	return h, nil
}

// Start starts cmd inside the named namespace. The child is forked from a
// thread switched into the namespace and so inherits it.
func Start(name string, cmd *exec.Cmd) error {
	return Do(name, cmd.Start)
}

// Run runs cmd inside the named namespace and waits for it.
func Run(name string, cmd *exec.Cmd) error {
	return Do(name, cmd.Run)
}

// Exec replaces the current process with argv running inside the named
// namespace, as `ip netns exec` does. It only returns on error.
func Exec(name string, argv []string, env []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	f, err := os.Open(Path(name))
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", name, err)
	}
	// The thread that calls execve becomes the whole new process, so it is
	// switched into the namespace and never unlocked.
	runtime.LockOSThread()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", name, err)
	}
	return syscall.Exec(path, argv, env)
}

// inode identifies a namespace file (or /proc/PID/ns/net link target).
func inode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// PIDs returns the processes living in any of the named namespaces, read
// from /proc in one pass.
func PIDs(names ...string) ([]int, error) {
	want := map[uint64]bool{}
	for _, name := range names {
		ino, err := inode(Path(name))
		if err != nil {
			continue // already gone: nothing lives in it
		}
		want[ino] = true
	}
	if len(want) == 0 {
		return nil, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if ino, err := inode("/proc/" + e.Name() + "/ns/net"); err == nil && want[ino] {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
