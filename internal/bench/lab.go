package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sr6net/sr6/internal/gen"
	"github.com/sr6net/sr6/internal/kinds/registry"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/topo"
)

// LabOptions configure the deploy/destroy benchmark.
type LabOptions struct {
	Sizes   []int  // router counts
	Shape   string // gen shape with a --routers size: ring or line
	Repeat  int    // runs per size and tool; the median is reported
	Python  string // interpreter with the mininet module
	Script  string // the Mininet reference script
	WorkDir string // scratch folder for state and topology files
}

// LabResult is one size's medians.
type LabResult struct {
	Routers, Hosts, Links int
	SR6Deploy             time.Duration
	SR6Destroy            time.Duration
	MininetDeploy         time.Duration // 0 when the reference did not run
	MininetDestroy        time.Duration
	MininetVersion        string
	MininetErr            error
}

// Speedup is how many times faster sr6 deploys and destroys than Mininet.
func (r LabResult) Speedup() float64 {
	if r.MininetDeploy == 0 {
		return 0
	}
	return float64(r.MininetDeploy+r.MininetDestroy) / float64(r.SR6Deploy+r.SR6Destroy)
}

// RunLab deploys and destroys an N-router topology with sr6 and with
// Mininet for each size, alternating the tools so that neither gets a
// warmer machine, and returns the medians.
func RunLab(ctx context.Context, o LabOptions, progress io.Writer) ([]LabResult, error) {
	if o.Repeat < 1 {
		o.Repeat = 1
	}
	var results []LabResult
	for _, size := range o.Sizes {
		data, err := gen.YAML(gen.Options{Shape: o.Shape, Routers: size, Hosts: 1, Name: fmt.Sprintf("bench%d", size)})
		if err != nil {
			return nil, err
		}
		nw, err := registry.Default().ParseNetwork("bench.yaml", data)
		if err != nil {
			return nil, err
		}
		routers := len(nw.NodesWith(topo.Underlay))
		res := LabResult{Routers: routers, Hosts: len(nw.Nodes) - routers, Links: len(nw.Links)}
		jsonPath := filepath.Join(o.WorkDir, fmt.Sprintf("bench%d.json", size))
		if err := writeNetworkJSON(nw, jsonPath); err != nil {
			return nil, err
		}
		var sd, sx, md, mx []time.Duration
		for i := 0; i < o.Repeat; i++ {
			d, x, err := sr6Once(ctx, nw, data, o.WorkDir)
			if err != nil {
				return nil, fmt.Errorf("sr6 at %d routers: %w", size, err)
			}
			sd, sx = append(sd, d), append(sx, x)
			fmt.Fprintf(progress, "  %d routers run %d: sr6 deploy %s destroy %s\n", routers, i+1, ms(d), ms(x))
			if res.MininetErr != nil {
				continue
			}
			m, err := mininetOnce(ctx, o, jsonPath)
			if err != nil {
				res.MininetErr = err
				fmt.Fprintf(progress, "  mininet reference unavailable: %v\n", err)
				continue
			}
			res.MininetVersion = m.Version
			md, mx = append(md, seconds(m.Deploy)), append(mx, seconds(m.Destroy))
			fmt.Fprintf(progress, "  %d routers run %d: mininet deploy %s destroy %s\n", routers, i+1, ms(seconds(m.Deploy)), ms(seconds(m.Destroy)))
		}
		res.SR6Deploy, res.SR6Destroy = median(sd), median(sx)
		if res.MininetErr == nil {
			res.MininetDeploy, res.MininetDestroy = median(md), median(mx)
		}
		results = append(results, res)
	}
	return results, nil
}

func writeNetworkJSON(nw *topo.Network, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := nw.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sr6Once(ctx context.Context, nw *topo.Network, data []byte, dir string) (deploy, destroy time.Duration, err error) {
	opts := lab.Options{Store: lab.Store{Dir: filepath.Join(dir, "state")}}
	start := time.Now()
	if _, err := lab.Deploy(ctx, nw, "bench.yaml", data, opts); err != nil {
		_ = lab.Destroy(context.WithoutCancel(ctx), nw.Name, opts)
		return 0, 0, err
	}
	deploy = time.Since(start)
	start = time.Now()
	if err := lab.Destroy(ctx, nw.Name, opts); err != nil {
		return 0, 0, err
	}
	return deploy, time.Since(start), nil
}

type mininetRun struct {
	Version string  `json:"version"`
	Deploy  float64 `json:"deploy_s"`
	Destroy float64 `json:"destroy_s"`
}

func mininetOnce(ctx context.Context, o LabOptions, jsonPath string) (mininetRun, error) {
	if _, err := os.Stat(o.Script); err != nil {
		return mininetRun{}, fmt.Errorf("reference script: %w", err)
	}
	cmd := exec.CommandContext(ctx, o.Python, o.Script, "--topology", jsonPath)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return mininetRun{}, fmt.Errorf("%s %s: %w: %s", o.Python, o.Script, err, strings.TrimSpace(lastLine(errOut.String())))
	}
	var r mininetRun
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil {
		return mininetRun{}, fmt.Errorf("reference output %q: %w", out.String(), err)
	}
	if r.Deploy <= 0 {
		return mininetRun{}, errors.New("reference reported no deploy time")
	}
	return r, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// PrintLab writes the results as a table, sr6 beside Mininet.
func PrintLab(w io.Writer, rs []LabResult, repeat int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "routers\thosts\tlinks\tsr6 deploy\tsr6 destroy\tmininet deploy\tmininet destroy\tspeedup (deploy+destroy)\t\n")
	for _, r := range rs {
		mdep, mdes, speed := "n/a", "n/a", "n/a"
		if r.MininetErr == nil {
			mdep, mdes, speed = ms(r.MininetDeploy), ms(r.MininetDestroy), fmt.Sprintf("%.1fx", r.Speedup())
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.Routers, r.Hosts, r.Links,
			ms(r.SR6Deploy), ms(r.SR6Destroy), mdep, mdes, speed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	version := ""
	for _, r := range rs {
		if r.MininetVersion != "" {
			version = r.MininetVersion
		}
	}
	fmt.Fprintf(w, "medians of %d runs; reference: Mininet %s, every node a Linux host, no switch or controller, same addresses and sysctls, no routing\n", repeat, version)
	return nil
}
