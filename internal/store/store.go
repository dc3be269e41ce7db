package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Errors callers test with errors.Is; the returned errors wrap them with the
// operation and key.
var (
	// ErrNotFound: Get or Delete found no such key.
	ErrNotFound = errors.New("key not found")
	// ErrExists: Create found the key already there.
	ErrExists = errors.New("key already exists")
	// ErrAbort is what an Update fn wraps to give up without writing; Update
	// then returns the fn's error, so errors.Is(err, ErrAbort) holds.
	ErrAbort = errors.New("update aborted")
	// ErrClosed: the store was used after Close.
	ErrClosed = errors.New("store is closed")
)

// KV is one key with its value and the revision of its last change.
type KV struct {
	Key   string
	Value []byte
	// Revision is the store-wide revision of the write that last changed
	// the key (for a Delete event, of the delete itself).
	Revision int64
}

// EventType tells what a watched change did.
type EventType int

const (
	Put EventType = iota
	Delete
)

func (t EventType) String() string {
	switch t {
	case Put:
		return "put"
	case Delete:
		return "delete"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is one change seen by Watch. A Delete event carries the key and the
// delete's revision, and no value.
type Event struct {
	Type EventType
	KV   KV
}

// Store is the controller's persistent key-value state. All methods are
// safe for concurrent use. Revisions are store-wide: every successful write
// returns one greater than any returned before it.
type Store interface {
	// Get returns the key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns every key starting with prefix (all keys for ""),
	// sorted bytewise by key.
	List(ctx context.Context, prefix string) ([]KV, error)
	// Put sets the key and returns the write's revision.
	Put(ctx context.Context, key string, value []byte) (int64, error)
	// PutMany writes several keys at once (one transaction in bbolt,
	// transactions of putManyChunk keys in etcd) and returns once they are
	// durable: bulk writers pay one commit, not one per key.
	PutMany(ctx context.Context, kvs []KV) error
	// Create sets the key only if it is missing, atomically; otherwise it
	// returns an error wrapping ErrExists.
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Update replaces the key's value with fn(old, exists) atomically and
	// returns the write's revision. fn gets (nil, false) for a missing key.
	// If fn returns an error (wrap ErrAbort to abort on purpose), nothing is
	// written and Update returns that error. fn may run more than once (etcd
	// retries it when another writer got in first), so it must have no side
	// effects, and it must not call the store (bbolt runs it inside the write
	// transaction).
	Update(ctx context.Context, key string, fn func(old []byte, exists bool) ([]byte, error)) (int64, error)
	// Delete removes the key, or returns an error wrapping ErrNotFound.
	Delete(ctx context.Context, key string) error
	// Watch streams, in commit order, every change under prefix committed
	// after Watch returns, until ctx ends; the channel is closed then. It is
	// also closed early when the watch cannot go on (a subscriber too slow to
	// keep up, a lost etcd watch, Close): a caller that finds it closed while
	// its ctx is still live has missed changes, and should List and Watch
	// again.
	Watch(ctx context.Context, prefix string) (<-chan Event, error)
	// Close releases the store; open watches are closed.
	Close() error
}

// maxKeyLen bounds keys well under both backends' limits (bbolt: 32 KiB;
// etcd: a 1.5 MiB request), so a key valid in one store is valid in the
// other and state can move between them.
const maxKeyLen = 4096

// checkKey enforces the key rules: non-empty, no NUL (etcd's namespacing and
// range ends use it as a sentinel), at most maxKeyLen bytes.
func checkKey(key string) error {
	if key == "" {
		return errors.New("invalid key: empty")
	}
	return checkPrefix(key)
}

// checkPrefix is checkKey for List and Watch prefixes, where "" means all.
func checkPrefix(p string) error {
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("invalid key %q: contains NUL", p)
	}
	if len(p) > maxKeyLen {
		return fmt.Errorf("invalid key %.32q...: %d bytes, more than %d", p, len(p), maxKeyLen)
	}
	return nil
}

// URL schemes Open accepts, for its error messages.
const schemes = "bolt:///path/to/file.db or etcd://host:port[,host:port]/prefix"

// DefaultDialTimeout is how long Open waits for an etcd cluster to answer.
const DefaultDialTimeout = 5 * time.Second

// target is a parsed store URL.
type target struct {
	scheme    string // "bolt" or "etcd"
	path      string // bolt: the database file
	endpoints []string
	prefix    string // etcd: namespace, ending in "/"
}

// parseURL reads "bolt:///path/to/file.db" or
// "etcd://host:port[,host:port]/prefix". The etcd form is split by hand:
// a comma-separated host list is not a URL host net/url promises to keep.
func parseURL(raw string) (target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return target{}, fmt.Errorf("store URL %q: no scheme; want %s", raw, schemes)
	}
	switch scheme {
	case "bolt":
		u, err := url.Parse(raw)
		if err != nil {
			return target{}, fmt.Errorf("store URL %q: %w; want %s", raw, err, schemes)
		}
		if u.Host != "" {
			return target{}, fmt.Errorf("store URL %q: bolt takes an absolute path, not a host %q: write bolt:///path/to/file.db (three slashes)", raw, u.Host)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return target{}, fmt.Errorf("store URL %q: bolt takes only a path; want bolt:///path/to/file.db", raw)
		}
		if u.Path == "" || u.Path == "/" || strings.HasSuffix(u.Path, "/") {
			return target{}, fmt.Errorf("store URL %q: no database file; want bolt:///path/to/file.db", raw)
		}
		return target{scheme: scheme, path: u.Path}, nil
	case "etcd":
		hosts, path, _ := strings.Cut(rest, "/")
		if hosts == "" {
			return target{}, fmt.Errorf("store URL %q: no etcd endpoint; want etcd://host:port[,host:port]/prefix", raw)
		}
		var eps []string
		for h := range strings.SplitSeq(hosts, ",") {
			host, port, err := net.SplitHostPort(h)
			if err != nil || host == "" {
				return target{}, fmt.Errorf("store URL %q: endpoint %q is not host:port", raw, h)
			}
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return target{}, fmt.Errorf("store URL %q: endpoint %q: bad port %q", raw, h, port)
			}
			eps = append(eps, h)
		}
		if strings.ContainsAny(path, "?#") {
			return target{}, fmt.Errorf("store URL %q: etcd takes no query or fragment", raw)
		}
		path = strings.Trim(path, "/")
		if path == "" {
			// Required so controllers never write at the root of a cluster
			// other programs may share.
			return target{}, fmt.Errorf("store URL %q: no key prefix; want etcd://host:port/prefix, e.g. etcd://127.0.0.1:2379/sr6", raw)
		}
		return target{scheme: scheme, endpoints: eps, prefix: "/" + path + "/"}, nil
	}
	return target{}, fmt.Errorf("store URL %q: unsupported scheme %q; want %s", raw, scheme, schemes)
}

// Open opens the store a URL names: "bolt:///path/to/file.db" for an
// embedded database, "etcd://host:port[,host:port]/prefix" for keys under
// "/prefix/" on an etcd cluster (waiting DefaultDialTimeout at most).
func Open(ctx context.Context, rawURL string) (Store, error) {
	t, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	// Each branch returns nil explicitly on error: a nil *Bolt or *Etcd in
	// a Store would not compare equal to nil.
	if t.scheme == "bolt" {
		b, err := OpenBolt(t.path)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	e, err := OpenEtcd(ctx, t.endpoints, t.prefix, DefaultDialTimeout)
	if err != nil {
		return nil, err
	}
	return e, nil
}
