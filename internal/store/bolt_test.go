package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTestBolt(t *testing.T, path string) *Bolt {
	t.Helper()
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestBolt(t *testing.T) {
	testStore(t, openTestBolt(t, filepath.Join(t.TempDir(), "state.db")))
}

func TestBoltReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "policy/a", []byte("A")); err != nil {
		t.Fatal(err)
	}
	last, err := b.Put(ctx, "policy/b", []byte("B"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTestBolt(t, path)
	kvs, err := b.List(ctx, "policy/")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 2 || string(kvs[0].Value) != "A" || string(kvs[1].Value) != "B" || kvs[1].Revision != last {
		t.Fatalf("after reopen List = %+v, want a=A, b=B at revision %d", kvs, last)
	}
	// The revision counter is stored too: it goes on from where it was.
	rev, err := b.Put(ctx, "policy/c", []byte("C"))
	if err != nil || rev <= last {
		t.Errorf("Put after reopen = %d, %v; want a revision above %d", rev, err, last)
	}
}

func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	first := openTestBolt(t, path)

	start := time.Now()
	second, err := OpenBolt(path)
	took := time.Since(start)
	if err == nil {
		_ = second.Close()
		t.Fatal("second OpenBolt on an open file succeeded")
	}
	if !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q should say the file %s is locked", err, path)
	}
	if took > lockTimeout+5*time.Second {
		t.Errorf("second OpenBolt took %v, want about %v", took, lockTimeout)
	}

	// Once the first is closed the file opens again.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openTestBolt(t, path)
}

// TestBoltSlowWatcher: a watcher that stops reading is dropped once its
// buffer is full, without blocking writers or other watchers.
func TestBoltSlowWatcher(t *testing.T) {
	ctx := t.Context()
	b := openTestBolt(t, filepath.Join(t.TempDir(), "state.db"))
	slow, err := b.Watch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	fast, err := b.Watch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	// The fast watcher acknowledges each event before the next write, so it
	// never falls behind however the goroutines are scheduled.
	const n = watchBuffer + 10
	ack := make(chan string)
	go func() {
		for ev := range fast {
			ack <- ev.KV.Key
		}
		close(ack)
	}()
	for i := range n {
		key := fmt.Sprintf("k/%05d", i)
		if _, err := b.Put(ctx, key, []byte("v")); err != nil {
			t.Fatal(err)
		}
		select {
		case got, ok := <-ack:
			if !ok || got != key {
				t.Fatalf("fast watcher got %q (open %v), want %s", got, ok, key)
			}
		case <-time.After(eventTimeout):
			t.Fatalf("fast watcher: no event for %s within %v", key, eventTimeout)
		}
	}
	got := 0
	for ev := range slow {
		if want := fmt.Sprintf("k/%05d", got); ev.KV.Key != want {
			t.Fatalf("slow watcher event %d is %s, want %s", got, ev.KV.Key, want)
		}
		got++
	}
	if got != watchBuffer || ctx.Err() != nil {
		t.Errorf("slow watcher got %d events then close (ctx %v), want %d with ctx live", got, ctx.Err(), watchBuffer)
	}
}

func TestBoltClose(t *testing.T) {
	ctx := t.Context()
	b, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := b.Watch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if ev, ok := recv(t, ch); ok {
		t.Errorf("watch after Close sent %v, want closed", ev)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, perr := b.Put(ctx, "k", []byte("v"))
	_, gerr := b.Get(ctx, "k")
	_, werr := b.Watch(ctx, "")
	for _, err := range []error{perr, gerr, werr} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call after Close: err %v, want %v", err, ErrClosed)
		}
	}
}
