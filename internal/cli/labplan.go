package cli

import (
	"github.com/sr6net/sr6/internal/lab"
)

// labDeployPlan prints what `lab deploy FILE` would change (--dry-run).
func (a *app) labDeployPlan(file string, data []byte, opts lab.Options, asJSON bool) error {
	p, err := lab.PlanDeploy(file, data, opts)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.out, p)
	}
	p.Print(a.out)
	return nil
}
