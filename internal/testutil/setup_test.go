package testutil

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The stubs below stand in for id, dpkg-query and apt-get, so the set-up
// script's decisions can be checked without installing or removing real
// packages. They use only bash builtins: PATH holds nothing but them.
const (
	stubID = `#!/bin/bash
echo "$STUB_UID"
`
	// Reports every package asked about as installed, except those in
	// STUB_MISSING (unknown to dpkg: no line, an error) and those in
	// STUB_REMOVED (known, but only its configuration is left).
	stubDpkgQuery = `#!/bin/bash
shift 2
rc=0
for p in "$@"; do
	case " $STUB_MISSING " in *" $p "*) echo "dpkg-query: no packages found matching $p" >&2; rc=1; continue ;; esac
	case " $STUB_REMOVED " in *" $p "*) echo "$p deinstall ok config-files"; continue ;; esac
	echo "$p install ok installed"
done
exit $rc
`
	stubAptGet = `#!/bin/bash
echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >>"$STUB_LOG"
`
	stubGo = `#!/bin/bash
exit 0
`
)

func TestSetupScript(t *testing.T) {
	script, err := filepath.Abs("../../scripts/setup.sh")
	if err != nil {
		t.Fatal(err)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	const lock = "-q -o DPkg::Lock::Timeout=300"
	tests := []struct {
		name     string
		groups   []string
		uid      string
		missing  string
		removed  string
		noApt    bool
		wantCode int
		wantApt  []string // apt-get calls, in order
		wantErr  []string // substrings of stderr
	}{
		{name: "all present: no apt call", groups: []string{"test"}, uid: "0"},
		{name: "all present, not root: nothing to do", groups: []string{"demo"}, uid: "1000"},
		{
			name: "missing: one install of exactly those", groups: []string{"test"}, uid: "0", missing: "frr iperf3",
			wantApt: []string{
				"DEBIAN_FRONTEND=noninteractive " + lock + " update",
				"DEBIAN_FRONTEND=noninteractive " + lock + " install -y --no-install-recommends frr iperf3",
			},
		},
		{
			name: "only config files left counts as missing", groups: []string{"demo"}, uid: "0", removed: "tcpdump",
			wantApt: []string{
				"DEBIAN_FRONTEND=noninteractive " + lock + " update",
				"DEBIAN_FRONTEND=noninteractive " + lock + " install -y --no-install-recommends tcpdump",
			},
		},
		{
			name: "a group asks only for its own packages", groups: []string{"demo"}, uid: "0", missing: "frr tcpdump",
			wantApt: []string{
				"DEBIAN_FRONTEND=noninteractive " + lock + " update",
				"DEBIAN_FRONTEND=noninteractive " + lock + " install -y --no-install-recommends tcpdump",
			},
		},
		{
			name: "groups together, each package once", groups: []string{"demo", "test", "bench"}, uid: "0", missing: "mininet nftables",
			wantApt: []string{
				"DEBIAN_FRONTEND=noninteractive " + lock + " update",
				"DEBIAN_FRONTEND=noninteractive " + lock + " install -y --no-install-recommends nftables mininet",
			},
		},
		{
			name: "not root: the exact command, no apt call", groups: []string{"demo"}, uid: "1000", missing: "iputils-ping tcpdump",
			wantCode: 1,
			wantErr: []string{
				"missing: iputils-ping tcpdump",
				"sudo apt-get update && sudo apt-get install -y --no-install-recommends iputils-ping tcpdump\n",
				"sudo make demo\n",
			},
		},
		{
			name: "no apt-get: a clear message", groups: []string{"test"}, uid: "0", missing: "etcd-server", noApt: true,
			wantCode: 1,
			wantErr:  []string{"missing: etcd-server", "this machine has no apt-get", "run make test again"},
		},
		{name: "unknown group", groups: []string{"everything"}, uid: "0", wantCode: 2, wantErr: []string{"unknown group everything; allowed: demo, test, bench, gen"}},
		{name: "no group", uid: "0", wantCode: 2, wantErr: []string{"usage:"}},
		{
			name: "gen: the code generators", groups: []string{"gen"}, uid: "1000", missing: "clang protobuf-compiler",
			wantCode: 1,
			wantErr:  []string{"sudo apt-get install -y --no-install-recommends protobuf-compiler clang\n", "sudo make proto bpf\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			stubs := map[string]string{"id": stubID, "dpkg-query": stubDpkgQuery, "go": stubGo}
			if !tc.noApt {
				stubs["apt-get"] = stubAptGet
			}
			for name, body := range stubs {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			aptLog := filepath.Join(t.TempDir(), "apt.log")
			cmd := exec.Command(bash, append([]string{script}, tc.groups...)...)
			cmd.Env = []string{
				"PATH=" + dir, "STUB_UID=" + tc.uid, "STUB_MISSING=" + tc.missing,
				"STUB_REMOVED=" + tc.removed, "STUB_LOG=" + aptLog,
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, &stdout, &stderr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, &stderr)
				}
			}
			if tc.wantErr == nil && stderr.Len() > 0 {
				t.Errorf("unexpected stderr:\n%s", &stderr)
			}
			raw, err := os.ReadFile(aptLog)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			var calls []string
			if len(raw) > 0 {
				calls = strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
			}
			if strings.Join(calls, "\n") != strings.Join(tc.wantApt, "\n") {
				t.Errorf("apt-get calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(tc.wantApt, "\n"))
			}
		})
	}
}
