package agent

import (
	"testing"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
)

// TestMeasurementsReplayed: a subscriber that comes late (a controller
// reconnecting) gets what was measured before it came.
func TestMeasurementsReplayed(t *testing.T) {
	m := newPM("r1", nil)
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
