// Package store owns the controller's persistent desired state (SRv6
// policies, settings) behind one small key-value interface, Store, with two
// backends: Bolt, an embedded single-file database that is the default for
// one controller, and Etcd, a shared cluster that lets two or more
// controllers work from the same state and see each other's changes.
//
// Both backends give the same guarantees, checked by one conformance suite:
// keys sort bytewise, every write returns a revision greater than any before
// it, Create and Update are atomic, and Watch delivers the changes under a
// prefix in commit order.
package store
