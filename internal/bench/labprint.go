package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// LabReport is the lab benchmark's JSON output.
type LabReport struct {
	Date    time.Time   `json:"date"`
	Repeat  int         `json:"repeat"` // runs per size below GridFrom routers; one from it
	Results []LabResult `json:"results"`
}

// WriteLabJSON writes the results as one JSON document.
func WriteLabJSON(w io.Writer, rs []LabResult, repeat int, now time.Time) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(LabReport{Date: now.UTC(), Repeat: repeat, Results: rs})
}

func secs(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

func mb(b uint64) string {
	return fmt.Sprintf("%s MB", thousands(int64((b+500_000)/1_000_000)))
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// withGoal is a figure with its goal beside it: "1.20 s (< 1.5 s, met)".
func withGoal(value string, met bool, goal string) string {
	if goal == "" {
		return value
	}
	verdict := "met"
	if !met {
		verdict = "NOT met"
	}
	return fmt.Sprintf("%s (< %s, %s)", value, goal, verdict)
}

// notes numbers the reasons for the cells that hold no figure.
type notes []string

func (n *notes) ref(kind, why string) string {
	*n = append(*n, fmt.Sprintf("%s: %s", kind, why))
	return fmt.Sprintf("%s [%d]", kind, len(*n))
}

// cells are a run's deploy, destroy and RSS cells: figures with their
// goals, or why there are none.
func (n *notes) cells(r Run, tool string, deployGoal, destroyGoal time.Duration, rssGoal uint64, withRSS bool) []string {
	var why string
	switch {
	case r.Failed != "":
		why = n.ref("failed", tool+": "+r.Failed)
	case r.Skipped != "":
		why = n.ref("skipped", tool+": "+r.Skipped)
	case r.Runs == 0:
		why = "—"
	}
	if why != "" {
		out := []string{why, "—"}
		if withRSS {
			out = append(out, "—")
		}
		return out
	}
	goal := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return secs(d)
	}
	out := []string{
		withGoal(secs(time.Duration(r.Deploy)), time.Duration(r.Deploy) < deployGoal, goal(deployGoal)),
		withGoal(secs(time.Duration(r.Destroy)), time.Duration(r.Destroy) < destroyGoal, goal(destroyGoal)),
	}
	if withRSS {
		rss, rssGoalS := mb(r.RSS), ""
		if rssGoal > 0 {
			rssGoalS = mb(rssGoal)
		}
		cell := withGoal(rss, r.RSS+r.FRRRSS < rssGoal, rssGoalS)
		if r.FRRRSS > 0 {
			cell += " + FRR " + mb(r.FRRRSS)
		}
		out = append(out, cell)
	}
	return out
}

// PrintLab writes the results as a markdown table, bare and full sr6
// beside Mininet, goals beside the figures, then the policies, then why
// any cell holds no figure.
func PrintLab(w io.Writer, rs []LabResult, repeat int) error {
	var b strings.Builder
	var n notes
	b.WriteString("| topology | routers | hosts | links | sr6 bare deploy | sr6 bare destroy | sr6 full deploy | sr6 full destroy | sr6 full RSS | Mininet deploy | Mininet destroy | Mininet RSS |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	version := ""
	for _, r := range rs {
		g := r.Goals
		row := []string{"`" + r.Topology + "`", thousands(int64(r.Routers)), thousands(int64(r.Hosts)), thousands(int64(r.Links))}
		row = append(row, n.cells(r.Bare, "sr6 bare", 0, time.Duration(g.Destroy), 0, false)...)
		row = append(row, n.cells(r.Full, "sr6 full", time.Duration(g.FullDeploy), time.Duration(g.Destroy), g.FullRSS, true)...)
		row = append(row, n.cells(r.Mininet, "Mininet", 0, 0, 0, true)...)
		fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
		if r.MininetVersion != "" {
			version = r.MininetVersion
		}
	}
	for _, r := range rs {
		p := r.Policies
		if p == nil {
			continue
		}
		fmt.Fprintf(&b, "\n%s policies into `%s` through the REST API (%d clients), until every headend's agent reports its steering routes installed: ",
			thousands(int64(p.Count)), r.Topology, provisionClients)
		switch {
		case p.Failed != "":
			fmt.Fprintf(&b, "failed: %s\n", p.Failed)
		case p.Skipped != "":
			fmt.Fprintf(&b, "skipped: %s\n", p.Skipped)
		default:
			goal := ""
			if r.Goals.Policies > 0 {
				goal = secs(time.Duration(r.Goals.Policies))
			}
			fmt.Fprintf(&b, "%s (REST calls done after %s)\n",
				withGoal(secs(time.Duration(p.Done)), p.Done < r.Goals.Policies, goal), secs(time.Duration(p.API)))
		}
	}
	b.WriteString("\n")
	for i, s := range n {
		fmt.Fprintf(&b, "[%d] %s\n", i+1, s)
	}
	if version == "" {
		version = "(did not run)"
	}
	if repeat > 1 {
		fmt.Fprintf(&b, "Medians of %d runs (one at %s routers and more). ", repeat, thousands(GridFrom))
	} else {
		b.WriteString("One run per size. ")
	}
	fmt.Fprintf(&b, "sr6 bare: `sr6 lab deploy --agents=false --controller=false`; "+
		"sr6 full: the default deploy, timed until GET /v1/nodes reports every agent connected, RSS then summed (VmRSS) over the lab's supervisor "+
		"and every process under it. Mininet %s: bench/mininet_ref.py, every node a Linux host, no switch or controller, same addresses and sysctls, "+
		"no routing; RSS of python and its node shells.\n", version)
	_, err := io.WriteString(w, b.String())
	return err
}
