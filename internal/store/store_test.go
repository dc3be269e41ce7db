package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// eventTimeout bounds every wait for a watch event or a closed channel.
const eventTimeout = 10 * time.Second

// testStore is the conformance suite every backend passes. The subtests
// share s, so each keeps to keys under its own name.
func testStore(t *testing.T, s Store) {
	ctx := t.Context()

	t.Run("PutMany", func(t *testing.T) {
		var kvs []KV
		for i := 0; i < 250; i++ { // more than one etcd transaction
			kvs = append(kvs, KV{Key: fmt.Sprintf("many/%03d", i), Value: []byte(fmt.Sprint(i))})
		}
		w, err := s.Watch(ctx, "many/")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutMany(ctx, kvs); err != nil {
			t.Fatal(err)
		}
		got, err := s.List(ctx, "many/")
		if err != nil || len(got) != 250 || string(got[249].Value) != "249" {
			t.Fatalf("List after PutMany: %d keys, %v", len(got), err)
		}
		var last int64
		for i := 0; i < 250; i++ {
			ev := <-w
			// One etcd transaction is one revision: never decreasing.
			if ev.KV.Revision < last {
				t.Fatalf("event %d revision %d after %d: out of order", i, ev.KV.Revision, last)
			}
			last = ev.KV.Revision
		}
		if err := s.PutMany(ctx, []KV{{Key: "", Value: nil}}); err == nil {
			t.Error("PutMany accepted an empty key")
		}
	})

	t.Run("Missing", func(t *testing.T) {
		if _, err := s.Get(ctx, "missing/a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get missing: err %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "missing/a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete missing: err %v, want ErrNotFound", err)
		}
		kvs, err := s.List(ctx, "missing/")
		if err != nil || len(kvs) != 0 {
			t.Errorf("List missing = %v, %v; want nothing", kvs, err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		noop := func([]byte, bool) ([]byte, error) { return []byte("x"), nil }
		for _, key := range []string{"", "a\x00b", strings.Repeat("k", maxKeyLen+1)} {
			ops := map[string]error{}
			_, ops["Get"] = s.Get(ctx, key)
			_, ops["Put"] = s.Put(ctx, key, []byte("x"))
			_, ops["Create"] = s.Create(ctx, key, []byte("x"))
			_, ops["Update"] = s.Update(ctx, key, noop)
			ops["Delete"] = s.Delete(ctx, key)
			if key != "" { // "" is a valid prefix: everything
				_, ops["List"] = s.List(ctx, key)
				_, ops["Watch"] = s.Watch(ctx, key)
			}
			for op, err := range ops {
				if err == nil || !strings.Contains(err.Error(), "invalid key") {
					t.Errorf("%s(%.20q): err %v, want an invalid key error", op, key, err)
				}
			}
		}
	})

	t.Run("PutGetList", func(t *testing.T) {
		// Written out of order, with neighbours that share a prefix.
		for _, k := range []string{"list/c", "list/a", "listx/d", "lis", "list/b/1", "list/b"} {
			if _, err := s.Put(ctx, k, []byte("v:"+k)); err != nil {
				t.Fatal(err)
			}
		}
		kv, err := s.Get(ctx, "list/a")
		if err != nil || string(kv.Value) != "v:list/a" || kv.Key != "list/a" {
			t.Errorf("Get list/a = %+v, %v", kv, err)
		}
		tests := []struct {
			prefix string
			want   []string
		}{
			{"list/", []string{"list/a", "list/b", "list/b/1", "list/c"}},
			{"list/b", []string{"list/b", "list/b/1"}},
			{"list", []string{"list/a", "list/b", "list/b/1", "list/c", "listx/d"}},
			{"listy", nil},
		}
		for _, tt := range tests {
			kvs, err := s.List(ctx, tt.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tt.prefix, err)
			}
			var got []string
			for _, kv := range kvs {
				got = append(got, kv.Key)
				if string(kv.Value) != "v:"+kv.Key {
					t.Errorf("List(%q): %s = %q", tt.prefix, kv.Key, kv.Value)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("List(%q) = %q, want %q", tt.prefix, got, tt.want)
			}
		}
		all, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, kv := range all {
			keys = append(keys, kv.Key)
		}
		if !isSorted(keys) || !contains(keys, "lis") || !contains(keys, "list/c") {
			t.Errorf(`List("") = %q, want every key, sorted`, keys)
		}
		// Put replaces.
		if _, err := s.Put(ctx, "list/a", []byte("new")); err != nil {
			t.Fatal(err)
		}
		if kv, err := s.Get(ctx, "list/a"); err != nil || string(kv.Value) != "new" {
			t.Errorf("Get after second Put = %+v, %v", kv, err)
		}
	})

	t.Run("Create", func(t *testing.T) {
		rev, err := s.Create(ctx, "create/a", []byte("1"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, "create/a", []byte("2")); !errors.Is(err, ErrExists) {
			t.Errorf("second Create: err %v, want ErrExists", err)
		}
		kv, err := s.Get(ctx, "create/a")
		if err != nil || string(kv.Value) != "1" || kv.Revision != rev {
			t.Errorf("Get after Create = %+v, %v; want value 1 at revision %d", kv, err, rev)
		}
	})

	t.Run("Update", func(t *testing.T) {
		var gotOld []byte
		var gotExists bool
		rev1, err := s.Update(ctx, "update/a", func(old []byte, exists bool) ([]byte, error) {
			gotOld, gotExists = old, exists
			return []byte("created"), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if gotOld != nil || gotExists {
			t.Errorf("fn on a missing key got (%q, %v), want (nil, false)", gotOld, gotExists)
		}
		rev2, err := s.Update(ctx, "update/a", func(old []byte, exists bool) ([]byte, error) {
			if !exists || string(old) != "created" {
				return nil, fmt.Errorf("fn got (%q, %v), want (created, true)", old, exists)
			}
			return append(old, "+modified"...), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rev2 <= rev1 {
			t.Errorf("revision went %d -> %d", rev1, rev2)
		}
		_, err = s.Update(ctx, "update/a", func([]byte, bool) ([]byte, error) {
			return nil, fmt.Errorf("policy is pinned: %w", ErrAbort)
		})
		if !errors.Is(err, ErrAbort) || !strings.Contains(err.Error(), "policy is pinned") {
			t.Errorf("aborted Update: err %v, want the fn's ErrAbort error", err)
		}
		kv, err := s.Get(ctx, "update/a")
		if err != nil || string(kv.Value) != "created+modified" || kv.Revision != rev2 {
			t.Errorf("after abort Get = %+v, %v; want created+modified at revision %d", kv, err, rev2)
		}
	})

	t.Run("UpdateConcurrent", func(t *testing.T) {
		const workers, each = 8, 50
		incr := func(old []byte, exists bool) ([]byte, error) {
			n := 0
			if exists {
				var err error
				if n, err = strconv.Atoi(string(old)); err != nil {
					return nil, err
				}
			}
			return []byte(strconv.Itoa(n + 1)), nil
		}
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					if _, err := s.Update(ctx, "concurrent/n", incr); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		kv, err := s.Get(ctx, "concurrent/n")
		if err != nil || string(kv.Value) != strconv.Itoa(workers*each) {
			t.Errorf("counter = %q, %v; want %d", kv.Value, err, workers*each)
		}
	})

	t.Run("Revisions", func(t *testing.T) {
		var revs []int64
		step := func(rev int64, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			revs = append(revs, rev)
		}
		step(s.Put(ctx, "rev/a", []byte("1")))
		step(s.Put(ctx, "rev/b", []byte("1")))
		step(s.Put(ctx, "rev/a", []byte("2")))
		step(s.Create(ctx, "rev/c", []byte("1")))
		step(s.Update(ctx, "rev/b", func([]byte, bool) ([]byte, error) { return []byte("2"), nil }))
		if err := s.Delete(ctx, "rev/c"); err != nil {
			t.Fatal(err)
		}
		step(s.Put(ctx, "rev/c", []byte("2")))
		for i := 1; i < len(revs); i++ {
			if revs[i] <= revs[i-1] {
				t.Errorf("revisions do not strictly increase: %v", revs)
				break
			}
		}
		want := map[string]int64{"rev/a": revs[2], "rev/b": revs[4], "rev/c": revs[5]}
		kvs, err := s.List(ctx, "rev/")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			if kv.Revision != want[kv.Key] {
				t.Errorf("%s at revision %d, want %d (the write that last changed it)", kv.Key, kv.Revision, want[kv.Key])
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		if _, err := s.Put(ctx, "delete/a", []byte("1")); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "delete/a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "delete/a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after Delete: err %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "delete/a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Delete: err %v, want ErrNotFound", err)
		}
		// A deleted key can be created again.
		if _, err := s.Create(ctx, "delete/a", []byte("2")); err != nil {
			t.Errorf("Create after Delete: %v", err)
		}
	})

	t.Run("Watch", func(t *testing.T) {
		if _, err := s.Put(ctx, "watch/early", []byte("before the watch")); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := s.Watch(wctx, "watch/")
		if err != nil {
			t.Fatal(err)
		}
		var want []Event
		put := func(key, value string) {
			t.Helper()
			rev, err := s.Put(ctx, key, []byte(value))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(key, "watch/") {
				want = append(want, Event{Type: Put, KV: KV{Key: key, Value: []byte(value), Revision: rev}})
			}
		}
		put("watch/a", "1")
		put("watchx/a", "not watched")
		put("other", "not watched")
		put("watch/b", "2")
		rev, err := s.Update(ctx, "watch/a", func([]byte, bool) ([]byte, error) { return []byte("3"), nil })
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, Event{Type: Put, KV: KV{Key: "watch/a", Value: []byte("3"), Revision: rev}})
		if err := s.Delete(ctx, "watch/a"); err != nil {
			t.Fatal(err)
		}
		want = append(want, Event{Type: Delete, KV: KV{Key: "watch/a"}})

		for i, w := range want {
			got, ok := recv(t, ch)
			if !ok {
				t.Fatalf("event %d: channel closed, want %v", i, w)
			}
			if w.Type == Delete {
				// The delete's revision is not returned; it follows the
				// last put's.
				if got.Type != Delete || got.KV.Key != w.KV.Key || len(got.KV.Value) != 0 || got.KV.Revision <= rev {
					t.Errorf("event %d = %v, want a delete of %s after revision %d", i, got, w.KV.Key, rev)
				}
				continue
			}
			if got.Type != w.Type || got.KV.Key != w.KV.Key || !bytes.Equal(got.KV.Value, w.KV.Value) || got.KV.Revision != w.KV.Revision {
				t.Errorf("event %d = %v, want %v", i, got, w)
			}
		}
		cancel()
		if got, ok := recv(t, ch); ok {
			t.Errorf("after cancel: event %v, want the channel closed", got)
		}
	})
}

// recv waits for the next event; ok is false once ch is closed.
func recv(t *testing.T, ch <-chan Event) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(eventTimeout):
		t.Fatalf("no event or close within %v", eventTimeout)
		return Event{}, false
	}
}

func isSorted(ss []string) bool {
	for i := 1; i < len(ss); i++ {
		if ss[i-1] >= ss[i] {
			return false
		}
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    target
		wantErr string // substring; "" for success
	}{
		{in: "bolt:///var/lib/sr6/state.db", want: target{scheme: "bolt", path: "/var/lib/sr6/state.db"}},
		{in: "bolt:///tmp/with%20space.db", want: target{scheme: "bolt", path: "/tmp/with space.db"}},
		{in: "etcd://127.0.0.1:2379/sr6", want: target{scheme: "etcd", endpoints: []string{"127.0.0.1:2379"}, prefix: "/sr6/"}},
		{in: "etcd://a:2379,b:2380/sr6/", want: target{scheme: "etcd", endpoints: []string{"a:2379", "b:2380"}, prefix: "/sr6/"}},
		{in: "etcd://[::1]:2379/lab/one", want: target{scheme: "etcd", endpoints: []string{"[::1]:2379"}, prefix: "/lab/one/"}},

		{in: "", wantErr: "no scheme; want bolt:///path/to/file.db or etcd://"},
		{in: "/var/lib/sr6/state.db", wantErr: "no scheme"},
		{in: "redis://127.0.0.1:6379/0", wantErr: `unsupported scheme "redis"; want bolt:///path/to/file.db or etcd://host:port[,host:port]/prefix`},
		{in: "BOLT:///x.db", wantErr: "unsupported scheme"},
		{in: "bolt://", wantErr: "no database file"},
		{in: "bolt:///", wantErr: "no database file"},
		{in: "bolt:///var/lib/", wantErr: "no database file"},
		{in: "bolt://state.db", wantErr: "three slashes"},
		{in: "bolt:///x.db?mode=ro", wantErr: "only a path"},
		{in: "etcd://", wantErr: "no etcd endpoint"},
		{in: "etcd:///sr6", wantErr: "no etcd endpoint"},
		{in: "etcd://127.0.0.1:2379", wantErr: "no key prefix"},
		{in: "etcd://127.0.0.1:2379/", wantErr: "no key prefix"},
		{in: "etcd://127.0.0.1/sr6", wantErr: `endpoint "127.0.0.1" is not host:port`},
		{in: "etcd://:2379/sr6", wantErr: "is not host:port"},
		{in: "etcd://a:2379,,b:2379/sr6", wantErr: `endpoint "" is not host:port`},
		{in: "etcd://a:99999/sr6", wantErr: `bad port "99999"`},
		{in: "etcd://a:http/sr6", wantErr: "bad port"},
		{in: "etcd://a:2379/sr6?x=1", wantErr: "no query"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseURL(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				// Open reports the same error and returns a nil Store.
				s, oerr := Open(t.Context(), tt.in)
				if s != nil || oerr == nil || oerr.Error() != err.Error() {
					t.Errorf("Open(%q) = %v, %v; want nil, %v", tt.in, s, oerr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseURL(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestOpenBoltURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(t.Context(), "bolt://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, ok := s.(*Bolt)
	if !ok || b.Path() != path {
		t.Fatalf("Open = %T %v, want a *Bolt on %s", s, s, path)
	}
	// A missing directory is an error, not a nil Store in an interface.
	s2, err := Open(t.Context(), "bolt://"+filepath.Join(t.TempDir(), "no", "such", "dir.db"))
	if err == nil || s2 != nil {
		t.Errorf("Open in a missing directory = %v, %v; want nil and an error", s2, err)
	}
}
