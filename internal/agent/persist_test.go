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
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		body, err := readStateFile(data)
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

// TestStateFileFormat: what persist writes in place reads back whole,
// also when a longer state was there before, an older bare state file is
// still read, and a torn or cut one is refused.
func TestStateFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.state")
	if err := writeStateFile(path, []byte("a much longer previous state")); err != nil {
		t.Fatal(err)
	}
	if err := writeStateFile(path, []byte("short")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header := len(stateMagic) + 8
	torn := append([]byte(nil), data...)
	torn[len(torn)-1] ^= 1
	tests := []struct {
		name    string
		data    []byte
		want    string
		wantErr string
	}{
		{"rewritten in place", data, "short", ""},
		{"a kill before the cut: trailing bytes", append(append([]byte(nil), data...), "junk"...), "short", ""},
		{"older bare format", []byte("\x08\x01"), "\x08\x01", ""},
		{"torn", torn, "", "checksum"},
		{"cut short", data[:header+2], "", "holds 2 of its 5 bytes"},
		{"header cut", data[:len(stateMagic)+3], "", "header cut short"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readStateFile(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("read = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
