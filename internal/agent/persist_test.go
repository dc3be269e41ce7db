package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
)

// TestPersistCoalescesBursts: the first state of a burst is written at
// once, the later ones once at the end of the spacing (or at Flush), and
// the file always holds a whole state.
func TestPersistCoalescesBursts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent.state")
	s := NewServer(Config{Node: "r1", Insecure: true, StateFile: file})
	state := func(gen uint64) *agentv1.DesiredState { return &agentv1.DesiredState{Generation: gen} }
	saved := func() uint64 {
		t.Helper()
		f := stateFile{path: file}
		body, err := f.read()
		if err != nil {
			t.Fatal(err)
		}
		var st agentv1.DesiredState
		if err := proto.Unmarshal(body, &st); err != nil {
			t.Fatalf("state file: %v", err)
		}
		return st.Generation
	}
	push := func(gen uint64) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.persistSoon(state(gen))
	}
	push(1)
	if got := saved(); got != 1 {
		t.Fatalf("after the first push: generation %d on disk, want 1", got)
	}
	push(2)
	push(3)
	if got := saved(); got != 1 {
		t.Fatalf("within the spacing: generation %d on disk, want 1 until it ends", got)
	}
	deadline := time.Now().Add(5 * persistSpacing)
	for saved() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("generation %d on disk after the spacing, want 3", saved())
		}
		time.Sleep(persistSpacing / 10)
	}
	// Flush writes what is pending at once (the agent stopping).
	push(4)
	push(5)
	s.Flush()
	if got := saved(); got != 5 {
		t.Fatalf("after Flush: generation %d on disk, want 5", got)
	}
}

// TestStateFileSlots: a state reads back as written, from either slot;
// a write cut short (over a longer old one), or an empty slot, costs
// that write only; an older bare file is read; nothing readable is an
// error, nothing at all no state.
func TestStateFileSlots(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.state")
	w := stateFile{path: path}
	for _, body := range []string{"first, a long state", "second", "third state"} {
		if err := w.write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	// Sequence 3, the third, is odd: it went to the slot at path.
	newest, older := path, path+".1"
	read := func() (string, error) {
		t.Helper()
		f := stateFile{path: path}
		b, err := f.read()
		return string(b), err
	}
	if got, err := read(); err != nil || got != "third state" {
		t.Fatalf("read = %q, %v; want the third", got, err)
	}
	good, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		newest  []byte // what the newest slot holds then
		older   []byte // nil: as written
		want    string
		wantErr string
	}{
		{"a kill before the cut: trailing bytes", append(append([]byte(nil), good...), "old tail"...), nil, "third state", ""},
		{"cut short: the slot before", good[:stateHeader+3], nil, "second", ""},
		{"torn: the slot before", append(append([]byte(nil), good[:len(good)-1]...), 'X'), nil, "second", ""},
		{"empty: the slot before", []byte{}, nil, "second", ""},
		{"nothing readable", []byte(stateMagic + "x"), []byte("garbage"), "", "header cut short"},
		{"older bare format (the other slot unreadable)", []byte("\x08\x01"), nil, "\x08\x01", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(newest)
			if tc.newest != nil {
				put(newest, tc.newest)
			}
			if tc.older != nil {
				put(older, tc.older)
			}
			got, err := read()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("read = %q, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("read = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	for _, f := range StateFiles(path) {
		os.Remove(f)
	}
	if got, err := read(); err != nil || got != "" {
		t.Fatalf("no files: %q, %v; want no state", got, err)
	}
	// A write after a read goes to the other slot than the newest.
	put(path, []byte("\x08\x01"))
	f := stateFile{path: path}
	if _, err := f.read(); err != nil {
		t.Fatal(err)
	}
	if err := f.write([]byte("next")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "\x08\x01" {
		t.Errorf("the write went over the slot it was read from: %q", data)
	}
	if got, err := read(); err != nil || got != "next" {
		t.Errorf("after the write: %q, %v", got, err)
	}
}
