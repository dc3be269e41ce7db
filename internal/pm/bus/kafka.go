package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
)

// Kafka is the bus on a Kafka cluster, through franz-go. Records are
// committed per partition only up to the first one not yet acknowledged,
// so a consumer that restarts resumes before every unacknowledged record
// (Kafka does not redeliver within a running consumer).
type Kafka struct {
	cl    *kgo.Client
	topic string

	mu    sync.Mutex
	parts map[int32]*partition
}

// partition keeps a partition's delivered records in offset order until
// they, and every earlier one, are acknowledged.
type partition struct {
	queue []*kgo.Record
	acked map[int64]bool
}

// OpenKafka connects to brokers, producing to and consuming topic in
// consumer group group.
func OpenKafka(ctx context.Context, brokers []string, topic, group string) (*Kafka, error) {
	if len(brokers) == 0 || topic == "" {
		return nil, errors.New("bus: kafka needs brokers and a topic")
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(group),
		kgo.AutoCommitMarks(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if err != nil {
		return nil, fmt.Errorf("bus: kafka: %w", err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("bus: kafka %v: %w", brokers, err)
	}
	return &Kafka{cl: cl, topic: topic, parts: map[int32]*partition{}}, nil
}

// Publish implements Bus.
func (k *Kafka) Publish(ctx context.Context, m *agentv1.Measurement) error {
	return k.PublishBatch(ctx, []*agentv1.Measurement{m})
}

// PublishBatch implements Bus: one produce call, all acknowledged by the
// in-sync replicas.
func (k *Kafka) PublishBatch(ctx context.Context, ms []*agentv1.Measurement) error {
	rs := make([]*kgo.Record, 0, len(ms))
	for _, m := range ms {
		data, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		rs = append(rs, &kgo.Record{Key: []byte(m.Session), Value: data})
	}
	if err := k.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("bus: kafka produce: %w", err)
	}
	return nil
}

// Consume implements Bus.
func (k *Kafka) Consume(ctx context.Context, fn func(Message)) error {
	for {
		fetches := k.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return k.cl.CommitMarkedOffsets(context.WithoutCancel(ctx))
		}
		if err := fetches.Err0(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("bus: kafka fetch: %w", err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			k.mu.Lock()
			p := k.parts[r.Partition]
			if p == nil {
				p = &partition{acked: map[int64]bool{}}
				k.parts[r.Partition] = p
			}
			p.queue = append(p.queue, r)
			k.mu.Unlock()
			var m agentv1.Measurement
			if err := proto.Unmarshal(r.Value, &m); err != nil {
				k.ack(r) // undecodable: skip it for good
				return
			}
			fn(Message{Record: &m, Ack: func() error { k.ack(r); return nil }})
		})
	}
}

// ack marks r done and lets the commit advance over every leading
// acknowledged record of its partition.
func (k *Kafka) ack(r *kgo.Record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.parts[r.Partition]
	if p == nil {
		return
	}
	p.acked[r.Offset] = true
	for len(p.queue) > 0 && p.acked[p.queue[0].Offset] {
		head := p.queue[0]
		delete(p.acked, head.Offset)
		p.queue = p.queue[1:]
		k.cl.MarkCommitRecords(head)
	}
}

// Close commits what is acknowledged and disconnects.
func (k *Kafka) Close() error {
	err := k.cl.CommitMarkedOffsets(context.Background())
	k.cl.Close()
	return err
}
