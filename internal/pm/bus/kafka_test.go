package bus

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
)

// TestKafkaAtLeastOnce runs the Kafka bus on franz-go's in-process fake
// cluster: records a consumer did not acknowledge are delivered again to
// the next consumer of the group; acknowledged ones are not, even when
// acknowledged out of order.
func TestKafkaAtLeastOnce(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "sr6-pm"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ctx := context.Background()
	open := func() *Kafka {
		k, err := OpenKafka(ctx, cluster.ListenAddrs(), "sr6-pm", "sr6-processor")
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	// consume runs a consumer for d and acknowledges the sessions in ack.
	consume := func(d time.Duration, ack map[string]bool) []string {
		k := open()
		defer k.Close()
		cctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		var mu sync.Mutex
		var got []string
		var later []func() error
		if err := k.Consume(cctx, func(m Message) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, m.Record.Session)
			if ack[m.Record.Session] {
				later = append(later, m.Ack)
			}
			// Acknowledge in reverse order once all wanted are in.
			if len(later) == len(ack) {
				for i := len(later) - 1; i >= 0; i-- {
					_ = later[i]()
				}
			}
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	p := open()
	for _, s := range []string{"a", "b", "c"} {
		if err := p.Publish(ctx, &agentv1.Measurement{Session: s}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	if got := consume(2*time.Second, map[string]bool{"a": true, "b": true}); len(got) != 3 {
		t.Fatalf("first consumer got %v", got)
	}
	// c was not acknowledged: the next consumer starts there.
	if got := consume(2*time.Second, map[string]bool{"c": true}); len(got) != 1 || got[0] != "c" {
		t.Fatalf("second consumer got %v, want [c]", got)
	}
	if got := consume(time.Second, nil); len(got) != 0 {
		t.Errorf("third consumer got %v, want nothing", got)
	}
}
