package nsutil

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/testutil"
)

func threadNetns() (uint64, error) {
	var st unix.Stat_t
	err := unix.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), &st)
	return st.Ino, err
}

// TestDoPath: fn runs in the namespace asked for ("" in the caller's), its
// error comes back, and the caller stays where it was.
func TestDoPath(t *testing.T) {
	testutil.RequirePrivileged(t)
	// This thread's namespace, read before Create: not /proc/self's, the
	// main thread's, which Create may leave parked for good in the new
	// namespace (a locked goroutine that ends on the main thread parks it,
	// as the Go runtime cannot end that thread).
	var self unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &self); err != nil {
		t.Fatal(err)
	}
	name := testutil.UniqueName("sr6ns")
	t.Cleanup(func() {
		if err := Delete(name); err != nil {
			t.Error(err)
		}
	})
	if err := Create(name); err != nil {
		t.Fatal(err)
	}
	var target unix.Stat_t
	if err := unix.Stat(Path(name), &target); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	tests := []struct {
		name    string
		path    string
		fail    error
		wantIno uint64
		wantErr string
	}{
		{"the caller's", "", nil, self.Ino, ""},
		{"another", Path(name), nil, target.Ino, ""},
		{"fn fails", Path(name), boom, target.Ino, "boom"},
		{"no such namespace", Path(name + "-missing"), nil, 0, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got uint64
			err := DoPath(tc.path, func() error {
				var err error
				if got, err = threadNetns(); err != nil {
					return err
				}
				return tc.fail
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DoPath: %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.wantIno != 0 && got != tc.wantIno {
				t.Errorf("fn ran in namespace %d, want %d", got, tc.wantIno)
			}
			if now, err := threadNetns(); err != nil || now != self.Ino {
				t.Errorf("the caller's thread is in namespace %d (%v), want %d", now, err, self.Ino)
			}
		})
	}
}
