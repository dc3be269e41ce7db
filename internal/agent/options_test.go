package agent

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestOptionsArgsRoundTrip: the arguments Args builds, parsed by the flags
// BindFlags defines, give back the same options.
func TestOptionsArgsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"defaults", DefaultOptions()},
		{"lab agent", Options{Node: "r1", Listen: "unix:///tmp/x/r1/agent.sock", StateFile: "/tmp/x/r1/agent.state",
			CA: "/p/ca.pem", Cert: "/p/r1.pem", Key: "/p/r1-key.pem"}},
		{"insecure tcp", Options{Node: "r 2", Listen: "[::1]:7601", Insecure: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.o.Args()
			if args[0] != "agent" {
				t.Fatalf("args %q do not start with the subcommand", args)
			}
			got := DefaultOptions()
			f := pflag.NewFlagSet("agent", pflag.ContinueOnError)
			got.BindFlags(f)
			if err := f.Parse(args[1:]); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.o) {
				t.Errorf("round trip of %q:\n got %+v\nwant %+v", args, got, tc.o)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"ok", Options{Node: "r1", CA: "a", Cert: "b", Key: "c"}, ""},
		{"insecure", Options{Node: "r1", Insecure: true}, ""},
		{"no node", Options{Insecure: true}, "--node is required"},
		{"no key", Options{Node: "r1", CA: "a", Cert: "b"}, "--ca, --cert and --key are required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
