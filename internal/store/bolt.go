package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const (
	// bucketName is the one bucket every key lives in. Its sequence (bbolt's
	// per-bucket counter, stored with the bucket) is the store revision, so
	// revisions survive a restart and keep increasing.
	bucketName = "sr6"

	// lockTimeout bounds how long OpenBolt waits for the file lock another
	// process (or another OpenBolt here) holds: long enough to ride out a
	// controller restarting, short enough that a second controller on the
	// same file fails at once with a clear error instead of hanging.
	lockTimeout = time.Second

	// watchBuffer is how many events a watcher may fall behind before it is
	// dropped; see Bolt.
	watchBuffer = 1024

	// revLen is the size of the revision stored in front of each value.
	revLen = 8
)

// Bolt is a Store in one bbolt file, for a single controller. Each value is
// stored as its 8-byte big-endian revision followed by the value bytes.
//
// Watch is in-process fan-out: every write sends its event to each matching
// watcher's buffered channel (watchBuffer events). A watcher whose buffer is
// full is dropped, its channel closed, rather than made to block writers or
// silently lose an event: a controller stalled on one watcher must not stall
// every write, and a closed channel with a live ctx tells the watcher to
// List and Watch again (the same recovery an etcd watch needs after a lost
// connection or compaction).
type Bolt struct {
	db   *bbolt.DB
	path string

	// Writes go through bbolt's Batch, which commits concurrent writers in
	// one transaction (one fsync) instead of one each: that is what lets a
	// controller take a burst of API calls. Commits may then finish out of
	// order, so events wait in pending until every lower revision has been
	// published: watchers still get changes in revision order. Revisions
	// are the bucket's sequence, which only committed writes consume, so
	// they have no gaps. mu guards subs, closed, next and pending.
	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	closed  bool
	next    uint64 // revision of the next event to publish
	pending map[uint64]Event
}

var _ Store = (*Bolt)(nil)

// subscriber is one Watch on a Bolt.
type subscriber struct {
	prefix string
	ch     chan Event
	done   chan struct{} // closed with ch, to end the goroutine waiting on ctx
}

// OpenBolt opens (creating if needed) the bbolt database at path. The file
// is locked while open: a second OpenBolt on it, from this process or
// another, fails after lockTimeout.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open bolt store %s: file still locked after %v; is another sr6 controller using it? (%w)", path, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open bolt store %s: %w", path, err)
	}
	var seq uint64
	err = db.Update(func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte(bucketName))
		if err == nil {
			seq = bk.Sequence()
		}
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open bolt store %s: create bucket: %w", path, err)
	}
	// Concurrent writers are grouped for at most 2 ms: long enough to share
	// one fsync under load, short enough not to slow a lone writer much.
	db.MaxBatchDelay = 2 * time.Millisecond
	return &Bolt{db: db, path: path, subs: map[*subscriber]struct{}{}, next: seq + 1, pending: map[uint64]Event{}}, nil
}

// Path is the database file.
func (b *Bolt) Path() string { return b.path }

func encodeValue(rev uint64, v []byte) []byte {
	out := make([]byte, revLen+len(v))
	binary.BigEndian.PutUint64(out, rev)
	copy(out[revLen:], v)
	return out
}

// decodeValue copies out of bbolt's memory, which is valid only inside the
// transaction.
func decodeValue(key string, raw []byte) (KV, error) {
	if len(raw) < revLen {
		return KV{}, fmt.Errorf("key %q: corrupt record of %d bytes", key, len(raw))
	}
	return KV{
		Key:      key,
		Value:    bytes.Clone(raw[revLen:]),
		Revision: int64(binary.BigEndian.Uint64(raw)),
	}, nil
}

func (b *Bolt) Get(ctx context.Context, key string) (KV, error) {
	if err := checkKey(key); err != nil {
		return KV{}, fmt.Errorf("bolt get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return KV{}, fmt.Errorf("bolt get %q: %w", key, err)
	}
	var kv KV
	err := b.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket([]byte(bucketName)).Get([]byte(key))
		if raw == nil {
			return ErrNotFound
		}
		var err error
		kv, err = decodeValue(key, raw)
		return err
	})
	if err != nil {
		return KV{}, fmt.Errorf("bolt get %q: %w", key, b.wrapClosed(err))
	}
	return kv, nil
}

func (b *Bolt) List(ctx context.Context, prefix string) ([]KV, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("bolt list: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bolt list %q: %w", prefix, err)
	}
	var out []KV
	err := b.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketName)).Cursor()
		p := []byte(prefix)
		// bbolt keeps keys sorted bytewise, as etcd does.
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			kv, err := decodeValue(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, kv)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt list %q: %w", prefix, b.wrapClosed(err))
	}
	return out, nil
}

func (b *Bolt) Put(ctx context.Context, key string, value []byte) (int64, error) {
	rev, err := b.write(ctx, key, func(bk *bbolt.Bucket) (Event, error) {
		return put(bk, key, value)
	})
	if err != nil {
		return 0, fmt.Errorf("bolt put %q: %w", key, err)
	}
	return rev, nil
}

func (b *Bolt) Create(ctx context.Context, key string, value []byte) (int64, error) {
	rev, err := b.write(ctx, key, func(bk *bbolt.Bucket) (Event, error) {
		if bk.Get([]byte(key)) != nil {
			return Event{}, ErrExists
		}
		return put(bk, key, value)
	})
	if err != nil {
		return 0, fmt.Errorf("bolt create %q: %w", key, err)
	}
	return rev, nil
}

func (b *Bolt) Update(ctx context.Context, key string, fn func(old []byte, exists bool) ([]byte, error)) (int64, error) {
	rev, err := b.write(ctx, key, func(bk *bbolt.Bucket) (Event, error) {
		var old []byte
		raw := bk.Get([]byte(key))
		if raw != nil {
			kv, err := decodeValue(key, raw)
			if err != nil {
				return Event{}, err
			}
			old = kv.Value
		}
		v, err := fn(old, raw != nil)
		if err != nil {
			return Event{}, err
		}
		return put(bk, key, v)
	})
	if err != nil {
		return 0, fmt.Errorf("bolt update %q: %w", key, err)
	}
	return rev, nil
}

func (b *Bolt) Delete(ctx context.Context, key string) error {
	_, err := b.write(ctx, key, func(bk *bbolt.Bucket) (Event, error) {
		if bk.Get([]byte(key)) == nil {
			return Event{}, ErrNotFound
		}
		// A delete takes a revision too, as in etcd, so a watcher can
		// order it against the puts around it.
		seq, err := bk.NextSequence()
		if err != nil {
			return Event{}, err
		}
		if err := bk.Delete([]byte(key)); err != nil {
			return Event{}, err
		}
		return Event{Type: Delete, KV: KV{Key: key, Revision: int64(seq)}}, nil
	})
	if err != nil {
		return fmt.Errorf("bolt delete %q: %w", key, err)
	}
	return nil
}

// put stores value under key with the next revision.
func put(bk *bbolt.Bucket, key string, value []byte) (Event, error) {
	seq, err := bk.NextSequence()
	if err != nil {
		return Event{}, err
	}
	if err := bk.Put([]byte(key), encodeValue(seq, value)); err != nil {
		return Event{}, err
	}
	// The event may wait in pending after the caller returns: it keeps its
	// own copy of the value, not the caller's buffer.
	return Event{Type: Put, KV: KV{Key: key, Value: bytes.Clone(value), Revision: int64(seq)}}, nil
}

// write runs fn in a write transaction and, once it has committed, sends
// the event fn returns to the watchers; an error from fn rolls back.
func (b *Bolt) write(ctx context.Context, key string, fn func(*bbolt.Bucket) (Event, error)) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return 0, ErrClosed
	}
	var ev Event
	// Batch may run fn more than once (when another write of the batch
	// fails); the last run is the one committed.
	err := b.db.Batch(func(tx *bbolt.Tx) error {
		var err error
		ev, err = fn(tx.Bucket([]byte(bucketName)))
		return err
	})
	if err != nil {
		return 0, b.wrapClosed(err)
	}
	b.publishInOrder(ev)
	return ev.KV.Revision, nil
}

// publishInOrder queues committed events and publishes every one whose
// lower revisions are all published.
func (b *Bolt) publishInOrder(evs ...Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range evs {
		b.pending[uint64(ev.KV.Revision)] = ev
	}
	for {
		e, ok := b.pending[b.next]
		if !ok {
			return
		}
		delete(b.pending, b.next)
		b.next++
		b.publish(e)
	}
}

// PutMany implements Store in one write transaction; watchers get the
// events in revision order.
func (b *Bolt) PutMany(ctx context.Context, kvs []KV) error {
	for _, kv := range kvs {
		if err := checkKey(kv.Key); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	var evs []Event
	err := b.db.Update(func(tx *bbolt.Tx) error {
		evs = evs[:0]
		bk := tx.Bucket([]byte(bucketName))
		for _, kv := range kvs {
			ev, err := put(bk, kv.Key, kv.Value)
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		return nil
	})
	if err != nil {
		return b.wrapClosed(err)
	}
	b.publishInOrder(evs...)
	return nil
}

// publish sends ev to each watcher of its key without blocking; b.mu held.
func (b *Bolt) publish(ev Event) {
	for s := range b.subs {
		if !strings.HasPrefix(ev.KV.Key, s.prefix) {
			continue
		}
		// Each watcher gets its own copy of the value, so one that keeps
		// or changes it cannot affect another, or the caller's slice.
		e := ev
		e.KV.Value = bytes.Clone(ev.KV.Value)
		select {
		case s.ch <- e:
		default:
			b.drop(s)
		}
	}
}

// drop ends a watch; b.mu held.
func (b *Bolt) drop(s *subscriber) {
	if _, ok := b.subs[s]; !ok {
		return
	}
	delete(b.subs, s)
	close(s.ch)
	close(s.done)
}

func (b *Bolt) Watch(ctx context.Context, prefix string) (<-chan Event, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("bolt watch: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bolt watch %q: %w", prefix, err)
	}
	s := &subscriber{prefix: prefix, ch: make(chan Event, watchBuffer), done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, fmt.Errorf("bolt watch %q: %w", prefix, ErrClosed)
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			b.mu.Lock()
			b.drop(s)
			b.mu.Unlock()
		case <-s.done: // dropped already: too slow, or Close
		}
	}()
	return s.ch, nil
}

// Close ends every watch and closes the database.
func (b *Bolt) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for s := range b.subs {
		b.drop(s)
	}
	b.mu.Unlock()
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("close bolt store %s: %w", b.path, err)
	}
	return nil
}

// wrapClosed turns bbolt's error for a read after Close into ErrClosed.
func (b *Bolt) wrapClosed(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
