package bench

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestGenOptions(t *testing.T) {
	tests := []struct {
		shape   string
		size    int
		cmdline string
		routers int
		err     string
	}{
		{"auto", 10, "gen ring --routers 10", 10, ""},
		{"auto", 100, "gen ring --routers 100", 100, ""},
		{"auto", 999, "gen ring --routers 999", 999, ""},
		{"auto", 1000, "gen grid --rows 32 --cols 32", 1024, ""},
		{"grid", 100, "gen grid --rows 10 --cols 10", 100, ""},
		{"grid", 10, "gen grid --rows 4 --cols 4", 16, ""},
		{"line", 10, "gen line --routers 10", 10, ""},
		{"star", 10, "", 0, `shape "star": allowed values: auto, ring, line, grid`},
	}
	for _, tt := range tests {
		g, cmdline, err := genOptions(tt.shape, tt.size)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("genOptions(%s, %d): error %v, want %q", tt.shape, tt.size, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("genOptions(%s, %d): %v", tt.shape, tt.size, err)
			continue
		}
		if cmdline != tt.cmdline || routerCount(g) != tt.routers {
			t.Errorf("genOptions(%s, %d) = %q, %d routers; want %q, %d", tt.shape, tt.size, cmdline, routerCount(g), tt.cmdline, tt.routers)
		}
		nw, _, err := topology(g, "bl-test")
		if err != nil {
			t.Errorf("%s: %v", cmdline, err)
		} else if got := len(nw.Nodes) - tt.routers; got != 2 {
			t.Errorf("%s: %d hosts, want 2 (one at each end)", cmdline, got)
		}
	}
}

func TestLabName(t *testing.T) {
	a, err := labName("bl", 1024)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := labName("bl", 1024)
	if !strings.HasPrefix(a, "bl-1024-") || a == b {
		t.Errorf("labName: %q then %q, want bl-1024-RANDOM, each unique", a, b)
	}
	for _, bad := range []string{"Bench", "a-very-long-prefix-for-a-lab", "x/y"} {
		if _, err := labName(bad, 10); err == nil || !strings.Contains(err.Error(), "--prefix") {
			t.Errorf("labName(%q): %v, want an error naming --prefix", bad, err)
		}
	}
}

func TestGoalsFor(t *testing.T) {
	tests := []struct {
		routers int
		want    Goals
	}{
		{10, Goals{Destroy: Seconds(5 * time.Second)}},
		{100, Goals{FullDeploy: Seconds(1500 * time.Millisecond), FullRSS: 600e6, Destroy: Seconds(5 * time.Second)}},
		{1024, Goals{FullDeploy: Seconds(20 * time.Second), FullRSS: 4e9, Destroy: Seconds(5 * time.Second), Policies: Seconds(10 * time.Second)}},
	}
	for _, tt := range tests {
		if got := goalsFor(tt.routers); got != tt.want {
			t.Errorf("goalsFor(%d) = %+v, want %+v", tt.routers, got, tt.want)
		}
	}
}

func measured(routers int, rss uint64) LabResult {
	r := LabResult{Routers: routers}
	r.Full.add(time.Second, time.Second, rss, 0, 1)
	return r
}

func TestEstimateRSS(t *testing.T) {
	tests := []struct {
		name    string
		routers int
		done    []LabResult
		want    uint64
		basis   string
	}{
		{"nothing measured", 1024, nil, 1024 * 4e6 * 5 / 4, "4 MB a router"},
		{"one size", 1000, []LabResult{measured(100, 300e6)}, 3000e6 * 5 / 4, "from 300 MB at 100 routers"},
		// 10 -> 100 MB, 100 -> 280 MB: 2 MB a router above a 80 MB base.
		{"two sizes", 1000, []LabResult{measured(10, 100e6), measured(100, 280e6)}, 2080e6 * 5 / 4, "from 100 MB at 10 and 280 MB at 100"},
		{"larger sizes ignored", 100, []LabResult{measured(10, 100e6), measured(1000, 9e9)}, 1000e6 * 5 / 4, "at 10 routers"},
		{"failed runs ignored", 100, []LabResult{{Routers: 10, Full: Run{Failed: "x"}}}, 100 * 4e6 * 5 / 4, "4 MB"},
	}
	for _, tt := range tests {
		got, basis := estimateRSS(tt.routers, tt.done)
		if got != tt.want || !strings.Contains(basis, tt.basis) {
			t.Errorf("%s: estimateRSS = %d (%s), want %d (%s)", tt.name, got, basis, tt.want, tt.basis)
		}
	}
}

func TestFullTooBig(t *testing.T) {
	free := func(n uint64) func() (uint64, error) { return func() (uint64, error) { return n, nil } }
	done := []LabResult{measured(100, 3e9)} // the agent-per-process lab: 30 MB a router
	if why := (LabOptions{MemAvailable: free(22e9)}).fullTooBig(1024, done); !strings.Contains(why, "would need about 38,400 MB") ||
		!strings.Contains(why, "MemAvailable 22,000 MB") {
		t.Errorf("1,024 routers at 30 MB each in 22 GB: %q, want a refusal with the figures", why)
	}
	if why := (LabOptions{MemAvailable: free(22e9)}).fullTooBig(1024, []LabResult{measured(100, 200e6)}); why != "" {
		t.Errorf("1,024 routers at 2 MB each in 22 GB: refused: %s", why)
	}
}

func TestAttribute(t *testing.T) {
	procs := map[int]proc{
		1: {0, "init"}, 10: {1, "sr6"}, 11: {10, "sr6"}, 12: {10, "zebra"}, 13: {12, "isisd"}, 14: {11, "sh"},
		20: {1, "bash"}, 21: {20, "sleep"},
	}
	tests := []struct {
		name  string
		roots map[int]string
		want  map[int]string
	}{
		{"supervisor only", map[int]string{10: "supervisor"}, map[int]string{10: "supervisor", 11: "supervisor", 12: "supervisor", 13: "supervisor", 14: "supervisor"}},
		{"daemons under it", map[int]string{10: "supervisor", 11: "agent", 12: "zebra"},
			map[int]string{10: "supervisor", 11: "agent", 14: "agent", 12: "zebra", 13: "zebra"}},
		{"an adopted daemon elsewhere", map[int]string{10: "supervisor", 20: "controller"},
			map[int]string{10: "supervisor", 11: "supervisor", 12: "supervisor", 13: "supervisor", 14: "supervisor", 20: "controller", 21: "controller"}},
		{"gone", map[int]string{99: "supervisor"}, map[int]string{}},
	}
	for _, tt := range tests {
		if got := attribute(procs, tt.roots); !maps.Equal(got, tt.want) {
			t.Errorf("%s: attribute = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func sample() []LabResult {
	small := LabResult{Topology: "gen ring --routers 100", Routers: 100, Hosts: 2, Links: 102, Goals: goalsFor(100), MininetVersion: "2.3.0"}
	small.Bare.add(300*time.Millisecond, 10*time.Millisecond, 0, 0, 0)
	small.Full.add(1200*time.Millisecond, 2*time.Second, 550e6, 0, 3)
	small.Mininet.add(1800*time.Millisecond, 4600*time.Millisecond, 400e6, 0, 103)
	big := LabResult{Topology: "gen grid --rows 32 --cols 32", Routers: 1024, Hosts: 2, Links: 1986, Goals: goalsFor(1024)}
	big.Bare.add(32*time.Second, 3*time.Second, 0, 0, 0)
	big.Full.Skipped = "would need about 38,400 MB"
	big.Mininet.Failed = "timed out after 10m0s"
	big.Policies = &PolicyRun{Count: 10000, Skipped: "the full deploy did not run"}
	return []LabResult{small, big}
}

func TestPrintLab(t *testing.T) {
	var b bytes.Buffer
	if err := PrintLab(&b, sample(), 3); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| `gen ring --routers 100` | 100 | 2 | 102 | 0.30 s | 0.01 s (< 5.00 s, met) | 1.20 s (< 1.50 s, met) | 2.00 s (< 5.00 s, met) | 550 MB (< 600 MB, met) | 1.80 s | 4.60 s | 400 MB |",
		"| `gen grid --rows 32 --cols 32` | 1,024 | 2 | 1,986 | 32.0 s | 3.00 s (< 5.00 s, met) | skipped [1] | — | — | failed [2] | — | — |",
		"[1] skipped: sr6 full: would need about 38,400 MB",
		"[2] failed: Mininet: timed out after 10m0s",
		"10,000 policies into `gen grid --rows 32 --cols 32`",
		"skipped: the full deploy did not run",
		"Mininet 2.3.0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	rs := sample()
	rs[0].Full = Run{}
	rs[0].Full.add(14400*time.Millisecond, 2*time.Second, 2970e6, 0, 102)
	b.Reset()
	_ = PrintLab(&b, rs, 1)
	if !strings.Contains(b.String(), "14.4 s (< 1.50 s, NOT met) | 2.00 s (< 5.00 s, met) | 2,970 MB (< 600 MB, NOT met)") {
		t.Errorf("missed goals not shown:\n%s", b.String())
	}
}

func TestWriteLabJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteLabJSON(&b, sample(), 3, time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Date    string `json:"date"`
		Results []struct {
			Routers int `json:"routers"`
			Full    struct {
				Deploy  float64 `json:"deploy_s"`
				RSS     uint64  `json:"rss_bytes"`
				Skipped string  `json:"skipped"`
			} `json:"sr6_full"`
			Mininet struct {
				Failed string `json:"failed"`
			} `json:"mininet"`
			Goals struct {
				FullDeploy float64 `json:"full_deploy_s"`
			} `json:"goals"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, b.String())
	}
	r := got.Results
	if got.Date != "2026-12-01T11:00:00Z" || len(r) != 2 || r[0].Full.Deploy != 1.2 || r[0].Full.RSS != 550e6 || r[0].Goals.FullDeploy != 1.5 ||
		r[1].Full.Skipped == "" || r[1].Mininet.Failed == "" {
		t.Errorf("JSON:\n%s", b.String())
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 38400: "38,400", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRunLabBadPrefix(t *testing.T) {
	if !isRoot() {
		t.Skip("RunLab refuses to start without root before it looks at the prefix")
	}
	_, err := RunLab(t.Context(), LabOptions{Sizes: []int{10}, Prefix: "Bad"}, nil)
	if err == nil || !strings.Contains(err.Error(), `--prefix "Bad"`) {
		t.Errorf("RunLab with prefix Bad: %v, want an error naming --prefix", err)
	}
}
