package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
)

// Message is one delivered record; Ack tells the bus it is stored.
type Message struct {
	Record *agentv1.Measurement
	Ack    func() error
}

// Bus carries measurement records.
type Bus interface {
	// Publish returns once the bus has the record durably.
	Publish(ctx context.Context, m *agentv1.Measurement) error
	// PublishBatch is Publish for many records, pipelined.
	PublishBatch(ctx context.Context, ms []*agentv1.Measurement) error
	// Consume delivers records to fn until ctx ends. A record fn does not
	// Ack within the redelivery time comes again.
	Consume(ctx context.Context, fn func(Message)) error
	Close() error
}

const (
	streamName = "SR6_PM"
	subject    = "sr6.pm.measurements"
	consumer   = "sr6-processor"
)

// NATS is an embedded NATS server with JetStream, reachable only from this
// process (no listener): the controller publishes and consumes in-process.
type NATS struct {
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	redo   time.Duration
}

// NATSConfig configures the embedded bus.
type NATSConfig struct {
	Dir       string        // JetStream storage
	Retention time.Duration // records older than this are dropped (0: a day)
	// Redeliver is how long a record may stay unacknowledged before it is
	// delivered again (0: 30 s).
	Redeliver time.Duration
}

// OpenNATS starts the embedded server and creates (or reopens) the stream.
func OpenNATS(ctx context.Context, cfg NATSConfig) (*NATS, error) {
	if cfg.Retention == 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.Redeliver == 0 {
		cfg.Redeliver = 30 * time.Second
	}
	opts := &server.Options{
		ServerName: "sr6-bus",
		DontListen: true,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		NoLog:      true,
		NoSigs:     true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("bus: embedded NATS server not ready after 10s")
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("bus: connect: %w", err)
	}
	b := &NATS{srv: srv, nc: nc, redo: cfg.Redeliver}
	if b.js, err = jetstream.New(nc); err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: %w", err)
	}
	b.stream, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     streamName,
		Subjects: []string{subject},
		Storage:  jetstream.FileStorage,
		MaxAge:   cfg.Retention,
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: stream: %w", err)
	}
	return b, nil
}

// Publish implements Bus.
func (b *NATS) Publish(ctx context.Context, m *agentv1.Measurement) error {
	data, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := b.js.Publish(ctx, subject, data); err != nil {
		return fmt.Errorf("bus: publish: %w", err)
	}
	return nil
}

// PublishBatch implements Bus: the records are sent without waiting for
// each acknowledgement, then all acknowledgements are awaited.
func (b *NATS) PublishBatch(ctx context.Context, ms []*agentv1.Measurement) error {
	futures := make([]jetstream.PubAckFuture, 0, len(ms))
	for _, m := range ms {
		data, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		f, err := b.js.PublishAsync(subject, data)
		if err != nil {
			return fmt.Errorf("bus: publish: %w", err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("bus: publish: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Consume implements Bus with a durable consumer: after a restart it goes
// on from the first record not acknowledged.
func (b *NATS) Consume(ctx context.Context, fn func(Message)) error {
	c, err := b.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       consumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.redo,
		MaxAckPending: 1 << 20,
	})
	if err != nil {
		return fmt.Errorf("bus: consumer: %w", err)
	}
	cc, err := c.Consume(func(msg jetstream.Msg) {
		var m agentv1.Measurement
		if err := proto.Unmarshal(msg.Data(), &m); err != nil {
			_ = msg.Term() // undecodable: never redeliver
			return
		}
		fn(Message{Record: &m, Ack: msg.Ack})
	})
	if err != nil {
		return fmt.Errorf("bus: consume: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed() // no callback runs after Consume returns
	return nil
}

// Close shuts the connection and the embedded server down.
func (b *NATS) Close() error {
	if b.nc != nil {
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	return nil
}
