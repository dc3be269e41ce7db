// Package bus owns the transport of measurement records from the
// controller's agent streams to the processor: an embedded NATS JetStream
// server by default (no process to run, records on disk), or a Kafka
// cluster through franz-go when one is configured. Delivery is at least
// once: a record is redelivered until the consumer acknowledges it, and
// consumers make storage idempotent.
package bus
