package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/testutil"
)

// Every command that takes a lab name refuses one that breaks the rule,
// before it reads or writes anything: such a name could lead outside the
// state directory (a "/" or "..") or onto another lab's namespaces (a ".").
func TestBadLabNames(t *testing.T) {
	names := []string{
		"x/../../..", "../x", "/etc", "a/b", "a.b", ".", "..", "", "Upper", "-lead", "_lead", "a b", "tab\tx",
		"a\x00b", "ünï", strings.Repeat("a", 25),
	}
	// Positional names follow "--", so that "-lead" reaches the command
	// instead of the flag parser; an empty --lab means "no lab", not a
	// name, so flags are not given "".
	commands := []struct {
		name string
		flag bool
		args func(lab string) []string
	}{
		{"lab destroy", false, func(l string) []string { return []string{"lab", "destroy", "--", l} }},
		{"lab inspect", false, func(l string) []string { return []string{"lab", "inspect", "--", l} }},
		{"lab inspect --json", false, func(l string) []string { return []string{"lab", "inspect", "--json", "--", l} }},
		{"lab exec", false, func(l string) []string { return []string{"lab", "exec", "--", l, "r1", "true"} }},
		{"lab srv6 add", false, func(l string) []string {
			return []string{"lab", "srv6", "add", "--from", "h1", "--to", "h2", "--", l, "p"}
		}},
		{"lab srv6 del", false, func(l string) []string { return []string{"lab", "srv6", "del", "--", l, "p"} }},
		{"lab srv6 list", false, func(l string) []string { return []string{"lab", "srv6", "list", "--", l} }},
		{"policy list --lab", true, func(l string) []string { return []string{"policy", "list", "--lab", l} }},
		{"policy add --lab", true, func(l string) []string {
			return []string{"policy", "add", "p", "--lab", l, "--from", "h1", "--to", "h2"}
		}},
		{"policy del --lab", true, func(l string) []string { return []string{"policy", "del", "p", "--lab", l} }},
		{"pm list --lab", true, func(l string) []string { return []string{"pm", "list", "--lab", l} }},
		{"pm show --lab", true, func(l string) []string { return []string{"pm", "show", "s", "--lab", l} }},
		{"topo show --lab", true, func(l string) []string { return []string{"topo", "show", "--lab", l} }},
		{"controller --lab", true, func(l string) []string { return []string{"controller", "--lab", l, "--listen", "127.0.0.1:0"} }},
	}
	for _, c := range commands {
		for _, name := range names {
			if c.flag && name == "" {
				continue
			}
			t.Run(c.name+"/"+name, func(t *testing.T) {
				state := filepath.Join(t.TempDir(), "state")
				args := append([]string{"--state-dir", state}, c.args(name)...)
				code, _, stderr := run(t, args...)
				if code == 0 {
					t.Fatalf("exit 0 for lab name %q", name)
				}
				if !strings.Contains(stderr, "is not a lab name: "+"1 to 24 of a-z 0-9 _ -, starting with a letter or digit") {
					t.Errorf("stderr does not name the rule:\n%s", stderr)
				}
				if _, err := os.Stat(state); !os.IsNotExist(err) {
					t.Errorf("state directory touched for a refused name: %v", err)
				}
			})
		}
	}
}

// The exploit: `lab destroy 'x/../../..'` used to resolve to a folder two
// levels above the state directory, remove it because it held a
// state.json, and delete the namespaces that file listed.
func TestDestroyRefusesPathEscape(t *testing.T) {
	testutil.RequirePrivileged(t)
	foreign := t.TempDir()
	state := filepath.Join(foreign, "a", "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	ns := foreignNamespace(t, testutil.UniqueName("sr6foreign"))
	writeState(t, filepath.Join(foreign, "state.json"), "x", ns)

	code, _, stderr := run(t, "lab", "destroy", "x/../../..", "--state-dir", state)
	if code == 0 {
		t.Errorf("destroy of x/../../.. exited 0")
	}
	if !strings.Contains(stderr, `"x/../../.." is not a lab name`) {
		t.Errorf("stderr does not say why:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(foreign, "state.json")); err != nil {
		t.Errorf("foreign folder damaged: %v", err)
	}
	if !nsutil.Exists(ns) {
		t.Errorf("foreign namespace %s deleted", ns)
	}
}

// A lab's state file may list only "<lab>.<node>" namespaces: destroy
// leaves any other it finds there, says so, and still destroys the lab.
func TestDestroyLeavesForeignNamespaces(t *testing.T) {
	testutil.RequirePrivileged(t)
	state := t.TempDir()
	name := testutil.UniqueName("t")
	foreign := foreignNamespace(t, testutil.UniqueName("sr6foreign"))
	other := foreignNamespace(t, testutil.UniqueName("t")+".r1") // another lab's, by its name
	writeState(t, filepath.Join(state, name, "state.json"), name, foreign, other, name+".r1")

	code, _, stderr := run(t, "lab", "destroy", name, "--state-dir", state)
	if code != 0 {
		t.Fatalf("destroy exited %d:\n%s", code, stderr)
	}
	for _, ns := range []string{foreign, other} {
		if !nsutil.Exists(ns) {
			t.Errorf("namespace %s, not this lab's, was deleted", ns)
		}
		if !strings.Contains(stderr, `namespace "`+ns+`", which is not named `+name+`.<node>: left alone`) {
			t.Errorf("no warning about %s:\n%s", ns, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(state, name)); !os.IsNotExist(err) {
		t.Errorf("lab folder left: %v", err)
	}
}

// foreignNamespace creates namespace ns, which the lab under test has no
// claim on, and deletes it when the test ends.
func foreignNamespace(t *testing.T, ns string) string {
	t.Helper()
	if err := nsutil.Create(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if nsutil.Exists(ns) {
			_ = nsutil.Delete(ns)
		}
	})
	return ns
}

func writeState(t *testing.T, path, name string, namespaces ...string) {
	t.Helper()
	data, err := json.Marshal(lab.State{Name: name, Phase: lab.PhaseRunning, Namespaces: namespaces})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
