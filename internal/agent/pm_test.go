package agent

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/intent"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/testutil"
)

// TestMeasurementsReplayed: a subscriber that comes late (a controller
// reconnecting) gets what was measured before it came.
func TestMeasurementsReplayed(t *testing.T) {
	m := newPM("r1", "", nil)
	m.mu.Lock()
	m.publishLocked(&agentv1.Measurement{Session: "s", PeriodStartUnixMs: 1000})
	m.publishLocked(&agentv1.Measurement{Session: "s", PeriodStartUnixMs: 2000})
	m.mu.Unlock()
	ch, cancel := m.subscribe()
	for _, want := range []int64{1000, 2000} {
		if got := (<-ch).PeriodStartUnixMs; got != want {
			t.Fatalf("replayed period %d, want %d", got, want)
		}
	}
	cancel()
	m.mu.Lock()
	for i := 0; i < recentKept*2; i++ {
		m.publishLocked(&agentv1.Measurement{Session: "s"})
	}
	n := len(m.recent)
	m.mu.Unlock()
	if n > recentKept+recentKept/4 {
		t.Errorf("kept %d measurements, want at most %d", n, recentKept+recentKept/4)
	}
}

// TestReflectorPortIsFreedAtOnce: a delay session stopped and another
// started right away bind the node's STAMP port again. The old reflector's
// socket used to close asynchronously, so the new bind failed (address in
// use) and the agent refused its whole state for tens of seconds.
func TestReflectorPortIsFreedAtOnce(t *testing.T) {
	testutil.RequirePrivileged(t)
	ns := testutil.UniqueName("sr6ag")
	if err := nsutil.Create(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nsutil.Delete(ns) })
	probe := &intent.PM{Probe: netip.MustParseAddr("fc00:0:1::5")}
	err := nsutil.Do(ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		m := newPM("r1", "", nil)
		defer func() {
			m.mu.Lock()
			_ = m.applyDelayLocked(nil)
			m.mu.Unlock()
		}()
		for i := range 20 {
			for _, cfg := range []*intent.PM{probe, nil} {
				m.mu.Lock()
				err := m.applyDelayLocked(cfg)
				m.mu.Unlock()
				if err != nil {
					return fmt.Errorf("round %d, probe %v: %w", i, cfg != nil, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
