package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"
	"go.uber.org/zap"
)

// Etcd is a Store on an etcd cluster, for controllers that share state:
// each sees the others' writes, and their Watch events, as soon as they
// commit. Keys live under a prefix so the cluster can hold other data;
// revisions are etcd's (cluster-wide ModRevision), so they increase across
// every writer.
type Etcd struct {
	client  *clientv3.Client
	kv      clientv3.KV      // namespaced under prefix
	watcher clientv3.Watcher // namespaced under prefix
	prefix  string

	// closed makes calls after Close fail at once with ErrClosed; the
	// client would otherwise retry on its closed connection for seconds.
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*Etcd)(nil)

// OpenEtcd connects to the cluster at endpoints (host:port or URLs) and
// returns a Store of the keys under prefix, which gets a trailing "/" if it
// lacks one so that "/sr6" never also reads "/sr6x/...". It waits up to
// dialTimeout (DefaultDialTimeout if not positive), within ctx, for the
// cluster to answer a read, so a wrong address fails here rather than on
// the first write.
func OpenEtcd(ctx context.Context, endpoints []string, prefix string, dialTimeout time.Duration) (*Etcd, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("open etcd store: no endpoints")
	}
	if prefix == "" {
		// Required so controllers never write at the root of a cluster
		// other programs may share.
		return nil, fmt.Errorf("open etcd store %v: no key prefix; use one such as /sr6/", endpoints)
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("open etcd store %v: prefix: %w", endpoints, err)
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	if dialTimeout <= 0 {
		dialTimeout = DefaultDialTimeout
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: dialTimeout,
		// The client's own log would go to the controller's stderr as
		// JSON; every failure reaches the caller as an error instead.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("open etcd store %v: %w", endpoints, err)
	}
	e := &Etcd{
		client:  c,
		kv:      namespace.NewKV(c.KV, prefix),
		watcher: namespace.NewWatcher(c.Watcher, prefix),
		prefix:  prefix,
	}
	// clientv3.New does not wait for a connection. A linearizable read
	// does, and shows that a quorum answers.
	pctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if _, err := c.KV.Get(pctx, prefix, clientv3.WithCountOnly()); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("open etcd store %v: no answer within %v: %w", endpoints, dialTimeout, err)
	}
	return e, nil
}

// Prefix is the namespace every key is stored under.
func (e *Etcd) Prefix() string { return e.prefix }

func fromEtcd(kv *mvccpb.KeyValue) KV {
	return KV{Key: string(kv.Key), Value: kv.Value, Revision: kv.ModRevision}
}

func (e *Etcd) Get(ctx context.Context, key string) (KV, error) {
	if err := checkKey(key); err != nil {
		return KV{}, fmt.Errorf("etcd get: %w", err)
	}
	if e.closed.Load() {
		return KV{}, fmt.Errorf("etcd get %q: %w", key, ErrClosed)
	}
	resp, err := e.kv.Get(ctx, key)
	if err != nil {
		return KV{}, fmt.Errorf("etcd get %q: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, fmt.Errorf("etcd get %q: %w", key, ErrNotFound)
	}
	return fromEtcd(resp.Kvs[0]), nil
}

func (e *Etcd) List(ctx context.Context, prefix string) ([]KV, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("etcd list: %w", err)
	}
	if e.closed.Load() {
		return nil, fmt.Errorf("etcd list %q: %w", prefix, ErrClosed)
	}
	resp, err := e.kv.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("etcd list %q: %w", prefix, err)
	}
	var out []KV
	for _, kv := range resp.Kvs {
		out = append(out, fromEtcd(kv))
	}
	return out, nil
}

// putManyChunk keeps each transaction under etcd's default limit of 128
// operations per transaction.
const putManyChunk = 100

// PutMany implements Store with one transaction per putManyChunk keys.
func (e *Etcd) PutMany(ctx context.Context, kvs []KV) error {
	for _, kv := range kvs {
		if err := checkKey(kv.Key); err != nil {
			return fmt.Errorf("etcd put: %w", err)
		}
	}
	if e.closed.Load() {
		return fmt.Errorf("etcd put: %w", ErrClosed)
	}
	for i := 0; i < len(kvs); i += putManyChunk {
		var ops []clientv3.Op
		for _, kv := range kvs[i:min(i+putManyChunk, len(kvs))] {
			ops = append(ops, clientv3.OpPut(kv.Key, string(kv.Value)))
		}
		if _, err := e.kv.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("etcd put %d keys: %w", len(ops), err)
		}
	}
	return nil
}

func (e *Etcd) Put(ctx context.Context, key string, value []byte) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, fmt.Errorf("etcd put: %w", err)
	}
	if e.closed.Load() {
		return 0, fmt.Errorf("etcd put %q: %w", key, ErrClosed)
	}
	resp, err := e.kv.Put(ctx, key, string(value))
	if err != nil {
		return 0, fmt.Errorf("etcd put %q: %w", key, err)
	}
	return resp.Header.Revision, nil
}

func (e *Etcd) Create(ctx context.Context, key string, value []byte) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, fmt.Errorf("etcd create: %w", err)
	}
	if e.closed.Load() {
		return 0, fmt.Errorf("etcd create %q: %w", key, ErrClosed)
	}
	// A key that does not exist has create revision 0.
	resp, err := e.kv.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd create %q: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("etcd create %q: %w", key, ErrExists)
	}
	return resp.Header.Revision, nil
}

// Update is optimistic: it reads the key, computes fn, and writes only if
// the key's ModRevision (0 when missing) is still the one read. If another
// writer got in first, the same transaction reads the key again and fn runs
// on the new value. Each failed round means some other writer succeeded, so
// the loop makes progress; ctx bounds it.
func (e *Etcd) Update(ctx context.Context, key string, fn func(old []byte, exists bool) ([]byte, error)) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, fmt.Errorf("etcd update: %w", err)
	}
	if e.closed.Load() {
		return 0, fmt.Errorf("etcd update %q: %w", key, ErrClosed)
	}
	resp, err := e.kv.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("etcd update %q: %w", key, err)
	}
	cur := resp.Kvs
	for {
		var (
			old    []byte
			modRev int64
		)
		exists := len(cur) > 0
		if exists {
			old, modRev = cur[0].Value, cur[0].ModRevision
		}
		v, err := fn(old, exists)
		if err != nil {
			return 0, fmt.Errorf("etcd update %q: %w", key, err)
		}
		tr, err := e.kv.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(clientv3.OpPut(key, string(v))).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("etcd update %q: %w", key, err)
		}
		if tr.Succeeded {
			return tr.Header.Revision, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("etcd update %q: %w", key, err)
		}
		cur = tr.Responses[0].GetResponseRange().Kvs
	}
}

func (e *Etcd) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("etcd delete: %w", err)
	}
	if e.closed.Load() {
		return fmt.Errorf("etcd delete %q: %w", key, ErrClosed)
	}
	resp, err := e.kv.Delete(ctx, key)
	if err != nil {
		return fmt.Errorf("etcd delete %q: %w", key, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("etcd delete %q: %w", key, ErrNotFound)
	}
	return nil
}

// Watch starts the etcd watch at the revision after a read made now, rather
// than wherever the server happens to register it, so that, as with Bolt,
// every write committed after Watch returns is seen. The watch requires a
// leader: a member cut off from its cluster ends it (the channel closes and
// the caller resyncs) instead of leaving it silent.
func (e *Etcd) Watch(ctx context.Context, prefix string) (<-chan Event, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("etcd watch: %w", err)
	}
	if e.closed.Load() {
		return nil, fmt.Errorf("etcd watch %q: %w", prefix, ErrClosed)
	}
	resp, err := e.client.KV.Get(ctx, e.prefix, clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("etcd watch %q: %w", prefix, err)
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := e.watcher.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	out := make(chan Event)
	go func() {
		defer close(out)
		defer cancel()
		for wr := range wch {
			// Compaction past our revision, a lost leader, or a closed
			// client: the stream cannot go on without a gap.
			if wr.Err() != nil || wr.Canceled {
				return
			}
			for _, ev := range wr.Events {
				got := Event{Type: Put, KV: fromEtcd(ev.Kv)}
				if ev.Type == clientv3.EventTypeDelete {
					got.Type = Delete
					got.KV.Value = nil
				}
				select {
				case out <- got:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Close disconnects from the cluster, ending every watch. Later calls
// return the first call's result.
func (e *Etcd) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		if err := e.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			e.closeErr = fmt.Errorf("close etcd store: %w", err)
		}
	})
	return e.closeErr
}
