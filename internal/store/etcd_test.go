package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/testutil"
)

// TestEtcd runs everything that needs a real etcd server against one
// server, started for the test from Debian's etcd-server package.
func TestEtcd(t *testing.T) {
	ep := testutil.StartEtcd(t)
	ctx := t.Context()

	t.Run("Conformance", func(t *testing.T) {
		testStore(t, openTestEtcd(t, ep, "/"+testutil.UniqueName("conf")))
	})

	t.Run("TwoControllers", func(t *testing.T) {
		prefix := "/" + testutil.UniqueName("shared")
		a := openTestEtcd(t, ep, prefix)
		b := openTestEtcd(t, ep, prefix)
		other := openTestEtcd(t, ep, prefix+"x") // a neighbouring namespace
		wa, err := a.Watch(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		wb, err := b.Watch(ctx, "policy/")
		if err != nil {
			t.Fatal(err)
		}

		// A writes, B reads it and sees the event.
		revA, err := a.Put(ctx, "policy/p1", []byte("via r2"))
		if err != nil {
			t.Fatal(err)
		}
		if kv, err := b.Get(ctx, "policy/p1"); err != nil || string(kv.Value) != "via r2" || kv.Revision != revA {
			t.Errorf("B Get = %+v, %v; want A's write at revision %d", kv, err, revA)
		}
		expectEvent(t, "B", wb, Put, "policy/p1", "via r2")
		expectEvent(t, "A", wa, Put, "policy/p1", "via r2")

		// B updates on top of A's value; A sees it.
		revB, err := b.Update(ctx, "policy/p1", func(old []byte, _ bool) ([]byte, error) {
			return append(old, ",r3"...), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if revB <= revA {
			t.Errorf("B's revision %d is not above A's %d: revisions are not shared", revB, revA)
		}
		if kv, err := a.Get(ctx, "policy/p1"); err != nil || string(kv.Value) != "via r2,r3" {
			t.Errorf("A Get = %+v, %v; want B's update", kv, err)
		}
		expectEvent(t, "A", wa, Put, "policy/p1", "via r2,r3")
		expectEvent(t, "B", wb, Put, "policy/p1", "via r2,r3")

		// Create is atomic across controllers.
		if _, err := a.Create(ctx, "leader", []byte("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create(ctx, "leader", []byte("b")); !errors.Is(err, ErrExists) {
			t.Errorf("B Create of A's key: err %v, want ErrExists", err)
		}
		expectEvent(t, "A", wa, Put, "leader", "a")

		// A neighbouring prefix shares nothing, though its keys sort
		// right after ours on the server.
		if _, err := other.Get(ctx, "policy/p1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("other namespace Get: err %v, want ErrNotFound", err)
		}
		if _, err := other.Put(ctx, "policy/p1", []byte("elsewhere")); err != nil {
			t.Fatal(err)
		}
		if kvs, err := a.List(ctx, ""); err != nil || len(kvs) != 2 {
			t.Errorf("A List all = %+v, %v; want policy/p1 and leader only", kvs, err)
		}

		// B deletes; A sees the delete, and nothing from the other
		// namespace came in between.
		if err := b.Delete(ctx, "policy/p1"); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, "A", wa, Delete, "policy/p1", "")
		expectEvent(t, "B", wb, Delete, "policy/p1", "")
	})

	t.Run("OpenURL", func(t *testing.T) {
		prefix := testutil.UniqueName("url")
		s, err := Open(ctx, "etcd://"+ep+"/"+prefix)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		e, ok := s.(*Etcd)
		if !ok || e.Prefix() != "/"+prefix+"/" {
			t.Fatalf("Open = %T, want an *Etcd on /%s/", s, prefix)
		}
		if _, err := s.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		// The same state through OpenEtcd with the prefix as written.
		if kv, err := openTestEtcd(t, ep, "/"+prefix).Get(ctx, "k"); err != nil || string(kv.Value) != "v" {
			t.Errorf("Get through OpenEtcd = %+v, %v", kv, err)
		}
	})

	t.Run("Close", func(t *testing.T) {
		s, err := OpenEtcd(ctx, []string{ep}, "/"+testutil.UniqueName("close"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := s.Watch(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if ev, ok := recv(t, ch); ok {
			t.Errorf("watch after Close sent %v, want closed", ev)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		_, perr := s.Put(ctx, "k", []byte("v"))
		_, gerr := s.Get(ctx, "k")
		_, werr := s.Watch(ctx, "")
		for _, err := range []error{perr, gerr, werr} {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("call after Close: err %v, want %v", err, ErrClosed)
			}
		}
	})
}

// TestOpenEtcdUnreachable: a wrong address fails at open, within the dial
// timeout, saying where it tried. No server is needed.
func TestOpenEtcdUnreachable(t *testing.T) {
	ep := "127.0.0.1:" + testutil.FreePort(t) // nothing listens there
	start := time.Now()
	s, err := OpenEtcd(t.Context(), []string{ep}, "/sr6", 500*time.Millisecond)
	if err == nil {
		_ = s.Close()
		t.Fatalf("OpenEtcd on %s with no server succeeded", ep)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("OpenEtcd took %v with a 500ms dial timeout", took)
	}
	if !strings.Contains(err.Error(), ep) || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("error %q should name %s and say it got no answer", err, ep)
	}
	if _, err := OpenEtcd(t.Context(), []string{ep}, "", time.Second); err == nil || !strings.Contains(err.Error(), "no key prefix") {
		t.Errorf("OpenEtcd with no prefix: err %v, want a no key prefix error", err)
	}
	if _, err := OpenEtcd(t.Context(), nil, "/sr6/", time.Second); err == nil || !strings.Contains(err.Error(), "no endpoints") {
		t.Errorf("OpenEtcd with no endpoints: err %v, want a no endpoints error", err)
	}
}

func openTestEtcd(t *testing.T, ep, prefix string) *Etcd {
	t.Helper()
	s, err := OpenEtcd(t.Context(), []string{ep}, prefix, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// expectEvent checks the next event on who's watch; a delete carries no
// value, so pass "" for one.
func expectEvent(t *testing.T, who string, ch <-chan Event, typ EventType, key, value string) {
	t.Helper()
	ev, ok := recv(t, ch)
	if !ok {
		t.Fatalf("%s: watch closed, want %v %s", who, typ, key)
	}
	if ev.Type != typ || ev.KV.Key != key || string(ev.KV.Value) != value {
		t.Errorf("%s: event %v %s=%q, want %v %s=%q", who, ev.Type, ev.KV.Key, ev.KV.Value, typ, key, value)
	}
}
