package bus

import (
	"context"
	"sync"
	"testing"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
)

func open(t *testing.T, dir string, redeliver time.Duration) *NATS {
	t.Helper()
	b, err := OpenNATS(context.Background(), NATSConfig{Dir: dir, Redeliver: redeliver})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// consume collects the sessions of delivered records for d, acknowledging
// them when ack is set.
func consume(t *testing.T, b *NATS, d time.Duration, ack bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var got []string
	err := b.Consume(ctx, func(m Message) {
		mu.Lock()
		got = append(got, m.Record.Session)
		mu.Unlock()
		if ack {
			_ = m.Ack()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// TestAtLeastOnce: unacknowledged records come again, across a restart of
// the bus; acknowledged ones do not.
func TestAtLeastOnce(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir, 500*time.Millisecond)
	ctx := context.Background()
	for _, s := range []string{"a", "b", "c"} {
		if err := b.Publish(ctx, &agentv1.Measurement{Session: s, Packets: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if got := consume(t, b, 300*time.Millisecond, false); len(got) != 3 {
		t.Fatalf("first delivery: %v", got)
	}
	// Not acknowledged: delivered again after the redelivery time.
	if got := consume(t, b, 1500*time.Millisecond, true); len(got) < 3 {
		t.Fatalf("redelivery: %v", got)
	}
	if err := b.Publish(ctx, &agentv1.Measurement{Session: "d"}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = open(t, dir, 500*time.Millisecond)
	defer b.Close()
	got := consume(t, b, 500*time.Millisecond, true)
	if len(got) != 1 || got[0] != "d" {
		t.Errorf("after a restart: %v, want only the unacknowledged record d", got)
	}
}

func BenchmarkPublish(b *testing.B) {
	bus, err := OpenNATS(context.Background(), NATSConfig{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	m := &agentv1.Measurement{Node: "r1", Session: "s", Segments: []string{"fc00:0:2::1", "fc00:0:3::d4"}, Packets: 1000}
	ctx := context.Background()
	for b.Loop() {
		if err := bus.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
