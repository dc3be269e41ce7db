package supervise

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReleaseHandsOverToTheNextSupervisor: when its context ends, a
// supervisor leaves the released daemons running with their pid files,
// and the next one adopts them; the others it stops.
func TestReleaseHandsOverToTheNextSupervisor(t *testing.T) {
	dir := t.TempDir()
	spec := func(name string) Spec {
		return Spec{Name: name, Path: "/bin/sleep", Args: []string{"30"}, PidFile: filepath.Join(dir, name+".pid")}
	}
	first, stop := runSupervisor(t, []Spec{spec("kept"), spec("dropped")})
	by := waitAll(t, first, "both ready", 2*time.Second, func(by map[string]Status) bool {
		return by["kept"].State == Ready && by["dropped"].State == Ready
	})
	kept, dropped := by["kept"].PID, by["dropped"].PID
	t.Cleanup(func() { _ = syscall.Kill(kept, syscall.SIGKILL) })
	first.Release("kept")
	stop()
	if !alive(kept) {
		t.Fatalf("released daemon (pid %d) was stopped", kept)
	}
	if _, err := os.Stat(spec("kept").PidFile); err != nil {
		t.Fatalf("released daemon's pid file: %v", err)
	}
	if alive(dropped) {
		t.Errorf("daemon not released (pid %d) outlived its supervisor", dropped)
	}
	if st := first.Status(); st[0].State != Ready || st[1].State != Stopped {
		t.Errorf("first supervisor's last status: %+v", st)
	}

	second, stop2 := runSupervisor(t, []Spec{spec("kept")})
	by = waitAll(t, second, "adopted", 2*time.Second, func(by map[string]Status) bool { return by["kept"].State == Ready })
	if by["kept"].PID != kept || !by["kept"].Adopted {
		t.Fatalf("next supervisor: %+v, want pid %d adopted", by["kept"], kept)
	}
	stop2()
	if alive(kept) {
		t.Errorf("adopted daemon (pid %d) outlived the next supervisor's stop", kept)
	}
}
